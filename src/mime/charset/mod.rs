//! Charset labels and undeclared 8-bit text: what to write, how to decode, what to
//! guess.
//!
//! Three questions come up for every text part and every RFC 2047 word:
//!
//! 1. **What do we write?** [`decide_label`] maps a declared label (the `charset`
//!    parameter of RFC 2045 §5.1 / RFC 2046 §4.1.2, or an RFC 2047 word's charset) to
//!    a [`LabelDecision`]: keep it, write the canonical name from the IANA charset
//!    registry instead, transcode to UTF-8, or detect. Canonical names are the
//!    registry's "preferred MIME name" where it has one. A label is kept only when
//!    the bytes stay and Exchange reads the name as the same charset family.
//! 2. **How do we decode?** [`decoder_for_label`] follows the WHATWG Encoding
//!    Standard's label list, which is what mailers mean in practice: `us-ascii` and
//!    `iso-8859-1` decode as windows-1252 (a superset in the printable range; 0x80–0x9F
//!    are `€`, curly quotes, dashes), `gb2312` as GBK, `ks_c_5601-1987` and `euc-kr`
//!    as Unified Hangul Code, `shift_jis` as windows-31j, `big5` as Big5-HKSCS. UTF-7
//!    (RFC 2152), absent from WHATWG, has a decoder of its own.
//! 3. **What is it, when nothing is declared?** [`detect`] tries, in order: valid
//!    UTF-8; the caller's hint, if the bytes decode cleanly in it; Firefox's detector
//!    `chardetng`; windows-1252.
//!
//! Labels are compared ASCII case-insensitively (RFC 2046 §4.1.2: "the values of the
//! charset parameter are NOT case sensitive"), after trimming whitespace, quotes, a
//! trailing `;`, and an RFC 2231 §5 `*language` suffix; `_` and space count as `-`.
//! [`LabelDecision::Keep`] is returned only when the label as given, or as a MIME
//! quoted-string, already is the canonical name; anything that needed trimming is a
//! [`LabelDecision::Relabel`].
//!
//! # The label table
//!
//! "write" is [`LabelDecision::Keep`] for the canonical spelling and
//! [`LabelDecision::Relabel`] for the others; "transcode" is
//! [`LabelDecision::TranscodeToUtf8`]; "unknown" is [`LabelDecision::Unknown`].
//! "Decodes as" is what [`decoder_for_label`] returns ([`Decoder::name`]). Windows code
//! page numbers are what Exchange maps the written name to. Labels not listed fall
//! back to the WHATWG label list (`greek`, `csisolatin2`, `iso_8859-7:1987`, …),
//! written as the encoding's IANA name, and are unknown if WHATWG does not know them
//! either.
//!
//! | Labels | Written as | Decision | Decodes as | Why |
//! |---|---|---|---|---|
//! | `UTF-8`, `utf-8`, `"utf-8"`, `utf8`, `UTF8`, `utf_8`, `unicode-1-1-utf-8`, `unicode11utf8`, `unicode20utf8`, `x-unicode20utf8`, `cp65001` | `UTF-8` | write | `UTF-8` | RFC 3629 |
//! | `us-ascii`, `ascii`, `ansi_x3.4-1968`, `ansi_x3.4-1986`, `iso-ir-6`, `iso646-us`, `us`, `ibm367`, `cp367`, `csascii` | `US-ASCII` | write | `windows-1252` | WHATWG decodes ASCII labels as windows-1252 |
//! | `iso-8859-1`, `ISO-8859-1`, `iso8859-1`, `iso_8859-1`, `iso88591`, `iso_8859-1:1987`, `latin1`, `latin-1`, `l1`, `iso-ir-100`, `ibm819`, `cp819`, `csisolatin1` | `ISO-8859-1` | write | `windows-1252` | WHATWG; code page 28591 |
//! | `windows-1252`, `cp1252`, `win-1252`, `windows1252`, `x-cp1252` | `windows-1252` | write | `windows-1252` | |
//! | `iso-8859-15`, `iso8859-15`, `iso_8859-15`, `latin-9`, `latin9`, `l9`, `csisolatin9` | `ISO-8859-15` | write | `ISO-8859-15` | code page 28605 |
//! | `iso-8859-2`, `iso8859-2`, `iso_8859-2:1987`, `latin2`, `l2`, `csisolatin2` | `ISO-8859-2` | write | `ISO-8859-2` | code page 28592 |
//! | `iso-8859-3`, `latin3`, `l3` | `ISO-8859-3` | write | `ISO-8859-3` | code page 28593 |
//! | `iso-8859-4`, `latin4`, `l4` | `ISO-8859-4` | write | `ISO-8859-4` | code page 28594 |
//! | `iso-8859-5`, `iso8859-5`, `cyrillic` | `ISO-8859-5` | write | `ISO-8859-5` | code page 28595 |
//! | `iso-8859-6`, `arabic`, `asmo-708`, `iso-8859-6-i`, `iso-8859-6-e` | `ISO-8859-6` | write | `ISO-8859-6` | code page 28596; `-I`/`-E` (RFC 1556) only say how to lay out bidi text |
//! | `iso-8859-7`, `greek`, `elot_928` | `ISO-8859-7` | write | `ISO-8859-7` | code page 28597 |
//! | `iso-8859-8`, `hebrew`, `visual`, `iso-8859-8-e` | `ISO-8859-8` | write | `ISO-8859-8` | code page 28598 (visual order) |
//! | `iso-8859-8-i`, `ISO-8859-8-I`, `logical`, `csiso88598i` | `ISO-8859-8-I` | write | `ISO-8859-8-I` | RFC 1556, IANA; code page 38598 (logical order) |
//! | `iso-8859-9`, `iso8859-9`, `latin5`, `l5`, `csisolatin5`, `iso-ir-148` | `ISO-8859-9` | write | `windows-1254` | WHATWG decodes it as windows-1254; code page 28599 |
//! | `iso-8859-13`, `latin7` | `ISO-8859-13` | write | `ISO-8859-13` | code page 28603 |
//! | `iso-8859-10`, `latin6`, `l6` | — | transcode | `ISO-8859-10` | no Windows code page |
//! | `iso-8859-14`, `latin8` | — | transcode | `ISO-8859-14` | no Windows code page |
//! | `iso-8859-16`, `latin10` | — | transcode | `ISO-8859-16` | no Windows code page |
//! | `iso-8859-11`, `iso8859-11`, `windows-874`, `cp874`, `dos-874`, `win-874` | `windows-874` | write | `windows-874` | ISO-8859-11 is not in the IANA registry; windows-874 is its superset |
//! | `tis-620`, `TIS-620`, `tis620` | `TIS-620` | write | `windows-874` | IANA; code page 874 |
//! | `windows-1250`, `cp1250`, `win-1250`, `x-cp1250` | `windows-1250` | write | `windows-1250` | |
//! | `windows-1251`, `cp1251`, `win-1251`, `windows1251`, `x-cp1251` | `windows-1251` | write | `windows-1251` | |
//! | `windows-1253`, `cp1253` | `windows-1253` | write | `windows-1253` | |
//! | `windows-1254`, `cp1254` | `windows-1254` | write | `windows-1254` | |
//! | `windows-1255`, `cp1255` | `windows-1255` | write | `windows-1255` | |
//! | `windows-1256`, `cp1256` | `windows-1256` | write | `windows-1256` | |
//! | `windows-1257`, `cp1257` | `windows-1257` | write | `windows-1257` | |
//! | `windows-1258`, `cp1258` | `windows-1258` | write | `windows-1258` | |
//! | `koi8-r`, `KOI8-R`, `koi8r`, `koi8_r`, `koi8`, `cskoi8r` | `KOI8-R` | write | `KOI8-R` | RFC 1489; code page 20866 |
//! | `koi8-u`, `koi8u` | `KOI8-U` | write | `KOI8-U` | RFC 2319; code page 21866 |
//! | `koi8-ru` | — | transcode | `KOI8-U` | not in the IANA registry; WHATWG's KOI8-U has its Belarusian letters |
//! | `ibm866`, `cp866`, `866`, `csibm866` | `IBM866` | write | `IBM866` | code page 866 |
//! | `macintosh`, `mac`, `x-mac-roman`, `macroman` | — | transcode | `macintosh` | read by few mail clients |
//! | `x-mac-cyrillic`, `x-mac-ukrainian` | — | transcode | `x-mac-cyrillic` | not in the IANA registry |
//! | `gb2312`, `GB2312`, `gb_2312-80`, `gb_2312`, `euc-cn`, `x-euc-cn`, `csgb2312`, `chinese`, `iso-ir-58` | `GB2312` | write | `GBK` | WHATWG decodes it as GBK; Exchange reads GB2312 as code page 936 (GBK) too |
//! | `gbk`, `GBK`, `x-gbk`, `cp936`, `ms936`, `windows-936` | `GBK` | write | `GBK` | IANA; code page 936 |
//! | `gb18030`, `GB18030` | `GB18030` | write | `gb18030` | code page 54936 |
//! | `hz-gb-2312` | `HZ-GB-2312` | write | — | 7-bit (RFC 1843), code page 52936; no decoder here |
//! | `iso-2022-cn` | `ISO-2022-CN` | write | — | 7-bit (RFC 1922); no decoder here, nothing better to write |
//! | `iso-2022-cn-ext` | `ISO-2022-CN-EXT` | write | — | as `iso-2022-cn` |
//! | `big5`, `Big5`, `x-big5`, `csbig5`, `cn-big5`, `x-x-big5` | `Big5` | write | `Big5` | code page 950 |
//! | `big5-hkscs`, `cp950`, `ms950` | — | transcode | `Big5` | WHATWG's Big5 decoder is Big5-HKSCS; no code page is |
//! | `shift_jis`, `Shift_JIS`, `shift-jis`, `sjis`, `x-sjis`, `shiftjis`, `ms_kanji`, `csshiftjis` | `Shift_JIS` | write | `Shift_JIS` | IANA lists `MS_Kanji` as an alias; Exchange reads Shift_JIS as code page 932 |
//! | `cp932`, `windows-31j`, `ms932` | — | transcode | `Shift_JIS` | windows-31j (IANA) adds NEC and IBM rows that strict Shift_JIS readers lose |
//! | `euc-jp`, `EUC-JP`, `x-euc-jp`, `eucjp`, `cseucpkdfmtjapanese` | `EUC-JP` | write | `EUC-JP` | code page 51932 |
//! | `iso-2022-jp`, `ISO-2022-JP`, `csiso2022jp` | `ISO-2022-JP` | write | `ISO-2022-JP` | RFC 1468; code page 50220 |
//! | `iso-2022-jp-2` | `ISO-2022-JP-2` | write | `ISO-2022-JP` | RFC 1554, 7-bit; only its ISO-2022-JP part decodes here |
//! | `euc-kr`, `EUC-KR`, `euc_kr`, `euckr`, `x-euc-kr`, `cseuckr` | `EUC-KR` | write | `EUC-KR` | RFC 1557; WHATWG's decoder is UHC |
//! | `ks_c_5601-1987`, `ks_c_5601`, `ks_c_5601-1989`, `ksc5601`, `ksc_5601`, `korean`, `iso-ir-149`, `csksc56011987`, `cp949`, `windows-949`, `x-windows-949`, `uhc` | — | transcode | `EUC-KR` | what Outlook means is UHC (code page 949), a superset of EUC-KR: relabeling would lose syllables |
//! | `iso-2022-kr`, `csiso2022kr` | `ISO-2022-KR` | write | — | 7-bit (RFC 1557), code page 50225; no decoder here |
//! | `utf-7`, `UTF-7`, `utf7`, `unicode-1-1-utf-7`, `csunicode11utf7`, `x-unicode-2-0-utf-7` | — | transcode | `UTF-7` | RFC 2152; unsafe for Exchange, not in WHATWG |
//! | `utf-16`, `utf-16be`, `unicodefffe` | — | transcode | `UTF-16BE` | RFC 2781 §4.3: unmarked UTF-16 is big-endian; a BOM decides |
//! | `utf-16le`, `unicode`, `ucs-2`, `csunicode`, `iso-10646-ucs-2` | — | transcode | `UTF-16LE` | WHATWG; Windows' "Unicode"; a BOM decides |
//! | `x-unknown`, `unknown`, `unknown-8bit`, `x-user-defined`, `default`, `none`, `uft-8`, `utf-32`, `charset=us-ascii`, `fakescii` | — | unknown | — | detect from the bytes |
//!
//! An empty label, one longer than 64 octets, and one with control or non-ASCII bytes
//! are unknown too.

