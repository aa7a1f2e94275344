//! IMAP encoding and decoding on the upload path: quoted strings (SEARCH criteria),
//! UID sets (APPENDUID, SEARCH, STORE), folder names in modified UTF-7 (RFC 3501
//! §5.1.3), INTERNALDATE formatting, and reading responses with literals (the FETCH
//! answers of a lookup) through `imap::proto`.
//!
//! `cargo bench --bench imap`

use std::io::BufReader;

use chrono::DateTime;
use divan::Bencher;
use mailstage::imap::{self, proto};
use mailstage::mutf7;

fn main() {
    divan::main();
}

#[divan::bench]
fn quote_message_id(bencher: Bencher) {
    let id = b"<CAH+x=9Qk\\\"quoted\\\"-20100104091502.1234@mail.example.com>";
    bencher.bench(|| proto::quote(divan::black_box(id)));
}

/// 2,000 UIDs (one upload chunk): contiguous, and every third one missing.
fn uids(gaps: bool) -> Vec<u32> {
    (1000..)
        .filter(|u| !gaps || u % 3 != 0)
        .take(2000)
        .collect()
}

#[divan::bench(args = [false, true])]
fn format_uid_set(bencher: Bencher, gaps: bool) {
    let u = uids(gaps);
    bencher.bench(|| proto::format_uid_set(divan::black_box(&u)));
}

#[divan::bench(args = [false, true])]
fn parse_uid_set(bencher: Bencher, gaps: bool) {
    let s = proto::format_uid_set(&uids(gaps));
    bencher.bench(|| proto::uid_set(divan::black_box(&s), 100_000));
}

const NAMES: &[&str] = &[
    "Archive",
    "Reisen/Österreich",
    "日本語/受信トレイ",
    "Family & Friends",
];

#[divan::bench(args = NAMES)]
fn mutf7_encode(bencher: Bencher, name: &str) {
    bencher.bench(|| mutf7::encode(divan::black_box(name)));
}

#[divan::bench(args = NAMES)]
fn mutf7_decode(bencher: Bencher, name: &str) {
    let wire = mutf7::encode(name);
    bencher.bench(|| mutf7::decode(divan::black_box(wire.as_bytes())));
}

#[divan::bench]
fn wire_name(bencher: Bencher) {
    bencher.bench(|| {
        imap::wire_name(
            divan::black_box(&["Reisen", "Österreich", "2010"]),
            Some(b'.'),
        )
    });
}

#[divan::bench]
fn imap_date(bencher: Bencher) {
    let d = DateTime::parse_from_rfc3339("2010-01-04T09:15:02+01:00").unwrap_or_default();
    bencher.bench(|| imap::imap_date(divan::black_box(&d)));
}

/// A tagged APPEND completion with APPENDUID for a MULTIAPPEND of 16 messages.
#[divan::bench]
fn parse_appenduid(bencher: Bencher) {
    let raw =
        b"m123 OK [APPENDUID 1733100000 4001:4016] Append completed (0.002 + 0.000 secs).".to_vec();
    bencher.bench(|| proto::parse(divan::black_box(&raw)));
}

/// 500 FETCH responses of a bulk lookup (`UID FETCH floor:* (UID INTERNALDATE
/// RFC822.SIZE BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])`), each with a literal, read
/// from a buffer and tokenised.
#[divan::bench]
fn read_fetch_responses(bencher: Bencher) {
    let mut wire = Vec::new();
    for i in 0..500u32 {
        let hdr = format!("Message-ID: <20100104091502.{i}@example.com>\r\n\r\n");
        wire.extend_from_slice(
            format!(
                "* {} FETCH (UID {} INTERNALDATE \"04-Jan-2010 09:15:02 +0100\" RFC822.SIZE 6250 BODY[HEADER.FIELDS (MESSAGE-ID)] {{{}}}\r\n{hdr})\r\n",
                i + 1,
                i + 4001,
                hdr.len()
            )
            .as_bytes(),
        );
    }
    bencher
        .counter(divan::counter::BytesCount::of_slice(&wire))
        .bench(|| {
            let mut r = BufReader::new(divan::black_box(&wire[..]));
            let mut n = 0;
            while let Ok(raw) = proto::read_response(&mut r) {
                divan::black_box(proto::parse(&raw));
                n += 1;
            }
            n
        });
}
