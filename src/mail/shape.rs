//! A look at a mail's raw lines before the parser sees them. mail-parser has no limits
//! of its own, and some shapes cost it work or stack out of all proportion to the
//! mail's size: a header field full of `=?` that never closes is decoded in time
//! quadratic in its length (256 KiB took 20 s), and each `message/rfc822` nested in
//! the next is a level of recursion (200,000 of them, 6 MB, overflow the stack and
//! abort the process). Such a mail is refused here, in time linear in its size, and is
//! filed as unreadable: its raw bytes kept and the team told.
//!
//! The scan follows header blocks where the parser may find them, without parsing MIME,
//! and errs on the side of finding more: the top of the mail; the bytes after `--`
//! and any boundary some `Content-Type` declared, wherever in a line they are (the
//! parser looks for its boundary anywhere, and reads a part's headers from just after
//! it); and the message embedded after a block that declares one (or after a part of a
//! digest, a message unless it says otherwise). A `Content-Type` is read by the
//! parser's own reader, so a type or boundary written oddly (`message (x) /rfc822`,
//! `boundary *0 = "b"`) is seen as the parser sees it. A block ends at an empty line
//! only: a line of spaces continues the field above it, for the parser too. Body lines
//! are not measured, so a long body, an armored PGP message or a pasted log never
//! counts as a header. A message part in base64 or quoted-printable hides its headers
//! from the scan: the parser decodes at most three such levels, so only their size is
//! bounded, to what cannot hold a field too long.

use aho_corasick::{AhoCorasick, MatchKind};
use mail_parser::{MessageParser, MimeHeaders};
use std::collections::HashMap;

/// The longest header field (folded lines together) a mail may have: 32 KiB is decoded
/// in about 0.3 s at worst, and no mail client writes one near it.
pub const MAX_FIELD: usize = 32 << 10;

/// The parser's work on encoded words, for a whole mail: each field costs its length
/// times the `=?` in it (the parser scans to the field's end from each). Two fields of
/// [`MAX_FIELD`] that are `=?` all through, about 0.6 s at worst; a list of a hundred
/// encoded names costs a thousandth of it.
pub const MAX_ENCODED_WORK: usize = MAX_FIELD * MAX_FIELD;

/// The most header bytes a mail may have, every part's and embedded message's together.
pub const MAX_HEADER_BYTES: usize = 512 << 10;

/// The most messages a mail may carry inside it (`message/*` parts, a digest's parts),
/// nested or side by side.
pub const MAX_MESSAGES: usize = 50;

/// The most multipart boundaries a mail may declare.
pub const MAX_BOUNDARIES: usize = 200;

/// The longest multipart boundary a mail may declare: RFC 2046 allows 70 characters.
pub const MAX_BOUNDARY: usize = 200;

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
    // What ends with the mail: a last field with no empty line after it, an encoded
    // message part with no boundary after it.
    if scan.in_header {
        scan.end_of_field()
    } else {
        scan.end_of_encoded_part()
    }
}

#[derive(Default)]
struct Block {
    lines: usize,
    /// It declares a message (a `Content-Type` of type `message`).
    message: bool,
    /// Some `Content-Type` of it is missing or unreadable (a digest's part is a message
    /// then).
    untyped: bool,
    /// It has a `Content-Type` the parser reads.
    typed: bool,
    /// Its `Content-Transfer-Encoding` is base64 or quoted-printable.
    encoded: bool,
    /// That encoding is base64.
    base64: bool,
}

