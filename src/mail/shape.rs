//! A look at a mail's raw lines before the parser sees them. mail-parser has no limits
//! of its own, and some shapes cost it work or stack out of all proportion to the
//! mail's size: a header field full of `=?` that never closes is decoded in time
//! quadratic in its length (256 KiB took 20 s), and each `message/rfc822` nested in
//! the next is a level of recursion (200,000 of them, 6 MB, overflow the stack and
//! abort the process). Such a mail is refused here, in time linear in its size, and is
//! filed as unreadable: its raw bytes kept and the team told.
//!
//! The scan follows header blocks as the parser finds them, without parsing MIME: the
//! top of the mail, a part after a line naming a boundary some `Content-Type` declared,
//! and the message embedded after a block that declares one (or after a digest's part,
//! a message unless it says otherwise). Body lines are not measured, so a long body, an
//! armored PGP message or a pasted log never counts as a header. A message part in
//! base64 or quoted-printable hides its headers from the scan: the parser decodes at
//! most three such levels, so only their size is bounded, to what cannot hold a field
//! too long.

use std::collections::HashMap;

/// The longest header field (folded lines together) a mail may have: 32 KiB is decoded
/// in about 0.3 s at worst, and no mail client writes one near it.
pub const MAX_FIELD: usize = 32 << 10;

/// The most header bytes a mail may have, every part's and embedded message's together.
pub const MAX_HEADER_BYTES: usize = 512 << 10;

/// The most messages a mail may carry inside it (`message/*` parts, a digest's parts),
/// nested or side by side.
pub const MAX_MESSAGES: usize = 50;

/// The most multipart boundaries a mail may declare.
pub const MAX_BOUNDARIES: usize = 200;

/// The largest message part in base64 or quoted-printable (its encoded lines): decoded,
/// it cannot hold a header field over [`MAX_FIELD`].
pub const MAX_ENCODED_MESSAGE: usize = MAX_FIELD;

