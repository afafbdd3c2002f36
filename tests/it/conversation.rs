//! Whole conversations against the desk logic and a real SQLite file (no mail servers):
//! mail in, case state and mail out, compared as text.

use crate::world::*;
use chrono::Duration;
use mail_parser::MimeHeaders;
use secdesk::desk::MessageKind;
use secdesk::service::process::Processed;
use secdesk::types::MessageId;

fn msg_id(row: &secdesk::store::OutboxRow) -> String {
    row.message_id.bracketed()
}

#[test]
fn report_ack_reply_tag_duplicate_and_robots() {
    let mut w = World::new();
    let filed = w.deliver(&report(
        "r1@reporter.test",
        "Heap overflow in the parser",
        "The parser overflows on long input.",
    ));
    assert_eq!(
        filed,
        Processed::Filed {
            case: "SEC-2026-0001".parse().unwrap(),
            opened: true,
            kind: MessageKind::Report,
            outgoing: 2
        }
    );
    let out = w.new_mail();
    assert_eq!(
        summarize(&out),
        "ack -> rita@reporter.test | Re: [SEC-2026-0001] Heap overflow in the parser\n\
         team-notice -> alice@example.org | [SEC-2026-0001] New report: Heap overflow in the parser\nteam-notice -> bob@example.org | [SEC-2026-0001] New report: Heap overflow in the parser"
    );
    let ack = &out[0].bytes;
    assert_header(ack, "In-Reply-To", "<r1@reporter.test>");
    assert_header(ack, "References", "<r1@reporter.test>");
    assert_header(ack, "Auto-Submitted", "auto-replied");
    assert_header(ack, "X-Secdesk-Loop", DESK);
    assert_header(
        ack,
        "Reply-To",
        "\"Example Security Team\" <security+sec-2026-0001@example.org>",
    );
    assert!(
        header(ack, "Message-ID")
            .unwrap()
            .ends_with("@example.org>")
    );
    let text = body(ack);
    // Monday 10:00 + 3 working days → Thursday 17:00 Paris time.
    assert!(
        text.contains("answer you by Thu 26 Nov 2026, 17:00 CET (Europe/Paris)"),
        "{text}"
    );
    assert!(text.contains("credited by name"), "{text}");
    let ack_id = msg_id(&out[0]);
    // The mailer sends it (only a mail sent can bounce).
    let now = w.clock_now();
    w.store.write(|tx| tx.mark_sent(out[0].id, now)).unwrap();

    // The reporter answers the ack: same case, no second ack, the team hears of it.
    let reply = format!(
        "From: {RITA}\r\nTo: security+sec-2026-0001@example.org\r\nSubject: Re: [SEC-2026-0001] Heap overflow in the parser\r\nMessage-ID: <r2@reporter.test>\r\nIn-Reply-To: {ack_id}\r\nReferences: <r1@reporter.test> {ack_id}\r\n\r\nYes, credit me as Rita.\r\n"
    );
    assert!(filed_as(&w.deliver(&reply), false, MessageKind::Reporter));
    assert_eq!(
        summarize(&w.new_mail()),
        "team-notice -> alice@example.org | [SEC-2026-0001] Reporter: Heap overflow in the parser\nteam-notice -> bob@example.org | [SEC-2026-0001] Reporter: Heap overflow in the parser"
    );

    // A new mail with only the tag in its subject (no References) joins the case.
    let tagged = report(
        "r3@reporter.test",
        "More on [SEC-2026-0001]",
        "Another crash.",
    );
    assert!(filed_as(&w.deliver(&tagged), false, MessageKind::Reporter));
    assert_eq!(w.new_mail().len(), 2, "one copy of the relay per member");

    // The same mail delivered twice: one case.
    assert_eq!(
        w.deliver(&tagged),
        Processed::Duplicate(MessageId::new("r3@reporter.test").unwrap())
    );
    assert!(w.new_mail().is_empty());

    // An out-of-office answer to the ack: stored on the case, never answered.
    let ooo = format!(
        "From: {RITA}\r\nTo: {DESK}\r\nSubject: Out of office: Re: [SEC-2026-0001] Heap overflow\r\nMessage-ID: <ooo@reporter.test>\r\nIn-Reply-To: {ack_id}\r\nAuto-Submitted: auto-replied\r\n\r\nI am away.\r\n"
    );
    assert!(filed_with(
        &w.deliver(&ooo),
        false,
        MessageKind::Automatic,
        0
    ));
    // A bounce of the ack (multipart/report carrying the original headers).
    let bounce = format!(
        "From: MAILER-DAEMON@mx.reporter.test\r\nTo: {DESK}\r\nSubject: Undelivered Mail Returned to Sender\r\nMessage-ID: <bounce1@mx.reporter.test>\r\nReturn-Path: <>\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nDelivery failed.\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\nFinal-Recipient: rfc822; rita@reporter.test\r\nAction: failed\r\nStatus: 5.1.1\r\n--b\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: security@example.org\r\nMessage-ID: {ack_id}\r\nSubject: Re: [SEC-2026-0001] Heap overflow in the parser\r\n--b--\r\n"
    );
    // A delay report only is stored; one saying the mail failed for good tells the team,
    // as a refusal at once would: the reporter has not heard from us. (It was stored
    // only, and behind a relay that accepts mail for later delivery, this is how every
    // failure of mail to a reporter comes back.)
    let delayed = bounce
        .replace("Action: failed", "Action: delayed")
        .replace("<bounce1@", "<delay1@");
    assert!(
        filed_with(&w.deliver(&delayed), false, MessageKind::Automatic, 0),
        "a bounce threads onto the case of the mail it returns"
    );
    w.new_mail();
    assert!(filed_with(
        &w.deliver(&bounce),
        false,
        MessageKind::Automatic,
        1
    ));
    let alert = w.new_mail();
    assert_eq!(
        summarize(&alert),
        "team-notice -> alice@example.org | [SEC-2026-0001] Attention: the acknowledgement to rita@reporter.test could not be delivered\nteam-notice -> bob@example.org | [SEC-2026-0001] Attention: the acknowledgement to rita@reporter.test could not be delivered"
    );
    assert!(
        body(&alert[0].bytes)
            .contains("a delivery report came back from mailer-daemon@mx.reporter.test")
    );
    // A list mail that threads nowhere opens a case (nothing is lost) but is not acknowledged.
    let list = format!(
        "From: news@lists.example.net\r\nTo: {DESK}\r\nSubject: Weekly newsletter\r\nMessage-ID: <news1@lists.example.net>\r\nList-Id: <news.lists.example.net>\r\n\r\nHello.\r\n"
    );
    assert!(filed_with(&w.deliver(&list), true, MessageKind::Report, 1));
    assert_eq!(
        summarize(&w.new_mail()),
        "team-notice -> alice@example.org | [SEC-2026-0002] New report: Weekly newsletter\nteam-notice -> bob@example.org | [SEC-2026-0002] New report: Weekly newsletter"
    );

    assert_eq!(
        w.cases(),
        vec![
            "SEC-2026-0001 new 15 mails: Heap overflow in the parser".to_string(),
            "SEC-2026-0002 new 3 mails: Weekly newsletter".to_string(),
        ]
    );
}

