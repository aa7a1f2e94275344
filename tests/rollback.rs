//! End-to-end tests of `mailstage verify` and `mailstage rollback` against Dovecot
//! (both layouts) and the Exchange proxy without UIDPLUS. Mailboxes are read and
//! changed with Python's imaplib (`tests/py/imapdump.py`, `tests/py/imapctl.py`).

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::imap::{Proxy, TestServer, command, dump, run_json, run_json_env, staged};
use common::{mailstage, manifest, staged_sha256};
use serde_json::Value;

fn ctl(port: u16, user: &str, pw: &Path, args: &[&str]) -> String {
    let out = Command::new("python3")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/imapctl.py"))
        .args([&port.to_string(), user])
        .arg(pw)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "imapctl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The whole mailbox: every message with UID, flags, date and body hash, and the
/// folder list — "byte for byte, flags included".
fn state(port: u16, user: &str, pw: &Path) -> (Vec<String>, String) {
    let mut msgs: Vec<String> = dump(port, user, pw).iter().map(|m| m.to_string()).collect();
    msgs.sort();
    // \Marked / \Unmarked (RFC 3501 §7.2.2) are the server's note that messages were
    // added since the folder was last selected, not the mailbox's content; after
    // killed uploads it depends on timing (Sent was left \Marked once under load).
    let folders = ctl(port, user, pw, &["folders"])
        .replace(" \\Marked", "")
        .replace("\\Marked ", "")
        .replace(" \\Unmarked", "")
        .replace("\\Unmarked ", "");
    (msgs, folders)
}

fn imap_date(rfc3339: &str, shift_days: i64) -> String {
    let d =
        chrono::DateTime::parse_from_rfc3339(rfc3339).unwrap() + chrono::Duration::days(shift_days);
    d.format("%d-%b-%Y %H:%M:%S %z").to_string()
}

/// Gives the user mail of their own before the upload: copies of staged messages
/// (same Message-ID) with other dates and with the same date, messages the user
/// marked \Deleted, and a folder of their own.
fn preexisting(user: &Path, port: u16, login: &str, pw: &Path, sent: &str) {
    let staged: Vec<Value> = manifest(user)
        .into_iter()
        .filter(|e| e["status"] == "staged")
        .collect();
    for (i, e) in staged.iter().take(6).enumerate() {
        let file = user.join(e["path"].as_str().unwrap());
        let date = e["internal_date"].as_str().unwrap();
        let (folder, shift, flags) = match i {
            0 | 1 => ("INBOX", 3, "(\\Seen)"), // same Message-ID, other date
            2 => ("INBOX", 0, "(\\Seen)"),     // identical copy, same date
            3 => ("INBOX", 5, "(\\Deleted)"),  // the user's deleted message
            4 => (sent, 0, "(\\Deleted \\Seen)"), // deleted, same date as staged
            _ => ("Projects", 1, "(\\Flagged)"), // a folder the user already has
        };
        if folder == "Projects" {
            ctl(port, login, pw, &["create", "Projects"]);
        }
        ctl(
            port,
            login,
            pw,
            &[
                "append",
                folder,
                file.to_str().unwrap(),
                &imap_date(date, shift),
                flags,
            ],
        );
    }
}

/// `piece`: messages per bucket for verify and rollback (`MAILSTAGE_PIECE`), so that
/// these small folders are matched in pieces as a large mailbox is.
fn rollback_restores_exactly(
    server_args: &[&str],
    proxy_args: Option<&[&str]>,
    sent: &str,
    seed: u32,
    piece: Option<&str>,
) {
    let env: Vec<(&str, &str)> = piece.map(|p| ("MAILSTAGE_PIECE", p)).into_iter().collect();
    let run_json = |cmd: &str, user: &Path, port: u16, login: &str, pw: &Path, extra: &[&str]| {
        run_json_env(cmd, user, port, login, pw, extra, &env)
    };
    let (_t, user) = staged(120, seed, &[]);
    let srv = TestServer::start(server_args);
    let pw = srv.adduser("r", "pw");
    preexisting(&user, srv.port, "r", &pw, sent);
    let before = state(srv.port, "r", &pw);
    let proxy = proxy_args.map(|a| Proxy::start(srv.port, a));
    let port = proxy.as_ref().map_or(srv.port, |p| p.port);

    let (code, rep, err) = run_json("upload", &user, port, "r", &pw, &[]);
    assert_eq!(code, 0, "{err}\n{rep}");
    let (code, v, err) = run_json("verify", &user, port, "r", &pw, &[]);
    assert_eq!(code, 0, "{err}\n{v}");
    assert_eq!(v["present"], v["expected"]);
    assert_eq!(v["other"], 6, "the user's own messages are 'other': {v}");
    assert_ne!(state(srv.port, "r", &pw), before);

    // dry run: lists, changes nothing
    let (code, dry, err) = run_json("rollback", &user, port, "r", &pw, &["--dry-run"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        dry["would_remove"].as_array().unwrap().len() as u64,
        rep["uploaded"].as_u64().unwrap()
    );
    let uidplus = proxy_args.is_none_or(|a| !a.contains(&"--no-uidplus"));
    if !uidplus {
        let (code, _, err) = run_json("rollback", &user, port, "r", &pw, &[]);
        assert_eq!(code, 1, "needs --force without UIDPLUS");
        assert!(err.contains("--force"), "{err}");
    }
    let (code, rb, err) = run_json("rollback", &user, port, "r", &pw, &["--force"]);
    assert_eq!(code, 0, "{err}\n{rb}");
    assert_eq!(rb["removed"], rep["uploaded"]);
    assert_eq!(
        state(srv.port, "r", &pw),
        before,
        "mailbox differs from before the upload"
    );

    // verify now shows none of ours; a second rollback has nothing to do
    let (code, v, _) = run_json("verify", &user, port, "r", &pw, &[]);
    assert_eq!(code, 1);
    assert_eq!(v["present"], 0);
    assert_eq!(v["other"], 6);
    let (code, rb, _) = run_json("rollback", &user, port, "r", &pw, &["--force"]);
    assert_eq!(code, 0);
    assert_eq!(rb["removed"], 0);
    // and a later upload starts clean
    let (code, rep2, _) = run_json("upload", &user, port, "r", &pw, &[]);
    assert_eq!(code, 0);
    assert_eq!(rep2["uploaded"], rep["uploaded"]);
}

#[test]
fn rollback_restores_the_mailbox_maildirpp() {
    rollback_restores_exactly(&[], None, "Sent", 21, None);
}

#[test]
fn rollback_restores_the_mailbox_exchange_names_fs() {
    rollback_restores_exactly(&["--exchange-names"], None, "Sent Items", 22, Some("2"));
}

#[test]
fn rollback_restores_the_mailbox_without_uidplus() {
    rollback_restores_exactly(
        &["--exchange-names"],
        Some(&["--exchange", "--no-uidplus"]),
        "Sent Items",
        23,
        Some("3"),
    );
}

#[test]
fn sigkilled_uploads_then_rollback_leave_only_the_users_mail() {
    let (_t, user) = staged(250, 24, &[]);
    let srv = TestServer::start(&[]);
    let pw = srv.adduser("k", "pw");
    preexisting(&user, srv.port, "k", &pw, "Sent");
    let before = state(srv.port, "k", &pw);
    let proxy = Proxy::start(srv.port, &["--delay-ms", "20"]);
    let mut rng = 0x9e37_79b9_u64;
    for _ in 0..4 {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let mut child = mailstage()
            .arg("upload")
            .arg(&user)
            .args([
                "--host",
                "127.0.0.1",
                "--port",
                &proxy.port.to_string(),
                "--plain-insecure",
            ])
            .args(["--login", "k", "--password-file"])
            .arg(&pw)
            .args(["--max-in-flight", "2"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(300 + rng % 900));
        let _ = child.kill();
        child.wait().unwrap();
    }
    assert!(
        dump(srv.port, "k", &pw).len() > before.0.len(),
        "something was uploaded"
    );
    let (code, rb, err) = run_json("rollback", &user, proxy.port, "k", &pw, &[]);
    assert_eq!(code, 0, "{err}\n{rb}");
    assert_eq!(state(srv.port, "k", &pw), before);
}

#[test]
fn verify_catches_what_changed_on_the_server() {
    let (_t, user) = staged(60, 25, &[]);
    let srv = TestServer::start(&[]);
    let pw = srv.adduser("v", "pw");
    let (code, _, err) = run_json("upload", &user, srv.port, "v", &pw, &[]);
    assert_eq!(code, 0, "{err}");
    let d = dump(srv.port, "v", &pw);
    let inbox: Vec<&Value> = d.iter().filter(|m| m["folder"] == "INBOX").collect();
    assert!(inbox.len() >= 5);
    let by_sha = |m: &Value| {
        manifest(&user)
            .into_iter()
            .find(|e| e["status"] == "staged" && staged_sha256(&user, e) == m["sha256"])
            .unwrap()
    };
    let uid = |m: &Value| m["uid"].as_u64().unwrap().to_string();
    // 1. deleted on the server
    ctl(srv.port, "v", &pw, &["expunge", "INBOX", &uid(inbox[0])]);
    // 2. a duplicate added
    let e1 = by_sha(inbox[1]);
    let f1 = user.join(e1["path"].as_str().unwrap());
    ctl(
        srv.port,
        "v",
        &pw,
        &[
            "append",
            "INBOX",
            f1.to_str().unwrap(),
            &imap_date(e1["internal_date"].as_str().unwrap(), 0),
            "()",
        ],
    );
    // 3. a flag changed
    ctl(
        srv.port,
        "v",
        &pw,
        &["flags", "INBOX", &uid(inbox[2]), "+FLAGS", "(\\Answered)"],
    );
    // 4. a wrong INTERNALDATE: replaced by a copy dated a day later
    let e3 = by_sha(inbox[3]);
    let f3 = user.join(e3["path"].as_str().unwrap());
    let flags3 = format!(
        "({})",
        inbox[3]["flags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap())
            .collect::<Vec<_>>()
            .join(" ")
    );
    ctl(
        srv.port,
        "v",
        &pw,
        &[
            "append",
            "INBOX",
            f3.to_str().unwrap(),
            &imap_date(e3["internal_date"].as_str().unwrap(), 1),
            &flags3,
        ],
    );
    ctl(srv.port, "v", &pw, &["expunge", "INBOX", &uid(inbox[3])]);
    // 5. the user's own new message
    let own = srv.dir.path().join("own.eml");
    std::fs::write(
        &own,
        b"From: x@example.org\r\nSubject: mine\r\nMessage-ID: <own@x>\r\n\r\nhello\r\n",
    )
    .unwrap();
    ctl(
        srv.port,
        "v",
        &pw,
        &[
            "append",
            "INBOX",
            own.to_str().unwrap(),
            "01-Jan-2020 10:00:00 +0000",
            "()",
        ],
    );

    let (code, v, err) = run_json("verify", &user, srv.port, "v", &pw, &[]);
    assert_eq!(code, 1, "{err}\n{v}");
    assert_eq!(v["missing"], 1, "{v}");
    assert_eq!(v["duplicated"], 1, "{v}");
    assert_eq!(v["wrong_flags"], 1, "{v}");
    assert_eq!(v["wrong_date"], 1, "{v}");
    assert_eq!(v["other"], 1, "{v}");
    let kinds = |k: &str| -> Vec<String> {
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["kind"] == k)
            .map(|f| f["path"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        kinds("missing"),
        vec![by_sha(inbox[0])["path"].as_str().unwrap().to_owned()]
    );
    assert_eq!(
        kinds("duplicated"),
        vec![e1["path"].as_str().unwrap().to_owned()]
    );
    assert_eq!(
        kinds("wrong_date"),
        vec![e3["path"].as_str().unwrap().to_owned()]
    );
    let list = std::fs::read_to_string(v["missing_list"].as_str().unwrap()).unwrap();
    assert_eq!(list.trim(), kinds("missing")[0]);
    // Matched in buckets of a few messages (as a large mailbox is), the report, its
    // list and the dry run are the same bytes.
    let raw = |cmd: &str, extra: &[&str], piece: Option<&str>| {
        let mut c = command(cmd, &user, srv.port, "v", &pw, extra);
        match piece {
            Some(p) => c.env("MAILSTAGE_PIECE", p),
            None => c.env_remove("MAILSTAGE_PIECE"),
        };
        let out = c.arg("--json").output().unwrap();
        assert!(out.status.code().unwrap_or(2) < 2, "{cmd} {piece:?}");
        let list = std::fs::read(v["missing_list"].as_str().unwrap()).unwrap();
        (out.stdout, list)
    };
    for (cmd, extra) in [("verify", &[][..]), ("rollback", &["--dry-run"][..])] {
        let whole = raw(cmd, extra, None);
        for piece in ["1", "2", "5"] {
            assert!(
                raw(cmd, extra, Some(piece)) == whole,
                "{cmd} in buckets of {piece} differs"
            );
        }
    }
    // the next upload sends exactly the missing one
    let (code, rep, _) = run_json("upload", &user, srv.port, "v", &pw, &[]);
    assert_eq!(code, 0);
    assert_eq!(rep["uploaded"], 1);
    let (_, v, _) = run_json("verify", &user, srv.port, "v", &pw, &[]);
    assert_eq!(v["missing"], 0);
    // rollback takes the extra copy and the re-dated one too (exact copies at or
    // above the floor, matched by content), and leaves the user's own message
    let (code, rb, err) = run_json("rollback", &user, srv.port, "v", &pw, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(rb["removed"].as_u64().unwrap() >= 60, "{rb}");
    let left = dump(srv.port, "v", &pw);
    let ids: Vec<&str> = left
        .iter()
        .map(|m| m["message_id"].as_str().unwrap_or(""))
        .collect();
    assert!(ids.contains(&"<own@x>"), "{ids:?}");
    // the re-dated copy is not an exact copy of a staged message: it stays, as "other"
    assert_eq!(left.len(), 2, "{ids:?}");
}
