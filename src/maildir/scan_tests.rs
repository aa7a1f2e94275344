//! Scanner tests: the committed fixtures, trees from `gen-maildir` in both layouts,
//! and hand-built trees with hostile names and entries.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::*;

type TestResult = Result<(), Box<dyn std::error::Error>>;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/maildir");
/// `shared/tools/gen-maildir`: under `$MAILSTAGE_SHARED` (what `.ci/run` sets), else
/// beside the checkout.
fn gen_maildir_path() -> std::path::PathBuf {
    std::env::var_os("MAILSTAGE_SHARED")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared"))
        .join("tools/gen-maildir")
}

fn names(md: &Maildir) -> Vec<String> {
    md.folders.iter().map(SourceFolder::display_name).collect()
}

fn folder<'a>(md: &'a Maildir, name: &[&str]) -> &'a SourceFolder {
    md.folder(name)
        .unwrap_or_else(|| panic!("no folder {name:?} in {:?}", names(md)))
}

/// The message whose file name starts with `prefix` (the unique part).
fn message<'a>(f: &'a SourceFolder, prefix: &str) -> &'a SourceMessage {
    f.messages
        .iter()
        .find(|m| {
            m.path
                .file_name()
                .is_some_and(|n| n.as_bytes().starts_with(prefix.as_bytes()))
        })
        .unwrap_or_else(|| panic!("no message {prefix} in {}", f.display_name()))
}

/// Every regular file below a `cur` or `new` directory (not starting with `.`),
/// found independently of the scanner.
fn files_in_cur_new(root: &Path) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in fs::read_dir(&dir).unwrap() {
            let e = e.unwrap();
            let t = e.file_type().unwrap();
            let parent = dir
                .file_name()
                .map(|n| n.as_bytes().to_vec())
                .unwrap_or_default();
            if t.is_dir() {
                stack.push(e.path());
            } else if t.is_file()
                && (parent == b"cur" || parent == b"new")
                && !e.file_name().as_bytes().starts_with(b".")
            {
                let rel = e
                    .path()
                    .strip_prefix(root)
                    .unwrap()
                    .as_os_str()
                    .as_bytes()
                    .to_vec();
                out.push(rel);
            }
        }
    }
    out.sort();
    out
}

fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    fs::create_dir_all(to)?;
    for e in fs::read_dir(from)? {
        let e = e?;
        let target = to.join(e.file_name());
        if e.file_type()?.is_dir() {
            copy_tree(&e.path(), &target)?;
        } else {
            fs::copy(e.path(), target)?;
        }
    }
    Ok(())
}

fn mkdirs(root: &Path, dirs: &[&str]) -> std::io::Result<()> {
    for d in dirs {
        fs::create_dir_all(root.join(d))?;
    }
    Ok(())
}