mod labels;
#[cfg(test)]
mod tests;
mod utf7;

use std::borrow::Cow;

use chardetng::{EncodingDetector, Iso2022JpDetection, Utf8Detection};
use encoding_rs::{DecoderResult, Encoding, ISO_2022_JP, UTF_8, UTF_16BE, UTF_16LE, WINDOWS_1252};

use labels::Class;

/// What to do with a declared charset label (from Content-Type's `charset` parameter
/// or an RFC 2047 word).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LabelDecision {
    /// The label is already a canonical MIME name (IANA registry) that Exchange
    /// understands and that faithfully describes the bytes' encoding family: keep
    /// the bytes and the label as they are.
    Keep,
    /// Same encoding, but write this canonical MIME name instead (`utf8` → `UTF-8`,
    /// `latin1` → `ISO-8859-1`, `win-1251` → `windows-1251`, `x-gbk` → `GBK`,
    /// `sjis` → `Shift_JIS`). The bytes stay unchanged.
    Relabel(&'static str),
    /// The label has no faithful canonical equivalent that Exchange handles: decode
    /// with this decoder and transcode the text to UTF-8 (`ks_c_5601-1987`, `cp949`,
    /// `cp932`, `big5-hkscs`, `utf-7`, `utf-16`, Mac charsets, ISO-8859-10/14/16).
    TranscodeToUtf8(Decoder),
    /// Unknown label (`x-unknown`, `unknown-8bit`, garbage, empty): the caller must
    /// detect the charset from the bytes ([`detect`]).
    Unknown,
}

