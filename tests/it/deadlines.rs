//! Reminders across a case's whole life, driven by `run_due(now)` and a hand-moved clock.

use crate::world::*;
use secdesk::service::scheduler::Fired;

fn sent(fired: &[Fired]) -> Vec<String> {
    fired
        .iter()
        .map(|f| match f {
            Fired::Sent { scope, kind, late } => {
                format!("{scope} {kind}{}", if *late { " (late)" } else { "" })
            }
            Fired::Stale { scope, kind } => format!("{scope} {kind} stale"),
            Fired::Taken => "taken".into(),
            Fired::SetAside { id } => format!("reminder {id} set aside"),
        })
        .collect()
}

/// The embargo reminders among `fired`.
fn embargo_only(fired: Vec<String>) -> Vec<String> {
    fired
        .into_iter()
        .filter(|f| f.contains("embargo"))
        .collect()
}

#[test]
fn a_case_life_of_reminders() {
    let mut w = World::with(paris(2026, 11, 23, 10, 0), "");
    let notice = w.open_case("Heap overflow");
    assert!(sent(&w.run_due()).is_empty());

    // Thursday 17:00: three working days passed without an answer → the whole team.
    w.clock.set(paris(2026, 11, 26, 17, 0));
    assert_eq!(sent(&w.run_due()), vec!["SEC-2026-0001 first-response"]);
    let mail = w.new_mail();
    assert_eq!(
        summarize(&mail),
        "reminder -> alice@example.org | [SEC-2026-0001] Reminder: the reporter is waiting for an answer\nreminder -> bob@example.org | [SEC-2026-0001] Reminder: the reporter is waiting for an answer"
    );
    let text = body(&mail[0].bytes);
    assert!(text.contains("The first answer was due by\nThu 26 Nov 2026, 17:00 CET (Europe/Paris); the reporter has waited 3 working days so far."), "{text}");
    // Exactly once, however often the scheduler runs.
    assert!(sent(&w.run_due()).is_empty());
    assert!(w.new_mail().is_empty());

    // Then each working day at 09:00.
    w.clock.set(paris(2026, 11, 27, 9, 0));
    assert_eq!(sent(&w.run_due()), vec!["SEC-2026-0001 first-response"]);
    w.new_mail();

    // Someone answers the reporter: the first-response reminders stop.
    w.clock.set(paris(2026, 11, 27, 10, 0));
    w.command(
        ALICE,
        "a1@example.org",
        &notice,
        "#assign me\r\n#reply\r\nWe are on it.\r\n",
    );
    w.new_mail();
    w.clock.set(paris(2026, 11, 30, 9, 0));
    assert_eq!(
        sent(&w.run_due()),
        vec!["* digest"],
        "Monday 09:00: the digest, and no first-response reminder"
    );
    let digest = w.new_mail();
    assert_eq!(
        summarize(&digest),
        "digest -> alice@example.org | [Example Security Team] Weekly digest: 1 open case\ndigest -> bob@example.org | [Example Security Team] Weekly digest: 1 open case"
    );
    let table = body(&digest[0].bytes);
    assert!(table.contains("SEC-2026-0001  alice  new     -         embargo end 2027-02-21 00:00  2d       Heap overflow"), "{table}");

    // The embargo moves: reminders follow it to the responder.
    w.clock.set(paris(2026, 11, 30, 10, 0));
    w.command(ALICE, "a2@example.org", &notice, "#embargo 2026-12-15\r\n");
    w.new_mail();
    let planned: Vec<String> = w
        .store
        .read(|tx| tx.pending_reminders())
        .unwrap()
        .iter()
        .map(|r| {
            format!(
                "{} {} {}",
                r.scope,
                r.kind,
                r.due
                    .with_timezone(&chrono_tz::Europe::Paris)
                    .format("%Y-%m-%d %H:%M")
            )
        })
        .collect();
    assert_eq!(
        planned,
        vec![
            // The daily spam summary is planned too; a day without suspect mail sends none.
            "*spam spam-summary 2026-12-01 09:00",
            "SEC-2026-0001 embargo-14d 2026-12-01 09:00",
            "* digest 2026-12-07 09:00",
            "SEC-2026-0001 embargo-7d 2026-12-08 09:00",
            "SEC-2026-0001 embargo-1d 2026-12-14 09:00",
            "SEC-2026-0001 embargo-0d 2026-12-15 09:00",
            "SEC-2026-0001 embargo-overdue 2026-12-16 09:00",
        ]
    );
    w.clock.set(paris(2026, 12, 1, 9, 0));
    assert_eq!(
        embargo_only(sent(&w.run_due())),
        vec!["SEC-2026-0001 embargo-14d"]
    );
    let mail = w.new_mail();
    assert_eq!(
        summarize(&mail),
        "reminder -> alice@example.org | [SEC-2026-0001] Embargo ends in 14 days"
    );
    // Every reminder names its deadline with date, hour and time zone.
    assert!(
        body(&mail[0].bytes).contains(
            "The embargo ends on Tue 15 Dec 2026, 00:00 CET (Europe/Paris) (in 14 days)."
        ),
        "{}",
        body(&mail[0].bytes)
    );

    // The desk was down from the 1st to the 15th, 10:00: what was missed goes out, late,
    // the embargo reminders as one saying the days left (the 7- and 1-day ones would say
    // "in 7 days" and "tomorrow" on the last day).
    w.clock.set(paris(2026, 12, 15, 10, 0));
    assert_eq!(
        sent(&w.run_due()),
        vec![
            "* digest (late)",
            "SEC-2026-0001 embargo-7d stale",
            "SEC-2026-0001 embargo-1d stale",
            "SEC-2026-0001 embargo-0d (late)",
        ]
    );
    let late = w.new_mail();
    assert!(late.iter().any(|m| body(&m.bytes).contains("(This reminder was due at Tue 15 Dec 2026, 09:00 CET (Europe/Paris) but the desk was not running then.)")));
    assert!(
        late.iter()
            .filter_map(|m| header(&m.bytes, "Subject"))
            .any(|s| s.contains("Embargo ends today (late reminder)")),
        "{}",
        summarize(&late)
    );

    // After the end: daily until published or closed.
    w.clock.set(paris(2026, 12, 16, 9, 0));
    assert_eq!(sent(&w.run_due()), vec!["SEC-2026-0001 embargo-overdue"]);
    assert_eq!(
        summarize(&w.new_mail()),
        "reminder -> alice@example.org | [SEC-2026-0001] Embargo ended 1 day ago and the case is not published"
    );
    w.clock.set(paris(2026, 12, 16, 11, 0));
    w.command(ALICE, "a3@example.org", &notice, "#close\r\n");
    w.new_mail();
    w.clock.set(paris(2026, 12, 17, 9, 0));
    assert!(sent(&w.run_due()).is_empty(), "closed: no more reminders");
}

