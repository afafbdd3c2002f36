//! Advisory rendering: turns a published (or about to be published) case into an
//! OSV JSON record (schema 1.7) and a markdown advisory in the format of the OCaml
//! security-advisories repository (a fenced opam-syntax header, `# summary`, details,
//! `## Timeline`).
//!
//! This module owns the two renderers, the `#affected` range parser and the
//! pre-publication checks (`problems`). It must never do I/O, never read the clock
//! (every time is a field of [`Advisory`]) and never panic: odd input is rendered as
//! well as it can be and reported by [`problems`] instead of aborting.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

pub use crate::types::CreditRole;
use crate::types::{CaseId, ReferenceType, Severity};

/// OSV schema version we claim: the first release of the schema that knows the `opam`
/// ecosystem and the `OSEC` id prefix (ossf/osv-schema v1.7.5, commit 1de720a). The
/// OCaml converter still writes "1.7.4", the one field where we knowingly differ.
/// A private database's `x_` ids (the default prefix) and the `AZL`/`CLSA` homes are in
/// the specification as it stands (its `docs/schema.md` on the main branch, headed
/// "Version 1.7.5") and in its JSON schema there, but not in the JSON schema of the
/// v1.7.5 tag: a validator pinned to that tag refuses such records. No later version is
/// tagged yet (checked 2026-12-03); a registered prefix (`OSEC`) validates under both.
const OSV_SCHEMA_VERSION: &str = "1.7.5";

/// The most alternatives (`|`) one `affected` constraint may have: the OCaml converter
/// (hannesm/advisories, `aff_to_events`) turns `A | B` into two ranges but a third
/// alternative into a range that says "every version", so the desk refuses it.
pub const MAX_ALTERNATIVES: usize = 2;

/// Upper bound on the summary. The OCaml tooling rejects summaries whose
/// `String.length` (bytes, not characters) exceeds 120, so we count bytes: that
/// also guarantees at most 120 characters.
pub const SUMMARY_MAX: usize = 120;

const ELLIPSIS: &str = "…";

/// Ecosystem names the OSV schema (1.7) accepts before an optional `:suffix`.
const OSV_ECOSYSTEMS: [&str; 47] = [
    "AlmaLinux",
    "Alpaquita",
    "Alpine",
    "Android",
    "Azure Linux",
    "BellSoft Hardened Containers",
    "Bioconductor",
    "Bitnami",
    "Chainguard",
    "CleanStart",
    "ConanCenter",
    "CRAN",
    "crates.io",
    "Debian",
    "Docker Hardened Images",
    "Echo",
    "FreeBSD",
    "GHC",
    "GitHub Actions",
    "Go",
    "Hackage",
    "Hex",
    "Julia",
    "Kubernetes",
    "Linux",
    "Mageia",
    "Maven",
    "MinimOS",
    "npm",
    "NuGet",
    "opam",
    "openEuler",
    "openSUSE",
    "OSS-Fuzz",
    "Packagist",
    "Photon OS",
    "Pub",
    "PyPI",
    "Red Hat",
    "Rocky Linux",
    "Root",
    "RubyGems",
    "SUSE",
    "SwiftURL",
    "Ubuntu",
    "VSCode",
    "Wolfi",
];

/// Everything an advisory says. Built by the caller from a case; the renderers only
/// read it.
#[derive(Debug, Clone, PartialEq)]
pub struct Advisory {
    /// Advisory id, e.g. `OSEC-2026-03`.
    pub id: String,
    pub case_id: CaseId,
    pub summary: Option<String>,
    /// Markdown.
    pub details: Option<String>,
    /// CVE ids.
    pub aliases: Vec<String>,
    pub cwe: Vec<u32>,
    pub severity: Option<Severity>,
    /// CVSS vector and base score.
    pub cvss: Option<(String, f64)>,
    /// OSV ecosystem from the configuration, e.g. `opam`.
    pub ecosystem: String,
    pub package: Option<String>,
    /// Raw `#affected` text: alternatives joined by `|`.
    pub affected: Option<String>,
    pub fixed_in: Option<String>,
    pub workaround: Option<String>,
    /// (reference type, url).
    pub references: Vec<(ReferenceType, String)>,
    /// Who is credited, in order. The reporter appears only under a name they agreed to.
    pub credits: Vec<(CreditRole, String)>,
    /// Other advisories of the same case (one advisory per package): OSV `related`.
    pub related: Vec<String>,
    /// Affected functions or modules (`affected_bindings`).
    pub bindings: Vec<String>,
    /// Fixing commits: (git repository url, commit id).
    pub commits: Vec<(String, String)>,
    /// `None` while not yet published: `modified` stands in for previews.
    pub published: Option<DateTime<Utc>>,
    pub modified: DateTime<Utc>,
    /// Already filtered to what may be public.
    pub timeline: Vec<(DateTime<Utc>, String)>,
    /// Printed above the timeline; its dates are `YYYY-MM-DD` in UTC.
    pub timezone_note: Option<String>,
}

impl Advisory {
    /// An advisory that says nothing yet.
    pub fn empty(id: &str, case_id: CaseId) -> Advisory {
        Advisory {
            id: id.to_string(),
            case_id,
            summary: None,
            details: None,
            aliases: Vec::new(),
            cwe: Vec::new(),
            severity: None,
            cvss: None,
            ecosystem: String::new(),
            package: None,
            affected: None,
            fixed_in: None,
            workaround: None,
            references: Vec::new(),
            credits: Vec::new(),
            related: Vec::new(),
            bindings: Vec::new(),
            commits: Vec::new(),
            published: None,
            modified: DateTime::<Utc>::MIN_UTC,
            timeline: Vec::new(),
            timezone_note: None,
        }
    }
}

/// One OSV range event. Serialises as OSV does: `{"introduced": "1.0"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RangeEvent {
    Introduced(String),
    Fixed(String),
    LastAffected(String),
}

// ---------------------------------------------------------------------------
// Range parsing
// ---------------------------------------------------------------------------

/// Parses the free text of `#affected` into OSV events, introduced first.
///
/// Accepted: clauses `>= X`, `< Y`, `<= Y`, `= X` or a bare `X` (that one version),
/// separated by `,`, `&`, `&&` or spaces, and the inclusive hyphen form `X - Y`
/// (also `X -`). Without a lower bound the range starts at `0` (OSV: all earlier
/// versions). `> X` is refused because OSV has no exclusive lower bound.
pub fn parse_range(text: &str) -> Result<Vec<RangeEvent>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("the range is empty".to_string());
    }
    if text.contains('|') {
        return Err("`|` joins alternatives: read them with parse_ranges".to_string());
    }
    if let Some(events) = parse_hyphen_range(text)? {
        return Ok(events);
    }

    let tokens = tokenize(text)?;
    let mut lower: Option<String> = None;
    let mut upper: Option<RangeEvent> = None;
    let mut exact: Option<String> = None;
    let mut iter = tokens.into_iter().peekable();
    while let Some(tok) = iter.next() {
        let (op, version) = match tok {
            Token::Op(op) => match iter.next() {
                Some(Token::Version(v)) => (op, v),
                _ => return Err(format!("`{op}` must be followed by a version")),
            },
            Token::Version(v) => ("=", v),
        };
        match op {
            ">=" => set_once(&mut lower, version, "lower bound")?,
            "=" | "==" => set_once(&mut exact, version, "exact version")?,
            "<" => set_upper(&mut upper, RangeEvent::Fixed(version))?,
            "<=" => set_upper(&mut upper, RangeEvent::LastAffected(version))?,
            ">" => {
                return Err(format!(
                    "`> {version}` has no OSV equivalent; write `>=` with the first affected version"
                ));
            }
            other => return Err(format!("unknown operator `{other}`")),
        }
    }
    if let Some(v) = exact {
        if lower.is_some() || upper.is_some() {
            return Err("an exact version cannot be combined with bounds".to_string());
        }
        return Ok(vec![
            RangeEvent::Introduced(v.clone()),
            RangeEvent::LastAffected(v),
        ]);
    }
    let mut events = vec![RangeEvent::Introduced(
        lower.unwrap_or_else(|| "0".to_string()),
    )];
    events.extend(upper);
    Ok(events)
}

/// Parses `#affected` text whose alternatives are joined by `|`
/// (`< 4.14.4 | >= 5.0, < 5.5.0`): one event list per alternative, in order.
pub fn parse_ranges(text: &str) -> Result<Vec<Vec<RangeEvent>>, String> {
    text.split('|')
        .enumerate()
        .map(|(i, alt)| {
            parse_range(alt).map_err(|e| {
                if text.contains('|') {
                    format!("alternative {}: {e}", i + 1)
                } else {
                    e
                }
            })
        })
        .collect()
}

