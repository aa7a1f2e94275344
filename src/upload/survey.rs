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

use chrono::{DateTime, FixedOffset};

use super::journal::{Journal, JournalError, Record, State};
use super::plan::{self, FolderPlan};
use super::send::{Item, item_of};
use super::{UploadError, UploadOptions, excluded};
use crate::imap::{self, Connection, FetchedMeta, proto::format_uid_set};
use crate::stage::reader::{ReadError, StagedIndex};

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

/// The staged messages of folder `f` whose journal state `keep` accepts, in manifest
/// order, with their journaled UID; and how many staged messages the folder has in
/// all.
pub(super) fn staged(
    index: &StagedIndex,
    f: u32,
    journal: &Journal,
    mut keep: impl FnMut(Option<State>) -> bool,
) -> Result<(Staged, u64), UploadError> {
    // Sized first (for rollback an upper bound, trimmed below): growing the largest
    // list by doubling leaves the copies it outgrew as holes in the heap.
    let mut out = Staged::default();
    out.msgs
        .reserve_exact(index.slots.iter().filter(|s| s.folder == f).count());
    let mut total = 0;
    for (n, s) in index.slots.iter().enumerate() {
        if s.folder != f {
            continue;
        }
        if let Some(i) = item_of(&index.entry(s)?) {
            total += 1;
            let state = journal.state(&i.path);
            if keep(state) {
                let stored = match state {
                    Some(State::Stored {
                        uidvalidity,
                        uid: Some(u),
                        ..
                    }) => Some((uidvalidity, u)),
                    _ => None,
                };
                // slots are counted by messages: u32 like everything per message here
                out.push(&i, n as u32, stored);
            }
        }
    }
    out.shrink();
    Ok((out, total))
}

/// Every message of the selected folder with UID ≥ `from`.
pub(super) fn fetch_all(
    conn: &mut Connection,
    from: u32,
    messages: u32,
) -> Result<Server, UploadError> {
    let mut out = Server::default();
    if messages == 0 {
        return Ok(out);
    }
    // Sized by EXISTS (see `staged`), but not beyond what a mailbox can plausibly
    // hold: the number is the server's.
    out.msgs.reserve_exact(messages.min(1 << 20) as usize);
    conn.uid_fetch_meta_each(&format!("{}:*", from.max(1)), true, false, |m| {
        if m.uid >= from {
            out.push(m);
        }
    })?;
    out.shrink();
    Ok(out)
}

/// Many short strings in one buffer: an index of 8 bytes per string instead of a
/// `String` each (24 bytes and an allocation of its own, ~700 bytes per message of
/// the largest folder in all before this).
#[derive(Debug, Default)]
struct Strings {
    text: String,
    /// End of each string in `text`; it starts where the previous one ends.
    ends: Vec<usize>,
}

impl Strings {
    fn push(&mut self, s: &str) -> u32 {
        self.text.push_str(s);
        self.ends.push(self.text.len());
        // a folder's strings are counted by its messages, whose UIDs are u32
        (self.ends.len() - 1) as u32
    }

    fn get(&self, i: u32) -> &str {
        let i = i as usize;
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.text[start..self.ends[i]]
    }

    fn shrink(&mut self) {
        self.text.shrink_to_fit();
        self.ends.shrink_to_fit();
    }
}

/// Flag lists, each distinct one kept once: a folder has few distinct combinations
/// of flags and keywords, and a message refers to its list by number.
#[derive(Debug, Default)]
struct FlagSets {
    sets: Vec<Vec<String>>,
    ids: HashMap<Vec<String>, u32>,
}

impl FlagSets {
    fn intern(&mut self, flags: &[String]) -> u32 {
        if let Some(&i) = self.ids.get(flags) {
            return i;
        }
        let i = self.sets.len() as u32;
        self.sets.push(flags.to_vec());
        self.ids.insert(flags.to_vec(), i);
        i
    }

    fn get(&self, i: u32) -> &[String] {
        &self.sets[i as usize]
    }
}

