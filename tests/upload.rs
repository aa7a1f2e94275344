//! End-to-end tests of `mailstage upload` against real servers: Dovecot from
//! `shared/tools/imap-testserver` (both layouts), and `imap-exchange-proxy` in front
//! of it for Exchange's behaviour and injected faults. The mailbox is read back with
//! Python's imaplib (`tests/py/imapdump.py`), not with mailstage's own client.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::imap::{Proxy, TestServer, dump, run_json, staged};
use common::{mailstage, manifest, staged_sha256};
use serde_json::Value;

fn upload_cmd(user_dir: &Path, port: u16, login: &str, pw: &Path, extra: &[&str]) -> Command {
    common::imap::command("upload", user_dir, port, login, pw, extra)
}

fn upload_json(
    user_dir: &Path,
    port: u16,
    login: &str,
    pw: &Path,
    extra: &[&str],
) -> (i32, Value, String) {
    run_json("upload", user_dir, port, login, pw, extra)
}

/// Where a staged folder lands on a server with the given special folders.
fn server_folder(staged: &str, exchange_names: bool) -> String {
    let (first, rest) = match staged.split_once('/') {
        Some((a, b)) => (a, Some(b)),
        None => (staged, None),
    };
    let first = if first.eq_ignore_ascii_case("Inbox") {
        "INBOX"
    } else if exchange_names {
        first
    } else {
        match first {
            "Sent Items" => "Sent",
            "Deleted Items" => "Trash",
            "Junk E-mail" | "Junk Email" => "Junk",
            other => other,
        }
    };
    match rest {
        Some(r) => format!("{first}/{r}"),
        None => first.to_owned(),
    }
}

const DROPPED: &[&str] = &[
    "\\Deleted",
    "NonJunk",
    "$MDNSent",
    "$NotJunk",
    "Junk",
    "$Junk",
];

type Key = (String, String, i64, Vec<String>);

/// The mailbox as it must be after a complete upload of `user_dir`.
fn expected(user_dir: &Path, exchange_names: bool) -> Vec<Key> {
    let mut v: Vec<Key> = manifest(user_dir)
        .iter()
        .filter(|e| e["status"] == "staged")
        .map(|e| {
            let mut flags: Vec<String> = e["flags"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f.as_str().unwrap().to_owned())
                .filter(|f| !DROPPED.contains(&f.as_str()))
                .collect();
            flags.sort();
            let date = chrono::DateTime::parse_from_rfc3339(e["internal_date"].as_str().unwrap())
                .unwrap()
                .timestamp();
            (
                server_folder(e["folder"].as_str().unwrap(), exchange_names),
                staged_sha256(user_dir, e),
                date,
                flags,
            )
        })
        .collect();
    v.sort();
    v
}

fn actual(dump: &[Value]) -> Vec<Key> {
    let mut v: Vec<Key> = dump
        .iter()
        .map(|m| {
            let flags = m["flags"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f.as_str().unwrap().to_owned())
                .collect();
            (
                m["folder"].as_str().unwrap().to_owned(),
                m["sha256"].as_str().unwrap().to_owned(),
                m["internal_date"].as_i64().unwrap(),
                flags,
            )
        })
        .collect();
    v.sort();
    v
}

/// Asserts the mailbox holds exactly the staged messages: each once, in the right
/// folder, byte-identical, with its INTERNALDATE and flags.
fn assert_mailbox_is_staging(user_dir: &Path, dump: &[Value], exchange_names: bool) {
    let want = expected(user_dir, exchange_names);
    let got = actual(dump);
    if want != got {
        let w: BTreeMap<_, usize> = want.iter().fold(BTreeMap::new(), |mut m, k| {
            *m.entry(k.clone()).or_default() += 1;
            m
        });
        let g: BTreeMap<_, usize> = got.iter().fold(BTreeMap::new(), |mut m, k| {
            *m.entry(k.clone()).or_default() += 1;
            m
        });
        let missing: Vec<_> = w
            .iter()
            .filter(|(k, n)| g.get(*k) != Some(n))
            .take(5)
            .collect();
        let extra: Vec<_> = g
            .iter()
            .filter(|(k, n)| w.get(*k) != Some(n))
            .take(5)
            .collect();
        panic!(
            "mailbox differs from staging: {} expected, {} on server\nexpected but not so: {missing:?}\non server but not so: {extra:?}",
            want.len(),
            got.len()
        );
    }
}