/// `X - Y` (inclusive) or `X -`. Returns `Ok(None)` when the text is not of that form.
fn parse_hyphen_range(text: &str) -> Result<Option<Vec<RangeEvent>>, String> {
    // Versions may contain `-` (1.0-rc1), so only a dash with spaces around it, or a
    // trailing dash, separates the two ends.
    let (from, to) = if let Some((a, b)) = text.split_once(" - ") {
        (a.trim(), Some(b.trim()))
    } else if let Some(a) = text.strip_suffix('-') {
        if a.ends_with(char::is_whitespace) || !a.contains(['<', '>', '=']) {
            (a.trim(), None)
        } else {
            return Ok(None);
        }
    } else {
        return Ok(None);
    };
    if !is_version(from) {
        return Err(not_a_version(from));
    }
    let mut events = vec![RangeEvent::Introduced(from.to_string())];
    match to {
        Some(to) if is_version(to) => events.push(RangeEvent::LastAffected(to.to_string())),
        Some(to) => return Err(not_a_version(to)),
        None => {}
    }
    Ok(Some(events))
}

enum Token {
    Op(&'static str),
    Version(String),
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut rest = text;
    loop {
        rest = rest.trim_start_matches(|c: char| c.is_whitespace() || c == ',' || c == '&');
        if rest.is_empty() {
            return Ok(tokens);
        }
        // Longest operators first so `<=` is not read as `<` followed by `=`.
        let op = ["<=", ">=", "==", "<", ">", "="]
            .into_iter()
            .find(|op| rest.starts_with(op));
        if let Some(op) = op {
            tokens.push(Token::Op(op));
            rest = rest.get(op.len()..).unwrap_or("");
            continue;
        }
        let end = rest
            .find(|c: char| c.is_whitespace() || matches!(c, ',' | '&' | '<' | '>' | '='))
            .unwrap_or(rest.len());
        let word = rest.get(..end).unwrap_or("");
        if !is_version(word) {
            return Err(not_a_version(word));
        }
        tokens.push(Token::Version(word.to_string()));
        rest = rest.get(end..).unwrap_or("");
    }
}

/// A version as package managers write them: letters, digits and `. - _ + ~ :`,
/// starting with a letter or digit and holding at least one digit (so prose such
/// as "everything" is not taken for a version). Quotes and backslashes are refused
/// so a version never needs escaping inside an opam constraint.
pub(crate) fn is_version(s: &str) -> bool {
    !is_pattern(s)
        && s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && s.chars().any(|c| c.is_ascii_digit())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '+' | '~' | ':'))
}

/// A version pattern (`4.14.x`, `5.X`): no release is called that, so as a bound it
/// would match nothing (an advisory saying nothing is affected).
fn is_pattern(s: &str) -> bool {
    s.split('.').skip(1).any(|part| matches!(part, "x" | "X"))
}

/// Why `word` is not a version, in the member's words.
fn not_a_version(word: &str) -> String {
    if is_pattern(word) {
        format!(
            "`{word}` is a pattern, not a version: write the range it means, like `>= 4.14.0, < 4.15`"
        )
    } else {
        format!("`{word}` is not a version")
    }
}

fn set_once(slot: &mut Option<String>, value: String, what: &str) -> Result<(), String> {
    if slot.is_some() {
        return Err(format!("more than one {what}"));
    }
    *slot = Some(value);
    Ok(())
}

fn set_upper(slot: &mut Option<RangeEvent>, value: RangeEvent) -> Result<(), String> {
    if slot.is_some() {
        return Err("more than one upper bound".to_string());
    }
    *slot = Some(value);
    Ok(())
}

/// The ranges both renderers use: one event list per `#affected` alternative, with
/// `#fixed-in` taking over the upper bound when there is one alternative (OSV forbids
/// `fixed` next to `last_affected`). With several alternatives each states its own fix.
struct Affected {
    /// Empty when nothing is known about affected versions.
    alternatives: Vec<Vec<RangeEvent>>,
    /// Raw `#affected` text when it could not be read (`problems` says why).
    unparsed: Option<String>,
}

fn affected_events(a: &Advisory) -> Affected {
    let raw = non_blank(a.affected.as_deref());
    let fixed_in = non_blank(a.fixed_in.as_deref());
    let (mut alternatives, unparsed) = match raw.map(|t| (t, parse_ranges(t))) {
        None => (Vec::new(), None),
        Some((_, Ok(alts))) => (alts, None),
        Some((text, Err(_))) => (Vec::new(), Some(text.to_string())),
    };
    if let Some(fixed) = fixed_in
        && alternatives.len() <= 1
        && unparsed.is_none()
    {
        let mut events = alternatives.pop().unwrap_or_default();
        events.retain(|e| matches!(e, RangeEvent::Introduced(_)));
        if events.is_empty() {
            events.push(RangeEvent::Introduced("0".to_string()));
        }
        events.push(RangeEvent::Fixed(fixed.to_string()));
        alternatives.push(events);
    }
    Affected {
        alternatives,
        unparsed,
    }
}

// ---------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------

fn non_blank(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|t| !t.is_empty())
}

fn rfc3339(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The summary as one line, cut to [`SUMMARY_MAX`] bytes on a word boundary with `…`.
pub fn summary_line(summary: &str) -> String {
    let line = summary.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.len() <= SUMMARY_MAX {
        return line;
    }
    let budget = SUMMARY_MAX - ELLIPSIS.len();
    // Longest prefix within budget that ends on a character boundary.
    let mut cut = budget;
    while cut > 0 && !line.is_char_boundary(cut) {
        cut -= 1;
    }
    let head = line.get(..cut).unwrap_or("");
    let next_is_space = line.get(cut..).is_some_and(|r| r.starts_with(' '));
    // Back off to the last space unless the cut already falls between words; a
    // single word longer than the budget is cut inside the word.
    let head = if next_is_space {
        head
    } else {
        match head.rfind(' ') {
            Some(space) => head.get(..space).unwrap_or(head),
            None => head,
        }
    };
    format!("{}{ELLIPSIS}", head.trim_end())
}

fn effective_summary(a: &Advisory) -> Option<String> {
    non_blank(a.summary.as_deref()).map(summary_line)
}

/// OSV severity type from the vector's prefix; `None` when it is not a CVSS vector.
fn cvss_type(vector: &str) -> Option<&'static str> {
    if vector.starts_with("CVSS:4.") {
        Some("CVSS_V4")
    } else if vector.starts_with("CVSS:3.") {
        Some("CVSS_V3")
    } else if vector.starts_with("AV:") {
        // CVSS v2 vectors carry no version prefix.
        Some("CVSS_V2")
    } else {
        None
    }
}

/// Qualitative rating of a CVSS base score (the CVSS v3/v4 scale).
fn cvss_rating(score: f64) -> &'static str {
    // Compare in tenths so 6.95 printed as "7.0" is rated like 7.0.
    let tenths = (score * 10.0).round();
    if tenths <= 0.0 {
        "None"
    } else if tenths < 40.0 {
        "Low"
    } else if tenths < 70.0 {
        "Medium"
    } else if tenths < 90.0 {
        "High"
    } else {
        "Critical"
    }
}

