//! Header text to 7-bit: RFC 2047 encoded words and RFC 2231 parameter values.
//!
//! Exchange 2007 has no `UTF8=ACCEPT` and rejects raw 8-bit header bytes with
//! `NO Message contains invalid header` (EXCHANGE.md), so mailstage rewrites such text
//! as UTF-8 encoded words (`=?UTF-8?B?…?=` / `=?UTF-8?Q?…?=`) and parameter values as
//! RFC 2231 extended values (`name*=UTF-8''%C3%A9`). The encoders produce only ASCII
//! and fold with CRLF + space; the parameter decoder is lenient and never panics.

use std::collections::HashMap;

use super::encoding::b64_encode_str;

/// Longest encoded word (RFC 2047 §2).
const MAX_WORD: usize = 75;
/// `=?UTF-8?B?` + `?=`.
const WORD_OVERHEAD: usize = 12;
/// Lines that contain an encoded word are limited to 76 characters (RFC 2047 §2).
const EW_LINE: usize = 76;
/// Recommended line length (RFC 5322 §2.1.1).
const SOFT_LINE: usize = 78;
/// A word this long cannot stay plain: with the space before it, a line would pass
/// the 998-octet hard limit (RFC 5322 §2.1.1), so it is encoded and split.
const MAX_PLAIN_WORD: usize = 997;
/// Longest value text of one RFC 2231 parameter piece before continuations are used.
const PARAM_PIECE: usize = 60;

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

/// Which RFC 2047 §5 context an encoded word is written for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Context {
    /// §5 rule 1: `*text` (Subject, Comments, unstructured X- fields).
    Text,
    /// §5 rule 3: a `phrase` (display name); Q has a restricted character set.
    Phrase,
}

/// True if `b` may stand for itself inside a Q-encoded word.
fn q_literal(b: u8, ctx: Context) -> bool {
    match ctx {
        // §4.2 rule 3: printable ASCII other than "=", "?" and "_".
        Context::Text => matches!(b, b'!'..=b'~') && !matches!(b, b'=' | b'?' | b'_'),
        // §5 rule 3: letters, digits, "!", "*", "+", "-", "/".
        Context::Phrase => {
            b.is_ascii_alphanumeric() || matches!(b, b'!' | b'*' | b'+' | b'-' | b'/')
        }
    }
}

/// Length of `bytes` in Q encoding (§4.2: space becomes "_", others "=XX").
fn q_len(bytes: &[u8], ctx: Context) -> usize {
    bytes
        .iter()
        .map(|&b| if b == b' ' || q_literal(b, ctx) { 1 } else { 3 })
        .sum()
}

fn q_push(bytes: &[u8], ctx: Context, out: &mut String) {
    for &b in bytes {
        if b == b' ' {
            out.push('_');
        } else if q_literal(b, ctx) {
            out.push(char::from(b));
        } else {
            out.push('=');
            out.push(char::from(HEX_UPPER[usize::from(b >> 4)]));
            out.push(char::from(HEX_UPPER[usize::from(b & 0x0F)]));
        }
    }
}

/// Length of `n` octets in B encoding (§4.1).
fn b_len(n: usize) -> usize {
    n.div_ceil(3) * 4
}

/// Header value under construction, tracking the current line for folding.
struct Folder {
    out: String,
    line_len: usize,
    /// Atoms (words or encoded words) on the current line.
    atoms: usize,
    /// The current line holds an encoded word (limit 76, RFC 2047 §2).
    has_ew: bool,
    /// Fold lines; when false everything stays on one line.
    fold: bool,
}

impl Folder {
    fn can_fold(&self, ws: &str) -> bool {
        // Never fold before the first atom of a line: that would leave a line of
        // whitespace only (RFC 5322 §3.2.2 forbids it).
        self.fold && self.atoms > 0 && !ws.is_empty()
    }

    /// Fold inside the whitespace `ws`, so that unfolding (removing CRLF, RFC 5322
    /// §2.2.3) gives back `ws` exactly. CRLF goes before its last character, which also
    /// suits parsers that turn a fold into one space and drop the whitespace after it;
    /// if the rest of `ws` does not fit on the current line, CRLF goes before all of it.
    fn fold_in(&mut self, ws: &str) {
        let limit = if self.has_ew { EW_LINE } else { SOFT_LINE };
        let split = if self.line_len + ws.len() - 1 <= limit {
            ws.len() - 1
        } else {
            0
        };
        let (head, tail) = ws.split_at(split);
        self.out.push_str(head);
        self.out.push_str("\r\n");
        self.out.push_str(tail);
        self.line_len = tail.len();
        self.atoms = 0;
        self.has_ew = false;
    }

    /// Longest encoded word for the rest of a line just folded (which may start with
    /// several whitespace characters), but at least `min_word`.
    fn fresh_line_word(&self, min_word: usize) -> usize {
        MAX_WORD
            .min(EW_LINE.saturating_sub(self.line_len))
            .max(min_word)
    }

    fn push_ws(&mut self, ws: &str) {
        self.out.push_str(ws);
        self.line_len += ws.len();
    }

    fn push_plain(&mut self, ws: &str, word: &str) {
        let limit = if self.has_ew { EW_LINE } else { SOFT_LINE };
        if self.line_len + ws.len() + word.len() > limit && self.can_fold(ws) {
            self.fold_in(ws);
        } else {
            self.push_ws(ws);
        }
        self.out.push_str(word);
        self.line_len += word.len();
        self.atoms += 1;
    }

    /// Write `run` as encoded words, the first one after `ws`, the others after a
    /// single space (whitespace between encoded words is not displayed, §6.2).
    fn push_encoded(&mut self, ws: &str, run: &str, ctx: Context) {
        let use_q = q_len(run.as_bytes(), ctx) <= b_len(run.len());
        let mut rest = run;
        let mut sep = ws;
        while let Some(first) = rest.chars().next() {
            let mut buf = [0u8; 4];
            let first = first.encode_utf8(&mut buf).as_bytes();
            let min_word = WORD_OVERHEAD
                + if use_q {
                    q_len(first, ctx)
                } else {
                    b_len(first.len())
                };
            let avail = EW_LINE.saturating_sub(self.line_len + sep.len());
            // Encoded length of all the rest (a word is never shorter than its text).
            let whole = if rest.len() > MAX_WORD {
                usize::MAX
            } else if use_q {
                WORD_OVERHEAD + q_len(rest.as_bytes(), ctx)
            } else {
                WORD_OVERHEAD + b_len(rest.len())
            };
            let limit = if !self.fold || avail >= MAX_WORD {
                MAX_WORD
            } else if whole > avail && whole <= MAX_WORD && self.can_fold(sep) {
                // The rest fits in one word on a fresh line: fold rather than split
                // it into a sliver here.
                self.fold_in(sep);
                sep = "";
                self.fresh_line_word(min_word)
            } else if avail >= min_word {
                avail
            } else if self.can_fold(sep) {
                self.fold_in(sep);
                sep = "";
                self.fresh_line_word(min_word)
            } else {
                MAX_WORD
            };
            self.push_ws(sep);
            let take = chunk_len(rest, limit - WORD_OVERHEAD, use_q, ctx);
            let (chunk, tail) = rest.split_at(take);
            let start = self.out.len();
            if use_q {
                self.out.push_str("=?UTF-8?Q?");
                q_push(chunk.as_bytes(), ctx, &mut self.out);
            } else {
                self.out.push_str("=?UTF-8?B?");
                b64_encode_str(chunk.as_bytes(), &mut self.out);
            }
            self.out.push_str("?=");
            self.line_len += self.out.len() - start;
            self.atoms += 1;
            self.has_ew = true;
            rest = tail;
            sep = " ";
        }
    }
}

