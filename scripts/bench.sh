#!/usr/bin/env bash
# bench.sh — secdesk's speed and memory figures, against the real mail stack on loopback.
#
#   scripts/bench.sh [-n N] [-m M] [--imports A,B] [--repeat R] [--idle SECONDS]
#                    [--scale K] [--no-build]
#
#   -n N          acknowledgement-latency samples (default 30, or $BENCH_N)
#   -m M          reports in the backlog (default 10000, or $BENCH_M)
#   --imports A,B sizes of the `secdesk import` runs (default 5000,20000)
#   --repeat R    runs of each cheap reference, whose median is shown (default 3)
#   --idle S      how long the desk idles before its steady RSS is read (default 60)
#   --scale K     instead of the backlog and imports: build the desk's database with an
#                 import of K messages in K/10 threads (1000000: 100,000 cases), close
#                 all but 100 cases, then measure the listings and the ack latency on it
#   --no-build    use the existing release binary
#
# What it does (the measuring is in scripts/bench.py):
#   1. installs (if missing) and starts Postfix + Dovecot (scripts/mailstack.sh), builds
#      secdesk in release mode (`cargo build --release`, default target dir unless
#      CARGO_TARGET_DIR says otherwise), writes a config like scripts/demo.sh does:
#      the desk's IMAP and SMTP go over STARTTLS, so TLS costs are included;
#   2. ack latency: N reports sent one at a time, each from its own sender (the ack rate
#      limit is per sender), timed from the SMTP send returning to the ack visible in the
#      reporter's INBOX (IMAP NOOP every 5 ms); beside each, the stack's floor: an SMTP
#      send to a mailbox, timed the same way. min / median / p90 / max, ratio of medians;
#   3. backlog: M reports (5 % with a 50-200 KB attachment) APPENDed to the desk's INBOX
#      while it is stopped; beside it, the plain references: a Python IMAP client's
#      `UID FETCH first:* (RFC822)` of the same mails (median of R runs) and a Python
#      SMTP client sending M mails over one connection (both over STARTTLS); then
#      `secdesk run`: filing time, first flag, READY, last ack, send rate (and whether it
#      stays flat), polling the SQLite file through its partial indexes; then the floor
#      under the filing: the rows the desk wrote for those reports, read back and stored
#      again by Python's sqlite3 into an empty database of the same schema and page size,
#      committed as the desk commits them, the WAL synced per 100 (median of R runs);
#   4. memory: VmHWM of the daemon during the backlog, VmRSS once idle, in MiB;
#   5. import: an mbox of A (then B) messages imported by `secdesk import` and by a
#      ~50-line Python importer storing the same mails in SQLite (200 per transaction,
#      WAL, synchronous=FULL like the desk): time, time per mail, peak RSS; then
#      `cases --open`, `case ID` and `cases --all` (time to first and last line) on the
#      larger database.
#   6. the hostile corpus of tests/it/corpus.rs (the test writes it when
#      SECDESK_CORPUS_DIR is set): each mail filed by its own `secdesk import`, the
#      slowest and the peak RSS beside a plain report filed the same way;
#   7. many desks: BENCH_DESKS (default 200, 0 skips) desks in one config beside a
#      single desk: start-up time, idle RSS, ack latency (scripts/bench_desks.py).
# One table at the end puts each figure beside its reference and its target.
# Figures are printed, never asserted: the machines are shared and noisy.
#
# Needs root on first use (apt-get via mailstack.sh install), cargo, and Python 3
# (standard library only). Everything is cleaned up on exit, error or Ctrl-C;
# BENCH_KEEP=1 keeps the work directory (logs, database) and prints its path.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

# The exact command, for the summary (with the env vars that change it).
command_line="$(printf '%q ' "$0" "$@")"
for v in BENCH_N BENCH_M CARGO_TARGET_DIR; do
    if [[ -n ${!v:-} ]]; then command_line="$v=${!v} $command_line"; fi
done

reports=${BENCH_N:-30}
backlog=${BENCH_M:-10000}
idle_s=60
imports=5000,20000
repeat=3
scale=0
build=1
while (($#)); do
    case $1 in
    -n) reports=${2:?-n needs a number}; shift 2 ;;
    -m) backlog=${2:?-m needs a number}; shift 2 ;;
    --idle) idle_s=${2:?--idle needs seconds}; shift 2 ;;
    --imports) imports=${2:?--imports needs sizes}; shift 2 ;;
    --repeat) repeat=${2:?--repeat needs a number}; shift 2 ;;
    --scale) scale=${2:?--scale needs a number}; shift 2 ;;
    --no-build) build=0; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench: unknown argument $1 (try --help)" >&2; exit 2 ;;
    esac
