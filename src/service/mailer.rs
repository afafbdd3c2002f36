//! The outbox's way out: sends queued mail over SMTP and records the result.
//!
//! Invariants: only this module speaks SMTP. An attempt is counted (and the next one
//! scheduled) before it is made, so a crash mid-send leads to a later retry, never a
//! tight loop. A transient failure is retried with capped exponential backoff for as long
//! as it takes; a permanent one (5xx) is recorded on the case, told to the team when the
//! mail was for someone outside it, and never retried.

use crate::clock::Clock;
use crate::config::{SmtpConfig, TlsMode};
use crate::service::db::Db;
use crate::service::process::Desk;
use crate::store::{self, OutboxRow};
use chrono::Duration;
use lettre::Address;
use lettre::address::Envelope;
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
    /// Worth retrying: connection refused, timeout, 4xx.
    Transient(String),
    /// The server refused for good (5xx), or the row cannot be sent as it is.
    Permanent(String),
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
    /// For STARTTLS (lettre upgrades the connection).
    starttls: Option<TlsParameters>,
    /// For implicit TLS (we wrap the socket before the greeting).
    implicit: Option<tokio_rustls::TlsConnector>,
}

/// One session with the server, reused for every mail of a pass.
pub struct Session(AsyncSmtpConnection);

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

/// How long to wait before attempt `n + 1` after `n` failed ones: 30 s doubling, at most
/// an hour.
pub fn backoff(attempts: u32) -> Duration {
    let exp = attempts.saturating_sub(1).min(7);
    Duration::seconds((30_i64 << exp).min(3600))
}

const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

impl Mailer {
    pub fn new(cfg: &SmtpConfig, hello_name: &str) -> Result<Mailer, MailerError> {
        let setup = |e: String| MailerError::Setup(e);
        let (starttls, implicit) = match cfg.tls {
            TlsMode::StartTls => {
                let mut b = TlsParameters::builder(cfg.host.clone());
                if let Some(ca) = &cfg.ca_file {
                    let pem = std::fs::read(ca).map_err(|e| {
                        setup(format!("cannot read smtp.ca_file {}: {e}", ca.display()))
                    })?;
                    let cert = Certificate::from_pem(&pem)
                        .map_err(|e| setup(format!("smtp.ca_file {}: {e}", ca.display())))?;
                    b = b.add_root_certificate(cert);
                }
                (
                    Some(b.build_rustls().map_err(|e| setup(e.to_string()))?),
                    None,
                )
            }
            TlsMode::Implicit => {
                let config = crate::service::tls::client_config(cfg.ca_file.as_deref())
                    .map_err(|e| setup(e.to_string()))?;
                (None, Some(tokio_rustls::TlsConnector::from(config)))
            }
            TlsMode::None => (None, None),
        };
        Ok(Mailer {
            cfg: cfg.clone(),
            hello: ClientId::Domain(hello_name.to_string()),
            starttls,
            implicit,
        })
    }

