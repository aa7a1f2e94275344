//! `mailstage quarantine release`: stage a quarantined message after a human look.
//!
//! The order of writes makes a crash at any point harmless (see
//! [`crate::stage::quarantine`]): the release is logged (fsynced) before the staged
//! file, the reason file, the manifest and the summary change, and each of those is
//! replaced atomically. The original under `quarantine/` is never touched.

use std::fs::{self, File};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{QuarantineError, find, io_err};
use crate::convert::UserSummary;
use crate::repair;
use crate::stage::Entry;
use crate::stage::manifest::{self, Released};
use crate::stage::paths::reason_file_name;
use crate::stage::quarantine::{self as store, Record};
use crate::stage::reader::{self, MANIFEST};
use crate::stage::writer::write_durable;

/// How to release.
#[derive(Debug, Clone, Default)]
pub struct ReleaseOptions {
    /// The admin's fixed copy of the message, instead of the quarantined original.
    pub file: Option<PathBuf>,
    /// Stage the bytes as they are (CRLF line endings only), without the repair
    /// engine.
    pub as_is: bool,
}

/// What a release did.
#[derive(Debug, Clone, Serialize)]
pub struct ReleaseReport {
    /// The message's ID.
    pub id: String,
    /// Target folder.
    pub folder: String,
    /// The staged file, relative to the user's dir.
    pub staged: String,
    /// The new manifest entry.
    pub entry: Entry,
}

/// Releases the quarantined message `id` of the user at `user_dir`.
pub fn release(
    user_dir: &Path,
    id: &str,
    opts: &ReleaseOptions,
) -> Result<ReleaseReport, QuarantineError> {
    let _lock = reader::lock(user_dir)?;
    let (line_no, entry) = find(user_dir, id)?;
    let id = store::entry_id(&entry);
    if let Some(r) = &entry.released {
        return Err(QuarantineError::Refused(format!(
            "{id} was already released on {} and is staged as {}",
            r.at,
            entry.path.as_deref().unwrap_or("")
        )));
    }
    let Some(qpath) = entry.path.clone() else {
        return Err(QuarantineError::Refused(format!(
            "{id}: the source file {} could not be read, so there is no original to release; \
             make it readable and run mailstage convert again",
            entry.source
        )));
    };
    let staged_rel = store::staged_path(&qpath).ok_or_else(|| {
        QuarantineError::Refused(format!("{id}: {qpath} is not under quarantine/"))
    })?;
    let source_sha: [u8; 32] = hex::decode(&entry.sha256)
        .ok()
        .and_then(|v| v.try_into().ok())
        .ok_or_else(|| {
            QuarantineError::Refused(format!("{id}: the manifest has no SHA-256 for it"))
        })?;
    let internal = DateTime::parse_from_rfc3339(&entry.internal_date)
        .map(|d| d.with_timezone(&Utc))
        .map_err(|e| {
            QuarantineError::Refused(format!(
                "{id}: internal date {:?} in the manifest: {e}",
                entry.internal_date
            ))
        })?;
    let input = match &opts.file {
        Some(f) => fs::read(f).map_err(io_err(f))?,
        None => {
            let p = user_dir.join(&qpath);
            fs::read(&p).map_err(io_err(&p))?
        }
    };
    // The repair settings of the convert that made the tree (a later convert applies
    // this release with them).
    let summary: Option<UserSummary> = fs::read(user_dir.join("summary.json"))
        .ok()
        .and_then(|t| serde_json::from_slice(&t).ok());
    let ctx = repair::Context {
        internal_date: internal,
        max_size: None,
        source_sha256: source_sha,
        disarm_read_receipts: summary.as_ref().is_some_and(|s| s.disarm_read_receipts),
    };
    let staged = store::restage(&input, opts.as_is, &ctx).map_err(|why| {
        QuarantineError::Refused(format!(
            "{id} still cannot be staged: {why}. Fix a copy of {} and give it with --file FIXED.eml, \
             or accept it as it is with --force-as-is (see mailstage quarantine show)",
            user_dir.join(&qpath).display()
        ))
    })?;
    let released = Released {
        at: Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true),
        reason: entry.reason.clone().unwrap_or_default(),
        reason_kind: entry.reason_kind.clone().unwrap_or_default(),
        original: qpath.clone(),
        input: if opts.file.is_some() {
            "file"
        } else {
            "original"
        }
        .to_string(),
        file: opts.file.as_ref().map(|_| store::fixed_file_rel(&input)),
        input_sha256: hex::encode(Sha256::digest(&input)),
        as_is: opts.as_is,
        problems: staged.problems.clone(),
    };
    let new = store::released_entry(&entry, staged_rel.clone(), &staged, released.clone());

    // 1. The release itself, durable before anything it implies.
    let record = Record {
        folder: entry.folder.clone().unwrap_or_default(),
        sha256: entry.sha256.clone(),
        source: entry.source.clone(),
        released,
    };
    store::log(
        user_dir,
        &record,
        opts.file.as_ref().map(|_| input.as_slice()),
    )?;
    // 2. The staged file and the reason file beside the original.
    write_durable(&user_dir.join(&staged_rel), &staged.bytes)?;
    let (dir, name) = qpath.rsplit_once('/').unwrap_or(("", qpath.as_str()));
    let reason_rel = format!("{dir}/{}", reason_file_name(name));
    write_durable(
        &user_dir.join(&reason_rel),
        store::reason_text(&entry, Some(&new)).as_bytes(),
    )?;
    // 3. The manifest line, then the summary.
    replace_manifest_line(user_dir, line_no, &manifest::to_line(&new))?;
    if let Some(s) = summary {
        update_summary(user_dir, s, &entry, &new)?;
    }
    Ok(ReleaseReport {
        id,
        folder: new.folder.clone().unwrap_or_default(),
        staged: staged_rel,
        entry: new,
    })
}

