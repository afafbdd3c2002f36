//! A naive autoresponder, the kind that ignores RFC 3834: it watches mailboxes of a
//! [`MailStack`] over IMAP and answers every new mail over SMTP, at once, with no
//! `Auto-Submitted` or `Precedence` header. It runs on its own thread until stopped or
//! until its time limit passes, and reports every answer it sent.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::imap::Imap;
use super::mailstack::MailStack;
use super::smtp;

/// One answer the responder sent.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The mailbox that answered.
    pub user: String,
    pub to: String,
    /// The Message-ID (without `<>`) of the mail answered, and of the answer.
    pub answered: String,
    pub message_id: String,
    pub subject: String,
}

/// A mailbox to answer from, with header lines to put on each answer (e.g. the
/// `Authentication-Results` its receiving server would stamp).
pub struct Mailbox {
    pub user: String,
    pub extra_headers: String,
}

pub struct Responder {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Vec<Answer>>>,
}

impl Responder {
    /// Starts answering for `mailboxes` of `stack`; gives up after `limit`.
    pub fn start(stack: &MailStack, mailboxes: Vec<Mailbox>, limit: Duration) -> Responder {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let (imap_port, smtp_port) = (stack.imap_port, stack.smtp_port);
        let password = stack.password.clone();
        // Log in before returning, so that no mail delivered after `start` is missed.
        let mut sessions: Vec<(Mailbox, Imap, u32)> = mailboxes
            .into_iter()
            .map(|m| {
                let mut imap = Imap::login_to(imap_port, &m.user, &password);
                imap.select("INBOX");
                let seen = imap.fetch_all().last().map_or(0, |(uid, _)| *uid);
                (m, imap, seen)
            })
            .collect();
        let thread = thread::spawn(move || {
            let deadline = Instant::now() + limit;
            let mut answers = Vec::new();
            while !flag.load(Ordering::Relaxed) && Instant::now() < deadline {
                for (mailbox, imap, seen) in &mut sessions {
                    if imap.noop().is_none() {
                        continue;
                    }
                    for (uid, raw) in imap.fetch_all() {
                        if uid <= *seen {
                            continue;
                        }
                        *seen = uid;
                        if let Some(a) = answer(smtp_port, mailbox, &raw, answers.len()) {
                            answers.push(a);
                        }
                    }
                }
                // Polling external servers (one NOOP per mailbox), bounded by `deadline`.
                thread::sleep(Duration::from_millis(20));
            }
            for (_, imap, _) in sessions {
                imap.logout();
            }
            answers
        });
        Responder {
            stop,
            thread: Some(thread),
        }
    }

    /// Stops the responder and returns every answer it sent.
    pub fn stop(mut self) -> Vec<Answer> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .take()
            .map(|t| t.join().unwrap())
            .unwrap_or_default()
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Answers `raw` from `mailbox`: to its Reply-To, else its From.
fn answer(smtp_port: u16, mailbox: &Mailbox, raw: &[u8], n: usize) -> Option<Answer> {
    let parsed = mail_parser::MessageParser::default().parse(raw)?;
    let first = |a: Option<&mail_parser::Address>| {
        a.and_then(|a| a.first())
            .and_then(|a| a.address())
            .map(str::to_string)
    };
    let to = first(parsed.reply_to()).or_else(|| first(parsed.from()))?;
    let answered = parsed.message_id().unwrap_or("").to_string();
    let subject = format!("Out of office: {}", parsed.subject().unwrap_or(""));
    let local = mailbox.user.replace('@', ".");
    let message_id = format!("ooo{n}.{local}@responder.test");
    let mail = format!(
        "{}From: {}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <{message_id}>\r\n\
         In-Reply-To: <{answered}>\r\nReferences: <{answered}>\r\n\r\n\
         I am out of the office until Monday and will answer your mail then.\r\n",
        mailbox.extra_headers, mailbox.user
    );
    smtp::send(smtp_port, &mailbox.user, &[&to], mail.as_bytes()).ok()?;
    Some(Answer {
        user: mailbox.user.clone(),
        to,
        answered,
        message_id,
        subject,
    })
}
