//! Leaf body repairs: transfer encodings (RFC 2045 §6), NUL bytes, over-long lines,
//! and charsets of text parts (RFC 2046 §4.1.2, WHATWG Encoding Standard).

use crate::mime::charset::{self, DetectedBy, LabelDecision};
use crate::mime::encoding;
use crate::mime::scan::Part;
use crate::mime::validate::{self, MAX_LINE};

use super::{QuarantineReason, Repair};

/// What a leaf needs: new body bytes and header edits.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LeafFix {
    /// New body bytes (already transfer-encoded), `None` to keep the body.
    pub body: Option<Vec<u8>>,
    /// New Content-Transfer-Encoding.
    pub cte: Option<&'static str>,
    /// New charset parameter.
    pub charset: Option<String>,
    /// Repairs made.
    pub repairs: Vec<Repair>,
}

/// A transfer encoding, with common misspellings mapped (seen in real mail:
/// `quoted printable`, `8-bit`, `base-64`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cte {
    SevenBit,
    EightBit,
    Binary,
    Base64,
    Qp,
    Other,
}

fn parse_cte(v: Option<&str>) -> (Cte, bool) {
    let Some(v) = v else {
        return (Cte::SevenBit, false);
    };
    let v = v.trim().trim_matches('"');
    let canon = match v {
        "7bit" => return (Cte::SevenBit, false),
        "8bit" => return (Cte::EightBit, false),
        "binary" => return (Cte::Binary, false),
        "base64" => return (Cte::Base64, false),
        "quoted-printable" => return (Cte::Qp, false),
        _ => v.replace([' ', '_', '-'], ""),
    };
    let c = match canon.as_str() {
        "7bit" | "7" | "ascii" | "usascii" | "none" | "" => Cte::SevenBit,
        "8bit" | "8" | "8bits" => Cte::EightBit,
        "base64" | "b64" | "base" => Cte::Base64,
        "quotedprintable" | "qp" | "quoted" => Cte::Qp,
        _ => Cte::Other,
    };
    (c, c != Cte::Other)
}

/// Repair one leaf. `raw_body` recovers the exact original bytes of the body
/// (before CRLF normalisation), for binary content that must be re-encoded.
pub fn repair_leaf(
    part: &Part,
    body: &[u8],
    protected: bool,
    raw_body: &mut dyn FnMut() -> Vec<u8>,
) -> Result<LeafFix, QuarantineReason> {
    let mut fix = LeafFix::default();
    if protected {
        // Signed or encrypted content is never altered (RFC 1847 §2.1, RFC 8551):
        // if Exchange would refuse it as it is, the message goes to quarantine.
        let facts = validate::line_facts(body);
        if facts.nul || facts.max > MAX_LINE {
            return Err(QuarantineReason::Signed {
                detail: if facts.nul {
                    "it contains NUL bytes".to_string()
                } else {
                    format!("it has a line of {} octets", facts.max)
                },
            });
        }
        return Ok(fix);
    }
    let (cte, renamed) = parse_cte(part.encoding.as_deref());
    let text = part.content_type.main_type() == "text";
    match cte {
        Cte::Base64 => {
            // Lines up to 998 octets are accepted everywhere (RFC 5322 §2.1.1); only
            // content that is really broken is re-encoded.
            let clean = encoding::base64_is_clean_within(body, MAX_LINE);
            if clean && !text {
                return Ok(finish_rename(fix, renamed, "base64"));
            }
            let (decoded, _) = encoding::decode_base64_lenient(body);
            let (data, changed) = text_charset(part, decoded, &mut fix);
            if !clean || changed {
                if !clean {
                    fix.repairs.push(Repair::Base64Reencoded);
                }
                fix.body = Some(encoding::encode_base64(&data));
            }
            Ok(finish_rename(fix, renamed, "base64"))
        }
        Cte::Qp => {
            let clean = encoding::qp_is_clean_within(body, MAX_LINE);
            let (decoded, _) = encoding::decode_qp_lenient(body);
            let (data, changed) = if text {
                text_charset(part, decoded, &mut fix)
            } else {
                (decoded, false)
            };
            if !clean || changed {
                if !clean {
                    fix.repairs.push(Repair::QpReencoded);
                }
                let enc = if text {
                    encoding::encode_qp(&data)
                } else {
                    encoding::encode_qp_binary(&data)
                };
                fix.body = Some(guard_delimiters(enc));
            }
            Ok(finish_rename(fix, renamed, "quoted-printable"))
        }
        Cte::SevenBit | Cte::EightBit | Cte::Binary | Cte::Other => {
            let facts = validate::line_facts(body);
            let eight = !charset::is_ascii(body);
            if !text {
                if !(facts.nul || facts.max > MAX_LINE || (eight && cte == Cte::SevenBit)) {
                    return Ok(finish_rename(fix, renamed, cte_name(cte)));
                }
                if cte == Cte::Other {
                    return Err(QuarantineReason::Unrepairable {
                        detail: format!(
                            "a part in the unknown transfer encoding {:?} holds bytes Exchange refuses",
                            part.encoding.as_deref().unwrap_or("")
                        ),
                    });
                }
                // Binary content: the exact original bytes, base64 (lossless).
                fix.repairs.push(Repair::BinaryBase64);
                fix.body = Some(encoding::encode_base64(&raw_body()));
                fix.cte = Some("base64");
                return Ok(fix);
            }
            // An unknown encoding on a text part (`plain`, `text`, `8bit text`)
            // is in practice no encoding at all: the bytes are the text.
            let cte = if cte == Cte::Other {
                fix.repairs.push(Repair::CteRenamed);
                fix.cte = Some(if eight { "8bit" } else { "7bit" });
                if eight { Cte::EightBit } else { Cte::SevenBit }
            } else {
                cte
            };
            let mut data = body.to_vec();
            let mut changed = false;
            if facts.nul {
                data.retain(|&b| b != 0);
                fix.repairs.push(Repair::BodyNul);
                changed = true;
            }
            let (data, transcoded) = text_charset(part, data, &mut fix);
            changed |= transcoded;
            let long = validate::line_facts(&data).max > MAX_LINE;
            if long {
                fix.repairs.push(Repair::LongLinesQp);
                fix.body = Some(guard_delimiters(encoding::encode_qp(&data)));
                fix.cte = Some("quoted-printable");
                return Ok(fix);
            }
            let eight_now = !charset::is_ascii(&data);
            if eight_now && matches!(cte, Cte::SevenBit) {
                fix.repairs.push(Repair::Cte8bit);
                fix.cte = Some("8bit");
            }
            if changed {
                fix.body = Some(data);
            }
            Ok(finish_rename(fix, renamed, cte_name(cte)))
        }
    }
}

