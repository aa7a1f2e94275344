//! `mailstage verify`: read the server and compare it, folder by folder, with the
//! manifest and the upload journal (see `survey` for how messages are matched).
//!
//! Missing messages are written to `<journal>.missing.txt` and recorded in the
//! journal as `missing`, so the next `upload` sends exactly those again. The totals
//! are kept in `<journal>.verify.json` ([`VerifyResult`]) for `mailstage report`: the
//! journal says what was sent, only verify says what the server has.

use std::collections::BTreeSet;

use serde::Serialize;

use super::journal::{Journal, Record};
use super::plan::FolderPlan;
use super::survey::{self, Found};
use super::{UploadError, UploadOptions, append_flags, journal_path};
use crate::progress::Progress;
use crate::stage::reader::{self, StagedIndex};

/// One folder's comparison.
#[derive(Debug, Clone, Serialize, Default)]
pub struct FolderCheck {
    /// Staged folder.
    pub folder: String,
    /// Its server folder, if it exists.
    pub server_folder: Option<String>,
    /// Staged messages.
    pub expected: u64,
    /// Found on the server.
    pub present: u64,
    /// Not found.
    pub missing: u64,
    /// Extra copies of staged messages.
    pub duplicated: u64,
    /// Found with another INTERNALDATE.
    pub wrong_date: u64,
    /// Found with other flags.
    pub wrong_flags: u64,
    /// Messages mailstage did not upload (left alone).
    pub other: u64,
    /// Why the folder could not be checked, if so.
    pub problem: Option<String>,
}

/// One finding about one message.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// Staged path.
    pub path: String,
    /// Staged folder.
    pub folder: String,
    /// `missing`, `duplicated`, `wrong_date` or `wrong_flags`.
    pub kind: String,
    /// Details (server UID, dates, flags).
    pub detail: String,
}

/// The result of `verify`.
#[derive(Debug, Clone, Serialize, Default)]
pub struct VerifyReport {
    /// `host:port`.
    pub server: String,
    /// Mailbox.
    pub mailbox: String,
    /// Per folder.
    pub folders: Vec<FolderCheck>,
    /// Per message, everything that is not right.
    pub findings: Vec<Finding>,
    /// Totals.
    pub expected: u64,
    /// Totals.
    pub present: u64,
    /// Totals.
    pub missing: u64,
    /// Totals.
    pub duplicated: u64,
    /// Totals.
    pub wrong_date: u64,
    /// Totals.
    pub wrong_flags: u64,
    /// Totals.
    pub other: u64,
    /// The list of missing staged paths, for `upload` to retry.
    pub missing_list: std::path::PathBuf,
    /// Nothing missing and nothing duplicated.
    pub ok: bool,
}

/// What `verify` leaves beside the journal (`<journal>.verify.json`): the totals of
/// its last run and when it ran. Keys in a fixed order; no per-message data, so the
/// file stays small whatever the mailbox size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct VerifyResult {
    /// When verify finished (RFC 3339, UTC).
    pub time: String,
    /// `host:port`.
    pub server: String,
    /// Mailbox.
    pub mailbox: String,
    /// Staged messages expected on the server.
    pub expected: u64,
    /// Found.
    pub present: u64,
    /// Not found.
    pub missing: u64,
    /// Extra copies.
    pub duplicated: u64,
    /// Found with another INTERNALDATE.
    pub wrong_date: u64,
    /// Found with other flags.
    pub wrong_flags: u64,
    /// The user's own messages.
    pub other: u64,
    /// Folders that could not be checked.
    pub folder_problems: u64,
    /// Nothing missing and nothing duplicated.
    pub ok: bool,
}

impl VerifyResult {
    /// The totals of `report`, stamped with `time`.
    pub fn of(report: &VerifyReport, time: String) -> Self {
        VerifyResult {
            time,
            server: report.server.clone(),
            mailbox: report.mailbox.clone(),
            expected: report.expected,
            present: report.present,
            missing: report.missing,
            duplicated: report.duplicated,
            wrong_date: report.wrong_date,
            wrong_flags: report.wrong_flags,
            other: report.other,
            folder_problems: report
                .folders
                .iter()
                .filter(|f| f.problem.as_deref().is_some_and(|p| p != survey::EXCLUDED))
                .count() as u64,
            ok: report.ok,
        }
    }
}

/// The verify result file of a journal: `<journal stem>.verify.json`.
pub fn result_path(journal: &std::path::Path) -> std::path::PathBuf {
    journal.with_extension("verify.json")
}

fn norm_flags<'a>(flags: impl Iterator<Item = &'a String>) -> BTreeSet<String> {
    flags
        .filter(|f| !f.eq_ignore_ascii_case("\\Recent"))
        .map(|f| {
            if f.starts_with('\\') {
                f.to_ascii_lowercase()
            } else {
                f.clone()
            }
        })
        .collect()
}

