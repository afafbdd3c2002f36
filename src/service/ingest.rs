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
//!   that from opening a second case for anything already on file;
//! - a mail is set aside only for failures it can be blamed for: under `secdesk run`, a
//!   mail tried before and not finished is filed in a child ([`isolation`]), so a kill
//!   of the desk counts against no mail.

use crate::clock::Clock;
use crate::config::{ImapConfig, TlsMode};
use crate::service::db::Db;
use crate::service::health::{self, Beat};
use crate::service::isolation;
use crate::service::process::{BatchItem, Desk, Fresh, Processed};
use crate::service::shutdown::Shutdown;
use crate::store::{Arrival, StoreError};
use crate::types::{Uid, UidValidity};
use async_imap::types::UnsolicitedResponse;
use futures::{FutureExt as _, TryStreamExt};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// The keyword set on mail the desk has finished with.
pub const DONE_KEYWORD: &str = "$SecdeskDone";

/// A mail whose processing failed this many times is set aside (filed on a case of its
/// own, raw, with the error) so the mail behind it goes on.
pub const MAX_ATTEMPTS: u32 = 3;

/// The longest wait between two connection attempts after failures.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// How long a connection must have lasted for its end to start the backoff afresh: one
/// dropped at its first IDLE lasts a fraction of a second; a middlebox that cuts idle
/// connections after half a minute must not push the next login minutes away.
const HEALTHY_CONNECTION: Duration = Duration::from_secs(10);

/// The most mails one batch holds: downloaded by one `UID FETCH`, filed in one
/// transaction (a savepoint each), flagged by one `UID STORE`. Interleaved runs of a
/// 10,000-report backlog's filing (issue 12, 2026-12-01): 8.17 and 7.70 s at 50, 6.31
/// and 6.33 s at 100, 6.69 and 6.62 s at 200 (peak RSS 24, 27 and 31 MiB).
const BATCH_MAILS: usize = 100;

/// The most bytes one batch holds (by the sizes the server announces), so a backlog of
/// large mail never sits in memory: a larger mail is a batch of its own.
const BATCH_BYTES: u64 = 4 << 20;

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
    #[error("IMAP: the server did not answer {what} within {}", humantime::format_duration(*.after))]
    Timeout { what: String, after: Duration },
    #[error(
        "{0} mail could not be processed; each is tried again after the backoff, and set aside after {MAX_ATTEMPTS} attempts"
    )]
    Processing(usize),
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

impl IngestError {
    /// The config keys an operator should look at, for the log and `secdesk check`.
    pub fn keys(&self) -> &'static str {
        match self {
            IngestError::Login { .. } => "imap.username / imap.password_file",
            IngestError::Tls { .. } => "imap.tls / imap.ca_file",
            IngestError::Mailbox { .. } => "imap.mailbox",
            IngestError::Connect { .. } => "imap.host / imap.port",
            IngestError::Timeout { .. } | IngestError::Protocol(_) => "imap.host / imap.timeout",
            IngestError::Processing(_) => "the errors logged before this one",
            IngestError::Store(_) => "desk.database",
        }
    }
}

/// Runs one IMAP step with the configured deadline.
async fn timed<T, E: std::fmt::Display>(
    limit: Duration,
    what: &str,
    step: impl Future<Output = Result<T, E>>,
) -> Result<T, IngestError> {
    match tokio::time::timeout(limit, step).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(IngestError::Protocol(format!("{what}: {e}"))),
        Err(_) => Err(IngestError::Timeout {
            what: what.to_string(),
            after: limit,
        }),
    }
}

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
        cfg.timeout,
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
    let connect_err = |reason: String| IngestError::Connect {
        host: cfg.host.clone(),
        port: cfg.port,
        reason,
    };
    match tokio::time::timeout(cfg.timeout, client.read_response()).await {
        Ok(Ok(Some(_))) => Ok(()),
        Ok(Ok(None)) => Err(connect_err(
            "the server closed the connection before greeting".into(),
        )),
        Ok(Err(e)) => Err(connect_err(e.to_string())),
        Err(_) => Err(connect_err(format!(
            "no greeting within {}",
            humantime::format_duration(cfg.timeout)
        ))),
    }
}

/// Connects, protects the connection as configured, and logs in. The password file is
/// read again at each login, so a rotated password takes effect without a restart.
pub async fn connect(cfg: &ImapConfig) -> Result<Session, IngestError> {
    let connect_err = |reason: String| IngestError::Connect {
        host: cfg.host.clone(),
        port: cfg.port,
        reason,
    };
    let tcp = tokio::time::timeout(
        cfg.timeout,
        TcpStream::connect((cfg.host.as_str(), cfg.port)),
    )
    .await
    .map_err(|_| connect_err("timed out".into()))?
    .map_err(|e| connect_err(e.to_string()))?;
    crate::service::keepalive(&tcp);
    let client = match cfg.tls {
        TlsMode::Implicit => {
            let mut c = async_imap::Client::new(tls_wrap(cfg, tcp).await?);
            greeting(&mut c, cfg).await?;
            c
        }
        TlsMode::StartTls => {
            let mut c = async_imap::Client::new(Conn::Plain(tcp));
            greeting(&mut c, cfg).await?;
            timed(
                cfg.timeout,
                "STARTTLS",
                c.run_command_and_check_ok("STARTTLS", None),
            )
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
    let password = crate::service::login_secret(cfg.password_file.as_deref(), &cfg.password)
        .map_err(|reason| IngestError::Login {
            user: cfg.username.clone(),
            reason,
        })?;
    let login =
        tokio::time::timeout(cfg.timeout, client.login(&cfg.username, password.expose())).await;
    match login {
        Ok(Ok(session)) => Ok(session),
        Ok(Err((e, _))) => Err(IngestError::Login {
            user: cfg.username.clone(),
            reason: e.to_string(),
        }),
        Err(_) => Err(IngestError::Login {
            user: cfg.username.clone(),
            reason: format!(
                "no answer within {}",
                humantime::format_duration(cfg.timeout)
            ),
        }),
    }
}

/// What a selected mailbox told us.
#[derive(Debug, Clone, Copy)]
pub struct Selected {
    pub validity: UidValidity,
    pub exists: u32,
    /// The UID the server will give the next mail (`UIDNEXT`), when it says.
    pub uid_next: Option<u32>,
}

pub async fn select(
    session: &mut Session,
    mailbox: &str,
    limit: Duration,
) -> Result<Selected, IngestError> {
    let m = match tokio::time::timeout(limit, session.select(mailbox)).await {
        Ok(r) => r.map_err(|e| IngestError::Mailbox {
            mailbox: mailbox.to_string(),
            reason: e.to_string(),
        })?,
        Err(_) => {
            return Err(IngestError::Timeout {
                what: format!("SELECT {mailbox}"),
                after: limit,
            });
        }
    };
    let validity = m.uid_validity.ok_or_else(|| IngestError::Mailbox {
        mailbox: mailbox.to_string(),
        reason: "the server sent no UIDVALIDITY".into(),
    })?;
    Ok(Selected {
        validity: UidValidity(validity),
        exists: m.exists,
        uid_next: m.uid_next,
    })
}

/// What one sync pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SyncReport {
    pub fetched: usize,
    pub processed: usize,
    pub duplicates: usize,
    /// Mail whose processing failed this time (it is tried again, then set aside).
    pub failed: usize,
    pub set_aside: usize,
}

/// One mail waiting on the server or in the store, with its size.
#[derive(Debug, Clone, Copy)]
struct Waiting {
    /// The UID on the server, or the raw row's id in the store.
    id: i64,
    bytes: u64,
}

/// Cuts `waiting` into batches of at most [`BATCH_MAILS`] mails and [`BATCH_BYTES`]
/// bytes (a larger mail is a batch of its own), in order.
fn batches(waiting: &[Waiting]) -> Vec<&[Waiting]> {
    let mut out = Vec::new();
    let (mut from, mut bytes) = (0, 0u64);
    for (i, w) in waiting.iter().enumerate() {
        let full = i - from >= BATCH_MAILS || bytes.saturating_add(w.bytes) > BATCH_BYTES;
        if i > from && full {
            out.extend(waiting.get(from..i));
            (from, bytes) = (i, 0);
        }
        bytes = bytes.saturating_add(w.bytes);
    }
    if from < waiting.len() {
        out.extend(waiting.get(from..));
    }
    out
}

/// The loops' shared handles for one sync pass.
struct Pass<'a> {
    db: &'a Db,
    desk: &'a Arc<Desk>,
    clock: &'a Arc<dyn Clock>,
    shutdown: &'a Shutdown,
    beat: &'a Beat,
    on_mail_queued: &'a (dyn Fn() + Sync),
}