/// Why the parser must not be given `raw`, in plain words; `None` when it may.
pub fn refusal(raw: &[u8]) -> Option<String> {
    let mut scan = Scan {
        in_header: true,
        ..Scan::default()
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
    /// It declares a message (`Content-Type: message/…`).
    message: bool,
    /// It has a `Content-Type` at all.
    typed: bool,
    /// Its `Content-Transfer-Encoding` is base64 or quoted-printable.
    encoded: bool,
    /// The boundary its `Content-Type` declares, and whether that multipart is a digest.
    boundary: Option<(Vec<u8>, bool)>,
}

#[derive(Default)]
struct Scan {
    in_header: bool,
    block: Block,
    /// The current field's name, lower-cased, white space dropped (as the parser reads
    /// it: `Content-Type :` is a `Content-Type`), at most 40 bytes of it.
    name: Vec<u8>,
    /// The current field's text so far (for its boundary), at most 1 KiB of it.
    value: Vec<u8>,
    field: usize,
    header_bytes: usize,
    messages: usize,
    /// Every boundary declared, and whether its multipart is a digest.
    boundaries: HashMap<Vec<u8>, bool>,
    /// The part being read is a digest's (a message unless it says otherwise).
    in_digest: bool,
    /// Bytes of the encoded message part being read, if it is one.
    encoded_body: Option<usize>,
}

impl Scan {
    fn line(&mut self, line: &[u8]) -> Option<String> {
        if !self.in_header {
            return self.body_line(line);
        }
        if line.iter().all(u8::is_ascii_whitespace) {
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
        let rest = if matches!(line.first(), Some(b' ' | b'\t')) {
            self.field = self.field.saturating_add(line.len());
            line
        } else {
            self.end_of_field();
            self.field = line.len();
            let (name, rest) = match line.iter().position(|b| *b == b':') {
                Some(colon) => (line.get(..colon).unwrap_or_default(), line.get(colon + 1..)),
                None => (line, None),
            };
            self.name = name
                .iter()
                .filter(|b| !b.is_ascii_whitespace())
                .take(40)
                .map(u8::to_ascii_lowercase)
                .collect();
            rest.unwrap_or_default()
        };
        if self.field > MAX_FIELD {
            return Some(format!(
                "a header field of it is over {} KiB",
                MAX_FIELD >> 10
            ));
        }
        if matches!(
            self.name.as_slice(),
            b"content-type" | b"content-transfer-encoding"
        ) {
            let room = 1024usize.saturating_sub(self.value.len());
            self.value.extend(rest.iter().take(room));
        }
        None
    }

    /// What the field just read says of its block.
    fn end_of_field(&mut self) {
        let value = std::mem::take(&mut self.value);
        match self.name.as_slice() {
            b"content-type" => {
                self.block.typed = true;
                self.block.message = contains_ci(&value, b"message/");
                if let Some(b) = boundary_of(&value) {
                    let digest = contains_ci(&value, b"multipart/digest");
                    self.block.boundary = Some((b, digest));
                }
            }
            b"content-transfer-encoding" => {
                self.block.encoded =
                    contains_ci(&value, b"base64") || contains_ci(&value, b"quoted-printable");
            }
            _ => {}
        }
    }

    /// The blank line after a header block: the body, or the headers of the message the
    /// block declares (or of a digest's part that declares no type).
    fn end_of_block(&mut self) -> Option<String> {
        self.end_of_field();
        self.name.clear();
        self.field = 0;
        let b = std::mem::take(&mut self.block);
        if let Some((boundary, digest)) = b.boundary {
            if self.boundaries.len() >= MAX_BOUNDARIES && !self.boundaries.contains_key(&boundary) {
                return Some(format!(
                    "it declares more than {MAX_BOUNDARIES} multipart boundaries"
                ));
            }
            self.boundaries.insert(boundary, digest);
        }
        let message = b.message || (self.in_digest && !b.typed);
        if message {
            self.messages += 1;
            if self.messages > MAX_MESSAGES {
                return Some(format!(
                    "it carries more than {MAX_MESSAGES} messages inside it"
                ));
            }
        }
        self.in_digest = false;
        if message && b.encoded {
            self.in_header = false;
            self.encoded_body = Some(0);
        } else {
            self.in_header = message;
        }
        None
    }

    fn body_line(&mut self, line: &[u8]) -> Option<String> {
        if let Some(digest) = self.boundary_line(line) {
            self.in_header = true;
            self.in_digest = digest;
            self.encoded_body = None;
            return None;
        }
        if let Some(n) = self.encoded_body.as_mut() {
            *n = n.saturating_add(line.len() + 2);
            if *n > MAX_ENCODED_MESSAGE {
                return Some(format!(
                    "it carries a message in base64 or quoted-printable of over {} KiB",
                    MAX_ENCODED_MESSAGE >> 10
                ));
            }
        }
        None
    }

    /// `Some(digest)` when `line` is `--boundary` or `--boundary--` of a boundary
    /// declared: whether that multipart is a digest.
    fn boundary_line(&self, line: &[u8]) -> Option<bool> {
        let name = line.strip_prefix(b"--")?;
        let name = trim_end(name);
        let name = name.strip_suffix(b"--").unwrap_or(name);
        self.boundaries
            .get(name)
            .or_else(|| self.boundaries.get(trim_end(name)))
            .copied()
    }
}

/// The `boundary=` parameter of a `Content-Type` value, quoted or not.
fn boundary_of(value: &[u8]) -> Option<Vec<u8>> {
    let at = value
        .windows(9)
        .position(|w| w.eq_ignore_ascii_case(b"boundary="))?;
    let rest = value.get(at + 9..)?;
    let b: Vec<u8> = match rest.first() {
        Some(b'"') => rest
            .get(1..)?
            .iter()
            .take_while(|c| **c != b'"')
            .copied()
            .collect(),
        _ => rest
            .iter()
            .take_while(|c| !c.is_ascii_whitespace() && **c != b';')
            .copied()
            .collect(),
    };
    (!b.is_empty()).then_some(b)
}

fn trim_end(s: &[u8]) -> &[u8] {
    let end = s
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(0, |i| i + 1);
    s.get(..end).unwrap_or(s)
}

fn contains_ci(text: &[u8], needle: &[u8]) -> bool {
    text.windows(needle.len())
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
    /// overflowed the stack and aborted the daemon. So with a space before the colon
    /// (the parser reads `Content-Type :` as a `Content-Type`), and through a digest,
    /// whose parts are messages unless they say otherwise.
    #[test]
    fn messages_nested_deep_are_refused() {
        for unit in [
            "Content-Type: message/rfc822\r\n\r\n",
            "Content-Type : message/rfc822\r\n\r\n",
        ] {
            let m = format!("{TOP}{}", unit.repeat(200_000));
            let why = unreadable_because(m.as_bytes());
            assert!(why.contains("more than 50 messages"), "{why}");
        }
        let mut digest = String::from(TOP);
        for n in 0..100 {
            digest.push_str(&format!(
                "Content-Type: multipart/digest; boundary=\"d{n}\"\r\n\r\n--d{n}\r\nX-Part: {n}\r\n\r\n"
            ));
        }
        let why = unreadable_because(digest.as_bytes());
        assert!(why.contains("more than 50 messages"), "{why}");
    }

    /// A message part in base64 hides its headers: one larger than a header field may be
    /// is refused; a small one (PHPMailer forwards so) is read.
    #[test]
    fn a_large_encoded_message_part_is_refused() {
        let inner = "RnJvbTogYUBiLnRlc3QNCg0K\r\n";
        let m = |lines: usize| {
            format!(
                "{TOP}Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\n{}--b--\r\n",
                inner.repeat(lines)
            )
        };
        assert!(unreadable_because(m(2000).as_bytes()).contains("base64"));
        assert_eq!(refusal(m(10).as_bytes()), None);
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
    /// 200 KB indented code block, a hundred MIME parts, an armored PGP message of a
    /// megabyte (GnuPG writes a blank line after its first line), a pasted log after a
    /// `---` rule.
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
        let pgp = format!(
            "{TOP}\r\n-----BEGIN PGP MESSAGE-----\r\n\r\n{}=AbCd\r\n-----END PGP MESSAGE-----\r\n",
            format!("{}\r\n", "hQIMA".repeat(13)).repeat(16_000)
        );
        let log = format!("{TOP}\r\nsee the log\r\n---\r\n\r\n{}", "x".repeat(100_000));
        for m in [forwarded, digest, code, parts, pgp, log] {
            assert_eq!(refusal(m.as_bytes()), None);
            assert!(matches!(parse(m.as_bytes()), Parsed::Mail(_)));
        }
    }
}
