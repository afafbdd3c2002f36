//! The one SQLite file that holds everything: raw mail, cases, their messages and
//! events, the outbox and the reminders.
//!
//! Invariants:
//! - only this module writes SQL;
//! - every change that must survive a restart is written inside one `BEGIN IMMEDIATE`
//!   transaction together with the change that caused it ([`Store::write`]), so two
//!   desks on one file serialise instead of both acting;
//! - the file is created readable by its owner alone (0600), in WAL mode, with a busy
//!   timeout on every connection.

mod cases;
mod checkpoints;
mod columns;
mod desks;
mod mail;
mod outbox;
mod reminders;
mod schema;

pub use cases::{CASE_PAGE, CaseSummary, Listing};
pub use checkpoints::Checkpoints;
pub use mail::{Arrival, MessageRow, NewMessage, RawOutcome, Source};
pub use outbox::{BadOutboxRow, DueRows, OutboxRow, OutboxState};
pub use reminders::{
    BadReminder, DIGEST_SCOPE, PlannedRow, ReminderRow, ReminderState, SPAM_SCOPE,
};

use crate::clock;
use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Why the store could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the database {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error(
        "the database {path} was written by a newer secdesk (schema version {found}, this one knows {known})"
    )]
    TooNew {
        path: PathBuf,
        found: i64,
        known: usize,
    },
    #[error("database error: {0}")]
    Sqlite(rusqlite::Error),
    #[error("the database holds a value this secdesk cannot read: {0}")]
    Corrupt(String),
    #[error("cannot bring the commits in {path} to the disk: {source}")]
    Sync {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The advisory repository refused the publication's commit: the transaction that
    /// would have recorded the publication is rolled back with it.
    #[error("the advisory repository refused the commit: {0}")]
    AdvisoryRepo(String),
}

impl From<rusqlite::Error> for StoreError {
    /// A column that does not read back as its type (`columns`) is corrupt data.
    fn from(e: rusqlite::Error) -> StoreError {
        match e {
            rusqlite::Error::FromSqlConversionFailure(_, _, source)
                if source.is::<columns::Unreadable>() =>
            {
                StoreError::Corrupt(source.to_string())
            }
            e => StoreError::Sqlite(e),
        }
    }
}

impl StoreError {
    /// A busy or locked database: worth retrying.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => matches!(
                e.code,
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
            ),
            _ => false,
        }
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// The size the WAL file is cut back to when it starts over (`journal_size_limit`).
pub const WAL_SIZE_LIMIT: i64 = 16 << 20;

/// A connection to the database.
pub struct Store {
    conn: Connection,
    path: PathBuf,
    /// Shared by the connections of one process (see [`Store::share_writes`]).
    writers: Option<WriteGate>,
}

/// Orders the write transactions of one process's connections before SQLite does.
/// Without it a writer that finds the database locked by another connection of the same
/// process sleeps in SQLite's busy handler (1, 2, 5, 10 … 100 ms) and polls again; a
/// writer waiting here is woken the moment the other commits. (Other processes, such as
/// the CLI, are still ordered by SQLite's locks and the busy timeout.)
///
/// The gate also carries the process's [`Checkpoints`], when it has them: its
/// connections then leave checkpoints to that thread.
#[derive(Clone, Default)]
pub struct WriteGate {
    turn: std::sync::Arc<std::sync::Mutex<()>>,
    checkpoints: Option<Checkpoints>,
}

impl WriteGate {
    /// A gate whose connections leave the checkpoints of the database at `path` to a
    /// thread of their own ([`Checkpoints`]).
    pub fn checkpointed(path: &Path) -> std::io::Result<WriteGate> {
        let turn = std::sync::Arc::default();
        let checkpoints = Checkpoints::start(path, std::sync::Arc::clone(&turn))?;
        Ok(WriteGate {
            turn,
            checkpoints: Some(checkpoints),
        })
    }
}

