//! Finding the message's own words in a reply: quoted lines (`>`), reply attributions
//! ("On … wrote:", "Am … schrieb", "Le … a écrit"), Outlook and forward separators and
//! header blocks, and signatures are cut off.
//!
//! Invariant: pure and total. When unsure it cuts: what remains may be relayed to a
//! reporter, and quoted team discussion leaking out is worse than a message losing its
//! tail.

use crate::text::{clean_command_line, normalize_newlines};

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
    let mut i = 0;
    while let Some(line) = lines.get(i) {
        if is_signature_marker(line) || is_separator(line) || starts_header_block(&lines, i) {
            break;
        }
        if let Some(len) = attribution_len(&lines, i) {
            let next = lines.iter().skip(i + len).find(|l| !probe(l).is_empty());
            match next {
                Some(l) if is_quote_line(l) => {
                    i += len;
                    continue;
                }
                _ => break,
            }
        }
        if !is_quote_line(line) {
            kept.push(line);
        }
        i += 1;
    }
    tidy(&kept)
}

/// Trailing white space and separator debris go; runs of blank lines become one.
fn tidy(lines: &[&str]) -> String {
    let mut out: Vec<&str> = Vec::new();
    for line in lines {
        let line = line.trim_end();
        if line.is_empty() && out.last().is_none_or(|l| l.is_empty()) {
            continue;
        }
        out.push(line);
    }
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

fn is_quote_line(line: &str) -> bool {
    let t = line.trim_start();
    // `>=1.2.3` at the start of a line is a version range, not a quote.
    t.starts_with('>') && !t.starts_with(">=")
}

/// `-- ` (the standard) or `--` (clients that strip trailing spaces).
fn is_signature_marker(line: &str) -> bool {
    line.trim_end() == "--"
}

/// `-----Original Message-----`, `---------- Forwarded message ---------`,
/// `-------- Forwarded Message --------`, `Begin forwarded message:` and the like.
fn is_separator(line: &str) -> bool {
    let p = probe(line).to_lowercase();
    if p == "begin forwarded message:" {
        return true;
    }
    let core = p.trim_matches(|c: char| c == '-' || c == ' ' || c == '_');
    let dashed = p.starts_with("--") || p.ends_with("--");
    dashed
        && matches!(
            core,
            "original message"
                | "forwarded message"
                | "ursprüngliche nachricht"
                | "weitergeleitete nachricht"
                | "message d'origine"
                | "message transféré"
        )
}

fn header_name(line: &str) -> Option<String> {
    // Outlook-to-text and HTML conversions sometimes leave `*From:*` bold markers.
    let p = probe(line).replace('*', "");
    let (name, _) = p.split_once(':')?;
    let name = name.trim();
    (!name.is_empty() && !name.contains(' ')).then(|| name.to_lowercase())
}

/// Outlook's `From: / Sent: / To: / Subject:` block (also the German and French ones):
/// a `From:` line followed within six lines by a date line and a to/subject line.
fn starts_header_block(lines: &[&str], i: usize) -> bool {
    let is_from = lines
        .get(i)
        .and_then(|l| header_name(l))
        .is_some_and(|n| matches!(n.as_str(), "from" | "von" | "de"));
    if !is_from {
        return false;
    }
    let names: Vec<String> = lines
        .iter()
        .skip(i + 1)
        .take(6)
        .filter_map(|l| header_name(l))
        .collect();
    let has = |set: &[&str]| names.iter().any(|n| set.contains(&n.as_str()));
    has(&["sent", "date", "gesendet", "datum", "envoyé"])
        && has(&["to", "subject", "an", "betreff", "à", "objet"])
}

/// `On … wrote:` (possibly wrapped over two lines, as Gmail does), `Am … schrieb …:`,
/// `Le … a écrit :`. Returns how many lines it spans.
fn attribution_len(lines: &[&str], i: usize) -> Option<usize> {
    let first = probe(lines.get(i)?);
    if is_attribution(&first) {
        return Some(1);
    }
    if !(first.starts_with("On ") || first.starts_with("Am ") || first.starts_with("Le ")) {
        return None;
    }
    let next = lines.get(i + 1)?;
    if is_quote_line(next) {
        return None;
    }
    is_attribution(&format!("{first} {}", probe(next))).then_some(2)
}

fn is_attribution(s: &str) -> bool {
    // A date or time is always in there; requiring a digit keeps prose such as
    // "On Monday the reporter wrote:" from cutting the text.
    if s.chars().count() > 300 || !s.chars().any(|c| c.is_ascii_digit()) {
        return false;
    }
    (s.starts_with("On ") && s.ends_with("wrote:"))
        || (s.starts_with("Am ") && s.contains(" schrieb ") && s.ends_with(':'))
        || (s.starts_with("Le ") && (s.ends_with("a écrit :") || s.ends_with("a écrit:")))
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )]
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
        ];
        for (input, want) in table {
            assert_eq!(strip_quoted(input), *want, "{input:?}");
        }
    }
}
