#!/usr/bin/env bash
# Every check and test of secdesk, on a fresh Debian machine as root or on a developer's
# machine: installs what the tests need (Postfix, Dovecot and its Sieve plugin for the real mail stack,
# systemd-analyze for the unit-file checks, Python's jsonschema and icalendar to check
# our OSV and .ics output),
# then runs fmt, clippy and all the tests.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "==> test dependencies"
scripts/mailstack.sh install
if ! command -v systemd-analyze >/dev/null; then
    # Only the analyzer is used; no systemd needs to run.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends systemd </dev/null >/dev/null ||
        { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends systemd </dev/null >/dev/null; }
fi
# Independent checkers of our output: the OSV schema validator and an iCalendar parser.
# rfc3339-validator and rfc3987 turn on jsonschema's date-time and uri format checks.
if ! python3 -c 'import jsonschema, icalendar, rfc3339_validator, rfc3987' 2>/dev/null; then
    python3 -m pip install -q --disable-pip-version-check jsonschema icalendar rfc3339-validator rfc3987 ||
        python3 -m pip install -q --disable-pip-version-check --break-system-packages jsonschema icalendar rfc3339-validator rfc3987
fi
# git: the advisory repository checkout (§5a) and its integration test.
if ! command -v git >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends git </dev/null >/dev/null ||
        { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends git </dev/null >/dev/null; }
fi

echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cargo clippy"
cargo clippy --locked --all-targets -- -D warnings
echo "==> cargo test"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# The crash storm (1,000 reports, 20 SIGKILLs) runs here, not in a bare `cargo test`.
SECDESK_CRASH_STORM=1 cargo test --locked 2>&1 | tee "$log"
# One closing line with the totals of every test binary.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
