//! Tolerant MIME structure scanner (RFC 2045, RFC 2046 §5.1): a tree of parts with
//! the byte range of every header and body, on CRLF-normalised input.
//!
//! It never fails. What it cannot make sense of becomes a [`Defect`] on the part,
//! and the part's bytes stay addressable, so that the repair engine can rewrite just
//! that part and copy everything else verbatim.

use std::ops::Range;

use super::header::{self, Header};
use super::words;

/// Deepest nesting the scanner descends into; deeper parts are leaves with a
/// [`Defect::TooDeep`]. Exchange Online trouble starts past 30 levels (EXCHANGE.md).
pub const MAX_DEPTH: usize = 40;

/// What is structurally wrong with a part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Defect {
    /// `multipart/*` without a usable `boundary` parameter (RFC 2046 §5.1.1).
    NoBoundary,
    /// The boundary never occurs in the body.
    BoundaryNotFound,
    /// No close delimiter (`--boundary--`) before the end of the enclosing body.
    MissingCloseDelimiter,
    /// Nested deeper than [`MAX_DEPTH`].
    TooDeep,
    /// More than one Content-Type field.
    DuplicateContentType,
    /// The header did not end with an empty line.
    NoHeaderSeparator,
    /// The first header line was a continuation line.
    LeadingContinuation,
    /// A `message/rfc822` part whose content has no header: not a message.
    EmbeddedNotAMessage,
    /// An embedded message starts with an mbox `From ` envelope line.
    EmbeddedFromLine,
}

/// A parsed Content-Type (RFC 2045 §5.1), with the default of RFC 2045 §5.2 or
/// RFC 2046 §5.1.5 (digest) applied when absent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentType {
    /// Lower-case `type/subtype`.
    pub mime_type: String,
    /// Parameters in order of appearance.
    pub params: Vec<words::Param>,
    /// True when the part had a Content-Type field (not a default).
    pub explicit: bool,
}

impl ContentType {
    /// The top-level type (`text` of `text/plain`).
    pub fn main_type(&self) -> &str {
        self.mime_type.split('/').next().unwrap_or("")
    }

    /// The first parameter of that (lower-case) name.
    pub fn param(&self, name: &str) -> Option<&[u8]> {
        self.params
            .iter()
            .find(|p| p.name == name)
            .map(|p| p.value.as_slice())
    }

    /// True for `multipart/*`.
    pub fn is_multipart(&self) -> bool {
        self.main_type() == "multipart"
    }
}

/// One MIME entity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// First byte of the entity (its header).
    pub start: usize,
    /// The header section (offsets are absolute in the message).
    pub header: Header,
    /// The body bytes (for a part of a multipart, without the CRLF that belongs to
    /// the next delimiter, RFC 2046 §5.1.1).
    pub body: Range<usize>,
    /// Its content type.
    pub content_type: ContentType,
    /// Lower-case Content-Transfer-Encoding value, if present.
    pub encoding: Option<String>,
    /// What it contains.
    pub kind: Kind,
    /// Structural problems found.
    pub defects: Vec<Defect>,
}

/// The shape of an entity's body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A single body.
    Leaf,
    /// `multipart/*` split at its boundary.
    Multipart(Multipart),
    /// `message/rfc822` (or `message/global`) not transfer-encoded: an embedded message.
    Message(Box<Part>),
}

/// A multipart body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Multipart {
    /// The boundary (without the leading `--`).
    pub boundary: Vec<u8>,
    /// Bytes before the first delimiter line.
    pub preamble: Range<usize>,
    /// The body parts.
    pub parts: Vec<Part>,
    /// Bytes after the close delimiter line (empty when there is none).
    pub epilogue: Range<usize>,
    /// True if a close delimiter was found.
    pub closed: bool,
}

/// Scan a whole message (already CRLF-normalised).
pub fn scan(msg: &[u8]) -> Part {
    scan_entity(msg, 0..msg.len(), 0, false)
}

