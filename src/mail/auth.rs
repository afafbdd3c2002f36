//! Decides whether a team member's mail is authenticated, from the
//! `Authentication-Results` headers (RFC 8601) stamped by our own receiving server:
//! a `dkim=pass` whose signing domain is aligned with the From domain, or a `dmarc=pass`
//! for the From domain. Headers whose authserv-id is not the configured one are ignored,
//! since anybody can write such a header into a mail.
//!
//! This module is pure and must never do I/O (no DNS, no signature checks: the MTA did
//! those), never trust a header stamped by another authserv-id, and never panic on
//! garbage. It relies on the MTA removing incoming headers that claim our authserv-id
//! (RFC 8601 §5); every header that carries our id is taken as ours.

use std::fmt;

use crate::types::address_domain;

/// The outcome for one mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthVerdict {
    Pass {
        /// `"dkim"` or `"dmarc"`.
        method: &'static str,
        detail: String,
    },
    Fail {
        /// Plain words, fit for a transcript.
        reason: String,
    },
}

impl fmt::Display for AuthVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthVerdict::Pass { detail, .. } => write!(f, "authenticated: {detail}"),
            AuthVerdict::Fail { reason } => write!(f, "not authenticated: {reason}"),
        }
    }
}

/// One parsed `Authentication-Results` header value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthResults {
    pub authserv_id: String,
    pub version: Option<String>,
    /// Empty for `none` or when no result could be read.
    pub results: Vec<MethodResult>,
}

/// The methods whose results the desk acts on; any other is kept by its name (lower-cased,
/// without a `/version`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    Dkim,
    Dmarc,
    Spf,
    Other(String),
}

impl From<&str> for Method {
    fn from(name: &str) -> Method {
        match name.to_ascii_lowercase().as_str() {
            "dkim" => Method::Dkim,
            "dmarc" => Method::Dmarc,
            "spf" => Method::Spf,
            other => Method::Other(other.to_string()),
        }
    }
}

/// A method's result (RFC 8601 §2.7): the two the desk acts on, and any other as written
/// (lower-cased), for the transcript.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Pass,
    Fail,
    Other(String),
}

impl Outcome {
    pub fn as_str(&self) -> &str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "fail",
            Outcome::Other(text) => text,
        }
    }
}

impl From<&str> for Outcome {
    fn from(text: &str) -> Outcome {
        match text.to_ascii_lowercase().as_str() {
            "pass" => Outcome::Pass,
            "fail" => Outcome::Fail,
            other => Outcome::Other(other.to_string()),
        }
    }
}

/// One `method=result` with what came with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MethodResult {
    pub method: Method,
    pub result: Outcome,
    pub reason: Option<String>,
    pub comments: Vec<String>,
    /// `(ptype.property lower-cased, value as written)`, in order.
    pub properties: Vec<(String, String)>,
}

impl MethodResult {
    /// The first value of `key` (e.g. `header.d`), case-insensitive.
    pub fn property(&self, key: &str) -> Option<&str> {
        self.properties
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Word(String),
    Quoted(String),
    Comment(String),
    Semi,
    Eq,
}

/// Splits a header value into tokens. Folding is white space; comments nest and take
/// backslash escapes; an unterminated comment or quote just ends at the end.
fn lex(value: &str) -> Vec<Tok> {
    let mut toks = Vec::new();
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ';' => toks.push(Tok::Semi),
            '=' => toks.push(Tok::Eq),
            '(' => {
                let mut depth = 1usize;
                let mut text = String::new();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => text.extend(chars.next()),
                        '(' => {
                            depth += 1;
                            text.push(c);
                        }
                        ')' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                            text.push(c);
                        }
                        _ => text.push(c),
                    }
                }
                toks.push(Tok::Comment(text));
            }
            '"' => {
                let mut text = String::new();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => text.extend(chars.next()),
                        '"' => break,
                        _ => text.push(c),
                    }
                }
                toks.push(Tok::Quoted(text));
            }
            ')' => {}
            c if c.is_whitespace() => {}
            _ => {
                let mut word = String::from(c);
                while let Some(&n) = chars.peek() {
                    if n.is_whitespace() || matches!(n, ';' | '=' | '(' | ')' | '"') {
                        break;
                    }
                    word.push(n);
                    chars.next();
                }
                toks.push(Tok::Word(word));
            }
        }
    }
    toks
}