/// A decoder: an `encoding_rs` encoding (WHATWG Encoding Standard) or our UTF-7
/// (RFC 2152).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decoder {
    /// A WHATWG encoding.
    Encoding(&'static Encoding),
    /// UTF-7 (RFC 2152), which the WHATWG standard leaves out.
    Utf7,
}

impl Decoder {
    /// Decodes complete input to text. The flag is `true` if malformed input was
    /// replaced with U+FFFD. Borrows (no allocation) when the input is valid UTF-8 for
    /// a UTF-8 decoder, or ASCII for an ASCII-compatible one.
    ///
    /// A byte order mark that belongs to the decoder's own encoding is removed. For
    /// UTF-16 either BOM decides the byte order (RFC 2781 §3.2), whatever the label
    /// said; other decoders never switch encoding on a BOM, so what is decoded is
    /// what the label claims.
    pub fn decode<'a>(&self, bytes: &'a [u8]) -> (Cow<'a, str>, bool) {
        match *self {
            Decoder::Utf7 => {
                if !bytes.contains(&b'+')
                    && let Ok(s) = std::str::from_utf8(bytes)
                    && s.is_ascii()
                {
                    return (Cow::Borrowed(s), false);
                }
                let mut out = String::with_capacity(bytes.len());
                let errors = utf7::decode_with(bytes, |c| out.push(c));
                (Cow::Owned(out), errors)
            }
            Decoder::Encoding(e) if is_utf16(e) => {
                let (text, _, errors) = e.decode(bytes);
                (text, errors)
            }
            Decoder::Encoding(e) => e.decode_with_bom_removal(bytes),
        }
    }

    /// The decoder's name: the WHATWG name of the encoding (`windows-1252`, `GBK`,
    /// `gb18030`), or `UTF-7`. For the name to write in a message, see [`mime_name`].
    pub fn name(&self) -> &'static str {
        match self {
            Decoder::Encoding(e) => e.name(),
            Decoder::Utf7 => "UTF-7",
        }
    }
}

