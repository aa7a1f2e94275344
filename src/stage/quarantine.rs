//! Quarantine files and the admin's releases, as stored in the staging tree.
//!
//! A quarantined original sits under `quarantine/<Folder>/<name>.eml`, byte-identical
//! to its source, with `<name>.reason.txt` beside it. When an admin releases one
//! (`mailstage quarantine release`), three things are written, in this order:
//!
//! 1. the admin's fixed copy, if any, as `released/<sha256>.eml` (content-addressed),
//! 2. a line in `released/releases.jsonl` ([`Record`]), fsynced,
//! 3. the staged file and the manifest line turned from `quarantined` to `staged`.
//!
//! `released/` is outside `mail/` and `quarantine/`, so `convert`'s sweep never
//! removes it, and a later `convert` of the same source applies the same release
//! (same source folder and bytes) and produces the same staged file and manifest
//! line: a release survives re-conversion. The original under `quarantine/` is
//! kept in both cases, so a release never loses the original bytes.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::manifest::{Entry, Released, Status};
use super::paths::{MAIL_DIR, QUARANTINE_DIR};
use crate::mime::{header, lines, validate};
use crate::repair::{self, Outcome, QuarantineReason};

/// Directory of the admin's releases, relative to the user's staging dir.
pub const RELEASED_DIR: &str = "released";
/// The release log inside [`RELEASED_DIR`].
pub const RELEASES_FILE: &str = "releases.jsonl";

/// Errors reading or writing releases.
#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    /// A file could not be read or written.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The admin's fixed copy could not be written.
    #[error(transparent)]
    Stage(#[from] super::writer::StageError),
    /// A line of the release log does not parse.
    #[error("{}:{line}: not a release record: {source}", .path.display())]
    Parse {
        /// The log.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The JSON error.
        source: serde_json::Error,
    },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ReleaseError + '_ {
    move |source| ReleaseError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// One release, as logged in `released/releases.jsonl`. It applies to the source
/// message with this content (`sha256`) in this target folder; the same bytes in
/// another folder are another message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Target folder of the message, `/`-joined as in the manifest.
    pub folder: String,
    /// SHA-256 of the source file, hex (the manifest's `sha256`).
    pub sha256: String,
    /// The source path, for people reading the log.
    pub source: String,
    /// How it was released; copied into the manifest entry.
    pub released: Released,
}

/// Every release of one user, keyed by target folder, then source SHA-256. A later
/// record for the same message replaces an earlier one.
#[derive(Debug, Default, Clone)]
pub struct Releases(HashMap<String, HashMap<String, Record>>);

