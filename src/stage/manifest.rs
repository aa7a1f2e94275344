//! `manifest.jsonl`: one JSON object per source message file (STAGING.md).
//!
//! The keys and their meaning are a public interface: new keys may be added,
//! listed keys are never renamed or dropped. Keys that do not apply to a status are
//! left out rather than written as `null`.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// What became of a source message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// A clean RFC 5322 message was written under `mail/`.
    Staged,
    /// The original was kept under `quarantine/` with a reason.
    Quarantined,
    /// Byte-identical to an earlier message of the same source folder.
    Duplicate,
    /// Skipped on purpose by a rule the admin chose.
    Excluded,
}

impl Status {
    /// The status as written in the manifest.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Staged => "staged",
            Status::Quarantined => "quarantined",
            Status::Duplicate => "duplicate",
            Status::Excluded => "excluded",
        }
    }
}

/// One manifest line. Field order is the serialisation order, kept stable so that
/// re-runs produce byte-identical manifests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Source path relative to the Maildir root, `/`-separated. For a file name
    /// that is not UTF-8 this is a lossy rendering; `source_raw` then has the bytes.
    pub source: String,
    /// Hex of the exact source path bytes, present only when `source` is lossy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_raw: Option<String>,
    /// SHA-256 of the source file's bytes, hex.
    pub sha256: String,
    /// What became of it.
    pub status: Status,
    /// Target folder, segments joined by `/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub folder: Option<String>,
    /// Output file relative to the user's staging dir (staged, quarantined).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// IMAP system flags and keywords.
    pub flags: Vec<String>,
    /// RFC 3339 internal date (the source file's mtime).
    pub internal_date: String,
    /// The staged message's Message-ID with angle brackets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// Short names of the repairs applied.
    pub repairs: Vec<String>,
    /// Why it was quarantined, marked duplicate or excluded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Stable short name of the quarantine reason class (`too-large`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason_kind: Option<String>,
    /// Size in bytes of the staged file, or of the original if not staged.
    pub size: u64,
    /// Size in bytes of the source file.
    pub source_size: u64,
    /// SHA-256 of the staged file, hex: written by convert before 2026-12-02 and
    /// still read; convert no longer computes it (upload's journal records the hash
    /// of the bytes it sent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staged_sha256: Option<String>,
    /// Present on a staged entry that an admin released from quarantine
    /// (`mailstage quarantine release`): why it was quarantined and how it was
    /// released. Its `repairs` are those applied to the released bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub released: Option<Released>,
}

/// How a quarantined message was released (the history an admin reads later).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Released {
    /// When the admin released it, RFC 3339 UTC.
    pub at: String,
    /// Why `convert` had quarantined it (the sentence).
    pub reason: String,
    /// Why `convert` had quarantined it (the stable kind).
    pub reason_kind: String,
    /// The original, kept byte-identical under `quarantine/`.
    pub original: String,
    /// `original` (the quarantined bytes) or `file` (a fixed copy the admin gave).
    pub input: String,
    /// The admin's fixed copy, kept under `released/` (for `input` = `file`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// SHA-256 of the released input bytes, hex.
    pub input_sha256: String,
    /// True when the input was staged as it is (`--force-as-is`, CRLF line endings
    /// only), without the repair engine.
    pub as_is: bool,
    /// What the validator still finds in an as-is message (the server may refuse it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
}

/// Errors reading a manifest.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The manifest path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A line is not a valid manifest entry.
    #[error("{path}:{line}: not a manifest entry: {source}")]
    Parse {
        /// The manifest path.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The JSON error.
        source: serde_json::Error,
    },
}

/// Serialise one entry as a manifest line (without the newline).
pub fn to_line(entry: &Entry) -> String {
    // Serialising a struct of strings, numbers and lists cannot fail.
    serde_json::to_string(entry).unwrap_or_default()
}

/// Read every entry of a manifest, in file order.
pub fn read(path: &Path) -> Result<Vec<Entry>, ManifestError> {
    let mut out = Vec::new();
    for_each::<ManifestError, _>(path, |_, e| {
        out.push(e);
        Ok(())
    })?;
    Ok(out)
}

/// Calls `f` with every entry of a manifest (1-based line number, entry), in file
/// order, one line at a time: memory does not grow with the mailbox. Blank lines
/// are skipped.
pub fn for_each<E, F>(path: &Path, mut f: F) -> Result<(), E>
where
    E: From<ManifestError>,
    F: FnMut(usize, Entry) -> Result<(), E>,
{
    let io = |source| ManifestError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(io)?;
    let mut reader = BufReader::new(file);
    let mut line = String::new();
    let mut n = 0;
    loop {
        line.clear();
        if reader.read_line(&mut line).map_err(io)? == 0 {
            return Ok(());
        }
        n += 1;
        if line.trim().is_empty() {
            continue;
        }
        let entry = serde_json::from_str(&line).map_err(|source| ManifestError::Parse {
            path: path.to_path_buf(),
            line: n,
            source,
        })?;
        f(n, entry)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_round_trips_and_omits_absent_keys() {
        let e = Entry {
            source: "cur/1:2,S".into(),
            source_raw: None,
            sha256: "ab".into(),
            status: Status::Excluded,
            folder: Some("Deleted Items".into()),
            path: None,
            flags: vec!["\\Seen".into()],
            internal_date: "2009-03-13T22:15:00+00:00".into(),
            message_id: None,
            repairs: vec![],
            reason: Some("excluded by --exclude Trash".into()),
            reason_kind: None,
            size: 10,
            source_size: 10,
            staged_sha256: None,
            released: None,
        };
        let line = to_line(&e);
        assert!(line.starts_with(r#"{"source":"cur/1:2,S","sha256":"ab","status":"excluded","folder":"Deleted Items","flags":["\\Seen"]"#), "{line}");
        assert!(!line.contains("null"));
        assert_eq!(serde_json::from_str::<Entry>(&line).unwrap(), e);
    }
}
