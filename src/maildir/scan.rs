//! Walking a Maildir tree: layout detection, folder discovery, message listing.
//!
//! Cost model (the tree may hold 100k messages per folder): every directory is read
//! once with `read_dir`, whose entries already carry the file type on Linux (`d_type`),
//! and every message costs one `lstat` through its directory entry (plus one `stat`
//! for a symbolic link). Message contents are never opened.
//!
//! Symbolic links to directories are never followed: they could loop or lead out of
//! the user's tree. A symbolic link to a regular file in `cur/`/`new/` is a message
//! (some setups deduplicate mail that way), described by its target's metadata.

use std::collections::{BTreeMap, HashSet};
use std::ffi::OsString;
use std::fs::{self, DirEntry};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::filename::{imap_flags, parse_filename, parse_info};
use super::keywords::{KEYWORDS_FILE, Keywords};
use super::{
    Layout, LayoutChoice, Maildir, ScanError, ScanWarning, SourceFolder, SourceMessage,
    decode_segment, fallback_segment,
};

/// What a directory entry is, without following symbolic links.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Dir,
    File,
    Symlink,
    Other,
}

struct Entry {
    name: OsString,
    entry: DirEntry,
    kind: Kind,
}

impl Entry {
    fn name(&self) -> &[u8] {
        self.name.as_bytes()
    }
    fn path(&self) -> PathBuf {
        self.entry.path()
    }
}

/// What to do with subdirectories of a mailbox directory that are not `cur`, `new`
/// or `tmp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Subdirs {
    /// Maildir++ root: `.X` directories are folders, anything else is foreign.
    PlusPlusRoot,
    /// Inside a Maildir++ folder: no folders can be here.
    PlusPlusFolder,
    /// `LAYOUT=fs`: every subdirectory is a child folder.
    Fs,
}

/// State shared by the whole walk.
#[derive(Default)]
struct Ctx {
    ignored: u64,
    warnings: Vec<ScanWarning>,
}

impl Ctx {
    fn io_warning(&mut self, path: PathBuf, e: &io::Error) {
        self.warnings.push(ScanWarning::Unreadable {
            path,
            kind: e.kind(),
            message: e.to_string(),
        });
    }

    /// Count a non-message file outside `cur/`/`new/`, warning if it is not one of
    /// the control files Dovecot, Courier or desktop systems are known to leave.
    fn ignore_file(&mut self, name: &[u8], path: PathBuf) {
        self.ignored += 1;
        if !is_known_control_file(name) {
            self.warnings.push(ScanWarning::UnexpectedFile { path });
        }
    }

    /// List a directory, sorted by name bytes so that everything derived from it
    /// is deterministic. Entries that cannot be examined become warnings.
    fn read_sorted(&mut self, dir: &Path) -> io::Result<Vec<Entry>> {
        let mut out = Vec::new();
        for entry in fs::read_dir(dir)? {
            let entry = match entry {
                Ok(entry) => entry,
                Err(e) => {
                    self.io_warning(dir.to_path_buf(), &e);
                    continue;
                }
            };
            let kind = match entry.file_type() {
                Ok(t) if t.is_symlink() => Kind::Symlink,
                Ok(t) if t.is_dir() => Kind::Dir,
                Ok(t) if t.is_file() => Kind::File,
                Ok(_) => Kind::Other,
                Err(e) => {
                    self.io_warning(entry.path(), &e);
                    continue;
                }
            };
            out.push(Entry {
                name: entry.file_name(),
                entry,
                kind,
            });
        }
        out.sort_unstable_by(|a, b| a.name().cmp(b.name()));
        Ok(out)
    }

    /// Count every non-directory below `dir` as ignored (for `tmp/` and foreign
    /// directories). Iterative, so a deeply nested tree cannot overflow the stack.
    fn ignore_tree(&mut self, dir: PathBuf) {
        let mut stack = vec![dir];
        while let Some(dir) = stack.pop() {
            let entries = match self.read_sorted(&dir) {
                Ok(entries) => entries,
                Err(e) => {
                    self.io_warning(dir, &e);
                    continue;
                }
            };
            for e in entries.iter().rev() {
                match e.kind {
                    Kind::Dir => stack.push(e.path()),
                    _ => self.ignored += 1,
                }
            }
        }
    }
}

