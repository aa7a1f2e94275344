//! `mailstage rollback`: remove exactly what the journal says mailstage uploaded to
//! this server and mailbox, and nothing else.
//!
//! - Candidates are the journal's `stored` messages and the uncertain ones (a `send`
//!   without outcome may be on the server). They are matched strictly (`survey`): by
//!   journaled UID when the folder's UIDVALIDITY is the journaled one, else by
//!   Message-ID, INTERNALDATE and size, and only among UIDs at or above the floor (the
//!   UIDNEXT before mailstage's first send) when the journal has one.
//! - With UIDPLUS: `UID STORE +FLAGS.SILENT (\Deleted)` and `UID EXPUNGE` of exactly
//!   those UIDs (RFC 4315 §2.1), so nothing the user marked deleted is expunged.
//! - Without UIDPLUS (Exchange 2007/2010) only a plain EXPUNGE exists, which would also
//!   remove the user's own `\Deleted` messages. With `--force` mailstage first records
//!   those UIDs in the journal (`protect`, fsynced), clears their `\Deleted`, sets it on
//!   its own, EXPUNGEs, restores the user's flags and records `protect_done`; an
//!   interrupted rollback restores the flags first when run again. A client that sets
//!   `\Deleted` on another message during those few commands would lose it: the admin
//!   is told, and `--force` is required.
//! - Folders mailstage created are deleted when empty afterwards (deepest first); the
//!   server's special folders and INBOX never.
//! - Every removal is journaled (`removed`), so an interrupted rollback can be re-run
//!   and a later `upload` starts clean.

use serde::Serialize;

use super::journal::{Journal, Record, State};
use super::plan::{FolderPlan, display_name};
use super::survey;
use super::{UploadError, UploadOptions, journal_path};
use crate::imap::{ImapError, proto::format_uid_set};
use crate::progress::Progress;

use crate::stage::reader::{self, StagedIndex};

/// What rollback did (or, with `dry_run`, would do) in one folder.
#[derive(Debug, Clone, Serialize, Default)]
pub struct FolderRollback {
    /// Staged folder.
    pub folder: String,
    /// Server folder.
    pub server_folder: Option<String>,
    /// Messages removed (or to remove).
    pub removed: u64,
    /// Journal entries whose message is not on the server any more.
    pub already_gone: u64,
    /// The user's `\Deleted` messages protected around a plain EXPUNGE.
    pub protected: u64,
}

/// The result of `rollback`.
#[derive(Debug, Clone, Serialize, Default)]
pub struct RollbackReport {
    /// `host:port`.
    pub server: String,
    /// Mailbox.
    pub mailbox: String,
    /// Per folder with something to do.
    pub folders: Vec<FolderRollback>,
    /// Totals.
    pub removed: u64,
    /// Totals.
    pub already_gone: u64,
    /// Folders deleted because mailstage created them and they are empty now.
    pub folders_deleted: Vec<String>,
    /// Only listed.
    pub dry_run: bool,
    /// Per message (dry run): folder, UID, staged path.
    pub would_remove: Vec<(String, u32, String)>,
}

/// Errors specific to rollback.
#[derive(Debug, thiserror::Error)]
pub enum RollbackError {
    /// The server has no UIDPLUS and `--force` was not given.
    #[error(
        "{0} has no UIDPLUS (Exchange 2007/2010): removing mailstage's messages needs a plain \
         EXPUNGE, which would also expunge messages the user marked \\Deleted. mailstage can \
         protect them (clear their \\Deleted flag, journaled, and set it again afterwards), \
         but a mail client changing flags during those seconds could still lose one. Run \
         with --dry-run to see what would be removed, and with --force to do it"
    )]
    NeedsForce(String),
    /// Anything else.
    #[error(transparent)]
    Upload(#[from] UploadError),
}

impl From<ImapError> for RollbackError {
    fn from(e: ImapError) -> Self {
        RollbackError::Upload(e.into())
    }
}

impl From<super::journal::JournalError> for RollbackError {
    fn from(e: super::journal::JournalError) -> Self {
        RollbackError::Upload(e.into())
    }
}