#[test]
fn one_off_reminders_and_two_desks_on_one_file() {
    let mut w = World::with(
        paris(2026, 11, 23, 10, 0),
        "[policy]\ndigest = \"none\"\nembargo = \"none\"\n",
    );
    let notice = w.open_case("Heap overflow");
    w.command(
        BOB,
        "b1@example.org",
        &notice,
        "#reply\r\nThanks!\r\n#remind +2d ask upstream about the backport\r\n",
    );
    // `#remind` after the block is text, not a command: the reporter got it as text.
    w.new_mail();
    w.command(
        BOB,
        "b2@example.org",
        &notice,
        "#remind +2d ask upstream about the backport\r\n",
    );
    w.new_mail();

    // Two desks on the same database file race for the same due reminder.
    w.clock.set(paris(2026, 11, 25, 9, 0));
    let path = w.desk.config.desk.database.clone();
    let now = w.clock_now();
    let config = w.desk.config.clone();
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let (path, config) = (path.clone(), config.clone());
            std::thread::spawn(move || {
                let desk = secdesk::service::process::Desk::new(
                    config,
                    secdesk::outgoing::templates::Templates::load(None).unwrap(),
                );
                let mut store = secdesk::store::Store::open(&path).unwrap();
                secdesk::service::scheduler::run_due(&desk, &mut store, now).unwrap()
            })
        })
        .collect();
    let mut all: Vec<String> = handles
        .into_iter()
        .flat_map(|h| sent(&h.join().unwrap()))
        .collect();
    all.sort();
    assert!(
        all == vec!["SEC-2026-0001 one-off"] || all == vec!["SEC-2026-0001 one-off", "taken"],
        "{all:?}"
    );
    let mail = w.new_mail();
    assert_eq!(
        summarize(&mail),
        "reminder -> alice@example.org | [SEC-2026-0001] Reminder: ask upstream about the backport\nreminder -> bob@example.org | [SEC-2026-0001] Reminder: ask upstream about the backport"
    );
}

/// `#fixed` and not published by the end of that working day: the responder is reminded,
/// once a working day, until the case is published; a same-day publication is never
/// reminded.
#[test]
fn a_fixed_case_not_published_the_same_day_is_reminded() {
    // Friday 27 Nov 2026, 10:00 Paris; the embargo runs to Tuesday 15 Dec.
    let mut w = World::with(paris(2026, 11, 27, 10, 0), "");
    let notice = w.open_case("Heap overflow");
    w.command(
        ALICE,
        "f1@example.org",
        &notice,
        "#assign me\r\n#valid\r\n#embargo 2026-12-15\r\n#summary Heap overflow\r\n#package example-parser\r\n#fixed-in 1.4.2\r\n#reply\r\nFixed soon.\r\n",
    );
    w.clock.set(paris(2026, 11, 27, 11, 0));
    w.command(ALICE, "f2@example.org", &notice, "#fixed\r\n");
    w.new_mail();

    // 16:59: still that working day, nothing.
    w.clock.set(paris(2026, 11, 27, 16, 59));
    assert!(!sent(&w.run_due()).iter().any(|s| s.contains("fixed")));
    // 17:00, end of the working day: the responder is reminded, once.
    w.clock.set(paris(2026, 11, 27, 17, 0));
    assert_eq!(sent(&w.run_due()), vec!["SEC-2026-0001 fixed-unpublished"]);
    let mail = w.new_mail();
    assert_eq!(
        summarize(&mail),
        "reminder -> alice@example.org | [SEC-2026-0001] Fix released, advisory not yet published"
    );
    assert!(body(&mail[0].bytes).contains("(1.4.2)"));
    // Like every reminder, it names its deadline: date, hour and time zone.
    assert!(
        body(&mail[0].bytes).contains("It was due by\nFri 27 Nov 2026, 17:00 CET (Europe/Paris)"),
        "{}",
        body(&mail[0].bytes)
    );
    assert!(sent(&w.run_due()).is_empty());
    // The weekend is skipped: next on Monday 09:00 (with the digest), then Tuesday.
    w.clock.set(paris(2026, 11, 28, 12, 0));
    assert!(sent(&w.run_due()).is_empty());
    w.clock.set(paris(2026, 11, 30, 9, 0));
    assert!(sent(&w.run_due()).contains(&"SEC-2026-0001 fixed-unpublished".to_string()));
    // The digest's next deadline is the advisory's, not the embargo's end weeks away.
    let digest = w.take("digest");
    let table = body(&digest.bytes);
    assert!(table.contains("publication 2026-11-27 17:00"), "{table}");
    w.new_mail();

    // Published (before the embargo's end, no override needed): the reminders stop.
    w.clock.set(paris(2026, 11, 30, 10, 0));
    w.command(
        ALICE,
        "f3@example.org",
        &notice,
        "#affected < 1.4.2\r\n#publish\r\n",
    );
    w.take("announce");
    assert_eq!(
        w.case("SEC-2026-0001").status,
        secdesk::types::CaseStatus::Published
    );
    w.clock.set(paris(2026, 12, 1, 9, 0));
    assert!(!sent(&w.run_due()).iter().any(|s| s.contains("fixed")));

    // A case fixed and published the same day is never reminded.
    let mut w = World::with(paris(2026, 11, 27, 10, 0), "");
    let notice = w.open_case("Heap overflow");
    w.command(
        ALICE,
        "g1@example.org",
        &notice,
        "#valid\r\n#embargo 2026-12-15\r\n#summary Heap overflow\r\n#package example-parser\r\n#affected < 1.4.2\r\n#fixed-in 1.4.2\r\n#fixed\r\n#publish\r\n",
    );
    assert_eq!(
        w.case("SEC-2026-0001").status,
        secdesk::types::CaseStatus::Published
    );
    w.clock.set(paris(2026, 11, 27, 17, 0));
    assert!(!sent(&w.run_due()).iter().any(|s| s.contains("fixed")));
}

