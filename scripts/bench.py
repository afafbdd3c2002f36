#!/usr/bin/env python3
"""The measuring half of scripts/bench.sh: acknowledgement latency against the stack's
own delivery floor, backlog throughput, and the daemon's memory. bench.sh installs and
starts the mail stack, builds secdesk and writes its config; this script starts and
stops `secdesk run` itself and prints the figures. Python 3 standard library only.

Times are wall-clock intervals measured with time.monotonic(); medians and ratios are
taken from samples interleaved in one run (floor, desk, floor, desk, ...), so that
noise on a shared machine hits both sides alike.
"""
import argparse
import datetime
import email.utils
import imaplib
import math
import os
import platform
import re
import secrets
import signal
import smtplib
import sqlite3
import subprocess
import sys
import time

DESK = "security@example.org"
# Between two IMAP polls: the brief asks for at most 10 ms.
POLL_S = 0.005
# Between two reads of the desk's database during the backlog.
DB_POLL_S = 0.02
# One latency sample gives up after this long.
SAMPLE_TIMEOUT_S = 20.0
# Dovecot batches mailbox-change notifications to IDLE clients (500 ms, by design).
DOVECOT_IDLE_DELAY_S = 0.5
# Colour codes, in case the daemon's log has them.
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def log(msg=""):
    print(msg, flush=True)


def percentile(sorted_vals, p):
    """Nearest-rank percentile of an already sorted list."""
    k = max(1, math.ceil(p / 100 * len(sorted_vals)))
    return sorted_vals[k - 1]


def stats(vals):
    s = sorted(vals)
    mid = len(s) // 2
    median = s[mid] if len(s) % 2 else (s[mid - 1] + s[mid]) / 2
    return {"min": s[0], "median": median, "p90": percentile(s, 90), "max": s[-1]}


def fmt_ms(st):
    return "  ".join(f"{k} {v * 1000:7.1f}" for k, v in st.items()) + "  (ms)"


def report_mail(sender, to, msgid, subject, lines=12):
    """A plausible report of a few hundred bytes."""
    body = "\r\n".join(
        f"Line {i}: reading a crafted file makes parse_line() write past its buffer."
        for i in range(lines)
    )
    return (
        f"From: Reporter <{sender}>\r\n"
        f"To: {to}\r\n"
        f"Subject: {subject}\r\n"
        f"Message-ID: <{msgid}>\r\n"
        f"Date: {email.utils.formatdate(localtime=True)}\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "\r\n"
        f"{body}\r\n"
    ).encode()


# ---------------------------------------------------------------------------
# The daemon
# ---------------------------------------------------------------------------


class Daemon:
    """`secdesk run`, its log in a file, its pid in a file for bench.sh's trap."""

    def __init__(self, binary, config, log_path, pid_path):
        self.binary, self.config = binary, config
        self.log_path, self.pid_path = log_path, pid_path
        self.proc = None
        self.log_offset = 0

    def start(self):
        logf = open(self.log_path, "ab")
        self.log_offset = logf.tell()
        self.proc = subprocess.Popen(
            [self.binary, "run", "--config", self.config],
            stdin=subprocess.DEVNULL,
            stdout=logf,
            stderr=subprocess.STDOUT,
        )
        logf.close()
        with open(self.pid_path, "w") as f:
            f.write(f"{self.proc.pid}\n")
        return time.monotonic()

    def log_text(self):
        with open(self.log_path, "rb") as f:
            f.seek(self.log_offset)
            return ANSI.sub("", f.read().decode(errors="replace"))

    def wait_for_log(self, needle, timeout=30.0):
        """Waits for a complete log line containing NEEDLE, and returns it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            # Only whole lines: the last one may still be being written.
            for line in self.log_text().splitlines(keepends=True):
                if needle in line and line.endswith("\n"):
                    return line
            if self.proc.poll() is not None:
                break
            time.sleep(0.01)
        sys.exit(f"bench: secdesk never logged {needle!r}; its log:\n{self.log_text()}")

    def status(self, field):
        """A /proc/PID/status field in KiB (VmRSS, VmHWM)."""
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        return 0

    def cpu_seconds(self):
        """User + system CPU time consumed so far."""
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        # Fields 14 and 15 of stat (utime, stime); index 0 here is field 3.
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self):
        """SIGTERM and wait; returns how long the daemon took to exit."""
        if self.proc is None or self.proc.poll() is not None:
            return 0.0
        t = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        try:
            os.unlink(self.pid_path)
        except FileNotFoundError:
            pass
        return time.monotonic() - t


# ---------------------------------------------------------------------------
# Mail clients
# ---------------------------------------------------------------------------


def imap_login(port, user):
    conn = imaplib.IMAP4("127.0.0.1", port)
    conn.login(user, "secret")
    return conn


def mailbox_watcher(port, user):
    """A session on USER's INBOX, opened BEFORE the mail we wait for is sent."""
    conn = imap_login(port, user)
    conn.select("INBOX")
    # select() leaves the EXISTS it saw in untagged_responses: drop it.
    conn.response("EXISTS")
    return conn


