//! What `verify` and `rollback` share: connecting and planning folders without
//! creating anything, the staged messages with their journal state ([`StagedSet`]),
//! reading a folder's messages into a [`Matcher`] (`matching` says how they are
//! matched), and expunging exactly some UIDs.
//!
//! Nothing here is held per message in memory: the staged messages and the journal's
//! per-message records are joined on disk ([`super::spill`]) by the key of the staged
//! path, a partition of about [`JOIN_PART`] messages at a time, and then kept on disk
//! by folder, so that `verify` and `rollback` read one folder at a time.

use std::collections::HashMap;
use std::path::Path;

use chrono::DateTime;

use super::journal::{self, Change, Journal, JournalError, Record, State};
use super::matching::{ItemView, Matcher, piece};
use super::plan::{self, FolderPlan};
use super::{UploadError, UploadOptions, excluded};
use crate::imap::{self, Connection, proto::format_uid_set};
use crate::spill::{Dec, Enc, Sorted, Spill, SpillError};
use crate::stage::reader::{self, MANIFEST};

/// A connected view of the target.
pub(super) struct Survey {
    pub(super) conn: Connection,
    /// Plan per staged folder (in the order of the folders given to [`open`]).
    pub(super) plans: Vec<FolderPlan>,
    /// Hierarchy separator.
    pub(super) separator: Option<u8>,
}

/// The problem text of a folder left out with `--exclude-folder`.
pub(super) const EXCLUDED: &str = "excluded by --exclude-folder";

/// Plans `names` against the server's folders (LIST), with `--exclude-folder` applied:
/// what upload, verify and rollback all do first, so that they agree on every name.
pub(super) fn plan_folders(
    conn: &mut Connection,
    names: &[String],
    opts: &UploadOptions,
) -> Result<(Vec<FolderPlan>, Option<u8>), UploadError> {
    let separator = conn.hierarchy_separator()?;
    let list = conn.list_all()?;
    let mut plans = plan::plan(names, &list, separator, opts.merge_case_folders);
    for (i, name) in names.iter().enumerate() {
        if excluded(name, &opts.exclude_folders) {
            plans[i] = FolderPlan::Problem(EXCLUDED.into());
        }
    }
    Ok((plans, separator))
}

/// Connects and plans the staged `folders` exactly as `upload` would (no CREATE).
pub(super) fn open(folders: &[String], opts: &UploadOptions) -> Result<Survey, UploadError> {
    let mut conn = imap::connect(&opts.server)?;
    let (plans, separator) = plan_folders(&mut conn, folders, opts)?;
    Ok(Survey {
        conn,
        plans,
        separator,
    })
}

/// UIDs per command of [`expunge_exact`]: servers limit the length of a command
/// line, and ours need not be consecutive.
const UID_CHUNK: usize = 1000;

/// UIDs to expunge from one folder, on disk, given back in the order FETCH gave them:
/// servers answer `UID FETCH 1:*` in sequence order, which is UID order (RFC 3501
/// §2.3.1.1), so that a command's worth of UIDs makes a short UID set.
#[derive(Debug)]
pub(super) struct UidList {
    sorted: Sorted,
    len: u64,
}

impl UidList {
    /// For a folder of `metas` server messages.
    pub(super) fn new(metas: u64) -> Self {
        UidList {
            sorted: Sorted::new(metas, piece()),
            len: 0,
        }
    }

    /// Adds `uid`, the `index`-th message FETCH gave.
    pub(super) fn push(&mut self, index: u32, uid: u32) -> Result<(), SpillError> {
        self.len += 1;
        self.sorted.push(u64::from(index), 0, &uid.to_le_bytes())
    }

    /// How many.
    pub(super) fn len(&self) -> u64 {
        self.len
    }

    /// Calls `each` with [`UID_CHUNK`] UIDs at a time (the last chunk fewer).
    fn chunks(
        &self,
        mut each: impl FnMut(&[u32]) -> Result<(), UploadError>,
    ) -> Result<(), UploadError> {
        let mut chunk = Vec::with_capacity(UID_CHUNK);
        self.sorted.read::<UploadError>(|r| {
            chunk.push(Dec(r).u32()?);
            if chunk.len() == UID_CHUNK {
                each(&chunk)?;
                chunk.clear();
            }
            Ok(())
        })?;
        if !chunk.is_empty() {
            each(&chunk)?;
        }
        Ok(())
    }
}

