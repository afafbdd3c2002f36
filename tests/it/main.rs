//! The one integration-test binary: conversations against the desk logic and SQLite,
//! and end-to-end runs against a real Postfix + Dovecot on loopback.
// Integration tests are built with cfg(test); saying so at the root lets clippy.toml's
// allow-*-in-tests cover the helpers too, not only the #[test] functions.
#![cfg(test)]

mod advisories;
mod advisory_repo;
mod architecture;
mod autoresponders;
mod backlog;
mod cli;
mod conversation;
mod corpus;
mod deadlines;
mod desks;
mod e2e;
mod faults;
mod hostile;
mod loops;
mod operator;
mod properties;
mod publication;
mod quotes;
mod service;
mod spam;
mod stack;
mod support;
mod team;
mod world;