    /// Connects, protects the connection as configured, and logs in when configured to.
    pub async fn connect(&self) -> Result<Session, SendOutcome> {
        let cfg = &self.cfg;
        let transient = |what: &str, e: &dyn std::fmt::Display| {
            SendOutcome::Transient(format!("{what} {}:{}: {e}", cfg.host, cfg.port))
        };
        let tcp =
            match tokio::time::timeout(TIMEOUT, TcpStream::connect((cfg.host.as_str(), cfg.port)))
                .await
            {
                Ok(Ok(tcp)) => tcp,
                Ok(Err(e)) => return Err(transient("cannot connect to", &e)),
                Err(_) => return Err(transient("cannot connect to", &"timed out")),
            };
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY could not be set");
        }
        let stream: Box<dyn AsyncTokioStream> = match &self.implicit {
            Some(connector) => {
                let name =
                    rustls::pki_types::ServerName::try_from(cfg.host.clone()).map_err(|e| {
                        SendOutcome::Permanent(format!(
                            "smtp.host `{}` is not a valid TLS name: {e}",
                            cfg.host
                        ))
                    })?;
                match tokio::time::timeout(TIMEOUT, connector.connect(name, tcp)).await {
                    Ok(Ok(tls)) => Box::new(TlsSocket(tls)),
                    Ok(Err(e)) => return Err(transient("TLS with", &e)),
                    Err(_) => return Err(transient("TLS with", &"handshake timed out")),
                }
            }
            None => Box::new(tcp),
        };
        let mut conn = AsyncSmtpConnection::connect_with_transport(stream, &self.hello)
            .await
            .map_err(|e| classify(&e))?;
        if let Some(params) = &self.starttls {
            conn.starttls(params.clone(), &self.hello)
                .await
                .map_err(|e| classify(&e))?;
        }
        if let (Some(user), Some(pass)) = (&cfg.username, &cfg.password) {
            let credentials = Credentials::new(user.clone(), pass.expose().to_string());
            conn.auth(&[Mechanism::Plain, Mechanism::Login], &credentials)
                .await
                .map_err(|e| classify(&e))?;
        }
        Ok(Session(conn))
    }

    /// Connects, says hello, logs in and leaves: for `secdesk check`.
    pub async fn test_connection(&self) -> Result<(), String> {
        match self.connect().await {
            Ok(mut s) => {
                let _ = s.0.quit().await;
                Ok(())
            }
            Err(SendOutcome::Transient(e) | SendOutcome::Permanent(e)) => Err(e),
            Err(SendOutcome::Sent) => Ok(()),
        }
    }
}

impl Session {
    /// One attempt to hand `row` to the server.
    pub async fn send(&mut self, row: &OutboxRow) -> SendOutcome {
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
        let envelope = match Envelope::new(Some(from), to) {
            Ok(e) => e,
            Err(e) => return SendOutcome::Permanent(format!("no usable recipient: {e}")),
        };
        match tokio::time::timeout(TIMEOUT * 4, self.0.send(&envelope, &row.bytes)).await {
            Ok(Ok(_)) => SendOutcome::Sent,
            Ok(Err(e)) => classify(&e),
            Err(_) => SendOutcome::Transient("the server did not answer within 2 minutes".into()),
        }
    }

    pub async fn quit(mut self) {
        let _ = self.0.quit().await;
    }
}

