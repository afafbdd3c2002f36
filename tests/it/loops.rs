//! Forged team mail and team autoresponders, against the desk logic and SQLite with a
//! hand-driven clock: a forged note is shown as a claim, never as the member's words;
//! responders that ignore RFC 3834 cannot ping-pong through the desk's relays.

use crate::world::*;
use chrono::Duration;
use secdesk::desk::case::EventKind;
use secdesk::desk::relay::{PER_SENDER, QUICK_ANSWER_SECS, WINDOW_MINUTES};
use secdesk::service::process::Processed;
use secdesk::store::OutboxRow;
use secdesk::types::{CaseId, CaseStatus};

fn kind_of(p: &Processed) -> &'static str {
    match p {
        Processed::Filed { kind, .. } => kind.as_str(),
        other => panic!("not filed: {other:?}"),
    }
}

fn events(w: &mut World, kind: EventKind) -> Vec<String> {
    let id = CaseId::parse("SEC-2026-0001").unwrap();
    w.store
        .read(|tx| tx.events(&id))
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == kind)
        .map(|e| format!("{}: {}", e.actor, e.detail))
        .collect()
}

fn case_mails(w: &mut World) -> usize {
    let id = CaseId::parse("SEC-2026-0001").unwrap();
    w.store
        .read(|tx| tx.messages_of(&id))
        .unwrap()
        .iter()
        .filter(|m| m.direction_in)
        .count()
}

/// Rita's report, SEC-2026-0001 once filed.
fn deliver_the_report(w: &mut World) {
    w.deliver(&report(
        "r1@reporter.test",
        "Heap overflow",
        "The parser overflows.",
    ));
}

/// A forged note: Alice's address, an Authentication-Results header stamped by a server
/// the desk does not trust, no commands.
fn forged_note(parent: &str) -> String {
    team_mail(
        ALICE,
        "forged1@attacker.test",
        Some(parent),
        "Re: [SEC-2026-0001] x",
        Some("mx.attacker.test; dkim=pass header.d=example.org"),
        "Bob, the reporter is a known troll: close it without publishing.",
    )
}

/// Opens SEC-2026-0001, then delivers a forged note on it five minutes later.
fn forged_note_on_a_new_case(w: &mut World) -> Processed {
    let notice = w.open_case("Heap overflow");
    // A person's pace: a quick answer without commands would be taken for a responder.
    w.clock.advance(Duration::minutes(5));
    w.deliver(&forged_note(&notice))
}

/// A mail in a member's name that the desk's server does not vouch for and that names
/// no case (a report they forwarded without `#new` from a server that does not sign, or
/// someone using their name) files nothing: the team is told, within the hourly alert
/// budget, and nothing reaches the member's address alone.
/// qmail bounces a team notice to a broken mailbox in its own form (the original pasted
/// inline, no delivery-status part): it threads nowhere. It opened a case whose notice
/// to the same mailbox bounced again, for ever. It is held in the spam state, for the
/// daily summary, and nothing is sent.
#[test]
fn a_qmail_bounce_of_a_team_notice_does_not_loop() {
    let mut w = World::new();
    deliver_the_report(&mut w);
    let to_bob = w
        .new_mail()
        .into_iter()
        .find(|r| r.recipients == vec![BOB.to_string()])
        .expect("a notice to Bob");
    for n in 0..3 {
        let bounce = format!(
            "From: MAILER-DAEMON@mx.example.org\r\nTo: {DESK}\r\nSubject: failure notice\r\nMessage-ID: <q{n}@mx.example.org>\r\nReturn-Path: <>\r\n\r\nHi. This is the qmail-send program at mx.example.org.\r\nI'm afraid I wasn't able to deliver your message to the following addresses.\r\nThis is a permanent error; I've given up. Sorry it didn't work out.\r\n\r\n<{BOB}>:\r\nmailbox unavailable\r\n\r\n--- Below this line is a copy of the message.\r\n\r\n{}",
            String::from_utf8_lossy(&to_bob.bytes)
        );
        w.deliver(&bounce);
        let out = w.new_mail();
        assert!(out.is_empty(), "round {n}: {}", summarize(&out));
    }
}

