//! Hostile mail: sizes, counts, dates and header tricks meant to lock, blind, fool or
//! leak the desk. Each test names the attack it pins.

use crate::world::*;
use secdesk::desk::MessageKind;
use secdesk::service::process::Processed;

/// Regression: a plain-text report of many short lines took time quadratic in its size
/// while the processing transaction was open (4 MB: about three minutes). This one has
/// two million lines; it takes a few seconds in a debug build now, and would take many
/// minutes with quadratic composing. The bound asserted is on the result, not the time.
#[test]
fn a_report_of_many_short_lines_is_filed_acknowledged_and_relayed_whole() {
    let mut w = World::new();
    let text = "x\n".repeat(2_000_000) + "the end";
    let out = w.deliver(&report("big@reporter.test", "Many lines", &text));
    assert!(
        matches!(out, Processed::Filed { opened: true, .. }),
        "{out:?}"
    );
    let mail = w.new_mail();
    assert!(mail.iter().any(|r| r.purpose.as_str() == "ack"));
    let notice = first(&mail, "team-notice");
    // The notice shows the text's first 256 KiB; the whole mail is attached.
    let body = body(&notice.bytes);
    assert!(
        body.contains("more bytes of text: the whole mail is attached, original.eml]"),
        "{}",
        &body[body.len().saturating_sub(200)..]
    );
    let original = attached_mail(&notice.bytes);
    assert!(original.ends_with(b"the end\r\n"));
    assert!(original.windows(2).filter(|w| w == b"x\n").count() >= 2_000_000);
}

fn transcript_lines(raw: &[u8]) -> Vec<String> {
    body(raw)
        .lines()
        .filter(|l| l.starts_with("line "))
        .map(str::to_string)
        .collect()
}

/// Regression: an authenticated team mail of a million `#assign me` lines kept the desk
/// busy for over twenty minutes. One mail now carries at most 100 commands; the
/// transcript says the rest was ignored.
#[test]
fn a_million_commands_are_capped_and_the_transcript_says_so() {
    let mut w = World::new();
    let notice = w.open_case("Heap overflow");
    let body_text = "#assign me\r\n".repeat(1_000_000);
    let out = w.command(ALICE, "poison@example.org", &notice, &body_text);
    assert!(matches!(out, Processed::Filed { .. }), "{out:?}");
    let transcript = w.take("transcript");
    let lines = transcript_lines(&transcript.bytes);
    assert_eq!(lines.len(), 101, "{lines:?}");
    let text = body(&transcript.bytes);
    assert!(
        text.contains("line 101: #assign me\n  ✗ ignored, with the 999899 command line(s) after it: a mail carries at most 100 commands"),
        "{}",
        text.get(text.len().saturating_sub(2000)..).unwrap_or("")
    );
    assert_eq!(
        w.case("SEC-2026-0001").assignee.as_deref(),
        Some(ALICE),
        "the first hundred still apply"
    );
}

fn transcript_of(w: &mut World) -> String {
    body(&w.take("transcript").bytes)
}

