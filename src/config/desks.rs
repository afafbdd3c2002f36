//! `[desks.NAME]`: many desks in one daemon (PRODUCT.md §9).
//!
//! Each desk section is merged key by key over the top level and validated with the
//! top level's own section checks, so a desk is a whole effective [`Config`] (its
//! `desks` empty) and the decision code reads `ctx.config.team`, `.calendar`, … of the
//! case's desk without knowing that other desks exist. The top level stays a desk of its
//! own (key `""`, named [`TOP_DESK`] on the command line).
//!
//! Routing (which desk a new mail is for) looks at the addresses the mail was sent to,
//! in this order: every `Delivered-To`, every `X-Original-To`, then `To`, then `Cc`, each
//! header's addresses in their written order. An address names a desk when it is the
//! desk's address, or a plus address of it (`security+cohttp+anything@` names the desk
//! `security+cohttp@`; `security+sec-2026-0007@` names the desk `security@`), compared
//! without regard to letter case. The first address that names a `[desks.NAME]` desk
//! wins; the top-level desk is the desk of every mail that names no other desk, even
//! when an earlier header names the top-level address (a shared mailbox commonly
//! rewrites `Delivered-To` to its own bare address, which must not hide a `To:
//! security+cohttp@`).

use super::{
    Config, ConfigProblem, DeskConfig, Gathered, ImapConfig, Problems, RawConfig, SmtpConfig,
};
use crate::mail::Mail;
use crate::types::normalize_address;
use std::collections::BTreeSet;

/// What a `[desks.NAME]` section may set; every other key is refused.
pub const DESK_KEYS: &[&str] = &[
    "address",
    "name",
    "case_prefix",
    "team",
    "calendar",
    "policy",
    "publish",
    "spam",
];

/// The top-level desk's name on the command line (`--desk main`); no section may take it.
pub const TOP_DESK: &str = "main";

const DESK_LEVEL: &[&str] = &["address", "name", "case_prefix"];
const SECTIONS: &[&str] = &["team", "calendar", "policy", "publish", "spam"];

/// The top level's checked sections a desk inherits as they are.
pub(super) struct Shared<'a> {
    pub imap: &'a ImapConfig,
    pub smtp: &'a SmtpConfig,
    pub top_address: &'a str,
    pub top_prefix: &'a str,
    pub top_warnings: &'a [String],
    pub top_problems: &'a [ConfigProblem],
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

impl RawConfig {
    /// Every `[desks.NAME]`, merged over the top level and checked; each problem is named
    /// `desks.NAME.key` (`desks.cohttp.team.members`).
    pub(super) fn desks_sections(
        &self,
        p: &mut Problems,
        found: &Gathered,
        shared: &Shared<'_>,
    ) -> Vec<Config> {
        let mut desks = Vec::new();
        if self.desks.is_empty() {
            return desks;
        }
        let base = match toml::Value::try_from(self) {
            Ok(toml::Value::Table(t)) => t,
            _ => {
                p.add("desks", "the top level could not be merged into the desks");
                return desks;
            }
        };
        for (name, value) in &self.desks {
            let here = format!("desks.{name}");
            let Some(table) = desk_table(p, name, &here, value) else {
                continue;
            };
            let Some((raw, set)) = merge_desk(p, &base, name, &here, table) else {
                continue;
            };
            if let Some(config) = raw.desk_config(p, found, shared, name, &here, &set, &desks) {
                desks.push(config);
            }
        }
        desks
    }

