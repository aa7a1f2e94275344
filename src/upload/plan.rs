//! Where each staged folder goes on the server, decided before anything is sent.
//!
//! - Special folders follow the server's own special-use attributes from LIST (RFC
//!   6154): a staged `Sent Items` goes to whatever folder the server marks `\Sent`
//!   (Dovecot's `Sent`, a localised Exchange's `Gesendete Elemente`, Exchange Online's
//!   `Junk Email` for `\Junk`), children included. Without such an attribute the staged
//!   name is used. `Inbox` is always the server's `INBOX` (RFC 3501 §5.1).
//! - Names are joined with the server's hierarchy separator and encoded in modified
//!   UTF-7 (RFC 3501 §5.1.3). A segment holding the separator cannot be created as
//!   one folder, so it is reported, not split.
//! - A staged folder that differs only in case from an existing server folder is
//!   reported as a collision (Exchange folder names are case-insensitive, so it would
//!   be merged into the existing one) unless the admin allows merging.
//!
//! Problems are per folder: the other folders go ahead.

use std::collections::{HashMap, HashSet};

use crate::imap::{ListEntry, wire_name};

/// The special-use attribute (RFC 6154) of a staged top-level folder name, as the
/// default Exchange mapping (`docs/MAPPING.md`) writes them. `INBOX` is handled apart.
fn role(first: &str) -> Option<&'static str> {
    const ROLES: &[(&str, &str)] = &[
        ("Sent Items", "\\Sent"),
        ("Deleted Items", "\\Trash"),
        ("Junk E-mail", "\\Junk"),
        ("Junk Email", "\\Junk"),
        ("Drafts", "\\Drafts"),
        ("Archive", "\\Archive"),
    ];
    ROLES
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(first))
        .map(|(_, r)| *r)
}

/// One staged folder's place on the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FolderPlan {
    /// Upload into `wire` (creating it and the listed parents first if needed).
    Go {
        /// Wire name (modified UTF-7, server separator).
        wire: Vec<u8>,
        /// Decoded server name, for people.
        display: String,
        /// Whether it exists on the server already.
        exists: bool,
        /// Missing ancestors to create first, outermost first (wire names).
        parents: Vec<Vec<u8>>,
        /// How the special-use resolution went, when it applied.
        note: Option<String>,
    },
    /// Not uploaded; the reason says why and what to do.
    Problem(String),
}

/// Decodes a wire name for display (lossy on malformed modified UTF-7).
pub fn display_name(wire: &[u8]) -> String {
    crate::mutf7::decode(wire).unwrap_or_else(|_| String::from_utf8_lossy(wire).into_owned())
}

/// Plans every staged folder in `folders` against the server's `list`.
pub fn plan(
    folders: &[String],
    list: &[ListEntry],
    separator: Option<u8>,
    merge_case: bool,
) -> Vec<FolderPlan> {
    let existing: HashSet<&[u8]> = list.iter().map(|e| e.name.as_slice()).collect();
    // case-folded decoded name → wire name, for the collision check
    let mut folded: HashMap<String, &[u8]> = HashMap::new();
    for e in list {
        folded
            .entry(fold(&display_name(&e.name)))
            .or_insert(e.name.as_slice());
    }
    let special: HashMap<String, &[u8]> = list
        .iter()
        .flat_map(|e| {
            e.attributes
                .iter()
                .map(move |a| (a.to_ascii_lowercase(), e.name.as_slice()))
        })
        .collect();
    folders
        .iter()
        .map(|f| plan_one(f, &existing, &folded, &special, separator, merge_case))
        .collect()
}

fn fold(s: &str) -> String {
    s.to_lowercase()
}

fn plan_one(
    folder: &str,
    existing: &HashSet<&[u8]>,
    folded: &HashMap<String, &[u8]>,
    special: &HashMap<String, &[u8]>,
    separator: Option<u8>,
    merge_case: bool,
) -> FolderPlan {
    let segs: Vec<&str> = folder.split('/').collect();
    if segs.iter().any(|s| s.is_empty()) {
        return FolderPlan::Problem(format!("folder name {folder:?} has an empty segment"));
    }
    let mut note = None;
    // base: the wire name of the first segment (maybe replaced by a special folder)
    let (base, base_exists): (Vec<u8>, bool) = if segs[0].eq_ignore_ascii_case("Inbox") {
        (b"INBOX".to_vec(), true)
    } else if let Some(r) = role(segs[0])
        && let Some(w) = special.get(&r.to_ascii_lowercase())
    {
        let w = w.to_vec();
        if display_name(&w) != segs[0] {
            note = Some(format!(
                "{} goes to the server's {r} folder {:?}",
                segs[0],
                display_name(&w)
            ));
        }
        (w, true)
    } else {
        match wire_name(&segs[..1], separator) {
            Some(w) => {
                let e = existing.contains(w.as_slice());
                (w, e)
            }
            None => return separator_problem(folder, separator),
        }
    };
    let mut parents = Vec::new();
    let mut wire = base;
    let mut exists = base_exists;
    if !exists && let Some(p) = collision(&wire, folded, merge_case) {
        return p;
    }
    for (i, seg) in segs.iter().enumerate().skip(1) {
        let Some(enc) = wire_name(&[seg], separator) else {
            return separator_problem(folder, separator);
        };
        let Some(sep) = separator else {
            return separator_problem(folder, separator);
        };
        if !exists {
            parents.push(wire.clone());
        }
        wire.push(sep);
        wire.extend_from_slice(&enc);
        exists = existing.contains(wire.as_slice());
        if !exists
            && i > 0
            && let Some(p) = collision(&wire, folded, merge_case)
        {
            return p;
        }
    }
    // case-merge: use the server's spelling of an existing case variant
    if !exists
        && merge_case
        && let Some(w) = folded.get(&fold(&display_name(&wire)))
    {
        wire = w.to_vec();
        exists = true;
        parents.clear();
    }
    FolderPlan::Go {
        display: display_name(&wire),
        wire,
        exists,
        parents,
        note,
    }
}

