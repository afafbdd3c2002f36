//! Team commands by mail, against the desk logic and SQLite.

use crate::world::*;
use chrono::{Duration, NaiveDate};
use secdesk::desk::MessageKind;
use secdesk::service::process::Processed;
use secdesk::types::{CaseStatus, ReferenceKind, ReferenceType, Severity};

/// A member's fresh mail under one case's tag, the other case's report attached as
/// evidence, acts on the tagged case: its `#reply` went to the attached report's sender,
/// with the other case's words (the attached mail's Message-ID threaded it first).
/// A `#reply` from a mail with a file attached says the file did not go: the reporter
/// got the words ("please test the attached patch") without the patch, and the
/// transcript said "sent". So does `#forward`.
/// `#reopen` of a case closed before anyone confirmed it gives it back as new: it read
/// "valid", a verdict nobody gave, and a later `#valid` answered "already valid" and
/// never recorded the confirmation the published timeline shows. One confirmed before
/// its close is valid again.
#[test]
fn reopen_gives_back_the_triage_the_case_had() {
    let mut w = World::new();
    let notice = w.open_case("Heap overflow");
    w.command(ALICE, "c1@example.org", &notice, "#invalid not ours\r\n");
    w.command(ALICE, "c2@example.org", &notice, "#reopen\r\n");
    assert_eq!(w.case("SEC-2026-0001").status, CaseStatus::New);
    w.command(ALICE, "c3@example.org", &notice, "#valid\r\n#close\r\n");
    w.command(ALICE, "c4@example.org", &notice, "#reopen\r\n");
    assert_eq!(w.case("SEC-2026-0001").status, CaseStatus::Valid);
    let confirmed = w
        .events("SEC-2026-0001")
        .iter()
        .filter(|e| e.detail.contains("confirmed as a vulnerability"))
        .count();
    assert_eq!(confirmed, 1);
}

#[test]
fn a_reply_or_forward_says_the_members_files_did_not_go() {
    let mut w = World::new();
    let notice = w.open_case("Heap overflow");
    for (n, command) in ["#reply", "#forward maint@upstream.test"]
        .into_iter()
        .enumerate()
    {
        let text = format!(
            "--b\r\nContent-Type: text/plain\r\n\r\n{command}\r\n\
             Please test the attached patch.\r\n--b\r\n\
             Content-Type: text/x-diff; name=fix.patch\r\n\
             Content-Disposition: attachment; filename=fix.patch\r\n\r\n--- a\r\n+++ b\r\n--b--"
        );
        let id = format!("t{n}@example.org");
        let mail = team_mail(ALICE, &id, Some(&notice), "Re: x", None, &text).replace(
            &format!("Message-ID: <{id}>\r\n"),
            &format!("Message-ID: <{id}>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n"),
        );
        w.deliver(&mail);
        let transcript = body(&w.take("transcript").bytes);
        assert!(
            transcript.contains("fix.patch") && transcript.contains("did not go"),
            "{command}: {transcript}"
        );
    }
}

#[test]
fn a_reply_under_a_cases_tag_with_another_report_attached_reaches_its_own_reporter() {
    let mut w = World::new();
    w.open_case("Heap overflow");
    w.deliver(
        &report("c1@other.test", "Heap overflow too", "Same bug.")
            .replace(RITA, "carol@other.test"),
    );
    w.new_mail();
    let body = "--b\r\nContent-Type: text/plain\r\n\r\n#reply\r\nHi Carol, this was reported before.\r\n\
                --b\r\nContent-Type: message/rfc822\r\n\r\n\
                From: Rita Reporter <rita@reporter.test>\r\nMessage-ID: <r1@reporter.test>\r\n\
                Subject: Heap overflow\r\n\r\nThe parser overflows.\r\n--b--";
    let mail = team_mail(ALICE, "t1@example.org", None, "[SEC-2026-0002] duplicate", None, body)
        .replace(
            "Message-ID: <t1@example.org>\r\n",
            "Message-ID: <t1@example.org>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n",
        );
    w.deliver(&mail);
    let replies: Vec<String> = w
        .new_mail()
        .iter()
        .filter(|r| r.purpose.as_str() == "reply")
        .map(|r| r.recipients.join(","))
        .collect();
    assert_eq!(replies, vec!["carol@other.test".to_string()]);
}

