//! Folder mapping: for every source folder, the target folder on the chosen Exchange /
//! Microsoft 365 server, or the reason it is excluded.
//!
//! Input is the list of source folders, each already decoded from IMAP modified UTF-7
//! into segments (`["Archives", "2009"]`). The admin's rules ([`MappingRules`], from
//! `--map FILE` and `--exclude FOLDER`) are applied in this order:
//!
//! 1. exclusions (exact names with their subtree, then `exclude_regex`),
//! 2. exact renames (longest matching prefix; children follow),
//! 3. regex rules (first match wins; tried on the full name, then on each ancestor),
//! 4. the built-in default mapping (`INBOX` → `Inbox`, `Sent` → `Sent Items`, …),
//!
//! and then every target name is sanitised for Exchange (trailing spaces and dots,
//! reserved names). `docs/MAPPING.md` is the admin's description of the same rules.
//!
//! Invariants of a successful [`plan`] (unit and property tests check them):
//! - one [`PlanEntry`] per source folder, in input order;
//! - every mapped target has at least one segment, and no segment is empty, contains
//!   `/`, or ends in a space or a dot;
//! - no two mapped targets are equal ignoring case — Exchange folder names are
//!   case-insensitive, so two such folders would be merged (or the second `CREATE`
//!   would fail with `Mailbox already exists`); [`plan`] refuses with
//!   [`MapError::Collision`] instead.
//!
//! [`plan`] never panics, whatever the folder names and rules.

mod defaults;
#[cfg(test)]
mod props;
mod rules;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

pub use rules::MappingRules;
use rules::Matched;

/// The kind of server the mail goes to; it decides special folder names and the
/// sanitising rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Target {
    /// Exchange 2007 and 2010 (`exchange2007`): junk folder `Junk E-mail`.
    #[default]
    Exchange2007,
    /// Exchange 2013 and later on-premises (`exchange`): junk folder `Junk Email`.
    Exchange,
    /// Exchange Online / Microsoft 365 (`m365`): junk folder `Junk Email`, and some
    /// top-level names (`Files`) are reserved.
    M365,
}

impl Target {
    /// Every target, in the order they are documented.
    pub const ALL: [Target; 3] = [Target::Exchange2007, Target::Exchange, Target::M365];

    /// The name used on the command line and in reports.
    pub const fn as_str(self) -> &'static str {
        match self {
            Target::Exchange2007 => "exchange2007",
            Target::Exchange => "exchange",
            Target::M365 => "m365",
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Target {
    type Err = MapError;

    /// Parses `exchange2007`, `exchange` or `m365`, ignoring ASCII case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Target::ALL
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| MapError::UnknownTarget(s.to_owned()))
    }
}

/// What happens to one source folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The folder's messages go to `target` (segments, never empty, no empty segment).
    Map {
        /// Target folder path, one entry per hierarchy level.
        target: Vec<String>,
        /// How the target was chosen.
        rule: RuleKind,
    },
    /// The folder is skipped on purpose; its messages are recorded as `excluded`.
    Exclude {
        /// Which rule excluded it, e.g. `excluded by --exclude Trash`.
        reason: String,
    },
}

/// How a target folder was chosen, for reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RuleKind {
    /// The built-in default: the folder keeps its decoded name.
    Default,
    /// The built-in special-folder table (`INBOX` → `Inbox`, `Sent` → `Sent Items`, …),
    /// including the children of such a folder.
    Special,
    /// An exact `[rename]` entry of the mapping file (the folder or an ancestor).
    Rename,
    /// A `[[rule]]` regex rule of the mapping file (the folder or an ancestor).
    Regex,
    /// The default (kept name), but sanitising changed it; the notes say how.
    Sanitized,
}

/// The decision for every source folder, in the order the folders were given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// One entry per source folder, same order as the input of [`plan`].
    pub entries: Vec<PlanEntry>,
}

/// The decision for one source folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanEntry {
    /// The source folder as given (decoded segments).
    pub source: Vec<String>,
    /// Target folder or exclusion.
    pub decision: Decision,
    /// Human-readable remarks for the report: which mapping-file rule applied and every
    /// change made by sanitising (e.g. `trailing space trimmed: "Foo " -> "Foo"`).
    pub notes: Vec<String>,
}

