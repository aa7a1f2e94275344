//! The admin's mapping rules: the `--map` TOML file and `--exclude` options, and how a
//! folder name is matched against them.
//!
//! Folders are matched by their `/`-joined decoded name and by the names of their
//! ancestors ("match names", see [`match_names`]), so that a rule for a folder also
//! covers its subtree. A top-level `INBOX` is spelled `INBOX` in match names whatever
//! its case (RFC 3501 §5.1: INBOX is case-insensitive); every other name is compared
//! exactly.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use regex::Regex;
use serde::Deserialize;
use toml::Spanned;

use super::{MapError, join, quote};

/// Mapping rules chosen by the admin: exclusions, exact renames and regex rules.
///
/// `Default` is "no rules": every folder gets the built-in mapping.
#[derive(Debug, Clone, Default)]
pub struct MappingRules {
    renames: Vec<Rename>,
    /// Match name of a rename's source -> index in `renames`.
    rename_index: HashMap<String, usize>,
    rules: Vec<RegexRule>,
    excludes: Vec<Exclude>,
    /// Match name of an exclusion -> index of its first entry in `excludes`.
    exclude_index: HashMap<String, usize>,
    exclude_regexes: Vec<ExcludeRegex>,
}

#[derive(Debug, Clone)]
struct Rename {
    /// The key as written, for messages.
    shown: String,
    target: Vec<String>,
    line: usize,
}

#[derive(Debug, Clone)]
struct RegexRule {
    regex: Regex,
    template: String,
    /// 1-based position among the `[[rule]]` tables, for messages.
    number: usize,
    line: usize,
}

#[derive(Debug, Clone)]
struct Exclude {
    shown: String,
    /// `None` for `--exclude` on the command line.
    line: Option<usize>,
}

#[derive(Debug, Clone)]
struct ExcludeRegex {
    regex: Regex,
    line: usize,
}

/// The rule a folder matched, for [`MappingRules::unused_rules`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum RuleRef {
    Rename(usize),
    Rule(usize),
    Exclude(usize),
    ExcludeRegex(usize),
}

/// The outcome of the admin's rules for one folder.
pub(super) enum Matched<'a> {
    /// An exclusion applies.
    Excluded { reason: String, by: RuleRef },
    /// A `[rename]` of the folder or of the ancestor with the first `consumed` segments.
    Renamed {
        target: &'a [String],
        consumed: usize,
        rule: String,
        by: RuleRef,
    },
    /// A `[[rule]]` matched the folder or the ancestor with the first `consumed`
    /// segments; `expanded` is the target template with captures filled in.
    Regex {
        expanded: String,
        consumed: usize,
        rule: String,
        by: RuleRef,
    },
    /// No rule applies: the default mapping decides.
    Nothing,
}

/// The file format, checked strictly: an unknown key is an error, not a silent no-op.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileFormat {
    #[serde(default)]
    rename: BTreeMap<String, Spanned<toml::Value>>,
    #[serde(default)]
    rule: Vec<RuleEntry>,
    #[serde(default)]
    exclude: Vec<Spanned<String>>,
    #[serde(default)]
    exclude_regex: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleEntry {
    #[serde(rename = "match")]
    pattern: Spanned<String>,
    target: Spanned<String>,
    // Accepted only to explain the classic TOML trap: a top-level key written after a
    // `[[rule]]` table belongs to that table.
    exclude: Option<Spanned<toml::Value>>,
    exclude_regex: Option<Spanned<toml::Value>>,
}