/// Octets of whole characters at the start of `s` whose encoding fits in `budget`
/// characters; at least one character, so that encoding always progresses (callers
/// make sure the budget holds one). Characters are never split across encoded words
/// (RFC 2047 §5 rule 3, last paragraph).
fn chunk_len(s: &str, budget: usize, use_q: bool, ctx: Context) -> usize {
    let max_octets = budget / 4 * 3;
    let mut used = 0;
    let mut end = 0;
    for (i, c) in s.char_indices() {
        let next = i + c.len_utf8();
        if use_q {
            used += q_len(&s.as_bytes()[i..next], ctx);
            if used > budget {
                break;
            }
        } else if next > max_octets {
            break;
        }
        end = next;
    }
    if end == 0 {
        s.chars().next().map_or(0, char::len_utf8)
    } else {
        end
    }
}

/// A word of a header value: `text[ws..start]` is the whitespace before it,
/// `text[start..end]` the word.
struct Word {
    ws: usize,
    start: usize,
    end: usize,
}

/// Split `text` into words and the whitespace before each, plus the offset of the
/// trailing whitespace; whitespace is SPACE and TAB (RFC 5322 WSP).
fn split_words(text: &str) -> (Vec<Word>, usize) {
    let bytes = text.as_bytes();
    let mut words = Vec::with_capacity(bytes.len() / 6 + 1);
    let mut i = 0;
    loop {
        let ws = i;
        while i < bytes.len() && matches!(bytes[i], b' ' | b'\t') {
            i += 1;
        }
        if i == bytes.len() {
            return (words, ws);
        }
        let start = i;
        while i < bytes.len() && !matches!(bytes[i], b' ' | b'\t') {
            i += 1;
        }
        words.push(Word { ws, start, end: i });
    }
}

/// True if `word` could be taken for an encoded word by a decoder (RFC 2047 §6.1
/// note: text that looks like one must be encoded itself).
fn looks_encoded(word: &str) -> bool {
    word.as_bytes().windows(2).any(|w| w == b"=?")
}

/// RFC 5322 §3.2.3 atext.
fn is_atext(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~".contains(&b)
}

fn needs_encoding(word: &str, ctx: Context) -> bool {
    let bad_byte = match ctx {
        Context::Text => word.bytes().any(|b| !(b'!'..=b'~').contains(&b)),
        Context::Phrase => !word.bytes().all(is_atext),
    };
    bad_byte || word.len() > MAX_PLAIN_WORD || looks_encoded(word)
}

/// Lay out `text` word by word: plain words as they are, each maximal run of words
/// that need encoding (with the whitespace between them, which must be inside the
/// encoded text since whitespace between encoded words is not displayed, §6.2) as
/// encoded words.
fn encode_words(text: &str, ctx: Context, folder: &mut Folder) {
    let (words, trailing) = split_words(text);
    let mut k = 0;
    while let Some(w) = words.get(k) {
        let ws = &text[w.ws..w.start];
        k += 1;
        if !needs_encoding(&text[w.start..w.end], ctx) {
            folder.push_plain(ws, &text[w.start..w.end]);
            continue;
        }
        let mut end = w.end;
        while let Some(next) = words.get(k) {
            if !needs_encoding(&text[next.start..next.end], ctx) {
                break;
            }
            end = next.end;
            k += 1;
        }
        folder.push_encoded(ws, &text[w.start..end], ctx);
    }
    folder.push_ws(&text[trailing..]);
}

/// Encode unstructured header text (a Subject value, already decoded to a string)
/// into a 7-bit header-ready value (RFC 2047 §5 rule 1).
///
/// Words (runs between spaces and tabs) of printable ASCII are kept as they are;
/// words with non-ASCII or control characters, words that look like an encoded word
/// (contain `=?`) and words too long for the 998-octet line limit become
/// `=?UTF-8?Q?…?=` or `=?UTF-8?B?…?=` encoded words, whichever is shorter for the run.
/// Each encoded word is at most 75 characters (§2) and holds whole characters only
/// (§5). The value is folded with CRLF + the whitespace character already there (a
/// space, or one space between encoded words), so that no line exceeds 78 characters,
/// and no line with an encoded word exceeds 76 (§2), where whitespace allows it; the
/// first line counts `name_len + 2` for `Name: `. ASCII text that fits comes back
/// unchanged. Whitespace is kept as it is, but note that decoders drop leading and
/// trailing whitespace of a field value.
pub fn encode_unstructured(text: &str, name_len: usize) -> String {
    let mut folder = Folder {
        out: String::with_capacity(text.len() + text.len() / 2 + 16),
        line_len: name_len.saturating_add(2),
        atoms: 0,
        has_ew: false,
        fold: true,
    };
    encode_words(text, Context::Text, &mut folder);
    folder.out
}

/// Encode a display name for use before `<addr>` (RFC 5322 §3.4 `phrase`).
///
/// - Words of atext separated by single spaces are returned unchanged.
/// - Other printable ASCII is returned as a quoted string, with `"` and `\` escaped
///   (RFC 5322 §3.2.4).
/// - Anything with non-ASCII or control characters, or that looks like an encoded
///   word, is encoded (RFC 2047 §5 rule 3): atext words stay plain and the other
///   words become encoded words using the restricted Q set of §5 rule 3 (or B when
///   shorter). Encoded words are never put inside quotes (§5 rule 3).
///
/// The result is one line; encoded words are separated by single spaces, where a
/// header writer may fold. The empty string gives the empty string.
pub fn encode_phrase(text: &str) -> String {
    let printable = text.bytes().all(|b| (b' '..=b'~').contains(&b));
    if printable && !looks_encoded(text) {
        let atoms = !text.is_empty()
            && !text.starts_with(' ')
            && !text.ends_with(' ')
            && !text.contains("  ")
            && text.bytes().all(|b| b == b' ' || is_atext(b));
        if atoms || text.is_empty() {
            return text.to_owned();
        }
        let mut out = String::with_capacity(text.len() + 8);
        out.push('"');
        for c in text.chars() {
            if c == '"' || c == '\\' {
                out.push('\\');
            }
            out.push(c);
        }
        out.push('"');
        return out;
    }
    let mut folder = Folder {
        out: String::with_capacity(text.len() * 2 + 16),
        line_len: 0,
        atoms: 0,
        has_ew: false,
        fold: false,
    };
    encode_words(text, Context::Phrase, &mut folder);
    folder.out
}

