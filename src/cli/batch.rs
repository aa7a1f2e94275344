//! The batch CSV files (`convert --users`, `upload --users`): one reader, so both
//! take the same syntax — a header row naming the columns (any order, any case),
//! cells trimmed, `#` comment lines, one row per user, each user once.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};

/// One data row.
pub struct Row {
    /// The file, for messages.
    path: PathBuf,
    /// 1-based line number in the file (the header is line 1).
    pub line: usize,
    cells: HashMap<String, String>,
}

impl Row {
    /// A non-empty cell of column `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.cells
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// A cell that must not be empty.
    pub fn require(&self, name: &str) -> Result<&str> {
        self.get(name)
            .ok_or_else(|| self.error(format!("empty {name}")))
    }

    /// An error about this row: `FILE:LINE: msg`.
    pub fn error(&self, msg: impl std::fmt::Display) -> anyhow::Error {
        anyhow!("{}:{}: {msg}", self.path.display(), self.line)
    }
}

/// Reads `path`. `required` columns must be in the header; the first of them is
/// the user's name, which must be a valid staging directory name and unique.
/// Returns the directory that relative paths in the file are taken from (the
/// file's own), and the rows.
pub fn read(path: &Path, required: &[&str]) -> Result<(PathBuf, Vec<Row>)> {
    let base = path.parent().unwrap_or(Path::new(".")).to_path_buf();
    // A user list is small: read whole, so that line numbers count every line.
    let text = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    // The reader reports where it started reading a record, before the blank and
    // comment lines it skips; the record's own line is after those.
    let line_at = |byte: u64| {
        let mut at = (byte as usize).min(text.len());
        loop {
            let rest = &text[at..];
            let eol = rest.iter().position(|&b| b == b'\n');
            let line = &rest[..eol.unwrap_or(rest.len())];
            let skipped = line.first() == Some(&b'#') || line.iter().all(u8::is_ascii_whitespace);
            match eol {
                Some(n) if skipped => at += n + 1,
                _ => break,
            }
        }
        text[..at].iter().filter(|&&b| b == b'\n').count() + 1
    };
    let mut rdr = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .comment(Some(b'#'))
        .from_reader(text.as_slice());
    let headers: Vec<String> = rdr
        .headers()
        .with_context(|| format!("cannot read {}", path.display()))?
        .iter()
        .map(|h| h.to_ascii_lowercase())
        .collect();
    if let Some(missing) = required.iter().find(|r| !headers.iter().any(|h| h == *r)) {
        bail!(
            "{}: the header row must name the columns {} (missing `{missing}`)",
            path.display(),
            required
                .iter()
                .map(|r| format!("`{r}`"))
                .collect::<Vec<_>>()
                .join(" and ")
        );
    }
    let key = required.first().copied().unwrap_or("name");
    let mut seen = HashSet::new();
    let mut rows = Vec::new();
    for (i, rec) in rdr.records().enumerate() {
        // Line numbers as an admin counts them in an editor (comments aside).
        let line = rec
            .as_ref()
            .ok()
            .and_then(|r| r.position())
            .map(|p| line_at(p.byte()))
            .unwrap_or(i + 2);
        let rec = rec.with_context(|| format!("{}:{line}", path.display()))?;
        let cells = headers
            .iter()
            .cloned()
            .zip(rec.iter().map(String::from))
            .collect();
        let row = Row {
            path: path.to_path_buf(),
            line,
            cells,
        };
        let user = row.require(key)?;
        super::check_user_name(user).map_err(|e| row.error(e))?;
        if !seen.insert(user.to_string()) {
            return Err(row.error(format!("user {user:?} appears twice")));
        }
        rows.push(row);
    }
    if rows.is_empty() {
        bail!("{}: no users", path.display());
    }
    Ok((base, rows))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str, required: &[&str]) -> Result<(PathBuf, Vec<Row>)> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("users.csv");
        std::fs::write(&p, text).unwrap();
        read(&p, required).map(|(_, rows)| (dir.path().to_path_buf(), rows))
    }

    #[test]
    fn columns_by_name_in_any_order_and_case() {
        let (_, rows) = table(
            "# users\nMaildir , NAME,extra\n/m/a, alice ,x\n\n# bob next\n/m/b,bob,\n",
            &["name", "maildir"],
        )
        .unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].require("name").unwrap(), "alice");
        assert_eq!(rows[1].get("maildir"), Some("/m/b"));
        assert_eq!(rows[1].get("extra"), None, "empty cells are absent");
        assert_eq!(rows[1].line, 6);
    }

    #[test]
    fn refuses_missing_columns_empty_and_repeated_users() {
        let e = table("name\nalice\n", &["name", "maildir"]).err().unwrap();
        assert!(e.to_string().contains("missing `maildir`"), "{e}");
        let e = table("user,login\n,x\n", &["user", "login"]).err().unwrap();
        assert!(e.to_string().ends_with(":2: empty user"), "{e}");
        let e = table("user,login\na,x\na,y\n", &["user", "login"])
            .err()
            .unwrap();
        assert!(
            e.to_string().contains(":3: user \"a\" appears twice"),
            "{e}"
        );
        let e = table("user,login\n../x,y\n", &["user", "login"])
            .err()
            .unwrap();
        assert!(e.to_string().contains(":2:"), "{e}");
        let e = table("user,login\n", &["user", "login"]).err().unwrap();
        assert!(e.to_string().ends_with("no users"), "{e}");
    }
}
