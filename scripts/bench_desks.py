#!/usr/bin/env python3
"""Many desks in one daemon: start-up time, idle memory and acknowledgement latency of a
config with N desks ([desks.dNNN], each with its own plus address, prefix and team)
beside a single desk, both daemons running at the same time on the same mail stack,
latency samples interleaved (single, many, single, ...). Called by scripts/bench.sh
after its own phases; Python 3 standard library only.

Each daemon has a mailbox of its own (single@ and many@example.org), so neither sees the
other's mail nor the main benchmark's backlog.
"""
import argparse
import os
import random
import re
import smtplib
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import Daemon, fmt_ms, log, mailbox_watcher, report_mail, stats, wait_visible  # noqa: E402


def desk_config(base, address, db, desks):
    text = base.replace('"security@example.org"', f'"{address}"')
    text = re.sub(r'(?m)^database = ".*"$', f'database = "{db}"', text)
    local, domain = address.split("@")
    sections = []
    for i in range(desks):
        sections.append(
            f"\n[desks.d{i:03}]\n"
            f'address = "{local}+d{i:03}@{domain}"\n'
            f'name = "Project {i} security"\n'
            f'case_prefix = "D{i:03}"\n'
            f"[desks.d{i:03}.team]\n"
            f'members = ["member{i}@example.org"]\n'
        )
    return text + "".join(sections)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--bin", required=True)
    p.add_argument("--config", required=True, help="the single desk's config to start from")
    p.add_argument("--workdir", required=True)
    p.add_argument("--smtp-port", type=int, required=True)
    p.add_argument("--imap-port", type=int, required=True)
    p.add_argument("--desks", type=int, default=200)
    p.add_argument("--samples", type=int, default=10)
    a = p.parse_args()

    log(f"==> many desks: a config with {a.desks} desks beside a single desk, "
        f"both running; {a.samples} interleaved ack samples each")
    base = open(a.config).read()
    runs = {}
    for name, address, desks in (("single", "single@example.org", 0),
                                 ("many", "many@example.org", a.desks)):
        cfg = os.path.join(a.workdir, f"desks-{name}.toml")
        with open(cfg, "w") as f:
            f.write(desk_config(base, address, os.path.join(a.workdir, f"desks-{name}.db"), desks))
        d = Daemon(a.bin, cfg, os.path.join(a.workdir, f"desks-{name}.log"),
                   os.path.join(a.workdir, "daemon.pid"))
        t0 = d.start()
        d.wait_for_log("secdesk is ready")
        ready = time.monotonic() - t0
        d.wait_for_log("connected to the inbox")
        runs[name] = {"daemon": d, "address": address, "desks": desks, "ready_s": ready}
    time.sleep(2.0)  # first syncs done, both idle
    for r in runs.values():
        r["idle_rss"] = r["daemon"].status("VmRSS")

    rng = random.Random(7)
    smtp = smtplib.SMTP("127.0.0.1", a.smtp_port)
    run_id = os.getpid()
    for r in runs.values():
        r["lat"] = []
    for i in range(a.samples + 1):
        for name, r in runs.items():
            local, domain = r["address"].split("@")
            to = r["address"] if not r["desks"] else f"{local}+d{rng.randrange(r['desks']):03}@{domain}"
            who = f"desks-{name}-{i}-{run_id}@reporters.test"
            w = mailbox_watcher(a.imap_port, who)
            smtp.sendmail(who, [to], report_mail(who, to, f"{who}.msg", f"Report {i}"))
            t0 = time.monotonic()
            t1 = wait_visible(w)
            w.logout()
            if i > 0:  # the first pair warms up
                r["lat"].append(t1 - t0)
            time.sleep(0.3)
    smtp.quit()
    for r in runs.values():
        r["daemon"].stop()

    s, m = runs["single"], runs["many"]
    log(f"    start-up (exec → ready)    1 desk {s['ready_s'] * 1000:7.0f} ms   "
        f"{a.desks} desks {m['ready_s'] * 1000:7.0f} ms")
    log(f"    idle RSS                   1 desk {s['idle_rss'] / 1024:7.1f} MiB  "
        f"{a.desks} desks {m['idle_rss'] / 1024:7.1f} MiB")
    ls, lm = stats(s["lat"]), stats(m["lat"])
    log(f"    ack latency, 1 desk        {fmt_ms(ls)}")
    log(f"    ack latency, {a.desks} desks    {fmt_ms(lm)}")
    log(f"    ratio of medians ({a.desks} desks / 1): {lm['median'] / ls['median']:.2f}x")


if __name__ == "__main__":
    main()
