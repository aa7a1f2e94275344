//! Writing one user's staging tree: atomic files, a single manifest writer, and a
//! sweep that leaves the tree equal to what the manifest describes.
//!
//! Crash safety: a file only ever appears under its name complete, so an
//! interrupted run leaves no half-written `.eml`. On Linux a new file is written to
//! an unnamed inode in its own directory (`O_TMPFILE`, open(2)) and given its name
//! by `linkat(2)`: one directory update per file, as `cp` makes, where a temp file
//! and a rename lock two directories (the shared `.tmp/` and the target) and took
//! a fifth of a 10k convert's system time in lock spinning. Elsewhere, and to
//! replace an existing file, the file is written to `.tmp/` and renamed into place. The manifest is streamed to
//! `manifest.jsonl.partial` and renamed over `manifest.jsonl` only when the run is
//! complete, so readers always see the previous complete manifest or the new one.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use super::manifest::{self, Entry};
use super::paths::{MAIL_DIR, MANIFEST, QUARANTINE_DIR, TMP_DIR};
use crate::spill::{Spill, SpillError, Tape};

/// Errors writing a staging tree. Each carries the path it concerns.
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    /// A file system operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The path concerned.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The sweep's temporary files failed.
    #[error(transparent)]
    Spill(#[from] SpillError),
    /// Another mailstage process holds this user's staging directory.
    #[error("{path} is in use by another mailstage process (lock file {path}/.lock)")]
    Locked {
        /// The user's staging directory.
        path: PathBuf,
    },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> StageError + '_ {
    move |source| StageError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The set of files a run produced, for the sweep. It stores a 64-bit hash per
/// path rather than the path (memory must not grow by a path per message): a
/// collision can only make the sweep keep a stale file, never remove a needed one.
///
/// Up to a piece of hashes are kept in memory; past that, they go to a temp file
/// (8 bytes each) and [`UserStage::finish`] sweeps in buckets of about a piece of
/// hashes each (see `sweep_in_buckets`), so that memory does not grow with the
/// message count either.
#[derive(Debug)]
pub struct KeepSet {
    piece: usize,
    mem: Vec<u64>,
    tape: Tape,
}

/// Hashes a [`KeepSet`] holds in memory unless told otherwise.
pub const KEEP_PIECE: usize = 4096;

impl Default for KeepSet {
    fn default() -> Self {
        KeepSet::new(KEEP_PIECE)
    }
}

impl KeepSet {
    /// A set holding at most `piece` hashes in memory (at least one).
    pub fn new(piece: usize) -> Self {
        KeepSet {
            piece: piece.max(1),
            mem: Vec::new(),
            tape: Tape::default(),
        }
    }

    fn key(path: &str) -> u64 {
        use std::hash::{Hash, Hasher};
        // DefaultHasher::new() has fixed keys: the same path always hashes alike.
        let mut h = std::hash::DefaultHasher::new();
        path.hash(&mut h);
        h.finish()
    }

    /// Note a produced file (a `/`-separated path relative to the user's dir).
    pub fn insert(&mut self, path: &str) -> Result<(), SpillError> {
        if self.mem.len() >= self.piece {
            for k in self.mem.drain(..) {
                self.tape.write(&k.to_le_bytes())?;
            }
        }
        self.mem.push(Self::key(path));
        Ok(())
    }

    /// Hashes noted (with repeats).
    fn count(&self) -> u64 {
        self.tape.len() / 8 + self.mem.len() as u64
    }
}

/// What [`UserStage::finish`] removed because the new manifest no longer names it.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Sweep {
    /// Stale files removed from `mail/` and `quarantine/`.
    pub files: u64,
    /// Empty directories removed.
    pub dirs: u64,
}

/// What a run knows of one directory it writes into.
#[derive(Debug, Clone)]
struct DirState {
    /// It was empty when the run first saw it.
    fresh: bool,
    /// The directory, open, for `openat`/`linkat` (no path walk per file); `None`
    /// where the rename path is used.
    fd: Option<Arc<OwnedFd>>,
}

