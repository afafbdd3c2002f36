//! Many desks in one daemon (PRODUCT.md §9): three desks (the top level, cohttp and dune)
//! on one SQLite file. The first tests drive `process` and `run_due` with a ManualClock;
//! the last ones run the daemon against a real Postfix + Dovecot, the three desks sharing
//! one IMAP mailbox through plus addresses of security@.

use crate::world::*;
use secdesk::desk::case::EventKind;
use secdesk::service::process::Processed;
use secdesk::store::{Arrival, OutboxRow};
use secdesk::types::{CaseId, CaseStatus, Uid, UidValidity};

pub const CAROL: &str = "carol@example.org";
pub const DAN: &str = "dan@example.org";
pub const COHTTP: &str = "security+cohttp@example.org";
pub const DUNE: &str = "security+dune@example.org";

/// Two desks besides the top level; dune keeps its calendar in New York.
pub const DESKS: &str = r#"
[desks.cohttp]
address = "security+cohttp@example.org"
name = "Cohttp security"
case_prefix = "COHTTP"
[desks.cohttp.team]
members = ["carol@example.org"]
[desks.cohttp.publish]
announce = "cohttp-announce@example.org"
advisory_prefix = "x_COHTTPA"

[desks.dune]
address = "security+dune@example.org"
name = "Dune security"
case_prefix = "DUNE"
[desks.dune.team]
members = ["dan@example.org"]
[desks.dune.calendar]
timezone = "America/New_York"
[desks.dune.policy]
digest = "Mon 09:00"
"#;

fn world() -> World {
    World::with(monday_10(), DESKS)
}

/// Each desk's acknowledgement limit counts its own: a flood of reports on one desk's
/// address held back every other desk's acknowledgements (and their team was never
/// told), whatever limit that desk set.
#[test]
fn each_desks_acknowledgement_limit_counts_its_own() {
    let mut w = two_per_hour();
    let mut mail = reports_from_many(&mut w, DESK, 3, "top");
    mail.extend(reports_from_many(&mut w, COHTTP, 3, "co"));
    let acks = |domain: &str| {
        mail.iter()
            .filter(|r| r.purpose.as_str() == "ack" && r.recipients[0].contains(domain))
            .count()
    };
    assert_eq!(acks("@top."), 2, "{}", summarize(&mail));
    assert_eq!(acks("@co."), 2, "{}", summarize(&mail));
    assert_eq!(told_acks_held_back(&mail, ALICE), 1, "{}", summarize(&mail));
    assert_eq!(told_acks_held_back(&mail, CAROL), 1, "{}", summarize(&mail));
}

/// The desks of [`DESKS`], each acknowledging at most two reports an hour.
fn two_per_hour() -> World {
    World::with(
        monday_10(),
        &format!("[policy]\nack_rate_limit_total = \"2 per hour\"\n{DESKS}"),
    )
}

/// `n` reports to `to`, each from a sender of its own at `<tag>.test`; the mail they made.
fn reports_from_many(w: &mut World, to: &str, n: usize, tag: &str) -> Vec<OutboxRow> {
    for i in 0..n {
        let from = format!("r{i}@{tag}.test");
        w.deliver(&report_to(
            &from,
            to,
            &format!("m{i}@{tag}.test"),
            "Bug",
            "x",
        ));
    }
    w.new_mail()
}

/// How many of `mail` tell `who` that acknowledgements are held back.
fn told_acks_held_back(mail: &[OutboxRow], who: &str) -> usize {
    mail.iter()
        .filter(|r| {
            r.recipients == vec![who.to_string()]
                && header(&r.bytes, "Subject")
                    .unwrap_or_default()
                    .contains("acknowledgements are held back")
        })
        .count()
}

/// A member of another desk acting on a published case is refused like on any other
/// case of that desk: their command lines opened a new case there, acknowledged.
#[test]
fn another_desks_member_is_refused_on_a_published_case_too() {
    let mut w = world();
    let id = opened(&w.deliver(&report_to(RITA, COHTTP, "r1@reporter.test", "Bug", "one")));
    let notice = of(&w.new_mail(), "team-notice")[0].message_id.to_string();
    w.deliver(&member_mail(
        CAROL,
        COHTTP,
        "c1@example.org",
        &notice,
        &format!("Re: [{id}] Bug"),
        "#summary A bug in cohttp\r\n#package cohttp\r\n#affected < 1.0\r\n#details\r\nA bug.\r\n",
    ));
    w.deliver(&member_mail(
        CAROL,
        COHTTP,
        "c2@example.org",
        &notice,
        &format!("Re: [{id}] Bug"),
        "#publish now\r\n",
    ));
    assert_eq!(w.case(&id).status.as_str(), "published");
    w.new_mail();
    let p = w.deliver(&member_mail(
        ALICE,
        DESK,
        "a1@example.org",
        &notice,
        &format!("Re: [{id}] Bug"),
        "#reopen\r\n",
    ));
    assert_eq!(filed_on(&p), id);
    assert_eq!(w.case(&id).status.as_str(), "published");
    let mail = w.new_mail();
    assert_eq!(mail.len(), 1, "{}", summarize(&mail));
    assert_eq!(mail[0].recipients, vec![CAROL.to_string()]);
    assert!(
        w.events(&id).iter().any(|e| e.kind == EventKind::Refused),
        "{:?}",
        w.events(&id)
    );
}

/// A desk taken out of the configuration leaves its cases to the top level, their tags
/// included: a reporter's mail naming its case only by the tag in its subject, or by the
/// top level's plus address for it, opened a second case, acknowledged.
#[test]
fn a_removed_desks_case_still_threads_by_its_tag() {
    let mut w = world();
    one_report_per_desk(&mut w);
    w.new_mail();
    w.reconfigure(|t| t);
    let later = w.clock_now() + chrono::Duration::minutes(1);
    w.clock.set(later);
    // By its tag alone; by the top level's plus address for it; by the address the
    // removed desk gave its reporter (its acknowledgement's Reply-To).
    for (n, (to, subject)) in [
        (DESK, "[COHTTP-2026-0001] more"),
        ("security+cohttp-2026-0001@example.org", "even more"),
        ("security+cohttp+cohttp-2026-0001@example.org", "still more"),
    ]
    .into_iter()
    .enumerate()
    {
        let p = w.deliver(&report_to(
            RITA,
            to,
            &format!("t{n}@reporter.test"),
            subject,
            "y",
        ));
        assert!(
            matches!(&p, Processed::Filed { opened: false, case, .. } if case.to_string() == "COHTTP-2026-0001"),
            "{to}: {p:?}"
        );
    }
    assert!(!summarize(&w.new_mail()).contains("ack ->"));
}

/// The team mail still queued once a restart withdrew what went to those who left.
/// Rita's report to cohttp, its notice to Carol queued (SMTP down, say).
fn cohttp_report_queued(w: &mut World) {
    w.deliver(&report_to(
        RITA,
        COHTTP,
        "r9@reporter.test",
        "Overflow",
        "x",
    ));
}

fn team_mail_after_restart(w: &mut World) -> Vec<OutboxRow> {
    let now = w.clock_now();
    secdesk::service::scheduler::withdraw_mail_of_those_who_left(&w.desk, &mut w.store, now)
        .unwrap();
    w.store
        .read(|tx| tx.outbox_all())
        .unwrap()
        .into_iter()
        .filter(|r| r.state.as_str() == "pending" && r.purpose.as_str() != "ack")
        .collect()
}

/// A desk given an address of its own at a restart, its team mail still queued (SMTP was
/// down): that mail stays with its team. It was judged against the top-level team (its
/// old plus address names the top level's), so Carol counted as gone and the notice with
/// cohttp's report went to Alice and Bob instead.
#[test]
fn team_mail_queued_before_a_desks_new_address_stays_with_its_team() {
    let mut w = world();
    cohttp_report_queued(&mut w);
    w.reconfigure(|t| {
        t + &DESKS.replace(
            "address = \"security+cohttp@example.org\"",
            "address = \"cohttp@example.org\"",
        )
    });
    let pending = team_mail_after_restart(&mut w);
    assert_eq!(
        summarize(&pending),
        "team-notice -> carol@example.org | [COHTTP-2026-0001] New report: Overflow"
    );
    let events = w.events("COHTTP-2026-0001");
    assert!(
        !events
            .iter()
            .any(|e| e.detail.contains("no longer on the team")),
        "{events:?}"
    );
}

/// A desk's digest still queued when the desk gets an address of its own stays with its
/// team. Mail of no case whose sender is no desk any more was judged against the top
/// level's team: Dan counted as gone, and dune's table of open cases went to Alice and
/// Bob.
#[test]
fn a_desks_digest_queued_before_its_new_address_stays_with_its_team() {
    let mut w = world();
    one_report_per_desk(&mut w);
    w.run_due();
    w.clock.set(paris(2026, 11, 23, 15, 0));
    w.run_due();
    w.reconfigure(|t| {
        t + &DESKS.replace(
            "address = \"security+dune@example.org\"",
            "address = \"dune@example.org\"",
        )
    });
    let pending = team_mail_after_restart(&mut w);
    let dunes: Vec<&OutboxRow> = pending
        .iter()
        .filter(|r| body(&r.bytes).contains("DUNE-2026-0001"))
        .collect();
    assert!(!dunes.is_empty(), "{}", summarize(&pending));
    for r in dunes {
        assert_eq!(
            r.recipients,
            vec![DAN.to_string()],
            "{}",
            summarize(&pending)
        );
    }
}

/// A case of a desk removed from the configuration can be moved to the top level, as the
/// start's warning and `check` advise: `#move main` answered "already on the desk main",
/// and the case stayed the removed desk's, warned of at every start.
#[test]
fn a_removed_desks_case_moves_to_the_top_level() {
    let mut w = world();
    one_report_per_desk(&mut w);
    w.new_mail();
    w.reconfigure(|t| t);
    let p = w.deliver(&member_mail(
        ALICE,
        DESK,
        "mv1@example.org",
        "r2@reporter.test",
        "Re: [COHTTP-2026-0001] Cohttp bug",
        "#move main\r\n",
    ));
    assert_eq!(filed_on(&p), "SEC-2026-0002");
    assert_eq!(
        summarize(&w.new_mail()),
        "transcript -> alice@example.org | Re: [COHTTP-2026-0001] Cohttp bug
team-notice -> bob@example.org | [COHTTP-2026-0001] Team: Cohttp bug
team-notice -> alice@example.org | [SEC-2026-0002] handed over from the desk main: Cohttp bug
team-notice -> bob@example.org | [SEC-2026-0002] handed over from the desk main: Cohttp bug
move-notice -> rita@reporter.test | [SEC-2026-0002] Cohttp bug"
    );
    let moved = w
        .store
        .read(|tx| tx.case_alias(&CaseId::parse("COHTTP-2026-0001").unwrap()))
        .unwrap();
    assert_eq!(
        moved.map(|c| c.to_string()).as_deref(),
        Some("SEC-2026-0002"),
    );
}

/// A desk removed from the configuration, its team mail still queued: that mail goes to
/// the team that has its cases now, the top level's, not to its old team, who left.
/// (Its sender address is no desk's any more; the relay takes it all the same.)
#[test]
fn team_mail_queued_for_a_removed_desk_goes_to_the_team_that_has_its_cases() {
    let mut w = world();
    cohttp_report_queued(&mut w);
    w.reconfigure(|t| t);
    let pending = team_mail_after_restart(&mut w);
    assert_eq!(
        summarize(&pending),
        "team-notice -> alice@example.org,bob@example.org | [COHTTP-2026-0001] New report: Overflow"
    );
}

/// The record that a desk's team was told its acknowledgements are held back stays with
/// that desk when the case it was written on moves: the desk's team was told again in
/// the same hour, and the other desk's never.
#[test]
fn the_ack_limit_alert_stays_with_its_desk_when_its_case_moves() {
    let mut w = two_per_hour();
    let mail = reports_from_many(&mut w, DESK, 3, "top");
    assert_eq!(told_acks_held_back(&mail, ALICE), 1, "{}", summarize(&mail));
    let notice = mail
        .iter()
        .find(|r| {
            r.recipients == vec![ALICE.to_string()]
                && header(&r.bytes, "Subject")
                    .unwrap_or_default()
                    .contains("[SEC-2026-0003] New report")
        })
        .unwrap()
        .message_id
        .to_string();
    w.command(ALICE, "a1@example.org", &notice, "#move cohttp\r\n");
    w.new_mail();
    let mail = reports_from_many(&mut w, DESK, 1, "top2");
    assert_eq!(
        told_acks_held_back(&mail, ALICE),
        0,
        "told twice: {}",
        summarize(&mail)
    );
    let mail = reports_from_many(&mut w, COHTTP, 3, "co");
    assert_eq!(told_acks_held_back(&mail, CAROL), 1, "{}", summarize(&mail));
}

