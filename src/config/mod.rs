//! Configuration in two phases: [`RawConfig`] is what the operator wrote (every key
//! optional, unknown keys kept so they can be named), [`Config`] is the validated, typed
//! result. Validation looks at everything and reports every problem at once, each with
//! its key and what would be valid.
//!
//! Invariant: secrets never come from the config file itself, only from a file, an
//! environment variable or systemd credentials; nothing here logs a secret.

use crate::desk::calendar::{self, Calendar, WeeklyAt};
use chrono::{NaiveDate, NaiveTime, Weekday};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

mod desks;
pub use desks::{DESK_KEYS, TOP_DESK};

/// The longest `policy.first_response`, in working days.
const MAX_FIRST_RESPONSE_DAYS: u32 = 365;

/// Every key of the configuration file, by section: what validation accepts and what
/// `config.example.toml` must document (a test checks it).
pub const KEYS: &[(&str, &[&str])] = &[
    ("desk", RawDesk::KEYS),
    ("imap", RawImap::KEYS),
    ("smtp", RawSmtp::KEYS),
    ("team", RawTeam::KEYS),
    ("calendar", RawCalendar::KEYS),
    ("policy", RawPolicy::KEYS),
    ("publish", RawPublish::KEYS),
    ("spam", RawSpam::KEYS),
];

fn keys_of(section: &str) -> &'static [&'static str] {
    KEYS.iter()
        .find(|(s, _)| *s == section)
        .map(|(_, k)| *k)
        .unwrap_or(&[])
}

/// The configuration as written in the TOML file.
#[derive(Debug, Default, Deserialize, Serialize)]
pub struct RawConfig {
    #[serde(default)]
    pub desk: RawDesk,
    #[serde(default)]
    pub imap: RawImap,
    #[serde(default)]
    pub smtp: RawSmtp,
    #[serde(default)]
    pub team: RawTeam,
    #[serde(default)]
    pub calendar: RawCalendar,
    #[serde(default)]
    pub policy: RawPolicy,
    #[serde(default)]
    pub publish: RawPublish,
    #[serde(default)]
    pub spam: RawSpam,
    /// `[desks.NAME]`: checked against [`DESK_KEYS`] and merged over the top level.
    #[serde(default, skip_serializing)]
    pub desks: BTreeMap<String, toml::Value>,
    #[serde(flatten)]
    pub unknown: BTreeMap<String, toml::Value>,
}

/// One section as written: every key optional, unknown keys kept so they can be named.
/// `KEYS` lists the section's keys in the order they are declared (and documented).
macro_rules! raw_section {
    ($name:ident { $($key:ident: $ty:ty),+ $(,)? }) => {
        #[derive(Debug, Default, Deserialize, Serialize)]
        pub struct $name {
            $(pub $key: Option<$ty>,)+
            #[serde(flatten)]
            pub unknown: BTreeMap<String, toml::Value>,
        }

        impl $name {
            pub const KEYS: &'static [&'static str] = &[$(stringify!($key)),+];
        }
    };
}

raw_section!(RawDesk {
    address: String,
    name: String,
    case_prefix: String,
    database: PathBuf,
    templates: PathBuf,
    hostname: String,
});

raw_section!(RawImap {
    host: String,
    port: u16,
    tls: String,
    ca_file: PathBuf,
    username: String,
    password_file: PathBuf,
    password_env: String,
    mailbox: String,
    poll_interval: String,
    timeout: String,
    idle_renew: String,
});

raw_section!(RawSmtp {
    host: String,
    port: u16,
    tls: String,
    ca_file: PathBuf,
    username: String,
    password_file: PathBuf,
    password_env: String,
    timeout: String,
    connections: u32,
});

raw_section!(RawTeam {
    members: Vec<String>,
    notify: String,
    authserv_id: String,
    require_authenticated_commands: bool,
});

raw_section!(RawCalendar {
    timezone: String,
    working_days: Vec<String>,
    holidays: Vec<String>,
    working_hours: String,
});

raw_section!(RawPolicy {
    first_response: String,
    embargo: String,
    embargo_reminders: Vec<String>,
    ack_rate_limit: String,
    digest: String,
    ack_rate_limit_total: String,
});

raw_section!(RawSpam {
    filter: String,
    threshold: f64,
    summary: String,
});

raw_section!(RawPublish {
    announce: String,
    advisory_prefix: String,
    ecosystem: String,
    advisory_repo: PathBuf,
    push: bool,
});

/// How a connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// TLS from the first byte (IMAPS 993, SMTPS 465).
    Implicit,
    /// Plain connection upgraded with STARTTLS before login.
    StartTls,
    /// No TLS at all: only when the operator wrote `tls = "none"`.
    None,
}

impl TlsMode {
    fn parse(text: &str) -> Option<TlsMode> {
        match text {
            "implicit" => Some(TlsMode::Implicit),
            "starttls" => Some(TlsMode::StartTls),
            "none" => Some(TlsMode::None),
            _ => None,
        }
    }
}

/// A password, kept out of `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(…)")
    }
}

#[derive(Debug, Clone)]
pub struct DeskConfig {
    /// NAME of its `[desks.NAME]` section; empty for the top-level desk.
    pub key: String,
    /// `security@example.org`, lower-cased.
    pub address: String,
    pub name: String,
    pub case_prefix: String,
    pub database: PathBuf,
    pub templates: Option<PathBuf>,
    /// The right-hand side of the Message-IDs we generate.
    pub hostname: String,
}

