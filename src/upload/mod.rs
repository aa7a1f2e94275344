//! `mailstage upload`: push a user's staging tree into a mailbox over IMAP, with its
//! folders, flags and internal dates, journaled so that it can be interrupted and
//! re-run at any point without ever creating a duplicate.
//!
//! The order of work for one user:
//! 1. join the manifest ([`crate::stage::reader`]) and the journal ([`journal`]) on
//!    disk into each folder's staged messages with their journal state (`survey`'s
//!    `StagedSet`, as verify and rollback; nothing per message stays in memory),
//!    connect and log in;
//! 2. LIST the server's folders and plan every staged folder ([`plan`]); report
//!    problems (case-only collisions, separators in names) per folder;
//! 3. create and subscribe the missing folders — all of them before any APPEND, so
//!    a refused name (`NO Folder name is reserved` on Exchange Online) is known up
//!    front and the other folders go ahead;
//! 4. upload folder by folder (`send.rs`), `--connections N` folders at a time, each
//!    connection reconnecting and resuming from the journal when the server drops it.
//!
//! Flags (`docs/UPLOAD.md` has the admin's version):
//! - `\Deleted` is not uploaded unless `keep_deleted`: on the server it would hide
//!   the message or get it expunged;
//! - `\Flagged` is set with a STORE after the APPEND (Exchange ignores it on APPEND,
//!   EXCHANGE.md);
//! - keywords that are client state rather than the user's labels (`$MDNSent`,
//!   `NonJunk`, `$NotJunk`, `Junk`, `$Junk`) are dropped by default: Exchange turns
//!   every keyword into a visible category;
//! - `mark_seen` adds `\Seen` to everything.

pub mod journal;
mod matching;
pub mod plan;
pub mod rollback;
mod send;
// `send.rs` names it `super::spill`; the module itself is crate-level (convert uses it too).
use crate::spill;
mod survey;
mod uidset;
pub mod verify;

pub use crate::spill::SpillError;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::imap::{self, ImapError, ServerConfig};
use crate::progress::Progress;
use crate::spill::{Enc, Spill};
use crate::stage::reader::{self, ReadError};
use journal::{Journal, JournalError, Record};
use plan::FolderPlan;
use survey::StagedSet;

/// Keywords dropped unless the admin keeps them: client-side state that Exchange would
/// show as a category on every message (EXCHANGE.md: `$MDNSent` shows as a category).
pub const DEFAULT_DROPPED_KEYWORDS: &[&str] = &["$MDNSent", "NonJunk", "$NotJunk", "Junk", "$Junk"];

/// Directory in a user's staging tree that holds the upload journals.
pub const UPLOAD_DIR: &str = "upload";

/// What the admin asked for.
#[derive(Debug, Clone)]
pub struct UploadOptions {
    /// Where to connect and how to log in.
    pub server: ServerConfig,
    /// The mailbox being filled, as the admin names it (journal key and reports).
    pub mailbox: String,
    /// Mark every message read.
    pub mark_seen: bool,
    /// Upload `\Deleted` as well.
    pub keep_deleted: bool,
    /// Keywords to keep although they are in the default drop list.
    pub keep_keywords: Vec<String>,
    /// More keywords to drop.
    pub drop_keywords: Vec<String>,
    /// Staged folders (and their subfolders) not to upload.
    pub exclude_folders: Vec<String>,
    /// Do not send messages larger than this.
    pub max_size: Option<u64>,
    /// Connections (folders uploaded at once).
    pub connections: usize,
    /// Commands in flight per connection.
    pub max_in_flight: usize,
    /// Connect, check and plan only.
    pub dry_run: bool,
    /// Upload into an existing folder that differs only in case.
    pub merge_case_folders: bool,
    /// Show a progress bar (only on a terminal).
    pub progress: bool,
    /// Reconnect attempts in a row without progress before a folder is given up.
    pub max_reconnects: u32,
}

