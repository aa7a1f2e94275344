//! Command-line types (clap) and their translation into the library's plain
//! configuration structs. Library modules never see clap (STYLE.md §1).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};

use mailstage::convert::{self, BatchReport, Options, Request, UserJob};
use mailstage::folders::{MappingRules, Target};
use mailstage::maildir::LayoutChoice;
use mailstage::progress::human_bytes;

mod batch;
mod quarantine;
mod report;
mod upload;
pub use quarantine::{QuarantineArgs, quarantine};
pub use report::{ReportArgs, report};
pub use upload::{RollbackArgs, UploadArgs, VerifyArgs, rollback, upload, verify};

/// Move Maildir mail into Microsoft Exchange / Microsoft 365 (or any IMAP server)
/// without losing a message, a date, a flag or a folder.
#[derive(Debug, Parser)]
#[command(name = "mailstage", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Turn Maildirs into clean staging trees (read-only on the source).
    Convert(ConvertArgs),
    /// Say what is wrong with .eml files for Exchange and what the repair would do.
    Check(CheckArgs),
    /// Copy a user's staging tree into a mailbox over IMAP (journaled, re-runnable).
    Upload(UploadArgs),
    /// Compare the mailbox with the staging tree and the upload journal.
    Verify(VerifyArgs),
    /// Remove exactly what mailstage uploaded, and nothing else.
    Rollback(RollbackArgs),
    /// Write staging trees as zip files (deterministic, streaming, UTF-8 names).
    Zip(ZipArgs),
    /// List, show and release quarantined messages.
    Quarantine(QuarantineArgs),
    /// One HTML page (or JSON) for a whole batch: counts, repairs, quarantine, folders,
    /// upload and verify state.
    Report(ReportArgs),
}

/// `mailstage check`.
#[derive(Debug, Args)]
#[command(
    after_help = "Exit codes: 0 every file is clean, 1 some need repair or \
would be quarantined, 2 a file could not be read."
)]
pub struct CheckArgs {
    /// Message files (.eml, Maildir files).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Size limit, as for convert (0 = none, the default here).
    #[arg(long, value_name = "BYTES", value_parser = parse_size)]
    pub max_size: Option<u64>,
    /// As for convert: rename read-receipt requests.
    #[arg(long)]
    pub disarm_read_receipts: bool,
    /// Print one JSON object per file.
    #[arg(long)]
    pub json: bool,
    /// Write each repaired message (as convert would stage it) into this directory.
    #[arg(long, value_name = "DIR")]
    pub write: Option<PathBuf>,
}

/// `mailstage convert`.
#[derive(Debug, Args)]
#[command(
    after_help = "Exit codes: 0 every message staged (or duplicate/excluded), \
1 finished with quarantined messages, 2 fatal error (or a user in a batch failed)."
)]
pub struct ConvertArgs {
    /// The user's Maildir root (with cur/ new/ tmp/).
    #[arg(required_unless_present = "users", conflicts_with = "users")]
    pub source: Option<PathBuf>,
    /// Staging root: each user gets OUT/<user>/.
    #[arg(long, short = 'o', value_name = "STAGING")]
    pub out: PathBuf,
    /// The user's name in the staging tree (default: the Maildir's directory name).
    #[arg(long, value_name = "NAME", conflicts_with = "users")]
    pub user: Option<String>,
    /// Batch mode: CSV with a header row and columns name,maildir
    /// (optional: exclude as `;`-separated folders, map, max_size).
    #[arg(long, value_name = "USERS.csv")]
    pub users: Option<PathBuf>,
    /// Quarantine messages larger than this (bytes, or with K/M/G suffix; 0 = no
    /// limit). Default: the target's limit (10M for Exchange, 35M for Microsoft 365).
    #[arg(long, value_name = "BYTES", value_parser = parse_size)]
    pub max_size: Option<u64>,
    /// Skip a source folder and its subfolders (decoded name, `/`-separated).
    #[arg(long, value_name = "FOLDER")]
    pub exclude: Vec<String>,
    /// Folder mapping rules (TOML: [rename], [[rule]], exclude); see docs/MAPPING.md.
    #[arg(long, value_name = "MAPPING.toml")]
    pub map: Option<PathBuf>,
    /// Target server generation, for folder names and limits.
    #[arg(long, value_enum, default_value_t = TargetArg::Exchange2007)]
    pub target: TargetArg,
    /// Source layout (auto-detected by default).
    #[arg(long, value_enum, default_value_t = LayoutArg::Auto)]
    pub layout: LayoutArg,
    /// Worker threads (default: one per core).
    #[arg(long, short = 'j', value_name = "N")]
    pub jobs: Option<usize>,
    /// Rename read-receipt requests (Disposition-Notification-To, Return-Receipt-To)
    /// to X-Disarmed-…, so that Outlook offers no receipts for old mail.
    #[arg(long)]
    pub disarm_read_receipts: bool,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// No progress bar.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

/// `--target`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum TargetArg {
    /// Exchange 2007/2010 names (`Junk E-mail`).
    Exchange2007,
    /// Exchange 2013 and later (`Junk Email`).
    Exchange,
    /// Exchange Online / Microsoft 365.
    M365,
}

