//! Finding the message's own words in a reply: quoted lines (`>` and `|`), reply
//! attributions ("On … wrote:", "El … escribió:", "Alice <a@x> wrote:" …), Outlook and
//! forward separators and header blocks, and signatures are cut off.
//!
//! What each client writes, in each language, is data in [`crate::mail::layouts`]; this
//! module only knows the shapes (a separator line, a header block, an attribution line).
//!
//! Invariant: pure, total and linear in the input. When unsure it cuts: what remains may
//! be relayed to a reporter, and quoted team discussion leaking out is worse than a
//! message losing its tail.

use crate::mail::layouts::LAYOUTS;
use crate::text::{clean_command_line, normalize_newlines, squeeze_blank_lines};

/// Longest line taken for an attribution: longer is prose.
const MAX_ATTRIBUTION_CHARS: usize = 300;

/// The body without quoted lines, reply attributions and what follows them when they are
/// not followed by `>` lines, Outlook/forward separators and header blocks (and all after
/// them), and the signature. Interleaved replies keep their own lines.
///
/// When unsure, this cuts: the result may be relayed to a reporter, and quoted team
/// discussion leaking out is worse than a message losing its tail.
pub fn strip_quoted(body: &str) -> String {
    let normalized = normalize_newlines(body);
    let lines: Vec<&str> = normalized.split('\n').collect();
    let mut kept: Vec<&str> = Vec::new();
    // Inside a markdown code fence a `|` line is a shell pipe, not a quote.
    let mut in_fence = false;
    // A fence that never closes holds nothing back: the desk's openings below it are
    // cut all the same.
    let last_fence = lines
        .iter()
        .rposition(|l| l.trim_start().starts_with("```"));
    let mut i = 0;
    while let Some(line) = lines.get(i) {
        if is_signature_marker(line)
            || is_separator(line)
            || (!(in_fence && last_fence.is_some_and(|f| f > i)) && is_desk_opening(&lines, i))
            || is_rule_before_headers(&lines, i)
            || starts_header_block(&lines, i)
            || introduces_header_block(&lines, i)
        {
            break;
        }
        if let Some(len) = attribution_len(&lines, i) {
            // A long attribution wrapped over three lines: its dated start goes too.
            if kept
                .last()
                .map(|l| normalize(l))
                .is_some_and(|l| starts_with_opener(&l) && l.chars().any(|c| c.is_ascii_digit()))
            {
                kept.pop();
            }
            if next_is_quote(&lines, i + len) {
                i += len;
                continue;
            }
            break;
        }
        // "Alice wrote:" names no date and no address: it is an attribution only when a
        // quote follows it, and then it goes with the quote. So does a line ending in a
        // colon that names a date or an address, whatever its language.
        let n = normalize(line);
        if (looks_like_attribution(&n) || names_date_or_address(&n)) && next_is_quote(&lines, i + 1)
        {
            i += 1;
            continue;
        }
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
        }
        if !is_quote_line(line) || (in_fence && line.starts_with('|')) {
            kept.push(line);
        }
        i += 1;
    }
    tidy(&kept)
}

/// A normalized line ending in a colon that holds a digit or an address: the shape of
/// an attribution in any language ("23.11.2026 10.00, Alice kirjoitti:").
fn names_date_or_address(s: &str) -> bool {
    s.ends_with(':')
        && s.chars().count() <= MAX_ATTRIBUTION_CHARS
        && s.chars().any(|c| c.is_ascii_digit() || c == '@')
}

/// A short line ending in a colon, followed (after at most one blank line) by a header
/// block: a forward's introduction in any language ("Begin forwarded message:").
fn introduces_header_block(lines: &[&str], i: usize) -> bool {
    let n = lines.get(i).map(|l| normalize(l)).unwrap_or_default();
    if !n.ends_with(':') || n.chars().count() > 80 {
        return false;
    }
    let next = (i + 1..i + 3).find(|&j| lines.get(j).is_some_and(|l| !probe(l).is_empty()));
    next.is_some_and(|j| starts_header_block(lines, j))
}

/// Whether the first non-blank line from `from` on is a quoted line.
fn next_is_quote(lines: &[&str], from: usize) -> bool {
    lines
        .iter()
        .skip(from)
        .find(|l| !probe(l).is_empty())
        .is_some_and(|l| is_quote_line(l))
}