#[test]
fn an_unauthenticated_member_mail_naming_no_case_is_told_to_the_team() {
    let mut w = World::new();
    let p = w.deliver(&team_mail(
        ALICE,
        "fwd1@example.org",
        None,
        "Fwd: a crash report",
        Some("mx.attacker.test; dkim=pass header.d=example.org"),
        "Someone wrote to me directly about a crash.",
    ));
    assert!(matches!(p, Processed::Unfiled(_)), "{p:?}");
    let out = w.new_mail();
    assert_eq!(
        summarize(&out),
        "team-notice -> alice@example.org | [no case] Attention: unauthenticated mail from alice@example.org filed nothing\n\
         team-notice -> bob@example.org | [no case] Attention: unauthenticated mail from alice@example.org filed nothing"
    );
    let text = body(&out[0].bytes);
    assert!(text.contains("It filed nothing"), "{text}");
    assert!(text.contains("<fwd1@example.org>"), "{text}");
}

#[test]
fn a_forged_note_is_shown_as_a_claim_never_as_the_members_words() {
    let mut w = World::new();
    let filed = forged_note_on_a_new_case(&mut w);
    assert_eq!(kind_of(&filed), "unauthenticated");
    let out = w.new_mail();
    assert_eq!(
        summarize(&out),
        "team-notice -> alice@example.org | [SEC-2026-0001] Unauthenticated: Heap overflow\n\
         team-notice -> bob@example.org | [SEC-2026-0001] Unauthenticated: Heap overflow"
    );
    let text = body(&out[1].bytes);
    assert!(
        text.contains("claims to be alice@example.org; not authenticated"),
        "{text}"
    );
    assert!(text.contains("close it without publishing"), "{text}");
    assert!(!text.contains("(internal to the team)"), "{text}");
    assert!(!text.contains("alice@example.org wrote"), "{text}");
    // Recorded as unauthenticated, never as her note.
    assert_eq!(events(&mut w, EventKind::TeamMail), Vec::<String>::new());
    let refused = events(&mut w, EventKind::Refused);
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert!(
        refused[0].contains("not authenticated") && refused[0].contains("not as alice"),
        "{refused:?}"
    );
}

#[test]
fn a_forged_note_in_a_trusted_local_setup_is_relayed_as_before() {
    let mut w = World::new();
    w.reconfigure(|t| {
        t.replace(
            "authserv_id = \"mx.example.org\"",
            "require_authenticated_commands = false",
        )
    });
    let filed = forged_note_on_a_new_case(&mut w);
    assert_eq!(kind_of(&filed), "team");
    let out = w.new_mail();
    assert_eq!(
        summarize(&out),
        "team-notice -> bob@example.org | [SEC-2026-0001] Team: Heap overflow"
    );
    assert!(body(&out[0].bytes).contains("alice@example.org wrote on SEC-2026-0001"));
}

/// An out-of-office reply from `member` to the desk mail `to`, ignoring RFC 3834: no
/// Auto-Submitted, no Precedence, authenticated like any mail of the member's.
/// A responder's answer; `numbered`, its words change each time (a ticket number), so
/// that only the relay limits can stop it.
fn out_of_office(member: &str, (n, numbered): (usize, bool), to: &OutboxRow) -> String {
    let words = if numbered {
        format!("Ticket {n}: I am out of the office until Monday.")
    } else {
        "I am out of the office until Monday and will answer your mail then.".to_string()
    };
    team_mail(
        member,
        &format!("ooo{n}.{member}"),
        Some(to.message_id.as_str()),
        "Out of office: Re: [SEC-2026-0001] Heap overflow",
        None,
        &words,
    )
}

/// Both team members' responders answer every mail the desk sends them, `delay` after
/// it, until nothing more comes (or `max_rounds`). Returns how many answers they sent.
fn run_responders(
    w: &mut World,
    first: Vec<OutboxRow>,
    (delay, numbered): (Duration, bool),
    max_rounds: usize,
) -> usize {
    let mut pending = first;
    let mut answers = 0;
    for _ in 0..max_rounds {
        let to_team: Vec<OutboxRow> = pending
            .into_iter()
            .filter(|r| r.recipients.iter().any(|a| a == ALICE || a == BOB))
            .collect();
        if to_team.is_empty() {
            return answers;
        }
        w.clock.advance(delay);
        for row in &to_team {
            answers += 1;
            let member = row.recipients[0].clone();
            w.deliver(&out_of_office(&member, (answers, numbered), row));
        }
        pending = w.new_mail();
    }
    panic!("the responders were still answering after {max_rounds} rounds ({answers} answers)");
}

