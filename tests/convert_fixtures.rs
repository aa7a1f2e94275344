//! End-to-end `convert` on the bundled fixtures and on small handmade trees:
//! exact outcomes per message, batch mode, errors an admin must see.

mod common;

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use common::*;
use serde_json::Value;

fn os(s: &str) -> &OsStr {
    OsStr::new(s)
}

fn convert(src: &Path, out: &Path, extra: &[&str]) -> (i32, Value) {
    let mut args: Vec<&OsStr> = vec![src.as_os_str(), os("--out"), out.as_os_str(), os("-q")];
    args.extend(extra.iter().map(|s| os(s)));
    convert_json(&args)
}

fn by_source<'a>(m: &'a [Value], prefix: &str) -> &'a Value {
    let hits: Vec<&Value> = m
        .iter()
        .filter(|e| e["source"].as_str().unwrap().starts_with(prefix))
        .collect();
    assert_eq!(hits.len(), 1, "{prefix}");
    hits[0]
}

fn staged_bytes(user_dir: &Path, e: &Value) -> Vec<u8> {
    fs::read(user_dir.join(e["path"].as_str().unwrap())).unwrap()
}

fn header_count(msg: &[u8], name: &str) -> usize {
    let text = String::from_utf8_lossy(msg);
    let head = text.split("\r\n\r\n").next().unwrap();
    head.split("\r\n")
        .filter(|l| {
            l.to_ascii_lowercase()
                .starts_with(&format!("{}:", name.to_ascii_lowercase()))
        })
        .count()
}