/// A report from `from` to `to`.
fn report_to(from: &str, to: &str, id: &str, subject: &str, text: &str) -> String {
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <{id}>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0100\r\n\r\n{text}\r\n"
    )
}

/// Rita's report `id` to the top-level desk; the id of Alice's notice of it.
fn report_on_top(w: &mut World, id: &str, subject: &str) -> String {
    w.deliver(&report_to(RITA, DESK, id, subject, "x"));
    w.new_mail()
        .iter()
        .find(|r| r.purpose.as_str() == "team-notice" && r.recipients == vec![ALICE.to_string()])
        .unwrap()
        .message_id
        .to_string()
}

/// `mail` made unreadable: sixty messages nested in it, which the desk does not parse.
fn unreadable(mail: &str) -> String {
    let nested = "Content-Type: message/rfc822\r\n\r\n".repeat(60);
    mail.replacen("\r\n\r\n", &format!("\r\n{nested}"), 1)
}

/// "Top bug", "Cohttp bug" and "Dune bug": one report to each desk, from Rita.
fn one_report_per_desk(w: &mut World) {
    w.deliver(&report_to(RITA, DESK, "r1@reporter.test", "Top bug", "x"));
    w.deliver(&report_to(
        RITA,
        COHTTP,
        "r2@reporter.test",
        "Cohttp bug",
        "x",
    ));
    w.deliver(&report_to(RITA, DUNE, "r3@reporter.test", "Dune bug", "x"));
}

/// A team member's authenticated mail to `to`, in reply to `parent`.
fn member_mail(from: &str, to: &str, id: &str, parent: &str, subject: &str, body: &str) -> String {
    team_mail(from, id, Some(parent), subject, None, body)
        .replace(&format!("To: {DESK}\r\n"), &format!("To: {to}\r\n"))
}

fn filed_on(p: &Processed) -> String {
    match p {
        Processed::Filed { case, .. } => case.to_string(),
        other => panic!("not filed: {other:?}"),
    }
}

fn of<'a>(rows: &'a [OutboxRow], purpose: &str) -> Vec<&'a OutboxRow> {
    rows.iter()
        .filter(|r| r.purpose.as_str() == purpose)
        .collect()
}

fn recipients(rows: &[&OutboxRow]) -> Vec<String> {
    let mut r: Vec<String> = rows.iter().flat_map(|r| r.recipients.clone()).collect();
    r.sort();
    r
}

/// Each desk answers mail to its own address: its prefix, its From and Reply-To, its
/// team alone; nothing the reporter receives names another desk.
#[test]
fn each_desk_answers_from_its_own_address_to_its_own_team() {
    let mut w = world();
    let rows = [
        (
            DESK,
            "SEC-2026-0001",
            "Example Security Team",
            vec![ALICE, BOB],
        ),
        (COHTTP, "COHTTP-2026-0001", "Cohttp security", vec![CAROL]),
        (DUNE, "DUNE-2026-0001", "Dune security", vec![DAN]),
    ];
    for (n, (address, id, name, team)) in rows.iter().enumerate() {
        let p = w.deliver(&report_to(
            RITA,
            address,
            &format!("r{n}@reporter.test"),
            "Overflow",
            "details",
        ));
        assert_eq!(opened(&p), *id);
        let mail = w.new_mail();
        let acks = of(&mail, "ack");
        assert_eq!(acks.len(), 1, "{}", summarize(&mail));
        let ack = acks[0];
        assert_eq!(ack.recipients, vec![RITA.to_string()]);
        let from = header(&ack.bytes, "From").unwrap();
        assert!(
            from.contains(address) && from.contains(name),
            "{address}: From: {from}"
        );
        let plus = CaseId::parse(id).unwrap().plus_tag();
        let (local, domain) = address.split_once('@').unwrap();
        let reply_to = header(&ack.bytes, "Reply-To").unwrap();
        assert!(
            reply_to.contains(&format!("<{local}+{plus}@{domain}>")),
            "{reply_to}"
        );
        assert!(header(&ack.bytes, "Subject").unwrap().contains(id));
        let text = String::from_utf8_lossy(&ack.bytes).to_lowercase();
        for (other, other_id, other_name, _) in &rows {
            if other != address {
                assert!(!text.contains(other), "{address}'s ack names {other}");
                let prefix = other_id.split('-').next().unwrap().to_lowercase();
                assert!(
                    !text.contains(&format!("{prefix}-")),
                    "{address}'s ack names {prefix}"
                );
                if !name.contains(other_name) {
                    assert!(!text.contains(&other_name.to_lowercase()));
                }
            }
        }
        let notices = of(&mail, "team-notice");
        assert_eq!(
            recipients(&notices),
            team.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            "{}",
            summarize(&mail)
        );
        for n in notices {
            assert!(header(&n.bytes, "From").unwrap().contains(address));
        }
    }
    // Case ids are numbered per prefix, in one database.
    let cases = w.cases();
    assert_eq!(cases.len(), 3, "{cases:?}");
}

/// A reply threads to its case whatever address it used; a case's desk wins over the
/// address. An old mailbox of one desk used for another's case changes nothing.
#[test]
fn a_reply_threads_to_its_case_whatever_address_it_used() {
    let mut w = world();
    let p = w.deliver(&report_to(RITA, COHTTP, "r1@reporter.test", "Bug", "one"));
    assert_eq!(opened(&p), "COHTTP-2026-0001");
    let ack = of(&w.new_mail(), "ack")[0].message_id.to_string();
    // Rita answers the ack, but to the top-level address.
    let reply = format!(
        "From: {RITA}\r\nTo: {DESK}\r\nSubject: Re: more\r\nMessage-ID: <r2@reporter.test>\r\nIn-Reply-To: <{ack}>\r\nReferences: <{ack}>\r\n\r\nmore details\r\n"
    );
    assert_eq!(filed_on(&w.deliver(&reply)), "COHTTP-2026-0001");
    let mail = w.new_mail();
    assert_eq!(
        recipients(&of(&mail, "team-notice")),
        vec![CAROL.to_string()],
        "{}",
        summarize(&mail)
    );
    // A case's plus address threads even from another desk's mailbox (and To: dune).
    let tagged = format!(
        "From: {RITA}\r\nTo: {DUNE}\r\nCc: security+cohttp+cohttp-2026-0001@example.org\r\nSubject: again\r\nMessage-ID: <r3@reporter.test>\r\n\r\nand again\r\n"
    );
    assert_eq!(filed_on(&w.deliver(&tagged)), "COHTTP-2026-0001");
    // The subject tag alone does too.
    let subject = report_to(
        RITA,
        DESK,
        "r4@reporter.test",
        "Re: [COHTTP-2026-0001] Bug",
        "tagged",
    );
    assert_eq!(filed_on(&w.deliver(&subject)), "COHTTP-2026-0001");
    assert_eq!(w.cases().len(), 1, "{:?}", w.cases());
}

/// A member of another desk who reports to this one with a proof of concept opening with
/// `#include` reports: only lines that are commands send their mail to their own desk.
/// (The `#include` line counted as a command: the mail went to Carol's desk, which told
/// her it was a reply to no case; no case opened here and nobody acknowledged it.)
#[test]
fn another_desks_member_reporting_code_with_hash_lines_opens_a_case() {
    let mut w = world();
    let p = w.deliver(&report_to(
        CAROL,
        DESK,
        "c1@example.org",
        "Overflow in the lexer",
        "#include <stdio.h>\r\nint main(void) { return lex(\"\\xff\"); }\r\n",
    ));
    let id = opened(&p);
    assert!(id.starts_with("SEC-"), "{id}");
    let mail = w.new_mail();
    assert_eq!(
        of(&mail, "ack")
            .iter()
            .map(|r| r.recipients.clone())
            .collect::<Vec<_>>(),
        vec![vec![CAROL.to_string()]],
        "{}",
        summarize(&mail)
    );
    assert!(of(&mail, "transcript").is_empty(), "{}", summarize(&mail));
}

/// A member of another desk who is the case's own reporter writes as its reporter: the
/// answer reaches the team (its `#` lines are text). (It was refused as an intruder's
/// commands: the team got an alert without the text, the reporter was told nothing.)
#[test]
fn a_reporter_who_serves_on_another_desk_is_heard_as_the_reporter() {
    let mut w = world();
    let id = opened(&w.deliver(&report_to(
        CAROL,
        DESK,
        "c1@example.org",
        "Compiler bug",
        "x",
    )));
    let ack = first(&w.new_mail(), "ack").message_id.to_string();
    let p = w.deliver(&member_mail(
        CAROL,
        DESK,
        "c2@example.org",
        &ack,
        &format!("Re: [{id}] Compiler bug"),
        "#credit Carol Smith\r\n\r\nAlso affects 5.1.\r\n",
    ));
    assert_eq!(filed_on(&p), id);
    let mail = w.new_mail();
    assert!(
        of(&mail, "team-notice")
            .iter()
            .any(|r| r.recipients == vec![ALICE.to_string()]
                && body(&r.bytes).contains("Also affects 5.1.")),
        "{}",
        summarize(&mail)
    );
    let events = w.events(&id);
    assert!(
        events.iter().all(|e| e.kind != EventKind::Refused),
        "{events:?}"
    );
    // The same for the upstream a case was forwarded to.
    let notice = report_on_top(&mut w, "r2@reporter.test", "Library bug");
    w.command(
        ALICE,
        "a1@example.org",
        &notice,
        &format!("#forward {CAROL}\r\n"),
    );
    let forward = first(&w.new_mail(), "forward").message_id.to_string();
    w.deliver(&member_mail(
        CAROL,
        DESK,
        "c3@example.org",
        &forward,
        "Re: Library bug",
        "#fixed-in 6.0.1\r\n\r\nFixed upstream in 6.0.1.\r\n",
    ));
    let mail = w.new_mail();
    assert!(
        mail.iter().any(|r| r.recipients == vec![ALICE.to_string()]
            && body(&r.bytes).contains("Fixed upstream in 6.0.1.")),
        "{}",
        summarize(&mail)
    );
}

/// A member of one desk has no power over another desk's case: refused, recorded on
/// the case, the case's team told, the member told nothing.
#[test]
fn a_member_of_another_desk_is_refused() {
    let mut w = world();
    let p = w.deliver(&report_to(RITA, COHTTP, "r1@reporter.test", "Bug", "one"));
    let id = opened(&p);
    let notice = of(&w.new_mail(), "team-notice")[0].message_id.to_string();
    // Alice (top-level desk) saw the notice somehow and tries to act on it.
    let p = w.deliver(&member_mail(
        ALICE,
        DESK,
        "a1@example.org",
        &notice,
        &format!("Re: [{id}] Bug"),
        "#severity high\r\n#assign me\r\n#reply\r\nHello from another desk\r\n",
    ));
    assert_eq!(filed_on(&p), id);
    let case = w.case(&id);
    assert_eq!(case.severity, None);
    assert_eq!(case.assignee, None);
    let mail = w.new_mail();
    assert_eq!(mail.len(), 1, "{}", summarize(&mail));
    assert_eq!(mail[0].recipients, vec![CAROL.to_string()]);
    assert!(body(&mail[0].bytes).contains("alice@example.org, a member of the desk main"));
    let events = w.events(&id);
    assert!(
        events
            .iter()
            .any(|e| e.kind == EventKind::Refused && e.detail.contains("member of the desk main")),
        "{events:?}"
    );
    // Another desk's case is no case to carol: #duplicate cannot name it.
    w.deliver(&report_to(RITA, DESK, "r9@reporter.test", "Top", "x"));
    w.new_mail();
    w.deliver(&member_mail(
        CAROL,
        COHTTP,
        "c0@example.org",
        &notice,
        "Re: x",
        "#duplicate SEC-2026-0001\r\n",
    ));
    assert_eq!(w.case(&id).duplicate_of, None);
    let transcript = body(&w.take("transcript").bytes);
    assert!(!transcript.contains("Top"), "{transcript}");
    // Carol, the case's own team, may.
    w.deliver(&member_mail(
        CAROL,
        COHTTP,
        "c1@example.org",
        &notice,
        "Re: x",
        "#severity high\r\n",
    ));
    assert_eq!(
        w.case(&id).severity.map(|s| s.to_string()).as_deref(),
        Some("high")
    );
    let mail = w.new_mail();
    assert!(
        mail.iter()
            .all(|r| r.recipients.iter().all(|to| to == CAROL)),
        "{}",
        summarize(&mail)
    );
}

