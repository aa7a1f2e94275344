//! End-to-end tests of `mailstage report`: the page is rendered by a real browser
//! (headless Chromium, installed by `.ci/run`), printed to PDF, and the numbers that
//! are actually on the page (`pdftotext`) are compared with counts computed here,
//! independently, from the manifests. Missing Chromium or pdftotext fails the test:
//! a report nobody can see is not tested.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::imap::{TestServer, run_json, staged};
use common::{fixtures, gen_maildir, mailstage, manifest};
use serde_json::Value;

/// A folder name that is markup, with an ampersand (`&-` in modified UTF-7) and
/// quotes: it must be shown as text, never interpreted.
const EVIL_DIR: &str = ".<b>Evil &- \"x\"";
const EVIL: &str = "<b>Evil & \"x\"";

fn find_program(names: &[&str]) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        for n in names {
            let p = dir.join(n);
            if p.is_file() {
                return p;
            }
        }
    }
    panic!(
        "none of {names:?} is installed: the report tests need a headless browser and \
         poppler-utils (.ci/run installs chromium and poppler-utils)"
    );
}

/// Headless Chromium with everything that would reach the network switched off.
fn chromium(profile: &Path) -> Command {
    let mut c = Command::new(find_program(&[
        "chromium",
        "chromium-browser",
        "google-chrome",
    ]));
    c.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
    ])
    .arg(format!("--user-data-dir={}", profile.display()));
    c
}

