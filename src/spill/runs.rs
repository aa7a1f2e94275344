//! Append-only temp files ([`Tape`]: also the parts of a [`super::Spill`]) and an
//! external merge sort of byte records ([`ExtSort`]), for `convert`'s folder
//! listings: a folder of any size is sorted and read back with a bounded amount of
//! memory.
//!
//! Like the rest of this module, every file is an anonymous temporary file
//! (`tempfile::tempfile`), freed by the kernel when closed or when the process is
//! killed.

use std::cmp::Ordering;
use std::fs::File;
use std::io::{BufReader, Read, Take, Write};

use super::{ReadAt, SpillError, cut_short};

/// Bytes a [`Tape`] buffers before they go to its file.
const TAPE_BUF: usize = 16 * 1024;
/// Read buffer of each run while runs are merged.
const MERGE_BUF: usize = 8 * 1024;
/// Runs merged at once: the merge holds one [`MERGE_BUF`] per run.
const FAN_IN: usize = 16;
/// Bytes of records an [`ExtSort`] holds before it sorts them into a run, whatever
/// the record count (file names are at most 255 bytes, but a bound is a bound).
const RUN_BYTES: usize = 256 * 1024;

/// An append-only anonymous temporary file, written through a buffer; the file is
/// only created once the buffer first fills.
#[derive(Debug)]
pub(crate) struct Tape {
    file: Option<File>,
    buf: Vec<u8>,
    /// Bytes in `file`.
    flushed: u64,
    /// Bytes buffered at most before they go to the file (unless one write alone is
    /// more).
    limit: usize,
}

impl Default for Tape {
    fn default() -> Self {
        Tape::with_buf(TAPE_BUF)
    }
}

impl Tape {
    /// An empty tape that buffers up to `limit` bytes.
    pub(crate) fn with_buf(limit: usize) -> Self {
        Tape {
            file: None,
            buf: Vec::new(),
            flushed: 0,
            limit,
        }
    }

    /// Bytes written so far (in the file or still buffered).
    pub(crate) fn len(&self) -> u64 {
        self.flushed + self.buf.len() as u64
    }

    /// The bytes written but not flushed yet (the end of the tape).
    pub(crate) fn buffered(&self) -> &[u8] {
        &self.buf
    }

    /// Appends `b`.
    pub(crate) fn write(&mut self, b: &[u8]) -> Result<(), SpillError> {
        self.write_parts(&[b])
    }

    /// Appends the concatenation of `parts`, all of it either still buffered or
    /// flushed, never split between the two: a reader of the file alone sees whole
    /// records.
    pub(crate) fn write_parts(&mut self, parts: &[&[u8]]) -> Result<(), SpillError> {
        let need: usize = parts.iter().map(|p| p.len()).sum();
        if self.buf.len() + need > self.limit && !self.buf.is_empty() {
            self.flush()?;
        }
        // Allocated at the limit: a buffer grown by doubling would be up to twice
        // that, in every tape.
        if self.buf.capacity() == 0 {
            self.buf.reserve_exact(self.limit.max(need));
        }
        for p in parts {
            self.buf.extend_from_slice(p);
        }
        Ok(())
    }

    /// Writes the buffer to the file: everything written so far can then be read.
    pub(crate) fn flush(&mut self) -> Result<(), SpillError> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let file = match &mut self.file {
            Some(f) => f,
            None => self.file.insert(tempfile::tempfile()?),
        };
        // Only ever written here, so the file position is its end; reads use
        // `read_at` and leave it there.
        file.write_all(&self.buf)?;
        self.flushed += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }

    /// Flushes and frees the write buffer: the tape is complete, to be read.
    pub(crate) fn seal(&mut self) -> Result<(), SpillError> {
        self.flush()?;
        self.buf = Vec::new();
        Ok(())
    }

    /// Fills `out` from byte `pos` on; only what was flushed can be read.
    pub(crate) fn read_at(&self, pos: u64, out: &mut [u8]) -> Result<(), SpillError> {
        if pos + out.len() as u64 > self.flushed {
            return Err(cut_short());
        }
        match &self.file {
            Some(file) => ReadAt { file, pos }.read_exact(out).map_err(SpillError),
            None if out.is_empty() => Ok(()),
            None => Err(cut_short()),
        }
    }

    /// The flushed bytes `start..end` as a buffered reader of `cap` bytes.
    pub(crate) fn reader(&self, start: u64, end: u64, cap: usize) -> TapeReader<'_> {
        TapeReader(self.file.as_ref().map(|file| {
            let end = end.min(self.flushed);
            BufReader::with_capacity(
                cap,
                ReadAt { file, pos: start }.take(end.saturating_sub(start)),
            )
        }))
    }
}

/// A range of a [`Tape`] read in order (see [`Tape::reader`]).
pub(crate) struct TapeReader<'a>(Option<BufReader<Take<ReadAt<'a>>>>);

