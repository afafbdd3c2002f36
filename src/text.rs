//! Text helpers shared across the tree: the line helpers of the command grammar
//! (`commands`) and quote stripping (`mail::quoting`), which read a body line by line and
//! must agree on what a line is; and [`escape_controls`], how text from mail is shown.
//!
//! Pure: no I/O, never panics.

pub(crate) fn normalize_newlines(body: &str) -> String {
    body.replace("\r\n", "\n").replace('\r', "\n")
}

/// Rich editors put NBSP and zero-width characters where a space or nothing was meant;
/// clients writing right-to-left text wrap runs in direction marks and embeddings
/// (Gmail in Hebrew or Arabic ends its attribution with U+202C after the colon). The
/// overrides (U+202D, U+202E) stay: they show text other than it is (`maint@x.\u{202E}ac`
/// reads as `…ca`), and a line holding one is refused, not read as it does not show.
pub(crate) fn clean_command_line(raw: &str) -> String {
    raw.chars()
        .filter(|c| {
            !matches!(
                c,
                '\u{200b}' | '\u{200c}' | '\u{200d}' | '\u{2060}' | '\u{feff}'
            ) && !is_direction_mark(*c)
        })
        .map(|c| if c.is_whitespace() { ' ' } else { c })
        .filter(|c| !c.is_control())
        .collect::<String>()
        .trim()
        .to_string()
}

/// Marks and embeddings that only say which way a run of text goes: U+200E, U+200F,
/// U+061C, U+202A–U+202C, U+2066–U+2069. Not the overrides, which reorder what shows.
fn is_direction_mark(c: char) -> bool {
    matches!(
        c,
        '\u{200e}' | '\u{200f}' | '\u{061c}' | '\u{202a}'..='\u{202c}' | '\u{2066}'..='\u{2069}'
    )
}

/// Where escaped text is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// One line (a table cell, a field, a timeline entry): line breaks are escaped too.
    OneLine,
    /// Running text: line breaks and tabs stay as they are.
    Lines,
}

/// The lines with trailing white space cut, and each run of blank lines (and any at the
/// start) made one.
pub(crate) fn squeeze_blank_lines<'a>(lines: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let mut out: Vec<&str> = Vec::new();
    for line in lines {
        let line = line.trim_end();
        if line.is_empty() && out.last().is_none_or(|l| l.is_empty()) {
            continue;
        }
        out.push(line);
    }
    out
}

/// A span of time in whole units, as a person says it: "3 hours", "2 days" (minutes
/// under an hour; never negative).
pub fn fmt_age(d: chrono::Duration) -> String {
    let minutes = d.num_minutes().max(0);
    let (n, unit) = match minutes {
        m if m < 60 => (m, "minute"),
        m if m < 48 * 60 => (m / 60, "hour"),
        m => (m / (24 * 60), "day"),
    };
    match n {
        1 => format!("1 {unit}"),
        n => format!("{n} {unit}s"),
    }
}

/// Text from mail made safe to show: every control character (C0 such as ESC, BEL and
/// CR, DEL, C1 such as CSI) and every bidirectional override or isolate is written as its
/// escape (`\u{1b}`), so it cannot move the cursor, retitle the terminal, recolour or
/// reorder what follows, or start a fake line. The one sanitising function every printer
/// uses (`publish::report`, the CLI's output).
pub fn escape_controls(text: &str, layout: Layout) -> String {
    let kept = |c: char| layout == Layout::Lines && (c == '\n' || c == '\t');
    let unsafe_char = |c: char| (c.is_control() && !kept(c)) || crate::sanitize::is_reordering(c);
    if !text.chars().any(unsafe_char) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if unsafe_char(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn ages_read_in_whole_units() {
        use chrono::Duration;
        for (d, said) in [
            (Duration::seconds(-5), "0 minutes"),
            (Duration::minutes(1), "1 minute"),
            (Duration::minutes(59), "59 minutes"),
            (Duration::minutes(60), "1 hour"),
            (Duration::hours(47), "47 hours"),
            (Duration::hours(48), "2 days"),
        ] {
            assert_eq!(super::fmt_age(d), said, "{d:?}");
        }
    }

    use super::*;

    #[test]
    fn controls_are_escaped_and_lines_kept_only_where_asked() {
        let cases: &[(&str, Layout, &str)] = &[
            ("plain text", Layout::OneLine, "plain text"),
            ("a\x1b]0;t\x07b", Layout::OneLine, "a\\u{1b}]0;t\\u{7}b"),
            ("a\r\nb\tc", Layout::OneLine, "a\\u{d}\\u{a}b\\u{9}c"),
            ("a\r\nb\tc", Layout::Lines, "a\\u{d}\nb\tc"),
            ("\u{9b}31m", Layout::Lines, "\\u{9b}31m"),
            (
                "x\u{202e}y\u{2066}z",
                Layout::Lines,
                "x\\u{202e}y\\u{2066}z",
            ),
            ("déjà vu ✓", Layout::Lines, "déjà vu ✓"),
            // The marks and separators the mail sanitiser removes, escaped here too.
            (
                "a\u{200f}b\u{61c}c\u{2028}d\u{2029}e\u{200e}",
                Layout::Lines,
                "a\\u{200f}b\\u{61c}c\\u{2028}d\\u{2029}e\\u{200e}",
            ),
        ];
        for (input, layout, want) in cases {
            assert_eq!(escape_controls(input, *layout), *want, "{input:?}");
        }
    }
}
