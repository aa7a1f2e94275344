//! Header field repairs: raw 8-bit text to RFC 2047 encoded words (RFC 2231 for
//! parameters), NUL bytes, over-long lines. Exchange 2007 has no UTF-8 header
//! support (EXCHANGE.md: `NO Message contains invalid header`), so output fields are
//! 7-bit.

use crate::mime::charset;
use crate::mime::header::{self, Field};
use crate::mime::words;

use super::{QuarantineReason, Repair};

/// How a field's value is structured, for re-encoding (RFC 5322 §3.6, RFC 2045).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FieldKind {
    Address,
    Params,
    Unstructured,
}

fn kind(name: &[u8]) -> FieldKind {
    let n = String::from_utf8_lossy(name).to_ascii_lowercase();
    match n.as_str() {
        "from"
        | "to"
        | "cc"
        | "bcc"
        | "reply-to"
        | "sender"
        | "resent-from"
        | "resent-to"
        | "resent-cc"
        | "resent-bcc"
        | "resent-sender"
        | "disposition-notification-to"
        | "return-receipt-to"
        | "errors-to"
        | "mail-followup-to"
        | "mail-reply-to" => FieldKind::Address,
        "content-type" | "content-disposition" => FieldKind::Params,
        _ => FieldKind::Unstructured,
    }
}

/// Does this field need repair?
pub fn needs_repair(msg: &[u8], f: &Field) -> bool {
    let whole = &msg[f.whole.clone()];
    broken_fold(whole)
        || !charset::is_ascii(whole)
        || longest_line(whole) > crate::mime::validate::MAX_LINE
        || msg.get(f.name.end) != Some(&b':')
}

/// A line inside the field that does not start with white space.
fn broken_fold(whole: &[u8]) -> bool {
    let body = whole.strip_suffix(b"\r\n").unwrap_or(whole);
    memchr::memmem::find_iter(body, b"\r\n").any(|i| !matches!(body.get(i + 2), Some(b' ' | b'\t')))
}

fn longest_line(b: &[u8]) -> usize {
    b.split(|&c| c == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l).len())
        .max()
        .unwrap_or(0)
}

/// Repair one field; returns the new field bytes including the final CRLF.
pub fn repair_field(
    msg: &[u8],
    f: &Field,
    hint: Option<&[u8]>,
    repairs: &mut Vec<Repair>,
) -> Result<Vec<u8>, QuarantineReason> {
    let name = &msg[f.name.clone()];
    let mut value = msg[f.value.clone()].to_vec();
    if broken_fold(&value) {
        // Give the fold back its white space (RFC 5322 §2.2.3).
        let mut fixed = Vec::with_capacity(value.len() + 8);
        let mut i = 0;
        while i < value.len() {
            fixed.push(value[i]);
            if value[i] == b'\n' && !matches!(value.get(i + 1), Some(b' ' | b'\t') | None) {
                fixed.push(b' ');
            }
            i += 1;
        }
        value = fixed;
        push(repairs, Repair::BrokenFold);
    }
    if value.contains(&0) {
        value.retain(|&b| b != 0);
        push(repairs, Repair::HeaderNul);
    }
    let name_s = String::from_utf8_lossy(name).into_owned();
    if msg.get(f.name.end) != Some(&b':') {
        // `Subject :` is obsolete syntax (RFC 5322 §4.5.1); some parsers take a
        // `From ` line for an mbox envelope. The name is written without the space.
        push(repairs, Repair::FieldNameSpace);
    }
    let unfolded = header::unfold(&value);
    let new_value = if charset::is_ascii(&unfolded) {
        if longest_line(&value) <= crate::mime::validate::MAX_LINE {
            // Only NUL bytes or the name were wrong: keep the folding as it was.
            let mut out = Vec::with_capacity(name.len() + value.len() + 3);
            out.extend_from_slice(name);
            out.push(b':');
            out.extend_from_slice(&value);
            out.extend_from_slice(b"\r\n");
            return Ok(out);
        }
        push(repairs, Repair::HeaderRefolded);
        fold(&name_s, &String::from_utf8_lossy(&unfolded))
    } else {
        match kind(name) {
            FieldKind::Unstructured => {
                push(repairs, Repair::Header8bit);
                let text = decode_text(&unfolded, hint);
                words::encode_unstructured(&text, name_s.len())
            }
            FieldKind::Address => {
                push(repairs, Repair::Header8bit);
                encode_addresses(&name_s, &unfolded, hint)?
            }
            FieldKind::Params => {
                push(repairs, Repair::Param8bit);
                encode_params_field(&name_s, &unfolded, hint)
            }
        }
    };
    let mut out = Vec::with_capacity(name.len() + new_value.len() + 4);
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(new_value.trim_start().as_bytes());
    out.extend_from_slice(b"\r\n");
    if longest_line(&out) > crate::mime::validate::MAX_LINE {
        return Err(QuarantineReason::Unrepairable {
            detail: format!("the {name_s} header has a word longer than 998 characters"),
        });
    }
    Ok(out)
}