/// An open staging directory for one user.
#[derive(Debug)]
pub struct UserStage {
    root: PathBuf,
    tmp: PathBuf,
    manifest: BufWriter<File>,
    /// Directories this run has made sure exist, and whether each was empty then
    /// (a file in an empty directory can only be one this run wrote, so it needs no
    /// compare probe). Keyed by directory, so it grows by folder, not by message.
    dirs: Mutex<HashMap<PathBuf, DirState>>,
    /// Cleared the first time the file system refuses `O_TMPFILE` or `/proc` is
    /// missing for `linkat`: from then on every file takes the rename path.
    linked: AtomicBool,
    // Held for the lifetime of the run; released by the OS even after a crash.
    _lock: File,
}

impl UserStage {
    /// Open (creating if needed) `root` for a convert run: take the lock, clear
    /// leftovers of an interrupted run from `.tmp/`, start a new manifest.
    pub fn open(root: &Path) -> Result<Self, StageError> {
        fs::create_dir_all(root).map_err(io_err(root))?;
        let lock_path = root.join(".lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_err(&lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                return Err(StageError::Locked {
                    path: root.to_path_buf(),
                });
            }
            Err(fs::TryLockError::Error(e)) => return Err(io_err(&lock_path)(e)),
        }
        let tmp = root.join(TMP_DIR);
        if tmp.exists() {
            fs::remove_dir_all(&tmp).map_err(io_err(&tmp))?;
        }
        fs::create_dir_all(&tmp).map_err(io_err(&tmp))?;
        for d in [MAIL_DIR, QUARANTINE_DIR] {
            let p = root.join(d);
            fs::create_dir_all(&p).map_err(io_err(&p))?;
        }
        let partial = root.join(format!("{MANIFEST}.partial"));
        let file = File::create(&partial).map_err(io_err(&partial))?;
        Ok(UserStage {
            root: root.to_path_buf(),
            tmp,
            manifest: BufWriter::new(file),
            dirs: Mutex::new(HashMap::new()),
            linked: AtomicBool::new(cfg!(target_os = "linux")),
            _lock: lock,
        })
    }

    /// The user's staging directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Create a directory (relative to the staging dir) and its parents.
    pub fn create_dir(&self, rel: &Path) -> Result<(), StageError> {
        self.ensure_dir(&self.root.join(rel)).map(|_| ())
    }

    /// Make sure `dir` exists, once per run; says whether it was empty when this run
    /// first saw it, and holds it open for the linked path.
    fn ensure_dir(&self, dir: &Path) -> Result<DirState, StageError> {
        // Poisoning only means another writer panicked; the map is still valid.
        let mut dirs = self.dirs.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(state) = dirs.get(dir) {
            return Ok(state.clone());
        }
        let fresh = match fs::create_dir(dir) {
            Ok(()) => true,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let mut entries = fs::read_dir(dir).map_err(io_err(dir))?;
                entries.next().is_none()
            }
            Err(_) => {
                fs::create_dir_all(dir).map_err(io_err(dir))?;
                true
            }
        };
        let fd = if self.linked.load(Ordering::Relaxed) {
            Some(Arc::new(linked::open_dir(dir).map_err(io_err(dir))?))
        } else {
            None
        };
        let state = DirState { fresh, fd };
        dirs.insert(dir.to_path_buf(), state.clone());
        Ok(state)
    }

    /// Write `bytes` to `rel` atomically. An existing file with exactly these bytes
    /// is left in place (a re-run does not rewrite what is already staged); returns
    /// whether the file was written. Safe to call from many threads at once.
    pub fn write_file(&self, rel: &str, bytes: &[u8]) -> Result<bool, StageError> {
        let target = self.root.join(rel);
        let parent = target.parent().unwrap_or(&self.root);
        let dir = self.ensure_dir(parent)?;
        if !dir.fresh && same_content(&target, bytes) {
            return Ok(false);
        }
        if let (Some(fd), Some(name)) = (&dir.fd, target.file_name())
            && self.linked.load(Ordering::Relaxed)
        {
            match linked::write_new(fd, name, |f| f.write_all(bytes)) {
                Ok(linked::Done::Written) => return Ok(true),
                // Only a second write of one name in a run gets here: compare
                // and replace as for an existing directory.
                Ok(linked::Done::Exists) if same_content(&target, bytes) => return Ok(false),
                Ok(linked::Done::Exists) => {}
                Ok(linked::Done::Unsupported) => self.linked.store(false, Ordering::Relaxed),
                Err(e) => return Err(io_err(&target)(e)),
            }
        }
        let mut tmp = tempfile::NamedTempFile::new_in(&self.tmp).map_err(io_err(&self.tmp))?;
        tmp.write_all(bytes).map_err(io_err(tmp.path()))?;
        tmp.persist(&target).map_err(|e| io_err(&target)(e.error))?;
        Ok(true)
    }

    /// Copy the file at `src` to `rel` atomically as a stream (for originals too big
    /// to hold in memory). An existing file of the same size is kept: the name
    /// carries the source's hash, so same name and size mean the same bytes.
    pub fn copy_file(&self, rel: &str, src: &Path) -> Result<bool, StageError> {
        let target = self.root.join(rel);
        let src_len = fs::metadata(src).map_err(io_err(src))?.len();
        if fs::metadata(&target).is_ok_and(|m| m.is_file() && m.len() == src_len) {
            return Ok(false);
        }
        let parent = target.parent().unwrap_or(&self.root);
        self.ensure_dir(parent)?;
        let mut tmp = tempfile::NamedTempFile::new_in(&self.tmp).map_err(io_err(&self.tmp))?;
        let mut input = File::open(src).map_err(io_err(src))?;
        std::io::copy(&mut input, &mut tmp).map_err(io_err(src))?;
        tmp.persist(&target).map_err(|e| io_err(&target)(e.error))?;
        Ok(true)
    }

    /// Append one manifest line. Only the single writer calls this, in order.
    pub fn append(&mut self, entry: &Entry) -> Result<(), StageError> {
        let mut line = manifest::to_line(entry);
        line.push('\n');
        let partial = self.root.join(format!("{MANIFEST}.partial"));
        self.manifest
            .write_all(line.as_bytes())
            .map_err(io_err(&partial))
    }

    /// Finish the run: make the new manifest the manifest, and remove files under
    /// `mail/` and `quarantine/` that it no longer names (their source is gone or
    /// became something else) plus empty directories that are not in `keep_dirs`.
    pub fn finish(
        mut self,
        keep_files: KeepSet,
        keep_dirs: &HashSet<String>,
    ) -> Result<Sweep, StageError> {
        let partial = self.root.join(format!("{MANIFEST}.partial"));
        self.manifest.flush().map_err(io_err(&partial))?;
        self.manifest
            .get_ref()
            .sync_all()
            .map_err(io_err(&partial))?;
        let final_path = self.root.join(MANIFEST);
        fs::rename(&partial, &final_path).map_err(io_err(&final_path))?;
        let mut sweep = Sweep::default();
        if keep_files.tape.len() == 0 {
            let keep: HashSet<u64> = keep_files.mem.into_iter().collect();
            for area in [MAIL_DIR, QUARANTINE_DIR] {
                sweep_dir(&self.root, Path::new(area), &keep, keep_dirs, &mut sweep)?;
            }
        } else {
            sweep_in_buckets(&self.root, keep_files, keep_dirs, &mut sweep)?;
        }
        fs::remove_dir_all(&self.tmp).map_err(io_err(&self.tmp))?;
        Ok(sweep)
    }
}

