//! `mailstage convert`: scan → map → repair → stage, for one user or a batch.
//!
//! Many workers, one writer (STYLE.md §6): messages are processed in chunks; within
//! a chunk rayon workers read and repair in parallel (phase 1), a single thread then
//! decides duplicates and builds manifest lines in source order (phase 2), and the
//! decided files are written in parallel (phase 3) before their manifest lines are
//! appended. Chunks bound memory (count and bytes) and keep the output deterministic.
//!
//! Memory does not grow with the mailbox: the source is scanned one folder at a time
//! ([`maildir::Scanner`]), and what is per message is bounded by a piece of
//! [`PIECE`] messages: a larger folder's listing is sorted and kept on temp files
//! ([`maildir::Listing`]) and read back a chunk at a time, its duplicate map keeps
//! sorted runs on a temp file with a Bloom filter each (`seen.rs`), and the sweep's
//! [`KeepSet`] goes to a temp file and is checked in buckets. What stays for the
//! whole run is per folder (plans, the `folders.json` rows).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

use chrono::{DateTime, SecondsFormat, Utc};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::folders::{self, Decision, MappingRules, Target};
use crate::maildir::{self, FolderMessages, LayoutChoice, Listing, Message};
use crate::progress::Progress;
use crate::repair::{self, Outcome, QuarantineReason, Repair};
use crate::spill::SpillError;
use crate::stage::paths::{self, MAIL_DIR, QUARANTINE_DIR};
use crate::stage::quarantine::{self as release, ReleaseError, Releases};
use crate::stage::writer::{self, KeepSet, StageError, UserStage};
use crate::stage::{Entry, Status};

/// Messages per chunk, and source bytes per chunk: enough to keep every core busy,
/// small enough that memory does not depend on the size of the mailbox. A chunk's
/// staged bytes are all held until its phase 3, so the byte bound is most of the
/// peak memory, and a chunk never goes over it unless one message alone does
/// ([`Listing::chunks`]). 8 MiB is about 200 typical messages (42 KB on average in
/// gen-maildir trees), plenty for a handful of workers. Measured on gen-maildir
/// trees (docs/BENCHMARKS.md, "convert: the chunk bound"): 16 MiB, with chunks
/// that could end on a large message, peaked at 48 MiB for 10k messages and 60 MiB
/// for 100k; 8 MiB, strict, at 39 and 47 with no slower re-run; 4 MiB saved 6 MiB
/// more but made the re-run about 15 % slower.
const CHUNK_MESSAGES: usize = 512;
const CHUNK_BYTES: u64 = 8 * 1024 * 1024;

mod seen;
use seen::Seen;

/// Messages per piece: a folder listing of more goes to temp files, the duplicate
/// map holds at most this many entries in memory, and the sweep checks its kept
/// files in buckets of about this many. 4,096 entries of the map are ~170 KB; the
/// listing of as many messages ~300 KB, about what the largest folder of a 10k
/// mailbox took before.
pub const PIECE: usize = 4096;

/// [`PIECE`], or the environment's `MAILSTAGE_CONVERT_PIECE` (at least 1): the
/// integration tests make every folder take the temp-file path with a tiny piece,
/// against the same expected outcomes. Read once.
fn piece() -> usize {
    static PIECE_ENV: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *PIECE_ENV.get_or_init(|| {
        std::env::var("MAILSTAGE_CONVERT_PIECE")
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
            .map_or(PIECE, |n| n.max(1))
    })
}

/// Options shared by every user of a run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Which Exchange generation's folder names to use.
    pub target: Target,
    /// Messages larger than this (staged size) are quarantined; `None`: no limit.
    pub max_size: Option<u64>,
    /// Source Maildir layout.
    pub layout: LayoutChoice,
    /// Rename read-receipt requests in every message header (a named repair).
    pub disarm_read_receipts: bool,
    /// Show a progress bar (only ever on a terminal).
    pub progress: bool,
}