impl DeskConfig {
    /// `security+sec-2026-0007@example.org`: replies to it thread into the case.
    pub fn plus_address(&self, tag: &str) -> String {
        match self.address.split_once('@') {
            Some((local, domain)) => format!("{local}+{tag}@{domain}"),
            None => self.address.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ImapConfig {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    pub ca_file: Option<PathBuf>,
    pub username: String,
    pub password: Secret,
    pub mailbox: String,
    pub poll_interval: Duration,
    /// The longest any one IMAP command (or the connection, TLS, greeting) may take.
    pub timeout: Duration,
    /// IDLE is ended and begun again at least this often.
    pub idle_renew: Duration,
    /// Re-read at each login, so a rotated password needs no restart.
    pub password_file: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    pub ca_file: Option<PathBuf>,
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// The longest any one SMTP step (connection, TLS, greeting, a command) may take.
    pub timeout: Duration,
    /// Re-read at each login, so a rotated password needs no restart.
    pub password_file: Option<PathBuf>,
    /// How many connections the outbox is sent over at once (1 to 8; default 3: on loopback
    /// each mail waits for the server to store it, and a third connection sent a backlog
    /// about 45 % faster than two, a fourth no faster).
    pub connections: usize,
}

#[derive(Debug, Clone)]
pub struct TeamConfig {
    /// Lower-cased addresses.
    pub members: Vec<String>,
    pub notify: Option<String>,
    pub authserv_id: Option<String>,
    pub require_authenticated_commands: bool,
}

impl TeamConfig {
    pub fn is_member(&self, address: &str) -> bool {
        let a = crate::types::normalize_address(address);
        self.members.contains(&a)
    }

    /// Whether `address` is a member or the team's list: one team mail may go to.
    pub fn is_team_address(&self, address: &str) -> bool {
        let a = crate::types::normalize_address(address);
        self.members.contains(&a)
            || self
                .notify
                .as_deref()
                .is_some_and(|l| crate::types::normalize_address(l) == a)
    }

    /// Where team mail goes: the list address, or every member.
    pub fn recipients(&self) -> Vec<String> {
        match &self.notify {
            Some(list) => vec![list.clone()],
            None => self.members.clone(),
        }
    }
}

/// How many acknowledgements one sender may receive within a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub count: u32,
    pub window: Duration,
}

#[derive(Debug, Clone)]
pub struct PolicyConfig {
    pub first_response_days: u32,
    /// Default embargo length in days for a new case; `None` = no default embargo.
    pub embargo_days: Option<u32>,
    /// Days before the embargo end at which the responder is reminded (0 = on the day).
    pub embargo_reminders: Vec<u32>,
    pub ack_rate_limit: RateLimit,
    pub digest: Option<WeeklyAt>,
    /// Acknowledgements the whole desk may send within a window (all senders together).
    pub ack_rate_limit_total: RateLimit,
}

/// Whose spam headers count (`[spam] filter`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpamFilter {
    SpamAssassin,
    Rspamd,
    None,
}

impl SpamFilter {
    pub fn parse(text: &str) -> Option<SpamFilter> {
        match text.trim().to_ascii_lowercase().as_str() {
            "spamassassin" => Some(SpamFilter::SpamAssassin),
            "rspamd" => Some(SpamFilter::Rspamd),
            "none" => Some(SpamFilter::None),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SpamFilter::SpamAssassin => "spamassassin",
            SpamFilter::Rspamd => "rspamd",
            SpamFilter::None => "none",
        }
    }
}

/// `[spam]`: which mail is suspect, and when the team hears of it.
#[derive(Debug, Clone)]
pub struct SpamConfig {
    pub filter: SpamFilter,
    /// A filter score at or above this is spam.
    pub threshold: f64,
    /// The daily summary's local time; `None` for "none".
    pub summary: Option<NaiveTime>,
}

#[derive(Debug, Clone)]
pub struct PublishConfig {
    pub announce: Option<String>,
    pub advisory_prefix: String,
    pub ecosystem: String,
    /// A git checkout of the advisory repository (§5a); `#publish` commits there.
    pub advisory_repo: Option<std::path::PathBuf>,
    /// Push the advisory's branch to the checkout's `origin`.
    pub push: bool,
}

impl PublishConfig {
    /// The warning for an advisory prefix the OSV schema does not know: `#publish` refuses
    /// until it is changed.
    pub fn prefix_warning(&self) -> Option<String> {
        (!crate::publish::advisory::osv_home_known(&format!("{}-", self.advisory_prefix))).then(|| {
            format!(
                "publish.advisory_prefix `{}` names no home database the OSV schema knows: #publish refuses (its OSV record would not validate) until it is your database's registered prefix (OSEC for OCaml's) or starts with x_ (a private database)",
                self.advisory_prefix
            )
        })
    }
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub desk: DeskConfig,
    pub imap: ImapConfig,
    pub smtp: SmtpConfig,
    pub team: TeamConfig,
    pub calendar: Calendar,
    pub policy: PolicyConfig,
    pub publish: PublishConfig,
    pub spam: SpamConfig,
    /// Things that are allowed but deserve a loud word (plaintext off loopback, …).
    pub warnings: Vec<String>,
    /// The `[desks.NAME]` desks, each a whole effective configuration (its own keys
    /// over the top level's), in name order; empty inside a desk.
    pub desks: Vec<Config>,
}

/// One thing wrong with the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// The key, e.g. `imap.port`, or `(file)` for the file as a whole.
    pub key: String,
    pub message: String,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

/// Every problem found in a configuration file.
#[derive(Debug, thiserror::Error)]
pub struct ConfigError {
    pub path: PathBuf,
    pub problems: Vec<ConfigProblem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.problems.len();
        writeln!(
            f,
            "{} has {} problem{}:",
            self.path.display(),
            n,
            if n == 1 { "" } else { "s" }
        )?;
        for p in &self.problems {
            writeln!(f, "  - {p}")?;
        }
        Ok(())
    }
}

/// Where secrets may come from besides the file named in the config.
#[derive(Debug, Clone, Default)]
pub struct SecretSources {
    /// `$CREDENTIALS_DIRECTORY` (systemd `LoadCredential=`).
    pub credentials_directory: Option<PathBuf>,
    /// Environment variables that may be named by `password_env`.
    pub env: BTreeMap<String, String>,
    /// False for commands that never log in (`cases`, `advisory`, …): a missing secret
    /// is then no problem, so they run without access to the credentials.
    pub required: bool,
}

impl SecretSources {
    /// For commands that only read the database.
    pub fn not_needed() -> SecretSources {
        SecretSources {
            required: false,
            ..SecretSources::default()
        }
    }
}

/// What the shell read outside the configuration text, before validation, so that
/// validation itself does no I/O (`service::files` gathers it).
#[derive(Debug, Clone, Default)]
pub struct Gathered {
    /// Where secrets may come from, and whether they are needed at all.
    pub sources: SecretSources,
    /// The files named by `password_file`: their text, or why they could not be read.
    pub secret_files: BTreeMap<PathBuf, Result<String, String>>,
    /// `$CREDENTIALS_DIRECTORY/<name>` for the credentials that could be read.
    pub credentials: BTreeMap<String, String>,
    /// The paths named by the configuration that are directories.
    pub directories: BTreeSet<PathBuf>,
    /// The paths named by the configuration that are regular files.
    pub regular_files: BTreeSet<PathBuf>,
}

impl RawConfig {
    /// Parses configuration text (no validation yet).
    pub fn parse(text: &str) -> Result<RawConfig, Vec<ConfigProblem>> {
        toml::from_str(text).map_err(|e: toml::de::Error| {
            // Where, and what, but never the line itself: it may hold a password written
            // unquoted, and this goes to the journal.
            let at = e
                .span()
                .and_then(|span| text.get(..span.start))
                .map(|before| {
                    let line = before.matches('\n').count() + 1;
                    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
                    format!(" at line {line}, column {column}")
                })
                .unwrap_or_default();
            vec![ConfigProblem {
                key: "(file)".into(),
                message: format!(
                    "not valid TOML for this configuration{at}: {}",
                    e.message().trim()
                ),
            }]
        })
    }
}

/// Collects problems while validating.
struct Problems(Vec<ConfigProblem>);

impl Problems {
    fn add(&mut self, key: &str, message: impl Into<String>) {
        self.0.push(ConfigProblem {
            key: key.to_string(),
            message: message.into(),
        });
    }

    fn unknown(&mut self, section: &str, keys: &BTreeMap<String, toml::Value>, known: &[&str]) {
        for k in keys.keys() {
            let key = if section.is_empty() {
                k.clone()
            } else {
                format!("{section}.{k}")
            };
            self.add(
                &key,
                format!("unknown key; the keys here are: {}", known.join(", ")),
            );
        }
    }

    fn required<T: Clone>(&mut self, key: &str, v: &Option<T>, example: &str) -> Option<T> {
        if v.is_none() {
            self.add(key, format!("is required, e.g. {key} = {example}"));
        }
        v.clone()
    }
}

