//! Per-message hot paths of `convert` and `check`: validation of clean messages
//! (`mime::validate`) and the repair pipeline (`repair::repair`) on clean messages
//! (the fast path every generated message takes) and on a few representative broken
//! ones. Every message is built here in code, so the figures do not depend on files
//! outside the repository.
//!
//! `cargo bench --bench message`

use chrono::{TimeZone, Utc};
use divan::Bencher;
use divan::counter::BytesCount;
use mailstage::mime::validate;
use mailstage::repair::{self, Context, Outcome};

fn main() {
    divan::main();
}

/// Deterministic pseudo-random bytes (xorshift), for attachments.
fn noise(n: usize, mut seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        out.extend_from_slice(&seed.to_le_bytes());
    }
    out.truncate(n);
    out
}

/// Standard base64 with 76-character lines (RFC 2045 §6.8), LF endings.
fn base64_lines(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::new();
    for chunk in data.chunks(57) {
        for g in chunk.chunks(3) {
            let b = [g[0], *g.get(1).unwrap_or(&0), *g.get(2).unwrap_or(&0)];
            let v = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for k in 0..4 {
                if k <= g.len() {
                    s.push(A[(v >> (18 - 6 * k) & 63) as usize] as char);
                } else {
                    s.push('=');
                }
            }
        }
        s.push('\n');
    }
    s
}

const HEADER: &str = "Return-Path: <alice@example.com>\n\
Received: from mx.example.com (mx.example.com [192.0.2.1])\n\tby mail.example.org with ESMTP id 1234\n\tfor <bob@example.org>; Mon, 4 Jan 2010 09:15:02 +0100\n\
From: Alice Example <alice@example.com>\n\
To: Bob Example <bob@example.org>\n\
Subject: =?utf-8?q?Quartalsbericht_f=C3=BCr_M=C3=A4rz?=\n\
Date: Mon, 4 Jan 2010 09:15:02 +0100\n\
Message-ID: <20100104091502.1234@example.com>\n";

fn text_body(lines: usize) -> String {
    (0..lines)
        .map(|i| format!("Line {i} of a plain text message, wrapped at a sensible width.\n"))
        .collect()
}

/// The clean shapes the generated mailboxes have, in Maildir (LF) form: a 6 KB
/// text/plain (the median), a multipart/alternative with quoted-printable text and
/// HTML, and a multipart/mixed with a 200 KB base64 attachment.
fn clean_messages() -> Vec<(&'static str, Vec<u8>)> {
    let plain = format!(
        "{HEADER}MIME-Version: 1.0\nContent-Type: text/plain; charset=us-ascii\n\
         Content-Transfer-Encoding: 7bit\n\n{}",
        text_body(90)
    );
    let qp: String = (0..60)
        .map(|i| format!("Gr=C3=BC=C3=9Fe, Zeile {i} mit Umlauten =C3=A4=C3=B6=C3=BC und mehr Text=\n bis zum Ende.\n"))
        .collect();
    let alternative = format!(
        "{HEADER}MIME-Version: 1.0\nContent-Type: multipart/alternative; boundary=\"b1\"\n\n\
         --b1\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n{qp}\n\
         --b1\nContent-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n<html><body><p>{qp}</p></body></html>\n\
         --b1--\n"
    );
    let mixed = format!(
        "{HEADER}MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"=_mixed\"\n\n\
         --=_mixed\nContent-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: 8bit\n\n{}\n\
         --=_mixed\nContent-Type: application/pdf; name=\"report.pdf\"\n\
         Content-Disposition: attachment; filename*=utf-8''Bericht%20M%C3%A4rz.pdf\n\
         Content-Transfer-Encoding: base64\n\n{}\n--=_mixed--\n",
        text_body(20),
        base64_lines(&noise(200 * 1024, 42))
    );
    vec![
        ("plain-6k", plain.into_bytes()),
        ("alternative-qp", alternative.into_bytes()),
        ("mixed-base64-200k", mixed.into_bytes()),
    ]
}

