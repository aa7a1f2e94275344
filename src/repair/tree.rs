//! Rewriting a message part by part. Untouched parts, delimiter lines, preambles
//! and epilogues are copied byte for byte; only what is broken is re-emitted.

use std::ops::Range;

use crate::mime::header::{self, Field};
use crate::mime::lines;
use crate::mime::scan::{self, Defect, Kind, Part};
use crate::mime::validate;
use crate::mime::words;

use super::body::{self, LeafFix};
use super::fields;
use super::{QuarantineReason, Repair};

/// The rewriting state for one message.
pub struct Rewriter<'m> {
    /// The CRLF-normalised message.
    pub msg: &'m [u8],
    /// The message as it was read (for the exact bytes of binary parts).
    pub original: &'m [u8],
    /// Charset hint for raw 8-bit header text: the first declared body charset.
    pub hint: Option<Vec<u8>>,
    /// Repairs made so far, in order, without repeats.
    pub repairs: Vec<Repair>,
    inserted: Option<Vec<usize>>,
}

/// Header edits decided while looking at a part's body.
#[derive(Default)]
struct Edits {
    cte: Option<&'static str>,
    charset: Option<String>,
    content_type: Option<String>,
    add: Vec<Vec<u8>>,
}

impl<'m> Rewriter<'m> {
    /// A rewriter over a normalised message and its original bytes.
    pub fn new(msg: &'m [u8], original: &'m [u8]) -> Self {
        Rewriter {
            msg,
            original,
            hint: None,
            repairs: Vec::new(),
            inserted: None,
        }
    }

    fn note(&mut self, r: Repair) {
        if !self.repairs.contains(&r) {
            self.repairs.push(r);
        }
    }

    /// The exact original bytes behind a range of the normalised message.
    fn raw(&mut self, range: Range<usize>) -> Vec<u8> {
        if self.original.len() == self.msg.len() {
            return self.msg[range].to_vec();
        }
        let ins = self
            .inserted
            .get_or_insert_with(|| lines::insertions(self.original));
        lines::original_range(self.msg, range, ins)
    }