/// Write `bytes` to `path` atomically and durably: a temp file in the same
/// directory (created if missing), fsynced, renamed over `path`. For the few files
/// written outside a convert run that must survive a crash (a release from
/// quarantine and what it changes).
pub fn write_durable(path: &Path, bytes: &[u8]) -> Result<(), StageError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(io_err(dir))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io_err(dir))?;
    tmp.write_all(bytes).map_err(io_err(path))?;
    tmp.as_file().sync_all().map_err(io_err(path))?;
    tmp.persist(path).map_err(|e| io_err(path)(e.error))?;
    Ok(())
}

/// Write a small file (JSON summaries) atomically, outside any run.
pub fn write_small_file(path: &Path, bytes: &[u8]) -> Result<(), StageError> {
    if same_content(path, bytes) {
        return Ok(());
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io_err(dir))?;
    tmp.write_all(bytes).map_err(io_err(tmp.path()))?;
    tmp.persist(path).map_err(|e| io_err(path)(e.error))?;
    Ok(())
}

/// Bytes compared per read in [`same_content`].
const COMPARE_BLOCK: usize = 256 * 1024;

/// True if `path` is a file holding exactly `bytes`.
///
/// Compared block by block, so a re-run never holds a second copy of a large
/// message; the block buffer is never zero-filled (`read_to_end` reads into its
/// spare capacity), so the compare costs the read and a `memcmp`.
fn same_content(path: &Path, bytes: &[u8]) -> bool {
    let Ok(meta) = fs::metadata(path) else {
        return false;
    };
    if !meta.is_file() || meta.len() != bytes.len() as u64 {
        return false;
    }
    let Ok(mut file) = File::open(path) else {
        return false;
    };
    let mut block = Vec::with_capacity(COMPARE_BLOCK.min(bytes.len()));
    let mut rest = bytes;
    while !rest.is_empty() {
        block.clear();
        let want = COMPARE_BLOCK.min(rest.len());
        match (&mut file).take(want as u64).read_to_end(&mut block) {
            Ok(n) if n == want && block == rest[..want] => rest = &rest[want..],
            _ => return false,
        }
    }
    // The file must not have grown since the metadata call.
    matches!(file.read(&mut [0u8; 1]), Ok(0))
}

