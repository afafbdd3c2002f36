//! Turns the raw bytes of a fetched mail into an owned [`Mail`]: the headers, addresses,
//! ids and text the rest of the desk reasons about.
//!
//! Invariant: parsing untrusted mail never panics and never fails the caller. mail-parser
//! is run under `catch_unwind`; anything it cannot make sense of becomes
//! [`Parsed::Unreadable`], which still carries a stable id so the raw bytes can be filed.
//! No I/O happens here.

pub mod auth;
pub mod classify;
pub mod flowed;
pub mod html;
pub mod layouts;
pub mod quoting;
pub mod shape;
pub mod spam;
pub mod subject;
pub mod threading;

use crate::types::{MessageId, normalize_address};
use chrono::{DateTime, TimeZone, Utc};
use mail_parser::{Address, HeaderValue, Message, MessageParser, MimeHeaders, PartType};
use sha2::{Digest, Sha256};

/// A name and an address, as in `From: Alice <alice@example.org>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mailbox {
    pub name: Option<String>,
    /// Lower-cased.
    pub address: String,
}

/// What we understood of one mail.
#[derive(Debug, Clone)]
pub struct Mail {
    pub message_id: MessageId,
    /// True when the mail had no usable Message-ID and we derived one from its bytes.
    pub message_id_synthesized: bool,
    /// The first `From:` header's first mailbox (mail-parser's own accessor takes the
    /// last; every part of the desk uses this one).
    pub from: Option<Mailbox>,
    /// How many `From:` headers the mail has: more than one is refused for commands.
    pub from_headers: usize,
    /// How many mailboxes its `From:` headers name together: more than one is refused
    /// for commands and never acknowledged (which did the server judge?).
    pub from_mailboxes: usize,
    pub to: Vec<String>,
    pub cc: Vec<String>,
    /// `Delivered-To` / `X-Original-To`: where the server actually delivered it.
    pub delivered_to: Vec<String>,
    pub subject: String,
    pub date: Option<DateTime<Utc>>,
    pub in_reply_to: Vec<MessageId>,
    pub references: Vec<MessageId>,
    /// Ids of messages embedded in this one (the original in a bounce or a forward).
    pub embedded_ids: Vec<MessageId>,
    /// A delivery report (RFC 3464) saying the mail it carries failed for good for some
    /// recipient (`Action: failed`), not merely delayed.
    pub undeliverable: bool,
    /// Every header as (name, raw value), in order.
    pub headers: Vec<(String, String)>,
    /// `multipart/report`, `text/plain`, …, lower-cased.
    pub content_type: String,
    /// The plain-text body (or the HTML body turned into text when there is no text part).
    pub text: String,
    pub text_from_html: bool,
    /// The mail has body parts beyond the one its text is taken from (a file attached
    /// inline, which the parser takes for a second text part, not an attachment): only
    /// the original shows them.
    pub more_parts: bool,
    /// (file name, content type, size) of each attachment.
    pub attachments: Vec<(String, String, usize)>,
    /// The bytes as received, for passing the original on to the team; shared with the
    /// caller's copy, so a 50 MB mail is not held twice.
    pub raw: std::sync::Arc<Vec<u8>>,
}

impl Mail {
    /// Raw values of every header with this name (case-insensitive), in order, written
    /// `Name:` or `Name :` alike: what a careless sender writes still counts (its
    /// `Auto-Submitted :` still stops an answer).
    pub fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.trim().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Raw values of every header with this name written exactly so, `Name:`: what a
    /// receiving server stamps, and what its rules strip from incoming mail.
    pub fn stamped_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        stamped(&self.headers, name)
    }

    /// The first raw value of a header, trimmed.
    pub fn header<'a>(&'a self, name: &'a str) -> Option<&'a str> {
        self.header_values(name).next().map(str::trim)
    }

    /// Every address the mail was sent or delivered to.
    pub fn all_recipients(&self) -> impl Iterator<Item = &str> {
        self.to
            .iter()
            .chain(&self.cc)
            .chain(&self.delivered_to)
            .map(String::as_str)
    }

    /// Sender's address, lower-cased, or "" when there is no From.
    pub fn from_address(&self) -> &str {
        self.from.as_ref().map(|m| m.address.as_str()).unwrap_or("")
    }
}

/// The result of parsing.
#[derive(Debug, Clone)]
pub enum Parsed {
    Mail(Box<Mail>),
    /// Could not be understood; `id` is derived from the bytes, `reason` is plain words.
    Unreadable {
        id: MessageId,
        reason: String,
    },
}