    /// Emit `part` into `out`. `top_add` are extra fields for the message header.
    pub fn emit(
        &mut self,
        part: &Part,
        out: &mut Vec<u8>,
        parent_protected: bool,
        top_add: &[Vec<u8>],
    ) -> Result<(), QuarantineReason> {
        let msg = self.msg;
        if parent_protected {
            // Inside a signature: copied as it is (validate() on the output
            // catches anything Exchange would refuse, and that quarantines).
            out.extend_from_slice(&msg[part.start..part.body.end]);
            return Ok(());
        }
        let protected = validate::is_protected(part);
        let mut edits = Edits {
            add: top_add.to_vec(),
            ..Edits::default()
        };
        let mut body_out: Vec<u8> = Vec::new();
        match &part.kind {
            Kind::Leaf
                if !protected
                    && (part.content_type.is_multipart()
                        || matches!(
                            part.content_type.mime_type.as_str(),
                            "message/rfc822" | "message/global"
                        ))
                    && matches!(
                        part.encoding.as_deref(),
                        Some("base64" | "quoted-printable")
                    ) =>
            {
                // An encoded composite: decode it, repair what is inside like any
                // message, and declare the identity encoding it must have.
                let raw = &msg[part.body.clone()];
                let decoded = if part.encoding.as_deref() == Some("base64") {
                    crate::mime::encoding::decode_base64_lenient(raw).0
                } else {
                    crate::mime::encoding::decode_qp_lenient(raw).0
                };
                let (norm, _) = lines::to_crlf(&decoded);
                let mut inner = Rewriter::new(&norm, &decoded);
                inner.hint = self.hint.clone();
                let inner_out = if part.content_type.is_multipart() {
                    // The part's own header declares the boundary: split the
                    // decoded body with it.
                    let boundary = part
                        .content_type
                        .param("boundary")
                        .unwrap_or_default()
                        .to_vec();
                    let fake = Part {
                        start: 0,
                        header: header::scan(b"", 0),
                        body: 0..norm.len(),
                        kind: match scan::split_with_boundary(&norm, 0..norm.len(), &boundary, 1) {
                            Some(mp) => Kind::Multipart(mp),
                            None => Kind::Leaf,
                        },
                        ..part.clone()
                    };
                    let mut out = Vec::new();
                    match &fake.kind {
                        Kind::Multipart(mp) => inner.emit_multipart(&fake, mp, &mut out, false)?,
                        _ => out.extend_from_slice(&norm),
                    }
                    out
                } else {
                    let root = scan::scan(&norm);
                    let mut out = Vec::new();
                    inner.emit(&root, &mut out, false, &[])?;
                    out
                };
                for r in inner.repairs {
                    self.note(r);
                }
                self.note(Repair::CompositeDecoded);
                edits.cte = Some(if crate::mime::charset::is_ascii(&inner_out) {
                    "7bit"
                } else {
                    "8bit"
                });
                body_out = inner_out;
            }
            Kind::Leaf
                if part.defects.contains(&Defect::NoBoundary)
                    || part.defects.contains(&Defect::BoundaryNotFound)
                    || part.defects.contains(&Defect::EmbeddedNotAMessage) =>
            {
                let recovered = if part.content_type.is_multipart() {
                    recover_boundary(msg, part)
                } else {
                    None
                };
                if let Some((boundary, mp)) = recovered {
                    self.note(Repair::BoundaryRecovered);
                    if validate::boundary_ok(boundary.as_bytes()) || protected {
                        edits.content_type =
                            Some(content_type_with(msg, part, &[("boundary", &boundary)]));
                        self.emit_multipart(part, &mp, &mut body_out, protected)?;
                    } else {
                        edits.content_type =
                            Some(self.emit_with_new_boundary(part, &mp, &mut body_out)?);
                    }
                } else {
                    // RFC 2046 §5.1.1 offers no way to split it (or the attached
                    // "message" has no header): show it as text, every byte kept.
                    self.note(if part.content_type.is_multipart() {
                        Repair::MultipartAsText
                    } else {
                        Repair::EmbeddedAsText
                    });
                    let mut as_text = part.clone();
                    as_text.content_type.mime_type = "text/plain".into();
                    as_text.content_type.params.retain(|p| p.name == "charset");
                    let fix = self.leaf(&as_text, false)?;
                    let cs = fix.charset.clone().or_else(|| {
                        as_text
                            .content_type
                            .param("charset")
                            .map(|c| String::from_utf8_lossy(c).into_owned())
                    });
                    edits.content_type = Some(match cs {
                        Some(c) => format!("text/plain; charset={}", quote_if_needed(&c)),
                        None => "text/plain".to_string(),
                    });
                    edits.cte = fix.cte;
                    body_out = fix.body.unwrap_or_else(|| msg[part.body.clone()].to_vec());
                }
            }
            Kind::Leaf => {
                let fix = self.leaf(part, protected)?;
                edits.cte = fix.cte;
                edits.charset = fix.charset;
                body_out = fix.body.unwrap_or_else(|| msg[part.body.clone()].to_vec());
            }
            Kind::Multipart(mp) if !validate::boundary_ok(&mp.boundary) && !protected => {
                edits.content_type = Some(self.emit_with_new_boundary(part, mp, &mut body_out)?);
            }
            Kind::Multipart(mp) => {
                self.emit_multipart(part, mp, &mut body_out, protected)?;
                if !protected
                    && matches!(
                        part.encoding.as_deref(),
                        Some("base64" | "quoted-printable")
                    )
                {
                    // Declared encoded, but its delimiters are plain text: the
                    // declaration is what is wrong (RFC 2045 §6.4).
                    self.note(Repair::CompositeDecoded);
                    edits.cte = Some(if crate::mime::charset::is_ascii(&body_out) {
                        "7bit"
                    } else {
                        "8bit"
                    });
                }
            }
            Kind::Message(inner) => {
                if part.defects.contains(&Defect::EmbeddedFromLine) {
                    // The envelope line before the embedded header is dropped
                    // (emitting starts at the embedded header).
                    self.note(Repair::MboxFromLine);
                }
                self.emit(inner, &mut body_out, protected, &[])?;
            }
        }
        if edits.content_type.is_none()
            && !parent_protected
            && validate::content_type_syntax_broken(msg, part)
        {
            self.note(Repair::ContentTypeRewritten);
            edits.content_type = Some(content_type_with(msg, part, &[]));
        }
        self.emit_header(part, &edits, out)?;
        out.extend_from_slice(&body_out);
        Ok(())
    }

    fn leaf(&mut self, part: &Part, protected: bool) -> Result<LeafFix, QuarantineReason> {
        let range = part.body.clone();
        let msg = self.msg;
        // Binary parts need the bytes as they were before CRLF normalisation; they
        // are rare, so those are only computed when the first pass asks for them.
        let mut need_raw = false;
        let first = body::repair_leaf(part, &msg[range.clone()], protected, &mut || {
            need_raw = true;
            Vec::new()
        })?;
        let fix = if need_raw {
            let original = self.raw(range.clone());
            body::repair_leaf(part, &msg[range], protected, &mut || original.clone())?
        } else {
            first
        };
        for r in &fix.repairs {
            self.note(*r);
        }
        Ok(fix)
    }

