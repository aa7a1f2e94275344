//! `mailstage upload`: command-line arguments and their translation into
//! [`mailstage::upload::UploadOptions`]. Secrets come from a file, an environment
//! variable or a command — never from argv, which every user of the machine can read
//! in `ps`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use clap::Args;

use mailstage::imap::{Credentials, Secret, Security, ServerConfig};
use mailstage::progress::human_bytes;
use mailstage::upload::{self, UploadOptions, UploadReport};

use super::parse_size;

/// Where to connect and how to log in (shared by upload, verify and rollback).
#[derive(Debug, Args)]
pub struct ConnArgs {
    /// IMAP server.
    #[arg(long)]
    pub host: String,
    /// Port (default 993 with --tls, 143 otherwise).
    #[arg(long)]
    pub port: Option<u16>,
    /// TLS from the first byte (the default).
    #[arg(long, group = "security")]
    pub tls: bool,
    /// Plain connection upgraded with STARTTLS.
    #[arg(long, group = "security")]
    pub starttls: bool,
    /// No TLS at all: the password crosses the network in the clear.
    #[arg(long, group = "security")]
    pub plain_insecure: bool,
    /// Trust only this CA certificate file (PEM) instead of the system roots.
    #[arg(long, value_name = "PEM")]
    pub ca_file: Option<PathBuf>,
    /// Accept any server certificate. DANGEROUS: anyone on the path can read the
    /// password and the mail.
    #[arg(long)]
    pub danger_accept_invalid_certs: bool,

    /// The mailbox to fill (its login, or the mailbox an --admin-login opens).
    #[arg(long)]
    pub login: Option<String>,
    /// Read the password from this file (first line).
    #[arg(long, value_name = "PATH", group = "secret")]
    pub password_file: Option<PathBuf>,
    /// Read the password from this environment variable.
    #[arg(long, value_name = "VAR", group = "secret")]
    pub password_env: Option<String>,
    /// Log in with SASL XOAUTH2; this command prints a fresh access token.
    #[arg(long, value_name = "CMD", group = "secret")]
    pub oauth2_token_cmd: Option<String>,
    /// Log in as this admin and open --login's mailbox: SASL PLAIN with --login as the
    /// authorisation identity (Dovecot master users, Cyrus); with a backslash in it
    /// (`DOMAIN\admin`), Exchange's `DOMAIN\admin\mailbox` login form.
    #[arg(long, value_name = "LOGIN")]
    pub admin_login: Option<String>,
    /// Socket timeout in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 120)]
    pub timeout: u64,
}

/// Flag rules and folder choices: verify and rollback must see the upload's.
#[derive(Debug, Args)]
pub struct FlagArgs {
    /// Mark every message read.
    #[arg(long)]
    pub mark_seen: bool,
    /// Upload the \Deleted flag too (by default it is left off: it would hide or
    /// expunge the message on the server).
    #[arg(long)]
    pub keep_deleted: bool,
    /// Keep a keyword that is dropped by default ($MDNSent, NonJunk, $NotJunk, Junk,
    /// $Junk).
    #[arg(long, value_name = "KEYWORD")]
    pub keep_keyword: Vec<String>,
    /// Drop this keyword too.
    #[arg(long, value_name = "KEYWORD")]
    pub drop_keyword: Vec<String>,
    /// Do not upload this staged folder (and its subfolders), e.g. "Deleted Items".
    #[arg(long, value_name = "NAME")]
    pub exclude_folder: Vec<String>,
    /// Upload into an existing server folder whose name differs only in case.
    #[arg(long)]
    pub merge_case_folders: bool,
}

