//! The upstream corpus (431 real malformed and multilingual messages): `convert`
//! never panics, accounts for every file, and what it stages passes mailstage's
//! own validator, is a fixed point of the repair engine, and parses without
//! structural defects in an independent parser (Python's `email` package) with
//! every attachment's decoded bytes preserved. Each input runs in its own line
//! endings and in CRLF form.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use serde_json::Value;

struct Corpus {
    files: Vec<(String, PathBuf, Vec<String>)>, // (name, path, tags)
}

fn corpus() -> Corpus {
    let root = shared().join("corpora/upstream");
    let index = fs::read_to_string(root.join("index.tsv")).unwrap();
    let mut files = Vec::new();
    for line in index.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        let tags = cols[7].split(',').map(String::from).collect();
        files.push((cols[0].to_string(), root.join(cols[0]), tags));
    }
    assert!(files.len() >= 400, "the corpus is there: {}", files.len());
    Corpus { files }
}

/// A Maildir holding every corpus file in INBOX/cur, named by its index.
fn maildir(c: &Corpus, dir: &Path, crlf: bool) -> HashMap<String, String> {
    for d in ["cur", "new", "tmp"] {
        fs::create_dir_all(dir.join(d)).unwrap();
    }
    let mut names = HashMap::new();
    for (i, (name, path, _)) in c.files.iter().enumerate() {
        let mut bytes = fs::read(path).unwrap();
        if crlf {
            bytes = lf_to_crlf(&bytes);
        }
        let file = format!("{i:04}.corpus:2,S");
        let path = dir.join("cur").join(&file);
        fs::write(&path, bytes).unwrap();
        // A fixed internal date, so that an added Date is the same in both forms.
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_500_000_000 + i as u64);
        fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(t)
            .unwrap();
        names.insert(format!("cur/{file}"), name.clone());
    }
    names
}

fn python_check(files: &[PathBuf]) -> Vec<Value> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/mimecheck.py");
    let mut out = Vec::new();
    for chunk in files.chunks(200) {
        let o = Command::new("python3")
            .arg(&script)
            .args(chunk)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        for l in String::from_utf8(o.stdout).unwrap().lines() {
            out.push(serde_json::from_str(l).unwrap());
        }
    }
    assert_eq!(out.len(), files.len());
    out
}

/// Python defect classes that mean broken structure (what staging must fix).
const STRUCTURAL: &[&str] = &[
    "StartBoundaryNotFoundDefect",
    "CloseBoundaryNotFoundDefect",
    "MultipartInvariantViolationDefect",
    "NoBoundaryInMultipartDefect",
    "InvalidMultipartContentTransferEncodingDefect",
    "MissingHeaderBodySeparatorDefect",
    "FirstHeaderLineIsContinuationDefect",
    "MisplacedEnvelopeHeaderDefect",
    "InvalidBase64PaddingDefect",
    "InvalidBase64CharactersDefect",
    "InvalidBase64LengthDefect",
];