/// Fetches everything new into the store, files it, and flags it done on the server.
///
/// A backlog goes through in batches ([`batches`], [`file_new`]): the raw bytes of a
/// batch are committed, then the batch is filed in one transaction (each mail still
/// all-or-nothing) while the next batch downloads and the batch before is flagged done;
/// so a mail is flagged only after its transaction committed, and a restart never
/// fetches again what is filed.
/// `shutdown` is checked between mails and never interrupts a transaction.
/// `on_mail_queued` is called as soon as a batch's answers are queued, so the mailer
/// starts on the first acknowledgement without waiting for the whole backlog. `beat` is
/// ticked at each mail; a long first sync tells systemd how far it got.
pub async fn sync(
    session: &mut Session,
    db: &Db,
    desk: &Arc<Desk>,
    clock: &Arc<dyn Clock>,
    shutdown: &Shutdown,
    beat: &Beat,
    on_mail_queued: &(dyn Fn() + Sync),
) -> Result<SyncReport, IngestError> {
    let pass = Pass {
        db,
        desk,
        clock,
        shutdown,
        beat,
        on_mail_queued,
    };
    let limit = desk.config.imap.timeout;
    let mailbox = desk.config.imap.mailbox.as_str();
    let sel = select(session, mailbox, limit).await?;
    let mut report = SyncReport::default();
    let (start, history) = starting_point(db, mailbox, sel.validity).await?;
    // The same UIDVALIDITY, but UIDs the desk has read already given to new mail (a
    // mailbox restored from a file backup keeps both): every new mail would be skipped,
    // in silence, until the UIDs pass the cursor. Each pass says so instead.
    // It holds until the UIDVALIDITY changes: once the server's UIDs pass the cursor
    // again, the mail between would be skipped.
    let (mbox, validity) = (mailbox.to_string(), sel.validity);
    let behind = db
        .call(move |s| s.read(|tx| tx.is_behind(&mbox, validity)))
        .await?;
    if behind || sel.uid_next.is_some_and(|n| n < start) {
        if !behind {
            let mbox = mailbox.to_string();
            db.call(move |s| s.write(|tx| tx.mark_behind(&mbox)))
                .await?;
        }
        return Err(IngestError::Mailbox {
            mailbox: mailbox.to_string(),
            reason: format!(
                "the server gives new mail UIDs the desk has already read (up to {}) under \
                 the same UIDVALIDITY {}: the mailbox was restored or rebuilt and kept it. \
                 No mail is read until the mailbox gets a new UIDVALIDITY: recreate it \
                 (rename it away, create {mailbox} anew, move the mail back); then the desk \
                 reads it all again and files only what it has not seen",
                start.saturating_sub(1),
                sel.validity.0
            ),
        });
    }

    // What an earlier pass stored but did not finish (a failure, a crash) comes first.
    let leftovers = db.call(|s| s.read(|tx| tx.pending_raw_sizes())).await?;
    let _catching_up = (leftovers.len() > BATCH_MAILS).then(|| desk.catch_up.begin());
    if !leftovers.is_empty() {
        let (fresh, retried): (Vec<_>, Vec<_>) = leftovers
            .into_iter()
            .partition(|(_, _, attempts)| *attempts == 0);
        // Mail tried before (a batch that failed or was cut short by a crash) is tried
        // alone, so only the mail at fault runs out of attempts and is set aside.
        for (raw_id, _, _) in retried {
            if shutdown.is_requested() {
                break;
            }
            beat.tick();
            file_alone(&pass, raw_id, &mut report).await?;
        }
        let fresh: Vec<Waiting> = fresh
            .into_iter()
            .map(|(id, bytes, _)| Waiting { id, bytes })
            .collect();
        for batch in batches(&fresh) {
            if shutdown.is_requested() {
                break;
            }
            let ids = batch.iter().map(|w| w.id).collect();
            file_batch(&pass, ToFile::Stored(ids), &mut report).await?;
        }
    }

    let waiting = if sel.exists > 0 {
        let flags = (&desk.mail_announced, &desk.list_by_uid);
        waiting_on_server(session, (start, sel.exists), limit, flags).await?
    } else {
        Vec::new()
    };
    let history_until = match history {
        Some(until) => until,
        None => {
            // The first start: the mail there now is history, up to its last UID, and
            // stays so whatever cuts this sync short; mail after it is live.
            let last = waiting.last().map_or(0, |w| w.id);
            let until = Uid(u32::try_from(last).unwrap_or(u32::MAX));
            let (mbox, validity) = (mailbox.to_string(), sel.validity);
            db.call(move |s| s.write(|tx| tx.begin_history(&mbox, validity, until)))
                .await?;
            if last > 0 {
                tracing::warn!(
                    mailbox,
                    messages = waiting.len(),
                    "first start on this mailbox: the mail already there is filed as history, without acknowledgements or notices"
                );
            }
            until
        }
    };
    // History and live mail never share a batch: each batch is filed as one or the other
    // (but for the desk's own notices standing for mail the server would not hand over,
    // live wherever they are: see `store_raw`).
    let old = waiting.partition_point(|w| w.id <= i64::from(history_until.0));
    let (past, present) = waiting.split_at(old);
    let mut cut = batches(past);
    cut.extend(batches(present));
    // A backlog: the mailer waits while it is filed (see `catchup`).
    let _catching_up = (cut.len() > 1).then(|| desk.catch_up.begin());
    file_new(
        session,
        &pass,
        &cut,
        (sel.validity, history_until),
        &mut report,
    )
    .await?;
    // Mail filed and not flagged yet: the last batch, what was filed before the new
    // mail, and what a pass whose flagging failed (a server gone, a disk that would not
    // sync) left behind, new mail or not. Last, so that a server refusing flags never
    // keeps new mail from being filed.
    flag_done(session, mailbox, sel.validity, db, limit).await?;
    Ok(report)
}

/// The first UID to fetch, and the last UID that is history; `None` for the first
/// start on the mailbox, when what is already there becomes history: filed on cases,
/// never answered (no thousand acknowledgements on the first start).
async fn starting_point(
    db: &Db,
    mailbox: &str,
    validity: UidValidity,
) -> Result<(u32, Option<Uid>), IngestError> {
    let mbox = mailbox.to_string();
    let (cursor, history) = db
        .call(move |s| s.read(|tx| Ok((tx.cursor(&mbox)?, tx.history_until(&mbox)?))))
        .await?;
    Ok(match cursor {
        None => (1, None),
        Some((v, last)) if v == validity => (last.0.saturating_add(1), Some(history)),
        Some((v, _)) => {
            tracing::warn!(
                mailbox,
                old = v.0,
                new = validity.0,
                "UIDVALIDITY changed: fetching the whole mailbox again (duplicates are recognised by Message-ID)"
            );
            (1, Some(Uid(0)))
        }
    })
}

/// Whether a batch downloaded is history (its UIDs up to `history_until`) or live mail;
/// a batch is never both (see `sync`).
fn arrival_of(fetched: &[(u32, Vec<u8>)], history_until: Uid) -> Arrival {
    match fetched.first() {
        Some((uid, _)) if *uid <= history_until.0 => Arrival::History,
        _ => Arrival::Live,
    }
}

/// The UIDs from `start` on, with the sizes the server announces, in UID order.
///
/// A server that must open a message file to tell its size cannot list the size of a
/// file it cannot read (one delivered by another program): it refuses the listing, or
/// drops the connection at it (Dovecot's default). Then the mail is listed by UID alone
/// (from its index), at once or, the connection gone, at the next pass (`by_uid`); each
/// mail is taken as large, a batch of its own, and the one the server cannot read is
/// dealt with as any mail it will not hand over.
async fn waiting_on_server(
    session: &mut Session,
    (start, exists): (u32, u32),
    timeout: Duration,
    (announced, by_uid): (&AtomicBool, &AtomicBool),
) -> Result<Vec<Waiting>, IngestError> {
    let set = format!("{start}:*");
    let limit = listing_deadline(timeout, exists);
    // Before READY, a large mailbox's listing may take longer than systemd's start
    // timeout, as a download may: it is asked to wait (once more, should the listing
    // by UID follow).
    health::extend_start(limit.saturating_mul(2).saturating_add(timeout));
    let sized = if by_uid.swap(false, Ordering::Relaxed) {
        None
    } else {
        match listing(session, &set, "UID RFC822.SIZE", limit, announced).await {
            Ok(waiting) => Some(waiting),
            Err(e) if answers(session, timeout).await => {
                tracing::warn!(error = %e, "the IMAP server would not list the sizes of the mail waiting; listing it by UID alone");
                None
            }
            Err(e) => {
                by_uid.store(true, Ordering::Relaxed);
                return Err(e);
            }
        }
    };
    let mut waiting = match sized {
        Some(waiting) => waiting,
        None => {
            let mut by_uid_only = listing(session, &set, "UID", limit, announced).await?;
            for w in &mut by_uid_only {
                w.bytes = BATCH_BYTES;
            }
            by_uid_only
        }
    };
    // `n:*` names the last mail even when its UID is below n.
    waiting.retain(|w| w.id >= i64::from(start));
    waiting.sort_unstable_by_key(|w| w.id);
    waiting.dedup_by_key(|w| w.id);
    Ok(waiting)
}