/// `--layout`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LayoutArg {
    /// Detect from the tree.
    Auto,
    /// Maildir++ (`.Sent`, `.Archives.2009`).
    #[value(name = "maildir++")]
    MaildirPlusPlus,
    /// Dovecot `LAYOUT=fs` (`Archives/2009`).
    Fs,
}

impl From<TargetArg> for Target {
    fn from(t: TargetArg) -> Self {
        match t {
            TargetArg::Exchange2007 => Target::Exchange2007,
            TargetArg::Exchange => Target::Exchange,
            TargetArg::M365 => Target::M365,
        }
    }
}

impl From<LayoutArg> for LayoutChoice {
    fn from(l: LayoutArg) -> Self {
        match l {
            LayoutArg::Auto => LayoutChoice::Auto,
            LayoutArg::MaildirPlusPlus => LayoutChoice::MaildirPlusPlus,
            LayoutArg::Fs => LayoutChoice::Fs,
        }
    }
}

/// Parse `10485760`, `10M`, `10MiB`, `512k`, `1G` (binary units).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(digits);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("not a size: {s:?} (use e.g. 10485760 or 10M)"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return Err(format!("unknown size unit in {s:?} (use K, M or G)")),
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("size too large: {s:?}"))
}

/// The default `--max-size` of a target (EXCHANGE.md: 10 MB on-premises
/// `MaxReceiveSize`, 35 MB for Exchange Online IMAP migration).
fn default_max_size(t: Target) -> u64 {
    match t {
        Target::Exchange2007 | Target::Exchange => 10 << 20,
        Target::M365 => 35 << 20,
    }
}

/// A user name must be one safe path segment.
fn check_user_name(name: &str) -> Result<()> {
    if name.is_empty()
        || name == "."
        || name == ".."
        || name.contains('/')
        || name.contains('\\')
        || name.chars().any(char::is_control)
    {
        bail!("{name:?} cannot be a user name (it must be usable as one directory name)");
    }
    Ok(())
}

fn load_rules(map: Option<&Path>, excludes: &[String]) -> Result<MappingRules> {
    let mut rules = match map {
        Some(p) => MappingRules::load(p)?,
        None => MappingRules::default(),
    };
    for e in excludes {
        rules.add_exclude(e);
    }
    Ok(rules)
}

/// Read the batch CSV (`name,maildir[,exclude,map,max_size]`) into jobs.
fn read_users(csv_path: &Path, args: &ConvertArgs) -> Result<Vec<UserJob>> {
    let (base, rows) = batch::read(csv_path, &["name", "maildir"])?;
    let mut jobs = Vec::with_capacity(rows.len());
    for row in rows {
        let name = row.require("name")?.to_string();
        let dir = row.require("maildir")?;
        let mut excludes = args.exclude.clone();
        if let Some(ex) = row.get("exclude") {
            excludes.extend(
                ex.split(';')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(String::from),
            );
        }
        let map = row
            .get("map")
            .map(|m| base.join(m))
            .or_else(|| args.map.clone());
        let rules = load_rules(map.as_deref(), &excludes)
            .map_err(|e| row.error(format!("user {name}: {e:#}")))?;
        let max_size = match row.get("max_size") {
            Some(s) => Some(Some(parse_size(s).map_err(|e| row.error(e))?).filter(|&n| n > 0)),
            None => None,
        };
        jobs.push(UserJob {
            name,
            maildir: base.join(dir),
            rules,
            max_size,
        });
    }
    Ok(jobs)
}

