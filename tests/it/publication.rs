//! `#publish` end to end through `process` and `run_due`: the advisory repository with a
//! real git, the push, the refusals, and a publication that fails half-way sending nothing.

use crate::advisory_repo::{git, origin_and_clone};
use crate::world::*;
use secdesk::outgoing::templates::Templates;
use secdesk::service::process::{Desk, Processed};
use secdesk::types::CaseStatus;
use std::collections::BTreeMap;

const SETUP: &str = "#valid\r\n#summary Heap overflow in the parser\r\n#package example-parser\r\n#affected < 1.4.2 | >= 2.0, < 2.0.3\r\n#fixed-in 2.0.3\r\n#commit https://github.com/example/parser 1a61aeee7f593ec067612df1739ec905eab0450f\r\n#credit Rita Reporter\r\n#credit coordinator Alice Admin\r\n#credit remediation_developer Bob Builder\r\n#bindings Parser.parse Parser.parse_file\r\n#details\r\nA crafted input overflows a heap buffer.\r\n";

/// Opens a case from Rita with Message-ID `report_id`; returns the team notice's id.
fn open(w: &mut World, report_id: &str) -> String {
    w.open_report(report_id, "Heap overflow in the parser", "It overflows.")
}

/// Opens a case from Rita (report `r{n}@reporter.test`), sets it up and publishes it
/// now; returns the team notice's id.
fn publish(w: &mut World, n: u32) -> String {
    let notice = open(w, &format!("r{n}@reporter.test"));
    w.command(ALICE, &format!("s{n}@example.org"), &notice, SETUP);
    w.command(
        ALICE,
        &format!("p{n}@example.org"),
        &notice,
        "#publish now\r\n",
    );
    notice
}

/// Sets the case up (`setup_id`), then asks `#publish now` (`publish_id`), which must be
/// refused: the transcript and the team notice go out, nothing else. Returns the
/// transcript's text.
fn publish_refused(w: &mut World, notice: &str, setup_id: &str, publish_id: &str) -> String {
    w.command(ALICE, setup_id, notice, SETUP);
    w.new_mail();
    w.command(ALICE, publish_id, notice, "#publish now\r\n");
    let out = w.new_mail();
    assert_eq!(
        out.iter().map(|r| r.purpose.as_str()).collect::<Vec<_>>(),
        vec!["transcript", "team-notice"],
        "{}",
        summarize(&out)
    );
    body(&out[0].bytes)
}

#[test]
fn publish_numbers_past_the_repository_commits_on_a_branch_and_pushes() {
    let tmp = tempfile::tempdir().unwrap();
    let (origin, clone) = origin_and_clone(tmp.path());
    let mut w = World::with(
        monday_10(),
        &format!("advisory_repo = \"{}\"\npush = true\n", clone.display()),
    );

    for (n, (report_id, expected)) in [
        ("r1@reporter.test", "OSEC-2026-18"),
        ("r2@reporter.test", "OSEC-2026-19"),
    ]
    .into_iter()
    .enumerate()
    {
        let notice = open(&mut w, report_id);
        w.command(ALICE, &format!("s{n}@example.org"), &notice, SETUP);
        w.new_mail();
        w.command(
            ALICE,
            &format!("p{n}@example.org"),
            &notice,
            "#publish now\r\n",
        );
        let announce = w.take("announce");
        let case = w.case(&format!("SEC-2026-000{}", n + 1));
        assert_eq!(case.status, CaseStatus::Published);
        assert_eq!(case.advisory_id.as_deref(), Some(expected));
        // The branch holds exactly the markdown that was announced.
        let md = attachment(&announce.bytes, &format!("{expected}.md"));
        let committed = git(
            &clone,
            &["show", &format!("{expected}:advisories/2026/{expected}.md")],
        );
        assert_eq!(committed, md.trim_end());
        assert!(
            md.contains("affected: \"example-parser\" {< \"1.4.2\" | (>= \"2.0\" & < \"2.0.3\")}"),
            "{md}"
        );
        assert!(
            md.contains("[fixed \"1a61aeee7f593ec067612df1739ec905eab0450f\"]"),
            "{md}"
        );
        assert!(md.contains("  [coordinator \"Alice Admin\"]\n"), "{md}");
        // Not on the origin until the scheduler pushes it.
        assert!(git(&origin, &["branch", "--list", expected]).is_empty());
        w.run_due();
        assert!(!git(&origin, &["branch", "--list", expected]).is_empty());
        // The checkout stays clean for the next one.
        assert_eq!(secdesk::service::advisory_repo::check(&clone), Ok(()));
    }

    // A dirty checkout: #publish refuses, nothing is sent, no id is taken.
    std::fs::write(clone.join("advisories/2026/notes.txt"), "wip").unwrap();
    let notice = open(&mut w, "r3@reporter.test");
    let t = publish_refused(&mut w, &notice, "s3@example.org", "p3@example.org");
    assert!(t.contains("has uncommitted changes"), "{t}");
    assert_eq!(w.case("SEC-2026-0003").advisory_id, None);
}

