//! Content-Transfer-Encodings: base64 and quoted-printable (RFC 2045 §6).
//!
//! Decoders are lenient: they never fail and never panic, whatever the input, and
//! return a defect report next to the bytes so that repair can decide whether a part
//! must be re-encoded. Encoders are strict: their output always passes the matching
//! `*_is_clean` check, every line is at most [`MAX_ENCODED_LINE`] octets and ends with
//! CRLF, so Exchange and strict parsers accept it as is.
//!
//! Everything works on byte slices, allocates the output once (`Vec::with_capacity`)
//! and scans with `memchr` and lookup tables; nothing allocates per byte.

use memchr::memchr;

/// Longest encoded line RFC 2045 allows for base64 and quoted-printable, in octets
/// without the line ending (RFC 2045 §6.7 rule 5, §6.8).
pub const MAX_ENCODED_LINE: usize = 76;

/// Hard limit on any line of a message, in octets without the CRLF (RFC 5322 §2.1.1).
/// Exchange answers longer lines with `BAD Command Argument Error. 11` (EXCHANGE.md).
pub const MAX_LINE_HARD: usize = 998;

const B64_ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Class of a byte in base64 input: 0..=63 is the alphabet value (RFC 2045 §6.8
/// Table 1); the other classes all have bit 6 set, so `a | b | c | d < 64` tests four
/// bytes at once.
const B64_PAD: u8 = 64;
const B64_SPACE: u8 = 65;
const B64_INVALID: u8 = 66;

const B64_DECODE: [u8; 256] = {
    let mut t = [B64_INVALID; 256];
    let mut i = 0;
    while i < 64 {
        t[B64_ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    t[b'=' as usize] = B64_PAD;
    t[b' ' as usize] = B64_SPACE;
    t[b'\t' as usize] = B64_SPACE;
    t[b'\r' as usize] = B64_SPACE;
    t[b'\n' as usize] = B64_SPACE;
    t
};

/// What [`decode_base64_lenient`] had to tolerate. All zero / `false` for input that a
/// strict decoder would accept (line length aside, see [`Base64Defects::long_lines`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Base64Defects {
    /// Bytes that are neither in the alphabet, nor `=`, nor whitespace (skipped, as
    /// RFC 2045 §6.8 tells decoders to), plus excess `=` beyond a quantum's padding.
    pub invalid_chars: usize,
    /// A final (or interrupted) quantum lacked some or all of its `=` padding.
    pub missing_padding: bool,
    /// A quantum of a single character, which carries fewer than 8 bits, was dropped.
    pub stray_trailing: bool,
    /// Some line is longer than [`MAX_ENCODED_LINE`] octets (RFC 2045 §6.8).
    pub long_lines: bool,
    /// Alphabet characters followed padding; they were decoded too (see
    /// [`decode_base64_lenient`]).
    pub data_after_padding: bool,
}

impl Base64Defects {
    /// True if anything at all was wrong.
    pub fn any(&self) -> bool {
        self.invalid_chars != 0
            || self.missing_padding
            || self.stray_trailing
            || self.long_lines
            || self.data_after_padding
    }
}

/// Lenient base64 decoder state across lines.
struct B64State {
    acc: u32,
    /// Characters in the current quantum (0..=3).
    n: u8,
    /// Inside a run of `=` that closed a quantum.
    in_padding: bool,
    /// `=` needed to complete the padding of the closed quantum.
    pad_needed: u8,
    /// `=` seen in the current padding run.
    pad_seen: u8,
}

/// Lenient base64 decode (RFC 2045 §6.8).
///
/// Whitespace, CR and LF are skipped; every other byte outside the alphabet is
/// skipped and counted (§6.8: "any characters outside of the base64 alphabet are to be
/// ignored"). Missing padding is tolerated; a final quantum of one character, which
/// cannot carry a whole octet, is dropped. Lines of any length are accepted.
///
/// Decision on data after padding: `=` ends a quantum, and alphabet characters
/// that come later start new quanta and are decoded too. Such input comes from
/// separately encoded chunks concatenated by broken tools, and decoding the rest is
/// the way not to lose data. [`Base64Defects::data_after_padding`] reports it.
pub fn decode_base64_lenient(input: &[u8]) -> (Vec<u8>, Base64Defects) {
    let mut out = Vec::with_capacity(input.len() / 4 * 3 + 3);
    let mut defects = Base64Defects::default();
    let mut st = B64State {
        acc: 0,
        n: 0,
        in_padding: false,
        pad_needed: 0,
        pad_seen: 0,
    };
    let mut rest = input;
    while !rest.is_empty() {
        let (line, next) = match memchr(b'\n', rest) {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, &rest[rest.len()..]),
        };
        rest = next;
        let content = line.strip_suffix(b"\r").unwrap_or(line);
        if content.len() > MAX_ENCODED_LINE {
            defects.long_lines = true;
        }
        b64_decode_line(content, &mut st, &mut out, &mut defects);
    }
    // End of input closes the last quantum (§6.8: the final unit may be short).
    if st.in_padding {
        if st.pad_seen < st.pad_needed {
            defects.missing_padding = true;
        }
    } else {
        match st.n {
            1 => defects.stray_trailing = true,
            2 => {
                out.push((st.acc >> 4) as u8);
                defects.missing_padding = true;
            }
            3 => {
                out.extend_from_slice(&[(st.acc >> 10) as u8, (st.acc >> 2) as u8]);
                defects.missing_padding = true;
            }
            _ => {}
        }
    }
    (out, defects)
}

fn b64_decode_line(line: &[u8], st: &mut B64State, out: &mut Vec<u8>, defects: &mut Base64Defects) {
    let mut i = 0;
    while i < line.len() {
        if st.n == 0 && !st.in_padding {
            // Fast path: whole quanta of alphabet characters.
            while let Some(q) = line.get(i..i + 4) {
                let a = B64_DECODE[q[0] as usize];
                let b = B64_DECODE[q[1] as usize];
                let c = B64_DECODE[q[2] as usize];
                let d = B64_DECODE[q[3] as usize];
                if (a | b | c | d) >= 64 {
                    break;
                }
                let v = (u32::from(a) << 18)
                    | (u32::from(b) << 12)
                    | (u32::from(c) << 6)
                    | u32::from(d);
                out.extend_from_slice(&[(v >> 16) as u8, (v >> 8) as u8, v as u8]);
                i += 4;
            }
            if i >= line.len() {
                break;
            }
        }
        let class = B64_DECODE[line[i] as usize];
        i += 1;
        match class {
            B64_SPACE => {}
            B64_INVALID => defects.invalid_chars += 1,
            B64_PAD => {
                if st.in_padding {
                    st.pad_seen = st.pad_seen.saturating_add(1);
                    if st.pad_seen > st.pad_needed {
                        defects.invalid_chars += 1;
                    }
                    continue;
                }
                // '=' closes the current quantum (§6.8: "=" is the pad character).
                st.pad_needed = match st.n {
                    0 => {
                        defects.invalid_chars += 1;
                        0
                    }
                    1 => {
                        defects.stray_trailing = true;
                        3
                    }
                    2 => {
                        out.push((st.acc >> 4) as u8);
                        2
                    }
                    _ => {
                        out.extend_from_slice(&[(st.acc >> 10) as u8, (st.acc >> 2) as u8]);
                        1
                    }
                };
                st.in_padding = true;
                st.pad_seen = 1;
                st.n = 0;
                st.acc = 0;
            }
            v => {
                if st.in_padding {
                    if st.pad_seen < st.pad_needed {
                        defects.missing_padding = true;
                    }
                    defects.data_after_padding = true;
                    st.in_padding = false;
                }
                st.acc = (st.acc << 6) | u32::from(v);
                st.n += 1;
                if st.n == 4 {
                    let v = st.acc;
                    out.extend_from_slice(&[(v >> 16) as u8, (v >> 8) as u8, v as u8]);
                    st.n = 0;
                    st.acc = 0;
                }
            }
        }
    }
}

/// The lines of `input` without their CRLF; `None` for a line that ends in a bare
/// LF (the clean checks reject it). The last line may lack a line ending.
struct CrlfLines<'a>(&'a [u8]);