/// The text a reader sees: the page printed to PDF by Chromium, then `pdftotext`.
fn rendered_text(html: &Path, work: &Path) -> String {
    let pdf = work.join("report.pdf");
    let out = chromium(&work.join("profile"))
        .arg("--no-pdf-header-footer")
        .arg(format!("--print-to-pdf={}", pdf.display()))
        .arg(format!("file://{}", html.display()))
        .output()
        .unwrap();
    assert!(
        pdf.is_file() && fs::metadata(&pdf).unwrap().len() > 0,
        "chromium wrote no PDF: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(find_program(&["pdftotext"]))
        .arg("-layout")
        .arg(&pdf)
        .arg("-")
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

/// The DOM after Chromium parsed the page.
fn dom(html: &Path, work: &Path) -> String {
    let out = chromium(&work.join("profile-dom"))
        .arg("--dump-dom")
        .arg(format!("file://{}", html.display()))
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

/// Counts computed from a manifest with nothing but serde_json: the columns of the
/// report's user table, in its order.
fn expected_row(user_dir: &Path) -> [u64; 7] {
    let m = manifest(user_dir);
    let st = |s: &str| m.iter().filter(|e| e["status"] == s).count() as u64;
    let staged: Vec<&Value> = m.iter().filter(|e| e["status"] == "staged").collect();
    [
        m.len() as u64,
        st("staged"),
        staged
            .iter()
            .filter(|e| e.get("released").is_some())
            .count() as u64,
        staged
            .iter()
            .filter(|e| !e["repairs"].as_array().unwrap().is_empty())
            .count() as u64,
        st("quarantined"),
        st("duplicate"),
        st("excluded"),
    ]
}

/// (staged, duplicate, excluded) per target folder.
fn expected_folders(user_dir: &Path) -> BTreeMap<String, [u64; 3]> {
    let mut out: BTreeMap<String, [u64; 3]> = BTreeMap::new();
    for e in manifest(user_dir) {
        let col = match e["status"].as_str().unwrap() {
            "staged" => 0,
            "duplicate" => 1,
            "excluded" => 2,
            _ => continue,
        };
        out.entry(e["folder"].as_str().unwrap().to_owned())
            .or_default()[col] += 1;
    }
    out
}

/// The row of `name` in the rendered user table: the line whose first cell is the
/// name and which is followed by seven whole numbers.
fn rendered_row(text: &str, name: &str) -> [u64; 7] {
    let rows: Vec<[u64; 7]> = text
        .lines()
        .filter_map(|l| {
            let t: Vec<&str> = l.split_whitespace().collect();
            if t.first() != Some(&name) || t.len() < 8 {
                return None;
            }
            let n: Vec<u64> = t[1..8].iter().filter_map(|x| x.parse().ok()).collect();
            n.try_into().ok()
        })
        .collect();
    assert_eq!(rows.len(), 1, "one table row for {name} in:\n{text}");
    rows[0]
}

/// A batch of three: the fixture (repairs, quarantine, a duplicate), a generated
/// user with an excluded folder and a folder named like markup, and a copy of the
/// fixture converted with a size limit whose too-large messages were released.
fn batch(t: &Path) -> PathBuf {
    let staging = t.join("staging");
    let convert = |src: &Path, extra: &[&str]| {
        let out = mailstage()
            .arg("convert")
            .arg(src)
            .arg("--out")
            .arg(&staging)
            .args(extra)
            .output()
            .unwrap();
        assert!(
            matches!(out.status.code(), Some(0 | 1)),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    convert(&fixtures().join("maildir/alice"), &[]);

    let bob = t.join("src/bob");
    gen_maildir(&bob, 400, 42, &[]);
    let evil = bob.join(EVIL_DIR);
    for d in ["cur", "new", "tmp"] {
        fs::create_dir_all(evil.join(d)).unwrap();
    }
    let mut inbox: Vec<PathBuf> = fs::read_dir(bob.join("cur"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    inbox.sort();
    for p in inbox.iter().take(3) {
        fs::copy(p, evil.join("cur").join(p.file_name().unwrap())).unwrap();
    }
    convert(&bob, &["--exclude", "Trash"]);

    // carol: alice's mail converted with a size limit, her three too-large messages
    // then released with `mailstage quarantine release`.
    convert(
        &fixtures().join("maildir/alice"),
        &["--user", "carol", "--max-size", "600"],
    );
    let carol = staging.join("carol");
    for e in manifest(&carol) {
        if e["reason_kind"] == "too-large" {
            let out = mailstage()
                .args(["quarantine", "release"])
                .arg(&carol)
                .arg(&e["sha256"].as_str().unwrap()[..16])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    staging
}

#[test]
fn rendered_numbers_equal_the_manifests_and_user_text_stays_text() {
    let t = tempfile::tempdir().unwrap();
    let staging = batch(t.path());
    let html = t.path().join("report.html");
    let out = mailstage()
        .arg("report")
        .arg(&staging)
        .arg("-o")
        .arg(&html)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("3 users"));
    let page = fs::read_to_string(&html).unwrap();

    // self-contained: nothing to fetch, nothing to run
    for bad in ["<script", "src=", "href=", "@import", "url("] {
        assert!(!page.contains(bad), "the page contains {bad:?}");
    }

    // what a reader sees
    let text = rendered_text(&html, t.path());
    let mut total = [0u64; 7];
    let users = ["alice", "bob", "carol"];
    for u in users {
        let want = expected_row(&staging.join(u));
        assert_eq!(rendered_row(&text, u), want, "user table row of {u}");
        for (t, w) in total.iter_mut().zip(want) {
            *t += w;
        }
    }
    assert_eq!(rendered_row(&text, "total"), total);
    // the cases this batch exists for are really there
    let [_, _, released, repaired, quarantined, duplicate, excluded] = total;
    assert_eq!(released, 3, "carol's three released messages");
    assert!(repaired > 0 && quarantined > 0 && duplicate > 0 && excluded > 0);
    assert_eq!(
        expected_row(&staging.join("carol"))[4],
        2,
        "carol: the empty and the binary file stay quarantined"
    );
    // charts and sections rendered
    for s in [
        "What became of each user's messages",
        "Repairs by kind",
        "Quarantine reasons by kind",
        "added-message-id",
        "not-a-message",
        "Folders",
        "Nothing uploaded yet",
    ] {
        assert!(text.contains(s), "{s:?} not on the rendered page:\n{text}");
    }

    // the markup-like folder name is shown literally and is no element in the DOM
    assert!(
        text.contains(EVIL),
        "folder name not shown as text:\n{text}"
    );
    assert!(page.contains("&lt;b&gt;Evil &amp; &quot;x&quot;"));
    assert!(!page.contains(EVIL));
    let dom = dom(&html, t.path());
    assert!(dom.contains("&lt;b&gt;Evil &amp;"), "{dom}");
    assert!(
        !dom.contains("<b>"),
        "a <b> element was made from user data"
    );
    assert!(dom.contains("<svg"), "inline SVG charts");

    // --json: the same data, folder by folder
    let out = mailstage()
        .arg("report")
        .arg(&staging)
        .arg("--json")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let j: Value = serde_json::from_slice(&out.stdout).unwrap();
    for (i, u) in users.iter().enumerate() {
        let ju = &j["users"][i];
        assert_eq!(ju["user"], *u);
        let keys = [
            "messages",
            "staged",
            "released",
            "repaired",
            "quarantined",
            "duplicate",
            "excluded",
        ];
        let got: Vec<u64> = keys.iter().map(|k| ju[k].as_u64().unwrap()).collect();
        assert_eq!(got, expected_row(&staging.join(u)), "--json of {u}");
        let folders: BTreeMap<String, [u64; 3]> = ju["folders"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                (
                    f["folder"].as_str().unwrap().to_owned(),
                    [
                        f["staged"].as_u64().unwrap(),
                        f["duplicate"].as_u64().unwrap(),
                        f["excluded"].as_u64().unwrap(),
                    ],
                )
            })
            .collect();
        assert_eq!(
            folders,
            expected_folders(&staging.join(u)),
            "folders of {u}"
        );
    }
    assert!(
        j["users"][1]["folders"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["folder"] == EVIL)
    );
    // the report (from the manifest) and carol's summary.json (kept in step by
    // `quarantine release`) agree
    let summary: Value =
        serde_json::from_slice(&fs::read(staging.join("carol/summary.json")).unwrap()).unwrap();
    assert_eq!(summary["counts"]["quarantined"], 2);
    assert_eq!(j["users"][2]["quarantined"], 2);
    assert_eq!(summary["released"], 3);
    assert_eq!(j["users"][2]["released"], 3);

    // deterministic without --timestamp; --timestamp adds only the stamp
    let again = mailstage().arg("report").arg(&staging).output().unwrap();
    assert_eq!(String::from_utf8(again.stdout).unwrap(), page);
    let stamped = mailstage()
        .arg("report")
        .arg(&staging)
        .arg("--timestamp")
        .output()
        .unwrap();
    let stamped = String::from_utf8(stamped.stdout).unwrap();
    assert!(stamped.contains(" · generated 20"));
    assert_eq!(stamped.lines().count(), page.lines().count());
}

#[test]
fn no_user_tree_is_a_clear_error_with_exit_2() {
    let t = tempfile::tempdir().unwrap();
    fs::create_dir_all(t.path().join("empty/not-a-user")).unwrap();
    let out = mailstage()
        .arg("report")
        .arg(t.path().join("empty"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("holds no user staging tree"), "{err}");

    let out = mailstage()
        .arg("report")
        .arg(t.path().join("missing"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read"));

    // one user's tree instead of the staging root: said so
    let out = mailstage()
        .arg("convert")
        .arg(fixtures().join("maildir/alice"))
        .arg("--out")
        .arg(t.path().join("s"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let out = mailstage()
        .arg("report")
        .arg(t.path().join("s/alice"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("give its parent directory"));
}

fn report_json(staging: &Path) -> Value {
    let out = mailstage()
        .arg("report")
        .arg(staging)
        .arg("--json")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn upload_verify_and_rollback_show_in_the_report() {
    let (t, user) = staged(90, 5, &[]);
    let staging = t.path().join("staging");
    let srv = TestServer::start(&[]);
    let pw = srv.adduser("rep", "pw");

    let r = report_json(&staging);
    assert_eq!(r["users"][0]["mailboxes"], Value::Array(vec![]));

    let (code, up, err) = run_json("upload", &user, srv.port, "rep", &pw, &[]);
    assert_eq!(code, 0, "{err}");
    let r = report_json(&staging);
    let m = &r["users"][0]["mailboxes"][0];
    assert_eq!(m["state"], "complete", "{m}");
    assert_eq!(m["mailbox"], "rep");
    assert_eq!(m["upload"]["on_server"], up["staged"]);
    assert_eq!(m["verify"], Value::Null);

    let (code, v, err) = run_json("verify", &user, srv.port, "rep", &pw, &[]);
    assert_eq!(code, 0, "{err}");
    // verify leaves its totals beside the journal
    let journal = PathBuf::from(up["journal"].as_str().unwrap());
    let vfile = journal.with_extension("verify.json");
    let saved: Value = serde_json::from_slice(&fs::read(&vfile).unwrap()).unwrap();
    assert_eq!(saved["present"], v["present"]);
    assert_eq!(saved["ok"], true);
    let r = report_json(&staging);
    let m = &r["users"][0]["mailboxes"][0];
    assert_eq!(m["verify"]["present"], up["staged"], "{m}");
    assert_eq!(m["verify_stale"], false);

    // the page says so too, as rendered
    let html = t.path().join("r.html");
    let out = mailstage()
        .arg("report")
        .arg(&staging)
        .arg("-o")
        .arg(&html)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = rendered_text(&html, t.path());
    let staged_n = up["staged"].as_u64().unwrap();
    assert!(text.contains("complete"), "{text}");
    assert!(
        text.contains(&format!("OK: {staged_n} of {staged_n} present")),
        "{text}"
    );

    // a rollback after the verify: rolled back, and the verify is marked as older
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let (code, rb, err) = run_json("rollback", &user, srv.port, "rep", &pw, &[]);
    assert_eq!(code, 0, "{err}");
    let r = report_json(&staging);
    let m = &r["users"][0]["mailboxes"][0];
    assert_eq!(m["state"], "rolled back", "{m}");
    assert_eq!(m["rollback"]["removed"], rb["removed"]);
    assert_eq!(m["verify_stale"], true);
}
