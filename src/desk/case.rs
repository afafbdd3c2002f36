//! The case: everything the desk knows about one report, and the events of its history.
//!
//! Invariant: plain data, no I/O. The store persists it; the desk logic changes it in
//! memory and hands it back whole, with the events that explain each change.

use crate::types::{CaseId, CaseStatus, CreditRole, MessageId, ReferenceType, Severity};
use chrono::{DateTime, NaiveDate, Utc};

/// How the reporter wants to be credited.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum CreditChoice {
    /// Not said yet: the advisory credits nobody.
    #[default]
    Unknown,
    Name(String),
    Anonymous,
}

/// A package the advisory names besides the first (`#package` again): its own range
/// and fixed version. The first package stays in `Case::package`/`affected`/`fixed_in`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PackageEntry {
    pub name: String,
    pub affected: Option<String>,
    pub fixed_in: Option<String>,
    /// Its own `#bindings <package> …` (the first package's are `Case::bindings`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bindings: Vec<String>,
    /// Its own `#commit <package> …` (the first package's are `Case::fix_commits`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub commits: Vec<(String, String)>,
}

/// One case.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    pub id: CaseId,
    pub subject: String,
    /// The reporter's address; `None` for a case a team member opened with `#new`.
    pub reporter: Option<String>,
    pub reporter_name: Option<String>,
    pub status: CaseStatus,
    pub opened_at: DateTime<Utc>,
    /// The Message-ID of the mail that opened the case.
    pub root_message_id: MessageId,
    pub assignee: Option<String>,
    pub severity: Option<Severity>,
    pub cvss_vector: Option<String>,
    pub cvss_score: Option<f64>,
    pub cves: Vec<String>,
    pub cve_requested: bool,
    pub cwes: Vec<u32>,
    pub summary: Option<String>,
    pub details: Option<String>,
    pub workaround: Option<String>,
    /// (reference type, url).
    pub references: Vec<(ReferenceType, String)>,
    pub package: Option<String>,
    pub affected: Option<String>,
    pub fixed_in: Option<String>,
    pub credit: CreditChoice,
    /// Packages after the first, in the order `#package` named them.
    pub extra_packages: Vec<PackageEntry>,
    /// `#credit <role> <name>`, in order, without repeats.
    pub credits: Vec<(CreditRole, String)>,
    /// `#bindings`: affected functions or modules.
    pub bindings: Vec<String>,
    /// `#commit <git-url> <sha>`: fixing commits.
    pub fix_commits: Vec<(String, String)>,
    /// The last command that changed what the advisory says.
    pub advisory_changed_at: Option<DateTime<Utc>>,
    pub embargo_end: Option<NaiveDate>,
    pub preannounce: Option<NaiveDate>,
    /// When a team member first wrote to the reporter (`#reply`): stops the
    /// first-response reminders.
    pub first_reply_at: Option<DateTime<Utc>>,
    /// When the reporter last heard from us (ack excluded: a robot is not an answer).
    pub last_reply_at: Option<DateTime<Utc>>,
    pub duplicate_of: Option<CaseId>,
    pub close_reason: Option<String>,
    pub fixed_at: Option<DateTime<Utc>>,
    pub published_at: Option<DateTime<Utc>>,
    pub advisory_id: Option<String>,
    /// Upstream maintainers the case was forwarded to (lower-cased addresses).
    pub upstream: Vec<String>,
}