#[test]
fn fixture_alice_maildir_plus_plus() -> TestResult {
    let md = scan(&Path::new(FIXTURES).join("alice"), LayoutChoice::Auto)?;
    assert_eq!(md.layout, Layout::MaildirPlusPlus);
    assert!(md.root.is_absolute());
    assert_eq!(md.warnings, [], "{:#?}", md.warnings);
    let expected: &[(&str, &[u8], bool, usize)] = &[
        ("INBOX", b"", true, 12),
        ("Archives", b".Archives", false, 0),
        ("Archives/2009", b".Archives.2009", true, 1),
        ("Archives/2010", b".Archives.2010", true, 1),
        ("Drafts", b".Drafts", true, 1),
        ("Empty", b".Empty", true, 0),
        ("Entwürfe", b".Entw&APw-rfe", true, 1),
        ("Junk", b".Junk", true, 1),
        ("Lists", b".Lists", false, 0),
        ("Lists/rust-users", b".Lists.rust-users", true, 2),
        ("Reisen", b".Reisen", false, 0),
        ("Reisen/Österreich", b".Reisen.&ANY-sterreich", true, 1),
        ("Sent", b".Sent", true, 2),
        ("Templates", b".Templates", true, 1),
        ("Trash", b".Trash", true, 1),
    ];
    let got: Vec<_> = md
        .folders
        .iter()
        .map(|f| {
            (
                f.display_name(),
                f.raw_name.clone(),
                f.dir.is_some(),
                f.messages.len(),
            )
        })
        .collect();
    let want: Vec<_> = expected
        .iter()
        .map(|(n, r, d, c)| (n.to_string(), r.to_vec(), *d, *c))
        .collect();
    assert_eq!(got, want);
    assert!(md.folders.iter().all(|f| f.name_ok));
    assert_eq!(md.message_count(), 24);
    // Control files, tmp/ contents and .keep placeholders; see fixtures/maildir/README.md.
    assert_eq!(md.ignored_files, 52);
    assert_eq!(
        folder(&md, &["Archives", "2009"]).dir,
        Some(md.root.join(".Archives.2009"))
    );

    let inbox = folder(&md, &["INBOX"]);
    assert!(inbox.is_inbox());
    assert_eq!(inbox.dir.as_deref(), Some(md.root.as_path()));
    let flags = |prefix| message(inbox, prefix).flags.clone();
    assert_eq!(flags("1262592902."), ["\\Seen"]);
    assert_eq!(flags("1263310811."), ["\\Seen", "\\Answered"]);
    assert_eq!(flags("1265191365."), ["\\Seen", "\\Flagged"]);
    assert_eq!(flags("1268895600."), ["\\Seen", "$label1"]);
    assert_eq!(
        flags("1272129669."),
        ["\\Seen", "$Forwarded", "$label1", "NonJunk"]
    );
    assert!(flags("1273473000.").is_empty());
    assert!(flags("1276616700.").is_empty());
    assert!(message(inbox, "1276616700.").in_new);
    assert!(!message(inbox, "1262592902.").in_new);
    // Keyword letters are per folder: `a` is $Important here, $label1 in INBOX.
    let a10 = message(folder(&md, &["Archives", "2010"]), "1289811600.");
    assert_eq!(a10.flags, ["\\Seen", "\\Answered", "$Important"]);
    assert_eq!(
        message(folder(&md, &["Trash"]), "1265540400.").flags,
        ["\\Seen", "\\Deleted"]
    );
    assert_eq!(
        message(folder(&md, &["Drafts"]), "1274443200.").flags,
        ["\\Seen", "\\Draft"]
    );
    let junk = message(folder(&md, &["Junk"]), "1270094644.");
    assert!(junk.in_new && junk.flags.is_empty());
    assert_eq!(
        junk.rel_path,
        b".Junk/new/1270094644.M226704P4242Q16.mx1.example.org,S=374,W=386"
    );

    // The duplicate pair, the binary non-message and the empty file are all listed.
    let dup_a = message(inbox, "1262592902.");
    let dup_b = message(inbox, "1262592960.");
    assert_eq!(fs::read(&dup_a.path)?, fs::read(&dup_b.path)?);
    assert_eq!(message(inbox, "1276000000.").size, 200);
    assert_eq!(message(inbox, "1276100000.").size, 0);

    for (_, m) in md.messages() {
        assert_eq!(
            m.path,
            md.root
                .join(Path::new(std::ffi::OsStr::from_bytes(&m.rel_path)))
        );
        // The fixture names carry Dovecot's S= field; it must match the real size.
        let parsed = parse_filename(m.path.file_name().map(|n| n.as_bytes()).unwrap_or_default());
        assert_eq!(parsed.size, Some(m.size), "{}", m.path.display());
    }
    let listed: Vec<Vec<u8>> = md.messages().map(|(_, m)| m.rel_path.clone()).collect();
    assert_eq!(listed.len(), 24);
    let mut sorted_listed = listed.clone();
    sorted_listed.sort();
    assert_eq!(sorted_listed, files_in_cur_new(&md.root));
    for f in &md.folders {
        assert!(f.messages.windows(2).all(|w| w[0].rel_path < w[1].rel_path));
    }
    Ok(())
}

