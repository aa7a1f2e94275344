//! Read-only scanner of one user's Maildir: which folders exist, which files are
//! messages, and what their file names and metadata say (flags, INTERNALDATE, size).
//!
//! Two directory layouts are understood (Dovecot docs, "Maildir Mailbox Format",
//! §Directory Layout), both with INBOX in the root's `cur/`, `new/`, `tmp/`:
//! - **Maildir++** (Courier's and Dovecot's default): every folder is a root
//!   subdirectory `.Name` or `.Parent.Child`, `.` separating hierarchy levels;
//! - **`LAYOUT=fs`**: folders are nested directories, `Parent/Child`.
//!
//! Folder names are stored on disk in IMAP modified UTF-7 (RFC 3501 §5.1.3), one
//! hierarchy segment at a time; they are decoded here, with a reversible fallback and
//! a warning when a segment is malformed.
//!
//! The scanner never writes, never reads message contents (one `read_dir` per
//! directory and one metadata call per file), keeps file names as bytes, and treats
//! everything short of an unusable root as a [`ScanWarning`]: one unreadable entry
//! must not stop a migration. Output is deterministic: folders, messages and warnings
//! come out in the same order for the same tree.
//!
//! [`Scanner`] is the streaming form: the folder structure first, then one folder's
//! messages at a time in a compact [`FolderMessages`] (about 50 bytes plus the file
//! name per message), so memory follows the largest folder, not the mailbox; and
//! `convert`'s [`Scanner::list_bounded`] keeps a folder of more than a piece of
//! messages on temp files ([`Listing`]), so memory follows neither. [`scan`] lists
//! everything at once into plain structs ([`Maildir`]).

pub mod filename;
pub mod keywords;
mod scan;
#[cfg(test)]
mod scan_tests;

use std::path::{Path, PathBuf};
use std::time::SystemTime;

pub use filename::{
    FlagSet, ImapFlags, InfoFlags, ParsedName, flag_set, imap_flags, parse_filename, parse_info,
};
pub use keywords::Keywords;
pub use scan::{Chunks, FolderMessages, Listing, Message, ScanTotals, Scanner};

use crate::mutf7::Mutf7Error;

/// The directory layout of a Maildir tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Layout {
    /// Folders are root subdirectories `.A.B` (Maildir++).
    MaildirPlusPlus,
    /// Folders are nested directories `A/B` (Dovecot `LAYOUT=fs`).
    Fs,
}

impl Layout {
    /// The byte that separates hierarchy levels in a folder's on-disk name.
    pub fn separator(self) -> u8 {
        match self {
            Layout::MaildirPlusPlus => b'.',
            Layout::Fs => b'/',
        }
    }
}

/// Which layout [`scan`] should assume.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum LayoutChoice {
    /// Maildir++ if the root has a `.X` subdirectory containing `cur`, `new` or a
    /// `maildirfolder` file (what Maildir++ folders always have); otherwise fs.
    #[default]
    Auto,
    /// Force Maildir++.
    MaildirPlusPlus,
    /// Force Dovecot `LAYOUT=fs`.
    Fs,
}

/// The result of scanning one user's Maildir.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Maildir {
    /// Absolute path of the Maildir root.
    pub root: PathBuf,
    /// The layout used to interpret the tree (detected or chosen).
    pub layout: Layout,
    /// Every folder: INBOX first, then sorted by decoded name segments (UTF-8 byte
    /// order), ties broken by raw name.
    pub folders: Vec<SourceFolder>,
    /// Non-message files seen (control files, `tmp/` contents, dot files in
    /// `cur/`/`new/`, ...). Counted, never listed as messages.
    pub ignored_files: u64,
    /// Problems that did not stop the scan, in scan order.
    pub warnings: Vec<ScanWarning>,
}

impl Maildir {
    /// The folder with exactly these decoded segments (the root INBOX for
    /// `["INBOX"]`, since it sorts first).
    pub fn folder(&self, name: &[&str]) -> Option<&SourceFolder> {
        self.folders
            .iter()
            .find(|f| f.name.iter().map(String::as_str).eq(name.iter().copied()))
    }

    /// Number of messages in all folders.
    pub fn message_count(&self) -> usize {
        self.folders.iter().map(|f| f.messages.len()).sum()
    }