/// A report sent also to a public list, a maintainer and a colleague: the team saw only
/// its sender, and planned an embargo for a report already public. The notice names the
/// other recipients (the desk's own addresses left out); the acknowledgement still goes
/// to the sender alone, and so does a later mail's relay show who else it went to.
#[test]
fn the_team_sees_who_else_a_report_went_to() {
    let mut w = World::new();
    w.deliver(&format!(
        "From: {RITA}\r\nTo: {DESK}, Maintainer <maint@upstream.test>\r\nCc: oss-security@lists.example.net, security+extra@example.org\r\nSubject: Overflow\r\nMessage-ID: <cc1@reporter.test>\r\n\r\nThe parser overflows.\r\n"
    ));
    let mail = w.new_mail();
    let ack = first(&mail, "ack");
    assert_eq!(ack.recipients, vec![RITA.to_string()]);
    let notice = body(&first(&mail, "team-notice").bytes);
    assert!(
        notice.contains("Also to:   maint@upstream.test, oss-security@lists.example.net\n"),
        "{notice}"
    );
    // A mail to the team alone says nothing of it.
    w.deliver(&format!(
        "From: {RITA}\r\nTo: {DESK}\r\nSubject: Re: Overflow\r\nMessage-ID: <cc2@reporter.test>\r\nIn-Reply-To: <cc1@reporter.test>\r\n\r\nMore.\r\n"
    ));
    let relay = body(&first(&w.new_mail(), "team-notice").bytes);
    assert!(!relay.contains("Also to:"), "{relay}");
    w.deliver(&format!(
        "From: {RITA}\r\nTo: {DESK}\r\nCc: colleague@reporter.test\r\nSubject: Re: Overflow\r\nMessage-ID: <cc3@reporter.test>\r\nIn-Reply-To: <cc1@reporter.test>\r\n\r\nEven more.\r\n"
    ));
    let relay = body(&first(&w.new_mail(), "team-notice").bytes);
    assert!(
        relay.contains("Also to:  colleague@reporter.test\n"),
        "{relay}"
    );
}

/// Another project's secdesk numbers its cases SEC-2026-0001 too (the default prefix):
/// a reporter's reply-all to its acknowledgement, copying us, carries its tag and its
/// Message-IDs, no loop header. It was filed on our SEC-2026-0003, another reporter's
/// case: no acknowledgement, and a `#reply` would have gone to that reporter. It is a
/// new report.
#[test]
fn another_secdesks_tag_in_a_persons_reply_names_no_case_here() {
    let mut w = World::new();
    for n in 1..=3 {
        w.deliver(&report(
            &format!("r{n}@reporter.test"),
            &format!("Bug {n}"),
            "x",
        ));
    }
    w.new_mail();
    let eve = format!(
        "From: eve@elsewhere.test\r\nTo: security@x.example, {DESK}\r\nSubject: Re: [SEC-2026-0003] overflow in libfoo\r\nMessage-ID: <e3@elsewhere.test>\r\nIn-Reply-To: <sec-2026-0003.ack.1796220000000.0.4242@x.example>\r\n\r\nCopying you: you embed libfoo.\r\n"
    );
    let filed = w.deliver(&eve);
    assert!(
        matches!(&filed, Processed::Filed { opened: true, case, .. } if case.to_string() == "SEC-2026-0004"),
        "{filed:?}"
    );
    assert!(
        summarize(&w.new_mail()).contains("ack -> eve@elsewhere.test"),
        "acknowledged"
    );
    // Our own acknowledgement's tag, in a reply that lost its In-Reply-To, still threads.
    let rita = format!(
        "From: {RITA}\r\nTo: {DESK}\r\nSubject: Re: [SEC-2026-0003] Bug 3\r\nMessage-ID: <r9@reporter.test>\r\n\r\nMore.\r\n"
    );
    assert!(
        matches!(&w.deliver(&rita), Processed::Filed { opened: false, case, .. } if case.to_string() == "SEC-2026-0003")
    );
}