#[test]
fn alice_fixture_outcomes() {
    let tmp = tempfile::tempdir().unwrap();
    let src = fixtures().join("maildir/alice");
    let before = snapshot(&src);
    let (code, report) = convert(&src, tmp.path(), &[]);
    assert_eq!(snapshot(&src), before, "fixture modified");
    assert_eq!(code, 1, "two quarantined files: exit 1\n{report:#}");
    let u = &report["users"][0];
    assert_eq!(u["user"], "alice");
    assert_eq!(u["counts"]["messages"], 24);
    assert_eq!(u["counts"]["staged"], 21);
    assert_eq!(u["counts"]["quarantined"], 2);
    assert_eq!(u["counts"]["duplicate"], 1);
    assert_eq!(u["counts"]["excluded"], 0);
    assert_eq!(u["ignored_files"], 52);
    assert_eq!(u["repairs"]["added-message-id"], 1);
    assert_eq!(u["repairs"]["added-date"], 1);

    let dir = tmp.path().join("alice");
    let m = manifest(&dir);
    assert_eq!(m.len(), 24);
    assert_eq!(source_messages(&src).len(), 24);

    // Duplicate: the first copy is staged, the second points at it.
    let first = by_source(&m, "cur/1262592902.");
    let dup = by_source(&m, "cur/1262592960.");
    assert_eq!(first["status"], "staged");
    assert_eq!(dup["status"], "duplicate");
    assert!(dup["reason"].as_str().unwrap().contains("cur/1262592902."));
    assert!(dup.get("path").is_none());

    // Missing Message-ID: derived from the content hash, exactly one header.
    let e = by_source(&m, "cur/1275613201.");
    assert_eq!(e["repairs"], serde_json::json!(["added-message-id"]));
    let id = e["message_id"].as_str().unwrap();
    assert!(
        id.starts_with('<') && id.ends_with("@mailstage.invalid>"),
        "{id}"
    );
    assert!(id.contains(&e["sha256"].as_str().unwrap()[..32]));
    let b = staged_bytes(&dir, e);
    assert_eq!(header_count(&b, "Message-ID"), 1);
    assert!(String::from_utf8_lossy(&b).contains(&format!("Message-ID: {id}\r\n")));

    // Missing Date: made from the internal date.
    let e = by_source(&m, "new/1276700000.");
    assert_eq!(e["repairs"], serde_json::json!(["added-date"]));
    let b = staged_bytes(&dir, e);
    assert_eq!(header_count(&b, "Date"), 1);
    let internal =
        chrono::DateTime::parse_from_rfc3339(e["internal_date"].as_str().unwrap()).unwrap();
    assert!(String::from_utf8_lossy(&b).contains(&format!("Date: {}\r\n", internal.to_rfc2822())));
    assert!(
        !e["flags"]
            .as_array()
            .unwrap()
            .contains(&Value::from("\\Seen")),
        "new/ is unseen"
    );

    // Not a message, and an empty file: originals kept byte-identical with reasons.
    for (prefix, kind) in [
        ("cur/1276000000.", "not-a-message"),
        ("cur/1276100000.", "empty"),
    ] {
        let e = by_source(&m, prefix);
        assert_eq!(e["status"], "quarantined");
        assert_eq!(e["reason_kind"], kind);
        let q = dir.join(e["path"].as_str().unwrap());
        assert!(q.starts_with(dir.join("quarantine")));
        assert_eq!(
            fs::read(&q).unwrap(),
            fs::read(src.join(e["source"].as_str().unwrap())).unwrap()
        );
        let reason = fs::read_to_string(q.with_extension("reason.txt")).unwrap();
        assert!(reason.contains(e["reason"].as_str().unwrap()));
        assert!(reason.contains(prefix));
    }
    assert!(
        by_source(&m, "cur/1276000000.")["reason"]
            .as_str()
            .unwrap()
            .contains("binary")
    );

    // Folders mapped to Exchange names; per-folder keywords; flags.
    let folder_of = |p: &str| by_source(&m, p)["folder"].as_str().unwrap().to_string();
    for (prefix, folder) in [
        (".Trash/", "Deleted Items"),
        (".Junk/", "Junk E-mail"),
        (".Drafts/", "Drafts"),
        (".Archives.2009/", "Archive/2009"),
        (".Archives.2010/", "Archive/2010"),
        (".Entw&APw-rfe/", "Entwürfe"),
        (".Reisen.&ANY-sterreich/", "Reisen/Österreich"),
        (".Templates/", "Templates"),
    ] {
        assert_eq!(folder_of(prefix), folder, "{prefix}");
    }
    let sent: Vec<&Value> = m
        .iter()
        .filter(|e| e["source"].as_str().unwrap().starts_with(".Sent/"))
        .collect();
    assert!(sent.iter().all(|e| e["folder"] == "Sent Items"));
    let arch = by_source(&m, ".Archives.2010/");
    assert_eq!(
        arch["flags"],
        serde_json::json!(["\\Seen", "\\Answered", "$Important"])
    );
    let fw = by_source(&m, "cur/1272129669.");
    assert_eq!(
        fw["flags"],
        serde_json::json!(["\\Seen", "$Forwarded", "$label1", "NonJunk"])
    );
    assert!(dir.join("mail/Empty").is_dir());
    assert!(dir.join("mail/Entwürfe").is_dir());

    // Every staged file: CRLF only, size and hash as in the manifest.
    for e in m.iter().filter(|e| e["status"] == "staged") {
        let b = staged_bytes(&dir, e);
        assert_eq!(b.len() as u64, e["size"].as_u64().unwrap());
        for (i, &c) in b.iter().enumerate() {
            if c == b'\n' {
                assert!(i > 0 && b[i - 1] == b'\r', "bare LF in {}", e["path"]);
            }
        }
        // No hash of the staged bytes in the manifest (upload's journal has it).
        assert!(e.get("staged_sha256").is_none());
    }

    // folders.json lists parent-only folders too.
    let folders: Value =
        serde_json::from_slice(&fs::read(dir.join("folders.json")).unwrap()).unwrap();
    let archives = folders
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["source"] == "Archives")
        .unwrap();
    assert_eq!(archives["mailbox"], false);
    assert_eq!(archives["target"], "Archive");
}

#[test]
fn fs_layout_fixture_and_newer_exchange_names() {
    let tmp = tempfile::tempdir().unwrap();
    let (code, report) = convert(
        &fixtures().join("maildir/bob-fs"),
        tmp.path(),
        &["--user", "bob", "--target", "exchange"],
    );
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["total"]["staged"], 6);
    let m = manifest(&tmp.path().join("bob"));
    let folders: Vec<&str> = m.iter().map(|e| e["folder"].as_str().unwrap()).collect();
    assert!(folders.contains(&"Archive/2009"));
    assert!(folders.contains(&"Reisen/Österreich"));
    assert!(folders.contains(&"Sent Items"));

    // Junk E-mail (2007/2010) versus Junk Email (2013+ / Exchange Online).
    let t2 = tempfile::tempdir().unwrap();
    let (_, _) = convert(
        &fixtures().join("maildir/alice"),
        t2.path(),
        &["--target", "m365"],
    );
    let m = manifest(&t2.path().join("alice"));
    assert_eq!(by_source(&m, ".Junk/")["folder"], "Junk Email");
}

