//! Small value types shared by every layer: case ids, message ids, IMAP cursors,
//! severities and case states.
//!
//! Invariant: nothing here does I/O; every parser returns `Option`/`Result` and never
//! panics on input.

use std::fmt;
use std::str::FromStr;

/// `Display` as the value's `as_str` spelling.
macro_rules! display_as_str {
    ($($t:ty),+ $(,)?) => {
        $(impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        })+
    };
}

display_as_str!(Severity, CaseStatus, ReferenceKind, ReferenceType);

/// A case id such as `SEC-2026-0007`: the configured prefix, the year the case was
/// opened, and a sequence number within that year (printed with at least four digits).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CaseId {
    prefix: String,
    year: i32,
    seq: u32,
}

impl CaseId {
    pub fn new(prefix: &str, year: i32, seq: u32) -> Self {
        CaseId {
            prefix: prefix.to_ascii_uppercase(),
            year,
            seq,
        }
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn year(&self) -> i32 {
        self.year
    }

    pub fn seq(&self) -> u32 {
        self.seq
    }

    /// Parses `SEC-2026-0007` (any case, any alphanumeric prefix). Whole string only.
    pub fn parse(text: &str) -> Option<CaseId> {
        let text = text.trim();
        let mut parts = text.splitn(3, '-');
        let prefix = parts.next()?;
        let year = parts.next()?;
        let seq = parts.next()?;
        let prefix_ok = !prefix.is_empty()
            && prefix.len() <= 16
            && prefix.starts_with(|c: char| c.is_ascii_alphabetic())
            && prefix.chars().all(|c| c.is_ascii_alphanumeric());
        let year_ok = year.len() == 4 && year.chars().all(|c| c.is_ascii_digit());
        let seq_ok = (4..=9).contains(&seq.len()) && seq.chars().all(|c| c.is_ascii_digit());
        if !(prefix_ok && year_ok && seq_ok) {
            return None;
        }
        Some(CaseId::new(prefix, year.parse().ok()?, seq.parse().ok()?))
    }

    /// The lower-case form used in plus addresses: `security+sec-2026-0007@…`.
    pub fn plus_tag(&self) -> String {
        self.to_string().to_ascii_lowercase()
    }
}

impl fmt::Display for CaseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{:04}-{:04}", self.prefix, self.year, self.seq)
    }
}

impl FromStr for CaseId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CaseId::parse(s)
            .ok_or_else(|| format!("`{s}` is not a case id (expected e.g. SEC-2026-0007)"))
    }
}

/// An RFC 5322 Message-ID without its angle brackets, e.g. `abc@example.org`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageId(String);

impl MessageId {
    /// Accepts an id with or without `<>`; surrounding white space is dropped.
    /// Returns `None` for an empty id.
    pub fn new(raw: &str) -> Option<MessageId> {
        let t = raw
            .trim()
            .trim_start_matches('<')
            .trim_end_matches('>')
            .trim();
        if t.is_empty() || t.chars().any(|c| c.is_whitespace() || c.is_control()) {
            None
        } else {
            Some(MessageId(t.to_string()))
        }
    }

    /// Builds `left@right` from parts we generated ourselves. Characters that cannot
    /// appear in an id are dropped, so this cannot fail.
    pub fn from_parts(left: &str, right: &str) -> MessageId {
        let clean = |s: &str| -> String {
            s.chars()
                .filter(|c| !(c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '@')))
                .collect()
        };
        let (l, r) = (clean(left), clean(right));
        MessageId(format!(
            "{}@{}",
            if l.is_empty() { "x" } else { &l },
            if r.is_empty() { "localhost" } else { &r }
        ))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id as it appears in a header: `<abc@example.org>`.
    pub fn bracketed(&self) -> String {
        format!("<{}>", self.0)
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An IMAP UID within one UIDVALIDITY epoch of one mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Uid(pub u32);

/// The UIDVALIDITY of a mailbox: when it changes, every UID we knew is void.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UidValidity(pub u32);

/// How serious the team judges a case (`#severity`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 4] = [
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    pub fn parse(text: &str) -> Option<Severity> {
        Severity::ALL
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(text.trim()))
    }
}

