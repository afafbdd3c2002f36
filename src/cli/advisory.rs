//! `secdesk advisory <id>`: the case's advisory as its desk would publish it, for
//! review; its problems on stderr.

use super::{Output, case_of_desk};
use crate::publish::{advisory, publication};
use anyhow::Result;
use std::path::Path;
use std::process::ExitCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Osv,
    Markdown,
}

pub fn run(
    config: &Path,
    id: &str,
    format: Format,
    dir: Option<&Path>,
    out: &mut Output,
) -> Result<ExitCode> {
    // The case's desk publishes it: its advisory prefix, ecosystem and credits.
    let (top, case, events, key) = case_of_desk(config, id, out)?;
    let d = top.view(&key);
    let ids = publication::draft_ids(&case, &d.config);
    let advs = publication::advisories_for(&case, &events, &d.config, &ids);
    for adv in &advs {
        for p in advisory::problems(adv) {
            out.note(&format!("note: {}: {p}", adv.id));
        }
        let md = advisory::to_markdown(adv);
        let osv = advisory::to_osv_json(adv);
        match (dir, format) {
            (Some(dir), _) => {
                for (ext, text) in [("md", &md), ("json", &osv)] {
                    // Unpublished, perhaps under embargo: the desk's user's alone.
                    let path = dir.join(format!("{}.{ext}", adv.id));
                    super::calendar::write_private(&path, text)?;
                    out.line(&path.display().to_string());
                }
            }
            (None, Format::Osv) => out.print(&osv),
            (None, Format::Markdown) => out.print(&md),
        }
    }
    Ok(ExitCode::SUCCESS)
}
