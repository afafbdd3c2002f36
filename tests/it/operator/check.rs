//! `secdesk check` against a real mail stack.

use super::*;

/// The FAIL lines of a `check` report.
fn fail_lines(out: &str) -> Vec<&str> {
    out.lines().filter(|l| l.starts_with("FAIL")).collect()
}

/// `secdesk check` on `text`, written as `name` in `dir`: its exit status must be
/// `code` and its report must end with `last`. Returns the config's path and the report.
fn check(dir: &Path, name: &str, text: &str, code: i32, last: &str) -> (PathBuf, String) {
    let cfg = write_config(dir, name, text);
    let o = run_cli(&cfg, &["check"]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(code), "{name}: {}", all_output(&o));
    assert!(out.ends_with(last), "{name}: {}", all_output(&o));
    (cfg, out)
}

/// `check` that must pass.
fn check_passes(dir: &Path, name: &str, text: &str) -> (PathBuf, String) {
    check(dir, name, text, 0, "\nAll checks passed.\n")
}

/// A variable of the environment that is not UTF-8 (a locale's file name, say) is no
/// reason to stop: `check` runs as without it. It panicked before reading the config.
#[test]
fn an_environment_variable_that_is_not_utf8_is_no_trouble() {
    use std::os::unix::ffi::OsStrExt;
    let stack = MailStack::start();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("desk.db");
    let cfg = write_config(dir.path(), "plain.toml", &stack_config(&stack, &db, ""));
    let o = secdesk_cmd(&cfg)
        .arg("check")
        .env("SOME_PATH", std::ffi::OsStr::from_bytes(b"/tmp/caf\xe9"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", all_output(&o));
}

/// A good config passes, over plain text on loopback and over STARTTLS verified against
/// the stack's CA; without that CA the same STARTTLS config fails on TLS, so the
/// verification is real. `check` creates no database.
#[test]
fn check_passes_a_good_config_plain_and_over_verified_starttls() {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("desk.db");
    let plain = stack_config(&stack, &db, "");

    let (cfg, out) = check_passes(dir.path(), "plain.toml", &plain);
    assert_eq!(fail_lines(&out), Vec::<&str>::new());
    for expected in [
        format!("ok   config    {} is valid", cfg.display()),
        "ok   templates all render (built-in)".to_string(),
        format!(
            "ok   imap      logged in to 127.0.0.1:{} as {DESK}",
            stack.imap_port
        ),
        "ok   imap      mailbox INBOX has 0 messages".to_string(),
        format!("ok   smtp      127.0.0.1:{} accepts us", stack.smtp_port),
    ] {
        assert!(
            out.lines().any(|l| l == expected),
            "no line {expected:?} in:\n{out}"
        );
    }
    assert!(!db.exists(), "check created {}", db.display());

    // STARTTLS on both, verified against the stack's CA.
    let ca = stack.ca_file.display().to_string();
    let starttls = |with_ca: bool| -> String {
        let tls = |port: u16| {
            let ca_line = if with_ca {
                format!("\nca_file = \"{ca}\"")
            } else {
                String::new()
            };
            (
                format!("port = {port}\ntls = \"none\""),
                format!("port = {port}\ntls = \"starttls\"{ca_line}"),
            )
        };
        let (a, b) = tls(stack.imap_port);
        let (c, d) = tls(stack.smtp_port);
        edit(&edit(&plain, &a, &b), &c, &d)
    };
    let (_, out) = check_passes(dir.path(), "starttls.toml", &starttls(true));
    assert!(
        out.contains(&format!(
            "ok   imap      logged in to 127.0.0.1:{} as {DESK}",
            stack.imap_port
        )),
        "{out}"
    );

    // Negative control: the same, trusting only the system roots, must fail on TLS.
    let cfg = write_config(dir.path(), "untrusted.toml", &starttls(false));
    let o = run_cli(&cfg, &["check"]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(2), "{}", all_output(&o));
    let fails = fail_lines(&out);
    assert!(
        fails
            .iter()
            .any(|l| l.starts_with("FAIL imap ") && l.ends_with("(check imap.tls / imap.ca_file)")),
        "an unknown CA was accepted for IMAP:\n{out}"
    );
    assert!(
        fails.iter().any(|l| l.starts_with("FAIL smtp ")),
        "an unknown CA was accepted for SMTP:\n{out}"
    );
    assert!(!db.exists(), "check created {}", db.display());
}

/// Each operator mistake fails the check with exactly one FAIL line that names the key
/// to fix; the exit status is 2.
#[test]
fn check_names_the_key_behind_each_failure() {
    let stack = MailStack::start();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("desk.db");
    let good = stack_config(&stack, &db, "");

    // `check` with `text` fails exactly once, on a `topic` line containing every needle.
    let expect_one_fail = |name: &str, text: &str, topic: &str, needles: &[&str]| {
        let (_, out) = check(dir.path(), name, text, 2, "\n1 check failed.\n");
        let fails = fail_lines(&out);
        assert_eq!(fails.len(), 1, "{name}: {out}");
        let line = fails[0];
        eprintln!("{name}: {line}");
        assert!(
            line.starts_with(&format!("FAIL {topic:<9} ")),
            "{name}: {line}"
        );
        for needle in needles {
            assert!(line.contains(needle), "{name}: no {needle:?} in {line:?}");
        }
        assert!(!db.exists(), "{name}: check created {}", db.display());
    };

    // A password file with the wrong password.
    let pw = dir.path().join("imap-password");
    fs::write(&pw, "wrong\n").unwrap();
    let text = edit(
        &good,
        "password_env = \"TEST_IMAP_PASSWORD\"",
        &format!("password_file = \"{}\"", pw.display()),
    );
    expect_one_fail(
        "wrong-password.toml",
        &text,
        "imap",
        &[
            &format!("IMAP login as {DESK} refused"),
            "(check imap.username / imap.password_file)",
        ],
    );

    // Nothing listens on the IMAP port.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let text = edit(
        &good,
        &format!("port = {}\n", stack.imap_port),
        &format!("port = {closed}\n"),
    );
    expect_one_fail(
        "closed-port.toml",
        &text,
        "imap",
        &[
            &format!("cannot connect to 127.0.0.1:{closed}"),
            "(check imap.host / imap.port)",
        ],
    );

    // A mailbox that does not exist.
    let text = edit(
        &good,
        "poll_interval = \"1s\"",
        "poll_interval = \"1s\"\nmailbox = \"NoSuchBox\"",
    );
    expect_one_fail(
        "no-mailbox.toml",
        &text,
        "imap",
        &["mailbox NoSuchBox: ", "(imap.mailbox)"],
    );

    // A template override using a variable the ack template does not have.
    let templates = dir.path().join("templates");
    fs::create_dir(&templates).unwrap();
    fs::write(
        templates.join("ack.txt"),
        "Subject: Thanks for your report\n\nDear {{ reporter_nickname }},\nwe got it.\n",
    )
    .unwrap();
    let db_line = format!("database = \"{}\"", db.display());
    let text = edit(
        &good,
        &db_line,
        &format!("{db_line}\ntemplates = \"{}\"", templates.display()),
    );
    expect_one_fail(
        "bad-template.toml",
        &text,
        "templates",
        &["template ack: line 3: ", "`reporter_nickname` is undefined"],
    );
}

/// Several configuration mistakes at once are all listed, each under its key, and
/// nothing is tried against the servers.
#[test]
fn check_lists_every_config_error_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("desk.db");
    // Ports nobody listens on: a broken config must not get as far as connecting.
    let text = config_text(
        db.to_str().unwrap(),
        1,
        2,
        "[policy]\ndigest = \"every other blue moon\"\n",
    );
    let text = edit(
        &text,
        "timezone = \"Europe/Paris\"",
        "timezone = \"Mars/Olympus_Mons\"",
    );
    let text = edit(&text, "[imap]\nhost = \"127.0.0.1\"\n", "[imap]\n");
    let cfg = write_config(dir.path(), "broken.toml", &text);
    let o = run_cli(&cfg, &["check"]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(2), "{}", all_output(&o));
    let fails = fail_lines(&out);
    for key in [
        "calendar.timezone: ",
        "policy.digest: ",
        "imap.host: is required",
    ] {
        assert!(
            fails
                .iter()
                .any(|l| l.starts_with(&format!("FAIL config    {key}"))),
            "{key} is not listed:\n{out}"
        );
    }
    assert!(
        fails.iter().any(|l| l.contains("Mars/Olympus_Mons")),
        "the bad timezone is not quoted:\n{out}"
    );
    assert!(
        fails.iter().any(|l| l.contains("every other blue moon")),
        "the bad digest is not quoted:\n{out}"
    );
    assert_eq!(fails.len(), 3, "{out}");
    assert!(out.ends_with("\n3 checks failed.\n"), "{out}");
    assert!(
        !out.lines()
            .any(|l| matches!(l.split_whitespace().nth(1), Some("imap" | "smtp"))),
        "a broken config was tried against the servers:\n{out}"
    );
    assert!(!db.exists(), "check created {}", db.display());
}

