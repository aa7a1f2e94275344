//! Real IMAP servers for the upload tests: `shared/tools/imap-testserver` (Dovecot on
//! 127.0.0.1) and `imap-exchange-proxy` in front of it, each stopped on drop.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use super::shared;

/// A throwaway Dovecot.
pub struct TestServer {
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub imaps_port: u16,
    pub ca: PathBuf,
    pub separator: String,
}

impl TestServer {
    /// Starts one (`extra`: e.g. `--exchange-names`, `--layout fs`).
    pub fn start(extra: &[&str]) -> TestServer {
        // /tmp so that Dovecot's unprivileged mail user can reach it (README-imap-bench)
        let dir = tempfile::Builder::new()
            .prefix("mailstage-imap-")
            .tempdir_in("/tmp")
            .unwrap();
        std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        let out = Command::new(shared().join("tools/imap-testserver"))
            .arg("start")
            .args(extra)
            .arg(dir.path().join("srv"))
            .stderr(Stdio::inherit())
            .output()
            .expect("imap-testserver runs");
        assert!(out.status.success(), "imap-testserver start failed");
        let vars: BTreeMap<String, String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        TestServer {
            port: vars["IMAP_PORT"].parse().unwrap(),
            imaps_port: vars["IMAPS_PORT"].parse().unwrap(),
            ca: PathBuf::from(&vars["IMAP_CA_CERT"]),
            separator: vars.get("IMAP_SEPARATOR").cloned().unwrap_or_default(),
            dir,
        }
    }

    fn srv(&self) -> PathBuf {
        self.dir.path().join("srv")
    }

    /// Adds a user; returns the path of a password file for it.
    pub fn adduser(&self, user: &str, password: &str) -> PathBuf {
        let st = Command::new(shared().join("tools/imap-testserver"))
            .args(["adduser"])
            .arg(self.srv())
            .args([user, password])
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(st.success());
        let pw = self.dir.path().join(format!("{user}.pw"));
        std::fs::write(&pw, format!("{password}\n")).unwrap();
        std::fs::set_permissions(&pw, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
        pw
    }

    /// Every message of `user`'s mailbox, read back with Python's imaplib.
    pub fn dump(&self, port: u16, user: &str, pw: &Path) -> Vec<Value> {
        dump(port, user, pw)
    }
}

/// Reads a mailbox with the independent Python reader (`tests/py/imapdump.py`).
pub fn dump(port: u16, user: &str, pw: &Path) -> Vec<Value> {
    let out = Command::new("python3")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/imapdump.py"))
        .args(["127.0.0.1", &port.to_string(), user])
        .arg(pw)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "imapdump failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = Command::new(shared().join("tools/imap-testserver"))
            .arg("stop")
            .arg(self.srv())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// `imap-exchange-proxy` in front of a test server.
pub struct Proxy {
    child: Child,
    pub port: u16,
    pub stats: PathBuf,
    _dir: tempfile::TempDir,
}

impl Proxy {
    /// Starts the proxy towards `upstream` with `args` (e.g. `--exchange`).
    pub fn start(upstream: u16, args: &[&str]) -> Proxy {
        let dir = tempfile::tempdir().unwrap();
        let stats = dir.path().join("stats.json");
        let mut child = Command::new("python3")
            .arg(shared().join("tools/imap-exchange-proxy"))
            .args(["--listen", "127.0.0.1:0", "--upstream"])
            .arg(format!("127.0.0.1:{upstream}"))
            .arg("--stats")
            .arg(&stats)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .strip_prefix("PROXY_PORT=")
            .expect("proxy prints PROXY_PORT")
            .parse()
            .unwrap();
        Proxy {
            child,
            port,
            stats,
            _dir: dir,
        }
    }

    /// Stops it and returns its counters.
    pub fn stop(mut self) -> Value {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
        std::fs::read(&self.stats)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or(Value::Null)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Converts a generated Maildir of `n` messages; returns (tempdir, user staging dir).
pub fn staged(n: u32, seed: u32, extra: &[&str]) -> (tempfile::TempDir, PathBuf) {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("src/u");
    super::gen_maildir(&src, n, seed, extra);
    let out = super::mailstage()
        .arg("convert")
        .arg(&src)
        .arg("--out")
        .arg(t.path().join("staging"))
        .output()
        .unwrap();
    assert!(
        out.status.code() == Some(0) || out.status.code() == Some(1),
        "convert failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let user = t.path().join("staging/u");
    (t, user)
}

/// `mailstage CMD USER_DIR` against a plain-IMAP test server on 127.0.0.1.
pub fn command(
    cmd: &str,
    user_dir: &Path,
    port: u16,
    login: &str,
    pw: &Path,
    extra: &[&str],
) -> Command {
    let mut c = super::mailstage();
    c.arg(cmd)
        .arg(user_dir)
        .args([
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--plain-insecure",
        ])
        .args(["--login", login, "--password-file"])
        .arg(pw)
        .args(extra);
    c
}

/// Runs [`command`] with `--json`: (exit code, report, stderr).
pub fn run_json(
    cmd: &str,
    user_dir: &Path,
    port: u16,
    login: &str,
    pw: &Path,
    extra: &[&str],
) -> (i32, Value, String) {
    run_json_env(cmd, user_dir, port, login, pw, extra, &[])
}

/// [`run_json`] with environment variables set for mailstage.
pub fn run_json_env(
    cmd: &str,
    user_dir: &Path,
    port: u16,
    login: &str,
    pw: &Path,
    extra: &[&str],
    env: &[(&str, &str)],
) -> (i32, Value, String) {
    let out = command(cmd, user_dir, port, login, pw, extra)
        .arg("--json")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