/// Depth-first sweep of `root/rel`. Returns whether the directory is now empty.
fn sweep_dir(
    root: &Path,
    rel: &Path,
    keep_files: &HashSet<u64>,
    keep_dirs: &HashSet<String>,
    sweep: &mut Sweep,
) -> Result<bool, StageError> {
    let dir = root.join(rel);
    let mut empty = true;
    let entries = fs::read_dir(&dir).map_err(io_err(&dir))?;
    for entry in entries {
        let entry = entry.map_err(io_err(&dir))?;
        let child_rel = rel.join(entry.file_name());
        let key = rel_key(&child_rel);
        let ty = entry.file_type().map_err(io_err(&entry.path()))?;
        if ty.is_dir() {
            let now_empty = sweep_dir(root, &child_rel, keep_files, keep_dirs, sweep)?;
            if now_empty && !keep_dirs.contains(&key) {
                let p = root.join(&child_rel);
                fs::remove_dir(&p).map_err(io_err(&p))?;
                sweep.dirs += 1;
            } else {
                empty = false;
            }
        } else if keep_files.contains(&KeepSet::key(&key)) {
            empty = false;
        } else {
            let p = root.join(&child_rel);
            fs::remove_file(&p).map_err(io_err(&p))?;
            sweep.files += 1;
        }
    }
    Ok(empty)
}

/// Open files, and bytes buffered per file, of each of the two spills of
/// [`sweep_in_buckets`].
const SWEEP_PARTS: usize = 8;
const SWEEP_BUF: usize = 8 * 1024;

/// One directory met by [`sweep_in_buckets`].
struct SweepDir {
    rel: PathBuf,
    /// Index of the parent (`None` for `mail/` and `quarantine/`, never removed).
    parent: Option<usize>,
    files: u64,
    removed: u64,
    /// Subdirectories that stay.
    kept_dirs: u64,
}