#[test]
fn fixture_bob_fs_layout() -> TestResult {
    let md = scan(&Path::new(FIXTURES).join("bob-fs"), LayoutChoice::Auto)?;
    assert_eq!(md.layout, Layout::Fs);
    assert_eq!(md.warnings, []);
    let got: Vec<_> = md
        .folders
        .iter()
        .map(|f| (f.display_name(), f.dir.is_some(), f.messages.len()))
        .collect();
    let want = [
        ("INBOX", true, 3),
        ("Archives", false, 0),
        ("Archives/2009", true, 1),
        ("Reisen", false, 0),
        ("Reisen/Österreich", true, 1),
        ("Sent", true, 1),
    ];
    assert_eq!(got, want.map(|(n, d, c)| (n.to_string(), d, c)));
    assert_eq!(
        folder(&md, &["Reisen", "Österreich"]).raw_name,
        b"Reisen/&ANY-sterreich"
    );
    assert_eq!(md.message_count(), 6);
    assert_eq!(md.ignored_files, 13);
    let inbox = folder(&md, &["INBOX"]);
    assert_eq!(message(inbox, "1276761600.").flags, ["\\Seen", "$label1"]);
    let archived = message(folder(&md, &["Archives", "2009"]), "1236682800.");
    assert!(
        archived
            .rel_path
            .starts_with(b"Archives/2009/cur/1236682800.")
    );
    Ok(())
}

#[test]
fn explicit_layout_overrides_detection() -> TestResult {
    let md = scan(&Path::new(FIXTURES).join("alice"), LayoutChoice::Fs)?;
    assert_eq!(md.layout, Layout::Fs);
    assert_eq!(folder(&md, &[".Sent"]).messages.len(), 2);
    assert_eq!(md.message_count(), 24);

    let md = scan(
        &Path::new(FIXTURES).join("bob-fs"),
        LayoutChoice::MaildirPlusPlus,
    )?;
    assert_eq!(md.layout, Layout::MaildirPlusPlus);
    assert_eq!(names(&md), ["INBOX"]);
    let unexpected = md
        .warnings
        .iter()
        .filter(|w| matches!(w, ScanWarning::UnexpectedDirectory { .. }))
        .count();
    assert_eq!(unexpected, 3, "{:#?}", md.warnings);
    Ok(())
}

#[test]
fn mtime_is_read_from_the_file() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let root = tmp.path().join("alice");
    copy_tree(&Path::new(FIXTURES).join("alice"), &root)?;
    let rel = "cur/1262592902.M107919P4242Q1.mx1.example.org,S=387,W=402:2,S";
    let when = SystemTime::UNIX_EPOCH + Duration::from_secs(1_262_592_902);
    fs::File::options()
        .write(true)
        .open(root.join(rel))?
        .set_modified(when)?;
    let md = scan(&root, LayoutChoice::Auto)?;
    let m = md
        .messages()
        .find(|(_, m)| m.rel_path == rel.as_bytes())
        .map(|(_, m)| m.clone());
    assert_eq!(m.map(|m| m.mtime), Some(when));
    Ok(())
}

fn run_gen_maildir(out: &Path, messages: u32, layout: &str) {
    let gen_maildir = gen_maildir_path();
    assert!(
        gen_maildir.is_file(),
        "gen-maildir missing at {} (set MAILSTAGE_SHARED)",
        gen_maildir.display()
    );
    let status = std::process::Command::new("python3")
        .arg(&gen_maildir)
        .arg(out)
        .args([
            "--messages",
            &messages.to_string(),
            "--seed",
            "1",
            "--layout",
            layout,
        ])
        .stdout(std::process::Stdio::null())
        .status()
        .expect("run python3 gen-maildir");
    assert!(status.success(), "gen-maildir failed: {status}");
}

/// Flags gen-maildir's letters must map to (its dovecot-keywords: a b c =
/// $Forwarded $label1 NonJunk), computed from the name independently.
fn expected_gen_flags(name: &[u8], in_new: bool) -> Vec<&'static str> {
    let info = match name.windows(3).rposition(|w| w == b":2,") {
        Some(i) => &name[i + 3..],
        None => &b""[..],
    };
    let table: [(u8, &str); 9] = [
        (b'S', "\\Seen"),
        (b'R', "\\Answered"),
        (b'F', "\\Flagged"),
        (b'T', "\\Deleted"),
        (b'D', "\\Draft"),
        (b'P', "$Forwarded"),
        (b'a', "$Forwarded"),
        (b'b', "$label1"),
        (b'c', "NonJunk"),
    ];
    let mut out: Vec<&str> = Vec::new();
    for (letter, flag) in table {
        if info.contains(&letter) && !(in_new && letter == b'S') && !out.contains(&flag) {
            out.push(flag);
        }
    }
    out
}

