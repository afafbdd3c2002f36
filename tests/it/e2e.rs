//! The spine end to end, against a real Postfix + Dovecot on loopback: reports in over
//! SMTP, the desk reading IMAP (STARTTLS, verified against the stack's CA), mail out
//! through the outbox, crashes and outages survived.

use crate::support::desk::{
    Daemon, RunningDesk, append_reports, assert_filed_once_each, count, load, must_count, open_ro,
    send_alice, send_report, starttls_stack_config, wait_first_sync, wait_until,
};
use crate::support::mailstack::MailStack;
use crate::support::pass::{Pass, flush, service_desk};
use crate::world::*;
use chrono::{DateTime, Utc};
use mail_parser::MimeHeaders;
use secdesk::clock::{Clock, ManualClock, SystemClock};
use secdesk::store::Store;
use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(20);

/// Waits until `n` raw mails are processed and the outbox is empty.
fn wait_settled(db: &Path, n: i64) -> Result<(), String> {
    wait_until(
        &format!("{n} mails processed and an empty outbox"),
        Duration::from_secs(60),
        || {
            let done = count(db, "SELECT COUNT(*) FROM raw_mail WHERE state != 'pending'")?;
            let queued = count(db, "SELECT COUNT(*) FROM outbox WHERE state = 'pending'")?;
            if done >= n && queued == 0 {
                Ok(())
            } else {
                Err(format!(
                    "{done} of {n} mails processed, {queued} mails still queued"
                ))
            }
        },
    )
}

fn ids(mails: &[Vec<u8>]) -> BTreeSet<String> {
    mails
        .iter()
        .map(|m| header(m, "Message-ID").unwrap_or_default())
        .collect()
}

fn case_prefix_now() -> String {
    use chrono::Datelike;
    let now = SystemClock.now().with_timezone(&chrono_tz::Europe::Paris);
    format!("SEC-{}", now.year())
}

#[test]
fn a_report_is_acknowledged_threaded_and_never_twice() {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().unwrap();
    let (text, db) = starttls_stack_config(&stack, dir.path(), "");
    let config = load(&text);
    let _desk = RunningDesk::start(config.clone());
    let case = format!("{}-0001", case_prefix_now());

    let sent_at = Instant::now();
    send_report(
        &stack,
        "r1@reporter.test",
        "Heap overflow in the parser",
        "Long lines overflow.",
    );
    let acks = stack.wait_for(RITA, 1, WAIT);
    eprintln!(
        "ack visible {:?} after the report was sent (Dovecot adds ~0.5 s to IDLE notifications)",
        sent_at.elapsed()
    );
    let ack = &acks[0];
    assert_eq!(
        header(ack, "Subject").unwrap(),
        format!("Re: [{case}] Heap overflow in the parser")
    );
    assert_header(ack, "In-Reply-To", "<r1@reporter.test>");
    assert_header(ack, "Auto-Submitted", "auto-replied");
    assert!(
        header(ack, "Reply-To")
            .unwrap()
            .contains(&format!("security+{}@example.org", case.to_lowercase()))
    );
    // The promised date is the end of the third working day after the report.
    let opened: DateTime<Utc> = {
        let mut s = Store::open(&db).unwrap();
        s.read(|tx| tx.load_case(&case.parse().unwrap()))
            .unwrap()
            .unwrap()
            .opened_at
    };
    let due = config
        .calendar
        .format_instant(config.calendar.working_days_after(opened, 3));
    let ack_body = body(ack);
    assert!(
        ack_body.contains(&format!("answer you by {due} at the latest")),
        "{ack_body}"
    );
    stack.wait_for(ALICE, 1, WAIT);
    let ack_id = header(ack, "Message-ID").unwrap();

    // The reporter answers the ack: relayed to the team, never acknowledged again.
    let reply = format!(
        "From: {RITA}\r\nTo: security+{}@example.org\r\nSubject: Re: [{case}] Heap overflow in the parser\r\nMessage-ID: <r2@reporter.test>\r\nIn-Reply-To: {ack_id}\r\nReferences: <r1@reporter.test> {ack_id}\r\n\r\nCredit me as Rita.\r\n",
        case.to_lowercase()
    );
    stack.send(
        RITA,
        &[&format!("security+{}@example.org", case.to_lowercase())],
        reply.as_bytes(),
    );
    stack.wait_for(ALICE, 2, WAIT);
    // A new mail naming the case only in its subject joins it too.
    send_report(
        &stack,
        "r3@reporter.test",
        &format!("Another crash [{case}]"),
        "x",
    );
    stack.wait_for(ALICE, 3, WAIT);
    // The same mail twice (same Message-ID): one filing.
    let again = report("r4@reporter.test", &format!("Re: [{case}] logs"), "logs");
    stack.send(RITA, &[DESK], again.as_bytes());
    stack.send(RITA, &[DESK], again.as_bytes());
    // Robots: an out-of-office, a bounce and a list mail are stored and never answered.
    stack.send(RITA, &[DESK], format!("From: {RITA}\r\nTo: {DESK}\r\nSubject: Auto: away\r\nMessage-ID: <ooo@reporter.test>\r\nIn-Reply-To: {ack_id}\r\nAuto-Submitted: auto-replied\r\n\r\naway\r\n").as_bytes());
    stack.send("", &[DESK], format!("From: MAILER-DAEMON@reporter.test\r\nTo: {DESK}\r\nSubject: Undelivered Mail\r\nMessage-ID: <bounce@reporter.test>\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nfailed\r\n--b\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: {ack_id}\r\n--b--\r\n").as_bytes());
    stack.send("news@lists.test", &[DESK], format!("From: news@lists.test\r\nTo: {DESK}\r\nSubject: Newsletter\r\nMessage-ID: <news@lists.test>\r\nList-Id: <news.lists.test>\r\n\r\nhello\r\n").as_bytes());
    wait_settled(&db, 8).unwrap();

    assert_eq!(
        stack.fetch_all(RITA).len(),
        1,
        "exactly one acknowledgement, ever"
    );
    assert_eq!(
        must_count(&db, "SELECT COUNT(*) FROM cases"),
        2,
        "the report's case and the newsletter's"
    );
    assert_eq!(
        must_count(
            &db,
            "SELECT COUNT(*) FROM messages WHERE direction = 'in' AND case_id LIKE '%-0001'"
        ),
        6
    );
    assert_eq!(
        must_count(
            &db,
            "SELECT COUNT(*) FROM raw_mail WHERE state = 'duplicate'"
        ),
        1
    );
    assert_eq!(
        must_count(&db, "SELECT COUNT(*) FROM outbox WHERE purpose = 'ack'"),
        1
    );
    // Everything is marked done on the server: the flags go last, after the filing's
    // commit is on the disk, so they are waited for.
    wait_until("every mail flagged done", WAIT, || {
        match count(&db, "SELECT COUNT(*) FROM raw_mail WHERE flagged = 0")? {
            0 => Ok(()),
            n => Err(format!("{n} mails not flagged")),
        }
    })
    .unwrap();
}

