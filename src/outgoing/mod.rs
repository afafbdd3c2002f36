//! Mail the desk sends: the structured form the desk logic produces, and its rendering
//! into RFC 5322 bytes for the outbox.
//!
//! Invariant: every mail leaves with a Message-ID of our own domain, our loop header, and
//! an `Auto-Submitted` value saying whether a robot or a person's command caused it
//! (RFC 3834). The bytes are fixed when the row is queued, so a retry resends the very
//! same message (same Message-ID) and the recipient's side can deduplicate.

pub mod templates;

use crate::mail::classify::LOOP_HEADER;
use crate::outgoing::templates::Rendered;
use crate::types::{CaseId, MessageId};
use chrono::{DateTime, Utc};
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};

/// Why a mail is sent; also decides its `Auto-Submitted` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// The acknowledgement to a reporter.
    Ack,
    /// A new case, or new mail on a case, told to the team.
    TeamNotice,
    /// The answer to a team message that carried commands.
    Transcript,
    /// A team member's `#reply` to the reporter.
    Reply,
    /// `#forward` to an upstream maintainer.
    Forward,
    Reminder,
    Digest,
    Announce,
    Preannounce,
    /// Publication told to the reporter.
    PublishedNotice,
}

impl Purpose {
    const NAMES: [(Purpose, &'static str); 10] = [
        (Purpose::Ack, "ack"),
        (Purpose::TeamNotice, "team-notice"),
        (Purpose::Transcript, "transcript"),
        (Purpose::Reply, "reply"),
        (Purpose::Forward, "forward"),
        (Purpose::Reminder, "reminder"),
        (Purpose::Digest, "digest"),
        (Purpose::Announce, "announce"),
        (Purpose::Preannounce, "preannounce"),
        (Purpose::PublishedNotice, "published-notice"),
    ];

    pub fn as_str(self) -> &'static str {
        Self::NAMES
            .iter()
            .find(|(p, _)| *p == self)
            .map(|(_, n)| *n)
            .unwrap_or("team-notice")
    }

    pub fn parse(text: &str) -> Option<Purpose> {
        Self::NAMES
            .iter()
            .find(|(_, n)| *n == text)
            .map(|(p, _)| *p)
    }

    /// RFC 3834: `auto-replied` for a robot's answer to a mail, `auto-generated` for mail
    /// a robot starts. Mail a person wrote through a command (`#reply`, `#forward`) is
    /// `no`, but still carries our loop header.
    pub fn auto_submitted(self) -> &'static str {
        match self {
            Purpose::Ack | Purpose::Transcript => "auto-replied",
            Purpose::Reply | Purpose::Forward => "no",
            Purpose::TeamNotice
            | Purpose::Reminder
            | Purpose::Digest
            | Purpose::Announce
            | Purpose::Preannounce
            | Purpose::PublishedNotice => "auto-generated",
        }
    }
}

/// A file attached to an outgoing mail.
#[derive(Debug, Clone, PartialEq)]
pub struct OutAttachment {
    pub filename: String,
    pub content_type: String,
    /// Shared, not copied, between the mail it came from and every recipient's copy.
    pub bytes: std::sync::Arc<Vec<u8>>,
}

/// A mail to send, before it has a Message-ID.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    pub purpose: Purpose,
    pub case: Option<CaseId>,
    /// Lower-cased addresses.
    pub to: Vec<String>,
    /// Where answers should go (the case's plus address).
    pub reply_to: Option<String>,
    pub subject: String,
    pub body: String,
    pub in_reply_to: Option<MessageId>,
    pub references: Vec<MessageId>,
    pub attachments: Vec<OutAttachment>,
}

impl Outgoing {
    /// A mail with the given words; set threading, `Reply-To` and attachments with the
    /// builder methods below.
    pub fn new(
        purpose: Purpose,
        case: Option<CaseId>,
        to: Vec<String>,
        words: Rendered,
    ) -> Outgoing {
        Outgoing {
            purpose,
            case,
            to,
            reply_to: None,
            subject: words.subject,
            body: words.body,
            in_reply_to: None,
            references: Vec::new(),
            attachments: Vec::new(),
        }
    }

    /// Where answers should go (the case's plus address, so they thread back).
    pub fn reply_to(mut self, address: String) -> Outgoing {
        self.reply_to = Some(address);
        self
    }