fn looks_like_address(a: &str) -> bool {
    let a = a.trim();
    match a.rsplit_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && (domain.contains('.') || domain == "localhost")
                && !a.contains(char::is_whitespace)
                && !a.contains(['<', '>', ',', ';'])
                // What writes the mail must take it too: a trailing dot, an empty
                // label, a second `@` passed here and failed every mail to it.
                && a.parse::<lettre::message::Mailbox>().is_ok()
        }
        None => false,
    }
}

fn check_address(p: &mut Problems, key: &str, a: &str) -> String {
    if !looks_like_address(a) {
        p.add(
            key,
            format!("`{a}` is not a mail address (expected e.g. alice@example.org)"),
        );
    }
    crate::types::normalize_address(a)
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .parse::<core::net::IpAddr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false)
}

/// `host` (required) and `tls` of `[imap]` or `[smtp]`.
fn host_and_tls(
    p: &mut Problems,
    section: &str,
    host: &Option<String>,
    tls: &Option<String>,
) -> (String, TlsMode) {
    let example = format!("\"{section}.example.org\"");
    let host = p
        .required(&format!("{section}.host"), host, &example)
        .unwrap_or_default();
    (host, parse_tls(p, &format!("{section}.tls"), tls))
}

/// A path in the configuration must be absolute: a relative one was read against the
/// working directory of whoever ran the command (`/` under systemd), so `secdesk check`
/// run from the config's directory passed a database `run` could not create, and an
/// import from elsewhere filled a database the daemon never read.
fn check_absolute(p: &mut Problems, key: &str, path: Option<&std::path::Path>) {
    if let Some(path) = path
        && !path.is_absolute()
    {
        // A password written as the file's name by mistake is not repeated.
        if key.ends_with("password_file") {
            p.add(
                key,
                "is not an absolute path: it names the file holding the password (e.g. /etc/secdesk/imap-password), not the password itself",
            );
            return;
        }
        p.add(
            key,
            format!(
                "{} is a relative path: write it whole (e.g. /var/lib/secdesk/…), as every command and the service read it from another directory",
                path.display()
            ),
        );
    }
}

/// A `ca_file` must be a file the daemon can read.
fn check_ca_file(p: &mut Problems, key: &str, ca: &Option<PathBuf>, found: &Gathered) {
    check_absolute(p, key, ca.as_deref());
    if let Some(ca) = ca
        && !found.regular_files.contains(ca)
    {
        p.add(key, format!("{} is not a readable file", ca.display()));
    }
}

fn parse_tls(p: &mut Problems, key: &str, v: &Option<String>) -> TlsMode {
    match v.as_deref() {
        None => TlsMode::Implicit,
        Some(t) => TlsMode::parse(t).unwrap_or_else(|| {
            p.add(
                key,
                format!("`{t}` is not a TLS mode; use implicit, starttls or none"),
            );
            TlsMode::Implicit
        }),
    }
}

/// Finds a secret: `password_file`, then `password_env`, then
/// `$CREDENTIALS_DIRECTORY/<credential>`.
fn resolve_secret(
    p: &mut Problems,
    section: &str,
    file: &Option<PathBuf>,
    env: &Option<String>,
    credential: &str,
    found: &Gathered,
) -> Option<Secret> {
    let secrets = &found.sources;
    if !secrets.required {
        return Some(Secret(String::new()));
    }
    if let Some(path) = file {
        let read = found
            .secret_files
            .get(path)
            .cloned()
            .unwrap_or_else(|| Err("it was not read".into()));
        return match read.as_deref().map(secret_of_file) {
            Ok(Some(s)) => Some(Secret(s.to_string())),
            Ok(None) => {
                p.add(
                    &format!("{section}.password_file"),
                    format!("{} is empty", path.display()),
                );
                None
            }
            // A relative one is refused as such, without its name.
            Err(_) if !path.is_absolute() => None,
            Err(e) => {
                p.add(
                    &format!("{section}.password_file"),
                    format!("cannot read {}: {e}", path.display()),
                );
                None
            }
        };
    }
    if let Some(var) = env {
        return match secrets.env.get(var) {
            Some(v) if !v.is_empty() => Some(Secret(v.clone())),
            _ => {
                // Named only if it could be a variable's name: a password written here by
                // mistake must not reach the journal.
                // (Upper case, by convention: an app password is often letters alone.)
                let name = var
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
                    && !var.starts_with(|c: char| c.is_ascii_digit());
                p.add(
                    &format!("{section}.password_env"),
                    match name {
                        true => format!("the environment variable {var} is not set (or empty)"),
                        false => "the environment variable it names is not set (or empty); it names a variable (e.g. IMAP_PASSWORD), not the password itself, which goes in a password_file".into(),
                    },
                );
                None
            }
        };
    }
    secrets.credentials_directory.as_ref()?;
    found
        .credentials
        .get(credential)
        .and_then(|s| secret_of_file(s))
        .map(|s| Secret(s.to_string()))
}

/// The password a secret file holds: its first line (a note below it, `# rotated by
/// bob`, is no part of it), without its line end; none when that is empty.
pub fn secret_of_file(text: &str) -> Option<&str> {
    let first = text.lines().next().unwrap_or("");
    let first = first.strip_suffix('\r').unwrap_or(first);
    (!first.is_empty()).then_some(first)
}

/// A duration key of at least one second, `default` when absent.
fn parse_timeout(p: &mut Problems, key: &str, text: &Option<String>, default: &str) -> Duration {
    let text = text.as_deref().unwrap_or(default);
    match humantime::parse_duration(text) {
        Ok(d) if d >= Duration::from_secs(1) => d,
        _ => {
            p.add(
                key,
                format!("`{text}` is not a duration of at least 1s (e.g. \"{default}\")"),
            );
            humantime::parse_duration(default).unwrap_or(Duration::from_secs(60))
        }
    }
}

/// "3 per 10 minutes".
fn parse_rate_limit(text: &str) -> Option<RateLimit> {
    let (count, window) = text.split_once(" per ")?;
    let count: u32 = count.trim().parse().ok()?;
    let window = window.trim();
    // "60 per hour" reads as "60 per 1 hour".
    let window = if window.starts_with(|c: char| c.is_ascii_digit()) {
        humantime::parse_duration(window).ok()?
    } else {
        humantime::parse_duration(&format!("1 {window}")).ok()?
    };
    (count > 0 && !window.is_zero()).then_some(RateLimit { count, window })
}

/// A rate-limit key: `default` when unset, and also (parsed) when the text is no rate.
fn rate_limit(p: &mut Problems, key: &str, text: &Option<String>, default: &str) -> RateLimit {
    let text = text.as_deref().unwrap_or(default);
    parse_rate_limit(text).unwrap_or_else(|| {
        p.add(key, format!("`{text}` is not a rate like \"{default}\""));
        parse_rate_limit(default).unwrap_or(RateLimit {
            count: 1,
            window: Duration::from_secs(60),
        })
    })
}