#[test]
fn folder_collision_is_an_error_naming_both() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("alice");
    copy_tree(&fixtures().join("maildir/alice"), &src);
    let extra = src.join(".Sent Messages");
    for d in ["cur", "new", "tmp"] {
        fs::create_dir_all(extra.join(d)).unwrap();
    }
    fs::write(
        extra.join("cur/1.M1P1.h:2,S"),
        "From: a@b\nSubject: x\n\nx\n",
    )
    .unwrap();
    let out = tmp.path().join("st");
    let (code, report) = convert(&src, &out, &[]);
    assert_eq!(code, 2);
    let err = report["users"][0]["error"].as_str().unwrap();
    assert!(
        err.contains("Sent Messages") && err.contains("\"Sent\"") || err.contains("Sent and"),
        "{err}"
    );
    assert!(err.contains("Sent Items"), "{err}");
    assert!(
        !out.join("alice/manifest.jsonl").exists(),
        "nothing staged on a collision"
    );

    // A rename in a mapping file resolves it.
    let map = tmp.path().join("map.toml");
    fs::write(
        &map,
        "[rename]\n\"Sent Messages\" = \"Sent Items/Sent Messages\"\n",
    )
    .unwrap();
    let (code, _) = convert(&src, &out, &["--map", map.to_str().unwrap()]);
    assert_eq!(code, 1);
    let m = manifest(&out.join("alice"));
    assert_eq!(
        by_source(&m, ".Sent Messages/")["folder"],
        "Sent Items/Sent Messages"
    );
}

#[test]
fn batch_mode_keeps_going_when_one_user_fails() {
    let tmp = tempfile::tempdir().unwrap();
    let csv = tmp.path().join("users.csv");
    fs::write(
        &csv,
        format!(
            "name,maildir,exclude\nalice,{},Trash;Junk\nbob,{},\nghost,does-not-exist,\n",
            fixtures().join("maildir/alice").display(),
            fixtures().join("maildir/bob-fs").display()
        ),
    )
    .unwrap();
    let out = tmp.path().join("st");
    let (code, report) =
        convert_json(&[os("--users"), csv.as_os_str(), os("--out"), out.as_os_str()]);
    assert_eq!(code, 2, "one user failed");
    let users = report["users"].as_array().unwrap();
    assert_eq!(users.len(), 3);
    assert_eq!(
        users[0]["counts"]["excluded"], 2,
        "per-user excludes from the CSV"
    );
    assert_eq!(users[1]["counts"]["staged"], 6);
    assert!(
        users[2]["error"]
            .as_str()
            .unwrap()
            .contains("does-not-exist")
    );
    assert_eq!(report["total"]["messages"], 30);
    assert!(out.join("alice/manifest.jsonl").is_file());
    assert!(out.join("bob/manifest.jsonl").is_file());
}

#[test]
fn non_utf8_file_names_are_kept_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("hana");
    for d in ["cur", "new", "tmp"] {
        fs::create_dir_all(src.join(d)).unwrap();
    }
    let name = OsStr::from_bytes(b"1500000000.M1P1.h\xff\xfe:2,S");
    fs::write(
        src.join("cur").join(name),
        "From: a@b\nDate: Fri, 14 Jul 2017 02:40:00 +0000\nMessage-ID: <h@x>\n\nhi\n",
    )
    .unwrap();
    let out = tmp.path().join("st");
    let (code, _) = convert(&src, &out, &[]);
    assert_eq!(code, 0);
    let m = manifest(&out.join("hana"));
    assert_eq!(m.len(), 1);
    assert_eq!(m[0]["status"], "staged");
    assert_eq!(m[0]["flags"], serde_json::json!(["\\Seen"]));
    let raw = hex::decode(m[0]["source_raw"].as_str().unwrap()).unwrap();
    assert_eq!(raw, b"cur/1500000000.M1P1.h\xff\xfe:2,S");
}

