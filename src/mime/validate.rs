//! What Microsoft Exchange would refuse or show wrongly in a message
//! (`shared/docs/EXCHANGE.md`), as a list of findings.
//!
//! The repair engine's contract is that its output has no findings: every staged
//! message passes [`validate`]. `mailstage check` prints these findings for any file.

use std::fmt;

use super::charset::{self, LabelDecision};
use super::encoding;
use super::header;
use super::scan::{self, Defect, Kind, Part};

/// RFC 5322 §2.1.1: a line must not exceed 998 octets (excluding CRLF).
pub const MAX_LINE: usize = 998;

/// Limits seen in real migrations to Exchange Online (EXCHANGE.md, from Cambridge's
/// "hermes" migration script shipped with imapsync).
pub mod limits {
    /// Parts in one multipart.
    pub const PARTS_PER_MULTIPART: usize = 250;
    /// Attachments in one message.
    pub const ATTACHMENTS: usize = 250;
    /// Multipart nesting depth.
    pub const NESTING: usize = 30;
    /// Characters in an attachment file name.
    pub const FILENAME_CHARS: usize = 255;
    /// Characters in the decoded Subject.
    pub const SUBJECT_CHARS: usize = 255;
    /// Message-IDs in References.
    pub const REFERENCES_IDS: usize = 485;
    /// Bytes of the References field.
    pub const REFERENCES_BYTES: usize = 40_000;
    /// Characters of one address in To/Cc/Bcc.
    pub const ADDRESS_CHARS: usize = 1_950;
}

/// One problem, and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// IMAP-style part number (`1.2`), empty for the message itself.
    pub part: String,
    /// What is wrong.
    pub problem: Problem,
}