/// Issue 12: a notice waits in the outbox referring to the stored report instead of
/// carrying it (`hostile::a_report_is_stored_once_while_its_notices_wait`); put back
/// when sent, the report reaches each member whole through the real mail stack, an
/// 8-bit mail with its proof of concept byte for byte.
#[test]
fn each_member_receives_the_attached_report_whole() {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().unwrap();
    let (text, _db) = starttls_stack_config(&stack, dir.path(), "");
    let _desk = RunningDesk::start(load(&text));
    // The proof: bytes 0 to 56 over and over (each line of the base64 is their 76
    // characters), 150 KB of it.
    let line = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4\r\n";
    let lines = line.repeat(2_632);
    let proof: Vec<u8> = (0..57u8).cycle().take(57 * 2_632).collect();
    let raw = format!(
        "From: {RITA}\r\nTo: {DESK}\r\nSubject: Crash with a proof\r\nMessage-ID: <poc-e2e@reporter.test>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nGrüße: the proof is attached.\r\n--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"poc.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{lines}--b--\r\n"
    );
    stack.send(RITA, &[DESK], raw.as_bytes());
    for member in [ALICE, BOB] {
        let notices = stack.wait_for(member, 1, WAIT);
        let parsed = mail_parser::MessageParser::default()
            .parse(&notices[0])
            .unwrap();
        // An 8-bit mail goes as a file (base64): read back as a mail here.
        let file = parsed
            .attachments()
            .find(|a| a.attachment_name() == Some("original.eml"))
            .expect("the original is attached");
        let bytes = match file.message() {
            Some(m) => m.raw_message().to_vec(),
            None => file.contents().to_vec(),
        };
        let original = mail_parser::MessageParser::default().parse(&bytes).unwrap();
        assert_eq!(original.message_id(), Some("poc-e2e@reporter.test"));
        let poc = original
            .attachments()
            .find(|a| a.attachment_name() == Some("poc.bin"))
            .expect("the proof is in the original");
        assert!(
            poc.contents() == proof.as_slice(),
            "{member}: the proof byte for byte"
        );
    }
}