/// Git refusing the publication's commit (a lock left in the checkout by a crashed git)
/// refuses `#publish` with git's words, and the other commands of the mail apply. The
/// whole mail was rolled back, tried again and set aside as "could not be processed":
/// no transcript, the `#severity` above lost, the case never named.
#[test]
fn a_commit_git_refuses_refuses_publish_and_keeps_the_rest() {
    let tmp = tempfile::tempdir().unwrap();
    let (_origin, clone) = origin_and_clone(tmp.path());
    let mut w = World::with(
        monday_10(),
        &format!("advisory_repo = \"{}\"\n", clone.display()),
    );
    let notice = open(&mut w, "r1@reporter.test");
    w.command(ALICE, "s1@example.org", &notice, SETUP);
    w.new_mail();
    std::fs::write(clone.join(".git/refs/heads/OSEC-2026-18.lock"), "").unwrap();
    w.command(
        ALICE,
        "p1@example.org",
        &notice,
        "#severity high\r\n#publish now\r\n",
    );
    let out = w.new_mail();
    let t = body(&first(&out, "transcript").bytes);
    assert!(
        t.contains("cannot take the advisory") && t.contains("git refused the commit"),
        "{t}"
    );
    let case = w.case("SEC-2026-0001");
    assert_eq!(
        case.severity.map(|s| s.to_string()).as_deref(),
        Some("high")
    );
    assert_ne!(case.status, CaseStatus::Published);
    assert_eq!(case.advisory_id, None);
    assert!(
        out.iter().all(|r| r.purpose.as_str() != "announce"),
        "{}",
        summarize(&out)
    );
    assert_eq!(w.store.read(|tx| tx.list_cases(false)).unwrap().len(), 1);
}

#[test]
fn publish_refuses_listing_what_to_add() {
    let mut w = World::new();
    let notice = w.open_case("Heap overflow in the parser");
    w.command(
        ALICE,
        "a1@example.org",
        &notice,
        "#affected < 1.0 | >= 2.0, < 2.1 | >= 3.0, < 3.1\r\n#publish now\r\n",
    );
    let out = w.new_mail();
    let t = body(&first(&out, "transcript").bytes);
    assert!(t.contains("not published; add or fix first:"), "{t}");
    assert!(t.contains("No summary"), "{t}");
    assert!(t.contains("No package"), "{t}");
    assert!(t.contains("3 alternatives"), "{t}");
    assert!(out.iter().all(|r| r.purpose.as_str() != "announce"));
    assert_eq!(w.case("SEC-2026-0001").advisory_id, None);
}

#[test]
fn two_packages_publish_two_related_advisories() {
    let mut w = World::new();
    let notice = w.open_case("Heap overflow in the parser");
    let cmds = "#summary Heap overflow in the parser\r\n#package mirage-crypto-ec\r\n#package mirage-crypto-pk\r\n#affected < 2.3.0\r\n#affected mirage-crypto-ec < 2.3.0\r\n#affected mirage-crypto-pk >= 1.0, < 2.2.1\r\n#fixed-in mirage-crypto-pk 2.2.1\r\n#details\r\nBoth packages.\r\n";
    w.command(ALICE, "a1@example.org", &notice, cmds);
    let t = body(&w.take("transcript").bytes);
    assert!(
        t.contains("✗ this case names 2 packages: put the package first"),
        "{t}"
    );
    w.command(ALICE, "a2@example.org", &notice, "#publish now\r\n");
    let announce = w.take("announce");
    assert_eq!(
        w.case("SEC-2026-0001").advisory_id.as_deref(),
        Some("OSEC-2026-01 OSEC-2026-02")
    );
    let pk = attachment(&announce.bytes, "OSEC-2026-02.json");
    let v: serde_json::Value = serde_json::from_str(&pk).unwrap();
    assert_eq!(v["related"], serde_json::json!(["OSEC-2026-01"]));
    assert_eq!(v["affected"][0]["package"]["name"], "mirage-crypto-pk");
    assert_eq!(
        v["affected"][0]["ranges"][0]["events"],
        serde_json::json!([{"introduced": "1.0"}, {"fixed": "2.2.1"}])
    );
    let ec = attachment(&announce.bytes, "OSEC-2026-01.md");
    assert!(ec.contains("related: [ OSEC-2026-02 ]"), "{ec}");
    assert!(
        ec.contains("affected: \"mirage-crypto-ec\" {< \"2.3.0\"}"),
        "{ec}"
    );
}

