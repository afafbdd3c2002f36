//! Who wrote a mail, as far as the desk's behaviour is concerned: the desk itself,
//! a machine (RFC 3834 signs of automatic mail), a team member, or anyone else.
//!
//! Invariant: pure and total. Automatic mail is recognised before team membership, so a
//! team member's vacation responder is never taken for a team message, and nothing
//! classified `Automatic` or `Desk` is ever answered automatically.

use crate::mail::Mail;
use crate::types::normalize_address;

/// Header we put on every mail we send; seeing our own address in it means a loop.
pub const LOOP_HEADER: &str = "X-Secdesk-Loop";

/// Why a mail counts as automatic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AutoReason {
    AutoSubmitted(String),
    Precedence(String),
    ListId,
    AutoResponseSuppress,
    /// `X-Autoreply` or `X-Autorespond`: an auto-responder's answer.
    AutoReplyHeader(String),
    EmptyReturnPath,
    SystemSender(String),
    DeliveryReport,
}

impl AutoReason {
    /// Plain words for the case timeline.
    pub fn describe(&self) -> String {
        match self {
            AutoReason::AutoSubmitted(v) => format!("Auto-Submitted: {v}"),
            AutoReason::Precedence(v) => format!("Precedence: {v}"),
            AutoReason::ListId => "a mailing-list message (List-Id)".into(),
            AutoReason::AutoResponseSuppress => "X-Auto-Response-Suppress is set".into(),
            AutoReason::AutoReplyHeader(h) => format!("an auto-responder's answer ({h})"),
            AutoReason::EmptyReturnPath => "an empty Return-Path (a bounce)".into(),
            AutoReason::SystemSender(s) => format!("sent by {s}"),
            AutoReason::DeliveryReport => "a delivery report (multipart/report)".into(),
        }
    }
}

/// The kind of sender, which decides what the desk may do in answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sender {
    /// Our own mail came back (our address in From, or our loop header).
    Desk,
    /// A machine wrote it: store it, never answer it.
    Automatic(AutoReason),
    /// A configured team member (by From address).
    Team(String),
    /// Anyone else: reporters, upstream maintainers.
    Other(String),
}

/// Classifies a mail. `desk_address` and `team` are lower-cased addresses.
pub fn classify(mail: &Mail, desk_address: &str, team: &[String]) -> Sender {
    let from = mail.from_address();
    let desk_local = desk_address.split('@').next().unwrap_or("");
    let desk_domain = desk_address.rsplit('@').next().unwrap_or("");
    let from_is_desk = from == desk_address
        || from
            .split_once('@')
            .is_some_and(|(l, d)| d == desk_domain && l.split('+').next() == Some(desk_local));
    if from_is_desk
        || mail
            .header_values(LOOP_HEADER)
            .any(|v| normalize_address(v) == desk_address)
    {
        return Sender::Desk;
    }
    if let Some(reason) = automatic_reason(mail) {
        return Sender::Automatic(reason);
    }
    if team.iter().any(|m| m == from) {
        return Sender::Team(from.to_string());
    }
    Sender::Other(from.to_string())
}