/// The team's time zone changes at a restart on the deadline's day, the new zone putting
/// the deadline in the past (Thursday 17:00 in Tokyo is 08:00 UTC; the restart is at
/// 10:00 UTC): the reminder still to come was cancelled and the next planned for
/// Friday's start, the deadline passing without a word. It is sent at once.
#[test]
fn a_new_time_zone_keeps_the_first_response_reminder_of_the_deadline_day() {
    let mut w = World::with(paris(2026, 11, 23, 10, 0), "");
    w.open_case("Heap overflow");
    w.reconfigure(|t| t.replace("Europe/Paris", "Asia/Tokyo"));
    w.clock
        .set(chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 11, 26, 10, 0, 0).unwrap());
    let now = secdesk::clock::Clock::now(&w.clock);
    secdesk::service::scheduler::replan_open_cases(&w.desk, &mut w.store, now).unwrap();
    let fired = sent(&w.run_due());
    assert!(
        fired
            .iter()
            .any(|f| f.starts_with("SEC-2026-0001 first-response")),
        "{fired:?}"
    );
    // Once: the next at the next working day's start.
    assert!(
        !sent(&w.run_due())
            .iter()
            .any(|f| f.contains("first-response"))
    );
}

/// The team's time zone changes at a restart an hour before the weekly digest (Monday
/// 09:00 in Paris, and Monday 09:00 in Tokyo is past by then): the row still to come was
/// dropped and the next planned a week on, that week's digest never sent. It goes out
/// at once, late; the next at the new zone's moment.
#[test]
fn a_new_time_zone_skips_no_weeks_digest() {
    let mut w = World::with(paris(2026, 11, 16, 8, 0), "");
    w.open_case("Heap overflow");
    w.run_due();
    w.clock.set(paris(2026, 11, 16, 9, 0));
    assert!(sent(&w.run_due()).contains(&"* digest".to_string()));
    w.clock.set(paris(2026, 11, 23, 9, 0));
    assert!(sent(&w.run_due()).contains(&"* digest".to_string()));
    w.new_mail();
    w.reconfigure(|t| t.replace("Europe/Paris", "Asia/Tokyo"));
    // Monday 30 November, 07:00 UTC: 08:00 in Paris, 16:00 in Tokyo.
    w.clock
        .set(chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 11, 30, 7, 0, 0).unwrap());
    let first = sent(&w.run_due());
    let second = sent(&w.run_due());
    assert!(
        first
            .iter()
            .chain(&second)
            .any(|s| s.starts_with("* digest")),
        "{first:?} {second:?}"
    );
    let digests = w.new_mail();
    assert_eq!(
        digests
            .iter()
            .filter(|r| r.purpose.as_str() == "digest")
            .count(),
        2,
        "one to each member"
    );
    // The next one at Monday 09:00 in Tokyo, not twice this week.
    w.clock
        .set(chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 12, 6, 23, 59, 0).unwrap());
    assert!(!sent(&w.run_due()).iter().any(|s| s.contains("digest")));
    w.clock
        .set(chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 12, 7, 0, 0, 0).unwrap());
    assert!(sent(&w.run_due()).iter().any(|s| s.starts_with("* digest")));
}

/// A time zone moved west after the week's digest went out does not send a second one
/// that week: Monday 09:00 in New York is later the same day than 09:00 in Paris, and
/// the desk sent the digest again then.
#[test]
fn a_time_zone_moved_west_after_the_digest_sends_no_second_that_week() {
    let mut w = World::with(paris(2026, 11, 16, 8, 0), "");
    w.open_case("Heap overflow");
    w.run_due();
    w.clock.set(paris(2026, 11, 16, 9, 0));
    assert!(sent(&w.run_due()).contains(&"* digest".to_string()));
    w.reconfigure(|t| t.replace("Europe/Paris", "America/New_York"));
    w.clock.set(paris(2026, 11, 16, 10, 0));
    w.run_due();
    w.new_mail();
    w.clock.set(paris(2026, 11, 16, 15, 0));
    let fired = sent(&w.run_due());
    assert!(!fired.iter().any(|s| s.contains("digest")), "{fired:?}");
    // The next Monday, 09:00 in New York (14:00 UTC).
    w.clock
        .set(chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 11, 23, 13, 59, 0).unwrap());
    assert!(!sent(&w.run_due()).iter().any(|s| s.contains("digest")));
    w.clock
        .set(chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 11, 23, 14, 0, 0).unwrap());
    assert!(sent(&w.run_due()).contains(&"* digest".to_string()));
}