/// Where a case stands in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CaseStatus {
    /// Reported, nobody has triaged it yet.
    New,
    /// `#valid`: confirmed, being worked on.
    Valid,
    /// `#fixed`: a fixed release exists; waiting for publication.
    Fixed,
    /// `#publish` done: the advisory is out.
    Published,
    /// `#invalid`, `#duplicate` or `#close`.
    Closed,
    /// Suspect mail (spam, phishing, a forged sender) or `#spam`: kept, never
    /// acknowledged, no reminders, not in the digest; `#notspam` makes it a normal case.
    Spam,
}

impl CaseStatus {
    pub const ALL: [CaseStatus; 6] = [
        CaseStatus::New,
        CaseStatus::Valid,
        CaseStatus::Fixed,
        CaseStatus::Published,
        CaseStatus::Closed,
        CaseStatus::Spam,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CaseStatus::New => "new",
            CaseStatus::Valid => "valid",
            CaseStatus::Fixed => "fixed",
            CaseStatus::Published => "published",
            CaseStatus::Closed => "closed",
            CaseStatus::Spam => "spam",
        }
    }

    pub fn parse(text: &str) -> Option<CaseStatus> {
        CaseStatus::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Open cases get reminders and appear in the digest; a case in the spam state is
    /// not open (it waits for `#notspam`).
    pub fn is_open(self) -> bool {
        !matches!(
            self,
            CaseStatus::Published | CaseStatus::Closed | CaseStatus::Spam
        )
    }
}

/// OSV reference types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReferenceKind {
    Advisory,
    Article,
    Detection,
    Discussion,
    Report,
    Fix,
    Introduced,
    Package,
    Evidence,
    Web,
}

impl ReferenceKind {
    pub const ALL: [ReferenceKind; 10] = [
        ReferenceKind::Advisory,
        ReferenceKind::Article,
        ReferenceKind::Detection,
        ReferenceKind::Discussion,
        ReferenceKind::Report,
        ReferenceKind::Fix,
        ReferenceKind::Introduced,
        ReferenceKind::Package,
        ReferenceKind::Evidence,
        ReferenceKind::Web,
    ];

    /// The OSV spelling, e.g. `FIX`.
    pub fn as_str(self) -> &'static str {
        match self {
            ReferenceKind::Advisory => "ADVISORY",
            ReferenceKind::Article => "ARTICLE",
            ReferenceKind::Detection => "DETECTION",
            ReferenceKind::Discussion => "DISCUSSION",
            ReferenceKind::Report => "REPORT",
            ReferenceKind::Fix => "FIX",
            ReferenceKind::Introduced => "INTRODUCED",
            ReferenceKind::Package => "PACKAGE",
            ReferenceKind::Evidence => "EVIDENCE",
            ReferenceKind::Web => "WEB",
        }
    }

    /// Every type's OSV spelling, for an error that says what would be valid.
    pub fn names() -> String {
        ReferenceKind::ALL.map(ReferenceKind::as_str).join(", ")
    }

    /// Case-insensitive.
    pub fn parse(text: &str) -> Option<ReferenceKind> {
        ReferenceKind::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(text.trim()))
    }
}

/// The type of one of an advisory's references, as a case holds it: one `#reference`
/// accepts, OSV's `GIT`, or a type nobody checked (kept as written, never lost).
///
/// The OCaml header has no `git` reference type (git data lives in `events`), so `GIT`
/// and an unknown type are both published as `WEB`; `publish::advisory::problems` warns
/// about an unknown one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReferenceType {
    Known(ReferenceKind),
    Git,
    Unknown(String),
}

impl ReferenceType {
    /// Case-insensitive; anything else is `Unknown`, as written.
    pub fn parse(text: &str) -> ReferenceType {
        match ReferenceKind::parse(text) {
            Some(kind) => ReferenceType::Known(kind),
            None if text.trim().eq_ignore_ascii_case("GIT") => ReferenceType::Git,
            None => ReferenceType::Unknown(text.to_string()),
        }
    }

    /// The spelling stored and shown: OSV's upper case, or the unknown type as written.
    pub fn as_str(&self) -> &str {
        match self {
            ReferenceType::Known(kind) => kind.as_str(),
            ReferenceType::Git => "GIT",
            ReferenceType::Unknown(text) => text,
        }
    }