    /// One desk's merged sections checked into a [`Config`] (`None`: its calendar is
    /// unusable); its problems and clashes with the other desks go into `p`.
    #[allow(clippy::too_many_arguments)]
    fn desk_config(
        &self,
        p: &mut Problems,
        found: &Gathered,
        shared: &Shared<'_>,
        name: &str,
        here: &str,
        set: &BTreeSet<String>,
        desks: &[Config],
    ) -> Option<Config> {
        let mut dp = Problems(Vec::new());
        let mut warnings = Vec::new();
        let mut desk = self.desk_section(&mut dp, found);
        desk.key = name.to_string();
        let team = self.team_section(&mut dp, &desk.address, &mut warnings);
        let calendar = self.calendar_section(&mut dp);
        let policy = self.policy_section(&mut dp);
        let publish = self.publish_section(&mut dp, &desk.case_prefix);
        warnings.extend(publish.prefix_warning());
        let spam = self.spam_section(&mut dp);
        report_desk_problems(p, here, dp, set, shared);
        desk_clashes(p, here, &desk, shared, desks);
        let warnings = warnings
            .into_iter()
            .filter(|w| !shared.top_warnings.contains(w))
            .map(|w| format!("{here}: {w}"))
            .collect();
        calendar.map(|calendar| Config {
            desk,
            imap: shared.imap.clone(),
            smtp: shared.smtp.clone(),
            team,
            calendar,
            policy,
            publish,
            spam,
            warnings,
            desks: Vec::new(),
        })
    }
}

/// The `[desks.NAME]` section, if its name may be used and it is a section.
fn desk_table<'v>(
    p: &mut Problems,
    name: &str,
    here: &str,
    value: &'v toml::Value,
) -> Option<&'v toml::map::Map<String, toml::Value>> {
    if !valid_name(name) {
        p.add(
            here,
            "a desk's name is lower-case letters, digits, - and _ (e.g. [desks.cohttp])",
        );
        return None;
    }
    if name == TOP_DESK {
        p.add(
            here,
            format!("`{TOP_DESK}` names the top-level desk; choose another name"),
        );
        return None;
    }
    let table = value.as_table();
    if table.is_none() {
        p.add(here, "must be a section: [desks.NAME]");
    }
    table
}

/// The desk's keys merged one by one over the top level (`base`), and the
/// `section.key`s the desk set itself; `None` when the merge is not a valid config.
fn merge_desk(
    p: &mut Problems,
    base: &toml::map::Map<String, toml::Value>,
    name: &str,
    here: &str,
    table: &toml::map::Map<String, toml::Value>,
) -> Option<(RawConfig, BTreeSet<String>)> {
    let mut merged = base.clone();
    let mut set: BTreeSet<String> = BTreeSet::new();
    for (k, v) in table {
        let (section, keys): (&str, Vec<(&String, &toml::Value)>) =
            if DESK_LEVEL.contains(&k.as_str()) {
                ("desk", vec![(k, v)])
            } else if SECTIONS.contains(&k.as_str()) {
                match v.as_table() {
                    Some(t) => (k.as_str(), t.iter().collect()),
                    None => {
                        p.add(
                            &format!("{here}.{k}"),
                            format!("must be a section: [desks.{name}.{k}]"),
                        );
                        continue;
                    }
                }
            } else {
                p.add(
                    &format!("{here}.{k}"),
                    format!(
                        "unknown key; the keys of a desk are: {}",
                        DESK_KEYS.join(", ")
                    ),
                );
                continue;
            };
        let target = merged
            .entry(section.to_string())
            .or_insert_with(|| toml::Value::Table(toml::map::Map::new()));
        if let Some(t) = target.as_table_mut() {
            // A desk with a team of its own hears its mail itself: the top level's list
            // (`team.notify`) is the other team's, and stays theirs unless set here.
            if section == "team" && keys.iter().any(|(kk, _)| *kk == "members") {
                t.remove("notify");
            }
            for (kk, vv) in keys {
                t.insert(kk.clone(), vv.clone());
                set.insert(format!("{section}.{kk}"));
            }
        }
    }
    match toml::Value::Table(merged).try_into() {
        Ok(raw) => Some((raw, set)),
        Err(e) => {
            p.add(
                here,
                format!(
                    "not valid for a desk: {}",
                    e.to_string().trim().replace('\n', " ")
                ),
            );
            None
        }
    }
}