/// `mailstage upload`.
#[derive(Debug, Args)]
#[command(
    after_help = "Exit codes: 0 every staged message (outside excluded folders) is \
on the server, 1 some failed or a folder could not be used (listed), 2 fatal error \
(connection, TLS, login, staging tree). Journals: STAGING/<user>/upload/."
)]
pub struct UploadArgs {
    /// The user's staging directory (STAGING/<user>).
    #[arg(required_unless_present = "users", conflicts_with = "users")]
    pub staging_user: Option<PathBuf>,
    /// Batch mode: CSV with a header row and columns user,login (optional:
    /// password_file); each user's tree is STAGING/<user>.
    #[arg(long, value_name = "USERS.csv", requires = "staging")]
    pub users: Option<PathBuf>,
    /// Staging root for --users.
    #[arg(long, value_name = "STAGING")]
    pub staging: Option<PathBuf>,
    /// Users uploaded at the same time in batch mode.
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub parallel_users: usize,

    /// Server and login.
    #[command(flatten)]
    pub conn: ConnArgs,
    /// Flag rules and folder choices.
    #[command(flatten)]
    pub flags: FlagArgs,
    /// Do not send messages larger than this (bytes or K/M/G); the server's
    /// APPENDLIMIT applies too.
    #[arg(long, value_name = "BYTES", value_parser = parse_size)]
    pub max_size: Option<u64>,
    /// Connections per user (folders uploaded at once).
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub connections: usize,
    /// Commands in flight per connection (pipelining depth).
    #[arg(long, value_name = "N", default_value_t = 32)]
    pub max_in_flight: usize,
    /// Reconnect attempts in a row without progress before a folder is given up.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub max_reconnects: u32,
    /// Connect, log in, check the folders and say what would be done.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

fn read_secret(args: &ConnArgs, file: Option<&Path>) -> Result<Secret> {
    if let Some(path) = file.or(args.password_file.as_deref()) {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read password file {}", path.display()))?;
        warn_if_readable(path);
        let first = text.lines().next().unwrap_or("");
        if first.is_empty() {
            bail!("password file {} is empty", path.display());
        }
        return Ok(Secret::new(first.to_owned()));
    }
    if let Some(var) = &args.password_env {
        let v = std::env::var(var)
            .map_err(|_| anyhow!("environment variable {var} (--password-env) is not set"))?;
        return Ok(Secret::new(v));
    }
    bail!(
        "give the password with --password-file PATH or --password-env VAR (never on the command line), or use --oauth2-token-cmd"
    )
}

fn warn_if_readable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(m) = std::fs::metadata(path)
        && m.permissions().mode() & 0o077 != 0
    {
        eprintln!(
            "mailstage: warning: password file {} is readable by other users (chmod 600 it)",
            path.display()
        );
    }
}

fn options(args: &UploadArgs, login: &str, password_file: Option<&Path>) -> Result<UploadOptions> {
    let mut o = base_options(&args.conn, &args.flags, login, password_file)?;
    o.max_size = args.max_size.filter(|&n| n > 0);
    o.connections = args.connections.clamp(1, 16);
    o.max_in_flight = args.max_in_flight.clamp(1, 1000);
    o.dry_run = args.dry_run;
    o.progress = !args.json;
    o.max_reconnects = args.max_reconnects;
    Ok(o)
}

