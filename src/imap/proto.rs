//! IMAP wire format: reading server responses and encoding client arguments.
//!
//! Only what mailstage's client needs of RFC 3501 / RFC 9051 §7 and §9 is parsed,
//! but it is parsed tolerantly: a response line that does not fit the grammar becomes
//! [`Response::Untagged`] with whatever tokens could be read, never a panic, because
//! real servers (Exchange above all) send texts that are not quite the grammar.
//!
//! A response is one line plus any literals it announces (`{N}` at the end of a line,
//! RFC 3501 §4.3); [`read_response`] reads the whole thing before parsing.

use std::io::{self, BufRead};

use thiserror::Error;

/// Longest response line (without literals) we accept. Servers send long `FETCH` or
/// `SEARCH` lines (one UID per message); 64 MiB is far above any real mailbox.
const MAX_LINE: usize = 64 << 20;
/// Largest literal we accept in a response (a fetched message body).
const MAX_LITERAL: u64 = 1 << 30;

/// Errors while reading a response.
#[derive(Debug, Error)]
pub enum ProtoError {
    /// The connection failed or was closed.
    #[error("connection: {0}")]
    Io(#[from] io::Error),
    /// The server closed the connection (EOF).
    #[error("the server closed the connection")]
    Closed,
    /// A line or literal beyond our limits.
    #[error("response too large ({0} bytes)")]
    TooLarge(u64),
}

/// Status of a tagged response or an untagged condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// `OK`.
    Ok,
    /// `NO`: the command failed.
    No,
    /// `BAD`: the command was not understood.
    Bad,
    /// `PREAUTH` greeting.
    Preauth,
    /// `BYE`: the server is closing the connection.
    Bye,
}

impl Status {
    fn parse(word: &[u8]) -> Option<Status> {
        Some(match word.to_ascii_uppercase().as_slice() {
            b"OK" => Status::Ok,
            b"NO" => Status::No,
            b"BAD" => Status::Bad,
            b"PREAUTH" => Status::Preauth,
            b"BYE" => Status::Bye,
            _ => return None,
        })
    }

    /// The word as the server sends it.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::No => "NO",
            Status::Bad => "BAD",
            Status::Preauth => "PREAUTH",
            Status::Bye => "BYE",
        }
    }
}

/// A response code in square brackets (RFC 3501 §7.1), e.g. `[APPENDUID 38505 3955]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Code {
    /// The code's name, upper-cased (`APPENDUID`, `UIDVALIDITY`, `CAPABILITY`, …).
    pub name: String,
    /// Everything after the name, as sent.
    pub args: String,
}

/// One token of an untagged data response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// An atom or number, as text (`FLAGS`, `\Seen`, `12`, `BODY[HEADER]`).
    Atom(String),
    /// A quoted string or a literal, as bytes.
    Str(Vec<u8>),
    /// A parenthesised list.
    List(Vec<Value>),
    /// `NIL`.
    Nil,
}

impl Value {
    /// The atom's text, if this is an atom.
    pub fn atom(&self) -> Option<&str> {
        match self {
            Value::Atom(a) => Some(a),
            _ => None,
        }
    }

    /// The value as a number, if it is an atom of digits.
    pub fn number(&self) -> Option<u64> {
        self.atom().and_then(|a| a.parse().ok())
    }

    /// String-like content: a string's bytes or an atom's text.
    pub fn bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Str(s) => Some(s),
            Value::Atom(a) => Some(a.as_bytes()),
            _ => None,
        }
    }

    /// The list's items, if this is a list.
    pub fn list(&self) -> Option<&[Value]> {
        match self {
            Value::List(l) => Some(l),
            _ => None,
        }
    }
}

/// One server response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// `+ text`: the server waits for a literal or a SASL answer.
    Continue(String),
    /// `tag OK|NO|BAD [code] text`.
    Tagged {
        /// The tag of the command this completes.
        tag: String,
        /// Its outcome.
        status: Status,
        /// The response code, if any.
        code: Option<Code>,
        /// The human-readable text.
        text: String,
    },
    /// `* OK|NO|BAD|BYE|PREAUTH [code] text`.
    Condition {
        /// Which condition.
        status: Status,
        /// The response code, if any.
        code: Option<Code>,
        /// The human-readable text.
        text: String,
    },
    /// Any other `* …` response, tokenised (`CAPABILITY …`, `LIST …`, `12 FETCH (…)`).
    Untagged(Vec<Value>),
}

