//! The words of every mail the desk sends: one file per template (`templates/*.txt`, a
//! `Subject:` line, a blank line, then the body), built into the binary and overridable
//! from the configured directory (read by the shell, given here as text). Each template has
//! a typed context.
//!
//! Invariants: rendering is pure; an undefined variable is an error, not an empty string;
//! every template is rendered with sample data when the desk starts
//! ([`Templates::check`]), so a broken override fails at start-up, not at 3 a.m. on the
//! first real report.

use minijinja::value::Serde;
use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;
use std::collections::BTreeMap;

/// The built-in templates: (name, source).
const BUILTIN: &[(&str, &str)] = &[
    ("ack", include_str!("../../templates/ack.txt")),
    (
        "team-new-case",
        include_str!("../../templates/team-new-case.txt"),
    ),
    ("team-mail", include_str!("../../templates/team-mail.txt")),
    ("team-alert", include_str!("../../templates/team-alert.txt")),
    ("transcript", include_str!("../../templates/transcript.txt")),
    ("reply", include_str!("../../templates/reply.txt")),
    ("forward", include_str!("../../templates/forward.txt")),
    (
        "reminder-first-response",
        include_str!("../../templates/reminder-first-response.txt"),
    ),
    (
        "reminder-embargo",
        include_str!("../../templates/reminder-embargo.txt"),
    ),
    (
        "reminder-embargo-overdue",
        include_str!("../../templates/reminder-embargo-overdue.txt"),
    ),
    (
        "reminder-fixed-unpublished",
        include_str!("../../templates/reminder-fixed-unpublished.txt"),
    ),
    (
        "reminder-one-off",
        include_str!("../../templates/reminder-one-off.txt"),
    ),
    ("digest", include_str!("../../templates/digest.txt")),
    ("announce", include_str!("../../templates/announce.txt")),
    (
        "preannounce",
        include_str!("../../templates/preannounce.txt"),
    ),
    ("published", include_str!("../../templates/published.txt")),
];

/// A template's subject and body after rendering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub body: String,
}

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("template {name}: cannot read {path}: {source}")]
    Read {
        name: String,
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("template {name}: {message}")]
    Syntax { name: String, message: String },
    #[error("template {name}: {message}")]
    Render { name: String, message: String },
    #[error("template {name}: the first line must be `Subject: …` followed by a blank line")]
    NoSubject { name: String },
}

/// A typed template context.
pub trait TemplateContext: Serialize {
    /// The template's name (its file is `<NAME>.txt`).
    const NAME: &'static str;

    /// The context with every value made safe: see [`Clean`]. [`Templates::render`]
    /// renders only this, so no value from a mail reaches a template raw.
    fn sanitized(&self) -> Self
    where
        Self: Sized;
}

/// Fields that hold a block of text (a message, a table, an advisory); every other string
/// field is one line.
const BLOCK_FIELDS: &[&str] = &["text", "table", "markdown", "report", "status"];

/// A context value made safe for a template: strings in [`BLOCK_FIELDS`] keep their lines
/// (control characters removed), every other string becomes one line
/// ([`crate::sanitize`]).
pub trait Clean {
    fn clean(&self, block: bool) -> Self;
}

impl Clean for String {
    fn clean(&self, block: bool) -> Self {
        if block {
            crate::sanitize::text_block(self)
        } else {
            crate::sanitize::one_line(self)
        }
    }
}

impl<T: Clean> Clean for Option<T> {
    fn clean(&self, block: bool) -> Self {
        self.as_ref().map(|v| v.clean(block))
    }
}

impl<T: Clean> Clean for Vec<T> {
    fn clean(&self, block: bool) -> Self {
        self.iter().map(|v| v.clean(block)).collect()
    }
}

macro_rules! clean_as_is {
    ($($t:ty),*) => { $(impl Clean for $t { fn clean(&self, _: bool) -> Self { *self } })* };
}
clean_as_is!(bool, u32, usize);

/// The loaded templates.
pub struct Templates {
    env: Environment<'static>,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Templates")
    }
}

/// Describes a minijinja error with its line, in plain words.
fn describe(e: &minijinja::Error) -> String {
    let mut s = e
        .detail()
        .map(str::to_string)
        .unwrap_or_else(|| e.kind().to_string());
    if let Some(line) = e.line() {
        s = format!("line {line}: {s}");
    }
    s
}