/// A list that rewrote From ("Rita via dev"), a robot, a stray bounce: mail a machine
/// sent opens a case with no reporter. The desk planned first-response reminders asking
/// the team to `#reply`, and a `#reply` (or the thanks at publication) went to the
/// list: an embargoed report's answer published. The team writes to a person with
/// `#forward`.
#[test]
fn a_case_opened_by_a_lists_mail_has_no_reporter_to_answer() {
    let mut w = World::new();
    let list = format!(
        "From: Rita via dev <dev@lists.example.net>\r\nTo: {DESK}\r\nSubject: Overflow in the parser\r\nMessage-ID: <l1@lists.example.net>\r\nList-Id: <dev.lists.example.net>\r\n\r\nThe parser overflows.\r\n"
    );
    w.deliver(&list);
    let notice_row = w.take("team-notice");
    let notice_text = body(&notice_row.bytes);
    let notice = notice_row.message_id.to_string();
    assert_eq!(w.case("SEC-2026-0001").reporter, None);
    let reminders = w.store.read(|tx| tx.pending_reminders()).unwrap();
    assert!(
        !reminders.iter().any(|r| r.kind == "first-response"),
        "{reminders:?}"
    );
    w.command(
        ALICE,
        "a1@example.org",
        &notice,
        "#reply\r\nThanks, we are on it.\r\n",
    );
    let mail = w.new_mail();
    assert!(
        !mail.iter().any(|r| r
            .recipients
            .iter()
            .any(|to| to.contains("lists.example.net"))),
        "{}",
        summarize(&mail)
    );
    let transcript = body(&first(&mail, "transcript").bytes);
    assert!(
        transcript.contains("no reporter address to answer") && transcript.contains("#forward"),
        "{transcript}"
    );
    // The notice gave no date to answer by: nothing reminds anyone of it.
    assert!(!notice_text.contains("Answer by:"), "{notice_text}");
    // `#forward` to a person sends the list's report, as it would a person's (the
    // maintainer got the team's words alone, as for a case the team opened).
    w.command(
        ALICE,
        "a2@example.org",
        &notice,
        "#forward maint@upstream.test\r\nPlease look.\r\n",
    );
    let forward = first(&w.new_mail(), "forward").clone();
    assert!(
        body(&forward.bytes).contains("The parser overflows."),
        "{}",
        body(&forward.bytes)
    );
}

/// A report in the name of the public announce list (a forged From the list's server
/// accepts from the desk) has no reporter: the acknowledgement, "Hello <the forger's
/// name>" under the case's tag, went to the list and was published under the team's
/// name, and every `#reply` would have followed.
#[test]
fn a_report_from_the_announce_lists_address_is_answered_to_nobody() {
    let mut w = World::new();
    w.deliver(&format!(
        "From: Official Notice <announce@example.org>\r\nTo: {DESK}\r\nSubject: Overflow in the parser\r\nMessage-ID: <al1@attacker.test>\r\n\r\nThe parser overflows.\r\n"
    ));
    let mail = w.new_mail();
    assert!(
        !mail
            .iter()
            .any(|r| r.recipients.iter().any(|to| to == "announce@example.org")),
        "{}",
        summarize(&mail)
    );
    assert_eq!(w.case("SEC-2026-0001").reporter, None);
    let notice = first(&mail, "team-notice").message_id.to_string();
    w.command(
        ALICE,
        "al2@example.org",
        &notice,
        "#reply\r\nThanks, we are on it.\r\n",
    );
    let mail = w.new_mail();
    assert!(
        !mail
            .iter()
            .any(|r| r.recipients.iter().any(|to| to == "announce@example.org")),
        "{}",
        summarize(&mail)
    );
}

/// A report that reaches the desk after a reply to it (the reporter's server greylisted,
/// the maintainer in Cc answered all at once) opens a case of its own, acknowledged: it
/// was filed as a stranger's mail on the case the reply opened, so the reporter was never
/// answered and every `#reply` went to the maintainer.
#[test]
fn a_report_that_arrives_after_a_reply_to_it_is_its_reporters_own() {
    let mut w = World::new();
    w.deliver(&format!(
        "From: Maint <maint@upstream.test>\r\nTo: {DESK}\r\nSubject: Re: Overflow in the parser\r\nMessage-ID: <m1@upstream.test>\r\nIn-Reply-To: <r1@reporter.test>\r\nReferences: <r1@reporter.test>\r\n\r\nConfirmed here.\r\n"
    ));
    w.new_mail();
    let p = w.deliver(&report(
        "r1@reporter.test",
        "Overflow in the parser",
        "It overflows.",
    ));
    assert_eq!(opened(&p), "SEC-2026-0002");
    assert_eq!(w.case("SEC-2026-0002").reporter.as_deref(), Some(RITA));
    let mail = w.new_mail();
    assert_eq!(first(&mail, "ack").recipients, vec![RITA.to_string()]);
    assert!(
        w.events("SEC-2026-0002")
            .iter()
            .any(|e| e.detail.contains("wrote in the thread of SEC-2026-0001")),
        "{:?}",
        w.events("SEC-2026-0002")
    );
}