#[test]
fn the_issue_example_end_to_end() {
    let mut w = World::new();
    let notice = w.open_case("Heap overflow in the parser");
    let mail_body = "#assign me\r\n#severity high\r\n#cve requested\r\n#embargo 2027-03-01\r\n#reply\r\nThanks for the report — we reproduced it and are working on a fix.\r\n\r\nOn Mon, 23 Nov 2026 at 10:00, Security Team <security@example.org> wrote:\r\n> #close\r\n> A new report arrived\r\n";
    let filed = w.deliver(&team_mail(
        ALICE,
        "a1@example.org",
        Some(&notice),
        "Re: [SEC-2026-0001] New report: Heap overflow in the parser",
        None,
        mail_body,
    ));
    assert!(
        matches!(
            filed,
            Processed::Filed {
                opened: false,
                kind: MessageKind::Team,
                ..
            }
        ),
        "{filed:?}"
    );
    let out = w.new_mail();
    assert_eq!(
        summarize(&out),
        "reply -> rita@reporter.test | Re: [SEC-2026-0001] Heap overflow in the parser\n\
         transcript -> alice@example.org | Re: [SEC-2026-0001] Heap overflow in the parser\n\
         team-notice -> bob@example.org | [SEC-2026-0001] Team: Heap overflow in the parser"
    );
    // The reporter gets only the text after the block, from security@, threaded.
    let reply = &out[0].bytes;
    let text = body(reply);
    assert!(
        text.starts_with("Thanks for the report — we reproduced it and are working on a fix.\n"),
        "{text}"
    );
    for secret in ["#assign", "alice@", "A new report arrived", "#close"] {
        assert!(
            !String::from_utf8_lossy(reply).contains(secret),
            "reply leaks {secret:?}"
        );
    }
    assert_header(reply, "In-Reply-To", "<r1@reporter.test>");
    assert_header(
        reply,
        "From",
        "\"Example Security Team\" <security@example.org>",
    );
    assert_header(reply, "Auto-Submitted", "no");
    // The transcript echoes each command with its result.
    let transcript = body(&out[1].bytes);
    for expected in [
        "line 1: #assign me\n  → assigned to alice@example.org",
        "line 2: #severity high\n  → severity set to high",
        "line 3: #cve requested\n  → CVE marked as requested",
        "line 4: #embargo 2027-03-01\n  → embargo until Mon 1 Mar 2027, 00:00 CET (Europe/Paris); reminders follow it",
        "line 5: #reply\n  → sent to the reporter (rita@reporter.test) from security@example.org: \
         1 line of text, the last “Thanks for the report — we reproduced it and are working on a fix.”",
    ] {
        assert!(
            transcript.contains(expected),
            "missing {expected:?} in\n{transcript}"
        );
    }
    let case = w.case("SEC-2026-0001");
    assert_eq!(case.assignee.as_deref(), Some(ALICE));
    assert_eq!(case.severity, Some(Severity::High));
    assert!(case.cve_requested);
    assert_eq!(case.embargo_end, NaiveDate::from_ymd_opt(2027, 3, 1));
    assert_eq!(case.first_reply_at, Some(w.clock_now()));
    assert_eq!(
        case.status,
        CaseStatus::New,
        "the quoted #close was not read"
    );
}

/// A patch pasted below `#reply` starts with a header block (`From:`, `Date:`,
/// `Subject:`), which is cut as a quoted mail's would be: the sender is told how much
/// went and where it ended, so a cut they did not mean is seen, not silent.
#[test]
fn the_transcript_says_where_the_text_sent_ends() {
    let mut w = World::new();
    let notice = w.open_case("Heap overflow in the parser");
    w.deliver(&team_mail(
        ALICE,
        "a1@example.org",
        Some(&notice),
        "Re: [SEC-2026-0001] New report: Heap overflow in the parser",
        None,
        "#reply\r\nHi Rita, could you test this patch against your proof of concept?\r\n\r\n\
         From 3f2a9c1 Mon Sep 17 00:00:00 2001\r\nFrom: Alice <alice@example.org>\r\n\
         Date: Mon, 23 Nov 2026 10:00:00 +0000\r\nSubject: [PATCH] parser: bound the header length\r\n\
         ---\r\n diff\r\n",
    ));
    let out = w.new_mail();
    let transcript = body(&first(&out, "transcript").bytes);
    let told = "sent to the reporter (rita@reporter.test) from security@example.org: 2 lines of \
                text, the last “From 3f2a9c1 Mon Sep 17 00:00:00 2001”; what your mail had below \
                it was taken for quoted mail or a signature, and not sent";
    assert!(transcript.contains(told), "{transcript}");
}

#[test]
fn a_forged_team_mail_runs_nothing_and_the_team_is_told() {
    let mut w = World::new();
    let notice = w.open_case("Heap overflow in the parser");
    for (i, auth) in [
        Some("evil.example; dkim=pass header.d=example.org"),
        Some("mx.example.org; dkim=fail header.d=example.org; dmarc=fail header.from=example.org"),
        Some("mx.example.org; dkim=pass header.d=attacker.test"),
    ]
    .into_iter()
    .enumerate()
    {
        let body = "#close\r\n#reply\r\nPlease send the exploit to me.\r\n";
        let filed = w.deliver(&team_mail(
            ALICE,
            &format!("forged{i}@example.org"),
            Some(&notice),
            "Re: x",
            auth,
            body,
        ));
        // Recorded as unauthenticated: never as the member's own mail.
        assert!(
            matches!(
                filed,
                Processed::Filed {
                    kind: MessageKind::Unauthenticated,
                    ..
                }
            ),
            "{filed:?}"
        );
        let out = w.new_mail();
        assert_eq!(
            summarize(&out),
            "team-notice -> alice@example.org | [SEC-2026-0001] Attention: unauthenticated commands from alice@example.org refused\nteam-notice -> bob@example.org | [SEC-2026-0001] Attention: unauthenticated commands from alice@example.org refused",
            "case {i}"
        );
        assert!(body_text(&out[0]).contains("None of its commands ran"));
    }
    assert_eq!(w.case("SEC-2026-0001").status, CaseStatus::New);
    assert!(w.case("SEC-2026-0001").first_reply_at.is_none());

    // Forged commands that name no case (no thread, no tag, no #new) are told too: an
    // impersonation attempt is never silent.
    let filed = w.deliver(&team_mail(
        ALICE,
        "forged-nocase@example.org",
        None,
        "hello",
        Some("mx.example.org; dkim=fail header.d=example.org; dmarc=fail header.from=example.org"),
        "#case SEC-2026-0099\r\n#close\r\n",
    ));
    assert!(matches!(filed, Processed::Unfiled(_)), "{filed:?}");
    let out = w.new_mail();
    assert_eq!(
        out.iter().map(|r| r.purpose.as_str()).collect::<Vec<_>>(),
        vec!["team-notice", "team-notice"],
        "{}",
        summarize(&out)
    );
    assert!(body_text(&out[0]).contains("None of its commands ran"));
}

