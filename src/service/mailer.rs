//! The outbox's way out: sends queued mail over SMTP and records the result.
//!
//! Invariants: only this module speaks SMTP. A connection that cannot be made (refused,
//! silent, TLS, a greeting or a login refused — a rotated password) is no verdict on any
//! mail: no row is touched, the loop says what is wrong and tries again with growing
//! backoff. Only a 5xx answer to a mail's own `MAIL FROM`, `RCPT TO` or `DATA` fails it
//! for good (recorded on the case, told to the team when the mail was for someone outside
//! it). An attempt is counted (and the next one scheduled) before it is made, so a crash
//! mid-send leads to a later retry, never a tight loop. Every step has a deadline.

use crate::clock::Clock;
use crate::config::{Secret, SmtpConfig, TlsMode};
use crate::service::db::Db;
use crate::service::health::Beat;
use crate::service::process::Desk;
use crate::service::shutdown::Shutdown;
use crate::store::{self, OutboxRow};
use chrono::{DateTime, Duration, Utc};
use lettre::Address;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{
    AsyncSmtpConnection, AsyncTokioStream, Certificate, TlsParameters,
};
use lettre::transport::smtp::extension::ClientId;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// The outcome of one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    Sent,
    /// Worth retrying: a 4xx answer.
    Transient(String),
    /// The connection broke or went silent while this mail was on it: retried soon, on a
    /// new connection.
    Broken(String),
    /// The server refused for good (5xx), or the row cannot be sent as it is.
    Permanent(String),
    /// The server wants a login first (`530`): no verdict on this mail, nor on any other
    /// until the config gives one.
    LoginNeeded(String),
    /// The server refuses the desk's own address at `MAIL FROM` for good (a login that
    /// may not send as it): a verdict on the configuration, never on this mail, which
    /// waits as behind a refused login.
    SenderRefused(String),
}

/// Where a transaction stopped: at the sender (`MAIL FROM`), later (a recipient, the
/// data), or before the server was asked (the server cannot take this mail at all).
enum Stopped {
    AtSender(lettre::transport::smtp::Error),
    Later(lettre::transport::smtp::Error),
    Unsendable(String),
}

/// Why no connection could be made: nothing was tried, every mail waits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreachable {
    pub text: String,
    /// The config keys to look at.
    pub keys: &'static str,
}

impl std::fmt::Display for Unreachable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (check {})", self.text, self.keys)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MailerError {
    #[error("smtp: {0}")]
    Setup(String),
}

/// An SMTP client for the configured server. It opens its own sockets (with
/// `TCP_NODELAY`: lettre writes a message's body and its final dot separately, which
/// Nagle's algorithm and the server's delayed ACK otherwise stall by ~40 ms per mail)
/// and lets lettre speak the protocol on them.
pub struct Mailer {
    cfg: SmtpConfig,
    hello: ClientId,
}

/// What protects a connection, from the configuration and `smtp.ca_file` as they are
/// now: for STARTTLS (lettre upgrades the connection), or for implicit TLS (the socket is
/// wrapped before the greeting). Built for each connection, as the IMAP side does: a CA
/// file replaced on disk (the relay's CA rotated) is read at the next connection, with
/// no restart.
fn tls_of(
    cfg: &SmtpConfig,
) -> Result<(Option<TlsParameters>, Option<tokio_rustls::TlsConnector>), String> {
    Ok(match cfg.tls {
        TlsMode::StartTls => {
            let mut b = TlsParameters::builder(cfg.host.clone());
            if let Some(ca) = &cfg.ca_file {
                let pem = std::fs::read(ca)
                    .map_err(|e| format!("cannot read smtp.ca_file {}: {e}", ca.display()))?;
                let cert = Certificate::from_pem(&pem)
                    .map_err(|e| format!("smtp.ca_file {}: {e}", ca.display()))?;
                b = b.add_root_certificate(cert);
            }
            (Some(b.build_rustls().map_err(|e| e.to_string())?), None)
        }
        TlsMode::Implicit => {
            let config = crate::service::tls::client_config(cfg.ca_file.as_deref())
                .map_err(|e| e.to_string())?;
            (None, Some(tokio_rustls::TlsConnector::from(config)))
        }
        TlsMode::None => (None, None),
    })
}

/// One session with the server, reused for every mail of a pass (and of the passes
/// that follow at once, while a backlog goes out: see [`Connections`]).
pub struct Session {
    conn: AsyncSmtpConnection,
    limit: std::time::Duration,
}

/// The sessions a pass leaves open for the next pass, when more rows are due at once: a
/// backlog of thousands of mails goes out over the same few connections, instead of a TLS
/// handshake (on both sides) for every connection of every 100 rows.
#[derive(Default)]
pub struct Connections(Vec<Session>);

impl Connections {
    /// Says goodbye on every connection kept.
    pub async fn close(&mut self) {
        for s in self.0.drain(..) {
            s.quit().await;
        }
    }
}

/// A TLS socket, as lettre wants an opaque stream for implicit TLS.
#[derive(Debug)]
struct TlsSocket(tokio_rustls::client::TlsStream<TcpStream>);

impl AsyncRead for TlsSocket {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsSocket {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }
}

impl AsyncTokioStream for TlsSocket {
    fn peer_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.0.get_ref().0.peer_addr()
    }
}

