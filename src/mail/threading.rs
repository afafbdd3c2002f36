//! Finds the case a mail belongs to.
//!
//! Order of evidence, strongest first (JWZ / RFC 5256 style, then our own markers):
//! 1. the Message-ID chain: `In-Reply-To`, then `References` from the nearest ancestor
//!    back;
//! 2. the reverse link: a message already on a case that references this mail's own id
//!    (the reply arrived before the mail it answers);
//! 3. the case tag in the decoded subject (`[SEC-2026-0007]`);
//! 4. the plus address (`security+sec-2026-0007@…`) among the recipients;
//! 5. ids of messages embedded in the mail (the original inside a bounce): after the
//!    tag, since a person may attach any mail on file to a mail about another case.
//!
//! Invariant: pure; lookups go through [`ThreadIndex`], which the store implements inside
//! the processing transaction. A tag or plus address naming a case that does not exist is
//! ignored, and subject text without a tag never joins two threads.

use crate::mail::Mail;
use crate::mail::classify::LOOP_HEADER;
use crate::mail::subject;
use crate::types::{CaseId, MessageId, normalize_address};

/// What the threading needs to know about cases already on file.
/// A lookup that fails is an error, never "no case": taking it for "not found" would
/// open a new case for a reply.
pub trait ThreadIndex {
    type Error;
    /// The case holding the first of these ids that is known (in the order given).
    fn case_of_any(&self, ids: &[MessageId]) -> Result<Option<CaseId>, Self::Error>;
    /// A case one of whose messages references `id`.
    fn case_referencing(&self, id: &MessageId) -> Result<Option<CaseId>, Self::Error>;
    fn case_exists(&self, id: &CaseId) -> Result<bool, Self::Error>;
    /// The case a moved case's old id now names (`#move`), if any.
    fn alias_of(&self, _id: &CaseId) -> Result<Option<CaseId>, Self::Error> {
        Ok(None)
    }
}

/// How the case was found, for the timeline and the logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThreadReason {
    MessageChain,
    ReverseReference,
    SubjectTag,
    PlusAddress,
    /// A team member named the case with `#case`.
    Named,
}

impl ThreadReason {
    pub fn describe(self) -> &'static str {
        match self {
            ThreadReason::MessageChain => "threaded by its References",
            ThreadReason::ReverseReference => "a message already on the case answers it",
            ThreadReason::SubjectTag => "the case tag in its subject",
            ThreadReason::PlusAddress => "the case's plus address",
            ThreadReason::Named => "named with #case",
        }
    }
}

/// Ids to look up, nearest ancestor first, then the mails embedded in it, without
/// repeats.
pub fn ancestor_ids(mail: &Mail) -> Vec<MessageId> {
    let mut ids = chain_ids(mail);
    push_new(&mut ids, mail, mail.embedded_ids.iter());
    ids
}

/// The mail's own ancestors (`In-Reply-To`, then `References` from the nearest back).
fn chain_ids(mail: &Mail) -> Vec<MessageId> {
    let mut ids = Vec::new();
    let chain = mail.in_reply_to.iter().chain(mail.references.iter().rev());
    push_new(&mut ids, mail, chain);
    ids
}

fn push_new<'a>(ids: &mut Vec<MessageId>, mail: &Mail, more: impl Iterator<Item = &'a MessageId>) {
    for id in more {
        if *id != mail.message_id && !ids.contains(id) {
            ids.push(id.clone());
        }
    }
}

/// The case tag carried by a plus address `local+tag@domain` of the desk, or of a plus
/// address of it (`security+cohttp+cohttp-2026-0001@`: the address a desk taken out of
/// the configuration gave its reporters, its cases now the top level's).
pub fn plus_address_case(recipient: &str, desk_address: &str, prefix: &str) -> Option<CaseId> {
    let (local, domain) = recipient.rsplit_once('@')?;
    let (desk_local, desk_domain) = desk_address.rsplit_once('@')?;
    if !domain.eq_ignore_ascii_case(desk_domain) {
        return None;
    }
    // The last `+`: a desk's own address may be a plus address (`security+cohttp@`).
    let (base, tag) = local.rsplit_once('+')?;
    let ours = base.eq_ignore_ascii_case(desk_local)
        || base
            .get(..desk_local.len() + 1)
            .is_some_and(|b| b.eq_ignore_ascii_case(&format!("{desk_local}+")));
    if !ours {
        return None;
    }
    CaseId::parse(tag).filter(|id| id.prefix().eq_ignore_ascii_case(prefix))
}