/// A mail that threads into one case while its `#case` names another does nothing: the
/// member meant the case they named, and a `#reply` or `#close` on the other one would
/// reach the wrong reporter or end the wrong case. (Only the `#case` line failed; the
/// rest ran on the case the mail threaded into.)
#[test]
fn a_case_line_naming_another_case_stops_the_whole_block() {
    let mut w = World::new();
    w.open_report("r1@reporter.test", "First report", "one");
    let second = w.open_report("r2@reporter.test", "Second report", "two");
    w.new_mail();
    w.command(
        ALICE,
        "wrong@example.org",
        &second,
        "#case SEC-2026-0001\r\n#close\r\n#reply\r\nThe fix for your report is in 1.2.3.\r\n",
    );
    let out = w.new_mail();
    assert!(
        out.iter().all(|r| r.purpose.as_str() != "reply"),
        "a reply went out: {}",
        summarize(&out)
    );
    assert_ne!(w.case("SEC-2026-0002").status, CaseStatus::Closed);
    let t = body_text(first(&out, "transcript"));
    assert!(
        t.contains("this mail belongs to SEC-2026-0002, not SEC-2026-0001"),
        "{t}"
    );
    for line in ["#close", "#reply"] {
        assert!(t.contains(&format!("{line}\n  ✗ not done:")), "{t}");
    }
}

/// The same with a `#case` (or `#new`) line the desk cannot read: a case id with its
/// title after it, one digit short, `#new` with words after it. The line failed alone,
/// and the `#close` and `#reply` meant for another case ran on this one: a reply to the
/// wrong reporter.
#[test]
fn a_case_or_new_line_that_cannot_be_read_stops_the_whole_block() {
    for (n, line) in [
        "#case SEC-2026-0001 (the first report)",
        "#case SEC-2026-001",
        "#new: a separate bug",
    ]
    .into_iter()
    .enumerate()
    {
        let mut w = World::new();
        w.open_report("r1@reporter.test", "First report", "one");
        let second = w.open_report("r2@reporter.test", "Second report", "two");
        w.new_mail();
        w.command(
            ALICE,
            &format!("bad{n}@example.org"),
            &second,
            &format!("{line}\r\n#close\r\n#reply\r\nThe fix for your report is in 1.2.3.\r\n"),
        );
        let out = w.new_mail();
        assert!(
            out.iter().all(|r| r.purpose.as_str() != "reply"),
            "{line}: a reply went out: {}",
            summarize(&out)
        );
        assert_ne!(w.case("SEC-2026-0002").status, CaseStatus::Closed, "{line}");
        let t = body_text(first(&out, "transcript"));
        for cmd in ["#close", "#reply"] {
            assert!(t.contains(&format!("{cmd}\n  ✗ not done:")), "{line}: {t}");
        }
    }
}

/// Forged commands that name no case share the hourly alert budget: a flood of them
/// tells the team five times, not once per forged mail.
#[test]
fn a_flood_of_forged_commands_naming_no_case_is_told_five_times_an_hour() {
    let mut w = World::new();
    let mut told = 0;
    for n in 0..8 {
        w.deliver(&team_mail(
            ALICE,
            &format!("forged{n}@example.org"),
            None,
            "hello",
            Some("mx.example.org; dkim=fail header.d=example.org; dmarc=fail header.from=example.org"),
            "#case SEC-2026-0099\r\n#close\r\n",
        ));
        told += w.new_mail().len();
    }
    assert_eq!(told, 5 * 2, "five alerts to each of the two members");
}

/// A pre-announcement names a coming advisory: a case closed as invalid, in spam, or
/// already published has none to announce, and `#preannounce` there says so.
#[test]
fn preannounce_needs_an_open_case() {
    let mut w = World::new();
    let notice = w.open_case("Heap overflow in the parser");
    w.command(
        ALICE,
        "a1@example.org",
        &notice,
        "#package example-parser\r\n#invalid not a bug\r\n",
    );
    w.new_mail();
    w.command(
        ALICE,
        "a2@example.org",
        &notice,
        "#preannounce 2026-12-10\r\n",
    );
    let out = w.new_mail();
    assert!(
        out.iter().all(|r| r.purpose.as_str() != "preannounce"),
        "{}",
        summarize(&out)
    );
    let t = body_text(first(&out, "transcript"));
    assert!(
        t.contains("SEC-2026-0001 is closed; `#reopen` it first"),
        "{t}"
    );
}