/// Regression: `#embargo 9999-12-31` planned a reminder at `+10000-01-01T08:00:00Z`;
/// every scheduler pass then failed and no reminder of any case was sent again.
#[test]
fn a_far_embargo_is_refused_and_never_stops_other_reminders() {
    let mut w = World::with(paris(2026, 11, 23, 10, 0), "");
    let first = w.open_case("Heap overflow");
    w.command(ALICE, "e1@example.org", &first, "#embargo 9999-12-31\r\n");
    let text = transcript_of(&mut w);
    assert!(
        text.contains(
            "9999-12-31 is more than ten years ahead (the latest is 2036-11-20, or +3650d)"
        ),
        "{text}"
    );
    // The window is the same written either way.
    w.command(
        ALICE,
        "e2@example.org",
        &first,
        "#embargo 2036-11-21\r\n#embargo +3651d\r\n#embargo 2036-11-20\r\n",
    );
    let text = transcript_of(&mut w);
    assert!(text.contains("line 1: #embargo 2036-11-21\n  ✗"), "{text}");
    assert!(text.contains("line 2: #embargo +3651d\n  ✗"), "{text}");
    assert!(
        text.contains("line 3: #embargo 2036-11-20\n  → embargo until"),
        "{text}"
    );
    w.command(
        ALICE,
        "e3@example.org",
        &first,
        "#remind 9999-01-01 look\r\n#remind 1999-01-01 look\r\n#preannounce 9999-01-01\r\n",
    );
    let text = transcript_of(&mut w);
    assert_eq!(text.matches("  ✗").count(), 3, "{text}");

    // A second case's embargo reminders still go out.
    w.deliver(&report("r2@reporter.test", "Second", "Another bug."));
    w.new_mail();
    w.clock.set(paris(2027, 2, 7, 9, 0));
    let fired = w.run_due();
    assert!(
        fired.iter().any(|f| matches!(f, secdesk::service::scheduler::Fired::Sent { scope, kind, .. } if scope == "SEC-2026-0002" && kind.starts_with("embargo"))),
        "{fired:?}"
    );
}

/// Regression: a reminder row an older version wrote with an unreadable instant failed
/// every scheduler pass, `secdesk deadlines` and `calendar`. Now it is set aside (logged,
/// cancelled, noted on its case) and the other reminders go on.
#[test]
fn one_unreadable_reminder_row_never_stops_the_others() {
    let mut w = World::with(paris(2026, 11, 23, 10, 0), "");
    w.open_case("Heap overflow");
    let db = w.desk.config.desk.database.clone();
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute(
        "INSERT INTO reminders (scope, kind, due_at, deadline_at) VALUES ('SEC-2026-0001', 'embargo-overdue', '+10000-01-01T08:00:00Z', '+10000-01-01T00:00:00Z')",
        [],
    )
    .unwrap();
    drop(conn);
    // The listing used by `secdesk deadlines` and `calendar` still works.
    let pending = w.store.read(|tx| tx.pending_reminders()).unwrap();
    assert!(!pending.is_empty());
    assert!(w.store.read(|tx| tx.next_reminder_due()).unwrap().is_some());

    w.clock.set(paris(2026, 11, 26, 17, 0));
    let fired = w.run_due();
    assert!(
        fired
            .iter()
            .any(|f| matches!(f, secdesk::service::scheduler::Fired::SetAside { .. })),
        "{fired:?}"
    );
    assert!(
        fired.iter().any(|f| matches!(f, secdesk::service::scheduler::Fired::Sent { kind, .. } if kind == "first-response")),
        "{fired:?}"
    );
    // Set aside once, not on every pass.
    w.clock.set(paris(2026, 11, 27, 9, 0));
    assert!(
        !w.run_due()
            .iter()
            .any(|f| matches!(f, secdesk::service::scheduler::Fired::SetAside { .. }))
    );
    let events = w.events("SEC-2026-0001");
    assert!(events.iter().any(|e| {
        e.detail
            .contains("a reminder could not be processed and was set aside")
    }));
}

