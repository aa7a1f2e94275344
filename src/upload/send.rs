//! Uploading one folder on one connection, restartable from the journal at any point.
//!
//! 1. Classify every staged message of the folder by its journal state: stored (done),
//!    uncertain (a `send` without outcome), or to send. The folder's messages are read
//!    from disk in manifest order, [`CHUNK`] at a time, and steps 2-6 are done per
//!    chunk; the state is the one from before this run with what this run journaled
//!    since applied (`Book`), so a folder resumed after a reconnect sees it as it is.
//! 2. STATUS the folder; record its UIDVALIDITY/UIDNEXT before sending (the floor
//!    below which UIDs are never ours).
//! 3. Look up the uncertain ones on the server (Message-ID, then INTERNALDATE and
//!    size) among UIDs at or above the floor that no journal entry claims; found ones
//!    are recorded as stored, the rest are sent.
//! 4. Send: `send` records are written and fsynced for the next batch before its
//!    messages go out; APPENDs are pipelined (bounded commands and bytes in flight),
//!    grouped into MULTIAPPEND commands when the server offers it. Throttling answers
//!    put the messages back and pause; a NO/BAD on a group is retried message by
//!    message; a NO/BAD on one message records it as failed with the server's words.
//! 5. Learn missing UIDs (no UIDPLUS: Exchange 2007/2010) by fetching the UIDs at or
//!    above the floor with their Message-ID, date and size.
//! 6. Set `\Flagged` with UID STORE.
//!
//! A connection error at any step returns to the caller, which reconnects and calls
//! [`upload_folder`] again: the journal is the state.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use chrono::{DateTime, FixedOffset};
use sha2::Digest;

use super::journal::{Record, State, next_state};
use super::matching::{ItemView, Matcher, Outcome};
use super::plan::FolderPlan;
use super::spill::{Sorted, SpillError, strs_of};
use super::uidset::UidSet;
use super::{Ctx, Failure, UploadError};
use crate::imap::{self, AppendItem, Connection, FetchedMeta, ImapError, Sent, Status};

/// Literals above this size are synchronizing: the server can refuse the size before
/// the bytes are sent. They are also streamed from the staged file instead of read
/// whole ([`Connection::append_streamed`]), so that memory does not depend on the
/// largest message.
const SYNC_LITERAL_OVER: usize = 256 * 1024;
/// At most this many messages in one MULTIAPPEND command.
const GROUP_MESSAGES: usize = 16;
/// At most this many bytes in one MULTIAPPEND command.
const GROUP_BYTES: usize = 1 << 20;
/// Bytes in flight per connection.
const MAX_BYTES_IN_FLIGHT: usize = 8 << 20;
/// `send` records written (and fsynced once) ahead of sending.
const INTENT_BATCH: usize = 64;
/// After a connection loss: how long without a newly found message before the
/// uncertain messages still missing count as lost.
const SETTLE: Duration = Duration::from_millis(4000);
/// ... and at most this long in all.
const SETTLE_MAX: Duration = Duration::from_secs(60);
/// Pause between two lookups while settling.
const SETTLE_POLL: Duration = Duration::from_millis(250);
/// Messages of a folder handled at a time (memory stays independent of its size).
/// Small in debug builds, so that the end-to-end tests (which run the debug binary
/// on mailboxes of a few hundred messages) cross chunk boundaries.
const CHUNK: usize = if cfg!(debug_assertions) { 40 } else { 2000 };
/// More uncertain messages than this are looked up with one bulk FETCH instead of a
/// SEARCH each.
const SEARCH_EACH_MAX: usize = 8;

/// Whether a message of `size` bytes is streamed from its file (always as a
/// synchronizing literal, alone in its APPEND) rather than read whole.
fn streamed(size: u64) -> bool {
    size > SYNC_LITERAL_OVER as u64
}

/// A message of a group ready to go out: read whole, its hash taken.
type Held = (Item, Vec<u8>, Vec<String>);

/// A big message ready to be streamed: its open file (size checked) and flags.
type Streamed = (Item, std::fs::File, Vec<String>);

/// A message's bytes as they are about to go out.
enum Body {
    /// Read whole (a small message, grouped).
    Held(Vec<u8>),
    /// Opened with its size checked, read while it is sent (a big one).
    File(std::fs::File),
}