/// `UID FETCH <set> (<items>)`, read through to the server's tagged answer, which must
/// be `OK`: the UIDs listed, with the sizes announced (0 when not asked for). A listing
/// decides which mail is asked for and where the cursor may go, and async-imap's own
/// stream ends quietly at a tagged `NO` or `BAD` and at a connection closed: a listing
/// cut short would pass for a whole one, and a mail it left out would never be asked
/// for. Each answer is read and let go at once (a backlog has ten thousand). An
/// `EXISTS` or `RECENT` heard meanwhile (new mail) is noted in `announced`.
async fn listing(
    session: &mut Session,
    set: &str,
    items: &str,
    limit: Duration,
    announced: &AtomicBool,
) -> Result<Vec<Waiting>, IngestError> {
    use async_imap::imap_proto::{AttributeValue, MailboxDatum, Response, Status};
    let what = format!("UID FETCH ({items})");
    let read = async {
        let command = format!("UID FETCH {set} ({items})");
        let tag = session
            .run_command(command)
            .await
            .map_err(|e| e.to_string())?;
        let mut listed = Vec::new();
        loop {
            let Some(answer) = session.read_response().await.map_err(|e| e.to_string())? else {
                return Err("the connection closed before the listing ended".to_string());
            };
            match answer.parsed() {
                Response::Done {
                    tag: done,
                    status,
                    outcome,
                } if *done == tag => {
                    if *status == Status::Ok {
                        return Ok(listed);
                    }
                    let why = outcome.information.as_deref().unwrap_or("");
                    return Err(format!(
                        "the server answered {status:?}: {}",
                        crate::sanitize::one_line(why)
                    ));
                }
                Response::Fetch(_, attributes) => {
                    let (mut uid, mut size) = (None, 0);
                    for a in attributes {
                        match a {
                            AttributeValue::Uid(u) => uid = Some(*u),
                            AttributeValue::Rfc822Size(n) => size = *n,
                            _ => {}
                        }
                    }
                    if let Some(uid) = uid {
                        listed.push(Waiting {
                            id: i64::from(uid),
                            bytes: u64::from(size),
                        });
                    }
                }
                Response::MailboxData(MailboxDatum::Exists(_) | MailboxDatum::Recent(_)) => {
                    announced.store(true, Ordering::Relaxed);
                }
                _ => {}
            }
        }
    };
    timed(limit, &what, read).await
}

/// Downloads one batch of mails (UID, bytes), without setting \Seen. What came before
/// a failure (a connection dropped, a timeout) is kept, and returned with it.
async fn download(
    session: &mut Session,
    batch: &[Waiting],
    limit: Duration,
) -> (Vec<(u32, Vec<u8>)>, Option<IngestError>) {
    let set = uid_set(batch);
    let timeout = limit;
    let limit = download_deadline(timeout, batch);
    // Before READY, systemd's start timeout (two minutes) is shorter than the download
    // of a big batch may take: it is asked to wait that long, and no longer.
    health::extend_start(limit.saturating_add(timeout));
    let mut got = Vec::with_capacity(batch.len());
    let done = timed(limit, "UID FETCH", async {
        let stream = session.uid_fetch(&set, "(UID BODY.PEEK[])").await?;
        let mut stream = std::pin::pin!(stream);
        // Each mail is copied out as it arrives and its response let go, so the batch
        // is in memory once, not twice.
        // A mail the desk did not ask for (a server answering out of turn) is not taken:
        // stored, it would move the cursor past the mail between.
        let asked: std::collections::BTreeSet<i64> = batch.iter().map(|w| w.id).collect();
        while let Some(f) = stream.try_next().await? {
            let Some(uid) = f.uid.filter(|u| asked.contains(&i64::from(*u))) else {
                continue;
            };
            if let Some(body) = f.body() {
                got.push((uid, body.to_vec()));
            }
        }
        Ok::<_, async_imap::error::Error>(())
    })
    .await;
    (got, done.err())
}

/// A batch downloaded: its mails (UID, bytes) in UID order, and the UID the server
/// stopped handing over mail at, if it did (a connection dropped, a timeout). The mail
/// before that UID is filed; the pass ends after it.
struct Fetched {
    mails: Vec<(u32, Vec<u8>)>,
    cut_at: Option<u32>,
    /// The UIDs whose mail is a notice of the desk's own standing for a mail the server
    /// would not hand over: filed as live mail even among history, so the team is told.
    stood_for: Vec<u32>,
}

/// [`download`], and for each mail of the batch the server did not hand over:
/// - if the connection is gone (Dovecot's default for a message file it cannot read is
///   to drop it; the stream of `UID FETCH` ends quietly when it does), the UID it
///   stopped at is counted in [`Stalls`]: the mail before it is filed, the pass ends,
///   and after [`PASS_OVER_AFTER`] such stops in a row that mail is not asked for again;
/// - if the server answered `NO` (the stream ends quietly at that too) and still lists
///   the mail, one more try; refused again, it is a stop counted in the same way.
///
/// A mail given up is replaced by a mail of the desk's own that names it, filed on a
/// case of its own with the team told, so a report the server keeps back is never
/// passed over in silence, and never holds back the mail behind it for good. Nothing at
/// or past a stop is stored in the pass: the cursor never passes a mail neither filed
/// nor stood for.
async fn fetch_batch(
    session: &mut Session,
    batch: &[Waiting],
    (limit, mailbox, validity): (Duration, &str, UidValidity),
    desk: &Desk,
) -> Result<Fetched, IngestError> {
    let stalls = &desk.stalls;
    let (given_up, asked): (Vec<Waiting>, Vec<Waiting>) = batch
        .iter()
        .cloned()
        .partition(|w| uid_of(w).is_some_and(|uid| stalls.given_up(validity, uid)));
    let (mut mails, failed) = download(session, &asked, limit).await;
    let got: std::collections::BTreeSet<u32> = mails.iter().map(|(uid, _)| *uid).collect();
    stalls.came_through(validity, |uid| got.contains(&uid));
    let missing: Vec<Waiting> = asked
        .into_iter()
        .filter(|w| uid_of(w).is_some_and(|uid| !got.contains(&uid)))
        .collect();
    let mut cut_at = None;
    match (missing.first().and_then(uid_of), failed) {
        (None, Some(e)) => return Err(e),
        (None, None) => {}
        (Some(uid), failed) => {
            let gone = match &failed {
                Some(_) => true,
                None => !answers(session, limit).await,
            };
            if gone {
                let times = stalls.stopped_at(validity, uid);
                let error =
                    failed.map_or_else(|| "the connection was closed".into(), |e| e.to_string());
                tracing::error!(
                    mailbox,
                    uid,
                    times,
                    %error,
                    "the IMAP server stopped handing over mail at this one; the mail before it is filed, and after {PASS_OVER_AFTER} times in a row it is passed over and the team told"
                );
                cut_at = Some(uid);
            } else {
                let announced = &desk.mail_announced;
                let (again, refused) = ask_again(session, missing, limit, announced).await?;
                mails.extend(again);
                // Refused twice is a stop like a connection dropped: counted, the mail
                // before it filed, and passed over only after `PASS_OVER_AFTER` in a row
                // (a server refusing for a while, throttling say, must not have every
                // report of a backlog stood for at once).
                if let Some(&uid) = refused.first() {
                    let times = stalls.stopped_at(validity, uid);
                    tracing::error!(
                        mailbox,
                        uid,
                        times,
                        "the IMAP server lists a mail it would not hand over, asked twice; the mail before it is filed, and after {PASS_OVER_AFTER} times in a row it is passed over and the team told"
                    );
                    cut_at = Some(uid);
                }
            }
        }
    }
    // Nothing at or past the UID the server stopped at is stored this pass: the cursor
    // follows the mail stored, and must not pass a mail neither filed nor stood for (a
    // server may hand over the mail behind it before it drops the connection, as
    // Dovecot's `disconnect-after` does). That mail is asked for again next pass.
    let before_cut = |uid: u32| cut_at.is_none_or(|cut| uid < cut);
    mails.retain(|(uid, _)| before_cut(*uid));
    let mut stood_for = Vec::new();
    for uid in given_up
        .iter()
        .filter_map(uid_of)
        .filter(|u| before_cut(*u))
    {
        tracing::error!(
            mailbox,
            uid,
            "the IMAP server stopped at this mail {PASS_OVER_AFTER} times in a row; it is passed over and the team told"
        );
        let why = format!("but stopped handing over mail at it {PASS_OVER_AFTER} times in a row");
        mails.push((uid, kept_back_notice(desk, mailbox, validity, uid, &why)));
        stood_for.push(uid);
        stalls.came_through(validity, |u| u == uid);
    }
    mails.sort_unstable_by_key(|(uid, _)| *uid);
    Ok(Fetched {
        mails,
        cut_at,
        stood_for,
    })
}

