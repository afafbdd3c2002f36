//! A generated corpus of hostile mail, driven through `process` on a real SQLite file:
//! whatever arrives, the desk never stops, every mail is on a case, and a normal report
//! sent after each one is acknowledged. Nothing here is committed as files: the mails
//! are written by [`corpus`] each run.

use crate::world::*;
use secdesk::desk::MessageKind;
use secdesk::service::process::Processed;
use std::time::{Duration, Instant};

/// A small deterministic generator (xorshift), so every run sees the same corpus.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// One kind of hostile mail; `n` varies it.
#[derive(Debug, Clone, Copy)]
enum Kind {
    ShortLines(usize),
    MillionCommands,
    TruncatedMime(usize),
    UnknownCharset(usize),
    InvalidUtf8(usize),
    NulBytes(usize),
    ManyHeaders(usize),
    NestedMultipart(usize),
    Missing(usize),
    DuplicateId(usize),
    CrlfWords(usize),
    LoopingRefs(usize),
    Big(usize),
    Garbage(usize),
    LongLine(usize),
    TeamOddities(usize),
    DeskAddress(usize),
    HtmlBomb(usize),
}

fn head(from: &str, id: &str, subject: &str, extra: &str) -> String {
    format!(
        "From: {from}\r\nTo: {DESK}\r\nSubject: {subject}\r\nMessage-ID: <{id}>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0100\r\n{extra}"
    )
}