/// Files Dovecot, Courier and desktops leave in a Maildir (Dovecot docs, "Maildir
/// Mailbox Format": control and index files; Courier: `courierimap*`; Maildir++ quota:
/// `maildirsize`).
fn is_known_control_file(name: &[u8]) -> bool {
    name.starts_with(b"dovecot")
        || name.starts_with(b"courier")
        || name.starts_with(b"._")
        || matches!(
            name,
            b"subscriptions" | b"maildirfolder" | b"maildirsize" | b".DS_Store" | b".customflags"
        )
}

/// The contents of one mailbox directory.
struct Mailbox {
    is_mailbox: bool,
    messages: Vec<SourceMessage>,
    /// Subdirectories that are (candidate) folders, per [`Subdirs`].
    folders: Vec<Entry>,
}

/// Per-mailbox tally of flag problems, aggregated so that 100k messages with the
/// same unmapped letter make one warning, not 100k.
#[derive(Default)]
struct FlagTally {
    unmapped: BTreeMap<u8, (u64, Vec<u8>)>,
    unknown: BTreeMap<u8, (u64, Vec<u8>)>,
}

fn count_into(map: &mut BTreeMap<u8, (u64, Vec<u8>)>, byte: u8, rel_path: &[u8]) {
    let slot = map.entry(byte).or_insert_with(|| (0, rel_path.to_vec()));
    slot.0 += 1;
}

/// Scan the entries of a mailbox directory `dir` whose root-relative prefix is `rel`
/// (empty for the root, else ending in `/`).
fn scan_mailbox(
    ctx: &mut Ctx,
    dir: &Path,
    rel: &[u8],
    entries: Vec<Entry>,
    subdirs: Subdirs,
) -> Mailbox {
    let mut cur = None;
    let mut new = None;
    let mut has_keywords = false;
    let mut folders = Vec::new();
    for e in entries {
        has_keywords |= e.name() == KEYWORDS_FILE.as_bytes() && e.kind != Kind::Dir;
        match (e.name(), e.kind) {
            (b"cur", Kind::Dir) => cur = Some(e.path()),
            (b"new", Kind::Dir) => new = Some(e.path()),
            (b"tmp", Kind::Dir) => ctx.ignore_tree(e.path()),
            (name, Kind::Dir) => match subdirs {
                Subdirs::Fs => folders.push(e),
                Subdirs::PlusPlusRoot if name.len() > 1 && name.starts_with(b".") => {
                    folders.push(e)
                }
                // Courier keeps keyword and ACL data in `courierimap*` directories.
                _ if name.starts_with(b"courier") => ctx.ignore_tree(e.path()),
                _ => {
                    ctx.warnings
                        .push(ScanWarning::UnexpectedDirectory { path: e.path() });
                    ctx.ignore_tree(e.path());
                }
            },
            (name, Kind::Symlink) => match fs::metadata(e.path()) {
                Ok(m) if m.is_dir() => ctx
                    .warnings
                    .push(ScanWarning::SymlinkNotFollowed { path: e.path() }),
                Ok(_) => ctx.ignore_file(name, e.path()),
                Err(err) => {
                    ctx.io_warning(e.path(), &err);
                    ctx.ignored += 1;
                }
            },
            (name, Kind::File | Kind::Other) => ctx.ignore_file(name, e.path()),
        }
    }
    let is_mailbox = cur.is_some() || new.is_some();
    let mut messages = Vec::new();
    if is_mailbox {
        let keywords = if has_keywords {
            load_keywords(ctx, dir)
        } else {
            Keywords::default()
        };
        let mut tally = FlagTally::default();
        for (sub, in_new) in [(cur, false), (new, true)] {
            if let Some(sub) = sub {
                let prefix = [rel, if in_new { b"new/" } else { b"cur/" }].concat();
                list_messages(
                    ctx,
                    &sub,
                    &prefix,
                    in_new,
                    &keywords,
                    &mut tally,
                    &mut messages,
                );
            }
        }
        for (letter, (count, example)) in tally.unmapped {
            let dir = dir.to_path_buf();
            ctx.warnings.push(ScanWarning::UnmappedKeyword {
                dir,
                letter,
                messages: count,
                example,
            });
        }
        for (flag, (count, example)) in tally.unknown {
            let dir = dir.to_path_buf();
            ctx.warnings.push(ScanWarning::UnknownFlag {
                dir,
                flag,
                messages: count,
                example,
            });
        }
        messages.sort_unstable_by(|a: &SourceMessage, b| a.rel_path.cmp(&b.rel_path));
    }
    Mailbox {
        is_mailbox,
        messages,
        folders,
    }
}