/// One user to convert.
#[derive(Debug, Clone)]
pub struct UserJob {
    /// The user's name: the directory under the staging root.
    pub name: String,
    /// The user's Maildir root.
    pub maildir: PathBuf,
    /// Folder rules (`--map`, `--exclude`).
    pub rules: MappingRules,
    /// Per-user size limit overriding [`Options::max_size`].
    pub max_size: Option<Option<u64>>,
}

/// Errors that stop one user's conversion (never the whole batch).
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    /// The source could not be scanned.
    #[error(transparent)]
    Scan(#[from] maildir::ScanError),
    /// The folder mapping is inconsistent (e.g. a collision).
    #[error(transparent)]
    Map(#[from] folders::MapError),
    /// Writing the staging tree failed.
    #[error(transparent)]
    Stage(#[from] StageError),
    /// The admin's release log could not be read.
    #[error(transparent)]
    Release(#[from] ReleaseError),
    /// A temp file of a large folder's listing or duplicate map failed.
    #[error(transparent)]
    Spill(#[from] SpillError),
    /// Source and staging directories overlap, or the source is not a Maildir root.
    #[error("{0}")]
    Refused(String),
}

/// Message counts by status.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Counts {
    /// Source message files seen.
    pub messages: u64,
    /// Staged.
    pub staged: u64,
    /// Quarantined.
    pub quarantined: u64,
    /// Duplicates.
    pub duplicate: u64,
    /// Excluded.
    pub excluded: u64,
}

impl Counts {
    fn add(&mut self, status: Status) {
        self.messages += 1;
        match status {
            Status::Staged => self.staged += 1,
            Status::Quarantined => self.quarantined += 1,
            Status::Duplicate => self.duplicate += 1,
            Status::Excluded => self.excluded += 1,
        }
    }

    fn merge(&mut self, o: &Counts) {
        self.messages += o.messages;
        self.staged += o.staged;
        self.quarantined += o.quarantined;
        self.duplicate += o.duplicate;
        self.excluded += o.excluded;
    }

    /// True when every message is accounted for exactly once.
    pub fn adds_up(&self) -> bool {
        self.staged + self.quarantined + self.duplicate + self.excluded == self.messages
    }
}

/// What happened to one user: deterministic, written as `summary.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct UserSummary {
    /// The user's name.
    pub user: String,
    /// The source Maildir as given.
    pub maildir: String,
    /// Counts by status.
    pub counts: Counts,
    /// Non-message files seen in the source (not in the manifest).
    pub ignored_files: u64,
    /// Repairs applied, by name.
    pub repairs: BTreeMap<String, u64>,
    /// Quarantine reasons, by kind.
    pub quarantine_reasons: BTreeMap<String, u64>,
    /// Source folders seen.
    pub folders: u64,
    /// Bytes of all source message files.
    pub source_bytes: u64,
    /// Bytes of all staged files.
    pub staged_bytes: u64,
    /// Staged messages that an admin released from quarantine (counted as staged).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub released: u64,
    /// `convert --disarm-read-receipts` was on (a release repairs the same way).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disarm_read_receipts: bool,
    /// Things an admin should know that did not stop the run.
    pub warnings: Vec<String>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// What this particular run did (not part of the deterministic tree).
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunStats {
    /// Files written this run (a re-run writes only what is new).
    pub files_written: u64,
    /// Stale files removed (their source message is gone or changed status).
    pub stale_files_removed: u64,
    /// Wall time in seconds.
    pub seconds: f64,
}

/// The report for one user.
#[derive(Debug, Clone, Serialize)]
pub struct UserReport {
    /// Deterministic summary (also in `STAGING/<user>/summary.json`).
    #[serde(flatten)]
    pub summary: UserSummary,
    /// This run's statistics.
    pub run: RunStats,
    /// The error that stopped this user, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The report for a whole run.
#[derive(Debug, Clone, Serialize)]
pub struct BatchReport {
    /// One report per user, in input order.
    pub users: Vec<UserReport>,
    /// Sums over all users.
    pub total: Counts,
    /// Ignored non-message files over all users.
    pub ignored_files: u64,
    /// Documented exit code: 0 all staged, 1 finished with quarantined messages,
    /// 2 a user could not be converted.
    pub exit_code: i32,
}

/// Everything `convert` needs.
#[derive(Debug, Clone)]
pub struct Request {
    /// The staging root; each user gets `out/<name>`.
    pub out: PathBuf,
    /// The users, in order.
    pub users: Vec<UserJob>,
    /// Shared options.
    pub options: Options,
}

/// Run a conversion. Per-user failures are reported in the result, never returned
/// as an error, so one broken Maildir does not stop a batch.
pub fn run(req: &Request) -> BatchReport {
    // Totals are only known once each user is scanned; each scan extends the bar.
    let progress = Progress::new("convert", 0, 0, req.options.progress);
    let reports: Vec<UserReport> = req
        .users
        .par_iter()
        .map(|job| {
            let started = Instant::now();
            match convert_user(job, &req.out, &req.options, &progress) {
                Ok(mut r) => {
                    r.run.seconds = started.elapsed().as_secs_f64();
                    r
                }
                Err(e) => UserReport {
                    summary: UserSummary {
                        user: job.name.clone(),
                        maildir: job.maildir.display().to_string(),
                        ..UserSummary::default()
                    },
                    run: RunStats {
                        seconds: started.elapsed().as_secs_f64(),
                        ..RunStats::default()
                    },
                    error: Some(e.to_string()),
                },
            }
        })
        .collect();
    progress.finish();
    let mut total = Counts::default();
    let mut ignored = 0;
    for r in &reports {
        total.merge(&r.summary.counts);
        ignored += r.summary.ignored_files;
    }
    let exit_code = if reports.iter().any(|r| r.error.is_some()) {
        2
    } else if total.quarantined > 0 {
        1
    } else {
        0
    };
    BatchReport {
        users: reports,
        total,
        ignored_files: ignored,
        exit_code,
    }
}

/// Where a source folder's messages go.
struct FolderPlan {
    /// `/`-joined target name (or the decoded source name for excluded folders).
    display: String,
    /// Relative dir under `mail/` and `quarantine/`; `None` when excluded.
    dir: Option<String>,
    /// Why it is excluded.
    excluded: Option<String>,
}

/// What phase 1 produced for one message.
struct Processed {
    sha256: Option<[u8; 32]>,
    source_size: u64,
    kind: Kind,
}

enum Kind {
    Staged {
        bytes: Vec<u8>,
        repairs: Vec<Repair>,
        message_id: String,
    },
    Quarantined {
        /// The original bytes, unless too big to hold (then copied by path).
        original: Original,
        reason: QuarantineReason,
    },
    Excluded,
    /// Quarantined, but the admin released it (`quarantine release`).
    /// (Boxed: rare, and much larger than the other variants.)
    Released(Box<ReleasedKind>),
}

/// A quarantined message that the admin released.
struct ReleasedKind {
    /// The original source bytes, kept under `quarantine/`.
    original: Vec<u8>,
    /// Why it is quarantined without the release.
    reason: QuarantineReason,
    /// What is staged.
    staged: release::Restaged,
    /// The release.
    record: release::Record,
}

/// One user's settings for the repair of each message.
#[derive(Debug, Clone, Copy)]
struct Settings {
    max_size: Option<u64>,
    disarm_read_receipts: bool,
}

impl Settings {
    fn context(self, internal_date: DateTime<Utc>, source_sha256: [u8; 32]) -> repair::Context {
        repair::Context {
            internal_date,
            max_size: self.max_size,
            source_sha256,
            disarm_read_receipts: self.disarm_read_receipts,
        }
    }
}

/// The releases of the folder being converted, and where their fixed copies are.
struct FolderReleases<'a> {
    user_dir: &'a Path,
    by_sha: Option<&'a HashMap<String, release::Record>>,
}

impl FolderReleases<'_> {
    fn get(&self, sha: &[u8; 32]) -> Option<&release::Record> {
        self.by_sha?.get(&hex::encode(sha))
    }
}

enum Original {
    Bytes(Vec<u8>),
    Stream,
    Missing,
}

/// One file to write in phase 3.
enum Write {
    Bytes(String, Vec<u8>),
    Copy(String, PathBuf),
}

fn convert_user(
    job: &UserJob,
    out: &Path,
    opts: &Options,
    progress: &Progress,
) -> Result<UserReport, UserError> {
    let mut scanner = maildir::Scanner::open(&job.maildir, opts.layout)?;
    // A root without cur/ and new/ is most often the parent of the Maildir (a home
    // directory): converting it would treat unrelated directories as folders.
    if !scanner.has_inbox() {
        return Err(UserError::Refused(format!(
            "{} has no cur/ or new/ directory, so it is not a Maildir root \
             (pass the directory that holds cur/, new/ and tmp/)",
            job.maildir.display()
        )));
    }
    let names: Vec<Vec<String>> = scanner.folders().iter().map(|f| f.name.clone()).collect();
    let plan = folders::plan(&names, &job.rules, opts.target)?;
    drop(names);
    let user_dir = out.join(&job.name);
    check_no_overlap(scanner.root(), &user_dir)?;
    let settings = Settings {
        max_size: job.max_size.unwrap_or(opts.max_size),
        disarm_read_receipts: opts.disarm_read_receipts,
    };

    let mut summary = UserSummary {
        user: job.name.clone(),
        maildir: job.maildir.display().to_string(),
        folders: scanner.folders().len() as u64,
        disarm_read_receipts: opts.disarm_read_receipts,
        ..UserSummary::default()
    };
    // Scan warnings come first in the summary; they are complete only once every
    // folder is listed.
    let mut folder_notes = Vec::new();

    let mut stage = UserStage::open(&user_dir)?;
    let releases = Releases::load(&user_dir)?;
    let mut keep_dirs: HashSet<String> = HashSet::new();
    let mut folder_plans = Vec::with_capacity(plan.entries.len());
    for entry in &plan.entries {
        for n in &entry.notes {
            folder_notes.push(format!("folder {}: {n}", folders::join(&entry.source)));
        }
        let fp = match &entry.decision {
            Decision::Map { target, .. } => {
                let dir = paths::folder_dir(target);
                let dir_s = path_key(&dir);
                let mail_dir = Path::new(MAIL_DIR).join(&dir);
                stage.create_dir(&mail_dir)?;
                let mut p = PathBuf::from(MAIL_DIR);
                keep_dirs.insert(path_key(&p));
                for c in dir.components() {
                    p.push(c);
                    keep_dirs.insert(path_key(&p));
                }
                FolderPlan {
                    display: folders::join(target),
                    dir: Some(dir_s),
                    excluded: None,
                }
            }
            Decision::Exclude { reason } => FolderPlan {
                display: folders::join(&entry.source),
                dir: None,
                excluded: Some(reason.clone()),
            },
        };
        folder_plans.push(fp);
    }

    let piece = piece();
    let mut keep_files = KeepSet::new(piece);
    let mut stats = RunStats::default();
    let mut folder_report = Vec::with_capacity(plan.entries.len());
    for (fi, (entry, fp)) in plan.entries.iter().zip(&folder_plans).enumerate() {
        // Only this folder's message list is alive; it is dropped before the next.
        let msgs = scanner.list_bounded(fi, piece)?;
        let src = &scanner.folders()[fi];
        folder_report.push(serde_json::json!({
            "source": folders::join(&src.name),
            "source_raw": String::from_utf8_lossy(&src.raw_name),
            "name_ok": src.name_ok,
            "mailbox": src.dir.is_some(),
            "target": fp.dir.as_ref().map(|_| fp.display.clone()),
            "excluded": fp.excluded,
            "notes": entry.notes,
            "messages": msgs.len(),
        }));
        progress.extend(msgs.len() as u64, msgs.total_bytes());
        let folder_releases = FolderReleases {
            user_dir: &user_dir,
            by_sha: fp.dir.as_ref().and_then(|_| releases.folder(&fp.display)),
        };
        convert_folder(
            &msgs,
            fp,
            &folder_releases,
            settings,
            &mut stage,
            progress,
            &mut summary,
            &mut keep_files,
            &mut stats,
            piece,
        )?;
    }

    let totals = scanner.finish();
    summary.ignored_files = totals.ignored_files;
    summary.warnings = totals.warnings.iter().map(|w| w.to_string()).collect();
    summary.warnings.extend(folder_notes);
    let root = stage.root().to_path_buf();
    let sweep = stage.finish(keep_files, &keep_dirs)?;
    stats.stale_files_removed = sweep.files;
    let folders_json = serde_json::to_vec_pretty(&folder_report).unwrap_or_default();
    writer::write_small_file(&root.join("folders.json"), &folders_json)?;
    let summary_json = serde_json::to_vec_pretty(&summary).unwrap_or_default();
    writer::write_small_file(&root.join("summary.json"), &summary_json)?;
    Ok(UserReport {
        summary,
        run: stats,
        error: None,
    })
}
/// Steps 3–4 for one folder's messages, in chunks (see the module docs).
#[allow(clippy::too_many_arguments)]
fn convert_folder(
    msgs: &Listing,
    fp: &FolderPlan,
    releases: &FolderReleases<'_>,
    settings: Settings,
    stage: &mut UserStage,
    progress: &Progress,
    summary: &mut UserSummary,
    keep_files: &mut KeepSet,
    stats: &mut RunStats,
    piece: usize,
) -> Result<(), UserError> {
    // SHA-256 of staged/quarantined sources -> index of the first copy. Duplicates
    // are detected within a folder only, so the map lives as long as the folder.
    let mut seen = Seen::new(piece);
    let mut chunks = msgs.chunks();
    // A tiny piece (tests) also makes tiny chunks, so that first copies of
    // duplicates are in earlier chunks and read back by index.
    let max = CHUNK_MESSAGES.min(piece.max(1));
    while let Some((start, chunk)) = chunks.next_chunk(max, CHUNK_BYTES)? {
        // Phase 1: read, hash, repair — in parallel.
        let processed: Vec<Processed> = (0..chunk.len())
            .into_par_iter()
            .map(|i| {
                let p = process(&chunk.get(i), fp.excluded.is_some(), settings, releases);
                progress.inc(1);
                p
            })
            .collect();

        // Phase 2: decide, in order, on one thread.
        let mut writes: Vec<Write> = Vec::new();
        let mut entries: Vec<Entry> = Vec::with_capacity(chunk.len());
        for (i, p) in processed.into_iter().enumerate() {
            let at = Position {
                chunk: &chunk,
                i,
                idx: start + i,
                folder: msgs,
            };
            let entry = decide(&at, p, fp, &mut seen, &mut writes, keep_files)?;
            summary.counts.add(entry.status);
            summary.source_bytes += entry.source_size;
            match entry.status {
                Status::Staged => {
                    summary.staged_bytes += entry.size;
                    if entry.released.is_some() {
                        summary.released += 1;
                    }
                    for r in &entry.repairs {
                        *summary.repairs.entry(r.clone()).or_default() += 1;
                    }
                }
                Status::Quarantined => {
                    let kind = entry.reason_kind.clone().unwrap_or_default();
                    *summary.quarantine_reasons.entry(kind).or_default() += 1;
                }
                _ => {}
            }
            entries.push(entry);
        }

        // Phase 3: write files in parallel, then their manifest lines in order.
        let shared: &UserStage = stage;
        let written: Vec<bool> = writes
            .par_iter()
            .map(|w| match w {
                Write::Bytes(rel, b) => shared.write_file(rel, b),
                Write::Copy(rel, src) => shared.copy_file(rel, src),
            })
            .collect::<Result<_, _>>()?;
        stats.files_written += written.iter().filter(|w| **w).count() as u64;
        for e in &entries {
            stage.append(e)?;
        }
    }
    Ok(())
}

/// Phase 1 for one message: no shared state, safe to run in parallel.
fn process(
    m: &Message<'_>,
    excluded: bool,
    settings: Settings,
    releases: &FolderReleases<'_>,
) -> Processed {
    // The absolute path is not stored per message; it is built here, for the read.
    let path = m.path();
    // A file much larger than the limit is hashed and copied as a stream, never
    // held in memory (CRLF normalisation only ever grows a message).
    if let Some(limit) = settings.max_size
        && m.size() > limit
        && !excluded
    {
        return match hash_file(&path) {
            // A released message is read whole: the admin chose to stage it.
            Ok((sha, size)) if let Some(record) = releases.get(&sha) => match fs::read(&path) {
                Ok(bytes) => {
                    // The reason stays the one this path gives without the release.
                    let reason = QuarantineReason::TooLarge { size, limit };
                    let ctx = settings.context(to_utc(m.mtime()), sha);
                    Processed {
                        sha256: Some(sha),
                        source_size: size,
                        kind: released(bytes, reason, record, &ctx, releases.user_dir),
                    }
                }
                Err(e) => unreadable(m, e),
            },
            Ok((sha, size)) => Processed {
                sha256: Some(sha),
                source_size: size,
                kind: Kind::Quarantined {
                    original: Original::Stream,
                    reason: QuarantineReason::TooLarge { size, limit },
                },
            },
            Err(e) => unreadable(m, e),
        };
    }
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) => return unreadable(m, e),
    };
    if excluded {
        return Processed {
            sha256: Some(Sha256::digest(&bytes).into()),
            source_size: bytes.len() as u64,
            kind: Kind::Excluded,
        };
    }
    process_bytes(m, bytes, settings, releases)
}

