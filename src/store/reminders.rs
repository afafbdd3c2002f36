//! Reminder rows: planned in the same transaction as the change that causes them, sent
//! exactly once (claimed, queued and marked sent in one transaction).

use super::{Result, Tx, parse_opt_ts, parse_ts, ts};
use crate::desk::deadlines::ReminderKind;
use chrono::{DateTime, Utc};
use rusqlite::params;

/// The scope of the weekly digest, which belongs to no case.
pub const DIGEST_SCOPE: &str = "*";

/// The scope of the daily spam summary, which belongs to no case either.
pub const SPAM_SCOPE: &str = "*spam";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReminderState {
    Pending,
    Sent,
    Cancelled,
}

impl ReminderState {
    /// The text the database keeps.
    pub fn as_str(self) -> &'static str {
        match self {
            ReminderState::Pending => "pending",
            ReminderState::Sent => "sent",
            ReminderState::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<ReminderState> {
        match text {
            "pending" => Some(ReminderState::Pending),
            "sent" => Some(ReminderState::Sent),
            "cancelled" => Some(ReminderState::Cancelled),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ReminderRow {
    pub id: i64,
    /// A case id, or [`DIGEST_SCOPE`].
    pub scope: String,
    /// As stored: the scheduler parses it ([`ReminderKind::parse`]) and drops a row whose
    /// kind this secdesk does not know, rather than failing on the whole list.
    pub kind: String,
    pub due: DateTime<Utc>,
    pub deadline: DateTime<Utc>,
    pub note: String,
    pub state: ReminderState,
    pub sent_at: Option<DateTime<Utc>>,
    pub late: bool,
}

type RawRow = (
    i64,
    String,
    String,
    String,
    String,
    String,
    ReminderState,
    Option<String>,
    i64,
);

fn convert(r: RawRow) -> Result<ReminderRow> {
    let (id, scope, kind, due, deadline, note, state, sent, late) = r;
    Ok(ReminderRow {
        id,
        scope,
        kind,
        due: parse_ts(&due)?,
        deadline: parse_ts(&deadline)?,
        note,
        state,
        sent_at: parse_opt_ts(sent)?,
        late: late == 1,
    })
}

const COLUMNS: &str = "id, scope, kind, due_at, deadline_at, note, state, sent_at, late";

/// A reminder row that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadReminder {
    pub id: i64,
    pub scope: String,
    pub why: String,
}

/// A reminder to plan: (kind, due, deadline, note).
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedRow {
    pub kind: ReminderKind,
    pub due: DateTime<Utc>,
    pub deadline: DateTime<Utc>,
    pub note: String,
}

impl Tx<'_> {
    /// Replaces the future plan of `scope` with `plan`. Rows already sent stay as they
    /// are, a planned row identical to a sent one is not planned again, and rows already
    /// due stay pending: they are owed (the scheduler re-checks them before sending).
    /// Kinds in `keep` (one-off reminders) are left alone.
    pub fn replan(
        &self,
        scope: &str,
        now: DateTime<Utc>,
        keep: &[ReminderKind],
        plan: &[PlannedRow],
    ) -> Result<()> {
        let mut stmt = self.conn().prepare_cached(
            // A due_at not starting with a four-digit year (`+10000-…`, written by an older
            // version) is in the far future whatever text order says.
            "SELECT id, kind FROM reminders WHERE scope = ?1 AND state = 'pending'
             AND (due_at > ?2 OR due_at NOT GLOB '[0-9][0-9][0-9][0-9]-*')",
        )?;
        let future = stmt
            .query_map(params![scope, ts(now)], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let mut cancel = self
            .conn()
            .prepare_cached("UPDATE reminders SET state = 'cancelled' WHERE id = ?1")?;
        for (id, kind) in future {
            if !ReminderKind::parse(&kind).is_some_and(|k| keep.contains(&k)) {
                cancel.execute([id])?;
            }
        }
        let mut insert = self.conn().prepare_cached(
            "INSERT INTO reminders (scope, kind, due_at, deadline_at, note) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (scope, kind, due_at, note) DO UPDATE SET state = 'pending', deadline_at = excluded.deadline_at
             WHERE reminders.state = 'cancelled'",
        )?;
        for p in plan {
            insert.execute(params![scope, p.kind, ts(p.due), ts(p.deadline), p.note])?;
        }
        Ok(())
    }

    /// Adds one reminder unless the same one is pending or was sent. The same reminder
    /// cancelled (with its case's others at `#close`, or a digest turned off) is
    /// pending again: planned anew, it is wanted anew.
    pub fn plan_reminder(&self, scope: &str, p: &PlannedRow) -> Result<()> {
        self.exec(
            "INSERT INTO reminders (scope, kind, due_at, deadline_at, note) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (scope, kind, due_at, note) DO UPDATE SET state = 'pending', deadline_at = excluded.deadline_at
             WHERE reminders.state = 'cancelled'",
            params![scope, p.kind, ts(p.due), ts(p.deadline), p.note],
        )?;
        Ok(())
    }

    /// Pending reminders due at or before `now`, oldest first. A row that cannot be read
    /// (an instant an older version wrote as `+10000-01-01…`) comes back as
    /// [`BadReminder`], for the scheduler to set aside without stopping the others.
    pub fn due_reminders(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<std::result::Result<ReminderRow, BadReminder>>> {
        let raw = self.raw_reminders(
            &format!("SELECT {COLUMNS} FROM reminders WHERE state = 'pending' AND due_at <= ?1 ORDER BY due_at, id"),
            [ts(now)],
        )?;
        Ok(raw
            .into_iter()
            .map(|r| {
                let (id, scope) = (r.0, r.1.clone());
                convert(r).map_err(|e| BadReminder {
                    id,
                    scope,
                    why: e.to_string(),
                })
            })
            .collect())
    }

    /// Reminder `id` as it is now, if it is still pending: a pass lists the due rows
    /// before it fires them one transaction at a time, and a write in between (a `#move`
    /// giving it its case's new id, a command cancelling it) changes them.
    pub fn pending_reminder(&self, id: i64) -> Result<Option<ReminderRow>> {
        let raw = self.raw_reminders(
            &format!("SELECT {COLUMNS} FROM reminders WHERE id = ?1 AND state = 'pending'"),
            [id],
        )?;
        raw.into_iter().next().map(convert).transpose()
    }

    /// When the next pending reminder is due. Rows that cannot be read are skipped here
    /// (the scheduler sets them aside once they sort as due), so one of them never hides
    /// the real next instant.
    pub fn next_reminder_due(&self) -> Result<Option<DateTime<Utc>>> {
        // The first reminder whose instant can be read (an unreadable row is set aside by
        // the scheduler, never a reason to sleep for ever).
        let mut stmt = self.conn().prepare_cached(
            "SELECT due_at FROM reminders WHERE state = 'pending' ORDER BY due_at LIMIT 1000",
        )?;
        let mut rows = stmt.query([])?;
        let mut first = None;
        while let Some(row) = rows.next()? {
            if let Ok(t) = parse_ts(&row.get::<_, String>(0)?) {
                first = Some(t);
                break;
            }
        }
        // A pending push of a published advisory wakes the scheduler too.
        let push = parse_opt_ts(self.opt(
            "SELECT MIN(next_attempt_at) FROM advisory_pushes WHERE state = 'pending'",
            [],
        )?)?;
        Ok(match (first, push) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        })
    }

    pub fn reminders_of(&self, scope: &str) -> Result<Vec<ReminderRow>> {
        self.reminder_query(
            &format!("SELECT {COLUMNS} FROM reminders WHERE scope = ?1 ORDER BY due_at, id"),
            [scope],
        )
    }

    pub fn pending_reminders(&self) -> Result<Vec<ReminderRow>> {
        self.reminder_query(
            &format!("SELECT {COLUMNS} FROM reminders WHERE state = 'pending' ORDER BY due_at, id"),
            [],
        )
    }

    /// The rows of `sql`; one that cannot be read is logged and left out, so a single bad
    /// row never fails `secdesk deadlines`, `calendar` or the scheduler.
    fn reminder_query(&self, sql: &str, p: impl rusqlite::Params) -> Result<Vec<ReminderRow>> {
        Ok(self
            .raw_reminders(sql, p)?
            .into_iter()
            .filter_map(|r| {
                let id = r.0;
                convert(r)
                    .map_err(|e| tracing::warn!(id, error = %e, "a reminder row cannot be read; skipped"))
                    .ok()
            })
            .collect())
    }

    fn raw_reminders(&self, sql: &str, p: impl rusqlite::Params) -> Result<Vec<RawRow>> {
        self.rows(sql, p)
    }

    /// Cancels every pending reminder of `scope` (the case was closed or published).
    pub fn cancel_reminders(&self, scope: &str) -> Result<()> {
        self.exec(
            "UPDATE reminders SET state = 'cancelled' WHERE scope = ?1 AND state = 'pending'",
            [scope],
        )?;
        Ok(())
    }

    /// Marks a reminder that no longer applies (the case moved on) as cancelled.
    pub fn drop_reminder(&self, id: i64) -> Result<()> {
        self.exec(
            "UPDATE reminders SET state = 'cancelled' WHERE id = ?1 AND state = 'pending'",
            [id],
        )?;
        Ok(())
    }

    /// The latest `due` of a sent reminder of `scope` and `kind` before `before`.
    pub fn last_sent_due(
        &self,
        scope: &str,
        kind: &str,
        before: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>> {
        parse_opt_ts(self.opt(
            "SELECT MAX(due_at) FROM reminders WHERE scope = ?1 AND kind = ?2 AND state = 'sent' AND due_at < ?3",
            params![scope, kind, ts(before)],
        )?)
    }

    /// The note of the last `kind` reminder of `scope` sent before `before`.
    pub fn last_sent_note(
        &self,
        scope: &str,
        kind: &str,
        before: DateTime<Utc>,
    ) -> Result<Option<String>> {
        self.opt(
            "SELECT note FROM reminders WHERE scope = ?1 AND kind = ?2 AND state = 'sent' AND due_at < ?3
              ORDER BY due_at DESC LIMIT 1",
            params![scope, kind, ts(before)],
        )
    }

    /// Writes `note` on reminder `id`.
    pub fn set_reminder_note(&self, id: i64, note: &str) -> Result<()> {
        self.exec(
            "UPDATE reminders SET note = ?2 WHERE id = ?1",
            params![id, note],
        )?;
        Ok(())
    }

    /// The id of the newest event on file (0 for none): events are written in turn, so
    /// an id past it is an event committed later.
    pub fn max_event_id(&self) -> Result<i64> {
        Ok(self
            .opt::<Option<i64>>("SELECT MAX(id) FROM events", [])?
            .flatten()
            .unwrap_or(0))
    }

    /// Claims a pending reminder: true when this transaction is the one that sends it.
    pub fn claim_reminder(&self, id: i64, now: DateTime<Utc>, late: bool) -> Result<bool> {
        let n = self.exec(
            "UPDATE reminders SET state = 'sent', sent_at = ?2, late = ?3 WHERE id = ?1 AND state = 'pending'",
            params![id, ts(now), late as i64],
        )?;
        Ok(n == 1)
    }
}
