//! Maildir scan: `maildir::Scanner` over a small Maildir++ tree made at bench time in
//! a temporary directory (nothing big is committed). What is measured is the walk of
//! the folder structure and one `read_dir` + `lstat` per message file, file names
//! parsed for flags and sizes; no message is read.
//!
//! `cargo bench --bench scan`

use std::fs;
use std::path::Path;

use divan::Bencher;
use mailstage::maildir::{LayoutChoice, Scanner};

fn main() {
    divan::main();
}

/// Folders of the tree (Maildir++ names; `""` is INBOX, the root).
const FOLDERS: &[&str] = &[
    "",
    ".Sent",
    ".Archive",
    ".Archive.2009",
    ".Lists.rust-users",
];

/// A Maildir++ tree of `n` small messages spread over [`FOLDERS`] (INBOX gets the
/// largest share, as in real mailboxes), a third in `new/`, with flags and keywords
/// in the file names and a `dovecot-keywords` table per folder.
fn make_tree(root: &Path, n: usize) {
    const FLAGS: &[&str] = &["", "S", "RS", "FS", "PS", "ST", "Sab", "Sc"];
    for (f, folder) in FOLDERS.iter().enumerate() {
        let dir = root.join(folder);
        for sub in ["cur", "new", "tmp"] {
            fs::create_dir_all(dir.join(sub)).expect("create the bench Maildir");
        }
        fs::write(
            dir.join("dovecot-keywords"),
            "0 $Forwarded\n1 $label1\n2 NonJunk\n",
        )
        .expect("write dovecot-keywords");
        if !folder.is_empty() {
            fs::write(dir.join("maildirfolder"), "").expect("write maildirfolder");
        }
        // INBOX half, the others share the rest
        let share = if f == 0 {
            n / 2
        } else {
            (n - n / 2) / (FOLDERS.len() - 1)
        };
        for i in 0..share {
            let body = format!("From: a@example.com\nSubject: {i}\n\nbody {i}\n");
            let base = format!(
                "{}.M{}P{}Q{}.bench,S={},W={}",
                1_262_304_000 + i,
                i * 7,
                1000 + f,
                i,
                body.len(),
                body.len() + 4
            );
            let path = if i % 3 == 0 {
                dir.join("new").join(base)
            } else {
                dir.join("cur")
                    .join(format!("{base}:2,{}", FLAGS[i % FLAGS.len()]))
            };
            fs::write(path, body).expect("write a bench message");
        }
    }
}

/// Open the tree and list every folder, as `convert` does (one folder at a time).
fn scan_all(root: &Path) -> usize {
    let mut s = Scanner::open(root, LayoutChoice::Auto).expect("scan the bench Maildir");
    let mut total = 0;
    for i in 0..s.folders().len() {
        let list = s.list(i);
        total += list.len();
        // touch what convert reads of every message: name, flags, size
        for m in list.iter() {
            divan::black_box((m.name(), m.flag_set().is_empty(), m.size()));
        }
    }
    divan::black_box(s.finish());
    total
}

#[divan::bench(args = [1_000, 10_000], sample_count = 20)]
fn scan_tree(bencher: Bencher, n: usize) {
    let dir = tempfile::tempdir().expect("temp dir");
    make_tree(dir.path(), n);
    // warm the dentry and inode caches: the figure is the scanner's, not the disk's
    assert_eq!(scan_all(dir.path()), n);
    bencher
        .counter(divan::counter::ItemsCount::new(n))
        .bench(|| scan_all(dir.path()));
}