/// Errors of the mapping rules and of [`plan`].
///
/// Each message is complete on its own (it includes the underlying parser's message),
/// so the errors deliberately expose no [`std::error::Error::source`]: printing the
/// chain as well would repeat it.
#[derive(Debug, thiserror::Error)]
pub enum MapError {
    /// Two source folders would land on the same target folder, ignoring case.
    #[error(
        "source folders {} and {} would both become {} (Exchange folder names are \
         case-insensitive, and mailstage never merges folders silently); add a [rename] \
         for one of them to the mapping file (--map), e.g. {}, or exclude one of them",
        quote(.a),
        quote(.b),
        quote(.target),
        rename_hint(.b, .target)
    )]
    Collision {
        /// The first source folder (in input order), `/`-joined.
        a: String,
        /// The second source folder, `/`-joined.
        b: String,
        /// The target folder of `a`, `/`-joined.
        target: String,
    },
    /// The mapping file is not valid TOML or does not have the expected shape (unknown
    /// key, wrong type); the message names the line and the key.
    #[error("invalid mapping file: {0}")]
    Toml(toml::de::Error),
    /// A regex of the mapping file does not compile.
    #[error("mapping file line {line}: invalid regex in {rule} {}: {error}", quote(.pattern))]
    Regex {
        /// Line of the pattern in the mapping file.
        line: usize,
        /// The key holding it: `[[rule]] #N match` or `exclude_regex`.
        rule: String,
        /// The pattern as written.
        pattern: String,
        /// The regex compiler's message.
        error: regex::Error,
    },
    /// Any other mistake in a mapping-file rule (empty folder name segment, unknown
    /// capture group, two keys naming the same folder, misplaced key).
    #[error("mapping file line {line}: {rule}: {message}")]
    Rule {
        /// Line of the offending key or value.
        line: usize,
        /// The rule, e.g. `[rename] "Old Stuff"`.
        rule: String,
        /// What is wrong with it.
        message: String,
    },
    /// A regex rule produced a target with an empty segment for one folder (e.g. an
    /// optional capture group that did not participate).
    #[error(
        "{rule} maps source folder {} to {}, which has an empty folder name segment",
        quote(.source_folder),
        quote(.target)
    )]
    RuleTarget {
        /// The rule, e.g. `[[rule]] #1 match "^(a)?/x$" (line 4)`.
        rule: String,
        /// The source folder, `/`-joined.
        source_folder: String,
        /// The expanded target, `/`-joined.
        target: String,
    },
    /// The mapping file could not be read.
    #[error("cannot read mapping file {}: {error}", .path.display())]
    Io {
        /// The file given to [`MappingRules::load`].
        path: PathBuf,
        /// The operating system's error.
        error: std::io::Error,
    },
    /// The mapping file was read but its content is wrong.
    #[error("mapping file {}: {error}", .path.display())]
    InFile {
        /// The file given to [`MappingRules::load`].
        path: PathBuf,
        /// What is wrong with it.
        error: Box<MapError>,
    },
    /// A source folder with no segments at all; the scanner never produces one, so this
    /// is a caller bug reported instead of guessed at.
    #[error("a source folder has an empty name (no segments)")]
    EmptySource,
    /// A target name other than `exchange2007`, `exchange` or `m365`.
    #[error("unknown target {} (expected exchange2007, exchange or m365)", quote(.0))]
    UnknownTarget(String),
}

/// The `/`-joined display form of a folder, as used in the manifest's `folder` key and
/// in the mapping file.
pub fn join(segments: &[String]) -> String {
    segments.join("/")
}

/// Decides target folder or exclusion for every source folder.
///
/// Fails on the first case-insensitive collision of two mapped targets (in input
/// order), on a regex rule producing an empty segment, and on an empty source folder.
/// Excluded folders never collide.
pub fn plan(
    sources: &[Vec<String>],
    rules: &MappingRules,
    target: Target,
) -> Result<Plan, MapError> {
    let entries = sources
        .iter()
        .map(|source| plan_one(source, rules, target))
        .collect::<Result<Vec<_>, _>>()?;
    check_collisions(&entries)?;
    Ok(Plan { entries })
}

