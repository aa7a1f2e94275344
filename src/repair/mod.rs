//! The repair pipeline: source message bytes in, staged bytes (plus the named
//! repairs that produced them) or a quarantine reason out.
//!
//! No I/O happens here (DESIGN.md): that keeps the pipeline fuzzable and lets
//! `convert` run it on many messages in parallel. A message that needs nothing
//! beyond CRLF line endings is returned unchanged apart from those line endings
//! (the "clean messages stay byte-identical" rule).

use std::fmt;

use chrono::{DateTime, Utc};

use std::borrow::Cow;

use crate::mime::validate::{self, Problem};
use crate::mime::{header, lines, scan};

mod body;
mod fields;
mod tree;

#[cfg(test)]
mod props;

/// What the pipeline needs to know about a message besides its bytes.
#[derive(Debug, Clone)]
pub struct Context {
    /// The message's internal date (the source file's mtime): used for a missing Date.
    pub internal_date: DateTime<Utc>,
    /// Staged messages larger than this are quarantined (`--max-size`).
    pub max_size: Option<u64>,
    /// SHA-256 of the source bytes: a missing Message-ID is derived from it, so that
    /// converting the same message twice gives the same Message-ID.
    pub source_sha256: [u8; 32],
    /// Rename read-receipt requests (`Disposition-Notification-To`,
    /// `Return-Receipt-To`) in the message header so that Outlook does not offer to
    /// send receipts for years-old mail (`convert --disarm-read-receipts`).
    pub disarm_read_receipts: bool,
}

/// One named repair. The names are stable: they appear in `manifest.jsonl`'s
/// `repairs` and in summaries, and scripts match on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Repair {
    /// A UTF-8 byte order mark before the header was removed.
    Bom,
    /// Lone CR line endings became CRLF. (Bare LF to CRLF is not a repair: every
    /// Maildir message has LF endings and the staging contract always uses CRLF.)
    BareCr,
    /// An mbox `From ` envelope line before the header was removed.
    MboxFromLine,
    /// No Message-ID: one was derived from the content hash (RFC 5322 §3.6.4).
    AddedMessageId,
    /// No Date: one was made from the internal date (RFC 5322 §3.6.1).
    AddedDate,
    /// MIME fields without MIME-Version: `MIME-Version: 1.0` added (RFC 2045 §4).
    AddedMimeVersion,
    /// The header had no line ending after its last field; CRLF was added.
    TerminatedHeader,
    /// No empty line between header and body: one was inserted (RFC 5322 §2.1).
    HeaderSeparator,
    /// Text before the first header field (a continuation of nothing) was moved
    /// into one fixed-name field.
    LeadingContinuation,
    /// Raw 8-bit header text re-encoded as RFC 2047 encoded words (UTF-8).
    Header8bit,
    /// Raw 8-bit parameter values (file names) re-encoded per RFC 2231.
    Param8bit,
    /// A folded header line without leading white space was indented.
    BrokenFold,
    /// White space between a field name and its colon removed.
    FieldNameSpace,
    /// A base64 or quoted-printable multipart / embedded message decoded (RFC 2045
    /// §6.4, RFC 2046 §5.2.1), and repaired inside.
    CompositeDecoded,
    /// NUL bytes removed from a header field.
    HeaderNul,
    /// A header line over 998 octets refolded.
    HeaderRefolded,
    /// Extra Content-Type fields kept as `X-Original-Content-Type`.
    DuplicateContentType,
    /// A multipart without a declared (or with a wrong) boundary: the boundary its
    /// delimiter lines use was declared.
    BoundaryRecovered,
    /// A boundary too long for the 998-octet line limit was replaced by a short one.
    BoundaryReplaced,
    /// A Content-Type with broken syntax (e.g. no `;` before a parameter) rewritten.
    ContentTypeRewritten,
    /// A multipart whose parts cannot be found was declared text/plain (every byte kept).
    MultipartAsText,
    /// An attached message/rfc822 with no header was declared text/plain (every byte kept).
    EmbeddedAsText,
    /// A missing closing delimiter was added (RFC 2046 §5.1.1).
    CloseDelimiterAdded,
    /// Broken base64 decoded leniently and re-encoded cleanly (same bytes decoded).
    Base64Reencoded,
    /// Broken quoted-printable decoded leniently and re-encoded cleanly.
    QpReencoded,
    /// Binary content in a 7bit/8bit/binary part re-encoded as base64 (lossless).
    BinaryBase64,
    /// NUL bytes removed from a text part (they carry no text).
    BodyNul,
    /// Text with lines over 998 octets re-encoded as quoted-printable.
    LongLinesQp,
    /// 8-bit text declared 7bit now declared 8bit.
    Cte8bit,
    /// A misspelt Content-Transfer-Encoding written canonically.
    CteRenamed,
    /// 8-bit text without a charset: the detected charset was declared.
    CharsetAdded,
    /// A charset label that did not fit the bytes replaced by the detected one.
    CharsetRelabeled,
    /// A charset alias replaced by its canonical MIME name.
    CharsetAlias,
    /// Text in a charset Exchange mishandles transcoded to UTF-8.
    CharsetTranscoded,
    /// Like [`Repair::CharsetAdded`], but nothing fitted and windows-1252 was assumed.
    CharsetGuessed,
    /// A read-receipt request renamed to `X-Disarmed-<name>` (on request only).
    ReadReceiptDisarmed,
}