    /// Threads the mail under `parent`, with the whole `references` chain.
    pub fn threaded(
        mut self,
        (parent, references): (Option<MessageId>, Vec<MessageId>),
    ) -> Outgoing {
        self.in_reply_to = parent;
        self.references = references;
        self
    }

    pub fn attach(mut self, attachments: Vec<OutAttachment>) -> Outgoing {
        self.attachments = attachments;
        self
    }
}

/// A rendered mail, ready for the outbox.
#[derive(Debug, Clone)]
pub struct Composed {
    pub message_id: MessageId,
    pub envelope_from: String,
    pub recipients: Vec<String>,
    pub bytes: Vec<u8>,
}

/// Why a mail could not be rendered (a bad address in the config or a command).
#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    #[error("`{0}` is not a usable mail address")]
    Address(String),
    #[error("the mail could not be built: {0}")]
    Build(String),
}

fn mailbox(name: Option<&str>, address: &str) -> Result<Mailbox, ComposeError> {
    let addr = address
        .parse()
        .map_err(|_| ComposeError::Address(address.to_string()))?;
    Ok(Mailbox::new(name.map(str::to_string), addr))
}

fn raw_header(name: &'static str, value: String) -> HeaderValue {
    HeaderValue::new(HeaderName::new_from_ascii_str(name), value)
}

/// A new Message-ID: unique thanks to the instant, a per-call sequence number and the
/// process id (`pid`, given by the shell: two desks on one host never share one).
pub fn new_message_id(
    case: Option<&CaseId>,
    purpose: Purpose,
    now: DateTime<Utc>,
    seq: u64,
    pid: u32,
    host: &str,
) -> MessageId {
    let scope = case.map(CaseId::plus_tag).unwrap_or_else(|| "desk".into());
    let left = format!(
        "{scope}.{}.{}.{seq}.{}",
        purpose.as_str(),
        now.timestamp_millis(),
        pid
    );
    MessageId::from_parts(&left, host)
}

/// Whether `id` is one [`new_message_id`] made for `host`: our domain, and the
/// `scope.purpose.millis.seq.pid` shape on the left.
pub fn is_our_message_id(id: &MessageId, host: &str) -> bool {
    let Some((left, right)) = id.as_str().rsplit_once('@') else {
        return false;
    };
    let parts: Vec<&str> = left.rsplitn(5, '.').collect();
    let numeric = |s: &&str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
    right.eq_ignore_ascii_case(host)
        && parts.len() == 5
        && parts.iter().take(3).all(numeric)
        && parts.get(3).and_then(|p| Purpose::parse(p)).is_some()
}

/// `text` with every line ending (`\n`, `\r\n` or a lone `\r`) written as CRLF, in one
/// pass.
pub fn crlf(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 16 + 2);
    let mut rest = text;
    while let Some(i) = rest.find(['\r', '\n']) {
        let (line, tail) = rest.split_at(i);
        out.push_str(line);
        out.push_str("\r\n");
        rest = match tail.strip_prefix("\r\n") {
            Some(after) => after,
            None => tail.get(1..).unwrap_or(""),
        };
    }
    out.push_str(rest);
    out
}