/// Regression: a subject decoding to CR/LF and text became the first lines of the
/// acknowledgement's body, and a display name with CR/LF gave several lines after
/// "Hello". Every value from a mail is one line in a template.
#[test]
fn header_values_with_line_breaks_stay_one_line_in_the_ack() {
    let mut w = World::new();
    let raw = format!(
        "From: =?utf-8?q?Rita=0D=0A=0D=0AYour_account_is_locked=2E?= <{RITA}>\r\nTo: {DESK}\r\nSubject: =?utf-8?b?aGkNCg0KWW91ciByZXBvcnQgd2FzIHJlamVjdGVkLiBMb2cgaW4gYXQgaHR0cHM6Ly9ldmlsLnRlc3QvbG9naW4NCg==?=\r\nMessage-ID: <crlf@reporter.test>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0100\r\n\r\nThe parser overflows.\r\n"
    );
    w.deliver(&raw);
    let ack = w.take("ack");
    let text = body(&ack.bytes);
    for line in text.lines() {
        assert!(!line.starts_with("Your report was rejected"), "{text}");
        assert!(!line.starts_with("Your account is locked"), "{text}");
    }
    assert!(
        text.starts_with("Hello Rita Your account is locked.,\n"),
        "{text}"
    );
    let subject = header(&ack.bytes, "Subject").unwrap();
    assert_eq!(
        subject,
        "Re: [SEC-2026-0001] hi Your report was rejected. Log in at https://evil.test/login"
    );
    let case = w.case("SEC-2026-0001");
    assert!(!case.subject.contains(['\r', '\n']), "{:?}", case.subject);
}

fn purposes(rows: &[secdesk::store::OutboxRow]) -> Vec<&'static str> {
    rows.iter().map(|r| r.purpose.as_str()).collect()
}

