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

    out.push(check_database(&config.desk.database));

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
            match ingest::select(&mut session, &config.imap.mailbox).await {
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
            if ingest::has_idle(&mut session).await {
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
            let key = match e {
                ingest::IngestError::Login { .. } => "imap.username / imap.password_file",
                ingest::IngestError::Tls { .. } => "imap.tls / imap.ca_file",
                _ => "imap.host / imap.port",
            };
            out.push(found(Level::Fail, "imap", format!("{e} (check {key})")));
        }
    }

    match Mailer::new(&config.smtp, &config.desk.hostname) {
        Ok(m) => match m.test_connection().await {
            Ok(()) => out.push(found(
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
            )),
            Err(e) => out.push(found(
                Level::Fail,
                "smtp",
                format!(
                    "{}:{}: {e} (check smtp.host / smtp.port / smtp.tls / credentials)",
                    config.smtp.host, config.smtp.port
                ),
            )),
        },
        Err(e) => out.push(found(Level::Fail, "smtp", e.to_string())),
    }
    out
}

fn check_database(path: &Path) -> Finding {
    if path.exists() {
        return match Store::open(path).and_then(|s| s.integrity_check()) {
            Ok(r) if r == "ok" => found(
                Level::Ok,
                "database",
                format!("{} opens and passes its integrity check", path.display()),
            ),
            Ok(r) => found(
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
