//! A store shared by async tasks: the blocking SQLite calls run on tokio's blocking
//! pool, one at a time per connection. Each long-lived task (ingest, mailer, scheduler)
//! opens its own `Db`, so they never wait on one another's Rust lock; SQLite's WAL mode
//! and `BEGIN IMMEDIATE` order their writes.

use crate::store::{self, Store};
use std::path::Path;
use std::sync::{Arc, Mutex};

#[derive(Clone)]
pub struct Db {
    inner: Arc<Mutex<Store>>,
    /// Set when this connection's commits may still be on their way to the disk: the
    /// WAL that [`Db::make_durable`] syncs.
    deferred: Option<Arc<Path>>,
}

impl Db {
    pub fn open(path: &Path) -> store::Result<Db> {
        Ok(Db::from_store(Store::open(path)?))
    }

    /// Opens a connection whose writes take turns with the others sharing `gate` (the
    /// daemon's loops): see [`store::WriteGate`].
    pub fn open_sharing(path: &Path, gate: &store::WriteGate) -> store::Result<Db> {
        let mut store = Store::open(path)?;
        store.share_writes(gate)?;
        Ok(Db::from_store(store))
    }

    /// Like [`Db::open_sharing`], for a connection whose commits return before they
    /// reach the disk ([`Store::defer_durability`]): its owner calls
    /// [`Db::make_durable`] before the world outside the database hears of them.
    pub fn open_deferring(path: &Path, gate: &store::WriteGate) -> store::Result<Db> {
        let mut store = Store::open(path)?;
        store.share_writes(gate)?;
        let deferred = store.defer_durability()?.map(Arc::from);
        Ok(Db {
            inner: Arc::new(Mutex::new(store)),
            deferred,
        })
    }

    pub fn from_store(store: Store) -> Db {
        Db {
            inner: Arc::new(Mutex::new(store)),
            deferred: None,
        }
    }

    /// Brings this connection's commits so far to the disk, if they may not be there
    /// yet. Off the connection: a transaction of this `Db` carries on meanwhile.
    pub async fn make_durable(&self) -> store::Result<()> {
        let Some(wal) = self.deferred.clone() else {
            return Ok(());
        };
        if crate::service::failpoints::active("wal-sync-fails") {
            return Err(store::StoreError::Sync {
                path: wal.to_path_buf(),
                source: std::io::Error::other("failpoint wal-sync-fails"),
            });
        }
        match tokio::task::spawn_blocking(move || store::sync_wal(&wal)).await {
            Ok(synced) => synced,
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }

    /// Runs `f` on the store on the blocking pool.
    pub async fn call<T, F>(&self, f: F) -> T
    where
        T: Send + 'static,
        F: FnOnce(&mut Store) -> T + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        let task = tokio::task::spawn_blocking(move || {
            // A poisoned lock means a previous call panicked mid-way; SQLite rolled the
            // transaction back, so the connection is still consistent.
            let mut guard = inner.lock().unwrap_or_else(|e| e.into_inner());
            f(&mut guard)
        });
        match task.await {
            Ok(v) => v,
            // The closure panicked: carry the panic to the caller's task, where the
            // supervisor logs it and restarts the loop.
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }

    /// Runs `f` on the store on the current thread (for the CLI and tests).
    pub fn blocking<T>(&self, f: impl FnOnce(&mut Store) -> T) -> T {
        let mut guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut guard)
    }
}