fn load_keywords(ctx: &mut Ctx, dir: &Path) -> Keywords {
    match Keywords::load(dir) {
        Ok(kw) => {
            if kw.skipped_lines() > 0 {
                ctx.warnings.push(ScanWarning::KeywordsGarbage {
                    path: dir.join(KEYWORDS_FILE),
                    lines: kw.skipped_lines(),
                });
            }
            kw
        }
        Err(e) => {
            ctx.io_warning(dir.join(KEYWORDS_FILE), &e);
            Keywords::default()
        }
    }
}

/// List the messages of one `cur/` or `new/` directory.
fn list_messages(
    ctx: &mut Ctx,
    sub: &Path,
    prefix: &[u8],
    in_new: bool,
    keywords: &Keywords,
    tally: &mut FlagTally,
    out: &mut Vec<SourceMessage>,
) {
    let entries = match ctx.read_sorted(sub) {
        Ok(entries) => entries,
        Err(e) => return ctx.io_warning(sub.to_path_buf(), &e),
    };
    out.reserve(entries.len());
    for e in entries {
        let meta = match e.kind {
            Kind::Dir => {
                ctx.warnings
                    .push(ScanWarning::UnexpectedDirectory { path: e.path() });
                continue;
            }
            // Dot files are not deliveries: `.DS_Store`, editor temp files, `.keep`.
            _ if e.name().starts_with(b".") => {
                ctx.ignored += 1;
                continue;
            }
            Kind::File => e.entry.metadata(),
            Kind::Symlink => fs::metadata(e.path()),
            Kind::Other => {
                ctx.ignored += 1;
                continue;
            }
        };
        let meta = match meta {
            Ok(m) if m.is_file() => m,
            Ok(m) if m.is_dir() => {
                ctx.warnings
                    .push(ScanWarning::SymlinkNotFollowed { path: e.path() });
                continue;
            }
            Ok(_) => {
                ctx.ignored += 1;
                continue;
            }
            Err(err) => {
                ctx.io_warning(e.path(), &err);
                continue;
            }
        };
        let rel_path = [prefix, e.name()].concat();
        let mtime = meta.modified().unwrap_or_else(|_| {
            ctx.warnings.push(ScanWarning::NoMtime { path: e.path() });
            SystemTime::UNIX_EPOCH
        });
        let info = parse_info(parse_filename(e.name()).info.as_deref().unwrap_or_default());
        let flags = imap_flags(&info, in_new, keywords);
        for &letter in &flags.unmapped {
            count_into(&mut tally.unmapped, letter, &rel_path);
        }
        for &flag in &info.unknown {
            count_into(&mut tally.unknown, flag, &rel_path);
        }
        out.push(SourceMessage {
            path: e.path(),
            rel_path,
            size: meta.len(),
            mtime,
            in_new,
            flags: flags.flags,
        });
    }
}

/// Maildir++ if some `.X` subdirectory of the root looks like a Maildir++ folder.
fn detect(root_entries: &[Entry]) -> Layout {
    let plus_plus = root_entries.iter().any(|e| {
        e.kind == Kind::Dir
            && e.name().len() > 1
            && e.name().starts_with(b".")
            && ["cur", "new", "maildirfolder"]
                .iter()
                .any(|n| fs::symlink_metadata(e.path().join(n)).is_ok())
    });
    if plus_plus {
        Layout::MaildirPlusPlus
    } else {
        Layout::Fs
    }
}