/// Parses one header value (folded or not). `None` when it has no authserv-id, e.g.
/// the ones some providers write starting straight with `spf=pass`.
pub fn parse_header(value: &str) -> Option<AuthResults> {
    let toks = lex(value);
    let mut segments = toks.split(|t| *t == Tok::Semi);
    let first: Vec<&Tok> = segments
        .next()?
        .iter()
        .filter(|t| !matches!(t, Tok::Comment(_)))
        .collect();
    let mut first = first.into_iter();
    let authserv_id = match first.next()? {
        Tok::Word(w) | Tok::Quoted(w) if !w.is_empty() => w.clone(),
        _ => return None,
    };
    let version = match first.next() {
        Some(Tok::Eq) => return None,
        Some(Tok::Word(w)) if w.chars().all(|c| c.is_ascii_digit()) => Some(w.clone()),
        _ => None,
    };
    let results = segments.filter_map(parse_resinfo).collect();
    Some(AuthResults {
        authserv_id,
        version,
        results,
    })
}

/// `method[/version]=result [reason=…] [ptype.property=value …]` with comments anywhere.
fn parse_resinfo(toks: &[Tok]) -> Option<MethodResult> {
    let mut comments = Vec::new();
    let mut items = Vec::new();
    for t in toks {
        match t {
            Tok::Comment(c) => comments.push(c.trim().to_string()),
            other => items.push(other),
        }
    }
    let mut method: Option<(String, String)> = None;
    let mut reason = None;
    let mut properties = Vec::new();
    let mut it = items.into_iter().peekable();
    while let Some(tok) = it.next() {
        let Tok::Word(key) = tok else { continue };
        if it.peek() != Some(&&Tok::Eq) {
            continue;
        }
        it.next();
        let value = match it.peek() {
            Some(Tok::Word(v) | Tok::Quoted(v)) => v.clone(),
            _ => continue,
        };
        it.next();
        if method.is_none() {
            let name = key
                .split('/')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            method = Some((name, value.to_ascii_lowercase()));
        } else if key.eq_ignore_ascii_case("reason") {
            reason = Some(value);
        } else if key.contains('.') {
            properties.push((key.to_ascii_lowercase(), value));
        }
    }
    let (method, result) = method?;
    Some(MethodResult {
        method: Method::from(method.as_str()),
        result: Outcome::from(result.as_str()),
        reason,
        comments,
        properties,
    })
}

/// [`evaluate`] for a whole mail: a mail with more than one `From:` header is never
/// authenticated (which From did the server judge?).
pub fn evaluate_mail(
    mail: &crate::mail::Mail,
    authserv_id: &str,
    from_address: &str,
) -> AuthVerdict {
    if mail.from_headers > 1 || mail.from_mailboxes > 1 {
        return AuthVerdict::Fail {
            reason: format!(
                "the mail names {} senders (From); commands need exactly one",
                mail.from_headers.max(mail.from_mailboxes)
            ),
        };
    }
    let headers: Vec<&str> = mail.stamped_values("Authentication-Results").collect();
    evaluate(&headers, authserv_id, from_address)
}

/// Whether `header` starts with `authserv_id` the way a receiving server writes its own:
/// bare and first, then a space or `;`. RFC 8601 lets the id be quoted or follow a
/// comment, but no server writes its own so, and such a copy slips past the rule that
/// strips incoming ones (`^Authentication-Results:\s*id[\s;]`): it can only be forged.
fn written_as_servers_do(header: &str, authserv_id: &str) -> bool {
    let value = header.trim_start();
    value
        .get(..authserv_id.len())
        .is_some_and(|id| id.eq_ignore_ascii_case(authserv_id))
        && value[authserv_id.len()..]
            .chars()
            .next()
            .is_none_or(|c| c.is_whitespace() || c == ';')
}

