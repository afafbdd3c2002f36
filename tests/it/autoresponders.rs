//! Autoresponders against the real mail stack: Dovecot's Sieve `vacation` and a naive
//! responder that answers every mail at once (no RFC 3834 headers), on the reporter's
//! mailbox and on both team members' mailboxes, with the desk running in-process on a
//! ManualClock that the test moves five times faster than real time; and a forged team
//! note through the real servers.
//!
//! About twenty seconds of real time for a minute and a half of the desk's clock: every
//! exchange happens, and then nothing more. (Five times, not more: the round trip
//! relay → responder → desk must stay well inside the desk's 60 s quick-answer window
//! even on a loaded machine.)

use crate::support::desk::{RunningDesk, load, send_report, starttls_stack_config};
use crate::support::mailstack::MailStack;
use crate::support::responder::{Answer, Mailbox, Responder};
use crate::world::*;
use secdesk::clock::{Clock, ManualClock, SystemClock};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A vacation responder that may answer the same sender again after a second: the
/// harshest setting Sieve allows.
const VACATION: &str = "require [\"vacation\", \"vacation-seconds\"];\n\
    vacation :seconds 1 :subject \"Away\" \"I am away until Monday.\";\n";

fn query<T: rusqlite::types::FromSql>(db: &Path, sql: &str) -> Vec<T> {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    let mut stmt = conn.prepare(sql).unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect()
}

/// What the desk has done so far: mails processed, mails queued, mails waiting.
fn progress(db: &Path) -> (i64, i64, i64) {
    let one = |sql: &str| query::<i64>(db, sql).first().copied().unwrap_or(0);
    (
        one("SELECT COUNT(*) FROM raw_mail WHERE state != 'pending'"),
        one("SELECT COUNT(*) FROM outbox"),
        one("SELECT COUNT(*) FROM raw_mail WHERE state = 'pending'")
            + one("SELECT COUNT(*) FROM outbox WHERE state = 'pending'"),
    )
}

fn by(answers: &[Answer], user: &str) -> Vec<Answer> {
    answers.iter().filter(|a| a.user == user).cloned().collect()
}

