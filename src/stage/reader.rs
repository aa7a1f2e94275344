//! Reading a finished staging tree for the commands downstream of `convert`
//! (`upload`, `verify`, `rollback`).
//!
//! [`scan_staged`] keeps nothing per message: it hands each staged entry over once,
//! in file order, and `upload`, `verify` and `rollback` keep what they need per
//! message on disk (see `upload::spill`), so a mailbox of any size costs the same
//! memory here.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use super::manifest::{Entry, Status};

/// The manifest file name in a user's staging directory.
pub const MANIFEST: &str = "manifest.jsonl";

/// Errors reading a staging tree.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// A file could not be read.
    #[error("cannot read {}: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Not a staging directory (no manifest).
    #[error("{} is not a user's staging directory (no manifest.jsonl; run mailstage convert first)", .0.display())]
    NotStaging(PathBuf),
    /// A manifest line does not parse.
    #[error("{}: line at byte {offset}: not a manifest entry: {source}", .path.display())]
    Parse {
        /// The manifest.
        path: PathBuf,
        /// Byte offset of the line.
        offset: u64,
        /// The JSON error.
        source: serde_json::Error,
    },
    /// Another mailstage process works on this user.
    #[error("{} is in use by another mailstage process (convert, upload, verify or rollback); wait for it to finish", .0.display())]
    Locked(PathBuf),
}

/// Only the keys needed to place a manifest line.
#[derive(serde::Deserialize)]
struct Peek {
    status: Status,
    folder: Option<String>,
    #[serde(default)]
    size: u64,
}

/// What [`scan_staged`] learns about a manifest besides its entries.
#[derive(Debug, Default)]
pub struct ManifestSummary {
    /// Target folders (`/`-joined), numbered in the order of their first staged entry.
    pub folders: Vec<String>,
    /// Messages per status, over the whole manifest.
    pub counts: HashMap<Status, u64>,
    /// Staged entries.
    pub staged: u64,
    /// Bytes of all staged messages.
    pub staged_bytes: u64,
}

/// Opens `root`'s manifest and calls `each(offset, line)` for every line that is not
/// blank, in file order (`line` with its newline, `offset` its first byte).
fn walk_lines<E: From<ReadError>>(
    root: &Path,
    file: &File,
    capacity: usize,
    mut each: impl FnMut(u64, &[u8]) -> Result<(), E>,
) -> Result<(), E> {
    let path = root.join(MANIFEST);
    let mut r = BufReader::with_capacity(capacity, file);
    let mut line = Vec::new();
    let mut offset = 0u64;
    loop {
        line.clear();
        let n = r
            .read_until(b'\n', &mut line)
            .map_err(|source| ReadError::Io {
                path: path.clone(),
                source,
            })?;
        if n == 0 {
            return Ok(());
        }
        let here = offset;
        offset += n as u64;
        if !line.iter().all(u8::is_ascii_whitespace) {
            each(here, &line)?;
        }
    }
}

/// Opens `root`'s manifest; a missing one means `root` is no staging directory.
fn open_manifest(root: &Path) -> Result<File, ReadError> {
    let path = root.join(MANIFEST);
    match File::open(&path) {
        Ok(f) => Ok(f),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(ReadError::NotStaging(root.to_path_buf()))
        }
        Err(source) => Err(ReadError::Io { path, source }),
    }
}

/// Target folders numbered in the order of their first staged entry.
#[derive(Default)]
struct FolderIds {
    names: Vec<String>,
    ids: HashMap<String, u32>,
}

impl FolderIds {
    /// The number of `name`, given it if new.
    fn id(&mut self, name: String) -> u32 {
        if let Some(&id) = self.ids.get(&name) {
            return id;
        }
        let id = self.names.len() as u32;
        self.names.push(name.clone());
        self.ids.insert(name, id);
        id
    }
}

/// Calls `each(folder, entry)` for every staged entry of `root`'s manifest, in file
/// order, with `folder` its index into [`ManifestSummary::folders`]. Each line is
/// parsed once and nothing is kept per message: `verify` and `rollback` keep what
/// they need on disk. A line that is not a whole entry is skipped when its status
/// key says it is not staged (an older or foreign status line carries only the keys
/// it needs) and is an error when it says staged.
pub fn scan_staged<E: From<ReadError>>(
    root: &Path,
    mut each: impl FnMut(u32, Entry) -> Result<(), E>,
) -> Result<ManifestSummary, E> {
    let path = root.join(MANIFEST);
    let file = open_manifest(root)?;
    let mut out = ManifestSummary::default();
    let mut folders = FolderIds::default();
    walk_lines(root, &file, 128 << 10, |here, line| {
        let parse = |source| ReadError::Parse {
            path: path.clone(),
            offset: here,
            source,
        };
        // The whole entry at once; only when it does not parse, the few keys that
        // tell a line to skip from one to fail on.
        let (status, folder, size, entry) = match serde_json::from_slice::<Entry>(line) {
            Ok(e) => (e.status, e.folder.clone(), e.size, Ok(e)),
            Err(full) => {
                let peek: Peek = serde_json::from_slice(line).map_err(parse)?;
                (peek.status, peek.folder, peek.size, Err(full))
            }
        };
        *out.counts.entry(status).or_insert(0) += 1;
        if status != Status::Staged {
            return Ok(());
        }
        out.staged += 1;
        out.staged_bytes += size;
        let id = folders.id(folder.unwrap_or_default());
        each(id, entry.map_err(parse)?)
    })?;
    out.folders = folders.names;
    Ok(out)
}

