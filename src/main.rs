//! The `secdesk` command: argument parsing, logging set-up and dispatch. Everything it
//! does is a library call; errors are printed once, as a chain, in plain words.

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};
use secdesk::cli::{check, import};
use secdesk::clock::{Clock, SystemClock};
use secdesk::config::{Config, SecretSources};
use secdesk::publish::{ical, publication, report};
use secdesk::service::db::Db;
use secdesk::service::process::Desk;
use secdesk::service::{daemon, scheduler};
use secdesk::store::Store;
use secdesk::types::CaseId;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Parser)]
#[command(
    name = "secdesk",
    version,
    about = "The security desk of an open-source project: answers security@, keeps every case, reminds the team of deadlines."
)]
struct Cli {
    /// The configuration file.
    #[arg(
        long,
        short,
        global = true,
        env = "SECDESK_CONFIG",
        default_value = "/etc/secdesk/config.toml"
    )]
    config: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the desk in the foreground (what the systemd service does).
    Run,
    /// Validate the config and templates, try the IMAP and SMTP logins.
    Check,
    /// List cases (open ones by default).
    Cases {
        #[arg(long, conflicts_with = "all")]
        open: bool,
        #[arg(long)]
        all: bool,
    },
    /// Show one case: its summary and timeline.
    Case { id: String },
    /// List the coming deadlines and reminders.
    Deadlines,
    /// Print a case's advisory (for review before publication).
    Advisory {
        id: String,
        #[arg(long, value_enum, default_value = "markdown")]
        format: Format,
    },
    /// Write every deadline as an iCalendar file.
    Calendar {
        #[arg(long, short, default_value = "secdesk-deadlines.ics")]
        output: PathBuf,
    },
    /// Bring an existing archive (mbox file or Maildir) in as cases, sending nothing.
    Import { path: PathBuf },
    /// Write a consistent copy of the database, even while the desk runs.
    Backup { file: PathBuf },
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Osv,
    Markdown,
}

fn init_logging() {
    use tracing_subscriber::EnvFilter;
    use tracing_subscriber::prelude::*;
    let mut filter =
        EnvFilter::try_from_env("SECDESK_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    // Below info, lettre logs every line it writes (AUTH with the password, encoded) and
    // async-imap the LOGIN command and every mail it reads: neither may reach the journal,
    // whatever SECDESK_LOG asks for. rustls's handshake traces are only noise here.
    for quiet in ["lettre=info", "async_imap=info", "rustls=info"] {
        if let Ok(directive) = quiet.parse() {
            filter = filter.add_directive(directive);
        }
    }
    // Under systemd, stderr is the journal: send structured fields there when we can,
    // plain lines otherwise (containers and CI have no journald socket).
    if std::env::var_os("JOURNAL_STREAM").is_some()
        && let Ok(journald) = tracing_journald::layer()
    {
        tracing_subscriber::registry()
            .with(filter)
            .with(journald)
            .init();
        return;
    }
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
}

fn load(path: &Path, secrets: &SecretSources) -> Result<Config> {
    Config::load(path, secrets).map_err(|e| anyhow::anyhow!("{e}"))
}

fn desk(path: &Path) -> Result<Desk> {
    let config = load(path, &SecretSources::not_needed())?;
    let templates = daemon::load_templates(&config)?;
    Ok(Desk::new(config, templates))
}

fn open_existing(config: &Config) -> Result<Store> {
    let path = &config.desk.database;
    if !path.exists() {
        bail!(
            "there is no database at {} yet (desk.database): start the desk once, or import an archive",
            path.display()
        );
    }
    Store::open(path).with_context(|| format!("opening {}", path.display()))
}

fn case_id(text: &str) -> Result<CaseId> {
    CaseId::parse(text)
        .with_context(|| format!("`{text}` is not a case id (expected e.g. SEC-2026-0007)"))
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => tracing::info!("SIGTERM received"),
                _ = int.recv() => tracing::info!("SIGINT received"),
            }
        }
        _ => {
            // Without signal handlers the only way out is being killed; say so.
            tracing::error!("cannot install signal handlers; stop the desk with SIGKILL");
            std::future::pending::<()>().await;
        }
    }
}