fn capitalized(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Canonical spelling of the ecosystems we know a purl type for, so a config value
/// such as `pypi` still yields the name the OSV schema requires.
fn canonical_ecosystem(ecosystem: &str) -> String {
    let e = ecosystem.trim();
    ["opam", "crates.io", "npm", "PyPI", "Go", "Hex", "Maven"]
        .into_iter()
        .find(|known| known.eq_ignore_ascii_case(e))
        .map_or_else(|| e.to_string(), str::to_string)
}

/// Percent-encodes a purl segment: everything but ASCII letters, digits and `.-_~`.
fn purl_encode(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn purl_path(segments: &[&str]) -> Option<String> {
    if segments.is_empty() || segments.iter().any(|s| s.is_empty()) {
        return None;
    }
    Some(
        segments
            .iter()
            .map(|s| purl_encode(s))
            .collect::<Vec<_>>()
            .join("/"),
    )
}

/// Package URL without version, following the purl type rules for name
/// normalisation; `None` for ecosystems without a mapping or odd names.
pub fn purl(ecosystem: &str, name: &str) -> Option<String> {
    let name = name.trim();
    if name.is_empty() {
        return None;
    }
    let (ty, path) = match canonical_ecosystem(ecosystem).as_str() {
        "opam" => ("opam", purl_path(&[name])?),
        "crates.io" => ("cargo", purl_path(&[name])?),
        // npm and Hex names are lower case by rule; a scope `@s/n` is the namespace.
        "npm" => {
            let lower = name.to_ascii_lowercase();
            let segments: Vec<&str> = match lower.split_once('/') {
                Some((scope, n)) if scope.starts_with('@') => vec![scope, n],
                _ => vec![lower.as_str()],
            };
            ("npm", purl_path(&segments)?)
        }
        "Hex" => ("hex", purl_path(&[name.to_ascii_lowercase().as_str()])?),
        // PyPI names compare case-insensitively with `_` and `-` equal: purl uses
        // the lower-case, dashed form.
        "PyPI" => {
            let normal = name.to_ascii_lowercase().replace('_', "-");
            ("pypi", purl_path(&[normal.as_str()])?)
        }
        // Go module paths keep their case (they are case-sensitive); each path
        // element is one purl segment.
        "Go" => {
            let segments: Vec<&str> = name.split('/').collect();
            ("golang", purl_path(&segments)?)
        }
        "Maven" => {
            let segments: Vec<&str> = match name.split_once(':') {
                Some((group, artifact)) => vec![group, artifact],
                None => vec![name],
            };
            ("maven", purl_path(&segments)?)
        }
        _ => return None,
    };
    Some(format!("pkg:{ty}/{path}"))
}

/// Timeline lines `- YYYY-MM-DD: text`, in date order (stable for equal dates).
fn timeline_section(a: &Advisory) -> Option<String> {
    let mut entries: Vec<&(DateTime<Utc>, String)> = a
        .timeline
        .iter()
        .filter(|(_, text)| !text.trim().is_empty())
        .collect();
    if entries.is_empty() {
        return None;
    }
    entries.sort_by_key(|(when, _)| *when);
    let mut out = String::from("## Timeline\n\n");
    if let Some(note) = non_blank(a.timezone_note.as_deref()) {
        out.push_str(note);
        out.push_str("\n\n");
    }
    let lines: Vec<String> = entries
        .iter()
        .map(|(when, text)| {
            // Continuation lines are indented so they stay inside the list item.
            let body = text
                .trim()
                .lines()
                .map(str::trim_end)
                .collect::<Vec<_>>()
                .join("\n  ");
            format!("- {}: {body}", when.format("%Y-%m-%d"))
        })
        .collect();
    out.push_str(&lines.join("\n"));
    Some(out)
}

fn workaround_section(a: &Advisory) -> Option<String> {
    non_blank(a.workaround.as_deref()).map(|w| format!("## Workaround\n\n{w}"))
}

/// The body shared by OSV `details` and the markdown advisory.
fn body_sections(a: &Advisory, unparsed_affected: Option<String>) -> Vec<String> {
    [
        non_blank(a.details.as_deref()).map(str::to_string),
        unparsed_affected,
        workaround_section(a),
        timeline_section(a),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// The markdown after the `# summary` line: what the converter takes as OSV `details`.
fn body(a: &Advisory, affected: &Affected) -> String {
    let unparsed = affected.unparsed.as_ref().map(|text| {
        format!(
            "## Affected versions\n\nAs reported (could not be turned into a version range): {}",
            code_span(text)
        )
    });
    body_sections(a, unparsed).join("\n\n")
}

/// OCaml's `String.trim`: only space, tab, newline, form feed and carriage return.
fn ocaml_trim(s: &str) -> &str {
    s.trim_matches([' ', '\t', '\n', '\x0c', '\r'])
}

fn clean_list(items: &[String]) -> Vec<&str> {
    items
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .collect()
}

fn credits(a: &Advisory) -> Vec<(CreditRole, &str)> {
    a.credits
        .iter()
        .map(|(role, name)| (*role, name.trim()))
        .filter(|(_, name)| !name.is_empty())
        .collect()
}

fn commits(a: &Advisory) -> Vec<(&str, &str)> {
    a.commits
        .iter()
        .map(|(url, sha)| (url.trim(), sha.trim()))
        .filter(|(url, sha)| !url.is_empty() && !sha.is_empty())
        .collect()
}

// ---------------------------------------------------------------------------
// OSV JSON
// ---------------------------------------------------------------------------

// Field order of these structs is the JSON field order: the converter's
// (hannesm/advisories, `Json.osv_json`), so a record compares line by line.

#[derive(Serialize)]
struct Osv<'a> {
    schema_version: &'static str,
    id: &'a str,
    modified: String,
    published: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    aliases: Vec<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    related: Vec<&'a str>,
    summary: String,
    details: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    severity: Vec<OsvSeverity<'a>>,
    affected: Vec<OsvAffected<'a>>,
    references: Vec<OsvReference<'a>>,
    credits: Vec<OsvCredit<'a>>,
    database_specific: OsvDatabaseSpecific,
}

#[derive(Serialize)]
struct OsvSeverity<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    score: &'a str,
}

#[derive(Serialize)]
struct OsvAffected<'a> {
    package: OsvPackage,
    ranges: Vec<OsvRange<'a>>,
    /// The converter lists opam-repository's versions when it can run `opam`; run
    /// without it (`--no-opam`) it writes `[]`, and so does the desk.
    versions: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ecosystem_specific: Option<OsvEcosystemSpecific<'a>>,
}

#[derive(Serialize)]
struct OsvPackage {
    ecosystem: String,
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    purl: Option<String>,
}

#[derive(Serialize)]
struct OsvRange<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    repo: Option<&'a str>,
    events: Vec<RangeEvent>,
}

#[derive(Serialize)]
struct OsvEcosystemSpecific<'a> {
    /// Same key the OCaml tooling uses for the opam constraint.
    opam_constraint: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    affected_bindings: Vec<&'a str>,
}

#[derive(Serialize)]
struct OsvReference<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    url: &'a str,
}

#[derive(Serialize)]
struct OsvCredit<'a> {
    name: &'a str,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Serialize)]
struct OsvDatabaseSpecific {
    case_id: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    cwe: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    severity: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    affected_text: Option<String>,
}

/// The opam constraint of the ranges, as the header writes it: alternatives joined by
/// `|`, an alternative of several atoms in parentheses when there are several
/// alternatives. `introduced 0` is no lower bound; "every version" is `>= "0"`.
fn opam_formula(alternatives: &[Vec<RangeEvent>], grouped: bool) -> String {
    let several = alternatives.len() > 1;
    alternatives
        .iter()
        .map(|events| {
            let atoms = opam_atoms(events);
            if several && grouped && atoms.len() > 1 {
                format!("({})", atoms.join(" & "))
            } else {
                atoms.join(" & ")
            }
        })
        .collect::<Vec<_>>()
        .join(" | ")
}

fn opam_atoms(events: &[RangeEvent]) -> Vec<String> {
    let atoms: Vec<String> = events
        .iter()
        .filter_map(|e| match e {
            RangeEvent::Introduced(v) if v == "0" => None,
            RangeEvent::Introduced(v) => Some(format!(">= {}", opam_string(v))),
            RangeEvent::Fixed(v) => Some(format!("< {}", opam_string(v))),
            RangeEvent::LastAffected(v) => Some(format!("<= {}", opam_string(v))),
        })
        .collect();
    if atoms.is_empty() {
        vec![">= \"0\"".to_string()]
    } else {
        atoms
    }
}

/// The converter's events of one alternative: the atoms in order, `introduced "0"`
/// first when no atom is a lower bound (`add_introduce`).
fn osv_events(events: &[RangeEvent]) -> Vec<RangeEvent> {
    let mut out: Vec<RangeEvent> = events
        .iter()
        .filter(|e| !matches!(e, RangeEvent::Introduced(v) if v == "0"))
        .cloned()
        .collect();
    if !out.iter().any(|e| matches!(e, RangeEvent::Introduced(_))) {
        out.insert(0, RangeEvent::Introduced("0".to_string()));
    }
    out
}

/// The OSV record: pretty JSON (two-space indent), a trailing newline, the same
/// bytes for the same advisory. Field for field what the OCaml converter makes of
/// [`to_markdown`]'s output (see `tests/data/advisories/MAPPING.md`), except
/// `schema_version` and `database_specific`.
pub fn to_osv_json(a: &Advisory) -> String {
    let affected = affected_events(a);
    let ecosystem = canonical_ecosystem(&a.ecosystem);
    let opam = ecosystem == "opam";
    let osv_affected = match non_blank(a.package.as_deref()) {
        Some(name) if !ecosystem.is_empty() => {
            let mut ranges: Vec<OsvRange> = affected
                .alternatives
                .iter()
                .map(|events| OsvRange {
                    kind: "ECOSYSTEM",
                    repo: None,
                    events: osv_events(events),
                })
                .collect();
            ranges.extend(commits(a).into_iter().map(|(url, sha)| OsvRange {
                kind: "GIT",
                repo: Some(url),
                events: vec![
                    RangeEvent::Introduced("0".to_string()),
                    RangeEvent::Fixed(sha.to_string()),
                ],
            }));
            let ecosystem_specific =
                (opam && !affected.alternatives.is_empty()).then(|| OsvEcosystemSpecific {
                    opam_constraint: format!(
                        "{name} {{{}}}",
                        opam_formula(&affected.alternatives, false)
                    ),
                    affected_bindings: clean_list(&a.bindings),
                });
            vec![OsvAffected {
                package: OsvPackage {
                    purl: purl(&ecosystem, name),
                    ecosystem,
                    name: name.to_string(),
                },
                ranges,
                versions: Vec::new(),
                ecosystem_specific,
            }]
        }
        _ => Vec::new(),
    };
    let severity = a
        .cvss
        .as_ref()
        .and_then(|(vector, _)| {
            let vector = vector.trim();
            cvss_type(vector).map(|kind| OsvSeverity {
                kind,
                score: vector,
            })
        })
        .into_iter()
        .collect();
    let osv = Osv {
        schema_version: OSV_SCHEMA_VERSION,
        id: a.id.trim(),
        modified: rfc3339(&a.modified),
        published: rfc3339(&a.published.unwrap_or(a.modified)),
        aliases: clean_list(&a.aliases),
        related: clean_list(&a.related),
        summary: title(a),
        details: ocaml_trim(&body(a, &affected)).to_string(),
        severity,
        affected: osv_affected,
        references: a
            .references
            .iter()
            .map(|(kind, url)| OsvReference {
                kind: kind.published().as_str(),
                url: url.trim(),
            })
            .collect(),
        credits: credits(a)
            .into_iter()
            .map(|(role, name)| OsvCredit {
                name,
                kind: role.osv_type(),
            })
            .collect(),
        database_specific: OsvDatabaseSpecific {
            case_id: a.case_id.to_string(),
            cwe: a.cwe.iter().map(|c| format!("CWE-{c}")).collect(),
            severity: a.severity.map(Severity::as_str),
            affected_text: affected.unparsed,
        },
    };
    match serde_json::to_string_pretty(&osv) {
        Ok(json) => {
            let mut json = escape_invisible(json);
            json.push('\n');
            json
        }
        // Unreachable: these structs hold only strings and lists. Still, never panic.
        Err(e) => format!("{{\"error\": {:?}}}\n", e.to_string()),
    }
}