/// One message of the folder as the uploader needs it.
#[derive(Debug, Clone)]
pub(super) struct Item {
    pub(super) path: String,
    pub(super) sha256: String,
    pub(super) message_id: Option<String>,
    pub(super) date: DateTime<FixedOffset>,
    pub(super) size: u64,
    pub(super) flagged: bool,
    pub(super) flags: Vec<String>,
}

fn item_of_view(v: &ItemView<'_>) -> Result<Item, SpillError> {
    let flags = strs_of(v.flags)?;
    Ok(Item {
        path: v.path.to_owned(),
        sha256: v.sha256.to_owned(),
        message_id: v.message_id.map(str::to_owned),
        date: v.date,
        size: v.size,
        flagged: flags.iter().any(|f| f.eq_ignore_ascii_case("\\Flagged")),
        flags,
    })
}

/// One staged message of the folder with its journal state now.
struct Msg {
    /// Its place in the folder (manifest order).
    ord: u32,
    item: Item,
    state: Option<State>,
}

/// The records ([`ItemView`]) of `folder`'s staged messages, to be read back in
/// manifest order a chunk at a time.
fn folder_sorted(ctx: &Ctx<'_>, folder: u32) -> Result<Sorted, UploadError> {
    let f = folder as usize;
    let n = ctx.set.counts.get(f).map_or(0, |c| c.items);
    let mut sorted = Sorted::new(n, CHUNK as u64);
    if f < ctx.set.counts.len() {
        ctx.set
            .read_folder(f, |r, v| Ok(sorted.push(u64::from(v.ord), 0, r)?))?;
    }
    Ok(sorted)
}

/// Calls `each` with the messages of `folder` (`sorted`: [`folder_sorted`]) in
/// manifest order, [`CHUNK`] at a time, each with its journal state now: the state
/// from before this run ([`super::survey::StagedSet`]) and what this run recorded
/// about it since ([`super::Book`]).
fn for_each_chunk(
    ctx: &Ctx<'_>,
    folder: u32,
    sorted: &Sorted,
    mut each: impl FnMut(Vec<Msg>) -> Result<(), UploadError>,
) -> Result<(), UploadError> {
    // The keys beside the messages, so that the messages are handed over as they are:
    // one copy of a chunk is held, grown to its size (a folder of a few hundred
    // messages does not pay for CHUNK).
    let mut keys: Vec<u128> = Vec::new();
    let mut chunk: Vec<Msg> = Vec::new();
    let mut flush = |keys: &mut Vec<u128>, chunk: &mut Vec<Msg>| -> Result<(), UploadError> {
        if chunk.is_empty() {
            return Ok(());
        }
        {
            let book = ctx.journal.lock().unwrap_or_else(|p| p.into_inner());
            if book.changes.count(folder as usize) > 0 {
                let at: HashMap<u128, usize> =
                    keys.iter().enumerate().map(|(i, k)| (*k, i)).collect();
                book.changes.read::<UploadError>(folder as usize, |r| {
                    let (k, c) = super::survey::decode_change(r)?;
                    if let Some(m) = at.get(&k).and_then(|&i| chunk.get_mut(i)) {
                        m.state = next_state(m.state, c);
                    }
                    Ok(())
                })?;
            }
        }
        keys.clear();
        each(std::mem::take(chunk))
    };
    sorted.read::<UploadError>(|r| {
        let v = ItemView::decode(r)?;
        keys.push(v.key);
        chunk.push(Msg {
            ord: v.ord,
            item: item_of_view(&v)?,
            state: v.state,
        });
        if chunk.len() == CHUNK {
            flush(&mut keys, &mut chunk)?;
        }
        Ok(())
    })?;
    flush(&mut keys, &mut chunk)
}

struct Run<'c, 'a> {
    ctx: &'c Ctx<'a>,
    folder: u32,
    name: String,
    wire: Vec<u8>,
    progressed: bool,
}

/// Uploads folder `folder` on `conn`. `progressed` is set when anything was stored,
/// so that the caller's reconnect budget counts attempts without progress.
pub(super) fn upload_folder(
    ctx: &Ctx<'_>,
    conn: &mut Connection,
    folder: u32,
    progressed: &mut bool,
) -> Result<(), UploadError> {
    let FolderPlan::Go { wire, display, .. } = &ctx.plans[folder as usize] else {
        return Ok(());
    };
    let mut run = Run {
        ctx,
        folder,
        name: ctx
            .set
            .folders
            .get(folder as usize)
            .cloned()
            .unwrap_or_else(|| display.clone()),
        wire: wire.clone(),
        progressed: false,
    };
    let result = run.go(conn);
    *progressed = run.progressed;
    result
}