impl std::fmt::Debug for WriteGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WriteGate")
    }
}

/// Brings every commit written to the WAL at `wal` so far to the disk, whichever
/// connection wrote it: the WAL is one file that commits only append to (or restart
/// once a checkpoint has copied and synced all of it into the database), and `fsync`
/// flushes a file's pages whatever descriptor wrote them. SQLite locks the database and
/// its `-shm`, never the WAL, so opening and closing a descriptor of it here drops no
/// lock of this process's connections.
pub fn sync_wal(wal: &Path) -> Result<()> {
    let sync = || std::fs::File::open(wal)?.sync_data();
    sync().map_err(|source| StoreError::Sync {
        path: wal.to_path_buf(),
        source,
    })
}

/// The page size of a database this secdesk creates.
const PAGE_SIZE: i64 = 8192;

/// How many times a backup tries, 50 ms apart, while the database is locked: a minute.
const BACKUP_TRIES: u32 = 1200;

/// A write transaction; every change goes through one.
pub struct Tx<'c> {
    tx: rusqlite::Transaction<'c>,
}

impl Store {
    /// Opens (creating and migrating if needed) the database at `path`.
    pub fn open(path: &Path) -> Result<Store> {
        let open_err = |e: Box<dyn std::error::Error + Send + Sync>| StoreError::Open {
            path: path.to_path_buf(),
            source: e,
        };
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
            && !dir.exists()
        {
            std::fs::create_dir_all(dir).map_err(|e| open_err(Box::new(e)))?;
        }
        // Create the file ourselves so it is born 0600: reports are confidential. Only
        // when it does not exist yet: POSIX locks belong to the process, and closing any
        // descriptor of the file drops all of them, the SHARED lock that each open
        // connection holds in WAL mode included. Without it, another program that opens
        // and closes the database believes it is the last user and deletes the WAL under
        // the daemon, whose later commits then go to a deleted file. (`create_new` on an
        // existing file fails before any descriptor is opened.)
        match std::fs::OpenOptions::new()
            .create_new(true)
            .append(true)
            .mode(0o600)
            .open(path)
        {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(open_err(Box::new(e))),
        }
        let conn = Connection::open(path).map_err(|e| open_err(Box::new(e)))?;
        conn.busy_timeout(Duration::from_secs(10))?;
        // For a new database only (an existing one keeps its own): 8 KiB pages. A
        // rendered outgoing mail (1.5 to 2.5 KB, its row in the outbox) fits one to a
        // 4 KiB page, leaving about half of it empty, and three to an 8 KiB one.
        conn.pragma_update(None, "page_size", PAGE_SIZE)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        // A WAL that grew (a migration moving every stored mail, a big backlog) is cut
        // back to this when it starts over, instead of keeping its largest size on disk.
        conn.pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT)?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // Savepoints (one per mail of a batch) keep their undo pages in a statement
        // journal: in memory, not tens of thousands of small writes to a temporary file.
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        // Every statement a mail needs stays prepared.
        conn.set_prepared_statement_cache_capacity(128);
        let mut store = Store {
            conn,
            path: path.to_path_buf(),
            writers: None,
        };
        if store.migrate()? {
            // A migration may edit a definition in place (writable_schema), which the
            // connection that ran it keeps in its parsed form: a fresh one reads it anew.
            drop(store);
            return Store::open(path);
        }
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How many migrations opening the database at `path` would run (0 for a file that
    /// does not exist yet, or is up to date); read without changing anything.
    pub fn migrations_pending(path: &Path) -> Result<usize> {
        if !path.exists() {
            return Ok(0);
        }
        let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        let done = usize::try_from(version).unwrap_or(0);
        Ok(schema::MIGRATIONS.len().saturating_sub(done))
    }

    /// The integrity check of the database at `path` and how many migrations its next
    /// opening would run, read without changing anything (no migration, no file made):
    /// what `secdesk check` says while an older daemon may still be using the file.
    pub fn inspect(path: &Path) -> Result<(String, usize)> {
        let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(|e| StoreError::Open {
                path: path.to_path_buf(),
                source: Box::new(e),
            })?;
        conn.busy_timeout(Duration::from_secs(10))?;
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        let known = schema::MIGRATIONS.len();
        if version > known as i64 {
            return Err(StoreError::TooNew {
                path: path.to_path_buf(),
                found: version,
                known,
            });
        }
        let integrity: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
        let done = usize::try_from(version).unwrap_or(0);
        Ok((integrity, known.saturating_sub(done)))
    }

    /// How many open cases each desk has in the database at `path` (by desk key, `""` for
    /// the top level), read only; empty for a file not there yet.
    pub fn open_cases_by_desk(path: &Path) -> Result<Vec<(String, i64)>> {
        if !path.exists() {
            return Ok(Vec::new());
        }
        let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        conn.busy_timeout(Duration::from_secs(10))?;
        let mut q = conn.prepare(
            "SELECT desk, COUNT(*) FROM cases
             WHERE status NOT IN ('published', 'closed', 'spam') GROUP BY desk",
        )?;
        let rows = q
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Brings the schema up to date; true when a migration ran.
    fn migrate(&mut self) -> Result<bool> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        let known = schema::MIGRATIONS.len();
        if version > known as i64 {
            return Err(StoreError::TooNew {
                path: self.path.clone(),
                found: version,
                known,
            });
        }
        let mut ran = false;
        for (i, sql) in schema::MIGRATIONS.iter().enumerate().skip(version as usize) {
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)?;
            ran = true;
        }
        if ran {
            // A migration may edit a table's definition in place (writable_schema): a
            // new schema_version makes every connection, this one included, reload it.
            let schema_version: i64 = tx.query_row("PRAGMA schema_version", [], |r| r.get(0))?;
            tx.pragma_update(None, "schema_version", schema_version + 1)?;
        }
        tx.commit()?;
        Ok(ran)
    }

