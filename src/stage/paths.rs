//! Path names inside the staging tree: folder segments escaped reversibly, and
//! deterministic message file names.

use std::path::PathBuf;

use chrono::{DateTime, Utc};

/// Directory of staged messages, relative to the user's staging dir.
pub const MAIL_DIR: &str = "mail";
/// Directory of quarantined originals, relative to the user's staging dir.
pub const QUARANTINE_DIR: &str = "quarantine";
/// The manifest file name.
pub const MANIFEST: &str = "manifest.jsonl";
/// Scratch directory for atomic writes (same file system as the targets, so a
/// rename is atomic).
pub const TMP_DIR: &str = ".tmp";

/// Escape one folder-name segment so that it is a safe, single path segment.
///
/// STAGING.md: names that cannot be a path segment as-is (`/`, `.`, `..`, NUL,
/// control bytes) are escaped reversibly. We percent-encode `%`, `/`, `\`, control
/// characters (C0, DEL) and a whole segment of `.` or `..`; a leading `.` is escaped
/// too so that no folder becomes a hidden directory. [`unescape_segment`] reverses it.
pub fn escape_segment(seg: &str) -> String {
    if seg.is_empty() {
        // The folder mapping never produces empty segments; should one arrive, a
        // lone `%` (which no other segment escapes to) keeps it reversible.
        return "%".to_string();
    }
    let mut out = String::with_capacity(seg.len());
    for (i, c) in seg.char_indices() {
        let escape = matches!(c, '%' | '/' | '\\') || c.is_ascii_control() || (i == 0 && c == '.');
        if escape {
            out.push_str(&format!("%{:02X}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// Reverse [`escape_segment`]. Returns `None` for a malformed escape.
pub fn unescape_segment(seg: &str) -> Option<String> {
    if seg == "%" {
        return Some(String::new());
    }
    let bytes = seg.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Relative directory (under `mail/` or `quarantine/`) for a target folder.
pub fn folder_dir(segments: &[String]) -> PathBuf {
    segments.iter().map(|s| escape_segment(s)).collect()
}

/// The deterministic file name of a message: its internal date (UTC, so admins can
/// sort by it) and the first 16 hex digits of the source's SHA-256 (so renaming the
/// source file, as a flag change does, keeps the name).
pub fn message_file_name(internal_date: DateTime<Utc>, source_sha256: &[u8; 32]) -> String {
    format!(
        "{}-{}.eml",
        internal_date.format("%Y%m%d-%H%M%S"),
        hex::encode(&source_sha256[..8])
    )
}

/// The reason file that sits beside a quarantined original.
pub fn reason_file_name(message_file: &str) -> String {
    match message_file.strip_suffix(".eml") {
        Some(stem) => format!("{stem}.reason.txt"),
        None => format!("{message_file}.reason.txt"),
    }
}

/// Join relative path components with `/` for the manifest (paths in the manifest
/// are `/`-separated whatever the platform).
pub fn manifest_path(parts: &[&str]) -> String {
    parts
        .iter()
        .filter(|p| !p.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn escapes_unsafe_segments() {
        assert_eq!(escape_segment("Sent Items"), "Sent Items");
        assert_eq!(escape_segment("a/b"), "a%2Fb");
        assert_eq!(escape_segment("."), "%2E");
        assert_eq!(escape_segment(".."), "%2E.");
        assert_eq!(escape_segment(".hidden"), "%2Ehidden");
        assert_eq!(escape_segment("100%"), "100%25");
        assert_eq!(escape_segment("tab\there"), "tab%09here");
        assert_eq!(escape_segment("Österreich"), "Österreich");
    }

    #[test]
    fn names_are_deterministic() {
        let d = DateTime::from_timestamp(1_236_982_500, 0).unwrap();
        assert_eq!(
            message_file_name(d, &[0x0f; 32]),
            "20090313-221500-0f0f0f0f0f0f0f0f.eml"
        );
        assert_eq!(reason_file_name("x.eml"), "x.reason.txt");
    }

    proptest! {
        #[test]
        fn escape_round_trips(s in "\\PC{0,12}|[./%\\\\\t]{1,6}") {
            let e = escape_segment(&s);
            prop_assert!(!e.contains('/'));
            prop_assert!(e != "." && e != "..");
            prop_assert!(!e.starts_with('.'));
            prop_assert!(!e.bytes().any(|b| b < 0x20 || b == 0x7f));
            prop_assert_eq!(unescape_segment(&e), Some(s));
        }
    }
}