/// A member opens a case of their own desk with `#new`, written to their desk's address.
#[test]
fn new_opens_a_case_on_the_members_desk() {
    let mut w = world();
    let new = format!(
        "Authentication-Results: mx.example.org; dkim=pass header.d=example.org header.s=s1; spf=pass\r\nFrom: {CAROL}\r\nTo: {COHTTP}\r\nSubject: Found it ourselves\r\nMessage-ID: <n1@example.org>\r\n\r\n#new\r\n#severity low\r\n"
    );
    let id = opened(&w.deliver(&new));
    assert_eq!(id, "COHTTP-2026-0001");
    assert_eq!(
        w.case(&id).severity.map(|s| s.to_string()).as_deref(),
        Some("low")
    );
    let mail = w.new_mail();
    assert!(
        mail.iter().all(|r| r.recipients == vec![CAROL.to_string()]),
        "{}",
        summarize(&mail)
    );
}

/// Refusals are recorded every time, but their alerts are capped per hour (a forged
/// From must not flood a team).
#[test]
fn refusal_alerts_are_capped() {
    let mut w = world();
    let id = opened(&w.deliver(&report_to(RITA, COHTTP, "r1@reporter.test", "Bug", "x")));
    w.new_mail();
    for i in 0..8 {
        w.deliver(&member_mail(
            DAN,
            DUNE,
            &format!("d{i}@example.org"),
            "nothing@example.org",
            &format!("Re: [{id}] Bug"),
            "#close\r\n",
        ));
    }
    let alerts = w.new_mail();
    assert_eq!(alerts.len(), 5, "{}", summarize(&alerts));
    let refused = w
        .events(&id)
        .into_iter()
        .filter(|e| e.kind == EventKind::Refused)
        .count();
    assert_eq!(refused, 8);
    assert_eq!(w.case(&id).status.to_string(), "new");
}

/// Each desk's digest goes to its own team, lists only its own cases, at 09:00 in its
/// own time zone.
#[test]
fn each_desk_has_its_own_digest_in_its_own_time_zone() {
    let mut w = world();
    one_report_per_desk(&mut w);
    w.new_mail();
    // Monday 23 November, 10:00 in Paris is 04:00 in New York: dune's digest is due at
    // 09:00 there, 15:00 in Paris.
    w.run_due();
    w.clock.set(paris(2026, 11, 23, 14, 59));
    w.run_due();
    assert!(of(&w.new_mail(), "digest").is_empty());
    w.clock.set(paris(2026, 11, 23, 15, 0));
    w.run_due();
    let mail = w.new_mail();
    let digests = of(&mail, "digest");
    assert_eq!(
        recipients(&digests),
        vec![DAN.to_string()],
        "{}",
        summarize(&mail)
    );
    let text = body(&digests[0].bytes);
    assert!(
        text.contains("DUNE-2026-0001") && !text.contains("SEC-2026"),
        "{text}"
    );
    assert!(text.contains("America/New_York"), "{text}");
    // Monday 30 November, 09:00 in Paris: the top level's and cohttp's, not dune's.
    w.clock.set(paris(2026, 11, 30, 9, 0));
    w.run_due();
    let mail = w.new_mail();
    let digests = of(&mail, "digest");
    assert_eq!(
        recipients(&digests),
        vec![ALICE.to_string(), BOB.to_string(), CAROL.to_string()],
        "{}",
        summarize(&mail)
    );
    for d in &digests {
        let text = body(&d.bytes);
        if d.recipients == vec![CAROL.to_string()] {
            assert!(text.contains("COHTTP-2026-0001"), "{text}");
            assert!(
                !text.contains("SEC-2026-0001") && !text.contains("DUNE-"),
                "{text}"
            );
            assert!(header(&d.bytes, "From").unwrap().contains(COHTTP));
        } else {
            assert!(text.contains("SEC-2026-0001"), "{text}");
            assert!(
                !text.contains("COHTTP-") && !text.contains("DUNE-"),
                "{text}"
            );
        }
    }
}

/// A desk removed from the configuration: its planned digest is dropped, and the top
/// level's team gets its own digest once (the removed desk's was sent as a second copy).
#[test]
fn a_removed_desks_digest_is_not_a_second_one() {
    let mut w = world();
    one_report_per_desk(&mut w);
    w.run_due();
    w.new_mail();
    w.reconfigure(|t| t);
    assert!(w.desk.config.desks.is_empty());
    w.clock.set(paris(2026, 11, 30, 9, 0));
    w.run_due();
    let mail = w.new_mail();
    let digests = of(&mail, "digest");
    assert_eq!(
        recipients(&digests),
        vec![ALICE.to_string(), BOB.to_string()],
        "{}",
        summarize(&mail)
    );
    // And it lists the removed desks' open cases, now the top level's: they were in no
    // digest at all, while their reminders went to the top level's team.
    let table = body(&digests[0].bytes);
    for case in ["SEC-2026-0001", "COHTTP-2026-0001", "DUNE-2026-0001"] {
        assert!(table.contains(case), "{case}: {table}");
    }
}

/// A desk removed from the configuration leaves its suspect mail to the top level's
/// daily spam summary: its own summary is dropped with it, and the top level's counted
/// only cases filed on the top level, so a real report held there was listed nowhere.
#[test]
fn a_removed_desks_suspect_mail_is_in_the_top_levels_spam_summary() {
    let mut w = world();
    let forged = format!(
        "Authentication-Results: mx.example.org; spf=pass smtp.mailfrom=spam.test; dkim=none; dmarc=fail (p=reject) header.from=innocent.test\r\n{}",
        report_to("victim@innocent.test", COHTTP, "f2@spam.test", "Prize", "x")
    );
    w.deliver(&forged);
    assert!(w.new_mail().is_empty());
    w.run_due();
    w.reconfigure(|t| t);
    assert!(w.desk.config.desks.is_empty());
    w.clock.set(paris(2026, 11, 24, 9, 0));
    w.run_due();
    let mail = w.new_mail();
    let summaries = spam_summaries(&mail);
    assert_eq!(
        recipients(&summaries),
        vec![ALICE.to_string(), BOB.to_string()],
        "{}",
        summarize(&mail)
    );
    let text = body(&summaries[0].bytes);
    assert!(text.contains("COHTTP-2026-0001"), "{text}");
}

/// The alert budget of one desk is its own: forged commands naming no case that used up
/// the top level's (five alerts to each of its two members) leave dune's team told of
/// the next forgery on dune.
#[test]
fn one_desks_alerts_do_not_use_up_anothers_budget() {
    let mut w = world();
    let forged =
        "mx.example.org; dkim=fail header.d=example.org; dmarc=fail header.from=example.org";
    for n in 0..6 {
        w.deliver(&team_mail(
            ALICE,
            &format!("f{n}@example.org"),
            None,
            "hello",
            Some(forged),
            "#case SEC-2026-0099\r\n#close\r\n",
        ));
    }
    assert_eq!(
        of(&w.new_mail(), "team-notice").len(),
        2 * 5,
        "the top level's budget"
    );
    w.deliver(
        &team_mail(
            DAN,
            "d1@example.org",
            None,
            "hello",
            Some(forged),
            "#case DUNE-2026-0099\r\n#close\r\n",
        )
        .replace(&format!("To: {DESK}\r\n"), &format!("To: {DUNE}\r\n")),
    );
    let mail = w.new_mail();
    assert_eq!(
        recipients(&of(&mail, "team-notice")),
        vec![DAN.to_string()],
        "{}",
        summarize(&mail)
    );
}

/// The same for forged commands on a case: five refused on a top-level case used up the
/// budget of every desk (refusals were counted over all cases), and a forgery on dune's
/// case an hour later told dune's team nothing.
#[test]
fn forged_commands_on_one_desks_cases_leave_anothers_alerts() {
    let mut w = world();
    one_report_per_desk(&mut w);
    let mail = w.new_mail();
    let notice_to = |who: &str| {
        of(&mail, "team-notice")
            .into_iter()
            .find(|r| r.recipients == vec![who.to_string()])
            .unwrap()
            .message_id
            .to_string()
    };
    let (top, dune) = (notice_to(ALICE), notice_to(DAN));
    let strip = |id: &str| id.trim_matches(|c| c == '<' || c == '>').to_string();
    let forged =
        "mx.example.org; dkim=fail header.d=example.org; dmarc=fail header.from=example.org";
    for n in 0..6 {
        w.deliver(&team_mail(
            ALICE,
            &format!("f{n}@example.org"),
            Some(&strip(&top)),
            "Re: x",
            Some(forged),
            "#close\r\n",
        ));
    }
    assert_eq!(
        of(&w.new_mail(), "team-notice").len(),
        2 * 5,
        "the top level's budget"
    );
    w.deliver(
        &team_mail(
            DAN,
            "d1@example.org",
            Some(&strip(&dune)),
            "Re: x",
            Some(forged),
            "#close\r\n",
        )
        .replace(&format!("To: {DESK}\r\n"), &format!("To: {DUNE}\r\n")),
    );
    let mail = w.new_mail();
    assert_eq!(
        recipients(&of(&mail, "team-notice")),
        vec![DAN.to_string()],
        "{}",
        summarize(&mail)
    );
}

fn spam_summaries(rows: &[OutboxRow]) -> Vec<&OutboxRow> {
    rows.iter()
        .filter(|r| header(&r.bytes, "Subject").unwrap().starts_with("[spam]"))
        .collect()
}

/// Each desk's daily spam summary lists only its own suspect mail, to its own team, at
/// 09:00 in its own time zone.
#[test]
fn each_desk_has_its_own_spam_summary() {
    let mut w = world();
    let forged = |to: &str, id: &str| {
        format!(
            "Authentication-Results: mx.example.org; spf=pass smtp.mailfrom=spam.test; dkim=none; dmarc=fail (p=reject) header.from=innocent.test\r\n{}",
            report_to("victim@innocent.test", to, id, "Prize", "x")
        )
    };
    w.deliver(&forged(DESK, "f1@spam.test"));
    w.deliver(&forged(COHTTP, "f2@spam.test"));
    w.deliver(&forged(DUNE, "f3@spam.test"));
    assert!(w.new_mail().is_empty(), "suspect mail is never answered");
    w.run_due();
    // 09:00 in New York (15:00 in Paris): dune's, alone.
    w.clock.set(paris(2026, 11, 23, 14, 59));
    w.run_due();
    assert!(w.new_mail().is_empty());
    w.clock.set(paris(2026, 11, 23, 15, 0));
    w.run_due();
    let mail = w.new_mail();
    let summaries = spam_summaries(&mail);
    assert_eq!(
        recipients(&summaries),
        vec![DAN.to_string()],
        "{}",
        summarize(&mail)
    );
    let text = body(&summaries[0].bytes);
    assert!(text.contains("DUNE-2026-0001"), "{text}");
    assert!(
        !text.contains("SEC-") && !text.contains("COHTTP-"),
        "{text}"
    );
    // 09:00 in Paris the next day: the top level's and cohttp's.
    w.clock.set(paris(2026, 11, 24, 9, 0));
    w.run_due();
    let mail = w.new_mail();
    let summaries = spam_summaries(&mail);
    assert_eq!(
        recipients(&summaries),
        vec![ALICE.to_string(), BOB.to_string(), CAROL.to_string()],
        "{}",
        summarize(&mail)
    );
    for s in &summaries {
        let text = body(&s.bytes);
        let own = if s.recipients == vec![CAROL.to_string()] {
            "COHTTP-"
        } else {
            "SEC-"
        };
        assert!(text.contains(own), "{text}");
        for other in ["SEC-", "COHTTP-", "DUNE-"] {
            if other != own {
                assert!(!text.contains(other), "{text}");
            }
        }
    }
}

/// Reminders of a case go to its desk's team, from its desk.
#[test]
fn reminders_go_to_the_cases_desk() {
    let mut w = world();
    w.deliver(&report_to(RITA, COHTTP, "r1@reporter.test", "Bug", "x"));
    w.new_mail();
    // The first answer is due Thursday 17:00; its reminder comes before.
    w.clock.set(paris(2026, 11, 26, 17, 0));
    w.run_due();
    let mail = w.new_mail();
    let reminders = of(&mail, "reminder");
    assert!(!reminders.is_empty(), "{}", summarize(&mail));
    assert_eq!(recipients(&reminders), vec![CAROL.to_string()]);
    assert!(
        header(&reminders[0].bytes, "From")
            .unwrap()
            .contains(COHTTP)
    );
}