    /// Runs `f` in a `BEGIN IMMEDIATE` transaction; commits if it returns `Ok`.
    pub fn write<T>(&mut self, f: impl FnOnce(&Tx<'_>) -> Result<T>) -> Result<T> {
        let gate = self.writers.clone();
        // A panicking writer rolled its transaction back: the gate is still good.
        let _turn = gate
            .as_ref()
            .map(|g| g.turn.lock().unwrap_or_else(|e| e.into_inner()));
        let out = self.transaction(TransactionBehavior::Immediate, f)?;
        if let Some(c) = gate.as_ref().and_then(|g| g.checkpoints.as_ref()) {
            c.poke();
        }
        Ok(out)
    }

    /// Makes this connection's write transactions wait their turn at `gate`, which the
    /// process's other connections share. A write transaction must never open another
    /// connection's write transaction inside it (it would wait for itself). When the
    /// gate has [`Checkpoints`], this connection's commits leave checkpoints to them.
    pub fn share_writes(&mut self, gate: &WriteGate) -> Result<()> {
        if gate.checkpoints.is_some() {
            self.conn
                .pragma_update(None, "wal_autocheckpoint", checkpoints::BACKSTOP_PAGES)?;
        }
        self.writers = Some(gate.clone());
        Ok(())
    }

    /// Lets this connection's commits return once they are written to the WAL, before
    /// they reach the disk (`synchronous = NORMAL`), and returns the WAL's path: the
    /// caller must [`sync_wal`] it before anything outside the database acts on what
    /// was committed. A power cut before that loses those commits whole (SQLite's WAL
    /// checksums discard them; the database stays consistent), never a part of one.
    /// `None`, and nothing changed, when the database is not in WAL mode.
    pub fn defer_durability(&mut self) -> Result<Option<PathBuf>> {
        let mode: String = self
            .conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Ok(None);
        }
        self.conn.pragma_update(None, "synchronous", "NORMAL")?;
        Ok(Some(sidecar(&self.path, "-wal")))
    }