/// The options every command that talks to the server needs.
fn base_options(
    conn: &ConnArgs,
    flags: &FlagArgs,
    login: &str,
    password_file: Option<&Path>,
) -> Result<UploadOptions> {
    let security = if conn.starttls {
        Security::StartTls
    } else if conn.plain_insecure {
        Security::PlainInsecure
    } else {
        Security::Tls
    };
    if conn.danger_accept_invalid_certs {
        eprintln!(
            "mailstage: WARNING: --danger-accept-invalid-certs: the server's certificate is \
             not checked; anyone on the network path can read the password and the mail"
        );
    }
    if security == Security::PlainInsecure {
        eprintln!(
            "mailstage: warning: --plain-insecure: no TLS, the password and the mail cross \
             the network in the clear"
        );
    }
    let port = conn.port.unwrap_or(match security {
        Security::Tls => 993,
        _ => 143,
    });
    let credentials = if let Some(cmd) = &conn.oauth2_token_cmd {
        Credentials::OAuth2 {
            user: login.to_owned(),
            token_cmd: cmd.clone(),
        }
    } else {
        let password = read_secret(conn, password_file)?;
        match &conn.admin_login {
            Some(admin) if admin.contains('\\') => Credentials::Password {
                login: format!("{admin}\\{login}"),
                password,
                authzid: None,
            },
            Some(admin) => Credentials::Password {
                login: admin.clone(),
                password,
                authzid: Some(login.to_owned()),
            },
            None => Credentials::Password {
                login: login.to_owned(),
                password,
                authzid: None,
            },
        }
    };
    Ok(UploadOptions {
        server: ServerConfig {
            host: conn.host.clone(),
            port,
            security,
            ca_file: conn.ca_file.clone(),
            danger_accept_invalid_certs: conn.danger_accept_invalid_certs,
            timeout: Duration::from_secs(conn.timeout.max(1)),
            credentials,
        },
        mailbox: login.to_owned(),
        mark_seen: flags.mark_seen,
        keep_deleted: flags.keep_deleted,
        keep_keywords: flags.keep_keyword.clone(),
        drop_keywords: flags.drop_keyword.clone(),
        exclude_folders: flags.exclude_folder.clone(),
        max_size: None,
        connections: 1,
        max_in_flight: 32,
        dry_run: false,
        merge_case_folders: flags.merge_case_folders,
        progress: false,
        max_reconnects: 10,
    })
}

/// One user to upload in batch mode.
struct Job {
    user: String,
    login: String,
    password_file: Option<PathBuf>,
}

/// Reads the batch CSV (`user,login[,password_file]`).
fn read_jobs(csv_path: &Path) -> Result<Vec<Job>> {
    let (base, rows) = super::batch::read(csv_path, &["user", "login"])?;
    rows.iter()
        .map(|row| {
            Ok(Job {
                user: row.require("user")?.to_owned(),
                login: row.require("login")?.to_owned(),
                password_file: row.get("password_file").map(|p| base.join(p)),
            })
        })
        .collect()
}

/// Runs `upload` and returns the process exit code.
pub fn upload(args: UploadArgs) -> Result<i32> {
    if let Some(csv) = &args.users {
        return batch(&args, csv);
    }
    let staging = args
        .staging_user
        .as_deref()
        .ok_or_else(|| anyhow!("give the user's staging directory"))?;
    let login = args
        .conn
        .login
        .as_deref()
        .ok_or_else(|| anyhow!("--login is required (the mailbox to fill)"))?;
    let opts = options(&args, login, None)?;
    let report = upload::upload(staging, &opts)
        .with_context(|| format!("upload of {}", staging.display()))?;
    print_report(&report, args.json)?;
    Ok(if report.complete || report.dry_run {
        0
    } else {
        1
    })
}

fn batch(args: &UploadArgs, csv: &Path) -> Result<i32> {
    let root = args
        .staging
        .as_deref()
        .ok_or_else(|| anyhow!("--users needs --staging STAGING"))?;
    let jobs = read_jobs(csv)?;
    // One bar for the batch, a user at a time: the users' own bars would fight over
    // the terminal line.
    let progress =
        mailstage::progress::Progress::counting("upload", "users", jobs.len() as u64, !args.json);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..args.parallel_users.clamp(1, 64) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(job) = jobs.get(i) else { break };
                    let r = options(args, &job.login, job.password_file.as_deref()).and_then(
                        |mut o| {
                            o.progress = false;
                            upload::upload(&root.join(&job.user), &o).map_err(Into::into)
                        },
                    );
                    progress.inc(1);
                    progress.set_message(job.user.clone());
                    if let Ok(mut v) = results.lock() {
                        v.push((i, r));
                    }
                }
            });
        }
    });
    progress.finish();
    let mut results = results.into_inner().unwrap_or_default();
    results.sort_by_key(|(i, _)| *i);
    let mut code = 0;
    let mut all = Vec::new();
    for (i, r) in results {
        match r {
            Ok(rep) => {
                if !rep.complete && !rep.dry_run {
                    code = code.max(1);
                }
                if !args.json {
                    print_report(&rep, false)?;
                }
                all.push(serde_json::to_value(&rep)?);
            }
            Err(e) => {
                code = 2;
                eprintln!("mailstage: error: user {}: {e:#}", jobs[i].user);
                all.push(serde_json::json!({"user": jobs[i].user, "error": format!("{e:#}")}));
            }
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&all)?);
    }
    Ok(code)
}