/// Whether the mail from `from_address` is authenticated according to the headers
/// stamped by `authserv_id`. `auth_results_headers` are raw header values.
pub fn evaluate(
    auth_results_headers: &[&str],
    authserv_id: &str,
    from_address: &str,
) -> AuthVerdict {
    let fail = |reason: String| AuthVerdict::Fail { reason };
    let authserv_id = authserv_id.trim();
    if authserv_id.is_empty() {
        return fail("no authserv-id is configured, so no header can be trusted".to_string());
    }
    let Some(from) = from_domain(from_address) else {
        return fail(format!(
            "the From address `{}` has no domain",
            sanitize(from_address)
        ));
    };

    let mut trusted = Vec::new();
    let mut ignored = 0usize;
    for header in auth_results_headers {
        match parse_header(header) {
            Some(ar)
                if ar.authserv_id.eq_ignore_ascii_case(authserv_id)
                    && written_as_servers_do(header, authserv_id) =>
            {
                trusted.push(ar)
            }
            _ => ignored += 1,
        }
    }
    if trusted.is_empty() {
        let note = match ignored {
            0 => String::new(),
            1 => " (1 header from another server ignored)".to_string(),
            n => format!(" ({n} headers from other servers ignored)"),
        };
        return fail(format!(
            "no Authentication-Results header from {}{note}",
            sanitize(authserv_id)
        ));
    }

    let results: Vec<&MethodResult> = trusted.iter().flat_map(|a| a.results.iter()).collect();
    if results.is_empty() {
        return fail(format!(
            "the Authentication-Results from {} has no results",
            sanitize(authserv_id)
        ));
    }
    let dkim: Vec<&MethodResult> = results
        .iter()
        .copied()
        .filter(|r| r.method == Method::Dkim)
        .collect();
    let dmarc: Vec<&MethodResult> = results
        .iter()
        .copied()
        .filter(|r| r.method == Method::Dmarc)
        .collect();

    for r in dkim.iter().filter(|r| r.result == Outcome::Pass) {
        if let Some(d) = signing_domain(r).filter(|d| aligned(d, &from)) {
            return AuthVerdict::Pass {
                method: "dkim",
                detail: format!("dkim=pass header.d={d}, aligned with {from}"),
            };
        }
    }
    // A dmarc=pass counts only for the From actually used: one without header.from
    // says nothing about which From it judged (it once passed for any From).
    for r in dmarc.iter().filter(|r| r.result == Outcome::Pass) {
        if r.property("header.from").map(normalize_domain).as_deref() == Some(from.as_str()) {
            return AuthVerdict::Pass {
                method: "dmarc",
                detail: format!("dmarc=pass header.from={from}"),
            };
        }
    }

    let dkim_part = if dkim.is_empty() {
        "no dkim=pass".to_string()
    } else {
        join_unique(dkim.iter().map(|r| describe_dkim(r, &from)))
    };
    let dmarc_part = if dmarc.is_empty() {
        "no dmarc=pass".to_string()
    } else {
        join_unique(dmarc.iter().map(|r| describe_dmarc(r, &from)))
    };
    fail(format!("{dkim_part} and {dmarc_part}"))
}

/// Every result in the headers stamped by `authserv_id` (case-insensitive) and written
/// as that server writes its own (see `written_as_servers_do`); headers from any other
/// server, or a copy of its id quoted or behind a comment, are dropped unread. What the
/// spam verdict reads: it must trust no forged `dkim=pass` the command check refuses.
pub fn trusted_results(auth_results_headers: &[&str], authserv_id: &str) -> Vec<MethodResult> {
    let id = authserv_id.trim();
    if id.is_empty() {
        return Vec::new();
    }
    auth_results_headers
        .iter()
        .filter(|h| written_as_servers_do(h, id))
        .filter_map(|h| parse_header(h))
        .filter(|ar| ar.authserv_id.eq_ignore_ascii_case(id))
        .flat_map(|ar| ar.results)
        .collect()
}

