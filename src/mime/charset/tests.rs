//! Unit tests: the documented label table, WHATWG coverage, decoding, detection on
//! real corpus bodies, and properties (never panics).

use std::borrow::Cow;
use std::path::PathBuf;

use encoding_rs::{
    BIG5, EUC_KR, Encoding, GBK, ISO_2022_JP, ISO_8859_2, KOI8_R, SHIFT_JIS, UTF_8, UTF_16BE,
    UTF_16LE, WINDOWS_1250, WINDOWS_1251, WINDOWS_1252,
};
use proptest::prelude::*;

use super::*;

fn d(e: &'static Encoding) -> Decoder {
    Decoder::Encoding(e)
}

// ---------------------------------------------------------------------------
// The label table

/// One row of the module documentation's table.
struct Row {
    labels: Vec<String>,
    written: Option<String>,
    decision: String,
    decodes_as: Option<String>,
}

/// Backticked items of a table cell.
fn ticked(cell: &str) -> Vec<String> {
    cell.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

fn doc_rows() -> Vec<Row> {
    include_str!("mod.rs")
        .lines()
        .filter_map(|l| l.strip_prefix("//! | `"))
        .map(|rest| {
            let cells: Vec<&str> = rest.split(" | ").collect();
            assert!(cells.len() >= 4, "short table row: {rest}");
            Row {
                labels: ticked(&format!("`{}", cells[0])),
                written: ticked(cells[1]).into_iter().next(),
                decision: cells[2].trim().to_owned(),
                decodes_as: ticked(cells[3]).into_iter().next(),
            }
        })
        .collect()
}

#[test]
fn documented_table_matches_the_code() {
    let rows = doc_rows();
    assert!(rows.len() > 40, "the module table was not found");
    let mut checked = 0;
    for row in &rows {
        for label in &row.labels {
            let got = decide_label(label.as_bytes());
            match row.decision.as_str() {
                "write" => {
                    let name = row.written.as_deref().unwrap_or("");
                    let bare = label.trim_matches('"');
                    let want = if bare.eq_ignore_ascii_case(name) {
                        LabelDecision::Keep
                    } else {
                        LabelDecision::Relabel(match got {
                            LabelDecision::Relabel(n) => n,
                            _ => "<relabel expected>",
                        })
                    };
                    assert_eq!(got, want, "label {label:?}");
                    if let LabelDecision::Relabel(n) = got {
                        assert_eq!(n, name, "label {label:?}");
                    }
                }
                "transcode" => match got {
                    LabelDecision::TranscodeToUtf8(dec) => {
                        assert_eq!(
                            Some(dec.name()),
                            row.decodes_as.as_deref(),
                            "label {label:?}"
                        );
                    }
                    other => panic!("label {label:?}: expected transcode, got {other:?}"),
                },
                "unknown" => assert_eq!(got, LabelDecision::Unknown, "label {label:?}"),
                other => panic!("unknown decision {other:?} in the table"),
            }
            let dec = decoder_for_label(label.as_bytes());
            assert_eq!(
                dec.map(|x| x.name()),
                row.decodes_as.as_deref(),
                "decoder for {label:?}"
            );
            checked += 1;
        }
    }
    assert!(checked > 200, "only {checked} labels checked");
}

#[test]
fn aliases_seen_in_real_mail() {
    use LabelDecision::{Keep, Relabel, TranscodeToUtf8, Unknown};
    let cases: &[(&[u8], LabelDecision)] = &[
        (b"utf-8", Keep),
        (b"UTF-8", Keep),
        (b"\"utf-8\"", Keep),
        (b"utf8", Relabel("UTF-8")),
        (b"UTF8", Relabel("UTF-8")),
        (b" utf-8 ", Relabel("UTF-8")),
        (b"utf-8\"", Relabel("UTF-8")),
        (b"'utf-8'", Relabel("UTF-8")),
        (b"utf-8*en", Relabel("UTF-8")),
        (b"unicode-1-1-utf-8", Relabel("UTF-8")),
        (b"latin1", Relabel("ISO-8859-1")),
        (b"latin-1", Relabel("ISO-8859-1")),
        (b"l1", Relabel("ISO-8859-1")),
        (b"iso8859-1", Relabel("ISO-8859-1")),
        (b"iso_8859-1", Relabel("ISO-8859-1")),
        (b"ISO 8859-1", Relabel("ISO-8859-1")),
        (b"iso-8859-1", Keep),
        (b"iso-8859-15", Keep),
        (b"iso8859-15", Relabel("ISO-8859-15")),
        (b"cp1252", Relabel("windows-1252")),
        (b"win-1252", Relabel("windows-1252")),
        (b"windows1252", Relabel("windows-1252")),
        (b"Windows-1252", Keep),
        (b"win-1251", Relabel("windows-1251")),
        (b"cp1251", Relabel("windows-1251")),
        (b"x-cp1251", Relabel("windows-1251")),
        (b"koi8r", Relabel("KOI8-R")),
        (b"koi8-u", Keep),
        (b"x-gbk", Relabel("GBK")),
        (b"gbk", Keep),
        (b"gb2312", Keep),
        (b"gb_2312-80", Relabel("GB2312")),
        (b"euc-cn", Relabel("GB2312")),
        (b"gb18030", Keep),
        (b"big5", Keep),
        (b"big5-hkscs", TranscodeToUtf8(d(BIG5))),
        (b"x-big5", Relabel("Big5")),
        (b"shift_jis", Keep),
        (b"shift-jis", Relabel("Shift_JIS")),
        (b"sjis", Relabel("Shift_JIS")),
        (b"x-sjis", Relabel("Shift_JIS")),
        (b"ms_kanji", Relabel("Shift_JIS")),
        (b"cp932", TranscodeToUtf8(d(SHIFT_JIS))),
        (b"euc-jp", Keep),
        (b"iso-2022-jp", Keep),
        (b"ks_c_5601-1987", TranscodeToUtf8(d(EUC_KR))),
        (b"ks_c_5601", TranscodeToUtf8(d(EUC_KR))),
        (b"cp949", TranscodeToUtf8(d(EUC_KR))),
        (b"euc-kr", Keep),
        (b"euc_kr", Relabel("EUC-KR")),
        (b"iso-8859-8-i", Keep),
        (b"iso-8859-8", Keep),
        (b"iso-8859-2", Keep),
        (b"iso-8859-9", Keep),
        (b"iso-8859-16", TranscodeToUtf8(d(encoding_rs::ISO_8859_16))),
        (b"tis-620", Keep),
        (b"windows-874", Keep),
        (b"x-mac-roman", TranscodeToUtf8(d(encoding_rs::MACINTOSH))),
        (b"macintosh", TranscodeToUtf8(d(encoding_rs::MACINTOSH))),
        (b"unicode-1-1-utf-7", TranscodeToUtf8(Decoder::Utf7)),
        (b"utf-7", TranscodeToUtf8(Decoder::Utf7)),
        (b"utf-16", TranscodeToUtf8(d(UTF_16BE))),
        (b"x-unknown", Unknown),
        (b"unknown-8bit", Unknown),
        (b"x-user-defined", Unknown),
        (b"default", Unknown),
        (b"", Unknown),
        (b"\"\"", Unknown),
        (b"   ", Unknown),
        (b"utf-8\xC3\xA9", Unknown),
        (b"us-ascii", Keep),
        (b"ascii", Relabel("US-ASCII")),
        (b"ansi_x3.4-1968", Relabel("US-ASCII")),
    ];
    for (label, want) in cases {
        assert_eq!(
            decide_label(label),
            *want,
            "{:?}",
            String::from_utf8_lossy(label)
        );
    }
    // Longer than any real label.
    assert_eq!(decide_label(&[b'a'; 65]), Unknown);
}

/// Every label of the WHATWG Encoding Standard (as `encoding_rs` 0.8 has them), with
/// what we write. Labels WHATWG folds into another charset must keep their meaning.
#[test]
fn every_whatwg_label_is_classified() {
    const T: &str = "transcode";
    const U: &str = "unknown";
    let table: &[(&str, &[&str])] = &[
        ("Big5", &["big5", "csbig5", "cn-big5", "x-x-big5"]),
        (T, &["big5-hkscs", "ms932", "windows-31j"]),
        ("EUC-JP", &["euc-jp", "x-euc-jp", "cseucpkdfmtjapanese"]),
        ("EUC-KR", &["euc-kr", "cseuckr"]),
        (
            T,
            &[
                "korean",
                "ksc5601",
                "ksc_5601",
                "iso-ir-149",
                "windows-949",
                "csksc56011987",
                "ks_c_5601-1987",
                "ks_c_5601-1989",
            ],
        ),
        ("GB18030", &["gb18030"]),
        ("GBK", &["gbk", "x-gbk"]),
        (
            "GB2312",
            &[
                "gb2312",
                "gb_2312",
                "chinese",
                "csgb2312",
                "iso-ir-58",
                "gb_2312-80",
                "csiso58gb231280",
            ],
        ),
        ("IBM866", &["866", "cp866", "ibm866", "csibm866"]),
        ("ISO-2022-JP", &["iso-2022-jp", "csiso2022jp"]),
        (
            T,
            &[
                "l6",
                "latin6",
                "iso885910",
                "iso8859-10",
                "iso-ir-157",
                "iso-8859-10",
                "csisolatin6",
                "iso885914",
                "iso8859-14",
                "iso-8859-14",
                "iso-8859-16",
            ],
        ),
        ("ISO-8859-13", &["iso885913", "iso8859-13", "iso-8859-13"]),
        (
            "ISO-8859-15",
            &[
                "l9",
                "iso885915",
                "iso8859-15",
                "iso-8859-15",
                "iso_8859-15",
                "csisolatin9",
            ],
        ),
        (
            "ISO-8859-2",
            &[
                "l2",
                "latin2",
                "iso88592",
                "iso8859-2",
                "iso-ir-101",
                "iso-8859-2",
                "iso_8859-2",
                "csisolatin2",
                "iso_8859-2:1987",
            ],
        ),
        (
            "ISO-8859-3",
            &[
                "l3",
                "latin3",
                "iso88593",
                "iso8859-3",
                "iso-8859-3",
                "iso_8859-3",
                "iso-ir-109",
                "csisolatin3",
                "iso_8859-3:1988",
            ],
        ),
        (
            "ISO-8859-4",
            &[
                "l4",
                "latin4",
                "iso88594",
                "iso8859-4",
                "iso-ir-110",
                "iso-8859-4",
                "iso_8859-4",
                "csisolatin4",
                "iso_8859-4:1988",
            ],
        ),
        (
            "ISO-8859-5",
            &[
                "iso88595",
                "cyrillic",
                "iso8859-5",
                "iso-ir-144",
                "iso-8859-5",
                "iso_8859-5",
                "iso_8859-5:1988",
                "csisolatincyrillic",
            ],
        ),
        (
            "ISO-8859-6",
            &[
                "arabic",
                "ecma-114",
                "iso88596",
                "asmo-708",
                "iso8859-6",
                "iso-8859-6",
                "iso_8859-6",
                "iso-ir-127",
                "csiso88596e",
                "csiso88596i",
                "iso-8859-6-e",
                "iso-8859-6-i",
                "iso_8859-6:1987",
                "csisolatinarabic",
            ],
        ),
        (
            "ISO-8859-7",
            &[
                "greek",
                "greek8",
                "iso88597",
                "ecma-118",
                "elot_928",
                "iso8859-7",
                "iso-ir-126",
                "iso-8859-7",
                "iso_8859-7",
                "sun_eu_greek",
                "iso_8859-7:1987",
                "csisolatingreek",
            ],
        ),
        (
            "ISO-8859-8",
            &[
                "visual",
                "hebrew",
                "iso88598",
                "iso8859-8",
                "iso-8859-8",
                "iso_8859-8",
                "iso-ir-138",
                "csiso88598e",
                "iso-8859-8-e",
                "iso_8859-8:1988",
                "csisolatinhebrew",
            ],
        ),
        ("ISO-8859-8-I", &["logical", "csiso88598i", "iso-8859-8-i"]),
        ("KOI8-R", &["koi", "koi8", "koi8-r", "koi8_r", "cskoi8r"]),
        ("KOI8-U", &["koi8-u"]),
        (T, &["koi8-ru"]),
        (
            T,
            &[
                "mac",
                "macintosh",
                "csmacintosh",
                "x-mac-roman",
                "x-mac-cyrillic",
                "x-mac-ukrainian",
            ],
        ),
        ("HZ-GB-2312", &["hz-gb-2312"]),
        ("ISO-2022-CN", &["iso-2022-cn"]),
        ("ISO-2022-CN-EXT", &["iso-2022-cn-ext"]),
        ("ISO-2022-KR", &["iso-2022-kr", "csiso2022kr"]),
        (U, &["replacement", "x-user-defined"]),
        (
            "Shift_JIS",
            &[
                "sjis",
                "x-sjis",
                "ms_kanji",
                "shift-jis",
                "shift_jis",
                "csshiftjis",
            ],
        ),
        (
            T,
            &[
                "utf-16be",
                "unicodefffe",
                "ucs-2",
                "utf-16",
                "unicode",
                "utf-16le",
                "csunicode",
                "unicodefeff",
                "iso-10646-ucs-2",
            ],
        ),
        (
            "UTF-8",
            &[
                "utf8",
                "utf-8",
                "unicode20utf8",
                "unicode11utf8",
                "x-unicode20utf8",
                "unicode-1-1-utf-8",
            ],
        ),
        ("windows-1250", &["cp1250", "x-cp1250", "windows-1250"]),
        ("windows-1251", &["cp1251", "x-cp1251", "windows-1251"]),
        (
            "ISO-8859-1",
            &[
                "l1",
                "cp819",
                "latin1",
                "ibm819",
                "iso88591",
                "iso8859-1",
                "iso-ir-100",
                "iso-8859-1",
                "iso_8859-1",
                "csisolatin1",
                "iso_8859-1:1987",
            ],
        ),
        ("US-ASCII", &["ascii", "us-ascii", "ansi_x3.4-1968"]),
        ("windows-1252", &["cp1252", "x-cp1252", "windows-1252"]),
        ("windows-1253", &["cp1253", "x-cp1253", "windows-1253"]),
        (
            "ISO-8859-9",
            &[
                "l5",
                "latin5",
                "iso88599",
                "iso8859-9",
                "iso-ir-148",
                "iso-8859-9",
                "iso_8859-9",
                "csisolatin5",
                "iso_8859-9:1989",
            ],
        ),
        ("windows-1254", &["cp1254", "x-cp1254", "windows-1254"]),
        ("windows-1255", &["cp1255", "x-cp1255", "windows-1255"]),
        ("windows-1256", &["cp1256", "x-cp1256", "windows-1256"]),
        ("windows-1257", &["cp1257", "x-cp1257", "windows-1257"]),
        ("windows-1258", &["cp1258", "x-cp1258", "windows-1258"]),
        ("TIS-620", &["tis-620"]),
        (
            "windows-874",
            &[
                "dos-874",
                "iso885911",
                "iso8859-11",
                "iso-8859-11",
                "windows-874",
            ],
        ),
    ];
    let mut n = 0;
    for (want, labels) in table {
        for label in *labels {
            let got = decide_label(label.as_bytes());
            let summary = match got {
                LabelDecision::Keep => Cow::Borrowed(*want),
                LabelDecision::Relabel(name) => Cow::Borrowed(name),
                LabelDecision::TranscodeToUtf8(_) => Cow::Borrowed(T),
                LabelDecision::Unknown => Cow::Borrowed(U),
            };
            assert_eq!(summary, *want, "label {label}");
            if got == LabelDecision::Keep {
                assert!(label.eq_ignore_ascii_case(want), "{label} kept, not {want}");
            }
            // Decoding follows WHATWG, except where WHATWG has no real decoder and
            // for unmarked UTF-16 (RFC 2781 §4.3: big-endian).
            let whatwg = Encoding::for_label(label.as_bytes());
            let ours = decoder_for_label(label.as_bytes());
            match whatwg {
                Some(e) if e == encoding_rs::REPLACEMENT || e == encoding_rs::X_USER_DEFINED => {
                    assert_eq!(ours, None, "label {label}");
                }
                Some(_) if *label == "utf-16" => assert_eq!(ours, Some(d(UTF_16BE))),
                Some(e) => assert_eq!(ours, Some(d(e)), "label {label}"),
                None => panic!("{label} is not a WHATWG label"),
            }
            n += 1;
        }
    }
    assert_eq!(n, 228, "encoding_rs 0.8 has 228 labels");
}

// ---------------------------------------------------------------------------
// Decoding

#[test]
fn whatwg_rule_latin1_decodes_as_windows_1252() {
    for label in [
        &b"iso-8859-1"[..],
        b"us-ascii",
        b"latin1",
        b"ascii",
        b"ISO_8859-1",
    ] {
        let dec = decoder_for_label(label);
        assert_eq!(dec, Some(d(WINDOWS_1252)));
        let (text, errors) = dec
            .map(|x| x.decode(b"\x80 \x93quoted\x94 \x96 caf\xE9"))
            .unwrap();
        assert_eq!(text, "€ “quoted” – café");
        assert!(!errors);
        assert!(decodes_cleanly(b"\x80 \x93quoted\x94", label));
    }
    // The five bytes windows-1252 leaves undefined decode to C1 controls: not clean.
    assert!(!decodes_cleanly(b"a\x81b", b"iso-8859-1"));
}

#[test]
fn decode_borrows_in_common_cases() {
    let ascii = b"plain ascii text";
    for dec in [
        d(UTF_8),
        d(WINDOWS_1252),
        d(ISO_2022_JP),
        d(GBK),
        Decoder::Utf7,
    ] {
        let (text, errors) = dec.decode(ascii);
        assert!(matches!(text, Cow::Borrowed(_)), "{}", dec.name());
        assert!(!errors);
    }
    let (text, errors) = d(UTF_8).decode("grüße".as_bytes());
    assert!(matches!(text, Cow::Borrowed("grüße")));
    assert!(!errors);
    let (text, errors) = d(UTF_8).decode(b"\xEF\xBB\xBFbom");
    assert_eq!((text, errors), (Cow::Borrowed("bom"), false));
    let (text, errors) = d(UTF_8).decode(b"bad \xFF");
    assert_eq!((text.as_ref(), errors), ("bad \u{FFFD}", true));
}

#[test]
fn utf7_through_the_public_api() {
    let dec = decoder_for_label(b"unicode-1-1-utf-7");
    assert_eq!(dec, Some(Decoder::Utf7));
    assert_eq!(Decoder::Utf7.decode(b"Hi Mom -+Jjo--!").0, "Hi Mom -☺-!");
    assert_eq!(Decoder::Utf7.decode(b"+ZeVnLIqe-").0, "日本語");
    assert_eq!(Decoder::Utf7.decode(b"A+ImIDkQ.").0, "A≢Α.");
    assert_eq!(Decoder::Utf7.decode(b"+-").0, "+");
    assert_eq!(
        Decoder::Utf7.decode(b"caf\xE9"),
        (Cow::Owned("caf\u{FFFD}".into()), true)
    );
    assert!(decodes_cleanly(b"+ZeVnLIqe-", b"utf-7"));
    assert!(!decodes_cleanly(b"+ZeV-", b"utf-7"));
    assert_eq!(Decoder::Utf7.name(), "UTF-7");
    assert_eq!(mime_name(&Decoder::Utf7), "UTF-7");
}

#[test]
fn utf16_byte_order_comes_from_the_bom() {
    let be = b"\xFE\xFF\x00h\x00i";
    let le = b"\xFF\xFEh\x00i\x00";
    let unmarked_be = b"\x00h\x00i";
    for label in [&b"utf-16"[..], b"utf-16be", b"utf-16le"] {
        let dec = decoder_for_label(label).unwrap();
        assert_eq!(dec.decode(be).0, "hi", "{label:?}");
        assert_eq!(dec.decode(le).0, "hi", "{label:?}");
        assert!(decodes_cleanly(be, label));
    }
    assert_eq!(
        decoder_for_label(b"utf-16").unwrap().decode(unmarked_be).0,
        "hi"
    );
    assert_eq!(detect(le, None), found(d(UTF_16LE), DetectedBy::Detector));
    assert_eq!(
        detect(be, Some(b"iso-8859-1")),
        found(d(UTF_16BE), DetectedBy::Detector)
    );
}

#[test]
fn mime_names() {
    let cases = [
        (d(UTF_8), "UTF-8"),
        (d(WINDOWS_1252), "windows-1252"),
        (d(KOI8_R), "KOI8-R"),
        (d(ISO_2022_JP), "ISO-2022-JP"),
        (d(GBK), "GBK"),
        (d(encoding_rs::GB18030), "GB18030"),
        (d(SHIFT_JIS), "Shift_JIS"),
        (d(EUC_KR), "EUC-KR"),
        (d(BIG5), "Big5"),
        (d(encoding_rs::ISO_8859_8_I), "ISO-8859-8-I"),
        (d(encoding_rs::IBM866), "IBM866"),
    ];
    for (dec, name) in cases {
        assert_eq!(mime_name(&dec), name);
    }
    // What a Relabel writes is what mime_name gives for its decoder, where the
    // decoder is the label's own charset.
    for label in [
        &b"utf8"[..],
        b"cp1251",
        b"x-gbk",
        b"sjis",
        b"koi8r",
        b"x-euc-jp",
    ] {
        let LabelDecision::Relabel(name) = decide_label(label) else {
            panic!("{label:?} should relabel");
        };
        assert_eq!(decoder_for_label(label).map(|x| mime_name(&x)), Some(name));
    }
}

#[test]
fn is_ascii_and_clean_checks() {
    assert!(is_ascii(b""));
    assert!(is_ascii(&[b'a'; 10_000]));
    let mut long = vec![b'a'; 10_000];
    long[9_999] = 0x80;
    assert!(!is_ascii(&long));
    // windows-1250 text (Š = 0x8A, š = 0x9A) declared ISO-8859-2 decodes to C1 controls
    // there: the label is wrong, windows-1250 is right.
    let czech = b"\x8Akoda, \x9Apatn\xFD";
    assert!(!decodes_cleanly(czech, b"iso-8859-2"));
    assert!(decodes_cleanly(czech, b"windows-1250"));
    assert!(!decodes_cleanly(b"\xFF\xFE", b"utf-8"));
    assert!(!decodes_cleanly(b"abc", b"x-unknown"));
    assert!(!decodes_cleanly(b"abc", b"iso-2022-kr"));
    // A long text crosses the stack buffer in `clean` several times.
    let big = "Съешь же ещё этих мягких французских булок. ".repeat(500);
    let (cp1251, _, _) = WINDOWS_1251.encode(&big);
    assert!(decodes_cleanly(&cp1251, b"cp1251"));
    let mut broken = cp1251.into_owned();
    broken.push(0x98); // undefined in windows-1251
    assert!(!decodes_cleanly(&broken, b"cp1251"));
}

// ---------------------------------------------------------------------------
// Detection

#[test]
fn utf8_beats_the_hint() {
    let text = "Привет, мир".as_bytes();
    assert_eq!(
        detect(text, Some(b"koi8-r")),
        found(d(UTF_8), DetectedBy::Utf8)
    );
    assert_eq!(
        detect(b"ascii", Some(b"koi8-r")),
        found(d(UTF_8), DetectedBy::Utf8)
    );
    assert_eq!(detect(b"", None), found(d(UTF_8), DetectedBy::Utf8));
}

#[test]
fn hint_beats_the_detector_when_it_decodes_cleanly() {
    let (cp1251, _, _) = WINDOWS_1251.encode("Съешь же ещё этих мягких французских булок");
    // The detector alone says windows-1251 ...
    assert_eq!(
        detect(&cp1251, None),
        found(d(WINDOWS_1251), DetectedBy::Detector)
    );
    // ... but a hint that decodes the bytes cleanly wins.
    assert_eq!(
        detect(&cp1251, Some(b"koi8-r")),
        found(d(KOI8_R), DetectedBy::Hint)
    );
    // A hint that does not decode them is passed over.
    assert_eq!(detect(&cp1251, Some(b"utf-8")).how, DetectedBy::Detector);
    assert_eq!(
        detect(&cp1251, Some(b"x-unknown")).how,
        DetectedBy::Detector
    );
    // us-ascii / iso-8859-1 hints mean windows-1252 (WHATWG).
    assert_eq!(
        detect(&cp1251, Some(b"us-ascii")),
        found(d(WINDOWS_1252), DetectedBy::Hint)
    );
    // A single-byte hint whose decoding has C1 controls is wrong.
    let czech = WINDOWS_1250.encode("Škoda, špatný řidič, žluťoučký kůň").0;
    assert_eq!(detect(&czech, Some(b"iso-8859-2")).decoder, d(WINDOWS_1250));
    assert_eq!(
        detect(&czech, Some(b"iso-8859-2")).how,
        DetectedBy::Detector
    );
}

#[test]
fn detector_and_fallback() {
    let sjis = SHIFT_JIS
        .encode("日本語のテキストです。これはテストです。")
        .0;
    assert_eq!(
        detect(&sjis, None),
        found(d(SHIFT_JIS), DetectedBy::Detector)
    );
    let latin = WINDOWS_1252.encode("Déjà vu, naïve café, “quoted”").0;
    assert_eq!(
        detect(&latin, None),
        found(d(WINDOWS_1252), DetectedBy::Detector)
    );
    let polish = ISO_8859_2
        .encode("Zażółć gęślą jaźń, pchnąć w tę łódź jeża")
        .0;
    let got = detect(&polish, None);
    assert!(
        got.decoder == d(ISO_8859_2) || got.decoder == d(WINDOWS_1250),
        "{got:?}"
    );
    // Binary junk (every byte value) that no guess decodes cleanly: windows-1252 as
    // the last resort.
    let junk: Vec<u8> = (0..=255).collect();
    assert_eq!(
        detect(&junk, None),
        found(d(WINDOWS_1252), DetectedBy::Fallback)
    );
}

#[test]
fn iso_2022_jp_is_seven_bit_but_not_ascii_text() {
    let jis = ISO_2022_JP.encode("日本語のメール").0;
    assert!(is_ascii(&jis));
    assert_eq!(
        detect(&jis, None),
        found(d(ISO_2022_JP), DetectedBy::Detector)
    );
    assert_eq!(
        detect(&jis, Some(b"iso-2022-jp")),
        found(d(ISO_2022_JP), DetectedBy::Hint)
    );
    assert_eq!(detect(&jis, Some(b"utf-8")).decoder, d(ISO_2022_JP));
    // A stray ESC is not ISO-2022-JP.
    assert_eq!(
        detect(b"a\x1b[0m b", None),
        found(d(UTF_8), DetectedBy::Utf8)
    );
}

// ---------------------------------------------------------------------------
// Real mail from the corpus

fn corpus_dir() -> PathBuf {
    let shared = std::env::var_os("MAILSTAGE_SHARED").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared"),
        PathBuf::from,
    );
    let dir = shared.join("corpora/upstream");
    assert!(
        dir.join("index.tsv").is_file(),
        "corpus not found at {} (set MAILSTAGE_SHARED)",
        dir.display()
    );
    dir
}

