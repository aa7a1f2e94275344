//! `mailstage quarantine show`: one quarantined message in detail — the reason,
//! the header, the MIME structure with what is wrong where, and `check`'s verdict.

use std::fmt::Write as _;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{QuarantineError, find, io_err, printable};
use crate::check::{self, Report};
use crate::mime::scan::{self, Kind, Part};
use crate::mime::validate::{self, Finding, Problem};
use crate::mime::{encoding, header, lines, words};
use crate::stage::Entry;
use crate::stage::quarantine::entry_id;

/// Header fields shown at most (a message with thousands of Received lines should
/// not flood the terminal; the count of the rest is shown).
const MAX_FIELDS: usize = 60;
/// Characters of one header value shown at most.
const MAX_VALUE: usize = 300;

/// One MIME part, for the tree.
#[derive(Debug, Clone, Serialize)]
pub struct MimeNode {
    /// IMAP-style part number (RFC 3501 §6.4.5), empty for the message itself.
    pub part: String,
    /// Nesting depth (0 = the message).
    pub depth: usize,
    /// Lower-case `type/subtype` (the default, if the part declares none).
    pub mime_type: String,
    /// The declared charset, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub charset: Option<String>,
    /// Content-Transfer-Encoding, if declared.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoding: Option<String>,
    /// Attachment file name, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    /// Body size in bytes.
    pub body_bytes: usize,
    /// What the validator finds in this part (structure defects included).
    pub problems: Vec<String>,
}

/// Everything `show` prints.
#[derive(Debug, Clone, Serialize)]
pub struct Shown {
    /// The ID.
    pub id: String,
    /// The manifest entry.
    pub entry: Entry,
    /// The file that was examined (the original under `quarantine/`), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Header fields, decoded for reading (name, value).
    pub header: Vec<(String, String)>,
    /// Fields not shown (beyond the first 60).
    pub header_omitted: usize,
    /// The MIME tree, depth first.
    pub mime: Vec<MimeNode>,
    /// Findings on the message as a whole (line endings, NUL, size, Message-ID, …;
    /// also on the tree's first node).
    pub message_problems: Vec<String>,
    /// What `mailstage check` says about the original.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check: Option<Report>,
}

/// Examines the quarantined message `id` of the user at `user_dir`.
pub fn show(user_dir: &Path, id: &str) -> Result<Shown, QuarantineError> {
    let (_, entry) = find(user_dir, id)?;
    let rel = entry
        .released
        .as_ref()
        .map(|r| r.original.clone())
        .or_else(|| entry.path.clone());
    let mut shown = Shown {
        id: entry_id(&entry),
        file: rel.clone(),
        entry,
        header: Vec::new(),
        header_omitted: 0,
        mime: Vec::new(),
        message_problems: Vec::new(),
        check: None,
    };
    let Some(rel) = rel else {
        // An unreadable source: there are no bytes to look at.
        return Ok(shown);
    };
    let path = user_dir.join(&rel);
    let raw = std::fs::read(&path).map_err(io_err(&path))?;
    let internal = DateTime::parse_from_rfc3339(&shown.entry.internal_date)
        .map(|d| d.with_timezone(&Utc))
        .unwrap_or_default();
    shown.check = Some(check::check(&raw, internal, None, false));
    let msg = lines::to_crlf(&raw).0.into_owned();
    let root = scan::scan(&msg);
    for (i, f) in root.header.fields.iter().enumerate() {
        if i >= MAX_FIELDS {
            shown.header_omitted = root.header.fields.len() - MAX_FIELDS;
            break;
        }
        let name = printable(&String::from_utf8_lossy(&msg[f.name.clone()]));
        let value = printable(&words::decode_unstructured(&header::unfold(
            &msg[f.value.clone()],
        )));
        shown.header.push((name, truncate(&value, MAX_VALUE)));
    }
    // Maildir files end lines in LF; staging always converts them to CRLF, so bare
    // line endings are no problem worth showing here (as in `check`).
    let findings: Vec<Finding> = validate::validate(&raw)
        .into_iter()
        .filter(|f| f.problem != Problem::BareLineEndings)
        .collect();
    tree(&msg, &root, String::new(), 0, &findings, &mut shown.mime);
    shown.message_problems = findings
        .iter()
        .filter(|f| f.part.is_empty())
        .map(|f| f.problem.to_string())
        .collect();
    Ok(shown)
}

fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// Depth-first, numbered as the validator numbers parts (and IMAP does): an
/// embedded message shares its number with the part that holds it, and its
/// findings are shown on the embedded message's node.
fn tree(
    msg: &[u8],
    part: &Part,
    number: String,
    depth: usize,
    findings: &[Finding],
    out: &mut Vec<MimeNode>,
) {
    let is_message_child = matches!(part.kind, Kind::Message(_));
    let mut problems: Vec<String> = if is_message_child {
        Vec::new()
    } else {
        findings
            .iter()
            .filter(|f| f.part == number)
            .map(|f| f.problem.to_string())
            .collect()
    };
    // The validator reports NUL bytes and over-long lines for the whole message
    // (Exchange refuses the whole message); here they are pinned to the part whose
    // header or body holds them.
    let head = &msg[part.start.min(part.header.body_start)..part.header.body_start];
    let mut here: Vec<(&str, &[u8])> = vec![("header", head)];
    if matches!(part.kind, Kind::Leaf) {
        here.push(("body", &msg[part.body.clone()]));
    }
    for (what, bytes) in here {
        if memchr::memchr(0, bytes).is_some() {
            problems.push(format!("NUL bytes in its {what}"));
        }
        let longest = encoding::max_line_len(bytes);
        if longest > validate::MAX_LINE {
            problems.push(format!(
                "a line of {longest} octets in its {what} (limit {}, RFC 5322 §2.1.1)",
                validate::MAX_LINE
            ));
        }
    }
    out.push(MimeNode {
        part: number.clone(),
        depth,
        mime_type: part.content_type.mime_type.clone(),
        charset: part
            .content_type
            .param("charset")
            .map(|c| printable(&String::from_utf8_lossy(c))),
        encoding: part.encoding.clone(),
        filename: validate::filename(msg, part).map(|n| printable(&String::from_utf8_lossy(&n))),
        body_bytes: part.body.len(),
        problems,
    });
    match &part.kind {
        Kind::Leaf => {}
        Kind::Multipart(mp) => {
            for (i, child) in mp.parts.iter().enumerate() {
                let n = if number.is_empty() {
                    (i + 1).to_string()
                } else {
                    format!("{number}.{}", i + 1)
                };
                tree(msg, child, n, depth + 1, findings, out);
            }
        }
        Kind::Message(inner) => {
            let n = if number.is_empty() {
                "1".to_string()
            } else {
                number
            };
            tree(msg, inner, n, depth + 1, findings, out);
        }
    }
}

impl Shown {
    /// The text an admin reads.
    pub fn render(&self, user_dir: &Path) -> String {
        let e = &self.entry;
        let mut s = String::new();
        let _ = writeln!(s, "ID:            {}", self.id);
        match &e.released {
            Some(r) => {
                let _ = writeln!(
                    s,
                    "Status:        released {} ({}), staged as {}",
                    r.at,
                    if r.as_is {
                        "as it is"
                    } else {
                        "through the repair engine"
                    },
                    e.path.as_deref().unwrap_or("")
                );
                let _ = writeln!(s, "Reason:        {} ({})", r.reason, r.reason_kind);
            }
            None => {
                let _ = writeln!(s, "Status:        quarantined");
                let _ = writeln!(
                    s,
                    "Reason:        {} ({})",
                    e.reason.as_deref().unwrap_or(""),
                    e.reason_kind.as_deref().unwrap_or("")
                );
            }
        }
        let _ = writeln!(s, "Folder:        {}", e.folder.as_deref().unwrap_or(""));
        let _ = writeln!(s, "Source file:   {}", e.source);
        let _ = writeln!(s, "Internal date: {}", e.internal_date);
        let _ = writeln!(
            s,
            "Flags:         {}",
            if e.flags.is_empty() {
                "(none)".to_string()
            } else {
                e.flags.join(" ")
            }
        );
        let _ = writeln!(s, "Size:          {} bytes", e.source_size);
        let _ = writeln!(s, "SHA-256:       {}", e.sha256);
        match &self.file {
            Some(f) => {
                let _ = writeln!(s, "Original:      {}", user_dir.join(f).display());
            }
            None => {
                let _ = writeln!(
                    s,
                    "Original:      (none: the source file could not be read)"
                );
                return s;
            }
        }
        let _ = writeln!(
            s,
            "\nHeader ({} fields):",
            self.header.len() + self.header_omitted
        );
        if self.header.is_empty() {
            let _ = writeln!(s, "  (no header fields)");
        }
        for (n, v) in &self.header {
            let _ = writeln!(s, "  {n}: {v}");
        }
        if self.header_omitted > 0 {
            let _ = writeln!(s, "  … {} more", self.header_omitted);
        }
        let _ = writeln!(s, "\nMIME structure:");
        for n in &self.mime {
            let mut line = format!(
                "{}{} {}",
                "  ".repeat(n.depth + 1),
                if n.part.is_empty() {
                    "message"
                } else {
                    &n.part
                },
                n.mime_type
            );
            if let Some(c) = &n.charset {
                let _ = write!(line, "; charset={c}");
            }
            if let Some(enc) = &n.encoding {
                let _ = write!(line, " [{enc}]");
            }
            if let Some(f) = &n.filename {
                let _ = write!(line, " \"{f}\"");
            }
            let _ = write!(line, " {} bytes", n.body_bytes);
            let _ = writeln!(s, "{line}");
            for p in &n.problems {
                let _ = writeln!(s, "{}  ! {p}", "  ".repeat(n.depth + 1));
            }
        }
        if let Some(c) = &self.check {
            let _ = writeln!(s, "\nmailstage check (no size limit): {}", c.verdict);
            if !c.repairs.is_empty() {
                let _ = writeln!(s, "  repairs it would apply: {}", c.repairs.join(", "));
            }
            if let Some(q) = &c.quarantine_reason {
                let _ = writeln!(s, "  would still be quarantined: {q}");
            }
        }
        if e.released.is_none() {
            let _ = writeln!(
                s,
                "\nTo release it: mailstage quarantine release {} {} [--file FIXED.eml] [--force-as-is]",
                user_dir.display(),
                self.id
            );
        }
        s
    }
}