/// Trailing white space and separator debris go; runs of blank lines become one.
fn tidy(lines: &[&str]) -> String {
    let mut out = squeeze_blank_lines(lines.iter().copied());
    while out
        .last()
        .is_some_and(|l| l.is_empty() || l.chars().all(|c| c == '_'))
    {
        out.pop();
    }
    out.join("\n")
}

/// A line as seen by the detectors: odd spaces normalized, trimmed.
fn probe(line: &str) -> String {
    clean_command_line(line)
}

/// A line for comparison with the layout tables: probed, lower-cased, full-width colons
/// made ASCII, no space before a colon (French typography puts one there).
fn normalize(line: &str) -> String {
    // Lower-cased, the Turkish `İ` leaves a combining dot (`i̇`) no table holds.
    let lower = probe(line).to_lowercase().replace('\u{307}', "");
    let mut out = String::with_capacity(lower.len());
    for c in lower.chars() {
        let c = if c == '：' { ':' } else { c };
        if c == ':' {
            while out.ends_with(' ') {
                out.pop();
            }
        }
        out.push(c);
    }
    out
}

/// `>` quoting, and `|` quoting as some clients and mailing-list archives write it: in
/// the first column (an indented `| grep` is code), and not a markdown table row (which
/// starts and ends with `|`).
fn is_quote_line(line: &str) -> bool {
    let t = line.trim();
    // `>=1.2.3` at the start of a line is a version range, not a quote.
    if t.starts_with('>') {
        return !t.starts_with(">=");
    }
    line.starts_with('|') && (t == "|" || !t.get(1..).is_some_and(|r| r.ends_with('|')))
}

/// `-- ` (the standard) or `--` (clients that strip trailing spaces).
fn is_signature_marker(line: &str) -> bool {
    line.trim_end() == "--"
}

/// `-----Original Message-----`, `-----Mensaje original-----`, `Begin forwarded
/// message:` and the like, in every language of the layout table.
fn is_separator(line: &str) -> bool {
    let p = normalize(line);
    if p.is_empty() {
        return false;
    }
    if LAYOUTS.iter().any(|l| l.intros.contains(&p.as_str())) {
        return true;
    }
    let core = p.trim_matches(|c: char| matches!(c, '-' | ' ' | '_' | '=' | '*'));
    let dashed = p.starts_with("--") || p.ends_with("--");
    if dashed && LAYOUTS.iter().any(|l| l.separators.contains(&core)) {
        return true;
    }
    // Zoho Mail: `---- On <date> Name <address> wrote ----` above the original, which it
    // leaves unquoted: an attribution framed by dashes, not ended by a colon.
    if p.starts_with("--") && p.ends_with("--") && is_attribution(&format!("{core}:")) {
        return true;
    }
    // GroupWise: `>>> Name <address> date >>>` above the original, which it leaves
    // unquoted.
    if p.chars().count() > 6 && p.starts_with(">>>") && p.ends_with(">>>") {
        return true;
    }
    // In any language: a few words between runs of five dashes, as Outlook writes its
    // "-----Original Message-----" and the desk its "----- The message -----".
    let words = core.split(' ').filter(|w| !w.is_empty()).count();
    p.starts_with("-----")
        && p.ends_with("-----")
        && (1..=4).contains(&words)
        && core.chars().all(|c| c.is_alphabetic() || c == ' ')
}

