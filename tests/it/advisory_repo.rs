//! The advisory repository with a real git: a bare origin and a clone holding
//! OSEC-2026-01..17; publication numbers go on from there, commit on a branch named after
//! the id and reach the origin; a dirty checkout refuses.

use secdesk::publish::publication::{Numbering, RepoCommit, repo_path};
use secdesk::service::advisory_repo;
use std::path::{Path, PathBuf};
use std::process::Command;

pub(crate) fn git(dir: &Path, args: &[&str]) -> String {
    let o = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.org")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.org")
        .output()
        .unwrap_or_else(|e| panic!("git is needed (scripts/test.sh installs it): {e}"));
    assert!(
        o.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// A bare origin and a clone of it holding `advisories/2026/OSEC-2026-01..17.md`.
pub(crate) fn origin_and_clone(dir: &Path) -> (PathBuf, PathBuf) {
    let origin = dir.join("origin.git");
    let clone = dir.join("clone");
    git(dir, &["init", "-q", "--bare", origin.to_str().unwrap()]);
    git(
        dir,
        &[
            "clone",
            "-q",
            origin.to_str().unwrap(),
            clone.to_str().unwrap(),
        ],
    );
    std::fs::create_dir_all(clone.join("advisories/2026")).unwrap();
    for n in 1..=17 {
        std::fs::write(
            clone.join(format!("advisories/2026/OSEC-2026-{n:02}.md")),
            format!("advisory {n}\n"),
        )
        .unwrap();
    }
    git(&clone, &["add", "-A"]);
    git(&clone, &["commit", "-q", "-m", "the published database"]);
    git(&clone, &["push", "-q", "origin", "HEAD"]);
    (origin, clone)
}

#[test]
fn publication_numbers_commits_and_pushes_past_the_database() {
    let tmp = tempfile::tempdir().unwrap();
    let (origin, clone) = origin_and_clone(tmp.path());

    assert_eq!(advisory_repo::check(&clone), Ok(()));
    let mut desk_highest = 0; // the desk's own records: nothing published yet
    for expected in ["OSEC-2026-18", "OSEC-2026-19"] {
        let highest = advisory_repo::highest_number(&clone, "OSEC", 2026, "SEC-2026-0001").unwrap();
        let ids = Numbering {
            prefix: "OSEC".into(),
            year: 2026,
            next: highest.max(desk_highest) + 1,
        }
        .ids(1);
        assert_eq!(ids, vec![expected.to_string()]);
        let c = RepoCommit {
            branch: expected.to_string(),
            files: vec![(repo_path(expected), format!("```\nid: {expected}\n```\n"))],
            message: format!("{expected}: test"),
        };
        let sha = advisory_repo::commit(&clone, &c).unwrap();
        // The checkout is left as it was: clean, on its branch, the file only on the new one.
        assert_eq!(advisory_repo::check(&clone), Ok(()));
        assert!(!clone.join(repo_path(expected)).exists());
        assert_eq!(
            git(
                &clone,
                &["show", &format!("{expected}:advisories/2026/{expected}.md")]
            ),
            format!("```\nid: {expected}\n```")
        );
        advisory_repo::push(&clone, expected).unwrap();
        assert_eq!(
            git(&origin, &["rev-parse", &format!("refs/heads/{expected}")]),
            sha
        );
        // Recorded by the desk on publication.
        desk_highest = expected.rsplit('-').next().unwrap().parse().unwrap();
    }
    // The same branch with other content is refused, never overwritten; the very same
    // commit made again (a publication processed anew) keeps the branch.
    let again = RepoCommit {
        branch: "OSEC-2026-19".into(),
        files: vec![],
        message: "again".into(),
    };
    assert!(advisory_repo::commit(&clone, &again).is_err());
    let same = RepoCommit {
        branch: "OSEC-2026-19".into(),
        files: vec![(
            repo_path("OSEC-2026-19"),
            "```\nid: OSEC-2026-19\n```\n".into(),
        )],
        message: "OSEC-2026-19: test".into(),
    };
    let before = git(&clone, &["rev-parse", "refs/heads/OSEC-2026-19"]);
    assert_eq!(advisory_repo::commit(&clone, &same), Ok(before));

    // A dirty checkout refuses, and says why.
    std::fs::write(clone.join("stray.txt"), "x").unwrap();
    let err = advisory_repo::check(&clone).unwrap_err();
    assert!(err.contains("uncommitted changes"), "{err}");
    // A missing one too.
    let err = advisory_repo::check(&tmp.path().join("nowhere")).unwrap_err();
    assert!(err.contains("does not exist"), "{err}");
}

/// The next number is past everything the checkout knows of: advisories merged on the
/// origin since the clone (once fetched), and a branch named like an id made by hand.
/// A repository with no commit yet is refused by `check`, before anything is decided.
/// (The checkout's files alone were read: an id published since was given again, and
/// an empty repository failed the publication's commit, setting the whole mail aside.)
#[test]
fn numbering_goes_past_what_the_checkout_knows_and_an_empty_one_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (origin, clone) = origin_and_clone(tmp.path());
    let other = tmp.path().join("other");
    git(
        tmp.path(),
        &[
            "clone",
            "-q",
            origin.to_str().unwrap(),
            other.to_str().unwrap(),
        ],
    );
    for n in 18..=20 {
        std::fs::write(
            other.join(format!("advisories/2026/OSEC-2026-{n}.md")),
            "x\n",
        )
        .unwrap();
    }
    git(&other, &["add", "-A"]);
    git(&other, &["commit", "-q", "-m", "merged since"]);
    git(&other, &["push", "-q", "origin", "HEAD"]);
    git(&clone, &["fetch", "-q", "origin"]);
    assert_eq!(
        advisory_repo::highest_number(&clone, "OSEC", 2026, "SEC-2026-0001").unwrap(),
        20
    );
    git(&clone, &["branch", "OSEC-2026-23"]);
    assert_eq!(
        advisory_repo::highest_number(&clone, "OSEC", 2026, "SEC-2026-0001").unwrap(),
        23
    );
    assert_eq!(
        advisory_repo::highest_number(&clone, "OSEC", 2027, "SEC-2026-0001").unwrap(),
        0
    );
    assert_eq!(advisory_repo::check(&clone), Ok(()));

    let empty = tmp.path().join("empty");
    git(tmp.path(), &["init", "-q", empty.to_str().unwrap()]);
    let err = advisory_repo::check(&empty).unwrap_err();
    assert!(err.contains("has no commit yet"), "{err}");
}