impl RawConfig {
    /// Checks everything, all at once, section by section.
    pub fn validate(&self, found: &Gathered) -> Result<Config, Vec<ConfigProblem>> {
        let mut p = Problems(Vec::new());
        p.unknown(
            "",
            &self.unknown,
            &KEYS.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
        );
        let desk = self.desk_section(&mut p, found);
        let imap = self.imap_section(&mut p, found);
        let smtp = self.smtp_section(&mut p, found);
        let mut warnings = RawConfig::plaintext_warnings(&imap, &smtp);
        if smtp.username.is_none()
            && (self.smtp.password_file.is_some() || self.smtp.password_env.is_some())
        {
            warnings.push(
                "smtp has a password but no smtp.username: no login is made, and a server that wants one refuses every mail (530) until smtp.username is set".into(),
            );
        }
        let team = self.team_section(&mut p, &desk.address, &mut warnings);
        let calendar = self.calendar_section(&mut p);
        let policy = self.policy_section(&mut p);
        let publish = self.publish_section(&mut p, &desk.case_prefix);
        warnings.extend(publish.prefix_warning());
        let spam = self.spam_section(&mut p);
        let top_problems = p.0.clone();
        let shared = desks::Shared {
            imap: &imap,
            smtp: &smtp,
            top_address: &desk.address,
            top_prefix: &desk.case_prefix,
            top_warnings: &warnings,
            top_problems: &top_problems,
        };
        let desks = self.desks_sections(&mut p, found, &shared);
        // A desk's own warnings (already named `desks.NAME: …`) are the daemon's too.
        warnings.extend(desks.iter().flat_map(|d| d.warnings.iter().cloned()));
        // Team addresses crossing a desk's or a list are checked on the whole config, and
        // told with every other problem (not at a second start, once those are fixed).
        match calendar {
            Some(calendar) => {
                let config = Config {
                    desk,
                    imap,
                    smtp,
                    team,
                    calendar,
                    policy,
                    publish,
                    spam,
                    warnings,
                    desks,
                };
                let mut problems = p.0;
                problems.extend(config.team_address_problems());
                if problems.is_empty() {
                    Ok(config)
                } else {
                    Err(problems)
                }
            }
            None => Err(p.0),
        }
    }

    /// `[desk]`.
    fn desk_section(&self, p: &mut Problems, found: &Gathered) -> DeskConfig {
        let d = &self.desk;
        p.unknown("desk", &d.unknown, keys_of("desk"));
        let address = p
            .required("desk.address", &d.address, "\"security@example.org\"")
            .map(|a| check_address(p, "desk.address", &a))
            .unwrap_or_default();
        let case_prefix = d.case_prefix.clone().unwrap_or_else(|| "SEC".into());
        if case_prefix.is_empty()
            || case_prefix.len() > 16
            || !case_prefix.starts_with(|c: char| c.is_ascii_alphabetic())
            || !case_prefix.chars().all(|c| c.is_ascii_alphanumeric())
        {
            p.add(
                "desk.case_prefix",
                format!("`{case_prefix}` must be 1–16 letters or digits, starting with a letter (e.g. SEC)"),
            );
        }
        check_absolute(p, "desk.database", d.database.as_deref());
        check_absolute(p, "desk.templates", d.templates.as_deref());
        if let Some(dir) = &d.templates
            && !found.directories.contains(dir)
        {
            p.add(
                "desk.templates",
                format!("{} is not a directory", dir.display()),
            );
        }
        let hostname = d.hostname.clone().unwrap_or_else(|| {
            address
                .rsplit_once('@')
                .map(|(_, dom)| dom.to_string())
                .unwrap_or_else(|| "localhost".into())
        });
        // The right side of every Message-ID the desk writes: anything but a plain host
        // name is written as an encoded word no client threads, or never recognised
        // when it comes back.
        let plain = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '.';
        if hostname.is_empty() || !hostname.chars().all(plain) {
            let given = if d.hostname.is_some() {
                "it"
            } else {
                "the domain of desk.address, its default,"
            };
            p.add(
                "desk.hostname",
                format!(
                    "`{}` is not a plain host name (ASCII letters, digits, `-` and `.`): {given} \
                     names the desk's own mail; write it in its ASCII form (`xn--…` for an \
                     international name)",
                    crate::sanitize::one_line(&hostname)
                ),
            );
        }
        DeskConfig {
            key: String::new(),
            name: d.name.clone().unwrap_or_else(|| "Security Team".into()),
            case_prefix: case_prefix.to_ascii_uppercase(),
            database: d
                .database
                .clone()
                .unwrap_or_else(|| PathBuf::from("/var/lib/secdesk/secdesk.db")),
            templates: d.templates.clone(),
            hostname,
            address,
        }
    }

    /// `[imap]`.
    fn imap_section(&self, p: &mut Problems, found: &Gathered) -> ImapConfig {
        let i = &self.imap;
        p.unknown("imap", &i.unknown, keys_of("imap"));
        let (imap_host, imap_tls) = host_and_tls(p, "imap", &i.host, &i.tls);
        let imap_user = p
            .required("imap.username", &i.username, "\"security@example.org\"")
            .unwrap_or_default();
        check_absolute(p, "imap.password_file", i.password_file.as_deref());
        let imap_password =
            resolve_secret(p, "imap", &i.password_file, &i.password_env, "imap", found);
        if imap_password.is_none() && !p.0.iter().any(|x| x.key.starts_with("imap.password")) {
            p.add(
                "imap.password_file",
                "no IMAP password: set imap.password_file or imap.password_env, or provide the systemd credential `imap` (LoadCredential=imap:…)",
            );
        }
        let poll_text = i.poll_interval.clone().unwrap_or_else(|| "60s".into());
        let poll_interval = match humantime::parse_duration(&poll_text) {
            Ok(d) if d >= Duration::from_secs(1) => d,
            _ => {
                p.add(
                    "imap.poll_interval",
                    format!(
                        "`{poll_text}` is not a duration of at least 1s (e.g. \"60s\", \"2m\")"
                    ),
                );
                Duration::from_secs(60)
            }
        };
        check_ca_file(p, "imap.ca_file", &i.ca_file, found);
        ImapConfig {
            port: i.port.unwrap_or(match imap_tls {
                TlsMode::Implicit => 993,
                _ => 143,
            }),
            tls: imap_tls,
            ca_file: i.ca_file.clone(),
            username: imap_user,
            password: imap_password.unwrap_or_else(|| Secret(String::new())),
            mailbox: i.mailbox.clone().unwrap_or_else(|| "INBOX".into()),
            poll_interval,
            timeout: parse_timeout(p, "imap.timeout", &i.timeout, "60s"),
            idle_renew: parse_timeout(p, "imap.idle_renew", &i.idle_renew, "5m"),
            password_file: i.password_file.clone(),
            host: imap_host,
        }
    }

    /// `[smtp]`.
    fn smtp_section(&self, p: &mut Problems, found: &Gathered) -> SmtpConfig {
        let s = &self.smtp;
        p.unknown("smtp", &s.unknown, keys_of("smtp"));
        let (smtp_host, smtp_tls) = host_and_tls(p, "smtp", &s.host, &s.tls);
        check_absolute(p, "smtp.password_file", s.password_file.as_deref());
        let smtp_password =
            resolve_secret(p, "smtp", &s.password_file, &s.password_env, "smtp", found);
        if s.username.is_some()
            && smtp_password.is_none()
            && !p.0.iter().any(|x| x.key.starts_with("smtp.password"))
        {
            p.add(
                "smtp.password_file",
                "smtp.username is set but there is no password: set smtp.password_file or smtp.password_env, or provide the systemd credential `smtp`",
            );
        }
        check_ca_file(p, "smtp.ca_file", &s.ca_file, found);
        SmtpConfig {
            port: s.port.unwrap_or(match smtp_tls {
                TlsMode::Implicit => 465,
                TlsMode::StartTls => 587,
                TlsMode::None => 25,
            }),
            tls: smtp_tls,
            ca_file: s.ca_file.clone(),
            username: s.username.clone(),
            password: smtp_password,
            timeout: parse_timeout(p, "smtp.timeout", &s.timeout, "60s"),
            password_file: s.password_file.clone(),
            connections: match s.connections.unwrap_or(3) {
                n @ 1..=8 => n as usize,
                n => {
                    p.add(
                        "smtp.connections",
                        format!("{n} is not a number of connections from 1 to 8 (e.g. 2)"),
                    );
                    2
                }
            },
            host: smtp_host,
        }
    }