#[test]
fn vacation_and_naive_responders_get_one_exchange_each_on_the_real_stack() {
    let stack = MailStack::start_with_sieve();
    for user in [RITA, ALICE, BOB] {
        stack.set_sieve(user, VACATION);
    }
    let dir = tempfile::tempdir().unwrap();
    let (text, db) = starttls_stack_config(&stack, dir.path(), "");
    let config = load(&text);
    let clock = ManualClock::new(SystemClock.now());
    let desk_start = clock.now();
    let _desk = RunningDesk::start_with_clock(config, Arc::new(clock.clone()));

    // The team's mail passes the receiving server that stamps Authentication-Results.
    let stamped = |user: &str| Mailbox {
        user: user.to_string(),
        extra_headers: "Authentication-Results: mx.example.org; dkim=pass header.d=example.org\r\n"
            .to_string(),
    };
    let responders = Responder::start(
        &stack,
        vec![
            Mailbox {
                user: RITA.to_string(),
                extra_headers: String::new(),
            },
            stamped(ALICE),
            stamped(BOB),
        ],
        Duration::from_secs(120),
    );

    send_report(
        &stack,
        "r1@reporter.test",
        "Heap overflow",
        "The parser overflows.",
    );

    // The desk's clock runs five times faster than real time. Twenty desk seconds after
    // the report, Alice (a person) answers the reporter with `#reply`; then everything
    // runs until at least a minute and a half of the desk's clock has passed, nothing
    // has moved for three real seconds, and Postfix holds no mail (an answer on its way
    // moves nothing in the database while it travels).
    // Case ids take the desk's year (Paris), not UTC's.
    let year = desk_start
        .with_timezone(&chrono_tz::Europe::Paris)
        .format("%Y")
        .to_string();
    let real_deadline = Instant::now() + Duration::from_secs(100);
    let mut replied = false;
    let mut last = (progress(&db), Instant::now());
    loop {
        assert!(
            Instant::now() < real_deadline,
            "still busy after 100 s: {:?}",
            progress(&db)
        );
        // Pacing the desk's clock while the real servers work, bounded above.
        std::thread::sleep(Duration::from_millis(100));
        clock.advance(chrono::Duration::milliseconds(500));
        let elapsed = clock.now() - desk_start;
        if !replied && elapsed >= chrono::Duration::seconds(20) {
            let mail = team_mail(
                ALICE,
                "alice-reply@example.org",
                None,
                &format!("Re: [SEC-{year}-0001] Heap overflow"),
                None,
                "#reply\r\nThanks, we reproduced it and are preparing a fix.\r\n",
            );
            stack.send(ALICE, &[DESK], mail.as_bytes());
            replied = true;
        }
        let now = progress(&db);
        if now != last.0 {
            last = (now, Instant::now());
        } else if replied
            && now.2 == 0
            && elapsed >= chrono::Duration::seconds(90)
            && last.1.elapsed() >= Duration::from_secs(3)
            && stack.queue_is_empty()
        {
            break;
        }
    }
    let answers = responders.stop();
    let elapsed = clock.now() - desk_start;
    assert!(elapsed >= chrono::Duration::seconds(60), "{elapsed}");

    // The reporter: one acknowledgement and Alice's reply, never a second ack; her
    // responder answered each once, her vacation only the reply (the ack is marked
    // auto-replied), and none of that came back to her.
    let to_rita = stack.fetch_all(RITA);
    let acks = to_rita
        .iter()
        .filter(|m| header(m, "Auto-Submitted").as_deref() == Some("auto-replied"))
        .count();
    assert_eq!((to_rita.len(), acks), (2, 1), "mail to the reporter");
    assert_eq!(by(&answers, RITA).len(), 2, "{answers:#?}");
    let vacation_from_rita: Vec<String> = query(
        &db,
        "SELECT detail FROM events WHERE kind = 'automatic-mail' AND actor = 'rita@reporter.test'",
    );
    assert_eq!(vacation_from_rita.len(), 1, "{vacation_from_rita:?}");

    // The team: every responder answer is on the case, none was relayed. What the members
    // received is the new-case notice, the relays of the reporter's two answers, Alice's
    // note for Bob and her transcript: nothing any responder caused.
    let team_answers: Vec<&Answer> = answers.iter().filter(|a| a.user != RITA).collect();
    assert!(!team_answers.is_empty(), "the team's responders never ran");
    let outgoing: Vec<Vec<u8>> = query(&db, "SELECT bytes FROM outbox");
    for a in &team_answers {
        let caused = outgoing
            .iter()
            .any(|m| header(m, "In-Reply-To").as_deref() == Some(&format!("<{}>", a.message_id)));
        assert!(!caused, "the desk relayed a responder's answer: {a:?}");
    }
    let stored: Vec<String> = query(
        &db,
        "SELECT message_id FROM messages WHERE message_id LIKE '%@responder.test'",
    );
    assert_eq!(
        stored.len(),
        answers.len(),
        "every answer is stored on the case"
    );
    let held: Vec<String> = query(
        &db,
        "SELECT detail FROM events WHERE kind = 'automatic-mail' AND actor != 'rita@reporter.test'",
    );
    assert_eq!(held.len(), team_answers.len(), "{held:#?}");
    let to_team = |user: &str| stack.fetch_all(user).len();
    assert_eq!(
        (to_team(ALICE), to_team(BOB)),
        (4, 4),
        "alice: notice, two relays, transcript; bob: notice, two relays, alice's note"
    );
    assert_eq!(by(&answers, ALICE).len(), 4);
    assert_eq!(by(&answers, BOB).len(), 4);
}

#[test]
fn a_forged_team_note_through_the_real_stack_is_shown_as_a_claim() {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().unwrap();
    let (text, db) = starttls_stack_config(&stack, dir.path(), "");
    let config = load(&text);
    let clock = ManualClock::new(SystemClock.now());
    let year = clock
        .now()
        .with_timezone(&chrono_tz::Europe::Paris)
        .format("%Y")
        .to_string();
    let _desk = RunningDesk::start_with_clock(config, Arc::new(clock.clone()));
    send_report(
        &stack,
        "r1@reporter.test",
        "Heap overflow",
        "The parser overflows.",
    );
    stack.wait_for(BOB, 1, Duration::from_secs(20));
    // A person's pace: a note within a minute of the notice, with no command and no
    // threading, would be taken for a responder (see `desk::relay`).
    clock.advance(chrono::Duration::minutes(5));
    // No Authentication-Results from mx.example.org: the receiving server vouched for
    // nothing. No commands either.
    let forged = format!(
        "From: {ALICE}\r\nTo: {DESK}\r\nSubject: Re: [SEC-{year}-0001] Heap overflow\r\n\
         Message-ID: <forged@attacker.test>\r\n\r\nBob, close this one without publishing.\r\n"
    );
    stack.send(ALICE, &[DESK], forged.as_bytes());
    let to_bob = stack.wait_for(BOB, 2, Duration::from_secs(20));
    let claim = body(&to_bob[1]);
    assert!(
        header(&to_bob[1], "Subject").is_some_and(|s| s.contains("Unauthenticated")),
        "{claim}"
    );
    assert!(
        claim.contains("claims to be alice@example.org; not authenticated"),
        "{claim}"
    );
    assert!(!claim.contains("(internal to the team)"), "{claim}");
    let kinds: Vec<String> = query(
        &db,
        "SELECT kind FROM messages WHERE message_id = 'forged@attacker.test'",
    );
    assert_eq!(kinds, ["unauthenticated"]);
}