/// The decision for one folder: rules first, then the default, then sanitising.
fn plan_one(
    source: &[String],
    rules: &MappingRules,
    target: Target,
) -> Result<PlanEntry, MapError> {
    let Some((first, rest)) = source.split_first() else {
        return Err(MapError::EmptySource);
    };
    let names = rules::match_names(source);
    let mut notes = Vec::new();
    let (mut segments, rule) = match rules.decide(&names) {
        Matched::Excluded { reason, .. } => {
            return Ok(PlanEntry {
                source: source.to_vec(),
                decision: Decision::Exclude { reason },
                notes,
            });
        }
        Matched::Renamed {
            target: head,
            consumed,
            rule,
            ..
        } => {
            notes.push(format!("mapped by {rule}"));
            (follow(head.to_vec(), source, consumed), RuleKind::Rename)
        }
        Matched::Regex {
            expanded,
            consumed,
            rule,
            ..
        } => {
            let head: Vec<String> = expanded.split('/').map(str::to_owned).collect();
            if head.iter().any(String::is_empty) {
                return Err(MapError::RuleTarget {
                    rule,
                    source_folder: join(source),
                    target: expanded,
                });
            }
            notes.push(format!("mapped by {rule}"));
            (follow(head, source, consumed), RuleKind::Regex)
        }
        Matched::Nothing => defaults::map_default(first, rest, target, &mut notes),
    };
    let changed = defaults::sanitise(&mut segments, target, &mut notes);
    let rule = if changed && rule == RuleKind::Default {
        RuleKind::Sanitized
    } else {
        rule
    };
    Ok(PlanEntry {
        source: source.to_vec(),
        decision: Decision::Map {
            target: segments,
            rule,
        },
        notes,
    })
}

/// Children follow their parent: the source segments below the matched prefix are
/// appended to the prefix's target.
fn follow(mut head: Vec<String>, source: &[String], consumed: usize) -> Vec<String> {
    head.extend(source.iter().skip(consumed).cloned());
    head
}

/// Refuses two mapped folders whose targets differ only in case.
///
/// Exchange compares folder names case-insensitively (EXCHANGE.md: `Couldn't create
/// folder … Mailbox already exists`), so such a pair would either fail at upload or
/// merge two folders' messages; the admin must decide which.
fn check_collisions(entries: &[PlanEntry]) -> Result<(), MapError> {
    // Lowercased joined target -> (index of the first folder there, its target).
    let mut seen: HashMap<String, (usize, String)> = HashMap::new();
    for (i, entry) in entries.iter().enumerate() {
        let Decision::Map { target, .. } = &entry.decision else {
            continue;
        };
        // Sanitising removed '/' from segments, so the joined form is unambiguous.
        let shown = join(target);
        let key = shown.to_lowercase();
        if let Some((first, first_target)) = seen.get(&key) {
            let a = entries
                .get(*first)
                .map(|e| join(&e.source))
                .unwrap_or_default();
            return Err(MapError::Collision {
                a,
                b: join(&entry.source),
                target: first_target.clone(),
            });
        }
        seen.insert(key, (i, shown));
    }
    Ok(())
}

/// A TOML basic string for `s`, so that names in messages can be pasted into the
/// mapping file as they are.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A `[rename]` line that resolves a collision by moving `b` out of the way: below the
/// contested target (`"Sent Messages" = "Sent Items/Sent Messages"`), or beside it
/// when the two differ only in case (`"foo" = "foo (2)"`, since `Foo/foo` would look
/// like a mistake).
fn rename_hint(b: &str, target: &str) -> String {
    let b_last = b.rsplit('/').next().unwrap_or(b);
    let (parent, target_last) = match target.rsplit_once('/') {
        Some((parent, last)) => (Some(parent), last),
        None => (None, target),
    };
    let new = if b_last.to_lowercase() == target_last.to_lowercase() {
        match parent {
            Some(parent) => format!("{parent}/{b_last} (2)"),
            None => format!("{b_last} (2)"),
        }
    } else {
        format!("{target}/{b_last}")
    };
    format!("{} = {}", quote(b), quote(&new))
}
