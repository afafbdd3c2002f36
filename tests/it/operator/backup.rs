//! `secdesk backup` while the desk writes.

use super::*;

/// A backup taken while the desk works through a backlog is a sound, consistent database,
/// readable by its owner alone; a second backup to the same name is refused and leaves
/// the first untouched.
#[test]
fn backup_while_the_desk_writes_is_sound_and_private() {
    // Live mail, so the desk also writes the outbox as it sends.
    let backlog = backlogged(); // the servers live as long as the test
    let (dir, db, cfg, n) = (&backlog.dir, &backlog.db, &backlog.cfg, BACKLOG as i64);

    let mut desk = Daemon::start(cfg, dir.path().join("run.log"));
    let before = desk.wait_db(
        "the desk busy with its backlog",
        Duration::from_secs(15),
        || match count(db, BACKLOG_DONE_SQL) {
            Ok(k) if k >= n => panic!("the backlog was done before the backup could start"),
            Ok(k) if k > 0 => Ok(k),
            Ok(k) => Err(format!("{k} processed")),
            Err(e) => Err(e),
        },
    );
    let backup = dir.path().join("backup.db");
    let o = run_cli(cfg, &["backup", backup.to_str().unwrap()]);
    let after = must_count(db, BACKLOG_DONE_SQL);
    eprintln!("backup taken while the desk went from {before} to {after} of {n} mails");
    assert!(o.status.success(), "backup: {}", all_output(&o));
    assert_eq!(
        stdout(&o),
        format!("backup written to {} (mode 0600)\n", backup.display())
    );
    desk.assert_running();

    let mode = fs::metadata(&backup).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "backup mode {mode:o}");
    let bytes = fs::read(&backup).unwrap();

    // A second backup to the same name is refused, the first left as it was.
    let o = run_cli(cfg, &["backup", backup.to_str().unwrap()]);
    assert!(
        !o.status.success(),
        "a second backup overwrote the first: {}",
        all_output(&o)
    );
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("already exists"),
        "{}",
        all_output(&o)
    );
    assert_eq!(
        fs::read(&backup).unwrap(),
        bytes,
        "the refused backup changed the file"
    );

    desk.stop_cleanly("desk");

    // Sound, and a consistent snapshot: each processed report is on exactly one case
    // message, opened one case and queued one acknowledgement.
    let store = Store::open(&backup).unwrap();
    assert_eq!(store.integrity_check().unwrap(), "ok");
    drop(store);
    let total = must_count(&backup, "SELECT COUNT(*) FROM raw_mail");
    let processed = must_count(&backup, BACKLOG_DONE_SQL);
    assert!(
        total > 0 && processed >= before && processed <= n,
        "backup holds {processed} processed of {total} raw mails (desk had {before} before)"
    );
    assert_eq!(
        must_count(
            &backup,
            "SELECT COUNT(*) FROM raw_mail r WHERE state = 'processed' AND r.message_id LIKE 'backlog-%' AND (SELECT COUNT(*) FROM messages m WHERE m.raw_id = r.id) != 1"
        ),
        0,
        "the backup has processed mail that is not on a case"
    );
    assert_eq!(
        must_count(&backup, "SELECT COUNT(*) FROM cases"),
        processed,
        "the backup's cases and processed mails disagree"
    );
    assert_eq!(
        must_count(&backup, "SELECT COUNT(*) FROM outbox WHERE purpose = 'ack'"),
        processed,
        "the backup's acknowledgements and processed reports disagree"
    );
}

/// A backup killed in the middle of its copy (Ctrl-C, a cron job's `timeout`, the OOM
/// killer) leaves nothing under the backup's name: the half copy there opened as an empty
/// database, a restore of it lost every case, and the retry was refused, the name taken.
/// The unfinished copy is named as such; the retry says what is in the way.
#[test]
fn a_backup_killed_midway_leaves_nothing_that_passes_for_one() {
    let mut w = World::new();
    for i in 0..30 {
        w.deliver(&report(
            &format!("r{i}@reporter.test"),
            &format!("Report {i}"),
            "x",
        ));
    }
    let cfg = w.config_file("");
    let dir = tempfile::tempdir().unwrap();
    let backup = dir.path().join("backup.db");
    let o = backup_failing_at(&cfg, &backup, "backup-crash");
    assert!(!o.status.success(), "{}", all_output(&o));
    assert!(!backup.exists(), "a half copy under the backup's name");
    let o = run_cli(&cfg, &["backup", backup.to_str().unwrap()]);
    assert!(!o.status.success(), "{}", all_output(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("did not finish"),
        "{}",
        all_output(&o)
    );
    for left in fs::read_dir(dir.path()).unwrap() {
        fs::remove_file(left.unwrap().path()).unwrap();
    }
    let o = run_cli(&cfg, &["backup", backup.to_str().unwrap()]);
    assert!(o.status.success(), "{}", all_output(&o));
    assert_eq!(names_in(dir.path()), vec!["backup.db".to_string()]);
    assert_eq!(must_count(&backup, "SELECT COUNT(*) FROM cases"), 30);
}

/// A backup onto a file system without hard links (a FAT or exFAT stick, some FUSE
/// mounts) is made all the same: the copy is renamed. (Its name was given by a hard link
/// alone, which such a file system refuses: the copy was removed, and no backup made.)
#[test]
fn a_backup_onto_a_file_system_without_hard_links_is_made() {
    let mut w = World::new();
    w.deliver(&report("r1@reporter.test", "Report", "x"));
    let cfg = w.config_file("");
    let dir = tempfile::tempdir().unwrap();
    let backup = dir.path().join("backup.db");
    let o = backup_failing_at(&cfg, &backup, "backup-no-link");
    assert!(o.status.success(), "{}", all_output(&o));
    assert_eq!(names_in(dir.path()), vec!["backup.db".to_string()]);
    assert_eq!(must_count(&backup, "SELECT COUNT(*) FROM cases"), 1);
}

/// `secdesk backup <backup>` with the failpoint `failpoint` on.
fn backup_failing_at(cfg: &Path, backup: &Path, failpoint: &str) -> Output {
    secdesk_cmd(cfg)
        .args(["backup", backup.to_str().unwrap()])
        .env("SECDESK_FAILPOINTS", failpoint)
        .output()
        .unwrap()
}

/// The names of the files in `dir`.
fn names_in(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}