/// `secdesk check` says whether the advisory checkout can take a publication.
#[tokio::test]
async fn check_reports_a_dirty_or_missing_checkout() {
    use secdesk::cli::check::{Level, check};
    let tmp = tempfile::tempdir().unwrap();
    let (_origin, clone) = origin_and_clone(tmp.path());
    let db = tmp.path().join("desk.db");
    let config = tmp.path().join("config.toml");
    let finding = |findings: Vec<secdesk::cli::check::Finding>| {
        findings
            .into_iter()
            .find(|f| f.topic == "advisory")
            .unwrap_or_else(|| panic!("no advisory finding"))
    };
    // Nothing listens on port 9 of loopback: the mail checks fail fast, the rest goes on.
    let write = |repo: &Path| {
        std::fs::write(
            &config,
            crate::world::config_text(
                db.to_str().unwrap(),
                9,
                9,
                &format!("advisory_repo = \"{}\"\npush = true\n", repo.display()),
            ),
        )
        .unwrap();
    };
    write(&clone);
    let f = finding(check(&config, &crate::world::secrets()).await);
    assert_eq!(f.level, Level::Ok, "{f}");

    std::fs::write(clone.join("stray.md"), "x").unwrap();
    let f = finding(check(&config, &crate::world::secrets()).await);
    assert_eq!(f.level, Level::Fail, "{f}");
    assert!(
        f.text.contains("uncommitted changes") && f.text.contains("#publish refuses"),
        "{f}"
    );

    write(&tmp.path().join("missing"));
    let f = finding(check(&config, &crate::world::secrets()).await);
    assert_eq!(f.level, Level::Fail, "{f}");
    assert!(f.text.contains("does not exist"), "{f}");

    // A checkout git cannot read says git's reason (it said "is not a git checkout"
    // whatever git said: a bad config line, another owner, no git at all).
    std::fs::remove_file(clone.join("stray.md")).unwrap();
    let git_config = clone.join(".git").join("config");
    let mut text = std::fs::read_to_string(&git_config).unwrap();
    text.push_str("[core\n");
    std::fs::write(&git_config, text).unwrap();
    write(&clone);
    let f = finding(check(&config, &crate::world::secrets()).await);
    assert_eq!(f.level, Level::Fail, "{f}");
    assert!(f.text.contains("bad config line"), "{f}");
}

