//! `secdesk import` of an mbox file and a Maildir, compared with live ingest.

use super::*;

/// The archive: two reports, a threaded reply, a mail carrying only the case tag, a
/// duplicate of the second report, an auto-reply. LF line ends, as files on disk have.
fn archive() -> Vec<String> {
    vec![
        "From: Rita Reporter <rita@reporter.test>\nTo: security@example.org\nSubject: Heap overflow in the parser\nMessage-ID: <imp-1@reporter.test>\nDate: Mon, 16 Nov 2026 10:00:00 +0100\n\nA crafted input overflows a heap buffer.\n".to_string(),
        "From: Sam Finder <sam@finder.test>\nTo: security@example.org\nSubject: XSS in the admin panel\nMessage-ID: <imp-2@finder.test>\nDate: Mon, 16 Nov 2026 11:00:00 +0100\n\nThe name field is not escaped.\n".to_string(),
        "From: Rita Reporter <rita@reporter.test>\nTo: security@example.org\nSubject: Re: Heap overflow in the parser\nMessage-ID: <imp-3@reporter.test>\nIn-Reply-To: <imp-1@reporter.test>\nReferences: <imp-1@reporter.test>\nDate: Tue, 17 Nov 2026 09:00:00 +0100\n\nHere is a smaller reproducer.\n".to_string(),
        "From: Mia Maintainer <mia@upstream.test>\nTo: security@example.org\nSubject: [SEC-2026-0001] patch for the parser\nMessage-ID: <imp-4@upstream.test>\nDate: Wed, 18 Nov 2026 09:00:00 +0100\n\nThe attached patch fixes it.\n".to_string(),
        "Received: from relay2.finder.test by mx.example.org; Mon, 16 Nov 2026 11:05:00 +0100\nFrom: Sam Finder <sam@finder.test>\nTo: security@example.org\nSubject: XSS in the admin panel\nMessage-ID: <imp-2@finder.test>\nDate: Mon, 16 Nov 2026 11:00:00 +0100\n\nThe name field is not escaped.\n".to_string(),
        "From: Sam Finder <sam@finder.test>\nTo: security@example.org\nSubject: Out of office: XSS in the admin panel\nMessage-ID: <imp-6@finder.test>\nIn-Reply-To: <imp-2@finder.test>\nAuto-Submitted: auto-replied\nDate: Thu, 19 Nov 2026 09:00:00 +0100\n\nI am away until December.\n".to_string(),
    ]
}

/// The cases of a database: id, status, reporter, subject, mails that came in.
fn case_rows(db: &Path) -> Vec<String> {
    let mut store = Store::open(db).unwrap();
    let cases = store.read(|tx| tx.list_cases(false)).unwrap();
    drop(store);
    cases
        .iter()
        .map(|s| {
            let id = s.case.id.to_string();
            let incoming = must_count(
                db,
                &format!(
                    "SELECT COUNT(*) FROM messages WHERE case_id = '{id}' AND direction = 'in'"
                ),
            );
            format!(
                "{id} {} {} in:{incoming} | {}",
                s.case.status,
                s.case.reporter.as_deref().unwrap_or("-"),
                s.case.subject
            )
        })
        .collect()
}

fn import_into(dir: &Path, name: &str, archive: &Path) -> (PathBuf, PathBuf, Output) {
    let db = dir.join(format!("{name}.db"));
    // Ports nobody listens on: importing must not need (or use) the servers.
    let cfg = write_config(
        dir,
        &format!("{name}.toml"),
        &config_text(db.to_str().unwrap(), 1, 2, ""),
    );
    let o = run_cli(&cfg, &["import", archive.to_str().unwrap()]);
    (db, cfg, o)
}

