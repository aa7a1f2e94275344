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

pub use client::{
    AppendItem, Completion, Connection, FetchedMeta, ListEntry, LiteralError, MailboxInfo, Sent,
};
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
    /// A streamed literal's source did not yield the bytes announced in its `{N}`; the
    /// connection was cut in the middle of the literal, so the command never completed.
    #[error("{0}; the connection was cut mid-literal")]
    LiteralSource(#[from] client::LiteralError),
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
        matches!(
            self,
            ImapError::Proto(_) | ImapError::Bye(_) | ImapError::LiteralSource(_)
        )
    }
}

/// RFC 3501 `date-time` for APPEND: `"dd-Mon-yyyy hh:mm:ss +zzzz"` (without quotes), in
/// the offset the date carries, so the instant is exact.
pub fn imap_date(d: &DateTime<FixedOffset>) -> String {
    use chrono::{Datelike, Timelike};
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let year = d.year();
    if !(0..=9999).contains(&year) {
        return d.format(IMAP_DATE).to_string();
    }
    // By hand for the years mail has: chrono's `format` parses its format string on
    // every call, and verify and rollback format every server message's date. The
    // same text as `format(IMAP_DATE)` (tested): the offset rounded to the nearest
    // minute, a leap second as 60.
    let off = d.offset().local_minus_utc();
    let (sign, off) = if off < 0 { ('-', -off) } else { ('+', off) };
    let minutes = ((off + 30) / 60) as u32;
    fn two(out: &mut String, v: u32, then: &str) {
        out.push(char::from(b'0' + (v / 10 % 10) as u8));
        out.push(char::from(b'0' + (v % 10) as u8));
        out.push_str(then);
    }
    let mut out = String::with_capacity(26);
    two(&mut out, d.day(), "-");
    out.push_str(MONTHS[d.month0() as usize]);
    out.push('-');
    let year = year as u32;
    two(&mut out, year / 100, "");
    two(&mut out, year % 100, " ");
    two(&mut out, d.hour(), ":");
    two(&mut out, d.minute(), ":");
    two(&mut out, d.second() + d.nanosecond() / 1_000_000_000, " ");
    out.push(sign);
    two(&mut out, minutes / 60, "");
    two(&mut out, minutes % 60, "");
    out
}

/// The `date-time` of RFC 3501 §9 as a chrono format.
const IMAP_DATE: &str = "%d-%b-%Y %H:%M:%S %z";

/// Parses an INTERNALDATE as servers send it (`" 4-Jan-2010 09:15:02 +0100"` or with
/// two-digit day).
pub fn parse_imap_date(s: &str) -> Option<DateTime<FixedOffset>> {
    let t = s.trim();
    DateTime::parse_from_str(t, IMAP_DATE).ok()
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

    proptest::proptest! {
        /// The hand-made format is chrono's, for any instant (years -300 to 12000,
        /// leap seconds included) and any offset.
        #[test]
        fn imap_date_is_chronos_format(
            secs in -71_700_000_000i64..316_000_000_000,
            nanos in 0u32..2_000_000_000,
            off in -86_399i32..86_400,
        ) {
            let o = FixedOffset::east_opt(off).unwrap();
            if let Some(d) = DateTime::from_timestamp(secs, nanos) {
                let d = d.with_timezone(&o);
                proptest::prop_assert_eq!(imap_date(&d), d.format(IMAP_DATE).to_string());
            }
        }
    }

    #[test]
    fn imap_date_edges() {
        for (rfc, want) in [
            ("0999-12-31T23:59:59+00:00", "31-Dec-0999 23:59:59 +0000"),
            ("2010-01-04T09:15:02-00:30", "04-Jan-2010 09:15:02 -0030"),
            ("2016-12-31T23:59:60Z", "31-Dec-2016 23:59:60 +0000"),
        ] {
            let d = DateTime::parse_from_rfc3339(rfc).unwrap();
            assert_eq!(imap_date(&d), want);
            assert_eq!(imap_date(&d), d.format(IMAP_DATE).to_string());
        }
        // an offset with seconds rounds to the minute, as chrono's %z does
        let d = DateTime::from_timestamp(0, 0)
            .unwrap()
            .with_timezone(&FixedOffset::east_opt(3600 + 90).unwrap());
        assert_eq!(imap_date(&d), "01-Jan-1970 01:01:30 +0102");
        // beyond 9999 chrono's own format, with its sign
        let d = DateTime::parse_from_rfc3339("9999-12-31T23:59:59-01:00").unwrap()
            + chrono::Duration::days(1);
        assert_eq!(imap_date(&d), d.format(IMAP_DATE).to_string());
        assert!(imap_date(&d).contains("+10000"), "{}", imap_date(&d));
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