/// A config in `dir` whose mail servers are port 9 of loopback (nothing listens: the
/// mail checks fail fast), and the database it names (not made).
fn config_on_port_9(dir: &Path) -> (PathBuf, PathBuf) {
    let db = dir.join("desk.db");
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        crate::world::config_text(db.to_str().unwrap(), 9, 9, ""),
    )
    .unwrap();
    (db, config)
}

/// `secdesk check` of a new version beside the running daemon reads the database and
/// changes nothing: a migration the new version has is said to be pending, and left
/// for the daemon's next start. (It ran it, under the older daemon still using the file.)
#[tokio::test]
async fn check_reads_the_database_and_migrates_nothing() {
    use secdesk::cli::check::{Level, check};
    let tmp = tempfile::tempdir().unwrap();
    let (db, config) = config_on_port_9(tmp.path());
    drop(secdesk::store::Store::open(&db).unwrap());
    let version = |db: &Path| -> i64 {
        rusqlite::Connection::open(db)
            .unwrap()
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap()
    };
    let latest = version(&db);
    // As a file of the version before the last migration would say.
    rusqlite::Connection::open(&db)
        .unwrap()
        .pragma_update(None, "user_version", latest - 1)
        .unwrap();
    let f = check(&config, &crate::world::secrets())
        .await
        .into_iter()
        .find(|f| f.topic == "database")
        .unwrap();
    assert_eq!(version(&db), latest - 1, "check migrated the database: {f}");
    assert_eq!(f.level, Level::Warn, "{f}");
    assert!(
        f.text
            .contains("1 migration will run at the daemon's next start"),
        "{f}"
    );
}