impl MappingRules {
    /// Parses a mapping file (format in `docs/MAPPING.md`).
    ///
    /// Errors name the line and the key: TOML syntax, unknown keys, wrong types, regexes
    /// that do not compile, targets or names with an empty segment, references to
    /// capture groups the pattern does not have, two keys for the same folder.
    pub fn from_toml(text: &str) -> Result<Self, MapError> {
        let file: FileFormat = toml::from_str(text).map_err(MapError::Toml)?;
        let line_of = |span: std::ops::Range<usize>| line_at(text, span.start);
        let mut rules = MappingRules::default();

        for entry in file.exclude {
            let line = line_of(entry.span());
            let name = entry.into_inner();
            if has_empty_segment(&name) {
                return Err(empty_segment(line, format!("exclude {}", quote(&name))));
            }
            rules.push_exclude(name, Some(line));
        }
        for entry in file.exclude_regex {
            let line = line_of(entry.span());
            let pattern = entry.into_inner();
            let regex = compile(&pattern, line, "exclude_regex")?;
            rules.exclude_regexes.push(ExcludeRegex { regex, line });
        }

        let mut renames: Vec<(usize, String, toml::Value)> = file
            .rename
            .into_iter()
            .map(|(key, value)| (line_of(value.span()), key, value.into_inner()))
            .collect();
        // Line order, so that messages and `unused_rules` follow the file.
        renames.sort_by_key(|(line, _, _)| *line);
        for (line, key, value) in renames {
            let rule = format!("[rename] {}", quote(&key));
            let target = match value {
                toml::Value::String(target) => target,
                toml::Value::Array(_) if key == "exclude" || key == "exclude_regex" => {
                    return Err(misplaced(line, &key, "[rename]"));
                }
                other => {
                    return Err(MapError::Rule {
                        line,
                        rule,
                        message: format!(
                            "the target must be a string (found {})",
                            other.type_str()
                        ),
                    });
                }
            };
            if has_empty_segment(&key) {
                return Err(empty_segment(line, rule));
            }
            if has_empty_segment(&target) {
                return Err(MapError::Rule {
                    line,
                    rule,
                    message: format!("target {} has an empty folder name segment", quote(&target)),
                });
            }
            let name = normalize_inbox(&key);
            if let Some(&other) = rules.rename_index.get(&name) {
                let other = rules.renames.get(other).map_or(0, |r| r.line);
                return Err(MapError::Rule {
                    line,
                    rule,
                    message: format!(
                        "names the same folder as the key on line {other} (INBOX is case-insensitive)"
                    ),
                });
            }
            rules.rename_index.insert(name, rules.renames.len());
            rules.renames.push(Rename {
                shown: key,
                target: target.split('/').map(str::to_owned).collect(),
                line,
            });
        }

        for (i, entry) in file.rule.into_iter().enumerate() {
            let number = i + 1;
            for misplaced_key in [
                ("exclude", &entry.exclude),
                ("exclude_regex", &entry.exclude_regex),
            ] {
                if let (key, Some(value)) = misplaced_key {
                    return Err(misplaced(line_of(value.span()), key, "[[rule]]"));
                }
            }
            let line = line_of(entry.pattern.span());
            let target_line = line_of(entry.target.span());
            let pattern = entry.pattern.into_inner();
            let template = entry.target.into_inner();
            let regex = compile(&pattern, line, &format!("[[rule]] #{number} match"))?;
            check_template(&regex, &template).map_err(|message| MapError::Rule {
                line: target_line,
                rule: format!("[[rule]] #{number} target {}", quote(&template)),
                message,
            })?;
            rules.rules.push(RegexRule {
                regex,
                template,
                number,
                line,
            });
        }
        Ok(rules)
    }

    /// Reads and parses a mapping file; errors carry the path.
    pub fn load(path: &Path) -> Result<Self, MapError> {
        let text = std::fs::read_to_string(path).map_err(|error| MapError::Io {
            path: path.to_path_buf(),
            error,
        })?;
        Self::from_toml(&text).map_err(|error| MapError::InFile {
            path: path.to_path_buf(),
            error: Box::new(error),
        })
    }

    /// Excludes a folder and its subfolders, as `--exclude FOLDER` does: `FOLDER` is the
    /// `/`-joined decoded name, compared exactly except for a case-insensitive top-level
    /// `INBOX`.
    pub fn add_exclude(&mut self, folder: &str) {
        self.push_exclude(folder.to_owned(), None);
    }

    /// The rules that decided no folder among `sources`, described for a warning (e.g.
    /// `--exclude Trsh`, `[rename] "Old Stuf" (line 3)`).
    ///
    /// A rule listed here matched nothing or was always overridden by one of higher
    /// precedence; either way it is probably a typo.
    pub fn unused_rules(&self, sources: &[Vec<String>]) -> Vec<String> {
        let used: HashSet<RuleRef> = sources
            .iter()
            .filter(|s| !s.is_empty())
            .filter_map(|s| match self.decide(&match_names(s)) {
                Matched::Excluded { by, .. }
                | Matched::Renamed { by, .. }
                | Matched::Regex { by, .. } => Some(by),
                Matched::Nothing => None,
            })
            .collect();
        let all = (0..self.excludes.len())
            .map(RuleRef::Exclude)
            .chain((0..self.exclude_regexes.len()).map(RuleRef::ExcludeRegex))
            .chain((0..self.renames.len()).map(RuleRef::Rename))
            .chain((0..self.rules.len()).map(RuleRef::Rule));
        all.filter(|r| !used.contains(r))
            .map(|r| self.describe(r))
            .collect()
    }