/// Each advisory of a case naming two packages tells its own package's facts: its fix
/// version in the timeline, its bindings, its fixing commits (the first package's
/// version, bindings and commits went into both); and a CVE id replaced by `#cve` is
/// not in any timeline (a typo published another vulnerability's id).
#[test]
fn each_package_advisory_tells_its_own_fix_and_only_the_cves_still_assigned() {
    let mut w = World::new();
    let notice = w.open_case("Heap overflow in the parser");
    let sha_ec = "1a61aeee7f593ec067612df1739ec905eab0450f";
    let sha_pk = "2b72bfff8f6a4fd178723ef2840fd016fbc1561f";
    let cmds = format!(
        "#summary Heap overflow in the parser\r\n#package mirage-crypto-ec\r\n#package mirage-crypto-pk\r\n#affected mirage-crypto-ec < 2.3.0\r\n#affected mirage-crypto-pk >= 1.0, < 2.2.1\r\n#fixed-in mirage-crypto-ec 2.3.0\r\n#fixed-in mirage-crypto-pk 2.2.1\r\n#bindings Mirage_crypto_ec.P256.verify\r\n#bindings mirage-crypto-pk Mirage_crypto_pk.Rsa.decrypt\r\n#commit https://github.com/mirage/mirage-crypto {sha_ec}\r\n#commit mirage-crypto-pk https://github.com/mirage/mirage-crypto-pk {sha_pk}\r\n#cve CVE-2026-1234\r\n"
    );
    w.command(ALICE, "a1@example.org", &notice, &cmds);
    let t = body(&w.take("transcript").bytes);
    assert!(!t.contains('✗'), "{t}");
    assert!(
        t.contains("affected bindings of mirage-crypto-pk: Mirage_crypto_pk.Rsa.decrypt"),
        "{t}"
    );
    w.clock.advance(chrono::Duration::days(1));
    w.command(
        ALICE,
        "a2@example.org",
        &notice,
        "#cve CVE-2026-12345\r\n#fixed\r\n#publish now\r\n",
    );
    let announce = w.take("announce");
    let ec = attachment(&announce.bytes, "OSEC-2026-01.md");
    let pk = attachment(&announce.bytes, "OSEC-2026-02.md");
    for (md, own, other) in [(&ec, "2.3.0", "2.2.1"), (&pk, "2.2.1", "2.3.0")] {
        assert!(md.contains(&format!("fix released in {own}")), "{md}");
        assert!(!md.contains(&format!("fix released in {other}")), "{md}");
        assert!(md.contains("CVE-2026-12345 assigned"), "{md}");
        assert!(!md.contains("CVE-2026-1234 "), "{md}");
    }
    assert!(ec.contains("Mirage_crypto_ec.P256.verify"), "{ec}");
    assert!(!ec.contains("Mirage_crypto_pk.Rsa.decrypt"), "{ec}");
    assert!(pk.contains("Mirage_crypto_pk.Rsa.decrypt"), "{pk}");
    assert!(!pk.contains("Mirage_crypto_ec.P256.verify"), "{pk}");
    assert!(ec.contains(sha_ec) && !ec.contains(sha_pk), "{ec}");
    assert!(pk.contains(sha_pk) && !pk.contains(sha_ec), "{pk}");
    let osv: serde_json::Value =
        serde_json::from_str(&attachment(&announce.bytes, "OSEC-2026-02.json")).unwrap();
    let git = osv["affected"][0]["ranges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["type"] == "GIT")
        .cloned()
        .unwrap();
    assert_eq!(git["repo"], "https://github.com/mirage/mirage-crypto-pk");
}

/// The reporter's thanks template fails for this case: nothing at all goes out (not the
/// announcement either), and the case is not published.
#[test]
fn a_failing_thanks_template_sends_nothing() {
    let mut w = World::new();
    let builtin = include_str!("../../templates/published.txt");
    // Passes the start-up check (the sample has no reporter name), fails on this case.
    let broken =
        format!("{builtin}{{% if reporter_name %}}{{{{ no_such_variable }}}}{{% endif %}}");
    let overrides = BTreeMap::from([("published".to_string(), broken)]);
    let templates = Templates::with_overrides(&overrides).unwrap();
    templates.check().unwrap();
    w.desk = Desk::new(w.desk.config.clone(), templates);

    let notice = w.open_case("Heap overflow in the parser");
    let t = publish_refused(&mut w, &notice, "a1@example.org", "a2@example.org");
    assert!(
        t.contains("not published: the published template failed"),
        "{t}"
    );
    let case = w.case("SEC-2026-0001");
    assert_ne!(case.status, CaseStatus::Published);
    assert_eq!(case.advisory_id, None);
}

/// A published advisory prints as it went out: a `#forward` after publication (allowed:
/// the maintainers may still need the report) added "maintainers contacted" after
/// "advisory published" to its timeline, and moved its `modified`, so that it no longer
/// matched the committed file or the announcement.
#[test]
fn a_forward_after_publication_does_not_change_the_published_advisory() {
    let mut w = World::new();
    let notice = publish(&mut w, 1);
    let printed = |w: &mut World| {
        let case = w.case("SEC-2026-0001");
        let events = w.store.read(|tx| tx.events(&case.id)).unwrap();
        let ids = secdesk::publish::publication::advisory_ids(&case);
        secdesk::publish::publication::advisories_for(&case, &events, &w.desk.config, &ids)
            .iter()
            .map(|a| {
                (
                    secdesk::publish::advisory::to_markdown(a),
                    secdesk::publish::advisory::to_osv_json(a),
                )
            })
            .collect::<Vec<_>>()
    };
    let published = printed(&mut w);
    assert!(!published.is_empty());
    w.clock.advance(chrono::Duration::days(2));
    w.command(
        ALICE,
        "fw1@example.org",
        &notice,
        "#forward uma@upstream.test\r\n",
    );
    assert!(
        w.events("SEC-2026-0001")
            .iter()
            .any(|e| e.kind == secdesk::desk::case::EventKind::Forwarded)
    );
    assert_eq!(printed(&mut w), published);
}

/// `modified` is the last change to what the advisory says: not the time of the request,
/// not an assignment; a new summary moves it.
#[test]
fn modified_is_the_last_change_to_the_advisory() {
    let mut w = World::new();
    let notice = w.open_case("Heap overflow in the parser");
    w.command(ALICE, "m1@example.org", &notice, SETUP);
    let draft = |w: &mut World| {
        let case = w.case("SEC-2026-0001");
        let events = w.store.read(|tx| tx.events(&case.id)).unwrap();
        let id = secdesk::publish::publication::draft_id(&case, &w.desk.config);
        let adv = secdesk::publish::publication::advisory_for(&case, &events, &w.desk.config, &id);
        (
            secdesk::publish::advisory::to_markdown(&adv),
            secdesk::publish::advisory::to_osv_json(&adv),
        )
    };
    let first = draft(&mut w);
    assert!(
        first.0.contains("modified: \"2026-11-23T09:00:00Z\""),
        "{}",
        first.0
    );
    w.clock.advance(chrono::Duration::hours(2));
    assert_eq!(
        draft(&mut w),
        first,
        "a later call prints the same advisory"
    );
    w.command(
        ALICE,
        "m2@example.org",
        &notice,
        "#assign me\r\n#remind +3d look again\r\n",
    );
    assert_eq!(
        draft(&mut w),
        first,
        "an assignment is no change to the advisory"
    );
    // A command that changes nothing (the case is valid, Alice credited already) is no
    // change either.
    w.command(
        ALICE,
        "m2b@example.org",
        &notice,
        "#valid\r\n#credit coordinator Alice Admin\r\n#package example-parser\r\n",
    );
    assert_eq!(
        draft(&mut w),
        first,
        "a command that changed nothing moved modified"
    );
    w.clock.advance(chrono::Duration::hours(1));
    w.command(
        ALICE,
        "m3@example.org",
        &notice,
        "#summary Heap overflow in parse_file\r\n",
    );
    let (md, _) = draft(&mut w);
    assert!(md.contains("modified: \"2026-11-23T12:00:00Z\""), "{md}");
}

/// The timeline is for the public: dated facts in the desk's words; no command, no
/// address, no internal note, not the reporter's subject.
#[test]
fn the_public_timeline_says_facts_only() {
    let mut w = World::new();
    let notice = w.open_report(
        "t1@reporter.test",
        "URGENT pwn of prod.internal via rita@reporter.test",
        "It overflows.",
    );
    w.command(ALICE, "t2@example.org", &notice, SETUP);
    w.command(
        ALICE,
        "t3@example.org",
        &notice,
        "#forward maintainer@upstream.example\r\n#cve CVE-2026-12345\r\n#remind +2d secret internal note\r\n#fixed\r\n#publish now\r\n",
    );
    let announce = w.take("announce");
    let md = attachment(&announce.bytes, "OSEC-2026-01.md");
    let timeline = md.split("## Timeline").nth(1).unwrap();
    // The days are UTC's, and say so: a team west of Greenwich releasing in its evening
    // reads the next day (they were unlabelled).
    assert_eq!(
        timeline.trim(),
        "Dates are in UTC.\n\n\
         - 2026-11-23: reported to the security team\n\
         - 2026-11-23: report acknowledged\n\
         - 2026-11-23: the report was confirmed as a vulnerability\n\
         - 2026-11-23: maintainers contacted\n\
         - 2026-11-23: CVE-2026-12345 assigned\n\
         - 2026-11-23: fix released in 2.0.3\n\
         - 2026-11-23: advisory published"
    );
    for leak in ["#", "@", "URGENT", "prod.internal", "secret internal note"] {
        assert!(
            !timeline.contains(leak),
            "{leak} in the timeline:\n{timeline}"
        );
    }
}

/// `#fixed-in` names a version: anything else (a note, a link, an address) went into the
/// public timeline at `#fixed` as written, though `#publish` refused it as the version.
#[test]
fn fixed_in_takes_a_version_only() {
    let mut w = World::new();
    let notice = open(&mut w, "v1@reporter.test");
    w.new_mail();
    w.command(
        ALICE,
        "v2@example.org",
        &notice,
        "#fixed-in 2.0.3 (tarball at https://internal.example/x, ask bob@example.org)\r\n#fixed\r\n",
    );
    let t = body(&w.take("transcript").bytes);
    assert!(t.contains("is not a version"), "{t}");
    let events = w
        .store
        .read(|tx| tx.events(&"SEC-2026-0001".parse().unwrap()))
        .unwrap();
    assert!(
        !events
            .iter()
            .any(|e| e.detail.contains("internal.example") && e.public),
        "{events:?}"
    );
}

/// `#credit anonymous` withdraws the role credits under the reporter's name as the desk
/// knows it; one under another spelling ("Jane Doe", signed, for a From without a name)
/// stayed, unsaid, and was published. The transcript names every credit still there.
#[test]
fn credit_anonymous_names_the_credits_still_there() {
    let mut w = World::new();
    let notice = open(&mut w, "c1@reporter.test");
    w.new_mail();
    w.command(
        ALICE,
        "c2@example.org",
        &notice,
        "#credit finder Jane Doe\r\n#credit anonymous\r\n",
    );
    let t = body(&w.take("transcript").bytes);
    assert!(
        t.contains("still credited, and published so: Jane Doe as finder"),
        "{t}"
    );
}

/// A `#publish` under a line that failed (a CVE id one digit short) published the
/// advisory without it, for good, the failure told in the same transcript.
#[test]
fn publish_waits_for_every_line_above_it_to_apply() {
    let mut w = World::new();
    let notice = open(&mut w, "f1@reporter.test");
    w.command(ALICE, "f2@example.org", &notice, SETUP);
    w.new_mail();
    w.command(
        ALICE,
        "f3@example.org",
        &notice,
        "#cve CVE-2026-123\r\n#publish now\r\n",
    );
    let out = w.new_mail();
    assert!(
        out.iter().all(|r| r.purpose.as_str() != "announce"),
        "{}",
        summarize(&out)
    );
    let t = body(&first(&out, "transcript").bytes);
    assert!(
        t.contains("#publish now\n  ✗ not run: line 1 above failed"),
        "{t}"
    );
    assert_ne!(w.case("SEC-2026-0001").status, CaseStatus::Published);
}

/// A summary of fifty CJK characters is 150 bytes: the title is cut at 120, and
/// `#summary` said nothing (it counted characters); the team learnt it once published.
#[test]
fn summary_says_when_the_title_will_be_cut() {
    let mut w = World::new();
    let notice = open(&mut w, "u1@reporter.test");
    w.new_mail();
    let long = "解析器堆溢出".repeat(9);
    w.command(
        ALICE,
        "u2@example.org",
        &notice,
        &format!("#summary {long}\r\n"),
    );
    let t = body(&w.take("transcript").bytes);
    assert!(
        t.contains("over 120 bytes: the advisory title will read"),
        "{t}"
    );
}

/// The announcement's subject is cut like the title (120 bytes, on a word, with `…`).
#[test]
fn the_announce_subject_is_cut_like_the_title() {
    let mut w = World::new();
    let notice = w.open_case("Heap overflow in the parser");
    let long = "A heap overflow in the parser of configuration files lets a remote attacker run code when the service reloads its settings";
    assert!(long.len() > 120);
    w.command(ALICE, "l1@example.org", &notice, SETUP);
    w.command(
        ALICE,
        "l2@example.org",
        &notice,
        &format!("#summary {long}\r\n#publish now\r\n"),
    );
    let announce = w.take("announce");
    let subject = header(&announce.bytes, "Subject").unwrap();
    let title = secdesk::publish::advisory::summary_line(long);
    assert!(title.len() <= 120 && title.ends_with('…'), "{title}");
    assert_eq!(subject, format!("[OSEC-2026-01] {title}"));
    let md = attachment(&announce.bytes, "OSEC-2026-01.md");
    assert!(md.contains(&format!("\n# {title}\n")), "{md}");
}

/// A push the origin refuses is told to the team once, on the case, and not retried; an
/// origin that cannot be reached is retried with backoff until it can.
#[test]
fn a_refused_push_is_told_to_the_team_and_an_unreachable_origin_retried() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let (origin, clone) = origin_and_clone(tmp.path());
    let hook = origin.join("hooks/pre-receive");
    std::fs::write(
        &hook,
        "#!/bin/sh\necho 'protected: no advisory branches' >&2\nexit 1\n",
    )
    .unwrap();
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut w = World::with(
        monday_10(),
        &format!("advisory_repo = \"{}\"\npush = true\n", clone.display()),
    );
    publish(&mut w, 1);
    w.new_mail();
    w.run_due();
    let out = w.new_mail();
    let alerts: Vec<_> = out
        .iter()
        .filter(|r| r.purpose.as_str() == "team-notice")
        .collect();
    assert_eq!(alerts.len(), 2, "one per member: {}", summarize(&out));
    let text = body(&alerts[0].bytes);
    assert!(
        text.contains("OSEC-2026-18") && text.contains("protected: no advisory branches"),
        "{text}"
    );
    assert!(git(&origin, &["branch", "--list", "OSEC-2026-18"]).is_empty());
    // Not retried: later runs do nothing.
    w.clock.advance(chrono::Duration::hours(3));
    w.run_due();
    assert!(
        w.new_mail()
            .iter()
            .all(|r| r.purpose.as_str() != "team-notice")
    );

    // An origin that is not there: retried after the backoff, and pushed once it is back.
    std::fs::remove_file(&hook).unwrap();
    let moved = tmp.path().join("away.git");
    std::fs::rename(&origin, &moved).unwrap();
    publish(&mut w, 2);
    assert_eq!(
        w.case("SEC-2026-0002").advisory_id.as_deref(),
        Some("OSEC-2026-19")
    );
    w.new_mail();
    w.run_due();
    assert!(
        w.new_mail().is_empty(),
        "a failure worth retrying is not an alert"
    );
    std::fs::rename(&moved, &origin).unwrap();
    w.run_due();
    assert!(
        git(&origin, &["branch", "--list", "OSEC-2026-19"]).is_empty(),
        "not before the backoff"
    );
    w.clock.advance(chrono::Duration::seconds(30));
    w.run_due();
    assert!(!git(&origin, &["branch", "--list", "OSEC-2026-19"]).is_empty());
}