/// Scan one entity occupying `range` of `msg`.
pub fn scan_entity(msg: &[u8], range: Range<usize>, depth: usize, digest_child: bool) -> Part {
    let view = &msg[..range.end];
    let mut defects = Vec::new();
    let start = range.start;
    let mut head = header::scan(view, start);
    if head.fields.is_empty() && matches!(view.get(start), Some(b' ' | b'\t')) {
        // A first header line that is a continuation (RFC 5322 §2.2.3 has nothing
        // to continue): scan the fields after it, and let the repair decide.
        let mut p = start;
        while p < view.len() && matches!(view[p], b' ' | b'\t') {
            p = memchr::memchr(b'\n', &view[p..]).map_or(view.len(), |i| p + i + 1);
        }
        let again = header::scan(view, p);
        if !again.fields.is_empty() {
            defects.push(Defect::LeadingContinuation);
            head = again;
        }
    }
    if !head.has_separator && head.body_start < range.end && !head.fields.is_empty() {
        defects.push(Defect::NoHeaderSeparator);
    }
    let body = head.body_start.min(range.end)..range.end;

    let ct_count = head.count(view, "content-type");
    if ct_count > 1 {
        defects.push(Defect::DuplicateContentType);
    }
    let content_type = match head.get(view, "content-type") {
        Some(v) => {
            let (t, params) = words::split_content_type(&header::unfold(v));
            let t = String::from_utf8_lossy(&t).to_ascii_lowercase();
            if t.contains('/') {
                ContentType {
                    mime_type: t,
                    params,
                    explicit: true,
                }
            } else {
                // RFC 2045 §5.2: a syntactically invalid Content-Type means text/plain.
                default_type(digest_child, params, true)
            }
        }
        None => default_type(digest_child, Vec::new(), false),
    };
    let encoding = head.get(view, "content-transfer-encoding").map(|v| {
        String::from_utf8_lossy(&header::unfold(v))
            .trim()
            .to_ascii_lowercase()
    });

    let kind = if depth >= MAX_DEPTH {
        if content_type.is_multipart() || content_type.mime_type == "message/rfc822" {
            defects.push(Defect::TooDeep);
        }
        Kind::Leaf
    } else if content_type.is_multipart() {
        match content_type.param("boundary").filter(|b| !b.is_empty()) {
            None => {
                defects.push(Defect::NoBoundary);
                Kind::Leaf
            }
            Some(b) => {
                let boundary = b.to_vec();
                let digest = content_type.mime_type == "multipart/digest";
                match split_multipart(msg, body.clone(), &boundary, depth, digest) {
                    Some(mp) => {
                        if !mp.closed {
                            defects.push(Defect::MissingCloseDelimiter);
                        }
                        Kind::Multipart(mp)
                    }
                    None => {
                        defects.push(Defect::BoundaryNotFound);
                        Kind::Leaf
                    }
                }
            }
        }
    } else if is_embedded_message(&content_type.mime_type, encoding.as_deref()) && !body.is_empty()
    {
        let mut inner = scan_entity(msg, body.clone(), depth + 1, false);
        if inner.header.fields.is_empty()
            && msg[body.clone()].starts_with(b"From ")
            && let Some(nl) = memchr::memchr(b'\n', &msg[body.clone()])
        {
            // An mbox envelope line before the embedded header (RFC 4155), as
            // forwarding mailers leave it: the message starts after it.
            let after = scan_entity(msg, body.start + nl + 1..body.end, depth + 1, false);
            if !after.header.fields.is_empty() {
                defects.push(Defect::EmbeddedFromLine);
                inner = after;
            }
        }
        if inner.header.fields.is_empty() {
            defects.push(Defect::EmbeddedNotAMessage);
            Kind::Leaf
        } else {
            Kind::Message(Box::new(inner))
        }
    } else {
        Kind::Leaf
    };
    Part {
        start,
        header: head,
        body,
        content_type,
        encoding,
        kind,
        defects,
    }
}

fn default_type(digest_child: bool, params: Vec<words::Param>, explicit: bool) -> ContentType {
    ContentType {
        mime_type: if digest_child {
            "message/rfc822".into()
        } else {
            "text/plain".into()
        },
        params,
        explicit,
    }
}

/// RFC 2046 §5.2.1: message/rfc822 bodies are 7bit, 8bit or binary; an encoded one is
/// opaque (a leaf).
fn is_embedded_message(mime_type: &str, encoding: Option<&str>) -> bool {
    matches!(mime_type, "message/rfc822" | "message/global")
        && matches!(encoding, None | Some("7bit" | "8bit" | "binary"))
}

