//! A backlog is taken in first, then answered: while the inbox is being caught up the
//! mailer waits (at most `catchup::HOLD`), so filing and sending do not share the
//! machine's cores at half speed each.

use super::*;

/// Runs the desk over `backlog` until its three mails a report are sent, then stops it
/// (SIGTERM); returns its log.
fn answer(backlog: &Backlogged) -> String {
    let (dir, db, cfg, n) = (&backlog.dir, &backlog.db, &backlog.cfg, BACKLOG as i64);
    let mut desk = Daemon::start(cfg, dir.path().join("run.log"));
    desk.wait_db("the backlog answered", BACKLOG_BUDGET, || {
        match count(db, "SELECT COUNT(*) FROM outbox WHERE state = 'sent'")? {
            sent if sent >= 3 * n => Ok(()),
            sent => Err(format!("{sent} of {} mails sent", 3 * n)),
        }
    });
    let status = desk.sigterm(Duration::from_secs(20));
    assert!(status.success(), "exit after SIGTERM: {status}");
    desk.log_text()
}

#[test]
fn a_backlog_is_filed_before_its_answers_go_out() {
    let backlog = backlogged(); // two batches: a catch-up
    let log = answer(&backlog);
    let lines: Vec<&str> = log.lines().collect();
    let last_filed = lines.iter().rposition(|l| l.contains("mail filed"));
    let first_sent = lines.iter().position(|l| l.contains("mail sent"));
    let (Some(last_filed), Some(first_sent)) = (last_filed, first_sent) else {
        panic!("no mail filed or sent in the log:\n{log}");
    };
    assert_eq!(
        lines.iter().filter(|l| l.contains("mail filed")).count(),
        BACKLOG
    );
    assert!(
        first_sent > last_filed,
        "a mail was sent (line {first_sent}) before the backlog was filed (last at line \
         {last_filed}): the mailer did not wait for the catch-up\n{log}"
    );
}

/// A backlog goes out over the same few connections from one outbox pass to the next
/// (a pass takes 100 rows): not a new connection, with its TLS handshake on both sides,
/// for each connection of each pass.
#[test]
fn a_backlog_goes_out_over_the_same_connections() {
    let backlog = backlogged();
    let log = backlog.stack.dir.join("log").join("postfix.log");
    let connections = || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("smtpd[") && l.contains(": connect from"))
            .count()
    };
    let before = connections();
    answer(&backlog);
    // Three passes of 100 rows over smtp.connections (3) connections.
    let made = connections() - before;
    assert!(
        (1..=3).contains(&made),
        "{made} SMTP connections for {} mails in three passes:\n{}",
        3 * BACKLOG,
        backlog.stack.log_tail(40)
    );
}
