//! secdesk: the security desk of an open-source project.
//!
//! Mail comes in (`ingest`) → is understood (`mail`, `classify`) → finds its case
//! (`threading`) → commands and policy decide what happens (`desk`, `commands`) → one
//! transaction records it all, outgoing mail and reminders included (`store`) → the
//! outbox sends (`mailer`). The scheduler turns due deadlines into mail the same way.
//! See ARCHITECTURE.md for the map and the invariants.

pub mod cli;
pub mod clock;
pub mod commands;
pub mod config;
pub mod desk;
pub mod mail;
pub mod outgoing;
pub mod publish;
pub mod sanitize;
pub mod service;
pub mod store;
pub mod text;
pub mod types;
pub mod uri;
