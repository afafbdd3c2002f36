//! `secdesk check`: everything the daemon needs, tried for real, reported in plain
//! words. The exit code is 0 only when nothing failed.
//!
//! Invariant: checking changes nothing an operator would notice: it creates no database
//! (it only checks the directory is writable) and sends no mail.

use crate::config::{Config, SecretSources};
use crate::outgoing::templates::Templates;
use crate::service::ingest;
use crate::service::mailer::Mailer;
use crate::store::Store;
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Ok,
    Warn,
    Fail,
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub level: Level,
    pub topic: &'static str,
    pub text: String,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let tag = match self.level {
            Level::Ok => "ok  ",
            Level::Warn => "WARN",
            Level::Fail => "FAIL",
        };
        write!(f, "{tag} {:<9} {}", self.topic, self.text)
    }
}

fn found(level: Level, topic: &'static str, text: impl Into<String>) -> Finding {
    Finding {
        level,
        topic,
        text: text.into(),
    }
}

/// Runs every check.
pub async fn check(path: &Path, secrets: &SecretSources) -> Vec<Finding> {
    let mut out = Vec::new();
    let config = match Config::load(path, secrets) {
        Ok(c) => c,
        Err(e) => {
            for p in e.problems {
                out.push(found(Level::Fail, "config", p.to_string()));
            }
            return out;
        }
    };
    out.push(found(
        Level::Ok,
        "config",
        format!("{} is valid", path.display()),
    ));
    for w in &config.warnings {
        out.push(found(Level::Warn, "config", w.clone()));
    }

    out.extend(desks_finding(&config));
    out.extend(check_templates(&config));
    out.push(check_database(&config.desk.database));
    out.extend(cases_of_unknown_desks(&config));
    out.extend(spam_findings(&config));
    out.extend(desks_spam_findings(&config));

    out.extend(check_imap(&config).await);
    out.push(check_smtp(&config).await);
    for (repo, push, keys) in advisory_repos(&config) {
        out.push(check_advisory_repo(repo, push, &keys));
    }
    out
}

/// Open cases of a desk the configuration no longer has (a `[desks.NAME]` removed or
/// renamed): the top-level desk decides for them now, its team hears of their mail, and
/// threading by the old desk's tag and plus address stops. Said, not refused: restoring
/// the section, or `#move` on each case, settles it.
fn cases_of_unknown_desks(config: &Config) -> Vec<Finding> {
    let Ok(counts) = Store::open_cases_by_desk(&config.desk.database) else {
        return Vec::new(); // the database finding says what is wrong with it
    };
    counts
        .into_iter()
        .filter(|(key, _)| !key.is_empty() && config.desk_named(key).is_none())
        .map(|(key, n)| {
            found(
                Level::Warn,
                "desks",
                format!(
                    "the database holds {n} open case{} of the desk `{key}`, which the configuration no longer has: the top-level desk's team handles them now (restore [desks.{key}], or #move each case to a desk there is)",
                    if n == 1 { "" } else { "s" }
                ),
            )
        })
        .collect()
}

/// The desks one daemon serves, when there are several: each one's name on the command
/// line, its address and its team's size.
fn desks_finding(config: &Config) -> Option<Finding> {
    if config.desks.is_empty() {
        return None;
    }
    let each: Vec<String> = config
        .all_desks()
        .map(|d| {
            let n = d.team.members.len();
            format!(
                "{} <{}> ({n} member{})",
                d.desk_label(),
                d.desk.address,
                if n == 1 { "" } else { "s" }
            )
        })
        .collect();
    Some(found(
        Level::Ok,
        "desks",
        format!("{} desks: {}", each.len(), each.join(", ")),
    ))
}

/// What each `[desks.NAME]` desk counts as spam, where that differs from the top level
/// (its own `spam` section or `team.authserv_id`), each finding named by its desk.
fn desks_spam_findings(config: &Config) -> Vec<Finding> {
    let top: Vec<(Level, String)> = spam_findings(config)
        .into_iter()
        .map(|f| (f.level, f.text))
        .collect();
    let mut out = Vec::new();
    for d in &config.desks {
        let own = spam_findings(d);
        if own
            .iter()
            .map(|f| (f.level, f.text.clone()))
            .eq(top.iter().cloned())
        {
            continue;
        }
        out.extend(own.into_iter().map(|f| Finding {
            text: format!("desks.{}: {}", d.desk.key, f.text),
            ..f
        }));
    }
    out
}