/// A digest lists at most `DIGEST_MAX_ROWS` cases and counts the rest: an archive of a
/// hundred thousand open threads made a digest no relay would take.
#[test]
fn a_digest_lists_at_most_its_rows_and_counts_the_rest() {
    use secdesk::service::scheduler::DIGEST_MAX_ROWS;
    let mut w = World::with(paris(2026, 11, 16, 8, 0), "");
    for i in 0..DIGEST_MAX_ROWS + 2 {
        w.deliver(&report(
            &format!("r{i}@reporter.test"),
            &format!("Bug {i}"),
            "x",
        ));
    }
    w.run_due();
    w.new_mail();
    w.clock.set(paris(2026, 11, 16, 9, 0));
    w.run_due();
    let mail = w.new_mail();
    let text = body(&first(&mail, "digest").bytes);
    assert_eq!(
        text.lines().filter(|l| l.starts_with("SEC-2026-")).count(),
        DIGEST_MAX_ROWS,
        "{text}"
    );
    assert!(text.contains("... and 2 more open cases"), "{text}");
    let subject = header(&first(&mail, "digest").bytes, "Subject").unwrap();
    assert!(
        subject.contains(&format!("{} open cases", DIGEST_MAX_ROWS + 2)),
        "{subject}"
    );
}

/// A digest turned off while the desk was down is not sent when the desk comes back
/// after its moment: the row planned before was fired as it was (the spam summary's
/// already asked the configuration).
#[test]
fn a_digest_turned_off_while_the_desk_was_down_is_not_sent() {
    let mut w = World::with(paris(2026, 11, 16, 8, 0), "");
    w.open_case("Heap overflow");
    w.run_due();
    w.new_mail();
    w.reconfigure(|t| format!("{t}\n[policy]\ndigest = \"none\"\n"));
    w.clock.set(paris(2026, 11, 16, 9, 10));
    let fired = sent(&w.run_due());
    assert!(
        !fired
            .iter()
            .any(|s| s.starts_with("* digest") && !s.ends_with("stale")),
        "{fired:?}"
    );
    assert!(!w.new_mail().iter().any(|r| r.purpose.as_str() == "digest"));
    w.clock.set(paris(2026, 11, 23, 9, 10));
    assert!(!sent(&w.run_due()).iter().any(|s| s.contains("digest")));
}

/// A case Alice answered, then fixed on Friday 27 November 2026 at 11:00 in Paris.
fn fixed_on_friday() -> World {
    let mut w = World::with(paris(2026, 11, 27, 10, 0), "");
    let notice = w.open_case("Heap overflow");
    w.command(
        ALICE,
        "f1@example.org",
        &notice,
        "#assign me\r\n#valid\r\n#fixed-in 1.4.2\r\n#reply\r\nFixed soon.\r\n",
    );
    w.clock.set(paris(2026, 11, 27, 11, 0));
    w.command(ALICE, "f2@example.org", &notice, "#fixed\r\n");
    w.new_mail();
    w
}

/// A fixed case's reminder was due at the end of the release's working day while the
/// desk was down, and the desk comes back with longer working hours: the reminder,
/// planned for 17:00 when the day ended at 18:00 by the new hours, was dropped as stale,
/// and the team heard nothing until Monday. It is sent, late.
#[test]
fn a_fixed_reminder_missed_while_down_survives_new_working_hours() {
    let mut w = fixed_on_friday();
    w.reconfigure(|t| {
        t.replace(
            "timezone = \"Europe/Paris\"",
            "timezone = \"Europe/Paris\"\nworking_hours = \"09:00-18:00\"",
        )
    });
    w.clock.set(paris(2026, 11, 27, 18, 30));
    let now = secdesk::clock::Clock::now(&w.clock);
    secdesk::service::scheduler::replan_open_cases(&w.desk, &mut w.store, now).unwrap();
    let fired = sent(&w.run_due());
    assert!(
        fired.contains(&"SEC-2026-0001 fixed-unpublished (late)".to_string()),
        "{fired:?}"
    );
}

/// A fixed case's repeating reminder planned by an older version (no note naming the
/// `#fixed`), due while the desk was stopped for the upgrade: the start re-planned a
/// noted one beside it, the old one's repeat kept the old note, and from then on two
/// chains sent the responder the same reminder twice each working day. Once.
#[test]
fn a_reminder_from_an_older_version_repeats_once_after_the_upgrade() {
    let mut w = fixed_on_friday();
    let db = w.desk.config.desk.database.clone();
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute(
            "UPDATE reminders SET note = '' WHERE kind = 'fixed-unpublished'",
            [],
        )
        .unwrap();
    w.clock.set(paris(2026, 11, 27, 18, 30));
    let now = secdesk::clock::Clock::now(&w.clock);
    secdesk::service::scheduler::replan_open_cases(&w.desk, &mut w.store, now).unwrap();
    let late = sent(&w.run_due());
    assert_eq!(
        late.iter()
            .filter(|f| f.contains("fixed-unpublished"))
            .count(),
        1,
        "{late:?}"
    );
    w.clock.set(paris(2026, 11, 30, 9, 0));
    let monday = sent(&w.run_due());
    assert_eq!(
        monday
            .iter()
            .filter(|f| f.contains("fixed-unpublished"))
            .count(),
        1,
        "{monday:?}"
    );
}

