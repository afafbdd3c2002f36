//! Commands that send mail out of the desk: `#reply` to the reporter, `#forward`
//! upstream, `#preannounce` and `#publish` to the announce list.

use super::{Step, Work, attached_files, fail, files_left, first_line, ok, text_sent};
use crate::desk::case::{Case, Event, EventKind, NewEvent};
use crate::outgoing::templates::{self, Rendered};
use crate::outgoing::{OutAttachment, Outgoing, Purpose};
use crate::publish::advisory;
use crate::publish::publication;
use crate::types::CaseStatus;
use chrono::NaiveDate;

impl Work<'_, '_> {
    pub(super) fn reply(&mut self) -> Step {
        let ctx = self.ctx;
        let Some(reporter) = self.case.reporter.clone() else {
            return fail(
                "this case has no reporter address to answer (it was opened with `#new`, or by \
                 automatic mail: a list, a robot); `#forward <address>` writes to a person",
            );
        };
        if self.facts.is_announce_list(&reporter) {
            return fail(
                "this case's reporter address is a public announce list (publish.announce): \
                 the answer would be published; `#forward <address>` writes to a person",
            );
        }
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
            "sent to the reporter ({reporter}) from {}: {}{}",
            ctx.config.desk.address,
            text_sent(self.text, self.text_cut),
            files_left(self.files)
        ))
    }

    pub(super) fn forward(&mut self, addr: &str) -> Step {
        let ctx = self.ctx;
        if ctx.config.team.is_member(addr) {
            return fail(format!("{addr} is a team member and already sees the case"));
        }
        // Mail to any desk of this daemon (a plus address too) comes back as the desk's
        // own, and is dropped: the forward would be said done, and reach nobody.
        let to = crate::types::normalize_address(addr);
        let desk_own = |desk: &String| {
            let desk = crate::types::normalize_address(desk);
            let (local, domain) = desk.split_once('@').unwrap_or((&desk, ""));
            to == desk
                || to
                    .split_once('@')
                    .is_some_and(|(l, d)| d == domain && l.split('+').next() == Some(local))
        };
        if to == ctx.config.desk.address || self.facts.desk_addresses.iter().any(desk_own) {
            return fail(
                "that is an address of this desk or another of the daemon's: mail to it comes \
                 back as the desk's own; `#move` hands a case to another desk",
            );
        }
        // The one address the desk knows is public: the list its advisories go to.
        if self.facts.is_announce_list(&to) {
            return fail(
                "that is a public announce list (publish.announce): the report would be \
                 public before its advisory",
            );
        }
        // A case the team opened (`#new`): the mail that opened it holds the team's own
        // words (commands, remarks, what it quoted), and only the words written for the
        // maintainer go. A list's, a robot's or a forwarder's report goes with them, as a
        // person's does, though none of them is the case's reporter.
        let own = self.facts.report_by_team;
        let r = match ctx.templates.render(&templates::Forward {
            case_id: self.case.id.to_string(),
            subject: self.case.subject.clone(),
            desk_name: ctx.config.desk.name.clone(),
            text: self.text.to_string(),
            severity: self.case.severity.map(|s| s.to_string()),
            embargo_end: self.case.embargo_end.map(|e| ctx.fmt_embargo(e)),
            report: if own {
                String::new()
            } else {
                self.facts.report_text.clone()
            },
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
        let kept = if own {
            "; the mail that opened the case stays with the team (no reporter's report to send)"
        } else {
            ""
        };
        // The report goes as text: its files (a proof of concept) stay with the team,
        // who decide what the maintainer gets.
        let files = &self.facts.report_attachments;
        let files = if own || files.is_empty() {
            String::new()
        } else {
            format!(
                "; the report's text went, not its {}: send them yourself if the maintainer needs them",
                attached_files(files.iter().map(String::as_str))
            )
        };
        let words = match (self.text.trim().is_empty(), self.text_cut_short) {
            (false, _) => format!("; with {}", text_sent(self.text, self.text_cut)),
            // Lines of the member's own (not a reply's trailing quote, not a signature)
            // were all taken for quoted mail or a forward's headers: nothing of theirs
            // went, and they must know.
            (true, true) => "; no text of yours went with it: what followed your commands was taken for quoted mail or a forward's headers (write your note plainly if the maintainer needs one)".to_string(),
            (true, false) => String::new(),
        };
        ok(format!(
            "forwarded to {addr}; their replies will join this case{kept}{files}{words}{}",
            files_left(self.files)
        ))
    }

    pub(super) fn preannounce(&mut self, date: NaiveDate) -> Step {
        let ctx = self.ctx;
        // Only an open case has an advisory to come.
        if let Some(refused) = self.needs_open() {
            return refused;
        }
        // Sent from here, it would tell this desk's list of an advisory that goes out on
        // another's: a public mail cannot be taken back.
        if let Some(desk) = &self.move_to {
            return fail(format!(
                "the case moves to the desk {desk} in this mail: `#preannounce` it there, in a mail of its own"
            ));
        }
        let Some(list) = ctx.config.publish.announce.clone() else {
            return fail("no announce list is configured (publish.announce)");
        };
        let Some(package) = self.case.package.clone() else {
            return fail("name the package first with `#package <name>`");
        };
        if date < self.today() {
            return fail(format!("{date} is in the past"));
        }
        if let Some(refused) = self.out_of_window(date) {
            return refused;
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
        if let Err(step) = self.publish_gate(override_embargo) {
            return step;
        }
        let n = publication::packages(&self.case).len();
        let ids = self.facts.next_advisory.ids(n);
        let Some(id) = ids.first().cloned() else {
            return fail("no advisory id could be allocated");
        };
        let published = self.published_case(&ids);
        let advs = self.advisories(&published, &ids);
        // Everything the formats need, or a list of what to add: never half an advisory.
        let blocking: Vec<String> = advs
            .iter()
            .flat_map(|adv| {
                advisory::blocking_problems(adv)
                    .into_iter()
                    .map(move |p| if n > 1 { format!("{}: {p}", adv.id) } else { p })
            })
            .collect();
        if !blocking.is_empty() {
            return fail(format!(
                "not published; add or fix first:\n    - {}",
                blocking.join("\n    - ")
            ));
        }
        let warnings: Vec<String> = advs.iter().flat_map(advisory::problems).collect();
        let rendered = render_advisories(&advs);
        // The subject is cut like the title.
        let summary = advisory::summary_line(published.summary.as_deref().unwrap_or_default());
        let mails = match self.publish_mails(&id, &summary, rendered.markdown) {
            Ok(mails) => mails,
            Err(step) => return step,
        };
        let sent_to = self.queue_publish_mails(mails, rendered.attachments);
        if self.facts.advisory_repo.is_some() {
            self.repo_commit = Some(publication::RepoCommit {
                branch: id.clone(),
                files: rendered.files,
                message: format!(
                    "{id}: {summary}\n\n{} {}",
                    publication::CASE_TRAILER,
                    self.case.id
                ),
            });
        }
        self.case = published;
        self.published_result(&ids, override_embargo, &sent_to, warnings)
    }

    /// The states and the embargo that stop a `#publish`, and a broken advisory checkout.
    fn publish_gate(&self, override_embargo: bool) -> Result<(), Step> {
        // Published here, it would go out under this desk's prefix and list, and be
        // committed on a branch the case then leaves.
        if let Some(desk) = &self.move_to {
            return Err(fail(format!(
                "the case moves to the desk {desk} in this mail: `#publish` it there, in a mail of its own"
            )));
        }
        match self.case.status {
            CaseStatus::Published => {
                return Err(ok(format!(
                    "already published as {}",
                    self.case.advisory_id.clone().unwrap_or_default()
                )));
            }
            CaseStatus::Closed => {
                return Err(fail(format!(
                    "{} is closed; `#reopen` it first",
                    self.case.id
                )));
            }
            CaseStatus::Spam => {
                return Err(fail(format!(
                    "{} is in the spam state; `#notspam` it first",
                    self.case.id
                )));
            }
            _ => {}
        }
        // Once the fixed release is out (`#fixed`) the embargo has done its job: the
        // advisory goes out on the day of the release without an override.
        if let Some(end) = self.case.embargo_end
            && self.today() < end
            && !override_embargo
            && self.case.status != CaseStatus::Fixed
        {
            return Err(fail(format!(
                "the embargo runs until {}; publish then, after `#fixed` once the fixed release is out, or `#publish now` to override it",
                self.ctx.fmt_date(end)
            )));
        }
        if let Some(Err(why)) = &self.facts.advisory_repo {
            return Err(fail(format!(
                "the advisory repository cannot take the advisory: {why}; fix the checkout and `#publish` again"
            )));
        }
        Ok(())
    }

    /// The case as it will be once published under `ids`.
    fn published_case(&self, ids: &[String]) -> Case {
        let mut published = self.case.clone();
        published.status = CaseStatus::Published;
        published.published_at = Some(self.ctx.now);
        published.advisory_id = Some(ids.join(" "));
        published
    }

    /// The advisories of `published`, from the stored timeline and this mail's events.
    fn advisories(&self, published: &Case, ids: &[String]) -> Vec<advisory::Advisory> {
        let ctx = self.ctx;
        let mut timeline = self.facts.timeline.clone();
        timeline.extend(self.events.iter().map(|e| Event {
            at: ctx.now,
            kind: e.kind,
            actor: e.actor.clone(),
            detail: e.detail.clone(),
            public: e.public,
            message_id: None,
        }));
        publication::advisories_for(published, &timeline, ctx.config, ids)
    }

    /// Renders the announcement and the reporter's notice before queueing any: a
    /// template that fails sends nothing.
    fn publish_mails(
        &self,
        id: &str,
        summary: &str,
        markdown: String,
    ) -> Result<PublishMails, Step> {
        let ctx = self.ctx;
        let announce = match ctx.config.publish.announce.clone() {
            None => None,
            Some(list) => match ctx.templates.render(&templates::Announce {
                advisory_id: id.to_string(),
                summary: summary.to_string(),
                markdown: markdown.clone(),
            }) {
                Ok(r) => Some((list, r)),
                Err(e) => {
                    return Err(fail(format!(
                        "not published: the announce template failed: {e}"
                    )));
                }
            },
        };
        let thanks = match self.case.reporter.clone() {
            None => None,
            Some(reporter) => match ctx.templates.render(&templates::Published {
                case_id: self.case.id.to_string(),
                advisory_id: id.to_string(),
                summary: summary.to_string(),
                markdown,
                reporter_name: self.case.reporter_name.clone(),
                desk_name: ctx.config.desk.name.clone(),
            }) {
                Ok(r) => Some((reporter, r)),
                Err(e) => {
                    return Err(fail(format!(
                        "not published: the published template failed: {e}"
                    )));
                }
            },
        };
        Ok(PublishMails { announce, thanks })
    }

    /// Queues the rendered mails with the advisory files attached; returns who gets them.
    fn queue_publish_mails(
        &mut self,
        mails: PublishMails,
        attachments: Vec<OutAttachment>,
    ) -> Vec<String> {
        let mut sent_to = Vec::new();
        if let Some((list, r)) = mails.announce {
            self.outgoing.push(
                Outgoing::new(
                    Purpose::Announce,
                    Some(self.case.id.clone()),
                    vec![list.clone()],
                    r,
                )
                .attach(attachments.clone()),
            );
            sent_to.push(list);
        }
        if let Some((reporter, r)) = mails.thanks {
            let parent = self
                .facts
                .reporter_last_message
                .clone()
                .unwrap_or_else(|| self.case.root_message_id.clone());
            self.outgoing.push(
                Outgoing::new(
                    Purpose::PublishedNotice,
                    Some(self.case.id.clone()),
                    vec![reporter.clone()],
                    r,
                )
                .reply_to(self.ctx.plus_address(&self.case.id))
                .threaded((
                    Some(parent.clone()),
                    vec![self.case.root_message_id.clone(), parent],
                ))
                .attach(attachments),
            );
            sent_to.push(format!("the reporter ({reporter})"));
        }
        sent_to
    }

    /// Records the publication and words the answer to the team.
    fn published_result(
        &mut self,
        ids: &[String],
        override_embargo: bool,
        sent_to: &[String],
        warnings: Vec<String>,
    ) -> Step {
        let id = ids.join(", ");
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
}

/// The announcement to the list and the notice to the reporter, each with its recipient.
struct PublishMails {
    announce: Option<(String, Rendered)>,
    thanks: Option<(String, Rendered)>,
}

/// The advisories rendered: the mail attachments, the repository files and the
/// Markdown of all of them for the mail bodies.
struct RenderedAdvisories {
    attachments: Vec<OutAttachment>,
    files: Vec<(String, String)>,
    markdown: String,
}

fn render_advisories(advs: &[advisory::Advisory]) -> RenderedAdvisories {
    let mut attachments = Vec::new();
    let mut files = Vec::new();
    let mut markdown_all = Vec::new();
    for adv in advs {
        let markdown = advisory::to_markdown(adv);
        let osv = advisory::to_osv_json(adv);
        attachments.push(OutAttachment {
            filename: format!("{}.json", adv.id),
            content_type: "application/json".into(),
            bytes: std::sync::Arc::new(osv.into_bytes()),
            incoming: false,
        });
        attachments.push(OutAttachment {
            filename: format!("{}.md", adv.id),
            content_type: "text/markdown; charset=utf-8".into(),
            bytes: std::sync::Arc::new(markdown.clone().into_bytes()),
            incoming: false,
        });
        files.push((publication::repo_path(&adv.id), markdown.clone()));
        markdown_all.push(markdown);
    }
    RenderedAdvisories {
        attachments,
        files,
        markdown: markdown_all.join("\n"),
    }
}
