//! `mailstage check`: what is wrong with a message for Exchange, and what the repair
//! engine would do about it.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::mime::validate;
use crate::repair::{self, Outcome};

/// The verdict on one message.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Findings on the message as it is.
    pub problems: Vec<String>,
    /// `clean`, `repairable` or `quarantine`.
    pub verdict: &'static str,
    /// Repairs `convert` would apply.
    pub repairs: Vec<String>,
    /// Why `convert` would quarantine it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quarantine_reason: Option<String>,
    /// The repaired message (what `convert` would stage), if stageable.
    #[serde(skip)]
    pub repaired: Option<Vec<u8>>,
    /// Findings left on the repaired message (always empty: a non-empty list
    /// would be a bug in the repair engine, and `convert` quarantines instead).
    pub after_repair: Vec<String>,
}

/// Check one message's bytes. `internal_date` stands in for a missing Date (as
/// `convert` does); `max_size` as `--max-size`, `disarm_read_receipts` as
/// `--disarm-read-receipts`.
pub fn check(
    bytes: &[u8],
    internal_date: DateTime<Utc>,
    max_size: Option<u64>,
    disarm_read_receipts: bool,
) -> Report {
    let problems: Vec<String> = validate::validate(bytes)
        .iter()
        .map(ToString::to_string)
        .collect();
    let ctx = repair::Context {
        internal_date,
        max_size,
        source_sha256: Sha256::digest(bytes).into(),
        disarm_read_receipts,
    };
    match repair::repair(bytes, &ctx) {
        Outcome::Staged(s) => {
            let out = s.bytes(bytes);
            let after: Vec<String> = validate::validate(out)
                .iter()
                .map(ToString::to_string)
                .collect();
            // Line endings alone are not a problem for staging (CRLF always).
            let real = problems
                .iter()
                .filter(|p| !p.contains("line endings are not CRLF"))
                .count();
            Report {
                verdict: if real == 0 && s.repairs.is_empty() {
                    "clean"
                } else {
                    "repairable"
                },
                problems,
                repairs: s.repairs.iter().map(|r| r.name().to_string()).collect(),
                quarantine_reason: None,
                repaired: Some(out.to_vec()),
                after_repair: after,
            }
        }
        Outcome::Quarantined(r) => Report {
            problems,
            verdict: "quarantine",
            repairs: Vec::new(),
            quarantine_reason: Some(r.to_string()),
            repaired: None,
            after_repair: Vec::new(),
        },
    }
}