/// Marks "no string" where a `Strings` index would be.
const NONE: u32 = u32::MAX;

/// One staged message as matching needs it; strings are in [`Staged`].
#[derive(Debug, Clone, Copy)]
struct StagedMsg {
    /// Index into [`StagedIndex::slots`]: the path is read from the manifest again
    /// when a report or the journal needs it (a copy of every path was the largest
    /// string kept).
    slot: u32,
    /// (UIDVALIDITY, UID) the journal stored it under.
    stored: Option<(u32, u32)>,
    /// Message-ID, or [`NONE`].
    id: u32,
    flags: u32,
    size: u64,
    date: DateTime<FixedOffset>,
}

/// The staged messages of one folder (or those of them a command works on), compact:
/// verify and rollback hold the largest folder's list whole while matching.
#[derive(Debug, Default)]
pub(super) struct Staged {
    msgs: Vec<StagedMsg>,
    ids: Strings,
    flags: FlagSets,
}

impl Staged {
    /// Adds `item`, which is at `slot` of the index and was stored under `stored`
    /// (UIDVALIDITY, UID) as far as the journal knows. Its path and SHA-256 are not
    /// kept.
    pub(super) fn push(&mut self, item: &Item, slot: u32, stored: Option<(u32, u32)>) {
        let id = item
            .message_id
            .as_deref()
            .map_or(NONE, |x| self.ids.push(x));
        let flags = self.flags.intern(&item.flags);
        self.msgs.push(StagedMsg {
            slot,
            stored,
            id,
            flags,
            size: item.size,
            date: item.date,
        });
    }

    fn shrink(&mut self) {
        self.msgs.shrink_to_fit();
        self.ids.shrink();
    }

    /// How many.
    pub(super) fn len(&self) -> usize {
        self.msgs.len()
    }

    /// Whether there are none.
    pub(super) fn is_empty(&self) -> bool {
        self.msgs.is_empty()
    }

    /// Staged path of message `k`, read from the manifest of `index` (the one the
    /// messages came from).
    pub(super) fn path(&self, index: &StagedIndex, k: usize) -> Result<String, ReadError> {
        let e = index.entry(&index.slots[self.msgs[k].slot as usize])?;
        // `item_of` only lets entries with a path in
        Ok(e.path.unwrap_or_default())
    }

    /// Per message, the journal's UID when the folder's UIDVALIDITY is still
    /// `uidvalidity` (the UID means nothing otherwise).
    pub(super) fn journal_uids(&self, uidvalidity: u32) -> Vec<Option<u32>> {
        self.msgs
            .iter()
            .map(|m| m.stored.filter(|&(v, _)| v == uidvalidity).map(|(_, u)| u))
            .collect()
    }

    /// Message-ID of message `k`.
    pub(super) fn message_id(&self, k: usize) -> Option<&str> {
        let id = self.msgs[k].id;
        (id != NONE).then(|| self.ids.get(id))
    }

    /// Staged INTERNALDATE of message `k`.
    pub(super) fn date(&self, k: usize) -> &DateTime<FixedOffset> {
        &self.msgs[k].date
    }

    /// Size of message `k`.
    pub(super) fn size(&self, k: usize) -> u64 {
        self.msgs[k].size
    }

    /// Manifest flags of message `k`.
    pub(super) fn flags(&self, k: usize) -> &[String] {
        self.flags.get(self.msgs[k].flags)
    }
}

/// One server message as matching needs it; strings are in [`Server`].
#[derive(Debug, Clone, Copy)]
struct Meta {
    uid: u32,
    flags: u32,
    /// First of its Message-IDs in `Server::ids`, consecutive.
    ids: u32,
    /// How many (`Message-ID`, `X-MS-Exchange-Parent-Message-Id`: at most two).
    id_count: u32,
    /// The INTERNALDATE text as sent, in `Server::dates`, when [`crate::imap::imap_date`]
    /// of the parsed date would not give it back (unparsable, or a space-padded
    /// day); else [`NONE`].
    raw_date: u32,
    size: u64,
    date: Option<DateTime<FixedOffset>>,
}

