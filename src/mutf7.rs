//! IMAP modified UTF-7 (RFC 3501 §5.1.3), fallible in both directions.
//!
//! Dovecot stores folder names on disk in this encoding (`.Entw&APw-rfe` is
//! `Entwürfe`). Decoding never panics: malformed input is an error the caller reports.
//!
//! The decoder is strict on purpose: it accepts exactly the strings [`encode`] can
//! produce, so decoding is injective (two different on-disk names never decode to the
//! same folder name) and `encode(decode(x)?) == x` for every accepted `x`. Everything
//! RFC 3501 §5.1.3 forbids is rejected: bytes outside printable US-ASCII, an
//! unterminated shift, characters outside the modified base64 alphabet, base64 runs
//! that end inside a UTF-16 code unit or leave non-zero padding bits, unpaired
//! surrogates, printable US-ASCII hidden in a base64 run ("US-ASCII characters ...
//! represent themselves"), and null shifts (`-&` between two runs). Dovecot's own
//! `imap_utf7_to_utf8` rejects the same things, except that it also refuses an encoded
//! U+0000, which this codec accepts because RFC 3501 allows it and the round trip over
//! arbitrary strings must hold; later stages escape NUL in path segments anyway.

/// Why a modified UTF-7 name could not be decoded. Every variant carries the byte
/// offset in the input where the problem was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Mutf7Error {
    /// A byte outside printable US-ASCII (0x20–0x7e); RFC 3501 §5.1.3 says 8-bit and
    /// control characters must be base64-encoded, never written raw.
    #[error("byte 0x{byte:02x} at offset {pos} is not printable US-ASCII")]
    InvalidByte {
        /// Offset of the byte.
        pos: usize,
        /// The offending byte.
        byte: u8,
    },
    /// A `&` that opens a base64 run which never reaches its closing `-`.
    #[error("the shift to modified base64 at offset {pos} is not terminated by '-'")]
    Unterminated {
        /// Offset of the opening `&`.
        pos: usize,
    },
    /// A printable byte inside a base64 run that is not in the modified base64
    /// alphabet (`A-Z a-z 0-9 + ,`); padding `=` is forbidden too.
    #[error("byte {:?} at offset {pos} is not a modified base64 character", char::from(*byte))]
    InvalidBase64 {
        /// Offset of the byte.
        pos: usize,
        /// The offending byte.
        byte: u8,
    },
    /// The base64 run ends in the middle of a UTF-16 code unit (or carries a whole
    /// superfluous base64 character).
    #[error("the base64 run ending at offset {pos} stops inside a UTF-16 code unit")]
    IncompleteUnit {
        /// Offset of the closing `-`.
        pos: usize,
    },
    /// The bits left over after the last UTF-16 code unit are not all zero, so the
    /// run is not the canonical encoding of its text.
    #[error("the base64 run ending at offset {pos} has non-zero padding bits")]
    NonZeroPadding {
        /// Offset of the closing `-`.
        pos: usize,
    },
    /// A high surrogate not followed by a low one, or a lone low surrogate.
    #[error("unpaired UTF-16 surrogate 0x{unit:04x} in the base64 run starting at offset {pos}")]
    UnpairedSurrogate {
        /// Offset of the `&` that opened the run.
        pos: usize,
        /// The surrogate code unit.
        unit: u16,
    },
    /// A base64 run encodes a printable US-ASCII character, which RFC 3501 §5.1.3
    /// says must represent itself; accepting it would let two spellings name one
    /// folder.
    #[error("the base64 run starting at offset {pos} encodes {:?}, which must be written as itself", char::from(*byte))]
    NonCanonical {
        /// Offset of the `&` that opened the run.
        pos: usize,
        /// The printable character that was encoded.
        byte: u8,
    },
    /// A base64 run starts right after another one ended (`&...-&...-`); RFC 3501
    /// §5.1.3 forbids such null shifts, the two runs must be one.
    #[error("null shift at offset {pos}: a base64 run directly follows another one")]
    NullShift {
        /// Offset of the second run's `&`.
        pos: usize,
    },
}

/// The modified base64 alphabet: RFC 2045 base64 with `,` in place of `/`
/// (RFC 3501 §5.1.3), because `/` is a common hierarchy separator.
const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

/// Value of one modified base64 character, `None` if it is not in [`ALPHABET`].
fn b64_value(byte: u8) -> Option<u32> {
    let v = match byte {
        b'A'..=b'Z' => byte - b'A',
        b'a'..=b'z' => byte - b'a' + 26,
        b'0'..=b'9' => byte - b'0' + 52,
        b'+' => 62,
        b',' => 63,
        _ => return None,
    };
    Some(u32::from(v))
}

fn is_printable(byte: u8) -> bool {
    (0x20..=0x7e).contains(&byte)
}