/// A Message-ID derived from the bytes, for mail that has none (or cannot be parsed).
/// Identical bytes give the identical id, so a duplicate delivery is still recognised.
pub fn synthesized_id(raw: &[u8]) -> MessageId {
    let digest = Sha256::digest(raw);
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    MessageId::from_parts(&hex, "secdesk.invalid")
}

/// Where a mail was delivered, read from its top header block by a bounded scan (the
/// first 64 KiB, no decoding), for a mail the parser is not given: the addresses of its
/// `Delivered-To`, `X-Original-To`, `To` and `Cc` fields, in that order (as
/// `Config::route` reads a parsed mail's), at most 50.
pub fn delivery_addresses(raw: &[u8]) -> Vec<String> {
    const FIELDS: [&str; 4] = ["delivered-to", "x-original-to", "to", "cc"];
    let top = raw.get(..64 << 10).unwrap_or(raw);
    let mut found: Vec<(usize, Vec<u8>)> = Vec::new();
    for line in top.split(|b| *b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if matches!(line.first(), Some(b' ' | b'\t')) {
            if let Some((_, v)) = found.last_mut() {
                v.extend_from_slice(line);
            }
            continue;
        }
        let name = line
            .split(|b| *b == b':')
            .next()
            .map(|n| String::from_utf8_lossy(n).trim().to_ascii_lowercase())
            .unwrap_or_default();
        match FIELDS.iter().position(|f| *f == name) {
            Some(rank) if line.contains(&b':') => {
                let value = line.splitn(2, |b| *b == b':').nth(1).unwrap_or_default();
                found.push((rank, value.to_vec()));
            }
            // Another field: what follows it does not continue the last one kept.
            _ => found.push((usize::MAX, Vec::new())),
        }
    }
    found.retain(|(rank, _)| *rank != usize::MAX);
    found.sort_by_key(|(rank, _)| *rank);
    let mut out = Vec::new();
    for (_, value) in found {
        for item in String::from_utf8_lossy(&value).split(',') {
            let address = match (item.find('<'), item.rfind('>')) {
                (Some(a), Some(b)) if a < b => item.get(a + 1..b).unwrap_or_default(),
                _ => item.trim(),
            };
            if address.contains('@') && out.len() < 50 {
                out.push(address.trim().to_string());
            }
        }
    }
    out
}

/// The mail's Message-ID read from its top header block by a bounded scan (the first
/// 64 KiB, no decoding: nothing a parser could choke on), or one made from its bytes:
/// for a mail that is set aside or refused because the parser cannot be trusted with it.
pub fn message_id_of(raw: &[u8]) -> MessageId {
    let top = raw.get(..64 << 10).unwrap_or(raw);
    let mut value: Option<Vec<u8>> = None;
    for line in top.split(|b| *b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        match (&mut value, line.first()) {
            (Some(v), Some(b' ' | b'\t')) => v.extend_from_slice(line),
            (Some(_), _) => break,
            (None, _) => {
                if line
                    .get(..11)
                    .is_some_and(|n| n.eq_ignore_ascii_case(b"message-id:"))
                {
                    value = line.get(11..).map(<[u8]>::to_vec);
                }
            }
        }
    }
    value
        .and_then(|v| {
            let text = String::from_utf8_lossy(&v).into_owned();
            let start = text.find('<')?;
            let end = start + text.get(start..)?.find('>')?;
            MessageId::new(text.get(start..=end)?)
        })
        .unwrap_or_else(|| synthesized_id(raw))
}

/// The date a mail says it was written, from its headers alone (the body is neither
/// read nor decoded, and the bytes are not copied): what an import needs before the
/// mail is processed. `None` without a readable `Date`, or when the mail's shape would
/// make its headers costly to parse ([`shape::refusal`]: the parse is refused too).
/// Never panics.
pub fn date_of(raw: &[u8]) -> Option<DateTime<Utc>> {
    if shape::refusal(raw).is_some() {
        return None;
    }
    std::panic::catch_unwind(|| {
        MessageParser::default()
            .parse_headers(raw)?
            .date()
            .and_then(|d| Utc.timestamp_opt(d.to_timestamp(), 0).single())
    })
    .ok()
    .flatten()
}

/// Parses raw bytes. Never panics.
pub fn parse(raw: &[u8]) -> Parsed {
    parse_shared(std::sync::Arc::new(raw.to_vec()))
}

