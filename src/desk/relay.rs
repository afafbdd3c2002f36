//! Loop protection for the relays of mail to the team.
//!
//! Every mail on a case is relayed to the team, and team members' mail clients are
//! outside the desk's control: two out-of-office responders that ignore RFC 3834 would
//! answer each other's relays through the desk for ever (188 replies in 60 s were seen).
//! A relay is held (the mail is still stored on its case, with an event saying why)
//! when:
//! - the mail carries our loop header (`X-Secdesk-Loop`, whatever the address);
//! - it is team mail answering one of the desk's own mails within
//!   [`QUICK_ANSWER_SECS`] seconds with no human sign (a command line): no person reads
//!   and answers that fast, a responder does. The mail it answers is named by its
//!   `In-Reply-To`/`References` (our Message-IDs carry their time); a mail that names no
//!   parent at all (responders that do not thread) counts as answering the last relay
//!   the sender received on the case;
//! - its sender already had [`PER_SENDER`] mails relayed on this case within
//!   [`WINDOW_MINUTES`] minutes, or the case had [`PER_CASE`].
//!
//! Invariant: pure; the counts come from the case's timeline (`Facts::timeline`), so a
//! relay counts from the moment its mail is recorded, in the same transaction.

use crate::desk::Ctx;
use crate::desk::case::{Event, EventKind};
use crate::mail::Mail;
use crate::mail::classify::LOOP_HEADER;
use chrono::{DateTime, Duration, TimeZone, Utc};
use std::collections::BTreeSet;

/// The most events of the window read for one mail: a flood of mail on one case (its
/// tag is easy to guess) made every next mail's check read and sort all of the
/// window's events, inside the write transaction: quadratic in the flood.
pub const MAX_RECENT: usize = 200;

/// A case's events of the last [`WINDOW_MINUTES`] minutes, the newest [`MAX_RECENT`] of
/// them, in order.
#[derive(Debug, Clone, Default)]
pub struct Recent {
    pub events: Vec<Event>,
    /// The window held more events than were read: a flood, whose relays are held.
    pub overflow: bool,
}

impl Recent {
    /// The window of `events` (in order): the newest [`MAX_RECENT`] of those at or
    /// after `since`.
    pub fn of(events: impl IntoIterator<Item = Event>, since: DateTime<Utc>) -> Recent {
        let mut events: Vec<Event> = events.into_iter().filter(|e| e.at >= since).collect();
        let overflow = events.len() > MAX_RECENT;
        if overflow {
            events.drain(..events.len() - MAX_RECENT);
        }
        Recent { events, overflow }
    }
}

/// Relays of one sender's mail on one case, per window.
pub const PER_SENDER: usize = 5;
/// Relays on one case, all senders together, per window.
pub const PER_CASE: usize = 20;
/// The window of both limits.
pub const WINDOW_MINUTES: i64 = 10;
/// Team mail answering a desk mail sooner than this, without a command, is a responder.
pub const QUICK_ANSWER_SECS: i64 = 60;

/// Whether a mail may be relayed to the team.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Relay {
    Allowed,
    /// Held, with the reason for the case history.
    Held(String),
}

/// Who is asking for a relay, and whether quick answers are suspect.
pub struct Request<'a> {
    pub mail: &'a Mail,
    /// The sender as recorded in the events (`Event::actor`).
    pub sender: &'a str,
    /// Team mail: a quick answer to a desk mail without a command is a responder.
    pub team: bool,
    /// A sign that a person wrote it (a command line).
    pub human_sign: bool,
    /// The sender takes part in the case: the reporter, an upstream it was forwarded to,
    /// an authenticated team member. What outsiders send never uses up their relays.
    pub participant: bool,
}

