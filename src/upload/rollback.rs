//! `mailstage rollback`: remove exactly what the journal says mailstage uploaded to
//! this server and mailbox, and nothing else.
//!
//! - Candidates are the journal's `stored` messages and the uncertain ones (a `send`
//!   without outcome may be on the server). They are matched strictly (`matching`): by
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
//! - Nothing is held per message for the whole mailbox: the candidates and the UIDs
//!   to expunge are on disk (`survey`, `matching`), and so is the dry run's list
//!   ([`RemoveList`]).

use serde::Serialize;

use super::journal::{Journal, Record, State};
use super::matching::{Matcher, Outcome, piece};
use super::plan::{FolderPlan, display_name};
use super::survey::{self, StagedSet};
use super::{UploadError, UploadOptions, journal_path};
use crate::imap::{ImapError, proto::format_uid_set};
use crate::progress::Progress;
use crate::spill::{Dec, Enc, Sorted, Spill, SpillError};

use crate::stage::reader;

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
    pub would_remove: RemoveList,
}

/// What a dry run would remove: (folder, UID, staged path) per message, in the order
/// of the report. On disk rather than in memory (a mailbox's worth of paths: ~12 MB
/// for 100,000 messages); as JSON the array of `[folder, uid, path]` a `Vec` of
/// tuples would give.
#[derive(Debug, Default)]
pub struct RemoveList {
    /// One bucket; `None` until the first entry.
    entries: Option<Spill>,
    len: u64,
}

impl RemoveList {
    /// How many.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn push(&mut self, folder: &str, uid: u32, path: &str) -> Result<(), SpillError> {
        let mut e = Enc::default();
        e.str(folder).u32(uid).str(path);
        self.entries
            .get_or_insert_with(|| Spill::new(1))
            .push(0, &e.buf)?;
        self.len += 1;
        Ok(())
    }

    /// Calls `each(folder, uid, path)` for every entry, in order.
    pub fn for_each<E: From<SpillError>>(
        &self,
        mut each: impl FnMut(&str, u32, &str) -> Result<(), E>,
    ) -> Result<(), E> {
        let Some(entries) = &self.entries else {
            return Ok(());
        };
        entries.read::<E>(0, |r| {
            let mut d = Dec(r);
            let (folder, uid, path) = (d.str()?, d.u32()?, d.str()?);
            each(folder, uid, path)
        })
    }

    /// The first `n` entries.
    pub fn first(&self, n: usize) -> Result<Vec<(String, u32, String)>, SpillError> {
        let mut out = Vec::new();
        self.for_each::<SpillError>(|f, uid, p| {
            if out.len() < n {
                out.push((f.to_owned(), uid, p.to_owned()));
            }
            Ok(())
        })?;
        Ok(out)
    }
}

impl Clone for RemoveList {
    /// A copy on disk of its own. Should the copy fail (a full temporary
    /// directory), the clone is cut short there: `Clone` cannot fail.
    fn clone(&self) -> Self {
        let mut out = RemoveList::default();
        let _ = self.for_each::<SpillError>(|f, uid, p| out.push(f, uid, p));
        out
    }
}

