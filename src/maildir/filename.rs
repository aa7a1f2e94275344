//! What a Maildir message's file name says: Dovecot's size fields and the flags.
//!
//! The Maildir standard (<https://cr.yp.to/proto/maildir.html>) names a delivered
//! message `<unique>:2,<flags>`, each flag one character: `P` passed (forwarded),
//! `R` replied, `S` seen, `T` trashed, `D` draft, `F` flagged. Dovecot (docs, "Maildir
//! Mailbox Format") adds:
//! - keywords as lowercase letters `a`–`z`, mapped by the folder's `dovecot-keywords`
//!   (see [`super::keywords`]);
//! - `,S=<size>` (file size) and `,W=<vsize>` (size with CRLF line ends, i.e. IMAP
//!   RFC822.SIZE) inside the base name, before the `:2,`;
//! - `<flags>[,<non-standard fields>]`: anything after a comma in the flags field is
//!   not a flag.
//!
//! Because `:` is not allowed in file names on Windows file systems, tools that keep
//! Maildirs there write `;2,` (mbsync's `InfoDelimiter` default on Windows) or `!2,`
//! instead; all three separators are accepted.
//!
//! Everything here works on bytes: a file name need not be UTF-8.

use super::keywords::Keywords;

/// The parts of a Maildir file name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParsedName {
    /// Everything before the info separator (`:2,`, `;2,` or `!2,`), including the
    /// `,S=`/`,W=` fields; the whole name if there is no separator. This is Dovecot's
    /// "base filename", the part that stays stable when flags change.
    pub base: Vec<u8>,
    /// Dovecot's `,S=<size>`: the file size in bytes, if present and numeric.
    pub size: Option<u64>,
    /// Dovecot's `,W=<vsize>`: the size with CRLF line ends (RFC 3501 RFC822.SIZE).
    pub vsize: Option<u64>,
    /// The bytes after the last info separator (flags, possibly followed by `,` and
    /// non-standard fields); `None` if the name has no separator (typical in `new/`).
    pub info: Option<Vec<u8>>,
}

/// Split a Maildir file name into base, sizes and info. Never fails: a name without
/// any of the expected parts simply yields `None` for them.
pub fn parse_filename(name: &[u8]) -> ParsedName {
    let sep = name
        .windows(3)
        .rposition(|w| matches!(w, [b':' | b';' | b'!', b'2', b',']));
    let (base, info) = match sep {
        Some(i) => (
            name.get(..i).unwrap_or_default(),
            Some(name.get(i + 3..).unwrap_or_default().to_vec()),
        ),
        None => (name, None),
    };
    ParsedName {
        base: base.to_vec(),
        size: size_field(base, b'S'),
        vsize: size_field(base, b'W'),
        info,
    }
}

/// The first `,<key>=<digits>` field after the unique part of the base name. As in
/// Dovecot, a field whose value is not all digits is ignored.
fn size_field(base: &[u8], key: u8) -> Option<u64> {
    base.split(|&b| b == b',').skip(1).find_map(|field| {
        let value = field.strip_prefix(&[key, b'='])?;
        if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(value).ok()?.parse().ok()
    })
}

/// The flag characters of an info field, decoded but not yet mapped to names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InfoFlags {
    /// `S`: the user has seen the message.
    pub seen: bool,
    /// `R`: the user has replied to it.
    pub answered: bool,
    /// `F`: flagged for urgent/special attention.
    pub flagged: bool,
    /// `T`: trashed, i.e. IMAP `\Deleted` (marked for expunge).
    pub deleted: bool,
    /// `D`: a draft.
    pub draft: bool,
    /// `P`: passed (forwarded/resent/bounced); IMAP has no system flag for it, the
    /// keyword `$Forwarded` is the convention (RFC 5788 registry).
    pub forwarded: bool,
    /// Keyword letters: bit `n` set means letter `'a' + n` is present.
    pub keywords: u32,
    /// Every other character (unknown uppercase letters, digits, punctuation, 8-bit
    /// bytes), each once, in order of appearance.
    pub unknown: Vec<u8>,
}

impl InfoFlags {
    /// Keyword letters present, in alphabetical order.
    pub fn keyword_letters(&self) -> impl Iterator<Item = u8> + '_ {
        (b'a'..=b'z').filter(move |&l| self.keywords & (1 << (l - b'a')) != 0)
    }
}

/// Decode the flags of an info field (the bytes after `:2,`). Decoding stops at the
/// first `,` because Dovecot reserves what follows for non-standard fields. The
/// Maildir standard wants flags in ASCII order, but any order is accepted.
pub fn parse_info(info: &[u8]) -> InfoFlags {
    let mut flags = InfoFlags::default();
    for &b in info.iter().take_while(|&&b| b != b',') {
        match b {
            b'S' => flags.seen = true,
            b'R' => flags.answered = true,
            b'F' => flags.flagged = true,
            b'T' => flags.deleted = true,
            b'D' => flags.draft = true,
            b'P' => flags.forwarded = true,
            b'a'..=b'z' => flags.keywords |= 1 << (b - b'a'),
            _ if !flags.unknown.contains(&b) => flags.unknown.push(b),
            _ => {}
        }
    }
    flags
}