/// Reads one complete response (the line and every literal it announces) from `r`.
///
/// Returns the raw bytes with the final CRLF removed; literals are inline, each
/// preceded by its `{N}\r\n` marker, which is what [`parse`] expects.
pub fn read_response<R: BufRead>(r: &mut R) -> Result<Vec<u8>, ProtoError> {
    let mut out = Vec::new();
    loop {
        let start = out.len();
        let n = read_line(r, &mut out)?;
        if n == 0 {
            return Err(ProtoError::Closed);
        }
        if out.len() > MAX_LINE {
            return Err(ProtoError::TooLarge(out.len() as u64));
        }
        // strip CRLF (or a bare LF from a sloppy server)
        if out.ends_with(b"\n") {
            out.pop();
        }
        if out.ends_with(b"\r") {
            out.pop();
        }
        match literal_announced(&out[start..]) {
            Some(len) => {
                if len > MAX_LITERAL {
                    return Err(ProtoError::TooLarge(len));
                }
                out.extend_from_slice(b"\r\n");
                let before = out.len();
                out.resize(before + len as usize, 0);
                r.read_exact(&mut out[before..])?;
            }
            None => return Ok(out),
        }
    }
}

fn read_line<R: BufRead>(r: &mut R, out: &mut Vec<u8>) -> Result<usize, ProtoError> {
    let mut total = 0;
    loop {
        let buf = match r.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        };
        if buf.is_empty() {
            return Ok(total);
        }
        match memchr::memchr(b'\n', buf) {
            Some(i) => {
                out.extend_from_slice(&buf[..=i]);
                r.consume(i + 1);
                return Ok(total + i + 1);
            }
            None => {
                let n = buf.len();
                out.extend_from_slice(buf);
                r.consume(n);
                total += n;
                if out.len() > MAX_LINE {
                    return Err(ProtoError::TooLarge(out.len() as u64));
                }
            }
        }
    }
}