#[derive(Default)]
struct Scan {
    in_header: bool,
    block: Block,
    /// The current field's name, lower-cased, white space dropped (as the parser reads
    /// it: `Content-Type :` is a `Content-Type`), at most 40 bytes of it.
    name: Vec<u8>,
    /// The current field has a name ended by a colon: a line led by white space goes on
    /// with it.
    named: bool,
    /// The current field's text so far, its lines joined as they were (kept for a
    /// `Content-Type` or `Content-Transfer-Encoding` alone, under [`MAX_FIELD`]).
    value: Vec<u8>,
    field: usize,
    /// The `=?` in the current field so far.
    field_encoded: usize,
    /// The parser's work on encoded words so far ([`MAX_ENCODED_WORK`]).
    encoded_work: usize,
    header_bytes: usize,
    messages: usize,
    /// Every boundary declared, and whether its multipart is a digest.
    boundaries: HashMap<Vec<u8>, bool>,
    /// `--` and each boundary declared, found anywhere in a line; rebuilt when one more
    /// is declared.
    finder: Option<AhoCorasick>,
    /// `--` and each digest's boundary: a line holding one may open a digest's part.
    digest_finder: Option<AhoCorasick>,
    /// The block being read may be a digest's part (a message unless it says otherwise):
    /// a digest's boundary is on the line that opened it.
    in_digest: bool,
    /// Bytes of the encoded message part being read, if it is one.
    encoded_body: Option<usize>,
    /// That part's lines so far (at most [`MAX_ENCODED_MESSAGE`]), and whether in base64:
    /// decoded at its end, for the encoded words the parser will find in it.
    encoded_lines: Vec<u8>,
    encoded_base64: bool,
}

