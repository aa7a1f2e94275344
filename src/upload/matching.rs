//! Matching a folder's staged messages with the folder's messages on the server, for
//! `verify` and `rollback`.
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
//!
//! [`match_folder`] does this for lists held whole; [`Matcher`] gives the same answer
//! holding only pieces of about [`PIECE`] messages of each side at a time, so that
//! memory does not grow with the folder.
//!
//! # Bounded pieces
//!
//! A folder of up to [`PIECE`] messages (staged or on the server, whichever is more)
//! is matched whole, in memory. A larger one is cut into K = ⌈n / PIECE⌉ buckets
//! twice, on disk ([`super::spill`]):
//!
//! - by UID for step 1: a staged message goes to bucket `journal UID mod K`, a server
//!   message to `UID mod K`. Step 1 pairs a staged message only with the server
//!   message under its own journal UID, and two staged messages compete only for the
//!   same UID, so each bucket is matched on its own, its staged messages in manifest
//!   order as before; with two server messages of one UID (a broken server) both are
//!   in the same bucket, and the later answers as before;
//! - by content for steps 2 and 3: a staged message goes to the bucket of a hash of
//!   its Message-ID (of its size and date when it has none), a server message to the
//!   bucket of each of its Message-IDs (of its size and date when it has none). Those
//!   steps only pair messages sharing a Message-ID (or, without one, size and date:
//!   many messages without Message-ID do not crowd one bucket), so every pair they can
//!   make is inside one bucket, and buckets touch disjoint server messages — except a
//!   server message carrying two Message-IDs that fall into two buckets (Exchange's
//!   parent ID). Such a message is a problem only if both buckets hold a staged
//!   message with one of its IDs; then the order between the buckets would decide who
//!   gets it, so those buckets are merged and matched as one ([`pieces`]). Before
//!   that, each bucket's staged Message-IDs are read once to find out.
//!
//! Within a bucket the staged messages keep their manifest order and the server
//! messages their FETCH order, and what step 1 claimed stays claimed (one bit per
//! message: [`Bits`]), so each bucket decides exactly what the whole-folder matching
//! would; the tests compare the two on random folders. The results come out bucket by
//! bucket ([`Outcome`]); the callers put them back in manifest order.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, FixedOffset};

use super::journal::State;
use super::send::Item;
use crate::imap::{self, FetchedMeta};
use crate::spill::{Dec, Enc, Spill, SpillError, strs_of};

/// Messages per bucket, about: the most of either side matching holds at a time
/// (~250 bytes a message with both sides and the index).
pub(super) const PIECE: u64 = 4096;

/// [`PIECE`], or the environment's `MAILSTAGE_PIECE` (at least 1): the integration
/// tests cut their small folders into buckets of a few messages with it, to run the
/// partitioned matching against a real server. Read once.
pub(super) fn piece() -> u64 {
    static PIECE_ENV: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *PIECE_ENV.get_or_init(|| {
        std::env::var("MAILSTAGE_PIECE")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .map_or(PIECE, |n| n.max(1))
    })
}

/// How many buckets a folder of `n` messages (the larger side) is cut into.
pub(super) fn buckets_for(n: u64) -> usize {
    n.div_ceil(piece()).max(1) as usize
}

/// Many short strings in one buffer: an index of 8 bytes per string instead of a
/// `String` each (24 bytes and an allocation of its own).
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

    fn len(&self) -> usize {
        self.ends.len()
    }
}

/// Flag lists, each distinct one kept once: a folder has few distinct combinations
/// of flags and keywords, and a message refers to its list by number. Looked up by the
/// list's encoded bytes ([`Enc::strs`]), so that a record's flags are compared without
/// decoding them.
#[derive(Debug, Default)]
struct FlagSets {
    sets: Vec<Vec<String>>,
    ids: HashMap<Vec<u8>, u32>,
}

impl FlagSets {
    fn intern(&mut self, raw: &[u8]) -> Result<u32, SpillError> {
        if let Some(&i) = self.ids.get(raw) {
            return Ok(i);
        }
        let i = self.sets.len() as u32;
        self.sets.push(strs_of(raw)?);
        self.ids.insert(raw.to_vec(), i);
        Ok(i)
    }

    fn get(&self, i: u32) -> &[String] {
        &self.sets[i as usize]
    }
}

/// Marks "no string" where a `Strings` index would be.
const NONE: u32 = u32::MAX;

/// Writes a date as its instant (seconds, nanoseconds) and UTC offset, so that it
/// comes back exactly, offset included (verify prints it).
fn put_date(e: &mut Enc, d: &DateTime<FixedOffset>) {
    e.i64(d.timestamp())
        .u32(d.timestamp_subsec_nanos())
        .u32(d.offset().local_minus_utc() as u32);
}

fn get_date(d: &mut Dec) -> Result<DateTime<FixedOffset>, SpillError> {
    let (secs, nanos, offset) = (d.i64()?, d.u32()?, d.u32()? as i32);
    FixedOffset::east_opt(offset)
        .and_then(|o| DateTime::from_timestamp(secs, nanos).map(|t| t.with_timezone(&o)))
        .ok_or_else(|| SpillError::corrupt("date out of range"))
}

/// Byte offset of the journal state in an item record, and its length.
const STATE_AT: usize = 24;
const STATE_LEN: usize = 11;

fn put_state(e: &mut Enc, s: Option<State>) {
    let (tag, v, uid, flagged) = match s {
        None => (0, 0, None, false),
        Some(State::Uncertain) => (1, 0, None, false),
        Some(State::Stored {
            uidvalidity,
            uid,
            flagged,
        }) => (2, uidvalidity, uid, flagged),
        Some(State::Failed) => (3, 0, None, false),
        Some(State::Removed) => (4, 0, None, false),
    };
    e.u8(tag)
        .u32(v)
        .u8(uid.is_some() as u8)
        .u32(uid.unwrap_or(0))
        .u8(flagged as u8);
}