/// Run `check` and return the process exit code.
pub fn check(args: CheckArgs) -> Result<i32> {
    let mut code = 0;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for f in &args.files {
        let bytes = match std::fs::read(f) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("mailstage: error: {}: {e}", f.display());
                code = 2;
                continue;
            }
        };
        let mtime = std::fs::metadata(f)
            .and_then(|m| m.modified())
            .map(chrono::DateTime::<chrono::Utc>::from)
            .unwrap_or_default();
        let r = mailstage::check::check(
            &bytes,
            mtime,
            args.max_size.filter(|&n| n > 0),
            args.disarm_read_receipts,
        );
        if r.verdict != "clean" && code == 0 {
            code = 1;
        }
        if let (Some(dir), Some(bytes)) = (&args.write, &r.repaired) {
            std::fs::create_dir_all(dir)?;
            let name = f.file_name().map(|n| n.to_os_string()).unwrap_or_default();
            std::fs::write(dir.join(name), bytes)?;
        }
        if args.json {
            let mut v = serde_json::to_value(&r)?;
            v["file"] = serde_json::Value::from(f.display().to_string());
            writeln!(out, "{}", serde_json::to_string(&v)?)?;
            continue;
        }
        writeln!(out, "{}: {}", f.display(), r.verdict)?;
        for p in &r.problems {
            writeln!(out, "  problem: {p}")?;
        }
        if !r.repairs.is_empty() {
            writeln!(out, "  repairs: {}", r.repairs.join(", "))?;
        }
        if let Some(q) = &r.quarantine_reason {
            writeln!(out, "  would be quarantined: {q}")?;
        }
        for p in &r.after_repair {
            writeln!(out, "  still wrong after repair (a bug): {p}")?;
        }
    }
    Ok(code)
}

/// Run `convert` and return the process exit code.
pub fn convert(args: ConvertArgs) -> Result<i32> {
    let target: Target = args.target.into();
    let max_size = match args.max_size {
        Some(0) => None,
        Some(n) => Some(n),
        None => Some(default_max_size(target)),
    };
    let users = match (&args.users, &args.source) {
        (Some(csv), _) => read_users(csv, &args)?,
        (None, Some(src)) => {
            let name = match &args.user {
                Some(n) => n.clone(),
                None => {
                    let dir = std::fs::canonicalize(src).unwrap_or_else(|_| src.clone());
                    dir.file_name()
                        .and_then(|n| n.to_str())
                        .map(String::from)
                        .ok_or_else(|| {
                            anyhow!(
                                "cannot take a user name from {}: pass --user",
                                src.display()
                            )
                        })?
                }
            };
            check_user_name(&name)?;
            vec![UserJob {
                name,
                maildir: src.clone(),
                rules: load_rules(args.map.as_deref(), &args.exclude)?,
                max_size: None,
            }]
        }
        (None, None) => bail!("give a SOURCE Maildir or --users USERS.csv"),
    };
    let req = Request {
        out: args.out.clone(),
        users,
        options: Options {
            target,
            max_size,
            layout: args.layout.into(),
            progress: !args.quiet && !args.json,
            disarm_read_receipts: args.disarm_read_receipts,
        },
    };
    let mut builder = rayon::ThreadPoolBuilder::new();
    if let Some(j) = args.jobs {
        builder = builder.num_threads(j.max(1));
    }
    let pool = builder.build().context("cannot start worker threads")?;
    let report = pool.install(|| convert::run(&req));
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &report)?;
        writeln!(out)?;
    } else {
        print_report(&mut out, &report)?;
    }
    Ok(report.exit_code)
}

