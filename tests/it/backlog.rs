//! Batching a backlog: several mails per transaction (one savepoint each), flagged done
//! in batches. A failure or a crash in the middle of a batch loses nothing and
//! duplicates nothing, and the server never hears "done" before the commit.

use crate::support::desk::{Daemon, assert_filed_once_each, stack_config, tally, wait_first_sync};
use crate::support::mailstack::MailStack;
use crate::world::*;
use secdesk::clock::Clock;
use secdesk::service::process::{BatchItem, Processed};
use secdesk::store::{Arrival, Store};
use secdesk::types::{Uid, UidValidity};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

/// A trigger that makes filing the message `id` fail, as a full disk or a bug would:
/// the case row is written first, so the savepoint has something to undo.
fn sabotage(store_path: &Path, id: &str) {
    let conn = rusqlite::Connection::open(store_path).unwrap();
    conn.execute_batch(&format!(
        "CREATE TRIGGER sabotage BEFORE INSERT ON messages WHEN NEW.message_id = '{id}'
         BEGIN SELECT RAISE(ABORT, 'sabotaged'); END;"
    ))
    .unwrap();
}

fn repair(store_path: &Path) {
    let conn = rusqlite::Connection::open(store_path).unwrap();
    conn.execute_batch("DROP TRIGGER sabotage").unwrap();
}

#[test]
fn a_mail_failing_mid_batch_is_undone_alone_and_filed_once_later() {
    let mut w = World::new();
    let path = w.store.path().to_path_buf();
    let now = w.clock.now();
    let raw: Vec<i64> = (0..5)
        .map(|i| {
            let mail = report(&format!("b{i}@reporter.test"), &format!("Batch {i}"), "x")
                .replace(RITA, &format!("r{i}@reporter.test"));
            w.store
                .write(|tx| {
                    tx.insert_raw(
                        ("INBOX", UidValidity(1), Uid(i + 1)),
                        mail.as_bytes(),
                        now,
                        Arrival::Live,
                        false,
                    )
                })
                .unwrap()
                .unwrap()
        })
        .collect();
    sabotage(&path, "b2@reporter.test");
    // A fresh connection sees the trigger.
    let mut store = Store::open(&path).unwrap();
    let items = w
        .desk
        .process_batch(&mut store, &raw, now, &|| false)
        .unwrap();
    let failed: Vec<usize> = (0..items.len())
        .filter(|i| matches!(items[*i], BatchItem::Failed(_)))
        .collect();
    assert_eq!(failed, vec![2], "the sabotaged mail alone fails: {items:?}");
    assert!(
        items
            .iter()
            .filter(|i| !matches!(i, BatchItem::Failed(_)))
            .all(|i| matches!(i, BatchItem::Done(Processed::Filed { .. }))),
        "the mails before and after it are filed: {items:?}"
    );
    assert_eq!(tally(&path, "SELECT COUNT(*) FROM cases"), 4);
    assert_eq!(
        tally(&path, "SELECT COUNT(*) FROM outbox WHERE purpose = 'ack'"),
        4,
        "nothing of the failed mail (its case, its ack) survives"
    );
    assert_eq!(
        tally(
            &path,
            "SELECT COUNT(*) FROM raw_mail WHERE state = 'pending' AND attempts = 1 AND last_error LIKE '%sabotaged%'"
        ),
        1,
        "the failed mail waits, its attempt and its error recorded"
    );

    repair(&path);
    let pending: Vec<i64> = store
        .read(|tx| tx.pending_raw_sizes())
        .unwrap()
        .into_iter()
        .map(|(id, _, _)| id)
        .collect();
    assert_eq!(pending, vec![raw[2]]);
    let items = w
        .desk
        .process_batch(&mut store, &pending, now, &|| false)
        .unwrap();
    assert!(matches!(
        items[..],
        [BatchItem::Done(Processed::Filed { .. })]
    ));
    // And a batch run again over mails already done does nothing.
    let again = w
        .desk
        .process_batch(&mut store, &raw, now, &|| false)
        .unwrap();
    assert!(
        again
            .iter()
            .all(|p| *p == BatchItem::Done(Processed::AlreadyDone))
    );
    assert_eq!(tally(&path, "SELECT COUNT(*) FROM cases"), 5);
    assert_eq!(
        tally(
            &path,
            "SELECT COUNT(*) FROM messages WHERE direction = 'in'"
        ),
        5
    );
    assert_eq!(
        tally(&path, "SELECT COUNT(*) FROM outbox WHERE purpose = 'ack'"),
        5
    );
    assert_eq!(
        tally(
            &path,
            "SELECT COUNT(DISTINCT primary_rcpt) FROM outbox WHERE purpose = 'ack'"
        ),
        5
    );
}