/// A reminder a pass listed as due, its case moved to another desk before the pass came
/// to it (a backlog of team mail filed meanwhile): it is sent, by the desk the case is
/// on now. (Its case was not found under the old id, and the moved reminder, pending
/// under the new one, was cancelled unsent.)
#[test]
fn a_reminder_listed_before_its_case_moved_is_sent_by_the_new_desk() {
    let mut w = world();
    let notice = report_on_top(&mut w, "r1@reporter.test", "Top bug");
    w.clock.set(paris(2026, 11, 26, 17, 0));
    let at = w.clock_now();
    let listed = w.store.read(|tx| tx.due_reminders(at)).unwrap();
    let first = listed
        .into_iter()
        .filter_map(Result::ok)
        .find(|r| r.scope == "SEC-2026-0001")
        .expect("the first-response reminder is due");
    w.command(ALICE, "m1@example.org", &notice, "#move cohttp\r\n");
    w.new_mail();
    let now = w.clock_now();
    let fired = secdesk::service::scheduler::fire_one(&w.desk, &mut w.store, &first, now).unwrap();
    assert!(
        matches!(&fired, Some(secdesk::service::scheduler::Fired::Sent { scope, .. }) if scope.starts_with("COHTTP-")),
        "{fired:?}"
    );
    let mail = w.new_mail();
    let reminders = of(&mail, "reminder");
    assert_eq!(
        recipients(&reminders),
        vec![CAROL.to_string()],
        "{}",
        summarize(&mail)
    );
}

/// `#duplicate` naming a case by the id it had before it moved here (the id the hand-over
/// notice and its reporter's subject show) closes the case as a duplicate of it. (It
/// said "there is no case", while `#case` took the old id.)
#[test]
fn duplicate_takes_the_old_id_of_a_case_that_moved_here() {
    let mut w = world();
    let notice = report_on_top(&mut w, "r1@reporter.test", "Top bug");
    w.command(ALICE, "m1@example.org", &notice, "#move cohttp\r\n");
    let moved = w
        .store
        .read(|tx| tx.case_alias(&"SEC-2026-0001".parse().unwrap()))
        .unwrap();
    let moved = moved.expect("the old id names the moved case");
    w.new_mail();
    w.deliver(&report_to(
        RITA,
        COHTTP,
        "r2@reporter.test",
        "Same bug",
        "x",
    ));
    let second = w
        .new_mail()
        .iter()
        .find(|r| r.purpose.as_str() == "team-notice" && r.recipients == vec![CAROL.to_string()])
        .unwrap()
        .message_id
        .to_string();
    w.command(
        CAROL,
        "c1@example.org",
        &second,
        "#duplicate SEC-2026-0001\r\n",
    );
    let t = body(&w.take("transcript").bytes);
    assert!(
        t.contains(&format!("closed as a duplicate of {moved}")),
        "{t}"
    );
}

/// A member of cohttp writing commands to the top desk's address, on no case of its
/// own there: cohttp reads the mail, as if written to its address. `#case` acts on
/// cohttp's case, `#new` opens one at cohttp, and none of it opens a report at the top
/// desk or reaches its team. (Each opened a report at the top desk: Carol was
/// acknowledged as a reporter, and her notes on an embargoed case went to Alice and
/// Bob.)
#[test]
fn a_members_commands_sent_to_another_desks_address_go_to_their_own_desk() {
    let mut w = world();
    w.deliver(&report_to(
        RITA,
        COHTTP,
        "r1@reporter.test",
        "Cohttp bug",
        "x",
    ));
    w.new_mail();
    let to_top = |id: &str, body: &str| team_mail(CAROL, id, None, "triage", None, body);
    w.deliver(&to_top(
        "c1@example.org",
        "#case COHTTP-2026-0001\r\n#severity high\r\nConfirmed; the fix ships in 1.2.\r\n",
    ));
    w.deliver(&to_top(
        "c2@example.org",
        "#new\r\nFound by our fuzzer.\r\n",
    ));
    let mail = w.new_mail();
    let summary = summarize(&mail);
    assert_eq!(
        w.case("COHTTP-2026-0001")
            .severity
            .map(|s| s.to_string())
            .as_deref(),
        Some("high"),
        "{summary}"
    );
    let ids: Vec<String> = w
        .cases()
        .iter()
        .filter_map(|c| c.split(' ').next().map(String::from))
        .collect();
    assert_eq!(
        ids,
        vec!["COHTTP-2026-0001", "COHTTP-2026-0002"],
        "{summary}"
    );
    assert!(
        mail.iter().all(|r| r.purpose.as_str() != "ack"
            && r.recipients != vec![ALICE.to_string()]
            && r.recipients != vec![BOB.to_string()]),
        "{summary}"
    );
}

/// A published case stays on the desk that published it: its advisory was committed
/// and is pushed from that desk's repository. (It moved, and its pending push looked
/// for the branch under an id that no longer existed, failing at every pass.)
#[test]
fn a_published_case_is_not_moved() {
    let mut w = world();
    let notice = report_on_top(&mut w, "r1@reporter.test", "Top bug");
    let setup = "#valid\r\n#summary Header injection\r\n#package top\r\n#affected < 6.0.1\r\n#fixed-in 6.0.1\r\n#details\r\nA crafted header is sent on.\r\n";
    w.command(ALICE, "a1@example.org", &notice, setup);
    w.command(ALICE, "a2@example.org", &notice, "#publish now\r\n");
    assert_eq!(w.case("SEC-2026-0001").status, CaseStatus::Published);
    w.new_mail();
    let p = w.command(ALICE, "a3@example.org", &notice, "#move cohttp\r\n");
    assert_eq!(filed_on(&p), "SEC-2026-0001");
    let transcript = body(&w.take("transcript").bytes);
    assert!(transcript.contains("was published here as"), "{transcript}");
}

/// Rita's report to the top level, put in the spam state by Alice; the id of Alice's
/// notice of it.
fn rita_in_spam(w: &mut World) -> String {
    w.deliver(&report_to(
        RITA,
        DESK,
        "r1@reporter.test",
        "Cheap pills",
        "x",
    ));
    let notice = w
        .new_mail()
        .iter()
        .find(|r| r.purpose.as_str() == "team-notice" && r.recipients == vec![ALICE.to_string()])
        .unwrap()
        .message_id
        .to_string();
    w.command(ALICE, "a1@example.org", &notice, "#spam\r\n");
    notice
}

/// A case in the spam state moved to another desk (its team to decide on `#notspam`):
/// its sender, a forged or a spammer's address that never heard from the desk, was told
/// the report continues there, from that desk's address: backscatter.
#[test]
fn a_case_in_the_spam_state_is_moved_without_a_word_to_its_sender() {
    let mut w = world();
    let notice = rita_in_spam(&mut w);
    assert_eq!(w.case("SEC-2026-0001").status, CaseStatus::Spam);
    w.new_mail();
    w.command(ALICE, "a2@example.org", &notice, "#move cohttp\r\n");
    let out = w.new_mail();
    assert!(
        !out.iter().any(|r| r.recipients.contains(&RITA.to_string())),
        "{}",
        summarize(&out)
    );
    assert!(
        of(&out, "team-notice")
            .iter()
            .any(|r| r.recipients.contains(&CAROL.to_string())),
        "{}",
        summarize(&out)
    );
}

/// `#move` then `#notspam` (or `#spam`) in one mail: the transcript said the sender was
/// not told (the case in the spam state at the `#move` line), and the sender was told,
/// acknowledged and moved; or the other way round. The spam state changes in a mail of
/// its own, before or after the move.
#[test]
fn a_case_moving_does_not_change_its_spam_state_in_the_same_mail() {
    let mut w = world();
    let notice = rita_in_spam(&mut w);
    w.new_mail();
    w.command(
        ALICE,
        "a2@example.org",
        &notice,
        "#move cohttp\r\n#notspam\r\n",
    );
    let out = w.new_mail();
    assert!(
        !out.iter().any(|r| r.recipients.contains(&RITA.to_string())),
        "{}",
        summarize(&out)
    );
    let transcript = body(&of(&out, "transcript")[0].bytes);
    assert!(transcript.contains("in a mail of its own"), "{transcript}");
}

/// A case closed from the spam state, moved (then, or in the same mail after the
/// `#move`): its sender, never acknowledged, is told nothing. The move notice went to
/// them, since the case was no longer in the spam state when it moved.
#[test]
fn a_case_closed_from_the_spam_state_is_moved_without_a_word_to_its_sender() {
    for (first, second) in [
        ("#close\r\n", "#move cohttp\r\n"),
        ("#move cohttp\r\n#close\r\n", ""),
    ] {
        let mut w = world();
        let notice = rita_in_spam(&mut w);
        w.command(ALICE, "a2@example.org", &notice, first);
        if !second.is_empty() {
            w.command(ALICE, "a3@example.org", &notice, second);
        }
        let out = w.new_mail();
        assert!(
            !out.iter().any(|r| r.recipients.contains(&RITA.to_string())),
            "{first:?}: {}",
            summarize(&out)
        );
        let said = body(&of(&out, "transcript").last().unwrap().bytes);
        assert!(said.contains("not its sender"), "{first:?}: {said}");
    }
}

/// `#move` then `#publish` in one mail: the advisory went out under this desk's prefix
/// and list, then the case moved away from the branch it was committed on. The
/// `#publish` waits for a mail of its own, on the desk the case ends on.
#[test]
fn a_case_moving_is_not_published_in_the_same_mail() {
    let mut w = world();
    let notice = report_on_top(&mut w, "r1@reporter.test", "Top bug");
    let setup = "#valid\r\n#summary Header injection\r\n#package top\r\n#affected < 6.0.1\r\n#fixed-in 6.0.1\r\n#details\r\nA crafted header is sent on.\r\n";
    w.command(ALICE, "a1@example.org", &notice, setup);
    w.new_mail();
    w.command(
        ALICE,
        "a2@example.org",
        &notice,
        "#move cohttp\r\n#publish now\r\n",
    );
    let out = w.new_mail();
    let transcript = body(&first(&out, "transcript").bytes);
    assert!(transcript.contains("#publish now\n  ✗"), "{transcript}");
    let moved = w.case("COHTTP-2026-0001");
    assert_ne!(moved.status, CaseStatus::Published);
    assert_eq!(moved.advisory_id, None);
    assert!(
        out.iter().all(|r| r.purpose.as_str() != "announce"),
        "{}",
        summarize(&out)
    );
}

/// `#move` then `#preannounce` in one mail: this desk's list was told of an advisory
/// that goes out on another desk's list. The pre-announcement waits for a mail of its
/// own, on the desk the case ends on.
#[test]
fn a_case_moving_is_not_preannounced_in_the_same_mail() {
    let mut w = world();
    let notice = report_on_top(&mut w, "r1@reporter.test", "Top bug");
    w.command(
        ALICE,
        "a1@example.org",
        &notice,
        "#valid\r\n#package top\r\n",
    );
    w.new_mail();
    w.command(
        ALICE,
        "a2@example.org",
        &notice,
        "#move cohttp\r\n#preannounce 2026-12-10\r\n",
    );
    let out = w.new_mail();
    let transcript = body(&first(&out, "transcript").bytes);
    assert!(
        transcript.contains("#preannounce 2026-12-10\n  ✗ the case moves to the desk cohttp"),
        "{transcript}"
    );
    assert!(
        out.iter().all(|r| r.purpose.as_str() != "preannounce"),
        "{}",
        summarize(&out)
    );
    // The other order: the pre-announcement has gone to this desk's list, so the case
    // stays here.
    let second = report_on_top(&mut w, "r2@reporter.test", "Second bug");
    w.command(
        ALICE,
        "a3@example.org",
        &second,
        "#valid\r\n#package top\r\n#preannounce 2026-12-10\r\n#move cohttp\r\n",
    );
    let transcript = body(&w.take("transcript").bytes);
    assert!(
        transcript.contains("#move cohttp\n  ✗ this mail pre-announced the case"),
        "{transcript}"
    );
    assert_eq!(w.case("SEC-2026-0002").status, CaseStatus::Valid);
}