/// `{N}` (or `{N+}`) at the very end of a line: the length of the literal that follows.
fn literal_announced(line: &[u8]) -> Option<u64> {
    let rest = line.strip_suffix(b"}")?;
    let open = memchr::memrchr(b'{', rest)?;
    let digits = rest[open + 1..]
        .strip_suffix(b"+")
        .unwrap_or(&rest[open + 1..]);
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// Parses one response as returned by [`read_response`].
pub fn parse(raw: &[u8]) -> Response {
    if let Some(rest) = raw.strip_prefix(b"+") {
        return Response::Continue(lossy(rest.strip_prefix(b" ").unwrap_or(rest)));
    }
    let (tag, rest) = split_word(raw);
    if tag == b"*" {
        let (word, after) = split_word(rest);
        if let Some(status) = Status::parse(word) {
            let (code, text) = parse_code_text(after);
            return Response::Condition { status, code, text };
        }
        return Response::Untagged(tokens(rest));
    }
    let (word, after) = split_word(rest);
    match Status::parse(word) {
        Some(status) => {
            let (code, text) = parse_code_text(after);
            Response::Tagged {
                tag: lossy(tag),
                status,
                code,
                text,
            }
        }
        None => Response::Untagged(tokens(raw)),
    }
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn split_word(b: &[u8]) -> (&[u8], &[u8]) {
    match memchr::memchr(b' ', b) {
        Some(i) => (&b[..i], &b[i + 1..]),
        None => (b, &[]),
    }
}

fn parse_code_text(b: &[u8]) -> (Option<Code>, String) {
    if let Some(inner) = b.strip_prefix(b"[")
        && let Some(end) = memchr::memchr(b']', inner)
    {
        let code = &inner[..end];
        let (name, args) = split_word(code);
        let text = &inner[end + 1..];
        let text = text.strip_prefix(b" ").unwrap_or(text);
        return (
            Some(Code {
                name: lossy(name).to_ascii_uppercase(),
                args: lossy(args),
            }),
            lossy(text),
        );
    }
    (None, lossy(b))
}

/// Tokenises the data of an untagged response. Never fails: anything unreadable
/// becomes an atom of the bytes up to the next space.
pub fn tokens(b: &[u8]) -> Vec<Value> {
    let mut pos = 0;
    let mut stack: Vec<Vec<Value>> = vec![Vec::new()];
    while pos < b.len() {
        match b[pos] {
            b' ' => pos += 1,
            b'(' => {
                stack.push(Vec::new());
                pos += 1;
            }
            b')' => {
                pos += 1;
                if stack.len() > 1 {
                    let done = stack.pop().unwrap_or_default();
                    push(&mut stack, Value::List(done));
                }
            }
            b'"' => {
                let (s, next) = quoted(b, pos + 1);
                push(&mut stack, Value::Str(s));
                pos = next;
            }
            b'{' => match literal_at(b, pos) {
                Some((data, next)) => {
                    push(&mut stack, Value::Str(data.to_vec()));
                    pos = next;
                }
                None => {
                    let (a, next) = atom(b, pos);
                    push(&mut stack, a);
                    pos = next;
                }
            },
            _ => {
                let (a, next) = atom(b, pos);
                push(&mut stack, a);
                pos = next;
            }
        }
    }
    // close unbalanced lists rather than lose their content
    while stack.len() > 1 {
        let done = stack.pop().unwrap_or_default();
        push(&mut stack, Value::List(done));
    }
    stack.pop().unwrap_or_default()
}

fn push(stack: &mut [Vec<Value>], v: Value) {
    if let Some(top) = stack.last_mut() {
        top.push(v);
    }
}

fn quoted(b: &[u8], mut pos: usize) -> (Vec<u8>, usize) {
    let mut out = Vec::new();
    while pos < b.len() {
        match b[pos] {
            b'\\' if pos + 1 < b.len() => {
                out.push(b[pos + 1]);
                pos += 2;
            }
            b'"' => return (out, pos + 1),
            c => {
                out.push(c);
                pos += 1;
            }
        }
    }
    (out, pos)
}

/// A `{N}\r\n<N bytes>` literal starting at `pos`.
fn literal_at(b: &[u8], pos: usize) -> Option<(&[u8], usize)> {
    let close = pos + memchr::memchr(b'}', &b[pos..])?;
    let digits = &b[pos + 1..close];
    let digits = digits.strip_suffix(b"+").unwrap_or(digits);
    let len: usize = std::str::from_utf8(digits).ok()?.parse().ok()?;
    let start = close + 1;
    let start = if b[start..].starts_with(b"\r\n") {
        start + 2
    } else {
        return None;
    };
    let end = start.checked_add(len)?;
    (end <= b.len()).then(|| (&b[start..end], end))
}

/// An atom, number or `NIL`; `[...]` sections (as in `BODY[HEADER.FIELDS (X)]`) are
/// part of the atom, brackets included.
fn atom(b: &[u8], mut pos: usize) -> (Value, usize) {
    let start = pos;
    let mut depth = 0usize;
    while pos < b.len() {
        match b[pos] {
            b'[' => depth += 1,
            b']' => depth = depth.saturating_sub(1),
            b' ' | b')' | b'(' if depth == 0 => break,
            _ => {}
        }
        pos += 1;
    }
    if pos == start {
        // a lone unexpected byte: consume it so the tokeniser always advances
        return (Value::Atom(lossy(&b[pos..pos + 1])), pos + 1);
    }
    let text = &b[start..pos];
    if text.eq_ignore_ascii_case(b"NIL") {
        (Value::Nil, pos)
    } else {
        (Value::Atom(lossy(text)), pos)
    }
}

/// Encodes `s` as an IMAP quoted string (RFC 3501 §4.3), or `None` when it cannot be
/// one (CR, LF, NUL or a non-ASCII byte: those need a literal).
pub fn quote(s: &[u8]) -> Option<Vec<u8>> {
    if s.iter()
        .any(|&c| c == 0 || c == b'\r' || c == b'\n' || c >= 0x80)
    {
        return None;
    }
    let mut out = Vec::with_capacity(s.len() + 2);
    out.push(b'"');
    for &c in s {
        if c == b'"' || c == b'\\' {
            out.push(b'\\');
        }
        out.push(c);
    }
    out.push(b'"');
    Some(out)
}

/// Parses a list of flags/attributes such as `(\HasNoChildren \Sent)`.
pub fn flag_list(v: &Value) -> Vec<String> {
    v.list()
        .unwrap_or_default()
        .iter()
        .filter_map(|x| x.atom().map(str::to_owned))
        .collect()
}

/// Parses a sequence set of UIDs as the server sends it in `APPENDUID` or `SEARCH`
/// (`3955`, `3955:3960,3970`). Returns `None` on anything else; ranges longer than
/// `max` items are refused.
pub fn uid_set(s: &str, max: usize) -> Option<Vec<u32>> {
    let mut out = Vec::new();
    for part in s.split(',') {
        match part.split_once(':') {
            Some((a, b)) => {
                let (a, b): (u32, u32) = (a.parse().ok()?, b.parse().ok()?);
                let (lo, hi) = (a.min(b), a.max(b));
                if (hi - lo) as usize >= max.saturating_sub(out.len()) {
                    return None;
                }
                out.extend(lo..=hi);
            }
            None => out.push(part.parse().ok()?),
        }
    }
    Some(out)
}

/// Formats UIDs (sorted, deduplicated) as a compact sequence set (`1:5,9`).
pub fn format_uid_set(uids: &[u32]) -> String {
    let mut v = uids.to_vec();
    v.sort_unstable();
    v.dedup();
    let mut out = String::new();
    let mut i = 0;
    while i < v.len() {
        let start = v[i];
        let mut end = start;
        while i + 1 < v.len() && v[i + 1] == end + 1 {
            i += 1;
            end = v[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}:{end}"));
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn resp(s: &[u8]) -> Response {
        parse(&read_response(&mut &s[..]).unwrap())
    }

    #[test]
    fn tagged_with_code() {
        assert_eq!(
            resp(b"a7 OK [APPENDUID 38505 3955] APPEND completed\r\n"),
            Response::Tagged {
                tag: "a7".into(),
                status: Status::Ok,
                code: Some(Code {
                    name: "APPENDUID".into(),
                    args: "38505 3955".into()
                }),
                text: "APPEND completed".into()
            }
        );
    }

    #[test]
    fn exchange_throttle_text_is_kept() {
        let Response::Tagged { status, text, .. } =
            resp(b"5 NO Request is throttled. Suggested Backoff Time: 250 milliseconds\r\n")
        else {
            panic!("not tagged")
        };
        assert_eq!(status, Status::No);
        assert_eq!(
            text,
            "Request is throttled. Suggested Backoff Time: 250 milliseconds"
        );
    }

    #[test]
    fn list_with_special_use() {
        let r = resp(b"* LIST (\\HasNoChildren \\Sent) \".\" Sent\r\n");
        let Response::Untagged(v) = r else { panic!() };
        assert_eq!(v[0], Value::Atom("LIST".into()));
        assert_eq!(flag_list(&v[1]), vec!["\\HasNoChildren", "\\Sent"]);
        assert_eq!(v[2], Value::Str(b".".to_vec()));
        assert_eq!(v[3], Value::Atom("Sent".into()));
    }

    #[test]
    fn fetch_with_literal_and_section() {
        let raw = b"* 3 FETCH (UID 17 RFC822.SIZE 402 INTERNALDATE \"04-Jan-2010 08:15:02 +0000\" BODY[HEADER.FIELDS (MESSAGE-ID)] {19}\r\nMessage-ID: <a@b>\r\n)\r\n";
        let Response::Untagged(v) = resp(raw) else {
            panic!()
        };
        assert_eq!(v[0].number(), Some(3));
        let items = v[2].list().unwrap();
        assert_eq!(items[1].number(), Some(17));
        assert_eq!(items[6].atom(), Some("BODY[HEADER.FIELDS (MESSAGE-ID)]"));
        assert_eq!(items[7], Value::Str(b"Message-ID: <a@b>\r\n".to_vec()));
    }

    #[test]
    fn literal_in_list_response() {
        let raw = b"* LIST () \"/\" {5}\r\na\"b c\r\n";
        let Response::Untagged(v) = resp(raw) else {
            panic!()
        };
        assert_eq!(v[3], Value::Str(b"a\"b c".to_vec()));
    }

    #[test]
    fn continuation_and_bye() {
        assert_eq!(
            resp(b"+ go ahead\r\n"),
            Response::Continue("go ahead".into())
        );
        assert_eq!(resp(b"+\r\n"), Response::Continue(String::new()));
        assert!(matches!(
            resp(b"* BYE Connection closed.\r\n"),
            Response::Condition {
                status: Status::Bye,
                ..
            }
        ));
    }

    #[test]
    fn eof_is_closed() {
        assert!(matches!(
            read_response(&mut &b""[..]),
            Err(ProtoError::Closed)
        ));
        // a literal cut short is an I/O error, not a panic
        assert!(read_response(&mut &b"* 1 FETCH (BODY[] {10}\r\nabc"[..]).is_err());
    }

    #[test]
    fn quoting() {
        assert_eq!(quote(b"Sent Items").unwrap(), b"\"Sent Items\"");
        assert_eq!(quote(b"a\"b\\c").unwrap(), b"\"a\\\"b\\\\c\"");
        assert!(quote("Ä".as_bytes()).is_none());
        assert!(quote(b"a\r\nb").is_none());
    }

    #[test]
    fn uid_sets() {
        assert_eq!(uid_set("3955", 10), Some(vec![3955]));
        assert_eq!(uid_set("1:3,7", 10), Some(vec![1, 2, 3, 7]));
        assert_eq!(uid_set("1:100000", 10), None);
        assert_eq!(uid_set("x", 10), None);
        assert_eq!(format_uid_set(&[7, 1, 2, 3, 9, 3]), "1:3,7,9");
        assert_eq!(format_uid_set(&[]), "");
    }

    proptest! {
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse(&bytes);
            let _ = read_response(&mut &bytes[..]).map(|r| parse(&r));
        }

        #[test]
        fn uid_set_round_trip(mut uids in proptest::collection::vec(1u32..5000, 0..50)) {
            uids.sort_unstable();
            uids.dedup();
            let s = format_uid_set(&uids);
            if uids.is_empty() {
                prop_assert_eq!(s, "");
            } else {
                prop_assert_eq!(uid_set(&s, 10_000).unwrap(), uids);
            }
        }
    }
}
