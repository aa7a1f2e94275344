//! `mailstage zip`: the archive passes `unzip -t` and Python's `zipfile`
//! (`tests/py/zipcheck.py`: every name, size and CRC, `testzip()`), holds exactly the
//! staging tree (names in UTF-8, bytes equal, empty folders kept), and the same tree
//! gives the same bytes.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use common::{fixtures, mailstage};
use serde_json::Value;

fn tree_files(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for top in ["manifest.jsonl", "folders.json", "summary.json"] {
        out.insert(top.to_owned(), std::fs::read(root.join(top)).unwrap());
    }
    for (k, v) in common::contents(root) {
        let k = String::from_utf8(k).unwrap();
        if k.starts_with("mail/") || k.starts_with("quarantine/") {
            out.insert(k, v);
        }
    }
    out
}

/// Every entry the zip of the staging tree `root` must hold, in archive order: the
/// top-level files, then `mail/`, `quarantine/` and `released/` with every
/// directory (`a/b/`) and file below, in byte order of the paths; with each file's
/// bytes (`None` for a directory).
fn expected_entries(root: &Path) -> Vec<(String, Option<Vec<u8>>)> {
    let mut out = Vec::new();
    for top in ["manifest.jsonl", "folders.json", "summary.json"] {
        if root.join(top).is_file() {
            out.push((top.to_owned(), Some(std::fs::read(root.join(top)).unwrap())));
        }
    }
    let mut below = Vec::new();
    for (k, v) in common::contents(root) {
        let k = String::from_utf8(k).unwrap();
        if ["mail/", "quarantine/", "released/"]
            .iter()
            .any(|d| k.starts_with(d))
        {
            let data = (!k.ends_with('/')).then_some(v);
            below.push((k, data));
        }
    }
    below.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    out.extend(below);
    out
}

/// What Python's `zipfile` reads in `zip` (see `tests/py/zipcheck.py`).
fn python_reads(zip: &Path) -> Value {
    let out = Command::new("python3")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/zipcheck.py"))
        .arg(zip)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn crc32(b: &[u8]) -> u64 {
    let mut c = flate2::Crc::new();
    c.update(b);
    u64::from(c.sum())
}

/// Python lists exactly `expected_entries(root)`, in order, each with its size and
/// CRC-32, the UTF-8 flag (APPNOTE 4.4.4 bit 11) on exactly the non-ASCII names, a
/// Unix mode of 0644 (files, deflated) or 0755 (directories, stored); and
/// `testzip()` finds every entry's data intact. Returns Python's entries.
fn check_with_python(zip: &Path, root: &Path) -> Vec<Value> {
    let r = python_reads(zip);
    assert_eq!(r["testzip"], Value::Null, "first bad entry");
    let got = r["entries"].as_array().unwrap().clone();
    let want = expected_entries(root);
    let names: Vec<&str> = got.iter().map(|e| e["name"].as_str().unwrap()).collect();
    let want_names: Vec<&str> = want.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, want_names);
    for (e, (name, data)) in got.iter().zip(&want) {
        let utf8 = if name.is_ascii() { 0 } else { 0x800 };
        assert_eq!(e["flags"], utf8, "{e}");
        match data {
            None => {
                assert_eq!(e["is_dir"], true, "{e}");
                assert_eq!(e["mode"], 0o40755, "{e}");
                assert_eq!(e["method"], 0, "{e}");
                assert_eq!(e["size"], 0, "{e}");
            }
            Some(d) => {
                assert_eq!(e["is_dir"], false, "{e}");
                assert_eq!(e["mode"], 0o100644, "{e}");
                assert_eq!(e["method"], 8, "{e}");
                assert_eq!(e["size"], d.len() as u64, "{e}");
                assert_eq!(e["crc"], crc32(d), "{e}");
            }
        }
    }
    got
}