/// `missing`, asked for once more: the mails the server hands over this time (filed
/// with the rest of the batch), and the UIDs it still lists but would not hand over (it
/// answered `NO` again); those since expunged are simply gone.
async fn ask_again(
    session: &mut Session,
    missing: Vec<Waiting>,
    limit: Duration,
    announced: &AtomicBool,
) -> Result<(Vec<(u32, Vec<u8>)>, Vec<u32>), IngestError> {
    // Read to the server's `OK`: a listing cut short would pass a mail off as expunged.
    let listed: std::collections::BTreeSet<i64> =
        listing(session, &uid_set(&missing), "UID", limit, announced)
            .await?
            .into_iter()
            .map(|w| w.id)
            .collect();
    let kept_back: Vec<Waiting> = missing
        .into_iter()
        .filter(|w| listed.contains(&w.id))
        .collect();
    if kept_back.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let (again, failed) = download(session, &kept_back, limit).await;
    if let Some(e) = failed {
        return Err(e);
    }
    let got: std::collections::BTreeSet<u32> = again.iter().map(|(uid, _)| *uid).collect();
    let refused = kept_back
        .iter()
        .filter_map(uid_of)
        .filter(|uid| !got.contains(uid))
        .collect();
    Ok((again, refused))
}
/// Whether the connection still answers: a `UID FETCH` stream ends quietly when the
/// connection does, as it does at a tagged `NO`. (So does async-imap's `noop`: the
/// tagged `OK` must be seen.)
async fn answers(session: &mut Session, limit: Duration) -> bool {
    timed(limit, "NOOP", session.run_command_and_check_ok("NOOP"))
        .await
        .is_ok()
}

