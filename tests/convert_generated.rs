//! End-to-end `convert` on generated Maildirs (gen-maildir): accounting, mapping,
//! flags, determinism, incremental re-runs, interruption, read-only source.

mod common;

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::fs;
use std::path::Path;

use common::*;
use serde_json::Value;

fn os(s: &str) -> &OsStr {
    OsStr::new(s)
}

fn run(src: &Path, out: &Path, extra: &[&str]) -> (i32, Value) {
    let mut args: Vec<&OsStr> = vec![src.as_os_str(), os("--out"), out.as_os_str(), os("-q")];
    args.extend(extra.iter().map(|s| os(s)));
    convert_json(&args)
}

/// Every source message file appears exactly once in the manifest, and the
/// statuses add up to the number of files, for both layouts.
#[test]
fn every_source_file_is_accounted_for_exactly_once() {
    for layout in ["maildir++", "fs"] {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("carol");
        gen_maildir(&src, 1500, 7, &["--layout", layout]);
        let out = tmp.path().join("staging");
        let (code, report) = run(&src, &out, &[]);
        assert_eq!(code, 0, "{report:#}");
        let m = manifest(&out.join("carol"));
        let files = source_messages(&src);
        assert_eq!(files.len(), 1500);
        let mut listed: Vec<Vec<u8>> = m
            .iter()
            .map(|e| e["source"].as_str().unwrap().as_bytes().to_vec())
            .collect();
        listed.sort();
        assert_eq!(listed, files, "layout {layout}");
        let t = &report["total"];
        assert_eq!(t["messages"], 1500);
        let sum: u64 = ["staged", "quarantined", "duplicate", "excluded"]
            .iter()
            .map(|k| t[k].as_u64().unwrap())
            .sum();
        assert_eq!(sum, 1500);
        // gen-maildir writes clean, distinct messages: all of them are staged.
        assert_eq!(t["staged"], 1500, "{layout}");
        // Non-message files (uidlists, keywords, subscriptions, maildirfolder) are
        // counted as ignored, never listed.
        assert!(report["ignored_files"].as_u64().unwrap() > 10);
        for e in &m {
            let p = out.join("carol").join(e["path"].as_str().unwrap());
            let staged = fs::read(&p).unwrap();
            assert_eq!(staged.len() as u64, e["size"].as_u64().unwrap());
            let orig = fs::read(src.join(e["source"].as_str().unwrap())).unwrap();
            // Clean messages: byte-identical except line endings.
            assert_eq!(staged, lf_to_crlf(&orig), "{}", e["source"]);
            assert!(e["repairs"].as_array().unwrap().is_empty());
        }
    }
}

/// Default Exchange 2007 mapping on gen-maildir's folder set, flags from file
/// names, keywords from dovecot-keywords, internal date from mtime.
#[test]
fn folders_flags_keywords_and_dates() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("dave");
    gen_maildir(&src, 1200, 3, &[]);
    let out = tmp.path().join("st");
    let (code, _) = run(&src, &out, &[]);
    assert_eq!(code, 0);
    let m = manifest(&out.join("dave"));
    let folders: HashSet<&str> = m.iter().map(|e| e["folder"].as_str().unwrap()).collect();
    for f in [
        "Inbox",
        "Sent Items",
        "Deleted Items",
        "Junk E-mail",
        "Drafts",
        "Templates",
        "Archive",
        "Projects/2009",
        "Reisen/Österreich",
        "Family & Friends",
    ] {
        assert!(folders.contains(f), "missing {f}: {folders:?}");
    }
    for bad in ["INBOX", "Sent", "Trash", "Junk", "Archives"] {
        assert!(!folders.contains(bad), "unmapped {bad}");
    }
    // The empty folder and the parent that exists only through its child are
    // staged as directories.
    let mail = out.join("dave/mail");
    assert!(mail.join("Old/Empty").is_dir());
    assert!(mail.join("Projects/Customer A/Reports").is_dir());
    assert!(mail.join("Reisen/Österreich").is_dir());

    let mut keyword_seen = false;
    for e in &m {
        let source = e["source"].as_str().unwrap();
        let flags: Vec<&str> = e["flags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap())
            .collect();
        let info = source.rsplit_once(":2,").map(|(_, f)| f).unwrap_or("");
        let in_new = source.split('/').rev().nth(1) == Some("new");
        assert_eq!(
            flags.contains(&"\\Seen"),
            info.contains('S') && !in_new,
            "{source}"
        );
        assert_eq!(flags.contains(&"\\Flagged"), info.contains('F'), "{source}");
        assert_eq!(
            flags.contains(&"\\Answered"),
            info.contains('R'),
            "{source}"
        );
        assert_eq!(flags.contains(&"\\Deleted"), info.contains('T'), "{source}");
        assert_eq!(flags.contains(&"\\Draft"), info.contains('D'), "{source}");
        // gen-maildir's dovecot-keywords: a=$Forwarded, b=$label1, c=NonJunk.
        for (letter, kw) in [('a', "$Forwarded"), ('b', "$label1"), ('c', "NonJunk")] {
            if info.contains(letter) {
                assert!(flags.contains(&kw), "{source} {flags:?}");
                keyword_seen = true;
            }
        }
        // Internal date = mtime of the source file, RFC 3339 with offset.
        let mtime: chrono::DateTime<chrono::Utc> = fs::metadata(src.join(source))
            .unwrap()
            .modified()
            .unwrap()
            .into();
        let d = chrono::DateTime::parse_from_rfc3339(e["internal_date"].as_str().unwrap()).unwrap();
        assert_eq!(d.timestamp(), mtime.timestamp(), "{source}");
    }
    assert!(keyword_seen, "the generated tree has keyword letters");
}

