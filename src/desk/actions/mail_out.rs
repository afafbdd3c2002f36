//! Commands that send mail out of the desk: `#reply` to the reporter, `#forward`
//! upstream, `#preannounce` and `#publish` to the announce list.

use super::{Step, Work, fail, first_line, ok};
use crate::desk::case::{Event, EventKind, NewEvent};
use crate::outgoing::templates;
use crate::outgoing::{OutAttachment, Outgoing, Purpose};
use crate::publish::advisory;
use crate::publish::publication;
use crate::types::CaseStatus;
use chrono::NaiveDate;

impl Work<'_, '_> {
    pub(super) fn reply(&mut self) -> Step {
        let ctx = self.ctx;
        let Some(reporter) = self.case.reporter.clone() else {
            return fail("this case has no reporter address to answer (it was opened with `#new`)");
        };
        if self.text.trim().is_empty() {
            return fail("`#reply` sends the text after the command block, and there is none");
        }
        let r = match ctx.templates.render(&templates::Reply {
            case_id: self.case.id.to_string(),
            subject: self.case.subject.clone(),
            text: self.text.to_string(),
            desk_name: ctx.config.desk.name.clone(),
        }) {
            Ok(r) => r,
            Err(e) => return fail(format!("the reply template failed: {e}")),
        };
        let parent = self
            .facts
            .reporter_last_message
            .clone()
            .unwrap_or_else(|| self.case.root_message_id.clone());
        let mut references = vec![self.case.root_message_id.clone()];
        if parent != self.case.root_message_id {
            references.push(parent.clone());
        }
        self.outgoing.push(
            Outgoing::new(
                Purpose::Reply,
                Some(self.case.id.clone()),
                vec![reporter.clone()],
                r,
            )
            .reply_to(ctx.plus_address(&self.case.id))
            .threaded((Some(parent), references)),
        );
        if self.case.first_reply_at.is_none() {
            self.case.first_reply_at = Some(ctx.now);
        }
        self.case.last_reply_at = Some(ctx.now);
        self.events.push(NewEvent::new(
            EventKind::RepliedToReporter,
            self.actor,
            format!("replied to the reporter: {}", first_line(self.text)),
        ));
        ok(format!(
            "sent to the reporter ({reporter}) from {}",
            ctx.config.desk.address
        ))
    }

    pub(super) fn forward(&mut self, addr: &str) -> Step {
        let ctx = self.ctx;
        if ctx.config.team.is_member(addr) {
            return fail(format!("{addr} is a team member and already sees the case"));
        }
        if crate::types::normalize_address(addr) == ctx.config.desk.address {
            return fail("that is the desk's own address");
        }
        let r = match ctx.templates.render(&templates::Forward {
            case_id: self.case.id.to_string(),
            subject: self.case.subject.clone(),
            desk_name: ctx.config.desk.name.clone(),
            text: self.text.to_string(),
            severity: self.case.severity.map(|s| s.to_string()),
            embargo_end: self.case.embargo_end.map(|e| ctx.fmt_date(e)),
            report: self.facts.report_text.clone(),
        }) {
            Ok(r) => r,
            Err(e) => return fail(format!("the forward template failed: {e}")),
        };
        let addr = crate::types::normalize_address(addr);
        self.outgoing.push(
            Outgoing::new(
                Purpose::Forward,
                Some(self.case.id.clone()),
                vec![addr.clone()],
                r,
            )
            .reply_to(ctx.plus_address(&self.case.id)),
        );
        if !self.case.upstream.contains(&addr) {
            self.case.upstream.push(addr.clone());
        }
        self.events.push(NewEvent::new(
            EventKind::Forwarded,
            self.actor,
            format!("forwarded to {addr}"),
        ));
        ok(format!(
            "forwarded to {addr}; their replies will join this case"
        ))
    }

    pub(super) fn preannounce(&mut self, date: NaiveDate) -> Step {
        let ctx = self.ctx;
        let Some(list) = ctx.config.publish.announce.clone() else {
            return fail("no announce list is configured (publish.announce)");
        };
        let Some(package) = self.case.package.clone() else {
            return fail("name the package first with `#package <name>`");
        };
        if date < self.today() {
            return fail(format!("{date} is in the past"));
        }
        let r = match ctx.templates.render(&templates::Preannounce {
            desk_name: ctx.config.desk.name.clone(),
            package: package.clone(),
            date: ctx.fmt_date(date),
        }) {
            Ok(r) => r,
            Err(e) => return fail(format!("the preannounce template failed: {e}")),
        };
        self.case.preannounce = Some(date);
        self.outgoing.push(Outgoing::new(
            Purpose::Preannounce,
            Some(self.case.id.clone()),
            vec![list.clone()],
            r,
        ));
        self.public_change(format!("pre-announcement sent for {date}"));
        ok(format!(
            "pre-announcement of {package} on {date} sent to {list}"
        ))
    }