impl TapeReader<'_> {
    /// Fills `out`; an error if the range ends first.
    pub(crate) fn read_exact(&mut self, out: &mut [u8]) -> Result<(), SpillError> {
        match &mut self.0 {
            Some(r) => r.read_exact(out).map_err(SpillError),
            None if out.is_empty() => Ok(()),
            None => Err(cut_short()),
        }
    }

    /// The next length-prefixed record (u32 LE length) into `rec`; `false` at the
    /// end of the range.
    fn record(&mut self, rec: &mut Vec<u8>) -> Result<bool, SpillError> {
        let Some(r) = &mut self.0 else {
            return Ok(false);
        };
        let mut len = [0u8; 4];
        match r.read(&mut len[..1]) {
            Ok(0) => return Ok(false),
            Ok(_) => {}
            Err(e) => return Err(SpillError(e)),
        }
        r.read_exact(&mut len[1..]).map_err(SpillError)?;
        rec.resize(u32::from_le_bytes(len) as usize, 0);
        r.read_exact(rec).map_err(SpillError)?;
        Ok(true)
    }
}

/// Byte records given back sorted by a key (a part of the record the caller
/// names), equal keys in the order pushed. Up to a piece of records (and at most
/// [`RUN_BYTES`]) are sorted in memory; beyond that, each piece becomes a sorted
/// run on a temp file and the runs are merged, [`FAN_IN`] at a time, as they are
/// read back. Memory: one piece, plus one small buffer per run being merged.
pub(crate) struct ExtSort {
    key: fn(&[u8]) -> &[u8],
    piece: usize,
    /// The records not yet in a run, back to back; `recs` holds their ranges.
    buf: Vec<u8>,
    recs: Vec<(usize, usize)>,
    tape: Tape,
    /// Byte ranges of the sorted runs on `tape`, in push order.
    runs: Vec<(u64, u64)>,
}

impl ExtSort {
    /// Sorts by `key`, with pieces of `piece` records (at least one).
    pub(crate) fn new(piece: usize, key: fn(&[u8]) -> &[u8]) -> Self {
        ExtSort {
            key,
            piece: piece.max(1),
            buf: Vec::new(),
            recs: Vec::new(),
            tape: Tape::default(),
            runs: Vec::new(),
        }
    }

    /// True once some records went to a run on the temp file.
    pub(crate) fn spilled(&self) -> bool {
        !self.runs.is_empty()
    }

    /// Adds a record.
    pub(crate) fn push(&mut self, rec: &[u8]) -> Result<(), SpillError> {
        if !self.recs.is_empty()
            && (self.recs.len() >= self.piece || self.buf.len() + rec.len() > RUN_BYTES)
        {
            self.spill_run()?;
        }
        self.recs.push((self.buf.len(), rec.len()));
        self.buf.extend_from_slice(rec);
        Ok(())
    }

    /// Sorts the records held in memory (stable: equal keys keep their order).
    fn sort_piece(&mut self) {
        let (buf, key) = (&self.buf, self.key);
        self.recs
            .sort_by(|a, b| key(&buf[a.0..a.0 + a.1]).cmp(key(&buf[b.0..b.0 + b.1])));
    }

    /// The records in memory become a sorted run on the tape.
    fn spill_run(&mut self) -> Result<(), SpillError> {
        self.sort_piece();
        let start = self.tape.len();
        for &(at, len) in &self.recs {
            self.tape.write(&(len as u32).to_le_bytes())?;
            self.tape.write(&self.buf[at..at + len])?;
        }
        self.runs.push((start, self.tape.len()));
        self.recs.clear();
        self.buf.clear();
        Ok(())
    }

    /// Calls `each` with every record, sorted by key (equal keys in push order).
    pub(crate) fn finish<E: From<SpillError>>(
        mut self,
        mut each: impl FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        if self.runs.is_empty() {
            self.sort_piece();
            for &(at, len) in &self.recs {
                each(&self.buf[at..at + len])?;
            }
            return Ok(());
        }
        if !self.recs.is_empty() {
            self.spill_run()?;
        }
        let key = self.key;
        let (mut tape, mut runs) = (self.tape, self.runs);
        tape.flush()?;
        // Each pass merges groups of FAN_IN runs, in order, into a new tape, so
        // that equal keys stay in push order; the old tape is freed after it.
        while runs.len() > FAN_IN {
            let mut out = Tape::default();
            let mut next = Vec::with_capacity(runs.len().div_ceil(FAN_IN));
            for group in runs.chunks(FAN_IN) {
                let start = out.len();
                merge::<SpillError>(&tape, group, key, |rec| {
                    out.write(&(rec.len() as u32).to_le_bytes())?;
                    out.write(rec)
                })?;
                next.push((start, out.len()));
            }
            out.flush()?;
            (tape, runs) = (out, next);
        }
        merge(&tape, &runs, key, &mut each)
    }
}