fn main() -> ExitCode {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    init_logging();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("secdesk: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    let clock = SystemClock;
    match cli.command {
        Command::Run => {
            let config = load(&cli.config, &SecretSources::from_process())?;
            let rt = tokio::runtime::Runtime::new()?;
            rt.block_on(daemon::run(config, Arc::new(clock), shutdown_signal()))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Check => {
            let rt = tokio::runtime::Runtime::new()?;
            let findings = rt.block_on(check::check(&cli.config, &SecretSources::from_process()));
            for f in &findings {
                println!("{f}");
            }
            let failed = findings
                .iter()
                .filter(|f| f.level == check::Level::Fail)
                .count();
            if failed == 0 {
                println!("\nAll checks passed.");
                Ok(ExitCode::SUCCESS)
            } else {
                println!(
                    "\n{failed} check{} failed.",
                    if failed == 1 { "" } else { "s" }
                );
                Ok(ExitCode::from(2))
            }
        }
        Command::Cases { open: _, all } => {
            let config = load(&cli.config, &SecretSources::not_needed())?;
            let mut store = open_existing(&config)?;
            let cal = &config.calendar;
            // Streamed: the column widths first (one query), then each case as it is
            // read, so `--all` on a large desk neither waits nor holds every case.
            let header = [
                "CASE",
                "STATUS",
                "RESPONDER",
                "SEVERITY",
                "OPENED",
                "MAILS",
                "REPORTER",
                "SUBJECT",
            ];
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            let mut listed = 0usize;
            let mut write_err = None;
            store.read(|tx| {
                let [id, status, responder, severity, reporter] = tx.case_list_widths(!all)?;
                let widths: Vec<usize> = [id, status, responder, severity, 10, 0, reporter, 0]
                    .iter()
                    .zip(header)
                    .map(|(w, h)| (*w).max(h.chars().count()))
                    .collect();
                let head: Vec<String> = header.iter().map(|h| h.to_string()).collect();
                if let Err(e) = out.write_all(report::table_row(&widths, &head).as_bytes()) {
                    write_err = Some(e);
                    return Ok(());
                }
                tx.each_case(!all, |s| {
                    if write_err.is_some() {
                        return Ok(());
                    }
                    let row = vec![
                        s.case.id.to_string(),
                        s.case.status.to_string(),
                        s.case.assignee.clone().unwrap_or_else(|| "-".into()),
                        s.case
                            .severity
                            .map(|x| x.to_string())
                            .unwrap_or_else(|| "-".into()),
                        s.case
                            .opened_at
                            .with_timezone(&cal.tz())
                            .format("%Y-%m-%d")
                            .to_string(),
                        s.messages.to_string(),
                        s.case.reporter.clone().unwrap_or_else(|| "-".into()),
                        s.case.subject.clone(),
                    ];
                    listed += 1;
                    if let Err(e) = out.write_all(report::table_row(&widths, &row).as_bytes()) {
                        write_err = Some(e);
                    }
                    Ok(())
                })
            })?;
            if listed == 0 {
                writeln!(out, "(no {}cases)", if all { "" } else { "open " })?;
            }
            match write_err {
                // `secdesk cases --all | head`: the reader left; that is not an error.
                Some(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
                Some(e) => return Err(e.into()),
                None => match out.flush() {
                    Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => return Err(e.into()),
                    _ => {}
                },
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Case { id } => {
            let config = load(&cli.config, &SecretSources::not_needed())?;
            let id = case_id(&id)?;
            let mut store = open_existing(&config)?;
            let (case, events) = store.read(|tx| Ok((tx.load_case(&id)?, tx.events(&id)?)))?;
            let Some(case) = case else {
                bail!("there is no case {id}")
            };
            print!("{}", report::case_text(&case, &events, &config.calendar));
            Ok(ExitCode::SUCCESS)
        }
        Command::Deadlines => {
            let d = desk(&cli.config)?;
            let mut store = open_existing(&d.config)?;
            let pending = store.read(|tx| tx.pending_reminders())?;
            let cal = &d.config.calendar;
            let rows: Vec<Vec<String>> = pending
                .iter()
                .map(|r| {
                    vec![
                        cal.format_instant(r.due),
                        r.scope.replace('*', "(team)"),
                        r.kind.clone(),
                        cal.format_instant(r.deadline),
                        r.note.clone(),
                    ]
                })
                .collect();
            println!(
                "Times in {}; now {}.\n",
                cal.tz().name(),
                cal.format_instant(clock.now())
            );
            print!(
                "{}",
                report::table(&["REMINDER DUE", "CASE", "KIND", "DEADLINE", "NOTE"], &rows)
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Advisory { id, format } => {
            let d = desk(&cli.config)?;
            let id = case_id(&id)?;
            let mut store = open_existing(&d.config)?;
            let (case, events) = store.read(|tx| Ok((tx.load_case(&id)?, tx.events(&id)?)))?;
            let Some(case) = case else {
                bail!("there is no case {id}")
            };
            let adv_id = publication::draft_id(&case, &d.config);
            let adv = publication::advisory_for(&case, &events, &d.config, &adv_id, clock.now());
            for p in secdesk::publish::advisory::problems(&adv) {
                eprintln!("note: {p}");
            }
            match format {
                Format::Osv => print!("{}", secdesk::publish::advisory::to_osv_json(&adv)),
                Format::Markdown => print!("{}", secdesk::publish::advisory::to_markdown(&adv)),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Calendar { output } => {
            let d = desk(&cli.config)?;
            let mut store = open_existing(&d.config)?;
            let events = calendar_events(&d, &mut store)?;
            let text = ical::write_calendar(&d.config.desk.name, clock.now(), &events);
            std::fs::write(&output, text)
                .with_context(|| format!("writing {}", output.display()))?;
            println!(
                "{} deadline{} written to {}",
                events.len(),
                if events.len() == 1 { "" } else { "s" },
                output.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Import { path } => {
            let d = desk(&cli.config)?;
            let mut store = Store::open(&d.config.desk.database)?;
            let r = import::import(&d, &mut store, &path, &clock)?;
            println!(
                "{} message{} read from {}: {} new case{}, {} already on file. Nothing was sent.",
                r.messages,
                if r.messages == 1 { "" } else { "s" },
                path.display(),
                r.cases_opened,
                if r.cases_opened == 1 { "" } else { "s" },
                r.duplicates
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Backup { file } => {
            let config = load(&cli.config, &SecretSources::not_needed())?;
            let db = Db::from_store(open_existing(&config)?);
            db.blocking(|s| s.backup_to(&file))?;
            println!("backup written to {} (mode 0600)", file.display());
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Every deadline of the open cases, as calendar events.
fn calendar_events(d: &Desk, store: &mut Store) -> Result<Vec<ical::Event>> {
    let cases = store.read(|tx| tx.list_cases(true))?;
    let reminders = store.read(|tx| tx.pending_reminders())?;
    let cal = &d.config.calendar;
    let host = &d.config.desk.hostname;
    let mut events = Vec::new();
    for s in &cases {
        let c = &s.case;
        if let Some((t, what)) =
            scheduler::next_deadline(d, c).filter(|(_, w)| *w == "first answer")
        {
            events.push(ical::Event {
                uid: format!("{}-first-answer@{host}", c.id.plus_tag()),
                start: t,
                summary: format!("[{}] {what} due: {}", c.id, c.subject),
                description: format!(
                    "The reporter of {} must hear from a person by {}.",
                    c.id,
                    cal.format_instant(t)
                ),
            });
        }
        if let Some(end) = c.embargo_end {
            let t = secdesk::desk::deadlines::embargo_end_instant(cal, end);
            events.push(ical::Event {
                uid: format!("{}-embargo@{host}", c.id.plus_tag()),
                start: t,
                summary: format!("[{}] embargo ends: {}", c.id, c.subject),
                description: format!(
                    "The embargo of {} ends on {}. Status: {}.",
                    c.id,
                    cal.format_date(end),
                    c.status
                ),
            });
        }
    }
    for r in reminders.iter().filter(|r| r.kind == "one-off") {
        events.push(ical::Event {
            uid: format!("reminder-{}@{host}", r.id),
            start: r.due,
            summary: format!("[{}] {}", r.scope, r.note),
            description: format!("Reminder for {}: {}", r.scope, r.note),
        });
    }
    events.sort_by(|a, b| a.start.cmp(&b.start).then_with(|| a.uid.cmp(&b.uid)));
    Ok(events)
}