/// Importing an mbox file and a Maildir builds the same cases, threaded the same way, as
/// the live desk does from the same mails; the import sends nothing and plans no
/// reminders, and importing again adds nothing.
#[test]
fn import_of_mbox_and_maildir_matches_live_ingest() {
    let dir = tempfile::tempdir().unwrap();
    let mails = archive();
    let expected = vec![
        "SEC-2026-0001 new rita@reporter.test in:3 | Heap overflow in the parser".to_string(),
        "SEC-2026-0002 new sam@finder.test in:2 | XSS in the admin panel".to_string(),
    ];

    // The mbox: "From " separator lines, a blank line between messages.
    let mbox = dir.path().join("security.mbox");
    let mut text = String::new();
    for m in &mails {
        text.push_str("From archive@example.org Mon Nov 16 10:00:00 2026\n");
        text.push_str(m);
        text.push('\n');
    }
    fs::write(&mbox, text).unwrap();
    // The Maildir: the first three read (cur/), the rest unread (new/); names in
    // delivery order.
    let maildir = dir.path().join("Maildir");
    for sub in ["cur", "new", "tmp"] {
        fs::create_dir_all(maildir.join(sub)).unwrap();
    }
    for (i, m) in mails.iter().enumerate() {
        let name = if i < 3 {
            format!("cur/17633000{i:02}.M{i}P1.desk:2,S")
        } else {
            format!("new/17633000{i:02}.M{i}P1.desk")
        };
        fs::write(maildir.join(name), m).unwrap();
    }
    // A Maildir++ folder beside it is named, not read.
    fs::create_dir_all(maildir.join(".Sent/cur")).unwrap();
    fs::write(maildir.join(".Sent/cur/1.x:2,S"), &mails[0]).unwrap();

    let mut listings = Vec::new();
    for (name, archive) in [("mbox", &mbox), ("maildir", &maildir)] {
        let (db, cfg, o) = import_into(dir.path(), name, archive);
        assert!(o.status.success(), "import {name}: {}", all_output(&o));
        let folders = if name == "maildir" {
            format!(
                "not imported: the folder .Sent (1 file); import each folder on its own: secdesk import {}\n",
                archive.join(".Sent").display()
            )
        } else {
            String::new()
        };
        assert_eq!(
            stdout(&o),
            format!(
                "6 messages read from {}: 2 new cases, 1 already on file. Nothing was sent.\n{folders}",
                archive.display()
            ),
            "import {name}"
        );
        assert_eq!(case_rows(&db), expected, "cases from the {name} import");
        assert_eq!(
            must_count(&db, "SELECT COUNT(*) FROM outbox"),
            0,
            "the {name} import queued mail"
        );
        assert_eq!(
            must_count(
                &db,
                "SELECT COUNT(*) FROM reminders WHERE state = 'pending'"
            ),
            0,
            "the {name} import planned reminders"
        );
        assert_eq!(
            must_count(
                &db,
                "SELECT COUNT(*) FROM raw_mail WHERE state = 'duplicate'"
            ),
            1
        );
        let o = run_cli(&cfg, &["cases", "--all"]);
        assert!(o.status.success(), "cases {name}: {}", all_output(&o));
        listings.push(stdout(&o));

        // Again: everything is recognised, nothing changes.
        let o = run_cli(&cfg, &["import", archive.to_str().unwrap()]);
        assert!(o.status.success(), "re-import {name}: {}", all_output(&o));
        assert_eq!(
            stdout(&o),
            format!(
                "6 messages read from {}: 0 new cases, 6 already on file. Nothing was sent.\n{folders}",
                archive.display()
            ),
            "re-import {name}"
        );
        assert_eq!(case_rows(&db), expected, "cases after re-importing {name}");
        assert_eq!(must_count(&db, "SELECT COUNT(*) FROM raw_mail"), 6);
    }
    assert_eq!(
        listings[0], listings[1],
        "`secdesk cases --all` differs between the mbox and the Maildir import"
    );
    assert!(
        listings[0].contains("SEC-2026-0001") && listings[0].contains("SEC-2026-0002"),
        "{}",
        listings[0]
    );

    // Live: the same mails in the desk's INBOX, read by the running desk.
    let stack = MailStack::start();
    let db = dir.path().join("live.db");
    let cfg = write_config(dir.path(), "live.toml", &stack_config(&stack, &db, ""));
    prime(&stack, &cfg, &db, dir.path());
    let crlf: Vec<String> = mails.iter().map(|m| m.replace('\n', "\r\n")).collect();
    append_all(&stack, &crlf);
    let mut desk = Daemon::start(&cfg, dir.path().join("live.log"));
    desk.wait_processed("the primer and all six mails processed", &db, 7);
    desk.stop_cleanly("live desk");
    assert_eq!(case_rows(&db), expected, "cases from live ingest");
    // It was live: both reporters were acknowledged (the import answered no one).
    assert_eq!(
        must_count(
            &db,
            "SELECT COUNT(*) FROM outbox WHERE purpose = 'ack' AND primary_rcpt IN ('rita@reporter.test', 'sam@finder.test')"
        ),
        2,
        "the live desk did not acknowledge the two reports"
    );
}