#[test]
fn gen_maildir_both_layouts_agree() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let mut results = Vec::new();
    for (layout, want) in [("maildir++", Layout::MaildirPlusPlus), ("fs", Layout::Fs)] {
        let root = tmp.path().join(layout);
        run_gen_maildir(&root, 400, layout);
        let md = scan(&root, LayoutChoice::Auto)?;
        assert_eq!(md.layout, want);
        assert_eq!(md.warnings, [], "{layout}: {:#?}", md.warnings);
        assert!(md.ignored_files > 0);
        // Every file under cur/ and new/ is listed exactly once.
        let mut listed: Vec<Vec<u8>> = md.messages().map(|(_, m)| m.rel_path.clone()).collect();
        assert_eq!(listed.len(), 400);
        listed.sort();
        listed.dedup();
        assert_eq!(listed, files_in_cur_new(&root), "{layout}");

        let oe = folder(&md, &["Reisen", "Österreich"]);
        assert!(oe.dir.is_some() && oe.name_ok && !oe.messages.is_empty());
        assert!(folder(&md, &["Family & Friends"]).dir.is_some());
        let empty = folder(&md, &["Old", "Empty"]);
        assert!(empty.dir.is_some() && empty.messages.is_empty());
        assert!(folder(&md, &["Old"]).dir.is_none());
        assert!(folder(&md, &["Projects", "Customer A"]).dir.is_none());
        assert!(
            folder(&md, &["Projects", "Customer A", "Reports"])
                .dir
                .is_some()
        );

        let mut keyword_hits = BTreeMap::new();
        for (_, m) in md.messages() {
            let name = m.path.file_name().map(|n| n.as_bytes()).unwrap_or_default();
            assert_eq!(
                m.flags,
                expected_gen_flags(name, m.in_new),
                "{}",
                m.path.display()
            );
            assert_eq!(
                m.in_new,
                m.rel_path.windows(5).any(|w| w == b"/new/") || m.rel_path.starts_with(b"new/")
            );
            for k in ["$label1", "NonJunk"] {
                if m.flags.iter().any(|f| f == k) {
                    *keyword_hits.entry(k).or_insert(0) += 1;
                }
            }
        }
        assert!(
            keyword_hits.len() == 2,
            "{layout}: keyword letters not exercised: {keyword_hits:?}"
        );
        results.push(md);
    }
    // Both layouts describe the same mailboxes: same names, same mailbox/parent
    // pattern, same number of messages per folder.
    let summary = |md: &Maildir| -> Vec<(Vec<String>, bool, usize)> {
        md.folders
            .iter()
            .map(|f| (f.name.clone(), f.dir.is_some(), f.messages.len()))
            .collect()
    };
    assert_eq!(summary(&results[0]), summary(&results[1]));
    assert_eq!(results[0].folders.len(), 20);
    Ok(())
}

