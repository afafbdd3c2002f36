//! Raw mail, the IMAP cursor, and the message index used for threading.

use super::{Result, StoreError, Tx, parse_ts, ts};
use crate::mail::threading::ThreadIndex;
use crate::types::{CaseId, MessageId, Uid, UidValidity};
use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};
use sha2::Digest as _;

/// How a mail reached the store, which decides whether the desk may answer it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// New mail: handled live (acknowledged, relayed).
    Live,
    /// Already in the mailbox when the desk first opened it, or imported: filed only.
    History,
}

/// Where a filed message came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Received; `raw` is the row holding its bytes.
    Received { raw: Option<i64> },
    /// Sent by the desk from this outbox row.
    Sent { outbox: i64 },
}

/// A message to file on a case.
#[derive(Debug, Clone)]
pub struct NewMessage<'a> {
    pub id: &'a MessageId,
    pub case: &'a CaseId,
    pub source: Source,
    pub at: DateTime<Utc>,
    pub from: &'a str,
    pub subject: &'a str,
    /// report, reporter, team, …, or the outbox purpose of a sent mail.
    pub kind: &'a str,
    /// The ids it points at (In-Reply-To, References, embedded messages).
    pub references: &'a [MessageId],
}

/// What became of a raw mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawOutcome {
    Processed,
    Duplicate,
}

/// A message as listed in a case's history.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageRow {
    pub message_id: MessageId,
    pub direction_in: bool,
    pub at: DateTime<Utc>,
    pub from: String,
    pub subject: String,
    pub kind: String,
}

