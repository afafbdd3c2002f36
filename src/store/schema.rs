//! The database schema as an append-only list of migrations. A released migration is
//! never edited: a change is a new entry. `PRAGMA user_version` records how many ran.

pub const MIGRATIONS: &[&str] = &[
    // 1: the spine.
    r#"
CREATE TABLE imap_cursor (
    mailbox      TEXT    NOT NULL PRIMARY KEY,
    uidvalidity  INTEGER NOT NULL,
    last_uid     INTEGER NOT NULL
) STRICT;

-- The raw bytes of every fetched mail, stored before anything else is done with it.
CREATE TABLE raw_mail (
    id           INTEGER PRIMARY KEY,
    mailbox      TEXT    NOT NULL,
    uidvalidity  INTEGER NOT NULL,
    uid          INTEGER NOT NULL,
    fetched_at   TEXT    NOT NULL,
    bytes        BLOB    NOT NULL,
    -- pending: not processed yet; processed: on a case; duplicate: same Message-ID seen.
    state        TEXT    NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'processed', 'duplicate')),
    processed_at TEXT,
    message_id   TEXT,
    -- 1 once the server has been told the mail is done.
    flagged      INTEGER NOT NULL DEFAULT 0 CHECK (flagged IN (0, 1)),
    UNIQUE (mailbox, uidvalidity, uid)
) STRICT;
CREATE INDEX raw_mail_pending ON raw_mail (state) WHERE state = 'pending';
CREATE INDEX raw_mail_unflagged ON raw_mail (mailbox, uidvalidity) WHERE flagged = 0;

CREATE TABLE cases (
    id              TEXT    NOT NULL PRIMARY KEY,
    year            INTEGER NOT NULL,
    seq             INTEGER NOT NULL,
    subject         TEXT    NOT NULL,
    reporter        TEXT,
    reporter_name   TEXT,
    status          TEXT    NOT NULL CHECK (status IN ('new', 'valid', 'fixed', 'published', 'closed')),
    opened_at       TEXT    NOT NULL,
    root_message_id TEXT    NOT NULL,
    assignee        TEXT,
    severity        TEXT    CHECK (severity IN ('low', 'medium', 'high', 'critical')),
    cvss_vector     TEXT,
    cvss_score      REAL,
    cves            TEXT    NOT NULL DEFAULT '[]',
    cve_requested   INTEGER NOT NULL DEFAULT 0,
    cwes            TEXT    NOT NULL DEFAULT '[]',
    summary         TEXT,
    details         TEXT,
    workaround      TEXT,
    refs            TEXT    NOT NULL DEFAULT '[]',
    package         TEXT,
    affected        TEXT,
    fixed_in        TEXT,
    credit          TEXT,
    credit_anonymous INTEGER NOT NULL DEFAULT 0,
    embargo_end     TEXT,
    preannounce     TEXT,
    first_reply_at  TEXT,
    last_reply_at   TEXT,
    duplicate_of    TEXT,
    close_reason    TEXT,
    fixed_at        TEXT,
    published_at    TEXT,
    advisory_id     TEXT UNIQUE,
    upstream        TEXT    NOT NULL DEFAULT '[]',
    UNIQUE (year, seq)
) STRICT;

-- Every message a case has seen or sent: the threading index.
CREATE TABLE messages (
    id          INTEGER PRIMARY KEY,
    message_id  TEXT    NOT NULL UNIQUE,
    case_id     TEXT    NOT NULL REFERENCES cases (id),
    direction   TEXT    NOT NULL CHECK (direction IN ('in', 'out')),
    at          TEXT    NOT NULL,
    from_addr   TEXT    NOT NULL,
    subject     TEXT    NOT NULL,
    raw_id      INTEGER REFERENCES raw_mail (id),
    outbox_id   INTEGER REFERENCES outbox (id),
    -- what the message was: report, reporter, team, upstream, other, automatic, unreadable, or an outbox purpose
    kind        TEXT    NOT NULL
) STRICT;
CREATE INDEX messages_case ON messages (case_id, at);

-- The ids each stored message points at, for the reverse link of threading.
CREATE TABLE message_refs (
    message_row   INTEGER NOT NULL REFERENCES messages (id),
    referenced_id TEXT    NOT NULL,
    case_id       TEXT    NOT NULL REFERENCES cases (id),
    PRIMARY KEY (message_row, referenced_id)
) STRICT;
CREATE INDEX message_refs_referenced ON message_refs (referenced_id);

