//! mailstage: move Maildir mail into Microsoft Exchange / Microsoft 365 (or any IMAP
//! server) without losing a message, a date, a flag or a folder.
//!
//! The modules follow the data flow (see `docs/DESIGN.md`):
//! [`maildir`] scans a source tree read-only, [`folders`] maps folder names to the
//! target's, [`repair`] turns message bytes into staged bytes (or a quarantine
//! reason), [`stage`] owns the staging tree contract (`STAGING.md`), and
//! [`convert`] wires them together in parallel.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod check;
pub mod convert;
pub mod folders;
pub mod imap;
pub mod maildir;
pub mod mime;
pub mod mutf7;
pub mod progress;
pub mod quarantine;
pub mod repair;
pub mod report;
mod spill;
pub mod stage;
pub mod upload;
pub mod zip;
