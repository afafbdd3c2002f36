//! Logging for every subcommand: one line per event on stderr, each field in it, with
//! its syslog priority under systemd (journald reads it); the protocol libraries capped
//! at `info` whatever `SECDESK_LOG` says.

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

/// Each event as exactly one line: the formatter's text with every control character
/// (a line break in an error from a server, in a value from mail) written as an escape,
/// so no value can begin a line of its own (a forged entry, with its own priority,
/// under systemd). Under systemd the line starts with its syslog priority (`<3>` for an
/// error), which journald takes as the entry's, and has no time (journald stamps it).
struct OneLine<F> {
    inner: F,
    priority: bool,
}

impl<S, N, F> tracing_subscriber::fmt::FormatEvent<S, N> for OneLine<F>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    N: for<'a> tracing_subscriber::fmt::FormatFields<'a> + 'static,
    F: tracing_subscriber::fmt::FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &tracing_subscriber::fmt::FmtContext<'_, S, N>,
        mut writer: tracing_subscriber::fmt::format::Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let mut line = String::new();
        self.inner.format_event(
            ctx,
            tracing_subscriber::fmt::format::Writer::new(&mut line),
            event,
        )?;
        if self.priority {
            write!(writer, "<{}>", priority(event.metadata().level()))?;
        }
        let line =
            crate::text::escape_controls(line.trim_end_matches('\n'), crate::text::Layout::OneLine);
        writeln!(writer, "{}", capped(&line))
    }
}

/// The longest line written, in bytes: well below journald's `LineMax` (48 KiB by
/// default), past which it cuts a line and stores the rest as an entry of its own, which
/// a value from mail would begin.
const MAX_LINE: usize = 16 << 10;

/// `line` whole, or its first [`MAX_LINE`] bytes and how many more there were.
fn capped(line: &str) -> std::borrow::Cow<'_, str> {
    if line.len() <= MAX_LINE {
        return std::borrow::Cow::Borrowed(line);
    }
    let mut cut = MAX_LINE;
    while !line.is_char_boundary(cut) {
        cut -= 1;
    }
    std::borrow::Cow::Owned(format!(
        "{}… [{} more bytes]",
        &line[..cut],
        line.len() - cut
    ))
}

/// The lines under systemd: no time (journald stamps them), each with its priority.
fn journal_format()
-> OneLine<tracing_subscriber::fmt::format::Format<tracing_subscriber::fmt::format::Full, ()>> {
    OneLine {
        inner: tracing_subscriber::fmt::format()
            .with_ansi(false)
            .with_target(false)
            .without_time(),
        priority: true,
    }
}

/// The syslog priority of a level, as journald reads it from a line's `<N>` prefix.
fn priority(level: &tracing::Level) -> u8 {
    match *level {
        tracing::Level::ERROR => 3,
        tracing::Level::WARN => 4,
        tracing::Level::INFO => 6,
        _ => 7,
    }
}

pub fn init() {
    use tracing_subscriber::EnvFilter;
    use tracing_subscriber::prelude::*;
    let filter = EnvFilter::try_from_env("SECDESK_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let cap = tracing_subscriber::filter::filter_fn(|m| allowed(m.target(), m.level()));
    // Under systemd, stderr is the journal. Each event is one line holding its message
    // and every field (the case, the error, the key to check): journald's own fields
    // were not shown by `journalctl`, which printed "cannot reach the inbox" without
    // the reason.
    let systemd = std::env::var_os("JOURNAL_STREAM").is_some();
    let format = tracing_subscriber::fmt::format()
        .with_ansi(false)
        .with_target(false);
    let layer = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    if systemd {
        let layer = layer.event_format(journal_format());
        tracing_subscriber::registry()
            .with(filter)
            .with(cap)
            .with(layer)
            .init();
    } else {
        let layer = layer.event_format(OneLine {
            inner: format,
            priority: false,
        });
        tracing_subscriber::registry()
            .with(filter)
            .with(cap)
            .with(layer)
            .init();
    }
}

#[cfg(test)]
mod tests {
    use super::allowed;
    use tracing::Level;

    /// What the events `log` makes are written as under systemd.
    fn journal_of(log: impl FnOnce()) -> String {
        use std::sync::{Arc, Mutex};
        #[derive(Clone, Default)]
        struct Buf(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Buf {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buf = Buf::default();
        let writer = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .event_format(super::journal_format())
            .finish();
        tracing::subscriber::with_default(subscriber, log);
        String::from_utf8(buf.0.lock().unwrap().clone()).unwrap()
    }

    /// Under systemd every field is on the event's line, which journald shows (its own
    /// fields it did not: "cannot reach the inbox", without why), with the event's
    /// priority, and a line break in a value cannot begin a forged entry.
    #[test]
    fn a_journal_line_holds_every_field_and_is_one_line() {
        let text = journal_of(|| {
            tracing::error!(
                // Displayed, as errors are: written as is by the formatter.
                error = %"login refused\n<0>forged entry",
                check = "imap.username",
                "cannot reach the inbox"
            );
            tracing::info!(case = "SEC-2026-0001", "mail filed");
        });
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(lines[0].starts_with("<3>"), "{text}");
        for part in [
            "cannot reach the inbox",
            "login refused\\u{a}<0>forged entry",
            "imap.username",
        ] {
            assert!(lines[0].contains(part), "{part}: {text}");
        }
        assert!(
            lines[1].starts_with("<6>") && lines[1].contains("case=\"SEC-2026-0001\""),
            "{text}"
        );
    }

    /// A value of 80 KB from mail (a Message-ID of direction overrides, each escaped
    /// to eight bytes): journald cuts a line at 48 KiB and stores the rest as an entry
    /// of its own, which the mail's tail would begin. The line is cut short first.
    #[test]
    fn a_journal_line_is_cut_below_journalds_line_limit() {
        let id = "\u{202e}".repeat(10_000) + "FORGED";
        let text = journal_of(|| {
            tracing::info!(message_id = %id, "duplicate mail: already on file");
        });
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 1);
        assert!(lines[0].len() < 20 << 10, "{} bytes", lines[0].len());
        assert!(
            lines[0].ends_with("more bytes]"),
            "{}",
            &lines[0][lines[0].len() - 40..]
        );
        assert!(!text.contains("FORGED"));
    }

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
