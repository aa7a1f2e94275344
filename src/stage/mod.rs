//! The staging tree: the contract every command reads or writes
//! (`shared/docs/STAGING.md`). Nobody else touches staging files directly.
//!
//! ```text
//! STAGING/<user>/
//!   manifest.jsonl     one line per source message file
//!   folders.json       every source folder and where it went
//!   summary.json       counts of the last complete convert run
//!   mail/<Folder>/…    staged .eml files
//!   quarantine/<Folder>/…  originals that could not be staged, with .reason.txt
//!   released/          the admin's releases from quarantine (kept across converts)
//! ```

pub mod manifest;
pub mod paths;
pub mod quarantine;
pub mod reader;
pub mod writer;

pub use manifest::{Entry, Released, Status};
