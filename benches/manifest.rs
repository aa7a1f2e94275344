//! Manifest lines: writing one (`stage::manifest::to_line`, once per message in
//! `convert`), parsing one, reading a whole manifest (`manifest::read`), and indexing
//! it in one pass for the commands after convert (`stage::reader::scan_staged`, which
//! hands over each staged entry and keeps nothing per message). The manifest files are written at bench time into a
//! temporary directory.
//!
//! `cargo bench --bench manifest`

use std::fmt::Write as _;

use divan::Bencher;
use mailstage::stage::manifest::{self, Entry, Status};
use mailstage::stage::reader::{self, ReadError};

fn main() {
    divan::main();
}

const FOLDERS: &[&str] = &["Inbox", "Sent Items", "Archive/2009", "Reisen/Österreich"];

/// A staged entry as `convert` writes it for a generated message.
fn entry(i: usize) -> Entry {
    let mut sha = String::new();
    for k in 0..32 {
        let _ = write!(sha, "{:02x}", (i * 31 + k * 7) as u8);
    }
    let folder = FOLDERS[i % FOLDERS.len()];
    Entry {
        source: format!(
            ".{}/cur/{}.M{i}P4242Q{i}.host,S=6123,W=6250:2,S",
            folder.replace('/', "."),
            1_262_304_000 + i
        ),
        source_raw: None,
        sha256: sha.clone(),
        status: Status::Staged,
        folder: Some(folder.to_owned()),
        path: Some(format!("mail/{folder}/20100104T091502Z-{}.eml", &sha[..16])),
        flags: if i.is_multiple_of(3) {
            vec!["\\Seen".into(), "$label1".into()]
        } else {
            vec!["\\Seen".into()]
        },
        internal_date: "2010-01-04T08:15:02+00:00".into(),
        message_id: Some(format!("<20100104091502.{i}@example.com>")),
        repairs: if i.is_multiple_of(50) {
            vec!["added-message-id".into()]
        } else {
            vec![]
        },
        reason: None,
        reason_kind: None,
        size: 6250,
        source_size: 6123,
        staged_sha256: Some(sha),
        released: None,
    }
}

#[divan::bench]
fn to_line(bencher: Bencher) {
    let e = entry(12345);
    bencher.bench(|| manifest::to_line(divan::black_box(&e)));
}

#[divan::bench]
fn parse_line(bencher: Bencher) {
    let line = manifest::to_line(&entry(12345));
    bencher
        .counter(divan::counter::BytesCount::of_str(&line))
        .bench(|| serde_json::from_str::<Entry>(divan::black_box(&line)).ok());
}

/// A user's staging dir whose manifest has `n` staged entries (no message files:
/// neither reader opens them).
fn staging(n: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut text = String::new();
    for i in 0..n {
        text.push_str(&manifest::to_line(&entry(i)));
        text.push('\n');
    }
    std::fs::write(dir.path().join("manifest.jsonl"), text).expect("write the manifest");
    dir
}

#[divan::bench(args = [10_000], sample_count = 20)]
fn read_all(bencher: Bencher, n: usize) {
    let dir = staging(n);
    let path = dir.path().join("manifest.jsonl");
    bencher
        .counter(divan::counter::ItemsCount::new(n))
        .bench(|| manifest::read(&path).map(|v| v.len()).ok());
}

#[divan::bench(args = [10_000], sample_count = 20)]
fn scan_staged(bencher: Bencher, n: usize) {
    let dir = staging(n);
    bencher
        .counter(divan::counter::ItemsCount::new(n))
        .bench(|| {
            let mut bytes = 0u64;
            reader::scan_staged::<ReadError>(dir.path(), |_, e| {
                bytes += e.size;
                Ok(())
            })
            .map(|s| (s.staged, bytes))
            .ok()
        });
}