/// [`parse`] without copying the bytes: the mail keeps a reference to them.
pub fn parse_shared(shared: std::sync::Arc<Vec<u8>>) -> Parsed {
    let raw: &[u8] = &shared;
    if raw.is_empty() {
        return Parsed::Unreadable {
            id: synthesized_id(raw),
            reason: "the message is empty".into(),
        };
    }
    if let Some(why) = shape::refusal(raw) {
        return Parsed::Unreadable {
            id: message_id_of(raw),
            reason: format!("it was not parsed: {why}"),
        };
    }
    match std::panic::catch_unwind(|| parse_inner(raw)) {
        Ok(Some(mut mail)) => {
            mail.raw = std::sync::Arc::clone(&shared);
            Parsed::Mail(Box::new(mail))
        }
        Ok(None) => Parsed::Unreadable {
            id: synthesized_id(raw),
            reason: "no From, Subject, Date or Message-ID header could be read".into(),
        },
        Err(_) => Parsed::Unreadable {
            id: synthesized_id(raw),
            reason: "the MIME structure is broken (the parser gave up)".into(),
        },
    }
}

/// The most headers kept of one mail.
pub const MAX_HEADERS: usize = 1000;

/// The most headers kept from the end of a mail's header block beyond [`MAX_HEADERS`]:
/// a milter adds its verdict there (spamass-milter's `X-Spam-Flag`), below whatever the
/// sender wrote.
pub const MAX_LAST_HEADERS: usize = 50;

/// The mail's header fields, (name, raw value), in order. Bounded: of a mail of 10,000
/// header lines, the first [`MAX_HEADERS`] (the receiving servers' trace and
/// `Authentication-Results` are at the top) and the last [`MAX_LAST_HEADERS`] are kept.
///
/// A name is given as the parser reads it (`Subject`) when written so; one written
/// otherwise (`Authentication-Results :`, the obsolete syntax servers still deliver) is
/// given as written, colon aside, so that only a lenient lookup finds it: the servers'
/// rules that strip incoming copies of their own stamps (`^Authentication-Results:`)
/// let it through, so it can only be forged.
fn header_fields(msg: &Message<'_>) -> Vec<(String, String)> {
    let raw = msg.raw_message();
    let fields = msg
        .parts
        .first()
        .map(|p| p.headers.as_slice())
        .unwrap_or(&[]);
    let field = |h: &mail_parser::Header<'_>| {
        let text = |from: u32, to: u32| raw.get(from as usize..to as usize);
        // A value in 8-bit bytes that are not UTF-8 (a list's name in Latin-1) is read
        // lossily: its ASCII tokens are what is looked at, and a dropped `List-Id` was
        // a list post acknowledged.
        let value = String::from_utf8_lossy(text(h.offset_start, h.offset_end)?);
        let canonical = h.name.as_str();
        let written = text(h.offset_field, h.offset_start)?;
        let written = written.strip_suffix(b":").unwrap_or(written);
        let name = if written.eq_ignore_ascii_case(canonical.as_bytes()) {
            canonical.to_string()
        } else {
            String::from_utf8_lossy(written).into_owned()
        };
        Some((name, value.into_owned()))
    };
    let mut headers: Vec<(String, String)> = fields.iter().filter_map(field).collect();
    if headers.len() > MAX_HEADERS + MAX_LAST_HEADERS {
        headers.drain(MAX_HEADERS..headers.len() - MAX_LAST_HEADERS);
    }
    headers
}

/// The most characters kept of a subject (the rest is cut, marked with `…`): it becomes
/// a case's title, and goes into its events and mails.
pub const MAX_SUBJECT: usize = 500;

/// The most ids kept of one list (References, In-Reply-To, embedded messages): each is a
/// threading lookup and a stored row. Like RFC 5322's advice for long References, the
/// first (the thread's root) and the last ones are kept.
pub const MAX_IDS: usize = 100;

