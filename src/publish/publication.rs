//! Builds the advisories of a case from what the team recorded: used by `#publish`, by
//! `secdesk advisory` for review, and by the announcement.
//!
//! One advisory per package: the OCaml advisory format (and its converter) names one
//! package per file, so a case about two packages publishes two advisories that name
//! each other as `related`.
//!
//! Invariant: pure. The timeline is written for the public: dated facts chosen by event
//! kind, never an event's free text unless the desk wrote it as public; the reporter is
//! credited only under a name they agreed to (`#credit`). Nothing here reads the clock:
//! `modified` is the time of the last change recorded on the case.

use crate::config::Config;
use crate::desk::case::{Case, CreditChoice, Event, EventKind};
use crate::publish::advisory::{Advisory, CreditRole};
use chrono::{DateTime, Utc};

/// How advisory ids are numbered: `<prefix>-<year>-<NN>`, from `next` on.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Numbering {
    pub prefix: String,
    pub year: i32,
    /// One past the highest number of the year in the desk's records and the
    /// advisory repository.
    pub next: u32,
}

impl Numbering {
    /// `n` consecutive ids from `next`.
    pub fn ids(&self, n: usize) -> Vec<String> {
        (0..n)
            .map(|i| {
                let seq = u64::from(self.next.max(1)) + i as u64;
                format!("{}-{}-{seq:02}", self.prefix, self.year)
            })
            .collect()
    }
}

/// The line of a publication's commit message that names its case: a branch left by the
/// same publication made again is recognised by it.
pub const CASE_TRAILER: &str = "Secdesk-Case:";

/// What `#publish` commits to the advisory repository: files on a new branch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoCommit {
    /// Named after the (first) advisory id.
    pub branch: String,
    /// (path inside the repository, content).
    pub files: Vec<(String, String)>,
    pub message: String,
}

/// Where the database keeps an advisory: `advisories/<year>/<id>.md`, the year taken
/// from the id (`OSEC-2026-18`).
pub fn repo_path(id: &str) -> String {
    let year = id.split('-').nth(1).unwrap_or("unknown");
    format!("advisories/{year}/{id}.md")
}

/// One package of a case: name, `#affected` text, `#fixed-in` version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackagePart {
    pub name: Option<String>,
    pub affected: Option<String>,
    pub fixed_in: Option<String>,
    /// Its `affected_bindings`.
    pub bindings: Vec<String>,
    /// Its fixing commits: (git repository url, commit id).
    pub commits: Vec<(String, String)>,
}

/// The packages of a case, the first one first; one (maybe empty) when none is named.
pub fn packages(case: &Case) -> Vec<PackagePart> {
    let mut parts = vec![PackagePart {
        name: case.package.clone(),
        affected: case.affected.clone(),
        fixed_in: case.fixed_in.clone(),
        bindings: case.bindings.clone(),
        commits: case.fix_commits.clone(),
    }];
    parts.extend(case.extra_packages.iter().map(|p| PackagePart {
        name: Some(p.name.clone()),
        affected: p.affected.clone(),
        fixed_in: p.fixed_in.clone(),
        bindings: p.bindings.clone(),
        commits: p.commits.clone(),
    }));
    parts
}

