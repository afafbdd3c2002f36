//! Is this mail suspect? The verdict that keeps spam, phishing and forged senders from
//! being acknowledged (backscatter) or announced to the team one by one.
//!
//! Two sources count, both written by the desk's own receiving server:
//! - its `Authentication-Results` (only headers stamped by `team.authserv_id`, parsed by
//!   [`crate::mail::auth`]): `dmarc=fail`, or `spf=fail` with no aligned `dkim=pass`;
//! - the configured spam filter's headers: SpamAssassin's `X-Spam-Flag` / `X-Spam-Status`
//!   (with `score=`), rspamd's `X-Spam` / `X-Rspamd-Action` / `X-Rspamd-Score`; a score
//!   at or above the threshold is spam even when the filter's own flag says no.
//!
//! Invariants: pure (no I/O, no clock), never panics on input, and trusts nothing the
//! sender could write unless the receiving server strips such headers arriving from
//! outside (`secdesk check` and the README say so). A header it cannot read counts for
//! nothing: a malformed header never makes a mail suspect, nor clean.

use crate::config::SpamFilter;
use crate::mail::auth;

/// What the desk needs to judge a mail.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rules<'a> {
    /// `team.authserv_id`: the only `Authentication-Results` trusted. `None`: none is.
    pub authserv_id: Option<&'a str>,
    /// Whose spam headers count.
    pub filter: SpamFilter,
    /// `[spam] threshold`: a filter score at or above it is spam.
    pub threshold: f64,
}

/// The outcome.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Clean,
    /// Why, in plain words (one line each), in the order found.
    Suspect(Vec<String>),
}

impl Verdict {
    pub fn is_suspect(&self) -> bool {
        matches!(self, Verdict::Suspect(_))
    }

    /// The reasons joined for one line of a summary or an event.
    pub fn reason(&self) -> String {
        match self {
            Verdict::Clean => String::new(),
            Verdict::Suspect(r) => r.join("; "),
        }
    }
}