/// A message whose processing fails, or panics, every time (the mail's doing, not the
/// database's) stopped the import at it for good: every run failed on it again, and a
/// panic took the whole batch back. It is set aside, raw, on a case of its own, and the
/// import goes on.
#[test]
fn an_import_sets_aside_a_message_that_cannot_be_processed_and_goes_on() {
    let w = World::new();
    let path = w.store.path().to_path_buf();
    let dir = tempfile::tempdir().unwrap();
    let mbox = dir.path().join("archive.mbox");
    let mut text = String::new();
    for (i, extra) in [
        "",
        "X-Secdesk-Failpoint: panic\r\n",
        "X-Secdesk-Failpoint: poison\r\n",
        "",
    ]
    .into_iter()
    .enumerate()
    {
        text.push_str(&format!(
            "From r@reporter.test Mon Nov 23 10:00:00 2026\r\nFrom: r{i}@reporter.test\r\nTo: {DESK}\r\nSubject: Crash {i}\r\nMessage-ID: <p{i}@reporter.test>\r\n{extra}Date: Mon, 23 Nov 2026 10:00:00 +0100\r\n\r\nHello\r\n\r\n"
        ));
    }
    // One set aside under the Message-ID of one filed (a script reusing its id): a
    // report of its own, not a copy (it was dropped, the team never told); its own copy
    // is a copy.
    for _ in 0..2 {
        text.push_str(&format!(
            "From r@reporter.test Mon Nov 23 10:00:00 2026\r\nFrom: r0@reporter.test\r\nTo: {DESK}\r\nSubject: Crash again\r\nMessage-ID: <p0@reporter.test>\r\nX-Secdesk-Failpoint: poison\r\nDate: Mon, 23 Nov 2026 11:00:00 +0100\r\n\r\nAnother report\r\n\r\n"
        ));
    }
    // And a second delivery of the one set aside first (another relay's header on
    // top): a copy of it, not a second case and a second alert.
    text.push_str(&format!(
        "From r@reporter.test Mon Nov 23 10:00:00 2026\r\nReceived: from relay.test\r\nFrom: r2@reporter.test\r\nTo: {DESK}\r\nSubject: Crash 2\r\nMessage-ID: <p2@reporter.test>\r\nX-Secdesk-Failpoint: poison\r\nDate: Mon, 23 Nov 2026 10:00:00 +0100\r\n\r\nHello\r\n\r\n"
    ));
    std::fs::write(&mbox, text).unwrap();
    let mut store = Store::open(&path).unwrap();
    let report = secdesk::cli::import::import(&w.desk, &mut store, &mbox, &w.clock)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.messages, 7);
    assert_eq!(tally(&path, "SELECT COUNT(*) FROM cases"), 5);
    assert_eq!(
        tally(
            &path,
            "SELECT COUNT(*) FROM cases WHERE subject = '(could not be processed)'"
        ),
        3
    );
    assert_eq!(
        tally(&path, "SELECT COUNT(*) FROM outbox"),
        0,
        "an import sends nothing"
    );
}