/// [`sweep_dir`] for a [`KeepSet`] on disk, with the same result: the kept hashes
/// are cut into buckets by value (about a piece each), every file of the tree goes
/// to the bucket of its hash (a temp file again), and each bucket's files are
/// checked against that bucket's sorted hashes, one bucket in memory at a time.
/// Then the directories, deepest first: one with no file or directory left that
/// is not in `keep_dirs` is removed.
fn sweep_in_buckets(
    root: &Path,
    mut keep: KeepSet,
    keep_dirs: &HashSet<String>,
    sweep: &mut Sweep,
) -> Result<(), StageError> {
    let buckets = keep.count().div_ceil(keep.piece as u64).max(1);
    // By value, so that a bucket holds the keys of one range: uniform hashes make
    // the buckets even.
    let bucket = |k: u64| ((u128::from(k) * u128::from(buckets)) >> 64) as usize;
    let mut kept = Spill::with_limits(buckets as usize, SWEEP_PARTS, SWEEP_BUF);
    keep.tape.seal()?;
    let mut r = keep.tape.reader(0, keep.tape.len(), SWEEP_BUF);
    for _ in 0..keep.tape.len() / 8 {
        let mut b = [0u8; 8];
        r.read_exact(&mut b)?;
        kept.push(bucket(u64::from_le_bytes(b)), &b)?;
    }
    for k in keep.mem.drain(..) {
        kept.push(bucket(k), &k.to_le_bytes())?;
    }
    drop(r);
    drop(keep);

    let mut dirs = Vec::new();
    let mut files = Spill::with_limits(buckets as usize, SWEEP_PARTS, SWEEP_BUF);
    for area in [MAIL_DIR, QUARANTINE_DIR] {
        walk_files(root, Path::new(area), None, &bucket, &mut dirs, &mut files)?;
    }
    let mut keys: Vec<u64> = Vec::new();
    for b in 0..buckets as usize {
        keys.clear();
        kept.read::<StageError>(b, |rec| {
            let mut a = [0u8; 8];
            a.copy_from_slice(rec.get(..8).ok_or_else(|| SpillError::corrupt("key"))?);
            keys.push(u64::from_le_bytes(a));
            Ok(())
        })?;
        keys.sort_unstable();
        files.read::<StageError>(b, |rec| {
            let (head, name) = rec
                .split_at_checked(12)
                .ok_or_else(|| SpillError::corrupt("file"))?;
            let mut a = [0u8; 8];
            a.copy_from_slice(&head[..8]);
            let d = u32::from_le_bytes([head[8], head[9], head[10], head[11]]) as usize;
            if keys.binary_search(&u64::from_le_bytes(a)).is_err() {
                let dir = dirs.get_mut(d).ok_or_else(|| SpillError::corrupt("dir"))?;
                let p = root.join(&dir.rel).join(std::ffi::OsStr::from_bytes(name));
                fs::remove_file(&p).map_err(io_err(&p))?;
                sweep.files += 1;
                dir.removed += 1;
            }
            Ok(())
        })?;
    }
    // A directory comes after its parent in `dirs`: backwards, children first.
    for d in (0..dirs.len()).rev() {
        let Some(parent) = dirs[d].parent else {
            continue;
        };
        let dir = &dirs[d];
        let empty = dir.files == dir.removed && dir.kept_dirs == 0;
        if empty && !keep_dirs.contains(&rel_key(&dir.rel)) {
            let p = root.join(&dir.rel);
            fs::remove_dir(&p).map_err(io_err(&p))?;
            sweep.dirs += 1;
        } else {
            dirs[parent].kept_dirs += 1;
        }
    }
    Ok(())
}

/// Every file below `root/rel` into `files` (the bucket of its key: the hash, the
/// number of its directory in `dirs`, its name), every directory into `dirs`.
fn walk_files(
    root: &Path,
    rel: &Path,
    parent: Option<usize>,
    bucket: &impl Fn(u64) -> usize,
    dirs: &mut Vec<SweepDir>,
    files: &mut Spill,
) -> Result<(), StageError> {
    let me = dirs.len();
    dirs.push(SweepDir {
        rel: rel.to_path_buf(),
        parent,
        files: 0,
        removed: 0,
        kept_dirs: 0,
    });
    let dir = root.join(rel);
    let mut rec = Vec::new();
    for entry in fs::read_dir(&dir).map_err(io_err(&dir))? {
        let entry = entry.map_err(io_err(&dir))?;
        let name = entry.file_name();
        let child_rel = rel.join(&name);
        let ty = entry.file_type().map_err(io_err(&entry.path()))?;
        if ty.is_dir() {
            walk_files(root, &child_rel, Some(me), bucket, dirs, files)?;
        } else {
            let key = KeepSet::key(&rel_key(&child_rel));
            rec.clear();
            rec.extend_from_slice(&key.to_le_bytes());
            rec.extend_from_slice(&(me as u32).to_le_bytes());
            rec.extend_from_slice(name.as_bytes());
            files.push(bucket(key), &rec)?;
            dirs[me].files += 1;
        }
    }
    Ok(())
}

