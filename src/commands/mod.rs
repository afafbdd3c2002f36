//! The command grammar of team replies: which lines at the top of a mail body are
//! `#commands`, what each of them means, and which part of the body is the message's own
//! text once quoted replies, forwarded parts and signatures are cut off, and the `#help`
//! text.
//!
//! This module is pure and must never do I/O, read the clock (relative dates such as
//! `+14d` stay relative; the caller resolves them against its own clock), decide whether
//! the sender may command at all (that is `auth`), or panic, whatever the body contains.
//! Every line of a body becomes either a command (parsed or with a plain-words error) or
//! text; nothing is silently dropped from the command block. Quote stripping lives in
//! `mail::quoting`, HTML conversion in `mail::html`; the line helpers both share in `text`.

use std::fmt;

use chrono::NaiveDate;

use crate::mail::quoting::strip_quoted;
use crate::text::{clean_command_line, normalize_newlines};
pub use crate::types::ReferenceKind;
use crate::types::{CaseId, CreditRole, Severity, normalize_address};

/// One understood command. Arguments are validated; free text is kept as written.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Assign(Assignee),
    Unassign,
    Severity(Severity),
    Cvss(CvssScore),
    Valid,
    Invalid(String),
    Duplicate(CaseId),
    Cve(CveCommand),
    Cwe(u32),
    Summary(String),
    Workaround(String),
    Reference {
        kind: ReferenceKind,
        url: String,
    },
    /// The body text after the command block becomes the advisory details.
    Details,
    Preannounce(NaiveDate),
    Package(String),
    /// The affected range as written (ecosystems disagree on range syntax).
    Affected(String),
    FixedIn(String),
    Embargo(EmbargoSpec),
    Credit(Credit),
    /// Affected functions or modules, in order (`affected_bindings`).
    Bindings(Vec<String>),
    /// A fixing commit: git repository URL and full commit hash (lower case), of the
    /// package named first (`#commit <package> <url> <sha>`) or of the first package.
    Commit {
        package: Option<String>,
        url: String,
        sha: String,
    },
    /// The body text after the command block goes to the reporter.
    Reply,
    /// A normalized (lower-cased) address.
    Forward(String),
    Remind {
        when: When,
        text: String,
    },
    Fixed,
    Publish {
        now: bool,
    },
    Close,
    Reopen,
    /// `#spam`: the case goes to the spam state; reminders stop.
    Spam,
    /// `#notspam`: a case in the spam state becomes a normal case (ack, notice, deadlines).
    NotSpam,
    Show,
    Help,
    Case(CaseId),
    New,
    /// `#move <desk>`: hand the case to another desk (a lower-cased desk name).
    Move(String),
}

impl Command {
    /// Whether the command changes what the published advisory says (its fields, or its
    /// timeline's facts: confirmed, fix released).
    pub fn changes_advisory(&self) -> bool {
        matches!(
            self,
            Command::Severity(_)
                | Command::Cvss(_)
                | Command::Valid
                | Command::Cve(CveCommand::Ids(_))
                | Command::Cwe(_)
                | Command::Summary(_)
                | Command::Workaround(_)
                | Command::Reference { .. }
                | Command::Details
                | Command::Package(_)
                | Command::Affected(_)
                | Command::FixedIn(_)
                | Command::Credit(_)
                | Command::Bindings(_)
                | Command::Commit { .. }
                | Command::Fixed
                | Command::Preannounce(_)
        )
    }