/// `batch`'s UIDs as an IMAP set.
fn uid_set(batch: &[Waiting]) -> String {
    batch
        .iter()
        .map(|w| w.id.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

fn uid_of(w: &Waiting) -> Option<u32> {
    u32::try_from(w.id).ok()
}

/// The desk's own mail standing for UID `uid` of `mailbox`, which the server lists
/// `why` (…would not hand over): automatic (never answered), from the desk's host,
/// naming the mail.
fn kept_back_notice(
    desk: &Desk,
    mailbox: &str,
    validity: UidValidity,
    uid: u32,
    why: &str,
) -> Vec<u8> {
    let host = &desk.config.desk.hostname;
    let mailbox = crate::sanitize::one_line(mailbox);
    format!(
        "From: IMAP server <mailer-daemon@{host}>\r\n\
         To: {to}\r\n\
         Subject: (a mail the IMAP server would not hand over: UID {uid} in {mailbox})\r\n\
         Message-ID: <kept-back.{validity}.{uid}@{host}>\r\n\
         Auto-Submitted: auto-generated\r\n\
         \r\n\
         The IMAP server lists a mail as UID {uid} in {mailbox} (UIDVALIDITY {validity}),\r\n\
         {why}. Its log says what is wrong (a message file it cannot read, say).\r\n\
         It may be a report. It stays in the mailbox, marked done like the mail\r\n\
         around it: read it there, and forward it to the desk once it can be read.\r\n",
        to = desk.config.desk.address,
        validity = validity.0,
    )
    .into_bytes()
}

/// After the server has stopped handing over mail at the same UID this many times in
/// a row (a connection dropped or gone silent), nothing of that mail come through, the
/// mail is passed over: one of the desk's own stands in its place and the team is told.
/// Dovecot drops the connection at a message file it cannot read (its default
/// `imap_fetch_failure`), and without this every report behind that mail would wait
/// for good. A network that fails now and then moves on between the tries.
pub const PASS_OVER_AFTER: u32 = 3;

/// Where the IMAP server last stopped handing over mail: (UIDVALIDITY, UID, how many
/// times in a row). Kept for the daemon's life, across connections.
#[derive(Debug, Default)]
pub struct Stalls(std::sync::Mutex<Option<(UidValidity, u32, u32)>>);

impl Stalls {
    fn with<T>(&self, f: impl FnOnce(&mut Option<(UidValidity, u32, u32)>) -> T) -> T {
        // Nothing panics while it is held; a poisoned lock still holds a sound value.
        let mut stall = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut stall)
    }

    /// Counts one more stop at `uid`; returns how many in a row.
    fn stopped_at(&self, validity: UidValidity, uid: u32) -> u32 {
        self.with(|stall| {
            let times = match *stall {
                Some((v, u, n)) if v == validity && u == uid => n.saturating_add(1),
                _ => 1,
            };
            *stall = Some((validity, uid, times));
            times
        })
    }

    /// Whether the server has stopped at `uid` often enough for it to be passed over.
    fn given_up(&self, validity: UidValidity, uid: u32) -> bool {
        self.with(|stall| {
            matches!(*stall, Some((v, u, n)) if v == validity && u == uid && n >= PASS_OVER_AFTER)
        })
    }

    /// The mail stopped at came through, or was passed over: the count starts afresh.
    fn came_through(&self, validity: UidValidity, uids: impl Fn(u32) -> bool) {
        self.with(|stall| {
            if matches!(*stall, Some((v, u, _)) if v == validity && uids(u)) {
                *stall = None;
            }
        });
    }
}

/// A batch's announced size in megabytes: the download's deadline grows with it.
/// How long the download of `batch` may take: the IMAP timeout for each megabyte and
/// one more, but never so long that the watchdog ends the desk first. A server gone
/// silent in the middle of a mail of 12 MB or more kept the ingest loop from ticking
/// past its beat's bound ([`beat_bound`], at least [`MAX_BACKOFF`] and six timeouts):
/// systemd killed the desk before the timeout fired, and a restart forgot the stalls
/// counted against that mail, so it was asked for again, and the desk killed again, for
/// ever. Two timeouts short of the least bound, the download fails first.
/// How long the listing of a mailbox of `exists` mails may take: the timeout for each ten
/// thousand and one more, within the room [`download_deadline`] keeps from the watchdog.
/// A first start on a mailbox of a hundred thousand had one timeout to list them all,
/// and a server still answering was taken for one refusing to list sizes.
fn listing_deadline(timeout: Duration, exists: u32) -> Duration {
    timeout
        .saturating_mul(exists / 10_000 + 1)
        .min(MAX_BACKOFF.saturating_add(timeout.saturating_mul(4)))
}

fn download_deadline(timeout: Duration, batch: &[Waiting]) -> Duration {
    timeout
        .saturating_mul(batch_megabytes(batch).saturating_add(1))
        .min(MAX_BACKOFF.saturating_add(timeout.saturating_mul(4)))
}

fn batch_megabytes(batch: &[Waiting]) -> u32 {
    let bytes: u64 = batch.iter().map(|w| w.bytes).sum();
    u32::try_from(bytes / 1_000_000).unwrap_or(u32::MAX)
}

/// Downloads, stores, parses, files and flags the `batches` of new mail, in order, as a
/// pipeline: while batch i is filed (the database's one writer), batch i+1, already
/// committed, is parsed on another thread, batch i+2 downloads and the mail filed before
/// is flagged done on the server (after its commit); the last by the pass, after it. A
/// batch's raw bytes are committed, its first attempts counted, before it is parsed.
async fn file_new(
    session: &mut Session,
    pass: &Pass<'_>,
    batches: &[&[Waiting]],
    (validity, history_until): (UidValidity, Uid),
    report: &mut SyncReport,
) -> Result<(), IngestError> {
    let limit = pass.desk.config.imap.timeout;
    let mailbox = pass.desk.config.imap.mailbox.as_str();
    let total: usize = batches.iter().map(|b| b.len()).sum();
    // The batch downloaded (not stored yet), and the one stored and parsed (not filed).
    let mut next = match batches.first() {
        Some(b) => Some(fetch_batch(session, b, (limit, mailbox, validity), pass.desk).await?),
        None => None,
    };
    let mut ready: Option<ToFile> = None;
    // Filed mail is flagged done on the server while the next batch is filed (the UIDs
    // read after their commit), and marked flagged in the next batch's first transaction:
    // the IMAP round trip is off the filing's path.
    let mut to_flag: Vec<Uid> = Vec::new();
    let mut flagged: Vec<Uid> = Vec::new();
    let mut flags_refused = false; // then none is asked for again until the pass ends
    let mut cut_at = None; // where the server stopped handing over mail: the pass ends
    for i in 1..=batches.len() + 1 {
        if pass.shutdown.is_requested() || (next.is_none() && ready.is_none()) {
            break;
        }
        pass.beat.tick();
        let t0 = std::time::Instant::now();
        let arrival = next
            .as_ref()
            .map_or(Arrival::Live, |b| arrival_of(&b.mails, history_until));
        let stored = match next.take() {
            Some(fetched) => {
                cut_at = cut_at.or(fetched.cut_at);
                let done = std::mem::take(&mut flagged);
                let now = pass.clock.now();
                let stored = store_raw(
                    pass.db,
                    (mailbox, validity),
                    (fetched.mails, fetched.stood_for),
                    now,
                    arrival,
                    done,
                );
                let stored = match stored.await {
                    Ok(stored) => stored,
                    Err(e) => {
                        give_back(pass.db, ready).await;
                        return Err(e);
                    }
                };
                report.fetched += stored.len();
                stored
            }
            None => Vec::new(),
        };
        let stored_in = t0.elapsed();
        let filing = ready.take();
        let mails = filing.as_ref().map_or(0, |b| b.raw_ids().len());
        let flagging = std::mem::take(&mut to_flag);
        let (batch, cut) = (batches.get(i).copied(), cut_at.is_some());
        let ahead = look_ahead(session, pass, flagging, batch, validity, cut);
        let parsing = parse_aside(stored);
        let filing = async {
            let t = std::time::Instant::now();
            match filing {
                Some(batch) => (file_batch(pass, batch, report).await, t.elapsed()),
                None => (Ok(()), t.elapsed()),
            }
        };
        let (ahead, parsed, (filed, filed_in)) = tokio::join!(ahead, parsing, filing);
        let (ahead, done, downloaded, refused) = match filed.and(ahead) {
            Ok(ahead) => ahead,
            Err(e) => {
                give_back(pass.db, parsed).await;
                return Err(e);
            }
        };
        (next, ready) = (ahead, parsed);
        flags_refused |= refused;
        // Empty unless no batch was stored this time (the last): then kept for the end.
        flagged.extend(done);
        flagged.sort_unstable();
        if !flags_refused {
            to_flag = unflagged_but(pass.db, mailbox, validity, &flagged).await?;
        }
        tracing::debug!(
            mails,
            stored_ms = stored_in.as_millis() as u64,
            filed_ms = filed_in.as_millis() as u64,
            flagged_and_next_downloaded_ms = downloaded.as_millis() as u64,
            "batch done"
        );
        if total > BATCH_MAILS {
            catching_up(limit, report.fetched, total);
        }
    }
    // Stopped with a batch stored but not filed: the next pass files it.
    give_back(pass.db, ready).await;
    if !flagged.is_empty() {
        let mbox = mailbox.to_string();
        pass.db
            .call(move |s| s.write(|tx| tx.mark_flagged(&mbox, validity, &flagged)))
            .await?;
    }
    match cut_at {
        Some(uid) => Err(IngestError::Protocol(format!(
            "UID FETCH: the server stopped handing over mail at UID {uid} (the mail before it is filed)"
        ))),
        None => Ok(()),
    }
}

/// The mail filed and not flagged done on the server yet, but for `flagged` (sorted).
async fn unflagged_but(
    db: &Db,
    mailbox: &str,
    validity: UidValidity,
    flagged: &[Uid],
) -> Result<Vec<Uid>, IngestError> {
    let mbox = mailbox.to_string();
    let mut waiting = db
        .call(move |s| s.read(|tx| tx.unflagged(&mbox, validity)))
        .await?;
    waiting.retain(|u| flagged.binary_search(u).is_err());
    Ok(waiting)
}

/// A long backlog (a first start on a big mailbox, a weekend offline): systemd hears how
/// far we got and waits, instead of killing a desk that is working.
fn catching_up(limit: Duration, filed: usize, total: usize) {
    health::extend_start(limit.saturating_mul(3));
    health::status_of(
        health::Part::Inbox,
        Some(&format!(
            "catching up with the inbox: {filed} of {total} mails filed"
        )),
    );
}

/// What goes on beside the filing of a batch (see [`file_new`]): the mail filed before
/// is flagged done, and `batch` (the next, if any) downloads; neither once the server
/// has stopped handing over mail (`cut`: the connection is gone, and the flags wait for
/// the next pass). Returns the batch downloaded, the UIDs flagged, the time taken, and
/// whether flags were refused.
async fn look_ahead(
    session: &mut Session,
    pass: &Pass<'_>,
    flagging: Vec<Uid>,
    batch: Option<&[Waiting]>,
    validity: UidValidity,
    cut: bool,
) -> Result<(Option<Fetched>, Vec<Uid>, Duration, bool), IngestError> {
    let t = std::time::Instant::now();
    if cut {
        return Ok((None, Vec::new(), t.elapsed(), false));
    }
    let imap = &pass.desk.config.imap;
    let (done, refused) = flag_filed(session, pass.db, &flagging, imap.timeout).await?;
    let next = match batch {
        Some(b) if !pass.shutdown.is_requested() => {
            let how = (imap.timeout, imap.mailbox.as_str(), validity);
            Some(fetch_batch(session, b, how, pass.desk).await?)
        }
        _ => None,
    };
    Ok((next, done, t.elapsed(), refused))
}

/// Flags `uids` done on the server (mail filed, its commit durable) while a backlog is
/// filed; returns those flagged, and whether the server refused. A server refusing
/// flags (a read-only mailbox, a proxy) never slows the backlog: its mail stays
/// unflagged, and the end of the pass tries again (`flag_done`). A server gone fails the
/// download that follows; one gone silent, or a disk that will not sync, ends the pass.
async fn flag_filed(
    session: &mut Session,
    db: &Db,
    uids: &[Uid],
    limit: Duration,
) -> Result<(Vec<Uid>, bool), IngestError> {
    let mut done = Vec::with_capacity(uids.len());
    for chunk in uids.chunks(FLAG_CHUNK) {
        match store_flags(session, db, chunk, limit).await {
            Ok(()) => done.extend_from_slice(chunk),
            Err(IngestError::Protocol(why)) => {
                tracing::warn!(error = %why, "the server refused to flag filed mail; the backlog goes on, and flagging is tried again at the end of the pass");
                return Ok((done, true));
            }
            Err(e) => return Err(e),
        }
    }
    Ok((done, false))
}

/// Commits the raw bytes of a downloaded batch (the cursor moves past it), each mail's
/// first attempt counted, before anything else is done with them; returns the new rows'
/// ids with their bytes and arrival, in order. The batch's mail arrives as `arrival`,
/// but for the notices standing for mail the server would not hand over (`stood_for`),
/// which are live: in history too, the team must hear of them.
async fn store_raw(
    db: &Db,
    (mailbox, validity): (&str, UidValidity),
    (fetched, stood_for): (Vec<(u32, Vec<u8>)>, Vec<u32>),
    now: chrono::DateTime<chrono::Utc>,
    arrival: Arrival,
    flagged: Vec<Uid>,
) -> Result<Vec<(i64, Arc<Vec<u8>>, Arrival)>, IngestError> {
    let mbox = mailbox.to_string();
    Ok(db
        .call(move |s| {
            s.write(|tx| {
                // What the server was told is done since the last transaction.
                tx.mark_flagged(&mbox, validity, &flagged)?;
                let mut stored = Vec::with_capacity(fetched.len());
                for (uid, bytes) in fetched {
                    let at = (mbox.as_str(), validity, Uid(uid));
                    let arrival = if stood_for.contains(&uid) {
                        Arrival::Live
                    } else {
                        arrival
                    };
                    let id = tx.insert_raw(at, &bytes, now, arrival, true)?;
                    stored.extend(id.map(|id| (id, Arc::new(bytes), arrival)));
                }
                Ok(stored)
            })
        })
        .await?)
}

/// A batch to file: mail stored by an earlier pass (read back, an attempt counted), or
/// mail this pass has just stored with its first attempt counted, parsed from the bytes
/// in hand.
enum ToFile {
    Stored(Vec<i64>),
    Fresh(Fresh),
}

impl ToFile {
    fn raw_ids(&self) -> Vec<i64> {
        match self {
            ToFile::Stored(ids) => ids.clone(),
            ToFile::Fresh(fresh) => fresh.raw_ids(),
        }
    }
}

/// Parses a batch just stored, on a thread of the blocking pool (the filing of the batch
/// before holds the database's). Parsing catches its own panics; should one escape, the
/// batch is filed as stored mail, read back and parsed again by the filing.
async fn parse_aside(stored: Vec<(i64, Arc<Vec<u8>>, Arrival)>) -> Option<ToFile> {
    if stored.is_empty() {
        return None;
    }
    let ids: Vec<i64> = stored.iter().map(|(id, _, _)| *id).collect();
    match tokio::task::spawn_blocking(move || Fresh::parse(stored)).await {
        Ok(fresh) => Some(ToFile::Fresh(fresh)),
        Err(e) => {
            tracing::error!(mails = ids.len(), error = %e, "parsing a batch failed; its mails are read back and parsed again");
            Some(ToFile::Stored(ids))
        }
    }
}

/// A batch stored but not filed (the pass ends early: an error, a stop) gets back the
/// attempts counted when it was stored, so that the next pass files it as fresh mail, in
/// a batch. Should that fail, its mails are tried alone next time: nothing is lost.
async fn give_back(db: &Db, unfiled: Option<ToFile>) {
    let Some(ids) = unfiled.map(|b| b.raw_ids()) else {
        return;
    };
    let released = db
        .call(move |s| {
            s.write(|tx| {
                for id in &ids {
                    tx.release_raw_attempt(*id)?;
                }
                Ok(())
            })
        })
        .await;
    if let Err(e) = released {
        tracing::warn!(error = %e, "the attempts of a batch left unfiled could not be given back; its mails are tried one at a time");
    }
}

/// Files a batch of stored mails in one transaction ([`Desk::process_batch`]). When the
/// batch as a whole fails (a panic, the database refusing the commit), its mails are
/// filed one at a time instead, so that only the mail at fault fails.
async fn file_batch(
    pass: &Pass<'_>,
    batch: ToFile,
    report: &mut SyncReport,
) -> Result<(), IngestError> {
    let raw_ids = batch.raw_ids();
    if raw_ids.is_empty() {
        return Ok(());
    }
    let (d, now) = (Arc::clone(pass.desk), pass.clock.now());
    let (stop, beat) = (pass.shutdown.clone(), pass.beat.clone());
    let result = std::panic::AssertUnwindSafe(pass.db.call(move |s| {
        let stop = || {
            beat.tick();
            stop.is_requested()
        };
        match batch {
            ToFile::Stored(ids) => d.process_batch(s, &ids, now, &stop),
            ToFile::Fresh(fresh) => d.file_stored(s, fresh, now, &stop),
        }
    }))
    .catch_unwind()
    .await;
    let error = match result {
        Ok(Ok(items)) => {
            let mut queued = false;
            for (raw_id, item) in raw_ids.iter().zip(items) {
                match item {
                    BatchItem::Done(outcome) => queued |= tally(report, &outcome),
                    BatchItem::Failed(error) => {
                        report.failed += 1;
                        tracing::error!(raw_id, max = MAX_ATTEMPTS, error = %error, "a mail could not be processed; it is tried again, then set aside");
                    }
                    BatchItem::Untried => {}
                }
            }
            if queued {
                (pass.on_mail_queued)();
            }
            return Ok(());
        }
        Ok(Err(e)) => e.to_string(),
        Err(panic) => panic_text(panic.as_ref()),
    };
    tracing::error!(mails = raw_ids.len(), error = %error, "a batch could not be filed; its mails are filed one at a time");
    for raw_id in raw_ids {
        if pass.shutdown.is_requested() {
            break;
        }
        pass.beat.tick();
        file_alone(pass, raw_id, report).await?;
    }
    Ok(())
}

/// Counts what one mail came to; true when it queued mail to send.
fn tally(report: &mut SyncReport, outcome: &Processed) -> bool {
    match outcome {
        Processed::Filed {
            case,
            opened,
            kind,
            outgoing,
        } => {
            report.processed += 1;
            tracing::info!(case = %case, opened, kind = kind.as_str(), outgoing, "mail filed");
            *outgoing > 0
        }
        Processed::Duplicate(id) => {
            report.duplicates += 1;
            tracing::info!(message_id = %id, "duplicate mail: already on file");
            false
        }
        Processed::Unfiled(id) => {
            report.processed += 1;
            tracing::info!(message_id = %id, "mail kept on no case");
            false
        }
        Processed::AlreadyDone => false,
    }
}

pub(crate) fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    format!(
        "the desk panicked: {}",
        panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default()
    )
}