def wait_visible(conn, timeout=SAMPLE_TIMEOUT_S):
    """NOOP every POLL_S until the server reports a message; returns the instant."""
    deadline = time.monotonic() + timeout
    while True:
        conn.noop()
        _, data = conn.response("EXISTS")
        if any(d is not None and int(d) > 0 for d in data):
            return time.monotonic()
        if time.monotonic() > deadline:
            raise TimeoutError("no mail arrived")
        time.sleep(POLL_S)


def db_connect(path):
    conn = sqlite3.connect(path, timeout=10)
    conn.execute("PRAGMA query_only = 1")
    return conn


def one(db, sql, *args):
    return db.execute(sql, args).fetchone()[0]


def db_time(text):
    """An instant as the desk stores it (2026-01-02T03:04:05.678Z) → epoch seconds."""
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


# ---------------------------------------------------------------------------
# Phase 1: acknowledgement latency, beside the stack's own floor
# ---------------------------------------------------------------------------


def latency_phase(a, daemon, run_id):
    log(f"==> [1/3] acknowledgement latency: {a.reports} reports, one at a time, "
        "each from its own sender (+1 warm-up pair, not counted)")
    daemon.start()
    daemon.wait_for_log("secdesk is ready")
    line = daemon.wait_for_log("connected to the inbox")
    if "idle=true" not in line:
        log("    WARNING: the desk did not find IDLE; it polls, and latency means little")
        log(f"    ({line.strip()})")
    time.sleep(1.0)  # let the first sync finish and IDLE begin

    db = db_connect(a.db)
    smtp = smtplib.SMTP("127.0.0.1", a.smtp_port)
    floor, desk, split = [], [], []
    for i in range(a.reports + 1):
        warmup = i == 0
        # The floor: SMTP in, visible in a mailbox; no desk involved.
        who = f"floor-{i}@bench.test"
        w = mailbox_watcher(a.imap_port, who)
        msg = report_mail(f"floor-sender-{i}@reporters.test", who,
                          f"floor-{i}-{run_id}@reporters.test", f"Floor sample {i}")
        smtp.sendmail(f"floor-sender-{i}@reporters.test", [who], msg)
        t0 = time.monotonic()
        t1 = wait_visible(w)
        w.logout()
        if not warmup:
            floor.append(t1 - t0)

        # The desk: a report to security@; the ack visible in the reporter's INBOX.
        who = f"reporter-{i}@reporters.test"
        token = f"lat-{i}-{run_id}"
        w = mailbox_watcher(a.imap_port, who)
        msg = report_mail(who, DESK, f"{token}@reporters.test",
                          f"Heap overflow in the config parser ({i})")
        smtp.sendmail(who, [DESK], msg)
        t0, wall0 = time.monotonic(), time.time()
        t1 = wait_visible(w)
        w.logout()
        if not warmup:
            desk.append(t1 - t0)
            split.append((token, wall0, t1 - t0))
        # Let the desk finish (team notice sent, back in IDLE) before the next one.
        while one(db, "SELECT COUNT(*) FROM outbox WHERE state = 'pending'"):
            time.sleep(0.01)
        time.sleep(0.3)
    smtp.quit()

    # Where the desk's time goes, from the instants it recorded (millisecond precision).
    to_fetch, after_fetch = [], []
    for token, wall0, total in split:
        row = db.execute("SELECT fetched_at FROM raw_mail WHERE message_id LIKE ?",
                         (f"%{token}%",)).fetchone()
        if row:
            d = db_time(row[0]) - wall0
            to_fetch.append(d)
            after_fetch.append(total - d)
    idle_rss = daemon.status("VmRSS")
    db.close()
    stop_s = daemon.stop()

    f, d = stats(floor), stats(desk)
    log(f"    floor (SMTP send → visible in a mailbox)     {fmt_ms(f)}")
    log(f"    desk  (SMTP send → ack visible to reporter)  {fmt_ms(d)}")
    if to_fetch:
        log(f"      of which send → fetched by the desk        {fmt_ms(stats(to_fetch))}")
        log(f"      of which fetched → ack visible             {fmt_ms(stats(after_fetch))}")
    log(f"    ratio desk/floor of medians: {d['median'] / f['median']:.1f}x")
    log("    note: Dovecot delays IDLE notifications by ~0.5 s by design, so the desk's")
    log("    floor is ≈ 0.5 s + 2 deliveries (report in, ack out) + its own processing.")
    log(f"    daemon RSS after the phase: {idle_rss / 1024:.1f} MiB; SIGTERM → exit {stop_s:.2f} s")
    return {"floor": f, "desk": d, "ratio": d["median"] / f["median"],
            "to_fetch": stats(to_fetch) if to_fetch else None,
            "stop_s": stop_s}


