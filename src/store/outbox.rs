//! The outbox: mail waiting to leave, retried with backoff until the server takes it.

use super::{Result, StoreError, Tx, parse_opt_ts, parse_ts, ts};
use crate::outgoing::{self, Composed, Original, OriginalEncoding, Purpose, Undelivered};
use crate::types::{CaseId, MessageId};
use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};

/// A sent mail larger than this keeps only its headers (see [`Tx::mark_sent`]).
pub const KEEP_WHOLE_UP_TO: i64 = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxState {
    Pending,
    Sent,
    Failed,
}

impl OutboxState {
    /// The text the database keeps.
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxState::Pending => "pending",
            OutboxState::Sent => "sent",
            OutboxState::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<OutboxState> {
        match text {
            "pending" => Some(OutboxState::Pending),
            "sent" => Some(OutboxState::Sent),
            "failed" => Some(OutboxState::Failed),
            _ => None,
        }
    }
}

/// A queued mail that cannot be read back (the database was edited by hand): set aside
/// by the mailer, so the rest still goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadOutboxRow {
    pub id: i64,
    /// Its case, when that much of it can be read.
    pub case: Option<CaseId>,
    pub why: String,
}

/// A team mail, pending or sent, as [`Tx::recent_team_mail`] reads it.
#[derive(Debug, Clone)]
pub struct TeamRow {
    pub id: i64,
    pub case: Option<CaseId>,
    pub purpose: String,
    pub envelope_from: String,
    pub recipients: Vec<String>,
    /// When it was queued, as stored: the copies of one mail to each member share it.
    pub created: String,
    pub pending: bool,
}

/// One queued mail.
#[derive(Debug, Clone)]
pub struct OutboxRow {
    pub id: i64,
    pub case: Option<CaseId>,
    pub purpose: Purpose,
    pub message_id: MessageId,
    pub envelope_from: String,
    pub recipients: Vec<String>,
    /// The whole mail: a row referring to the report it carries is read with the
    /// report's bytes put back in ([`outgoing::assemble`]).
    pub bytes: Vec<u8>,
    /// It carries a mail the desk received (a notice with the report attached).
    pub carries_attachments: bool,
    pub state: OutboxState,
    pub attempts: u32,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

type RawRow = (
    i64,
    Option<String>,
    // Read as text: a purpose this binary does not know (a hand edit, a newer version)
    // makes its row bad, not the whole pass (`convert`).
    String,
    MessageId,
    String,
    String,
    Vec<u8>,
    OutboxState,
    i64,
    String,
    Option<String>,
    Option<String>,
    RawOriginal,
);

/// `original_at`, `original_encoding`, `original_raw_id` and the raw mail's bytes.
type RawOriginal = (Option<i64>, Option<String>, Option<i64>, Option<Vec<u8>>);

/// Every row is read with the raw mail it refers to, if any (`FROM {ROWS}`).
const COLUMNS: &str = "o.id, o.case_id, o.purpose, o.message_id, o.envelope_from, o.recipients, o.bytes, o.state, o.attempts, o.created_at, o.sent_at, o.last_error, o.original_at, o.original_encoding, o.original_raw_id, r.bytes";
const ROWS: &str = "outbox o LEFT JOIN raw_bodies r ON r.raw_id = o.original_raw_id";

/// When the next pending mail is due: SQLite reads the smallest instant of each priority
/// as the first entry of `outbox_claim` under it (its MIN optimization), where a MIN
/// over all pending rows would read that index's whole range. The schema's CHECK allows
/// these two priorities alone (0, acknowledgements; 1, the rest).
const NEXT_DUE_SQL: &str = "SELECT MIN(due) FROM (
    SELECT MIN(next_attempt_at) AS due FROM outbox WHERE state = 'pending' AND priority = 0
    UNION ALL
    SELECT MIN(next_attempt_at) FROM outbox WHERE state = 'pending' AND priority = 1)";

/// The due rows of one pass ([`Tx::due_outbox`]).
#[derive(Debug, Default)]
pub struct DueRows {
    pub rows: Vec<OutboxRow>,
    pub bad: Vec<BadOutboxRow>,
    /// Rows were left due: the pass reached its count or its bytes.
    pub more: bool,
}

/// A row of `SELECT {COLUMNS}` as stored.
fn read_raw(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
        r.get(9)?,
        r.get(10)?,
        r.get(11)?,
        (r.get(12)?, r.get(13)?, r.get(14)?, r.get(15)?),
    ))
}