/// Files one suspect mail (tried before, not finished) alone: in a child process when
/// the desk has one to start ([`isolation`]), else in this process. Either way a mail
/// that keeps failing is set aside after [`MAX_ATTEMPTS`] and never blocks the mail
/// behind it. An error here means the database itself fails, and ends the sync.
async fn file_alone(
    pass: &Pass<'_>,
    raw_id: i64,
    report: &mut SyncReport,
) -> Result<(), IngestError> {
    if let Some(iso) = &pass.desk.isolation {
        match file_isolated(pass, iso, raw_id, report).await? {
            None => return Ok(()),
            Some(why) => {
                tracing::warn!(raw_id, reason = %why, "a suspect mail cannot be filed in a process of its own; it is filed in the desk's");
            }
        }
    }
    file_in_process(pass, raw_id, report).await
}

/// Files one suspect mail in a child ([`isolation::file`]). Only what the mail can be
/// blamed for counts as an attempt: a failure the child records, or the child's death by
/// a signal or a timeout while this process lives on. `Some(why)` when no child could
/// take it, for this process to file it instead.
async fn file_isolated(
    pass: &Pass<'_>,
    iso: &isolation::Isolation,
    raw_id: i64,
    report: &mut SyncReport,
) -> Result<Option<String>, IngestError> {
    let db = pass.db;
    let attempts = db
        .call(move |s| s.read(|tx| tx.pending_raw_attempts(raw_id)))
        .await?;
    let Some(attempts) = attempts else {
        return Ok(None);
    };
    let now = pass.clock.now();
    if attempts >= MAX_ATTEMPTS {
        let d = Arc::clone(pass.desk);
        db.call(move |s| d.set_aside(s, raw_id, attempts, now))
            .await?;
        report.set_aside += 1;
        (pass.on_mail_queued)();
        return Ok(None);
    }
    let stop = pass.shutdown.clone();
    let (attempts, error) = match isolation::file(iso, raw_id, now, pass.beat, stop).await {
        isolation::Outcome::Filed => {
            report.processed += 1;
            (pass.on_mail_queued)();
            return Ok(None);
        }
        isolation::Outcome::Unavailable(why) => return Ok(Some(why)),
        isolation::Outcome::Stopped => return Ok(None),
        isolation::Outcome::Retry(why) => {
            tracing::warn!(raw_id, reason = %why, "a mail is filed again after the backoff; no attempt is counted");
            report.failed += 1;
            return Ok(None);
        }
        isolation::Outcome::Failed => {
            // The child counted the attempt and recorded why.
            let read = move |tx: &crate::store::Tx<'_>| {
                Ok((tx.pending_raw_attempts(raw_id)?, tx.raw_last_error(raw_id)?))
            };
            let (counted, error) = db.call(move |s| s.read(read)).await?;
            (counted.unwrap_or(attempts), error.unwrap_or_default())
        }
        isolation::Outcome::Crashed(why) => {
            let error = why.clone();
            let n = db
                .call(move |s| s.write(|tx| tx.count_raw_failure(raw_id, &error)))
                .await?;
            if n == 0 {
                return Ok(None); // filed after all, just before the child was ended
            }
            (n, why)
        }
    };
    tracing::error!(raw_id, attempts, max = MAX_ATTEMPTS, error = %error, "a mail could not be processed; it is tried again, then set aside");
    report.failed += 1;
    Ok(None)
}

