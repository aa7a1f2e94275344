//! Plan-level tests: defaults per target, rules and their precedence, collisions,
//! sanitising, and properties over arbitrary names and rules.

use super::*;

fn seg(path: &str) -> Vec<String> {
    path.split('/').map(str::to_owned).collect()
}

fn rules(toml: &str) -> MappingRules {
    MappingRules::from_toml(toml).unwrap_or_else(|e| panic!("{e}"))
}

/// Plans the `/`-separated sources and returns the entries.
fn plan_paths(sources: &[&str], rules: &MappingRules, target: Target) -> Vec<PlanEntry> {
    let sources: Vec<Vec<String>> = sources.iter().map(|s| seg(s)).collect();
    match plan(&sources, rules, target) {
        Ok(p) => p.entries,
        Err(e) => panic!("{e}"),
    }
}

/// The target of one folder, `/`-joined, with the rule kind.
fn map_one(source: &str, rules: &MappingRules, target: Target) -> (String, RuleKind) {
    match plan_paths(&[source], rules, target).remove(0).decision {
        Decision::Map { target, rule } => (join(&target), rule),
        Decision::Exclude { reason } => panic!("{source} excluded: {reason}"),
    }
}

fn target_of(source: &str, rules: &MappingRules, target: Target) -> String {
    map_one(source, rules, target).0
}

fn reason_of(source: &str, rules: &MappingRules) -> String {
    match plan_paths(&[source], rules, Target::Exchange)
        .remove(0)
        .decision
    {
        Decision::Exclude { reason } => reason,
        Decision::Map { target, .. } => panic!("{source} mapped to {}", join(&target)),
    }
}

fn plan_err(sources: &[&str], rules: &MappingRules, target: Target) -> MapError {
    let sources: Vec<Vec<String>> = sources.iter().map(|s| seg(s)).collect();
    match plan(&sources, rules, target) {
        Ok(p) => panic!("expected an error, got {p:?}"),
        Err(e) => e,
    }
}

