//! Commands that fill the advisory's fields: CVE, CWE, summary, workaround, references,
//! details, package, affected and fixed versions, credit.

use super::{Step, Work, fail, ok};
use crate::commands::{Credit, CveCommand, ReferenceKind};
use crate::desk::case::CreditChoice;
use crate::publish::advisory;

impl Work<'_, '_> {
    pub(super) fn cve(&mut self, cve: &CveCommand) -> Step {
        match cve {
            CveCommand::Requested => {
                self.case.cve_requested = true;
                self.change("CVE requested".into());
                ok("CVE marked as requested")
            }
            CveCommand::Ids(ids) => {
                self.case.cves = ids.clone();
                self.case.cve_requested = false;
                self.public_change(format!("{} assigned", ids.join(", ")));
                ok(format!("CVE: {}", ids.join(", ")))
            }
        }
    }

    pub(super) fn cwe(&mut self, n: u32) -> Step {
        if !self.case.cwes.contains(&n) {
            self.case.cwes.push(n);
        }
        self.change(format!("CWE-{n} added"));
        ok(format!(
            "CWE: {}",
            self.case
                .cwes
                .iter()
                .map(|c| format!("CWE-{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        ))
    }

    pub(super) fn summary(&mut self, s: &str) -> Step {
        let mut result = format!("summary: {s}");
        if s.chars().count() > advisory::SUMMARY_MAX {
            result.push_str(&format!(
                " (over {} characters: the advisory title will be shortened)",
                advisory::SUMMARY_MAX
            ));
        }
        self.case.summary = Some(s.to_string());
        self.change(format!("summary: {s}"));
        ok(result)
    }

    pub(super) fn workaround(&mut self, s: &str) -> Step {
        self.case.workaround = Some(s.to_string());
        self.change(format!("workaround: {s}"));
        ok(format!("workaround: {s}"))
    }

    pub(super) fn reference(&mut self, kind: ReferenceKind, url: &str) -> Step {
        let kind = kind.to_string().to_ascii_uppercase();
        if self.case.references.iter().any(|(_, u)| u == url) {
            return ok(format!("{url} was already a reference"));
        }
        self.case.references.push((kind.clone(), url.to_string()));
        self.change(format!("reference {kind} {url}"));
        ok(format!("reference added: {kind} {url}"))
    }

    pub(super) fn details(&mut self) -> Step {
        if self.text.trim().is_empty() {
            return fail("`#details` takes the text after the command block, and there is none");
        }
        self.case.details = Some(self.text.to_string());
        self.change("advisory details replaced".into());
        ok(format!(
            "advisory details set ({} lines)",
            self.text.lines().count()
        ))
    }

    pub(super) fn package(&mut self, p: &str) -> Step {
        self.case.package = Some(p.to_string());
        self.change(format!("package: {p}"));
        ok(format!(
            "package: {p} ({})",
            self.ctx.config.publish.ecosystem
        ))
    }

    pub(super) fn affected(&mut self, r: &str) -> Step {
        let note = match advisory::parse_range(r) {
            Ok(_) => String::new(),
            Err(e) => format!(" (note: {e}; it will be shown as written)"),
        };
        self.case.affected = Some(r.to_string());
        self.change(format!("affected: {r}"));
        ok(format!("affected versions: {r}{note}"))
    }

    pub(super) fn fixed_in(&mut self, v: &str) -> Step {
        self.case.fixed_in = Some(v.to_string());
        self.change(format!("fixed in {v}"));
        ok(format!("fixed in {v}"))
    }

    pub(super) fn credit(&mut self, c: &Credit) -> Step {
        self.case.credit = match c {
            Credit::Name(n) => CreditChoice::Name(n.clone()),
            Credit::Anonymous => CreditChoice::Anonymous,
        };
        let text = match c {
            Credit::Name(n) => format!("the reporter will be credited as {n}"),
            Credit::Anonymous => "the reporter stays anonymous".into(),
        };
        self.change(text.clone());
        ok(text)
    }
}
