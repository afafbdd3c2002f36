//! Cases and their events.

use super::{Result, StoreError, Tx, parse_opt_date, parse_opt_ts, parse_ts, stored_id, ts};
use crate::desk::case::{Case, CreditChoice, Event, EventKind, NewEvent};
use crate::types::{CaseId, CaseStatus, MessageId, Severity};
use chrono::{DateTime, Utc};
use rusqlite::{Row, params};

/// A line of `secdesk cases`.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseSummary {
    pub case: Case,
    pub messages: u32,
    pub last_activity: DateTime<Utc>,
}

const CASE_COLUMNS: &str = "id, subject, reporter, reporter_name, status, opened_at, root_message_id, assignee, \
    severity, cvss_vector, cvss_score, cves, cve_requested, cwes, summary, details, workaround, refs, package, \
    affected, fixed_in, credit, credit_anonymous, embargo_end, preannounce, first_reply_at, last_reply_at, \
    duplicate_of, close_reason, fixed_at, published_at, advisory_id, upstream";

fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}

fn from_json<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|_| StoreError::Corrupt(format!("{what} `{text}`")))
}

/// The row as raw column values; converted to a `Case` outside rusqlite's closure so
/// conversion errors are ours.
struct CaseRow(Vec<rusqlite::types::Value>);

fn read_row(r: &Row<'_>) -> rusqlite::Result<CaseRow> {
    let n = r.as_ref().column_count();
    (0..n)
        .map(|i| r.get(i))
        .collect::<rusqlite::Result<Vec<_>>>()
        .map(CaseRow)
}

impl CaseRow {
    fn text(&self, i: usize) -> Option<String> {
        match self.0.get(i) {
            Some(rusqlite::types::Value::Text(t)) => Some(t.clone()),
            _ => None,
        }
    }
    fn req(&self, i: usize, what: &str) -> Result<String> {
        self.text(i)
            .ok_or_else(|| StoreError::Corrupt(format!("missing {what}")))
    }
    fn int(&self, i: usize) -> i64 {
        match self.0.get(i) {
            Some(rusqlite::types::Value::Integer(n)) => *n,
            _ => 0,
        }
    }
    fn real(&self, i: usize) -> Option<f64> {
        match self.0.get(i) {
            Some(rusqlite::types::Value::Real(x)) => Some(*x),
            _ => None,
        }
    }

    fn into_case(self) -> Result<Case> {
        let id_text = self.req(0, "case id")?;
        let id = CaseId::parse(&id_text)
            .ok_or_else(|| StoreError::Corrupt(format!("case id `{id_text}`")))?;
        let status_text = self.req(4, "status")?;
        let status = CaseStatus::parse(&status_text)
            .ok_or_else(|| StoreError::Corrupt(format!("status `{status_text}`")))?;
        let credit = match (self.text(21), self.int(22)) {
            (_, 1) => CreditChoice::Anonymous,
            (Some(name), _) => CreditChoice::Name(name),
            (None, _) => CreditChoice::Unknown,
        };
        Ok(Case {
            id,
            subject: self.req(1, "subject")?,
            reporter: self.text(2),
            reporter_name: self.text(3),
            status,
            opened_at: parse_ts(&self.req(5, "opened_at")?)?,
            root_message_id: stored_id(&self.req(6, "root message id")?),
            assignee: self.text(7),
            severity: self.text(8).and_then(|s| Severity::parse(&s)),
            cvss_vector: self.text(9),
            cvss_score: self.real(10),
            cves: from_json(&self.req(11, "cves")?, "cves")?,
            cve_requested: self.int(12) == 1,
            cwes: from_json(&self.req(13, "cwes")?, "cwes")?,
            summary: self.text(14),
            details: self.text(15),
            workaround: self.text(16),
            references: from_json(&self.req(17, "references")?, "references")?,
            package: self.text(18),
            affected: self.text(19),
            fixed_in: self.text(20),
            credit,
            embargo_end: parse_opt_date(self.text(23))?,
            preannounce: parse_opt_date(self.text(24))?,
            first_reply_at: parse_opt_ts(self.text(25))?,
            last_reply_at: parse_opt_ts(self.text(26))?,
            duplicate_of: self.text(27).and_then(|c| CaseId::parse(&c)),
            close_reason: self.text(28),
            fixed_at: parse_opt_ts(self.text(29))?,
            published_at: parse_opt_ts(self.text(30))?,
            advisory_id: self.text(31),
            upstream: from_json(&self.req(32, "upstream")?, "upstream")?,
        })
    }
}

