//! A desk on a real SQLite file with a hand-driven clock and no mail servers: mail goes
//! in as raw bytes, decisions come out as outbox rows. The conversation tests use it to
//! check whole exchanges as text.

use chrono::{DateTime, TimeZone, Utc};
use secdesk::clock::{Clock, ManualClock};
use secdesk::config::{Config, SecretSources};
use secdesk::outgoing::templates::Templates;
use secdesk::service::process::{Desk, Processed};
use secdesk::store::{Arrival, OutboxRow, Store};
use secdesk::types::{CaseId, Uid, UidValidity};
use std::collections::BTreeMap;

pub const DESK: &str = "security@example.org";
pub const ALICE: &str = "alice@example.org";
pub const BOB: &str = "bob@example.org";
pub const RITA: &str = "rita@reporter.test";

/// For the backlog tests, whose hundreds of reporters must all be acknowledged: lifts
/// the desk-wide acknowledgement limit (60 per hour by default).
pub const NO_DESK_ACK_LIMIT: &str = "[policy]\nack_rate_limit_total = \"100000 per hour\"\n";

/// The configuration used by the tests, with `extra` TOML appended to [policy] etc.
pub fn config_text(db: &str, imap_port: u16, smtp_port: u16, extra: &str) -> String {
    format!(
        r#"
[desk]
address = "{DESK}"
name = "Example Security Team"
database = "{db}"

[imap]
host = "127.0.0.1"
port = {imap_port}
tls = "none"
username = "{DESK}"
password_env = "TEST_IMAP_PASSWORD"
poll_interval = "1s"

[smtp]
host = "127.0.0.1"
port = {smtp_port}
tls = "none"

[team]
members = ["{ALICE}", "{BOB}"]
authserv_id = "mx.example.org"

[calendar]
timezone = "Europe/Paris"
holidays = ["2026-12-25", "2027-01-01"]

[publish]
announce = "announce@example.org"
advisory_prefix = "OSEC"
{extra}
"#
    )
}

pub fn secrets() -> SecretSources {
    let mut env = BTreeMap::new();
    env.insert("TEST_IMAP_PASSWORD".to_string(), "secret".to_string());
    SecretSources {
        credentials_directory: None,
        env,
        required: true,
    }
}

pub fn config(db: &str, extra: &str) -> Config {
    Config::from_toml(&config_text(db, 143, 25, extra), &secrets())
        .unwrap_or_else(|p| panic!("{p:?}"))
}

/// Monday 23 November 2026, 10:00 in Paris.
pub fn monday_10() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap()
}

pub struct World {
    pub _dir: tempfile::TempDir,
    pub desk: Desk,
    pub store: Store,
    pub clock: ManualClock,
    uid: u32,
    seen_outbox: i64,
}

impl World {
    pub fn new() -> World {
        World::with(monday_10(), "")
    }

    pub fn with(start: DateTime<Utc>, extra: &str) -> World {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("desk.db");
        let config = config(db.to_str().unwrap(), extra);
        let store = Store::open(&db).unwrap();
        let desk = Desk::new(config, Templates::load(None).unwrap());
        World {
            _dir: dir,
            desk,
            store,
            clock: ManualClock::new(start),
            uid: 0,
            seen_outbox: 0,
        }
    }

    /// Delivers a mail into the desk as ingest would: stored raw, then processed.
    pub fn deliver(&mut self, raw: &str) -> Processed {
        self.deliver_bytes(raw.as_bytes())
    }

    /// [`World::deliver`] for bytes that need not be UTF-8.
    pub fn deliver_bytes(&mut self, raw: &[u8]) -> Processed {
        self.uid += 1;
        self.deliver_as(self.uid, raw, Arrival::Live)
    }

    /// Stores `raw` under `uid` as it arrived (live, or as history: found at the first
    /// start, or imported), then processes it.
    pub fn deliver_as(&mut self, uid: u32, raw: &[u8], arrival: Arrival) -> Processed {
        let now = self.clock.now();
        let id = self
            .store
            .write(|tx| {
                tx.insert_raw(
                    ("INBOX", UidValidity(1), Uid(uid)),
                    raw,
                    now,
                    arrival,
                    false,
                )
            })
            .unwrap()
            .unwrap();
        self.desk.process(&mut self.store, id, now).unwrap()
    }

    /// Outbox rows queued since the last call.
    /// The first mail of `purpose` in the outbox, whatever its state (seen or not).
    pub fn first_queued(&mut self, purpose: &str) -> OutboxRow {
        self.store
            .read(|tx| tx.outbox_all())
            .unwrap()
            .into_iter()
            .find(|r| r.purpose.as_str() == purpose)
            .unwrap_or_else(|| panic!("no {purpose} in the outbox"))
    }

    pub fn new_mail(&mut self) -> Vec<OutboxRow> {
        let rows: Vec<OutboxRow> = self
            .store
            .read(|tx| tx.outbox_all())
            .unwrap()
            .into_iter()
            .filter(|r| r.id > self.seen_outbox)
            .collect();
        if let Some(last) = rows.last() {
            self.seen_outbox = last.id;
        }
        rows
    }

