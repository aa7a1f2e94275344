//! `mailstage report`: arguments, and where the page goes.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use mailstage::progress::human_bytes;

/// `mailstage report`.
#[derive(Debug, Args)]
#[command(
    after_help = "Reads every STAGING/<user>/manifest.jsonl and the upload journals \
beside them; changes nothing. Without -o the HTML goes to stdout. Exit codes: 0 report \
written, 2 no user tree under STAGING or a file could not be read."
)]
pub struct ReportArgs {
    /// The staging root (the --out of convert), holding one directory per user.
    pub staging: PathBuf,
    /// Write the HTML page to this file (atomically) and print a short summary.
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Print the report's data as JSON on stdout (with -o, the page is still written).
    #[arg(long)]
    pub json: bool,
    /// Put the generation time in the report (otherwise the output depends only on
    /// the staging tree).
    #[arg(long)]
    pub timestamp: bool,
}

/// Runs `report` and returns the process exit code.
pub fn report(args: ReportArgs) -> Result<i32> {
    let generated = args
        .timestamp
        .then(|| chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    let r = mailstage::report::collect(&args.staging, generated)?;
    if let Some(path) = &args.output {
        let page = mailstage::report::html::render(&r);
        mailstage::stage::writer::write_small_file(path, page.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    match print(&args, &r) {
        // `mailstage report STAGING | head` is not an error
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        r => r?,
    }
    for w in &r.warnings {
        eprintln!("mailstage: warning: {w}");
    }
    Ok(0)
}

fn print(args: &ReportArgs, r: &mailstage::report::BatchReport) -> std::io::Result<()> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, r)?;
        writeln!(out)?;
    } else if let Some(path) = &args.output {
        let t = &r.total;
        writeln!(
            out,
            "{}: {} users, {} messages ({}): {} staged ({} repaired, {} released), {} \
             quarantined, {} duplicates, {} excluded",
            path.display(),
            r.users.len(),
            t.messages,
            human_bytes(t.source_bytes),
            t.staged,
            t.repaired,
            t.released,
            t.quarantined,
            t.duplicate,
            t.excluded
        )?;
    } else {
        out.write_all(mailstage::report::html::render(r).as_bytes())?;
    }
    out.flush()
}