/// The team sets its time zone after cases were opened (the default is UTC): the start
/// re-plans every open case in the new zone, and the embargo reminders go out. They were
/// each dropped as stale, the embargo's end no longer being the instant they were
/// planned for.
#[test]
fn a_new_time_zone_keeps_every_embargo_reminder() {
    let mut w = World::with(paris(2026, 11, 23, 10, 0), "");
    w.open_case("Heap overflow");
    let embargo = w.case("SEC-2026-0001").embargo_end.unwrap();
    w.reconfigure(|t| t.replace("Europe/Paris", "America/New_York"));
    let now = secdesk::clock::Clock::now(&w.clock);
    let replanned =
        secdesk::service::scheduler::replan_open_cases(&w.desk, &mut w.store, now).unwrap();
    assert_eq!(replanned, 1);
    // Fourteen days before the end, 09:00 in New York.
    let day = embargo - chrono::Days::new(14);
    let nine = chrono::TimeZone::from_local_datetime(
        &chrono_tz::America::New_York,
        &day.and_hms_opt(9, 0, 0).unwrap(),
    )
    .unwrap()
    .with_timezone(&chrono::Utc);
    w.clock.set(nine);
    let fired = sent(&w.run_due());
    assert!(
        fired.contains(&"SEC-2026-0001 embargo-14d".to_string())
            && !fired.iter().any(|f| f.ends_with("stale")),
        "{fired:?}"
    );
}

/// The same, with the reminder due while the desk was down: at the start it is late,
/// and it is still sent (it was dropped as stale, the re-planning planning only what is
/// still to come and the old row naming the old zone's midnight), with the embargo's
/// end told in the new zone.
#[test]
fn a_new_time_zone_keeps_an_embargo_reminder_missed_while_down() {
    let mut w = World::with(paris(2026, 11, 23, 10, 0), "");
    w.open_case("Heap overflow");
    w.new_mail();
    let embargo = w.case("SEC-2026-0001").embargo_end.unwrap();
    let day = embargo - chrono::Days::new(14);
    // Down from before the reminder's 09:00 Paris until noon that day, the zone changed.
    w.reconfigure(|t| t.replace("Europe/Paris", "America/New_York"));
    let noon = chrono::TimeZone::from_local_datetime(
        &chrono_tz::America::New_York,
        &day.and_hms_opt(12, 0, 0).unwrap(),
    )
    .unwrap()
    .with_timezone(&chrono::Utc);
    w.clock.set(noon);
    let now = secdesk::clock::Clock::now(&w.clock);
    secdesk::service::scheduler::replan_open_cases(&w.desk, &mut w.store, now).unwrap();
    let fired = sent(&w.run_due());
    assert!(
        fired.contains(&"SEC-2026-0001 embargo-14d (late)".to_string())
            && !fired.iter().any(|f| f.ends_with("stale")),
        "{fired:?}"
    );
    let mail = w.new_mail();
    let reminder = mail
        .iter()
        .find(|m| header(&m.bytes, "Subject").is_some_and(|s| s.contains("Embargo ends")))
        .expect("an embargo reminder");
    let text = body(&reminder.bytes);
    assert!(
        text.contains(&format!("{}, 00:00", embargo.format("%a %-d %b %Y"))),
        "{text}"
    );
    assert!(text.contains("America/New_York"), "{text}");
}

/// Down over the reminder's moment, and back under a zone where that day's moment is
/// still to come: the reminder missed goes out late, and the one planned at the new
/// moment is not sent again.
#[test]
fn a_reminder_missed_while_down_is_not_sent_again_at_its_new_moment() {
    let mut w = World::with(paris(2026, 11, 23, 10, 0), "");
    w.open_case("Heap overflow");
    w.new_mail();
    let embargo = w.case("SEC-2026-0001").embargo_end.unwrap();
    let day = embargo - chrono::Days::new(14);
    let utc = |h: u32| {
        chrono::TimeZone::from_utc_datetime(&chrono::Utc, &day.and_hms_opt(h, 0, 0).unwrap())
    };
    // 09:00 Paris is 08:00 UTC; 09:00 New York, 14:00 UTC.
    w.reconfigure(|t| t.replace("Europe/Paris", "America/New_York"));
    w.clock.set(utc(10));
    let now = secdesk::clock::Clock::now(&w.clock);
    secdesk::service::scheduler::replan_open_cases(&w.desk, &mut w.store, now).unwrap();
    assert_eq!(
        embargo_only(sent(&w.run_due())),
        vec!["SEC-2026-0001 embargo-14d (late)"]
    );
    w.clock.set(utc(15));
    assert_eq!(embargo_only(sent(&w.run_due())), Vec::<String>::new());
}

/// Down from before the 14-day reminder until three days before the end: one reminder
/// comes, saying the days truly left. (Each missed one came at once, the 14-day one
/// saying "in 14 days" with three left.) Down until after the end: none says "ends in";
/// the overdue reminder speaks.
#[test]
fn embargo_reminders_missed_while_down_say_the_days_left() {
    let mut w = World::with(paris(2026, 11, 23, 10, 0), "");
    w.open_case("Heap overflow");
    w.new_mail();
    let embargo = w.case("SEC-2026-0001").embargo_end.unwrap();
    let three_before = embargo - chrono::Days::new(3);
    w.clock.set(paris(
        chrono::Datelike::year(&three_before),
        chrono::Datelike::month(&three_before),
        chrono::Datelike::day(&three_before),
        10,
        0,
    ));
    assert_eq!(
        embargo_only(sent(&w.run_due())),
        vec![
            "SEC-2026-0001 embargo-14d stale",
            "SEC-2026-0001 embargo-7d (late)"
        ]
    );
    let subjects: Vec<String> = w
        .new_mail()
        .iter()
        .filter_map(|m| header(&m.bytes, "Subject"))
        .filter(|s| s.contains("Embargo"))
        .collect();
    assert!(
        !subjects.is_empty()
            && subjects
                .iter()
                .all(|s| s.contains("Embargo ends in 3 days")),
        "{subjects:?}"
    );
    let after = embargo + chrono::Days::new(2);
    w.clock.set(paris(
        chrono::Datelike::year(&after),
        chrono::Datelike::month(&after),
        chrono::Datelike::day(&after),
        10,
        0,
    ));
    let fired = embargo_only(sent(&w.run_due()));
    assert!(
        fired
            .iter()
            .all(|f| f.ends_with(" stale") || f.contains("embargo-overdue"))
            && fired.iter().any(|f| f.contains("embargo-overdue")),
        "{fired:?}"
    );
}