/// Decode a modified UTF-7 mailbox name (bytes as found on disk) to a Rust string.
///
/// Accepts exactly the canonical encodings [`encode`] produces; see the module docs
/// for what is rejected and why. Never panics.
pub fn decode(input: &[u8]) -> Result<String, Mutf7Error> {
    let mut out = String::with_capacity(input.len());
    // Offset just past the `-` that closed the previous base64 run, to detect null
    // shifts.
    let mut prev_run_end = None;
    let mut pos = 0;
    while let Some(&byte) = input.get(pos) {
        if !is_printable(byte) {
            return Err(Mutf7Error::InvalidByte { pos, byte });
        }
        if byte != b'&' {
            out.push(char::from(byte));
            pos += 1;
            continue;
        }
        match input.get(pos + 1) {
            None => return Err(Mutf7Error::Unterminated { pos }),
            // `&-` is the escape for a literal `&`.
            Some(b'-') => {
                out.push('&');
                pos += 2;
                continue;
            }
            Some(_) => {}
        }
        if prev_run_end == Some(pos) {
            return Err(Mutf7Error::NullShift { pos });
        }
        let dash = decode_run(input, pos, &mut out)?;
        pos = dash + 1;
        prev_run_end = Some(pos);
    }
    Ok(out)
}

/// Decode the base64 run whose `&` is at `amp` into `out`; returns the offset of the
/// closing `-`.
fn decode_run(input: &[u8], amp: usize, out: &mut String) -> Result<usize, Mutf7Error> {
    // Bits not yet consumed: the low `nbits` bits of `acc` (always < 16 between
    // characters, so `acc` never exceeds 22 bits).
    let mut acc: u32 = 0;
    let mut nbits: u32 = 0;
    let mut high: Option<u16> = None;
    let mut pos = amp + 1;
    loop {
        let Some(&byte) = input.get(pos) else {
            return Err(Mutf7Error::Unterminated { pos: amp });
        };
        if byte == b'-' {
            break;
        }
        if !is_printable(byte) {
            return Err(Mutf7Error::InvalidByte { pos, byte });
        }
        let Some(value) = b64_value(byte) else {
            return Err(Mutf7Error::InvalidBase64 { pos, byte });
        };
        acc = (acc << 6) | value;
        nbits += 6;
        if nbits >= 16 {
            nbits -= 16;
            let unit = ((acc >> nbits) & 0xffff) as u16;
            acc &= (1 << nbits) - 1;
            push_unit(unit, &mut high, amp, out)?;
        }
        pos += 1;
    }
    if let Some(unit) = high {
        return Err(Mutf7Error::UnpairedSurrogate { pos: amp, unit });
    }
    // A canonical run leaves 0, 2 or 4 zero bits: 6 or more means a partial code unit
    // or a superfluous character.
    if nbits >= 6 {
        return Err(Mutf7Error::IncompleteUnit { pos });
    }
    if acc != 0 {
        return Err(Mutf7Error::NonZeroPadding { pos });
    }
    Ok(pos)
}

/// Append one UTF-16 code unit, pairing surrogates (RFC 2781 §2.2).
fn push_unit(
    unit: u16,
    high: &mut Option<u16>,
    amp: usize,
    out: &mut String,
) -> Result<(), Mutf7Error> {
    let code = match (unit, high.take()) {
        (0xd800..=0xdbff, None) => {
            *high = Some(unit);
            return Ok(());
        }
        (0xdc00..=0xdfff, Some(h)) => {
            0x10000 + ((u32::from(h) - 0xd800) << 10) + (u32::from(unit) - 0xdc00)
        }
        (_, Some(h)) => return Err(Mutf7Error::UnpairedSurrogate { pos: amp, unit: h }),
        (0xdc00..=0xdfff, None) => return Err(Mutf7Error::UnpairedSurrogate { pos: amp, unit }),
        (_, None) => u32::from(unit),
    };
    if let Ok(byte) = u8::try_from(code)
        && is_printable(byte)
    {
        return Err(Mutf7Error::NonCanonical { pos: amp, byte });
    }
    // Surrogates were handled above, so every remaining code is a valid scalar value;
    // the fallback only keeps the function total.
    let ch = char::from_u32(code).ok_or(Mutf7Error::UnpairedSurrogate { pos: amp, unit })?;
    out.push(ch);
    Ok(())
}

/// Encode a mailbox name as modified UTF-7 (for IMAP commands and Maildir names).
///
/// Printable US-ASCII represents itself (`&` as `&-`); every maximal run of other
/// characters becomes one `&<modified base64 of UTF-16BE>-` (RFC 3501 §5.1.3), so the
/// output is the canonical form [`decode`] accepts.
pub fn encode(input: &str) -> String {
    let mut out = String::with_capacity(input.len() + 8);
    let mut units: Vec<u16> = Vec::new();
    for ch in input.chars() {
        match u8::try_from(ch) {
            Ok(byte) if is_printable(byte) => {
                flush_run(&mut units, &mut out);
                if byte == b'&' {
                    out.push_str("&-");
                } else {
                    out.push(ch);
                }
            }
            _ => {
                let mut buf = [0u16; 2];
                units.extend_from_slice(ch.encode_utf16(&mut buf));
            }
        }
    }
    flush_run(&mut units, &mut out);
    out
}