#[test]
fn zip_is_valid_complete_utf8_and_deterministic() {
    let t = tempfile::tempdir().unwrap();
    let staging = t.path().join("staging");
    for u in ["alice", "bob-fs"] {
        let st = mailstage()
            .arg("convert")
            .arg(fixtures().join("maildir").join(u))
            .arg("--out")
            .arg(&staging)
            .output()
            .unwrap();
        assert!(matches!(st.status.code(), Some(0 | 1)));
    }
    let alice = staging.join("alice");
    // a folder with no messages keeps its directory entry
    std::fs::create_dir(alice.join("mail/Leer")).unwrap();
    let z1 = t.path().join("a1.zip");
    let out = mailstage()
        .arg("zip")
        .arg(&alice)
        .arg("-o")
        .arg(&z1)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let test = Command::new("unzip").arg("-t").arg(&z1).output().unwrap();
    assert!(
        test.status.success(),
        "{}",
        String::from_utf8_lossy(&test.stdout)
    );
    assert!(String::from_utf8_lossy(&test.stdout).contains("No errors detected"));

    // the independent reader: every entry, in order, with its size, CRC and flags
    let listed = check_with_python(&z1, &alice);
    let utf8: Vec<&Value> = listed
        .iter()
        .filter(|e| e["name"].as_str().unwrap().contains("Entwürfe"))
        .collect();
    assert!(
        utf8.iter().any(|e| e["is_dir"] == true) && utf8.iter().any(|e| e["is_dir"] == false),
        "the fixture's non-ASCII folder and its messages are listed by their UTF-8 names"
    );
    assert!(
        listed
            .iter()
            .any(|e| e["name"] == "mail/Leer/" && e["is_dir"] == true),
        "the empty folder has its entry"
    );

    // every entry equals the tree, and nothing else is in it
    let x = t.path().join("x");
    let st = Command::new("unzip")
        .arg("-q")
        .arg(&z1)
        .arg("-d")
        .arg(&x)
        .status()
        .unwrap();
    assert!(st.success());
    let want = tree_files(&alice);
    let mut got = BTreeMap::new();
    for top in ["manifest.jsonl", "folders.json", "summary.json"] {
        got.insert(top.to_owned(), std::fs::read(x.join(top)).unwrap());
    }
    for (k, v) in common::contents(&x) {
        got.insert(String::from_utf8(k).unwrap(), v);
    }
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>()
    );
    assert_eq!(got, want);
    assert!(
        want.keys().any(|k| k.contains("Entwürfe")),
        "the fixture has a non-ASCII folder"
    );
    assert!(
        got.contains_key("mail/Leer/"),
        "unzip recreates the empty folder"
    );
    assert!(
        !got.keys()
            .any(|k| k.starts_with("upload/") || k.contains(".lock"))
    );

    // deterministic: again, after touching every file's mtime, same bytes
    for k in want.keys().filter(|k| !k.ends_with('/')) {
        let f = std::fs::File::options()
            .write(true)
            .open(alice.join(k))
            .unwrap();
        f.set_modified(std::time::SystemTime::now()).unwrap();
    }
    let z2 = t.path().join("a2.zip");
    let out = mailstage()
        .arg("zip")
        .arg(&alice)
        .arg("-o")
        .arg(&z2)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(std::fs::read(&z1).unwrap(), std::fs::read(&z2).unwrap());

    // batch form: one zip per user
    let dir = t.path().join("zips");
    let out = mailstage()
        .arg("zip")
        .arg(&alice)
        .arg(staging.join("bob-fs"))
        .arg("--out-dir")
        .arg(&dir)
        .arg("--json")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reports: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(reports.as_array().unwrap().len(), 2);
    assert_eq!(
        std::fs::read(dir.join("alice.zip")).unwrap(),
        std::fs::read(&z1).unwrap()
    );
    assert!(
        Command::new("unzip")
            .arg("-tq")
            .arg(dir.join("bob-fs.zip"))
            .status()
            .unwrap()
            .success()
    );

    // not a staging tree: a clear error, exit 2
    let out = mailstage()
        .arg("zip")
        .arg(t.path())
        .arg("-o")
        .arg(t.path().join("n.zip"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a user's staging directory"));
}

/// Offset of the zip64 end of central directory record's signature
/// (APPNOTE 4.3.14, `PK\x06\x06`), if the archive has one.
fn zip64_eocd(zip: &[u8]) -> Option<usize> {
    zip.windows(4).rposition(|w| w == b"PK\x06\x06")
}

#[test]
fn more_than_65535_entries_use_zip64_and_released_is_kept() {
    // The 16-bit entry count of the classic end record (APPNOTE 4.4.22) cannot hold
    // 70,000 entries; the archive must carry the zip64 end record, and unzip must
    // see every entry. The tree is made by hand: zip reads any staging tree.
    let t = tempfile::tempdir().unwrap();
    let user = t.path().join("u");
    let per_dir = 1_000;
    let n = 70_000;
    for i in 0..n {
        let dir = user.join(format!("mail/F{:03}", i / per_dir));
        if i % per_dir == 0 {
            std::fs::create_dir_all(&dir).unwrap();
        }
        std::fs::write(
            dir.join(format!("{i:06}.eml")),
            format!("Subject: {i}\r\n\r\n"),
        )
        .unwrap();
    }
    std::fs::create_dir_all(user.join("released")).unwrap();
    std::fs::write(user.join("released/releases.jsonl"), "{}\n").unwrap();
    std::fs::write(user.join("manifest.jsonl"), "").unwrap();
    let z = t.path().join("u.zip");
    let out = mailstage()
        .arg("zip")
        .arg(&user)
        .arg("-o")
        .arg(&z)
        .arg("--json")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let dirs = n / per_dir + 2; // mail/, mail/F000 … mail/F069, released/
    let entries = n + dirs + 2; // + manifest.jsonl, released/releases.jsonl
    assert_eq!(r[0]["entries"], entries as u64, "{r}");
    let bytes = std::fs::read(&z).unwrap();
    assert!(
        zip64_eocd(&bytes).is_some(),
        "no zip64 end of central directory record"
    );
    let list = Command::new("unzip").arg("-Z1").arg(&z).output().unwrap();
    assert!(list.status.success());
    let names: Vec<String> = String::from_utf8(list.stdout)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(names.len(), entries);
    assert!(names.contains(&"mail/F069/069999.eml".to_owned()));
    assert!(names.contains(&"released/releases.jsonl".to_owned()));
    let test = Command::new("unzip").arg("-tq").arg(&z).output().unwrap();
    assert!(
        test.status.success(),
        "{}",
        String::from_utf8_lossy(&test.stdout)
    );
    // Python takes the count from the zip64 end record, and reads every entry
    assert_eq!(check_with_python(&z, &user).len(), entries);
}
