//! Property tests of the repair pipeline on generated messages: it never panics,
//! its output always passes the validator, repairing is idempotent, and parts that
//! were fine are copied byte for byte.

use chrono::DateTime;
use proptest::prelude::*;

use super::{Context, Outcome, repair};
use crate::mime::validate;

fn ctx() -> Context {
    Context {
        internal_date: DateTime::from_timestamp(1_300_000_000, 0).unwrap_or_default(),
        max_size: None,
        source_sha256: [7; 32],
        disarm_read_receipts: false,
    }
}

/// Header text: ASCII words, Latin-1 and UTF-8 bytes, sometimes very long.
fn header_value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        "[a-zA-Z0-9 ,.<>@=?-]{0,60}".prop_map(String::into_bytes),
        proptest::collection::vec(
            prop_oneof![Just(0xe9u8), Just(0xfcu8), Just(b'a'), Just(b' ')],
            1..40
        ),
        "\\PC{1,30}".prop_map(String::into_bytes),
        Just(vec![b'x'; 1200]),
        Just(b"=?utf-8?q?caf=C3=A9?= ok".to_vec()),
    ]
}

/// A body: text, bytes with NULs and 8-bit, long lines, broken base64.
fn body() -> impl Strategy<Value = (Vec<u8>, Vec<u8>)> {
    prop_oneof![
        // (extra part header lines, body)
        "[a-zA-Z .\\n]{0,200}".prop_map(|s| (b"Content-Type: text/plain; charset=us-ascii\n".to_vec(), s.into_bytes())),
        proptest::collection::vec(any::<u8>(), 0..300)
            .prop_map(|b| (b"Content-Type: application/octet-stream\nContent-Transfer-Encoding: binary\n".to_vec(), b)),
        proptest::collection::vec(any::<u8>(), 0..300)
            .prop_map(|b| (b"Content-Type: text/plain\n".to_vec(), b)),
        "[A-Za-z0-9+/=!* \\n]{0,300}".prop_map(|s| (b"Content-Type: image/png\nContent-Transfer-Encoding: base64\n".to_vec(), s.into_bytes())),
        "[A-Za-z0-9=\\n ]{0,300}".prop_map(|s| (b"Content-Type: text/plain; charset=latin1\nContent-Transfer-Encoding: quoted-printable\n".to_vec(), s.into_bytes())),
        Just((b"Content-Type: text/plain\n".to_vec(), vec![b'y'; 2500])),
    ]
}

fn message() -> impl Strategy<Value = Vec<u8>> {
    (
        proptest::collection::vec(header_value(), 0..4),
        proptest::collection::vec(body(), 1..4),
        any::<bool>(),
        any::<bool>(),
        prop_oneof![Just("\n"), Just("\r\n"), Just("\r")],
        any::<bool>(),
    )
        .prop_map(|(values, parts, multipart, close, eol, receipt)| {
            let mut m = Vec::new();
            m.extend_from_slice(b"From: someone@example.org\n");
            for (i, v) in values.iter().enumerate() {
                if i == 0 && receipt {
                    // a read-receipt request, for --disarm-read-receipts
                    m.extend_from_slice(b"Disposition-Notification-To: ");
                } else {
                    m.extend_from_slice(format!("X-Test-{i}: ").as_bytes());
                }
                m.extend_from_slice(v);
                m.push(b'\n');
            }
            if multipart {
                m.extend_from_slice(b"Content-Type: multipart/mixed; boundary=\"b1\"\n\npre\n");
                for (h, b) in &parts {
                    m.extend_from_slice(b"--b1\n");
                    m.extend_from_slice(h);
                    m.push(b'\n');
                    m.extend_from_slice(b);
                    m.push(b'\n');
                }
                if close {
                    m.extend_from_slice(b"--b1--\n");
                }
            } else {
                let (h, b) = &parts[0];
                m.extend_from_slice(h);
                m.push(b'\n');
                m.extend_from_slice(b);
            }
            if eol == "\n" {
                m
            } else {
                m.split(|&b| b == b'\n')
                    .collect::<Vec<_>>()
                    .join(eol.as_bytes())
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn output_is_valid_and_a_fixed_point(m in message(), disarm in any::<bool>()) {
        let ctx = || Context { disarm_read_receipts: disarm, ..super::props::ctx() };
        match repair(&m, &ctx()) {
            Outcome::Staged(s) => {
                let out = s.bytes(&m).to_vec();
                let left = validate::validate(&out);
                prop_assert!(left.is_empty(), "{left:?}\n{}", String::from_utf8_lossy(&out));
                match repair(&out, &ctx()) {
                    Outcome::Staged(again) => {
                        prop_assert!(again.bytes.is_none(), "second repair changed bytes: {:?}", again.repairs);
                        prop_assert!(again.repairs.is_empty(), "{:?}", again.repairs);
                    }
                    Outcome::Quarantined(r) => prop_assert!(false, "repaired output quarantined: {r}"),
                }
            }
            Outcome::Quarantined(_) => {}
        }
    }

    #[test]
    fn never_panics_on_arbitrary_bytes(m in proptest::collection::vec(any::<u8>(), 0..2000)) {
        let mut with_header = b"Subject: x\r\n".to_vec();
        with_header.extend_from_slice(&m);
        for input in [&m, &with_header] {
            if let Outcome::Staged(s) = repair(input, &ctx()) {
                prop_assert!(validate::validate(s.bytes(input)).is_empty());
            }
        }
    }

    #[test]
    fn untouched_parts_stay_byte_identical(text in "[a-zA-Z .]{1,80}", junk in proptest::collection::vec(any::<u8>(), 1..200)) {
        // One clean text part, one broken binary part: the clean part's bytes
        // (header and body) appear unchanged in the output.
        let clean = format!("Content-Type: text/plain; charset=us-ascii\r\n\r\n{text}");
        let mut m = b"From: a@b\r\nDate: Fri, 13 Mar 2009 22:15:00 +0000\r\nMessage-ID: <p@q>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=zz\r\n\r\n--zz\r\n".to_vec();
        m.extend_from_slice(clean.as_bytes());
        m.extend_from_slice(b"\r\n--zz\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n\0");
        m.extend_from_slice(&junk);
        m.extend_from_slice(b"\r\n--zz--\r\n");
        match repair(&m, &ctx()) {
            Outcome::Staged(s) => {
                let out = s.bytes(&m);
                prop_assert!(memchr::memmem::find(out, clean.as_bytes()).is_some());
                prop_assert!(s.repairs.contains(&super::Repair::BinaryBase64));
            }
            Outcome::Quarantined(r) => prop_assert!(false, "{r}"),
        }
    }
}