fn print_report(r: &UploadReport, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(r)?);
        return Ok(());
    }
    let verb = if r.dry_run {
        "would upload"
    } else {
        "uploaded"
    };
    println!(
        "{} -> {} ({}): {} staged; {verb} {} ({}), already there {}, found after an \
         interruption {}, failed {}, skipped {}{}",
        r.staging.display(),
        r.server,
        r.mailbox,
        r.staged,
        r.uploaded,
        human_bytes(r.uploaded_bytes),
        r.already_present,
        r.found_on_server,
        r.failed.len(),
        r.skipped,
        if r.dry_run {
            " (dry run: nothing sent)".to_owned()
        } else {
            format!(
                " in {:.1} s{}",
                r.seconds,
                if r.complete {
                    " — complete"
                } else {
                    " — INCOMPLETE"
                }
            )
        }
    );
    for f in &r.folders {
        let mut bits = Vec::new();
        if f.created {
            bits.push("created".to_owned());
        }
        if let Some(n) = &f.note {
            bits.push(n.clone());
        }
        if let Some(p) = &f.problem {
            bits.push(format!("NOT UPLOADED: {p}"));
        }
        if r.dry_run || !bits.is_empty() {
            println!(
                "  {:<30} -> {:<30} {:>6} msgs  {}",
                f.folder,
                f.server_folder.as_deref().unwrap_or("-"),
                f.messages,
                bits.join("; ")
            );
        }
    }
    if !r.dropped_keywords.is_empty() {
        let list: Vec<String> = r
            .dropped_keywords
            .iter()
            .map(|(k, n)| format!("{k} ×{n}"))
            .collect();
        println!("  flags left off by rule: {}", list.join(", "));
    }
    if r.reconnects > 0 || r.throttled > 0 {
        println!(
            "  reconnected {} times, throttled {} times",
            r.reconnects, r.throttled
        );
    }
    for f in r.failed.iter().take(50) {
        println!("  FAILED {} ({}): {}", f.path, f.folder, f.reason);
    }
    if r.failed.len() > 50 {
        println!(
            "  … {} more failures in {}",
            r.failed.len() - 50,
            r.journal.display()
        );
    }
    Ok(())
}

/// `mailstage verify`.
#[derive(Debug, Args)]
#[command(
    after_help = "Exit codes: 0 every staged message is on the server exactly once, \
1 some are missing or duplicated (listed; missing ones are written to \
STAGING/<user>/upload/<journal>.missing.txt and the next upload sends them), 2 fatal error."
)]
pub struct VerifyArgs {
    /// The user's staging directory (STAGING/<user>).
    pub staging_user: PathBuf,
    /// Server and login.
    #[command(flatten)]
    pub conn: ConnArgs,
    /// The flag rules and folder choices the upload used.
    #[command(flatten)]
    pub flags: FlagArgs,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `mailstage rollback`.
#[derive(Debug, Args)]
#[command(
    after_help = "Exit codes: 0 everything mailstage uploaded is removed (or was \
gone already), 1 nothing to do on a server without UIDPLUS unless --force, 2 fatal error."
)]
pub struct RollbackArgs {
    /// The user's staging directory (STAGING/<user>).
    pub staging_user: PathBuf,
    /// Server and login.
    #[command(flatten)]
    pub conn: ConnArgs,
    /// The flag rules and folder choices the upload used.
    #[command(flatten)]
    pub flags: FlagArgs,
    /// List what would be removed; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// On a server without UIDPLUS: go ahead with the protected plain EXPUNGE.
    #[arg(long)]
    pub force: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Prints `value` as pretty JSON and a newline, as `println!` of `to_string_pretty`
/// would, without building the text first (a dry-run rollback of 100,000 messages
/// lists every one: ~13 MB) and through one buffer (stdout alone writes each line).
fn print_json(value: &impl serde::Serialize) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    out.flush()?;
    Ok(())
}