impl<'a> Iterator for CrlfLines<'a> {
    type Item = Option<&'a [u8]>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.0.is_empty() {
            return None;
        }
        Some(match memchr(b'\n', self.0) {
            Some(i) => {
                let line = self.0[..i].strip_suffix(b"\r");
                self.0 = &self.0[i + 1..];
                line
            }
            None => {
                let line = self.0;
                self.0 = &[];
                Some(line)
            }
        })
    }
}

/// True if `input` is base64 that Exchange and strict parsers accept as is: only
/// alphabet characters, `=` padding only at the very end and only as much as the last
/// quantum needs, zero unused bits before the padding (canonical encoding), CRLF line
/// breaks (no bare CR or LF, no spaces), every line at most [`MAX_ENCODED_LINE`]
/// octets (RFC 2045 §6.8). Empty input is clean; a final CRLF is optional.
pub fn base64_is_clean(input: &[u8]) -> bool {
    base64_is_clean_within(input, MAX_ENCODED_LINE)
}

/// [`base64_is_clean`] with a caller-chosen line limit, e.g. [`MAX_LINE_HARD`] to accept
/// over-long but otherwise perfect base64 that can be kept byte-identical.
///
/// This runs over every attachment of every clean message, so it makes no pass per
/// line: one `memchr` walk over the LFs checks the line structure (each LF after a
/// CR, no line over the limit), one branch-free pass over everything before the
/// first `=` checks the alphabet and counts CRs (a CR that is not part of a CRLF
/// shows as more CRs than LFs), and only the padding at the end is looked at byte
/// by byte.
pub fn base64_is_clean_within(input: &[u8], max_line: usize) -> bool {
    let mut line_start = 0;
    let mut breaks = 0usize;
    for lf in memchr::memchr_iter(b'\n', input) {
        if lf == 0 || input[lf - 1] != b'\r' || lf - 1 - line_start > max_line {
            return false; // bare LF, or a line over the limit
        }
        line_start = lf + 1;
        breaks += 1;
    }
    if input.len() - line_start > max_line {
        return false;
    }
    clean_chars(input).is_some_and(|(crs, chars_ok)| crs == breaks && chars_ok)
}

/// [`base64_is_clean_within`] for input whose line structure is known to be fine:
/// CRLF line breaks only, no line over the caller's limit (the validator knows this
/// of every body of a message it has checked as a whole). One pass, no line walk.
pub fn base64_is_clean_crlf(input: &[u8]) -> bool {
    clean_chars(input).is_some_and(|(_, chars_ok)| chars_ok)
}

/// The character part of the base64 check: `None` if some byte is neither in the
/// alphabet nor `=`, CR or LF, or if anything but `=` and line breaks follows a `=`;
/// else the number of CRs and whether the data and padding make whole, canonical
/// quanta, assuming every CR is the start of a CRLF (the caller checks the CR count).
fn clean_chars(input: &[u8]) -> Option<(usize, bool)> {
    // The padding is at the end: split off the longest suffix of `=`, CR and LF
    // (no search over the whole body). A `=` left in `data` fails the alphabet test,
    // as it must: something other than padding follows it.
    let split = input
        .iter()
        .rposition(|&b| !matches!(b, b'=' | b'\r' | b'\n'))
        .map_or(0, |i| i + 1);
    let (data, tail) = input.split_at(split);
    let data_crs = alphabet_or_cr_lf(data)?;
    let pad = tail.iter().filter(|&&b| b == b'=').count();
    let tail_crs = tail.iter().filter(|&&b| b == b'\r').count();
    // Every CR of `data` is one of its CRLFs (`data` ends in an alphabet character).
    let chars = data.len().checked_sub(2 * data_crs)?;
    let last = data.last().map_or(0, |&b| B64_DECODE[usize::from(b)]);
    let ok = match (chars % 4, pad) {
        (0, 0) => true,
        (2, 2) => last & 0x0F == 0,
        (3, 1) => last & 0x03 == 0,
        _ => false,
    };
    Some((data_crs + tail_crs, ok))
}

