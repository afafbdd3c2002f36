//! The advisory repository checkout (`[publish] advisory_repo`, §5a): which advisory
//! numbers it already holds, whether it can take a publication, the commit of a
//! published advisory on a branch named after its id, and the push of that branch.
//!
//! It runs the `git` program (see README, "Advisory repository"): the operator's own
//! git, with its configuration, credentials helpers and SSH setup, exactly what a
//! person would run by hand. The commit is made with plumbing (`hash-object`,
//! `update-index` on a private index, `write-tree`, `commit-tree`, `update-ref`) so the
//! checkout's working tree, index and `HEAD` are never touched: it stays clean for the
//! next publication and for whoever reviews it.
//!
//! Invariant: only this module runs git; nothing in `publish/` does I/O.

use crate::desk::case::{DESK_ACTOR, EventKind, NewEvent};
use crate::outgoing::{Outgoing, Purpose};
use crate::publish::publication::{CASE_TRAILER, RepoCommit};
use crate::service::mailer::backoff;
use crate::service::process::Desk;
use crate::store::{Store, Tx};
use crate::types::CaseId;
use chrono::{DateTime, Utc};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The highest `NN` the checkout knows of for `<prefix>-<year>-NN` (0 when none):
/// - the files `advisories/<year>/<prefix>-<year>-NN.md` of its working tree,
/// - and of every branch, its own and origin's as last fetched (the desk commits on
///   branches and never moves `HEAD`, so what was merged since the clone is there only
///   once fetched: see README, "Advisory repository"),
/// - and the branches named `<prefix>-<year>-NN` (one made by hand, or left unmerged).
///
/// A branch of ours left by a publication of `case` cut short (its commit made, the
/// database's not) is not counted: that publication, made again, takes its id again.
pub fn highest_number(repo: &Path, prefix: &str, year: i32, case: &str) -> std::io::Result<u32> {
    let start = format!("{prefix}-{year}-");
    let number = |name: &str| -> Option<u32> {
        let n = name.strip_prefix(&start)?;
        n.strip_suffix(".md").unwrap_or(n).parse::<u32>().ok()
    };
    let dir = repo.join("advisories").join(year.to_string());
    let mut max = 0;
    match std::fs::read_dir(&dir) {
        Ok(entries) => {
            for entry in entries {
                let name = entry?.file_name();
                if let Some(n) = name
                    .to_str()
                    .filter(|n| n.ends_with(".md"))
                    .and_then(number)
                {
                    max = max.max(n);
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let mut refs = git(repo);
    refs.args([
        "for-each-ref",
        "--format=%(refname)",
        "refs/heads",
        "refs/remotes",
    ]);
    let refs = run(refs, "for-each-ref").map_err(std::io::Error::other)?;
    let folder = format!("advisories/{year}/");
    let ours = format!("{CASE_TRAILER} {case}");
    for reference in refs.lines() {
        if let Some(n) = reference.rsplit('/').next().and_then(number) {
            if reference.starts_with("refs/heads/")
                && left_by_same_publication(repo, reference, &ours)
            {
                continue;
            }
            max = max.max(n);
        }
        let mut files = git(repo);
        files.args(["ls-tree", "--name-only", reference, "--", &folder]);
        let files = run(files, "ls-tree").map_err(std::io::Error::other)?;
        for file in files.lines() {
            let name = file.rsplit('/').next().unwrap_or_default();
            if let Some(n) = Some(name).filter(|n| n.ends_with(".md")).and_then(number) {
                max = max.max(n);
            }
        }
    }
    Ok(max)
}

fn git(repo: &Path) -> Command {
    let mut c = Command::new("git");
    c.arg("-C").arg(repo).stdin(Stdio::null());
    c
}

/// Runs `cmd`, returning its trimmed stdout, or stderr in plain words.
fn run(mut cmd: Command, what: &str) -> Result<String, String> {
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run git for {what}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(format!(
            "git {what} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// `Ok` when `repo` is a git checkout with nothing uncommitted; else why not.
pub fn check(repo: &Path) -> Result<(), String> {
    if !repo.is_dir() {
        return Err(format!("{} does not exist", repo.display()));
    }
    let mut cmd = git(repo);
    cmd.args(["rev-parse", "--is-inside-work-tree"]);
    match run(cmd, "rev-parse") {
        Ok(t) if t == "true" => {}
        Ok(_) => return Err(format!("{} is not a git checkout", repo.display())),
        // git's own reason: a bad config line, no git installed, another owner.
        Err(e) if e.contains("dubious ownership") => {
            return Err(format!(
                "{} belongs to another user than the one running this, and git will not \
                 use it (\"dubious ownership\"): the checkout must belong to the user the \
                 desk runs as (`sudo -u secdesk git -C {} status` shows what the desk sees)",
                repo.display(),
                repo.display()
            ));
        }
        Err(e) => {
            return Err(format!(
                "{} is not a usable git checkout: {}",
                repo.display(),
                crate::sanitize::one_line(&e)
            ));
        }
    }
    // The advisory is committed on top of `HEAD`: a repository with no commit yet (a
    // new, empty database) has none.
    let mut cmd = git(repo);
    cmd.args(["rev-parse", "--verify", "--quiet", "HEAD^{commit}"]);
    if run(cmd, "rev-parse").is_err() {
        return Err(format!(
            "{} has no commit yet: commit something (a README) and push it first",
            repo.display()
        ));
    }
    let mut cmd = git(repo);
    cmd.args(["status", "--porcelain", "--untracked-files=all"]);
    let status = run(cmd, "status")?;
    if !status.is_empty() {
        let first = status.lines().next().unwrap_or_default();
        return Err(format!(
            "{} has uncommitted changes ({first}{})",
            repo.display(),
            if status.lines().count() > 1 {
                ", …"
            } else {
                ""
            }
        ));
    }
    Ok(())
}

/// Commits `c.files` on top of `HEAD` on a new branch `c.branch`, without touching the
/// working tree, the index or `HEAD`. Fails when the branch exists already.
pub fn commit(repo: &Path, c: &RepoCommit) -> Result<String, String> {
    let dir = tempfile::tempdir().map_err(|e| format!("cannot make a temporary index: {e}"))?;
    let index = dir.path().join("index");
    let with_index = |args: &[&str]| {
        let mut cmd = git(repo);
        cmd.env("GIT_INDEX_FILE", &index).args(args);
        cmd
    };
    run(with_index(&["read-tree", "HEAD"]), "read-tree")?;
    for (path, content) in &c.files {
        let blob = {
            let mut cmd = git(repo);
            cmd.args(["hash-object", "-w", "--stdin"])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            let mut child = cmd
                .spawn()
                .map_err(|e| format!("cannot run git hash-object: {e}"))?;
            if let Some(mut stdin) = child.stdin.take() {
                use std::io::Write;
                stdin
                    .write_all(content.as_bytes())
                    .map_err(|e| format!("git hash-object: {e}"))?;
            }
            let out = child
                .wait_with_output()
                .map_err(|e| format!("git hash-object: {e}"))?;
            if !out.status.success() {
                return Err(format!(
                    "git hash-object failed: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
            }
            String::from_utf8_lossy(&out.stdout).trim().to_string()
        };
        let info = format!("100644,{blob},{path}");
        run(
            with_index(&["update-index", "--add", "--cacheinfo", &info]),
            "update-index",
        )?;
    }
    let tree = run(with_index(&["write-tree"]), "write-tree")?;
    let mut cmd = git(repo);
    cmd.args(["commit-tree", &tree, "-p", "HEAD", "-m", &c.message]);
    // The desk commits as itself unless the checkout's git config says otherwise.
    for (var, fallback) in [
        ("GIT_AUTHOR_NAME", "secdesk"),
        ("GIT_AUTHOR_EMAIL", "secdesk@localhost"),
        ("GIT_COMMITTER_NAME", "secdesk"),
        ("GIT_COMMITTER_EMAIL", "secdesk@localhost"),
    ] {
        let key = if var.ends_with("NAME") {
            "user.name"
        } else {
            "user.email"
        };
        let mut get = git(repo);
        get.args(["config", key]);
        if run(get, "config").is_err() {
            cmd.env(var, fallback);
        }
    }
    let reference = format!("refs/heads/{}", c.branch);
    // The same publication made again (its transaction failed after the commit and the
    // mail is processed anew): the branch already holds exactly this tree; keep it.
    let mut existing = git(repo);
    existing.args([
        "rev-parse",
        "--verify",
        "--quiet",
        &format!("{reference}^{{tree}}"),
    ]);
    if run(existing, "rev-parse").is_ok_and(|t| t == tree) {
        let mut head = git(repo);
        head.args(["rev-parse", &reference]);
        return run(head, "rev-parse");
    }
    let commit = run(cmd, "commit-tree")?;
    // A branch left by this same publication, made again (the process died after the
    // commit and before the database's: nothing was recorded or pushed, and the dates in
    // the files are now later) is replaced; any other branch of that name is refused.
    let mut tip = git(repo);
    tip.args(["rev-parse", "--verify", "--quiet", &reference]);
    let old = match run(tip, "rev-parse") {
        Ok(old) if left_by_same_publication(repo, &old, &c.message) => old,
        // The empty old value makes update-ref refuse an existing branch.
        _ => String::new(),
    };
    let mut cmd = git(repo);
    cmd.args(["update-ref", &reference, &commit, &old]);
    run(cmd, "update-ref")
        .map_err(|e| format!("branch {} exists already or cannot be made: {e}", c.branch))?;
    Ok(commit)
}

/// Whether commit `old` was made by the publication whose message is `message`: both
/// name the same case in their [`CASE_TRAILER`] line.
fn left_by_same_publication(repo: &Path, old: &str, message: &str) -> bool {
    let Some(case) = message.lines().find(|l| l.starts_with(CASE_TRAILER)) else {
        return false;
    };
    let mut log = git(repo);
    log.args(["log", "-1", "--format=%B", old]);
    run(log, "log").is_ok_and(|m| m.lines().any(|l| l.trim_end() == case.trim_end()))
}

/// The longest a push may take: an origin that accepts the connection and never answers
/// must not hold the scheduler (and every reminder) for longer.
pub const PUSH_TIMEOUT: Duration = Duration::from_secs(60);

/// Pushes `branch` to the checkout's `origin`, within [`PUSH_TIMEOUT`].
pub fn push(repo: &Path, branch: &str) -> Result<(), String> {
    push_within(repo, branch, PUSH_TIMEOUT)
}

/// [`push`], given up (the git process killed) after `limit`.
pub fn push_within(repo: &Path, branch: &str, limit: Duration) -> Result<(), String> {
    let spec = format!("refs/heads/{branch}:refs/heads/{branch}");
    let mut cmd = git(repo);
    // Never ask for a password on a terminal the daemon does not have.
    cmd.env("GIT_TERMINAL_PROMPT", "0")
        .args(["push", "--porcelain", "origin", &spec])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // A group of its own: a push given up ends with its helpers (ssh, git-remote-https).
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot run git for push: {e}"))?;
    // Read as it comes, so a chatty git never blocks on a full pipe.
    let drain = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut text);
            }
            String::from_utf8_lossy(&text).trim().to_string()
        })
    };
    let out = drain(child.stdout.take().map(|p| Box::new(p) as _));
    let err = drain(child.stderr.take().map(|p| Box::new(p) as _));
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() < limit => std::thread::sleep(Duration::from_millis(50)),
            Ok(None) => {
                let group = format!("kill -KILL -- -{}", child.id());
                let _ = Command::new("sh").args(["-c", &group]).status();
                let _ = child.kill();
                let _ = child.wait();
                // The readers end with the group; they are not waited for.
                return Err(format!(
                    "git push did not finish within {} s: the origin does not answer",
                    limit.as_secs()
                ));
            }
            Err(e) => {
                let _ = child.kill();
                return Err(format!("cannot wait for git push: {e}"));
            }
        }
    };
    let (out, err) = (
        out.join().unwrap_or_default(),
        err.join().unwrap_or_default(),
    );
    match status {
        s if s.success() => Ok(()),
        // `--porcelain` reports each ref on stdout (`!` and `[rejected]` for a refusal);
        // the reason is on stderr.
        _ => Err(format!("git push failed: {out} {err}")),
    }
}

/// Attempts before a push that keeps failing (network, server down) is given up and
/// told to the team: with the mailer's backoff (30 s doubling, at most an hour) about
/// five hours of tries.
pub const PUSH_ATTEMPTS: i64 = 10;

/// What one due push did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pushed {
    Done {
        branch: String,
    },
    /// Will be tried again after the backoff.
    Retry {
        branch: String,
        why: String,
    },
    /// Refused by the origin, or failing for too long: the team was told.
    GaveUp {
        branch: String,
        why: String,
    },
}

/// Pushes every due advisory branch to the `origin` of its case's desk's checkout, like
/// the mailer sends mail: the attempt is counted (and the next one scheduled) before it
/// is made; a push the origin refuses (`[rejected]`, a hook saying no) is not retried;
/// either way a push that will not happen is told to that desk's team, on its case.
///
/// A pass holds the scheduler (every desk's reminders wait) and its heartbeat: once an
/// origin could not be reached, the other branches for it wait for the next pass, and
/// no push starts after [`PUSH_TIMEOUT`] of pushing (what is left is due next pass). So
/// a pass lasts two timeouts at most, whatever is due.
pub fn push_due(
    top: &Desk,
    store: &mut Store,
    now: DateTime<Utc>,
) -> crate::store::Result<Vec<Pushed>> {
    // Read whatever the configuration says now: a push planned when a checkout was
    // configured is given up below, and told, once none is (skipped, it stayed due, and
    // the scheduler woke for it every 50 ms for good).
    let due = store.read(|tx| tx.due_advisory_pushes(now))?;
    let mut done = Vec::new();
    let started = Instant::now();
    let mut unreachable: Vec<std::path::PathBuf> = Vec::new();
    for (row, case, branch, attempts) in due {
        if started.elapsed() >= PUSH_TIMEOUT {
            break;
        }
        let desk = match CaseId::parse(&case) {
            Some(id) => store.read(|tx| top.view_of_case(tx, &id))?,
            None => top,
        };
        if let Some(repo) = &desk.config.publish.advisory_repo
            && unreachable.contains(repo)
        {
            continue;
        }
        let attempt = u32::try_from(attempts + 1).unwrap_or(u32::MAX);
        let next = now + backoff(attempt);
        if !store.write(|tx| tx.claim_advisory_push(row, next))? {
            continue;
        }
        // Whether a failure is final: the origin said no, or the desk's checkout left the
        // configuration since the branch was committed.
        let (result, last) = match &desk.config.publish.advisory_repo {
            Some(repo) => {
                let r = push(repo, &branch);
                let last = matches!(&r, Err(why) if refused(why));
                if r.is_err() && !last {
                    unreachable.push(repo.clone());
                }
                (r, last)
            }
            None => (
                Err(
                    "the case's desk has no advisory checkout any more (publish.advisory_repo)"
                        .to_string(),
                ),
                true,
            ),
        };
        let outcome = match result {
            Ok(()) => Pushed::Done {
                branch: branch.clone(),
            },
            Err(why) if last || attempts + 1 >= PUSH_ATTEMPTS => Pushed::GaveUp {
                branch: branch.clone(),
                why,
            },
            Err(why) => Pushed::Retry {
                branch: branch.clone(),
                why,
            },
        };
        store.write(|tx| {
            match &outcome {
                Pushed::Done { .. } => tx.finish_advisory_push(row, Ok(()), false, now)?,
                Pushed::Retry { why, .. } => {
                    tx.finish_advisory_push(row, Err(why), false, now)?;
                }
                Pushed::GaveUp { why, .. } => {
                    tx.finish_advisory_push(row, Err(why), true, now)?;
                    tell_team(desk, tx, &case, &branch, why, now)?;
                }
            }
            Ok(())
        })?;
        done.push(outcome);
    }
    Ok(done)
}

/// The origin said no (as opposed to: could not be reached).
fn refused(why: &str) -> bool {
    // `[rejected]`, `[remote rejected]` (a hook or protected branch), "Updates were rejected".
    why.contains("rejected")
}

fn tell_team(
    desk: &Desk,
    tx: &Tx<'_>,
    case: &str,
    branch: &str,
    why: &str,
    now: DateTime<Utc>,
) -> crate::store::Result<()> {
    let Some(case_id) = CaseId::parse(case) else {
        return Ok(());
    };
    let headline = format!("the advisory branch {branch} did not reach the repository");
    tx.insert_event(
        &case_id,
        now,
        &NewEvent::new(
            EventKind::DeliveryFailed,
            DESK_ACTOR,
            format!("{headline}: {why}"),
        ),
        None,
    )?;
    let text = format!(
        "The advisory was published and committed on the branch {branch} of the advisory \
         repository checkout, but pushing that branch to its origin failed:\n\n{why}\n\n\
         Push it by hand (git push origin {branch}) and open the pull request."
    );
    let r = desk.templates.alert(case, &headline, text);
    desk.enqueue(
        tx,
        &Outgoing::new(
            Purpose::TeamNotice,
            Some(case_id.clone()),
            desk.config.team.recipients(),
            r,
        ),
        now,
    )
}
