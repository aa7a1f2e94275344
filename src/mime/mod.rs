//! Tolerant, byte-exact views of RFC 5322 / MIME messages.
//!
//! Nothing here fails on broken input: functions return byte offsets into the
//! caller's buffer (or findings), so that repairs can rewrite exactly the broken
//! parts and leave the rest byte-identical.

pub mod charset;
pub mod encoding;
pub mod header;
pub mod lines;
pub mod scan;
pub mod validate;
pub mod words;