/// The problems of a desk's sections, named under `here`; those it inherited unchanged
/// from the top level are reported once, there.
fn report_desk_problems(
    p: &mut Problems,
    here: &str,
    dp: Problems,
    set: &BTreeSet<String>,
    shared: &Shared<'_>,
) {
    for problem in dp.0 {
        let by_desk = set.contains(&problem.key)
            || set
                .iter()
                .any(|s| s.starts_with(&format!("{}.", problem.key)));
        if !by_desk && shared.top_problems.contains(&problem) {
            continue; // inherited: reported once, at the top level
        }
        let key = match problem.key.strip_prefix("desk.") {
            Some(rest) => format!("{here}.{rest}"),
            None => format!("{here}.{}", problem.key),
        };
        p.add(&key, problem.message);
    }
}

/// Each desk needs its own address and case prefix: not the top level's, not another's.
fn desk_clashes(
    p: &mut Problems,
    here: &str,
    desk: &DeskConfig,
    shared: &Shared<'_>,
    desks: &[Config],
) {
    if desk.address == shared.top_address {
        p.add(
            &format!("{here}.address"),
            format!(
                "`{}` is already the top-level desk's address; each desk needs its own (e.g. a plus address)",
                desk.address
            ),
        );
    }
    if desk.case_prefix == shared.top_prefix {
        p.add(
            &format!("{here}.case_prefix"),
            format!(
                "`{}` is already the top-level desk's case prefix; each desk needs its own",
                desk.case_prefix
            ),
        );
    }
    for other in desks {
        for (key, what, mine, theirs) in [
            ("address", "address", &desk.address, &other.desk.address),
            (
                "case_prefix",
                "case prefix",
                &desk.case_prefix,
                &other.desk.case_prefix,
            ),
        ] {
            if mine == theirs {
                p.add(
                    &format!("{here}.{key}"),
                    format!("`{mine}` is already the {what} of desk {}", other.desk.key),
                );
            }
        }
    }
}

/// The candidates an address may name, most specific first: itself, then without its
/// last `+tag`, then without everything from its first `+`.
fn candidates(address: &str) -> Vec<String> {
    let a = normalize_address(address);
    let mut out = vec![a.clone()];
    if let Some((local, domain)) = a.rsplit_once('@') {
        if let Some((base, _)) = local.rsplit_once('+') {
            out.push(format!("{base}@{domain}"));
        }
        if let Some((base, _)) = local.split_once('+') {
            out.push(format!("{base}@{domain}"));
        }
    }
    out
}

impl Config {
    /// The top-level desk, then every `[desks.NAME]`.
    pub fn all_desks(&self) -> impl Iterator<Item = &Config> {
        std::iter::once(self).chain(self.desks.iter())
    }

    /// The desk of that name: `""` or [`TOP_DESK`] for the top level.
    pub fn desk_named(&self, key: &str) -> Option<&Config> {
        if key.is_empty() || key == TOP_DESK {
            return Some(self);
        }
        self.desks.iter().find(|d| d.desk.key == key)
    }

    /// The desk's name as the command line writes it.
    pub fn desk_label(&self) -> &str {
        if self.desk.key.is_empty() {
            TOP_DESK
        } else {
            &self.desk.key
        }
    }

    /// Every desk's name, for error messages.
    pub fn desk_labels(&self) -> Vec<&str> {
        self.all_desks().map(Config::desk_label).collect()
    }

    /// The desk `address` names (its own address or a plus address of it), if any.
    pub fn desk_of_address(&self, address: &str) -> Option<&Config> {
        candidates(address)
            .iter()
            .find_map(|c| self.all_desks().find(|d| &d.desk.address == c))
    }

    /// The desk whose own address is `address`, exactly: the sender of a mail the desk
    /// queued. Never by a plus address's base, as [`Config::desk_of_address`] finds the
    /// desk mail to an address is for: a desk's old plus address, given up for one of
    /// its own, would name the top level, and its queued team mail that team's.
    pub fn desk_sending_as(&self, address: &str) -> Option<&Config> {
        let address = normalize_address(address);
        self.all_desks()
            .find(|d| normalize_address(&d.desk.address) == address)
    }