/// The process died between the advisory's git commit and the database's: the branch is
/// there, nothing recorded it. The publication made again (with later dates in its
/// files) replaces that branch, instead of failing on it for good. (A branch of that
/// name that another publication, or a person, made is still not touched.)
#[test]
fn a_publication_cut_short_after_its_commit_is_made_again() {
    use secdesk::publish::publication::RepoCommit;
    use secdesk::service::advisory_repo;
    let tmp = tempfile::tempdir().unwrap();
    let (_origin, clone) = origin_and_clone(tmp.path());
    let mut w = World::with(
        monday_10(),
        &format!("advisory_repo = \"{}\"\npush = true\n", clone.display()),
    );
    let leftover = |case: &str| RepoCommit {
        branch: "OSEC-2026-18".into(),
        files: vec![("advisories/2026/OSEC-2026-18.md".into(), "earlier\n".into())],
        message: format!("OSEC-2026-18: x\n\nSecdesk-Case: {case}"),
    };

    let notice = open(&mut w, "r1@reporter.test");
    w.command(ALICE, "s1@example.org", &notice, SETUP);
    // This publication's own leftover: made again.
    advisory_repo::commit(&clone, &leftover("SEC-2026-0001")).unwrap();
    w.command(ALICE, "p1@example.org", &notice, "#publish now\r\n");
    let case = w.case("SEC-2026-0001");
    assert_eq!(case.status, CaseStatus::Published);
    assert_eq!(case.advisory_id.as_deref(), Some("OSEC-2026-18"));
    let md = git(
        &clone,
        &["show", "OSEC-2026-18:advisories/2026/OSEC-2026-18.md"],
    );
    assert!(md.contains("# Heap overflow in the parser"), "{md}");
}

