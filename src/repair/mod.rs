//! The repair pipeline: source message bytes in, staged bytes (plus the named
//! repairs that produced them) or a quarantine reason out.
//!
//! No I/O happens here (DESIGN.md): that keeps the pipeline fuzzable and lets
//! `convert` run it on many messages in parallel. A message that needs nothing
//! beyond CRLF line endings is returned unchanged apart from those line endings
//! (the "clean messages stay byte-identical" rule).

use std::fmt;

use chrono::{DateTime, Utc};

use crate::mime::{header, lines};

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
}

/// One named repair. The names are stable: they appear in `manifest.jsonl`'s
/// `repairs` and in summaries, and scripts match on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Repair {
    /// Lone CR line endings became CRLF. (Bare LF to CRLF is not a repair: every
    /// Maildir message has LF endings and the staging contract always uses CRLF.)
    BareCr,
    /// No Message-ID: one was derived from the content hash (RFC 5322 §3.6.4).
    AddedMessageId,
    /// No Date: one was made from the internal date (RFC 5322 §3.6.1).
    AddedDate,
    /// The header had no line ending after its last field; CRLF was added.
    TerminatedHeader,
}

impl Repair {
    /// The stable short name used in the manifest.
    pub fn name(self) -> &'static str {
        match self {
            Repair::BareCr => "bare-cr",
            Repair::AddedMessageId => "added-message-id",
            Repair::AddedDate => "added-date",
            Repair::TerminatedHeader => "terminated-header",
        }
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
}

impl QuarantineReason {
    /// Stable short name of the reason class.
    pub fn kind(&self) -> &'static str {
        match self {
            QuarantineReason::Empty => "empty",
            QuarantineReason::NotAMessage { .. } => "not-a-message",
            QuarantineReason::TooLarge { .. } => "too-large",
            QuarantineReason::Unreadable { .. } => "unreadable",
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
    if input.trim_ascii().is_empty() {
        return Outcome::Quarantined(QuarantineReason::Empty);
    }
    let (crlf, endings) = lines::to_crlf(input);
    let mut repairs = Vec::new();
    if endings.bare_cr > 0 {
        repairs.push(Repair::BareCr);
    }
    let msg: &[u8] = &crlf;
    let head = header::scan(msg, 0);
    if let Some(detail) = not_a_message(msg, &head) {
        return Outcome::Quarantined(QuarantineReason::NotAMessage { detail });
    }

    let mut added: Vec<u8> = Vec::new();
    let message_id = match head.get(msg, "message-id").and_then(header::msg_id) {
        Some(id) => String::from_utf8_lossy(&id).into_owned(),
        None => {
            let id = format!(
                "<{}@mailstage.invalid>",
                hex::encode(&ctx.source_sha256[..16])
            );
            added.extend_from_slice(b"Message-ID: ");
            added.extend_from_slice(id.as_bytes());
            added.extend_from_slice(b"\r\n");
            repairs.push(Repair::AddedMessageId);
            id
        }
    };
    if head.count(msg, "date") == 0 {
        added.extend_from_slice(b"Date: ");
        added.extend_from_slice(ctx.internal_date.to_rfc2822().as_bytes());
        added.extend_from_slice(b"\r\n");
        repairs.push(Repair::AddedDate);
    }

    let bytes = if added.is_empty() {
        match crlf {
            std::borrow::Cow::Borrowed(_) => None,
            std::borrow::Cow::Owned(v) => Some(v),
        }
    } else {
        // New fields go at the end of the header section, after any trace fields
        // (RFC 5322 §3.6 allows any order; appending keeps Received blocks first).
        let mut out = Vec::with_capacity(msg.len() + added.len() + 2);
        out.extend_from_slice(&msg[..head.end]);
        if !out.is_empty() && !out.ends_with(b"\r\n") {
            out.extend_from_slice(b"\r\n");
            repairs.push(Repair::TerminatedHeader);
        }
        out.extend_from_slice(&added);
        if head.end == msg.len() {
            // A header with no body at all still needs its empty separator line.
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(&msg[head.end..]);
        Some(out)
    };

    let size = bytes.as_ref().map_or(input.len(), Vec::len) as u64;
    if let Some(limit) = ctx.max_size
        && size > limit
    {
        return Outcome::Quarantined(QuarantineReason::TooLarge { size, limit });
    }
    Outcome::Staged(Staged {
        bytes,
        repairs,
        message_id,
    })
}

/// Why the bytes are not a message, if they are not.
fn not_a_message(msg: &[u8], head: &header::Header) -> Option<String> {
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