/// Target folders that exist in the tree at `root` but hold no staged message (empty
/// source folders), from `folders.json`, given the folders of its staged messages;
/// they are created on the server too, so the user finds the folder structure they
/// had.
pub fn empty_folders(root: &Path, folders: &[String]) -> Vec<String> {
    #[derive(serde::Deserialize)]
    struct F {
        target: Option<String>,
        excluded: Option<String>,
    }
    let Ok(bytes) = fs::read(root.join("folders.json")) else {
        return Vec::new();
    };
    let Ok(list) = serde_json::from_slice::<Vec<F>>(&bytes) else {
        return Vec::new();
    };
    list.into_iter()
        .filter(|f| f.excluded.is_none())
        .filter_map(|f| f.target)
        .filter(|t| !folders.contains(t))
        .collect()
}

/// The user trees directly under a staging root: every subdirectory holding a
/// manifest, sorted by name (`report` and `quarantine list` take a whole batch).
pub fn user_dirs(staging: &Path) -> std::io::Result<Vec<(std::ffi::OsString, PathBuf)>> {
    let mut out = Vec::new();
    for d in fs::read_dir(staging)? {
        let d = d?;
        let p = d.path();
        if p.join(MANIFEST).is_file() {
            out.push((d.file_name(), p));
        }
    }
    out.sort();
    Ok(out)
}

/// Takes the user's staging lock (the same one `convert` holds), so that no two
/// mailstage processes change the tree or its journals at once.
pub fn lock(root: &Path) -> Result<File, ReadError> {
    let path = root.join(".lock");
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|source| ReadError::Io {
            path: path.clone(),
            source,
        })?;
    match f.try_lock() {
        Ok(()) => Ok(f),
        Err(fs::TryLockError::WouldBlock) => Err(ReadError::Locked(root.to_path_buf())),
        Err(fs::TryLockError::Error(source)) => Err(ReadError::Io { path, source }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(status: &str, folder: &str, path: &str, size: u64) -> String {
        format!(
            r#"{{"source":"cur/{path}","sha256":"00","status":"{status}","folder":"{folder}","path":"{path}","flags":["\\Seen"],"internal_date":"2010-01-04T09:15:02+00:00","repairs":[],"size":{size},"source_size":{size}}}"#
        )
    }

    #[test]
    fn scan_hands_over_every_staged_entry_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let lines = [
            line("staged", "Inbox", "a", 10),
            String::new(),
            line("quarantined", "Junk", "q", 5),
            line("staged", "Sent Items", "b", 20),
            "  ".into(),
            line("staged", "Inbox", "c", 30),
            // skipped: not staged, and only the keys that say so
            r#"{"status":"duplicate","folder":"Old"}"#.into(),
        ];
        fs::write(dir.path().join(MANIFEST), lines.join("\n") + "\n").unwrap();
        let mut seen = Vec::new();
        let sum = scan_staged::<ReadError>(dir.path(), |f, e| {
            seen.push((f, e.path.unwrap_or_default(), e.size));
            Ok(())
        })
        .unwrap();
        assert_eq!(sum.folders, ["Inbox", "Sent Items"]);
        assert_eq!(
            seen,
            [
                (0, "a".into(), 10),
                (1, "b".into(), 20),
                (0, "c".into(), 30)
            ]
        );
        assert_eq!(sum.staged, 3);
        assert_eq!(sum.staged_bytes, 60);
        assert_eq!(sum.counts.get(&Status::Staged), Some(&3));
        assert_eq!(sum.counts.get(&Status::Quarantined), Some(&1));
        assert_eq!(sum.counts.get(&Status::Duplicate), Some(&1));

        // a staged line that is not a whole entry fails the scan
        let bad = r#"{"status":"staged","folder":"Inbox","size":3}"#;
        fs::write(dir.path().join(MANIFEST), format!("{}\n{bad}\n", lines[0])).unwrap();
        let err = scan_staged::<ReadError>(dir.path(), |_, _| Ok(())).unwrap_err();
        assert!(
            matches!(err, ReadError::Parse { offset, .. } if offset > 0),
            "{err}"
        );
        // and a missing manifest is not a staging tree
        let empty = tempfile::tempdir().unwrap();
        assert!(matches!(
            scan_staged::<ReadError>(empty.path(), |_, _| Ok(())),
            Err(ReadError::NotStaging(_))
        ));
    }
}