/// `#credit anonymous` withholds the reporter's name wherever the team had written it,
/// their role credits included; the other credits stay.
#[test]
fn an_anonymous_reporter_is_named_in_no_credit() {
    let mut w = World::new();
    let notice = open(&mut w, "r1@reporter.test");
    w.command(ALICE, "s1@example.org", &notice, SETUP);
    w.new_mail();
    w.command(
        ALICE,
        "s2@example.org",
        &notice,
        "#credit finder Rita Reporter\r\n#credit anonymous\r\n",
    );
    let transcript = body(&w.take("transcript").bytes);
    assert!(
        transcript.contains(
            "the reporter stays anonymous (the credit of Rita Reporter as finder is withdrawn)"
        ),
        "{transcript}"
    );
    w.command(ALICE, "p1@example.org", &notice, "#publish now\r\n");
    let announce = w.take("announce");
    let id = w.case("SEC-2026-0001").advisory_id.unwrap();
    let md = attachment(&announce.bytes, &format!("{id}.md"));
    assert!(!md.contains("Rita Reporter"), "{md}");
    assert!(md.contains("Alice Admin"), "{md}");
}

/// A reference or fixing commit stored before `#reference` and `#commit` encoded their
/// URLs (a link copied from a browser) is published as the URI it stands for: it
/// blocked `#publish` for good, and giving it again only added the encoded one.
#[test]
fn references_stored_unencoded_are_published_encoded() {
    use secdesk::publish::{advisory, publication};
    use secdesk::types::{ReferenceKind, ReferenceType};
    let mut w = World::new();
    let notice = open(&mut w, "r1@reporter.test");
    w.command(ALICE, "s1@example.org", &notice, SETUP);
    let mut case = w.case("SEC-2026-0001");
    case.references = vec![(
        ReferenceType::Known(ReferenceKind::Web),
        "https://fr.wikipedia.org/wiki/Faille_de_sécurité".into(),
    )];
    case.fix_commits = vec![(
        "https://git.example.org/a|b".into(),
        "1a61aeee7f593ec067612df1739ec905eab0450f".into(),
    )];
    let ids = vec!["OSEC-2026-18".to_string()];
    let advs = publication::advisories_for(&case, &[], &w.desk.config, &ids);
    let adv = &advs[0];
    assert_eq!(
        adv.references[0].1,
        "https://fr.wikipedia.org/wiki/Faille_de_s%C3%A9curit%C3%A9"
    );
    assert_eq!(adv.commits[0].0, "https://git.example.org/a%7Cb");
    assert!(
        advisory::blocking_problems(adv).is_empty(),
        "{:?}",
        advisory::blocking_problems(adv)
    );
}

