//! Values from mail made safe to place in text the desk writes: one line with no control
//! characters for a subject, a name or an address; a block of lines with no control
//! characters but line breaks and tabs for a message's text.
//!
//! A subject can decode (RFC 2047) to `hi\r\n\r\nYour report was rejected. Log in at …`,
//! a display name can carry CR/LF: placed raw in a template, either would write lines of
//! the attacker's choosing into mail from `security@`. Pure; never panics; linear.

/// Whether `c` may never appear in text we write: C0/C1 controls (line breaks included),
/// DEL, the Unicode line and paragraph separators, and the bidirectional overrides that
/// can make text display in another order than it reads.
fn is_unsafe(c: char) -> bool {
    c.is_control() || is_reordering(c)
}

/// Whether `c` changes how the text around it displays without being a control
/// character: the Unicode line and paragraph separators, the bidirectional embeddings,
/// overrides and isolates, and the direction marks. The CLI escapes the same set
/// ([`crate::text::escape_controls`]).
pub fn is_reordering(c: char) -> bool {
    matches!(
        c,
        '\u{2028}'
            | '\u{2029}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2066}'..='\u{2069}'
            | '\u{200e}'
            | '\u{200f}'
            | '\u{061c}'
    )
}

/// A subject with no `=?` left in it: the desk writes subjects into its own mail as they
/// are, and text that reads as an encoded word there would be decoded by the reader's
/// mail client into whatever it hides (a right-to-left override, a line break), all the
/// sanitising undone. An incoming subject holding such text came in encoded twice over;
/// an address (`x=?utf-8?b?4oCu?=@example.net` is a valid one) can hold it as it is.
pub fn inert_subject(subject: String) -> String {
    if subject.contains("=?") {
        subject.replace("=?", "= ?")
    } else {
        subject
    }
}

/// `text` as one line: every run of line breaks, tabs and other control characters
/// becomes one space, and the ends are trimmed.
pub fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut gap = false;
    for c in text.chars() {
        if is_unsafe(c) || c.is_whitespace() {
            gap = true;
            continue;
        }
        if gap && !out.is_empty() {
            out.push(' ');
        }
        gap = false;
        out.push(c);
    }
    out
}

/// `text` as lines: line endings become `\n`, tabs stay, every other control character
/// is removed.
pub fn text_block(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                out.push('\n');
            }
            '\n' | '\t' => out.push(c),
            c if is_unsafe(c) => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_leaves_no_line_breaks_or_controls() {
        for (input, expected) in [
            ("plain", "plain"),
            (
                "hi\r\n\r\nYour report was rejected.",
                "hi Your report was rejected.",
            ),
            ("  a\tb\u{0}c\u{7}  ", "a b c"),
            ("Rita\r\nDear user,\u{2028}log in", "Rita Dear user, log in"),
            ("x\u{1b}]0;title\u{7}y", "x ]0;title y"),
            ("abc\u{202e}fed", "abc fed"),
            ("\u{85}next", "next"),
            ("", ""),
        ] {
            assert_eq!(one_line(input), expected, "{input:?}");
        }
    }

    #[test]
    fn text_block_keeps_lines_and_tabs_only() {
        assert_eq!(
            text_block("a\r\nb\rc\n\td\u{0}\u{1b}[2J"),
            "a\nb\nc\n\td[2J"
        );
    }
}