/// Whether one of `results` is a `dkim=pass` whose signing domain is aligned with the
/// domain of `from_address`.
pub fn has_aligned_dkim_pass(results: &[MethodResult], from_address: &str) -> bool {
    let Some(from) = from_domain(from_address) else {
        return false;
    };
    results.iter().any(|r| {
        r.method == Method::Dkim
            && r.result == Outcome::Pass
            && signing_domain(r).is_some_and(|d| aligned(&d, &from))
    })
}

/// The normalised domain of a From address (bare or `Name <address>`).
pub fn from_address_domain(from_address: &str) -> Option<String> {
    from_domain(from_address)
}

/// A domain as compared here: trimmed, no final dot, lower case.
pub fn normalized_domain(d: &str) -> String {
    normalize_domain(d)
}

/// Header text made fit for a transcript or a summary line.
pub fn sanitize_text(text: &str) -> String {
    sanitize(text)
}

fn describe_dkim(r: &MethodResult, from: &str) -> String {
    if r.result == Outcome::Pass {
        return match signing_domain(r) {
            Some(d) => format!("dkim=pass for {d}, which is not aligned with {from}"),
            None => "dkim=pass without a signing domain".to_string(),
        };
    }
    with_why(format!("dkim={}", sanitize(r.result.as_str())), r)
}

fn describe_dmarc(r: &MethodResult, from: &str) -> String {
    if r.result == Outcome::Pass {
        return match r.property("header.from").map(normalize_domain) {
            Some(hf) => format!("dmarc=pass for {}, not {from}", sanitize(&hf)),
            None => format!("dmarc=pass without header.from, so not shown to be for {from}"),
        };
    }
    with_why(format!("dmarc={}", sanitize(r.result.as_str())), r)
}

/// Adds the first comment, else the reason, in parentheses: the MTA's own words.
fn with_why(mut text: String, r: &MethodResult) -> String {
    let why = r
        .comments
        .iter()
        .find(|c| !c.is_empty())
        .or(r.reason.as_ref());
    if let Some(why) = why {
        text.push_str(&format!(" ({})", sanitize(why)));
    }
    text
}

fn join_unique(parts: impl Iterator<Item = String>) -> String {
    let mut seen: Vec<String> = Vec::new();
    for p in parts {
        if !seen.contains(&p) {
            seen.push(p);
        }
    }
    seen.join(", ")
}

/// `header.d`, else the domain of `header.i`.
fn signing_domain(r: &MethodResult) -> Option<String> {
    let d = match r.property("header.d") {
        Some(d) => normalize_domain(d),
        None => {
            let i = r.property("header.i")?;
            normalize_domain(i.rsplit_once('@').map_or(i, |(_, d)| d))
        }
    };
    (!d.is_empty()).then_some(d)
}

/// Relaxed alignment, kept simple: the same domain, or the From domain is a subdomain
/// of the signing domain. A single-label `d` (a bare TLD) never aligns.
fn aligned(d: &str, from: &str) -> bool {
    d.contains('.') && (from == d || from.ends_with(&format!(".{d}")))
}

/// A domain as DKIM and DMARC name it: lower-cased ASCII (an international From domain
/// is already in its punycode form, from `normalize_address`; a stamp's `header.d` is
/// ASCII by RFC 6376, and anything else in it never matches).
fn normalize_domain(d: &str) -> String {
    d.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// Accepts a bare address or `Name <address>`.
fn from_domain(from_address: &str) -> Option<String> {
    let addr = match (from_address.rfind('<'), from_address.rfind('>')) {
        (Some(open), Some(close)) if open < close => from_address.get(open + 1..close)?,
        _ => from_address,
    };
    let d = normalize_domain(&address_domain(addr)?);
    (!d.is_empty() && !d.contains(char::is_whitespace)).then_some(d)
}

/// Header text ends up in transcripts: no control characters, bounded length.
fn sanitize(text: &str) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| if c.is_whitespace() { ' ' } else { c })
        .filter(|c| !c.is_control())
        .collect();
    let words: Vec<&str> = cleaned.split_whitespace().collect();
    let joined = words.join(" ");
    if joined.chars().count() > 120 {
        let cut: String = joined.chars().take(120).collect();
        format!("{cut}…")
    } else {
        joined
    }
}