/// A mail set aside after its processing failed again and again is never parsed again in
/// the daemon (the parser may be what failed, and a crash there takes the desk down):
/// `#move` of its case parsed it inside the transaction, for the new team's notice.
#[test]
fn a_set_aside_mail_is_not_parsed_again_by_a_move() {
    let mut w = world();
    let raw = report_to(
        RITA,
        DESK,
        "aside@reporter.test",
        "Parser killer",
        "UNPARSED-WORDS",
    );
    let now = w.clock_now();
    let id = w
        .store
        .write(|tx| {
            tx.insert_raw(
                ("INBOX", UidValidity(1), Uid(9999)),
                raw.as_bytes(),
                now,
                Arrival::Live,
                false,
            )
        })
        .unwrap()
        .unwrap();
    w.desk.set_aside(&mut w.store, id, 3, now).unwrap();
    let alert = w
        .new_mail()
        .iter()
        .find(|r| r.recipients == vec![ALICE.to_string()])
        .unwrap()
        .message_id
        .to_string();
    w.command(ALICE, "a1@example.org", &alert, "#move cohttp\r\n");
    let out = w.new_mail();
    let carols = of(&out, "team-notice")
        .into_iter()
        .find(|r| r.recipients.contains(&CAROL.to_string()))
        .map(|r| body(&r.bytes))
        .unwrap_or_default();
    assert!(carols.contains("could not be read"), "{}", summarize(&out));
    assert!(!carols.contains("UNPARSED-WORDS"), "{carols}");
}

/// `#forward` to an address of the daemon (another desk's, a case's plus address): the
/// forward came back as the desk's own mail and was dropped, while the transcript said
/// it went. It is refused, and `#move` named.
#[test]
fn a_forward_to_a_desks_own_address_is_refused() {
    forwards_are_refused(
        &[
            COHTTP,
            "security+sec-2026-0001@example.org",
            "Security+Dune@Example.org",
        ],
        "`#move` hands a case to another desk",
    );
}

/// A `#forward` to a public announce list (this desk's or another's: a slip of an
/// address book's completion) is refused: the whole embargoed report went to the list
/// its advisories are published on, and every subscriber's answer was filed as
/// upstream's.
#[test]
fn a_forward_to_an_announce_list_is_refused() {
    forwards_are_refused(
        &["Announce@example.org", "cohttp-announce@example.org"],
        "public announce list",
    );
}

/// Each `#forward` to one of `addresses`, on a report to the top level, sends nothing
/// and its transcript says `why`.
fn forwards_are_refused(addresses: &[&str], why: &str) {
    let mut w = world();
    let notice = report_on_top(&mut w, "r1@reporter.test", "Top bug");
    for (n, to) in addresses.iter().enumerate() {
        w.command(
            ALICE,
            &format!("fw{n}@example.org"),
            &notice,
            &format!("#forward {to}\r\n"),
        );
        let out = w.new_mail();
        assert!(
            out.iter().all(|r| r.purpose.as_str() != "forward"),
            "{to}: {}",
            summarize(&out)
        );
        let t = body(&first(&out, "transcript").bytes);
        assert!(t.contains(why), "{to}: {t}");
    }
}

/// Mail to a desk that cannot be read (a shape the parser is not given) was filed on the
/// top level, and the top level's team got it whole, attached: another desk's embargoed
/// report, shown to a team that must not see it, and never to its own. It goes to the
/// desk its delivery headers name, read by a bounded scan of the raw header.
#[test]
fn unreadable_mail_goes_to_the_desk_it_was_sent_to() {
    let mut w = world();
    let bomb = unreadable(&report_to(
        RITA,
        COHTTP,
        "u1@reporter.test",
        "Cohttp RCE",
        "x",
    ));
    assert!(matches!(
        w.deliver(&bomb),
        Processed::Filed { opened: true, .. }
    ));
    let out = w.new_mail();
    assert_eq!(
        recipients(&of(&out, "team-notice")),
        vec![CAROL.to_string()],
        "{}",
        summarize(&out)
    );
    assert_eq!(w.case("COHTTP-2026-0001").subject, "(unreadable mail)");
}

/// Commands on a case of this desk from a forged From naming another desk's member: they
/// were recorded as the colleague's, and the team was asked to add "them" to its team.
/// They are told as a claim now, with no such advice.
#[test]
fn forged_commands_in_another_desks_members_name_are_told_as_a_claim() {
    let mut w = world();
    let notice = report_on_top(&mut w, "r1@reporter.test", "Top bug");
    let parent = notice.trim_matches(|c| c == '<' || c == '>').to_string();
    w.deliver(&team_mail(
        CAROL,
        "forged@example.org",
        Some(&parent),
        "Re: Top bug",
        Some("mx.example.org; dkim=fail header.d=example.org; dmarc=fail header.from=example.org"),
        "#assign me\r\n",
    ));
    let out = w.new_mail();
    let alert = of(&out, "team-notice")
        .into_iter()
        .find(|r| r.recipients.contains(&ALICE.to_string()))
        .map(|r| body(&r.bytes))
        .unwrap_or_else(|| panic!("no alert: {}", summarize(&out)));
    assert!(
        alert.contains("claiming to be carol@example.org"),
        "{alert}"
    );
    assert!(!alert.contains("add them to this desk's team"), "{alert}");
}

/// Each desk's unreadable mail has its own alert budget: five unreadable mails to the
/// top level in an hour left the next one to cohttp, routed there, untold (the budget
/// was counted over every desk).
#[test]
fn one_desks_unreadable_mail_leaves_anothers_alerts() {
    let mut w = world();
    let bomb = |to: &str, n: usize| {
        unreadable(&report_to(
            RITA,
            to,
            &format!("u{n}@reporter.test"),
            "x",
            "x",
        ))
    };
    for n in 0..6 {
        w.deliver(&bomb(DESK, n));
    }
    w.new_mail();
    w.deliver(&bomb(COHTTP, 9));
    let out = w.new_mail();
    assert_eq!(
        recipients(&of(&out, "team-notice")),
        vec![CAROL.to_string()],
        "{}",
        summarize(&out)
    );
}

/// Forged commands on the case of a desk taken out of the configuration (its cases are
/// the top level's now): refusals were counted in the top level's series alone, and
/// every forged mail alerted the team, without bound.
#[test]
fn forged_commands_on_a_removed_desks_case_are_alerted_five_times_an_hour() {
    let mut w = world();
    one_report_per_desk(&mut w);
    let mail = w.new_mail();
    let dune = of(&mail, "team-notice")
        .into_iter()
        .find(|r| r.recipients == vec![DAN.to_string()])
        .unwrap()
        .message_id
        .to_string();
    let parent = dune.trim_matches(|c| c == '<' || c == '>').to_string();
    w.reconfigure(|t| t);
    // A desk made anew numbers its mails from 0 again: a later moment keeps their ids
    // apart, as a restart's new process does.
    let later = w.clock_now() + chrono::Duration::minutes(1);
    w.clock.set(later);
    let forged =
        "mx.example.org; dkim=fail header.d=example.org; dmarc=fail header.from=example.org";
    for n in 0..8 {
        w.deliver(&team_mail(
            ALICE,
            &format!("rf{n}@example.org"),
            Some(&parent),
            "Re: Dune bug",
            Some(forged),
            "#close\r\n",
        ));
    }
    let alerts = of(&w.new_mail(), "team-notice").len();
    assert!(alerts <= 2 * 5, "{alerts} alerts");
}

/// A `#move` whose block a `#case` naming another case stopped moves nothing: the
/// transcript says "not done", and the case stays where it is. The second of two
/// `#move` lines fails too. (The case the mail threaded into was handed over all the
/// same, to the other desk's team, while the transcript said nothing was done.)
#[test]
fn a_move_that_was_not_done_moves_nothing() {
    let mut w = world();
    w.deliver(&report_to(RITA, DESK, "r1@reporter.test", "First", "x"));
    w.deliver(&report_to(RITA, DESK, "r2@reporter.test", "Second", "y"));
    let mail = w.new_mail();
    let notice = mail
        .iter()
        .find(|r| {
            r.purpose.as_str() == "team-notice"
                && r.recipients == vec![ALICE.to_string()]
                && header(&r.bytes, "Subject")
                    .unwrap()
                    .contains("SEC-2026-0002")
        })
        .unwrap()
        .message_id
        .to_string();
    w.command(
        ALICE,
        "a1@example.org",
        &notice,
        "#case SEC-2026-0001\r\n#move cohttp\r\n",
    );
    let mail = w.new_mail();
    let summary = summarize(&mail);
    assert_eq!(
        w.case("SEC-2026-0002").id.to_string(),
        "SEC-2026-0002",
        "{summary}"
    );
    assert_eq!(
        w.case("SEC-2026-0001").id.to_string(),
        "SEC-2026-0001",
        "{summary}"
    );
    assert!(
        mail.iter().all(|r| r.recipients != vec![CAROL.to_string()]),
        "cohttp's team was handed a case: {summary}"
    );
    let transcript = body(&first(&mail, "transcript").bytes);
    assert!(
        transcript.contains("#move cohttp\n  ✗ not done:"),
        "{transcript}"
    );

    let p = w.command(
        ALICE,
        "a2@example.org",
        &notice,
        "#move cohttp\r\n#move dune\r\n",
    );
    let transcript = body(&w.take("transcript").bytes);
    assert!(
        transcript.contains("the case already moves to the desk cohttp"),
        "{transcript}"
    );
    assert_eq!(filed_on(&p), "COHTTP-2026-0001");
}

/// A case opened by automatic mail (a list that rewrote From to its own address, a
/// robot) was never acknowledged: moved, its sender is told nothing either (the list
/// received both case ids, signed by the new desk).
#[test]
fn a_case_opened_by_automatic_mail_is_moved_without_a_word_to_its_sender() {
    let mut w = world();
    let p = w.deliver(&format!(
        "From: list@lists.test\r\nTo: {DESK}\r\nList-Id: <dev.lists.test>\r\nSubject: Bug in cohttp\r\nMessage-ID: <l1@lists.test>\r\n\r\nx\r\n"
    ));
    assert_eq!(opened(&p), "SEC-2026-0001");
    let mail = w.new_mail();
    assert!(!summarize(&mail).contains("ack ->"), "{}", summarize(&mail));
    let notice = mail
        .iter()
        .find(|r| r.purpose.as_str() == "team-notice" && r.recipients == vec![ALICE.to_string()])
        .unwrap()
        .message_id
        .to_string();
    let p = w.command(ALICE, "a1@example.org", &notice, "#move cohttp\r\n");
    assert_eq!(filed_on(&p), "COHTTP-2026-0001");
    let mail = w.new_mail();
    let summary = summarize(&mail);
    assert!(!summary.contains("list@lists.test"), "{summary}");
    let transcript = body(&of(&mail, "transcript")[0].bytes);
    assert!(
        transcript.contains("not its sender: the report was sent by a machine"),
        "{transcript}"
    );
    let events = w.events("COHTTP-2026-0001");
    assert!(
        events.iter().any(|e| e
            .detail
            .contains("its sender is not told: the report was automatic mail")),
        "{events:?}"
    );
}

/// `#move`: a new id in the target desk's series, history along, the old id still
/// threading to it, both teams told, the reporter told only the new id; afterwards the
/// new team acts on it and the old one cannot.
/// A mail of a case being sent while the case moves, and refused for good: its failure
/// is recorded on the case as it is now. (The record named the old id, which the move
/// deleted: the database refused the whole record, and the mails sent with it went
/// again.)
#[test]
fn a_mail_refused_while_its_case_moved_is_recorded_on_the_moved_case() {
    let mut w = world();
    let notice = report_on_top(&mut w, "r1@reporter.test", "Bug in cohttp");
    let ack = w.first_queued("ack");
    w.command(ALICE, "a1@example.org", &notice, "#move cohttp\r\n");
    let moved = w
        .store
        .read(|tx| tx.case_alias(&CaseId::parse("SEC-2026-0001").unwrap()))
        .unwrap()
        .unwrap();
    w.new_mail();
    let now = w.clock_now();
    let desk = &w.desk;
    w.store
        .write(|tx| desk.delivery_failed(tx, &ack, "550 5.1.1 no such mailbox", now))
        .unwrap();
    let events = w.events(&moved.to_string());
    assert!(
        events
            .iter()
            .any(|e| e.kind == EventKind::DeliveryFailed && e.detail.contains("550 5.1.1")),
        "{events:?}"
    );
    let alerts = w.new_mail();
    assert!(
        alerts
            .iter()
            .any(|r| r.recipients == vec![CAROL.to_string()]
                && header(&r.bytes, "Subject")
                    .unwrap()
                    .contains(&moved.to_string())),
        "{}",
        summarize(&alerts)
    );
}