fn get_state(d: &mut Dec) -> Result<Option<State>, SpillError> {
    let (tag, v, has_uid, uid, flagged) = (d.u8()?, d.u32()?, d.u8()?, d.u32()?, d.u8()?);
    Ok(match tag {
        0 => None,
        1 => Some(State::Uncertain),
        2 => Some(State::Stored {
            uidvalidity: v,
            uid: (has_uid != 0).then_some(uid),
            flagged: flagged != 0,
        }),
        3 => Some(State::Failed),
        4 => Some(State::Removed),
        _ => return Err(SpillError::corrupt("journal state")),
    })
}

/// One staged message as verify and rollback keep it on disk: what matching and the
/// reports need of its manifest entry, and its journal state. Borrowed from the
/// record ([`ItemView::decode`]).
#[derive(Debug, Clone, Copy)]
pub(super) struct ItemView<'a> {
    /// Its place among the staged messages of its folder (manifest order: 0, 1, …).
    pub(super) ord: u32,
    /// Its folder (index into the manifest's folders).
    pub(super) folder: u32,
    /// [`super::journal::key`] of its path.
    pub(super) key: u128,
    /// What the journal says.
    pub(super) state: Option<State>,
    /// Staged size.
    pub(super) size: u64,
    /// Staged INTERNALDATE.
    pub(super) date: DateTime<FixedOffset>,
    /// Staged path.
    pub(super) path: &'a str,
    /// Message-ID.
    pub(super) message_id: Option<&'a str>,
    /// Manifest flags, encoded ([`Enc::strs`]).
    pub(super) flags: &'a [u8],
    /// Staged SHA-256 (hex), empty when the manifest has none.
    pub(super) sha256: &'a str,
}

impl<'a> ItemView<'a> {
    /// Encodes a staged message (its state: none yet, see [`ItemView::set_state`]).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn encode(
        e: &mut Enc,
        ord: u32,
        folder: u32,
        key: u128,
        size: u64,
        date: &DateTime<FixedOffset>,
        path: &str,
        message_id: Option<&str>,
        flags: &[String],
        sha256: &str,
    ) {
        e.clear().u32(ord).u32(folder).u128(key);
        put_state(e, None);
        e.u64(size);
        put_date(e, date);
        e.str(path).opt_str(message_id).strs(flags).str(sha256);
    }

    /// Sets the journal state in an encoded record.
    pub(super) fn set_state(rec: &mut [u8], state: Option<State>) {
        let mut e = Enc::default();
        put_state(&mut e, state);
        rec[STATE_AT..STATE_AT + STATE_LEN].copy_from_slice(&e.buf);
    }

    /// Reads a record [`ItemView::encode`] wrote.
    pub(super) fn decode(rec: &'a [u8]) -> Result<Self, SpillError> {
        let mut d = Dec(rec);
        let (ord, folder, key) = (d.u32()?, d.u32()?, d.u128()?);
        let state = get_state(&mut d)?;
        let size = d.u64()?;
        let date = get_date(&mut d)?;
        let path = d.str()?;
        let message_id = d.opt_str()?;
        let (flags, _) = d.strs_raw()?;
        let sha256 = d.str()?;
        Ok(ItemView {
            ord,
            folder,
            key,
            state,
            size,
            date,
            path,
            message_id,
            flags,
            sha256,
        })
    }
}

/// One server message as [`Matcher`] keeps it on disk: a [`FetchedMeta`] without
/// body, its INTERNALDATE parsed once.
#[derive(Debug, Clone, Copy)]
struct MetaView<'a> {
    /// FETCH order in the folder.
    index: u32,
    uid: u32,
    size: u64,
    date: Option<DateTime<FixedOffset>>,
    /// The INTERNALDATE text, when formatting `date` would not give it back.
    raw_date: Option<&'a str>,
    /// FLAGS, encoded.
    flags: &'a [u8],
    /// Message-IDs, encoded, and how many.
    ids: &'a [u8],
    id_count: u32,
}

impl<'a> MetaView<'a> {
    /// Encodes `m`, the `index`-th message FETCH gave; returns its parsed date.
    fn encode(e: &mut Enc, index: u32, m: &FetchedMeta) -> Option<DateTime<FixedOffset>> {
        let date = imap::parse_imap_date(&m.internal_date);
        // Kept as text only when the parsed date would not print back to it (an
        // unparsable one, a space-padded day), so that verify's `wrong_date` detail
        // is what the server sent.
        let raw = match &date {
            Some(d) if imap::imap_date(d) == m.internal_date => None,
            _ => Some(m.internal_date.as_str()),
        };
        e.clear().u32(index).u32(m.uid).u64(m.size);
        match &date {
            Some(d) => {
                e.u8(1);
                put_date(e, d);
            }
            None => {
                e.u8(0);
            }
        }
        e.opt_str(raw).strs(&m.flags).strs(&m.message_ids);
        date
    }

    fn decode(rec: &'a [u8]) -> Result<Self, SpillError> {
        let mut d = Dec(rec);
        let (index, uid, size) = (d.u32()?, d.u32()?, d.u64()?);
        let date = match d.u8()? {
            0 => None,
            _ => Some(get_date(&mut d)?),
        };
        let raw_date = d.opt_str()?;
        let (flags, _) = d.strs_raw()?;
        let (ids, id_count) = d.strs_raw()?;
        Ok(MetaView {
            index,
            uid,
            size,
            date,
            raw_date,
            flags,
            ids,
            id_count,
        })
    }

    fn ids(&self) -> impl Iterator<Item = Result<&'a str, SpillError>> + 'a {
        let mut d = Dec(self.ids);
        let n = d.u32().unwrap_or(0);
        (0..n).map(move |_| d.str())
    }
}