#[test]
fn corpus_converts_cleanly_in_both_line_ending_forms() {
    let c = corpus();
    let tmp = tempfile::tempdir().unwrap();
    type Outcome = (String, Option<Vec<u8>>, Vec<Value>);
    let mut per_form: Vec<BTreeMap<String, Outcome>> = Vec::new();
    for crlf in [false, true] {
        let src = tmp.path().join(if crlf { "crlf" } else { "native" });
        let names = maildir(&c, &src, crlf);
        let out = tmp.path().join(format!("st-{crlf}"));
        let (code, report) = convert_json(&[
            src.as_os_str(),
            "--out".as_ref(),
            out.as_os_str(),
            "--max-size".as_ref(),
            "0".as_ref(),
        ]);
        assert!(code == 0 || code == 1, "no fatal error: {report:#}");
        let user = out.join(src.file_name().unwrap());
        let m = manifest(&user);
        // Every file accounted for, exactly once.
        assert_eq!(m.len(), c.files.len());
        let t = &report["total"];
        assert_eq!(t["messages"].as_u64().unwrap() as usize, c.files.len());

        let staged: Vec<&Value> = m.iter().filter(|e| e["status"] == "staged").collect();
        assert!(
            staged.len() > 380,
            "most of the corpus stages: {}",
            staged.len()
        );
        let staged_paths: Vec<PathBuf> = staged
            .iter()
            .map(|e| user.join(e["path"].as_str().unwrap()))
            .collect();

        // Fixed point: mailstage's own validator finds nothing, and the repair
        // engine changes nothing, on every staged file.
        let o = mailstage()
            .arg("check")
            .arg("--json")
            .args(&staged_paths)
            .output()
            .unwrap();
        for l in String::from_utf8(o.stdout).unwrap().lines() {
            let v: Value = serde_json::from_str(l).unwrap();
            assert_eq!(v["verdict"], "clean", "{v:#}");
        }
        assert_eq!(o.status.code(), Some(0));

        // Independent parse: no structural defects.
        let py_out = python_check(&staged_paths);
        for (e, p) in staged.iter().zip(&py_out) {
            let bad: Vec<&Value> = p["defects"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|d| STRUCTURAL.contains(&d.as_str().unwrap()))
                .collect();
            assert!(
                bad.is_empty(),
                "{} ({}): {bad:?}",
                names[e["source"].as_str().unwrap()],
                e["path"]
            );
        }

        // Attachments: every non-text leaf's decoded bytes in the source appear in
        // the output (as Python decodes both). Where the repair re-encoded broken
        // base64, the reference is mailstage's own lenient decode (the two
        // decoders disagree on garbage; see docs/CORPUS.md).
        let sources: Vec<PathBuf> = staged
            .iter()
            .map(|e| src.join(e["source"].as_str().unwrap()))
            .collect();
        let py_in = python_check(&sources);
        let mut compared = 0;
        for ((e, pin), pout) in staged.iter().zip(&py_in).zip(&py_out) {
            // Where Python itself finds the source's structure broken, its
            // reading of the source is no reference (it may decode header lines
            // as base64, say): those messages are covered by the checks above.
            let broken_source = pin["defects"]
                .as_array()
                .unwrap()
                .iter()
                .any(|d| STRUCTURAL.contains(&d.as_str().unwrap()));
            if broken_source {
                continue;
            }
            let reencoded = e["repairs"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r == "base64-reencoded");
            let strict: Vec<&str> = pout["leaves"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l["sha256"].as_str().unwrap())
                .collect();
            let lines: Vec<&str> = pout["leaves"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l["sha256_lines"].as_str().unwrap())
                .collect();
            for leaf in pin["leaves"].as_array().unwrap() {
                let ty = leaf["type"].as_str().unwrap();
                if ty.starts_with("text/")
                    || ty.starts_with("multipart/")
                    || ty.starts_with("message/")
                {
                    continue;
                }
                let found = strict.contains(&leaf["sha256"].as_str().unwrap())
                    || (leaf["cte"] != "base64"
                        && lines.contains(&leaf["sha256_lines"].as_str().unwrap()));
                if !found && reencoded {
                    continue;
                }
                compared += 1;
                assert!(
                    found,
                    "{}: attachment {ty} changed",
                    names[e["source"].as_str().unwrap()]
                );
            }
        }
        assert!(compared > 100, "attachments compared: {compared}");

        per_form.push(
            m.iter()
                .map(|e| {
                    // A Message-ID that staging added derives from the source hash,
                    // which differs between the two forms: compare without it.
                    let bytes = e.get("path").filter(|_| e["status"] == "staged").map(|p| {
                        let b = fs::read(user.join(p.as_str().unwrap())).unwrap();
                        let id = e["message_id"].as_str().unwrap();
                        if id.ends_with("@mailstage.invalid>") {
                            String::from_utf8_lossy(&b)
                                .replace(id, "<added>")
                                .into_bytes()
                        } else {
                            b
                        }
                    });
                    let repairs = e["repairs"].as_array().unwrap().clone();
                    (
                        names[e["source"].as_str().unwrap()].clone(),
                        (e["status"].as_str().unwrap().to_string(), bytes, repairs),
                    )
                })
                .collect(),
        );
    }
    // LF and CRLF forms of the same input give the same verdict and, when staged,
    // the same bytes (line endings are the one thing staging normalises) — except
    // where a lone CR in the input decides (the CRLF form keeps it lone), or
    // where binary content was re-encoded exactly (its bytes differ between the
    // two forms: they are not line endings there).
    let (a, b) = (&per_form[0], &per_form[1]);
    let mut differ = Vec::new();
    for (name, (status, bytes, repairs)) in a {
        let (status2, bytes2, repairs2) = &b[name];
        let binary = repairs.iter().chain(repairs2).any(|r| r == "binary-base64");
        // Two corpus files that differ only in line endings become duplicates
        // in the CRLF form.
        let dup = status == "duplicate" || status2 == "duplicate";
        if (status != status2 || bytes != bytes2) && !binary && !dup {
            differ.push(name.clone());
        }
    }
    let tags: HashMap<&str, &Vec<String>> =
        c.files.iter().map(|(n, _, t)| (n.as_str(), t)).collect();
    for n in &differ {
        assert!(
            tags[n.as_str()]
                .iter()
                .any(|t| t == "mixed-eol" || t == "bare-cr"),
            "{n} differs between its LF and CRLF forms"
        );
    }
}

#[test]
fn quarantine_reasons_on_the_corpus_are_the_expected_kinds() {
    let c = corpus();
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("q");
    let names = maildir(&c, &src, false);
    let out = tmp.path().join("st");
    let (_, report) = convert_json(&[
        src.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
        "--max-size".as_ref(),
        "0".as_ref(),
    ]);
    let m = manifest(&out.join("q"));
    let tags: HashMap<&str, &Vec<String>> =
        c.files.iter().map(|(n, _, t)| (n.as_str(), t)).collect();
    for e in m.iter().filter(|e| e["status"] == "quarantined") {
        let name = &names[e["source"].as_str().unwrap()];
        let kind = e["reason_kind"].as_str().unwrap();
        let t = tags[name.as_str()];
        let expected = match kind {
            // Files with several messages, or no header at all.
            "mbox" => t.iter().any(|x| x.starts_with("mbox")) || name.contains("mbox"),
            "not-a-message" => {
                t.iter()
                    .any(|x| x == "no-headers" || x == "bad-header-line" || x.starts_with("mbox"))
                    || name.contains("outlook")
                    || name.contains("bsmtp")
                    || name.contains("feedback-report")
            }
            "limit" => true,
            // Non-ASCII addresses cannot be written for Exchange 2007.
            "unrepairable" => e["reason"].as_str().unwrap().contains("non-ASCII"),
            _ => false,
        };
        assert!(
            expected,
            "{name}: unexpected quarantine {kind}: {}",
            e["reason"]
        );
        // The original is kept byte-identical with a reason file.
        let q = out.join("q").join(e["path"].as_str().unwrap());
        assert_eq!(
            fs::read(&q).unwrap(),
            fs::read(src.join(e["source"].as_str().unwrap())).unwrap()
        );
        assert!(q.with_extension("reason.txt").is_file());
    }
    assert!(
        report["total"]["quarantined"].as_u64().unwrap() < 30,
        "{report:#}"
    );
}