impl Releases {
    /// Reads `user_dir/released/releases.jsonl`; no log means no releases.
    pub fn load(user_dir: &Path) -> Result<Self, ReleaseError> {
        let path = user_dir.join(RELEASED_DIR).join(RELEASES_FILE);
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => return Err(io_err(&path)(e)),
        };
        let mut out = Self::default();
        for (i, line) in BufReader::new(file).lines().enumerate() {
            let line = line.map_err(io_err(&path))?;
            if line.trim().is_empty() {
                continue;
            }
            let r: Record = serde_json::from_str(&line).map_err(|source| ReleaseError::Parse {
                path: path.clone(),
                line: i + 1,
                source,
            })?;
            out.0
                .entry(r.folder.clone())
                .or_default()
                .insert(r.sha256.clone(), r);
        }
        Ok(out)
    }

    /// The releases of one target folder, by source SHA-256.
    pub fn folder(&self, folder: &str) -> Option<&HashMap<String, Record>> {
        self.0.get(folder)
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Appends `record` to the release log and fsyncs it (and the admin's fixed copy,
/// `fixed`, first), so that a crash after this returns cannot lose the release.
pub fn log(user_dir: &Path, record: &Record, fixed: Option<&[u8]>) -> Result<(), ReleaseError> {
    let dir = user_dir.join(RELEASED_DIR);
    fs::create_dir_all(&dir).map_err(io_err(&dir))?;
    if let (Some(bytes), Some(rel)) = (fixed, record.released.file.as_deref()) {
        super::writer::write_durable(&user_dir.join(rel), bytes)?;
    }
    let path = dir.join(RELEASES_FILE);
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(io_err(&path))?;
    let mut line = serde_json::to_string(record).unwrap_or_default();
    line.push('\n');
    f.write_all(line.as_bytes()).map_err(io_err(&path))?;
    f.sync_all().map_err(io_err(&path))?;
    // The new directory entry must be durable too.
    if let Ok(d) = File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// The path, relative to the user's dir, of an admin's fixed copy.
pub fn fixed_file_rel(bytes: &[u8]) -> String {
    format!("{RELEASED_DIR}/{}.eml", hex::encode(Sha256::digest(bytes)))
}

/// What a released message is staged as.
#[derive(Debug, Clone)]
pub struct Restaged {
    /// The staged bytes (CRLF).
    pub bytes: Vec<u8>,
    /// Repairs the engine applied (none for as-is).
    pub repairs: Vec<String>,
    /// The staged message's Message-ID, if it has one.
    pub message_id: Option<String>,
    /// What the validator still finds (as-is only).
    pub problems: Vec<String>,
}

/// Turns released input bytes into what is staged: through the repair engine, or
/// with `as_is` unchanged but for CRLF line endings (the staging contract,
/// STAGING.md: staged files always use CRLF). The engine runs as `ctx` says but
/// without a size limit: the admin has looked at the message. `ctx.source_sha256`
/// keeps a derived Message-ID the same as `convert` would derive it.
pub fn restage(
    input: &[u8],
    as_is: bool,
    ctx: &repair::Context,
) -> Result<Restaged, QuarantineReason> {
    if input.iter().all(u8::is_ascii_whitespace) {
        // Nothing to stage, whatever the admin decided.
        return Err(QuarantineReason::Empty);
    }
    if as_is {
        let bytes = lines::to_crlf(input).0.into_owned();
        let head = header::scan(&bytes, 0);
        let message_id = head
            .get(&bytes, "message-id")
            .and_then(header::msg_id)
            .map(|id| String::from_utf8_lossy(&id).into_owned());
        let problems = validate::validate(&bytes)
            .iter()
            .map(ToString::to_string)
            .collect();
        return Ok(Restaged {
            bytes,
            repairs: Vec::new(),
            message_id,
            problems,
        });
    }
    let ctx = repair::Context {
        max_size: None,
        ..ctx.clone()
    };
    match repair::repair(input, &ctx) {
        Outcome::Staged(s) => Ok(Restaged {
            bytes: s.bytes(input).to_vec(),
            repairs: s.repairs.iter().map(|r| r.name().to_string()).collect(),
            message_id: Some(s.message_id),
            problems: Vec::new(),
        }),
        Outcome::Quarantined(r) => Err(r),
    }
}

/// The staged path of a released message: its quarantine path with `mail/` for
/// `quarantine/` (same folder directory, same deterministic name).
pub fn staged_path(quarantine_path: &str) -> Option<String> {
    quarantine_path
        .strip_prefix(QUARANTINE_DIR)
        .and_then(|rest| rest.strip_prefix('/'))
        .map(|rest| format!("{MAIL_DIR}/{rest}"))
}

/// Turns a quarantined manifest entry into the staged entry of its release.
/// `convert` and `quarantine release` both build the entry here, so that they
/// write the same line.
pub fn released_entry(
    quarantined: &Entry,
    staged_rel: String,
    staged: &Restaged,
    released: Released,
) -> Entry {
    let mut e = quarantined.clone();
    e.status = Status::Staged;
    e.path = Some(staged_rel);
    e.size = staged.bytes.len() as u64;
    // As convert: the staged bytes' hash is upload's to record (journal `stored`).
    e.staged_sha256 = None;
    e.message_id = staged.message_id.clone();
    e.repairs = staged.repairs.clone();
    e.reason = None;
    e.reason_kind = None;
    e.released = Some(released);
    e
}

/// The human-readable file beside a quarantined original. `e` is the quarantined
/// entry (reason and reason kind set); `released` the staged entry of its release.
pub fn reason_text(e: &Entry, released: Option<&Entry>) -> String {
    let mut s = format!(
        "mailstage quarantined this message.\n\n\
         Reason:        {}\n\
         Reason kind:   {}\n\
         Source file:   {}\n\
         Folder:        {}\n\
         Internal date: {}\n\
         Flags:         {}\n\
         Size:          {} bytes\n\
         SHA-256:       {}\n\n\
         The original bytes are kept unchanged beside this file (same name, .eml).\n\
         Converting again after the source file was fixed stages it; or see\n\
         `mailstage quarantine show` and `mailstage quarantine release`.\n",
        e.reason.as_deref().unwrap_or(""),
        e.reason_kind.as_deref().unwrap_or(""),
        e.source,
        e.folder.as_deref().unwrap_or(""),
        e.internal_date,
        if e.flags.is_empty() {
            "(none)".to_string()
        } else {
            e.flags.join(" ")
        },
        e.source_size,
        e.sha256,
    );
    if let Some(staged) = released
        && let Some(r) = &staged.released
    {
        s.push_str(&release_note(r, staged.path.as_deref().unwrap_or("")));
    }
    s
}

/// The paragraph added to the reason file once the message is released.
fn release_note(r: &Released, staged_rel: &str) -> String {
    let how = match (r.input.as_str(), r.as_is) {
        ("file", true) => format!(
            "the admin's fixed copy {}, as it is",
            r.file.as_deref().unwrap_or("")
        ),
        ("file", false) => format!(
            "the admin's fixed copy {}, through the repair engine",
            r.file.as_deref().unwrap_or("")
        ),
        (_, true) => "this original, as it is".to_string(),
        (_, false) => "this original, through the repair engine".to_string(),
    };
    format!(
        "\nReleased:      {} from {how}; staged as {staged_rel}.\n",
        r.at
    )
}

/// The ID by which `quarantine` commands name an entry: the 16 hex digits of the
/// source SHA-256 that are also in its file name. (An unreadable file has no
/// content hash; its ID comes from its source path, as its file name does.)
pub fn entry_id(e: &Entry) -> String {
    if e.sha256.len() >= 16 {
        return e.sha256[..16].to_string();
    }
    let raw = e
        .source_raw
        .as_deref()
        .and_then(|h| hex::decode(h).ok())
        .unwrap_or_else(|| e.source.as_bytes().to_vec());
    hex::encode(&Sha256::digest(&raw)[..8])
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn ctx() -> repair::Context {
        repair::Context {
            internal_date: Utc::now(),
            max_size: Some(1),
            source_sha256: [0; 32],
            disarm_read_receipts: false,
        }
    }

    #[test]
    fn staged_path_mirrors_the_quarantine_path() {
        assert_eq!(
            staged_path("quarantine/Sent Items/20090101-000000-ab.eml").as_deref(),
            Some("mail/Sent Items/20090101-000000-ab.eml")
        );
        assert_eq!(staged_path("mail/x.eml"), None);
    }

    #[test]
    fn as_is_only_changes_line_endings_and_reports_problems() {
        let input = b"Subject: x\nMessage-ID: <a@b>\n\nbody\0\n";
        let r = restage(input, true, &ctx()).unwrap();
        assert_eq!(
            r.bytes,
            b"Subject: x\r\nMessage-ID: <a@b>\r\n\r\nbody\0\r\n"
        );
        assert_eq!(r.message_id.as_deref(), Some("<a@b>"));
        assert!(r.repairs.is_empty());
        assert!(
            r.problems.iter().any(|p| p.contains("NUL")),
            "{:?}",
            r.problems
        );
        assert!(matches!(
            restage(b" \n", true, &ctx()),
            Err(QuarantineReason::Empty)
        ));
    }

    #[test]
    fn log_round_trips_and_later_records_win() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = Record {
            folder: "Inbox".into(),
            sha256: "ab".into(),
            source: "cur/1".into(),
            released: Released {
                at: "2026-12-02T00:00:00Z".into(),
                reason: "r".into(),
                reason_kind: "k".into(),
                original: "quarantine/Inbox/x.eml".into(),
                input: "file".into(),
                file: Some(fixed_file_rel(b"fixed")),
                input_sha256: "cd".into(),
                as_is: false,
                problems: vec![],
            },
        };
        log(dir.path(), &r, Some(b"fixed")).unwrap();
        r.released.as_is = true;
        log(dir.path(), &r, Some(b"fixed")).unwrap();
        let all = Releases::load(dir.path()).unwrap();
        assert_eq!(all.folder("Inbox").unwrap()["ab"], r);
        let fixed = fs::read(dir.path().join(r.released.file.as_deref().unwrap())).unwrap();
        assert_eq!(fixed, b"fixed");
        assert!(Releases::load(&dir.path().join("none")).unwrap().is_empty());
    }
}
