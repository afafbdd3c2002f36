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

    pub fn from_store(store: Store) -> Db {
        Db {
            inner: Arc::new(Mutex::new(store)),
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
