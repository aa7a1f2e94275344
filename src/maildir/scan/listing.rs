//! [`Scanner::list_bounded`]: a folder's listing whose memory does not depend on
//! its message count, for `convert` (a folder may hold 100k messages).
//!
//! The same listing as [`Scanner::list`] (same order, same warnings in the same
//! order), made in pieces: the names of a `cur/` or `new/` directory are sorted by
//! an external merge sort ([`ExtSort`]: sorted runs of a piece of names on a temp
//! file, merged), then stat'ed in that order exactly as the in-memory listing does
//! ([`examine`]). A folder of up to a piece of messages stays in memory as a
//! [`FolderMessages`]; a larger one goes to two temp files ([`Tape`]): its file
//! names back to back, and a fixed-size record per message ([`REC`] bytes), so
//! that message `i` is one `pread` at `i * REC` (the rare duplicate whose reason
//! names its first copy), and the messages are read back in order a chunk at a
//! time ([`Chunks`]).

use std::path::Path;
use std::time::{Duration, SystemTime};

use super::{
    Ctx, FlagTally, FolderMessages, Kind, Place, Record, Scanner, examine, load_keywords,
    push_tally, subdir,
};
use crate::maildir::MailboxDirs;
use crate::maildir::filename::FlagSet;
use crate::spill::{ExtSort, SpillError, Tape, TapeReader};
use std::os::unix::ffi::OsStrExt;

/// Bytes of one message record on disk: name offset (u64) and length (u32), `new/`
/// (u8), flags (u32), size (u64), mtime (before-epoch u8, seconds u64, nanoseconds
/// u32); all little-endian.
const REC: usize = 8 + 4 + 1 + 4 + 8 + 1 + 8 + 4;
/// Read buffer of each of the two files while a listing is read in order.
const READ_BUF: usize = 16 * 1024;

/// A folder's messages from [`Scanner::list_bounded`], in relative path order: in
/// memory for a folder of up to a piece of messages, else on temp files (see the
/// module docs). Read them with [`Listing::chunks`].
#[derive(Debug)]
pub struct Listing {
    /// In memory: every message. On disk: the folder's directory, prefix and
    /// keywords, no message.
    head: FolderMessages,
    disk: Option<DiskList>,
    len: usize,
    total_bytes: u64,
}

/// The two files of a listing on disk.
#[derive(Debug, Default)]
struct DiskList {
    recs: Tape,
    names: Tape,
}

impl DiskList {
    fn push(&mut self, name: &[u8], r: &Record) -> Result<(), SpillError> {
        let mut b = [0u8; REC];
        let (neg, d) = match r.mtime.duration_since(SystemTime::UNIX_EPOCH) {
            Ok(d) => (0u8, d),
            Err(e) => (1u8, e.duration()),
        };
        b[0..8].copy_from_slice(&self.names.len().to_le_bytes());
        b[8..12].copy_from_slice(&(name.len() as u32).to_le_bytes());
        b[12] = u8::from(r.in_new);
        b[13..17].copy_from_slice(&r.flags.bits().to_le_bytes());
        b[17..25].copy_from_slice(&r.size.to_le_bytes());
        b[25] = neg;
        b[26..34].copy_from_slice(&d.as_secs().to_le_bytes());
        b[34..38].copy_from_slice(&d.subsec_nanos().to_le_bytes());
        self.names.write(name)?;
        self.recs.write(&b)
    }
}

/// A record read back: (name offset, name length, the record with `start` 0).
fn decode(b: &[u8; REC]) -> Result<(u64, usize, Record), SpillError> {
    let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    let u64_at = |i: usize| {
        let mut a = [0u8; 8];
        a.copy_from_slice(&b[i..i + 8]);
        u64::from_le_bytes(a)
    };
    let d = Duration::new(u64_at(26), u32_at(34));
    let mtime = if b[25] == 0 {
        SystemTime::UNIX_EPOCH.checked_add(d)
    } else {
        SystemTime::UNIX_EPOCH.checked_sub(d)
    }
    .ok_or_else(|| SpillError::corrupt("listing mtime"))?;
    let len = u32_at(8) as usize;
    Ok((
        u64_at(0),
        len,
        Record {
            start: 0,
            len,
            in_new: b[12] != 0,
            flags: FlagSet::from_bits(u32_at(13)),
            size: u64_at(17),
            mtime,
        },
    ))
}

/// Where the listing of a folder goes as it is made: memory until it has more
/// than a piece of messages, then its [`DiskList`].
struct Sink {
    out: FolderMessages,
    disk: Option<DiskList>,
    piece: usize,
    len: usize,
    total_bytes: u64,
}

impl Sink {
    /// From now on the records go to disk (those so far too).
    fn go_to_disk(&mut self) -> Result<(), SpillError> {
        if self.disk.is_some() {
            return Ok(());
        }
        let mut disk = DiskList::default();
        for r in &self.out.list {
            disk.push(r.name(&self.out.names), r)?;
        }
        self.out.names = Vec::new();
        self.out.list = Vec::new();
        self.disk = Some(disk);
        Ok(())
    }

