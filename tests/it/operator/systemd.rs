//! The systemd unit: it verifies and is hardened.

use super::*;

fn systemd_analyze(args: &[&str]) -> Output {
    Command::new("systemd-analyze")
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run systemd-analyze ({e}): install Debian's `systemd` package \
                 (apt-get install systemd) to test the unit"
            )
        })
}

/// The unit verifies cleanly and its exposure score stays at most 2.0.
#[test]
fn systemd_unit_verifies_and_is_hardened() {
    let dir = tempfile::tempdir().unwrap();
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd/secdesk.service");
    let text = fs::read_to_string(&source).unwrap();
    assert!(
        text.contains("ExecStart=/usr/local/bin/secdesk run"),
        "{text}"
    );
    let unit = dir.path().join("secdesk.service");
    fs::write(&unit, text.replace("/usr/local/bin/secdesk", SECDESK)).unwrap();
    let unit_arg = unit.to_str().unwrap();

    let o = systemd_analyze(&["verify", unit_arg]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        o.status.success(),
        "systemd-analyze verify: {}",
        all_output(&o)
    );
    assert!(
        !err.contains("secdesk.service"),
        "systemd-analyze verify complains about the unit:\n{err}"
    );

    let o = systemd_analyze(&["security", "--offline=true", unit_arg]);
    assert!(
        o.status.success(),
        "systemd-analyze security: {}",
        all_output(&o)
    );
    let out = stdout(&o);
    let line = out
        .lines()
        .find(|l| l.contains("Overall exposure level for secdesk.service:"))
        .unwrap_or_else(|| panic!("no overall exposure level in:\n{out}"));
    let score: f64 = line
        .split(':')
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("cannot read the exposure level in {line:?}"));
    eprintln!("secdesk.service overall exposure level: {score}");
    assert!(score <= 2.0, "exposure level {score} > 2.0: {line}");
}
