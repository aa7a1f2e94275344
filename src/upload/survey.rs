//! What `verify` and `rollback` share: connecting and planning folders without
//! creating anything, reading a folder's messages, and matching them with the staged
//! messages and the journal.
//!
//! Matching, in order:
//! 1. by the journal's UID, when the folder's UIDVALIDITY is the journaled one and the
//!    message under that UID has the staged Message-ID (or, on Exchange, keeps it in
//!    `X-MS-Exchange-Parent-Message-Id`; a message without Message-ID must have the
//!    staged size and date);
//! 2. otherwise by Message-ID (or size for a message without one) and INTERNALDATE
//!    among the messages no one has claimed — for verify also with a wrong date, so
//!    that it can report the date instead of a missing message; rollback insists on
//!    the exact date and, for a message without Message-ID, the exact size;
//! 3. further unclaimed copies of a matched message (same Message-ID, date and size)
//!    are duplicates. Everything left is "other": not mailstage's.

use std::collections::{HashMap, HashSet};

use super::journal::{JournalError, Record};
use super::plan::{self, FolderPlan};
use super::send::{Item, item_of};
use super::{UploadError, UploadOptions, excluded};
use crate::imap::{self, Connection, FetchedMeta, proto::format_uid_set};
use crate::stage::reader::StagedIndex;