fn login_of(conn: &ConnArgs) -> Result<&str> {
    conn.login
        .as_deref()
        .ok_or_else(|| anyhow!("--login is required (the mailbox)"))
}

/// Runs `verify` and returns the process exit code.
pub fn verify(args: VerifyArgs) -> Result<i32> {
    let mut opts = base_options(&args.conn, &args.flags, login_of(&args.conn)?, None)?;
    opts.progress = !args.json;
    let r = mailstage::upload::verify::verify(&args.staging_user, &opts)
        .with_context(|| format!("verify of {}", args.staging_user.display()))?;
    if args.json {
        print_json(&r)?;
    } else {
        println!(
            "{} on {}: {} staged, {} present, {} missing, {} duplicated, {} wrong date, {} \
             wrong flags, {} other (not mailstage's) — {}",
            r.mailbox,
            r.server,
            r.expected,
            r.present,
            r.missing,
            r.duplicated,
            r.wrong_date,
            r.wrong_flags,
            r.other,
            if r.ok { "OK" } else { "NOT OK" }
        );
        println!(
            "  {:<32} {:>8} {:>8} {:>8} {:>5} {:>6} {:>6} {:>6}",
            "folder", "expected", "present", "missing", "dup", "date", "flags", "other"
        );
        for f in &r.folders {
            println!(
                "  {:<32} {:>8} {:>8} {:>8} {:>5} {:>6} {:>6} {:>6}{}",
                f.folder,
                f.expected,
                f.present,
                f.missing,
                f.duplicated,
                f.wrong_date,
                f.wrong_flags,
                f.other,
                f.problem
                    .as_deref()
                    .map(|p| format!("  ({p})"))
                    .unwrap_or_default()
            );
        }
        for x in r.findings.iter().take(50) {
            println!(
                "  {} {} ({}): {}",
                x.kind.to_uppercase(),
                x.path,
                x.folder,
                x.detail
            );
        }
        if r.missing > 0 {
            println!(
                "  missing list: {} (the next upload sends them again)",
                r.missing_list.display()
            );
        }
    }
    Ok(if r.ok { 0 } else { 1 })
}

/// Runs `rollback` and returns the process exit code.
pub fn rollback(args: RollbackArgs) -> Result<i32> {
    let mut opts = base_options(&args.conn, &args.flags, login_of(&args.conn)?, None)?;
    opts.dry_run = args.dry_run;
    opts.progress = !args.json;
    let r = match mailstage::upload::rollback::rollback(&args.staging_user, &opts, args.force) {
        Ok(r) => r,
        Err(e @ mailstage::upload::rollback::RollbackError::NeedsForce(_)) => {
            eprintln!("mailstage: {e}");
            return Ok(1);
        }
        Err(e) => {
            return Err(e).with_context(|| format!("rollback of {}", args.staging_user.display()));
        }
    };
    if args.json {
        print_json(&r)?;
        return Ok(0);
    }
    let verb = if r.dry_run { "would remove" } else { "removed" };
    println!(
        "{} on {}: {verb} {} messages mailstage uploaded; {} were gone already{}",
        r.mailbox,
        r.server,
        r.removed,
        r.already_gone,
        if r.folders_deleted.is_empty() {
            String::new()
        } else {
            format!(
                "; deleted empty folders it had created: {}",
                r.folders_deleted.join(", ")
            )
        }
    );
    for f in &r.folders {
        println!(
            "  {:<32} {verb} {:>6}, gone {:>6}{}",
            f.folder,
            f.removed,
            f.already_gone,
            if f.protected > 0 {
                format!(
                    ", protected {} of the user's \\Deleted messages",
                    f.protected
                )
            } else {
                String::new()
            }
        );
    }
    for (folder, uid, path) in r.would_remove.first(100)? {
        println!("  would remove {folder} UID {uid}: {path}");
    }
    Ok(0)
}