/// [`process`] for a message that is not excluded, once its bytes are read.
fn process_bytes(
    m: &Message<'_>,
    bytes: Vec<u8>,
    settings: Settings,
    releases: &FolderReleases<'_>,
) -> Processed {
    let sha: [u8; 32] = Sha256::digest(&bytes).into();
    let source_size = bytes.len() as u64;
    let ctx = settings.context(to_utc(m.mtime()), sha);
    let kind = match repair::repair(&bytes, &ctx) {
        Outcome::Staged(s) => {
            let staged = s.bytes.unwrap_or(bytes);
            // No hash of the staged bytes here: it was a fifth of a clean convert's
            // time (docs/BENCHMARKS.md), and upload records the SHA-256 of what it
            // sends in its journal, from the bytes in hand.
            Kind::Staged {
                bytes: staged,
                repairs: s.repairs,
                message_id: s.message_id,
            }
        }
        Outcome::Quarantined(reason) => match releases.get(&sha) {
            Some(record) => released(bytes, reason, record, &ctx, releases.user_dir),
            None => Kind::Quarantined {
                original: Original::Bytes(bytes),
                reason,
            },
        },
    };
    Processed {
        sha256: Some(sha),
        source_size,
        kind,
    }
}

/// A quarantined message that the admin released: staged as the release says. If
/// the release no longer stages (its fixed copy is gone, or the engine refuses it),
/// the message stays quarantined, with the release's trouble in the reason.
fn released(
    original: Vec<u8>,
    reason: QuarantineReason,
    record: &release::Record,
    ctx: &repair::Context,
    user_dir: &Path,
) -> Kind {
    let r = &record.released;
    let fixed;
    let input: &[u8] = match r.file.as_deref() {
        Some(rel) => match fs::read(user_dir.join(rel)) {
            Ok(b) => {
                fixed = b;
                &fixed
            }
            Err(e) => {
                return Kind::Quarantined {
                    original: Original::Bytes(original),
                    reason: QuarantineReason::Unrepairable {
                        detail: format!(
                            "{reason}; its release's fixed copy {rel} cannot be read: {e}"
                        ),
                    },
                };
            }
        },
        None => &original,
    };
    match release::restage(input, r.as_is, ctx) {
        Ok(staged) => Kind::Released(Box::new(ReleasedKind {
            original,
            reason,
            staged,
            record: record.clone(),
        })),
        Err(still) => Kind::Quarantined {
            original: Original::Bytes(original),
            reason: QuarantineReason::Unrepairable {
                detail: format!("{reason}; its release no longer stages: {still}"),
            },
        },
    }
}