/// The case of `mail`, if any, and the evidence used, for a single desk: the message
/// chain, then the subject tag, then a plus address (see [`find_case_in`]).
pub fn find_case<I: ThreadIndex>(
    mail: &Mail,
    desk_address: &str,
    prefix: &str,
    index: &I,
) -> Result<Option<(CaseId, ThreadReason)>, I::Error> {
    let host = desk_address.rsplit_once('@').map_or("", |(_, d)| d);
    find_case_in(mail, (&[(desk_address, prefix)], &[host]), index)
}

/// [`find_case`] across several desks, each `(address, case prefix)`, whose mail's
/// Message-IDs are on `hosts`: the message chain once, then each desk's subject tag,
/// then each desk's plus addresses. The old id of a moved case (`#move`) names the case
/// it became.
pub fn find_case_in<I: ThreadIndex>(
    mail: &Mail,
    (desks, hosts): (&[(&str, &str)], &[&str]),
    index: &I,
) -> Result<Option<(CaseId, ThreadReason)>, I::Error> {
    // The mail's own ancestors first. A mail embedded in it (the original inside a
    // bounce; a report attached as evidence, a forward as attachment) comes after the
    // subject's tag and the plus addresses: a member's `#reply` under one case's tag went
    // to the reporter of the case whose report was attached.
    let chain = chain_ids(mail);
    if let Some(case) = index.case_of_any(&chain)? {
        return Ok(Some((case, ThreadReason::MessageChain)));
    }
    let ids = ancestor_ids(mail);
    if let Some(case) = index.case_referencing(&mail.message_id)? {
        return Ok(Some((case, ThreadReason::ReverseReference)));
    }
    // Mail another desk sent (its loop header names none of ours) carries that desk's
    // case tag: it names its cases, not ours, whatever its number. So does a person's
    // answer to such mail (a reply-all, a forward, which carry no loop header), whose
    // parents are a secdesk's mail none of which is on file here: every desk keeping the
    // default `SEC` numbers SEC-2026-0001 too. A plus address of ours is ours whoever
    // writes to it.
    let foreign = mail.header_values(LOOP_HEADER).any(|v| {
        let v = normalize_address(v);
        !desks.iter().any(|(address, _)| v == *address)
    }) || ids.iter().any(|id| {
        crate::outgoing::desk_id_host(id)
            .is_some_and(|host| !hosts.iter().any(|h| h.eq_ignore_ascii_case(host)))
    });
    let known = |case: CaseId| -> Result<Option<CaseId>, I::Error> {
        if index.case_exists(&case)? {
            return Ok(Some(case));
        }
        index.alias_of(&case)
    };
    // Each desk's first tag, in the order they come in the subject: the tag a reply
    // keeps at the front, not the one of the desk listed first (a report forwarded to
    // one desk with another desk's tag in its subject was filed on that other case).
    let mut tags: Vec<(usize, CaseId)> = desks
        .iter()
        .filter(|_| !foreign)
        .filter_map(|(_, prefix)| subject::case_tag_at(&mail.subject, prefix))
        .map(|(case, at)| (at, case))
        .collect();
    tags.sort_by_key(|(at, _)| *at);
    for (_, case) in tags {
        if let Some(case) = known(case)? {
            return Ok(Some((case, ThreadReason::SubjectTag)));
        }
    }
    // At most MAX_IDS distinct case ids are looked up, however many recipients name
    // them: each is two lookups inside the write transaction.
    let mut asked = std::collections::BTreeSet::new();
    for (address, prefix) in desks {
        for case in mail
            .all_recipients()
            .filter_map(|r| plus_address_case(r, address, prefix))
        {
            if asked.len() >= crate::mail::MAX_IDS {
                return Ok(None);
            }
            if !asked.insert(case.clone()) {
                continue;
            }
            if let Some(case) = known(case)? {
                return Ok(Some((case, ThreadReason::PlusAddress)));
            }
        }
    }
    let embedded = ids.get(chain.len()..).unwrap_or_default();
    if !embedded.is_empty()
        && let Some(case) = index.case_of_any(embedded)?
    {
        return Ok(Some((case, ThreadReason::MessageChain)));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mail::{Parsed, parse};
    use std::collections::BTreeMap;

    /// An in-memory index: message id → case, and (referenced id → case).
    #[derive(Default)]
    struct Index {
        messages: BTreeMap<String, CaseId>,
        referenced: BTreeMap<String, CaseId>,
    }

    impl ThreadIndex for Index {
        type Error = std::convert::Infallible;
        fn case_of_any(&self, ids: &[MessageId]) -> Result<Option<CaseId>, Self::Error> {
            Ok(ids
                .iter()
                .find_map(|i| self.messages.get(i.as_str()).cloned()))
        }
        fn case_referencing(&self, id: &MessageId) -> Result<Option<CaseId>, Self::Error> {
            Ok(self.referenced.get(id.as_str()).cloned())
        }
        fn case_exists(&self, id: &CaseId) -> Result<bool, Self::Error> {
            Ok(self.messages.values().any(|c| c == id))
        }
    }

    fn case(n: u32) -> CaseId {
        CaseId::new("SEC", 2026, n)
    }

    fn index() -> Index {
        let mut ix = Index::default();
        ix.messages.insert("report1@rita".into(), case(1));
        ix.messages.insert("ack1@desk".into(), case(1));
        ix.messages.insert("report2@bob".into(), case(2));
        ix.referenced.insert("late-parent@rita".into(), case(2));
        ix
    }

    fn mail(headers: &str) -> Mail {
        let raw = format!("From: rita@example.com\r\nMessage-ID: <new@x>\r\n{headers}\r\nbody\r\n");
        match parse(raw.as_bytes()) {
            Parsed::Mail(m) => *m,
            Parsed::Unreadable { reason, .. } => panic!("{reason}"),
        }
    }

    fn check(headers: &str, want: Option<(u32, ThreadReason)>) {
        let got = find_case(&mail(headers), "security@example.org", "SEC", &index()).unwrap();
        assert_eq!(got, want.map(|(n, r)| (case(n), r)), "{headers:?}");
    }

    #[test]
    fn threading_table() {
        use ThreadReason::*;
        check("Subject: hello\r\n", None);
        check(
            "In-Reply-To: <ack1@desk>\r\nSubject: Re: hello\r\n",
            Some((1, MessageChain)),
        );
        // The nearest known ancestor wins over older ones.
        check(
            "References: <report2@bob> <unknown@y> <report1@rita>\r\nSubject: x\r\n",
            Some((1, MessageChain)),
        );
        check(
            "References: <unknown@y>\r\nSubject: [SEC-2026-0002] x\r\n",
            Some((2, SubjectTag)),
        );
        // References beat a contradicting tag.
        check(
            "In-Reply-To: <report1@rita>\r\nSubject: [SEC-2026-0002] x\r\n",
            Some((1, MessageChain)),
        );
        // A tag for a case that does not exist is ignored; so is subject text alone.
        check("Subject: Re: [SEC-2026-0099] x\r\n", None);
        check(
            "Subject: =?UTF-8?B?W1NFQy0yMDI2LTAwMDFdIMOcYmVybGF1Zg==?=\r\n",
            Some((1, SubjectTag)),
        );
        check(
            "To: security+sec-2026-0002@example.org\r\nSubject: hi\r\n",
            Some((2, PlusAddress)),
        );
        check(
            "To: security+sec-2026-0002@other.org\r\nSubject: hi\r\n",
            None,
        );
        check(
            "Delivered-To: security+SEC-2026-0001@example.org\r\nSubject: hi\r\n",
            Some((1, PlusAddress)),
        );
    }

    /// A mail attached to a fresh mail (a forward as attachment, an `.eml` as evidence)
    /// threads it only when nothing else names a case: the subject's tag and a plus
    /// address come first. A member's `#reply` under `[SEC-2026-0002]` went to case 1's
    /// reporter, whose report was attached. A bounce, tagless, still threads by it.
    #[test]
    fn an_attached_mail_threads_only_when_nothing_else_names_a_case() {
        let with_attached = |headers: &str| {
            let raw = format!(
                "From: alice@example.org\r\nMessage-ID: <new@x>\r\n{headers}MIME-Version: 1.0\r\n\
                 Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\
                 Content-Type: text/plain\r\n\r\n#reply\r\nHi\r\n--b\r\n\
                 Content-Type: message/rfc822\r\n\r\nFrom: rita@example.com\r\n\
                 Message-ID: <report1@rita>\r\nSubject: bug\r\n\r\nreport\r\n--b--\r\n"
            );
            let Parsed::Mail(m) = parse(raw.as_bytes()) else {
                panic!()
            };
            find_case(&m, "security@example.org", "SEC", &index()).unwrap()
        };
        assert_eq!(
            with_attached("Subject: [SEC-2026-0002] duplicate\r\n"),
            Some((case(2), ThreadReason::SubjectTag))
        );
        assert_eq!(
            with_attached("To: security+sec-2026-0002@example.org\r\nSubject: dup\r\n"),
            Some((case(2), ThreadReason::PlusAddress))
        );
        assert_eq!(
            with_attached("Subject: Undelivered Mail Returned to Sender\r\n"),
            Some((case(1), ThreadReason::MessageChain))
        );
    }

    #[test]
    fn reverse_reference() {
        let raw = "From: rita@example.com\r\nMessage-ID: <late-parent@rita>\r\nSubject: x\r\n\r\nbody\r\n";
        let Parsed::Mail(m) = parse(raw.as_bytes()) else {
            panic!()
        };
        let got = find_case(&m, "security@example.org", "SEC", &index()).unwrap();
        assert_eq!(got, Some((case(2), ThreadReason::ReverseReference)));
    }

    #[test]
    fn plus_addresses() {
        assert_eq!(
            plus_address_case(
                "security+sec-2026-0007@example.org",
                "security@example.org",
                "SEC"
            ),
            Some(case(7))
        );
        assert_eq!(
            plus_address_case("security@example.org", "security@example.org", "SEC"),
            None
        );
        assert_eq!(
            plus_address_case(
                "other+sec-2026-0007@example.org",
                "security@example.org",
                "SEC"
            ),
            None
        );
        assert_eq!(
            plus_address_case(
                "security+xyz-2026-0007@example.org",
                "security@example.org",
                "SEC"
            ),
            None
        );
    }

    /// An index whose database is gone.
    struct Broken;

    impl ThreadIndex for Broken {
        type Error = &'static str;
        fn case_of_any(&self, _: &[MessageId]) -> Result<Option<CaseId>, Self::Error> {
            Err("disk I/O error")
        }
        fn case_referencing(&self, _: &MessageId) -> Result<Option<CaseId>, Self::Error> {
            Err("disk I/O error")
        }
        fn case_exists(&self, _: &CaseId) -> Result<bool, Self::Error> {
            Err("disk I/O error")
        }
    }

    #[test]
    fn a_failed_lookup_is_an_error_not_a_new_case() {
        let reply = mail("In-Reply-To: <ack1@desk>\r\nSubject: Re: [SEC-2026-0001] x\r\n");
        assert_eq!(
            find_case(&reply, "security@example.org", "SEC", &Broken),
            Err("disk I/O error")
        );
    }

    /// An index that counts its case lookups and knows no case.
    struct Counting(std::cell::Cell<usize>);

    impl ThreadIndex for Counting {
        type Error = &'static str;
        fn case_of_any(&self, _: &[MessageId]) -> Result<Option<CaseId>, Self::Error> {
            Ok(None)
        }
        fn case_referencing(&self, _: &MessageId) -> Result<Option<CaseId>, Self::Error> {
            Ok(None)
        }
        fn case_exists(&self, _: &CaseId) -> Result<bool, Self::Error> {
            self.0.set(self.0.get() + 1);
            Ok(false)
        }
    }

    /// Thousands of recipients naming cases by plus address cost at most `MAX_IDS` case
    /// lookups inside the transaction. (Each recipient cost two, unbounded.)
    #[test]
    fn plus_addresses_cost_a_bounded_number_of_lookups() {
        let many: Vec<String> = (0..3000)
            .map(|n| format!("security+sec-2026-{:04}@example.org", n % 1500 + 1))
            .collect();
        let m = mail(&format!(
            "To: {}\r\nCc: {}\r\nSubject: x\r\n",
            many[..700].join(", "),
            many[700..1400].join(", ")
        ));
        assert_eq!(m.all_recipients().count(), 1400);
        let counting = Counting(std::cell::Cell::new(0));
        assert_eq!(
            find_case(&m, "security@example.org", "SEC", &counting),
            Ok(None)
        );
        assert_eq!(counting.0.get(), crate::mail::MAX_IDS);
    }
}