#[test]
fn two_team_autoresponders_answer_the_desk_once_each() {
    let mut w = World::new();
    deliver_the_report(&mut w);
    let first = w.new_mail();
    let start = w.clock_now();
    // Each responder answers within two seconds, as real ones do.
    let answers = run_responders(&mut w, first, (Duration::seconds(2), false), 50);
    // Then a minute and more of the desk's clock, with the scheduler running.
    for _ in 0..8 {
        w.clock.advance(Duration::seconds(10));
        w.run_due();
    }
    assert!(w.clock_now() - start >= Duration::seconds(60));
    assert_eq!(answers, 2, "one answer each to the new-case notice");
    assert_eq!(
        summarize(&w.new_mail()),
        "",
        "nothing relayed, nothing sent"
    );
    // Stored on the case all the same, with the reason.
    assert_eq!(case_mails(&mut w), 3);
    let held = events(&mut w, EventKind::AutomaticMail);
    assert_eq!(held.len(), 2, "{held:?}");
    assert!(held[0].contains("autoresponder"), "{held:?}");
}

#[test]
fn slow_team_autoresponders_are_held_by_the_per_sender_limit() {
    let mut w = World::new();
    deliver_the_report(&mut w);
    let first = w.new_mail();
    // Too slow for the quick-answer rule, and their words change: only the relay
    // limits stop them.
    let delay = Duration::seconds(QUICK_ANSWER_SECS + 5);
    let answers = run_responders(&mut w, first, (delay, true), 100);
    let relayed =
        events(&mut w, EventKind::TeamMail).len() - events(&mut w, EventKind::AutomaticMail).len();
    assert!(
        relayed <= 2 * PER_SENDER,
        "{relayed} relays of responder mail ({answers} answers)"
    );
    assert!(answers <= 2 + 2 * PER_SENDER, "{answers} answers");
    let held = events(&mut w, EventKind::AutomaticMail);
    assert!(held.iter().any(|h| h.contains("at most 5")), "{held:?}");
    // Once the window has passed, a person's note is relayed again.
    w.clock.advance(Duration::minutes(WINDOW_MINUTES));
    let notice = w.case("SEC-2026-0001").root_message_id.to_string();
    w.command(
        ALICE,
        "human1@example.org",
        &notice,
        "Back early: I will look at it today.",
    );
    assert_eq!(
        summarize(&w.new_mail()),
        "team-notice -> bob@example.org | [SEC-2026-0001] Team: Heap overflow"
    );
}

/// Responders slower still (answering after minutes: a mail server polled every few
/// minutes, a responder run from cron) are stopped by their words: an answer without a
/// command that repeats, word for word, one of the sender's notes on the case from the
/// last day is not relayed. They never filled the ten-minute window, and answered each
/// other for ever (a thousand relays a day).
#[test]
fn very_slow_team_autoresponders_are_held_when_they_repeat_themselves() {
    let mut w = World::new();
    deliver_the_report(&mut w);
    let first = w.new_mail();
    let answers = run_responders(&mut w, first, (Duration::seconds(150), false), 100);
    assert!(answers <= 4, "{answers} answers");
    let held = events(&mut w, EventKind::AutomaticMail);
    assert!(held.iter().any(|h| h.contains("word for word")), "{held:?}");
    // A person's new words are relayed as before.
    let notice = w.case("SEC-2026-0001").root_message_id.to_string();
    w.command(
        ALICE,
        "human2@example.org",
        &notice,
        "Back early: I will look at it today.",
    );
    assert_eq!(
        summarize(&w.new_mail()),
        "team-notice -> bob@example.org | [SEC-2026-0001] Team: Heap overflow"
    );
    // And a note whose first line is one of hers, with new words after it.
    for (n, words) in [
        "Hi all,\r\nI reproduce it on 4.14.",
        "Hi all,\r\nThe patch is wrong, do not merge.",
    ]
    .into_iter()
    .enumerate()
    {
        w.clock.advance(Duration::minutes(5));
        w.command(ALICE, &format!("hi{n}@example.org"), &notice, words);
        assert_eq!(
            summarize(&w.new_mail()),
            "team-notice -> bob@example.org | [SEC-2026-0001] Team: Heap overflow",
            "{words}"
        );
    }
}