/// At which failed try of a mail still retried its case and team are told it waits
/// (about three hours on, with [`backoff`]): once, as the desk goes on trying. A mail
/// meant for someone outside the team, deferred for ever, was news to nobody.
pub const TELL_DEFERRED_AT: u32 = 10;

/// How long to wait before attempt `n + 1` after `n` failed ones: 30 s doubling, at most
/// an hour.
pub fn backoff(attempts: u32) -> Duration {
    let exp = attempts.saturating_sub(1).min(7);
    Duration::seconds((30_i64 << exp).min(3600))
}

/// How long before a mail whose connection broke under it is tried again: short (the
/// loop's own backoff governs while the server is away), doubling so that a mail that
/// breaks every connection does not hold up the others.
pub fn broken_backoff(attempts: u32) -> Duration {
    let exp = attempts.saturating_sub(1).min(11);
    Duration::seconds((2_i64 << exp).min(3600))
}

/// The longest a healthy mailer loop goes without a tick: a sleep or a backoff, then a
/// connection and one send, each bounded.
pub fn beat_bound(cfg: &SmtpConfig, max_sleep: std::time::Duration) -> std::time::Duration {
    bound_of(cfg.timeout, max_sleep)
}

fn bound_of(timeout: std::time::Duration, max_sleep: std::time::Duration) -> std::time::Duration {
    max_sleep
        .max(std::time::Duration::from_secs(300))
        .saturating_add(timeout.saturating_mul(12))
}

/// How long the sending of a mail of `bytes` may take: the SMTP timeout for each
/// megabyte and one more, but never so long that the watchdog ends the desk first (a
/// notice of 17 MB to a relay gone silent had 18 minutes against a bound of 17, the
/// desk killed at each retry): the least [`beat_bound`] less six timeouts, room for the
/// connection before it.
pub fn send_deadline(timeout: std::time::Duration, bytes: usize) -> std::time::Duration {
    let megabytes = u32::try_from(bytes / 1_000_000).unwrap_or(u32::MAX);
    timeout
        .saturating_mul(megabytes.saturating_add(1))
        .min(std::time::Duration::from_secs(300).saturating_add(timeout.saturating_mul(6)))
}

/// How long a mail sent again may take, for a relay slow to answer its data: a relay
/// has the mail once the final dot is in (Postfix gives its filters five minutes before
/// it answers), so a try given up while it thinks delivers a copy, and one given up at
/// every try delivers one at every try. RFC 5321 §4.5.3.2.6 waits ten minutes for that
/// answer; a first try waits the timeout (a network gone silent is found soon), a try
/// after a failed one up to ten minutes, within the room [`send_deadline`] keeps from
/// the watchdog.
pub fn answer_wait(timeout: std::time::Duration) -> std::time::Duration {
    std::time::Duration::from_secs(600)
        .min(std::time::Duration::from_secs(300).saturating_add(timeout.saturating_mul(6)))
        .max(timeout)
}

/// Runs one SMTP step with a deadline.
async fn timed<T>(
    limit: std::time::Duration,
    step: impl std::future::Future<Output = Result<T, lettre::transport::smtp::Error>>,
) -> Result<T, String> {
    match tokio::time::timeout(limit, step).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(describe(&e)),
        Err(_) => Err(format!(
            "no answer within {}",
            humantime::format_duration(limit)
        )),
    }
}

impl Mailer {
    /// A mailer for `cfg`; a CA file that cannot be read or used is said at once.
    pub fn new(cfg: &SmtpConfig, hello_name: &str) -> Result<Mailer, MailerError> {
        tls_of(cfg).map_err(MailerError::Setup)?;
        Ok(Mailer {
            cfg: cfg.clone(),
            hello: ClientId::Domain(hello_name.to_string()),
        })
    }