    fn push_exclude(&mut self, shown: String, line: Option<usize>) {
        self.exclude_index
            .entry(normalize_inbox(&shown))
            .or_insert(self.excludes.len());
        self.excludes.push(Exclude { shown, line });
    }

    /// Applies the rules in precedence order: exclusions, renames, regex rules.
    /// `names` are the folder's match names (non-empty, from [`match_names`]).
    pub(super) fn decide(&self, names: &[String]) -> Matched<'_> {
        let Some(full) = names.last() else {
            return Matched::Nothing;
        };
        // The most specific (longest) excluded prefix names the reason.
        for name in names.iter().rev() {
            if let Some(&i) = self.exclude_index.get(name) {
                return Matched::Excluded {
                    reason: self.exclude_reason(i),
                    by: RuleRef::Exclude(i),
                };
            }
        }
        // Regex exclusions look at the full name only: the pattern decides whether it
        // covers subfolders, and excluding less is the safer mistake.
        for (i, ex) in self.exclude_regexes.iter().enumerate() {
            if ex.regex.is_match(full) {
                return Matched::Excluded {
                    reason: format!(
                        "excluded by mapping file rule exclude_regex {}",
                        quote(ex.regex.as_str())
                    ),
                    by: RuleRef::ExcludeRegex(i),
                };
            }
        }
        for (k, name) in names.iter().enumerate().rev() {
            if let Some(&i) = self.rename_index.get(name)
                && let Some(rename) = self.renames.get(i)
            {
                return Matched::Renamed {
                    target: &rename.target,
                    consumed: k + 1,
                    rule: self.describe(RuleRef::Rename(i)),
                    by: RuleRef::Rename(i),
                };
            }
        }
        // Longest name first, then file order: a rule written for this very folder
        // beats one that matches its parent.
        for (k, name) in names.iter().enumerate().rev() {
            for (i, rule) in self.rules.iter().enumerate() {
                if let Some(caps) = rule.regex.captures(name) {
                    let mut expanded = String::new();
                    caps.expand(&rule.template, &mut expanded);
                    return Matched::Regex {
                        expanded,
                        consumed: k + 1,
                        rule: self.describe(RuleRef::Rule(i)),
                        by: RuleRef::Rule(i),
                    };
                }
            }
        }
        Matched::Nothing
    }

    fn exclude_reason(&self, i: usize) -> String {
        match self.excludes.get(i) {
            Some(Exclude { shown, line: None }) => format!("excluded by --exclude {shown}"),
            Some(Exclude { shown, .. }) => {
                format!("excluded by mapping file rule exclude {}", quote(shown))
            }
            None => "excluded".to_owned(),
        }
    }

    fn describe(&self, r: RuleRef) -> String {
        match r {
            RuleRef::Rename(i) => self.renames.get(i).map(|r| {
                format!(
                    "[rename] {} = {} (line {})",
                    quote(&r.shown),
                    quote(&join(&r.target)),
                    r.line
                )
            }),
            RuleRef::Rule(i) => self.rules.get(i).map(|r| {
                format!(
                    "[[rule]] #{} match {} (line {})",
                    r.number,
                    quote(r.regex.as_str()),
                    r.line
                )
            }),
            RuleRef::Exclude(i) => self.excludes.get(i).map(|e| match e.line {
                None => format!("--exclude {}", e.shown),
                Some(line) => format!("exclude {} (line {line})", quote(&e.shown)),
            }),
            RuleRef::ExcludeRegex(i) => self.exclude_regexes.get(i).map(|e| {
                format!(
                    "exclude_regex {} (line {})",
                    quote(e.regex.as_str()),
                    e.line
                )
            }),
        }
        .unwrap_or_default()
    }
}

/// The match names of a folder: the `/`-joined names of its first 1, 2, …, n segments,
/// each with a top-level INBOX spelled `INBOX`. The last one is the folder's own name.
///
/// Comparing joined prefixes (rather than segment by segment) lets a rule written
/// `A/B` match both the two-level folder `A`,`B` and a single segment `A/B` (a name
/// with a `/` in it from a `.`-separated Maildir++).
pub(super) fn match_names(source: &[String]) -> Vec<String> {
    let mut names = Vec::with_capacity(source.len());
    let mut joined = String::new();
    for (i, seg) in source.iter().enumerate() {
        if i > 0 {
            joined.push('/');
        }
        joined.push_str(seg);
        names.push(normalize_inbox(&joined));
    }
    names
}

