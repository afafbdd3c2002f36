//! Property tests (proptest) for the pure core: parse → classify → thread never panic and
//! keep their promises on any input, and the command grammar reads back what it is given.

use proptest::prelude::*;
use secdesk::commands::{self, MAX_COMMANDS};
use secdesk::mail::classify::{Sender, classify};
use secdesk::mail::threading::{ThreadIndex, ThreadReason, find_case};
use secdesk::mail::{self, MAX_HEADERS, MAX_IDS, MAX_LAST_HEADERS, Parsed};
use secdesk::types::{CaseId, MessageId};
use std::collections::BTreeMap;

const DESK: &str = "security@example.org";

fn team() -> Vec<String> {
    vec!["alice@example.org".into(), "bob@example.org".into()]
}

/// A thread index in memory: ids of the pool `known0..known9` belong to case n.
struct Index(BTreeMap<String, CaseId>);

impl ThreadIndex for Index {
    type Error = std::convert::Infallible;
    fn case_of_any(&self, ids: &[MessageId]) -> Result<Option<CaseId>, Self::Error> {
        Ok(ids.iter().find_map(|i| self.0.get(i.as_str()).cloned()))
    }
    fn case_referencing(&self, _: &MessageId) -> Result<Option<CaseId>, Self::Error> {
        Ok(None)
    }
    fn case_exists(&self, id: &CaseId) -> Result<bool, Self::Error> {
        Ok(self.0.values().any(|c| c == id))
    }
}

fn index() -> Index {
    Index(
        (0..10)
            .map(|n| (format!("known{n}@x.test"), CaseId::new("SEC", 2026, n + 1)))
            .collect(),
    )
}

fn no_controls(s: &str) -> bool {
    !s.chars().any(char::is_control)
}

/// A header value: anything printable, encoded words (some decoding to CR/LF), or junk.
fn header_value() -> impl Strategy<Value = String> {
    prop_oneof![
        "[ -~]{0,60}",
        "=\\?utf-8\\?[bq]\\?[A-Za-z0-9+/=_]{0,40}\\?=",
        Just("=?utf-8?q?a=0D=0Ab?=".to_string()),
        Just("=?x-unknown?b?DQoNCg==?=".to_string()),
        any::<String>().prop_map(|s| s.replace(['\r', '\n'], " ")),
    ]
}

fn from_value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("alice@example.org".to_string()),
        Just("Alice <ALICE@example.org>".to_string()),
        Just(DESK.to_string()),
        Just("security+sec-2026-0001@example.org".to_string()),
        Just("rita@reporter.test".to_string()),
        Just("MAILER-DAEMON@x.test".to_string()),
        Just("".to_string()),
        header_value(),
    ]
}

fn id_ref() -> impl Strategy<Value = String> {
    prop_oneof![
        (0u32..10).prop_map(|n| format!("<known{n}@x.test>")),
        "<[a-z0-9.]{1,20}@[a-z]{1,10}\\.test>",
        "[ -~]{0,30}",
    ]
}

prop_compose! {
    fn a_mail()(
        froms in prop::collection::vec(from_value(), 0..3),
        subject in header_value(),
        id in prop::option::of("[a-z0-9]{1,20}"),
        in_reply_to in prop::option::of(id_ref()),
        references in prop::collection::vec(id_ref(), 0..6),
        auto in prop::option::of(prop_oneof![
            Just("Auto-Submitted: auto-replied"),
            Just("Precedence: bulk"),
            Just("List-Id: <x.lists.test>"),
            Just("Auto-Submitted: no"),
        ]),
        body in any::<String>(),
    ) -> (Vec<u8>, usize, bool) {
        let mut m = String::new();
        for f in &froms {
            m.push_str(&format!("From: {f}\r\n"));
        }
        m.push_str(&format!("To: {DESK}\r\nSubject: {subject}\r\n"));
        if let Some(id) = &id {
            m.push_str(&format!("Message-ID: <{id}@m.test>\r\n"));
        }
        if let Some(p) = &in_reply_to {
            m.push_str(&format!("In-Reply-To: {p}\r\n"));
        }
        if !references.is_empty() {
            m.push_str(&format!("References: {}\r\n", references.join(" ")));
        }
        if let Some(a) = auto {
            m.push_str(a);
            m.push_str("\r\n");
        }
        m.push_str("\r\n");
        m.push_str(&body);
        // In-Reply-To naming one known message (References may hold garbage that glues
        // ids together, which no threading can be asked to see through).
        let known = in_reply_to.as_deref().is_some_and(|r| r.starts_with("<known"));
        (m.into_bytes(), froms.len(), known)
    }
}

