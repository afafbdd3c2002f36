//! The decision types shared by the reporter branch (`desk`) and the team branch
//! (`desk::actions`): what deciding needs (`Ctx`, `Filing`, `Facts`) and what it returns
//! (`Decision`, `MessageKind`, `OneOff`). Both branches import this module and neither
//! imports the other's types.

use crate::config::Config;
use crate::desk::case::{Case, Event, NewEvent};
use crate::mail::Mail;
use crate::mail::threading::ThreadReason;
use crate::outgoing::templates::{Rendered, Templates};
use crate::outgoing::{Outgoing, Purpose};
use crate::types::{CaseId, MessageId};
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, BTreeSet};

/// What the desk logic needs besides the mail.
pub struct Ctx<'a> {
    pub config: &'a Config,
    pub templates: &'a Templates,
    pub now: DateTime<Utc>,
}

impl Ctx<'_> {
    pub fn fmt_instant(&self, t: DateTime<Utc>) -> String {
        self.config.calendar.format_instant(t)
    }

    pub fn fmt_date(&self, d: chrono::NaiveDate) -> String {
        self.config.calendar.format_date(d)
    }

    /// An embargo's end as people outside the desk's zone read it right: the instant it
    /// ends, with hour and zone (`Sun 21 Feb 2027, 00:00 CET (Europe/Paris)`). A bare
    /// date let a maintainer some hours east publish that many hours early.
    pub fn fmt_embargo(&self, end: chrono::NaiveDate) -> String {
        self.fmt_instant(crate::desk::deadlines::embargo_end_instant(
            &self.config.calendar,
            end,
        ))
    }

    /// The first-response deadline of a case reported at `t`.
    pub fn respond_by(&self, t: DateTime<Utc>) -> DateTime<Utc> {
        self.config
            .calendar
            .working_days_after(t, self.config.policy.first_response_days)
    }

    pub fn plus_address(&self, case: &CaseId) -> String {
        self.config.desk.plus_address(&case.plus_tag())
    }

    /// A notice to the team about `case`, answerable to the case's plus address.
    pub fn to_team(&self, case: &CaseId, rendered: Rendered) -> Outgoing {
        Outgoing::new(
            Purpose::TeamNotice,
            Some(case.clone()),
            self.config.team.recipients(),
            rendered,
        )
        .reply_to(self.plus_address(case))
    }
}

/// Where the mail goes, as found by the shell (threading, `#case`, `#new`).
#[derive(Debug, Clone)]
pub enum Filing {
    Existing(Box<Case>, ThreadReason),
    /// No case found: a new one would get this id.
    New(CaseId),
}

/// What kind of message this was on its case (stored as `messages.kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    Report,
    Reporter,
    Team,
    Upstream,
    Other,
    Automatic,
    Desk,
    Unreadable,
    /// Claims a team address but is not authenticated: never taken as the member's.
    Unauthenticated,
}

impl MessageKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Report => "report",
            MessageKind::Reporter => "reporter",
            MessageKind::Team => "team",
            MessageKind::Upstream => "upstream",
            MessageKind::Other => "other",
            MessageKind::Automatic => "automatic",
            MessageKind::Desk => "desk",
            MessageKind::Unreadable => "unreadable",
            MessageKind::Unauthenticated => "unauthenticated",
        }
    }
}

/// A one-off reminder requested with `#remind`.
#[derive(Debug, Clone, PartialEq)]
pub struct OneOff {
    pub due: DateTime<Utc>,
    pub note: String,
}

/// The outcome of one mail.
#[derive(Debug, Clone)]
pub struct Decision {
    /// The case after the mail; `None` when the mail goes on no case.
    pub case: Option<Case>,
    pub opened: bool,
    pub kind: MessageKind,
    pub events: Vec<NewEvent>,
    pub outgoing: Vec<Outgoing>,
    pub one_offs: Vec<OneOff>,
    /// `#publish` with an advisory repository: the commit the shell makes before the
    /// transaction commits (a failure rolls the whole publication back).
    pub repo_commit: Option<crate::publish::publication::RepoCommit>,
    /// `#move` went through: the desk the shell hands the case to, once it is recorded.
    pub move_to: Option<String>,
}

impl Decision {
    /// A mail filed on no case (yet): callers set `case` once they have one.
    pub(crate) fn unfiled(kind: MessageKind) -> Decision {
        Decision {
            case: None,
            opened: false,
            kind,
            events: Vec::new(),
            outgoing: Vec::new(),
            one_offs: Vec::new(),
            repo_commit: None,
            move_to: None,
        }
    }