/// RFC 2231 §7 attribute-char, minus `{` and `}`, which some parsers mishandle.
fn is_attr_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b)
}

/// Encode one MIME parameter, ready to follow `; ` in a Content-Type or
/// Content-Disposition field. `name` must be a token (e.g. `filename`).
///
/// - Printable ASCII that fits in one piece: `name="value"` (quoted string, `"` and
///   `\` escaped, RFC 2045 §5.1).
/// - Longer printable ASCII: RFC 2231 §3 continuations `name*0="…"`, `name*1="…"`.
/// - Anything else (or text containing `=?`): RFC 2231 §4 extended value `name*=UTF-8''%C3%A9t%C3%A9.pdf`, with
///   §4.1 continuations `name*0*=UTF-8''…`, `name*1*=…` when longer.
///
/// Pieces hold at most about 60 characters of value and never split an escape or a
/// UTF-8 character. Decision: pieces are joined with `;` + CRLF + space, so the result
/// is already folded and no line comes near the 998-octet limit (RFC 5322 §2.1.1), even
/// for 255-character non-ASCII names; unfold (remove CRLF) to get the `; ` form.
pub fn encode_param(name: &str, value: &str) -> String {
    // Text that looks like an encoded word gets the extended form too: many parsers
    // decode RFC 2047 inside quoted parameters, against RFC 2047 §5.
    let printable = value.bytes().all(|b| (b' '..=b'~').contains(&b)) && !looks_encoded(value);
    // Each piece is the value text of one parameter; escapes are atomic.
    let mut pieces: Vec<String> = Vec::new();
    let mut cur = String::with_capacity(PARAM_PIECE + 8);
    if printable {
        for c in value.chars() {
            let need = if c == '"' || c == '\\' { 2 } else { 1 };
            if cur.len() + need > PARAM_PIECE {
                pieces.push(std::mem::take(&mut cur));
            }
            if need == 2 {
                cur.push('\\');
            }
            cur.push(c);
        }
        pieces.push(cur);
        let mut out = String::with_capacity(value.len() + pieces.len() * (name.len() + 10));
        if pieces.len() == 1 {
            push_param(&mut out, name, None, false, &pieces[0]);
        } else {
            for (i, p) in pieces.iter().enumerate() {
                if i > 0 {
                    out.push_str(";\r\n ");
                }
                push_param(&mut out, name, Some(i), false, p);
            }
        }
        return out;
    }
    cur.push_str("UTF-8''");
    let mut buf = [0u8; 4];
    for c in value.chars() {
        let bytes = c.encode_utf8(&mut buf).as_bytes();
        let need: usize = bytes
            .iter()
            .map(|&b| if is_attr_char(b) { 1 } else { 3 })
            .sum();
        if cur.len() + need > PARAM_PIECE && !cur.is_empty() && cur != "UTF-8''" {
            pieces.push(std::mem::take(&mut cur));
        }
        for &b in bytes {
            if is_attr_char(b) {
                cur.push(char::from(b));
            } else {
                cur.push('%');
                cur.push(char::from(HEX_UPPER[usize::from(b >> 4)]));
                cur.push(char::from(HEX_UPPER[usize::from(b & 0x0F)]));
            }
        }
    }
    pieces.push(cur);
    let mut out = String::with_capacity(pieces.iter().map(|p| p.len() + name.len() + 8).sum());
    if pieces.len() == 1 {
        push_param(&mut out, name, None, true, &pieces[0]);
    } else {
        for (i, p) in pieces.iter().enumerate() {
            if i > 0 {
                out.push_str(";\r\n ");
            }
            push_param(&mut out, name, Some(i), true, p);
        }
    }
    out
}

fn push_param(out: &mut String, name: &str, section: Option<usize>, extended: bool, text: &str) {
    out.push_str(name);
    if let Some(n) = section {
        out.push('*');
        out.push_str(&n.to_string());
    }
    if extended {
        out.push_str("*=");
        out.push_str(text);
    } else {
        out.push_str("=\"");
        out.push_str(text);
        out.push('"');
    }
}

/// One decoded MIME parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    /// Lower-case name, without RFC 2231 `*` / `*N` / `*N*` suffixes.
    pub name: String,
    /// The value's octets: quotes and backslash escapes removed, CR/LF of folding
    /// removed, RFC 2231 continuations joined and percent-escapes decoded. Not
    /// converted from `charset`: see [`Param::text`].
    pub value: Vec<u8>,
    /// Lower-case charset label of an RFC 2231 extended value (`utf-8` in
    /// `name*=utf-8'en'…`); `None` for plain values or an empty label.
    pub charset: Option<String>,
    /// The value used RFC 2231 extended syntax (`name*=` or any `name*N*=` piece).
    pub extended: bool,
}

impl Param {
    /// True if `charset` is absent or a label `encoding_rs` knows (WHATWG Encoding).
    /// False flags an unknown charset: `value` then holds the octets as they were.
    pub fn charset_known(&self) -> bool {
        self.charset
            .as_deref()
            .is_none_or(|l| encoding_rs::Encoding::for_label(l.as_bytes()).is_some())
    }

    /// The value as text: decoded from `charset` when there is one, else taken as
    /// UTF-8. `None` if the charset is unknown or the octets are malformed in it.
    pub fn text(&self) -> Option<String> {
        match &self.charset {
            None => std::str::from_utf8(&self.value).ok().map(str::to_owned),
            Some(label) => {
                let enc = encoding_rs::Encoding::for_label(label.as_bytes())?;
                enc.decode_without_bom_handling_and_without_replacement(&self.value)
                    .map(|s| s.into_owned())
            }
        }
    }
}

/// Decode the parameters of a raw Content-Type or Content-Disposition value (the
/// part after the colon, folding included), skipping the leading type/subtype or
/// disposition type. Same as `split_content_type(value).1`.
pub fn decode_params(value: &[u8]) -> Vec<Param> {
    split_content_type(value).1
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// Byte scanner over a field value.
struct Scan<'a> {
    s: &'a [u8],
    pos: usize,
}