/// If every byte is in the base64 alphabet or is CR or LF, the number of CRs.
/// Written without branches or table look-ups (`|` of range tests over fixed-size
/// blocks, no early exit) so that it compiles to SIMD: this runs over every
/// attachment of every clean message.
fn alphabet_or_cr_lf(data: &[u8]) -> Option<usize> {
    fn block(bytes: &[u8]) -> (u8, usize) {
        let mut bad = 0u8;
        let mut crs = 0u8;
        for &b in bytes {
            let ok = ((b | 0x20).wrapping_sub(b'a') < 26)
                | (b.wrapping_sub(b'0') < 10)
                | (b == b'+')
                | (b == b'/')
                | (b == b'\r')
                | (b == b'\n');
            bad |= u8::from(!ok);
            crs = crs.wrapping_add(u8::from(b == b'\r'));
        }
        (bad, usize::from(crs))
    }
    // 128 bytes per block: the CR count of a block fits a u8.
    let mut chunks = data.chunks_exact(128);
    let mut bad = 0u8;
    let mut crs = 0usize;
    for c in &mut chunks {
        let (b, n) = block(c);
        bad |= b;
        crs += n;
    }
    let (b, n) = block(chunks.remainder());
    bad |= b;
    crs += n;
    (bad == 0).then_some(crs)
}

/// Encode as base64 (RFC 2045 §6.8): 76-character lines, each ending with CRLF,
/// including the last. Empty input gives empty output.
pub fn encode_base64(input: &[u8]) -> Vec<u8> {
    // 57 input octets make one full 76-character line.
    const PER_LINE: usize = MAX_ENCODED_LINE / 4 * 3;
    let lines = input.len().div_ceil(PER_LINE);
    let mut out = Vec::with_capacity(input.len().div_ceil(3) * 4 + lines * 2);
    let mut chunks = input.chunks_exact(PER_LINE);
    for chunk in &mut chunks {
        // A full line is built on the stack and copied once.
        let mut line = [0u8; MAX_ENCODED_LINE + 2];
        for (q, dst) in chunk.chunks_exact(3).zip(line.chunks_exact_mut(4)) {
            let v = (u32::from(q[0]) << 16) | (u32::from(q[1]) << 8) | u32::from(q[2]);
            dst[0] = B64_ALPHABET[(v >> 18) as usize & 0x3F];
            dst[1] = B64_ALPHABET[(v >> 12) as usize & 0x3F];
            dst[2] = B64_ALPHABET[(v >> 6) as usize & 0x3F];
            dst[3] = B64_ALPHABET[v as usize & 0x3F];
        }
        line[MAX_ENCODED_LINE] = b'\r';
        line[MAX_ENCODED_LINE + 1] = b'\n';
        out.extend_from_slice(&line);
    }
    if !chunks.remainder().is_empty() {
        b64_encode_into(chunks.remainder(), &mut out);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Append the base64 of `input` (padded, no line breaks) to `out`.
fn b64_encode_into(input: &[u8], out: &mut Vec<u8>) {
    let sym = |v: u32| B64_ALPHABET[(v & 0x3F) as usize];
    let mut quanta = input.chunks_exact(3);
    for q in &mut quanta {
        let v = (u32::from(q[0]) << 16) | (u32::from(q[1]) << 8) | u32::from(q[2]);
        out.extend_from_slice(&[sym(v >> 18), sym(v >> 12), sym(v >> 6), sym(v)]);
    }
    match *quanta.remainder() {
        [a] => {
            let v = u32::from(a) << 16;
            out.extend_from_slice(&[sym(v >> 18), sym(v >> 12), b'=', b'=']);
        }
        [a, b] => {
            let v = (u32::from(a) << 16) | (u32::from(b) << 8);
            out.extend_from_slice(&[sym(v >> 18), sym(v >> 12), sym(v >> 6), b'=']);
        }
        _ => {}
    }
}

/// Append the base64 of `input` (padded, no line breaks) to a string; used for
/// RFC 2047 "B" encoded words.
pub(crate) fn b64_encode_str(input: &[u8], out: &mut String) {
    let sym = |v: u32| char::from(B64_ALPHABET[(v & 0x3F) as usize]);
    let mut quanta = input.chunks_exact(3);
    for q in &mut quanta {
        let v = (u32::from(q[0]) << 16) | (u32::from(q[1]) << 8) | u32::from(q[2]);
        out.extend([sym(v >> 18), sym(v >> 12), sym(v >> 6), sym(v)]);
    }
    match *quanta.remainder() {
        [a] => {
            let v = u32::from(a) << 16;
            out.extend([sym(v >> 18), sym(v >> 12), '=', '=']);
        }
        [a, b] => {
            let v = (u32::from(a) << 16) | (u32::from(b) << 8);
            out.extend([sym(v >> 18), sym(v >> 12), sym(v >> 6), '=']);
        }
        _ => {}
    }
}

/// What [`decode_qp_lenient`] had to tolerate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QpDefects {
    /// `=` not followed by two hex digits nor by the end of the line; kept literally.
    pub invalid_escapes: usize,
    /// Escapes written with lower-case hex digits (RFC 2045 §6.7 rule 1 requires
    /// upper case); decoded anyway.
    pub lowercase_hex: usize,
    /// Some encoded line is longer than [`MAX_ENCODED_LINE`] octets (§6.7 rule 5).
    pub long_lines: bool,
    /// Raw octets >= 0x80 in the encoded text (§6.7 allows none); kept as they are.
    pub bare_8bit: usize,
    /// Soft line breaks with spaces or tabs between the `=` and the line end.
    pub broken_soft_breaks: usize,
}

impl QpDefects {
    /// True if anything at all was wrong.
    pub fn any(&self) -> bool {
        self.invalid_escapes != 0
            || self.lowercase_hex != 0
            || self.long_lines
            || self.bare_8bit != 0
            || self.broken_soft_breaks != 0
    }
}

/// Value of an ASCII hex digit, either case.
fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'A'..=b'F' => Some(b - b'A' + 10),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    }
}