/// A robot that answers each acknowledgement minutes later with a mail of its own (a
/// ticket system: a fresh Message-ID, no thread, no tag, no automatic mark) gets at most
/// `ACKS_A_DAY` acknowledgements a day: slower than the ten-minute limit, it got one
/// every time, for ever, a case opened each round.
#[test]
fn a_slow_robot_answering_acknowledgements_gets_a_few_a_day() {
    use secdesk::desk::ACKS_A_DAY;
    let mut w = World::new();
    let mut acks = 0;
    for n in 0..60 {
        w.deliver(&format!(
            "From: Tickets <tickets@helpdesk.test>\r\nTo: {DESK}\r\nSubject: Ticket {n} created\r\nMessage-ID: <t{n}@helpdesk.test>\r\n\r\nYour request was received.\r\n"
        ));
        acks += w
            .new_mail()
            .iter()
            .filter(|r| r.purpose.as_str() == "ack")
            .count();
        w.clock.advance(Duration::seconds(250));
    }
    assert_eq!(acks, ACKS_A_DAY as usize);
}

/// A member's responder that marks its answers (RFC 3834) but answers the desk's mail of
/// no case (the weekly digest) opens no case: each digest opened a bogus "report", told to
/// the team, listed in the next digest.
#[test]
fn an_automatic_answer_to_the_digest_opens_no_case() {
    let mut w = World::new();
    deliver_the_report(&mut w);
    w.run_due();
    w.new_mail();
    w.clock.set(paris(2026, 11, 30, 9, 0));
    w.run_due();
    let digest = w
        .new_mail()
        .into_iter()
        .find(|r| r.purpose.as_str() == "digest" && r.recipients == vec![ALICE.to_string()])
        .expect("a digest to Alice");
    let answer = team_mail(
        ALICE,
        "ooo-digest@example.org",
        Some(digest.message_id.as_str()),
        "Auto: Weekly digest",
        None,
        "I am away until Monday.",
    )
    .replacen("\r\n", "\r\nAuto-Submitted: auto-replied\r\n", 1);
    let p = w.deliver(&answer);
    assert!(!matches!(p, Processed::Filed { opened: true, .. }), "{p:?}");
    assert_eq!(summarize(&w.new_mail()), "");
}

#[test]
fn a_quick_human_answer_with_a_command_is_relayed() {
    let mut w = World::new();
    deliver_the_report(&mut w);
    let notice = w.take("team-notice");
    w.clock.advance(Duration::seconds(5));
    w.command(
        ALICE,
        "quick@example.org",
        notice.message_id.as_str(),
        "#assign me\n\nOn it.",
    );
    let out = summarize(&w.new_mail());
    assert!(
        out.contains("team-notice -> bob@example.org | [SEC-2026-0001] Team: Heap overflow"),
        "{out}"
    );
    // Without the command, the same answer is an autoresponder's.
    w.clock.advance(Duration::seconds(5));
    let relay = w.store.read(|tx| tx.outbox_all()).unwrap();
    let to_bob = relay
        .iter()
        .rev()
        .find(|r| r.purpose.as_str() == "team-notice" && r.recipients[0] == BOB)
        .unwrap()
        .clone();
    w.command(
        BOB,
        "quick2@example.org",
        to_bob.message_id.as_str(),
        "Thanks.",
    );
    assert_eq!(summarize(&w.new_mail()), "");
}

#[test]
fn team_mail_carrying_a_loop_header_is_stored_not_relayed() {
    let mut w = World::new();
    let notice = w.open_case("Heap overflow");
    let mail = team_mail(
        ALICE,
        "looped@example.org",
        Some(&notice),
        "Re: [SEC-2026-0001] Heap overflow",
        None,
        "A note that went through another desk.",
    )
    .replacen(
        "From:",
        "X-Secdesk-Loop: security@other.example\r\nFrom:",
        1,
    );
    assert_eq!(kind_of(&w.deliver(&mail)), "team");
    assert_eq!(summarize(&w.new_mail()), "");
    let held = events(&mut w, EventKind::AutomaticMail);
    assert!(held[0].contains("loop header"), "{held:?}");
}