/// Raw values of the headers named exactly `name` (case-insensitive, no white space
/// around it), in order: see [`Mail::stamped_values`].
pub fn stamped<'a>(
    headers: &'a [(String, String)],
    name: &'a str,
) -> impl Iterator<Item = &'a str> + 'a {
    headers
        .iter()
        .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn bounded(mut ids: Vec<MessageId>) -> Vec<MessageId> {
    if ids.len() > MAX_IDS {
        let tail = ids.split_off(ids.len() - (MAX_IDS - 1));
        ids.truncate(1);
        ids.extend(tail);
    }
    ids
}

fn bounded_subject(mut subject: String) -> String {
    let mut chars = subject.char_indices();
    if let Some((cut, _)) = chars.nth(MAX_SUBJECT - 1)
        && chars.next().is_some()
    {
        subject.truncate(cut);
        subject.push('…');
    }
    subject
}

fn ids_of(value: &HeaderValue<'_>) -> Vec<MessageId> {
    match value {
        HeaderValue::Text(t) => t.split_whitespace().filter_map(MessageId::new).collect(),
        HeaderValue::TextList(list) => list.iter().filter_map(|t| MessageId::new(t)).collect(),
        _ => Vec::new(),
    }
}

fn addresses(addr: Option<&Address<'_>>) -> Vec<String> {
    addr.map(|a| {
        a.iter()
            .filter_map(|x| x.address.as_deref())
            .map(normalize_address)
            .collect()
    })
    .unwrap_or_default()
}

/// Message-ID lines found in text (the headers of a message embedded in a bounce).
fn ids_in_header_text(text: &str) -> Vec<MessageId> {
    let mut ids = Vec::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if !name.trim().eq_ignore_ascii_case("message-id") {
            continue;
        }
        // Folded: the id may come on the lines after the name (RFC 5322 §2.2.3).
        let mut value = value.to_string();
        while let Some(more) = lines.next_if(|l| l.starts_with([' ', '\t'])) {
            value.push(' ');
            value.push_str(more.trim());
        }
        ids.extend(MessageId::new(&value));
    }
    ids
}

fn parse_inner(raw: &[u8]) -> Option<Mail> {
    let msg = MessageParser::default().parse(raw)?;
    if !is_mail(&msg) {
        return None;
    }
    let headers = header_fields(&msg);

    let (message_id, synthesized) = match msg.message_id().and_then(MessageId::new) {
        Some(id) => (id, false),
        None => (synthesized_id(raw), true),
    };
    let (from, from_headers, from_mailboxes) = sender(&msg);
    let delivered_to = delivered_to(&headers);
    let date = msg
        .date()
        .and_then(|d| Utc.timestamp_opt(d.to_timestamp(), 0).single());
    let content_type = msg
        .root_part()
        .content_type()
        .map(|ct| match ct.subtype() {
            Some(sub) => format!("{}/{}", ct.ctype(), sub),
            None => ct.ctype().to_string(),
        })
        .unwrap_or_else(|| "text/plain".into())
        .to_ascii_lowercase();

    let (text, text_from_html) = body_text(&msg);
    let embedded_ids = embedded_ids(&msg);
    let undeliverable = reports_failure(&msg);
    let attachments = attachments(&msg);

    Some(Mail {
        message_id,
        message_id_synthesized: synthesized,
        from,
        from_headers,
        from_mailboxes,
        to: addresses(msg.to()),
        cc: addresses(msg.cc()),
        delivered_to,
        // One line: the subject becomes the case's title, in mail and on terminals.
        subject: bounded_subject(crate::sanitize::inert_subject(crate::sanitize::one_line(
            msg.subject().unwrap_or(""),
        ))),
        date,
        in_reply_to: bounded(ids_of(msg.in_reply_to())),
        references: bounded(ids_of(msg.references())),
        embedded_ids: bounded(embedded_ids),
        undeliverable,
        headers,
        content_type,
        text,
        text_from_html,
        more_parts: msg.text_body_count() > 1 || msg.html_body_count() > 1,
        attachments,
        raw: std::sync::Arc::default(),
    })
}

/// Whether the parsed bytes are a mail at all: headers, a part, and one of From,
/// Subject, Date or Message-ID.
fn is_mail(msg: &Message<'_>) -> bool {
    // A message with no headers at all is not mail; the accessors below also assume
    // at least one part, which mail-parser only guarantees for real messages.
    if msg.parts.is_empty() || msg.headers().is_empty() {
        return false;
    }
    // Bytes with no From, Subject, Date or Message-ID are not a mail we can file sensibly.
    let core = ["from", "subject", "date", "message-id"];
    if !msg
        .headers_raw()
        .any(|(n, _)| core.iter().any(|c| n.eq_ignore_ascii_case(c)))
    {
        return false;
    }
    true
}