    /// The type the advisory is published with.
    pub fn published(&self) -> ReferenceKind {
        match self {
            ReferenceType::Known(kind) => *kind,
            ReferenceType::Git | ReferenceType::Unknown(_) => ReferenceKind::Web,
        }
    }
}

impl From<ReferenceKind> for ReferenceType {
    fn from(kind: ReferenceKind) -> ReferenceType {
        ReferenceType::Known(kind)
    }
}

/// Stored as its spelling (`"FIX"`), as the case's references always were.
impl serde::Serialize for ReferenceType {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for ReferenceType {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Ok(ReferenceType::parse(&text))
    }
}

/// The name of `value` in a table of `(value, name)` rows.
pub(crate) fn name_in<T: PartialEq>(
    table: &[(T, &'static str)],
    value: &T,
) -> Option<&'static str> {
    table.iter().find(|(v, _)| v == value).map(|(_, n)| *n)
}

/// The value named `name` in a table of `(value, name)` rows.
pub(crate) fn named_in<T: Copy>(table: &[(T, &'static str)], name: &str) -> Option<T> {
    table.iter().find(|(_, n)| *n == name).map(|(v, _)| *v)
}

/// The lower-cased `local@domain` part of an address, for comparisons. A quoted local
/// part that needs no quotes loses them: `"alice"@example.org` is `alice@example.org`
/// (RFC 5321 §4.1.2), and the quotes hid the desk's own address, a MAILER-DAEMON or a
/// sender already counted from the checks that compare addresses. An international
/// domain is written in its ASCII form (`bücher.example` is `xn--bcher-kva.example`, as
/// DKIM names it), so a member writing either form is the same member.
pub fn normalize_address(addr: &str) -> String {
    let a = addr
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .to_ascii_lowercase();
    let a = match a.strip_prefix('"').and_then(|rest| rest.split_once("\"@")) {
        Some((local, domain)) if is_dot_atom(local) && !domain.contains('"') => {
            format!("{local}@{domain}")
        }
        _ => a,
    };
    match a.rsplit_once('@') {
        Some((local, domain)) if !domain.is_ascii() => match ascii_domain(domain) {
            Some(d) => format!("{local}@{d}"),
            None => a,
        },
        _ => a,
    }
}

/// The ASCII (punycode) form of a domain written in letters, digits, dots and hyphens,
/// lower-cased; `None` for any other (an invisible or formatting character, a symbol),
/// which is compared as written and so never matches an address it only looks like.
pub fn ascii_domain(domain: &str) -> Option<String> {
    if !(domain.chars()).all(|c| c.is_alphanumeric() || c == '.' || c == '-') {
        return None;
    }
    idna::domain_to_ascii(domain)
        .ok()
        .filter(|d| !d.is_empty())
        .map(|d| d.to_ascii_lowercase())
}

/// Words of RFC 5322 `atext` joined by single dots: a local part that needs no quotes.
fn is_dot_atom(s: &str) -> bool {
    s.split('.').all(|word| {
        !word.is_empty()
            && word
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c))
    })
}

/// The domain of an address (lower-cased), if it has one.
pub fn address_domain(addr: &str) -> Option<String> {
    let a = normalize_address(addr);
    let (_, domain) = a.rsplit_once('@')?;
    (!domain.is_empty()).then(|| domain.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same mailbox compares the same, however it is written; another does not.
    #[test]
    fn addresses_are_compared_in_one_form() {
        for (written, compared) in [
            ("<Alice@Example.ORG>", "alice@example.org"),
            ("\"alice\"@example.org", "alice@example.org"),
            ("alice@bücher.example", "alice@xn--bcher-kva.example"),
            ("ALICE@BÜCHER.example", "alice@xn--bcher-kva.example"),
            ("alice@xn--bcher-kva.example", "alice@xn--bcher-kva.example"),
            (
                "\"alice@example.org\"@evil.test",
                "\"alice@example.org\"@evil.test",
            ),
            ("\"a b\"@example.org", "\"a b\"@example.org"),
            // Invisible characters are no part of a name that converts.
            ("alice@\u{feff}example.org", "alice@\u{feff}example.org"),
            ("alice@exa\u{200b}mple.org", "alice@exa\u{200b}mple.org"),
        ] {
            assert_eq!(normalize_address(written), compared, "{written}");
        }
    }

    #[test]
    fn case_ids_round_trip_and_reject_garbage() {
        let id = CaseId::parse("sec-2026-0007").unwrap();
        assert_eq!(id.to_string(), "SEC-2026-0007");
        assert_eq!(id.plus_tag(), "sec-2026-0007");
        assert_eq!(CaseId::parse("SEC-2026-12345").unwrap().seq(), 12345);
        for bad in [
            "",
            "SEC",
            "SEC-2026-7",
            "SEC-26-0007",
            "SEC-2026-",
            "-2026-0001",
            "SEC-2026-00x1",
            "1SEC-2026-0001",
        ] {
            assert_eq!(CaseId::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn reference_types_parse_publish_and_store_as_written() {
        for (text, parsed, published) in [
            ("fix", ReferenceType::Known(ReferenceKind::Fix), "FIX"),
            (
                " Article ",
                ReferenceType::Known(ReferenceKind::Article),
                "ARTICLE",
            ),
            ("git", ReferenceType::Git, "WEB"),
            ("blog", ReferenceType::Unknown("blog".into()), "WEB"),
        ] {
            assert_eq!(ReferenceType::parse(text), parsed, "{text:?}");
            assert_eq!(parsed.published().as_str(), published, "{text:?}");
        }
        // The case's references are stored as they always were: `[["FIX","url"]]`.
        let refs = vec![
            (ReferenceType::Known(ReferenceKind::Fix), "u".to_string()),
            (ReferenceType::Git, "g".to_string()),
            (ReferenceType::Unknown("blog".into()), "b".to_string()),
        ];
        let json = serde_json::to_string(&refs).unwrap();
        assert_eq!(json, r#"[["FIX","u"],["GIT","g"],["blog","b"]]"#);
        let back: Vec<(ReferenceType, String)> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, refs);
        assert_eq!(
            ReferenceKind::names(),
            "ADVISORY, ARTICLE, DETECTION, DISCUSSION, REPORT, FIX, INTRODUCED, PACKAGE, \
             EVIDENCE, WEB"
        );
    }

    #[test]
    fn message_ids_drop_brackets() {
        assert_eq!(MessageId::new(" <a@b> ").unwrap().as_str(), "a@b");
        assert_eq!(MessageId::new("<a@b>").unwrap().bracketed(), "<a@b>");
        assert_eq!(MessageId::new("<>"), None);
        assert_eq!(MessageId::new("a b@c"), None);
    }
}

/// An OSV credit type, as the OCaml header writes it (lower case) and OSV (upper case).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum CreditRole {
    Finder,
    Reporter,
    Analyst,
    Coordinator,
    RemediationDeveloper,
    RemediationReviewer,
    RemediationVerifier,
    Tool,
    Sponsor,
    Other,
}

impl CreditRole {
    pub const ALL: [CreditRole; 10] = [
        CreditRole::Finder,
        CreditRole::Reporter,
        CreditRole::Analyst,
        CreditRole::Coordinator,
        CreditRole::RemediationDeveloper,
        CreditRole::RemediationReviewer,
        CreditRole::RemediationVerifier,
        CreditRole::Tool,
        CreditRole::Sponsor,
        CreditRole::Other,
    ];

    /// The header's spelling, e.g. `remediation_developer`.
    pub fn as_str(self) -> &'static str {
        match self {
            CreditRole::Finder => "finder",
            CreditRole::Reporter => "reporter",
            CreditRole::Analyst => "analyst",
            CreditRole::Coordinator => "coordinator",
            CreditRole::RemediationDeveloper => "remediation_developer",
            CreditRole::RemediationReviewer => "remediation_reviewer",
            CreditRole::RemediationVerifier => "remediation_verifier",
            CreditRole::Tool => "tool",
            CreditRole::Sponsor => "sponsor",
            CreditRole::Other => "other",
        }
    }

    /// Reads the header's spelling; `-` is accepted for `_`.
    pub fn parse(text: &str) -> Option<CreditRole> {
        let t = text.trim().to_ascii_lowercase().replace('-', "_");
        CreditRole::ALL.into_iter().find(|r| r.as_str() == t)
    }

    /// The OSV spelling, e.g. `REMEDIATION_DEVELOPER`.
    pub fn osv_type(self) -> String {
        self.as_str().to_ascii_uppercase()
    }
}
