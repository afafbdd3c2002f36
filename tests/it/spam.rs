//! Spam, phishing and forged senders (PRODUCT §8): suspect mail is filed in the spam
//! state without a word to its sender or a per-mail notice to the team; one daily
//! summary; `#notspam` / `#spam`; the desk-wide acknowledgement limit. First on the
//! World (SQLite + a hand-moved clock), with real SpamAssassin output; then end to end
//! on the real mail stack.

use crate::support::desk::send_alice;
use crate::support::mailstack::MailStack;
use crate::support::pass::Pass;
use crate::world::*;
use secdesk::service::process::Processed;
use secdesk::types::CaseStatus;
use std::process::{Command, Stdio};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

/// What the receiving server stamps on mail whose From domain fails DMARC (the
/// envelope passes SPF for the spammer's own domain, as it usually does).
fn dmarc_fail(from_domain: &str) -> String {
    format!(
        "Authentication-Results: mx.example.org; spf=pass smtp.mailfrom=spam.test; dkim=none; dmarc=fail (p=reject) header.from={from_domain}\r\n"
    )
}
/// What it stamps on a sender that authenticates.
const AUTH_PASS: &str = "Authentication-Results: mx.example.org; spf=pass smtp.mailfrom=reporter.test; dkim=pass header.d=reporter.test; dmarc=pass header.from=reporter.test\r\n";

/// A mail from `from` with `stamp` (header lines ending in CRLF) on top.
fn stamped(stamp: &str, from: &str, id: &str, subject: &str, text: &str) -> String {
    format!(
        "{stamp}From: {from}\r\nTo: {DESK}\r\nSubject: {subject}\r\nMessage-ID: <{id}>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0100\r\n\r\n{text}\r\n"
    )
}

/// The GTUBE test string: every SpamAssassin scores it 1000.
const GTUBE: &str = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X";