/// One staged message as matching needs it; strings are in [`Staged`].
#[derive(Debug, Clone, Copy)]
struct StagedMsg {
    /// Manifest order.
    ord: u32,
    /// Order in which it was given to the [`Matcher`].
    pushed: u32,
    /// The journal's UID, when the folder's UIDVALIDITY is the journaled one.
    juid: Option<u32>,
    /// Whether the journal mentions it at all.
    journaled: bool,
    /// Message-ID, or [`NONE`].
    id: u32,
    path: u32,
    flags: u32,
    size: u64,
    date: DateTime<FixedOffset>,
}

/// Staged messages of one folder (or of a bucket of it), compact.
#[derive(Debug, Default)]
pub(super) struct Staged {
    msgs: Vec<StagedMsg>,
    ids: Strings,
    paths: Strings,
    flags: FlagSets,
}

impl Staged {
    /// Adds `item`, the `pushed`-th message given to the matcher, with the journal's
    /// UID when it applies.
    fn push(&mut self, item: &ItemView, pushed: u32, juid: Option<u32>) -> Result<(), SpillError> {
        let id = item.message_id.map_or(NONE, |x| self.ids.push(x));
        let flags = self.flags.intern(item.flags)?;
        let path = self.paths.push(item.path);
        self.msgs.push(StagedMsg {
            ord: item.ord,
            pushed,
            juid,
            journaled: item.state.is_some(),
            id,
            path,
            flags,
            size: item.size,
            date: item.date,
        });
        Ok(())
    }

    /// Manifest order, as matching takes them.
    fn sort(&mut self) {
        self.msgs.sort_unstable_by_key(|m| m.ord);
    }

    /// How many.
    pub(super) fn len(&self) -> usize {
        self.msgs.len()
    }

    /// Whether there are none.
    pub(super) fn is_empty(&self) -> bool {
        self.msgs.is_empty()
    }

    /// Manifest order of message `k` (the callers' sort key).
    pub(super) fn ord(&self, k: usize) -> u32 {
        self.msgs[k].ord
    }

    /// Staged path of message `k`.
    pub(super) fn path(&self, k: usize) -> &str {
        self.paths.get(self.msgs[k].path)
    }

    /// Whether the journal mentions message `k`.
    pub(super) fn journaled(&self, k: usize) -> bool {
        self.msgs[k].journaled
    }

