//! The inbox side: connects to IMAP, stores the raw bytes of every new mail, has each
//! processed, and only then marks it done on the server. Waits with IDLE when the
//! server offers it, polls otherwise.
//!
//! Invariants:
//! - only this module speaks IMAP;
//! - the raw bytes are committed before anything else is done with a mail, keyed by
//!   (mailbox, UIDVALIDITY, UID); a mail is flagged on the server only after its case
//!   changes are committed;
//! - a new UIDVALIDITY restarts the fetch from UID 1; Message-ID deduplication keeps
//!   that from opening a second case for anything already on file.

use crate::clock::Clock;
use crate::config::{ImapConfig, TlsMode};
use crate::service::db::Db;
use crate::service::process::{Desk, Processed};
use crate::store::{Arrival, StoreError};
use crate::types::{Uid, UidValidity};
use async_imap::types::UnsolicitedResponse;
use futures::TryStreamExt;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::watch;

/// The keyword set on mail the desk has finished with.
pub const DONE_KEYWORD: &str = "$SecdeskDone";

/// How long one IDLE lasts before we sync anyway: well under the 30 minutes after which
/// servers drop it, and short enough that a change notice lost anywhere costs minutes.
const IDLE_RENEW: Duration = Duration::from_secs(5 * 60);

/// How many messages one `UID FETCH` asks for, so a large backlog never sits in memory.
const FETCH_BATCH: usize = 50;

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("cannot connect to {host}:{port}: {reason}")]
    Connect {
        host: String,
        port: u16,
        reason: String,
    },
    #[error("TLS with {host} failed: {reason}")]
    Tls { host: String, reason: String },
    #[error("IMAP login as {user} refused: {reason}")]
    Login { user: String, reason: String },
    #[error("mailbox {mailbox}: {reason}")]
    Mailbox { mailbox: String, reason: String },
    #[error("IMAP: {0}")]
    Protocol(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<async_imap::error::Error> for IngestError {
    fn from(e: async_imap::error::Error) -> Self {
        IngestError::Protocol(e.to_string())
    }
}

/// A TCP or TLS stream, as async-imap wants one type.
#[derive(Debug)]
pub enum Conn {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_flush(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

pub type Session = async_imap::Session<Conn>;

const TIMEOUT: Duration = Duration::from_secs(30);

async fn tls_wrap(cfg: &ImapConfig, tcp: TcpStream) -> Result<Conn, IngestError> {
    let tls_err = |reason: String| IngestError::Tls {
        host: cfg.host.clone(),
        reason,
    };
    let client = crate::service::tls::client_config(cfg.ca_file.as_deref())
        .map_err(|e| tls_err(e.to_string()))?;
    let name = rustls::pki_types::ServerName::try_from(cfg.host.clone())
        .map_err(|e| tls_err(e.to_string()))?;
    let stream = tokio::time::timeout(
        TIMEOUT,
        tokio_rustls::TlsConnector::from(client).connect(name, tcp),
    )
    .await
    .map_err(|_| tls_err("handshake timed out".into()))?
    .map_err(|e| tls_err(e.to_string()))?;
    Ok(Conn::Tls(Box::new(stream)))
}

async fn greeting(
    client: &mut async_imap::Client<Conn>,
    cfg: &ImapConfig,
) -> Result<(), IngestError> {
    match tokio::time::timeout(TIMEOUT, client.read_response()).await {
        Ok(Ok(Some(_))) => Ok(()),
        Ok(Ok(None)) => Err(IngestError::Connect {
            host: cfg.host.clone(),
            port: cfg.port,
            reason: "the server closed the connection before greeting".into(),
        }),
        Ok(Err(e)) => Err(IngestError::Connect {
            host: cfg.host.clone(),
            port: cfg.port,
            reason: e.to_string(),
        }),
        Err(_) => Err(IngestError::Connect {
            host: cfg.host.clone(),
            port: cfg.port,
            reason: "no greeting within 30 s".into(),
        }),
    }
}

/// Connects, protects the connection as configured, and logs in.
pub async fn connect(cfg: &ImapConfig) -> Result<Session, IngestError> {
    let connect_err = |reason: String| IngestError::Connect {
        host: cfg.host.clone(),
        port: cfg.port,
        reason,
    };
    let tcp = tokio::time::timeout(TIMEOUT, TcpStream::connect((cfg.host.as_str(), cfg.port)))
        .await
        .map_err(|_| connect_err("timed out".into()))?
        .map_err(|e| connect_err(e.to_string()))?;
    let client = match cfg.tls {
        TlsMode::Implicit => {
            let mut c = async_imap::Client::new(tls_wrap(cfg, tcp).await?);
            greeting(&mut c, cfg).await?;
            c
        }
        TlsMode::StartTls => {
            let mut c = async_imap::Client::new(Conn::Plain(tcp));
            greeting(&mut c, cfg).await?;
            c.run_command_and_check_ok("STARTTLS", None)
                .await
                .map_err(|e| IngestError::Tls {
                    host: cfg.host.clone(),
                    reason: format!("STARTTLS refused: {e}"),
                })?;
            let Conn::Plain(tcp) = c.into_inner() else {
                return Err(IngestError::Protocol(
                    "unexpected stream state after STARTTLS".into(),
                ));
            };
            async_imap::Client::new(tls_wrap(cfg, tcp).await?)
        }
        TlsMode::None => {
            let mut c = async_imap::Client::new(Conn::Plain(tcp));
            greeting(&mut c, cfg).await?;
            c
        }
    };
    let login =
        tokio::time::timeout(TIMEOUT, client.login(&cfg.username, cfg.password.expose())).await;
    match login {
        Ok(Ok(session)) => Ok(session),
        Ok(Err((e, _))) => Err(IngestError::Login {
            user: cfg.username.clone(),
            reason: e.to_string(),
        }),
        Err(_) => Err(IngestError::Login {
            user: cfg.username.clone(),
            reason: "no answer within 30 s".into(),
        }),
    }
}

/// What a selected mailbox told us.
#[derive(Debug, Clone, Copy)]
pub struct Selected {
    pub validity: UidValidity,
    pub exists: u32,
}

pub async fn select(session: &mut Session, mailbox: &str) -> Result<Selected, IngestError> {
    let m = session
        .select(mailbox)
        .await
        .map_err(|e| IngestError::Mailbox {
            mailbox: mailbox.to_string(),
            reason: e.to_string(),
        })?;
    let validity = m.uid_validity.ok_or_else(|| IngestError::Mailbox {
        mailbox: mailbox.to_string(),
        reason: "the server sent no UIDVALIDITY".into(),
    })?;
    Ok(Selected {
        validity: UidValidity(validity),
        exists: m.exists,
    })
}

/// What one sync pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SyncReport {
    pub fetched: usize,
    pub processed: usize,
    pub duplicates: usize,
}

/// Fetches everything new into the store, processes it, and flags it done.
/// `stop` is checked between mails: shutdown never interrupts a transaction.
/// `on_mail_queued` is called as soon as a mail's answers are queued, so the mailer
/// starts on the first acknowledgement without waiting for a whole backlog.
pub async fn sync(
    session: &mut Session,
    mailbox: &str,
    db: &Db,
    desk: &Arc<Desk>,
    clock: &Arc<dyn Clock>,
    stop: &(dyn Fn() -> bool + Sync),
    on_mail_queued: &(dyn Fn() + Sync),
) -> Result<SyncReport, IngestError> {
    let sel = select(session, mailbox).await?;
    let mut report = SyncReport::default();
    let mbox = mailbox.to_string();
    let cursor = db.call(move |s| s.read(|tx| tx.cursor(&mbox))).await?;
    // The first time the desk opens a mailbox, what is already there is history: filed on
    // cases, never answered (no thousand acknowledgements on the first start).
    let arrival = if cursor.is_none() {
        Arrival::History
    } else {
        Arrival::Live
    };
    let start = match cursor {
        Some((v, last)) if v == sel.validity => last.0.saturating_add(1),
        Some((v, _)) => {
            tracing::warn!(
                mailbox,
                old = v.0,
                new = sel.validity.0,
                "UIDVALIDITY changed: fetching the whole mailbox again (duplicates are recognised by Message-ID)"
            );
            1
        }
        None => 1,
    };

    // Mail stored but not processed yet (a crash, a failed batch) goes first.
    process_pending(
        session,
        mailbox,
        sel.validity,
        db,
        desk,
        clock,
        stop,
        on_mail_queued,
        &mut report,
    )
    .await?;
    if sel.exists > 0 {
        let mut uids: Vec<u32> = session
            .uid_search(format!("UID {start}:*"))
            .await?
            .into_iter()
            .filter(|u| *u >= start)
            .collect();
        uids.sort_unstable();
        let mut chunks = uids.chunks(FETCH_BATCH);
        let mut next = match chunks.next() {
            Some(chunk) if !stop() => Some(fetch_chunk(session, chunk).await?),
            _ => None,
        };
        while let Some(fetched) = next.take() {
            let (mbox, validity, now) = (mailbox.to_string(), sel.validity, clock.now());
            let n = fetched.len();
            // One transaction per batch: the bytes are safe before any is processed.
            db.call(move |s| {
                s.write(|tx| {
                    for (uid, bytes) in &fetched {
                        tx.insert_raw(&mbox, validity, Uid(*uid), bytes, now, arrival)?;
                    }
                    Ok(())
                })
            })
            .await?;
            report.fetched += n;
            // Then processed while the next chunk downloads, and flagged once committed:
            // the first acknowledgements leave and the first mails are marked done while
            // the rest is still being fetched.
            let chunk = if stop() { None } else { chunks.next() };
            // The earlier batches, committed, are flagged done on the same connection
            // meanwhile; this one is flagged in the next round (or after the last).
            let validity = sel.validity;
            let ((fetched_next, flagged), processed) = tokio::join!(
                async {
                    let session = session_ref(session);
                    let fetched = match chunk {
                        Some(chunk) => fetch_chunk(session, chunk).await.map(Some),
                        None => Ok(None),
                    };
                    (fetched, flag_done(session, mailbox, validity, db).await)
                },
                process_stored(db, desk, clock, stop, on_mail_queued, &mut report),
            );
            if processed.is_err() || fetched_next.is_err() {
                // What was committed is still flagged before the error is reported.
                let _ = flag_done(session, mailbox, validity, db).await;
            }
            processed?;
            next = fetched_next?;
            flagged?;
        }
        flag_done(session, mailbox, sel.validity, db).await?;
        if arrival == Arrival::History && report.fetched > 0 {
            tracing::warn!(
                mailbox,
                messages = report.fetched,
                "first start on this mailbox: the mail already there is filed as history, without acknowledgements or notices"
            );
        }
    }
    if arrival == Arrival::History && report.fetched == 0 {
        // An empty mailbox: remember we have been here, so the next mail is live.
        let (mbox, validity) = (mailbox.to_string(), sel.validity);
        db.call(move |s| s.write(|tx| tx.set_cursor(&mbox, validity, Uid(0))))
            .await?;
    }
    Ok(report)
}

/// How many mails one processing transaction carries (each in its own savepoint).
const PROCESS_BATCH: usize = 50;

/// One `UID FETCH` of `chunk`: (UID, bytes) of each mail the server still has.
async fn fetch_chunk(
    session: &mut Session,
    chunk: &[u32],
) -> Result<Vec<(u32, Vec<u8>)>, IngestError> {
    let set = chunk
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let stream = session.uid_fetch(&set, "(UID BODY.PEEK[])").await?;
    let all: Vec<_> = stream.try_collect().await?;
    Ok(all
        .iter()
        .filter_map(|f| Some((f.uid?, f.body()?.to_vec())))
        .collect())
}

/// Lets `tokio::join!` borrow the session in one branch while the other uses the store.
fn session_ref(session: &mut Session) -> &mut Session {
    session
}

/// Processes every pending mail, then flags it done on the server.
#[allow(clippy::too_many_arguments)]
async fn process_pending(
    session: &mut Session,
    mailbox: &str,
    validity: UidValidity,
    db: &Db,
    desk: &Arc<Desk>,
    clock: &Arc<dyn Clock>,
    stop: &(dyn Fn() -> bool + Sync),
    on_mail_queued: &(dyn Fn() + Sync),
    report: &mut SyncReport,
) -> Result<(), IngestError> {
    let processed = process_stored(db, desk, clock, stop, on_mail_queued, report).await;
    flag_done(session, mailbox, validity, db).await?;
    processed
}

/// Processes every pending mail, [`PROCESS_BATCH`] per transaction. Flagging them done
/// on the server is the caller's, after this returns (their transactions committed).
async fn process_stored(
    db: &Db,
    desk: &Arc<Desk>,
    clock: &Arc<dyn Clock>,
    stop: &(dyn Fn() -> bool + Sync),
    on_mail_queued: &(dyn Fn() + Sync),
    report: &mut SyncReport,
) -> Result<(), IngestError> {
    let pending = db.call(|s| s.read(|tx| tx.pending_raw_ids())).await?;
    for batch in pending.chunks(PROCESS_BATCH) {
        if stop() {
            break;
        }
        let (desk2, now, ids) = (Arc::clone(desk), clock.now(), batch.to_vec());
        // `stop` cannot go to the blocking pool; a flag it sets, watched while the batch
        // runs, can: shutdown still waits for one mail, not a batch.
        let cancel = Arc::new(AtomicBool::new(false));
        let cancelled = Arc::clone(&cancel);
        let call = db.call(move |s| {
            desk2.process_batch(s, &ids, now, &|| cancelled.load(Ordering::Relaxed))
        });
        tokio::pin!(call);
        let (outcomes, failed) = loop {
            tokio::select! {
                r = &mut call => break r?,
                _ = tokio::time::sleep(Duration::from_millis(10)) => {
                    if stop() {
                        cancel.store(true, Ordering::Relaxed);
                    }
                }
            }
        };
        let mut queued = false;
        for outcome in &outcomes {
            match outcome {
                Processed::Filed {
                    case,
                    opened,
                    kind,
                    outgoing,
                } => {
                    report.processed += 1;
                    tracing::info!(case = %case, opened, kind, outgoing, "mail filed");
                    queued |= *outgoing > 0;
                }
                Processed::Duplicate(id) => {
                    report.duplicates += 1;
                    tracing::info!(message_id = %id, "duplicate mail: already on file");
                }
                Processed::Unfiled(id) => {
                    report.processed += 1;
                    tracing::info!(message_id = %id, "mail kept on no case");
                }
                Processed::AlreadyDone => {}
            }
        }
        if queued {
            on_mail_queued();
        }
        if let Some(e) = failed {
            return Err(e.into());
        }
    }
    Ok(())
}

/// Marks processed mail on the server. Best effort: the local state is what counts.
async fn flag_done(
    session: &mut Session,
    mailbox: &str,
    validity: UidValidity,
    db: &Db,
) -> Result<(), IngestError> {
    let mbox = mailbox.to_string();
    let uids = db
        .call(move |s| s.read(|tx| tx.unflagged(&mbox, validity)))
        .await?;
    for chunk in uids.chunks(200) {
        let set = chunk
            .iter()
            .map(|u| u.0.to_string())
            .collect::<Vec<_>>()
            .join(",");
        let result = match session
            .uid_store(&set, format!("+FLAGS.SILENT ({DONE_KEYWORD})"))
            .await
        {
            Ok(stream) => stream.try_collect::<Vec<_>>().await.map(|_| ()),
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            // Servers without custom keywords: fall back to \Seen.
            tracing::debug!(error = %e, "keyword refused; flagging \\Seen instead");
            let stream = session.uid_store(&set, "+FLAGS.SILENT (\\Seen)").await?;
            let _: Vec<_> = stream.try_collect().await?;
        }
        let (mbox, chunk) = (mailbox.to_string(), chunk.to_vec());
        db.call(move |s| s.write(|tx| tx.mark_flagged(&mbox, validity, &chunk)))
            .await?;
    }
    Ok(())
}

/// Whether the server offers IDLE.
pub async fn has_idle(session: &mut Session) -> bool {
    match session.capabilities().await {
        Ok(caps) => caps.has_str("IDLE"),
        Err(_) => false,
    }
}

/// Empties the queue of unsolicited responses; true when one said the mailbox grew.
fn mailbox_grew(queue: &async_channel::Receiver<UnsolicitedResponse>) -> bool {
    let mut grew = false;
    while let Ok(r) = queue.try_recv() {
        grew |= matches!(
            r,
            UnsolicitedResponse::Exists(_) | UnsolicitedResponse::Recent(_)
        );
    }
    grew
}

/// Watches the inbox until `stop` turns true: connects (with backoff), syncs, then waits
/// with IDLE (or polls), and syncs again on every change. `on_new_mail` is called after
/// a sync that filed mail; `ready` fires after the first successful sync.
pub async fn watch(
    desk: Arc<Desk>,
    db: Db,
    clock: Arc<dyn Clock>,
    mut stop: watch::Receiver<bool>,
    on_new_mail: impl Fn() + Send + Sync + 'static,
    ready: tokio::sync::oneshot::Sender<()>,
) {
    let cfg = desk.config.imap.clone();
    let mut ready = Some(ready);
    let mut backoff = Duration::from_secs(1);
    let stopping = {
        let stop = stop.clone();
        move || *stop.borrow()
    };
    while !stopping() {
        let mut session = match connect(&cfg).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, retry_in = ?backoff, "cannot reach the inbox");
                crate::service::daemon::status(&format!("cannot reach the inbox: {e}"));
                if crate::service::daemon::pause(backoff, &mut stop).await {
                    break;
                }
                backoff = (backoff * 2).min(Duration::from_secs(300));
                continue;
            }
        };
        backoff = Duration::from_secs(1);
        let idle = has_idle(&mut session).await;
        tracing::info!(host = %cfg.host, mailbox = %cfg.mailbox, idle, "connected to the inbox");
        crate::service::daemon::status("watching the inbox");
        // New mail that arrives while we talk to the server is announced as an untagged
        // EXISTS in the answer to some other command; async-imap queues those here. A
        // clone of the queue stays reachable while the session is lent to IDLE.
        let queue = session.unsolicited_responses.clone();
        loop {
            mailbox_grew(&queue); // whatever it said, the sync below sees it all
            match sync(
                &mut session,
                &cfg.mailbox,
                &db,
                &desk,
                &clock,
                &stopping,
                &on_new_mail,
            )
            .await
            {
                Ok(r) => {
                    // Ready means caught up: logged in, and the inbox read once (which
                    // also settles what is history at the first start).
                    if let Some(tx) = ready.take() {
                        let _ = tx.send(());
                    }
                    if r.fetched > 0 || r.processed > 0 {
                        tracing::info!(
                            fetched = r.fetched,
                            processed = r.processed,
                            duplicates = r.duplicates,
                            "inbox synced"
                        );
                        on_new_mail();
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "inbox sync failed; reconnecting");
                    break;
                }
            }
            if stopping() {
                let _ = session.logout().await;
                return;
            }
            if mailbox_grew(&queue) {
                continue; // mail arrived during the sync
            }
            if idle {
                let mut handle = session.idle();
                if let Err(e) = handle.init().await {
                    tracing::warn!(error = %e, "IDLE failed; reconnecting");
                    break;
                }
                // Mail that arrived just before IDLE began is reported before the
                // server's "+ idling": it is in the queue, not in what `wait` sees.
                if !mailbox_grew(&queue) {
                    let result = {
                        let (wait, interrupt) = handle.wait_with_timeout(IDLE_RENEW);
                        tokio::pin!(wait);
                        let mut interrupt = Some(interrupt);
                        // Dropping the interrupt handle ends the wait at once.
                        tokio::select! {
                            r = &mut wait => r,
                            _ = stop.changed() => {
                                drop(interrupt.take());
                                wait.await
                            }
                        }
                    };
                    if let Err(e) = result {
                        tracing::warn!(error = %e, "IDLE wait failed; reconnecting");
                        break;
                    }
                }
                session = match handle.done().await {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::warn!(error = %e, "leaving IDLE failed; reconnecting");
                        break;
                    }
                };
            } else {
                if crate::service::daemon::pause(cfg.poll_interval, &mut stop).await {
                    let _ = session.logout().await;
                    return;
                }
                if let Err(e) = session.noop().await {
                    tracing::warn!(error = %e, "the inbox connection dropped; reconnecting");
                    break;
                }
            }
        }
        if crate::service::daemon::pause(backoff, &mut stop).await {
            break;
        }
    }
}
