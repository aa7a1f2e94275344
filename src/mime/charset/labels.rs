//! The label table behind [`super::decide_label`] and [`super::decoder_for_label`].
//!
//! One lookup answers both questions: how to write a label (canonical IANA name, or
//! transcode, or unknown) and how to decode bytes carrying it (WHATWG decoder). The
//! documented table in the parent module is the contract; its unit test reads that
//! table and checks every row against this code.

use encoding_rs::{
    BIG5, EUC_JP, EUC_KR, Encoding, GB18030, GBK, IBM866, ISO_2022_JP, ISO_8859_2, ISO_8859_3,
    ISO_8859_4, ISO_8859_5, ISO_8859_6, ISO_8859_7, ISO_8859_8, ISO_8859_8_I, ISO_8859_10,
    ISO_8859_13, ISO_8859_14, ISO_8859_15, ISO_8859_16, KOI8_R, KOI8_U, MACINTOSH, SHIFT_JIS,
    UTF_8, UTF_16BE, UTF_16LE, WINDOWS_874, WINDOWS_1250, WINDOWS_1251, WINDOWS_1252, WINDOWS_1253,
    WINDOWS_1254, WINDOWS_1255, WINDOWS_1256, WINDOWS_1257, WINDOWS_1258, X_MAC_CYRILLIC,
};

use super::Decoder;

/// What the table says about one label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Class {
    /// Keep the bytes and write this canonical name; decode with the decoder, if we
    /// have one (the 7-bit ISO-2022 variants other than `-JP` have none here).
    Write(&'static str, Option<Decoder>),
    /// Decode with this and transcode to UTF-8.
    Transcode(Decoder),
    /// No usable meaning.
    Unknown,
}

/// Longest label we look at. The longest IANA name in use is
/// `Extended_UNIX_Code_Packed_Format_for_Japanese` (45 octets).
const MAX_LABEL: usize = 64;

/// A label as the caller gave it, reduced to what the lookup needs.
pub(super) struct Label<'a> {
    /// The label with surrounding whitespace, quotes, a trailing `;` and an RFC 2231
    /// `*language` suffix removed, case preserved (for `encoding_rs`'s WHATWG lookup).
    pub(super) trimmed: &'a [u8],
    /// `trimmed` lower-cased, with `_` and space folded to `-`.
    key: [u8; MAX_LABEL],
    len: usize,
}

impl Label<'_> {
    /// The normalized lookup key.
    pub(super) fn key(&self) -> &[u8] {
        self.key.get(..self.len).unwrap_or(&[])
    }
}

fn is_trim(b: u8) -> bool {
    matches!(
        b,
        b' ' | b'\t' | b'\r' | b'\n' | 0x0B | 0x0C | b'"' | b'\'' | b';'
    )
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s {
        if !is_trim(*first) {
            break;
        }
        s = rest;
    }
    while let [rest @ .., last] = s {
        if !is_trim(*last) {
            break;
        }
        s = rest;
    }
    s
}

/// Normalizes a label for lookup; `None` if nothing label-like is left.
pub(super) fn normalize(label: &[u8]) -> Option<Label<'_>> {
    let mut trimmed = trim(label);
    // RFC 2231 §5 lets an encoded word's charset carry a language: `utf-8*en`.
    if let Some(star) = memchr::memchr(b'*', trimmed) {
        trimmed = trim(trimmed.get(..star).unwrap_or(&[]));
    }
    if trimmed.is_empty() || trimmed.len() > MAX_LABEL {
        return None;
    }
    let mut key = [0u8; MAX_LABEL];
    for (k, &b) in key.iter_mut().zip(trimmed) {
        *k = match b {
            b'_' | b' ' => b'-',
            // IANA charset names are printable US-ASCII (RFC 2978 §2.3).
            0x21..=0x7E => b.to_ascii_lowercase(),
            _ => return None,
        };
    }
    Some(Label {
        trimmed,
        key,
        len: trimmed.len(),
    })
}

const fn enc(e: &'static Encoding) -> Option<Decoder> {
    Some(Decoder::Encoding(e))
}

const fn write(name: &'static str, e: &'static Encoding) -> Class {
    Class::Write(name, enc(e))
}