/// Pushes to an origin that cannot be reached hold the scheduler (every desk's
/// reminders, and its heartbeat) for one attempt, not one per branch due: the other
/// branches for that origin wait for the next pass, and all reach it once it is back.
/// (Each due branch was tried in turn, up to a minute each: three due at once outlasted
/// the scheduler's heartbeat bound, and systemd restarted the daemon.)
#[test]
fn an_unreachable_origin_is_tried_once_a_pass() {
    let tmp = tempfile::tempdir().unwrap();
    let (origin, clone) = origin_and_clone(tmp.path());
    let mut w = World::with(
        monday_10(),
        &format!("advisory_repo = \"{}\"\npush = true\n", clone.display()),
    );
    let moved = tmp.path().join("away.git");
    std::fs::rename(&origin, &moved).unwrap();
    for n in 1..=3 {
        publish(&mut w, n);
        w.new_mail(); // so that the next `open` finds its own notice
    }
    let attempts = |w: &World| -> Vec<i64> {
        let c = rusqlite::Connection::open(w.store.path()).unwrap();
        let mut q = c
            .prepare("SELECT attempts FROM advisory_pushes ORDER BY id")
            .unwrap();
        q.query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    w.run_due();
    assert_eq!(attempts(&w), vec![1, 0, 0]);
    std::fs::rename(&moved, &origin).unwrap();
    w.clock.advance(chrono::Duration::seconds(30));
    w.run_due();
    for id in ["OSEC-2026-18", "OSEC-2026-19", "OSEC-2026-20"] {
        assert!(!git(&origin, &["branch", "--list", id]).is_empty(), "{id}");
    }
}

/// A push waiting for its origin when the checkout leaves the configuration is given up
/// and told to the team on its case. (It stayed due for good: the scheduler woke for it
/// every 50 ms, and the team never heard that the branch did not reach the repository.)
#[test]
fn a_push_left_without_a_checkout_is_given_up_and_told() {
    let tmp = tempfile::tempdir().unwrap();
    let (origin, clone) = origin_and_clone(tmp.path());
    let mut w = World::with(
        monday_10(),
        &format!("advisory_repo = \"{}\"\npush = true\n", clone.display()),
    );
    std::fs::rename(&origin, tmp.path().join("away.git")).unwrap();
    publish(&mut w, 1);
    w.new_mail();
    w.run_due();
    // The operator takes the checkout out of the configuration.
    w.reconfigure(|text| text);
    assert_eq!(w.desk.config.publish.advisory_repo, None);
    w.clock.advance(chrono::Duration::hours(1));
    w.run_due();
    let c = rusqlite::Connection::open(w.store.path()).unwrap();
    let state: String = c
        .query_row("SELECT state FROM advisory_pushes", [], |r| r.get(0))
        .unwrap();
    assert_eq!(state, "failed");
    let out = w.new_mail();
    assert!(
        out.iter()
            .any(|r| body(&r.bytes).contains("did not reach the repository")),
        "{}",
        summarize(&out)
    );
    let next = w.store.read(|tx| tx.next_reminder_due()).unwrap();
    assert!(next.is_none_or(|t| t > w.clock_now()), "{next:?}");
}

/// What a published advisory says does not change from a mail: `#credit anonymous` on a
/// published case answered "the reporter stays anonymous" though the pushed files, the
/// announcement and the reporter's copy named them; `#cve` answered as if the advisory
/// gained an alias. Refused, in the same mail as `#publish` too, saying where the
/// record is corrected.
#[test]
fn a_published_advisory_takes_no_change_from_a_command() {
    let mut w = World::new();
    let notice = publish(&mut w, 1);
    w.new_mail();
    w.command(
        ALICE,
        "k1@example.org",
        &notice,
        "#credit anonymous\r\n#cve CVE-2026-99999\r\n#summary Other words\r\n",
    );
    let t = body(&w.take("transcript").bytes);
    for line in [
        "#credit anonymous",
        "#cve CVE-2026-99999",
        "#summary Other words",
    ] {
        assert!(
            t.contains(&format!(
                "{line}\n  ✗ SEC-2026-0001 is published as OSEC-2026-01 and its advisory does not change"
            )),
            "{t}"
        );
    }
    assert!(!t.contains("stays anonymous"), "{t}");
    let case = w.case("SEC-2026-0001");
    assert_eq!(case.summary.as_deref(), Some("Heap overflow in the parser"));
    assert!(
        case.cves.iter().all(|c| c != "CVE-2026-99999"),
        "{:?}",
        case.cves
    );

    // Below `#publish` in the mail that publishes.
    let notice = open(&mut w, "r2@reporter.test");
    w.command(ALICE, "s2@example.org", &notice, SETUP);
    w.new_mail();
    w.command(
        ALICE,
        "p2@example.org",
        &notice,
        "#publish now\r\n#credit anonymous\r\n",
    );
    let t = body(&w.take("transcript").bytes);
    assert!(!t.contains("stays anonymous"), "{t}");
    assert!(
        t.contains("#credit anonymous\n  ✗ SEC-2026-0002 is published as"),
        "{t}"
    );
}

/// A published case takes no other package (each is an advisory of its own), and its
/// advisory keeps its id in `secdesk advisory`. (`#package` was accepted, and the
/// published advisory was shown again under draft ids, its own id gone from the files.)
#[test]
fn a_published_case_keeps_its_id_and_takes_no_other_package() {
    let mut w = World::new();
    let notice = publish(&mut w, 1);
    let id = w.case("SEC-2026-0001").advisory_id.unwrap();
    w.new_mail();
    w.command(
        ALICE,
        "k1@example.org",
        &notice,
        "#package other-parser\r\n",
    );
    let t = body(&w.take("transcript").bytes);
    assert!(
        t.contains("is published; another package needs an advisory of its own"),
        "{t}"
    );
    let case = w.case("SEC-2026-0001");
    assert_eq!(case.extra_packages.len(), 0);
    let ids = secdesk::publish::publication::draft_ids(&case, &w.desk.config);
    assert_eq!(ids, vec![id]);
}

/// Eve's mail in SEC-2026-0001's thread opened SEC-2026-0002 and was acknowledged, and
/// the new case says why (`why`).
fn eve_opened_a_new_report(w: &mut World, filed: &Processed, why: &str) {
    assert!(
        matches!(filed, Processed::Filed { opened: true, case, .. } if case.to_string() == "SEC-2026-0002"),
        "{filed:?}"
    );
    let out = w.new_mail();
    assert!(
        out.iter().any(|r| r.purpose.as_str() == "ack"
            && r.recipients == vec!["eve@elsewhere.test".to_string()]),
        "{}",
        summarize(&out)
    );
    let events = w.events("SEC-2026-0002");
    assert!(events.iter().any(|e| e.detail.contains(why)), "{events:?}");
}

/// The pre-announcement goes to a public list while the case is under embargo, with no
/// Reply-To: a subscriber's answer ("I found a second bug") was filed on the embargoed
/// case as another sender's mail, with no acknowledgement, no case and no deadline,
/// and a `#reply` would have gone to the case's reporter. It is a new report.
#[test]
fn an_answer_to_the_preannouncement_opens_a_new_report() {
    let mut w = World::new();
    let notice = w.open_case("Heap overflow");
    w.command(
        ALICE,
        "p1@example.org",
        &notice,
        "#package example-parser\r\n#preannounce 2026-12-10\r\n",
    );
    let pre = w.take("preannounce").message_id.to_string();
    let subscriber = format!(
        "From: eve@elsewhere.test\r\nTo: {DESK}\r\nSubject: Re: Pre-announcement\r\nMessage-ID: <e2@elsewhere.test>\r\nIn-Reply-To: <{pre}>\r\n\r\nI found a second bug in example-parser.\r\n"
    );
    let filed = w.deliver(&subscriber);
    eve_opened_a_new_report(
        &mut w,
        &filed,
        "wrote in the thread of SEC-2026-0001, in answer to its pre-announcement",
    );
    // The discussion under the subscriber's report is that report's: Mallory answering
    // Eve, the pre-announcement further up her References, opened a case at each mail.
    let mallory = format!(
        "From: mallory@elsewhere.test\r\nTo: eve@elsewhere.test\r\nCc: {DESK}\r\nSubject: Re: Pre-announcement\r\nMessage-ID: <m1@elsewhere.test>\r\nIn-Reply-To: <e2@elsewhere.test>\r\nReferences: <{pre}> <e2@elsewhere.test>\r\n\r\nMe too.\r\n"
    );
    let filed = w.deliver(&mallory);
    assert!(
        matches!(&filed, Processed::Filed { opened: false, case, .. } if case.to_string() == "SEC-2026-0002"),
        "{filed:?}"
    );
    assert!(!summarize(&w.new_mail()).contains("ack ->"));
    // The reporter answering it stays on the case.
    let rita = format!(
        "From: {RITA}\r\nTo: {DESK}\r\nSubject: Re: Pre-announcement\r\nMessage-ID: <r8@reporter.test>\r\nIn-Reply-To: <{pre}>\r\n\r\nGood.\r\n"
    );
    assert!(
        matches!(&w.deliver(&rita), Processed::Filed { opened: false, case, .. } if case.to_string() == "SEC-2026-0001")
    );
}

/// A subscriber's out-of-office answer to the announcement, marked only by its
/// auto-responder's own header, opens no case and is acknowledged by nobody: it was
/// filed as a new report, acknowledged, and given deadlines.
#[test]
fn an_auto_responders_answer_to_the_announcement_is_not_a_report() {
    for mark in [
        "X-Autoreply: yes",
        "X-Autorespond: on",
        "Precedence: auto_reply",
    ] {
        let mut w = World::new();
        publish(&mut w, 1);
        let announce = w.take("announce").message_id.to_string();
        w.new_mail();
        let away = format!(
            "From: sub@elsewhere.test\r\nTo: {DESK}\r\nSubject: Out of office: advisory\r\n{mark}\r\nMessage-ID: <o1@elsewhere.test>\r\nIn-Reply-To: <{announce}>\r\n\r\nI am away until Monday.\r\n"
        );
        let filed = w.deliver(&away);
        assert!(
            !matches!(&filed, Processed::Filed { opened: true, .. }),
            "{mark}: {filed:?}"
        );
        assert!(!summarize(&w.new_mail()).contains("ack ->"), "{mark}");
    }
}

/// Someone other than the reporter writing in a published case's thread (a reply to the
/// announcement: "your fix is incomplete") is a new report, acknowledged, on a case of
/// its own that says where it came from; the reporter's own reply stays on the case.
/// (It was filed on the published case: no acknowledgement, no case, no deadline, and
/// the team's `#reply` went to the other case's reporter.)
#[test]
fn a_stranger_writing_after_publication_opens_a_new_report() {
    let mut w = World::new();
    let notice = publish(&mut w, 1);
    let announce = w.take("announce").message_id.to_string();
    w.new_mail();
    let stranger = format!(
        "From: eve@elsewhere.test\r\nTo: {DESK}\r\nSubject: Re: incomplete fix\r\nMessage-ID: <e1@elsewhere.test>\r\nIn-Reply-To: <{announce}>\r\n\r\nThe fix can be bypassed with a longer input.\r\n"
    );
    let filed = w.deliver(&stranger);
    eve_opened_a_new_report(
        &mut w,
        &filed,
        "wrote in the thread of SEC-2026-0001, published already",
    );
    let thanks = format!(
        "From: {RITA}\r\nTo: {DESK}\r\nSubject: Re: thanks\r\nMessage-ID: <r9@reporter.test>\r\nIn-Reply-To: <{announce}>\r\n\r\nThanks!\r\n"
    );
    assert!(
        matches!(&w.deliver(&thanks), Processed::Filed { opened: false, case, .. } if case.to_string() == "SEC-2026-0001")
    );
    // The maintainer the case was forwarded to answers on it too.
    w.command(
        ALICE,
        "f1@example.org",
        &notice,
        "#forward uma@upstream.test\r\n",
    );
    let forwarded = w.take("forward").message_id.to_string();
    let upstream = format!(
        "From: uma@upstream.test\r\nTo: {DESK}\r\nSubject: Re: released\r\nMessage-ID: <u1@upstream.test>\r\nIn-Reply-To: <{forwarded}>\r\n\r\nReleased on our side too.\r\n"
    );
    assert!(
        matches!(&w.deliver(&upstream), Processed::Filed { opened: false, case, .. } if case.to_string() == "SEC-2026-0001")
    );
    // A colleague of hers answers the forward from another address (it went to her, a
    // list or an alias): upstream's answer too, not a new report acknowledged.
    w.new_mail();
    let colleague = upstream
        .replace("uma@upstream.test", "jane@upstream.test")
        .replace("u1@upstream.test", "j1@upstream.test");
    assert!(
        matches!(&w.deliver(&colleague), Processed::Filed { opened: false, case, .. } if case.to_string() == "SEC-2026-0001")
    );
    let out = summarize(&w.new_mail());
    assert!(!out.contains("ack ->"), "{out}");
}
