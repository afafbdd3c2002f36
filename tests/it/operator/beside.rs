//! The operator's commands run beside the daemon, on the same database file.

use super::*;

/// `secdesk cases` run while the daemon works must not cost the daemon its write-ahead
/// log. SQLite knows it is the last user of a database (and so checkpoints and deletes
/// the WAL when it closes) when it can lock the file exclusively; POSIX locks belong to
/// the process and all of them go when the process closes any descriptor of the file.
/// The daemon's connections once opened the file themselves to make it 0600, dropping
/// the locks its earlier connections held: the next CLI command to close then deleted
/// the WAL under the running daemon, whose later commits went to a deleted file (lost at
/// the next crash, invisible to every other reader meanwhile).
#[test]
fn a_cli_command_beside_the_daemon_never_takes_its_committed_mail_away() {
    let Backlogged {
        stack,
        dir,
        db,
        cfg,
    } = primed();
    let log = dir.path().join("run.log");
    let mut desk = Daemon::start(&cfg, log.clone());
    desk.wait_db(
        "the desk ready",
        Duration::from_secs(15),
        || match fs::read_to_string(&log) {
            Ok(text) if text.contains("secdesk is ready") => Ok(()),
            _ => Err("not ready yet".to_string()),
        },
    );

    let wal = dir.path().join("desk.db-wal");
    let o = run_cli(&cfg, &["cases", "--all"]);
    assert!(o.status.success(), "{}", all_output(&o));
    assert!(
        wal.exists(),
        "the CLI deleted the WAL of the running daemon"
    );
    // Any other SQLite program an operator runs (here Python's) as well.
    let py = Command::new("python3")
        .args([
            "-c",
            "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute('SELECT COUNT(*) FROM cases').fetchall(); c.close()",
            db.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        py.status.success(),
        "{}",
        String::from_utf8_lossy(&py.stderr)
    );
    assert!(
        wal.exists(),
        "another SQLite program deleted the WAL of the running daemon"
    );

    // A report filed after the CLI ran is read by any other process, and survives the
    // daemon's crash.
    append_all(&stack, &[backlog_report(0)]);
    desk.wait_processed("the report filed", &db, 2);
    let child = desk.child.as_mut().unwrap();
    child.kill().unwrap(); // SIGKILL: no checkpoint at exit
    child.wait().unwrap();
    desk.child = None;
    let mut store = Store::open(&db).unwrap();
    let cases = store.read(|tx| tx.list_cases(false)).unwrap();
    assert_eq!(
        cases.len(),
        1,
        "the report filed after the CLI ran was lost"
    );
}
