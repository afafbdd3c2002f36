//! Typed values at the database edge: the ids and enums the store writes implement
//! rusqlite's `ToSql` and `FromSql` here, so each store file binds and reads them as they
//! are instead of mapping text by hand. A value that cannot be read back becomes
//! `StoreError::Corrupt` (see `From<rusqlite::Error>`), never a panic. The impls live in
//! the shell: the core's types know nothing of SQL.

use super::outbox::OutboxState;
use super::reminders::ReminderState;
use crate::desk::case::EventKind;
use crate::desk::deadlines::ReminderKind;
use crate::outgoing::Purpose;
use crate::types::{CaseId, CaseStatus, MessageId, Severity, Uid, UidValidity};
use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};

/// Column text that names no value of its type.
#[derive(Debug, thiserror::Error)]
#[error("{what} `{text}`")]
pub struct Unreadable {
    what: &'static str,
    text: String,
}

fn unreadable(what: &'static str, text: &str) -> FromSqlError {
    FromSqlError::Other(Box::new(Unreadable {
        what,
        text: text.to_string(),
    }))
}

/// A type stored as text: written with `$to`, read back with `$from` (an `Option`).
macro_rules! text_column {
    ($t:ty, $what:literal, $to:expr, $from:expr) => {
        impl ToSql for $t {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from($to(self)))
            }
        }

        impl FromSql for $t {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                let text = value.as_str()?;
                $from(text).ok_or_else(|| unreadable($what, text))
            }
        }
    };
}

text_column!(CaseId, "case id", CaseId::to_string, CaseId::parse);
/// Enums stored as their names: written with `as_str`, read back with `parse`.
macro_rules! enum_columns {
    ($($t:ty => $what:literal),+ $(,)?) => {
        $(text_column!($t, $what, |v: &$t| v.as_str(), <$t>::parse);)+
    };
}

enum_columns! {
    CaseStatus => "status",
    Severity => "severity",
    EventKind => "event kind",
    Purpose => "purpose",
    ReminderKind => "reminder kind",
    OutboxState => "outbox state",
    ReminderState => "reminder state",
}

impl ToSql for MessageId {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_str()))
    }
}

impl FromSql for MessageId {
    /// Written by us, so already clean; an odd one is kept rather than refused.
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        value.as_str().map(super::stored_id)
    }
}

/// IMAP numbers are 32-bit; SQLite integers are 64-bit.
macro_rules! u32_column {
    ($t:ident, $what:literal) => {
        impl ToSql for $t {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(i64::from(self.0)))
            }
        }

        impl FromSql for $t {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                let n = value.as_i64()?;
                u32::try_from(n)
                    .map($t)
                    .map_err(|_| unreadable($what, &n.to_string()))
            }
        }
    };
}

u32_column!(Uid, "UID");
u32_column!(UidValidity, "UIDVALIDITY");

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreError;
    use rusqlite::Connection;

    fn read<T: FromSql>(conn: &Connection, sql: &str) -> Result<T, StoreError> {
        Ok(conn.query_row(sql, [], |r| r.get::<_, T>(0))?)
    }

    #[test]
    fn values_round_trip_and_unreadable_text_is_corrupt() {
        let conn = Connection::open_in_memory().unwrap();
        let id = CaseId::new("SEC", 2026, 7);
        let back: CaseId = conn.query_row("SELECT ?1", [&id], |r| r.get(0)).unwrap();
        assert_eq!(back, id);
        let kind: ReminderKind = conn
            .query_row(
                "SELECT ?1",
                [ReminderKind::Embargo { offset_days: 7 }],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(kind, ReminderKind::Embargo { offset_days: 7 });
        let uid: Uid = conn
            .query_row("SELECT ?1", [Uid(u32::MAX)], |r| r.get(0))
            .unwrap();
        assert_eq!(uid, Uid(u32::MAX));

        for (err, want) in [
            (
                read::<CaseStatus>(&conn, "SELECT 'reviewing'").map(|_| ()),
                "status `reviewing`",
            ),
            (
                read::<CaseId>(&conn, "SELECT 'SEC-26-1'").map(|_| ()),
                "case id `SEC-26-1`",
            ),
            (
                read::<Uid>(&conn, "SELECT 4294967296").map(|_| ()),
                "UID `4294967296`",
            ),
        ] {
            match err {
                Err(StoreError::Corrupt(text)) => assert_eq!(text, want),
                other => panic!("expected Corrupt({want}), got {other:?}"),
            }
        }
    }
}