/// Renders `out` into bytes, from the desk's address.
pub fn compose(
    out: &Outgoing,
    message_id: &MessageId,
    desk_address: &str,
    desk_name: &str,
    now: DateTime<Utc>,
) -> Result<Composed, ComposeError> {
    let mut builder = lettre::Message::builder()
        .from(mailbox(Some(desk_name), desk_address)?)
        .subject(out.subject.clone())
        .date(now.into())
        .message_id(Some(message_id.bracketed()));
    for to in &out.to {
        builder = builder.to(mailbox(None, to)?);
    }
    if let Some(rt) = &out.reply_to {
        builder = builder.reply_to(mailbox(Some(desk_name), rt)?);
    }
    if let Some(parent) = &out.in_reply_to {
        builder = builder.in_reply_to(parent.bracketed());
    }
    if !out.references.is_empty() {
        // lettre replaces rather than appends: all ids go in one header value.
        let refs: Vec<String> = out.references.iter().map(MessageId::bracketed).collect();
        builder = builder.references(refs.join(" "));
    }
    // lettre turns bare LFs into CRLF by inserting one `\r` at a time, each insert moving
    // the rest of the body: quadratic in the number of lines (a 4 MB report of short lines
    // took minutes). Given CRLF already, it has nothing to insert.
    let text = SinglePart::builder()
        .header(ContentType::TEXT_PLAIN)
        .body(crlf(&out.body));
    let message = if out.attachments.is_empty() {
        builder.singlepart(text)
    } else {
        let mut mixed = MultiPart::mixed().singlepart(text);
        for a in &out.attachments {
            let ct = ContentType::parse(&a.content_type).map_err(|e| {
                ComposeError::Build(format!("content type {}: {e}", a.content_type))
            })?;
            mixed =
                mixed.singlepart(Attachment::new(a.filename.clone()).body(a.bytes.to_vec(), ct));
        }
        builder.multipart(mixed)
    };
    let mut message = message.map_err(|e| ComposeError::Build(e.to_string()))?;
    let headers = message.headers_mut();
    headers.insert_raw(raw_header(
        "Auto-Submitted",
        out.purpose.auto_submitted().to_string(),
    ));
    headers.insert_raw(raw_header(LOOP_HEADER, desk_address.to_string()));
    if out.purpose.auto_submitted() != "no" {
        // Ask Exchange and friends not to answer our robots with their robots. A person's
        // words (`#reply`, `#forward`) go without these, which some filters punish.
        headers.insert_raw(raw_header("X-Auto-Response-Suppress", "All".to_string()));
        headers.insert_raw(raw_header("Precedence", "bulk".to_string()));
    }
    Ok(Composed {
        message_id: message_id.clone(),
        envelope_from: desk_address.to_string(),
        recipients: out.to.clone(),
        bytes: message.formatted(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn our_message_ids_are_recognised() {
        let now = Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap();
        let case = CaseId::parse("SEC-2026-0007").unwrap();
        let ours = new_message_id(Some(&case), Purpose::Ack, now, 3, 42, "example.org");
        assert!(is_our_message_id(&ours, "example.org"));
        assert!(!is_our_message_id(&ours, "example.com"));
        let digest = new_message_id(None, Purpose::Digest, now, 0, 42, "example.org");
        assert!(is_our_message_id(&digest, "example.org"));
        for other in [
            "a1@example.org",
            "x.y.1.2.3@example.org",
            "CAF=x@mail.gmail.com",
        ] {
            assert!(
                !is_our_message_id(&MessageId::new(other).unwrap(), "example.org"),
                "{other}"
            );
        }
    }

    #[test]
    fn crlf_writes_every_line_ending_once() {
        for (text, expected) in [
            ("", ""),
            ("a", "a"),
            ("a\nb", "a\r\nb"),
            ("a\r\nb\r\n", "a\r\nb\r\n"),
            ("a\rb\n\n", "a\r\nb\r\n\r\n"),
            ("\n\r\n\r", "\r\n\r\n\r\n"),
            ("é\nü", "é\r\nü"),
        ] {
            assert_eq!(crlf(text), expected, "{text:?}");
        }
    }

    /// Regression: lettre fixed bare LFs one insert at a time, quadratic in the number of
    /// lines. With 1.5 million lines (3 MB) that was many minutes of `memmove`; composing
    /// is now one pass and this test takes well under a second in a release build. No
    /// timing is asserted: a quadratic composer makes this test hang, not fail.
    #[test]
    fn composing_a_body_of_many_short_lines_is_linear() {
        let body = "a\n".repeat(1_500_000);
        let out = Outgoing {
            purpose: Purpose::TeamNotice,
            case: None,
            to: vec!["alice@example.org".into()],
            reply_to: None,
            subject: "big".into(),
            body,
            in_reply_to: None,
            references: Vec::new(),
            attachments: Vec::new(),
        };
        let now = Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap();
        let id = new_message_id(None, Purpose::TeamNotice, now, 1, 42, "example.org");
        let c = compose(&out, &id, "security@example.org", "Desk", now).unwrap();
        let text = String::from_utf8(c.bytes).unwrap();
        assert_eq!(text.matches("a\r\n").count(), 1_500_000);
        assert!(!text.replace("\r\n", "").contains('\n'));
    }
}