impl Repair {
    /// The stable short name used in the manifest.
    pub fn name(self) -> &'static str {
        match self {
            Repair::Bom => "bom-removed",
            Repair::BareCr => "bare-cr",
            Repair::MboxFromLine => "mbox-from-line",
            Repair::AddedMessageId => "added-message-id",
            Repair::AddedDate => "added-date",
            Repair::AddedMimeVersion => "added-mime-version",
            Repair::TerminatedHeader => "terminated-header",
            Repair::HeaderSeparator => "header-separator",
            Repair::LeadingContinuation => "leading-continuation",
            Repair::Header8bit => "header-8bit",
            Repair::Param8bit => "param-8bit",
            Repair::HeaderNul => "header-nul",
            Repair::FieldNameSpace => "field-name-space",
            Repair::BrokenFold => "broken-fold",
            Repair::CompositeDecoded => "composite-decoded",
            Repair::HeaderRefolded => "header-refolded",
            Repair::DuplicateContentType => "duplicate-content-type",
            Repair::BoundaryRecovered => "boundary-recovered",
            Repair::MultipartAsText => "multipart-as-text",
            Repair::EmbeddedAsText => "embedded-as-text",
            Repair::BoundaryReplaced => "boundary-replaced",
            Repair::ContentTypeRewritten => "content-type-rewritten",
            Repair::CloseDelimiterAdded => "close-delimiter-added",
            Repair::Base64Reencoded => "base64-reencoded",
            Repair::QpReencoded => "qp-reencoded",
            Repair::BinaryBase64 => "binary-base64",
            Repair::BodyNul => "body-nul-removed",
            Repair::LongLinesQp => "long-lines-qp",
            Repair::Cte8bit => "cte-8bit",
            Repair::CteRenamed => "cte-renamed",
            Repair::CharsetAdded => "charset-added",
            Repair::CharsetRelabeled => "charset-relabeled",
            Repair::CharsetAlias => "charset-alias",
            Repair::CharsetTranscoded => "charset-transcoded",
            Repair::CharsetGuessed => "charset-guessed",
            Repair::ReadReceiptDisarmed => "read-receipt-disarmed",
        }
    }

    /// True for a repair that cannot keep every byte of content (named as such in
    /// the manifest's reason and in reports).
    pub fn is_lossy(self) -> bool {
        matches!(self, Repair::BodyNul | Repair::HeaderNul)
    }
}

impl fmt::Display for Repair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a message could not be staged. `kind()` is stable for scripts; `Display`
/// is the sentence an admin reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuarantineReason {
    /// The file is empty or holds only whitespace.
    Empty,
    /// The file does not start with RFC 5322 header fields (binary data, a note, …).
    NotAMessage {
        /// What was seen instead.
        detail: String,
    },
    /// The staged message would exceed `--max-size`.
    TooLarge {
        /// Size the staged message would have.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The source file could not be read.
    Unreadable {
        /// The I/O error.
        error: String,
    },
    /// One file holds several messages (an mbox).
    Mbox,
    /// A signed or encrypted part would have to change to be accepted.
    Signed {
        /// What is wrong inside it.
        detail: String,
    },
    /// An Exchange limit is exceeded and cannot be met without losing content.
    Limit {
        /// What exceeds the limit, in words.
        detail: String,
    },
    /// Something the repair engine cannot fix without losing content.
    Unrepairable {
        /// What.
        detail: String,
    },
}