impl Templates {
    /// A team alert (`[tag] headline`, then `text`) through the team-alert template, or,
    /// if that override fails on it, plain with the failure said first: a failed
    /// template costs an alert its layout, never the alert (the case's history says the
    /// team was told; a summary's list is in no other mail).
    pub fn alert(&self, tag: &str, headline: &str, text: String) -> Rendered {
        self.render(&TeamAlert {
            case_id: tag.to_string(),
            headline: headline.to_string(),
            text: text.clone(),
        })
        .unwrap_or_else(|e| {
            tracing::error!(error = %e, headline, "the team-alert template failed; the alert goes plain");
            Rendered {
                subject: format!("[{tag}] {headline}"),
                body: format!(
                    "The team-alert template failed on this alert ({e}); here it is without \
                     it. Fix the override (`secdesk check` renders them all).\n\n{text}"
                ),
            }
        })
    }

    /// The built-in templates alone.
    pub fn builtin() -> Result<Templates, TemplateError> {
        Templates::with_overrides(&BTreeMap::new())
    }

    /// The built-in templates, each replaced by the source in `overrides` under its name
    /// when there is one. The shell reads the override files (`service::files`); this
    /// only compiles what it is given.
    pub fn with_overrides(
        overrides: &BTreeMap<String, String>,
    ) -> Result<Templates, TemplateError> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        let mut syntax = minijinja::syntax::SyntaxConfig::builder();
        syntax.keep_trailing_newline(true).trim_blocks(false);
        if let Ok(cfg) = syntax.build() {
            env.set_syntax(cfg);
        }
        for (name, builtin) in BUILTIN {
            let source = match overrides.get(*name) {
                Some(text) => text.clone(),
                None => builtin.to_string(),
            };
            env.add_template_owned(name.to_string(), source)
                .map_err(|e| TemplateError::Syntax {
                    name: name.to_string(),
                    message: describe(&e),
                })?;
        }
        Ok(Templates { env })
    }

    /// The names of the templates (an override file is `<name>.txt`).
    pub fn names() -> impl Iterator<Item = &'static str> {
        BUILTIN.iter().map(|(name, _)| *name)
    }

    /// Renders a template with its typed context.
    pub fn render<C: TemplateContext>(&self, ctx: &C) -> Result<Rendered, TemplateError> {
        let name = C::NAME;
        let tmpl = self
            .env
            .get_template(name)
            .map_err(|e| TemplateError::Render {
                name: name.to_string(),
                message: describe(&e),
            })?;
        let text = tmpl
            .render(Serde(&ctx.sanitized()))
            .map_err(|e| TemplateError::Render {
                name: name.to_string(),
                message: describe(&e),
            })?;
        split_subject(name, &text)
    }

    /// Renders every template with sample data: the start-up check.
    pub fn check(&self) -> Result<(), Vec<TemplateError>> {
        let errors: Vec<TemplateError> = samples::all(self)
            .into_iter()
            .filter_map(Result::err)
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

fn split_subject(name: &str, text: &str) -> Result<Rendered, TemplateError> {
    let text = text.replace("\r\n", "\n");
    let no_subject = || TemplateError::NoSubject {
        name: name.to_string(),
    };
    let (head, body) = text.split_once("\n\n").ok_or_else(no_subject)?;
    let subject = head
        .strip_prefix("Subject:")
        .ok_or_else(no_subject)?
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    Ok(Rendered {
        subject,
        body: body.to_string(),
    })
}

macro_rules! context {
    ($name:literal, $ty:ident { $($field:ident : $t:ty),* $(,)? }) => {
        #[derive(Debug, Clone, Serialize, Default)]
        pub struct $ty { $(pub $field: $t),* }
        impl TemplateContext for $ty {
            const NAME: &'static str = $name;
            fn sanitized(&self) -> Self {
                $ty { $($field: Clean::clean(&self.$field, BLOCK_FIELDS.contains(&stringify!($field)))),* }
            }
        }
    };
}

context!("ack", Ack {
    case_id: String, subject: String, reporter_name: Option<String>, desk_name: String,
    respond_by: String, embargo_end: Option<String>,
});
context!("team-new-case", TeamNewCase {
    case_id: String, subject: String, desk_address: String, from: String, also_to: Vec<String>,
    received: String, respond_by: Option<String>, embargo_end: Option<String>, ack_note: String,
    attachments: Vec<String>, text: String,
});
context!("team-mail", TeamMail {
    case_id: String, subject: String, role: String, headline: String, from: String,
    also_to: Vec<String>, received: String, note: Option<String>, text: String,
});
context!(
    "team-alert",
    TeamAlert {
        case_id: String,
        headline: String,
        text: String
    }
);
context!("transcript", Transcript {
    case_id: String, subject: String, lines: Vec<TranscriptLine>, failed: bool, status: String,
});
/// One command line and what it did.
#[derive(Debug, Clone, Serialize, Default)]
pub struct TranscriptLine {
    pub line_no: usize,
    pub text: String,
    pub ok: bool,
    pub result: String,
}

impl Clean for TranscriptLine {
    fn clean(&self, _: bool) -> Self {
        TranscriptLine {
            line_no: self.line_no,
            text: self.text.clean(false),
            ok: self.ok,
            result: self.result.clean(false),
        }
    }
}
context!(
    "reply",
    Reply {
        case_id: String,
        subject: String,
        text: String,
        desk_name: String
    }
);
context!("forward", Forward {
    case_id: String, subject: String, desk_name: String, text: String, severity: Option<String>,
    embargo_end: Option<String>, report: String,
});
context!("reminder-first-response", ReminderFirstResponse {
    case_id: String, subject: String, deadline: String, waited: u32, late: bool, due: String,
    assignee: Option<String>,
});
context!("reminder-embargo", ReminderEmbargo {
    case_id: String, subject: String, deadline: String, when: String, late: bool, due: String,
    status: String, fixed_in: Option<String>, assignee: Option<String>,
});
context!("reminder-fixed-unpublished", ReminderFixedUnpublished {
    case_id: String, subject: String, fixed: String, fixed_in: Option<String>,
    deadline: String, late: bool, due: String, assignee: Option<String>,
});
context!("reminder-embargo-overdue", ReminderEmbargoOverdue {
    case_id: String, subject: String, deadline: String, days_over: u32, late: bool, due: String,
    status: String, assignee: Option<String>,
});
context!(
    "reminder-one-off",
    ReminderOneOff {
        case_id: String,
        subject: String,
        deadline: String,
        note: String,
        late: bool,
        due: String,
    }
);
context!(
    "digest",
    Digest {
        desk_name: String,
        today: String,
        open_count: usize,
        table: String,
        timezone: String,
    }
);
context!(
    "announce",
    Announce {
        advisory_id: String,
        summary: String,
        markdown: String
    }
);
context!(
    "preannounce",
    Preannounce {
        desk_name: String,
        package: String,
        date: String
    }
);
context!("published", Published {
    case_id: String, advisory_id: String, summary: String, markdown: String,
    reporter_name: Option<String>, desk_name: String,
});

/// Sample contexts, used by the start-up check and the tests.
pub mod samples {
    use super::*;

    fn s(x: &str) -> String {
        x.to_string()
    }

    /// Renders every template once with plausible data.
    pub fn all(t: &Templates) -> Vec<Result<Rendered, TemplateError>> {
        let (case_id, subject) = ("SEC-2026-0007", "Heap overflow in the parser");
        let mut all = mail(t, case_id, subject);
        all.extend(reminders(t, case_id, subject));
        all.extend(publication(t, case_id, subject));
        all
    }

    /// The mail about a case: to the reporter, the team and upstream.
    fn mail(t: &Templates, case_id: &str, subject: &str) -> Vec<Result<Rendered, TemplateError>> {
        vec![
            t.render(&Ack {
                case_id: case_id.to_string(),
                subject: subject.to_string(),
                reporter_name: Some(s("Rita Reporter")),
                desk_name: s("Example Security Team"),
                respond_by: s("Thu 26 Nov 2026, 17:00 CET (Europe/Paris)"),
                embargo_end: Some(s("Sunday 21 February 2027")),
            }),
            t.render(&TeamNewCase {
                case_id: case_id.to_string(),
                subject: subject.to_string(),
                desk_address: s("security@example.org"),
                from: s("Rita Reporter <rita@example.com>"),
                also_to: vec![s("maintainer@upstream.example")],
                received: s("Mon 23 Nov 2026, 10:00 CET (Europe/Paris)"),
                respond_by: Some(s("Thu 26 Nov 2026, 17:00 CET (Europe/Paris)")),
                embargo_end: Some(s("Sunday 21 February 2027")),
                ack_note: s("acknowledged"),
                attachments: vec![s("poc.ml (text/plain, 120 bytes)")],
                text: s("The parser overflows."),
            }),
            t.render(&TeamMail {
                case_id: case_id.to_string(),
                subject: subject.to_string(),
                role: s("Reporter"),
                headline: s("The reporter wrote again on SEC-2026-0007."),
                from: s("rita@example.com"),
                also_to: Vec::new(),
                received: s("Mon 23 Nov 2026, 10:00 CET (Europe/Paris)"),
                note: None,
                text: s("More details."),
            }),
            t.render(&TeamAlert {
                case_id: case_id.to_string(),
                headline: s("commands refused"),
                text: s("The mail was not authenticated."),
            }),
            t.render(&Transcript {
                case_id: case_id.to_string(),
                subject: subject.to_string(),
                lines: vec![TranscriptLine {
                    line_no: 1,
                    text: s("#assign me"),
                    ok: true,
                    result: s("assigned to alice@example.org"),
                }],
                failed: false,
                status: s("Status: new, assigned to alice@example.org"),
            }),
            t.render(&Reply {
                case_id: case_id.to_string(),
                subject: subject.to_string(),
                text: s("Thanks, we reproduced it."),
                desk_name: s("Example Security Team"),
            }),
            t.render(&Forward {
                case_id: case_id.to_string(),
                subject: subject.to_string(),
                desk_name: s("Example Security Team"),
                text: s("Could you look at this?"),
                severity: Some(s("high")),
                embargo_end: Some(s("Sunday 21 February 2027")),
                report: s("The parser overflows."),
            }),
        ]
    }

    /// The reminders and the digest.
    fn reminders(
        t: &Templates,
        case_id: &str,
        subject: &str,
    ) -> Vec<Result<Rendered, TemplateError>> {
        vec![
            t.render(&ReminderFirstResponse {
                case_id: case_id.to_string(),
                subject: subject.to_string(),
                deadline: s("Thu 26 Nov 2026, 17:00 CET (Europe/Paris)"),
                waited: 3,
                late: true,
                due: s("Thu 26 Nov 2026, 17:00 CET (Europe/Paris)"),
                assignee: None,
            }),
            t.render(&ReminderEmbargo {
                case_id: case_id.to_string(),
                subject: subject.to_string(),
                deadline: s("Mon 1 Mar 2027, 00:00 CET (Europe/Paris)"),
                when: s("in 7 days"),
                late: false,
                due: s("Mon 22 Feb 2027, 09:00 CET (Europe/Paris)"),
                status: s("valid"),
                fixed_in: Some(s("1.4.2")),
                assignee: Some(s("alice@example.org")),
            }),
            t.render(&ReminderEmbargoOverdue {
                case_id: case_id.to_string(),
                subject: subject.to_string(),
                deadline: s("Mon 1 Mar 2027, 00:00 CET (Europe/Paris)"),
                days_over: 2,
                late: false,
                due: s("Wed 3 Mar 2027, 09:00 CET (Europe/Paris)"),
                status: s("fixed"),
                assignee: None,
            }),
            t.render(&ReminderFixedUnpublished {
                case_id: case_id.to_string(),
                subject: subject.to_string(),
                fixed: s("Tue 2 Mar 2027, 11:00 CET (Europe/Paris)"),
                fixed_in: Some(s("1.4.2")),
                deadline: s("Tue 2 Mar 2027, 17:00 CET (Europe/Paris)"),
                late: false,
                due: s("Tue 2 Mar 2027, 17:00 CET (Europe/Paris)"),
                assignee: None,
            }),
            t.render(&ReminderOneOff {
                case_id: case_id.to_string(),
                subject: subject.to_string(),
                deadline: s("Mon 4 Jan 2027, 09:00 CET (Europe/Paris)"),
                note: s("ask upstream about the backport"),
                late: false,
                due: s("Mon 4 Jan 2027, 09:00 CET (Europe/Paris)"),
            }),
            t.render(&Digest {
                desk_name: s("Example Security Team"),
                today: s("Monday 30 November 2026"),
                open_count: 1,
                table: s("SEC-2026-0007  alice  valid  high  …"),
                timezone: s("Europe/Paris"),
            }),
        ]
    }

    /// The announcements of a publication.
    fn publication(
        t: &Templates,
        case_id: &str,
        subject: &str,
    ) -> Vec<Result<Rendered, TemplateError>> {
        vec![
            t.render(&Announce {
                advisory_id: s("OSEC-2026-03"),
                summary: s("Heap overflow in the parser"),
                markdown: s("# Heap overflow in the parser\n"),
            }),
            t.render(&Preannounce {
                desk_name: s("Example Security Team"),
                package: s("example-parser"),
                date: s("Monday 1 March 2027"),
            }),
            t.render(&Published {
                case_id: case_id.to_string(),
                advisory_id: s("OSEC-2026-03"),
                summary: subject.to_string(),
                markdown: s("# Heap overflow in the parser\n"),
                reporter_name: None,
                desk_name: s("Example Security Team"),
            }),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_renders() {
        let t = Templates::builtin().unwrap();
        t.check().unwrap();
        assert_eq!(samples::all(&t).len(), BUILTIN.len());
    }

    /// An alert whose team-alert override fails on it goes plain, text and all; one
    /// whose override works goes through it.
    #[test]
    fn an_alert_goes_plain_when_its_template_fails() {
        let mut overrides = BTreeMap::new();
        overrides.insert(
            "team-alert".to_string(),
            "Subject: [{{ case_id }}] {{ headline }}\n\n{% if case_id == \"SEC-2026-0001\" %}{{ no_such_function() }}{% endif %}{{ text }}\n".to_string(),
        );
        let t = Templates::with_overrides(&overrides).unwrap();
        let plain = t.alert("SEC-2026-0001", "the push failed", "push it by hand".into());
        assert_eq!(plain.subject, "[SEC-2026-0001] the push failed");
        assert!(
            plain.body.contains("template failed") && plain.body.ends_with("push it by hand"),
            "{}",
            plain.body
        );
        let fine = t.alert("SEC-2026-0002", "the push failed", "push it by hand".into());
        assert!(!fine.body.contains("template failed"), "{}", fine.body);
    }

    #[test]
    fn ack_text() {
        let t = Templates::builtin().unwrap();
        let r = t
            .render(&Ack {
                case_id: "SEC-2026-0007".into(),
                subject: "Heap overflow".into(),
                reporter_name: None,
                desk_name: "Example Security Team".into(),
                respond_by: "Thu 26 Nov 2026, 17:00 CET (Europe/Paris)".into(),
                embargo_end: None,
            })
            .unwrap();
        assert_eq!(r.subject, "Re: [SEC-2026-0007] Heap overflow");
        assert!(
            r.body.starts_with("Hello,\n\nthank you for your report."),
            "{}",
            r.body
        );
        assert!(
            r.body
                .contains("answer you by Thu 26 Nov 2026, 17:00 CET (Europe/Paris) at the latest")
        );
        assert!(r.body.contains("credited by name"));
        assert!(
            r.body
                .contains("share your identity with the upstream maintainers")
        );
        assert!(
            !r.body.contains("confidential"),
            "no embargo paragraph without an embargo"
        );
        assert!(r.body.ends_with("the Example Security Team\n"));
    }

    #[test]
    fn broken_override_fails_at_load_or_check() {
        let ack = |text: &str| BTreeMap::from([("ack".to_string(), text.to_string())]);
        let err = Templates::with_overrides(&ack("Subject: {{ case_id }\n\nx"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("template ack: line 1"), "{err}");

        let t = Templates::with_overrides(&ack("Subject: {{ case_id }}\n\n{{ no_such_field }}"))
            .unwrap();
        let errs = t.check().unwrap_err();
        assert_eq!(errs.len(), 1);
        assert!(errs[0].to_string().contains("template ack"), "{}", errs[0]);

        let t = Templates::with_overrides(&ack("Hello {{ case_id }}\n\nbody")).unwrap();
        assert!(matches!(
            t.check().unwrap_err()[0],
            TemplateError::NoSubject { .. }
        ));
    }

    #[test]
    fn override_is_used() {
        let overrides = BTreeMap::from([(
            "ack".to_string(),
            "Subject: Got it: {{ case_id }}\n\nWe have {{ case_id }}.\n".to_string(),
        )]);
        let t = Templates::with_overrides(&overrides).unwrap();
        let r = t
            .render(&Ack {
                case_id: "SEC-2026-0001".into(),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(
            r,
            Rendered {
                subject: "Got it: SEC-2026-0001".into(),
                body: "We have SEC-2026-0001.\n".into()
            }
        );
    }
}