fn body_text(row: &secdesk::store::OutboxRow) -> String {
    body(&row.bytes)
}

#[test]
fn a_typo_gets_a_helpful_transcript_and_the_rest_still_applies() {
    let mut w = World::new();
    let notice = w.open_case("Heap overflow in the parser");
    let body = "#asign me\r\n#severity hgh\r\n#valid\r\n#embargo 2027-02-30\r\n";
    w.command(BOB, "b1@example.org", &notice, body);
    let out = w.new_mail();
    let transcript = body_text(first(&out, "transcript"));
    assert!(
        transcript
            .contains("line 1: #asign me\n  ✗ unknown command `#asign` — did you mean `#assign`?"),
        "{transcript}"
    );
    assert!(
        transcript.contains("line 2: #severity hgh\n  ✗ `#severity`"),
        "{transcript}"
    );
    assert!(
        transcript.contains("line 3: #valid\n  → marked valid"),
        "{transcript}"
    );
    assert!(
        transcript.contains("line 4: #embargo 2027-02-30\n  ✗"),
        "{transcript}"
    );
    assert!(
        transcript.contains("Lines marked ✗ changed nothing"),
        "{transcript}"
    );
    let case = w.case("SEC-2026-0001");
    assert_eq!(case.status, CaseStatus::Valid);
    assert_eq!(case.assignee, None);
    assert_eq!(case.severity, None);
}

#[test]
fn forward_round_trip_threads_the_maintainers_answer_back() {
    let mut w = World::new();
    let notice = w.open_case("Heap overflow in the parser");
    w.command(
        ALICE,
        "a1@example.org",
        &notice,
        "#forward maintainer@upstream.test\r\nCould you have a look?\r\n",
    );
    let out = w.new_mail();
    let fwd = first(&out, "forward");
    assert_eq!(fwd.recipients, vec!["maintainer@upstream.test".to_string()]);
    let text = body_text(fwd);
    assert!(
        text.contains("Could you have a look?") && text.contains("The parser overflows."),
        "{text}"
    );
    // The embargo's end with its hour and zone: a maintainer some hours east, reading a
    // bare date, would publish that many hours early.
    let end = w.case("SEC-2026-0001").embargo_end.unwrap();
    let until = format!(
        "Embargo:  until {}, 00:00 CET (Europe/Paris)",
        end.format("%a %-d %b %Y")
    );
    assert!(text.contains(&until), "{until}\n{text}");
    // The maintainer answers; the reply threads into the case and reaches the team.
    let answer = format!(
        "From: maintainer@upstream.test\r\nTo: security+sec-2026-0001@example.org\r\nSubject: Re: [SEC-2026-0001] Security report for your attention\r\nMessage-ID: <m1@upstream.test>\r\nIn-Reply-To: {}\r\n\r\nConfirmed, fix coming.\r\n",
        fwd.message_id.bracketed()
    );
    assert!(filed_as(&w.deliver(&answer), false, MessageKind::Upstream));
    assert_eq!(
        summarize(&w.new_mail()),
        "team-notice -> alice@example.org | [SEC-2026-0001] Upstream: Heap overflow in the parser\nteam-notice -> bob@example.org | [SEC-2026-0001] Upstream: Heap overflow in the parser"
    );
}

/// A note under `#forward` that is all taken for quoted mail (here a forward's header
/// block) goes nowhere: the transcript says so (it said "forwarded", nothing more, and
/// the member thought the maintainer had their words).
#[test]
fn a_forward_note_all_taken_for_quoted_mail_is_said_to_be_left_out() {
    let mut w = World::new();
    let notice = w.open_case("Heap overflow in the parser");
    w.command(
        ALICE,
        "a1@example.org",
        &notice,
        "#forward maintainer@upstream.test\r\nFrom: Bob Member <bob@example.org>\r\nSent: Monday, November 23, 2026 10:00\r\nTo: Alice <alice@example.org>\r\nSubject: the parser\r\n\r\nInternal: low severity, I think.\r\n",
    );
    let out = w.new_mail();
    assert!(
        !body_text(first(&out, "forward")).contains("Internal"),
        "the quoted mail went to the maintainer"
    );
    let transcript = body_text(first(&out, "transcript"));
    assert!(
        transcript.contains(
            "no text of yours went with it: what followed your commands was taken for quoted mail"
        ),
        "{transcript}"
    );
    // A plain `#forward` over the client's quote of the notice, or a signature, left
    // nothing of the member's out: no such word.
    for (n, below) in [
        "\r\nOn Mon, 23 Nov 2026 at 10:00, Security Desk <security@example.org> wrote:\r\n> A new report arrived.\r\n",
        "\r\n-- \r\nAlice\r\n",
    ]
    .into_iter()
    .enumerate()
    {
        w.command(
            ALICE,
            &format!("p{n}@example.org"),
            &notice,
            &format!("#forward maintainer@upstream.test{below}"),
        );
        let transcript = body_text(first(&w.new_mail(), "transcript"));
        assert!(!transcript.contains("no text of yours"), "{transcript}");
    }
}

