//! Progress bars appear on a terminal and nowhere else: every long-running
//! subcommand is run with stderr into a pipe (as in a log or a cron job) and its
//! stderr must hold no bar, no carriage return and no escape sequence, while stdout
//! still ends with the human summary. The same commands run in a pseudo-terminal
//! (`script`, util-linux) do draw a bar, so the check above can see one.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::imap::{TestServer, command, staged};
use common::{fixtures, gen_maildir, mailstage};

/// What indicatif would leave in a pipe: redraws (`\r`), cursor and colour escapes,
/// bar glyphs, the templates' words.
fn assert_quiet(what: &str, out: &Output) {
    let err = String::from_utf8_lossy(&out.stderr);
    for noise in ["\r", "\x1b[", "█", "░", "▏", "━", "msgs", "ETA", "[00:"] {
        assert!(
            !err.contains(noise),
            "{what}: progress noise {noise:?} on a piped stderr:\n{err}"
        );
    }
}

fn bin() -> String {
    env!("CARGO_BIN_EXE_mailstage").to_owned()
}

/// Runs `sh -c cmd` with stdout and stderr on a pseudo-terminal and returns what the
/// terminal got.
fn in_terminal(cmd: &str) -> String {
    let out = Command::new("script")
        .args(["-q", "-e", "-c", cmd, "/dev/null"])
        .env("TERM", "xterm")
        .output()
        .expect("script (util-linux) runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn assert_bar(what: &str, tty: &str, label: &str) {
    assert!(
        tty.contains(label) && (tty.contains('\r') || tty.contains("\x1b[")),
        "{what}: no progress bar ({label:?}) on a terminal:\n{tty}"
    );
}

#[test]
fn offline_commands_print_no_progress_into_pipes() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src/gen");
    gen_maildir(&src, 250, 3, &[]);
    let staging = t.path().join("staging");
    let run = |c: &mut Command| c.output().unwrap();

    let out = run(mailstage()
        .arg("convert")
        .arg(&src)
        .arg("--out")
        .arg(&staging));
    assert_eq!(out.status.code(), Some(0));
    assert_quiet("convert", &out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("gen "));

    // batch convert
    let csv = t.path().join("users.csv");
    std::fs::write(
        &csv,
        format!(
            "name,maildir\nalice,{}\ngen2,{}\n",
            fixtures().join("maildir/alice").display(),
            src.display()
        ),
    )
    .unwrap();
    let out = run(mailstage()
        .arg("convert")
        .arg("--users")
        .arg(&csv)
        .arg("--out")
        .arg(&staging));
    assert_eq!(out.status.code(), Some(1), "alice has quarantined files");
    assert_quiet("convert --users", &out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("TOTAL"));

    let out = run(mailstage()
        .arg("zip")
        .arg(staging.join("gen"))
        .arg(staging.join("alice"))
        .arg("--out-dir")
        .arg(t.path().join("zips")));
    assert_eq!(out.status.code(), Some(0));
    assert_quiet("zip", &out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("entries"));

    let eml: Vec<_> = std::fs::read_dir(staging.join("gen/mail/Inbox"))
        .unwrap()
        .take(3)
        .map(|e| e.unwrap().path())
        .collect();
    let out = run(mailstage().arg("check").args(&eml));
    assert_quiet("check", &out);

    let out = run(mailstage()
        .arg("report")
        .arg(&staging)
        .arg("-o")
        .arg(t.path().join("r.html")));
    assert_eq!(out.status.code(), Some(0));
    assert_quiet("report", &out);

    // the control: on a terminal, convert and zip do draw
    let tty = in_terminal(&format!(
        "{} convert {} --out {} --user tty",
        bin(),
        src.display(),
        staging.display()
    ));
    assert_bar("convert", &tty, "msgs");
    let tty = in_terminal(&format!(
        "{} zip {} -o {}",
        bin(),
        staging.join("tty").display(),
        t.path().join("tty.zip").display()
    ));
    assert_bar("zip", &tty, "users");
}

fn login_args(port: u16, pw: &Path) -> String {
    format!(
        "--host 127.0.0.1 --port {port} --plain-insecure --login p --password-file {}",
        pw.display()
    )
}

#[test]
fn upload_verify_rollback_print_no_progress_into_pipes() {
    let (t, user) = staged(300, 11, &[]);
    let srv = TestServer::start(&[]);
    let pw = srv.adduser("p", "pw");
    let run = |cmd: &str, extra: &[&str]| {
        command(cmd, &user, srv.port, "p", &pw, extra)
            .output()
            .unwrap()
    };

    let out = run("upload", &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_quiet("upload", &out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("complete"));

    let out = run("verify", &[]);
    assert_eq!(out.status.code(), Some(0));
    assert_quiet("verify", &out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("— OK"));

    let out = run("rollback", &["--dry-run"]);
    assert_eq!(out.status.code(), Some(0));
    assert_quiet("rollback --dry-run", &out);
    let out = run("rollback", &[]);
    assert_eq!(out.status.code(), Some(0));
    assert_quiet("rollback", &out);
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(summary.contains("removed 300 messages"), "{summary}");

    // batch upload
    let csv = t.path().join("users.csv");
    std::fs::write(
        &csv,
        format!("user,login,password_file\nu,p,{}\n", pw.display()),
    )
    .unwrap();
    let out = mailstage()
        .args(["upload", "--users"])
        .arg(&csv)
        .arg("--staging")
        .arg(t.path().join("staging"))
        .args([
            "--host",
            "127.0.0.1",
            "--port",
            &srv.port.to_string(),
            "--plain-insecure",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_quiet("upload --users", &out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("complete"));

    // the control: on a terminal verify, rollback and batch upload draw their bars
    let conn = login_args(srv.port, &pw);
    let tty = in_terminal(&format!("{} verify {} {conn}", bin(), user.display()));
    assert_bar("verify", &tty, "verify p");
    let tty = in_terminal(&format!("{} rollback {} {conn}", bin(), user.display()));
    assert_bar("rollback", &tty, "rollback p");
    let tty = in_terminal(&format!(
        "{} upload --users {} --staging {} --host 127.0.0.1 --port {} --plain-insecure",
        bin(),
        csv.display(),
        t.path().join("staging").display(),
        srv.port
    ));
    assert_bar("upload --users", &tty, "users");
}