/// Working hours moved an hour earlier, the desk restarted between the two starts of
/// the day: the embargo reminder still to come at 09:00 was cancelled by the re-planning,
/// and its new moment (08:00) being past, nothing was planned in its place; never sent.
/// Moved an hour later after it was sent, it was planned again, and sent twice.
#[test]
fn working_hours_moved_at_a_restart_neither_lose_nor_repeat_an_embargo_reminder() {
    let mut w = World::with(paris(2026, 11, 23, 10, 0), "");
    w.open_case("Heap overflow");
    w.new_mail();
    let embargo = w.case("SEC-2026-0001").embargo_end.unwrap();
    let day = embargo - chrono::Days::new(14);
    let at = |h: u32, m: u32| {
        chrono::TimeZone::from_local_datetime(
            &chrono_tz::Europe::Paris,
            &day.and_hms_opt(h, m, 0).unwrap(),
        )
        .unwrap()
        .with_timezone(&chrono::Utc)
    };
    w.clock.set(at(8, 30));
    restart_with_hours(&mut w, "08:00-16:00");
    assert_eq!(
        embargo_only(sent(&w.run_due())),
        vec!["SEC-2026-0001 embargo-14d"]
    );
    w.new_mail();
    w.clock.set(at(9, 30));
    restart_with_hours(&mut w, "10:00-18:00");
    w.clock.set(at(11, 0));
    let again = sent(&w.run_due());
    assert!(
        !again.iter().any(|f| f.contains("embargo-14d")),
        "{again:?}"
    );
}

/// A restart with `working_hours = hours` in Paris: the open cases re-planned, as the
/// daemon does at each start.
fn restart_with_hours(w: &mut World, hours: &str) {
    w.reconfigure(|t| {
        t.replace(
            "timezone = \"Europe/Paris\"",
            &format!("timezone = \"Europe/Paris\"\nworking_hours = \"{hours}\""),
        )
    });
    let now = secdesk::clock::Clock::now(&w.clock);
    secdesk::service::scheduler::replan_open_cases(&w.desk, &mut w.store, now).unwrap();
}

/// A restart with later working hours on a day a repeating reminder already went does
/// not send it again that day: the new moment (the first-response deadline at 18:00
/// rather than 17:00, the overdue embargo's at 10:00 rather than 09:00) was a new
/// reminder to the re-planning, sent a second time an hour after the first.
#[test]
fn later_working_hours_at_a_restart_do_not_repeat_the_days_reminder() {
    let mut w = World::with(paris(2026, 11, 23, 10, 0), "");
    w.open_case("Heap overflow");
    w.new_mail();
    w.clock.set(paris(2026, 11, 26, 17, 0));
    assert_eq!(sent(&w.run_due()), vec!["SEC-2026-0001 first-response"]);
    w.clock.set(paris(2026, 11, 26, 17, 30));
    restart_with_hours(&mut w, "09:00-18:00");
    w.clock.set(paris(2026, 11, 26, 18, 0));
    assert_eq!(sent(&w.run_due()), Vec::<String>::new());
    w.clock.set(paris(2026, 11, 27, 9, 0));
    assert_eq!(sent(&w.run_due()), vec!["SEC-2026-0001 first-response"]);

    let end = w.case("SEC-2026-0001").embargo_end.unwrap();
    let day_after = end + chrono::Days::new(1);
    let at = |h: u32| {
        chrono::TimeZone::from_local_datetime(
            &chrono_tz::Europe::Paris,
            &day_after.and_hms_opt(h, 0, 0).unwrap(),
        )
        .unwrap()
        .with_timezone(&chrono::Utc)
    };
    w.clock.set(at(9));
    let fired = embargo_only(sent(&w.run_due()));
    assert!(
        fired.iter().any(|f| f.contains("embargo-overdue")),
        "{fired:?}"
    );
    w.clock.set(at(9) + chrono::Duration::minutes(30));
    restart_with_hours(&mut w, "10:00-18:00");
    w.clock.set(at(10));
    assert_eq!(embargo_only(sent(&w.run_due())), Vec::<String>::new());
}

/// `#remind` on a case that is not open says so: the reminder it confirmed was
/// cancelled with the case's others in the same transaction, and never sent.
#[test]
fn remind_on_a_closed_case_is_refused_not_lost() {
    let mut w = World::with(paris(2026, 11, 23, 10, 0), "");
    let notice = w.open_case("Heap overflow");
    w.new_mail();
    w.command(
        ALICE,
        "c1@example.org",
        &notice,
        "#close\r\n#remind +2d check upstream\r\n",
    );
    let t = body(&w.take("transcript").bytes);
    assert!(
        t.contains(
            "line 2: #remind +2d check upstream\n  ✗ SEC-2026-0001 is closed; `#reopen` it first"
        ),
        "{t}"
    );
}

