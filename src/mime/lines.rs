//! Line endings (RFC 5322 §2.1: lines end in CRLF).

use std::borrow::Cow;

/// What [`to_crlf`] found in its input.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LineEndings {
    /// Lines that ended in a bare LF (the usual Maildir form).
    pub bare_lf: usize,
    /// Lines that ended in a lone CR (old Mac mailers, broken gateways).
    pub bare_cr: usize,
    /// Lines that already ended in CRLF.
    pub crlf: usize,
    /// The longest line, in octets without its line ending: the same in the input
    /// and in the output, since only line endings change. Lets the repair pipeline
    /// skip a second pass over the message for the validator's line facts.
    pub longest: usize,
}

/// Normalise every line ending to CRLF. A lone CR becomes CRLF, and so does a bare LF.
///
/// Returns the input unchanged (borrowed) when it already uses CRLF throughout, so
/// the fast path for clean CRLF messages costs one scan and no copy.
pub fn to_crlf(input: &[u8]) -> (Cow<'_, [u8]>, LineEndings) {
    let mut stats = LineEndings::default();
    let mut out: Option<Vec<u8>> = None;
    let mut copied = 0; // input[..copied] is already in `out`
    let mut pos = 0;
    while let Some(i) = memchr::memchr2(b'\r', b'\n', &input[pos..]) {
        let at = pos + i;
        // `pos` is always the start of the line that `at` ends.
        stats.longest = stats.longest.max(i);
        if input[at] == b'\r' && input.get(at + 1) == Some(&b'\n') {
            stats.crlf += 1;
            pos = at + 2;
            continue;
        }
        let buf =
            out.get_or_insert_with(|| Vec::with_capacity(input.len() + input.len() / 32 + 16));
        buf.extend_from_slice(&input[copied..at]);
        buf.extend_from_slice(b"\r\n");
        if input[at] == b'\r' {
            stats.bare_cr += 1;
        } else {
            stats.bare_lf += 1;
        }
        pos = at + 1;
        copied = pos;
    }
    stats.longest = stats.longest.max(input.len() - pos);
    match out {
        None => (Cow::Borrowed(input), stats),
        Some(mut buf) => {
            buf.extend_from_slice(&input[copied..]);
            (Cow::Owned(buf), stats)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn normalises_each_kind() {
        let (o, s) = to_crlf(b"a\nb\rc\r\nd");
        assert_eq!(&*o, b"a\r\nb\r\nc\r\nd");
        assert_eq!((s.bare_lf, s.bare_cr, s.crlf), (1, 1, 1));
        let (o, s) = to_crlf(b"a\r\nb\r\n");
        assert!(matches!(o, Cow::Borrowed(_)));
        assert_eq!(s.crlf, 2);
        let (o, _) = to_crlf(b"\r\r\n\n\r");
        assert_eq!(&*o, b"\r\n\r\n\r\n\r\n");
    }

    fn stats_longest(v: &[u8]) -> usize {
        to_crlf(v).1.longest
    }

    proptest! {
        #[test]
        fn output_is_crlf_and_idempotent(v in proptest::collection::vec(prop_oneof![Just(b'\r'), Just(b'\n'), Just(b'x')], 0..64)) {
            let (o, _) = to_crlf(&v);
            for (i, &b) in o.iter().enumerate() {
                if b == b'\r' { prop_assert_eq!(o.get(i + 1), Some(&b'\n')); }
                if b == b'\n' { prop_assert!(i > 0 && o[i - 1] == b'\r'); }
            }
            let (again, _) = to_crlf(&o);
            prop_assert!(matches!(again, Cow::Borrowed(_)));
            // Only line endings change: the other bytes survive in order.
            let strip = |s: &[u8]| s.iter().copied().filter(|&b| b == b'x').count();
            prop_assert_eq!(strip(&o), strip(&v));
            // The longest line is what the validator's line pass finds in the output.
            let facts = crate::mime::validate::line_facts(&o);
            prop_assert_eq!(stats_longest(&v), facts.max);
            prop_assert!(!facts.bare);
        }
    }
}

/// Offsets, in the output of [`to_crlf`], of the bytes it inserted (the CR before
/// a bare LF, the LF after a lone CR). Lets a caller recover the exact original
/// bytes of a range of the normalised message (binary parts, RFC 2045 §6.2).
pub fn insertions(input: &[u8]) -> Vec<usize> {
    let mut out = Vec::new();
    let mut added = 0;
    let mut pos = 0;
    while let Some(i) = memchr::memchr2(b'\r', b'\n', &input[pos..]) {
        let at = pos + i;
        if input[at] == b'\r' && input.get(at + 1) == Some(&b'\n') {
            pos = at + 2;
            continue;
        }
        if input[at] == b'\r' {
            out.push(at + added + 1); // the LF added after the CR
        } else {
            out.push(at + added); // the CR added before the LF
        }
        added += 1;
        pos = at + 1;
    }
    out
}

/// The original bytes behind `range` of a normalised message, given the
/// [`insertions`] of its normalisation.
pub fn original_range(
    normalised: &[u8],
    range: std::ops::Range<usize>,
    inserted: &[usize],
) -> Vec<u8> {
    let first = inserted.partition_point(|&p| p < range.start);
    let end = range.end;
    let mut skip = inserted[first..]
        .iter()
        .copied()
        .take_while(|&p| p < end)
        .peekable();
    let mut out = Vec::with_capacity(range.len());
    for i in range {
        if skip.peek() == Some(&i) {
            skip.next();
            continue;
        }
        out.push(normalised[i]);
    }
    out
}

#[cfg(test)]
mod map_tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn original_bytes_are_recoverable(v in proptest::collection::vec(prop_oneof![Just(b'\r'), Just(b'\n'), any::<u8>()], 0..80), a in 0usize..100, b in 0usize..100) {
            let (norm, _) = to_crlf(&v);
            let ins = insertions(&v);
            prop_assert_eq!(original_range(&norm, 0..norm.len(), &ins), v.clone());
            // Any range that starts and ends between line breaks maps back to a
            // contiguous slice of the original.
            let (lo, hi) = (a.min(b).min(norm.len()), a.max(b).min(norm.len()));
            let part = original_range(&norm, lo..hi, &ins);
            prop_assert!(part.is_empty() || v.windows(part.len()).any(|w| w == &part[..]));
        }
    }
}