/// `#forward` on a case the team opened itself (`#new`): the maintainer gets the words
/// the member wrote for them, never the member's own mail that opened the case (its
/// commands, its internal remarks, what it quoted). The transcript says so.
#[test]
fn forward_of_a_case_the_team_opened_sends_only_the_words_for_the_maintainer() {
    let mut w = World::new();
    w.deliver(&team_mail(
        ALICE,
        "n1@example.org",
        None,
        "Public issue #123 is a security bug",
        None,
        "#new\r\n#embargo +30d\r\nUpstream ignored the last two reports; INTERNAL-ONLY remark.\r\n",
    ));
    let notice = w.take("transcript").message_id.to_string();
    w.new_mail();
    w.command(
        ALICE,
        "n2@example.org",
        &notice,
        "#forward maintainer@upstream.test\r\nIssue #123 on your tracker is a heap overflow; please keep it private.\r\n",
    );
    let out = w.new_mail();
    let text = body_text(first(&out, "forward"));
    assert!(text.contains("Issue #123 on your tracker"), "{text}");
    for leak in ["INTERNAL-ONLY", "#embargo", "#new", "alice@example.org"] {
        assert!(
            !text.contains(leak),
            "{leak:?} reached the maintainer:\n{text}"
        );
    }
    let t = body_text(first(&out, "transcript"));
    assert!(
        t.contains("the mail that opened the case stays with the team"),
        "{t}"
    );
}

/// The mail attached to the relay Bob got among the mail queued since the last look.
fn relayed_to_bob(w: &mut World) -> Vec<u8> {
    let out = w.new_mail();
    let to_bob = out
        .iter()
        .find(|r| r.purpose.as_str() == "team-notice" && r.recipients == vec![BOB.to_string()])
        .unwrap_or_else(|| panic!("no relay to Bob: {}", summarize(&out)));
    attached_mail(&to_bob.bytes)
}

/// A report a member got directly, forwarded with `#new` on the first line: the forward
/// (separator, headers, the report) is cut from the note, and the rest of the team got
/// a relay holding `#new` alone, the report nowhere but in the database. What was cut
/// goes with the relay, the member's mail attached.
#[test]
fn a_report_forwarded_with_new_reaches_the_rest_of_the_team() {
    let mut w = World::new();
    w.deliver(&team_mail(
        ALICE,
        "fwd1@example.org",
        None,
        "Fwd: RCE in the parser",
        None,
        "#new\r\n\r\n---------- Forwarded message ---------\r\nFrom: Eve Finder <eve@finder.test>\r\nDate: Mon, 23 Nov 2026 at 09:00\r\nSubject: RCE in the parser\r\nTo: <alice@example.org>\r\n\r\nA crafted header runs code: REPORT-WORDS.\r\n",
    ));
    let attached = relayed_to_bob(&mut w);
    assert!(String::from_utf8_lossy(&attached).contains("REPORT-WORDS"));
    // The same with the member's signature above the forward, as Gmail and Thunderbird
    // write it (nothing of the member's own above the signature: no cut counted there).
    w.deliver(&team_mail(
        ALICE,
        "fwd2@example.org",
        None,
        "Fwd: XSS in the wiki",
        None,
        "#new\r\n\r\n-- \r\nAlice\r\n\r\n---------- Forwarded message ---------\r\nFrom: Eve Finder <eve@finder.test>\r\nSubject: XSS in the wiki\r\n\r\nThe wiki echoes ?q: SIGNED-REPORT-WORDS.\r\n",
    ));
    let attached = relayed_to_bob(&mut w);
    assert!(String::from_utf8_lossy(&attached).contains("SIGNED-REPORT-WORDS"));
}

#[test]
fn new_case_from_the_team_and_case_naming() {
    let mut w = World::new();
    let filed = w.deliver(&team_mail(
        ALICE,
        "n1@example.org",
        None,
        "Public issue #123 is a security bug",
        None,
        "#new\r\n#severity medium\r\nSee the tracker.\r\n",
    ));
    assert!(
        matches!(
            filed,
            Processed::Filed {
                opened: true,
                kind: MessageKind::Team,
                ..
            }
        ),
        "{filed:?}"
    );
    assert_eq!(w.case("SEC-2026-0001").severity, Some(Severity::Medium));
    assert!(w.case("SEC-2026-0001").reporter.is_none());
    w.new_mail();
    // Commands without a case are explained, and change nothing.
    assert!(matches!(
        w.deliver(&team_mail(
            BOB,
            "n2@example.org",
            None,
            "hello",
            None,
            "#close\r\n"
        )),
        Processed::Unfiled(_)
    ));
    let out = w.new_mail();
    let transcript = first(&out, "transcript");
    assert!(
        body_text(transcript).contains("#case SEC-YYYY-NNNN"),
        "{}",
        body_text(transcript)
    );
    // Naming the case works.
    w.deliver(&team_mail(
        BOB,
        "n3@example.org",
        None,
        "about it",
        None,
        "#case SEC-2026-0001\r\n#close\r\n",
    ));
    assert_eq!(w.case("SEC-2026-0001").status, CaseStatus::Closed);
}