    fn push(&mut self, name: &[u8], mut rec: Record) -> Result<(), SpillError> {
        if self.disk.is_none() && self.out.list.len() >= self.piece {
            self.go_to_disk()?;
        }
        self.len += 1;
        self.total_bytes += rec.size;
        match &mut self.disk {
            Some(disk) => disk.push(name, &rec),
            None => {
                rec.start = self.out.names.len();
                rec.len = name.len();
                self.out.names.extend_from_slice(name);
                self.out.list.push(rec);
                Ok(())
            }
        }
    }
}

fn kind_byte(k: Kind) -> u8 {
    match k {
        Kind::Dir => 0,
        Kind::File => 1,
        Kind::Symlink => 2,
        Kind::Other => 3,
    }
}

fn byte_kind(b: u8) -> Kind {
    match b {
        0 => Kind::Dir,
        1 => Kind::File,
        2 => Kind::Symlink,
        _ => Kind::Other,
    }
}

/// A sorter record is the kind byte and the name; it sorts by the name.
fn name_key(rec: &[u8]) -> &[u8] {
    rec.get(1..).unwrap_or_default()
}

/// [`super::list_mailbox`] in pieces of `piece` messages.
pub(super) fn list_mailbox(
    ctx: &mut Ctx,
    dir: &Path,
    mb: &MailboxDirs,
    piece: usize,
) -> Result<Listing, SpillError> {
    let keywords = load_keywords(ctx, dir, mb);
    let mut sink = Sink {
        out: FolderMessages {
            dir: dir.to_path_buf(),
            prefix: mb.rel.clone(),
            keywords,
            names: Vec::new(),
            list: Vec::new(),
        },
        disk: None,
        piece: piece.max(1),
        len: 0,
        total_bytes: 0,
    };
    let mut tally = FlagTally::default();
    for (present, in_new) in [(mb.cur, false), (mb.new, true)] {
        if present {
            list_messages(ctx, &mut sink, in_new, &mut tally)?;
        }
    }
    push_tally(ctx, dir, tally);
    let Sink {
        mut out,
        mut disk,
        len,
        total_bytes,
        ..
    } = sink;
    if let Some(d) = &mut disk {
        d.recs.seal()?;
        d.names.seal()?;
    }
    // The records were made in (cur/ before new/, name) order: relative path order.
    out.names.shrink_to_fit();
    out.list.shrink_to_fit();
    Ok(Listing {
        head: out,
        disk,
        len,
        total_bytes,
    })
}

/// [`super::list_messages`] with the names sorted in pieces.
fn list_messages(
    ctx: &mut Ctx,
    sink: &mut Sink,
    in_new: bool,
    tally: &mut FlagTally,
) -> Result<(), SpillError> {
    let sub = sink.out.dir.join(subdir(in_new));
    let dir = match ctx.entries(&sub) {
        Ok(dir) => dir,
        Err(e) => {
            ctx.io_warning(sub, &e);
            return Ok(());
        }
    };
    let mut sorter = ExtSort::new(sink.piece, name_key);
    let mut rec = Vec::new();
    for (entry, kind) in dir {
        rec.clear();
        rec.push(kind_byte(kind));
        rec.extend_from_slice(entry.file_name().as_bytes());
        sorter.push(&rec)?;
    }
    // More than a piece of entries: most likely more than a piece of messages, so
    // the records go straight to disk rather than through a piece in memory.
    if sorter.spilled() {
        sink.go_to_disk()?;
    }
    let mut unmapped = Vec::new();
    // The place borrows the sink's header; the records go to the sink, so the
    // header is moved out for the loop and back after it.
    let prefix = std::mem::take(&mut sink.out.prefix);
    let keywords = std::mem::take(&mut sink.out.keywords);
    let at = Place {
        sub: &sub,
        prefix: &prefix,
        keywords: &keywords,
        in_new,
    };
    let done = sorter.finish::<SpillError>(|rec| {
        let kind = byte_kind(rec.first().copied().unwrap_or(3));
        let name = name_key(rec);
        match examine(ctx, &at, name, kind, tally, &mut unmapped) {
            Some((flags, size, mtime)) => sink.push(
                name,
                Record {
                    start: 0,
                    len: name.len(),
                    in_new,
                    flags,
                    size,
                    mtime,
                },
            ),
            None => Ok(()),
        }
    });
    sink.out.prefix = prefix;
    sink.out.keywords = keywords;
    done
}