#[test]
fn hostile_names_and_entries() -> TestResult {
    use std::os::unix::fs::symlink;
    let tmp = tempfile::tempdir()?;
    let root = tmp.path();
    mkdirs(
        root,
        &[
            "cur",
            "new",
            "tmp",
            "cur/nested",
            ".INBOX.Sent/cur",
            ".A.B.C/new",
            "courierimapkeywords",
        ],
    )?;
    let raw_bad: &[u8] = b".Entw\xfcrfe";
    let bad = root.join(std::ffi::OsStr::from_bytes(raw_bad));
    mkdirs(&bad, &["cur", "new", "tmp"])?;
    fs::create_dir_all(root.join(".Caf&AOk/cur"))?;
    fs::create_dir_all(root.join(".Raw Entwürfe/new"))?;

    let odd_name: &[u8] = b"1300000000.M1P1.host\xff\xfe,S=5:2,S";
    fs::write(
        root.join("cur").join(std::ffi::OsStr::from_bytes(odd_name)),
        b"hello",
    )?;
    fs::write(
        bad.join("cur")
            .join(std::ffi::OsStr::from_bytes(b"2.\x80x:2,RS")),
        b"x",
    )?;
    fs::write(root.join("cur/3.host;2,FSzX"), b"x")?;
    fs::write(root.join("cur/4.host!2,SzQ"), b"x")?;
    fs::write(root.join("cur/.DS_Store"), b"x")?;
    fs::write(root.join("cur/.5.host.swp"), b"x")?;
    fs::write(root.join("cur/nested/6.host:2,S"), b"x")?;
    fs::write(root.join("new/7.host:2,S"), b"x")?;
    fs::write(root.join("tmp/8.host"), b"x")?;
    fs::write(root.join("dovecot-keywords"), b"0 $label1\n1 two words\n")?;
    fs::write(root.join("mbox"), b"From x\n")?;
    fs::write(root.join("courierimapkeywords/:list"), b"x")?;
    fs::write(root.join(".INBOX.Sent/cur/9.host:2,S"), b"x")?;
    symlink(root.join("new/7.host:2,S"), root.join("cur/10.link:2,F"))?;
    symlink(root.join("tmp"), root.join("cur/11.dirlink"))?;
    symlink(root.join("missing"), root.join("cur/12.broken"))?;
    symlink(root.join(".A.B.C"), root.join(".Link"))?;

    let md = scan(root, LayoutChoice::Auto)?;
    assert_eq!(md.layout, Layout::MaildirPlusPlus);
    assert_eq!(
        names(&md),
        [
            "INBOX",
            "A",
            "A/B",
            "A/B/C",
            "Caf&AOk",
            "Entw%FCrfe",
            "INBOX/Sent",
            "Raw Entwürfe"
        ]
    );
    let by_raw = |raw: &[u8]| {
        md.folders
            .iter()
            .find(|f| f.raw_name == raw)
            .expect("folder by raw name")
    };
    assert!(
        !by_raw(raw_bad).name_ok
            && !by_raw(b".Caf&AOk").name_ok
            && !by_raw(".Raw Entwürfe".as_bytes()).name_ok
    );
    assert!(by_raw(b".A.B").name_ok && by_raw(b".A.B").dir.is_none());
    assert!(by_raw(b".A.B.C").dir.is_some());

    let inbox = folder(&md, &["INBOX"]);
    let odd = message(inbox, "1300000000.");
    assert_eq!(odd.rel_path, [b"cur/", odd_name].concat());
    assert_eq!(odd.path.file_name().map(|n| n.as_bytes()), Some(odd_name));
    assert_eq!(
        (odd.size, odd.flags.as_slice()),
        (5, &["\\Seen".to_string()][..])
    );
    assert_eq!(message(inbox, "3.host").flags, ["\\Seen", "\\Flagged"]);
    assert_eq!(message(inbox, "4.host").flags, ["\\Seen"]);
    assert_eq!(message(inbox, "10.link").flags, ["\\Flagged"]);
    assert_eq!(message(inbox, "10.link").size, 1);
    let unseen = message(inbox, "7.host");
    assert!(unseen.in_new && unseen.flags.is_empty());
    assert_eq!(inbox.messages.len(), 5);
    let bad_msg = &by_raw(raw_bad).messages[0];
    assert_eq!(bad_msg.rel_path, b".Entw\xfcrfe/cur/2.\x80x:2,RS");
    assert_eq!(bad_msg.flags, ["\\Seen", "\\Answered"]);

    let has = |pred: &dyn Fn(&ScanWarning) -> bool| md.warnings.iter().filter(|w| pred(w)).count();
    assert_eq!(
        has(&|w| matches!(w, ScanWarning::BadFolderName { .. })),
        3,
        "{:#?}",
        md.warnings
    );
    assert_eq!(
        has(&|w| matches!(
            w,
            ScanWarning::UnmappedKeyword {
                letter: b'z',
                messages: 2,
                ..
            }
        )),
        1
    );
    assert_eq!(
        has(&|w| matches!(
            w,
            ScanWarning::UnknownFlag {
                flag: b'X',
                messages: 1,
                ..
            }
        )),
        1
    );
    assert_eq!(
        has(&|w| matches!(w, ScanWarning::UnknownFlag { flag: b'Q', .. })),
        1
    );
    assert_eq!(
        has(&|w| matches!(w, ScanWarning::KeywordsGarbage { lines: 1, .. })),
        1
    );
    assert_eq!(
        has(&|w| matches!(w, ScanWarning::SymlinkNotFollowed { .. })),
        2
    );
    assert_eq!(
        has(&|w| matches!(w, ScanWarning::UnexpectedDirectory { .. })),
        1
    );
    assert_eq!(
        has(&|w| matches!(w, ScanWarning::UnexpectedFile { path } if path.ends_with("mbox"))),
        1
    );
    assert_eq!(
        has(&|w| matches!(w, ScanWarning::Unreadable { path, .. } if path.ends_with("12.broken"))),
        1
    );
    assert_eq!(md.warnings.len(), 12, "{:#?}", md.warnings);
    for w in &md.warnings {
        assert!(!w.to_string().is_empty());
    }
    // cur: .DS_Store, .swp; tmp/8.host; dovecot-keywords; mbox; courierimapkeywords/:list
    assert_eq!(md.ignored_files, 6);
    // Deterministic.
    assert_eq!(scan(root, LayoutChoice::Auto)?, md);
    Ok(())
}

