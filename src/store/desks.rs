//! Which desk a case belongs to, and cases handed from one desk to another (`#move`).

use super::{Result, Tx, ts};
use crate::desk::case::Case;
use crate::types::CaseId;
use chrono::{DateTime, Utc};
use rusqlite::params;

impl Tx<'_> {
    /// The desk of a case (`""` for the top-level desk); `None` when there is no case.
    pub fn case_desk(&self, id: &CaseId) -> Result<Option<String>> {
        self.opt("SELECT desk FROM cases WHERE id = ?1", [id.to_string()])
    }

    pub fn set_case_desk(&self, id: &CaseId, desk: &str) -> Result<()> {
        self.exec(
            "UPDATE cases SET desk = ?2 WHERE id = ?1",
            params![id.to_string(), desk],
        )?;
        Ok(())
    }

    /// The case an old id was moved to, following several moves.
    pub fn case_alias(&self, old: &CaseId) -> Result<Option<CaseId>> {
        let mut id = old.to_string();
        let mut found = None;
        for _ in 0..16 {
            match self.opt::<String>("SELECT case_id FROM case_aliases WHERE old_id = ?1", [&id])? {
                Some(next) => {
                    found = CaseId::parse(&next);
                    id = next;
                }
                None => break,
            }
        }
        Ok(found)
    }

    /// Hands `case` to `desk` under `new_id`: the case row takes the new id, every
    /// message, event, outbox row and reminder follows it, and the old id is kept as an
    /// alias. `case` must be the case as it is now (its fields are written as they are).
    pub fn move_case(
        &self,
        case: &Case,
        new_id: &CaseId,
        desk: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let old = case.id.to_string();
        let new = new_id.to_string();
        let mut moved = case.clone();
        moved.id = new_id.clone();
        self.insert_case(&moved)?;
        self.set_case_desk(new_id, desk)?;
        for sql in [
            "UPDATE messages SET case_id = ?2 WHERE case_id = ?1",
            MOVE_REFS_SQL,
            "UPDATE events SET case_id = ?2 WHERE case_id = ?1",
            "UPDATE outbox SET case_id = ?2 WHERE case_id = ?1",
            "UPDATE reminders SET scope = ?2 WHERE scope = ?1",
            "UPDATE case_aliases SET case_id = ?2 WHERE case_id = ?1",
            MOVE_DUPLICATES_SQL,
        ] {
            self.exec(sql, params![old, new])?;
        }
        self.conn()
            .execute("DELETE FROM cases WHERE id = ?1", params![old])?;
        self.exec(
            "INSERT INTO case_aliases (old_id, case_id, moved_at) VALUES (?1, ?2, ?3)",
            params![old, new, ts(now)],
        )?;
        Ok(())
    }
}

/// A moved case's threading entries (through `message_refs_case`).
pub(crate) const MOVE_REFS_SQL: &str = "UPDATE message_refs SET case_id = ?2 WHERE case_id = ?1";

/// The cases marked duplicates of a moved case (through `cases_duplicate_of`).
pub(crate) const MOVE_DUPLICATES_SQL: &str =
    "UPDATE cases SET duplicate_of = ?2 WHERE duplicate_of = ?1";