/// Decode raw name segments, with fallback and a warning for bad ones. Returns the
/// names and, per segment, whether it decoded.
fn decode_name(ctx: &mut Ctx, raw_name: &[u8], segments: &[&[u8]]) -> (Vec<String>, Vec<bool>) {
    segments
        .iter()
        .map(|seg| match decode_segment(seg) {
            Ok(name) => (name, true),
            Err(error) => {
                let fallback = fallback_segment(seg);
                ctx.warnings.push(ScanWarning::BadFolderName {
                    raw_name: raw_name.to_vec(),
                    segment: seg.to_vec(),
                    error,
                    fallback: fallback.clone(),
                });
                (fallback, false)
            }
        })
        .unzip()
}

/// Scan the Maildir at `root`; see [`super::scan`].
pub(super) fn scan(root: &Path, choice: LayoutChoice) -> Result<Maildir, ScanError> {
    let fatal = |source: io::Error| ScanError::Unreadable {
        path: root.to_path_buf(),
        source,
    };
    match fs::metadata(root) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(ScanError::NotADirectory {
                path: root.to_path_buf(),
            });
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(ScanError::NotFound {
                path: root.to_path_buf(),
            });
        }
        Err(e) => return Err(fatal(e)),
    }
    let abs_root = std::path::absolute(root).map_err(fatal)?;
    let mut ctx = Ctx::default();
    let entries = ctx.read_sorted(&abs_root).map_err(fatal)?;
    let has_maildir_dirs = entries
        .iter()
        .any(|e| e.kind == Kind::Dir && matches!(e.name(), b"cur" | b"new" | b"tmp"));
    let layout = match choice {
        LayoutChoice::Auto => detect(&entries),
        LayoutChoice::MaildirPlusPlus => Layout::MaildirPlusPlus,
        LayoutChoice::Fs => Layout::Fs,
    };
    let policy = match layout {
        Layout::MaildirPlusPlus => Subdirs::PlusPlusRoot,
        Layout::Fs => Subdirs::Fs,
    };
    let inbox = scan_mailbox(&mut ctx, &abs_root, b"", entries, policy);
    if !inbox.is_mailbox {
        ctx.warnings.push(ScanWarning::NoInbox {
            root: abs_root.clone(),
        });
    }
    let mut folders = vec![SourceFolder {
        name: vec!["INBOX".to_owned()],
        dir: inbox.is_mailbox.then(|| abs_root.clone()),
        raw_name: Vec::new(),
        name_ok: true,
        messages: inbox.messages,
    }];
    match layout {
        Layout::MaildirPlusPlus => scan_plus_plus(&mut ctx, inbox.folders, &mut folders),
        Layout::Fs => scan_fs(&mut ctx, inbox.folders, &mut folders),
    }
    if !has_maildir_dirs && !folders.iter().any(|f| f.dir.is_some()) {
        return Err(ScanError::NotAMaildir {
            path: root.to_path_buf(),
        });
    }
    // INBOX (the root) first, then by decoded segments; raw names break ties between
    // a fallback name and a real name that happen to look alike.
    folders.sort_by(|a, b| {
        (!a.is_inbox(), &a.name, &a.raw_name).cmp(&(!b.is_inbox(), &b.name, &b.raw_name))
    });
    Ok(Maildir {
        root: abs_root,
        layout,
        folders,
        ignored_files: ctx.ignored,
        warnings: ctx.warnings,
    })
}