/// Every advisory checkout a desk publishes to, once each, with the keys that name it
/// (`publish.advisory_repo`, `desks.NAME.publish.advisory_repo`).
fn advisory_repos(config: &Config) -> Vec<(&Path, bool, String)> {
    let mut repos: Vec<(&Path, bool, Vec<String>)> = Vec::new();
    for d in config.all_desks() {
        let Some(repo) = d.publish.advisory_repo.as_deref() else {
            continue;
        };
        let key = match d.desk.key.as_str() {
            "" => "publish.advisory_repo".to_string(),
            name => format!("desks.{name}.publish.advisory_repo"),
        };
        match repos.iter_mut().find(|(r, _, _)| *r == repo) {
            Some((_, push, keys)) => {
                *push |= d.publish.push;
                keys.push(key);
            }
            None => repos.push((repo, d.publish.push, vec![key])),
        }
    }
    repos
        .into_iter()
        .map(|(repo, push, keys)| (repo, push, keys.join(", ")))
        .collect()
}

/// Every template renders, built-in or overridden.
fn check_templates(config: &Config) -> Vec<Finding> {
    let mut out = Vec::new();
    if let Some(dir) = &config.desk.templates {
        let stray = Templates::stray_overrides(dir);
        if !stray.is_empty() {
            out.push(found(
                Level::Warn,
                "templates",
                format!(
                    "{} override{} nothing and {} not used (a template's file is <name>.txt, the names being {}): {}",
                    stray.len(),
                    if stray.len() == 1 { "s" } else { "" },
                    if stray.len() == 1 { "is" } else { "are" },
                    Templates::names().collect::<Vec<_>>().join(", "),
                    stray.join(", ")
                ),
            ));
        }
    }
    match Templates::load(config.desk.templates.as_deref()) {
        Ok(t) => match t.check() {
            Ok(()) => out.push(found(
                Level::Ok,
                "templates",
                match &config.desk.templates {
                    Some(d) => format!("all render (overrides from {})", d.display()),
                    None => "all render (built-in)".into(),
                },
            )),
            Err(errors) => {
                for e in errors {
                    out.push(found(Level::Fail, "templates", e.to_string()));
                }
            }
        },
        Err(e) => out.push(found(Level::Fail, "templates", e.to_string())),
    }
    out
}

/// The IMAP login, the mailbox, what a first start does with the mail already there,
/// and whether the server offers IDLE.
async fn check_imap(config: &Config) -> Vec<Finding> {
    let mut out = Vec::new();
    match ingest::connect(&config.imap).await {
        Ok(mut session) => {
            out.push(found(
                Level::Ok,
                "imap",
                format!(
                    "logged in to {}:{} as {}",
                    config.imap.host, config.imap.port, config.imap.username
                ),
            ));
            match ingest::select(&mut session, &config.imap.mailbox, config.imap.timeout).await {
                Ok(sel) => {
                    out.push(found(
                        Level::Ok,
                        "imap",
                        format!(
                            "mailbox {} has {} messages",
                            config.imap.mailbox, sel.exists
                        ),
                    ));
                    if sel.exists > 0 && !config.desk.database.exists() {
                        out.push(found(
                            Level::Ok,
                            "imap",
                            format!(
                                "at the first start these {} messages are filed as history: on cases, without acknowledgements or notices",
                                sel.exists
                            ),
                        ));
                    }
                }
                Err(e) => out.push(found(Level::Fail, "imap", format!("{e} (imap.mailbox)"))),
            }
            if ingest::has_idle(&mut session, config.imap.timeout)
                .await
                .unwrap_or(false)
            {
                out.push(found(
                    Level::Ok,
                    "imap",
                    "the server offers IDLE: new mail is seen within a second",
                ));
            } else {
                out.push(found(
                    Level::Warn,
                    "imap",
                    format!(
                        "no IDLE: the inbox is polled every {} (imap.poll_interval)",
                        humantime::format_duration(config.imap.poll_interval)
                    ),
                ));
            }
            let _ = session.logout().await;
        }
        Err(e) => {
            out.push(found(
                Level::Fail,
                "imap",
                format!("{e} (check {})", e.keys()),
            ));
        }
    }
    out
}

/// The SMTP server accepts the desk (and its login, when one is configured).
async fn check_smtp(config: &Config) -> Finding {
    match Mailer::new(&config.smtp, &config.desk.hostname) {
        Ok(m) => match m.test_connection(&senders(config)).await {
            Ok(()) => found(
                Level::Ok,
                "smtp",
                format!(
                    "{}:{} accepts us{}",
                    config.smtp.host,
                    config.smtp.port,
                    if config.smtp.username.is_some() {
                        " (login ok)"
                    } else {
                        ""
                    }
                ),
            ),
            // `e` names the config keys to look at (a refused login: the password file).
            Err(e) => found(Level::Fail, "smtp", e.to_string()),
        },
        Err(e) => found(Level::Fail, "smtp", e.to_string()),
    }
}

