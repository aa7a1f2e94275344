//! `mailstage quarantine`: list, show and release quarantined messages.
//!
//! Everything here reads the staging tree through its contract (the manifest is
//! the authority, STAGING.md); [`release`] is the only part that changes it, and it
//! does so through [`crate::stage::quarantine`], the same code `convert` applies to
//! a release on its next run.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::mime::{header, words};
use crate::stage::manifest;
use crate::stage::quarantine::entry_id;
use crate::stage::reader::{MANIFEST, user_dirs};
use crate::stage::{Entry, Status};

mod release;
mod show;

pub use release::{ReleaseOptions, ReleaseReport, release};
pub use show::{MimeNode, Shown, show};

/// Errors of the quarantine commands.
#[derive(Debug, thiserror::Error)]
pub enum QuarantineError {
    /// A file could not be read or written.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The manifest cannot be read or a line does not parse.
    #[error(transparent)]
    Manifest(#[from] crate::stage::manifest::ManifestError),
    /// Neither a user's staging dir nor a staging root with users in it.
    #[error(
        "{} is not a staging tree (no manifest.jsonl in it or in its subdirectories; run mailstage convert first)",
        .0.display()
    )]
    NotStaging(PathBuf),
    /// A command that needs one user was given a staging root.
    #[error("{} is not a user's staging directory (no manifest.jsonl); give STAGING/<user>", .0.display())]
    NotUser(PathBuf),
    /// No quarantined message has this ID.
    #[error("no quarantined message {id} in {} (see mailstage quarantine list)", .dir.display())]
    NotFound {
        /// The user's dir.
        dir: PathBuf,
        /// The ID asked for.
        id: String,
    },
    /// Several messages match the ID.
    #[error("{id} names {} messages: {}; give more of the ID or the quarantine path", .matches.len(), .matches.join(", "))]
    Ambiguous {
        /// The ID asked for.
        id: String,
        /// Their quarantine paths (or sources).
        matches: Vec<String>,
    },
    /// The message cannot be released as asked.
    #[error("{0}")]
    Refused(String),
    /// The release log.
    #[error(transparent)]
    Release(#[from] crate::stage::quarantine::ReleaseError),
    /// The staging lock.
    #[error(transparent)]
    Lock(#[from] crate::stage::reader::ReadError),
    /// Writing the staged file.
    #[error(transparent)]
    Stage(#[from] crate::stage::writer::StageError),
}

pub(crate) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> QuarantineError + '_ {
    move |source| QuarantineError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The users under `staging`: `staging` itself if it is a user's dir, else every
/// subdirectory holding a manifest, sorted by name.
pub fn users(staging: &Path) -> Result<Vec<(String, PathBuf)>, QuarantineError> {
    if staging.join(MANIFEST).is_file() {
        let name = staging
            .canonicalize()
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_default();
        return Ok(vec![(name, staging.to_path_buf())]);
    }
    let out: Vec<(String, PathBuf)> = user_dirs(staging)
        .map_err(io_err(staging))?
        .into_iter()
        .map(|(n, p)| (n.to_string_lossy().into_owned(), p))
        .collect();
    if out.is_empty() {
        return Err(QuarantineError::NotStaging(staging.to_path_buf()));
    }
    Ok(out)
}

/// Which messages [`list`] shows.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only these users (empty: all).
    pub users: Vec<String>,
    /// Only these reason kinds (`too-large`, `not-a-message`, …; empty: all).
    pub reasons: Vec<String>,
    /// Only this target folder and its subfolders.
    pub folder: Option<String>,
    /// Also the messages already released (status `released`).
    pub released: bool,
}

/// One quarantined (or released) message.
#[derive(Debug, Clone, Serialize)]
pub struct Item {
    /// The user.
    pub user: String,
    /// The ID that `show` and `release` take.
    pub id: String,
    /// `quarantined`, or `released` for one staged by a release.
    pub status: &'static str,
    /// Target folder.
    pub folder: String,
    /// Source file, relative to the Maildir.
    pub source: String,
    /// The original under `quarantine/` (absent if the source was unreadable).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Size of the source file in bytes.
    pub size: u64,
    /// The internal date (the source file's mtime).
    pub internal_date: String,
    /// The message's Date header, if readable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    /// Why it is (or was) quarantined.
    pub reason: String,
    /// The reason's stable kind.
    pub reason_kind: String,
    /// The decoded Subject, if readable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
}

/// True if `folder` is `filter` or below it (`/`-joined names).
fn in_folder(folder: &str, filter: &str) -> bool {
    let filter = filter.trim_end_matches('/');
    folder == filter
        || (folder.len() > filter.len()
            && folder.starts_with(filter)
            && folder.as_bytes()[filter.len()] == b'/')
}

/// Every quarantined message under `staging` that passes `filter`, by user then
/// manifest order.
pub fn list(staging: &Path, filter: &Filter) -> Result<Vec<Item>, QuarantineError> {
    let mut out = Vec::new();
    for (user, dir) in users(staging)? {
        if !filter.users.is_empty() && !filter.users.contains(&user) {
            continue;
        }
        manifest::for_each::<QuarantineError, _>(&dir.join(MANIFEST), |_, e| {
            let Some(item) = item(&user, &dir, &e) else {
                return Ok(());
            };
            if item.status == "released" && !filter.released {
                return Ok(());
            }
            if !filter.reasons.is_empty() && !filter.reasons.contains(&item.reason_kind) {
                return Ok(());
            }
            if let Some(f) = &filter.folder
                && !in_folder(&item.folder, f)
            {
                return Ok(());
            }
            out.push(item);
            Ok(())
        })?;
    }
    Ok(out)
}

/// The list item of a manifest entry, if it is quarantined or released.
pub(crate) fn item(user: &str, dir: &Path, e: &Entry) -> Option<Item> {
    let (status, reason, kind, original) = match (&e.status, &e.released) {
        (Status::Quarantined, _) => (
            "quarantined",
            e.reason.clone().unwrap_or_default(),
            e.reason_kind.clone().unwrap_or_default(),
            e.path.clone(),
        ),
        (Status::Staged, Some(r)) => (
            "released",
            r.reason.clone(),
            r.reason_kind.clone(),
            Some(r.original.clone()),
        ),
        _ => return None,
    };
    let (subject, date) = original
        .as_deref()
        .map(|p| header_summary(&dir.join(p)))
        .unwrap_or_default();
    Some(Item {
        user: user.to_string(),
        id: entry_id(e),
        status,
        folder: e.folder.clone().unwrap_or_default(),
        source: e.source.clone(),
        path: original,
        size: e.source_size,
        internal_date: e.internal_date.clone(),
        date,
        reason,
        reason_kind: kind,
        subject,
    })
}

/// How much of a quarantined file is read for its Subject and Date: a header is
/// rarely larger, and a 100 MB attachment is never read for a list.
const HEADER_PEEK: u64 = 64 * 1024;

/// The decoded Subject and Date of a file, where they can be read.
fn header_summary(path: &Path) -> (Option<String>, Option<String>) {
    let mut buf = Vec::new();
    let Ok(f) = File::open(path) else {
        return (None, None);
    };
    if f.take(HEADER_PEEK).read_to_end(&mut buf).is_err() {
        return (None, None);
    }
    let msg = crate::mime::lines::to_crlf(&buf).0.into_owned();
    let h = header::scan(&msg, 0);
    let field = |name| {
        h.get(&msg, name)
            .map(|v| printable(&words::decode_unstructured(&header::unfold(v))))
    };
    (field("subject"), field("date"))
}

/// Text safe to print on a terminal: control characters become spaces, and white
/// space runs are collapsed (a subject is user data).
pub fn printable(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let c = if c.is_control() { ' ' } else { c };
        if c == ' ' && out.ends_with(' ') {
            continue;
        }
        out.push(c);
    }
    out.trim().to_string()
}

