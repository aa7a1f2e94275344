//! Property tests: [`plan`] never panics for arbitrary folder names and rules, and its
//! successful results keep the module's invariants.

use super::*;
use proptest::prelude::*;

/// Folder names that the rules below also use, so that rules often apply: special names
/// in several cases, INBOX, trailing spaces and dots, '/', reserved names, non-ASCII.
fn name() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "INBOX",
        "inbox",
        "Sent",
        "sent messages",
        "Trash",
        "Junk",
        "Spam",
        "Drafts",
        "Archives",
        "Files",
        "Outbox",
        "Lists",
        "spam-x",
        "Foo",
        "foo",
        "Old ",
        "x.",
        "a/b",
        "Ö",
        "2009",
    ])
    .prop_map(str::to_owned)
}

/// Mostly [`name`]s, sometimes anything at all (empty, spaces, dots, any Unicode).
fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => name(),
        1 => prop::sample::select(vec!["", " ", ".", "..", "/"]).prop_map(str::to_owned),
        1 => "[a-zA-Z /.Öß$]{0,6}",
        1 => any::<String>(),
    ]
}

fn source() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(segment(), 1..4)
}

/// A path for rule keys and targets, sometimes with empty segments (which must be
/// rejected at load, not panic).
fn rule_path() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => prop::collection::vec(name(), 1..3).prop_map(|v| v.join("/")),
        1 => prop::collection::vec(segment(), 1..3).prop_map(|v| v.join("/")),
    ]
}

fn pattern() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => prop::sample::select(vec![
            "^Lists/(.+)$", "(.*)", "^(a)?(.*)$", "^Foo(.*)$", "^INBOX/(?<n>[^/]*)", ".*spam.*",
            "o", "^$", "(?i)^sent(.*)", "^(.*)/(.*)$",
        ])
        .prop_map(str::to_owned),
        1 => prop::sample::select(vec!["(", "[z-a]"]).prop_map(str::to_owned),
        1 => "[a-z()^$.*+?/|]{0,8}",
    ]
}

fn template() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec!["Mailing Lists/$1", "$1", "${1}/x", "$0", "X/$0", "B", "$$"])
            .prop_map(str::to_owned),
        1 => prop::sample::select(vec!["$n", "A/$2", "$1x"]).prop_map(str::to_owned),
        2 => rule_path(),
    ]
}

prop_compose! {
    fn rules_text()(
        excludes in prop::collection::vec(rule_path(), 0..3),
        exclude_regexes in prop::collection::vec(pattern(), 0..2),
        renames in prop::collection::vec((rule_path(), rule_path()), 0..3),
        regex_rules in prop::collection::vec((pattern(), template()), 0..3),
    ) -> String {
        let mut table = toml::Table::new();
        let strings = |v: Vec<String>| toml::Value::Array(v.into_iter().map(toml::Value::String).collect());
        table.insert("exclude".into(), strings(excludes));
        table.insert("exclude_regex".into(), strings(exclude_regexes));
        let mut rename = toml::Table::new();
        for (k, v) in renames {
            rename.insert(k, toml::Value::String(v));
        }
        table.insert("rename".into(), toml::Value::Table(rename));
        let rule: Vec<toml::Value> = regex_rules
            .into_iter()
            .map(|(m, t)| {
                let mut r = toml::Table::new();
                r.insert("match".into(), toml::Value::String(m));
                r.insert("target".into(), toml::Value::String(t));
                toml::Value::Table(r)
            })
            .collect();
        table.insert("rule".into(), toml::Value::Array(rule));
        toml::to_string(&table).unwrap_or_default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn plan_never_panics_and_targets_are_clean(
        sources in prop::collection::vec(source(), 0..6),
        text in rules_text(),
        cli_excludes in prop::collection::vec(rule_path(), 0..2),
        t in prop::sample::select(Target::ALL.to_vec()),
    ) {
        let Ok(mut rules) = MappingRules::from_toml(&text) else {
            return Ok(());
        };
        for e in &cli_excludes {
            rules.add_exclude(e);
        }
        let _ = rules.unused_rules(&sources);
        let Ok(p) = plan(&sources, &rules, t) else {
            return Ok(());
        };
        prop_assert_eq!(p.entries.len(), sources.len());
        let mut seen = std::collections::HashSet::new();
        for (entry, source) in p.entries.iter().zip(&sources) {
            prop_assert_eq!(&entry.source, source);
            if let Decision::Map { target, .. } = &entry.decision {
                prop_assert!(!target.is_empty());
                for s in target {
                    prop_assert!(!s.is_empty(), "{:?}", target);
                    prop_assert!(!s.contains('/'), "{:?}", target);
                    prop_assert!(!s.ends_with(' ') && !s.ends_with('.'), "{:?}", target);
                }
                prop_assert!(seen.insert(join(target).to_lowercase()), "collision passed: {:?}", target);
            }
        }
    }

    #[test]
    fn from_toml_never_panics(text in any::<String>()) {
        let _ = MappingRules::from_toml(&text);
    }

    #[test]
    fn default_plan_of_distinct_plain_names_succeeds(
        names in prop::collection::btree_set("[a-z]{1,8}", 0..10),
    ) {
        // Lowercase ASCII names that are not special never collide by default.
        let sources: Vec<Vec<String>> = names
            .into_iter()
            .filter(|n| defaults::special(n, Target::Exchange).is_none()
                && n != "inbox" && n != "outbox" && n != "files")
            .map(|n| vec![n])
            .collect();
        for t in Target::ALL {
            prop_assert!(plan(&sources, &MappingRules::default(), t).is_ok());
        }
    }
}