/// What is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// Lines end in a bare LF or lone CR instead of CRLF.
    BareLineEndings,
    /// NUL bytes (Exchange: `NO Message contains NUL characters`).
    Nul,
    /// A line longer than 998 octets (Exchange: `BAD Command Argument Error. 11`).
    LongLine {
        /// Its length.
        len: usize,
    },
    /// Raw 8-bit bytes in a header field (Exchange: `NO Message contains invalid header`).
    EightBitHeader {
        /// The field name.
        field: String,
    },
    /// A structural MIME defect.
    Structure(Defect),
    /// A header line that continues a field without starting with white space.
    BrokenFold,
    /// A Content-Type field with broken syntax.
    ContentTypeSyntax,
    /// A boundary outside RFC 2046's grammar (too long, spaces, other characters).
    BadBoundary,
    /// A multipart or message part declared base64 or quoted-printable (RFC 2045
    /// §6.4 and RFC 2046 §5.2.1 allow only 7bit, 8bit or binary).
    EncodedComposite,
    /// White space between a field name and its colon (obsolete syntax, RFC 5322 §4.5.1).
    FieldNameSpace {
        /// The field name.
        field: String,
    },
    /// Base64 content with invalid characters, bad padding or over-long lines.
    BadBase64,
    /// Quoted-printable content with invalid escapes or over-long lines.
    BadQuotedPrintable,
    /// 8-bit content in a part declared 7bit (or with no encoding).
    UndeclaredEightBit,
    /// Text with 8-bit bytes but no charset, `us-ascii`, an unknown or a wrong label.
    Charset {
        /// The declared label, if any.
        label: Option<String>,
    },
    /// A charset label that is an alias or one Exchange mishandles.
    CharsetLabel {
        /// The label.
        label: String,
    },
    /// No Message-ID field.
    NoMessageId,
    /// No Date field.
    NoDate,
    /// MIME fields without MIME-Version (RFC 2045 §4).
    NoMimeVersion,
    /// An Exchange limit is exceeded.
    Limit {
        /// Which limit.
        what: &'static str,
        /// The value found.
        value: usize,
        /// The limit.
        limit: usize,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::BareLineEndings => f.write_str("line endings are not CRLF"),
            Problem::Nul => f.write_str("contains NUL bytes (Exchange refuses them)"),
            Problem::LongLine { len } => write!(
                f,
                "a line of {len} octets, over the 998 allowed (RFC 5322 §2.1.1; Exchange refuses it)"
            ),
            Problem::EightBitHeader { field } => write!(
                f,
                "raw 8-bit bytes in the {field} header (Exchange: \"Message contains invalid header\")"
            ),
            Problem::Structure(d) => write!(f, "broken MIME structure: {}", defect_text(d)),
            Problem::BrokenFold => {
                f.write_str("a folded header line does not start with white space")
            }
            Problem::ContentTypeSyntax => f.write_str("the Content-Type field has broken syntax"),
            Problem::BadBoundary => f.write_str(
                "the multipart boundary is outside RFC 2046's grammar (over 70 characters or unusual characters)",
            ),
            Problem::EncodedComposite => {
                f.write_str("a multipart or embedded message declared base64 or quoted-printable")
            }
            Problem::FieldNameSpace { field } => {
                write!(
                    f,
                    "white space between the field name {field} and its colon"
                )
            }
            Problem::BadBase64 => {
                f.write_str("base64 content is not clean (bad characters, padding or line length)")
            }
            Problem::BadQuotedPrintable => {
                f.write_str("quoted-printable content is not clean (bad escapes or line length)")
            }
            Problem::UndeclaredEightBit => f.write_str("8-bit content declared as 7bit"),
            Problem::Charset { label: None } => {
                f.write_str("8-bit text without a charset: it would show as garbage")
            }
            Problem::Charset { label: Some(l) } => {
                write!(f, "8-bit text that does not match its charset {l:?}")
            }
            Problem::CharsetLabel { label } => {
                write!(
                    f,
                    "charset label {label:?} is an alias or not safe for Exchange"
                )
            }
            Problem::NoMessageId => f.write_str("no Message-ID"),
            Problem::NoDate => f.write_str("no Date"),
            Problem::NoMimeVersion => f.write_str("MIME fields without MIME-Version"),
            Problem::Limit { what, value, limit } => {
                write!(f, "{what}: {value}, over Exchange's limit of {limit}")
            }
        }
    }
}

/// RFC 2046 §5.1.1: 1 to 70 of `bchars`, not ending in a space. We also refuse
/// inner spaces: real parsers disagree on them once the field is folded.
pub fn boundary_ok(b: &[u8]) -> bool {
    !b.is_empty()
        && b.len() <= 70
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || b"'()+_,-./:=?".contains(c))
}

/// A Content-Type whose type is followed by something other than `;` or a
/// comment (`multipart/mixed boundary=x`): lenient parsers read it, strict ones
/// (and Outlook) do not.
pub fn content_type_syntax_broken(msg: &[u8], part: &Part) -> bool {
    let Some(v) = part.header.get(msg, "content-type") else {
        return false;
    };
    let v = header::unfold(v);
    let t = v.trim_ascii_start();
    let end = t
        .iter()
        .position(|b| b.is_ascii_whitespace() || *b == b';' || *b == b'(')
        .unwrap_or(t.len());
    let rest = t[end..].trim_ascii_start();
    !(rest.is_empty() || rest.starts_with(b";") || rest.starts_with(b"("))
}

/// Human words for a structural defect.
pub fn defect_text(d: &Defect) -> &'static str {
    match d {
        Defect::NoBoundary => "multipart without a boundary parameter",
        Defect::BoundaryNotFound => "the multipart boundary never occurs in the body",
        Defect::MissingCloseDelimiter => "the multipart has no closing boundary",
        Defect::TooDeep => "parts nested too deeply",
        Defect::DuplicateContentType => "more than one Content-Type header",
        Defect::NoHeaderSeparator => "no empty line between header and body",
        Defect::LeadingContinuation => "the header starts with a continuation line",
        Defect::EmbeddedNotAMessage => "an attached message (message/rfc822) is not a message",
        Defect::EmbeddedFromLine => "an attached message starts with an mbox From line",
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.part.is_empty() {
            write!(f, "message: {}", self.problem)
        } else {
            write!(f, "part {}: {}", self.part, self.problem)
        }
    }
}

