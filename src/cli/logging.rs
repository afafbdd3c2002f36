//! Logging for every subcommand: to the journal under systemd, plain lines on stderr
//! otherwise; the protocol libraries capped at `info` whatever `SECDESK_LOG` says.

/// The libraries that log secrets or mail below info: lettre every line it writes (AUTH
/// with the password, encoded), async-imap the LOGIN command and every mail it reads;
/// rustls's handshake traces are only noise here.
const CAPPED: [&str; 3] = ["lettre", "async_imap", "rustls"];

/// Whether an event of `target` at `level` may be logged: a capped library's only at
/// info and above, whatever the filter says (a directive naming one of its modules,
/// `lettre::transport::smtp=debug`, outranks one naming the crate).
fn allowed(target: &str, level: &tracing::Level) -> bool {
    let capped = CAPPED.iter().any(|c| {
        target
            .strip_prefix(c)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
    });
    !capped || *level <= tracing::Level::INFO
}

pub fn init() {
    use tracing_subscriber::EnvFilter;
    use tracing_subscriber::prelude::*;
    let filter = EnvFilter::try_from_env("SECDESK_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let cap = tracing_subscriber::filter::filter_fn(|m| allowed(m.target(), m.level()));
    // Under systemd, stderr is the journal: send structured fields there when we can,
    // plain lines otherwise (containers and CI have no journald socket).
    if std::env::var_os("JOURNAL_STREAM").is_some()
        && let Ok(journald) = tracing_journald::layer()
    {
        tracing_subscriber::registry()
            .with(filter)
            .with(cap)
            .with(journald)
            .init();
        return;
    }
    let plain = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false);
    tracing_subscriber::registry()
        .with(filter)
        .with(cap)
        .with(plain)
        .init();
}

#[cfg(test)]
mod tests {
    use super::allowed;
    use tracing::Level;

    #[test]
    fn the_protocol_libraries_log_info_at_most() {
        assert!(!allowed("lettre::transport::smtp::client", &Level::DEBUG));
        assert!(!allowed("async_imap", &Level::TRACE));
        assert!(allowed("lettre", &Level::INFO));
        assert!(allowed("async_imap::client", &Level::WARN));
        assert!(allowed("lettres_are_fine", &Level::DEBUG));
        assert!(allowed("secdesk::service", &Level::TRACE));
    }
}