    /// Every team address (a member, the notify list) of every desk that is a desk's own
    /// address or a plus address of one: mail to it would come back to the daemon, be
    /// taken for its own, and no member would read it.
    pub(super) fn team_address_problems(&self) -> Vec<ConfigProblem> {
        let mut out = Vec::new();
        for d in self.all_desks() {
            let prefix = match d.desk.key.as_str() {
                "" => String::new(),
                k => format!("desks.{k}."),
            };
            let named = d
                .team
                .members
                .iter()
                .map(|a| ("members", a))
                .chain(d.team.notify.iter().map(|a| ("notify", a)));
            let public = |address: &str| {
                let address = crate::types::normalize_address(address);
                self.all_desks().any(|o| {
                    o.publish
                        .announce
                        .as_deref()
                        .is_some_and(|l| crate::types::normalize_address(l) == address)
                })
            };
            for (key, address) in named {
                let message = if self.is_any_desk_address(address) {
                    format!(
                        "`{address}` is a desk's own address (or a plus address of one): \
                         mail to it comes back to the desk, and nobody would read it"
                    )
                } else if public(address) {
                    format!(
                        "`{address}` is a public announce list (publish.announce): every \
                         report sent to the team would be public"
                    )
                } else {
                    continue;
                };
                out.push(ConfigProblem {
                    key: format!("{prefix}team.{key}"),
                    message,
                });
            }
        }
        out
    }

    /// Whether `address` is any desk's address or a plus address of one: mail from it is
    /// the daemon's own.
    pub fn is_any_desk_address(&self, address: &str) -> bool {
        self.desk_of_address(address).is_some()
    }

    /// The desk a new mail is for (see the module's documentation for the order).
    pub fn route(&self, mail: &Mail) -> &Config {
        let header = |name: &str| -> Vec<String> {
            mail.headers
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
                .collect()
        };
        let ordered = header("Delivered-To")
            .into_iter()
            .chain(header("X-Original-To"))
            .chain(mail.to.iter().cloned())
            .chain(mail.cc.iter().cloned());
        for address in ordered {
            if let Some(d) = self.desk_of_address(&address)
                && !d.desk.key.is_empty()
            {
                return d;
            }
        }
        self
    }

