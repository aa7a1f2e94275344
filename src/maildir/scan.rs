//! Walking a Maildir tree: layout detection, folder discovery, message listing.
//!
//! Cost model (the tree may hold 100k messages per folder): every directory is read
//! once with `read_dir`, whose entries already carry the file type on Linux (`d_type`),
//! and every message costs one `lstat` (plus one `stat` for a symbolic link), made
//! by path after the names are sorted, so that no `DirEntry` is kept per message.
//! Message contents are never opened.
//!
//! Symbolic links to directories are never followed: they could loop or lead out of
//! the user's tree. A symbolic link to a regular file in `cur/`/`new/` is a message
//! (some setups deduplicate mail that way), described by its target's metadata.
//!
//! Two steps, so that memory does not grow with the mailbox (a user may have 100k
//! messages): [`Scanner::open`] walks the folder structure only (every directory
//! except `cur/` and `new/`), and [`Scanner::list`] lists one folder's messages into
//! a compact [`FolderMessages`], which the caller drops before listing the next.
//! Warnings are kept in walk order whatever order folders are listed in: each
//! mailbox has a slot at the point of the walk where its listing warnings belong,
//! so [`Scanner::finish`] gives the same list the one-pass walk always gave.

use std::collections::{BTreeMap, HashSet};
use std::ffi::OsString;
use std::fs::{self, DirEntry};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::filename::{FlagSet, flag_set, parse_filename, parse_info};
use super::keywords::{KEYWORDS_FILE, Keywords};
use super::{
    Folder, Layout, LayoutChoice, MailboxDirs, ScanError, ScanWarning, decode_segment,
    fallback_segment,
};

mod listing;
pub use listing::{Chunks, Listing};

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

/// See [`Ctx::entries`].
struct Entries<'a> {
    ctx: &'a mut Ctx,
    dir: &'a Path,
    iter: fs::ReadDir,
}

impl Iterator for Entries<'_> {
    type Item = (DirEntry, Kind);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match self.iter.next()? {
                Ok(entry) => {
                    if let Some(kind) = self.ctx.kind_of(&entry) {
                        return Some((entry, kind));
                    }
                }
                Err(e) => self.ctx.io_warning(self.dir.to_path_buf(), &e),
            }
        }
    }
}

/// State shared by the whole walk.
#[derive(Debug, Default)]
struct Ctx {
    ignored: u64,
    warnings: Vec<ScanWarning>,
    /// One per mailbox, in walk order.
    slots: Vec<Slot>,
}

/// Where one mailbox's listing warnings go among the walk's warnings, and what
/// listing it found.
#[derive(Debug, Default)]
struct Slot {
    /// The listing warnings come just before walk warning number `at`.
    at: usize,
    warnings: Vec<ScanWarning>,
    ignored: u64,
}

impl Ctx {
    /// Reserve the warning slot of a mailbox whose directory entries were just
    /// examined: in the one-pass walk its message warnings came right here.
    fn new_slot(&mut self) -> usize {
        self.slots.push(Slot {
            at: self.warnings.len(),
            ..Slot::default()
        });
        self.slots.len() - 1
    }

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

    /// What an entry is, from the directory entry itself (`d_type` on Linux); `None`
    /// with a warning if that cannot be found.
    fn kind_of(&mut self, entry: &DirEntry) -> Option<Kind> {
        match entry.file_type() {
            Ok(t) if t.is_symlink() => Some(Kind::Symlink),
            Ok(t) if t.is_dir() => Some(Kind::Dir),
            Ok(t) if t.is_file() => Some(Kind::File),
            Ok(_) => Some(Kind::Other),
            Err(e) => {
                self.io_warning(entry.path(), &e);
                None
            }
        }
    }

    /// The entries of `dir`, in directory order, with what each is: an entry that
    /// cannot be read or examined is a warning and skipped. Every listing of the
    /// scan goes through here, so that they all warn alike.
    fn entries<'a>(&'a mut self, dir: &'a Path) -> io::Result<Entries<'a>> {
        Ok(Entries {
            iter: fs::read_dir(dir)?,
            ctx: self,
            dir,
        })
    }

