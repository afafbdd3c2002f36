//! Text sent as `format=flowed` (RFC 3676), as Thunderbird and other clients send plain
//! text by default: a long line the writer typed is cut at about 72 columns, each piece
//! but the last ending in a space. Read as it arrives, a command line cut so is two lines,
//! the second not a command, and every command after it text. [`unflow`] gives back the
//! lines as they were typed, quotes kept as quotes.

use mail_parser::ContentType;

/// Whether a part's Content-Type says `format=flowed`, and whether it says `delsp=yes`.
pub fn flowed(content_type: Option<&ContentType<'_>>) -> Option<bool> {
    let attributes = content_type?.attributes()?;
    let value = |name: &str| {
        attributes
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
            .map(|a| a.value.trim().to_ascii_lowercase())
    };
    (value("format").as_deref() == Some("flowed")).then(|| value("delsp").as_deref() == Some("yes"))
}

/// `text` with its flowed lines joined (RFC 3676 §4.2): a line ending in a space goes on
/// in the next line of the same quote depth; with `delsp`, that space is the writer's
/// client's, not the writer's, and is dropped. Space-stuffing is undone, and a quoted
/// line comes back as `>` marks, a space and its text. The signature separator `-- `
/// never flows. Linear in the text.
pub fn unflow(text: &str, delsp: bool) -> String {
    let mut out = String::with_capacity(text.len());
    // The logical line being built: its depth, and whether it is still open.
    let mut open: Option<usize> = None;
    let lines = text.strip_suffix('\n').unwrap_or(text);
    for line in lines.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        let depth = line.bytes().take_while(|b| *b == b'>').count();
        let body = &line[depth..];
        let body = body.strip_prefix(' ').unwrap_or(body);
        match open {
            Some(d) if d == depth => {}
            Some(_) => {
                // A flowed line followed by one of another depth ends where it is.
                out.push('\n');
                start(&mut out, depth);
            }
            None => start(&mut out, depth),
        }
        let flows = body.ends_with(' ') && body != "-- ";
        let body = match flows && delsp {
            true => &body[..body.len() - 1],
            false => body,
        };
        out.push_str(body);
        if flows {
            open = Some(depth);
        } else {
            out.push('\n');
            open = None;
        }
    }
    // The text's own last line break is kept as it was: none if it had none.
    if !text.ends_with('\n') && open.is_none() {
        out.pop();
    }
    out
}

/// Begins a line of quote depth `depth`.
fn start(out: &mut String, depth: usize) {
    if depth > 0 {
        out.extend(std::iter::repeat_n('>', depth));
        out.push(' ');
    }
}

#[cfg(test)]
mod tests {
    use super::unflow;

    #[test]
    fn a_cut_line_is_joined_and_the_others_kept() {
        let sent = "#summary Heap overflow in the importer when an \r\n\
                    attribute exceeds 64 KiB\r\n\
                    #embargo 2027-01-15\r\n\r\nThanks.\r\n";
        assert_eq!(
            unflow(sent, false),
            "#summary Heap overflow in the importer when an attribute exceeds 64 KiB\n\
             #embargo 2027-01-15\n\nThanks.\n"
        );
    }

    #[test]
    fn delsp_drops_the_space_of_a_cut_inside_a_word() {
        let sent = "#commit https://github.com/example/libfoo 0123456789abcdef \r\n\
                    0123456789abcdef01234567\r\n";
        assert_eq!(
            unflow(sent, true),
            "#commit https://github.com/example/libfoo 0123456789abcdef0123456789abcdef01234567\n"
        );
        assert_eq!(unflow("ab \r\ncd", true), "abcd");
    }

    #[test]
    fn quotes_flow_within_their_depth_only() {
        let sent = "> The team said \r\n> this.\r\n>> Older \r\nNew line\r\n";
        assert_eq!(
            unflow(sent, false),
            "> The team said this.\n>> Older \nNew line\n"
        );
    }

    #[test]
    fn stuffing_is_undone_and_the_signature_separator_never_flows() {
        let sent = " From the start\r\n \r\n-- \r\nAlice\r\n";
        assert_eq!(unflow(sent, false), "From the start\n\n-- \nAlice\n");
    }

    #[test]
    fn a_text_ending_in_a_flowed_line_keeps_its_words() {
        assert_eq!(unflow("last words ", false), "last words ");
        assert_eq!(unflow("", false), "");
        assert_eq!(unflow("one\ntwo", false), "one\ntwo");
    }
}