#[test]
fn an_import_failing_mid_batch_keeps_what_it_did_and_resumes_without_duplicates() {
    let w = World::new();
    let path = w.store.path().to_path_buf();
    let dir = tempfile::tempdir().unwrap();
    let mbox = dir.path().join("archive.mbox");
    // More than one import batch, and a reply in each thread.
    let mut text = String::new();
    for i in 0..450 {
        let thread = i / 2;
        let (subject, extra) = if i % 2 == 0 {
            (format!("Crash {thread}"), String::new())
        } else {
            let parent = format!("<m{}@reporter.test>", i - 1);
            (
                format!("Re: Crash {thread}"),
                format!("In-Reply-To: {parent}\nReferences: {parent}\n"),
            )
        };
        text.push_str(&format!(
            "From r@reporter.test Mon Nov 23 10:00:00 2026\nFrom: r{thread}@reporter.test\nTo: {DESK}\nSubject: {subject}\nMessage-ID: <m{i}@reporter.test>\n{extra}Date: Mon, 23 Nov 2026 10:00:00 +0100\n\nHello\n>From an escaped line\n\n"
        ));
    }
    std::fs::write(&mbox, text).unwrap();

    sabotage(&path, "m301@reporter.test");
    let mut store = Store::open(&path).unwrap();
    let err = secdesk::cli::import::import(&w.desk, &mut store, &mbox, &w.clock);
    // The failure is reported, naming the message (the 302nd) and what is on file.
    let err = err.unwrap_err().to_string();
    assert!(
        err.starts_with("message 302 of ") && err.contains("the 301 before it are on file"),
        "{err}"
    );
    // Batches of 200: the first is committed whole; the second up to the failing mail.
    assert_eq!(
        tally(&path, "SELECT COUNT(*) FROM messages"),
        301,
        "every mail before the failing one is on file, nothing of it or after it"
    );
    assert_eq!(tally(&path, "SELECT COUNT(*) FROM cases"), 151);

    repair(&path);
    let r = secdesk::cli::import::import(&w.desk, &mut store, &mbox, &w.clock).unwrap();
    assert_eq!(r.messages, 450);
    assert_eq!(r.duplicates, 301, "what was done is recognised");
    assert_eq!(r.cases_opened, 225 - 151);
    assert_eq!(tally(&path, "SELECT COUNT(*) FROM cases"), 225);
    assert_eq!(tally(&path, "SELECT COUNT(*) FROM messages"), 450);
    assert_eq!(
        tally(&path, "SELECT COUNT(*) FROM raw_mail"),
        450,
        "each message stored once"
    );
    assert_eq!(
        tally(&path, "SELECT COUNT(*) FROM outbox"),
        0,
        "importing sends nothing"
    );
    // Threads held: every case has its report and its reply.
    assert_eq!(
        tally(
            &path,
            "SELECT COUNT(*) FROM (SELECT case_id FROM messages GROUP BY case_id HAVING COUNT(*) = 2)"
        ),
        225
    );
    let body = store
        .read(|tx| {
            tx.raw_bytes_of_message(&secdesk::types::MessageId::new("m0@reporter.test").unwrap())
        })
        .unwrap()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&body).contains("\nFrom an escaped line"),
        "mboxrd lines are unescaped while streaming"
    );
}

/// The UIDs of the desk's INBOX that carry the done keyword.
fn flagged_on_server(stack: &MailStack) -> BTreeSet<u32> {
    let mut imap = stack.imap(DESK);
    imap.select("INBOX");
    let found = imap.ok("UID SEARCH KEYWORD $SecdeskDone");
    imap.logout();
    found
        .iter()
        .filter_map(|u| u.text.strip_prefix("* SEARCH"))
        .flat_map(|rest| rest.split_whitespace().map(|n| n.parse::<u32>().unwrap()))
        .collect()
}