    /// The verb, without `#`, as listed in [`KEYWORDS`].
    pub fn keyword(&self) -> &'static str {
        match self {
            Command::Assign(_) => "assign",
            Command::Unassign => "unassign",
            Command::Severity(_) => "severity",
            Command::Cvss(_) => "cvss",
            Command::Valid => "valid",
            Command::Invalid(_) => "invalid",
            Command::Duplicate(_) => "duplicate",
            Command::Cve(_) => "cve",
            Command::Cwe(_) => "cwe",
            Command::Summary(_) => "summary",
            Command::Workaround(_) => "workaround",
            Command::Reference { .. } => "reference",
            Command::Details => "details",
            Command::Preannounce(_) => "preannounce",
            Command::Package(_) => "package",
            Command::Affected(_) => "affected",
            Command::FixedIn(_) => "fixed-in",
            Command::Embargo(_) => "embargo",
            Command::Credit(_) => "credit",
            Command::Bindings(_) => "bindings",
            Command::Commit { .. } => "commit",
            Command::Reply => "reply",
            Command::Forward(_) => "forward",
            Command::Remind { .. } => "remind",
            Command::Fixed => "fixed",
            Command::Publish { .. } => "publish",
            Command::Close => "close",
            Command::Reopen => "reopen",
            Command::Spam => "spam",
            Command::NotSpam => "notspam",
            Command::Show => "show",
            Command::Help => "help",
            Command::Case(_) => "case",
            Command::New => "new",
            Command::Move(_) => "move",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Assignee {
    /// The sender of the mail.
    Me,
    /// A normalized (lower-cased) address.
    Address(String),
}

/// A validated CVSS vector with its base score.
#[derive(Debug, Clone, PartialEq)]
pub struct CvssScore {
    /// The vector in the canonical form printed by the `cvss` crate.
    pub vector: String,
    pub score: f64,
    /// `none`, `low`, `medium`, `high` or `critical`.
    pub rating: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CveCommand {
    /// Upper-cased ids in the order given, without repeats.
    Ids(Vec<String>),
    Requested,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmbargoSpec {
    Until(NaiveDate),
    /// Relative to when the mail is processed; the caller owns the clock.
    DaysFromNow(u32),
    None,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credit {
    /// The reporter, under this name (also `#credit reporter <name>`).
    Name(String),
    Anonymous,
    /// Anyone else, under an OSV credit role: `#credit coordinator Jane Doe`.
    Role(CreditRole, String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    Date(NaiveDate),
    /// Relative to when the mail is processed; the caller owns the clock.
    DaysFromNow(u32),
}

/// One line of the command block.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandLine {
    /// 1-based line number in the body.
    pub line_no: usize,
    /// The line as written, trimmed (odd white space such as NBSP turned into spaces).
    pub text: String,
    pub parsed: Result<Command, CommandError>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandError {
    Unknown {
        /// As written, without `#`.
        keyword: String,
        suggestion: Option<&'static str>,
    },
    Malformed {
        /// Without `#`, as listed in [`KEYWORDS`].
        keyword: &'static str,
        reason: String,
        usage: &'static str,
    },
    /// The block went on past [`MAX_COMMANDS`]: this line and the `ignored` command
    /// lines after it were not read.
    TooMany { ignored: usize },
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandError::Unknown {
                keyword,
                suggestion: Some(s),
            } => write!(f, "unknown command `#{keyword}` — did you mean `#{s}`?"),
            CommandError::Unknown {
                keyword,
                suggestion: None,
            } => write!(
                f,
                "unknown command `#{keyword}` — `#help` lists the commands"
            ),
            CommandError::Malformed {
                keyword,
                reason,
                usage,
            } => write!(f, "`#{keyword}` {reason} — usage: {usage}"),
            CommandError::TooMany { ignored } => write!(
                f,
                "ignored, with the {ignored} command line(s) after it: a mail carries at most \
                 {MAX_COMMANDS} commands; send the rest in another mail"
            ),
        }
    }
}

impl std::error::Error for CommandError {}

/// A body split into its command block and its own text.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedBody {
    pub commands: Vec<CommandLine>,
    /// The body after the block, quotes/forwards/signature removed, trimmed.
    pub text: String,
    /// Lines of the body after the block were taken for quoted mail, a forward or a
    /// signature, and are not in `text`.
    pub cut: bool,
    /// Of those, lines of the member's own, above any signature and beyond the quote a
    /// reply carries: a forwarded mail's headers and text, a separator and what follows.
    pub cut_short: bool,
}

impl ParsedBody {
    /// Whether some line is meant as a command: read, or malformed, or a keyword near one
    /// of ours. A `#include` or `#define` opening a proof of concept is none: it is the
    /// text of a report, whoever sends it.
    pub fn has_commands_meant(&self) -> bool {
        self.commands.iter().any(|c| {
            !matches!(
                c.parsed,
                Err(CommandError::Unknown {
                    suggestion: None,
                    ..
                })
            )
        })
    }
}

/// Every verb, for suggestions. `thanks` is last: it ends the block and is no command,
/// but a typo of it deserves a suggestion too.
pub const KEYWORDS: &[&str] = &[
    "assign",
    "unassign",
    "severity",
    "cvss",
    "valid",
    "invalid",
    "duplicate",
    "cve",
    "cwe",
    "summary",
    "workaround",
    "reference",
    "details",
    "preannounce",
    "package",
    "affected",
    "fixed-in",
    "embargo",
    "credit",
    "bindings",
    "commit",
    "reply",
    "forward",
    "remind",
    "fixed",
    "publish",
    "close",
    "reopen",
    "spam",
    "notspam",
    "show",
    "help",
    "case",
    "new",
    "move",
    "thanks",
];

/// How a command is written, an example, and what it does; the source of `#help` and of
/// the usage shown with errors.
struct Spec {
    keyword: &'static str,
    synopsis: &'static str,
    usage: &'static str,
    meaning: &'static str,
}

const SPECS: &[Spec] = &[
    Spec {
        keyword: "assign",
        synopsis: "#assign me | #assign <address>",
        usage: "#assign me or #assign alice@example.org",
        meaning: "set the responder",
    },
    Spec {
        keyword: "unassign",
        synopsis: "#unassign",
        usage: "#unassign",
        meaning: "clear the responder",
    },
    Spec {
        keyword: "severity",
        synopsis: "#severity low|medium|high|critical",
        usage: "#severity high",
        meaning: "set the severity",
    },
    Spec {
        keyword: "cvss",
        synopsis: "#cvss <CVSS:3.0/…, CVSS:3.1/… or CVSS:4.0/… vector>",
        usage: "#cvss CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
        meaning: "store the vector and its score",
    },
    Spec {
        keyword: "valid",
        synopsis: "#valid",
        usage: "#valid",
        meaning: "confirm the report",
    },
    Spec {
        keyword: "invalid",
        synopsis: "#invalid <reason>",
        usage: "#invalid not a security issue",
        meaning: "reject the report",
    },
    Spec {
        keyword: "duplicate",
        synopsis: "#duplicate <case id>",
        usage: "#duplicate SEC-2026-0007",
        meaning: "mark as a duplicate of another case",
    },
    Spec {
        keyword: "cve",
        synopsis: "#cve <CVE-YYYY-NNNN …> | #cve requested",
        usage: "#cve CVE-2026-12345 or #cve requested",
        meaning: "record CVE ids, or that one was requested",
    },
    Spec {
        keyword: "cwe",
        synopsis: "#cwe <CWE-N>",
        usage: "#cwe CWE-79",
        meaning: "record the weakness",
    },
    Spec {
        keyword: "summary",
        synopsis: "#summary <one line>",
        usage: "#summary Heap overflow in the config parser",
        meaning: "advisory summary",
    },
    Spec {
        keyword: "workaround",
        synopsis: "#workaround <one line>",
        usage: "#workaround disable the XML importer",
        meaning: "advisory workaround",
    },
    Spec {
        keyword: "reference",
        synopsis: "#reference <type> <url>",
        usage: "#reference FIX https://git.example.org/proj/commit/abc123",
        meaning: "add an advisory reference; types: ADVISORY, ARTICLE, DETECTION, \
                  DISCUSSION, REPORT, FIX, INTRODUCED, PACKAGE, EVIDENCE, WEB",
    },
    Spec {
        keyword: "details",
        synopsis: "#details",
        usage: "#details, then the details below the commands",
        meaning: "the text below the commands becomes the advisory details",
    },
    Spec {
        keyword: "preannounce",
        synopsis: "#preannounce <YYYY-MM-DD>",
        usage: "#preannounce 2027-01-10",
        meaning: "pre-announcement date",
    },
    Spec {
        keyword: "package",
        synopsis: "#package <name>",
        usage: "#package libfoo",
        meaning: "affected package; again to add another (one advisory each)",
    },
    Spec {
        keyword: "affected",
        synopsis: "#affected [<package>] <range> [| <range>]",
        usage: "#affected >=1.0.0, <1.4.2",
        meaning: "affected versions; `|` joins alternatives (at most two); the package \
                  first when the case names several",
    },
    Spec {
        keyword: "fixed-in",
        synopsis: "#fixed-in [<package>] <version>",
        usage: "#fixed-in 1.4.2",
        meaning: "first fixed version; the package first when the case names several",
    },
    Spec {
        keyword: "embargo",
        synopsis: "#embargo <YYYY-MM-DD> | #embargo +<N>d | #embargo none",
        usage: "#embargo 2027-01-15 or #embargo +90d or #embargo none",
        meaning: "embargo end",
    },
    Spec {
        keyword: "credit",
        synopsis: "#credit <name> | #credit anonymous | #credit <role> <name>",
        usage: "#credit Jane Doe or #credit anonymous or #credit coordinator Ann Lee",
        meaning: "who is credited: the reporter, or anyone under a role (finder, \
                  coordinator, remediation_developer, remediation_reviewer, \
                  remediation_verifier, analyst, sponsor, tool, other); credits add up",
    },
    Spec {
        keyword: "bindings",
        synopsis: "#bindings <name> [<name>…]",
        usage: "#bindings Tar.extract Tar_unix.extract",
        meaning: "affected functions or modules (affected_bindings)",
    },
    Spec {
        keyword: "commit",
        synopsis: "#commit <git-url> <sha>",
        usage: "#commit https://github.com/example/tar 1a61aeee7f593ec067612df1739ec905eab0450f",
        meaning: "a fixing commit (full hash): the advisory's events and a GIT range",
    },
    Spec {
        keyword: "reply",
        synopsis: "#reply",
        usage: "#reply, then the message below the commands",
        meaning: "send the text below the commands to the reporter",
    },
    Spec {
        keyword: "forward",
        synopsis: "#forward <address>",
        usage: "#forward maintainer@upstream.example",
        meaning: "send the case to an upstream maintainer",
    },
    Spec {
        keyword: "remind",
        synopsis: "#remind <YYYY-MM-DD | +Nd> <text>",
        usage: "#remind +7d ask upstream for a status",
        meaning: "one-off reminder",
    },
    Spec {
        keyword: "fixed",
        synopsis: "#fixed",
        usage: "#fixed",
        meaning: "a fixed release exists",
    },
    Spec {
        keyword: "publish",
        synopsis: "#publish | #publish now",
        usage: "#publish or #publish now",
        meaning: "publish the advisory (`now`: without waiting for the embargo)",
    },
    Spec {
        keyword: "close",
        synopsis: "#close",
        usage: "#close",
        meaning: "close the case",
    },
    Spec {
        keyword: "reopen",
        synopsis: "#reopen",
        usage: "#reopen",
        meaning: "reopen the case",
    },
    Spec {
        keyword: "spam",
        synopsis: "#spam",
        usage: "#spam",
        meaning: "move the case to the spam state (no reminders, not in the digest)",
    },
    Spec {
        keyword: "notspam",
        synopsis: "#notspam",
        usage: "#notspam",
        meaning: "release a case from the spam state: the reporter is acknowledged now",
    },
    Spec {
        keyword: "show",
        synopsis: "#show",
        usage: "#show",
        meaning: "reply with the case as it stands",
    },
    Spec {
        keyword: "help",
        synopsis: "#help",
        usage: "#help",
        meaning: "reply with this list",
    },
    Spec {
        keyword: "case",
        synopsis: "#case <case id>",
        usage: "#case SEC-2026-0007",
        meaning: "name the case when the mail has no thread or tag",
    },
    Spec {
        keyword: "new",
        synopsis: "#new",
        usage: "#new",
        meaning: "open a new case (first command only)",
    },
    Spec {
        keyword: "move",
        synopsis: "#move <desk>",
        usage: "#move cohttp",
        meaning: "hand the case to another desk: a new case id there, its history along, the reporter told the new id",
    },
];

/// The example shown with an error for `keyword` (with or without `#`, any case).
/// Unknown keywords get `#help`.
pub fn usage(keyword: &str) -> &'static str {
    let k = keyword.trim().trim_start_matches('#');
    SPECS
        .iter()
        .find(|s| s.keyword.eq_ignore_ascii_case(k))
        .map_or("#help", |s| s.usage)
}

/// Where the meaning column starts in `#help`, and the width it wraps at: mail is read
/// in 78-column windows more often than not.
const HELP_COLUMN: usize = 38;
const HELP_WIDTH: usize = 78;

/// The command table as plain text, for `#help`.
pub fn help_text() -> String {
    let mut out = String::from(
        "Commands go at the top of your reply, one per line, before any other text.\n\
         Keywords are case-insensitive; blank lines inside the block are fine;\n\
         `#thanks` or the first other line ends the block. Quoted text and\n\
         signatures are never read.\n\n",
    );
    for spec in SPECS {
        let mut line = format!("  {}", spec.synopsis);
        let mut len = line.chars().count();
        // A long synopsis gets its meaning on the next line rather than a ragged table.
        if len + 2 > HELP_COLUMN {
            out.push_str(&line);
            out.push('\n');
            line = String::new();
            len = 0;
        }
        line.push_str(&" ".repeat(HELP_COLUMN - len));
        len = HELP_COLUMN;
        for word in spec.meaning.split_whitespace() {
            let w = word.chars().count();
            if len > HELP_COLUMN && len + 1 + w > HELP_WIDTH {
                out.push_str(&line);
                out.push('\n');
                line = " ".repeat(HELP_COLUMN);
                len = HELP_COLUMN;
            }
            if len > HELP_COLUMN {
                line.push(' ');
                len += 1;
            }
            line.push_str(word);
            len += w;
        }
        out.push_str(&line);
        out.push('\n');
    }
    out.push_str("\nDates are YYYY-MM-DD; +Nd means N days after the mail is processed.\n");
    out
}

/// The most command lines one mail may carry. What one mail can make the desk do stays
/// bounded whatever its size (a million `#assign me` lines are one line of transcript).
pub const MAX_COMMANDS: usize = 100;

/// Splits a body into its command block and its text. Never panics; linear in the
/// body's size, and at most [`MAX_COMMANDS`] commands are parsed (the rest of the block
/// is skipped and reported as one failed line).
pub fn parse_body(body: &str) -> ParsedBody {
    let normalized = normalize_newlines(body);
    let normalized = clearsigned_text(&normalized).unwrap_or(normalized);
    let lines: Vec<&str> = normalized.split('\n').collect();
    let mut commands = Vec::new();
    // Where the text starts; the whole body is commands unless something ends the block.
    let mut text_start = lines.len();
    for (idx, raw) in lines.iter().enumerate() {
        let line = narrow_keyword(clean_command_line(raw));
        if line.is_empty() {
            continue;
        }
        match classify(&line) {
            LineKind::Thanks => {
                text_start = idx + 1;
                break;
            }
            LineKind::Other => {
                text_start = idx;
                break;
            }
            LineKind::Command { .. } if commands.len() > MAX_COMMANDS => {
                if let Some(CommandLine {
                    parsed: Err(CommandError::TooMany { ignored }),
                    ..
                }) = commands.last_mut()
                {
                    *ignored += 1;
                }
            }
            LineKind::Command { .. } if commands.len() == MAX_COMMANDS => {
                commands.push(CommandLine {
                    line_no: idx + 1,
                    text: line.chars().take(200).collect(),
                    parsed: Err(CommandError::TooMany { ignored: 0 }),
                });
            }
            LineKind::Command { keyword, args } => {
                let parsed = parse_command(keyword, args);
                commands.push(CommandLine {
                    line_no: idx + 1,
                    text: line.clone(),
                    parsed,
                });
            }
        }
    }
    let rest = lines.get(text_start..).unwrap_or_default().join("\n");
    let text = strip_quoted(&rest).trim().to_string();
    let words = |s: &str| s.lines().filter(|l| !l.trim().is_empty()).count();
    let cut = words(&text) < words(&rest);
    // Cut short: lines of the member's own were dropped, above any signature, beyond
    // the quote a reply carries (its `>` lines and the attribution over them): taken
    // for a forward's headers, a separator, the desk's own words.
    let mut own: Vec<&str> = rest
        .lines()
        .take_while(|l| l.trim_end() != "--")
        .filter(|l| !l.trim().is_empty())
        .collect();
    // The reply's quote is the last block of `>` lines, with the attribution over it; a
    // quote within the member's text (a statement cited, a `>>>` prompt) is theirs.
    let quoted = |l: &&str| l.trim_start().starts_with('>');
    let own_end = own.iter().rposition(|l| !quoted(l)).map_or(0, |i| i + 1);
    if own_end < own.len() {
        let attribution = own_end
            .checked_sub(1)
            .and_then(|i| own.get(i))
            .is_some_and(|l| l.trim_end().ends_with(':'));
        own.truncate(own_end - usize::from(attribution));
    }
    let cut_short = words(&text) < own.len();
    check_block(&mut commands, &text, cut_short);
    ParsedBody {
        commands,
        text,
        cut,
        cut_short,
    }
}

/// The text of an inline-signed body (OpenPGP's cleartext signature, RFC 4880 §7): the
/// lines between the armour's header block and its signature, dash-escaping undone.
/// `None` for any other body. A member who signs every mail wrote `#reply` under the
/// armour's first line, and the whole mail was taken for a note: nothing sent, no
/// transcript. (The signature is not checked: a member is authenticated by the
/// receiving server's stamp, as for any mail.)
fn clearsigned_text(body: &str) -> Option<String> {
    let mut lines = body.trim_start().split('\n');
    if lines.next()?.trim_end() != "-----BEGIN PGP SIGNED MESSAGE-----" {
        return None;
    }
    // The armour headers (`Hash: SHA256`) end at the first empty line.
    for line in lines.by_ref() {
        if line.trim().is_empty() {
            break;
        }
    }
    let mut text = String::with_capacity(body.len());
    for line in lines {
        if line.trim_end() == "-----BEGIN PGP SIGNATURE-----" {
            break;
        }
        text.push_str(line.strip_prefix("- ").unwrap_or(line));
        text.push('\n');
    }
    Some(text)
}

/// Rules that need the whole block or the text, not just one line. `cut_short`: the
/// text lost lines above any signature, taken for quoted mail or a forward's headers.
fn check_block(commands: &mut [CommandLine], text: &str, cut_short: bool) {
    // The commands that would send the text below the block: (index, keyword).
    let mut takers: Vec<(usize, &'static str)> = Vec::new();
    for (i, line) in commands.iter_mut().enumerate() {
        let keyword = match &line.parsed {
            Ok(cmd) => cmd.keyword(),
            Err(_) => continue,
        };
        match keyword {
            "new" if i > 0 => {
                line.parsed = Err(malformed("new", "must be the first command of the mail"));
            }
            "details" | "reply" if text.is_empty() => {
                line.parsed = Err(malformed(keyword, "needs text below the commands"));
            }
            // A forward without text sends the report alone.
            "forward" if text.is_empty() => {}
            "details" | "reply" | "forward" => takers.push((i, keyword)),
            _ => {}
        }
    }
    // Details cut short are not published in the mail that gives them: the team sees
    // where they were cut (the `#details` line says), and publishes them once checked.
    if cut_short && takers.iter().any(|(_, k)| *k == "details") {
        refuse_publish(
            commands,
            "not run: the details were cut where the text looked like quoted mail or a \
             forward's headers (see `#details` above); check them, then `#publish` in a mail \
             of its own",
        );
    }
    // Advisory details, a message to the reporter and one to a maintainer are different
    // texts (the reporter's name, which the maintainer must not learn; the fix, which
    // the reporter need not). Which one the text was written for cannot be known, so
    // when two different ones would take it, none does.
    let Some(&(_, first)) = takers.first() else {
        return;
    };
    let Some(&(_, other)) = takers.iter().find(|(_, k)| *k != first) else {
        return;
    };
    for (i, keyword) in takers {
        let with = if keyword == first { other } else { first };
        if let Some(line) = commands.get_mut(i) {
            line.parsed = Err(malformed(
                keyword,
                &format!(
                    "cannot share the text below the commands with `#{with}`; \
                     send each in its own mail"
                ),
            ));
        }
    }
    // Nor does a publication go out without the details the mail meant to give it.
    refuse_publish(
        commands,
        "not run: the text below the commands went nowhere (see the lines above); \
         send the details and `#publish` in a mail of their own",
    );
}

fn refuse_publish(commands: &mut [CommandLine], why: &str) {
    for line in commands.iter_mut() {
        if matches!(line.parsed, Ok(Command::Publish { .. })) {
            line.parsed = Err(malformed("publish", why));
        }
    }
}

enum LineKind<'a> {
    Command { keyword: &'a str, args: &'a str },
    Thanks,
    Other,
}

/// A line begun in an input method's full-width mode (`＃ｃｌｏｓｅ`, CJK keyboards)
/// with its mark and keyword in ASCII (`#close`); its arguments as they are. Full-width
/// forms are U+FF01–U+FF5E, ASCII shifted by 0xFEE0; U+FE5F is the small number sign.
fn narrow_keyword(line: String) -> String {
    let Some(after) = (line.strip_prefix('#'))
        .or_else(|| line.strip_prefix('＃'))
        .or_else(|| line.strip_prefix('﹟'))
    else {
        return line;
    };
    let narrow = |c: char| match u32::from(c) {
        0xFF01..=0xFF5E => char::from_u32(u32::from(c) - 0xFEE0).unwrap_or(c),
        _ => c,
    };
    let keyword_end = after
        .char_indices()
        .find(|&(_, c)| !(narrow(c).is_ascii_alphanumeric() || matches!(narrow(c), '-' | '_')))
        .map_or(after.len(), |(i, _)| i);
    let (keyword, rest) = after.split_at_checked(keyword_end).unwrap_or((after, ""));
    // Only a keyword wholly in ASCII once narrowed: `＃メモ` or `＃Ｃ言語` is a line of
    // text, as it always was.
    if keyword.is_empty() || rest.chars().next().is_some_and(char::is_alphanumeric) {
        return line;
    }
    let mut out = String::with_capacity(line.len());
    out.push('#');
    out.extend(keyword.chars().map(narrow));
    out.push_str(rest);
    out
}

/// `#` followed by a letter starts a command; `# heading`, `#1`, `##x` are text.
fn classify(line: &str) -> LineKind<'_> {
    let Some(after) = line.strip_prefix('#') else {
        return LineKind::Other;
    };
    if !after.chars().next().is_some_and(char::is_alphabetic) {
        return LineKind::Other;
    }
    let end = after
        .char_indices()
        .find(|&(_, c)| !(c.is_alphanumeric() || c == '-' || c == '_'))
        .map_or(after.len(), |(i, _)| i);
    let (keyword, rest) = after.split_at_checked(end).unwrap_or((after, ""));
    if keyword.eq_ignore_ascii_case("thanks") {
        return LineKind::Thanks;
    }
    // `#severity: high` is a common way of writing it; accept the colon.
    let args = rest.strip_prefix(':').unwrap_or(rest).trim();
    LineKind::Command { keyword, args }
}

fn parse_command(keyword: &str, args: &str) -> Result<Command, CommandError> {
    match keyword.to_ascii_lowercase().as_str() {
        "assign" => parse_assign(args),
        "unassign" => bare("unassign", args, Command::Unassign),
        "severity" => Severity::parse(args).map(Command::Severity).ok_or_else(|| {
            let not = format!("not `{args}`");
            needs("severity", "one of low, medium, high, critical", args, &not)
        }),
        "cvss" => parse_cvss(args).map(Command::Cvss),
        "valid" => bare("valid", args, Command::Valid),
        "invalid" => non_empty("invalid", args, "needs a reason").map(Command::Invalid),
        "duplicate" => parse_case_id("duplicate", args).map(Command::Duplicate),
        "cve" => parse_cve(args).map(Command::Cve),
        "cwe" => parse_cwe(args).map(Command::Cwe),
        "summary" => non_empty("summary", args, "needs a one-line summary").map(Command::Summary),
        "workaround" => {
            non_empty("workaround", args, "needs a one-line workaround").map(Command::Workaround)
        }
        "reference" => parse_reference(args),
        "details" => bare("details", args, Command::Details),
        "preannounce" => parse_date("preannounce", args).map(Command::Preannounce),
        "package" => non_empty("package", args, "needs a package name").map(Command::Package),
        "affected" => non_empty("affected", args, "needs a version range").map(Command::Affected),
        "fixed-in" => non_empty("fixed-in", args, "needs a version").map(Command::FixedIn),
        "embargo" => parse_embargo(args).map(Command::Embargo),
        "credit" => parse_credit(args).map(Command::Credit),
        "bindings" => {
            let mut names: Vec<String> = Vec::new();
            let mut seen = std::collections::BTreeSet::new();
            for n in args.split_whitespace() {
                if seen.insert(n) {
                    names.push(n.to_string());
                }
                if names.len() > MAX_LIST {
                    return Err(too_long("bindings", "names"));
                }
            }
            if names.is_empty() {
                Err(malformed(
                    "bindings",
                    "needs at least one function or module name",
                ))
            } else {
                Ok(Command::Bindings(names))
            }
        }
        "commit" => parse_commit(args),
        "reply" => bare("reply", args, Command::Reply),
        "forward" => parse_address("forward", args).map(Command::Forward),
        "remind" => parse_remind(args),
        "fixed" => bare("fixed", args, Command::Fixed),
        "publish" => match args.to_ascii_lowercase().as_str() {
            "" => Ok(Command::Publish { now: false }),
            "now" => Ok(Command::Publish { now: true }),
            _ => Err(malformed(
                "publish",
                &format!("takes nothing or `now`, not `{args}`"),
            )),
        },
        "close" => bare("close", args, Command::Close),
        "reopen" => bare("reopen", args, Command::Reopen),
        "spam" => bare("spam", args, Command::Spam),
        "notspam" => bare("notspam", args, Command::NotSpam),
        "show" => bare("show", args, Command::Show),
        "help" => bare("help", args, Command::Help),
        "case" => parse_case_id("case", args).map(Command::Case),
        "new" => bare("new", args, Command::New),
        "move" => non_empty("move", args, "needs the name of a desk")
            .map(|d| Command::Move(d.to_ascii_lowercase())),
        other => Err(CommandError::Unknown {
            keyword: keyword.to_string(),
            suggestion: suggest(other),
        }),
    }
}

/// The most names (`#bindings`) or ids (`#cve`) one line takes: what a list is parsed
/// into before the mail is authenticated stays small whoever sends it.
pub const MAX_LIST: usize = 200;

fn too_long(keyword: &'static str, what: &str) -> CommandError {
    malformed(
        keyword,
        &format!("takes at most {MAX_LIST} {what} a line; send the rest in another line"),
    )
}

fn malformed(keyword: &'static str, reason: &str) -> CommandError {
    CommandError::Malformed {
        keyword,
        reason: reason.to_string(),
        usage: usage(keyword),
    }
}

/// `keyword` needs `what`: said alone when there are no arguments, else followed by
/// `objection`, what is wrong with the ones given.
fn needs(keyword: &'static str, what: &str, args: &str, objection: &str) -> CommandError {
    let reason = if args.is_empty() {
        format!("needs {what}")
    } else {
        format!("needs {what}, {objection}")
    };
    malformed(keyword, &reason)
}

/// One-word commands: extra words are a mistake worth pointing out, not ignoring.
fn bare(keyword: &'static str, args: &str, cmd: Command) -> Result<Command, CommandError> {
    if args.is_empty() {
        Ok(cmd)
    } else {
        Err(malformed(
            keyword,
            &format!("takes no arguments, but got `{args}`"),
        ))
    }
}

fn non_empty(keyword: &'static str, args: &str, reason: &str) -> Result<String, CommandError> {
    if args.is_empty() {
        Err(malformed(keyword, reason))
    } else {
        Ok(args.to_string())
    }
}

fn parse_assign(args: &str) -> Result<Command, CommandError> {
    if args.eq_ignore_ascii_case("me") {
        return Ok(Command::Assign(Assignee::Me));
    }
    if args.is_empty() {
        return Err(malformed("assign", "needs `me` or an address"));
    }
    parse_address("assign", args).map(|a| Command::Assign(Assignee::Address(a)))
}

/// Accepts `a@b.org`, `<a@b.org>`, `Name <a@b.org>` and `mailto:a@b.org`.
fn parse_address(keyword: &'static str, args: &str) -> Result<String, CommandError> {
    if args.is_empty() {
        return Err(malformed(keyword, "needs an address"));
    }
    let inner = match (args.rfind('<'), args.rfind('>')) {
        (Some(open), Some(close)) if open < close => args.get(open + 1..close).unwrap_or(""),
        _ => args,
    };
    let inner = inner.trim();
    let inner = match inner.get(..7) {
        Some(p) if p.eq_ignore_ascii_case("mailto:") => inner.get(7..).unwrap_or(""),
        _ => inner,
    };
    if is_plausible_address(inner) {
        Ok(normalize_address(inner))
    } else {
        Err(malformed(
            keyword,
            &format!("needs an address like alice@example.org, but got `{args}`"),
        ))
    }
}

/// Deliberately simple: one `@`, a local part without spaces or mail specials, and a
/// dotted ASCII domain. Good enough to catch typos; the MTA has the final word.
fn is_plausible_address(addr: &str) -> bool {
    let Some((local, domain)) = addr.split_once('@') else {
        return false;
    };
    let local_ok = !local.is_empty()
        && local
            .chars()
            .all(|c| c.is_ascii_graphic() && !"<>()[]\\,;:\"@".contains(c));
    let domain_ok = domain.contains('.')
        && domain.split('.').all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    local_ok && domain_ok
}

fn parse_case_id(keyword: &'static str, args: &str) -> Result<CaseId, CommandError> {
    // People paste the subject tag, brackets included.
    let id = args.trim_start_matches('[').trim_end_matches(']');
    if args.is_empty() {
        return Err(malformed(keyword, "needs a case id"));
    }
    CaseId::parse(id).ok_or_else(|| {
        malformed(
            keyword,
            &format!("needs a case id like SEC-2026-0007, but got `{args}`"),
        )
    })
}

fn parse_cvss(args: &str) -> Result<CvssScore, CommandError> {
    if args.is_empty() {
        return Err(malformed("cvss", "needs a CVSS 3.0, 3.1 or 4.0 vector"));
    }
    // The crate wants the prefix in capitals; people type it in any case.
    let vector = match args.get(..5) {
        Some(p) if p.eq_ignore_ascii_case("cvss:") => {
            format!("CVSS:{}", args.get(5..).unwrap_or(""))
        }
        _ => args.to_string(),
    };
    let version = vector
        .get(5..)
        .and_then(|rest| rest.split('/').next())
        .unwrap_or("");
    if !vector.starts_with("CVSS:") || !matches!(version, "3.0" | "3.1" | "4.0") {
        return Err(malformed(
            "cvss",
            &format!(
                "needs a vector starting with CVSS:3.0/, CVSS:3.1/ or CVSS:4.0/, not `{args}`"
            ),
        ));
    }
    if version.starts_with('3') {
        // The crate scores a 3.x vector with missing base metrics as if they were zero;
        // a partial vector is a typo, so insist on all eight.
        let present: Vec<String> = vector
            .split('/')
            .skip(1)
            .filter_map(|part| part.split(':').next())
            .map(str::to_ascii_uppercase)
            .collect();
        let missing: Vec<&str> = ["AV", "AC", "PR", "UI", "S", "C", "I", "A"]
            .into_iter()
            .filter(|m| !present.iter().any(|p| p == m))
            .collect();
        if !missing.is_empty() {
            return Err(malformed(
                "cvss",
                &format!("vector lacks the base metric(s) {}", missing.join(", ")),
            ));
        }
    }
    match vector.parse::<cvss::Cvss>() {
        Ok(parsed) => Ok(CvssScore {
            vector: parsed.to_string(),
            score: parsed.score(),
            rating: parsed.severity().as_str().to_string(),
        }),
        Err(e) => Err(malformed(
            "cvss",
            &format!("got a vector that does not parse ({e})"),
        )),
    }
}

fn parse_cve(args: &str) -> Result<CveCommand, CommandError> {
    if args.eq_ignore_ascii_case("requested") {
        return Ok(CveCommand::Requested);
    }
    let mut ids: Vec<String> = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for token in args.split(|c: char| c == ',' || c.is_whitespace()) {
        if token.is_empty() {
            continue;
        }
        let id = token.to_ascii_uppercase();
        if !is_cve_id(&id) {
            return Err(malformed(
                "cve",
                &format!("needs ids like CVE-2026-12345 or `requested`, but got `{token}`"),
            ));
        }
        if seen.insert(id.clone()) {
            ids.push(id);
        }
        if ids.len() > MAX_LIST {
            return Err(too_long("cve", "ids"));
        }
    }
    if ids.is_empty() {
        return Err(malformed("cve", "needs CVE ids or `requested`"));
    }
    Ok(CveCommand::Ids(ids))
}

/// `CVE-YYYY-NNNN…`: a year from 1999 (the first CVE year) and at least four digits.
fn is_cve_id(id: &str) -> bool {
    let mut parts = id.split('-');
    let (Some("CVE"), Some(year), Some(seq), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    year.len() == 4
        && digits(year)
        && year >= "1999"
        && (4..=12).contains(&seq.len())
        && digits(seq)
}

fn parse_cwe(args: &str) -> Result<u32, CommandError> {
    let number = match args.get(..4) {
        Some(p) if p.eq_ignore_ascii_case("cwe-") => args.get(4..).unwrap_or(""),
        _ => args,
    };
    let ok = !number.is_empty() && number.chars().all(|c| c.is_ascii_digit());
    match number.parse::<u32>() {
        Ok(n) if ok && n > 0 => Ok(n),
        _ => Err(needs(
            "cwe",
            "a CWE id such as CWE-79",
            args,
            &format!("but got `{args}`"),
        )),
    }
}

fn parse_reference(args: &str) -> Result<Command, CommandError> {
    let mut words = args.split_whitespace();
    let (Some(kind), Some(url), None) = (words.next(), words.next(), words.next()) else {
        return Err(malformed("reference", "needs a type and a URL"));
    };
    let Some(kind) = ReferenceKind::parse(kind) else {
        return Err(malformed(
            "reference",
            &format!(
                "needs a type among {}, not `{kind}`",
                ReferenceKind::names()
            ),
        ));
    };
    let url = url.trim_start_matches('<').trim_end_matches('>');
    if !is_http_url(url) {
        return Err(malformed(
            "reference",
            &format!("needs an http:// or https:// URL, not `{url}`"),
        ));
    }
    let url = crate::uri::as_uri(url).map_err(|why| malformed("reference", &why))?;
    Ok(Command::Reference { kind, url })
}

fn is_http_url(url: &str) -> bool {
    let Some((scheme, rest)) = url.split_once("://") else {
        return false;
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    (scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https"))
        && !host.is_empty()
        && !host.starts_with('@')
        && url
            .chars()
            .all(|c| !c.is_whitespace() && !c.is_control() && !"<>\"".contains(c))
}

/// Strict `YYYY-MM-DD`: chrono alone would also take `2027-2-3` or `+2027-02-03`.
fn strict_date(text: &str) -> Option<NaiveDate> {
    let mut parts = text.split('-');
    let (Some(y), Some(m), Some(d), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let digits = |s: &str, n: usize| s.len() == n && s.chars().all(|c| c.is_ascii_digit());
    if !(digits(y, 4) && digits(m, 2) && digits(d, 2)) {
        return None;
    }
    NaiveDate::from_ymd_opt(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?)
}

fn parse_date(keyword: &'static str, args: &str) -> Result<NaiveDate, CommandError> {
    strict_date(args).ok_or_else(|| {
        let not_a_date = format!("but `{args}` is not a valid date");
        needs(keyword, "a date as YYYY-MM-DD", args, &not_a_date)
    })
}

/// Ten years: far enough for any embargo or reminder, small enough that the caller's
/// date arithmetic cannot overflow. An explicit date is held to the same window by the
/// caller, which knows today.
pub const MAX_DAYS: u32 = 3650;

/// No date a command takes lies before this year (a typo such as `0226-01-01`).
pub const MIN_YEAR: i32 = 2000;

/// `+Nd`. `Err` carries the reason when it looks relative but is out of range.
fn relative_days(text: &str) -> Option<Result<u32, String>> {
    let n = text.strip_prefix('+')?;
    let n = n.strip_suffix('d').or_else(|| n.strip_suffix('D'))?;
    if n.is_empty() || !n.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    Some(match n.parse::<u32>() {
        Ok(days) if (1..=MAX_DAYS).contains(&days) => Ok(days),
        _ => Err(format!("needs between +1d and +{MAX_DAYS}d, not `{text}`")),
    })
}

fn parse_embargo(args: &str) -> Result<EmbargoSpec, CommandError> {
    if args.eq_ignore_ascii_case("none") {
        return Ok(EmbargoSpec::None);
    }
    if let Some(days) = relative_days(args) {
        return days
            .map(EmbargoSpec::DaysFromNow)
            .map_err(|reason| malformed("embargo", &reason));
    }
    if let Some(date) = strict_date(args) {
        return Ok(EmbargoSpec::Until(date));
    }
    let not_a_date = format!("but `{args}` is not a valid date");
    Err(needs(
        "embargo",
        "a date as YYYY-MM-DD, +Nd or none",
        args,
        &not_a_date,
    ))
}

/// `#credit anonymous`, `#credit <role> <name>` when the first word is an OSV credit
/// role and a name follows, else `#credit <name>` for the reporter. A reporter whose
/// name starts with a role word is credited with `#credit reporter <name>`.
fn parse_credit(args: &str) -> Result<Credit, CommandError> {
    if args.eq_ignore_ascii_case("anonymous") {
        return Ok(Credit::Anonymous);
    }
    if let Some((first, rest)) = args.split_once(char::is_whitespace)
        && let Some(role) = CreditRole::parse(first)
        && !rest.trim().is_empty()
    {
        let name = rest.trim().to_string();
        return Ok(match role {
            CreditRole::Reporter => Credit::Name(name),
            role => Credit::Role(role, name),
        });
    }
    non_empty("credit", args, "needs a name or `anonymous`").map(Credit::Name)
}

/// `#commit [<package>] <git-url> <sha>`: the OSV schema wants full hashes in GIT
/// ranges.
fn parse_commit(args: &str) -> Result<Command, CommandError> {
    let words: Vec<&str> = args.split_whitespace().collect();
    let (package, url, sha) = match words.as_slice() {
        [url, sha] => (None, url, sha),
        [package, url, sha] => (Some(package.to_string()), url, sha),
        _ => {
            return Err(malformed(
                "commit",
                "needs the repository's git URL and the commit's full hash (the package first, on a case naming several)",
            ));
        }
    };
    let scheme_ok = ["https://", "http://", "git://"]
        .iter()
        .any(|s| url.starts_with(s) && url.len() > s.len());
    if !scheme_ok || url.contains(['"', '\\']) {
        return Err(malformed(
            "commit",
            &format!("`{url}` is not a git URL (https://, http:// or git://)"),
        ));
    }
    if !(matches!(sha.len(), 40 | 64) && sha.chars().all(|c| c.is_ascii_hexdigit())) {
        return Err(malformed(
            "commit",
            &format!("`{sha}` is not a full commit hash (40 hexadecimal digits)"),
        ));
    }
    let url = crate::uri::as_uri(url).map_err(|why| malformed("commit", &why))?;
    Ok(Command::Commit {
        package,
        url,
        sha: sha.to_ascii_lowercase(),
    })
}

fn parse_remind(args: &str) -> Result<Command, CommandError> {
    let (first, text) = args
        .split_once(char::is_whitespace)
        .map_or((args, ""), |(a, b)| (a, b.trim()));
    let when = match relative_days(first) {
        Some(Ok(days)) => When::DaysFromNow(days),
        Some(Err(reason)) => return Err(malformed("remind", &reason)),
        None => match strict_date(first) {
            Some(date) => When::Date(date),
            None => {
                return Err(malformed(
                    "remind",
                    &if first.is_empty() {
                        "needs a date (YYYY-MM-DD or +Nd) and a text".to_string()
                    } else {
                        format!(
                            "needs a date (YYYY-MM-DD or +Nd) first, but `{first}` is not a valid date"
                        )
                    },
                ));
            }
        },
    };
    if text.is_empty() {
        return Err(malformed("remind", "needs a text after the date"));
    }
    Ok(Command::Remind {
        when,
        text: text.to_string(),
    })
}

/// The nearest keyword: edit distance ≤ 2 (≤ 1 for words of three letters or fewer, where
/// two edits reach almost anything), else a keyword that the word begins.
fn suggest(word: &str) -> Option<&'static str> {
    let word = word.to_lowercase();
    let len = word.chars().count();
    if len == 0 || len > 40 {
        return None;
    }
    let limit = if len <= 3 { 1 } else { 2 };
    let nearest = KEYWORDS
        .iter()
        .map(|k| (edit_distance(&word, k), *k))
        .min_by_key(|&(d, _)| d);
    match nearest {
        Some((d, k)) if d <= limit => Some(k),
        _ if len >= 2 => KEYWORDS.iter().copied().find(|k| k.starts_with(&word)),
        _ => None,
    }
}

/// Levenshtein distance over chars, two rows.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = Vec::with_capacity(b.len() + 1);
        let mut left = i + 1;
        cur.push(left);
        for ((cb, diag), up) in b.iter().zip(prev.iter()).zip(prev.iter().skip(1)) {
            let v = (diag + usize::from(ca != *cb)).min(up + 1).min(left + 1);
            cur.push(v);
            left = v;
        }
        prev = cur;
    }
    prev.last().copied().unwrap_or(0)
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::mail::html::html_to_text;

    const GMAIL: &str = include_str!("../../tests/fixtures/replies/gmail_top_post.txt");
    const OUTLOOK_ORIGINAL: &str =
        include_str!("../../tests/fixtures/replies/outlook_original_message.txt");
    const OUTLOOK_HEADERS: &str =
        include_str!("../../tests/fixtures/replies/outlook_header_block.txt");
    const THUNDERBIRD_DETAILS: &str =
        include_str!("../../tests/fixtures/replies/thunderbird_details.txt");
    const THUNDERBIRD_BOTTOM: &str =
        include_str!("../../tests/fixtures/replies/thunderbird_bottom_post.txt");
    const APPLE_UNICODE: &str = include_str!("../../tests/fixtures/replies/apple_mail_unicode.txt");
    const FORWARDED: &str = include_str!("../../tests/fixtures/replies/forwarded.txt");
    const HTML_GMAIL: &str = include_str!("../../tests/fixtures/replies/html_gmail.txt");
    const HTML_OUTLOOK: &str = include_str!("../../tests/fixtures/replies/html_outlook.txt");
    const TYPOS: &str = include_str!("../../tests/fixtures/replies/typos.txt");
    const BLOCK_END: &str = include_str!("../../tests/fixtures/replies/block_end.txt");
    const NEW_CASE: &str = include_str!("../../tests/fixtures/replies/new_case.txt");

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    /// An inline-signed mail: its commands are read under the armour, and neither the
    /// armour nor the signature is part of the text (the whole mail was a note).
    #[test]
    fn an_inline_signed_mail_is_read_under_its_armour() {
        let body = "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n#assign me\n#reply\nThanks, we are on it.\n\n- -- \nAlice\n-----BEGIN PGP SIGNATURE-----\n\niQEzBAEBCAAdFiEE\n=abcd\n-----END PGP SIGNATURE-----\n";
        let parsed = parse_body(body);
        let keywords: Vec<&str> = parsed
            .commands
            .iter()
            .map(|c| c.parsed.as_ref().map(Command::keyword).unwrap_or("error"))
            .collect();
        assert_eq!(keywords, vec!["assign", "reply"]);
        assert!(
            parsed.text.starts_with("Thanks, we are on it."),
            "{:?}",
            parsed.text
        );
        assert!(!parsed.text.contains("PGP"), "{:?}", parsed.text);
        assert!(
            !parsed.text.contains("- --"),
            "dash-escaping undone: {:?}",
            parsed.text
        );
        // A body that only mentions the armour further down is as it was.
        let plain = "#assign me\nsee -----BEGIN PGP SIGNED MESSAGE-----\n";
        assert_eq!(
            parse_body(plain).text,
            "see -----BEGIN PGP SIGNED MESSAGE-----"
        );
    }

    fn parsed(body: &str) -> Vec<Result<Command, CommandError>> {
        parse_body(body)
            .commands
            .into_iter()
            .map(|c| c.parsed)
            .collect()
    }

    fn line_nos(body: &str) -> Vec<usize> {
        parse_body(body)
            .commands
            .iter()
            .map(|c| c.line_no)
            .collect()
    }

    /// Parses a body that must hold exactly one command line.
    fn one(body: &str) -> Result<Command, CommandError> {
        let mut cmds = parse_body(body).commands;
        assert_eq!(cmds.len(), 1, "{body:?}");
        cmds.remove(0).parsed
    }

    /// A line of thousands of names is refused, not deduplicated name by name against
    /// all before it: parsed for any mail in a member's name before it is authenticated,
    /// inside the batch's transaction, 400,000 names in 2 MB held the desk for minutes.
    #[test]
    fn a_line_of_too_many_names_or_ids_is_refused() {
        let names: Vec<String> = (0..MAX_LIST + 1).map(|i| format!("f{i}")).collect();
        let got = one(&format!("#bindings {}\n", names.join(" ")));
        assert!(
            matches!(&got, Err(CommandError::Malformed { reason, .. }) if reason.contains("at most")),
            "{got:?}"
        );
        let ids: Vec<String> = (0..MAX_LIST + 1)
            .map(|i| format!("CVE-2026-{:05}", 10000 + i))
            .collect();
        let got = one(&format!("#cve {}\n", ids.join(",")));
        assert!(
            matches!(&got, Err(CommandError::Malformed { reason, .. }) if reason.contains("at most")),
            "{got:?}"
        );
        let fine = one(&format!("#bindings {}\n", names[..MAX_LIST].join(" ")));
        assert!(matches!(&fine, Ok(Command::Bindings(n)) if n.len() == MAX_LIST));
    }

    fn cvss(vector: &str, score: f64, rating: &str) -> Command {
        Command::Cvss(CvssScore {
            vector: vector.to_string(),
            score,
            rating: rating.to_string(),
        })
    }

    #[test]
    fn every_command_happy_path() {
        let s = |t: &str| t.to_string();
        let table: Vec<(&str, Command)> = vec![
            ("#assign me", Command::Assign(Assignee::Me)),
            ("#assign ME", Command::Assign(Assignee::Me)),
            (
                "#ASSIGN Bob Maintainer <Bob@Example.org>",
                Command::Assign(Assignee::Address(s("bob@example.org"))),
            ),
            (
                "#assign mailto:carol@example.org",
                Command::Assign(Assignee::Address(s("carol@example.org"))),
            ),
            ("#unassign", Command::Unassign),
            ("#severity critical", Command::Severity(Severity::Critical)),
            ("#severity: Low", Command::Severity(Severity::Low)),
            (
                "#cvss CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
                cvss(
                    "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
                    9.8,
                    "critical",
                ),
            ),
            (
                "#cvss cvss:3.0/AV:L/AC:H/PR:L/UI:R/S:U/C:L/I:N/A:N",
                cvss("CVSS:3.0/AV:L/AC:H/PR:L/UI:R/S:U/C:L/I:N/A:N", 2.2, "low"),
            ),
            (
                "#cvss CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
                cvss(
                    "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
                    9.3,
                    "critical",
                ),
            ),
            ("#valid", Command::Valid),
            ("#VALID", Command::Valid),
            (
                "#invalid works as documented, not a security issue",
                Command::Invalid(s("works as documented, not a security issue")),
            ),
            (
                "#duplicate sec-2026-0003",
                Command::Duplicate(CaseId::new("SEC", 2026, 3)),
            ),
            (
                "#duplicate [SEC-2026-0003]",
                Command::Duplicate(CaseId::new("SEC", 2026, 3)),
            ),
            (
                "#cve CVE-2026-12345",
                Command::Cve(CveCommand::Ids(vec![s("CVE-2026-12345")])),
            ),
            (
                "#cve cve-2026-1234,CVE-2026-1235  CVE-2026-1234",
                Command::Cve(CveCommand::Ids(vec![
                    s("CVE-2026-1234"),
                    s("CVE-2026-1235"),
                ])),
            ),
            ("#cve Requested", Command::Cve(CveCommand::Requested)),
            ("#cwe CWE-79", Command::Cwe(79)),
            ("#cwe cwe-22", Command::Cwe(22)),
            ("#cwe 787", Command::Cwe(787)),
            (
                "#summary Heap overflow in the XML importer",
                Command::Summary(s("Heap overflow in the XML importer")),
            ),
            (
                "#workaround Set `import.xml = false` until you can upgrade.",
                Command::Workaround(s("Set `import.xml = false` until you can upgrade.")),
            ),
            (
                "#reference fix https://git.example.org/libfoo/commit/abc123",
                Command::Reference {
                    kind: ReferenceKind::Fix,
                    url: s("https://git.example.org/libfoo/commit/abc123"),
                },
            ),
            (
                "#reference WEB <http://example.org/blog?id=1#x>",
                Command::Reference {
                    kind: ReferenceKind::Web,
                    url: s("http://example.org/blog?id=1#x"),
                },
            ),
            // What a browser shows becomes the URI it follows (the OSV schema wants one).
            (
                "#reference web https://fr.wikipedia.org/wiki/Faille_de_sécurité",
                Command::Reference {
                    kind: ReferenceKind::Web,
                    url: s("https://fr.wikipedia.org/wiki/Faille_de_s%C3%A9curit%C3%A9"),
                },
            ),
            (
                "#reference web https://example.org/a|b?q={1}&p=%20%zz",
                Command::Reference {
                    kind: ReferenceKind::Web,
                    url: s("https://example.org/a%7Cb?q=%7B1%7D&p=%20%25zz"),
                },
            ),
            (
                "#reference web https://[2001:db8::1]:8443/x[1]",
                Command::Reference {
                    kind: ReferenceKind::Web,
                    url: s("https://[2001:db8::1]:8443/x%5B1%5D"),
                },
            ),
            (
                "#preannounce 2027-01-10",
                Command::Preannounce(date(2027, 1, 10)),
            ),
            (
                "#package crates.io/libfoo",
                Command::Package(s("crates.io/libfoo")),
            ),
            (
                "#affected >=1.0.0, <1.4.2",
                Command::Affected(s(">=1.0.0, <1.4.2")),
            ),
            ("#fixed-in 1.4.2", Command::FixedIn(s("1.4.2"))),
            ("#Fixed-In 2.0.0-rc.1", Command::FixedIn(s("2.0.0-rc.1"))),
            (
                "#embargo 2027-01-15",
                Command::Embargo(EmbargoSpec::Until(date(2027, 1, 15))),
            ),
            (
                "#embargo +90d",
                Command::Embargo(EmbargoSpec::DaysFromNow(90)),
            ),
            ("#embargo NONE", Command::Embargo(EmbargoSpec::None)),
            (
                "#credit Jane Doe (Example Corp)",
                Command::Credit(Credit::Name(s("Jane Doe (Example Corp)"))),
            ),
            ("#credit Anonymous", Command::Credit(Credit::Anonymous)),
            (
                "#credit remediation_developer Nicolás Ojeda Bär",
                Command::Credit(Credit::Role(
                    CreditRole::RemediationDeveloper,
                    s("Nicolás Ojeda Bär"),
                )),
            ),
            (
                "#credit Coordinator Hannes Mehnert",
                Command::Credit(Credit::Role(CreditRole::Coordinator, s("Hannes Mehnert"))),
            ),
            (
                "#credit reporter Tool Smith",
                Command::Credit(Credit::Name(s("Tool Smith"))),
            ),
            ("#credit Tool", Command::Credit(Credit::Name(s("Tool")))),
            (
                "#bindings Tar.extract Tar.extract Tar_unix.extract",
                Command::Bindings(vec![s("Tar.extract"), s("Tar_unix.extract")]),
            ),
            (
                "#commit https://github.com/example/tar 1A61AEEE7F593EC067612DF1739EC905EAB0450F",
                Command::Commit {
                    package: None,
                    url: s("https://github.com/example/tar"),
                    sha: s("1a61aeee7f593ec067612df1739ec905eab0450f"),
                },
            ),
            (
                "#commit tar https://github.com/example/tar 1a61aeee7f593ec067612df1739ec905eab0450f",
                Command::Commit {
                    package: Some(s("tar")),
                    url: s("https://github.com/example/tar"),
                    sha: s("1a61aeee7f593ec067612df1739ec905eab0450f"),
                },
            ),
            (
                "#commit https://git.example.org/dépôt 1a61aeee7f593ec067612df1739ec905eab0450f",
                Command::Commit {
                    package: None,
                    url: s("https://git.example.org/d%C3%A9p%C3%B4t"),
                    sha: s("1a61aeee7f593ec067612df1739ec905eab0450f"),
                },
            ),
            (
                "#forward maintainer@upstream.example",
                Command::Forward(s("maintainer@upstream.example")),
            ),
            (
                "#remind 2026-12-01 check that 1.4.2 shipped",
                Command::Remind {
                    when: When::Date(date(2026, 12, 1)),
                    text: s("check that 1.4.2 shipped"),
                },
            ),
            (
                "#remind +3d ping Erin",
                Command::Remind {
                    when: When::DaysFromNow(3),
                    text: s("ping Erin"),
                },
            ),
            ("#fixed", Command::Fixed),
            ("#publish", Command::Publish { now: false }),
            ("#publish NOW", Command::Publish { now: true }),
            ("#close", Command::Close),
            ("#reopen", Command::Reopen),
            ("#spam", Command::Spam),
            ("#NotSpam", Command::NotSpam),
            ("#show", Command::Show),
            ("#help", Command::Help),
            (
                "#case SEC-2026-0042",
                Command::Case(CaseId::new("SEC", 2026, 42)),
            ),
            ("#new", Command::New),
        ];
        for (line, want) in table {
            assert_eq!(one(line), Ok(want), "{line}");
        }
        // The two that take the text below the block.
        let body = "#details\n\nThe parser overflows.";
        assert_eq!(parsed(body), vec![Ok(Command::Details)]);
        let body = "#reply\nThanks, we are on it.";
        assert_eq!(parsed(body), vec![Ok(Command::Reply)]);
    }

    #[test]
    fn every_command_malformed_form() {
        let table: &[(&str, &str)] = &[
            (
                "#assign",
                "`#assign` needs `me` or an address — usage: #assign me or #assign alice@example.org",
            ),
            (
                "#assign bob",
                "`#assign` needs an address like alice@example.org, but got `bob` — usage: #assign me or #assign alice@example.org",
            ),
            (
                "#unassign bob",
                "`#unassign` takes no arguments, but got `bob` — usage: #unassign",
            ),
            (
                "#severity",
                "`#severity` needs one of low, medium, high, critical — usage: #severity high",
            ),
            (
                "#severity urgent",
                "`#severity` needs one of low, medium, high, critical, not `urgent` — usage: #severity high",
            ),
            (
                "#cvss 9.8",
                "`#cvss` needs a vector starting with CVSS:3.0/, CVSS:3.1/ or CVSS:4.0/, not `9.8` — usage: #cvss CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
            ),
            (
                "#cvss CVSS:2.0/AV:N/AC:L/Au:N/C:P/I:P/A:P",
                "`#cvss` needs a vector starting with CVSS:3.0/, CVSS:3.1/ or CVSS:4.0/, not `CVSS:2.0/AV:N/AC:L/Au:N/C:P/I:P/A:P` — usage: #cvss CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
            ),
            (
                "#cvss CVSS:3.1/AV:N/AC:L",
                "`#cvss` vector lacks the base metric(s) PR, UI, S, C, I, A — usage: #cvss CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
            ),
            (
                "#valid yes",
                "`#valid` takes no arguments, but got `yes` — usage: #valid",
            ),
            (
                "#invalid",
                "`#invalid` needs a reason — usage: #invalid not a security issue",
            ),
            (
                "#duplicate 7",
                "`#duplicate` needs a case id like SEC-2026-0007, but got `7` — usage: #duplicate SEC-2026-0007",
            ),
            (
                "#cve CVE-26-1",
                "`#cve` needs ids like CVE-2026-12345 or `requested`, but got `CVE-26-1` — usage: #cve CVE-2026-12345 or #cve requested",
            ),
            (
                "#cve",
                "`#cve` needs CVE ids or `requested` — usage: #cve CVE-2026-12345 or #cve requested",
            ),
            (
                "#cwe XSS",
                "`#cwe` needs a CWE id such as CWE-79, but got `XSS` — usage: #cwe CWE-79",
            ),
            (
                "#cwe CWE-0",
                "`#cwe` needs a CWE id such as CWE-79, but got `CWE-0` — usage: #cwe CWE-79",
            ),
            (
                "#summary",
                "`#summary` needs a one-line summary — usage: #summary Heap overflow in the config parser",
            ),
            (
                "#workaround",
                "`#workaround` needs a one-line workaround — usage: #workaround disable the XML importer",
            ),
            (
                "#reference FIX",
                "`#reference` needs a type and a URL — usage: #reference FIX https://git.example.org/proj/commit/abc123",
            ),
            (
                "#reference PATCH https://example.org",
                "`#reference` needs a type among ADVISORY, ARTICLE, DETECTION, DISCUSSION, REPORT, FIX, INTRODUCED, PACKAGE, EVIDENCE, WEB, not `PATCH` — usage: #reference FIX https://git.example.org/proj/commit/abc123",
            ),
            (
                "#reference FIX javascript:alert(1)",
                "`#reference` needs an http:// or https:// URL, not `javascript:alert(1)` — usage: #reference FIX https://git.example.org/proj/commit/abc123",
            ),
            (
                "#reference web https://exämple.org/x",
                "`#reference` the host `exämple.org` is not ASCII: give its ASCII form (xn--…) — usage: #reference FIX https://git.example.org/proj/commit/abc123",
            ),
            (
                "#details now",
                "`#details` takes no arguments, but got `now` — usage: #details, then the details below the commands",
            ),
            (
                "#preannounce 2027-1-10",
                "`#preannounce` needs a date as YYYY-MM-DD, but `2027-1-10` is not a valid date — usage: #preannounce 2027-01-10",
            ),
            (
                "#package",
                "`#package` needs a package name — usage: #package libfoo",
            ),
            (
                "#affected",
                "`#affected` needs a version range — usage: #affected >=1.0.0, <1.4.2",
            ),
            (
                "#fixed-in",
                "`#fixed-in` needs a version — usage: #fixed-in 1.4.2",
            ),
            (
                "#embargo 2027-02-30",
                "`#embargo` needs a date as YYYY-MM-DD, +Nd or none, but `2027-02-30` is not a valid date — usage: #embargo 2027-01-15 or #embargo +90d or #embargo none",
            ),
            (
                "#embargo +0d",
                "`#embargo` needs between +1d and +3650d, not `+0d` — usage: #embargo 2027-01-15 or #embargo +90d or #embargo none",
            ),
            (
                "#credit",
                "`#credit` needs a name or `anonymous` — usage: #credit Jane Doe or #credit anonymous or #credit coordinator Ann Lee",
            ),
            (
                "#bindings",
                "`#bindings` needs at least one function or module name — usage: #bindings Tar.extract Tar_unix.extract",
            ),
            (
                "#commit https://github.com/example/tar 1a61aee",
                "`#commit` `1a61aee` is not a full commit hash (40 hexadecimal digits) — usage: #commit https://github.com/example/tar 1a61aeee7f593ec067612df1739ec905eab0450f",
            ),
            (
                "#commit ftp://example.org/x 1a61aeee7f593ec067612df1739ec905eab0450f",
                "`#commit` `ftp://example.org/x` is not a git URL (https://, http:// or git://) — usage: #commit https://github.com/example/tar 1a61aeee7f593ec067612df1739ec905eab0450f",
            ),
            (
                "#reply to alice",
                "`#reply` takes no arguments, but got `to alice` — usage: #reply, then the message below the commands",
            ),
            (
                "#forward upstream",
                "`#forward` needs an address like alice@example.org, but got `upstream` — usage: #forward maintainer@upstream.example",
            ),
            (
                "#remind friday call Erin",
                "`#remind` needs a date (YYYY-MM-DD or +Nd) first, but `friday` is not a valid date — usage: #remind +7d ask upstream for a status",
            ),
            (
                "#remind +3d",
                "`#remind` needs a text after the date — usage: #remind +7d ask upstream for a status",
            ),
            (
                "#remind +99999d later",
                "`#remind` needs between +1d and +3650d, not `+99999d` — usage: #remind +7d ask upstream for a status",
            ),
            (
                "#fixed 1.4.2",
                "`#fixed` takes no arguments, but got `1.4.2` — usage: #fixed",
            ),
            (
                "#publish later",
                "`#publish` takes nothing or `now`, not `later` — usage: #publish or #publish now",
            ),
            (
                "#close now",
                "`#close` takes no arguments, but got `now` — usage: #close",
            ),
            (
                "#reopen it",
                "`#reopen` takes no arguments, but got `it` — usage: #reopen",
            ),
            (
                "#show all",
                "`#show` takes no arguments, but got `all` — usage: #show",
            ),
            (
                "#help me",
                "`#help` takes no arguments, but got `me` — usage: #help",
            ),
            (
                "#case foo",
                "`#case` needs a case id like SEC-2026-0007, but got `foo` — usage: #case SEC-2026-0007",
            ),
            (
                "#new case",
                "`#new` takes no arguments, but got `case` — usage: #new",
            ),
        ];
        for (line, want) in table {
            let got = one(line).expect_err(line).to_string();
            assert_eq!(got, *want, "{line}");
        }
        // Vectors the crate itself rejects: its words are passed on.
        let err = one("#cvss CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("`#cvss` got a vector that does not parse ("),
            "{err}"
        );
        let err = one("#cvss CVSS:4.0/AV:N/AC:L/AT:N/PR:N").unwrap_err();
        assert!(matches!(
            err,
            CommandError::Malformed {
                keyword: "cvss",
                ..
            }
        ));
    }

    #[test]
    fn unknown_keywords_get_suggestions() {
        let table: &[(&str, &str, Option<&str>)] = &[
            ("#asign me", "asign", Some("assign")),
            ("#sevrity high", "sevrity", Some("severity")),
            ("#SEVRITY high", "SEVRITY", Some("severity")),
            ("#fixedin 1.4.2", "fixedin", Some("fixed-in")),
            ("#emb 2027-01-01", "emb", Some("embargo")),
            ("#refrence FIX https://x.org", "refrence", Some("reference")),
            ("#thank you", "thank", Some("thanks")),
            ("#frobnicate", "frobnicate", None),
            ("#zz", "zz", None),
        ];
        for (line, keyword, suggestion) in table {
            assert_eq!(
                one(line),
                Err(CommandError::Unknown {
                    keyword: keyword.to_string(),
                    suggestion: *suggestion,
                }),
                "{line}"
            );
        }
        assert_eq!(
            one("#asign me").unwrap_err().to_string(),
            "unknown command `#asign` — did you mean `#assign`?"
        );
        assert_eq!(
            one("#frobnicate").unwrap_err().to_string(),
            "unknown command `#frobnicate` — `#help` lists the commands"
        );
    }

    /// Direction marks and embeddings around a command are dropped (a right-to-left
    /// client writes them); an override inside an address is not: `maint@x.\u{202E}ac`
    /// shows as `…ca` and would have forwarded the report to `…ac`.
    #[test]
    fn direction_marks_are_dropped_and_overrides_refused() {
        let body = parse_body("\u{202B}#assign me\u{202C}\n");
        assert_eq!(body.commands[0].parsed, Ok(Command::Assign(Assignee::Me)));
        let body = parse_body("#forward maint@project.\u{202E}ac\u{202C}\n");
        assert!(body.commands[0].parsed.is_err(), "{:?}", body.commands[0]);
    }

    #[test]
    fn typos_fixture_reports_each_line() {
        let body = parse_body(TYPOS);
        let shown: Vec<(usize, String)> = body
            .commands
            .iter()
            .map(|c| {
                let what = match &c.parsed {
                    Ok(cmd) => format!("ok {}", cmd.keyword()),
                    Err(e) => e.to_string(),
                };
                (c.line_no, what)
            })
            .collect();
        let want: Vec<(usize, String)> = vec![
            (1, "unknown command `#asign` — did you mean `#assign`?".into()),
            (2, "unknown command `#sevrity` — did you mean `#severity`?".into()),
            (
                3,
                "`#embargo` needs a date as YYYY-MM-DD, +Nd or none, but `2027-02-30` is not a valid date — usage: #embargo 2027-01-15 or #embargo +90d or #embargo none".into(),
            ),
            (4, "`#valid` takes no arguments, but got `extra` — usage: #valid".into()),
            (5, "unknown command `#frobnicate` — `#help` lists the commands".into()),
            (6, "ok severity".into()),
        ];
        assert_eq!(shown, want);
        assert_eq!(body.commands[5].text, "#Severity MEDIUM");
        assert_eq!(
            body.commands[5].parsed,
            Ok(Command::Severity(Severity::Medium))
        );
        assert_eq!(body.text, "Typos above on purpose.");
    }

    #[test]
    fn gmail_top_post_ignores_the_quoted_commands() {
        let body = parse_body(GMAIL);
        assert_eq!(
            parsed(GMAIL),
            vec![
                Ok(Command::Valid),
                Ok(Command::Severity(Severity::High)),
                Ok(Command::Assign(Assignee::Me)),
            ]
        );
        assert_eq!(line_nos(GMAIL), vec![1, 2, 3]);
        assert_eq!(
            body.text,
            "Thanks Alice, we can reproduce this on 1.4.1 and are working on a fix."
        );
    }

    #[test]
    fn crlf_bodies_parse_like_lf_bodies() {
        for fixture in [GMAIL, OUTLOOK_ORIGINAL, THUNDERBIRD_BOTTOM, APPLE_UNICODE] {
            let crlf = fixture.replace('\n', "\r\n");
            assert!(crlf.contains("\r\n"));
            assert_eq!(parse_body(&crlf), parse_body(fixture), "{fixture}");
            assert!(!parse_body(&crlf).text.contains('\r'));
        }
        // Old Mac line ends too.
        let cr = "#valid\r#close\rDone.";
        assert_eq!(parsed(cr), vec![Ok(Command::Valid), Ok(Command::Close)]);
        assert_eq!(parse_body(cr).text, "Done.");
    }

    #[test]
    fn outlook_original_message_cuts_the_rest() {
        let body = parse_body(OUTLOOK_ORIGINAL);
        assert_eq!(
            parsed(OUTLOOK_ORIGINAL),
            vec![
                Ok(Command::Severity(Severity::Critical)),
                Ok(cvss(
                    "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
                    9.8,
                    "critical"
                )),
                Ok(Command::Embargo(EmbargoSpec::Until(date(2027, 2, 1)))),
            ]
        );
        assert_eq!(
            body.text,
            "Confirmed on our side, the fix is in review.\n\nBest regards,\nDana"
        );
    }

    #[test]
    fn outlook_header_block_cuts_the_rest() {
        let body = parse_body(OUTLOOK_HEADERS);
        assert_eq!(
            parsed(OUTLOOK_HEADERS),
            vec![
                Ok(Command::Cve(CveCommand::Ids(vec![
                    "CVE-2026-12345".to_string(),
                    "CVE-2026-12346".to_string()
                ]))),
                Ok(Command::Cwe(787)),
                Ok(Command::FixedIn("1.4.2".to_string())),
            ]
        );
        assert_eq!(body.text, "We got the CVE ids from MITRE this morning.");
    }

    #[test]
    fn thunderbird_details_keep_headings_and_paragraphs() {
        let body = parse_body(THUNDERBIRD_DETAILS);
        assert_eq!(
            parsed(THUNDERBIRD_DETAILS),
            vec![
                Ok(Command::Details),
                Ok(Command::Summary("Heap overflow in the XML importer".into())),
            ]
        );
        assert_eq!(
            body.text,
            "## Impact\n\n\
             A crafted XML file makes the importer write past the end of a heap buffer.\n\
             Affected versions:\n\
             >=1.0.0, <1.4.2\n\n\
             # Patches\n\n\
             Fixed in 1.4.2. Users should upgrade.\n\n\
             #1 priority for distributors: backport commit abc123."
        );
    }

    #[test]
    fn thunderbird_bottom_post_reply_keeps_the_text_below_the_quote() {
        let body = parse_body(THUNDERBIRD_BOTTOM);
        assert_eq!(parsed(THUNDERBIRD_BOTTOM), vec![Ok(Command::Reply)]);
        assert_eq!(
            body.text,
            "Hi Alice,\n\nwe have a fix and plan to release 1.4.2 on 2027-01-15.\n\n\
             Thanks for your patience,\nCarol"
        );
    }

    #[test]
    fn apple_mail_with_non_ascii_and_nbsp() {
        let body = parse_body(APPLE_UNICODE);
        assert_eq!(
            parsed(APPLE_UNICODE),
            vec![
                Ok(Command::Credit(Credit::Name("Zoë Åström".into()))),
                Ok(Command::Summary("Überlauf im Parser".into())),
                Ok(Command::Severity(Severity::High)),
                Ok(Command::Package("libfoo".into())),
            ]
        );
        assert_eq!(body.commands[2].text, "#severity high");
        assert_eq!(body.text, "Danke, Zoë! Wir melden uns.");
    }

    #[test]
    fn forwarded_part_is_cut() {
        let body = parse_body(FORWARDED);
        assert_eq!(
            parsed(FORWARDED),
            vec![
                Ok(Command::Forward("erin@upstream.example".into())),
                Ok(Command::Remind {
                    when: When::DaysFromNow(7),
                    text: "ask upstream for a status".into()
                }),
            ]
        );
        assert_eq!(
            body.text,
            "Erin, forwarding this report to you under embargo until 2027-01-15."
        );
    }

    #[test]
    fn html_gmail_reply() {
        let text = html_to_text(HTML_GMAIL);
        assert_eq!(
            text,
            "#valid\n\
             #reference FIX https://git.example.org/libfoo/commit/abc123\n\n\
             Fix is merged & will ship in 1.4.2 <soon>.\n\n\
             > On Mon, 23 Nov 2026 at 10:00, Alice Reporter <alice@example.net> wrote:\n\n\
             > > #close\n\
             > > Any news?"
        );
        let body = parse_body(&text);
        assert_eq!(
            parsed(&text),
            vec![
                Ok(Command::Valid),
                Ok(Command::Reference {
                    kind: ReferenceKind::Fix,
                    url: "https://git.example.org/libfoo/commit/abc123".into()
                }),
            ]
        );
        assert_eq!(body.text, "Fix is merged & will ship in 1.4.2 <soon>.");
    }

    #[test]
    fn html_outlook_reply() {
        let text = html_to_text(HTML_OUTLOOK);
        assert_eq!(
            text,
            "#fixed\n#publish\n\nRelease 1.4.2 is out – see the changelog.\n\
             > From: Bob Maintainer <bob@upstream.example>\n\
             > Sent: Monday, November 23, 2026 10:00 AM\n\
             > To: security@example.org\n\
             > Subject: Re: [SEC-2026-0007] Heap overflow\n\n\
             > #close"
        );
        let body = parse_body(&text);
        assert_eq!(
            parsed(&text),
            vec![Ok(Command::Fixed), Ok(Command::Publish { now: false })]
        );
        assert_eq!(body.text, "Release 1.4.2 is out – see the changelog.");
    }

    #[test]
    fn at_most_max_commands_are_read_and_the_rest_is_one_failed_line() {
        let body = "#valid\n".repeat(150) + "the text";
        let parsed = parse_body(&body);
        assert_eq!(parsed.commands.len(), MAX_COMMANDS + 1);
        assert!(
            parsed.commands[..MAX_COMMANDS]
                .iter()
                .all(|c| c.parsed == Ok(Command::Valid))
        );
        let last = &parsed.commands[MAX_COMMANDS];
        assert_eq!(last.line_no, 101);
        assert_eq!(last.parsed, Err(CommandError::TooMany { ignored: 49 }));
        assert_eq!(parsed.text, "the text");
    }

    #[test]
    fn block_ends_at_headings_and_hash_digits() {
        let body = parse_body(BLOCK_END);
        assert_eq!(
            parsed(BLOCK_END),
            vec![Ok(Command::Valid), Ok(Command::Severity(Severity::Low))]
        );
        assert_eq!(line_nos(BLOCK_END), vec![2, 4]);
        assert_eq!(
            body.text,
            "# Heading right after the commands\n#close\n\n#1 priority: this is text too."
        );
        let body = parse_body("#1 thing\n#close");
        assert!(body.commands.is_empty());
        assert_eq!(body.text, "#1 thing\n#close");
        for text_line in ["#", "##close", "#!close", "# close", "#\u{a0}close"] {
            let body = parse_body(&format!("{text_line}\n#close"));
            assert!(body.commands.is_empty(), "{text_line:?}");
        }
    }

    #[test]
    fn thanks_ends_the_block() {
        let body = parse_body("#valid\n\n#Thanks\n#close\nBye");
        assert_eq!(
            parsed("#valid\n\n#Thanks\n#close\nBye"),
            vec![Ok(Command::Valid)]
        );
        assert_eq!(body.text, "#close\nBye");
        let body = parse_body("#thanks!\n#close");
        assert!(body.commands.is_empty());
        assert_eq!(body.text, "#close");
    }

    #[test]
    fn new_case_must_come_first() {
        let body = parse_body(NEW_CASE);
        assert_eq!(
            parsed(NEW_CASE),
            vec![
                Ok(Command::New),
                Ok(Command::Summary(
                    "Path traversal in the static file server".into()
                )),
                Ok(Command::Severity(Severity::Medium)),
                Ok(Command::Credit(Credit::Anonymous)),
            ]
        );
        assert_eq!(
            body.text,
            "Reported to us in person at FOSDEM; details below.\n\n\
             The handler joins the request path without normalizing `..`."
        );
        assert_eq!(
            parsed("\n\n#new\n#valid"),
            vec![Ok(Command::New), Ok(Command::Valid)]
        );
        let got = parsed("#valid\n#new");
        assert_eq!(got[0], Ok(Command::Valid));
        assert_eq!(
            got[1].as_ref().unwrap_err().to_string(),
            "`#new` must be the first command of the mail — usage: #new"
        );
    }

    #[test]
    fn details_and_reply_need_their_own_text() {
        assert_eq!(
            one("#details").unwrap_err().to_string(),
            "`#details` needs text below the commands — usage: #details, then the details below the commands"
        );
        assert_eq!(
            one("#reply\n\n> only a quote").unwrap_err().to_string(),
            "`#reply` needs text below the commands — usage: #reply, then the message below the commands"
        );
        let got = parsed("#details\n#reply\n\nSome text.");
        assert_eq!(
            got[0].as_ref().unwrap_err().to_string(),
            "`#details` cannot share the text below the commands with `#reply`; send each in its \
             own mail — usage: #details, then the details below the commands"
        );
        assert_eq!(
            got[1].as_ref().unwrap_err().to_string(),
            "`#reply` cannot share the text below the commands with `#details`; send each in its \
             own mail — usage: #reply, then the message below the commands"
        );
        // Words for the reporter never go to a maintainer with the report, nor the other
        // way round, whichever comes first; a forward without words takes none.
        for body in [
            "#forward dev@upstream.test\n#reply\n\nThanks, Alice; we keep your name out of it.",
            "#reply\n#forward dev@upstream.test\n\nThanks.",
            "#forward dev@upstream.test\n#details\n\nThe fix.",
        ] {
            let got = parsed(body);
            assert_eq!(got.len(), 2, "{body}: {got:?}");
            assert!(got.iter().all(Result::is_err), "{body}: {got:?}");
        }
        let got = parsed("#details\n#reply\n#publish\n\nThe final details.");
        assert_eq!(got.len(), 3, "{got:?}");
        assert!(got.iter().all(Result::is_err), "{got:?}");
        let got = parsed("#forward dev@upstream.test\n#assign me");
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(got.iter().all(Result::is_ok), "{got:?}");
        let got = parsed("#reply\n#reply\n\nTwice the same.");
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(got.iter().all(Result::is_ok), "{got:?}");
    }

    /// Details the quote stripping cut short (lines that look like a forward's headers,
    /// a `>>>` prompt) were published cut in the same mail; a signature alone is no cut.
    #[test]
    fn details_cut_short_are_not_published_in_the_same_mail() {
        let body = "#details\n#publish\n\nThe parser overflows on long input.\nPackage: example-parser@1.4.1\nAffected: < 1.4.2\nFixed: 1.4.2\n\nUpgrade to 1.4.2.";
        let got = parsed(body);
        assert!(got[0].is_ok(), "{got:?}");
        assert!(
            got[1]
                .as_ref()
                .is_err_and(|e| e.to_string().contains("the details were cut")),
            "{got:?}"
        );
        let signed = "#details\n#publish\n\nThe parser overflows on long input.\n-- \nAlice";
        let got = parsed(signed);
        assert!(got.iter().all(Result::is_ok), "{got:?}");
        // A quote within the details is theirs: dropped, it is a cut.
        let cited = "#details\n#publish\n\nUpstream's statement:\n> All versions before 1.4.2 are affected.\n\nWorkaround: disable X.";
        let got = parsed(cited);
        assert!(got[1].is_err(), "{got:?}");
        // Nor the quote under a reply, as every client writes it.
        let replied = "#details\n#publish\n\nThe parser overflows on long input.\n\nOn Mon, 23 Nov 2026 at 10:00, Security Team <security@example.org> wrote:\n> [SEC-2026-0001] New report\n> the report";
        let got = parsed(replied);
        assert!(got.iter().all(Result::is_ok), "{got:?}");
    }

    #[test]
    fn commands_after_text_or_in_quotes_are_not_read() {
        let body = parse_body("Hello team,\n#close\n");
        assert!(body.commands.is_empty());
        assert_eq!(body.text, "Hello team,\n#close");
        let body = parse_body("> #close\n>> #publish now\n");
        assert!(body.commands.is_empty());
        assert_eq!(body.text, "");
        let body = parse_body("");
        assert!(body.commands.is_empty());
        assert_eq!(body.text, "");
    }

    #[test]
    fn invisible_characters_do_not_hide_commands() {
        let body = parse_body("\u{feff}#valid\u{200b}\n  #severity\u{a0}\u{a0}high  \nok");
        assert_eq!(
            body.commands
                .iter()
                .map(|c| c.parsed.clone())
                .collect::<Vec<_>>(),
            vec![Ok(Command::Valid), Ok(Command::Severity(Severity::High))]
        );
        assert_eq!(body.commands[1].text, "#severity  high");
        assert_eq!(body.text, "ok");
    }

    /// A member typing in a CJK input method's full-width mode writes `＃ｃｌｏｓｅ`:
    /// the same command; the words after the keyword stay as written.
    #[test]
    fn full_width_commands_are_read() {
        let body =
            parse_body("＃ｓｅｖｅｒｉｔｙ high\n﹟close\n#ｓｕｍｍａｒｙ ＸＭＬの問題\n＃1 ok");
        assert_eq!(
            body.commands
                .iter()
                .map(|c| c.parsed.clone())
                .collect::<Vec<_>>(),
            vec![
                Ok(Command::Severity(Severity::High)),
                Ok(Command::Close),
                Ok(Command::Summary("ＸＭＬの問題".into())),
            ]
        );
        assert_eq!(body.text, "＃1 ok");
        // A line of Japanese text that begins with the mark is text, as before.
        for text in ["＃メモ\n再現できました。", "＃Ｃ言語の問題\nok"] {
            let body = parse_body(text);
            assert!(body.commands.is_empty(), "{text}: {:?}", body.commands);
            assert_eq!(body.text, text);
        }
    }

    #[test]
    fn keywords_help_and_usage_agree() {
        let spec_keywords: Vec<&str> = SPECS.iter().map(|s| s.keyword).collect();
        let mut keywords = KEYWORDS.to_vec();
        assert_eq!(keywords.pop(), Some("thanks"));
        assert_eq!(keywords, spec_keywords);
        let help = help_text();
        let flat = help.split_whitespace().collect::<Vec<_>>().join(" ");
        for spec in SPECS {
            assert!(help.contains(spec.synopsis), "{}", spec.keyword);
            let meaning = spec
                .meaning
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            assert!(flat.contains(&meaning), "{}", spec.keyword);
        }
        assert!(help.contains("\n  #severity low|medium|high|critical  set the severity\n"));
        assert!(help.contains(
            "\n  #cvss <CVSS:3.0/…, CVSS:3.1/… or CVSS:4.0/… vector>\n\
             \x20                                     store the vector and its score\n"
        ));
        for line in help.lines() {
            assert!(line.chars().count() <= HELP_WIDTH, "{line}");
        }
        assert_eq!(usage("severity"), "#severity high");
        assert_eq!(usage("#Fixed-In"), "#fixed-in 1.4.2");
        assert_eq!(usage("nope"), "#help");
        // Every usage example parses into its own command (details/reply need text).
        for spec in SPECS {
            let example = spec
                .usage
                .split(" or ")
                .next()
                .unwrap()
                .split(',')
                .next()
                .unwrap();
            let example = if spec.keyword == "affected" {
                spec.usage
            } else {
                example
            };
            let body = format!("{example}\n\ntext");
            let got = one(&body).unwrap_or_else(|e| panic!("{example}: {e}"));
            assert_eq!(got.keyword(), spec.keyword, "{example}");
        }
    }

    #[test]
    fn edit_distance_counts() {
        assert_eq!(edit_distance("asign", "assign"), 1);
        assert_eq!(edit_distance("sevrity", "severity"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("äb", "ab"), 1);
    }

    #[test]
    fn garbage_never_panics() {
        // A small deterministic generator over characters that exercise every branch.
        let alphabet: Vec<char> =
            "#<>&;:/@-+ \n\r\t\"'=!?abcdefgimnoprstuvwxyz0123456789\u{a0}\u{feff}éß😀_[]()*"
                .chars()
                .collect();
        let fragments = [
            "#cvss CVSS:4.0/",
            "#embargo +",
            "<blockquote>",
            "</blockquote>",
            "<script>",
            "&#x",
            "On 1 Jan 2026, X wrote:",
            "-----Original Message-----",
            "From: a\nSent: b\nTo: c",
            "-- \n",
            "#remind ",
            "#cve ",
            "#reference FIX http://",
        ];
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..3000 {
            let mut s = String::new();
            for _ in 0..(next() % 80) {
                let r = next();
                if r % 7 == 0 {
                    s.push_str(fragments[(r / 7) as usize % fragments.len()]);
                } else {
                    s.push(alphabet[r as usize % alphabet.len()]);
                }
            }
            let body = parse_body(&s);
            for c in &body.commands {
                assert!(c.line_no >= 1);
                if let Err(e) = &c.parsed {
                    assert!(!e.to_string().is_empty());
                }
            }
            let _ = strip_quoted(&s);
            let _ = parse_body(&html_to_text(&s));
        }
    }
}