    /// A configuration file for the binary, on this world's database, with `extra` (the
    /// desks) added; the world keeps it.
    pub fn config_file(&self, extra: &str) -> std::path::PathBuf {
        let db = self.desk.config.desk.database.clone();
        let cfg = self._dir.path().join("config.toml");
        std::fs::write(&cfg, config_text(db.to_str().unwrap(), 143, 25, extra)).unwrap();
        cfg
    }

    /// Records `rows` as sent now, as the mailer does once the server took them.
    pub fn mark_sent(&mut self, rows: &[OutboxRow]) {
        let now = self.clock.now();
        for r in rows {
            self.store.write(|tx| tx.mark_sent(r.id, now)).unwrap();
        }
    }

    pub fn case(&mut self, id: &str) -> secdesk::desk::case::Case {
        let id = CaseId::parse(id).unwrap();
        self.store.read(|tx| tx.load_case(&id)).unwrap().unwrap()
    }

    /// The timeline of the case `id`.
    pub fn events(&mut self, id: &str) -> Vec<secdesk::desk::case::Event> {
        let id = CaseId::parse(id).unwrap();
        self.store.read(|tx| tx.events(&id)).unwrap()
    }

    pub fn cases(&mut self) -> Vec<String> {
        self.store
            .read(|tx| tx.list_cases(false))
            .unwrap()
            .into_iter()
            .map(|s| {
                format!(
                    "{} {} {} mails: {}",
                    s.case.id, s.case.status, s.messages, s.case.subject
                )
            })
            .collect()
    }

    /// Runs the scheduler at the clock's instant.
    pub fn run_due(&mut self) -> Vec<secdesk::service::scheduler::Fired> {
        let now = self.clock.now();
        secdesk::service::scheduler::run_due(&self.desk, &mut self.store, now).unwrap()
    }
}

/// Whether `p` filed its mail as `kind`, on a case it `opened` or on one it found.
pub fn filed_as(p: &Processed, opened: bool, kind: secdesk::desk::MessageKind) -> bool {
    matches!(p, Processed::Filed { opened: o, kind: k, .. } if *o == opened && *k == kind)
}

/// `filed_as`, having queued `outgoing` mails.
pub fn filed_with(
    p: &Processed,
    opened: bool,
    kind: secdesk::desk::MessageKind,
    outgoing: usize,
) -> bool {
    filed_as(p, opened, kind) && matches!(p, Processed::Filed { outgoing: n, .. } if *n == outgoing)
}

/// The id of the case `p` opened; panics when it opened none.
pub fn opened(p: &Processed) -> String {
    match p {
        Processed::Filed {
            case, opened: true, ..
        } => case.to_string(),
        other => panic!("no case opened: {other:?}"),
    }
}

/// The first mail of `purpose` among `rows`; panics naming the mail there is.
pub fn first<'a>(rows: &'a [OutboxRow], purpose: &str) -> &'a OutboxRow {
    rows.iter()
        .find(|r| r.purpose.as_str() == purpose)
        .unwrap_or_else(|| panic!("no {purpose} mail among: {}", summarize(rows)))
}

