//! Golden advisories under `tests/data/advisories/`: the markdown the OCaml repository
//! would merge and the OSV its converter would make of it (`MAPPING.md` there gives the
//! rules, read from hannesm/advisories). `SECDESK_BLESS=1` rewrites them. Every golden
//! OSV record also validates against the official schema with format checking.

use chrono::{DateTime, TimeZone, Utc};
use secdesk::publish::advisory::{
    Advisory, CreditRole, blocking_problems, to_markdown, to_osv_json,
};
use secdesk::types::{CaseId, ReferenceKind, ReferenceType};

fn at(d: u32, h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 9, d, h, 0, 0).unwrap()
}

fn base(id: &str, package: &str, affected: &str) -> Advisory {
    Advisory {
        summary: Some(format!("Out-of-bounds read in {package}")),
        details: Some(format!(
            "A crafted input makes `{package}` read past the end of a buffer."
        )),
        ecosystem: "opam".to_string(),
        package: Some(package.to_string()),
        affected: Some(affected.to_string()),
        credits: vec![(CreditRole::Reporter, "Rita Reporter".to_string())],
        published: Some(at(10, 12)),
        modified: at(10, 12),
        timeline: vec![
            (at(1, 9), "reported to the security team".to_string()),
            (at(2, 9), "report acknowledged".to_string()),
            (at(10, 12), "advisory published".to_string()),
        ],
        ..Advisory::empty(id, CaseId::new("SEC", 2026, 1))
    }
}

fn cases() -> Vec<(&'static str, Vec<Advisory>)> {
    let one_range = base("OSEC-2026-18", "tar", "< 3.5.0");
    let mut two_alternatives = base("OSEC-2026-19", "ocaml", "< 4.14.4 | >= 5.0, < 5.5.0");
    two_alternatives.aliases = vec!["CVE-2026-40001".to_string()];
    two_alternatives.cvss = Some((
        "CVSS:3.1/AV:L/AC:L/PR:N/UI:N/S:U/C:H/I:L/A:N".to_string(),
        6.8,
    ));
    let mut pkg_a = base("OSEC-2026-20", "mirage-crypto-ec", ">= 0.11.3, < 2.4.0");
    pkg_a.related = vec!["OSEC-2026-21".to_string()];
    let mut pkg_b = base("OSEC-2026-21", "mirage-crypto-pk", "< 2.3.0");
    pkg_b.related = vec!["OSEC-2026-20".to_string()];
    let mut commit = base("OSEC-2026-22", "cohttp", "< 6.3.0");
    commit.commits = vec![(
        "https://github.com/mirage/ocaml-cohttp".to_string(),
        "1a61aeee7f593ec067612df1739ec905eab0450f".to_string(),
    )];
    commit.references = vec![(
        ReferenceType::Known(ReferenceKind::Fix),
        "https://github.com/mirage/ocaml-cohttp/pull/1".to_string(),
    )];
    let mut roles = base("OSEC-2026-23", "albatross", ">= 1.0.0, < 2.7.2");
    roles.credits = CreditRole::ALL
        .into_iter()
        .map(|r| (r, format!("Person {}", r.as_str())))
        .collect();
    let mut bindings = base("OSEC-2026-24", "mirage-crypto-ec", "< 2.3.0");
    bindings.bindings = vec![
        "Mirage_crypto_ec.P256.Dh.share".to_string(),
        "Mirage_crypto_ec.P384.Dsa.sign".to_string(),
    ];
    bindings.cwe = vec![208];
    let mut anonymous = base("OSEC-2026-25", "utcp", "< 0.0.6");
    anonymous.credits = vec![(CreditRole::Coordinator, "Hannes Mehnert".to_string())];
    // Control characters pasted into a name: an ASCII one and a C1 one, which the opam
    // lexer reads back only from the bytes of its UTF-8.
    let mut controls = base("OSEC-2026-26", "utcp", "< 0.0.6");
    controls.credits = vec![(CreditRole::Reporter, "Rita\u{9d} Reporter\u{7}".to_string())];
    vec![
        ("one-range", vec![one_range]),
        ("two-alternatives", vec![two_alternatives]),
        ("two-packages", vec![pkg_a, pkg_b]),
        ("fixing-commit", vec![commit]),
        ("credit-roles", vec![roles]),
        ("bindings", vec![bindings]),
        ("anonymous-reporter", vec![anonymous]),
        ("control-characters", vec![controls]),
    ]
}