impl Scan {
    fn line(&mut self, line: &[u8]) -> Option<String> {
        if !self.in_header {
            return self.body_line(line);
        }
        // A field continues on a line led by white space (a line of spaces too), after
        // a field whose name ended in a colon. Anywhere else (the block's first line, the
        // line after one without a colon) the parser skips the white space and starts a
        // field, or ends the block when nothing else is on the line.
        let led = matches!(line.first(), Some(b' ' | b'\t'));
        let continued = led && self.named;
        if !continued && line.iter().all(u8::is_ascii_whitespace) {
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
        let encoded = line.windows(2).filter(|w| w == b"=?").count();
        let rest = if continued {
            self.field = self.field.saturating_add(line.len());
            self.field_encoded = self.field_encoded.saturating_add(encoded);
            if self.keeps_value() {
                self.value.extend_from_slice(b"\r\n");
            }
            line
        } else {
            if let Some(why) = self.end_of_field() {
                return Some(why);
            }
            self.field = line.len();
            self.field_encoded = encoded;
            // The parser passes over white space and colons before a name (it reads
            // `:Content-Type:` as a `Content-Type`).
            let start = line
                .iter()
                .position(|b| !b.is_ascii_whitespace() && *b != b':')
                .unwrap_or(line.len());
            let line = line.get(start..).unwrap_or_default();
            let (name, rest) = match line.iter().position(|b| *b == b':') {
                Some(colon) => (line.get(..colon).unwrap_or_default(), line.get(colon + 1..)),
                None => (line, None),
            };
            self.named = rest.is_some();
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
        if self.keeps_value() {
            self.value.extend_from_slice(rest);
        }
        None
    }

    /// Whether the current field's text is kept: it says what its block is.
    fn keeps_value(&self) -> bool {
        matches!(
            self.name.as_slice(),
            b"content-type" | b"content-transfer-encoding"
        )
    }

    /// What the field just read says of its block; why the mail is refused, when the
    /// boundary it declares is not one to look for.
    fn end_of_field(&mut self) -> Option<String> {
        let work = self
            .field
            .saturating_mul(std::mem::take(&mut self.field_encoded));
        if let Some(why) = self.charge_encoded_work(work) {
            return Some(why);
        }
        let value = std::mem::take(&mut self.value);
        match self.name.as_slice() {
            b"content-type" => {
                let Some(ct) = content_type(&value) else {
                    self.block.untyped = true;
                    return None;
                };
                self.block.typed = true;
                self.block.message |= ct.message;
                if let Some(b) = ct.boundary {
                    if b.len() > MAX_BOUNDARY || b.contains(&b'\n') || b.contains(&b'\r') {
                        return Some(format!(
                            "it declares a multipart boundary over {MAX_BOUNDARY} bytes or across lines"
                        ));
                    }
                    return self.declare(b, ct.digest);
                }
            }
            b"content-transfer-encoding" => {
                self.block.base64 = contains_ci(&value, b"base64");
                self.block.encoded = self.block.base64 || contains_ci(&value, b"quoted-printable");
            }
            _ => {}
        }
        None
    }

    fn declare(&mut self, boundary: Vec<u8>, digest: bool) -> Option<String> {
        if let Some(d) = self.boundaries.get_mut(&boundary) {
            if digest && !*d {
                *d = true;
                self.finder = None;
            }
            return None;
        }
        if self.boundaries.len() >= MAX_BOUNDARIES {
            return Some(format!(
                "it declares more than {MAX_BOUNDARIES} multipart boundaries"
            ));
        }
        self.boundaries.insert(boundary, digest);
        self.finder = None;
        None
    }

    /// The blank line after a header block: the body, or the headers of the message the
    /// block declares (or of a digest's part that declares no type).
    fn end_of_block(&mut self) -> Option<String> {
        if let Some(why) = self.end_of_field() {
            return Some(why);
        }
        self.name.clear();
        self.named = false;
        self.field = 0;
        let b = std::mem::take(&mut self.block);
        let message = b.message || (self.in_digest && (b.untyped || !b.typed));
        self.in_digest = false;
        if message {
            self.messages += 1;
            if self.messages > MAX_MESSAGES {
                return Some(format!(
                    "it carries more than {MAX_MESSAGES} messages inside it"
                ));
            }
        }
        if message && b.encoded {
            self.in_header = false;
            self.encoded_body = Some(0);
            self.encoded_lines.clear();
            self.encoded_base64 = b.base64;
        } else {
            self.in_header = message;
        }
        None
    }

    fn body_line(&mut self, line: &[u8]) -> Option<String> {
        if let Some(rest) = self.after_boundary(line) {
            if let Some(why) = self.end_of_encoded_part() {
                return Some(why);
            }
            self.in_header = true;
            self.named = false;
            self.in_digest = self
                .digest_finder
                .as_ref()
                .is_some_and(|f| f.is_match(line));
            // The parser reads the part's headers from just after the boundary (past
            // white space): from the next line when nothing else is on this one.
            let start = rest
                .iter()
                .position(|b| !matches!(b, b' ' | b'\t' | b'\r'))
                .unwrap_or(rest.len());
            let first = rest.get(start..).unwrap_or_default();
            return if first.is_empty() {
                None
            } else {
                self.line(first)
            };
        }
        if let Some(n) = self.encoded_body.as_mut() {
            *n = n.saturating_add(line.len() + 2);
            if *n > MAX_ENCODED_MESSAGE {
                return Some(format!(
                    "it carries a message in base64 or quoted-printable of over {} KiB",
                    MAX_ENCODED_MESSAGE >> 10
                ));
            }
            self.encoded_lines.extend_from_slice(line);
            self.encoded_lines.extend_from_slice(b"\r\n");
        }
        None
    }

    /// The end of an encoded message part, if one was being read: its decoded text costs
    /// the parser at most its length times the `=?` in it, counted in the mail's budget.
    fn end_of_encoded_part(&mut self) -> Option<String> {
        self.encoded_body.take()?;
        let lines = std::mem::take(&mut self.encoded_lines);
        let decoded = if self.encoded_base64 {
            mail_parser::decoders::base64::base64_decode(&lines)
        } else {
            mail_parser::decoders::quoted_printable::quoted_printable_decode(&lines)
        }
        .unwrap_or(lines);
        let encoded = decoded.windows(2).filter(|w| w == b"=?").count();
        self.charge_encoded_work(decoded.len().saturating_mul(encoded))
    }

    /// Adds `work` to the mail's encoded-word work; why the mail is refused past
    /// [`MAX_ENCODED_WORK`].
    fn charge_encoded_work(&mut self, work: usize) -> Option<String> {
        self.encoded_work = self.encoded_work.saturating_add(work);
        (self.encoded_work > MAX_ENCODED_WORK).then(|| {
            "its header fields hold too many encoded words to decode (`=?`), together".to_string()
        })
    }

    /// What follows the first `--boundary` in `line` (of any boundary declared, anywhere
    /// in it) that opens a part: one closing its multipart (`--boundary--`) is passed
    /// over, the parser then looking for the next. `None` when there is none.
    fn after_boundary<'l>(&mut self, line: &'l [u8]) -> Option<&'l [u8]> {
        if self.boundaries.is_empty() {
            return None;
        }
        if self.finder.is_none() {
            let patterns = |digests_only: bool| -> Vec<Vec<u8>> {
                self.boundaries
                    .iter()
                    .filter(|(_, digest)| **digest || !digests_only)
                    .map(|(b, _)| [b"--".as_slice(), b].concat())
                    .collect()
            };
            let build = |p: Vec<Vec<u8>>| {
                AhoCorasick::builder()
                    .match_kind(MatchKind::LeftmostFirst)
                    .build(&p)
                    .ok()
            };
            self.finder = build(patterns(false));
            let digests = patterns(true);
            self.digest_finder = if digests.is_empty() {
                None
            } else {
                build(digests)
            };
        }
        let finder = self.finder.as_ref()?;
        let mut from = 0;
        while let Some(m) = finder.find(line.get(from..)?) {
            let rest = line.get(from + m.end()..)?;
            match rest.strip_prefix(b"--") {
                Some(_) => from += m.end() + 2,
                None => return Some(rest),
            }
        }
        None
    }
}