fn classify(e: &lettre::transport::smtp::Error) -> SendOutcome {
    if e.is_permanent() {
        SendOutcome::Permanent(describe(e))
    } else {
        SendOutcome::Transient(describe(e))
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
}

/// How many due rows one transaction claims, and how many results one records.
const CLAIM_BATCH: u32 = 20;

/// How many SMTP connections a pass uses at once: the server works on one mail while
/// we wait for its answer on another.
const CONNECTIONS: usize = 2;

/// What became of one claimed row.
struct Attempt {
    row: OutboxRow,
    retry_at: chrono::DateTime<chrono::Utc>,
    /// `None`: never attempted (shutdown came first).
    outcome: Option<SendOutcome>,
}

/// Sends every due row, acknowledgements first, until none is due, over
/// [`CONNECTIONS`] connections. Rows are claimed [`CLAIM_BATCH`] at a time in one
/// transaction (each attempt counted before it is made), shared between the
/// connections, and the batch's results are recorded in one transaction after it. A row
/// that fails ends its connection; the next row on it opens a new one. `stop` is checked
/// between two sends, so shutdown waits for at most the mails in flight; claimed rows
/// not yet attempted are given back.
pub async fn flush(
    mailer: &Mailer,
    db: &Db,
    desk: &Arc<Desk>,
    clock: &dyn Clock,
    stop: &(dyn Fn() -> bool + Sync),
) -> store::Result<FlushReport> {
    let mut report = FlushReport::default();
    let mut sessions: [Option<Session>; CONNECTIONS] = Default::default();
    while !stop() {
        // Count the attempts first: if we crash while sending, the rows wait their backoff.
        let now = clock.now();
        let claimed = db
            .call(move |s| s.write(|tx| tx.claim_due(now, CLAIM_BATCH, |n| now + backoff(n))))
            .await?;
        if claimed.is_empty() {
            break;
        }
        // Row i goes to connection i % CONNECTIONS: the claim order (acks first) holds.
        let mut shares: [Vec<(OutboxRow, u32)>; CONNECTIONS] = Default::default();
        for (i, claim) in claimed.into_iter().enumerate() {
            if let Some(share) = shares.get_mut(i % CONNECTIONS) {
                share.push(claim);
            }
        }
        let [s0, s1] = &mut sessions;
        let [r0, r1] = shares;
        let ((d0, f0), (d1, f1)) = tokio::join!(
            send_all(mailer, s0, r0, now, stop),
            send_all(mailer, s1, r1, now, stop)
        );
        for f in [f0, f1] {
            report.sent += f.sent;
            report.retrying += f.retrying;
            report.failed += f.failed;
        }
        let done: Vec<Attempt> = d0.into_iter().chain(d1).collect();
        let (d, now) = (Arc::clone(desk), clock.now());
        db.call(move |s| s.write(|tx| record(&d, tx, &done, now)))
            .await?;
    }
    for s in sessions.into_iter().flatten() {
        s.quit().await;
    }
    Ok(report)
}

/// Sends `rows` one after the other over `session` (opened when needed).
async fn send_all(
    mailer: &Mailer,
    session: &mut Option<Session>,
    rows: Vec<(OutboxRow, u32)>,
    now: chrono::DateTime<chrono::Utc>,
    stop: &(dyn Fn() -> bool + Sync),
) -> (Vec<Attempt>, FlushReport) {
    let mut report = FlushReport::default();
    let mut done = Vec::with_capacity(rows.len());
    for (row, attempts) in rows {
        let retry_at = now + backoff(attempts);
        if stop() {
            done.push(Attempt {
                row,
                retry_at,
                outcome: None,
            });
            continue;
        }
        let outcome = match session.take() {
            Some(s) => Ok(s),
            None => mailer.connect().await,
        };
        let outcome = match outcome {
            Ok(mut s) => {
                let outcome = s.send(&row).await;
                if outcome == SendOutcome::Sent {
                    *session = Some(s);
                }
                outcome
            }
            Err(outcome) => outcome,
        };
        let span_case = row.case.as_ref().map(|c| c.to_string()).unwrap_or_default();
        match &outcome {
            SendOutcome::Sent => {
                report.sent += 1;
                tracing::info!(case = %span_case, purpose = row.purpose.as_str(), to = %row.recipients.join(","), message_id = %row.message_id, "mail sent");
            }
            SendOutcome::Transient(err) => {
                report.retrying += 1;
                tracing::warn!(case = %span_case, purpose = row.purpose.as_str(), attempts, retry_at = %retry_at, error = %err, "sending failed; will retry");
            }
            SendOutcome::Permanent(err) => {
                report.failed += 1;
                tracing::error!(case = %span_case, purpose = row.purpose.as_str(), to = %row.recipients.join(","), error = %err, "the server refused the mail for good");
            }
        }
        done.push(Attempt {
            row,
            retry_at,
            outcome: Some(outcome),
        });
    }
    (done, report)
}

/// The results of a batch of attempts, in one transaction.
fn record(
    desk: &Desk,
    tx: &store::Tx<'_>,
    done: &[Attempt],
    now: chrono::DateTime<chrono::Utc>,
) -> store::Result<()> {
    for a in done {
        let id = a.row.id;
        match &a.outcome {
            None => tx.release_claim(id, now)?,
            Some(SendOutcome::Sent) => tx.mark_sent(id, now)?,
            Some(SendOutcome::Transient(err)) => tx.mark_retry(id, a.retry_at, err)?,
            Some(SendOutcome::Permanent(err)) => desk.delivery_failed(tx, &a.row, err, now)?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::backoff;

    #[test]
    fn backoff_doubles_from_30_s_to_an_hour() {
        let got: Vec<i64> = (1..=9).map(|n| backoff(n).num_seconds()).collect();
        assert_eq!(got, vec![30, 60, 120, 240, 480, 960, 1920, 3600, 3600]);
    }
}
