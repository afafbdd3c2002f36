//! Builds the advisory of a case from what the team recorded: used by `#publish`, by
//! `secdesk advisory` for review, and by the announcement.
//!
//! Invariant: pure. Only events marked public reach the advisory's timeline, and the
//! reporter is credited only under a name they agreed to (`#credit`).

use crate::config::Config;
use crate::desk::case::{Case, CreditChoice, Event};
use crate::publish::advisory::Advisory;
use chrono::{DateTime, Utc};

/// The advisory for `case`. `id` is its advisory id (allocated at publication; a draft
/// uses a placeholder).
pub fn advisory_for(
    case: &Case,
    events: &[Event],
    config: &Config,
    id: &str,
    now: DateTime<Utc>,
) -> Advisory {
    Advisory {
        id: id.to_string(),
        case_id: case.id.clone(),
        summary: case.summary.clone(),
        details: case.details.clone(),
        aliases: case.cves.clone(),
        cwe: case.cwes.clone(),
        severity: case.severity,
        cvss: case.cvss_vector.clone().zip(case.cvss_score),
        ecosystem: config.publish.ecosystem.clone(),
        package: case.package.clone(),
        affected: case.affected.clone(),
        fixed_in: case.fixed_in.clone(),
        workaround: case.workaround.clone(),
        references: case.references.clone(),
        credit: match &case.credit {
            CreditChoice::Name(n) => Some(n.clone()),
            CreditChoice::Unknown | CreditChoice::Anonymous => None,
        },
        published: case.published_at,
        modified: now,
        timeline: events
            .iter()
            .filter(|e| e.public)
            .map(|e| (e.at, e.detail.clone()))
            .collect(),
        timezone_note: None,
    }
}

/// The id a draft shows before publication allocates the real one.
pub fn draft_id(case: &Case, config: &Config) -> String {
    case.advisory_id
        .clone()
        .unwrap_or_else(|| format!("{}-DRAFT-{}", config.publish.advisory_prefix, case.id))
}