impl Scanner {
    /// [`Scanner::list`] with a memory bound: a folder of more than `piece`
    /// messages is sorted and kept on temp files (see the module docs), and is read
    /// back a chunk at a time. Same messages, same order, same warnings.
    ///
    /// Fails only if a temp file cannot be created, written or read back.
    ///
    /// # Panics
    /// If `index` is out of range.
    pub fn list_bounded(&mut self, index: usize, piece: usize) -> Result<Listing, SpillError> {
        let folder = &self.folders[index];
        let (Some(dir), Some(mb)) = (&folder.dir, &folder.mailbox) else {
            return Ok(Listing {
                head: FolderMessages::default(),
                disk: None,
                len: 0,
                total_bytes: 0,
            });
        };
        let mut ctx = Ctx::default();
        let out = list_mailbox(&mut ctx, dir, mb, piece)?;
        self.keep_listing(mb.slot, ctx);
        Ok(out)
    }
}

impl Listing {
    /// Number of messages.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True if the folder has no messages (or is not a mailbox).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Sum of the messages' sizes.
    pub fn total_bytes(&self) -> u64 {
        self.total_bytes
    }

    /// True if the messages are on temp files rather than in memory.
    pub fn on_disk(&self) -> bool {
        self.disk.is_some()
    }

    /// The messages in order, a chunk at a time (see [`Chunks::next_chunk`]).
    pub fn chunks(&self) -> Chunks<'_> {
        let readers = self.disk.as_ref().map(|d| {
            (
                d.recs.reader(0, d.recs.len(), READ_BUF),
                d.names.reader(0, d.names.len(), READ_BUF),
            )
        });
        Chunks {
            listing: self,
            next: 0,
            readers,
            pending: None,
        }
    }

    /// The root-relative path of message number `index` (see [`super::Message::rel_path`]).
    pub fn rel_path(&self, index: usize) -> Result<Vec<u8>, SpillError> {
        let Some(disk) = &self.disk else {
            return match self.head.list.get(index) {
                Some(rec) => Ok(super::Message {
                    folder: &self.head,
                    rec,
                }
                .rel_path()),
                None => Err(SpillError::corrupt("no such message")),
            };
        };
        let mut b = [0u8; REC];
        disk.recs.read_at((index as u64) * REC as u64, &mut b)?;
        let (at, len, rec) = decode(&b)?;
        let mut name = vec![0u8; len];
        disk.names.read_at(at, &mut name)?;
        let sub = subdir(rec.in_new).as_bytes();
        Ok([&self.head.prefix[..], sub, b"/", &name].concat())
    }

    /// A [`FolderMessages`] of this folder with no message yet.
    fn empty_piece(&self) -> FolderMessages {
        FolderMessages {
            dir: self.head.dir.clone(),
            prefix: self.head.prefix.clone(),
            keywords: self.head.keywords.clone(),
            names: Vec::new(),
            list: Vec::new(),
        }
    }
}

/// The messages of a [`Listing`] in order, in chunks.
pub struct Chunks<'a> {
    listing: &'a Listing,
    /// Index of the next message.
    next: usize,
    /// On disk: the records and the names, read in order.
    readers: Option<(TapeReader<'a>, TapeReader<'a>)>,
    /// Message `next`, read but left for the next chunk, which it did not fit.
    pending: Option<(Record, Vec<u8>)>,
}

impl Chunks<'_> {
    /// Message `next`'s record and name, from memory or the next bytes on disk.
    fn read_next(&mut self) -> Result<(Record, Vec<u8>), SpillError> {
        match &mut self.readers {
            Some((recs, names)) => {
                let mut b = [0u8; REC];
                recs.read_exact(&mut b)?;
                let (_, len, rec) = decode(&b)?;
                let mut name = vec![0u8; len];
                names.read_exact(&mut name)?;
                Ok((rec, name))
            }
            None => {
                let head = &self.listing.head;
                let rec = head
                    .list
                    .get(self.next)
                    .ok_or_else(|| SpillError::corrupt("listing cut short"))?;
                Ok((rec.clone(), rec.name(&head.names).to_vec()))
            }
        }
    }

    /// The next messages: at most `max_messages`, and only as many as have sizes
    /// adding up to at most `max_bytes` (but at least one). Returns the index of the
    /// first and the chunk as a [`FolderMessages`] (whose message 0 is that one),
    /// or `None` after the last.
    pub fn next_chunk(
        &mut self,
        max_messages: usize,
        max_bytes: u64,
    ) -> Result<Option<(usize, FolderMessages)>, SpillError> {
        let first = self.next;
        let mut piece = self.listing.empty_piece();
        let mut bytes = 0u64;
        while self.next < self.listing.len && piece.list.len() < max_messages {
            let (mut rec, name) = match self.pending.take() {
                Some(p) => p,
                None => self.read_next()?,
            };
            // Strictly within the bound, so that a chunk's bytes are at most
            // max(max_bytes, its one message): the peak of convert does not grow
            // with the chance that a large message ends a full chunk.
            if !piece.list.is_empty() && bytes.saturating_add(rec.size) > max_bytes {
                self.pending = Some((rec, name));
                break;
            }
            rec.start = piece.names.len();
            piece.names.extend_from_slice(&name);
            bytes += rec.size;
            piece.list.push(rec);
            self.next += 1;
        }
        Ok((!piece.list.is_empty()).then_some((first, piece)))
    }
}