/// The first `From:` mailbox, how many `From:` headers the mail has, and how many
/// mailboxes they name together.
fn sender(msg: &Message<'_>) -> (Option<Mailbox>, usize, usize) {
    let from_fields: Vec<&mail_parser::Header<'_>> = msg
        .headers()
        .iter()
        .filter(|h| h.name == mail_parser::HeaderName::From)
        .collect();
    let from_headers = from_fields.len();
    let from_mailboxes = from_fields
        .iter()
        .map(|h| h.value.as_address().map_or(0, |a| a.iter().count()))
        .sum();
    let first_from = from_fields.first().and_then(|h| h.value.as_address());
    let from = first_from.and_then(|a| a.first()).and_then(|a| {
        a.address.as_deref().map(|addr| Mailbox {
            name: a
                .name
                .as_deref()
                .map(crate::sanitize::one_line)
                .filter(|n| !n.is_empty()),
            address: normalize_address(addr),
        })
    });
    (from, from_headers, from_mailboxes)
}

/// The addresses the receiving servers say the mail was delivered to.
fn delivered_to(headers: &[(String, String)]) -> Vec<String> {
    headers
        .iter()
        .filter(|(n, _)| {
            n.eq_ignore_ascii_case("delivered-to") || n.eq_ignore_ascii_case("x-original-to")
        })
        .map(|(_, v)| normalize_address(v))
        .collect()
}

/// The mail's text, and whether it was made from its HTML part.
fn body_text(msg: &Message<'_>) -> (String, bool) {
    let mut text_from_html = false;
    // mail-parser offers an HTML part as "text" when there is no text/plain one, with a
    // conversion that glues block elements together (`<div>#a</div><div>#b</div>` becomes
    // `#a#b`, losing command lines). Only a real text/plain part is taken as text.
    let plain = msg.text_part(0).is_some_and(|p| !p.is_text_html());
    // Flowed text (RFC 3676) comes back as it was typed: a command line cut at 72
    // columns is one line again.
    let flowed = msg
        .text_part(0)
        .and_then(|p| flowed::flowed(p.content_type()));
    let text = match msg.body_text(0) {
        Some(t) if plain && !t.trim().is_empty() => match flowed {
            Some(delsp) => flowed::unflow(&t, delsp),
            None => t.into_owned(),
        },
        _ => match msg.body_html(0) {
            Some(h) => {
                text_from_html = true;
                html::html_to_text(&h)
            }
            None => String::new(),
        },
    };
    (text, text_from_html)
}

/// Ids of embedded messages: message/rfc822 parts, and text/rfc822-headers parts of
/// delivery reports, so a bounce of our own mail threads onto its case.
fn embedded_ids(msg: &Message<'_>) -> Vec<MessageId> {
    let mut embedded_ids = Vec::new();
    for part in &msg.parts {
        match &part.body {
            PartType::Message(inner) => {
                if let Some(id) = inner.message_id().and_then(MessageId::new) {
                    embedded_ids.push(id);
                }
            }
            _ => {
                let is_headers = part
                    .content_type()
                    .map(|ct| {
                        // RFC 6533's for mail sent with SMTPUTF8, too.
                        ct.subtype().is_some_and(|s| {
                            s.eq_ignore_ascii_case("rfc822-headers")
                                || s.eq_ignore_ascii_case("global-headers")
                        })
                    })
                    .unwrap_or(false);
                if is_headers {
                    embedded_ids.extend(ids_in_header_text(&String::from_utf8_lossy(
                        part.contents(),
                    )));
                }
            }
        }
    }
    embedded_ids
}

/// Whether a `message/delivery-status` part (or RFC 6533's `global-delivery-status`)
/// says `Action: failed` for a recipient.
fn reports_failure(msg: &Message<'_>) -> bool {
    msg.parts.iter().any(|part| {
        let status = part.content_type().is_some_and(|ct| {
            ct.subtype().is_some_and(|s| {
                s.eq_ignore_ascii_case("delivery-status")
                    || s.eq_ignore_ascii_case("global-delivery-status")
            })
        });
        status
            && part.contents().split(|b| *b == b'\n').any(|line| {
                let line = String::from_utf8_lossy(line);
                let mut field = line.splitn(2, ':');
                field
                    .next()
                    .is_some_and(|n| n.trim().eq_ignore_ascii_case("action"))
                    && field
                        .next()
                        .is_some_and(|v| v.trim().to_ascii_lowercase().starts_with("failed"))
            })
    })
}