#[test]
fn move_hands_a_case_to_another_desk() {
    let mut w = world();
    let p = w.deliver(&report_to(
        RITA,
        DESK,
        "r1@reporter.test",
        "Bug in cohttp",
        "x",
    ));
    assert_eq!(opened(&p), "SEC-2026-0001");
    // cohttp already has a case of its own: the moved one takes the next number.
    w.deliver(&report_to(RITA, COHTTP, "r0@reporter.test", "Other", "y"));
    let mail = w.new_mail();
    let notice = mail
        .iter()
        .find(|r| r.purpose.as_str() == "team-notice" && r.recipients == vec![ALICE.to_string()])
        .unwrap()
        .message_id
        .to_string();
    let ack = mail
        .iter()
        .find(|r| {
            r.purpose.as_str() == "ack" && header(&r.bytes, "Subject").unwrap().contains("SEC-")
        })
        .unwrap()
        .message_id
        .to_string();
    // A wrong desk name fails and moves nothing.
    w.command(ALICE, "a0@example.org", &notice, "#move nope\r\n");
    let transcript = body(&w.take("transcript").bytes);
    assert!(
        transcript.contains("there is no desk named `nope`"),
        "{transcript}"
    );
    assert_eq!(w.case("SEC-2026-0001").id.to_string(), "SEC-2026-0001");

    let p = w.command(
        ALICE,
        "a1@example.org",
        &notice,
        "#severity high\r\n#move cohttp\r\n",
    );
    assert_eq!(filed_on(&p), "COHTTP-2026-0002");
    let mail = w.new_mail();
    let summary = summarize(&mail);
    // Both teams told; the reporter told the new id only.
    let to = |who: &str| -> Vec<&OutboxRow> {
        mail.iter()
            .filter(|r| r.recipients == vec![who.to_string()])
            .collect()
    };
    assert!(
        to(CAROL).iter().any(|r| header(&r.bytes, "Subject")
            .unwrap()
            .contains("[COHTTP-2026-0002] handed over")),
        "{summary}"
    );
    assert!(
        to(BOB).iter().any(|r| header(&r.bytes, "Subject")
            .unwrap()
            .contains("moved to the desk cohttp as COHTTP-2026-0002")),
        "{summary}"
    );
    let rita = to(RITA);
    assert_eq!(rita.len(), 1, "{summary}");
    // The desk's words, not a person's: an autoresponder must not answer them.
    assert_eq!(
        header(&rita[0].bytes, "Auto-Submitted").as_deref(),
        Some("auto-generated"),
        "{summary}"
    );
    let words = header(&rita[0].bytes, "Subject").unwrap() + "\n" + &body(&rita[0].bytes);
    assert!(words.contains("continues as COHTTP-2026-0002"), "{words}");
    assert!(
        !words.to_lowercase().contains("desk"),
        "the reporter learns of no desk: {words}"
    );
    assert!(!words.contains("Example Security Team"), "{words}");
    // History along; the old id is an alias.
    let case = w.case("COHTTP-2026-0002");
    assert_eq!(
        case.severity.map(|s| s.to_string()).as_deref(),
        Some("high")
    );
    let events = w.events("COHTTP-2026-0002");
    assert!(
        events.iter().any(|e| e.kind == EventKind::Opened),
        "{events:?}"
    );
    assert!(events.iter().any(|e| {
        e.detail
            .contains("moved from the desk main (SEC-2026-0001)")
    }));
    // The reporter answers the old ack, to the old address: the new team hears of it.
    let reply = format!(
        "From: {RITA}\r\nTo: security+sec-2026-0001@example.org\r\nSubject: Re: [SEC-2026-0001] Bug\r\nMessage-ID: <r2@reporter.test>\r\nIn-Reply-To: <{ack}>\r\n\r\nany news?\r\n"
    );
    assert_eq!(filed_on(&w.deliver(&reply)), "COHTTP-2026-0002");
    let mail = w.new_mail();
    assert_eq!(
        recipients(&of(&mail, "team-notice")),
        vec![CAROL.to_string()],
        "{}",
        summarize(&mail)
    );
    // The old id alone (a fresh mail, subject tag) still threads.
    let tagged = report_to(RITA, DESK, "r3@reporter.test", "[SEC-2026-0001] again", "z");
    assert_eq!(filed_on(&w.deliver(&tagged)), "COHTTP-2026-0002");
    w.new_mail();
    // Alice has no power over it any more.
    w.command(ALICE, "a2@example.org", &notice, "#close\r\n");
    assert_ne!(w.case("COHTTP-2026-0002").status.to_string(), "closed");
    // A new case of the top desk does not take the old number back.
    let p = w.deliver(&report_to(RITA, DESK, "r4@reporter.test", "New", "w"));
    assert_eq!(opened(&p), "SEC-2026-0002");
}

/// The notice a `#move` sends the new desk's team is written by the desk, not by a
/// template, and it wrote the reporter's address as the mail gave it: a right-to-left
/// override or a terminal escape in it reached the team's mail, a bare CR a line of
/// its own. It is one clean line now, as a template makes it.
#[test]
fn the_move_notice_writes_the_reporters_address_as_one_clean_line() {
    let mut w = world();
    let from = "<rita\u{202e}moc.live\x1b]0;x\x07\rForged: line@evil.test>";
    w.deliver(&report_to(
        from,
        DESK,
        "r1@reporter.test",
        "Bug in cohttp",
        "x",
    ));
    let notice = w.take("team-notice").message_id.to_string();
    let reporter = w.case("SEC-2026-0001").reporter.unwrap();
    assert!(
        reporter.contains('\u{202e}'),
        "the address as stored: {reporter:?}"
    );
    w.command(ALICE, "a1@example.org", &notice, "#move cohttp\r\n");
    let mail = w.new_mail();
    let handed = mail
        .iter()
        .find(|r| r.recipients == vec![CAROL.to_string()])
        .unwrap();
    let text = body(&handed.bytes);
    assert!(text.contains("Reporter: rita"), "{text}");
    let unsafe_char =
        |c: char| (c.is_control() && c != '\n' && c != '\t') || secdesk::sanitize::is_reordering(c);
    assert!(!text.chars().any(unsafe_char), "{text:?}");
    assert!(!text.lines().any(|l| l.starts_with("Forged:")), "{text}");
}

/// The notice a `#move` sends the new team carries the report's text cut as a team
/// notice's is (256 KiB): it carried it whole, and a report of megabytes made a notice
/// the relay refused for its size, the new team told nothing of the case it now owns.
#[test]
fn the_move_notice_carries_a_long_report_cut_short() {
    let mut w = world();
    let text = "A log line of the crash, long enough to count.\r\n".repeat(25_000);
    w.deliver(&report_to(
        RITA,
        DESK,
        "r1@reporter.test",
        "Bug in cohttp",
        &text,
    ));
    let notice = w.take("team-notice").message_id.to_string();
    w.command(ALICE, "a1@example.org", &notice, "#move cohttp\r\n");
    let mail = w.new_mail();
    let handed = mail
        .iter()
        .find(|r| r.recipients == vec![CAROL.to_string()])
        .unwrap();
    let shown = body(&handed.bytes);
    assert!(shown.len() < 300 * 1024, "{} bytes", shown.len());
    assert!(
        shown.contains("more bytes of text: the whole mail stays in the desk's mailbox]"),
        "{}",
        &shown[shown.len().saturating_sub(300)..]
    );
}

/// A report forwarded to one desk with another desk's tag in its subject (a case of
/// this daemon's top level, opened later): the reply that lost its In-Reply-To, to the
/// case's own plus address, carries both tags, this desk's first. The top level's tag
/// was tried first, whatever its place, and the mail went to another reporter's case
/// on another desk. The tag that comes first decides.
#[test]
fn the_first_tag_in_the_subject_decides_among_desks() {
    let mut w = world();
    let p = w.deliver(&report_to(
        RITA,
        COHTTP,
        "r1@reporter.test",
        "Fwd: [SEC-2026-0002] Bug",
        "x",
    ));
    assert_eq!(opened(&p), "COHTTP-2026-0001");
    w.deliver(&report_to(
        "bob@reporter.test",
        DESK,
        "b1@reporter.test",
        "One",
        "y",
    ));
    w.deliver(&report_to(
        "bob@reporter.test",
        DESK,
        "b2@reporter.test",
        "Two",
        "z",
    ));
    assert_eq!(w.case("SEC-2026-0002").subject, "Two");
    w.new_mail();
    let p = w.deliver(&report_to(
        RITA,
        "security+cohttp+cohttp-2026-0001@example.org",
        "r2@reporter.test",
        "Re: [COHTTP-2026-0001] [SEC-2026-0002] Bug",
        "more",
    ));
    assert_eq!(filed_on(&p), "COHTTP-2026-0001");
    let mail = w.new_mail();
    assert!(
        !mail.iter().any(|r| r.recipients == vec![ALICE.to_string()]),
        "{}",
        summarize(&mail)
    );
}

/// `secdesk case` and `secdesk advisory` given the id a `#move` left behind show the case
/// it became, and say so: mail under the old id still reaches that case, and the
/// operator holding it was told there was no such case.
#[test]
fn the_read_side_commands_follow_a_moved_cases_old_id() {
    let mut w = world();
    w.deliver(&report_to(
        RITA,
        DESK,
        "r1@reporter.test",
        "Bug in cohttp",
        "x",
    ));
    let notice = w.take("team-notice").message_id.to_string();
    let p = w.command(ALICE, "a1@example.org", &notice, "#move cohttp\r\n");
    assert_eq!(filed_on(&p), "COHTTP-2026-0001");
    let cfg = w.config_file(DESKS);

    let (ok, out, err) = secdesk(&cfg, &["case", "SEC-2026-0001"]);
    assert!(ok, "{err}");
    assert!(out.contains("COHTTP-2026-0001"), "{out}");
    assert!(
        err.contains("SEC-2026-0001 was moved to another desk: it is COHTTP-2026-0001 now"),
        "{err}"
    );
    let (ok, out, err) = secdesk(&cfg, &["advisory", "SEC-2026-0001", "--format", "osv"]);
    assert!(ok, "{err}");
    let osv: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(osv["database_specific"]["case_id"], "COHTTP-2026-0001");
    // An id that never was is still no case.
    let (ok, _, err) = secdesk(&cfg, &["case", "SEC-2026-0009"]);
    assert!(
        !ok && err.contains("there is no case SEC-2026-0009"),
        "{err}"
    );
}

/// A desk taken out of the configuration leaves its cases to the top level: their
/// reminders go to the main team and its digest lists them, so `deadlines --desk main`
/// and `calendar --desk main` show their deadlines too (they left them out).
#[test]
fn the_main_desks_deadlines_hold_a_removed_desks_cases() {
    let mut w = world();
    one_report_per_desk(&mut w);
    let db = w.desk.config.desk.database.clone();
    let cfg = w._dir.path().join("config.toml");
    // dune stays, cohttp is gone.
    let dune_only = DESKS
        .split("\n[desks.")
        .filter(|part| !part.starts_with("cohttp"))
        .collect::<Vec<_>>()
        .join("\n[desks.");
    assert!(
        !dune_only.contains("cohttp") && dune_only.contains("dune"),
        "{dune_only}"
    );
    std::fs::write(&cfg, config_text(db.to_str().unwrap(), 143, 25, &dune_only)).unwrap();

    let (ok, out, err) = secdesk(&cfg, &["deadlines", "--desk", "main"]);
    assert!(ok, "{err}");
    assert!(
        out.contains("COHTTP-2026-0001") && out.contains("SEC-2026-0001"),
        "{out}"
    );
    assert!(!out.contains("DUNE-2026-0001"), "{out}");
    let ics = w._dir.path().join("main.ics");
    let (ok, _, err) = secdesk(
        &cfg,
        &[
            "calendar",
            "--desk",
            "main",
            "--output",
            ics.to_str().unwrap(),
        ],
    );
    assert!(ok, "{err}");
    let text = std::fs::read_to_string(&ics).unwrap();
    assert!(
        text.contains("cohttp-2026-0001-first-answer@") && !text.contains("DUNE-2026-0001"),
        "{text}"
    );
}