/// What a `Content-Type` value says to the scan, read by the parser's own reader.
struct TypeSeen {
    message: bool,
    digest: bool,
    boundary: Option<Vec<u8>>,
}

/// `None` when the parser reads no type in `value` (a digest's part is a message then).
fn content_type(value: &[u8]) -> Option<TypeSeen> {
    let field = [b"Content-Type:".as_slice(), value, b"\r\n\r\n"].concat();
    std::panic::catch_unwind(|| {
        let parsed = MessageParser::new().parse_headers(&field)?;
        let ct = parsed.content_type()?;
        let subtype = ct.subtype().unwrap_or_default();
        Some(TypeSeen {
            message: ct.ctype().eq_ignore_ascii_case("message"),
            digest: ct.ctype().eq_ignore_ascii_case("multipart")
                && subtype.eq_ignore_ascii_case("digest"),
            boundary: ct
                .attribute("boundary")
                .filter(|b| !b.is_empty())
                .map(|b| b.as_bytes().to_vec()),
        })
    })
    .ok()
    .flatten()
}

fn contains_ci(text: &[u8], needle: &[u8]) -> bool {
    text.windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A field value of `len` bytes of encoded words that never close, folded every
    /// 960 bytes: what the parser decodes in quadratic time.
    fn unclosed_encoded_words(len: usize) -> String {
        let mut value = String::new();
        while value.len() < len {
            value.push_str("=?AB?Q?x");
            if value.len() % 960 < 8 {
                value.push_str("\r\n ");
            }
        }
        value
    }
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
        let subject = unclosed_encoded_words(256 << 10);
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

    /// Many long fields of encoded words, each under the field limit, cost the parser
    /// their squares added up: sixteen of 30 KiB were seconds of work for a mail of half
    /// a megabyte. Refused by a budget for the whole mail; an ordinary long list of
    /// encoded names is read.
    #[test]
    fn many_long_encoded_fields_are_refused() {
        let subject = unclosed_encoded_words(30 << 10);
        let fields = format!("Subject: {subject}\r\n").repeat(16);
        let m = format!("From: a@b.test\r\n{fields}Message-ID: <x@y.test>\r\n\r\nx\r\n");
        let why = unreadable_because(m.as_bytes());
        assert!(why.contains("encoded words"), "{why}");
        let names: Vec<String> = (0..100)
            .map(|i| format!("=?utf-8?q?J=C3=B6rg_{i}?= <j{i}@x.test>"))
            .collect();
        let list = format!("{TOP}Cc: {}\r\n\r\nx\r\n", names.join(",\r\n "));
        assert_eq!(refusal(list.as_bytes()), None);
        // One such field still passes.
        let one =
            format!("From: a@b.test\r\nSubject: {subject}\r\nMessage-ID: <x@y.test>\r\n\r\nx\r\n");
        assert_eq!(refusal(one.as_bytes()), None);
    }

    /// Encoded words hidden in message parts sent in quoted-printable (or base64), which
    /// the scan passes over but the parser decodes and reads, count in the mail's budget:
    /// forty such parts of 30 KiB, each under every limit, were seconds of parsing.
    #[test]
    fn encoded_words_inside_encoded_message_parts_count() {
        let mut subject = String::from("Subject: ");
        while subject.len() < 30 << 10 {
            subject.push_str("=3D?");
            if subject.len() % 72 < 4 {
                subject.push_str("=\r\n");
            }
        }
        let part = format!(
            "--b\r\nContent-Type: message/rfc822\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nFrom: e@f.test\r\n{subject}\r\n\r\nx\r\n"
        );
        let m = |n: usize| {
            format!(
                "{TOP}Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n{}--b--\r\n",
                part.repeat(n)
            )
        };
        let why = unreadable_because(m(40).as_bytes());
        assert!(why.contains("encoded words"), "{why}");
        assert_eq!(refusal(m(1).as_bytes()), None);
    }

    /// The parser finds a boundary anywhere in a line and reads the part's headers from
    /// just after it, and reads a type or a boundary however it is written: the scan
    /// followed none of it, so messages nested 200,000 deep behind `see--b` (or typed
    /// `message (x) /rfc822`) aborted the daemon again.
    #[test]
    fn messages_nested_behind_an_odd_boundary_or_type_are_refused() {
        let unit = "Content-Type: message/rfc822\r\n\r\n";
        let mid_line = format!(
            "{TOP}MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nsee--b{unit}{}",
            unit.repeat(200_000)
        );
        // After a closing boundary, on the same line, the parser looks for the next.
        let after_close = mid_line.replace("see--b", "see--b--and--b");
        let mut bodies = vec![mid_line, after_close];
        for odd in [
            "Content-Type: message (x) /rfc822\r\n\r\n",
            "Content-Type: message\r\n /rfc822\r\n\r\n",
            "Content-Type: MESSAGE/Global\r\n\r\n",
            // The parser passes over colons before a name, and white space before the
            // first field of a block (or after a line without a colon).
            ":Content-Type: message/rfc822\r\n\r\n",
            " Content-Type: message/rfc822\r\n\r\n",
            "X-Junk\r\n\tContent-Type: message/rfc822\r\n\r\n",
        ] {
            bodies.push(format!("{TOP}{unit}{}", odd.repeat(200_000)));
        }
        for m in bodies {
            let why = unreadable_because(m.as_bytes());
            assert!(why.contains("more than 50 messages"), "{why}");
        }
    }

    /// A header field too long to decode, in a part whose boundary is declared as the
    /// parser reads it but the scan did not: with spaces around `=`, as RFC 2231's
    /// first piece, in capitals, after a kilobyte of other parameters; and a field
    /// continued past a line of spaces (which does not end a header block).
    #[test]
    fn a_long_field_behind_an_odd_boundary_is_refused() {
        let subject = unclosed_encoded_words(256 << 10);
        let padding = format!("x-pad=\"{}\"; ", "p".repeat(2000));
        for ct in [
            "multipart/mixed; boundary = \"b\"".to_string(),
            "multipart/mixed; boundary*0=\"b\"".to_string(),
            "multipart/mixed; BOUNDARY=b".to_string(),
            format!("multipart/mixed; {padding}boundary=b"),
        ] {
            let m = format!(
                "{TOP}Content-Type: {ct}\r\n\r\n--b\r\nContent-Type: text/plain\r\nX-Note: {subject}\r\n\r\nx\r\n--b--\r\n"
            );
            let why = unreadable_because(m.as_bytes());
            assert!(why.contains("header field"), "{ct}: {why}");
        }
        let hidden = format!(
            "{TOP}:Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nX-Note: {subject}\r\n\r\nx\r\n--b--\r\n"
        );
        assert!(unreadable_because(hidden.as_bytes()).contains("header field"));
        let spaced = subject.replacen("\r\n ", "\r\n \r\n ", 1);
        let m = format!(
            "From: a@b.test\r\nSubject: x\r\n {spaced}\r\nMessage-ID: <x@y.test>\r\n\r\nx\r\n"
        );
        assert!(unreadable_because(m.as_bytes()).contains("header field"));
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
        // A digest of forty (RFC 2046's shape: parts without a type are messages), each
        // with paragraphs: the scan took every block after the first digest for a
        // message, and refused it.
        let digest = format!(
            "{TOP}Content-Type: multipart/digest; boundary=\"d\"\r\n\r\n{}--d--\r\n",
            "--d\r\n\r\nFrom: e@f.test\r\nSubject: one of forty\r\n\r\nhi\r\n\r\nthere\r\n\r\nbye\r\n"
                .repeat(40)
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