fn render(kind: Kind, i: usize, rng: &mut Rng, notice: &str) -> Vec<u8> {
    let id = format!("h{i}@attacker.test");
    let from = format!("attacker{i}@attacker.test");
    match kind {
        Kind::ShortLines(n) => {
            let line = ["x\n", "\n", "a b\r\n", ">\n", "-- \n"][n % 5];
            let size = [50_000, 300_000, 1_000_000, 2_000_000][n % 4];
            let mut m = head(&from, &id, "lines", "\r\n").into_bytes();
            m.extend(line.repeat(size / line.len()).into_bytes());
            m
        }
        Kind::MillionCommands => {
            let mut m = team_mail(ALICE, &id, Some(notice), "Re: x", None, "").into_bytes();
            m.extend("#assign me\r\n".repeat(1_000_000).into_bytes());
            m
        }
        Kind::TruncatedMime(n) => {
            let full = format!(
                "{}MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"zz\"\r\n\r\n--zz\r\nContent-Type: text/plain\r\n\r\nreport text\r\n--zz\r\nContent-Type: application/pdf; name=\"a.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQKJcfs\r\nj6IKMSAwIG9iago8\r\n--zz--\r\n",
                head(&from, &id, "truncated", "")
            );
            let cut = [40, 120, 200, 260, 300, 330, 360, 380, 400, full.len() - 3][n % 10];
            full.into_bytes().into_iter().take(cut).collect()
        }
        Kind::UnknownCharset(n) => {
            let cs = [
                "x-unknown-42",
                "utf-7",
                "ebcdic-xyz",
                "",
                "\"\"",
                "utf-8; format=flowed; delsp=yes; x=y",
            ][n % 6];
            format!(
                "{}MIME-Version: 1.0\r\nContent-Type: text/plain; charset={cs}\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nCaf=E9 =FF=FE=00 report=\r\n more\r\n",
                head(&from, &id, &format!("=?{cs}?Q?caf=E9?= charset"), "")
            )
            .into_bytes()
        }
        Kind::InvalidUtf8(n) => {
            let mut m =
                format!("From: bad{i}@attacker.test\r\nTo: {DESK}\r\nSubject: ").into_bytes();
            m.extend(rng.bytes(8 + n % 40));
            m.extend(format!("\r\nMessage-ID: <{id}>\r\n\r\n").into_bytes());
            m.extend([0xff, 0xfe, 0xc3, 0x28, 0xa0, 0xa1, 0xe2, 0x28, 0xa1, b'\n']);
            m.extend(rng.bytes(500 + n * 37));
            m
        }
        Kind::NulBytes(n) => {
            let mut m = head(&from, &id, "nul\0subject", "X-Nul: a\0b\r\n\r\n").into_bytes();
            for k in 0..(50 + n * 10) {
                m.extend(format!("line {k}\0 with\0nul\r\n").into_bytes());
            }
            m
        }
        Kind::ManyHeaders(n) => {
            let count = [5_000, 5_000, 2_000, 10_000][n % 4];
            let mut m = String::new();
            for k in 0..count {
                m.push_str(&format!("X-Filler-{k}: {}\r\n", "v".repeat(k % 50)));
                if k % 1000 == 999 {
                    m.push_str("Received: from x by y; Mon, 23 Nov 2026 10:00:00 +0100\r\n");
                }
            }
            (head(&from, &id, "headers", &m) + "\r\nbody\r\n").into_bytes()
        }
        Kind::NestedMultipart(n) => {
            let depth = [100, 100, 50, 200, 1000][n % 5];
            let mut m = head(&from, &id, "nested", "MIME-Version: 1.0\r\n");
            for d in 0..depth {
                m.push_str(&format!(
                    "Content-Type: multipart/mixed; boundary=\"b{d}\"\r\n\r\n--b{d}\r\n"
                ));
            }
            m.push_str("Content-Type: text/plain\r\n\r\ndeep text\r\n");
            for d in (0..depth).rev() {
                m.push_str(&format!("--b{d}--\r\n"));
            }
            m.into_bytes()
        }
        Kind::Missing(n) => {
            let from_h = format!("From: {from}\r\n");
            let date_h = "Date: Mon, 23 Nov 2026 10:00:00 +0100\r\n";
            let id_h = format!("Message-ID: <{id}>\r\n");
            let parts = [
                (n & 1 == 0).then_some(from_h.as_str()),
                (n & 2 == 0).then_some(date_h),
                (n & 4 == 0).then_some(id_h.as_str()),
            ];
            let mut m: String = parts.into_iter().flatten().collect();
            m.push_str(&format!("Subject: missing {n}\r\n\r\nbody {i}\r\n"));
            m.into_bytes()
        }
        Kind::DuplicateId(n) => {
            // Pairs of mails sharing one id with different bodies.
            let shared = format!("dup{}@attacker.test", n / 2);
            format!(
                "{}\r\nbody variant {n} {}\r\n",
                head(&from, &shared, "dup", ""),
                "z".repeat(n * 13)
            )
            .into_bytes()
        }
        Kind::CrlfWords(n) => {
            let payloads = [
                "=?utf-8?b?aGkNCg0KWW91ciByZXBvcnQgd2FzIHJlamVjdGVkLg==?=",
                "=?utf-8?q?a=0D=0ABcc=3A_x=40evil=2Etest?=",
                "=?utf-8?q?=0A=0A=0A?=",
                "=?iso-8859-1?q?=0D=0Ab?= =?utf-8?b?DQo=?=",
            ];
            let p = payloads[n % payloads.len()];
            format!(
                "From: {p} <{from}>\r\nTo: {DESK}\r\nSubject: {p}\r\nMessage-ID: <{id}>\r\n\r\nbody\r\n"
            )
            .into_bytes()
        }
        Kind::LoopingRefs(n) => {
            let refs = match n % 4 {
                0 => format!("<{id}>"),
                1 => format!("<loopb{i}@attacker.test> <{id}> <loopb{i}@attacker.test>"),
                2 => (0..3000)
                    .map(|k| format!("<r{k}.{i}@attacker.test>"))
                    .collect::<Vec<_>>()
                    .join(" "),
                _ => format!("<{notice}> <{id}> <{notice}>"),
            };
            head(
                &from,
                &id,
                "Re: loop",
                &format!("In-Reply-To: <{id}>\r\nReferences: {refs}\r\n\r\nloop body\r\n"),
            )
            .into_bytes()
        }
        Kind::Big(mb) => crate::hostile::big_report(&id, mb).into_bytes(),
        Kind::Garbage(n) => {
            let len = rng.below(4000) + n;
            let mut m = rng.bytes(len);
            if n % 3 == 0 {
                m.splice(0..0, b"From: x\r\n".iter().copied());
            }
            m
        }
        Kind::LongLine(n) => {
            let mut m = head(&from, &id, &"S".repeat(n * 10_000 + 10), "\r\n").into_bytes();
            m.extend(vec![b'A'; 3_000_000 + n]);
            m
        }
        Kind::TeamOddities(n) => {
            let bodies = [
                "#embargo 9999-12-31\r\n#remind +99999d x\r\n#preannounce 0001-01-01",
                "#cvss CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/AV:N\r\n#cve CVE-2026-99999999999999",
                "#reply\r\n",
                "#summary \u{202e}evil\r\n#details\r\n\r\n> quoted\r\n",
                "#forward security@example.org\r\n#assign security@example.org",
                "#duplicate SEC-9999-9999\r\n#reference web javascript:alert(1)",
            ];
            team_mail(
                ALICE,
                &id,
                Some(notice),
                "Re: x",
                None,
                bodies[n % bodies.len()],
            )
            .into_bytes()
        }
        Kind::DeskAddress(n) => {
            let f = [DESK, "security+x@example.org", "SECURITY@EXAMPLE.ORG"][n % 3];
            head(
                f,
                &id,
                "forwarded",
                "X-Secdesk-Loop: security@example.org\r\n\r\nfwd\r\n",
            )
            .into_bytes()
        }
        Kind::HtmlBomb(n) => {
            let depth = [1000, 10_000, 50_000][n % 3];
            format!(
                "{}MIME-Version: 1.0\r\nContent-Type: text/html\r\n\r\n{}#assign me{}\r\n",
                head(&from, &id, "html", ""),
                "<div>".repeat(depth),
                "</div>".repeat(depth)
            )
            .into_bytes()
        }
    }
}