impl Run<'_, '_> {
    fn journal(&self) -> std::sync::MutexGuard<'_, super::Book> {
        self.ctx.journal.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn failed_this_run(&self, path: &str) -> bool {
        self.stats()
            .failed_keys
            .contains(&super::journal::key(path))
    }

    fn stats(&self) -> std::sync::MutexGuard<'_, super::Stats> {
        self.ctx.stats.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn go(&mut self, conn: &mut Connection) -> Result<(), UploadError> {
        let ctx = self.ctx;
        let folder = self.folder;
        let first_visit = {
            let mut seen = ctx
                .folder_recorded
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            seen.insert(folder)
        };
        if first_visit {
            for (_, path) in ctx.set.invalid.iter().filter(|(f, _)| *f == folder) {
                self.fail_local(
                    path,
                    "manifest entry without path or with an unreadable internal_date",
                )?;
            }
        }
        let sorted = folder_sorted(ctx, folder)?;
        let info = conn.status(&self.wire)?;
        let validity = info.uidvalidity;

        // 0. the UIDs the journal gives this folder's messages: never claimed twice
        let mut claimed = UidSet::new();
        for_each_chunk(ctx, folder, &sorted, |chunk| {
            for m in chunk {
                if let Some(State::Stored {
                    uidvalidity,
                    uid: Some(u),
                    ..
                }) = m.state
                    && uidvalidity == validity
                {
                    claimed.insert(u);
                }
            }
            Ok(())
        })?;
        let mut floor: Option<u32> = None;
        let mut selected = false;
        // Chunks keep memory independent of the folder's size: only one chunk's
        // messages are held at a time, read in manifest order from disk.
        for_each_chunk(ctx, folder, &sorted, |chunk| {
            // 1. classify
            let mut todo: Vec<Item> = Vec::new();
            let mut uncertain: Vec<Item> = Vec::new();
            let mut need_uid: Vec<Item> = Vec::new();
            let mut need_flag: Vec<(Item, u32)> = Vec::new();
            let mut already = 0u64;
            for Msg { item, state, .. } in chunk {
                match state {
                    // refused earlier in this run: not again until the next run
                    Some(State::Failed) if self.failed_this_run(&item.path) => {}
                    None | Some(State::Failed) | Some(State::Removed) => todo.push(item),
                    Some(State::Uncertain) => uncertain.push(item),
                    Some(State::Stored {
                        uidvalidity,
                        uid,
                        flagged,
                    }) => {
                        if uidvalidity != validity {
                            // The folder was recreated (or the server renumbered it): the
                            // journal's UIDs mean nothing now, so look the message up again.
                            uncertain.push(item);
                            continue;
                        }
                        if first_visit {
                            already += 1;
                        }
                        match uid {
                            Some(u) => {
                                claimed.insert(u);
                                if item.flagged && !flagged {
                                    need_flag.push((item, u));
                                }
                            }
                            None => need_uid.push(item),
                        }
                    }
                }
            }
            if already > 0 {
                self.stats().already += already;
                ctx.progress.inc(already);
            }
            if todo.is_empty()
                && uncertain.is_empty()
                && need_uid.is_empty()
                && need_flag.is_empty()
            {
                return Ok(());
            }

            // 2. the floor, recorded before the first send of this session
            let floor = match floor {
                Some(f) => f,
                None => {
                    let mut j = self.journal();
                    if j.journal.floor(&self.name, validity).is_none() || first_visit {
                        j.record(
                            folder,
                            &Record::Folder {
                                folder: self.name.clone(),
                                server_folder: super::plan::display_name(&self.wire),
                                uidvalidity: validity,
                                uidnext: info.uidnext.max(1),
                            },
                        )?;
                    }
                    // UIDs from before mailstage's first send are never claimed. With
                    // no record for this UIDVALIDITY (the folder was recreated) every
                    // UID may be ours.
                    let f = j.journal.floor(&self.name, validity).unwrap_or(1);
                    drop(j);
                    floor = Some(f);
                    f
                }
            };

            // 3. uncertain ones
            if !uncertain.is_empty() {
                conn.select(&self.wire, false)?;
                selected = true;
                let found = self.settled_lookup(conn, &uncertain, floor, &claimed)?;
                for (item, uid) in uncertain.into_iter().zip(found) {
                    match uid {
                        Some(u) => {
                            claimed.insert(u);
                            self.journal().record(
                                folder,
                                &Record::Stored {
                                    path: item.path.clone(),
                                    folder: self.name.clone(),
                                    uidvalidity: validity,
                                    uid: Some(u),
                                    how: "found".into(),
                                    sha256: item.sha256.clone(),
                                },
                            )?;
                            self.stats().found += 1;
                            ctx.progress.inc(1);
                            self.progressed = true;
                            if item.flagged {
                                need_flag.push((item, u));
                            }
                        }
                        None => {
                            // sent again below: look for a late copy of it at the end
                            ctx.resent
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .insert(folder);
                            todo.push(item);
                        }
                    }
                }
            }

            // 4. send
            // without UIDPLUS the UIDs are learned afterwards, from this chunk's UIDNEXT
            let chunk_floor = if todo.is_empty() || conn.has_capability("UIDPLUS") {
                floor
            } else {
                conn.status(&self.wire)?.uidnext.max(floor)
            };
            let sent_now: HashSet<String> = todo.iter().map(|i| i.path.clone()).collect();
            let sent = self.send_all(conn, todo, validity)?;
            for (item, uid) in sent {
                match uid {
                    Some(u) => {
                        claimed.insert(u);
                        if item.flagged {
                            need_flag.push((item, u));
                        }
                    }
                    None => need_uid.push(item),
                }
            }

            // 5. learn UIDs
            if !need_uid.is_empty() {
                if !selected {
                    conn.select(&self.wire, false)?;
                    selected = true;
                }
                // UIDs of this chunk's APPENDs are at or above its UIDNEXT; older ones
                // (stored by an interrupted run) are looked for from the folder's floor
                let fresh = need_uid.iter().all(|i| sent_now.contains(&i.path));
                let from = if fresh { chunk_floor } else { floor };
                let uids = self.bulk_match(conn, &need_uid, from, &claimed)?;
                for (item, uid) in need_uid.into_iter().zip(uids) {
                    if let Some(u) = uid {
                        claimed.insert(u);
                        self.journal().record(
                            folder,
                            &Record::Uid {
                                path: item.path.clone(),
                                uidvalidity: validity,
                                uid: u,
                            },
                        )?;
                        if item.flagged {
                            need_flag.push((item, u));
                        }
                    }
                }
            }

            // 6. \Flagged
            if !need_flag.is_empty() {
                if !selected {
                    conn.select(&self.wire, false)?;
                }
                for chunk in need_flag.chunks(500) {
                    let uids: Vec<u32> = chunk.iter().map(|(_, u)| *u).collect();
                    conn.uid_store(&imap::proto::format_uid_set(&uids), &["\\Flagged"], false)?;
                    let mut j = self.journal();
                    for (item, _) in chunk {
                        j.record(
                            folder,
                            &Record::Flagged {
                                path: item.path.clone(),
                            },
                        )?;
                    }
                    drop(j);
                    self.stats().flagged += chunk.len() as u64;
                }
            }
            Ok(())
        })?;
        let floor = floor.unwrap_or(1);

        // 7. a message sent again after a lookup missed it may have been committed
        // by the dead session after all: remove such extra copies now
        let resent = ctx
            .resent
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&folder);
        if resent {
            self.remove_late_copies(conn, &sorted, floor, validity)?;
        }
        Ok(())
    }

    /// Removes copies of this folder's stored messages that no journal entry claims
    /// (UID ≥ floor, same Message-ID, date and size): APPENDs a dying session committed
    /// after mailstage had looked for them and sent them again.
    fn remove_late_copies(
        &mut self,
        conn: &mut Connection,
        sorted: &Sorted,
        floor: u32,
        validity: u32,
    ) -> Result<(), UploadError> {
        let info = conn.select(&self.wire, false)?;
        if info.uidvalidity != validity {
            return Ok(());
        }
        let ctx = self.ctx;
        let n = ctx.messages.get(self.folder as usize).copied().unwrap_or(0);
        let mut m = Matcher::new(n.max(u64::from(info.messages)));
        // fetched even when EXISTS said 0, as verify does: a server may leave it out
        super::survey::fetch_into(conn, floor, info.messages.max(1), &mut m)?;
        for_each_chunk(ctx, self.folder, sorted, |chunk| {
            for Msg { ord, item, state } in chunk {
                if let Some(State::Stored {
                    uidvalidity,
                    uid: Some(u),
                    ..
                }) = state
                    && uidvalidity == validity
                {
                    m.push_staged(ord, &item, Some(u))?;
                }
            }
            Ok(())
        })?;
        let mut extra = super::survey::UidList::new(u64::from(info.messages));
        m.run::<UploadError>(true, floor, |o| {
            if let Outcome::Duplicate { metas, i, .. } = o {
                extra.push(metas.index(i), metas.uid(i))?;
            }
            Ok(())
        })?;
        if extra.len() == 0 {
            return Ok(());
        }
        let mut rec = |r: &Record, sync: bool| {
            let mut j = ctx.journal.lock().unwrap_or_else(|p| p.into_inner());
            // folder records, about no message: nothing for `Book::changes`
            j.journal.record(r)?;
            if sync {
                j.journal.sync()?;
            }
            Ok(())
        };
        super::survey::expunge_exact(conn, &mut rec, &self.name, validity, &extra)?;
        self.stats().late_copies_removed += extra.len();
        Ok(())
    }

    /// Looks up uncertain messages, waiting for the ones a dying session may still
    /// be committing.
    ///
    /// A server that lost the connection can go on storing the APPENDs it had already
    /// read for seconds (Dovecot waits for the mailbox lock the new session holds).
    /// Re-sending such a message too early makes a duplicate. The server handles one
    /// session's commands in order, and `uncertain` is in send order, so once a
    /// message is found every message sent before it has been decided: those not found
    /// were never stored. Only the ones after the last found message may still be in
    /// progress; they are looked up again until they appear, or until nothing new has
    /// appeared for [`SETTLE`] (then they were lost with the connection: a drop
    /// mid-literal), at most [`SETTLE_MAX`] in all.
    fn settled_lookup(
        &self,
        conn: &mut Connection,
        uncertain: &[Item],
        floor: u32,
        claimed: &UidSet,
    ) -> Result<Vec<Option<u32>>, UploadError> {
        let mut found = self.lookup(conn, uncertain, floor, claimed)?;
        let started = Instant::now();
        let mut last_progress = Instant::now();
        loop {
            let last_found = found.iter().rposition(Option::is_some);
            let pending: Vec<usize> = (last_found.map_or(0, |i| i + 1)..uncertain.len()).collect();
            if pending.is_empty()
                || last_progress.elapsed() >= SETTLE
                || started.elapsed() >= SETTLE_MAX
            {
                return Ok(found);
            }
            std::thread::sleep(SETTLE_POLL);
            let mut taken = claimed.clone();
            taken.extend(found.iter().flatten().copied());
            let items: Vec<Item> = pending.iter().map(|&i| uncertain[i].clone()).collect();
            let again = self.lookup(conn, &items, floor, &taken)?;
            for (&i, uid) in pending.iter().zip(again) {
                if uid.is_some() {
                    found[i] = uid;
                    last_progress = Instant::now();
                }
            }
        }
    }

    fn fail_local(&self, path: &str, reason: &str) -> Result<(), UploadError> {
        let path = path.to_owned();
        self.journal().record(
            self.folder,
            &Record::Failed {
                path: path.clone(),
                folder: self.name.clone(),
                reason: reason.to_owned(),
            },
        )?;
        let mut st = self.stats();
        st.failed_keys.insert(super::journal::key(&path));
        st.failed.push(Failure {
            path,
            folder: self.name.clone(),
            reason: reason.to_owned(),
        });
        Ok(())
    }

    fn fail(&self, item: &Item, reason: String) -> Result<(), UploadError> {
        self.journal().record(
            self.folder,
            &Record::Failed {
                path: item.path.clone(),
                folder: self.name.clone(),
                reason: reason.clone(),
            },
        )?;
        let mut st = self.stats();
        st.failed_keys.insert(super::journal::key(&item.path));
        st.failed.push(Failure {
            path: item.path.clone(),
            folder: self.name.clone(),
            reason,
        });
        drop(st);
        self.ctx.progress.inc(1);
        Ok(())
    }

    /// Finds each uncertain message on the server; `None` where it is not there.
    fn lookup(
        &self,
        conn: &mut Connection,
        items: &[Item],
        floor: u32,
        claimed: &UidSet,
    ) -> Result<Vec<Option<u32>>, UploadError> {
        if items.len() > SEARCH_EACH_MAX {
            return self.bulk_match(conn, items, floor, claimed);
        }
        let mut out = Vec::with_capacity(items.len());
        let mut taken = claimed.clone();
        for item in items {
            let criteria = match item
                .message_id
                .as_deref()
                .and_then(|m| imap::proto::quote(m.as_bytes()))
            {
                Some(q) => {
                    let mut c = format!("UID {floor}:* HEADER Message-ID ").into_bytes();
                    c.extend_from_slice(&q);
                    c
                }
                None => format!(
                    "UID {floor}:* LARGER {} SMALLER {}",
                    item.size.saturating_sub(1),
                    item.size + 1
                )
                .into_bytes(),
            };
            let uids: Vec<u32> = conn
                .uid_search(&criteria)?
                .into_iter()
                .filter(|u| *u >= floor && !taken.contains(*u))
                .collect();
            if uids.is_empty() {
                out.push(None);
                continue;
            }
            let metas = conn.uid_fetch_meta(&imap::proto::format_uid_set(&uids), false, false)?;
            let hit = best_match(item, &metas, &taken, false);
            if let Some(u) = hit {
                taken.insert(u);
            }
            out.push(hit);
        }
        Ok(out)
    }

    /// Matches `items` against every message at or above `floor` in one FETCH.
    fn bulk_match(
        &self,
        conn: &mut Connection,
        items: &[Item],
        floor: u32,
        claimed: &UidSet,
    ) -> Result<Vec<Option<u32>>, UploadError> {
        let metas: Vec<FetchedMeta> = conn
            .uid_fetch_meta(&format!("{floor}:*"), true, false)?
            .into_iter()
            .filter(|m| m.uid >= floor)
            .collect();
        let mut taken = claimed.clone();
        Ok(items
            .iter()
            .map(|item| {
                let hit = best_match(item, &metas, &taken, true);
                if let Some(u) = hit {
                    taken.insert(u);
                }
                hit
            })
            .collect())
    }

    /// Sends `todo`; returns the stored ones with their UID where the server said it.
    fn send_all(
        &mut self,
        conn: &mut Connection,
        todo: Vec<Item>,
        validity: u32,
    ) -> Result<Vec<(Item, Option<u32>)>, UploadError> {
        let opts = self.ctx.opts;
        let limit = match (opts.max_size, conn.append_limit()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let multi = conn.has_capability("MULTIAPPEND");
        let window = opts.max_in_flight.max(1);
        let mut queue: VecDeque<(Item, bool)> = todo.into_iter().map(|i| (i, false)).collect();
        let mut intended: HashSet<String> = HashSet::new();
        let mut inflight: VecDeque<(String, Vec<Item>, usize)> = VecDeque::new();
        let mut bytes_in_flight = 0usize;
        let mut throttle_until: Option<Instant> = None;
        let mut stored = Vec::new();

        loop {
            // fill the window
            while inflight.len() < window
                && bytes_in_flight < MAX_BYTES_IN_FLIGHT
                && !queue.is_empty()
                && throttle_until.is_none_or(|t| Instant::now() >= t)
            {
                throttle_until = None;
                // write intents ahead, fsync once
                if !intended.contains(&queue[0].0.path) {
                    let mut j = self.journal();
                    // about as many as go out now, so that after a lost connection
                    // few messages that never left are among the uncertain ones
                    let batch = (window / 2).clamp(1, INTENT_BATCH);
                    for (item, _) in queue.iter().take(batch) {
                        if intended.insert(item.path.clone()) {
                            j.record(
                                self.folder,
                                &Record::Send {
                                    path: item.path.clone(),
                                    folder: self.name.clone(),
                                    sha256: item.sha256.clone(),
                                },
                            )?;
                        }
                    }
                    j.journal.sync()?;
                }
                let mut group: Vec<Held> = Vec::new();
                let mut big_one: Option<Streamed> = None;
                let mut group_bytes = 0usize;
                while let Some((item, single)) = queue.front() {
                    if !intended.contains(&item.path) {
                        break;
                    }
                    let single = *single;
                    if !group.is_empty() && (single || !multi || streamed(item.size)) {
                        break;
                    }
                    let (item, _) = queue.pop_front().unwrap_or_else(|| unreachable!());
                    if let Some(l) = limit
                        && item.size > l
                    {
                        self.fail(
                            &item,
                            format!(
                                "not sent: {} bytes is over the limit of {l} bytes \
                                 (--max-size or the server's APPENDLIMIT)",
                                item.size
                            ),
                        )?;
                        continue;
                    }
                    // A big one is opened and its size checked now, before its `{N}` is
                    // announced; its bytes are read while they are sent.
                    let read = if streamed(item.size) {
                        self.ctx
                            .open_message(&item.path)
                            .map(|(file, len)| (Body::File(file), len))
                    } else {
                        self.ctx.message(&item.path).map(|d| {
                            let len = d.len() as u64;
                            (Body::Held(d), len)
                        })
                    };
                    let data = match read {
                        Ok((body, len)) if len == item.size => body,
                        Ok(_) => {
                            self.fail(&item, changed_since_convert())?;
                            continue;
                        }
                        Err(e) => {
                            self.fail(&item, format!("cannot read the staged file: {e}"))?;
                            continue;
                        }
                    };
                    let mut item = item;
                    let (flags, dropped, _) = super::append_flags(&item.flags, opts);
                    if !dropped.is_empty() {
                        let mut s = self.stats();
                        for d in dropped {
                            *s.dropped.entry(d).or_insert(0) += 1;
                        }
                    }
                    let data = match data {
                        Body::Held(d) => d,
                        Body::File(file) => {
                            big_one = Some((item, file, flags));
                            break;
                        }
                    };
                    // The journal's `stored` carries the SHA-256 of exactly the bytes
                    // sent (convert no longer writes one into the manifest).
                    item.sha256 = hex::encode(sha2::Sha256::digest(&data));
                    let big = data.len() > SYNC_LITERAL_OVER || !conn.can_nonsync(data.len());
                    group_bytes += data.len();
                    group.push((item, data, flags));
                    if big || single || !multi {
                        break;
                    }
                    if group.len() >= GROUP_MESSAGES || group_bytes >= GROUP_BYTES {
                        break;
                    }
                    // the next one must also fit a non-synchronizing group
                    if let Some((next, _)) = queue.front()
                        && (next.size as usize > SYNC_LITERAL_OVER
                            || !conn.can_nonsync(next.size as usize))
                    {
                        break;
                    }
                }
                let (sent, items) = if let Some(big) = big_one {
                    let (sent, item) = self.send_streamed(conn, big)?;
                    (sent, vec![item])
                } else {
                    if group.is_empty() {
                        continue;
                    }
                    let nonsync = group
                        .iter()
                        .all(|(_, d, _)| d.len() <= SYNC_LITERAL_OVER && conn.can_nonsync(d.len()));
                    let dates: Vec<String> = group
                        .iter()
                        .map(|(i, _, _)| imap::imap_date(&i.date))
                        .collect();
                    let parts: Vec<AppendItem<'_>> = group
                        .iter()
                        .zip(&dates)
                        .map(|((_, d, f), date)| AppendItem {
                            flags: f,
                            date,
                            data: d,
                        })
                        .collect();
                    let sent = conn.append(&self.wire, &parts, nonsync)?;
                    (sent, group.into_iter().map(|(i, _, _)| i).collect())
                };
                let len: usize = items.iter().map(|i| i.size as usize).sum();
                match sent {
                    Sent::Tag(tag) => {
                        bytes_in_flight += len;
                        inflight.push_back((tag, items, len));
                    }
                    Sent::Refused(c) => {
                        self.complete(
                            c,
                            items,
                            validity,
                            &mut queue,
                            &mut throttle_until,
                            &mut stored,
                        )?;
                    }
                }
            }
            if inflight.is_empty() {
                if queue.is_empty() {
                    break;
                }
                if let Some(t) = throttle_until {
                    std::thread::sleep(t.saturating_duration_since(Instant::now()));
                }
                continue;
            }
            conn.flush()?;
            let c = conn.next_completion()?;
            let Some(pos) = inflight.iter().position(|(t, _, _)| *t == c.tag) else {
                continue;
            };
            let Some((_, items, len)) = inflight.remove(pos) else {
                continue;
            };
            bytes_in_flight -= len;
            self.complete(
                c,
                items,
                validity,
                &mut queue,
                &mut throttle_until,
                &mut stored,
            )?;
        }
        Ok(stored)
    }

    /// Sends one big message streamed from its file, hashing it on the way.
    ///
    /// If the file yields other bytes than its size said (it changed after the check),
    /// the literal was left unfinished and the connection cut, so the server did not
    /// store it: the message fails with the reason, and the lost connection goes to
    /// the caller, which reconnects and resolves the pipelined rest from the journal.
    fn send_streamed(
        &mut self,
        conn: &mut Connection,
        (mut item, mut file, flags): Streamed,
    ) -> Result<(Sent, Item), UploadError> {
        let date = imap::imap_date(&item.date);
        // The journal's `stored` carries the SHA-256 of exactly the bytes sent: each
        // chunk is hashed once it is written, while the server reads it.
        let mut sha = sha2::Sha256::new();
        let mut hash = |chunk: &[u8]| sha.update(chunk);
        match conn.append_streamed(&self.wire, &flags, &date, item.size, &mut file, &mut hash) {
            Ok(sent) => {
                if matches!(sent, Sent::Tag(_)) {
                    item.sha256 = hex::encode(sha.finalize());
                }
                Ok((sent, item))
            }
            Err(ImapError::LiteralSource(e)) => {
                self.fail(
                    &item,
                    format!(
                        "the staged file changed while it was sent ({e}); run mailstage \
                         convert again"
                    ),
                )?;
                Err(ImapError::LiteralSource(e).into())
            }
            Err(e) => Err(e.into()),
        }
    }

    fn complete(
        &mut self,
        c: imap::Completion,
        items: Vec<Item>,
        validity: u32,
        queue: &mut VecDeque<(Item, bool)>,
        throttle_until: &mut Option<Instant>,
        stored: &mut Vec<(Item, Option<u32>)>,
    ) -> Result<(), UploadError> {
        if c.status == Status::Ok {
            let uids = c.append_uid().filter(|(_, u)| u.len() == items.len());
            let mut j = self.journal();
            let mut n_bytes = 0;
            let n = items.len() as u64;
            for (k, item) in items.into_iter().enumerate() {
                let (v, uid) = match &uids {
                    Some((v, u)) => (*v, Some(u[k])),
                    None => (validity, None),
                };
                j.record(
                    self.folder,
                    &Record::Stored {
                        path: item.path.clone(),
                        folder: self.name.clone(),
                        uidvalidity: v,
                        uid,
                        how: "append".into(),
                        sha256: item.sha256.clone(),
                    },
                )?;
                n_bytes += item.size;
                stored.push((item, uid));
            }
            drop(j);
            let mut s = self.stats();
            s.uploaded += n;
            s.uploaded_bytes += n_bytes;
            drop(s);
            self.ctx.progress.inc(n);
            self.progressed = true;
            return Ok(());
        }
        if let Some(ms) = c.throttle_ms() {
            self.stats().throttled += 1;
            let until = Instant::now() + Duration::from_millis(ms);
            *throttle_until = Some(throttle_until.map_or(until, |t| t.max(until)));
            for item in items.into_iter().rev() {
                queue.push_front((item, false));
            }
            return Ok(());
        }
        if items.len() > 1 {
            // one bad message fails a whole MULTIAPPEND (RFC 3502 §6.3.11): retry alone
            for item in items.into_iter().rev() {
                queue.push_front((item, true));
            }
            return Ok(());
        }
        for item in &items {
            self.fail(item, c.describe())?;
        }
        Ok(())
    }
}