fn toml_err(text: &str) -> String {
    match MappingRules::from_toml(text) {
        Ok(r) => panic!("expected an error, got {r:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn target_names_round_trip() {
    for t in Target::ALL {
        assert_eq!(t.to_string().parse::<Target>().ok(), Some(t));
    }
    assert_eq!("M365".parse::<Target>().ok(), Some(Target::M365));
    assert_eq!(Target::default(), Target::Exchange2007);
    let e = "exchange2019"
        .parse::<Target>()
        .err()
        .map(|e| e.to_string());
    assert_eq!(
        e.as_deref(),
        Some("unknown target \"exchange2019\" (expected exchange2007, exchange or m365)")
    );
}

#[test]
fn every_default_mapping_for_each_target() {
    let none = MappingRules::default();
    for t in Target::ALL {
        let junk = if t == Target::Exchange2007 {
            "Junk E-mail"
        } else {
            "Junk Email"
        };
        let table: &[(&str, &str)] = &[
            ("INBOX", "Inbox"),
            ("Sent", "Sent Items"),
            ("Sent Messages", "Sent Items"),
            ("Sent Items", "Sent Items"),
            ("Sent Mail", "Sent Items"),
            ("Trash", "Deleted Items"),
            ("Deleted Messages", "Deleted Items"),
            ("Deleted Items", "Deleted Items"),
            ("Deleted", "Deleted Items"),
            ("Junk", junk),
            ("Spam", junk),
            ("Bulk Mail", junk),
            ("Junk E-mail", junk),
            ("Junk Email", junk),
            ("Drafts", "Drafts"),
            ("Draft", "Drafts"),
            ("Archives", "Archive"),
            ("Archive", "Archive"),
            ("Templates", "Templates"),
            ("Unsent Messages", "Unsent Messages"),
            ("Reisen", "Reisen"),
        ];
        for (source, expected) in table {
            let (got, rule) = map_one(source, &none, t);
            assert_eq!(got, *expected, "{source} on {t}");
            let plain = ["Templates", "Unsent Messages", "Reisen"].contains(source);
            let kind = if plain {
                RuleKind::Default
            } else {
                RuleKind::Special
            };
            assert_eq!(rule, kind, "{source} on {t}");
            // Special names are matched case-insensitively.
            let (lower, _) = map_one(&source.to_lowercase(), &none, t);
            let lower_expected = if plain {
                source.to_lowercase()
            } else {
                (*expected).to_owned()
            };
            assert_eq!(lower, lower_expected, "{source} lowercased on {t}");
        }
    }
}

#[test]
fn children_follow_their_parent() {
    let none = MappingRules::default();
    let t = Target::Exchange2007;
    assert_eq!(target_of("Archives/2009", &none, t), "Archive/2009");
    assert_eq!(target_of("Sent/Old", &none, t), "Sent Items/Old");
    assert_eq!(target_of("Spam/a/b", &none, t), "Junk E-mail/a/b");
    assert_eq!(
        target_of("Reisen/Österreich", &none, t),
        "Reisen/Österreich"
    );
    // Only the top level is special.
    assert_eq!(target_of("Projects/Sent", &none, t), "Projects/Sent");
    assert_eq!(map_one("Archives/2009", &none, t).1, RuleKind::Special);
}

#[test]
fn courier_style_inbox_children() {
    let none = MappingRules::default();
    let t = Target::Exchange;
    assert_eq!(target_of("INBOX/Sent", &none, t), "Sent Items");
    assert_eq!(target_of("INBOX/Trash", &none, t), "Deleted Items");
    assert_eq!(target_of("INBOX/spam", &none, t), "Junk Email");
    assert_eq!(target_of("INBOX/Archives/2009", &none, t), "Archive/2009");
    assert_eq!(target_of("INBOX/Customers", &none, t), "Inbox/Customers");
    assert_eq!(target_of("INBOX/INBOX", &none, t), "Inbox/INBOX");
    let entry = plan_paths(&["INBOX/Sent"], &none, t).remove(0);
    assert!(
        entry.notes.iter().any(|n| n.contains("Courier")),
        "{entry:?}"
    );
}

#[test]
fn inbox_is_case_insensitive_everywhere() {
    let none = MappingRules::default();
    let t = Target::Exchange;
    assert_eq!(target_of("inbox", &none, t), "Inbox");
    assert_eq!(target_of("Inbox/Sent", &none, t), "Sent Items");
    assert_eq!(target_of("iNbOx/Foo", &none, t), "Inbox/Foo");
    let r = rules(
        r#"
        exclude = ["inbox/Old"]
        [rename]
        "INBOX/Customers" = "Customers"
        [[rule]]
        match = "^INBOX/Lists/(.+)$"
        target = "Lists/$1"
        "#,
    );
    assert_eq!(target_of("inbox/Customers/Acme", &r, t), "Customers/Acme");
    assert_eq!(target_of("Inbox/Lists/rust", &r, t), "Lists/rust");
    assert!(reason_of("INBOX/Old/x", &r).contains("inbox/Old"));
    // Other names are case-sensitive.
    let r = rules("[rename]\n\"Work\" = \"Job\"\n");
    assert_eq!(target_of("work", &r, t), "work");
}

#[test]
fn renames_prefix_children_and_longest_wins() {
    let r = rules(
        r#"
        [rename]
        "Old Stuff" = "Archive/Old Stuff"
        "INBOX/Customers" = "Customers"
        "Projects" = "Work"
        "Projects/Secret" = "Hidden"
        "#,
    );
    let t = Target::Exchange;
    assert_eq!(
        map_one("Old Stuff", &r, t),
        ("Archive/Old Stuff".into(), RuleKind::Rename)
    );
    assert_eq!(
        target_of("Old Stuff/1999/Q1", &r, t),
        "Archive/Old Stuff/1999/Q1"
    );
    assert_eq!(target_of("INBOX/Customers/Acme", &r, t), "Customers/Acme");
    assert_eq!(target_of("Projects/Public", &r, t), "Work/Public");
    assert_eq!(target_of("Projects/Secret", &r, t), "Hidden");
    assert_eq!(target_of("Projects/Secret/x", &r, t), "Hidden/x");
    // A prefix of a segment is not a parent.
    assert_eq!(target_of("Projectsx", &r, t), "Projectsx");
    // Renames beat the default table, and their target is taken literally.
    let r = rules("[rename]\n\"Sent\" = \"Trash\"\n");
    assert_eq!(target_of("Sent/a", &r, t), "Trash/a");
    let entry = plan_paths(&["Sent"], &r, t).remove(0);
    assert!(
        entry
            .notes
            .iter()
            .any(|n| n.starts_with("mapped by [rename] \"Sent\""))
    );
}

#[test]
fn regex_rules_with_captures_in_order() {
    let r = rules(
        r#"
        [[rule]]
        match = "^Lists/(.+)$"
        target = "Mailing Lists/$1"

        [[rule]]
        match = '^Projects/(?<year>\d{4})$'
        target = "Archive/Projects ${year}"

        [[rule]]
        match = "^Projects/.*"
        target = "never used for years"

        [[rule]]
        match = "^Old$"
        target = "Archive/Old"
        "#,
    );
    let t = Target::Exchange;
    assert_eq!(
        map_one("Lists/rust", &r, t),
        ("Mailing Lists/rust".into(), RuleKind::Regex)
    );
    assert_eq!(
        target_of("Lists/rust/announce", &r, t),
        "Mailing Lists/rust/announce"
    );
    assert_eq!(target_of("Projects/2009", &r, t), "Archive/Projects 2009");
    assert_eq!(target_of("Projects/abc", &r, t), "never used for years");
    // Children follow a parent matched by a rule.
    assert_eq!(target_of("Old/2009", &r, t), "Archive/Old/2009");
    // Not matched: default mapping.
    assert_eq!(map_one("Lists", &r, t), ("Lists".into(), RuleKind::Default));
    // Patterns are not anchored for the admin, and the template is the whole target
    // (not a substitution inside the name).
    let r = rules("[[rule]]\nmatch = 'spam'\ntarget = 'Junk/Lists'\n");
    assert_eq!(target_of("Lists/my-spam-list", &r, t), "Junk/Lists");
    // A rename beats a regex rule.
    let r = rules(
        r#"
        [rename]
        "Lists" = "L"
        [[rule]]
        match = "^Lists/(.+)$"
        target = "Mailing Lists/$1"
        "#,
    );
    assert_eq!(target_of("Lists/rust", &r, t), "L/rust");
}

#[test]
fn regex_rule_producing_an_empty_segment_is_an_error() {
    let r = rules("[[rule]]\nmatch = '^(a)?x(.*)$'\ntarget = 'Y/$1'\n");
    assert_eq!(target_of("ax", &r, Target::Exchange), "Y/a");
    let e = plan_err(&["x"], &r, Target::Exchange).to_string();
    assert!(
        e.contains("\"x\"") && e.contains("\"Y/\"") && e.contains("#1"),
        "{e}"
    );
}

#[test]
fn excludes_exact_subtree_and_regex_with_reasons() {
    let mut r = rules(
        r#"
        exclude = ["Trash", "Junk"]
        exclude_regex = ["^Lists/spam-.*"]
        "#,
    );
    r.add_exclude("Old/Stuff");
    assert_eq!(
        reason_of("Trash", &r),
        "excluded by mapping file rule exclude \"Trash\""
    );
    assert_eq!(
        reason_of("Trash/2009", &r),
        "excluded by mapping file rule exclude \"Trash\""
    );
    assert_eq!(
        reason_of("Lists/spam-x", &r),
        "excluded by mapping file rule exclude_regex \"^Lists/spam-.*\""
    );
    assert_eq!(
        reason_of("Old/Stuff/a", &r),
        "excluded by --exclude Old/Stuff"
    );
    let t = Target::Exchange;
    assert_eq!(target_of("Old", &r, t), "Old");
    assert_eq!(target_of("Trashy", &r, t), "Trashy");
    assert_eq!(target_of("Lists/ham", &r, t), "Lists/ham");
    // Exact names only: Courier-style INBOX/Trash is another folder.
    assert_eq!(target_of("INBOX/Trash", &r, t), "Deleted Items");

    let mut r = MappingRules::default();
    r.add_exclude("Trash");
    assert_eq!(reason_of("Trash", &r), "excluded by --exclude Trash");
    // An exclusion beats a rename.
    let mut r = rules("[rename]\n\"Trash\" = \"Keep\"\n");
    r.add_exclude("Trash");
    assert_eq!(reason_of("Trash/x", &r), "excluded by --exclude Trash");
}

#[test]
fn excluded_folders_never_collide() {
    let mut r = MappingRules::default();
    r.add_exclude("Sent Messages");
    let entries = plan_paths(
        &["Sent", "Sent Messages", "Sent Messages/x"],
        &r,
        Target::Exchange,
    );
    assert_eq!(entries.len(), 3);
    assert!(matches!(entries[1].decision, Decision::Exclude { .. }));
}

#[test]
fn unknown_toml_key_is_an_error_naming_line_and_key() {
    let e = toml_err("excludes = [\"Trash\"]\n");
    assert!(e.contains("excludes") && e.contains("line 1"), "{e}");
    let e = toml_err("[[rule]]\nmatch = \"a\"\ntraget = \"b\"\n");
    assert!(e.contains("traget") && e.contains("line 3"), "{e}");
    let e = toml_err("[renames]\n\"a\" = \"b\"\n");
    assert!(e.contains("renames"), "{e}");
    let e = toml_err("[rename]\n\"a\" = 3\n");
    assert!(
        e.contains("line 2") && e.contains("[rename] \"a\"") && e.contains("string"),
        "{e}"
    );
    let e = toml_err("[[rule]]\nmatch = \"a\"\n");
    assert!(e.contains("target"), "{e}");
    let e = toml_err("exclude = [\"Trash\"\n");
    assert!(e.contains("line"), "{e}");
}

#[test]
fn top_level_keys_after_a_table_get_a_hint() {
    let e = toml_err("[[rule]]\nmatch = \"a\"\ntarget = \"b\"\nexclude = [\"Trash\"]\n");
    assert!(
        e.contains("line 4") && e.contains("before the first"),
        "{e}"
    );
    let e = toml_err("[rename]\n\"a\" = \"b\"\nexclude_regex = [\"x\"]\n");
    assert!(
        e.contains("line 3") && e.contains("before the first"),
        "{e}"
    );
    // A folder really named "exclude" can still be renamed.
    let r = rules("[rename]\n\"exclude\" = \"b\"\n");
    assert_eq!(target_of("exclude", &r, Target::Exchange), "b");
}

#[test]
fn bad_regex_error_names_the_pattern_and_line() {
    let e = toml_err("exclude_regex = [\"ok\", \"^Lists/(spam\"]\n");
    assert!(
        e.contains("\"^Lists/(spam\"") && e.contains("exclude_regex") && e.contains("line 1"),
        "{e}"
    );
    let e = toml_err(
        "\n[[rule]]\nmatch = \"ok\"\ntarget = \"x\"\n[[rule]]\nmatch = \"[z-a]\"\ntarget = \"x\"\n",
    );
    assert!(
        e.contains("\"[z-a]\"") && e.contains("[[rule]] #2 match") && e.contains("line 6"),
        "{e}"
    );
}

#[test]
fn bad_rule_targets_and_keys_are_errors() {
    let e = toml_err("[[rule]]\nmatch = \"^(a)$\"\ntarget = \"$1x\"\n");
    assert!(e.contains("$1x") && e.contains("line 3"), "{e}");
    let e = toml_err("[[rule]]\nmatch = \"^(a)$\"\ntarget = \"x/$2\"\n");
    assert!(e.contains("$2"), "{e}");
    let e = toml_err("[rename]\n\"a\" = \"Archive//a\"\n");
    assert!(e.contains("empty") && e.contains("[rename] \"a\""), "{e}");
    let e = toml_err("[rename]\n\"a\" = \"\"\n");
    assert!(e.contains("empty"), "{e}");
    let e = toml_err("[rename]\n\"a/\" = \"b\"\n");
    assert!(e.contains("empty"), "{e}");
    let e = toml_err("exclude = [\"\"]\n");
    assert!(e.contains("empty"), "{e}");
    let e = toml_err("[rename]\n\"INBOX/a\" = \"b\"\n\"inbox/a\" = \"c\"\n");
    assert!(e.contains("same folder"), "{e}");
}

#[test]
fn load_errors_carry_the_path() {
    let dir = std::env::temp_dir().join(format!("mailstage-folders-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let missing = dir.join("missing.toml");
    let e = MappingRules::load(&missing)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(e.contains("missing.toml"), "{e}");
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "nope = 1\n").unwrap_or_else(|e| panic!("{e}"));
    let e = MappingRules::load(&bad)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(e.contains("bad.toml") && e.contains("nope"), "{e}");
    let good = dir.join("good.toml");
    std::fs::write(&good, "exclude = [\"Trash\"]\n").unwrap_or_else(|e| panic!("{e}"));
    let r = MappingRules::load(&good).unwrap_or_else(|e| panic!("{e}"));
    assert!(reason_of("Trash", &r).contains("Trash"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn collision_sent_and_sent_messages() {
    let e = plan_err(
        &["INBOX", "Sent", "Sent Messages"],
        &MappingRules::default(),
        Target::Exchange,
    );
    match &e {
        MapError::Collision { a, b, target } => {
            assert_eq!(
                (a.as_str(), b.as_str(), target.as_str()),
                ("Sent", "Sent Messages", "Sent Items")
            );
        }
        other => panic!("{other}"),
    }
    let msg = e.to_string();
    assert!(msg.contains("[rename]"), "{msg}");
    assert!(
        msg.contains(r#""Sent Messages" = "Sent Items/Sent Messages""#),
        "{msg}"
    );
    // The suggested fix works.
    let r = rules("[rename]\n\"Sent Messages\" = \"Sent Items/Sent Messages\"\n");
    let entries = plan_paths(&["Sent", "Sent Messages"], &r, Target::Exchange);
    assert_eq!(entries.len(), 2);
}

#[test]
fn collision_case_only() {
    let e = plan_err(
        &["Foo", "Bar", "foo"],
        &MappingRules::default(),
        Target::M365,
    );
    match &e {
        MapError::Collision { a, b, .. } => assert_eq!((a.as_str(), b.as_str()), ("Foo", "foo")),
        other => panic!("{other}"),
    }
    assert!(e.to_string().contains(r#""foo" = "foo (2)""#), "{e}");
    // Unicode lowercase, full path.
    let e = plan_err(
        &["Reisen/Österreich", "Reisen/ÖSTERREICH"],
        &MappingRules::default(),
        Target::M365,
    );
    assert!(matches!(e, MapError::Collision { .. }), "{e}");
    let e = plan_err(
        &["INBOX/Foo", "inbox/foo"],
        &MappingRules::default(),
        Target::M365,
    );
    assert!(
        e.to_string().contains(r#""inbox/foo" = "Inbox/foo (2)""#),
        "{e}"
    );
    // Sanitising can create a collision too; it is reported, not merged.
    let e = plan_err(&["Foo", "Foo "], &MappingRules::default(), Target::Exchange);
    assert!(matches!(e, MapError::Collision { .. }), "{e}");
}

#[test]
fn parent_only_folders_take_part() {
    let entries = plan_paths(
        &["Archives", "Archives/2009", "Archives/2010"],
        &MappingRules::default(),
        Target::Exchange,
    );
    let targets: Vec<String> = entries
        .iter()
        .filter_map(|e| match &e.decision {
            Decision::Map { target, .. } => Some(join(target)),
            Decision::Exclude { .. } => None,
        })
        .collect();
    assert_eq!(targets, ["Archive", "Archive/2009", "Archive/2010"]);
}

#[test]
fn sanitising_trailing_spaces_dots_and_empty() {
    let none = MappingRules::default();
    for t in Target::ALL {
        let entry = plan_paths(&["Foo /Bar."], &none, t).remove(0);
        assert_eq!(
            entry.decision,
            Decision::Map {
                target: seg("Foo/Bar"),
                rule: RuleKind::Sanitized
            }
        );
        assert!(
            entry
                .notes
                .iter()
                .any(|n| n.starts_with("trailing space trimmed")),
            "{entry:?}"
        );
        assert!(
            entry
                .notes
                .iter()
                .any(|n| n.starts_with("trailing dot trimmed")),
            "{entry:?}"
        );
        assert_eq!(target_of("Reisen/ . ", &none, t), "Reisen/_");
        assert_eq!(target_of("a//b", &none, t), "a/_/b");
        // Special folders keep their kind; the children are still sanitised.
        assert_eq!(
            map_one("Sent/Old ", &none, t),
            ("Sent Items/Old".into(), RuleKind::Special)
        );
    }
    // A '/' inside one decoded segment would create a subfolder on Exchange.
    let source = vec![vec!["a/b".to_owned()]];
    let p = plan(&source, &none, Target::Exchange).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        p.entries[0].decision,
        Decision::Map {
            target: seg("a_b"),
            rule: RuleKind::Sanitized
        }
    );
    // Rename targets are sanitised as well.
    let r = rules("[rename]\n\"x\" = \"Archive/x. \"\n");
    assert_eq!(
        map_one("x", &r, Target::Exchange),
        ("Archive/x".into(), RuleKind::Rename)
    );
}

#[test]
fn m365_reserved_files_folder() {
    let none = MappingRules::default();
    let entry = plan_paths(&["Files/2020"], &none, Target::M365).remove(0);
    assert_eq!(
        entry.decision,
        Decision::Map {
            target: seg("Files (migrated)/2020"),
            rule: RuleKind::Sanitized
        }
    );
    assert!(
        entry
            .notes
            .iter()
            .any(|n| n.starts_with("renamed: reserved name on Exchange Online"))
    );
    assert_eq!(target_of("files", &none, Target::M365), "files (migrated)");
    assert_eq!(target_of("Files", &none, Target::Exchange), "Files");
    assert_eq!(target_of("Files", &none, Target::Exchange2007), "Files");
    assert_eq!(
        target_of("Projects/Files", &none, Target::M365),
        "Projects/Files"
    );
}

#[test]
fn outbox_and_unsent_messages_stay_out_of_exchanges_outbox() {
    let none = MappingRules::default();
    for t in Target::ALL {
        assert_eq!(target_of("Unsent Messages", &none, t), "Unsent Messages");
        assert_eq!(target_of("Outbox", &none, t), "Outbox (migrated)");
        assert_eq!(target_of("Inbox/Outbox", &none, t), "Inbox/Outbox");
    }
}

#[test]
fn plan_keeps_input_order_and_sources() {
    let sources = ["Zeta", "INBOX", "Alpha/Beta", "Trash"];
    let entries = plan_paths(&sources, &MappingRules::default(), Target::Exchange);
    let got: Vec<String> = entries.iter().map(|e| join(&e.source)).collect();
    assert_eq!(got, sources);
}

#[test]
fn empty_source_is_an_error_not_a_panic() {
    let e = plan(&[Vec::new()], &MappingRules::default(), Target::Exchange);
    assert!(matches!(e, Err(MapError::EmptySource)));
    assert!(
        plan(&[], &MappingRules::default(), Target::Exchange).is_ok_and(|p| p.entries.is_empty())
    );
}

#[test]
fn unused_rules_point_at_typos() {
    let mut r = rules(
        r#"
        exclude = ["Trsh", "Junk"]
        exclude_regex = ["^nothing$"]
        [rename]
        "Old Stuf" = "Archive"
        "Work" = "Job"
        [[rule]]
        match = "^Lists/(.+)$"
        target = "L/$1"
        "#,
    );
    r.add_exclude("Sent Mesages");
    let sources: Vec<Vec<String>> = ["Junk", "Work/x", "Lists/a", "Trash"]
        .iter()
        .map(|s| seg(s))
        .collect();
    let unused = r.unused_rules(&sources);
    assert_eq!(
        unused,
        [
            "exclude \"Trsh\" (line 2)",
            "--exclude Sent Mesages",
            "exclude_regex \"^nothing$\" (line 3)",
            "[rename] \"Old Stuf\" = \"Archive\" (line 5)",
        ]
    );
}

/// The full example of `docs/MAPPING.md` loads and does what the document says.
#[test]
fn mapping_md_example_works() {
    let doc = include_str!("../../docs/MAPPING.md");
    let example = doc
        .split("```toml\n")
        .find(|block| block.starts_with("# Exclusions"))
        .and_then(|block| block.split("```").next())
        .unwrap_or_else(|| panic!("example not found in MAPPING.md"));
    let r = rules(example);
    let t = Target::M365;
    assert!(reason_of("Trash/x", &r).contains("exclude \"Trash\""));
    assert!(reason_of("Lists/spam-a", &r).contains("exclude_regex"));
    assert_eq!(target_of("Lists/rust", &r, t), "Mailing Lists/rust");
    assert_eq!(target_of("Projects/2009", &r, t), "Archive/Projects 2009");
    assert_eq!(target_of("INBOX/Customers/Acme", &r, t), "Customers/Acme");
    assert_eq!(target_of("Old Stuff/1999", &r, t), "Archive/Old Stuff/1999");
    let entries = plan_paths(&["Sent", "Sent Messages"], &r, t);
    assert_eq!(
        entries[1].decision,
        Decision::Map {
            target: seg("Sent Items/Sent Messages"),
            rule: RuleKind::Rename
        }
    );
}

#[test]
fn join_is_slash_joined() {
    assert_eq!(join(&seg("Archive/2009")), "Archive/2009");
    assert_eq!(join(&[]), "");
}