/// Expunges exactly `uids` from the selected folder.
///
/// With UIDPLUS: `UID STORE +FLAGS.SILENT (\Deleted)` and `UID EXPUNGE` (RFC 4315
/// §2.1). Without it only a plain EXPUNGE exists, which would also remove the user's
/// own `\Deleted` messages: their UIDs are journaled first (`protect`, fsynced), their
/// flag is cleared, ours set, EXPUNGE, theirs set again, `protect_done`. Returns how
/// many of the user's messages were protected. `record(rec, sync)` appends to the
/// journal.
pub(super) fn expunge_exact(
    conn: &mut Connection,
    record: &mut dyn FnMut(&Record, bool) -> Result<(), JournalError>,
    folder: &str,
    uidvalidity: u32,
    uids: &UidList,
) -> Result<u64, UploadError> {
    if uids.len() == 0 {
        return Ok(0);
    }
    if conn.has_capability("UIDPLUS") {
        uids.chunks(|chunk| {
            let set = format_uid_set(chunk);
            conn.uid_store(&set, &["\\Deleted"], false)?;
            conn.run_checked(format!("UID EXPUNGE {set}").as_bytes())?;
            Ok(())
        })?;
        return Ok(0);
    }
    // The user's \Deleted messages that are not ours, in the server's order: ours are
    // marked in a sorted copy (the user's deleted messages, not ours, are in memory).
    let deleted = conn.uid_search(b"DELETED")?;
    let mut sorted: Vec<(u32, usize)> = deleted.iter().copied().zip(0..).collect();
    sorted.sort_unstable();
    let mut ours = vec![false; deleted.len()];
    uids.chunks(|chunk| {
        for u in chunk {
            let from = sorted.partition_point(|x| x.0 < *u);
            for &(_, at) in sorted[from..].iter().take_while(|x| x.0 == *u) {
                ours[at] = true;
            }
        }
        Ok(())
    })?;
    let theirs: Vec<u32> = deleted
        .iter()
        .zip(&ours)
        .filter(|(_, ours)| !**ours)
        .map(|(u, _)| *u)
        .collect();
    if !theirs.is_empty() {
        record(
            &Record::Protect {
                folder: folder.to_owned(),
                uidvalidity,
                uids: theirs.clone(),
            },
            true,
        )?;
        for chunk in theirs.chunks(UID_CHUNK) {
            conn.uid_store(&format_uid_set(chunk), &["\\Deleted"], true)?;
        }
    }
    uids.chunks(|chunk| Ok(conn.uid_store(&format_uid_set(chunk), &["\\Deleted"], false)?))?;
    conn.run_checked(b"EXPUNGE")?;
    if !theirs.is_empty() {
        for chunk in theirs.chunks(UID_CHUNK) {
            conn.uid_store(&format_uid_set(chunk), &["\\Deleted"], false)?;
        }
        record(
            &Record::ProtectDone {
                folder: folder.to_owned(),
            },
            true,
        )?;
    }
    Ok(theirs.len() as u64)
}

/// Staged messages per partition of the join of manifest and journal, about: the
/// journal states of one partition are what it holds in memory (~40 bytes each).
const JOIN_PART: u64 = 8192;

/// Per folder: its staged messages, and how many of them the command works on.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct FolderCount {
    /// Staged messages (with a path and a valid date, as upload sends them).
    pub(super) items: u64,
    /// Of those, how many have a journal state the command's `keep` accepts.
    pub(super) kept: u64,
}

/// Every staged message with its journal state, on disk by folder.
#[derive(Debug)]
pub(super) struct StagedSet {
    /// Target folders, in manifest order (as [`crate::stage::reader::scan_staged`] numbers them).
    pub(super) folders: Vec<String>,
    /// Staged entries (the progress bar's total).
    pub(super) staged: u64,
    /// Their bytes.
    pub(super) staged_bytes: u64,
    /// Per folder.
    pub(super) counts: Vec<FolderCount>,
    /// Staged entries upload cannot send (no path, or an unreadable internal date):
    /// folder and path (or source). Not in `counts` nor in the folders' records.
    pub(super) invalid: Vec<(u32, String)>,
    by_folder: Spill,
}