/// The advisory ids recorded at publication (several when the case names several
/// packages), in package order.
pub fn advisory_ids(case: &Case) -> Vec<String> {
    case.advisory_id
        .as_deref()
        .map(|ids| ids.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default()
}

/// The time of the last change to the advisory: the last command that changed what it
/// says, the last fact of its timeline, its publication. Not the time of the request
/// (two calls print the same advisory), and not changes it does not show (an
/// assignment, a reminder, a note). A published advisory's is its publication: it says
/// what it said when it went out.
pub fn last_change(case: &Case, events: &[Event]) -> DateTime<Utc> {
    if let Some(at) = case.published_at {
        return at;
    }
    timeline(case, events, case.fixed_in.as_deref())
        .into_iter()
        .map(|(at, _)| at)
        .chain(case.advisory_changed_at)
        .chain(case.published_at)
        .chain(std::iter::once(case.opened_at))
        .max()
        .unwrap_or(case.opened_at)
}

/// The public timeline of the advisory of the package fixed in `fixed_in`: dated facts.
/// The first report, its acknowledgement and the first contact with maintainers are
/// told in the desk's words whatever the events say (their free text holds subjects and
/// addresses); changes the desk marked public (confirmed, CVE assigned, fix released…)
/// in the words it wrote for the public, as the case stands now: a CVE id assigned and
/// replaced since (a typo, another vulnerability's id) is not told, each one still
/// there once, on the day it was first given; the fix once, on its last `#fixed`, in
/// this package's version. Once published, nothing after the publication.
fn timeline(case: &Case, events: &[Event], fixed_in: Option<&str>) -> Vec<(DateTime<Utc>, String)> {
    let mut out: Vec<(DateTime<Utc>, String)> = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    let mut told_cves: Vec<&str> = Vec::new();
    let mut fix: Option<DateTime<Utc>> = None;
    // A published advisory's timeline ends with its publication (a `#forward` after it
    // is no part of what went out).
    let told = events
        .iter()
        .filter(|e| case.published_at.is_none_or(|p| e.at <= p));
    for e in told {
        let text = match e.kind {
            EventKind::Opened => Some("reported to the security team".to_string()),
            EventKind::Acknowledged => Some("report acknowledged".to_string()),
            EventKind::Forwarded => Some("maintainers contacted".to_string()),
            EventKind::Changed if e.public && is_fix_released(&e.detail) => {
                fix = Some(e.at);
                None
            }
            EventKind::Changed if e.public => match cves_assigned(&e.detail) {
                Some(ids) => {
                    let new: Vec<&str> = ids
                        .into_iter()
                        .filter(|id| case.cves.iter().any(|c| c == id) && !told_cves.contains(id))
                        .collect();
                    told_cves.extend(&new);
                    (!new.is_empty()).then(|| format!("{} assigned", new.join(", ")))
                }
                None => Some(e.detail.clone()),
            },
            _ => None,
        };
        if let Some(text) = text
            && !seen.contains(&text)
        {
            seen.push(text.clone());
            out.push((e.at, text));
        }
    }
    if let Some(at) = fix {
        let text = match fixed_in {
            Some(v) => format!("fix released in {v}"),
            None => "fix released".to_string(),
        };
        let i = out.partition_point(|(t, _)| *t <= at);
        out.insert(i, (at, text));
    }
    if let Some(at) = case.published_at {
        out.push((at, "advisory published".to_string()));
    }
    out
}

/// Whether a public event is `#fixed`'s ("fix released", "fix released in 1.4.2").
fn is_fix_released(detail: &str) -> bool {
    detail == "fix released" || detail.starts_with("fix released in ")
}

/// The ids of a public event of `#cve` ("CVE-2026-1234, CVE-2026-5678 assigned").
fn cves_assigned(detail: &str) -> Option<Vec<&str>> {
    let ids: Vec<&str> = detail.strip_suffix(" assigned")?.split(", ").collect();
    ids.iter()
        .all(|id| id.starts_with("CVE-") && !id.contains(' '))
        .then_some(ids)
}

/// The advisories of `case`, one per package, with `ids` in package order (a draft
/// passes [`draft_ids`]).
pub fn advisories_for(
    case: &Case,
    events: &[Event],
    config: &Config,
    ids: &[String],
) -> Vec<Advisory> {
    let parts = packages(case);
    let modified = last_change(case, events);
    let mut credits: Vec<(CreditRole, String)> = Vec::new();
    if let CreditChoice::Name(n) = &case.credit {
        credits.push((CreditRole::Reporter, n.clone()));
    }
    for c in &case.credits {
        if !credits.contains(c) {
            credits.push(c.clone());
        }
    }
    parts
        .iter()
        .zip(ids)
        .map(|(part, id)| Advisory {
            id: id.clone(),
            case_id: case.id.clone(),
            summary: case.summary.clone(),
            details: case.details.clone(),
            aliases: case.cves.clone(),
            cwe: case.cwes.clone(),
            severity: case.severity,
            cvss: case.cvss_vector.clone().zip(case.cvss_score),
            ecosystem: config.publish.ecosystem.clone(),
            package: part.name.clone(),
            affected: part.affected.clone(),
            fixed_in: part.fixed_in.clone(),
            workaround: case.workaround.clone(),
            // Stored before `#reference` encoded what it takes: written as the URI the
            // OSV schema wants (unchanged when it is one already).
            references: case
                .references
                .iter()
                .map(|(kind, url)| (kind.clone(), as_uri_or_same(url)))
                .collect(),
            credits: credits.clone(),
            related: ids.iter().filter(|other| *other != id).cloned().collect(),
            bindings: part.bindings.clone(),
            commits: part
                .commits
                .iter()
                .map(|(url, sha)| (as_uri_or_same(url), sha.clone()))
                .collect(),
            published: case.published_at,
            modified,
            timeline: timeline(case, events, part.fixed_in.as_deref()),
            // The days are UTC's, as `published` is: a team west of Greenwich that
            // releases in its evening reads the next day.
            timezone_note: Some("Dates are in UTC.".to_string()),
        })
        .collect()
}

/// The advisory of the case's first package (what the announcement leads with).
pub fn advisory_for(case: &Case, events: &[Event], config: &Config, id: &str) -> Advisory {
    let ids: Vec<String> = std::iter::once(id.to_string())
        .chain(draft_ids(case, config).into_iter().skip(1))
        .collect();
    advisories_for(case, events, config, &ids)
        .into_iter()
        .next()
        .unwrap_or_else(|| Advisory::empty(id, case.id.clone()))
}

/// The ids a draft shows before publication allocates the real ones. Ids already
/// published are kept, in order: only a package without one shows a draft id.
pub fn draft_ids(case: &Case, config: &Config) -> Vec<String> {
    let mut recorded = advisory_ids(case);
    let n = packages(case).len();
    recorded.truncate(n);
    let from = recorded.len();
    recorded.extend((from..n).map(|i| {
        let suffix = if i == 0 {
            String::new()
        } else {
            format!("-{}", i + 1)
        };
        format!(
            "{}-DRAFT-{}{suffix}",
            config.publish.advisory_prefix, case.id
        )
    }));
    recorded
}

/// The id a draft shows for its first package.
pub fn draft_id(case: &Case, config: &Config) -> String {
    draft_ids(case, config)
        .into_iter()
        .next()
        .unwrap_or_else(|| format!("{}-DRAFT-{}", config.publish.advisory_prefix, case.id))
}

/// `url` as a URI ([`crate::uri::as_uri`]); as it is when it cannot be one (a host
/// outside ASCII), which `#publish` then refuses, saying why.
fn as_uri_or_same(url: &str) -> String {
    crate::uri::as_uri(url).unwrap_or_else(|_| url.to_string())
}