impl QuarantineReason {
    /// Stable short name of the reason class.
    pub fn kind(&self) -> &'static str {
        match self {
            QuarantineReason::Empty => "empty",
            QuarantineReason::NotAMessage { .. } => "not-a-message",
            QuarantineReason::TooLarge { .. } => "too-large",
            QuarantineReason::Unreadable { .. } => "unreadable",
            QuarantineReason::Mbox => "mbox",
            QuarantineReason::Signed { .. } => "signed",
            QuarantineReason::Limit { .. } => "limit",
            QuarantineReason::Unrepairable { .. } => "unrepairable",
        }
    }
}

impl fmt::Display for QuarantineReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QuarantineReason::Empty => f.write_str("empty file: there is no message in it"),
            QuarantineReason::NotAMessage { detail } => {
                write!(f, "not an e-mail message: {detail}")
            }
            QuarantineReason::TooLarge { size, limit } => write!(
                f,
                "message is {size} bytes, larger than the limit of {limit} bytes \
                 (--max-size; the target server would refuse it)"
            ),
            QuarantineReason::Unreadable { error } => {
                write!(f, "the source file could not be read: {error}")
            }
            QuarantineReason::Mbox => f.write_str(
                "the file holds several messages (mbox format); split it into one file per message",
            ),
            QuarantineReason::Signed { detail } => write!(
                f,
                "a signed or encrypted part would need changes that break its signature: {detail}"
            ),
            QuarantineReason::Limit { detail } => {
                write!(
                    f,
                    "over an Exchange limit that cannot be met without losing content: {detail}"
                )
            }
            QuarantineReason::Unrepairable { detail } => {
                write!(f, "cannot be repaired without losing content: {detail}")
            }
        }
    }
}

/// The result of running the pipeline on one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The message can be staged.
    Staged(Staged),
    /// The message goes to quarantine.
    Quarantined(QuarantineReason),
}

/// A message ready for staging.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Staged {
    /// The staged bytes; `None` when they equal the input exactly (already CRLF,
    /// nothing repaired), which spares a copy on the fast path.
    pub bytes: Option<Vec<u8>>,
    /// Repairs applied, in the order they were applied.
    pub repairs: Vec<Repair>,
    /// The staged message's Message-ID, with angle brackets.
    pub message_id: String,
}

impl Staged {
    /// The staged bytes, given the input the pipeline ran on.
    pub fn bytes<'a>(&'a self, input: &'a [u8]) -> &'a [u8] {
        self.bytes.as_deref().unwrap_or(input)
    }
}

/// Field names that mark the start of a real message header. A file must carry at
/// least one of them to count as a message: a text note such as `Todo: milk` has a
/// header-shaped first line but is not mail.
const MESSAGE_FIELDS: &[&str] = &[
    "from",
    "to",
    "cc",
    "bcc",
    "subject",
    "date",
    "message-id",
    "received",
    "return-path",
    "sender",
    "reply-to",
    "mime-version",
    "content-type",
    "delivered-to",
    "in-reply-to",
    "references",
    "x-mailer",
    "user-agent",
];

/// Run the pipeline on one message.
pub fn repair(input: &[u8], ctx: &Context) -> Outcome {
    match run(input, ctx) {
        Ok(s) => Outcome::Staged(s),
        Err(r) => Outcome::Quarantined(r),
    }
}

