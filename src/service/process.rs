//! The imperative shell around the desk logic for one stored mail, and the recording of
//! any decision: one write transaction reads the raw bytes, decides, and records the
//! case, its message, events, outgoing mail and reminders, then marks the raw mail done.
//!
//! Invariant: a mail is processed exactly once. The raw row's state changes in the same
//! transaction as everything the mail caused; a crash before the commit leaves the row
//! pending, to be processed again from scratch after restart.

use crate::commands::{self, Command};
use crate::config::Config;
use crate::desk::actions::{ALERTS_PER_HOUR, Facts};
use crate::desk::case::{Case, EventKind};
use crate::desk::deadlines::{self, CaseTimes, ReminderKind};
use crate::desk::{self, Ctx, Decision, Filing, Incoming};
use crate::mail::classify::{self, Sender};
use crate::mail::threading::{self, ThreadIndex, ThreadReason};
use crate::mail::{self, Mail, Parsed};
use crate::outgoing::templates::Templates;
use crate::outgoing::{self, Purpose};
use crate::store::{
    self, Arrival, NewMessage, OutboxRow, PlannedRow, RawOutcome, Source, Store, Tx,
};
use crate::types::{CaseId, MessageId};
use chrono::{DateTime, Datelike, Duration, Utc};
use std::sync::atomic::{AtomicU64, Ordering};

/// What processing one raw mail did, for the logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Processed {
    Filed {
        case: CaseId,
        opened: bool,
        kind: &'static str,
        outgoing: usize,
    },
    /// The same Message-ID was already on file: nothing done.
    Duplicate(MessageId),
    /// Kept in the raw store, on no case (e.g. a team mail naming no case).
    Unfiled(MessageId),
    /// Already processed (by another instance, or before a restart).
    AlreadyDone,
}

/// Whether the mail a decision produces is sent (live) or dropped (importing the past).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    Send,
    /// Record everything, send nothing and plan no reminders.
    Suppress,
}

/// Everything needed to decide and record, shared by ingest, import and the scheduler.
pub struct Desk {
    pub config: Config,
    pub templates: Templates,
    seq: AtomicU64,
}

impl Desk {
    pub fn new(config: Config, templates: Templates) -> Desk {
        Desk {
            config,
            templates,
            seq: AtomicU64::new(0),
        }
    }

