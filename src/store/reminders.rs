//! Reminder rows: planned in the same transaction as the change that causes them, sent
//! exactly once (claimed, queued and marked sent in one transaction).

use super::{Result, StoreError, Tx, parse_opt_ts, parse_ts, ts};
use chrono::{DateTime, Utc};
use rusqlite::params;

/// The scope of the weekly digest, which belongs to no case.
pub const DIGEST_SCOPE: &str = "*";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReminderState {
    Pending,
    Sent,
    Cancelled,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ReminderRow {
    pub id: i64,
    /// A case id, or [`DIGEST_SCOPE`].
    pub scope: String,
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
    String,
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
        state: match state.as_str() {
            "pending" => ReminderState::Pending,
            "sent" => ReminderState::Sent,
            "cancelled" => ReminderState::Cancelled,
            other => return Err(StoreError::Corrupt(format!("reminder state `{other}`"))),
        },
        sent_at: parse_opt_ts(sent)?,
        late: late == 1,
    })
}

const COLUMNS: &str = "id, scope, kind, due_at, deadline_at, note, state, sent_at, late";

/// A reminder to plan: (kind, due, deadline, note).
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedRow {
    pub kind: String,
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
        keep: &[&str],
        plan: &[PlannedRow],
    ) -> Result<()> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT id, kind FROM reminders WHERE scope = ?1 AND state = 'pending' AND due_at > ?2",
        )?;
        let future = stmt
            .query_map(params![scope, ts(now)], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let mut cancel = self
            .conn()
            .prepare("UPDATE reminders SET state = 'cancelled' WHERE id = ?1")?;
        for (id, kind) in future {
            if !keep.contains(&kind.as_str()) {
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

    /// Adds one reminder unless the same one exists.
    pub fn plan_reminder(&self, scope: &str, p: &PlannedRow) -> Result<()> {
        self.exec(
            "INSERT INTO reminders (scope, kind, due_at, deadline_at, note) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
            params![scope, p.kind, ts(p.due), ts(p.deadline), p.note],
        )?;
        Ok(())
    }

    /// Pending reminders due at or before `now`, oldest first.
    pub fn due_reminders(&self, now: DateTime<Utc>) -> Result<Vec<ReminderRow>> {
        self.reminder_query(
            &format!("SELECT {COLUMNS} FROM reminders WHERE state = 'pending' AND due_at <= ?1 ORDER BY due_at, id"),
            [ts(now)],
        )
    }

    pub fn next_reminder_due(&self) -> Result<Option<DateTime<Utc>>> {
        parse_opt_ts(self.opt(
            "SELECT MIN(due_at) FROM reminders WHERE state = 'pending'",
            [],
        )?)
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

    fn reminder_query(&self, sql: &str, p: impl rusqlite::Params) -> Result<Vec<ReminderRow>> {
        let mut stmt = self.conn().prepare_cached(sql)?;
        let rows = stmt
            .query_map(p, |r| {
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
                ))
            })?
            .collect::<rusqlite::Result<Vec<RawRow>>>()?;
        rows.into_iter().map(convert).collect()
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

    /// Claims a pending reminder: true when this transaction is the one that sends it.
    pub fn claim_reminder(&self, id: i64, now: DateTime<Utc>, late: bool) -> Result<bool> {
        let n = self.exec(
            "UPDATE reminders SET state = 'sent', sent_at = ?2, late = ?3 WHERE id = ?1 AND state = 'pending'",
            params![id, ts(now), late as i64],
        )?;
        Ok(n == 1)
    }
}
