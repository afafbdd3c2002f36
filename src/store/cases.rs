//! Cases and their events.

use super::{Result, StoreError, Tx, parse_opt_date, parse_opt_ts, parse_ts, ts};
use crate::desk::case::{Case, CreditChoice, Event, EventKind, NewEvent};
use crate::types::{CaseId, CaseStatus, CreditRole, MessageId, Severity};
use chrono::{DateTime, Utc};
use rusqlite::types::{FromSql, FromSqlError, ValueRef};
use rusqlite::{Row, params};
use std::ops::ControlFlow;

/// A line of `secdesk cases`.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseSummary {
    pub case: Case,
    pub messages: u32,
    pub last_activity: DateTime<Utc>,
    /// The key of the case's desk (`""` for the top-level desk).
    pub desk: String,
}

/// Which cases a listing reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listing {
    /// The open ones: neither published, closed nor spam.
    Open,
    /// Every case.
    All,
    /// The cases in the spam state.
    Spam,
    /// The open ones the desk plans reminders for: those with a reminder row of any
    /// state. A case filed from the past (history found at the first start, an import)
    /// has none until live mail or a team command reaches it.
    Planned,
}

impl Listing {
    /// The WHERE clause: exactly the condition of the partial index that serves it
    /// (`cases_open`, `cases_spam`), so SQLite reads only those cases.
    fn filter(self) -> &'static str {
        match self {
            // The terms of the `cases_open` index's own condition, so SQLite uses it.
            Listing::Open => {
                "WHERE status <> 'published' AND status <> 'closed' AND status <> 'spam'"
            }
            Listing::All => "",
            Listing::Spam => "WHERE status = 'spam'",
            Listing::Planned => {
                "WHERE status <> 'published' AND status <> 'closed' AND status <> 'spam'
                 AND EXISTS (SELECT 1 FROM reminders r WHERE r.scope = cases.id)"
            }
        }
    }
}

const CASE_COLUMNS: &str = "id, subject, reporter, reporter_name, status, opened_at, root_message_id, assignee, \
    severity, cvss_vector, cvss_score, cves, cve_requested, cwes, summary, details, workaround, refs, package, \
    affected, fixed_in, credit, credit_anonymous, embargo_end, preannounce, first_reply_at, last_reply_at, \
    duplicate_of, close_reason, fixed_at, published_at, advisory_id, upstream, extra_packages, credits, bindings, \
    fix_commits, advisory_changed_at";

/// The columns of a case that a change writes, in the order of [`CaseFields::params`]
/// (after the id, `?1`).
const CASE_FIELDS: [&str; 35] = [
    "subject",
    "reporter",
    "reporter_name",
    "status",
    "assignee",
    "severity",
    "cvss_vector",
    "cvss_score",
    "cves",
    "cve_requested",
    "cwes",
    "summary",
    "details",
    "workaround",
    "refs",
    "package",
    "affected",
    "fixed_in",
    "credit",
    "credit_anonymous",
    "embargo_end",
    "preannounce",
    "first_reply_at",
    "last_reply_at",
    "duplicate_of",
    "close_reason",
    "fixed_at",
    "published_at",
    "advisory_id",
    "upstream",
    "extra_packages",
    "credits",
    "bindings",
    "fix_commits",
    "advisory_changed_at",
];

/// A case's fields as the database stores them (text for lists, dates and instants).
struct CaseFields {
    cves: String,
    cve_requested: i64,
    cwes: String,
    refs: String,
    credit: Option<String>,
    anonymous: i64,
    embargo_end: Option<String>,
    preannounce: Option<String>,
    first_reply_at: Option<String>,
    last_reply_at: Option<String>,
    fixed_at: Option<String>,
    published_at: Option<String>,
    upstream: String,
    extra_packages: String,
    credits: String,
    bindings: String,
    fix_commits: String,
    advisory_changed_at: Option<String>,
}

impl CaseFields {
    fn of(c: &Case) -> CaseFields {
        let (credit, anonymous) = match &c.credit {
            CreditChoice::Unknown => (None, 0),
            CreditChoice::Name(n) => (Some(n.clone()), 0),
            CreditChoice::Anonymous => (None, 1),
        };
        let date = |d: Option<chrono::NaiveDate>| d.map(|d| d.format("%Y-%m-%d").to_string());
        CaseFields {
            cves: json(&c.cves),
            cve_requested: i64::from(c.cve_requested),
            cwes: json(&c.cwes),
            refs: json(&c.references),
            credit,
            anonymous,
            embargo_end: date(c.embargo_end),
            preannounce: date(c.preannounce),
            first_reply_at: c.first_reply_at.map(ts),
            last_reply_at: c.last_reply_at.map(ts),
            fixed_at: c.fixed_at.map(ts),
            published_at: c.published_at.map(ts),
            upstream: json(&c.upstream),
            extra_packages: json(&c.extra_packages),
            credits: json(
                &c.credits
                    .iter()
                    .map(|(role, name)| (role.as_str(), name))
                    .collect::<Vec<_>>(),
            ),
            bindings: json(&c.bindings),
            fix_commits: json(&c.fix_commits),
            advisory_changed_at: c.advisory_changed_at.map(ts),
        }
    }

