//! One input, the whole pure path a mail takes: parse → classify → thread, then the
//! command grammar on the mail's text and on the raw bytes as text. A panic anywhere is a
//! crash for AFL.

use secdesk::commands;
use secdesk::mail::classify::classify;
use secdesk::mail::threading::{ThreadIndex, find_case};
use secdesk::mail::{self, Parsed};
use secdesk::types::{CaseId, MessageId};

/// Every id whose text starts with `k` belongs to case 1.
struct Index;

impl ThreadIndex for Index {
    type Error = std::convert::Infallible;
    fn case_of_any(&self, ids: &[MessageId]) -> Result<Option<CaseId>, Self::Error> {
        Ok(ids
            .iter()
            .any(|i| i.as_str().starts_with('k'))
            .then(|| CaseId::new("SEC", 2026, 1)))
    }
    fn case_referencing(&self, id: &MessageId) -> Result<Option<CaseId>, Self::Error> {
        Ok(id
            .as_str()
            .starts_with('r')
            .then(|| CaseId::new("SEC", 2026, 2)))
    }
    fn case_exists(&self, _: &CaseId) -> Result<bool, Self::Error> {
        Ok(true)
    }
}

fn main() {
    let team = vec!["alice@example.org".to_string()];
    afl::fuzz!(|data: &[u8]| {
        if let Parsed::Mail(m) = mail::parse(data) {
            let _ = classify(&m, "security@example.org", &team);
            let _ = find_case(&m, "security@example.org", "SEC", &Index);
            let body = commands::parse_body(&m.text);
            assert!(body.commands.len() <= commands::MAX_COMMANDS + 1);
        }
        let body = commands::parse_body(&String::from_utf8_lossy(data));
        assert!(body.commands.len() <= commands::MAX_COMMANDS + 1);
    });
}