/// Corpus files whose `index.tsv` tags include `tag`.
fn tagged(tag: &str) -> Vec<PathBuf> {
    let dir = corpus_dir();
    let index = std::fs::read_to_string(dir.join("index.tsv")).unwrap();
    index
        .lines()
        .skip(1)
        .filter_map(|line| {
            let cols: Vec<&str> = line.split('\t').collect();
            let tags = cols.get(7)?;
            tags.split(',').any(|t| t == tag).then(|| dir.join(cols[0]))
        })
        .collect()
}

/// A text part: its declared charset (if any) and its bytes after the transfer
/// encoding is undone.
struct Part {
    charset: Option<String>,
    body: Vec<u8>,
}

/// Text parts of a message, via mailparse; a message mailparse refuses gives its
/// crude body (everything after the first blank line) with no charset.
fn text_parts(raw: &[u8]) -> Vec<Part> {
    fn walk(m: &mailparse::ParsedMail<'_>, out: &mut Vec<Part>) {
        if m.subparts.is_empty() {
            if !m.ctype.mimetype.starts_with("text/") {
                return;
            }
            let declared = m
                .headers
                .iter()
                .filter(|h| h.get_key_ref().eq_ignore_ascii_case("content-type"))
                .any(|h| {
                    h.get_value_raw()
                        .to_ascii_lowercase()
                        .windows(7)
                        .any(|w| w == b"charset")
                });
            if let Ok(body) = m.get_body_raw() {
                out.push(Part {
                    charset: declared.then(|| m.ctype.charset.clone()),
                    body,
                });
            }
        }
        for sub in &m.subparts {
            walk(sub, out);
        }
    }
    let mut out = Vec::new();
    match mailparse::parse_mail(raw) {
        Ok(m) => walk(&m, &mut out),
        Err(_) => {
            let start = memchr::memmem::find(raw, b"\n\n")
                .or_else(|| memchr::memmem::find(raw, b"\r\n\r\n"))
                .unwrap_or(0);
            out.push(Part {
                charset: None,
                body: raw[start..].to_vec(),
            });
        }
    }
    out
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Script {
    Cyrillic,
    Japanese,
    Chinese,
    Korean,
}

fn script_of(c: char) -> Option<Script> {
    match c {
        '\u{0400}'..='\u{04FF}' => Some(Script::Cyrillic),
        '\u{3040}'..='\u{30FF}' => Some(Script::Japanese),
        '\u{AC00}'..='\u{D7AF}' | '\u{3130}'..='\u{318F}' => Some(Script::Korean),
        '\u{4E00}'..='\u{9FFF}' => Some(Script::Chinese),
        _ => None,
    }
}

/// Share of the non-ASCII letters of `text` that belong to `script` (Han counts for
/// Japanese and Korean too).
fn share(text: &str, script: Script) -> f64 {
    let letters: Vec<char> = text
        .chars()
        .filter(|c| !c.is_ascii() && c.is_alphabetic())
        .collect();
    if letters.is_empty() {
        return 0.0;
    }
    let hits = letters
        .iter()
        .filter(|&&c| {
            let s = script_of(c);
            s == Some(script)
                || (s == Some(Script::Chinese)
                    && matches!(script, Script::Japanese | Script::Korean))
        })
        .count();
    hits as f64 / letters.len() as f64
}

/// Runs `detect` on the non-ASCII text parts of files tagged `charset:<label>` that
/// declare `label`. Where the label is truthful (it decodes the part cleanly into
/// text of the expected script), blind detection must find that script too, and the
/// label as hint must win; where it is not (the corpus has such parts), the hint must
/// be passed over (UTF-8 or the detector decide). Returns how many truthful parts were checked.
fn check_declared(label: &str, script: Script) -> usize {
    let mut checked = 0;
    for path in tagged(&format!("charset:{label}")) {
        let raw = std::fs::read(&path).unwrap();
        for part in text_parts(&raw) {
            let declared = part.charset.as_deref().unwrap_or("");
            if !declared.eq_ignore_ascii_case(label) || part.body.is_empty() {
                continue;
            }
            let is_7bit_jis = label == "iso-2022-jp" && part.body.contains(&0x1B);
            if is_ascii(&part.body) && !is_7bit_jis {
                continue;
            }
            let blind = detect(&part.body, None);
            let (text, errors) = blind.decoder.decode(&part.body);
            assert!(!errors, "{}: {blind:?} had errors", path.display());
            let hinted = detect(&part.body, Some(declared.as_bytes()));
            // Valid non-ASCII UTF-8 under a legacy label is UTF-8 (the corpus has
            // Spanish UTF-8 declared windows-1251, which would read as Cyrillic).
            let utf8 = std::str::from_utf8(&part.body).is_ok() && !is_7bit_jis;
            let clean = decodes_cleanly(&part.body, declared.as_bytes());
            let truthful = !utf8
                && clean
                && decoder_for_label(declared.as_bytes())
                    .is_some_and(|x| share(&x.decode(&part.body).0, script) > 0.6);
            eprintln!(
                "{}: {declared}, truthful={truthful}, {blind:?}",
                path.display()
            );
            if utf8 || !clean {
                // The label does not fit: UTF-8 or the detector decide.
                assert_eq!(hinted, blind, "{}", path.display());
                continue;
            }
            // A label that fits wins over the detector (the corpus has a Japanese
            // NDR in GBK, whose kana GBK has).
            assert_eq!(hinted.how, DetectedBy::Hint, "{}", path.display());
            if !truthful {
                continue;
            }
            assert!(
                share(&text, script) > 0.6,
                "{}: detected {blind:?}, decoded as {:?}",
                path.display(),
                text.chars().take(200).collect::<String>()
            );
            checked += 1;
        }
    }
    checked
}

#[test]
fn corpus_declared_charsets_are_detected_plausibly() {
    let cases = [
        ("koi8-r", Script::Cyrillic),
        ("windows-1251", Script::Cyrillic),
        ("iso-2022-jp", Script::Japanese),
        ("shift_jis", Script::Japanese),
        ("gb2312", Script::Chinese),
        ("big5", Script::Chinese),
        ("euc-kr", Script::Korean),
        ("ks_c_5601-1987", Script::Korean),
    ];
    let mut total = 0;
    for (label, script) in cases {
        let n = check_declared(label, script);
        eprintln!("{label}: {n} parts checked");
        total += n;
    }
    assert!(total >= 10, "only {total} corpus parts checked");
}

#[test]
fn corpus_undeclared_8bit_decodes_without_errors() {
    let files = tagged("8bit-undeclared");
    assert!(
        files.len() >= 10,
        "corpus has too few 8bit-undeclared files"
    );
    let mut checked = 0;
    for path in files {
        let raw = std::fs::read(&path).unwrap();
        for part in text_parts(&raw) {
            if is_ascii(&part.body) {
                continue;
            }
            let got = detect(&part.body, part.charset.as_deref().map(str::as_bytes));
            let (text, errors) = got.decoder.decode(&part.body);
            assert!(!errors, "{}: {got:?}", path.display());
            let sample: String = text.chars().filter(|c| !c.is_ascii()).take(12).collect();
            eprintln!("{}: {:?} -> {got:?} {sample}", path.display(), part.charset);
            checked += 1;
        }
    }
    assert!(
        checked >= 5,
        "only {checked} undeclared 8-bit parts checked"
    );
}

// ---------------------------------------------------------------------------
// Properties: nothing panics, results are consistent

proptest! {
    #[test]
    fn decide_label_never_panics(label in proptest::collection::vec(any::<u8>(), 0..80)) {
        let decision = decide_label(&label);
        if let LabelDecision::Relabel(name) = decision {
            // A relabel always names something we decide to keep.
            prop_assert_eq!(decide_label(name.as_bytes()), LabelDecision::Keep);
        }
        let _ = decoder_for_label(&label);
    }

    #[test]
    fn label_like_strings_never_panic(label in "[ \"']?[a-zA-Z0-9_:.*-]{0,30}[ \"';]?") {
        let _ = decide_label(label.as_bytes());
        let _ = decoder_for_label(label.as_bytes());
        let _ = decodes_cleanly(b"abc\xE9", label.as_bytes());
    }

    #[test]
    fn detect_never_panics(
        bytes in proptest::collection::vec(any::<u8>(), 0..600),
        hint in proptest::option::of("[a-z0-9_-]{0,16}"),
    ) {
        let got = detect(&bytes, hint.as_deref().map(str::as_bytes));
        let (_, errors) = got.decoder.decode(&bytes);
        if got.how != DetectedBy::Fallback {
            prop_assert!(!errors, "{:?}", got);
        }
    }

    #[test]
    fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300), which in 0usize..12) {
        let decoders = [
            Decoder::Utf7, d(UTF_8), d(WINDOWS_1252), d(GBK), d(BIG5), d(SHIFT_JIS), d(EUC_KR),
            d(ISO_2022_JP), d(UTF_16LE), d(UTF_16BE), d(KOI8_R), d(encoding_rs::EUC_JP),
        ];
        let dec = decoders[which];
        let (text, errors) = dec.decode(&bytes);
        prop_assert_eq!(!errors || text.contains('\u{FFFD}'), true);
        if !errors && dec != Decoder::Utf7 && dec != d(UTF_16LE) && dec != d(UTF_16BE) {
            // Without errors and without C1 controls, the clean check agrees.
            let c1 = text.chars().any(|c| ('\u{80}'..='\u{9F}').contains(&c));
            prop_assert_eq!(clean(dec, &bytes), dec == d(UTF_8) || !c1);
        }
    }

    #[test]
    fn utf7_ascii_without_plus_is_identity(s in "[ -*,-~]{0,60}") {
        let (text, errors) = Decoder::Utf7.decode(s.as_bytes());
        prop_assert!(!errors);
        prop_assert_eq!(text.as_ref(), s.as_str());
    }
}