    /// A desk member of some desk other than this one's `key`, if `address` is one.
    pub fn member_elsewhere(&self, key: &str, address: &str) -> Option<&Config> {
        self.all_desks()
            .find(|d| d.desk.key != key && d.team.is_member(address))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::{GOOD, secrets};
    use crate::mail::{Parsed, parse};

    /// The top level (`GOOD`, in Paris) and two desks: cohttp, and dune in New York.
    fn three() -> String {
        let desks = r#"[calendar]
timezone = "Europe/Paris"
[desks.cohttp]
address = "security+cohttp@example.org"
name = "Cohttp security"
case_prefix = "COHTTP"
[desks.cohttp.team]
members = ["carol@example.org"]
[desks.cohttp.publish]
announce = "cohttp-announce@example.org"
[desks.dune]
address = "Dune-Security@Example.net"
case_prefix = "DUNE"
[desks.dune.team]
members = ["dan@example.net"]
[desks.dune.calendar]
timezone = "America/New_York"
"#;
        format!("{GOOD}{desks}")
    }

    /// `three()` with `from` replaced by `to`, validated.
    fn three_with(from: &str, to: &str) -> Result<Config, Vec<String>> {
        config(&three().replace(from, to))
    }

    fn config(text: &str) -> Result<Config, Vec<String>> {
        Config::from_toml(text, &secrets()).map_err(|p| p.iter().map(ToString::to_string).collect())
    }

    /// A team that is (or notifies) a desk's own address, another desk's, or a plus
    /// address of one: every notice to the team came back to the desk and was dropped as
    /// its own, and no member was ever told of a report.
    #[test]
    fn a_team_address_that_is_a_desks_is_refused() {
        for (notify, key) in [
            ("security@example.org", "desks.cohttp.team.notify"),
            ("security+team@example.org", "desks.cohttp.team.notify"),
            ("dune-security@example.net", "desks.cohttp.team.notify"),
        ] {
            let got = three_with(
                "members = [\"carol@example.org\"]",
                &format!("members = [\"carol@example.org\"]\nnotify = \"{notify}\""),
            )
            .unwrap_err();
            assert!(
                got.iter()
                    .any(|e| e.contains(key) && e.contains("a desk's own address")),
                "{notify}: {got:?}"
            );
        }
        let got = three_with(
            "members = [\"dan@example.net\"]",
            "members = [\"Security+COHTTP@example.org\"]",
        )
        .unwrap_err();
        assert!(
            got.iter().any(|e| e.contains("desks.dune.team.members")),
            "{got:?}"
        );
    }

    /// A team address that is a desk's is told with the config's other problems, at once:
    /// it was told only once every other problem was fixed, a second failed start.
    #[test]
    fn a_team_address_that_is_a_desks_is_told_with_the_other_problems() {
        let text = three()
            .replace(
                "members = [\"carol@example.org\"]",
                "members = [\"carol@example.org\"]\nnotify = \"security@example.org\"",
            )
            .replace("[smtp]\n", "[smtp]\nconnections = 9\n");
        let got = config(&text).unwrap_err();
        for key in ["smtp.connections", "desks.cohttp.team.notify"] {
            assert!(got.iter().any(|e| e.contains(key)), "{key}: {got:?}");
        }
    }

    /// A team that is (or notifies) a desk's public announce list: every report, relay
    /// and reminder of the desk went to the list advisories are published on.
    #[test]
    fn a_team_address_that_is_an_announce_list_is_refused() {
        let got = three_with(
            "members = [\"carol@example.org\"]",
            "members = [\"carol@example.org\"]\nnotify = \"Cohttp-Announce@example.org\"",
        )
        .unwrap_err();
        assert!(
            got.iter()
                .any(|e| e.contains("desks.cohttp.team.notify")
                    && e.contains("public announce list")),
            "{got:?}"
        );
        let got = three_with(
            "members = [\"dan@example.net\"]",
            "members = [\"dan@example.net\", \"cohttp-announce@example.org\"]",
        )
        .unwrap_err();
        assert!(
            got.iter().any(|e| e.contains("desks.dune.team.members")),
            "{got:?}"
        );
    }

    #[test]
    fn a_desk_inherits_every_key_it_does_not_set() {
        let c = config(&three()).unwrap();
        assert!(c.desk.key.is_empty());
        assert_eq!(c.desks.len(), 2);
        let co = c.desk_named("cohttp").unwrap();
        assert_eq!(co.desk.address, "security+cohttp@example.org");
        assert_eq!(co.desk.name, "Cohttp security");
        assert_eq!(co.desk.case_prefix, "COHTTP");
        assert_eq!(co.team.members, vec!["carol@example.org"]);
        // Inherited from the top level:
        assert_eq!(co.team.authserv_id.as_deref(), Some("mx.example.org"));
        assert_eq!(co.calendar.tz().name(), "Europe/Paris");
        assert_eq!(co.imap.host, "imap.example.org");
        assert_eq!(co.publish.advisory_prefix, "x_COHTTPA");
        assert_eq!(
            co.publish.announce.as_deref(),
            Some("cohttp-announce@example.org")
        );
        let dune = c.desk_named("dune").unwrap();
        assert_eq!(dune.desk.address, "dune-security@example.net");
        assert_eq!(dune.desk.name, "Security Team");
        assert_eq!(dune.calendar.tz().name(), "America/New_York");
        assert!(c.desk_named("main").unwrap().desk.key.is_empty());
        assert!(c.desk_named("nope").is_none());
        assert_eq!(c.desk_labels(), vec!["main", "cohttp", "dune"]);
    }

    /// A desk with a team of its own does not take the top level's `team.notify`: all
    /// its team mail (reports under embargo, reminders) went to the other team's list,
    /// and its own team heard nothing. One that sets its own list keeps it.
    #[test]
    fn a_desk_with_a_team_of_its_own_does_not_take_the_top_levels_list() {
        let text = three()
            .replacen(
                "[team]\n",
                "[team]\nnotify = \"security-team@example.org\"\n",
                1,
            )
            .replace(
                "members = [\"dan@example.net\"]",
                "members = [\"dan@example.net\"]\nnotify = \"dune-team@example.net\"",
            );
        let c = config(&text).unwrap();
        assert_eq!(c.team.recipients(), vec!["security-team@example.org"]);
        let co = c.desk_named("cohttp").unwrap();
        assert_eq!(co.team.recipients(), vec!["carol@example.org"]);
        let dune = c.desk_named("dune").unwrap();
        assert_eq!(dune.team.recipients(), vec!["dune-team@example.net"]);
    }

    #[test]
    fn a_desks_lax_setting_is_warned_about_by_name() {
        let c = three_with(
            "[desks.cohttp.publish]",
            "require_authenticated_commands = false\n[desks.cohttp.publish]",
        )
        .unwrap();
        assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
        assert!(
            c.warnings[0].starts_with("desks.cohttp: team.require_authenticated_commands = false"),
            "{:?}",
            c.warnings
        );
        assert!(
            !c.desk_named("cohttp")
                .unwrap()
                .team
                .require_authenticated_commands
        );
    }

    #[test]
    fn a_config_without_desks_is_one_desk() {
        let three = three();
        let c = config(&three[..three.find("[desks.cohttp]").unwrap()]).unwrap();
        assert!(c.desks.is_empty());
        assert_eq!(c.all_desks().count(), 1);
    }

    #[test]
    fn problems_name_the_desk_and_the_key() {
        let bad = three()
            .replace("members = [\"carol@example.org\"]", "members = [\"carol\"]")
            .replace(
                "case_prefix = \"DUNE\"",
                "case_prefix = \"COHTTP\"\ncolour = 1",
            )
            .replace(
                "timezone = \"America/New_York\"",
                "timezone = \"Mars/Base\"",
            )
            + "[desks.twin]\naddress = \"SECURITY@example.org\"\ncase_prefix = \"SEC\"\n"
            + "[desks.main]\naddress = \"m@example.org\"\n[desks.odd]\naddress = \"odd@example.org\"\ncase_prefix = \"ODD\"\n[desks.odd.imap]\nhost = \"x\"\n";
        let problems = config(&bad).unwrap_err();
        let has = |key: &str| problems.iter().any(|p| p.starts_with(&format!("{key}: ")));
        for key in [
            "desks.cohttp.team.members",
            "desks.dune.case_prefix",
            "desks.dune.colour",
            "desks.dune.calendar.timezone",
            "desks.twin.address",
            "desks.twin.case_prefix",
            "desks.main",
            "desks.odd.imap",
        ] {
            assert!(has(key), "{key}: {problems:#?}");
        }
        // Nothing the desks inherit is blamed on them.
        assert!(
            !problems.iter().any(|p| p.starts_with("team.")),
            "{problems:#?}"
        );
    }

    #[test]
    fn an_inherited_problem_is_reported_once_at_the_top() {
        let problems = three_with(
            "timezone = \"Europe/Paris\"",
            "timezone = \"Europe/Nowhere\"",
        )
        .unwrap_err();
        let tz: Vec<_> = problems.iter().filter(|p| p.contains("timezone")).collect();
        assert_eq!(tz.len(), 1, "{problems:#?}");
        assert!(tz[0].starts_with("calendar.timezone"), "{problems:#?}");
    }

    #[test]
    fn a_desk_without_an_address_of_its_own_is_refused() {
        let bad = three() + "[desks.lazy]\ncase_prefix = \"LAZY\"\n";
        let problems = config(&bad).unwrap_err();
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("desks.lazy.address: `security@example.org` is already")),
            "{problems:#?}"
        );
    }

    /// Routing, one row per case: the headers, and the desk that wins.
    #[test]
    fn routing_table() {
        let c = config(&three()).unwrap();
        let rows: &[(&str, &str)] = &[
            // Nothing names a desk: the top level.
            ("To: someone@example.com\n", "main"),
            ("To: security@example.org\n", "main"),
            // Each header alone.
            ("Delivered-To: security+cohttp@example.org\n", "cohttp"),
            ("X-Original-To: security+cohttp@example.org\n", "cohttp"),
            ("To: security+cohttp@example.org\n", "cohttp"),
            ("Cc: security+cohttp@example.org\n", "cohttp"),
            ("To: dune-security@example.net\n", "dune"),
            // Letter case does not matter.
            ("To: SECURITY+CoHttp@EXAMPLE.ORG\n", "cohttp"),
            ("To: Dune-Security@EXAMPLE.NET\n", "dune"),
            // Plus addresses of a desk name it.
            ("To: dune-security+dune-2026-0003@example.net\n", "dune"),
            (
                "To: security+cohttp+cohttp-2026-0001@example.org\n",
                "cohttp",
            ),
            ("To: security+sec-2026-0007@example.org\n", "main"),
            ("To: security+whatever@example.org\n", "main"),
            // The envelope wins over To/Cc …
            (
                "Delivered-To: security+cohttp@example.org\nTo: dune-security@example.net\n",
                "cohttp",
            ),
            (
                "X-Original-To: dune-security@example.net\nTo: security+cohttp@example.org\n",
                "dune",
            ),
            // … Delivered-To over X-Original-To, whatever their order in the header block …
            (
                "X-Original-To: dune-security@example.net\nDelivered-To: security+cohttp@example.org\n",
                "cohttp",
            ),
            // … To over Cc, and within a header the first address.
            (
                "Cc: dune-security@example.net\nTo: security+cohttp@example.org\n",
                "cohttp",
            ),
            (
                "To: dune-security@example.net, security+cohttp@example.org\n",
                "dune",
            ),
            (
                "To: someone@example.com, security+cohttp@example.org\n",
                "cohttp",
            ),
            // A shared mailbox's bare Delivered-To does not hide a desk named in To.
            (
                "Delivered-To: security@example.org\nTo: security+cohttp@example.org\n",
                "cohttp",
            ),
            // Look-alikes name no desk.
            ("To: security+cohttp@example.com\n", "main"),
            ("To: xsecurity+cohttp@example.org\n", "main"),
        ];
        for (headers, want) in rows {
            let raw = format!(
                "From: r@example.com\n{headers}Subject: s\nMessage-ID: <m@example.com>\n\nbody\n"
            );
            let Parsed::Mail(m) = parse(raw.as_bytes()) else {
                panic!("unreadable: {raw}");
            };
            assert_eq!(c.route(&m).desk_label(), *want, "headers:\n{headers}");
        }
    }

    #[test]
    fn members_of_other_desks_are_known() {
        let c = config(&three()).unwrap();
        assert_eq!(
            c.member_elsewhere("cohttp", "ALICE@example.org")
                .map(Config::desk_label),
            Some("main")
        );
        assert!(c.member_elsewhere("cohttp", "carol@example.org").is_none());
        assert_eq!(
            c.member_elsewhere("", "carol@example.org")
                .map(Config::desk_label),
            Some("cohttp")
        );
        assert!(c.is_any_desk_address("security+cohttp+cohttp-2026-0001@example.org"));
        assert!(!c.is_any_desk_address("carol@example.org"));
    }
}