#[cfg(test)]
mod tests {

    use super::*;

    const ID: &str = "mx.example.org";
    const FROM: &str = "carol@example.org";

    /// What `evaluate` says of one header stamped by us, for carol@example.org.
    fn check(header: &str, expected: AuthVerdict) {
        assert_eq!(evaluate(&[header], ID, FROM), expected, "{header}");
    }

    fn pass(method: &'static str, detail: &str) -> AuthVerdict {
        AuthVerdict::Pass {
            method,
            detail: detail.to_string(),
        }
    }

    fn fail(reason: &str) -> AuthVerdict {
        AuthVerdict::Fail {
            reason: reason.to_string(),
        }
    }

    /// An international domain signs in its ASCII form (`header.d=xn--…`): a member
    /// writing from the Unicode form is aligned with it. (They never were: every command
    /// was refused as "not aligned".)
    #[test]
    fn an_international_domain_aligns_in_either_form() {
        let h = "mx.example.org; dkim=pass header.d=xn--bcher-kva.example header.s=s1";
        for from in ["carol@bücher.example", "carol@xn--bcher-kva.example"] {
            assert!(
                matches!(evaluate(&[h], ID, from), AuthVerdict::Pass { .. }),
                "{from}: {:?}",
                evaluate(&[h], ID, from)
            );
        }
    }

    #[test]
    fn dkim_aligned_passes() {
        let h = "mx.example.org; dkim=pass header.d=example.org header.s=sel1";
        check(
            h,
            pass(
                "dkim",
                "dkim=pass header.d=example.org, aligned with example.org",
            ),
        );
        // From a subdomain of the signing domain; display name and case do not matter.
        assert_eq!(
            evaluate(&[h], ID, "Carol <Carol@Lists.Example.ORG>"),
            pass(
                "dkim",
                "dkim=pass header.d=example.org, aligned with lists.example.org"
            )
        );
        // header.i stands in for a missing header.d.
        check(
            "mx.example.org; dkim=pass header.i=@Example.org.",
            pass(
                "dkim",
                "dkim=pass header.d=example.org, aligned with example.org",
            ),
        );
    }

    #[test]
    fn dkim_for_another_domain_fails() {
        let h =
            "mx.example.org; dkim=pass header.d=evil.example; spf=pass smtp.mailfrom=example.org";
        check(
            h,
            fail(
                "dkim=pass for evil.example, which is not aligned with example.org and no dmarc=pass",
            ),
        );
        // The parent of the From domain aligns, a child or a look-alike does not.
        for d in ["mail.example.org", "notexample.org", "org"] {
            let h = format!("mx.example.org; dkim=pass header.d={d}");
            assert!(
                matches!(evaluate(&[&h], ID, FROM), AuthVerdict::Fail { .. }),
                "{d}"
            );
        }
        check(
            "mx.example.org; dkim=pass",
            fail("dkim=pass without a signing domain and no dmarc=pass"),
        );
    }

    #[test]
    fn dkim_fail_reason_quotes_the_comment() {
        check(
            "mx.example.org; dkim=fail (signature did not verify) header.d=example.org",
            fail("dkim=fail (signature did not verify) and no dmarc=pass"),
        );
        check(
            "mx.example.org; dkim=temperror reason=\"key lookup timed out\"; dmarc=fail header.from=example.org",
            fail("dkim=temperror (key lookup timed out) and dmarc=fail"),
        );
    }

    #[test]
    fn dmarc_pass_passes() {
        check(
            "mx.example.org; spf=pass smtp.mailfrom=example.org; dkim=none; dmarc=pass (p=reject dis=none) header.from=example.org",
            pass("dmarc", "dmarc=pass header.from=example.org"),
        );
        // Regression: without header.from it passed for any From. It says nothing about
        // which From was judged, so it does not authenticate.
        check(
            "mx.example.org; dmarc=pass",
            fail(
                "no dkim=pass and dmarc=pass without header.from, so not shown to be for example.org",
            ),
        );
        check(
            "mx.example.org; dmarc=pass header.from=other.example",
            fail("no dkim=pass and dmarc=pass for other.example, not example.org"),
        );
    }