    /// Connects, protects the connection as configured, and logs in when configured to.
    /// The password file is read again for each login.
    pub async fn connect(&self) -> Result<Session, Unreachable> {
        let cfg = &self.cfg;
        let limit = cfg.timeout;
        let at = format!("{}:{}", cfg.host, cfg.port);
        let server = |text: String| Unreachable {
            text,
            keys: "smtp.host / smtp.port",
        };
        let tls = |text: String| Unreachable {
            text,
            keys: "smtp.tls / smtp.ca_file",
        };
        let (starttls, implicit) = tls_of(cfg).map_err(tls)?;
        let tcp =
            match tokio::time::timeout(limit, TcpStream::connect((cfg.host.as_str(), cfg.port)))
                .await
            {
                Ok(Ok(tcp)) => tcp,
                Ok(Err(e)) => return Err(server(format!("cannot connect to {at}: {e}"))),
                Err(_) => return Err(server(format!("cannot connect to {at}: timed out"))),
            };
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY could not be set");
        }
        crate::service::keepalive(&tcp);
        let stream: Box<dyn AsyncTokioStream> = match &implicit {
            Some(connector) => {
                let name = rustls::pki_types::ServerName::try_from(cfg.host.clone())
                    .map_err(|e| tls(format!("`{}` is not a valid TLS name: {e}", cfg.host)))?;
                match tokio::time::timeout(limit, connector.connect(name, tcp)).await {
                    Ok(Ok(s)) => Box::new(TlsSocket(s)),
                    Ok(Err(e)) => return Err(tls(format!("TLS with {at}: {e}"))),
                    Err(_) => return Err(tls(format!("TLS with {at}: handshake timed out"))),
                }
            }
            None => Box::new(tcp),
        };
        let mut conn = timed(
            limit,
            AsyncSmtpConnection::connect_with_transport(stream, &self.hello),
        )
        .await
        .map_err(|e| server(format!("{at} did not greet us: {e}")))?;
        if let Some(params) = starttls {
            timed(limit, conn.starttls(params, &self.hello))
                .await
                .map_err(|e| tls(format!("STARTTLS with {at}: {e}")))?;
        }
        if let Some(user) = &cfg.username {
            let login = |text: String| Unreachable {
                text,
                keys: "smtp.username / smtp.password_file",
            };
            let resolved = cfg.password.clone().unwrap_or_else(|| Secret::new(""));
            let pass = crate::service::login_secret(cfg.password_file.as_deref(), &resolved)
                .map_err(login)?;
            let credentials = Credentials::new(user.clone(), pass.expose().to_string());
            timed(
                limit,
                conn.auth(&[Mechanism::Plain, Mechanism::Login], &credentials),
            )
            .await
            .map_err(|e| login(format!("{at} refused the login as {user}: {e}")))?;
        }
        Ok(Session { conn, limit })
    }

    /// Connects, says hello, logs in, names each desk's address as a mail's sender and as
    /// its recipient (a server that wants a login, or refuses the desk's address, says so
    /// only there: Postfix weighs its sender restrictions at the first `RCPT TO`), then
    /// the desk's team as recipients (a list renamed on the server refuses every notice),
    /// and leaves without sending: for `secdesk check`.
    pub async fn test_connection(&self, desks: &[Probe<'_>]) -> Result<(), Unreachable> {
        use lettre::transport::smtp::commands::{Mail, Rcpt, Rset};
        let mut s = self.connect().await?;
        let at = format!("{}:{}", self.cfg.host, self.cfg.port);
        // Each desk's address in its own `MAIL FROM` on the one connection (every desk
        // sends as itself: a relay letting the login send as some addresses only
        // refused another desk's, and `check` said all was well).
        let mut said = None;
        for Probe { key, sender, team } in desks {
            let refused = |error: String| Unreachable {
                text: format!("{at} refuses {sender} ({key}) as a sender: {error}"),
                keys: "desk.address",
            };
            said = match sender.parse::<Address>() {
                Ok(a) => {
                    let conn = &mut s.conn;
                    let envelope = async {
                        let at_sender = |e| (None, e);
                        conn.command(Mail::new(Some(a.clone()), Vec::new()))
                            .await
                            .map_err(at_sender)?;
                        match conn.command(Rcpt::new(a, Vec::new())).await {
                            Err(e) if refuses_sender(&e) => return Err(at_sender(e)),
                            _ => {}
                        }
                        for member in team {
                            let Ok(to) = member.parse::<Address>() else {
                                continue;
                            };
                            match conn.command(Rcpt::new(to, Vec::new())).await {
                                Err(e) if e.is_permanent() => return Err((Some(member), e)),
                                _ => {}
                            }
                        }
                        Ok(())
                    };
                    match tokio::time::timeout(s.limit, envelope).await {
                        Ok(Ok(())) => None,
                        // A login wanted (for some recipients only, say) is the
                        // login's to mend, whoever it was asked for.
                        Ok(Err((member, e))) => Some(match (classify(&e), member) {
                            (SendOutcome::LoginNeeded(_), _) => Unreachable {
                                text: format!("{at} wants a login first: {}", describe(&e)),
                                keys: "smtp.username / smtp.password_file",
                            },
                            (_, Some(member)) => Unreachable {
                                text: format!(
                                    "{at} refuses mail to {member}, of the team of {sender}: {}",
                                    describe(&e)
                                ),
                                keys: "team.members / team.notify",
                            },
                            (_, None) => refused(describe(&e)),
                        }),
                        Err(_) => Some(Unreachable {
                            text: format!("{at} did not answer MAIL FROM or RCPT TO"),
                            keys: "smtp.timeout",
                        }),
                    }
                }
                Err(e) => Some(refused(format!("`{sender}` is no address: {e}"))),
            };
            let _ = timed(s.limit, s.conn.command(Rset)).await;
            if said.is_some() {
                break;
            }
        }
        s.quit().await;
        said.map_or(Ok(()), Err)
    }
}

/// What `secdesk check` asks the relay about one desk: its address as a sender (under
/// `key`) and its team as recipients.
pub struct Probe<'a> {
    pub key: String,
    pub sender: &'a str,
    pub team: Vec<String>,
}

