//! A small blocking IMAP4rev1 client (RFC 3501) with the extensions a migration needs:
//! LITERAL+/LITERAL- (RFC 7888), UIDPLUS (RFC 4315), MULTIAPPEND (RFC 3502),
//! SPECIAL-USE attributes (RFC 6154), APPENDLIMIT (RFC 7889), SASL-IR (RFC 4959).
//!
//! It knows nothing of staging: [`connect()`] opens and logs in, [`client::Connection`]
//! sends commands. Why our own client rather than a crate is in `docs/DEPENDENCIES.md`.

pub mod client;
pub mod connect;
pub mod proto;

use chrono::{DateTime, FixedOffset};
use thiserror::Error;

pub use client::{AppendItem, Completion, Connection, FetchedMeta, ListEntry, MailboxInfo, Sent};
pub use connect::{Credentials, Secret, Security, ServerConfig, connect};
pub use proto::Status;

/// What can go wrong talking to a server.
#[derive(Debug, Error)]
pub enum ImapError {
    /// TCP connection could not be opened.
    #[error("cannot connect to {0}")]
    Connect(String),
    /// TLS setup or handshake failed.
    #[error("{0}")]
    Tls(String),
    /// Login refused; the text names the likely cause.
    #[error("{0}")]
    Auth(String),
    /// The connection broke.
    #[error(transparent)]
    Proto(#[from] proto::ProtoError),
    /// The server said BYE.
    #[error("the server closed the connection: BYE {0}")]
    Bye(String),
    /// A command the session depends on failed.
    #[error("{command} failed: {answer}")]
    Command {
        /// The command verb.
        command: String,
        /// The server's answer.
        answer: String,
    },
    /// The server sent something we cannot work with.
    #[error("protocol error: {0}")]
    Protocol(String),
}

impl From<std::io::Error> for ImapError {
    fn from(e: std::io::Error) -> Self {
        ImapError::Proto(proto::ProtoError::Io(e))
    }
}

impl ImapError {
    /// Whether the connection is gone (reconnecting may help), as opposed to a refusal
    /// that would repeat.
    pub fn is_connection_lost(&self) -> bool {
        matches!(self, ImapError::Proto(_) | ImapError::Bye(_))
    }
}

/// RFC 3501 `date-time` for APPEND: `"dd-Mon-yyyy hh:mm:ss +zzzz"` (without quotes), in
/// the offset the date carries, so the instant is exact.
pub fn imap_date(d: &DateTime<FixedOffset>) -> String {
    d.format("%d-%b-%Y %H:%M:%S %z").to_string()
}

/// Parses an INTERNALDATE as servers send it (`" 4-Jan-2010 09:15:02 +0100"` or with
/// two-digit day).
pub fn parse_imap_date(s: &str) -> Option<DateTime<FixedOffset>> {
    let t = s.trim();
    DateTime::parse_from_str(t, "%d-%b-%Y %H:%M:%S %z").ok()
}

/// The wire name of a folder: segments joined by the server's separator, each in
/// modified UTF-7 (RFC 3501 §5.1.3). `None` when a segment contains the separator
/// itself (it would silently become a subfolder).
pub fn wire_name(segments: &[&str], separator: Option<u8>) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    for (i, seg) in segments.iter().enumerate() {
        let enc = crate::mutf7::encode(seg);
        if let Some(sep) = separator
            && enc.as_bytes().contains(&sep)
        {
            return None;
        }
        if i > 0 {
            out.push(separator?);
        }
        out.extend_from_slice(enc.as_bytes());
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip() {
        let d = DateTime::parse_from_rfc3339("2010-01-04T09:15:02+01:00").unwrap();
        assert_eq!(imap_date(&d), "04-Jan-2010 09:15:02 +0100");
        assert_eq!(parse_imap_date(" 4-Jan-2010 09:15:02 +0100"), Some(d));
        assert_eq!(parse_imap_date("04-Jan-2010 08:15:02 +0000"), Some(d));
    }

    #[test]
    fn wire_names() {
        assert_eq!(
            wire_name(&["Reisen", "Österreich"], Some(b'.')).unwrap(),
            b"Reisen.&ANY-sterreich"
        );
        assert_eq!(wire_name(&["a.b"], Some(b'.')), None);
        assert_eq!(wire_name(&["a.b", "c"], Some(b'/')).unwrap(), b"a.b/c");
        assert_eq!(wire_name(&["a", "b"], None), None);
        assert_eq!(wire_name(&["a"], None).unwrap(), b"a");
    }
}