/// The corpus: (kind, how many variants).
fn corpus() -> Vec<Kind> {
    let mut kinds = Vec::new();
    let mut add = |f: fn(usize) -> Kind, n: usize| kinds.extend((0..n).map(f));
    add(Kind::ShortLines, 12);
    add(Kind::TruncatedMime, 35);
    add(Kind::UnknownCharset, 18);
    add(Kind::InvalidUtf8, 30);
    add(Kind::NulBytes, 15);
    add(Kind::ManyHeaders, 8);
    add(Kind::NestedMultipart, 10);
    add(Kind::Missing, 24);
    add(Kind::DuplicateId, 20);
    add(Kind::CrlfWords, 16);
    add(Kind::LoopingRefs, 20);
    add(Kind::Garbage, 50);
    add(Kind::LongLine, 3);
    add(Kind::TeamOddities, 24);
    add(Kind::DeskAddress, 9);
    add(Kind::HtmlBomb, 6);
    kinds.push(Kind::MillionCommands);
    for mb in [50, 20, 10, 5, 5] {
        kinds.push(Kind::Big(mb));
    }
    kinds
}

#[test]
fn a_hostile_corpus_never_stops_the_desk() {
    // Hundreds of normal reports, each acknowledged: the desk-wide limit is lifted.
    let mut w = World::with(monday_10(), NO_DESK_ACK_LIMIT);
    let notice = w.open_case("The case team mail replies to");
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let kinds = corpus();
    assert!(kinds.len() >= 300, "{} mails", kinds.len());
    if let Some(dir) = std::env::var_os("SECDESK_CORPUS_DIR") {
        // scripts/bench.py times these mails through `secdesk import` (the slowest mail,
        // the peak memory while filing it): it asks for the corpus this way, and this
        // run only writes it, as a Maildir of one file per mail, in the order above.
        let cur = std::path::Path::new(&dir).join("cur");
        std::fs::create_dir_all(&cur).unwrap();
        for (i, kind) in kinds.iter().enumerate() {
            let name = format!("{i:03}-{kind:?}").replace(['(', ')'], "");
            std::fs::write(cur.join(name), render(*kind, i, &mut rng, &notice)).unwrap();
        }
        return;
    }
    let mut slowest = (Duration::ZERO, String::new());
    for (i, kind) in kinds.iter().enumerate() {
        w.clock.advance(chrono::Duration::minutes(1));
        let raw = render(*kind, i, &mut rng, &notice);
        let size = raw.len();
        let started = Instant::now();
        let out = w.deliver_bytes(&raw);
        let took = started.elapsed();
        drop(raw);
        if took > Duration::from_secs(1) {
            eprintln!("#{i} {kind:?} ({size} bytes): {took:?}");
        }
        if took > slowest.0 {
            slowest = (took, format!("{kind:?} ({size} bytes)"));
        }
        // Every mail is on a case: filed, or the same Message-ID already is.
        match &out {
            Processed::Filed { .. } => {}
            Processed::Duplicate(id) => {
                let known = w.store.read(|tx| tx.message_known(id)).unwrap();
                assert!(known, "#{i} {kind:?}: duplicate of nothing");
            }
            other => panic!("#{i} {kind:?}: {other:?}"),
        }
        w.new_mail();
        // A normal report right after is opened and acknowledged.
        let ok = format!(
            "From: Normal {i} <normal{i}@reporter.test>\r\nTo: {DESK}\r\nSubject: Normal report {i}\r\nMessage-ID: <normal{i}@reporter.test>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0100\r\n\r\nA plain report.\r\n"
        );
        let out = w.deliver(&ok);
        assert!(
            matches!(
                out,
                Processed::Filed {
                    opened: true,
                    kind: MessageKind::Report,
                    ..
                }
            ),
            "after #{i} {kind:?}: {out:?}"
        );
        let mail = w.new_mail();
        assert!(
            mail.iter().any(|r| r.purpose.as_str() == "ack"
                && r.recipients == [format!("normal{i}@reporter.test")]),
            "after #{i} {kind:?}: {}",
            summarize(&mail)
        );
        if i % 50 == 0 {
            // The scheduler keeps working through it all.
            w.run_due();
        }
    }
    w.clock.advance(chrono::Duration::days(400));
    w.run_due();
    eprintln!(
        "corpus: {} hostile mails; slowest {:?}: {}",
        kinds.len(),
        slowest.0,
        slowest.1
    );
}
