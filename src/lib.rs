//! secdesk: the security desk of an open-source project.
//!
//! Mail comes in (`ingest`) → is understood (`mail`, `classify`) → finds its case
//! (`threading`) → commands and policy decide what happens (`desk`, `commands`) → one
//! transaction records it all, outgoing mail and reminders included (`store`) → the
//! outbox sends (`mailer`). The scheduler turns due deadlines into mail the same way.
//! See ARCHITECTURE.md for the map and the invariants.

pub mod actions;
pub mod advisory;
pub mod auth;
pub mod calendar;
pub mod case;
pub mod check;
pub mod classify;
pub mod clock;
pub mod commands;
pub mod config;
pub mod daemon;
pub mod db;
pub mod deadlines;
pub mod desk;
pub mod html;
pub mod ical;
pub mod import;
pub mod ingest;
pub mod mail;
pub mod mailer;
pub mod outgoing;
pub mod process;
pub mod publication;
pub mod quoting;
pub mod report;
pub mod scheduler;
pub mod store;
pub mod subject;
pub mod templates;
pub mod threading;
pub mod tls;
pub mod types;