    /// Emit a multipart with a new boundary (RFC 2046 §5.1.1 grammar) in place of
    /// one parsers disagree on; returns the new Content-Type value.
    fn emit_with_new_boundary(
        &mut self,
        part: &Part,
        mp: &scan::Multipart,
        body_out: &mut Vec<u8>,
    ) -> Result<String, QuarantineReason> {
        use sha2::Digest;
        let msg = self.msg;
        let new = format!(
            "=_mailstage_{}",
            hex::encode(&sha2::Sha256::digest(&mp.boundary)[..12])
        );
        self.note(Repair::BoundaryReplaced);
        let pre = &msg[mp.preamble.clone()];
        body_out.extend_from_slice(pre);
        if !pre.is_empty() {
            body_out.extend_from_slice(b"\r\n");
        }
        for child in &mp.parts {
            body_out.extend_from_slice(format!("--{new}\r\n").as_bytes());
            self.emit(child, body_out, false, &[])?;
            body_out.extend_from_slice(b"\r\n");
        }
        body_out.extend_from_slice(format!("--{new}--\r\n").as_bytes());
        body_out.extend_from_slice(&msg[mp.epilogue.clone()]);
        Ok(content_type_with(msg, part, &[("boundary", &new)]))
    }

    fn emit_multipart(
        &mut self,
        part: &Part,
        mp: &scan::Multipart,
        out: &mut Vec<u8>,
        protected: bool,
    ) -> Result<(), QuarantineReason> {
        let msg = self.msg;
        if mp.parts.is_empty() {
            out.extend_from_slice(&msg[part.body.clone()]);
            return Ok(());
        }
        // Preamble and the first delimiter line.
        out.extend_from_slice(&msg[part.body.start..mp.parts[0].start]);
        for (i, child) in mp.parts.iter().enumerate() {
            self.emit(child, out, protected, &[])?;
            let gap_end = mp.parts.get(i + 1).map_or(part.body.end, |n| n.start);
            out.extend_from_slice(&msg[child.body.end..gap_end]);
        }
        if !mp.closed {
            if protected {
                return Err(QuarantineReason::Signed {
                    detail: "the signed multipart has no closing boundary".into(),
                });
            }
            self.note(Repair::CloseDelimiterAdded);
            out.extend_from_slice(b"\r\n--");
            out.extend_from_slice(&mp.boundary);
            out.extend_from_slice(b"--\r\n");
        }
        Ok(())
    }

    fn emit_header(
        &mut self,
        part: &Part,
        edits: &Edits,
        out: &mut Vec<u8>,
    ) -> Result<(), QuarantineReason> {
        let msg = self.msg;
        let h = &part.header;
        // Bytes before the first field (a leading continuation line) are dropped:
        // they continue nothing (RFC 5322 §2.2.3). Kept as a fixed-name field.
        if let Some(first) = h.fields.first()
            && first.whole.start > part.start
        {
            self.note(Repair::LeadingContinuation);
            let junk = header::unfold(&msg[part.start..first.whole.start]);
            if !junk.is_empty() {
                let text = fields::decode_text(&junk, self.hint.as_deref());
                let v = words::encode_unstructured(&text, "X-Mailstage-Stray-Header".len());
                out.extend_from_slice(
                    format!("X-Mailstage-Stray-Header: {}\r\n", v.trim_start()).as_bytes(),
                );
            }
        }
        let mut seen_ct = false;
        let mut wrote_cte = false;
        let mut wrote_ct = false;
        for f in &h.fields {
            let name = &msg[f.name.clone()];
            let is_ct = name.eq_ignore_ascii_case(b"content-type");
            let is_cte = name.eq_ignore_ascii_case(b"content-transfer-encoding");
            if is_ct {
                if seen_ct {
                    // RFC 2045 allows one Content-Type; the first one decided the
                    // structure. Others keep their text under one fixed name (never
                    // a per-message name: EXCHANGE.md, named properties).
                    self.note(Repair::DuplicateContentType);
                    out.extend_from_slice(b"X-Original-Content-Type:");
                    out.extend_from_slice(&self.field_value_ascii(f)?);
                    continue;
                }
                seen_ct = true;
                if edits.content_type.is_some() || edits.charset.is_some() {
                    let v = match &edits.content_type {
                        Some(v) => v.clone(),
                        None => content_type_with(
                            msg,
                            part,
                            &[("charset", edits.charset.as_deref().unwrap_or(""))],
                        ),
                    };
                    out.extend_from_slice(b"Content-Type: ");
                    out.extend_from_slice(v.as_bytes());
                    out.extend_from_slice(b"\r\n");
                    wrote_ct = true;
                    continue;
                }
            }
            if is_cte && edits.cte.is_some() {
                if !wrote_cte {
                    out.extend_from_slice(b"Content-Transfer-Encoding: ");
                    out.extend_from_slice(edits.cte.unwrap_or("7bit").as_bytes());
                    out.extend_from_slice(b"\r\n");
                    wrote_cte = true;
                }
                continue;
            }
            if fields::needs_repair(msg, f) {
                let hint = self.hint.clone();
                let new = fields::repair_field(msg, f, hint.as_deref(), &mut self.repairs)?;
                out.extend_from_slice(&new);
            } else {
                out.extend_from_slice(&msg[f.whole.clone()]);
                if !msg[f.whole.clone()].ends_with(b"\n") {
                    self.note(Repair::TerminatedHeader);
                    out.extend_from_slice(b"\r\n");
                }
            }
        }
        if !wrote_ct && (edits.content_type.is_some() || edits.charset.is_some()) {
            let v = match &edits.content_type {
                Some(v) => v.clone(),
                None => format!(
                    "{}; charset={}",
                    part.content_type.mime_type,
                    quote_if_needed(edits.charset.as_deref().unwrap_or("us-ascii"))
                ),
            };
            out.extend_from_slice(format!("Content-Type: {v}\r\n").as_bytes());
        }
        if !wrote_cte && let Some(c) = edits.cte {
            out.extend_from_slice(format!("Content-Transfer-Encoding: {c}\r\n").as_bytes());
        }
        for a in &edits.add {
            out.extend_from_slice(a);
        }
        if h.has_separator {
            out.extend_from_slice(&msg[h.end..h.body_start]);
        } else {
            if part.body.start < part.body.end || h.fields.is_empty() {
                self.note(Repair::HeaderSeparator);
            }
            out.extend_from_slice(b"\r\n");
        }
        Ok(())
    }

