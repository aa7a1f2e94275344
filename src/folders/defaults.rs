//! The built-in mapping (special folders) and the sanitising every Exchange target
//! name goes through.

use super::{RuleKind, Target};

/// Names IMAP clients and servers give the sent folder (Dovecot/Thunderbird `Sent`,
/// Apple Mail `Sent Messages`, Outlook `Sent Items`, Gmail-style `Sent Mail`).
const SENT: &[&str] = &["Sent", "Sent Messages", "Sent Items", "Sent Mail"];
/// Names of the trash folder.
const TRASH: &[&str] = &["Trash", "Deleted Messages", "Deleted Items", "Deleted"];
/// Names of the junk folder, including both Exchange spellings so that a mailbox
/// exported from one Exchange version lands on the other's name.
const JUNK: &[&str] = &["Junk", "Spam", "Bulk Mail", "Junk E-mail", "Junk Email"];
/// Names of the drafts folder.
const DRAFTS: &[&str] = &["Drafts", "Draft"];
/// Names of the archive folder (Thunderbird `Archives`, Apple Mail / Exchange `Archive`).
const ARCHIVE: &[&str] = &["Archives", "Archive"];

/// Suffix for a top-level name the target would treat specially.
const RENAMED_SUFFIX: &str = " (migrated)";

/// The Exchange name of a special folder, if `name` is one (ASCII case-insensitive:
/// clients differ in capitalisation, and the Exchange names are ASCII).
///
/// `Unsent Messages` (Thunderbird) is deliberately absent: mapping it to Exchange's
/// Outbox could make Outlook send those old messages.
pub(super) fn special(name: &str, target: Target) -> Option<&'static str> {
    let is = |names: &[&str]| names.iter().any(|n| n.eq_ignore_ascii_case(name));
    if is(SENT) {
        Some("Sent Items")
    } else if is(TRASH) {
        Some("Deleted Items")
    } else if is(JUNK) {
        // EXCHANGE.md: `Junk E-mail` on 2007/2010, `Junk Email` on 2013+ and Online.
        Some(match target {
            Target::Exchange2007 => "Junk E-mail",
            Target::Exchange | Target::M365 => "Junk Email",
        })
    } else if is(DRAFTS) {
        Some("Drafts")
    } else if is(ARCHIVE) {
        Some("Archive")
    } else {
        None
    }
}

/// The default target of a folder whose top-level segment is `first`.
///
/// Only the top level is looked up (a `Projects/Sent` folder is the project's, not the
/// mailbox's); children follow their parent. `INBOX` is case-insensitive (RFC 3501
/// §5.1). Courier-IMAP (and Dovecot with a Courier namespace) keeps every folder below
/// `INBOX.`, so `INBOX/Sent` is the mailbox's sent folder and maps like `Sent`.
pub(super) fn map_default(
    first: &str,
    rest: &[String],
    target: Target,
    notes: &mut Vec<String>,
) -> (Vec<String>, RuleKind) {
    if first.eq_ignore_ascii_case("INBOX") {
        if let Some((second, below)) = rest.split_first()
            && let Some(name) = special(second, target)
        {
            notes.push(format!(
                "Courier-style INBOX/{second} mapped like a top-level {second}"
            ));
            return (prepend(name, below), RuleKind::Special);
        }
        return (prepend("Inbox", rest), RuleKind::Special);
    }
    match special(first, target) {
        Some(name) => (prepend(name, rest), RuleKind::Special),
        None => (prepend(first, rest), RuleKind::Default),
    }
}

fn prepend(first: &str, rest: &[String]) -> Vec<String> {
    let mut out = Vec::with_capacity(rest.len() + 1);
    out.push(first.to_owned());
    out.extend(rest.iter().cloned());
    out
}

/// Makes every segment acceptable as an Exchange folder name, noting each change.
/// Returns whether anything changed. Idempotent.
///
/// - `/` inside a segment becomes `_`: it is Exchange's hierarchy separator
///   (EXCHANGE.md), so it would silently create a subfolder.
/// - Trailing spaces and dots are trimmed: Exchange 2007 misbehaves on names ending in
///   a space (EXCHANGE.md), and Windows-side tools (PST import) drop trailing dots.
/// - A segment left empty becomes `_`, since an empty name cannot be created.
/// - Top level, m365 only: `Files` is reserved on Exchange Online (`NO Folder name is
///   reserved`) and becomes `Files (migrated)`.
/// - Top level, every target: `Outbox` becomes `Outbox (migrated)`, because Exchange's
///   Outbox is where Outlook picks up messages to send.
pub(super) fn sanitise(segments: &mut [String], target: Target, notes: &mut Vec<String>) -> bool {
    let mut changed = false;
    for seg in segments.iter_mut() {
        if seg.contains('/') {
            let new = seg.replace('/', "_");
            notes.push(format!(
                "'/' replaced by '_' in {seg:?} ('/' is the folder separator on Exchange)"
            ));
            *seg = new;
            changed = true;
        }
        let trimmed = seg.trim_end_matches([' ', '.']);
        if trimmed.len() != seg.len() {
            let removed = seg.get(trimmed.len()..).unwrap_or_default();
            let what = match (removed.contains(' '), removed.contains('.')) {
                (true, false) => "trailing space",
                (false, true) => "trailing dot",
                _ => "trailing spaces and dots",
            };
            let new = if trimmed.is_empty() { "_" } else { trimmed }.to_owned();
            notes.push(format!("{what} trimmed: {seg:?} -> {new:?}"));
            *seg = new;
            changed = true;
        } else if seg.is_empty() {
            notes.push("empty folder name replaced by \"_\"".to_owned());
            "_".clone_into(seg);
            changed = true;
        }
    }
    if let Some(first) = segments.first_mut() {
        let reason = if target == Target::M365 && first.eq_ignore_ascii_case("Files") {
            Some("reserved name on Exchange Online")
        } else if first.eq_ignore_ascii_case("Outbox") {
            Some("Exchange's Outbox sends what it holds")
        } else {
            None
        };
        if let Some(reason) = reason {
            let new = format!("{first}{RENAMED_SUFFIX}");
            notes.push(format!("renamed: {reason} ({first:?} -> {new:?})"));
            *first = new;
            changed = true;
        }
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| (*x).to_owned()).collect()
    }

    #[test]
    fn sanitise_is_idempotent_on_examples() {
        for t in Target::ALL {
            for input in [
                &["Foo. ", "Bar"][..],
                &["", " "],
                &["a/b", "..."],
                &["files"],
                &["Outbox", "x."],
            ] {
                let mut once = s(input);
                let mut notes = Vec::new();
                sanitise(&mut once, t, &mut notes);
                let mut twice = once.clone();
                assert!(!sanitise(&mut twice, t, &mut notes), "{input:?} {t}");
                assert_eq!(once, twice);
            }
        }
    }

    #[test]
    fn only_top_level_is_special() {
        let mut notes = Vec::new();
        let (t, k) = map_default("Projects", &s(&["Sent"]), Target::Exchange, &mut notes);
        assert_eq!(t, s(&["Projects", "Sent"]));
        assert_eq!(k, RuleKind::Default);
        let mut seg = s(&["Inbox", "Files", "Outbox"]);
        assert!(!sanitise(&mut seg, Target::M365, &mut notes));
    }
}