/// Every desk's address, each with the key that sets it.
fn senders(config: &Config) -> Vec<crate::service::mailer::Probe<'_>> {
    config
        .all_desks()
        .map(|d| crate::service::mailer::Probe {
            key: match d.desk.key.as_str() {
                "" => "desk.address".to_string(),
                name => format!("desks.{name}.address"),
            },
            sender: d.desk.address.as_str(),
            team: d.team.recipients(),
        })
        .collect()
}

/// What the spam verdict relies on, said plainly: `check` cannot see the receiving
/// server's configuration, so it names what that server must do.
pub fn spam_findings(config: &Config) -> Vec<Finding> {
    use crate::config::SpamFilter;
    let mut out = Vec::new();
    let filter = match config.spam.filter {
        SpamFilter::SpamAssassin => Some("SpamAssassin's X-Spam-Flag / X-Spam-Status"),
        SpamFilter::Rspamd => Some("rspamd's X-Spam / X-Rspamd-Action / X-Rspamd-Score"),
        SpamFilter::None => None,
    };
    let ar = config.team.authserv_id.as_deref().map(|id| {
        format!("Authentication-Results stamped by {id} (dmarc=fail, or spf=fail without an aligned dkim=pass)")
    });
    match (&ar, filter) {
        (None, None) => out.push(found(
            Level::Warn,
            "spam",
            "no team.authserv_id and spam.filter = \"none\": no mail is ever judged suspect, so spam and forged senders are acknowledged (backscatter) and announced to the team one by one",
        )),
        (ar, filter) => {
            let what: Vec<String> = ar
                .iter()
                .cloned()
                .chain(filter.map(|f| {
                    format!("{f} headers, or a score of {:.1} or more", config.spam.threshold)
                }))
                .collect();
            out.push(found(
                Level::Ok,
                "spam",
                format!(
                    "new mail is suspect on {}; the receiving server must stamp these headers itself and remove any arriving from outside (a sender could write them to pass, or to have a real report quarantined)",
                    what.join(", or on ")
                ),
            ));
            if ar.is_none() {
                out.push(found(
                    Level::Warn,
                    "spam",
                    "no team.authserv_id: forged senders (dmarc=fail, spf=fail) are not recognised, only the spam filter's verdict counts",
                ));
            }
        }
    }
    out.push(found(
        Level::Ok,
        "spam",
        match config.spam.summary {
            Some(t) => format!(
                "a summary of the day's suspect mail goes to the team at {} ({}) on days that had some",
                t.format("%H:%M"),
                config.calendar.tz().name()
            ),
            None => "no daily summary of suspect mail (spam.summary = \"none\"): `secdesk cases --spam` lists it".into(),
        },
    ));
    out
}

/// The advisory repository checkout (§5a): `#publish` refuses while it is missing or
/// dirty, so `check` says so first.
fn check_advisory_repo(repo: &Path, push: bool, keys: &str) -> Finding {
    match crate::service::advisory_repo::check(repo) {
        Ok(()) => found(
            Level::Ok,
            "advisory",
            format!(
                "{} is a clean git checkout{}",
                repo.display(),
                if push {
                    "; published branches are pushed to its origin"
                } else {
                    ""
                }
            ),
        ),
        Err(why) => found(
            Level::Fail,
            "advisory",
            format!("{why}: #publish refuses until it is fixed ({keys})"),
        ),
    }
}

fn check_database(path: &Path) -> Finding {
    if path.exists() {
        // Read only: checking a new binary beside the running daemon must not migrate
        // the file under it (the older daemon cannot read it migrated).
        return match Store::inspect(path) {
            Ok((r, 0)) if r == "ok" => found(
                Level::Ok,
                "database",
                format!("{} opens and passes its integrity check", path.display()),
            ),
            Ok((r, n)) if r == "ok" => found(
                Level::Warn,
                "database",
                format!(
                    "{} passes its integrity check; {n} migration{} will run at the daemon's next start (no other secdesk command of this version before it: an older daemon cannot read the file migrated)",
                    path.display(),
                    if n == 1 { "" } else { "s" }
                ),
            ),
            Ok((r, _)) => found(
                Level::Fail,
                "database",
                format!("{}: integrity check says {r}", path.display()),
            ),
            Err(e) => found(Level::Fail, "database", format!("{e} (desk.database)")),
        };
    }
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    // A fresh server: the shipped unit's StateDirectory= makes the directory at the
    // service's start (as its user), and the desk makes it where it may.
    if !dir.exists() {
        return found(
            Level::Warn,
            "database",
            format!(
                "{} does not exist yet, nor its directory {}: systemd makes it at the service's start (StateDirectory= in the shipped unit), or the desk at its first start where it may",
                path.display(),
                dir.display()
            ),
        );
    }
    let probe = dir.join(format!(".secdesk-check-{}", std::process::id()));
    match std::fs::write(&probe, b"") {
        Ok(()) => {
            let _ = std::fs::remove_file(&probe);
            found(
                Level::Ok,
                "database",
                format!(
                    "{} does not exist yet; {} is writable, it will be created at the first start",
                    path.display(),
                    dir.display()
                ),
            )
        }
        Err(e) => found(
            Level::Fail,
            "database",
            format!("cannot create {} : {e} (desk.database)", path.display()),
        ),
    }
}

