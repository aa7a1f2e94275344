//! IMAP modified UTF-7 (RFC 3501 §5.1.3), fallible in both directions.
//!
//! Dovecot stores folder names on disk in this encoding (`.Entw&APw-rfe` is
//! `Entwürfe`). Decoding never panics: malformed input is an error the caller reports.

/// Why a modified UTF-7 name could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Mutf7Error {
    /// Placeholder until implemented.
    #[error("not implemented")]
    Todo,
}

/// Decode a modified UTF-7 mailbox name (bytes as found on disk) to a Rust string.
pub fn decode(input: &[u8]) -> Result<String, Mutf7Error> {
    let _ = input;
    Err(Mutf7Error::Todo)
}

/// Encode a mailbox name as modified UTF-7 (for IMAP commands and Maildir names).
pub fn encode(input: &str) -> String {
    input.to_string()
}