    /// Clear-text connections to anything but loopback.
    fn plaintext_warnings(imap: &ImapConfig, smtp: &SmtpConfig) -> Vec<String> {
        let mut warnings = Vec::new();
        for (section, host, tls) in [
            ("imap", &imap.host, imap.tls),
            ("smtp", &smtp.host, smtp.tls),
        ] {
            if tls == TlsMode::None && !is_loopback(host) {
                warnings.push(format!(
                    "{section}.tls = \"none\" sends the password and every report in clear text to {host}, which is not a loopback address"
                ));
            }
        }
        warnings
    }

    /// `[team]`; a lax setting is a warning.
    fn team_section(
        &self,
        p: &mut Problems,
        desk_address: &str,
        warnings: &mut Vec<String>,
    ) -> TeamConfig {
        let t = &self.team;
        p.unknown("team", &t.unknown, keys_of("team"));
        let members: Vec<String> = match &t.members {
            None => {
                p.add(
                    "team.members",
                    "is required, e.g. team.members = [\"alice@example.org\"]",
                );
                Vec::new()
            }
            Some(m) if m.is_empty() => {
                p.add(
                    "team.members",
                    "needs at least one address: someone must read the reports",
                );
                Vec::new()
            }
            Some(m) => {
                let mut members: Vec<String> = Vec::with_capacity(m.len());
                for a in m {
                    let a = check_address(p, "team.members", a);
                    if members.contains(&a) {
                        p.add(
                            "team.members",
                            format!("{a} is listed twice (they would get every mail twice)"),
                        );
                    } else {
                        members.push(a);
                    }
                }
                members
            }
        };
        if members.iter().any(|m| m == desk_address) {
            p.add(
                "team.members",
                "the desk's own address cannot be a team member (it would answer itself)",
            );
        }
        let notify = t
            .notify
            .as_ref()
            .map(|a| check_address(p, "team.notify", a));
        let require_auth = t.require_authenticated_commands.unwrap_or(true);
        if require_auth && t.authserv_id.is_none() {
            p.add(
                "team.authserv_id",
                "is required while require_authenticated_commands = true: name the receiving server whose Authentication-Results headers to trust (e.g. \"mx.example.org\")",
            );
        }
        if !require_auth {
            warnings.push(
                "team.require_authenticated_commands = false: ANYONE who writes a team member's address in From: can run commands (assign, reply to reporters, publish). Use this only for a trusted local setup.".into(),
            );
        }
        TeamConfig {
            members,
            notify,
            authserv_id: t.authserv_id.clone(),
            require_authenticated_commands: require_auth,
        }
    }

    /// `[calendar]`; `None` when the calendar cannot be built (the problem is added).
    fn calendar_section(&self, p: &mut Problems) -> Option<Calendar> {
        let c = &self.calendar;
        p.unknown("calendar", &c.unknown, keys_of("calendar"));
        let tz_name = c.timezone.clone().unwrap_or_else(|| "UTC".into());
        let tz: chrono_tz::Tz = tz_name.parse().unwrap_or_else(|_| {
            p.add(
                "calendar.timezone",
                format!("`{tz_name}` is not an IANA time zone name (e.g. Europe/Paris, America/New_York, UTC)"),
            );
            chrono_tz::UTC
        });
        let day_names = c.working_days.clone().unwrap_or_else(|| {
            ["Mon", "Tue", "Wed", "Thu", "Fri"]
                .map(String::from)
                .to_vec()
        });
        let mut working_days: Vec<Weekday> = Vec::new();
        for name in &day_names {
            match calendar::parse_weekday(name) {
                Some(w) => working_days.push(w),
                None => p.add(
                    "calendar.working_days",
                    format!("`{name}` is not a weekday; use Mon, Tue, Wed, Thu, Fri, Sat, Sun"),
                ),
            }
        }
        let mut holidays: Vec<NaiveDate> = Vec::new();
        for h in c.holidays.iter().flatten() {
            match NaiveDate::parse_from_str(h, "%Y-%m-%d") {
                Ok(d) => holidays.push(d),
                Err(_) => p.add(
                    "calendar.holidays",
                    format!("`{h}` is not a date written YYYY-MM-DD"),
                ),
            }
        }
        let hours_text = c
            .working_hours
            .clone()
            .unwrap_or_else(|| "09:00-17:00".into());
        let (start, end) = calendar::parse_working_hours(&hours_text).unwrap_or_else(|| {
            p.add(
                "calendar.working_hours",
                format!("`{hours_text}` is not a range of hours like \"09:00-17:00\""),
            );
            (
                NaiveTime::from_hms_opt(9, 0, 0).unwrap_or_default(),
                NaiveTime::from_hms_opt(17, 0, 0).unwrap_or_default(),
            )
        });
        match Calendar::new(tz, &working_days, holidays, start, end) {
            Ok(cal) => Some(cal),
            Err(e) => {
                p.add("calendar", e.to_string());
                None
            }
        }
    }

    /// `[policy]`.
    fn policy_section(&self, p: &mut Problems) -> PolicyConfig {
        let po = &self.policy;
        p.unknown("policy", &po.unknown, keys_of("policy"));
        let fr_text = po
            .first_response
            .clone()
            .unwrap_or_else(|| "3 working days".into());
        let first_response_days = match calendar::parse_working_days(&fr_text) {
            // Counted a day at a time for every report and every re-plan: a mistyped
            // huge number walked millions of days and promised a year far away.
            Some(days) if days <= MAX_FIRST_RESPONSE_DAYS => days,
            Some(_) => {
                p.add(
                    "policy.first_response",
                    format!(
                        "`{fr_text}` is more than {MAX_FIRST_RESPONSE_DAYS} working days (about a year and a half)"
                    ),
                );
                3
            }
            None => {
                p.add(
                    "policy.first_response",
                    format!(
                        "`{fr_text}` is not a number of working days (e.g. \"3 working days\")"
                    ),
                );
                3
            }
        };
        let embargo_text = po.embargo.clone().unwrap_or_else(|| "90 days".into());
        let embargo_days = if embargo_text.trim() == "none" {
            None
        } else {
            Some(match calendar::parse_duration_days(&embargo_text) {
                // As `#embargo`: at most ten years ahead.
                Some(days) if days <= 3650 => days,
                Some(_) => {
                    p.add(
                        "policy.embargo",
                        format!("`{embargo_text}` is longer than ten years (3650 days at most)"),
                    );
                    90
                }
                None => {
                    p.add(
                        "policy.embargo",
                        format!("`{embargo_text}` is not a number of days (e.g. \"90 days\") or \"none\""),
                    );
                    90
                }
            })
        };
        let reminder_texts = po.embargo_reminders.clone().unwrap_or_else(|| {
            ["14 days", "7 days", "1 day", "0 days"]
                .map(String::from)
                .to_vec()
        });
        let mut embargo_reminders = Vec::new();
        for r in &reminder_texts {
            match calendar::parse_duration_days(r) {
                Some(d) => embargo_reminders.push(d),
                None => p.add(
                    "policy.embargo_reminders",
                    format!("`{r}` is not a number of days before the embargo end (e.g. \"7 days\", \"0 days\")"),
                ),
            }
        }
        embargo_reminders.sort_unstable_by(|a, b| b.cmp(a));
        embargo_reminders.dedup();
        let ack_rate_limit = rate_limit(
            p,
            "policy.ack_rate_limit",
            &po.ack_rate_limit,
            "3 per 10 minutes",
        );
        let digest_text = po.digest.clone().unwrap_or_else(|| "Mon 09:00".into());
        let digest = if digest_text.trim() == "none" {
            None
        } else {
            let parsed = calendar::parse_weekly(&digest_text);
            if parsed.is_none() {
                p.add(
                    "policy.digest",
                    format!(
                        "`{digest_text}` is not a weekly moment like \"Mon 09:00\", or \"none\""
                    ),
                );
            }
            parsed
        };

        let ack_rate_limit_total = rate_limit(
            p,
            "policy.ack_rate_limit_total",
            &po.ack_rate_limit_total,
            "60 per hour",
        );

        PolicyConfig {
            first_response_days,
            embargo_days,
            embargo_reminders,
            ack_rate_limit,
            digest,
            ack_rate_limit_total,
        }
    }