/// Maildir++ folders `.A.B`, plus parents that exist only through their children.
fn scan_plus_plus(ctx: &mut Ctx, dirs: Vec<Entry>, folders: &mut Vec<SourceFolder>) {
    let mut seen: HashSet<Vec<u8>> = HashSet::new();
    let mut found = Vec::new();
    for e in dirs {
        let raw_name = e.name().to_vec();
        let segments: Vec<&[u8]> = raw_name
            .get(1..)
            .unwrap_or_default()
            .split(|&b| b == b'.')
            .collect();
        let (name, ok) = decode_name(ctx, &raw_name, &segments);
        let path = e.path();
        let mailbox = match ctx.read_sorted(&path) {
            Ok(entries) => {
                let rel = [&raw_name[..], b"/"].concat();
                Some(scan_mailbox(
                    ctx,
                    &path,
                    &rel,
                    entries,
                    Subdirs::PlusPlusFolder,
                ))
            }
            Err(err) => {
                ctx.io_warning(path.clone(), &err);
                None
            }
        };
        seen.insert(raw_name.clone());
        found.push((raw_name, name, ok, path, mailbox));
    }
    for (raw_name, name, ok, path, mailbox) in found {
        // `.A.B.C` implies `.A` and `.A.B`: every `.` after the first ends a parent.
        let dots = raw_name
            .iter()
            .enumerate()
            .skip(1)
            .filter(|(_, b)| **b == b'.')
            .map(|(i, _)| i);
        for (depth, end) in dots.enumerate() {
            let parent_raw = raw_name.get(..end).unwrap_or_default().to_vec();
            let parent_name: Vec<String> = name.iter().take(depth + 1).cloned().collect();
            // A `.INBOX.X` parent is the root INBOX itself (RFC 3501 §5.1: INBOX is
            // case-insensitive and always exists), not a second, empty INBOX.
            let is_inbox = matches!(parent_name.as_slice(), [n] if n.eq_ignore_ascii_case("INBOX"));
            if is_inbox || !seen.insert(parent_raw.clone()) {
                continue;
            }
            folders.push(SourceFolder {
                name: parent_name,
                dir: None,
                raw_name: parent_raw,
                name_ok: ok.iter().take(depth + 1).all(|&b| b),
                messages: Vec::new(),
            });
        }
        let (dir, messages) = match mailbox {
            Some(m) => (m.is_mailbox.then_some(path), m.messages),
            None => (None, Vec::new()),
        };
        folders.push(SourceFolder {
            name,
            dir,
            raw_name,
            name_ok: ok.iter().all(|&b| b),
            messages,
        });
    }
}

/// `LAYOUT=fs` folders: every directory below the root except `cur`, `new`, `tmp`.
///
/// Dovecot docs ("Mailbox Directory Name"): a folder literally named `cur`, `new` or
/// `tmp` collides with the Maildir subdirectories unless `mailbox_directory_name` is
/// set; such directories are always read as Maildir subdirectories here.
fn scan_fs(ctx: &mut Ctx, dirs: Vec<Entry>, folders: &mut Vec<SourceFolder>) {
    let mut stack: Vec<(PathBuf, Vec<u8>)> = dirs
        .iter()
        .rev()
        .map(|e| (e.path(), e.name().to_vec()))
        .collect();
    while let Some((path, raw_name)) = stack.pop() {
        let segments: Vec<&[u8]> = raw_name.split(|&b| b == b'/').collect();
        let (name, ok) = decode_name(ctx, &raw_name, &segments);
        let name_ok = ok.iter().all(|&b| b);
        let entries = match ctx.read_sorted(&path) {
            Ok(entries) => entries,
            Err(err) => {
                ctx.io_warning(path, &err);
                folders.push(SourceFolder {
                    name,
                    dir: None,
                    raw_name,
                    name_ok,
                    messages: Vec::new(),
                });
                continue;
            }
        };
        let rel = [&raw_name[..], b"/"].concat();
        let mailbox = scan_mailbox(ctx, &path, &rel, entries, Subdirs::Fs);
        for child in mailbox.folders.iter().rev() {
            stack.push((child.path(), [&rel[..], child.name()].concat()));
        }
        let dir = mailbox.is_mailbox.then_some(path);
        folders.push(SourceFolder {
            name,
            dir,
            raw_name,
            name_ok,
            messages: mailbox.messages,
        });
    }
}
