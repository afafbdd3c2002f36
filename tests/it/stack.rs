//! Self-checks of the mail-stack harness itself, so a broken test environment fails
//! here, in plain words, rather than as a confusing desk failure elsewhere.

use crate::support::mailstack::{MailStack, process_alive, process_group};
use std::thread;
use std::time::Duration;

/// Two stacks side by side, each fully exercised: delivery, plus addresses, TLS, a
/// wrong password (see `support::mailstack::smoke`).
#[test]
fn two_mail_stacks_in_parallel() {
    let runs: Vec<_> = (0..2)
        .map(|_| thread::spawn(crate::support::mailstack::smoke))
        .collect();
    for run in runs {
        run.join().unwrap();
    }
}

/// Mail, ports and the queue survive a server restart; no process is left behind.
#[test]
fn mail_stack_restart_keeps_mail_and_ports() {
    let mut stack = MailStack::start();
    let user = "security@example.test";
    stack.send("a@example.test", &[user], b"Subject: one\r\n\r\n1\r\n");
    stack.wait_for(user, 1, Duration::from_secs(10));
    let ports = (stack.smtp_port, stack.imap_port);
    let old_pids = stack.pids();
    stack.restart();
    assert_eq!(ports, (stack.smtp_port, stack.imap_port));
    for pid in old_pids {
        assert!(!process_alive(pid));
        assert!(process_group(pid).is_empty());
    }
    stack.send("a@example.test", &[user], b"Subject: two\r\n\r\n2\r\n");
    stack.flush_queue();
    assert_eq!(stack.wait_for(user, 2, Duration::from_secs(10)).len(), 2);
}
