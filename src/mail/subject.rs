//! Subjects: finding a case tag such as `[SEC-2026-0007]` and stripping reply and forward
//! prefixes (`Re:`, `AW:`, `Re[2]:`, `Fwd:` …) to get the subject a person wrote.
//!
//! Invariant: pure and total. A subject's text alone never identifies a case: only a
//! well-formed tag with the configured prefix does, and the caller checks it exists.

use crate::types::CaseId;

/// Reply/forward prefixes in the languages mail clients commonly use.
const PREFIXES: &[&str] = &[
    "re", "aw", "sv", "vs", "antw", "antwort", "réf", "ref", "rif", "odp", "ynt", "r", "fwd", "fw",
    "wg", "tr", "rv", "enc", "doorst", "vb", "fs",
];

/// Strips one leading reply/forward prefix, if any: `Re:`, `RE :`, `Re[2]:`, `AW:`.
fn strip_one_prefix(s: &str) -> Option<&str> {
    let s = s.trim_start();
    let end = s.find(':')?;
    let head = s.get(..end)?.trim_end();
    // `Re[2]` / `Re(2)`: a counter some clients add.
    let word = match head.find(['[', '(']) {
        Some(i) => {
            let (w, counter) = head.split_at(i);
            let digits = counter
                .trim_start_matches(['[', '('])
                .trim_end_matches([']', ')']);
            if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
                return None;
            }
            w
        }
        None => head,
    };
    let lower = word.to_lowercase();
    PREFIXES
        .contains(&lower.as_str())
        .then(|| s.get(end + 1..))
        .flatten()
}

/// The subject without reply/forward prefixes and without our case tag.
pub fn base_subject(subject: &str, prefix: &str) -> String {
    let mut s = subject.trim();
    loop {
        if let Some(rest) = strip_one_prefix(s) {
            s = rest.trim_start();
            continue;
        }
        // A leading tag, e.g. "[SEC-2026-0007] Re: crash", is ours: drop it and go on.
        if let Some((_, end)) = find_tag_span(s, prefix)
            && s.starts_with('[')
        {
            s = s.get(end..).unwrap_or("").trim_start();
            continue;
        }
        break;
    }
    s.trim().to_string()
}

/// Byte span of the first `[PREFIX-YYYY-NNNN]` tag with the given prefix.
fn find_tag_span(subject: &str, prefix: &str) -> Option<(CaseId, usize)> {
    let mut search_from = 0;
    while let Some(rel) = subject.get(search_from..)?.find('[') {
        let start = search_from + rel;
        let after = subject.get(start + 1..)?;
        if let Some(close) = after.find(']') {
            let inner = after.get(..close)?.trim();
            if let Some(id) = CaseId::parse(inner)
                && id.prefix().eq_ignore_ascii_case(prefix)
            {
                return Some((id, start + 1 + close + 1));
            }
        }
        search_from = start + 1;
    }
    None
}

/// The case tag in a (decoded) subject, if it has one with our prefix.
pub fn case_tag(subject: &str, prefix: &str) -> Option<CaseId> {
    find_tag_span(subject, prefix).map(|(id, _)| id)
}

/// [`case_tag`], with where the tag ends in the subject: for choosing, among several
/// desks' tags, the one that comes first.
pub fn case_tag_at(subject: &str, prefix: &str) -> Option<(CaseId, usize)> {
    find_tag_span(subject, prefix)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags() {
        let cases: &[(&str, Option<&str>)] = &[
            ("[SEC-2026-0007] Buffer overflow", Some("SEC-2026-0007")),
            ("Re: [SEC-2026-0007] Buffer overflow", Some("SEC-2026-0007")),
            ("AW: Re[2]: [sec-2026-0007] Überlauf", Some("SEC-2026-0007")),
            ("Fwd: something [ SEC-2026-0012 ]", Some("SEC-2026-0012")),
            ("[OTHER-2026-0007] not ours", None),
            ("SEC-2026-0007 without brackets", None),
            ("[SEC-2026-7] too short", None),
            ("[SEC-2026-0007", None),
            ("[[SEC-2026-0003]]", Some("SEC-2026-0003")),
            ("", None),
            ("[] [", None),
        ];
        for (subject, want) in cases {
            let got = case_tag(subject, "SEC").map(|c| c.to_string());
            assert_eq!(got.as_deref(), *want, "{subject:?}");
        }
    }

    #[test]
    fn base_subjects() {
        let cases = [
            ("Buffer overflow in parser", "Buffer overflow in parser"),
            ("Re: Buffer overflow", "Buffer overflow"),
            ("RE: AW: Re[3]: Fwd: Buffer overflow", "Buffer overflow"),
            ("Re: [SEC-2026-0007] Buffer overflow", "Buffer overflow"),
            ("Re (2): nope", "Re (2): nope"),
            ("Regarding: the plan", "Regarding: the plan"),
            ("Re:", ""),
            ("SV: Réf: Överskridning", "Överskridning"),
            ("Note: [SEC-2026-0007] stays", "Note: [SEC-2026-0007] stays"),
        ];
        for (subject, want) in cases {
            assert_eq!(base_subject(subject, "SEC"), want, "{subject:?}");
        }
    }
}
