//! `mailstage report`: one page for a whole batch — every `STAGING/<user>/` that has a
//! `manifest.jsonl` — as self-contained HTML ([`html`]) or JSON.
//!
//! - The manifest is the authority (`summary.json` may lag behind a `quarantine
//!   release`): every count comes from streaming `manifest.jsonl` line by line, so
//!   memory depends on the number of users and folders, never on the number of
//!   messages. An entry with a `released` key (quarantine release turned it from
//!   `quarantined` into `staged`) counts as staged and as released.
//! - Upload state per mailbox comes from `STAGING/<user>/upload/`: the journal is
//!   streamed for its `session` and `removed` records only (no per-message state is
//!   kept), `<journal>.last.json` has the totals of the last finished upload and
//!   `<journal>.verify.json` those of the last verify.
//! - Deterministic: users sorted by name, folders and kinds sorted; the only time that
//!   is not read from the tree is the optional generation stamp.

pub mod html;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::IgnoredAny;

use crate::stage::manifest::Status;
use crate::stage::reader::{MANIFEST, user_dirs};
use crate::upload::UPLOAD_DIR;
use crate::upload::verify::{VerifyResult, result_path};

/// Errors that stop the report.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The staging root holds no user tree.
    #[error(
        "{} holds no user staging tree (no <user>/manifest.jsonl){}",
        .path.display(),
        if *.is_user { "; it is one user's tree: give its parent directory" } else { "" }
    )]
    NoUsers {
        /// The staging root.
        path: PathBuf,
        /// It is itself a user's tree (has a manifest).
        is_user: bool,
    },
    /// A file could not be read.
    #[error("cannot read {}", .path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A manifest line does not parse.
    #[error("{}:{line}: not a manifest entry", .path.display())]
    Parse {
        /// The manifest.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// The JSON error.
        source: serde_json::Error,
    },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ReportError + '_ {
    move |source| ReportError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Message counts of one user (or of the batch). `staged` includes `released`;
/// `repaired` counts staged messages with at least one repair.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Manifest entries (source message files).
    pub messages: u64,
    /// Staged, released ones included.
    pub staged: u64,
    /// Staged by `quarantine release` (entries with a `released` key).
    pub released: u64,
    /// Staged with at least one repair.
    pub repaired: u64,
    /// Quarantined.
    pub quarantined: u64,
    /// Duplicates of another message in the same source folder.
    pub duplicate: u64,
    /// Excluded by the admin's rules.
    pub excluded: u64,
    /// Bytes of the source files.
    pub source_bytes: u64,
    /// Bytes of the staged files.
    pub staged_bytes: u64,
    /// Released messages that also carry repairs (so that the chart's segments do not
    /// overlap).
    #[serde(skip)]
    pub repaired_released: u64,
}

impl Counts {
    fn add(&mut self, o: &Counts) {
        self.messages += o.messages;
        self.staged += o.staged;
        self.released += o.released;
        self.repaired += o.repaired;
        self.quarantined += o.quarantined;
        self.duplicate += o.duplicate;
        self.excluded += o.excluded;
        self.source_bytes += o.source_bytes;
        self.staged_bytes += o.staged_bytes;
        self.repaired_released += o.repaired_released;
    }
}

/// Messages of one target folder.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FolderCount {
    /// Target folder, `/`-joined as in the manifest.
    pub folder: String,
    /// Staged (released ones included).
    pub staged: u64,
    /// Duplicates.
    pub duplicate: u64,
    /// Excluded.
    pub excluded: u64,
}

/// The last finished upload run (from `<journal>.last.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UploadStatus {
    /// Start of the last upload session in the journal (RFC 3339).
    pub time: Option<String>,
    /// Staged messages when it ran.
    pub staged: u64,
    /// On the server after it (sent, already there, found).
    pub on_server: u64,
    /// Refused or not sendable.
    pub failed: u64,
    /// In folders excluded from the upload.
    pub skipped: u64,
    /// Every staged message outside excluded folders was on the server.
    pub complete: bool,
    /// The manifest's staged count differs from the one the upload saw (convert ran
    /// again, or a quarantine release): upload again.
    pub staging_changed: bool,
}

/// The last rollback (from the journal).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RollbackStatus {
    /// Start of the rollback session (RFC 3339).
    pub time: String,
    /// Messages recorded as removed by it (removed, or already gone).
    pub removed: u64,
}