fn is_utf16(e: &'static Encoding) -> bool {
    e == UTF_16LE || e == UTF_16BE
}

/// Decides what to do with a declared charset label. Never fails: anything
/// unrecognizable is [`LabelDecision::Unknown`]. See the module table.
pub fn decide_label(label: &[u8]) -> LabelDecision {
    let Some(norm) = labels::normalize(label) else {
        return LabelDecision::Unknown;
    };
    match labels::classify(&norm) {
        Class::Write(name, _) => {
            // A MIME quoted-string (RFC 2045 §5.1) around the exact name is still the
            // name as written; anything else that needed trimming gets rewritten.
            let bare = match label {
                [b'"', inner @ .., b'"'] => inner,
                _ => label,
            };
            if bare.eq_ignore_ascii_case(name.as_bytes()) {
                LabelDecision::Keep
            } else {
                LabelDecision::Relabel(name)
            }
        }
        Class::Transcode(d) => LabelDecision::TranscodeToUtf8(d),
        Class::Unknown => LabelDecision::Unknown,
    }
}

/// The decoder for a label, for decoding (not for writing): the WHATWG Encoding
/// Standard's choice, so `iso-8859-1`, `us-ascii`, `latin1` and `ascii` decode as
/// windows-1252 (a strict superset in the printable range, and what mailers mean in
/// practice), plus UTF-7. `None` for unknown labels, for `x-user-defined` (whose
/// WHATWG decoder would invent Private Use characters), and for the 7-bit ISO-2022
/// variants (`-KR`, `-CN`, HZ) that WHATWG only maps to its "replacement" encoding.
pub fn decoder_for_label(label: &[u8]) -> Option<Decoder> {
    let norm = labels::normalize(label)?;
    match labels::classify(&norm) {
        Class::Write(_, d) => d,
        Class::Transcode(d) => Some(d),
        Class::Unknown => None,
    }
}

