//! The floor-0 parsers on arbitrary bytes: MIME scan, validation, codecs,
//! mUTF-7 and Maildir file names never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailstage::mime::{encoding, scan, validate, words};

fuzz_target!(|data: &[u8]| {
    let _ = scan::scan(data);
    let _ = validate::validate(data);
    let _ = encoding::decode_base64_lenient(data);
    let _ = encoding::decode_qp_lenient(data);
    let _ = words::split_content_type(data);
    let _ = words::decode_unstructured(data);
    let _ = mailstage::mutf7::decode(data);
    let _ = mailstage::maildir::filename::parse_filename(data);
});