/// Errors that stop a user's upload as a whole.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// Reading the staging tree failed.
    #[error(transparent)]
    Stage(#[from] ReadError),
    /// The journal failed.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// The server could not be used at all (connect, TLS, login, LIST).
    #[error(transparent)]
    Imap(#[from] ImapError),
    /// `verify` or `rollback` could not use its temporary files.
    #[error(transparent)]
    Spill(#[from] SpillError),
}

/// One message the server refused (or that could not be sent).
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    /// Staged path.
    pub path: String,
    /// Target folder.
    pub folder: String,
    /// Why, in the server's words where it gave some.
    pub reason: String,
}

/// What happened to one staged folder.
#[derive(Debug, Clone, Serialize)]
pub struct FolderReport {
    /// Staged (target) folder name.
    pub folder: String,
    /// Its name on the server.
    pub server_folder: Option<String>,
    /// Staged messages in it.
    pub messages: u64,
    /// Whether mailstage created it in this run.
    pub created: bool,
    /// Not uploaded because of this.
    pub problem: Option<String>,
    /// A remark (special-use resolution).
    pub note: Option<String>,
}

/// The result of one user's upload.
#[derive(Debug, Clone, Serialize, Default)]
pub struct UploadReport {
    /// The user's staging directory.
    pub staging: PathBuf,
    /// `host:port`.
    pub server: String,
    /// Mailbox.
    pub mailbox: String,
    /// Staged messages in the manifest.
    pub staged: u64,
    /// Sent by APPEND in this run.
    pub uploaded: u64,
    /// Bytes sent by APPEND in this run.
    pub uploaded_bytes: u64,
    /// On the server already according to the journal.
    pub already_present: u64,
    /// Found on the server after an interrupted APPEND (not sent again).
    pub found_on_server: u64,
    /// In excluded folders (`--exclude-folder`).
    pub skipped: u64,
    /// Refused or not sendable.
    pub failed: Vec<Failure>,
    /// Messages whose `\Flagged` was set by STORE in this run.
    pub flagged: u64,
    /// Keywords dropped by rule, with counts.
    pub dropped_keywords: BTreeMap<String, u64>,
    /// Per folder.
    pub folders: Vec<FolderReport>,
    /// Reconnections after the server closed or dropped the connection.
    pub reconnects: u64,
    /// Throttling answers obeyed.
    pub throttled: u64,
    /// Extra copies removed: APPENDs a dropped session committed after mailstage had
    /// looked for them and sent them again.
    pub late_copies_removed: u64,
    /// The journal file.
    pub journal: PathBuf,
    /// Only planned.
    pub dry_run: bool,
    /// Wall time.
    pub seconds: f64,
    /// Every staged message of the uploaded folders is on the server.
    pub complete: bool,
}

impl UploadReport {
    /// Messages on the server (this run or before).
    pub fn on_server(&self) -> u64 {
        self.uploaded + self.already_present + self.found_on_server
    }
}

/// Counters shared by the connections of one user.
#[derive(Debug, Default)]
struct Stats {
    uploaded: u64,
    uploaded_bytes: u64,
    already: u64,
    found: u64,
    failed: Vec<Failure>,
    /// Journal keys of `failed`, so a reconnect does not retry them in the same run.
    failed_keys: HashSet<u128>,
    flagged: u64,
    dropped: BTreeMap<String, u64>,
    reconnects: u64,
    throttled: u64,
    late_copies_removed: u64,
    /// Folders given up on after too many reconnects, with the last error.
    abandoned: Vec<(String, String)>,
}

/// The journal, and what this run recorded about messages, by folder.
///
/// The journal keeps no per-message states in memory ([`Journal::open_streaming`]):
/// the states from before this run are in the [`StagedSet`], and the changes this
/// run makes go to `changes` too (on disk, in the bucket of the folder they are
/// about), so that a folder visited again after a lost connection, and the end of a
/// folder (late copies), see the state the journal has now.
struct Book {
    journal: Journal,
    changes: Spill,
}

impl Book {
    /// Appends `rec`, about a message of `folder` if it is about a message.
    fn record(&mut self, folder: u32, rec: &Record) -> Result<(), UploadError> {
        self.journal.record(rec)?;
        if let Some((path, change)) = rec.change() {
            let mut e = Enc::default();
            survey::encode_change(&mut e, journal::key(path), change);
            self.changes.push(folder as usize, &e.buf)?;
        }
        Ok(())
    }
}

/// Everything the connections of one user share.
struct Ctx<'a> {
    /// The staged messages with their journal states from before this run.
    set: &'a StagedSet,
    /// The user's staging directory.
    root: &'a Path,
    opts: &'a UploadOptions,
    journal: Mutex<Book>,
    stats: Mutex<Stats>,
    progress: Progress,
    /// Per staged folder: its plan (index as in `set.folders`, then the empty ones).
    plans: Vec<FolderPlan>,
    /// Per staged folder: its staged messages (with those upload cannot send).
    messages: Vec<u64>,
    /// Folders where a message was sent again after a lookup did not find it.
    resent: Mutex<HashSet<u32>>,
    /// Folders already recorded with a `folder` record in this session.
    folder_recorded: Mutex<HashSet<u32>>,
}