/// Broken messages, one per family of repairs (see docs/REPAIRS.md).
fn broken_messages() -> Vec<(&'static str, Vec<u8>)> {
    // no Message-ID, no Date, raw 8-bit header text
    let mut bare = b"From: J\xf6rg M\xfcller <j@example.com>\nTo: b@example.org\nSubject: Gr\xfc\xdfe aus K\xf6ln\n\n".to_vec();
    bare.extend_from_slice(text_body(60).as_bytes());
    // base64 with a broken alphabet and lines over 76 characters
    let mut b64 = base64_lines(&noise(30 * 1024, 7)).replace('\n', "");
    b64.insert_str(4000, "!!*");
    let mut broken_b64 = format!(
        "{HEADER}MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"x\"\n\n--x\n\
         Content-Type: text/plain\n\nsee attachment\n--x\nContent-Type: application/octet-stream\n\
         Content-Transfer-Encoding: base64\n\n"
    );
    for chunk in b64.as_bytes().chunks(1200) {
        broken_b64.push_str(std::str::from_utf8(chunk).unwrap_or(""));
        broken_b64.push('\n');
    }
    broken_b64.push_str("--x--\n");
    // text lines over 998 octets
    let long = format!(
        "{HEADER}MIME-Version: 1.0\nContent-Type: text/plain; charset=us-ascii\n\n{}\n{}\n",
        "word ".repeat(400),
        "x".repeat(3000)
    );
    // multipart without a declared boundary and without its closing delimiter
    let lost_boundary = format!(
        "{HEADER}MIME-Version: 1.0\nContent-Type: multipart/mixed\n\n--lost\n\
         Content-Type: text/plain\n\n{}\n--lost\nContent-Type: text/html\n\n<p>hi</p>\n",
        text_body(30)
    );
    // latin-1 text declared utf-8, 8-bit declared 7bit
    let mut relabel = format!(
        "{HEADER}MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\
         Content-Transfer-Encoding: 7bit\n\n"
    )
    .into_bytes();
    for i in 0..60 {
        relabel.extend_from_slice(format!("Zeile {i}: Gr").as_bytes());
        relabel.extend_from_slice(b"\xfc\xdfe, sch\xf6ne Gr\xfc\xdfe\n");
    }
    vec![
        ("no-id-date-8bit-header", bare),
        ("broken-base64", broken_b64.into_bytes()),
        ("long-lines", long.into_bytes()),
        ("lost-boundary", lost_boundary.into_bytes()),
        ("charset-mislabelled", relabel),
    ]
}

fn crlf(msg: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(msg.len() + msg.len() / 20);
    for &c in msg {
        if c == b'\n' {
            out.push(b'\r');
        }
        out.push(c);
    }
    out
}

fn ctx() -> Context {
    Context {
        internal_date: Utc
            .with_ymd_and_hms(2010, 1, 4, 8, 15, 2)
            .single()
            .unwrap_or_default(),
        max_size: None,
        source_sha256: [7; 32],
        disarm_read_receipts: false,
    }
}

fn pick(list: Vec<(&'static str, Vec<u8>)>, name: &str) -> Vec<u8> {
    list.into_iter()
        .find(|(n, _)| *n == name)
        .map(|(_, m)| m)
        .expect("a message of that name")
}

const CLEAN: &[&str] = &["plain-6k", "alternative-qp", "mixed-base64-200k"];
const BROKEN: &[&str] = &[
    "no-id-date-8bit-header",
    "broken-base64",
    "long-lines",
    "lost-boundary",
    "charset-mislabelled",
];

/// `validate` on the staged (CRLF) form of a clean message: `mailstage check` on a
/// staged file, and the validator's share of every convert.
#[divan::bench(args = CLEAN)]
fn validate_clean(bencher: Bencher, name: &str) {
    let msg = crlf(&pick(clean_messages(), name));
    assert!(validate::validate(&msg).is_empty(), "{name} is clean");
    bencher
        .counter(BytesCount::of_slice(&msg))
        .bench(|| validate::validate(divan::black_box(&msg)));
}

/// `repair` on a clean message as it is in a Maildir (LF): CRLF normalisation, MIME
/// scan, validation, no rewrite.
#[divan::bench(args = CLEAN)]
fn repair_clean(bencher: Bencher, name: &str) {
    let msg = pick(clean_messages(), name);
    let c = ctx();
    assert!(
        matches!(repair::repair(&msg, &c), Outcome::Staged(ref s) if s.repairs.is_empty()),
        "{name} needs no repair"
    );
    bencher
        .counter(BytesCount::of_slice(&msg))
        .bench(|| repair::repair(divan::black_box(&msg), &c));
}

/// `repair` on broken messages: the rewriter and the second validation.
#[divan::bench(args = BROKEN)]
fn repair_broken(bencher: Bencher, name: &str) {
    let msg = pick(broken_messages(), name);
    let c = ctx();
    assert!(
        matches!(repair::repair(&msg, &c), Outcome::Staged(ref s) if !s.repairs.is_empty()),
        "{name} is staged with repairs"
    );
    bencher
        .counter(BytesCount::of_slice(&msg))
        .bench(|| repair::repair(divan::black_box(&msg), &c));
}
