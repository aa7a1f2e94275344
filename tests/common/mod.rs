//! Helpers shared by the end-to-end tests: the real binary, generated Maildirs,
//! tree snapshots.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// The project's `shared/` tree (tools, corpora): `$MAILSTAGE_SHARED`, else the
/// sibling of the checkout. Tests fail, never skip, when it is missing.
pub fn shared() -> PathBuf {
    let p = std::env::var_os("MAILSTAGE_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared"));
    assert!(
        p.join("tools/gen-maildir").is_file(),
        "shared tools not found at {} (set MAILSTAGE_SHARED)",
        p.display()
    );
    p
}

/// The bundled fixtures directory.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

std::thread_local! {
    /// `MAILSTAGE_CONVERT_PIECE` for the commands this test thread runs.
    static CONVERT_PIECE: std::cell::Cell<Option<&'static str>> = const { std::cell::Cell::new(None) };
}

/// Run `test` with every `convert` it starts in pieces of 3 messages: each folder
/// listing, duplicate map and sweep of more than that takes the temp-file path,
/// and the test's expectations must hold just the same.
pub fn in_tiny_pieces(test: impl FnOnce()) {
    CONVERT_PIECE.set(Some("3"));
    test();
    CONVERT_PIECE.set(None);
}

/// A `mailstage` command.
pub fn mailstage() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mailstage"));
    if let Some(piece) = CONVERT_PIECE.get() {
        c.env("MAILSTAGE_CONVERT_PIECE", piece);
    }
    c
}

/// Run gen-maildir into `out`.
pub fn gen_maildir(out: &Path, messages: u32, seed: u32, extra: &[&str]) {
    let status = Command::new("python3")
        .arg(shared().join("tools/gen-maildir"))
        .arg(out)
        .args([
            "--messages",
            &messages.to_string(),
            "--seed",
            &seed.to_string(),
        ])
        .args(extra)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("python3 runs gen-maildir");
    assert!(status.success(), "gen-maildir failed");
}

/// Copy a directory tree (to get a writable source with fresh mtimes we control).
pub fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dst = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &dst);
        } else {
            fs::copy(e.path(), &dst).unwrap();
        }
    }
}

/// Every file below `root` (relative path bytes → (bytes, mtime)), for
/// before/after comparisons.
pub fn snapshot(root: &Path) -> BTreeMap<Vec<u8>, (Vec<u8>, std::time::SystemTime)> {
    let mut out = BTreeMap::new();
    if root.exists() {
        walk(root, root, &mut out);
    }
    out
}

fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<Vec<u8>, (Vec<u8>, std::time::SystemTime)>) {
    for e in fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        let meta = fs::symlink_metadata(&p).unwrap();
        let rel = p
            .strip_prefix(root)
            .unwrap()
            .as_os_str()
            .as_bytes()
            .to_vec();
        if meta.is_dir() {
            out.insert(
                [rel.clone(), b"/".to_vec()].concat(),
                (Vec::new(), meta.modified().unwrap()),
            );
            walk(root, &p, out);
        } else {
            out.insert(rel, (fs::read(&p).unwrap(), meta.modified().unwrap()));
        }
    }
}

/// Content-only snapshot of a staging tree (no mtimes, no lock file).
pub fn contents(root: &Path) -> BTreeMap<Vec<u8>, Vec<u8>> {
    snapshot(root)
        .into_iter()
        .filter(|(k, _)| k != b".lock")
        .map(|(k, (v, _))| (k, v))
        .collect()
}

/// Every message file (under cur/ or new/) of a Maildir, relative path bytes.
pub fn source_messages(root: &Path) -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = snapshot(root)
        .into_keys()
        .filter(|k| {
            let s = k.as_slice();
            let parts: Vec<&[u8]> = s.split(|&b| b == b'/').collect();
            parts.len() >= 2
                && matches!(parts[parts.len() - 2], b"cur" | b"new")
                && !parts[parts.len() - 1].is_empty()
                && !parts[parts.len() - 1].starts_with(b".")
        })
        .collect();
    v.sort();
    v
}

/// Parse a manifest.
pub fn manifest(user_dir: &Path) -> Vec<Value> {
    fs::read_to_string(user_dir.join("manifest.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// SHA-256 (hex) of the staged file a manifest entry names, read from the tree:
/// the bytes the server must hold (convert writes no hash of them).
pub fn staged_sha256(user_dir: &Path, e: &Value) -> String {
    use sha2::Digest;
    let path = user_dir.join(e["path"].as_str().expect("a staged entry has a path"));
    hex::encode(sha2::Sha256::digest(fs::read(&path).unwrap()))
}

/// Run `convert` with `--json` and return (exit code, report).
pub fn convert_json(args: &[&std::ffi::OsStr]) -> (i32, Value) {
    let out = mailstage()
        .arg("convert")
        .args(args)
        .arg("--json")
        .output()
        .unwrap();
    let code = out.status.code().unwrap_or(-1);
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON report ({e}); stdout: {} stderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (code, report)
}

/// Every bare LF as CRLF (what staging does to line endings, for comparisons).
pub fn lf_to_crlf(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len() + b.len() / 16);
    for (i, &c) in b.iter().enumerate() {
        if c == b'\n' && (i == 0 || b[i - 1] != b'\r') {
            out.push(b'\r');
        }
        out.push(c);
    }
    out
}
pub mod imap;