/// A line the desk writes at the head of its own mail to the team, or of a transcript's
/// line, quoted back without any quoting a client adds (GroupWise leaves the original
/// unprefixed; a member may paste it): what follows is the desk's notice, never words
/// for a reporter. The openings of the default templates, in the desk's own words, so
/// that a member's own line ("CVE-2026-1234: …", "line 42: #include …") stays:
/// "Your commands on ID:", a transcript's "line N: #…" followed by its "→" or "✗"
/// result, "A new report arrived at … and was filed as ID.", and the headlines of the
/// notices relaying mail ("… wrote on ID (internal to the team).", "The reporter wrote
/// again on ID.", "The upstream maintainer … wrote on ID.", "Someone who is neither the
/// reporter nor a team member wrote on ID.").
fn is_desk_opening(lines: &[&str], i: usize) -> bool {
    let Some(line) = lines.get(i) else {
        return false;
    };
    let n = normalize(line);
    let names_case = |s: &str| {
        s.split(|c: char| c.is_whitespace() || c == '.' || c == ':')
            .next()
            .is_some_and(is_case_id_shape)
    };
    if let Some(rest) = n.strip_prefix("your commands on ") {
        return rest.ends_with(':') && names_case(rest);
    }
    if n.starts_with("a new report arrived at ") && n.contains(" and was filed as ") {
        return true;
    }
    if let Some(rest) = n.strip_prefix("line ")
        && let Some((number, _)) = rest.split_once(": #")
        && !number.is_empty()
        && number.chars().all(|c| c.is_ascii_digit())
    {
        let result = lines.get(i + 1).map(|l| l.trim_start()).unwrap_or("");
        return result.starts_with('→') || result.starts_with('✗');
    }
    let relayed = |rest: &str, end: &str| rest.strip_suffix(end).is_some_and(names_case);
    if let Some((_, rest)) = n.split_once(" wrote on ") {
        return relayed(rest, " (internal to the team).")
            || ((n.starts_with("the upstream maintainer ")
                || n.starts_with("someone who is neither the reporter nor a team member "))
                && relayed(rest, "."));
    }
    if n.strip_prefix("the reporter wrote again on ")
        .is_some_and(|rest| relayed(rest, "."))
    {
        return true;
    }
    // A reminder's "ID: subject", when the reminder's own words follow it.
    n.split_once(": ")
        .is_some_and(|(id, _)| is_case_id_shape(id))
        && lines
            .iter()
            .skip(i + 1)
            .map(|l| normalize(l))
            .find(|l| !l.is_empty())
            .is_some_and(|next| REMINDER_OPENINGS.iter().any(|o| next.starts_with(o)))
}

/// How the reminders go on after their "ID: subject" line (lower-cased).
const REMINDER_OPENINGS: &[&str] = &[
    "the embargo ends on ",
    "the embargo ended on ",
    "nobody has answered the reporter yet.",
    "the fix was released on ",
    "you asked to be reminded on ",
];