/// A colleague's mail on a case that a reply on the case answered before it came (his
/// server greylisted, the reporter answered all) stays on the case: only a mail whose
/// late reply opened a case is a report of its own.
#[test]
fn a_late_mail_answered_on_its_case_stays_on_it() {
    let mut w = World::new();
    w.deliver(&report(
        "r1@reporter.test",
        "Overflow in the parser",
        "It overflows.",
    ));
    w.deliver(
        &report(
            "r2@reporter.test",
            "Re: [SEC-2026-0001] Overflow in the parser",
            "Dave's PoC works.",
        )
        .replace("\r\n\r\n", "\r\nIn-Reply-To: <d1@colleague.test>\r\n\r\n"),
    );
    w.new_mail();
    let p = w.deliver(&format!(
        "From: Dave <dave@colleague.test>\r\nTo: {DESK}\r\nCc: {RITA}\r\nSubject: [SEC-2026-0001] second PoC\r\nMessage-ID: <d1@colleague.test>\r\n\r\nAnother way in.\r\n"
    ));
    assert!(
        matches!(&p, Processed::Filed { case, opened: false, .. } if case.to_string() == "SEC-2026-0001"),
        "{p:?}"
    );
    assert!(!w.new_mail().iter().any(|r| r.purpose.as_str() == "ack"));
}

/// Anyone who got the acknowledgement knows its Message-ID and can send a delivery
/// report naming it, a hundred times over, again and again: the team hears of the
/// failed mail once, for good; the mail is marked failed.
#[test]
fn forged_delivery_reports_naming_one_mail_alert_the_team_once() {
    let mut w = World::new();
    w.deliver(&report("r1@reporter.test", "Crash", "x"));
    let ack = first(&w.new_mail(), "ack").clone();
    let ack_id = msg_id(&ack);
    let named = format!("Message-ID: {ack_id}\r\n").repeat(100);
    let dsn = |n: u32| {
        format!(
            "From: x@anywhere.test\r\nTo: {DESK}\r\nSubject: failed\r\nMessage-ID: <dsn{n}@anywhere.test>\r\nIn-Reply-To: {ack_id}\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\nAction: failed\r\n--b\r\nContent-Type: text/rfc822-headers\r\n\r\n{named}--b--\r\n"
        )
    };
    let alerts = |w: &mut World| {
        w.new_mail()
            .iter()
            .filter(|r| summarize(std::slice::from_ref(r)).contains("could not be delivered"))
            .count()
    };
    // Still queued, it cannot have bounced: a report naming it is forged.
    w.deliver(&dsn(0));
    assert_eq!(alerts(&mut w), 0, "a queued mail never bounced");
    let now = w.clock_now();
    w.store.write(|tx| tx.mark_sent(ack.id, now)).unwrap();
    // A person's mail carrying a report's parts (not a delivery report) marks nothing.
    let relayed = dsn(9).replace(
        "Content-Type: multipart/report; report-type=delivery-status;",
        "Content-Type: multipart/mixed;",
    );
    w.deliver(&relayed);
    assert_eq!(alerts(&mut w), 0);
    w.deliver(&dsn(1));
    assert_eq!(alerts(&mut w), 2, "one alert to each of the two members");
    w.clock.advance(Duration::minutes(5));
    w.deliver(&dsn(2));
    assert_eq!(alerts(&mut w), 0, "told already");
    w.clock.advance(Duration::hours(5));
    w.deliver(&dsn(3));
    assert_eq!(alerts(&mut w), 0, "told once for good");
    assert_eq!(
        w.store.read(|tx| tx.outbox_all()).unwrap()[0]
            .state
            .as_str(),
        "failed"
    );
}

/// The limit is per mailbox: `victim+1@`, `victim+2@`, … (forged senders a plus
/// address brings to one mailbox) share the one budget of `victim@`.
#[test]
fn acknowledgements_are_rate_limited_per_mailbox_whatever_its_plus_tag() {
    let mut w = World::new();
    for i in 0..6 {
        w.clock.advance(Duration::seconds(5));
        let from = if i == 0 {
            "victim@reporter.test".to_string()
        } else {
            format!("Victim+{i}@Reporter.test")
        };
        w.deliver(&format!(
            "From: {from}\r\nTo: {DESK}\r\nSubject: Report {i}\r\nMessage-ID: <v{i}@reporter.test>\r\n\r\nx\r\n"
        ));
    }
    let acks = w
        .new_mail()
        .into_iter()
        .filter(|r| r.purpose.as_str() == "ack")
        .count();
    assert_eq!(acks, 3, "one budget for victim@ and its plus addresses");
    // Another mailbox of the domain has its own.
    w.deliver(&format!(
        "From: victimized@reporter.test\r\nTo: {DESK}\r\nSubject: Mine\r\nMessage-ID: <w1@reporter.test>\r\n\r\nx\r\n"
    ));
    assert_eq!(
        w.new_mail()
            .iter()
            .filter(|r| r.purpose.as_str() == "ack")
            .count(),
        1
    );
}

#[test]
fn acknowledgements_are_rate_limited_per_sender() {
    let mut w = World::new();
    for i in 0..10 {
        w.clock.advance(Duration::seconds(5));
        w.deliver(&report(
            &format!("flood{i}@reporter.test"),
            &format!("Report number {i}"),
            "x",
        ));
    }
    let acks = w
        .new_mail()
        .into_iter()
        .filter(|r| r.purpose.as_str() == "ack")
        .count();
    assert_eq!(
        acks, 3,
        "policy.ack_rate_limit defaults to 3 per 10 minutes"
    );
    assert_eq!(w.cases().len(), 10, "every report still gets its case");
    // Ten minutes later the sender is acknowledged again.
    w.clock.advance(Duration::minutes(11));
    w.deliver(&report("flood-late@reporter.test", "One more", "x"));
    assert_eq!(
        w.new_mail()
            .iter()
            .filter(|r| r.purpose.as_str() == "ack")
            .count(),
        1
    );
}