/// Decides whether `req.mail` may be relayed, given the case's history so far.
pub fn check(ctx: &Ctx<'_>, req: &Request<'_>, recent: &Recent) -> Relay {
    let timeline = recent.events.as_slice();
    // Team mail that went through a desk (ours or another) is held: a relay of it could
    // come back the same way. Another desk's mail from anyone else (an upstream's own
    // desk answering our `#forward`) is a person's answer and goes to the team like any
    // maintainer's; our own loop header never gets this far (`Sender::Desk`).
    let desk = &ctx.config.desk.address;
    let looped = req.mail.header_values(LOOP_HEADER).next().is_some();
    let ours = req
        .mail
        .header_values(LOOP_HEADER)
        .any(|v| crate::types::normalize_address(v) == *desk);
    if ours || (req.team && looped) {
        return Relay::Held(format!(
            "not relayed to the team: the mail carries a desk's loop header ({LOOP_HEADER})"
        ));
    }
    if req.team
        && !req.human_sign
        && let Some(sent) = answered_desk_mail(ctx, req.mail)
            .or_else(|| last_relay_to(req.mail, req.sender, timeline))
    {
        let after = ctx.now.signed_duration_since(sent);
        if after < Duration::seconds(QUICK_ANSWER_SECS) && after > Duration::seconds(-5) {
            return Relay::Held(format!(
                "not relayed to the team: it answers the desk's own mail after {} s with no \
                 command, as an autoresponder does (loop protection; a person's quick answer \
                 is relayed when it carries a command line)",
                after.num_seconds().max(0)
            ));
        }
    }
    let since = ctx.now - Duration::minutes(WINDOW_MINUTES);
    // Refused commands are recorded under the name they claim: a participant's count
    // leaves them out, or forgeries in a member's name would silence her.
    let kinds = match req.participant {
        true => is_participants_kind,
        false => is_relayed_kind,
    };
    let by_sender = relayed_since(timeline, since, Some(req.sender), kinds);
    if by_sender >= PER_SENDER {
        return Relay::Held(format!(
            "not relayed to the team: {by_sender} mails from {} were already relayed on this \
             case in the last {WINDOW_MINUTES} minutes (loop protection, at most {PER_SENDER})",
            req.sender
        ));
    }
    // The case's own budget is the outsiders': anyone can guess a case's tag, and a
    // flood of theirs must not silence its reporter, its upstreams or its team, who
    // stay bounded by the limits above.
    if !req.participant && recent.overflow {
        return Relay::Held(format!(
            "not relayed to the team: more than {MAX_RECENT} events on this case in the last \
             {WINDOW_MINUTES} minutes, a flood (loop protection)"
        ));
    }
    let on_case = relayed_since(timeline, since, None, is_outsiders_kind);
    if !req.participant && on_case >= PER_CASE {
        return Relay::Held(format!(
            "not relayed to the team: {on_case} mails from senders outside the case were \
             already relayed on it in the last {WINDOW_MINUTES} minutes (loop protection, at \
             most {PER_CASE})"
        ));
    }
    Relay::Allowed
}

/// Mail events that come with a relay to the team.
fn is_relayed_kind(kind: EventKind) -> bool {
    matches!(
        kind,
        EventKind::TeamMail
            | EventKind::ReporterMail
            | EventKind::UpstreamMail
            | EventKind::OtherMail
            | EventKind::Refused
    )
}

/// Mail events of a participant's own: not refused or suspect claims in their name
/// (recorded as `Refused` and `OtherMail`).
fn is_participants_kind(kind: EventKind) -> bool {
    matches!(
        kind,
        EventKind::TeamMail | EventKind::ReporterMail | EventKind::UpstreamMail
    )
}

/// Mail events from senders outside the case (neither its reporter, nor an upstream,
/// nor an authenticated member), relayed to the team.
fn is_outsiders_kind(kind: EventKind) -> bool {
    matches!(kind, EventKind::OtherMail | EventKind::Refused)
}

/// How many mails (by `sender`, or by anyone) were relayed on the case since `since`:
/// mails with an event of a `relayed` kind and no held one.
fn relayed_since(
    timeline: &[Event],
    since: DateTime<Utc>,
    sender: Option<&str>,
    relayed: fn(EventKind) -> bool,
) -> usize {
    let recent = || {
        timeline
            .iter()
            .filter(move |e| e.at >= since && sender.is_none_or(|s| e.actor == s))
    };
    let held: BTreeSet<&str> = recent()
        .filter(|e| e.kind == EventKind::AutomaticMail)
        .filter_map(|e| e.message_id.as_ref().map(|m| m.as_str()))
        .collect();
    recent()
        .filter(|e| relayed(e.kind))
        .filter_map(|e| e.message_id.as_ref().map(|m| m.as_str()))
        .filter(|id| !held.contains(id))
        .collect::<BTreeSet<&str>>()
        .len()
}

/// For a mail that names no parent: when `sender` last received a relay on this case
/// (a mail of someone else's was relayed, or the case was opened).
fn last_relay_to(mail: &Mail, sender: &str, timeline: &[Event]) -> Option<DateTime<Utc>> {
    if !mail.in_reply_to.is_empty() || !mail.references.is_empty() {
        return None;
    }
    timeline
        .iter()
        .filter(|e| e.actor != sender && (is_relayed_kind(e.kind) || e.kind == EventKind::Opened))
        .map(|e| e.at)
        .max()
}

/// When the desk sent the mail this one answers, if it answers one of ours: our
/// Message-IDs are `<scope>.<purpose>.<unix millis>.<seq>.<pid>@<our hostname>`.
fn answered_desk_mail(ctx: &Ctx<'_>, mail: &Mail) -> Option<DateTime<Utc>> {
    let host = ctx.config.desk.hostname.as_str();
    mail.in_reply_to
        .iter()
        .chain(mail.references.last())
        .filter_map(|id| {
            let (left, right) = id.as_str().rsplit_once('@')?;
            if !right.eq_ignore_ascii_case(host) {
                return None;
            }
            let millis: i64 = left.split('.').nth(2)?.parse().ok()?;
            Utc.timestamp_millis_opt(millis).single()
        })
        .max()
}