/// Runs Debian's SpamAssassin on `raw`, offline (`-L`: local tests only), and returns
/// the mail as it stamped it. `scripts/mailstack.sh install` installs it.
fn spamassassin(raw: &str) -> String {
    let mut child = Command::new("spamassassin")
        .args(["-L", "-x", "--cf=report_safe 0"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spamassassin is installed by scripts/mailstack.sh install");
    {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(raw.as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "spamassassin failed");
    String::from_utf8(out.stdout).unwrap()
}

/// Marks every mail queued as sent, as the mailer would have by now.
fn all_sent(w: &mut World) {
    let now = w.clock_now();
    for r in w.store.read(|tx| tx.outbox_all()).unwrap() {
        if r.state == secdesk::store::OutboxState::Pending {
            w.store.write(|tx| tx.mark_sent(r.id, now)).unwrap();
        }
    }
}

fn pending_of(w: &mut World, scope: &str) -> Vec<String> {
    w.store
        .read(|tx| tx.reminders_of(scope))
        .unwrap()
        .into_iter()
        .filter(|r| r.state == secdesk::store::ReminderState::Pending)
        .map(|r| r.kind)
        .collect()
}

#[test]
fn suspect_new_mail_is_filed_in_the_spam_state_without_a_word() {
    let mut w = World::new();
    let p = w.deliver(&stamped(
        &dmarc_fail("bank.test"),
        "Your Bank <alerts@bank.test>",
        "p1@bank.test",
        "Verify your account",
        "Click here.",
    ));
    let case = opened(&p);
    assert!(
        w.new_mail().is_empty(),
        "no ack to the forged sender, no notice to the team"
    );
    let c = w.case(&case);
    assert_eq!(c.status.as_str(), "spam");
    assert_eq!(c.reporter.as_deref(), Some("alerts@bank.test"));
    assert!(pending_of(&mut w, &case).is_empty(), "no reminders");
    let events = w
        .store
        .read(|tx| tx.events(&c.id))
        .unwrap()
        .into_iter()
        .map(|e| format!("{} {}", e.kind.as_str(), e.detail))
        .collect::<Vec<_>>();
    assert!(
        events.contains(&"quarantined mx.example.org says dmarc=fail".to_string()),
        "{events:?}"
    );
    // Not open: `cases --open` and the digest leave it out; `cases --spam` lists it.
    assert!(w.store.read(|tx| tx.list_cases(true)).unwrap().is_empty());
    assert_eq!(w.store.read(|tx| tx.spam_cases()).unwrap().len(), 1);
    // Its sender's next mail in the thread is filed there, still silently.
    let p = w.deliver(&format!(
        "{}From: alerts@bank.test\r\nTo: {DESK}\r\nSubject: Re: Verify your account\r\nMessage-ID: <p2@bank.test>\r\nIn-Reply-To: <p1@bank.test>\r\n\r\nUrgent!\r\n",
        dmarc_fail("bank.test")
    ));
    assert!(matches!(p, Processed::Filed { opened: false, .. }), "{p:?}");
    assert!(w.new_mail().is_empty());
    // A clean report right after is acknowledged and announced as usual.
    w.deliver(&stamped(
        AUTH_PASS,
        RITA,
        "r1@reporter.test",
        "Heap overflow",
        "x",
    ));
    assert_eq!(
        summarize(&w.new_mail()),
        "ack -> rita@reporter.test | Re: [SEC-2026-0002] Heap overflow\nteam-notice -> alice@example.org | [SEC-2026-0002] New report: Heap overflow\nteam-notice -> bob@example.org | [SEC-2026-0002] New report: Heap overflow"
    );
}

/// A mail naming two senders (two From headers, or two mailboxes in one) gets no
/// acknowledgement: the server judged one of them (many take the last), the desk would
/// answer the first, a victim whose address the spammer put there. (The server's pass
/// for the spammer's own domain let an acknowledgement go to the victim.)
#[test]
fn a_mail_with_two_senders_is_suspect_and_never_acknowledged() {
    let pass_evil = "Authentication-Results: mx.example.org; spf=pass smtp.mailfrom=evil.test; dkim=pass header.d=evil.test; dmarc=pass header.from=evil.test\r\n";
    for (n, from) in [
        "alerts@bank.test\r\nFrom: me@evil.test",
        "alerts@bank.test, me@evil.test",
    ]
    .into_iter()
    .enumerate()
    {
        let mut w = World::new();
        let p = w.deliver(&stamped(
            pass_evil,
            from,
            &format!("two{n}@evil.test"),
            "Verify your account",
            "Click here.",
        ));
        let case = opened(&p);
        let mail = w.new_mail();
        assert!(mail.is_empty(), "{n}: {}", summarize(&mail));
        let c = w.case(&case);
        assert_eq!(c.status.as_str(), "spam", "{n}");
        let events = w.events(&case);
        assert!(
            events.iter().any(|e| e.detail.contains("From")),
            "{n}: {events:?}"
        );
    }
}

/// `#spam` on a case whose acknowledgement has not gone yet (the forged sender's server
/// defers it) withdraws it: the case in the spam state answers nobody. (The ack was
/// retried until the victim's server took it.)
#[test]
fn spam_withdraws_an_acknowledgement_still_waiting() {
    let mut w = World::new();
    let notice = w.open_case("Verify your account");
    let ack = w.first_queued("ack");
    assert_eq!(ack.state, secdesk::store::OutboxState::Pending);
    w.command(ALICE, "s1@example.org", &notice, "#spam\r\n");
    let t = body(&w.take("transcript").bytes);
    assert!(t.contains("acknowledgement"), "{t}");
    let rows = w.store.read(|tx| tx.outbox_all()).unwrap();
    let ack = rows.iter().find(|r| r.id == ack.id).unwrap();
    assert_eq!(ack.state, secdesk::store::OutboxState::Failed, "{ack:?}");
    assert!(
        ack.last_error
            .as_deref()
            .is_some_and(|e| e.contains("spam")),
        "{ack:?}"
    );
    let events = w.events("SEC-2026-0001");
    assert!(
        events.iter().any(|e| e.detail.contains("withdrawn")),
        "{events:?}"
    );
}

/// Spam that claims to be the desk's own mail (its loop header, or From the desk's
/// address: both cost a spammer nothing) is quarantined like any suspect new mail: it
/// opened a normal case, a notice to every member and a plan of reminders.
#[test]
fn suspect_mail_claiming_to_be_the_desk_is_quarantined() {
    let mut w = World::new();
    for (n, (from, extra)) in [
        ("x@spam.test", format!("X-Secdesk-Loop: {DESK}\r\n")),
        (DESK, String::new()),
    ]
    .into_iter()
    .enumerate()
    {
        let p = w.deliver(&stamped(
            &format!("{}X-Spam-Flag: YES\r\n{extra}", dmarc_fail("spam.test")),
            from,
            &format!("d{n}@spam.test"),
            "Cheap pills",
            "Buy now.",
        ));
        let case = opened(&p);
        assert!(w.new_mail().is_empty(), "mail {n}: no notice, no answer");
        assert_eq!(w.case(&case).status.as_str(), "spam", "mail {n}");
        assert!(
            pending_of(&mut w, &case).is_empty(),
            "mail {n}: no reminders"
        );
        // Released by mistake or not, the desk is nobody's reporter: no acknowledgement
        // goes to its own address, nor to a sender that carried its loop header.
        w.deliver(&team_mail(
            ALICE,
            &format!("r{n}@example.org"),
            None,
            "release",
            None,
            &format!("#case {case}\r\n#notspam\r\n"),
        ));
        let out = summarize(&w.new_mail());
        assert!(!out.contains("ack ->"), "mail {n}: {out}");
        assert!(
            out.contains("team-notice -> alice@example.org"),
            "mail {n}: {out}"
        );
        assert_eq!(w.case(&case).status.as_str(), "new", "mail {n}");
    }
}

/// Mail claiming the desk's address that threads into a case is judged like any other:
/// on a case in the spam state it is quarantined without a word (it was relayed to the
/// team, one by one, and left out of the summary), and on a normal case the team's
/// relay says it is suspect (it came unmarked).
#[test]
fn suspect_mail_claiming_to_be_the_desk_on_a_case_is_judged() {
    let mut w = World::new();
    let spam = opened(&w.deliver(&stamped(
        &dmarc_fail("spam.test"),
        "x@spam.test",
        "s1@spam.test",
        "Cheap pills",
        "Buy now.",
    )));
    assert!(w.new_mail().is_empty());
    let p = w.deliver(&stamped(
        &dmarc_fail("example.org"),
        DESK,
        "s2@spam.test",
        &format!("Re: [{spam}] Cheap pills"),
        "Buy now, really.",
    ));
    assert!(matches!(p, Processed::Filed { opened: false, .. }), "{p:?}");
    assert!(w.new_mail().is_empty(), "no relay of spam to the team");
    let c = w.case(&spam);
    let quarantined = w
        .store
        .read(|tx| tx.events(&c.id))
        .unwrap()
        .into_iter()
        .filter(|e| e.kind.as_str() == "quarantined")
        .count();
    assert_eq!(quarantined, 2, "both mails are in the summary");

    w.open_case("Heap overflow");
    w.new_mail();
    w.deliver(&stamped(
        &dmarc_fail("example.org"),
        DESK,
        "s3@spam.test",
        "Re: [SEC-2026-0002] Heap overflow",
        "Please send your password.",
    ));
    let relay = w.take("team-notice");
    let text = body(&relay.bytes);
    assert!(
        text.contains(
            "SUSPECT: this mail may be spam, phishing or forged (mx.example.org says dmarc=fail)"
        ),
        "{text}"
    );
}

/// A suspect mail with a file, relayed to the team marked SUSPECT, is refused later by a
/// member's server (its scanner takes the file for malware): the plain notice standing
/// for it carried the mail's text without the warning, the desk itself handing on a
/// phishing text under a forged From. It says SUSPECT as the relay did.
#[test]
fn a_suspect_relay_bounced_for_its_file_is_sent_again_still_marked() {
    let mut w = World::new();
    w.open_case("Heap overflow");
    w.new_mail();
    w.deliver(&format!(
        "{}From: admin@example.org\r\nTo: {DESK}\r\nSubject: Re: [SEC-2026-0001] Heap overflow\r\nMessage-ID: <s9@spam.test>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\nOpen the attached fix.\r\n--b1\r\nContent-Type: application/octet-stream; name=fix.exe\r\nContent-Disposition: attachment; filename=fix.exe\r\nContent-Transfer-Encoding: base64\r\n\r\nTVqQAAMAAAAEAAAA\r\n--b1--\r\n",
        dmarc_fail("example.org")
    ));
    let out = w.new_mail();
    let relay = out
        .iter()
        .find(|r| r.purpose.as_str() == "team-notice" && r.recipients == vec![ALICE.to_string()])
        .unwrap_or_else(|| panic!("{}", summarize(&out)))
        .clone();
    assert!(relay.carries_attachments);
    assert!(body(&relay.bytes).contains("SUSPECT"));
    w.mark_sent(&out);
    let id = relay.message_id.bracketed();
    w.deliver(&refusal_of("dsn9", &id));
    let plain = w.new_mail();
    let plain = plain
        .iter()
        .find(|r| r.recipients == vec![ALICE.to_string()])
        .unwrap_or_else(|| panic!("no plain notice: {}", summarize(&plain)));
    let said = body(&plain.bytes);
    assert!(said.contains("Open the attached fix."), "{said}");
    assert!(
        said.contains("SUSPECT: this mail may be spam, phishing or forged"),
        "{said}"
    );
}

#[test]
fn real_spamassassin_output_decides() {
    let mut w = World::new();
    let gtube = spamassassin(&stamped(
        "",
        "Winner <win@lottery.test>",
        "g1@lottery.test",
        "You won",
        GTUBE,
    ));
    assert!(gtube.contains("X-Spam-Flag: YES"), "{gtube}");
    let clean = spamassassin(&stamped(
        "",
        RITA,
        "c1@reporter.test",
        "Heap overflow in the parser",
        "Long lines overflow the line buffer in parse_header.",
    ));
    assert!(clean.contains("X-Spam-Status: No"), "{clean}");

    let case = opened(&w.deliver(&gtube));
    assert_eq!(w.case(&case).status.as_str(), "spam");
    assert!(w.new_mail().is_empty());
    let c = w.case(&case);
    let why = w
        .store
        .read(|tx| tx.events(&c.id))
        .unwrap()
        .into_iter()
        .find(|e| e.kind.as_str() == "quarantined")
        .unwrap()
        .detail;
    assert!(
        why.contains("SpamAssassin: X-Spam-Flag: YES")
            && why.contains("SpamAssassin score 1000.0 >= threshold 5.0"),
        "{why}"
    );

    let case = opened(&w.deliver(&clean));
    assert_eq!(w.case(&case).status.as_str(), "new");
    let out = summarize(&w.new_mail());
    assert!(out.starts_with("ack -> rita@reporter.test"), "{out}");

    // With filter = "none", SpamAssassin's verdict does not count.
    let mut w = World::with(monday_10(), "[spam]\nfilter = \"none\"\n");
    let case = opened(&w.deliver(&gtube));
    assert_eq!(w.case(&case).status.as_str(), "new");
}

#[test]
fn a_suspect_reply_in_a_normal_case_is_filed_and_marked() {
    let mut w = World::new();
    let notice = w.open_case("Heap overflow");
    let p = w.deliver(&format!(
        "Authentication-Results: mx.example.org; spf=fail smtp.mailfrom=reporter.test; dkim=none\r\nFrom: {RITA}\r\nTo: {DESK}\r\nSubject: Re: [SEC-2026-0001] Heap overflow\r\nMessage-ID: <r2@reporter.test>\r\nIn-Reply-To: <{notice}>\r\n\r\nMore logs.\r\n"
    ));
    assert!(matches!(p, Processed::Filed { opened: false, .. }), "{p:?}");
    let relay = w.take("team-notice");
    let text = body(&relay.bytes);
    assert!(
        text.contains("SUSPECT: this mail may be spam, phishing or forged (mx.example.org says spf=fail, with no aligned dkim=pass)"),
        "{text}"
    );
    assert_eq!(w.case("SEC-2026-0001").status.as_str(), "new");
}

/// A team-alert override that fails on the summary (it passed the start-up check) still
/// lets the day's suspect mail reach the team, in plain words: the summary was only
/// logged, and the next one began where it would have ended, so a real report held that
/// day was never listed.
#[test]
fn a_summary_whose_template_fails_is_sent_plain() {
    let mut w = World::new();
    failing_team_alert(&mut w, "case_id == \"spam\"");
    w.deliver(&stamped(
        &dmarc_fail("innocent.test"),
        "victim@innocent.test",
        "f1@spam.test",
        "Prize",
        "x",
    ));
    assert!(w.new_mail().is_empty());
    w.run_due();
    w.clock.set(paris(2026, 11, 24, 9, 0));
    let fired = w.run_due();
    let mail = w.new_mail();
    assert_eq!(mail.len(), 2, "{fired:?} {}", summarize(&mail));
    let text = body(&mail[0].bytes);
    assert!(
        text.contains("SEC-2026-0001") && text.contains("template failed"),
        "{text}"
    );
}

/// Gives the desk a team-alert override that passes the start-up check and fails on an
/// alert for which `condition` holds.
fn failing_team_alert(w: &mut World, condition: &str) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("team-alert.txt"),
        format!(
            "Subject: [{{{{ case_id }}}}] {{{{ headline }}}}\n\n\
             {{% if {condition} %}}{{{{ no_such_function() }}}}{{% endif %}}{{{{ text }}}}\n"
        ),
    )
    .unwrap();
    let templates = secdesk::outgoing::templates::Templates::load(Some(dir.path())).unwrap();
    assert!(templates.check().is_ok());
    w.desk = secdesk::service::process::Desk::new(w.desk.config.clone(), templates);
}

/// `n` reports, each from a sender of its own (`r{i}@reporter{i}.test`).
fn reports_from_senders(w: &mut World, n: usize) {
    for i in 0..n {
        w.deliver(&stamped(
            "",
            &format!("r{i}@reporter{i}.test"),
            &format!("m{i}@reporter{i}.test"),
            &format!("Report {i}"),
            "x",
        ));
    }
}

/// A suspect mail whose filing began before the summary's moment and committed after
/// the summary went (its events carry the instant the filing began) is in the next
/// day's summary. (Each summary listed the events stamped since the last one's moment:
/// that mail fell between the two, and nobody heard of it.)
#[test]
fn suspect_mail_committed_after_the_summary_it_predates_is_in_the_next() {
    let mut w = World::new();
    w.deliver(&stamped(
        &dmarc_fail("innocent.test"),
        "victim1@innocent.test",
        "late1@spam.test",
        "First",
        "x",
    ));
    // The summary is planned at a pass before its moment.
    w.clock.set(paris(2026, 11, 24, 8, 0));
    assert!(w.run_due().is_empty());
    w.clock.set(paris(2026, 11, 24, 9, 0));
    assert_eq!(w.run_due().len(), 1);
    w.new_mail();
    // Filed with an instant just before the summary's moment, committed after it.
    w.clock.set(paris(2026, 11, 24, 8, 59));
    w.deliver(&stamped(
        &dmarc_fail("innocent.test"),
        "victim2@innocent.test",
        "late2@spam.test",
        "Second",
        "x",
    ));
    w.clock.set(paris(2026, 11, 25, 9, 0));
    assert_eq!(w.run_due().len(), 1);
    let mail = w.new_mail();
    let text = body(&mail[0].bytes);
    assert!(
        text.contains("victim2@innocent.test") && !text.contains("victim1@innocent.test"),
        "{text}"
    );
}

/// A wall clock stepped back over the summary's moment (NTP correcting a clock that ran
/// ahead at boot) does not plan that moment again: the same day's summary went out a
/// second time, listing the same mail (or, nothing new filed, its row could not be
/// marked sent and the desk sent no summary again).
#[test]
fn a_clock_stepped_back_over_the_summarys_moment_sends_it_once() {
    let mut w = World::new();
    w.deliver(&stamped(
        &dmarc_fail("innocent.test"),
        "victim@innocent.test",
        "f1@spam.test",
        "Prize",
        "x",
    ));
    w.run_due();
    w.clock.set(paris(2026, 11, 24, 9, 5));
    assert_eq!(w.run_due().len(), 1);
    assert!(!w.new_mail().is_empty());
    w.clock.set(paris(2026, 11, 24, 8, 30));
    w.run_due();
    w.deliver(&report("r@reporter.test", "Overflow", "x"));
    w.new_mail();
    w.clock.set(paris(2026, 11, 24, 9, 5));
    let fired = w.run_due();
    assert!(fired.is_empty(), "{fired:?}");
    assert!(!w.new_mail().iter().any(|r| r.purpose.as_str() == "digest"));
    // The next day's, once.
    w.deliver(&stamped(
        &dmarc_fail("innocent.test"),
        "victim2@innocent.test",
        "f2@spam.test",
        "Prize again",
        "x",
    ));
    w.clock.set(paris(2026, 11, 25, 9, 0));
    assert_eq!(w.run_due().len(), 1);
    let mail = w.new_mail();
    assert_eq!(
        mail.iter()
            .filter(|r| r.purpose.as_str() == "digest")
            .count(),
        2,
        "{}",
        summarize(&mail)
    );
}

/// A report forged in the name of the announce list, held as suspect and then released
/// with `#notspam`, is acknowledged to nobody: the acknowledgement went to the public list.
#[test]
fn a_suspect_report_from_the_announce_lists_address_released_is_acknowledged_to_nobody() {
    let mut w = World::new();
    w.deliver(&stamped(
        &dmarc_fail("example.org"),
        "announce@example.org",
        "f@x.test",
        "Overflow",
        "x",
    ));
    w.deliver(&team_mail(
        ALICE,
        "rel1@example.org",
        None,
        "release",
        None,
        "#case SEC-2026-0001\r\n#notspam\r\n",
    ));
    let mail = w.new_mail();
    assert!(
        !mail
            .iter()
            .any(|r| r.recipients.iter().any(|a| a == "announce@example.org")),
        "{}",
        summarize(&mail)
    );
}

#[test]
fn one_daily_summary_sanitised_and_never_twice() {
    let mut w = World::new();
    for i in 0..3 {
        w.deliver(&stamped(
            &dmarc_fail("innocent.test"),
            &format!("victim{i}@innocent.test"),
            &format!("f{i}@spam.test"),
            // A control character and a line break, MIME-encoded, in the subject.
            &format!("=?utf-8?q?Prize_{i}=1B[31m=0D=0ABcc:_x@evil.test?="),
            "x",
        ));
    }
    assert!(w.new_mail().is_empty());
    // Before 09:00 the next day: nothing.
    w.clock.set(paris(2026, 11, 24, 8, 59));
    w.run_due();
    assert!(w.new_mail().is_empty());
    w.clock.set(paris(2026, 11, 24, 9, 0));
    let fired = w.run_due();
    assert_eq!(fired.len(), 1, "{fired:?}");
    let mail = w.new_mail();
    assert_eq!(
        summarize(&mail),
        "digest -> alice@example.org | [spam] Attention: 3 suspect mails held in the spam state\ndigest -> bob@example.org | [spam] Attention: 3 suspect mails held in the spam state"
    );
    let text = body(&mail[0].bytes);
    for i in 0..3 {
        let case = format!("SEC-2026-000{}", i + 1);
        assert!(
            text.contains(&format!("{case}  2026-11-23 10:00\n    from:    victim{i}@innocent.test\n    subject: Prize {i} [31m Bcc: x@evil.test\n    why:     mx.example.org says dmarc=fail\n")),
            "{text}"
        );
    }
    assert!(!text.contains('\u{1b}'), "{text:?}");
    // Once: again at the same moment, and after a restart (a new desk on the same file).
    assert!(w.run_due().is_empty());
    w.reconfigure(|t| t);
    assert!(w.run_due().is_empty());
    assert!(w.new_mail().is_empty());
    // A day without suspect mail: no summary, nothing reported.
    w.clock.set(paris(2026, 11, 25, 9, 0));
    assert!(w.run_due().is_empty());
    assert!(w.new_mail().is_empty());
    // The next suspect mail is in the next day's summary, alone.
    w.deliver(&stamped(
        &dmarc_fail("innocent.test"),
        "victim9@innocent.test",
        "f9@spam.test",
        "Again",
        "x",
    ));
    w.clock.set(paris(2026, 11, 26, 9, 0));
    assert_eq!(w.run_due().len(), 1);
    let mail = w.new_mail();
    assert!(
        summarize(&mail).contains("[spam] Attention: 1 suspect mail held in the spam state"),
        "{}",
        summarize(&mail)
    );
    assert!(!body(&mail[0].bytes).contains("victim0"));
    // "none" disables it.
    w.reconfigure(|t| format!("{t}\n[spam]\nsummary = \"none\"\n"));
    w.deliver(&stamped(
        &dmarc_fail("innocent.test"),
        "v@innocent.test",
        "f10@spam.test",
        "x",
        "x",
    ));
    w.clock.set(paris(2026, 11, 27, 9, 0));
    assert!(w.run_due().is_empty());
    assert!(pending_of(&mut w, "*spam").is_empty());
}

/// A summary hour changed in the configuration applies to the summary already planned:
/// it went out once more at the old hour first (the digest's day and hour, and a new
/// time zone, alike).
#[test]
fn a_summary_moved_to_another_hour_goes_at_the_new_one() {
    let mut w = World::new();
    w.deliver(&stamped(
        &dmarc_fail("innocent.test"),
        "v@innocent.test",
        "f1@spam.test",
        "x",
        "x",
    ));
    assert!(w.run_due().is_empty(), "tomorrow 09:00 is planned");
    w.reconfigure(|t| format!("{t}\n[spam]\nsummary = \"18:00\"\n"));
    assert!(w.run_due().is_empty());
    w.clock.set(paris(2026, 11, 23, 18, 0));
    assert_eq!(w.run_due().len(), 1, "at the new hour");
    w.new_mail();
    w.clock.set(paris(2026, 11, 24, 9, 0));
    assert!(w.run_due().is_empty(), "not at the old one");
    assert!(w.new_mail().is_empty());
}

/// Carol's report from a bank whose DMARC failed: quarantined, nobody told; its case id.
fn quarantined_bank_report(w: &mut World) -> String {
    let case = opened(&w.deliver(&stamped(
        &dmarc_fail("bank.test"),
        "Carol <carol@bank.test>",
        "c1@bank.test",
        "Account takeover in the login form",
        "The reset token is predictable.",
    )));
    assert!(w.new_mail().is_empty());
    case
}

/// A quarantined report `#close`d, then `#reopen`ed: it goes back to the spam state,
/// and `#notspam` then releases it with its acknowledgement and embargo. (It came back
/// valid: its reporter never acknowledged, no embargo, and `#notspam` refused.)
#[test]
fn a_quarantined_report_closed_and_reopened_is_spam_again() {
    let mut w = World::new();
    let case = quarantined_bank_report(&mut w);
    let say = |w: &mut World, id: &str, command: &str| {
        let text = format!("#case {case}\r\n{command}");
        w.deliver(&team_mail(ALICE, id, None, "the bank mail", None, &text));
        w.new_mail()
    };
    say(&mut w, "a1@example.org", "#close\r\n");
    let t = body(&first(&say(&mut w, "a2@example.org", "#reopen\r\n"), "transcript").bytes);
    assert!(t.contains("back in the spam state"), "{t}");
    assert_eq!(w.case(&case).status, CaseStatus::Spam);
    let mail = say(&mut w, "a3@example.org", "#notspam\r\n");
    assert!(
        summarize(&mail).contains("ack -> carol@bank.test"),
        "{}",
        summarize(&mail)
    );
    assert!(w.case(&case).embargo_end.is_some());
}

#[test]
fn notspam_releases_and_spam_quarantines() {
    let mut w = World::new();
    let case = quarantined_bank_report(&mut w);
    // The team reads the summary and releases it a day later.
    w.clock.set(paris(2026, 11, 24, 11, 0));
    w.deliver(&team_mail(
        ALICE,
        "a1@example.org",
        None,
        "about the bank mail",
        None,
        &format!("#case {case}\r\n#notspam\r\n"),
    ));
    let mail = w.new_mail();
    let out = summarize(&mail);
    assert!(
        out.contains(
            "ack -> carol@bank.test | Re: [SEC-2026-0001] Account takeover in the login form"
        ),
        "{out}"
    );
    assert!(
        out.contains("team-notice -> alice@example.org | [SEC-2026-0001] New report: Account takeover in the login form"),
        "{out}"
    );
    let ack = first(&mail, "ack");
    assert_header(&ack.bytes, "In-Reply-To", "<c1@bank.test>");
    // The promise counts from the release (Tuesday 11:00 → Friday 17:00), not the arrival.
    let text = body(&ack.bytes);
    assert!(text.contains("Fri 27 Nov 2026, 17:00 CET"), "{text}");
    let notice = first(&mail, "team-notice");
    assert!(body(&notice.bytes).contains("The reset token is predictable."));
    let c = w.case(&case);
    assert_eq!(c.status.as_str(), "new");
    assert!(
        c.embargo_end.is_some(),
        "a released case gets the default embargo"
    );
    assert!(pending_of(&mut w, &case).contains(&"first-response".to_string()));
    // The clock stays counted from the release after any later change of the case.
    w.deliver(&team_mail(
        ALICE,
        "a0@example.org",
        None,
        "severity",
        None,
        &format!("#case {case}\r\n#severity low\r\n"),
    ));
    w.new_mail();
    let first_response: Vec<_> = w
        .store
        .read(|tx| tx.reminders_of(&case))
        .unwrap()
        .into_iter()
        .filter(|r| r.kind == "first-response" && r.state == secdesk::store::ReminderState::Pending)
        .map(|r| r.deadline)
        .collect();
    assert_eq!(first_response, vec![paris(2026, 11, 27, 17, 0)]);
    // Twice is harmless.
    w.deliver(&team_mail(
        ALICE,
        "a2@example.org",
        None,
        "again",
        None,
        &format!("#case {case}\r\n#notspam\r\n"),
    ));
    let out = summarize(&w.new_mail());
    assert!(!out.contains("ack ->"), "{out}");

    // `#spam` sends a normal case to the spam state: its reminders go. (The ack to carol
    // went meanwhile, as the mailer sends it within seconds.)
    all_sent(&mut w);
    w.deliver(&team_mail(
        ALICE,
        "a3@example.org",
        None,
        "junk after all",
        None,
        &format!("#case {case}\r\n#spam\r\n"),
    ));
    let transcript = w.take("transcript");
    assert!(
        body(&transcript.bytes).contains("moved to the spam state; reminders stopped"),
        "{}",
        body(&transcript.bytes)
    );
    assert_eq!(w.case(&case).status.as_str(), "spam");
    assert!(pending_of(&mut w, &case).is_empty());
    // Commands that need an open case say how to get one.
    w.deliver(&team_mail(
        ALICE,
        "a4@example.org",
        None,
        "x",
        None,
        &format!("#case {case}\r\n#valid\r\n#reopen\r\n#publish now\r\n"),
    ));
    let t = body(&w.take("transcript").bytes);
    assert!(t.contains("is spam; `#notspam` it first"), "{t}");
    assert!(t.contains("`#notspam` releases it"), "{t}");
    assert!(
        t.contains("is in the spam state; `#notspam` it first"),
        "{t}"
    );

    // Released again: carol was acknowledged once already, and is not a second time.
    w.deliver(&team_mail(
        ALICE,
        "a5@example.org",
        None,
        "not junk",
        None,
        &format!("#case {case}\r\n#notspam\r\n"),
    ));
    let mail = w.new_mail();
    assert!(of_purpose(&mail, "ack").is_empty(), "{}", summarize(&mail));
    let t = body(&first(&mail, "transcript").bytes);
    assert!(t.contains("not acknowledged: already acknowledged"), "{t}");

    // A machine's mail quarantined, then released: no acknowledgement to a machine.
    let bounce = opened(&w.deliver(&format!(
        "{}Auto-Submitted: auto-replied\r\nFrom: robot@bank.test\r\nTo: {DESK}\r\nSubject: Out of office\r\nMessage-ID: <o1@bank.test>\r\n\r\nAway.\r\n",
        dmarc_fail("bank.test")
    )));
    assert_eq!(w.case(&bounce).status.as_str(), "spam");
    w.deliver(&team_mail(
        ALICE,
        "a6@example.org",
        None,
        "release",
        None,
        &format!("#case {bounce}\r\n#notspam\r\n"),
    ));
    let mail = w.new_mail();
    assert!(of_purpose(&mail, "ack").is_empty(), "{}", summarize(&mail));
    let t = body(&first(&mail, "transcript").bytes);
    assert!(
        t.contains("not acknowledged: the report was sent by a machine"),
        "{t}"
    );
    // The team sees who sent it, and no date to answer by that nothing reminds of.
    assert!(!t.contains("a person answers by"), "{t}");
    let notice = body(&first(&mail, "team-notice").bytes);
    assert!(notice.contains("robot@bank.test"), "{notice}");
    assert!(!notice.contains("Answer by:"), "{notice}");
    // Nor a reporter: no reminder asks the team to answer a machine, and no `#reply`
    // or thanks goes to it. (The release kept the robot as the case's reporter.)
    assert_eq!(w.case(&bounce).reporter, None);
    let reminders = w.store.read(|tx| tx.pending_reminders()).unwrap();
    assert!(
        !reminders
            .iter()
            .any(|r| r.scope == bounce && r.kind == "first-response"),
        "{reminders:?}"
    );
}

/// A report acknowledged on arrival, then put in spam and released by mistake: the
/// reporter was told when a person would answer, and that date stands. (The release
/// started the first-response clock again, so the date the reporter was given passed
/// without a reminder.)
#[test]
fn releasing_an_acknowledged_report_keeps_the_date_it_was_given() {
    let mut w = World::new();
    let notice = w.open_case("Heap overflow");
    // The acknowledgement went (as the mailer sends it within seconds).
    all_sent(&mut w);
    w.new_mail();
    let opened = w.case("SEC-2026-0001").opened_at;
    w.clock.advance(chrono::Duration::days(2));
    w.command(ALICE, "s1@example.org", &notice, "#spam\r\n");
    w.new_mail();
    w.command(ALICE, "s2@example.org", &notice, "#notspam\r\n");
    let t = body(&w.take("transcript").bytes);
    assert!(t.contains("not acknowledged: already acknowledged"), "{t}");
    assert_eq!(w.case("SEC-2026-0001").opened_at, opened);
    let due: Vec<String> = pending_of(&mut w, "SEC-2026-0001");
    let planned = w
        .store
        .read(|tx| tx.pending_reminders())
        .unwrap()
        .into_iter()
        .find(|r| r.kind == "first-response")
        .map(|r| r.deadline);
    let first = secdesk::desk::deadlines::first_response_deadline(
        &w.desk.config.calendar,
        &w.desk.policy(),
        &secdesk::desk::deadlines::CaseTimes {
            reported_at: opened,
            first_reply_at: None,
            embargo_end: None,
            open: true,
            fixed_at: None,
        },
    );
    assert_eq!(planned, Some(first), "{due:?}");
}

/// `#spam` by mistake on a case the team had taken further, then `#notspam`: the case is
/// as it was (status, embargo), and nobody hears of it as a new report. (It came back
/// as new, with a fresh default embargo that refused `#publish`, and a fixed case lost
/// its "not published by the release day" reminder; a case closed as invalid came
/// back open.)
#[test]
fn notspam_puts_a_case_the_team_had_handled_back_as_it_was() {
    let mut w = World::new();
    let notice = w.open_case("Heap overflow");
    w.command(
        ALICE,
        "s1@example.org",
        &notice,
        "#valid\r\n#embargo none\r\n",
    );
    w.new_mail();
    w.command(ALICE, "s2@example.org", &notice, "#spam\r\n");
    w.command(ALICE, "s3@example.org", &notice, "#notspam\r\n");
    let case = w.case("SEC-2026-0001");
    assert_eq!((case.status, case.embargo_end), (CaseStatus::Valid, None));
    let out = w.new_mail();
    assert!(
        out.iter().all(|r| r.purpose.as_str() != "ack"
            && !header(&r.bytes, "Subject").unwrap().contains("New report")),
        "{}",
        summarize(&out)
    );
    w.command(
        ALICE,
        "s4@example.org",
        &notice,
        "#invalid not a bug\r\n#spam\r\n",
    );
    w.command(ALICE, "s5@example.org", &notice, "#notspam\r\n");
    assert_eq!(w.case("SEC-2026-0001").status, CaseStatus::Closed);
}

/// `#spam` by mistake on a new case the team had begun with (`#embargo none`, a
/// `#remind`), then `#notspam`: the team's embargo decision and its reminder stand, and
/// a reporter whose acknowledgement `#spam` withdrew before it went is acknowledged now.
/// (The default embargo came back, the reminder was gone, and the ack never went.)
#[test]
fn notspam_keeps_what_the_team_had_set_on_a_new_case() {
    let mut w = World::new();
    let notice = w.open_case("Heap overflow");
    w.new_mail();
    w.command(
        ALICE,
        "s1@example.org",
        &notice,
        "#embargo none\r\n#remind +5d ping upstream\r\n",
    );
    w.command(ALICE, "s2@example.org", &notice, "#spam\r\n");
    w.new_mail();
    w.command(ALICE, "s3@example.org", &notice, "#notspam\r\n");
    let case = w.case("SEC-2026-0001");
    assert_eq!((case.status, case.embargo_end), (CaseStatus::New, None));
    assert!(
        pending_of(&mut w, "SEC-2026-0001").contains(&"one-off".to_string()),
        "{:?}",
        pending_of(&mut w, "SEC-2026-0001")
    );
    assert_ack_waits_again(&mut w);
}

/// The acknowledgement `#spam` withdrew waits again (the same mail, once), as a case
/// released from the spam state answers its reporter.
fn assert_ack_waits_again(w: &mut World) {
    let acks: Vec<_> = w
        .store
        .read(|tx| tx.outbox_all())
        .unwrap()
        .into_iter()
        .filter(|r| r.purpose.as_str() == "ack")
        .collect();
    assert_eq!(acks.len(), 1, "{acks:?}");
    assert_eq!(
        acks[0].state,
        secdesk::store::OutboxState::Pending,
        "{acks:?}"
    );
    assert_eq!(acks[0].recipients, vec![RITA.to_string()]);
}

/// The same for a case the team had taken past new, which `#notspam` puts back as it
/// was, and for `#spam` and `#notspam` in one mail. (The ack stayed withdrawn.)
#[test]
fn notspam_gives_back_the_acknowledgement_spam_withdrew() {
    let mut w = World::new();
    let notice = w.open_case("Heap overflow");
    w.command(ALICE, "s1@example.org", &notice, "#valid\r\n#spam\r\n");
    assert_eq!(
        w.first_queued("ack").state,
        secdesk::store::OutboxState::Failed
    );
    w.command(ALICE, "s2@example.org", &notice, "#notspam\r\n");
    assert_eq!(w.case("SEC-2026-0001").status, CaseStatus::Valid);
    assert_ack_waits_again(&mut w);

    let mut w = World::new();
    let notice = w.open_case("Heap overflow");
    w.command(ALICE, "s1@example.org", &notice, "#spam\r\n#notspam\r\n");
    assert_ack_waits_again(&mut w);
}

/// `#spam` and `#notspam` in one mail: the case is as it was. (The `#spam` was not stored
/// yet when `#notspam` looked for it, and a fixed case came back as a new report.)
#[test]
fn spam_and_notspam_in_one_mail_leave_the_case_as_it_was() {
    let mut w = World::new();
    let notice = w.open_case("Heap overflow");
    w.command(ALICE, "s1@example.org", &notice, "#valid\r\n#fixed\r\n");
    w.new_mail();
    w.command(ALICE, "s2@example.org", &notice, "#spam\r\n#notspam\r\n");
    assert_eq!(w.case("SEC-2026-0001").status, CaseStatus::Fixed);
    let out = w.new_mail();
    assert!(
        out.iter()
            .all(|r| !header(&r.bytes, "Subject").unwrap().contains("New report")),
        "{}",
        summarize(&out)
    );
}

fn of_purpose<'a>(
    rows: &'a [secdesk::store::OutboxRow],
    purpose: &str,
) -> Vec<&'a secdesk::store::OutboxRow> {
    rows.iter()
        .filter(|r| r.purpose.as_str() == purpose)
        .collect()
}