fn print_report(out: &mut impl Write, r: &BatchReport) -> std::io::Result<()> {
    writeln!(
        out,
        "{:<20} {:>9} {:>9} {:>11} {:>9} {:>8} {:>8} {:>8} {:>10} {:>7}",
        "user",
        "messages",
        "staged",
        "quarantined",
        "duplicate",
        "excluded",
        "ignored",
        "repaired",
        "staged",
        "seconds"
    )?;
    for u in &r.users {
        let s = &u.summary;
        if u.error.is_some() {
            writeln!(out, "{:<20} FAILED (see below)", s.user)?;
            continue;
        }
        let repaired: u64 = s.repairs.values().sum();
        writeln!(
            out,
            "{:<20} {:>9} {:>9} {:>11} {:>9} {:>8} {:>8} {:>8} {:>10} {:>7.1}",
            s.user,
            s.counts.messages,
            s.counts.staged,
            s.counts.quarantined,
            s.counts.duplicate,
            s.counts.excluded,
            s.ignored_files,
            repaired,
            human_bytes(s.staged_bytes),
            u.run.seconds,
        )?;
    }
    if r.users.len() > 1 {
        let t = &r.total;
        writeln!(
            out,
            "{:<20} {:>9} {:>9} {:>11} {:>9} {:>8} {:>8}",
            "TOTAL", t.messages, t.staged, t.quarantined, t.duplicate, t.excluded, r.ignored_files
        )?;
    }
    for u in &r.users {
        let s = &u.summary;
        if let Some(e) = &u.error {
            writeln!(out, "\n{}: FAILED: {e}", s.user)?;
            eprintln!("mailstage: error: user {}: {e}", s.user);
            continue;
        }
        if !s.repairs.is_empty() {
            let list: Vec<String> = s.repairs.iter().map(|(k, v)| format!("{k} {v}")).collect();
            writeln!(out, "\n{}: repairs: {}", s.user, list.join(", "))?;
        }
        if !s.quarantine_reasons.is_empty() {
            let list: Vec<String> = s
                .quarantine_reasons
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect();
            writeln!(
                out,
                "{}: quarantined: {} (see {}/quarantine/)",
                s.user,
                list.join(", "),
                s.user
            )?;
        }
        for w in s.warnings.iter().take(20) {
            writeln!(out, "{}: warning: {w}", s.user)?;
        }
        if s.warnings.len() > 20 {
            writeln!(
                out,
                "{}: … {} more warnings in summary.json",
                s.user,
                s.warnings.len() - 20
            )?;
        }
        if u.run.stale_files_removed > 0 {
            writeln!(
                out,
                "{}: removed {} staged files whose source is gone",
                s.user, u.run.stale_files_removed
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("10485760"), Ok(10485760));
        assert_eq!(parse_size("10M"), Ok(10 << 20));
        assert_eq!(parse_size("35MiB"), Ok(35 << 20));
        assert_eq!(parse_size("512k"), Ok(512 << 10));
        assert!(parse_size("ten").is_err());
        assert!(parse_size("10X").is_err());
    }
}

/// `mailstage zip`.
#[derive(Debug, Args)]
#[command(
    after_help = "Exit codes: 0 every zip written, 2 an error (the others are \
still written)."
)]
pub struct ZipArgs {
    /// Users' staging directories (STAGING/<user>).
    #[arg(required = true)]
    pub staging_users: Vec<PathBuf>,
    /// The zip to write (one user).
    #[arg(short = 'o', long, value_name = "FILE", conflicts_with = "out_dir")]
    pub output: Option<PathBuf>,
    /// Write DIR/<user>.zip for each user (batch form).
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
    /// Print the reports as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Run `zip` and return the process exit code.
pub fn zip(args: ZipArgs) -> Result<i32> {
    let jobs: Vec<(PathBuf, PathBuf)> = match (&args.output, &args.out_dir) {
        (Some(o), None) => {
            if args.staging_users.len() != 1 {
                bail!("-o names one zip: give one staging directory, or use --out-dir for several");
            }
            vec![(args.staging_users[0].clone(), o.clone())]
        }
        (None, Some(d)) => {
            std::fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
            args.staging_users
                .iter()
                .map(|u| {
                    let name = u
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_else(|| "user".into());
                    (u.clone(), d.join(format!("{name}.zip")))
                })
                .collect()
        }
        _ => bail!("give -o FILE (one user) or --out-dir DIR"),
    };
    let progress =
        mailstage::progress::Progress::counting("zip", "users", jobs.len() as u64, !args.json);
    let mut code = 0;
    let mut reports = Vec::new();
    for (user, out) in &jobs {
        match mailstage::zip::zip_user(user, out) {
            Ok(r) => {
                if !args.json {
                    progress.set_message(r.output.display().to_string());
                }
                reports.push(r);
            }
            Err(e) => {
                code = 2;
                eprintln!("mailstage: error: zip of {}: {e}", user.display());
            }
        }
        progress.inc(1);
    }
    progress.finish();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&reports)?);
    } else {
        for r in &reports {
            println!(
                "{} -> {}: {} entries, {} in, {} zipped",
                r.staging.display(),
                r.output.display(),
                r.entries,
                human_bytes(r.bytes_in),
                human_bytes(r.bytes_out)
            );
        }
    }
    Ok(code)
}