/// Judges a mail by its headers (name, raw value) and its From address.
pub fn judge(headers: &[(String, String)], from_address: &str, rules: &Rules<'_>) -> Verdict {
    let values = |name: &'static str| {
        headers
            .iter()
            .filter(move |(n, _)| n.trim().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    let mut reasons = Vec::new();

    if let Some(id) = rules.authserv_id {
        // Only as the server writes its own: see `mail::stamped`.
        let ar: Vec<&str> = super::stamped(headers, "Authentication-Results").collect();
        let results = auth::trusted_results(&ar, id);
        let from = auth::from_address_domain(from_address);
        let id = auth::sanitize_text(id);
        let dmarc_fail = results.iter().any(|r| {
            r.method == auth::Method::Dmarc
                && r.result == auth::Outcome::Fail
                // A dmarc result about another domain than the From domain is not about
                // this mail's sender; without header.from it is taken as being about it.
                && match (r.property("header.from"), &from) {
                    (Some(hf), Some(f)) => auth::normalized_domain(hf) == *f,
                    _ => true,
                }
        });
        if dmarc_fail {
            reasons.push(format!("{id} says dmarc=fail"));
        }
        let spf_fail = results
            .iter()
            .any(|r| r.method == auth::Method::Spf && r.result == auth::Outcome::Fail);
        if spf_fail && !auth::has_aligned_dkim_pass(&results, from_address) {
            reasons.push(format!("{id} says spf=fail, with no aligned dkim=pass"));
        }
    }

    match rules.filter {
        SpamFilter::None => {}
        SpamFilter::SpamAssassin => {
            if values("X-Spam-Flag").any(is_yes) {
                reasons.push("SpamAssassin: X-Spam-Flag: YES".into());
            }
            let mut flagged = false;
            let mut score: Option<f64> = None;
            for v in values("X-Spam-Status") {
                let v = unfold(v);
                let first = v.split([',', ' ']).next().unwrap_or("");
                flagged |= is_yes(first);
                if let Some(s) = v
                    .split([',', ' '])
                    .find_map(|t| t.strip_prefix("score="))
                    .and_then(parse_score)
                {
                    score = Some(score.map_or(s, |old: f64| old.max(s)));
                }
            }
            if flagged {
                reasons.push("SpamAssassin: X-Spam-Status: Yes".into());
            }
            if let Some(s) = score.filter(|s| *s >= rules.threshold) {
                reasons.push(format!(
                    "SpamAssassin score {s:.1} >= threshold {:.1}",
                    rules.threshold
                ));
            }
        }
        SpamFilter::Rspamd => {
            if values("X-Spam").any(is_yes) {
                reasons.push("rspamd: X-Spam: Yes".into());
            }
            if let Some(action) = values("X-Rspamd-Action")
                .map(unfold)
                .find(|a| !a.is_empty() && !a.eq_ignore_ascii_case("no action"))
            {
                reasons.push(format!(
                    "rspamd action: {}",
                    auth::sanitize_text(&action.to_ascii_lowercase())
                ));
            }
            let score = values("X-Rspamd-Score")
                .filter_map(|v| parse_score(&unfold(v)))
                .fold(None, |acc: Option<f64>, s| {
                    Some(acc.map_or(s, |a| a.max(s)))
                });
            if let Some(s) = score.filter(|s| *s >= rules.threshold) {
                reasons.push(format!(
                    "rspamd score {s:.1} >= threshold {:.1}",
                    rules.threshold
                ));
            }
        }
    }

    if reasons.is_empty() {
        Verdict::Clean
    } else {
        Verdict::Suspect(reasons)
    }
}

/// `YES`, `Yes`, ` yes ` (the flag headers' only meaningful word).
fn is_yes(v: &str) -> bool {
    v.trim().eq_ignore_ascii_case("yes")
}

/// Folded header text on one line, single-spaced.
fn unfold(v: &str) -> String {
    v.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A finite decimal score; `nan`, `inf` and garbage are no score.
fn parse_score(text: &str) -> Option<f64> {
    let t = text.trim();
    let plain = !t.is_empty()
        && t.len() <= 32
        && t.chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | '+'));
    if !plain {
        return None;
    }
    t.parse::<f64>().ok().filter(|s| s.is_finite())
}

/// One line fit for a summary: no control characters, no line breaks, bounded.
pub fn one_line(text: &str, max_chars: usize) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| if c.is_whitespace() { ' ' } else { c })
        .filter(|c| !c.is_control() && !is_invisible(*c))
        .collect();
    let joined = cleaned.split_whitespace().collect::<Vec<_>>().join(" ");
    if joined.chars().count() > max_chars {
        let mut cut: String = joined.chars().take(max_chars).collect();
        cut.push('…');
        cut
    } else {
        joined
    }
}