#[test]
fn publication_respects_the_embargo_and_renders_the_advisory() {
    let mut w = World::new();
    let notice = w.open_case("Heap overflow in the parser");
    let setup = "#valid\r\n#summary Heap overflow in the parser\r\n#package example-parser\r\n#affected < 1.4.2\r\n#fixed-in 1.4.2\r\n#cve CVE-2026-12345\r\n#credit Rita Reporter\r\n#embargo 2026-12-01\r\n#details\r\nA crafted input overflows a heap buffer.\r\n";
    w.command(ALICE, "a1@example.org", &notice, setup);
    w.new_mail();
    // Without a fixed release the embargo holds.
    w.command(ALICE, "a2@example.org", &notice, "#publish\r\n");
    let t = body_text(&w.take("transcript"));
    assert!(
        t.contains("#publish\n  ✗ the embargo runs until Tuesday 1 December 2026"),
        "{t}"
    );
    assert_eq!(w.case("SEC-2026-0001").status, CaseStatus::Valid);
    assert_eq!(w.case("SEC-2026-0001").advisory_id, None);

    // Once the fix is released (`#fixed`), plain `#publish` goes out the same day,
    // before the embargo's end.
    w.clock.advance(Duration::hours(1));
    w.command(ALICE, "a3@example.org", &notice, "#fixed\r\n#publish\r\n");
    let out = w.new_mail();
    assert_eq!(
        summarize(&out),
        "announce -> announce@example.org | [OSEC-2026-01] Heap overflow in the parser\n\
         published-notice -> rita@reporter.test | Re: [SEC-2026-0001] Published: Heap overflow in the parser\n\
         transcript -> alice@example.org | Re: [SEC-2026-0001] Heap overflow in the parser\n\
         team-notice -> bob@example.org | [SEC-2026-0001] Team: Heap overflow in the parser"
    );
    let announce = String::from_utf8_lossy(&out[0].bytes).to_string();
    assert!(
        announce.contains("OSEC-2026-01.json") && announce.contains("OSEC-2026-01.md"),
        "attachments"
    );
    // A person's decision, sent to a list: a list server that drops mail from robots
    // (Sympa, by default, any Auto-Submitted but `no`, without a word) takes it.
    assert_header(&out[0].bytes, "Auto-Submitted", "no");
    assert!(!announce.contains("Precedence:"), "{announce}");
    let case = w.case("SEC-2026-0001");
    assert_eq!(case.status, CaseStatus::Published);
    assert_eq!(case.advisory_id.as_deref(), Some("OSEC-2026-01"));

    // A published case does not change, and cannot be reopened: the refusal says so
    // (it said "`#reopen` it first", which `#reopen` refuses).
    w.command(
        ALICE,
        "a4@example.org",
        &notice,
        "#remind +2d follow up\r\n#embargo 2027-01-10\r\n",
    );
    let t = body_text(&w.take("transcript"));
    assert!(
        t.contains("#remind +2d follow up\n  ✗ SEC-2026-0001 is published and does not change"),
        "{t}"
    );
    // Nor does an embargo hold it (it answered "reminders follow it", though none came).
    assert!(
        t.contains("#embargo 2027-01-10\n  ✗ SEC-2026-0001 is published and does not change"),
        "{t}"
    );
    assert!(!t.contains("#reopen"), "{t}");
    assert_eq!(
        w.case("SEC-2026-0001").embargo_end,
        NaiveDate::from_ymd_opt(2026, 12, 1),
        "the embargo it was published under stays on record"
    );
}

/// A member's commands in a mail bearing a sign of automatic mail (Exchange puts
/// `X-Auto-Response-Suppress` on mail through some distribution lists) are not run, as
/// an autoresponder's would not be: the case says so and the team is told, the sender
/// gets no answer. (The mail was stored and nothing else: she could not know why.)
#[test]
fn a_members_commands_in_automatic_mail_are_refused_and_told() {
    let mut w = World::new();
    let notice = w.open_case("Heap overflow");
    w.new_mail();
    let mail = team_mail(
        ALICE,
        "auto1@example.org",
        Some(&notice),
        "Re: [SEC-2026-0001] Heap overflow",
        None,
        "#severity high\r\n",
    )
    .replacen("\r\n\r\n", "\r\nX-Auto-Response-Suppress: All\r\n\r\n", 1);
    w.deliver(&mail);
    assert_eq!(w.case("SEC-2026-0001").severity, None);
    let out = w.new_mail();
    assert_eq!(
        out.iter()
            .map(|r| (r.purpose.as_str(), r.recipients.join(",")))
            .collect::<Vec<_>>(),
        vec![
            ("team-notice", ALICE.to_string()),
            ("team-notice", BOB.to_string())
        ],
        "{}",
        summarize(&out)
    );
    let text = body_text(&out[0]);
    assert!(
        text.contains("#severity high") && text.contains("X-Auto-Response-Suppress"),
        "{text}"
    );
    let events = w.events("SEC-2026-0001");
    assert!(
        events
            .iter()
            .any(|e| e.kind == secdesk::desk::case::EventKind::Refused
                && e.detail.contains("automatic")),
        "{events:?}"
    );
}

