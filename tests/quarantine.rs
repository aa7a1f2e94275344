//! `mailstage quarantine list|show|release`: the list matches the manifests, show
//! explains what is wrong where, and a release stages the message (original kept),
//! survives a re-convert byte for byte, and is sent by the next upload exactly once.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use common::imap::{TestServer, command};
use common::{fixtures, mailstage, manifest, staged_sha256};

/// Converts the fixture user `alice` with a size limit that quarantines three of
/// her messages as too large (besides an empty file and a binary one), as `name`.
fn convert_alice(staging: &Path, name: &str) -> i32 {
    let out = mailstage()
        .arg("convert")
        .arg(fixtures().join("maildir/alice"))
        .arg("--out")
        .arg(staging)
        .args(["--user", name, "--max-size", "600", "-q"])
        .output()
        .unwrap();
    out.status.code().unwrap()
}

fn run(args: &[&std::ffi::OsStr]) -> (i32, String, String) {
    let out = mailstage().args(args).output().unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

macro_rules! args {
    ($($a:expr),* $(,)?) => { &[$(std::ffi::OsStr::new($a)),*] };
}

/// The quarantined entries of a manifest, by the ID the commands use (the first 16
/// hex digits of the source SHA-256), computed here independently.
fn quarantined(user_dir: &Path) -> BTreeMap<String, Value> {
    manifest(user_dir)
        .into_iter()
        .filter(|e| e["status"] == "quarantined")
        .map(|e| (e["sha256"].as_str().unwrap()[..16].to_owned(), e))
        .collect()
}

/// Every file of a user's tree (but the lock), for byte comparisons.
fn tree(user_dir: &Path) -> BTreeMap<Vec<u8>, Vec<u8>> {
    common::contents(user_dir)
        .into_iter()
        .filter(|(k, _)| k.as_slice() != b".lock")
        .collect()
}

fn id_with_reason(user_dir: &Path, kind: &str, subject_part: &str) -> String {
    quarantined(user_dir)
        .into_iter()
        .find(|(_, e)| {
            e["reason_kind"] == kind
                && std::fs::read_to_string(user_dir.join(e["path"].as_str().unwrap()))
                    .map(|t| t.contains(subject_part))
                    .unwrap_or(false)
        })
        .map(|(id, _)| id)
        .unwrap_or_else(|| panic!("no {kind} message with {subject_part:?}"))
}

#[test]
fn list_matches_the_manifests_and_filters() {
    let t = tempfile::tempdir().unwrap();
    let staging = t.path().join("staging");
    assert_eq!(convert_alice(&staging, "alice"), 1);
    assert_eq!(convert_alice(&staging, "bob"), 1);
    let alice = staging.join("alice");
    let want = quarantined(&alice);
    assert_eq!(want.len(), 5, "fixture: 3 too large, 1 empty, 1 binary");

    let (code, out, err) = run(args!["quarantine", "list", &staging, "--json"]);
    assert_eq!(code, 0, "{err}");
    let items: Vec<Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(items.len(), 10);
    for user in ["alice", "bob"] {
        let mine: BTreeMap<String, &Value> = items
            .iter()
            .filter(|i| i["user"] == user)
            .map(|i| (i["id"].as_str().unwrap().to_owned(), i))
            .collect();
        assert_eq!(
            mine.keys().collect::<Vec<_>>(),
            want.keys().collect::<Vec<_>>()
        );
        for (id, e) in &want {
            let i = mine[id];
            assert_eq!(i["folder"], e["folder"]);
            assert_eq!(i["reason"], e["reason"]);
            assert_eq!(i["reason_kind"], e["reason_kind"]);
            assert_eq!(i["size"], e["source_size"]);
            assert_eq!(i["internal_date"], e["internal_date"]);
        }
    }
    let subjects: Vec<&str> = items
        .iter()
        .filter(|i| i["user"] == "alice")
        .filter_map(|i| i["subject"].as_str())
        .collect();
    assert!(subjects.contains(&"Budget meeting minutes"), "{subjects:?}");
    assert!(
        subjects.contains(&"Re: Budget meeting minutes"),
        "{subjects:?}"
    );

    // Filters: user, reason kind, folder (and its subfolders only).
    let (_, out, _) = run(args![
        "quarantine",
        "list",
        &staging,
        "--json",
        "--user",
        "bob",
        "--reason",
        "too-large"
    ]);
    let items: Vec<Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(items.len(), 3);
    assert!(
        items
            .iter()
            .all(|i| i["user"] == "bob" && i["reason_kind"] == "too-large")
    );
    let (_, out, _) = run(args![
        "quarantine",
        "list",
        &alice,
        "--json",
        "--folder",
        "Sent Items"
    ]);
    let items: Vec<Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["subject"], "Re: Budget meeting minutes");
    let (_, out, _) = run(args![
        "quarantine",
        "list",
        &alice,
        "--json",
        "--folder",
        "Sent"
    ]);
    assert_eq!(serde_json::from_str::<Vec<Value>>(&out).unwrap().len(), 0);

    // The text form: a header, one line per message with its ID and reason, a total.
    let (code, out, _) = run(args!["quarantine", "list", &alice]);
    assert_eq!(code, 0);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("ID "), "{out}");
    for (id, e) in &want {
        let line = lines.iter().find(|l| l.starts_with(id.as_str())).unwrap();
        assert!(line.contains(e["reason"].as_str().unwrap()), "{line}");
    }
    assert!(out.contains("5 quarantined for 1 user(s)"), "{out}");

    // Not a staging tree: a clear error and exit 2.
    let (code, _, err) = run(args!["quarantine", "list", &t.path().join("nothing")]);
    assert_eq!(code, 2);
    assert!(err.contains("error"), "{err}");
}

