//! One handmade message per family of repairs: the named repair is applied, the
//! output passes the validator, and what must be kept is kept.

use chrono::DateTime;
use mailstage::mime::{encoding, validate};
use mailstage::repair::{Context, Outcome, QuarantineReason, Repair, repair};

fn ctx() -> Context {
    Context {
        internal_date: DateTime::from_timestamp(1_236_982_500, 0).unwrap(),
        max_size: None,
        source_sha256: [0x5a; 32],
        disarm_read_receipts: false,
    }
}

const HEAD: &str = "From: a@example.org\r\nTo: b@example.org\r\nDate: Fri, 13 Mar 2009 22:15:00 +0000\r\nMessage-ID: <t@example.org>\r\nMIME-Version: 1.0\r\n";

/// Repair `m`, assert it is staged with `expect` among its repairs and a valid
/// output; return the output as a string.
fn staged(m: &[u8], expect: &[Repair]) -> Vec<u8> {
    match repair(m, &ctx()) {
        Outcome::Staged(s) => {
            for r in expect {
                assert!(s.repairs.contains(r), "{r:?} not in {:?}", s.repairs);
            }
            let out = s.bytes(m).to_vec();
            assert!(
                validate::validate(&out).is_empty(),
                "{:?}",
                validate::validate(&out)
            );
            out
        }
        Outcome::Quarantined(r) => panic!("quarantined: {r}"),
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn eight_bit_subject_and_display_name_become_encoded_words() {
    let mut m = b"From: J\xfcrgen M\xfcller <j@example.org>\r\nSubject: Gr\xfc\xdfe\r\nDate: Fri, 13 Mar 2009 22:15:00 +0000\r\nMessage-ID: <t@x>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\r\nK\xe4se\r\n".to_vec();
    let out = staged(&m, &[Repair::Header8bit]);
    let head = out
        .split(|&b| b == b'\n')
        .take(5)
        .flatten()
        .copied()
        .collect::<Vec<u8>>();
    assert!(head.is_ascii());
    let parsed = mailparse::parse_mail(&out).unwrap();
    assert_eq!(
        parsed
            .headers
            .iter()
            .find(|h| h.get_key() == "Subject")
            .unwrap()
            .get_value(),
        "Grüße"
    );
    // The body (8bit, correctly labelled) is untouched.
    assert!(out.ends_with(b"\r\n\r\nK\xe4se\r\n"));
    m.clear();
}

#[test]
fn nul_bytes_text_loses_them_binary_is_base64() {
    let m = format!(
        "{HEAD}Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhel\0lo\r\n--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n\0\u{1}\u{2}bin\nary\r\n--b--\r\n"
    );
    let out = staged(m.as_bytes(), &[Repair::BodyNul, Repair::BinaryBase64]);
    assert!(!out.contains(&0));
    let p = mailparse::parse_mail(&out).unwrap();
    assert_eq!(p.subparts[0].get_body_raw().unwrap(), b"hello");
    // Binary content keeps its exact bytes, including the bare LF (no CRLF).
    assert_eq!(p.subparts[1].get_body_raw().unwrap(), b"\0\x01\x02bin\nary");
}

#[test]
fn binary_part_keeps_bare_lf_from_a_maildir_file() {
    // Maildir files have LF endings; the binary part's LF bytes are content.
    let m = b"From: a@b\nDate: Fri, 13 Mar 2009 22:15:00 +0000\nMessage-ID: <x@y>\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=q\n\n--q\nContent-Type: image/x-raw\nContent-Transfer-Encoding: 8bit\n\n\0a\nb\r\nc\n--q--\n";
    let out = staged(m, &[Repair::BinaryBase64]);
    let p = mailparse::parse_mail(&out).unwrap();
    assert_eq!(p.subparts[0].get_body_raw().unwrap(), b"\0a\nb\r\nc");
}

#[test]
fn long_lines_text_quoted_printable_header_refolded() {
    let long_text = "word ".repeat(300);
    let long_header = "x".repeat(5) + &" yy".repeat(400);
    let m = format!(
        "{HEAD}X-Long: {long_header}\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n{long_text}\r\n"
    );
    let out = staged(m.as_bytes(), &[Repair::LongLinesQp, Repair::HeaderRefolded]);
    let p = mailparse::parse_mail(&out).unwrap();
    assert_eq!(p.get_body().unwrap(), format!("{long_text}\r\n"));
    assert_eq!(
        p.headers
            .iter()
            .find(|h| h.get_key() == "X-Long")
            .unwrap()
            .get_value(),
        long_header
    );
}

#[test]
fn undeclared_and_wrong_charsets_are_labelled() {
    // UTF-8 text declared us-ascii: relabelled, bytes kept.
    let m = format!(
        "{HEAD}Content-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: 8bit\r\n\r\nGrüße\r\n"
    );
    let out = staged(m.as_bytes(), &[Repair::CharsetRelabeled]);
    assert!(text(&out).contains("charset=UTF-8"), "{}", text(&out));
    assert!(out.ends_with("Grüße\r\n".as_bytes()));
    // No charset at all, windows-1252 bytes (curly quotes): detected.
    let mut m =
        format!("{HEAD}Content-Type: text/plain\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
            .into_bytes();
    m.extend_from_slice(b"\x93quoted\x94 and \x80 euro, caf\xe9 na\xefve r\xe9sum\xe9\r\n");
    let out = staged(&m, &[Repair::CharsetAdded]);
    let p = mailparse::parse_mail(&out).unwrap();
    assert!(
        p.get_body().unwrap().contains("“quoted”"),
        "{}",
        p.get_body().unwrap()
    );
    // iso-8859-1 label on windows-1252 bytes: relabelled (WHATWG rule).
    let mut m = format!("{HEAD}Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\n").into_bytes();
    m.extend_from_slice(b"\x93hi\x94\r\n");
    let out = staged(&m, &[Repair::CharsetRelabeled]);
    assert!(
        text(&out)
            .to_ascii_lowercase()
            .contains("charset=windows-1252")
    );
}

#[test]
fn charset_aliases_and_transcoding() {
    let m = format!(
        "{HEAD}Content-Type: text/plain; charset=utf8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nGrüße\r\n"
    );
    let out = staged(m.as_bytes(), &[Repair::CharsetAlias]);
    assert!(text(&out).contains("charset=UTF-8"));
    // UTF-7 is not safe for Exchange: transcoded to UTF-8.
    let m = format!(
        "{HEAD}Content-Type: text/plain; charset=unicode-1-1-utf-7\r\n\r\nHi Mom -+Jjo--!\r\n"
    );
    let out = staged(m.as_bytes(), &[Repair::CharsetTranscoded]);
    let p = mailparse::parse_mail(&out).unwrap();
    assert_eq!(p.get_body().unwrap(), "Hi Mom -☺-!\r\n");
    // ks_c_5601-1987 is Microsoft's UHC: transcoded rather than relabelled EUC-KR.
    let (kor, _, _) = encoding_rs::EUC_KR.encode("안녕하세요 똠방각하");
    let mut m = format!("{HEAD}Content-Type: text/plain; charset=ks_c_5601-1987\r\nContent-Transfer-Encoding: 8bit\r\n\r\n").into_bytes();
    m.extend_from_slice(&kor);
    let out = staged(&m, &[Repair::CharsetTranscoded]);
    let p = mailparse::parse_mail(&out).unwrap();
    assert_eq!(p.get_body().unwrap(), "안녕하세요 똠방각하");
}

#[test]
fn broken_base64_and_qp_are_reencoded_with_the_same_decoded_bytes() {
    let payload: Vec<u8> = (0u8..=255).cycle().take(700).collect();
    let clean = encoding::encode_base64(&payload);
    // Invalid characters, no padding, a 200-character line.
    let mut broken: Vec<u8> = clean
        .iter()
        .copied()
        .filter(|&b| b != b'\r' && b != b'\n' && b != b'=')
        .collect();
    broken.insert(10, b'*');
    broken.insert(300, b'!');
    let body = [&broken[..200], b"\r\n", &broken[200..]].concat();
    let mut m = format!(
        "{HEAD}Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    )
    .into_bytes();
    m.extend_from_slice(&body);
    let out = staged(&m, &[Repair::Base64Reencoded]);
    let (lenient, _) = encoding::decode_base64_lenient(&body);
    let p = mailparse::parse_mail(&out).unwrap();
    assert_eq!(p.get_body_raw().unwrap(), lenient);

    let m = format!(
        "{HEAD}Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nK=E4se =ZZ and=\r\n soft =e4\r\n"
    );
    let out = staged(m.as_bytes(), &[Repair::QpReencoded]);
    let p = mailparse::parse_mail(&out).unwrap();
    assert_eq!(p.get_body().unwrap(), "Käse =ZZ and soft ä\r\n");
}

#[test]
fn multipart_structure_repairs() {
    // Missing close delimiter.
    let m = format!(
        "{HEAD}Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\none\r\n--b\r\nContent-Type: text/plain\r\n\r\ntwo\r\n"
    );
    let out = staged(m.as_bytes(), &[Repair::CloseDelimiterAdded]);
    assert_eq!(mailparse::parse_mail(&out).unwrap().subparts.len(), 2);
    // No boundary parameter, but delimiter lines in the body.
    let m = format!(
        "{HEAD}Content-Type: multipart/mixed\r\n\r\n--XyZ123\r\nContent-Type: text/plain\r\n\r\none\r\n--XyZ123--\r\n"
    );
    let out = staged(m.as_bytes(), &[Repair::BoundaryRecovered]);
    assert_eq!(mailparse::parse_mail(&out).unwrap().subparts.len(), 1);
    // A boundary that never occurs: shown as text, every byte kept.
    let m = format!("{HEAD}Content-Type: multipart/mixed; boundary=nope\r\n\r\njust text\r\n");
    let out = staged(m.as_bytes(), &[Repair::MultipartAsText]);
    assert!(out.ends_with(b"\r\n\r\njust text\r\n"));
    // Missing blank line between header and body.
    let m = format!("{HEAD}Subject: s\r\nthis is the body\r\n");
    let out = staged(m.as_bytes(), &[Repair::HeaderSeparator]);
    assert!(out.ends_with(b"Subject: s\r\n\r\nthis is the body\r\n"));
    // Duplicate Content-Type: the first decides, the second is kept under a fixed name.
    let m = format!("{HEAD}Content-Type: text/plain\r\nContent-Type: text/html\r\n\r\nx\r\n");
    let out = staged(m.as_bytes(), &[Repair::DuplicateContentType]);
    assert!(text(&out).contains("X-Original-Content-Type: text/html\r\n"));
    // Missing MIME-Version.
    let m = "From: a@b\r\nDate: Fri, 13 Mar 2009 22:15:00 +0000\r\nMessage-ID: <a@b>\r\nContent-Type: text/plain\r\n\r\nx\r\n";
    let out = staged(m.as_bytes(), &[Repair::AddedMimeVersion]);
    assert!(text(&out).contains("MIME-Version: 1.0\r\n"));
}

#[test]
fn embedded_messages_are_repaired_inside() {
    let m = format!(
        "{HEAD}Content-Type: multipart/mixed; boundary=o\r\n\r\n--o\r\nContent-Type: message/rfc822\r\n\r\nFrom: x@y\r\nSubject: Gr\u{fc}\u{df}e\r\n\r\ninner\r\n--o--\r\n"
    );
    let mut bytes = m.into_bytes();
    // Make the inner subject raw Latin-1.
    let pos = bytes.windows(2).position(|w| w == "ü".as_bytes()).unwrap();
    bytes.splice(pos..pos + 4, [0xfc, 0xdf]);
    let out = staged(&bytes, &[Repair::Header8bit]);
    assert!(out.is_ascii());
}

#[test]
fn signed_parts_are_never_altered() {
    // A clean signed message is staged as is (line endings aside).
    let signed = "Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; micalg=sha-256; boundary=s\r\n\r\n--s\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nsigned text\r\n--s\r\nContent-Type: application/pkcs7-signature\r\nContent-Transfer-Encoding: base64\r\n\r\nAAAA\r\n--s--\r\n";
    let m = format!("{HEAD}{signed}");
    match repair(m.as_bytes(), &ctx()) {
        Outcome::Staged(s) => assert!(s.bytes.is_none() && s.repairs.is_empty()),
        Outcome::Quarantined(r) => panic!("{r}"),
    }
    // 8-bit in the outer header (not signed) is repaired; the signed part is not.
    let m = format!(
        "From: a@b\r\nSubject: Gr\u{fc}\u{df}e\r\nDate: Fri, 13 Mar 2009 22:15:00 +0000\r\nMessage-ID: <a@b>\r\nMIME-Version: 1.0\r\n{signed}"
    );
    let out = staged(m.as_bytes(), &[Repair::Header8bit]);
    assert!(text(&out).contains(
        "--s\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nsigned text\r\n--s\r\n"
    ));
    // NUL bytes inside the signed part: quarantined, never changed.
    let m = format!("{HEAD}{}", signed.replace("signed text", "signed\0text"));
    match repair(m.as_bytes(), &ctx()) {
        Outcome::Quarantined(QuarantineReason::Signed { .. }) => {}
        other => panic!("{other:?}"),
    }
    // Inline PGP text is not transcoded.
    let m = format!(
        "{HEAD}Content-Type: text/plain\r\nContent-Transfer-Encoding: 8bit\r\n\r\n-----BEGIN PGP SIGNED MESSAGE-----\r\nGr\u{fc}\u{df}e\r\n"
    );
    match repair(m.as_bytes(), &ctx()) {
        Outcome::Staged(s) => assert!(
            !s.repairs.iter().any(|r| r.name().starts_with("charset")),
            "{:?}",
            s.repairs
        ),
        Outcome::Quarantined(r) => panic!("{r}"),
    }
}

#[test]
fn exchange_limits_quarantine_with_the_limit_named() {
    let subject = "s".repeat(300);
    let m = format!("{HEAD}Subject: {subject}\r\n\r\nx\r\n");
    match repair(m.as_bytes(), &ctx()) {
        Outcome::Quarantined(QuarantineReason::Limit { detail }) => {
            assert!(detail.contains("Subject"), "{detail}")
        }
        other => panic!("{other:?}"),
    }
    let mut parts = String::new();
    for _ in 0..260 {
        parts.push_str("--p\r\nContent-Type: text/plain\r\n\r\nx\r\n");
    }
    let m = format!("{HEAD}Content-Type: multipart/mixed; boundary=p\r\n\r\n{parts}--p--\r\n");
    match repair(m.as_bytes(), &ctx()) {
        Outcome::Quarantined(QuarantineReason::Limit { detail }) => {
            assert!(detail.contains("250"), "{detail}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn rfc2231_filename_split_across_an_encoded_character() {
    let m = format!(
        "{HEAD}Content-Type: application/pdf\r\nContent-Disposition: attachment; filename*0*=UTF-8''R%C3; filename*1*=%A9sum%C3%A9.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nAAAA\r\n"
    );
    // Already 7-bit and valid: untouched, and the name decodes across the split.
    match repair(m.as_bytes(), &ctx()) {
        Outcome::Staged(s) => assert!(s.bytes.is_none()),
        Outcome::Quarantined(r) => panic!("{r}"),
    }
    let (_, params) = mailstage::mime::words::split_content_type(
        b"attachment; filename*0*=UTF-8''R%C3; filename*1*=%A9sum%C3%A9.pdf",
    );
    assert_eq!(params[0].text().as_deref(), Some("Résumé.pdf"));
}

#[test]
fn read_receipt_requests_are_disarmed_only_on_request_and_only_at_the_top() {
    let m = format!(
        "{HEAD}Subject: minutes\r\nDisposition-Notification-To: Carol <carol@example.org>\r\n\
Return-Receipt-To: carol@example.org\r\nContent-Type: message/rfc822\r\n\r\n\
From: x@example.org\r\nDisposition-Notification-To: x@example.org\r\n\r\ninner\r\n"
    );
    // Off (the default): the clean message stays byte-identical.
    match repair(m.as_bytes(), &ctx()) {
        Outcome::Staged(s) => assert!(s.bytes.is_none() && s.repairs.is_empty()),
        Outcome::Quarantined(r) => panic!("{r}"),
    }
    let on = Context {
        disarm_read_receipts: true,
        ..ctx()
    };
    let Outcome::Staged(s) = repair(m.as_bytes(), &on) else {
        panic!("quarantined")
    };
    assert_eq!(s.repairs, vec![Repair::ReadReceiptDisarmed]);
    let out = text(s.bytes(m.as_bytes()));
    // Only the two names change (the values stay, for the record); the embedded
    // message's own request is part of that message and is left alone.
    let want = m
        .replacen(
            "\r\nDisposition-Notification-To: Carol",
            "\r\nX-Disarmed-Disposition-Notification-To: Carol",
            1,
        )
        .replacen(
            "\r\nReturn-Receipt-To:",
            "\r\nX-Disarmed-Return-Receipt-To:",
            1,
        );
    assert_eq!(out, want);
    assert!(validate::validate(out.as_bytes()).is_empty());
    // Idempotent: a disarmed message needs nothing more.
    let Outcome::Staged(again) = repair(out.as_bytes(), &on) else {
        panic!("quarantined")
    };
    assert!(again.bytes.is_none() && again.repairs.is_empty());

    // A first line the prefix would push past 998 octets is folded after the colon.
    let long = format!(
        "{HEAD}Disposition-Notification-To: {}@example.org\r\n\r\nbody\r\n",
        "a".repeat(998 - "Disposition-Notification-To: @example.org".len())
    );
    let Outcome::Staged(s) = repair(long.as_bytes(), &on) else {
        panic!("quarantined")
    };
    let out = text(s.bytes(long.as_bytes()));
    assert!(
        out.contains("\r\nX-Disarmed-Disposition-Notification-To:\r\n aaa"),
        "{out}"
    );
    assert!(validate::validate(out.as_bytes()).is_empty());
}