/// A team mail that named no case, read again (the mailbox got a new UIDVALIDITY and the
/// desk refetched it all) is a duplicate like any mail on file: its `#case` names a case
/// that may exist by now. (Its Message-ID was on no case, so it was decided again: the
/// commands ran on a case opened since, and its member got a second transcript.)
#[test]
fn a_team_mail_that_named_no_case_is_not_decided_again_when_read_again() {
    let mut w = World::new();
    w.open_case("Heap overflow");
    let mistyped = team_mail(
        ALICE,
        "typo1@example.org",
        None,
        "Closing",
        None,
        "#case SEC-2026-0002\r\n#close\r\n",
    );
    assert!(matches!(w.deliver(&mistyped), Processed::Unfiled(_)));
    w.open_report("r2@reporter.test", "Second report", "x");
    w.new_mail();
    assert!(matches!(w.deliver(&mistyped), Processed::Duplicate(_)));
    assert_eq!(w.case("SEC-2026-0002").status, CaseStatus::New);
    assert!(w.new_mail().is_empty());
}

#[test]
fn commands_in_an_html_only_reply_are_read() {
    let mut w = World::new();
    let notice = w.open_case("Heap overflow in the parser");
    let html = format!(
        "Authentication-Results: mx.example.org; dkim=pass header.d=example.org\r\nFrom: {ALICE}\r\nTo: {DESK}\r\nSubject: Re: x\r\nMessage-ID: <html1@example.org>\r\nIn-Reply-To: <{notice}>\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><body><div>#severity critical</div><div>#assign me</div><div><br></div><div>Looking now.</div><blockquote>#close<br>old text</blockquote></body></html>\r\n"
    );
    w.deliver(&html);
    let case = w.case("SEC-2026-0001");
    assert_eq!(case.severity, Some(Severity::Critical));
    assert_eq!(case.assignee.as_deref(), Some(ALICE));
    assert_eq!(
        case.status,
        CaseStatus::New,
        "the quoted #close is not read"
    );
}

/// Each command does what its transcript says, on the case, in order.
#[test]
fn every_command_changes_what_it_says() {
    use secdesk::desk::case::CreditChoice;
    let mut w = World::new();
    let notice = w.open_case("Heap overflow in the parser");
    let other = {
        w.deliver(&report("r2@reporter.test", "Second report", "x"));
        w.new_mail();
        "SEC-2026-0002"
    };

    w.command(
        ALICE,
        "c1@example.org",
        &notice,
        "#assign bob@example.org\r\n#unassign\r\n#cvss CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H\r\n#cwe CWE-122\r\n#cwe 787\r\n#reference fix https://example.org/fix/1\r\n#workaround Do not parse untrusted files\r\n#credit anonymous\r\n#package example-parser\r\n#preannounce 2026-12-10\r\n#show\r\n#help\r\n",
    );
    let out = w.new_mail();
    let transcript = body(&first(&out, "transcript").bytes);
    for line in [
        "line 1: #assign bob@example.org\n  → assigned to bob@example.org",
        "line 2: #unassign\n  → bob@example.org is no longer the responder",
        "  → CVSS score 9.8 (critical) from CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
        "line 5: #cwe 787\n  → CWE: CWE-122, CWE-787",
        "  → reference added: FIX https://example.org/fix/1",
        "  → the reporter stays anonymous",
        "line 10: #preannounce 2026-12-10\n  → pre-announcement of example-parser on 2026-12-10 sent to announce@example.org",
        "Timeline:",             // #show
        "#embargo <YYYY-MM-DD>", // #help's table
    ] {
        assert!(
            transcript.contains(line),
            "missing {line:?} in\n{transcript}"
        );
    }
    // The pre-announcement names the package and the date, nothing of the details.
    let pre = first(&out, "preannounce");
    assert_eq!(pre.recipients, vec!["announce@example.org".to_string()]);
    assert_header(&pre.bytes, "Auto-Submitted", "no");
    let pre_text = String::from_utf8_lossy(&pre.bytes).to_string();
    assert!(
        pre_text.contains("example-parser") && pre_text.contains("Thursday 10 December 2026"),
        "{pre_text}"
    );
    // Nor, in its headers, the case's id (its Message-ID named it): the number of
    // reports this year, on a public list.
    for secret in [
        "Heap overflow",
        "overflows",
        "CVSS",
        "CWE",
        "sec-2026-0001",
        "SEC-2026-0001",
    ] {
        assert!(
            !pre_text.contains(secret),
            "the pre-announcement reveals {secret:?}"
        );
    }
    let case = w.case("SEC-2026-0001");
    assert_eq!(case.assignee, None);
    assert_eq!(case.cvss_score, Some(9.8));
    assert_eq!(case.cwes, vec![122, 787]);
    assert_eq!(
        case.references,
        vec![(
            ReferenceType::Known(ReferenceKind::Fix),
            "https://example.org/fix/1".to_string()
        )]
    );
    assert_eq!(
        case.workaround.as_deref(),
        Some("Do not parse untrusted files")
    );
    assert_eq!(case.credit, CreditChoice::Anonymous);

    // Triage: invalid closes, reopen reopens, duplicate closes again.
    w.command(
        ALICE,
        "c2@example.org",
        &notice,
        "#invalid not reproducible\r\n",
    );
    assert_eq!(w.case("SEC-2026-0001").status, CaseStatus::Closed);
    w.new_mail();
    w.command(
        ALICE,
        "c3@example.org",
        &notice,
        &format!("#reopen\r\n#duplicate {other}\r\n"),
    );
    let case = w.case("SEC-2026-0001");
    assert_eq!(case.status, CaseStatus::Closed);
    assert_eq!(
        case.duplicate_of.map(|c| c.to_string()).as_deref(),
        Some(other)
    );
    let t = body_text(&w.take("transcript"));
    assert!(t.contains("#reopen\n  → reopened; status new"), "{t}");

    // `#publish now` overrides the embargo, and the history says so; the anonymous
    // reporter is not credited.
    w.command(
        ALICE,
        "c4@example.org",
        &notice,
        "#reopen\r\n#summary Heap overflow in the parser\r\n#package example-parser\r\n#affected < 1.4.2\r\n#publish now\r\n",
    );
    let out = w.new_mail();
    let t = body_text(first(&out, "transcript"));
    assert!(
        t.contains("→ published as OSEC-2026-01 before the end of the embargo (#publish now)"),
        "{t}"
    );
    let events = w.events("SEC-2026-0001");
    assert!(events.iter().any(|e| e.detail
        == "advisory OSEC-2026-01 published before the end of the embargo (#publish now)"));
    let announce = first(&out, "announce");
    let osv: serde_json::Value =
        serde_json::from_str(&attachment(&announce.bytes, "OSEC-2026-01.json")).unwrap();
    // The converter always writes `credits`: anonymous means it is empty.
    assert_eq!(
        osv["credits"],
        serde_json::json!([]),
        "anonymous means no credits: {osv}"
    );
    assert_eq!(osv["id"], "OSEC-2026-01");
}