/// Lenient quoted-printable decode (RFC 2045 §6.7).
///
/// - `=XX` with two hex digits decodes to the octet; lower-case hex is accepted and
///   counted.
/// - `=` at the end of a line is a soft line break (rule 5), also when spaces or tabs
///   follow it (counted in [`QpDefects::broken_soft_breaks`]), with CRLF, bare LF or no
///   line ending after it.
/// - Decision: `=` at the very end of the input is a soft line break too, not an
///   invalid escape, because in a multipart body the CRLF before the boundary belongs
///   to the boundary (RFC 2046 §5.1.1), so a part that ends without a line break ends
///   in a bare `=`.
/// - Any other `=` (not followed by two hex digits) is kept literally and counted.
/// - Decision: trailing whitespace on lines is kept (rule 3 says to delete it, but it
///   is more often content than transport padding in stored mail, and keeping it is
///   lossless).
/// - Hard line breaks (CRLF or a bare LF) come out as CRLF; a bare CR inside a line
///   and raw 8-bit octets are kept as they are.
pub fn decode_qp_lenient(input: &[u8]) -> (Vec<u8>, QpDefects) {
    let mut out = Vec::with_capacity(input.len());
    let mut defects = QpDefects::default();
    let mut rest = input;
    while !rest.is_empty() {
        let (line, has_eol) = match memchr(b'\n', rest) {
            Some(i) => {
                let line = &rest[..i];
                rest = &rest[i + 1..];
                (line.strip_suffix(b"\r").unwrap_or(line), true)
            }
            None => {
                let line = rest;
                rest = &rest[rest.len()..];
                (line, false)
            }
        };
        if line.len() > MAX_ENCODED_LINE {
            defects.long_lines = true;
        }
        defects.bare_8bit += line.iter().filter(|&&b| b >= 0x80).count();
        let soft = qp_decode_line(line, &mut out, &mut defects);
        if has_eol && !soft {
            out.extend_from_slice(b"\r\n");
        }
    }
    (out, defects)
}

/// Decode one line's content; returns true if it ended with a soft line break.
fn qp_decode_line(line: &[u8], out: &mut Vec<u8>, defects: &mut QpDefects) -> bool {
    let mut i = 0;
    while let Some(off) = memchr(b'=', &line[i..]) {
        let eq = i + off;
        out.extend_from_slice(&line[i..eq]);
        let after = &line[eq + 1..];
        if after.iter().all(|&b| matches!(b, b' ' | b'\t' | b'\r')) {
            if !after.is_empty() {
                defects.broken_soft_breaks += 1;
            }
            return true;
        }
        match (
            after.first().copied().and_then(hex_val),
            after.get(1).copied().and_then(hex_val),
        ) {
            (Some(hi), Some(lo)) => {
                if after[0].is_ascii_lowercase() || after[1].is_ascii_lowercase() {
                    defects.lowercase_hex += 1;
                }
                out.push((hi << 4) | lo);
                i = eq + 3;
            }
            _ => {
                defects.invalid_escapes += 1;
                out.push(b'=');
                i = eq + 1;
            }
        }
    }
    out.extend_from_slice(&line[i..]);
    false
}

/// True if `input` is quoted-printable that strict parsers accept as is (RFC 2045
/// §6.7): only `=XX` escapes with upper-case hex and soft line breaks (`=` as the last
/// octet of a line), lines of at most [`MAX_ENCODED_LINE`] octets, CRLF line breaks,
/// no octets >= 0x80, no control octets other than TAB, and no space or tab at the end
/// of a line (rule 3: decoders delete it).
pub fn qp_is_clean(input: &[u8]) -> bool {
    qp_is_clean_within(input, MAX_ENCODED_LINE)
}

/// [`qp_is_clean`] with a caller-chosen line limit, e.g. [`MAX_LINE_HARD`].
pub fn qp_is_clean_within(input: &[u8], max_line: usize) -> bool {
    for line in CrlfLines(input) {
        let Some(line) = line else {
            return false; // bare LF
        };
        if line.len() > max_line || matches!(line.last(), Some(b' ' | b'\t')) {
            return false;
        }
        let mut i = 0;
        while i < line.len() {
            match line[i] {
                b'=' => match line.get(i + 1..i + 3) {
                    Some(&[a, b]) if is_upper_hex(a) && is_upper_hex(b) => i += 3,
                    None if i + 1 == line.len() => i += 1, // soft line break
                    _ => return false,
                },
                b'\t' | b' '..=b'~' => i += 1,
                _ => return false,
            }
        }
    }
    true
}

/// [`qp_is_clean_within`] for input whose line structure is known to be fine (CRLF
/// line breaks only, no line over the caller's limit), and, if `decoded` is given
/// and the input is clean, its decoding appended there: for clean input exactly what
/// [`decode_qp_lenient`] gives. The validator runs this over every quoted-printable
/// text part, so it makes no pass per byte in scalar code: one branch-free pass for
/// the allowed bytes, then only the line ends and the `=` are looked at.
pub fn qp_clean_crlf(input: &[u8], mut decoded: Option<&mut Vec<u8>>) -> bool {
    // TAB and printable ASCII; CR and LF only come as CRLF (the precondition).
    let mut bad = 0u8;
    for &b in input {
        let ok = (b.wrapping_sub(b' ') < 95) | (b == b'\t') | (b == b'\r') | (b == b'\n');
        bad |= u8::from(!ok);
    }
    if bad != 0 {
        return false;
    }
    // No space or tab at the end of a line (rule 3: decoders delete it).
    if matches!(input.last(), Some(b' ' | b'\t')) {
        return false;
    }
    for lf in memchr::memchr_iter(b'\n', input) {
        if lf >= 2 && matches!(input[lf - 2], b' ' | b'\t') {
            return false;
        }
    }
    let mut copied = 0;
    for eq in memchr::memchr_iter(b'=', input) {
        if eq < copied {
            continue;
        }
        match input.get(eq + 1..eq + 3) {
            Some(&[a, b]) if is_upper_hex(a) && is_upper_hex(b) => {
                if let Some(out) = decoded.as_deref_mut() {
                    let hi = hex_val(a).unwrap_or(0);
                    let lo = hex_val(b).unwrap_or(0);
                    out.extend_from_slice(&input[copied..eq]);
                    out.push((hi << 4) | lo);
                }
                copied = eq + 3;
            }
            // A soft line break: `=` ends the line (or the input).
            _ if eq + 1 == input.len() || input[eq + 1..].starts_with(b"\r\n") => {
                if let Some(out) = decoded.as_deref_mut() {
                    out.extend_from_slice(&input[copied..eq]);
                }
                copied = (eq + 3).min(input.len());
            }
            _ => return false,
        }
    }
    if let Some(out) = decoded {
        out.extend_from_slice(&input[copied.min(input.len())..]);
    }
    true
}

fn is_upper_hex(b: u8) -> bool {
    matches!(b, b'0'..=b'9' | b'A'..=b'F')
}

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