fn unreadable(m: &Message<'_>, e: io::Error) -> Processed {
    Processed {
        sha256: None,
        source_size: m.size(),
        kind: Kind::Quarantined {
            original: Original::Missing,
            reason: QuarantineReason::Unreadable {
                error: e.to_string(),
            },
        },
    }
}

/// A message in phase 2: its chunk and number there, and its index in the folder.
struct Position<'a> {
    chunk: &'a FolderMessages,
    i: usize,
    idx: usize,
    folder: &'a Listing,
}

/// Phase 2 for one message: duplicate detection and the manifest entry.
fn decide(
    at: &Position<'_>,
    p: Processed,
    fp: &FolderPlan,
    seen: &mut Seen,
    writes: &mut Vec<Write>,
    keep_files: &mut KeepSet,
) -> Result<Entry, UserError> {
    let m = at.chunk.get(at.i);
    let rel_path = m.rel_path();
    let (source, source_raw) = match std::str::from_utf8(&rel_path) {
        Ok(s) => (s.to_string(), None),
        Err(_) => (
            String::from_utf8_lossy(&rel_path).into_owned(),
            Some(hex::encode(&rel_path)),
        ),
    };
    let internal = to_utc(m.mtime());
    let mut e = Entry {
        source,
        source_raw,
        sha256: p.sha256.map(hex::encode).unwrap_or_default(),
        status: Status::Excluded,
        folder: Some(fp.display.clone()),
        path: None,
        flags: m.flags(),
        internal_date: internal.to_rfc3339_opts(SecondsFormat::Secs, false),
        message_id: None,
        repairs: Vec::new(),
        reason: None,
        reason_kind: None,
        size: p.source_size,
        source_size: p.source_size,
        staged_sha256: None,
        released: None,
    };
    if let Kind::Excluded = p.kind {
        e.reason = fp.excluded.clone();
        return Ok(e);
    }
    let dir = fp.dir.clone().unwrap_or_default();
    if let Some(sha) = p.sha256
        && let Some(first) = seen.first(&sha, at.idx)?
    {
        e.status = Status::Duplicate;
        // The first copy is usually in an earlier chunk: by index from the listing.
        let first_rel = match first.checked_sub(at.idx - at.i) {
            Some(i) if i < at.chunk.len() => at.chunk.get(i).rel_path(),
            _ => at.folder.rel_path(first)?,
        };
        let first_src = String::from_utf8_lossy(&first_rel);
        e.reason = Some(format!("byte-identical to {first_src} in the same folder"));
        return Ok(e);
    }
    // An unreadable file has no content hash; its path names its reason file.
    let name_sha = p.sha256.unwrap_or_else(|| Sha256::digest(&rel_path).into());
    let name = paths::message_file_name(internal, &name_sha);
    match p.kind {
        Kind::Staged {
            bytes,
            repairs,
            message_id,
        } => {
            let rel = paths::manifest_path(&[MAIL_DIR, &dir, &name]);
            e.status = Status::Staged;
            e.size = bytes.len() as u64;
            e.message_id = Some(message_id);
            e.repairs = repairs.iter().map(|r| r.name().to_string()).collect();
            keep_files.insert(&rel)?;
            e.path = Some(rel.clone());
            writes.push(Write::Bytes(rel, bytes));
        }
        Kind::Quarantined { original, reason } => {
            e.status = Status::Quarantined;
            e.reason = Some(reason.to_string());
            e.reason_kind = Some(reason.kind().to_string());
            let rel = paths::manifest_path(&[QUARANTINE_DIR, &dir, &name]);
            let reason_rel =
                paths::manifest_path(&[QUARANTINE_DIR, &dir, &paths::reason_file_name(&name)]);
            let text = release::reason_text(&e, None);
            match original {
                Original::Bytes(b) => writes.push(Write::Bytes(rel.clone(), b)),
                Original::Stream => writes.push(Write::Copy(rel.clone(), m.path())),
                Original::Missing => {}
            }
            if !matches!(reason, QuarantineReason::Unreadable { .. }) {
                keep_files.insert(&rel)?;
                e.path = Some(rel);
            }
            keep_files.insert(&reason_rel)?;
            writes.push(Write::Bytes(reason_rel, text.into_bytes()));
        }
        Kind::Released(r) => {
            let ReleasedKind {
                original,
                reason,
                staged,
                record,
            } = *r;
            e.status = Status::Quarantined;
            e.reason = Some(reason.to_string());
            e.reason_kind = Some(reason.kind().to_string());
            let rel = paths::manifest_path(&[QUARANTINE_DIR, &dir, &name]);
            let reason_rel =
                paths::manifest_path(&[QUARANTINE_DIR, &dir, &paths::reason_file_name(&name)]);
            let staged_rel = paths::manifest_path(&[MAIL_DIR, &dir, &name]);
            e.path = Some(rel.clone());
            let out = release::released_entry(&e, staged_rel.clone(), &staged, record.released);
            let text = release::reason_text(&e, Some(&out));
            for r in [&rel, &reason_rel, &staged_rel] {
                keep_files.insert(r)?;
            }
            writes.push(Write::Bytes(rel, original));
            writes.push(Write::Bytes(reason_rel, text.into_bytes()));
            writes.push(Write::Bytes(staged_rel, staged.bytes));
            return Ok(out);
        }
        Kind::Excluded => {}
    }
    Ok(e)
}