/// A relative path as the `/`-joined string used in manifests.
fn rel_key(rel: &Path) -> String {
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// A new file that gets its name only when complete: `O_TMPFILE` and `linkat(2)`.
mod linked {
    use std::ffi::OsStr;
    use std::fs::File;
    use std::io;
    use std::os::fd::OwnedFd;
    use std::path::Path;

    /// What [`write_new`] did.
    pub(super) enum Done {
        /// The file is in place under its name.
        Written,
        /// A file of that name exists; nothing was changed.
        Exists,
        /// This system cannot do it (no `O_TMPFILE` here, or no `/proc`).
        Unsupported,
    }

    /// Open a directory to create files in with [`write_new`].
    pub(super) fn open_dir(dir: &Path) -> io::Result<OwnedFd> {
        Ok(File::open(dir)?.into())
    }

    /// Cleared when `linkat(AT_EMPTY_PATH)` is refused (kernels before 6.10 want
    /// CAP_DAC_READ_SEARCH for it): then the `/proc/self/fd` link is used.
    #[cfg(target_os = "linux")]
    static EMPTY_PATH: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

    /// Write a new file `name` in the open directory `dir` with `fill`, naming it
    /// only once it is complete. Never replaces an existing file.
    #[cfg(target_os = "linux")]
    pub(super) fn write_new(
        dir: &OwnedFd,
        name: &OsStr,
        fill: impl FnOnce(&mut File) -> io::Result<()>,
    ) -> io::Result<Done> {
        use rustix::fs::{AtFlags, CWD, Mode, OFlags};
        use rustix::io::Errno;
        use std::os::fd::AsRawFd;
        use std::sync::atomic::Ordering;

        // The file mode the rename path's temp file gets (tempfile: 0600).
        let fd = match rustix::fs::openat(
            dir,
            ".",
            OFlags::TMPFILE | OFlags::WRONLY | OFlags::CLOEXEC,
            Mode::RUSR | Mode::WUSR,
        ) {
            Ok(fd) => fd,
            // EISDIR: a kernel that predates O_TMPFILE (open(2), BUGS); EOPNOTSUPP:
            // a file system without it.
            Err(Errno::OPNOTSUPP | Errno::ISDIR | Errno::INVAL) => return Ok(Done::Unsupported),
            Err(e) => return Err(e.into()),
        };
        let mut file = File::from(fd);
        fill(&mut file)?;
        let done = |r: rustix::io::Result<()>| match r {
            Ok(()) => Ok(Done::Written),
            Err(Errno::EXIST) => Ok(Done::Exists),
            Err(e) => Err(e),
        };
        // linkat(2) names the inode from its descriptor: AT_EMPTY_PATH where the
        // kernel lets the opener do that (Linux 6.10), else through its
        // /proc/self/fd link with AT_SYMLINK_FOLLOW.
        if EMPTY_PATH.load(Ordering::Relaxed) {
            match done(rustix::fs::linkat(
                &file,
                "",
                dir,
                name,
                AtFlags::EMPTY_PATH,
            )) {
                Ok(d) => return Ok(d),
                Err(Errno::NOENT | Errno::PERM) => EMPTY_PATH.store(false, Ordering::Relaxed),
                Err(e) => return Err(e.into()),
            }
        }
        let proc_path = format!("/proc/self/fd/{}", file.as_raw_fd());
        match done(rustix::fs::linkat(
            CWD,
            proc_path.as_str(),
            dir,
            name,
            AtFlags::SYMLINK_FOLLOW,
        )) {
            Ok(d) => Ok(d),
            Err(Errno::NOENT) if !Path::new("/proc/self/fd").is_dir() => Ok(Done::Unsupported),
            Err(e) => Err(e.into()),
        }
    }

    /// Not Linux: always the rename path.
    #[cfg(not(target_os = "linux"))]
    pub(super) fn write_new(
        _dir: &OwnedFd,
        _name: &OsStr,
        _fill: impl FnOnce(&mut File) -> io::Result<()>,
    ) -> io::Result<Done> {
        Ok(Done::Unsupported)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_writes_skip_identical_and_sweep_stale() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("alice");
        let st = UserStage::open(&root).unwrap();
        assert!(st.write_file("mail/Inbox/a.eml", b"one").unwrap());
        assert!(!st.write_file("mail/Inbox/a.eml", b"one").unwrap());
        assert!(st.write_file("mail/Inbox/a.eml", b"two").unwrap());
        assert!(st.write_file("mail/Old/b.eml", b"b").unwrap());
        // A second open while the first holds the lock is refused.
        assert!(matches!(
            UserStage::open(&root),
            Err(StageError::Locked { .. })
        ));
        let mut keep = KeepSet::default();
        keep.insert("mail/Inbox/a.eml").unwrap();
        let dirs: HashSet<String> = ["mail/Inbox".to_string(), "mail/Empty".to_string()].into();
        st.create_dir(Path::new("mail/Empty")).unwrap();
        let sweep = st.finish(keep, &dirs).unwrap();
        assert_eq!(sweep, Sweep { files: 1, dirs: 1 });
        assert_eq!(fs::read(root.join("mail/Inbox/a.eml")).unwrap(), b"two");
        assert!(root.join("mail/Empty").is_dir());
        assert!(!root.join("mail/Old").exists());
        assert!(!root.join(".tmp").exists());
        assert!(root.join("manifest.jsonl").is_file());
    }

    /// The bucketed sweep (a [`KeepSet`] on disk) removes exactly what the
    /// in-memory one does: the same files and directories, the same counts.
    #[test]
    fn bucketed_sweep_equals_the_in_memory_sweep() {
        let mut results = Vec::new();
        for piece in [KEEP_PIECE, 1, 2, 7] {
            let dir = tempfile::tempdir().unwrap();
            let root = dir.path().join("carol");
            let st = UserStage::open(&root).unwrap();
            let mut keep = KeepSet::new(piece);
            for i in 0..60 {
                let rel = format!("mail/F{}/sub{}/{i}.eml", i % 4, i % 3);
                st.write_file(&rel, b"x").unwrap();
                // Every third file is stale; a kept path may be noted twice.
                if i % 3 != 0 {
                    keep.insert(&rel).unwrap();
                    keep.insert(&rel).unwrap();
                }
            }
            st.write_file("quarantine/Q/stale.eml", b"q").unwrap();
            st.write_file("quarantine/Q/kept.eml", b"q").unwrap();
            keep.insert("quarantine/Q/kept.eml").unwrap();
            st.create_dir(Path::new("mail/Kept/Empty")).unwrap();
            st.create_dir(Path::new("mail/Gone/Empty")).unwrap();
            let dirs: HashSet<String> = ["mail/Kept/Empty".to_string()].into();
            let sweep = st.finish(keep, &dirs).unwrap();
            let mut tree: Vec<String> = Vec::new();
            let mut stack = vec![root.clone()];
            while let Some(d) = stack.pop() {
                for e in fs::read_dir(&d).unwrap() {
                    let p = e.unwrap().path();
                    tree.push(p.strip_prefix(&root).unwrap().display().to_string());
                    if p.is_dir() {
                        stack.push(p);
                    }
                }
            }
            tree.sort();
            results.push((sweep, tree));
        }
        assert_eq!(results[0].0.files, 21);
        assert!(results[0].1.contains(&"mail/Kept/Empty".to_string()));
        assert!(!results[0].1.iter().any(|p| p.starts_with("mail/Gone")));
        for r in &results[1..] {
            assert_eq!(r, &results[0]);
        }
    }

    #[test]
    fn existing_files_are_probed_and_new_ones_leave_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("bob");
        fs::create_dir_all(root.join("mail/Inbox")).unwrap();
        fs::write(root.join("mail/Inbox/a.eml"), b"one").unwrap();
        let st = UserStage::open(&root).unwrap();
        // A directory that had files: the identical one is kept, a changed one replaced.
        assert!(!st.write_file("mail/Inbox/a.eml", b"one").unwrap());
        assert!(st.write_file("mail/Inbox/a.eml", b"uno").unwrap());
        // A new directory: files appear complete, nothing is left in .tmp/.
        for i in 0..20 {
            let rel = format!("mail/New/{i}.eml");
            assert!(st.write_file(&rel, rel.as_bytes()).unwrap());
        }
        assert!(!st.write_file("mail/New/3.eml", b"mail/New/3.eml").unwrap());
        assert!(st.write_file("mail/New/4.eml", b"changed").unwrap());
        assert_eq!(fs::read_dir(root.join(".tmp")).unwrap().count(), 0);
        assert_eq!(fs::read(root.join("mail/New/4.eml")).unwrap(), b"changed");
        assert_eq!(
            fs::read(root.join("mail/New/7.eml")).unwrap(),
            b"mail/New/7.eml"
        );
        assert_eq!(fs::read(root.join("mail/Inbox/a.eml")).unwrap(), b"uno");
        assert_eq!(fs::read_dir(root.join("mail/New")).unwrap().count(), 20);
        // On Linux the new files took the O_TMPFILE path, not the fallback.
        #[cfg(target_os = "linux")]
        assert!(st.linked.load(Ordering::Relaxed));
    }
}