/// `cases --desk`, `deadlines --desk`, `calendar --desk`; an unknown desk is an error.
#[test]
fn the_read_side_commands_take_a_desk() {
    let mut w = world();
    one_report_per_desk(&mut w);
    let cfg = w.config_file(DESKS);

    let (ok, out, err) = secdesk(&cfg, &["cases"]);
    assert!(ok, "{err}");
    assert!(out.starts_with("CASE"), "{out}");
    assert!(out.contains("DESK"), "{out}");
    for id in ["SEC-2026-0001", "COHTTP-2026-0001", "DUNE-2026-0001"] {
        assert!(out.contains(id), "{out}");
    }
    let (ok, out, err) = secdesk(&cfg, &["cases", "--desk", "cohttp"]);
    assert!(ok, "{err}");
    assert!(out.contains("COHTTP-2026-0001"), "{out}");
    assert!(
        !out.contains("SEC-2026-0001") && !out.contains("DUNE-"),
        "{out}"
    );
    let (ok, out, _) = secdesk(&cfg, &["cases", "--all", "--desk", "main"]);
    assert!(ok);
    assert!(
        out.contains("SEC-2026-0001") && !out.contains("COHTTP-"),
        "{out}"
    );

    let (ok, out, err) = secdesk(&cfg, &["deadlines", "--desk", "dune"]);
    assert!(ok, "{err}");
    assert!(out.contains("America/New_York"), "{out}");
    assert!(
        out.contains("DUNE-2026-0001") && !out.contains("SEC-2026"),
        "{out}"
    );

    let ics = w._dir.path().join("dune.ics");
    let (ok, out, err) = secdesk(
        &cfg,
        &[
            "calendar",
            "--desk",
            "dune",
            "--output",
            ics.to_str().unwrap(),
        ],
    );
    assert!(ok, "{err}");
    assert!(out.contains("deadlines written"), "{out}");
    let text = std::fs::read_to_string(&ics).unwrap();
    assert!(
        text.contains("DUNE-2026-0001") && !text.contains("COHTTP-"),
        "{text}"
    );
    // Every desk's calendar at once: each case's deadlines in its own desk's time zone
    // (dune's embargo ends at midnight in New York, as in dune's own file).
    let all = w._dir.path().join("all.ics");
    let (ok, _, err) = secdesk(&cfg, &["calendar", "--output", all.to_str().unwrap()]);
    assert!(ok, "{err}");
    let start_of = |text: &str, uid: &str| -> String {
        let event = text
            .split("BEGIN:VEVENT")
            .find(|e| e.contains(uid))
            .unwrap_or_else(|| panic!("no {uid} in {text}"));
        event
            .lines()
            .find(|l| l.starts_with("DTSTART"))
            .unwrap()
            .to_string()
    };
    let everyone = std::fs::read_to_string(&all).unwrap();
    assert_eq!(
        start_of(&everyone, "dune-2026-0001-embargo@"),
        start_of(&text, "dune-2026-0001-embargo@")
    );
    assert_eq!(
        start_of(&everyone, "dune-2026-0001-first-answer@"),
        start_of(&text, "dune-2026-0001-first-answer@")
    );

    for args in [
        &["cases", "--desk", "nope"][..],
        &["deadlines", "--desk", "nope"][..],
        &["calendar", "--desk", "nope"][..],
    ] {
        let (ok, _, err) = secdesk(&cfg, args);
        assert!(!ok, "{args:?}");
        assert!(
            err.contains("there is no desk named `nope`; the desks are: main, cohttp, dune"),
            "{args:?}: {err}"
        );
    }
}

/// `#new` then `#move` in one mail: the case is opened and handed over, as the
/// transcript says (it stayed on the sender's desk while the transcript said it moved).
#[test]
fn a_case_opened_and_moved_in_one_mail_moves() {
    let mut w = world();
    let new = format!(
        "Authentication-Results: mx.example.org; dkim=pass header.d=example.org header.s=s1; spf=pass\r\nFrom: {ALICE}\r\nTo: {DESK}\r\nSubject: For the cohttp team\r\nMessage-ID: <n1@example.org>\r\n\r\n#new\r\n#move cohttp\r\n"
    );
    let p = w.deliver(&new);
    assert_eq!(filed_on(&p), "COHTTP-2026-0001");
    let moved = w.case("COHTTP-2026-0001");
    assert_eq!(moved.subject, "For the cohttp team");
    assert!(
        w.store
            .read(|tx| tx.load_case(&CaseId::parse("SEC-2026-0001").unwrap()))
            .unwrap()
            .is_none()
    );
    let mail = w.new_mail();
    let to_carol = of(&mail, "team-notice")
        .into_iter()
        .filter(|r| r.recipients == vec![CAROL.to_string()])
        .count();
    assert_eq!(to_carol, 1, "{}", summarize(&mail));

    // Mail naming the old id still reaches the case, as the old team was told.
    let named = format!(
        "Authentication-Results: mx.example.org; dkim=pass header.d=example.org header.s=s1; spf=pass\r\nFrom: {CAROL}\r\nTo: {COHTTP}\r\nSubject: Triage\r\nMessage-ID: <c1@example.org>\r\n\r\n#case SEC-2026-0001\r\n#severity low\r\n"
    );
    assert_eq!(filed_on(&w.deliver(&named)), "COHTTP-2026-0001");
    assert_eq!(
        w.case("COHTTP-2026-0001")
            .severity
            .map(|s| s.to_string())
            .as_deref(),
        Some("low")
    );
}

/// A case moved with a responder who is not on the new desk's team arrives without one:
/// its reminders go to the new team, not on to the old desk's member.
/// Rita reports "Bug in cohttp" (`text`) to the main desk: Alice's team notice's
/// Message-ID.
fn cohttp_bug_on_main(w: &mut World, text: &str) -> String {
    w.deliver(&report_to(
        RITA,
        DESK,
        "r1@reporter.test",
        "Bug in cohttp",
        text,
    ));
    w.new_mail()
        .iter()
        .find(|r| r.purpose.as_str() == "team-notice" && r.recipients == vec![ALICE.to_string()])
        .unwrap()
        .message_id
        .to_string()
}

/// The text of the notice Carol (the cohttp desk's team) got among `mail`.
fn carols_notice(mail: &[OutboxRow]) -> String {
    let to_carol = of(mail, "team-notice")
        .into_iter()
        .find(|r| r.recipients == vec![CAROL.to_string()])
        .unwrap();
    body(&to_carol.bytes)
}

#[test]
fn a_moved_case_leaves_its_responder_behind() {
    let mut w = world();
    let notice = cohttp_bug_on_main(&mut w, "x");
    w.command(ALICE, "a1@example.org", &notice, "#assign me\r\n");
    assert_eq!(w.case("SEC-2026-0001").assignee.as_deref(), Some(ALICE));
    w.command(ALICE, "a2@example.org", &notice, "#move cohttp\r\n");
    let moved = w.case("COHTTP-2026-0001");
    assert_eq!(moved.assignee, None);
    let text = carols_notice(&w.new_mail());
    assert!(
        text.contains("It has no responder on your desk yet (alice@example.org was, on the desk main): #assign me takes it."),
        "{text}"
    );

    // The first answer is due Thursday 17:00; its reminder comes before.
    w.clock.set(paris(2026, 11, 26, 17, 0));
    w.run_due();
    let mail = w.new_mail();
    let reminders = of(&mail, "reminder");
    assert!(!reminders.is_empty(), "{}", summarize(&mail));
    assert_eq!(recipients(&reminders), vec![CAROL.to_string()]);
}

/// The new desk's notice of a case handed over quotes the report cleaned like every
/// other mail the desk writes: no terminal escapes, no reordering of text. (It went
/// out with the report's control and bidi characters as they came.)
#[test]
fn a_moved_case_notice_carries_no_control_characters() {
    let mut w = world();
    let text = "Clear \u{1b}[2J screen and \u{202e}reversed\u{202c} text.";
    let notice = cohttp_bug_on_main(&mut w, text);
    w.command(ALICE, "a1@example.org", &notice, "#move cohttp\r\n");
    let text = carols_notice(&w.new_mail());
    assert!(text.contains("screen and"), "{text}");
    for bad in ['\u{1b}', '\u{202e}', '\u{202c}'] {
        assert!(!text.contains(bad), "{bad:?} in:\n{text:?}");
    }
}

/// Rita's report "Cohttp bug" to cohttp (Message-ID `id`): the team notice's Message-ID.
fn cohttp_report(w: &mut World, id: &str) -> String {
    w.deliver(&report_to(RITA, COHTTP, id, "Cohttp bug", "x"));
    w.new_mail()
        .iter()
        .find(|r| r.purpose.as_str() == "team-notice")
        .unwrap()
        .message_id
        .to_string()
}

/// `case ID` and `advisory ID` speak for the case's desk: its name, its time zone, its
/// advisory prefix (the top level's were used for every case).
#[test]
fn case_and_advisory_speak_for_the_cases_desk() {
    let mut w = world();
    let notice = cohttp_report(&mut w, "r2@reporter.test");
    w.deliver(&member_mail(
        CAROL,
        COHTTP,
        "c1@example.org",
        &notice,
        "Re: x",
        "#summary Header injection in cohttp\r\n#package cohttp\r\n",
    ));
    w.deliver(&report_to(RITA, DUNE, "r3@reporter.test", "Dune bug", "x"));
    let cfg = w.config_file(DESKS);

    let (ok, out, err) = secdesk(&cfg, &["case", "DUNE-2026-0001"]);
    assert!(ok, "{err}");
    assert!(out.contains("Desk:        dune (Dune security)"), "{out}");
    assert!(
        out.contains("Opened:      Mon 23 Nov 2026, 04:00 EST (America/New_York)"),
        "{out}"
    );
    assert!(out.contains("  2026-11-23 04:00  opened "), "{out}");
    let (ok, out, err) = secdesk(&cfg, &["case", "COHTTP-2026-0001"]);
    assert!(ok, "{err}");
    assert!(
        out.contains("Desk:        cohttp (Cohttp security)"),
        "{out}"
    );
    assert!(out.contains("(Europe/Paris)"), "{out}");

    let (ok, out, err) = secdesk(&cfg, &["advisory", "COHTTP-2026-0001", "--format", "osv"]);
    assert!(ok, "{err}");
    let osv: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(osv["id"], "x_COHTTPA-DRAFT-COHTTP-2026-0001", "{out}");
    assert_eq!(osv["affected"][0]["package"]["name"], "cohttp");
}

/// A desk publishing to an advisory checkout of its own has its branches pushed there,
/// and a push its origin refuses is told to that desk's team alone (the scheduler used
/// the top level's checkout, and told the top level's team).
#[test]
fn a_desks_advisory_branch_goes_to_its_own_origin() {
    use crate::advisory_repo::{git, origin_and_clone};
    use std::os::unix::fs::PermissionsExt;
    const SETUP: &str = "#valid\r\n#summary Header injection\r\n#package cohttp\r\n#affected < 6.0.1\r\n#fixed-in 6.0.1\r\n#details\r\nA crafted header is sent on.\r\n";
    let tmp = tempfile::tempdir().unwrap();
    let (origin, clone) = origin_and_clone(tmp.path());
    let hook = origin.join("hooks/pre-receive");
    std::fs::write(&hook, "#!/bin/sh\necho 'protected branches' >&2\nexit 1\n").unwrap();
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    let desks = DESKS.replace(
        "advisory_prefix = \"x_COHTTPA\"",
        &format!(
            "advisory_prefix = \"x_COHTTPA\"\nadvisory_repo = \"{}\"\npush = true",
            clone.display()
        ),
    );
    assert_ne!(desks, DESKS);
    let mut w = World::with(monday_10(), &desks);
    let publish = |w: &mut World, n: usize| -> String {
        let notice = cohttp_report(w, &format!("r{n}@reporter.test"));
        for (k, body) in [SETUP, "#publish now\r\n"].into_iter().enumerate() {
            w.deliver(&member_mail(
                CAROL,
                COHTTP,
                &format!("c{n}-{k}@example.org"),
                &notice,
                "Re: x",
                body,
            ));
        }
        w.new_mail();
        let case = w.case(&format!("COHTTP-2026-000{n}"));
        case.advisory_id.unwrap_or_else(|| panic!("not published"))
    };

    // Refused by the origin: carol hears of it, nobody else.
    let first = publish(&mut w, 1);
    w.run_due();
    let out = w.new_mail();
    let alerts = of(&out, "team-notice");
    assert_eq!(
        recipients(&alerts),
        vec![CAROL.to_string()],
        "{}",
        summarize(&out)
    );
    assert!(body(&alerts[0].bytes).contains("protected branches"));
    assert!(git(&origin, &["branch", "--list", &first]).is_empty());

    // Accepted: the branch is on the desk's origin.
    std::fs::remove_file(&hook).unwrap();
    let second = publish(&mut w, 2);
    w.run_due();
    assert!(
        !git(&origin, &["branch", "--list", &second]).is_empty(),
        "{second} was not pushed"
    );
}