impl Case {
    /// A fresh case, as opened by its first mail.
    pub fn new(
        id: CaseId,
        subject: String,
        reporter: Option<(String, Option<String>)>,
        opened_at: DateTime<Utc>,
        root_message_id: MessageId,
    ) -> Case {
        let (reporter, reporter_name) = match reporter {
            Some((a, n)) => (Some(a), n),
            None => (None, None),
        };
        Case {
            id,
            subject,
            reporter,
            reporter_name,
            status: CaseStatus::New,
            opened_at,
            root_message_id,
            assignee: None,
            severity: None,
            cvss_vector: None,
            cvss_score: None,
            cves: Vec::new(),
            cve_requested: false,
            cwes: Vec::new(),
            summary: None,
            details: None,
            workaround: None,
            references: Vec::new(),
            package: None,
            affected: None,
            fixed_in: None,
            credit: CreditChoice::Unknown,
            extra_packages: Vec::new(),
            credits: Vec::new(),
            bindings: Vec::new(),
            fix_commits: Vec::new(),
            advisory_changed_at: None,
            embargo_end: None,
            preannounce: None,
            first_reply_at: None,
            last_reply_at: None,
            duplicate_of: None,
            close_reason: None,
            fixed_at: None,
            published_at: None,
            advisory_id: None,
            upstream: Vec::new(),
        }
    }

    pub fn is_open(&self) -> bool {
        self.status.is_open()
    }

    /// Whether its sender never heard from the desk, and is told nothing: in the spam
    /// state, or closed from it.
    pub fn sender_unanswered(&self) -> bool {
        self.status == CaseStatus::Spam || self.close_reason.as_deref() == Some(CLOSED_FROM_SPAM)
    }
}

/// The close reason of a case `#close`d from the spam state.
pub const CLOSED_FROM_SPAM: &str = "closed from the spam state";

/// What kind of thing happened on a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Opened,
    ReporterMail,
    TeamMail,
    UpstreamMail,
    OtherMail,
    AutomaticMail,
    Unreadable,
    Acknowledged,
    AckSuppressed,
    Changed,
    CommandFailed,
    Refused,
    RepliedToReporter,
    Forwarded,
    Reminder,
    DeliveryFailed,
    Published,
    /// Suspect mail filed in the spam state (detail: why).
    Quarantined,
    /// The desk-wide acknowledgement limit held acks back; the team was told.
    AckLimit,
}

impl EventKind {
    const NAMES: [(EventKind, &'static str); 19] = [
        (EventKind::Opened, "opened"),
        (EventKind::ReporterMail, "reporter-mail"),
        (EventKind::TeamMail, "team-mail"),
        (EventKind::UpstreamMail, "upstream-mail"),
        (EventKind::OtherMail, "other-mail"),
        (EventKind::AutomaticMail, "automatic-mail"),
        (EventKind::Unreadable, "unreadable"),
        (EventKind::Acknowledged, "acknowledged"),
        (EventKind::AckSuppressed, "ack-suppressed"),
        (EventKind::Changed, "changed"),
        (EventKind::CommandFailed, "command-failed"),
        (EventKind::Refused, "refused"),
        (EventKind::RepliedToReporter, "replied"),
        (EventKind::Forwarded, "forwarded"),
        (EventKind::Reminder, "reminder"),
        (EventKind::DeliveryFailed, "delivery-failed"),
        (EventKind::Published, "published"),
        (EventKind::Quarantined, "quarantined"),
        (EventKind::AckLimit, "ack-limit"),
    ];

    pub fn as_str(self) -> &'static str {
        crate::types::name_in(&Self::NAMES, &self).unwrap_or("changed")
    }

    pub fn parse(text: &str) -> Option<EventKind> {
        crate::types::named_in(&Self::NAMES, text)
    }
}

/// Who did it: a person's address, or the desk itself.
pub const DESK_ACTOR: &str = "secdesk";

/// An event not yet stored.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub kind: EventKind,
    pub actor: String,
    pub detail: String,
    /// May appear in the published advisory's timeline.
    pub public: bool,
}

impl NewEvent {
    pub fn new(kind: EventKind, actor: &str, detail: impl Into<String>) -> NewEvent {
        NewEvent {
            kind,
            actor: actor.to_string(),
            detail: detail.into(),
            public: false,
        }
    }

    pub fn public(mut self) -> NewEvent {
        self.public = true;
        self
    }
}

/// An event as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub at: DateTime<Utc>,
    pub kind: EventKind,
    pub actor: String,
    pub detail: String,
    pub public: bool,
    /// The Message-ID of the mail that caused it, if any.
    pub message_id: Option<MessageId>,
}
