//! UTF-7 (RFC 2152) decoding, tolerant and fallible: it never panics, never rejects
//! input, and reports whether anything had to be replaced.
//!
//! UTF-7 is not in the WHATWG Encoding Standard (browsers dropped it), so
//! `encoding_rs` has no decoder for it; Outlook and Exchange still write
//! `unicode-1-1-utf-7` in delivery reports. Mail in UTF-7 is always transcoded to
//! UTF-8 (see the module table), so only decoding is needed here.
//!
//! Rules (RFC 2152 §"UTF-7 Definition"):
//! - Rule 1/3: every US-ASCII byte other than `+` stands for itself. RFC 2152 keeps a
//!   few characters (`\`, `~`) out of the directly encoded set, but real mailers write
//!   them raw, so they are accepted without complaint.
//! - Rule 2: `+` opens a run of modified base64 (RFC 2045 §6.8 alphabet, no `=`
//!   padding) carrying UTF-16 code units, big-endian. The run ends at the first byte
//!   outside the alphabet; a closing `-` is absorbed, any other byte is itself text.
//!   `+-` is a literal `+`.
//!
//! Malformed input becomes U+FFFD REPLACEMENT CHARACTER and sets the error flag:
//! bytes ≥ 0x80, a `+` followed directly by a byte that neither starts base64 nor is
//! `-`, a run that ends with a partial code unit of six or more bits or with
//! non-zero padding bits ("...any bits beyond the last 16-bit quantity must be
//! zero"), and unpaired UTF-16 surrogates.

/// Value of a modified base64 character (RFC 2152 Rule 2 uses the RFC 2045 §6.8
/// alphabet), or `None` for a byte outside it.
fn base64_value(byte: u8) -> Option<u32> {
    let v = match byte {
        b'A'..=b'Z' => byte - b'A',
        b'a'..=b'z' => byte - b'a' + 26,
        b'0'..=b'9' => byte - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    };
    Some(u32::from(v))
}

/// Decoder state inside a base64 run.
struct Run {
    /// Accumulated bits not yet forming a whole 16-bit code unit (at most 21 bits).
    bits: u32,
    /// How many of the low bits of `bits` are meaningful.
    nbits: u32,
    /// A high surrogate waiting for its low half.
    high: Option<u16>,
    /// Whether the run has carried at least one base64 character.
    any: bool,
}

/// Decodes `bytes` as UTF-7, handing every decoded character to `out` in order.
/// Returns `true` if malformed input was replaced with U+FFFD.
pub(super) fn decode_with(bytes: &[u8], mut out: impl FnMut(char)) -> bool {
    let mut errors = false;
    let mut run: Option<Run> = None;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        i += 1;
        if let Some(r) = run.as_mut() {
            if let Some(v) = base64_value(b) {
                r.any = true;
                r.bits = (r.bits << 6) | v;
                r.nbits += 6;
                if r.nbits >= 16 {
                    r.nbits -= 16;
                    // Masked to 16 bits, so the cast cannot truncate anything real.
                    let unit = ((r.bits >> r.nbits) & 0xFFFF) as u16;
                    r.bits &= (1 << r.nbits) - 1;
                    push_unit(r, unit, &mut out, &mut errors);
                }
                continue;
            }
            end_run(r, &mut out, &mut errors);
            run = None;
            if b == b'-' {
                // Rule 2: a '-' that closes a run is absorbed.
                continue;
            }
        }
        match b {
            b'+' if bytes.get(i) == Some(&b'-') => {
                // Rule 2: "+-" is the literal '+'.
                out('+');
                i += 1;
            }
            b'+' => {
                run = Some(Run {
                    bits: 0,
                    nbits: 0,
                    high: None,
                    any: false,
                });
            }
            0x00..=0x7F => out(char::from(b)),
            _ => {
                // UTF-7 is a 7-bit encoding: an 8-bit byte cannot be part of it.
                out(char::REPLACEMENT_CHARACTER);
                errors = true;
            }
        }
    }
    if let Some(r) = run.as_mut() {
        end_run(r, &mut out, &mut errors);
    }
    errors
}

