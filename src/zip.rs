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
//!   whole 256 KiB buffers, since where the input is cut changes zlib-rs's output and
//!   a short read must not.
//! - Names are the tree's UTF-8 paths with `/`, with APPNOTE 4.4.4 bit 11 set for
//!   non-ASCII names, so `Entwürfe` stays `Entwürfe`.
//! - Memory does not grow with the tree: peak RSS 6.9–7.3 MiB for 10,000 messages
//!   and 7.3–7.5 MiB for 100,000 (8.5 and 29.8 MiB in the same runs with the `zip`
//!   crate, which keeps the central directory in memory until the end). Our
//!   own writer (`src/zip/writer.rs`) streams each file through fixed buffers and
//!   sends each central-directory record to an unnamed temporary file beside the
//!   output, copied after the data at the end. The tree is walked one directory at a
//!   time, and a directory in sorted chunks of 4,096 names (`walk`), so that an
//!   `Inbox` of 36,000 messages is not 3 MiB of names either.
//! - zip64 (APPNOTE 4.5.3) for entries that may reach 4 GiB; zip64 end records
//!   (4.3.14, 4.3.15) from 65,535 entries or 4 GiB of archive on. tests/zip.rs checks
//!   the entry count with 70,000 entries; the writer's unit tests check offsets past
//!   4 GiB and every zip64 field.
//! - Atomic: written to a temporary file beside the output and renamed at the end.

mod writer;

use std::collections::BinaryHeap;
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
/// files as `a/b/c.eml`), in byte order of those paths.
///
/// Depth first with each directory's children sorted by their name, plus a `/` for a
/// directory, gives the byte order of the full paths: two paths first differ inside
/// the names of two siblings, and a directory's paths all continue its name with `/`.
///
/// A directory's children are not all held at once (an `Inbox` of 36,000 messages
/// was 3 MiB of names, the biggest thing left once the central directory went to a
/// file): each pass over the directory keeps only the next `chunk` names in order
/// ([`WALK_CHUNK`]; tests use less), so a directory is read `n / chunk` times. For
/// very large directories the chunk grows to a 32nd of the directory, which bounds
/// the passes at about 32.
fn walk(
    root: &Path,
    rel: &str,
    chunk: usize,
    visit: &mut dyn FnMut(&str) -> Result<(), ZipError>,
) -> Result<(), ZipError> {
    let dir = root.join(rel);
    let mut chunk_len = chunk.max(1);
    let mut after: Option<String> = None;
    loop {
        let Some((names, total)) = next_children(&dir, after.as_deref(), chunk_len)? else {
            return Ok(());
        };
        for c in &names {
            let path = format!("{rel}/{c}");
            visit(&path)?;
            if let Some(sub) = path.strip_suffix('/') {
                // every directory gets an entry (above), so empty folders survive the trip
                walk(root, sub, chunk, visit)?;
            }
        }
        if names.len() < chunk_len {
            return Ok(());
        }
        chunk_len = chunk_len.max(total.div_ceil(32));
        after = names.into_iter().next_back();
    }
}

/// Names of a directory's children held at once by [`walk`] (at least): 4,096
/// names are about 300 KiB.
const WALK_CHUNK: usize = 4096;

/// The first `n` children of `dir` in byte order that sort after `after` (names,
/// with a trailing `/` for a directory), sorted, and the number of children in all;
/// `None` if `dir` does not exist.
fn next_children(
    dir: &Path,
    after: Option<&str>,
    n: usize,
) -> Result<Option<(Vec<String>, usize)>, ZipError> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(ZipError::Io {
                path: dir.to_path_buf(),
                source,
            });
        }
    };
    // a max-heap of the n smallest so far: its top is the one to drop for a smaller
    let mut smallest: BinaryHeap<String> = BinaryHeap::with_capacity(n.min(WALK_CHUNK));
    let mut total = 0;
    let mut name = String::new();
    for e in rd {
        let e = e.map_err(|source| ZipError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let ft = e.file_type().map_err(|source| ZipError::Io {
            path: dir.join(e.file_name()),
            source,
        })?;
        if !ft.is_dir() && !ft.is_file() {
            continue;
        }
        let os = e.file_name();
        let utf8 = os
            .to_str()
            .ok_or_else(|| ZipError::NotUtf8(dir.join(&os)))?;
        total += 1;
        name.clear();
        name.push_str(utf8);
        if ft.is_dir() {
            name.push('/');
        }
        // `str` orders by bytes, the order the archive wants
        if after.is_some_and(|a| name.as_str() <= a) {
            continue;
        }
        if smallest.len() < n {
            smallest.push(name.clone());
        } else if let Some(mut top) = smallest.peek_mut()
            && name < *top
        {
            top.clone_from(&name);
        }
    }
    Ok(Some((smallest.into_sorted_vec(), total)))
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
        walk(staging, dir, WALK_CHUNK, &mut add)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Every entry under `root/rel` the simple way: all paths listed, then sorted.
    fn all_sorted(root: &Path, rel: &str, out: &mut Vec<String>) {
        for e in fs::read_dir(root.join(rel)).unwrap() {
            let e = e.unwrap();
            let name = e.file_name().into_string().unwrap();
            if e.file_type().unwrap().is_dir() {
                out.push(format!("{rel}/{name}/"));
                all_sorted(root, &format!("{rel}/{name}"), out);
            } else {
                out.push(format!("{rel}/{name}"));
            }
        }
    }

    #[test]
    fn walk_in_chunks_gives_byte_order_of_full_paths() {
        let t = tempfile::tempdir().unwrap();
        let mail = t.path().join("mail");
        // '/' (0x2f) sorts after ' ', '-' and '.', and before '0' and letters, so a
        // directory's entries must land between its siblings; 'ü' is two bytes
        // above every ASCII one
        let dirs = [
            "a",
            "a b",
            "a-",
            "a.x",
            "a0",
            "Entwürfe",
            "Entwurf",
            "empty",
            "a/b",
            "a/b/c",
        ];
        for d in dirs {
            fs::create_dir_all(mail.join(d)).unwrap();
        }
        for d in dirs.iter().filter(|d| **d != "empty") {
            // in `a`, "b b", "b.eml" and "b0" sort around the directory `b/`
            for f in ["1.eml", "b b", "b.eml", "b0", "z", "ä"] {
                fs::write(mail.join(d).join(f), d).unwrap();
            }
        }
        for i in 0..50 {
            fs::write(mail.join(format!("m{i:03}.eml")), "x").unwrap();
        }
        let mut want = Vec::new();
        all_sorted(t.path(), "mail", &mut want);
        want.sort();
        assert!(want.contains(&"mail/empty/".to_owned()));
        for chunk in [1, 2, 3, 7, WALK_CHUNK] {
            let mut got = Vec::new();
            walk(t.path(), "mail", chunk, &mut |p| {
                got.push(p.to_owned());
                Ok(())
            })
            .unwrap();
            assert_eq!(got, want, "chunk {chunk}");
        }
        // a missing directory is no entries, not an error
        walk(t.path(), "quarantine", 3, &mut |_| panic!("no entries")).unwrap();
    }
}