    /// `[spam]`: whose headers count, the threshold and the daily summary.
    fn spam_section(&self, p: &mut Problems) -> SpamConfig {
        let sp = &self.spam;
        p.unknown("spam", &sp.unknown, keys_of("spam"));
        let filter_text = sp.filter.clone().unwrap_or_else(|| "spamassassin".into());
        let filter = SpamFilter::parse(&filter_text).unwrap_or_else(|| {
            p.add(
                "spam.filter",
                format!("`{filter_text}` is not a spam filter; use spamassassin, rspamd or none"),
            );
            SpamFilter::None
        });
        let threshold = sp.threshold.unwrap_or(5.0);
        if !threshold.is_finite() {
            p.add(
                "spam.threshold",
                format!("`{threshold}` is not a finite score (e.g. 5.0)"),
            );
        }
        let summary_text = sp.summary.clone().unwrap_or_else(|| "09:00".into());
        let summary = if summary_text.trim().eq_ignore_ascii_case("none") {
            None
        } else {
            let parsed = calendar::parse_time(summary_text.trim());
            if parsed.is_none() {
                p.add(
                    "spam.summary",
                    format!("`{summary_text}` is not a time of day like \"09:00\", or \"none\""),
                );
            }
            parsed
        };
        SpamConfig {
            filter,
            threshold,
            summary,
        }
    }