/// Each attachment's name, MIME type and size in bytes.
fn attachments(msg: &Message<'_>) -> Vec<(String, String, usize)> {
    msg.attachments()
        .map(|a| {
            let ct = a
                .content_type()
                .map(|ct| match ct.subtype() {
                    Some(sub) => format!("{}/{}", ct.ctype(), sub),
                    None => ct.ctype().to_string(),
                })
                .unwrap_or_else(|| "application/octet-stream".into());
            (
                a.attachment_name().unwrap_or("(unnamed)").to_string(),
                ct,
                a.contents().len(),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bounce in RFC 6533's form (Postfix writes it for mail sent with SMTPUTF8, to a
    /// reporter whose address is not ASCII): its report says the mail failed, and its
    /// returned headers name the mail. It was neither, so the team heard nothing, and one
    /// returning headers only opened a case in the spam state.
    #[test]
    fn an_internationalized_bounce_is_read_as_one() {
        let raw = "From: MAILER-DAEMON@mx.example.org\r\nTo: security@example.org\r\n\
                   Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <b1@mx>\r\n\
                   MIME-Version: 1.0\r\n\
                   Content-Type: multipart/report; report-type=global-delivery-status; boundary=\"b\"\r\n\r\n\
                   --b\r\nContent-Type: text/plain\r\n\r\nIt could not be delivered.\r\n\
                   --b\r\nContent-Type: message/global-delivery-status\r\n\r\n\
                   Reporting-MTA: dns; mx.example.org\r\n\r\nFinal-Recipient: utf-8; jos\u{e9}@example.net\r\n\
                   Action: failed\r\nStatus: 5.1.1\r\n\
                   --b\r\nContent-Type: message/global-headers\r\n\r\n\
                   From: security@example.org\r\nMessage-ID:\r\n <ack1@example.org>\r\n\
                   Subject: Re: bug\r\n--b--\r\n";
        let Parsed::Mail(m) = parse(raw.as_bytes()) else {
            panic!("not parsed")
        };
        assert!(m.undeliverable);
        assert_eq!(
            m.embedded_ids
                .iter()
                .map(|i| i.as_str())
                .collect::<Vec<_>>(),
            vec!["ack1@example.org"]
        );
    }

    /// The delivery addresses of a mail not parsed: in `Config::route`'s order, folded
    /// lines followed, names and brackets dropped; nothing past the header block.
    #[test]
    fn delivery_addresses_are_read_from_the_raw_header() {
        let raw = b"To: \"Sec\" <security+cohttp@example.org>,\r\n other@x.test\r\nX-Other: a@b.test\r\n to@not.this\r\nDelivered-To: security+dune@example.org\r\nSubject: x\r\n\r\nTo: body@x.test\r\n";
        assert_eq!(
            delivery_addresses(raw),
            vec![
                "security+dune@example.org",
                "security+cohttp@example.org",
                "other@x.test"
            ]
        );
    }

    /// Reports written in the charsets of Chinese, Japanese and Korean mail clients
    /// (Foxmail's gb2312, ISO-2022-JP, Shift_JIS, EUC-KR, Big5) are read as written:
    /// the parser was built without their decoders, and the team read `�` or escapes.
    #[test]
    fn east_asian_charsets_are_decoded() {
        for (charset, hex, subject_b64, text) in [
            (
                "gb2312",
                "b6d1d2e7b3f6c2a9b6b4b1a8b8e6",
                "ttHS57P2wqm2tLGouOY=",
                "堆溢出漏洞报告",
            ),
            (
                "iso-2022-jp",
                "1b244240483c65402d244e4a7339701b2842",
                "GyRCQEg8ZUAtJE5KczlwGyhC",
                "脆弱性の報告",
            ),
            (
                "shift_jis",
                "90c68ee390ab82cc95f18d90",
                "kMaO45CrgsyV8Y2Q",
                "脆弱性の報告",
            ),
            (
                "euc-kr",
                "c3ebbee0c1a120bab8b0ed",
                "w+u+4MGhILq4sO0=",
                "취약점 보고",
            ),
            ("big5", "ba7cac7db3f8a769", "unysfbP4p2k=", "漏洞報告"),
        ] {
            let body: Vec<u8> = (0..hex.len() / 2)
                .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
                .collect();
            let mut raw = format!(
                "From: r@x.test\r\nSubject: =?{charset}?B?{subject_b64}?=\r\nMessage-ID: <m@x.test>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset={charset}\r\n\r\n"
            )
            .into_bytes();
            raw.extend_from_slice(&body);
            raw.extend_from_slice(b"\r\n");
            let Parsed::Mail(m) = parse(&raw) else {
                panic!("{charset}: unreadable")
            };
            assert_eq!(m.subject, text, "{charset}");
            assert!(m.text.contains(text), "{charset}: {}", m.text);
        }
    }

    #[test]
    fn what_one_mail_carries_is_bounded() {
        // Under `shape::MAX_FIELD` (a longer field is not parsed at all).
        let refs: Vec<String> = (0..2000).map(|k| format!("<r{k}@x.test>")).collect();
        let filler: String = (0..5000).map(|k| format!("X-F{k}: v\r\n")).collect();
        let raw = format!(
            "From: a@x.test\r\nFrom: b@y.test\r\nSubject: s\r\nMessage-ID: <m@x.test>\r\nReferences: {}\r\n{filler}\r\nbody\r\n",
            refs.join(" ")
        );
        let Parsed::Mail(m) = parse(raw.as_bytes()) else {
            panic!("unreadable")
        };
        assert_eq!(m.references.len(), MAX_IDS);
        assert_eq!(m.references[0].as_str(), "r0@x.test");
        assert_eq!(m.references[MAX_IDS - 1].as_str(), "r1999@x.test");
        assert_eq!(m.headers.len(), MAX_HEADERS + MAX_LAST_HEADERS);
        assert_eq!(
            m.headers[MAX_HEADERS].0, "X-F4950",
            "the last ones are kept"
        );
        assert_eq!(m.from_address(), "a@x.test", "the first From");
        assert_eq!(m.from_headers, 2);

        // A subject of 20,000 characters (folded, as a server lets through; a longer
        // one is not parsed at all) becomes a title of MAX_SUBJECT characters: it is
        // written into every event and mail of its case.
        let folded = vec!["éé word"; 2_800].join("\r\n ");
        let raw = format!("From: a@x.test\r\nSubject: {folded}\r\n\r\nbody\r\n");
        let Parsed::Mail(m) = parse(raw.as_bytes()) else {
            panic!("unreadable")
        };
        assert_eq!(m.subject.chars().count(), MAX_SUBJECT);
        assert!(m.subject.starts_with("éé") && m.subject.ends_with('…'));
        // A subject of exactly MAX_SUBJECT characters is kept whole.
        let exact = "x".repeat(MAX_SUBJECT);
        let raw = format!("From: a@x.test\r\nSubject: {exact}\r\n\r\nbody\r\n");
        let Parsed::Mail(m) = parse(raw.as_bytes()) else {
            panic!("unreadable")
        };
        assert_eq!(m.subject, exact);
    }

    fn spam_rules(filter: crate::config::SpamFilter) -> spam::Rules<'static> {
        spam::Rules {
            authserv_id: Some("mx.example.org"),
            filter,
            threshold: 5.0,
        }
    }

    /// `Authentication-Results :` passes the servers' rule that strips incoming copies
    /// of their stamp (`^Authentication-Results:`), and the parser reads the name
    /// through the space: a forged `dkim=pass` so written made the sender a team member
    /// and cleared the server's `spf=fail`. A careless sender's `Auto-Submitted :`
    /// still counts.
    #[test]
    fn a_stamp_written_otherwise_than_servers_write_it_is_not_trusted() {
        let raw = b"Authentication-Results: mx.example.org; spf=fail smtp.mailfrom=example.org
Authentication-Results : mx.example.org; dkim=pass header.d=example.org; dmarc=pass header.from=example.org
Auto-Submitted : auto-replied
From: alice@example.org
Subject: s
Message-ID: <m@x.test>

#close
";
        let Parsed::Mail(m) = parse(raw) else {
            panic!("unreadable")
        };
        let verdict = auth::evaluate_mail(&m, "mx.example.org", "alice@example.org");
        assert!(
            matches!(verdict, auth::AuthVerdict::Fail { .. }),
            "{verdict}"
        );
        let rules = spam_rules(crate::config::SpamFilter::None);
        let judged = spam::judge(&m.headers, m.from_address(), &rules);
        assert!(judged.is_suspect(), "{judged:?}");
        assert_eq!(m.header("Auto-Submitted"), Some("auto-replied"));
        assert_eq!(m.header("Subject"), Some("s"));
    }

    /// spamass-milter adds its verdict at the end of the header block: below a
    /// thousand header lines of the sender's, it was cut, and the spam acknowledged.
    #[test]
    fn a_filters_verdict_below_a_thousand_header_lines_is_read() {
        let filler: String = (0..1100).map(|k| format!("X-Pad-{k}: x\r\n")).collect();
        let raw = format!(
            "From: a@x.test\r\nSubject: s\r\nMessage-ID: <m@x.test>\r\n{filler}X-Spam-Flag: YES\r\nX-Spam-Status: Yes, score=12.0\r\n\r\nbody\r\n"
        );
        let Parsed::Mail(m) = parse(raw.as_bytes()) else {
            panic!("unreadable")
        };
        let rules = spam_rules(crate::config::SpamFilter::SpamAssassin);
        let judged = spam::judge(&m.headers, m.from_address(), &rules);
        assert!(judged.is_suspect(), "{judged:?}");
    }

    /// A subject whose decoded text is itself an encoded word keeps it as text: the
    /// desk's own mail never carries a `=?…?=` a client would decode into a
    /// right-to-left override. (The team's client decoded it.)
    #[test]
    fn a_subject_that_decodes_to_an_encoded_word_stays_text() {
        // "=?utf-8?q?=E2=80=AEexe.gnp?=", base64-encoded once more.
        let raw = b"From: a@x.test\r\nSubject: =?utf-8?b?PT91dGYtOD9xPz1FMj04MD1BRWV4ZS5nbnA/PQ==?=\r\n\r\nbody\r\n";
        let Parsed::Mail(m) = parse(raw) else {
            panic!("unreadable")
        };
        assert_eq!(m.subject, "= ?utf-8?q?=E2=80=AEexe.gnp?=");
    }

    /// The Message-ID read without the parser: folded, in any case, or made from the
    /// bytes when there is none in the top header block.
    #[test]
    fn the_message_id_is_read_without_the_parser() {
        let raw = b"From: a@x.test\r\nMESSAGE-ID:\r\n  <folded@x.test> (comment)\r\nSubject: s\r\n\r\nbody\r\n";
        assert_eq!(message_id_of(raw).as_str(), "folded@x.test");
        let none = b"From: a@x.test\r\n\r\nMessage-ID: <in-the-body@x.test>\r\n";
        assert_eq!(message_id_of(none), synthesized_id(none));
        let broken = b"Message-ID: <no end\r\n\r\n";
        assert_eq!(message_id_of(broken), synthesized_id(broken));
    }

    #[test]
    fn the_date_from_the_headers_alone_is_the_parsed_mails() {
        let body = "A line of the report.\r\n".repeat(10_000);
        for raw in [
            format!(
                "From: a@x.test\r\nDate: Mon, 23 Nov 2026 10:00:00 +0100\r\nSubject: s\r\n\r\n{body}"
            ),
            format!(
                "Date: Tue, 1 Dec 2026 23:59:59 -0800\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\n{body}"
            ),
            "From: a@x.test\r\nSubject: no date\r\n\r\nbody\r\n".to_string(),
            "From: a@x.test\r\nDate: yesterday\r\n\r\nbody\r\n".to_string(),
        ] {
            let Parsed::Mail(m) = parse(raw.as_bytes()) else {
                panic!("unreadable: {raw:.80}")
            };
            assert_eq!(date_of(raw.as_bytes()), m.date, "{raw:.80}");
        }
        assert_eq!(
            date_of(b"Date: Mon, 23 Nov 2026 10:00:00 +0100\r\n\r\n"),
            Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).single()
        );
        assert_eq!(date_of(b""), None);
        assert_eq!(date_of(b"\xff\xfe garbage"), None);
    }

    /// A header field the parser decodes in quadratic time (see `shape`) is not read for
    /// its date either: the import read it inside its write transaction, the daemon to
    /// order a team member's mail, seconds a mail.
    #[test]
    fn the_date_of_a_mail_too_costly_to_parse_is_not_read() {
        let mut subject = String::new();
        while subject.len() < 2 * shape::MAX_FIELD {
            subject.push_str("=?AB?Q?x");
        }
        let raw = format!(
            "Date: Mon, 23 Nov 2026 10:00:00 +0100\r\nFrom: a@b.test\r\nSubject: {subject}\r\n\r\nx\r\n"
        );
        assert!(shape::refusal(raw.as_bytes()).is_some());
        assert_eq!(date_of(raw.as_bytes()), None);
    }
}