/// `secdesk check`: runs every check and prints the report; exit code 2 when one failed.
pub fn run(path: &Path, out: &mut super::Output) -> anyhow::Result<std::process::ExitCode> {
    let rt = tokio::runtime::Runtime::new()?;
    let findings = rt.block_on(check(path, &SecretSources::from_process()));
    for f in &findings {
        out.line(&f.to_string());
    }
    let failed = findings.iter().filter(|f| f.level == Level::Fail).count();
    if failed == 0 {
        out.line("\nAll checks passed.");
        Ok(std::process::ExitCode::SUCCESS)
    } else {
        out.line(&format!(
            "\n{failed} check{} failed.",
            if failed == 1 { "" } else { "s" }
        ));
        Ok(std::process::ExitCode::from(2))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(extra: &str, authserv: bool) -> Vec<String> {
        let text = format!(
            "[desk]\naddress = \"security@example.org\"\n[imap]\nhost = \"i\"\nusername = \"u\"\n[smtp]\nhost = \"s\"\n[team]\nmembers = [\"alice@example.org\"]\n{}{extra}",
            if authserv {
                "authserv_id = \"mx.example.org\"\n"
            } else {
                "require_authenticated_commands = false\n"
            }
        );
        let config = Config::from_toml(&text, &SecretSources::not_needed()).unwrap();
        spam_findings(&config)
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    /// A misnamed override (`acknowledgement.txt` for `ack.txt`) was ignored while
    /// `check` said the overrides were in use.
    #[test]
    fn a_template_file_that_overrides_nothing_is_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("acknowledgement.txt"), "x").unwrap();
        std::fs::write(
            dir.path().join("ack.txt"),
            "Subject: Re: {{ subject }}\n\nThanks.\n",
        )
        .unwrap();
        let text = format!(
            "[desk]\naddress = \"security@example.org\"\ntemplates = \"{}\"\n[imap]\nhost = \"i\"\nusername = \"u\"\n[smtp]\nhost = \"s\"\n[team]\nmembers = [\"alice@example.org\"]\nrequire_authenticated_commands = false\n",
            dir.path().display()
        );
        let config = Config::from_toml(&text, &SecretSources::not_needed()).unwrap();
        let found: Vec<String> = check_templates(&config)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert!(
            found
                .iter()
                .any(|f| f.starts_with("WARN templates") && f.contains("acknowledgement.txt")),
            "{found:?}"
        );
    }

    /// On a fresh server (the README's deploy steps make no /var/lib/secdesk: systemd
    /// does), `check` failed although the daemon would start.
    #[test]
    fn a_database_directory_not_made_yet_is_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        let f = check_database(&dir.path().join("state/secdesk.db")).to_string();
        assert!(f.starts_with("WARN database"), "{f}");
        assert!(f.contains("StateDirectory="), "{f}");
    }

    #[test]
    fn check_says_what_the_receiving_server_must_stamp_and_strip() {
        assert_eq!(
            lines("", true),
            [
                "ok   spam      new mail is suspect on Authentication-Results stamped by mx.example.org (dmarc=fail, or spf=fail without an aligned dkim=pass), or on SpamAssassin's X-Spam-Flag / X-Spam-Status headers, or a score of 5.0 or more; the receiving server must stamp these headers itself and remove any arriving from outside (a sender could write them to pass, or to have a real report quarantined)",
                "ok   spam      a summary of the day's suspect mail goes to the team at 09:00 (UTC) on days that had some",
            ]
        );
        let l = lines("[spam]\nfilter = \"rspamd\"\nsummary = \"none\"\n", false);
        assert!(
            l[0].contains("rspamd's X-Spam / X-Rspamd-Action / X-Rspamd-Score headers"),
            "{l:?}"
        );
        assert!(
            l[1].starts_with("WARN spam      no team.authserv_id"),
            "{l:?}"
        );
        assert!(l[2].contains("no daily summary"), "{l:?}");
        let l = lines("[spam]\nfilter = \"none\"\n", false);
        assert!(
            l[0].starts_with("WARN spam      no team.authserv_id and spam.filter = \"none\""),
            "{l:?}"
        );
    }
}
