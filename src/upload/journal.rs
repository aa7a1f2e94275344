//! The upload journal: what mailstage put on which server, so that a re-run never
//! sends a message twice and `rollback` can remove exactly what was sent.
//!
//! One append-only JSON-lines file per target (server address + mailbox) in
//! `STAGING/<user>/upload/`. Records, in the order they happen:
//!
//! - `session`: a run started (time, server, mailbox, mailstage version);
//! - `folder`: a target folder's UIDVALIDITY and UIDNEXT seen before mailstage sent
//!   anything in this session. UIDs below the smallest such UIDNEXT (for that
//!   UIDVALIDITY) were on the server before mailstage and are never claimed as ours;
//! - `send`: a message is about to be APPENDed (written and fsynced *before* it goes
//!   out, in small batches);
//! - `stored`: the server has it (`how`: `append` — tagged OK; `found` — located on the
//!   server after an uncertain `send`), with its UID when known;
//! - `uid`: the UID learned later (servers without UIDPLUS, RFC 4315);
//! - `flagged`: `\Flagged` was set with a STORE after the APPEND;
//! - `failed`: the server refused it, with its words (retried by the next run);
//! - `removed`: `rollback` removed it.
//!
//! A `send` without a later outcome means the APPEND may or may not have reached the
//! server (connection lost, process killed): the uploader looks the message up before
//! sending it again. No password or token is ever written here.
//!
//! Messages are keyed by their staged path (unique per staged file, deterministic
//! across converts). A `stored` record after an APPEND carries the SHA-256 of the
//! bytes sent; `send` and `found` records carry the manifest's `staged_sha256`, which
//! manifests written since 2026-12-02 no longer have (empty then).

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// One journal line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "ev", rename_all = "lowercase")]
pub enum Record {
    /// A run started.
    Session {
        /// RFC 3339 time.
        time: String,
        /// `host:port`.
        server: String,
        /// The mailbox logged into.
        mailbox: String,
        /// mailstage's version.
        version: String,
        /// `upload` or `rollback`.
        command: String,
    },
    /// A folder's state before mailstage sent to it in this session.
    Folder {
        /// Target folder as in the manifest.
        folder: String,
        /// Its name on the server (decoded).
        server_folder: String,
        /// UIDVALIDITY.
        uidvalidity: u32,
        /// UIDNEXT before anything was sent.
        uidnext: u32,
    },
    /// About to APPEND.
    Send {
        /// Staged path (manifest `path`).
        path: String,
        /// Target folder.
        folder: String,
        /// Staged SHA-256 from the manifest (empty for manifests without one).
        sha256: String,
    },
    /// On the server.
    Stored {
        /// Staged path.
        path: String,
        /// Target folder.
        folder: String,
        /// UIDVALIDITY of the folder.
        uidvalidity: u32,
        /// UID, when known.
        uid: Option<u32>,
        /// `append` or `found`.
        how: String,
        /// SHA-256 of the bytes sent (`append`), or the manifest's (`found`).
        sha256: String,
    },
    /// A UID learned after the APPEND.
    Uid {
        /// Staged path.
        path: String,
        /// UIDVALIDITY.
        uidvalidity: u32,
        /// UID.
        uid: u32,
    },
    /// `\Flagged` set by STORE.
    Flagged {
        /// Staged path.
        path: String,
    },
    /// The server refused the message.
    Failed {
        /// Staged path.
        path: String,
        /// Target folder.
        folder: String,
        /// The server's words (or ours, for a local size check).
        reason: String,
    },
    /// Removed again by rollback.
    Removed {
        /// Staged path.
        path: String,
    },
    /// `verify` did not find it on the server: the next upload sends it again.
    Missing {
        /// Staged path.
        path: String,
    },
    /// Rollback on a server without UIDPLUS is about to clear `\Deleted` on the
    /// user's own deleted messages so that its EXPUNGE spares them; until the
    /// matching `protect_done`, these UIDs must get `\Deleted` back.
    Protect {
        /// Target folder.
        folder: String,
        /// UIDVALIDITY.
        uidvalidity: u32,
        /// The user's `\Deleted` messages.
        uids: Vec<u32>,
    },
    /// The `\Deleted` flags of a `protect` are restored.
    ProtectDone {
        /// Target folder.
        folder: String,
    },
    /// mailstage created a folder on the server (a staged folder, a parent of one, or
    /// an empty source folder).
    Created {
        /// Its name on the server, decoded, with the server's separator.
        server_folder: String,
    },
    /// Rollback deleted a folder mailstage had created (it was empty).
    FolderRemoved {
        /// Its name on the server, decoded, with the server's separator.
        server_folder: String,
    },
}