CREATE TABLE events (
    id          INTEGER PRIMARY KEY,
    case_id     TEXT    NOT NULL REFERENCES cases (id),
    at          TEXT    NOT NULL,
    actor       TEXT    NOT NULL,
    kind        TEXT    NOT NULL,
    detail      TEXT    NOT NULL,
    public      INTEGER NOT NULL DEFAULT 0 CHECK (public IN (0, 1)),
    message_id  TEXT
) STRICT;
CREATE INDEX events_case ON events (case_id, id);

-- Mail waiting to leave. The bytes are final: a retry resends the same message.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    case_id         TEXT    REFERENCES cases (id),
    purpose         TEXT    NOT NULL,
    message_id      TEXT    NOT NULL UNIQUE,
    envelope_from   TEXT    NOT NULL,
    recipients      TEXT    NOT NULL,
    -- the first recipient, lower-cased: what the ack rate limit counts by
    primary_rcpt    TEXT    NOT NULL,
    bytes           BLOB    NOT NULL,
    created_at      TEXT    NOT NULL,
    state           TEXT    NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT    NOT NULL,
    last_error      TEXT,
    sent_at         TEXT
) STRICT;
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE state = 'pending';
CREATE INDEX outbox_rate ON outbox (purpose, primary_rcpt, created_at);

-- Reminders planned for the future. `scope` is a case id, or '*' for the team digest.
-- Sent exactly once: the claim, the outbox row and state = 'sent' share one transaction.
CREATE TABLE reminders (
    id          INTEGER PRIMARY KEY,
    scope       TEXT    NOT NULL,
    kind        TEXT    NOT NULL,
    due_at      TEXT    NOT NULL,
    deadline_at TEXT    NOT NULL,
    note        TEXT    NOT NULL DEFAULT '',
    state       TEXT    NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'cancelled')),
    sent_at     TEXT,
    late        INTEGER NOT NULL DEFAULT 0 CHECK (late IN (0, 1)),
    UNIQUE (scope, kind, due_at, note)
) STRICT;
CREATE INDEX reminders_due ON reminders (due_at) WHERE state = 'pending';
"#,
    // 2: mail found in a mailbox the first time the desk opens it is history: filed,
    // never answered. Decided when the raw bytes are stored, so a crash cannot change it.
    r#"
ALTER TABLE raw_mail ADD COLUMN history INTEGER NOT NULL DEFAULT 0 CHECK (history IN (0, 1));
"#,
    // 3: the spam state. Widening a CHECK changes nothing on disk, so the table's
    // definition is edited in place (SQLite's documented procedure for such changes);
    // the migration runner bumps schema_version so every connection reloads it.
    r#"
PRAGMA writable_schema = ON;
UPDATE sqlite_schema
   SET sql = replace(sql, '''published'', ''closed''))', '''published'', ''closed'', ''spam''))')
 WHERE type = 'table' AND name = 'cases';
PRAGMA writable_schema = OFF;
"#,
    // 4: a mail whose processing keeps failing is set aside after a few attempts; the
    // attempt is counted before it is made, so a mail that crashes the desk counts too.
    r#"
ALTER TABLE raw_mail ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE raw_mail ADD COLUMN last_error TEXT;
"#,
    // 5: advisories a database can merge unedited (§5a): more packages, credits by
    // role, affected bindings, fixing commits (JSON lists, like `refs`); the push of
    // a published advisory to the advisory repository, retried like mail.
    r#"
ALTER TABLE cases ADD COLUMN extra_packages TEXT NOT NULL DEFAULT '[]';
ALTER TABLE cases ADD COLUMN credits TEXT NOT NULL DEFAULT '[]';
ALTER TABLE cases ADD COLUMN bindings TEXT NOT NULL DEFAULT '[]';
ALTER TABLE cases ADD COLUMN fix_commits TEXT NOT NULL DEFAULT '[]';
ALTER TABLE cases ADD COLUMN advisory_changed_at TEXT;
CREATE TABLE advisory_pushes (
    id              INTEGER PRIMARY KEY,
    case_id         TEXT    NOT NULL,
    branch          TEXT    NOT NULL UNIQUE,
    state           TEXT    NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'pushed', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT    NOT NULL,
    last_error      TEXT,
    pushed_at       TEXT
) STRICT;
"#,
    // 6: many desks in one file. A case belongs to one desk ('' = the top-level desk);
    // a case handed to another desk (#move) takes a new id and leaves an alias, so mail
    // naming the old id still threads to it.
    r#"