#[test]
fn layout_detection() -> TestResult {
    let cases: &[(&[&str], &[&str], Layout)] = &[
        (&["cur", ".Sent/cur"], &[], Layout::MaildirPlusPlus),
        (&["cur", ".Sent/new"], &[], Layout::MaildirPlusPlus),
        (
            &["cur", ".Sent"],
            &[".Sent/maildirfolder"],
            Layout::MaildirPlusPlus,
        ),
        (&["cur", ".hidden/stuff"], &[], Layout::Fs),
        (&["cur", "Sent/cur"], &[], Layout::Fs),
        (&["new"], &[".Sent"], Layout::Fs),
        (&["tmp"], &[], Layout::Fs),
    ];
    for (dirs, files, want) in cases {
        let tmp = tempfile::tempdir()?;
        mkdirs(tmp.path(), dirs)?;
        for f in *files {
            fs::write(tmp.path().join(f), b"")?;
        }
        assert_eq!(
            scan(tmp.path(), LayoutChoice::Auto)?.layout,
            *want,
            "{dirs:?} {files:?}"
        );
    }
    Ok(())
}

#[test]
fn fs_layout_parents_and_empty_mailboxes() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let root = tmp.path();
    mkdirs(
        root,
        &[
            "cur",
            "new",
            "tmp",
            "Plain",
            "Only/tmp",
            "Deep/er/est/cur",
            "Box/new",
            "Box/Child/cur",
        ],
    )?;
    fs::write(root.join("Deep/er/est/cur/1.h:2,S"), b"x")?;
    let md = scan(root, LayoutChoice::Auto)?;
    let got: Vec<_> = md
        .folders
        .iter()
        .map(|f| (f.display_name(), f.dir.is_some()))
        .collect();
    let want = [
        ("INBOX", true),
        ("Box", true),
        ("Box/Child", true),
        ("Deep", false),
        ("Deep/er", false),
        ("Deep/er/est", true),
        ("Only", false),
        ("Plain", false),
    ];
    assert_eq!(got, want.map(|(n, d)| (n.to_string(), d)));
    assert_eq!(
        folder(&md, &["Deep", "er", "est"]).messages[0].rel_path,
        b"Deep/er/est/cur/1.h:2,S"
    );
    Ok(())
}

#[test]
fn fatal_errors() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let missing = tmp.path().join("missing");
    assert!(
        matches!(scan(&missing, LayoutChoice::Auto), Err(ScanError::NotFound { path }) if path == missing)
    );
    let file = tmp.path().join("file");
    fs::write(&file, b"x")?;
    assert!(matches!(
        scan(&file, LayoutChoice::Auto),
        Err(ScanError::NotADirectory { .. })
    ));
    let empty = tmp.path().join("empty");
    fs::create_dir(&empty)?;
    assert!(matches!(
        scan(&empty, LayoutChoice::Auto),
        Err(ScanError::NotAMaildir { .. })
    ));
    // Directories without any cur/new anywhere are not a Maildir either.
    let home = tmp.path().join("home");
    mkdirs(&home, &["Documents/old", ".cache"])?;
    let err = scan(&home, LayoutChoice::Auto).err().map(|e| e.to_string());
    assert_eq!(
        err,
        Some(format!(
            "{}: not a Maildir (no cur/, new/ or tmp/ and no mailbox folders)",
            home.display()
        ))
    );
    // A Maildir whose INBOX is missing still scans, with a warning.
    let no_inbox = tmp.path().join("no-inbox");
    mkdirs(&no_inbox, &[".Sent/cur"])?;
    let md = scan(&no_inbox, LayoutChoice::Auto)?;
    assert_eq!(names(&md), ["INBOX", "Sent"]);
    assert!(md.folders[0].dir.is_none());
    assert!(matches!(
        md.warnings.as_slice(),
        [ScanWarning::NoInbox { .. }]
    ));
    Ok(())
}