/// A `#remind` given again after the case was closed and reopened is a new reminder:
/// it is sent. (The one it repeats was cancelled with the case, and the same reminder
/// planned again used to meet that cancelled row and stay cancelled, though the
/// transcript said when it would come.)
#[test]
fn remind_again_after_close_and_reopen_is_sent() {
    let mut w = World::with(paris(2026, 11, 23, 10, 0), "");
    let notice = w.open_case("Heap overflow");
    w.new_mail();
    let remind = "#remind 2026-12-10 check the upstream backport\r\n";
    w.command(ALICE, "r1@example.org", &notice, remind);
    w.command(ALICE, "r2@example.org", &notice, "#close\r\n");
    w.command(ALICE, "r3@example.org", &notice, "#reopen\r\n");
    w.new_mail();
    w.command(ALICE, "r4@example.org", &notice, remind);
    let t = body(&w.take("transcript").bytes);
    assert!(t.contains("you will be reminded on"), "{t}");
    let one_offs = |w: &mut World| {
        w.store
            .read(|tx| tx.pending_reminders())
            .unwrap()
            .into_iter()
            .filter(|r| r.kind == "one-off")
            .count()
    };
    assert_eq!(one_offs(&mut w), 1, "the reminder confirmed is pending");
    w.clock.set(paris(2026, 12, 10, 9, 0));
    let fired = sent(&w.run_due());
    assert!(
        fired.contains(&"SEC-2026-0001 one-off".to_string()),
        "{fired:?}"
    );
}

/// A case Bob took (`#assign me`), whose first-response reminder to him has just been
/// queued (Thursday 26 November, 17:00 Paris); and the id of the team's notice of it.
fn bob_is_reminded() -> (World, String) {
    let mut w = World::with(paris(2026, 11, 23, 10, 0), "");
    let notice = w.open_case("Heap overflow");
    w.command(BOB, "a1@example.org", &notice, "#assign me\r\n");
    w.new_mail();
    w.clock.set(paris(2026, 11, 26, 17, 0));
    assert_eq!(sent(&w.run_due()), vec!["SEC-2026-0001 first-response"]);
    (w, notice)
}

/// A reminder still waiting in the outbox (the relay down or deferring) when the case is
/// closed is not sent: it went out once the relay came back, after the transcript had
/// said "reminders stopped". A case reopened plans its reminders afresh.
#[test]
fn a_reminder_still_queued_when_its_case_is_closed_is_not_sent() {
    let (mut w, notice) = bob_is_reminded();
    let reminders = |w: &mut World| {
        w.store
            .read(|tx| tx.outbox_all())
            .unwrap()
            .into_iter()
            .filter(|r| r.purpose.as_str() == "reminder" && r.state.as_str() == "pending")
            .count()
    };
    assert_eq!(reminders(&mut w), 1, "the reminder waits for the relay");
    w.command(BOB, "c1@example.org", &notice, "#close\r\n");
    assert_eq!(
        reminders(&mut w),
        0,
        "the closed case's reminder still waits to go"
    );
    let said = |w: &mut World, what: &str| {
        w.events("SEC-2026-0001")
            .iter()
            .any(|e| e.detail.contains(what))
    };
    assert!(said(&mut w, "withdrawn"), "{:?}", w.events("SEC-2026-0001"));
    // Closed by mistake and reopened: the reminder withdrawn goes after all (it was
    // lost, the case's reminder of its deadline never sent), through the scheduler.
    w.clock.set(paris(2026, 11, 26, 17, 5));
    w.command(BOB, "c2@example.org", &notice, "#reopen\r\n");
    assert!(
        said(&mut w, "planned again"),
        "{:?}",
        w.events("SEC-2026-0001")
    );
    let again = sent(&w.run_due());
    assert_eq!(again.len(), 1, "{again:?}");
    assert!(
        again[0].starts_with("SEC-2026-0001 first-response"),
        "{again:?}"
    );
    assert_eq!(reminders(&mut w), 1);

    // Answered in the mail that closed it, reopened: the reminder given back no longer
    // applies, and goes nowhere (its mail, given back as it was, nagged of a reporter
    // already answered).
    let (mut w, notice) = bob_is_reminded();
    w.command(
        BOB,
        "c1@example.org",
        &notice,
        "#reply\r\n#close\r\nFixed in 1.2.\r\n",
    );
    w.clock.set(paris(2026, 11, 26, 17, 5));
    w.command(BOB, "c2@example.org", &notice, "#reopen\r\n");
    let again = sent(&w.run_due());
    assert!(
        !again
            .iter()
            .any(|f| f.contains("first-response") && !f.contains("stale")),
        "{again:?}"
    );
    assert_eq!(reminders(&mut w), 0, "{}", summarize(&w.new_mail()));
}

/// A responder taken off the team hears nothing more of the cases assigned to them: the
/// case's reminders go to the team as it is now. (They went on reaching the address that
/// left, with the case's subject and state, while the team heard nothing.)
#[test]
fn reminders_of_a_responder_who_left_the_team_go_to_the_team() {
    let mut w = World::with(paris(2026, 11, 23, 10, 0), "");
    let notice = w.open_case("Heap overflow");
    w.command(BOB, "a1@example.org", &notice, "#assign me\r\n");
    w.new_mail();
    let bob = format!("\"{BOB}\"");
    w.reconfigure(|t| t.replace(&format!(", {bob}"), ""));
    assert!(!w.desk.config.team.is_member(BOB), "the edit took Bob off");
    w.clock.set(paris(2026, 11, 26, 17, 0));
    assert_eq!(sent(&w.run_due()), vec!["SEC-2026-0001 first-response"]);
    assert_eq!(
        summarize(&w.new_mail()),
        "reminder -> alice@example.org | [SEC-2026-0001] Reminder: the reporter is waiting for an answer"
    );
}

