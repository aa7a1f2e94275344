//! A set of UIDs kept as runs of consecutive numbers.
//!
//! The UIDs a folder's journal claims are mostly consecutive: a server assigns them in
//! the order of the APPENDs (RFC 3501 §2.3.1.1 / RFC 9051 §2.3.1.1: strictly
//! ascending), and mailstage appends a folder in manifest order. A hash set paid
//! about 9 bytes per message of the folder (some 370 KB for a folder of 36,000); as
//! runs, such a folder is a handful of entries; a scattered one costs about 12 bytes
//! a UID, a little more than the hash set.

use std::collections::BTreeMap;

/// UIDs as runs `start ..= end`, keyed by `start`; runs never touch or overlap.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct UidSet {
    runs: BTreeMap<u32, u32>,
}

impl UidSet {
    /// An empty set.
    pub(super) fn new() -> Self {
        UidSet::default()
    }

    /// The run that holds `uid` or ends below it, the nearest one.
    fn run_at_or_below(&self, uid: u32) -> Option<(u32, u32)> {
        self.runs.range(..=uid).next_back().map(|(&s, &e)| (s, e))
    }

    /// Whether `uid` is in the set.
    pub(super) fn contains(&self, uid: u32) -> bool {
        self.run_at_or_below(uid).is_some_and(|(_, e)| uid <= e)
    }

    /// Adds `uid`; whether it was new.
    pub(super) fn insert(&mut self, uid: u32) -> bool {
        let below = self.run_at_or_below(uid);
        if below.is_some_and(|(_, e)| uid <= e) {
            return false;
        }
        let above = uid
            .checked_add(1)
            .and_then(|n| self.runs.get(&n).map(|&e| (n, e)));
        match (below.filter(|&(_, e)| e.checked_add(1) == Some(uid)), above) {
            // fills the gap between two runs: one run now
            (Some((s, _)), Some((n, e))) => {
                self.runs.remove(&n);
                self.runs.insert(s, e);
            }
            (Some((s, _)), None) => {
                self.runs.insert(s, uid);
            }
            (None, Some((n, e))) => {
                self.runs.remove(&n);
                self.runs.insert(uid, e);
            }
            (None, None) => {
                self.runs.insert(uid, uid);
            }
        }
        true
    }
}

impl Extend<u32> for UidSet {
    fn extend<T: IntoIterator<Item = u32>>(&mut self, iter: T) {
        for u in iter {
            self.insert(u);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use proptest::prelude::*;

    use super::*;

    #[test]
    fn consecutive_uids_are_one_run() {
        let mut s = UidSet::new();
        for u in (1..=35_999).rev().step_by(2).chain((2..=36_000).step_by(2)) {
            assert!(s.insert(u));
        }
        assert_eq!(s.runs.len(), 1);
        assert!(s.contains(1) && s.contains(36_000) && !s.contains(0) && !s.contains(36_001));
        assert!(!s.insert(17));
        let mut t = UidSet::new();
        t.extend([u32::MAX, 0, u32::MAX - 1, 1]);
        assert_eq!(t.runs.len(), 2);
        assert!(t.contains(u32::MAX) && t.contains(0) && !t.contains(2));
    }

    proptest! {
        #[test]
        fn same_as_a_hash_set(uids in proptest::collection::vec(0u32..200, 0..300), probe in 0u32..210) {
            let mut s = UidSet::new();
            let mut h = HashSet::new();
            for &u in &uids {
                prop_assert_eq!(s.insert(u), h.insert(u));
            }
            for u in 0..210 {
                prop_assert_eq!(s.contains(u), h.contains(&u));
            }
            prop_assert_eq!(s.contains(probe), h.contains(&probe));
            // runs never touch: each gap is at least one missing UID
            let runs: Vec<(u32, u32)> = s.runs.iter().map(|(&a, &b)| (a, b)).collect();
            for w in runs.windows(2) {
                prop_assert!(w[0].1 + 1 < w[1].0);
            }
        }
    }
}