# ---------------------------------------------------------------------------
# Phase 2 and 3: backlog throughput and memory
# ---------------------------------------------------------------------------


def backlog_phase(a, daemon, run_id):
    log(f"==> [2/3] backlog: {a.backlog} reports APPENDed to {DESK}'s INBOX "
        "with the daemon stopped, then `secdesk run`")
    db = db_connect(a.db)
    base_raw = one(db, "SELECT COUNT(*) FROM raw_mail")
    base_sent = one(db, "SELECT COUNT(*) FROM outbox WHERE state = 'sent'")
    base_out = one(db, "SELECT COUNT(*) FROM outbox")

    imap = imap_login(a.imap_port, DESK)
    t = time.monotonic()
    for i in range(a.backlog):
        sender = f"backlog-{i}@reporters.test"
        msg = report_mail(sender, DESK, f"backlog-{i}-{run_id}@reporters.test",
                          f"Backlog report {i}: overflow in parse_line")
        typ, data = imap.append("INBOX", None, None, msg)
        if typ != "OK":
            sys.exit(f"bench: APPEND refused: {data}")
    imap.logout()
    log(f"    appended in {time.monotonic() - t:.1f} s")

    t0 = daemon.start()
    ev = {}  # event name → seconds since start
    target = base_raw + a.backlog
    deadline = t0 + a.backlog_timeout
    while True:
        now = time.monotonic()
        if daemon.proc.poll() is not None:
            sys.exit(f"bench: secdesk exited during the backlog; its log:\n{daemon.log_text()}")
        if now > deadline:
            sys.exit(f"bench: backlog not done after {a.backlog_timeout} s: {ev}")
        raw = one(db, "SELECT COUNT(*) FROM raw_mail")
        done = one(db, "SELECT COUNT(*) FROM raw_mail WHERE state != 'pending'")
        sent = one(db, "SELECT COUNT(*) FROM outbox WHERE state = 'sent'")
        pending = one(db, "SELECT COUNT(*) FROM outbox WHERE state = 'pending'")
        el = now - t0
        if raw > base_raw:
            ev.setdefault("first fetched", el)
        if raw >= target:
            ev.setdefault("all fetched", el)
        if done > base_raw:
            ev.setdefault("first processed", el)
        if sent > base_sent:
            ev.setdefault("first sent", el)
        if done >= target:
            ev.setdefault("all processed", el)
            if pending == 0:
                ev["outbox drained"] = el
                break
        time.sleep(DB_POLL_S)
    peak_kib = daemon.status("VmHWM")
    cpu = daemon.cpu_seconds()  # a fresh process: all of it is the backlog's
    sent_rows = one(db, "SELECT COUNT(*) FROM outbox WHERE state = 'sent'") - base_sent
    failed_rows = one(db, "SELECT COUNT(*) FROM outbox WHERE state = 'failed'")
    queued_rows = one(db, "SELECT COUNT(*) FROM outbox") - base_out
    db.close()

    # Processing: from the start of the process (connect, fetch and all) to the last
    # mail processed. Sending: from the first outbox row sent to the outbox drained.
    proc_s = ev["all processed"]
    send_s = ev["outbox drained"] - ev.get("first sent", ev["outbox drained"])
    proc_rate = a.backlog / proc_s
    send_rate = sent_rows / send_s if send_s > 0 else float("nan")
    log("    timeline (s after `secdesk run` started): " + ", ".join(
        f"{k} {v:.2f}" for k, v in sorted(ev.items(), key=lambda kv: kv[1])))
    log(f"    processing: {a.backlog} mails in {proc_s:.2f} s = {proc_rate:.0f} mails/s "
        "(start-up, IMAP fetch and processing)")
    log(f"    sending:    {sent_rows} mails ({queued_rows} queued, {failed_rows} failed) in "
        f"{send_s:.2f} s = {send_rate:.0f} mails/s (first sent → outbox drained)")
    log(f"    end to end: {ev['outbox drained']:.2f} s for {a.backlog} reports; "
        f"daemon CPU {cpu:.1f} s")

    log(f"==> [3/3] memory: peak during the backlog, then steady after {a.idle_s:.0f} s idle")
    time.sleep(a.idle_s)
    steady_kib = daemon.status("VmRSS")
    peak_kib = max(peak_kib, daemon.status("VmHWM"))
    log(f"    peak RSS (VmHWM) {peak_kib / 1024:.1f} MiB, steady RSS (VmRSS) "
        f"{steady_kib / 1024:.1f} MiB")
    daemon.stop()
    return {"proc_s": proc_s, "proc_rate": proc_rate, "send_s": send_s,
            "send_rate": send_rate, "sent": sent_rows, "failed": failed_rows,
            "drained_s": ev["outbox drained"], "first_sent_s": ev.get("first sent"),
            "cpu_s": cpu, "peak_mib": peak_kib / 1024, "steady_mib": steady_kib / 1024}