#[test]
fn acknowledgements_to_one_sender_are_capped() {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().unwrap();
    let (_desk, db) = RunningDesk::against(&stack, dir.path(), "");
    for i in 0..10 {
        send_report(
            &stack,
            &format!("flood{i}@reporter.test"),
            &format!("Report {i}"),
            "x",
        );
    }
    wait_settled(&db, 10).unwrap();
    assert_eq!(
        stack.wait_for(ALICE, 10, WAIT).len(),
        10,
        "every report reaches the team"
    );
    assert_eq!(
        stack.wait_for(RITA, 3, WAIT).len(),
        3,
        "3 acknowledgements per 10 minutes"
    );
    // Exact, whatever is still on its way: the outbox holds three acknowledgements.
    assert_eq!(
        must_count(&db, "SELECT COUNT(*) FROM outbox WHERE purpose = 'ack'"),
        3
    );
}

#[test]
fn killed_mid_backlog_every_mail_is_filed_once_and_acknowledged_once() {
    const N: usize = 200;
    let stack = MailStack::start();
    let dir = tempfile::tempdir().unwrap();
    let (text, db) = starttls_stack_config(&stack, dir.path(), NO_DESK_ACK_LIMIT);
    let text = text.replace("tls = \"starttls\"", "tls = \"none\"");
    let cfg = dir.path().join("config.toml");
    std::fs::write(&cfg, text).unwrap();
    // A first run on the empty mailbox, so the backlog below is new mail, not history.
    let priming = Daemon::start(&cfg, &dir.path().join("run0.log"), &[]);
    wait_first_sync(&db).unwrap();
    drop(priming);
    append_reports(&stack, N, "bulk", "Report", Some("r"));

    let mut first = Daemon::start(&cfg, &dir.path().join("run1.log"), &[]);
    let got_going = wait_until(
        "40 mails processed",
        Duration::from_secs(60),
        || match count(
            &db,
            "SELECT COUNT(*) FROM raw_mail WHERE state != 'pending'",
        )? {
            n if n >= 40 => Ok(()),
            n => Err(format!("{n} processed")),
        },
    );
    if let Err(e) = got_going {
        panic!(
            "the desk never got going: {e}\n{}",
            std::fs::read_to_string(dir.path().join("run1.log")).unwrap_or_default()
        );
    }
    first.0.kill().unwrap(); // SIGKILL: no chance to finish anything
    first.0.wait().unwrap();
    let at_kill = must_count(
        &db,
        "SELECT COUNT(*) FROM raw_mail WHERE state != 'pending'",
    );
    eprintln!("killed with {at_kill} of {N} mails processed");

    let _second = Daemon::start(&cfg, &dir.path().join("run2.log"), &[]);
    wait_settled(&db, N as i64).unwrap();
    assert_filed_once_each(&db, N as i64);
    // In the mailboxes: one acknowledgement per reporter. A copy may arrive twice only
    // if the kill fell between the server's 250 and our commit, and then with the same
    // Message-ID.
    for i in 0..N {
        let got = stack.fetch_all(&format!("r{i}@reporter.test"));
        assert_eq!(
            ids(&got).len(),
            1,
            "reporter {i} got {} acknowledgements with ids {:?}",
            got.len(),
            ids(&got)
        );
    }
    assert_eq!(
        ids(&stack.fetch_all(ALICE)).len(),
        N,
        "the team heard of every report"
    );
}