/// Two runs give the same tree byte for byte, the source is never written, and a
/// run after new mail arrived writes just the new message.
#[test]
fn deterministic_read_only_and_incremental() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("erin");
    gen_maildir(&src, 800, 11, &["--thunderbird-names"]);
    let before = snapshot(&src);
    let out1 = tmp.path().join("a");
    let out2 = tmp.path().join("b");
    let (c1, r1) = run(&src, &out1, &["--jobs", "2"]);
    let (c2, _) = run(&src, &out2, &["--jobs", "1"]);
    assert_eq!((c1, c2), (0, 0));
    assert_eq!(snapshot(&src), before, "the source Maildir was modified");
    let t1 = contents(&out1.join("erin"));
    assert_eq!(t1, contents(&out2.join("erin")), "two runs differ");
    assert_eq!(r1["users"][0]["run"]["files_written"], 800);

    // Re-run in place: nothing written, same tree.
    let (c3, r3) = run(&src, &out1, &[]);
    assert_eq!(c3, 0);
    assert_eq!(r3["users"][0]["run"]["files_written"], 0);
    assert_eq!(contents(&out1.join("erin")), t1);

    // New mail arrives; a flag changes (the file is renamed); a message is deleted.
    let inbox_new = src.join("new");
    fs::write(
        inbox_new.join("1700000000.M1P1.host,S=60"),
        "From: a@example.org\nSubject: new one\nDate: Tue, 14 Nov 2023 22:13:20 +0000\nMessage-ID: <new@x>\n\nhello\n",
    )
    .unwrap();
    let cur = src.join("cur");
    let mut names: Vec<_> = fs::read_dir(&cur)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    let renamed = names[0].clone();
    let renamed_to = cur.join(format!(
        "{}F",
        renamed
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .trim_end_matches('F')
    ));
    fs::rename(&renamed, &renamed_to).unwrap();
    fs::remove_file(&names[1]).unwrap();
    let (c4, r4) = run(&src, &out1, &[]);
    assert_eq!(c4, 0);
    assert_eq!(r4["users"][0]["run"]["files_written"], 1, "{r4:#}");
    assert_eq!(r4["users"][0]["run"]["stale_files_removed"], 1);
    assert_eq!(r4["total"]["messages"], 800);
    // The result equals a fresh conversion of the changed source.
    let out5 = tmp.path().join("c");
    run(&src, &out5, &[]);
    assert_eq!(contents(&out1.join("erin")), contents(&out5.join("erin")));
    let m = manifest(&out1.join("erin"));
    let e = m
        .iter()
        .find(|e| {
            e["source"]
                .as_str()
                .unwrap()
                .ends_with(renamed_to.file_name().unwrap().to_str().unwrap())
        })
        .unwrap();
    assert!(
        e["flags"]
            .as_array()
            .unwrap()
            .contains(&Value::from("\\Flagged"))
    );
}

/// SIGKILL in the middle of a run leaves no half-written .eml and the re-run
/// finishes with the same tree as an uninterrupted run.
#[test]
fn interrupted_run_resumes_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("frank");
    gen_maildir(&src, 3000, 5, &[]);
    let reference = tmp.path().join("ref");
    assert_eq!(run(&src, &reference, &[]).0, 0);
    let want = contents(&reference.join("frank"));
    let out = tmp.path().join("out");
    for delay_ms in [30u64, 120, 400] {
        let mut child = mailstage()
            .args(["convert", "-q"])
            .arg(&src)
            .arg("--out")
            .arg(&out)
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill();
        child.wait().unwrap();
        // Whatever is under mail/ is complete: each file equals the reference one.
        for (k, v) in contents(&out.join("frank")) {
            if k.starts_with(b"mail/") && k.ends_with(b".eml") {
                assert_eq!(
                    Some(&v),
                    want.get(&k),
                    "half-written {}",
                    String::from_utf8_lossy(&k)
                );
            }
        }
    }
    assert_eq!(run(&src, &out, &[]).0, 0);
    assert_eq!(contents(&out.join("frank")), want);
}