/// Rewrites the manifest with line `line_no` (1-based) replaced, streaming, and
/// renames it into place: readers see the old or the new manifest, never half.
fn replace_manifest_line(
    user_dir: &Path,
    line_no: usize,
    new: &str,
) -> Result<(), QuarantineError> {
    let path = user_dir.join(MANIFEST);
    let src = File::open(&path).map_err(io_err(&path))?;
    let mut tmp = tempfile::NamedTempFile::new_in(user_dir).map_err(io_err(user_dir))?;
    {
        let mut out = BufWriter::new(tmp.as_file_mut());
        let mut reader = BufReader::new(src);
        let mut line = Vec::new();
        let mut n = 0;
        loop {
            line.clear();
            if reader.read_until(b'\n', &mut line).map_err(io_err(&path))? == 0 {
                break;
            }
            n += 1;
            if n == line_no {
                out.write_all(new.as_bytes()).map_err(io_err(&path))?;
                out.write_all(b"\n").map_err(io_err(&path))?;
            } else {
                out.write_all(&line).map_err(io_err(&path))?;
            }
        }
        out.flush().map_err(io_err(&path))?;
    }
    tmp.as_file().sync_all().map_err(io_err(&path))?;
    tmp.persist(&path).map_err(|e| io_err(&path)(e.error))?;
    Ok(())
}

/// Moves one message from quarantined to staged in `summary.json`, so that it
/// says what a new `convert` of the same source would say.
/// `s` is the summary read before the release (a tree without one, old or hand-made,
/// has nothing to keep in step).
fn update_summary(
    user_dir: &Path,
    mut s: UserSummary,
    old: &Entry,
    new: &Entry,
) -> Result<(), QuarantineError> {
    s.counts.quarantined = s.counts.quarantined.saturating_sub(1);
    s.counts.staged += 1;
    s.released += 1;
    s.staged_bytes += new.size;
    if let Some(kind) = &old.reason_kind
        && let Some(n) = s.quarantine_reasons.get_mut(kind)
    {
        *n = n.saturating_sub(1);
        if *n == 0 {
            s.quarantine_reasons.remove(kind);
        }
    }
    for r in &new.repairs {
        *s.repairs.entry(r.clone()).or_default() += 1;
    }
    let json = serde_json::to_vec_pretty(&s).unwrap_or_default();
    Ok(write_durable(&user_dir.join("summary.json"), &json)?)
}