#[test]
fn refuses_overlapping_dirs_and_non_maildirs() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("ivan");
    copy_tree(&fixtures().join("maildir/bob-fs"), &src);
    let before = snapshot(&src);
    let out = mailstage()
        .args(["convert", "-q"])
        .arg(&src)
        .arg("--out")
        .arg(src.join("staging"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stdout).contains("inside the source Maildir"));
    assert_eq!(snapshot(&src), before, "nothing written into the source");

    let empty = tmp.path().join("empty");
    fs::create_dir(&empty).unwrap();
    let (code, report) = convert(&empty, &tmp.path().join("st"), &[]);
    assert_eq!(code, 2);
    assert!(
        report["users"][0]["error"]
            .as_str()
            .unwrap()
            .contains("not a Maildir")
    );

    let out = mailstage()
        .args(["convert", "--out", "/tmp/x", "--user", "a/b"])
        .arg(&src)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot be a user name"));
}

#[test]
fn human_report_on_stdout() {
    let tmp = tempfile::tempdir().unwrap();
    let out = mailstage()
        .args(["convert"])
        .arg(fixtures().join("maildir/alice"))
        .arg("--out")
        .arg(tmp.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("quarantined"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("alice") && l.contains("24")),
        "{text}"
    );
    // Not a terminal: no progress output on stderr.
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_home_directory_is_not_taken_for_a_maildir() {
    // The parent of a Maildir has no cur/ or new/ but a folder that is a mailbox.
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    copy_tree(&fixtures().join("maildir/bob-fs"), &home.join("Maildir"));
    let (code, report) = convert(&home, &tmp.path().join("st"), &[]);
    assert_eq!(code, 2);
    assert!(
        report["users"][0]["error"]
            .as_str()
            .unwrap()
            .contains("not a Maildir root"),
        "{report:#}"
    );
}

/// The same fixture scenarios with every folder on the temp-file path (see
/// [`in_tiny_pieces`]): the same outcomes, message by message.
mod tiny_pieces {
    use super::*;

    #[test]
    fn alice_fixture_outcomes() {
        in_tiny_pieces(super::alice_fixture_outcomes);
    }

    #[test]
    fn fs_layout_fixture_and_newer_exchange_names() {
        in_tiny_pieces(super::fs_layout_fixture_and_newer_exchange_names);
    }

    #[test]
    fn batch_mode_keeps_going_when_one_user_fails() {
        in_tiny_pieces(super::batch_mode_keeps_going_when_one_user_fails);
    }

    #[test]
    fn non_utf8_file_names_are_kept_exactly() {
        in_tiny_pieces(super::non_utf8_file_names_are_kept_exactly);
    }

    #[test]
    fn human_report_on_stdout() {
        in_tiny_pieces(super::human_report_on_stdout);
    }

    /// Every fixture converts to byte-identical trees and reports in tiny pieces
    /// and in the default ones, also converted again in place.
    #[test]
    fn fixtures_give_the_same_tree_in_tiny_pieces() {
        let root = fixtures().join("maildir");
        let mut users: Vec<_> = fs::read_dir(&root)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.join("cur").is_dir() || p.join("new").is_dir())
            .collect();
        users.sort();
        assert!(!users.is_empty());
        for src in users {
            let tmp = tempfile::tempdir().unwrap();
            let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
            let name = src.file_name().unwrap().to_owned();
            for _ in 0..2 {
                let (ca, ra) = convert(&src, &a, &[]);
                let (cb, rb) = in_pieces(|| convert(&src, &b, &[]));
                assert_eq!(ca, cb, "{}", src.display());
                assert_eq!(
                    without_seconds(ra),
                    without_seconds(rb),
                    "{}",
                    src.display()
                );
                assert_eq!(contents(&a.join(&name)), contents(&b.join(&name)));
            }
        }
    }
}

/// `f` with [`in_tiny_pieces`], returning its result.
fn in_pieces<T>(f: impl FnOnce() -> T) -> T {
    let mut out = None;
    in_tiny_pieces(|| out = Some(f()));
    out.unwrap()
}

/// A report without its wall times.
fn without_seconds(mut r: Value) -> Value {
    for u in r["users"].as_array_mut().unwrap() {
        u["run"].as_object_mut().unwrap().remove("seconds");
    }
    r
}