/// What the journal says about one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// A `send` without outcome: look it up before sending again.
    Uncertain,
    /// On the server.
    Stored {
        /// UIDVALIDITY when stored.
        uidvalidity: u32,
        /// UID if known.
        uid: Option<u32>,
        /// `\Flagged` has been set.
        flagged: bool,
    },
    /// Refused last time.
    Failed,
    /// Removed by rollback (so it may be uploaded again).
    Removed,
}

/// What one record does to the state of the message at its path: the records about
/// messages, without the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// `send`.
    Send,
    /// `stored`.
    Stored {
        /// UIDVALIDITY.
        uidvalidity: u32,
        /// UID, when known.
        uid: Option<u32>,
    },
    /// `uid`.
    Uid {
        /// UIDVALIDITY.
        uidvalidity: u32,
        /// UID.
        uid: u32,
    },
    /// `flagged`.
    Flagged,
    /// `failed`.
    Failed,
    /// `removed`.
    Removed,
    /// `missing`.
    Missing,
}

impl Record {
    /// The staged path this record is about and what it does to that message's
    /// state; `None` for the records about sessions and folders.
    pub fn change(&self) -> Option<(&str, Change)> {
        Some(match self {
            Record::Send { path, .. } => (path, Change::Send),
            Record::Stored {
                path,
                uidvalidity,
                uid,
                ..
            } => (
                path,
                Change::Stored {
                    uidvalidity: *uidvalidity,
                    uid: *uid,
                },
            ),
            Record::Uid {
                path,
                uidvalidity,
                uid,
            } => (
                path,
                Change::Uid {
                    uidvalidity: *uidvalidity,
                    uid: *uid,
                },
            ),
            Record::Flagged { path } => (path, Change::Flagged),
            Record::Failed { path, .. } => (path, Change::Failed),
            Record::Removed { path } => (path, Change::Removed),
            Record::Missing { path } => (path, Change::Missing),
            Record::Session { .. }
            | Record::Folder { .. }
            | Record::Protect { .. }
            | Record::ProtectDone { .. }
            | Record::Created { .. }
            | Record::FolderRemoved { .. } => return None,
        })
    }
}

/// A message's state after `change`, from its state before: the one definition of
/// replay, whether the states are kept in the journal ([`Journal::state`]) or
/// streamed out of it ([`Journal::open_streaming`]).
pub fn next_state(before: Option<State>, change: Change) -> Option<State> {
    match change {
        // a send after a stored (re-upload after rollback, or a retry) is uncertain
        // again until its outcome arrives
        Change::Send => Some(State::Uncertain),
        Change::Stored { uidvalidity, uid } => Some(State::Stored {
            uidvalidity,
            uid,
            flagged: false,
        }),
        Change::Uid { uidvalidity, uid } => match before {
            Some(State::Stored { flagged, .. }) => Some(State::Stored {
                uidvalidity,
                uid: Some(uid),
                flagged,
            }),
            other => other,
        },
        Change::Flagged => match before {
            Some(State::Stored {
                uidvalidity, uid, ..
            }) => Some(State::Stored {
                uidvalidity,
                uid,
                flagged: true,
            }),
            other => other,
        },
        Change::Failed => Some(State::Failed),
        Change::Removed => Some(State::Removed),
        Change::Missing => None,
    }
}