#[test]
fn a_trusted_local_setup_may_run_commands_without_authentication() {
    let mut w = World::new();
    w.reconfigure(|t| {
        t.replace(
            "authserv_id = \"mx.example.org\"",
            "require_authenticated_commands = false",
        )
    });
    assert!(
        w.desk.config.warnings.iter().any(|m| m.contains("ANYONE")),
        "the operator is warned"
    );
    let notice = w.open_case("Crash");
    // No Authentication-Results at all.
    let unauthenticated = format!(
        "From: {ALICE}\r\nTo: {DESK}\r\nSubject: Re: x\r\nMessage-ID: <u1@example.org>\r\nIn-Reply-To: <{notice}>\r\n\r\n#severity low\r\n"
    );
    w.deliver(&unauthenticated);
    assert_eq!(w.case("SEC-2026-0001").severity, Some(Severity::Low));
}

/// `#new` with a `#case` line opens nothing: the case `#case` names is never the one
/// `#new` would open, and the transcript says why. (A case was opened, default embargo
/// and reminders with it, while the transcript said nothing was done.)
#[test]
fn new_with_a_case_line_opens_nothing() {
    let mut w = World::new();
    w.open_case("Heap overflow");
    w.new_mail();
    let filed = w.deliver(&team_mail(
        ALICE,
        "n1@example.org",
        None,
        "a fresh one",
        None,
        "#new\r\n#case SEC-2026-0001\r\n#severity high\r\n",
    ));
    assert!(matches!(filed, Processed::Unfiled(_)), "{filed:?}");
    let ids: Vec<String> = w
        .cases()
        .iter()
        .filter_map(|c| c.split(' ').next().map(String::from))
        .collect();
    assert_eq!(ids, vec!["SEC-2026-0001"]);
    assert_eq!(w.case("SEC-2026-0001").severity, None);
    let t = body(&w.take("transcript").bytes);
    assert!(
        t.contains("`#new` opens a new case and `#case SEC-2026-0001` names another"),
        "{t}"
    );
}

/// Thunderbird sends plain text as `format=flowed`: a command line longer than 72
/// columns arrives cut, its first piece ending in a space. It is one line again; the
/// commands after it are read, and the reporter gets only the words below them.
#[test]
fn a_flowed_reply_is_read_as_it_was_typed() {
    let mut w = World::new();
    let notice = w.open_case("Heap overflow in the parser");
    let flowed = format!(
        "Authentication-Results: mx.example.org; dkim=pass header.d=example.org\r\nFrom: {ALICE}\r\nTo: {DESK}\r\nSubject: Re: x\r\nMessage-ID: <flowed1@example.org>\r\nIn-Reply-To: <{notice}>\r\nContent-Type: text/plain; charset=utf-8; format=flowed\r\n\r\n#reply\r\n#summary Heap buffer overflow in the XML importer when an attribute \r\nvalue exceeds 64 KiB\r\n#embargo 2027-01-15\r\n\r\nDear Rita, thanks; we are on \r\nit.\r\n"
    );
    w.deliver(&flowed);
    let case = w.case("SEC-2026-0001");
    assert_eq!(
        case.summary.as_deref(),
        Some("Heap buffer overflow in the XML importer when an attribute value exceeds 64 KiB")
    );
    assert_eq!(
        case.embargo_end,
        chrono::NaiveDate::from_ymd_opt(2027, 1, 15),
        "the command after the cut line was read"
    );
    let out = w.new_mail();
    let reply = body(&first(&out, "reply").bytes);
    assert!(
        reply.contains("Dear Rita, thanks; we are on it."),
        "{reply}"
    );
    for internal in ["#embargo", "64 KiB", "#summary"] {
        assert!(
            !reply.contains(internal),
            "{internal:?} reached the reporter:\n{reply}"
        );
    }
}