#[test]
fn the_desk_reconnects_after_the_servers_restart() {
    let mut stack = MailStack::start();
    let dir = tempfile::tempdir().unwrap();
    let (_desk, db) = RunningDesk::against(&stack, dir.path(), "");
    send_report(&stack, "before@reporter.test", "Before", "x");
    wait_settled(&db, 1).unwrap();
    stack.restart();
    send_report(&stack, "after@reporter.test", "After the restart", "x");
    stack.flush_queue();
    wait_settled(&db, 2).unwrap();
    // Rita's mailbox may hold the first acknowledgement twice: when the restart cuts
    // Postfix's LMTP delivery after Dovecot saved it, Postfix delivers it again (the
    // stack's copy, same Message-ID; the desk sent it once). So the second is found by
    // its subject, and the acknowledgements counted by Message-ID.
    let deadline = Instant::now() + WAIT;
    let acks = loop {
        let acks = stack.fetch_all(RITA);
        let after =
            |m: &Vec<u8>| header(m, "Subject").is_some_and(|s| s.ends_with("After the restart"));
        if acks.iter().any(after) {
            break acks;
        }
        let subjects: Vec<_> = acks.iter().map(|m| header(m, "Subject")).collect();
        assert!(
            Instant::now() < deadline,
            "no acknowledgement after the restart: {subjects:?}"
        );
        // Polling an external server, bounded by the deadline above.
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(ids(&acks).len(), 2, "one acknowledgement per report");
}

#[test]
fn mail_waits_in_the_outbox_while_smtp_is_down() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let stack = MailStack::start();
    let mut w = World::new();
    w.deliver(&report("r1@reporter.test", "Queued", "x"));
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut smtp = w.desk.config.smtp.clone();
    smtp.port = closed;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = secdesk::service::db::Db::open(&w.desk.config.desk.database).unwrap();
    let down = secdesk::service::mailer::Mailer::new(&smtp, "example.org").unwrap();
    let desk = service_desk(&w.desk.config);
    let clock = ManualClock::new(w.clock.now());
    let r = flush(&rt, &down, &db, &desk, &clock);
    // A server that cannot be reached is no verdict on the mail: nothing is touched.
    assert_eq!((r.sent, r.retrying, r.failed), (0, 0, 0));
    let down_err = r
        .unreachable
        .expect("the pass says the server is unreachable");
    assert!(down_err.text.contains("onnect"), "{down_err}");
    assert_eq!(down_err.keys, "smtp.host / smtp.port");
    let rows = w.store.read(|tx| tx.outbox_all()).unwrap();
    assert_eq!(rows.len(), 3, "the ack and one notice per member");
    assert!(
        rows.iter()
            .all(|r| r.attempts == 0 && r.last_error.is_none()),
        "{rows:?}"
    );
    clock.advance(chrono::Duration::seconds(10));
    let r = flush(&rt, &down, &db, &desk, &clock);
    assert_eq!(r.sent + r.retrying, 0);
    // Then through the server that is back.
    smtp.port = stack.smtp_port;
    let up = secdesk::service::mailer::Mailer::new(&smtp, "example.org").unwrap();
    clock.advance(chrono::Duration::seconds(21));
    let r = flush(&rt, &up, &db, &desk, &clock);
    assert_eq!((r.sent, r.retrying, r.failed), (3, 0, 0));
    let got = stack.wait_for(RITA, 1, WAIT);
    assert_header(&got[0], "Subject", "Re: [SEC-2026-0001] Queued");
}

#[test]
fn a_reminder_and_the_digest_reach_the_responder_once_across_a_restart() {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().unwrap();
    let pass = Pass::new(&stack, dir.path(), "");
    let run_once = |at: DateTime<Utc>| pass.run_once(at);
    // The desk opens the (empty) mailbox once, so what arrives next is live mail.
    assert_eq!(run_once(monday_10()), 0);
    // Ingest the report for real, over IMAP, at Monday 10:00 (desk time).
    send_report(&stack, "r1@reporter.test", "Heap overflow", "x");
    stack.wait_for(DESK, 1, WAIT);
    assert_eq!(run_once(monday_10()), 0);
    stack.wait_for(ALICE, 1, WAIT);
    // Thursday 17:00 Paris: nobody answered; the reminder goes to the whole team.
    let thursday = monday_10() + chrono::Duration::days(3) + chrono::Duration::hours(7);
    assert_eq!(run_once(thursday), 1);
    let got = stack.wait_for(ALICE, 2, WAIT);
    assert!(
        header(&got[1], "Subject")
            .unwrap()
            .contains("Reminder: the reporter is waiting")
    );
    // A restart (new store, new desk) at the same instant sends nothing again.
    assert_eq!(run_once(thursday), 0);
    // Monday 09:00: the digest (and the working-day reminder, still unanswered).
    let next_monday = monday_10() + chrono::Duration::days(7) - chrono::Duration::hours(1);
    assert_eq!(run_once(next_monday), 2);
    let got = stack.wait_for(ALICE, 4, WAIT);
    let subjects: Vec<String> = got.iter().map(|m| header(m, "Subject").unwrap()).collect();
    assert!(
        subjects
            .iter()
            .any(|s| s.contains("Weekly digest: 1 open case")),
        "{subjects:?}"
    );
    assert_eq!(run_once(next_monday), 0);
    assert_eq!(stack.fetch_all(ALICE).len(), 4, "nothing sent twice");
}

/// Finds the mail whose subject contains `needle`.
fn with_subject<'a>(mails: &'a [Vec<u8>], needle: &str) -> &'a Vec<u8> {
    mails
        .iter()
        .find(|m| header(m, "Subject").unwrap_or_default().contains(needle))
        .unwrap_or_else(|| {
            panic!(
                "no mail about {needle:?} among {:?}",
                mails
                    .iter()
                    .map(|m| header(m, "Subject"))
                    .collect::<Vec<_>>()
            )
        })
}