impl<'a> Scan<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(is_ws) {
            self.pos += 1;
        }
    }

    /// Skip whitespace and comments (RFC 5322 §3.2.2 CFWS, nested, with quoted-pairs);
    /// an unterminated comment runs to the end.
    fn skip_cfws(&mut self) {
        loop {
            self.skip_ws();
            if self.peek() != Some(b'(') {
                return;
            }
            let mut depth = 0usize;
            while let Some(b) = self.peek() {
                self.pos += 1;
                match b {
                    b'\\' => self.pos = (self.pos + 1).min(self.s.len()),
                    b'(' => depth += 1,
                    b')' => {
                        depth = depth.saturating_sub(1);
                        if depth == 0 {
                            break;
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    /// Read a run of bytes up to whitespace or one of `stops`.
    fn token(&mut self, stops: &[u8]) -> &'a [u8] {
        let s: &'a [u8] = self.s;
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|b| !is_ws(b) && !stops.contains(&b))
        {
            self.pos += 1;
        }
        &s[start..self.pos]
    }
}

/// Split a raw Content-Type (or Content-Disposition) value into its lower-case,
/// trimmed `type/subtype` (or disposition type) and its parameters (RFC 2045 §5.1,
/// RFC 2231).
///
/// Lenient: comments are skipped, spaces around `/` and `=` are allowed, a missing
/// `;` between parameters is tolerated, a value may be a token, a quoted string (with
/// backslash escapes; unterminated runs to the end of the field), a single-quoted
/// string, or unquoted text up to `;` (so `name=my file.pdf` keeps its space).
/// Parameters without `=` are dropped. Duplicates are all kept, in order. RFC 2231
/// pieces of one name are joined in section order whatever their order in the field,
/// missing sections skipped, and consecutive extended pieces are joined before
/// percent-decoding, so an escape split across pieces decodes; the joined parameter
/// takes the place of its first piece. A value with no type in front
/// (`charset=utf-8`) gives an empty type.
pub fn split_content_type(value: &[u8]) -> (Vec<u8>, Vec<Param>) {
    let mut sc = Scan { s: value, pos: 0 };
    sc.skip_cfws();
    let mut ctype = sc.token(b";(=\"/").to_ascii_lowercase();
    sc.skip_cfws();
    if sc.peek() == Some(b'/') {
        sc.pos += 1;
        sc.skip_cfws();
        ctype.push(b'/');
        ctype.extend(sc.token(b";(=\"").iter().map(u8::to_ascii_lowercase));
        sc.skip_cfws();
    } else if sc.peek() == Some(b'=') {
        // No type: the first token is a parameter name.
        ctype.clear();
        sc.pos = 0;
    }
    let raw = raw_params(&mut sc);
    (ctype, assemble(raw))
}

/// A parameter as written, before RFC 2231 assembly.
struct RawParam {
    base: String,
    section: Option<u32>,
    extended: bool,
    value: Vec<u8>,
}

/// Split `name`, `name*`, `name*N`, `name*N*` (RFC 2231 §3, §4).
fn split_name(name: &[u8]) -> (String, Option<u32>, bool) {
    let lower = String::from_utf8_lossy(name).to_ascii_lowercase();
    let Some(star) = lower.find('*') else {
        return (lower, None, false);
    };
    let rest = &lower[star + 1..];
    if rest.is_empty() {
        return (lower[..star].to_owned(), None, true);
    }
    let (digits, ext) = match rest.strip_suffix('*') {
        Some(d) => (d, true),
        None => (rest, false),
    };
    match digits.parse::<u32>() {
        Ok(n) if digits.bytes().all(|b| b.is_ascii_digit()) => {
            (lower[..star].to_owned(), Some(n), ext)
        }
        _ => (lower, None, false),
    }
}

fn raw_params(sc: &mut Scan<'_>) -> Vec<RawParam> {
    let mut out = Vec::new();
    loop {
        // Separators: ';' and CFWS; a missing ';' is tolerated.
        loop {
            sc.skip_cfws();
            if sc.peek() == Some(b';') {
                sc.pos += 1;
            } else {
                break;
            }
        }
        let Some(first) = sc.peek() else {
            return out;
        };
        let name = sc.token(b";=\"(");
        sc.skip_ws();
        if sc.peek() != Some(b'=') {
            if name.is_empty() && first != b';' {
                sc.pos += 1; // a stray '"' where a name should be
            }
            continue; // no '=': not a parameter
        }
        sc.pos += 1;
        sc.skip_ws();
        let (base, section, extended) = split_name(name);
        let value = read_value(sc, extended);
        if !base.is_empty() {
            out.push(RawParam {
                base,
                section,
                extended,
                value,
            });
        }
    }
}

/// Read a parameter value at the scanner position (after `=`).
fn read_value(sc: &mut Scan<'_>, extended: bool) -> Vec<u8> {
    let s = sc.s;
    match sc.peek() {
        Some(b'"') => {
            // RFC 2045 §5.1 / RFC 5322 §3.2.4 quoted-string; CR and LF are folding.
            sc.pos += 1;
            let mut v = Vec::with_capacity(32);
            while let Some(b) = sc.peek() {
                sc.pos += 1;
                match b {
                    b'"' => return v,
                    b'\\' => {
                        if let Some(n) = sc.peek() {
                            sc.pos += 1;
                            if n != b'\r' && n != b'\n' {
                                v.push(n);
                            }
                        }
                    }
                    b'\r' | b'\n' => {}
                    _ => v.push(b),
                }
            }
            v // unterminated: to the end of the field
        }
        _ => {
            let start = sc.pos;
            let seg_end = memchr::memchr(b';', &s[start..]).map_or(s.len(), |i| start + i);
            let end = missing_semicolon(s, start, seg_end);
            sc.pos = end;
            let mut v = trim_value(&s[start..end]);
            if !extended && v.len() >= 2 && v[0] == b'\'' && v[v.len() - 1] == b'\'' {
                v = &v[1..v.len() - 1];
            }
            v.iter()
                .copied()
                .filter(|&b| b != b'\r' && b != b'\n')
                .collect()
        }
    }
}

/// End of an unquoted value in `s[start..seg_end]`: the first whitespace after which
/// `token =` follows (a parameter with its `;` missing), else `seg_end`.
fn missing_semicolon(s: &[u8], start: usize, seg_end: usize) -> usize {
    let mut i = start;
    while i < seg_end {
        if is_ws(s[i]) {
            let mut j = i;
            while j < seg_end && is_ws(s[j]) {
                j += 1;
            }
            let name_start = j;
            while j < seg_end && !is_ws(s[j]) && !b"=\"()".contains(&s[j]) {
                j += 1;
            }
            let name_end = j;
            while j < seg_end && is_ws(s[j]) {
                j += 1;
            }
            if name_end > name_start && s.get(j) == Some(&b'=') && j < seg_end {
                return i;
            }
            i = name_start.max(i + 1);
        } else {
            i += 1;
        }
    }
    seg_end
}

/// Trim whitespace and a trailing comment (`us-ascii (Plain text)`, RFC 2045 §5.1).
fn trim_value(v: &[u8]) -> &[u8] {
    let v = v.trim_ascii();
    if v.last() == Some(&b')')
        && let Some(p) = v.windows(2).position(|w| is_ws(w[0]) && w[1] == b'(')
    {
        return v[..p].trim_ascii();
    }
    v
}

fn pct_decode_into(s: &[u8], out: &mut Vec<u8>) {
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'%'
            && let (Some(hi), Some(lo)) = (
                s.get(i + 1).and_then(|&b| hex(b)),
                s.get(i + 2).and_then(|&b| hex(b)),
            )
        {
            out.push((hi << 4) | lo);
            i += 3;
            continue;
        }
        out.push(s[i]);
        i += 1;
    }
}

fn hex(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

/// Split `charset'language'rest` off an extended value (RFC 2231 §4); `None` if the
/// value has no such prefix (tolerated: then all of it is percent-encoded text).
fn split_charset(v: &[u8]) -> Option<(Option<String>, &[u8])> {
    let q1 = memchr::memchr(b'\'', v)?;
    let label = &v[..q1];
    if !label
        .iter()
        .all(|&b| b.is_ascii_alphanumeric() || b"-_.:+".contains(&b))
    {
        return None;
    }
    let q2 = q1 + 1 + memchr::memchr(b'\'', &v[q1 + 1..])?;
    let charset = (!label.is_empty()).then(|| String::from_utf8_lossy(label).to_ascii_lowercase());
    Some((charset, &v[q2 + 1..]))
}

fn assemble(raw: Vec<RawParam>) -> Vec<Param> {
    // Pieces of each sectioned name, in field order.
    let mut groups: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, p) in raw.iter().enumerate() {
        if p.section.is_some() {
            groups.entry(p.base.as_str()).or_default().push(i);
        }
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut done: Vec<bool> = vec![false; raw.len()];
    for (i, p) in raw.iter().enumerate() {
        if done[i] {
            continue;
        }
        if p.section.is_none() {
            out.push(single_param(p));
            continue;
        }
        let mut idx = groups.remove(p.base.as_str()).unwrap_or_default();
        for &j in &idx {
            done[j] = true;
        }
        // Section order (stable: the first of duplicate sections wins).
        idx.sort_by_key(|&j| raw[j].section);
        idx.dedup_by_key(|j| raw[*j].section);
        out.push(join_pieces(&raw, &idx, p));
    }
    out
}

fn single_param(p: &RawParam) -> Param {
    if !p.extended {
        return Param {
            name: p.base.clone(),
            value: p.value.clone(),
            charset: None,
            extended: false,
        };
    }
    let (charset, text) = split_charset(&p.value).unwrap_or((None, &p.value));
    let mut value = Vec::with_capacity(text.len());
    pct_decode_into(text, &mut value);
    Param {
        name: p.base.clone(),
        value,
        charset,
        extended: true,
    }
}

/// Join RFC 2231 §3/§4.1 continuations given in section order.
fn join_pieces(raw: &[RawParam], idx: &[usize], first: &RawParam) -> Param {
    let mut value = Vec::new();
    let mut pending: Vec<u8> = Vec::new();
    let mut charset = None;
    let mut extended = false;
    for (k, &j) in idx.iter().enumerate() {
        let p = &raw[j];
        if p.extended {
            extended = true;
            let mut text = p.value.as_slice();
            // The charset is in the first piece (§4.1); tolerate numbering from 1.
            if k == 0
                && let Some((cs, rest)) = split_charset(text)
            {
                charset = cs;
                text = rest;
            }
            pending.extend_from_slice(text);
        } else {
            pct_decode_into(&pending, &mut value);
            pending.clear();
            value.extend_from_slice(&p.value);
        }
    }
    pct_decode_into(&pending, &mut value);
    Param {
        name: first.base.clone(),
        value,
        charset,
        extended,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn subject_value(encoded: &str) -> String {
        let raw = format!("Subject: {encoded}\r\n");
        mailparse::parse_header(raw.as_bytes())
            .unwrap()
            .0
            .get_value()
    }

    fn display_name(phrase: &str) -> Option<String> {
        let raw = format!("From: {phrase} <a@example.com>\r\n");
        let (h, _) = mailparse::parse_header(raw.as_bytes()).unwrap();
        let list = mailparse::addrparse_header(&h).unwrap();
        match list.first() {
            Some(mailparse::MailAddr::Single(s)) => {
                assert_eq!(s.addr, "a@example.com");
                s.display_name.clone()
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    fn header_lines(name: &str, value: &str) -> Vec<String> {
        format!("{name}: {value}")
            .split("\r\n")
            .map(str::to_owned)
            .collect()
    }

    fn param(list: &[Param], name: &str) -> Param {
        list.iter().find(|p| p.name == name).cloned().unwrap()
    }

    /// RFC 2047 §8: the examples decode as the RFC says (checks the oracle), and
    /// our encoding of the decoded text decodes back to it.
    #[test]
    fn rfc2047_section8_examples() {
        let phrases = [
            ("=?US-ASCII?Q?Keith_Moore?=", "Keith Moore"),
            (
                "=?ISO-8859-1?Q?Keld_J=F8rn_Simonsen?=",
                "Keld Jørn Simonsen",
            ),
            ("=?ISO-8859-1?Q?Andr=E9?= Pirard", "André Pirard"),
            ("=?ISO-8859-1?Q?Olle_J=E4rnefors?=", "Olle Järnefors"),
            ("=?ISO-8859-1?Q?Patrik_F=E4ltstr=F6m?=", "Patrik Fältström"),
        ];
        for (rfc, text) in phrases {
            assert_eq!(display_name(rfc).as_deref(), Some(text));
            assert_eq!(display_name(&encode_phrase(text)).as_deref(), Some(text));
        }
        assert_eq!(encode_phrase("Keith Moore"), "Keith Moore");
        assert_eq!(
            encode_phrase("Keld Jørn Simonsen"),
            "Keld =?UTF-8?B?SsO4cm4=?= Simonsen"
        );
        assert_eq!(encode_phrase("André Pirard"), "=?UTF-8?B?QW5kcsOp?= Pirard");

        let subject = "=?ISO-8859-1?B?SWYgeW91IGNhbiByZWFkIHRoaXMgeW8=?=\r\n =?ISO-8859-2?B?dSB1bmRlcnN0YW5kIHRoZSBleGFtcGxlLg==?=";
        let text = "If you can read this you understand the example.";
        assert_eq!(subject_value(subject), text);
        assert_eq!(encode_unstructured(text, 7), text);

        // §8 whitespace table: whitespace between adjacent encoded words is not
        // displayed; inside an encoded word it is. Our encoder relies on both.
        let cases = [
            ("=?ISO-8859-1?Q?a?=", "a"),
            ("=?ISO-8859-1?Q?a?= b", "a b"),
            ("=?ISO-8859-1?Q?a?= =?ISO-8859-1?Q?b?=", "ab"),
            ("=?ISO-8859-1?Q?a?=  =?ISO-8859-1?Q?b?=", "ab"),
            ("=?ISO-8859-1?Q?a?=\r\n    =?ISO-8859-1?Q?b?=", "ab"),
            ("=?ISO-8859-1?Q?a_b?=", "a b"),
            ("=?ISO-8859-1?Q?a?= =?ISO-8859-2?Q?_b?=", "a b"),
        ];
        for (enc, dec) in cases {
            assert_eq!(subject_value(enc), dec, "{enc}");
        }
    }

    #[test]
    fn unstructured_cases() {
        assert_eq!(encode_unstructured("", 7), "");
        assert_eq!(encode_unstructured("Hello, world", 7), "Hello, world");
        // Exactly 78 with "Subject: " stays, 79 folds.
        let fits = "x".repeat(60) + " " + &"y".repeat(8);
        assert_eq!(encode_unstructured(&fits, 7), fits);
        let over = fits.clone() + "y";
        assert_eq!(
            encode_unstructured(&over, 7),
            "x".repeat(60) + "\r\n " + &"y".repeat(9)
        );
        // Shorter of B and Q.
        assert_eq!(encode_unstructured("café", 7), "=?UTF-8?B?Y2Fmw6k=?=");
        assert_eq!(
            encode_unstructured("Überweisungsbestätigung", 7),
            "=?UTF-8?Q?=C3=9Cberweisungsbest=C3=A4tigung?="
        );
        // Whitespace between encoded words goes inside the encoded text.
        assert_eq!(encode_unstructured("é ü ok", 7), "=?UTF-8?B?w6kgw7w=?= ok");
        assert_eq!(
            encode_unstructured("a é b ü c", 7),
            "a =?UTF-8?B?w6k=?= b =?UTF-8?B?w7w=?= c"
        );

        // Text that looks like an encoded word is encoded itself.
        let v = encode_unstructured("see =?utf-8?q?x?= here", 7);
        assert!(
            v.starts_with("see =?UTF-8?") && v.ends_with("?= here"),
            "{v}"
        );
        assert_eq!(subject_value(&v), "see =?utf-8?q?x?= here");
        // Controls, CR and LF are encoded: no header injection.
        let v = encode_unstructured("a\r\nBcc: x@example.com", 7);
        assert!(!v.contains('\n') || v.split("\r\n").skip(1).all(|l| l.starts_with(' ')));
        assert!(!v.contains("\r\nBcc"));
        assert_eq!(subject_value(&v), "a\r\nBcc: x@example.com");
        // Tabs and runs of spaces between plain words are kept.
        assert_eq!(encode_unstructured("a\tb  c", 7), "a\tb  c");
    }

    #[test]
    fn unstructured_folding() {
        let s = "Grüße aus Köln, schöne Grüße an alle Kollegen in der Abteilung und darüber hinaus";
        let v = encode_unstructured(s, 7);
        assert_eq!(subject_value(&v), s);
        for l in header_lines("Subject", &v) {
            assert!(l.len() <= 76, "{l:?}");
        }
        // No sliver: "darüber" moves whole to the next line.
        assert!(!v.contains("?Q?dar?="), "{v}");
        // Long CJK text: many encoded words, each <= 75, lines <= 76.
        let s =
            "日本語のメールの件名はとても長くなることがありますので折り返しが必要です。".repeat(3);
        let v = encode_unstructured(&s, 7);
        assert_eq!(subject_value(&v), s);
        for l in header_lines("Subject", &v) {
            assert!(l.len() <= 76, "{l:?}");
        }
        // A huge field name: the first line cannot be kept short, the rest are.
        let v = encode_unstructured("é é", 100);
        assert_eq!(v, "=?UTF-8?B?w6kgw6k=?=");
        // A plain word too long for any line is encoded and split.
        let long = "a".repeat(1200);
        let v = encode_unstructured(&long, 7);
        assert!(v.starts_with("=?UTF-8?Q?aaa"));
        assert_eq!(subject_value(&v), long);
        assert!(header_lines("Subject", &v).iter().all(|l| l.len() <= 76));
        // A run of spaces that cannot stay on the line moves whole to the next one.
        let s = format!("{}   {}", "x".repeat(76), "é".repeat(30));
        let v = encode_unstructured(&s, 0);
        assert!(v.contains("x\r\n   =?"), "{v}");
        assert_eq!(subject_value(&v.replace("\r\n", "")), s);
        assert!(header_lines("", &v).iter().all(|l| l.len() <= 78), "{v}");
        assert!(
            header_lines("", &v).iter().skip(1).all(|l| l.len() <= 76),
            "{v}"
        );
        // Folding happens in the whitespace: unfolding gives the original.
        let s = format!("{}  {}", "x".repeat(70), "y".repeat(20));
        let v = encode_unstructured(&s, 7);
        assert_eq!(v.replace("\r\n", ""), s);
    }

    #[test]
    fn phrase_cases() {
        assert_eq!(encode_phrase(""), "");
        assert_eq!(encode_phrase("John Smith"), "John Smith");
        assert_eq!(encode_phrase("Smith, John"), "\"Smith, John\"");
        assert_eq!(encode_phrase("J. R. \"Bob\" D\\"), r#""J. R. \"Bob\" D\\""#);
        assert_eq!(encode_phrase(" padded"), "\" padded\"");
        assert_eq!(
            display_name(&encode_phrase("J. R. \"Bob\" D\\")).as_deref(),
            Some("J. R. \"Bob\" D\\")
        );
        // Specials next to non-ASCII are encoded with the restricted §5(3) Q set.
        let v = encode_phrase("Jöhn Smith, Jr.");
        assert_eq!(v, "=?UTF-8?Q?J=C3=B6hn_Smith=2C_Jr=2E?=");
        assert_eq!(display_name(&v).as_deref(), Some("Jöhn Smith, Jr."));
        // Looks like an encoded word: encoded, not quoted.
        let v = encode_phrase("=?x?= test");
        assert!(!v.contains('"'));
        assert_eq!(display_name(&v).as_deref(), Some("=?x?= test"));
        // Long names: several words, one line.
        let s = "Ωμέγα ".repeat(20);
        let s = s.trim_end();
        let v = encode_phrase(s);
        assert!(!v.contains('\n'));
        assert!(v.split(' ').all(|w| w.len() <= 75));
        assert_eq!(display_name(&v).as_deref(), Some(s));
    }

    #[test]
    fn param_encoding() {
        assert_eq!(
            encode_param("filename", "été.pdf"),
            "filename*=UTF-8''%C3%A9t%C3%A9.pdf"
        );
        assert_eq!(encode_param("filename", "a.pdf"), "filename=\"a.pdf\"");
        assert_eq!(encode_param("filename", ""), "filename=\"\"");
        assert_eq!(
            encode_param("name", r#"say "hi" \o/"#),
            r#"name="say \"hi\" \\o/""#
        );
        assert_eq!(
            encode_param("filename", "=?UTF-8?Q?x?=.txt"),
            "filename*=UTF-8''%3D%3FUTF-8%3FQ%3Fx%3F%3D.txt"
        );
        let long = "x".repeat(70);
        assert_eq!(
            encode_param("filename", &long),
            format!(
                "filename*0=\"{}\";\r\n filename*1=\"{}\"",
                "x".repeat(60),
                "x".repeat(10)
            )
        );
        let v = encode_param("filename", &"é".repeat(40));
        let lines: Vec<&str> = v.split("\r\n").collect();
        assert!(lines.len() > 1);
        assert!(lines[0].starts_with("filename*0*=UTF-8''%C3%A9"));
        assert!(lines[1].starts_with(" filename*1*=%C3%A9"));
        assert!(lines.iter().all(|l| l.len() <= 78));
    }

    /// RFC 2231 §3, §4 and §4.1 examples.
    #[test]
    fn rfc2231_examples() {
        let (t, ps) = split_content_type(
            b"message/external-body; access-type=URL;\r\n URL*0=\"ftp://\";\r\n URL*1=\"cs.utk.edu/pub/moore/bulk-mailer/bulk-mailer.tar\"",
        );
        assert_eq!(t, b"message/external-body");
        assert_eq!(ps.len(), 2);
        assert_eq!(param(&ps, "access-type").value, b"URL");
        let url = param(&ps, "url");
        assert_eq!(
            url.value,
            b"ftp://cs.utk.edu/pub/moore/bulk-mailer/bulk-mailer.tar"
        );
        assert!(!url.extended && url.charset.is_none());

        let ps = decode_params(
            b"application/x-stuff;\r\n title*=us-ascii'en-us'This%20is%20%2A%2A%2Afun%2A%2A%2A",
        );
        let title = param(&ps, "title");
        assert_eq!(title.value, b"This is ***fun***");
        assert_eq!(title.charset.as_deref(), Some("us-ascii"));
        assert!(title.extended);

        let ps = decode_params(
            b"application/x-stuff;\r\n title*0*=us-ascii'en'This%20is%20even%20more%20;\r\n title*1*=%2A%2A%2Afun%2A%2A%2A%20;\r\n title*2=\"isn't it!\"",
        );
        assert_eq!(ps.len(), 1);
        let title = param(&ps, "title");
        assert_eq!(title.value, b"This is even more ***fun*** isn't it!");
        assert_eq!(title.charset.as_deref(), Some("us-ascii"));
        assert_eq!(
            title.text().as_deref(),
            Some("This is even more ***fun*** isn't it!")
        );
    }

    #[test]
    fn params_lenient() {
        let (t, ps) = split_content_type(b"  Text/HTML ; Charset = \"UTF-8\" ");
        assert_eq!(t, b"text/html");
        assert_eq!(
            ps,
            vec![Param {
                name: "charset".into(),
                value: b"UTF-8".to_vec(),
                charset: None,
                extended: false
            }]
        );
        let (t, _) = split_content_type(b"text / plain");
        assert_eq!(t, b"text/plain");
        // Missing ';'.
        let (t, ps) = split_content_type(b"text/plain charset=utf-8 format=flowed");
        assert_eq!(t, b"text/plain");
        assert_eq!(param(&ps, "charset").value, b"utf-8");
        assert_eq!(param(&ps, "format").value, b"flowed");
        // Comments (RFC 2045 §5.1 example).
        let (t, ps) = split_content_type(b"text/plain (a comment); charset=us-ascii (Plain text)");
        assert_eq!(t, b"text/plain");
        assert_eq!(param(&ps, "charset").value, b"us-ascii");
        // Single quotes, unquoted spaces, unterminated quotes, escapes.
        assert_eq!(
            param(&decode_params(b"a; name='a b.txt'"), "name").value,
            b"a b.txt"
        );
        assert_eq!(
            param(&decode_params(b"a; filename=my file.pdf"), "filename").value,
            b"my file.pdf"
        );
        assert_eq!(
            param(&decode_params(b"a; filename=\"abc; size=3"), "filename").value,
            b"abc; size=3"
        );
        assert_eq!(
            param(&decode_params(br#"a; n="a \"q\" \\ b""#), "n").value,
            br#"a "q" \ b"#
        );
        // Folding inside a quoted value is removed.
        assert_eq!(
            param(&decode_params(b"a; n=\"long\r\n name\""), "n").value,
            b"long name"
        );
        // Duplicates kept in order; params without '=' dropped.
        let ps = decode_params(b"a; x=1; flag; x=2;; ;");
        assert_eq!(
            ps.iter().map(|p| p.value.clone()).collect::<Vec<_>>(),
            vec![b"1".to_vec(), b"2".to_vec()]
        );
        // No type.
        let (t, ps) = split_content_type(b"charset=utf-8");
        assert!(t.is_empty());
        assert_eq!(param(&ps, "charset").value, b"utf-8");
        assert_eq!(split_content_type(b""), (Vec::new(), Vec::new()));
        assert_eq!(split_content_type(b"multipart/mixed").0, b"multipart/mixed");
        // 8-bit kept as bytes.
        assert_eq!(
            param(&decode_params(b"a; filename=\"\xe9t\xe9.pdf\""), "filename").value,
            b"\xe9t\xe9.pdf"
        );
    }

    #[test]
    fn params_rfc2231_lenient() {
        // Out of order, missing pieces, an escape split across pieces.
        let ps = decode_params(b"a; t*2=c; t*0=a; t*5=f");
        assert_eq!(param(&ps, "t").value, b"acf");
        let ps = decode_params(b"a; f*1*=%20b; f*0*=utf-8''a");
        assert_eq!(param(&ps, "f").text().as_deref(), Some("a b"));
        let ps = decode_params(b"a; f*0*=utf-8''%C3; f*1*=%A9");
        assert_eq!(param(&ps, "f").text().as_deref(), Some("é"));
        let ps = decode_params(b"a; f*0*=utf-8''%C; f*1*=3%A9");
        assert_eq!(param(&ps, "f").text().as_deref(), Some("é"));
        // Charset and language are both optional; missing quotes tolerated.
        let ps = decode_params(b"a; f*=''%41; g*=%42; h*=\"utf-8''%43\"");
        assert_eq!(param(&ps, "f").value, b"A");
        assert_eq!(param(&ps, "f").charset, None);
        assert_eq!(param(&ps, "g").value, b"B");
        assert_eq!(param(&ps, "h").value, b"C");
        // Invalid escapes kept.
        assert_eq!(
            param(&decode_params(b"a; f*=utf-8''100%; g*=utf-8''%zz"), "f").value,
            b"100%"
        );
        // Unknown charset: bytes kept, flagged.
        let p = param(&decode_params(b"a; f*=x-unknown''%E9t%E9"), "f");
        assert_eq!(p.value, b"\xe9t\xe9");
        assert_eq!(p.charset.as_deref(), Some("x-unknown"));
        assert!(!p.charset_known());
        assert_eq!(p.text(), None);
        // Known non-UTF-8 charset.
        let p = param(&decode_params(b"a; f*=ISO-8859-1'fr'%E9t%E9"), "f");
        assert!(p.charset_known());
        assert_eq!(p.charset.as_deref(), Some("iso-8859-1"));
        assert_eq!(p.text().as_deref(), Some("été"));
        // Plain and extended forms of one name are both kept.
        let ps =
            decode_params(b"attachment; filename=\"ete.pdf\"; filename*=utf-8''%C3%A9t%C3%A9.pdf");
        assert_eq!(ps.len(), 2);
        assert!(!ps[0].extended && ps[1].extended);
        // Duplicate sections: the first wins; the joined param sits at the first piece.
        let ps = decode_params(b"a; x=1; t*1=b; t*0=a; t*1=z; y=2");
        let names: Vec<&str> = ps.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["x", "t", "y"]);
        assert_eq!(param(&ps, "t").value, b"ab");
    }

    /// Words for the oracle tests: ASCII, Latin, CJK, emoji, specials and controls.
    fn word() -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop_oneof![
                prop::char::range('a', 'z'),
                prop::char::range('A', 'Z'),
                prop::sample::select(vec![
                    '=', '?', '_', '"', '\\', '(', ')', ',', '.', ';', ':', '<', '>', '@', '%',
                    '\'', '*'
                ]),
                prop::char::range('\u{a0}', '\u{17f}'),
                prop::char::range('\u{4e00}', '\u{4e40}'),
                prop::char::range('\u{1f600}', '\u{1f610}'),
                prop::sample::select(vec!['\u{1}', '\u{7f}', '\r', '\n']),
            ],
            1..20,
        )
        .prop_map(|cs| cs.into_iter().collect())
    }

    fn words_text(sep: impl Strategy<Value = String>) -> impl Strategy<Value = String> {
        (word(), prop::collection::vec((sep, word()), 0..12)).prop_map(|(first, rest)| {
            let mut s = first;
            for (sep, w) in rest {
                s.push_str(&sep);
                s.push_str(&w);
            }
            s
        })
    }

    fn check_header_shape(
        name: &str,
        v: &str,
        soft_limit: Option<usize>,
    ) -> Result<(), TestCaseError> {
        prop_assert!(v.is_ascii());
        for (i, l) in header_lines(name, v).iter().enumerate() {
            prop_assert!(!l.contains('\r') && !l.contains('\n'));
            prop_assert!(
                i == 0 || l.starts_with(' ') || l.starts_with('\t'),
                "{:?}",
                l
            );
            prop_assert!(l.len() <= 998);
            if let Some(max) = soft_limit {
                prop_assert!(l.len() <= max, "line {:?} of {:?}", l, v);
            }
            if l.contains("=?") {
                prop_assert!(l.len() <= 76, "{:?}", l);
            }
        }
        for w in v.split([' ', '\t', '\r', '\n']) {
            if w.starts_with("=?") {
                prop_assert!(w.len() <= 75 && w.ends_with("?="), "{:?}", w);
            }
        }
        Ok(())
    }

    proptest! {
        /// mailparse decodes our Subject back to the text; output is ASCII, folded
        /// into lines of at most 78 (76 with encoded words).
        #[test]
        fn unstructured_oracle(s in words_text(Just(" ".to_owned()))) {
            let v = encode_unstructured(&s, 7);
            check_header_shape("Subject", &v, Some(78))?;
            prop_assert_eq!(subject_value(&v), s);
        }

        /// Any whitespace: unfolding (removing CRLF) is exact.
        #[test]
        fn unstructured_oracle_any_whitespace(
            s in words_text(prop::collection::vec(prop::sample::select(vec![' ', '\t']), 1..4).prop_map(|v| v.into_iter().collect())),
            name_len in 1usize..30,
        ) {
            let v = encode_unstructured(&s, name_len);
            check_header_shape("X", &v, None)?;
            prop_assert_eq!(subject_value(&v.replace("\r\n", "")), s);
        }

        #[test]
        fn phrase_oracle(
            // mailparse trims whitespace (CR, NBSP, ...) at the ends of a name.
            s in words_text(Just(" ".to_owned()))
                .prop_map(|s| s.trim().to_owned())
                .prop_filter("not blank", |s| !s.is_empty())
        ) {
            let p = encode_phrase(&s);
            prop_assert!(p.is_ascii() && !p.contains('\r') && !p.contains('\n'));
            prop_assert_eq!(display_name(&p), Some(s));
        }

        #[test]
        fn param_roundtrip(s in words_text(prop::sample::select(vec![" ".to_owned(), "  ".to_owned(), "\t".to_owned()]))) {
            let enc = encode_param("filename", &s);
            prop_assert!(enc.is_ascii());
            prop_assert!(enc.split("\r\n").all(|l| l.len() <= 78), "{:?}", enc);
            let field = format!("attachment; {enc}");
            let (t, ps) = split_content_type(field.as_bytes());
            prop_assert_eq!(t, b"attachment".to_vec());
            prop_assert_eq!(ps.len(), 1);
            prop_assert_eq!(ps[0].name.as_str(), "filename");
            prop_assert_eq!(ps[0].text(), Some(s.clone()));
            // mailparse agrees.
            let raw = format!("Content-Disposition: {field}\r\n");
            let (h, _) = mailparse::parse_header(raw.as_bytes()).unwrap();
            let cd = mailparse::parse_content_disposition(&h.get_value());
            prop_assert_eq!(cd.params.get("filename"), Some(&s));
        }

        #[test]
        fn encoders_never_panic(s in any::<String>(), n in any::<usize>()) {
            prop_assert!(encode_unstructured(&s, n).is_ascii());
            prop_assert!(encode_phrase(&s).is_ascii());
            prop_assert!(encode_param("filename", &s).is_ascii());
        }

        #[test]
        fn params_never_panic(data in prop::collection::vec(any::<u8>(), 0..300)) {
            let _ = split_content_type(&data);
            for p in decode_params(&data) {
                let _ = p.text();
            }
        }

        #[test]
        fn params_never_panic_tricky(
            data in prop::collection::vec(prop::sample::select(b";=\"'*\\ ()%0aA9/\r\n\t\xc3".to_vec()), 0..200)
        ) {
            let (_, ps) = split_content_type(&data);
            for p in ps {
                prop_assert!(!p.name.is_empty());
                let _ = p.text();
                let _ = p.charset_known();
            }
        }
    }
}

/// Decode RFC 2047 encoded words in unstructured header text (already unfolded),
/// leaving everything else as it is. Whitespace between two adjacent encoded words
/// is dropped (RFC 2047 §6.2). `mailparse` does the word decoding for each run of
/// ASCII text, so non-ASCII text around the words is never reinterpreted.
pub fn decode_unstructured(text: &[u8]) -> String {
    let s = String::from_utf8_lossy(text);
    if !s.contains("=?") {
        return s.into_owned();
    }
    let mut out = String::with_capacity(s.len());
    // Split into maximal ASCII and non-ASCII runs at whitespace boundaries.
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if run.is_empty() {
            return;
        }
        if run.is_ascii() && run.contains("=?") {
            let field = format!("X: {run}");
            match mailparse::parse_header(field.as_bytes()) {
                Ok((h, _)) => {
                    // parse_header trims the ends: keep the run's own spacing.
                    let lead = run.len() - run.trim_start().len();
                    let trail = run.len() - run.trim_end().len();
                    out.push_str(&run[..lead]);
                    out.push_str(&h.get_value());
                    out.push_str(&run[run.len() - trail..]);
                }
                Err(_) => out.push_str(run),
            }
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for word in s.split_inclusive([' ', '\t']) {
        if !word.is_ascii() {
            flush(&mut run, &mut out);
            out.push_str(word);
        } else {
            run.push_str(word);
        }
    }
    flush(&mut run, &mut out);
    out
}

#[cfg(test)]
mod decode_tests {
    use super::decode_unstructured;

    #[test]
    fn decodes_words_and_keeps_other_text() {
        assert_eq!(
            decode_unstructured(b"=?UTF-8?Q?caf=C3=A9?= au lait"),
            "café au lait"
        );
        assert_eq!(decode_unstructured(b"=?UTF-8?Q?a?= =?UTF-8?Q?b?="), "ab");
        assert_eq!(
            decode_unstructured("Grüße =?UTF-8?Q?caf=C3=A9?=".as_bytes()),
            "Grüße café"
        );
        assert_eq!(decode_unstructured(b"plain"), "plain");
    }
}