/// A desk publishing to a checkout of its own has it checked too: `secdesk check` said
/// all was well while that desk's `#publish` would refuse.
#[tokio::test]
async fn check_tries_every_desks_checkout() {
    use secdesk::cli::check::{Level, check};
    let tmp = tempfile::tempdir().unwrap();
    let (_origin, clone) = origin_and_clone(tmp.path());
    let db = tmp.path().join("desk.db");
    let config = tmp.path().join("config.toml");
    let missing = tmp.path().join("cohttp-advisories");
    let desks = format!(
        "advisory_repo = \"{}\"\n\n[desks.cohttp]\naddress = \"security+cohttp@example.org\"\ncase_prefix = \"COHTTP\"\n[desks.cohttp.team]\nmembers = [\"carol@example.org\"]\n[desks.cohttp.publish]\nadvisory_repo = \"{}\"\n\n[desks.dune]\naddress = \"security+dune@example.org\"\ncase_prefix = \"DUNE\"\n[desks.dune.spam]\nfilter = \"none\"\n",
        clone.display(),
        missing.display()
    );
    // Nothing listens on port 9 of loopback: the mail checks fail fast, the rest goes on.
    std::fs::write(
        &config,
        crate::world::config_text(db.to_str().unwrap(), 9, 9, &desks),
    )
    .unwrap();
    let findings = check(&config, &crate::world::secrets()).await;
    let lines: Vec<String> = findings.iter().map(ToString::to_string).collect();
    let of = |topic: &str| -> Vec<&secdesk::cli::check::Finding> {
        findings.iter().filter(|f| f.topic == topic).collect()
    };
    let repos = of("advisory");
    assert_eq!(repos.len(), 2, "{lines:#?}");
    assert_eq!(repos[0].level, Level::Ok, "{lines:#?}");
    assert!(
        repos[0].text.contains(&clone.display().to_string()),
        "{lines:#?}"
    );
    assert_eq!(repos[1].level, Level::Fail, "{lines:#?}");
    assert!(
        repos[1].text.contains("does not exist")
            && repos[1]
                .text
                .contains("(desks.cohttp.publish.advisory_repo)"),
        "{lines:#?}"
    );
    // dune trusts no spam filter: said for dune; cohttp counts as the top level does.
    let spam = of("spam");
    assert!(
        spam.iter().any(|f| f
            .text
            .starts_with("desks.dune: new mail is suspect on Authentication-Results")
            && !f.text.contains("SpamAssassin")),
        "{lines:#?}"
    );
    assert!(
        !spam.iter().any(|f| f.text.starts_with("desks.cohttp")),
        "{lines:#?}"
    );
    let desks = of("desks");
    assert_eq!(desks.len(), 1, "{lines:#?}");
    assert_eq!(
        desks[0].text,
        "3 desks: main <security@example.org> (2 members), cohttp <security+cohttp@example.org> (1 member), dune <security+dune@example.org> (2 members)"
    );
}

/// An origin that takes the connection and never answers: the push is given up after
/// its time limit (the git process and its helpers killed), instead of holding the
/// scheduler, and every reminder behind it, for as long as the origin stays silent.
#[test]
fn a_push_to_a_silent_origin_is_given_up_in_time() {
    let tmp = tempfile::tempdir().unwrap();
    let (_origin, clone) = origin_and_clone(tmp.path());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming().flatten() {
            held.push(conn); // accepted, never answered
        }
    });
    git(
        &clone,
        &[
            "remote",
            "set-url",
            "origin",
            &format!("http://127.0.0.1:{port}/advisories.git"),
        ],
    );
    git(&clone, &["branch", "OSEC-2026-18"]);
    let started = std::time::Instant::now();
    let result =
        advisory_repo::push_within(&clone, "OSEC-2026-18", std::time::Duration::from_secs(2));
    let err = result.unwrap_err();
    // Given up when the limit was reached, not when the origin let go (it never does,
    // so an answer at all says so).
    assert!(err.contains("did not finish within 2 s"), "{err}");
    eprintln!("given up after {:?}", started.elapsed());
}