done
[[ $reports =~ ^[1-9][0-9]*$ && $backlog =~ ^[1-9][0-9]*$ && $repeat =~ ^[1-9][0-9]*$ &&
    $scale =~ ^[0-9]+$ && $imports =~ ^[1-9][0-9]*(,[1-9][0-9]*)*$ ]] ||
    { echo "bench: N, M, R, K and the import sizes must be positive integers" >&2; exit 2; }

bin=${CARGO_TARGET_DIR:-$root/target}/release/secdesk

# The work directory holds the stack and the desk's files. mailstack.sh wants a
# short, world-searchable path (unix socket names are limited to 108 bytes).
work=$(mktemp -d /tmp/sd-bench.XXXXXX)
chmod 0755 "$work"
stack=$work/stack

cleanup() {
    local rc=$?
    # The daemon, if bench.py left one behind: only the pid it recorded, and only
    # if that process is still our secdesk with our config.
    local pid
    pid=$(cat "$work/daemon.pid" 2>/dev/null || true)
    if [[ $pid =~ ^[0-9]+$ ]] &&
        tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$work/config.toml"; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 100); do [[ -d /proc/$pid ]] || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    scripts/mailstack.sh stop "$stack" >/dev/null 2>&1 || true
    if [[ ${BENCH_KEEP:-0} == 1 ]]; then
        echo "bench: work directory kept: $work" >&2
    else
        rm -rf "$work"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "==> installing the mail stack (Postfix, Dovecot) if needed"
scripts/mailstack.sh install
if ((build)); then
    echo "==> cargo build --release (a few minutes the first time)"
    cargo build --release --quiet
fi
[[ -x $bin ]] || { echo "bench: no binary at $bin (build it, or drop --no-build)" >&2; exit 1; }

echo "==> starting Postfix + Dovecot on loopback"
scripts/mailstack.sh start "$stack" >/dev/null
# shellcheck disable=SC1091
source "$stack/env"
echo "    SMTP 127.0.0.1:$SMTP_PORT, IMAP 127.0.0.1:$IMAP_PORT"

# The desk's config, the demo's; policy defaults (ack_rate_limit is per sender, and
# every report comes from its own sender).
scripts/desk-config.sh "$stack" "$work"

echo "==> secdesk check"
"$bin" check --config "$work/config.toml" >"$work/check.out" 2>&1 ||
    { cat "$work/check.out"; exit 1; }

# The hostile corpus of tests/it/corpus.rs, written as a Maildir by the test itself
# (SECDESK_CORPUS_DIR; a debug test build, a few seconds once built); BENCH_CORPUS=0
# skips it. Not in --scale mode.
corpus_dir=
if ((scale == 0)) && [[ ${BENCH_CORPUS:-1} != 0 ]]; then
    echo "==> writing the hostile corpus (cargo test --test it corpus::a_hostile)"
    corpus_dir=$work/corpus
    SECDESK_CORPUS_DIR=$corpus_dir cargo test --quiet --test it \
        corpus::a_hostile_corpus_never_stops_the_desk >"$work/corpus.out" 2>&1 ||
        { cat "$work/corpus.out"; exit 1; }
fi

# Unset, SECDESK_LOG is "info": the daemon logs every mail, as in production.
python3 scripts/bench.py \
    --bin "$bin" --config "$work/config.toml" --db "$work/secdesk.db" --workdir "$work" \
    --smtp-port "$SMTP_PORT" --imap-port "$IMAP_PORT" \
    --reports "$reports" --backlog "$backlog" --idle-s "$idle_s" \
    --import-sizes "$imports" --repeat "$repeat" --scale "$scale" --ca-file "$CA_FILE" \
    --tls starttls --corpus-dir "$corpus_dir" --command "${command_line% }"

# Many desks (issue 14), a section of its own: start-up time, idle memory and ack latency
# of a config with BENCH_DESKS desks (default 200; 0 skips it) beside a single desk, both
# running at once, BENCH_DESKS_N interleaved samples each (default 10). In
# scripts/bench_desks.py.
desks=${BENCH_DESKS:-200}
if ((desks > 0)); then
    python3 scripts/bench_desks.py \
        --bin "$bin" --config "$work/config.toml" --workdir "$work" \
        --smtp-port "$SMTP_PORT" --imap-port "$IMAP_PORT" \
        --desks "$desks" --samples "${BENCH_DESKS_N:-10}"
fi