#[test]
fn relative_root_gives_absolute_paths() -> TestResult {
    // The test binary runs in the crate directory.
    let md = scan(Path::new("fixtures/maildir/bob-fs"), LayoutChoice::Auto)?;
    assert!(md.root.is_absolute());
    assert!(
        md.messages()
            .all(|(_, m)| m.path.is_absolute() && m.path.is_file())
    );
    Ok(())
}

#[test]
fn many_messages_in_one_folder() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let cur: PathBuf = tmp.path().join("cur");
    fs::create_dir(&cur)?;
    for i in 0..20_000u32 {
        fs::write(
            cur.join(format!("{}.M{i}P1.host,S=0:2,S", 1_600_000_000 + i)),
            b"",
        )?;
    }
    let md = scan(tmp.path(), LayoutChoice::Auto)?;
    let inbox = folder(&md, &["INBOX"]);
    assert_eq!(inbox.messages.len(), 20_000);
    assert!(
        inbox
            .messages
            .windows(2)
            .all(|w| w[0].rel_path < w[1].rel_path)
    );
    // Bounded: 20 sorted runs of names, more than one merge takes at once.
    let mut scanner = Scanner::open(tmp.path(), LayoutChoice::Auto)?;
    let listing = scanner.list_bounded(0, 1000).unwrap();
    assert!(listing.on_disk());
    let mut chunks = listing.chunks();
    let mut got = Vec::new();
    while let Some((_, chunk)) = chunks.next_chunk(512, 1 << 24).unwrap() {
        got.extend(chunk.iter().map(|m| m.to_source()));
    }
    assert_eq!(got, inbox.messages);
    Ok(())
}