/// Finds the quarantined (or released) entry that `id` names in a user's dir: a
/// prefix of at least 6 hex digits of its ID, its quarantine path, or its source
/// path. Returns the 1-based manifest line and the entry.
pub fn find(user_dir: &Path, id: &str) -> Result<(usize, Entry), QuarantineError> {
    if !user_dir.join(MANIFEST).is_file() {
        return Err(QuarantineError::NotUser(user_dir.to_path_buf()));
    }
    let want = id.trim();
    let hex_id = want.len() >= 6 && want.bytes().all(|b| b.is_ascii_hexdigit());
    let want_lc = want.to_ascii_lowercase();
    let mut found: Vec<(usize, Entry)> = Vec::new();
    manifest::for_each::<QuarantineError, _>(&user_dir.join(MANIFEST), |n, e| {
        let candidate =
            e.status == Status::Quarantined || (e.status == Status::Staged && e.released.is_some());
        if !candidate {
            return Ok(());
        }
        let original = e
            .released
            .as_ref()
            .map(|r| r.original.clone())
            .or_else(|| e.path.clone());
        let hit = (hex_id && entry_id(&e).starts_with(&want_lc))
            || original.as_deref() == Some(want)
            || e.source == want;
        if hit {
            found.push((n, e));
        }
        Ok(())
    })?;
    match found.len() {
        0 => Err(QuarantineError::NotFound {
            dir: user_dir.to_path_buf(),
            id: want.to_string(),
        }),
        1 => Ok(found.remove(0)),
        _ => Err(QuarantineError::Ambiguous {
            id: want.to_string(),
            matches: found
                .iter()
                .map(|(_, e)| e.path.clone().unwrap_or_else(|| e.source.clone()))
                .collect(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_filter_takes_subfolders_only_at_a_segment_boundary() {
        assert!(in_folder("Archive", "Archive"));
        assert!(in_folder("Archive/2009", "Archive"));
        assert!(in_folder("Archive/2009", "Archive/"));
        assert!(!in_folder("Archives", "Archive"));
        assert!(!in_folder("Inbox", "Archive"));
    }

    #[test]
    fn find_takes_prefixes_paths_and_sources_and_reports_ambiguity() {
        let dir = tempfile::tempdir().unwrap();
        let line = |folder: &str, status: &str, sha: &str| {
            format!(
                r#"{{"source":"{folder}/cur/1","sha256":"{sha}","status":"{status}","folder":"{folder}","path":"quarantine/{folder}/x-{}.eml","flags":[],"internal_date":"2020-01-01T00:00:00+00:00","repairs":[],"size":1,"source_size":1}}"#,
                &sha[..16]
            )
        };
        let a = "ab12cd34ef56ab12".repeat(4);
        let b = "ab12ff00ff00ff00".repeat(4);
        let manifest = [
            line("Inbox", "quarantined", &a),
            line("Sent", "quarantined", &a),
            line("Inbox", "quarantined", &b),
            line("Inbox", "staged", &"ab12cc".repeat(11)[..64]),
        ]
        .join("\n");
        std::fs::write(dir.path().join(MANIFEST), manifest).unwrap();
        let d = dir.path();
        assert!(
            matches!(find(d, "ab12cd"), Err(QuarantineError::Ambiguous { matches, .. }) if matches.len() == 2)
        );
        let (n, e) = find(d, "quarantine/Sent/x-ab12cd34ef56ab12.eml").unwrap();
        assert_eq!((n, e.folder.as_deref()), (2, Some("Sent")));
        assert_eq!(find(d, "ab12ff").unwrap().0, 3);
        assert!(
            find(d, "Inbox/cur/1").is_err(),
            "two Inbox entries share the source"
        );
        // A staged entry is not in quarantine, and short prefixes are not IDs.
        assert!(matches!(
            find(d, "ab12cc"),
            Err(QuarantineError::NotFound { .. })
        ));
        assert!(matches!(
            find(d, "ab12"),
            Err(QuarantineError::NotFound { .. })
        ));
        assert!(matches!(
            find(&d.join("x"), "ab12ff"),
            Err(QuarantineError::NotUser(_))
        ));
    }

    #[test]
    fn printable_removes_control_characters() {
        assert_eq!(printable("a\u{1b}[31m\tb\r\n c"), "a [31m b c");
    }
}
