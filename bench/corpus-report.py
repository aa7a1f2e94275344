#!/usr/bin/env python3
"""Convert the upstream corpus with mailstage and print per-tag results (Markdown).

Usage: bench/corpus-report.py [--mailstage target/release/mailstage] [--shared ../shared]
Builds a temporary Maildir with every corpus file in INBOX/cur, runs
`mailstage convert --max-size 0`, and tabulates the manifest by the tags of
index.tsv. Standard library only.
"""
import argparse
import collections
import json
import os
import shutil
import subprocess
import sys
import tempfile


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mailstage", default="target/release/mailstage")
    ap.add_argument("--shared", default=os.environ.get("MAILSTAGE_SHARED", "../shared"))
    a = ap.parse_args()
    root = os.path.join(a.shared, "corpora", "upstream")
    rows = []
    with open(os.path.join(root, "index.tsv")) as fh:
        next(fh)
        for line in fh:
            cols = line.rstrip("\n").split("\t")
            rows.append((cols[0], cols[7].split(",")))
    tmp = tempfile.mkdtemp()
    try:
        md = os.path.join(tmp, "corpus")
        for d in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(md, d))
        names = {}
        for i, (name, _) in enumerate(rows):
            f = "%04d.corpus:2,S" % i
            shutil.copyfile(os.path.join(root, name), os.path.join(md, "cur", f))
            names["cur/" + f] = i
        out = os.path.join(tmp, "st")
        r = subprocess.run([a.mailstage, "convert", md, "--out", out, "--max-size", "0", "--json", "-q"],
                           capture_output=True, text=True)
        if r.returncode not in (0, 1):
            sys.exit("convert failed: %s" % r.stderr)
        entries = [json.loads(l) for l in open(os.path.join(out, "corpus", "manifest.jsonl"))]
    finally:
        shutil.rmtree(tmp)
    by_tag = collections.defaultdict(collections.Counter)
    repairs_by_tag = collections.defaultdict(collections.Counter)
    total = collections.Counter()
    reasons = collections.Counter()
    for e in entries:
        name, tags = rows[names[e["source"]]]
        total[e["status"]] += 1
        if e["status"] == "quarantined":
            reasons[e.get("reason_kind", "?")] += 1
        for t in tags:
            by_tag[t]["files"] += 1
            by_tag[t][e["status"]] += 1
            for rep in e["repairs"]:
                repairs_by_tag[t][rep] += 1
    print("| tag | files | staged | duplicate | quarantined | most frequent repairs |")
    print("|---|---:|---:|---:|---:|---|")
    for t in sorted(by_tag, key=lambda t: (-by_tag[t]["files"], t)):
        c = by_tag[t]
        reps = ", ".join("%s %d" % kv for kv in repairs_by_tag[t].most_common(3))
        print("| %s | %d | %d | %d | %d | %s |" % (t, c["files"], c["staged"], c["duplicate"], c["quarantined"], reps))
    print()
    print("Total: %d files: %s" % (len(entries), ", ".join("%s %d" % kv for kv in sorted(total.items()))))
    print("Quarantine reasons: %s" % ", ".join("%s %d" % kv for kv in sorted(reasons.items())))


if __name__ == "__main__":
    main()
