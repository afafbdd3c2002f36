//! Publication: the advisory of a case (OSV JSON and OCaml-style markdown), what
//! `#publish` sends, the iCalendar of every deadline, and summaries and tables for
//! people. Pure: rendering only, no I/O.

pub mod advisory;
pub mod ical;
pub mod publication;
pub mod report;
