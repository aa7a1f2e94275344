//! Header section scanning (RFC 5322 §2.2 and §3.6), tolerant of broken input.

use std::ops::Range;

/// One header field as found in the message: the name and the raw value bytes,
/// including folding whitespace and the line ending of each folded line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// Byte range of the field name (before the colon).
    pub name: Range<usize>,
    /// Byte range of the raw value: after the colon up to (excluding) the final
    /// line ending of the field.
    pub value: Range<usize>,
    /// Byte range of the whole field including its final line ending.
    pub whole: Range<usize>,
}

/// The header section of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Fields in order of appearance.
    pub fields: Vec<Field>,
    /// Offset where the header section ends: the first byte of the empty separator
    /// line, or of the first line that is not a header field.
    pub end: usize,
    /// Offset of the first body byte (after the separator line, if any).
    pub body_start: usize,
    /// True when the header ended with an empty line as RFC 5322 §2.1 requires.
    pub has_separator: bool,
    /// Offsets of lines taken as continuations although they do not start with
    /// white space: a fold that lost its indentation (a line that is no field,
    /// followed by a field line).
    pub broken_folds: Vec<usize>,
}

impl Header {
    /// The first field whose name matches `name` case-insensitively (RFC 5322 §1.2.2:
    /// field names are case-insensitive).
    pub fn get<'m>(&self, msg: &'m [u8], name: &str) -> Option<&'m [u8]> {
        self.fields
            .iter()
            .find(|f| msg[f.name.clone()].eq_ignore_ascii_case(name.as_bytes()))
            .map(|f| &msg[f.value.clone()])
    }

    /// How many fields carry `name` (case-insensitive).
    pub fn count(&self, msg: &[u8], name: &str) -> usize {
        self.fields
            .iter()
            .filter(|f| msg[f.name.clone()].eq_ignore_ascii_case(name.as_bytes()))
            .count()
    }
}

/// True for a byte allowed in a field name: printable US-ASCII except colon
/// (RFC 5322 §2.2, `ftext`).
pub fn is_ftext(b: u8) -> bool {
    (33..=126).contains(&b) && b != b':'
}

/// Length of the line starting at `pos`, without its line ending, and the offset of
/// the next line. A line ends at LF, CRLF or a lone CR.
fn line_at(msg: &[u8], pos: usize) -> (usize, usize) {
    let rest = &msg[pos..];
    match memchr::memchr2(b'\n', b'\r', rest) {
        None => (rest.len(), msg.len()),
        Some(i) => {
            let next = if rest[i] == b'\r' && rest.get(i + 1) == Some(&b'\n') {
                i + 2
            } else {
                i + 1
            };
            (i, pos + next)
        }
    }
}

/// If the line is a field start (`name:`), the length of the name.
fn field_name_len(line: &[u8]) -> Option<usize> {
    let colon = memchr::memchr(b':', line)?;
    // Tolerate whitespace between the name and the colon (obsolete syntax,
    // RFC 5322 §4.5.1) but require a non-empty name of ftext.
    let name = line[..colon].trim_ascii_end();
    (!name.is_empty() && name.iter().all(|&b| is_ftext(b))).then_some(name.len())
}

/// Scan the header section starting at `start` (0 for a whole message).
///
/// Never fails: the header ends at the first empty line, or at the first line that
/// is neither a field nor a continuation (then `has_separator` is false and the body
/// starts at that line).
pub fn scan(msg: &[u8], start: usize) -> Header {
    let mut fields: Vec<Field> = Vec::new();
    let mut broken_folds = Vec::new();
    let mut pos = start;
    while pos < msg.len() {
        let (len, next) = line_at(msg, pos);
        let line = &msg[pos..pos + len];
        if line.is_empty() {
            return Header {
                fields,
                end: pos,
                body_start: next,
                has_separator: true,
                broken_folds,
            };
        }
        if matches!(line[0], b' ' | b'\t') {
            // A continuation line (RFC 5322 §2.2.3 folding) belongs to the previous
            // field; before any field it is not a header at all.
            match fields.last_mut() {
                Some(f) => {
                    f.value.end = pos + len;
                    f.whole.end = next;
                    pos = next;
                    continue;
                }
                None => break,
            }
        }
        let broken_fold = field_name_len(line).is_none() && !fields.is_empty() && {
            let (nlen, _) = line_at(msg, next);
            next < msg.len() && field_name_len(&msg[next..next + nlen]).is_some()
        };
        if broken_fold && let Some(f) = fields.last_mut() {
            f.value.end = pos + len;
            f.whole.end = next;
            broken_folds.push(pos);
            pos = next;
            continue;
        }
        match field_name_len(line) {
            Some(n) => {
                let colon = pos + memchr::memchr(b':', line).map_or(n, |c| c);
                fields.push(Field {
                    name: pos..pos + n,
                    value: colon + 1..pos + len,
                    whole: pos..next,
                });
                pos = next;
            }
            None => break,
        }
    }
    Header {
        fields,
        end: pos,
        body_start: pos,
        has_separator: false,
        broken_folds,
    }
}