    /// `[publish]`; the advisory prefix defaults to the case prefix followed by A.
    fn publish_section(&self, p: &mut Problems, case_prefix: &str) -> PublishConfig {
        let pu = &self.publish;
        p.unknown("publish", &pu.unknown, keys_of("publish"));
        let announce = pu
            .announce
            .as_ref()
            .map(|a| check_address(p, "publish.announce", a));
        let advisory_prefix = pu
            .advisory_prefix
            .clone()
            // A private database's prefix by default: an id the OSV schema accepts (`SECA-`
            // is none); a team with a registered database sets its own (OSEC for OCaml's).
            .unwrap_or_else(|| format!("x_{case_prefix}A"));
        // A derived prefix is only as good as desk.case_prefix, which is checked above.
        if pu.advisory_prefix.is_some()
            && (advisory_prefix.is_empty()
                || !advisory_prefix
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_'))
        {
            p.add(
                "publish.advisory_prefix",
                format!("`{advisory_prefix}` must be letters, digits and `_` (e.g. OSEC)"),
            );
        }

        check_absolute(p, "publish.advisory_repo", pu.advisory_repo.as_deref());
        PublishConfig {
            announce,
            advisory_prefix,
            ecosystem: pu.ecosystem.clone().unwrap_or_else(|| "opam".into()),
            advisory_repo: pu.advisory_repo.clone(),
            push: pu.push.unwrap_or(false),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A minimal valid configuration (also used by `service::files`'s tests).
    pub(crate) const GOOD: &str = r#"
[desk]
address = "security@example.org"
[imap]
host = "imap.example.org"
username = "security@example.org"
password_env = "PW"
[smtp]
host = "smtp.example.org"
[team]
members = ["alice@example.org"]
authserv_id = "mx.example.org"
"#;

    pub(crate) fn secrets() -> SecretSources {
        let mut env = BTreeMap::new();
        env.insert("PW".to_string(), "hunter2".to_string());
        SecretSources {
            credentials_directory: None,
            env,
            required: true,
        }
    }

    pub(crate) fn problems(text: &str) -> Vec<String> {
        match Config::from_toml(text, &secrets()) {
            Ok(_) => Vec::new(),
            Err(p) => p.iter().map(ToString::to_string).collect(),
        }
    }

    /// A secret written where it does not belong (unquoted, or as the name of a variable
    /// or a file) is never repeated in the problem, which goes to the journal: the TOML
    /// error quoted the line, and the other two named the value.
    #[test]
    fn a_secret_in_the_wrong_place_is_not_repeated() {
        for text in [
            GOOD.replace("password_env = \"PW\"", "password = s3cr3t!"),
            GOOD.replace("password_env = \"PW\"", "password = \"pa\\ss\""),
            GOOD.replace("password_env = \"PW\"", "password_env = \"s3cr3t!\""),
            // An app password is often letters alone.
            GOOD.replace(
                "password_env = \"PW\"",
                "password_env = \"abcds3cr3tghijkl\"",
            ),
            GOOD.replace("password_env = \"PW\"", "password_file = \"s3cr3t!\""),
        ] {
            let problems = problems(&text);
            assert!(!problems.is_empty(), "{text}");
            assert!(
                problems
                    .iter()
                    .all(|p| !p.contains("s3cr3t") && !p.contains("pa\\ss")),
                "{problems:?}"
            );
        }
        // A name that is a variable's is still named.
        let unset = problems(&GOOD.replace("password_env = \"PW\"", "password_env = \"IMAP_PW\""));
        assert!(unset.iter().any(|p| p.contains("IMAP_PW")), "{unset:?}");
    }

    /// An address the mail writer refuses (a trailing dot, an empty label, a second
    /// `@`) passed, and every mail to it failed: the team never heard of a report. One
    /// listed twice got every mail twice.
    #[test]
    fn addresses_the_mail_writer_refuses_and_members_listed_twice_are_refused() {
        for bad in [
            "team@example.org.",
            "team@example..org",
            "alice@@example.org",
            "alice.@example.org",
        ] {
            let text = GOOD.replace(
                "authserv_id = \"mx.example.org\"\n",
                &format!("authserv_id = \"mx.example.org\"\nnotify = \"{bad}\"\n"),
            );
            let problems = problems(&text);
            assert!(
                problems.iter().any(|p| p.starts_with("team.notify")),
                "{bad}: {problems:?}"
            );
        }
        let twice = GOOD.replace(
            "members = [\"alice@example.org\"]",
            "members = [\"alice@example.org\", \"Alice@Example.org\"]",
        );
        let problems = problems(&twice);
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("team.members") && p.contains("listed twice")),
            "{problems:?}"
        );
        assert!(super::looks_like_address("alice@localhost"));
        assert!(super::looks_like_address("security+cohttp@example.org"));
    }

    /// A relative path was read against the working directory of whoever ran the
    /// command: `check` from the config's directory passed what `run` (from `/`) could
    /// not open, and an import from elsewhere filled a database nobody read.
    #[test]
    fn relative_paths_are_refused() {
        let text = GOOD
            .replace(
                "[desk]\n",
                "[desk]\ndatabase = \"secdesk.db\"\ntemplates = \"templates\"\n",
            )
            .replace("[publish]\n", "")
            + "[publish]\nadvisory_repo = \"advisories\"\n";
        let said = problems(&text);
        for key in ["desk.database", "desk.templates", "publish.advisory_repo"] {
            assert!(
                said.iter()
                    .any(|p| p.starts_with(key) && p.contains("relative path")),
                "{key}: {said:?}"
            );
        }
        assert!(
            !problems(GOOD).iter().any(|p| p.contains("relative")),
            "the default database is whole"
        );
    }

    #[test]
    fn rate_limits_default_to_three_per_ten_minutes_and_sixty_per_hour() {
        let c = Config::from_toml(GOOD, &secrets()).unwrap();
        assert_eq!(
            (
                c.policy.ack_rate_limit.count,
                c.policy.ack_rate_limit.window
            ),
            (3, Duration::from_secs(600))
        );
        let total = &c.policy.ack_rate_limit_total;
        assert_eq!((total.count, total.window), (60, Duration::from_secs(3600)));
    }

    #[test]
    fn timeouts_default_to_a_minute_and_idle_renews_every_five() {
        let c = Config::from_toml(GOOD, &secrets()).unwrap();
        assert_eq!(c.imap.timeout, Duration::from_secs(60));
        assert_eq!(c.imap.idle_renew, Duration::from_secs(300));
        assert_eq!(c.smtp.timeout, Duration::from_secs(60));
        let bad = GOOD.replace("[smtp]\n", "[smtp]\ntimeout = \"soon\"\n");
        let problems = Config::from_toml(&bad, &secrets()).unwrap_err();
        assert!(
            problems.iter().any(|p| p.key == "smtp.timeout"),
            "{problems:?}"
        );
    }

    #[test]
    fn the_outbox_goes_out_over_three_connections_unless_told_otherwise() {
        let c = Config::from_toml(GOOD, &secrets()).unwrap();
        assert_eq!(c.smtp.connections, 3);
        let one = GOOD.replace("[smtp]\n", "[smtp]\nconnections = 1\n");
        assert_eq!(
            Config::from_toml(&one, &secrets())
                .unwrap()
                .smtp
                .connections,
            1
        );
        for n in ["0", "9"] {
            let bad = GOOD.replace("[smtp]\n", &format!("[smtp]\nconnections = {n}\n"));
            let problems = Config::from_toml(&bad, &secrets()).unwrap_err();
            assert!(
                problems
                    .iter()
                    .any(|p| p.key == "smtp.connections" && p.to_string().contains("1 to 8")),
                "{problems:?}"
            );
        }
    }

    #[test]
    fn defaults_of_a_minimal_config() {
        let c = Config::from_toml(GOOD, &secrets()).unwrap();
        assert_eq!(c.imap.port, 993);
        assert_eq!(c.imap.tls, TlsMode::Implicit);
        assert_eq!(c.imap.password.expose(), "hunter2");
        assert_eq!(c.smtp.port, 465);
        assert_eq!(c.desk.case_prefix, "SEC");
        assert_eq!(c.desk.hostname, "example.org");
        assert_eq!(c.policy.first_response_days, 3);
        assert_eq!(c.policy.embargo_days, Some(90));
        assert_eq!(c.policy.embargo_reminders, vec![14, 7, 1, 0]);
        assert_eq!(
            c.policy.ack_rate_limit,
            RateLimit {
                count: 3,
                window: Duration::from_secs(600)
            }
        );
        assert!(c.policy.digest.is_some());
        assert!(c.team.require_authenticated_commands);
        assert!(c.warnings.is_empty());
        assert_eq!(
            c.desk.plus_address("sec-2026-0007"),
            "security+sec-2026-0007@example.org"
        );
        assert_eq!(
            format!("{:?}", c.imap.password),
            "Secret(…)",
            "secrets stay out of Debug output"
        );
    }

    /// A private database's prefix starts with a lower-case `x_`: it was refused as
    /// "must be letters" since a change meant for password_env names.
    #[test]
    fn a_private_databases_advisory_prefix_is_accepted() {
        for (prefix, ok) in [
            ("x_SECA", true),
            ("OSEC", true),
            ("OS-EC", false),
            ("", false),
        ] {
            let text = format!("{GOOD}\n[publish]\nadvisory_prefix = \"{prefix}\"\n");
            let result = Config::from_toml(&text, &secrets());
            assert_eq!(result.is_ok(), ok, "{prefix}: {:?}", result.err());
            if let Ok(c) = result {
                assert_eq!(c.publish.advisory_prefix, prefix);
            }
        }
    }

    #[test]
    fn every_problem_is_reported_at_once_with_its_key() {
        let text = r#"
[desk]
address = "not an address"
case_prefix = "S-C"
[imap]
port = 993
tls = "ssl"
poll_interval = "soon"
[smtp]
host = "smtp.example.org"
[team]
members = []
[calendar]
timezone = "Mars/Olympus"
working_days = ["Mon", "Funday"]
holidays = ["2026-13-01"]
[policy]
embargo = "forever"
digest = "someday"
ack_rate_limit = "lots"
[extra]
x = 1
"#;
        let got = problems(text);
        let expect = [
            "extra: unknown key",
            "desk.address: `not an address` is not a mail address",
            "desk.case_prefix: `S-C` must be 1–16 letters or digits",
            "imap.host: is required, e.g. imap.host = \"imap.example.org\"",
            "imap.tls: `ssl` is not a TLS mode; use implicit, starttls or none",
            "imap.username: is required",
            "imap.password_file: no IMAP password",
            "imap.poll_interval: `soon` is not a duration",
            "team.members: needs at least one address",
            "team.authserv_id: is required while require_authenticated_commands = true",
            "calendar.timezone: `Mars/Olympus` is not an IANA time zone name",
            "calendar.working_days: `Funday` is not a weekday",
            "calendar.holidays: `2026-13-01` is not a date written YYYY-MM-DD",
            "policy.embargo: `forever` is not a number of days",
            "policy.ack_rate_limit: `lots` is not a rate like \"3 per 10 minutes\"",
            "policy.digest: `someday` is not a weekly moment",
        ];
        for e in expect {
            assert!(
                got.iter().any(|g| g.starts_with(e)),
                "missing {e:?} in\n{}",
                got.join("\n")
            );
        }
        assert_eq!(got.len(), expect.len(), "{}", got.join("\n"));
    }

    /// An embargo policy past ten years is refused, as `#embargo` refuses such a date
    /// (it gave every new case an end past the year 9999).
    #[test]
    fn a_hostname_that_is_no_plain_host_name_is_refused() {
        let problems = |extra: &str, address: &str| -> Vec<String> {
            let text = GOOD.replace(
                "address = \"security@example.org\"",
                &format!("address = \"{address}\"{extra}"),
            );
            Config::from_toml(&text, &secrets())
                .err()
                .unwrap_or_default()
                .iter()
                .map(ToString::to_string)
                .filter(|p| p.starts_with("desk.hostname:"))
                .collect()
        };
        assert_eq!(problems("", "security@example.org"), Vec::<String>::new());
        assert_eq!(
            problems(
                "\nhostname = \"desk.xn--bcher-kva.de\"",
                "security@example.org"
            ),
            Vec::<String>::new()
        );
        // An international desk address is read in its ASCII form: so is its hostname.
        assert_eq!(problems("", "sicherheit@bücher.de"), Vec::<String>::new());
        for (extra, address) in [
            ("\nhostname = \"desk.bücher.de\"", "security@example.org"),
            ("\nhostname = \"desk example.org\"", "security@example.org"),
        ] {
            let found = problems(extra, address);
            assert!(
                found.len() == 1 && found[0].contains("not a plain host name"),
                "{extra} {address}: {found:?}"
            );
        }
    }

    #[test]
    fn a_first_response_of_more_than_365_working_days_is_refused() {
        let problems = |value: &str| -> Vec<String> {
            let text = format!("{GOOD}\n[policy]\nfirst_response = \"{value}\"\n");
            Config::from_toml(&text, &secrets())
                .err()
                .unwrap_or_default()
                .iter()
                .map(ToString::to_string)
                .collect()
        };
        let refused = problems("4000000000 working days");
        assert!(
            refused
                .iter()
                .any(|p| p.starts_with("policy.first_response:")
                    && p.contains("more than 365 working days")),
            "{refused:?}"
        );
        assert_eq!(problems("365 working days"), Vec::<String>::new());
    }

    #[test]
    fn an_embargo_policy_of_more_than_ten_years_is_refused() {
        let text = format!("{GOOD}\n[policy]\nembargo = \"3000000 days\"\n");
        let problems: Vec<String> = Config::from_toml(&text, &secrets())
            .err()
            .unwrap_or_default()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("policy.embargo:") && p.contains("longer than ten years")),
            "{problems:?}"
        );
        let ok = format!("{GOOD}\n[policy]\nembargo = \"3650 days\"\n");
        assert_eq!(
            Config::from_toml(&ok, &secrets())
                .unwrap()
                .policy
                .embargo_days,
            Some(3650)
        );
    }

