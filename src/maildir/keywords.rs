//! Dovecot's `dovecot-keywords` file: which IMAP keyword each lowercase letter in a
//! Maildir file name's flags stands for.
//!
//! Dovecot docs ("Maildir Mailbox Format", §IMAP Keywords): keywords are stored in the
//! file name's flags field as letters `a..z`, so at most 26 per mailbox; the mapping
//! lives in the mailbox directory's own `dovecot-keywords`, one `<index> <keyword>`
//! line each, `0` meaning `a`. Each folder has its own file, so the same letter can
//! mean different keywords in different folders.
//!
//! The parser is tolerant: the file is only a hint for flags, so blank lines, garbage
//! and duplicates are skipped (and counted) instead of failing the scan.

use std::io::Read;
use std::path::Path;

/// File name of the keyword map inside a mailbox directory.
pub const KEYWORDS_FILE: &str = "dovecot-keywords";

/// Number of keyword letters a Maildir file name can carry (`a`–`z`).
pub const MAX_KEYWORDS: usize = 26;

/// A legitimate file is a few hundred bytes; the cap keeps a corrupt or hostile
/// multi-gigabyte file from being read into memory.
const MAX_FILE_BYTES: u64 = 1 << 20;

/// The letter → keyword map of one mailbox directory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Keywords {
    names: [Option<String>; MAX_KEYWORDS],
    skipped_lines: usize,
}

impl Keywords {
    /// Parse the contents of a `dovecot-keywords` file. Never fails: lines that are
    /// not `<index> <keyword>` with an index below 26 and a keyword that is a valid
    /// IMAP atom are skipped and counted in [`Keywords::skipped_lines`]; for an index
    /// given twice the first line wins.
    pub fn parse(bytes: &[u8]) -> Keywords {
        let mut kw = Keywords::default();
        for line in bytes.split(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match parse_line(line) {
                Some((index, name)) => match kw.names.get_mut(index) {
                    Some(slot @ None) => *slot = Some(name),
                    _ => kw.skipped_lines += 1,
                },
                None => kw.skipped_lines += 1,
            }
        }
        kw
    }

    /// Read `dir/dovecot-keywords`. A missing file is an empty map (Dovecot creates it
    /// only once a keyword is used); other I/O errors are returned so the caller can
    /// warn.
    pub fn load(dir: &Path) -> std::io::Result<Keywords> {
        let file = match std::fs::File::open(dir.join(KEYWORDS_FILE)) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Keywords::default()),
            Err(e) => return Err(e),
        };
        let mut bytes = Vec::new();
        file.take(MAX_FILE_BYTES).read_to_end(&mut bytes)?;
        Ok(Keywords::parse(&bytes))
    }

    /// The keyword for index `index` (0 = letter `a`), if the file defines it.
    pub fn get(&self, index: usize) -> Option<&str> {
        self.names.get(index).and_then(|n| n.as_deref())
    }

    /// The keyword for a lowercase letter `a`–`z` in a file name's flags.
    pub fn for_letter(&self, letter: u8) -> Option<&str> {
        if letter.is_ascii_lowercase() {
            self.get(usize::from(letter - b'a'))
        } else {
            None
        }
    }

    /// Non-blank lines that were ignored (malformed, index ≥ 26, invalid keyword,
    /// duplicate index).
    pub fn skipped_lines(&self) -> usize {
        self.skipped_lines
    }

    /// True if no letter is mapped.
    pub fn is_empty(&self) -> bool {
        self.names.iter().all(Option::is_none)
    }
}

/// `<digits> <keyword>`; Dovecot writes exactly one space, tabs are accepted too.
fn parse_line(line: &[u8]) -> Option<(usize, String)> {
    let digits = line.iter().take_while(|b| b.is_ascii_digit()).count();
    let (index, rest) = line.split_at(digits);
    // An index longer than two digits cannot be below 26 (and might overflow).
    if index.is_empty() || index.len() > 2 {
        return None;
    }
    let index: usize = std::str::from_utf8(index).ok()?.parse().ok()?;
    if index >= MAX_KEYWORDS {
        return None;
    }
    let name = match rest.first() {
        Some(b' ' | b'\t') => rest.get(1..)?.trim_ascii(),
        _ => return None,
    };
    if !is_atom(name) {
        return None;
    }
    let name = std::str::from_utf8(name).ok()?;
    Some((index, name.to_owned()))
}

/// RFC 3501 §9: `flag-keyword = atom`, and an atom is one or more characters that are
/// not `atom-specials` (`( ) { SP CTL % * " \ ]`, 8-bit). Anything else could not be
/// sent to the target server as a keyword, so it is treated as garbage.
fn is_atom(name: &[u8]) -> bool {
    !name.is_empty()
        && name.iter().all(|&b| {
            (0x21..=0x7e).contains(&b)
                && !matches!(b, b'(' | b')' | b'{' | b'%' | b'*' | b'"' | b'\\' | b']')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dovecot_format() {
        let kw = Keywords::parse(b"0 $Forwarded\n1 $label1\n2 NonJunk\n");
        assert_eq!(kw.for_letter(b'a'), Some("$Forwarded"));
        assert_eq!(kw.for_letter(b'b'), Some("$label1"));
        assert_eq!(kw.for_letter(b'c'), Some("NonJunk"));
        assert_eq!(kw.for_letter(b'd'), None);
        assert_eq!(kw.for_letter(b'A'), None);
        assert_eq!(kw.skipped_lines(), 0);
        assert!(!kw.is_empty());
    }

    #[test]
    fn tolerates_garbage() {
        let input = b"\n\
            garbage line\n\
            0 $Junk\r\n\
            \n\
            3\tTabbed  \n\
            25 Last\n\
            26 TooFar\n\
            123456789012345678901234567890 Huge\n\
            0 Duplicate\n\
            4 two words\n\
            5 (paren\n\
            6 \xc3\xa9t\xc3\xa9\n\
            7\n\
            8 \n\
            x1 Foo\n\
            9 $MDNSent";
        let kw = Keywords::parse(input);
        assert_eq!(kw.get(0), Some("$Junk"));
        assert_eq!(kw.get(3), Some("Tabbed"));
        assert_eq!(kw.get(25), Some("Last"));
        assert_eq!(kw.get(9), Some("$MDNSent"));
        assert_eq!(kw.get(26), None);
        for i in [1, 2, 4, 5, 6, 7, 8] {
            assert_eq!(kw.get(i), None, "index {i}");
        }
        // garbage, 26, huge, duplicate, two words, paren, non-ASCII, "7", "8 ", x1
        assert_eq!(kw.skipped_lines(), 10);
    }

    #[test]
    fn empty_and_binary_input() {
        assert!(Keywords::parse(b"").is_empty());
        let kw = Keywords::parse(&[0xff, 0x00, b'\n', 0x80, b' ', 0x01]);
        assert!(kw.is_empty());
        assert_eq!(kw.skipped_lines(), 2);
    }

    #[test]
    fn load_missing_and_present() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        assert!(Keywords::load(dir.path())?.is_empty());
        std::fs::write(dir.path().join(KEYWORDS_FILE), "1 $label1\n")?;
        let kw = Keywords::load(dir.path())?;
        assert_eq!(kw.for_letter(b'b'), Some("$label1"));
        assert_eq!(kw.for_letter(b'a'), None);
        Ok(())
    }
}