impl Session {
    /// One attempt to hand `row` to the server.
    /// Sends `row`; `retried` when an earlier try of it failed (see [`answer_wait`]).
    pub async fn send(&mut self, row: &OutboxRow, retried: bool) -> SendOutcome {
        let from: Address = match row.envelope_from.parse() {
            Ok(a) => a,
            Err(_) => {
                return SendOutcome::Permanent(format!(
                    "bad sender address `{}`",
                    row.envelope_from
                ));
            }
        };
        let mut to = Vec::new();
        for r in &row.recipients {
            match r.parse::<Address>() {
                Ok(a) => to.push(a),
                Err(_) => return SendOutcome::Permanent(format!("bad recipient address `{r}`")),
            }
        }
        if to.is_empty() {
            return SendOutcome::Permanent("no usable recipient: the mail names none".into());
        }
        // The envelope's commands and the data, with the timeout stretched by one per
        // megabyte for large mail on a slow link.
        let mut limit = send_deadline(self.limit, row.bytes.len());
        if retried {
            limit = limit.max(answer_wait(self.limit));
        }
        let sender = from.to_string();
        match tokio::time::timeout(limit, self.transaction(from, &to, &row.bytes)).await {
            Ok(Ok(())) => SendOutcome::Sent,
            Ok(Err(Stopped::AtSender(e))) => match classify(&e) {
                SendOutcome::Permanent(why) => SendOutcome::SenderRefused(format!(
                    "{why}: the server refuses {sender} as a sender (desk.address, smtp.username)"
                )),
                other => other,
            },
            Ok(Err(Stopped::Later(e))) => classify(&e),
            Ok(Err(Stopped::Unsendable(why))) => SendOutcome::Permanent(why),
            Err(_) => SendOutcome::Broken(format!(
                "the server did not answer within {}",
                humantime::format_duration(limit)
            )),
        }
    }

    /// One mail's transaction, command by command (as lettre's `send` does, but saying
    /// where the server said no): `MAIL FROM` with SMTPUTF8 and 8BITMIME where the mail
    /// needs them, a `RCPT TO` for each recipient, `DATA` and the mail.
    async fn transaction(
        &mut self,
        from: Address,
        to: &[Address],
        bytes: &[u8],
    ) -> Result<(), Stopped> {
        use lettre::transport::smtp::commands::{Data, Mail, Rcpt};
        use lettre::transport::smtp::extension::{Extension, MailBodyParameter, MailParameter};
        let supports = |e: Extension| self.conn.server_info().supports_feature(e);
        let mut params = Vec::new();
        let ascii = |a: &Address| AsRef::<str>::as_ref(a).is_ascii();
        if !ascii(&from) || !to.iter().all(ascii) {
            if !supports(Extension::SmtpUtfEight) {
                return Err(Stopped::Unsendable(
                    "an address is not ASCII and the server does not take SMTPUTF8".into(),
                ));
            }
            params.push(MailParameter::SmtpUtfEight);
        }
        if !bytes.is_ascii() {
            if !supports(Extension::EightBitMime) {
                return Err(Stopped::Unsendable(
                    "the mail is not ASCII and the server does not take 8BITMIME".into(),
                ));
            }
            params.push(MailParameter::Body(MailBodyParameter::EightBitMime));
        }
        // A refusal of the sender names the desk's address only when nothing of this mail
        // went with it (an SMTPUTF8 parameter is this mail's).
        let plain = params.is_empty();
        let conn = &mut self.conn;
        conn.command(Mail::new(Some(from), params))
            .await
            .map_err(|e| match plain {
                true => Stopped::AtSender(e),
                false => Stopped::Later(e),
            })?;
        for r in to {
            conn.command(Rcpt::new(r.clone(), Vec::new()))
                .await
                .map_err(|e| match plain && refuses_sender(&e) {
                    true => Stopped::AtSender(e),
                    false => Stopped::Later(e),
                })?;
        }
        conn.command(Data).await.map_err(Stopped::Later)?;
        // Exchange Online refuses a sender only once it has the data (`SendAsDenied`).
        conn.message(bytes)
            .await
            .map_err(|e| match plain && refuses_sender(&e) {
                true => Stopped::AtSender(e),
                false => Stopped::Later(e),
            })?;
        Ok(())
    }

    pub async fn quit(mut self) {
        let _ = tokio::time::timeout(self.limit, self.conn.quit()).await;
    }
}

/// Whether an answer to `RCPT TO` or to the data refuses the sender rather than the
/// recipient or the mail: Postfix weighs its sender restrictions at the first `RCPT TO`
/// unless told otherwise (smtpd_delay_reject), `<security@…>: Sender address rejected:
/// not owned by user …`; Exchange Online after the data, `554 5.2.252 SendAsDenied; …
/// not allowed to send as …` (or `5.7.60`).
fn refuses_sender(e: &lettre::transport::smtp::Error) -> bool {
    let said = describe(e).to_ascii_lowercase();
    [
        "sender address rejected",
        "sendasdenied",
        "not allowed to send as",
        "5.7.60",
    ]
    .iter()
    .any(|s| said.contains(s))
}

/// Only an answer of the server to this mail's own envelope or data is a verdict on it:
/// a 5xx fails it for good, a 4xx asks us to retry later; anything else is the
/// connection failing under it. So is lettre's refusal to send this mail over this server
/// at all (an internationalized address to a server without SMTPUTF8): it would be the
/// same at every try, and a mail retried in silence forever is a mail lost.
///
/// Except `530`: the server wants a login first (RFC 4954), which says nothing of this
/// mail and is answered to every one; the mail waits, as for a refused login.
fn classify(e: &lettre::transport::smtp::Error) -> SendOutcome {
    if e.status().is_some_and(|c| c.to_string() == "530") {
        SendOutcome::LoginNeeded(format!(
            "{}: the server wants a login first (smtp.username, smtp.password_file)",
            describe(e)
        ))
    } else if e.is_permanent() || e.is_client() {
        SendOutcome::Permanent(describe(e))
    } else if e.is_transient() {
        SendOutcome::Transient(describe(e))
    } else {
        SendOutcome::Broken(describe(e))
    }
}