/// Write pending UTF-16 units as one base64 run, without padding.
fn flush_run(units: &mut Vec<u16>, out: &mut String) {
    if units.is_empty() {
        return;
    }
    let bytes: Vec<u8> = units.iter().flat_map(|u| u.to_be_bytes()).collect();
    units.clear();
    out.push('&');
    for chunk in bytes.chunks(3) {
        let b0 = u32::from(chunk.first().copied().unwrap_or(0));
        let b1 = u32::from(chunk.get(1).copied().unwrap_or(0));
        let b2 = u32::from(chunk.get(2).copied().unwrap_or(0));
        let n = (b0 << 16) | (b1 << 8) | b2;
        // 1 byte needs 2 characters, 2 bytes 3, 3 bytes 4.
        for i in 0..=chunk.len() {
            let shift = 18 - 6 * i as u32;
            out.push(char::from(ALPHABET[((n >> shift) & 63) as usize]));
        }
    }
    out.push('-');
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_vectors() {
        let cases: &[(&str, &str)] = &[
            ("", ""),
            ("INBOX", "INBOX"),
            ("Entw&APw-rfe", "Entwürfe"),
            ("&ANY-sterreich", "Österreich"),
            ("&-", "&"),
            ("Family &- Friends", "Family & Friends"),
            ("&ZeVnLIqe-", "日本語"),
            // RFC 3501 §5.1.3 example.
            ("~peter/mail/&U,BTFw-/&ZeVnLIqe-", "~peter/mail/台北/日本語"),
            ("&AOQA9gD8-", "äöü"),
            // Supplementary plane: a surrogate pair.
            ("&2D3eAA-", "😀"),
            ("&BB4EQgRHBFEEQg-", "Отчёт"),
            ("a&AAA-b", "a\0b"),
        ];
        for (enc, dec) in cases {
            assert_eq!(decode(enc.as_bytes()).as_deref(), Ok(*dec), "decode {enc}");
            assert_eq!(encode(dec), *enc, "encode {dec}");
        }
    }

    #[test]
    fn malformed_inputs_are_errors() {
        use Mutf7Error::*;
        let cases: &[(&[u8], Mutf7Error)] = &[
            (b"Entw\xc3\xbcrfe", InvalidByte { pos: 4, byte: 0xc3 }),
            (b"a\tb", InvalidByte { pos: 1, byte: 0x09 }),
            (b"a\x7f", InvalidByte { pos: 1, byte: 0x7f }),
            (b"&", Unterminated { pos: 0 }),
            (b"x&APw", Unterminated { pos: 1 }),
            (b"&AP\xfc-", InvalidByte { pos: 3, byte: 0xfc }),
            (b"&AP/-", InvalidBase64 { pos: 3, byte: b'/' }),
            (b"&APw=-", InvalidBase64 { pos: 4, byte: b'=' }),
            (b"&A-", IncompleteUnit { pos: 2 }),
            (b"&APwA-", IncompleteUnit { pos: 5 }),
            (b"&APx-", NonZeroPadding { pos: 4 }),
            (
                b"&2D0-",
                UnpairedSurrogate {
                    pos: 0,
                    unit: 0xd83d,
                },
            ),
            (
                b"&3gA-",
                UnpairedSurrogate {
                    pos: 0,
                    unit: 0xde00,
                },
            ),
            (
                b"&2D0AZQ-",
                UnpairedSurrogate {
                    pos: 0,
                    unit: 0xd83d,
                },
            ),
            (b"&AGE-", NonCanonical { pos: 0, byte: b'a' }),
            (b"&APwAYQ-", NonCanonical { pos: 0, byte: b'a' }),
            (b"&AOQ-&APY-", NullShift { pos: 5 }),
        ];
        for (input, want) in cases {
            assert_eq!(
                decode(input).as_ref(),
                Err(want),
                "{:?}",
                String::from_utf8_lossy(input)
            );
            // Every error renders a message naming the position.
            assert!(want.to_string().contains("offset"));
        }
    }

    #[test]
    fn separated_runs_are_fine() {
        assert_eq!(decode(b"&AOQ-x&APY-").as_deref(), Ok("äxö"));
        assert_eq!(decode(b"&AOQ-&-").as_deref(), Ok("ä&"));
    }

    proptest! {
        #[test]
        fn round_trip(s in any::<String>()) {
            prop_assert_eq!(decode(encode(&s).as_bytes()), Ok(s));
        }

        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode(&bytes);
        }

        /// Bytes drawn mostly from the shift/base64 alphabet reach the run decoder
        /// far more often than uniform bytes; whatever is accepted must be canonical.
        #[test]
        fn accepted_input_is_canonical(
            bytes in proptest::collection::vec(
                prop::sample::select(b"&-AZaz09+,APwDdeg/= \xc3".to_vec()),
                0..40,
            )
        ) {
            if let Ok(s) = decode(&bytes) {
                prop_assert_eq!(encode(&s).into_bytes(), bytes);
            }
        }
    }
}