/// If the line starting at `pos` is a delimiter for `boundary`, whether it is the
/// close delimiter, and where the next line starts.
fn delimiter_at(msg: &[u8], pos: usize, end: usize, boundary: &[u8]) -> Option<(bool, usize)> {
    let line_end = memchr::memchr(b'\n', &msg[pos..end]).map_or(end, |i| pos + i + 1);
    let line = &msg[pos..line_end];
    let rest = line.strip_prefix(b"--")?.strip_prefix(boundary)?;
    let (close, rest) = match rest.strip_prefix(b"--") {
        Some(r) => (true, r),
        None => (false, rest),
    };
    // Only transport padding (linear white space) may follow (RFC 2046 §5.1.1).
    rest.iter()
        .all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
        .then_some((close, line_end))
}

/// Split a multipart body at its delimiters. `None` when no delimiter occurs.
fn split_multipart(
    msg: &[u8],
    body: Range<usize>,
    boundary: &[u8],
    depth: usize,
    digest: bool,
) -> Option<Multipart> {
    // Find delimiter lines: line starts within the body where `--boundary` begins.
    // Searching for that string (SIMD in memchr) rather than walking every line
    // matters for a body that is mostly a base64 attachment of 78-byte lines.
    let mut delims: Vec<(usize, bool, usize)> = Vec::new(); // (line start, close, next line)
    let needle = [&b"--"[..], boundary].concat();
    let finder = memchr::memmem::Finder::new(&needle);
    let mut pos = body.start;
    while pos < body.end {
        let Some(i) = finder.find(&msg[pos..body.end]) else {
            break;
        };
        let at = pos + i;
        if (at == body.start || msg[at - 1] == b'\n')
            && let Some((close, next)) = delimiter_at(msg, at, body.end, boundary)
        {
            delims.push((at, close, next));
            if close {
                break;
            }
            pos = next;
            continue;
        }
        // Not at a line start (or not a delimiter): the next occurrence may overlap.
        pos = at + 1;
    }
    // A close delimiter with no opening one delimits no part at all: RFC 2046
    // §5.1.1 requires at least one body part.
    let &(first, first_close, _) = delims.first()?;
    if first_close {
        return None;
    }
    // The CRLF before a delimiter belongs to the delimiter (RFC 2046 §5.1.1).
    let before = |line_start: usize, floor: usize| -> usize {
        if line_start >= floor + 2 && &msg[line_start - 2..line_start] == b"\r\n" {
            line_start - 2
        } else {
            line_start
        }
    };
    let preamble = body.start..before(first, body.start);
    let mut parts = Vec::new();
    let mut closed = false;
    let mut epilogue = body.end..body.end;
    for (i, &(_, close, next)) in delims.iter().enumerate() {
        if close {
            closed = true;
            epilogue = next..body.end;
            break;
        }
        let part_end = match delims.get(i + 1) {
            Some(&(line, _, _)) => before(line, next),
            None => body.end,
        };
        parts.push(scan_entity(
            msg,
            next..part_end.max(next),
            depth + 1,
            digest,
        ));
    }
    Some(Multipart {
        boundary: boundary.to_vec(),
        preamble,
        parts,
        epilogue,
        closed,
    })
}

/// Split `body` as a multipart with the given boundary (for recovering a boundary
/// the header does not declare). `None` when no delimiter line occurs.
pub fn split_with_boundary(
    msg: &[u8],
    body: Range<usize>,
    boundary: &[u8],
    depth: usize,
) -> Option<Multipart> {
    split_multipart(msg, body, boundary, depth, false)
}

