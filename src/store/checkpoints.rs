//! The WAL's checkpoints, made on a thread of their own.
//!
//! By default SQLite checkpoints inside a commit: the connection whose commit takes the
//! WAL past 1,000 pages copies every page of it into the database file and syncs it,
//! before the commit returns. In the daemon that was the ingest's connection, filing a
//! backlog: a checkpoint every few batches, a fifth of the thread's time (issue 12), and
//! a pause of the report that happened to commit then. The daemon's connections leave
//! checkpoints to this thread instead: each of their commits tells it there is new WAL
//! to copy, and it copies while the next batch is filed, at most once per [`GAP`].
//!
//! A checkpoint here is PASSIVE: it never waits for a reader or a writer, and SQLite's
//! own locks keep it consistent with them. It is made twice: first beside the writers,
//! then, for what they committed meanwhile, at the process's write gate. The WAL starts
//! over only when a writer begins with all of it copied: without the second, under
//! steady writes a commit always landed between the checkpoint and the next writer, and
//! the WAL grew to the backstop. Should the thread be gone (it could not be
//! started, or its connection fails), the connections still checkpoint inside a commit
//! once the WAL passes [`BACKSTOP_PAGES`], so the WAL never grows without bound.

use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// At most one checkpoint per this long: the commits in between are copied together (a
/// page written by each of them is copied once).
pub const GAP: Duration = Duration::from_millis(200);

/// How far the WAL may grow before a commit checkpoints by itself (128 MiB of 8 KiB
/// pages, 64 MiB in a database made before 8 KiB, with 4 KiB ones): only when this
/// thread is not doing its work.
pub const BACKSTOP_PAGES: u32 = 16_384;

#[derive(Default)]
struct State {
    /// A commit happened since the last checkpoint began.
    pending: bool,
    stop: bool,
    /// Checkpoints made so far (tests wait on it).
    runs: u64,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing is left half-done under this lock: a poisoned one is still good.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Tells the thread to stop when the last handle goes.
struct StopOnDrop(Arc<Shared>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.lock().stop = true;
        self.0.wake.notify_all();
    }
}

/// A handle on the checkpointing thread of one database file, shared by the connections
/// of one process; the thread ends when the last handle is dropped.
#[derive(Clone)]
pub struct Checkpoints {
    shared: Arc<Shared>,
    _stop: Arc<StopOnDrop>,
}

impl std::fmt::Debug for Checkpoints {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Checkpoints")
    }
}

impl Checkpoints {
    /// Starts the thread that checkpoints the database at `path` for the connections
    /// whose writes take `turn`s (the process's write gate).
    pub(super) fn start(path: &Path, turn: Arc<Mutex<()>>) -> std::io::Result<Checkpoints> {
        let shared = Arc::new(Shared::default());
        let (inner, path) = (Arc::clone(&shared), path.to_path_buf());
        std::thread::Builder::new()
            .name("checkpoints".into())
            .spawn(move || run(&inner, &path, &turn))?;
        Ok(Checkpoints {
            _stop: Arc::new(StopOnDrop(Arc::clone(&shared))),
            shared,
        })
    }

    /// A handle whose thread never runs: commits leave checkpoints to nobody.
    #[cfg(test)]
    fn idle() -> Checkpoints {
        let shared = Arc::new(Shared::default());
        Checkpoints {
            _stop: Arc::new(StopOnDrop(Arc::clone(&shared))),
            shared,
        }
    }

    /// Checkpoints made so far.
    pub fn runs(&self) -> u64 {
        self.shared.lock().runs
    }

    /// A commit wrote to the WAL.
    pub(super) fn poke(&self) {
        self.shared.lock().pending = true;
        self.shared.wake.notify_all();
    }

    /// Waits until `n` checkpoints were made, or `limit` passed; true if they were.
    #[cfg(test)]
    fn wait_for_runs(&self, n: u64, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        let mut state = self.shared.lock();
        while state.runs < n {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            state = match self.shared.wake.wait_timeout(state, left) {
                Ok((s, _)) => s,
                Err(e) => e.into_inner().0,
            };
        }
        true
    }
}