/// Rolls back one user's upload.
pub fn rollback(
    staging: &std::path::Path,
    opts: &UploadOptions,
    force: bool,
) -> Result<RollbackReport, RollbackError> {
    let _lock = reader::lock(staging).map_err(UploadError::from)?;
    let index = StagedIndex::open(staging).map_err(UploadError::from)?;
    let jpath = journal_path(staging, &opts.server.host, &opts.mailbox);
    let mut journal = if opts.dry_run {
        Journal::read_only(&jpath)?
    } else {
        Journal::open(&jpath)?
    };
    let mut sv = survey::open(&index, opts)?;
    let uidplus = sv.conn.has_capability("UIDPLUS");
    let mut report = RollbackReport {
        server: opts.server.address(),
        mailbox: opts.mailbox.clone(),
        dry_run: opts.dry_run,
        ..Default::default()
    };
    if !uidplus && !force && !opts.dry_run {
        return Err(RollbackError::NeedsForce(opts.server.address()));
    }
    if !opts.dry_run {
        journal.record(&Record::Session {
            time: chrono::Utc::now().to_rfc3339(),
            server: opts.server.address(),
            mailbox: opts.mailbox.clone(),
            version: env!("CARGO_PKG_VERSION").into(),
            command: "rollback".into(),
        })?;
        restore_protects(&mut sv, &index, &mut journal)?;
    }

    // Over all staged messages, a folder at a time (only the journal's ones are
    // worked on, but that count is not known before each folder is read).
    let progress = Progress::new(
        &format!("rollback {}", opts.mailbox),
        index.slots.len() as u64,
        index.staged_bytes,
        opts.progress,
    );
    for (f, name) in index.folders.iter().enumerate() {
        // Only the staged messages the journal says may be on the server are kept
        // (this is per folder: tens of thousands).
        let (cand, total) = survey::staged(&index, f as u32, &journal, |s| {
            matches!(s, Some(State::Stored { .. } | State::Uncertain))
        })
        .map_err(RollbackError::from)?;
        progress.set_message(name.clone());
        progress.inc(total);
        if cand.is_empty() {
            continue;
        }
        let mut fr = FolderRollback {
            folder: name.clone(),
            ..Default::default()
        };
        let FolderPlan::Go {
            wire,
            display,
            exists: true,
            ..
        } = &sv.plans[f]
        else {
            fr.already_gone = cand.len() as u64;
            if !opts.dry_run {
                for k in 0..cand.len() {
                    journal.record(&Record::Removed {
                        path: cand.path(&index, k).map_err(UploadError::from)?,
                    })?;
                }
            }
            report.folders.push(fr);
            continue;
        };
        let wire = wire.clone();
        fr.server_folder = Some(display.clone());
        let info = sv.conn.select(&wire, opts.dry_run)?;
        let floor = journal.floor(name, info.uidvalidity).unwrap_or(1);
        let metas = survey::fetch_all(&mut sv.conn, floor, info.messages)?;
        let juids = cand.journal_uids(info.uidvalidity);
        let m = survey::match_folder(&cand, &juids, &metas, true, floor);
        let mut remove: Vec<(usize, u32)> = Vec::new();
        for (k, hit) in m.found.iter().enumerate() {
            match hit {
                Some((i, _)) => remove.push((k, metas.uid(*i))),
                None => fr.already_gone += 1,
            }
        }
        if opts.dry_run {
            for &(_, i) in &m.duplicates {
                remove.push((usize::MAX, metas.uid(i)));
            }
            fr.removed = remove.len() as u64;
            for &(k, uid) in &remove {
                let path = if k < cand.len() {
                    cand.path(&index, k).map_err(UploadError::from)?
                } else {
                    "(an extra copy)".to_owned()
                };
                report.would_remove.push((name.clone(), uid, path));
            }
            report.folders.push(fr);
            continue;
        }
        // Further exact copies at or above the floor are mailstage's too: an APPEND
        // the server committed after the connection was lost and that was sent again.
        for &(_, i) in &m.duplicates {
            remove.push((usize::MAX, metas.uid(i)));
        }
        fr.removed = remove.len() as u64;
        let uids: Vec<u32> = remove.iter().map(|(_, u)| *u).collect();
        let mut rec = |r: &Record, sync: bool| {
            journal.record(r)?;
            if sync {
                journal.sync()?;
            }
            Ok(())
        };
        fr.protected = survey::expunge_exact(&mut sv.conn, &mut rec, name, info.uidvalidity, &uids)
            .map_err(RollbackError::from)?;
        // Removed: the expunged ones and the ones already gone alike. The paths are read
        // from the manifest again (under the staging lock, read moments ago); were that
        // to fail here, a re-run finds these messages gone and records them then.
        for k in 0..cand.len() {
            journal.record(&Record::Removed {
                path: cand.path(&index, k).map_err(UploadError::from)?,
            })?;
        }
        journal.sync()?;
        report.folders.push(fr);
    }

    progress.finish();
    if !opts.dry_run {
        report.folders_deleted = delete_empty_created(&mut sv, &mut journal)?;
    }
    for f in &report.folders {
        report.removed += f.removed;
        report.already_gone += f.already_gone;
    }
    sv.conn.logout();
    Ok(report)
}