/// Verifies one user's upload.
pub fn verify(
    staging: &std::path::Path,
    opts: &UploadOptions,
) -> Result<VerifyReport, UploadError> {
    let _lock = reader::lock(staging)?;
    let index = StagedIndex::open(staging)?;
    let jpath = journal_path(staging, &opts.server.host, &opts.mailbox);
    let mut journal = Journal::open(&jpath)?;
    let mut sv = survey::open(&index, opts)?;
    let mut report = VerifyReport {
        server: opts.server.address(),
        mailbox: opts.mailbox.clone(),
        missing_list: jpath.with_extension("missing.txt"),
        ..Default::default()
    };
    let mut missing_paths = Vec::new();
    // Counted a folder at a time: the FETCH of a folder is the slow part, and the bar
    // is hidden anyway unless stderr is a terminal.
    let progress = Progress::new(
        &format!("verify {}", opts.mailbox),
        index.slots.len() as u64,
        index.staged_bytes,
        opts.progress,
    );
    for (f, name) in index.folders.iter().enumerate() {
        let (items, _) = survey::staged(&index, f as u32, &journal, |_| true)?;
        progress.set_message(name.clone());
        // counted before the work: every `continue` below still moves the bar on
        progress.inc(items.len() as u64);
        let mut fc = FolderCheck {
            folder: name.clone(),
            expected: items.len() as u64,
            ..Default::default()
        };
        let wire = match &sv.plans[f] {
            FolderPlan::Go {
                wire,
                display,
                exists: true,
                ..
            } => {
                fc.server_folder = Some(display.clone());
                wire.clone()
            }
            FolderPlan::Go { .. } => {
                fc.problem = Some("not on the server".into());
                Vec::new()
            }
            FolderPlan::Problem(p) => {
                fc.problem = Some(p.clone());
                Vec::new()
            }
        };
        if fc.problem.as_deref() == Some(survey::EXCLUDED) {
            fc.expected = 0;
            report.folders.push(fc);
            continue;
        }
        let (metas, validity) = if wire.is_empty() {
            (survey::Server::default(), 0)
        } else {
            let info = sv.conn.select(&wire, true)?;
            // fetched even when EXISTS said 0: a server that left EXISTS out is not
            // taken for an empty folder
            let metas = survey::fetch_all(&mut sv.conn, 1, info.messages.max(1))?;
            (metas, info.uidvalidity)
        };
        let juids = items.journal_uids(validity);
        let floor = journal.floor(name, validity).unwrap_or(1);
        let m = survey::match_folder(&items, &juids, &metas, false, floor);
        for k in 0..items.len() {
            // read from the manifest only for a finding: most messages have none
            let path = || items.path(&index, k);
            let Some((i, how)) = m.found[k] else {
                fc.missing += 1;
                let path = path()?;
                missing_paths.push(path.clone());
                report.findings.push(Finding {
                    path,
                    folder: name.clone(),
                    kind: "missing".into(),
                    detail: "not on the server".into(),
                });
                continue;
            };
            fc.present += 1;
            let date_ok = metas.date(i).is_some_and(|d| d == items.date(k));
            if !date_ok {
                fc.wrong_date += 1;
                report.findings.push(Finding {
                    path: path()?,
                    folder: name.clone(),
                    kind: "wrong_date".into(),
                    detail: format!(
                        "UID {}: INTERNALDATE {} on the server, {} staged",
                        metas.uid(i),
                        metas.internal_date(i),
                        crate::imap::imap_date(items.date(k))
                    ),
                });
            }
            let (mut want, _, flagged) = append_flags(items.flags(k), opts);
            if flagged {
                want.push("\\Flagged".into());
            }
            let want = norm_flags(want.iter());
            let got = norm_flags(metas.flags(i).iter());
            if want != got {
                fc.wrong_flags += 1;
                report.findings.push(Finding {
                    path: path()?,
                    folder: name.clone(),
                    kind: "wrong_flags".into(),
                    detail: format!(
                        "UID {}: ({}) on the server, ({}) expected{}",
                        metas.uid(i),
                        got.into_iter().collect::<Vec<_>>().join(" "),
                        want.into_iter().collect::<Vec<_>>().join(" "),
                        if how == Found::ByContent {
                            " (found by Message-ID and date)"
                        } else {
                            ""
                        }
                    ),
                });
            }
        }
        for &(k, i) in &m.duplicates {
            fc.duplicated += 1;
            report.findings.push(Finding {
                path: items.path(&index, k)?,
                folder: name.clone(),
                kind: "duplicated".into(),
                detail: format!("another copy under UID {}", metas.uid(i)),
            });
        }
        fc.other = m.others.len() as u64;
        report.folders.push(fc);
    }
    progress.finish();
    for p in &missing_paths {
        if journal.state(p).is_some() {
            journal.record(&Record::Missing { path: p.clone() })?;
        }
    }
    journal.sync()?;
    let mut list = missing_paths.join("\n");
    if !list.is_empty() {
        list.push('\n');
    }
    crate::stage::writer::write_small_file(&report.missing_list, list.as_bytes()).map_err(|e| {
        UploadError::Stage(crate::stage::reader::ReadError::Io {
            path: report.missing_list.clone(),
            source: std::io::Error::other(e.to_string()),
        })
    })?;
    for f in &report.folders {
        report.expected += f.expected;
        report.present += f.present;
        report.missing += f.missing;
        report.duplicated += f.duplicated;
        report.wrong_date += f.wrong_date;
        report.wrong_flags += f.wrong_flags;
        report.other += f.other;
    }
    report.ok = report.missing == 0 && report.duplicated == 0;
    sv.conn.logout();
    // Milliseconds: `report` compares this with the journal's session times. Best
    // effort like `.last.json`: the report above is the answer, this copy is for
    // `mailstage report` later.
    let time = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    if let Ok(mut json) = serde_json::to_vec_pretty(&VerifyResult::of(&report, time)) {
        json.push(b'\n');
        let _ = crate::stage::writer::write_small_file(&result_path(&jpath), &json);
    }
    Ok(report)
}