#[test]
fn the_desk_wide_ack_limit_holds_acks_back_and_tells_the_team_once() {
    let mut w = World::with(
        monday_10(),
        "[policy]\nack_rate_limit_total = \"5 per hour\"\n",
    );
    reports_from_senders(&mut w, 8);
    let mail = w.new_mail();
    let count = |p: &str, to: &str| {
        mail.iter()
            .filter(|r| r.purpose.as_str() == p && r.recipients.iter().any(|x| x.contains(to)))
            .count()
    };
    assert_eq!(count("ack", "reporter"), 5);
    assert_eq!(
        count("team-notice", ALICE),
        8 + 1,
        "every report, and one alert"
    );
    let alerts: Vec<_> = mail
        .iter()
        .filter(|r| {
            header(&r.bytes, "Subject")
                .unwrap_or_default()
                .contains("acknowledgements are held back")
        })
        .collect();
    assert_eq!(alerts.len(), 2, "once per team member");
    // An hour later the window has passed: acks go out again.
    w.clock.set(monday_10() + chrono::Duration::minutes(61));
    w.deliver(&stamped(
        "",
        "late@reporter.test",
        "late@reporter.test",
        "Report late",
        "x",
    ));
    let out = summarize(&w.new_mail());
    assert!(out.starts_with("ack -> late@reporter.test"), "{out}");
}