    /// Every message with its folder, in folder order then message order.
    pub fn messages(&self) -> impl Iterator<Item = (&SourceFolder, &SourceMessage)> {
        self.folders
            .iter()
            .flat_map(|f| f.messages.iter().map(move |m| (f, m)))
    }
}

/// One folder of the source Maildir.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFolder {
    /// Decoded hierarchy segments: `["INBOX"]` for the root; `.Archives.2009`
    /// (Maildir++) and `Archives/2009` (fs) are `["Archives", "2009"]`.
    pub name: Vec<String>,
    /// Absolute mailbox directory (the one holding `cur/`/`new/`); `None` for a folder
    /// that is not a mailbox: a parent that exists only through its children, a
    /// directory without `cur/` and `new/`, or one that could not be read.
    pub dir: Option<PathBuf>,
    /// The name as on disk, relative to the root: `b".Entw&APw-rfe"`,
    /// `b"Archives/2009"`, `b""` for INBOX.
    pub raw_name: Vec<u8>,
    /// False if some segment was not valid modified UTF-7; that segment then holds
    /// [`fallback_segment`] of its raw bytes.
    pub name_ok: bool,
    /// Messages, sorted by `rel_path` bytes.
    pub messages: Vec<SourceMessage>,
}

impl SourceFolder {
    /// True for the root INBOX (not for a folder that merely decodes to "INBOX").
    pub fn is_inbox(&self) -> bool {
        self.raw_name.is_empty()
    }

    /// The decoded segments joined with `/`, for messages and logs.
    pub fn display_name(&self) -> String {
        self.name.join("/")
    }
}

/// One folder as [`Scanner::open`] finds it, before its messages are listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Folder {
    /// Decoded hierarchy segments (see [`SourceFolder::name`]).
    pub name: Vec<String>,
    /// Absolute mailbox directory; `None` if not a mailbox (see [`SourceFolder::dir`]).
    pub dir: Option<PathBuf>,
    /// The name as on disk, relative to the root (see [`SourceFolder::raw_name`]).
    pub raw_name: Vec<u8>,
    /// False if some segment was not valid modified UTF-7.
    pub name_ok: bool,
    /// What [`Scanner::list`] needs; `Some` exactly when `dir` is.
    mailbox: Option<MailboxDirs>,
}

impl Folder {
    /// True for the root INBOX (not for a folder that merely decodes to "INBOX").
    pub fn is_inbox(&self) -> bool {
        self.raw_name.is_empty()
    }

    /// The decoded segments joined with `/`, for messages and logs.
    pub fn display_name(&self) -> String {
        self.name.join("/")
    }
}

/// What the walk found in a mailbox directory, for listing its messages later.
#[derive(Debug, Clone, PartialEq, Eq)]
struct MailboxDirs {
    cur: bool,
    new: bool,
    has_keywords: bool,
    /// Root-relative prefix of its messages' paths: empty or ending in `/`.
    rel: Vec<u8>,
    /// Index of its warning slot in the walk.
    slot: usize,
}

/// One message file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceMessage {
    /// Path relative to the Maildir root, `/`-separated bytes, e.g.
    /// `b".Sent/cur/123.M4P5.host,S=10:2,S"`.
    pub rel_path: Vec<u8>,
    /// Absolute path (built from the directory entry's bytes, never lossy).
    pub path: PathBuf,
    /// File size in bytes, from metadata (not from the `,S=` field).
    pub size: u64,
    /// File mtime: what Dovecot reports as IMAP INTERNALDATE (Dovecot docs, "Usage of
    /// Timestamps"; RFC 3501 §2.3.3).
    pub mtime: SystemTime,
    /// The file is in `new/` (delivered, never seen by a client).
    pub in_new: bool,
    /// IMAP flags in canonical order: `\Seen \Answered \Flagged \Deleted \Draft`,
    /// `$Forwarded`, then keywords in letter order.
    pub flags: Vec<String>,
}

