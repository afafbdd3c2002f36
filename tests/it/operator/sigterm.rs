//! SIGTERM during a backlog: nothing is lost, and the mailer stops between two sends.

use super::*;

/// The Message-ID of a raw mail, without angle brackets.
fn message_id(raw: &[u8]) -> String {
    header(raw, "Message-ID")
        .unwrap_or_default()
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .to_string()
}

/// SIGTERM in the middle of a backlog: the desk exits 0 within 20 s, and after a restart
/// every mail is processed exactly once, one case each, and each reporter gets exactly
/// one acknowledgement (one Message-ID, even if SMTP delivered it twice).
#[test]
fn sigterm_during_a_backlog_loses_nothing() {
    let backlog = backlogged();
    let (stack, dir, db, cfg) = (&backlog.stack, &backlog.dir, &backlog.db, &backlog.cfg);
    let n = BACKLOG as i64;

    let mut desk = Daemon::start(cfg, dir.path().join("run-1.log"));
    let what = "some, but not all, of the backlog processed";
    let seen = desk.wait_db(what, Duration::from_secs(15), || {
        match count(db, BACKLOG_DONE_SQL) {
            Ok(k) if k >= n => {
                panic!("all {k} mails were done before the SIGTERM: enlarge the backlog")
            }
            Ok(k) if k > 0 => Ok(k),
            Ok(k) => Err(format!("{k} processed")),
            Err(e) => Err(e),
        }
    });
    let status = desk.sigterm(Duration::from_secs(20));
    let log1 = desk.log_text();
    assert!(
        status.success(),
        "exit after SIGTERM: {status}; log:\n{log1}"
    );
    assert!(
        log1.contains("SIGTERM received") && log1.contains("stopped"),
        "{log1}"
    );
    let after_first = must_count(db, BACKLOG_DONE_SQL);
    eprintln!("backlog: {seen} processed at SIGTERM, {after_first} when the desk had stopped");
    assert!(
        after_first >= seen && after_first < n,
        "after the first run {after_first} of {n} were processed (at SIGTERM: {seen}); \
         the restart would prove nothing\n{log1}"
    );
    assert_eq!(
        must_count(db, "SELECT COUNT(*) FROM cases"),
        must_count(
            db,
            "SELECT COUNT(*) FROM raw_mail WHERE state = 'processed' AND message_id LIKE 'backlog-%'"
        ),
        "cases and processed mails disagree after the SIGTERM"
    );
    // A mail stored and not yet filed when the stop came keeps no attempt: the stop was
    // no failure of its own, and it is filed with the rest at the next start.
    assert_eq!(
        must_count(
            db,
            "SELECT COUNT(*) FROM raw_mail WHERE state = 'pending' AND attempts > 0"
        ),
        0,
        "the SIGTERM counted attempts it never made\n{log1}"
    );

    let mut desk = Daemon::start(cfg, dir.path().join("run-2.log"));
    desk.wait_db(
        "the whole backlog processed and the outbox drained",
        BACKLOG_BUDGET,
        || {
            let done = count(db, BACKLOG_DONE_SQL)?;
            // Outgoing rows are written with the mail that caused them: read them after.
            let waiting = count(db, "SELECT COUNT(*) FROM outbox WHERE state != 'sent'")?;
            if done == n && waiting == 0 {
                Ok(())
            } else {
                Err(format!("{done}/{n} processed, {waiting} outgoing not sent"))
            }
        },
    );
    desk.stop_cleanly("second");

    // The database: one raw row per mail, each processed once into one case.
    assert_eq!(must_count(db, "SELECT COUNT(*) FROM raw_mail"), n + 1);
    assert_eq!(
        must_count(
            db,
            "SELECT COUNT(*) FROM raw_mail WHERE state = 'processed' AND message_id LIKE 'backlog-%'"
        ),
        n
    );
    assert_eq!(
        must_count(
            db,
            "SELECT COUNT(DISTINCT message_id) FROM raw_mail WHERE message_id LIKE 'backlog-%'"
        ),
        n
    );
    assert_filed_once_each(db, n);
    assert_eq!(
        must_count(db, "SELECT COUNT(DISTINCT reporter) FROM cases"),
        n
    );
    assert_eq!(
        must_count(
            db,
            "SELECT COUNT(*) FROM raw_mail r WHERE r.message_id LIKE 'backlog-%' AND (SELECT COUNT(*) FROM messages m WHERE m.raw_id = r.id) != 1"
        ),
        0,
        "a raw mail was filed other than exactly once"
    );
    assert_eq!(
        must_count(
            db,
            "SELECT COUNT(DISTINCT primary_rcpt) FROM outbox WHERE purpose = 'ack'"
        ),
        n
    );

    // The ack Message-ID queued for each reporter.
    let queued: BTreeMap<String, String> = {
        let conn = open_ro(db).unwrap();
        let mut stmt = conn
            .prepare("SELECT primary_rcpt, message_id FROM outbox WHERE purpose = 'ack'")
            .unwrap();
        stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .unwrap()
            .map(|r| {
                let (rcpt, id) = r.unwrap();
                (rcpt, id.trim_matches(['<', '>']).to_string())
            })
            .collect()
    };
    // The mailboxes: every reporter holds acks with one Message-ID, the queued one.
    for i in 0..BACKLOG {
        let who = format!("r{i}@reporter.test");
        let got = stack.wait_for(&who, 1, Duration::from_secs(10));
        let ids: BTreeSet<String> = got.iter().map(|m| message_id(m)).collect();
        assert_eq!(
            ids.len(),
            1,
            "{who} received {} mails with {} different Message-IDs: {ids:?}",
            got.len(),
            ids.len()
        );
        assert_eq!(
            ids.first(),
            queued.get(&who),
            "{who} received an ack that is not the queued one"
        );
    }
}