    pub fn ctx(&self, now: DateTime<Utc>) -> Ctx<'_> {
        Ctx {
            config: &self.config,
            templates: &self.templates,
            now,
        }
    }

    /// A fresh Message-ID for an outgoing mail.
    pub fn next_message_id(
        &self,
        case: Option<&CaseId>,
        purpose: Purpose,
        now: DateTime<Utc>,
    ) -> MessageId {
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        outgoing::new_message_id(case, purpose, now, n, &self.config.desk.hostname)
    }

    /// Processes the pending raw mail `raw_id` in one transaction.
    pub fn process(
        &self,
        store: &mut Store,
        raw_id: i64,
        now: DateTime<Utc>,
    ) -> store::Result<Processed> {
        store.write(|tx| self.process_pending_in(tx, raw_id, now))
    }

    /// Processes the pending raw mails `raw_ids`, in order, in one transaction (one
    /// commit for the batch), each mail inside its own savepoint so it stays
    /// all-or-nothing. A mail that fails is rolled back alone and ends the batch: the
    /// mails before it are committed, it and those after it stay pending, and its error
    /// is returned beside their outcomes. `stop` is checked between two mails: the batch
    /// then ends early, committing the mails done.
    pub fn process_batch(
        &self,
        store: &mut Store,
        raw_ids: &[i64],
        now: DateTime<Utc>,
        stop: &dyn Fn() -> bool,
    ) -> store::Result<(Vec<Processed>, Option<store::StoreError>)> {
        store.write(|tx| {
            let mut done = Vec::with_capacity(raw_ids.len());
            for &raw_id in raw_ids {
                if stop() {
                    break;
                }
                match tx.savepoint(|tx| self.process_pending_in(tx, raw_id, now)) {
                    Ok(p) => done.push(p),
                    Err(e) => return Ok((done, Some(e))),
                }
            }
            Ok((done, None))
        })
    }

    /// The pending raw mail `raw_id`, processed inside `tx`.
    fn process_pending_in(
        &self,
        tx: &Tx<'_>,
        raw_id: i64,
        now: DateTime<Utc>,
    ) -> store::Result<Processed> {
        let Some((bytes, arrival)) = tx.pending_raw(raw_id)? else {
            return Ok(Processed::AlreadyDone);
        };
        let delivery = match arrival {
            Arrival::Live => Delivery::Send,
            Arrival::History => Delivery::Suppress,
        };
        self.process_in_with(tx, Some(raw_id), &bytes, now, delivery)
    }

    /// Decides and records one mail inside `tx`.
    pub fn process_in(
        &self,
        tx: &Tx<'_>,
        raw_id: Option<i64>,
        bytes: &[u8],
        now: DateTime<Utc>,
    ) -> store::Result<Processed> {
        self.process_in_with(tx, raw_id, bytes, now, Delivery::Send)
    }

    /// [`Desk::process_in`], choosing whether the resulting mail is sent.
    pub fn process_in_with(
        &self,
        tx: &Tx<'_>,
        raw_id: Option<i64>,
        bytes: &[u8],
        now: DateTime<Utc>,
        delivery: Delivery,
    ) -> store::Result<Processed> {
        let year = self.config.calendar.local_date(now).year();
        let prefix = self.config.desk.case_prefix.clone();
        let ctx = self.ctx(now);
        match mail::parse(bytes) {
            Parsed::Unreadable { id, reason } => {
                if tx.message_known(&id)? {
                    mark(tx, raw_id, RawOutcome::Duplicate, &id, now)?;
                    return Ok(Processed::Duplicate(id));
                }
                let new_id = tx.next_case_id(&prefix, year)?;
                let d = desk::unreadable(&ctx, new_id, &id, &reason, bytes);
                let meta = Meta {
                    id: id.clone(),
                    from: String::new(),
                    subject: "(unreadable)".into(),
                    raw_id,
                    references: Vec::new(),
                };
                let out = self.record(tx, d, Some(&meta), now, delivery)?;
                mark(tx, raw_id, RawOutcome::Processed, &id, now)?;
                Ok(out)
            }
            Parsed::Mail(m) => {
                if tx.message_known(&m.message_id)? {
                    mark(tx, raw_id, RawOutcome::Duplicate, &m.message_id, now)?;
                    return Ok(Processed::Duplicate(m.message_id.clone()));
                }
                let out = self.process_mail(tx, &ctx, &m, raw_id, year, delivery)?;
                mark(tx, raw_id, RawOutcome::Processed, &m.message_id, now)?;
                Ok(out)
            }
        }
    }

    fn process_mail(
        &self,
        tx: &Tx<'_>,
        ctx: &Ctx<'_>,
        m: &Mail,
        raw_id: Option<i64>,
        year: i32,
        delivery: Delivery,
    ) -> store::Result<Processed> {
        let cfg = &self.config;
        let now = ctx.now;
        let sender = classify::classify(m, &cfg.desk.address, &cfg.team.members);
        let body = matches!(sender, Sender::Team(_)).then(|| commands::parse_body(&m.text));
        let wants_new = body.as_ref().is_some_and(|b| {
            matches!(
                b.commands.first().map(|c| &c.parsed),
                Some(Ok(Command::New))
            )
        });
        let named = body.as_ref().and_then(|b| {
            b.commands.iter().find_map(|c| match &c.parsed {
                Ok(Command::Case(id)) => Some(id.clone()),
                _ => None,
            })
        });
        let found = match (wants_new, named) {
            (true, _) => None,
            (false, named) => {
                match threading::find_case(m, &cfg.desk.address, &cfg.desk.case_prefix, tx)? {
                    Some(found) => Some(found),
                    // A mail that threads nowhere may still name its case with `#case`.
                    None => match named {
                        Some(id) if tx.case_exists(&id)? => Some((id, ThreadReason::Named)),
                        _ => None,
                    },
                }
            }
        };
        let filing = match found {
            Some((id, reason)) => match tx.load_case(&id)? {
                Some(case) => Filing::Existing(Box::new(case), reason),
                None => Filing::New(tx.next_case_id(&cfg.desk.case_prefix, year)?),
            },
            None => Filing::New(tx.next_case_id(&cfg.desk.case_prefix, year)?),
        };

        let mut facts = Facts {
            next_advisory_id: tx.next_advisory_id(&cfg.publish.advisory_prefix, year)?,
            ..Facts::default()
        };
        if let Some(b) = &body {
            for c in &b.commands {
                if let Ok(Command::Duplicate(id)) = &c.parsed
                    && tx.case_exists(id)?
                {
                    facts.known_cases.insert(id.clone());
                }
            }
        }
        if let Filing::Existing(case, _) = &filing {
            facts.timeline = tx.events(&case.id)?;
            facts.report_text = self.report_text(tx, case)?;
            facts.reporter_last_message = match &case.reporter {
                Some(rep) => tx
                    .messages_of(&case.id)?
                    .into_iter()
                    .filter(|msg| msg.direction_in && &msg.from == rep)
                    .map(|msg| msg.message_id)
                    .next_back(),
                None => None,
            };
        }
        let window = Duration::from_std(cfg.policy.ack_rate_limit.window)
            .unwrap_or_else(|_| Duration::minutes(10));
        let recent_acks = tx.count_sent_to(Purpose::Ack, m.from_address(), now - window)?;
        let recent_alerts = tx
            .count_events_since(EventKind::Refused, now - Duration::hours(1))?
            .min(ALERTS_PER_HOUR + 1);

        let decision = desk::decide(
            ctx,
            Incoming {
                mail: m,
                sender,
                filing,
                body,
                recent_acks,
                recent_alerts,
                facts,
            },
        );
        let mut references = threading::ancestor_ids(m);
        references.sort();
        references.dedup();
        let meta = Meta {
            id: m.message_id.clone(),
            from: m.from_address().to_string(),
            subject: m.subject.clone(),
            raw_id,
            references,
        };
        self.record(tx, decision, Some(&meta), now, delivery)
    }

    /// The text of the mail that opened the case.
    fn report_text(&self, tx: &Tx<'_>, case: &Case) -> store::Result<String> {
        Ok(match tx.raw_bytes_of_message(&case.root_message_id)? {
            Some(raw) => match mail::parse(&raw) {
                Parsed::Mail(m) => m.text,
                Parsed::Unreadable { .. } => "(the report could not be read)".into(),
            },
            None => String::new(),
        })
    }

    /// Records a decision: the case, the incoming message, events, one-off reminders,
    /// the new reminder plan, and every outgoing mail.
    pub fn record(
        &self,
        tx: &Tx<'_>,
        d: Decision,
        incoming: Option<&Meta>,
        now: DateTime<Utc>,
        delivery: Delivery,
    ) -> store::Result<Processed> {
        let Decision {
            case,
            opened,
            kind,
            events,
            outgoing,
            one_offs,
        } = d;
        let message_id = incoming.map(|i| i.id.clone());
        if let Some(c) = &case {
            if opened {
                tx.insert_case(c)?;
            } else {
                tx.update_case(c)?;
            }
            if let Some(i) = incoming {
                tx.insert_message(&NewMessage {
                    id: &i.id,
                    case: &c.id,
                    source: Source::Received { raw: i.raw_id },
                    at: now,
                    from: &i.from,
                    subject: &i.subject,
                    kind: kind.as_str(),
                    references: &i.references,
                })?;
            }
            for e in &events {
                tx.insert_event(&c.id, now, e, message_id.as_ref())?;
            }
            for o in &one_offs {
                tx.plan_reminder(
                    &c.id.to_string(),
                    &PlannedRow {
                        kind: ReminderKind::OneOff.as_str(),
                        due: o.due,
                        deadline: o.due,
                        note: o.note.clone(),
                    },
                )?;
            }
            if delivery == Delivery::Send {
                self.replan(tx, c, now)?;
            }
        }
        let n = outgoing.len();
        if delivery == Delivery::Send {
            for out in &outgoing {
                self.enqueue(tx, out, now)?;
            }
        }
        Ok(match (case, message_id) {
            (Some(c), _) => Processed::Filed {
                case: c.id,
                opened,
                kind: kind.as_str(),
                outgoing: n,
            },
            (None, Some(id)) => Processed::Unfiled(id),
            (None, None) => Processed::AlreadyDone,
        })
    }

    /// Renders and queues an outgoing mail, filing it on its case for threading.
    pub fn enqueue(
        &self,
        tx: &Tx<'_>,
        out: &outgoing::Outgoing,
        now: DateTime<Utc>,
    ) -> store::Result<()> {
        // One copy per recipient: each is delivered, retried or refused on its own, so an
        // address the server refuses (a member who left) never keeps a new report from the
        // rest of the team. Members also do not see each other's addresses.
        if out.to.len() > 1 {
            for r in &out.to {
                let one = outgoing::Outgoing {
                    to: vec![r.clone()],
                    ..out.clone()
                };
                self.enqueue_one(tx, &one, now)?;
            }
            return Ok(());
        }
        self.enqueue_one(tx, out, now)
    }

    fn enqueue_one(
        &self,
        tx: &Tx<'_>,
        out: &outgoing::Outgoing,
        now: DateTime<Utc>,
    ) -> store::Result<()> {
        let id = self.next_message_id(out.case.as_ref(), out.purpose, now);
        match outgoing::compose(
            out,
            &id,
            &self.config.desk.address,
            &self.config.desk.name,
            now,
        ) {
            Ok(composed) => {
                let row = tx.enqueue(&composed, out.purpose, out.case.as_ref(), now)?;
                if let Some(case) = &out.case {
                    let mut refs = out.references.clone();
                    refs.extend(out.in_reply_to.clone());
                    tx.insert_message(&NewMessage {
                        id: &id,
                        case,
                        source: Source::Sent { outbox: row },
                        at: now,
                        from: &self.config.desk.address,
                        subject: &out.subject,
                        kind: out.purpose.as_str(),
                        references: &refs,
                    })?;
                }
            }
            Err(e) => {
                if let Some(case) = &out.case {
                    let ev = crate::desk::case::NewEvent::new(
                        EventKind::DeliveryFailed,
                        crate::desk::case::DESK_ACTOR,
                        format!(
                            "could not write the {} mail to {}: {e}",
                            out.purpose.as_str(),
                            out.to.join(", ")
                        ),
                    );
                    tx.insert_event(case, now, &ev, None)?;
                    // The same as a refusal by the server: the recipient will not get it.
                    let error = e.to_string();
                    if let Some(alert) =
                        desk::delivery_failed(&self.ctx(now), case, out.purpose, &out.to, &error)
                    {
                        self.enqueue(tx, &alert, now)?;
                    }
                }
                tracing::error!(purpose = out.purpose.as_str(), error = %e, "an outgoing mail could not be composed");
            }
        }
        Ok(())
    }

    /// Records that the server refused `row` for good: the row is failed, the case says
    /// so, and the team is told when the mail was meant for someone outside it.
    pub fn delivery_failed(
        &self,
        tx: &Tx<'_>,
        row: &OutboxRow,
        error: &str,
        now: DateTime<Utc>,
    ) -> store::Result<()> {
        tx.mark_failed(row.id, error)?;
        let Some(case) = &row.case else {
            return Ok(());
        };
        let ev = crate::desk::case::NewEvent::new(
            EventKind::DeliveryFailed,
            crate::desk::case::DESK_ACTOR,
            format!(
                "the {} mail to {} could not be delivered: {error}",
                row.purpose.as_str(),
                row.recipients.join(", ")
            ),
        );
        tx.insert_event(case, now, &ev, None)?;
        match desk::delivery_failed(&self.ctx(now), case, row.purpose, &row.recipients, error) {
            Some(alert) => self.enqueue(tx, &alert, now),
            None => Ok(()),
        }
    }

    /// Plans the case's reminders from its current state.
    pub fn replan(&self, tx: &Tx<'_>, c: &Case, now: DateTime<Utc>) -> store::Result<()> {
        let scope = c.id.to_string();
        if !c.is_open() {
            return tx.cancel_reminders(&scope);
        }
        let times = CaseTimes {
            reported_at: c.opened_at,
            // A case the team opened itself has no reporter waiting for an answer.
            first_reply_at: if c.reporter.is_some() {
                c.first_reply_at
            } else {
                Some(c.opened_at)
            },
            embargo_end: c.embargo_end,
            open: c.is_open(),
        };
        let plan: Vec<PlannedRow> =
            deadlines::plan(&self.config.calendar, &self.policy(), &times, now)
                .into_iter()
                .map(|p| PlannedRow {
                    kind: p.kind.as_str(),
                    due: p.due,
                    deadline: p.deadline,
                    note: String::new(),
                })
                .collect();
        let one_off = ReminderKind::OneOff.as_str();
        tx.replan(&scope, now, &[one_off.as_str()], &plan)
    }

    pub fn policy(&self) -> deadlines::Policy {
        deadlines::Policy {
            first_response_days: self.config.policy.first_response_days,
            embargo_offsets: self.config.policy.embargo_reminders.clone(),
        }
    }
}

/// The incoming message being recorded.
pub struct Meta {
    pub id: MessageId,
    pub from: String,
    pub subject: String,
    pub raw_id: Option<i64>,
    pub references: Vec<MessageId>,
}

fn mark(
    tx: &Tx<'_>,
    raw_id: Option<i64>,
    outcome: RawOutcome,
    id: &MessageId,
    now: DateTime<Utc>,
) -> store::Result<()> {
    match raw_id {
        Some(r) => tx.mark_raw(r, outcome, id, now),
        None => Ok(()),
    }
}