fn describe(e: &lettre::transport::smtp::Error) -> String {
    use std::error::Error;
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

/// What one pass over the outbox did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FlushReport {
    pub sent: u32,
    pub retrying: u32,
    pub failed: u32,
    /// The pass ended because no connection could be made (no row was touched by it), or
    /// because the server wants a login the config does not give (the rows it answered
    /// so were given back).
    pub unreachable: Option<Unreachable>,
    /// The pass took as many rows as it may: more may be due at once.
    pub more: bool,
    /// Rows were answered `530` (a login first): they wait, and so does the next pass
    /// when none of this one's went (told as [`FlushReport::unreachable`]). Kept when
    /// some went: the desk still says what is wrong.
    pub login_needed: Option<Unreachable>,
    /// The server's last answer to a mail it deferred (`452 Insufficient system
    /// storage`): when none of the pass went, every mail waits on it.
    pub deferred: Option<String>,
}

impl FlushReport {
    /// Adds what another connection of the same pass did.
    fn add(&mut self, other: FlushReport) {
        self.sent += other.sent;
        self.retrying += other.retrying;
        self.failed += other.failed;
        self.deferred = other.deferred.or(self.deferred.take());
    }
}

/// From how many due rows on a pass sends over more than one connection.
const MANY_ROWS: usize = 20;

/// The most rows one pass takes from the outbox (then it reads the outbox again, so an
/// acknowledgement queued meanwhile goes before the notices still waiting).
const PASS_ROWS: u32 = 100;

/// The most bytes of mail (each row's, and the report it carries) one pass holds; past
/// them it takes no more rows (the first always goes).
const PASS_BYTES: usize = 16 << 20;

/// Sends every row due at the clock's instant, once, over up to `smtp.connections`
/// connections that take the rows in order (acknowledgements first) from one queue. A
/// row whose send fails ends its connection; the next row opens a new one. A
/// connection that cannot be made takes no row; when the first cannot be made the pass
/// ends with `unreachable` and no row touched. `shutdown` is checked between two sends, so
/// shutdown waits for at most the mail in flight on each connection. The connections are
/// closed at the end of the pass.
pub async fn flush(
    mailer: &Mailer,
    db: &Db,
    desk: &Arc<Desk>,
    clock: &dyn Clock,
    shutdown: &Shutdown,
    beat: &Beat,
) -> store::Result<FlushReport> {
    let mut open = Connections::default();
    let report = flush_over(mailer, db, desk, (clock, shutdown, beat), &mut open).await;
    open.close().await;
    report
}

/// Marks failed, with why, the due rows that cannot be read back (a database edited by
/// hand), so they never keep the rest of the outbox from going; how many.
async fn set_aside_unreadable(
    db: &Db,
    bad: Vec<store::BadOutboxRow>,
    now: DateTime<Utc>,
) -> store::Result<u32> {
    let n = u32::try_from(bad.len()).unwrap_or(u32::MAX);
    if n == 0 {
        return Ok(0);
    }
    for b in &bad {
        tracing::error!(outbox_id = b.id, why = %b.why, "a queued mail cannot be read back; it is marked failed and the rest goes");
    }
    db.call(move |s| {
        s.write(|tx| {
            for b in &bad {
                let why = format!("cannot be read back: {}", b.why);
                tx.mark_failed(b.id, &why)?;
                // Its case says what never went (as it is now: it may have moved).
                if let Some(case) = &tx.outbox_case(b.id)? {
                    let event = crate::desk::case::NewEvent::new(
                        crate::desk::case::EventKind::DeliveryFailed,
                        crate::desk::case::DESK_ACTOR,
                        format!("a queued mail (outbox row {}) was not sent: it {why}", b.id),
                    );
                    tx.insert_event(case, now, &event, None)?;
                }
            }
            Ok(())
        })
    })
    .await?;
    Ok(n)
}