impl Serialize for RemoveList {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{Error, SerializeSeq};
        // the serializer's error and ours, so that either stops the reading
        enum Stop<E> {
            Spill(SpillError),
            Ser(E),
        }
        impl<E> From<SpillError> for Stop<E> {
            fn from(e: SpillError) -> Self {
                Stop::Spill(e)
            }
        }
        let mut seq = s.serialize_seq(Some(self.len as usize))?;
        match self.for_each(|f, uid, p| seq.serialize_element(&(f, uid, p)).map_err(Stop::Ser)) {
            Ok(()) => seq.end(),
            Err(Stop::Ser(e)) => Err(e),
            Err(Stop::Spill(e)) => Err(S::Error::custom(e)),
        }
    }
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
    let jpath = journal_path(staging, &opts.server.host, &opts.mailbox);
    // Only the staged messages the journal says may be on the server are worked on.
    let (set, mut journal) = StagedSet::open(staging, &jpath, !opts.dry_run, |s| {
        matches!(s, Some(State::Stored { .. } | State::Uncertain))
    })?;
    let mut sv = survey::open(&set.folders, opts)?;
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
        restore_protects(&mut sv, &set.folders, &mut journal)?;
    }
    let candidate = |s: Option<State>| matches!(s, Some(State::Stored { .. } | State::Uncertain));

    // Over all staged messages, a folder at a time (only the journal's ones are
    // worked on).
    let progress = Progress::new(
        &format!("rollback {}", opts.mailbox),
        set.staged,
        set.staged_bytes,
        opts.progress,
    );
    for (f, name) in set.folders.iter().enumerate() {
        let count = set.counts[f];
        progress.set_message(name.clone());
        progress.inc(count.items);
        if count.kept == 0 {
            continue;
        }
        let mut fr = FolderRollback {
            folder: name.clone(),
            ..Default::default()
        };
        // `removed` for every candidate of the folder (after the expunge, or when the
        // folder is gone): the expunged ones and the ones already gone alike
        let record_removed = |journal: &mut Journal| {
            set.read_folder(f, |_, item| {
                if candidate(item.state) {
                    journal.record(&Record::Removed {
                        path: item.path.to_owned(),
                    })?;
                }
                Ok(())
            })
        };
        let FolderPlan::Go {
            wire,
            display,
            exists: true,
            ..
        } = &sv.plans[f]
        else {
            fr.already_gone = count.kept;
            if !opts.dry_run {
                record_removed(&mut journal)?;
            }
            report.folders.push(fr);
            continue;
        };
        let wire = wire.clone();
        fr.server_folder = Some(display.clone());
        let info = sv.conn.select(&wire, opts.dry_run)?;
        let floor = journal.floor(name, info.uidvalidity).unwrap_or(1);
        let mut m = Matcher::new(count.kept.max(u64::from(info.messages)));
        survey::fetch_into(&mut sv.conn, floor, info.messages, &mut m)?;
        set.read_folder(f, |rec, item| {
            if candidate(item.state) {
                m.push_item(rec, survey::journal_uid(item.state, info.uidvalidity))?;
            }
            Ok(())
        })?;
        // Found ones in manifest order, then the further exact copies at or above the
        // floor, which are mailstage's too (an APPEND the server committed after the
        // connection was lost and that was sent again), by message and FETCH order.
        // Put back in order on disk: the dry run lists every message.
        let mut found = Sorted::new(count.items, piece());
        let mut copies = Sorted::new(count.items, piece());
        let mut uids = survey::UidList::new(u64::from(info.messages));
        let mut enc = Enc::default();
        m.run::<UploadError>(true, floor, |o| {
            match o {
                Outcome::Found {
                    items, k, metas, i, ..
                } => {
                    fr.removed += 1;
                    if opts.dry_run {
                        enc.clear().u32(metas.uid(i)).str(items.path(k));
                        found.push(u64::from(items.ord(k)), 0, &enc.buf)?;
                    } else {
                        uids.push(metas.index(i), metas.uid(i))?;
                    }
                }
                Outcome::Missing { .. } => fr.already_gone += 1,
                Outcome::Duplicate { items, k, metas, i } => {
                    fr.removed += 1;
                    if opts.dry_run {
                        enc.clear().u32(metas.uid(i));
                        copies.push(
                            u64::from(items.ord(k)),
                            u64::from(metas.index(i)),
                            &enc.buf,
                        )?;
                    } else {
                        uids.push(metas.index(i), metas.uid(i))?;
                    }
                }
            }
            Ok(())
        })?;
        if opts.dry_run {
            found.read::<UploadError>(|r| {
                let mut d = Dec(r);
                let (uid, path) = (d.u32()?, d.str()?);
                Ok(report.would_remove.push(name, uid, path)?)
            })?;
            copies.read::<UploadError>(|r| {
                Ok(report
                    .would_remove
                    .push(name, Dec(r).u32()?, "(an extra copy)")?)
            })?;
            report.folders.push(fr);
            continue;
        }
        let mut rec = |r: &Record, sync: bool| {
            journal.record(r)?;
            if sync {
                journal.sync()?;
            }
            Ok(())
        };
        fr.protected = survey::expunge_exact(&mut sv.conn, &mut rec, name, info.uidvalidity, &uids)
            .map_err(RollbackError::from)?;
        // The paths are read from the spilled manifest again; were that to fail here,
        // a re-run finds these messages gone and records them then.
        record_removed(&mut journal)?;
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
    folders: &[String],
    journal: &mut Journal,
) -> Result<(), RollbackError> {
    let pending: Vec<(String, (u32, Vec<u32>))> = journal
        .pending_protects()
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (folder, (validity, uids)) in pending {
        let f = folders.iter().position(|n| *n == folder);
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