/// Octets that quoted-printable always writes as themselves: printable ASCII except
/// `=` (RFC 2045 §6.7 rule 2). Space and tab depend on their position (rule 3).
const QP_SAFE: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = b'!';
    while b <= b'~' {
        t[b as usize] = b != b'=';
        b += 1;
    }
    t
};

/// Encode text as quoted-printable (RFC 2045 §6.7), text mode.
///
/// CRLF pairs in the input are hard line breaks and stay CRLF (rule 4); a lone CR or
/// LF is encoded (`=0D`, `=0A`) so decoding gives back the exact bytes. `=`, octets
/// >= 0x80 and controls other than TAB are escaped (rules 1, 2); a space or tab right
/// > before a line break or at the end of the input is escaped (rule 3). Lines are at
/// > most 76 octets, using soft line breaks (rule 5). The output ends with CRLF only if
/// > the input does.
pub fn encode_qp(input: &[u8]) -> Vec<u8> {
    qp_encode(input, false)
}

/// Encode as quoted-printable in binary mode: like [`encode_qp`] but CR and LF are
/// always escaped, so the output is one logical line made of soft-broken lines and
/// round-trips byte-exactly through any decoder, whatever the line endings (RFC 2045
/// §6.7 rule 4 note on binary data). The output never ends with CRLF.
pub fn encode_qp_binary(input: &[u8]) -> Vec<u8> {
    qp_encode(input, true)
}

fn qp_encode(input: &[u8], binary: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len() + input.len() / 8 + 8);
    let mut line_len = 0usize;
    let mut i = 0;
    while i < input.len() {
        // Fast path: copy a run of octets that always stand for themselves, up to
        // the room left before a soft break; the edge cases are left to the loop.
        if line_len < MAX_ENCODED_LINE - 1 {
            let room = MAX_ENCODED_LINE - 1 - line_len;
            let end = input.len().min(i + room);
            let run = input[i..end]
                .iter()
                .position(|&b| !QP_SAFE[usize::from(b)])
                .unwrap_or(end - i);
            out.extend_from_slice(&input[i..i + run]);
            line_len += run;
            i += run;
            if i >= input.len() {
                break;
            }
        }
        let b = input[i];
        let crlf_at =
            |j: usize| !binary && input.get(j) == Some(&b'\r') && input.get(j + 1) == Some(&b'\n');
        if crlf_at(i) {
            out.extend_from_slice(b"\r\n");
            line_len = 0;
            i += 2;
            continue;
        }
        let at_line_end = i + 1 == input.len() || crlf_at(i + 1);
        let literal = match b {
            b'=' => false,
            b'!'..=b'~' => true,
            b' ' | b'\t' => !at_line_end,
            _ => false,
        };
        let tok_len = if literal { 1 } else { 3 };
        // A line that continues needs room for its soft-break '='; the last token
        // before a hard break (or the end) may use the full 76.
        let room = if at_line_end {
            MAX_ENCODED_LINE
        } else {
            MAX_ENCODED_LINE - 1
        };
        if line_len + tok_len > room {
            out.extend_from_slice(b"=\r\n");
            line_len = 0;
        }
        if literal {
            out.push(b);
        } else {
            out.extend_from_slice(&[
                b'=',
                HEX_UPPER[usize::from(b >> 4)],
                HEX_UPPER[usize::from(b & 0x0F)],
            ]);
        }
        line_len += tok_len;
        i += 1;
    }
    out
}

/// True when quoted-printable `input` can only decode to US-ASCII: no raw 8-bit
/// byte and no escape of a byte above 0x7F. Lets a caller skip decoding a text part
/// just to look for 8-bit text.
pub fn qp_decodes_to_ascii(input: &[u8]) -> bool {
    if !input.is_ascii() {
        return false;
    }
    memchr::memchr_iter(b'=', input).all(|i| {
        !matches!(
            input.get(i + 1),
            Some(b'8'..=b'9' | b'A'..=b'F' | b'a'..=b'f')
        )
    })
}

/// Longest line of `input` in octets, without its line ending (LF or CRLF); the last
/// line counts even without a line ending.
pub fn max_line_len(input: &[u8]) -> usize {
    let mut max = 0;
    let mut rest = input;
    while !rest.is_empty() {
        let (line, next) = match memchr(b'\n', rest) {
            Some(i) => (
                rest[..i].strip_suffix(b"\r").unwrap_or(&rest[..i]),
                &rest[i + 1..],
            ),
            None => (rest, &rest[rest.len()..]),
        };
        max = max.max(line.len());
        rest = next;
    }
    max
}