#[test]
fn unreadable_mail_is_filed_and_the_team_told() {
    let mut w = World::new();
    let filed = w.deliver("\u{0}\u{1}garbage without any header line");
    assert!(
        matches!(
            filed,
            Processed::Filed {
                opened: true,
                kind: MessageKind::Unreadable,
                ..
            }
        ),
        "{filed:?}"
    );
    let out = w.new_mail();
    assert_eq!(
        summarize(&out),
        "team-notice -> alice@example.org | [SEC-2026-0001] Attention: a mail could not be read\nteam-notice -> bob@example.org | [SEC-2026-0001] Attention: a mail could not be read"
    );
    // The next mail is processed normally.
    assert!(filed_as(
        &w.deliver(&report("ok@reporter.test", "Fine", "x")),
        true,
        MessageKind::Report
    ));
}

/// A flood of unreadable mail (a spammer's headerless junk) tells the team of the first
/// few in an hour; the rest are filed on cases of their own all the same, listed by
/// `secdesk cases` and the digest, each saying why nobody was told at once.
#[test]
fn a_flood_of_unreadable_mail_tells_the_team_a_few_times_an_hour() {
    let mut w = World::new();
    let mut alerts = 0;
    for n in 0..8 {
        let filed = w.deliver(&format!("\u{0}\u{1}garbage {n} without any header line"));
        assert!(
            matches!(filed, Processed::Filed { opened: true, .. }),
            "{filed:?}"
        );
        alerts += w.new_mail().len();
    }
    assert_eq!(alerts, 2 * 5, "five alerts to each of the two members");
    let quiet = w
        .events("SEC-2026-0008")
        .into_iter()
        .map(|e| e.detail)
        .collect::<Vec<_>>();
    assert!(
        quiet
            .iter()
            .any(|d| d.contains("the team was not told at once")),
        "{quiet:?}"
    );
    // An hour later the team hears of the next one again.
    w.clock.advance(chrono::Duration::minutes(61));
    w.deliver("\u{0}\u{1}garbage once more");
    assert_eq!(w.new_mail().len(), 2);
}

/// A careless client (a web form, a script) that writes one Message-ID on every mail:
/// its second report, written at another time, was dropped as a copy of the first,
/// unread and unanswered. A mail is a copy only when it was also written at the same
/// moment (a second delivery, a list's copy): the other is filed under an id made from
/// its bytes, and answered.
#[test]
fn a_second_report_reusing_a_message_id_is_not_taken_for_a_copy() {
    let mut w = World::new();
    let first = report(
        "form@reporter.test",
        "XSS in the wiki",
        "The wiki echoes ?q.",
    );
    assert!(matches!(
        w.deliver(&first),
        Processed::Filed { opened: true, .. }
    ));
    w.new_mail();
    // The same mail again, through another relay: a copy.
    let relayed = format!("Received: from relay.test by mx.example.org\r\n{first}");
    assert_eq!(
        w.deliver(&relayed),
        Processed::Duplicate(MessageId::new("form@reporter.test").unwrap())
    );
    assert!(w.new_mail().is_empty());
    // Another report from the same form, written a day later.
    let second = report(
        "form@reporter.test",
        "SQL injection in login",
        "' OR 1=1 --",
    )
    .replace("Mon, 23 Nov 2026 10:00:00", "Tue, 24 Nov 2026 09:30:00");
    match w.deliver(&second) {
        Processed::Filed {
            case, opened: true, ..
        } => assert_eq!(case.to_string(), "SEC-2026-0002"),
        other => panic!("the second report was not filed: {other:?}"),
    }
    let out = w.new_mail();
    assert!(
        summarize(&out)
            .contains("ack -> rita@reporter.test | Re: [SEC-2026-0002] SQL injection in login"),
        "{}",
        summarize(&out)
    );
    // And it too, delivered again, is a copy.
    assert!(matches!(w.deliver(&second), Processed::Duplicate(_)));
    assert!(w.new_mail().is_empty());
}

/// A script writing one Message-ID on all its mail, and no `Date` (it writes to the MX
/// directly): each of its reports was taken for a copy of the first (no date equals no
/// date), dropped unread. Without a date, the body tells them apart; a copy is still a
/// copy. And an unreadable mail under a readable one's id is filed, not dropped.
#[test]
fn reports_reusing_a_message_id_without_a_date_are_each_filed() {
    let mut w = World::new();
    let undated = |subject: &str, text: &str| {
        report("scan@scanner.test", subject, text)
            .replace("Date: Mon, 23 Nov 2026 10:00:00 +0100\r\n", "")
    };
    let mut cases = Vec::new();
    // An empty first one (a test of the form: every body begins like it), a report,
    // and one that begins like that one.
    for (subject, text) in [
        ("Test", ""),
        ("Finding", "Open redirect in /login."),
        (
            "Finding",
            "Open redirect in /login.\r\nPath traversal in /static.",
        ),
        ("Finding", "XSS in /search."),
    ] {
        let mail = match text {
            "" => undated(subject, text).replace("\r\n\r\n\r\n", "\r\n\r\n"),
            _ => undated(subject, text),
        };
        match w.deliver(&mail) {
            Processed::Filed {
                case, opened: true, ..
            } => cases.push(case.to_string()),
            other => panic!("{text}: not filed: {other:?}"),
        }
    }
    assert_eq!(
        cases,
        [
            "SEC-2026-0001",
            "SEC-2026-0002",
            "SEC-2026-0003",
            "SEC-2026-0004"
        ]
    );
    w.new_mail();
    for text in ["Open redirect in /login.", "XSS in /search."] {
        let again = format!("Received: from relay.test\r\n{}", undated("Finding", text));
        assert!(
            matches!(w.deliver(&again), Processed::Duplicate(_)),
            "{text}: a copy"
        );
    }
    assert!(w.new_mail().is_empty());
    // An unreadable mail under the id of a readable one is no copy of it.
    let bomb = undated("Finding", "x").replacen(
        "\r\n\r\n",
        &format!("\r\n{}", "Content-Type: message/rfc822\r\n\r\n".repeat(60)),
        1,
    );
    assert!(matches!(
        w.deliver(&bomb),
        Processed::Filed { opened: true, .. }
    ));
}