    fn juid(&self, k: usize) -> Option<u32> {
        self.msgs[k].juid
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
    /// FETCH order in the folder.
    index: u32,
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

/// A folder's messages on the server (or a bucket of them), compact (see [`Staged`]).
#[derive(Debug, Default)]
pub(super) struct Server {
    msgs: Vec<Meta>,
    ids: Strings,
    dates: Strings,
    flags: FlagSets,
}

impl Server {
    fn push(&mut self, m: &MetaView) -> Result<(), SpillError> {
        let raw_date = m.raw_date.map_or(NONE, |d| self.dates.push(d));
        let ids = self.ids.len() as u32;
        for id in m.ids() {
            self.ids.push(id?);
        }
        self.msgs.push(Meta {
            index: m.index,
            uid: m.uid,
            flags: self.flags.intern(m.flags)?,
            ids,
            id_count: m.id_count,
            raw_date,
            size: m.size,
            date: m.date,
        });
        Ok(())
    }

    /// FETCH order, each message once (a bucket merged from several may have one
    /// twice).
    fn sort_dedup(&mut self) {
        self.msgs.sort_unstable_by_key(|m| m.index);
        self.msgs.dedup_by_key(|m| m.index);
    }

    /// How many.
    pub(super) fn len(&self) -> usize {
        self.msgs.len()
    }

    /// FETCH order of message `i` in the folder.
    pub(super) fn index(&self, i: usize) -> u32 {
        self.msgs[i].index
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

/// How a staged message was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Found {
    /// Under the journal's UID.
    ByUid,
    /// By Message-ID / size and date.
    ByContent,
}

/// The outcome of matching one folder held whole.
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

/// Step 1: each staged message under its journal UID, if the message there is it.
fn match_uids(
    items: &Staged,
    metas: &Server,
    claimed: &mut [bool],
    found: &mut [Option<(usize, Found)>],
) {
    // (UID, meta) sorted: 8 bytes a message where a HashMap took ~20. With two metas
    // of one UID (a broken server) the later one answers, as when this was a map.
    let mut by_uid: Vec<(u32, u32)> = (0..metas.len()).map(|i| (metas.uid(i), i as u32)).collect();
    by_uid.sort_unstable();
    let uid_meta = |u: u32| {
        let end = by_uid.partition_point(|&(x, _)| x <= u);
        (end > 0 && by_uid[end - 1].0 == u).then(|| by_uid[end - 1].1 as usize)
    };
    for (k, slot) in found.iter_mut().enumerate() {
        if let Some(u) = items.juid(k)
            && let Some(i) = uid_meta(u)
        {
            let ok = if items.message_id(k).is_some() {
                same_id(items, k, metas, i)
            } else {
                metas.size(i) == items.size(k) && same_date(items, k, metas, i)
            };
            if ok && !claimed[i] {
                claimed[i] = true;
                *slot = Some((i, Found::ByUid));
            }
        }
    }
}

/// Steps 2 and 3, after step 1 left `claimed` and `found`: content matches, then the
/// duplicates, returned as (item, meta).
fn match_content(
    items: &Staged,
    metas: &Server,
    strict: bool,
    floor: u32,
    claimed: &mut [bool],
    found: &mut [Option<(usize, Found)>],
) -> Vec<(usize, usize)> {
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
    duplicates
}

/// Matches `items` (in manifest order, with the journal's UID for each when it still
/// applies) against `metas`, both held whole. `strict`: content matches need the
/// exact date (and size without Message-ID) — rollback; otherwise a Message-ID match
/// with another date is still the message (verify reports the date).
///
/// Content matches and duplicates are only looked for among UIDs ≥ `floor` (the
/// folder's UIDNEXT before mailstage first sent to it): older messages were the
/// user's before mailstage came, even when they are copies of staged ones.
pub(super) fn match_folder(items: &Staged, metas: &Server, strict: bool, floor: u32) -> Matches {
    let mut claimed = vec![false; metas.len()];
    let mut found = vec![None; items.len()];
    match_uids(items, metas, &mut claimed, &mut found);
    let duplicates = match_content(items, metas, strict, floor, &mut claimed, &mut found);
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

/// The 64-bit key of a Message-ID, for [`Candidates`] and the buckets.
fn id_key(id: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    id.hash(&mut h);
    h.finish()
}

/// The bucket key of a message without Message-ID: its size and INTERNALDATE (the
/// instant: equal dates are equal instants, [`same_date`]), which are all that such a
/// message is matched by in steps 2 and 3; a server message whose date does not
/// parse matches none of them, and goes by its size alone.
fn no_id_key(size: u64, date: Option<&DateTime<FixedOffset>>) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::hash::DefaultHasher::new();
    size.hash(&mut h);
    date.map(|d| (d.timestamp(), d.timestamp_subsec_nanos()))
        .hash(&mut h);
    h.finish()
}

impl Candidates {
    fn new(metas: &Server) -> Self {
        let mut by_id = Vec::with_capacity(metas.ids.len());
        let mut no_id_by_size = Vec::new();
        for i in 0..metas.len() {
            if metas.msgs[i].id_count == 0 {
                no_id_by_size.push((metas.size(i), i as u32));
            }
            for id in metas.message_ids(i) {
                by_id.push((id_key(id), i as u32));
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
    /// see [`match_content`]).
    fn of(&self, items: &Staged, k: usize) -> impl Iterator<Item = usize> + '_ {
        let (list, key) = match items.message_id(k) {
            Some(id) => (&self.by_id, id_key(id)),
            None => (&self.no_id_by_size, items.size(k)),
        };
        let start = list.partition_point(|&(x, _)| x < key);
        list[start..]
            .iter()
            .take_while(move |&&(x, _)| x == key)
            .map(|&(_, i)| i as usize)
    }
}

/// One bit per message.
#[derive(Debug)]
struct Bits(Vec<u64>);

impl Bits {
    fn new(n: u32) -> Self {
        Bits(vec![0; (n as usize).div_ceil(64)])
    }

    fn get(&self, i: u32) -> bool {
        self.0[i as usize / 64] >> (i % 64) & 1 == 1
    }

    fn set(&mut self, i: u32) {
        self.0[i as usize / 64] |= 1 << (i % 64);
    }

    fn count(&self) -> u64 {
        self.0.iter().map(|w| u64::from(w.count_ones())).sum()
    }
}

/// What matching found for one staged message, or one extra copy; `k` indexes
/// `items`, `i` indexes `metas` (the bucket they were matched in).
#[derive(Debug, Clone, Copy)]
pub(super) enum Outcome<'a> {
    /// Staged message `k` is server message `i`.
    Found {
        /// The staged messages of the bucket.
        items: &'a Staged,
        /// Which.
        k: usize,
        /// The server messages of the bucket.
        metas: &'a Server,
        /// Which.
        i: usize,
        /// How.
        how: Found,
    },
    /// Staged message `k` is not on the server.
    Missing {
        /// The staged messages of the bucket.
        items: &'a Staged,
        /// Which.
        k: usize,
    },
    /// Server message `i` is an extra copy of staged message `k`.
    Duplicate {
        /// The staged messages of the bucket.
        items: &'a Staged,
        /// Which.
        k: usize,
        /// The server messages of the bucket.
        metas: &'a Server,
        /// Which.
        i: usize,
    },
}

/// The buckets of a folder cut into several.
#[derive(Debug)]
struct Buckets {
    items_by_uid: Spill,
    items_by_content: Spill,
    metas_by_uid: Spill,
    metas_by_content: Spill,
    /// Per bucket, the server messages whose Message-IDs fall into more than one
    /// bucket: (meta, the keys of its IDs in this bucket, its other buckets).
    split: Spill,
    splits: u64,
}

/// Matches one folder in buckets of about [`PIECE`] messages (module docs): staged
/// and server messages are given to it one at a time, in any order for the staged
/// ones (they carry their manifest order) and in FETCH order for the server's.
#[derive(Debug)]
pub(super) struct Matcher {
    k: usize,
    /// With one bucket, both sides in memory.
    items: Staged,
    metas: Server,
    /// With more, on disk.
    buckets: Option<Buckets>,
    pushed_items: u32,
    pushed_metas: u32,
    enc: Enc,
}

/// What [`Matcher`] puts before a staged message's record: the order it was given in
/// (u32), whether it has a journal UID (u8) and the UID (u32).
const PREFIX: usize = 9;

/// A staged message as [`Matcher`] spills it: (order given, journal UID, record).
fn unprefix(rec: &[u8]) -> Result<(u32, Option<u32>, ItemView<'_>), SpillError> {
    let mut d = Dec(rec);
    let (pushed, has, juid) = (d.u32()?, d.u8()?, d.u32()?);
    Ok((
        pushed,
        (has != 0).then_some(juid),
        ItemView::decode(d.rest())?,
    ))
}

/// The content bucket of a staged message.
fn item_bucket(item: &ItemView, k: usize) -> usize {
    let key = item
        .message_id
        .map_or_else(|| no_id_key(item.size, Some(&item.date)), id_key);
    (key % k as u64) as usize
}

impl Matcher {
    /// For a folder of `n` messages (the larger side, as far as it is known).
    pub(super) fn new(n: u64) -> Self {
        Self::with_buckets(buckets_for(n), Spill::new)
    }

    /// `k` buckets, each spill made by `spill(k)` (tests use other limits).
    fn with_buckets(k: usize, spill: impl Fn(usize) -> Spill) -> Self {
        Matcher {
            k,
            items: Staged::default(),
            metas: Server::default(),
            buckets: (k > 1).then(|| Buckets {
                items_by_uid: spill(k),
                items_by_content: spill(k),
                metas_by_uid: spill(k),
                metas_by_content: spill(k),
                split: spill(k),
                splits: 0,
            }),
            pushed_items: 0,
            pushed_metas: 0,
            enc: Enc::default(),
        }
    }

    /// Adds a staged message: `rec` as [`ItemView::encode`] wrote it, and its journal
    /// UID when the folder's UIDVALIDITY is the journaled one.
    pub(super) fn push_item(&mut self, rec: &[u8], juid: Option<u32>) -> Result<(), SpillError> {
        let item = ItemView::decode(rec)?;
        let pushed = self.pushed_items;
        self.pushed_items += 1;
        let Some(b) = &mut self.buckets else {
            return self.items.push(&item, pushed, juid);
        };
        self.enc
            .clear()
            .u32(pushed)
            .u8(juid.is_some() as u8)
            .u32(juid.unwrap_or(0))
            .raw(rec);
        debug_assert_eq!(self.enc.buf.len(), PREFIX + rec.len());
        b.items_by_content
            .push(item_bucket(&item, self.k), &self.enc.buf)?;
        if let Some(u) = juid {
            b.items_by_uid.push(u as usize % self.k, &self.enc.buf)?;
        }
        Ok(())
    }

    /// Adds a staged message as upload holds it, `ord` its manifest order.
    pub(super) fn push_staged(
        &mut self,
        ord: u32,
        item: &Item,
        juid: Option<u32>,
    ) -> Result<(), SpillError> {
        let mut e = Enc::default();
        ItemView::encode(
            &mut e,
            ord,
            0,
            0,
            item.size,
            &item.date,
            &item.path,
            item.message_id.as_deref(),
            &item.flags,
            &item.sha256,
        );
        self.push_item(&e.buf, juid)
    }

    /// Adds the next server message (its body, if any, is not kept).
    pub(super) fn push_meta(&mut self, m: &FetchedMeta) -> Result<(), SpillError> {
        let index = self.pushed_metas;
        self.pushed_metas += 1;
        let date = MetaView::encode(&mut self.enc, index, m);
        let Some(b) = &mut self.buckets else {
            return self.metas.push(&MetaView::decode(&self.enc.buf)?);
        };
        let k = self.k as u64;
        b.metas_by_uid
            .push(m.uid as usize % self.k, &self.enc.buf)?;
        // (bucket, key) of each Message-ID, or of size and date without one
        let mut keys: Vec<(usize, u64)> = m
            .message_ids
            .iter()
            .map(|id| {
                let h = id_key(id);
                ((h % k) as usize, h)
            })
            .collect();
        if keys.is_empty() {
            keys.push(((no_id_key(m.size, date.as_ref()) % k) as usize, 0));
        }
        keys.sort_unstable();
        keys.dedup();
        let mut buckets: Vec<usize> = keys.iter().map(|x| x.0).collect();
        buckets.dedup();
        for &bucket in &buckets {
            b.metas_by_content.push(bucket, &self.enc.buf)?;
        }
        if buckets.len() > 1 {
            // for each bucket: the message, its ID keys there, its other buckets
            b.splits += 1;
            let mut e = Enc::default();
            for &bucket in &buckets {
                let here: Vec<u64> = keys.iter().filter(|x| x.0 == bucket).map(|x| x.1).collect();
                e.clear().u32(index).u32(here.len() as u32);
                for h in here {
                    e.u64(h);
                }
                e.u32(buckets.len() as u32 - 1);
                for &other in buckets.iter().filter(|&&x| x != bucket) {
                    e.u32(other as u32);
                }
                b.split.push(bucket, &e.buf)?;
            }
        }
        Ok(())
    }

    /// Matches (`strict`, `floor`: see [`match_folder`]), calling `each` with every
    /// staged message's outcome and every extra copy, bucket by bucket; returns how
    /// many server messages are nobody's (other).
    pub(super) fn run<E: From<SpillError>>(
        self,
        strict: bool,
        floor: u32,
        mut each: impl FnMut(Outcome<'_>) -> Result<(), E>,
    ) -> Result<u64, E> {
        let Some(b) = self.buckets else {
            let mut items = self.items;
            items.sort();
            let metas = self.metas;
            let m = match_folder(&items, &metas, strict, floor);
            for (k, hit) in m.found.iter().enumerate() {
                each(match *hit {
                    Some((i, how)) => Outcome::Found {
                        items: &items,
                        k,
                        metas: &metas,
                        i,
                        how,
                    },
                    None => Outcome::Missing { items: &items, k },
                })?;
            }
            for &(k, i) in &m.duplicates {
                each(Outcome::Duplicate {
                    items: &items,
                    k,
                    metas: &metas,
                    i,
                })?;
            }
            return Ok(m.others.len() as u64);
        };
        let mut claimed = Bits::new(self.pushed_metas);
        let mut by_uid = Bits::new(self.pushed_items);
        // step 1, bucket by bucket (by UID)
        for q in 0..self.k {
            if b.items_by_uid.count(q) == 0 {
                continue;
            }
            let items = load_items(&b.items_by_uid, &[q])?;
            let metas = load_metas(&b.metas_by_uid, &[q])?;
            let mut c = vec![false; metas.len()];
            let mut found = vec![None; items.len()];
            match_uids(&items, &metas, &mut c, &mut found);
            for (k, hit) in found.iter().enumerate() {
                if let Some((i, how)) = *hit {
                    claimed.set(metas.index(i));
                    by_uid.set(items.msgs[k].pushed);
                    each(Outcome::Found {
                        items: &items,
                        k,
                        metas: &metas,
                        i,
                        how,
                    })?;
                }
            }
        }
        // steps 2 and 3, bucket by bucket (by content), merged where they share a
        // message both could claim
        for group in pieces(&b, self.k, &claimed, self.pushed_metas)? {
            let items = load_items(&b.items_by_content, &group)?;
            if items.is_empty() {
                continue;
            }
            let metas = load_metas(&b.metas_by_content, &group)?;
            let mut c: Vec<bool> = (0..metas.len())
                .map(|i| claimed.get(metas.index(i)))
                .collect();
            // found in step 1 (reported then): only their extra copies are left to find
            let mut found: Vec<Option<(usize, Found)>> = (0..items.len())
                .map(|k| {
                    by_uid
                        .get(items.msgs[k].pushed)
                        .then_some((usize::MAX, Found::ByUid))
                })
                .collect();
            let duplicates = match_content(&items, &metas, strict, floor, &mut c, &mut found);
            for (k, hit) in found.iter().enumerate() {
                match *hit {
                    Some((_, Found::ByUid)) => {}
                    Some((i, how)) => each(Outcome::Found {
                        items: &items,
                        k,
                        metas: &metas,
                        i,
                        how,
                    })?,
                    None => each(Outcome::Missing { items: &items, k })?,
                }
            }
            for &(k, i) in &duplicates {
                each(Outcome::Duplicate {
                    items: &items,
                    k,
                    metas: &metas,
                    i,
                })?;
            }
            for (i, _) in c.iter().enumerate().filter(|(_, c)| **c) {
                claimed.set(metas.index(i));
            }
        }
        Ok(u64::from(self.pushed_metas) - claimed.count())
    }
}

/// The staged messages of `buckets`, in manifest order.
fn load_items(spill: &Spill, buckets: &[usize]) -> Result<Staged, SpillError> {
    let mut out = Staged::default();
    out.msgs
        .reserve_exact(buckets.iter().map(|&b| spill.count(b) as usize).sum());
    for &b in buckets {
        spill.read::<SpillError>(b, |rec| {
            let (pushed, juid, item) = unprefix(rec)?;
            out.push(&item, pushed, juid)
        })?;
    }
    out.sort();
    Ok(out)
}

/// The server messages of `buckets`, in FETCH order, each once.
fn load_metas(spill: &Spill, buckets: &[usize]) -> Result<Server, SpillError> {
    let mut out = Server::default();
    out.msgs
        .reserve_exact(buckets.iter().map(|&b| spill.count(b) as usize).sum());
    for &b in buckets {
        spill.read::<SpillError>(b, |rec| out.push(&MetaView::decode(rec)?))?;
    }
    if buckets.len() > 1 {
        out.sort_dedup();
    }
    Ok(out)
}

/// The content buckets to match together, in order of their first bucket: each alone,
/// except that buckets are merged when a server message step 1 left unclaimed carries
/// Message-IDs of staged messages in more than one of them (module docs). Reads the
/// Message-IDs of each bucket's staged messages once, only where there are such
/// server messages. A hash stands for an ID here: a collision merges buckets that
/// did not need it, which changes nothing but the size of the piece.
fn pieces(
    b: &Buckets,
    k: usize,
    claimed: &Bits,
    metas: u32,
) -> Result<Vec<Vec<usize>>, SpillError> {
    let mut root: Vec<usize> = (0..k).collect();
    fn find(root: &mut [usize], mut x: usize) -> usize {
        while root[x] != x {
            root[x] = root[root[x]];
            x = root[x];
        }
        x
    }
    if b.splits > 0 {
        // a message is marked when a first bucket has a staged message with one of
        // its IDs; a second such bucket merges it with the message's other buckets
        let mut seen = Bits::new(metas);
        for bucket in 0..k {
            if b.split.count(bucket) == 0 {
                continue;
            }
            let mut ids = HashSet::new();
            b.items_by_content.read::<SpillError>(bucket, |rec| {
                if let Some(id) = unprefix(rec)?.2.message_id {
                    ids.insert(id_key(id));
                }
                Ok(())
            })?;
            b.split.read::<SpillError>(bucket, |rec| {
                let mut d = Dec(rec);
                let i = d.u32()?;
                let mut wanted = false;
                for _ in 0..d.u32()? {
                    wanted |= ids.contains(&d.u64()?);
                }
                if claimed.get(i) || !wanted {
                    return Ok(());
                }
                if !seen.get(i) {
                    seen.set(i);
                    return Ok(());
                }
                for _ in 0..d.u32()? {
                    let (x, y) = (find(&mut root, bucket), find(&mut root, d.u32()? as usize));
                    root[x.max(y)] = x.min(y);
                }
                Ok(())
            })?;
        }
    }
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut group_of: HashMap<usize, usize> = HashMap::new();
    for bucket in 0..k {
        let r = find(&mut root, bucket);
        let g = *group_of.entry(r).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[g].push(bucket);
    }
    Ok(groups)
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

    /// The record of `item`, the `ord`-th staged message, as verify and rollback
    /// spill it.
    fn record(item: &Item, ord: u32, state: Option<State>) -> Vec<u8> {
        let mut e = Enc::default();
        ItemView::encode(
            &mut e,
            ord,
            0,
            crate::upload::journal::key(&item.path),
            item.size,
            &item.date,
            &item.path,
            item.message_id.as_deref(),
            &item.flags,
            &item.sha256,
        );
        ItemView::set_state(&mut e.buf, state);
        e.buf
    }

    fn staged(items: &[Item], juids: &[Option<u32>]) -> Staged {
        let mut s = Staged::default();
        for (k, i) in items.iter().enumerate() {
            let rec = record(i, k as u32, None);
            s.push(&ItemView::decode(&rec).unwrap(), k as u32, juids[k])
                .unwrap();
        }
        s
    }

    fn server(metas: &[FetchedMeta]) -> Server {
        let mut s = Server::default();
        let mut e = Enc::default();
        for (n, m) in metas.iter().enumerate() {
            MetaView::encode(&mut e, n as u32, m);
            s.push(&MetaView::decode(&e.buf).unwrap()).unwrap();
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
        match_folder(&staged(items, journal_uids), &server(metas), strict, floor)
    }

    /// [`Matcher`] with `k` buckets, spilling through files of `parts` parts holding
    /// `buf` bytes in memory; the staged messages given in reverse, to show that their
    /// manifest order is what counts. The outcome in the form of [`Matches`] (items by
    /// manifest order, metas by FETCH order), and the count of others.
    #[allow(clippy::too_many_arguments)]
    fn match_pieces(
        items: &[Item],
        journal_uids: &[Option<u32>],
        metas: &[FetchedMeta],
        strict: bool,
        floor: u32,
        k: usize,
        parts: usize,
        buf: usize,
    ) -> (Matches, u64) {
        let mut m = Matcher::with_buckets(k, |n| Spill::with_limits(n, parts, buf));
        for x in metas {
            m.push_meta(x).unwrap();
        }
        for (n, it) in items.iter().enumerate().rev() {
            let state = journal_uids[n].map(|uid| State::Stored {
                uidvalidity: 1,
                uid: Some(uid),
                flagged: false,
            });
            m.push_item(&record(it, n as u32, state), journal_uids[n])
                .unwrap();
        }
        let mut out = Matches {
            found: vec![None; items.len()],
            ..Default::default()
        };
        let mut reported = vec![0; items.len()];
        let others = m
            .run::<SpillError>(strict, floor, |o| {
                match o {
                    Outcome::Found {
                        items,
                        k,
                        metas,
                        i,
                        how,
                    } => {
                        let ord = items.ord(k) as usize;
                        reported[ord] += 1;
                        out.found[ord] = Some((metas.index(i) as usize, how));
                    }
                    Outcome::Missing { items, k } => reported[items.ord(k) as usize] += 1,
                    Outcome::Duplicate { items, k, metas, i } => out
                        .duplicates
                        .push((items.ord(k) as usize, metas.index(i) as usize)),
                }
                Ok(())
            })
            .unwrap();
        // one outcome for every staged message
        assert!(reported.iter().all(|&n| n == 1), "{reported:?}");
        out.duplicates.sort_unstable();
        (out, others)
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
        // the same in pieces, through files
        for k in 1..=4 {
            let (p, others) =
                match_pieces(&items, &[Some(5), None, None], &metas, true, 1, k, 2, 0);
            assert_eq!(p.found[0], Some((1, Found::ByUid)), "{k}");
            assert_eq!(p.duplicates, vec![(1, 3)], "{k}");
            assert_eq!(others, 2, "{k}");
        }
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
    fn records_keep_what_verify_reports() {
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
        assert_eq!((s.index(3), s.uid(3), s.size(3)), (3, 4, 10));

        let mut it = item(None, "2011-05-04T09:15:02.25+02:00", 30);
        it.flags = vec!["\\Seen".into(), "a b".into()];
        let st = staged(&[item(Some("<a>"), D1, 10), it.clone()], &[Some(7), None]);
        assert_eq!(st.message_id(0), Some("<a>"));
        assert_eq!(st.message_id(1), None);
        assert_eq!((st.juid(0), st.juid(1)), (Some(7), None));
        assert_eq!(st.path(1), it.path);
        assert_eq!(st.flags(1), it.flags.as_slice());
        // the offset is kept, not only the instant: verify prints the staged date
        assert_eq!((st.size(1), *st.date(1)), (30, it.date));
        assert_eq!(st.date(1).offset(), it.date.offset());
        assert_eq!(imap::imap_date(st.date(1)), "04-May-2011 09:15:02 +0200");
        // the journal state is set in place
        let mut rec = record(&it, 9, None);
        for s in [
            None,
            Some(State::Uncertain),
            Some(State::Failed),
            Some(State::Removed),
            Some(State::Stored {
                uidvalidity: 3,
                uid: None,
                flagged: true,
            }),
            Some(State::Stored {
                uidvalidity: u32::MAX,
                uid: Some(0),
                flagged: false,
            }),
        ] {
            ItemView::set_state(&mut rec, s);
            let v = ItemView::decode(&rec).unwrap();
            assert_eq!((v.state, v.ord, v.path), (s, 9, it.path.as_str()));
        }
    }

    /// Exchange's two Message-IDs in two buckets, both wanted: the buckets are merged,
    /// and the first staged message in manifest order gets the server message.
    #[test]
    fn a_message_two_buckets_want_goes_to_the_first_in_manifest_order() {
        // find two IDs in different buckets of 2
        let ids: Vec<String> = (0..).map(|n| format!("<{n}>")).take(40).collect();
        let a = &ids[0];
        let b = ids.iter().find(|x| id_key(x) % 2 != id_key(a) % 2).unwrap();
        for (first, second) in [(a, b), (b, a)] {
            let items = vec![item(Some(first), D1, 10), item(Some(second), D1, 10)];
            let mut m = meta(4, Some(a), D1, 10);
            m.message_ids.push(b.clone());
            let metas = vec![m];
            let whole = match_plain(&items, &[None, None], &metas, false, 1);
            assert_eq!(whole.found[0], Some((0, Found::ByContent)));
            assert_eq!(whole.found[1], None);
            let (p, others) = match_pieces(&items, &[None, None], &metas, false, 1, 2, 64, 1 << 20);
            assert_eq!(p.found, whole.found);
            assert_eq!(others, 0);
        }
    }

    /// Many messages without Message-ID and of one size: the buckets still share them
    /// out (by date), and the outcome is the whole folder's.
    #[test]
    fn messages_without_message_id_spread_over_the_buckets() {
        let day = |n: u32| {
            DateTime::parse_from_rfc3339("2010-01-04T09:15:02+01:00").unwrap()
                + chrono::Duration::hours(i64::from(n))
        };
        let items: Vec<Item> = (0..400)
            .map(|n| item(None, &day(n).to_rfc3339(), 100))
            .collect();
        // on the server: every other one, each third of those twice (a copy), and
        // some under another date
        let mut metas = Vec::new();
        for n in (0..400).step_by(2) {
            let d = if n % 10 == 0 { day(n + 1000) } else { day(n) };
            metas.push(meta(metas.len() as u32 + 1, None, &d.to_rfc3339(), 100));
            if n % 3 == 0 {
                metas.push(meta(metas.len() as u32 + 1, None, &d.to_rfc3339(), 100));
            }
        }
        let juids = vec![None; items.len()];
        let whole = match_folder_naive(&items, &juids, &metas, false, 1);
        let (p, others) = match_pieces(&items, &juids, &metas, false, 1, 8, 64, 1 << 20);
        assert_eq!(p.found, whole.found);
        assert_eq!(p.duplicates, whole.duplicates);
        assert_eq!(others, whole.others.len() as u64);
        assert!(!whole.duplicates.is_empty() && !whole.others.is_empty());

        let mut m = Matcher::with_buckets(8, Spill::new);
        for (n, it) in items.iter().enumerate() {
            m.push_item(&record(it, n as u32, None), None).unwrap();
        }
        let b = m.buckets.as_ref().unwrap();
        let counts: Vec<u64> = (0..8).map(|k| b.items_by_content.count(k)).collect();
        assert!(counts.iter().all(|&c| c > 20 && c < 90), "{counts:?}");
    }

    fn same_id_plain(item: &Item, m: &FetchedMeta) -> bool {
        match &item.message_id {
            Some(id) => m.message_ids.iter().any(|x| x == id),
            None => m.message_ids.is_empty(),
        }
    }

    fn same_date_plain(item: &Item, m: &FetchedMeta) -> bool {
        imap::parse_imap_date(&m.internal_date).is_some_and(|d| d == item.date)
    }

    /// The matching as it was before [`Candidates`], the compact [`Staged`] and
    /// [`Server`] and the buckets: every item against every meta, on `Item` and
    /// `FetchedMeta` as fetched. Kept as the reference the indexed and the
    /// partitioned versions must agree with.
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
                    same_id_plain(item, m)
                } else {
                    m.size == item.size && same_date_plain(item, m)
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
                        && same_id_plain(item, m)
                        && (!need_date || same_date_plain(item, m))
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
                    && same_id_plain(item, m)
                    && same_date_plain(item, m)
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

    const IDS: &[Option<&str>] = &[None, Some("<a>"), Some("<b>"), Some("<c>"), Some("<d>")];
    const DATES: &[&str] = &[D1, D2];

    proptest::proptest! {
        /// Small domains of IDs, dates, sizes and UIDs, so that duplicates, copies
        /// below the floor, stale journal UIDs, two server messages under one UID (a
        /// broken server), messages carrying two IDs (Exchange's parent ID) and many
        /// without any all occur; cut into 1 to 5 buckets, in memory or through files
        /// that buckets share.
        #[test]
        fn indexed_and_partitioned_matching_agree_with_every_item_against_every_meta(
            items in proptest::collection::vec((0..5usize, 0..2usize, 1..4u64, proptest::option::of(1..12u32)), 0..16),
            metas in proptest::collection::vec((0..5usize, 0..5usize, 0..2usize, 1..4u64, 0..4u32), 0..18),
            strict: bool,
            floor in 1..6u32,
            k in 1..6usize,
            files: bool,
        ) {
            let its: Vec<Item> = items.iter().map(|&(id, d, size, _)| item(IDS[id], DATES[d], size)).collect();
            let juids: Vec<Option<u32>> = items.iter().map(|t| t.3).collect();
            let ms: Vec<FetchedMeta> = metas
                .iter()
                .enumerate()
                .map(|(n, &(id, id2, d, size, same_uid))| {
                    // now and then the UID of the message before (a broken server)
                    let uid = if same_uid == 0 && n > 0 { n as u32 } else { n as u32 + 1 };
                    let mut m = meta(uid, IDS[id], DATES[d], size);
                    if let Some(x) = IDS[id2].filter(|_| id > 0) {
                        m.message_ids.push(x.to_owned());
                    }
                    m
                })
                .collect();
            let a = match_plain(&its, &juids, &ms, strict, floor);
            let b = match_folder_naive(&its, &juids, &ms, strict, floor);
            proptest::prop_assert_eq!(&a.found, &b.found);
            proptest::prop_assert_eq!(&a.duplicates, &b.duplicates);
            proptest::prop_assert_eq!(&a.others, &b.others);
            let (parts, buf) = if files { (2, 0) } else { (64, 1 << 20) };
            let (p, others) = match_pieces(&its, &juids, &ms, strict, floor, k, parts, buf);
            proptest::prop_assert_eq!(&p.found, &b.found);
            proptest::prop_assert_eq!(&p.duplicates, &b.duplicates);
            proptest::prop_assert_eq!(others, b.others.len() as u64);
        }
    }
}
