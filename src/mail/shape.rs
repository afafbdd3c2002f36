//! A look at a mail's raw lines before the parser sees them. mail-parser has no limits
//! of its own, and some shapes cost it work or stack out of all proportion to the
//! mail's size: a header field full of `=?` that never closes is decoded in time
//! quadratic in its length (256 KiB took 20 s), and each `message/rfc822` nested in
//! the next is a level of recursion (200,000 of them, 6 MB, overflow the stack and
//! abort the process). Such a mail is refused here, in time linear in its size, and is
//! filed as unreadable: its raw bytes kept and the team told.
//!
//! The scan follows header blocks only roughly (it does not parse MIME): a block is the
//! top of the mail, the lines after a `--` boundary line, and the embedded message
//! after a block that declares one (or is empty, as a digest's parts are). Body lines
//! are not measured, so a long body never counts as a long header.

/// The longest header field (folded lines together) a mail may have: 32 KiB is decoded
/// in about 0.3 s at worst, and no mail client writes one near it.
pub const MAX_FIELD: usize = 32 << 10;

/// The most header bytes a mail may have, every part's and embedded message's together.
pub const MAX_HEADER_BYTES: usize = 512 << 10;

/// The most messages a mail may carry inside it (`message/*` parts, digests), nested or
/// side by side.
pub const MAX_MESSAGES: usize = 50;

/// Why the parser must not be given `raw`, in plain words; `None` when it may.
pub fn refusal(raw: &[u8]) -> Option<String> {
    let digest = raw
        .split(|b| *b == b'\n')
        .any(|l| starts_with_ci(l, b"content-type:") && contains_ci(l, b"multipart/digest"));
    let mut scan = Scan {
        in_header: true,
        block: Block::default(),
        name: Vec::new(),
        field: 0,
        header_bytes: 0,
        messages: 0,
        digest,
    };
    for line in raw.split(|b| *b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if let Some(why) = scan.line(line) {
            return Some(why);
        }
    }
    None
}

#[derive(Default)]
struct Block {
    lines: usize,
    /// It declares a message or a digest (`Content-Type: message/…`).
    message: bool,
    /// It has a `Content-Type` at all.
    typed: bool,
    /// Its `Content-Transfer-Encoding` is base64 or quoted-printable.
    encoded: bool,
}

struct Scan {
    in_header: bool,
    block: Block,
    /// The current field's name, lower-cased (at most 40 bytes of it).
    name: Vec<u8>,
    field: usize,
    header_bytes: usize,
    messages: usize,
    /// The mail has a digest, whose parts are messages unless they say otherwise.
    digest: bool,
}

impl Scan {
    fn line(&mut self, line: &[u8]) -> Option<String> {
        if !self.in_header {
            if line.starts_with(b"--") {
                self.in_header = true;
                self.block = Block::default();
            }
            return None;
        }
        if line.is_empty() {
            return self.end_of_block();
        }
        self.block.lines += 1;
        self.header_bytes = self.header_bytes.saturating_add(line.len() + 2);
        if self.header_bytes > MAX_HEADER_BYTES {
            return Some(format!(
                "its headers are over {} KiB together",
                MAX_HEADER_BYTES >> 10
            ));
        }
        if matches!(line.first(), Some(b' ' | b'\t')) {
            self.field = self.field.saturating_add(line.len());
        } else {
            self.field = line.len();
            let name = line.split(|b| *b == b':').next().unwrap_or_default();
            self.name = name.iter().take(40).map(u8::to_ascii_lowercase).collect();
        }
        if self.field > MAX_FIELD {
            return Some(format!(
                "a header field of it is over {} KiB",
                MAX_FIELD >> 10
            ));
        }
        match self.name.as_slice() {
            b"content-type" => {
                self.block.typed = true;
                let message =
                    contains_ci(line, b"message/") || contains_ci(line, b"multipart/digest");
                if message && !self.block.message {
                    self.block.message = true;
                    self.messages += 1;
                    if self.messages > MAX_MESSAGES {
                        return Some(format!(
                            "it carries more than {MAX_MESSAGES} messages inside it"
                        ));
                    }
                }
            }
            b"content-transfer-encoding"
                if contains_ci(line, b"base64") || contains_ci(line, b"quoted-printable") =>
            {
                self.block.encoded = true;
            }
            _ => {}
        }
        None
    }

    /// The blank line after a header block: the body, or another header block when the
    /// block declared a message (its headers follow) or was empty (a digest's part).
    fn end_of_block(&mut self) -> Option<String> {
        let b = std::mem::take(&mut self.block);
        // RFC 2046 §5.2.1: a message part is never base64 or quoted-printable; one that
        // is hides what it carries from this scan.
        if b.encoded && (b.message || (self.digest && !b.typed)) {
            return Some(
                "it carries a message encoded in base64 or quoted-printable, which MIME forbids"
                    .into(),
            );
        }
        self.in_header = b.message || b.lines == 0;
        self.name.clear();
        self.field = 0;
        None
    }
}

