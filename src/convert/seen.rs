//! The duplicate map of one folder: content hash → index of the first copy, in
//! bounded memory.
//!
//! Keyed by the first 128 bits of the SHA-256: the chance that two different
//! messages of a folder share them is about n²/2¹²⁹ (below 10⁻²⁶ for a million
//! messages). Up to a piece of entries are in a hash map, as before; when it is
//! full, its entries are sorted into a run on a temp file (20 bytes an entry) and
//! the map starts again. A run keeps in memory a Bloom filter of its keys
//! ([`BLOOM_BITS`] bits a key: about 1 % false positives) and the first key of each
//! block of [`BLOCK`] entries, about 1.4 bytes a message in all; a key the filter
//! does not rule out costs one `pread` of one block. Keys are unique across the map
//! and the runs (a key is only noted when it was found nowhere), so the order in
//! which they are searched does not matter.

use std::collections::HashMap;

use crate::spill::{SpillError, Tape};

/// Bytes of an entry on disk: the key and the index (u32 LE).
const ENTRY: usize = 16 + 4;
/// Entries per block of a run: one `pread` of 2.5 KB per lookup that gets there.
const BLOCK: usize = 128;
/// Bloom filter bits per key, and hash functions (k ≈ 0.7 × bits per key).
const BLOOM_BITS: usize = 10;
const BLOOM_HASHES: u64 = 7;

type Key = [u8; 16];

/// See the module docs.
pub(super) struct Seen {
    map: HashMap<Key, u32>,
    piece: usize,
    tape: Tape,
    runs: Vec<Run>,
}

/// One sorted run of entries on the tape.
struct Run {
    /// Byte offset of its first entry.
    start: u64,
    len: usize,
    bloom: Vec<u64>,
    /// First key of each block.
    fences: Vec<Key>,
}

/// The Bloom probes of a key: the key is part of a SHA-256, so its two halves are
/// independent uniform hashes (double hashing: h1 + i·h2).
fn probes(key: &Key, bits: u64) -> impl Iterator<Item = u64> {
    let half = |i: usize| {
        let mut a = [0u8; 8];
        a.copy_from_slice(&key[i..i + 8]);
        u64::from_le_bytes(a)
    };
    let (h1, h2) = (half(0), half(8) | 1);
    (0..BLOOM_HASHES).map(move |i| h1.wrapping_add(i.wrapping_mul(h2)) % bits)
}

impl Run {
    fn maybe(&self, key: &Key) -> bool {
        let bits = (self.bloom.len() * 64) as u64;
        probes(key, bits).all(|b| self.bloom[(b / 64) as usize] & (1 << (b % 64)) != 0)
    }

    fn find(&self, tape: &Tape, key: &Key) -> Result<Option<u32>, SpillError> {
        if !self.maybe(key) {
            return Ok(None);
        }
        // The last block whose first key is not above the key.
        let block = self.fences.partition_point(|f| f <= key);
        let Some(block) = block.checked_sub(1) else {
            return Ok(None);
        };
        let first = block * BLOCK;
        let n = BLOCK.min(self.len - first);
        let mut buf = vec![0u8; n * ENTRY];
        tape.read_at(self.start + (first * ENTRY) as u64, &mut buf)?;
        let entries: Vec<&[u8]> = buf.chunks_exact(ENTRY).collect();
        Ok(entries
            .binary_search_by(|e| e[..16].cmp(&key[..]))
            .ok()
            .map(|i| {
                let e = entries[i];
                u32::from_le_bytes([e[16], e[17], e[18], e[19]])
            }))
    }
}

impl Seen {
    /// A map holding at most `piece` entries in memory (at least one).
    pub(super) fn new(piece: usize) -> Self {
        Seen {
            map: HashMap::new(),
            piece: piece.max(1),
            tape: Tape::default(),
            runs: Vec::new(),
        }
    }

    /// The index of the first message with this content, or `None` after noting
    /// `idx` as the first.
    pub(super) fn first(
        &mut self,
        sha: &[u8; 32],
        idx: usize,
    ) -> Result<Option<usize>, SpillError> {
        let mut key = [0u8; 16];
        key.copy_from_slice(&sha[..16]);
        if let Some(&first) = self.map.get(&key) {
            return Ok(Some(first as usize));
        }
        for run in &self.runs {
            if let Some(first) = run.find(&self.tape, &key)? {
                return Ok(Some(first as usize));
            }
        }
        // A folder of 2³² messages is beyond any Maildir; past it, nothing more is
        // noted (a later copy is then staged, never dropped).
        if let Ok(i) = u32::try_from(idx) {
            if self.map.len() >= self.piece {
                self.spill()?;
            }
            self.map.insert(key, i);
        }
        Ok(None)
    }

    /// The map becomes a sorted run on the tape.
    fn spill(&mut self) -> Result<(), SpillError> {
        let mut entries: Vec<(Key, u32)> = self.map.drain().collect();
        entries.sort_unstable_by_key(|a| a.0);
        let words = (entries.len() * BLOOM_BITS).div_ceil(64).max(1);
        let mut run = Run {
            start: self.tape.len(),
            len: entries.len(),
            bloom: vec![0u64; words],
            fences: Vec::with_capacity(entries.len().div_ceil(BLOCK)),
        };
        let bits = (words * 64) as u64;
        for (i, (key, idx)) in entries.iter().enumerate() {
            for b in probes(key, bits) {
                run.bloom[(b / 64) as usize] |= 1 << (b % 64);
            }
            if i % BLOCK == 0 {
                run.fences.push(*key);
            }
            self.tape.write(key)?;
            self.tape.write(&idx.to_le_bytes())?;
        }
        self.tape.flush()?;
        self.runs.push(run);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The unbounded reference: what `Seen` was before it had runs.
    fn reference(keys: &[u16], piece: usize) -> (Vec<Option<usize>>, Vec<Option<usize>>) {
        let mut map: HashMap<Key, u32> = HashMap::new();
        let mut seen = Seen::new(piece);
        let (mut want, mut got) = (Vec::new(), Vec::new());
        for (idx, k) in keys.iter().enumerate() {
            let mut sha = [0u8; 32];
            // Spread the small key over the whole hash, like a real SHA-256.
            let spread: [u8; 32] = sha2::Digest::finalize(sha2::Digest::chain_update(
                <sha2::Sha256 as sha2::Digest>::new(),
                k.to_le_bytes(),
            ))
            .into();
            sha.copy_from_slice(&spread);
            let mut key = [0u8; 16];
            key.copy_from_slice(&sha[..16]);
            want.push(match map.get(&key) {
                Some(&f) => Some(f as usize),
                None => {
                    map.insert(key, idx as u32);
                    None
                }
            });
            got.push(seen.first(&sha, idx).unwrap());
        }
        (want, got)
    }

    proptest! {
        /// Bounded map == the plain hash map, for every piece size.
        #[test]
        fn bounded_seen_is_the_hash_map(
            keys in proptest::collection::vec(0u16..600, 0..1500),
            piece in prop_oneof![Just(1usize), Just(2), Just(5), Just(130), Just(1 << 20)],
        ) {
            let (want, got) = reference(&keys, piece);
            prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn many_runs_with_blocks() {
        // 2,000 distinct keys, repeated: runs of 3 entries, and runs of 300
        // (several blocks each); every repeat finds its first copy.
        let keys: Vec<u16> = (0..6000u32)
            .map(|i| (i.wrapping_mul(97) % 2000) as u16)
            .collect();
        for piece in [3, 300] {
            let (want, got) = reference(&keys, piece);
            assert_eq!(got, want, "piece {piece}");
        }
    }
}