/// [`flush`] over the connections in `open` first (those a previous pass kept), leaving
/// the connections still good in `open` for the next pass.
pub async fn flush_over(
    mailer: &Mailer,
    db: &Db,
    desk: &Arc<Desk>,
    (clock, shutdown, beat): (&dyn Clock, &Shutdown, &Beat),
    open: &mut Connections,
) -> store::Result<FlushReport> {
    let started = clock.now();
    let store::DueRows {
        rows: due,
        bad,
        more,
    } = db
        .call(move |s| s.read(|tx| tx.due_outbox(started, PASS_ROWS, PASS_BYTES)))
        .await?;
    let set_aside = set_aside_unreadable(db, bad, started).await?;
    if due.is_empty() {
        return Ok(FlushReport {
            failed: set_aside,
            more,
            ..FlushReport::default()
        });
    }
    // One connection first: when the server cannot be reached, that is said once and no
    // row is touched; the others open only beside a connection that works.
    let first = match open.0.pop() {
        Some(s) => s,
        None => match mailer.connect().await {
            Ok(s) => s,
            Err(e) => {
                return Ok(FlushReport {
                    unreachable: Some(e),
                    failed: set_aside,
                    ..FlushReport::default()
                });
            }
        },
    };
    // More connections only for a queue worth them: a report's acknowledgement and
    // notices go over the one connection already open, without waiting for a second
    // handshake.
    let lanes = if due.len() >= MANY_ROWS {
        mailer.cfg.connections.max(1)
    } else {
        1
    };
    let queue = std::sync::Mutex::new(std::collections::VecDeque::from(due));
    let run = Lane {
        mailer,
        db,
        desk,
        clock,
        shutdown,
        beat,
        queue: &queue,
    };
    let mut sessions = vec![Some(first)];
    sessions.extend((1..lanes).map(|_| open.0.pop()));
    // Connections kept beyond this pass's lanes are not needed.
    open.close().await;
    let results = futures::future::join_all(sessions.into_iter().map(|s| run.send_all(s))).await;
    let mut login_needed = None;
    let mut report = FlushReport {
        more,
        failed: set_aside,
        ..FlushReport::default()
    };
    for r in results {
        let (mut r, kept) = r?;
        if let Some(e) = r.unreachable.take() {
            tracing::warn!(error = %e, "one more SMTP connection could not be made; sending over fewer");
        }
        login_needed = login_needed.or_else(|| r.login_needed.clone());
        report.add(r);
        open.0.extend(kept);
    }
    // A server that wanted a login for every mail of the pass is one that cannot be
    // used: said like one that cannot be reached, and waited for. One that took some
    // (a relay wanting a login for some recipients only) goes on taking them.
    if report.sent == 0 {
        report.unreachable = login_needed.clone();
    }
    report.login_needed = login_needed;
    Ok(report)
}

/// How long a mail the server wanted a login for waits before it is tried again (the
/// pass ends, and the loop backs off as for a server that cannot be reached).
const LOGIN_WAIT: chrono::Duration = chrono::Duration::seconds(60);

/// How many rows a connection claims at once (their attempts counted in one
/// transaction), and how many sent rows it may leave unrecorded while it goes on sending:
/// a crash can send at most this many mails of a connection a second time.
const CLAIM_ROWS: usize = 8;

/// A row claimed for sending: its attempt is counted and its next try scheduled.
struct Claimed {
    row: OutboxRow,
    attempts: u32,
    retry_at: DateTime<Utc>,
}

/// What became of a row, to be written down.
enum Settled {
    Sent {
        id: i64,
        at: DateTime<Utc>,
    },
    Retry {
        id: i64,
        at: DateTime<Utc>,
        error: String,
        /// The row, at its [`TELL_DEFERRED_AT`]th try: its case and team are told.
        told: Option<(OutboxRow, u32)>,
    },
    Failed {
        row: OutboxRow,
        error: String,
        at: DateTime<Utc>,
    },
    /// Claimed but not sent (shutdown, or no connection): given back, due at once.
    Unsent {
        id: i64,
        at: DateTime<Utc>,
    },
}

type Writing<'a> =
    Pin<Box<dyn std::future::Future<Output = Result<Vec<Claimed>, WriteFailed>> + Send + 'a>>;

/// A transaction of the lane that failed, with what it was to record, kept: mail the
/// desk sent is not forgotten because the database refused to write it down once.
struct WriteFailed {
    error: store::StoreError,
    settled: Vec<Settled>,
}

/// The error of a refused transaction; what it was to record goes back before what was
/// settled since.
fn kept(f: WriteFailed, settled: &mut Vec<Settled>) -> store::StoreError {
    let mut back = f.settled;
    back.append(settled);
    *settled = back;
    f.error
}

/// How many times, and how far apart at first, a lane tries again to record what
/// became of the mail it sent when the database refused it (a full disk, a lock held
/// past the busy timeout): forgotten, each would be sent a second time.
const RECORD_TRIES: u32 = 4;
const RECORD_PAUSE: std::time::Duration = std::time::Duration::from_secs(1);

/// One connection's share of a pass.
struct Lane<'a> {
    mailer: &'a Mailer,
    db: &'a Db,
    desk: &'a Arc<Desk>,
    clock: &'a dyn Clock,
    shutdown: &'a Shutdown,
    beat: &'a Beat,
    queue: &'a std::sync::Mutex<std::collections::VecDeque<OutboxRow>>,
}

impl<'a> Lane<'a> {
    /// Whether `sender` is the address of a desk in the configuration as it is now.
    fn sends_as_a_desk(&self, sender: &str) -> bool {
        self.desk.config.desk_sending_as(sender).is_some()
    }

    fn take_rows(&self, n: usize) -> Vec<OutboxRow> {
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        let n = n.min(queue.len());
        queue.drain(..n).collect()
    }