/// IMAP flags for one message, plus the keyword letters that could not be mapped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImapFlags {
    /// Flags in canonical order: `\Seen \Answered \Flagged \Deleted \Draft`, then
    /// `$Forwarded`, then keywords in letter order; no duplicates.
    pub flags: Vec<String>,
    /// Keyword letters with no entry in `dovecot-keywords` (not turned into flags).
    pub unmapped: Vec<u8>,
}

/// The system flags in canonical order; bit `i` of a [`FlagSet`] is `SYSTEM[i]`.
const SYSTEM: [&str; 6] = [
    "\\Seen",
    "\\Answered",
    "\\Flagged",
    "\\Deleted",
    "\\Draft",
    "$Forwarded",
];

/// A message's IMAP flags in one `u32`, for lists of 100k messages: bits 0–5 are
/// the system flags in canonical order, bits 6–31 the keyword letters `a`–`z` whose
/// keyword is a flag of this message (after the rules of [`imap_flags`]). The names
/// come from the mailbox's [`Keywords`] table when needed ([`FlagSet::names`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct FlagSet(u32);

impl FlagSet {
    /// The bits, to store the set (convert's on-disk listings).
    pub(crate) fn bits(self) -> u32 {
        self.0
    }

    /// The set whose [`FlagSet::bits`] these are.
    pub(crate) fn from_bits(bits: u32) -> Self {
        FlagSet(bits)
    }