    /// List a directory, sorted by name bytes so that everything derived from it
    /// is deterministic. Entries that cannot be examined become warnings.
    fn read_sorted(&mut self, dir: &Path) -> io::Result<Vec<Entry>> {
        let mut out: Vec<Entry> = self
            .entries(dir)?
            .map(|(entry, kind)| Entry {
                name: entry.file_name(),
                entry,
                kind,
            })
            .collect();
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

/// The structure of one mailbox directory (its messages are listed later).
struct Mailbox {
    /// Set if it has `cur/` or `new/`.
    dirs: Option<MailboxDirs>,
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

fn count_into(
    map: &mut BTreeMap<u8, (u64, Vec<u8>)>,
    byte: u8,
    rel_path: impl FnOnce() -> Vec<u8>,
) {
    map.entry(byte).or_insert_with(|| (0, rel_path())).0 += 1;
}

/// Examine the entries of a mailbox directory whose root-relative prefix is `rel`
/// (empty for the root, else ending in `/`); `cur/` and `new/` are not read yet.
fn scan_mailbox(ctx: &mut Ctx, rel: &[u8], entries: Vec<Entry>, subdirs: Subdirs) -> Mailbox {
    let mut cur = false;
    let mut new = false;
    let mut has_keywords = false;
    let mut folders = Vec::new();
    for e in entries {
        has_keywords |= e.name() == KEYWORDS_FILE.as_bytes() && e.kind != Kind::Dir;
        match (e.name(), e.kind) {
            (b"cur", Kind::Dir) => cur = true,
            (b"new", Kind::Dir) => new = true,
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
    let dirs = (cur || new).then(|| MailboxDirs {
        cur,
        new,
        has_keywords,
        rel: rel.to_vec(),
        slot: ctx.new_slot(),
    });
    Mailbox { dirs, folders }
}

/// List the messages of a mailbox directory `dir`: keywords, then `cur/` and `new/`,
/// then the aggregated flag warnings (the order of the one-pass walk).
fn list_mailbox(ctx: &mut Ctx, dir: &Path, mb: &MailboxDirs) -> FolderMessages {
    let keywords = load_keywords(ctx, dir, mb);
    let mut out = FolderMessages {
        dir: dir.to_path_buf(),
        prefix: mb.rel.clone(),
        keywords,
        names: Vec::new(),
        list: Vec::new(),
    };
    let mut tally = FlagTally::default();
    for (present, in_new) in [(mb.cur, false), (mb.new, true)] {
        if present {
            list_messages(ctx, &mut out, in_new, &mut tally);
        }
    }
    push_tally(ctx, dir, tally);
    // `cur/` before `new/`, then file name bytes: the order of the relative paths.
    let names = &out.names;
    out.list
        .sort_unstable_by(|a, b| (a.in_new, a.name(names)).cmp(&(b.in_new, b.name(names))));
    out.names.shrink_to_fit();
    out.list.shrink_to_fit();
    out
}

/// The aggregated flag warnings of a mailbox, after its messages' warnings.
fn push_tally(ctx: &mut Ctx, dir: &Path, tally: FlagTally) {
    for (letter, (count, example)) in tally.unmapped {
        ctx.warnings.push(ScanWarning::UnmappedKeyword {
            dir: dir.to_path_buf(),
            letter,
            messages: count,
            example,
        });
    }
    for (flag, (count, example)) in tally.unknown {
        ctx.warnings.push(ScanWarning::UnknownFlag {
            dir: dir.to_path_buf(),
            flag,
            messages: count,
            example,
        });
    }
}

/// The mailbox's `dovecot-keywords` table, if it has one (with its warnings).
fn load_keywords(ctx: &mut Ctx, dir: &Path, mb: &MailboxDirs) -> Keywords {
    if mb.has_keywords {
        read_keywords(ctx, dir)
    } else {
        Keywords::default()
    }
}

fn read_keywords(ctx: &mut Ctx, dir: &Path) -> Keywords {
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

/// One entry of a `cur/` or `new/` directory; its name is in the folder's name
/// buffer, so listing 100k files keeps no `DirEntry` or name allocation per file.
struct Listed {
    start: usize,
    len: usize,
    kind: Kind,
}

/// List the messages of one `cur/` or `new/` directory into `out`: every name
/// first (as [`Ctx::read_sorted`] would, same warnings), then, in name order, one
/// metadata call per file.
fn list_messages(ctx: &mut Ctx, out: &mut FolderMessages, in_new: bool, tally: &mut FlagTally) {
    let sub = out.dir.join(subdir(in_new));
    let dir = match ctx.entries(&sub) {
        Ok(dir) => dir,
        Err(e) => return ctx.io_warning(sub, &e),
    };
    let mut listed = Vec::new();
    for (entry, kind) in dir {
        let name = entry.file_name();
        listed.push(Listed {
            start: out.names.len(),
            len: name.len(),
            kind,
        });
        out.names.extend_from_slice(name.as_bytes());
    }
    let names = &out.names;
    let name_of = |l: &Listed| names.get(l.start..l.start + l.len).unwrap_or_default();
    listed.sort_unstable_by(|a, b| name_of(a).cmp(name_of(b)));
    out.list.reserve(listed.len());
    let mut unmapped = Vec::new();
    for l in listed {
        let name = out.names.get(l.start..l.start + l.len).unwrap_or_default();
        let at = Place {
            sub: &sub,
            prefix: &out.prefix,
            keywords: &out.keywords,
            in_new,
        };
        if let Some((flags, size, mtime)) = examine(ctx, &at, name, l.kind, tally, &mut unmapped) {
            out.list.push(Record {
                start: l.start,
                len: l.len,
                in_new,
                flags,
                size,
                mtime,
            });
        }
    }
}

/// Where the entries [`examine`] looks at are.
struct Place<'a> {
    /// The `cur/` or `new/` directory (absolute).
    sub: &'a Path,
    /// The mailbox's root-relative prefix (see [`FolderMessages`]).
    prefix: &'a [u8],
    keywords: &'a Keywords,
    in_new: bool,
}

/// One entry of a `cur/` or `new/` directory, in name order: its flags, size and
/// mtime if it is a message, else `None` (counted as ignored, or a warning).
fn examine(
    ctx: &mut Ctx,
    at: &Place<'_>,
    name: &[u8],
    kind: Kind,
    tally: &mut FlagTally,
    unmapped: &mut Vec<u8>,
) -> Option<(FlagSet, u64, SystemTime)> {
    let path = || at.sub.join(std::ffi::OsStr::from_bytes(name));
    let meta = match kind {
        Kind::Dir => {
            ctx.warnings
                .push(ScanWarning::UnexpectedDirectory { path: path() });
            return None;
        }
        // Dot files are not deliveries: `.DS_Store`, editor temp files, `.keep`.
        _ if name.starts_with(b".") => {
            ctx.ignored += 1;
            return None;
        }
        Kind::File => fs::symlink_metadata(path()),
        Kind::Symlink => fs::metadata(path()),
        Kind::Other => {
            ctx.ignored += 1;
            return None;
        }
    };
    let meta = match meta {
        Ok(m) if m.is_file() => m,
        Ok(m) if m.is_dir() => {
            ctx.warnings
                .push(ScanWarning::SymlinkNotFollowed { path: path() });
            return None;
        }
        Ok(_) => {
            ctx.ignored += 1;
            return None;
        }
        Err(err) => {
            ctx.io_warning(path(), &err);
            return None;
        }
    };
    let mtime = meta.modified().unwrap_or_else(|_| {
        ctx.warnings.push(ScanWarning::NoMtime { path: path() });
        SystemTime::UNIX_EPOCH
    });
    let info = parse_info(parse_filename(name).info.as_deref().unwrap_or_default());
    let flags = flag_set(&info, at.in_new, at.keywords, unmapped);
    let rel_path = || [at.prefix, subdir(at.in_new).as_bytes(), b"/", name].concat();
    for &letter in unmapped.iter() {
        count_into(&mut tally.unmapped, letter, rel_path);
    }
    for &flag in &info.unknown {
        count_into(&mut tally.unknown, flag, rel_path);
    }
    Some((flags, meta.len(), mtime))
}

fn subdir(in_new: bool) -> &'static str {
    if in_new { "new" } else { "cur" }
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

/// One message of a [`FolderMessages`] list: 48 bytes plus its file name.
#[derive(Debug, Clone)]
struct Record {
    /// The file name is `names[start..start + len]`.
    start: usize,
    len: usize,
    in_new: bool,
    flags: FlagSet,
    size: u64,
    mtime: SystemTime,
}

impl Record {
    fn name<'a>(&self, names: &'a [u8]) -> &'a [u8] {
        names
            .get(self.start..self.start + self.len)
            .unwrap_or_default()
    }
}

/// The messages of one folder, sorted by relative path, in a compact form: file
/// names in one buffer, flags as a [`FlagSet`] over the folder's keyword table, no
/// absolute path (built from the folder's directory when a message is read).
#[derive(Debug, Clone, Default)]
pub struct FolderMessages {
    /// The mailbox directory (absolute).
    dir: PathBuf,
    /// The mailbox's path relative to the root, with a final `/` (empty for INBOX).
    prefix: Vec<u8>,
    keywords: Keywords,
    names: Vec<u8>,
    list: Vec<Record>,
}

impl FolderMessages {
    /// Number of messages.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// True if the folder has no messages (or is not a mailbox).
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Message number `index` (in relative path order).
    ///
    /// # Panics
    /// If `index >= self.len()`, like slice indexing.
    pub fn get(&self, index: usize) -> Message<'_> {
        Message {
            folder: self,
            rec: &self.list[index],
        }
    }

    /// Every message, in relative path order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = Message<'_>> + '_ {
        self.list
            .iter()
            .map(move |rec| Message { folder: self, rec })
    }

    /// Sum of the messages' sizes.
    pub fn total_bytes(&self) -> u64 {
        self.list.iter().map(|r| r.size).sum()
    }

    /// The folder's `dovecot-keywords` table, which the flag sets refer to.
    pub fn keywords(&self) -> &Keywords {
        &self.keywords
    }
}

/// One message of a [`FolderMessages`]; everything that is not stored is built on
/// demand.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    folder: &'a FolderMessages,
    rec: &'a Record,
}

