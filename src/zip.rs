//! `mailstage zip`: a user's staging tree as one zip file.
//!
//! - Contents: `manifest.jsonl`, `folders.json`, `summary.json`, then every file under
//!   `mail/`, `quarantine/` and `released/` (the admin's releases from quarantine, with
//!   their fixed copies), in byte order of their paths. Not included: the lock,
//!   `.tmp/`, and `upload/` (journals are the state of an upload to one server, not
//!   part of the mail).
//! - Deterministic: the same tree gives the same bytes. Entry order is sorted, every
//!   entry gets the same timestamp (1980-01-01 00:00, the DOS epoch — file mtimes in a
//!   staging tree are only the time `convert` ran) and mode 0644 (directories 0755,
//!   each with its own entry so that empty folders survive); deflate at level 6, fed
//!   whole 256 KiB buffers so that short reads cannot change the output.
//! - Names are the tree's UTF-8 paths with `/`, with APPNOTE 4.4.4 bit 11 set for
//!   non-ASCII names, so `Entwürfe` stays `Entwürfe`.
//! - Written by our own small writer ([`writer`](self) module, `src/zip/writer.rs`),
//!   not the `zip` crate, which kept the central directory in memory until the end
//!   (about 200 bytes an entry: 30.5 MiB peak for 100,000 messages against 9.2 MiB for
//!   10,000). Ours sends each central-directory record to an unnamed temporary file
//!   beside the output as its entry is written and copies that file after the data.
//! - Streaming: each file is copied into the archive through a fixed buffer, and the
//!   tree is walked one directory at a time. Entries that may reach 4 GiB are written
//!   as zip64 (APPNOTE 4.5.3); the archive gets zip64 end records (4.3.14, 4.3.15)
//!   from 65,535 entries or 4 GiB on (tests/zip.rs checks the 65,535 case with 70,000
//!   entries, the writer's unit tests the others).
//! - Atomic: written to a temporary file beside the output and renamed at the end.
mod writer;

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::stage::reader::{self, ReadError};
use writer::{WriteError, ZipWriter};

/// What went into a zip.
#[derive(Debug, Clone, Serialize)]
pub struct ZipReport {
    /// The user's staging directory.
    pub staging: PathBuf,
    /// The zip written.
    pub output: PathBuf,
    /// Entries in it.
    pub entries: u64,
    /// Bytes of the files before compression.
    pub bytes_in: u64,
    /// Size of the zip.
    pub bytes_out: u64,
}