const fn transcode(e: &'static Encoding) -> Class {
    Class::Transcode(Decoder::Encoding(e))
}

/// Classifies a normalized label: the explicit table, then the same without an `x-`
/// prefix, then `encoding_rs`'s WHATWG label list mapped by encoding.
pub(super) fn classify(label: &Label<'_>) -> Class {
    let key = label.key();
    if let Some(c) = lookup(key) {
        return c;
    }
    if let Some(rest) = key.strip_prefix(b"x-")
        && let Some(c) = lookup(rest)
    {
        return c;
    }
    Encoding::for_label(label.trimmed).map_or(Class::Unknown, by_encoding)
}

/// The explicit table (keys normalized: lower case, `_` and space folded to `-`).
fn lookup(key: &[u8]) -> Option<Class> {
    let c =
        match key {
            // The hot path first.
            b"utf-8" | b"utf8" | b"unicode-1-1-utf-8" | b"unicode11utf8" | b"unicode20utf8"
            | b"unicode-2-0-utf-8" | b"cp65001" => write("UTF-8", UTF_8),
            // WHATWG decodes US-ASCII and ISO-8859-1 as windows-1252.
            b"us-ascii" | b"ascii" | b"ansi-x3.4-1968" | b"ansi-x3.4-1986" | b"iso-ir-6"
            | b"iso-646.irv:1991" | b"iso646-us" | b"us" | b"ibm367" | b"cp367" | b"csascii"
            | b"646" => write("US-ASCII", WINDOWS_1252),
            b"iso-8859-1" | b"ibm819" | b"cp819" | b"csisolatin1" | b"iso-ir-100" => {
                write("ISO-8859-1", WINDOWS_1252)
            }
            // WHATWG folds ISO-8859-9 into windows-1254; these labels still mean ISO-8859-9.
            b"csisolatin5" | b"iso-ir-148" => write("ISO-8859-9", WINDOWS_1254),
            b"tis-620" | b"tis620" | b"cstis620" | b"tis-620-2533" => write("TIS-620", WINDOWS_874),
            b"dos-874" => write("windows-874", WINDOWS_874),
            b"iso-8859-8-i" | b"csiso88598i" | b"logical" => write("ISO-8859-8-I", ISO_8859_8_I),
            b"koi8-r" | b"koi8r" | b"koi8" | b"koi" | b"cskoi8r" => write("KOI8-R", KOI8_R),
            b"koi8-u" | b"koi8u" => write("KOI8-U", KOI8_U),
            // KOI8-RU adds Belarusian letters that Windows' KOI8-U (code page 21866) may not
            // have; WHATWG's KOI8-U decoder has them.
            b"koi8-ru" => transcode(KOI8_U),
            b"ibm866" | b"cp866" | b"866" | b"csibm866" => write("IBM866", IBM866),
            b"macintosh" | b"mac" | b"x-mac-roman" | b"macroman" | b"csmacintosh" => {
                transcode(MACINTOSH)
            }
            b"x-mac-cyrillic" | b"x-mac-ukrainian" | b"maccyrillic" => transcode(X_MAC_CYRILLIC),
            // Chinese. WHATWG decodes GB2312 as GBK (its superset); Exchange reads GB2312 as
            // code page 936 (GBK) too, so the label stays.
            b"gb2312" | b"gb-2312" | b"gb-2312-80" | b"gb2312-80" | b"csgb2312" | b"euc-cn"
            | b"euccn" | b"chinese" | b"iso-ir-58" | b"csiso58gb231280" => write("GB2312", GBK),
            b"gbk" | b"cp936" | b"ms936" | b"windows-936" => write("GBK", GBK),
            b"gb18030" | b"gb-18030" | b"csgb18030" => write("GB18030", GB18030),
            b"hz-gb-2312" => Class::Write("HZ-GB-2312", None),
            b"iso-2022-cn" => Class::Write("ISO-2022-CN", None),
            b"iso-2022-cn-ext" => Class::Write("ISO-2022-CN-EXT", None),
            b"big5" | b"big-5" | b"csbig5" | b"cn-big5" | b"x-big5" => write("Big5", BIG5),
            // WHATWG's Big5 decoder is Big5-HKSCS; no Windows code page is.
            b"big5-hkscs" | b"cp950" | b"ms950" | b"windows-950" => transcode(BIG5),
            // Japanese. WHATWG's Shift_JIS decoder is windows-31j (code page 932).
            b"shift-jis" | b"sjis" | b"shiftjis" | b"s-jis" | b"ms-kanji" | b"csshiftjis" => {
                write("Shift_JIS", SHIFT_JIS)
            }
            b"windows-31j" | b"cswindows31j" | b"cp932" | b"ms932" | b"ms-cp932"
            | b"windows-932" => transcode(SHIFT_JIS),
            b"euc-jp"
            | b"eucjp"
            | b"cseucpkdfmtjapanese"
            | b"extended-unix-code-packed-format-for-japanese" => write("EUC-JP", EUC_JP),
            b"iso-2022-jp" | b"iso2022jp" | b"csiso2022jp" => write("ISO-2022-JP", ISO_2022_JP),
            // A 7-bit superset of ISO-2022-JP; its Japanese part decodes, the rest is errors.
            b"iso-2022-jp-2" | b"csiso2022jp2" => write("ISO-2022-JP-2", ISO_2022_JP),
            // Korean. WHATWG's EUC-KR decoder is Unified Hangul Code (code page 949), a
            // superset of EUC-KR; Windows reads EUC-KR as the strict code page 51949.
            b"euc-kr" | b"euckr" | b"cseuckr" => write("EUC-KR", EUC_KR),
            b"ks-c-5601-1987" | b"ks-c-5601" | b"ks-c-5601-1989" | b"ksc5601" | b"ksc-5601"
            | b"korean" | b"iso-ir-149" | b"csksc56011987" | b"cp949" | b"windows-949"
            | b"ms949" | b"uhc" => transcode(EUC_KR),
            b"iso-2022-kr" | b"csiso2022kr" => Class::Write("ISO-2022-KR", None),
            // RFC 2152; not in the WHATWG standard, decoded by our own `utf7`.
            b"utf-7" | b"utf7" | b"unicode-1-1-utf-7" | b"csunicode11utf7"
            | b"unicode-2-0-utf-7" => Class::Transcode(Decoder::Utf7),
            // RFC 2781 §4.3: unmarked UTF-16 in MIME is big-endian; a BOM overrides.
            b"utf-16" | b"utf16" | b"utf-16be" | b"unicodefffe" => transcode(UTF_16BE),
            // Windows' "Unicode" is little-endian (WHATWG maps these labels the same way).
            b"utf-16le" | b"unicode" | b"unicodefeff" | b"ucs-2" | b"csunicode"
            | b"iso-10646-ucs-2" => transcode(UTF_16LE),
            // WHATWG's x-user-defined maps 0x80-0xFF into the Private Use Area: in mail the
            // label only says "some local charset".
            b"x-user-defined" | b"user-defined" | b"replacement" => Class::Unknown,
            _ => return generic(key),
        };
    Some(c)
}