/// Why a staged file whose size is not the manifest's is not sent.
fn changed_since_convert() -> String {
    "the staged file changed since convert (size differs from the manifest); run \
     mailstage convert again"
        .into()
}

/// The UID among `metas` that is `item`: same INTERNALDATE (as an instant), same
/// Message-ID when `check_id` (the SEARCH already matched it otherwise), not taken;
/// an exact size is preferred, since Exchange may re-encode and change it.
fn best_match(item: &Item, metas: &[FetchedMeta], taken: &UidSet, check_id: bool) -> Option<u32> {
    let candidates: Vec<&FetchedMeta> = metas
        .iter()
        .filter(|m| !taken.contains(m.uid))
        .filter(|m| imap::parse_imap_date(&m.internal_date).is_some_and(|d| d == item.date))
        .filter(|m| {
            !check_id
                || match &item.message_id {
                    Some(id) => m.message_ids.iter().any(|x| x == id),
                    None => m.message_ids.is_empty(),
                }
        })
        .collect();
    candidates
        .iter()
        .find(|m| m.size == item.size)
        .or_else(|| {
            // without a Message-ID to go by, only an exact size is good enough
            if item.message_id.is_some() {
                candidates.first()
            } else {
                None
            }
        })
        .map(|m| m.uid)
}
