//! Temporary storage for `upload`, `verify` and `rollback` (and `convert`): records appended to numbered
//! buckets and read back one bucket at a time, so that a mailbox of any size is
//! worked through in pieces whose size does not depend on the message count (see
//! `upload::survey`, "Bounded pieces").
//!
//! A part keeps up to [`BUF`] bytes in memory and only then creates its file: an
//! anonymous temporary file (`tempfile::tempfile`, in `$TMPDIR`; `O_TMPFILE` on
//! Linux), which the kernel frees when it is closed, also when the process is
//! killed, so nothing is ever left behind. A spill has at most [`MAX_PARTS`] parts
//! (open files): more buckets share them, and reading one bucket skips the records
//! of the others. Records are bytes the caller encodes ([`Enc`], [`Dec`]); a bucket
//! gives them back in the order they were pushed.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;

mod runs;
pub(crate) use runs::{ExtSort, Tape, TapeReader};

/// Bytes a part holds in memory before they go to its file.
const BUF: usize = 8 * 1024;
/// Open files per spill at most.
const MAX_PARTS: usize = 64;
/// Read buffer when a bucket is read back from its file.
const READ_BUF: usize = 64 * 1024;

/// A temporary file could not be created, written or read back.
#[derive(Debug, thiserror::Error)]
#[error(
    "temporary file (convert, upload, verify and rollback work through a large mailbox in pieces there; $TMPDIR sets where): {0}"
)]
pub struct SpillError(#[from] io::Error);

impl SpillError {
    /// A record that does not read back as it was written.
    pub(crate) fn corrupt(what: &str) -> Self {
        SpillError(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("temporary record unreadable ({what})"),
        ))
    }
}

/// Records in `buckets` numbered buckets.
#[derive(Debug)]
pub(crate) struct Spill {
    /// The parts, each a [`Tape`] buffering up to [`BUF`] (less in tests, so that
    /// they use the files).
    parts: Vec<Tape>,
    /// Records per bucket.
    counts: Vec<u64>,
}

/// `read_at` as a [`Read`] from `pos` on.
struct ReadAt<'a> {
    file: &'a File,
    pos: u64,
}

impl Read for ReadAt<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read_at(buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

/// A record header: bucket number and record length, both u32 LE.
const HEADER: usize = 8;

fn header(b: &[u8]) -> (usize, usize) {
    let word = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]) as usize;
    (word(0), word(4))
}

fn cut_short() -> SpillError {
    SpillError::corrupt("cut short")
}

impl Spill {
    /// An empty spill of `buckets` buckets (at least one).
    pub(crate) fn new(buckets: usize) -> Self {
        Self::with_limits(buckets, MAX_PARTS, BUF)
    }

    /// [`Spill::new`] with other limits: tests make every record go to a file and
    /// buckets share parts.
    pub(crate) fn with_limits(buckets: usize, max_parts: usize, buf_limit: usize) -> Self {
        let buckets = buckets.max(1);
        Spill {
            parts: (0..buckets.min(max_parts.max(1)))
                .map(|_| Tape::with_buf(buf_limit))
                .collect(),
            counts: vec![0; buckets],
        }
    }

    /// Records pushed to bucket `b`.
    pub(crate) fn count(&self, b: usize) -> u64 {
        self.counts[b]
    }

    /// Appends `rec` to bucket `b` (below the number of buckets).
    pub(crate) fn push(&mut self, b: usize, rec: &[u8]) -> Result<(), SpillError> {
        let n = self.parts.len();
        // counted by messages, like everything else per message here
        let tag = (b as u32).to_le_bytes();
        let len = (rec.len() as u32).to_le_bytes();
        self.parts[b % n].write_parts(&[&tag, &len, rec])?;
        self.counts[b] += 1;
        Ok(())
    }

    /// Calls `each` with every record of bucket `b`, in the order they were pushed.
    pub(crate) fn read<E: From<SpillError>>(
        &self,
        b: usize,
        mut each: impl FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        if self.counts[b] == 0 {
            return Ok(());
        }
        let part = &self.parts[b % self.parts.len()];
        let mut tail = part.buffered();
        // The file holds whole records (`Tape::write_parts`), the buffer the rest.
        let mut left = part.len() - tail.len() as u64;
        let mut r = part.reader(0, left, READ_BUF);
        let mut head = [0u8; HEADER];
        let mut rec = Vec::new();
        while left > 0 {
            r.read_exact(&mut head)?;
            let (tag, len) = header(&head);
            rec.resize(len, 0);
            r.read_exact(&mut rec)?;
            left = left
                .checked_sub((HEADER + len) as u64)
                .ok_or_else(cut_short)?;
            if tag == b {
                each(&rec)?;
            }
        }
        while !tail.is_empty() {
            if tail.len() < HEADER {
                return Err(cut_short().into());
            }
            let (tag, len) = header(tail);
            let rec = tail.get(HEADER..HEADER + len).ok_or_else(cut_short)?;
            if tag == b {
                each(rec)?;
            }
            tail = &tail[HEADER + len..];
        }
        Ok(())
    }
}