/// Spells a case-insensitive top-level INBOX as `INBOX` (RFC 3501 §5.1).
fn normalize_inbox(name: &str) -> String {
    match name.split_once('/') {
        Some((head, rest)) if head.eq_ignore_ascii_case("INBOX") => format!("INBOX/{rest}"),
        None if name.eq_ignore_ascii_case("INBOX") => "INBOX".to_owned(),
        _ => name.to_owned(),
    }
}

fn has_empty_segment(name: &str) -> bool {
    name.split('/').any(str::is_empty)
}

/// 1-based line of byte offset `at`. Counted on bytes, so no offset can panic.
fn line_at(text: &str, at: usize) -> usize {
    let end = at.min(text.len());
    text.as_bytes()
        .get(..end)
        .map_or(0, |b| b.iter().filter(|&&c| c == b'\n').count())
        + 1
}

fn compile(pattern: &str, line: usize, rule: &str) -> Result<Regex, MapError> {
    Regex::new(pattern).map_err(|error| MapError::Regex {
        line,
        rule: rule.to_owned(),
        pattern: pattern.to_owned(),
        error,
    })
}

fn empty_segment(line: usize, rule: String) -> MapError {
    MapError::Rule {
        line,
        rule,
        message: "the folder name has an empty segment (leading, trailing or double '/')"
            .to_owned(),
    }
}

fn misplaced(line: usize, key: &str, table: &str) -> MapError {
    MapError::Rule {
        line,
        rule: key.to_owned(),
        message: format!(
            "`{key}` is inside a {table} table here; TOML puts every key after a table \
             header into that table, so write `{key}` before the first [rename] or [[rule]]"
        ),
    }
}

/// Checks the capture references of a target template against the pattern, with the
/// syntax of [`regex::Captures::expand`]: `$$` is a literal `$`, `${name}` is braced,
/// `$name` takes the longest run of `[0-9A-Za-z_]`, and an all-digit name is an index.
///
/// `expand` silently substitutes nothing for a group the pattern lacks; that is almost
/// always a typo (`$1a` is the group named `1a`), so it is an error here.
fn check_template(regex: &Regex, template: &str) -> Result<(), String> {
    if has_empty_segment(template) {
        return Err(
            "the target has an empty folder name segment (leading, trailing or double '/')"
                .to_owned(),
        );
    }
    let names: HashSet<&str> = regex.capture_names().flatten().collect();
    let mut rest = template;
    while let Some(at) = rest.find('$') {
        let after = rest.get(at + 1..).unwrap_or_default();
        let (name, next) = if let Some(tail) = after.strip_prefix('$') {
            rest = tail;
            continue;
        } else if let Some(braced) = after.strip_prefix('{') {
            match braced.split_once('}') {
                Some((name, tail)) => (name, tail),
                // No closing brace: `expand` takes the `$` literally.
                None => ("", braced),
            }
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (
                after.get(..end).unwrap_or_default(),
                after.get(end..).unwrap_or_default(),
            )
        };
        rest = next;
        if name.is_empty() {
            continue;
        }
        let known = match name.parse::<usize>() {
            Ok(index) => index < regex.captures_len(),
            Err(_) => names.contains(name),
        };
        if !known {
            let groups = regex.captures_len().saturating_sub(1);
            return Err(format!(
                "refers to capture group ${name}, which the pattern does not have (it has \
                 {groups} numbered group(s)); write ${{1}}x rather than $1x when letters follow"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        match_names(&v.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>())
    }

    #[test]
    fn match_names_normalize_top_level_inbox_only() {
        assert_eq!(names(&["inbox", "Foo"]), ["INBOX", "INBOX/Foo"]);
        assert_eq!(names(&["Foo", "inbox"]), ["Foo", "Foo/inbox"]);
        assert_eq!(names(&["InBoXx"]), ["InBoXx"]);
    }

    #[test]
    fn line_numbers_are_safe() {
        assert_eq!(line_at("a\nb\nc", 4), 3);
        assert_eq!(line_at("ä\n", 1), 1);
        assert_eq!(line_at("", 99), 1);
    }

    #[test]
    fn template_references() {
        let re = Regex::new("^(?<year>\\d+)/(x)$").unwrap_or_else(|e| panic!("{e}"));
        for ok in [
            "a",
            "$1",
            "${2}b",
            "$year",
            "${year}",
            "$$9",
            "${unclosed",
            "$ x",
            "$0",
        ] {
            assert!(check_template(&re, ok).is_ok(), "{ok}");
        }
        for bad in ["$3", "$1a", "${nope}", "a/$yearx", "", "a//b", "/a", "a/"] {
            assert!(check_template(&re, bad).is_err(), "{bad}");
        }
    }
}