/// [`next_state`] applied to the state of message `key` in `states` (no entry: no
/// state).
pub fn apply_change(states: &mut HashMap<u128, State>, key: u128, change: Change) {
    use std::collections::hash_map::Entry;
    match states.entry(key) {
        Entry::Occupied(mut e) => match next_state(Some(*e.get()), change) {
            Some(s) => *e.get_mut() = s,
            None => {
                e.remove();
            }
        },
        Entry::Vacant(e) => {
            if let Some(s) = next_state(None, change) {
                e.insert(s);
            }
        }
    }
}

/// The replayed journal plus the open file to append to.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    /// `None` for a read-only view (dry run) of a journal that does not exist yet.
    file: Option<File>,
    /// Per message (by [`key`] of its path); empty, and not kept up to date, when
    /// `keep_states` is false.
    states: HashMap<u128, State>,
    /// Whether `states` is kept: not for [`Journal::open_streaming`].
    keep_states: bool,
    /// `(folder, uidvalidity)` → smallest UIDNEXT seen before mailstage sent.
    floors: HashMap<(String, u32), u32>,
    /// Folders mailstage created (server names, decoded) and not removed since.
    created: std::collections::HashSet<String>,
    /// Unfinished `protect` records: folder → (UIDVALIDITY, UIDs).
    protects: HashMap<String, (u32, Vec<u32>)>,
    unsynced: bool,
    /// The last line was cut short (a crash): the file is continued on a new line.
    torn: bool,
}

