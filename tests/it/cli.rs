//! The read-side commands through the real binary: `cases`, `case`, `deadlines`,
//! `calendar` (checked by an independent iCalendar parser) and `advisory`.

use crate::world::*;
use std::process::Command;

#[test]
fn cases_case_deadlines_calendar_and_advisory() {
    let mut w = World::new();
    let notice = w.open_case("Heap overflow in the parser");
    w.command(ALICE, "a1@example.org", &notice, "#assign me\r\n#summary Heap overflow in the parser\r\n#package example-parser\r\n#remind 2026-12-02 ask upstream\r\n");
    // Read-only commands need no password: none is given here.
    let cfg = w.config_file("");

    let (ok, out, err) = secdesk(&cfg, &["cases"]);
    assert!(ok, "{err}");
    assert!(out.starts_with("CASE           STATUS  RESPONDER          SEVERITY  OPENED      MAILS  REPORTER            SUBJECT\n"), "{out}");
    assert!(out.contains("SEC-2026-0001  new     alice@example.org  -         2026-11-23  7      rita@reporter.test  Heap overflow in the parser"), "{out}");

    let (ok, out, _) = secdesk(&cfg, &["case", "SEC-2026-0001"]);
    assert!(ok);
    assert!(out.contains("Responder:   alice@example.org"), "{out}");
    assert!(
        out.contains("changed         alice@example.org            responder: alice@example.org"),
        "{out}"
    );
    let (ok, _, err) = secdesk(&cfg, &["case", "SEC-2026-0099"]);
    assert!(!ok);
    assert!(err.contains("there is no case SEC-2026-0099"), "{err}");
    let (ok, _, err) = secdesk(&cfg, &["case", "nonsense"]);
    assert!(!ok && err.contains("`nonsense` is not a case id"), "{err}");

    let (ok, out, _) = secdesk(&cfg, &["deadlines"]);
    assert!(ok);
    assert!(
        out.contains("Thu 26 Nov 2026, 17:00 CET (Europe/Paris)  SEC-2026-0001  first-response"),
        "{out}"
    );
    assert!(
        out.contains("Wed 2 Dec 2026, 09:00 CET (Europe/Paris)   SEC-2026-0001  one-off"),
        "{out}"
    );

    let ics = w._dir.path().join("deadlines.ics");
    let (ok, out, err) = secdesk(&cfg, &["calendar", "--output", ics.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert_eq!(
        out.trim(),
        format!("3 deadlines written to {}", ics.display())
    );
    let parsed = crate::support::stdout_of(
        Command::new("python3").args([
            "-c",
            "import icalendar,sys\ncal = icalendar.Calendar.from_ical(open(sys.argv[1], 'rb').read())\nfor e in cal.walk('VEVENT'):\n    print(e.get('DTSTART').dt.isoformat(), e.get('SUMMARY'))",
            ics.to_str().unwrap(),
        ]),
        "python icalendar (installed by scripts/test.sh) could not parse it: ",
    );
    assert_eq!(
        parsed,
        "2026-11-26T16:00:00+00:00 [SEC-2026-0001] first answer due: Heap overflow in the parser\n\
         2026-12-02T08:00:00+00:00 [SEC-2026-0001] ask upstream\n\
         2027-02-20T23:00:00+00:00 [SEC-2026-0001] embargo ends: Heap overflow in the parser\n"
    );

    let (ok, out, err) = secdesk(&cfg, &["advisory", "SEC-2026-0001", "--format", "markdown"]);
    assert!(ok, "{err}");
    assert!(out.contains("# Heap overflow in the parser"), "{out}");
    assert!(
        err.contains("note:"),
        "problems are listed on stderr: {err}"
    );
    let (ok, out, _) = secdesk(&cfg, &["advisory", "SEC-2026-0001", "--format", "osv"]);
    assert!(ok);
    let osv: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(osv["summary"], "Heap overflow in the parser");
    assert_eq!(osv["affected"][0]["package"]["name"], "example-parser");

    // Two calls print the same advisory (the wall clock has moved in between).
    let (_, again, _) = secdesk(&cfg, &["advisory", "SEC-2026-0001", "--format", "osv"]);
    assert_eq!(again, out);

    // --out writes <id>.md and <id>.json, as the database names them.
    let dir = w._dir.path().join("out");
    std::fs::create_dir(&dir).unwrap();
    let (ok, listed, err) = secdesk(
        &cfg,
        &["advisory", "SEC-2026-0001", "--out", dir.to_str().unwrap()],
    );
    assert!(ok, "{err}");
    let md = dir.join("OSEC-DRAFT-SEC-2026-0001.md");
    let json = dir.join("OSEC-DRAFT-SEC-2026-0001.json");
    assert_eq!(listed, format!("{}\n{}\n", md.display(), json.display()));
    assert_eq!(std::fs::read_to_string(&json).unwrap(), out);
    assert!(
        std::fs::read_to_string(&md)
            .unwrap()
            .contains("# Heap overflow in the parser")
    );
    // An unpublished advisory is read by the desk's user alone, and a file already
    // there (or a link planted in its place) is never overwritten or followed. (They
    // were written 0644 under sudo's umask, over whatever the name led to.)
    use std::os::unix::fs::PermissionsExt;
    for file in [&md, &json] {
        let mode = std::fs::metadata(file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{} is {mode:o}", file.display());
    }
    let (ok, _, err) = secdesk(
        &cfg,
        &["advisory", "SEC-2026-0001", "--out", dir.to_str().unwrap()],
    );
    assert!(!ok && err.contains("already exists"), "{err}");
    assert_eq!(std::fs::read_to_string(&json).unwrap(), out);
}

/// A desk with one case and a config file for the binary; the world keeps the files.
fn desk_on_disk(subject: &str) -> (World, std::path::PathBuf) {
    let mut w = World::new();
    let notice = w.open_case(subject);
    w.command(
        ALICE,
        "a1@example.org",
        &notice,
        "#remind 2026-12-02 ask upstream\r\n",
    );
    let cfg = w.config_file("");
    (w, cfg)
}

#[test]
fn calendar_output_refuses_symlinks_and_existing_files_and_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let (w, cfg) = desk_on_disk("Heap overflow in the parser");
    let dir = w._dir.path();

    let existing = dir.join("existing.ics");
    std::fs::write(&existing, "keep me").unwrap();
    let (ok, _, err) = secdesk(&cfg, &["calendar", "--output", existing.to_str().unwrap()]);
    assert!(!ok, "an existing file is refused");
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(std::fs::read_to_string(&existing).unwrap(), "keep me");

    let target = dir.join("elsewhere.ics");
    let link = dir.join("link.ics");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let (ok, _, err) = secdesk(&cfg, &["calendar", "--output", link.to_str().unwrap()]);
    assert!(!ok, "a symlink is refused, even a dangling one");
    assert!(err.contains("already exists"), "{err}");
    assert!(!target.exists(), "nothing written through the link");

    let fresh = dir.join("fresh.ics");
    let (ok, _, err) = secdesk(&cfg, &["calendar", "--output", fresh.to_str().unwrap()]);
    assert!(ok, "{err}");
    let mode = std::fs::metadata(&fresh).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "case subjects are confidential: {mode:o}");
    assert!(
        std::fs::read_to_string(&fresh)
            .unwrap()
            .contains("BEGIN:VCALENDAR")
    );
}

#[test]
fn control_characters_from_mail_never_reach_the_terminal() {
    // An encoded-word subject that would retitle the terminal (OSC 0), erase the line,
    // and draw a fake "closed" row; plus a C1 CSI.
    let subject =
        "=?utf-8?q?Heap_overflow=1B]0;pwned=07=1B[2K=0D=0ASEC-2026-0009__closed=C2=9B31m?=";
    let (_w, cfg) = desk_on_disk(subject);
    for args in [
        &["cases"][..],
        &["case", "SEC-2026-0001"][..],
        &["deadlines"][..],
        &["advisory", "SEC-2026-0001", "--format", "markdown"][..],
    ] {
        let (ok, out, err) = secdesk(&cfg, args);
        assert!(ok, "{args:?}: {err}");
        for text in [&out, &err] {
            assert!(
                !text
                    .chars()
                    .any(|c| c.is_control() && c != '\n' && c != '\t'),
                "{args:?} printed a control character: {text:?}"
            );
        }
        // The public advisory never carries the reporter's subject; the others show it,
        // without its control characters (gone at parsing; escaped here if any remained).
        if args[0] == "cases" || args[0] == "case" {
            assert!(out.contains("]0;pwned"), "{args:?} shows it escaped: {out}");
        }
    }
    let (_, out, _) = secdesk(&cfg, &["cases"]);
    assert_eq!(out.lines().count(), 2, "one header, one case: {out}");
}

#[test]
fn a_closed_pipe_ends_the_output_quietly() {
    let (_w, cfg) = desk_on_disk("Heap overflow in the parser");
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let child = Command::new(env!("CARGO_BIN_EXE_secdesk"))
        .arg("--config")
        .arg(&cfg)
        .arg("cases")
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    use std::os::unix::process::ExitStatusExt;
    assert!(
        out.status.code() == Some(0) || out.status.signal() == Some(13),
        "status {:?}: {stderr}",
        out.status
    );
    assert!(stderr.is_empty(), "nothing on stderr: {stderr}");
}

#[test]
fn a_long_listing_streams_in_order_and_aligned() {
    // Enough cases for several of the listing's chunks (8 KiB each); every third closed.
    let mut w = World::new();
    let mut notices = Vec::new();
    for i in 0..150 {
        let subject = format!("Overflow number {i} in the parser");
        w.deliver(&report(
            &format!("r{i}@reporter.test"),
            &subject,
            "It overflows.",
        ));
        notices.push(w.take("team-notice").message_id.to_string());
    }
    for (i, notice) in notices.iter().enumerate().filter(|(i, _)| i % 3 == 0) {
        w.command(
            ALICE,
            &format!("close{i}@example.org"),
            notice,
            "#close\r\n",
        );
    }
    let cfg = w.config_file("");

    let (ok, all, err) = secdesk(&cfg, &["cases", "--all"]);
    assert!(ok, "{err}");
    assert!(all.len() > 2 * 8192, "several chunks: {} bytes", all.len());
    let lines: Vec<&str> = all.lines().collect();
    assert_eq!(lines.len(), 151, "one header, one line per case:\n{all}");
    let subject_at = lines[0].find("SUBJECT").unwrap();
    for (i, line) in lines[1..].iter().enumerate() {
        assert!(
            line.starts_with(&format!("SEC-2026-{:04} ", i + 1)),
            "oldest first: {line}"
        );
        assert_eq!(
            line.find("Overflow number"),
            Some(subject_at),
            "aligned under its header: {line}"
        );
        assert_eq!(line.contains("closed"), i % 3 == 0, "{line}");
    }

    let (ok, open, err) = secdesk(&cfg, &["cases", "--open"]);
    assert!(ok, "{err}");
    assert_eq!(open.lines().count(), 101, "{open}");
    assert!(!open.contains("closed"), "{open}");
}

/// A case under a short embargo (a bug exploited in the wild) that nobody has answered
/// yet: the calendar has both its deadlines, the first answer's too (only the sooner
/// was written).
#[test]
fn the_calendar_has_every_deadline_of_a_case() {
    let mut w = World::new();
    let notice = w.open_case("Exploited in the wild");
    w.command(ALICE, "a1@example.org", &notice, "#embargo +1d\r\n");
    let cfg = w.config_file("");
    let ics = w._dir.path().join("deadlines.ics");
    let (ok, _, err) = secdesk(&cfg, &["calendar", "--output", ics.to_str().unwrap()]);
    assert!(ok, "{err}");
    let text = std::fs::read_to_string(&ics).unwrap();
    assert!(
        text.contains("first answer due: Exploited in the wild"),
        "{text}"
    );
    assert!(
        text.contains("embargo ends: Exploited in the wild"),
        "{text}"
    );
    assert!(!text.contains("publication due"), "{text}");

    // Fixed: the advisory is due by the end of that working day (Monday 17:00 in
    // Paris), the deadline the reminder counts. The calendar had no such event.
    w.command(ALICE, "a2@example.org", &notice, "#valid\r\n#fixed\r\n");
    let ics = w._dir.path().join("fixed.ics");
    let (ok, _, err) = secdesk(&cfg, &["calendar", "--output", ics.to_str().unwrap()]);
    assert!(ok, "{err}");
    let text = std::fs::read_to_string(&ics).unwrap();
    let event = text
        .split("BEGIN:VEVENT")
        .find(|e| e.contains("-publication@"))
        .unwrap_or_else(|| panic!("no publication deadline in {text}"));
    assert!(event.contains("DTSTART:20261123T160000Z"), "{event}");
    assert!(
        event.contains("SUMMARY:[SEC-2026-0001] publication due: Exploited in the wild"),
        "{event}"
    );
}

/// `secdesk cases --all | less`, the pager left on its first page: the listing held its
/// read transaction while it waited to write, and for as long as it waited no
/// checkpoint could empty the write-ahead log, which grew with every mail filed. Now
/// each page of cases is read in a short transaction of its own: once the listing is
/// stuck on its output, a checkpoint takes in everything filed meanwhile.
#[test]
fn a_paused_listing_holds_no_snapshot_of_the_database() {
    let mut w = World::new();
    w.open_case("The first case");
    let db = w.desk.config.desk.database.clone();
    let cfg = w.config_file("");
    // A thousand wide rows, far more than a pipe holds (about 160 KB).
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch(
            "WITH RECURSIVE n(s) AS (SELECT 100 UNION ALL SELECT s + 1 FROM n WHERE s < 1099)
             INSERT INTO cases (id, year, seq, subject, reporter, status, opened_at, root_message_id)
             SELECT printf('SEC-2026-%04d', s), 2026, s, 'A long subject ' || hex(zeroblob(30)),
                    'a-reporter-with-a-long-address-' || s || '@reporter.example.org', 'new',
                    c.opened_at, '<bulk-' || s || '@reporter.test>'
             FROM n, (SELECT opened_at FROM cases LIMIT 1) c;",
        )
        .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_secdesk"))
        .arg("--config")
        .arg(&cfg)
        .args(["cases", "--all"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Its first line read: the listing has begun. Nothing more is read.
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut header = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut header).unwrap();
    assert!(header.starts_with("CASE"), "{header}");
    // A report filed while the listing waits on its reader.
    w.open_report("r2@reporter.test", "Filed meanwhile", "x");
    // The listing soon stops on its full pipe; from then on a checkpoint by anyone
    // takes in every frame of the log. (Before, never: the held snapshot predates them.)
    let checkpoint = rusqlite::Connection::open(&db).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let last = loop {
        let (log, done): (i64, i64) = checkpoint
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
                Ok((r.get(1)?, r.get(2)?))
            })
            .unwrap();
        if log == done || std::time::Instant::now() > deadline {
            break (log, done);
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert!(
        child.try_wait().unwrap().is_none(),
        "the listing is still waiting on its reader"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(last.0, last.1, "frames in the log, and checkpointed");
}
