//! Reading a finished staging tree for the commands downstream of `convert`
//! (`upload`, `verify`, `rollback`).
//!
//! [`StagedIndex`] keeps only where each staged entry's manifest line is (offset,
//! length, folder number: 16 bytes per message) and re-reads lines in chunks when
//! they are needed, so a 100,000-message mailbox costs about 1.6 MB here rather than
//! every entry parsed in memory. [`scan_staged`] keeps not even that: it hands each
//! staged entry over once, in file order, for `verify` and `rollback`, which keep what
//! they need per message on disk.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader};
use std::os::unix::fs::FileExt;
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

/// One staged message's place in the manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    /// Index into [`StagedIndex::folders`].
    pub folder: u32,
    /// Byte offset of the manifest line.
    pub offset: u64,
    /// Length of the line in bytes.
    pub len: u32,
}

/// Only the keys needed to place a manifest line.
#[derive(serde::Deserialize)]
struct Peek {
    status: Status,
    folder: Option<String>,
    #[serde(default)]
    size: u64,
}

/// What [`scan_staged`] learns about a manifest besides its entries: what
/// [`StagedIndex`] keeps, without a slot per message.
#[derive(Debug, Default)]
pub struct ManifestSummary {
    /// Target folders (`/`-joined), numbered in the order of their first staged entry,
    /// as [`StagedIndex::folders`].
    pub folders: Vec<String>,
    /// Messages per status, over the whole manifest.
    pub counts: HashMap<Status, u64>,
    /// Staged entries.
    pub staged: u64,
    /// Bytes of all staged messages.
    pub staged_bytes: u64,
}

/// Opens `root`'s manifest and calls `each(offset, line)` for every line that is not
/// blank, in file order (`line` with its newline, `offset` its first byte). The one
/// line walk of [`scan_staged`] and [`StagedIndex::open`].
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
/// they need on disk. A line that [`StagedIndex::open`] accepts but that
/// [`StagedIndex::entry`] would not parse (a staged line) is the same error here.
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
        // The whole entry at once; only when it does not parse, the keys StagedIndex
        // reads, to tell a line it would skip from one it would fail on.
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

/// Where every staged message of a user is, grouped by target folder.
#[derive(Debug)]
pub struct StagedIndex {
    root: PathBuf,
    manifest: File,
    /// Target folders (`/`-joined, as in the manifest), in first-seen order.
    pub folders: Vec<String>,
    /// Staged messages, in manifest order.
    pub slots: Vec<Slot>,
    /// Messages per status, over the whole manifest.
    pub counts: HashMap<Status, u64>,
    /// Bytes of all staged messages.
    pub staged_bytes: u64,
}

impl StagedIndex {
    /// Indexes `root/manifest.jsonl`.
    pub fn open(root: &Path) -> Result<Self, ReadError> {
        let path = root.join(MANIFEST);
        let file = open_manifest(root)?;
        let mut folders = FolderIds::default();
        let mut slots = Vec::new();
        let mut counts = HashMap::new();
        let mut staged_bytes = 0;
        walk_lines(root, &file, 1 << 20, |here, line| {
            let peek: Peek = serde_json::from_slice(line).map_err(|source| ReadError::Parse {
                path: path.clone(),
                offset: here,
                source,
            })?;
            *counts.entry(peek.status).or_insert(0) += 1;
            if peek.status != Status::Staged {
                return Ok::<(), ReadError>(());
            }
            staged_bytes += peek.size;
            slots.push(Slot {
                folder: folders.id(peek.folder.unwrap_or_default()),
                offset: here,
                len: line.len() as u32,
            });
            Ok(())
        })?;
        Ok(StagedIndex {
            root: root.to_path_buf(),
            manifest: file,
            folders: folders.names,
            slots,
            counts,
            staged_bytes,
        })
    }

    /// The user's staging directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Reads and parses the entry at `slot`.
    pub fn entry(&self, slot: &Slot) -> Result<Entry, ReadError> {
        let path = || self.root.join(MANIFEST);
        let mut buf = vec![0u8; slot.len as usize];
        self.manifest
            .read_exact_at(&mut buf, slot.offset)
            .map_err(|source| ReadError::Io {
                path: path(),
                source,
            })?;
        serde_json::from_slice(&buf).map_err(|source| ReadError::Parse {
            path: path(),
            offset: slot.offset,
            source,
        })
    }

    /// Reads the staged message file at `rel` (a manifest `path`).
    pub fn message(&self, rel: &str) -> Result<Vec<u8>, ReadError> {
        let path = self.root.join(rel);
        fs::read(&path).map_err(|source| ReadError::Io { path, source })
    }

    /// Target folders that exist in the tree but hold no staged message (empty source
    /// folders), from `folders.json`; they are created on the server too, so the user
    /// finds the folder structure they had.
    pub fn empty_folders(&self) -> Vec<String> {
        empty_folders(&self.root, &self.folders)
    }
}

/// [`StagedIndex::empty_folders`] of the tree at `root` whose staged messages are in
/// `folders`.
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
    fn scan_sees_what_the_index_sees() {
        let dir = tempfile::tempdir().unwrap();
        let lines = [
            line("staged", "Inbox", "a", 10),
            String::new(),
            line("quarantined", "Junk", "q", 5),
            line("staged", "Sent Items", "b", 20),
            "  ".into(),
            line("staged", "Inbox", "c", 30),
            // skipped by both: not staged, and only the keys StagedIndex reads
            r#"{"status":"duplicate","folder":"Old"}"#.into(),
        ];
        fs::write(dir.path().join(MANIFEST), lines.join("\n") + "\n").unwrap();
        let index = StagedIndex::open(dir.path()).unwrap();
        let mut seen = Vec::new();
        let sum = scan_staged::<ReadError>(dir.path(), |f, e| {
            seen.push((f, e));
            Ok(())
        })
        .unwrap();
        assert_eq!(sum.folders, index.folders);
        assert_eq!(sum.folders, ["Inbox", "Sent Items"]);
        assert_eq!(sum.counts, index.counts);
        assert_eq!(sum.staged, index.slots.len() as u64);
        assert_eq!(sum.staged_bytes, index.staged_bytes);
        let want: Vec<_> = index
            .slots
            .iter()
            .map(|s| (s.folder, index.entry(s).unwrap()))
            .collect();
        assert_eq!(seen, want);

        // a staged line the index can place but not read fails the scan
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