/// Team mail still queued for a member taken off the team (SMTP was down when the
/// operator edited the list) is not sent to them after the restart: the notice with the
/// report goes to those still on the team, and the case says who was left out. (It was
/// all delivered to the address that left.)
#[test]
fn mail_queued_for_a_member_who_left_is_not_sent_to_them() {
    let mut w = World::with(paris(2026, 11, 23, 10, 0), "");
    w.open_case("Heap overflow");
    let pending_to_bob = |w: &mut World| {
        w.store
            .read(|tx| tx.outbox_all())
            .unwrap()
            .into_iter()
            .filter(|r| r.state.as_str() == "pending" && r.recipients.iter().any(|a| a == BOB))
            .count()
    };
    assert!(pending_to_bob(&mut w) >= 1, "the notice waits for Bob");
    let bob = format!("\"{BOB}\"");
    w.reconfigure(|t| t.replace(&format!(", {bob}"), ""));
    let now = w.clock_now();
    let changed =
        secdesk::service::scheduler::withdraw_mail_of_those_who_left(&w.desk, &mut w.store, now)
            .unwrap();
    assert!(changed >= 1);
    assert_eq!(pending_to_bob(&mut w), 0);
    let to_alice = w
        .store
        .read(|tx| tx.outbox_all())
        .unwrap()
        .into_iter()
        .filter(|r| r.state.as_str() == "pending" && r.recipients == vec![ALICE.to_string()])
        .count();
    assert!(to_alice >= 1, "Alice still gets hers");
    let events = w.events("SEC-2026-0001");
    assert!(
        events
            .iter()
            .any(|e| e.detail.contains("not sent: no longer on the team")),
        "{events:?}"
    );
}

/// A reminder queued to a responder who then left the team goes to the team as it is
/// now; notices queued to a list the configuration replaced go to the new list. (They
/// were failed: the reminder fired once and never again, the new list never heard of
/// the reports.)
#[test]
fn mail_queued_for_one_who_left_goes_to_the_team_now() {
    let (mut w, _) = bob_is_reminded();
    let bob = format!("\"{BOB}\"");
    w.reconfigure(|t| t.replace(&format!(", {bob}"), ""));
    let now = w.clock_now();
    secdesk::service::scheduler::withdraw_mail_of_those_who_left(&w.desk, &mut w.store, now)
        .unwrap();
    assert_eq!(
        summarize(&w.new_mail()),
        "reminder -> alice@example.org | [SEC-2026-0001] Reminder: the reporter is waiting for an answer"
    );

    let mut w = World::with(paris(2026, 11, 23, 10, 0), "");
    w.reconfigure(|t| t.replace("[team]\n", "[team]\nnotify = \"old-list@example.org\"\n"));
    w.deliver(&report("r1@reporter.test", "Heap overflow", "x"));
    w.reconfigure(|t| t.replace("[team]\n", "[team]\nnotify = \"new-list@example.org\"\n"));
    let now = w.clock_now();
    secdesk::service::scheduler::withdraw_mail_of_those_who_left(&w.desk, &mut w.store, now)
        .unwrap();
    let out = w.new_mail();
    let notices: Vec<_> = out
        .iter()
        .filter(|r| r.purpose.as_str() == "team-notice")
        .collect();
    assert!(
        !notices.is_empty()
            && notices
                .iter()
                .all(|r| r.recipients == vec!["new-list@example.org".to_string()]),
        "{}",
        summarize(&out)
    );
}

/// A pass asks before each reminder whether to go on (the daemon's answer is "no" once
/// stop is asked): what is left is sent at the next pass, once. A stop waited for every
/// reminder of a long outage, each its own transaction, past systemd's stop timeout.
#[test]
fn a_pass_stops_between_reminders_when_asked() {
    let mut w = World::with(paris(2026, 11, 23, 10, 0), "[policy]\ndigest = \"none\"\n");
    for n in 0..3 {
        w.open_report(&format!("r{n}@reporter.test"), &format!("Bug {n}"), "x");
    }
    w.new_mail();
    w.clock.set(paris(2026, 11, 26, 17, 0));
    let asked = std::cell::Cell::new(0);
    let once = || {
        asked.set(asked.get() + 1);
        asked.get() == 1
    };
    let now = w.clock_now();
    let fired =
        secdesk::service::scheduler::run_due_while(&w.desk, &mut w.store, now, &once).unwrap();
    assert_eq!(sent(&fired), vec!["SEC-2026-0001 first-response"]);
    assert_eq!(
        sent(&w.run_due()),
        vec![
            "SEC-2026-0002 first-response",
            "SEC-2026-0003 first-response"
        ]
    );
}

/// A reminder the mail server refuses for good (the responder's mailbox is gone) is told
/// to the team: the deadline it was about must not pass unseen. (It was only noted on
/// the case.)
#[test]
fn a_reminder_that_cannot_be_delivered_is_told_to_the_team() {
    let (mut w, _) = bob_is_reminded();
    let reminder = first(&w.new_mail(), "reminder").clone();
    assert_eq!(reminder.recipients, vec![BOB.to_string()]);
    let now = w.clock_now();
    let desk = &w.desk;
    w.store
        .write(|tx| desk.delivery_failed(tx, &reminder, "550 5.1.1 no such mailbox", now))
        .unwrap();
    let alerts = w.new_mail();
    assert_eq!(
        summarize(&alerts),
        "team-notice -> alice@example.org | [SEC-2026-0001] Attention: the reminder to bob@example.org could not be delivered\nteam-notice -> bob@example.org | [SEC-2026-0001] Attention: the reminder to bob@example.org could not be delivered"
    );
}