/// A new archive at the path of one imported before (this year's export where last
/// year's was) is imported whole: the mail at each position is new mail, not the mail
/// once at that position (it was skipped as "already on file", and so lost).
#[test]
fn a_new_archive_at_an_old_path_is_imported_whole() {
    let dir = tempfile::tempdir().unwrap();
    let mbox = dir.path().join("security.mbox");
    let write = |ids: [&str; 2]| {
        let text: String = ids
            .iter()
            .map(|id| {
                format!(
                    "From archive@example.org Mon Nov 16 10:00:00 2026\nFrom: Rita <rita@reporter.test>\nTo: security@example.org\nSubject: Report {id}\nMessage-ID: <{id}@reporter.test>\nDate: Mon, 16 Nov 2026 10:00:00 +0100\n\nText {id}.\n\n"
                )
            })
            .collect();
        fs::write(&mbox, text).unwrap();
    };
    write(["old-1", "old-2"]);
    let (db, cfg, o) = import_into(dir.path(), "desk", &mbox);
    assert!(o.status.success(), "{}", all_output(&o));
    write(["new-1", "new-2"]);
    let o = run_cli(&cfg, &["import", mbox.to_str().unwrap()]);
    assert!(o.status.success(), "{}", all_output(&o));
    assert_eq!(
        stdout(&o),
        format!(
            "2 messages read from {}: 2 new cases, 0 already on file. Nothing was sent.\n",
            mbox.display()
        )
    );
    assert_eq!(case_rows(&db).len(), 4);
    // The same archive again: nothing new.
    let o = run_cli(&cfg, &["import", mbox.to_str().unwrap()]);
    assert!(
        stdout(&o).contains(": 0 new cases, 2 already on file."),
        "{}",
        stdout(&o)
    );
}

/// A single mail (an .eml file, no `From ` line) is no mbox: the import says so and what
/// to do, instead of reading no message and saying all went well.
#[test]
fn a_single_mail_file_is_refused_with_its_remedy() {
    let dir = tempfile::tempdir().unwrap();
    let eml = dir.path().join("report.eml");
    fs::write(&eml, &archive()[0]).unwrap();
    let (db, _cfg, o) = import_into(dir.path(), "desk", &eml);
    assert!(!o.status.success(), "{}", all_output(&o));
    assert!(
        all_output(&o).contains("does not start with a `From ` line, so it is no mbox file"),
        "{}",
        all_output(&o)
    );
    assert!(!db.exists() || case_rows(&db).is_empty());
}

/// A mail the desk read over IMAP (CRLF lines) and then imported from the mailbox's own
/// export (LF lines, the mail store's `Status:` and `X-UID:` fields added) is recognised:
/// without a Message-ID, the id the desk makes from the bytes differed, and the import
/// opened a second case for the same report.
#[test]
fn a_mail_without_message_id_read_live_is_recognised_in_an_export() {
    let mut w = World::new();
    let live = "From: Rita <rita@reporter.test>\r\nTo: security@example.org\r\nSubject: A form's report\r\n\r\nThe form has no Message-ID.\r\n";
    w.deliver(live);
    let dir = tempfile::tempdir().unwrap();
    let maildir = dir.path().join("Maildir");
    for sub in ["cur", "new", "tmp"] {
        fs::create_dir_all(maildir.join(sub)).unwrap();
    }
    let exported =
        live.replace("\r\n", "\n")
            .replacen("\n\n", "\nStatus: RO\nX-UID: 7\nX-Keywords:\n\n", 1);
    fs::write(maildir.join("cur/1.a:2,S"), exported).unwrap();
    let r = secdesk::cli::import::import(&w.desk, &mut w.store, &maildir, &w.clock).unwrap();
    assert_eq!((r.cases_opened, r.duplicates), (0, 1), "{r:?}");
}
