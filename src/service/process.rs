//! The imperative shell around the desk logic for one stored mail, and the recording of
//! any decision: one write transaction reads the raw bytes, decides, and records the
//! case, its message, events, outgoing mail and reminders, then marks the raw mail done.
//!
//! Invariant: a mail is processed exactly once. The raw row's state changes in the same
//! transaction as everything the mail caused; a crash before the commit leaves the row
//! pending, to be processed again from scratch after restart.

use crate::commands::{self, Command};
use crate::config::Config;
use crate::desk::actions::ALERTS_PER_HOUR;
use crate::desk::case::{Case, DESK_ACTOR, EventKind, NewEvent};
use crate::desk::deadlines::{self, CaseTimes, ReminderKind};
use crate::desk::relay::{MAX_RECENT, Recent};
use crate::desk::{self, Ctx, Decision, Facts, Filing, Incoming, MessageKind};
use crate::mail::classify::{self, Sender};
use crate::mail::threading::{self, ThreadIndex, ThreadReason};
use crate::mail::{self, Mail, Parsed};
use crate::outgoing::templates::Templates;
use crate::outgoing::{self, Purpose};
use crate::publish::publication;
use crate::service::advisory_repo;
use crate::store::{
    self, Arrival, NewMessage, OutboxRow, PlannedRow, RawOutcome, Source, Store, Tx,
};
use crate::types::{CaseId, MessageId};
use chrono::{DateTime, Datelike, Duration, Utc};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// What processing one raw mail did, for the logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Processed {
    Filed {
        case: CaseId,
        opened: bool,
        kind: MessageKind,
        outgoing: usize,
    },
    /// The same Message-ID was already on file: nothing done.
    Duplicate(MessageId),
    /// Kept in the raw store, on no case (e.g. a team mail naming no case).
    Unfiled(MessageId),
    /// Already processed (by another instance, or before a restart).
    AlreadyDone,
}

/// What became of one mail of a batch ([`Desk::process_batch`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchItem {
    Done(Processed),
    /// Rolled back alone; the error is recorded on its raw row and it stays pending.
    Failed(String),
    /// The batch stopped before it (shutdown): nothing done, no attempt counted.
    Untried,
}

/// Whether the mail a decision produces is sent (live) or dropped (importing the past).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    Send,
    /// Record everything, send nothing and plan no reminders.
    Suppress,
}

impl From<Arrival> for Delivery {
    /// Live mail is answered; history (what was in the mailbox at the first start, or an
    /// import) is filed without a word.
    fn from(a: Arrival) -> Delivery {
        match a {
            Arrival::Live => Delivery::Send,
            Arrival::History => Delivery::Suppress,
        }
    }
}

/// Everything needed to decide and record, shared by ingest, import and the scheduler.
///
/// With `[desks.NAME]` sections the top-level `Desk` holds one `Desk` per named desk,
/// each with that desk's effective configuration (same templates, same Message-ID
/// sequence): whatever is decided about a case is decided by its desk's `Desk`, so the
/// team, calendar, policy and addresses are always the case's desk's.
pub struct Desk {
    pub config: Config,
    pub templates: Arc<Templates>,
    seq: Arc<AtomicU64>,
    /// The `[desks.NAME]` desks; empty inside one of them.
    desks: Vec<Desk>,
    /// Whether the inbox is being caught up (shared by every desk of the process).
    pub catch_up: crate::service::catchup::CatchUp,
    /// Where the IMAP server last cut a download of this desk's inbox short.
    pub(crate) stalls: crate::service::ingest::Stalls,
    /// New mail the server announced (`EXISTS`) in the answer to a listing the ingest
    /// reads itself: the ingest syncs again before it waits.
    pub(crate) mail_announced: std::sync::atomic::AtomicBool,
    /// The server dropped the connection while it listed the sizes of the mail waiting:
    /// the next pass lists it by UID alone.
    pub(crate) list_by_uid: std::sync::atomic::AtomicBool,
    /// How the ingest files a suspect mail: in a child process of this binary (what
    /// `secdesk run` sets), or, when `None`, in this process.
    pub isolation: Option<crate::service::isolation::Isolation>,
}

impl Desk {
    pub fn new(config: Config, templates: Templates) -> Desk {
        let templates = Arc::new(templates);
        let seq = Arc::new(AtomicU64::new(0));
        let catch_up = crate::service::catchup::CatchUp::default();
        let desks = config
            .desks
            .iter()
            .map(|c| Desk {
                config: c.clone(),
                templates: Arc::clone(&templates),
                seq: Arc::clone(&seq),
                desks: Vec::new(),
                catch_up: catch_up.clone(),
                stalls: Default::default(),
                mail_announced: Default::default(),
                list_by_uid: Default::default(),
                isolation: None,
            })
            .collect();
        Desk {
            config,
            templates,
            seq,
            desks,
            catch_up,
            stalls: Default::default(),
            mail_announced: Default::default(),
            list_by_uid: Default::default(),
            isolation: None,
        }
    }

    /// This desk's name in `[desks.NAME]`; `""` for the top level.
    pub fn key(&self) -> &str {
        &self.config.desk.key
    }

    /// The top-level desk, then every `[desks.NAME]` desk.
    pub fn all(&self) -> impl Iterator<Item = &Desk> {
        std::iter::once(self).chain(self.desks.iter())
    }

    /// The desk named `key` (`""` for the top level); the top level when there is none
    /// (a desk removed from the configuration leaves its cases to the top-level desk).
    pub fn view(&self, key: &str) -> &Desk {
        self.desks.iter().find(|d| d.key() == key).unwrap_or(self)
    }

    /// The reminder scope of this desk's weekly digest.
    pub fn digest_scope(&self) -> String {
        match self.key() {
            "" => store::DIGEST_SCOPE.to_string(),
            key => format!("{}digest:{key}", store::DIGEST_SCOPE),
        }
    }

    /// The reminder scope of this desk's daily spam summary.
    pub fn spam_scope(&self) -> String {
        match self.key() {
            "" => store::SPAM_SCOPE.to_string(),
            key => format!("{}:{key}", store::SPAM_SCOPE),
        }
    }

    /// The desk a reminder belongs to: its case's, or the desk of a digest or summary.
    pub fn view_of_scope(&self, tx: &Tx<'_>, scope: &str) -> store::Result<&Desk> {
        if scope.starts_with('*') {
            return Ok(self
                .all()
                .find(|d| d.digest_scope() == scope || d.spam_scope() == scope)
                .unwrap_or(self));
        }
        match CaseId::parse(scope) {
            Some(id) => self.view_of_case(tx, &id),
            None => Ok(self),
        }
    }

    /// The desk of a case (the top level for an unknown case).
    /// The desk a mail the parser is not given was sent to, from its raw header (see
    /// [`mail::delivery_addresses`]): the first desk other than the top level that an
    /// address names, else the top level.
    pub fn view_of_raw(&self, raw: &[u8]) -> &Desk {
        mail::delivery_addresses(raw)
            .iter()
            .filter_map(|a| self.config.desk_of_address(a))
            .find(|c| !c.desk.key.is_empty())
            .map_or(self, |c| self.view(&c.desk.key))
    }

    pub fn view_of_case(&self, tx: &Tx<'_>, case: &CaseId) -> store::Result<&Desk> {
        Ok(match tx.case_desk(case)? {
            Some(key) => self.view(&key),
            None => self.view(""),
        })
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
        outgoing::new_message_id(
            case,
            purpose,
            now,
            n,
            std::process::id(),
            &self.config.desk.hostname,
        )
    }

    /// Processes the pending raw mail `raw_id` in one transaction.
    ///
    /// The bytes are read and parsed before the write transaction opens: parsing is the
    /// heaviest step that needs nothing from the database, so it never holds the write
    /// lock (other loops and the CLI keep working while a 50 MB mail is parsed).
    pub fn process(
        &self,
        store: &mut Store,
        raw_id: i64,
        now: DateTime<Utc>,
    ) -> store::Result<Processed> {
        let Some(read) = read_pending(store, raw_id)? else {
            return Ok(Processed::AlreadyDone);
        };
        store.write(|tx| self.process_read(tx, raw_id, read, now))
    }

    /// Files a mail read by [`read_pending`] inside `tx`, unless it was filed meanwhile
    /// (another desk on the same file).
    fn process_read(
        &self,
        tx: &Tx<'_>,
        raw_id: i64,
        (bytes, arrival, parsed): Pending,
        now: DateTime<Utc>,
    ) -> store::Result<Processed> {
        if !tx.raw_is_pending(raw_id)? {
            return Ok(Processed::AlreadyDone);
        }
        self.process_parsed(tx, Some(raw_id), &bytes, parsed, now, arrival.into())
    }

    /// Sets aside the pending raw mail `raw_id`, whose processing failed `failures`
    /// times: filed raw on a case of its own, "(could not be processed)", with the last
    /// error, and the team told once (the usual unreadable-mail alert, raw attached).
    /// The mail's own content is not looked at beyond its Message-ID.
    pub fn set_aside(
        &self,
        store: &mut Store,
        raw_id: i64,
        failures: u32,
        now: DateTime<Utc>,
    ) -> store::Result<Processed> {
        store.write(|tx| {
            let Some((bytes, _arrival)) = tx.pending_raw(raw_id)? else {
                return Ok(Processed::AlreadyDone);
            };
            let error = tx
                .raw_last_error(raw_id)?
                .unwrap_or_else(|| "the desk stopped while processing it".into());
            tracing::error!(raw_id, failures, error = %error, "a mail was set aside after failing again and again; the team is told");
            let reason = format!("processing it failed {failures} times; the last error: {error}");
            // Told whatever the mail's arrival: history is filed without a word, but a
            // mail set aside is the desk's failure, and may be a report nobody has read.
            self.file_aside(tx, raw_id, &bytes, &reason, now, Delivery::Send)
        })
    }

