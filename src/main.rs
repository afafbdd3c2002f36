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
}

/// `secdesk cases | head`: once the reader has gone, printing fails; end quietly with
/// 141 (128 + SIGPIPE, what the shell reports for a program killed by the broken pipe)
/// instead of a panic message and a backtrace.
fn quiet_on_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let text = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("");
        if text.starts_with("failed printing to std") && text.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info);
    }));
}

fn main() -> ExitCode {
    quiet_on_broken_pipe();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    cli::logging::init();
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
    let config = cli.config.as_path();
    match cli.command {
        Command::Run => cli::run::run(config),
        Command::Check => cli::check::run(config),
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
            cli::cases::run_desk(config, which, desk.as_deref())
        }
        Command::Case { id } => cli::case::run(config, &id),
        Command::Deadlines { desk } => cli::deadlines::run_desk(config, &clock, desk.as_deref()),
        Command::Advisory { id, format } => cli::advisory::run(config, &id, format, &clock),
        Command::Calendar { output, desk } => {
            cli::calendar::run_desk(config, &output, &clock, desk.as_deref())
        }
        Command::Import { path } => cli::import::run(config, &path, &clock),
        Command::Backup { file } => cli::backup::run(config, &file),
    }
}