pub(super) fn encode_change(e: &mut Enc, key: u128, c: Change) {
    let (tag, v, uid) = match c {
        Change::Send => (0, 0, None),
        Change::Stored { uidvalidity, uid } => (1, uidvalidity, uid),
        Change::Uid { uidvalidity, uid } => (2, uidvalidity, Some(uid)),
        Change::Flagged => (3, 0, None),
        Change::Failed => (4, 0, None),
        Change::Removed => (5, 0, None),
        Change::Missing => (6, 0, None),
    };
    e.clear()
        .u128(key)
        .u8(tag)
        .u32(v)
        .u8(uid.is_some() as u8)
        .u32(uid.unwrap_or(0));
}

pub(super) fn decode_change(rec: &[u8]) -> Result<(u128, Change), SpillError> {
    let mut d = Dec(rec);
    let (key, tag, v, has, uid) = (d.u128()?, d.u8()?, d.u32()?, d.u8()?, d.u32()?);
    let uid = (has != 0).then_some(uid);
    let change = match (tag, uid) {
        (0, _) => Change::Send,
        (1, uid) => Change::Stored {
            uidvalidity: v,
            uid,
        },
        (2, Some(uid)) => Change::Uid {
            uidvalidity: v,
            uid,
        },
        (3, _) => Change::Flagged,
        (4, _) => Change::Failed,
        (5, _) => Change::Removed,
        (6, _) => Change::Missing,
        _ => return Err(SpillError::corrupt("journal change")),
    };
    Ok((key, change))
}

impl StagedSet {
    /// Reads the manifest of `root` and the journal at `jpath` (opened as
    /// [`Journal::open`] when `create`, else as [`Journal::read_only`], its states
    /// streamed out: [`Journal::open_streaming`]) and joins them. `keep` says which
    /// journal states the command works on ([`FolderCount::kept`]).
    pub(super) fn open(
        root: &Path,
        jpath: &Path,
        create: bool,
        keep: impl Fn(Option<State>) -> bool,
    ) -> Result<(Self, Journal), UploadError> {
        // Partitions from the sizes of the files (a manifest line is ~400 bytes, a
        // message ~2 journal records of ~200): only how much each holds depends on it.
        let len = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
        let n = (len(&root.join(MANIFEST)) / 384).max(len(jpath) / 400);
        let parts = n.div_ceil(JOIN_PART).max(1) as usize;
        // the key is SHA-256 bytes: its remainder spreads evenly
        let part = |key: u128| (key % parts as u128) as usize;
        let mut items = Spill::new(parts);
        let mut enc = Enc::default();
        // per folder, the next message's place in it (manifest order)
        let mut ranks: Vec<u32> = Vec::new();
        let mut invalid = Vec::new();
        let summary = reader::scan_staged::<UploadError>(root, |folder, e| {
            // what upload sends
            let (Some(path), Ok(date)) = (
                e.path.as_deref(),
                DateTime::parse_from_rfc3339(&e.internal_date),
            ) else {
                invalid.push((folder, e.path.clone().unwrap_or_else(|| e.source.clone())));
                return Ok(());
            };
            let key = journal::key(path);
            if ranks.len() <= folder as usize {
                ranks.resize(folder as usize + 1, 0);
            }
            let rank = &mut ranks[folder as usize];
            ItemView::encode(
                &mut enc,
                *rank,
                folder,
                key,
                e.size,
                &date,
                path,
                e.message_id.as_deref(),
                &e.flags,
                e.staged_sha256.as_deref().unwrap_or_default(),
            );
            // counted by messages, like everything per message here
            *rank += 1;
            items.push(part(key), &enc.buf)?;
            Ok(())
        })?;
        let mut changes = Spill::new(parts);
        let journal = Journal::open_streaming::<UploadError>(jpath, create, &mut |key, c| {
            encode_change(&mut enc, key, c);
            changes.push(part(key), &enc.buf)?;
            Ok(())
        })?;
        let mut counts = vec![FolderCount::default(); summary.folders.len()];
        let mut by_folder = Spill::new(summary.folders.len());
        let mut rec = Vec::new();
        for p in 0..parts {
            // a message has a couple of records: sized before it is filled
            let mut states = HashMap::with_capacity((changes.count(p) / 2) as usize);
            changes.read::<SpillError>(p, |r| {
                let (key, c) = decode_change(r)?;
                journal::apply_change(&mut states, key, c);
                Ok(())
            })?;
            items.read::<SpillError>(p, |r| {
                let item = ItemView::decode(r)?;
                let state = states.get(&item.key).copied();
                let count = &mut counts[item.folder as usize];
                count.items += 1;
                count.kept += u64::from(keep(state));
                rec.clear();
                rec.extend_from_slice(r);
                ItemView::set_state(&mut rec, state);
                by_folder.push(item.folder as usize, &rec)
            })?;
        }
        Ok((
            StagedSet {
                folders: summary.folders,
                staged: summary.staged,
                staged_bytes: summary.staged_bytes,
                counts,
                invalid,
                by_folder,
            },
            journal,
        ))
    }

