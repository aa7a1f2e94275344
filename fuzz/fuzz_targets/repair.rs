//! Arbitrary bytes through the whole repair pipeline: no panic, and whatever is
//! staged passes the validator and is a fixed point of the repair.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailstage::mime::validate;
use mailstage::repair::{Context, Outcome, repair};

fuzz_target!(|data: &[u8]| {
    let ctx = Context {
        internal_date: chrono::DateTime::from_timestamp(1_300_000_000, 0).unwrap_or_default(),
        max_size: None,
        source_sha256: [1; 32],
    };
    if let Outcome::Staged(s) = repair(data, &ctx) {
        let out = s.bytes(data).to_vec();
        let left = validate::validate(&out);
        assert!(left.is_empty(), "staged output has findings: {left:?}");
        match repair(&out, &ctx) {
            Outcome::Staged(again) => {
                assert!(again.bytes.is_none() && again.repairs.is_empty(), "not idempotent: {:?}", again.repairs)
            }
            Outcome::Quarantined(r) => panic!("repaired output quarantined: {r}"),
        }
    }
});
