//! The one integration-test binary: conversations against the desk logic and SQLite,
//! and end-to-end runs against a real Postfix + Dovecot on loopback.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod architecture;
mod cli;
mod conversation;
mod deadlines;
mod desks;
mod e2e;
mod faults;
mod operator;
mod service;
mod spam;
mod stack;
mod support;
mod team;
mod world;