/// Calls `each` with the records of the sorted `runs` of `tape`, merged by `key`;
/// equal keys come from the earlier run first.
fn merge<E: From<SpillError>>(
    tape: &Tape,
    runs: &[(u64, u64)],
    key: fn(&[u8]) -> &[u8],
    mut each: impl FnMut(&[u8]) -> Result<(), E>,
) -> Result<(), E> {
    let mut readers: Vec<TapeReader<'_>> = runs
        .iter()
        .map(|&(start, end)| tape.reader(start, end, MERGE_BUF))
        .collect();
    let mut heads: Vec<Option<Vec<u8>>> = Vec::with_capacity(readers.len());
    for r in &mut readers {
        let mut rec = Vec::new();
        heads.push(r.record(&mut rec)?.then_some(rec));
    }
    loop {
        // A linear scan: at most FAN_IN heads.
        let mut best: Option<usize> = None;
        for (i, h) in heads.iter().enumerate() {
            if let Some(rec) = h {
                let better = match best.and_then(|b| heads[b].as_deref()) {
                    Some(cur) => key(rec).cmp(key(cur)) == Ordering::Less,
                    None => true,
                };
                if better {
                    best = Some(i);
                }
            }
        }
        let Some(i) = best else {
            return Ok(());
        };
        let (Some(rec), Some(reader)) = (heads[i].as_mut(), readers.get_mut(i)) else {
            return Ok(());
        };
        each(rec)?;
        if !reader.record(rec)? {
            heads[i] = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Records sort by everything after their first byte; the first byte tells
    /// equal keys apart, to check that the sort is stable.
    fn after_first(rec: &[u8]) -> &[u8] {
        rec.get(1..).unwrap_or_default()
    }

    fn ext_sorted(recs: &[Vec<u8>], piece: usize) -> Vec<Vec<u8>> {
        let mut s = ExtSort::new(piece, after_first);
        for r in recs {
            s.push(r).unwrap();
        }
        let mut out = Vec::new();
        s.finish::<SpillError>(|r| {
            out.push(r.to_vec());
            Ok(())
        })
        .unwrap();
        out
    }

    proptest! {
        /// External sort == a stable in-memory sort, whatever the piece: all in
        /// memory, a few runs, and more than FAN_IN runs (several merge passes).
        #[test]
        fn external_sort_is_the_stable_in_memory_sort(
            keys in proptest::collection::vec(proptest::collection::vec(0u8..4, 0..5), 0..700),
            piece in prop_oneof![Just(1usize), Just(2), Just(3), Just(7), Just(64), Just(100_000)],
        ) {
            let recs: Vec<Vec<u8>> = keys
                .iter()
                .enumerate()
                .map(|(i, k)| [&[(i % 251) as u8][..], k].concat())
                .collect();
            let mut want = recs.clone();
            want.sort_by(|a, b| after_first(a).cmp(after_first(b)));
            prop_assert_eq!(ext_sorted(&recs, piece), want);
        }
    }

    #[test]
    fn many_runs_and_long_records() {
        // 5,000 runs of one record: three merge passes; and records of 100 KB,
        // over RUN_BYTES together.
        let recs: Vec<Vec<u8>> = (0..5000u32)
            .map(|i| [&[0u8][..], &(i.wrapping_mul(2_654_435_761)).to_be_bytes()].concat())
            .collect();
        let mut want = recs.clone();
        want.sort();
        assert_eq!(ext_sorted(&recs, 1), want);
        let big: Vec<Vec<u8>> = (0..8u8).rev().map(|i| vec![i; 100_000]).collect();
        let mut want = big.clone();
        want.sort();
        assert_eq!(ext_sorted(&big, 1000), want);
    }

    #[test]
    fn tape_reads_back_what_was_flushed() {
        let mut t = Tape::default();
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        for c in data.chunks(777) {
            t.write(c).unwrap();
        }
        assert_eq!(t.len(), data.len() as u64);
        // Not flushed yet: the tail cannot be read (an error, not wrong bytes).
        let mut out = vec![0u8; 10];
        assert!(t.read_at(data.len() as u64 - 10, &mut out).is_err());
        t.flush().unwrap();
        t.read_at(150_000, &mut out).unwrap();
        assert_eq!(out, data[150_000..150_010]);
        let mut r = t.reader(5, 100_005, 4096);
        let mut all = vec![0u8; 100_000];
        r.read_exact(&mut all).unwrap();
        assert_eq!(all, data[5..100_005]);
        assert!(r.read_exact(&mut out).is_err());
        // An empty tape has no file and nothing to read.
        let e = Tape::default();
        assert!(e.read_at(0, &mut out).is_err());
        e.read_at(0, &mut []).unwrap();
    }
}