/// The result of [`detect`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Detected {
    /// How to decode the bytes.
    pub decoder: Decoder,
    /// Which rule decided, for repair names and reports.
    pub how: DetectedBy,
}

/// Which rule of [`detect`] decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DetectedBy {
    /// The bytes are valid UTF-8 (ASCII included).
    Utf8,
    /// The caller's hint decodes the bytes cleanly.
    Hint,
    /// `chardetng` (or an unambiguous signature: a UTF-16 BOM, ISO-2022-JP escapes).
    Detector,
    /// Nothing fit: windows-1252, which maps every byte to some character.
    Fallback,
}

/// How much of a long text the statistical detector reads. Its guess settles long
/// before this; the guess is still checked against all of the bytes.
const DETECTOR_PREFIX: usize = 64 * 1024;

/// Detects the charset of undeclared 8-bit text.
///
/// Order:
/// 1. valid UTF-8 ([`DetectedBy::Utf8`]) — ASCII included, except that ASCII
///    carrying ISO-2022-JP escape sequences (RFC 1468, a 7-bit encoding) is
///    ISO-2022-JP (as [`DetectedBy::Hint`] if the hint says so, else
///    [`DetectedBy::Detector`]);
/// 2. a UTF-16 byte order mark, as in the WHATWG decode algorithm where a BOM wins
///    over any label ([`DetectedBy::Detector`]);
/// 3. the hint (for instance the message's own declared body charset, for an 8-bit
///    header), if the bytes decode cleanly in it as defined by [`decodes_cleanly`];
///    a `us-ascii`/`iso-8859-1` hint means windows-1252, per WHATWG;
/// 4. `chardetng` with no TLD and UTF-8 denied (rule 1 ruled it out), if its guess
///    decodes cleanly;
/// 5. windows-1252 ([`DetectedBy::Fallback`]).
///
/// Single-byte hints are strong: windows-1252 maps all but five bytes (0x81, 0x8D,
/// 0x8F, 0x90, 0x9D) to printable characters, so a `us-ascii`, `iso-8859-1` or
/// `windows-1252` hint wins over the detector unless one of those occurs (as
/// Shift_JIS or GBK lead bytes often do). Pass `None` to let the detector decide.
///
/// Allocation-free; reads the bytes a few times at most.
pub fn detect(bytes: &[u8], hint: Option<&[u8]>) -> Detected {
    if is_ascii(bytes) {
        if memchr::memchr(0x1B, bytes).is_some() && looks_iso_2022_jp(bytes) {
            let how = if hint.and_then(decoder_for_label) == Some(Decoder::Encoding(ISO_2022_JP)) {
                DetectedBy::Hint
            } else {
                DetectedBy::Detector
            };
            return found(Decoder::Encoding(ISO_2022_JP), how);
        }
        return found(Decoder::Encoding(UTF_8), DetectedBy::Utf8);
    }
    if std::str::from_utf8(bytes).is_ok() {
        return found(Decoder::Encoding(UTF_8), DetectedBy::Utf8);
    }
    for (bom, e) in [(&b"\xFF\xFE"[..], UTF_16LE), (b"\xFE\xFF", UTF_16BE)] {
        if bytes.starts_with(bom)
            && bytes.len().is_multiple_of(2)
            && clean(Decoder::Encoding(e), bytes)
        {
            return found(Decoder::Encoding(e), DetectedBy::Detector);
        }
    }
    if let Some(d) = hint.and_then(decoder_for_label)
        && clean(d, bytes)
    {
        return found(d, DetectedBy::Hint);
    }
    let mut detector = EncodingDetector::new(Iso2022JpDetection::Deny);
    feed(&mut detector, bytes);
    let guess = Decoder::Encoding(detector.guess(None, Utf8Detection::Deny));
    if clean(guess, bytes) {
        return found(guess, DetectedBy::Detector);
    }
    found(Decoder::Encoding(WINDOWS_1252), DetectedBy::Fallback)
}

