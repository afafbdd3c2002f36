//! The desk against a mail stack, as the end-to-end and operator tests drive it: its
//! configuration, and a read-only look at its database.

use crate::support::mailstack::MailStack;
use crate::world::config_text;
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The test config against `stack`, plain text on loopback, database `db`.
pub fn stack_config(stack: &MailStack, db: &Path, extra: &str) -> String {
    config_text(
        db.to_str().unwrap(),
        stack.imap_port,
        stack.smtp_port,
        extra,
    )
}

/// A config for the desk against `stack`, over STARTTLS with the stack's CA; the database
/// is `desk.db` in `dir`.
pub fn starttls_stack_config(stack: &MailStack, dir: &Path, extra: &str) -> (String, PathBuf) {
    let db = dir.join("desk.db");
    let text = stack_config(stack, &db, extra)
        .replace("host = \"127.0.0.1\"", "host = \"localhost\"")
        .replace(
            "tls = \"none\"",
            &format!(
                "tls = \"starttls\"\nca_file = \"{}\"",
                stack.ca_file.display()
            ),
        );
    (text, db)
}

/// A read-only look at the database (as an operator's sqlite3 would take).
pub fn open_ro(db: &Path) -> Result<Connection, String> {
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| format!("cannot open {}: {e}", db.display()))?;
    conn.busy_timeout(Duration::from_secs(5))
        .map_err(|e| e.to_string())?;
    Ok(conn)
}

/// One integer from the database, or what went wrong (no file, no table yet, …).
pub fn count(db: &Path, sql: &str) -> Result<i64, String> {
    open_ro(db)?
        .query_row(sql, [], |r| r.get(0))
        .map_err(|e| format!("{sql}: {e}"))
}

pub fn must_count(db: &Path, sql: &str) -> i64 {
    count(db, sql).unwrap_or_else(|e| panic!("{e}"))
}

/// Polls `probe` until it succeeds, for at most `timeout`. Its error says what it saw
/// instead: a count still too low, or a query error, which is never read as 0 (early on,
/// before the desk has created its database, errors are expected). When time runs out,
/// the last one is returned with what was awaited.
pub fn wait_until<T>(
    what: &str,
    timeout: Duration,
    mut probe: impl FnMut() -> Result<T, String>,
) -> Result<T, String> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        match probe() {
            Ok(v) => return Ok(v),
            Err(seen) if std::time::Instant::now() >= deadline => {
                return Err(format!("waited {timeout:?} for {what}; last saw: {seen}"));
            }
            // Polling a file another process writes, bounded by the deadline.
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}