/// A folder's messages on the server, compact (see [`Staged`]).
#[derive(Debug, Default)]
pub(super) struct Server {
    msgs: Vec<Meta>,
    ids: Strings,
    dates: Strings,
    flags: FlagSets,
}

impl Server {
    /// Adds `m` (its body, if any, is not kept).
    pub(super) fn push(&mut self, m: FetchedMeta) {
        let date = imap::parse_imap_date(&m.internal_date);
        let raw_date = match &date {
            Some(d) if imap::imap_date(d) == m.internal_date => NONE,
            _ => self.dates.push(&m.internal_date),
        };
        let ids = self.ids.ends.len() as u32;
        for id in &m.message_ids {
            self.ids.push(id);
        }
        self.msgs.push(Meta {
            uid: m.uid,
            flags: self.flags.intern(&m.flags),
            ids,
            id_count: m.message_ids.len() as u32,
            raw_date,
            size: m.size,
            date,
        });
    }

    fn shrink(&mut self) {
        self.msgs.shrink_to_fit();
        self.ids.shrink();
        self.dates.shrink();
    }

    /// How many.
    pub(super) fn len(&self) -> usize {
        self.msgs.len()
    }

    /// UID of message `i`.
    pub(super) fn uid(&self, i: usize) -> u32 {
        self.msgs[i].uid
    }

    /// RFC822.SIZE of message `i`.
    pub(super) fn size(&self, i: usize) -> u64 {
        self.msgs[i].size
    }

    /// INTERNALDATE of message `i`, parsed (`None` when it does not parse).
    pub(super) fn date(&self, i: usize) -> Option<&DateTime<FixedOffset>> {
        self.msgs[i].date.as_ref()
    }

    /// INTERNALDATE of message `i` exactly as the server sent it.
    pub(super) fn internal_date(&self, i: usize) -> String {
        let m = &self.msgs[i];
        match (m.raw_date, &m.date) {
            (NONE, Some(d)) => imap::imap_date(d),
            (raw, _) => self.dates.get(raw).to_owned(),
        }
    }

    /// FLAGS of message `i`.
    pub(super) fn flags(&self, i: usize) -> &[String] {
        self.flags.get(self.msgs[i].flags)
    }