prop_compose! {
    /// A mail of up to 1,500 header lines and 250 referenced ids, then any bytes as its
    /// body; with how many header fields and ids it wrote.
    fn a_long_header()(
        subject in header_value(),
        fields in 0usize..1500,
        ids in 0usize..250,
        body in prop::collection::vec(any::<u8>(), 0..4096),
    ) -> (Vec<u8>, usize, usize) {
        let mut m = format!(
            "From: rita@reporter.test\r\nTo: {DESK}\r\nSubject: {subject}\r\n\
             Date: Mon, 30 Nov 2026 10:00:00 +0000\r\nMessage-ID: <long@m.test>\r\n"
        );
        let refs: Vec<String> = (0..ids).map(|i| format!("<ref{i}@m.test>")).collect();
        if ids > 0 {
            m.push_str(&format!("References: {}\r\n", refs.join(" ")));
        }
        for i in 0..fields {
            m.push_str(&format!("X-Filler-{i}: {i}\r\n"));
        }
        m.push_str("\r\n");
        let mut raw = m.into_bytes();
        raw.extend_from_slice(&body);
        // The fields written: those above, and the five (or six) before them.
        (raw, fields + 5 + usize::from(ids > 0), ids)
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// A mail's headers, then any bytes: it is read as a mail, and what it keeps is
    /// bounded and clean however many header lines and ids it carries.
    #[test]
    fn parse_is_total_and_bounded((raw, fields, ids) in a_long_header()) {
        let Parsed::Mail(m) = mail::parse(&raw) else {
            return Err(TestCaseError::fail(format!(
                "{fields} header lines and {ids} references were not read as a mail"
            )));
        };
        prop_assert!(no_controls(&m.subject));
        prop_assert_eq!(m.references.len(), ids.min(MAX_IDS));
        prop_assert!(m.headers.len() <= MAX_HEADERS + MAX_LAST_HEADERS);
        prop_assert!(m.headers.len() >= fields.min(MAX_HEADERS + MAX_LAST_HEADERS));
        let _ = classify(&m, DESK, &team());
        let _ = find_case(&m, DESK, "SEC", &index());
    }

    /// Any bytes at all: parsing answers, and never with a mail that has no sender.
    #[test]
    fn junk_is_never_a_mail_without_a_sender(raw in prop::collection::vec(any::<u8>(), 0..4096)) {
        if let Parsed::Mail(m) = mail::parse(&raw) {
            prop_assert!(no_controls(&m.subject));
            prop_assert!(m.references.len() <= MAX_IDS);
        }
    }

    /// Mail-shaped input: parse → classify → thread keep their promises.
    #[test]
    fn parse_classify_thread((raw, from_count, known) in a_mail()) {
        let first = mail::parse(&raw);
        let again = mail::parse(&raw);
        let (m, m2) = match (first, again) {
            (Parsed::Mail(a), Parsed::Mail(b)) => (a, b),
            (Parsed::Unreadable { id: a, .. }, Parsed::Unreadable { id: b, .. }) => {
                // Unreadable mail still gets a stable id.
                prop_assert_eq!(a, b);
                return Ok(());
            }
            _ => return Err(TestCaseError::fail("parsing is not deterministic")),
        };
        prop_assert_eq!(&m.message_id, &m2.message_id);
        prop_assert_eq!(m.from_headers, from_count);
        prop_assert!(no_controls(&m.subject));
        prop_assert!(m.from.as_ref().is_none_or(|f| f.name.as_deref().is_none_or(no_controls)));
        prop_assert_eq!(m.from_address(), m.from_address().to_ascii_lowercase());

        let sender = classify(&m, DESK, &team());
        match &sender {
            Sender::Team(a) => prop_assert!(team().contains(a)),
            Sender::Other(a) => prop_assert!(!team().contains(a) && a != DESK),
            Sender::Desk | Sender::Automatic(_) => {}
        }
        if m.from_address() == DESK {
            prop_assert_eq!(&sender, &Sender::Desk);
        }

        let found = find_case(&m, DESK, "SEC", &index());
        let Ok(found) = found;
        if known {
            // A mail pointing at a known message is on that message's case.
            prop_assert!(matches!(found, Some((_, ThreadReason::MessageChain))), "{found:?}");
        }
    }

    /// Any body: the grammar never panics, reads at most MAX_COMMANDS commands (plus one
    /// line saying the rest was ignored), in order, each one line.
    #[test]
    fn command_grammar_is_total_and_bounded(body in prop_oneof![
        any::<String>(),
        prop::collection::vec(prop_oneof![
            "#[a-z]{1,12}( [ -~]{0,20})?", "[ -~]{0,30}", Just(String::new()), Just("> #assign me".to_string())
        ], 0..300).prop_map(|l| l.join("\n")),
    ]) {
        let parsed = commands::parse_body(&body);
        prop_assert!(parsed.commands.len() <= MAX_COMMANDS + 1);
        let lines = body.split('\n').count() + body.matches('\r').count();
        let mut last = 0;
        for c in &parsed.commands {
            prop_assert!(c.line_no > last && c.line_no <= lines.max(1));
            last = c.line_no;
            prop_assert!(!c.text.contains(['\n', '\r']));
        }
    }

    /// Valid commands read back as themselves, in order, and the text after them is kept.
    #[test]
    fn valid_commands_read_back(
        cmds in prop::collection::vec(valid_command(), 1..20),
        text in "[a-z]{1,10}( [a-z]{1,10}){0,8}",
    ) {
        let body = format!(
            "{}\n\n{text}\n",
            cmds.iter().map(|(l, _)| l.as_str()).collect::<Vec<_>>().join("\n")
        );
        let parsed = commands::parse_body(&body);
        let got: Vec<&str> = parsed
            .commands
            .iter()
            .map(|c| c.parsed.as_ref().map(|p| p.keyword()).unwrap_or("(error)"))
            .collect();
        let want: Vec<&str> = cmds.iter().map(|(_, k)| *k).collect();
        prop_assert_eq!(got, want, "{}", body);
        prop_assert_eq!(parsed.text, text);
    }
}

fn valid_command() -> impl Strategy<Value = (String, &'static str)> {
    prop_oneof![
        Just(("#assign me".to_string(), "assign")),
        Just(("#unassign".to_string(), "unassign")),
        prop_oneof![Just("low"), Just("medium"), Just("HIGH"), Just("critical")]
            .prop_map(|s| (format!("#severity {s}"), "severity")),
        Just(("#valid".to_string(), "valid")),
        (1u32..2000).prop_map(|n| (format!("#cwe CWE-{n}"), "cwe")),
        "[a-z]{1,10}( [a-z]{1,10}){0,5}".prop_map(|s| (format!("#summary {s}"), "summary")),
        "[a-z][a-z0-9-]{0,15}".prop_map(|s| (format!("#package {s}"), "package")),
        (1u32..=3650).prop_map(|n| (format!("#embargo +{n}d"), "embargo")),
        Just(("#embargo none".to_string(), "embargo")),
        Just(("#credit anonymous".to_string(), "credit")),
        (1000u32..99_999_999).prop_map(|n| (format!("#cve CVE-2026-{n:04}"), "cve")),
        (1u32..365).prop_map(|n| (format!("#remind +{n}d check it"), "remind")),
        Just(("#fixed".to_string(), "fixed")),
        Just(("#close".to_string(), "close")),
        Just(("#show".to_string(), "show")),
    ]
}