/// Feeds the detector all of `bytes`, or a prefix of a long text (not marked as the
/// end, so a character cut at the prefix's end is not held against any candidate).
fn feed(detector: &mut EncodingDetector, bytes: &[u8]) {
    match bytes.get(..DETECTOR_PREFIX) {
        Some(prefix) if bytes.len() > DETECTOR_PREFIX => detector.feed(prefix, false),
        _ => detector.feed(bytes, true),
    };
}

fn found(decoder: Decoder, how: DetectedBy) -> Detected {
    Detected { decoder, how }
}

/// ASCII with ESC: ISO-2022-JP if chardetng (which checks the escape sequences)
/// says so and the ISO-2022-JP decoder accepts all of it.
fn looks_iso_2022_jp(bytes: &[u8]) -> bool {
    let mut detector = EncodingDetector::new(Iso2022JpDetection::Allow);
    feed(&mut detector, bytes);
    detector.guess(None, Utf8Detection::Deny) == ISO_2022_JP
        && clean(Decoder::Encoding(ISO_2022_JP), bytes)
}

/// The canonical MIME name to write for a decoder when the bytes stay in its
/// encoding: the IANA preferred MIME name (`UTF-8`, `windows-1252`, `KOI8-R`,
/// `ISO-2022-JP`, `Shift_JIS`, `GB18030`, `UTF-7`).
///
/// The GBK decoder is named `GBK`, also for bytes declared GB2312 (WHATWG decodes
/// GB2312 as GBK; GBK is the faithful name for what was decoded). Note that the
/// EUC-KR decoder is Unified Hangul Code while Exchange reads `EUC-KR` as the strict
/// code page 51949, and the Big5 decoder is Big5-HKSCS: callers keeping bytes with
/// those names rely on the bytes staying inside the strict sets.
pub fn mime_name(decoder: &Decoder) -> &'static str {
    match decoder {
        Decoder::Encoding(e) if *e == encoding_rs::GB18030 => "GB18030",
        // encoding_rs names are the IANA preferred MIME names for everything else.
        Decoder::Encoding(e) => e.name(),
        Decoder::Utf7 => "UTF-7",
    }
}

