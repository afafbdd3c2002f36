//! Line helpers shared by the command grammar (`commands`) and quote stripping
//! (`mail::quoting`): both read a body line by line and must agree on what a line is.
//!
//! Pure: no I/O, never panics.

pub(crate) fn normalize_newlines(body: &str) -> String {
    body.replace("\r\n", "\n").replace('\r', "\n")
}

/// Rich editors put NBSP and zero-width characters where a space or nothing was meant.
pub(crate) fn clean_command_line(raw: &str) -> String {
    raw.chars()
        .filter(|c| {
            !matches!(
                c,
                '\u{200b}' | '\u{200c}' | '\u{200d}' | '\u{2060}' | '\u{feff}'
            )
        })
        .map(|c| if c.is_whitespace() { ' ' } else { c })
        .filter(|c| !c.is_control())
        .collect::<String>()
        .trim()
        .to_string()
}