/// An upstream that runs a desk of its own answers our `#forward` with its `#reply`: a
/// person's words, carrying that desk's loop header. They reach our team like any
/// maintainer's answer. (Every mail with a loop header was held, whoever's desk it
/// named, and the team never saw the maintainer's answer.)
#[test]
fn an_upstream_desk_answer_reaches_the_team() {
    let mut w = World::new();
    let notice = w.open_case("Heap overflow");
    w.command(
        ALICE,
        "f1@example.org",
        &notice,
        "#forward security@upstream.test\r\n",
    );
    let fwd = first(&w.new_mail(), "forward").clone();
    let answer = format!(
        "From: Upstream Security <security@upstream.test>\r\nTo: security+sec-2026-0001@example.org\r\nSubject: Re: [SEC-2026-0001] Security report for your attention\r\nMessage-ID: <u1@upstream.test>\r\nIn-Reply-To: {}\r\nAuto-Submitted: no\r\nX-Secdesk-Loop: security@upstream.test\r\n\r\nFixed in 1.4.2; please hold the embargo until Friday.\r\n",
        fwd.message_id.bracketed()
    );
    assert_eq!(kind_of(&w.deliver(&answer)), "upstream");
    let out = w.new_mail();
    assert_eq!(
        out.iter()
            .filter(|r| r.purpose.as_str() == "team-notice")
            .count(),
        2,
        "{}",
        summarize(&out)
    );
    assert!(body(&out[0].bytes).contains("Fixed in 1.4.2"));
}

/// Another desk forwards us a report of its own (`#forward`): its subject carries that
/// desk's case tag, which may name a case of ours by chance (same prefix, same number).
/// It is a new report here, not mail on our case of that number. (It was filed on our
/// unrelated case and held there: no case, no acknowledgement, no deadline.)
#[test]
fn another_desks_case_tag_does_not_file_its_forward_on_our_case() {
    let mut w = World::new();
    w.open_case("Heap overflow");
    w.new_mail();
    let forward = "From: Example Security Team <security@a.example>\r\nTo: security@example.org\r\nSubject: [SEC-2026-0001] Security report for your attention: use after free\r\nMessage-ID: <sec-2026-0001.forward.1.5.42@a.example>\r\nReply-To: security+sec-2026-0001@a.example\r\nAuto-Submitted: no\r\nX-Secdesk-Loop: security@a.example\r\n\r\nA use after free in your decoder.\r\n";
    let filed = w.deliver(forward);
    assert!(
        matches!(filed, Processed::Filed { opened: true, .. }),
        "{filed:?}"
    );
    assert!(w.case("SEC-2026-0002").subject.contains("use after free"));
    // Written to a plus address of ours, it names our case: that address is ours.
    let to_ours = forward
        .replace(
            "To: security@example.org",
            "To: security+sec-2026-0001@example.org",
        )
        .replace(
            "<sec-2026-0001.forward.1.5.42@a.example>",
            "<again@a.example>",
        );
    let filed = w.deliver(&to_ours);
    assert!(
        matches!(&filed, Processed::Filed { opened: false, case, .. } if case.to_string() == "SEC-2026-0001"),
        "{filed:?}"
    );
}

/// Outsiders who guess a case's tag can use up what loop protection relays on the case
/// (20 mails in ten minutes, over four senders to stay under five each), but not for
/// its participants: the reporter's next mail still reaches the team. (The outsiders'
/// mails silenced the reporter and the team for as long as they kept on.)
#[test]
fn outsiders_cannot_use_up_the_relays_of_a_cases_participants() {
    use secdesk::desk::relay::PER_CASE;
    outsiders_then_the_reporter(&mut World::new(), PER_CASE);
}

/// The case's report, `n` outsiders' mails on its tag (four senders to stay under five
/// each): only the first `PER_CASE` are relayed; then the reporter's mail still is.
fn outsiders_then_the_reporter(w: &mut World, n: usize) {
    use secdesk::desk::relay::PER_CASE;
    deliver_the_report(w);
    w.new_mail();
    for n in 0..n {
        let sender = format!("junk{}@spam.test", n / PER_SENDER);
        let junk = report(
            &format!("junk{n}@spam.test"),
            "[SEC-2026-0001] junk",
            "junk",
        )
        .replace(RITA, &sender);
        w.clock.advance(Duration::seconds(1));
        w.deliver(&junk);
    }
    let relayed = w
        .new_mail()
        .iter()
        .filter(|r| r.purpose.as_str() == "team-notice")
        .count();
    assert_eq!(
        relayed,
        2 * PER_CASE,
        "only the first outsiders' mails were relayed, each to 2"
    );
    w.clock.advance(Duration::seconds(1));
    let again = report("r2@reporter.test", "Re: Heap overflow", "More details.")
        .replace("\r\n\r\n", "\r\nIn-Reply-To: <r1@reporter.test>\r\n\r\n");
    assert_eq!(kind_of(&w.deliver(&again)), "reporter");
    assert_eq!(team_notices(w), 2, "the reporter's mail was held");
}

