#!/usr/bin/env python3
"""A reporter's and a team member's mail client, for the demo: send over SMTP, wait for
mail over IMAP, print it. Standard library only."""
import argparse
import email
import email.policy
import imaplib
import smtplib
import sys
import time


def send(args):
    with open(args.file, "rb") as f:
        raw = f.read()
    with smtplib.SMTP("127.0.0.1", args.port) as s:
        s.sendmail(args.sender, args.to, raw)


def fetch(port, user):
    imap = imaplib.IMAP4("127.0.0.1", port)
    imap.login(user, "secret")
    imap.select("INBOX", readonly=True)
    _, data = imap.uid("search", None, "ALL")
    out = []
    for uid in data[0].split():
        _, parts = imap.uid("fetch", uid, "(BODY.PEEK[])")
        out.append(parts[0][1])
    imap.logout()
    return out


def wait(args):
    deadline = time.monotonic() + args.timeout
    start = time.monotonic()
    while True:
        mails = fetch(args.port, args.user)
        if len(mails) >= args.count:
            break
        if time.monotonic() > deadline:
            sys.exit(f"no mail for {args.user} after {args.timeout} s ({len(mails)} of {args.count})")
        time.sleep(0.05)
    msg = email.message_from_bytes(mails[args.count - 1], policy=email.policy.default)
    print(f"--- mail {args.count} in {args.user}'s INBOX, {time.monotonic() - start:.2f} s after we started waiting ---")
    for h in ["From", "To", "Reply-To", "Subject", "Date", "Message-ID", "In-Reply-To", "References", "Auto-Submitted", "X-Secdesk-Loop"]:
        if msg[h]:
            print(f"{h}: {msg[h]}")
    print()
    body = msg.get_body(preferencelist=("plain",))
    print(body.get_content() if body else "(no text part)")


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("send")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--from", dest="sender", required=True)
    s.add_argument("--to", action="append", required=True)
    s.add_argument("file")
    w = sub.add_parser("wait")
    w.add_argument("--port", type=int, required=True)
    w.add_argument("--user", required=True)
    w.add_argument("--count", type=int, default=1)
    w.add_argument("--timeout", type=float, default=20)
    args = p.parse_args()
    {"send": send, "wait": wait}[args.cmd](args)


if __name__ == "__main__":
    main()