/// The WHERE clause of a listing: exactly the condition of the `cases_open` index, so
/// SQLite uses it.
fn open_filter(open_only: bool) -> &'static str {
    if open_only {
        "WHERE status NOT IN ('published', 'closed')"
    } else {
        ""
    }
}

impl Tx<'_> {
    /// The id the next case opened in `year` will get.
    pub fn next_case_id(&self, prefix: &str, year: i32) -> Result<CaseId> {
        let seq: i64 = self
            .opt("SELECT MAX(seq) FROM cases WHERE year = ?1", [year])?
            .unwrap_or(0);
        Ok(CaseId::new(prefix, year, (seq + 1) as u32))
    }

    pub fn insert_case(&self, c: &Case) -> Result<()> {
        self.exec(
            "INSERT INTO cases (id, year, seq, subject, reporter, reporter_name, status, opened_at, root_message_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                c.id.to_string(),
                c.id.year(),
                c.id.seq(),
                c.subject,
                c.reporter,
                c.reporter_name,
                c.status.as_str(),
                ts(c.opened_at),
                c.root_message_id.as_str()
            ],
        )?;
        self.update_case(c)
    }

    /// Writes every field of the case.
    pub fn update_case(&self, c: &Case) -> Result<()> {
        let (credit, anonymous) = match &c.credit {
            CreditChoice::Unknown => (None, 0),
            CreditChoice::Name(n) => (Some(n.clone()), 0),
            CreditChoice::Anonymous => (None, 1),
        };
        let date = |d: Option<chrono::NaiveDate>| d.map(|d| d.format("%Y-%m-%d").to_string());
        self.exec(
            "UPDATE cases SET subject = ?2, reporter = ?3, reporter_name = ?4, status = ?5, assignee = ?6,
                severity = ?7, cvss_vector = ?8, cvss_score = ?9, cves = ?10, cve_requested = ?11, cwes = ?12,
                summary = ?13, details = ?14, workaround = ?15, refs = ?16, package = ?17, affected = ?18,
                fixed_in = ?19, credit = ?20, credit_anonymous = ?21, embargo_end = ?22, preannounce = ?23,
                first_reply_at = ?24, last_reply_at = ?25, duplicate_of = ?26, close_reason = ?27,
                fixed_at = ?28, published_at = ?29, advisory_id = ?30, upstream = ?31
             WHERE id = ?1",
            params![
                c.id.to_string(),
                c.subject,
                c.reporter,
                c.reporter_name,
                c.status.as_str(),
                c.assignee,
                c.severity.map(Severity::as_str),
                c.cvss_vector,
                c.cvss_score,
                json(&c.cves),
                c.cve_requested as i64,
                json(&c.cwes),
                c.summary,
                c.details,
                c.workaround,
                json(&c.references),
                c.package,
                c.affected,
                c.fixed_in,
                credit,
                anonymous,
                date(c.embargo_end),
                date(c.preannounce),
                c.first_reply_at.map(ts),
                c.last_reply_at.map(ts),
                c.duplicate_of.as_ref().map(CaseId::to_string),
                c.close_reason,
                c.fixed_at.map(ts),
                c.published_at.map(ts),
                c.advisory_id,
                json(&c.upstream),
            ],
        )?;
        Ok(())
    }

    pub fn load_case(&self, id: &CaseId) -> Result<Option<Case>> {
        let sql = format!("SELECT {CASE_COLUMNS} FROM cases WHERE id = ?1");
        let mut stmt = self.conn().prepare_cached(&sql)?;
        let mut rows = stmt.query_map([id.to_string()], read_row)?;
        match rows.next() {
            Some(row) => Ok(Some(row?.into_case()?)),
            None => Ok(None),
        }
    }

    /// Cases, oldest first; only open ones when `open_only`.
    pub fn list_cases(&self, open_only: bool) -> Result<Vec<CaseSummary>> {
        let mut out = Vec::new();
        self.each_case(open_only, |c| {
            out.push(c);
            Ok(())
        })?;
        Ok(out)
    }

    /// [`Tx::list_cases`] one case at a time, without holding them all: for listings
    /// that stream. The open cases come from the `cases_open` index, so listing them
    /// does not read the closed ones.
    pub fn each_case(
        &self,
        open_only: bool,
        mut f: impl FnMut(CaseSummary) -> Result<()>,
    ) -> Result<()> {
        let sql = format!(
            "SELECT {CASE_COLUMNS},
                (SELECT COUNT(*) FROM messages m WHERE m.case_id = cases.id),
                COALESCE((SELECT MAX(at) FROM events e WHERE e.case_id = cases.id), opened_at)
             FROM cases {} ORDER BY year, seq",
            open_filter(open_only)
        );
        let mut stmt = self.conn().prepare_cached(&sql)?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let row = read_row(r)?;
            let messages = row.int(33) as u32;
            let last = row.req(34, "last activity")?;
            f(CaseSummary {
                last_activity: parse_ts(&last)?,
                messages,
                case: row.into_case()?,
            })?;
        }
        Ok(())
    }

    /// The widest id, status, assignee, severity and reporter (in characters, `-` for
    /// none) among the cases [`Tx::each_case`] would list: a streamed table's columns.
    pub fn case_list_widths(&self, open_only: bool) -> Result<[usize; 5]> {
        let sql = format!(
            "SELECT MAX(LENGTH(id)), MAX(LENGTH(status)), MAX(LENGTH(COALESCE(assignee, '-'))),
                MAX(LENGTH(COALESCE(severity, '-'))), MAX(LENGTH(COALESCE(reporter, '-')))
             FROM cases {}",
            open_filter(open_only)
        );
        let w = self.conn().query_row(&sql, [], |r| {
            let mut w = [0usize; 5];
            for (i, slot) in w.iter_mut().enumerate() {
                *slot = r.get::<_, Option<i64>>(i)?.unwrap_or(0).max(0) as usize;
            }
            Ok(w)
        })?;
        Ok(w)
    }

    pub fn case_by_advisory(&self, advisory_id: &str) -> Result<Option<CaseId>> {
        Ok(self
            .opt::<String>("SELECT id FROM cases WHERE advisory_id = ?1", [advisory_id])?
            .and_then(|c| CaseId::parse(&c)))
    }

    /// The next advisory id for `year`: `PREFIX-YYYY-NN`.
    pub fn next_advisory_id(&self, prefix: &str, year: i32) -> Result<String> {
        // A range on the UNIQUE index of advisory_id (LIKE cannot use it): the ids that
        // start with `PREFIX-YYYY-`, read for every mail, without scanning the cases.
        let low = format!("{prefix}-{year}-");
        let high = format!("{prefix}-{year}.");
        let mut stmt = self.conn().prepare_cached(
            "SELECT advisory_id FROM cases WHERE advisory_id >= ?1 AND advisory_id < ?2",
        )?;
        let ids = stmt
            .query_map([low, high], |r| r.get::<_, String>(0))?
            .collect::<rusqlite::Result<Vec<String>>>()?;
        let max = ids
            .iter()
            .filter_map(|id| id.rsplit('-').next().and_then(|n| n.parse::<u32>().ok()))
            .max()
            .unwrap_or(0);
        Ok(format!("{prefix}-{year}-{:02}", max + 1))
    }

    pub fn insert_event(
        &self,
        case: &CaseId,
        at: DateTime<Utc>,
        e: &NewEvent,
        message: Option<&MessageId>,
    ) -> Result<()> {
        self.exec(
            "INSERT INTO events (case_id, at, actor, kind, detail, public, message_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                case.to_string(),
                ts(at),
                e.actor,
                e.kind.as_str(),
                e.detail,
                e.public as i64,
                message.map(MessageId::as_str)
            ],
        )?;
        Ok(())
    }

    /// Events of `kind` on any case since `since`.
    pub fn count_events_since(&self, kind: EventKind, since: DateTime<Utc>) -> Result<u32> {
        let n: i64 = self
            .opt(
                "SELECT COUNT(*) FROM events WHERE kind = ?1 AND at >= ?2",
                params![kind.as_str(), ts(since)],
            )?
            .unwrap_or(0);
        Ok(n as u32)
    }

    pub fn events(&self, case: &CaseId) -> Result<Vec<Event>> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT at, kind, actor, detail, public, message_id FROM events WHERE case_id = ?1 ORDER BY id",
        )?;
        let rows = stmt
            .query_map([case.to_string()], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, i64>(4)?,
                    r.get::<_, Option<String>>(5)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        rows.into_iter()
            .map(|(at, kind, actor, detail, public, mid)| {
                Ok(Event {
                    at: parse_ts(&at)?,
                    kind: EventKind::parse(&kind)
                        .ok_or_else(|| StoreError::Corrupt(format!("event kind `{kind}`")))?,
                    actor,
                    detail,
                    public: public == 1,
                    message_id: mid.as_deref().map(stored_id),
                })
            })
            .collect()
    }
}