/// Files one suspect mail in a transaction of this process. The attempt is counted in
/// its own transaction before it is made, so a mail that fails (or panics, or crashes
/// the process) is set aside after [`MAX_ATTEMPTS`].
async fn file_in_process(
    pass: &Pass<'_>,
    raw_id: i64,
    report: &mut SyncReport,
) -> Result<(), IngestError> {
    let db = pass.db;
    let attempts = db
        .call(move |s| s.write(|tx| tx.begin_raw_attempt(raw_id)))
        .await?;
    if attempts == 0 {
        return Ok(());
    }
    let now = pass.clock.now();
    if attempts > MAX_ATTEMPTS {
        let d = Arc::clone(pass.desk);
        db.call(move |s| d.set_aside(s, raw_id, attempts - 1, now))
            .await?;
        report.set_aside += 1;
        (pass.on_mail_queued)();
        return Ok(());
    }
    let d = Arc::clone(pass.desk);
    // A panic while processing one mail is that mail's failure, not the desk's.
    let result = std::panic::AssertUnwindSafe(db.call(move |s| d.process(s, raw_id, now)))
        .catch_unwind()
        .await;
    let error = match result {
        Ok(Ok(outcome)) => {
            if tally(report, &outcome) {
                (pass.on_mail_queued)();
            }
            return Ok(());
        }
        Ok(Err(e)) => e.to_string(),
        Err(panic) => panic_text(panic.as_ref()),
    };
    tracing::error!(raw_id, attempts, max = MAX_ATTEMPTS, error = %error, "a mail could not be processed; it is tried again, then set aside");
    db.call(move |s| s.write(|tx| tx.raw_attempt_failed(raw_id, &error)))
        .await?;
    report.failed += 1;
    Ok(())
}

/// Marks processed mail on the server. Best effort: the local state is what counts.
async fn flag_done(
    session: &mut Session,
    mailbox: &str,
    validity: UidValidity,
    db: &Db,
    limit: Duration,
) -> Result<(), IngestError> {
    let mbox = mailbox.to_string();
    let uids = db
        .call(move |s| s.read(|tx| tx.unflagged(&mbox, validity)))
        .await?;
    for chunk in uids.chunks(FLAG_CHUNK) {
        match store_flags(session, db, chunk, limit).await {
            Ok(()) => {}
            // Refused, the connection still up (a read-only or shared mailbox): the mail
            // stays unflagged and is tried again at the next pass, once. Ending the pass
            // here ended every pass from now on: no IDLE, a reconnection per report, and
            // no READY at a start.
            Err(IngestError::Protocol(why)) => {
                tracing::warn!(error = %why, unflagged = uids.len(), "the server refuses to flag filed mail done; it stays unflagged (a read-only mailbox?), and is tried again at the next pass");
                return Ok(());
            }
            Err(e) => return Err(e),
        }
        let (mbox, chunk) = (mailbox.to_string(), chunk.to_vec());
        db.call(move |s| s.write(|tx| tx.mark_flagged(&mbox, validity, &chunk)))
            .await?;
    }
    Ok(())
}

/// How many UIDs one `UID STORE` names.
const FLAG_CHUNK: usize = 200;

/// Tells the server the mails `uids` are done, once the commits that filed them are on
/// the disk: our keyword, or `\Seen` where the server keeps no custom keywords.
async fn store_flags(
    session: &mut Session,
    db: &Db,
    uids: &[Uid],
    limit: Duration,
) -> Result<(), IngestError> {
    // What the server is told is done must survive a power cut first.
    db.make_durable().await?;
    let set = uids
        .iter()
        .map(|u| u.0.to_string())
        .collect::<Vec<_>>()
        .join(",");
    // The server's tagged answer is read and must be OK: the stream of `uid_store` ends
    // quietly at a NO and at a connection lost alike, and both read as done.
    let store = |flag: &str| format!("UID STORE {set} +FLAGS.SILENT ({flag})");
    let keyword = timed(
        limit,
        "UID STORE",
        session.run_command_and_check_ok(store(DONE_KEYWORD)),
    )
    .await;
    match keyword {
        Ok(()) => Ok(()),
        Err(e @ IngestError::Timeout { .. }) => Err(e),
        Err(e) => {
            tracing::debug!(error = %e, "keyword refused; flagging \\Seen instead");
            let seen = session.run_command_and_check_ok(store("\\Seen"));
            timed(limit, "UID STORE", seen).await
        }
    }
}

/// Whether the server offers IDLE.
pub async fn has_idle(session: &mut Session, limit: Duration) -> Result<bool, IngestError> {
    let caps = timed(limit, "CAPABILITY", session.capabilities()).await?;
    Ok(caps.has_str("IDLE"))
}

/// Empties the queue of unsolicited responses; true when one said the mailbox grew, or
/// when the queue was full: the IMAP library drops what comes past its bound (a hundred
/// flag changes by another client during a sync), an `EXISTS` among it, and the report
/// waited for the next IDLE renewal. A full queue costs one more cheap sync instead.
fn mailbox_grew(queue: &async_channel::Receiver<UnsolicitedResponse>) -> bool {
    let mut grew = queue.is_full();
    while let Ok(r) = queue.try_recv() {
        grew |= matches!(
            r,
            UnsolicitedResponse::Exists(_) | UnsolicitedResponse::Recent(_)
        );
    }
    grew
}

/// The longest a healthy ingest loop goes without a tick: an IDLE (or a poll, or a
/// backoff), then a few commands, each bounded by the timeout.
pub fn beat_bound(cfg: &ImapConfig) -> Duration {
    bound_of(cfg.idle_renew, cfg.poll_interval, cfg.timeout)
}

fn bound_of(idle_renew: Duration, poll_interval: Duration, timeout: Duration) -> Duration {
    idle_renew
        .max(poll_interval)
        .max(MAX_BACKOFF)
        .saturating_add(timeout.saturating_mul(6))
}

/// Watches the inbox until shutdown: connects (with backoff), syncs, then waits with IDLE
/// (or polls), and syncs again on every change. `on_new_mail` is called after a sync that
/// filed mail; `ready` fires after the first successful sync. The backoff grows with
/// each failed connection, and starts afresh after a connection that lasted
/// [`HEALTHY_CONNECTION`].
pub async fn watch(
    desk: Arc<Desk>,
    db: Db,
    clock: Arc<dyn Clock>,
    mut shutdown: Shutdown,
    beat: Beat,
    on_new_mail: impl Fn() + Send + Sync + 'static,
    ready: tokio::sync::oneshot::Sender<()>,
) {
    let cfg = desk.config.imap.clone();
    let mut ready = Some(ready);
    let mut backoff = Duration::from_secs(1);
    while !shutdown.is_requested() {
        beat.tick();
        if ready.is_some() {
            // Before READY: the connection's steps (TCP, TLS, greeting, STARTTLS, login,
            // CAPABILITY, SELECT) may take a timeout each, and a long `imap.timeout`
            // outlives systemd's start timeout at the first step a silent server leaves
            // unanswered.
            health::extend_start(cfg.timeout.saturating_mul(8));
        }
        match connect(&cfg).await {
            Ok(session) => {
                let up = tokio::time::Instant::now();
                let r = connected(
                    session,
                    &desk,
                    &db,
                    &clock,
                    &mut shutdown,
                    &beat,
                    &on_new_mail,
                    &mut ready,
                )
                .await;
                // Only a connection that lasted resets the backoff: one dropped at every
                // IDLE (a server, a middlebox) is not logged in to again every second.
                if up.elapsed() >= HEALTHY_CONNECTION {
                    backoff = Duration::from_secs(1);
                }
                // Ok only when asked to stop (or made to end by a test's failpoint).
                if r.is_ok() {
                    return;
                }
                if let Err(e) = r {
                    tracing::error!(error = %e, check = e.keys(), retry_in = ?backoff, "the inbox connection failed; reconnecting");
                    health::status_of(
                        health::Part::Inbox,
                        Some(&format!("inbox: {e} (check {})", e.keys())),
                    );
                }
            }
            Err(e) => {
                tracing::error!(error = %e, check = e.keys(), retry_in = ?backoff, "cannot reach the inbox");
                health::status_of(
                    health::Part::Inbox,
                    Some(&format!("cannot reach the inbox: {e} (check {})", e.keys())),
                );
            }
        }
        if shutdown.is_requested() {
            break;
        }
        // Not ready yet (the inbox never reached since the start: a rotated password, a
        // server down at boot): systemd is asked to wait for the next try, so the unit
        // stays "activating", STATUS= saying why, and the backoff grows. Without it,
        // the start timed out every two minutes and the desk began again at one second.
        if ready.is_some() {
            health::extend_start(backoff.saturating_add(cfg.timeout.saturating_mul(4)));
        }
        beat.tick();
        if shutdown.pause(backoff).await {
            break;
        }
        backoff = backoff.saturating_mul(2).min(MAX_BACKOFF);
    }
}

