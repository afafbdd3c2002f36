//! Operator commands with more than a few lines of logic of their own: `secdesk check`
//! and `secdesk import`. The binary (`main.rs`) parses arguments and dispatches here.

pub mod check;
pub mod import;