    pub(super) fn publish(&mut self, override_embargo: bool) -> Step {
        let ctx = self.ctx;
        match self.case.status {
            CaseStatus::Published => {
                return ok(format!(
                    "already published as {}",
                    self.case.advisory_id.clone().unwrap_or_default()
                ));
            }
            CaseStatus::Closed => {
                return fail(format!("{} is closed; `#reopen` it first", self.case.id));
            }
            CaseStatus::Spam => {
                return fail(format!(
                    "{} is in the spam state; `#notspam` it first",
                    self.case.id
                ));
            }
            _ => {}
        }
        if let Some(end) = self.case.embargo_end
            && self.today() < end
            && !override_embargo
        {
            return fail(format!(
                "the embargo runs until {}; publish then, or `#publish now` to override it",
                ctx.fmt_date(end)
            ));
        }
        let id = self.facts.next_advisory_id.clone();
        let mut published = self.case.clone();
        published.status = CaseStatus::Published;
        published.published_at = Some(ctx.now);
        published.advisory_id = Some(id.clone());
        let timeline = self.timeline_with_publication(&id);
        let adv = publication::advisory_for(&published, &timeline, ctx.config, &id, ctx.now);
        if adv.summary.as_deref().is_none_or(|s| s.trim().is_empty()) {
            return fail("set `#summary <one line>` first: it is the advisory's title");
        }
        let warnings = advisory::problems(&adv);
        let markdown = advisory::to_markdown(&adv);
        let osv = advisory::to_osv_json(&adv);
        let summary = adv.summary.clone().unwrap_or_default();
        let attachments = vec![
            OutAttachment {
                filename: format!("{id}.json"),
                content_type: "application/json".into(),
                bytes: osv.into_bytes(),
            },
            OutAttachment {
                filename: format!("{id}.md"),
                content_type: "text/markdown; charset=utf-8".into(),
                bytes: markdown.clone().into_bytes(),
            },
        ];
        // Everything is rendered before anything is queued: a template that fails leaves
        // the case unpublished and nothing sent (a failed command changes nothing).
        let mut out = Vec::new();
        let mut sent_to = Vec::new();
        match self.announce(&mut out, &id, &summary, &markdown, &attachments) {
            Ok(Some(list)) => sent_to.push(list),
            Ok(None) => {}
            Err(step) => return step,
        }
        match self.notify_reporter(&mut out, &id, &summary, markdown, attachments) {
            Ok(Some(reporter)) => sent_to.push(format!("the reporter ({reporter})")),
            Ok(None) => {}
            Err(step) => return step,
        }
        self.outgoing.extend(out);
        self.case = published;
        let note =
            if override_embargo && self.case.embargo_end.is_some_and(|end| self.today() < end) {
                " before the end of the embargo (#publish now)"
            } else {
                ""
            };
        self.events.push(
            NewEvent::new(
                EventKind::Published,
                self.actor,
                format!("advisory {id} published{note}"),
            )
            .public(),
        );
        let to = if sent_to.is_empty() {
            "nobody (no announce list, no reporter)".into()
        } else {
            sent_to.join(" and ")
        };
        let mut result = format!("published as {id}{note}; announcement sent to {to}");
        for w in warnings {
            result.push_str(&format!("\n    note: {w}"));
        }
        ok(result)
    }

    /// The case's public history as the advisory shows it: what is recorded, what this
    /// mail did so far, and the publication itself.
    fn timeline_with_publication(&self, id: &str) -> Vec<Event> {
        let ctx = self.ctx;
        let mut timeline = self.facts.timeline.clone();
        timeline.extend(self.events.iter().filter(|e| e.public).map(|e| Event {
            at: ctx.now,
            kind: e.kind,
            actor: e.actor.clone(),
            detail: e.detail.clone(),
            public: true,
            message_id: None,
        }));
        timeline.push(Event {
            at: ctx.now,
            kind: EventKind::Published,
            actor: self.actor.to_string(),
            detail: format!("advisory {id} published"),
            public: true,
            message_id: None,
        });
        timeline
    }

    /// The announcement to `publish.announce`, when one is configured, added to `out`:
    /// the list it goes to, or the failed step when the template failed.
    fn announce(
        &self,
        out: &mut Vec<Outgoing>,
        id: &str,
        summary: &str,
        markdown: &str,
        attachments: &[OutAttachment],
    ) -> Result<Option<String>, Step> {
        let ctx = self.ctx;
        let Some(list) = ctx.config.publish.announce.clone() else {
            return Ok(None);
        };
        match ctx.templates.render(&templates::Announce {
            advisory_id: id.to_string(),
            summary: summary.to_string(),
            markdown: markdown.to_string(),
        }) {
            Ok(r) => {
                out.push(
                    Outgoing::new(
                        Purpose::Announce,
                        Some(self.case.id.clone()),
                        vec![list.clone()],
                        r,
                    )
                    .attach(attachments.to_vec()),
                );
                Ok(Some(list))
            }
            Err(e) => Err(fail(format!("the announce template failed: {e}"))),
        }
    }

    /// The publication notice to the reporter, when the case has one, added to `out`:
    /// the reporter's address, or the failed step when the template failed.
    fn notify_reporter(
        &self,
        out: &mut Vec<Outgoing>,
        id: &str,
        summary: &str,
        markdown: String,
        attachments: Vec<OutAttachment>,
    ) -> Result<Option<String>, Step> {
        let ctx = self.ctx;
        let Some(reporter) = self.case.reporter.clone() else {
            return Ok(None);
        };
        match ctx.templates.render(&templates::Published {
            case_id: self.case.id.to_string(),
            advisory_id: id.to_string(),
            summary: summary.to_string(),
            markdown,
            reporter_name: self.case.reporter_name.clone(),
            desk_name: ctx.config.desk.name.clone(),
        }) {
            Ok(r) => {
                let parent = self
                    .facts
                    .reporter_last_message
                    .clone()
                    .unwrap_or_else(|| self.case.root_message_id.clone());
                out.push(
                    Outgoing::new(
                        Purpose::PublishedNotice,
                        Some(self.case.id.clone()),
                        vec![reporter.clone()],
                        r,
                    )
                    .reply_to(ctx.plus_address(&self.case.id))
                    .threaded((
                        Some(parent.clone()),
                        vec![self.case.root_message_id.clone(), parent],
                    ))
                    .attach(attachments),
                );
                Ok(Some(reporter))
            }
            Err(e) => Err(fail(format!("the published template failed: {e}"))),
        }
    }
}