/// A mail filed unreadable, then a readable one under its Message-ID (the sender
/// writing again): the second was taken for a copy of the first, and never read. (Nor is
/// the first one's header read again to compare: it may be what made it unreadable.)
#[test]
fn a_readable_mail_under_the_id_of_an_unreadable_one_is_filed() {
    let mut w = World::new();
    let good = report("again@reporter.test", "Second try", "The parser overflows.");
    let bomb = good.replacen(
        "\r\n\r\n",
        &format!("\r\n{}", "Content-Type: message/rfc822\r\n\r\n".repeat(60)),
        1,
    );
    assert!(matches!(
        w.deliver(&bomb),
        Processed::Filed { opened: true, .. }
    ));
    w.new_mail();
    match w.deliver(&good) {
        Processed::Filed {
            case, opened: true, ..
        } => assert_eq!(case.to_string(), "SEC-2026-0002"),
        other => panic!("the readable mail was not filed: {other:?}"),
    }
    assert!(
        summarize(&w.new_mail()).contains("ack -> rita@reporter.test"),
        "acknowledged"
    );
}

#[test]
fn own_mail_coming_back_is_never_answered() {
    // Never answered, but never swallowed either (issue 10, point 8): filed on a case of
    // its own, and only the team hears of it.
    let mut w = World::new();
    let own = format!(
        "From: {DESK}\r\nTo: {DESK}\r\nSubject: loop?\r\nMessage-ID: <own@example.org>\r\n\r\nx\r\n"
    );
    assert!(matches!(
        w.deliver(&own),
        Processed::Filed { opened: true, .. }
    ));
    let looped = format!(
        "From: someone@else.test\r\nX-Secdesk-Loop: {DESK}\r\nTo: {DESK}\r\nSubject: loop\r\nMessage-ID: <loop@else.test>\r\n\r\nx\r\n"
    );
    assert!(matches!(
        w.deliver(&looped),
        Processed::Filed { opened: true, .. }
    ));
    assert!(
        w.new_mail()
            .iter()
            .all(|r| r.purpose.as_str() == "team-notice")
    );
}

/// A file attached inline (mutt's way with a `.txt` or a log): the parser takes it for a
/// second text part, neither the text shown nor an attachment; the team read only the
/// first part, and nothing was attached. The original goes with the notice now.
#[test]
fn a_proof_of_concept_attached_inline_reaches_the_team() {
    let mut w = World::new();
    let inline = format!(
        "From: {RITA}\r\nTo: {DESK}\r\nSubject: Crash, details attached\r\nMessage-ID: <inline@reporter.test>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"x\"\r\n\r\n--x\r\nContent-Type: text/plain\r\n\r\nCrash details attached.\r\n--x\r\nContent-Type: text/plain; charset=us-ascii\r\nContent-Disposition: inline; filename=\"poc.txt\"\r\n\r\nlet () = Parser.parse (String.make 70000 'a')\r\n--x--\r\n"
    );
    w.deliver(&inline);
    let out = w.new_mail();
    let notice = first(&out, "team-notice");
    let attached = attached_mail(&notice.bytes);
    assert!(
        String::from_utf8_lossy(&attached).contains("String.make 70000"),
        "{}",
        String::from_utf8_lossy(&notice.bytes)
    );
    // The reporter's acknowledgement carries nothing of it.
    assert!(!String::from_utf8_lossy(&first(&out, "ack").bytes).contains("70000"));
}

