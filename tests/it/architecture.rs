//! The functional core does no I/O. The core folders and files below may not name a way
//! out of the process: the file system, the environment, the network, processes, the
//! terminal, the async runtime, the database or a mail transport. The shell reads what
//! the core needs (configuration text, secret files, template overrides, the process id)
//! and passes it in as values. This test reads the core's sources and names the file and
//! line of every forbidden path.

use regex::Regex;
use std::path::{Path, PathBuf};

/// The functional core (`clock.rs` aside: it is the one place the wall clock is read).
const CORE: &[&str] = &[
    "src/mail",
    "src/commands",
    "src/desk",
    "src/publish",
    "src/outgoing",
    "src/config",
    "src/types.rs",
    "src/text.rs",
];

/// What the core may not name, and why.
fn forbidden() -> Vec<(Regex, &'static str)> {
    let rules: &[(&str, &str)] = &[
        (r"\bstd::(fs|env|net|process)\b", "the OS"),
        (r"\buse std::\{[^}]*\b(fs|env|net|process)\b", "the OS"),
        (
            r"\b(tokio|rusqlite|async_imap)\b",
            "the runtime, the database or IMAP",
        ),
        // lettre's MIME builder (`lettre::message`, `lettre::Message`) only builds bytes;
        // anything else of lettre is its transport.
        (r"\blettre::(?:[^mM]|m[^e]|M[^e])", "a mail transport"),
        (
            r"\.(exists|try_exists|is_file|is_dir|metadata|symlink_metadata|read_dir|canonicalize)\(",
            "the file system",
        ),
        (r"\b(e?print(ln)?|dbg)!", "the terminal"),
    ];
    rules
        .iter()
        .map(|(re, why)| (Regex::new(re).unwrap(), *why))
        .collect()
}

fn rust_files(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for e in entries {
            rust_files(&e, out);
        }
    } else if path.extension().is_some_and(|e| e == "rs") {
        out.push(path.to_path_buf());
    }
}

/// Every forbidden path in `text`, as "file:line: why: the line". Comments are skipped.
fn violations(file: &str, text: &str) -> Vec<String> {
    let rules = forbidden();
    let mut found = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        for (re, why) in &rules {
            if re.is_match(code) {
                found.push(format!("{file}:{}: {why}: {}", n + 1, line.trim()));
            }
        }
    }
    found
}

#[test]
fn the_core_does_no_io() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for part in CORE {
        let path = root.join(part);
        assert!(path.exists(), "{part} is listed as core but does not exist");
        rust_files(&path, &mut files);
    }
    assert!(files.len() > 20, "only {} core files found", files.len());
    let mut found = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let name = f.strip_prefix(root).unwrap().display().to_string();
        found.extend(violations(&name, &text));
    }
    assert!(
        found.is_empty(),
        "the functional core must do no I/O (see ARCHITECTURE.md):\n{}",
        found.join("\n")
    );
}

#[test]
fn the_io_check_names_file_and_line() {
    let sample = "use std::fs;\n\
                  use std::{collections::BTreeMap, env};\n\
                  let t = tokio::spawn(x);\n\
                  lettre::SmtpTransport::relay(h);\n\
                  let m = lettre::Message::builder();\n\
                  use lettre::message::Mailbox;\n\
                  if dir.is_dir() {}\n\
                  println!(\"hi\");\n\
                  // std::fs in a comment is fine\n\
                  let s = \"a plain string\";\n";
    let got = violations("src/x.rs", sample);
    let lines: Vec<&str> = got.iter().map(|v| v.split(": ").next().unwrap()).collect();
    assert_eq!(
        lines,
        [
            "src/x.rs:1",
            "src/x.rs:2",
            "src/x.rs:3",
            "src/x.rs:4",
            "src/x.rs:7",
            "src/x.rs:8"
        ],
        "{got:#?}"
    );
}