fn excluded(folder: &str, excludes: &[String]) -> bool {
    excludes.iter().any(|x| {
        let x = x.trim_matches('/');
        folder.eq_ignore_ascii_case(x)
            || (folder.len() > x.len()
                && folder.as_bytes()[x.len()] == b'/'
                && folder[..x.len()].eq_ignore_ascii_case(x))
    })
}

/// The journal of `staging` for a server host and mailbox.
///
/// The port is deliberately not part of the key: the same server reached over 993
/// (TLS) and 143 (STARTTLS) is the same mailbox, and a second journal for it would
/// upload everything again.
pub fn journal_path(staging: &Path, host: &str, mailbox: &str) -> PathBuf {
    staging
        .join(UPLOAD_DIR)
        .join(journal::file_name(&host.to_ascii_lowercase(), mailbox))
}

/// Uploads one user's staging tree.
pub fn upload(staging: &Path, opts: &UploadOptions) -> Result<UploadReport, UploadError> {
    let started = Instant::now();
    let _lock = reader::lock(staging)?;
    let server = opts.server.address();
    let jpath = journal_path(staging, &opts.server.host, &opts.mailbox);
    // Read only: nothing is created before the server is known to be usable.
    let (set, mut journal) = StagedSet::open(staging, &jpath, false, |s| {
        matches!(s, Some(journal::State::Stored { .. }))
    })?;
    let mut report = UploadReport {
        staging: staging.to_path_buf(),
        server: server.clone(),
        mailbox: opts.mailbox.clone(),
        staged: set.staged,
        journal: jpath.clone(),
        dry_run: opts.dry_run,
        ..Default::default()
    };

    let mut conn = imap::connect(&opts.server)?;
    // Folders: staged ones plus empty source folders, minus excluded.
    let mut messages: Vec<u64> = set.counts.iter().map(|c| c.items).collect();
    for (f, _) in &set.invalid {
        messages[*f as usize] += 1;
    }
    let mut names = set.folders.clone();
    names.extend(reader::empty_folders(staging, &set.folders));
    messages.resize(names.len(), 0);

    let (mut plans, _) = survey::plan_folders(&mut conn, &names, opts)?;
    for (i, p) in plans.iter().enumerate() {
        if matches!(p, FolderPlan::Problem(e) if e == survey::EXCLUDED) {
            report.skipped += messages[i];
        }
    }
    let subscribed: HashSet<Vec<u8>> = conn
        .lsub_all()
        .unwrap_or_default()
        .into_iter()
        .map(|e| e.name)
        .collect();

    // Create (and subscribe) before any APPEND.
    let mut created = HashSet::new();
    let mut made: HashSet<Vec<u8>> = HashSet::new();
    if !opts.dry_run {
        journal.make_writable()?;
        journal.record(&Record::Session {
            time: chrono::Utc::now().to_rfc3339(),
            server: server.clone(),
            mailbox: opts.mailbox.clone(),
            version: env!("CARGO_PKG_VERSION").into(),
            command: "upload".into(),
        })?;
    }
    for (i, p) in plans.iter_mut().enumerate() {
        let FolderPlan::Go {
            wire,
            exists,
            parents,
            ..
        } = p
        else {
            continue;
        };
        if opts.dry_run {
            continue;
        }
        let mut problem = None;
        for w in parents.iter().chain(std::iter::once(&*wire)) {
            if made.contains(w) || (w == wire && *exists) {
                continue;
            }
            // Claimed before the CREATE goes out: the folder was not in LIST, so if it
            // exists after a crash in between, mailstage made it (rollback deletes it
            // only when empty anyway).
            journal.record(&Record::Created {
                server_folder: plan::display_name(w),
            })?;
            journal.sync()?;
            let c = conn.create(w)?;
            if c.status != imap::Status::Ok {
                journal.record(&Record::FolderRemoved {
                    server_folder: plan::display_name(w),
                })?;
            }
            if c.status != imap::Status::Ok
                && c.code
                    .as_ref()
                    .is_none_or(|code| code.name != "ALREADYEXISTS")
            {
                problem = Some(format!(
                    "the server refused to create {:?}: {}",
                    plan::display_name(w),
                    c.describe()
                ));
                break;
            }
            made.insert(w.clone());
            if w == wire {
                created.insert(i as u32);
            }
            if !subscribed.contains(w) {
                let _ = conn.subscribe(w)?;
            }
        }
        if let Some(pr) = problem {
            *p = FolderPlan::Problem(pr);
            continue;
        }
        if *exists && !subscribed.contains(&*wire) {
            let _ = conn.subscribe(wire)?;
        }
    }
    if !opts.dry_run && !subscribed.contains(&b"INBOX"[..]) {
        let _ = conn.subscribe(b"INBOX")?;
    }

    for (i, name) in names.iter().enumerate() {
        let (server_folder, problem, note) = match &plans[i] {
            FolderPlan::Go { display, note, .. } => (Some(display.clone()), None, note.clone()),
            FolderPlan::Problem(e) => (None, Some(e.clone()), None),
        };
        report.folders.push(FolderReport {
            folder: name.clone(),
            server_folder,
            messages: messages[i],
            created: created.contains(&(i as u32)),
            problem,
            note,
        });
    }

    if opts.dry_run {
        // What would be sent: everything the journal does not have as stored.
        for (i, n) in messages.iter().enumerate() {
            if !matches!(plans[i], FolderPlan::Go { .. }) {
                continue;
            }
            let stored = set.counts.get(i).map_or(0, |c| c.kept);
            report.already_present += stored;
            report.uploaded += n - stored;
        }
        conn.logout();
        report.seconds = started.elapsed().as_secs_f64();
        return Ok(report);
    }

    let total_bytes = set.staged_bytes;
    let progress = Progress::new(
        &format!("upload {}", opts.mailbox),
        set.staged,
        total_bytes,
        opts.progress,
    );
    let ctx = Ctx {
        set: &set,
        root: staging,
        opts,
        journal: Mutex::new(Book {
            journal,
            changes: Spill::new(names.len()),
        }),
        stats: Mutex::new(Stats::default()),
        progress,
        plans,
        messages,
        folder_recorded: Mutex::new(HashSet::new()),
        resent: Mutex::new(HashSet::new()),
    };

    // Folders, biggest first, shared by the connections.
    let mut order: Vec<u32> = (0..names.len() as u32)
        .filter(|&i| matches!(ctx.plans[i as usize], FolderPlan::Go { .. }))
        .collect();
    order.sort_by_key(|&i| std::cmp::Reverse(ctx.messages[i as usize]));
    let queue = Mutex::new(
        order
            .into_iter()
            .collect::<std::collections::VecDeque<u32>>(),
    );
    let workers = opts.connections.max(1);
    let first = Mutex::new(Some(conn));
    let fatal: Mutex<Option<UploadError>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                let mut conn = first.lock().map(|mut f| f.take()).unwrap_or(None);
                // the guard must not live across run_folder, hence the closure
                let next = || queue.lock().ok().and_then(|mut q| q.pop_front());
                while let Some(f) = next() {
                    if let Err(e) = run_folder(&ctx, &mut conn, f) {
                        if let Ok(mut slot) = fatal.lock() {
                            slot.get_or_insert(e);
                        }
                        break;
                    }
                }
                if let Some(c) = conn {
                    c.logout();
                }
            });
        }
    });
    ctx.progress.finish();
    if let Some(e) = fatal.into_inner().ok().flatten() {
        return Err(e);
    }
    let mut book = ctx.journal.into_inner().unwrap_or_else(|p| p.into_inner());
    book.journal.sync()?;
    let stats = ctx.stats.into_inner().unwrap_or_else(|p| p.into_inner());
    report.uploaded = stats.uploaded;
    report.uploaded_bytes = stats.uploaded_bytes;
    report.already_present = stats.already;
    report.found_on_server = stats.found;
    report.failed = stats.failed;
    report.flagged = stats.flagged;
    report.dropped_keywords = stats.dropped;
    report.reconnects = stats.reconnects;
    report.throttled = stats.throttled;
    report.late_copies_removed = stats.late_copies_removed;
    for (folder, err) in stats.abandoned {
        if let Some(f) = report.folders.iter_mut().find(|f| f.folder == folder) {
            f.problem = Some(format!("gave up after repeated connection failures: {err}"));
        }
    }
    let in_scope: u64 = report
        .folders
        .iter()
        .filter(|f| f.problem.as_deref() != Some(survey::EXCLUDED))
        .map(|f| f.messages)
        .sum();
    report.complete = report.failed.is_empty()
        && report
            .folders
            .iter()
            .all(|f| f.problem.is_none() || f.problem.as_deref() == Some(survey::EXCLUDED))
        && report.on_server() == in_scope;
    report.seconds = started.elapsed().as_secs_f64();
    write_last_report(&jpath, &report);
    Ok(report)
}