// ---- end to end, on the real mail stack ------------------------------------------

/// Waits until the desk's inbox holds `n` mails (delivered by Postfix).
fn wait_inbox(stack: &MailStack, n: usize) {
    stack.wait_for(DESK, n, WAIT);
}

#[test]
fn a_flood_of_forged_mail_makes_no_backscatter_and_one_summary() {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().unwrap();
    let pass = Pass::new(&stack, dir.path(), "");
    // The desk opens the empty mailbox once: what arrives next is live mail.
    assert_eq!(pass.run(monday_10()), 0);

    // Real SpamAssassin output for a third of the flood, the receiving server's
    // Authentication-Results for the rest.
    let gtube = spamassassin(&stamped(
        "",
        "victim@innocent.test",
        "gtube@spam.test",
        "Cheap pills",
        GTUBE,
    ));
    let victims: Vec<String> = (0..30)
        .map(|i| format!("victim{i}@innocent.test"))
        .collect();
    for (i, v) in victims.iter().enumerate() {
        let raw = match i % 3 {
            0 => gtube
                .replace("victim@innocent.test", v)
                .replace("gtube@spam.test", &format!("flood{i}@spam.test")),
            1 => stamped(
                &dmarc_fail("innocent.test"),
                v,
                &format!("flood{i}@spam.test"),
                "Verify your account",
                "x",
            ),
            _ => stamped(
                "Authentication-Results: mx.example.org; spf=fail smtp.mailfrom=innocent.test; dkim=pass header.d=spam.test\r\n",
                v,
                &format!("flood{i}@spam.test"),
                "Invoice",
                "x",
            ),
        };
        stack.send(v, &[DESK], raw.as_bytes());
        if i == 15 {
            // A real report in the middle of the flood.
            stack.send(
                RITA,
                &[DESK],
                stamped(
                    AUTH_PASS,
                    RITA,
                    "r1@reporter.test",
                    "Heap overflow in the parser",
                    "x",
                )
                .as_bytes(),
            );
        }
    }
    wait_inbox(&stack, 31);
    pass.run(monday_10());
    assert_eq!(
        pass.count("SELECT COUNT(*) FROM cases WHERE status = 'spam'"),
        30
    );

    // The real report: acknowledged and announced as usual.
    let acks = stack.wait_for(RITA, 1, WAIT);
    assert!(
        header(&acks[0], "Subject")
            .unwrap()
            .contains("Heap overflow in the parser"),
        "{:?}",
        header(&acks[0], "Subject")
    );
    let team = stack.wait_for(ALICE, 1, WAIT);
    assert_eq!(
        team.len(),
        1,
        "one notice: the real report's, none per suspect mail"
    );
    assert!(
        header(&team[0], "Subject")
            .unwrap()
            .contains("New report: Heap overflow")
    );
    // Nothing to the forged senders.
    for v in &victims {
        assert!(stack.fetch_all(v).is_empty(), "{v} got mail");
    }
    assert_eq!(
        pass.count("SELECT COUNT(*) FROM outbox WHERE purpose = 'ack'"),
        1
    );

    // Tuesday 09:00: one summary naming all 30; never a second one.
    let tuesday_9 = paris(2026, 11, 24, 9, 0);
    assert_eq!(pass.run(tuesday_9), 1);
    let team = stack.wait_for(ALICE, 2, WAIT);
    let summary = &team[1];
    assert_eq!(
        header(summary, "Subject").unwrap(),
        "[spam] Attention: 30 suspect mails held in the spam state"
    );
    let text = body(summary);
    for v in &victims {
        assert!(
            text.contains(&format!("from:    {v}\n")),
            "{v} missing in\n{text}"
        );
    }
    assert!(
        text.contains("SpamAssassin score 1000.0 >= threshold 5.0"),
        "{text}"
    );
    assert_eq!(pass.run(tuesday_9), 0);
    assert_eq!(pass.run(paris(2026, 11, 25, 9, 0)), 0, "a day without spam");
    assert_eq!(stack.fetch_all(ALICE).len(), 2);

    // `#notspam` releases one: its sender is acknowledged now.
    let released = pass
        .secdesk(&["cases", "--spam"])
        .lines()
        .find(|l| l.contains("victim4@innocent.test"))
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .to_string();
    send_alice(
        &stack,
        "a1@example.org",
        None,
        "release",
        &format!("#case {released}\r\n#notspam\r\n"),
    );
    wait_inbox(&stack, 32);
    let wednesday = paris(2026, 11, 25, 10, 0);
    pass.run(wednesday);
    let ack = stack.wait_for("victim4@innocent.test", 1, WAIT);
    assert!(
        header(&ack[0], "Subject")
            .unwrap()
            .contains(&format!("[{released}]")),
        "{:?}",
        header(&ack[0], "Subject")
    );
    assert!(!pass.secdesk(&["cases", "--spam"]).contains(&released));

    // `#spam` quarantines the real report: its reminder leaves `secdesk deadlines`.
    let real = pass
        .secdesk(&["cases"])
        .lines()
        .find(|l| l.contains(RITA))
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .to_string();
    let before = pass.secdesk(&["deadlines"]);
    assert!(
        before
            .lines()
            .any(|l| l.contains(&real) && l.contains("first-response")),
        "{before}"
    );
    send_alice(
        &stack,
        "a2@example.org",
        None,
        "junk",
        &format!("#case {real}\r\n#spam\r\n"),
    );
    wait_inbox(&stack, 33);
    pass.run(wednesday);
    let after = pass.secdesk(&["deadlines"]);
    assert!(!after.contains(&real), "{after}");
    assert!(pass.secdesk(&["cases", "--spam"]).contains(&real));
    // The released case's reminders are there instead.
    assert!(after.contains(&released), "{after}");
}