/// Every finding for `msg`.
pub fn validate(msg: &[u8]) -> Vec<Finding> {
    let lines = line_facts(msg);
    if !lines.bare {
        return validate_scanned(msg, &scan::scan(msg));
    }
    let normalised = super::lines::to_crlf(msg).0.into_owned();
    let mut out = vec![Finding {
        part: String::new(),
        problem: Problem::BareLineEndings,
    }];
    out.extend(validate_scanned(&normalised, &scan::scan(&normalised)));
    out
}

/// [`validate`] for a message that is already CRLF-normalised and scanned (the
/// repair pipeline has both at hand: no second scan).
pub fn validate_scanned(msg: &[u8], root: &Part) -> Vec<Finding> {
    validate_scanned_with(msg, root, line_facts(msg))
}

/// [`validate_scanned`] given `lines`, which must be [`line_facts`]`(msg)`: the
/// repair pipeline knows them from its CRLF normalisation, which sees every line
/// anyway (see [`super::lines::LineEndings::longest`]).
pub fn validate_scanned_with(msg: &[u8], root: &Part, lines: LineFacts) -> Vec<Finding> {
    if cfg!(debug_assertions) {
        let f = line_facts(msg);
        assert_eq!((lines.bare, lines.nul, lines.max), (f.bare, f.nul, f.max));
    }
    let mut out = Vec::new();
    if lines.nul {
        out.push(Finding {
            part: String::new(),
            problem: Problem::Nul,
        });
    }
    if lines.max > MAX_LINE {
        out.push(Finding {
            part: String::new(),
            problem: Problem::LongLine { len: lines.max },
        });
    }
    // With CRLF throughout and no line over the limit, every body's line structure
    // is known to be fine, and the encoding checks need not walk its lines again.
    let lines_ok = !lines.bare && lines.max <= MAX_LINE;
    out.extend(validate_tree_with(msg, root, lines_ok));
    out
}

/// The findings of a message already CRLF-normalised and scanned, other than those
/// of its bytes as a whole (line endings, NUL, line length: see [`line_facts`]).
/// Lets the repair pipeline validate without scanning twice.
pub fn validate_tree(msg: &[u8], root: &Part) -> Vec<Finding> {
    validate_tree_with(msg, root, false)
}

/// [`validate_tree`]; `lines_ok`: the message is known to have CRLF line endings
/// only and no line over [`MAX_LINE`] (see [`leaf_problems_with`]).
fn validate_tree_with(msg: &[u8], root: &Part, lines_ok: bool) -> Vec<Finding> {
    let mut out = Vec::new();
    let top = |problem| Finding {
        part: String::new(),
        problem,
    };
    let h = &root.header;
    if h.count(msg, "message-id") == 0 {
        out.push(top(Problem::NoMessageId));
    }
    if h.count(msg, "date") == 0 {
        out.push(top(Problem::NoDate));
    }
    let mime_fields = h.fields.iter().any(|f| {
        let n = &msg[f.name.clone()];
        n.len() > 8 && n[..8].eq_ignore_ascii_case(b"content-")
    });
    if mime_fields && h.count(msg, "mime-version") == 0 {
        out.push(top(Problem::NoMimeVersion));
    }
    top_limits(msg, root, &mut out);
    let mut attachments = 0;
    let mut walk = Walk {
        msg,
        lines_ok,
        attachments: &mut attachments,
        out: &mut out,
    };
    check_part(&mut walk, root, String::new(), 0, false);
    if attachments > limits::ATTACHMENTS {
        out.push(top(Problem::Limit {
            what: "attachments",
            value: attachments,
            limit: limits::ATTACHMENTS,
        }));
    }
    out
}