    /// An id quoted, after a comment, or run into a comment is how RFC 8601 allows it
    /// and no server writes its own, and the strip rule the README gives lets each of
    /// them through: a copy so written is forged. (Each passed as the server's.)
    #[test]
    fn an_id_written_otherwise_than_servers_write_it_is_not_trusted() {
        for forged in [
            "\"mx.example.org\"; dkim=pass header.d=example.org",
            "(x) mx.example.org; dkim=pass header.d=example.org",
            "mx.example.org(x); dkim=pass header.d=example.org",
            "mx.example.org.evil; dkim=pass header.d=example.org",
        ] {
            assert_eq!(
                evaluate(&[forged], ID, FROM),
                fail(
                    "no Authentication-Results header from mx.example.org (1 header from another server ignored)"
                ),
                "{forged}"
            );
        }
        for written in [
            "mx.example.org; dkim=pass header.d=example.org",
            "MX.Example.ORG 1; dkim=pass header.d=example.org",
            "\r\n\tmx.example.org (Postfix) ;\r\n dkim=pass header.d=example.org",
        ] {
            assert!(
                matches!(evaluate(&[written], ID, FROM), AuthVerdict::Pass { .. }),
                "{written}"
            );
        }
    }

    #[test]
    fn foreign_authserv_id_is_ignored() {
        let forged =
            "evil.example; dkim=pass header.d=example.org; dmarc=pass header.from=example.org";
        check(
            forged,
            fail(
                "no Authentication-Results header from mx.example.org (1 header from another server ignored)",
            ),
        );
        // A look-alike id is foreign too.
        let forged = "mx.example.org.evil.example; dkim=pass header.d=example.org";
        assert!(matches!(
            evaluate(&[forged], ID, FROM),
            AuthVerdict::Fail { .. }
        ));
        assert_eq!(
            evaluate(&[], ID, FROM),
            fail("no Authentication-Results header from mx.example.org")
        );
    }

    #[test]
    fn multiple_headers() {
        let forged = "evil.example; dkim=pass header.d=example.org";
        let ours_fail = "mx.example.org; dkim=fail (body hash did not verify) header.d=example.org";
        let ours_list = "MX.Example.ORG 1; dkim=pass header.d=lists.example.net; dkim=pass header.d=example.org";
        assert_eq!(
            evaluate(&[forged, ours_fail, ours_list], ID, FROM),
            pass(
                "dkim",
                "dkim=pass header.d=example.org, aligned with example.org"
            )
        );
        assert_eq!(
            evaluate(&[forged, ours_fail], ID, FROM),
            fail("dkim=fail (body hash did not verify) and no dmarc=pass")
        );
        // Same failure twice is said once; different ones are listed.
        let other = "mx.example.org; dkim=neutral (no key) header.d=example.org; dmarc=none";
        assert_eq!(
            evaluate(&[ours_fail, ours_fail, other], ID, FROM),
            fail("dkim=fail (body hash did not verify), dkim=neutral (no key) and dmarc=none")
        );
        // Split DKIM and DMARC stamping by two milters with the same id.
        let dkim_only = "mx.example.org; dkim=fail header.d=example.org";
        let dmarc_only = "mx.example.org; dmarc=pass header.from=example.org";
        assert_eq!(
            evaluate(&[dkim_only, dmarc_only], ID, FROM),
            pass("dmarc", "dmarc=pass header.from=example.org")
        );
    }