    #[test]
    fn plaintext_and_unauthenticated_commands_are_warned_about() {
        let text = GOOD
            .replace(
                "[smtp]\nhost = \"smtp.example.org\"",
                "[smtp]\nhost = \"smtp.example.org\"\ntls = \"none\"",
            )
            .replace(
                "authserv_id = \"mx.example.org\"",
                "require_authenticated_commands = false",
            );
        let c = Config::from_toml(&text, &secrets()).unwrap();
        assert_eq!(c.warnings.len(), 2, "{:?}", c.warnings);
        assert!(
            c.warnings[0].starts_with(
                "smtp.tls = \"none\" sends the password and every report in clear text"
            )
        );
        assert!(c.warnings[1].contains("ANYONE"));
        let local = text.replace("smtp.example.org", "127.0.0.1");
        assert_eq!(
            Config::from_toml(&local, &secrets())
                .unwrap()
                .warnings
                .len(),
            1,
            "plaintext on loopback is fine"
        );
    }

    /// A password without a user name logs in as nobody: said at start and by `check`.
    #[test]
    fn an_smtp_password_without_a_user_name_is_warned_about() {
        let good = Config::from_toml(GOOD, &secrets()).unwrap();
        let text = GOOD.replace(
            "[smtp]\nhost = \"smtp.example.org\"",
            "[smtp]\nhost = \"smtp.example.org\"\npassword_env = \"PW\"",
        );
        assert_ne!(text, GOOD);
        let c = Config::from_toml(&text, &secrets()).unwrap();
        assert_eq!(
            c.warnings.len(),
            good.warnings.len() + 1,
            "{:?}",
            c.warnings
        );
        assert!(
            c.warnings
                .iter()
                .any(|w| w.starts_with("smtp has a password but no smtp.username")),
            "{:?}",
            c.warnings
        );
    }

    #[test]
    fn spam_keys_and_the_desk_wide_ack_limit() {
        let c = Config::from_toml(GOOD, &secrets()).unwrap();
        assert_eq!(c.spam.filter, SpamFilter::SpamAssassin);
        assert_eq!(c.spam.threshold, 5.0);
        assert_eq!(c.spam.summary, NaiveTime::from_hms_opt(9, 0, 0));
        assert_eq!(
            c.policy.ack_rate_limit_total,
            RateLimit {
                count: 60,
                window: Duration::from_secs(3600)
            }
        );
        let text =
            format!("{GOOD}\n[spam]\nfilter = \"rspamd\"\nthreshold = 7.5\nsummary = \"none\"\n");
        let c = Config::from_toml(&text, &secrets()).unwrap();
        assert_eq!(
            (c.spam.filter, c.spam.threshold, c.spam.summary),
            (SpamFilter::Rspamd, 7.5, None)
        );
        let text =
            format!("{GOOD}\n[spam]\nfilter = \"bogofilter\"\nsummary = \"daily\"\nscore = 3\n")
                .replace(
                    "[team]",
                    "[policy]\nack_rate_limit_total = \"many per hour\"\n[team]",
                );
        let got = problems(&text);
        for e in [
            "spam.filter: `bogofilter` is not a spam filter; use spamassassin, rspamd or none",
            "spam.summary: `daily` is not a time of day",
            "spam.score: unknown key",
            "policy.ack_rate_limit_total: `many per hour` is not a rate",
        ] {
            assert!(
                got.iter().any(|g| g.starts_with(e)),
                "missing {e:?} in\n{}",
                got.join("\n")
            );
        }
    }

    #[test]
    fn the_example_config_is_valid_and_documents_every_key() {
        let example = include_str!("../../config.example.toml");
        // Optional keys are shown commented out (`# key = value`): uncomment those lines.
        let is_key_line = |r: &&str| {
            r.split_once(" = ")
                .is_some_and(|(k, _)| !k.is_empty() && !k.contains(' '))
        };
        let uncommented: String = example
            .lines()
            .map(|l| l.strip_prefix("# ").filter(is_key_line).unwrap_or(l))
            .collect::<Vec<_>>()
            .join("\n");
        let raw: toml::Table = toml::from_str(&uncommented).unwrap();
        let documented =
            |section: &str, key: &str| raw.get(section).and_then(|s| s.get(key)).is_some();
        for (section, names) in KEYS {
            for k in *names {
                assert!(
                    documented(section, k),
                    "config.example.toml does not document {section}.{k}"
                );
            }
        }
        // As shipped (optional keys commented out), it validates.
        let shipped = Config::from_toml(example, &secrets())
            .map_err(|p| p.iter().map(ToString::to_string).collect::<Vec<_>>());
        assert_eq!(shipped.err(), Some(vec!["imap.password_file: no IMAP password: set imap.password_file or imap.password_env, or provide the systemd credential `imap` (LoadCredential=imap:…)".to_string()]));
    }
}