/// SIGTERM while the mailer works through a full outbox: the desk stops after the mail
/// in hand, as daemon.rs promises ("shutdown is observed only between units of work
/// (between two mails, two sends, …)"), not after every due mail of the pass (up to 100,
/// each allowed a 30 s SMTP timeout: far beyond the 20 s stop budget and systemd's
/// TimeoutStopSec=30s when the server is slow).
#[test]
fn sigterm_stops_the_mailer_between_two_sends() {
    let backlog = backlogged(); // the servers live as long as the test
    let (dir, db, cfg, n) = (&backlog.dir, &backlog.db, &backlog.cfg, BACKLOG as i64);
    let sent_sql = "SELECT COUNT(*) FROM outbox WHERE state = 'sent'";

    let mut desk = Daemon::start(cfg, dir.path().join("run.log"));
    // Every report processed (three mails queued each: the ack, one notice per member) …
    let sent_at_done = desk.wait_db("the backlog processed", BACKLOG_BUDGET, || {
        match (count(db, BACKLOG_DONE_SQL)?, count(db, sent_sql)?) {
            (done, sent) if done == n => Ok(sent),
            (done, sent) => Err(format!("{done}/{n} processed, {sent} sent")),
        }
    });
    // … and ten more sends, so the pass in progress is one that began with every
    // remaining mail due (a pass takes up to 100).
    let sent_before = desk.wait_db("ten more sends", BACKLOG_BUDGET, || {
        match count(db, sent_sql)? {
            sent if sent >= sent_at_done + 10 => Ok(sent),
            sent => Err(format!(
                "{sent} sent ({sent_at_done} when processing ended)"
            )),
        }
    });
    assert!(
        sent_before <= n,
        "a third of the outbox ({sent_before} of {} mails) was sent before SIGTERM",
        3 * n
    );
    let asked = Instant::now();
    let status = desk.sigterm(Duration::from_secs(20));
    let took = asked.elapsed();
    let sent_after = must_count(db, sent_sql);
    assert!(
        status.success(),
        "exit after SIGTERM: {status}\n{}",
        desk.log_text()
    );
    eprintln!(
        "SIGTERM with {sent_before} of {} mails sent: exit after {took:?}, {sent_after} sent by then",
        3 * n
    );
    // From the desk's own account: once it says it is stopping, at most the mail already
    // in flight on each SMTP connection leaves (smtp.connections, 3 by default). (Counting from the test's side would also count the mails sent
    // while `kill` was starting, a few milliseconds at ~4 ms a mail.)
    let log = desk.log_text();
    let after_stop = log
        .lines()
        .skip_while(|l| !l.contains("stopping: finishing the work in hand"))
        .filter(|l| l.contains("mail sent"))
        .count();
    assert!(
        log.contains("stopping: finishing the work in hand"),
        "no stop in the log:\n{log}"
    );
    assert!(
        after_stop <= 3,
        "after SIGTERM the desk sent {after_stop} more mails ({sent_before} → {sent_after} sent, \
         {took:?} to stop): the mailer does not observe shutdown between sends\n{log}"
    );
    // Nothing lost: what was not sent waits, due, for the next start.
    assert_eq!(
        must_count(db, "SELECT COUNT(*) FROM outbox WHERE state = 'pending'"),
        3 * n - sent_after
    );
    // … with no attempt counted: the rows the mailer had claimed and not yet sent are
    // given back, so the next start sends them at once instead of after a backoff.
    assert_eq!(
        must_count(
            db,
            "SELECT COUNT(*) FROM outbox WHERE state = 'pending' AND (attempts > 0 OR next_attempt_at > strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))"
        ),
        0,
        "rows claimed by the mailer and never sent were not given back"
    );
}