/// A problem found while scanning that did not stop the scan.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScanWarning {
    /// A folder name segment is not valid modified UTF-7.
    #[error("folder \"{}\": segment \"{}\" is not valid modified UTF-7 ({error}); kept as {fallback:?}",
        raw_name.escape_ascii(), segment.escape_ascii())]
    BadFolderName {
        /// The folder's raw name relative to the root.
        raw_name: Vec<u8>,
        /// The offending segment.
        segment: Vec<u8>,
        /// Why decoding failed.
        error: Mutf7Error,
        /// The reversible fallback used as the segment's name.
        fallback: String,
    },
    /// A directory could not be listed or an entry could not be examined.
    #[error("{}: {message}", path.display())]
    Unreadable {
        /// The path that failed.
        path: PathBuf,
        /// The I/O error kind.
        kind: std::io::ErrorKind,
        /// The I/O error message.
        message: String,
    },
    /// A keyword letter with no entry in the mailbox's `dovecot-keywords`; the letter
    /// is dropped, so that keyword is lost.
    #[error("{}: keyword letter '{}' on {messages} message(s) (e.g. {}) is not in dovecot-keywords",
        dir.display(), char::from(*letter), example.escape_ascii())]
    UnmappedKeyword {
        /// The mailbox directory.
        dir: PathBuf,
        /// The letter, `a`–`z`.
        letter: u8,
        /// How many messages carry it.
        messages: u64,
        /// `rel_path` of the first such message.
        example: Vec<u8>,
    },
    /// A flag character that is neither a known system flag nor a keyword letter; it
    /// is ignored.
    #[error("{}: unknown flag {:?} on {messages} message(s) (e.g. {})",
        dir.display(), char::from(*flag), example.escape_ascii())]
    UnknownFlag {
        /// The mailbox directory.
        dir: PathBuf,
        /// The flag byte.
        flag: u8,
        /// How many messages carry it.
        messages: u64,
        /// `rel_path` of the first such message.
        example: Vec<u8>,
    },
    /// `dovecot-keywords` has lines that were skipped.
    #[error("{}: {lines} malformed line(s) ignored", path.display())]
    KeywordsGarbage {
        /// The keywords file.
        path: PathBuf,
        /// Number of skipped non-blank lines.
        lines: usize,
    },
    /// A symbolic link to a directory, not followed (it could loop or leave the tree).
    #[error("{}: symbolic link to a directory not followed", path.display())]
    SymlinkNotFollowed {
        /// The link.
        path: PathBuf,
    },
    /// A directory where no folder can be (inside `cur/`/`new/`, or a non-dot
    /// directory in a Maildir++ tree); not scanned for messages, its files are counted
    /// as ignored.
    #[error("{}: unexpected directory, not scanned for messages", path.display())]
    UnexpectedDirectory {
        /// The directory.
        path: PathBuf,
    },
    /// A non-message file outside `cur/`/`new/` that is not a known control file; it
    /// may hold mail in another format, so an admin should look at it.
    #[error("{}: unexpected file outside cur/ and new/, ignored", path.display())]
    UnexpectedFile {
        /// The file.
        path: PathBuf,
    },
    /// The root has neither `cur/` nor `new/`, so INBOX is empty; often a sign that
    /// the parent of the Maildir was given as root.
    #[error("{}: no cur/ or new/ in the Maildir root, INBOX is empty", root.display())]
    NoInbox {
        /// The root.
        root: PathBuf,
    },
    /// A message's mtime could not be read; `UNIX_EPOCH` is used.
    #[error("{}: no modification time, INTERNALDATE unknown", path.display())]
    NoMtime {
        /// The message file.
        path: PathBuf,
    },
}