/// Families with many spellings: `iso-8859-N`, `latinN`/`lN`, `windows-125N`/`cpN`.
fn generic(key: &[u8]) -> Option<Class> {
    if let Some(rest) = key.strip_prefix(b"iso") {
        let rest = rest.strip_prefix(b"-").unwrap_or(rest);
        let rest = rest.strip_prefix(b"8859")?;
        let rest = rest.strip_prefix(b"-").unwrap_or(rest);
        // `iso_8859-1:1987`: the year after ':' names the edition, not the charset.
        let digits = match memchr::memchr(b':', rest) {
            Some(colon) => {
                let year = rest.get(colon + 1..)?;
                if year.is_empty() || !year.iter().all(u8::is_ascii_digit) {
                    return None;
                }
                rest.get(..colon)?
            }
            None => rest,
        };
        return iso_8859(number(digits)?);
    }
    if let Some(rest) = key.strip_prefix(b"latin") {
        let rest = rest.strip_prefix(b"-").unwrap_or(rest);
        return latin(number(rest)?);
    }
    if let Some(rest) = key.strip_prefix(b"l")
        && let Some(n) = number(rest)
    {
        return latin(n);
    }
    let rest = [
        &b"windows-"[..],
        b"windows",
        b"win-",
        b"win",
        b"cp-",
        b"cp",
        b"ms-",
    ]
    .iter()
    .find_map(|p| key.strip_prefix(*p))?;
    windows(number(rest)?)
}