/// `json` with the characters serde_json leaves raw but a terminal or a reader could be
/// misled by (DEL, C1 controls, line separators, direction marks and overrides) written
/// as `\uXXXX` escapes: the same value to any parser, and text `secdesk advisory` prints
/// unchanged. Outside its strings, serde_json's output holds only ASCII punctuation,
/// spaces and line ends, so every such character is inside a string; all are in the
/// Basic Multilingual Plane, one escape each.
fn escape_invisible(json: String) -> String {
    use std::fmt::Write as _;
    let invisible = |c: char| (c.is_control() && c != '\n') || crate::sanitize::is_reordering(c);
    if !json.chars().any(invisible) {
        return json;
    }
    let mut out = String::with_capacity(json.len() + 32);
    for c in json.chars() {
        if invisible(c) {
            // Writing to a String cannot fail.
            let _ = write!(out, "\\u{:04x}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    out
}

/// The `# title` line's text: the summary cut to [`SUMMARY_MAX`] bytes, or the id.
fn title(a: &Advisory) -> String {
    effective_summary(a).unwrap_or_else(|| a.id.trim().to_string())
}

// ---------------------------------------------------------------------------
// Markdown (OCaml security-advisories format)
// ---------------------------------------------------------------------------

/// An opam-format string literal: double quotes, with `"` and `\` escaped and
/// control characters written as escapes so the literal stays on one line.
pub fn opam_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            // OCaml-style decimal escapes for the remaining control characters: one a
            // byte of its UTF-8 (the lexer reads `\157` as the byte 157, so a C1
            // character written by its number came out as a byte that is no UTF-8).
            c if c.is_control() => {
                let mut utf8 = [0; 4];
                for b in c.encode_utf8(&mut utf8).bytes() {
                    out.push_str(&format!("\\{b:03}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// True when `s` lexes as an opam identifier (the header writes ids, aliases and
/// CWEs unquoted, as the OCaml tooling expects).
/// The home databases the OSV schema (1.7) knows, by the prefix of their ids: a record
/// whose id has another prefix does not validate, unless it starts with `x_` (a private
/// database). `SUSE-[SRFO]U` is written out.
const OSV_HOME_PREFIXES: &[&str] = &[
    "ASB-A",
    "PUB-A",
    "ALPINE",
    "ALSA",
    "ALBA",
    "ALEA",
    "AZL",
    "BELL",
    "BIT",
    "CGA",
    "CLEANSTART",
    "CLSA",
    "CURL",
    "CVE",
    "DEBIAN",
    "DHI",
    "DRUPAL",
    "DSA",
    "DLA",
    "ELA",
    "DTSA",
    "ECHO",
    "EEF",
    "FreeBSD",
    "GHSA",
    "GO",
    "GSD",
    "HSEC",
    "JLSEC",
    "KUBE",
    "LBSEC",
    "LSN",
    "MAL",
    "MINI",
    "MGASA",
    "OESA",
    "OSEC",
    "OSV",
    "openSUSE-SU",
    "PHSA",
    "PSF",
    "PYSEC",
    "RHBA",
    "RHEA",
    "RHSA",
    "RLSA",
    "RXSA",
    "RSEC",
    "ROOT",
    "RUSTSEC",
    "SUSE-SU",
    "SUSE-RU",
    "SUSE-FU",
    "SUSE-OU",
    "UBUNTU",
    "USN",
    "V8",
];

/// Whether an advisory id (or an advisory prefix, `-` added) names a home database the
/// OSV schema accepts.
pub fn osv_home_known(id: &str) -> bool {
    id.starts_with("x_")
        || OSV_HOME_PREFIXES
            .iter()
            .any(|p| id.strip_prefix(p).is_some_and(|rest| rest.starts_with('-')))
}

fn is_opam_ident(s: &str) -> bool {
    s.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '+'))
}

/// An identifier when it is one, else a string literal: the header must stay valid
/// opam syntax whatever the input (`problems` reports the misfit).
fn opam_ident_or_string(s: &str) -> String {
    if is_opam_ident(s) {
        s.to_string()
    } else {
        opam_string(s)
    }
}

/// An inline code span that survives backticks in `text`.
fn code_span(text: &str) -> String {
    let mut longest = 0;
    let mut run = 0;
    for c in text.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    let fence = "`".repeat(longest + 1);
    format!("{fence} {text} {fence}")
}

fn header(a: &Advisory, affected: &Affected) -> String {
    let mut h: Vec<String> = Vec::new();
    h.push(format!("id: {}", opam_ident_or_string(a.id.trim())));
    h.push(format!("modified: {}", opam_string(&rfc3339(&a.modified))));
    h.push(format!(
        "published: {}",
        opam_string(&rfc3339(&a.published.unwrap_or(a.modified)))
    ));
    let aliases: Vec<String> = clean_list(&a.aliases)
        .into_iter()
        .map(opam_ident_or_string)
        .collect();
    if !aliases.is_empty() {
        h.push(format!("aliases: [ {} ]", aliases.join(" ")));
    }
    let related: Vec<String> = clean_list(&a.related)
        .into_iter()
        .map(opam_ident_or_string)
        .collect();
    if !related.is_empty() {
        h.push(format!("related: [ {} ]", related.join(" ")));
    }
    match &a.cvss {
        Some((vector, score)) if cvss_type(vector.trim()).is_some() => {
            h.push(format!("severity: {}", opam_string(vector.trim())));
            // A score outside 0–10 (or NaN) is nonsense: leave it out rather than
            // print it (`problems` reports it).
            if (0.0..=10.0).contains(score) {
                h.push(format!(
                    "severity_score: {}",
                    opam_string(&format!("{score:.1} ({})", cvss_rating(*score)))
                ));
            }
        }
        // No CVSS: the team's own rating is still worth showing to readers.
        _ => {
            if let Some(sev) = a.severity {
                h.push(format!(
                    "severity_score: {}",
                    opam_string(&capitalized(sev.as_str()))
                ));
            }
        }
    }
    let bindings = clean_list(&a.bindings);
    if !bindings.is_empty() {
        let lines: Vec<String> = bindings
            .iter()
            .map(|b| format!("  {}", opam_string(b)))
            .collect();
        h.push(format!("affected_bindings: [\n{}\n]", lines.join("\n")));
    }
    if let Some(name) = non_blank(a.package.as_deref()) {
        if affected.alternatives.is_empty() {
            // Not valid for the converter: `problems` refuses publication.
            h.push(format!("affected: {}", opam_string(name)));
        } else {
            h.push(format!(
                "affected: {} {{{}}}",
                opam_string(name),
                opam_formula(&affected.alternatives, true)
            ));
        }
    }
    let commits = commits(a);
    if !commits.is_empty() {
        let ranges: Vec<String> = commits
            .iter()
            .map(|(url, sha)| {
                format!(
                    "  [\n    git {} [\n      [fixed {}]\n    ]\n  ]",
                    opam_string(url),
                    opam_string(sha)
                )
            })
            .collect();
        h.push(format!("events: [\n{}\n]", ranges.join("\n")));
    }
    if !a.references.is_empty() {
        let refs: Vec<String> = a
            .references
            .iter()
            .map(|(kind, url)| {
                format!(
                    "  [{} {}]",
                    kind.published().as_str().to_ascii_lowercase(),
                    opam_string(url.trim())
                )
            })
            .collect();
        h.push(format!("references: [\n{}\n]", refs.join("\n")));
    }
    let credits = credits(a);
    if !credits.is_empty() {
        let lines: Vec<String> = credits
            .iter()
            .map(|(role, name)| format!("  [{} {}]", role.as_str(), opam_string(name)))
            .collect();
        h.push(format!("credits: [\n{}\n]", lines.join("\n")));
    }
    if !a.cwe.is_empty() {
        let cwes: Vec<String> = a.cwe.iter().map(|c| format!("CWE-{c}")).collect();
        h.push(format!("cwe: [ {} ]", cwes.join(" ")));
    }
    h.join("\n")
}

/// The markdown advisory: a fenced opam-syntax header (plain ```` ``` ```` fence,
/// as in the OCaml repository), `# summary`, then details, workaround and timeline.
/// A draft is the same document, its `published` date a preview: what the team
/// reviews is byte for byte what would be published at that time.
pub fn to_markdown(a: &Advisory) -> String {
    let affected = affected_events(a);
    let mut out = format!("```\n{}\n```\n\n# {}\n", header(a, &affected), title(a));
    let body = body(a, &affected);
    if !body.is_empty() {
        out.push('\n');
        out.push_str(&body);
        out.push('\n');
    }
    out
}

// ---------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------

/// What the checks found, in plain words: `blocking` ones stop `#publish` (the formats
/// cannot say what the case says), the others are worth a look.
#[derive(Default)]
struct Checks {
    found: Vec<(bool, String)>,
}

impl Checks {
    fn block(&mut self, text: String) {
        self.found.push((true, text));
    }
    fn warn(&mut self, text: String) {
        self.found.push((false, text));
    }
}

/// Plain-words warnings to fix before publishing, blocking ones included. Empty when
/// the advisory is fit to publish as is.
pub fn problems(a: &Advisory) -> Vec<String> {
    checks(a).found.into_iter().map(|(_, t)| t).collect()
}

/// What must be added or fixed before `#publish` can publish: what the markdown
/// format, its converter or the OSV schema cannot say.
pub fn blocking_problems(a: &Advisory) -> Vec<String> {
    checks(a)
        .found
        .into_iter()
        .filter(|(blocking, _)| *blocking)
        .map(|(_, t)| t)
        .collect()
}

fn checks(a: &Advisory) -> Checks {
    let mut p = Checks::default();
    check_id_and_text(&mut p, a);
    check_package(&mut p, a);
    check_ranges(&mut p, a);
    check_severity_and_aliases(&mut p, a);
    check_references_credits_commits(&mut p, a);
    check_dates_and_timeline(&mut p, a);
    p
}

/// The id, the summary and the details.
fn check_id_and_text(p: &mut Checks, a: &Advisory) {
    let id = a.id.trim();
    if id.is_empty() {
        p.block("The advisory has no id.".to_string());
    } else if !is_opam_ident(id) {
        p.block(format!(
            "The advisory id `{id}` is not a plain identifier (letters, digits, `-`, `_`)."
        ));
    } else if !osv_home_known(id) {
        p.block(format!(
            "The advisory id `{id}` names no home database the OSV schema knows, so its \
             OSV record would not validate: set publish.advisory_prefix to your database's \
             registered prefix (OSEC for OCaml's), or to one starting with x_ for a private one."
        ));
    }
    match non_blank(a.summary.as_deref()) {
        None => p.block("No summary: the advisory has no title.".to_string()),
        Some(s) => {
            let line = s.split_whitespace().collect::<Vec<_>>().join(" ");
            if line.len() > SUMMARY_MAX {
                p.warn(format!(
                    "The summary is {} bytes long (at most {SUMMARY_MAX}); it will be cut to: {}",
                    line.len(),
                    summary_line(&line)
                ));
            }
        }
    }
    if non_blank(a.details.as_deref()).is_none() {
        p.warn("No details: say what the flaw is and who is affected.".to_string());
    }
}

/// The package and its ecosystem: what the OSV record and the package URL name.
fn check_package(p: &mut Checks, a: &Advisory) {
    let ecosystem = canonical_ecosystem(&a.ecosystem);
    match non_blank(a.package.as_deref()) {
        None => p.block("No package: the advisory does not name what is affected.".to_string()),
        Some(name) => {
            if ecosystem.is_empty() {
                p.block(
                    "No ecosystem is configured, so the OSV record lists no affected package."
                        .to_string(),
                );
            } else {
                let base = ecosystem.split(':').next().unwrap_or("");
                if !OSV_ECOSYSTEMS.contains(&base) {
                    p.block(format!(
                        "The ecosystem `{ecosystem}` is not one the OSV schema knows."
                    ));
                }
                if ecosystem == "opam"
                    && !name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
                {
                    p.block(format!(
                        "The opam package name `{name}` holds characters other than letters, digits, `-` and `_`."
                    ));
                }
                if purl(&ecosystem, name).is_none() && ecosystem_has_purl(&ecosystem) {
                    p.block(format!(
                        "No package URL can be made from the package name `{name}`."
                    ));
                }
            }
        }
    }
}

/// The affected range and the fixed version.
fn check_ranges(p: &mut Checks, a: &Advisory) {
    let raw = non_blank(a.affected.as_deref());
    let fixed_in = non_blank(a.fixed_in.as_deref());
    match raw.map(parse_ranges) {
        None if fixed_in.is_none() => {
            p.block("No affected range and no fixed version (#affected, #fixed-in).".to_string());
        }
        None => {}
        Some(Err(why)) => p.block(format!(
            "The affected range `{}` could not be read ({why}).",
            raw.unwrap_or("")
        )),
        Some(Ok(alternatives)) if alternatives.len() > MAX_ALTERNATIVES => p.block(format!(
            "The affected range has {} alternatives; the OCaml converter reads at most {MAX_ALTERNATIVES}: \
             publish the others as a second package or advisory.",
            alternatives.len()
        )),
        Some(Ok(alternatives)) if alternatives.len() > 1 => {
            if let Some(fixed) = fixed_in {
                let stated = alternatives
                    .iter()
                    .flatten()
                    .any(|e| matches!(e, RangeEvent::Fixed(v) if v == fixed));
                if !stated {
                    p.block(format!(
                        "#fixed-in says {fixed} but no alternative of the range ends with `< {fixed}`."
                    ));
                }
            }
        }
        Some(Ok(mut alternatives)) => {
            let events = alternatives.pop().unwrap_or_default();
            if let Some(fixed) = fixed_in {
                for e in &events {
                    match e {
                        RangeEvent::Fixed(v) if v != fixed => p.warn(format!(
                            "The range says fixed in {v} but #fixed-in says {fixed}; {fixed} is used."
                        )),
                        RangeEvent::LastAffected(v) => p.warn(format!(
                            "The range ends with {v} included and #fixed-in says {fixed}; {fixed} is used."
                        )),
                        _ => {}
                    }
                }
            }
        }
    }
    if let Some(fixed) = fixed_in
        && !is_version(fixed)
    {
        p.block(format!(
            "The fixed version `{fixed}` does not look like a version."
        ));
    }
}

/// The CVSS vector and score, the aliases and the CWE ids.
fn check_severity_and_aliases(p: &mut Checks, a: &Advisory) {
    if let Some((vector, score)) = &a.cvss {
        if cvss_type(vector.trim()).is_none() {
            p.warn(format!(
                "The CVSS vector `{}` has no CVSS:3.x or CVSS:4.0 prefix; it is left out.",
                vector.trim()
            ));
        }
        if !(0.0..=10.0).contains(score) {
            p.warn(format!("The CVSS score {score} is outside 0–10."));
        }
    }
    for alias in a.aliases.iter().map(|s| s.trim()) {
        if alias.is_empty() {
            continue;
        }
        if !is_opam_ident(alias) {
            p.block(format!("The alias `{alias}` is not a plain identifier."));
        } else if !is_cve_id(alias) {
            p.warn(format!(
                "The alias `{alias}` is not a CVE id (CVE-YYYY-NNNN)."
            ));
        }
    }
    if a.cwe.contains(&0) {
        p.warn("CWE-0 is not a CWE id.".to_string());
    }
}

/// The references, the credits and the fixing commits.
fn check_references_credits_commits(p: &mut Checks, a: &Advisory) {
    for (kind, url) in &a.references {
        if let ReferenceType::Unknown(kind) = kind {
            p.warn(format!(
                "The reference type `{kind}` is unknown; it is published as WEB."
            ));
        }
        let url = url.trim();
        let scheme_ok = url.starts_with("https://") || url.starts_with("http://");
        if !scheme_ok || !crate::uri::is_uri(url) {
            p.block(format!(
                "The reference `{url}` is not a plain http(s) URL (the OSV schema wants a URI: \
                 give it again with #reference, which encodes what needs encoding)."
            ));
        }
    }
    if a.credits.iter().any(|(_, name)| name.trim().is_empty()) {
        p.warn("A credit is blank, so nobody is credited there.".to_string());
    }
    for (url, sha) in &a.commits {
        let (url, sha) = (url.trim(), sha.trim());
        if !(url.starts_with("https://") || url.starts_with("http://") || url.starts_with("git://"))
            || !crate::uri::is_uri(url)
        {
            p.block(format!(
                "The fixing commit's repository `{url}` is not a plain git URL."
            ));
        }
        // The OSV schema wants full commit hashes in GIT ranges (40 or 64 hex digits).
        if !(matches!(sha.len(), 40 | 64) && sha.chars().all(|c| c.is_ascii_hexdigit())) {
            p.block(format!(
                "The fixing commit `{sha}` is not a full commit hash (40 hexadecimal digits)."
            ));
        }
    }
    if !a.commits.is_empty() && non_blank(a.package.as_deref()).is_none() {
        p.block("A fixing commit needs a package to belong to (#package).".to_string());
    }
}

/// The publication dates and the timeline.
fn check_dates_and_timeline(p: &mut Checks, a: &Advisory) {
    if let Some(published) = a.published
        && a.modified < published
    {
        p.block("`modified` is earlier than `published`.".to_string());
    }
    if a.timeline.iter().all(|(_, text)| text.trim().is_empty()) {
        p.warn("The timeline is empty.".to_string());
    }
}

fn ecosystem_has_purl(ecosystem: &str) -> bool {
    ["opam", "crates.io", "npm", "PyPI", "Go", "Hex", "Maven"].contains(&ecosystem)
}

fn is_cve_id(s: &str) -> bool {
    let mut parts = s.splitn(3, '-');
    let (Some(cve), Some(year), Some(seq)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    cve == "CVE"
        && year.len() == 4
        && year.chars().all(|c| c.is_ascii_digit())
        && seq.len() >= 4
        && seq.chars().all(|c| c.is_ascii_digit())
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
mod tests {
    use super::*;
    use crate::types::ReferenceKind;
    use chrono::TimeZone;

    fn at(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap()
    }

    /// A full advisory exercising every field.
    fn full() -> Advisory {
        Advisory {
            id: "OSEC-2026-03".to_string(),
            case_id: CaseId::new("SEC", 2026, 7),
            summary: Some("Path traversal in \"tar\" extraction".to_string()),
            details: Some(
                "`Tar.extract` follows `..` in member names.\n\nAn archive can write outside the target directory."
                    .to_string(),
            ),
            aliases: vec!["CVE-2026-12345".to_string()],
            cwe: vec![22, 59],
            severity: Some(Severity::High),
            cvss: Some(("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:N/I:H/A:N".to_string(), 6.5)),
            ecosystem: "opam".to_string(),
            package: Some("tar".to_string()),
            affected: Some(">= 1.0, < 1.4.2".to_string()),
            fixed_in: Some("1.4.2".to_string()),
            workaround: Some("Extract untrusted archives in an empty sandbox.".to_string()),
            references: vec![
                (ReferenceType::Known(ReferenceKind::Fix), "https://github.com/example/tar/pull/12".to_string()),
                (ReferenceType::Known(ReferenceKind::Article), "https://example.org/blog/tar".to_string()),
            ],
            credits: vec![(CreditRole::Reporter, "Jane \"JD\" Doe".to_string())],
            related: vec![],
            bindings: vec![],
            commits: vec![],
            published: Some(at(2026, 4, 15, 22)),
            modified: at(2026, 4, 16, 21),
            timeline: vec![
                (at(2026, 4, 11, 9), "Reported to the security team".to_string()),
                (at(2026, 4, 13, 17), "Fix developed and reviewed".to_string()),
                (at(2026, 4, 15, 20), "tar 1.4.2 released".to_string()),
            ],
            timezone_note: Some("Dates are UTC.".to_string()),
        }
    }

    fn minimal() -> Advisory {
        Advisory {
            id: "OSEC-2026-04".to_string(),
            case_id: CaseId::new("SEC", 2026, 9),
            summary: Some("Denial of service in the parser".to_string()),
            details: None,
            aliases: vec![],
            cwe: vec![],
            severity: None,
            cvss: None,
            ecosystem: "opam".to_string(),
            package: None,
            affected: None,
            fixed_in: None,
            workaround: None,
            references: vec![],
            credits: vec![],
            related: vec![],
            bindings: vec![],
            commits: vec![],
            published: None,
            modified: at(2026, 5, 1, 12),
            timeline: vec![],
            timezone_note: None,
        }
    }

    const FULL_OSV: &str = r#"{
  "schema_version": "1.7.5",
  "id": "OSEC-2026-03",
  "modified": "2026-04-16T21:00:00Z",
  "published": "2026-04-15T22:00:00Z",
  "aliases": [
    "CVE-2026-12345"
  ],
  "summary": "Path traversal in \"tar\" extraction",
  "details": "`Tar.extract` follows `..` in member names.\n\nAn archive can write outside the target directory.\n\n## Workaround\n\nExtract untrusted archives in an empty sandbox.\n\n## Timeline\n\nDates are UTC.\n\n- 2026-04-11: Reported to the security team\n- 2026-04-13: Fix developed and reviewed\n- 2026-04-15: tar 1.4.2 released",
  "severity": [
    {
      "type": "CVSS_V3",
      "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:N/I:H/A:N"
    }
  ],
  "affected": [
    {
      "package": {
        "ecosystem": "opam",
        "name": "tar",
        "purl": "pkg:opam/tar"
      },
      "ranges": [
        {
          "type": "ECOSYSTEM",
          "events": [
            {
              "introduced": "1.0"
            },
            {
              "fixed": "1.4.2"
            }
          ]
        }
      ],
      "versions": [],
      "ecosystem_specific": {
        "opam_constraint": "tar {>= \"1.0\" & < \"1.4.2\"}"
      }
    }
  ],
  "references": [
    {
      "type": "FIX",
      "url": "https://github.com/example/tar/pull/12"
    },
    {
      "type": "ARTICLE",
      "url": "https://example.org/blog/tar"
    }
  ],
  "credits": [
    {
      "name": "Jane \"JD\" Doe",
      "type": "REPORTER"
    }
  ],
  "database_specific": {
    "case_id": "SEC-2026-0007",
    "cwe": [
      "CWE-22",
      "CWE-59"
    ],
    "severity": "high"
  }
}
"#;

    const FULL_MD: &str = r#"```
id: OSEC-2026-03
modified: "2026-04-16T21:00:00Z"
published: "2026-04-15T22:00:00Z"
aliases: [ CVE-2026-12345 ]
severity: "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:N/I:H/A:N"
severity_score: "6.5 (Medium)"
affected: "tar" {>= "1.0" & < "1.4.2"}
references: [
  [fix "https://github.com/example/tar/pull/12"]
  [article "https://example.org/blog/tar"]
]
credits: [
  [reporter "Jane \"JD\" Doe"]
]
cwe: [ CWE-22 CWE-59 ]
```

# Path traversal in "tar" extraction

`Tar.extract` follows `..` in member names.

An archive can write outside the target directory.

## Workaround

Extract untrusted archives in an empty sandbox.

## Timeline

Dates are UTC.

- 2026-04-11: Reported to the security team
- 2026-04-13: Fix developed and reviewed
- 2026-04-15: tar 1.4.2 released
"#;

    const MINIMAL_OSV: &str = r#"{
  "schema_version": "1.7.5",
  "id": "OSEC-2026-04",
  "modified": "2026-05-01T12:00:00Z",
  "published": "2026-05-01T12:00:00Z",
  "summary": "Denial of service in the parser",
  "details": "",
  "affected": [],
  "references": [],
  "credits": [],
  "database_specific": {
    "case_id": "SEC-2026-0009"
  }
}
"#;

    const MINIMAL_MD: &str = r#"```
id: OSEC-2026-04
modified: "2026-05-01T12:00:00Z"
published: "2026-05-01T12:00:00Z"
```

# Denial of service in the parser
"#;

    #[test]
    fn full_osv_golden() {
        assert_eq!(to_osv_json(&full()), FULL_OSV);
    }

    #[test]
    fn full_markdown_golden() {
        assert_eq!(to_markdown(&full()), FULL_MD);
    }

    #[test]
    fn full_advisory_has_no_problems() {
        assert_eq!(problems(&full()), Vec::<String>::new());
    }

    #[test]
    fn minimal_osv_golden() {
        assert_eq!(to_osv_json(&minimal()), MINIMAL_OSV);
    }

    #[test]
    fn minimal_markdown_golden() {
        assert_eq!(to_markdown(&minimal()), MINIMAL_MD);
    }

    #[test]
    fn minimal_problems_listed() {
        assert_eq!(
            problems(&minimal()),
            vec![
                "No details: say what the flaw is and who is affected.".to_string(),
                "No package: the advisory does not name what is affected.".to_string(),
                "No affected range and no fixed version (#affected, #fixed-in).".to_string(),
                "The timeline is empty.".to_string(),
            ]
        );
    }

    #[test]
    fn output_is_deterministic() {
        assert_eq!(to_osv_json(&full()), to_osv_json(&full()));
        assert_eq!(to_markdown(&full()), to_markdown(&full()));
    }

    /// Text pasted from the web or a right-to-left client carries characters serde_json
    /// leaves raw; `secdesk advisory` escaped them for the terminal as `\u{2028}`, which
    /// no JSON parser reads. They are JSON escapes now, the value unchanged.
    #[test]
    fn invisible_characters_in_the_details_are_json_escapes() {
        let mut a = full();
        let details = "First\u{2028}second \u{200f}mark\u{85} del\u{7f} over\u{202e}ride";
        a.details = Some(details.to_string());
        let json = to_osv_json(&a);
        assert_eq!(
            crate::text::escape_controls(&json, crate::text::Layout::Lines),
            json,
            "nothing is left for the terminal's escaping to change"
        );
        assert!(
            json.contains(r"First\u2028second \u200fmark\u0085 del\u007f over\u202eride"),
            "{json}"
        );
        let parsed: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert!(
            parsed["details"].as_str().unwrap().starts_with(details),
            "{parsed}"
        );
    }

    fn intro(v: &str) -> RangeEvent {
        RangeEvent::Introduced(v.to_string())
    }
    fn fixed(v: &str) -> RangeEvent {
        RangeEvent::Fixed(v.to_string())
    }
    fn last(v: &str) -> RangeEvent {
        RangeEvent::LastAffected(v.to_string())
    }

    #[test]
    fn parse_range_table() {
        let cases: Vec<(&str, Vec<RangeEvent>)> = vec![
            (">= 1.0, < 1.4.2", vec![intro("1.0"), fixed("1.4.2")]),
            ("< 2.3.1", vec![intro("0"), fixed("2.3.1")]),
            ("1.0 - 1.4.1", vec![intro("1.0"), last("1.4.1")]),
            ("<= 1.4.1", vec![intro("0"), last("1.4.1")]),
            (">=1.0,<1.4.2", vec![intro("1.0"), fixed("1.4.2")]),
            (">= 1.0 & < 1.4.2", vec![intro("1.0"), fixed("1.4.2")]),
            (
                ">= 1.0 && <= 2.0~beta1",
                vec![intro("1.0"), last("2.0~beta1")],
            ),
            ("< 1.4.2, >= 1.0", vec![intro("1.0"), fixed("1.4.2")]),
            (">= 1.0", vec![intro("1.0")]),
            ("1.0 -", vec![intro("1.0")]),
            ("1.2.3", vec![intro("1.2.3"), last("1.2.3")]),
            ("= 1.2.3", vec![intro("1.2.3"), last("1.2.3")]),
            ("  < 2.0-rc1  ", vec![intro("0"), fixed("2.0-rc1")]),
            ("1.0-rc1 - 1.0", vec![intro("1.0-rc1"), last("1.0")]),
        ];
        for (text, want) in cases {
            assert_eq!(parse_range(text), Ok(want), "input {text:?}");
        }
    }

    #[test]
    fn parse_range_rejects() {
        for text in [
            "",
            "   ",
            "all versions before the fix",
            "> 1.0",
            ">= 1.0, >= 2.0",
            "< 1, <= 2",
            "< 1.0 || >= 2.0",
            ">=",
            "1.0 - \"2\"",
            "= 1.0, < 2.0",
            "< 1.0\"",
            // Patterns: as bounds they match no release (nothing affected).
            "4.14.x",
            ">= 5.x, < 5.3",
            "5.X - 5.2",
            "4.14 - 4.14.x",
        ] {
            assert!(parse_range(text).is_err(), "input {text:?} should fail");
        }
        assert_eq!(
            parse_range("4.14.x"),
            Err("`4.14.x` is a pattern, not a version: write the range it means, like `>= 4.14.0, < 4.15`".to_string())
        );
        assert_eq!(
            parse_range("> 1.0"),
            Err(
                "`> 1.0` has no OSV equivalent; write `>=` with the first affected version"
                    .to_string()
            )
        );
    }

    #[test]
    fn fixed_in_overrides_upper_bound() {
        let mut a = full();
        a.affected = Some("<= 1.4.1".to_string());
        a.fixed_in = Some("1.4.2".to_string());
        let ev = affected_events(&a).alternatives.concat();
        assert_eq!(ev, vec![intro("0"), fixed("1.4.2")]);
        assert_eq!(
            problems(&a),
            vec![
                "The range ends with 1.4.1 included and #fixed-in says 1.4.2; 1.4.2 is used."
                    .to_string()
            ]
        );
        a.affected = Some(">= 1.1, < 1.5".to_string());
        assert_eq!(
            affected_events(&a).alternatives.concat(),
            vec![intro("1.1"), fixed("1.4.2")]
        );
        a.affected = None;
        assert_eq!(
            affected_events(&a).alternatives.concat(),
            vec![intro("0"), fixed("1.4.2")]
        );
    }

    #[test]
    fn unparseable_range_kept_as_text() {
        let mut a = full();
        a.affected = Some("everything since the rewrite".to_string());
        a.fixed_in = None;
        let json = to_osv_json(&a);
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(
            v["database_specific"]["affected_text"],
            serde_json::json!("everything since the rewrite")
        );
        assert_eq!(v["affected"][0]["ranges"], serde_json::json!([]));
        let md = to_markdown(&a);
        assert!(md.contains("affected: \"tar\"\n"), "{md}");
        assert!(md.contains(
            "## Affected versions\n\nAs reported (could not be turned into a version range): ` everything since the rewrite `\n"
        ));
        assert_eq!(
            problems(&a),
            vec!["The affected range `everything since the rewrite` could not be read (`everything` is not a version).".to_string()]
        );
    }

    #[test]
    fn purl_per_ecosystem() {
        assert_eq!(
            purl("opam", "opam-devel").as_deref(),
            Some("pkg:opam/opam-devel")
        );
        assert_eq!(
            purl("crates.io", "serde_json").as_deref(),
            Some("pkg:cargo/serde_json")
        );
        assert_eq!(purl("npm", "left-pad").as_deref(), Some("pkg:npm/left-pad"));
        assert_eq!(
            purl("npm", "@Babel/Core").as_deref(),
            Some("pkg:npm/%40babel/core")
        );
        assert_eq!(
            purl("PyPI", "Django_Rest").as_deref(),
            Some("pkg:pypi/django-rest")
        );
        assert_eq!(
            purl("pypi", "requests").as_deref(),
            Some("pkg:pypi/requests")
        );
        assert_eq!(
            purl("Go", "github.com/Foo/bar").as_deref(),
            Some("pkg:golang/github.com/Foo/bar")
        );
        assert_eq!(purl("Hex", "Plug").as_deref(), Some("pkg:hex/plug"));
        assert_eq!(
            purl("Maven", "org.apache.logging.log4j:log4j-core").as_deref(),
            Some("pkg:maven/org.apache.logging.log4j/log4j-core")
        );
        assert_eq!(purl("opam", "a b@c").as_deref(), Some("pkg:opam/a%20b%40c"));
        assert_eq!(purl("opam", "é").as_deref(), Some("pkg:opam/%C3%A9"));
        assert_eq!(purl("RubyGems", "rails"), None);
        assert_eq!(purl("opam", "  "), None);
        assert_eq!(purl("Go", "github.com//x"), None);
    }

    #[test]
    fn summary_truncation() {
        assert_eq!(summary_line("  short\n title  "), "short title");
        let exact = "a".repeat(120);
        assert_eq!(summary_line(&exact), exact);
        // 25 words of 4 letters + spaces = 124 bytes.
        let long = vec!["word"; 25].join(" ");
        let cut = summary_line(&long);
        assert_eq!(cut, format!("{}…", vec!["word"; 23].join(" ")));
        assert!(cut.len() <= SUMMARY_MAX);
        // One word longer than the limit is cut inside the word.
        let word = "x".repeat(130);
        assert_eq!(summary_line(&word), format!("{}…", "x".repeat(117)));
        // Multi-byte characters: counted in bytes, cut on a character boundary.
        let accents = "é".repeat(70);
        let cut = summary_line(&accents);
        assert_eq!(cut, format!("{}…", "é".repeat(58)));
        assert!(cut.len() <= SUMMARY_MAX);
    }

    #[test]
    fn long_summary_is_cut_in_both_outputs_and_reported() {
        let mut a = full();
        a.summary = Some(vec!["word"; 25].join(" "));
        let want = format!("{}…", vec!["word"; 23].join(" "));
        assert!(to_markdown(&a).contains(&format!("\n# {want}\n")));
        let v: serde_json::Value = serde_json::from_str(&to_osv_json(&a)).unwrap();
        assert_eq!(v["summary"], serde_json::json!(want));
        assert_eq!(
            problems(&a),
            vec![format!(
                "The summary is 124 bytes long (at most 120); it will be cut to: {want}"
            )]
        );
    }

    #[test]
    fn opam_string_escaping() {
        for (text, quoted) in [
            ("plain", r#""plain""#),
            ("say \"hi\"", r#""say \"hi\"""#),
            ("C:\\dir", r#""C:\\dir""#),
            ("a\nb\r\tc", r#""a\nb\r\tc""#),
            ("bell\u{7}", r#""bell\007""#),
            // A C1 control character, by the bytes of its UTF-8.
            ("a\u{9d}b", r#""a\194\157b""#),
            ("Björnsson", r#""Björnsson""#),
        ] {
            assert_eq!(opam_string(text), quoted, "{text:?}");
        }
    }

    #[test]
    fn credit_escaped_in_header() {
        let mut a = full();
        a.credits = vec![(CreditRole::Reporter, "back\\slash \"q\"\nnext".to_string())];
        assert!(to_markdown(&a).contains("  [reporter \"back\\\\slash \\\"q\\\"\\nnext\"]\n"));
    }

    #[test]
    fn credits_omitted_without_credit() {
        for credit in [None, Some("   ".to_string())] {
            let mut a = full();
            a.credits = credit
                .into_iter()
                .map(|c| (CreditRole::Reporter, c))
                .collect();
            let json = to_osv_json(&a);
            let v: serde_json::Value = serde_json::from_str(&json).unwrap();
            // The converter always writes `credits`, empty when nobody is credited.
            assert_eq!(v["credits"], serde_json::json!([]), "{json}");
            let md = to_markdown(&a);
            assert!(!md.contains("credits:"), "{md}");
            assert!(!md.contains("reporter"), "{md}");
        }
    }

    #[test]
    fn cvss_type_from_prefix() {
        assert_eq!(cvss_type("CVSS:3.0/AV:N"), Some("CVSS_V3"));
        assert_eq!(cvss_type("CVSS:3.1/AV:N"), Some("CVSS_V3"));
        assert_eq!(cvss_type("CVSS:4.0/AV:N"), Some("CVSS_V4"));
        assert_eq!(cvss_type("AV:N/AC:L/Au:N/C:P/I:P/A:P"), Some("CVSS_V2"));
        assert_eq!(cvss_type("high"), None);
        let mut a = full();
        a.cvss = Some((
            "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N".to_string(),
            9.3,
        ));
        let v: serde_json::Value = serde_json::from_str(&to_osv_json(&a)).unwrap();
        assert_eq!(v["severity"][0]["type"], serde_json::json!("CVSS_V4"));
        assert!(to_markdown(&a).contains("severity_score: \"9.3 (Critical)\"\n"));
    }

    #[test]
    fn cvss_ratings() {
        assert_eq!(cvss_rating(0.0), "None");
        assert_eq!(cvss_rating(3.9), "Low");
        assert_eq!(cvss_rating(4.0), "Medium");
        assert_eq!(cvss_rating(6.95), "High");
        assert_eq!(cvss_rating(8.9), "High");
        assert_eq!(cvss_rating(9.0), "Critical");
    }

    #[test]
    fn team_severity_without_cvss() {
        let mut a = full();
        a.cvss = None;
        let md = to_markdown(&a);
        assert!(md.contains("\nseverity_score: \"High\"\n"), "{md}");
        assert!(!md.contains("\nseverity:"), "{md}");
        let v: serde_json::Value = serde_json::from_str(&to_osv_json(&a)).unwrap();
        assert!(v.get("severity").is_none());
        assert_eq!(
            v["database_specific"]["severity"],
            serde_json::json!("high")
        );
    }

    #[test]
    fn draft_uses_modified_and_is_the_same_document() {
        let mut a = full();
        a.published = None;
        let md = to_markdown(&a);
        assert!(md.contains("published: \"2026-04-16T21:00:00Z\"\n"));
        // No draft banner: the body would become the OSV details of a different advisory.
        assert!(!md.contains("Draft"));
        let v: serde_json::Value = serde_json::from_str(&to_osv_json(&a)).unwrap();
        assert_eq!(v["published"], serde_json::json!("2026-04-16T21:00:00Z"));
        assert!(!to_markdown(&full()).contains("Draft"));
    }

    #[test]
    fn timeline_sorted_multiline_and_blank_skipped() {
        let mut a = minimal();
        a.timeline = vec![
            (at(2026, 3, 2, 0), "second\nwith more".to_string()),
            (at(2026, 3, 1, 23), "first".to_string()),
            (at(2026, 3, 3, 0), "  ".to_string()),
        ];
        assert_eq!(
            timeline_section(&a).unwrap(),
            "## Timeline\n\n- 2026-03-01: first\n- 2026-03-02: second\n  with more"
        );
    }

    #[test]
    fn odd_ids_and_aliases_stay_valid_opam() {
        let mut a = full();
        a.id = "2026 03".to_string();
        a.aliases = vec!["GHSA-xxxx-yyyy-zzzz".to_string(), "weird alias".to_string()];
        let md = to_markdown(&a);
        assert!(md.starts_with("```\nid: \"2026 03\"\n"), "{md}");
        assert!(
            md.contains("aliases: [ GHSA-xxxx-yyyy-zzzz \"weird alias\" ]\n"),
            "{md}"
        );
        let p = problems(&a);
        assert!(
            p.contains(
                &"The advisory id `2026 03` is not a plain identifier (letters, digits, `-`, `_`)."
                    .to_string()
            )
        );
        assert!(p.contains(
            &"The alias `GHSA-xxxx-yyyy-zzzz` is not a CVE id (CVE-YYYY-NNNN).".to_string()
        ));
        assert!(p.contains(&"The alias `weird alias` is not a plain identifier.".to_string()));
    }

    #[test]
    fn references_unknown_type_and_git() {
        let mut a = full();
        a.references = vec![
            (
                ReferenceType::Git,
                "https://github.com/example/tar".to_string(),
            ),
            (
                ReferenceType::parse("blog"),
                "ftp://example.org/x".to_string(),
            ),
        ];
        let md = to_markdown(&a);
        assert!(md.contains(
            "  [web \"https://github.com/example/tar\"]\n  [web \"ftp://example.org/x\"]\n"
        ));
        let v: serde_json::Value = serde_json::from_str(&to_osv_json(&a)).unwrap();
        // The converter has no `git` reference type: it is a web link in both.
        assert_eq!(v["references"][0]["type"], serde_json::json!("WEB"));
        assert_eq!(v["references"][1]["type"], serde_json::json!("WEB"));
        assert_eq!(
            problems(&a),
            vec![
                "The reference type `blog` is unknown; it is published as WEB.".to_string(),
                "The reference `ftp://example.org/x` is not a plain http(s) URL (the OSV schema wants a URI: give it again with #reference, which encodes what needs encoding).".to_string(),
            ]
        );
    }

    #[test]
    fn ecosystem_spelling_is_canonicalised() {
        let mut a = full();
        a.ecosystem = "PYPI".to_string();
        a.package = Some("Some_Pkg".to_string());
        let v: serde_json::Value = serde_json::from_str(&to_osv_json(&a)).unwrap();
        assert_eq!(
            v["affected"][0]["package"]["ecosystem"],
            serde_json::json!("PyPI")
        );
        assert_eq!(
            v["affected"][0]["package"]["purl"],
            serde_json::json!("pkg:pypi/some-pkg")
        );
        assert!(v["affected"][0].get("ecosystem_specific").is_none());
        a.ecosystem = "Nixpkgs".to_string();
        let v: serde_json::Value = serde_json::from_str(&to_osv_json(&a)).unwrap();
        assert!(v["affected"][0]["package"].get("purl").is_none());
        assert!(
            problems(&a)
                .contains(&"The ecosystem `Nixpkgs` is not one the OSV schema knows.".to_string())
        );
    }

    #[test]
    fn odd_input_never_panics_and_header_stays_closed() {
        let odd = [
            "",
            " ",
            "\u{0}\u{7f}\u{1b}[0m",
            "```",
            "\"\\\"",
            "é😀\u{200b}",
            "< ",
            "- -",
            " - 1.0",
            ">= >= <",
            "1.0 - 2.0 - 3.0",
        ];
        for text in odd {
            let mut a = full();
            a.id = text.to_string();
            a.summary = Some(text.repeat(50));
            a.details = Some(text.to_string());
            a.aliases = vec![text.to_string()];
            a.package = Some(text.to_string());
            a.affected = Some(text.to_string());
            a.fixed_in = Some(text.to_string());
            a.workaround = Some(text.to_string());
            a.references = vec![(ReferenceType::parse(text), text.to_string())];
            a.credits = vec![(CreditRole::Reporter, text.to_string())];
            a.cvss = Some((text.to_string(), f64::NAN));
            a.timeline = vec![(at(2026, 1, 1, 0), text.to_string())];
            a.timezone_note = Some(text.to_string());
            let json = to_osv_json(&a);
            assert!(
                serde_json::from_str::<serde_json::Value>(&json).is_ok(),
                "{json}"
            );
            let md = to_markdown(&a);
            // The header is the first fenced block: exactly one closing fence before
            // the title, whatever the input.
            let header_end = md.find("\n```\n\n# ").unwrap();
            assert!(!md[4..header_end].contains("\n```"), "{md}");
            assert!(!problems(&a).is_empty());
            let _ = parse_range(text);
        }
    }

    #[test]
    fn code_span_survives_backticks() {
        assert_eq!(code_span("a`b"), "`` a`b ``");
        assert_eq!(code_span("plain"), "` plain `");
    }
}
