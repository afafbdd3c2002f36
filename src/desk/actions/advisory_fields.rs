//! Commands that fill the advisory's fields: CVE, CWE, summary, workaround, references,
//! details, package, affected and fixed versions, credit.

use super::{Step, Work, fail, ok};
use crate::commands::{Credit, CveCommand, ReferenceKind};
use crate::desk::case::{CreditChoice, PackageEntry};
use crate::publish::advisory;
use crate::types::CaseStatus;

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
        // The title is cut at SUMMARY_MAX bytes (accented or CJK text sooner than its
        // character count says): the member sees the title as it will be published.
        let title = advisory::summary_line(s);
        if title != s.split_whitespace().collect::<Vec<_>>().join(" ") {
            result.push_str(&format!(
                " (over {} bytes: the advisory title will read “{title}”)",
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
        if self.case.references.iter().any(|(_, u)| u == url) {
            return ok(format!("{url} was already a reference"));
        }
        self.case.references.push((kind.into(), url.to_string()));
        self.change(format!("reference {kind} {url}"));
        ok(format!("reference added: {kind} {url}"))
    }

    pub(super) fn details(&mut self) -> Step {
        if self.text.trim().is_empty() {
            return fail("`#details` takes the text after the command block, and there is none");
        }
        self.case.details = Some(self.text.to_string());
        self.change("advisory details replaced".into());
        let last = super::shortened(self.text.lines().rev().find(|l| !l.trim().is_empty()));
        let cut = if self.text_cut {
            "; what your mail had below that was taken for quoted mail, a forward's headers \
             or a signature, and is not in them"
        } else {
            ""
        };
        ok(format!(
            "advisory details set ({} lines, the last “{last}”){cut}",
            self.text.lines().count()
        ))
    }

    /// The names of the case's packages, the first one first.
    fn package_names(&self) -> Vec<String> {
        self.case
            .package
            .iter()
            .cloned()
            .chain(self.case.extra_packages.iter().map(|p| p.name.clone()))
            .collect()
    }

    /// Splits `#affected`/`#fixed-in` arguments into (package index, rest). With one
    /// package the name is optional; with several it must come first.
    fn which_package<'t>(&self, args: &'t str) -> Result<(usize, &'t str), String> {
        let names = self.package_names();
        let (first, rest) = args
            .split_once(char::is_whitespace)
            .map_or((args, ""), |(f, r)| (f, r.trim()));
        if let Some(i) = names.iter().position(|n| n == first)
            && !rest.is_empty()
        {
            return Ok((i, rest));
        }
        if names.len() > 1 {
            return Err(format!(
                "this case names {} packages: put the package first ({})",
                names.len(),
                names.join(", ")
            ));
        }
        Ok((0, args))
    }

    pub(super) fn package(&mut self, p: &str) -> Step {
        let names = self.package_names();
        if names.iter().any(|n| n == p) {
            return ok(format!("{p} is already named"));
        }
        // Each package is an advisory of its own, numbered at publication.
        if self.case.status == CaseStatus::Published {
            return fail(format!(
                "{} is published; another package needs an advisory of its own: open a case for it (`#new`)",
                self.case.id
            ));
        }
        if self.case.package.is_none() {
            self.case.package = Some(p.to_string());
            self.change(format!("package: {p}"));
            return ok(format!(
                "package: {p} ({})",
                self.ctx.config.publish.ecosystem
            ));
        }
        self.case.extra_packages.push(PackageEntry {
            name: p.to_string(),
            affected: None,
            fixed_in: None,
            bindings: Vec::new(),
            commits: Vec::new(),
        });
        self.change(format!("package added: {p}"));
        ok(format!(
            "package added: {p}; packages: {} (one advisory each); name the package first in \
             `#affected {p} <range>` and `#fixed-in {p} <version>`",
            self.package_names().join(", ")
        ))
    }

    /// The `affected` and `fixed_in` of package `i` (0 is the case's first package).
    fn package_fields(&mut self, i: usize) -> (&mut Option<String>, &mut Option<String>) {
        match i
            .checked_sub(1)
            .and_then(|j| self.case.extra_packages.get_mut(j))
        {
            Some(entry) => (&mut entry.affected, &mut entry.fixed_in),
            None => (&mut self.case.affected, &mut self.case.fixed_in),
        }
    }

    pub(super) fn affected(&mut self, args: &str) -> Step {
        let (i, r) = match self.which_package(args) {
            Ok(x) => x,
            Err(e) => return fail(e),
        };
        let note = match advisory::parse_ranges(r) {
            Ok(alts) if alts.len() > advisory::MAX_ALTERNATIVES => format!(
                " (note: {} alternatives; the OCaml converter reads at most {}: #publish will refuse)",
                alts.len(),
                advisory::MAX_ALTERNATIVES
            ),
            Ok(_) => String::new(),
            Err(e) => format!(" (note: {e}; #publish will refuse until it reads)"),
        };
        let name = self.package_names().get(i).cloned();
        *self.package_fields(i).0 = Some(r.to_string());
        let of = name.map(|n| format!(" of {n}")).unwrap_or_default();
        self.change(format!("affected{of}: {r}"));
        ok(format!("affected versions{of}: {r}{note}"))
    }

    pub(super) fn fixed_in(&mut self, args: &str) -> Step {
        let (i, v) = match self.which_package(args) {
            Ok(x) => x,
            Err(e) => return fail(e),
        };
        // It goes into the advisory and the public timeline as written.
        if !crate::publish::advisory::is_version(v) {
            return fail(format!(
                "`{v}` is not a version (like 1.4.2): the release named here is published as written"
            ));
        }
        let name = self.package_names().get(i).cloned();
        *self.package_fields(i).1 = Some(v.to_string());
        let of = name
            .filter(|_| !self.case.extra_packages.is_empty())
            .map(|n| format!("{n} "))
            .unwrap_or_default();
        self.change(format!("{of}fixed in {v}"));
        ok(format!("{of}fixed in {v}"))
    }

    pub(super) fn credit(&mut self, c: &Credit) -> Step {
        let text = match c {
            Credit::Name(n) => {
                self.case.credit = CreditChoice::Name(n.clone());
                format!("the reporter will be credited as {n}")
            }
            Credit::Anonymous => {
                // The names the reporter goes by: their role credits are withdrawn too.
                let mut names: Vec<String> = self.case.reporter_name.iter().cloned().collect();
                if let CreditChoice::Name(n) = &self.case.credit {
                    names.push(n.clone());
                }
                let named = |n: &str| {
                    names
                        .iter()
                        .any(|m| m.trim().eq_ignore_ascii_case(n.trim()))
                };
                let withdrawn: Vec<String> = self
                    .case
                    .credits
                    .iter()
                    .filter(|(_, n)| named(n))
                    .map(|(role, n)| format!("{n} as {}", role.as_str()))
                    .collect();
                self.case.credits.retain(|(_, n)| !named(n));
                self.case.credit = CreditChoice::Anonymous;
                let mut said = if withdrawn.is_empty() {
                    "the reporter stays anonymous".to_string()
                } else {
                    format!(
                        "the reporter stays anonymous (the credit of {} is withdrawn)",
                        withdrawn.join(", ")
                    )
                };
                // A role credit under another spelling of the reporter's name is not
                // known for theirs: the member sees every name still to be published.
                let still: Vec<String> = self
                    .case
                    .credits
                    .iter()
                    .map(|(role, n)| format!("{n} as {}", role.as_str()))
                    .collect();
                if !still.is_empty() {
                    said.push_str(&format!(
                        "; still credited, and published so: {}",
                        still.join(", ")
                    ));
                }
                said
            }
            Credit::Role(role, n) => {
                let entry = (*role, n.clone());
                if self.case.credits.contains(&entry) {
                    return ok(format!("{n} is already credited as {}", role.as_str()));
                }
                self.case.credits.push(entry);
                format!("{n} will be credited as {}", role.as_str())
            }
        };
        self.change(text.clone());
        ok(text)
    }

    /// The package a `#bindings`/`#commit` names first (its index), or the first one;
    /// and, on a case naming several, the words saying which (` of <name>`).
    fn package_of(&self, named: Option<&str>) -> Result<(usize, String), String> {
        let names = self.package_names();
        let i = match named {
            Some(n) => names.iter().position(|m| m == n).ok_or_else(|| {
                format!(
                    "`{n}` is not a package of this case ({})",
                    if names.is_empty() {
                        "it names none yet: `#package` first".to_string()
                    } else {
                        names.join(", ")
                    }
                )
            })?,
            None => 0,
        };
        let of = match names.get(i) {
            Some(n) if names.len() > 1 => format!(" of {n}"),
            _ => String::new(),
        };
        Ok((i, of))
    }

    /// The bindings and fixing commits of package `i`.
    fn package_fixes(&mut self, i: usize) -> (&mut Vec<String>, &mut Vec<(String, String)>) {
        match i
            .checked_sub(1)
            .and_then(|j| self.case.extra_packages.get_mut(j))
        {
            Some(entry) => (&mut entry.bindings, &mut entry.commits),
            None => (&mut self.case.bindings, &mut self.case.fix_commits),
        }
    }

    /// `#bindings [<package>] <name>…`: a first word naming one of the case's packages
    /// says whose they are (each advisory lists its own package's).
    pub(super) fn bindings(&mut self, names: &[String]) -> Step {
        let named = names
            .first()
            .filter(|n| names.len() > 1 && self.package_names().contains(n));
        let (i, of) = match self.package_of(named.map(String::as_str)) {
            Ok(x) => x,
            Err(e) => return fail(e),
        };
        let names = names
            .get(usize::from(named.is_some())..)
            .unwrap_or_default();
        let list = self.package_fixes(i).0;
        for n in names {
            if !list.contains(n) {
                list.push(n.clone());
            }
        }
        let all = list.join(", ");
        self.change(format!("affected bindings{of}: {}", names.join(" ")));
        ok(format!("affected bindings{of}: {all}"))
    }

    pub(super) fn commit(&mut self, package: Option<&str>, url: &str, sha: &str) -> Step {
        let (i, of) = match self.package_of(package) {
            Ok(x) => x,
            Err(e) => return fail(e),
        };
        let entry = (url.to_string(), sha.to_string());
        let list = self.package_fixes(i).1;
        if list.contains(&entry) {
            return ok(format!("{sha} was already a fixing commit{of}"));
        }
        list.push(entry);
        self.change(format!("fixing commit{of} {sha} in {url}"));
        ok(format!("fixing commit{of}: {sha} in {url}"))
    }
}