/// A Maildir with one message whose signed part holds a NUL byte (it cannot be
/// repaired without breaking the signature), one with a body line over 998
/// octets (repairable), and one clean one.
fn signed_maildir(root: &Path) {
    for d in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    let long = "x".repeat(1200);
    let signed = "From: a@example.org\nTo: b@example.org\nSubject: Signed report\n\
Date: Mon, 1 Jun 2020 10:00:00 +0000\nMessage-ID: <signed@example.org>\nMIME-Version: 1.0\n\
Content-Type: multipart/signed; protocol=\"application/pgp-signature\"; micalg=pgp-sha256; boundary=\"sig\"\n\n\
--sig\nContent-Type: text/plain; charset=us-ascii\n\nnumbers\0here\n--sig\n\
Content-Type: application/pgp-signature\n\n-----BEGIN PGP SIGNATURE-----\nabc\n-----END PGP SIGNATURE-----\n--sig--\n";
    let long_msg = format!(
        "From: a@example.org\nSubject: Long line\nDate: Mon, 1 Jun 2020 10:00:00 +0000\n\
Message-ID: <long@example.org>\n\n{long}\n"
    );
    std::fs::write(root.join("cur/1591005600.M1P1.h:2,S"), signed).unwrap();
    std::fs::write(root.join("cur/1591005601.M2P1.h:2,S"), long_msg).unwrap();
    std::fs::write(
        root.join("cur/1591005602.M3P1.h:2,"),
        "From: a@example.org\nSubject: ok\nDate: Mon, 1 Jun 2020 10:00:00 +0000\nMessage-ID: <ok@example.org>\n\nhi\n",
    )
    .unwrap();
}

#[test]
fn show_explains_what_is_wrong_where() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("carol");
    signed_maildir(&src);
    let staging = t.path().join("staging");
    let (code, _, err) = run(args!["convert", &src, "--out", &staging, "-q"]);
    assert_eq!(code, 1, "{err}");
    let user = staging.join("carol");
    let q = quarantined(&user);
    assert_eq!(q.len(), 1, "only the signed message is quarantined");
    let (id, e) = q.iter().next().unwrap();
    assert_eq!(e["reason_kind"], "signed");

    let (code, out, err) = run(args!["quarantine", "show", &user, &id[..8]]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&format!("ID:            {id}")), "{out}");
    assert!(out.contains(e["reason"].as_str().unwrap()), "{out}");
    assert!(out.contains("Subject: Signed report"), "{out}");
    // The tree names each part, and the NUL is reported on part 1, not elsewhere.
    let tree: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.starts_with("MIME structure"))
        .skip(1)
        .take_while(|l| !l.is_empty())
        .collect();
    assert!(
        tree[0].trim_start().starts_with("message multipart/signed"),
        "{tree:?}"
    );
    let p1 = tree
        .iter()
        .position(|l| l.trim_start().starts_with("1 text/plain"))
        .unwrap();
    assert!(
        tree[p1 + 1].contains("! ") && tree[p1 + 1].contains("NUL"),
        "{tree:?}"
    );
    assert!(
        tree.iter()
            .any(|l| l.trim_start().starts_with("2 application/pgp-signature"))
    );
    assert!(
        out.contains("mailstage check (no size limit): quarantine"),
        "{out}"
    );

    let (code, out, _) = run(args!["quarantine", "show", &user, id, "--json"]);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["entry"]["sha256"], e["sha256"]);
    assert_eq!(v["check"]["verdict"], "quarantine");
    let nodes = v["mime"].as_array().unwrap();
    assert_eq!(nodes.len(), 3);
    assert!(
        nodes[1]["problems"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p.as_str().unwrap().contains("NUL"))
    );

    // Unknown and too short IDs are clear errors.
    let (code, _, err) = run(args!["quarantine", "show", &user, "ffffffffffff"]);
    assert_eq!(code, 2);
    assert!(err.contains("no quarantined message ffffffffffff"), "{err}");
    let (code, _, _) = run(args!["quarantine", "show", &user, "ab"]);
    assert_eq!(code, 2);
}

