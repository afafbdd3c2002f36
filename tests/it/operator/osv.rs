//! OSV output against the official schema.

use super::*;

/// Validates `instance` against the OSV schema with Python's jsonschema, format checking
/// on (`tests/data/validate-osv.py`): `Ok` or the validator's complaint. Panics when the
/// validator itself cannot run, or could run only without format checking.
pub(crate) fn validate_osv(instance: &Path) -> Result<(), String> {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let o = Command::new("python3")
        .arg(data.join("validate-osv.py"))
        .arg(data.join("osv-schema.json"))
        .arg(instance)
        .output()
        .unwrap_or_else(|e| panic!("cannot run python3 ({e}): it is needed to validate OSV"));
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(
        !err.contains("No module named"),
        "python3 lacks a module: python3 -m pip install jsonschema rfc3339-validator rfc3987\n{err}"
    );
    match o.status.code() {
        Some(0) => Ok(()),
        Some(1) => Err(err),
        _ => panic!("the validator could not run:\n{err}"),
    }
}

/// A case filled in by the team renders an OSV record the official schema accepts; a
/// record without `id` is rejected, so the check can fail.
#[test]
fn osv_output_validates_against_the_official_schema() {
    let mut w = World::new();
    let notice = w.open_report(
        "osv-1@reporter.test",
        "Heap overflow in the parser",
        "The parser overflows.",
    );
    let commands = "#valid\r\n\
        #summary Heap overflow in the parser\r\n\
        #package example-parser\r\n\
        #affected < 1.4.2\r\n\
        #fixed-in 1.4.2\r\n\
        #cve CVE-2026-12345\r\n\
        #cvss CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H\r\n\
        #reference fix https://example.org/fix\r\n\
        #credit Rita\r\n\
        #details\r\n\
        A crafted input overflows a heap buffer in the parser.\r\n";
    w.deliver(&team_mail(
        ALICE,
        "osv-2@example.org",
        Some(&notice),
        "Re: [SEC-2026-0001] Heap overflow in the parser",
        None,
        commands,
    ));
    let case = w.case("SEC-2026-0001");
    let events = w.store.read(|tx| tx.events(&case.id)).unwrap();
    let id = secdesk::publish::publication::draft_id(&case, &w.desk.config);
    let adv = secdesk::publish::publication::advisory_for(&case, &events, &w.desk.config, &id);
    let json = secdesk::publish::advisory::to_osv_json(&adv);

    // What the team set is in the record (so the schema check sees a full one).
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["id"], "OSEC-DRAFT-SEC-2026-0001", "{json}");
    assert_eq!(
        v["aliases"],
        serde_json::json!(["CVE-2026-12345"]),
        "{json}"
    );
    assert_eq!(v["summary"], "Heap overflow in the parser", "{json}");
    assert_eq!(
        v["affected"][0]["package"]["name"], "example-parser",
        "{json}"
    );
    assert_eq!(v["affected"][0]["package"]["ecosystem"], "opam", "{json}");
    assert_eq!(
        v["affected"][0]["ranges"][0]["events"],
        serde_json::json!([{"introduced": "0"}, {"fixed": "1.4.2"}]),
        "{json}"
    );
    assert_eq!(
        v["severity"],
        serde_json::json!([{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}]),
        "{json}"
    );
    assert_eq!(
        v["references"],
        serde_json::json!([{"type": "FIX", "url": "https://example.org/fix"}]),
        "{json}"
    );
    assert_eq!(
        v["credits"],
        serde_json::json!([{"name": "Rita", "type": "REPORTER"}]),
        "{json}"
    );
    assert!(
        v["details"]
            .as_str()
            .is_some_and(|d| d.contains("A crafted input overflows a heap buffer in the parser.")),
        "{json}"
    );

    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("osv.json");
    fs::write(&good, &json).unwrap();
    if let Err(e) = validate_osv(&good) {
        panic!("the OSV record does not validate:\n{e}\n{json}");
    }

    // Negative control: the same record without its id must be rejected.
    let mut broken = v.clone();
    broken.as_object_mut().unwrap().remove("id");
    let bad = dir.path().join("broken.json");
    fs::write(&bad, serde_json::to_string_pretty(&broken).unwrap()).unwrap();
    match validate_osv(&bad) {
        Ok(()) => panic!("a record without `id` passed the schema: the check proves nothing"),
        Err(e) => assert!(e.contains("'id' is a required property"), "{e}"),
    }
    // Negative control for format checking: a date that matches the schema's pattern
    // but is no date (30 February, hour 25) is rejected only by the date-time checker.
    let mut bad_date = v.clone();
    bad_date["modified"] = serde_json::json!("2026-02-30T25:61:00Z");
    fs::write(&bad, serde_json::to_string_pretty(&bad_date).unwrap()).unwrap();
    match validate_osv(&bad) {
        Ok(()) => panic!("an impossible date passed: format checking is off"),
        Err(e) => assert!(e.contains("is not a 'date-time'"), "{e}"),
    }
}