    /// Message-IDs of message `i` (both headers, as fetched).
    fn message_ids(&self, i: usize) -> impl Iterator<Item = &str> {
        let m = &self.msgs[i];
        (m.ids..m.ids + m.id_count).map(|n| self.ids.get(n))
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

fn same_id(items: &Staged, k: usize, metas: &Server, i: usize) -> bool {
    match items.message_id(k) {
        Some(id) => metas.message_ids(i).any(|x| x == id),
        None => metas.msgs[i].id_count == 0,
    }
}

fn same_date(items: &Staged, k: usize, metas: &Server, i: usize) -> bool {
    metas.date(i).is_some_and(|d| d == items.date(k))
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
    items: &Staged,
    journal_uids: &[Option<u32>],
    metas: &Server,
    strict: bool,
    floor: u32,
) -> Matches {
    let mut claimed = vec![false; metas.len()];
    // (UID, meta) sorted: 8 bytes a message where a HashMap took ~20. With two metas
    // of one UID (a broken server) the later one answers, as when this was a map.
    let mut by_uid: Vec<(u32, u32)> = (0..metas.len()).map(|i| (metas.uid(i), i as u32)).collect();
    by_uid.sort_unstable();
    let uid_meta = |u: u32| {
        let end = by_uid.partition_point(|&(x, _)| x <= u);
        (end > 0 && by_uid[end - 1].0 == u).then(|| by_uid[end - 1].1 as usize)
    };
    let mut found: Vec<Option<(usize, Found)>> = vec![None; items.len()];
    for (k, juid) in journal_uids.iter().enumerate().take(items.len()) {
        if let Some(u) = *juid
            && let Some(i) = uid_meta(u)
        {
            let ok = if items.message_id(k).is_some() {
                same_id(items, k, metas, i)
            } else {
                metas.size(i) == items.size(k) && same_date(items, k, metas, i)
            };
            if ok && !claimed[i] {
                claimed[i] = true;
                found[k] = Some((i, Found::ByUid));
            }
        }
    }
    // gone before the content index is built: the two are never needed at once
    drop(by_uid);
    let cands = Candidates::new(metas);
    // content matches: best first (date and size), then weaker ones
    let tiers: &[(bool, bool)] = if strict {
        &[(true, true), (true, false)]
    } else {
        &[(true, true), (true, false), (false, true), (false, false)]
    };
    for &(need_date, need_size) in tiers {
        for (k, slot) in found.iter_mut().enumerate() {
            if slot.is_some() {
                continue;
            }
            if items.message_id(k).is_none() && (!need_size || !need_date) {
                // without a Message-ID only date and size identify a message
                continue;
            }
            let hit = cands.of(items, k).find(|&i| {
                metas.uid(i) >= floor
                    && !claimed[i]
                    && same_id(items, k, metas, i)
                    && (!need_date || same_date(items, k, metas, i))
                    && (!need_size || metas.size(i) == items.size(k))
            });
            if let Some(i) = hit {
                claimed[i] = true;
                *slot = Some((i, Found::ByContent));
            }
        }
    }
    let mut duplicates = Vec::new();
    for (k, slot) in found.iter().enumerate() {
        if slot.is_none() {
            continue;
        }
        for i in cands.of(items, k) {
            if metas.uid(i) >= floor
                && !claimed[i]
                && same_id(items, k, metas, i)
                && same_date(items, k, metas, i)
                && metas.size(i) == items.size(k)
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
/// Each run of one key is in ascending meta order, which is the order a scan over all
/// metas would meet them in, so the first acceptable candidate is the same one.
/// Message-IDs are keyed by a 64-bit hash rather than a copy of the text: a run may
/// hold a message with another ID whose hash collides, which is why callers still
/// check [`same_id`]. Sorted vectors of (key, meta) rather than a map of lists: 12
/// bytes a message instead of a list (and an allocation) each.
struct Candidates {
    /// (Hash of a Message-ID (either header), meta carrying it), sorted.
    by_id: Vec<(u64, u32)>,
    /// (Size, meta without any Message-ID), sorted.
    no_id_by_size: Vec<(u64, u32)>,
}

impl Candidates {
    fn key(id: &str) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::hash::DefaultHasher::new();
        id.hash(&mut h);
        h.finish()
    }

    fn new(metas: &Server) -> Self {
        let mut by_id = Vec::with_capacity(metas.ids.ends.len());
        let mut no_id_by_size = Vec::new();
        for i in 0..metas.len() {
            if metas.msgs[i].id_count == 0 {
                no_id_by_size.push((metas.size(i), i as u32));
            }
            for id in metas.message_ids(i) {
                by_id.push((Self::key(id), i as u32));
            }
        }
        by_id.sort_unstable();
        // both headers may carry the same ID (or two IDs one hash): list the message once
        by_id.dedup();
        no_id_by_size.sort_unstable();
        Candidates {
            by_id,
            no_id_by_size,
        }
    }

    /// A superset of the metas [`same_id`] accepts for item `k`, in meta order: those
    /// with its Message-ID (or a colliding hash); for an item without one, the metas
    /// without one of its size (without a Message-ID only an exact size may match,
    /// see [`match_folder`]).
    fn of(&self, items: &Staged, k: usize) -> impl Iterator<Item = usize> + '_ {
        let (list, key) = match items.message_id(k) {
            Some(id) => (&self.by_id, Self::key(id)),
            None => (&self.no_id_by_size, items.size(k)),
        };
        let start = list.partition_point(|&(x, _)| x < key);
        list[start..]
            .iter()
            .take_while(move |&&(x, _)| x == key)
            .map(|&(_, i)| i as usize)
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

    fn staged(items: &[Item]) -> Staged {
        let mut s = Staged::default();
        for (k, i) in items.iter().enumerate() {
            s.push(i, k as u32, None);
        }
        s
    }

    fn server(metas: &[FetchedMeta]) -> Server {
        let mut s = Server::default();
        for m in metas {
            s.push(m.clone());
        }
        s
    }

    /// [`match_folder`] on the types the naive version takes.
    fn match_plain(
        items: &[Item],
        journal_uids: &[Option<u32>],
        metas: &[FetchedMeta],
        strict: bool,
        floor: u32,
    ) -> Matches {
        match_folder(&staged(items), journal_uids, &server(metas), strict, floor)
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
        let m = match_plain(&items, &[Some(5), None, None], &metas, true, 1);
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
        let m = match_plain(&items, &[None, None, None], &metas, false, 6);
        assert_eq!(m.found[0], None);
        assert_eq!(m.found[1], Some((2, Found::ByContent)));
        assert!(m.others.contains(&0) && m.others.contains(&1));
    }

    #[test]
    fn strict_refuses_another_date_verify_reports_it() {
        let items = vec![item(Some("<a>"), D1, 10)];
        let metas = vec![meta(3, Some("<a>"), D2, 10)];
        assert_eq!(
            match_plain(&items, &[None], &metas, true, 1).found,
            vec![None]
        );
        assert_eq!(
            match_plain(&items, &[None], &metas, false, 1).found,
            vec![Some((0, Found::ByContent))]
        );
        // a UID now holding another message is not ours
        let metas = vec![meta(3, Some("<x>"), D1, 10)];
        assert_eq!(
            match_plain(&items, &[Some(3)], &metas, false, 1).found,
            vec![None]
        );
    }

    #[test]
    fn server_keeps_what_verify_reports() {
        let mut m = meta(4, Some("<a>"), D1, 10);
        m.flags = vec!["\\Seen".into(), "$label1".into()];
        m.message_ids.push("<p>".into());
        m.body = Some(b"body".to_vec());
        let mut odd = meta(5, None, D1, 10);
        odd.internal_date = " 4-Jan-2010 09:15:02 +0000".into();
        let mut bad = meta(6, None, D1, 10);
        bad.internal_date = "yesterday".into();
        let s = server(&[m.clone(), odd, bad, m.clone()]);
        assert_eq!(s.len(), 4);
        assert_eq!(s.internal_date(0), "04-Jan-2010 09:15:02 +0000");
        // a space-padded day and an unparsable date are reported as the server sent them
        assert_eq!(s.internal_date(1), " 4-Jan-2010 09:15:02 +0000");
        assert_eq!(s.date(1), s.date(0));
        assert_eq!(s.internal_date(2), "yesterday");
        assert_eq!(s.date(2), None);
        assert_eq!(s.flags(3), m.flags.as_slice());
        assert_eq!(s.flags.sets.len(), 2);
        assert_eq!(s.message_ids(3).collect::<Vec<_>>(), ["<a>", "<p>"]);
        assert_eq!(s.message_ids(1).count(), 0);
        let it = item(None, D2, 30);
        let st = staged(&[item(Some("<a>"), D1, 10), it.clone()]);
        assert_eq!(st.message_id(0), Some("<a>"));
        assert_eq!(st.message_id(1), None);
        assert_eq!(st.msgs[1].slot, 1);
        assert_eq!((st.size(1), *st.date(1)), (30, it.date));
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

    /// The matching as it was before [`Candidates`] and the compact [`Staged`] and
    /// [`Server`]: every item against every meta, on `Item` and `FetchedMeta` as
    /// fetched. Kept as the reference the indexed version must agree with.
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
            let a = match_plain(&its, &juids, &ms, strict, floor);
            let b = match_folder_naive(&its, &juids, &ms, strict, floor);
            proptest::prop_assert_eq!(a.found, b.found);
            proptest::prop_assert_eq!(a.duplicates, b.duplicates);
            proptest::prop_assert_eq!(a.others, b.others);
        }
    }
}