#[test]
fn release_stages_keeps_the_original_and_survives_reconvert() {
    let t = tempfile::tempdir().unwrap();
    let staging = t.path().join("staging");
    assert_eq!(convert_alice(&staging, "alice"), 1);
    let user = staging.join("alice");
    let before = quarantined(&user);
    let originals: BTreeMap<String, Vec<u8>> = before
        .iter()
        .map(|(id, e)| {
            (
                id.clone(),
                std::fs::read(user.join(e["path"].as_str().unwrap())).unwrap(),
            )
        })
        .collect();

    // 1. A message the engine can stage once the size limit is lifted.
    let big = id_with_reason(&user, "too-large", "Subject: Budget meeting minutes");
    let (code, out, err) = run(args!["quarantine", "release", &user, &big]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("staged as mail/Inbox/"), "{out}");

    // 2. A binary file: the engine refuses it, and nothing changes.
    let binary = before
        .iter()
        .find(|(_, e)| e["reason_kind"] == "not-a-message")
        .map(|(id, _)| id.clone())
        .unwrap();
    let snapshot = tree(&user);
    let (code, _, err) = run(args!["quarantine", "release", &user, &binary]);
    assert_eq!(code, 1);
    assert!(
        err.contains("still cannot be staged") && err.contains("--file"),
        "{err}"
    );
    assert_eq!(tree(&user), snapshot, "a refused release changes nothing");

    // ... the admin writes a fixed copy (bare LF, no Date: the engine adds one).
    let fixed = t.path().join("fixed.eml");
    std::fs::write(
        &fixed,
        "From: alice@example.org\nSubject: Recovered note\nMessage-ID: <recovered@example.org>\n\nthe text\n",
    )
    .unwrap();
    let (code, out, err) = run(args![
        "quarantine",
        "release",
        &user,
        &binary,
        "--file",
        &fixed,
        "--json"
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let r: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r["entry"]["repairs"], serde_json::json!(["added-date"]));
    assert_eq!(r["entry"]["released"]["input"], "file");

    // 3. Accepted as it is: the other too-large message, without repairs.
    let sent = id_with_reason(&user, "too-large", "Subject: Re: Budget meeting minutes");
    let (code, out, err) = run(args![
        "quarantine",
        "release",
        &user,
        &sent,
        "--force-as-is"
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("as it is"), "{out}");

    // Releasing twice is refused.
    let (code, _, err) = run(args!["quarantine", "release", &user, &big]);
    assert_eq!(code, 1);
    assert!(err.contains("already released"), "{err}");

    // The manifest: three entries moved from quarantined to staged with their
    // history, everything else unchanged; every source message still once.
    let entries = manifest(&user);
    assert_eq!(entries.len(), 24);
    let by_id: BTreeMap<String, &Value> = entries
        .iter()
        .filter(|e| !e["sha256"].as_str().unwrap().is_empty())
        .map(|e| (e["sha256"].as_str().unwrap()[..16].to_owned(), e))
        .collect();
    for id in [&big, &binary, &sent] {
        let e = by_id[id.as_str()];
        let old = &before[id.as_str()];
        assert_eq!(e["status"], "staged");
        assert_eq!(e["released"]["reason"], old["reason"]);
        assert_eq!(e["released"]["reason_kind"], old["reason_kind"]);
        assert_eq!(e["released"]["original"], old["path"]);
        assert!(e.get("reason").is_none());
        assert_eq!(e["flags"], old["flags"]);
        assert_eq!(e["internal_date"], old["internal_date"]);
        let staged = std::fs::read(user.join(e["path"].as_str().unwrap())).unwrap();
        // convert writes no hash of the staged bytes, and neither does a release.
        assert!(e.get("staged_sha256").is_none());
        assert_eq!(staged.len() as u64, e["size"].as_u64().unwrap());
        // The original stays in quarantine/, byte-identical.
        let kept = std::fs::read(user.join(old["path"].as_str().unwrap())).unwrap();
        assert_eq!(kept, originals[id.as_str()]);
    }
    let as_is = std::fs::read(user.join(by_id[sent.as_str()]["path"].as_str().unwrap())).unwrap();
    assert_eq!(
        as_is,
        common::lf_to_crlf(&originals[sent.as_str()]),
        "as-is: CRLF only"
    );
    assert_eq!(by_id[sent.as_str()]["repairs"], serde_json::json!([]));
    let from_file =
        std::fs::read(user.join(by_id[binary.as_str()]["path"].as_str().unwrap())).unwrap();
    assert!(
        String::from_utf8_lossy(&from_file)
            .contains("Subject: Recovered note\r\nMessage-ID: <recovered@example.org>\r\nDate: ")
    );

    // summary.json says what the manifest says.
    let s: Value =
        serde_json::from_slice(&std::fs::read(user.join("summary.json")).unwrap()).unwrap();
    let count = |st: &str| entries.iter().filter(|e| e["status"] == st).count() as u64;
    assert_eq!(s["counts"]["staged"], count("staged"));
    assert_eq!(s["counts"]["quarantined"], count("quarantined"));
    assert_eq!(s["counts"]["quarantined"], 2);
    assert_eq!(s["released"], 3);
    assert_eq!(
        s["quarantine_reasons"],
        serde_json::json!({"empty": 1, "too-large": 1})
    );
    assert_eq!(s["repairs"]["added-date"], 2);

    // `list` shows what is left, and with --released the released ones too.
    let (_, out, _) = run(args!["quarantine", "list", &user, "--json"]);
    assert_eq!(serde_json::from_str::<Vec<Value>>(&out).unwrap().len(), 2);
    let (_, out, _) = run(args!["quarantine", "list", &user, "--json", "--released"]);
    let all: Vec<Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(all.iter().filter(|i| i["status"] == "released").count(), 3);

    // Converting again (the overnight batch re-run) keeps every release, byte for
    // byte: the same tree, manifest and summary.
    let released = tree(&user);
    let fixed_copy: Vec<_> = released
        .keys()
        .filter(|k| k.starts_with(b"released/") && k.ends_with(b".eml"))
        .collect();
    assert_eq!(
        fixed_copy.len(),
        1,
        "the admin's fixed copy is kept in released/"
    );
    std::fs::remove_file(&fixed).unwrap();
    assert_eq!(convert_alice(&staging, "alice"), 1);
    let after = tree(&user);
    let diff: Vec<String> = released
        .keys()
        .chain(after.keys())
        .filter(|k| released.get(*k) != after.get(*k))
        .map(|k| String::from_utf8_lossy(k).into_owned())
        .collect();
    assert!(diff.is_empty(), "re-convert changed {diff:?}");

    // A fresh convert into a new staging dir knows nothing of them.
    let other = t.path().join("other");
    assert_eq!(convert_alice(&other, "alice"), 1);
    assert_eq!(quarantined(&other.join("alice")).len(), 5);
}

#[test]
fn released_message_is_uploaded_once_by_the_next_upload() {
    let srv = TestServer::start(&[]);
    let pw = srv.adduser("alice", "secret-pw");
    let t = tempfile::tempdir().unwrap();
    let staging = t.path().join("staging");
    assert_eq!(convert_alice(&staging, "alice"), 1);
    let user: PathBuf = staging.join("alice");
    let upload = |user: &Path| {
        let out = command("upload", user, srv.port, "alice", &pw, &["--json"])
            .output()
            .unwrap();
        let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        (
            out.status.code().unwrap(),
            v,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, _, err) = upload(&user);
    assert_eq!(code, 0, "{err}");
    let first = srv.dump(srv.port, "alice", &pw);
    let staged_before = manifest(&user)
        .iter()
        .filter(|e| e["status"] == "staged")
        .count();
    assert_eq!(first.len(), staged_before);

    let big = id_with_reason(&user, "too-large", "Subject: Budget meeting minutes");
    let (code, _, err) = run(args!["quarantine", "release", &user, &big]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = upload(&user);
    assert_eq!(code, 0, "{err}");
    let after = srv.dump(srv.port, "alice", &pw);
    assert_eq!(
        after.len(),
        staged_before + 1,
        "only the released message is new"
    );

    let e = manifest(&user)
        .into_iter()
        .find(|e| e["sha256"].as_str().unwrap().starts_with(&big))
        .unwrap();
    let on_server: Vec<&Value> = after
        .iter()
        .filter(|m| m["sha256"] == staged_sha256(&user, &e).as_str())
        .collect();
    assert_eq!(on_server.len(), 1);
    let m = on_server[0];
    assert_eq!(m["folder"], "INBOX");
    let date = chrono::DateTime::parse_from_rfc3339(e["internal_date"].as_str().unwrap()).unwrap();
    assert_eq!(m["internal_date"].as_i64().unwrap(), date.timestamp());
    let mut flags: Vec<&str> = m["flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    flags.sort();
    assert_eq!(flags, ["\\Answered", "\\Seen"]);

    // A third upload sends nothing.
    let (code, _, err) = upload(&user);
    assert_eq!(code, 0, "{err}");
    assert_eq!(srv.dump(srv.port, "alice", &pw).len(), staged_before + 1);
}

#[test]
fn disarm_read_receipts_in_convert_and_in_a_release() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("dave");
    for d in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(src.join(d)).unwrap();
    }
    let head = "From: a@example.org\nTo: dave@example.org\nDate: Mon, 1 Jun 2020 10:00:00 +0000\n";
    let small = format!(
        "{head}Subject: please confirm\nMessage-ID: <r1@example.org>\nDisposition-Notification-To: a@example.org\n\nshort\n"
    );
    let big = format!(
        "{head}Subject: big one\nMessage-ID: <r2@example.org>\nDisposition-Notification-To: a@example.org\n\n{}\n",
        "line of text\n".repeat(100)
    );
    let plain = format!("{head}Subject: plain\nMessage-ID: <r3@example.org>\n\nhello\n");
    std::fs::write(src.join("cur/1591005600.M1P1.h:2,"), &small).unwrap();
    std::fs::write(src.join("cur/1591005601.M2P1.h:2,"), &big).unwrap();
    std::fs::write(src.join("cur/1591005602.M3P1.h:2,S"), &plain).unwrap();
    let staging = t.path().join("staging");
    let (code, _, err) = run(args![
        "convert",
        &src,
        "--out",
        &staging,
        "-q",
        "--max-size",
        "1000",
        "--disarm-read-receipts"
    ]);
    assert_eq!(code, 1, "{err}");
    let user = staging.join("dave");
    let by_subject = |subject: &str| {
        manifest(&user)
            .into_iter()
            .find(|e| {
                e["path"].as_str().is_some_and(|p| {
                    std::fs::read_to_string(user.join(p))
                        .unwrap()
                        .contains(&format!("Subject: {subject}"))
                })
            })
            .unwrap()
    };
    let e = by_subject("please confirm");
    assert_eq!(e["repairs"], serde_json::json!(["read-receipt-disarmed"]));
    let staged = std::fs::read_to_string(user.join(e["path"].as_str().unwrap())).unwrap();
    assert_eq!(
        staged,
        small
            .replace('\n', "\r\n")
            .replace("\r\nDisposition-", "\r\nX-Disarmed-Disposition-")
    );
    let e = by_subject("plain");
    assert_eq!(e["repairs"], serde_json::json!([]));
    let s: Value =
        serde_json::from_slice(&std::fs::read(user.join("summary.json")).unwrap()).unwrap();
    assert_eq!(s["disarm_read_receipts"], true);
    assert_eq!(s["repairs"]["read-receipt-disarmed"], 1);

    // The too-large one, released: disarmed like the rest of the tree.
    let big_e = by_subject("big one");
    assert_eq!(big_e["status"], "quarantined");
    let id = &big_e["sha256"].as_str().unwrap()[..16];
    let (code, _, err) = run(args!["quarantine", "release", &user, id]);
    assert_eq!(code, 0, "{err}");
    let e = by_subject("big one");
    assert_eq!(e["status"], "staged");
    assert_eq!(e["repairs"], serde_json::json!(["read-receipt-disarmed"]));
    let before = tree(&user);
    let (code, _, _) = run(args![
        "convert",
        &src,
        "--out",
        &staging,
        "-q",
        "--max-size",
        "1000",
        "--disarm-read-receipts"
    ]);
    assert_eq!(code, 0, "nothing quarantined any more");
    assert_eq!(tree(&user), before, "re-convert keeps the disarmed release");

    // Without the option, nothing is renamed.
    let plain_staging = t.path().join("plain");
    let (code, _, _) = run(args!["convert", &src, "--out", &plain_staging, "-q"]);
    assert_eq!(code, 0);
    assert!(
        manifest(&plain_staging.join("dave"))
            .iter()
            .all(|e| e["repairs"] == serde_json::json!([]))
    );
}