    /// The id, then the values of [`CASE_FIELDS`] in order.
    fn params<'a>(&'a self, c: &'a Case) -> Vec<&'a dyn rusqlite::ToSql> {
        vec![
            &c.id,
            &c.subject,
            &c.reporter,
            &c.reporter_name,
            &c.status,
            &c.assignee,
            &c.severity,
            &c.cvss_vector,
            &c.cvss_score,
            &self.cves,
            &self.cve_requested,
            &self.cwes,
            &c.summary,
            &c.details,
            &c.workaround,
            &self.refs,
            &c.package,
            &c.affected,
            &c.fixed_in,
            &self.credit,
            &self.anonymous,
            &self.embargo_end,
            &self.preannounce,
            &self.first_reply_at,
            &self.last_reply_at,
            &c.duplicate_of,
            &c.close_reason,
            &self.fixed_at,
            &self.published_at,
            &c.advisory_id,
            &self.upstream,
            &self.extra_packages,
            &self.credits,
            &self.bindings,
            &self.fix_commits,
            &self.advisory_changed_at,
        ]
    }
}

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

    /// Column `i` as its type (`store::columns`).
    fn get<T: FromSql>(&self, i: usize, what: &str) -> Result<T> {
        let value = self.0.get(i).map_or(ValueRef::Null, ValueRef::from);
        T::column_result(value).map_err(|e| match e {
            FromSqlError::Other(source) => StoreError::Corrupt(source.to_string()),
            _ => StoreError::Corrupt(format!("missing {what}")),
        })
    }

    fn into_case(self) -> Result<Case> {
        let id: CaseId = self.get(0, "case id")?;
        let status: CaseStatus = self.get(4, "status")?;
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
            root_message_id: self.get(6, "root message id")?,
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
            extra_packages: from_json(&self.req(33, "extra packages")?, "extra packages")?,
            credits: from_json::<Vec<(String, String)>>(&self.req(34, "credits")?, "credits")?
                .into_iter()
                .map(|(role, name)| {
                    CreditRole::parse(&role)
                        .map(|r| (r, name))
                        .ok_or_else(|| StoreError::Corrupt(format!("credit role `{role}`")))
                })
                .collect::<Result<_>>()?,
            bindings: from_json(&self.req(35, "bindings")?, "bindings")?,
            fix_commits: from_json(&self.req(36, "fix commits")?, "fix commits")?,
            advisory_changed_at: parse_opt_ts(self.text(37))?,
        })
    }
}

/// A listing's rows: the case, its number of messages, its last activity, its desk.
fn listing_sql(which: Listing) -> String {
    format!(
        "SELECT {CASE_COLUMNS},
            (SELECT COUNT(*) FROM messages m WHERE m.case_id = cases.id),
            COALESCE((SELECT MAX(at) FROM events e WHERE e.case_id = cases.id), opened_at),
            desk
         FROM cases {} ORDER BY year, seq",
        which.filter()
    )
}

/// How many cases a page of [`Tx::case_page`] holds.
pub const CASE_PAGE: usize = 200;

/// A page of the listing: [`listing_sql`]'s columns and the case's place in its series,
/// for the cases after a place, in the order of the listing's index.
fn page_sql(which: Listing) -> String {
    let after = match which.filter() {
        "" => "WHERE (year, seq) > (?1, ?2)".to_string(),
        filter => format!("{filter} AND (year, seq) > (?1, ?2)"),
    };
    format!(
        "SELECT {CASE_COLUMNS},
            (SELECT COUNT(*) FROM messages m WHERE m.case_id = cases.id),
            COALESCE((SELECT MAX(at) FROM events e WHERE e.case_id = cases.id), opened_at),
            desk, year, seq
         FROM cases {after} ORDER BY year, seq LIMIT {CASE_PAGE}"
    )
}

/// The widths of a listing's columns, over the same cases as [`listing_sql`].
fn widths_sql(which: Listing) -> String {
    format!(
        "SELECT MAX(LENGTH(id)), MAX(LENGTH(status)), MAX(LENGTH(COALESCE(assignee, '-'))),
            MAX(LENGTH(COALESCE(severity, '-'))), MAX(LENGTH(COALESCE(reporter, '-')))
         FROM cases {}",
        which.filter()
    )
}

/// The advisory ids of a year, read for every mail: `IS NOT NULL` makes it a range on
/// the UNIQUE index of advisory_id, so only the published cases are read, not every case
/// on file (`LIKE` alone scans them all). A case publishing several packages holds its
/// ids in one value, separated by spaces, hence the `LIKE '%…%'`.
const HIGHEST_ADVISORY: &str =
    "SELECT advisory_id FROM cases WHERE advisory_id IS NOT NULL AND advisory_id LIKE ?1";

fn open_filter(open_only: bool) -> Listing {
    if open_only {
        Listing::Open
    } else {
        Listing::All
    }
}

/// The kinds of event the desk counts (alerts and limits, per mail): the rows the
/// `events_counted` index holds (migration 19).
pub const COUNTED_EVENTS: [EventKind; 3] = [
    EventKind::Unreadable,
    EventKind::Refused,
    EventKind::AckLimit,
];

/// Events of `kind` since an instant, counted up to `at_most` (see
/// `count_events_since`). The limit is written into the statement: bound as a parameter,
/// it would make SQLite prepare the statement again at every call (a LIMIT's value can
/// change the plan). So is the kind (a name of ours, never text from a mail): the
/// `events_counted` index holds the kinds counted, and SQLite uses it only for a
/// statement naming one of them.
fn count_events_sql(kind: EventKind, at_most: u32) -> String {
    format!(
        "SELECT COUNT(*) FROM (SELECT 1 FROM events WHERE kind = '{}' AND at >= ?1 LIMIT {at_most})",
        kind.as_str()
    )
}