fn convert(r: RawRow) -> Result<OutboxRow> {
    let (
        id,
        case,
        purpose,
        mid,
        from,
        rcpts,
        stored,
        state,
        attempts,
        created,
        sent,
        err,
        original,
    ) = r;
    let corrupt = |what: &str| StoreError::Corrupt(format!("outbox row {id}: {what}"));
    let purpose =
        Purpose::parse(&purpose).ok_or_else(|| corrupt(&format!("purpose `{purpose}`")))?;
    let carries_attachments = original.2.is_some() || outgoing::carries_attachments(&stored);
    let bytes = match original {
        (None, None, None, _) => stored,
        (Some(at), Some(encoding), Some(raw_id), Some(raw)) => {
            let original = Original {
                raw_id,
                at: usize::try_from(at).map_err(|_| corrupt("the place of its original"))?,
                encoding: OriginalEncoding::parse(&encoding)
                    .ok_or_else(|| corrupt(&format!("original encoding `{encoding}`")))?,
            };
            outgoing::assemble(&stored, &original, &raw).map_err(|e| corrupt(&e.to_string()))?
        }
        _ => return Err(corrupt("its original is missing")),
    };
    Ok(OutboxRow {
        id,
        case: case.and_then(|c| CaseId::parse(&c)),
        purpose,
        message_id: mid,
        envelope_from: from,
        recipients: serde_json::from_str(&rcpts)
            .map_err(|_| StoreError::Corrupt(format!("recipients `{rcpts}`")))?,
        bytes,
        carries_attachments,
        state,
        attempts: attempts as u32,
        created_at: parse_ts(&created)?,
        sent_at: parse_opt_ts(sent)?,
        last_error: err,
    })
}

/// The claim order of a mail: acknowledgements (0) leave before everything else (1), so a
/// backlog's reporters hear back before the team's notices go out.
fn priority(purpose: Purpose) -> i64 {
    match purpose {
        Purpose::Ack => 0,
        _ => 1,
    }
}