/// Why a Maildir could not be scanned at all.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// The root does not exist.
    #[error("{}: Maildir root does not exist", path.display())]
    NotFound {
        /// The root as given.
        path: PathBuf,
    },
    /// The root is not a directory.
    #[error("{}: Maildir root is not a directory", path.display())]
    NotADirectory {
        /// The root as given.
        path: PathBuf,
    },
    /// The root has no `cur/`, `new/` or `tmp/` and no mailbox folder.
    #[error("{}: not a Maildir (no cur/, new/ or tmp/ and no mailbox folders)", path.display())]
    NotAMaildir {
        /// The root as given.
        path: PathBuf,
    },
    /// The root could not be examined or listed.
    #[error("{}: cannot read Maildir root: {source}", path.display())]
    Unreadable {
        /// The root as given.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

/// Scan the Maildir at `root` (read-only).
///
/// Fails only if the root is missing, not a directory, unreadable, or not a Maildir;
/// everything else becomes a [`ScanWarning`] in the result.
pub fn scan(root: &Path, layout: LayoutChoice) -> Result<Maildir, ScanError> {
    let mut scanner = Scanner::open(root, layout)?;
    let mut folders = Vec::with_capacity(scanner.folders().len());
    for i in 0..scanner.folders().len() {
        let messages = scanner.list(i).iter().map(|m| m.to_source()).collect();
        let f = &scanner.folders()[i];
        folders.push(SourceFolder {
            name: f.name.clone(),
            dir: f.dir.clone(),
            raw_name: f.raw_name.clone(),
            name_ok: f.name_ok,
            messages,
        });
    }
    let root = scanner.root().to_path_buf();
    let layout = scanner.layout();
    let totals = scanner.finish();
    Ok(Maildir {
        root,
        layout,
        folders,
        ignored_files: totals.ignored_files,
        warnings: totals.warnings,
    })
}

/// Decode one on-disk folder name segment from modified UTF-7.
pub fn decode_segment(raw: &[u8]) -> Result<String, Mutf7Error> {
    crate::mutf7::decode(raw)
}

/// The reversible stand-in for a segment that is not valid modified UTF-7.
///
/// Valid UTF-8 is kept as is (Maildirs written by non-IMAP tools often use raw UTF-8
/// names, and those should stay readable), except that `%` becomes `%25` and control
/// characters become `%XX` per byte; bytes that are not valid UTF-8 become `%XX`.
/// Unescaping every `%XX` gives back the raw bytes exactly.
pub fn fallback_segment(raw: &[u8]) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(raw.len());
    for chunk in raw.utf8_chunks() {
        for ch in chunk.valid().chars() {
            if ch == '%' || ch.is_control() {
                let mut buf = [0u8; 4];
                for b in ch.encode_utf8(&mut buf).bytes() {
                    let _ = write!(out, "%{b:02X}");
                }
            } else {
                out.push(ch);
            }
        }
        for b in chunk.invalid() {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Inverse of [`fallback_segment`], to prove it reversible.
    fn unescape(s: &str) -> Vec<u8> {
        let b = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%' {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 3;
            } else {
                out.push(b[i]);
                i += 1;
            }
        }
        out
    }

    #[test]
    fn fallback_examples() {
        assert_eq!(fallback_segment("Entwürfe".as_bytes()), "Entwürfe");
        assert_eq!(fallback_segment(b"&Jjo"), "&Jjo");
        assert_eq!(fallback_segment(b"100%"), "100%25");
        assert_eq!(fallback_segment(b"Entw\xfcrfe"), "Entw%FCrfe");
        assert_eq!(fallback_segment(b"a\tb\x7f"), "a%09b%7F");
        assert_eq!(fallback_segment("ü\u{85}".as_bytes()), "ü%C2%85");
    }

    proptest::proptest! {
        #[test]
        fn fallback_is_reversible(raw in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40)) {
            proptest::prop_assert_eq!(unescape(&fallback_segment(&raw)), raw);
        }
    }

    #[test]
    fn layout_separator_and_default_choice() {
        assert_eq!(Layout::MaildirPlusPlus.separator(), b'.');
        assert_eq!(Layout::Fs.separator(), b'/');
        assert_eq!(LayoutChoice::default(), LayoutChoice::Auto);
    }

    #[test]
    fn warnings_render() {
        let w = ScanWarning::UnmappedKeyword {
            dir: PathBuf::from("/m/.Sent"),
            letter: b'd',
            messages: 3,
            example: b".Sent/cur/1.x:2,Sd".to_vec(),
        };
        assert_eq!(
            w.to_string(),
            "/m/.Sent: keyword letter 'd' on 3 message(s) (e.g. .Sent/cur/1.x:2,Sd) is not in dovecot-keywords"
        );
        let w = ScanWarning::BadFolderName {
            raw_name: b".Bad&\xff".to_vec(),
            segment: b"Bad&\xff".to_vec(),
            error: Mutf7Error::InvalidByte { pos: 4, byte: 0xff },
            fallback: "Bad&%FF".into(),
        };
        assert!(w.to_string().contains(r".Bad&\xff"), "{w}");
    }
}