#[test]
fn the_team_drives_a_case_by_mail() {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().unwrap();
    let (_desk, db) = RunningDesk::against(&stack, dir.path(), "");
    let case = format!("{}-0001", case_prefix_now());
    send_report(
        &stack,
        "r1@reporter.test",
        "Heap overflow in the parser",
        "Long lines overflow.",
    );
    stack.wait_for(RITA, 1, WAIT);
    let notice = header(&stack.wait_for(ALICE, 1, WAIT)[0], "Message-ID").unwrap();
    let notice = notice.trim_matches(|c| c == '<' || c == '>');

    // The issue's example, from Alice's mail client, stamped dkim=pass by mx.example.org.
    // The desk runs on the wall clock: the embargo is three months ahead of today.
    let embargo = (SystemClock.now() + chrono::Duration::days(90)).date_naive();
    let example = format!(
        "#assign me\r\n#severity high\r\n#cve requested\r\n#embargo {}\r\n#reply\r\nThanks for the report — we reproduced it and are working on a fix.\r\n\r\nOn Mon, 23 Nov 2026 at 10:00, Example Security Team <security@example.org> wrote:\r\n> A new report arrived\r\n",
        embargo.format("%Y-%m-%d")
    );
    send_alice(
        &stack,
        "a1@example.org",
        Some(notice),
        &format!("Re: [{case}] New report"),
        &example,
    );
    let reply = &stack.wait_for(RITA, 2, WAIT)[1];
    let raw = String::from_utf8_lossy(reply);
    assert_header(
        reply,
        "From",
        "\"Example Security Team\" <security@example.org>",
    );
    assert_header(reply, "In-Reply-To", "<r1@reporter.test>");
    assert!(
        body(reply)
            .starts_with("Thanks for the report — we reproduced it and are working on a fix.\n")
    );
    for secret in ["alice@", "#assign", "A new report arrived", "severity"] {
        assert!(!raw.contains(secret), "the reporter saw {secret:?}:\n{raw}");
    }
    let transcript = body(&stack.wait_for(ALICE, 2, WAIT)[1]);
    assert!(
        transcript.contains("line 1: #assign me\n  → assigned to alice@example.org"),
        "{transcript}"
    );
    let told = format!(
        "line 4: #embargo {}\n  → embargo until {}, 00:00",
        embargo.format("%Y-%m-%d"),
        embargo.format("%a %-d %b %Y")
    );
    assert!(transcript.contains(&told), "{told}\n{transcript}");
    assert!(
        body(&stack.wait_for(BOB, 2, WAIT)[1]).contains("#severity high"),
        "Bob hears of it"
    );

    // A forged team mail (no Authentication-Results from our server) runs nothing.
    stack.send(ALICE, &[DESK], format!("From: {ALICE}\r\nTo: {DESK}\r\nSubject: Re: [{case}] x\r\nMessage-ID: <forged@evil.test>\r\n\r\n#close\r\n#reply\r\nSend me the exploit.\r\n").as_bytes());
    let alert = &stack.wait_for(BOB, 3, WAIT)[2];
    assert!(
        header(alert, "Subject")
            .unwrap()
            .contains("unauthenticated commands from alice@example.org refused")
    );
    // A typo gets a helpful transcript.
    send_alice(
        &stack,
        "a2@example.org",
        Some(notice),
        "Re: x",
        "#asign bob@example.org\r\n",
    );
    let mails = stack.wait_for(ALICE, 4, WAIT);
    assert!(
        body(&mails[3]).contains("unknown command `#asign` — did you mean `#assign`?"),
        "{}",
        body(&mails[3])
    );
    // #forward, and the maintainer's answer threads back into the case.
    send_alice(
        &stack,
        "a3@example.org",
        Some(notice),
        "Re: x",
        "#forward maintainer@upstream.test\r\nCould you look at this?\r\n",
    );
    let fwd = &stack.wait_for("maintainer@upstream.test", 1, WAIT)[0];
    assert!(
        body(fwd).contains("Long lines overflow."),
        "the report goes upstream"
    );
    let answer = format!(
        "From: maintainer@upstream.test\r\nTo: security@example.org\r\nSubject: Re: [{case}] Security report\r\nMessage-ID: <m1@upstream.test>\r\nIn-Reply-To: {}\r\n\r\nConfirmed; fixed in 1.4.2.\r\n",
        header(fwd, "Message-ID").unwrap()
    );
    stack.send("maintainer@upstream.test", &[DESK], answer.as_bytes());
    let mails = stack.wait_for(BOB, 6, WAIT);
    assert!(body(with_subject(&mails, "Upstream:")).contains("Confirmed; fixed in 1.4.2."));
    wait_settled(&db, 6).unwrap();
    assert_eq!(
        must_count(
            &db,
            "SELECT COUNT(*) FROM cases WHERE status = 'new' AND assignee = 'alice@example.org' AND severity = 'high'"
        ),
        1,
        "the forged #close changed nothing"
    );
    assert_eq!(
        stack.fetch_all(RITA).len(),
        2,
        "the reporter got the ack and the reply, nothing else"
    );
}

