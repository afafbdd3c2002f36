//! Logging for every subcommand: to the journal under systemd, plain lines on stderr
//! otherwise; the protocol libraries capped at `info` whatever `SECDESK_LOG` says.

pub fn init() {
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
