//! The outbox's way out: sends queued mail over SMTP and records the result.
//!
//! Invariants: only this module speaks SMTP. An attempt is counted (and the next one
//! scheduled) before it is made, so a crash mid-send leads to a later retry, never a
//! tight loop. A transient failure is retried with capped exponential backoff for as long
//! as it takes; a permanent one (5xx) is recorded on the case and never retried.

use crate::case::{DESK_ACTOR, EventKind, NewEvent};
use crate::config::{SmtpConfig, TlsMode};
use crate::db::Db;
use crate::store::{self, OutboxRow};
use chrono::{DateTime, Duration, Utc};
use lettre::address::Envelope;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

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

/// An SMTP client for the configured server.
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

/// How long to wait before attempt `n + 1` after `n` failed ones: 30 s doubling, at most
/// an hour.
pub fn backoff(attempts: u32) -> Duration {
    let exp = attempts.saturating_sub(1).min(7);
    Duration::seconds((30_i64 << exp).min(3600))
}

impl Mailer {
    pub fn new(cfg: &SmtpConfig, hello_name: &str) -> Result<Mailer, MailerError> {
        let tls_params = || -> Result<TlsParameters, MailerError> {
            let mut b = TlsParameters::builder(cfg.host.clone());
            if let Some(ca) = &cfg.ca_file {
                let pem = std::fs::read(ca).map_err(|e| {
                    MailerError::Setup(format!("cannot read smtp.ca_file {}: {e}", ca.display()))
                })?;
                let cert = Certificate::from_pem(&pem).map_err(|e| {
                    MailerError::Setup(format!("smtp.ca_file {}: {e}", ca.display()))
                })?;
                b = b.add_root_certificate(cert);
            }
            b.build_rustls()
                .map_err(|e| MailerError::Setup(e.to_string()))
        };
        let tls = match cfg.tls {
            TlsMode::Implicit => Tls::Wrapper(tls_params()?),
            TlsMode::StartTls => Tls::Required(tls_params()?),
            TlsMode::None => Tls::None,
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(cfg.host.clone())
            .port(cfg.port)
            .tls(tls)
            .hello_name(ClientId::Domain(hello_name.to_string()))
            .timeout(Some(std::time::Duration::from_secs(30)));
        if let (Some(user), Some(pass)) = (&cfg.username, &cfg.password) {
            builder =
                builder.credentials(Credentials::new(user.clone(), pass.expose().to_string()));
        }
        Ok(Mailer {
            transport: builder.build(),
        })
    }

    /// Connects and says hello (and logs in): for `secdesk check`.
    pub async fn test_connection(&self) -> Result<(), String> {
        match self.transport.test_connection().await {
            Ok(true) => Ok(()),
            Ok(false) => Err("the server did not accept the connection".into()),
            Err(e) => Err(describe(&e)),
        }
    }

    /// One attempt to hand `row` to the server.
    pub async fn send(&self, row: &OutboxRow) -> SendOutcome {
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
        match self.transport.send_raw(&envelope, &row.bytes).await {
            Ok(_) => SendOutcome::Sent,
            Err(e) if e.is_permanent() => SendOutcome::Permanent(describe(&e)),
            Err(e) => SendOutcome::Transient(describe(&e)),
        }
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

/// Sends every due row once. The store is reached through `db`, a blocking call.
pub async fn flush(mailer: &Mailer, db: &Db, now: DateTime<Utc>) -> store::Result<FlushReport> {
    let mut report = FlushReport::default();
    let due = db
        .call(move |s| s.read(|tx| tx.due_outbox(now, 100)))
        .await?;
    for row in due {
        // Count the attempt first: if we crash while sending, the row waits its backoff.
        let attempts = row.attempts + 1;
        let retry_at = now + backoff(attempts);
        let id = row.id;
        db.call(move |s| s.write(|tx| tx.begin_attempt(id, retry_at)))
            .await?;
        let outcome = mailer.send(&row).await;
        let span_case = row.case.as_ref().map(|c| c.to_string()).unwrap_or_default();
        match outcome {
            SendOutcome::Sent => {
                report.sent += 1;
                tracing::info!(case = %span_case, purpose = row.purpose.as_str(), to = %row.recipients.join(","), message_id = %row.message_id, "mail sent");
                db.call(move |s| s.write(|tx| tx.mark_sent(id, now)))
                    .await?;
            }
            SendOutcome::Transient(err) => {
                report.retrying += 1;
                tracing::warn!(case = %span_case, purpose = row.purpose.as_str(), attempts, retry_at = %retry_at, error = %err, "sending failed; will retry");
                db.call(move |s| s.write(|tx| tx.mark_retry(id, retry_at, &err)))
                    .await?;
            }
            SendOutcome::Permanent(err) => {
                report.failed += 1;
                tracing::error!(case = %span_case, purpose = row.purpose.as_str(), to = %row.recipients.join(","), error = %err, "the server refused the mail for good");
                let case = row.case.clone();
                let rcpts = row.recipients.join(", ");
                let purpose = row.purpose.as_str();
                db.call(move |s| {
                    s.write(|tx| {
                        tx.mark_failed(id, &err)?;
                        if let Some(c) = &case {
                            let ev = NewEvent::new(
                                EventKind::DeliveryFailed,
                                DESK_ACTOR,
                                format!(
                                    "the {purpose} mail to {rcpts} could not be delivered: {err}"
                                ),
                            );
                            tx.insert_event(c, now, &ev, None)?;
                        }
                        Ok(())
                    })
                })
                .await?;
            }
        }
    }
    Ok(report)
}