    /// A field's value made 7-bit (for renamed duplicates).
    fn field_value_ascii(&mut self, f: &Field) -> Result<Vec<u8>, QuarantineReason> {
        let msg = self.msg;
        if fields::needs_repair(msg, f) {
            let hint = self.hint.clone();
            let new = fields::repair_field(msg, f, hint.as_deref(), &mut self.repairs)?;
            let colon = memchr::memchr(b':', &new).map_or(0, |c| c + 1);
            return Ok(new[colon..].to_vec());
        }
        let mut v = msg[f.value.clone()].to_vec();
        v.extend_from_slice(b"\r\n");
        Ok(v)
    }
}

/// Quote a parameter value when it is not a plain token (RFC 2045 §5.1).
pub fn quote_if_needed(v: &str) -> String {
    let token = !v.is_empty()
        && v.bytes()
            .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?=".contains(&b));
    if token {
        v.to_string()
    } else {
        format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

/// The part's Content-Type value with some parameters set (replacing same-named
/// ones), other parameters kept in order.
fn content_type_with(msg: &[u8], part: &Part, set: &[(&str, &str)]) -> String {
    let raw = part
        .header
        .get(msg, "content-type")
        .map(header::unfold)
        .unwrap_or_default();
    let (ty, params) = words::split_content_type(&raw);
    let ty = if ty.is_empty() || !ty.contains(&b'/') {
        part.content_type.mime_type.clone()
    } else {
        String::from_utf8_lossy(&ty).to_ascii_lowercase()
    };
    let mut list: Vec<(String, String)> = Vec::new();
    for p in &params {
        if set.iter().any(|(n, _)| *n == p.name) {
            continue;
        }
        list.push((p.name.clone(), fields::param_text(p, None)));
    }
    for (n, v) in set {
        list.push(((*n).to_string(), (*v).to_string()));
    }
    fields::serialize_params("Content-Type", &ty, &list)
}

/// A multipart without a usable boundary: find the delimiter lines it actually
/// has (a line `--X` whose `X` recurs, or closes with `--X--`).
fn recover_boundary(msg: &[u8], part: &Part) -> Option<(String, scan::Multipart)> {
    let body = &msg[part.body.clone()];
    for line in body.split(|&b| b == b'\n').take(200) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(cand) = line.strip_prefix(b"--") else {
            continue;
        };
        let cand = cand.trim_ascii_end();
        if cand.len() < 4
            || cand.ends_with(b"--")
            || !cand.iter().all(|b| b.is_ascii_graphic() || *b == b' ')
        {
            continue;
        }
        let mp = scan::split_with_boundary(msg, part.body.clone(), cand, 1)?;
        if mp.closed || mp.parts.len() > 1 {
            return Some((String::from_utf8_lossy(cand).into_owned(), mp));
        }
    }
    None
}