ALTER TABLE cases ADD COLUMN desk TEXT NOT NULL DEFAULT '';
CREATE INDEX cases_desk ON cases (desk);
CREATE TABLE case_aliases (
    old_id   TEXT NOT NULL PRIMARY KEY,
    case_id  TEXT NOT NULL REFERENCES cases (id),
    moved_at TEXT NOT NULL
) STRICT;
"#,
    // 7: an index for every lookup made per mail or per send, so their cost does not
    // grow with the tables; and the outbox's claim order (acknowledgements first).
    r#"
-- count_events_since (the alert rate limit, read for every mail).
CREATE INDEX events_kind_at ON events (kind, at);
-- `secdesk cases --open`: the open cases without reading the closed ones.
CREATE INDEX cases_open ON cases (year, seq) WHERE status NOT IN ('published', 'closed', 'spam');
-- The mails to flag done (processed, not flagged), read after every batch: without it
-- SQLite walks every row of the mailbox through the UNIQUE index.
CREATE INDEX raw_mail_to_flag ON raw_mail (mailbox, uidvalidity, uid) WHERE flagged = 0 AND state != 'pending';
-- `secdesk case ID`: its outbox rows.
CREATE INDEX outbox_case ON outbox (case_id);
-- 0 is claimed before 1: acknowledgements before team notices and the rest.
ALTER TABLE outbox ADD COLUMN priority INTEGER NOT NULL DEFAULT 1 CHECK (priority IN (0, 1));
UPDATE outbox SET priority = 0 WHERE purpose = 'ack';
CREATE INDEX outbox_claim ON outbox (priority, next_attempt_at, id) WHERE state = 'pending';
"#,
    // 8: the last number given in each case-id series (prefix, year), so a new case id is
    // one lookup instead of a scan of the year's cases. Filled from the ids on file and
    // the old ids of moved cases, which are never given again.
    r#"
CREATE TABLE case_counters (
    prefix TEXT    NOT NULL,
    year   INTEGER NOT NULL,
    last   INTEGER NOT NULL,
    PRIMARY KEY (prefix, year)
) STRICT;
INSERT INTO case_counters (prefix, year, last)
SELECT substr(i, 1, instr(i, '-') - 1),
       CAST(substr(i, instr(i, '-') + 1, 4) AS INTEGER),
       MAX(CAST(substr(i, instr(i, '-') + 6) AS INTEGER))
  FROM (SELECT id AS i FROM cases UNION ALL SELECT old_id FROM case_aliases)
 GROUP BY 1, 2;
"#,
    // 9: `secdesk cases --spam` reads the spam cases without reading every case, as
    // `cases --open` does through `cases_open`.
    r#"
CREATE INDEX cases_spam ON cases (year, seq) WHERE status = 'spam';
"#,
    // 10: acknowledgements queued per minute, for the desk-wide limit read for every
    // report: a sum over the window's minutes instead of a count of its acknowledgements
    // (which a busy hour made grow with every report). Filled from the outbox.
    r#"