    /// Runs `f` in a read transaction (a consistent snapshot).
    pub fn read<T>(&mut self, f: impl FnOnce(&Tx<'_>) -> Result<T>) -> Result<T> {
        self.transaction(TransactionBehavior::Deferred, f)
    }

    fn transaction<T>(
        &mut self,
        behavior: TransactionBehavior,
        f: impl FnOnce(&Tx<'_>) -> Result<T>,
    ) -> Result<T> {
        let wrapped = Tx {
            tx: self.conn.transaction_with_behavior(behavior)?,
        };
        let out = f(&wrapped)?;
        wrapped.tx.commit()?;
        Ok(out)
    }

    /// A consistent copy of the live database (SQLite online backup), made 0600.
    /// Tries [`BACKUP_TRIES`] times, 50 ms apart, while the database is locked.
    ///
    /// The copy is made under `<dest>.partial` and given its name only when whole and on
    /// the disk: a backup killed midway (Ctrl-C, a cron job's `timeout`, the OOM killer)
    /// leaves a file named for what it is, never a half copy under the backup's name,
    /// which SQLite would open as an empty database.
    pub fn backup_to(&self, dest: &Path) -> Result<()> {
        let fail = |path: &Path, why: String| StoreError::Open {
            path: path.to_path_buf(),
            source: why.into(),
        };
        if dest.exists() {
            return Err(fail(
                dest,
                "the backup file already exists; choose a new name".into(),
            ));
        }
        let partial = sidecar(dest, ".partial");
        // (A journal left beside a stale copy is harmless: the copy overwrites every page.)
        let journal = sidecar(&partial, "-journal");
        if partial.exists() {
            return Err(fail(
                &partial,
                format!(
                    "a backup to this name did not finish (or is still running): remove {} and any {} beside it, then try again",
                    partial.display(),
                    journal.display()
                ),
            ));
        }
        std::fs::OpenOptions::new()
            .create_new(true)
            .write(true)
            .mode(0o600)
            .open(&partial)
            .map_err(|e| StoreError::Open {
                path: partial.clone(),
                source: Box::new(e),
            })?;
        let done = self.copy_into(&partial).and_then(|()| {
            // On the disk before it takes the name; the name given without replacing a
            // file made meanwhile, and the directory's entry on the disk too.
            let io = |e: std::io::Error| fail(dest, e.to_string());
            std::fs::File::open(&partial)
                .and_then(|f| f.sync_all())
                .map_err(io)?;
            give_name(&partial, dest).map_err(io)?;
            if let Some(dir) = dest.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::File::open(dir)
                    .and_then(|d| d.sync_all())
                    .map_err(io)?;
            }
            Ok(())
        });
        if done.is_err() {
            // Ours (`create_new`): half a copy is no backup.
            for f in [&partial, &journal] {
                match std::fs::remove_file(f) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        tracing::warn!(file = %f.display(), error = %e, "could not remove an unfinished backup");
                    }
                    _ => {}
                }
            }
        }
        done
    }

    /// The online backup of the database into the new, empty file `dest`.
    fn copy_into(&self, dest: &Path) -> Result<()> {
        let mut target = Connection::open(dest)?;
        let backup = rusqlite::backup::Backup::new(&self.conn, &mut target)?;
        // Every page in one step, under one read snapshot: a step at a time, the backup
        // starts over at each commit of another connection, and a busy desk commits
        // several times a second. (In WAL mode the read blocks no writer.)
        if crate::service::failpoints::active("backup-crash") {
            backup.step(1)?;
            crate::service::failpoints::crash_if("backup-crash");
        }
        for _ in 0..BACKUP_TRIES {
            match backup.step(-1)? {
                rusqlite::backup::StepResult::Done => return Ok(()),
                _ => std::thread::sleep(Duration::from_millis(50)),
            }
        }
        Err(StoreError::Open {
            path: dest.to_path_buf(),
            source: "the database stayed locked for a minute; try again".into(),
        })
    }

    /// Gives back the memory of this connection's page cache (`PRAGMA shrink_memory`):
    /// for a loop going idle after a backlog, whose cache would otherwise stay full.
    pub fn shrink(&self) {
        if let Err(e) = self.conn.execute_batch("PRAGMA shrink_memory") {
            tracing::debug!(error = %e, "shrink_memory failed");
        }
    }

    /// `PRAGMA integrity_check`: "ok" when the file is sound.
    pub fn integrity_check(&self) -> Result<String> {
        Ok(self
            .conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))?)
    }
}