/// Facts from one pass over the lines.
#[derive(Debug, Default, Clone, Copy)]
pub struct LineFacts {
    /// A bare LF or lone CR exists.
    pub bare: bool,
    /// A NUL byte exists.
    pub nul: bool,
    /// The longest line, in octets without the line ending.
    pub max: usize,
}

/// One pass: line endings, NUL bytes and the longest line.
pub fn line_facts(msg: &[u8]) -> LineFacts {
    let mut f = LineFacts {
        nul: memchr::memchr(0, msg).is_some(),
        ..LineFacts::default()
    };
    let mut start = 0;
    let mut pos = 0;
    while let Some(i) = memchr::memchr2(b'\r', b'\n', &msg[pos..]) {
        let at = pos + i;
        let len = at - start;
        f.max = f.max.max(len);
        if msg[at] == b'\r' && msg.get(at + 1) == Some(&b'\n') {
            start = at + 2;
        } else {
            f.bare = true;
            start = at + 1;
        }
        pos = start;
    }
    f.max = f.max.max(msg.len() - start);
    f
}

fn top_limits(msg: &[u8], root: &Part, out: &mut Vec<Finding>) {
    let h = &root.header;
    let mut push = |what, value, limit| {
        if value > limit {
            out.push(Finding {
                part: String::new(),
                problem: Problem::Limit { what, value, limit },
            });
        }
    };
    if let Some(s) = h.get(msg, "subject") {
        let text = super::words::decode_unstructured(&header::unfold(s));
        push(
            "Subject characters",
            text.chars().count(),
            limits::SUBJECT_CHARS,
        );
    }
    if let Some(r) = h.get(msg, "references") {
        let ids = r.iter().filter(|&&b| b == b'<').count();
        push("References message-ids", ids, limits::REFERENCES_IDS);
        push("References bytes", r.len(), limits::REFERENCES_BYTES);
    }
    for name in ["to", "cc", "bcc"] {
        for f in h
            .fields
            .iter()
            .filter(|f| msg[f.name.clone()].eq_ignore_ascii_case(name.as_bytes()))
        {
            let v = header::unfold(&msg[f.value.clone()]);
            let longest = v.split(|&b| b == b',').map(<[u8]>::len).max().unwrap_or(0);
            push("address length", longest, limits::ADDRESS_CHARS);
        }
    }
}

/// Is this part signed or encrypted, so that nothing inside may change?
pub fn is_protected(part: &Part) -> bool {
    let t = part.content_type.mime_type.as_str();
    matches!(
        t,
        "multipart/signed"
            | "multipart/encrypted"
            | "application/pkcs7-mime"
            | "application/x-pkcs7-mime"
            | "application/pkcs7-signature"
            | "application/x-pkcs7-signature"
            | "application/pgp-encrypted"
            | "application/pgp-signature"
    )
}

/// Text that carries an inline PGP signature or message: its bytes are signed.
pub fn has_inline_pgp(body: &[u8]) -> bool {
    memchr::memmem::find(body, b"-----BEGIN PGP ").is_some()
}

/// What [`check_part`] carries down the tree.
struct Walk<'a> {
    msg: &'a [u8],
    lines_ok: bool,
    attachments: &'a mut usize,
    out: &'a mut Vec<Finding>,
}