    /// One transaction: what became of the rows sent so far, then the attempts of `take`
    /// counted (a row another desk on this database took meanwhile is left out).
    fn write(&self, settled: Vec<Settled>, take: Vec<OutboxRow>) -> Writing<'a> {
        let desk = Arc::clone(self.desk);
        let now = self.clock.now();
        let db = self.db;
        Box::pin(db.call(move |s| {
            let written = s.write(|tx| {
                for done in &settled {
                    match done {
                        Settled::Sent { id, at } => tx.mark_sent(*id, *at)?,
                        Settled::Retry {
                            id,
                            at,
                            error,
                            told,
                        } => {
                            let waits = tx.mark_retry(*id, *at, error)?;
                            if let Some((row, tries)) = told.as_ref().filter(|_| waits) {
                                desk.delivery_delayed(tx, row, (error, *tries), now)?;
                            }
                        }
                        Settled::Failed { row, error, at } => {
                            desk.delivery_failed(tx, row, error, *at)?
                        }
                        Settled::Unsent { id, at } => tx.give_back_attempt(*id, *at)?,
                    }
                }
                let mut claimed = Vec::with_capacity(take.len());
                for row in take {
                    let retry_at = now + backoff(row.attempts + 1);
                    if let Some(attempts) = tx.begin_attempt(row.id, now, retry_at)? {
                        claimed.push(Claimed {
                            row,
                            attempts,
                            retry_at,
                        });
                    }
                }
                Ok(claimed)
            });
            written.map_err(|error| WriteFailed { error, settled })
        }))
    }

    /// Records what became of `settled`, trying again [`RECORD_TRIES`] times, further
    /// apart each time, while the database refuses; the error of the last try if it
    /// never takes them.
    async fn record_all(&self, mut settled: Vec<Settled>) -> store::Result<()> {
        let mut pause = RECORD_PAUSE;
        let mut tries = 0;
        loop {
            match self.write(settled, Vec::new()).await {
                Ok(_) => return Ok(()),
                Err(f) if tries + 1 < RECORD_TRIES => {
                    tracing::warn!(error = %f.error, mails = f.settled.len(), "what became of the mail sent could not be recorded; trying again");
                    settled = f.settled;
                    tries += 1;
                    self.beat.tick();
                    tokio::time::sleep(pause).await;
                    pause = pause.saturating_mul(2);
                }
                Err(f) => {
                    tracing::error!(error = %f.error, mails = f.settled.len(), "what became of the mail sent could not be recorded; those mails will go out again");
                    return Err(f.error);
                }
            }
        }
    }

    /// Takes rows from the queue and sends them until it is empty, over `session` or a
    /// connection of its own. The database is written while the next mail is on the
    /// wire: rows are claimed a few at a time before they are sent, and what became of
    /// them is recorded in the transaction that claims the next. The connection, if still
    /// good, is handed back for the next pass.
    async fn send_all(
        &self,
        mut session: Option<Session>,
    ) -> store::Result<(FlushReport, Option<Session>)> {
        let mut report = FlushReport::default();
        let mut claimed = std::collections::VecDeque::<Claimed>::new();
        let mut settled = Vec::<Settled>::new();
        let mut writing: Option<Writing<'a>> = None;
        // A transaction refused: nothing more is claimed, the mail on the wire is seen
        // through, and what became of every mail sent is recorded at the end.
        let mut refused: Option<store::StoreError> = None;
        while !self.shutdown.is_requested() && refused.is_none() {
            self.beat.tick();
            // Connected before a row is claimed: an unreachable server touches no row.
            let mut s = match session.take() {
                Some(s) => s,
                None => match self.mailer.connect().await {
                    Ok(s) => s,
                    Err(e) => {
                        report.unreachable = Some(e);
                        break;
                    }
                },
            };
            if writing.is_none() {
                let take = if claimed.len() <= CLAIM_ROWS / 2 {
                    self.take_rows(CLAIM_ROWS)
                } else {
                    Vec::new()
                };
                if !take.is_empty() || !settled.is_empty() {
                    writing = Some(self.write(std::mem::take(&mut settled), take));
                }
            }
            // Nothing claimed, or too much sent and not yet written down: wait for the
            // transaction on its way.
            if claimed.is_empty() || settled.len() >= CLAIM_ROWS {
                session = Some(s);
                match writing.take() {
                    Some(w) => match w.await {
                        Ok(c) => claimed.extend(c),
                        Err(f) => refused = Some(kept(f, &mut settled)),
                    },
                    None if claimed.is_empty() => break,
                    None => {}
                }
                continue;
            }
            let Some(next) = claimed.pop_front() else {
                session = Some(s);
                continue;
            };
            let outcome = {
                let send = s.send(&next.row, next.attempts > 1);
                tokio::pin!(send);
                loop {
                    let Some(w) = writing.as_mut() else {
                        break send.await;
                    };
                    tokio::select! {
                        out = &mut send => break out,
                        done = w => {
                            writing = None;
                            match done {
                                Ok(c) => claimed.extend(c),
                                // The mail on the wire is seen through, then recorded.
                                Err(f) => refused = Some(kept(f, &mut settled)),
                            }
                        }
                    }
                }
            };
            if self.record(next, outcome, &mut settled, &mut report) {
                session = Some(s);
            } else {
                // A failed send leaves lettre's connection in an unknown state.
                s.quit().await;
            }
        }
        // Rows claimed and not sent (a shutdown, a server gone) are given back, due now.
        if let Some(w) = writing.take() {
            match w.await {
                Ok(c) => claimed.extend(c),
                Err(f) => {
                    let e = kept(f, &mut settled);
                    refused.get_or_insert(e);
                }
            }
        }
        let at = self.clock.now();
        settled.extend(
            claimed
                .drain(..)
                .map(|c| Settled::Unsent { id: c.row.id, at }),
        );
        if !settled.is_empty() {
            self.record_all(settled).await?;
        }
        if let Some(e) = refused {
            return Err(e);
        }
        // A connection still good is left to the caller; at shutdown it says goodbye.
        if self.shutdown.is_requested()
            && let Some(s) = session.take()
        {
            s.quit().await;
        }
        Ok((report, session))
    }

    /// Notes what became of one row (written down with the next transaction); true when
    /// the connection is still good.
    fn record(
        &self,
        c: Claimed,
        outcome: SendOutcome,
        settled: &mut Vec<Settled>,
        report: &mut FlushReport,
    ) -> bool {
        let Claimed {
            row,
            attempts,
            retry_at,
        } = c;
        let (id, now) = (row.id, self.clock.now());
        let span_case = row.case.as_ref().map(|c| c.to_string()).unwrap_or_default();
        // Mail queued as an address no desk has any more (`desk.address` changed, a desk
        // removed) waits for nothing: refused as a sender, it fails, and is told.
        let outcome = match outcome {
            SendOutcome::SenderRefused(why) if !self.sends_as_a_desk(&row.envelope_from) => {
                SendOutcome::Permanent(why)
            }
            other => other,
        };
        let kept = outcome == SendOutcome::Sent;
        let broken = matches!(outcome, SendOutcome::Broken(_));
        let (what, keys) = match outcome {
            SendOutcome::SenderRefused(_) => (
                "the SMTP server refuses the desk's address as a sender; the mail waits",
                "desk.address / smtp.username",
            ),
            _ => (
                "the SMTP server wants a login first; the mail waits",
                "smtp.username / smtp.password_file",
            ),
        };
        match outcome {
            SendOutcome::LoginNeeded(error) | SendOutcome::SenderRefused(error) => {
                // No attempt counted: the mail waits like mail behind a refused login, and
                // a while, so that mail the server takes (another desk's sender, another
                // recipient) goes first at the next pass. The rest of the pass goes on.
                tracing::warn!(case = %span_case, purpose = row.purpose.as_str(), error = %error, "{what}");
                settled.push(Settled::Unsent {
                    id,
                    at: now + LOGIN_WAIT,
                });
                report.login_needed = Some(Unreachable { text: error, keys });
            }
            SendOutcome::Sent => {
                report.sent += 1;
                tracing::info!(case = %span_case, purpose = row.purpose.as_str(), to = %row.recipients.join(","), message_id = %row.message_id, "mail sent");
                settled.push(Settled::Sent { id, at: now });
            }
            SendOutcome::Transient(error) | SendOutcome::Broken(error) => {
                report.retrying += 1;
                report.deferred = Some(error.clone());
                // A broken connection is no answer about this mail: tried again sooner.
                let (retry_at, what) = if broken {
                    (
                        now + broken_backoff(attempts),
                        "the connection failed while sending",
                    )
                } else {
                    (retry_at, "sending failed")
                };
                tracing::warn!(case = %span_case, purpose = row.purpose.as_str(), attempts, retry_at = %retry_at, error = %error, "{what}; will retry");
                settled.push(Settled::Retry {
                    id,
                    at: retry_at,
                    error,
                    told: (attempts == TELL_DEFERRED_AT).then_some((row, attempts)),
                });
            }
            SendOutcome::Permanent(error) => {
                report.failed += 1;
                tracing::error!(case = %span_case, purpose = row.purpose.as_str(), to = %row.recipients.join(","), error = %error, "the server refused the mail for good");
                settled.push(Settled::Failed {
                    row,
                    error,
                    at: now,
                });
            }
        }
        kept
    }
}