impl Tx<'_> {
    /// The id the next case opened in `year` will get.
    pub fn next_case_id(&self, prefix: &str, year: i32) -> Result<CaseId> {
        // Numbered per prefix (each desk its own series). The counter only grows, so the
        // old id of a moved case is never given again; one lookup, whatever the table's size.
        let last: i64 = self
            .opt(
                "SELECT last FROM case_counters WHERE prefix = ?1 AND year = ?2",
                params![prefix, year],
            )?
            .unwrap_or(0);
        Ok(CaseId::new(prefix, year, (last + 1) as u32))
    }

    pub fn insert_case(&self, c: &Case) -> Result<()> {
        static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        let sql = SQL.get_or_init(|| {
            let n = CASE_FIELDS.len();
            let values: Vec<String> = (2..n + 2).map(|i| format!("?{i}")).collect();
            // `seq` orders the cases of a year across every desk (UNIQUE (year, seq));
            // the number in a case id is its desk's own series.
            format!(
                "INSERT INTO cases (id, {}, year, seq, opened_at, root_message_id)
                 VALUES (?1, {}, ?{y}, (SELECT COALESCE(MAX(seq), 0) + 1 FROM cases WHERE year = ?{y}), ?{o}, ?{r})",
                CASE_FIELDS.join(", "),
                values.join(", "),
                y = n + 2,
                o = n + 3,
                r = n + 4,
            )
        });
        let fields = CaseFields::of(c);
        let (year, opened_at) = (c.id.year(), ts(c.opened_at));
        let mut params = fields.params(c);
        params.extend([
            &year as &dyn rusqlite::ToSql,
            &opened_at,
            &c.root_message_id,
        ]);
        self.exec(sql, rusqlite::params_from_iter(params))?;
        self.exec(
            "INSERT INTO case_counters (prefix, year, last) VALUES (?1, ?2, ?3)
             ON CONFLICT (prefix, year) DO UPDATE SET last = MAX(last, excluded.last)",
            params![c.id.prefix(), c.id.year(), c.id.seq()],
        )?;
        Ok(())
    }

    /// Writes every field of the case.
    pub fn update_case(&self, c: &Case) -> Result<()> {
        static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        let sql = SQL.get_or_init(|| {
            let set: Vec<String> = CASE_FIELDS
                .iter()
                .enumerate()
                .map(|(i, f)| format!("{f} = ?{}", i + 2))
                .collect();
            format!("UPDATE cases SET {} WHERE id = ?1", set.join(", "))
        });
        let fields = CaseFields::of(c);
        self.exec(sql, rusqlite::params_from_iter(fields.params(c)))?;
        // The case's start moves only when `#notspam` releases it: its clock starts then.
        self.exec(
            "UPDATE cases SET opened_at = ?2 WHERE id = ?1 AND opened_at != ?2",
            params![c.id.to_string(), ts(c.opened_at)],
        )?;
        Ok(())
    }

    pub fn load_case(&self, id: &CaseId) -> Result<Option<Case>> {
        let sql = format!("SELECT {CASE_COLUMNS} FROM cases WHERE id = ?1");
        let mut stmt = self.conn().prepare_cached(&sql)?;
        let mut rows = stmt.query_map([id], read_row)?;
        match rows.next() {
            Some(row) => Ok(Some(row?.into_case()?)),
            None => Ok(None),
        }
    }

    /// Cases, oldest first; only open ones when `open_only`.
    pub fn list_cases(&self, open_only: bool) -> Result<Vec<CaseSummary>> {
        self.cases_where(open_filter(open_only))
    }

    /// Cases in the spam state, oldest first (`secdesk cases --spam`).
    pub fn spam_cases(&self) -> Result<Vec<CaseSummary>> {
        self.cases_where(Listing::Spam)
    }

    /// The open cases the desk plans reminders for ([`Listing::Planned`]), oldest first.
    pub fn planned_cases(&self) -> Result<Vec<CaseSummary>> {
        self.cases_where(Listing::Planned)
    }

    fn cases_where(&self, which: Listing) -> Result<Vec<CaseSummary>> {
        let mut out = Vec::new();
        self.each_case(which, |c| {
            out.push(c);
            ControlFlow::Continue(())
        })?;
        Ok(out)
    }

    /// The cases of a listing one at a time, oldest first, without holding them all: for
    /// listings that stream. `f` ends the listing early with `Break` (its reader went
    /// away). The open and the spam cases come from their partial indexes, so listing
    /// them does not read the others.
    pub fn each_case(
        &self,
        which: Listing,
        mut f: impl FnMut(CaseSummary) -> ControlFlow<()>,
    ) -> Result<()> {
        let mut stmt = self.conn().prepare_cached(&listing_sql(which))?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let row = read_row(r)?;
            let messages = row.int(38) as u32;
            let last = row.req(39, "last activity")?;
            let desk = row.text(40).unwrap_or_default();
            let summary = CaseSummary {
                last_activity: parse_ts(&last)?,
                messages,
                desk,
                case: row.into_case()?,
            };
            if f(summary).is_break() {
                break;
            }
        }
        Ok(())
    }

    /// At most [`CASE_PAGE`] cases of a listing after the place `after` (`None`: from
    /// the first), oldest first, each with its place: the next page starts after the
    /// last. For a listing read in short transactions, none held while its reader
    /// (a paused pager) takes its time: a reader's snapshot keeps the daemon's
    /// checkpoints from ever emptying the write-ahead log.
    pub fn case_page(
        &self,
        which: Listing,
        after: Option<(i64, i64)>,
    ) -> Result<Vec<(CaseSummary, (i64, i64))>> {
        let (year, seq) = after.unwrap_or((i64::MIN, i64::MIN));
        let mut stmt = self.conn().prepare_cached(&page_sql(which))?;
        let mut rows = stmt.query(params![year, seq])?;
        let mut page = Vec::with_capacity(CASE_PAGE);
        while let Some(r) = rows.next()? {
            let row = read_row(r)?;
            let messages = row.int(38) as u32;
            let last = row.req(39, "last activity")?;
            let desk = row.text(40).unwrap_or_default();
            let place = (row.int(41), row.int(42));
            let summary = CaseSummary {
                last_activity: parse_ts(&last)?,
                messages,
                desk,
                case: row.into_case()?,
            };
            page.push((summary, place));
        }
        Ok(page)
    }

    /// The widest id, status, assignee, severity and reporter (in characters, `-` for
    /// none) among the cases [`Tx::each_case`] would list: a streamed table's columns,
    /// known before its first row (one pass over the same index).
    pub fn case_list_widths(&self, which: Listing) -> Result<[usize; 5]> {
        let w = self.conn().query_row(&widths_sql(which), [], |r| {
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
    /// The highest advisory number of `year` the desk has published (0 for none). A
    /// case publishing several packages records their ids separated by spaces.
    pub fn highest_advisory_number(&self, prefix: &str, year: i32) -> Result<u32> {
        let start = format!("{prefix}-{year}-");
        let like = format!("%{start}%");
        let ids: Vec<String> = self.column(HIGHEST_ADVISORY, [like])?;
        Ok(ids
            .iter()
            .flat_map(|ids| ids.split_whitespace())
            .filter_map(|id| id.strip_prefix(&start).and_then(|n| n.parse::<u32>().ok()))
            .max()
            .unwrap_or(0))
    }

    /// Queues the push of a published advisory's branch (retried like mail).
    pub fn queue_advisory_push(
        &self,
        case: &CaseId,
        branch: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.exec(
            "INSERT OR IGNORE INTO advisory_pushes (case_id, branch, next_attempt_at) VALUES (?1, ?2, ?3)",
            params![case.to_string(), branch, ts(now)],
        )?;
        Ok(())
    }

    /// Pushes due at `now`: (row id, case, branch, attempts so far).
    pub fn due_advisory_pushes(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<(i64, String, String, i64)>> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT id, case_id, branch, attempts FROM advisory_pushes
             WHERE state = 'pending' AND next_attempt_at <= ?1 ORDER BY id",
        )?;
        let rows = stmt
            .query_map([ts(now)], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    /// Counts an attempt before it is made (so a crash mid-push still counts it).
    pub fn claim_advisory_push(&self, id: i64, next: DateTime<Utc>) -> Result<bool> {
        let n = self.exec(
            "UPDATE advisory_pushes SET attempts = attempts + 1, next_attempt_at = ?2
             WHERE id = ?1 AND state = 'pending'",
            params![id, ts(next)],
        )?;
        Ok(n == 1)
    }

    /// Records the outcome of a push: `Ok` pushed, `Err(why)` with `give_up` failed for good.
    pub fn finish_advisory_push(
        &self,
        id: i64,
        outcome: std::result::Result<(), &str>,
        give_up: bool,
        now: DateTime<Utc>,
    ) -> Result<()> {
        match outcome {
            Ok(()) => self.exec(
                "UPDATE advisory_pushes SET state = 'pushed', pushed_at = ?2, last_error = NULL WHERE id = ?1",
                params![id, ts(now)],
            )?,
            Err(why) => self.exec(
                "UPDATE advisory_pushes SET last_error = ?2, state = CASE WHEN ?3 THEN 'failed' ELSE state END
                 WHERE id = ?1",
                params![id, why, give_up],
            )?,
        };
        Ok(())
    }

    pub fn next_advisory_id(&self, prefix: &str, year: i32) -> Result<String> {
        // A range on the UNIQUE index of advisory_id (LIKE cannot use it): the ids that
        // start with `PREFIX-YYYY-`, read for every mail, without scanning the cases.
        let low = format!("{prefix}-{year}-");
        let high = format!("{prefix}-{year}.");
        let ids: Vec<String> = self.column(
            "SELECT advisory_id FROM cases WHERE advisory_id >= ?1 AND advisory_id < ?2",
            [low, high],
        )?;
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
                case,
                ts(at),
                e.actor,
                e.kind,
                e.detail,
                e.public as i64,
                message
            ],
        )?;
        Ok(())
    }

    /// Suspect mail on `desk`'s cases filed in `[since, until)`, and, before `since`,
    /// any whose event id is past `after_id` (a filing that began before the previous
    /// summary and committed after it: its events carry the instant it began): how
    /// many, and the first
    /// `at_most` of them (case, when, sender, subject, why), oldest first, from the
    /// `quarantined` events (through their own index) and the messages they belong to.
    /// Bounded: a day's flood of spam costs the summary `at_most` rows in memory. The top
    /// level's (`""`) takes in the cases of every desk not in `configured`: a desk
    /// removed from the configuration leaves its cases to the top level.
    pub fn quarantined_between(
        &self,
        (since, until, after_id): (DateTime<Utc>, DateTime<Utc>, Option<i64>),
        (desk, configured): (&str, &[String]),
        at_most: usize,
    ) -> Result<(usize, Vec<crate::desk::spam::SuspectMail>)> {
        let configured = serde_json::to_string(configured).unwrap_or_else(|_| "[]".into());
        let after_id = after_id.unwrap_or(i64::MAX);
        // A filing stamps its events when it begins, and none takes hours: the index is
        // read from a little before `since`, not from the first spam on file.
        let floor = since - chrono::Duration::hours(LATE_COMMIT_HOURS);
        let range = params![ts(since), ts(until), desk, configured, after_id, ts(floor)];
        let total: i64 = self
            .opt(&format!("SELECT COUNT(*) {QUARANTINED_FROM}"), range)?
            .unwrap_or(0);
        let rows: Vec<(String, String, String, String, String)> = self.rows(
            &format!(
                "SELECT e.case_id, e.at, COALESCE(m.from_addr, ''), COALESCE(m.subject, ''), e.detail \
                 {QUARANTINED_FROM} ORDER BY e.at, e.id LIMIT {at_most}"
            ),
            range,
        )?;
        let total = usize::try_from(total).unwrap_or(usize::MAX);
        let rows = rows
            .into_iter()
            .map(|(case, at, sender, subject, reason)| {
                Ok(crate::desk::spam::SuspectMail {
                    case,
                    at: parse_ts(&at)?,
                    sender,
                    subject,
                    reason,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok((total, rows))
    }

    /// Events of `kind` on any case since `since`, counted up to `at_most`: read for
    /// every mail, so a flood of such events (forged team mail, each refused) costs each
    /// mail at most `at_most` index entries, not one per event of the last hour.
    pub fn count_events_since(
        &self,
        kind: EventKind,
        since: DateTime<Utc>,
        at_most: u32,
    ) -> Result<u32> {
        debug_assert!(
            COUNTED_EVENTS.contains(&kind),
            "{kind:?} is not in events_counted"
        );
        let n: i64 = self
            .opt(&count_events_sql(kind, at_most), [ts(since)])?
            .unwrap_or(0);
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    /// Events of `kind` (refused commands, unreadable mail) since `since` on the cases of
    /// the series `prefix` (a desk's `case_prefix`, or a case's own), counted up to
    /// `at_most` through their own index.
    pub fn count_in_series_since(
        &self,
        kind: EventKind,
        prefix: &str,
        since: DateTime<Utc>,
        at_most: u32,
    ) -> Result<u32> {
        debug_assert!(
            matches!(kind, EventKind::Refused | EventKind::Unreadable),
            "{kind:?} has no index by series"
        );
        let sql = format!(
            "SELECT COUNT(*) FROM (SELECT 1 FROM events WHERE kind = '{}' \
             AND substr(case_id, 1, instr(case_id, '-')) = ?2 AND at >= ?1 LIMIT {at_most})",
            kind.as_str()
        );
        let n: i64 = self
            .opt(&sql, params![ts(since), format!("{prefix}-")])?
            .unwrap_or(0);
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    /// The mails (their Message-IDs) of the newest events of `kind` by `actor` on `case`
    /// saying exactly `detail` since `since`, at most `at_most`: read through
    /// `events_case`.
    pub fn recorded_since(
        &self,
        case: &CaseId,
        (kind, actor): (EventKind, &str),
        (detail, since): (&str, DateTime<Utc>),
        at_most: u32,
    ) -> Result<Vec<MessageId>> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT message_id FROM events WHERE case_id = ?1 AND kind = ?2 AND actor = ?3 AND detail = ?4 AND at >= ?5
             AND message_id IS NOT NULL ORDER BY id DESC LIMIT ?6",
        )?;
        let ids = stmt
            .query_map(
                params![case, kind.as_str(), actor, detail, ts(since), at_most],
                |r| r.get::<_, MessageId>(0),
            )?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(ids)
    }

    pub fn events(&self, case: &CaseId) -> Result<Vec<Event>> {
        let rows: Vec<EventRow> = self.rows(
            "SELECT at, kind, actor, detail, public, message_id FROM events WHERE case_id = ?1 ORDER BY id",
            [case],
        )?;
        events_of(rows)
    }

    /// Every case prefix on file (a few rows: one a prefix and year).
    pub fn case_series(&self) -> Result<Vec<String>> {
        self.column("SELECT DISTINCT prefix FROM case_counters", [])
    }

    /// The newest `at_most` events of `case` at or after `since`, in order, and whether
    /// there were more: read backwards through the `events_case_at` index, so neither an
    /// old case's long history nor a flood of mail on it is read for them.
    pub fn events_since(
        &self,
        case: &CaseId,
        since: DateTime<Utc>,
        at_most: usize,
    ) -> Result<(Vec<Event>, bool)> {
        let mut rows: Vec<EventRow> =
            self.rows(&events_since_sql(at_most), params![case, ts(since)])?;
        let more = rows.len() > at_most;
        rows.truncate(at_most);
        rows.reverse();
        Ok((events_of(rows)?, more))
    }
}

/// The suspect mail on a desk's cases in a time range (`?1`, `?2`, desk `?3`): the
/// kind written out, so that the partial index `events_quarantined` serves it.
const QUARANTINED_FROM: &str = "FROM events e JOIN cases c ON c.id = e.case_id \
     AND (c.desk = ?3 OR (?3 = '' AND c.desk NOT IN (SELECT value FROM json_each(?4)))) \
     LEFT JOIN messages m ON m.message_id = e.message_id \
     WHERE e.kind = 'quarantined' AND e.at >= ?6 AND e.at < ?2 AND (e.at >= ?1 OR e.id > ?5)";

/// How long before the previous summary's moment a mail committed after it may have been
/// stamped (see `Tx::quarantined_between`).
const LATE_COMMIT_HOURS: i64 = 6;

/// The newest events of a case since an instant, newest first (at, then id: the order
/// they were written in): one more than `at_most`, to tell whether there were more. The
/// limit is written into the statement (see `count_events_sql`).
fn events_since_sql(at_most: usize) -> String {
    format!(
        "SELECT at, kind, actor, detail, public, message_id FROM events WHERE case_id = ?1 AND at >= ?2 ORDER BY at DESC, id DESC LIMIT {}",
        at_most.saturating_add(1)
    )
}

type EventRow = (String, EventKind, String, String, i64, Option<MessageId>);

fn events_of(rows: Vec<EventRow>) -> Result<Vec<Event>> {
    rows.into_iter()
        .map(|(at, kind, actor, detail, public, mid)| {
            Ok(Event {
                at: parse_ts(&at)?,
                kind,
                actor,
                detail,
                public: public == 1,
                message_id: mid,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{HIGHEST_ADVISORY, Listing, listing_sql, widths_sql};
    use crate::store::Store;
    use crate::store::inspect::{index_entries, plan};

    /// A new database (a file `name` in a new directory) holding one case,
    /// SEC-2026-0001, opened at `now`.
    fn store_with_case(
        name: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> (tempfile::TempDir, Store, crate::types::CaseId) {
        use crate::desk::case::Case;
        use crate::types::{CaseId, MessageId};
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join(name)).unwrap();
        let id = CaseId::parse("SEC-2026-0001").unwrap();
        let root = MessageId::from_parts("root", "x.test");
        let case = Case::new(id.clone(), "a case".into(), None, now, root);
        store.write(|tx| tx.insert_case(&case)).unwrap();
        (dir, store, id)
    }

    /// Every field of a case survives its insertion and an update, as written.
    #[test]
    fn every_field_of_a_case_is_stored_by_insert_and_update() {
        use crate::desk::case::{Case, CreditChoice, PackageEntry};
        use crate::types::{CaseId, CaseStatus, CreditRole, MessageId, ReferenceType, Severity};
        use chrono::{NaiveDate, TimeZone, Utc};
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("fields.db")).unwrap();
        let at = |h| Utc.with_ymd_and_hms(2026, 11, 30, h, 1, 2).unwrap();
        let day = |d| NaiveDate::from_ymd_opt(2026, 12, d).unwrap();
        let mut c = Case::new(
            CaseId::parse("SEC-2026-0042").unwrap(),
            "A subject".into(),
            Some(("rita@reporter.test".into(), Some("Rita".into()))),
            at(1),
            MessageId::from_parts("root", "reporter.test"),
        );
        c.status = CaseStatus::Fixed;
        c.assignee = Some("alice@example.org".into());
        c.severity = Some(Severity::High);
        c.cvss_vector = Some("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H".into());
        c.cvss_score = Some(9.8);
        c.cves = vec!["CVE-2026-1234".into()];
        c.cve_requested = true;
        c.cwes = vec![79, 89];
        c.summary = Some("summary".into());
        c.details = Some("details".into());
        c.workaround = Some("workaround".into());
        c.references = vec![(ReferenceType::parse("ADVISORY"), "https://a.test".into())];
        c.package = Some("pkg".into());
        c.affected = Some("<1.2".into());
        c.fixed_in = Some("1.2".into());
        c.credit = CreditChoice::Name("Rita R.".into());
        c.extra_packages = vec![PackageEntry {
            name: "other".into(),
            affected: Some("<2".into()),
            fixed_in: None,
            bindings: vec!["Other.g".into()],
            commits: vec![("https://git.test/o".into(), "def456".into())],
        }];
        c.credits = vec![(CreditRole::Finder, "Rita".into())];
        c.bindings = vec!["Module.f".into()];
        c.fix_commits = vec![("https://git.test/r".into(), "abc123".into())];
        c.advisory_changed_at = Some(at(2));
        c.embargo_end = Some(day(10));
        c.preannounce = Some(day(3));
        c.first_reply_at = Some(at(3));
        c.last_reply_at = Some(at(4));
        c.duplicate_of = Some(CaseId::parse("SEC-2026-0041").unwrap());
        c.close_reason = Some("reason".into());
        c.fixed_at = Some(at(5));
        c.published_at = Some(at(6));
        c.advisory_id = Some("OSEC-2026-01".into());
        c.upstream = vec!["up@stream.test".into()];
        store.write(|tx| tx.insert_case(&c)).unwrap();
        let loaded = store.read(|tx| tx.load_case(&c.id)).unwrap().unwrap();
        assert_eq!(loaded, c, "inserted");
        c.credit = CreditChoice::Anonymous;
        c.summary = None;
        c.cwes.clear();
        c.opened_at = at(7);
        store.write(|tx| tx.update_case(&c)).unwrap();
        let loaded = store.read(|tx| tx.load_case(&c.id)).unwrap().unwrap();
        assert_eq!(loaded, c, "updated");
    }

    /// Counting recent events of a kind (read for every mail) reads at most as many
    /// index entries as it was asked to count: three thousand refused mails in an hour
    /// cost the next mail a handful of steps, not one per refused mail.
    #[test]
    fn counting_recent_events_stops_at_the_limit() {
        use super::count_events_sql;
        use crate::desk::case::{EventKind, NewEvent};
        use chrono::{Duration, TimeZone, Utc};
        use rusqlite::StatementStatus;
        let now = Utc.with_ymd_and_hms(2026, 11, 30, 12, 0, 0).unwrap();
        let (_dir, mut store, id) = store_with_case("events.db", now);
        let refused = NewEvent::new(EventKind::Refused, "alice@example.org", "refused");
        store
            .write(|tx| {
                for i in 0..3000 {
                    tx.insert_event(&id, now - Duration::seconds(i), &refused, None)?;
                }
                Ok(())
            })
            .unwrap();
        let (n, steps) = store
            .read(|tx| {
                let n = tx.count_events_since(EventKind::Refused, now - Duration::hours(1), 6)?;
                let stmt = tx
                    .conn()
                    .prepare_cached(&count_events_sql(EventKind::Refused, 6))?;
                let steps = stmt.get_status(StatementStatus::VmStep);
                drop(stmt);
                // Called again (as for the next mail), it is not prepared again.
                tx.count_events_since(EventKind::Refused, now - Duration::hours(2), 6)?;
                let stmt = tx
                    .conn()
                    .prepare_cached(&count_events_sql(EventKind::Refused, 6))?;
                assert_eq!(stmt.get_status(StatementStatus::RePrepare), 0);
                Ok((n, steps))
            })
            .unwrap();
        assert_eq!(n, 6);
        assert!(steps < 200, "{steps} steps to count 6 events");
        let all = store
            .read(|tx| tx.count_events_since(EventKind::Refused, now - Duration::hours(1), 5000))
            .unwrap();
        assert_eq!(all, 3000, "below the limit, every event counts");
    }

    /// Each desk's refused commands are counted apart, through their own index: three
    /// thousand refused on another desk's case cost the count a handful of steps.
    #[test]
    fn refused_commands_are_counted_by_series() {
        use crate::desk::case::{Case, EventKind, NewEvent};
        use crate::types::{CaseId, MessageId};
        use chrono::{Duration, TimeZone, Utc};
        use rusqlite::StatementStatus;
        let now = Utc.with_ymd_and_hms(2026, 12, 2, 9, 0, 0).unwrap();
        let (_dir, mut store, ours) = store_with_case("series.db", now);
        let theirs = CaseId::parse("DUNE-2026-0001").unwrap();
        let root = MessageId::from_parts("dune", "x.test");
        let refused = NewEvent::new(EventKind::Refused, "alice@example.org", "refused");
        store
            .write(|tx| {
                tx.insert_case(&Case::new(theirs.clone(), "theirs".into(), None, now, root))?;
                for i in 0..3000 {
                    tx.insert_event(&theirs, now - Duration::seconds(i), &refused, None)?;
                }
                tx.insert_event(&ours, now, &refused, None)?;
                tx.insert_event(&ours, now, &refused, None)
            })
            .unwrap();
        let hour = now - Duration::hours(1);
        let (sec, dune) = store
            .read(|tx| {
                Ok((
                    tx.count_in_series_since(EventKind::Refused, "SEC", hour, 6)?,
                    tx.count_in_series_since(EventKind::Refused, "DUNE", hour, 6)?,
                ))
            })
            .unwrap();
        assert_eq!((sec, dune), (2, 6));
        let sql = "SELECT COUNT(*) FROM (SELECT 1 FROM events WHERE kind = 'refused' \
             AND substr(case_id, 1, instr(case_id, '-')) = ?2 AND at >= ?1 LIMIT 6)";
        let p = plan(&store, sql);
        assert!(p.contains("events_refused_by_series"), "{p}");
        let p = plan(&store, &sql.replace("'refused'", "'unreadable'"));
        assert!(p.contains("events_unreadable_by_series"), "{p}");
        let steps = store
            .read(|tx| {
                tx.count_in_series_since(EventKind::Refused, "SEC", hour, 6)?;
                let stmt = tx.conn().prepare_cached(sql)?;
                Ok(stmt.get_status(StatementStatus::VmStep))
            })
            .unwrap();
        assert!(steps > 0 && steps < 200, "{steps} steps to count 2 events");
    }

    /// Each kind the desk counts is counted through `events_counted`, and the index holds
    /// those kinds alone: a report's own events (opened, acknowledged) add no entry.
    #[test]
    fn counted_events_have_an_index_of_their_own() {
        use super::{COUNTED_EVENTS, count_events_sql};
        use crate::desk::case::{EventKind, NewEvent};
        use chrono::{TimeZone, Utc};
        let now = Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap();
        let (_dir, mut store, id) = store_with_case("counted.db", now);
        for kind in COUNTED_EVENTS {
            let p = plan(&store, &count_events_sql(kind, 5));
            assert!(
                p.contains("USING COVERING INDEX events_counted"),
                "{kind:?}: {p}"
            );
        }
        store
            .write(|tx| {
                for kind in [
                    EventKind::Opened,
                    EventKind::Acknowledged,
                    EventKind::Refused,
                ] {
                    tx.insert_event(&id, now, &NewEvent::new(kind, "secdesk", "d"), None)?;
                }
                Ok(())
            })
            .unwrap();
        let entries = index_entries(&store, "events_counted");
        assert_eq!(
            entries, 1,
            "only the refused command's event is in the index"
        );
        let counted = store
            .read(|tx| tx.count_events_since(EventKind::Refused, now, 10))
            .unwrap();
        assert_eq!(counted, 1);
    }

    /// A case's recent events (read for every mail on the case) come from its last
    /// minutes alone: three thousand older events cost the read nothing.
    #[test]
    fn a_cases_recent_events_are_read_without_its_history() {
        use crate::desk::case::{EventKind, NewEvent};
        use chrono::{Duration, TimeZone, Utc};
        let now = Utc.with_ymd_and_hms(2026, 11, 30, 12, 0, 0).unwrap();
        let (_dir, mut store, id) = store_with_case("recent.db", now);
        let mail = NewEvent::new(EventKind::OtherMail, "x@spam.test", "mail");
        store
            .write(|tx| {
                for i in 0..3000 {
                    tx.insert_event(
                        &id,
                        now - Duration::hours(1) - Duration::seconds(i),
                        &mail,
                        None,
                    )?;
                }
                for i in 0..2 {
                    tx.insert_event(&id, now - Duration::minutes(i), &mail, None)?;
                }
                Ok(())
            })
            .unwrap();
        let ((recent, more), steps) = window_read(&mut store, &id, now);
        assert_eq!((recent.len(), more), (2, false));
        assert!(recent[0].at < recent[1].at, "in order");
        assert!(steps < 200, "{steps} steps for 2 recent events");
    }

    /// Loop protection's read of a case's last ten minutes before `now` (the newest 200
    /// events, and whether there were more), and the VM steps its statement took.
    fn window_read(
        store: &mut Store,
        id: &crate::types::CaseId,
        now: chrono::DateTime<chrono::Utc>,
    ) -> ((Vec<crate::desk::case::Event>, bool), u64) {
        use super::events_since_sql;
        use rusqlite::StatementStatus;
        store
            .read(|tx| {
                let recent = tx.events_since(id, now - chrono::Duration::minutes(10), 200)?;
                let stmt = tx.conn().prepare_cached(&events_since_sql(200))?;
                Ok((recent, stmt.get_status(StatementStatus::VmStep) as u64))
            })
            .unwrap()
    }

    /// A flood of mail on one case inside the window (its tag is easy to guess) costs
    /// each next mail's read its newest events alone: all of them were read and sorted,
    /// for every mail, in the write transaction.
    #[test]
    fn a_flood_on_a_case_costs_the_next_mail_a_bounded_read() {
        use crate::desk::case::{EventKind, NewEvent};
        use chrono::{Duration, TimeZone, Utc};
        let now = Utc.with_ymd_and_hms(2026, 11, 30, 12, 0, 0).unwrap();
        let (_dir, mut store, id) = store_with_case("flood.db", now);
        store
            .write(|tx| {
                for i in 0..5000 {
                    let mail = NewEvent::new(EventKind::OtherMail, "x@spam.test", format!("{i}"));
                    // Ten a second, several in the same second: `id` orders those.
                    let at = now - Duration::seconds(500) + Duration::milliseconds(i * 100);
                    tx.insert_event(&id, at, &mail, None)?;
                }
                Ok(())
            })
            .unwrap();
        let ((recent, more), steps) = window_read(&mut store, &id, now);
        assert!(more, "the window held more");
        assert_eq!(recent.len(), 200);
        assert_eq!(recent[0].detail, "4800", "the newest, in order");
        assert_eq!(recent[199].detail, "4999");
        assert!(steps < 3000, "{steps} steps for 200 of 5,000 events");
    }

    /// The spam summary reads its desk's suspect mail of the day, the first rows alone
    /// and a count of all: a day's flood (and another desk's) was read whole, in memory,
    /// inside the write transaction.
    #[test]
    fn the_spam_summary_reads_its_desks_first_rows_and_counts_the_rest() {
        use crate::desk::case::{EventKind, NewEvent};
        use chrono::{Duration, TimeZone, Utc};
        let now = Utc.with_ymd_and_hms(2026, 11, 30, 12, 0, 0).unwrap();
        let (_dir, mut store, id) = store_with_case("summary.db", now);
        let other = crate::types::CaseId::parse("COHTTP-2026-0001").unwrap();
        store
            .write(|tx| {
                let case = crate::desk::case::Case::new(
                    other.clone(),
                    "other".into(),
                    None,
                    now,
                    crate::types::MessageId::from_parts("other", "x.test"),
                );
                tx.insert_case(&case)?;
                tx.set_case_desk(&other, "cohttp")?;
                let why = NewEvent::new(EventKind::Quarantined, "desk", "dmarc=fail");
                for i in 0..300 {
                    tx.insert_event(&id, now - Duration::seconds(i), &why, None)?;
                    tx.insert_event(&other, now - Duration::seconds(i), &why, None)?;
                }
                Ok(())
            })
            .unwrap();
        let day = (now - Duration::days(1), now + Duration::seconds(1), None);
        let configured = vec![String::new(), "cohttp".to_string()];
        let (total, rows) = store
            .read(|tx| tx.quarantined_between(day, ("", &configured), 200))
            .unwrap();
        assert_eq!((total, rows.len()), (300, 200));
        assert!(rows.iter().all(|r| r.case == "SEC-2026-0001"));
        assert!(rows[0].at < rows[199].at, "oldest first");
        let (total, rows) = store
            .read(|tx| tx.quarantined_between(day, ("cohttp", &configured), 200))
            .unwrap();
        assert_eq!((total, rows.len()), (300, 200));
        assert!(rows.iter().all(|r| r.case == "COHTTP-2026-0001"));
    }

    /// What is read for every mail or for a short listing is found through an index,
    /// never by reading every case: a scan here makes the desk slower as it ages.
    #[test]
    fn hot_case_lookups_read_no_whole_table() {
        use super::{QUARANTINED_FROM, page_sql};
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("plans.db")).unwrap();
        let checks = [
            (HIGHEST_ADVISORY.to_string(), "advisory_id>?"),
            (listing_sql(Listing::Open), "cases_open"),
            (widths_sql(Listing::Open), "cases_open"),
            (listing_sql(Listing::Spam), "cases_spam"),
            (widths_sql(Listing::Spam), "cases_spam"),
            (listing_sql(Listing::Planned), "cases_open"),
            // `secdesk cases`, a page at a time: a range of the same indexes.
            (page_sql(Listing::Open), "cases_open ((year,seq)>(?,?))"),
            (page_sql(Listing::Spam), "cases_spam ((year,seq)>(?,?))"),
            (page_sql(Listing::All), "((year,seq)>(?,?))"),
            (
                crate::store::outbox::caseless_notices_sql(12),
                "outbox_caseless_notices",
            ),
            (
                crate::store::outbox::explained_to_sql(2),
                "outbox_caseless_transcripts",
            ),
            // The daily spam summary, and what `#move` changes.
            (
                format!("SELECT COUNT(*) {QUARANTINED_FROM}"),
                "events_quarantined",
            ),
            (
                format!(
                    "SELECT e.case_id, e.detail {QUARANTINED_FROM} ORDER BY e.at, e.id LIMIT 200"
                ),
                "events_quarantined",
            ),
            (
                crate::store::desks::MOVE_REFS_SQL.to_string(),
                "message_refs_case",
            ),
            (
                crate::store::desks::MOVE_DUPLICATES_SQL.to_string(),
                "cases_duplicate_of",
            ),
        ];
        for (sql, index) in checks {
            let plan = plan(&store, &sql);
            assert!(plan.contains(index), "{sql}\n{plan}");
            for line in plan.lines() {
                assert!(
                    !line.starts_with("SCAN cases") || line.contains("USING INDEX cases_"),
                    "a scan of every case: {sql}\n{plan}"
                );
            }
        }
    }
}