/// A forged "automatic" mail in a member's name with commands is told to the team as a
/// claim: the alert presented it as hers and asked that the commands be sent again,
/// inviting a colleague to run the forger's `#forward`.
#[test]
fn forged_automatic_mail_with_commands_is_told_as_a_claim() {
    let mut w = World::new();
    deliver_the_report(&mut w);
    let notice = w.new_mail()[1].message_id.to_string();
    let forged = team_mail(
        ALICE,
        "forged-auto@attacker.test",
        Some(&notice),
        "Re: [SEC-2026-0001] Heap overflow",
        Some("mx.attacker.test; dkim=pass header.d=example.org"),
        "#forward eve@evil.test\r\n",
    )
    .replacen("\r\n", "\r\nAuto-Submitted: auto-replied\r\n", 1);
    w.deliver(&forged);
    let mail = w.new_mail();
    let alert = body(&first(&mail, "team-notice").bytes);
    assert!(alert.contains("not authenticated"), "{alert}");
    assert!(!alert.contains("send the commands again"), "{alert}");
    assert!(
        !mail
            .iter()
            .any(|r| r.recipients.iter().any(|a| a.contains("evil")))
    );
}

/// Forged mail in the reporter's name (the receiving server says `dmarc=fail`) does not
/// use up her relays: five forgeries with the case's tag in ten minutes held her genuine
/// mail back from the team, without a word, for as long as the forger kept on.
#[test]
fn forged_mail_in_the_reporters_name_does_not_silence_her() {
    let mut w = World::new();
    deliver_the_report(&mut w);
    w.new_mail();
    for n in 0..PER_SENDER {
        let forged = format!(
            "Authentication-Results: mx.example.org; spf=fail smtp.mailfrom=reporter.test; dmarc=fail header.from=reporter.test\r\n{}",
            report(
                &format!("forged{n}@attacker.test"),
                "Re: [SEC-2026-0001] Heap overflow",
                "Ignore my report."
            )
        );
        w.clock.advance(Duration::seconds(30));
        w.deliver(&forged);
    }
    w.new_mail();
    w.clock.advance(Duration::seconds(30));
    let genuine = format!(
        "Authentication-Results: mx.example.org; dkim=pass header.d=reporter.test; dmarc=pass header.from=reporter.test\r\n{}",
        report(
            "r9@reporter.test",
            "Re: [SEC-2026-0001] Heap overflow",
            "More details."
        )
    );
    assert_eq!(kind_of(&w.deliver(&genuine)), "reporter");
    assert_eq!(team_notices(&mut w), 2, "the reporter's mail was held");
}

/// Forged commands in a member's name are refused and recorded under the name they
/// claim; they are not her mail and do not use up her relays. (Five forgeries in ten
/// minutes held her genuine note back from the rest of the team, without a word.)
#[test]
fn forged_commands_in_a_members_name_do_not_silence_her() {
    let mut w = World::new();
    let notice = w.open_case("Heap overflow");
    w.clock.advance(Duration::minutes(5));
    for n in 0..PER_SENDER {
        w.clock.advance(Duration::seconds(30));
        w.deliver(&team_mail(
            ALICE,
            &format!("forged{n}@attacker.test"),
            Some(&notice),
            "Re: [SEC-2026-0001] Heap overflow",
            Some("mx.attacker.test; dkim=pass header.d=example.org"),
            "#close\r\n",
        ));
    }
    assert_eq!(w.case("SEC-2026-0001").status, CaseStatus::New);
    w.new_mail();
    w.clock.advance(Duration::seconds(30));
    w.command(
        ALICE,
        "real1@example.org",
        &notice,
        "The fix is incomplete.",
    );
    assert_eq!(
        summarize(&w.new_mail()),
        "team-notice -> bob@example.org | [SEC-2026-0001] Team: Heap overflow"
    );
}