impl<'a> Message<'a> {
    /// The file name in `cur/` or `new/`.
    pub fn name(&self) -> &'a [u8] {
        self.rec.name(&self.folder.names)
    }

    /// The file is in `new/`.
    pub fn in_new(&self) -> bool {
        self.rec.in_new
    }

    /// File size in bytes, from metadata.
    pub fn size(&self) -> u64 {
        self.rec.size
    }

    /// File mtime (INTERNALDATE).
    pub fn mtime(&self) -> SystemTime {
        self.rec.mtime
    }

    /// The flags in compact form; names via [`FolderMessages::keywords`].
    pub fn flag_set(&self) -> FlagSet {
        self.rec.flags
    }

    /// IMAP flags in canonical order (see [`super::SourceMessage::flags`]).
    pub fn flags(&self) -> Vec<String> {
        self.rec.flags.names(&self.folder.keywords)
    }

    /// Path relative to the Maildir root, `/`-separated bytes.
    pub fn rel_path(&self) -> Vec<u8> {
        let sub = subdir(self.rec.in_new).as_bytes();
        [&self.folder.prefix[..], sub, b"/", self.name()].concat()
    }

    /// Absolute path: the folder's directory, `cur` or `new`, the file name (the
    /// same bytes the directory entry gave).
    pub fn path(&self) -> PathBuf {
        let mut p = self.folder.dir.join(subdir(self.rec.in_new));
        p.push(std::ffi::OsStr::from_bytes(self.name()));
        p
    }

    /// The message as the one-pass scan described it.
    pub fn to_source(&self) -> super::SourceMessage {
        super::SourceMessage {
            rel_path: self.rel_path(),
            path: self.path(),
            size: self.size(),
            mtime: self.mtime(),
            in_new: self.in_new(),
            flags: self.flags(),
        }
    }
}