/// A decimal number of at most four digits.
fn number(digits: &[u8]) -> Option<u16> {
    if digits.is_empty() || digits.len() > 4 {
        return None;
    }
    digits.iter().try_fold(0u16, |n, &d| {
        d.is_ascii_digit().then(|| n * 10 + u16::from(d - b'0'))
    })
}

/// ISO-8859-N. Windows has code pages (2859N, 28603, 28605) for parts 1–9, 13 and 15
/// only, so Exchange cannot read 10, 14 and 16: those are transcoded.
fn iso_8859(n: u16) -> Option<Class> {
    Some(match n {
        1 => write("ISO-8859-1", WINDOWS_1252),
        2 => write("ISO-8859-2", ISO_8859_2),
        3 => write("ISO-8859-3", ISO_8859_3),
        4 => write("ISO-8859-4", ISO_8859_4),
        5 => write("ISO-8859-5", ISO_8859_5),
        6 => write("ISO-8859-6", ISO_8859_6),
        7 => write("ISO-8859-7", ISO_8859_7),
        8 => write("ISO-8859-8", ISO_8859_8),
        // WHATWG decodes ISO-8859-9 as windows-1254, its superset.
        9 => write("ISO-8859-9", WINDOWS_1254),
        10 => transcode(ISO_8859_10),
        // Not in the IANA registry; TIS-620 plus NBSP, a subset of windows-874.
        11 => write("windows-874", WINDOWS_874),
        13 => write("ISO-8859-13", ISO_8859_13),
        14 => transcode(ISO_8859_14),
        15 => write("ISO-8859-15", ISO_8859_15),
        16 => transcode(ISO_8859_16),
        _ => return None,
    })
}

/// `latinN` to ISO-8859 parts (ISO 8859 numbering: Latin-5 is part 9, Latin-6 part 10,
/// Latin-7 part 13, Latin-8 part 14, Latin-9 part 15, Latin-10 part 16).
fn latin(n: u16) -> Option<Class> {
    let part = match n {
        1..=4 => n,
        5 => 9,
        6 => 10,
        7 => 13,
        8 => 14,
        9 => 15,
        10 => 16,
        _ => return None,
    };
    iso_8859(part)
}

/// Windows code pages 874 and 1250–1258.
fn windows(n: u16) -> Option<Class> {
    Some(match n {
        874 => write("windows-874", WINDOWS_874),
        1250 => write("windows-1250", WINDOWS_1250),
        1251 => write("windows-1251", WINDOWS_1251),
        1252 => write("windows-1252", WINDOWS_1252),
        1253 => write("windows-1253", WINDOWS_1253),
        1254 => write("windows-1254", WINDOWS_1254),
        1255 => write("windows-1255", WINDOWS_1255),
        1256 => write("windows-1256", WINDOWS_1256),
        1257 => write("windows-1257", WINDOWS_1257),
        1258 => write("windows-1258", WINDOWS_1258),
        _ => return None,
    })
}

/// The remaining WHATWG labels (`greek`, `hebrew`, `cyrillic`, `arabic`, `visual`,
/// `iso-8859-6-i`, `elot_928`, …), classified by the encoding they select. Every label
/// that WHATWG folds into a *different* charset (ISO-8859-1 into windows-1252,
/// ISO-8859-9 into windows-1254, GB2312 into GBK, KS C 5601 into EUC-KR, …) is in the
/// explicit table above, so naming the encoding itself is faithful here.
fn by_encoding(e: &'static Encoding) -> Class {
    if e == UTF_16LE || e == UTF_16BE || e == MACINTOSH || e == X_MAC_CYRILLIC {
        return transcode(e);
    }
    if e == ISO_8859_10 || e == ISO_8859_14 || e == ISO_8859_16 {
        return transcode(e);
    }
    if e == GB18030 {
        return write("GB18030", e);
    }
    if e == encoding_rs::REPLACEMENT || e == encoding_rs::X_USER_DEFINED {
        return Class::Unknown;
    }
    // encoding_rs's names are the IANA preferred MIME names for everything else.
    write(e.name(), e)
}
