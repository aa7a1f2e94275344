//! Tolerant, byte-exact views of RFC 5322 / MIME messages.
//!
//! Nothing here allocates copies of message content or fails on broken input:
//! every function returns byte offsets into the caller's buffer, so that repairs can
//! rewrite exactly the broken parts and leave the rest byte-identical.

pub mod header;
pub mod lines;