/// `PREFIX-YYYY-NNNN`, as the desk numbers its cases (letters, a year, a number).
fn is_case_id_shape(s: &str) -> bool {
    let mut parts = s.rsplitn(3, '-');
    let (Some(number), Some(year), Some(prefix)) = (parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    !prefix.is_empty()
        && prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
        && year.len() == 4
        && year.chars().all(|c| c.is_ascii_digit())
        && number.len() >= 4
        && number.chars().all(|c| c.is_ascii_digit())
}

/// Outlook's separator in any language: a line of at least ten underscores, with a
/// `Name: value` line (its header block) among the next two lines that are not blank.
fn is_rule_before_headers(lines: &[&str], i: usize) -> bool {
    let Some(line) = lines.get(i) else {
        return false;
    };
    let p = probe(line);
    if p.chars().count() < 10 || !p.chars().all(|c| c == '_') {
        return false;
    }
    lines
        .iter()
        .skip(i + 1)
        .filter(|l| !probe(l).is_empty())
        .take(2)
        .any(|l| header_name(l).is_some())
}

/// The field name of a `Name: value` line, lower-cased (`*From:*` bold markers of
/// converted HTML dropped), when it could be a header field: at most three words.
fn header_name(line: &str) -> Option<String> {
    let p = normalize(line).replace('*', "");
    let (name, _) = p.split_once(':')?;
    let name = name.trim();
    (!name.is_empty() && name.split(' ').count() <= 3 && name.chars().count() <= 24)
        .then(|| name.to_string())
}

/// Outlook's `From: / Sent: / To: / Subject:` block in any language of the table (also
/// the forwarded-message headers of other clients): a from line followed within six
/// lines by a date line and a to or subject line.
fn starts_header_block(lines: &[&str], i: usize) -> bool {
    let in_any = |name: &str, field: fn(&crate::mail::layouts::Layout) -> &[&str]| {
        LAYOUTS.iter().any(|l| field(l).contains(&name))
    };
    let Some(first) = lines.get(i).and_then(|l| header_name(l)) else {
        return false;
    };
    let names: Vec<String> = lines
        .iter()
        .skip(i + 1)
        .take(6)
        .filter_map(|l| header_name(l))
        .collect();
    if in_any(&first, |l| l.from)
        && names.iter().any(|n| in_any(n, |l| l.sent))
        && names
            .iter()
            .any(|n| in_any(n, |l| l.to) || in_any(n, |l| l.subject))
    {
        return true;
    }
    // In a language the table does not know: a field whose value holds an address,
    // then two more fields among the next four lines.
    let value_has_address = lines
        .get(i)
        .and_then(|l| normalize(l).split_once(':').map(|(_, v)| v.contains('@')))
        .unwrap_or(false);
    let near = lines
        .iter()
        .skip(i + 1)
        .take(4)
        .filter(|l| header_name(l).is_some())
        .count();
    (value_has_address && near >= 2) || is_dated_block(lines, i)
}

/// Outlook's header block in a language the table does not know, for a sender of its own
/// organisation (a name and no address): four fields on four lines running, one of them
/// a date with its time (`mandag 23. november 2026 10:00`) or a case's tag (the subject
/// of a desk's thread). Four fields of the member's own (`Severity: high`) seldom carry
/// either.
fn is_dated_block(lines: &[&str], i: usize) -> bool {
    let Some(block) = lines.get(i..i + 4) else {
        return false;
    };
    let value = |l: &&str| {
        normalize(l)
            .split_once(':')
            .map(|(_, v)| v.to_string())
            .unwrap_or_default()
    };
    let values: Vec<String> = block.iter().map(value).collect();
    // Outlook's order: a sender's name (no digit), then the date with its time. A
    // member's own fields (`Fixed in: 1.2.4`, `Release: Mon 30 Nov 2026, 14:00 UTC`)
    // seldom start so.
    let dated = match values.as_slice() {
        [from, sent, ..] => {
            !from.chars().any(|c| c.is_numeric()) && has_year(sent) && has_time(sent)
        }
        _ => false,
    };
    block.iter().all(|l| header_name(l).is_some())
        && (dated || values.iter().any(|v| has_case_tag(v)))
}

/// Whether `text` holds a year of four digits (19xx or 20xx) standing alone.
fn has_year(text: &str) -> bool {
    // Padded so that each four digits have a neighbour on both sides.
    let c: Vec<char> = std::iter::once(' ')
        .chain(text.chars())
        .chain([' '])
        .collect();
    c.windows(6).any(|w| match w {
        [before, a, b, x, y, after] => {
            [a, b, x, y].iter().all(|d| d.is_ascii_digit())
                && matches!((a, b), ('1', '9') | ('2', '0'))
                && !before.is_ascii_digit()
                && !after.is_ascii_digit()
        }
        _ => false,
    })
}

/// Whether `text` holds a time of day, `10:00` (a digit, a colon, two digits).
fn has_time(text: &str) -> bool {
    let c: Vec<char> = text.chars().collect();
    c.windows(4).any(|w| match w {
        [h, ':', m1, m2] => h.is_ascii_digit() && m1.is_ascii_digit() && m2.is_ascii_digit(),
        _ => false,
    })
}

/// Whether `text` holds a case's tag, `[sec-2026-0001]` (lower-cased): a bracket, a
/// prefix, a year and a number.
fn has_case_tag(text: &str) -> bool {
    text.split('[').skip(1).any(|rest| {
        rest.split_once(']')
            .is_some_and(|(tag, _)| crate::types::CaseId::parse(tag).is_some())
    })
}

/// An attribution on line `i`, possibly wrapped over two lines (as Gmail does). Returns
/// how many lines it spans.
fn attribution_len(lines: &[&str], i: usize) -> Option<usize> {
    let first = normalize(lines.get(i)?);
    if is_attribution(&first) {
        return Some(1);
    }
    let next = lines.get(i + 1)?;
    if is_quote_line(next) || first.is_empty() {
        return None;
    }
    let second = normalize(next);
    let short_tail = second.chars().count() <= 40 && second.ends_with(':');
    if !(starts_with_opener(&first) || short_tail) {
        return None;
    }
    is_attribution(&format!("{first} {second}")).then_some(2)
}

/// A normalized line that ends with a colon and carries an attribution verb.
fn looks_like_attribution(s: &str) -> bool {
    s.ends_with(':')
        && s.chars().count() <= MAX_ATTRIBUTION_CHARS
        && LAYOUTS
            .iter()
            .flat_map(|l| l.wrote)
            .any(|v| contains_word(s, v))
}

/// A normalized line that is an attribution on its own: the verb and a colon, and an
/// address, or a date (a digit) with the verb last or a known opening word. Requiring
/// one of those keeps prose such as "On Monday the reporter wrote:" from cutting text.
fn is_attribution(s: &str) -> bool {
    if !s.ends_with(':') || s.chars().count() > MAX_ATTRIBUTION_CHARS {
        return false;
    }
    let head = s.trim_end_matches(':').trim_end();
    let has_at = s.contains('@');
    let has_digit = s.chars().any(|c| c.is_ascii_digit());
    // Gmail in Russian, Japanese and others: "<date> Name <a@x>:", no verb at all; and
    // in a language the table does not know, "<date> Name <a@x> kirjoitti:" (a verb of
    // one or two words after the address).
    let after_address = head.rsplit_once('>').map(|(_, tail)| tail.trim());
    if has_at
        && has_digit
        && after_address.is_some_and(|t| {
            t.split(' ').filter(|w| !w.is_empty()).count() <= 2
                && t.chars().all(|c| c.is_alphabetic() || c == ' ')
        })
    {
        return true;
    }
    if !looks_like_attribution(s) {
        return false;
    }
    if has_at {
        return true;
    }
    let verb_last = LAYOUTS
        .iter()
        .flat_map(|l| l.wrote)
        .any(|v| head.ends_with(v) && contains_word(head, v));
    has_digit && (verb_last || starts_with_opener(s))
}

fn starts_with_opener(s: &str) -> bool {
    LAYOUTS.iter().flat_map(|l| l.openers).any(|o| {
        s.strip_prefix(o)
            .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with(','))
    })
}