/// Records given back in the order of a dense key (0 ≤ key < n), a piece at a time:
/// each goes to the bucket of `key / piece`, and a bucket is sorted by (key, tie) when
/// it is read, so that at most about `piece` records are in memory.
#[derive(Debug)]
pub(crate) struct Sorted {
    spill: Spill,
    piece: u64,
}

impl Sorted {
    /// For keys below `n`.
    pub(crate) fn new(n: u64, piece: u64) -> Self {
        let piece = piece.max(1);
        Sorted {
            spill: Spill::new(n.div_ceil(piece) as usize),
            piece,
        }
    }

    /// Adds `rec` under (`key`, `tie`).
    pub(crate) fn push(&mut self, key: u64, tie: u64, rec: &[u8]) -> Result<(), SpillError> {
        let b = ((key / self.piece) as usize).min(self.spill.counts.len() - 1);
        let mut e = Enc::default();
        e.u64(key).u64(tie).raw(rec);
        self.spill.push(b, &e.buf)
    }

    /// Calls `each` with every record, by (key, tie); equal ones in the order pushed.
    pub(crate) fn read<E: From<SpillError>>(
        &self,
        mut each: impl FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut data = Vec::new();
        let mut recs: Vec<(u64, u64, usize, usize)> = Vec::new();
        for b in 0..self.spill.counts.len() {
            data.clear();
            recs.clear();
            self.spill.read::<SpillError>(b, |r| {
                let mut d = Dec(r);
                let (key, tie) = (d.u64()?, d.u64()?);
                recs.push((key, tie, data.len(), d.rest().len()));
                data.extend_from_slice(d.rest());
                Ok(())
            })?;
            recs.sort_by_key(|r| (r.0, r.1));
            for &(_, _, at, len) in &recs {
                each(&data[at..at + len])?;
            }
        }
        Ok(())
    }
}

/// Writes a record: fixed-size little-endian numbers and length-prefixed strings.
#[derive(Debug, Default)]
pub(crate) struct Enc {
    /// The record so far.
    pub(crate) buf: Vec<u8>,
}

impl Enc {
    /// Starts the next record (the buffer is reused).
    pub(crate) fn clear(&mut self) -> &mut Self {
        self.buf.clear();
        self
    }

    pub(crate) fn u8(&mut self, v: u8) -> &mut Self {
        self.buf.push(v);
        self
    }

    pub(crate) fn u32(&mut self, v: u32) -> &mut Self {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }

    pub(crate) fn u64(&mut self, v: u64) -> &mut Self {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }

    pub(crate) fn i64(&mut self, v: i64) -> &mut Self {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }

    pub(crate) fn u128(&mut self, v: u128) -> &mut Self {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }

    /// A string: its length (u32) and bytes.
    pub(crate) fn str(&mut self, s: &str) -> &mut Self {
        self.bytes(s.as_bytes())
    }

    /// Bytes: their length (u32) and the bytes.
    pub(crate) fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.u32(b.len() as u32);
        self.buf.extend_from_slice(b);
        self
    }

    /// `None` as 0; `Some(s)` as 1 and the string.
    pub(crate) fn opt_str(&mut self, s: Option<&str>) -> &mut Self {
        match s {
            None => self.u8(0),
            Some(s) => self.u8(1).str(s),
        }
    }

    /// A list of strings: how many (u32), then each.
    pub(crate) fn strs<S: AsRef<str>>(&mut self, list: &[S]) -> &mut Self {
        self.u32(list.len() as u32);
        for s in list {
            self.str(s.as_ref());
        }
        self
    }

    /// Bytes as they are (a record of another encoding inside this one, last).
    pub(crate) fn raw(&mut self, b: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(b);
        self
    }
}

/// Reads what [`Enc`] wrote, in the same order.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Dec<'a>(pub(crate) &'a [u8]);