/// The alert that acknowledgements are held back goes even when the team-alert override
/// fails on it: the case's history said "the team was told" and none went, and no other
/// comes in the window.
#[test]
fn the_ack_limit_alert_goes_when_its_template_fails() {
    let mut w = World::with(
        monday_10(),
        "[policy]\nack_rate_limit_total = \"1 per hour\"\n",
    );
    failing_team_alert(&mut w, "\"held back\" in headline");
    reports_from_senders(&mut w, 2);
    let mail = w.new_mail();
    let alerts = mail
        .iter()
        .filter(|r| {
            header(&r.bytes, "Subject")
                .is_some_and(|s| s.contains("acknowledgements are held back"))
        })
        .count();
    assert_eq!(alerts, 2, "one per member: {}", summarize(&mail));
}

#[test]
fn the_desk_wide_ack_limit_holds_under_thirty_senders() {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().unwrap();
    let pass = Pass::new(
        &stack,
        dir.path(),
        "[policy]\nack_rate_limit_total = \"10 per hour\"\n",
    );
    assert_eq!(pass.run(monday_10()), 0);
    let senders: Vec<String> = (0..30).map(|i| format!("r{i}@reporter{i}.test")).collect();
    for (i, s) in senders.iter().enumerate() {
        stack.send(
            s,
            &[DESK],
            stamped(
                "",
                s,
                &format!("m{i}@reporter{i}.test"),
                &format!("Report {i}"),
                "x",
            )
            .as_bytes(),
        );
    }
    wait_inbox(&stack, 30);
    pass.run(monday_10());
    // Sent is not yet delivered: the team's 31 mails, which left after the acks, are
    // waited for first, then the acks polled for until they are all there.
    let team = stack.wait_for(ALICE, 31, WAIT);
    let acked = || {
        senders
            .iter()
            .filter(|s| !stack.fetch_all(s).is_empty())
            .count()
    };
    let deadline = std::time::Instant::now() + WAIT;
    while acked() < 10 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(acked(), 10, "10 acknowledgements per hour, desk-wide");
    assert_eq!(team.len(), 31, "30 reports notified, and one alert");
    let alerts = team
        .iter()
        .filter(|m| {
            header(m, "Subject")
                .unwrap_or_default()
                .contains("acknowledgements are held back")
        })
        .count();
    assert_eq!(alerts, 1);
    assert_eq!(
        pass.count("SELECT COUNT(*) FROM cases WHERE status = 'new'"),
        30
    );
}