// Conversions between column text and typed values. Unreadable values are reported as
// `Corrupt`, never unwrapped.

pub(crate) fn ts(t: DateTime<Utc>) -> String {
    clock::to_db(t)
}

pub(crate) fn parse_ts(text: &str) -> Result<DateTime<Utc>> {
    clock::from_db(text).ok_or_else(|| StoreError::Corrupt(format!("instant `{text}`")))
}

pub(crate) fn parse_opt_ts(text: Option<String>) -> Result<Option<DateTime<Utc>>> {
    text.map(|t| parse_ts(&t)).transpose()
}

pub(crate) fn parse_opt_date(text: Option<String>) -> Result<Option<NaiveDate>> {
    text.map(|t| {
        NaiveDate::parse_from_str(&t, "%Y-%m-%d")
            .map_err(|_| StoreError::Corrupt(format!("date `{t}`")))
    })
    .transpose()
}

/// A Message-ID read back from the database (written by us, so already clean).
pub(crate) fn stored_id(text: &str) -> crate::types::MessageId {
    crate::types::MessageId::new(text)
        .unwrap_or_else(|| crate::types::MessageId::from_parts(text, "invalid"))
}

impl Tx<'_> {
    pub(crate) fn conn(&self) -> &Connection {
        &self.tx
    }

    /// Runs `f` inside a savepoint of this transaction: when `f` fails, everything it
    /// wrote is undone and the transaction goes on as before it. Lets one transaction
    /// carry a batch of mails, each still all-or-nothing.
    pub fn savepoint<T>(&self, f: impl FnOnce(&Tx<'_>) -> Result<T>) -> Result<T> {
        // Prepared once per connection, like every statement a mail needs.
        self.exec("SAVEPOINT unit", [])?;
        match f(self) {
            Ok(v) => {
                self.exec("RELEASE unit", [])?;
                Ok(v)
            }
            Err(e) => {
                self.exec("ROLLBACK TO unit", [])?;
                self.exec("RELEASE unit", [])?;
                Err(e)
            }
        }
    }

    /// Runs one statement, prepared once per connection (the SQL is not parsed again
    /// for every mail); returns how many rows it changed.
    pub(crate) fn exec(&self, sql: &str, params: impl rusqlite::Params) -> Result<usize> {
        Ok(self.tx.prepare_cached(sql)?.execute(params)?)
    }

    /// A single optional value: `None` for no row or a NULL.
    /// Every row `sql` returns, read as a tuple of its columns.
    pub(crate) fn rows<T>(&self, sql: &str, params: impl rusqlite::Params) -> Result<Vec<T>>
    where
        T: for<'r> TryFrom<&'r rusqlite::Row<'r>, Error = rusqlite::Error>,
    {
        let mut stmt = self.tx.prepare_cached(sql)?;
        let rows = stmt
            .query_map(params, |r| T::try_from(r))?
            .collect::<rusqlite::Result<Vec<T>>>()?;
        Ok(rows)
    }

    /// The first column of every row `sql` returns.
    pub(crate) fn column<T: rusqlite::types::FromSql, C: FromIterator<T>>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
    ) -> Result<C> {
        let mut stmt = self.tx.prepare_cached(sql)?;
        let values = stmt
            .query_map(params, |r| r.get::<_, T>(0))?
            .collect::<rusqlite::Result<C>>()?;
        Ok(values)
    }

    pub(crate) fn opt<T: rusqlite::types::FromSql>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
    ) -> Result<Option<T>> {
        // No row and a NULL value (MAX over nothing) both mean "none".
        Ok(self
            .tx
            .prepare_cached(sql)?
            .query_row(params, |r| r.get::<_, Option<T>>(0))
            .optional()?
            .flatten())
    }
}