/// One mailbox a user's tree was uploaded to (one journal).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MailboxStatus {
    /// Journal file name in `upload/`.
    pub journal: String,
    /// `host:port`, from the journal.
    pub server: String,
    /// Mailbox, from the journal.
    pub mailbox: String,
    /// One word: `complete`, `incomplete`, `interrupted`, `rolled back`, `not uploaded`.
    pub state: String,
    /// The last finished upload, if any.
    pub upload: Option<UploadStatus>,
    /// The last rollback, if it came after the last upload.
    pub rollback: Option<RollbackStatus>,
    /// The last verify, if any.
    pub verify: Option<VerifyResult>,
    /// The verify ran before the last upload or rollback session.
    pub verify_stale: bool,
}

/// Everything about one user.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UserReport {
    /// The user's directory name.
    pub user: String,
    /// Counts.
    #[serde(flatten)]
    pub counts: Counts,
    /// Repairs by name: how many staged messages had each.
    pub repairs: BTreeMap<String, u64>,
    /// Quarantined messages by reason kind.
    pub quarantine_reasons: BTreeMap<String, u64>,
    /// Target folders, sorted.
    pub folders: Vec<FolderCount>,
    /// Upload journals, sorted by file name.
    pub mailboxes: Vec<MailboxStatus>,
}

/// The whole batch.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BatchReport {
    /// The staging root's directory name.
    pub staging: String,
    /// When the report was made, if asked for (`--timestamp`).
    pub generated: Option<String>,
    /// Users, sorted by name.
    pub users: Vec<UserReport>,
    /// Sum over users.
    pub total: Counts,
    /// Repairs by name over the batch.
    pub repairs: BTreeMap<String, u64>,
    /// Quarantine reasons by kind over the batch.
    pub quarantine_reasons: BTreeMap<String, u64>,
    /// Directories that were left out, and why.
    pub warnings: Vec<String>,
}

/// The keys of a manifest line the report needs; the rest is skipped unparsed.
#[derive(serde::Deserialize)]
struct Line {
    status: Status,
    folder: Option<String>,
    #[serde(default)]
    repairs: Vec<String>,
    reason_kind: Option<String>,
    #[serde(default)]
    size: u64,
    #[serde(default)]
    source_size: u64,
    // `quarantine release` adds an object here; only its presence matters
    released: Option<IgnoredAny>,
}