CREATE TABLE ack_counts (
    minute TEXT    PRIMARY KEY,   -- "YYYY-MM-DDTHH:MM", UTC, as the outbox's instants begin
    n      INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
INSERT INTO ack_counts (minute, n)
SELECT substr(created_at, 1, 16), COUNT(*) FROM outbox WHERE purpose = 'ack' GROUP BY 1;
"#,
    // 11: a CHECK of a list of three values or more (`state IN ('pending', 'sent',
    // 'failed')`) had SQLite build a temporary table of the list at every insert or
    // update of the row: twenty of them for each report filed. The same checks as
    // comparisons, edited in place like migration 3 (nothing on disk changes).
    r#"
PRAGMA writable_schema = ON;
UPDATE sqlite_schema
   SET sql = replace(sql, 'CHECK (state IN (''pending'', ''processed'', ''duplicate''))',
                          'CHECK (state = ''pending'' OR state = ''processed'' OR state = ''duplicate'')')
 WHERE type = 'table' AND name = 'raw_mail';
UPDATE sqlite_schema
   SET sql = replace(sql, 'CHECK (status IN (''new'', ''valid'', ''fixed'', ''published'', ''closed'', ''spam''))',
                          'CHECK (status = ''new'' OR status = ''valid'' OR status = ''fixed'' OR status = ''published'' OR status = ''closed'' OR status = ''spam'')')
 WHERE type = 'table' AND name = 'cases';
UPDATE sqlite_schema
   SET sql = replace(sql, 'CHECK (severity IN (''low'', ''medium'', ''high'', ''critical''))',
                          'CHECK (severity = ''low'' OR severity = ''medium'' OR severity = ''high'' OR severity = ''critical'')')
 WHERE type = 'table' AND name = 'cases';
UPDATE sqlite_schema
   SET sql = replace(sql, 'CHECK (state IN (''pending'', ''sent'', ''failed''))',
                          'CHECK (state = ''pending'' OR state = ''sent'' OR state = ''failed'')')
 WHERE type = 'table' AND name = 'outbox';
UPDATE sqlite_schema
   SET sql = replace(sql, 'CHECK (state IN (''pending'', ''sent'', ''cancelled''))',
                          'CHECK (state = ''pending'' OR state = ''sent'' OR state = ''cancelled'')')
 WHERE type = 'table' AND name = 'reminders';
UPDATE sqlite_schema
   SET sql = replace(sql, 'CHECK (state IN (''pending'', ''pushed'', ''failed''))',
                          'CHECK (state = ''pending'' OR state = ''pushed'' OR state = ''failed'')')
 WHERE type = 'table' AND name = 'advisory_pushes';
PRAGMA writable_schema = OFF;
"#,
    // 12: the open-cases index's condition as comparisons too (`status NOT IN (...)` built
    // its list at every insert of a case and every change of its status). The condition
    // is the same for every row (the status is never NULL), so the index's entries are.
    r#"
PRAGMA writable_schema = ON;
UPDATE sqlite_schema
   SET sql = replace(sql, 'WHERE status NOT IN (''published'', ''closed'', ''spam'')',
                          'WHERE status <> ''published'' AND status <> ''closed'' AND status <> ''spam''')
 WHERE type = 'index' AND name = 'cases_open';
PRAGMA writable_schema = OFF;
"#,
    // 13: the reverse link of threading (which stored message first pointed at this id)
    // reads one index entry: on `referenced_id` alone, SQLite read and sorted every
    // message pointing at the id, as many as a sender cares to write.
    r#"
DROP INDEX message_refs_referenced;
CREATE INDEX message_refs_referenced ON message_refs (referenced_id, message_row);
"#,
    // 14: a case's recent events (what loop protection counts for every mail on it) are
    // read without reading its whole history.
    r#"
CREATE INDEX events_case_at ON events (case_id, at);
"#,
    // 15: the team's alerts about mail on no case (forged commands naming none), counted
    // for the hourly alert budget without reading the rest of the outbox.
    r#"
CREATE INDEX outbox_caseless_notices ON outbox (created_at)
 WHERE case_id IS NULL AND purpose = 'team-notice';
"#,
    // 16: a mail's bytes in a table of their own. SQLite writes a row whole at every
    // update: marking a mail processed, counting an attempt or flagging it done wrote
    // the whole mail again (to the WAL, then to the file at the checkpoint), a second
    // and third copy of every report filed. The bytes are now written once, and the
    // small row they belong to changes on its own.
    r#"
CREATE TABLE raw_bodies (
    raw_id INTEGER PRIMARY KEY REFERENCES raw_mail (id),
    bytes  BLOB    NOT NULL
) STRICT;
INSERT INTO raw_bodies (raw_id, bytes) SELECT id, bytes FROM raw_mail;
ALTER TABLE raw_mail DROP COLUMN bytes;
"#,
    // 17: a mail carrying the report it is about (a team notice with the original
    // attached) refers to the report's bytes instead of holding a copy for each member:
    // `bytes` is the mail without them, and they go back in at `original_at`, encoded,
    // when the mail is read to be sent (`outgoing::Original`).
    r#"
ALTER TABLE outbox ADD COLUMN original_raw_id INTEGER REFERENCES raw_bodies (raw_id);
ALTER TABLE outbox ADD COLUMN original_at INTEGER;
ALTER TABLE outbox ADD COLUMN original_encoding TEXT
    CHECK (original_encoding = 'as-is' OR original_encoding = 'crlf' OR original_encoding = 'base64');
"#,
    // 18: when the next pending mail is due is read from `outbox_claim`, the first entry
    // of each priority (`Tx::next_outbox_due`): `outbox_due` kept the same instants a
    // second time, and every mail queued, claimed and sent wrote to both (issue 12).
    r#"
DROP INDEX outbox_due;
"#,
    // 19: an index holds the rows a query reads, and no others (issue 12). Every report
    // filed wrote six entries nobody read (seven writes): its case's desk (no query
    // selects cases by desk), its mail in a second list of unflagged mail
    // (`raw_mail_to_flag` answers the only query, and the entry was written and deleted
    // again), its two team notices in the acknowledgement rate limit's index, and its
    // two events in the alert rate limit's (which counts three kinds). The two limits'
    // indexes now hold those rows alone; their queries name the kind
    // (`Tx::count_acks_to_mailbox`, `count_events_sql`).
    r#"
DROP INDEX cases_desk;
DROP INDEX raw_mail_unflagged;
DROP INDEX outbox_rate;
CREATE INDEX outbox_acks ON outbox (primary_rcpt, created_at) WHERE purpose = 'ack';
DROP INDEX events_kind_at;
CREATE INDEX events_counted ON events (kind, at)
 WHERE kind = 'unreadable' OR kind = 'refused' OR kind = 'ack-limit';
"#,
    // 20: the mail found in a mailbox at the first start is history up to the highest
    // UID there then, recorded before any of it is downloaded: a first sync cut off
    // (a stop, a crash, a network gone silent) leaves the rest history, not new mail.
    // Cursors from before this know no such mail (0): they are past their first start.
    r#"
ALTER TABLE imap_cursor ADD COLUMN history_until INTEGER NOT NULL DEFAULT 0;
"#,
    // 21: the explanations sent to a member for a mail that named no case, counted by
    // member (`Tx::explained_to_since`): a member's autoresponder answering one without
    // threading is not explained again. Only such explanations enter the index.
    r#"
CREATE INDEX outbox_caseless_transcripts ON outbox (primary_rcpt, created_at)
 WHERE case_id IS NULL AND purpose = 'transcript';
"#,
    // 22: refused commands and unreadable mail counted by the series of their case (its
    // prefix and dash: each desk has its own), for each desk's alert budgets
    // (`Tx::count_in_series_since`): a flood on one desk's cases costs another's count
    // nothing.
    r#"
CREATE INDEX events_refused_by_series ON events (substr(case_id, 1, instr(case_id, '-')), at)
 WHERE kind = 'refused';
CREATE INDEX events_unreadable_by_series ON events (substr(case_id, 1, instr(case_id, '-')), at)
 WHERE kind = 'unreadable';
"#,
    // 23: the day's suspect mail for the spam summary (`Tx::quarantined_between`), read
    // from its own entries: the summary read every event the desk ever wrote, inside a
    // write transaction. And, for `#move`, a case's threading entries by case (it
    // scanned the whole table twice, the second time for the foreign key's check of the
    // case it deletes) and the cases marked duplicates of it.
    r#"
CREATE INDEX events_quarantined ON events (at) WHERE kind = 'quarantined';
CREATE INDEX message_refs_case ON message_refs (case_id);
CREATE INDEX cases_duplicate_of ON cases (duplicate_of) WHERE duplicate_of IS NOT NULL;
"#,
    // 24: acknowledgements counted per minute by the series of their case (its prefix
    // and dash: each desk has its own), for each desk's own limit
    // (`policy.ack_rate_limit_total`): a flood on one desk's address held back every
    // other desk's acknowledgements. Filled from the outbox. `told`: the desk's team was
    // told that minute that acknowledgements are held back (kept here, with the desk's
    // series: the alert's event goes along with its case when it is moved).
    r#"
CREATE TABLE ack_counts_by_series (
    series TEXT    NOT NULL,      -- "SEC-": the case id's prefix and dash
    minute TEXT    NOT NULL,      -- "YYYY-MM-DDTHH:MM", UTC, as the outbox's instants begin
    n      INTEGER NOT NULL,
    told   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (series, minute)
) STRICT, WITHOUT ROWID;
INSERT INTO ack_counts_by_series (series, minute, n)
SELECT COALESCE(substr(case_id, 1, instr(case_id, '-')), ''), substr(created_at, 1, 16), COUNT(*)
  FROM outbox WHERE purpose = 'ack' GROUP BY 1, 2;
INSERT INTO ack_counts_by_series (series, minute, n, told)
SELECT substr(case_id, 1, instr(case_id, '-')), substr(at, 1, 16), 0, 1
  FROM events WHERE kind = 'ack-limit' AND true
    ON CONFLICT (series, minute) DO UPDATE SET told = 1;
DROP TABLE ack_counts;
ALTER TABLE ack_counts_by_series RENAME TO ack_counts;
"#,
    // Mail that went on no case (a team member's naming none), by Message-ID: read again
    // (a new UIDVALIDITY refetches everything), it is a duplicate like mail on a case.
    r#"
CREATE TABLE unfiled_mail (
    message_id TEXT    NOT NULL PRIMARY KEY,
    raw_id     INTEGER
) STRICT, WITHOUT ROWID;
"#,
    // 26: the server was found giving new mail UIDs the desk had read, under the same
    // UIDVALIDITY: nothing is read until it changes (`ingest::sync`).
    r#"
ALTER TABLE imap_cursor ADD COLUMN behind INTEGER NOT NULL DEFAULT 0 CHECK (behind IN (0, 1));
"#,
];