impl<'a> Dec<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], SpillError> {
        if self.0.len() < n {
            return Err(cut_short());
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], SpillError> {
        let b = self.take(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(b);
        Ok(a)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, SpillError> {
        Ok(self.take(1)?[0])
    }

    pub(crate) fn u32(&mut self) -> Result<u32, SpillError> {
        self.array().map(u32::from_le_bytes)
    }

    pub(crate) fn u64(&mut self) -> Result<u64, SpillError> {
        self.array().map(u64::from_le_bytes)
    }

    pub(crate) fn i64(&mut self) -> Result<i64, SpillError> {
        self.array().map(i64::from_le_bytes)
    }

    pub(crate) fn u128(&mut self) -> Result<u128, SpillError> {
        self.array().map(u128::from_le_bytes)
    }

    pub(crate) fn bytes(&mut self) -> Result<&'a [u8], SpillError> {
        let n = self.u32()? as usize;
        self.take(n)
    }

    pub(crate) fn str(&mut self) -> Result<&'a str, SpillError> {
        std::str::from_utf8(self.bytes()?).map_err(|_| SpillError::corrupt("not UTF-8"))
    }

    pub(crate) fn opt_str(&mut self) -> Result<Option<&'a str>, SpillError> {
        match self.u8()? {
            0 => Ok(None),
            _ => self.str().map(Some),
        }
    }

    /// The bytes of a list [`Enc::strs`] wrote, whole (to compare or decode later),
    /// and how many strings it holds.
    pub(crate) fn strs_raw(&mut self) -> Result<(&'a [u8], u32), SpillError> {
        let all = self.0;
        let n = self.u32()?;
        for _ in 0..n {
            self.bytes()?;
        }
        Ok((&all[..all.len() - self.0.len()], n))
    }

    /// What is left.
    pub(crate) fn rest(&self) -> &'a [u8] {
        self.0
    }
}

/// The strings of a list [`Dec::strs_raw`] returned.
pub(crate) fn strs_of(raw: &[u8]) -> Result<Vec<String>, SpillError> {
    let mut d = Dec(raw);
    let n = d.u32()?;
    (0..n).map(|_| d.str().map(str::to_owned)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(s: &Spill, b: usize) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        s.read::<SpillError>(b, |r| {
            out.push(r.to_vec());
            Ok(())
        })
        .unwrap();
        out
    }

    #[test]
    fn buckets_keep_their_records_in_order_in_memory_and_in_files() {
        // (max parts, bytes in memory): all in memory; every record to a file, five
        // buckets in two files; and a file with a tail still in memory
        for (parts, buf) in [(64, 1 << 20), (2, 0), (3, 40)] {
            let mut s = Spill::with_limits(5, parts, buf);
            let mut want = vec![Vec::new(); 5];
            for n in 0..200u32 {
                let b = (n as usize * 7) % 5;
                let rec: Vec<u8> = (0..n % 13).map(|x| (x + n) as u8).collect();
                s.push(b, &rec).unwrap();
                want[b].push(rec);
            }
            for (b, w) in want.iter().enumerate() {
                assert_eq!(&all(&s, b), w, "parts {parts}, buf {buf}, bucket {b}");
                assert_eq!(s.count(b), w.len() as u64);
                // read twice: nothing is consumed
                assert_eq!(&all(&s, b), w);
            }
        }
        let s = Spill::new(0);
        assert_eq!(s.counts.len(), 1);
        assert!(all(&s, 0).is_empty());
    }

    #[test]
    fn sorted_gives_records_back_by_key_and_tie() {
        let mut s = Sorted::new(100, 7);
        let mut want = Vec::new();
        for n in 0..300u64 {
            let (key, tie) = ((n * 37) % 100, n % 3);
            s.push(key, tie, &n.to_le_bytes()).unwrap();
            want.push((key, tie, n));
        }
        // stable: equal (key, tie) in the order pushed
        want.sort_by_key(|w| (w.0, w.1));
        let mut got = Vec::new();
        s.read::<SpillError>(|r| {
            got.push(u64::from_le_bytes(r.try_into().unwrap()));
            Ok(())
        })
        .unwrap();
        assert_eq!(got, want.iter().map(|w| w.2).collect::<Vec<_>>());
    }

    #[test]
    fn encoding_round_trips() {
        let mut e = Enc::default();
        e.u8(7)
            .u32(u32::MAX)
            .u64(1 << 40)
            .i64(-5)
            .u128(u128::MAX - 1)
            .str("Grüße")
            .opt_str(None)
            .opt_str(Some(""))
            .strs(&["\\Seen", "a b"])
            .raw(b"tail");
        let mut d = Dec(&e.buf);
        assert_eq!(d.u8().unwrap(), 7);
        assert_eq!(d.u32().unwrap(), u32::MAX);
        assert_eq!(d.u64().unwrap(), 1 << 40);
        assert_eq!(d.i64().unwrap(), -5);
        assert_eq!(d.u128().unwrap(), u128::MAX - 1);
        assert_eq!(d.str().unwrap(), "Grüße");
        assert_eq!(d.opt_str().unwrap(), None);
        assert_eq!(d.opt_str().unwrap(), Some(""));
        let (raw, n) = d.strs_raw().unwrap();
        assert_eq!(n, 2);
        assert_eq!(strs_of(raw).unwrap(), ["\\Seen", "a b"]);
        assert_eq!(d.rest(), b"tail");
        // a record cut short is an error, not a panic
        assert!(Dec(&e.buf[..3]).u32().is_err());
        assert!(Dec(&[9, 0, 0, 0, b'x']).str().is_err());
    }
}