/// The streaming scanner gives the one-pass walk's warnings and counts whatever
/// order the folders are listed in; its messages are the eager scan's.
#[test]
fn scanner_listing_order_keeps_walk_order() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let root = tmp.path();
    // `.&AOk-cole` (école) is walked before `.Bar` but sorts after it.
    mkdirs(
        root,
        &[
            "cur",
            "new",
            ".&AOk-cole/cur",
            ".Bar/cur",
            ".Bar/odd",
            ".Bar.Sub/new",
        ],
    )?;
    fs::write(root.join("dovecot-keywords"), "0 $label1\nbad line\n")?;
    fs::write(root.join("cur/1.h:2,Saz"), "x")?;
    fs::write(root.join("cur/.DS_Store"), "")?;
    fs::write(root.join(".&AOk-cole/cur/2.h:2,SX"), "x")?;
    fs::write(root.join(".&AOk-cole/stray"), "x")?;
    fs::write(root.join(".Bar/cur/3.h:2,b"), "x")?;
    fs::write(root.join(".Bar/mbox"), "x")?;
    fs::write(root.join(".Bar.Sub/new/4.h"), "x")?;
    let md = scan(root, LayoutChoice::Auto)?;
    // Walk order: each mailbox's entries, then its messages, then the next mailbox
    // in directory order (not folder order).
    let kinds: Vec<String> = md
        .warnings
        .iter()
        .map(|w| match w {
            ScanWarning::KeywordsGarbage { .. } => "inbox keywords".into(),
            ScanWarning::UnmappedKeyword { letter, .. } => format!("letter {}", *letter as char),
            ScanWarning::UnknownFlag { flag, .. } => format!("flag {}", *flag as char),
            ScanWarning::UnexpectedFile { path } | ScanWarning::UnexpectedDirectory { path } => {
                path.file_name().unwrap().to_string_lossy().into_owned()
            }
            other => format!("{other}"),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "inbox keywords",
            "letter z",
            "stray",
            "flag X",
            "mbox",
            "odd",
            "letter b"
        ],
        "{:#?}",
        md.warnings
    );

    let mut scanner = Scanner::open(root, LayoutChoice::Auto)?;
    let n = scanner.folders().len();
    assert_eq!(n, md.folders.len());
    for i in (0..n).rev() {
        let listed: Vec<SourceMessage> = scanner.list(i).iter().map(|m| m.to_source()).collect();
        assert_eq!(
            listed,
            md.folders[i].messages,
            "{}",
            md.folders[i].display_name()
        );
    }
    // Listing a folder twice does not count its warnings twice.
    let _ = scanner.list(0);
    let totals = scanner.finish();
    assert_eq!(totals.warnings, md.warnings);
    assert_eq!(totals.ignored_files, md.ignored_files);

    // The bounded listing, on temp files or not, read back in chunks of every
    // size: the same messages, the same totals and warnings.
    for piece in [1, 2, 3, 1000] {
        let mut scanner = Scanner::open(root, LayoutChoice::Auto)?;
        for i in 0..n {
            let listing = scanner.list_bounded(i, piece).unwrap();
            let want = &md.folders[i].messages;
            assert_eq!(listing.len(), want.len());
            // On disk for more than a piece of messages (or of directory entries).
            assert!(listing.on_disk() || want.len() <= piece);
            assert!(!listing.on_disk() || piece < 1000);
            assert_eq!(
                listing.total_bytes(),
                want.iter().map(|m| m.size).sum::<u64>()
            );
            for (max, bytes) in [(1, u64::MAX), (2, u64::MAX), (100, 1), (100, 3000)] {
                let mut chunks = listing.chunks();
                let mut got = Vec::new();
                while let Some((first, chunk)) = chunks.next_chunk(max, bytes).unwrap() {
                    assert_eq!(first, got.len());
                    assert!(chunk.len() <= max);
                    got.extend(chunk.iter().map(|m| m.to_source()));
                }
                assert_eq!(&got, want, "piece {piece}, chunks ({max}, {bytes})");
            }
            for (k, m) in want.iter().enumerate() {
                assert_eq!(listing.rel_path(k).unwrap(), m.rel_path);
            }
            assert!(listing.rel_path(want.len()).is_err());
        }
        let totals = scanner.finish();
        assert_eq!(totals.warnings, md.warnings, "piece {piece}");
        assert_eq!(totals.ignored_files, md.ignored_files);
    }
    Ok(())
}

/// Chunks hold at most `max_bytes` of messages unless one message alone is larger,
/// and are filled greedily in folder order, from memory and from temp files alike:
/// convert's peak memory is bounded by that (`convert::CHUNK_BYTES`).
#[test]
fn chunks_stay_within_the_byte_bound() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let root = tmp.path();
    mkdirs(root, &["cur", "new", "tmp"])?;
    let sizes = [3usize, 5, 2, 8, 1, 4, 9, 1, 1];
    for (i, n) in sizes.iter().enumerate() {
        // Names sort in this order: 10.x, 11.x, ...
        fs::write(root.join(format!("cur/{}.x:2,S", 10 + i)), vec![b'x'; *n])?;
    }
    // Greedy, strictly within 8 bytes: [3,5] [2] [8] [1,4] [9] [1,1].
    let want: &[&[usize]] = &[&[3, 5], &[2], &[8], &[1, 4], &[9], &[1, 1]];
    for piece in [1, 4, 1000] {
        let mut scanner = Scanner::open(root, LayoutChoice::Auto)?;
        let listing = scanner.list_bounded(0, piece)?;
        assert_eq!(listing.on_disk(), piece < sizes.len(), "piece {piece}");
        let mut chunks = listing.chunks();
        let mut got: Vec<Vec<usize>> = Vec::new();
        let mut next = 0;
        while let Some((first, chunk)) = chunks.next_chunk(100, 8)? {
            assert_eq!(first, next);
            next += chunk.len();
            got.push(chunk.iter().map(|m| m.size() as usize).collect());
        }
        assert_eq!(got, want, "piece {piece}");
        // The message count bound still applies beside the byte bound.
        let mut chunks = listing.chunks();
        let mut lens = Vec::new();
        while let Some((_, chunk)) = chunks.next_chunk(2, u64::MAX)? {
            lens.push(chunk.len());
        }
        assert_eq!(lens, [2, 2, 2, 2, 1], "piece {piece}");
    }
    Ok(())
}