/// The UIDs whose mail the database holds as processed.
fn processed_uids(db: &Path) -> BTreeSet<u32> {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    let mut stmt = conn
        .prepare("SELECT uid FROM raw_mail WHERE mailbox = 'INBOX' AND state != 'pending'")
        .unwrap();
    stmt.query_map([], |r| r.get::<_, u32>(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect()
}

/// A desk that has seen its (empty) mailbox once, then `n` reports appended while it is
/// stopped, so they are new mail, not history; report `odd`, if any, carries the given
/// failpoint header. Returns the config's path and the database's.
fn backlog(
    stack: &MailStack,
    dir: &Path,
    n: usize,
    odd: Option<(usize, &str)>,
) -> (std::path::PathBuf, std::path::PathBuf) {
    let db = dir.join("desk.db");
    // Every reporter is acknowledged: the desk-wide limit (60 an hour) raised above n.
    let text = stack_config(
        stack,
        &db,
        "[policy]\nack_rate_limit_total = \"1000 per hour\"\n",
    );
    let cfg = dir.join("config.toml");
    std::fs::write(&cfg, text).unwrap();
    let priming = Daemon::start(&cfg, &dir.join("run0.log"), &[]);
    wait_first_sync(&db).unwrap();
    drop(priming);
    let mut imap = stack.imap(DESK);
    for i in 0..n {
        let mut mail = report(
            &format!("bulk{i}@reporter.test"),
            &format!("Report {i}"),
            "x",
        )
        .replace(RITA, &format!("r{i}@reporter.test"));
        if let Some((at, failpoint)) = odd.filter(|(at, _)| *at == i) {
            let subject = format!("Subject: Report {at}\r\n");
            mail = mail.replace(
                &subject,
                &format!("{subject}X-Secdesk-Failpoint: {failpoint}\r\n"),
            );
        }
        imap.append("INBOX", mail.as_bytes());
    }
    drop(imap);
    (cfg, db)
}

#[test]
fn a_mail_that_panics_mid_batch_is_set_aside_alone_and_the_rest_filed_once() {
    const N: usize = 12;
    let stack = MailStack::start();
    let dir = tempfile::tempdir().unwrap();
    let (cfg, db) = backlog(&stack, dir.path(), N, Some((5, "panic")));
    let log = dir.path().join("run1.log");
    let _desk = Daemon::start(&cfg, &log, &[]);
    let deadline = Instant::now() + Duration::from_secs(60);
    // One query, one snapshot: two counts read apart could see "none pending" before
    // the batch was stored and "all stored" after (it happened under load).
    while tally(
        &db,
        "SELECT COUNT(*) FROM raw_mail WHERE state != 'pending'",
    ) < N as i64
    {
        assert!(
            Instant::now() < deadline,
            "the backlog was never filed: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("a batch could not be filed"),
        "the panic hit a batch: {text}"
    );
    assert_eq!(
        tally(
            &db,
            "SELECT COUNT(*) FROM cases WHERE subject = '(could not be processed)'"
        ),
        1,
        "the mail at fault is set aside"
    );
    assert_eq!(
        tally(
            &db,
            "SELECT attempts FROM raw_mail WHERE message_id = 'bulk5@reporter.test'"
        ),
        3,
        "three failed attempts (the batch's and two alone, each in a child), then set aside"
    );
    assert_eq!(
        tally(
            &db,
            "SELECT COUNT(*) FROM cases WHERE subject LIKE 'Report %'"
        ),
        N as i64 - 1,
        "every other report has its case"
    );
    assert_eq!(
        tally(
            &db,
            "SELECT MAX(attempts) FROM raw_mail WHERE message_id != 'bulk5@reporter.test'"
        ),
        1,
        "the others were tried in the batch, then filed alone in a child, which counts only failures"
    );
    assert_eq!(
        tally(
            &db,
            "SELECT COUNT(DISTINCT primary_rcpt) FROM outbox WHERE purpose = 'ack'"
        ),
        N as i64 - 1,
        "one acknowledgement for each other reporter, none for the mail at fault"
    );
    assert_eq!(
        tally(&db, "SELECT COUNT(*) FROM outbox WHERE purpose = 'ack'"),
        N as i64 - 1
    );
}

#[test]
fn killed_mid_batch_nothing_is_lost_nothing_doubled_nothing_flagged_early() {
    // Six batches: a batch's flags reach the database with the next batch's raw commit.
    const N: usize = 600;
    let stack = MailStack::start();
    let dir = tempfile::tempdir().unwrap();
    let (cfg, db) = backlog(&stack, dir.path(), N, None);

    // Killed as soon as a first batch is committed and flagged: the next batches are in
    // flight (fetched, being processed, or being flagged).
    let mut first = Daemon::start(&cfg, &dir.path().join("run1.log"), &[]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while tally(
        &db,
        "SELECT COUNT(*) FROM raw_mail WHERE state != 'pending' AND flagged = 1",
    ) == 0
    {
        assert!(
            Instant::now() < deadline,
            "the desk never got going: {}",
            std::fs::read_to_string(dir.path().join("run1.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    first.0.kill().unwrap(); // SIGKILL: no chance to finish anything
    first.0.wait().unwrap();
    let processed = processed_uids(&db);
    let flagged = flagged_on_server(&stack);
    eprintln!(
        "killed with {} of {N} mails processed, {} flagged",
        processed.len(),
        flagged.len()
    );
    assert!(
        processed.len() < N,
        "the kill came after the whole backlog: the test proves nothing"
    );
    assert!(
        flagged.is_subset(&processed),
        "flagged done on the server before its transaction committed: {:?}",
        flagged.difference(&processed).collect::<Vec<_>>()
    );
    // Batches are whole: every committed batch holds all its effects.
    assert_eq!(
        tally(&db, "SELECT COUNT(*) FROM cases"),
        processed.len() as i64
    );
    assert_eq!(
        tally(&db, "SELECT COUNT(*) FROM outbox WHERE purpose = 'ack'"),
        processed.len() as i64
    );

    let _second = Daemon::start(&cfg, &dir.path().join("run2.log"), &[]);
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let done = tally(
            &db,
            "SELECT COUNT(*) FROM raw_mail WHERE state != 'pending' AND flagged = 1",
        );
        let queued = tally(&db, "SELECT COUNT(*) FROM outbox WHERE state = 'pending'");
        if done >= N as i64 && queued == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "after 120 s: {done} of {N} mails done, {queued} mails still queued"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_filed_once_each(&db, N as i64);
    assert_eq!(
        flagged_on_server(&stack).len(),
        N,
        "every mail flagged done in the end"
    );
    // In the mailboxes: one acknowledgement per reporter (a copy may come twice only if
    // the kill fell between the server's 250 and our record of it, then with the same
    // Message-ID), and one notice of each report per team member.
    for i in 0..N {
        let got = stack.fetch_all(&format!("r{i}@reporter.test"));
        let ids: BTreeSet<String> = got
            .iter()
            .map(|m| header(m, "Message-ID").unwrap_or_default())
            .collect();
        assert_eq!(ids.len(), 1, "reporter {i} got acknowledgements {ids:?}");
    }
    let mut notices: BTreeMap<String, usize> = BTreeMap::new();
    for m in stack.fetch_all(ALICE) {
        *notices
            .entry(header(&m, "Message-ID").unwrap_or_default())
            .or_default() += 1;
    }
    assert_eq!(notices.len(), N, "the team heard of every report once");
}

/// The daemon's ingest commits without waiting for the disk; the server hears "done"
/// only once those commits are brought to it. With that step failing (failpoint
/// `wal-sync-fails`), the backlog is filed and answered, and nothing is flagged; once it
/// works again, everything is flagged, and nothing filed twice.
#[test]
fn the_server_hears_done_only_once_the_filing_is_on_the_disk() {
    const N: usize = 160; // two batches: flagged inside the pipeline and at its end
    let stack = MailStack::start();
    let dir = tempfile::tempdir().unwrap();
    let (cfg, db) = backlog(&stack, dir.path(), N, None);
    let log = dir.path().join("run1.log");
    let mut first = Daemon::start(&cfg, &log, &[("SECDESK_FAILPOINTS", "wal-sync-fails")]);
    let deadline = Instant::now() + Duration::from_secs(60);
    let refused = "cannot bring the commits in";
    loop {
        let said = std::fs::read_to_string(&log).unwrap_or_default();
        let filed = tally(
            &db,
            "SELECT COUNT(*) FROM raw_mail WHERE state != 'pending'",
        );
        if said.contains(refused) && filed == N as i64 {
            break;
        }
        assert!(
            flagged_on_server(&stack).is_empty(),
            "flagged done without the filing brought to the disk: {said}"
        );
        assert!(
            Instant::now() < deadline,
            "after 60 s, {filed} of {N} filed, and no refusal to flag: {said}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(flagged_on_server(&stack).is_empty());
    first.0.kill().unwrap();
    first.0.wait().unwrap();
    assert_filed_once_each(&db, N as i64);

    let log = dir.path().join("run2.log");
    let _second = Daemon::start(&cfg, &log, &[]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while flagged_on_server(&stack).len() < N {
        assert!(
            Instant::now() < deadline,
            "never flagged after the repair: {}",
            std::fs::read_to_string(&log)
                .unwrap_or_default()
                .lines()
                .filter(|l| !l.contains("mail sent"))
                .collect::<Vec<_>>()
                .join("\n")
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_filed_once_each(&db, N as i64);
}