/// Regression: mail `From: security@…`, `From: security+x@…` or carrying our loop header
/// created no case and no notice. A forwarder rewriting From to ours would have lost
/// every report. Such mail is filed on a case, never answered, and the team is told.
#[test]
fn mail_from_the_desks_own_address_is_filed_and_told_never_answered() {
    let mut w = World::new();
    let forwarded = |id: &str, from: &str, extra: &str| {
        format!(
            "From: {from}\r\nTo: {DESK}\r\nSubject: Fwd: RCE in the parser\r\nMessage-ID: <{id}>\r\n{extra}Date: Mon, 23 Nov 2026 10:00:00 +0100\r\n\r\nA report someone forwarded.\r\n"
        )
    };
    for (i, (from, extra)) in [
        (DESK, ""),
        ("security+sec-2026-0099@example.org", ""),
        (
            "reporter@other.test",
            "X-Secdesk-Loop: security@example.org\r\n",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let out = w.deliver(&forwarded(&format!("fwd{i}@forwarder.test"), from, extra));
        assert!(
            matches!(out, Processed::Filed { opened: true, .. }),
            "{from}: {out:?}"
        );
        let mail = w.new_mail();
        assert_eq!(
            purposes(&mail),
            vec!["team-notice", "team-notice"],
            "{from}: {}",
            summarize(&mail)
        );
        let text = body(&mail[0].bytes);
        assert!(text.contains("A report someone forwarded."), "{text}");
        assert!(text.contains("not acknowledged"), "{text}");
        // Nobody waits for an answer, yet it is someone's report: `#forward` sends it,
        // as it would a person's (the maintainer got the team's words alone, as if the
        // team had opened the case).
        if i == 0 {
            let notice = mail[0].message_id.to_string();
            w.command(
                ALICE,
                "fw0@example.org",
                &notice,
                "#forward maint@upstream.test\r\nPlease look.\r\n",
            );
            let out = w.new_mail();
            let forward = out
                .iter()
                .find(|r| r.purpose.as_str() == "forward")
                .unwrap_or_else(|| panic!("{}", summarize(&out)));
            assert!(
                body(&forward.bytes).contains("A report someone forwarded."),
                "{}",
                body(&forward.bytes)
            );
        }
    }
    assert_eq!(w.cases().len(), 3);
}

/// Our own mail coming back (a list or forwarder returning it) is filed on its case,
/// never answered, and the team hears of it at most once per case in ten minutes (what
/// a mail reads of its case is that window, not its whole history).
#[test]
fn our_own_mail_coming_back_is_told_once_per_case_and_never_answered() {
    let mut w = World::new();
    let notice = w.open_case("Heap overflow");
    let ours = |n: u32| {
        format!(
            "From: Example Security Team <{DESK}>\r\nTo: list@example.org\r\nSubject: Re: [SEC-2026-0001] Heap overflow\r\nMessage-ID: <sec-2026-0001.team-notice.1795424400000.{n}.42@example.org>\r\nIn-Reply-To: <{notice}>\r\nReferences: <{notice}>\r\nX-Secdesk-Loop: {DESK}\r\nAuto-Submitted: auto-generated\r\n\r\nThe notice.\r\n"
        )
    };
    let out = w.deliver(&ours(1));
    assert!(
        matches!(out, Processed::Filed { opened: false, .. }),
        "{out:?}"
    );
    assert_eq!(purposes(&w.new_mail()), vec!["team-notice", "team-notice"]);
    for n in 2..6 {
        w.deliver(&ours(n));
        assert!(w.new_mail().is_empty(), "told only once");
    }
    w.clock.advance(chrono::Duration::minutes(11));
    w.deliver(&ours(6));
    assert_eq!(purposes(&w.new_mail()), vec!["team-notice", "team-notice"]);
    w.deliver(&ours(7));
    assert!(w.new_mail().is_empty(), "told only once in the window");
    // Our own mail that threads nowhere: a case of its own, the team told, nobody answered.
    let digest = format!(
        "From: Example Security Team <{DESK}>\r\nTo: list@example.org\r\nSubject: [Example Security Team] Weekly digest\r\nMessage-ID: <desk.digest.1795424400000.7.42@example.org>\r\nX-Secdesk-Loop: {DESK}\r\n\r\nThe digest.\r\n"
    );
    assert!(matches!(
        w.deliver(&digest),
        Processed::Filed { opened: true, .. }
    ));
    assert_eq!(purposes(&w.new_mail()), vec!["team-notice", "team-notice"]);
    assert!(matches!(w.deliver(&digest), Processed::Duplicate(_)));
    assert!(w.new_mail().is_empty());
}

fn refusals(w: &mut World) -> Vec<String> {
    w.events("SEC-2026-0001")
        .into_iter()
        .filter(|e| e.kind.as_str() == "refused")
        .map(|e| e.detail)
        .collect()
}

/// Regression: with two `From:` headers the desk used the last one, and a `dmarc=pass`
/// without `header.from` passed for any From. Commands in such mail are refused, and the
/// first From is the one used everywhere.
#[test]
fn two_from_headers_or_an_unaligned_dmarc_pass_never_authenticate_commands() {
    let mut w = World::new();
    let notice = w.open_case("Heap overflow");
    let two_from = |id: &str, first: &str, second: &str| {
        format!(
            "Authentication-Results: mx.example.org; dkim=pass header.d=example.org; dmarc=pass header.from=example.org\r\nFrom: {first}\r\nFrom: {second}\r\nTo: {DESK}\r\nSubject: Re: x\r\nMessage-ID: <{id}>\r\nIn-Reply-To: <{notice}>\r\nReferences: <{notice}>\r\n\r\n#severity critical\r\n"
        )
    };
    w.deliver(&two_from("f1@example.org", ALICE, "mallory@evil.test"));
    assert_eq!(w.case("SEC-2026-0001").severity, None);
    let refused = refusals(&mut w);
    assert!(
        refused
            .iter()
            .any(|r| r.contains("the mail names 2 senders (From); commands need exactly one")),
        "{refused:?}"
    );
    // Mallory first, Alice second: Mallory is the sender, and no team member.
    w.new_mail();
    let out = w.deliver(&two_from("f2@example.org", "mallory@evil.test", ALICE));
    assert!(
        matches!(
            out,
            Processed::Filed {
                kind: MessageKind::Other,
                ..
            }
        ),
        "{out:?}"
    );
    assert_eq!(w.case("SEC-2026-0001").severity, None);

    // dmarc=pass without header.from, or for another domain, is no authentication.
    for (n, auth) in [
        "mx.example.org; dkim=none; dmarc=pass",
        "mx.example.org; dkim=none; dmarc=pass header.from=evil.test",
    ]
    .into_iter()
    .enumerate()
    {
        w.deliver(&team_mail(
            ALICE,
            &format!("d{n}@example.org"),
            Some(&notice),
            "Re: x",
            Some(auth),
            "#severity critical",
        ));
        assert_eq!(w.case("SEC-2026-0001").severity, None, "{auth}");
    }
    assert_eq!(refusals(&mut w).len(), 3);
}

/// A report of about `mb` megabytes: a short text and a binary proof of concept, base64.
pub fn big_report(id: &str, mb: usize) -> String {
    let line = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0\r\n";
    let lines = mb * 1024 * 1024 / line.len();
    let mut raw = format!(
        "From: Rita Reporter <{RITA}>\r\nTo: {DESK}\r\nSubject: Big proof\r\nMessage-ID: <{id}>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0100\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\nThe proof is attached.\r\n--b1\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"poc.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    );
    raw.reserve(lines * line.len() + 16);
    for _ in 0..lines {
        raw.push_str(line);
    }
    raw.push_str("--b1--\r\n");
    raw
}

/// A plain report of two megabytes of Cyrillic text: each team notice carried the whole
/// text in quoted-printable, three bytes for each, about three times the report: past a
/// relay's size limit for a report of a few megabytes, refused after the reporter was
/// acknowledged, and the team told of nothing. A notice now carries the text's first
/// 256 KiB, says so, and has the original attached (so a notice refused for its size is
/// sent again without it).
#[test]
fn a_long_report_reaches_the_team_cut_short_with_the_original_attached() {
    use mail_parser::MimeHeaders;
    let mut w = World::new();
    let text = "Журнал ошибок: переполнение буфера в разборщике.\r\n".repeat(22_000);
    let raw = format!(
        "From: Rita Reporter <{RITA}>\r\nTo: {DESK}\r\nSubject: Long log\r\nMessage-ID: <long@reporter.test>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0100\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{text}"
    );
    assert!(raw.len() > 2_000_000, "{}", raw.len());
    w.deliver(&raw);
    let rows = w.new_mail();
    assert_eq!(purposes(&rows), vec!["ack", "team-notice", "team-notice"]);
    for notice in rows.iter().filter(|r| r.purpose.as_str() == "team-notice") {
        assert!(
            notice.bytes.len() < raw.len() * 3 / 2 + 512 * 1024,
            "{} bytes for a report of {}",
            notice.bytes.len(),
            raw.len()
        );
        let shown = body(&notice.bytes);
        assert!(shown.len() < 300 * 1024, "{} bytes of text", shown.len());
        assert!(
            shown.contains("Журнал ошибок"),
            "the text's beginning is shown"
        );
        assert!(
            shown.contains("more bytes of text: the whole mail is attached, original.eml]"),
            "{}",
            &shown[shown.len() - 300..]
        );
        let parsed = mail_parser::MessageParser::default()
            .parse(&notice.bytes[..])
            .unwrap();
        let attached = parsed.attachment(0).expect("the original is attached");
        assert_eq!(attached.attachment_name(), Some("original.eml"));
    }
}

/// 8-bit text in no declared charset (an old `mail` command, a script): the parser shows
/// each byte it cannot read as U+FFFD, and the team saw only that, the original not
/// attached to a plain-text report. It is attached now: the team reads the bytes sent.
#[test]
fn a_report_in_an_undeclared_charset_reaches_the_team_with_its_original() {
    let mut w = World::new();
    let mut raw = format!(
        "From: {RITA}\r\nTo: {DESK}\r\nSubject: Faille\r\nMessage-ID: <latin1@reporter.test>\r\n\r\n"
    )
    .into_bytes();
    raw.extend_from_slice(b"Le d\xe9bordement est dans l'analyseur.\r\n");
    w.deliver_bytes(&raw);
    let rows = w.new_mail();
    let notices: Vec<_> = rows
        .iter()
        .filter(|r| r.purpose.as_str() == "team-notice")
        .collect();
    assert_eq!(notices.len(), 2);
    for n in notices {
        assert!(body(&n.bytes).contains('\u{fffd}'), "{}", body(&n.bytes));
        assert!(n.carries_attachments, "the original is attached");
        let parsed = mail_parser::MessageParser::default()
            .parse(&n.bytes[..])
            .unwrap();
        let attached = parsed.attachment(0).expect("the original is attached");
        let bytes = match attached.message() {
            Some(m) => m.raw_message().to_vec(),
            None => attached.contents().to_vec(),
        };
        assert!(
            bytes.windows(3).any(|w| w == b"d\xe9b"),
            "the bytes as sent: {}",
            String::from_utf8_lossy(&bytes)
        );
    }
}

/// A mail claiming a member's address, not authenticated, with a megabyte of text: the
/// team's relay of it carried the text whole (anyone can send such a claim, of any
/// size; a relay refused for its size is told to nobody). It is cut as every notice is.
#[test]
fn a_forged_claims_relay_is_cut_as_every_notice_is() {
    let mut w = World::new();
    let notice = w.open_case("Heap overflow");
    // A person's pace: a quick answer without commands is taken for a responder.
    w.clock.advance(chrono::Duration::minutes(5));
    let text = "Forged words, many of them, to fill the team's mailboxes.\r\n".repeat(20_000);
    w.deliver(&team_mail(
        ALICE,
        "forged@example.org",
        Some(&notice),
        "Re: x",
        Some("evil.example; dkim=pass header.d=example.org"),
        &text,
    ));
    let out = w.new_mail();
    let relays: Vec<_> = out
        .iter()
        .filter(|r| r.purpose.as_str() == "team-notice")
        .collect();
    assert!(!relays.is_empty(), "{}", summarize(&out));
    for r in relays {
        let shown = body(&r.bytes);
        assert!(shown.len() < 300 * 1024, "{} bytes", shown.len());
        assert!(shown.contains("the whole mail stays in the desk's mailbox]"));
    }
}

/// Regression: every sent copy of a big report was kept whole forever (each team notice
/// carries the report): a 30 MB report left 60 MB more in the outbox. A sent row keeps
/// its headers; the report itself stays once, in the raw mail.
#[test]
fn a_big_report_is_kept_once_after_its_notices_are_sent() {
    let mut w = World::new();
    let raw = big_report("big30@reporter.test", 30);
    w.deliver(&raw);
    let rows = w.new_mail();
    assert_eq!(purposes(&rows), vec!["ack", "team-notice", "team-notice"]);
    assert!(rows.iter().any(|r| r.bytes.len() > 30_000_000));
    let now = w.clock_now();
    w.store
        .write(|tx| {
            for r in &rows {
                tx.mark_sent(r.id, now)?;
            }
            Ok(())
        })
        .unwrap();
    let after = w.store.read(|tx| tx.outbox_all()).unwrap();
    let kept: usize = after.iter().map(|r| r.bytes.len()).sum();
    assert!(kept < 64 * 1024 * 3, "{kept} bytes kept in the outbox");
    for r in &after {
        assert!(header(&r.bytes, "Message-ID").is_some());
        assert!(header(&r.bytes, "Subject").is_some());
    }
}

/// Issue 12: while a report's notices wait to be sent, the outbox holds none of its
/// bytes (each member's notice refers to the report stored once, instead of carrying a
/// copy), and every notice reads back with the report whole.
#[test]
fn a_report_is_stored_once_while_its_notices_wait() {
    let mut w = World::new();
    let raw = big_report("big1@reporter.test", 1);
    w.deliver(&raw);
    let rows = w.new_mail();
    assert_eq!(purposes(&rows), vec!["ack", "team-notice", "team-notice"]);
    let conn = rusqlite::Connection::open(&w.desk.config.desk.database).unwrap();
    let stored: i64 = conn
        .query_row("SELECT SUM(length(bytes)) FROM outbox", [], |r| r.get(0))
        .unwrap();
    assert!(
        stored < 64 * 1024,
        "{stored} bytes in the outbox for a {}-byte report",
        raw.len()
    );
    // Read again (a retry), each mail is the very same bytes.
    let again = w.store.read(|tx| tx.outbox_all()).unwrap();
    assert_eq!(again.len(), rows.len());
    for (first, second) in rows.iter().zip(&again) {
        assert!(first.bytes == second.bytes, "row {} changed", first.id);
    }
    for notice in rows.iter().filter(|r| r.purpose.as_str() == "team-notice") {
        let original = attached_mail(&notice.bytes);
        assert!(
            original.trim_ascii_end() == raw.as_bytes().trim_ascii_end(),
            "the report comes back byte for byte"
        );
    }
}

/// An alert carrying an unreadable mail that the relay refuses for its size keeps no
/// copy of that mail: each member's row kept it whole, for good (a stranger's mail a few
/// times an hour grew the database by gigabytes a day).
#[test]
fn an_alert_refused_for_its_size_keeps_no_copy_of_the_mail_it_carried() {
    let mut w = World::new();
    let pad = "a".repeat(40_000);
    let body = "\u{e9}t\u{e9} ".repeat(300_000);
    w.deliver(&format!(
        "From: {RITA}\r\nTo: {DESK}\r\nSubject: big\r\nMessage-ID: <unread1@reporter.test>\r\nX-Pad: {pad}\r\n\r\n{body}\r\n"
    ));
    let rows: Vec<_> = w
        .new_mail()
        .into_iter()
        .filter(|r| r.purpose.as_str() == "team-notice")
        .collect();
    assert!(!rows.is_empty());
    let now = w.clock_now();
    let desk = &w.desk;
    for row in &rows {
        w.store
            .write(|tx| {
                desk.delivery_failed(tx, row, "552 5.3.4 Message size exceeds fixed limit", now)
            })
            .unwrap();
    }
    let conn = rusqlite::Connection::open(&w.desk.config.desk.database).unwrap();
    let kept: i64 = conn
        .query_row(
            "SELECT SUM(length(bytes)) FROM outbox WHERE state = 'failed'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(kept < 64 * 1024 * rows.len() as i64, "{kept} bytes kept");
}

/// Processes one 30 MB report and nothing else: run alone under `/usr/bin/time -v` to
/// see the peak memory of processing it (the figures are in the README).
/// `SECDESK_PEAK_MB=50` measures another size.
#[test]
fn peak_memory_of_a_30_mb_report() {
    let mb = std::env::var("SECDESK_PEAK_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let mut w = World::new();
    let out = w.deliver(&big_report("rss@reporter.test", mb));
    assert!(
        matches!(out, Processed::Filed { opened: true, .. }),
        "{out:?}"
    );
}

/// Regression: `#embargo none` left a reminder planned at `+10000-01-01…` pending, since
/// `+` sorts before `2`. Replanning now cancels such rows too.
#[test]
fn embargo_none_cancels_a_far_reminder_an_older_version_planned() {
    let mut w = World::with(paris(2026, 11, 23, 10, 0), "");
    let notice = w.open_case("Heap overflow");
    let db = w.desk.config.desk.database.clone();
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute(
        "INSERT INTO reminders (scope, kind, due_at, deadline_at) VALUES ('SEC-2026-0001', 'embargo-overdue', '+10000-01-01T08:00:00Z', '+10000-01-01T00:00:00Z')",
        [],
    )
    .unwrap();
    w.command(ALICE, "n1@example.org", &notice, "#embargo none\r\n");
    let state: String = conn
        .query_row(
            "SELECT state FROM reminders WHERE due_at LIKE '+%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(state, "cancelled");
}