/// Scripts written without spaces between words (CJK) match by substring; the others
/// need a non-letter on both sides.
fn contains_word(hay: &str, word: &str) -> bool {
    if word.chars().any(|c| u32::from(c) >= 0x2E80) {
        return hay.contains(word);
    }
    hay.match_indices(word).any(|(at, _)| {
        let before = hay.get(..at).and_then(|h| h.chars().next_back());
        let after = hay.get(at + word.len()..).and_then(|h| h.chars().next());
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strip_quoted_cases() {
        let table: &[(&str, &str)] = &[
            ("Text\n-- \nSig", "Text"),
            ("Text\n--\nSig", "Text"),
            ("Text\n\n\n\nMore\n", "Text\n\nMore"),
            // Interleaved reply: own lines stay, quotes go.
            (
                "> question one\nanswer one\n\n> question two\nanswer two",
                "answer one\n\nanswer two",
            ),
            // Prose that merely looks like an attribution stays.
            (
                "On Monday the reporter wrote:\nit crashes",
                "On Monday the reporter wrote:\nit crashes",
            ),
            // An attribution not followed by quotes: everything after it is quoted matter.
            (
                "Reply\n\nOn 23/11/2026 10:00, Bob wrote:\nunquoted original",
                "Reply",
            ),
            (
                "Antwort\n\nAm 23.11.2026 um 10:00 schrieb Bob <b@x.org>:\n> #close",
                "Antwort",
            ),
            (
                "Réponse\n\nLe lun. 23 nov. 2026 à 10:00, Bob <b@x.org> a écrit :\n> #close",
                "Réponse",
            ),
            (
                "Fwd below\n\nBegin forwarded message:\n\nFrom: A <a@x.org>",
                "Fwd below",
            ),
            (
                "Fwd below\n-------- Forwarded Message --------\nSubject: x",
                "Fwd below",
            ),
            (
                "Antwort\n\nVon: Bob <b@x.org>\nGesendet: Montag, 23. November 2026 10:00\nAn: security@x.org\nBetreff: Re: x\n\nalt",
                "Antwort",
            ),
            (
                "Reply\n*From:* Bob\n*Sent:* Monday\n*To:* sec\n*Subject:* x\nold",
                "Reply",
            ),
            // A lone From: line in prose is not a header block.
            (
                "From: the reporter's PoC\nit crashes",
                "From: the reporter's PoC\nit crashes",
            ),
            (
                "Original message text\nstays",
                "Original message text\nstays",
            ),
            // `|` quoting goes; a markdown table stays.
            ("Antwoord\n\n| quoted\n|\n| more", "Antwoord"),
            (
                "| a | b |\n|---|---|\n| 1 | 2 |",
                "| a | b |\n|---|---|\n| 1 | 2 |",
            ),
            // Gmail wraps a long attribution over three lines.
            (
                "Reply\n\nOn Mon, 23 Nov 2026 at 10:00, Alice Example From Far Away\n<alice@example.org> wrote:\n\n> q",
                "Reply",
            ),
            // Shell pipes in code are not quotes.
            (
                "Fixed:\n  cat log\n  | grep x\n```\ncat log\n| grep x\n```",
                "Fixed:\n  cat log\n  | grep x\n```\ncat log\n| grep x\n```",
            ),
            // An attribution with no date and no address, known by the quote after it.
            ("Reply\n\nAlice wrote:\n> q", "Reply"),
            (
                "Respuesta\n\nDe: A\nEnviado el: lunes\nPara: b\nAsunto: x\n\nviejo",
                "Respuesta",
            ),
            (
                "Risposta\n-----Messaggio originale-----\nvecchio",
                "Risposta",
            ),
            (
                "Svar\n\nDen 2026-11-23 kl. 10:00, skrev Alice:\ngammalt",
                "Svar",
            ),
            (
                "回复\n\n发件人: A\n发送时间: 2026年11月23日\n主题: x\n旧",
                "回复",
            ),
        ];
        for (input, want) in table {
            assert_eq!(strip_quoted(input), *want, "{input:?}");
        }
    }

    /// Clients in languages the layout table does not know are cut by the shapes they
    /// share with the others: Outlook's line of underscores, a header block with an
    /// address, a dashed separator, a dated attribution with an address; and the desk's
    /// own notices quoted back.
    #[test]
    fn unknown_languages_are_cut_by_shape() {
        let table: &[(&str, &str)] = &[
            // Outlook in Danish.
            (
                "#reply\nTak, vi har genskabt fejlen.\n\n________________________________\nFra: Security Desk <security@example.org>\nSendt: 23. november 2026 10:00\nTil: alice@example.org\nEmne: [SEC-2026-0001] Team: Heap overflow\n\nbob@example.org wrote on SEC-2026-0001 (internal to the team).",
                "#reply\nTak, vi har genskabt fejlen.",
            ),
            // The same without the line of underscores.
            (
                "Tak.\nFra: Security Desk <security@example.org>\nSendt: 23. november 2026 10:00\nTil: alice@example.org\nEmne: x\ninternal",
                "Tak.",
            ),
            // Outlook in Danish for a sender of its own organisation: a name, no address,
            // no line of underscores.
            (
                "#reply\nTak, rettet i 1.2.3.\n\nFra: Bob Builder\nSendt: mandag 23. november 2026 10:00\nTil: Security Desk; Alice Example\nEmne: SV: [SEC-2026-0001] Heap overflow\n\nInternal: low severity, the fix is on git.internal",
                "#reply\nTak, rettet i 1.2.3.",
            ),
            // Outlook in Korean, the same.
            (
                "Reply\n\n보낸 사람: Bob Builder\n보낸 날짜: 2026년 11월 23일 월요일 오전 10:00\n받는 사람: Security Desk\n제목: x\n\ninternal",
                "Reply",
            ),
            // A member's release plan and timeline, with dates and times, are text.
            (
                "#reply\nHi Alice,\n\nthanks for the report. The plan:\nFixed in: 1.2.4\nRelease: Mon 30 Nov 2026, 14:00 UTC\nEmbargo: until the release\nCVE: CVE-2026-1234\n\nBest, Bob",
                "#reply\nHi Alice,\n\nthanks for the report. The plan:\nFixed in: 1.2.4\nRelease: Mon 30 Nov 2026, 14:00 UTC\nEmbargo: until the release\nCVE: CVE-2026-1234\n\nBest, Bob",
            ),
            (
                "#details\nReported: 2026-11-20 10:00 UTC\nConfirmed: 2026-11-21 09:00 UTC\nFixed: 2026-11-28 16:00 UTC\nPublished: 2026-12-01 10:00 UTC\nDone.",
                "#details\nReported: 2026-11-20 10:00 UTC\nConfirmed: 2026-11-21 09:00 UTC\nFixed: 2026-11-28 16:00 UTC\nPublished: 2026-12-01 10:00 UTC\nDone.",
            ),
            // Fields of the member's own are text.
            (
                "#reply\nSeverity: high\nCVE: CVE-2026-1234\nFixed in: 1.2.3\nCredit: you\nThanks.",
                "#reply\nSeverity: high\nCVE: CVE-2026-1234\nFixed in: 1.2.3\nCredit: you\nThanks.",
            ),
            // Outlook in Traditional Chinese.
            (
                "回覆\n\n寄件者: Security Desk\n寄件日期: 2026年11月23日\n收件者: alice\n主旨: x\n舊",
                "回覆",
            ),
            // A separator in a language of its own.
            ("Svar\n-----Oprindelig meddelelse-----\ngammel", "Svar"),
            // Zoho Mail: an attribution framed by dashes, the original left unquoted.
            (
                "Reply\n\n---- On Mon, 23 Nov 2026 10:00:00 +0100 Bob <bob@team.example.org> wrote ----\n\nInternal: low severity.",
                "Reply",
            ),
            (
                "Reply\n\n ---- On Mon, 23 Nov 2026 10:00:00 +0100 Bob <bob@team.example.org> wrote ---\nInternal: low severity.",
                "Reply",
            ),
            // Gmail in Hebrew: the attribution wrapped in direction marks, the colon
            // before the last one.
            (
                "Reply\n\n\u{202b}בתאריך יום ב׳, 23 בנוב׳ 2026 ב-10:00 מאת \u{202a}Bob Member\u{202c} <bob@private-mail.example>:\u{202c}\n> internal",
                "Reply",
            ),
            // Outlook in Turkish: `İ` lower-cased leaves a combining dot; a sender
            // named without an address.
            (
                "Tesekkurler\n-----Özgün İleti-----\nKimden: Bob\nGönderildi: 23 Kasım 2026\nKonu: x\ninternal",
                "Tesekkurler",
            ),
            // Yahoo in Finnish: a dated attribution with the address, no quote marks.
            (
                "Vastaus\n\nma 23.11.2026 klo 10.00 Security Desk <security@example.org> kirjoitti:\nvanha",
                "Vastaus",
            ),
            // The desk's own notices, quoted back without any client's header: cut at
            // their first line, which names a member, or at a transcript's.
            (
                "Reply\n\nbob@example.org wrote on SEC-2026-0001 (internal to the team).\n----- The message -----\nthe note",
                "Reply",
            ),
            (
                "Reply\n\nThe upstream maintainer dev@up.test wrote on SEC-2026-0001.\nFrom: dev@up.test",
                "Reply",
            ),
            (
                "Reply\nYour commands on SEC-2026-0001:\n\nline 1: #assign me\n  → assigned to bob@example.org",
                "Reply",
            ),
            (
                "Reply\nline 2: #embargo 2027-01-15\n  ✗ `#embargo` needs a date\nx",
                "Reply",
            ),
            (
                "Reply\nA new report arrived at security@example.org and was filed as SEC-2026-0001.\nFrom: x",
                "Reply",
            ),
            (
                "Reply\n\nThe reporter wrote again on SEC-2026-0001.\nFrom: rita@reporter.test",
                "Reply",
            ),
            // A reminder, pasted: its first line, when its own words follow.
            (
                "Reply\n\nSEC-2026-0001: Heap overflow\n\nYou asked to be reminded on Mon 30 Nov:\n\n    call the vendor",
                "Reply",
            ),
            // A fence that never closes does not hide a transcript pasted below it.
            (
                "Reply\n```\nmake test\nYour commands on SEC-2026-0001:\n\nline 1: #assign me\n  → assigned",
                "Reply\n```\nmake test",
            ),
            // GroupWise: one line above the original, left unquoted.
            (
                "Reply\n\n>>> Security Desk <security@example.org> 11/23/2026 10:00 AM >>>\nYour commands on SEC-2026-0001:\nline 1: #assign me",
                "Reply",
            ),
            // A member's own lines that look like the desk's, but are not in its words.
            (
                "CVE-2026-12345: heap overflow in the parser.\nline 42: #include <stdio.h>\nAs you wrote on CVE-2026-1234.\nRUSTSEC-2026-0001: fixed.",
                "CVE-2026-12345: heap overflow in the parser.\nline 42: #include <stdio.h>\nAs you wrote on CVE-2026-1234.\nRUSTSEC-2026-0001: fixed.",
            ),
            // What stays: a line of underscores with prose after it, short dashed
            // headings, and one field with an address.
            (
                "Steps\n__________\nrun it\n--- Logs ---\nx\nContact: bob@example.org\nthanks",
                "Steps\n__________\nrun it\n--- Logs ---\nx\nContact: bob@example.org\nthanks",
            ),
        ];
        for (input, want) in table {
            assert_eq!(strip_quoted(input), *want, "{input:?}");
        }
    }
}