#[test]
fn mail_already_in_the_inbox_at_the_first_start_is_filed_as_history() {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().unwrap();
    let (text, db) = starttls_stack_config(&stack, dir.path(), "");
    for i in 0..3 {
        let old = report(
            &format!("old{i}@reporter.test"),
            &format!("Old report {i}"),
            "x",
        )
        .replace(RITA, &format!("old{i}@reporter.test"));
        stack.append(DESK, old.as_bytes());
    }
    let _desk = RunningDesk::start(load(&text));
    send_report(&stack, "new@reporter.test", "A new report", "x");
    let ack = &stack.wait_for(RITA, 1, WAIT)[0];
    assert!(header(ack, "Subject").unwrap().ends_with("A new report"));
    wait_settled(&db, 4).unwrap();
    assert_eq!(
        must_count(&db, "SELECT COUNT(*) FROM cases"),
        4,
        "the old mail is on cases too"
    );
    for i in 0..3 {
        assert!(
            stack.fetch_all(&format!("old{i}@reporter.test")).is_empty(),
            "old reporter {i} was answered"
        );
    }
    let team = stack.wait_for(ALICE, 1, WAIT);
    assert_eq!(
        team.len(),
        1,
        "only the new report is announced to the team"
    );
    // Exact, whatever is still on its way: one acknowledgement, one notice a member.
    assert_eq!(
        must_count(&db, "SELECT COUNT(*) FROM outbox WHERE purpose = 'ack'"),
        1
    );
    assert_eq!(
        must_count(
            &db,
            "SELECT COUNT(*) FROM outbox WHERE purpose = 'team-notice'"
        ),
        2
    );
}

#[test]
fn an_acknowledgement_that_cannot_be_delivered_is_told_to_the_team() {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().unwrap();
    let (text, db) = starttls_stack_config(&stack, dir.path(), "");
    let desk = RunningDesk::start(load(&text));
    // A From address no server will ever accept a mail for.
    let bad = report("bad1@reporter.test", "Crash", "x")
        .replace(&format!("<{RITA}>"), "<rita@reporter..test>");
    stack.send(RITA, &[DESK], bad.as_bytes());
    let team = stack.wait_for(ALICE, 2, WAIT);
    let alert = with_subject(&team, "could not be delivered");
    assert!(
        header(alert, "Subject")
            .unwrap()
            .contains("the acknowledgement to rita@reporter..test could not be delivered")
    );
    assert!(
        body(alert).contains("They have not received it."),
        "{}",
        body(alert)
    );
    wait_settled(&db, 1).unwrap();
    assert_eq!(
        must_count(&db, "SELECT COUNT(*) FROM outbox WHERE purpose = 'ack'"),
        0,
        "it could not even be written"
    );
    assert_eq!(
        must_count(
            &db,
            "SELECT COUNT(*) FROM events WHERE kind = 'delivery-failed'"
        ),
        1
    );

    // Refused when sending: a queued reply whose recipient is unusable. The
    // daemon stops first, or its own mailer may take the row before the passes
    // below count it.
    drop(desk);
    let case: secdesk::types::CaseId = format!("{}-0001", case_prefix_now()).parse().unwrap();
    let mut store = Store::open(&db).unwrap();
    let now = SystemClock.now();
    let id = secdesk::types::MessageId::new("stuck@example.org").unwrap();
    let row = secdesk::outgoing::Composed {
        message_id: id,
        envelope_from: DESK.into(),
        recipients: vec!["rita@@reporter.test".into()],
        bytes: b"Subject: x\r\n\r\nx\r\n".to_vec(),
        original: None,
    };
    store
        .write(|tx| tx.enqueue(&row, secdesk::outgoing::Purpose::Reply, Some(&case), now))
        .unwrap();
    // The alert is queued during the first pass; the second sends it.
    let reports = mailer_passes(&text, &db, 2);
    assert_eq!(reports[0].failed, 1);
    let team = stack.wait_for(ALICE, 3, WAIT);
    assert!(
        header(&team[2], "Subject")
            .unwrap()
            .contains("the reply to rita@@reporter.test could not be delivered")
    );
    assert_eq!(
        must_count(
            &db,
            "SELECT COUNT(*) FROM outbox WHERE state = 'failed' AND purpose = 'reply'"
        ),
        1
    );
}