/// Keeps the last report beside the journal (`<journal>.last.json`) for `report` and
/// for admins' scripts. Best effort: the journal is the authority.
fn write_last_report(jpath: &Path, report: &UploadReport) {
    let p = jpath.with_extension("last.json");
    if let Ok(json) = serde_json::to_vec_pretty(report) {
        let _ = crate::stage::writer::write_small_file(&p, &json);
    }
}

/// Uploads one folder on `conn` (connecting if needed), reconnecting when the
/// connection is lost, until the folder is done or the reconnect budget is spent.
/// Only errors that make the whole user pointless (login refused) are returned.
fn run_folder(
    ctx: &Ctx<'_>,
    conn: &mut Option<imap::Connection>,
    folder: u32,
) -> Result<(), UploadError> {
    let mut attempts = 0u32;
    loop {
        if conn.is_none() {
            match imap::connect(&ctx.opts.server) {
                Ok(c) => *conn = Some(c),
                Err(e @ (ImapError::Auth(_) | ImapError::Tls(_))) => return Err(e.into()),
                Err(e) => {
                    attempts += 1;
                    if attempts > ctx.opts.max_reconnects {
                        give_up(ctx, folder, &e);
                        return Ok(());
                    }
                    std::thread::sleep(backoff(attempts));
                    continue;
                }
            }
        }
        let Some(c) = conn.as_mut() else { continue };
        let mut progressed = false;
        match send::upload_folder(ctx, c, folder, &mut progressed) {
            Ok(()) => return Ok(()),
            Err(e @ (UploadError::Journal(_) | UploadError::Stage(_) | UploadError::Spill(_))) => {
                return Err(e);
            }
            Err(UploadError::Imap(error)) => {
                *conn = None;
                if progressed {
                    attempts = 0;
                }
                attempts += 1;
                if let Ok(mut s) = ctx.stats.lock() {
                    s.reconnects += 1;
                }
                if attempts > ctx.opts.max_reconnects || !error.is_connection_lost() {
                    give_up(ctx, folder, &error);
                    return Ok(());
                }
                eprintln!(
                    "mailstage: {}: connection lost ({error}); reconnecting and resuming from \
                     the journal",
                    ctx.opts.mailbox
                );
                std::thread::sleep(backoff(attempts.saturating_sub(1)));
            }
        }
    }
}