fn check_part(walk: &mut Walk<'_>, part: &Part, number: String, depth: usize, protected: bool) {
    let msg = walk.msg;
    let lines_ok = walk.lines_ok;
    let out = &mut *walk.out;
    let mut push = |problem| {
        out.push(Finding {
            part: number.clone(),
            problem,
        })
    };
    for d in &part.defects {
        push(Problem::Structure(d.clone()));
    }
    if !part.header.broken_folds.is_empty() {
        push(Problem::BrokenFold);
    }
    for f in &part.header.fields {
        if !charset::is_ascii(&msg[f.whole.clone()]) {
            push(Problem::EightBitHeader {
                field: String::from_utf8_lossy(&msg[f.name.clone()]).into_owned(),
            });
        }
        if msg.get(f.name.end) != Some(&b':') {
            push(Problem::FieldNameSpace {
                field: String::from_utf8_lossy(&msg[f.name.clone()]).into_owned(),
            });
        }
    }
    let composite = part.content_type.is_multipart()
        || matches!(
            part.content_type.mime_type.as_str(),
            "message/rfc822" | "message/global"
        );
    if composite
        && matches!(
            part.encoding.as_deref(),
            Some("base64" | "quoted-printable")
        )
        && !protected
    {
        push(Problem::EncodedComposite);
    }
    if !protected && content_type_syntax_broken(msg, part) {
        push(Problem::ContentTypeSyntax);
    }
    if let Kind::Multipart(mp) = &part.kind
        && !protected
        && !boundary_ok(&mp.boundary)
    {
        push(Problem::BadBoundary);
    }
    if depth > limits::NESTING {
        push(Problem::Limit {
            what: "nesting depth",
            value: depth,
            limit: limits::NESTING,
        });
    }
    let protected = protected || is_protected(part);
    match &part.kind {
        Kind::Multipart(mp) => {
            if mp.parts.len() > limits::PARTS_PER_MULTIPART {
                push(Problem::Limit {
                    what: "parts in one multipart",
                    value: mp.parts.len(),
                    limit: limits::PARTS_PER_MULTIPART,
                });
            }
            for (i, child) in mp.parts.iter().enumerate() {
                let n = if number.is_empty() {
                    (i + 1).to_string()
                } else {
                    format!("{number}.{}", i + 1)
                };
                check_part(walk, child, n, depth + 1, protected);
            }
        }
        Kind::Message(inner) => {
            let n = if number.is_empty() {
                "1".to_string()
            } else {
                number.clone()
            };
            // The embedded message's own header is checked like a part's.
            check_part(walk, inner, n, depth + 1, protected);
        }
        Kind::Leaf => {
            let body = &msg[part.body.clone()];
            if let Some(name) = filename(msg, part) {
                *walk.attachments += 1;
                let chars = String::from_utf8_lossy(&name).chars().count();
                if chars > limits::FILENAME_CHARS {
                    push(Problem::Limit {
                        what: "attachment file name characters",
                        value: chars,
                        limit: limits::FILENAME_CHARS,
                    });
                }
            }
            for p in leaf_problems_with(part, body, protected, lines_ok) {
                push(p);
            }
        }
    }
}

/// The attachment file name of a part (Content-Disposition filename, else
/// Content-Type name), raw bytes after RFC 2231 decoding.
pub fn filename(msg: &[u8], part: &Part) -> Option<Vec<u8>> {
    if let Some(v) = part.header.get(msg, "content-disposition") {
        let (_, params) = super::words::split_content_type(&header::unfold(v));
        if let Some(p) = params.into_iter().find(|p| p.name == "filename") {
            return Some(p.value);
        }
    }
    part.content_type.param("name").map(<[u8]>::to_vec)
}

/// Problems of one leaf body, given its declared type and encoding.
///
/// Inside a signed or encrypted part (`protected`) nothing may change, so only what
/// Exchange refuses outright counts there (NUL bytes and long lines, found by the
/// caller's line pass); untidy base64 or charset labels are left as they are.
pub fn leaf_problems(part: &Part, body: &[u8], protected: bool) -> Vec<Problem> {
    leaf_problems_with(part, body, protected, false)
}