#[test]
fn a_proof_of_concept_attachment_reaches_the_team() {
    let mut w = World::new();
    let with_poc = format!(
        "From: {RITA}\r\nTo: {DESK}\r\nSubject: Crash with PoC\r\nMessage-ID: <poc@reporter.test>\r\nContent-Type: multipart/mixed; boundary=\"x\"\r\n\r\n--x\r\nContent-Type: text/plain\r\n\r\nSee the attached file.\r\n--x\r\nContent-Type: text/x-ocaml; name=\"poc.ml\"\r\nContent-Disposition: attachment; filename=\"poc.ml\"\r\n\r\nlet () = Parser.parse (String.make 70000 'a')\r\n--x--\r\n"
    );
    w.deliver(&with_poc);
    let out = w.new_mail();
    let notice = first(&out, "team-notice");
    let attached = attached_mail(&notice.bytes);
    let original = mail_parser::MessageParser::default()
        .parse(&attached)
        .unwrap();
    let poc = original.attachments().next().unwrap();
    assert_eq!(poc.attachment_name(), Some("poc.ml"));
    assert_eq!(
        poc.contents(),
        b"let () = Parser.parse (String.make 70000 'a')".as_slice()
    );
    assert!(
        body(&notice.bytes).contains("Attachments: poc.ml (text/x-ocaml, 45 bytes)"),
        "{}",
        body(&notice.bytes)
    );
    // The reporter's acknowledgement carries nothing of it.
    let ack = first(&out, "ack");
    assert!(!String::from_utf8_lossy(&ack.bytes).contains("70000"));
    // `#forward` sends the report's text, not its files: the member is told which stayed.
    let notice = notice.message_id.to_string();
    w.command(
        ALICE,
        "a1@example.org",
        &notice,
        "#forward maintainer@upstream.test\r\n",
    );
    let out = w.new_mail();
    assert!(!String::from_utf8_lossy(&first(&out, "forward").bytes).contains("70000"));
    let transcript = body(&first(&out, "transcript").bytes);
    assert!(
        transcript.contains(
            "the report's text went, not its 1 attached file (poc.ml): send them yourself if the maintainer needs them"
        ),
        "{transcript}"
    );
}

#[test]
fn a_report_on_the_friday_before_a_holiday_is_promised_the_right_day() {
    // Friday 18 December 2026, 15:00 in Paris; Christmas (Fri 25) is a holiday.
    let friday = paris(2026, 12, 18, 15, 0);
    let mut w = World::with(friday, "");
    for (now, id, subject, promise) in [
        // Mon 21, Tue 22, Wed 23: three working days.
        (friday, "r1@reporter.test", "Crash", "Wed 23 Dec 2026"),
        // On the Tuesday before Christmas, the third working day skips the 25th.
        (
            paris(2026, 12, 22, 9, 30),
            "r2@reporter.test",
            "Another crash",
            "Mon 28 Dec 2026",
        ),
    ] {
        w.clock.set(now);
        w.deliver(&report(id, subject, "x"));
        let text = body(&w.take("ack").bytes);
        let promised = format!("answer you by {promise}, 17:00 CET (Europe/Paris)");
        assert!(text.contains(&promised), "{text}");
    }
}

#[test]
fn an_outbox_row_is_claimed_by_one_sender_at_a_time() {
    let mut w = World::new();
    w.deliver(&report("r1@reporter.test", "Crash", "x"));
    let row = w.new_mail()[0].id;
    let now = w.clock_now();
    let retry = now + Duration::seconds(30);
    let claim = |w: &mut World, at| {
        w.store
            .write(|tx| tx.begin_attempt(row, at, retry))
            .unwrap()
    };
    assert_eq!(claim(&mut w, now), Some(1), "the first desk claims it");
    assert_eq!(
        claim(&mut w, now),
        None,
        "a second desk on the same file leaves it alone"
    );
    assert_eq!(
        claim(&mut w, retry),
        Some(2),
        "after the backoff it may be tried again"
    );
}

#[test]
fn one_unusable_member_address_does_not_keep_a_new_report_from_the_others() {
    let mut w = World::new();
    // Bob's address is broken in a way only the mail layer notices. The configuration
    // refuses such an address since; one that reaches the desk anyway fails alone.
    let mut config = w.desk.config.clone();
    for m in &mut config.team.members {
        if m == "bob@example.org" {
            *m = "bob@example..org".into();
        }
    }
    w.desk = secdesk::service::process::Desk::new(
        config,
        secdesk::outgoing::templates::Templates::load(None).unwrap(),
    );
    w.deliver(&report("r1@reporter.test", "Crash", "x"));
    assert_eq!(
        summarize(&w.new_mail()),
        "ack -> rita@reporter.test | Re: [SEC-2026-0001] Crash\nteam-notice -> alice@example.org | [SEC-2026-0001] New report: Crash"
    );
    let events = w.events("SEC-2026-0001");
    assert!(
        events.iter().any(|e| e
            .detail
            .starts_with("could not write the team-notice mail to bob@example..org")),
        "{events:?}"
    );
}

#[test]
fn the_same_subject_twice_makes_two_cases() {
    let mut w = World::new();
    w.deliver(&report("a@reporter.test", "Crash in the parser", "one"));
    w.deliver(&report("b@reporter.test", "Re: Crash in the parser", "two"));
    assert_eq!(
        w.cases().len(),
        2,
        "subject text alone never joins two threads"
    );
}

