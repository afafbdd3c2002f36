#!/usr/bin/env bash
# The desk against a real mail stack on loopback, end to end:
#   1. installs (if missing) and starts Postfix + Dovecot in a temporary directory;
#   2. builds secdesk and starts `secdesk run` with a generated config (IMAP and SMTP
#      over STARTTLS, verified against the stack's own CA);
#   3. a reporter writes to security@; their acknowledgement is shown as it arrived;
#   4. a team member replies with #commands; the reporter gets only the #reply text;
#   5. `secdesk cases` and `secdesk case` show what the desk recorded.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

echo "==> installing the mail stack (Postfix, Dovecot) if needed"
scripts/mailstack.sh install
echo "==> building secdesk"
cargo build --quiet
bin=$root/target/debug/secdesk

demo=$(mktemp -d /tmp/sd-demo.XXXXXX)
chmod 0755 "$demo"
stack=$demo/stack
daemon_pid=
cleanup() {
    if [[ -n $daemon_pid ]]; then
        kill "$daemon_pid" 2>/dev/null || true
        wait "$daemon_pid" 2>/dev/null || true
    fi
    scripts/mailstack.sh stop "$stack" >/dev/null 2>&1 || true
}
trap cleanup EXIT

echo "==> starting Postfix + Dovecot on loopback"
scripts/mailstack.sh start "$stack" >/dev/null
# shellcheck disable=SC1091
source "$stack/env"
echo "    SMTP 127.0.0.1:$SMTP_PORT, IMAP 127.0.0.1:$IMAP_PORT, CA $CA_FILE"

scripts/desk-config.sh "$stack" "$demo"

echo "==> secdesk check"
"$bin" check --config "$demo/config.toml"

echo "==> starting secdesk run (log: $demo/secdesk.log)"
"$bin" run --config "$demo/config.toml" >"$demo/secdesk.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 100); do
    grep -q "secdesk is ready" "$demo/secdesk.log" && break
    sleep 0.1
done
grep -q "secdesk is ready" "$demo/secdesk.log" || { cat "$demo/secdesk.log"; exit 1; }

echo "==> Rita reports a vulnerability to security@example.org"
cat >"$demo/report.eml" <<MAIL
From: Rita Reporter <rita@reporter.test>
To: security@example.org
Subject: Heap overflow in the config parser
Message-ID: <report-1@reporter.test>
Date: $(date -R)

Hello, a 70 kB line in the config file overflows a heap buffer in
parse_line(); proof of concept attached below. Please keep this private.
MAIL
python3 scripts/mailtool.py send --port "$SMTP_PORT" --from rita@reporter.test --to security@example.org "$demo/report.eml"
echo
python3 scripts/mailtool.py wait --port "$IMAP_PORT" --user rita@reporter.test --count 1

echo
echo "==> secdesk cases"
"$bin" cases --config "$demo/config.toml"

echo
echo "==> Alice (team) answers the notice with commands; her mail server stamped it dkim=pass"
cat >"$demo/alice.eml" <<MAIL
Authentication-Results: mx.example.org; dkim=pass header.d=example.org header.s=mail
From: Alice <alice@example.org>
To: security@example.org
Subject: Re: [SEC-$(date +%Y)-0001] New report: Heap overflow in the config parser
Message-ID: <alice-1@example.org>
Date: $(date -R)

#assign me
#severity high
#cve requested
#reply
Thanks for the report: we reproduced it and are working on a fix.
We will come back to you about the embargo date this week.
MAIL
python3 scripts/mailtool.py send --port "$SMTP_PORT" --from alice@example.org --to security@example.org "$demo/alice.eml"
python3 scripts/mailtool.py wait --port "$IMAP_PORT" --user rita@reporter.test --count 2
echo
python3 scripts/mailtool.py wait --port "$IMAP_PORT" --user alice@example.org --count 2

echo
echo "==> secdesk case SEC-$(date +%Y)-0001"
"$bin" case --config "$demo/config.toml" "SEC-$(date +%Y)-0001"
echo
echo "==> the desk's log"
cat "$demo/secdesk.log"