/// What listing the folders added to the walk: counts and warnings for the report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanTotals {
    /// Non-message files seen (see [`super::Maildir::ignored_files`]).
    pub ignored_files: u64,
    /// Every warning of the walk and of the listings, in walk order.
    pub warnings: Vec<ScanWarning>,
}

/// A Maildir whose folders are known and whose messages are listed one folder at a
/// time (see the module docs).
#[derive(Debug)]
pub struct Scanner {
    root: PathBuf,
    layout: Layout,
    folders: Vec<Folder>,
    ctx: Ctx,
}

impl Scanner {
    /// Walk the folder structure of the Maildir at `root` (read-only); no `cur/` or
    /// `new/` directory is read yet.
    ///
    /// Fails only if the root is missing, not a directory, unreadable, or not a
    /// Maildir; everything else becomes a [`ScanWarning`].
    pub fn open(root: &Path, choice: LayoutChoice) -> Result<Scanner, ScanError> {
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
        let inbox = scan_mailbox(&mut ctx, b"", entries, policy);
        if inbox.dirs.is_none() {
            ctx.warnings.push(ScanWarning::NoInbox {
                root: abs_root.clone(),
            });
        }
        let mut folders = vec![Folder {
            name: vec!["INBOX".to_owned()],
            dir: inbox.dirs.is_some().then(|| abs_root.clone()),
            raw_name: Vec::new(),
            name_ok: true,
            mailbox: inbox.dirs,
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
        // INBOX (the root) first, then by decoded segments; raw names break ties
        // between a fallback name and a real name that happen to look alike.
        folders.sort_by(|a, b| {
            (!a.is_inbox(), &a.name, &a.raw_name).cmp(&(!b.is_inbox(), &b.name, &b.raw_name))
        });
        Ok(Scanner {
            root: abs_root,
            layout,
            folders,
            ctx,
        })
    }

    /// Absolute path of the Maildir root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The layout used to interpret the tree (detected or chosen).
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// Every folder: INBOX first, then sorted by decoded name segments (UTF-8 byte
    /// order), ties broken by raw name.
    pub fn folders(&self) -> &[Folder] {
        &self.folders
    }

    /// True if the root itself is a mailbox (has `cur/` or `new/`); otherwise
    /// [`ScanWarning::NoInbox`] is among the warnings.
    pub fn has_inbox(&self) -> bool {
        self.folders.first().is_some_and(|f| f.dir.is_some())
    }

    /// List the messages of folder number `index` of [`Scanner::folders`] (empty for
    /// a folder that is not a mailbox). Listing a folder again lists it afresh and
    /// replaces what the first listing added to the totals.
    ///
    /// # Panics
    /// If `index` is out of range.
    pub fn list(&mut self, index: usize) -> FolderMessages {
        let folder = &self.folders[index];
        let (Some(dir), Some(mb)) = (&folder.dir, &folder.mailbox) else {
            return FolderMessages::default();
        };
        let mut ctx = Ctx::default();
        let out = list_mailbox(&mut ctx, dir, mb);
        self.keep_listing(mb.slot, ctx);
        out
    }

    /// What listing a mailbox added (warnings, ignored files) goes to its slot.
    fn keep_listing(&mut self, slot: usize, ctx: Ctx) {
        if let Some(slot) = self.ctx.slots.get_mut(slot) {
            slot.warnings = ctx.warnings;
            slot.ignored = ctx.ignored;
        }
    }

    /// The counts and warnings of the walk and of every listing so far, warnings in
    /// the order of a walk that lists each mailbox as it meets it.
    pub fn finish(self) -> ScanTotals {
        let Ctx {
            mut ignored,
            warnings,
            slots,
        } = self.ctx;
        let mut out = Vec::with_capacity(warnings.len());
        let mut slots = slots.into_iter().peekable();
        for (i, w) in warnings.into_iter().enumerate() {
            while let Some(slot) = slots.next_if(|s| s.at <= i) {
                ignored += slot.ignored;
                out.extend(slot.warnings);
            }
            out.push(w);
        }
        for slot in slots {
            ignored += slot.ignored;
            out.extend(slot.warnings);
        }
        ScanTotals {
            ignored_files: ignored,
            warnings: out,
        }
    }
}

/// Maildir++ folders `.A.B`, plus parents that exist only through their children.
fn scan_plus_plus(ctx: &mut Ctx, dirs: Vec<Entry>, folders: &mut Vec<Folder>) {
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
                Some(scan_mailbox(ctx, &rel, entries, Subdirs::PlusPlusFolder))
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
            folders.push(Folder {
                name: parent_name,
                dir: None,
                raw_name: parent_raw,
                name_ok: ok.iter().take(depth + 1).all(|&b| b),
                mailbox: None,
            });
        }
        let dirs = mailbox.and_then(|m| m.dirs);
        folders.push(Folder {
            name,
            dir: dirs.is_some().then_some(path),
            raw_name,
            name_ok: ok.iter().all(|&b| b),
            mailbox: dirs,
        });
    }
}

/// `LAYOUT=fs` folders: every directory below the root except `cur`, `new`, `tmp`.
///
/// Dovecot docs ("Mailbox Directory Name"): a folder literally named `cur`, `new` or
/// `tmp` collides with the Maildir subdirectories unless `mailbox_directory_name` is
/// set; such directories are always read as Maildir subdirectories here.
fn scan_fs(ctx: &mut Ctx, dirs: Vec<Entry>, folders: &mut Vec<Folder>) {
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
                folders.push(Folder {
                    name,
                    dir: None,
                    raw_name,
                    name_ok,
                    mailbox: None,
                });
                continue;
            }
        };
        let rel = [&raw_name[..], b"/"].concat();
        let mailbox = scan_mailbox(ctx, &rel, entries, Subdirs::Fs);
        for child in mailbox.folders.iter().rev() {
            stack.push((child.path(), [&rel[..], child.name()].concat()));
        }
        folders.push(Folder {
            name,
            dir: mailbox.dirs.is_some().then_some(path),
            raw_name,
            name_ok,
            mailbox: mailbox.dirs,
        });
    }
}