    /// Files the stored raw mail `raw_id` (`bytes`), whose processing failed (`reason`),
    /// on a case of its own, "(could not be processed)", on the desk its raw header
    /// names, the team told with the usual unreadable-mail alert (raw attached) unless
    /// `delivery` holds mail back. The mail's content is not looked at beyond a bounded
    /// scan of its header: the parser may be what failed (a stack it overflowed, a
    /// decoding that never ended), in this process.
    pub fn file_aside(
        &self,
        tx: &Tx<'_>,
        raw_id: i64,
        bytes: &[u8],
        reason: &str,
        now: DateTime<Utc>,
        delivery: Delivery,
    ) -> store::Result<Processed> {
        let mut id = mail::message_id_of(bytes);
        if tx.message_known(&id)? {
            // A copy of the mail on file (itself set aside, a second delivery) is a copy,
            // compared on the raw bytes alone; another mail reusing its id is filed under
            // an id made from the id and its body, and a copy of that one is a copy.
            let head = bytes.get(..HEAD_BYTES).unwrap_or(bytes);
            let theirs = tx.raw_head_of_message(&id, HEAD_BYTES)?;
            let key = [id.as_str().as_bytes(), b" ", body_of(head).trim_ascii_end()].concat();
            let own = mail::synthesized_id(&key);
            if theirs.is_none_or(|t| same_writing(&t, head)) || tx.message_known(&own)? {
                mark(tx, Some(raw_id), RawOutcome::Duplicate, &id, now)?;
                return Ok(Processed::Duplicate(id));
            }
            id = own;
        }
        let to = self.view_of_raw(bytes);
        let year = to.config.calendar.local_date(now).year();
        let case_id = tx.next_case_id(&to.config.desk.case_prefix, year)?;
        // Always told: a mail set aside is the desk's failure, never a flood's.
        let mut d = desk::unreadable(&to.ctx(now), case_id, (&id, reason, bytes), 0);
        if let Some(c) = d.case.as_mut() {
            c.subject = "(could not be processed)".into();
        }
        let meta = Meta {
            id: id.clone(),
            from: String::new(),
            subject: "(could not be processed)".into(),
            raw_id: Some(raw_id),
            references: Vec::new(),
        };
        let out = to.record(tx, d, Some(&meta), now, delivery)?;
        mark(tx, Some(raw_id), RawOutcome::Processed, &id, now)?;
        Ok(out)
    }

    /// Processes the pending raw mails `raw_ids`, in order, in one write transaction
    /// (one commit for the batch), each mail still all-or-nothing. Every mail is read and
    /// parsed before the transaction opens, and every attempt is counted
    /// (`raw_mail.attempts`) in a small transaction of its own before the batch starts,
    /// so a mail that kills the desk mid-batch still counts.
    ///
    /// A mail that fails is rolled back alone, its error recorded on its raw row, and the
    /// others are filed. `stop` is asked before each mail: the batch then ends early,
    /// committing the mails done and giving back the attempts it counted for the others.
    /// An `Err` means the batch itself could not be written (its transaction rolled back
    /// whole): every mail in it stays pending with one attempt counted.
    ///
    /// The caller bounds the batch (count and bytes): all its mails are in memory at once.
    pub fn process_batch(
        &self,
        store: &mut Store,
        raw_ids: &[i64],
        now: DateTime<Utc>,
        stop: &dyn Fn() -> bool,
    ) -> store::Result<Vec<BatchItem>> {
        let mut parsed = Vec::with_capacity(raw_ids.len());
        for &raw_id in raw_ids {
            parsed.push((raw_id, read_pending(store, raw_id)?));
        }
        store.write(|tx| {
            for (raw_id, p) in &parsed {
                if p.is_some() {
                    tx.begin_raw_attempt(*raw_id)?;
                }
            }
            Ok(())
        })?;
        self.file_parsed(store, parsed, now, stop)
    }

    /// Files mails the ingest has just stored ([`Tx::insert_raw`], their first attempt
    /// counted as they were stored) and parsed ([`Fresh::parse`]) from the bytes in hand
    /// rather than read back; otherwise as [`Desk::process_batch`].
    pub fn file_stored(
        &self,
        store: &mut Store,
        fresh: Fresh,
        now: DateTime<Utc>,
        stop: &dyn Fn() -> bool,
    ) -> store::Result<Vec<BatchItem>> {
        let parsed = fresh.0.into_iter().map(|(id, p)| (id, Some(p))).collect();
        self.file_parsed(store, parsed, now, stop)
    }

    /// Files parsed mails whose attempt is counted: in one transaction, or, when a mail
    /// fails, each in a savepoint of its own.
    fn file_parsed(
        &self,
        store: &mut Store,
        mut parsed: Vec<(i64, Option<Pending>)>,
        now: DateTime<Utc>,
        stop: &dyn Fn() -> bool,
    ) -> store::Result<Vec<BatchItem>> {
        let raw_ids: Vec<i64> = parsed.iter().map(|(id, _)| *id).collect();
        let raw_ids = raw_ids.as_slice();
        // Nearly every batch files without a fault: then one plain transaction does it
        // (a savepoint per mail would copy every page the mail touches once more).
        let whole = store.write(|tx| {
            let mut items = Vec::with_capacity(parsed.len());
            for (raw_id, p) in parsed.iter_mut() {
                items.push(match p.take() {
                    None => BatchItem::Done(Processed::AlreadyDone),
                    Some(_) if stop() => BatchItem::Untried,
                    Some(read) => BatchItem::Done(self.process_read(tx, *raw_id, read, now)?),
                });
            }
            give_back_untried(tx, raw_ids, &items)?;
            Ok(items)
        });
        let error = match whole {
            Ok(items) => return Ok(items),
            Err(e) => e,
        };
        // A mail failed, and the whole batch was rolled back with it: filed again, each
        // mail in a savepoint of its own, so only the mail at fault fails.
        tracing::warn!(mails = raw_ids.len(), error = %error, "a mail of a batch failed; the batch is filed again, each mail on its own");
        let mut parsed = Vec::with_capacity(raw_ids.len());
        for &raw_id in raw_ids {
            parsed.push((raw_id, read_pending(store, raw_id)?));
        }
        store.write(|tx| {
            let mut items = Vec::with_capacity(parsed.len());
            for (raw_id, p) in parsed.iter_mut() {
                let Some(read) = p.take() else {
                    items.push(BatchItem::Done(Processed::AlreadyDone));
                    continue;
                };
                if stop() {
                    items.push(BatchItem::Untried);
                    continue;
                }
                let one = tx.savepoint(|tx| self.process_read(tx, *raw_id, read, now));
                match one {
                    Ok(p) => items.push(BatchItem::Done(p)),
                    Err(e) => {
                        let error = e.to_string();
                        tx.raw_attempt_failed(*raw_id, &error)?;
                        items.push(BatchItem::Failed(error));
                    }
                }
            }
            give_back_untried(tx, raw_ids, &items)?;
            Ok(items)
        })
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
        self.process_parsed(tx, raw_id, bytes, mail::parse(bytes), now, delivery)
    }

    /// [`Desk::process_in_with`] for a mail parsed already (before the transaction
    /// opened: `secdesk import`).
    pub fn process_parsed(
        &self,
        tx: &Tx<'_>,
        raw_id: Option<i64>,
        bytes: &[u8],
        parsed: Parsed,
        now: DateTime<Utc>,
        delivery: Delivery,
    ) -> store::Result<Processed> {
        if crate::service::failpoints::poisoned(bytes) {
            return Err(store::StoreError::Corrupt(
                "failpoint: this mail is poison".into(),
            ));
        }
        match parsed {
            Parsed::Unreadable { id, reason } => {
                // The desk it was sent to, as its raw header names it: its team alone is
                // told (the mail may be another desk's embargoed report).
                let desk = self.view_of_raw(bytes);
                let year = desk.config.calendar.local_date(now).year();
                let prefix = desk.config.desk.case_prefix.clone();
                let ctx = desk.ctx(now);
                let mut id = id;
                if tx.message_known(&id)? {
                    let Some(own) = id_for_reused(tx, &id, bytes, false)? else {
                        mark(tx, raw_id, RawOutcome::Duplicate, &id, now)?;
                        return Ok(Processed::Duplicate(id));
                    };
                    id = own;
                }
                let new_id = tx.next_case_id(&prefix, year)?;
                // The desk's unreadable mail of the last hour, counted up to the budget.
                let recent = tx.count_in_series_since(
                    EventKind::Unreadable,
                    &prefix,
                    now - Duration::hours(1),
                    ALERTS_PER_HOUR,
                )?;
                let d = desk::unreadable(&ctx, new_id, (&id, &reason, bytes), recent);
                let meta = Meta {
                    id: id.clone(),
                    from: String::new(),
                    subject: "(unreadable)".into(),
                    raw_id,
                    references: Vec::new(),
                };
                let out = desk.record(tx, d, Some(&meta), now, delivery)?;
                mark(tx, raw_id, RawOutcome::Processed, &id, now)?;
                Ok(out)
            }
            Parsed::Mail(mut m) => {
                // Mail that went on no case, read again (a new UIDVALIDITY refetches it
                // all): the same writing is a duplicate, not a mail to decide again.
                if let Some(theirs) = tx.unfiled_head(&m.message_id, HEAD_BYTES)?
                    && same_writing(&theirs, bytes.get(..HEAD_BYTES).unwrap_or(bytes))
                {
                    mark(tx, raw_id, RawOutcome::Duplicate, &m.message_id, now)?;
                    return Ok(Processed::Duplicate(m.message_id.clone()));
                }
                if tx.message_known(&m.message_id)? {
                    let Some(own) = id_for_reused(tx, &m.message_id, bytes, true)? else {
                        mark(tx, raw_id, RawOutcome::Duplicate, &m.message_id, now)?;
                        return Ok(Processed::Duplicate(m.message_id.clone()));
                    };
                    tracing::warn!(
                        reused = %m.message_id,
                        filed_as = %own,
                        "a mail reuses the Message-ID of another one on file; filed under an id of its own"
                    );
                    m.message_id = own;
                }
                let out = self.route_mail(tx, &m, raw_id, delivery, now)?;
                mark(tx, raw_id, RawOutcome::Processed, &m.message_id, now)?;
                Ok(out)
            }
        }
    }

