//! Test support: a real Postfix + Dovecot stack on loopback
//! (`scripts/mailstack.sh`) and the small blocking SMTP and IMAP clients that
//! tests use to put mail in and read it back.
#![allow(dead_code)] // each test uses a different part of this module

pub mod desk;
pub mod imap;
pub mod mailstack;
pub mod pass;
pub mod proxy;
pub mod responder;
pub mod smtp;