fn backoff(attempt: u32) -> Duration {
    if attempt == 0 {
        return Duration::ZERO;
    }
    Duration::from_millis((250u64 << attempt.min(7)).min(30_000))
}

fn give_up(ctx: &Ctx<'_>, folder: u32, e: &ImapError) {
    if let Ok(mut s) = ctx.stats.lock() {
        s.abandoned
            .push((ctx.index_folder_name(folder), e.to_string()));
    }
}

impl Ctx<'_> {
    /// Reads the staged message file at `rel` (a manifest `path`).
    fn message(&self, rel: &str) -> Result<Vec<u8>, ReadError> {
        let path = self.root.join(rel);
        std::fs::read(&path).map_err(|source| ReadError::Io { path, source })
    }

    /// A staged message opened for streaming, with its size now (fstat of the open
    /// file, so the size checked is the size of what will be read).
    fn open_message(&self, rel: &str) -> Result<(std::fs::File, u64), ReadError> {
        let path = self.root.join(rel);
        let file = std::fs::File::open(&path).map_err(|source| ReadError::Io {
            path: path.clone(),
            source,
        })?;
        let len = file
            .metadata()
            .map_err(|source| ReadError::Io { path, source })?
            .len();
        Ok((file, len))
    }

    fn index_folder_name(&self, folder: u32) -> String {
        self.set
            .folders
            .get(folder as usize)
            .cloned()
            .unwrap_or_default()
    }
}

