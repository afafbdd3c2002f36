//! The `secdesk` command: argument parsing and dispatch to `cli/`, one file per
//! subcommand. Errors are printed once, as a chain, in plain words.

use anyhow::Result;
use clap::{Parser, Subcommand};
use secdesk::cli;
use secdesk::clock::SystemClock;
use std::path::PathBuf;
use std::process::ExitCode;

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
        /// Only the cases in the spam state (suspect mail, `#spam`).
        #[arg(long, conflicts_with_all = ["all", "open"])]
        spam: bool,
        /// Only the cases of this desk (`[desks.NAME]`, or `main` for the top level).
        #[arg(long)]
        desk: Option<String>,
    },
    /// Show one case: its summary and timeline.
    Case { id: String },
    /// List the coming deadlines and reminders.
    Deadlines {
        /// Only this desk's (`[desks.NAME]`, or `main` for the top level).
        #[arg(long)]
        desk: Option<String>,
    },
    /// Print a case's advisory (for review before publication).
    Advisory {
        id: String,
        #[arg(long, value_enum, default_value = "markdown")]
        format: cli::advisory::Format,
        /// Write `<id>.md` and `<id>.json` (one pair per package) into this folder
        /// instead of printing.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Write every deadline as an iCalendar file.
    Calendar {
        #[arg(long, short, default_value = "secdesk-deadlines.ics")]
        output: PathBuf,
        /// Only this desk's (`[desks.NAME]`, or `main` for the top level).
        #[arg(long)]
        desk: Option<String>,
    },
    /// Bring an existing archive (mbox file or Maildir) in as cases, sending nothing.
    Import { path: PathBuf },
    /// Write a consistent copy of the database, even while the desk runs.
    Backup { file: PathBuf },
    /// File one suspect mail for a running desk (what `run` starts; not for people).
    #[command(hide = true)]
    FileOne {
        #[arg(long)]
        config_digest: String,
        #[arg(long)]
        raw_id: i64,
        #[arg(long)]
        now: chrono::DateTime<chrono::Utc>,
    },
}

fn main() -> ExitCode {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    cli::logging::init();
    let mut out = cli::Output::default();
    let result = run(cli, &mut out);
    cli::finish(out, result)
}

fn run(cli: Cli, out: &mut cli::Output) -> Result<ExitCode> {
    let clock = SystemClock;
    let config = cli.config.as_path();
    match cli.command {
        Command::Run => cli::run::run(config),
        Command::Check => cli::check::run(config, out),
        Command::Cases {
            open: _,
            all,
            spam,
            desk,
        } => {
            let which = match (all, spam) {
                (_, true) => cli::cases::Which::Spam,
                (true, false) => cli::cases::Which::All,
                (false, false) => cli::cases::Which::Open,
            };
            cli::cases::run(config, which, desk.as_deref(), out)
        }
        Command::Case { id } => cli::case::run(config, &id, out),
        Command::Deadlines { desk } => cli::deadlines::run(config, &clock, desk.as_deref(), out),
        Command::Advisory {
            id,
            format,
            out: dir,
        } => cli::advisory::run(config, &id, format, dir.as_deref(), out),
        Command::Calendar { output, desk } => {
            cli::calendar::run(config, &output, &clock, desk.as_deref(), out)
        }
        Command::Import { path } => cli::import::run(config, &path, &clock, out),
        Command::Backup { file } => cli::backup::run(config, &file, out),
        Command::FileOne {
            config_digest,
            raw_id,
            now,
        } => cli::file_one::run(config, &config_digest, raw_id, now),
    }
}