fn hash_file(path: &Path) -> io::Result<([u8; 32], u64)> {
    let mut f = File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        let r = f.read(&mut buf)?;
        if r == 0 {
            break;
        }
        h.update(&buf[..r]);
        n += r as u64;
    }
    Ok((h.finalize().into(), n))
}

fn to_utc(t: SystemTime) -> DateTime<Utc> {
    let d: DateTime<Utc> = t.into();
    // INTERNALDATE has whole seconds (RFC 3501 date-time).
    DateTime::from_timestamp(d.timestamp(), 0).unwrap_or(d)
}

fn path_key(p: &Path) -> String {
    p.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// Refuse a staging directory inside the source Maildir (it would be scanned) or a
/// source inside the staging directory (the sweep could touch it).
fn check_no_overlap(source: &Path, user_dir: &Path) -> Result<(), UserError> {
    let src = fs::canonicalize(source).unwrap_or_else(|_| source.to_path_buf());
    let mut probe = user_dir.to_path_buf();
    // The user dir may not exist yet: canonicalise its nearest existing ancestor.
    let mut tail = Vec::new();
    while !probe.exists() {
        match (probe.file_name(), probe.parent()) {
            (Some(n), Some(parent)) => {
                tail.push(n.to_os_string());
                probe = parent.to_path_buf();
            }
            _ => break,
        }
    }
    let mut dst = fs::canonicalize(&probe).unwrap_or(probe);
    for n in tail.iter().rev() {
        dst.push(n);
    }
    if dst.starts_with(&src) {
        return Err(UserError::Refused(format!(
            "the staging directory {} is inside the source Maildir {}: choose --out elsewhere",
            dst.display(),
            src.display()
        )));
    }
    if src.starts_with(&dst) {
        return Err(UserError::Refused(format!(
            "the source Maildir {} is inside the staging directory {}: choose --out elsewhere",
            src.display(),
            dst.display()
        )));
    }
    Ok(())
}