impl Tx<'_> {
    /// Where we stopped in `mailbox`: its UIDVALIDITY and the last UID stored.
    pub fn cursor(&self, mailbox: &str) -> Result<Option<(UidValidity, Uid)>> {
        Ok(self
            .conn()
            .prepare_cached("SELECT uidvalidity, last_uid FROM imap_cursor WHERE mailbox = ?1")?
            .query_row([mailbox], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?)
    }

    /// Records a new cursor (a new UIDVALIDITY starts again from UID 0, and none of its
    /// mail is history).
    pub fn set_cursor(&self, mailbox: &str, validity: UidValidity, last: Uid) -> Result<()> {
        self.exec(
            "INSERT INTO imap_cursor (mailbox, uidvalidity, last_uid) VALUES (?1, ?2, ?3)
             ON CONFLICT (mailbox) DO UPDATE SET uidvalidity = excluded.uidvalidity, last_uid = excluded.last_uid,
               history_until = CASE WHEN imap_cursor.uidvalidity = excluded.uidvalidity
                                    THEN imap_cursor.history_until ELSE 0 END,
               behind = CASE WHEN imap_cursor.uidvalidity = excluded.uidvalidity
                             THEN imap_cursor.behind ELSE 0 END",
            params![mailbox, validity, last],
        )?;
        Ok(())
    }

    /// Whether the server was found giving new mail of `mailbox` UIDs the desk had read,
    /// under `validity` ([`Tx::mark_behind`]): until the UIDVALIDITY changes.
    pub fn is_behind(&self, mailbox: &str, validity: UidValidity) -> Result<bool> {
        Ok(self
            .opt::<i64>(
                "SELECT behind FROM imap_cursor WHERE mailbox = ?1 AND uidvalidity = ?2",
                params![mailbox, validity],
            )?
            .is_some_and(|b| b == 1))
    }

    /// Records that the server gives new mail of `mailbox` UIDs the desk had read.
    pub fn mark_behind(&self, mailbox: &str) -> Result<()> {
        self.exec(
            "UPDATE imap_cursor SET behind = 1 WHERE mailbox = ?1",
            params![mailbox],
        )?;
        Ok(())
    }

    /// The first start on `mailbox`: the mail there now, up to UID `until`, is history
    /// (filed, never answered), however many passes it takes to file it. Recorded with
    /// a cursor before anything is fetched; a mailbox with a cursor keeps its own.
    pub fn begin_history(&self, mailbox: &str, validity: UidValidity, until: Uid) -> Result<()> {
        self.exec(
            "INSERT INTO imap_cursor (mailbox, uidvalidity, last_uid, history_until) VALUES (?1, ?2, 0, ?3)
             ON CONFLICT (mailbox) DO NOTHING",
            params![mailbox, validity, until],
        )?;
        Ok(())
    }

    /// The last UID of `mailbox` that is history ([`Tx::begin_history`]); 0 for none.
    pub fn history_until(&self, mailbox: &str) -> Result<Uid> {
        Ok(self
            .opt(
                "SELECT history_until FROM imap_cursor WHERE mailbox = ?1",
                [mailbox],
            )?
            .unwrap_or(Uid(0)))
    }

    /// Stores a fetched mail and moves the cursor past it. Returns the row id, or `None`
    /// when this (mailbox, UIDVALIDITY, UID) was already stored. `first_attempt`: the
    /// mail is filed right after this transaction commits, so its first processing
    /// attempt is counted as it is stored (one write of the row instead of two).
    pub fn insert_raw(
        &self,
        (mailbox, validity, uid): (&str, UidValidity, Uid),
        bytes: &[u8],
        now: DateTime<Utc>,
        arrival: Arrival,
        first_attempt: bool,
    ) -> Result<Option<i64>> {
        let attempts = u32::from(first_attempt);
        let n = self.exec(
            "INSERT INTO raw_mail (mailbox, uidvalidity, uid, fetched_at, history, attempts) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT DO NOTHING",
            params![mailbox, validity, uid, ts(now), (arrival == Arrival::History) as i64, attempts],
        )?;
        let id = (n == 1).then(|| self.conn().last_insert_rowid());
        if let Some(id) = id {
            self.insert_raw_body(id, bytes)?;
        }
        let last = self
            .cursor(mailbox)?
            .filter(|(v, _)| *v == validity)
            .map(|(_, u)| u);
        if last.is_none_or(|l| uid > l) {
            self.set_cursor(mailbox, validity, uid)?;
        }
        Ok(id)
    }

    /// The bytes of the new raw mail `id`, in their own table (migration 16): the row of
    /// the mail changes as it is filed, its bytes never do.
    fn insert_raw_body(&self, id: i64, bytes: &[u8]) -> Result<()> {
        self.exec(
            "INSERT INTO raw_bodies (raw_id, bytes) VALUES (?1, ?2)",
            params![id, bytes],
        )?;
        Ok(())
    }

    /// Stores mail that did not come over IMAP (`secdesk import`): it is never flagged.
    /// Its key is the archive's path, the mail's position in it and a fingerprint of its
    /// bytes (in place of IMAP's UIDVALIDITY): importing an archive again skips what is
    /// stored, and another archive at the same path is new mail at every position.
    pub fn insert_imported(
        &self,
        source: &str,
        seq: u32,
        bytes: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Option<i64>> {
        let digest = sha2::Sha256::digest(bytes);
        let print = digest
            .first_chunk::<4>()
            .map_or(0, |b| i64::from(u32::from_be_bytes(*b)));
        let n = self.exec(
            "INSERT INTO raw_mail (mailbox, uidvalidity, uid, fetched_at, flagged) VALUES (?1, ?2, ?3, ?4, 1)
             ON CONFLICT DO NOTHING",
            params![format!("import:{source}"), print, seq, ts(now)],
        )?;
        let id = (n == 1).then(|| self.conn().last_insert_rowid());
        if let Some(id) = id {
            self.insert_raw_body(id, bytes)?;
        }
        Ok(id)
    }

    /// Raw mails stored but not processed yet, oldest first, each with its size in bytes
    /// and the attempts already counted on it.
    pub fn pending_raw_sizes(&self) -> Result<Vec<(i64, u64, u32)>> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT r.id, length(b.bytes), r.attempts FROM raw_mail r JOIN raw_bodies b ON b.raw_id = r.id
              WHERE r.state = 'pending' ORDER BY r.id",
        )?;
        let rows = stmt
            .query_map([], |r| {
                Ok((r.get(0)?, r.get::<_, i64>(1)?.unsigned_abs(), r.get(2)?))
            })?
            .collect::<rusqlite::Result<Vec<(i64, u64, u32)>>>()?;
        Ok(rows)
    }

    /// Counts one more attempt at processing the pending raw mail `id`, before it is
    /// made; returns the count (0 when the mail is no longer pending).
    pub fn begin_raw_attempt(&self, id: i64) -> Result<u32> {
        let n: Option<i64> = self
            .conn()
            .prepare_cached("UPDATE raw_mail SET attempts = attempts + 1 WHERE id = ?1 AND state = 'pending' RETURNING attempts")?
            .query_row([id],
                |r| r.get(0),
            )
            .optional()?;
        Ok(n.and_then(|n| u32::try_from(n).ok()).unwrap_or(0))
    }

    /// Gives back an attempt counted by [`Tx::begin_raw_attempt`] that was never made
    /// (a batch ended before reaching the mail).
    pub fn release_raw_attempt(&self, id: i64) -> Result<()> {
        self.exec(
            "UPDATE raw_mail SET attempts = MAX(attempts - 1, 0) WHERE id = ?1 AND state = 'pending'",
            [id],
        )?;
        Ok(())
    }

    /// The attempts counted so far at processing raw mail `id`; `None` when it is no
    /// longer pending.
    pub fn pending_raw_attempts(&self, id: i64) -> Result<Option<u32>> {
        let n: Option<i64> = self
            .conn()
            .prepare_cached("SELECT attempts FROM raw_mail WHERE id = ?1 AND state = 'pending'")?
            .query_row([id], |r| r.get(0))
            .optional()?;
        Ok(n.map(|n| u32::try_from(n).unwrap_or(u32::MAX)))
    }

    /// Counts an attempt at processing raw mail `id` that was made and failed (it was not
    /// counted before it began), with why; returns the count (0 when no longer pending).
    pub fn count_raw_failure(&self, id: i64, error: &str) -> Result<u32> {
        let n: Option<i64> = self
            .conn()
            .prepare_cached("UPDATE raw_mail SET attempts = attempts + 1, last_error = ?2 WHERE id = ?1 AND state = 'pending' RETURNING attempts")?
            .query_row(params![id, error], |r| r.get(0))
            .optional()?;
        Ok(n.and_then(|n| u32::try_from(n).ok()).unwrap_or(0))
    }

    /// Why the last attempt at processing raw mail `id` failed.
    pub fn raw_attempt_failed(&self, id: i64, error: &str) -> Result<()> {
        self.exec(
            "UPDATE raw_mail SET last_error = ?2 WHERE id = ?1",
            params![id, error],
        )?;
        Ok(())
    }

    /// The last processing error of raw mail `id`.
    pub fn raw_last_error(&self, id: i64) -> Result<Option<String>> {
        Ok(self
            .conn()
            .prepare_cached("SELECT last_error FROM raw_mail WHERE id = ?1")?
            .query_row([id], |r| r.get(0))
            .optional()?
            .flatten())
    }

    /// The bytes of a raw mail and how it arrived, if it is still pending.
    pub fn pending_raw(&self, id: i64) -> Result<Option<(Vec<u8>, Arrival)>> {
        let row: Option<(Vec<u8>, i64)> = self
            .conn()
            .prepare_cached(
                "SELECT b.bytes, r.history FROM raw_mail r JOIN raw_bodies b ON b.raw_id = r.id
                  WHERE r.id = ?1 AND r.state = 'pending'",
            )?
            .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        Ok(row.map(|(b, h)| {
            (
                b,
                if h == 1 {
                    Arrival::History
                } else {
                    Arrival::Live
                },
            )
        }))
    }

    /// Whether the raw mail `id` is still waiting to be processed.
    pub fn raw_is_pending(&self, id: i64) -> Result<bool> {
        Ok(self
            .opt::<i64>(
                "SELECT 1 FROM raw_mail WHERE id = ?1 AND state = 'pending'",
                [id],
            )?
            .is_some())
    }

    pub fn raw_bytes_of_message(&self, message_id: &MessageId) -> Result<Option<Vec<u8>>> {
        self.opt(
            "SELECT b.bytes FROM messages m JOIN raw_bodies b ON b.raw_id = m.raw_id WHERE m.message_id = ?1",
            [message_id],
        )
    }

    /// The kind a message was filed as (`report`, `unreadable`, …).
    pub fn message_kind(&self, message_id: &MessageId) -> Result<Option<String>> {
        self.opt(
            "SELECT kind FROM messages WHERE message_id = ?1",
            [message_id],
        )
    }

    /// The kind of the message `message_id`, when it is on the case `case`.
    pub fn message_kind_on(&self, message_id: &MessageId, case: &CaseId) -> Result<Option<String>> {
        self.opt(
            "SELECT kind FROM messages WHERE message_id = ?1 AND case_id = ?2",
            rusqlite::params![message_id, case],
        )
    }

    /// The first `len` bytes of the mail filed under `message_id`, when the desk received
    /// it (a mail it sent has no bytes here): enough for its header block.
    pub fn raw_head_of_message(
        &self,
        message_id: &MessageId,
        len: usize,
    ) -> Result<Option<Vec<u8>>> {
        self.opt(
            "SELECT substr(b.bytes, 1, ?2) FROM messages m JOIN raw_bodies b ON b.raw_id = m.raw_id WHERE m.message_id = ?1",
            params![message_id, i64::try_from(len).unwrap_or(i64::MAX)],
        )
    }

    /// Records that mail `message_id` (stored as `raw_id`) went on no case.
    pub fn note_unfiled(&self, message_id: &MessageId, raw_id: Option<i64>) -> Result<()> {
        self.exec(
            "INSERT OR IGNORE INTO unfiled_mail (message_id, raw_id) VALUES (?1, ?2)",
            params![message_id, raw_id],
        )?;
        Ok(())
    }

    /// The first `len` bytes of the mail `message_id` that went on no case, if one did
    /// (empty when its bytes are not on file).
    pub fn unfiled_head(&self, message_id: &MessageId, len: usize) -> Result<Option<Vec<u8>>> {
        self.opt(
            "SELECT COALESCE(substr(b.bytes, 1, ?2), x'') FROM unfiled_mail u
               LEFT JOIN raw_bodies b ON b.raw_id = u.raw_id WHERE u.message_id = ?1",
            params![message_id, i64::try_from(len).unwrap_or(i64::MAX)],
        )
    }

    pub fn mark_raw(
        &self,
        id: i64,
        outcome: RawOutcome,
        message_id: &MessageId,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let state = match outcome {
            RawOutcome::Processed => "processed",
            RawOutcome::Duplicate => "duplicate",
        };
        self.exec(
            "UPDATE raw_mail SET state = ?2, processed_at = ?3, message_id = ?4 WHERE id = ?1",
            params![id, state, ts(now), message_id],
        )?;
        Ok(())
    }

    /// UIDs processed but not yet marked done on the server.
    pub fn unflagged(&self, mailbox: &str, validity: UidValidity) -> Result<Vec<Uid>> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT uid FROM raw_mail WHERE mailbox = ?1 AND uidvalidity = ?2 AND flagged = 0 AND state != 'pending' ORDER BY uid",
        )?;
        let uids = stmt
            .query_map(params![mailbox, validity], |r| r.get::<_, Uid>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(uids)
    }

    pub fn mark_flagged(&self, mailbox: &str, validity: UidValidity, uids: &[Uid]) -> Result<()> {
        let mut stmt = self.conn().prepare_cached(
            "UPDATE raw_mail SET flagged = 1 WHERE mailbox = ?1 AND uidvalidity = ?2 AND uid = ?3",
        )?;
        for uid in uids {
            stmt.execute(params![mailbox, validity, uid])?;
        }
        Ok(())
    }

    /// Whether the message `by` (on file) references `id` (the reverse link of
    /// threading: `id` was not on file when `by` came).
    pub fn message_references(&self, by: &MessageId, id: &MessageId) -> Result<bool> {
        Ok(self
            .opt::<i64>(
                "SELECT 1 FROM message_refs r JOIN messages m ON m.id = r.message_row
                 WHERE r.referenced_id = ?1 AND m.message_id = ?2",
                params![id, by],
            )?
            .is_some())
    }

    pub fn message_known(&self, id: &MessageId) -> Result<bool> {
        Ok(self
            .opt::<i64>("SELECT 1 FROM messages WHERE message_id = ?1", [id])?
            .is_some())
    }

    /// Files a message on a case, with the ids it references that are not on file (for
    /// reverse threading: a mail arriving later under such an id joins this case).
    ///
    /// An id already filed as a message is left out: reverse threading looks up only the
    /// id of a mail not on file (one on file is a duplicate), and messages are never
    /// removed. So a reply to a report, and every mail the desk sends about it, adds no
    /// reference row (three rows and their index entries fewer a report filed, issue 12).
    pub fn insert_message(&self, m: &NewMessage<'_>) -> Result<i64> {
        let (direction, raw_id, outbox_id) = match m.source {
            Source::Received { raw } => ("in", raw, None),
            Source::Sent { outbox } => ("out", None, Some(outbox)),
        };
        self.exec(
            "INSERT INTO messages (message_id, case_id, direction, at, from_addr, subject, raw_id, outbox_id, kind)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                m.id,
                m.case,
                direction,
                ts(m.at),
                m.from,
                m.subject,
                raw_id,
                outbox_id,
                m.kind
            ],
        )?;
        let row = self.conn().last_insert_rowid();
        let mut stmt = self.conn().prepare_cached(
            "INSERT INTO message_refs (message_row, referenced_id, case_id) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
        )?;
        for r in m.references {
            if !self.message_known(r)? {
                stmt.execute(params![row, r, m.case])?;
            }
        }
        Ok(row)
    }

    /// The latest mail `from` sent on `case` (what `#reply` answers): read backwards
    /// through `messages_case`, never the case's whole list.
    pub fn last_message_from(&self, case: &CaseId, from: &str) -> Result<Option<MessageId>> {
        self.opt(
            "SELECT message_id FROM messages WHERE case_id = ?1 AND direction = 'in' AND from_addr = ?2
             ORDER BY at DESC, id DESC LIMIT 1",
            params![case, from],
        )
    }

    pub fn messages_of(&self, case: &CaseId) -> Result<Vec<MessageRow>> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT message_id, direction, at, from_addr, subject, kind FROM messages WHERE case_id = ?1 ORDER BY at, id",
        )?;
        let rows = stmt
            .query_map([case], |r| {
                Ok((
                    r.get::<_, MessageId>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter()
            .map(|(id, dir, at, from, subject, kind)| {
                Ok(MessageRow {
                    message_id: id,
                    direction_in: dir == "in",
                    at: parse_ts(&at)?,
                    from,
                    subject,
                    kind,
                })
            })
            .collect()
    }

    fn case_of_text(&self, sql: &str, key: &str) -> Result<Option<CaseId>> {
        Ok(self
            .opt::<String>(sql, [key])?
            .and_then(|c| CaseId::parse(&c)))
    }
}

/// The case of the first stored message that points at an id (one index entry read).
const CASE_REFERENCING_SQL: &str =
    "SELECT case_id FROM message_refs WHERE referenced_id = ?1 ORDER BY message_row LIMIT 1";

impl ThreadIndex for Tx<'_> {
    type Error = StoreError;

    fn case_of_any(&self, ids: &[MessageId]) -> Result<Option<CaseId>> {
        for id in ids {
            let found = self.case_of_text(
                "SELECT case_id FROM messages WHERE message_id = ?1",
                id.as_str(),
            )?;
            if found.is_some() {
                return Ok(found);
            }
        }
        Ok(None)
    }

    fn case_referencing(&self, id: &MessageId) -> Result<Option<CaseId>> {
        self.case_of_text(CASE_REFERENCING_SQL, id.as_str())
    }

    fn case_exists(&self, id: &CaseId) -> Result<bool> {
        Ok(self
            .case_of_text("SELECT id FROM cases WHERE id = ?1", &id.to_string())?
            .is_some())
    }

    fn alias_of(&self, id: &CaseId) -> Result<Option<CaseId>> {
        self.case_alias(id)
    }
}

#[cfg(test)]
mod tests {
    use super::{CASE_REFERENCING_SQL, NewMessage, Source};
    use crate::desk::case::Case;
    use crate::mail::threading::ThreadIndex;
    use crate::store::Store;
    use crate::types::{CaseId, MessageId};
    use chrono::{TimeZone, Utc};
    use rusqlite::StatementStatus;

    /// Filing a mail writes its bytes once: marking it processed, counting an attempt or
    /// flagging it done changes a few small columns, and must not rewrite (in the WAL,
    /// then again in the checkpoint) a copy of the whole mail, as an update of a row
    /// holding the bytes does. With 10,000 reports of 12 KB, that was 120 MB written
    /// again in the middle of filing a backlog (issue 12).
    #[test]
    fn marking_a_raw_mail_rewrites_none_of_its_bytes() {
        use super::{Arrival, RawOutcome};
        use crate::types::{Uid, UidValidity};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("raw.db");
        let mut store = Store::open(&path).unwrap();
        store
            .conn
            .pragma_update(None, "wal_autocheckpoint", 0)
            .unwrap();
        let page: i64 = store
            .conn
            .query_row("PRAGMA page_size", [], |r| r.get(0))
            .unwrap();
        let page = page.unsigned_abs();
        let wal_frames = || {
            let wal = std::fs::metadata(dir.path().join("raw.db-wal"))
                .unwrap()
                .len();
            wal.saturating_sub(32) / (page + 24)
        };
        let at = Utc.with_ymd_and_hms(2026, 12, 1, 6, 0, 0).unwrap();
        let mail = vec![b'x'; 400 * 1024];
        let (validity, uid) = (UidValidity(7), Uid(1));
        let id = store
            .write(|tx| tx.insert_raw(("INBOX", validity, uid), &mail, at, Arrival::Live, true))
            .unwrap()
            .unwrap();
        let stored = wal_frames();
        assert!(
            stored >= mail.len() as u64 / page,
            "the mail itself is in the WAL ({stored} frames of {page} bytes)"
        );
        let (back, _) = store.read(|tx| tx.pending_raw(id)).unwrap().unwrap();
        assert!(back == mail, "the bytes read back are the bytes stored");
        let mid = MessageId::from_parts("m", "x.test");
        store
            .write(|tx| {
                tx.count_raw_failure(id, "once")?;
                tx.mark_raw(id, RawOutcome::Processed, &mid, at)?;
                tx.mark_flagged("INBOX", validity, &[uid])
            })
            .unwrap();
        let marked = wal_frames() - stored;
        assert!(
            marked < 10,
            "marking a 400 KB mail wrote {marked} pages (its bytes are {} pages)",
            mail.len() as u64 / page
        );
    }

    /// Finding the case of the first message that pointed at an id (read for every
    /// mail) reads one index entry, however many stored messages point at that id: three
    /// thousand mails that all name one Message-ID cost the mail carrying it a handful of
    /// steps, not a sort of three thousand rows.
    #[test]
    fn the_reverse_link_reads_one_entry_however_many_point_at_the_id() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("refs.db")).unwrap();
        let at = Utc.with_ymd_and_hms(2026, 11, 30, 12, 0, 0).unwrap();
        let target = MessageId::from_parts("parent", "x.test");
        let cases: Vec<CaseId> = (1..=3)
            .map(|n| CaseId::parse(&format!("SEC-2026-{n:04}")).unwrap())
            .collect();
        store
            .write(|tx| {
                for (n, id) in cases.iter().enumerate() {
                    let root = MessageId::from_parts(&format!("root{n}"), "x.test");
                    tx.insert_case(&Case::new(id.clone(), "s".into(), None, at, root))?;
                }
                // The first to point at the parent is on the second case.
                for i in 0..3000 {
                    let own = MessageId::from_parts(&format!("m{i}"), "x.test");
                    let case = &cases[if i == 0 { 1 } else { i % 3 }];
                    tx.insert_message(&NewMessage {
                        id: &own,
                        case,
                        source: Source::Received { raw: None },
                        at,
                        from: "f@x.test",
                        subject: "s",
                        kind: "report",
                        references: std::slice::from_ref(&target),
                    })?;
                }
                Ok(())
            })
            .unwrap();
        let (found, steps) = store
            .read(|tx| {
                let found = tx.case_referencing(&target)?;
                let stmt = tx.conn().prepare_cached(CASE_REFERENCING_SQL)?;
                Ok((found, stmt.get_status(StatementStatus::VmStep)))
            })
            .unwrap();
        assert_eq!(found.as_ref(), Some(&cases[1]));
        assert!(steps < 100, "{steps} steps to find the first of 3000");
    }

    /// A message keeps, for reverse threading, only the ids it points at that are not on
    /// file: a reply to the report (and each mail the desk sends about it) adds no
    /// reference row, while a reply that arrives before its parent still draws the parent
    /// into the case when it comes.
    #[test]
    fn only_references_to_mail_not_on_file_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("refs.db")).unwrap();
        let at = Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap();
        let case = CaseId::parse("SEC-2026-0001").unwrap();
        let [report, reply, missing] =
            ["report", "reply", "missing"].map(|p| MessageId::from_parts(p, "x.test"));
        let refs = store
            .write(|tx| {
                tx.insert_case(&Case::new(
                    case.clone(),
                    "s".into(),
                    None,
                    at,
                    report.clone(),
                ))?;
                for (id, references) in [
                    (&report, vec![]),
                    (&reply, vec![report.clone(), missing.clone()]),
                ] {
                    tx.insert_message(&NewMessage {
                        id,
                        case: &case,
                        source: Source::Received { raw: None },
                        at,
                        from: "f@x.test",
                        subject: "s",
                        kind: "report",
                        references: &references,
                    })?;
                }
                let refs: Vec<String> = tx
                    .conn()
                    .prepare("SELECT referenced_id FROM message_refs")?
                    .query_map([], |r| r.get(0))?
                    .collect::<rusqlite::Result<_>>()?;
                Ok(refs)
            })
            .unwrap();
        assert_eq!(
            refs,
            vec![missing.as_str().to_string()],
            "the report is on file"
        );
        let found = store.read(|tx| tx.case_referencing(&missing)).unwrap();
        assert_eq!(
            found,
            Some(case),
            "the mail not yet on file still joins the case"
        );
    }
}