/// `passes` passes of the desk's mailer over the outbox of `db`, configured by `text`.
fn mailer_passes(
    text: &str,
    db: &Path,
    passes: usize,
) -> Vec<secdesk::service::mailer::FlushReport> {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let config = load(text);
    let desk = service_desk(&config);
    let mailer = secdesk::service::mailer::Mailer::new(&config.smtp, "example.org").unwrap();
    let dbh = secdesk::service::db::Db::open(db).unwrap();
    (0..passes)
        .map(|_| flush(&rt, &mailer, &dbh, &desk, &SystemClock))
        .collect()
}

/// A mail the relay cannot carry (an internationalized address, and a relay without
/// SMTPUTF8, as this Postfix is) can never be sent over it: it fails for good, on the
/// case, instead of being retried in silence forever.
#[test]
fn a_mail_the_relay_cannot_carry_fails_for_good() {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().unwrap();
    let (text, db) = starttls_stack_config(&stack, dir.path(), "");
    let mut store = Store::open(&db).unwrap();
    let now = SystemClock.now();
    let row = secdesk::outgoing::Composed {
        message_id: secdesk::types::MessageId::new("utf8@example.org").unwrap(),
        envelope_from: DESK.into(),
        recipients: vec!["zoë@reporter.test".into()],
        bytes: b"Subject: x\r\n\r\nx\r\n".to_vec(),
        original: None,
    };
    store
        .write(|tx| tx.enqueue(&row, secdesk::outgoing::Purpose::Reply, None, now))
        .unwrap();
    let report = mailer_passes(&text, &db, 1).remove(0);
    assert_eq!(
        (report.failed, report.retrying),
        (1, 0),
        "the mail is failed for good, not retried: {report:?}"
    );
    let error: String = open_ro(&db)
        .unwrap()
        .query_row(
            "SELECT last_error FROM outbox WHERE message_id = 'utf8@example.org'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(error.contains("SMTPUTF8"), "{error}");
}

/// A queued mail that cannot be read back (here its place for the report it carries lies
/// past its end, as only a hand edit of the database makes it) is marked failed with
/// why, and the mail queued after it still goes.
#[test]
fn a_queued_mail_that_cannot_be_read_back_does_not_stop_the_others() {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().unwrap();
    let (text, db) = starttls_stack_config(&stack, dir.path(), "");
    let mut store = Store::open(&db).unwrap();
    let now = SystemClock.now();
    let mail = |id: &str| secdesk::outgoing::Composed {
        message_id: secdesk::types::MessageId::new(id).unwrap(),
        envelope_from: DESK.into(),
        recipients: vec![RITA.into()],
        bytes: format!("Subject: {id}\r\nMessage-ID: <{id}>\r\n\r\nx\r\n").into_bytes(),
        original: None,
    };
    store
        .write(|tx| {
            let key = (
                "INBOX",
                secdesk::types::UidValidity(1),
                secdesk::types::Uid(1),
            );
            let raw = tx.insert_raw(
                key,
                b"Subject: r\r\n\r\nr\r\n",
                now,
                secdesk::store::Arrival::Live,
                false,
            )?;
            let case = secdesk::types::CaseId::parse("SEC-2026-0001").unwrap();
            tx.insert_case(&secdesk::desk::case::Case::new(
                case.clone(),
                "r".into(),
                None,
                now,
                secdesk::types::MessageId::new("r@reporter.test").unwrap(),
            ))?;
            let broken = tx.enqueue(
                &mail("broken@example.org"),
                secdesk::outgoing::Purpose::Reply,
                Some(&case),
                now,
            )?;
            tx.enqueue(
                &mail("fine@example.org"),
                secdesk::outgoing::Purpose::Reply,
                None,
                now,
            )?;
            Ok((raw, broken))
        })
        .unwrap();
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute(
            "UPDATE outbox SET original_raw_id = 1, original_at = 1000000, original_encoding = 'as-is' WHERE message_id = 'broken@example.org'",
            [],
        )
        .unwrap();
    let report = mailer_passes(&text, &db, 1).remove(0);
    assert_eq!((report.sent, report.failed), (1, 1), "{report:?}");
    let got = stack.wait_for(RITA, 1, WAIT);
    assert_eq!(
        header(&got[0], "Subject").as_deref(),
        Some("fine@example.org")
    );
    let (state, error): (String, String) = open_ro(&db)
        .unwrap()
        .query_row(
            "SELECT state, last_error FROM outbox WHERE message_id = 'broken@example.org'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(state, "failed");
    assert!(error.contains("cannot be read back"), "{error}");
    // And its case says so: the reply it carried never went.
    let noted: i64 = open_ro(&db)
        .unwrap()
        .query_row(
            "SELECT COUNT(*) FROM events WHERE case_id = 'SEC-2026-0001' AND kind = 'delivery-failed' AND detail LIKE '%cannot be read back%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(noted, 1);
}

#[test]
fn implicit_tls_on_both_sides() {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("desk.db");
    let text = config_text(db.to_str().unwrap(), stack.imaps_port, stack.smtps_port, "")
        .replace("host = \"127.0.0.1\"", "host = \"localhost\"")
        .replace(
            "tls = \"none\"",
            &format!(
                "tls = \"implicit\"\nca_file = \"{}\"",
                stack.ca_file.display()
            ),
        );
    assert_eq!(text.matches("tls = \"implicit\"").count(), 2);
    let _desk = RunningDesk::start(load(&text));
    send_report(&stack, "tls1@reporter.test", "Over TLS", "x");
    let ack = &stack.wait_for(RITA, 1, WAIT)[0];
    assert!(header(ack, "Subject").unwrap().ends_with("Over TLS"));
}

/// The server hands out UIDs the desk has read already, under the same UIDVALIDITY (a
/// mailbox restored from a file backup keeps it, and its UID counter with it): each pass
/// fails saying so, and what to do, instead of skipping every new mail in silence until
/// the UIDs pass the old cursor.
#[test]
fn uids_behind_the_cursor_under_the_same_validity_are_told_not_skipped() {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().unwrap();
    let pass = Pass::new(&stack, dir.path(), "");
    assert_eq!(pass.run_once(monday_10()), 0);
    send_report(&stack, "b1@reporter.test", "Before the restore", "x");
    stack.wait_for(DESK, 1, WAIT);
    pass.run(monday_10());
    assert_eq!(pass.count("SELECT COUNT(*) FROM cases"), 1);
    // The desk's cursor is now ahead of the server's UIDs, by two.
    pass.exec("UPDATE imap_cursor SET last_uid = last_uid + 2");
    send_report(&stack, "b2@reporter.test", "After the restore", "x");
    stack.wait_for(DESK, 2, WAIT);
    let err = pass.sync(monday_10()).unwrap_err().to_string();
    assert!(
        err.contains("already read") && err.contains("UIDVALIDITY") && err.contains("recreate it"),
        "{err}"
    );
    // It holds once the server's UIDs pass the cursor again: the mail between would be
    // skipped. (The error cleared itself, and those reports were never read.)
    send_report(&stack, "b3@reporter.test", "Later still", "x");
    stack.wait_for(DESK, 3, WAIT);
    let err = pass.sync(monday_10()).unwrap_err().to_string();
    assert!(err.contains("already read"), "{err}");
    assert_eq!(pass.count("SELECT COUNT(*) FROM cases"), 1);
}

#[test]
fn a_new_uidvalidity_refetches_without_answering_twice() {
    let stack = MailStack::start();
    stack.create_mailbox(DESK, "Reports");
    let dir = tempfile::tempdir().unwrap();
    let (text, db) = starttls_stack_config(&stack, dir.path(), "");
    let text = text.replace(
        "poll_interval = \"1s\"",
        "poll_interval = \"1s\"\nmailbox = \"Reports\"",
    );
    let _desk = RunningDesk::start(load(&text));
    let first = report("v1@reporter.test", "Before the reset", "x");
    stack.append_to(DESK, "Reports", first.as_bytes());
    stack.wait_for(RITA, 1, WAIT);
    wait_settled(&db, 1).unwrap();
    let validity = must_count(
        &db,
        "SELECT uidvalidity FROM imap_cursor WHERE mailbox = 'Reports'",
    );

    // The mailbox is recreated (a restore from backup, a server migration): every UID is
    // void. A new report takes UID 1 of the new epoch (a desk trusting its old cursor
    // would skip it), and the old mail comes back beside it.
    let mut imap = stack.imap(DESK);
    imap.ok("DELETE Reports");
    imap.ok("CREATE Reports");
    imap.append(
        "Reports",
        report("v2@reporter.test", "After the reset", "x").as_bytes(),
    );
    imap.append("Reports", first.as_bytes());
    drop(imap);

    let acks = stack.wait_for(RITA, 2, WAIT);
    assert!(
        header(&acks[1], "Subject")
            .unwrap()
            .ends_with("After the reset")
    );
    wait_settled(&db, 3).unwrap();
    assert_ne!(
        must_count(
            &db,
            "SELECT uidvalidity FROM imap_cursor WHERE mailbox = 'Reports'"
        ),
        validity
    );
    assert_eq!(
        must_count(
            &db,
            "SELECT COUNT(*) FROM raw_mail WHERE state = 'duplicate'"
        ),
        1,
        "the old mail is recognised"
    );
    assert_eq!(must_count(&db, "SELECT COUNT(*) FROM cases"), 2);
    assert_eq!(
        stack.fetch_all(RITA).len(),
        2,
        "one acknowledgement per report, no more"
    );
}