/// What the store's tests read of SQLite's own view of a statement or an index.
/// Gives the finished copy `partial` the name `dest`, never replacing a file made there
/// meanwhile: a hard link, then the copy's own name removed. A file system without hard
/// links (FAT, exFAT, some FUSE mounts) refuses the link; there the copy is renamed,
/// `dest` still free a moment before.
fn give_name(partial: &Path, dest: &Path) -> std::io::Result<()> {
    let linked = if crate::service::failpoints::active("backup-no-link") {
        Err(std::io::Error::from_raw_os_error(1))
    } else {
        std::fs::hard_link(partial, dest)
    };
    match linked {
        Ok(()) => std::fs::remove_file(partial),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(std::io::Error::new(
            e.kind(),
            "a file of that name was made while the backup ran; choose a new name",
        )),
        Err(_) if !dest.exists() => std::fs::rename(partial, dest),
        Err(e) => Err(e),
    }
}

/// `path` with `suffix` after its name: SQLite's `-wal` and `-journal` files beside a
/// database, a backup's `.partial` copy.
fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

#[cfg(test)]
pub(crate) mod inspect {
    use super::Store;

    /// SQLite's plan for `sql`, one step a line.
    pub fn plan(store: &Store, sql: &str) -> String {
        let mut stmt = store
            .conn
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap();
        // The plan does not depend on the values: NULL for each parameter.
        let nulls = vec![rusqlite::types::Null; stmt.parameter_count()];
        let rows = stmt
            .query_map(rusqlite::params_from_iter(nulls), |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<rusqlite::Result<Vec<_>>>()
            .unwrap();
        rows.join("\n")
    }

    /// How many entries the index `name` holds: its cells, read from its pages (an index
    /// of one page, as a test's is: each cell is an entry).
    pub fn index_entries(store: &Store, name: &str) -> i64 {
        store
            .conn
            .query_row(
                "SELECT SUM(ncell) FROM dbstat WHERE name = ?1",
                [name],
                |r| r.get(0),
            )
            .unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{Uid, UidValidity};

    /// A backup that fails leaves no file behind: it left an empty one, which SQLite
    /// opens as an empty database (a day's "backup" with no case in it), and the retry
    /// its error asked for was refused, the name being taken.
    #[test]
    fn a_failed_backup_leaves_no_file_under_its_name() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("live.db")).unwrap();
        let dest = dir.path().join("copy.db");
        // The copy's journal cannot be created: the copy fails once begun.
        let journal = dir.path().join("copy.db.partial-journal");
        std::fs::create_dir(&journal).unwrap();
        assert!(store.backup_to(&dest).is_err());
        assert!(
            !dest.exists(),
            "an unfinished backup is left as {}",
            dest.display()
        );
        assert!(!dir.path().join("copy.db.partial").exists());
        std::fs::remove_dir(&journal).unwrap();
        store.backup_to(&dest).unwrap();
        assert_eq!(Store::open(&dest).unwrap().integrity_check().unwrap(), "ok");
    }