#[test]
fn generated_mailbox_arrives_exactly_and_a_rerun_sends_nothing() {
    let (_t, user) = staged(400, 11, &[]);
    let srv = TestServer::start(&[]);
    let pw = srv.adduser("u1", "pw-one");
    let (code, rep, err) = upload_json(&user, srv.port, "u1", &pw, &["--connections", "3"]);
    assert_eq!(code, 0, "{err}\n{rep}");
    let staged_n = manifest(&user)
        .iter()
        .filter(|e| e["status"] == "staged")
        .count() as u64;
    assert_eq!(rep["uploaded"], staged_n);
    assert_eq!(rep["complete"], true);
    // \Flagged goes by STORE, and the flagged ones are counted
    assert!(rep["flagged"].as_u64().unwrap() > 0);
    let first = dump(srv.port, "u1", &pw);
    assert_mailbox_is_staging(&user, &first, false);
    // special folders follow the server's special-use attributes
    assert!(first.iter().any(|m| m["folder"] == "Sent"));
    assert!(!first.iter().any(|m| m["folder"] == "Sent Items"));
    // each `stored` record carries the SHA-256 of the bytes that went out
    let by_path: BTreeMap<String, Value> = manifest(&user)
        .into_iter()
        .filter(|e| e["status"] == "staged")
        .map(|e| (e["path"].as_str().unwrap().to_owned(), e))
        .collect();
    let journals: Vec<_> = std::fs::read_dir(user.join("upload"))
        .unwrap()
        .map(|d| d.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    assert_eq!(journals.len(), 1, "{journals:?}");
    let mut appended = 0;
    for line in std::fs::read_to_string(&journals[0]).unwrap().lines() {
        let r: Value = serde_json::from_str(line).unwrap();
        if r["ev"] == "stored" && r["how"] == "append" {
            let e = &by_path[r["path"].as_str().unwrap()];
            assert_eq!(r["sha256"].as_str().unwrap(), staged_sha256(&user, e));
            appended += 1;
        }
    }
    assert_eq!(appended, staged_n);

    // a re-run uploads nothing and changes nothing
    let (code, rep, err) = upload_json(&user, srv.port, "u1", &pw, &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(rep["uploaded"], 0);
    assert_eq!(rep["already_present"], staged_n);
    assert_eq!(actual(&dump(srv.port, "u1", &pw)), actual(&first));
    // no password in the journal or the report
    let journal_dir = user.join("upload");
    for e in std::fs::read_dir(&journal_dir).unwrap() {
        let text = std::fs::read_to_string(e.unwrap().path()).unwrap();
        assert!(!text.contains("pw-one"));
    }
}

#[test]
fn exchange_like_server_without_uidplus() {
    let (_t, user) = staged(200, 12, &[]);
    let srv = TestServer::start(&["--exchange-names"]);
    let pw = srv.adduser("u2", "pw");
    let proxy = Proxy::start(srv.port, &["--exchange", "--no-uidplus"]);
    let (code, rep, err) = upload_json(&user, proxy.port, "u2", &pw, &[]);
    assert_eq!(code, 0, "{err}\n{rep}");
    let d = dump(srv.port, "u2", &pw);
    assert_mailbox_is_staging(&user, &d, true);
    // without APPENDUID the UIDs were learned afterwards, one per message
    let journal = std::fs::read_dir(user.join("upload"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .unwrap();
    let text = std::fs::read_to_string(journal).unwrap();
    let uids = text.lines().filter(|l| l.contains(r#""ev":"uid""#)).count();
    assert_eq!(uids as u64, rep["uploaded"].as_u64().unwrap());
    let (code, rep, _) = upload_json(&user, proxy.port, "u2", &pw, &[]);
    assert_eq!(code, 0);
    assert_eq!(rep["uploaded"], 0);
    let stats = proxy.stop();
    assert_eq!(
        stats["rejected"].as_object().map_or(0, |m| m.len()),
        0,
        "{stats}"
    );
}

/// Runs upload until it reports complete (at most `max` runs).
fn upload_until_complete(
    user: &Path,
    port: u16,
    login: &str,
    pw: &Path,
    extra: &[&str],
    max: usize,
) -> Vec<Value> {
    let mut reports = Vec::new();
    for _ in 0..max {
        let (code, rep, err) = upload_json(user, port, login, pw, extra);
        assert!(code == 0 || code == 1, "exit {code}: {err}");
        let done = rep["complete"] == true;
        reports.push(rep);
        if done {
            return reports;
        }
    }
    panic!("not complete after {max} runs: {reports:?}");
}

#[test]
fn sigkill_at_random_points_then_rerun_gives_each_message_once() {
    let (_t, user) = staged(300, 13, &[]);
    let srv = TestServer::start(&[]);
    let pw = srv.adduser("u3", "pw");
    // latency makes the run long enough to be killed in the middle of things
    let proxy = Proxy::start(srv.port, &["--delay-ms", "20"]);
    let mut rng = 0x2545_f491_u64;
    let mut kills = 0;
    for _ in 0..6 {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let wait = 200 + rng % 1000;
        let mut child = upload_cmd(&user, proxy.port, "u3", &pw, &["--max-in-flight", "2"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(wait));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL
            kills += 1;
        }
        child.wait().unwrap();
    }
    assert!(kills >= 3, "the runs were too short to be killed ({kills})");
    let reports = upload_until_complete(&user, proxy.port, "u3", &pw, &[], 2);
    let last = reports.last().unwrap();
    assert_eq!(last["complete"], true);
    assert_mailbox_is_staging(&user, &dump(srv.port, "u3", &pw), false);
}

#[test]
fn every_fault_mode_of_the_proxy_ends_with_each_message_once() {
    let (_t, user) = staged(150, 14, &[]);
    let modes: &[&[&str]] = &[
        &["--exchange", "--throttle-every", "7", "--backoff-ms", "30"],
        &["--exchange", "--drop-after-appends", "9", "--repeat-faults"],
        &[
            "--exchange",
            "--no-uidplus",
            "--drop-after-appends",
            "11",
            "--repeat-faults",
        ],
        &["--exchange", "--drop-mid-literal", "8", "--repeat-faults"],
        &["--fault-seed", "5", "--drop-probability", "0.2"],
    ];
    for (i, mode) in modes.iter().enumerate() {
        let exchange_names = mode.contains(&"--exchange");
        let srv = TestServer::start(if exchange_names {
            &["--exchange-names"]
        } else {
            &[]
        });
        let login = format!("f{i}");
        let pw = srv.adduser(&login, "pw");
        let proxy = Proxy::start(srv.port, mode);
        // a fresh journal per mode: each mode is its own server
        let _ = std::fs::remove_dir_all(user.join("upload"));
        let reports = upload_until_complete(
            &user,
            proxy.port,
            &login,
            &pw,
            &["--max-reconnects", "50"],
            3,
        );
        let stats = proxy.stop();
        eprintln!("mode {mode:?}: {stats}\n{reports:?}");
        assert_mailbox_is_staging(&user, &dump(srv.port, &login, &pw), exchange_names);
        // the fault really happened
        let faults = stats["drops"]
            .as_object()
            .map_or(0, |m| m.values().filter_map(Value::as_u64).sum::<u64>())
            + stats["throttled"].as_u64().unwrap_or(0)
            + reports
                .iter()
                .map(|r| r["throttled"].as_u64().unwrap_or(0))
                .sum::<u64>();
        assert!(faults > 0, "mode {mode:?}: no fault injected: {stats}");
    }
}

#[test]
fn refused_messages_are_listed_and_the_rest_arrives_despite_bye() {
    let (_t, user) = staged(150, 15, &[]);
    let srv = TestServer::start(&["--exchange-names"]);
    let pw = srv.adduser("u5", "pw");
    let limit = 20_000u64;
    // Exchange answers NO to each oversize message and says BYE after 3 errors.
    let proxy = Proxy::start(
        srv.port,
        &[
            "--exchange",
            "--max-size",
            &limit.to_string(),
            "--bye-after-errors",
            "3",
        ],
    );
    let (code, rep, err) = upload_json(&user, proxy.port, "u5", &pw, &["--max-reconnects", "50"]);
    assert_eq!(code, 1, "{err}\n{rep}");
    assert_eq!(rep["complete"], false);
    let too_big: Vec<String> = manifest(&user)
        .iter()
        .filter(|e| e["status"] == "staged" && e["size"].as_u64().unwrap() > limit)
        .map(|e| e["path"].as_str().unwrap().to_owned())
        .collect();
    assert!(too_big.len() > 3, "test data needs several big messages");
    let mut failed: Vec<String> = rep["failed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap().to_owned())
        .collect();
    failed.sort();
    let mut want = too_big.clone();
    want.sort();
    assert_eq!(failed, want);
    for f in rep["failed"].as_array().unwrap() {
        assert!(
            f["reason"].as_str().unwrap().contains("Maximum size"),
            "server's words kept: {f}"
        );
    }
    assert!(
        rep["reconnects"].as_u64().unwrap() >= 1,
        "BYE led to a reconnect"
    );
    // everything else is there exactly once
    let d = dump(srv.port, "u5", &pw);
    let mut want: Vec<Key> = expected(&user, true);
    let big_shas: Vec<String> = manifest(&user)
        .iter()
        .filter(|e| e["status"] == "staged" && e["size"].as_u64().unwrap() > limit)
        .map(|e| staged_sha256(&user, e))
        .collect();
    want.retain(|k| !big_shas.contains(&k.1));
    assert_eq!(actual(&d), want);
    // --max-size locally: not even sent, same list
    let (code, rep, _) = upload_json(
        &user,
        proxy.port,
        "u5",
        &pw,
        &["--max-size", &limit.to_string()],
    );
    assert_eq!(code, 1);
    assert_eq!(rep["uploaded"], 0);
    assert_eq!(rep["failed"].as_array().unwrap().len(), too_big.len());
    assert!(
        rep["failed"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("not sent")
    );
}

#[test]
fn appendlimit_is_honoured_without_sending_the_big_ones() {
    // RFC 7889: a server announcing APPENDLIMIT=N refuses larger APPENDs; mailstage
    // must not send them at all (no literal of the size is ever started).
    let (_t, user) = staged(150, 15, &[]);
    let srv = TestServer::start(&[]);
    let pw = srv.adduser("u9", "pw");
    let limit = 20_000u64;
    let caps = format!(
        "IMAP4 IMAP4rev1 AUTH=PLAIN UIDPLUS CHILDREN IDLE NAMESPACE LITERAL+ APPENDLIMIT={limit}"
    );
    let proxy = Proxy::start(
        srv.port,
        &["--capabilities", &caps, "--max-size", &limit.to_string()],
    );
    let (code, rep, err) = upload_json(&user, proxy.port, "u9", &pw, &[]);
    assert_eq!(code, 1, "{err}\n{rep}");
    let mut too_big: Vec<String> = manifest(&user)
        .iter()
        .filter(|e| e["status"] == "staged" && e["size"].as_u64().unwrap() > limit)
        .map(|e| e["path"].as_str().unwrap().to_owned())
        .collect();
    too_big.sort();
    assert!(too_big.len() > 3, "test data needs several big messages");
    let mut failed: Vec<String> = rep["failed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            assert!(f["reason"].as_str().unwrap().contains("APPENDLIMIT"), "{f}");
            f["path"].as_str().unwrap().to_owned()
        })
        .collect();
    failed.sort();
    assert_eq!(failed, too_big);
    let stats = proxy.stop();
    assert!(stats["appends_ok"].as_u64().unwrap() > 0, "{stats}");
    assert_eq!(
        stats["rejected_total"].as_u64(),
        Some(0),
        "an oversize message was sent: {stats}"
    );
    let d = dump(srv.port, "u9", &pw);
    assert_eq!(d.len() as u64, rep["uploaded"].as_u64().unwrap());
    assert_eq!(
        d.len(),
        expected(&user, false).len() - too_big.len(),
        "everything else arrived"
    );
}

#[test]
fn tls_needs_a_trusted_certificate() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("staging");
    let st = mailstage()
        .arg("convert")
        .arg(common::fixtures().join("maildir/alice"))
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(st.status.code(), Some(1));
    let user = out.join("alice");
    let srv = TestServer::start(&[]);
    let pw = srv.adduser("alice", "s3cret-tls");
    let base = |extra: &[&str]| {
        let mut c = mailstage();
        c.arg("upload")
            .arg(&user)
            .args([
                "--host",
                "127.0.0.1",
                "--port",
                &srv.imaps_port.to_string(),
                "--tls",
            ])
            .args(["--login", "alice", "--password-file"])
            .arg(&pw)
            .args(extra);
        c.output().unwrap()
    };
    let refused = base(&[]);
    assert_eq!(refused.status.code(), Some(2));
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("certificate") && err.contains("--ca-file"),
        "{err}"
    );
    assert!(
        !user.join("upload").exists()
            || std::fs::read_dir(user.join("upload")).unwrap().count() == 0
    );

    let ok = base(&["--ca-file", srv.ca.to_str().unwrap()]);
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let d = dump(srv.port, "alice", &pw);
    assert_mailbox_is_staging(&user, &d, false);
    // the fixture's flagged message got \Flagged by STORE; \Deleted and NonJunk were left off
    assert!(d.iter().any(|m| {
        m["flags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f == "\\Flagged")
    }));
    assert!(!d.iter().any(|m| {
        m["flags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f == "\\Deleted" || f == "NonJunk")
    }));

    // STARTTLS on the plain port, same CA
    let st = mailstage()
        .arg("upload")
        .arg(&user)
        .args([
            "--host",
            "127.0.0.1",
            "--port",
            &srv.port.to_string(),
            "--starttls",
        ])
        .args(["--login", "alice", "--password-file"])
        .arg(&pw)
        .arg("--ca-file")
        .arg(&srv.ca)
        .output()
        .unwrap();
    assert_eq!(
        st.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    assert!(String::from_utf8_lossy(&st.stdout).contains("uploaded 0"));
}

#[test]
fn wrong_password_is_one_clear_error_and_dry_run_sends_nothing() {
    let (_t, user) = staged(40, 16, &[]);
    let srv = TestServer::start(&[]);
    let good = srv.adduser("u7", "right-one");
    let bad = srv.dir.path().join("bad.pw");
    std::fs::write(&bad, "wrong-one\n").unwrap();
    let out = upload_cmd(&user, srv.port, "u7", &bad, &[])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("refused") && err.contains("password"), "{err}");
    assert!(!err.contains("wrong-one"));

    // the password from the environment works too; dry run: nothing created or sent
    let out = mailstage()
        .arg("upload")
        .arg(&user)
        .args([
            "--host",
            "127.0.0.1",
            "--port",
            &srv.port.to_string(),
            "--plain-insecure",
        ])
        .args(["--login", "u7", "--password-env", "MS_TEST_PW", "--dry-run"])
        .env("MS_TEST_PW", "right-one")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("would upload"), "{text}");
    assert!(dump(srv.port, "u7", &good).is_empty());
    assert!(!user.join("upload").exists(), "a dry run writes no journal");
    let folders_after = Command::new("python3")
        .arg("-c")
        .arg(format!(
            "import imaplib;m=imaplib.IMAP4('127.0.0.1',{});m.login('u7','right-one');print(len(m.list()[1]))",
            srv.port
        ))
        .output()
        .unwrap();
    // only the server's own auto-created special folders and INBOX
    assert_eq!(String::from_utf8_lossy(&folders_after.stdout).trim(), "6");
}

#[test]
fn excluded_folders_and_case_collisions_are_reported_not_fatal() {
    let (_t, user) = staged(120, 17, &[]);
    let srv = TestServer::start(&["--exchange-names"]);
    let pw = srv.adduser("u8", "pw");
    // the user already has "projects" (lower case): staged "Projects" collides
    let py = format!(
        "import imaplib;m=imaplib.IMAP4('127.0.0.1',{});m.login('u8','pw');print(m.create('projects'))",
        srv.port
    );
    assert!(
        Command::new("python3")
            .args(["-c", &py])
            .status()
            .unwrap()
            .success()
    );
    let proxy = Proxy::start(srv.port, &["--exchange"]);
    let (code, rep, err) = upload_json(
        &user,
        proxy.port,
        "u8",
        &pw,
        &["--exclude-folder", "Deleted Items"],
    );
    assert_eq!(code, 1, "{err}");
    let folders = rep["folders"].as_array().unwrap();
    let projects = folders.iter().find(|f| f["folder"] == "Projects").unwrap();
    assert!(
        projects["problem"]
            .as_str()
            .unwrap()
            .contains("only in case")
    );
    let trash = folders
        .iter()
        .find(|f| f["folder"] == "Deleted Items")
        .unwrap();
    assert!(trash["problem"].as_str().unwrap().contains("excluded"));
    assert!(rep["skipped"].as_u64().unwrap() > 0);
    let d = dump(srv.port, "u8", &pw);
    assert!(!d.iter().any(|m| m["folder"] == "Deleted Items"));
    assert!(
        !d.iter()
            .any(|m| m["folder"].as_str().unwrap().starts_with("Projects"))
    );
    assert!(d.iter().any(|m| m["folder"] == "INBOX"));
}

#[test]
fn batch_users_and_a_reserved_folder_name() {
    let t = tempfile::tempdir().unwrap();
    // two users from the fixture; bob gets a top-level "Files" folder, which
    // Exchange Online reserves
    let src = t.path().join("src");
    for u in ["alice", "bob"] {
        common::copy_tree(&common::fixtures().join("maildir/alice"), &src.join(u));
    }
    let files = src.join("bob/.Files");
    for d in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(files.join(d)).unwrap();
    }
    let one = std::fs::read_dir(src.join("bob/cur"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::copy(&one, files.join("cur").join(one.file_name().unwrap())).unwrap();
    let staging = t.path().join("staging");
    for u in ["alice", "bob"] {
        let st = mailstage()
            .arg("convert")
            .arg(src.join(u))
            .arg("--out")
            .arg(&staging)
            .output()
            .unwrap();
        assert_eq!(
            st.status.code(),
            Some(1),
            "{}",
            String::from_utf8_lossy(&st.stderr)
        );
    }
    let srv = TestServer::start(&["--exchange-names"]);
    let pa = srv.adduser("alice", "pa");
    let pb = srv.adduser("bob", "pb");
    let proxy = Proxy::start(srv.port, &["--exchange"]);
    let csv = t.path().join("users.csv");
    std::fs::write(
        &csv,
        format!(
            "user,login,password_file\nalice,alice,{}\nbob,bob,{}\n",
            pa.display(),
            pb.display()
        ),
    )
    .unwrap();
    let out = mailstage()
        .args(["upload", "--users"])
        .arg(&csv)
        .arg("--staging")
        .arg(&staging)
        .args([
            "--host",
            "127.0.0.1",
            "--port",
            &proxy.port.to_string(),
            "--plain-insecure",
            "--json",
        ])
        .output()
        .unwrap();
    // bob's Files folder is refused: exit 1, with the server's words, the rest arrives
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reports: Value = serde_json::from_slice(&out.stdout).unwrap();
    let reports = reports.as_array().unwrap();
    assert_eq!(reports.len(), 2);
    assert_eq!(reports[0]["mailbox"], "alice");
    assert_eq!(reports[0]["complete"], true);
    let bob = &reports[1];
    assert_eq!(bob["complete"], false);
    let f = bob["folders"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["folder"] == "Files")
        .unwrap();
    assert!(
        f["problem"]
            .as_str()
            .unwrap()
            .contains("Folder name is reserved"),
        "{f}"
    );
    assert_mailbox_is_staging(&staging.join("alice"), &dump(srv.port, "alice", &pa), true);
    let d = dump(srv.port, "bob", &pb);
    assert_eq!(d.len() as u64, bob["uploaded"].as_u64().unwrap());
    assert!(!d.iter().any(|m| m["folder"] == "Files"));
}

#[test]
fn admin_login_opens_the_users_mailbox() {
    let (_t, user) = staged(30, 18, &[]);
    let srv = TestServer::start(&[]);
    let pw_user = srv.adduser("carol", "carols-own");
    // a Dovecot master user (SASL PLAIN with an authorisation identity), added to this
    // throwaway server's configuration
    let dir = srv.dir.path().join("srv");
    let conf = dir.join("dovecot.conf");
    let masters = dir.join("masters");
    std::fs::write(&masters, "migrator:{PLAIN}admin-secret\n").unwrap();
    std::fs::set_permissions(
        &masters,
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .unwrap();
    let text = std::fs::read_to_string(&conf).unwrap();
    let text = text.replacen(
        "passdb {",
        &format!(
            "passdb {{\n  driver = passwd-file\n  args = scheme=PLAIN username_format=%u {}\n  master = yes\n}}\npassdb {{",
            masters.display()
        ),
        1,
    );
    std::fs::write(&conf, text).unwrap();
    let st = Command::new(common::shared().join("tools/imap-testserver"))
        .arg("doveadm")
        .arg(&dir)
        .arg("reload")
        .status()
        .unwrap();
    assert!(st.success());
    std::thread::sleep(Duration::from_millis(500));
    let admin_pw = srv.dir.path().join("admin.pw");
    std::fs::write(&admin_pw, "admin-secret\n").unwrap();
    std::fs::set_permissions(
        &admin_pw,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let (code, rep, err) = upload_json(
        &user,
        srv.port,
        "carol",
        &admin_pw,
        &["--admin-login", "migrator"],
    );
    assert_eq!(code, 0, "{err}\n{rep}");
    assert_eq!(rep["mailbox"], "carol");
    assert_mailbox_is_staging(&user, &dump(srv.port, "carol", &pw_user), false);
    // a wrong admin password names the admin and what it needs
    let bad = srv.dir.path().join("bad.pw");
    std::fs::write(&bad, "nope\n").unwrap();
    let (code, _, err) = upload_json(
        &user,
        srv.port,
        "carol",
        &bad,
        &["--admin-login", "migrator"],
    );
    assert_eq!(code, 2);
    assert!(
        err.contains("migrator") && err.contains("master user"),
        "{err}"
    );
}

/// Bigger than the size above which literals are synchronizing and streamed from the
/// staged file (`SYNC_LITERAL_OVER`, 256 KiB).
const STREAMED_OVER: u64 = 256 * 1024;

/// One message of about `size` bytes (LF line endings, as an MDA writes it).
fn message_of(n: usize, size: usize) -> Vec<u8> {
    let mut m = format!(
        "From: a{n}@example.org\nTo: b@example.org\nSubject: big {n}\n\
         Date: Mon, 4 Jan 2010 09:{:02}:02 +0100\nMessage-ID: <big-{n}@example.org>\n\
         MIME-Version: 1.0\nContent-Type: text/plain; charset=us-ascii\n\n",
        n % 60
    )
    .into_bytes();
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut x = 0x9e37_79b9_u32.wrapping_mul(n as u32 + 1);
    while m.len() < size {
        for _ in 0..76 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            m.push(alphabet[(x % 64) as usize]);
        }
        m.push(b'\n');
    }
    m
}

/// Converts a Maildir of small messages and big ones (INBOX and `.Archive`): the big
/// ones are streamed by upload. Returns (tempdir, user staging dir).
fn staged_with_big_messages(sizes: &[usize]) -> (tempfile::TempDir, std::path::PathBuf) {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src/u");
    for (i, &size) in sizes.iter().enumerate() {
        let dir = if i % 3 == 2 {
            src.join(".Archive")
        } else {
            src.clone()
        };
        for sub in ["cur", "new", "tmp"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        if dir != src {
            std::fs::write(dir.join("maildirfolder"), b"").unwrap();
        }
        let name = format!("{}.M{i}P1.host:2,S", 1_262_592_902 + i);
        std::fs::write(dir.join("cur").join(name), message_of(i, size)).unwrap();
    }
    let out = mailstage()
        .arg("convert")
        .arg(&src)
        .arg("--out")
        .arg(t.path().join("staging"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "convert failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let user = t.path().join("staging/u");
    (t, user)
}

const BIG_AND_SMALL: &[usize] = &[
    3_000, 300_000, 1_500_000, 800, 2_700_000, 262_000, 262_145, 5_000, 700_000, 12_000, 4_100_000,
    400_000,
];

/// Asserts each `stored`/append record of the journal carries the SHA-256 of the
/// staged file; returns how many big (streamed) messages were among them.
fn assert_journal_hashes(user: &Path) -> usize {
    let by_path: BTreeMap<String, Value> = manifest(user)
        .into_iter()
        .filter(|e| e["status"] == "staged")
        .map(|e| (e["path"].as_str().unwrap().to_owned(), e))
        .collect();
    let journal = std::fs::read_dir(user.join("upload"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .unwrap();
    let mut big = 0;
    for line in std::fs::read_to_string(journal).unwrap().lines() {
        let r: Value = serde_json::from_str(line).unwrap();
        if r["ev"] == "stored" && r["how"] == "append" {
            let e = &by_path[r["path"].as_str().unwrap()];
            assert_eq!(r["sha256"].as_str().unwrap(), staged_sha256(user, e), "{r}");
            if e["size"].as_u64().unwrap() > STREAMED_OVER {
                big += 1;
            }
        }
    }
    big
}

#[test]
fn big_messages_are_streamed_byte_identical_to_dovecot_and_through_the_exchange_proxy() {
    let (_t, user) = staged_with_big_messages(BIG_AND_SMALL);
    let big = manifest(&user)
        .iter()
        .filter(|e| e["size"].as_u64().unwrap() > STREAMED_OVER)
        .count();
    assert!(big >= 6, "test data needs big messages: {big}");
    // plain Dovecot (LITERAL+, MULTIAPPEND): small ones grouped, big ones alone
    let srv = TestServer::start(&[]);
    let pw = srv.adduser("s1", "pw");
    let (code, rep, err) = upload_json(&user, srv.port, "s1", &pw, &[]);
    assert_eq!(code, 0, "{err}\n{rep}");
    assert_eq!(rep["uploaded"], BIG_AND_SMALL.len() as u64);
    assert_mailbox_is_staging(&user, &dump(srv.port, "s1", &pw), false);
    assert_eq!(assert_journal_hashes(&user), big);
    let (code, rep, _) = upload_json(&user, srv.port, "s1", &pw, &[]);
    assert_eq!(code, 0);
    assert_eq!(rep["uploaded"], 0);

    // the Exchange proxy: no MULTIAPPEND, LITERAL+; synchronizing literals answered
    // by the proxy's own `+`, forwarded whole
    let _ = std::fs::remove_dir_all(user.join("upload"));
    let srv = TestServer::start(&["--exchange-names"]);
    let pw = srv.adduser("s2", "pw");
    let proxy = Proxy::start(srv.port, &["--exchange", "--upstream-sync-literals"]);
    let (code, rep, err) = upload_json(&user, proxy.port, "s2", &pw, &[]);
    assert_eq!(code, 0, "{err}\n{rep}");
    let stats = proxy.stop();
    assert_eq!(stats["rejected_total"].as_u64().unwrap_or(0), 0, "{stats}");
    assert_mailbox_is_staging(&user, &dump(srv.port, "s2", &pw), true);
    assert_eq!(assert_journal_hashes(&user), big);
}

#[test]
fn big_staged_file_changed_after_convert_fails_cleanly() {
    let (_t, user) = staged_with_big_messages(BIG_AND_SMALL);
    let entries = manifest(&user);
    let bigs: Vec<&Value> = entries
        .iter()
        .filter(|e| e["size"].as_u64().unwrap() > STREAMED_OVER)
        .collect();
    // one grows, one shrinks (each by a byte: only the size tells)
    let grown = bigs[0]["path"].as_str().unwrap().to_owned();
    let shrunk = bigs[1]["path"].as_str().unwrap().to_owned();
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(user.join(&grown))
        .unwrap();
    std::io::Write::write_all(&mut f, b"x").unwrap();
    drop(f);
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(user.join(&shrunk))
        .unwrap();
    f.set_len(bigs[1]["size"].as_u64().unwrap() - 1).unwrap();
    drop(f);
    let srv = TestServer::start(&[]);
    let pw = srv.adduser("s3", "pw");
    let (code, rep, err) = upload_json(&user, srv.port, "s3", &pw, &[]);
    assert_eq!(code, 1, "{err}\n{rep}");
    assert_eq!(rep["reconnects"], 0, "{rep}");
    let mut failed: Vec<String> = rep["failed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            assert!(
                f["reason"]
                    .as_str()
                    .unwrap()
                    .contains("changed since convert"),
                "{f}"
            );
            f["path"].as_str().unwrap().to_owned()
        })
        .collect();
    failed.sort();
    let mut want = vec![grown, shrunk];
    want.sort();
    assert_eq!(failed, want);
    let d = dump(srv.port, "s3", &pw);
    assert_eq!(d.len(), BIG_AND_SMALL.len() - 2);
    assert_eq!(rep["uploaded"], d.len() as u64);
}

#[test]
fn drop_mid_literal_of_streamed_messages_recovers_without_duplicates() {
    let (_t, user) = staged_with_big_messages(BIG_AND_SMALL);
    for (i, extra) in [&["--exchange"][..], &["--exchange", "--no-uidplus"]]
        .iter()
        .enumerate()
    {
        let _ = std::fs::remove_dir_all(user.join("upload"));
        let srv = TestServer::start(&["--exchange-names"]);
        let login = format!("d{i}");
        let pw = srv.adduser(&login, "pw");
        let log = srv.dir.path().join("proxy.log");
        let mut args = extra.to_vec();
        let log_arg = log.to_str().unwrap();
        args.extend([
            "--drop-mid-literal",
            "3",
            "--repeat-faults",
            "--log",
            log_arg,
        ]);
        let proxy = Proxy::start(srv.port, &args);
        let reports = upload_until_complete(
            &user,
            proxy.port,
            &login,
            &pw,
            &["--max-reconnects", "50"],
            3,
        );
        let stats = proxy.stop();
        assert_mailbox_is_staging(&user, &dump(srv.port, &login, &pw), true);
        // a streamed literal really was cut half-way
        let cut_big = std::fs::read_to_string(&log)
            .unwrap()
            .lines()
            .filter(|l| l.contains("dropped mid-literal"))
            .filter_map(|l| {
                l.split("lit=")
                    .nth(1)?
                    .split(' ')
                    .next()?
                    .parse::<u64>()
                    .ok()
            })
            .filter(|&n| n > STREAMED_OVER)
            .count();
        assert!(cut_big > 0, "{stats}\n{reports:?}");
        assert!(
            reports
                .iter()
                .map(|r| r["reconnects"].as_u64().unwrap())
                .sum::<u64>()
                > 0
        );
    }
}