/// The thread: a checkpoint after each poke, at most one per [`GAP`], until stopped.
/// Its connection is opened at the first poke: the file exists by then (this connection
/// never creates it, which [`super::Store::open`] does, readable by its owner alone).
fn run(shared: &Shared, path: &Path, turn: &Mutex<()>) {
    let mut conn = None;
    loop {
        {
            let mut state = shared.lock();
            while !state.pending && !state.stop {
                state = shared.wake.wait(state).unwrap_or_else(|e| e.into_inner());
            }
            if state.stop {
                return;
            }
            state.pending = false;
        }
        let began = Instant::now();
        if conn.is_none() {
            conn = open(path)
                .inspect_err(|e| tracing::warn!(path = %path.display(), error = %e, "the checkpointing thread could not open the database; it tries again at the next commit"))
                .ok();
        }
        if let Some(conn) = &conn {
            checkpoint(conn);
            // What was committed meanwhile, with the writers waiting: the next one finds
            // the WAL all copied, and starts it over.
            let _turn = turn.lock().unwrap_or_else(|e| e.into_inner());
            checkpoint(conn);
        }
        let mut state = shared.lock();
        state.runs += 1;
        shared.wake.notify_all();
        let next = began + GAP;
        while !state.stop {
            let left = next.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            state = match shared.wake.wait_timeout(state, left) {
                Ok((s, _)) => s,
                Err(e) => e.into_inner().0,
            };
        }
    }
}

/// One PASSIVE checkpoint. Its result is (busy, WAL frames, frames copied): a busy or
/// partial checkpoint is finished by a later one.
fn checkpoint(conn: &rusqlite::Connection) {
    if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
        tracing::warn!(error = %e, "a checkpoint of the database failed; the next one tries again");
    }
}