fn run(input: &[u8], ctx: &Context) -> Result<Staged, QuarantineReason> {
    if input.trim_ascii().is_empty() {
        return Err(QuarantineReason::Empty);
    }
    let mut repairs = Vec::new();
    // A UTF-8 byte order mark is not part of RFC 5322 text; some Windows tools
    // write one before the header.
    let input = match input.strip_prefix(b"\xEF\xBB\xBF") {
        Some(rest) => {
            repairs.push(Repair::Bom);
            rest
        }
        None => input,
    };
    let input = strip_mbox_from_line(input, &mut repairs)?;
    let (crlf, endings) = lines::to_crlf(input);
    if endings.bare_cr > 0 {
        repairs.push(Repair::BareCr);
    }
    let msg: &[u8] = &crlf;
    let root = scan::scan(msg);
    if let Some(detail) = not_a_message(msg, &root.header) {
        return Err(QuarantineReason::NotAMessage { detail });
    }
    // CRLF throughout (just normalised), NUL as in the input, the longest line from
    // the normalisation: the validator's line pass is not needed again.
    let lines = validate::LineFacts {
        bare: false,
        nul: memchr::memchr(0, msg).is_some(),
        max: endings.longest,
    };
    let findings = validate::validate_scanned_with(msg, &root, lines);
    if let Some(f) = findings
        .iter()
        .find(|f| matches!(f.problem, Problem::Limit { .. }))
    {
        return Err(QuarantineReason::Limit {
            detail: f.to_string(),
        });
    }

    // Fields the message header lacks, added at its end (RFC 5322 §3.6 allows any
    // order; appending keeps Received blocks first).
    let head = &root.header;
    let mut added: Vec<Vec<u8>> = Vec::new();
    let message_id = match head.get(msg, "message-id").and_then(header::msg_id) {
        Some(id) => String::from_utf8_lossy(&id).into_owned(),
        None => {
            let id = format!(
                "<{}@mailstage.invalid>",
                hex::encode(&ctx.source_sha256[..16])
            );
            added.push(format!("Message-ID: {id}\r\n").into_bytes());
            repairs.push(Repair::AddedMessageId);
            id
        }
    };
    if head.count(msg, "date") == 0 {
        added.push(format!("Date: {}\r\n", ctx.internal_date.to_rfc2822()).into_bytes());
        repairs.push(Repair::AddedDate);
    }
    if findings
        .iter()
        .any(|f| matches!(f.problem, Problem::NoMimeVersion))
    {
        added.push(b"MIME-Version: 1.0\r\n".to_vec());
        repairs.push(Repair::AddedMimeVersion);
    }
    let rewrite = findings.iter().any(|f| {
        !matches!(
            f.problem,
            Problem::NoMessageId | Problem::NoDate | Problem::NoMimeVersion
        )
    });

    let bytes = if rewrite {
        let mut rw = tree::Rewriter::new(msg, input);
        rw.hint = body_charset(&root);
        let mut out = Vec::with_capacity(msg.len() + msg.len() / 8 + 256);
        rw.emit(&root, &mut out, false, &added)?;
        repairs.extend(rw.repairs);
        let mut left = validate::validate(&out);
        if left
            .iter()
            .any(|f| matches!(f.problem, Problem::NoMimeVersion))
        {
            // A repair introduced the first MIME field (e.g. an encoding).
            let end = header::scan(&out, 0).end;
            out.splice(end..end, b"MIME-Version: 1.0\r\n".iter().copied());
            repairs.push(Repair::AddedMimeVersion);
            left = validate::validate(&out);
        }
        if let Some(f) = left.first() {
            let detail = f.to_string();
            return Err(if has_protected(&root) {
                QuarantineReason::Signed { detail }
            } else {
                QuarantineReason::Unrepairable { detail }
            });
        }
        Some(out)
    } else if added.is_empty() {
        match crlf {
            Cow::Borrowed(_) if repairs.is_empty() => None,
            _ => Some(crlf.into_owned()),
        }
    } else {
        let mut out = Vec::with_capacity(msg.len() + 128);
        out.extend_from_slice(&msg[..head.end]);
        if !out.is_empty() && !out.ends_with(b"\r\n") {
            out.extend_from_slice(b"\r\n");
            repairs.push(Repair::TerminatedHeader);
        }
        for a in &added {
            out.extend_from_slice(a);
        }
        if head.end == msg.len() {
            // A header with no body at all still needs its empty separator line.
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(&msg[head.end..]);
        Some(out)
    };

    let mut bytes = bytes;
    if ctx.disarm_read_receipts
        && let Some(out) = disarm_read_receipts(bytes.as_deref().unwrap_or(input))
    {
        bytes = Some(out);
        repairs.push(Repair::ReadReceiptDisarmed);
    }

    let size = bytes.as_ref().map_or(input.len(), Vec::len) as u64;
    if let Some(limit) = ctx.max_size
        && size > limit
    {
        return Err(QuarantineReason::TooLarge { size, limit });
    }
    Ok(Staged {
        bytes,
        repairs,
        message_id,
    })
}

/// The prefix given to the names of disarmed read-receipt requests. One fixed
/// prefix and two names: Exchange makes a named property of every distinct header
/// name (EXCHANGE.md), so the names must not vary per message.
pub const DISARMED_PREFIX: &str = "X-Disarmed-";

/// Renames the message header's read-receipt requests (RFC 8098 §2.1
/// `Disposition-Notification-To`, and the older `Return-Receipt-To`) to
/// [`DISARMED_PREFIX`]`<name>`, keeping their values for the record. Only the top
/// header: a signed part's header is inside its signature, and Outlook asks only for
/// the message's own. `None` when there is nothing to rename. `msg` is CRLF and
/// valid (the repaired message), so its lines are at most 998 octets; a first line
/// that the prefix would push over the limit is folded after the colon.
fn disarm_read_receipts(msg: &[u8]) -> Option<Vec<u8>> {
    let head = header::scan(msg, 0);
    let hits: Vec<&header::Field> = head
        .fields
        .iter()
        .filter(|f| {
            let n = &msg[f.name.clone()];
            n.eq_ignore_ascii_case(b"disposition-notification-to")
                || n.eq_ignore_ascii_case(b"return-receipt-to")
        })
        .collect();
    if hits.is_empty() {
        return None;
    }
    let mut out = Vec::with_capacity(msg.len() + hits.len() * 16);
    let mut at = 0;
    for f in hits {
        out.extend_from_slice(&msg[at..f.name.start]);
        out.extend_from_slice(DISARMED_PREFIX.as_bytes());
        let first_line =
            memchr::memmem::find(&msg[f.whole.clone()], b"\r\n").unwrap_or(f.whole.len());
        if first_line + DISARMED_PREFIX.len() > validate::MAX_LINE {
            // name, colon, then the value on a continuation line (RFC 5322 §2.2.3),
            // which starts with the value's own white space when it has some
            out.extend_from_slice(&msg[f.name.start..f.value.start]);
            out.extend_from_slice(b"\r\n");
            if !matches!(msg.get(f.value.start), Some(b' ' | b'\t')) {
                out.push(b' ');
            }
            at = f.value.start;
        } else {
            at = f.name.start;
        }
    }
    out.extend_from_slice(&msg[at..]);
    Some(out)
}

/// An mbox envelope line (`From sender date`) is not part of the message
/// (RFC 4155); more than one message in the file is an mbox, not a message.
fn strip_mbox_from_line<'a>(
    input: &'a [u8],
    repairs: &mut Vec<Repair>,
) -> Result<&'a [u8], QuarantineReason> {
    let mut rest = input;
    if input.starts_with(b"From ")
        && let Some(nl) = memchr::memchr(b'\n', input)
        && !header::scan(&input[nl + 1..], 0).fields.is_empty()
    {
        rest = &input[nl + 1..];
        repairs.push(Repair::MboxFromLine);
        // Another envelope line after an empty line, followed by a header field,
        // starts another message (either line ending).
        for i in memchr::memmem::find_iter(rest, b"\nFrom ") {
            let blank_before = rest[..i].ends_with(b"\n") || rest[..i].ends_with(b"\n\r");
            let at = i + 1;
            if blank_before
                && let Some(nl) = memchr::memchr(b'\n', &rest[at..])
                && header::scan(&rest[at + nl + 1..], 0).fields.len() >= 2
            {
                return Err(QuarantineReason::Mbox);
            }
        }
    }
    Ok(rest)
}