/// Gives the user's `\Deleted` flags back after an interrupted rollback.
fn restore_protects(
    sv: &mut survey::Survey,
    index: &StagedIndex,
    journal: &mut Journal,
) -> Result<(), RollbackError> {
    let pending: Vec<(String, (u32, Vec<u32>))> = journal
        .pending_protects()
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (folder, (validity, uids)) in pending {
        let f = index.folders.iter().position(|n| *n == folder);
        if let Some(f) = f
            && let FolderPlan::Go {
                wire, exists: true, ..
            } = &sv.plans[f]
        {
            let wire = wire.clone();
            let info = sv.conn.select(&wire, false)?;
            if info.uidvalidity == validity {
                for chunk in uids.chunks(1000) {
                    sv.conn
                        .uid_store(&format_uid_set(chunk), &["\\Deleted"], false)?;
                }
            }
        }
        journal.record(&Record::ProtectDone { folder })?;
    }
    journal.sync()?;
    Ok(())
}

/// Deletes folders mailstage created that are empty now: no messages, no children,
/// not INBOX, no special-use attribute. Deepest first, so that a created parent whose
/// children went too can go as well.
fn delete_empty_created(
    sv: &mut survey::Survey,
    journal: &mut Journal,
) -> Result<Vec<String>, RollbackError> {
    let mut created: Vec<String> = journal.created_folders().iter().cloned().collect();
    let depth = |n: &String| sv.separator.map_or(0, |c| n.matches(c as char).count());
    created.sort_by_key(|n| std::cmp::Reverse(depth(n)));
    let mut deleted = Vec::new();
    let mut list = sv.conn.list_all()?;
    for target in created {
        // the decoded server name encodes back to the wire name (separators are ASCII)
        let wire = crate::mutf7::encode(&target).into_bytes();
        let Some(entry) = list.iter().find(|e| e.name == wire) else {
            journal.record(&Record::FolderRemoved {
                server_folder: target,
            })?;
            continue;
        };
        let special = entry.attributes.iter().any(|a| {
            [
                "\\sent",
                "\\trash",
                "\\junk",
                "\\drafts",
                "\\archive",
                "\\all",
                "\\flagged",
            ]
            .contains(&a.to_ascii_lowercase().as_str())
        });
        if special || wire.eq_ignore_ascii_case(b"INBOX") {
            continue;
        }
        let has_children = sv.separator.is_some_and(|sep| {
            list.iter().any(|e| {
                e.name.len() > wire.len() && e.name.starts_with(&wire) && e.name[wire.len()] == sep
            })
        });
        if has_children {
            continue;
        }
        let info = sv.conn.status(&wire)?;
        if info.messages != 0 {
            continue;
        }
        let mut cmd = b"DELETE ".to_vec();
        cmd.extend_from_slice(&crate::imap::client::mailbox_arg(&wire));
        if sv.conn.run(&cmd)?.completion.status == crate::imap::Status::Ok {
            journal.record(&Record::FolderRemoved {
                server_folder: target.clone(),
            })?;
            deleted.push(display_name(&wire));
            list.retain(|e| e.name != wire);
        }
    }
    journal.sync()?;
    Ok(deleted)
}