/// True if the bytes are all ASCII. Word-at-a-time, allocation-free.
pub fn is_ascii(bytes: &[u8]) -> bool {
    bytes.is_ascii()
}

/// Does `bytes` decode cleanly as `label` (decoded with [`decoder_for_label`])? Used
/// to tell a right label from a wrong one. Allocation-free.
///
/// "Cleanly" means no malformed sequences and, for legacy (non-Unicode) charsets, no
/// C1 control characters (U+0080–U+009F) in the decoded text: single-byte charsets
/// map nearly every byte to something, and C1 controls are the tell-tale of a wrong
/// one (windows-1250 text read as ISO-8859-2). So windows-1252 text declared
/// `iso-8859-1` is clean (WHATWG decodes it as windows-1252), and so is 8-bit text
/// declared `us-ascii` — check [`is_ascii`] when the label must be literally true.
/// `false` for labels without a decoder.
pub fn decodes_cleanly(bytes: &[u8], label: &[u8]) -> bool {
    decoder_for_label(label).is_some_and(|d| clean(d, bytes))
}

/// [`decodes_cleanly`] for a decoder.
fn clean(decoder: Decoder, bytes: &[u8]) -> bool {
    let e = match decoder {
        Decoder::Utf7 => return !utf7::decode_with(bytes, |_| {}),
        Decoder::Encoding(e) => e,
    };
    if e == UTF_8 {
        return std::str::from_utf8(bytes).is_ok();
    }
    if e.is_ascii_compatible() && is_ascii(bytes) {
        return true;
    }
    let unicode = is_utf16(e);
    let mut decoder = if unicode {
        e.new_decoder()
    } else {
        e.new_decoder_without_bom_handling()
    };
    let mut buf = [0u8; 2048];
    let mut src = bytes;
    loop {
        let (result, read, written) =
            decoder.decode_to_utf8_without_replacement(src, &mut buf, true);
        if !unicode && has_c1(buf.get(..written).unwrap_or(&[])) {
            return false;
        }
        src = src.get(read..).unwrap_or(&[]);
        match result {
            DecoderResult::InputEmpty => return true,
            DecoderResult::Malformed(..) => return false,
            // The buffer always holds at least one character, so this made progress.
            DecoderResult::OutputFull if read > 0 || written > 0 => {}
            DecoderResult::OutputFull => return false,
        }
    }
}

/// Whether UTF-8 text contains a C1 control (U+0080–U+009F, encoded C2 80–C2 9F).
/// `encoding_rs` writes whole characters only, so a chunk never splits one.
fn has_c1(utf8: &[u8]) -> bool {
    memchr::memchr_iter(0xC2, utf8)
        .any(|i| utf8.get(i + 1).is_some_and(|b| (0x80..=0x9F).contains(b)))
}
