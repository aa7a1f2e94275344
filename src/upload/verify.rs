//! `mailstage verify`: read the server and compare it, folder by folder, with the
//! manifest and the upload journal (see `matching` for how messages are matched, in
//! pieces of bounded size, and `survey` for how the staged messages are read with
//! their journal state: nothing is held per message for the whole mailbox).
//!
//! Missing messages are written to `<journal>.missing.txt` and recorded in the
//! journal as `missing`, so the next `upload` sends exactly those again. The totals
//! are kept in `<journal>.verify.json` ([`VerifyResult`]) for `mailstage report`: the
//! journal says what was sent, only verify says what the server has.

use std::collections::BTreeSet;

use serde::Serialize;

use super::journal::Record;
use super::matching::{Found, Matcher, Outcome};
use super::plan::FolderPlan;
use super::survey::{self, StagedSet};
use super::{UploadError, UploadOptions, append_flags, journal_path};
use crate::progress::Progress;
use crate::stage::reader;

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
    let jpath = journal_path(staging, &opts.server.host, &opts.mailbox);
    let (set, mut journal) = StagedSet::open(staging, &jpath, true, |_| true)?;
    let mut sv = survey::open(&set.folders, opts)?;
    let mut report = VerifyReport {
        server: opts.server.address(),
        mailbox: opts.mailbox.clone(),
        missing_list: jpath.with_extension("missing.txt"),
        ..Default::default()
    };
    let mut missing_paths = Vec::new();
    // of those, the ones the journal has a state for (recorded as missing below)
    let mut journaled_missing = Vec::new();
    // Counted a folder at a time: the FETCH of a folder is the slow part, and the bar
    // is hidden anyway unless stderr is a terminal.
    let progress = Progress::new(
        &format!("verify {}", opts.mailbox),
        set.staged,
        set.staged_bytes,
        opts.progress,
    );
    for (f, name) in set.folders.iter().enumerate() {
        let expected = set.counts[f].items;
        progress.set_message(name.clone());
        // counted before the work: every `continue` below still moves the bar on
        progress.inc(expected);
        let mut fc = FolderCheck {
            folder: name.clone(),
            expected,
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
        let info = if wire.is_empty() {
            None
        } else {
            Some(sv.conn.select(&wire, true)?)
        };
        let (validity, exists) = info
            .as_ref()
            .map_or((0, 0), |i| (i.uidvalidity, i.messages));
        let mut m = Matcher::new(expected.max(u64::from(exists)));
        if info.is_some() {
            // fetched even when EXISTS said 0: a server that left EXISTS out is not
            // taken for an empty folder
            survey::fetch_into(&mut sv.conn, 1, exists.max(1), &mut m)?;
        }
        set.read_folder(f, |rec, item| {
            Ok(m.push_item(rec, survey::journal_uid(item.state, validity))?)
        })?;
        let floor = journal.floor(name, validity).unwrap_or(1);
        // Findings come bucket by bucket; each is kept with its message's manifest
        // order and put back in that order below (for one message: the date, then
        // the flags), the extra copies after all of them, by message and UID order.
        let mut per_message: Vec<(u32, Finding)> = Vec::new();
        let mut copies: Vec<(u32, u32, Finding)> = Vec::new();
        let mut missing: Vec<(u32, String, bool)> = Vec::new();
        let finding = |path: &str, kind: &str, detail: String| Finding {
            path: path.to_owned(),
            folder: name.clone(),
            kind: kind.into(),
            detail,
        };
        fc.other = m.run::<UploadError>(false, floor, |o| {
            match o {
                Outcome::Missing { items, k } => {
                    fc.missing += 1;
                    let path = items.path(k);
                    missing.push((items.ord(k), path.to_owned(), items.journaled(k)));
                    per_message.push((
                        items.ord(k),
                        finding(path, "missing", "not on the server".into()),
                    ));
                }
                Outcome::Found {
                    items,
                    k,
                    metas,
                    i,
                    how,
                } => {
                    fc.present += 1;
                    let date_ok = metas.date(i).is_some_and(|d| d == items.date(k));
                    if !date_ok {
                        fc.wrong_date += 1;
                        per_message.push((
                            items.ord(k),
                            finding(
                                items.path(k),
                                "wrong_date",
                                format!(
                                    "UID {}: INTERNALDATE {} on the server, {} staged",
                                    metas.uid(i),
                                    metas.internal_date(i),
                                    crate::imap::imap_date(items.date(k))
                                ),
                            ),
                        ));
                    }
                    let (mut want, _, flagged) = append_flags(items.flags(k), opts);
                    if flagged {
                        want.push("\\Flagged".into());
                    }
                    let want = norm_flags(want.iter());
                    let got = norm_flags(metas.flags(i).iter());
                    if want != got {
                        fc.wrong_flags += 1;
                        per_message.push((
                            items.ord(k),
                            finding(
                                items.path(k),
                                "wrong_flags",
                                format!(
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
                            ),
                        ));
                    }
                }
                Outcome::Duplicate { items, k, metas, i } => {
                    fc.duplicated += 1;
                    copies.push((
                        items.ord(k),
                        metas.index(i),
                        finding(
                            items.path(k),
                            "duplicated",
                            format!("another copy under UID {}", metas.uid(i)),
                        ),
                    ));
                }
            }
            Ok(())
        })?;
        // stable: a message's findings keep their order
        per_message.sort_by_key(|x| x.0);
        copies.sort_unstable_by_key(|x| (x.0, x.1));
        missing.sort_unstable_by_key(|x| x.0);
        report.findings.extend(per_message.into_iter().map(|x| x.1));
        report.findings.extend(copies.into_iter().map(|x| x.2));
        for (_, path, journaled) in missing {
            if journaled {
                journaled_missing.push(path.clone());
            }
            missing_paths.push(path);
        }
        report.folders.push(fc);
    }
    progress.finish();
    for path in journaled_missing {
        journal.record(&Record::Missing { path })?;
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