/// True if some line of `input` (as measured by [`max_line_len`]) is longer than
/// `limit` octets; stops at the first one.
pub fn any_line_longer_than(input: &[u8], limit: usize) -> bool {
    let mut rest = input;
    while !rest.is_empty() {
        let (line, next) = match memchr(b'\n', rest) {
            Some(i) => (
                rest[..i].strip_suffix(b"\r").unwrap_or(&rest[..i]),
                &rest[i + 1..],
            ),
            None => (rest, &rest[rest.len()..]),
        };
        if line.len() > limit {
            return true;
        }
        rest = next;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Lines of `out`, without their CRLF.
    fn lines(out: &[u8]) -> Vec<&[u8]> {
        let body = out.strip_suffix(b"\r\n").unwrap_or(out);
        body.split(|&b| b == b'\n')
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
            .collect()
    }

    #[test]
    fn base64_known_vectors() {
        // RFC 4648 §10, the same alphabet as RFC 2045 §6.8.
        let vectors: [(&[u8], &[u8]); 7] = [
            (b"", b""),
            (b"f", b"Zg==\r\n"),
            (b"fo", b"Zm8=\r\n"),
            (b"foo", b"Zm9v\r\n"),
            (b"foob", b"Zm9vYg==\r\n"),
            (b"fooba", b"Zm9vYmE=\r\n"),
            (b"foobar", b"Zm9vYmFy\r\n"),
        ];
        for (plain, enc) in vectors {
            assert_eq!(encode_base64(plain), enc);
            let (dec, d) = decode_base64_lenient(enc);
            assert_eq!(dec, plain);
            assert!(!d.any(), "{d:?}");
            assert!(base64_is_clean(enc));
        }
    }

    #[test]
    fn base64_line_breaks_every_76() {
        let mut data: Vec<u8> = (0..=255u8).cycle().take(57 * 3).collect();
        data.push(0);
        let enc = encode_base64(&data);
        let ls = lines(&enc);
        assert_eq!(ls.len(), 4);
        assert!(ls[..3].iter().all(|l| l.len() == 76));
        assert_eq!(ls[3], b"AA==");
        assert!(enc.ends_with(b"\r\n"));
        assert_eq!(max_line_len(&enc), 76);
    }

    #[test]
    fn base64_lenient_defects() {
        // Whitespace and bare LF are fine.
        let (v, d) = decode_base64_lenient(b" Zm9v\n YmFy \t\r\n");
        assert_eq!(v, b"foobar");
        assert!(!d.any());
        // Characters outside the alphabet are skipped and counted.
        let (v, d) = decode_base64_lenient(b"Zm9v!Ym*Fy");
        assert_eq!(v, b"foobar");
        assert_eq!(d.invalid_chars, 2);
        // Missing padding.
        let (v, d) = decode_base64_lenient(b"Zm9vYg");
        assert_eq!(v, b"foob");
        assert!(d.missing_padding);
        let (v, d) = decode_base64_lenient(b"Zm9vYmE");
        assert_eq!(v, b"fooba");
        assert!(d.missing_padding);
        let (v, d) = decode_base64_lenient(b"Zm9vYg=");
        assert_eq!(v, b"foob");
        assert!(d.missing_padding && !d.data_after_padding);
        // Stray trailing single character.
        let (v, d) = decode_base64_lenient(b"Zm9vY");
        assert_eq!(v, b"foo");
        assert!(d.stray_trailing && !d.missing_padding);
        // Over-long lines.
        let long = [b'A'; 80];
        let (v, d) = decode_base64_lenient(&long);
        assert_eq!(v.len(), 60);
        assert!(d.long_lines);
        // Data after padding is decoded as new quanta.
        let (v, d) = decode_base64_lenient(b"Zg==\r\nZm8=\r\nZm9v\r\n");
        assert_eq!(v, b"ffofoo");
        assert!(d.data_after_padding && !d.missing_padding);
        // Excess padding counts as invalid.
        let (v, d) = decode_base64_lenient(b"Zm9v====");
        assert_eq!(v, b"foo");
        assert_eq!(d.invalid_chars, 4);
        let (v, d) = decode_base64_lenient(b"Zg===");
        assert_eq!(v, b"f");
        assert_eq!(d.invalid_chars, 1);
        // Garbage only.
        let (v, d) = decode_base64_lenient(b"\x00\xff-_");
        assert!(v.is_empty());
        assert_eq!(d.invalid_chars, 4);
    }

    #[test]
    fn base64_clean_checks() {
        assert!(base64_is_clean(b""));
        assert!(base64_is_clean(b"Zm9v"));
        assert!(base64_is_clean(b"Zm9v\r\nYmFy\r\n"));
        assert!(
            base64_is_clean(b"Zm\r\n9v\r\n"),
            "lines need not hold whole quanta"
        );
        assert!(!base64_is_clean(b"Zm9v\nYmFy\n"), "bare LF");
        assert!(!base64_is_clean(b"Zm9v\rYmFy"), "bare CR");
        assert!(!base64_is_clean(b"Zm9v YmFy"), "space");
        assert!(!base64_is_clean(b"Zm9vYg"), "missing padding");
        assert!(!base64_is_clean(b"Zm9vYg="), "short padding");
        assert!(!base64_is_clean(b"Zm9vY"), "stray character");
        assert!(!base64_is_clean(b"Zm9v===="), "excess padding");
        assert!(!base64_is_clean(b"Zg==Zm8="), "data after padding");
        assert!(!base64_is_clean(b"Zh=="), "non-zero unused bits");
        assert!(!base64_is_clean(b"Zm9="), "non-zero unused bits");
        let long = [b'A'; 80];
        assert!(!base64_is_clean(&long));
        assert!(base64_is_clean_within(&long, MAX_LINE_HARD));
    }

    #[test]
    fn qp_decode_basics() {
        // RFC 2045 §6.7 rule 1 and rule 5.
        let (v, d) = decode_qp_lenient(b"caf=C3=A9 =3D ok=\r\n joined\r\nnext");
        assert_eq!(v, "café = ok joined\r\nnext".as_bytes());
        assert!(!d.any());
        // LF line endings: hard breaks come out as CRLF; soft breaks with LF.
        let (v, d) = decode_qp_lenient(b"a=\nb\nc\n");
        assert_eq!(v, b"ab\r\nc\r\n");
        assert!(!d.any());
        // Lower-case hex.
        let (v, d) = decode_qp_lenient(b"caf=c3=a9");
        assert_eq!(v, "café".as_bytes());
        assert_eq!(d.lowercase_hex, 2);
        // Invalid escapes are kept literally.
        let (v, d) = decode_qp_lenient(b"a=G1 b=4 c==41");
        assert_eq!(v, b"a=G1 b=4 c=A");
        assert_eq!(d.invalid_escapes, 3);
        // Soft break with trailing whitespace after '='.
        let (v, d) = decode_qp_lenient(b"a= \t\r\nb");
        assert_eq!(v, b"ab");
        assert_eq!(d.broken_soft_breaks, 1);
        // '=' at the very end is a soft break (RFC 2046 §5.1.1).
        let (v, d) = decode_qp_lenient(b"no newline=");
        assert_eq!(v, b"no newline");
        assert!(!d.any());
        // Trailing whitespace is kept; bare 8-bit is kept and counted.
        let (v, d) = decode_qp_lenient(b"a  \r\n\xe9t\xe9");
        assert_eq!(v, b"a  \r\n\xe9t\xe9");
        assert_eq!(d.bare_8bit, 2);
        // Long lines.
        let long = [b'x'; 77];
        let (v, d) = decode_qp_lenient(&long);
        assert_eq!(v, long);
        assert!(d.long_lines);
        // Empty lines.
        let (v, _) = decode_qp_lenient(b"\r\n\n\r\n");
        assert_eq!(v, b"\r\n\r\n\r\n");
    }

    #[test]
    fn qp_clean_checks() {
        assert!(qp_is_clean(b""));
        assert!(qp_is_clean(b"caf=C3=A9\r\nsoft=\r\nend="));
        assert!(qp_is_clean(b"a\tb"));
        assert!(!qp_is_clean(b"caf=c3=a9"), "lower-case hex");
        assert!(!qp_is_clean(b"a=G1"), "invalid escape");
        assert!(!qp_is_clean(b"a=4"), "short escape");
        assert!(!qp_is_clean(b"a\nb"), "bare LF");
        assert!(!qp_is_clean(b"a\rb"), "bare CR");
        assert!(!qp_is_clean(b"a \r\nb"), "trailing space");
        assert!(!qp_is_clean(b"a\t"), "trailing tab");
        assert!(!qp_is_clean(b"a= \r\nb"), "whitespace after soft break");
        assert!(!qp_is_clean(b"\xe9"), "8-bit");
        assert!(!qp_is_clean(b"a\x00b"), "NUL");
        assert!(!qp_is_clean(&[b'x'; 77]));
        assert!(qp_is_clean_within(&[b'x'; 77], MAX_LINE_HARD));
    }

    #[test]
    fn qp_encode_cases() {
        assert_eq!(encode_qp(b"caf\xc3\xa9 = ok"), b"caf=C3=A9 =3D ok");
        assert_eq!(encode_qp(b"trailing \r\ntab\t"), b"trailing=20\r\ntab=09");
        assert_eq!(encode_qp(b"lone\rcr\nlf\r\n"), b"lone=0Dcr=0Alf\r\n");
        assert_eq!(encode_qp(b"nul\x00"), b"nul=00");
        assert_eq!(encode_qp_binary(b"a\r\nb "), b"a=0D=0Ab=20");
        // A line of exactly 76 stays whole; 77 gets a soft break.
        let l76 = [b'x'; 76];
        assert_eq!(encode_qp(&l76), l76);
        let l77 = [b'x'; 77];
        let enc = encode_qp(&l77);
        assert_eq!(&enc[..], [&[b'x'; 75][..], b"=\r\nxx"].concat());
        // An escape is never split by a soft break.
        let mut s = vec![b'x'; 74];
        s.push(0xff);
        s.push(b'y');
        let enc = encode_qp(&s);
        assert_eq!(&enc[..], [&[b'x'; 74][..], b"=\r\n=FFy"].concat());
        assert!(qp_is_clean(&enc));
    }

    #[test]
    fn line_lengths() {
        assert_eq!(max_line_len(b""), 0);
        assert_eq!(max_line_len(b"abc"), 3);
        assert_eq!(max_line_len(b"abc\r\nabcde\nab\r\n"), 5);
        assert_eq!(max_line_len(b"a\rbc\r\n"), 4);
        assert!(any_line_longer_than(b"abc\r\nabcde\n", 4));
        assert!(!any_line_longer_than(b"abc\r\nabcde\n", 5));
    }

    fn mailparse_body(cte: &str, body: &[u8]) -> Vec<u8> {
        let mut msg =
            format!("Subject: t\r\nContent-Transfer-Encoding: {cte}\r\n\r\n").into_bytes();
        msg.extend_from_slice(body);
        mailparse::parse_mail(&msg).unwrap().get_body_raw().unwrap()
    }

    /// Text made of lines (any bytes but CR and LF) joined by CRLF.
    fn crlf_text() -> impl Strategy<Value = Vec<u8>> {
        (
            prop::collection::vec(
                prop::collection::vec(
                    any::<u8>().prop_filter("no CR/LF", |b| *b != b'\r' && *b != b'\n'),
                    0..120,
                ),
                0..6,
            ),
            any::<bool>(),
        )
            .prop_map(|(ls, final_eol)| {
                let mut out = ls.join(&b"\r\n"[..]);
                if final_eol {
                    out.extend_from_slice(b"\r\n");
                }
                out
            })
    }

    /// Bytes biased towards what QP and base64 treat specially.
    fn tricky_bytes() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(
            prop_oneof![
                Just(b'\r'),
                Just(b'\n'),
                Just(b' '),
                Just(b'\t'),
                Just(b'='),
                Just(b'a'),
                Just(b'F'),
                Just(b'0'),
                Just(0xC3),
                any::<u8>(),
            ],
            0..400,
        )
    }

    proptest! {
        #[test]
        fn base64_roundtrip(data in prop::collection::vec(any::<u8>(), 0..1000)) {
            let enc = encode_base64(&data);
            prop_assert!(base64_is_clean(&enc));
            prop_assert!(max_line_len(&enc) <= MAX_ENCODED_LINE);
            let (dec, d) = decode_base64_lenient(&enc);
            prop_assert!(!d.any(), "{:?}", d);
            prop_assert_eq!(dec, data);
        }

        #[test]
        fn qp_text_roundtrip_any_bytes(data in tricky_bytes()) {
            let enc = encode_qp(&data);
            prop_assert!(qp_is_clean(&enc), "{:?}", String::from_utf8_lossy(&enc));
            prop_assert!(max_line_len(&enc) <= MAX_ENCODED_LINE);
            let (dec, d) = decode_qp_lenient(&enc);
            prop_assert!(!d.any(), "{:?}", d);
            prop_assert_eq!(dec, data);
        }

        #[test]
        fn qp_text_roundtrip_crlf_text(data in crlf_text()) {
            let enc = encode_qp(&data);
            prop_assert!(qp_is_clean(&enc));
            prop_assert!(max_line_len(&enc) <= MAX_ENCODED_LINE);
            // Hard line breaks stay hard line breaks.
            let hard = data.windows(2).filter(|w| w == b"\r\n").count();
            let soft = enc.windows(3).filter(|w| w == b"=\r\n").count();
            prop_assert_eq!(enc.windows(2).filter(|w| w == b"\r\n").count(), hard + soft);
            prop_assert_eq!(decode_qp_lenient(&enc).0, data);
        }

        #[test]
        fn qp_binary_roundtrip(data in prop::collection::vec(any::<u8>(), 0..600)) {
            let enc = encode_qp_binary(&data);
            prop_assert!(qp_is_clean(&enc));
            prop_assert!(max_line_len(&enc) <= MAX_ENCODED_LINE);
            prop_assert!(!enc.ends_with(b"\r\n") || data.is_empty());
            prop_assert_eq!(decode_qp_lenient(&enc).0, data);
        }

        #[test]
        fn lenient_decoders_never_panic(data in prop::collection::vec(any::<u8>(), 0..600)) {
            let _ = decode_base64_lenient(&data);
            let _ = decode_qp_lenient(&data);
            let _ = base64_is_clean(&data);
            let _ = qp_is_clean(&data);
            let _ = max_line_len(&data);
        }

        #[test]
        fn lenient_decoders_never_panic_tricky(data in tricky_bytes()) {
            let (v, _) = decode_base64_lenient(&data);
            prop_assert!(v.len() <= data.len());
            let _ = decode_qp_lenient(&data);
            let _ = qp_is_clean(&data);
        }

        /// Clean input decodes without defects, and what is clean for us decodes the
        /// same with mailparse.
        #[test]
        fn clean_means_no_defects(data in tricky_bytes()) {
            if qp_is_clean(&data) {
                prop_assert!(!decode_qp_lenient(&data).1.any());
            }
            if base64_is_clean(&data) {
                prop_assert!(!decode_base64_lenient(&data).1.any());
            }
        }

        #[test]
        fn mailparse_oracle_base64(data in prop::collection::vec(any::<u8>(), 0..500)) {
            let enc = encode_base64(&data);
            prop_assert_eq!(mailparse_body("base64", &enc), decode_base64_lenient(&enc).0);
        }

        #[test]
        fn mailparse_oracle_qp(data in tricky_bytes(), text in crlf_text()) {
            for enc in [encode_qp(&data), encode_qp(&text), encode_qp_binary(&data)] {
                prop_assert_eq!(mailparse_body("quoted-printable", &enc), decode_qp_lenient(&enc).0);
            }
        }
    }
}