    /// The desk a readable mail is for: its case's desk when it threads into a case
    /// (whatever address it used), else the desk its addresses name; that desk decides.
    fn route_mail(
        &self,
        tx: &Tx<'_>,
        m: &Mail,
        raw_id: Option<i64>,
        delivery: Delivery,
        now: DateTime<Utc>,
    ) -> store::Result<Processed> {
        let threaded = self.thread(tx, m)?;
        let view = match &threaded {
            Some((id, _)) => self.view_of_case(tx, id)?,
            None => self.view(&self.config.route(m).desk.key),
        };
        view.process_mail(self, tx, m, raw_id, delivery, now, threaded)
    }

    /// The case of a mail across every desk, and the series of desks taken out of the
    /// configuration (their cases are the top level's: a tag of theirs, or the top
    /// level's plus address for one, still names the case).
    fn thread(&self, tx: &Tx<'_>, m: &Mail) -> store::Result<Option<(CaseId, ThreadReason)>> {
        let mut desks: Vec<(&str, &str)> = self
            .all()
            .map(|d| {
                (
                    d.config.desk.address.as_str(),
                    d.config.desk.case_prefix.as_str(),
                )
            })
            .collect();
        let series = tx.case_series()?;
        for prefix in &series {
            if !desks.iter().any(|(_, p)| p.eq_ignore_ascii_case(prefix)) {
                desks.push((self.config.desk.address.as_str(), prefix.as_str()));
            }
        }
        let hosts: Vec<&str> = self
            .all()
            .map(|d| d.config.desk.hostname.as_str())
            .collect();
        threading::find_case_in(m, (&desks, &hosts), tx)
    }

