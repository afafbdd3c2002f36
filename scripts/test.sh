#!/usr/bin/env bash
# Every check and test of secdesk, on a fresh Debian machine as root or on a developer's
# machine: installs what the tests need (Postfix and Dovecot for the real mail stack,
# systemd-analyze for the unit-file checks, Python's jsonschema for the OSV schema),
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
if ! python3 -c 'import jsonschema' 2>/dev/null; then
    python3 -m pip install -q --disable-pip-version-check jsonschema ||
        python3 -m pip install -q --disable-pip-version-check --break-system-packages jsonschema
fi

echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cargo clippy"
cargo clippy --locked --all-targets -- -D warnings
echo "==> cargo test"
cargo test --locked