#[cfg(test)]
mod tests {
    use super::{backoff, broken_backoff};

    /// A send to a relay gone silent fails, with room for the connection before it,
    /// before the mailer's beat passes its bound and the watchdog ends the desk, however
    /// big the mail. (A 17 MB notice had 18 minutes against a bound of 17.)
    #[test]
    fn a_stalled_send_fails_before_the_watchdog_ends_the_desk() {
        use std::time::Duration;
        for timeout in [1, 10, 30, 60, 300] {
            let timeout = Duration::from_secs(timeout);
            // The least bound: the shortest sleep.
            let bound = super::bound_of(timeout, Duration::ZERO);
            for mb in [0, 1, 17, 500] {
                let deadline = super::send_deadline(timeout, mb * 1_000_000);
                assert!(deadline >= timeout);
                let patient = deadline.max(super::answer_wait(timeout));
                assert!(
                    patient + timeout * 6 <= bound,
                    "{mb} MB at {timeout:?}, sent again: {patient:?} against {bound:?}"
                );
                assert!(
                    deadline + timeout * 6 <= bound,
                    "{mb} MB at {timeout:?}: {deadline:?} against {bound:?}"
                );
            }
        }
    }

    #[test]
    fn backoff_doubles_from_30_s_to_an_hour() {
        let got: Vec<i64> = (1..=9).map(|n| backoff(n).num_seconds()).collect();
        assert_eq!(got, vec![30, 60, 120, 240, 480, 960, 1920, 3600, 3600]);
    }

    #[test]
    fn a_broken_connection_is_retried_soon_then_less_often() {
        let got: Vec<i64> = [1, 2, 3, 11, 12, 30]
            .into_iter()
            .map(|n| broken_backoff(n).num_seconds())
            .collect();
        assert_eq!(got, vec![2, 4, 8, 2048, 3600, 3600]);
    }
}