#[test]
fn the_database_is_readable_by_its_owner_alone() {
    use std::os::unix::fs::PermissionsExt;
    let w = World::new();
    let mode = std::fs::metadata(&w.desk.config.desk.database)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

/// Rita's report with a crash dump attached: the mail it caused, and Alice's notice.
fn report_with_a_dump(
    w: &mut World,
) -> (Vec<secdesk::store::OutboxRow>, secdesk::store::OutboxRow) {
    w.deliver(&format!(
        "From: {RITA}\r\nTo: {DESK}\r\nSubject: Heap overflow\r\nMessage-ID: <r1@reporter.test>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\nA crash dump is attached.\r\n--b1\r\nContent-Type: application/octet-stream; name=core.bin\r\nContent-Disposition: attachment; filename=core.bin\r\nContent-Transfer-Encoding: base64\r\n\r\nAAECAwQF\r\n--b1--\r\n"
    ));
    let out = w.new_mail();
    let notice = out
        .iter()
        .find(|r| r.purpose.as_str() == "team-notice" && r.recipients == vec![ALICE.to_string()])
        .unwrap()
        .clone();
    (out, notice)
}

/// The same refusal coming back later, as a delivery report from the member's own
/// server (a scanner there taking the proof of concept for malware): the sent notice
/// kept its headers only, and the plain one standing for it said nothing of the
/// report. It now carries the text of the mail it was about, read back.
#[test]
fn a_notice_bounced_for_what_it_carried_is_sent_again_with_the_reports_text() {
    let mut w = World::new();
    let (out, notice) = report_with_a_dump(&mut w);
    w.mark_sent(&out);
    let id = msg_id(&notice);
    w.deliver(&refusal_of("dsn1", &id));
    let plain = w.new_mail();
    let plain = plain
        .iter()
        .find(|r| r.recipients == vec![ALICE.to_string()])
        .unwrap_or_else(|| panic!("no plain notice: {}", summarize(&plain)));
    assert!(!plain.carries_attachments);
    let said = body(&plain.bytes);
    assert!(
        said.contains("could not carry the mail it was about"),
        "{said}"
    );
    assert!(said.contains("A crash dump is attached."), "{said}");
    assert!(said.contains(RITA), "{said}");
}

/// One delivery report naming the notices of three mails with files: each mail read
/// back was parsed again inside the transaction, once for each member's copy and for
/// as many mails as the report names (a hundred at most). Two mails at most are read
/// back for one report, each once; the third's notice says where the mail is.
#[test]
fn one_delivery_report_reads_back_two_mails_at_most() {
    let mut w = World::new();
    let with_file = |n: u32, parent: Option<&str>| {
        let threading = parent.map_or(String::new(), |p| format!("In-Reply-To: <{p}>\r\n"));
        format!(
            "From: {RITA}\r\nTo: {DESK}\r\nSubject: Re: [SEC-2026-0001] Heap overflow\r\nMessage-ID: <f{n}@reporter.test>\r\n{threading}MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\nDump number {n}.\r\n--b1\r\nContent-Type: application/octet-stream; name=core.bin\r\nContent-Disposition: attachment; filename=core.bin\r\nContent-Transfer-Encoding: base64\r\n\r\nAAECAwQF\r\n--b1--\r\n"
        )
    };
    w.deliver(&with_file(1, None).replace("Re: [SEC-2026-0001] ", ""));
    w.deliver(&with_file(2, Some("f1@reporter.test")));
    w.deliver(&with_file(3, Some("f1@reporter.test")));
    let out = w.new_mail();
    w.mark_sent(&out);
    let alices: Vec<String> = out
        .iter()
        .filter(|r| r.purpose.as_str() == "team-notice" && r.recipients == vec![ALICE.to_string()])
        .map(|r| r.message_id.bracketed())
        .collect();
    assert_eq!(alices.len(), 3, "{}", summarize(&out));
    let named: String = alices
        .iter()
        .map(|id| format!("Message-ID: {id}\r\n"))
        .collect();
    w.deliver(&refusal_of("dsn3", &alices[0]).replace(
        &format!("Message-ID: {}\r\n--b--", alices[0]),
        &format!("{named}--b--"),
    ));
    let plain: Vec<String> = w
        .new_mail()
        .iter()
        .filter(|r| r.recipients == vec![ALICE.to_string()])
        .map(|r| body(&r.bytes))
        .collect();
    assert_eq!(plain.len(), 3, "{plain:?}");
    let with_text = plain
        .iter()
        .filter(|t| t.contains("Here is what it said"))
        .count();
    assert_eq!(with_text, 2, "{plain:?}");
    assert!(
        plain
            .iter()
            .all(|t| t.contains("stays in the desk's mailbox"))
    );
}

/// A new-report notice the server refuses for good for what it carries (its size, a
/// scanner taking the proof of concept for malware) is replaced by a plain notice to
/// the same member, with nothing attached; a refusal of that one ends there. (The
/// notice failed silently: the team first heard of the report from the overdue
/// reminder, while the reporter had been told the team had it.)
#[test]
fn a_notice_refused_with_the_report_it_carries_is_sent_again_plain() {
    let mut w = World::new();
    let (_, notice) = report_with_a_dump(&mut w);
    assert!(notice.carries_attachments);
    let now = w.clock_now();
    let refusal = "552 5.3.4 Message size exceeds fixed limit";
    let fail = |w: &mut World, row: &secdesk::store::OutboxRow| {
        let desk = &w.desk;
        w.store
            .write(|tx| desk.delivery_failed(tx, row, refusal, now))
            .unwrap();
    };
    fail(&mut w, &notice);
    let plain = w.new_mail();
    assert_eq!(
        summarize(&plain),
        "team-notice -> alice@example.org | [SEC-2026-0001] Attention: a notice to alice@example.org could not carry the mail it was about"
    );
    assert!(!plain[0].carries_attachments);
    assert!(
        !header(&plain[0].bytes, "Content-Type")
            .unwrap_or_default()
            .contains("multipart")
    );
    let said = body(&plain[0].bytes);
    assert!(said.contains(refusal));
    // What the refused notice said comes with it: the team reads the report. (It was
    // pointed to `secdesk case`, which shows a case's history, never a mail.)
    assert!(said.contains("A crash dump is attached."), "{said}");
    assert!(said.contains(RITA) && said.contains("core.bin"), "{said}");
    assert!(!said.contains("secdesk case"), "{said}");
    fail(&mut w, &plain[0]);
    assert!(
        w.new_mail().is_empty(),
        "a refusal of the plain notice ends there"
    );
}