/// Each case is a folder holding `<id>.md` and `<id>.json`, named as the database names
/// them (the converter insists the id and the file name agree).
#[test]
fn golden_advisories() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/advisories");
    let bless = std::env::var_os("SECDESK_BLESS").is_some();
    let mut wrong = Vec::new();
    let mut files = Vec::new();
    for (name, advs) in cases() {
        let dir = root.join(name);
        for adv in advs {
            assert_eq!(blocking_problems(&adv), Vec::<String>::new(), "{name}");
            for (ext, text) in [("md", to_markdown(&adv)), ("json", to_osv_json(&adv))] {
                let path = dir.join(format!("{}.{ext}", adv.id));
                if bless {
                    std::fs::create_dir_all(&dir).unwrap();
                    std::fs::write(&path, &text).unwrap();
                } else if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
                    wrong.push(format!("{}:\n{text}", path.display()));
                }
                files.push(path);
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "golden files differ (SECDESK_BLESS=1 rewrites):\n{}",
        wrong.join("\n")
    );
    for path in files
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
    {
        if let Err(e) = crate::operator::validate_osv(path) {
            panic!("{} does not validate:\n{e}", path.display());
        }
    }
    // The converter's rules, modelled independently (convert.py): each markdown converts
    // to the desk's OSV, schema_version and database_specific aside.
    let mds: Vec<&std::path::PathBuf> = files
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    crate::support::stdout_of(
        std::process::Command::new("python3")
            .arg(root.join("convert.py"))
            .arg("--check")
            .args(&mds),
        "the converter model disagrees:\n",
    );
}

/// The converter model is not a rubber stamp: a markdown the converter rejects, and an OSV
/// record that differs from what it would make, both fail the check.
#[test]
fn the_converter_model_rejects_and_spots_differences() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/advisories");
    let tmp = tempfile::tempdir().unwrap();
    let mut adv = cases().remove(1).1.remove(0);
    let md = tmp.path().join(format!("{}.md", adv.id));
    let json = tmp.path().join(format!("{}.json", adv.id));
    let check = || {
        let o = std::process::Command::new("python3")
            .arg(root.join("convert.py"))
            .arg("--check")
            .arg(&md)
            .output()
            .unwrap();
        (
            o.status.success(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    std::fs::write(&md, to_markdown(&adv)).unwrap();
    std::fs::write(&json, to_osv_json(&adv)).unwrap();
    assert_eq!(check(), (true, String::new()));
    // An OSV that says something else (one range instead of two).
    adv.affected = Some("< 4.14.4".to_string());
    std::fs::write(&json, to_osv_json(&adv)).unwrap();
    let (ok, err) = check();
    assert!(!ok && err.contains("affected"), "{err}");
    // A markdown the converter refuses (a second `affected` entry).
    let text = to_markdown(&adv).replacen("affected:", "affected: \"x\" {< \"1\"}\naffected:", 1);
    std::fs::write(&md, text).unwrap();
    let (ok, err) = check();
    assert!(!ok && err.contains("already exists"), "{err}");
}

#[test]
fn three_alternatives_are_refused() {
    let a = base(
        "OSEC-2026-30",
        "ocaml",
        "< 4.14.4 | >= 5.0, < 5.4.1 | >= 5.5, < 5.5.1",
    );
    let p = blocking_problems(&a);
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(p[0].contains("3 alternatives"), "{p:?}");
}

/// An id whose prefix names no home database the OSV schema knows (`SECA-`, what the
/// default prefix used to give) makes a record the schema refuses: `#publish` refuses
/// it, saying what to set. A private database's `x_` prefix validates.
#[test]
fn an_id_the_osv_schema_refuses_blocks_publication() {
    let dir = tempfile::tempdir().unwrap();
    for (id, valid) in [
        ("SECA-2026-01", false),
        ("x_SECA-2026-01", true),
        ("OSEC-2026-01", true),
    ] {
        let adv = base(id, "tar", "< 3.5.0");
        let path = dir.path().join(format!("{id}.json"));
        std::fs::write(&path, to_osv_json(&adv)).unwrap();
        assert_eq!(crate::operator::validate_osv(&path).is_ok(), valid, "{id}");
        let blocking = blocking_problems(&adv);
        assert_eq!(
            blocking
                .iter()
                .any(|p| p.contains("names no home database the OSV schema knows")),
            !valid,
            "{id}: {blocking:?}"
        );
    }
}

/// A reference that is no URI (as stored before `#reference` encoded it) blocks
/// publication, instead of publishing a record the schema refuses; encoded, it validates.
#[test]
fn a_reference_that_is_no_uri_blocks_publication() {
    let dir = tempfile::tempdir().unwrap();
    for (url, valid) in [
        ("https://fr.wikipedia.org/wiki/Faille_de_sécurité", false),
        ("https://example.org/a|b", false),
        ("https://example.org/%zz", false),
        (
            "https://fr.wikipedia.org/wiki/Faille_de_s%C3%A9curit%C3%A9",
            true,
        ),
    ] {
        let mut adv = base("OSEC-2026-01", "tar", "< 3.5.0");
        adv.references = vec![(ReferenceType::Known(ReferenceKind::Web), url.to_string())];
        let path = dir.path().join("ref.json");
        std::fs::write(&path, to_osv_json(&adv)).unwrap();
        assert_eq!(crate::operator::validate_osv(&path).is_ok(), valid, "{url}");
        assert_eq!(
            blocking_problems(&adv)
                .iter()
                .any(|p| p.contains("is not a plain http(s) URL")),
            !valid,
            "{url}"
        );
    }
}