/// The RFC 3834 (and common practice) signs that a machine sent this mail.
pub fn automatic_reason(mail: &Mail) -> Option<AutoReason> {
    if let Some(v) = mail.header("Auto-Submitted") {
        let token = v
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if !token.is_empty() && token != "no" {
            return Some(AutoReason::AutoSubmitted(token));
        }
    }
    if let Some(v) = mail.header("Precedence") {
        let v = v.to_ascii_lowercase();
        if matches!(v.as_str(), "bulk" | "junk" | "list" | "auto_reply") {
            return Some(AutoReason::Precedence(v));
        }
    }
    if mail.header("List-Id").is_some() {
        return Some(AutoReason::ListId);
    }
    if mail.header("X-Auto-Response-Suppress").is_some() {
        return Some(AutoReason::AutoResponseSuppress);
    }
    // The marks auto-responders put on their answers besides RFC 3834's.
    for name in ["X-Autoreply", "X-Autorespond"] {
        if mail.header(name).is_some() {
            return Some(AutoReason::AutoReplyHeader(name.to_string()));
        }
    }
    if let Some(rp) = mail.header("Return-Path") {
        let rp = rp
            .trim()
            .trim_start_matches('<')
            .trim_end_matches('>')
            .trim();
        if rp.is_empty() {
            return Some(AutoReason::EmptyReturnPath);
        }
    }
    let from = mail.from_address();
    let local = from.split('@').next().unwrap_or("");
    if from.is_empty() {
        return Some(AutoReason::SystemSender("nobody (no From address)".into()));
    }
    if local.eq_ignore_ascii_case("mailer-daemon") || local.eq_ignore_ascii_case("postmaster") {
        return Some(AutoReason::SystemSender(from.to_string()));
    }
    if mail.content_type == "multipart/report" {
        return Some(AutoReason::DeliveryReport);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mail::{Parsed, parse};

    fn mail(extra_headers: &str, from: &str) -> Mail {
        let raw = format!(
            "From: {from}\r\nTo: security@example.org\r\nSubject: hi\r\nMessage-ID: <m1@x>\r\n{extra_headers}\r\nbody\r\n"
        );
        match parse(raw.as_bytes()) {
            Parsed::Mail(m) => *m,
            Parsed::Unreadable { reason, .. } => panic!("{reason}"),
        }
    }

    fn check(extra: &str, from: &str, expected: Sender) {
        let team = vec!["alice@example.org".to_string()];
        let got = classify(&mail(extra, from), "security@example.org", &team);
        assert_eq!(got, expected, "headers {extra:?} from {from:?}");
    }

    /// A member at an international domain is the member, whichever form the mail's From
    /// writes it in. (The punycode form was an outsider's.)
    #[test]
    fn a_member_at_an_international_domain_is_the_member_in_either_form() {
        let member = crate::types::normalize_address("alice@bücher.example");
        let team = vec![member.clone()];
        for from in [
            "alice@xn--bcher-kva.example",
            "Alice <alice@bücher.example>",
        ] {
            let got = classify(&mail("", from), "security@example.org", &team);
            assert_eq!(got, Sender::Team(member.clone()), "{from}");
        }
    }

    /// A header holding 8-bit bytes that are not UTF-8 (a list's name in Latin-1) is
    /// read all the same: dropped, it hid the list and the desk acknowledged its post.
    #[test]
    fn a_header_in_latin_1_is_read() {
        let raw = b"From: a@x.test\r\nSubject: s\r\nMessage-ID: <m@x>\r\nList-Id: Liste f\xfcr Entwickler <dev.lists.example.org>\r\n\r\nbody\r\n";
        let m = match parse(raw) {
            Parsed::Mail(m) => *m,
            Parsed::Unreadable { reason, .. } => panic!("{reason}"),
        };
        assert_eq!(automatic_reason(&m), Some(AutoReason::ListId));
    }

    #[test]
    fn classification_table() {
        let other = |a: &str| Sender::Other(a.to_string());
        let auto = Sender::Automatic;
        check("", "Rita <rita@example.com>", other("rita@example.com"));
        check(
            "Auto-Submitted: no\r\n",
            "rita@example.com",
            other("rita@example.com"),
        );
        check(
            "",
            "alice@example.org",
            Sender::Team("alice@example.org".into()),
        );
        check(
            "",
            "ALICE@Example.org",
            Sender::Team("alice@example.org".into()),
        );
        // A quoted local part that needs no quotes is the same mailbox (RFC 5321).
        check("", "<\"security\"@example.org>", Sender::Desk);
        check(
            "",
            "<\"Alice\"@example.org>",
            Sender::Team("alice@example.org".into()),
        );
        check(
            "",
            "<\"MAILER-DAEMON\"@mx.example.com>",
            auto(AutoReason::SystemSender(
                "mailer-daemon@mx.example.com".into(),
            )),
        );
        check(
            "",
            "<\"alice@example.org\"@evil.test>",
            other("\"alice@example.org\"@evil.test"),
        );
        check(
            "Auto-Submitted: auto-replied\r\n",
            "alice@example.org",
            auto(AutoReason::AutoSubmitted("auto-replied".into())),
        );
        check(
            "Auto-Submitted: Auto-Generated; owner=x\r\n",
            "rita@example.com",
            auto(AutoReason::AutoSubmitted("auto-generated".into())),
        );
        check(
            "Precedence: bulk\r\n",
            "rita@example.com",
            auto(AutoReason::Precedence("bulk".into())),
        );
        check(
            "Precedence: List\r\n",
            "rita@example.com",
            auto(AutoReason::Precedence("list".into())),
        );
        // The auto-responders' own marks (vacation programs, cPanel, Zimbra, some
        // Exchange setups): an out-of-office answer to an announcement was filed as a
        // new report, acknowledged, and given deadlines.
        check(
            "Precedence: auto_reply\r\n",
            "rita@example.com",
            auto(AutoReason::Precedence("auto_reply".into())),
        );
        for header in ["X-Autoreply: yes\r\n", "X-Autorespond: Out of office\r\n"] {
            check(
                header,
                "rita@example.com",
                auto(AutoReason::AutoReplyHeader(
                    header.split(':').next().unwrap().into(),
                )),
            );
        }
        check(
            "Precedence: first-class\r\n",
            "rita@example.com",
            other("rita@example.com"),
        );
        check(
            "List-Id: <dev.lists.example.com>\r\n",
            "rita@example.com",
            auto(AutoReason::ListId),
        );
        check(
            "X-Auto-Response-Suppress: All\r\n",
            "rita@example.com",
            auto(AutoReason::AutoResponseSuppress),
        );
        check(
            "Return-Path: <>\r\n",
            "rita@example.com",
            auto(AutoReason::EmptyReturnPath),
        );
        check(
            "Return-Path: <rita@example.com>\r\n",
            "rita@example.com",
            other("rita@example.com"),
        );
        check(
            "",
            "MAILER-DAEMON@mx.example.com",
            auto(AutoReason::SystemSender(
                "mailer-daemon@mx.example.com".into(),
            )),
        );
        check(
            "",
            "postmaster@example.com",
            auto(AutoReason::SystemSender("postmaster@example.com".into())),
        );
        check(
            "Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n",
            "rita@example.com",
            auto(AutoReason::DeliveryReport),
        );
        check("", "security@example.org", Sender::Desk);
        check("", "security+sec-2026-0001@example.org", Sender::Desk);
        check(
            "X-Secdesk-Loop: security@example.org\r\n",
            "rita@example.com",
            Sender::Desk,
        );
        check(
            "X-Secdesk-Loop: other@example.net\r\n",
            "rita@example.com",
            other("rita@example.com"),
        );
    }
}
