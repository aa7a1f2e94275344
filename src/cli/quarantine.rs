//! `mailstage quarantine list|show|release`.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Subcommand};

use mailstage::progress::human_bytes;
use mailstage::quarantine::{self, Filter, QuarantineError, ReleaseOptions};

/// `mailstage quarantine`.
#[derive(Debug, Args)]
pub struct QuarantineArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: QuarantineCommand,
}

/// The quarantine subcommands.
#[derive(Debug, Subcommand)]
pub enum QuarantineCommand {
    /// One line per quarantined message: ID, user, folder, size, date, reason, subject.
    List(ListArgs),
    /// One quarantined message in detail: reason, header, MIME tree, check's verdict.
    Show(ShowArgs),
    /// Stage a quarantined message after a human look; the next upload sends it.
    Release(ReleaseArgs),
}

/// `mailstage quarantine list`.
#[derive(Debug, Args)]
#[command(after_help = "Exit codes: 0 listed (also when nothing is quarantined), 2 error.")]
pub struct ListArgs {
    /// A staging root (every user in it) or one user's staging directory.
    pub staging: PathBuf,
    /// Only this user (repeatable).
    #[arg(long, value_name = "USER")]
    pub user: Vec<String>,
    /// Only this reason kind, e.g. too-large, not-a-message, signed (repeatable).
    #[arg(long, value_name = "KIND")]
    pub reason: Vec<String>,
    /// Only this target folder and its subfolders, e.g. "Sent Items".
    #[arg(long, value_name = "FOLDER")]
    pub folder: Option<String>,
    /// Also list the messages already released.
    #[arg(long)]
    pub released: bool,
    /// Print a JSON array.
    #[arg(long)]
    pub json: bool,
}

/// `mailstage quarantine show`.
#[derive(Debug, Args)]
#[command(after_help = "Exit codes: 0 shown, 2 no such message or error.")]
pub struct ShowArgs {
    /// The user's staging directory (STAGING/<user>).
    pub user_dir: PathBuf,
    /// The message: its ID (at least 6 hex digits), quarantine path or source path.
    pub id: String,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `mailstage quarantine release`.
#[derive(Debug, Args)]
#[command(
    after_help = "Without --file the quarantined original goes through the repair engine \
again (without a size limit). The original stays in quarantine/ either way, and the release \
is logged in released/ so that converting again keeps it.\n\n\
Exit codes: 0 released, 1 not released (it still cannot be staged, or it was released \
before; nothing changed), 2 error."
)]
pub struct ReleaseArgs {
    /// The user's staging directory (STAGING/<user>).
    pub user_dir: PathBuf,
    /// The message: its ID (at least 6 hex digits), quarantine path or source path.
    pub id: String,
    /// A fixed copy of the message to stage instead of the original.
    #[arg(long, value_name = "FIXED.eml")]
    pub file: Option<PathBuf>,
    /// Stage the message as it is (line endings to CRLF only), without repairs.
    #[arg(long)]
    pub force_as_is: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs `mailstage quarantine`.
pub fn quarantine(args: QuarantineArgs) -> Result<i32> {
    match args.command {
        QuarantineCommand::List(a) => list(a),
        QuarantineCommand::Show(a) => show(a),
        QuarantineCommand::Release(a) => release(a),
    }
}

fn list(args: ListArgs) -> Result<i32> {
    let filter = Filter {
        users: args.user,
        reasons: args.reason,
        folder: args.folder,
        released: args.released,
    };
    let items = quarantine::list(&args.staging, &filter)?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&items)?)?;
        return Ok(0);
    }
    if items.is_empty() {
        writeln!(out, "no quarantined messages")?;
        return Ok(0);
    }
    let user_w = items
        .iter()
        .map(|i| i.user.chars().count())
        .max()
        .unwrap_or(4)
        .max(4);
    let folder_w = items
        .iter()
        .map(|i| i.folder.chars().count())
        .max()
        .unwrap_or(6)
        .clamp(6, 24);
    writeln!(
        out,
        "{:<16}  {:<user_w$}  {:<folder_w$}  {:>9}  {:<16}  {:<40}  REASON",
        "ID", "USER", "FOLDER", "SIZE", "DATE", "SUBJECT"
    )?;
    for i in &items {
        let date = i
            .internal_date
            .get(..16)
            .unwrap_or(&i.internal_date)
            .replace('T', " ");
        let reason = if i.status == "released" {
            format!("(released) {} [{}]", i.reason, i.reason_kind)
        } else {
            format!("{} [{}]", i.reason, i.reason_kind)
        };
        writeln!(
            out,
            "{:<16}  {:<user_w$}  {:<folder_w$}  {:>9}  {:<16}  {:<40}  {}",
            i.id,
            i.user,
            clip(&i.folder, folder_w),
            human_bytes(i.size),
            date,
            clip(i.subject.as_deref().unwrap_or("-"), 40),
            reason
        )?;
    }
    let released = items.iter().filter(|i| i.status == "released").count();
    let users: std::collections::BTreeSet<&str> = items.iter().map(|i| i.user.as_str()).collect();
    writeln!(
        out,
        "\n{} quarantined{} for {} user(s); `mailstage quarantine show STAGING/<user> ID` for the details",
        items.len() - released,
        if released > 0 {
            format!(", {released} released")
        } else {
            String::new()
        },
        users.len()
    )?;
    Ok(0)
}

fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
    t.push('…');
    t
}

fn show(args: ShowArgs) -> Result<i32> {
    let shown = quarantine::show(&args.user_dir, &args.id)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&shown)?);
    } else {
        print!("{}", shown.render(&args.user_dir));
    }
    Ok(0)
}

fn release(args: ReleaseArgs) -> Result<i32> {
    let opts = ReleaseOptions {
        file: args.file,
        as_is: args.force_as_is,
    };
    let r = match quarantine::release(&args.user_dir, &args.id, &opts) {
        Ok(r) => r,
        Err(QuarantineError::Refused(why)) => {
            eprintln!("mailstage: not released: {why}");
            return Ok(1);
        }
        Err(e) => return Err(e.into()),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(0);
    }
    println!("released {} ({}): staged as {}", r.id, r.folder, r.staged);
    if !r.entry.repairs.is_empty() {
        println!("  repairs: {}", r.entry.repairs.join(", "));
    }
    if let Some(rel) = &r.entry.released {
        if rel.as_is {
            println!("  staged as it is, without repairs");
        }
        for p in &rel.problems {
            println!("  warning: {p} (the server may refuse it)");
        }
    }
    println!("  the next mailstage upload of this user sends it");
    Ok(0)
}