/// Builds the report of every user tree under `staging`.
pub fn collect(staging: &Path, generated: Option<String>) -> Result<BatchReport, ReportError> {
    let mut report = BatchReport {
        staging: staging
            .canonicalize()
            .ok()
            .as_deref()
            .unwrap_or(staging)
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("")
            .to_owned(),
        generated,
        ..Default::default()
    };
    let mut names = Vec::new();
    for (name, _) in user_dirs(staging).map_err(io_err(staging))? {
        // convert only makes UTF-8 user names (they are one path segment of a name)
        match name.into_string() {
            Ok(n) => names.push(n),
            Err(raw) => report.warnings.push(format!(
                "left out a directory whose name is not UTF-8: {raw:?}"
            )),
        }
    }
    if names.is_empty() {
        return Err(ReportError::NoUsers {
            path: staging.to_path_buf(),
            is_user: staging.join(MANIFEST).is_file(),
        });
    }
    for name in names {
        let u = user(&staging.join(&name), name)?;
        report.total.add(&u.counts);
        for (k, v) in &u.repairs {
            *report.repairs.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &u.quarantine_reasons {
            *report.quarantine_reasons.entry(k.clone()).or_default() += v;
        }
        report.users.push(u);
    }
    Ok(report)
}

/// One user's counts, streamed from the manifest, and their upload state.
fn user(dir: &Path, name: String) -> Result<UserReport, ReportError> {
    let path = dir.join(MANIFEST);
    let file = File::open(&path).map_err(io_err(&path))?;
    let mut r = BufReader::with_capacity(1 << 20, file);
    let mut u = UserReport {
        user: name,
        ..Default::default()
    };
    let mut folders: BTreeMap<String, FolderCount> = BTreeMap::new();
    let mut buf = Vec::new();
    let mut line_no = 0u64;
    loop {
        buf.clear();
        if r.read_until(b'\n', &mut buf).map_err(io_err(&path))? == 0 {
            break;
        }
        line_no += 1;
        if buf.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let l: Line = serde_json::from_slice(&buf).map_err(|source| ReportError::Parse {
            path: path.clone(),
            line: line_no,
            source,
        })?;
        let c = &mut u.counts;
        c.messages += 1;
        c.source_bytes += l.source_size;
        match l.status {
            Status::Staged => {
                c.staged += 1;
                c.staged_bytes += l.size;
                let released = l.released.is_some();
                if released {
                    c.released += 1;
                }
                if !l.repairs.is_empty() {
                    c.repaired += 1;
                    if released {
                        c.repaired_released += 1;
                    }
                }
                for k in l.repairs {
                    *u.repairs.entry(k).or_default() += 1;
                }
                bump(&mut folders, l.folder, |f| f.staged += 1);
            }
            Status::Quarantined => {
                c.quarantined += 1;
                *u.quarantine_reasons
                    .entry(l.reason_kind.unwrap_or_else(|| "unknown".into()))
                    .or_default() += 1;
            }
            Status::Duplicate => {
                c.duplicate += 1;
                bump(&mut folders, l.folder, |f| f.duplicate += 1);
            }
            Status::Excluded => {
                c.excluded += 1;
                bump(&mut folders, l.folder, |f| f.excluded += 1);
            }
        }
    }
    u.folders = folders.into_values().collect();
    u.mailboxes = mailboxes(&dir.join(UPLOAD_DIR), u.counts.staged)?;
    Ok(u)
}

/// Counts one message in its folder's row (created on first sight).
fn bump(
    folders: &mut BTreeMap<String, FolderCount>,
    name: Option<String>,
    f: impl FnOnce(&mut FolderCount),
) {
    let name = name.unwrap_or_default();
    match folders.get_mut(&name) {
        Some(row) => f(row),
        None => {
            let mut row = FolderCount {
                folder: name.clone(),
                ..Default::default()
            };
            f(&mut row);
            folders.insert(name, row);
        }
    }
}

/// What `<journal>.last.json` (an upload report) says, counted without keeping the
/// lists it holds.
#[derive(serde::Deserialize)]
struct LastUpload {
    #[serde(default)]
    staged: u64,
    #[serde(default)]
    uploaded: u64,
    #[serde(default)]
    already_present: u64,
    #[serde(default)]
    found_on_server: u64,
    #[serde(default)]
    skipped: u64,
    #[serde(default)]
    failed: Vec<IgnoredAny>,
    #[serde(default)]
    complete: bool,
}

/// The `session` and `removed` records of a journal; every other line is passed over
/// by its prefix, without parsing (records are written with `ev` first).
#[derive(Default)]
struct Sessions {
    server: String,
    mailbox: String,
    last_upload: Option<String>,
    last_rollback: Option<String>,
    /// The last session was a rollback.
    rolled_back: bool,
    removed_since_rollback: u64,
}

fn sessions(path: &Path) -> Result<Sessions, ReportError> {
    #[derive(serde::Deserialize)]
    struct Session {
        time: String,
        server: String,
        mailbox: String,
        command: String,
    }
    let file = File::open(path).map_err(io_err(path))?;
    let mut r = BufReader::with_capacity(1 << 20, file);
    let mut s = Sessions::default();
    let mut buf = Vec::new();
    loop {
        buf.clear();
        if r.read_until(b'\n', &mut buf).map_err(io_err(path))? == 0 {
            break;
        }
        if buf.starts_with(br#"{"ev":"removed""#) {
            s.removed_since_rollback += 1;
        } else if buf.starts_with(br#"{"ev":"session""#) {
            // a torn line (crash) is skipped, as the journal itself does
            let Ok(x) = serde_json::from_slice::<Session>(&buf) else {
                continue;
            };
            s.server = x.server;
            s.mailbox = x.mailbox;
            s.rolled_back = x.command == "rollback";
            if s.rolled_back {
                s.last_rollback = Some(x.time);
                s.removed_since_rollback = 0;
            } else {
                s.last_upload = Some(x.time);
            }
        }
    }
    Ok(s)
}

fn parse_time(t: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(t)
        .ok()
        .map(|d| d.with_timezone(&chrono::Utc))
}

/// Every journal in `upload/`, sorted by file name.
fn mailboxes(dir: &Path, staged_now: u64) -> Result<Vec<MailboxStatus>, ReportError> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err(dir)(e)),
    };
    let mut journals = Vec::new();
    for e in rd {
        let e = e.map_err(io_err(dir))?;
        let name = e.file_name();
        // journal names are ASCII by construction (journal::file_name)
        if let Some(n) = name.to_str()
            && n.ends_with(".jsonl")
        {
            journals.push(n.to_owned());
        }
    }
    journals.sort();
    let mut out = Vec::new();
    for j in journals {
        let jpath = dir.join(&j);
        let s = sessions(&jpath)?;
        let last_path = jpath.with_extension("last.json");
        let last: Option<LastUpload> = File::open(&last_path)
            .ok()
            .and_then(|f| serde_json::from_reader(BufReader::new(f)).ok());
        // `.last.json` is written when an upload run ends; a session that started
        // after that never finished
        let last_mtime = std::fs::metadata(&last_path)
            .and_then(|m| m.modified())
            .ok()
            .map(chrono::DateTime::<chrono::Utc>::from);
        let verify: Option<VerifyResult> = File::open(result_path(&jpath))
            .ok()
            .and_then(|f| serde_json::from_reader(BufReader::new(f)).ok());
        let upload = last.map(|l| UploadStatus {
            time: s.last_upload.clone(),
            staged: l.staged,
            on_server: l.uploaded + l.already_present + l.found_on_server,
            failed: l.failed.len() as u64,
            skipped: l.skipped,
            complete: l.complete,
            staging_changed: l.staged != staged_now,
        });
        let unfinished = match (s.last_upload.as_deref().and_then(parse_time), last_mtime) {
            (Some(started), Some(done)) => started > done,
            (Some(_), None) => true,
            _ => false,
        };
        let state = if s.rolled_back {
            "rolled back"
        } else if unfinished {
            "interrupted"
        } else {
            match &upload {
                Some(u) if u.complete && !u.staging_changed => "complete",
                Some(_) => "incomplete",
                None => "not uploaded",
            }
        };
        let latest = [s.last_upload.as_deref(), s.last_rollback.as_deref()]
            .into_iter()
            .flatten()
            .filter_map(parse_time)
            .max();
        let verify_stale = match (&verify, latest) {
            (Some(v), Some(l)) => parse_time(&v.time).is_none_or(|t| t < l),
            _ => false,
        };
        let (server, mailbox) = match &verify {
            Some(v) if s.server.is_empty() => (v.server.clone(), v.mailbox.clone()),
            _ => (s.server.clone(), s.mailbox.clone()),
        };
        out.push(MailboxStatus {
            journal: j,
            server,
            mailbox,
            state: state.to_owned(),
            upload,
            rollback: s
                .last_rollback
                .clone()
                .filter(|_| s.rolled_back)
                .map(|time| RollbackStatus {
                    time,
                    removed: s.removed_since_rollback,
                }),
            verify,
            verify_stale,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(status: &str, folder: &str, extra: &str) -> String {
        let repairs = if extra.contains("\"repairs\"") {
            ""
        } else {
            r#","repairs":[]"#
        };
        format!(
            r#"{{"source":"cur/x","sha256":"00","status":"{status}","folder":"{folder}","flags":[],"internal_date":"2009-03-13T22:15:00+00:00","size":10,"source_size":12{repairs}{extra}}}"#
        )
    }

    fn tree(lines: &[String]) -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        let u = t.path().join("u");
        std::fs::create_dir_all(u.join(UPLOAD_DIR)).unwrap();
        std::fs::write(u.join(MANIFEST), lines.join("\n") + "\n").unwrap();
        t
    }

    const SESSION: &str = r#"{"ev":"session","time":"2026-01-01T10:00:00+00:00","server":"h:993","mailbox":"m","version":"0","command":"upload"}"#;

    fn state(t: &tempfile::TempDir) -> MailboxStatus {
        let r = collect(t.path(), None).unwrap();
        r.users[0].mailboxes[0].clone()
    }

    #[test]
    fn released_entries_are_staged_and_counted() {
        let t = tree(&[
            line("staged", "Inbox", r#","repairs":["added-date"]"#),
            line("staged", "Inbox", r#","released":{"time":"x"}"#),
            line("quarantined", "Inbox", r#","reason_kind":"too-large""#),
            line("duplicate", "Inbox", ""),
            line("excluded", "Deleted Items", ""),
        ]);
        let r = collect(t.path(), Some("now".into())).unwrap();
        let c = &r.users[0].counts;
        assert_eq!(
            (
                c.messages,
                c.staged,
                c.released,
                c.quarantined,
                c.duplicate,
                c.excluded
            ),
            (5, 2, 1, 1, 1, 1)
        );
        assert_eq!(r.users[0].quarantine_reasons["too-large"], 1);
        assert_eq!(r.users[0].folders.len(), 2);
        assert_eq!(r.users[0].folders[1].staged, 2);
        assert_eq!(r.users[0].folders[1].duplicate, 1);
        assert_eq!(r.generated.as_deref(), Some("now"));
        assert!(r.users[0].mailboxes.is_empty());
    }

    #[test]
    fn upload_states_from_the_journal_and_its_files() {
        let t = tree(&[line("staged", "Inbox", "")]);
        let up = t.path().join("u").join(UPLOAD_DIR);
        let j = up.join("m@h.jsonl");
        // a session that never finished
        std::fs::write(&j, format!("{SESSION}\n{{\"ev\":\"send\",\"pa")).unwrap();
        assert_eq!(state(&t).state, "interrupted");
        // finished (written after the session started), with as many staged as now
        let last = |staged: u64, complete: bool| {
            std::fs::write(
                j.with_extension("last.json"),
                format!(
                    r#"{{"staged":{staged},"uploaded":1,"failed":[{{"path":"p"}}],"complete":{complete}}}"#
                ),
            )
            .unwrap()
        };
        last(1, true);
        let s = state(&t);
        assert_eq!(s.state, "complete");
        assert_eq!(s.upload.as_ref().unwrap().failed, 1);
        assert_eq!(s.server, "h:993");
        // the manifest changed since
        last(2, true);
        let s = state(&t);
        assert_eq!(s.state, "incomplete");
        assert!(s.upload.unwrap().staging_changed);
        // a verify from before the upload is stale, one after it is not
        let verify = |time: &str| {
            std::fs::write(
                result_path(&j),
                format!(
                    r#"{{"time":"{time}","server":"h:993","mailbox":"m","expected":1,"present":1,"missing":0,"duplicated":0,"wrong_date":0,"wrong_flags":0,"other":0,"folder_problems":0,"ok":true}}"#
                ),
            )
            .unwrap()
        };
        verify("2026-01-01T09:59:59.000Z");
        assert!(state(&t).verify_stale);
        verify("2026-01-01T10:00:01.000Z");
        assert!(!state(&t).verify_stale);
        // a rollback after the upload
        std::fs::write(
            &j,
            format!(
                "{SESSION}\n{}\n{{\"ev\":\"removed\",\"path\":\"p\"}}\n",
                SESSION
                    .replace("upload", "rollback")
                    .replace("10:00:00", "11:00:00")
            ),
        )
        .unwrap();
        let s = state(&t);
        assert_eq!(s.state, "rolled back");
        assert_eq!(s.rollback.unwrap().removed, 1);
        assert!(s.verify_stale);
    }

    #[test]
    fn a_verify_without_upload_is_not_an_upload() {
        let t = tree(&[line("staged", "Inbox", "")]);
        let j = t.path().join("u").join(UPLOAD_DIR).join("m@h.jsonl");
        std::fs::write(&j, "").unwrap();
        std::fs::write(
            result_path(&j),
            r#"{"time":"2026-01-01T10:00:01.000Z","server":"h:143","mailbox":"m","expected":1,"present":0,"missing":1,"duplicated":0,"wrong_date":0,"wrong_flags":0,"other":0,"folder_problems":0,"ok":false}"#,
        )
        .unwrap();
        let s = state(&t);
        assert_eq!(s.state, "not uploaded");
        assert_eq!(s.server, "h:143");
        assert!(!s.verify.unwrap().ok);
    }

    #[test]
    fn no_user_tree_is_an_error() {
        let t = tempfile::tempdir().unwrap();
        assert!(matches!(
            collect(t.path(), None),
            Err(ReportError::NoUsers { is_user: false, .. })
        ));
    }
}