fn push(repairs: &mut Vec<Repair>, r: Repair) {
    if !repairs.contains(&r) {
        repairs.push(r);
    }
}

/// Decode header bytes to text: raw 8-bit via charset detection (valid UTF-8
/// first, then the message's own body charset as a hint), then any RFC 2047
/// encoded words already present.
pub fn decode_text(raw: &[u8], hint: Option<&[u8]>) -> String {
    let detected = charset::detect(raw, hint);
    let (text, _) = detected.decoder.decode(raw);
    words::decode_unstructured(text.as_bytes())
}

/// Fold an ASCII value at whitespace so that lines stay within 78 characters where
/// possible (RFC 5322 §2.2.3); returns the value (without the name).
pub fn fold(name: &str, value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 16);
    let mut line_len = name.len() + 2;
    for (i, word) in value.split_ascii_whitespace().enumerate() {
        if i > 0 {
            if line_len + 1 + word.len() > 78 {
                out.push_str("\r\n ");
                line_len = 1;
            } else {
                out.push(' ');
                line_len += 1;
            }
        }
        out.push_str(word);
        line_len += word.len();
    }
    out
}

/// Split an address list on commas outside quotes, comments and angle brackets.
fn split_addresses(v: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let (mut depth, mut quoted, mut angle, mut esc) = (0usize, false, false, false);
    let mut start = 0;
    for (i, &b) in v.iter().enumerate() {
        if esc {
            esc = false;
            continue;
        }
        match b {
            b'\\' if quoted || depth > 0 => esc = true,
            b'"' if depth == 0 => quoted = !quoted,
            b'(' if !quoted => depth += 1,
            b')' if !quoted && depth > 0 => depth -= 1,
            b'<' if !quoted && depth == 0 => angle = true,
            b'>' if !quoted && depth == 0 => angle = false,
            b',' if !quoted && depth == 0 && !angle => {
                out.push(&v[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&v[start..]);
    out
}

/// Re-encode the display names (and comments) of an address list with 8-bit text.
fn encode_addresses(
    name: &str,
    value: &[u8],
    hint: Option<&[u8]>,
) -> Result<String, QuarantineReason> {
    let mut items = Vec::new();
    for addr in split_addresses(value) {
        let a = addr.trim_ascii();
        if a.is_empty() {
            continue;
        }
        if charset::is_ascii(a) {
            items.push(String::from_utf8_lossy(a).into_owned());
            continue;
        }
        let (display, rest) = match memchr::memrchr(b'<', a) {
            Some(lt) => (a[..lt].trim_ascii(), &a[lt..]),
            None => {
                // `addr (Comment)` form: only a comment may carry text.
                match memchr::memchr(b'(', a) {
                    Some(p) if charset::is_ascii(&a[..p]) => {
                        let comment = a[p..].trim_ascii();
                        let inner = comment
                            .strip_prefix(b"(")
                            .and_then(|c| c.strip_suffix(b")"))
                            .unwrap_or(comment);
                        let text = decode_text(inner, hint);
                        items.push(format!(
                            "{} ({})",
                            String::from_utf8_lossy(a[..p].trim_ascii()),
                            words::encode_phrase(&text)
                        ));
                        continue;
                    }
                    _ => return Err(non_ascii_address(name)),
                }
            }
        };
        if !charset::is_ascii(rest) {
            return Err(non_ascii_address(name));
        }
        let unquoted = display
            .strip_prefix(b"\"")
            .and_then(|d| d.strip_suffix(b"\""))
            .map(|d| {
                let mut v = Vec::with_capacity(d.len());
                let mut esc = false;
                for &b in d {
                    if b == b'\\' && !esc {
                        esc = true;
                        continue;
                    }
                    esc = false;
                    v.push(b);
                }
                v
            })
            .unwrap_or_else(|| display.to_vec());
        let text = decode_text(&unquoted, hint);
        items.push(format!(
            "{} {}",
            words::encode_phrase(&text),
            String::from_utf8_lossy(rest)
        ));
    }
    // One address per line keeps every line short.
    Ok(items.join(",\r\n "))
}

fn non_ascii_address(name: &str) -> QuarantineReason {
    QuarantineReason::Unrepairable {
        detail: format!(
            "the {name} header holds an e-mail address with non-ASCII characters, \
             which Exchange cannot take without UTF-8 header support"
        ),
    }
}

/// Rebuild a Content-Type / Content-Disposition value with 8-bit parameters
/// encoded per RFC 2231.
fn encode_params_field(name: &str, value: &[u8], hint: Option<&[u8]>) -> String {
    let (t, params) = words::split_content_type(value);
    let ty = String::from_utf8_lossy(&t).into_owned();
    let mut rebuilt: Vec<(String, String)> = Vec::with_capacity(params.len());
    for p in params {
        let text = param_text(&p, hint);
        rebuilt.push((p.name.clone(), text));
    }
    serialize_params(name, &ty, &rebuilt)
}

/// The text of a parameter: RFC 2231 charset when given, else detection.
pub fn param_text(p: &words::Param, hint: Option<&[u8]>) -> String {
    if charset::is_ascii(&p.value) {
        return String::from_utf8_lossy(&p.value).into_owned();
    }
    if let Some(label) = &p.charset
        && let Some(d) = charset::decoder_for_label(label.as_bytes())
    {
        let (text, errors) = d.decode(&p.value);
        if !errors {
            return text.into_owned();
        }
    }
    decode_text(&p.value, hint)
}

/// Serialise `type/subtype; a=b; …` folded one parameter per line.
pub fn serialize_params(name: &str, ty: &str, params: &[(String, String)]) -> String {
    let mut out = ty.to_string();
    let mut line_len = name.len() + 2 + ty.len();
    for (n, v) in params {
        // A plain token needs no quotes (RFC 2045 §5.1): `charset=UTF-8`.
        let token = !v.is_empty()
            && v.len() <= 60
            && v.bytes()
                .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?=".contains(&b));
        let p = if token {
            format!("{n}={v}")
        } else {
            words::encode_param(n, v)
        };
        for (i, piece) in p.split("; ").enumerate() {
            let _ = i;
            if line_len + 2 + piece.len() > 78 {
                out.push_str(";\r\n ");
                line_len = 1;
            } else {
                out.push_str("; ");
                line_len += 2;
            }
            out.push_str(piece);
            line_len += piece.len();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(m: &[u8]) -> Field {
        header::scan(m, 0).fields.remove(0)
    }

    #[test]
    fn eight_bit_subject_becomes_encoded_words() {
        let m = "Subject: Grüße aus Köln\r\n\r\n".as_bytes();
        let mut r = Vec::new();
        let out = repair_field(m, &field(m), None, &mut r).unwrap();
        assert!(out.is_ascii());
        assert_eq!(r, vec![Repair::Header8bit]);
        let parsed = mailparse::parse_header(&out).unwrap().0;
        assert_eq!(parsed.get_value(), "Grüße aus Köln");
    }

    #[test]
    fn latin1_display_name_uses_hint_and_keeps_address() {
        let m = b"From: J\xfcrgen M\xfcller <jm@example.org>\r\n\r\n";
        let mut r = Vec::new();
        let out = repair_field(m, &field(m), Some(b"iso-8859-1"), &mut r).unwrap();
        assert!(out.is_ascii());
        let h = mailparse::parse_header(&out).unwrap().0;
        let addrs = mailparse::addrparse_header(&h).unwrap();
        match &addrs[0] {
            mailparse::MailAddr::Single(s) => {
                assert_eq!(s.display_name.as_deref(), Some("Jürgen Müller"));
                assert_eq!(s.addr, "jm@example.org");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn eight_bit_filename_becomes_rfc2231() {
        let m = "Content-Disposition: attachment; filename=\"Résumé.pdf\"\r\n\r\n".as_bytes();
        let mut r = Vec::new();
        let out = repair_field(m, &field(m), None, &mut r).unwrap();
        assert!(out.is_ascii(), "{}", String::from_utf8_lossy(&out));
        let (_, params) = words::split_content_type(&header::unfold(&out[21..]));
        let p = params.iter().find(|p| p.name == "filename").unwrap();
        assert_eq!(param_text(p, None), "Résumé.pdf");
    }

    #[test]
    fn non_ascii_address_is_quarantined() {
        let m = "To: <jürgen@bücher.example>\r\n\r\n".as_bytes();
        let mut r = Vec::new();
        assert!(repair_field(m, &field(m), None, &mut r).is_err());
    }

    #[test]
    fn long_ascii_header_is_refolded() {
        let long = vec!["word"; 400].join(" ");
        let m = format!("X-Long: {long}\r\n\r\n");
        let mut r = Vec::new();
        let out = repair_field(m.as_bytes(), &field(m.as_bytes()), None, &mut r).unwrap();
        assert!(longest_line(&out) <= 78);
        assert_eq!(header::unfold(&out[8..]), long.as_bytes());
    }
}