    /// Calls `each` with the record ([`ItemView::encode`]) of every staged message of
    /// folder `f`, in no particular order (each carries its manifest order).
    pub(super) fn read_folder(
        &self,
        f: usize,
        mut each: impl FnMut(&[u8], &ItemView) -> Result<(), UploadError>,
    ) -> Result<(), UploadError> {
        self.by_folder
            .read::<UploadError>(f, |r| each(r, &ItemView::decode(r)?))
    }
}

/// The journal's UID of a message in `state`, if the folder's UIDVALIDITY is still
/// `uidvalidity` (the UID means nothing otherwise).
pub(super) fn journal_uid(state: Option<State>, uidvalidity: u32) -> Option<u32> {
    match state {
        Some(State::Stored {
            uidvalidity: v,
            uid: Some(u),
            ..
        }) if v == uidvalidity => Some(u),
        _ => None,
    }
}

/// Gives every message of the selected folder with UID ≥ `from` to `m`, straight from
/// each FETCH response (RFC 3501 §6.4.5, §7.4.2); `messages` is its EXISTS.
pub(super) fn fetch_into(
    conn: &mut Connection,
    from: u32,
    messages: u32,
    m: &mut Matcher,
) -> Result<(), UploadError> {
    if messages == 0 {
        return Ok(());
    }
    let mut failed = None;
    conn.uid_fetch_meta_each(&format!("{}:*", from.max(1)), true, false, |x| {
        if x.uid >= from
            && failed.is_none()
            && let Err(e) = m.push_meta(&x)
        {
            failed = Some(e);
        }
    })?;
    match failed {
        Some(e) => Err(e.into()),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uids_come_back_in_fetch_order_a_command_at_a_time() {
        // pushed in bucket order (here: odd FETCH positions first), as matching
        // reports them
        let n = 2500u32;
        let mut list = UidList::new(u64::from(n));
        for index in (1..n).step_by(2).chain((0..n).step_by(2)) {
            list.push(index, 100 + index).unwrap();
        }
        assert_eq!(list.len(), u64::from(n));
        let mut chunks = Vec::new();
        list.chunks(|c| {
            chunks.push(c.to_vec());
            Ok(())
        })
        .unwrap();
        assert_eq!(
            chunks.iter().map(Vec::len).collect::<Vec<_>>(),
            [UID_CHUNK, UID_CHUNK, 500]
        );
        let all: Vec<u32> = chunks.concat();
        assert_eq!(all, (100..100 + n).collect::<Vec<_>>());
        // so that a chunk is one short UID set
        assert_eq!(format_uid_set(&chunks[0]), "100:1099");
        // readable again (the no-UIDPLUS path reads the list twice)
        let mut again = 0;
        list.chunks(|c| {
            again += c.len();
            Ok(())
        })
        .unwrap();
        assert_eq!(again, n as usize);
    }

    #[test]
    fn changes_round_trip() {
        let mut e = Enc::default();
        for c in [
            Change::Send,
            Change::Stored {
                uidvalidity: 7,
                uid: None,
            },
            Change::Stored {
                uidvalidity: 7,
                uid: Some(9),
            },
            Change::Uid {
                uidvalidity: u32::MAX,
                uid: 1,
            },
            Change::Flagged,
            Change::Failed,
            Change::Removed,
            Change::Missing,
        ] {
            encode_change(&mut e, u128::MAX - 3, c);
            assert_eq!(decode_change(&e.buf).unwrap(), (u128::MAX - 3, c));
        }
        assert!(decode_change(&e.buf[..10]).is_err());
    }
}