#[cfg(test)]
mod tests {
    use super::MIGRATIONS;
    use crate::store::Store;

    /// FNV-1a, 64 bits: a fingerprint of a migration's text, the same on every build.
    fn fingerprint(text: &str) -> u64 {
        text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        })
    }

    /// The migrations a landed version ran, as it ran them. An edit to one is never
    /// run by a database already past it: a database made by the interim text of
    /// migration 24 (before `ack_counts.told`) failed on every mail with "no such
    /// column". A change is a new migration; when a new one lands, its fingerprint
    /// joins this list.
    const RELEASED: &[u64] = &[
        0x0e2cb417e587781a, // 1
        0x502f1209b541e8ca, // 2
        0xb18bf2e1dbb2792a, // 3
        0xcc439f6d49479b90, // 4
        0x2c8ba3cba15885bf, // 5
        0xc1299f8c1be1b34c, // 6
        0xa409ac0f9dec5105, // 7
        0x9d35447ffa7390d3, // 8
        0xd717040e09ead103, // 9
        0xf49457220fb5b16e, // 10
        0x0a3c4bd2b8e7d6e2, // 11
        0xe6aad8533022e7a7, // 12
        0xb4e3b4c58c73c623, // 13
        0xb9614469f5fee95e, // 14
        0x3a0ed54329ab5b06, // 15
        0x8a285501588db9f6, // 16
        0x9c69724c18239e11, // 17
        0x33705c1d4576a73d, // 18
        0xaf905729f7d2f572, // 19
        0xd75a237b0bbf50d1, // 20
        0x3ea6f6ee7876baee, // 21
        0xd6e46815a53a9a7d, // 22
        0x0ff8f04b1e965faa, // 23
        0x89e9b53678afb4aa, // 24
        0xd0a788487b7d6075, // 25
        0xea28b2c1a0d6ef94, // 26
    ];

    #[test]
    fn released_migrations_are_never_edited() {
        let now: Vec<String> = MIGRATIONS
            .iter()
            .map(|m| format!("{:#018x}", fingerprint(m)))
            .collect();
        for (i, pinned) in RELEASED.iter().enumerate() {
            assert_eq!(
                now.get(i).map(String::as_str),
                Some(format!("{pinned:#018x}").as_str()),
                "migration {} was edited; write a new migration instead (fingerprints now: {})",
                i + 1,
                now.join(", ")
            );
        }
        assert_eq!(
            RELEASED.len(),
            MIGRATIONS.len(),
            "pin the new migration: {}",
            now.join(", ")
        );
    }

    /// A database at `path` as the first `version` migrations left it.
    fn at_version(path: &std::path::Path, version: usize) -> rusqlite::Connection {
        let conn = rusqlite::Connection::open(path).unwrap();
        for sql in MIGRATIONS.iter().take(version) {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "user_version", version as i64)
            .unwrap();
        conn
    }

    /// Writing a row checks its state without building a temporary table for the list
    /// of allowed values, and still refuses a value outside it.
    #[test]
    fn state_checks_build_no_temporary_table_and_still_refuse_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("checks.db")).unwrap();
        let conn = &store.conn;
        let writes = [
            "UPDATE raw_mail SET state = ?1",
            "UPDATE cases SET status = ?1",
            "UPDATE cases SET severity = ?1",
            "UPDATE outbox SET state = ?1",
            "UPDATE reminders SET state = ?1",
            "UPDATE advisory_pushes SET state = ?1",
        ];
        for sql in writes {
            let mut stmt = conn.prepare(&format!("EXPLAIN {sql}")).unwrap();
            let ops = stmt
                .query_map([rusqlite::types::Null], |r| r.get::<_, String>(1))
                .unwrap()
                .collect::<rusqlite::Result<Vec<_>>>()
                .unwrap();
            assert!(!ops.iter().any(|o| o == "OpenEphemeral"), "{sql}: {ops:?}");
        }
        conn.execute(
            "INSERT INTO cases (id, year, seq, subject, status, opened_at, root_message_id)
             VALUES ('SEC-2026-0001', 2026, 1, 's', 'spam', '2026-11-23T09:00:00Z', 'a@b')",
            [],
        )
        .unwrap();
        conn.execute("UPDATE cases SET severity = 'high', status = 'closed'", [])
            .unwrap();
        conn.execute(
            "INSERT INTO cases (id, year, seq, subject, status, opened_at, root_message_id)
             VALUES ('SEC-2026-0002', 2026, 2, 's', 'new', '2026-11-23T09:00:00Z', 'c@d')",
            [],
        )
        .unwrap();
        conn.execute("UPDATE cases SET severity = NULL", [])
            .unwrap();
        for bad in [
            "UPDATE cases SET status = 'bogus'",
            "UPDATE cases SET severity = 'severe'",
        ] {
            assert!(conn.execute(bad, []).is_err(), "{bad}");
        }
        let schema: String = conn
            .query_row("SELECT group_concat(sql) FROM sqlite_schema", [], |r| {
                r.get(0)
            })
            .unwrap();
        // Every list left (`direction IN ('in', 'out')`) has two values at most.
        for list in schema.split(" IN (").skip(1) {
            let items = list.split(')').next().unwrap_or_default();
            assert!(items.matches(',').count() <= 1, "IN ({items}) in {schema}");
        }
        assert_eq!(store.integrity_check().unwrap(), "ok");
    }

    /// A database written before the spam state existed takes it after the upgrade, on
    /// the connection that migrated and on any other; the CHECK still refuses garbage.
    #[test]
    fn an_older_database_gains_the_spam_state() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        {
            let conn = at_version(&path, 2);
            conn.execute(
                "INSERT INTO cases (id, year, seq, subject, status, opened_at, root_message_id)
                 VALUES ('SEC-2026-0001', 2026, 1, 's', 'new', '2026-11-23T09:00:00Z', 'a@b')",
                [],
            )
            .unwrap();
            let refused = conn.execute("UPDATE cases SET status = 'spam'", []);
            assert!(refused.is_err(), "the old CHECK refuses spam");
        }
        let mut store = Store::open(&path).unwrap();
        store
            .write(|tx| {
                tx.conn()
                    .execute("UPDATE cases SET status = 'spam'", [])
                    .map_err(Into::into)
            })
            .unwrap();
        let other = rusqlite::Connection::open(&path).unwrap();
        let status: String = other
            .query_row("SELECT status FROM cases", [], |r| r.get(0))
            .unwrap();
        assert_eq!(status, "spam");
        assert!(
            other
                .execute("UPDATE cases SET status = 'bogus'", [])
                .is_err()
        );
        assert_eq!(
            other
                .query_row("PRAGMA integrity_check", [], |r| r.get::<_, String>(0))
                .unwrap(),
            "ok"
        );
        // Opening again migrates nothing more.
        drop(store);
        Store::open(&path).unwrap();
    }

    /// The case-id counters start from what a database already holds: each prefix's
    /// highest number of the year, moved cases' old ids included, so no id is given twice.
    #[test]
    fn case_counters_start_from_the_ids_on_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        {
            let conn = at_version(&path, 7);
            for (id, seq) in [
                ("SEC-2026-0003", 1),
                ("COHTTP-2026-0005", 2),
                ("SEC-2025-0012", 1),
            ] {
                conn.execute(
                    "INSERT INTO cases (id, year, seq, subject, status, opened_at, root_message_id)
                     VALUES (?1, CAST(substr(?1, instr(?1, '-') + 1, 4) AS INTEGER), ?2, 's', 'new',
                             '2026-11-23T09:00:00Z', ?1)",
                    rusqlite::params![id, seq],
                )
                .unwrap();
            }
            conn.execute(
                "INSERT INTO case_aliases (old_id, case_id, moved_at)
                 VALUES ('SEC-2026-0009', 'COHTTP-2026-0005', '2026-11-23T09:00:00Z')",
                [],
            )
            .unwrap();
        }
        let mut store = Store::open(&path).unwrap();
        let next = |store: &mut Store, prefix: &str, year: i32| {
            store
                .write(|tx| tx.next_case_id(prefix, year))
                .unwrap()
                .to_string()
        };
        assert_eq!(next(&mut store, "SEC", 2026), "SEC-2026-0010");
        assert_eq!(next(&mut store, "COHTTP", 2026), "COHTTP-2026-0006");
        assert_eq!(next(&mut store, "SEC", 2025), "SEC-2025-0013");
        assert_eq!(next(&mut store, "SEC", 2027), "SEC-2027-0001");
    }

    /// The per-minute acknowledgement counts start from the outbox a database holds, so
    /// the desk-wide limit keeps counting the hour before the upgrade.
    #[test]
    fn ack_counts_start_from_the_outbox() {
        use chrono::TimeZone;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        {
            let conn = at_version(&path, 9);
            for (seq, id) in [
                (1, "SEC-2026-0001"),
                (2, "SEC-2026-0002"),
                (3, "SEC-2026-0003"),
                (4, "COHTTP-2026-0001"),
            ] {
                conn.execute(
                    "INSERT INTO cases (id, year, seq, subject, status, opened_at, root_message_id)
                     VALUES (?1, 2026, ?2, 's', 'new', '2026-11-23T09:00:00Z', ?1)",
                    rusqlite::params![id, seq],
                )
                .unwrap();
            }
            for (n, (purpose, at, case)) in [
                ("ack", "2026-11-30T10:00:01.000Z", "SEC-2026-0001"),
                ("ack", "2026-11-30T10:00:59.000Z", "SEC-2026-0002"),
                ("team_notice", "2026-11-30T10:00:30.000Z", "SEC-2026-0002"),
                ("ack", "2026-11-30T10:05:00.000Z", "SEC-2026-0003"),
                ("ack", "2026-11-30T10:05:00.000Z", "COHTTP-2026-0001"),
            ]
            .into_iter()
            .enumerate()
            {
                conn.execute(
                    "INSERT INTO outbox (purpose, message_id, envelope_from, recipients, primary_rcpt, bytes, created_at, next_attempt_at, case_id)
                     VALUES (?1, ?2, 'd@x', '[]', 'r@x', x'00', ?3, ?3, ?4)",
                    rusqlite::params![purpose, format!("m{n}@x"), at, case],
                )
                .unwrap();
            }
            // The team told acknowledgements were held back, in a minute without one.
            conn.execute(
                "INSERT INTO events (case_id, at, actor, kind, detail)
                 VALUES ('SEC-2026-0003', '2026-11-30T10:07:00.000Z', 'desk', 'ack-limit', 'held back')",
                [],
            )
            .unwrap();
        }
        let mut store = Store::open(&path).unwrap();
        let since = |m: u32| {
            chrono::Utc
                .with_ymd_and_hms(2026, 11, 30, 10, m, 0)
                .unwrap()
        };
        let count = |store: &mut Store, m| {
            store
                .read(|tx| tx.count_acks_since("SEC", since(m)))
                .unwrap()
        };
        assert_eq!(count(&mut store, 0), 3);
        assert_eq!(count(&mut store, 1), 1);
        assert_eq!(count(&mut store, 6), 0);
        let other = store
            .read(|tx| tx.count_acks_since("COHTTP", since(0)))
            .unwrap();
        assert_eq!(other, 1, "another desk's series counts its own");
        let told = |store: &mut Store, prefix: &'static str| {
            store
                .read(|tx| tx.ack_limit_told_since(prefix, since(0)))
                .unwrap()
        };
        assert!(told(&mut store, "SEC"), "the alert of the past is kept");
        assert!(!told(&mut store, "COHTTP"));
    }

    /// The daemon asks systemd for time before a migration (one may copy every stored
    /// mail): what is pending is read without migrating.
    #[test]
    fn pending_migrations_are_counted_without_running_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        assert_eq!(Store::migrations_pending(&path).unwrap(), 0, "no file yet");
        drop(at_version(&path, 15));
        assert_eq!(
            Store::migrations_pending(&path).unwrap(),
            MIGRATIONS.len() - 15
        );
        assert_eq!(
            Store::migrations_pending(&path).unwrap(),
            MIGRATIONS.len() - 15,
            "counting migrated nothing"
        );
        drop(Store::open(&path).unwrap());
        assert_eq!(Store::migrations_pending(&path).unwrap(), 0);
    }

    /// An older database's mail keeps its bytes, byte for byte, when they move to their
    /// own table (migration 16), and the row of the mail keeps no copy.
    #[test]
    fn raw_mail_moves_its_bytes_to_their_own_table() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        let mail: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
        {
            let conn = at_version(&path, 15);
            conn.execute(
                "INSERT INTO raw_mail (mailbox, uidvalidity, uid, fetched_at, bytes) VALUES ('INBOX', 1, 5, '2026-12-01T06:00:00.000Z', ?1)",
                [&mail],
            )
            .unwrap();
        }
        let mut store = Store::open(&path).unwrap();
        let (back, _) = store.read(|tx| tx.pending_raw(1)).unwrap().unwrap();
        assert!(
            back == mail,
            "the bytes came through the migration unaltered"
        );
        let sizes = store.read(|tx| tx.pending_raw_sizes()).unwrap();
        assert_eq!(sizes, vec![(1, 70_000, 0)]);
        let columns: i64 = store
            .conn
            .query_row(
                "SELECT COUNT(*) FROM pragma_table_info('raw_mail') WHERE name = 'bytes'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(columns, 0, "raw_mail keeps no copy of the bytes");
        assert_eq!(store.integrity_check().unwrap(), "ok");
    }
}