/// Visit every part depth-first (the part itself first).
pub fn walk<'p>(part: &'p Part, f: &mut dyn FnMut(&'p Part, usize)) {
    fn go<'p>(part: &'p Part, depth: usize, f: &mut dyn FnMut(&'p Part, usize)) {
        f(part, depth);
        match &part.kind {
            Kind::Leaf => {}
            Kind::Multipart(mp) => {
                for p in &mp.parts {
                    go(p, depth + 1, f);
                }
            }
            Kind::Message(inner) => go(inner, depth + 1, f),
        }
    }
    go(part, 0, f);
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIXED: &[u8] = b"From: a\r\nContent-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n\
pre\r\n--XX\r\nContent-Type: text/plain\r\n\r\nhello\r\n--XX\r\n\
Content-Type: message/rfc822\r\n\r\nFrom: b\r\nSubject: in\r\n\r\ninner body\r\n\
--XX--\r\nepi\r\n";

    #[test]
    fn splits_parts_with_exact_ranges() {
        let p = scan(MIXED);
        assert!(p.defects.is_empty(), "{:?}", p.defects);
        let Kind::Multipart(mp) = &p.kind else {
            panic!("not multipart")
        };
        assert!(mp.closed);
        assert_eq!(&MIXED[mp.preamble.clone()], b"pre");
        assert_eq!(&MIXED[mp.epilogue.clone()], b"epi\r\n");
        assert_eq!(mp.parts.len(), 2);
        assert_eq!(&MIXED[mp.parts[0].body.clone()], b"hello");
        let Kind::Message(inner) = &mp.parts[1].kind else {
            panic!("not message")
        };
        assert_eq!(&MIXED[inner.body.clone()], b"inner body");
        assert_eq!(inner.header.get(MIXED, "subject"), Some(&b" in"[..]));
    }

    #[test]
    fn boundary_prefix_of_nested_boundary_is_not_a_delimiter() {
        let m = b"Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\n\
Content-Type: multipart/alternative; boundary=a-1\r\n\r\n--a-1\r\n\r\nx\r\n--a-1--\r\n--a--\r\n";
        let p = scan(m);
        let Kind::Multipart(mp) = &p.kind else {
            panic!()
        };
        assert_eq!(mp.parts.len(), 1);
        let Kind::Multipart(inner) = &mp.parts[0].kind else {
            panic!()
        };
        assert!(inner.closed);
        assert_eq!(&m[inner.parts[0].body.clone()], b"x");
    }

    #[test]
    fn defects_are_reported_not_fatal() {
        let p = scan(b"Content-Type: multipart/mixed\r\n\r\nbody\r\n");
        assert_eq!(p.defects, vec![Defect::NoBoundary]);
        let p = scan(b"Content-Type: multipart/mixed; boundary=q\r\n\r\nbody\r\n");
        assert_eq!(p.defects, vec![Defect::BoundaryNotFound]);
        let p = scan(b"Content-Type: multipart/mixed; boundary=q\r\n\r\n--q\r\n\r\nx\r\n");
        assert_eq!(p.defects, vec![Defect::MissingCloseDelimiter]);
        let p = scan(b"Content-Type: text/plain\r\nContent-Type: text/html\r\n\r\nx");
        assert_eq!(p.defects, vec![Defect::DuplicateContentType]);
        let p = scan(b"Subject: x\r\nnot a header\r\nbody\r\n");
        assert_eq!(p.defects, vec![Defect::NoHeaderSeparator]);
    }

    #[test]
    fn deep_nesting_stops() {
        let mut m = Vec::new();
        for i in 0..60 {
            m.extend_from_slice(
                format!("Content-Type: multipart/mixed; boundary=b{i}\r\n\r\n--b{i}\r\n")
                    .as_bytes(),
            );
        }
        m.extend_from_slice(b"\r\nleaf\r\n");
        let p = scan(&m);
        let mut deepest = 0;
        let mut too_deep = false;
        walk(&p, &mut |part, d| {
            deepest = deepest.max(d);
            too_deep |= part.defects.contains(&Defect::TooDeep);
        });
        assert!(too_deep);
        assert!(deepest <= MAX_DEPTH);
    }

    #[test]
    fn digest_children_default_to_message() {
        let m = b"Content-Type: multipart/digest; boundary=d\r\n\r\n--d\r\n\r\nFrom: x\r\n\r\nhi\r\n--d--\r\n";
        let p = scan(m);
        let Kind::Multipart(mp) = &p.kind else {
            panic!()
        };
        assert_eq!(mp.parts[0].content_type.mime_type, "message/rfc822");
        assert!(matches!(mp.parts[0].kind, Kind::Message(_)));
    }
}