/// Errors writing a zip.
#[derive(Debug, thiserror::Error)]
pub enum ZipError {
    /// The staging tree could not be used.
    #[error(transparent)]
    Stage(#[from] ReadError),
    /// Reading or writing a file failed.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// A path too long for the 16-bit name length of a zip header (APPNOTE 4.4.10).
    #[error("{}: name too long for a zip entry", .0.display())]
    NameTooLong(PathBuf),
    /// A file passed 4 GiB while it was read, after its entry was started without
    /// zip64 sizes (its size then was well below): the tree changed under the lock.
    #[error("{}: the file grew past 4 GiB while it was zipped", .0.display())]
    Grew(PathBuf),
    /// A file name in the tree is not UTF-8 (convert never writes one).
    #[error("{}: not a UTF-8 path; was this tree written by mailstage convert?", .0.display())]
    NotUtf8(PathBuf),
}

/// The top-level files archived first, in this order, when present.
const TOP_FILES: [&str; 3] = ["manifest.jsonl", "folders.json", "summary.json"];

/// Calls `visit` with every entry of the tree under `rel` (directories as `a/b/`,
/// files as `a/b/c.eml`), in byte order of those paths, one directory listed at a
/// time: a list of every path of a large mailbox was the biggest thing `zip` held.
///
/// Depth first with each directory's children sorted by their name, plus a `/` for a
/// directory, gives the byte order of the full paths: two paths first differ inside
/// the names of two siblings, and a directory's paths all continue its name with `/`.
fn walk(
    root: &Path,
    rel: &str,
    visit: &mut dyn FnMut(&str) -> Result<(), ZipError>,
) -> Result<(), ZipError> {
    let dir = root.join(rel);
    let rd = match fs::read_dir(&dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(source) => return Err(ZipError::Io { path: dir, source }),
    };
    // (name, with a trailing '/' for a directory)
    let mut children: Vec<String> = Vec::new();
    for e in rd {
        let e = e.map_err(|source| ZipError::Io {
            path: dir.clone(),
            source,
        })?;
        let ft = e.file_type().map_err(|source| ZipError::Io {
            path: dir.join(e.file_name()),
            source,
        })?;
        if !ft.is_dir() && !ft.is_file() {
            continue;
        }
        let name = e.file_name();
        let name = name
            .to_str()
            .ok_or_else(|| ZipError::NotUtf8(dir.join(e.file_name())))?;
        children.push(if ft.is_dir() {
            format!("{name}/")
        } else {
            name.to_owned()
        });
    }
    children.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    for c in children {
        let path = format!("{rel}/{c}");
        visit(&path)?;
        if let Some(sub) = path.strip_suffix('/') {
            // every directory gets an entry (above), so empty folders survive the trip
            walk(root, sub, visit)?;
        }
    }
    Ok(())
}

/// Writes `staging`'s tree to `output`.
pub fn zip_user(staging: &Path, output: &Path) -> Result<ZipReport, ZipError> {
    let _lock = reader::lock(staging)?;
    if !staging.join("manifest.jsonl").is_file() {
        return Err(ReadError::NotStaging(staging.to_path_buf()).into());
    }
    let dir = output
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let dir_err = |source| ZipError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let (file, tmp) = tempfile::NamedTempFile::new_in(dir)
        .map_err(dir_err)?
        .into_parts();
    // the central directory waits in an unnamed file on the same file system as
    // the output, not in memory (see the module doc)
    let central = tempfile::tempfile_in(dir).map_err(dir_err)?;
    // a failure writing the archive names the output (the temp file is gone then)
    let out_err = |e: WriteError, entry: Option<&Path>| match (e, entry) {
        (WriteError::Read(source), Some(path)) => ZipError::Io {
            path: path.to_path_buf(),
            source,
        },
        (WriteError::Read(source) | WriteError::Write(source), _) => ZipError::Io {
            path: output.to_path_buf(),
            source,
        },
        (WriteError::NameTooLong(_), p) => ZipError::NameTooLong(p.unwrap_or(output).to_path_buf()),
        (WriteError::Grew, p) => ZipError::Grew(p.unwrap_or(output).to_path_buf()),
    };
    let mut zw = ZipWriter::new(file, central).map_err(|e| out_err(e, None))?;
    let mut bytes_in = 0u64;
    let mut entries = 0u64;
    let mut add = |rel: &str| -> Result<(), ZipError> {
        entries += 1;
        let path = staging.join(rel);
        if rel.ends_with('/') {
            return zw.add_dir(rel).map_err(|e| out_err(e, Some(&path)));
        }
        let mut f = File::open(&path).map_err(|source| ZipError::Io {
            path: path.clone(),
            source,
        })?;
        let len = f
            .metadata()
            .map_err(|source| ZipError::Io {
                path: path.clone(),
                source,
            })?
            .len();
        bytes_in += zw
            .add_file(rel, len, &mut f)
            .map_err(|e| out_err(e, Some(&path)))?;
        Ok(())
    };
    for top in TOP_FILES {
        if staging.join(top).is_file() {
            add(top)?;
        }
    }
    // "mail/…" sorts before "quarantine/…" before "released/…", so the walks keep
    // the byte order
    for dir in ["mail", "quarantine", "released"] {
        if staging.join(dir).is_dir() {
            add(&format!("{dir}/"))?;
        }
        walk(staging, dir, &mut add)?;
    }
    let file = zw.finish().map_err(|e| out_err(e, None))?;
    file.sync_all().map_err(|source| ZipError::Io {
        path: tmp.to_path_buf(),
        source,
    })?;
    drop(file);
    tmp.persist(output).map_err(|e| ZipError::Io {
        path: output.to_path_buf(),
        source: e.error,
    })?;
    let bytes_out = fs::metadata(output).map(|m| m.len()).unwrap_or(0);
    Ok(ZipReport {
        staging: staging.to_path_buf(),
        output: output.to_path_buf(),
        entries,
        bytes_in,
        bytes_out,
    })
}