/// The flags to APPEND for a manifest flag list, and the keywords dropped by rule.
pub fn append_flags(flags: &[String], opts: &UploadOptions) -> (Vec<String>, Vec<String>, bool) {
    let mut out = Vec::new();
    let mut dropped = Vec::new();
    let mut flagged = false;
    for f in flags {
        if f.eq_ignore_ascii_case("\\Flagged") {
            flagged = true;
            continue;
        }
        if f.eq_ignore_ascii_case("\\Recent") {
            continue;
        }
        if f.eq_ignore_ascii_case("\\Deleted") && !opts.keep_deleted {
            dropped.push(f.clone());
            continue;
        }
        if !f.starts_with('\\') {
            let rule_drop = (DEFAULT_DROPPED_KEYWORDS
                .iter()
                .any(|k| k.eq_ignore_ascii_case(f))
                && !opts.keep_keywords.iter().any(|k| k.eq_ignore_ascii_case(f)))
                || opts.drop_keywords.iter().any(|k| k.eq_ignore_ascii_case(f));
            if rule_drop || !valid_keyword(f) {
                dropped.push(f.clone());
                continue;
            }
        }
        out.push(f.clone());
    }
    if opts.mark_seen && !out.iter().any(|f| f.eq_ignore_ascii_case("\\Seen")) {
        out.push("\\Seen".into());
    }
    (out, dropped, flagged)
}

/// An IMAP keyword must be an atom (RFC 3501 §9: no `(){ %*"\]` or controls).
fn valid_keyword(k: &str) -> bool {
    !k.is_empty()
        && k.bytes()
            .all(|c| c > 0x20 && c < 0x7f && !b"(){ %*\"\\]".contains(&c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> UploadOptions {
        UploadOptions {
            server: ServerConfig {
                host: "h".into(),
                port: 1,
                security: imap::Security::Tls,
                ca_file: None,
                danger_accept_invalid_certs: false,
                timeout: Duration::from_secs(1),
                credentials: imap::Credentials::Password {
                    login: "a".into(),
                    password: imap::Secret::default(),
                    authzid: None,
                },
            },
            mailbox: "a".into(),
            mark_seen: false,
            keep_deleted: false,
            keep_keywords: vec![],
            drop_keywords: vec![],
            exclude_folders: vec![],
            max_size: None,
            connections: 1,
            max_in_flight: 8,
            dry_run: false,
            merge_case_folders: false,
            progress: false,
            max_reconnects: 3,
        }
    }

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn flag_rules() {
        let o = opts();
        let (f, d, flagged) = append_flags(
            &s(&[
                "\\Seen",
                "\\Flagged",
                "\\Deleted",
                "$MDNSent",
                "NonJunk",
                "$label1",
                "bad kw",
            ]),
            &o,
        );
        assert_eq!(f, s(&["\\Seen", "$label1"]));
        assert_eq!(d, s(&["\\Deleted", "$MDNSent", "NonJunk", "bad kw"]));
        assert!(flagged);
        let mut o = opts();
        o.keep_deleted = true;
        o.keep_keywords = s(&["nonjunk"]);
        o.drop_keywords = s(&["$label1"]);
        o.mark_seen = true;
        let (f, _, _) = append_flags(&s(&["\\Deleted", "NonJunk", "$label1"]), &o);
        assert_eq!(f, s(&["\\Deleted", "NonJunk", "\\Seen"]));
    }

    #[test]
    fn exclusion_covers_subfolders_only() {
        let x = s(&["Archive"]);
        assert!(excluded("Archive", &x));
        assert!(excluded("archive/2009", &x));
        assert!(!excluded("Archives", &x));
    }
}