/// Unfold a raw field value (RFC 5322 §2.2.3): remove CR and LF, keep the whitespace
/// that follows them, and trim the ends.
pub fn unfold(value: &[u8]) -> Vec<u8> {
    let mut out: Vec<u8> = value
        .iter()
        .copied()
        .filter(|&b| b != b'\r' && b != b'\n')
        .collect();
    let trimmed_end = out.trim_ascii_end().len();
    out.truncate(trimmed_end);
    let lead = out.len() - out.trim_ascii_start().len();
    out.drain(..lead);
    out
}

/// The msg-id of a Message-ID value (RFC 5322 §3.6.4): the first `<…>` token, or the
/// trimmed value when it has no angle brackets (broken but seen in the wild).
pub fn msg_id(value: &[u8]) -> Option<Vec<u8>> {
    let v = unfold(value);
    if let Some(open) = memchr::memchr(b'<', &v)
        && let Some(close) = memchr::memchr(b'>', &v[open..])
        && close > 1
    {
        return Some(v[open..open + close + 1].to_vec());
    }
    let token = v.split(|b| b.is_ascii_whitespace()).next().unwrap_or(&[]);
    (!token.is_empty()).then(|| token.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scans_fields_folding_and_separator() {
        let m = b"From: a@b\r\nSubject: hello\r\n  world\r\n\r\nbody\r\n";
        let h = scan(m, 0);
        assert_eq!(h.fields.len(), 2);
        assert!(h.has_separator);
        assert_eq!(&m[h.body_start..], b"body\r\n");
        assert_eq!(h.get(m, "subject"), Some(&b" hello\r\n  world"[..]));
        assert_eq!(unfold(h.get(m, "SUBJECT").unwrap()), b"hello  world");
    }

    #[test]
    fn lf_and_missing_separator() {
        let m = b"From: a\nTo: b\nthis is body\n";
        let h = scan(m, 0);
        assert_eq!(h.fields.len(), 2);
        assert!(!h.has_separator);
        assert_eq!(&m[h.body_start..], b"this is body\n");
    }

    #[test]
    fn fold_without_indentation() {
        let m = b"Content-Type: text/plain;\r\nname=\"a.txt\"\r\nSubject: s\r\n\r\nbody";
        let h = scan(m, 0);
        assert_eq!(h.fields.len(), 2);
        assert_eq!(h.broken_folds, vec![27]);
        assert_eq!(&m[h.body_start..], b"body");
        // A non-field line followed by body text is the start of the body.
        let m = b"Subject: s\r\nHello there\r\nsecond line\r\n";
        let h = scan(m, 0);
        assert!(h.broken_folds.is_empty());
        assert_eq!(&m[h.body_start..], b"Hello there\r\nsecond line\r\n");
    }

    #[test]
    fn not_a_header() {
        for m in [
            &b""[..],
            b"\x89PNG\r\n",
            b" leading space: x\n",
            b": no name\n",
        ] {
            assert!(scan(m, 0).fields.is_empty(), "{m:?}");
        }
    }

    #[test]
    fn header_only_message() {
        let m = b"From: a\r\nSubject: x";
        let h = scan(m, 0);
        assert_eq!(h.fields.len(), 2);
        assert_eq!(h.body_start, m.len());
        assert_eq!(h.get(m, "Subject"), Some(&b" x"[..]));
    }

    #[test]
    fn message_ids() {
        assert_eq!(msg_id(b" <a@b> (c)"), Some(b"<a@b>".to_vec()));
        assert_eq!(msg_id(b"\r\n <a@b>"), Some(b"<a@b>".to_vec()));
        assert_eq!(msg_id(b" a@b"), Some(b"a@b".to_vec()));
        assert_eq!(msg_id(b"   "), None);
        assert_eq!(msg_id(b" <>"), Some(b"<>".to_vec()));
    }
}