/// One line per outgoing mail: purpose, recipients, subject.
pub fn summarize(rows: &[OutboxRow]) -> String {
    rows.iter()
        .map(|r| {
            format!(
                "{} -> {} | {}",
                r.purpose.as_str(),
                r.recipients.join(","),
                header(&r.bytes, "Subject").unwrap_or_default()
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The text of the attachment `name` of a raw mail.
pub fn attachment(raw: &[u8], name: &str) -> String {
    use mail_parser::MimeHeaders;
    let parsed = mail_parser::MessageParser::default().parse(raw).unwrap();
    let a = parsed
        .attachments()
        .find(|a| a.attachment_name() == Some(name))
        .unwrap_or_else(|| panic!("no attachment {name}"));
    String::from_utf8_lossy(a.contents()).into_owned()
}

/// The mail's header `name` is `want`.
pub fn assert_header(raw: &[u8], name: &str, want: &str) {
    assert_eq!(header(raw, name).as_deref(), Some(want), "{name}");
}

/// The unfolded value of a header of a raw mail (first occurrence).
pub fn header(raw: &[u8], name: &str) -> Option<String> {
    let text = String::from_utf8_lossy(raw);
    let head = text.split("\r\n\r\n").next().unwrap_or("");
    let mut value: Option<String> = None;
    let mut capturing = false;
    for line in head.split("\r\n") {
        if capturing && (line.starts_with(' ') || line.starts_with('\t')) {
            if let Some(v) = value.as_mut() {
                v.push(' ');
                v.push_str(line.trim());
            }
            continue;
        }
        if capturing {
            break;
        }
        if let Some((n, v)) = line.split_once(':')
            && n.eq_ignore_ascii_case(name)
        {
            value = Some(v.trim().to_string());
            capturing = true;
        }
    }
    value.map(|v| decode_words(&v))
}

/// Decodes RFC 2047 words well enough for assertions (via mail-parser).
fn decode_words(v: &str) -> String {
    let raw = format!("Subject: {v}\r\n\r\n");
    mail_parser::MessageParser::default()
        .parse(raw.as_bytes())
        .and_then(|m| m.subject().map(str::to_string))
        .unwrap_or_else(|| v.to_string())
}

/// The decoded text body of a raw mail.
pub fn body(raw: &[u8]) -> String {
    mail_parser::MessageParser::default()
        .parse(raw)
        .and_then(|m| m.body_text(0).map(|t| t.replace("\r\n", "\n")))
        .unwrap_or_default()
}

/// A reporter's mail.
/// The bytes of the mail attached (`message/rfc822`) to `notice`.
/// (An attached mail that is not 7-bit as it is goes as a base64 file, `original.eml`:
/// its bytes are then the part's decoded contents.)
pub fn attached_mail(notice: &[u8]) -> Vec<u8> {
    use mail_parser::MimeHeaders;
    let parsed = mail_parser::MessageParser::default().parse(notice).unwrap();
    parsed
        .attachments()
        .find_map(|a| match a.message() {
            Some(m) => Some(m.raw_message().to_vec()),
            None => (a.attachment_name() == Some("original.eml")).then(|| a.contents().to_vec()),
        })
        .expect("the original mail is attached")
}

/// A delivery report from a member's server (`mx.example.org`, its own Message-ID
/// `<{n}@mx.example.org>`) saying the desk's mail `id` (bracketed) was refused for good.
pub fn refusal_of(n: &str, id: &str) -> String {
    format!(
        "From: MAILER-DAEMON@mx.example.org\r\nTo: {DESK}\r\nSubject: Undelivered Mail Returned to Sender\r\nMessage-ID: <{n}@mx.example.org>\r\nIn-Reply-To: {id}\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\nAction: failed\r\nStatus: 5.7.1\r\n--b\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: {id}\r\n--b--\r\n"
    )
}

pub fn report(id: &str, subject: &str, text: &str) -> String {
    format!(
        "From: Rita Reporter <{RITA}>\r\nTo: {DESK}\r\nSubject: {subject}\r\nMessage-ID: <{id}>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0100\r\n\r\n{text}\r\n"
    )
}

/// A team member's mail, authenticated by the configured server unless `auth` says otherwise.
pub fn team_mail(
    from: &str,
    id: &str,
    in_reply_to: Option<&str>,
    subject: &str,
    auth: Option<&str>,
    body: &str,
) -> String {
    let domain = from.rsplit('@').next().unwrap_or("");
    let auth_header = match auth {
        Some(a) => format!("Authentication-Results: {a}\r\n"),
        None => format!(
            "Authentication-Results: mx.example.org; dkim=pass header.d={domain} header.s=s1; spf=pass\r\n"
        ),
    };
    let threading = match in_reply_to {
        Some(p) => format!("In-Reply-To: <{p}>\r\nReferences: <{p}>\r\n"),
        None => String::new(),
    };
    format!(
        "{auth_header}From: {from}\r\nTo: {DESK}\r\nSubject: {subject}\r\nMessage-ID: <{id}>\r\n{threading}\r\n{body}\r\n"
    )
}

impl World {
    pub fn clock_now(&self) -> DateTime<Utc> {
        self.clock.now()
    }
}

/// An instant given in Paris local time.
pub fn paris(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    chrono_tz::Europe::Paris
        .with_ymd_and_hms(y, m, d, h, min, 0)
        .unwrap()
        .with_timezone(&Utc)
}

impl World {
    /// Rita reports `subject`; returns the Message-ID of the team's notice (what members
    /// reply to). The mail it queued is taken.
    pub fn open_case(&mut self, subject: &str) -> String {
        self.open_report("r1@reporter.test", subject, "The parser overflows.")
    }

    /// Rita reports `subject` in the mail `id`; returns the Message-ID of the team's
    /// notice, which is taken.
    pub fn open_report(&mut self, id: &str, subject: &str, text: &str) -> String {
        self.deliver(&report(id, subject, text));
        self.take("team-notice").message_id.to_string()
    }

    /// A team member's authenticated reply to `parent` (a Message-ID without `<>`).
    pub fn command(&mut self, from: &str, id: &str, parent: &str, body: &str) -> Processed {
        self.deliver(&team_mail(from, id, Some(parent), "Re: x", None, body))
    }

    /// The first of the mails queued since the last look with this purpose; the others
    /// queued with it are taken too.
    pub fn take(&mut self, purpose: &str) -> OutboxRow {
        first(&self.new_mail(), purpose).clone()
    }
}

impl World {
    /// Rebuilds the desk from the test configuration as edited by `edit` (same database).
    pub fn reconfigure(&mut self, edit: impl Fn(String) -> String) {
        let db = self.desk.config.desk.database.to_str().unwrap().to_string();
        let config = Config::from_toml(&edit(config_text(&db, 143, 25, "")), &secrets())
            .unwrap_or_else(|p| panic!("{p:?}"));
        self.desk = Desk::new(config, Templates::load(None).unwrap());
    }
}

/// `secdesk --config <config> <args>` through the real binary: whether it succeeded,
/// its stdout and its stderr.
pub fn secdesk(config: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_secdesk"))
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}