#[test]
fn a_flood_on_a_case_past_what_is_read_stays_held() {
    use secdesk::desk::relay::MAX_RECENT;
    outsiders_then_the_reporter(&mut World::new(), MAX_RECENT / 2 + 20);
}

#[test]
fn autoresponders_that_do_not_thread_are_held_too() {
    let mut w = World::new();
    deliver_the_report(&mut w);
    w.new_mail();
    // No In-Reply-To, no References: the case tag in the subject files it.
    for (n, member) in [ALICE, BOB].into_iter().enumerate() {
        w.clock.advance(Duration::seconds(3));
        let mail = team_mail(
            member,
            &format!("unthreaded{n}@example.org"),
            None,
            "Auto: [SEC-2026-0001] Heap overflow",
            None,
            "I am out of the office.",
        );
        assert_eq!(kind_of(&w.deliver(&mail)), "team");
    }
    assert_eq!(summarize(&w.new_mail()), "");
    // A person's new mail on the case, minutes later, is relayed.
    w.clock.advance(Duration::minutes(5));
    w.deliver(&team_mail(
        ALICE,
        "later@example.org",
        None,
        "[SEC-2026-0001] Heap overflow",
        None,
        "I had a look: it is the length check in parse_header.",
    ));
    assert_eq!(
        summarize(&w.new_mail()),
        "team-notice -> bob@example.org | [SEC-2026-0001] Team: Heap overflow"
    );
}

/// A member's naive autoresponder (no RFC 3834 headers) answering the explanation of a
/// mail that named no case gets no answer of its own (an answer to the desk's mail with
/// no command line), so the two cannot loop.
#[test]
fn a_members_responder_answering_a_no_case_transcript_is_not_answered() {
    let mut w = World::new();
    let p = w.deliver(&team_mail(
        BOB,
        "n1@example.org",
        None,
        "hello",
        None,
        "#close\r\n",
    ));
    assert!(matches!(p, Processed::Unfiled(_)), "{p:?}");
    let out = w.new_mail();
    assert_eq!(summarize(&out).lines().count(), 1, "{}", summarize(&out));
    let transcript = first(&out, "transcript").message_id.to_string();
    for n in 0..3 {
        let p = w.deliver(&team_mail(
            BOB,
            &format!("away{n}@example.org"),
            Some(&transcript),
            "Re: [no case] hello",
            None,
            "I am away until Monday.\r\n",
        ));
        assert!(matches!(p, Processed::Unfiled(_)), "{p:?}");
        let out = w.new_mail();
        assert!(out.is_empty(), "answer {n}: {}", summarize(&out));
    }
    // A member's own mail that names no case (a report forwarded without #new) is still
    // explained: they must not believe it was filed.
    w.deliver(&team_mail(
        BOB,
        "fwd@example.org",
        None,
        "Fwd: a report I got",
        None,
        "Someone wrote to me directly about a crash.\r\n",
    ));
    let out = w.new_mail();
    assert_eq!(summarize(&out).lines().count(), 1, "{}", summarize(&out));
    first(&out, "transcript");
}

/// A member's autoresponder that neither threads nor marks its mail (RFC 3834), answering
/// the weekly digest and then each explanation the desk sends back: the desk explains
/// twice in the hour and then keeps its answers, so the two stop.
#[test]
fn a_members_unthreaded_responder_and_the_no_case_explanation_do_not_loop() {
    let mut w = World::new();
    let away = |n: usize| {
        team_mail(
            BOB,
            &format!("away{n}@example.org"),
            None,
            "Away: your mail",
            None,
            "I am away until Monday.\r\n",
        )
    };
    let mut answered = Vec::new();
    for n in 0..6 {
        w.clock.advance(Duration::minutes(1));
        let p = w.deliver(&away(n));
        assert!(matches!(p, Processed::Unfiled(_)), "{p:?}");
        answered.push(w.new_mail().len());
    }
    assert_eq!(answered, [1, 1, 0, 0, 0, 0], "explained twice, then kept");
    // An hour after the explanations, a mail that names no case is explained again.
    w.clock.advance(Duration::minutes(60));
    w.deliver(&away(6));
    first(&w.new_mail(), "transcript");
}

/// How many team notices were queued since the last look.
fn team_notices(w: &mut World) -> usize {
    w.new_mail()
        .iter()
        .filter(|r| r.purpose.as_str() == "team-notice")
        .count()
}