/// The one-pass base64 check against the per-line definition it replaced.
#[cfg(test)]
mod base64_clean_reference {
    use super::*;
    use proptest::prelude::*;

    /// The per-line check, as first written: the definition of clean base64.
    fn reference(input: &[u8], max_line: usize) -> bool {
        let mut data: usize = 0;
        let mut pad: usize = 0;
        let mut last: u8 = 0;
        for content in CrlfLines(input) {
            let Some(content) = content else {
                return false;
            };
            if content.len() > max_line {
                return false;
            }
            for &b in content {
                let class = B64_DECODE[b as usize];
                if class < 64 {
                    if pad != 0 {
                        return false;
                    }
                    data += 1;
                    last = class;
                } else if class == B64_PAD {
                    pad += 1;
                } else {
                    return false;
                }
            }
        }
        match (data % 4, pad) {
            (0, 0) => true,
            (2, 2) => last & 0x0F == 0,
            (3, 1) => last & 0x03 == 0,
            _ => false,
        }
    }

    fn b64ish() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(
            prop_oneof![
                8 => proptest::sample::select(B64_ALPHABET.to_vec()),
                2 => Just(b'='),
                2 => Just(b'\r'),
                2 => Just(b'\n'),
                1 => Just(b' '),
                1 => any::<u8>(),
            ],
            0..400,
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]
        #[test]
        fn agrees_with_the_per_line_check(v in b64ish(), max in prop_oneof![Just(4usize), Just(8), Just(76), Just(998)]) {
            prop_assert_eq!(base64_is_clean_within(&v, max), reference(&v, max));
        }