/// One connection's life: sync, wait, sync… until an error (returned) or shutdown.
#[allow(clippy::too_many_arguments)]
async fn connected(
    mut session: Session,
    desk: &Arc<Desk>,
    db: &Db,
    clock: &Arc<dyn Clock>,
    shutdown: &mut Shutdown,
    beat: &Beat,
    on_new_mail: &(dyn Fn() + Send + Sync),
    ready: &mut Option<tokio::sync::oneshot::Sender<()>>,
) -> Result<(), IngestError> {
    let cfg = &desk.config.imap;
    let idle = has_idle(&mut session, cfg.timeout).await?;
    tracing::info!(host = %cfg.host, mailbox = %cfg.mailbox, idle, "connected to the inbox");
    // New mail that arrives while we talk to the server is announced as an untagged
    // EXISTS in the answer to some other command; async-imap queues those here. A
    // clone of the queue stays reachable while the session is lent to IDLE.
    let queue = session.unsolicited_responses.clone();
    // The first sync of a connection after a failed one says the inbox is watched again
    // (STATUS= kept the failure until the next mail came, hours on a quiet desk).
    let mut first = true;
    loop {
        beat.tick();
        // Whatever they said, the sync below sees it all.
        mailbox_grew(&queue);
        desk.mail_announced.store(false, Ordering::Relaxed);
        let r = sync(&mut session, db, desk, clock, shutdown, beat, on_new_mail).await?;
        // Ready means caught up: logged in, and the inbox read once (which also settles
        // what is history at the first start).
        if let Some(tx) = ready.take() {
            let _ = tx.send(());
        } else if r.fetched > 0 || first {
            health::status_of(health::Part::Inbox, None);
        }
        first = false;
        if r.fetched > BATCH_MAILS {
            // After a backlog the page cache goes back before the wait.
            db.call(|s| s.shrink()).await;
        }
        if r.fetched > 0 || r.processed > 0 || r.set_aside > 0 {
            tracing::info!(
                fetched = r.fetched,
                processed = r.processed,
                duplicates = r.duplicates,
                failed = r.failed,
                set_aside = r.set_aside,
                "inbox synced"
            );
            on_new_mail();
        }
        if crate::service::failpoints::active("ingest-dies") {
            tracing::warn!("failpoint ingest-dies: the ingest loop ends");
            return Ok(());
        }
        if shutdown.is_requested() {
            let _ = tokio::time::timeout(cfg.timeout, session.logout()).await;
            return Ok(());
        }
        if r.failed > 0 {
            // Try the failed mail again (and set it aside in time) after the backoff.
            return Err(IngestError::Processing(r.failed));
        }
        // Both read: each empties what it holds.
        let announced = desk.mail_announced.swap(false, Ordering::Relaxed);
        if mailbox_grew(&queue) || announced {
            continue; // mail arrived during the sync
        }
        beat.tick();
        if idle {
            let mut handle = session.idle();
            timed(cfg.timeout, "IDLE", handle.init()).await?;
            // Mail that arrived just before IDLE began is reported before the server's
            // "+ idling": it is in the queue, not in what `wait` sees.
            if !mailbox_grew(&queue) {
                let result = {
                    // Renewed at least every idle_renew: the server's own limit is far,
                    // and a connection that died silently is noticed when DONE gets no
                    // answer within the timeout. async-imap's own timeout starts over at
                    // each line the server sends, and a server that says "still here"
                    // more often than that (Dovecot: every 2 minutes) would keep the
                    // wait going for ever: the renewal has a clock of its own.
                    let (wait, interrupt) = handle.wait_with_timeout(cfg.idle_renew);
                    tokio::pin!(wait);
                    let mut interrupt = Some(interrupt);
                    // Dropping the interrupt handle ends the wait at once.
                    tokio::select! {
                        r = &mut wait => r,
                        _ = tokio::time::sleep(cfg.idle_renew) => {
                            drop(interrupt.take());
                            wait.await
                        }
                        _ = shutdown.requested() => {
                            drop(interrupt.take());
                            wait.await
                        }
                    }
                };
                if let Err(e) = result {
                    return Err(IngestError::Protocol(format!("IDLE: {e}")));
                }
            }
            beat.tick();
            session = timed(cfg.timeout, "DONE (leaving IDLE)", handle.done()).await?;
        } else {
            if shutdown.pause(cfg.poll_interval).await {
                let _ = tokio::time::timeout(cfg.timeout, session.logout()).await;
                return Ok(());
            }
            timed(cfg.timeout, "NOOP", session.noop()).await?;
        }
        // A stop ended the wait: the inbox is not read again (on a slow server, past the
        // stop's bound, for a batch thrown away).
        if shutdown.is_requested() {
            let _ = tokio::time::timeout(cfg.timeout, session.logout()).await;
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{BATCH_BYTES, BATCH_MAILS, Waiting, batches};
    use std::time::Duration;

    /// A first start on a big mailbox lists it within a timeout for each ten thousand
    /// mails. (It had one timeout for all, and a slow listing passed for a refusal.)
    #[test]
    fn a_listing_has_a_timeout_for_each_ten_thousand_mails() {
        let t = Duration::from_secs(60);
        assert_eq!(super::listing_deadline(t, 0), t);
        assert_eq!(super::listing_deadline(t, 9_999), t);
        assert_eq!(super::listing_deadline(t, 50_000), t * 6);
        // Within the watchdog's room (see below).
        assert_eq!(super::listing_deadline(t, 100_000), t * 9);
    }

    /// A download (or a listing) that stalls fails, two timeouts to spare, before the
    /// ingest loop's beat passes its bound and the watchdog ends the desk, however big
    /// the mail and whatever the timeout and the idle times. (A 20 MB mail had 21 minutes
    /// against a bound of 11.)
    #[test]
    fn a_stalled_download_fails_before_the_watchdog_ends_the_desk() {
        for timeout in [1, 10, 60, 300] {
            for (idle, poll) in [(1, 1), (1500, 60), (60, 3600)] {
                let timeout = Duration::from_secs(timeout);
                let bound = super::bound_of(
                    Duration::from_secs(idle),
                    Duration::from_secs(poll),
                    timeout,
                );
                for mb in [0, 1, 4, 12, 20, 500] {
                    let batch = [Waiting {
                        id: 1,
                        bytes: mb * 1_000_000,
                    }];
                    let deadline = super::download_deadline(timeout, &batch);
                    assert!(deadline >= timeout);
                    // The listing of a mailbox of a million mails, likewise.
                    let listing = super::listing_deadline(timeout, (mb as u32) * 2_000);
                    assert!(listing >= timeout);
                    assert!(
                        listing + timeout * 2 <= bound,
                        "{mb}: {listing:?} against {bound:?}"
                    );
                    assert!(
                        deadline + timeout * 2 <= bound,
                        "{mb} MB at a timeout of {timeout:?}: {deadline:?} against {bound:?}"
                    );
                }
            }
        }
    }

    fn ids(of: &[Vec<Waiting>]) -> Vec<Vec<i64>> {
        of.iter()
            .map(|b| b.iter().map(|w| w.id).collect())
            .collect()
    }

    /// A batch never holds more than BATCH_MAILS mails or BATCH_BYTES bytes, except a
    /// single mail larger than that, which is a batch of its own; order is kept and no
    /// mail is left out.
    /// A queue filled to its bound may have lost an `EXISTS`: it counts as growth.
    #[test]
    fn a_full_queue_of_unsolicited_responses_counts_as_new_mail() {
        let (tx, rx) = async_channel::bounded(3);
        for _ in 0..3 {
            tx.try_send(super::UnsolicitedResponse::Expunge(1)).unwrap();
        }
        assert!(super::mailbox_grew(&rx));
        assert!(rx.is_empty());
        tx.try_send(super::UnsolicitedResponse::Expunge(1)).unwrap();
        assert!(!super::mailbox_grew(&rx));
        tx.try_send(super::UnsolicitedResponse::Exists(9)).unwrap();
        assert!(super::mailbox_grew(&rx));
    }

    #[test]
    fn batches_are_bounded_by_count_and_bytes_in_order() {
        let small = |id| Waiting { id, bytes: 1_000 };
        let n = 2 * BATCH_MAILS as i64 + 20;
        let many: Vec<Waiting> = (0..n).map(small).collect();
        let got: Vec<Vec<Waiting>> = batches(&many).into_iter().map(<[_]>::to_vec).collect();
        assert_eq!(
            got.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![BATCH_MAILS, BATCH_MAILS, 20]
        );
        assert_eq!(ids(&got).concat(), (0..n).collect::<Vec<_>>());

        let half = BATCH_BYTES / 2;
        let mixed = [
            small(1),
            Waiting { id: 2, bytes: half },
            Waiting { id: 3, bytes: half },
            Waiting {
                id: 4,
                bytes: BATCH_BYTES * 3,
            },
            small(5),
        ];
        let got: Vec<Vec<Waiting>> = batches(&mixed).into_iter().map(<[_]>::to_vec).collect();
        assert_eq!(ids(&got), vec![vec![1, 2], vec![3], vec![4], vec![5]]);
        assert!(batches(&[]).is_empty());
    }
}