/// Handles one UTF-16 code unit from a base64 run, pairing surrogates.
fn push_unit(r: &mut Run, unit: u16, out: &mut impl FnMut(char), errors: &mut bool) {
    if let Some(high) = r.high.take() {
        if (0xDC00..=0xDFFF).contains(&unit) {
            let c = 0x10000 + ((u32::from(high) - 0xD800) << 10) + (u32::from(unit) - 0xDC00);
            out(char::from_u32(c).unwrap_or(char::REPLACEMENT_CHARACTER));
            return;
        }
        // A high surrogate not followed by a low one.
        out(char::REPLACEMENT_CHARACTER);
        *errors = true;
    }
    match unit {
        0xD800..=0xDBFF => r.high = Some(unit),
        0xDC00..=0xDFFF => {
            out(char::REPLACEMENT_CHARACTER);
            *errors = true;
        }
        _ => out(char::from_u32(u32::from(unit)).unwrap_or(char::REPLACEMENT_CHARACTER)),
    }
}

/// Closes a base64 run: checks the leftover bits and any dangling surrogate.
fn end_run(r: &mut Run, out: &mut impl FnMut(char), errors: &mut bool) {
    if r.high.take().is_some() {
        out(char::REPLACEMENT_CHARACTER);
        *errors = true;
    }
    // RFC 2152: fewer than six leftover bits, all zero, are padding; anything else is
    // a truncated code unit. A '+' followed by no base64 at all (and not by '-') is
    // not a valid shift either.
    if r.nbits >= 6 || r.bits != 0 || !r.any {
        out(char::REPLACEMENT_CHARACTER);
        *errors = true;
    }
}

#[cfg(test)]
mod tests {
    use super::decode_with;

    fn dec(s: &[u8]) -> (String, bool) {
        let mut out = String::new();
        let err = decode_with(s, |c| out.push(c));
        (out, err)
    }

    #[test]
    fn rfc2152_examples() {
        assert_eq!(
            dec(b"Hi Mom -+Jjo--!"),
            ("Hi Mom -\u{263A}-!".into(), false)
        );
        assert_eq!(dec(b"+ZeVnLIqe-"), ("日本語".into(), false));
        assert_eq!(dec(b"A+ImIDkQ."), ("A\u{2262}\u{391}.".into(), false));
        assert_eq!(dec(b"+-"), ("+".into(), false));
        assert_eq!(dec(b"1 +- 1 = 2"), ("1 + 1 = 2".into(), false));
    }

    #[test]
    fn run_ends_at_end_of_input_or_at_other_bytes() {
        assert_eq!(dec(b"+ZeVnLIqe"), ("日本語".into(), false));
        assert_eq!(dec(b"+AGEAYgBj x"), ("abc x".into(), false));
        // '-' after a closed run is literal text again.
        assert_eq!(dec(b"+AGE--"), ("a-".into(), false));
    }

    #[test]
    fn surrogate_pairs() {
        // U+1F600 = D83D DE00.
        assert_eq!(dec(b"+2D3eAA-"), ("\u{1F600}".into(), false));
        // Lone high surrogate, then a normal unit.
        let (s, e) = dec(b"+2D0AYQ-");
        assert!(e);
        assert_eq!(s, "\u{FFFD}a");
        // Lone low surrogate.
        assert!(dec(b"+3gA-").1);
        // High surrogate at the end of a run.
        assert!(dec(b"+2D0-").1);
    }

    #[test]
    fn malformed_input_is_flagged() {
        // 8-bit byte.
        assert_eq!(dec(b"a\xE9b"), ("a\u{FFFD}b".into(), true));
        // Non-zero padding bits: "AGF" carries 0x0061 + bits 01.
        assert!(dec(b"+AGF-").1);
        // Six or more bits left over: a truncated unit.
        assert!(dec(b"+AGEA-").1);
        // '+' followed by a non-base64, non-'-' byte.
        assert_eq!(dec(b"+ x"), ("\u{FFFD} x".into(), true));
        // Lone '+' at the end.
        assert_eq!(dec(b"a+"), ("a\u{FFFD}".into(), true));
    }

    #[test]
    fn plain_ascii_is_itself() {
        assert_eq!(
            dec(b"~\\ plain text\r\n"),
            ("~\\ plain text\r\n".into(), false)
        );
        assert_eq!(dec(b""), (String::new(), false));
    }
}