    /// Does the set hold no flag?
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The flag names in canonical order, keywords looked up in `keywords` (the
    /// table the set was made with).
    pub fn names(self, keywords: &Keywords) -> Vec<String> {
        let mut out = Vec::with_capacity(self.0.count_ones() as usize);
        for (i, name) in SYSTEM.iter().enumerate() {
            if self.0 & (1 << i) != 0 {
                out.push((*name).to_owned());
            }
        }
        for letter in b'a'..=b'z' {
            if self.0 & (1 << (6 + u32::from(letter - b'a'))) != 0
                && let Some(name) = keywords.for_letter(letter)
            {
                out.push(name.to_owned());
            }
        }
        out
    }
}

/// [`imap_flags`] as a [`FlagSet`] plus the unmapped letters, without allocating a
/// name per flag. Letters are pushed to `unmapped`, which is cleared first.
pub fn flag_set(
    info: &InfoFlags,
    in_new: bool,
    keywords: &Keywords,
    unmapped: &mut Vec<u8>,
) -> FlagSet {
    unmapped.clear();
    let system = [
        info.seen && !in_new,
        info.answered,
        info.flagged,
        info.deleted,
        info.draft,
        info.forwarded,
    ];
    let mut bits = 0u32;
    for (i, set) in system.into_iter().enumerate() {
        if set {
            bits |= 1 << i;
        }
    }
    // Names already in the set, for the case-insensitive duplicate test; a
    // message has at most 6 + 26 of them.
    let mut present: Vec<&str> = SYSTEM
        .iter()
        .enumerate()
        .filter(|(i, _)| bits & (1 << i) != 0)
        .map(|(_, n)| *n)
        .collect();
    for letter in info.keyword_letters() {
        match keywords.for_letter(letter) {
            // A keyword file claiming `\Seen` must not smuggle the flag into `new/`.
            Some(name) if in_new && name.eq_ignore_ascii_case("\\Seen") => {}
            Some(name) => {
                if !present.iter().any(|f| f.eq_ignore_ascii_case(name)) {
                    present.push(name);
                    bits |= 1 << (6 + u32::from(letter - b'a'));
                }
            }
            None => unmapped.push(letter),
        }
    }
    FlagSet(bits)
}

/// Map decoded flag characters to IMAP flag names.
///
/// `in_new`: the file is in `new/`, which by the Maildir standard holds mail no client
/// has seen yet, so `\Seen` is never set for it whatever the name says.
/// Duplicates (a keyword file mapping a letter to `$Forwarded` while `P` is set, or
/// two letters to one name) are dropped, comparing names ignoring ASCII case because
/// IMAP flag and keyword names are case-insensitive (RFC 3501 §9: "all alphabetic
/// characters are case-insensitive").
pub fn imap_flags(info: &InfoFlags, in_new: bool, keywords: &Keywords) -> ImapFlags {
    let mut unmapped = Vec::new();
    let set = flag_set(info, in_new, keywords, &mut unmapped);
    ImapFlags {
        flags: set.names(keywords),
        unmapped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags_of(name: &[u8], in_new: bool, kw: &Keywords) -> Vec<String> {
        let info = parse_filename(name).info.unwrap_or_default();
        imap_flags(&parse_info(&info), in_new, kw).flags
    }

    #[test]
    fn dovecot_name_with_sizes() {
        let p =
            parse_filename(b"1088857431.M248757P1001Q1.mailhost.example.org,S=1501,W=1532:2,FS");
        assert_eq!(
            p.base,
            b"1088857431.M248757P1001Q1.mailhost.example.org,S=1501,W=1532"
        );
        assert_eq!(p.size, Some(1501));
        assert_eq!(p.vsize, Some(1532));
        assert_eq!(p.info.as_deref(), Some(&b"FS"[..]));
    }

    #[test]
    fn names_without_info_or_sizes() {
        let p = parse_filename(b"1198021701.M463107P1001Q14.host,S=1496,W=1527");
        assert_eq!(p.info, None);
        assert_eq!(p.size, Some(1496));
        assert_eq!(p.base, b"1198021701.M463107P1001Q14.host,S=1496,W=1527");
        let p = parse_filename(b"1035478339.27041_118.foo.org");
        assert_eq!((p.size, p.vsize, p.info), (None, None, None));
        let p = parse_filename(b"");
        assert_eq!(p, ParsedName::default());
        let p = parse_filename(b"x:2,");
        assert_eq!(p.info.as_deref(), Some(&b""[..]));
    }

    #[test]
    fn alternative_separators_and_last_wins() {
        for name in [
            &b"123.host,S=10;2,RS"[..],
            b"123.host,S=10!2,RS",
            b"123.host,S=10:2,RS",
        ] {
            let p = parse_filename(name);
            assert_eq!(p.base, b"123.host,S=10");
            assert_eq!(p.size, Some(10));
            assert_eq!(p.info.as_deref(), Some(&b"RS"[..]));
        }
        // The last separator counts: a copied name that gained a second info field.
        let p = parse_filename(b"123.host:2,S:2,F");
        assert_eq!(p.base, b"123.host:2,S");
        assert_eq!(p.info.as_deref(), Some(&b"F"[..]));
    }

    #[test]
    fn malformed_sizes_are_ignored() {
        let p = parse_filename(b"123.host,S=,W=12x,S=99:2,S");
        assert_eq!(p.size, Some(99));
        assert_eq!(p.vsize, None);
        let p = parse_filename(b"123.host,S=99999999999999999999999:2,");
        assert_eq!(p.size, None);
        // The unique part before the first comma is never a field.
        let p = parse_filename(b"S=5,W=6");
        assert_eq!((p.size, p.vsize), (None, Some(6)));
        let p = parse_filename(b"\xff\xfe,S=7\xff:2,S");
        assert_eq!(p.size, None);
    }

    #[test]
    fn system_flags_in_canonical_order() {
        let kw = Keywords::default();
        assert_eq!(
            flags_of(b"x:2,TFDPRS", false, &kw),
            [
                "\\Seen",
                "\\Answered",
                "\\Flagged",
                "\\Deleted",
                "\\Draft",
                "$Forwarded"
            ]
        );
        assert!(flags_of(b"x:2,", false, &kw).is_empty());
        assert!(flags_of(b"x", false, &kw).is_empty());
        assert_eq!(flags_of(b"x:2,SS", false, &kw), ["\\Seen"]);
    }

    #[test]
    fn new_is_never_seen() {
        let kw = Keywords::parse(b"0 \\Seen\n1 $label1\n");
        assert_eq!(flags_of(b"x:2,RSab", true, &kw), ["\\Answered", "$label1"]);
        assert_eq!(
            flags_of(b"x:2,RSab", false, &kw),
            ["\\Seen", "\\Answered", "$label1"]
        );
    }

    #[test]
    fn keywords_map_dedup_and_unmapped() {
        let kw = Keywords::parse(b"0 $Forwarded\n1 $label1\n2 NonJunk\n4 $LABEL1\n");
        assert_eq!(flags_of(b"x:2,Sa", false, &kw), ["\\Seen", "$Forwarded"]);
        assert_eq!(flags_of(b"x:2,PSa", false, &kw), ["\\Seen", "$Forwarded"]);
        assert_eq!(
            flags_of(b"x:2,RSab", false, &kw),
            ["\\Seen", "\\Answered", "$Forwarded", "$label1"]
        );
        assert_eq!(flags_of(b"x:2,cb", false, &kw), ["$label1", "NonJunk"]);
        assert_eq!(flags_of(b"x:2,be", false, &kw), ["$label1"]);
        let info = parse_info(b"Sdz");
        let out = imap_flags(&info, false, &kw);
        assert_eq!(out.flags, ["\\Seen"]);
        assert_eq!(out.unmapped, b"dz");
    }

    #[test]
    fn unknown_characters_and_dovecot_extra_fields() {
        let info = parse_info(b"SXQ1X\xff,abc");
        assert!(info.seen);
        assert_eq!(info.keywords, 0, "letters after ',' are not flags");
        assert_eq!(info.unknown, b"XQ1\xff");
        let info = parse_info(b"az");
        assert_eq!(info.keyword_letters().collect::<Vec<_>>(), b"az");
    }
}