// ---- end to end, on the real mail stack ------------------------------------------

mod stack {
    use super::*;
    pub use crate::support::pass::Pass;
    use chrono::{DateTime, Duration as Minutes, Utc};
    use std::time::Duration;

    pub const WAIT: Duration = Duration::from_secs(20);
    pub const RALPH: &str = "ralph@reporter.test";
    pub const ROSA: &str = "rosa@reporter.test";

    pub fn at(minutes: i64) -> DateTime<Utc> {
        monday_10() + Minutes::minutes(minutes)
    }

    /// The Message-ID of the first mail in `mails` whose subject contains `text`.
    pub fn id_of(mails: &[Vec<u8>], text: &str) -> String {
        let m = mails
            .iter()
            .find(|m| header(m, "Subject").unwrap_or_default().contains(text))
            .unwrap_or_else(|| panic!("no mail about {text}"));
        header(m, "Message-ID")
            .unwrap()
            .trim_matches(['<', '>'])
            .to_string()
    }

    pub fn subjects(mails: &[Vec<u8>]) -> Vec<String> {
        mails
            .iter()
            .map(|m| header(m, "Subject").unwrap_or_default())
            .collect()
    }

    pub fn stamped(from: &str, to: &str, id: &str, subject: &str, text: &str) -> String {
        format!(
            "Authentication-Results: mx.example.org; spf=pass smtp.mailfrom=reporter.test; dkim=pass header.d=reporter.test; dmarc=pass header.from=reporter.test\r\n{}",
            report_to(from, to, id, subject, text)
        )
    }
}

/// Three desks on one IMAP mailbox (plus addresses of security@): each report is routed
/// to its desk and acknowledged with its prefix, each team hears only of its own case, a
/// member of one desk cannot act on another's case, and no secret word of a desk — in a
/// report or in a team's internal note — reaches any mailbox outside that desk's team and
/// its reporter.
#[test]
fn three_desks_share_one_mailbox_and_nothing_leaks() {
    use crate::support::mailstack::MailStack;
    use stack::*;
    let stack = MailStack::start();
    let dir = tempfile::tempdir().unwrap();
    let pass = Pass::new(&stack, dir.path(), DESKS);
    pass.run(at(0));

    // (desk address, reporter, prefix, team, secret word of the report, of the note)
    let desks = [
        (
            DESK,
            RITA,
            "SEC",
            vec![ALICE, BOB],
            "zebra-main-7431",
            "okapi-main-2210",
        ),
        (
            COHTTP,
            RALPH,
            "COHTTP",
            vec![CAROL],
            "zebra-cohttp-5520",
            "okapi-cohttp-9081",
        ),
        (
            DUNE,
            ROSA,
            "DUNE",
            vec![DAN],
            "zebra-dune-3307",
            "okapi-dune-6642",
        ),
    ];
    for (n, (address, reporter, _, _, secret, _)) in desks.iter().enumerate() {
        stack.send(
            reporter,
            &[address],
            stamped(
                reporter,
                address,
                &format!("report{n}@reporter.test"),
                &format!("Crash number {n}"),
                &format!("Steps to reproduce: {secret}"),
            )
            .as_bytes(),
        );
    }
    stack.wait_for(DESK, 3, WAIT);
    pass.run(at(1));

    // Routing and acknowledgements with each desk's prefix.
    for (n, (address, reporter, prefix, team, _, _)) in desks.iter().enumerate() {
        let id = format!("{prefix}-2026-0001");
        let acks = stack.wait_for(reporter, 1, WAIT);
        assert_eq!(acks.len(), 1, "{reporter}: {:?}", subjects(&acks));
        assert!(
            header(&acks[0], "Subject").unwrap().contains(&id),
            "{:?}",
            subjects(&acks)
        );
        assert!(header(&acks[0], "From").unwrap().contains(address));
        for member in team {
            let got = stack.wait_for(member, 1, WAIT);
            assert!(
                subjects(&got)
                    .iter()
                    .any(|s| s.contains(&id) && s.contains(&format!("Crash number {n}"))),
                "{member}: {:?}",
                subjects(&got)
            );
        }
    }
    assert_eq!(pass.count("SELECT COUNT(*) FROM cases"), 3);
    assert_eq!(
        pass.count("SELECT COUNT(*) FROM cases WHERE desk = 'cohttp' AND id = 'COHTTP-2026-0001'"),
        1
    );

    // Each team writes an internal note (with a command) on its own case.
    for (n, (address, _, prefix, team, _, note)) in desks.iter().enumerate() {
        let id = format!("{prefix}-2026-0001");
        let member = team[0];
        let notice = id_of(&stack.fetch_all(member), &id);
        stack.send(
            member,
            &[address],
            member_mail(
                member,
                address,
                &format!("note{n}@example.org"),
                &notice,
                &format!("Re: [{id}] Crash"),
                &format!("#severity high\r\n\r\nInternal: the root cause is {note}."),
            )
            .as_bytes(),
        );
    }
    // Alice (top-level desk) tries to act on cohttp's case, through the top address.
    stack.send(
        ALICE,
        &[DESK],
        member_mail(
            ALICE,
            DESK,
            "cross@example.org",
            "nothing@example.org",
            "Re: [COHTTP-2026-0001] Crash",
            "#close\r\n#reply\r\nHello from the wrong desk\r\n",
        )
        .as_bytes(),
    );
    stack.wait_for(DESK, 7, WAIT);
    pass.run(at(2));
    assert_eq!(
        pass.count("SELECT COUNT(*) FROM cases WHERE severity = 'high'"),
        3
    );
    assert_eq!(
        pass.count(
            "SELECT COUNT(*) FROM cases WHERE id = 'COHTTP-2026-0001' AND status = 'closed'"
        ),
        0,
        "the cross-desk #close was refused"
    );
    assert_eq!(
        pass.count(
            "SELECT COUNT(*) FROM events WHERE case_id = 'COHTTP-2026-0001' AND kind = 'refused'"
        ),
        1
    );
    // Carol is told (a transcript of her own note, and the refusal alert).
    let carol = stack.wait_for(CAROL, 3, WAIT);
    assert!(
        subjects(&carol)
            .iter()
            .any(|s| s.contains("member of another desk")),
        "{:?}",
        subjects(&carol)
    );
    // The team of the top desk receives each other's transcript and note; wait for it.
    stack.wait_for(BOB, 2, WAIT);
    stack.flush_queue();

    // The leak test: every mailbox, every secret.
    let everyone = [ALICE, BOB, CAROL, DAN, RITA, RALPH, ROSA, DESK];
    let mailboxes: Vec<(&str, String)> = everyone
        .iter()
        .map(|who| {
            let all = stack
                .fetch_all(who)
                .iter()
                .map(|m| String::from_utf8_lossy(m).to_string() + &body(m))
                .collect::<Vec<_>>()
                .join("\n");
            (*who, all)
        })
        .collect();
    for (address, reporter, prefix, team, secret, note) in &desks {
        // The words do reach their own team: the test could fail.
        let team_text: String = mailboxes
            .iter()
            .filter(|(who, _)| team.contains(who))
            .map(|(_, t)| t.clone())
            .collect();
        assert!(
            team_text.contains(secret),
            "{prefix}'s team never saw its report"
        );
        for (who, text) in &mailboxes {
            let allowed = team.contains(who) || who == reporter || *who == DESK;
            if !allowed {
                assert!(!text.contains(secret), "{prefix}'s report reached {who}");
                assert!(
                    !text.contains(note),
                    "{prefix}'s internal note reached {who}"
                );
            }
        }
        // Reporters: nothing names another desk's address, prefix or name.
        for (other, _, other_prefix, _, _, _) in &desks {
            if other != address {
                let text = &mailboxes.iter().find(|(w, _)| w == reporter).unwrap().1;
                // Case ids are written upper case; the mailbox's text is compared lower
                // case ("sec-" is in no address: "security+…").
                assert!(
                    !text
                        .to_lowercase()
                        .contains(&format!("{}-", other_prefix.to_lowercase())),
                    "{reporter} learned of {other_prefix}"
                );
                assert!(
                    !text.contains(&format!("{other}>")),
                    "{reporter} learned of {other}"
                );
            }
        }
        // The reporter never sees the internal note.
        let text = &mailboxes.iter().find(|(w, _)| w == reporter).unwrap().1;
        assert!(!text.contains(note), "{prefix}'s note reached its reporter");
    }
}

/// `#move` on the real mail stack: the top desk hands Rita's case to cohttp; Rita's
/// answer to the move notice — and to her old acknowledgement — reaches carol, not the
/// top desk's team.
#[test]
fn a_moved_case_keeps_the_reporters_thread_on_the_real_stack() {
    use crate::support::mailstack::MailStack;
    use stack::*;
    let stack = MailStack::start();
    let dir = tempfile::tempdir().unwrap();
    let pass = Pass::new(&stack, dir.path(), DESKS);
    pass.run(at(0));
    stack.send(
        RITA,
        &[DESK],
        stamped(RITA, DESK, "r1@reporter.test", "Bug in cohttp", "x").as_bytes(),
    );
    stack.wait_for(DESK, 1, WAIT);
    pass.run(at(1));
    let ack = id_of(&stack.wait_for(RITA, 1, WAIT), "SEC-2026-0001");
    let notice = id_of(&stack.wait_for(ALICE, 1, WAIT), "SEC-2026-0001");
    stack.send(
        ALICE,
        &[DESK],
        member_mail(
            ALICE,
            DESK,
            "m1@example.org",
            &notice,
            "Re: [SEC-2026-0001] Bug in cohttp",
            "#move cohttp\r\n",
        )
        .as_bytes(),
    );
    stack.wait_for(DESK, 2, WAIT);
    pass.run(at(2));
    let rita = stack.wait_for(RITA, 2, WAIT);
    let moved = id_of(&rita, "COHTTP-2026-0001");
    assert!(body(rita.last().unwrap()).contains("continues as COHTTP-2026-0001"));
    let carol = stack.wait_for(CAROL, 1, WAIT);
    assert!(
        subjects(&carol)[0].contains("[COHTTP-2026-0001] handed over"),
        "{:?}",
        subjects(&carol)
    );
    let bob = stack.wait_for(BOB, 2, WAIT);
    assert!(
        subjects(&bob)
            .iter()
            .any(|s| s.contains("moved to the desk cohttp")),
        "{:?}",
        subjects(&bob)
    );
    // Rita answers the move notice, then her old acknowledgement.
    for (n, parent) in [moved, ack].iter().enumerate() {
        let reply = format!(
            "Authentication-Results: mx.example.org; spf=pass smtp.mailfrom=reporter.test; dkim=pass header.d=reporter.test; dmarc=pass header.from=reporter.test\r\nFrom: {RITA}\r\nTo: {DESK}\r\nSubject: Re: thanks\r\nMessage-ID: <after{n}@reporter.test>\r\nIn-Reply-To: <{parent}>\r\nReferences: <{parent}>\r\n\r\nMore details, part {n}.\r\n"
        );
        stack.send(RITA, &[DESK], reply.as_bytes());
    }
    stack.wait_for(DESK, 4, WAIT);
    pass.run(at(3));
    let carol = stack.wait_for(CAROL, 3, WAIT);
    let texts: Vec<String> = carol.iter().map(|m| body(m)).collect();
    for n in 0..2 {
        assert!(
            texts
                .iter()
                .any(|t| t.contains(&format!("More details, part {n}."))),
            "{:?}",
            subjects(&carol)
        );
    }
    stack.flush_queue();
    for member in [ALICE, BOB] {
        for m in stack.fetch_all(member) {
            assert!(
                !body(&m).contains("More details"),
                "{member} still hears of it"
            );
        }
    }
    assert_eq!(pass.count("SELECT COUNT(*) FROM cases"), 1);
    assert_eq!(
        pass.count(
            "SELECT COUNT(*) FROM messages WHERE case_id = 'COHTTP-2026-0001' AND direction = 'in'"
        ),
        4
    );
}
