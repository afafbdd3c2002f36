//! The imperative shell of `secdesk run`: the loops that speak IMAP (`ingest`), SMTP
//! (`mailer`) and turn due deadlines into mail (`scheduler`), the one transaction per
//! mail (`process`), the database handle for async code (`db`), TLS set-up (`tls`) and
//! the daemon that runs and watches them all (`daemon`), and the reads of the operator's
//! files and environment that the pure core is given as values (`files`).

pub mod advisory_repo;
pub mod daemon;
pub mod db;
pub mod files;
pub mod ingest;
pub mod mailer;
pub mod process;
pub mod scheduler;
pub mod tls;