    pub(super) fn on(case: Case, opened: bool, kind: MessageKind) -> Decision {
        Decision {
            case: Some(case),
            opened,
            ..Decision::unfiled(kind)
        }
    }

    pub(super) fn event(&mut self, e: NewEvent) {
        self.events.push(e);
    }
}

/// Facts from the store that some commands need, gathered before deciding.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// The cases named by `#duplicate` that exist on this desk, by the id written: the
    /// case it names (itself, or the case an old id became when it moved here).
    pub known_cases: BTreeMap<CaseId, CaseId>,
    /// The ids `#case` names that the case had before it was handed to this desk
    /// (`#move`): they name this case.
    pub former_ids: BTreeSet<CaseId>,
    /// How `#publish` numbers advisories: the next free number of the year, past the
    /// desk's records and the advisory repository's `advisories/<year>/`.
    pub next_advisory: crate::publish::publication::Numbering,
    /// The advisory repository checkout, when one is configured: `Err` says why it
    /// cannot take a publication (missing, dirty), and `#publish` refuses.
    pub advisory_repo: Option<Result<(), String>>,
    /// The case's whole history, read when the mail's commands show, publish or release
    /// it (`#show`, `#publish`, `#notspam`); empty otherwise (reading it for every mail
    /// made a long case slower at each mail).
    pub timeline: Vec<Event>,
    /// The case's events of the last [`crate::desk::relay::WINDOW_MINUTES`] minutes
    /// (the newest of them): what loop protection counts.
    pub recent: crate::desk::relay::Recent,
    /// The text of the report (for `#forward` and `#notspam`).
    pub report_text: String,
    /// The names of the report's attachments (for `#forward`, which sends its text
    /// alone and says so).
    pub report_attachments: Vec<String>,
    /// Why the report was a machine's mail, when it was (RFC 3834 signs): `#notspam`
    /// acknowledges no machine.
    pub report_automatic: Option<String>,
    /// Who sent the report, as the team sees it (read with its text).
    pub report_sender: String,
    /// The team opened the case itself (`#new`): its first mail holds the team's own
    /// words, which `#forward` does not send (read with the report's text).
    pub report_by_team: bool,
    /// The reporter's latest message on the case (what `#reply` answers).
    pub reporter_last_message: Option<MessageId>,
    /// The desks a case may be handed to with `#move` (every desk but its own).
    pub other_desks: Vec<String>,
    /// Every desk's own address: mail to one, or to a plus address of one, comes back to
    /// the daemon as its own and is dropped.
    pub desk_addresses: Vec<String>,
    /// Every desk's public announce list (`publish.announce`): no embargoed report goes
    /// there.
    pub announce_lists: Vec<String>,
    /// The desk's mails on the case that a delivery report says failed for good: their
    /// purpose and recipients.
    pub bounced: Vec<crate::outgoing::Undelivered>,
    /// A member's mail naming no case and no command: how many times in the last hour
    /// the desk explained to that member how to name one, counted up to
    /// [`crate::desk::actions::EXPLANATIONS_PER_HOUR`] (answering more could loop with an
    /// autoresponder that does not thread).
    pub explained_lately: u32,
    /// Team mail with words and no command on a case: its note repeats, word for word
    /// ([`crate::desk::actions::team_note`]), one of its sender's on the case from the
    /// last day. A responder slower than the relay window's limits does.
    pub repeats_own_note: bool,
}

impl Facts {
    /// Whether `address` is a desk's public announce list.
    pub fn is_announce_list(&self, address: &str) -> bool {
        let address = crate::types::normalize_address(address);
        self.announce_lists
            .iter()
            .any(|l| crate::types::normalize_address(l) == address)
    }
}

/// `In-Reply-To` and `References` for an answer to `mail`.
pub fn answer_threading(mail: &Mail) -> (Option<MessageId>, Vec<MessageId>) {
    let mut refs = mail.references.clone();
    if refs.is_empty()
        && let Some(parent) = mail.in_reply_to.first()
    {
        refs.push(parent.clone());
    }
    refs.push(mail.message_id.clone());
    // Long chains are trimmed from the middle, as RFC 5322 suggests, keeping the root.
    if refs.len() > 20 {
        let tail = refs.split_off(refs.len() - 19);
        refs.truncate(1);
        refs.extend(tail);
    }
    (Some(mail.message_id.clone()), refs)
}