fn open(path: &Path) -> rusqlite::Result<rusqlite::Connection> {
    use rusqlite::OpenFlags;
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = rusqlite::Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    // A checkpoint syncs the WAL before copying it and the file after, as the daemon's
    // connections would.
    conn.pragma_update(None, "synchronous", "FULL")?;
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use super::Checkpoints;
    use crate::store::{Arrival, Store, WriteGate};
    use crate::types::{Uid, UidValidity};
    use chrono::{TimeZone, Utc};
    use std::time::Duration;

    /// Writes 8 MB in 8 commits through a connection sharing `gate`: past the 1,000
    /// pages at which a committing connection checkpoints by default.
    fn write_8_mb(path: &std::path::Path, gate: &WriteGate) -> Store {
        let mut store = Store::open(path).unwrap();
        store.share_writes(gate).unwrap();
        let at = Utc.with_ymd_and_hms(2026, 12, 1, 6, 0, 0).unwrap();
        let mail = vec![b'x'; 1_000_000];
        for uid in 1..=8 {
            let key = ("INBOX", UidValidity(1), Uid(uid));
            store
                .write(|tx| tx.insert_raw(key, &mail, at, Arrival::Live, false))
                .unwrap();
        }
        store
    }

    /// Issue 12: a commit of the daemon's connections copies nothing into the database
    /// file (the checkpoints made inside commits were a fifth of filing a backlog).
    #[test]
    fn a_commit_leaves_the_checkpoint_to_the_thread() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        let gate = WriteGate {
            checkpoints: Some(Checkpoints::idle()),
            ..WriteGate::default()
        };
        let _store = write_8_mb(&path, &gate);
        let file = std::fs::metadata(&path).unwrap().len();
        assert!(
            file < 1_000_000,
            "the commits copied {file} bytes into the file"
        );
    }

    /// The thread copies what the commits wrote into the database file soon after them.
    #[test]
    fn the_thread_copies_the_commits_into_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        let gate = WriteGate::checkpointed(&path).unwrap();
        let checkpoints = gate.checkpoints.clone().unwrap();
        let _store = write_8_mb(&path, &gate);
        // The last commit asked for a checkpoint; one begun before it may not hold it
        // all, the next one does.
        for _ in 0..3 {
            if std::fs::metadata(&path).unwrap().len() >= 8_000_000 {
                break;
            }
            let next = checkpoints.runs() + 1;
            assert!(
                checkpoints.wait_for_runs(next, Duration::from_secs(20)),
                "no checkpoint came"
            );
        }
        let file = std::fs::metadata(&path).unwrap().len();
        assert!(file >= 8_000_000, "only {file} bytes in the file");
    }

    /// Under steady writes (a backlog filed while the mailer records what it sent), the
    /// WAL starts over after the thread's checkpoints, rather than growing to the
    /// backstop: the thread copies the last commits at the write gate, so the next writer
    /// finds it all copied. (A start-over is a new checkpoint sequence number in the WAL's
    /// header.) Two connections write back to back, as the daemon's loops do.
    #[test]
    fn under_steady_writes_the_wal_starts_over() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        let wal = dir.path().join("c.db-wal");
        let gate = WriteGate::checkpointed(&path).unwrap();
        let checkpoints = gate.checkpoints.clone().unwrap();
        drop(Store::open(&path).unwrap());
        let sequence = || {
            let mut header = [0u8; 16];
            let mut f = std::fs::File::open(&wal).ok()?;
            std::io::Read::read_exact(&mut f, &mut header).ok()?;
            Some(u32::from_be_bytes([
                header[12], header[13], header[14], header[15],
            ]))
        };
        let seen = std::sync::Mutex::new(std::collections::BTreeSet::new());
        std::thread::scope(|scope| {
            for writer in 0..2u32 {
                let (gate, path, seen) = (&gate, &path, &seen);
                scope.spawn(move || {
                    let mut store = Store::open(path).unwrap();
                    store.share_writes(gate).unwrap();
                    let at = Utc.with_ymd_and_hms(2026, 12, 1, 6, 0, 0).unwrap();
                    let mail = vec![b'x'; 64_000];
                    // 38 MB in all: the backstop is 64 MiB.
                    for n in 0..300 {
                        let key = ("INBOX", UidValidity(writer), Uid(n));
                        store
                            .write(|tx| tx.insert_raw(key, &mail, at, Arrival::Live, false))
                            .unwrap();
                        seen.lock().unwrap().extend(sequence());
                    }
                });
            }
        });
        let seen = seen.into_inner().unwrap();
        assert!(
            seen.len() >= 2,
            "the WAL never started over in {} checkpoints (sequence numbers {seen:?})",
            checkpoints.runs()
        );
    }

    /// A WAL that grew past the limit (a migration moves every stored mail in one
    /// transaction) is cut back to it when it starts over after a checkpoint, instead of
    /// keeping that size on disk for good.
    #[test]
    fn a_grown_wal_is_cut_back_when_it_starts_over() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        let wal = dir.path().join("c.db-wal");
        let mut store = Store::open(&path).unwrap();
        let at = Utc.with_ymd_and_hms(2026, 12, 1, 6, 0, 0).unwrap();
        let mail = vec![b'x'; 1_000_000];
        store
            .write(|tx| {
                for uid in 1..=24 {
                    let key = ("INBOX", UidValidity(1), Uid(uid));
                    tx.insert_raw(key, &mail, at, Arrival::Live, false)?;
                }
                Ok(())
            })
            .unwrap();
        let grown = std::fs::metadata(&wal).unwrap().len();
        assert!(
            grown > 24_000_000,
            "the WAL holds the transaction ({grown} bytes)"
        );
        let other = rusqlite::Connection::open(&path).unwrap();
        other
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
            .unwrap();
        let key = ("INBOX", UidValidity(1), Uid(25));
        store
            .write(|tx| tx.insert_raw(key, b"small", at, Arrival::Live, false))
            .unwrap();
        let cut = std::fs::metadata(&wal).unwrap().len();
        assert!(
            cut <= crate::store::WAL_SIZE_LIMIT.unsigned_abs(),
            "the WAL kept {cut} bytes"
        );
    }
}