/// Bidirectional overrides and zero-width characters: they make a line lie about itself.
fn is_invisible(c: char) -> bool {
    matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "mx.example.org";
    const FROM: &str = "carol@example.org";

    fn rules(filter: SpamFilter) -> Rules<'static> {
        Rules {
            authserv_id: Some(ID),
            filter,
            threshold: 5.0,
        }
    }

    fn judge_with(filter: SpamFilter, headers: &[(&str, &str)]) -> Verdict {
        let h: Vec<(String, String)> = headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        judge(&h, FROM, &rules(filter))
    }

    fn suspect(reasons: &[&str]) -> Verdict {
        Verdict::Suspect(reasons.iter().map(|r| r.to_string()).collect())
    }

    #[test]
    fn authentication_results_table() {
        use SpamFilter::None as N;
        let ar = "Authentication-Results";
        let table: &[(&str, Verdict)] = &[
            // DMARC.
            (
                "mx.example.org; dmarc=fail header.from=example.org",
                suspect(&["mx.example.org says dmarc=fail"]),
            ),
            (
                "mx.example.org; dmarc=fail (p=reject)",
                suspect(&["mx.example.org says dmarc=fail"]),
            ),
            (
                "mx.example.org; dmarc=FAIL header.from=Example.ORG.",
                suspect(&["mx.example.org says dmarc=fail"]),
            ),
            (
                "mx.example.org; dmarc=pass header.from=example.org",
                Verdict::Clean,
            ),
            (
                "mx.example.org; dmarc=none header.from=example.org",
                Verdict::Clean,
            ),
            ("mx.example.org; none", Verdict::Clean),
            // About another domain: not this sender's verdict.
            (
                "mx.example.org; dmarc=fail header.from=other.example",
                Verdict::Clean,
            ),
            // SPF fail, with and without an aligned DKIM pass.
            (
                "mx.example.org; spf=fail smtp.mailfrom=example.org",
                suspect(&["mx.example.org says spf=fail, with no aligned dkim=pass"]),
            ),
            (
                "mx.example.org; spf=fail smtp.mailfrom=example.org; dkim=pass header.d=example.org",
                Verdict::Clean,
            ),
            (
                "mx.example.org; spf=fail; dkim=pass header.d=lists.example.org",
                suspect(&["mx.example.org says spf=fail, with no aligned dkim=pass"]),
            ),
            (
                "mx.example.org; spf=fail; dkim=pass header.d=evil.example",
                suspect(&["mx.example.org says spf=fail, with no aligned dkim=pass"]),
            ),
            (
                "mx.example.org; spf=fail; dkim=fail header.d=example.org",
                suspect(&["mx.example.org says spf=fail, with no aligned dkim=pass"]),
            ),
            ("mx.example.org; spf=softfail; dkim=none", Verdict::Clean),
            (
                "mx.example.org; spf=pass; dkim=none; dmarc=none",
                Verdict::Clean,
            ),
            // Both at once: both reasons.
            (
                "mx.example.org; spf=fail; dmarc=fail",
                suspect(&[
                    "mx.example.org says dmarc=fail",
                    "mx.example.org says spf=fail, with no aligned dkim=pass",
                ]),
            ),
            // A foreign authserv-id, or a look-alike, is ignored whatever it says.
            ("evil.example; dmarc=fail; spf=fail", Verdict::Clean),
            ("mx.example.org.evil.example; dmarc=fail", Verdict::Clean),
            (
                "spf=fail smtp.mailfrom=example.org; dmarc=fail",
                Verdict::Clean,
            ),
            // Malformed.
            ("mx.example.org; dmarc", Verdict::Clean),
            ("mx.example.org; dmarc=", Verdict::Clean),
            ("mx.example.org; =fail", Verdict::Clean),
            ("(((", Verdict::Clean),
            ("", Verdict::Clean),
        ];
        for (value, expected) in table {
            assert_eq!(&judge_with(N, &[(ar, value)]), expected, "{value}");
        }
        // A forged header cannot undo the trusted one, nor can a foreign pass.
        assert_eq!(
            judge_with(
                N,
                &[
                    (
                        ar,
                        "evil.example; dmarc=pass; dkim=pass header.d=example.org"
                    ),
                    (ar, "mx.example.org; dmarc=fail"),
                ]
            ),
            suspect(&["mx.example.org says dmarc=fail"])
        );
        // The aligned DKIM pass may come in a second header of our own server.
        assert_eq!(
            judge_with(
                N,
                &[
                    (ar, "mx.example.org; spf=fail"),
                    (ar, "MX.example.org 1; dkim=pass header.d=example.org"),
                ]
            ),
            Verdict::Clean
        );
        // No authserv_id configured: no Authentication-Results counts.
        let h = vec![(ar.to_string(), "mx.example.org; dmarc=fail".to_string())];
        let none = Rules {
            authserv_id: None,
            ..rules(N)
        };
        assert_eq!(judge(&h, FROM, &none), Verdict::Clean);
        // No From domain: spf=fail cannot be rescued by any DKIM pass.
        let h = vec![(
            ar.to_string(),
            "mx.example.org; spf=fail; dkim=pass header.d=example.org".to_string(),
        )];
        assert!(judge(&h, "", &rules(N)).is_suspect());
    }

    /// The server's own header says SPF failed; a copy of its id written as no server
    /// writes its own (quoted, behind a comment, run into one), which its strip rule lets
    /// through, cannot rescue the mail with a forged `dkim=pass`.
    #[test]
    fn a_forged_copy_of_the_servers_id_rescues_nothing() {
        let real = (
            "Authentication-Results",
            "mx.example.org; spf=fail smtp.mailfrom=example.org; dkim=none",
        );
        for forged in [
            "(x) mx.example.org; dkim=pass header.d=example.org",
            "\"mx.example.org\"; dkim=pass header.d=example.org",
            "mx.example.org(x); dkim=pass header.d=example.org",
        ] {
            let headers = [real, ("Authentication-Results", forged)];
            assert_eq!(
                judge_with(SpamFilter::None, &headers),
                suspect(&["mx.example.org says spf=fail, with no aligned dkim=pass"]),
                "{forged}"
            );
        }
        // Written as the server writes it, the same pass does rescue it.
        let genuine = (
            "Authentication-Results",
            "mx.example.org; dkim=pass header.d=example.org",
        );
        assert_eq!(
            judge_with(SpamFilter::None, &[real, genuine]),
            Verdict::Clean
        );
    }

    #[test]
    fn spamassassin_table() {
        use SpamFilter::SpamAssassin as S;
        let table: &[(&[(&str, &str)], Verdict)] = &[
            (
                &[("X-Spam-Flag", "YES")],
                suspect(&["SpamAssassin: X-Spam-Flag: YES"]),
            ),
            (
                &[("X-Spam-Flag", " yes\r\n")],
                suspect(&["SpamAssassin: X-Spam-Flag: YES"]),
            ),
            (&[("X-Spam-Flag", "NO")], Verdict::Clean),
            (
                // The shape spamassassin 4 writes, folded.
                &[
                    ("X-Spam-Flag", "YES"),
                    (
                        "X-Spam-Status",
                        "Yes, score=1000.0 required=5.0 tests=GTUBE,NO_RECEIVED,\r\n\tNO_RELAYS autolearn=no autolearn_force=no version=4.0.1",
                    ),
                ],
                suspect(&[
                    "SpamAssassin: X-Spam-Flag: YES",
                    "SpamAssassin: X-Spam-Status: Yes",
                    "SpamAssassin score 1000.0 >= threshold 5.0",
                ]),
            ),
            (
                &[(
                    "X-Spam-Status",
                    "No, score=-0.1 required=5.0 tests=NO_RECEIVED autolearn=ham",
                )],
                Verdict::Clean,
            ),
            // Scores around the threshold, whatever the filter's own flag says.
            (
                &[("X-Spam-Status", "No, score=4.9 required=8.0")],
                Verdict::Clean,
            ),
            (
                &[("X-Spam-Status", "No, score=5.0 required=8.0")],
                suspect(&["SpamAssassin score 5.0 >= threshold 5.0"]),
            ),
            (
                &[("X-Spam-Status", "No, score=5.1 required=8.0")],
                suspect(&["SpamAssassin score 5.1 >= threshold 5.0"]),
            ),
            (
                &[("X-Spam-Status", "Yes, score=3.0 required=2.0")],
                suspect(&["SpamAssassin: X-Spam-Status: Yes"]),
            ),
            // Malformed.
            (&[("X-Spam-Status", "No, score=nan")], Verdict::Clean),
            (&[("X-Spam-Status", "No, score=inf")], Verdict::Clean),
            (&[("X-Spam-Status", "No, score=1e9")], Verdict::Clean),
            (&[("X-Spam-Status", "No, score=")], Verdict::Clean),
            (
                &[("X-Spam-Status", "score=12")],
                suspect(&["SpamAssassin score 12.0 >= threshold 5.0"]),
            ),
            (&[("X-Spam-Status", "")], Verdict::Clean),
            (&[("X-Spam-Status", "Yesterday, score=x")], Verdict::Clean),
            (&[("X-Spam-Flag", "YES please")], Verdict::Clean),
            // rspamd's headers do not count with filter = spamassassin.
            (
                &[("X-Spam", "Yes"), ("X-Rspamd-Score", "20")],
                Verdict::Clean,
            ),
        ];
        for (headers, expected) in table {
            assert_eq!(&judge_with(S, headers), expected, "{headers:?}");
        }
    }

    #[test]
    fn rspamd_table() {
        use SpamFilter::Rspamd as R;
        let table: &[(&[(&str, &str)], Verdict)] = &[
            (&[("X-Spam", "Yes")], suspect(&["rspamd: X-Spam: Yes"])),
            (&[("X-Spam", "No")], Verdict::Clean),
            (
                &[("X-Rspamd-Action", "no action"), ("X-Rspamd-Score", "-1.2")],
                Verdict::Clean,
            ),
            (&[("X-Rspamd-Action", "No Action")], Verdict::Clean),
            (
                &[("X-Rspamd-Action", "add header"), ("X-Rspamd-Score", "6.5")],
                suspect(&[
                    "rspamd action: add header",
                    "rspamd score 6.5 >= threshold 5.0",
                ]),
            ),
            (
                &[("X-Rspamd-Action", "reject")],
                suspect(&["rspamd action: reject"]),
            ),
            (
                &[("X-Rspamd-Action", "rewrite\r\n subject")],
                suspect(&["rspamd action: rewrite subject"]),
            ),
            (&[("X-Rspamd-Score", "4.99")], Verdict::Clean),
            (
                &[("X-Rspamd-Score", "5")],
                suspect(&["rspamd score 5.0 >= threshold 5.0"]),
            ),
            (
                &[("X-Rspamd-Score", "5.01")],
                suspect(&["rspamd score 5.0 >= threshold 5.0"]),
            ),
            // Malformed.
            (&[("X-Rspamd-Score", "lots")], Verdict::Clean),
            (&[("X-Rspamd-Score", "NaN")], Verdict::Clean),
            (&[("X-Rspamd-Action", "")], Verdict::Clean),
            (&[("X-Spam", "")], Verdict::Clean),
            // SpamAssassin's headers do not count with filter = rspamd.
            (
                &[("X-Spam-Flag", "YES"), ("X-Spam-Status", "Yes, score=99")],
                Verdict::Clean,
            ),
        ];
        for (headers, expected) in table {
            assert_eq!(&judge_with(R, headers), expected, "{headers:?}");
        }
    }

    #[test]
    fn filter_none_reads_no_filter_header() {
        let v = judge_with(
            SpamFilter::None,
            &[
                ("X-Spam-Flag", "YES"),
                ("X-Spam", "Yes"),
                ("X-Rspamd-Action", "reject"),
            ],
        );
        assert_eq!(v, Verdict::Clean);
        // Authentication-Results still count.
        let v = judge_with(
            SpamFilter::None,
            &[("Authentication-Results", "mx.example.org; dmarc=fail")],
        );
        assert_eq!(v.reason(), "mx.example.org says dmarc=fail");
    }

    #[test]
    fn summary_lines_are_one_clean_line() {
        assert_eq!(
            one_line("Hello\r\n\tworld\u{7}\u{1b}[31m", 80),
            "Hello world[31m"
        );
        assert_eq!(one_line("a\u{202e}b\u{200b}c", 80), "abc");
        assert_eq!(one_line("abcdef", 3), "abc…");
        assert_eq!(one_line("", 3), "");
    }

    #[test]
    fn garbage_never_panics() {
        let long = "x".repeat(100_000);
        for filter in [
            SpamFilter::SpamAssassin,
            SpamFilter::Rspamd,
            SpamFilter::None,
        ] {
            for v in [
                "",
                ",",
                "score=",
                "score=score=",
                "\u{0}",
                "Yes,,,,score=5..5",
                "\u{1F600}",
                long.as_str(),
            ] {
                for name in [
                    "X-Spam-Flag",
                    "X-Spam-Status",
                    "X-Spam",
                    "X-Rspamd-Action",
                    "X-Rspamd-Score",
                    "Authentication-Results",
                ] {
                    let _ = judge_with(filter, &[(name, v)]);
                }
            }
        }
    }
}