/// [`leaf_problems`]; `lines_ok`: `body` is a range of a message with CRLF line
/// endings only and no line over [`MAX_LINE`], so its lines need no checking (a
/// body starts at a line start and never ends between a CR and its LF).
fn leaf_problems_with(part: &Part, body: &[u8], protected: bool, lines_ok: bool) -> Vec<Problem> {
    let mut out = Vec::new();
    if protected {
        return out;
    }
    let enc = part.encoding.as_deref().unwrap_or("7bit");
    let text = part.content_type.main_type() == "text";
    let decoded: std::borrow::Cow<'_, [u8]> = match enc {
        "base64" => {
            let clean = if lines_ok {
                encoding::base64_is_clean_crlf(body)
            } else {
                encoding::base64_is_clean_within(body, MAX_LINE)
            };
            if !clean {
                out.push(Problem::BadBase64);
            }
            if !text {
                return out;
            }
            encoding::decode_base64_lenient(body).0.into()
        }
        "quoted-printable" => {
            // Clean QP with lines known to be fine (the usual case): one check that
            // also decodes, only when the charset question needs the text.
            let mut fast = None;
            if lines_ok {
                let to_ascii = !text || encoding::qp_decodes_to_ascii(body);
                let mut dec = Vec::new();
                if encoding::qp_clean_crlf(body, (!to_ascii).then_some(&mut dec)) {
                    fast = Some(if to_ascii {
                        std::borrow::Cow::Borrowed(body)
                    } else {
                        std::borrow::Cow::Owned(dec)
                    });
                }
            }
            match fast {
                Some(_) if !text => return out,
                Some(decoded) => decoded,
                None => {
                    if !encoding::qp_is_clean_within(body, MAX_LINE) {
                        out.push(Problem::BadQuotedPrintable);
                    }
                    if !text {
                        return out;
                    }
                    if encoding::qp_decodes_to_ascii(body) {
                        // Only ASCII comes out: no charset question to ask (fast path).
                        body.into()
                    } else {
                        encoding::decode_qp_lenient(body).0.into()
                    }
                }
            }
        }
        _ => {
            if enc == "7bit" && !charset::is_ascii(body) {
                out.push(Problem::UndeclaredEightBit);
            }
            body.into()
        }
    };
    if !text || protected || has_inline_pgp(&decoded) {
        return out;
    }
    let label = part.content_type.param("charset");
    let eight_bit = !charset::is_ascii(&decoded);
    match label {
        None => {
            if eight_bit {
                out.push(Problem::Charset { label: None });
            }
        }
        Some(l) => {
            let label_s = String::from_utf8_lossy(l).into_owned();
            match charset::decide_label(l) {
                LabelDecision::Keep => {
                    if eight_bit && !label_fits(l, &decoded) {
                        out.push(Problem::Charset {
                            label: Some(label_s),
                        });
                    }
                }
                LabelDecision::Relabel(_) | LabelDecision::TranscodeToUtf8(_) => {
                    out.push(Problem::CharsetLabel { label: label_s });
                }
                LabelDecision::Unknown => {
                    if eight_bit {
                        out.push(Problem::Charset {
                            label: Some(label_s),
                        });
                    } else {
                        out.push(Problem::CharsetLabel { label: label_s });
                    }
                }
            }
        }
    }
    out
}

/// Does a kept label describe these 8-bit bytes? `us-ascii` never does; an
/// ISO-8859-1 label on bytes in 0x80–0x9F means windows-1252 (WHATWG), so it does
/// not either; otherwise the bytes must decode without errors.
pub fn label_fits(label: &[u8], bytes: &[u8]) -> bool {
    let l = String::from_utf8_lossy(label)
        .trim()
        .trim_matches('"')
        .to_ascii_lowercase();
    if matches!(l.as_str(), "us-ascii" | "ascii") {
        return false;
    }
    if l == "iso-8859-1" && bytes.iter().any(|b| (0x80..0xa0).contains(b)) {
        return false;
    }
    charset::decodes_cleanly(bytes, label)
}