    /// Decides and records a mail on this desk; `top` is the top-level desk, which knows
    /// every desk, and `threaded` the case the mail threads into.
    #[allow(clippy::too_many_arguments)]
    fn process_mail(
        &self,
        top: &Desk,
        tx: &Tx<'_>,
        m: &Mail,
        raw_id: Option<i64>,
        delivery: Delivery,
        now: DateTime<Utc>,
        threaded: Option<(CaseId, ThreadReason)>,
    ) -> store::Result<Processed> {
        let sender = self.sender_of(top, m);
        // A member of another desk whose mail carries commands and threads into no case
        // here wrote to the wrong address: their own desk reads it (authentication and
        // all), so their words never open a report here nor reach this desk's team.
        if threaded.is_none()
            && let Sender::Other(addr) = &sender
            && let Some(home) = top.config.member_elsewhere(self.key(), addr)
            && commands::parse_body(&m.text).has_commands_meant()
        {
            let home = top.view(&home.desk.key);
            return home.process_mail(top, tx, m, raw_id, delivery, now, None);
        }
        let body = matches!(sender, Sender::Team(_)).then(|| commands::parse_body(&m.text));
        let found = match self.find_case(top, tx, body.as_ref(), threaded)? {
            Found::Here(found) => found,
            // The case's desk decides, whichever desk the mail was for.
            Found::Elsewhere(owner, id) => {
                let named = Some((id, ThreadReason::Named));
                return owner.process_mail(top, tx, m, raw_id, delivery, now, named);
            }
        };
        let year = self.config.calendar.local_date(now).year();
        let filing = self.filing(tx, found, year)?;
        // Before the rule for mail after publication: another desk's member acting on a
        // published case opened a new case, acknowledged, with their command lines.
        if let Some(d) = self.refused_elsewhere(top, tx, m, &sender, &filing, now)? {
            let meta = Meta::of(m, raw_id, threading::ancestor_ids(m));
            return self.record(tx, d, Some(&meta), now, delivery);
        }
        let (filing, after) = self.past_publication(tx, m, &sender, filing, year)?;
        let mut facts = self.gather_facts(top, tx, body.as_ref(), &filing, (year, now))?;
        // Only what the desk tells the team of is marked failed: automatic mail on a
        // case that is not in the spam state (`desk::decide`'s arm for it).
        if matches!(sender, Sender::Automatic(_)) {
            facts.bounced = bounced(&self.ctx(now), tx, m, &filing)?;
        }
        if let (Sender::Team(member), Filing::Existing(case, _)) = (&sender, &filing)
            && let Some(b) = body
                .as_ref()
                .filter(|b| b.commands.is_empty() && !b.text.is_empty())
        {
            facts.repeats_own_note = repeats_a_note(tx, &case.id, member, &b.text, now)?;
        }
        if let (Sender::Team(member), Filing::New(_)) = (&sender, &filing)
            && body.as_ref().is_some_and(|b| b.commands.is_empty())
        {
            facts.explained_lately = tx.explained_to_since(
                member,
                now - Duration::hours(1),
                crate::desk::actions::EXPLANATIONS_PER_HOUR,
            )?;
        }
        let recent = self.recent_counts(tx, m, &filing, now)?;
        let mover = match &sender {
            Sender::Team(member) => Some(member.clone()),
            _ => None,
        };
        let incoming = Incoming {
            mail: m,
            sender,
            filing,
            body,
            recent_acks: recent.acks,
            acks_today: recent.acks_today,
            recent_alerts: recent.alerts,
            recent_acks_total: recent.acks_total,
            ack_limit_told: recent.ack_limit_told,
            facts,
        };
        // A publication's commit is made while recording; if git refuses it (a lock left
        // in the checkout, a file the service may not write), the mail is decided again
        // knowing it: `#publish` is refused with git's words, and the rest applies.
        let mut again = incoming
            .facts
            .advisory_repo
            .is_some()
            .then(|| incoming.clone());
        let decide = |incoming: Incoming<'_>| {
            let mut decision = desk::decide(&self.ctx(now), incoming);
            if let Some((thread, why)) = &after
                && decision.opened
            {
                decision_note(&mut decision, m.from_address(), (thread, why));
            }
            decision
        };
        let mut decision = decide(incoming);
        let mut references = threading::ancestor_ids(m);
        references.sort();
        references.dedup();
        let meta = Meta::of(m, raw_id, references);
        let out = loop {
            // Only a `#move` that went through moves the case (not one a `#case` naming
            // another case stopped, nor the second of two).
            let move_to = decision.move_to.clone().zip(mover.clone());
            let Some(mut incoming) = again.take() else {
                break (
                    move_to,
                    self.record(tx, decision, Some(&meta), now, delivery)?,
                );
            };
            match tx.savepoint(|tx| self.record(tx, decision, Some(&meta), now, delivery)) {
                Err(store::StoreError::AdvisoryRepo(why)) => {
                    incoming.facts.advisory_repo =
                        Some(Err(format!("git refused the commit: {why}")));
                    decision = decide(incoming);
                }
                recorded => break (move_to, recorded?),
            }
        };
        match out {
            (Some((target, member)), Processed::Filed { case, .. }) => {
                let target = top.view(top.config.desk_named(&target).map_or("", |c| &c.desk.key));
                self.hand_over(tx, target, &case, &member, now, delivery)
            }
            (_, out) => Ok(out),
        }
    }

    /// Who wrote `m`, as this desk sees it; mail from any desk of this daemon is our own.
    fn sender_of(&self, top: &Desk, m: &Mail) -> Sender {
        let cfg = &self.config;
        let sender = classify::classify(m, &cfg.desk.address, &cfg.team.members);
        if matches!(sender, Sender::Other(_) | Sender::Automatic(_))
            && (top.config.is_any_desk_address(m.from_address())
                || m.header_values(crate::mail::classify::LOOP_HEADER)
                    .any(|v| top.config.is_any_desk_address(v)))
        {
            return Sender::Desk;
        }
        sender
    }

    /// The case the mail is for: the one it threads into, else the one its `#case`
    /// names (which may belong to another desk); none when it asks for `#new`.
    fn find_case<'d>(
        &self,
        top: &'d Desk,
        tx: &Tx<'_>,
        body: Option<&commands::ParsedBody>,
        threaded: Option<(CaseId, ThreadReason)>,
    ) -> store::Result<Found<'d>> {
        let wants_new = body.is_some_and(|b| {
            matches!(
                b.commands.first().map(|c| &c.parsed),
                Some(Ok(Command::New))
            )
        });
        if wants_new {
            return Ok(Found::Here(None));
        }
        if threaded.is_some() {
            return Ok(Found::Here(threaded));
        }
        // A mail that threads nowhere may still name its case with `#case`.
        let named = body.and_then(|b| {
            b.commands.iter().find_map(|c| match &c.parsed {
                Ok(Command::Case(id)) => Some(id.clone()),
                _ => None,
            })
        });
        // An old id (a case handed to another desk) names the case it became.
        let named = match named {
            Some(id) if !tx.case_exists(&id)? => tx.case_alias(&id)?,
            other => other,
        };
        match named {
            Some(id) if tx.case_exists(&id)? => {
                let owner = top.view_of_case(tx, &id)?;
                if owner.key() != self.key() {
                    return Ok(Found::Elsewhere(owner, id));
                }
                Ok(Found::Here(Some((id, ThreadReason::Named))))
            }
            _ => Ok(Found::Here(None)),
        }
    }

    /// The case found, loaded; a new case id when there is none (or it vanished).
    fn filing(
        &self,
        tx: &Tx<'_>,
        found: Option<(CaseId, ThreadReason)>,
        year: i32,
    ) -> store::Result<Filing> {
        if let Some((id, reason)) = found
            && let Some(case) = tx.load_case(&id)?
        {
            return Ok(Filing::Existing(Box::new(case), reason));
        }
        Ok(Filing::New(
            tx.next_case_id(&self.config.desk.case_prefix, year)?,
        ))
    }

    /// Mail from anyone but its reporter or upstream on a published case (a reply to the
    /// announcement or a forward of it, "your fix is incomplete, here is a bypass") is a
    /// new report: a case of its own, acknowledged, with its deadlines. On the published
    /// case it got no answer, no case and no reminder, and the team's `#reply` went to
    /// that case's reporter. An answer to the case's `#forward` is upstream's, from
    /// whatever address (the forward went to a list or an alias; a maintainer answers).
    /// Returns the filing, and the published case it came after.
    fn past_publication(
        &self,
        tx: &Tx<'_>,
        m: &Mail,
        sender: &Sender,
        filing: Filing,
        year: i32,
    ) -> store::Result<(Filing, Option<(CaseId, &'static str)>)> {
        let Some(why) = self.new_report_in_thread(tx, m, sender, &filing)? else {
            return Ok((filing, None));
        };
        let Filing::Existing(case, _) = &filing else {
            return Ok((filing, None));
        };
        let thread = case.id.clone();
        let id = tx.next_case_id(&self.config.desk.case_prefix, year)?;
        Ok((Filing::New(id), Some((thread, why))))
    }

    /// Why mail from an outsider (not the case's reporter, not upstream) in the thread
    /// of a case is a new report rather than the case's: only a reply to it, filed first,
    /// names the case; the case is published (but for an answer to a `#forward`); or the
    /// mail answers its pre-announcement, which went to a public list (a subscriber's "I
    /// found another one" was filed on the embargoed case: no acknowledgement, no case,
    /// no deadline).
    fn new_report_in_thread(
        &self,
        tx: &Tx<'_>,
        m: &Mail,
        sender: &Sender,
        filing: &Filing,
    ) -> store::Result<Option<&'static str>> {
        let (Sender::Other(addr), Filing::Existing(case, reason)) = (sender, filing) else {
            return Ok(None);
        };
        if case.reporter.as_deref() == Some(addr.as_str())
            || case.upstream.iter().any(|u| u == addr)
        {
            return Ok(None);
        }
        // Found only by a reply to it that reached the desk first and opened the case
        // (its sender's server greylisted, the reply sent to all): filed on the replier's
        // case, its author was never answered, and `#reply` went to the replier. (A reply
        // to it filed later on a case, the mail is that case's.)
        if *reason == threading::ThreadReason::ReverseReference
            && tx.message_references(&case.root_message_id, &m.message_id)?
        {
            return Ok(Some("a reply to it reached the desk first"));
        }
        if case.status == crate::types::CaseStatus::Published {
            return Ok((!answers(tx, m, Purpose::Forward)?).then_some("published already"));
        }
        // Its own pre-announcement: a reply to a subscriber's new report, quoting the
        // pre-announcement further up, is that report's.
        for id in threading::ancestor_ids(m) {
            if tx.message_kind_on(&id, &case.id)?.as_deref() == Some(Purpose::Preannounce.as_str())
            {
                return Ok(Some("in answer to its pre-announcement"));
            }
        }
        Ok(None)
    }

    /// A member of another desk has no power over this desk's cases: the decision that
    /// refuses the commands of such a mail, when it has any.
    fn refused_elsewhere(
        &self,
        top: &Desk,
        tx: &Tx<'_>,
        m: &Mail,
        sender: &Sender,
        filing: &Filing,
        now: DateTime<Utc>,
    ) -> store::Result<Option<Decision>> {
        let (Sender::Other(addr), Filing::Existing(case, _)) = (sender, filing) else {
            return Ok(None);
        };
        // The case's own reporter or upstream, who serves on another desk too, writes as
        // such: the mail joins the case as theirs (its `#` lines are text).
        let own = |a: &str| a.eq_ignore_ascii_case(addr);
        if case.reporter.as_deref().is_some_and(own) || case.upstream.iter().any(|u| own(u)) {
            return Ok(None);
        }
        let Some(home) = top.config.member_elsewhere(self.key(), addr) else {
            return Ok(None);
        };
        let body = commands::parse_body(&m.text);
        if !body.has_commands_meant() {
            return Ok(None);
        }
        let lines = body.commands.len();
        // Judged as the member's own desk judges its team's mail: a forged From is told
        // as a claim, never as the colleague's.
        let claim = match &home.team {
            t if t.require_authenticated_commands || m.from_headers.max(m.from_mailboxes) > 1 => {
                match mail::auth::evaluate_mail(m, t.authserv_id.as_deref().unwrap_or(""), addr) {
                    mail::auth::AuthVerdict::Fail { reason } => Some(reason),
                    mail::auth::AuthVerdict::Pass { .. } => None,
                }
            }
            _ => None,
        };
        let home = home.desk_label().to_string();
        Ok(Some(desk::desks::refused_elsewhere(
            &self.ctx(now),
            m,
            (addr, claim.as_deref()),
            &home,
            (**case).clone(),
            lines,
            recent_alerts(
                tx,
                now,
                (
                    case.id.prefix(),
                    self.config.team.recipients().first().map(String::as_str),
                ),
            )?,
        )))
    }

    /// What the decision needs from the store and the advisory repository.
    fn gather_facts(
        &self,
        top: &Desk,
        tx: &Tx<'_>,
        body: Option<&commands::ParsedBody>,
        filing: &Filing,
        (year, now): (i32, DateTime<Utc>),
    ) -> store::Result<Facts> {
        let cfg = &self.config;
        let asks = |wanted: fn(&Command) -> bool| {
            body.is_some_and(|b| {
                b.commands
                    .iter()
                    .any(|c| c.parsed.as_ref().is_ok_and(wanted))
            })
        };
        let publishes = asks(|c| matches!(c, Command::Publish { .. }));
        // The advisory numbers on file are read for team commands only (a report or a
        // reply never publishes).
        let commands = body.is_some_and(|b| !b.commands.is_empty());
        let mut next = if commands {
            tx.highest_advisory_number(&cfg.publish.advisory_prefix, year)?
        } else {
            0
        };
        let mut advisory_repo = None;
        if publishes && let Some(repo) = &cfg.publish.advisory_repo {
            // The repository is read only when the mail asks to publish.
            let state = advisory_repo::check(repo).and_then(|()| {
                let case = match filing {
                    Filing::Existing(c, _) => c.id.to_string(),
                    Filing::New(id) => id.to_string(),
                };
                advisory_repo::highest_number(repo, &cfg.publish.advisory_prefix, year, &case)
                    .map_err(|e| format!("cannot read {}: {e}", repo.display()))
            });
            advisory_repo = Some(state.map(|highest| next = next.max(highest)));
        }
        // A case of a desk no longer configured is the top level's to handle, and to
        // move anywhere, the top level included (as the start's warning advises).
        let orphan = match filing {
            Filing::Existing(c, _) => tx
                .case_desk(&c.id)?
                .is_some_and(|k| !k.is_empty() && top.config.desk_named(&k).is_none()),
            Filing::New(_) => false,
        };
        let mut facts = Facts {
            next_advisory: publication::Numbering {
                prefix: cfg.publish.advisory_prefix.clone(),
                year,
                next: next + 1,
            },
            advisory_repo,
            other_desks: top
                .all()
                .filter(|d| orphan || d.key() != self.key())
                .map(|d| d.config.desk_label().to_string())
                .collect(),
            desk_addresses: top.all().map(|d| d.config.desk.address.clone()).collect(),
            announce_lists: top
                .all()
                .filter_map(|d| d.config.publish.announce.clone())
                .collect(),
            ..Facts::default()
        };
        for c in body.iter().flat_map(|b| &b.commands) {
            let Ok(Command::Duplicate(id)) = &c.parsed else {
                continue;
            };
            // An old id names the case it became when it moved (`#move`); another desk's
            // case is no case here (need-to-know), and a removed desk's are the top's.
            let found = match tx.case_exists(id)? {
                true => Some(id.clone()),
                false => tx.case_alias(id)?,
            };
            if let Some(found) = found
                && top.view_of_case(tx, &found)?.key() == self.key()
            {
                facts.known_cases.insert(id.clone(), found);
            }
        }
        if let Filing::Existing(case, _) = filing {
            // An old id `#case` names (the case was handed to this desk) is this case.
            for c in body.iter().flat_map(|b| &b.commands) {
                if let Ok(Command::Case(id)) = &c.parsed
                    && *id != case.id
                    && tx.case_alias(id)?.as_ref() == Some(&case.id)
                {
                    facts.former_ids.insert(id.clone());
                }
            }
            // What every mail reads of its case is bounded by time, not by the case's age:
            // the events of loop protection's window. The whole history is read for the
            // commands that show, publish or release it (acknowledged once).
            let since = now - Duration::minutes(crate::desk::relay::WINDOW_MINUTES);
            if asks(|c| {
                matches!(
                    c,
                    Command::Show | Command::Publish { .. } | Command::NotSpam | Command::Reopen
                )
            }) {
                facts.timeline = tx.events(&case.id)?;
                facts.recent = Recent::of(facts.timeline.iter().cloned(), since);
            } else {
                let (events, overflow) = tx.events_since(&case.id, since, MAX_RECENT)?;
                facts.recent = Recent { events, overflow };
            }
            // Only `#forward` and `#notspam` quote the report (to the maintainer, to the
            // team), and `#move` says whether its sender is told (not a machine): parsing
            // it again (it may be 50 MB) inside the write transaction is done for those
            // commands alone.
            if asks(|c| matches!(c, Command::Forward(_) | Command::NotSpam | Command::Move(_))) {
                let read = self.report(tx, case)?;
                facts.report_text = read.text;
                facts.report_automatic = read.automatic;
                facts.report_attachments = read.files;
                facts.report_sender = read.sender;
                facts.report_by_team = read.by_team;
            }
            // What `#reply` and a publication thread under: read for team commands only.
            if commands {
                facts.reporter_last_message = reporter_last_message(tx, case)?;
            }
        }
        Ok(facts)
    }

    /// The rate limits' counts for a mail from `m`'s sender. Refused commands are
    /// counted in the series of the case the mail is on (a desk taken out of the
    /// configuration leaves its cases, and their series, to the top level), else in
    /// this desk's.
    fn recent_counts(
        &self,
        tx: &Tx<'_>,
        m: &Mail,
        filing: &Filing,
        now: DateTime<Utc>,
    ) -> store::Result<RecentCounts> {
        let own = self.config.desk.case_prefix.as_str();
        let series = match filing {
            Filing::Existing(case, _) => case.id.prefix(),
            _ => own,
        };
        let policy = &self.config.policy;
        let window = Duration::from_std(policy.ack_rate_limit.window)
            .unwrap_or_else(|_| Duration::minutes(10));
        let total_window = Duration::from_std(policy.ack_rate_limit_total.window)
            .unwrap_or_else(|_| Duration::hours(1));
        Ok(RecentCounts {
            acks: tx.count_acks_to_mailbox(m.from_address(), now - window)?,
            acks_today: tx.count_acks_to_mailbox(m.from_address(), now - Duration::days(1))?,
            // Each desk's own: a flood on one desk's address holds back no other's.
            acks_total: tx.count_acks_since(own, now - total_window)?,
            ack_limit_told: tx.ack_limit_told_since(own, now - total_window)?,
            alerts: recent_alerts(
                tx,
                now,
                (
                    series,
                    self.config.team.recipients().first().map(String::as_str),
                ),
            )?,
        })
    }

    /// `#move`: the case takes an id in `target`'s series and joins it with its whole
    /// history; the old id stays as an alias; both teams and the reporter are told.
    fn hand_over(
        &self,
        tx: &Tx<'_>,
        target: &Desk,
        old_id: &CaseId,
        actor: &str,
        now: DateTime<Utc>,
        delivery: Delivery,
    ) -> store::Result<Processed> {
        let Some(mut case) = tx.load_case(old_id)? else {
            return Err(store::StoreError::Corrupt(format!(
                "the case {old_id} vanished while it was moved"
            )));
        };
        // A responder who is not on the new desk's team keeps neither the case nor its
        // reminders.
        let left = case.assignee.take_if(|a| !target.config.team.is_member(a));
        let year = target.config.calendar.local_date(now).year();
        let new_id = tx.next_case_id(&target.config.desk.case_prefix, year)?;
        let read = self.report(tx, &case)?;
        let reporter_last = reporter_last_message(tx, &case)?;
        tx.move_case(&case, &new_id, target.key(), now)?;
        let mut moved = case;
        moved.id = new_id.clone();
        let (from_ctx, to_ctx) = (self.ctx(now), target.ctx(now));
        let (event, outgoing) = desk::desks::HandOver {
            from: &from_ctx,
            to: &to_ctx,
            case: &moved,
            old_id,
            actor,
            report_text: &read.text,
            reporter_last,
            left_responder: left.as_deref(),
            automatic_report: read.automatic,
            report_sender: &read.sender,
            opened_by_team: read.by_team,
        }
        .decide();
        tx.insert_event(&new_id, now, &event, None)?;
        if delivery == Delivery::Send {
            // The old desk's notice comes from the old desk, the rest from the new one.
            let mut outgoing = outgoing.into_iter();
            if let Some(first) = outgoing.next() {
                self.enqueue(tx, &first, now)?;
            }
            let mut n = 1;
            for out in outgoing {
                target.enqueue(tx, &out, now)?;
                n += 1;
            }
            target.replan(tx, &moved, now)?;
            tracing::info!(old = %old_id, new = %new_id, desk = target.key(), mails = n, "case moved");
        }
        Ok(Processed::Filed {
            case: new_id,
            opened: false,
            kind: MessageKind::Team,
            outgoing: 0,
        })
    }

    /// The mail that opened the case: its text, why a machine sent it if one did, its
    /// files, its sender, and whether the team wrote it (`#new`). A mail filed
    /// unreadable (or set aside after its processing failed again and again) is not
    /// parsed again: the parser may be what failed, in this process.
    fn report(&self, tx: &Tx<'_>, case: &Case) -> store::Result<ReportRead> {
        let kind = tx.message_kind(&case.root_message_id)?;
        let mut read = ReportRead {
            by_team: kind.as_deref() == Some(MessageKind::Team.as_str()),
            ..ReportRead::default()
        };
        if kind.as_deref() == Some(MessageKind::Unreadable.as_str()) {
            read.text = "(the report could not be read)".into();
            return Ok(read);
        }
        if let Some(raw) = tx.raw_bytes_of_message(&case.root_message_id)? {
            match mail::parse(&raw) {
                Parsed::Mail(m) => {
                    read.automatic = classify::automatic_reason(&m).map(|r| r.describe());
                    read.sender = desk::sender_display(&m);
                    read.files = m.attachments.into_iter().map(|(name, _, _)| name).collect();
                    read.text = m.text;
                }
                Parsed::Unreadable { .. } => read.text = "(the report could not be read)".into(),
            }
        }
        Ok(read)
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
            repo_commit,
            move_to: _, // carried out by the caller, once this is recorded
        } = d;
        let message_id = incoming.map(|i| i.id.clone());
        if let Some(c) = &case {
            if opened {
                tx.insert_case(c)?;
                if !self.key().is_empty() {
                    tx.set_case_desk(&c.id, self.key())?;
                }
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
                // Mail from the past was answered (or not) back then: the desk claims no
                // acknowledgement it did not send.
                if delivery == Delivery::Suppress && e.kind == EventKind::Acknowledged {
                    let filed = crate::desk::case::NewEvent::new(
                        EventKind::AckSuppressed,
                        crate::desk::case::DESK_ACTOR,
                        "filed from the past (history or import): no acknowledgement sent",
                    );
                    tx.insert_event(&c.id, now, &filed, message_id.as_ref())?;
                    continue;
                }
                tx.insert_event(&c.id, now, e, message_id.as_ref())?;
                if e.kind == EventKind::AckLimit {
                    tx.mark_ack_limit_told(&c.id, now)?;
                }
            }
            // Reminders are for the present: history and imports plan none.
            let one_offs = if delivery == Delivery::Send {
                one_offs
            } else {
                Vec::new()
            };
            for o in &one_offs {
                tx.plan_reminder(
                    &c.id.to_string(),
                    &PlannedRow {
                        kind: ReminderKind::OneOff,
                        due: o.due,
                        deadline: o.due,
                        note: o.note.clone(),
                    },
                )?;
            }
            if delivery == Delivery::Send {
                self.replan(tx, c, now)?;
            }
            // Mail from the past withdraws (nothing goes), but gives back nothing to send.
            let present = delivery == Delivery::Send;
            self.spam_moves_the_ack(tx, c, (&events, present), (message_id.as_ref(), now))?;
            if present && c.is_open() && crate::desk::actions::reopens(&events) {
                reopening_gives_back_reminders(tx, c, (message_id.as_ref(), now))?;
            }
        }
        let n = outgoing.len();
        // The publication's commit is made inside the transaction: if git refuses it,
        // nothing of the publication (mail, status, events) is recorded.
        if delivery == Delivery::Send
            && let (Some(rc), Some(repo), Some(c)) =
                (&repo_commit, &self.config.publish.advisory_repo, &case)
        {
            advisory_repo::commit(repo, rc).map_err(store::StoreError::AdvisoryRepo)?;
            if self.config.publish.push {
                tx.queue_advisory_push(&c.id, &rc.branch, now)?;
            }
        }
        if delivery == Delivery::Send {
            // A notice carrying the incoming mail refers to its stored bytes.
            let carried = incoming.and_then(|i| i.raw_id);
            for out in &outgoing {
                self.enqueue_carrying(tx, out, carried, now)?;
            }
        }
        Ok(match (case, message_id) {
            (Some(c), _) => Processed::Filed {
                case: c.id,
                opened,
                kind,
                outgoing: n,
            },
            (None, Some(id)) => {
                tx.note_unfiled(&id, incoming.and_then(|i| i.raw_id))?;
                Processed::Unfiled(id)
            }
            (None, None) => Processed::AlreadyDone,
        })
    }

    /// A case this mail leaves in the spam state answers nobody: its acknowledgement
    /// still waiting (the forged sender's server deferring it) is withdrawn. A case it
    /// takes out of the spam state gets back the acknowledgement withdrawn then, unless
    /// it went meanwhile (it was on the wire): nobody is acknowledged twice, nor missed.
    fn spam_moves_the_ack(
        &self,
        tx: &Tx<'_>,
        c: &Case,
        (events, present): (&[crate::desk::case::NewEvent], bool),
        (message_id, now): (Option<&MessageId>, DateTime<Utc>),
    ) -> store::Result<()> {
        use crate::desk::actions::{ACK_WITHDRAWN, moves_to_spam, releases_from_spam};
        const WHY: &str = "withdrawn: the case was put in the spam state";
        let in_spam = c.status == crate::types::CaseStatus::Spam;
        let (n, said) = if in_spam && moves_to_spam(events) {
            (
                tx.withdraw_pending(&c.id, Purpose::Ack, WHY)?,
                ACK_WITHDRAWN,
            )
        } else if present && !in_spam && releases_from_spam(events) {
            let said = "the acknowledgement withdrawn with the spam state is queued again";
            (tx.restore_withdrawn_acks(&c.id, WHY, now)?, said)
        } else {
            return Ok(());
        };
        if n > 0 {
            let ev = crate::desk::case::NewEvent::new(
                EventKind::DeliveryFailed,
                crate::desk::case::DESK_ACTOR,
                said,
            );
            tx.insert_event(&c.id, now, &ev, message_id)?;
        }
        Ok(())
    }

    /// Renders and queues an outgoing mail, filing it on its case for threading.
    pub fn enqueue(
        &self,
        tx: &Tx<'_>,
        out: &outgoing::Outgoing,
        now: DateTime<Utc>,
    ) -> store::Result<()> {
        self.enqueue_carrying(tx, out, None, now)
    }

    /// [`Desk::enqueue`], while the incoming mail is stored as raw mail `incoming`: a
    /// copy carrying that mail refers to its bytes instead of holding them
    /// ([`outgoing::Original`]).
    fn enqueue_carrying(
        &self,
        tx: &Tx<'_>,
        out: &outgoing::Outgoing,
        incoming: Option<i64>,
        now: DateTime<Utc>,
    ) -> store::Result<()> {
        // Rendered once: the copies below differ only in To and Message-ID, so the text
        // and attachments are encoded once however large the team.
        let (address, name) = (&self.config.desk.address, &self.config.desk.name);
        let mut prepared = outgoing::prepare_referring(out, address, name, now, incoming);
        // One copy per recipient: each is delivered, retried or refused on its own, so an
        // address the server refuses (a member who left) never keeps a new report from the
        // rest of the team. Members also do not see each other's addresses.
        if out.to.len() > 1 {
            for r in &out.to {
                self.enqueue_one(tx, out, std::slice::from_ref(r), &mut prepared, now)?;
            }
            return Ok(());
        }
        self.enqueue_one(tx, out, &out.to, &mut prepared, now)
    }

    /// Queues the copy of `out` for `to`, or records why it could not be written.
    fn enqueue_one(
        &self,
        tx: &Tx<'_>,
        out: &outgoing::Outgoing,
        to: &[String],
        prepared: &mut Result<outgoing::Prepared, outgoing::ComposeError>,
        now: DateTime<Utc>,
    ) -> store::Result<()> {
        let id = self.next_message_id(out.case.as_ref(), out.purpose, now);
        let composed = match prepared {
            Ok(p) => p.copy(to, &id),
            Err(e) => Err(e.clone()),
        };
        match composed {
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
                    let detail = format!(
                        "could not write the {} mail to {}: {e}",
                        out.purpose.as_str(),
                        to.join(", ")
                    );
                    // The same as a refusal by the server: the recipient will not get it.
                    let error = e.to_string();
                    let failed = crate::outgoing::Undelivered {
                        purpose: out.purpose,
                        to: to.to_vec(),
                        carries_attachments: false,
                        text: None,
                        about: None,
                    };
                    self.undelivered(tx, case, &failed, &error, detail, now)?;
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
        // The case as it is now (the row was read before it went out; a `#move` since
        // gave the case a new id).
        let Some(case) = &tx.outbox_case(row.id)? else {
            return Ok(());
        };
        let detail = format!(
            "the {} mail to {} could not be delivered: {error}",
            row.purpose.as_str(),
            row.recipients.join(", ")
        );
        // The case's desk's team hears of it, from the case's desk.
        let owner = self.view_of_case(tx, case)?;
        // A notice refused for what it carried is sent again plain: with its own words.
        let text = (row.purpose == Purpose::TeamNotice && row.carries_attachments)
            .then(|| crate::outgoing::text_of(&row.bytes))
            .flatten()
            // Sent again with nothing attached.
            .map(|t| t.replace(crate::desk::WHOLE_ATTACHED, crate::desk::WHOLE_IN_MAILBOX));
        let failed = crate::outgoing::Undelivered {
            purpose: row.purpose,
            to: row.recipients.clone(),
            carries_attachments: row.carries_attachments,
            text,
            about: None,
        };
        owner.undelivered(tx, case, &failed, error, detail, now)
    }

    /// The relay has deferred `row` at each of its `tries` tries: its case says so, and
    /// the case's team is told when it was meant for someone outside the team (they have
    /// heard nothing). The mail stays queued.
    pub fn delivery_delayed(
        &self,
        tx: &Tx<'_>,
        row: &OutboxRow,
        (error, tries): (&str, u32),
        now: DateTime<Utc>,
    ) -> store::Result<()> {
        let Some(case) = &tx.outbox_case(row.id)? else {
            return Ok(());
        };
        let waited = crate::text::fmt_age(now.signed_duration_since(row.created_at));
        let detail = format!(
            "the {} mail to {} is not delivered yet after {tries} tries over {waited}: {error}; still trying",
            row.purpose.as_str(),
            row.recipients.join(", ")
        );
        let ev = crate::desk::case::NewEvent::new(
            EventKind::DeliveryFailed,
            crate::desk::case::DESK_ACTOR,
            detail,
        );
        tx.insert_event(case, now, &ev, None)?;
        let owner = self.view_of_case(tx, case)?;
        let what = (row.purpose, row.recipients.as_slice());
        match desk::delivery_delayed(&owner.ctx(now), case, what, (tries, &waited), error) {
            Some(alert) => owner.enqueue(tx, &alert, now),
            None => Ok(()),
        }
    }

    /// A mail for `to` on `case` will not arrive: the case says so (`detail`), and this
    /// desk's team is told when the mail was meant for someone outside it.
    fn undelivered(
        &self,
        tx: &Tx<'_>,
        case: &CaseId,
        failed: &crate::outgoing::Undelivered,
        error: &str,
        detail: String,
        now: DateTime<Utc>,
    ) -> store::Result<()> {
        let ev = crate::desk::case::NewEvent::new(
            EventKind::DeliveryFailed,
            crate::desk::case::DESK_ACTOR,
            detail,
        );
        tx.insert_event(case, now, &ev, None)?;
        match desk::delivery_failed(&self.ctx(now), case, failed, error) {
            Some(alert) => self.enqueue(tx, &alert, now),
            None => Ok(()),
        }
    }

    /// Plans the case's reminders from its current state.
    pub fn replan(&self, tx: &Tx<'_>, c: &Case, now: DateTime<Utc>) -> store::Result<()> {
        let scope = c.id.to_string();
        // In the spam state the team's own one-off reminders wait (those due meanwhile
        // are dropped when due): `#notspam` after a `#spam` by mistake gives them back.
        if c.status == crate::types::CaseStatus::Spam {
            return tx.replan(&scope, now, &[ReminderKind::OneOff], &[]);
        }
        if !c.is_open() {
            // Nor does one already queued go: the relay may have held it for hours.
            if tx.withdraw_pending(&c.id, Purpose::Reminder, REMINDERS_WITHDRAWN)? > 0 {
                let said =
                    "a reminder waiting for the relay was withdrawn: the case is no longer open";
                let ev = NewEvent::new(EventKind::DeliveryFailed, DESK_ACTOR, said);
                tx.insert_event(&c.id, now, &ev, None)?;
            }
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
            fixed_at: c
                .fixed_at
                .filter(|_| c.status == crate::types::CaseStatus::Fixed),
        };
        let mut plan: Vec<PlannedRow> =
            deadlines::plan(&self.config.calendar, &self.policy(), &times, now)
                .into_iter()
                .map(|p| PlannedRow {
                    note: match (&p.kind, c.embargo_end, times.fixed_at) {
                        (
                            ReminderKind::Embargo { .. } | ReminderKind::EmbargoOverdue,
                            Some(end),
                            _,
                        ) => deadlines::embargo_note(end),
                        (ReminderKind::FixedUnpublished, _, Some(fixed)) => {
                            deadlines::fixed_note(fixed)
                        }
                        _ => String::new(),
                    },
                    kind: p.kind,
                    due: p.due,
                    deadline: p.deadline,
                })
                .collect();
        self.keep_repeats_to_one_a_day(tx, &scope, &mut plan)?;
        if let Some(end) = c.embargo_end {
            self.keep_embargo_reminders(tx, &scope, end, &mut plan, now)?;
        }
        keep_first_response(tx, &scope, &mut plan, now)?;
        tx.replan(&scope, now, &[ReminderKind::OneOff], &plan)
    }

    /// A repeating reminder (the first response's, an overdue embargo's, an unpublished
    /// fix's) goes at most once a local day, whatever moved its moment: planned on a day
    /// one of the same kind and note was already due or sent (later working hours or a
    /// zone further west, at a restart), it is planned at its next repeat instead.
    fn keep_repeats_to_one_a_day(
        &self,
        tx: &Tx<'_>,
        scope: &str,
        plan: &mut [PlannedRow],
    ) -> store::Result<()> {
        let cal = &self.config.calendar;
        let mut rows = None;
        for p in plan.iter_mut() {
            if deadlines::next_repeat(cal, &p.kind, p.due).is_none() {
                continue;
            }
            let rows = match &mut rows {
                Some(rows) => rows,
                None => rows.insert(tx.reminders_of(scope)?),
            };
            let kind = p.kind.as_str();
            let days: Vec<chrono::NaiveDate> = rows
                .iter()
                .filter(|r| r.state == store::ReminderState::Sent)
                .filter(|r| r.kind == kind && r.note == p.note)
                .flat_map(|r| [Some(r.due), r.sent_at])
                .flatten()
                .map(|t| cal.local_date(t))
                .collect();
            // A few steps at most: one for each day those rows cover.
            for _ in 0..=days.len() {
                if !days.contains(&cal.local_date(p.due)) {
                    break;
                }
                match deadlines::next_repeat(cal, &p.kind, p.due) {
                    Some(next) => p.due = next,
                    None => break,
                }
            }
        }
        Ok(())
    }

    /// An embargo reminder keeps to "once, for each end date", whatever moved its moment
    /// (a time zone or working hours changed at a restart, a `#move` to a desk in
    /// another zone): one already sent for this end is not planned again, and one still
    /// to come that the new moment puts in the past is sent now rather than never (the
    /// re-planning cancels what is to come, and plans only what is still ahead).
    fn keep_embargo_reminders(
        &self,
        tx: &Tx<'_>,
        scope: &str,
        end: chrono::NaiveDate,
        plan: &mut Vec<PlannedRow>,
        now: DateTime<Utc>,
    ) -> store::Result<()> {
        let instant = deadlines::embargo_end_instant(&self.config.calendar, end);
        let rows = tx.reminders_of(scope)?;
        let for_this_end = |r: &store::ReminderRow| match deadlines::embargo_of_note(&r.note) {
            Some(d) => d == end,
            None => r.deadline == instant,
        };
        let offsets = rows.iter().filter(|r| {
            matches!(
                ReminderKind::parse(&r.kind),
                Some(ReminderKind::Embargo { .. })
            ) && for_this_end(r)
        });
        let (mut sent, mut coming) = (Vec::new(), Vec::new());
        for r in offsets {
            match r.state {
                // One past its moment and still pending goes out late at the next pass:
                // as good as sent.
                store::ReminderState::Sent => sent.push(r.kind.clone()),
                store::ReminderState::Pending if r.due <= now => sent.push(r.kind.clone()),
                store::ReminderState::Pending => coming.push(r.kind.clone()),
                store::ReminderState::Cancelled => {}
            }
        }
        plan.retain(|p| !sent.contains(&p.kind.as_str()));
        for kind in coming {
            let planned = plan.iter().any(|p| p.kind.as_str() == kind);
            // Only an offset the policy still asks for (one taken out of it is not sent).
            let asked = |k: &ReminderKind| match k {
                ReminderKind::Embargo { offset_days } => {
                    self.config.policy.embargo_reminders.contains(offset_days)
                }
                _ => false,
            };
            if let Some(k) = ReminderKind::parse(&kind).filter(|k| !planned && asked(k)) {
                plan.push(PlannedRow {
                    kind: k,
                    due: now,
                    deadline: instant,
                    note: deadlines::embargo_note(end),
                });
            }
        }
        Ok(())
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

impl Meta {
    /// The incoming `m`, stored as `raw_id`, with the ids it references.
    fn of(m: &Mail, raw_id: Option<i64>, references: Vec<MessageId>) -> Meta {
        Meta {
            id: m.message_id.clone(),
            from: m.from_address().to_string(),
            subject: m.subject.clone(),
            raw_id,
            references,
        }
    }
}

/// Where the case of a mail is decided.
enum Found<'d> {
    /// By the desk the mail was routed to: the case it threads into or names, if any.
    Here(Option<(CaseId, ThreadReason)>),
    /// By another desk, whose case the mail names with `#case`.
    Elsewhere(&'d Desk, CaseId),
}

/// What the rate limits count for one incoming mail.
struct RecentCounts {
    /// Acknowledgements sent to this sender's mailbox (plus addresses included) within
    /// the rate-limit window.
    acks: u32,
    /// Acknowledgements sent to this sender's mailbox within the last day.
    acks_today: u32,
    /// Acknowledgements the whole desk sent within the total window.
    acks_total: u32,
    /// Whether the team was already told, in that window, that acks are held back.
    ack_limit_told: bool,
    /// Alerts about refused commands within the last hour (capped past the limit).
    alerts: u32,
}

/// Alerts about refused commands sent within the last hour, counted up to one past the
/// hourly limit: those on a case (its `Refused` events) and those on none (their team
/// notices to `member`, the first of this desk's team: one per alert, and none of
/// another desk's team of other members).
fn recent_alerts(
    tx: &Tx<'_>,
    now: DateTime<Utc>,
    (series, member): (&str, Option<&str>),
) -> store::Result<u32> {
    let since = now - Duration::hours(1);
    let on_cases =
        tx.count_in_series_since(EventKind::Refused, series, since, ALERTS_PER_HOUR + 1)?;
    let on_none = match member {
        Some(m) => tx.count_caseless_notices_since(m, since, ALERTS_PER_HOUR + 1)?,
        None => 0,
    };
    Ok(on_cases.saturating_add(on_none))
}

/// The desk's mails on the case, sent and not known to have failed, that `m`, a
/// delivery report saying a mail failed for good, names among the mails it carries (one
/// lookup each, by the outbox's unique Message-ID; at most `MAX_IDS`); each is marked
/// failed.
fn bounced(
    ctx: &crate::desk::Ctx<'_>,
    tx: &Tx<'_>,
    m: &Mail,
    filing: &Filing,
) -> store::Result<Vec<crate::outgoing::Undelivered>> {
    let Filing::Existing(case, _) = filing else {
        return Ok(Vec::new());
    };
    if !m.undeliverable || case.status == crate::types::CaseStatus::Spam {
        return Ok(Vec::new());
    }
    // A report may name one mail many times, and anyone who got the mail can send one:
    // each mail is looked up once, and marked failed as it is found, so that it is told
    // once for good.
    let ids: std::collections::BTreeSet<&MessageId> = m.embedded_ids.iter().collect();
    let error = format!(
        "a delivery report came back from {}: {}",
        m.from_address(),
        m.subject
    );
    let mut found = Vec::new();
    // A team notice refused for what it carried is sent again plain: with the text of
    // the mail it was about, read back (the sent row kept its headers). Each such mail
    // is read once (every member's copy names the same), and at most [`READ_BACK`] for
    // one report: parsing is the heaviest step, and this is inside the transaction.
    let mut read_back: std::collections::BTreeMap<MessageId, Option<String>> =
        std::collections::BTreeMap::new();
    for id in ids {
        if let Some(mut failed) = tx.sent_on_case(&case.id, id)? {
            tx.mark_bounced(id, &crate::sanitize::one_line(&error))?;
            if failed.purpose == Purpose::TeamNotice
                && failed.carries_attachments
                && let Some(about) = failed.about.clone()
            {
                if !read_back.contains_key(&about) && read_back.len() < READ_BACK {
                    let text = text_read_back(ctx, tx, &about)?;
                    read_back.insert(about.clone(), text);
                }
                failed.text = read_back.get(&about).cloned().flatten();
            }
            found.push(failed);
        }
    }
    Ok(found)
}

/// How many different mails one delivery report has read back for the notices it names.
const READ_BACK: usize = 2;

/// The text a plain notice gives of the mail `about`: its sender and its text, cut as a
/// notice's is; suspect mail said to be so, as the notice said it.
fn text_read_back(
    ctx: &crate::desk::Ctx<'_>,
    tx: &Tx<'_>,
    about: &MessageId,
) -> store::Result<Option<String>> {
    let Some(raw) = tx.raw_bytes_of_message(about)? else {
        return Ok(None);
    };
    let Parsed::Mail(mail) = mail::parse(&raw) else {
        return Ok(None);
    };
    let warning = desk::spam::suspect_note(&desk::spam::verdict(ctx, &mail))
        .map(|n| format!("Note: {n}\n"))
        .unwrap_or_default();
    Ok(Some(format!(
        "{warning}From: {}\n\n{}",
        crate::desk::sender_display(&mail),
        crate::desk::cut_for_team(&mail.text, crate::desk::WHOLE_IN_MAILBOX)
    )))
}

/// Whether `text`, a note of `member`'s with no command, repeats word for word one of
/// theirs on `case` from the last day: the notes recorded with the same first line (a
/// few, the newest) are read again whole. A responder's does; a person's "Hi all," with
/// new words after it does not.
fn repeats_a_note(
    tx: &Tx<'_>,
    case: &CaseId,
    member: &str,
    text: &str,
    now: DateTime<Utc>,
) -> store::Result<bool> {
    let note = crate::desk::actions::team_note(text);
    let since = now - Duration::days(1);
    for id in tx.recorded_since(case, (EventKind::TeamMail, member), (&note, since), 3)? {
        let Some(raw) = tx.raw_bytes_of_message(&id)? else {
            continue;
        };
        if let Parsed::Mail(m) = mail::parse(&raw)
            && commands::parse_body(&m.text).text == text
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The history of a case opened by mail in the thread of another (`thread`) says so, and
/// why, for the team.
fn decision_note(d: &mut Decision, from: &str, (thread, why): (&CaseId, &str)) {
    d.events.push(crate::desk::case::NewEvent::new(
        EventKind::Changed,
        crate::desk::case::DESK_ACTOR,
        format!(
            "opened as a new report: {} wrote in the thread of {thread}, {why}",
            crate::sanitize::one_line(from)
        ),
    ));
}

/// The reporter's latest message on `case` (what `#reply` answers).
fn reporter_last_message(tx: &Tx<'_>, case: &Case) -> store::Result<Option<MessageId>> {
    let Some(rep) = &case.reporter else {
        return Ok(None);
    };
    tx.last_message_from(&case.id, rep)
}

/// A pending raw mail read for processing: its bytes (shared with the parsed mail), how it
/// arrived, and the parse.
type Pending = (Arc<Vec<u8>>, Arrival, Parsed);

/// Mails just stored, their first attempt counted, parsed and waiting to be filed
/// ([`Desk::file_stored`]). Parsing needs no database: the ingest parses the next batch
/// on another thread while this one is filed, and only after its bytes are committed
/// (a mail that kills the desk while it is parsed has its attempt counted).
pub struct Fresh(Vec<(i64, Pending)>);

impl Fresh {
    /// Parses stored mails (raw id, bytes, arrival), in order.
    pub fn parse(stored: Vec<(i64, Arc<Vec<u8>>, Arrival)>) -> Fresh {
        Fresh(
            stored
                .into_iter()
                .map(|(id, bytes, arrival)| {
                    let mail = mail::parse_shared(Arc::clone(&bytes));
                    (id, (bytes, arrival, mail))
                })
                .collect(),
        )
    }

    /// The raw ids, in order.
    pub fn raw_ids(&self) -> Vec<i64> {
        self.0.iter().map(|(id, _)| *id).collect()
    }
}

/// The attempts counted for the mails a batch did not reach are given back.
fn give_back_untried(tx: &Tx<'_>, raw_ids: &[i64], items: &[BatchItem]) -> store::Result<()> {
    for (raw_id, item) in raw_ids.iter().zip(items) {
        if *item == BatchItem::Untried {
            tx.release_raw_attempt(*raw_id)?;
        }
    }
    Ok(())
}

/// Reads and parses the pending raw mail `raw_id` outside any write transaction (parsing
/// is the heaviest step and needs nothing from the database); `None` when it is no longer
/// pending.
fn read_pending(store: &mut Store, raw_id: i64) -> store::Result<Option<Pending>> {
    Ok(store
        .read(|tx| tx.pending_raw(raw_id))?
        .map(|(bytes, arrival)| {
            let bytes = Arc::new(bytes);
            let parsed = mail::parse_shared(Arc::clone(&bytes));
            (bytes, arrival, parsed)
        }))
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

/// Whether `m` answers one of the desk's mails of `purpose` (a `#forward`), by its
/// `In-Reply-To` or `References`, bounded by `mail::MAX_IDS` each.
fn answers(tx: &Tx<'_>, m: &Mail, purpose: Purpose) -> store::Result<bool> {
    for id in threading::ancestor_ids(m) {
        if tx.message_kind(&id)?.as_deref() == Some(purpose.as_str()) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// How much of a mail on file is read to tell a copy of it from another mail under its
/// Message-ID: its header block, where the `Date` is.
const HEAD_BYTES: usize = 64 << 10;

/// A mail under the Message-ID of one on file is a copy of it (a second delivery, a
/// list's or another relay's copy) when it was written at the same moment: same `Date`,
/// read from the first [`HEAD_BYTES`] of each; or, neither having a `Date` (a script
/// writing to the MX), the same body (relays add header lines, not text; a body that
/// merely begins like an earlier one, or an empty earlier one, is no copy of it: a
/// report lost is worse than one filed twice). A copy reads as its original does: a readable mail is no copy of one
/// filed unreadable, nor the reverse (whose header, which may be what made it
/// unreadable, is not read again). Another mail reusing the id (a careless client, a
/// web form or a script writing one id on all its mail) is filed under an id of its
/// own, made from the id and its `Date`, so its own copies are copies too: returned,
/// unless that one is on file already. A mail the desk sent has no bytes on file: one
/// coming back under its id is a copy (never a report to answer).
fn id_for_reused(
    tx: &Tx<'_>,
    id: &MessageId,
    bytes: &[u8],
    readable: bool,
) -> store::Result<Option<MessageId>> {
    let unreadable_on_file =
        tx.message_kind(id)?.as_deref() == Some(MessageKind::Unreadable.as_str());
    let head = |b: &[u8]| b.get(..HEAD_BYTES).unwrap_or(b).to_vec();
    let mine = head(bytes);
    let written = mail::date_of(&mine);
    if unreadable_on_file != readable {
        let Some(theirs) = tx.raw_head_of_message(id, HEAD_BYTES)? else {
            return Ok(None);
        };
        if same_writing(&theirs, &mine) {
            return Ok(None);
        }
    }
    let key = format!(
        "{id} {}",
        written.map(|d| d.to_rfc3339()).unwrap_or_default()
    );
    let mut own = mail::synthesized_id(key.as_bytes());
    if written.is_none() {
        // Without a date, the body tells one mail from another.
        let key = [key.as_bytes(), body_of(&mine).trim_ascii_end()].concat();
        own = mail::synthesized_id(&key);
    }
    Ok((!tx.message_known(&own)?).then_some(own))
}

/// Whether two mails' heads are one mail's: see [`id_for_reused`].
fn same_writing(a: &[u8], b: &[u8]) -> bool {
    match (mail::date_of(a), mail::date_of(b)) {
        (Some(x), Some(y)) => x == y,
        (None, None) => body_of(a).trim_ascii_end() == body_of(b).trim_ascii_end(),
        _ => false,
    }
}

/// What follows a mail's header block (empty when none is found).
fn body_of(raw: &[u8]) -> &[u8] {
    let crlf = raw.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4);
    let lf = raw.windows(2).position(|w| w == b"\n\n").map(|i| i + 2);
    let start = match (crlf, lf) {
        (Some(a), Some(b)) => a.min(b),
        (a, b) => a.or(b).unwrap_or(raw.len()),
    };
    raw.get(start..).unwrap_or_default()
}

/// What [`Desk::report`] reads of the mail that opened a case.
#[derive(Debug, Default)]
struct ReportRead {
    text: String,
    automatic: Option<String>,
    files: Vec<String>,
    /// As the team sees it (From, with its name); empty when not at hand.
    sender: String,
    by_team: bool,
}

/// How the close of a case marks its reminders withdrawn from the outbox.
const REMINDERS_WITHDRAWN: &str = "withdrawn: the case is no longer open";

/// A case reopened (closed by mistake) gets back the reminders its close withdrew from
/// the outbox, those queued within the last day: a reminder of its deadline was lost for
/// good, the re-planning taking it for sent. The reminder is given back, not its mail:
/// the scheduler sends it again only if it still applies, to the team as it is now (the
/// case may have moved, its responder left, or the reporter been answered). Older ones
/// are stale.
fn reopening_gives_back_reminders(
    tx: &Tx<'_>,
    c: &Case,
    (message_id, now): (Option<&MessageId>, DateTime<Utc>),
) -> store::Result<()> {
    let since = now - Duration::days(1);
    let given_back = "withdrawn at the close; planned again at the reopening";
    let n = tx.replan_withdrawn_reminders(&c.id, (REMINDERS_WITHDRAWN, given_back), since)?;
    if n > 0 {
        let said = "the reminder withdrawn at the close is planned again";
        let ev = NewEvent::new(EventKind::DeliveryFailed, DESK_ACTOR, said);
        tx.insert_event(&c.id, now, &ev, message_id)?;
    }
    Ok(())
}

/// The first-response reminder of the deadline keeps to "at the deadline": one still to
/// come when a new calendar (a time zone, working hours, holidays, a shorter
/// `policy.first_response`) puts the deadline in the past is sent now. The re-planning
/// cancels what is to come and plans the next working day's start for a deadline past,
/// so the reminder of the deadline's day was skipped, and the next came hours after the
/// deadline the team never heard of.
fn keep_first_response(
    tx: &Tx<'_>,
    scope: &str,
    plan: &mut [PlannedRow],
    now: DateTime<Utc>,
) -> store::Result<()> {
    let Some(first) = plan
        .iter_mut()
        .find(|p| p.kind == ReminderKind::FirstResponse && p.deadline <= now)
    else {
        return Ok(());
    };
    let rows = tx.reminders_of(scope)?;
    let first_response =
        |r: &&store::ReminderRow| ReminderKind::parse(&r.kind) == Some(ReminderKind::FirstResponse);
    let sent = rows
        .iter()
        .filter(first_response)
        .any(|r| r.state == store::ReminderState::Sent);
    let coming = rows
        .iter()
        .filter(first_response)
        .any(|r| r.state == store::ReminderState::Pending && r.due > now);
    if coming && !sent {
        first.due = now;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SecretSources;
    use crate::desk::case::NewEvent;

    /// What a mail reads of its case: the events of loop protection's window, and the
    /// whole history only for the commands that show or publish it (reading it for
    /// every mail made each mail on a long case slower than the one before).
    #[test]
    fn a_mail_reads_its_cases_recent_events_and_the_history_only_when_asked() {
        let text = "[desk]\naddress = \"security@example.org\"\n[imap]\nhost = \"i\"\nusername = \"u\"\n[smtp]\nhost = \"s\"\n[team]\nmembers = [\"alice@example.org\"]\nrequire_authenticated_commands = false\n";
        let config = Config::from_toml(text, &SecretSources::not_needed()).unwrap();
        let desk = Desk::new(config, Templates::load(None).unwrap());
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("facts.db")).unwrap();
        let now = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 11, 30, 12, 0, 0).unwrap();
        let id = CaseId::parse("SEC-2026-0001").unwrap();
        let case = Case::new(
            id.clone(),
            "long".into(),
            None,
            now - Duration::days(30),
            MessageId::from_parts("root", "x.test"),
        );
        let mail = NewEvent::new(EventKind::OtherMail, "x@spam.test", "mail");
        store
            .write(|tx| {
                tx.insert_case(&case)?;
                for i in 0..300 {
                    tx.insert_event(
                        &id,
                        now - Duration::days(1) + Duration::seconds(i),
                        &mail,
                        None,
                    )?;
                }
                tx.insert_event(&id, now - Duration::minutes(1), &mail, None)
            })
            .unwrap();
        let filing = Filing::Existing(Box::new(case), ThreadReason::Named);
        let mut facts = |body: Option<&str>| {
            let body = body.map(commands::parse_body);
            store
                .read(|tx| desk.gather_facts(&desk, tx, body.as_ref(), &filing, (2026, now)))
                .unwrap()
        };
        let plain = facts(None);
        assert_eq!((plain.timeline.len(), plain.recent.events.len()), (0, 1));
        let note = facts(Some("#severity low\n"));
        assert_eq!((note.timeline.len(), note.recent.events.len()), (0, 1));
        let show = facts(Some("#show\n"));
        assert_eq!((show.timeline.len(), show.recent.events.len()), (301, 1));
    }
}
