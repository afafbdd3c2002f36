#!/usr/bin/env bash
# desk-config.sh STACK_DIR WORK_DIR — writes WORK_DIR/config.toml (and the IMAP password
# file it names) for a desk against the mail stack that `mailstack.sh start STACK_DIR`
# runs: IMAP and SMTP over STARTTLS, verified against the stack's own CA. Used by the
# demo and the benchmark.
set -euo pipefail
[[ $# -eq 2 ]] || { echo "usage: $0 STACK_DIR WORK_DIR" >&2; exit 2; }
stack=$1
work=$2
# shellcheck disable=SC1091
source "$stack/env"

printf '%s\n' "$MAIL_PASSWORD" >"$work/imap-password"
chmod 0600 "$work/imap-password"
cat >"$work/config.toml" <<TOML
[desk]
address = "security@example.org"
name = "Example Security Team"
database = "$work/secdesk.db"

[imap]
host = "localhost"
port = $IMAP_PORT
tls = "starttls"
ca_file = "$CA_FILE"
username = "security@example.org"
password_file = "$work/imap-password"

[smtp]
host = "localhost"
port = $SMTP_PORT
tls = "starttls"
ca_file = "$CA_FILE"

[team]
members = ["alice@example.org", "bob@example.org"]
authserv_id = "mx.example.org"

[calendar]
timezone = "Europe/Paris"
holidays = ["2026-12-25", "2027-01-01"]

[publish]
announce = "announce@example.org"
advisory_prefix = "OSEC"

[policy]
# The benchmark's backlog acknowledges each of its 1,000 reporters: no desk-wide cap.
ack_rate_limit_total = "100000 per hour"
TOML