/// `--exclude` and `--max-size` account for messages as excluded / quarantined.
#[test]
fn exclude_and_max_size() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("gina");
    gen_maildir(&src, 1000, 9, &[]);
    let out = tmp.path().join("st");
    let (code, report) = run(
        &src,
        &out,
        &[
            "--exclude",
            "Trash",
            "--exclude",
            "Projects",
            "--max-size",
            "100K",
        ],
    );
    assert_eq!(code, 1, "quarantined messages give exit code 1");
    let m = manifest(&out.join("gina"));
    let mut by_status: HashMap<&str, u64> = HashMap::new();
    for e in &m {
        let status = e["status"].as_str().unwrap();
        *by_status.entry(status).or_default() += 1;
        let source = e["source"].as_str().unwrap();
        if source.starts_with(".Trash/") || source.starts_with(".Projects") {
            assert_eq!(status, "excluded", "{source}");
            assert!(e["reason"].as_str().unwrap().contains("--exclude"));
            assert!(e.get("path").is_none());
        } else if e["source_size"].as_u64().unwrap() > 100 * 1024 {
            assert_eq!(status, "quarantined", "{source}");
            assert_eq!(e["reason_kind"], "too-large");
            let q = out.join("gina").join(e["path"].as_str().unwrap());
            // The original is kept byte-identical, with a reason file beside it.
            assert_eq!(fs::read(&q).unwrap(), fs::read(src.join(source)).unwrap());
            let reason = fs::read_to_string(q.with_extension("reason.txt")).unwrap();
            assert!(reason.contains("larger than the limit"), "{reason}");
        } else if status == "staged" {
            assert!(e["size"].as_u64().unwrap() <= 100 * 1024, "{source}");
        }
    }
    assert!(by_status["excluded"] > 0 && by_status["quarantined"] > 0);
    assert_eq!(
        report["total"]["excluded"].as_u64(),
        by_status.get("excluded").copied()
    );
}

/// The same scenarios with every folder on the temp-file path (see
/// [`in_tiny_pieces`]).
mod tiny_pieces {
    use super::*;

    #[test]
    fn every_source_file_is_accounted_for_exactly_once() {
        in_tiny_pieces(super::every_source_file_is_accounted_for_exactly_once);
    }

    #[test]
    fn folders_flags_keywords_and_dates() {
        in_tiny_pieces(super::folders_flags_keywords_and_dates);
    }

    #[test]
    fn deterministic_read_only_and_incremental() {
        in_tiny_pieces(super::deterministic_read_only_and_incremental);
    }

    #[test]
    fn interrupted_run_resumes_cleanly() {
        in_tiny_pieces(super::interrupted_run_resumes_cleanly);
    }

    #[test]
    fn exclude_and_max_size() {
        in_tiny_pieces(super::exclude_and_max_size);
    }
}

/// A report without its wall times.
fn without_seconds(mut r: Value) -> Value {
    for u in r["users"].as_array_mut().unwrap() {
        u["run"].as_object_mut().unwrap().remove("seconds");
    }
    r
}

/// Duplicates (first copies in earlier chunks, in `new/`, named before and after
/// their first copy), then a changed source (messages deleted, added, duplicated):
/// the trees and the reports are byte-identical in tiny pieces and in the default
/// ones, for the fresh run, the re-run and the re-run after the change.
#[test]
fn tiny_pieces_change_nothing_with_duplicates_and_reruns() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("gina");
    gen_maildir(&src, 1200, 13, &[]);
    let cur = src.join("cur");
    let mut names: Vec<_> = fs::read_dir(&cur)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert!(names.len() > 300, "{}", names.len());
    for (i, n) in names.iter().enumerate().step_by(37) {
        let bytes = fs::read(cur.join(n)).unwrap();
        fs::write(cur.join(format!("0000000{i}.dup:2,S")), &bytes).unwrap();
        fs::write(cur.join(format!("{n}x")), &bytes).unwrap();
        fs::write(src.join("new").join(format!("9{i}.dup")), &bytes).unwrap();
    }
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    let both = |extra: &[&str]| {
        let (ca, ra) = run(&src, &a, extra);
        let mut pieces = None;
        in_tiny_pieces(|| pieces = Some(run(&src, &b, extra)));
        let (cb, rb) = pieces.unwrap();
        assert_eq!(ca, cb);
        assert_eq!(without_seconds(ra.clone()), without_seconds(rb));
        assert_eq!(contents(&a.join("gina")), contents(&b.join("gina")));
        ra
    };
    let r = both(&[]);
    assert!(r["total"]["duplicate"].as_u64().unwrap() >= 30, "{r:#}");
    let r = both(&[]);
    assert_eq!(r["users"][0]["run"]["files_written"], 0);
    for n in names.iter().skip(5).step_by(11) {
        fs::remove_file(cur.join(n)).unwrap();
    }
    let bytes = fs::read(cur.join(&names[1])).unwrap();
    fs::write(cur.join("00000000.again:2,"), &bytes).unwrap();
    fs::write(
        src.join("new").join("1700000001.M2P2.host"),
        "From: a@example.org\nSubject: new\nDate: Tue, 14 Nov 2023 22:13:21 +0000\n\nhi\n",
    )
    .unwrap();
    let r = both(&["--max-size", "20000"]);
    assert!(
        r["users"][0]["run"]["stale_files_removed"]
            .as_u64()
            .unwrap()
            > 50,
        "{r:#}"
    );
}