fn cte_name(c: Cte) -> &'static str {
    match c {
        Cte::SevenBit => "7bit",
        Cte::EightBit => "8bit",
        Cte::Binary => "binary",
        Cte::Base64 => "base64",
        Cte::Qp => "quoted-printable",
        Cte::Other => "7bit",
    }
}

/// A misspelt encoding name that was understood is written canonically.
fn finish_rename(mut fix: LeafFix, renamed: bool, name: &'static str) -> LeafFix {
    if renamed && fix.cte.is_none() {
        fix.cte = Some(name);
        fix.repairs.push(Repair::CteRenamed);
    }
    fix
}

/// Quoted-printable lines that start with `--` could be taken for a multipart
/// delimiter once soft line breaks moved them; escaping the first dash (`=2D`,
/// RFC 2045 §6.7 rule 1 allows it) rules that out.
fn guard_delimiters(enc: Vec<u8>) -> Vec<u8> {
    if memchr::memmem::find(&enc, b"\n--").is_none() && !enc.starts_with(b"--") {
        return enc;
    }
    let mut out = Vec::with_capacity(enc.len() + 16);
    let mut line_start = true;
    for &b in &enc {
        if line_start && b == b'-' {
            out.extend_from_slice(b"=2D");
        } else {
            out.push(b);
        }
        line_start = b == b'\n';
    }
    out
}

/// Decide the charset of a text part's decoded content. Returns the (possibly
/// transcoded) content and whether it changed; header edits go into `fix`.
fn text_charset(part: &Part, data: Vec<u8>, fix: &mut LeafFix) -> (Vec<u8>, bool) {
    if part.content_type.main_type() != "text" || validate::has_inline_pgp(&data) {
        return (data, false);
    }
    let eight = !charset::is_ascii(&data);
    let label = part.content_type.param("charset");
    // Detect, and declare what was found. When even that does not decode cleanly
    // (windows-1252's five undefined bytes, say), transcode to UTF-8: every byte
    // then has a character, and the label is true.
    let detect_relabel =
        |fix: &mut LeafFix, hint: Option<&[u8]>, repair: Repair| -> Option<Vec<u8>> {
            let d = charset::detect(&data, hint);
            let name = charset::mime_name(&d.decoder);
            fix.repairs.push(if matches!(d.how, DetectedBy::Fallback) {
                Repair::CharsetGuessed
            } else {
                repair
            });
            if charset::decodes_cleanly(&data, name.as_bytes()) {
                fix.charset = Some(name.to_string());
                None
            } else {
                fix.repairs.push(Repair::CharsetTranscoded);
                fix.charset = Some("UTF-8".to_string());
                Some(d.decoder.decode(&data).0.into_owned().into_bytes())
            }
        };
    match label {
        None => {
            if eight && let Some(t) = detect_relabel(fix, None, Repair::CharsetAdded) {
                return (t, true);
            }
            (data, false)
        }
        Some(l) => match charset::decide_label(l) {
            LabelDecision::Keep => {
                if eight && !validate::label_fits(l, &data) {
                    // A us-ascii label on 8-bit text says nothing about the charset:
                    // let the detector decide rather than the WHATWG hint rule.
                    let l_lower = l.to_ascii_lowercase();
                    let hint =
                        (!matches!(l_lower.trim_ascii(), b"us-ascii" | b"ascii")).then_some(l);
                    if let Some(t) = detect_relabel(fix, hint, Repair::CharsetRelabeled) {
                        return (t, true);
                    }
                }
                (data, false)
            }
            LabelDecision::Relabel(name) => {
                if eight && !charset::decodes_cleanly(&data, name.as_bytes()) {
                    if let Some(t) = detect_relabel(fix, Some(l), Repair::CharsetRelabeled) {
                        return (t, true);
                    }
                } else {
                    fix.charset = Some(name.to_string());
                    fix.repairs.push(Repair::CharsetAlias);
                }
                (data, false)
            }
            LabelDecision::TranscodeToUtf8(dec) => {
                let (text, _) = dec.decode(&data);
                let out = text.into_owned().into_bytes();
                fix.charset = Some("UTF-8".to_string());
                fix.repairs.push(Repair::CharsetTranscoded);
                (out, true)
            }
            LabelDecision::Unknown => {
                if eight {
                    if let Some(t) = detect_relabel(fix, None, Repair::CharsetRelabeled) {
                        return (t, true);
                    }
                } else {
                    fix.charset = Some("us-ascii".to_string());
                    fix.repairs.push(Repair::CharsetAlias);
                }
                (data, false)
            }
        },
    }
}