    /// A backup of a database written to all the while (a daemon at work) ends, and is
    /// sound. (It copied 256 pages a step with a pause between, and SQLite starts a
    /// backup over at each commit of another connection: a busy desk's backup never
    /// ended.)
    #[test]
    fn a_backup_ends_while_another_connection_commits_all_the_time() {
        use std::sync::atomic::{AtomicBool, Ordering};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("live.db");
        let store = Store::open(&path).unwrap();
        store
            .conn
            .execute_batch(
                "CREATE TABLE filler (x BLOB);
                 WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10000)
                 INSERT INTO filler SELECT randomblob(4000) FROM n;",
            )
            .unwrap();
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let writer = {
            let (stop, path) = (std::sync::Arc::clone(&stop), path.clone());
            std::thread::spawn(move || {
                let c = rusqlite::Connection::open(&path).unwrap();
                c.busy_timeout(Duration::from_secs(10)).unwrap();
                // A commit a millisecond, whatever the disk: no step goes without one.
                c.pragma_update(None, "synchronous", "OFF").unwrap();
                while !stop.load(Ordering::Relaxed) {
                    c.execute("INSERT INTO filler VALUES (randomblob(100))", [])
                        .unwrap();
                    std::thread::sleep(Duration::from_millis(1));
                }
            })
        };
        let (tx, rx) = std::sync::mpsc::channel();
        let dest = dir.path().join("copy.db");
        let copier = {
            let dest = dest.clone();
            std::thread::spawn(move || tx.send(store.backup_to(&dest).map_err(|e| e.to_string())))
        };
        let ended = rx.recv_timeout(Duration::from_secs(60));
        stop.store(true, Ordering::Relaxed);
        writer.join().unwrap();
        copier.join().unwrap().unwrap();
        assert_eq!(ended, Ok(Ok(())), "the backup never ended");
        let copy = Store::open(&dest).unwrap();
        assert_eq!(copy.integrity_check().unwrap(), "ok");
    }

    /// A database this secdesk creates has 8 KiB pages; one made before (4 KiB, SQLite's
    /// default) keeps its own, migrated and written as before.
    #[test]
    fn a_new_database_has_8_kib_pages_and_an_old_one_keeps_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let page_size = |s: &Store| -> i64 {
            s.conn
                .query_row("PRAGMA page_size", [], |r| r.get(0))
                .unwrap()
        };
        let new = Store::open(&dir.path().join("new.db")).unwrap();
        assert_eq!(page_size(&new), PAGE_SIZE);
        let old_path = dir.path().join("old.db");
        rusqlite::Connection::open(&old_path)
            .unwrap()
            .execute_batch("PRAGMA page_size = 4096; CREATE TABLE before (x); DROP TABLE before;")
            .unwrap();
        let mut old = Store::open(&old_path).unwrap();
        assert_eq!(page_size(&old), 4096);
        old.write(|tx| tx.set_cursor("INBOX", UidValidity(1), Uid(7)))
            .unwrap();
        assert_eq!(page_size(&Store::open(&old_path).unwrap()), 4096);
    }

    /// A connection that defers durability commits at `synchronous = NORMAL` (so its
    /// commits no longer wait for the disk), names the WAL they go to, and that WAL can
    /// be synced; the other connections keep `FULL`. A WAL that is not there is said in
    /// plain words.
    #[test]
    fn deferred_commits_go_to_a_wal_that_can_be_synced_and_others_stay_full() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.db");
        let mut deferring = Store::open(&path).unwrap();
        let other = Store::open(&path).unwrap();
        let wal = deferring.defer_durability().unwrap().unwrap();
        assert_eq!(wal, dir.path().join("d.db-wal"));
        let level = |s: &Store| -> i64 {
            s.conn
                .query_row("PRAGMA synchronous", [], |r| r.get(0))
                .unwrap()
        };
        assert_eq!((level(&deferring), level(&other)), (1, 2));
        deferring
            .write(|tx| tx.set_cursor("INBOX", UidValidity(1), Uid(7)))
            .unwrap();
        sync_wal(&wal).unwrap();
        let gone = sync_wal(&dir.path().join("nothing-wal")).unwrap_err();
        assert!(
            gone.to_string().starts_with("cannot bring the commits in")
                && gone.to_string().contains("nothing-wal"),
            "{gone}"
        );
    }

    /// Two connections writing at once with no busy timeout at all: without the shared
    /// gate SQLite answers the second "database is locked" at once; with it, the second
    /// waits its turn and every write goes through.
    #[test]
    fn writers_sharing_a_gate_take_turns_instead_of_finding_the_database_locked() {
        fn hammer(gate: Option<&WriteGate>) -> Vec<String> {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("d.db");
            let open = || {
                let mut s = Store::open(&path).unwrap();
                s.conn.busy_timeout(Duration::ZERO).unwrap();
                if let Some(g) = gate {
                    s.share_writes(g).unwrap();
                }
                s
            };
            let stores = [open(), open()];
            let errors = std::sync::Mutex::new(Vec::new());
            std::thread::scope(|scope| {
                for (n, mut store) in stores.into_iter().enumerate() {
                    let errors = &errors;
                    scope.spawn(move || {
                        for i in 0..200u32 {
                            let r = store.write(|tx| {
                                let mbox = format!("box{n}");
                                tx.set_cursor(&mbox, UidValidity(1), Uid(i))?;
                                // Hold the write lock a little, as a batch does.
                                std::thread::sleep(Duration::from_micros(200));
                                tx.set_cursor(&mbox, UidValidity(1), Uid(i + 1))
                            });
                            if let Err(e) = r {
                                errors.lock().unwrap().push(e.to_string());
                            }
                        }
                    });
                }
            });
            errors.into_inner().unwrap()
        }
        assert!(
            !hammer(None).is_empty(),
            "without the gate the writers never met: the test proves nothing"
        );
        assert_eq!(hammer(Some(&WriteGate::default())), Vec::<String>::new());
    }

    /// The desk-wide count: every acknowledgement queued in the window, to the minute
    /// (the minute the window starts in counts whole), nothing else.
    #[test]
    fn acknowledgements_are_counted_by_the_minute_over_the_window() {
        use super::outbox::mail;
        use crate::outgoing::Purpose;
        use chrono::TimeZone;
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("d.db")).unwrap();
        let at = |h: u32, m: u32, s: u32| Utc.with_ymd_and_hms(2026, 11, 30, h, m, s).unwrap();
        let queued = [
            (Purpose::Ack, at(10, 0, 59)),
            (Purpose::Ack, at(10, 30, 0)),
            (Purpose::Ack, at(10, 30, 30)),
            (Purpose::TeamNotice, at(10, 30, 40)),
            (Purpose::Ack, at(11, 0, 0)),
        ];
        let case = crate::types::CaseId::parse("SEC-2026-0001").unwrap();
        let other = crate::types::CaseId::parse("COHTTP-2026-0001").unwrap();
        store
            .write(|tx| {
                for (id, subject) in [(&case, "a"), (&other, "b")] {
                    let root = crate::types::MessageId::from_parts(subject, "x.test");
                    let c = crate::desk::case::Case::new(
                        id.clone(),
                        subject.into(),
                        None,
                        at(9, 0, 0),
                        root,
                    );
                    tx.insert_case(&c)?;
                }
                for (n, (purpose, when)) in queued.iter().enumerate() {
                    tx.enqueue(&mail(n as u32), *purpose, Some(&case), *when)?;
                }
                // Another desk's acknowledgement counts in its own series only.
                tx.enqueue(&mail(9), Purpose::Ack, Some(&other), at(10, 30, 0))?;
                Ok(())
            })
            .unwrap();
        for (since, want) in [
            (at(9, 0, 0), 4),
            (at(10, 0, 30), 4), // 10:00:59 is in the window's first minute
            (at(10, 1, 0), 3),
            (at(10, 30, 59), 3),
            (at(10, 31, 0), 1),
            (at(11, 1, 0), 0),
        ] {
            let got = store.read(|tx| tx.count_acks_since("SEC", since)).unwrap();
            assert_eq!(got, want, "since {since}");
        }
    }
}
