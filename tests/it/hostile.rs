//! Hostile mail: sizes, counts, dates and header tricks meant to lock, blind, fool or
//! leak the desk. Each test names the attack it pins.

use crate::world::*;
use secdesk::service::process::Processed;

/// Regression: a plain-text report of many short lines took time quadratic in its size
/// while the processing transaction was open (4 MB: about three minutes). This one has
/// two million lines; it takes a few seconds in a debug build now, and would take many
/// minutes with quadratic composing. The bound asserted is on the result, not the time.
#[test]
fn a_report_of_many_short_lines_is_filed_acknowledged_and_relayed_whole() {
    let mut w = World::new();
    let text = "x\n".repeat(2_000_000) + "the end";
    let out = w.deliver(&report("big@reporter.test", "Many lines", &text));
    assert!(
        matches!(out, Processed::Filed { opened: true, .. }),
        "{out:?}"
    );
    let mail = w.new_mail();
    assert!(mail.iter().any(|r| r.purpose.as_str() == "ack"));
    let notice = mail
        .iter()
        .find(|r| r.purpose.as_str() == "team-notice")
        .unwrap();
    let body = body(&notice.bytes);
    assert!(body.contains("the end"));
    assert!(body.matches("x\n").count() >= 2_000_000);
}

fn transcript_lines(raw: &[u8]) -> Vec<String> {
    body(raw)
        .lines()
        .filter(|l| l.starts_with("line "))
        .map(str::to_string)
        .collect()
}

/// Regression: an authenticated team mail of a million `#assign me` lines kept the desk
/// busy for over twenty minutes. One mail now carries at most 100 commands; the
/// transcript says the rest was ignored.
#[test]
fn a_million_commands_are_capped_and_the_transcript_says_so() {
    let mut w = World::new();
    let notice = w.open_case("Heap overflow");
    let body_text = "#assign me\r\n".repeat(1_000_000);
    let out = w.command(ALICE, "poison@example.org", &notice, &body_text);
    assert!(matches!(out, Processed::Filed { .. }), "{out:?}");
    let transcript = w.take("transcript");
    let lines = transcript_lines(&transcript.bytes);
    assert_eq!(lines.len(), 101, "{lines:?}");
    let text = body(&transcript.bytes);
    assert!(
        text.contains("line 101: #assign me\n  ✗ ignored, with the 999899 command line(s) after it: a mail carries at most 100 commands"),
        "{}",
        text.get(text.len().saturating_sub(2000)..).unwrap_or("")
    );
    assert_eq!(
        w.case("SEC-2026-0001").assignee.as_deref(),
        Some(ALICE),
        "the first hundred still apply"
    );
}