impl Tx<'_> {
    /// Queues a composed mail; it may leave at once.
    pub fn enqueue(
        &self,
        mail: &Composed,
        purpose: Purpose,
        case: Option<&CaseId>,
        now: DateTime<Utc>,
    ) -> Result<i64> {
        let primary = mail.recipients.first().cloned().unwrap_or_default();
        self.conn()
            .prepare_cached(
                "INSERT INTO outbox (case_id, purpose, message_id, envelope_from, recipients, primary_rcpt, bytes, created_at, next_attempt_at, priority,
                                     original_raw_id, original_at, original_encoding)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9, ?10, ?11, ?12)",
            )?
            .execute(params![
                case,
                purpose,
                mail.message_id,
                mail.envelope_from,
                serde_json::to_string(&mail.recipients).unwrap_or_else(|_| "[]".into()),
                primary,
                mail.bytes,
                ts(now),
                priority(purpose),
                mail.original.map(|o| o.raw_id),
                mail.original.map(|o| i64::try_from(o.at).unwrap_or(i64::MAX)),
                mail.original.map(|o| o.encoding.as_str()),
            ])?;
        let id = self.conn().last_insert_rowid();
        if purpose == Purpose::Ack {
            let minute = minute_of(now);
            let series = case.map(|c| format!("{}-", c.prefix())).unwrap_or_default();
            self.exec(
                "INSERT INTO ack_counts (series, minute, n) VALUES (?1, ?2, 1) ON CONFLICT (series, minute) DO UPDATE SET n = n + 1",
                params![series, minute],
            )?;
            // Minutes older than any window worth configuring go (the series' own,
            // through the key).
            self.exec(
                "DELETE FROM ack_counts WHERE series = ?1 AND minute < ?2",
                params![series, minute_of(now - chrono::Duration::days(400))],
            )?;
        }
        Ok(id)
    }

    /// How many acknowledgements went (or are queued) to `recipient` since `since`.
    fn count_acks_to(&self, recipient: &str, since: DateTime<Utc>) -> Result<u32> {
        let n: i64 = self
            .opt(ACKS_TO_SQL, params![recipient, ts(since)])?
            .unwrap_or(0);
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    /// Acknowledgements queued since `since` to the mailbox of `address`: to the address
    /// itself and to every plus address of the same mailbox (`local+tag@domain`), which
    /// reach one person. Two ranges of the `outbox_acks` index (which holds the
    /// acknowledgements alone: the statements name the purpose, so SQLite may use it),
    /// never the whole outbox.
    pub fn count_acks_to_mailbox(&self, address: &str, since: DateTime<Utc>) -> Result<u32> {
        let Some((local, domain)) = address.rsplit_once('@') else {
            return self.count_acks_to(address, since);
        };
        let base = local.split('+').next().unwrap_or(local);
        let bare = format!("{base}@{domain}");
        // Every `base+…` address sorts between `base+` and `base,` (',' follows '+').
        let (from, to) = (format!("{base}+"), format!("{base},"));
        let tagged: i64 = self
            .opt(
                ACKS_TO_TAGGED_SQL,
                params![from, to, format!("@{domain}"), ts(since)],
            )?
            .unwrap_or(0);
        let exact = self.count_acks_to(&bare, since)?;
        Ok(exact.saturating_add(u32::try_from(tagged).unwrap_or(u32::MAX)))
    }

    /// Team notices on no case queued to `member` since `since`, counted up to
    /// `at_most`: read through `outbox_caseless_notices` alone (such notices are few:
    /// alerts, each within an hourly budget).
    pub fn count_caseless_notices_since(
        &self,
        member: &str,
        since: DateTime<Utc>,
        at_most: u32,
    ) -> Result<u32> {
        self.count_of(&caseless_notices_sql(at_most), params![ts(since), member])
    }

    /// The explanations of a mail that named no case queued to `member` since `since`,
    /// counted up to `at_most` (read through `outbox_caseless_transcripts`, which holds
    /// those alone).
    pub fn explained_to_since(
        &self,
        member: &str,
        since: DateTime<Utc>,
        at_most: u32,
    ) -> Result<u32> {
        self.count_of(&explained_to_sql(at_most), params![member, ts(since)])
    }

    /// The count a `SELECT COUNT(*)` statement gives.
    fn count_of(&self, sql: &str, p: impl rusqlite::Params) -> Result<u32> {
        let n: i64 = self.opt(sql, p)?.unwrap_or(0);
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    /// Whether the team of the desk whose series is `prefix` was told since `since` that
    /// its acknowledgements are held back (a minute's row or so a window).
    pub fn ack_limit_told_since(&self, prefix: &str, since: DateTime<Utc>) -> Result<bool> {
        Ok(self
            .opt::<i64>(
                "SELECT 1 FROM ack_counts WHERE series = ?1 AND minute >= ?2 AND told = 1 LIMIT 1",
                params![format!("{prefix}-"), minute_of(since)],
            )?
            .is_some())
    }

    /// Records that the team of the desk whose series is `case`'s was told, `now`, that
    /// its acknowledgements are held back.
    pub fn mark_ack_limit_told(&self, case: &CaseId, now: DateTime<Utc>) -> Result<()> {
        self.exec(
            "INSERT INTO ack_counts (series, minute, n, told) VALUES (?1, ?2, 0, 1) \
             ON CONFLICT (series, minute) DO UPDATE SET told = 1",
            params![format!("{}-", case.prefix()), minute_of(now)],
        )?;
        Ok(())
    }

    /// How many acknowledgements on the cases of the series `prefix` (a desk's
    /// `case_prefix`: its own limit) were queued since `since`, to the minute: the minute
    /// `since` falls in counts whole, so the window is at most a minute longer, never
    /// shorter. One row per minute is read, however many acknowledgements the window holds.
    pub fn count_acks_since(&self, prefix: &str, since: DateTime<Utc>) -> Result<u32> {
        let n: i64 = self
            .opt(
                "SELECT COALESCE(SUM(n), 0) FROM ack_counts WHERE series = ?1 AND minute >= ?2",
                params![format!("{prefix}-"), minute_of(since)],
            )?
            .unwrap_or(0);
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    /// Pending mail whose next attempt is due: acknowledgements first, then oldest first
    /// (the `outbox_claim` index gives this order without sorting); and apart, the due
    /// rows that cannot be read back, which must not keep the others from going.
    ///
    /// At most `limit` rows, and no row after those that hold `max_bytes` (each mail's
    /// bytes and the report it carries): a team notice carries the report to each member,
    /// and a hundred copies of a large one would not fit in memory. The first row always
    /// comes. `more`: rows were left due (a limit was reached).
    pub fn due_outbox(&self, now: DateTime<Utc>, limit: u32, max_bytes: usize) -> Result<DueRows> {
        // The limit is written into the statement (bound, it would have SQLite prepare
        // the statement again at every call: see `count_events_sql`).
        let sql = format!(
            "SELECT {COLUMNS} FROM {ROWS} WHERE o.state = 'pending' AND o.next_attempt_at <= ?1
             ORDER BY o.priority, o.next_attempt_at, o.id LIMIT {limit}"
        );
        let mut due = DueRows::default();
        let (mut read, mut bytes) = (0usize, 0usize);
        let mut stmt = self.conn().prepare_cached(&sql)?;
        let mut rows = stmt.query(params![ts(now)])?;
        while let Some(r) = rows.next()? {
            if bytes >= max_bytes {
                due.more = true;
                break;
            }
            let raw = read_raw(r)?;
            read += 1;
            bytes = bytes
                .saturating_add(raw.6.len())
                .saturating_add(raw.12.3.as_ref().map_or(0, Vec::len));
            let (id, case) = (raw.0, raw.1.as_deref().and_then(CaseId::parse));
            match convert(raw) {
                Ok(row) => due.rows.push(row),
                Err(e) => due.bad.push(BadOutboxRow {
                    id,
                    case,
                    why: e.to_string(),
                }),
            }
        }
        due.more |= u32::try_from(read).is_ok_and(|n| n == limit);
        Ok(due)
    }

    /// When the next pending mail is due, if any: the earlier of the first entries of the
    /// two priorities in `outbox_claim` (two index probes, however long the queue).
    pub fn next_outbox_due(&self) -> Result<Option<DateTime<Utc>>> {
        parse_opt_ts(self.opt(NEXT_DUE_SQL, [])?)
    }

    pub fn outbox_of(&self, case: &CaseId) -> Result<Vec<OutboxRow>> {
        let sql = format!("SELECT {COLUMNS} FROM {ROWS} WHERE o.case_id = ?1 ORDER BY o.id");
        self.outbox_query(&sql, [case])
    }

    /// The desk's mail `id` on `case` (a delivery report names it), through the outbox's
    /// unique Message-ID.
    pub fn sent_on_case(&self, case: &CaseId, id: &MessageId) -> Result<Option<Undelivered>> {
        let row: Option<(Purpose, String, Vec<u8>)> = self
            .conn()
            .prepare_cached(
                "SELECT purpose, recipients, substr(bytes, 1, 16384) FROM outbox
                 WHERE message_id = ?1 AND case_id = ?2 AND state = 'sent'",
            )?
            .query_row(params![id, case], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()?;
        row.map(|(purpose, rcpts, head)| {
            let carries_attachments = outgoing::carries_attachments(&head);
            let to = serde_json::from_str(&rcpts)
                .map_err(|_| StoreError::Corrupt(format!("recipients `{rcpts}`")))?;
            Ok(Undelivered {
                purpose,
                to,
                carries_attachments,
                // A sent row keeps its headers only; see `about`.
                text: None,
                about: outgoing::answered_id(&head),
            })
        })
        .transpose()
    }

    pub fn outbox_all(&self) -> Result<Vec<OutboxRow>> {
        let sql = format!("SELECT {COLUMNS} FROM {ROWS} ORDER BY o.id");
        self.outbox_query(&sql, [])
    }

    fn outbox_query(&self, sql: &str, p: impl rusqlite::Params) -> Result<Vec<OutboxRow>> {
        self.raw_outbox_rows(sql, p)?
            .into_iter()
            .map(convert)
            .collect()
    }

    fn raw_outbox_rows(&self, sql: &str, p: impl rusqlite::Params) -> Result<Vec<RawRow>> {
        let mut stmt = self.conn().prepare_cached(sql)?;
        let rows = stmt
            .query_map(p, read_raw)?
            .collect::<rusqlite::Result<Vec<RawRow>>>()?;
        Ok(rows)
    }

    /// Claims a due row for one attempt: counts the attempt before it is made and pushes
    /// the next one out to `retry_at`. A crash during the attempt then leads to a retry
    /// later, not a tight loop; and a second desk on the same file, seeing the row no
    /// longer due, leaves it alone. `None` when the row was not ours to send.
    pub fn begin_attempt(
        &self,
        id: i64,
        now: DateTime<Utc>,
        retry_at: DateTime<Utc>,
    ) -> Result<Option<u32>> {
        let claimed = self.exec(
            "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?3
             WHERE id = ?1 AND state = 'pending' AND next_attempt_at <= ?2",
            params![id, ts(now), ts(retry_at)],
        )?;
        if claimed == 0 {
            return Ok(None);
        }
        Ok(self
            .opt::<i64>("SELECT attempts FROM outbox WHERE id = ?1", [id])?
            .map(|n| n as u32))
    }

    /// Gives back an attempt counted by [`Tx::begin_attempt`] for a mail that was never
    /// sent (the desk stopped, or lost its connection, before its turn): due at `now`.
    pub fn give_back_attempt(&self, id: i64, now: DateTime<Utc>) -> Result<()> {
        self.exec(
            "UPDATE outbox SET attempts = max(attempts - 1, 0), next_attempt_at = ?2
             WHERE id = ?1 AND state = 'pending'",
            params![id, ts(now)],
        )?;
        Ok(())
    }

    /// Marks a row sent. A big one keeps only its header block: it is never sent again,
    /// and what made it big (the report quoted or attached for the team) is kept once, in
    /// the raw mail the case points at. So does a row that referred to the report it
    /// carried. Small mail is kept whole, as the case's record.
    pub fn mark_sent(&self, id: i64, now: DateTime<Utc>) -> Result<()> {
        self.exec(
            &format!(
                "UPDATE outbox SET state = 'sent', sent_at = ?2, last_error = NULL, {HEAD_ONLY} WHERE id = ?1"
            ),
            params![id, ts(now), KEEP_WHOLE_UP_TO],
        )?;
        Ok(())
    }

    /// A try failed and the mail waits for `next`; false when it no longer waits (a
    /// `#spam` withdrew it while it was on the wire), which stays as it is.
    pub fn mark_retry(&self, id: i64, next: DateTime<Utc>, error: &str) -> Result<bool> {
        Ok(self.exec(
            "UPDATE outbox SET next_attempt_at = ?2, last_error = ?3 WHERE id = ?1 AND state = 'pending'",
            params![id, ts(next), error],
        )? == 1)
    }

    /// A mail sent, which a delivery report says failed for good: failed now, so that
    /// another report naming it (anyone who got it can write one) finds nothing to tell.
    /// A mail still queued never bounced (a report naming it is forged): it is neither
    /// found by `sent_on_case` nor cancelled here.
    pub fn mark_bounced(&self, id: &MessageId, error: &str) -> Result<()> {
        self.exec(
            "UPDATE outbox SET state = 'failed', last_error = ?2 WHERE message_id = ?1 AND state = 'sent'",
            params![id, error],
        )?;
        Ok(())
    }

    /// Team mail (notices, transcripts, reminders, digests) queued since the oldest
    /// still pending: what a restart checks against the teams as they are now, with the
    /// copies of the same mail to others, sent or not.
    pub fn recent_team_mail(&self) -> Result<Vec<TeamRow>> {
        let mut stmt = self.conn().prepare(
            "SELECT id, case_id, purpose, envelope_from, recipients, created_at, state FROM outbox
             WHERE state IN ('pending', 'sent')
             AND purpose IN ('team-notice', 'transcript', 'reminder', 'digest')
             AND created_at >= (SELECT COALESCE(MIN(created_at), '') FROM outbox WHERE state = 'pending')",
        )?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, String>(6)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows
            .into_iter()
            // A row that cannot be read is the mailer's to set aside.
            .filter_map(
                |(id, case, purpose, envelope_from, rcpts, created, state)| {
                    Some(TeamRow {
                        id,
                        case: case.and_then(|c| CaseId::parse(&c)),
                        purpose,
                        envelope_from,
                        recipients: serde_json::from_str(&rcpts).ok()?,
                        created,
                        pending: state == "pending",
                    })
                },
            )
            .collect())
    }

    /// Sends pending row `id` to `recipients` instead (its envelope only).
    pub fn readdress(&self, id: i64, recipients: &[String]) -> Result<()> {
        self.exec(
            "UPDATE outbox SET recipients = ?2, primary_rcpt = ?3 WHERE id = ?1 AND state = 'pending'",
            params![
                id,
                serde_json::to_string(recipients).unwrap_or_else(|_| "[]".into()),
                recipients.first().cloned().unwrap_or_default()
            ],
        )?;
        Ok(())
    }

    /// The case of outbox row `id` as it is now: a `#move` committed while the row was
    /// being sent gave it the case's new id.
    pub fn outbox_case(&self, id: i64) -> Result<Option<CaseId>> {
        let case: Option<Option<String>> = self
            .conn()
            .query_row(
                "SELECT case_id FROM outbox WHERE id = ?1",
                params![id],
                |r| r.get(0),
            )
            .optional()?;
        Ok(case.flatten().as_deref().and_then(CaseId::parse))
    }

    /// Fails the mails of `purpose` to `case` still waiting to go (an acknowledgement of
    /// a case put in spam, a reminder of a case closed while the relay held it), with
    /// `why`; how many.
    pub fn withdraw_pending(&self, case: &CaseId, purpose: Purpose, why: &str) -> Result<usize> {
        Ok(self.conn().execute(
            "UPDATE outbox SET state = 'failed', last_error = ?3
              WHERE case_id = ?1 AND purpose = ?2 AND state = 'pending'",
            params![case, purpose, why],
        )?)
    }

    /// Plans again the reminders whose mail to `case` was withdrawn with `why`, queued
    /// since `since`: each reminder row that made such a mail (claimed at the instant the
    /// mail was queued) is pending again, for the scheduler to send through its own
    /// checks (still relevant, to whom now); the withdrawn mail stays failed, marked
    /// `given_back`. How many.
    pub fn replan_withdrawn_reminders(
        &self,
        case: &CaseId,
        (why, given_back): (&str, &str),
        since: DateTime<Utc>,
    ) -> Result<usize> {
        let scope = case.to_string();
        let n = self.conn().execute(
            "UPDATE reminders SET state = 'pending', sent_at = NULL, late = 0
              WHERE scope = ?1 AND state = 'sent' AND sent_at IN (
                SELECT created_at FROM outbox WHERE case_id = ?1 AND purpose = 'reminder'
                   AND state = 'failed' AND last_error = ?2 AND created_at >= ?3)",
            params![scope, why, ts(since)],
        )?;
        self.conn().execute(
            "UPDATE outbox SET last_error = ?4
              WHERE case_id = ?1 AND purpose = 'reminder' AND state = 'failed'
                AND last_error = ?2 AND created_at >= ?3",
            params![case, why, ts(since), given_back],
        )?;
        Ok(n)
    }

    /// Queues again, due `now`, the acknowledgements of `case` withdrawn with `why`
    /// (and not sent meanwhile); how many.
    pub fn restore_withdrawn_acks(
        &self,
        case: &CaseId,
        why: &str,
        now: DateTime<Utc>,
    ) -> Result<usize> {
        Ok(self.conn().execute(
            "UPDATE outbox SET state = 'pending', last_error = NULL, next_attempt_at = ?3
              WHERE case_id = ?1 AND purpose = 'ack' AND state = 'failed' AND last_error = ?2",
            params![case, why, ts(now)],
        )?)
    }

    pub fn mark_failed(&self, id: i64, error: &str) -> Result<()> {
        // Never sent again: a big one keeps its header block only, as a sent one does
        // (an alert carrying an unreadable mail, refused by the relay for its size, kept
        // megabytes per member for good).
        self.exec(
            &format!(
                "UPDATE outbox SET state = 'failed', last_error = ?2, {HEAD_ONLY} WHERE id = ?1"
            ),
            params![id, error, KEEP_WHOLE_UP_TO],
        )?;
        Ok(())
    }
}

/// The assignments that leave a row never sent again with its header block only when it
/// is bigger than `?3` (`KEEP_WHOLE_UP_TO`) or referred to the mail it carried.
const HEAD_ONLY: &str = "bytes = CASE
        WHEN (length(bytes) > ?3 OR original_raw_id IS NOT NULL)
             AND instr(bytes, x'0d0a0d0a') > 0
        THEN substr(bytes, 1, instr(bytes, x'0d0a0d0a') + 3)
        ELSE bytes END,
    original_raw_id = NULL, original_at = NULL, original_encoding = NULL";

/// Acknowledgements to `?1` since `?2` (`Tx::count_acks_to_mailbox`).
const ACKS_TO_SQL: &str =
    "SELECT COUNT(*) FROM outbox WHERE purpose = 'ack' AND primary_rcpt = ?1 AND created_at >= ?2";

/// Acknowledgements to the addresses between `?1` and `?2` ending in `?3`, since `?4`.
const ACKS_TO_TAGGED_SQL: &str =
    "SELECT COUNT(*) FROM outbox WHERE purpose = 'ack' AND primary_rcpt > ?1 AND primary_rcpt < ?2
   AND substr(primary_rcpt, -length(?3)) = ?3 AND created_at >= ?4";

/// The minute of `t` as `ack_counts` keys it: the start of the outbox's own instants.
fn minute_of(t: DateTime<Utc>) -> String {
    let mut text = ts(t);
    text.truncate(16);
    text
}

/// The count of explanations of a mail that named no case queued to `?1` since `?2`,
/// up to `at_most`, through their own index, named (as for `caseless_notices_sql`).
pub(crate) fn explained_to_sql(at_most: u32) -> String {
    format!(
        "SELECT COUNT(*) FROM (SELECT 1 FROM outbox INDEXED BY outbox_caseless_transcripts WHERE primary_rcpt = ?1 AND created_at >= ?2 AND case_id IS NULL AND purpose = 'transcript' LIMIT {at_most})"
    )
}

/// The count of team notices on no case since `?1` to `?2`, up to `at_most` (written into the
/// statement: a bound LIMIT is prepared again at every call), through their own index,
/// named: left to itself, SQLite may take another index and read every team notice.
pub(crate) fn caseless_notices_sql(at_most: u32) -> String {
    format!(
        "SELECT COUNT(*) FROM (SELECT 1 FROM outbox INDEXED BY outbox_caseless_notices WHERE case_id IS NULL AND purpose = 'team-notice' AND created_at >= ?1 AND primary_rcpt = ?2 LIMIT {at_most})"
    )
}

/// A one-byte mail to `r<n>@reporter.test`, Message-ID `m<n>@desk.test`, for the store's
/// tests of the outbox.
#[cfg(test)]
pub(crate) fn mail(n: u32) -> Composed {
    Composed {
        message_id: MessageId::new(&format!("m{n}@desk.test")).unwrap(),
        envelope_from: "security@desk.test".into(),
        recipients: vec![format!("r{n}@reporter.test")],
        bytes: b"x".to_vec(),
        original: None,
    }
}

#[cfg(test)]
mod tests {
    use super::{ACKS_TO_SQL, ACKS_TO_TAGGED_SQL, NEXT_DUE_SQL, mail};
    use crate::outgoing::Purpose;
    use crate::store::Store;
    use crate::store::inspect::{index_entries, plan};
    use chrono::{Duration, TimeZone, Utc};
    use rusqlite::StatementStatus;

    /// A pass takes due rows up to its bytes as well as its count, the first row
    /// whatever its size, and says when rows were left.
    #[test]
    fn a_pass_takes_due_mail_up_to_its_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("bytes.db")).unwrap();
        let t0 = Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap();
        store
            .write(|tx| {
                for n in 0..5 {
                    let mut m = mail(n);
                    m.bytes = vec![b'x'; 1000];
                    tx.enqueue(&m, Purpose::TeamNotice, None, t0)?;
                }
                Ok(())
            })
            .unwrap();
        let mut take = |limit: u32, max_bytes: usize| {
            let due = store
                .read(|tx| tx.due_outbox(t0, limit, max_bytes))
                .unwrap();
            (due.rows.len(), due.more)
        };
        assert_eq!(take(100, 1_000_000), (5, false));
        assert_eq!(take(100, 2_500), (3, true));
        assert_eq!(take(100, 10), (1, true), "the first row always comes");
        assert_eq!(take(5, 1_000_000), (5, true), "the count reached");
    }

    /// A row whose purpose this binary cannot read (a hand edit, a newer version) is a
    /// bad row of its own, set aside; the others still go. (It failed the whole pass:
    /// no mail left until the database was edited by hand.)
    /// A mail withdrawn while it was on the wire (`#spam`) stays withdrawn when its try
    /// fails: it is not retried, nor told as still waiting.
    #[test]
    fn a_withdrawn_mail_is_not_retried() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("withdrawn.db")).unwrap();
        let t0 = Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap();
        let (id, waits) = store
            .write(|tx| {
                let id = tx.enqueue(&mail(1), Purpose::TeamNotice, None, t0)?;
                tx.exec(
                    "UPDATE outbox SET state = 'failed', last_error = 'withdrawn' WHERE id = ?1",
                    [id],
                )?;
                Ok((id, tx.mark_retry(id, t0, "451 later")?))
            })
            .unwrap();
        assert!(!waits);
        let rows = store.read(|tx| tx.outbox_all()).unwrap();
        let row = rows.iter().find(|r| r.id == id).unwrap();
        assert_eq!(row.state, super::OutboxState::Failed);
        assert_eq!(row.last_error.as_deref(), Some("withdrawn"));
    }

    #[test]
    fn a_row_of_an_unknown_purpose_does_not_stop_the_others() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("purpose.db")).unwrap();
        let t0 = Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap();
        let first = store
            .write(|tx| {
                let first = tx.enqueue(&mail(1), Purpose::TeamNotice, None, t0)?;
                tx.enqueue(&mail(2), Purpose::TeamNotice, None, t0)?;
                tx.exec(
                    "UPDATE outbox SET purpose = 'notice' WHERE id = ?1",
                    [first],
                )?;
                Ok(first)
            })
            .unwrap();
        let due = store.read(|tx| tx.due_outbox(t0, 100, 1 << 20)).unwrap();
        assert_eq!(due.rows.len(), 1);
        assert_eq!(due.rows[0].message_id.as_str(), "m2@desk.test");
        assert_eq!(due.bad.len(), 1);
        assert_eq!(due.bad[0].id, first);
        assert!(
            due.bad[0].why.contains("purpose `notice`"),
            "{}",
            due.bad[0].why
        );
    }

    /// The acknowledgements a mailbox was sent are counted, plus addresses included,
    /// through `outbox_acks`, which holds the acknowledgements alone: a team notice to
    /// the same address is neither counted nor an entry of the index.
    #[test]
    fn acks_to_a_mailbox_are_counted_through_an_index_of_acks_alone() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("acks.db")).unwrap();
        for sql in [ACKS_TO_SQL, ACKS_TO_TAGGED_SQL] {
            let plan = plan(&store, sql);
            assert!(plan.contains("INDEX outbox_acks"), "{sql}: {plan}");
        }
        let t0 = Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap();
        let to = |n: u32, rcpt: &str| {
            let mut m = mail(n);
            m.recipients = vec![rcpt.to_string()];
            m
        };
        store
            .write(|tx| {
                tx.enqueue(&to(1, "zoe@r.test"), Purpose::Ack, None, t0)?;
                tx.enqueue(&to(2, "zoe+x@r.test"), Purpose::Ack, None, t0)?;
                tx.enqueue(&to(3, "zoe@other.test"), Purpose::Ack, None, t0)?;
                tx.enqueue(&to(4, "zoe@r.test"), Purpose::TeamNotice, None, t0)?;
                tx.enqueue(
                    &to(5, "zoe@r.test"),
                    Purpose::Ack,
                    None,
                    t0 - Duration::hours(2),
                )
            })
            .unwrap();
        let since = t0 - Duration::hours(1);
        let n = store
            .read(|tx| tx.count_acks_to_mailbox("zoe+y@r.test", since))
            .unwrap();
        assert_eq!(n, 2, "zoe@ and zoe+x@ at r.test, in the hour");
        let entries = index_entries(&store, "outbox_acks");
        assert_eq!(entries, 4, "the four acknowledgements, not the notice");
    }

    /// The next due instant is the earliest of every pending mail, acknowledgements and
    /// notices alike, mail already sent aside; and it is found in a handful of steps
    /// however many mails wait (read after every pass of the mailer, issue 12).
    #[test]
    fn the_next_due_mail_is_read_in_a_few_steps_across_both_priorities() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("o.db")).unwrap();
        let t0 = Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap();
        assert_eq!(store.read(|tx| tx.next_outbox_due()).unwrap(), None);
        let sent = store
            .write(|tx| {
                // 3,000 notices from t0 + 1 min on, one acknowledgement at t0 + 2 min, and
                // the earliest mail of all, a notice at t0, already sent.
                for n in 0..3000 {
                    let at = t0 + Duration::minutes(1) + Duration::seconds(i64::from(n));
                    tx.enqueue(&mail(n), Purpose::TeamNotice, None, at)?;
                }
                tx.enqueue(&mail(3000), Purpose::Ack, None, t0 + Duration::minutes(2))?;
                tx.enqueue(&mail(3001), Purpose::TeamNotice, None, t0)
            })
            .unwrap();
        store
            .write(|tx| tx.mark_sent(sent, t0 + Duration::seconds(1)))
            .unwrap();
        let (due, steps) = store
            .read(|tx| {
                let due = tx.next_outbox_due()?;
                let stmt = tx.conn().prepare_cached(NEXT_DUE_SQL)?;
                Ok((due, stmt.get_status(StatementStatus::VmStep)))
            })
            .unwrap();
        assert_eq!(
            due,
            Some(t0 + Duration::minutes(1)),
            "the first notice still waiting"
        );
        assert!(steps < 100, "{steps} steps to find the first of 3,002");
        // The acknowledgement, once the notices are sent, is next.
        store
            .write(|tx| {
                let ids: Vec<i64> = tx
                    .conn()
                    .prepare("SELECT id FROM outbox WHERE purpose = 'team-notice'")?
                    .query_map([], |r| r.get(0))?
                    .collect::<rusqlite::Result<_>>()?;
                for id in ids {
                    tx.mark_sent(id, t0)?;
                }
                Ok(())
            })
            .unwrap();
        let due = store.read(|tx| tx.next_outbox_due()).unwrap();
        assert_eq!(due, Some(t0 + Duration::minutes(2)));
    }
}