        #[test]
        fn qp_crlf_variant_agrees_when_lines_are_crlf(v in proptest::collection::vec(prop_oneof![
            6 => proptest::sample::select(b"abcXYZ09 \t=".to_vec()),
            2 => proptest::sample::select(b"0123456789ABCDEFabcdef".to_vec()),
            2 => Just(b'\r'),
            2 => Just(b'\n'),
            1 => any::<u8>(),
        ], 0..300)) {
            let (n, _) = crate::mime::lines::to_crlf(&v);
            let mut d = Vec::new();
            let clean = qp_clean_crlf(&n, Some(&mut d));
            prop_assert_eq!(clean, qp_is_clean_within(&n, usize::MAX));
            prop_assert_eq!(qp_clean_crlf(&n, None), clean);
            if clean {
                prop_assert_eq!(d, decode_qp_lenient(&n).0);
            }
        }

        #[test]
        fn qp_crlf_variant_on_encoder_output(data in proptest::collection::vec(any::<u8>(), 0..400)) {
            let enc = encode_qp(&crate::mime::lines::to_crlf(&data).0);
            let mut d = Vec::new();
            prop_assert!(qp_clean_crlf(&enc, Some(&mut d)));
            prop_assert_eq!(d, decode_qp_lenient(&enc).0);
        }

        #[test]
        fn crlf_variant_agrees_when_lines_are_crlf(v in b64ish()) {
            let (n, _) = crate::mime::lines::to_crlf(&v);
            prop_assert_eq!(base64_is_clean_crlf(&n), reference(&n, usize::MAX));
        }

        #[test]
        fn agrees_on_encoder_output_with_damage(data in proptest::collection::vec(any::<u8>(), 0..600), at in any::<usize>(), b in any::<u8>(), cut in any::<bool>()) {
            let mut enc = encode_base64(&data);
            if cut {
                // Drop the final CRLF (a part body before its delimiter).
                enc.truncate(enc.len().saturating_sub(2));
            }
            prop_assert_eq!(base64_is_clean_within(&enc, 76), reference(&enc, 76));
            if !enc.is_empty() {
                let i = at % enc.len();
                enc[i] = b;
                for max in [76, 998] {
                    prop_assert_eq!(base64_is_clean_within(&enc, max), reference(&enc, max));
                }
            }
        }
    }

    #[test]
    fn edge_cases_agree() {
        let cases: &[&[u8]] = &[
            b"",
            b"\r\n",
            b"\n",
            b"\r",
            b"=",
            b"==",
            b"Zg==",
            b"Zg==\r\n",
            b"Zg=\r\n=",
            b"Zg=\r\n=\r\n",
            b"Zg\r\n==",
            b"Zm9v\r",
            b"Zm9v\r\r\n",
            b"Zm\r9v",
            b"Zm9v=\r",
            b"Zm8=\r\nZg==",
            b"\r\nZm9v",
            b"Zm9=",
            b"Zm8=",
            b"Zh==",
            b"Zg==Zg==",
            b"Zm9v YmFy",
        ];
        for c in cases {
            for max in [2, 4, 76] {
                assert_eq!(
                    base64_is_clean_within(c, max),
                    reference(c, max),
                    "{:?} {max}",
                    c.escape_ascii().to_string()
                );
            }
        }
    }
}