def problems_in_log(path):
    with open(path, errors="replace") as f:
        lines = [ANSI.sub("", line).rstrip() for line in f]
    return [line for line in lines if " WARN " in line or " ERROR " in line]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--bin", required=True)
    p.add_argument("--config", required=True)
    p.add_argument("--db", required=True)
    p.add_argument("--workdir", required=True)
    p.add_argument("--smtp-port", type=int, required=True)
    p.add_argument("--imap-port", type=int, required=True)
    p.add_argument("--reports", type=int, default=30, help="latency samples (N)")
    p.add_argument("--backlog", type=int, default=1000, help="backlog size (M)")
    p.add_argument("--idle-s", type=float, default=5.0)
    p.add_argument("--backlog-timeout", type=float, default=0.0,
                   help="give up after this many seconds (default: 60 + 0.3 s per report)")
    p.add_argument("--command", default="", help="the command line, for the summary")
    p.add_argument("--tls", default="starttls")
    a = p.parse_args()
    if a.backlog_timeout <= 0:
        a.backlog_timeout = 60 + 0.3 * a.backlog

    run_id = secrets.token_hex(4)
    daemon = Daemon(a.bin, a.config, os.path.join(a.workdir, "secdesk.log"),
                    os.path.join(a.workdir, "daemon.pid"))
    started = time.monotonic()
    try:
        lat = latency_phase(a, daemon, run_id)
        back = backlog_phase(a, daemon, run_id)
    finally:
        daemon.stop()
    issues = problems_in_log(daemon.log_path)

    cpu_model = ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu_model = next((l.split(":", 1)[1].strip() for l in f
                              if l.startswith("model name")), "")
    except OSError:
        pass
    f, d = lat["floor"], lat["desk"]
    log()
    log("==================== secdesk benchmark summary ====================")
    log(f"command      {a.command}")
    log(f"machine      {os.cpu_count()} CPUs ({cpu_model or platform.machine()}), "
        f"kernel {platform.release()}, Python {platform.python_version()}")
    log(f"setup        release build; Postfix + Dovecot on loopback; desk IMAP (IDLE) and "
        f"SMTP over {a.tls.upper()} (TLS costs included); default SECDESK_LOG (info)")
    log(f"ack latency  N={a.reports}: median {d['median'] * 1000:.0f} ms, p90 "
        f"{d['p90'] * 1000:.0f} ms (min {d['min'] * 1000:.0f}, max {d['max'] * 1000:.0f})")
    log(f"stack floor  median {f['median'] * 1000:.1f} ms, p90 {f['p90'] * 1000:.1f} ms "
        f"(min {f['min'] * 1000:.1f}, max {f['max'] * 1000:.1f})")
    log(f"ratio        desk/floor (medians) {lat['ratio']:.1f}x — Dovecot's ~"
        f"{DOVECOT_IDLE_DELAY_S * 1000:.0f} ms IDLE delay is part of the desk's figure")
    if lat["to_fetch"]:
        log(f"             send → desk fetched median {lat['to_fetch']['median'] * 1000:.0f} ms")
    log(f"backlog      M={a.backlog}: processed in {back['proc_s']:.2f} s "
        f"({back['proc_rate']:.0f} mails/s); {back['sent']} sent in {back['send_s']:.2f} s "
        f"({back['send_rate']:.0f} mails/s); first send at {back['first_sent_s'] or 0:.2f} s; "
        f"all done at {back['drained_s']:.2f} s; daemon CPU {back['cpu_s']:.1f} s")
    log(f"memory       peak RSS {back['peak_mib']:.1f} MiB (backlog), steady RSS "
        f"{back['steady_mib']:.1f} MiB (idle)")
    log(f"log          {len(issues)} WARN/ERROR lines in the desk's log")
    for line in issues[:5]:
        log(f"               {line[:160]}")
    log(f"wall time    {time.monotonic() - started:.0f} s (measuring phases)")
    log("===================================================================")


if __name__ == "__main__":
    main()