/// The first charset a text part declares: the best hint for undeclared 8-bit
/// header text (mailers write headers and bodies in the same charset).
fn body_charset(root: &scan::Part) -> Option<Vec<u8>> {
    let mut hint = None;
    scan::walk(root, &mut |p, _| {
        if hint.is_none() && p.content_type.main_type() == "text" {
            hint = p.content_type.param("charset").map(<[u8]>::to_vec);
        }
    });
    hint
}

fn has_protected(root: &scan::Part) -> bool {
    let mut any = false;
    scan::walk(root, &mut |p, _| any |= validate::is_protected(p));
    any
}

/// Why the bytes are not a message, if they are not.
fn not_a_message(msg: &[u8], head: &crate::mime::header::Header) -> Option<String> {
    if head.fields.is_empty() {
        // Text has almost no C0 controls besides TAB, CR and LF; binary formats
        // (images, archives, office files) have many near their start.
        let first = &msg[..msg.len().min(512)];
        let controls = first
            .iter()
            .filter(|&&b| (b < 0x20 && !matches!(b, b'\t' | b'\r' | b'\n')) || b == 0x7f)
            .count();
        return Some(if controls > 0 && controls * 20 >= first.len().min(64) {
            "binary data, no header lines".to_string()
        } else {
            "no header lines at the start of the file".to_string()
        });
    }
    if memchr::memchr(0, &msg[..head.end]).is_some() {
        return Some("binary data (NUL bytes) in the header".to_string());
    }
    let known = head.fields.iter().any(|f| {
        let name = &msg[f.name.clone()];
        MESSAGE_FIELDS
            .iter()
            .any(|k| name.eq_ignore_ascii_case(k.as_bytes()))
    });
    (!known).then(|| "no From, To, Subject, Date or other message header field".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> Context {
        Context {
            internal_date: DateTime::from_timestamp(1_236_982_500, 0).unwrap(),
            max_size: None,
            source_sha256: [0xab; 32],
            disarm_read_receipts: false,
        }
    }

    fn staged(input: &[u8]) -> (Vec<u8>, Vec<Repair>, String) {
        match repair(input, &ctx()) {
            Outcome::Staged(s) => (s.bytes(input).to_vec(), s.repairs, s.message_id),
            Outcome::Quarantined(r) => panic!("quarantined: {r}"),
        }
    }

    #[test]
    fn clean_crlf_message_is_untouched() {
        let m = b"From: a@b\r\nDate: Fri, 13 Mar 2009 22:15:00 +0000\r\nMessage-ID: <x@y>\r\n\r\nhi\r\n";
        match repair(m, &ctx()) {
            Outcome::Staged(s) => {
                assert!(s.bytes.is_none());
                assert!(s.repairs.is_empty());
                assert_eq!(s.message_id, "<x@y>");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn lf_message_only_changes_line_endings() {
        let (out, repairs, _) =
            staged(b"From: a@b\nDate: Fri, 13 Mar 2009 22:15:00 +0000\nMessage-ID: <x@y>\n\nhi\n");
        assert_eq!(
            out,
            b"From: a@b\r\nDate: Fri, 13 Mar 2009 22:15:00 +0000\r\nMessage-ID: <x@y>\r\n\r\nhi\r\n"
        );
        assert!(repairs.is_empty());
    }

    #[test]
    fn adds_missing_message_id_and_date_deterministically() {
        let (out, repairs, id) = staged(b"From: a@b\nSubject: s\n\nbody\n");
        assert_eq!(repairs, vec![Repair::AddedMessageId, Repair::AddedDate]);
        assert_eq!(id, "<abababababababababababababababab@mailstage.invalid>");
        assert_eq!(
            out,
            format!(
                "From: a@b\r\nSubject: s\r\nMessage-ID: {id}\r\nDate: Fri, 13 Mar 2009 22:15:00 +0000\r\n\r\nbody\r\n"
            )
            .as_bytes()
        );
        // Repairing the repaired message changes nothing.
        let (again, r2, id2) = staged(&out);
        assert_eq!(again, out);
        assert!(r2.is_empty());
        assert_eq!(id2, id);
    }

    #[test]
    fn header_only_message_gets_separator() {
        let (out, repairs, _) = staged(b"From: a@b\r\nMessage-ID: <q@r>");
        assert_eq!(repairs, vec![Repair::AddedDate, Repair::TerminatedHeader]);
        assert_eq!(
            out,
            b"From: a@b\r\nMessage-ID: <q@r>\r\nDate: Fri, 13 Mar 2009 22:15:00 +0000\r\n\r\n"
        );
    }

    #[test]
    fn quarantines_what_is_not_mail() {
        let q = |m: &[u8]| match repair(m, &ctx()) {
            Outcome::Quarantined(r) => r.kind(),
            Outcome::Staged(_) => "staged",
        };
        assert_eq!(q(b""), "empty");
        assert_eq!(q(b" \n\n"), "empty");
        assert_eq!(q(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), "not-a-message");
        assert_eq!(q(b"just some text\nmore\n"), "not-a-message");
        assert_eq!(q(b"Todo: milk\n"), "not-a-message");
        assert_eq!(q(b"From: a\0b\n\nx"), "not-a-message");
    }

    #[test]
    fn too_large_counts_staged_bytes() {
        let m = b"From: a\nDate: x\nMessage-ID: <a@b>\n\n0123456789\n"; // 46 bytes with LF, 51 with CRLF
        let mut c = ctx();
        c.max_size = Some(50);
        assert!(matches!(
            repair(m, &c),
            Outcome::Quarantined(QuarantineReason::TooLarge {
                size: 51,
                limit: 50
            })
        ));
        c.max_size = Some(51);
        assert!(matches!(repair(m, &c), Outcome::Staged(_)));
    }

    #[test]
    fn bare_cr_is_a_named_repair() {
        let (out, repairs, _) = staged(b"From: a\rDate: d\rMessage-ID: <a@b>\r\rx\r");
        assert_eq!(out, b"From: a\r\nDate: d\r\nMessage-ID: <a@b>\r\n\r\nx\r\n");
        assert_eq!(repairs, vec![Repair::BareCr]);
    }
}