/// Open cases of a desk the configuration no longer has (a section removed or renamed)
/// are said by `secdesk check`: the top-level team handles them now, silently. (Nothing
/// said so.)
#[tokio::test]
async fn check_names_open_cases_of_a_desk_no_longer_configured() {
    use secdesk::cli::check::{Level, check};
    use secdesk::desk::case::Case;
    use secdesk::types::{CaseId, MessageId};
    let tmp = tempfile::tempdir().unwrap();
    let (db, config) = config_on_port_9(tmp.path());
    let mut store = secdesk::store::Store::open(&db).unwrap();
    let id = CaseId::new("COHTTP", 2026, 1);
    let case = Case::new(
        id.clone(),
        "Header injection".into(),
        None,
        crate::world::monday_10(),
        MessageId::new("r1@reporter.test").unwrap(),
    );
    store
        .write(|tx| {
            tx.insert_case(&case)?;
            tx.set_case_desk(&id, "cohttp")
        })
        .unwrap();
    drop(store);
    let f = check(&config, &crate::world::secrets())
        .await
        .into_iter()
        .find(|f| f.topic == "desks")
        .unwrap_or_else(|| panic!("no finding about the desks"));
    assert_eq!(f.level, Level::Warn, "{f}");
    assert!(f.text.contains("1 open case of the desk `cohttp`"), "{f}");
}