    #[test]
    fn comments_quotes_versions_and_folding() {
        let h = "mx.example.org (Postfix \\(edge\\) (nested)) 1;\r\n\tdkim/1 = pass (2048-bit key; secure)\r\n  reason=\"signature ok; fine\" header.d=\"Example.org\" header.s=sel1 (selector)\r\n  header.b=AbC+/dEf=;\r\n spf=pass smtp.mailfrom=carol@example.org";
        let ar = parse_header(h).unwrap();
        assert_eq!(ar.authserv_id, "mx.example.org");
        assert_eq!(ar.version.as_deref(), Some("1"));
        assert_eq!(
            ar.results,
            vec![
                MethodResult {
                    method: "dkim".into(),
                    result: "pass".into(),
                    reason: Some("signature ok; fine".into()),
                    comments: vec!["2048-bit key; secure".into(), "selector".into()],
                    properties: vec![
                        ("header.d".into(), "Example.org".into()),
                        ("header.s".into(), "sel1".into()),
                        ("header.b".into(), "AbC+/dEf".into()),
                    ],
                },
                MethodResult {
                    method: "spf".into(),
                    result: "pass".into(),
                    reason: None,
                    comments: vec![],
                    properties: vec![("smtp.mailfrom".into(), "carol@example.org".into())],
                },
            ]
        );
        check(
            h,
            pass(
                "dkim",
                "dkim=pass header.d=example.org, aligned with example.org",
            ),
        );
        // A quoted authserv-id is read, but no server writes its own so: never trusted
        // (`an_id_written_otherwise_than_servers_write_it_is_not_trusted`).
        let quoted = "\"mx.example.org\"; dmarc=PASS header.from=EXAMPLE.org";
        assert_eq!(parse_header(quoted).unwrap().authserv_id, "mx.example.org");
    }

    #[test]
    fn none_means_no_results() {
        for h in [
            "mx.example.org; none",
            "mx.example.org 1; none",
            "mx.example.org",
        ] {
            let ar = parse_header(h).unwrap();
            assert!(ar.results.is_empty(), "{h}");
            check(
                h,
                fail("the Authentication-Results from mx.example.org has no results"),
            );
        }
    }

    #[test]
    fn headers_without_an_authserv_id_are_foreign() {
        // The shape some providers use: results straight away.
        let h = "spf=pass (sender IP is 192.0.2.1) smtp.mailfrom=example.org; dkim=pass header.d=example.org";
        assert_eq!(parse_header(h), None);
        check(
            h,
            fail(
                "no Authentication-Results header from mx.example.org (1 header from another server ignored)",
            ),
        );
    }

    #[test]
    fn bad_configuration_and_from() {
        let h = "mx.example.org; dkim=pass header.d=example.org";
        assert_eq!(
            evaluate(&[h], " ", FROM),
            fail("no authserv-id is configured, so no header can be trusted")
        );
        assert_eq!(
            evaluate(&[h], ID, "carol"),
            fail("the From address `carol` has no domain")
        );
    }

    #[test]
    fn garbage_never_panics() {
        let long = "(".repeat(10_000);
        let junk = format!("mx.example.org; dkim=fail ({})", "x\u{7}".repeat(500));
        let inputs = [
            "",
            ";",
            ";;;;",
            "=",
            "= = =; =",
            "(((((",
            ")))))",
            "\"unterminated",
            "mx.example.org; dkim",
            "mx.example.org; dkim=",
            "mx.example.org; dkim=;",
            "mx.example.org; =pass",
            "mx.example.org; dkim=\"pass",
            "mx.example.org; dkim=pass header.d=",
            "mx.example.org; dkim=pass (unclosed header.d=example.org",
            "mx.example.org; dkim=pass header.d=example.org\\",
            "mx.example.org \u{0}; dkim=pass header.d=\u{feff}example.org",
            "mx.example.org; dkim=pass header.d=exämple.org",
            "\u{1F600}; \u{1F600}=\u{1F600}",
            &long,
            &junk,
        ];
        for h in inputs {
            let _ = parse_header(h);
            let v = evaluate(&[h], ID, FROM);
            assert!(matches!(v, AuthVerdict::Fail { .. }), "{h:?}");
        }
        let v = evaluate(&[&junk], ID, FROM);
        let AuthVerdict::Fail { reason } = v else {
            panic!("should fail")
        };
        assert!(!reason.chars().any(char::is_control), "{reason:?}");
        assert!(reason.chars().count() < 200, "{reason:?}");
    }
}