/// A connected view of the target.
pub(super) struct Survey {
    pub(super) conn: Connection,
    /// Plan per staged folder (`index.folders` order).
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

/// Connects and plans the staged folders exactly as `upload` would (no CREATE).
pub(super) fn open(index: &StagedIndex, opts: &UploadOptions) -> Result<Survey, UploadError> {
    let mut conn = imap::connect(&opts.server)?;
    let (plans, separator) = plan_folders(&mut conn, &index.folders, opts)?;
    Ok(Survey {
        conn,
        plans,
        separator,
    })
}

/// The staged messages of folder `f`, in manifest order.
pub(super) fn items(index: &StagedIndex, f: u32) -> Result<Vec<Item>, UploadError> {
    // sized first: a folder's list is the largest thing verify and rollback hold
    let n = index.slots.iter().filter(|s| s.folder == f).count();
    let mut out = Vec::with_capacity(n);
    for s in index.slots.iter().filter(|s| s.folder == f) {
        if let Some(i) = item_of(&index.entry(s)?) {
            out.push(i);
        }
    }
    Ok(out)
}

/// Every message of the selected folder with UID ≥ `from`.
pub(super) fn fetch_all(
    conn: &mut Connection,
    from: u32,
    messages: u32,
) -> Result<Vec<FetchedMeta>, UploadError> {
    if messages == 0 {
        return Ok(Vec::new());
    }
    Ok(conn
        .uid_fetch_meta(&format!("{}:*", from.max(1)), true, false)?
        .into_iter()
        .filter(|m| m.uid >= from)
        .collect())
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
    uids: &[u32],
) -> Result<u64, UploadError> {
    if uids.is_empty() {
        return Ok(0);
    }
    if conn.has_capability("UIDPLUS") {
        for chunk in uids.chunks(1000) {
            let set = format_uid_set(chunk);
            conn.uid_store(&set, &["\\Deleted"], false)?;
            conn.run_checked(format!("UID EXPUNGE {set}").as_bytes())?;
        }
        return Ok(0);
    }
    let ours: HashSet<u32> = uids.iter().copied().collect();
    let theirs: Vec<u32> = conn
        .uid_search(b"DELETED")?
        .into_iter()
        .filter(|u| !ours.contains(u))
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
        for chunk in theirs.chunks(1000) {
            conn.uid_store(&format_uid_set(chunk), &["\\Deleted"], true)?;
        }
    }
    for chunk in uids.chunks(1000) {
        conn.uid_store(&format_uid_set(chunk), &["\\Deleted"], false)?;
    }
    conn.run_checked(b"EXPUNGE")?;
    if !theirs.is_empty() {
        for chunk in theirs.chunks(1000) {
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

/// How a staged message was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Found {
    /// Under the journal's UID.
    ByUid,
    /// By Message-ID / size and date.
    ByContent,
}

/// The outcome of matching one folder.
#[derive(Debug, Default)]
pub(super) struct Matches {
    /// Per item: index into the metas and how.
    pub(super) found: Vec<Option<(usize, Found)>>,
    /// Extra copies: (item, meta index).
    pub(super) duplicates: Vec<(usize, usize)>,
    /// Metas nobody claimed.
    pub(super) others: Vec<usize>,
}

fn same_id(item: &Item, m: &FetchedMeta) -> bool {
    match &item.message_id {
        Some(id) => m.message_ids.iter().any(|x| x == id),
        None => m.message_ids.is_empty(),
    }
}

fn same_date(item: &Item, m: &FetchedMeta) -> bool {
    imap::parse_imap_date(&m.internal_date).is_some_and(|d| d == item.date)
}

/// Matches `items` (with the journal's UID for each, when it still applies) against
/// `metas`. `strict`: content matches need the exact date (and size without
/// Message-ID) — rollback; otherwise a Message-ID match with another date is still
/// the message (verify reports the date).
///
/// Content matches and duplicates are only looked for among UIDs ≥ `floor` (the
/// folder's UIDNEXT before mailstage first sent to it): older messages were the
/// user's before mailstage came, even when they are copies of staged ones.
pub(super) fn match_folder(
    items: &[Item],
    journal_uids: &[Option<u32>],
    metas: &[FetchedMeta],
    strict: bool,
    floor: u32,
) -> Matches {
    let mut claimed = vec![false; metas.len()];
    let by_uid: HashMap<u32, usize> = metas.iter().enumerate().map(|(i, m)| (m.uid, i)).collect();
    let cands = Candidates::new(metas);
    let mut found: Vec<Option<(usize, Found)>> = vec![None; items.len()];
    for (k, item) in items.iter().enumerate() {
        if let Some(u) = journal_uids[k]
            && let Some(&i) = by_uid.get(&u)
        {
            let m = &metas[i];
            let ok = if item.message_id.is_some() {
                same_id(item, m)
            } else {
                m.size == item.size && same_date(item, m)
            };
            if ok && !claimed[i] {
                claimed[i] = true;
                found[k] = Some((i, Found::ByUid));
            }
        }
    }
    // content matches: best first (date and size), then weaker ones
    let tiers: &[(bool, bool)] = if strict {
        &[(true, true), (true, false)]
    } else {
        &[(true, true), (true, false), (false, true), (false, false)]
    };
    for &(need_date, need_size) in tiers {
        for (k, item) in items.iter().enumerate() {
            if found[k].is_some() {
                continue;
            }
            if item.message_id.is_none() && (!need_size || !need_date) {
                // without a Message-ID only date and size identify a message
                continue;
            }
            let hit = cands.of(item).iter().copied().find(|&i| {
                let m = &metas[i];
                m.uid >= floor
                    && !claimed[i]
                    && same_id(item, m)
                    && (!need_date || same_date(item, m))
                    && (!need_size || m.size == item.size)
            });
            if let Some(i) = hit {
                claimed[i] = true;
                found[k] = Some((i, Found::ByContent));
            }
        }
    }
    let mut duplicates = Vec::new();
    for (k, item) in items.iter().enumerate() {
        if found[k].is_none() {
            continue;
        }
        for &i in cands.of(item) {
            let m = &metas[i];
            if m.uid >= floor
                && !claimed[i]
                && same_id(item, m)
                && same_date(item, m)
                && m.size == item.size
            {
                claimed[i] = true;
                duplicates.push((k, i));
            }
        }
    }
    let others = (0..metas.len()).filter(|&i| !claimed[i]).collect();
    Matches {
        found,
        duplicates,
        others,
    }
}

/// The metas each item can match by content, so that matching a folder costs time in
/// proportion to its size rather than to its size squared (every item against every
/// message: 17 s of CPU for a 36,000-message folder).
///
/// Each list is in ascending meta order, which is the order a scan over all metas
/// would meet them in, so the first acceptable candidate is the same one. Message-IDs
/// are keyed by a 64-bit hash rather than a copy of the text (a folder's worth of IDs
/// again): a list may hold a message with another ID whose hash collides, which is why
/// callers still check [`same_id`].
struct Candidates {
    /// Hash of a Message-ID (either header) → metas carrying it.
    by_id: HashMap<u64, Vec<usize>>,
    /// Size → metas without any Message-ID.
    no_id_by_size: HashMap<u64, Vec<usize>>,
}

impl Candidates {
    fn key(id: &str) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::hash::DefaultHasher::new();
        id.hash(&mut h);
        h.finish()
    }

    fn new(metas: &[FetchedMeta]) -> Self {
        let mut by_id: HashMap<u64, Vec<usize>> = HashMap::new();
        let mut no_id_by_size: HashMap<u64, Vec<usize>> = HashMap::new();
        for (i, m) in metas.iter().enumerate() {
            if m.message_ids.is_empty() {
                no_id_by_size.entry(m.size).or_default().push(i);
            }
            for id in &m.message_ids {
                let list = by_id.entry(Self::key(id)).or_default();
                // both headers may carry the same ID: list the message once
                if list.last() != Some(&i) {
                    list.push(i);
                }
            }
        }
        Candidates {
            by_id,
            no_id_by_size,
        }
    }

    /// A superset of the metas [`same_id`] accepts for `item`, in meta order: those
    /// with its Message-ID (or a colliding hash); for an item without one, the metas
    /// without one of its size (without a Message-ID only an exact size may match,
    /// see [`match_folder`]).
    fn of(&self, item: &Item) -> &[usize] {
        let list = match &item.message_id {
            Some(id) => self.by_id.get(&Self::key(id)),
            None => self.no_id_by_size.get(&item.size),
        };
        list.map_or(&[], Vec::as_slice)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;

    fn item(id: Option<&str>, date: &str, size: u64) -> Item {
        Item {
            path: format!("p{date}{size}"),
            sha256: String::new(),
            message_id: id.map(str::to_owned),
            date: DateTime::parse_from_rfc3339(date).unwrap(),
            size,
            flagged: false,
            flags: vec![],
        }
    }

    fn meta(uid: u32, id: Option<&str>, date: &str, size: u64) -> FetchedMeta {
        FetchedMeta {
            uid,
            size,
            internal_date: imap::imap_date(&DateTime::parse_from_rfc3339(date).unwrap()),
            flags: vec![],
            message_ids: id.into_iter().map(str::to_owned).collect(),
            body: None,
        }
    }

    const D1: &str = "2010-01-04T09:15:02+00:00";
    const D2: &str = "2011-05-04T09:15:02+00:00";

    #[test]
    fn uid_then_content_then_duplicates_then_others() {
        let items = vec![
            item(Some("<a>"), D1, 10),
            item(Some("<b>"), D1, 20),
            item(None, D2, 30),
        ];
        let metas = vec![
            meta(1, Some("<a>"), D2, 99), // the user's own copy of <a>, other date
            meta(5, Some("<a>"), D1, 10), // ours, by UID
            meta(6, Some("<b>"), D1, 20), // ours, by content
            meta(7, Some("<b>"), D1, 20), // a duplicate of ours
            meta(8, None, D2, 30),        // ours, no Message-ID
            meta(9, Some("<c>"), D1, 10), // not ours
        ];
        let m = match_folder(&items, &[Some(5), None, None], &metas, true, 1);
        assert_eq!(
            m.found,
            vec![
                Some((1, Found::ByUid)),
                Some((2, Found::ByContent)),
                Some((4, Found::ByContent))
            ]
        );
        assert_eq!(m.duplicates, vec![(1, 3)]);
        assert_eq!(m.others, vec![0, 5]);
        // below the floor nothing is claimed by content
        let m = match_folder(&items, &[None, None, None], &metas, false, 6);
        assert_eq!(m.found[0], None);
        assert_eq!(m.found[1], Some((2, Found::ByContent)));
        assert!(m.others.contains(&0) && m.others.contains(&1));
    }

    #[test]
    fn strict_refuses_another_date_verify_reports_it() {
        let items = vec![item(Some("<a>"), D1, 10)];
        let metas = vec![meta(3, Some("<a>"), D2, 10)];
        assert_eq!(
            match_folder(&items, &[None], &metas, true, 1).found,
            vec![None]
        );
        assert_eq!(
            match_folder(&items, &[None], &metas, false, 1).found,
            vec![Some((0, Found::ByContent))]
        );
        // a UID now holding another message is not ours
        let metas = vec![meta(3, Some("<x>"), D1, 10)];
        assert_eq!(
            match_folder(&items, &[Some(3)], &metas, false, 1).found,
            vec![None]
        );
    }

    /// The matching as it was before [`Candidates`]: every item against every meta.
    /// Kept as the reference the indexed version must agree with.
    fn match_folder_naive(
        items: &[Item],
        journal_uids: &[Option<u32>],
        metas: &[FetchedMeta],
        strict: bool,
        floor: u32,
    ) -> Matches {
        let mut claimed: HashSet<usize> = HashSet::new();
        let by_uid: HashMap<u32, usize> =
            metas.iter().enumerate().map(|(i, m)| (m.uid, i)).collect();
        let mut found: Vec<Option<(usize, Found)>> = vec![None; items.len()];
        for (k, item) in items.iter().enumerate() {
            if let Some(u) = journal_uids[k]
                && let Some(&i) = by_uid.get(&u)
            {
                let m = &metas[i];
                let ok = if item.message_id.is_some() {
                    same_id(item, m)
                } else {
                    m.size == item.size && same_date(item, m)
                };
                if ok && claimed.insert(i) {
                    found[k] = Some((i, Found::ByUid));
                }
            }
        }
        let tiers: &[(bool, bool)] = if strict {
            &[(true, true), (true, false)]
        } else {
            &[(true, true), (true, false), (false, true), (false, false)]
        };
        for &(need_date, need_size) in tiers {
            for (k, item) in items.iter().enumerate() {
                if found[k].is_some() {
                    continue;
                }
                if item.message_id.is_none() && (!need_size || !need_date) {
                    continue;
                }
                let hit = metas.iter().enumerate().find(|(i, m)| {
                    m.uid >= floor
                        && !claimed.contains(i)
                        && same_id(item, m)
                        && (!need_date || same_date(item, m))
                        && (!need_size || m.size == item.size)
                });
                if let Some((i, _)) = hit {
                    claimed.insert(i);
                    found[k] = Some((i, Found::ByContent));
                }
            }
        }
        let mut duplicates = Vec::new();
        for (k, item) in items.iter().enumerate() {
            if found[k].is_none() {
                continue;
            }
            for (i, m) in metas.iter().enumerate() {
                if m.uid >= floor
                    && !claimed.contains(&i)
                    && same_id(item, m)
                    && same_date(item, m)
                    && m.size == item.size
                {
                    claimed.insert(i);
                    duplicates.push((k, i));
                }
            }
        }
        let others = (0..metas.len()).filter(|i| !claimed.contains(i)).collect();
        Matches {
            found,
            duplicates,
            others,
        }
    }

    const IDS: &[Option<&str>] = &[None, Some("<a>"), Some("<b>"), Some("<c>")];
    const DATES: &[&str] = &[D1, D2];

    proptest::proptest! {
        /// Small domains of IDs, dates, sizes and UIDs, so that duplicates, copies
        /// below the floor, stale journal UIDs and messages carrying two IDs (Exchange's
        /// parent ID) all occur.
        #[test]
        fn indexed_matching_agrees_with_every_item_against_every_meta(
            items in proptest::collection::vec((0..4usize, 0..2usize, 1..4u64, proptest::option::of(1..12u32)), 0..12),
            metas in proptest::collection::vec((0..4usize, 0..4usize, 0..2usize, 1..4u64), 0..14),
            strict: bool,
            floor in 1..6u32,
        ) {
            let its: Vec<Item> = items.iter().map(|&(id, d, size, _)| item(IDS[id], DATES[d], size)).collect();
            let juids: Vec<Option<u32>> = items.iter().map(|t| t.3).collect();
            let ms: Vec<FetchedMeta> = metas
                .iter()
                .enumerate()
                .map(|(n, &(id, id2, d, size))| {
                    let mut m = meta(n as u32 + 1, IDS[id], DATES[d], size);
                    if let Some(x) = IDS[id2].filter(|_| id > 0) {
                        m.message_ids.push(x.to_owned());
                    }
                    m
                })
                .collect();
            let a = match_folder(&its, &juids, &ms, strict, floor);
            let b = match_folder_naive(&its, &juids, &ms, strict, floor);
            proptest::prop_assert_eq!(a.found, b.found);
            proptest::prop_assert_eq!(a.duplicates, b.duplicates);
            proptest::prop_assert_eq!(a.others, b.others);
        }
    }
}
