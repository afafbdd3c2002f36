//! The one integration-test binary: conversations against the desk logic and SQLite,
//! and end-to-end runs against a real Postfix + Dovecot on loopback.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod backlog;
mod cli;
mod conversation;
mod deadlines;
mod e2e;
mod operator;
mod service;
mod stack;
mod support;
mod team;
mod world;