fn collision(wire: &[u8], folded: &HashMap<String, &[u8]>, merge_case: bool) -> Option<FolderPlan> {
    if merge_case {
        return None;
    }
    let name = display_name(wire);
    let w = folded.get(&fold(&name))?;
    if *w == wire {
        return None;
    }
    Some(FolderPlan::Problem(format!(
        "{name:?} differs only in case from the server's existing folder {:?}; folder names \
         are case-insensitive on Exchange, so it would be merged into that one. Rename it \
         (convert --map) or allow the merge with --merge-case-folders",
        display_name(w)
    )))
}

fn separator_problem(folder: &str, separator: Option<u8>) -> FolderPlan {
    FolderPlan::Problem(match separator {
        Some(sep) => format!(
            "folder {folder:?} has a name segment containing the server's hierarchy \
             separator {:?}, so it cannot be created as one folder; rename it (convert --map)",
            sep as char
        ),
        None => format!(
            "the server has no folder hierarchy, so the subfolder {folder:?} cannot be created"
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, attrs: &[&str]) -> ListEntry {
        ListEntry {
            attributes: attrs.iter().map(|s| s.to_string()).collect(),
            separator: Some(b'.'),
            name: name.as_bytes().to_vec(),
        }
    }

    fn folders(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn special_use_wins_over_staged_names() {
        let list = vec![
            entry("INBOX", &[]),
            entry("Sent", &["\\HasNoChildren", "\\Sent"]),
            entry("Junk", &["\\Junk"]),
        ];
        let p = plan(
            &folders(&[
                "Inbox",
                "Sent Items",
                "Sent Items/2009",
                "Junk E-mail",
                "Inbox/Sub",
            ]),
            &list,
            Some(b'.'),
            false,
        );
        let wires: Vec<_> = p
            .iter()
            .map(|x| match x {
                FolderPlan::Go { wire, exists, .. } => {
                    (String::from_utf8_lossy(wire).into_owned(), *exists)
                }
                FolderPlan::Problem(e) => panic!("{e}"),
            })
            .collect();
        assert_eq!(
            wires,
            vec![
                ("INBOX".into(), true),
                ("Sent".into(), true),
                ("Sent.2009".into(), false),
                ("Junk".into(), true),
                ("INBOX.Sub".into(), false)
            ]
        );
    }

    #[test]
    fn no_attribute_keeps_staged_name_and_creates_parents() {
        let p = plan(
            &folders(&["Archive/2009"]),
            &[entry("INBOX", &[])],
            Some(b'/'),
            false,
        );
        assert_eq!(
            p[0],
            FolderPlan::Go {
                wire: b"Archive/2009".to_vec(),
                display: "Archive/2009".into(),
                exists: false,
                parents: vec![b"Archive".to_vec()],
                note: None,
            }
        );
    }

    #[test]
    fn case_only_collision_is_reported_or_merged() {
        let list = vec![entry("projects", &[])];
        let p = plan(&folders(&["Projects"]), &list, Some(b'.'), false);
        assert!(matches!(&p[0], FolderPlan::Problem(e) if e.contains("only in case")));
        let p = plan(&folders(&["Projects"]), &list, Some(b'.'), true);
        assert!(matches!(&p[0], FolderPlan::Go { wire, exists: true, .. } if wire == b"projects"));
    }

    #[test]
    fn separator_inside_a_name_is_a_problem() {
        let p = plan(&folders(&["v1.2"]), &[], Some(b'.'), false);
        assert!(matches!(&p[0], FolderPlan::Problem(e) if e.contains("separator")));
        let p = plan(&folders(&["v1.2"]), &[], Some(b'/'), false);
        assert!(matches!(&p[0], FolderPlan::Go { .. }));
    }

    #[test]
    fn non_ascii_is_modified_utf7() {
        let p = plan(&folders(&["Reisen/Österreich"]), &[], Some(b'/'), false);
        let FolderPlan::Go { wire, display, .. } = &p[0] else {
            panic!()
        };
        assert_eq!(wire, b"Reisen/&ANY-sterreich");
        assert_eq!(display, "Reisen/Österreich");
    }
}