/// Errors of the journal.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// The file could not be read or written.
    #[error("journal {}: {source}", .path.display())]
    Io {
        /// The journal.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// 128-bit key of a staged path (collision odds negligible at any mailbox size).
pub fn key(path: &str) -> u128 {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(path.as_bytes());
    u128::from_le_bytes(d[..16].try_into().unwrap_or([0; 16]))
}

/// The journal file name for a target: readable, and safe as one path segment.
pub fn file_name(server: &str, mailbox: &str) -> String {
    let raw = format!("{mailbox}@{server}");
    let safe: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "@.-_+".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{safe}.jsonl")
}

impl Journal {
    /// Opens (creating if needed) the journal at `path` and replays it. A last line
    /// cut short by a crash is ignored; the file is then continued on a new line.
    pub fn open(path: &Path) -> Result<Self, JournalError> {
        Self::open_with(path, true, None)
    }

    /// Replays the journal without creating anything (for `--dry-run`); a missing
    /// journal is an empty one.
    pub fn read_only(path: &Path) -> Result<Self, JournalError> {
        Self::open_with(path, false, None)
    }

    /// [`Journal::open`] (`create`) or [`Journal::read_only`], except that what the
    /// records say about each message goes to `each`, as the [`key`] of its path and
    /// the [`Change`], in file order, instead of into the journal, whose
    /// [`Journal::state`] then knows nothing; records appended later are not kept
    /// either. For `verify` and `rollback`, which keep the states of a mailbox's
    /// messages on disk (`survey`) and only append to the journal.
    pub fn open_streaming<E: From<JournalError>>(
        path: &Path,
        create: bool,
        each: &mut dyn FnMut(u128, Change) -> Result<(), E>,
    ) -> Result<Self, E> {
        Self::open_with(path, create, Some(each))
    }

    fn open_with<E: From<JournalError>>(
        path: &Path,
        create: bool,
        mut each: Option<&mut dyn FnMut(u128, Change) -> Result<(), E>>,
    ) -> Result<Self, E> {
        let io = |source| JournalError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut j = Journal {
            path: path.to_path_buf(),
            file: None,
            states: HashMap::new(),
            keep_states: each.is_none(),
            floors: HashMap::new(),
            created: Default::default(),
            protects: HashMap::new(),
            unsynced: false,
            torn: false,
        };
        if !create && !path.exists() {
            return Ok(j);
        }
        if let Some(dir) = path.parent()
            && create
        {
            fs::create_dir_all(dir).map_err(io)?;
        }
        if create {
            j.file = Some(
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .read(true)
                    .open(path)
                    .map_err(io)?,
            );
        }
        let mut torn = false;
        {
            let r = BufReader::new(File::open(path).map_err(io)?);
            for line in r.split(b'\n') {
                let line = line.map_err(io)?;
                if line.is_empty() {
                    continue;
                }
                match serde_json::from_slice::<Record>(&line) {
                    Ok(rec) => {
                        match (&mut each, rec.change()) {
                            (Some(each), Some((p, change))) => each(key(p), change)?,
                            _ => j.apply(&rec),
                        }
                        torn = false;
                    }
                    // a torn last line from a crash; anything else unreadable is
                    // skipped the same way (never trust half a record)
                    Err(_) => torn = true,
                }
            }
        }
        j.torn = torn;
        j.continue_torn()?;
        Ok(j)
    }

    fn continue_torn(&mut self) -> Result<(), JournalError> {
        if self.torn
            && let Some(f) = self.file.as_mut()
        {
            f.write_all(b"\n").map_err(|source| JournalError::Io {
                path: self.path.clone(),
                source,
            })?;
            self.torn = false;
        }
        Ok(())
    }

    /// Makes a journal read without `create` one that can be appended to, as
    /// [`Journal::open`] would have opened it (creating the file if needed), without
    /// reading it again: `upload` reads the journal before it connects, and creates
    /// nothing until the server is known to be usable.
    pub fn make_writable(&mut self) -> Result<(), JournalError> {
        if self.file.is_some() {
            return Ok(());
        }
        let io = |source| JournalError::Io {
            path: self.path.clone(),
            source,
        };
        if let Some(dir) = self.path.parent() {
            fs::create_dir_all(dir).map_err(io)?;
        }
        self.file = Some(
            OpenOptions::new()
                .create(true)
                .append(true)
                .read(true)
                .open(&self.path)
                .map_err(io)?,
        );
        self.continue_torn()
    }

    /// The journal's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn apply(&mut self, rec: &Record) {
        if let Some((path, change)) = rec.change() {
            if self.keep_states {
                apply_change(&mut self.states, key(path), change);
            }
            return;
        }
        match rec {
            Record::Folder {
                folder,
                uidvalidity,
                uidnext,
                ..
            } => {
                let e = self
                    .floors
                    .entry((folder.clone(), *uidvalidity))
                    .or_insert(*uidnext);
                *e = (*e).min(*uidnext);
            }
            Record::Protect {
                folder,
                uidvalidity,
                uids,
            } => {
                self.protects
                    .insert(folder.clone(), (*uidvalidity, uids.clone()));
            }
            Record::ProtectDone { folder } => {
                self.protects.remove(folder);
            }
            Record::Created { server_folder } => {
                self.created.insert(server_folder.clone());
            }
            Record::FolderRemoved { server_folder } => {
                self.created.remove(server_folder);
            }
            // about a message (above), or nothing to keep
            Record::Session { .. }
            | Record::Send { .. }
            | Record::Stored { .. }
            | Record::Uid { .. }
            | Record::Flagged { .. }
            | Record::Failed { .. }
            | Record::Removed { .. }
            | Record::Missing { .. } => {}
        }
    }

    /// Appends `rec` (one write, so a kill never leaves half a record except as the
    /// last line) and applies it to the in-memory state.
    pub fn record(&mut self, rec: &Record) -> Result<(), JournalError> {
        let mut line = serde_json::to_vec(rec).unwrap_or_default();
        line.push(b'\n');
        let Some(file) = self.file.as_mut() else {
            return Err(JournalError::Io {
                path: self.path.clone(),
                source: std::io::Error::other("journal opened read-only"),
            });
        };
        file.write_all(&line).map_err(|source| JournalError::Io {
            path: self.path.clone(),
            source,
        })?;
        self.unsynced = true;
        self.apply(rec);
        Ok(())
    }

    /// Makes every record so far durable (fsync): called before messages are sent, so
    /// that after a power loss every message that may be on the server has a `send`.
    pub fn sync(&mut self) -> Result<(), JournalError> {
        if self.unsynced
            && let Some(file) = &self.file
        {
            file.sync_data().map_err(|source| JournalError::Io {
                path: self.path.clone(),
                source,
            })?;
            self.unsynced = false;
        }
        Ok(())
    }

    /// The state of a staged path, if the journal mentions it (never for a journal
    /// from [`Journal::open_streaming`]: its states went elsewhere).
    pub fn state(&self, path: &str) -> Option<State> {
        debug_assert!(self.keep_states, "a streamed journal keeps no states");
        self.states.get(&key(path)).copied()
    }

    /// The smallest UIDNEXT seen for `folder` with `uidvalidity` before mailstage
    /// sent to it: UIDs below it are not mailstage's.
    pub fn floor(&self, folder: &str, uidvalidity: u32) -> Option<u32> {
        self.floors.get(&(folder.to_owned(), uidvalidity)).copied()
    }

    /// `\Deleted` flags a rollback cleared and has not restored yet.
    pub fn pending_protects(&self) -> &HashMap<String, (u32, Vec<u32>)> {
        &self.protects
    }

    /// Folders mailstage created and no rollback removed (server names, decoded).
    pub fn created_folders(&self) -> &std::collections::HashSet<String> {
        &self.created
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_and_torn_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("upload/j.jsonl");
        {
            let mut j = Journal::open(&p).unwrap();
            j.record(&Record::Folder {
                folder: "Inbox".into(),
                server_folder: "INBOX".into(),
                uidvalidity: 7,
                uidnext: 5,
            })
            .unwrap();
            for n in ["a", "b", "c"] {
                j.record(&Record::Send {
                    path: n.into(),
                    folder: "Inbox".into(),
                    sha256: "00".into(),
                })
                .unwrap();
            }
            j.record(&Record::Stored {
                path: "a".into(),
                folder: "Inbox".into(),
                uidvalidity: 7,
                uid: None,
                how: "append".into(),
                sha256: "00".into(),
            })
            .unwrap();
            j.record(&Record::Uid {
                path: "a".into(),
                uidvalidity: 7,
                uid: 5,
            })
            .unwrap();
            j.record(&Record::Failed {
                path: "b".into(),
                folder: "Inbox".into(),
                reason: "NO x".into(),
            })
            .unwrap();
            j.sync().unwrap();
        }
        // a crash mid-record
        let mut f = OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(br#"{"ev":"stored","path":"c","fol"#).unwrap();
        drop(f);
        let mut j = Journal::open(&p).unwrap();
        assert_eq!(
            j.state("a"),
            Some(State::Stored {
                uidvalidity: 7,
                uid: Some(5),
                flagged: false
            })
        );
        assert_eq!(j.state("b"), Some(State::Failed));
        assert_eq!(j.state("c"), Some(State::Uncertain));
        assert_eq!(j.state("d"), None);
        assert_eq!(j.floor("Inbox", 7), Some(5));
        assert_eq!(j.floor("Inbox", 8), None);
        // the journal continues cleanly after the torn line
        j.record(&Record::Flagged { path: "a".into() }).unwrap();
        drop(j);
        let j = Journal::open(&p).unwrap();
        assert!(matches!(
            j.state("a"),
            Some(State::Stored { flagged: true, .. })
        ));
    }

    #[test]
    fn streamed_changes_fold_to_the_states_the_journal_keeps() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("j.jsonl");
        let stored = |path: &str, uid| Record::Stored {
            path: path.into(),
            folder: "Inbox".into(),
            uidvalidity: 7,
            uid,
            how: "append".into(),
            sha256: String::new(),
        };
        let send = |path: &str| Record::Send {
            path: path.into(),
            folder: "Inbox".into(),
            sha256: String::new(),
        };
        let uid = |path: &str, uid| Record::Uid {
            path: path.into(),
            uidvalidity: 8,
            uid,
        };
        let recs = vec![
            send("a"),
            stored("a", None),
            uid("a", 3),
            Record::Flagged { path: "a".into() },
            send("b"),
            Record::Flagged { path: "b".into() },
            uid("b", 4),
            send("c"),
            stored("c", Some(5)),
            Record::Removed { path: "c".into() },
            send("d"),
            Record::Failed {
                path: "d".into(),
                folder: "Inbox".into(),
                reason: "NO".into(),
            },
            stored("e", Some(6)),
            Record::Missing { path: "e".into() },
            uid("f", 9),
            Record::Created {
                server_folder: "X".into(),
            },
            stored("g", Some(1)),
            Record::Flagged { path: "g".into() },
            send("g"),
        ];
        {
            let mut j = Journal::open(&p).unwrap();
            for r in &recs {
                j.record(r).unwrap();
            }
        }
        let kept = Journal::read_only(&p).unwrap();
        let mut states = HashMap::new();
        let mut n = 0;
        let streamed = Journal::open_streaming::<JournalError>(&p, false, &mut |k, c| {
            apply_change(&mut states, k, c);
            n += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!(n, recs.len() - 1);
        for path in ["a", "b", "c", "d", "e", "f", "g", "h"] {
            assert_eq!(kept.state(path), states.get(&key(path)).copied(), "{path}");
        }
        assert_eq!(
            kept.state("a"),
            Some(State::Stored {
                uidvalidity: 8,
                uid: Some(3),
                flagged: true
            })
        );
        assert_eq!(kept.state("g"), Some(State::Uncertain));
        assert_eq!(kept.state("e"), None);
        assert_eq!(streamed.created_folders(), kept.created_folders());
        assert!(streamed.states.is_empty() && !streamed.keep_states);
    }

    #[test]
    fn a_journal_read_first_is_made_writable_after_a_torn_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("upload/j.jsonl");
        // no file: reading creates nothing, making it writable creates it
        let mut j = Journal::open_streaming::<JournalError>(&p, false, &mut |_, _| Ok(())).unwrap();
        assert!(!p.exists());
        j.make_writable().unwrap();
        j.record(&Record::Flagged { path: "a".into() }).unwrap();
        drop(j);
        assert!(p.exists());
        // a torn last line is continued on a new line, as `open` does
        let mut f = OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(br#"{"ev":"stored","path":"c","fol"#).unwrap();
        drop(f);
        let mut seen = Vec::new();
        let mut j = Journal::open_streaming::<JournalError>(&p, false, &mut |k, c| {
            seen.push((k, c));
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, [(key("a"), Change::Flagged)]);
        j.make_writable().unwrap();
        j.make_writable().unwrap();
        j.record(&Record::Send {
            path: "b".into(),
            folder: "Inbox".into(),
            sha256: "00".into(),
        })
        .unwrap();
        drop(j);
        let j = Journal::read_only(&p).unwrap();
        assert_eq!(j.state("b"), Some(State::Uncertain));
        assert_eq!(j.state("c"), None);
        let text = fs::read_to_string(&p).unwrap();
        assert_eq!(text.lines().count(), 3, "{text}");
    }

    #[test]
    fn file_names_are_one_segment() {
        assert_eq!(
            file_name("mail.example.com:993", "alice@example.com"),
            "alice@example.com@mail.example.com_993.jsonl"
        );
        assert!(!file_name("h:1", "../x/y").contains('/'));
    }
}