fn starts_with_ci(line: &[u8], prefix: &[u8]) -> bool {
    line.get(..prefix.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
}

fn contains_ci(line: &[u8], needle: &[u8]) -> bool {
    line.windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mail::{Parsed, parse};

    const TOP: &str = "From: a@b.test\r\nTo: c@d.test\r\nSubject: x\r\nMessage-ID: <x@y.test>\r\n";

    fn unreadable_because(raw: &[u8]) -> String {
        match parse(raw) {
            Parsed::Unreadable { reason, .. } => reason,
            Parsed::Mail(m) => panic!("parsed: {}", m.subject),
        }
    }

    /// Messages nested 200,000 deep (6 MB): refused before the parser, whose recursion
    /// overflowed the stack and aborted the daemon.
    #[test]
    fn messages_nested_deep_are_refused() {
        let mut m = format!("{TOP}Content-Type: message/rfc822\r\n\r\n");
        for _ in 0..200_000 {
            m.push_str("Content-Type: message/rfc822\r\n\r\n");
        }
        let why = unreadable_because(m.as_bytes());
        assert!(why.contains("more than 50 messages"), "{why}");
    }

    /// A message part in base64 hides what it nests (and MIME forbids it).
    #[test]
    fn an_encoded_message_part_is_refused() {
        let m = format!(
            "{TOP}Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\nRnJvbTogYUBiLnRlc3QNCg0K\r\n"
        );
        assert!(unreadable_because(m.as_bytes()).contains("base64"));
        let digest = format!(
            "{TOP}Content-Type: multipart/digest; boundary=\"d\"\r\n\r\n--d\r\nContent-Transfer-Encoding: base64\r\n\r\nRnJvbTogYUBiLnRlc3QNCg0K\r\n--d--\r\n"
        );
        assert!(unreadable_because(digest.as_bytes()).contains("base64"));
    }

    /// A subject of 256 KiB of `=?` that never closes: the parser took 20 s over it (a
    /// release build), quadratic in its length. Refused at once.
    #[test]
    fn a_header_field_too_long_to_decode_is_refused() {
        let mut subject = String::new();
        while subject.len() < 256 << 10 {
            subject.push_str("=?AB?Q?x");
            if subject.len() % 960 < 8 {
                subject.push_str("\r\n ");
            }
        }
        let m =
            format!("From: a@b.test\r\nSubject: {subject}\r\nMessage-ID: <x@y.test>\r\n\r\nx\r\n");
        let why = unreadable_because(m.as_bytes());
        assert!(why.contains("header field"), "{why}");
        // The same hidden in a part's headers, or in a forwarded message's.
        let part = format!(
            "{TOP}Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\nX-Note: {subject}\r\n\r\nx\r\n--b--\r\n"
        );
        assert!(unreadable_because(part.as_bytes()).contains("header field"));
        let inner = format!(
            "{TOP}Content-Type: message/rfc822\r\n\r\nFrom: e@f.test\r\nSubject: {subject}\r\n\r\nx\r\n"
        );
        assert!(unreadable_because(inner.as_bytes()).contains("header field"));
    }

    /// What real mail does stays readable: a forwarded message, a digest of three, a
    /// 200 KB indented code block in the body, a hundred MIME parts.
    #[test]
    fn ordinary_shapes_are_parsed() {
        let forwarded = format!(
            "{TOP}Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nsee below\r\n--b\r\nContent-Type: message/rfc822\r\n\r\nFrom: e@f.test\r\nSubject: inner\r\n\r\nhello\r\n--b--\r\n"
        );
        let digest = format!(
            "{TOP}Content-Type: multipart/digest; boundary=\"d\"\r\n\r\n{}--d--\r\n",
            "--d\r\n\r\nFrom: e@f.test\r\nSubject: one of three\r\n\r\nhi\r\n".repeat(3)
        );
        let code = format!(
            "{TOP}\r\nthe crash:\r\n{}",
            "    at frame(x.c:12)\r\n".repeat(9000)
        );
        let parts = format!(
            "{TOP}Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n{}--b--\r\n",
            "--b\r\nContent-Type: text/plain\r\n\r\npart\r\n".repeat(100)
        );
        for m in [forwarded, digest, code, parts] {
            assert_eq!(refusal(m.as_bytes()), None);
            assert!(matches!(parse(m.as_bytes()), Parsed::Mail(_)));
        }
    }
}
