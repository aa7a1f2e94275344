#!/usr/bin/env python3
"""Turn bench/convert.sh's raw lines into a markdown report (stdout).

    bench/report.py RESULTS.jsonl META.jsonl RUNS

RESULTS.jsonl: one bench/measure.py line per kept measurement, label "N NAME RUN".
META.jsonl:    one {"messages", "files", "tree_bytes", "message_bytes"} line per size.
Figures are medians over the runs; MB = 10^6 bytes, MiB = 2^20 bytes.
Stdlib only.
"""

import json
import statistics
import sys
from collections import defaultdict

NAMES = [
    ("cat", "cat every file (baseline)"),
    ("cp", "`cp -a`"),
    ("convert", "`convert` (fresh staging dir)"),
    ("convert-rerun", "`convert` re-run (nothing to write)"),
    ("convert-j1", "`convert --jobs 1` (fresh)"),
]
TARGET_RATIO = 2.0


def load(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def fmt(x, nd=2):
    return f"{x:.{nd}f}"


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    results = load(sys.argv[1])
    meta = {m["messages"]: m for m in load(sys.argv[2])}
    runs = int(sys.argv[3])

    by = defaultdict(list)  # (n, name) -> [record] in run order
    floor = None
    for r in results:
        n, name, run = r["label"].split()
        if name == "floor":
            floor = r["maxrss_kib"]
            continue
        r["run"] = int(run)
        by[(int(n), name)].append(r)

    out = []
    p = out.append
    p(f"Medians of {runs} run(s) per size (and the fastest run), warm cache; `load1` = 1-minute load average "
      "before the command (max over runs), `other` = cores busy with other work while it "
      "ran (max over runs). CPU = user + sys (sys also on its own). MB = 10^6 bytes.")
    p("")
    p("| messages | command | wall s | min wall s | CPU s | sys s | peak RSS MiB | msgs/s | MB/s "
      "| × cp -a | load1 | other |")
    p("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    ratios = {}
    rss = {}
    for n in sorted(meta):
        m = meta[n]
        cp = by.get((n, "cp"))
        cp_wall = statistics.median(r["wall"] for r in cp) if cp else None
        for name, title in NAMES:
            rs = by.get((n, name))
            if not rs:
                continue
            wall = statistics.median(r["wall"] for r in rs)
            wmin = min(r["wall"] for r in rs)
            cpu = statistics.median(r["user"] + r["sys"] for r in rs)
            sys_s = statistics.median(r["sys"] for r in rs)
            peak = statistics.median(r["maxrss_kib"] for r in rs) / 1024
            data = m["message_bytes"] if name.startswith("convert") else m["tree_bytes"]
            ratio = f"{wall / cp_wall:.2f}" if cp_wall else "–"
            nruns = f" ({len(rs)}×)" if len(rs) != runs else ""
            p(f"| {n:,} | {title}{nruns} | {fmt(wall)} | {fmt(wmin)} | {fmt(cpu)} | {fmt(sys_s)} | {fmt(peak, 1)} | "
              f"{n / wall:,.0f} | {data / 1e6 / wall:,.0f} | {ratio} | "
              f"{max(r['load1'] for r in rs):.2f} | {max(r['other_cpu'] for r in rs):.2f} |")
            if name == "convert":
                ratios[n] = (wall / cp_wall if cp_wall else None, rs, cp)
                rss[n] = max(r["maxrss_kib"] for r in rs)
    p("")
    for n in sorted(meta):
        m = meta[n]
        p(f"- {n:,} messages: tree {m['tree_bytes'] / 1e6:,.0f} MB in {m['files']:,} files "
          f"(message files: {m['message_bytes'] / 1e6:,.0f} MB).")
    p("")
    p(f"Target: `convert` wall ≤ {TARGET_RATIO:g} × `cp -a` wall, same run.")
    p("")
    for n, (ratio, conv, cp) in sorted(ratios.items()):
        if ratio is None:
            continue
        pairs = {r["run"]: r["wall"] for r in cp}
        per_run = [f"{c['wall'] / pairs[c['run']]:.2f}" for c in conv if c["run"] in pairs]
        verdict = "met" if ratio <= TARGET_RATIO else (
            f"MISSED by {ratio / TARGET_RATIO:.2f}× ({ratio:.2f} against {TARGET_RATIO:g})")
        best = min(c["wall"] for c in conv) / min(c["wall"] for c in cp)
        p(f"- {n:,} messages: convert / cp -a = **{ratio:.2f}** (medians; per run: "
          f"{', '.join(per_run)}; fastest / fastest: {best:.2f}) — {verdict}")
    if rss:
        p("")
        p("Peak RSS of `convert` (max over runs): " + ", ".join(
            f"{n:,} messages: {kib / 1024:.1f} MiB" for n, kib in sorted(rss.items())) + ".")
        ns = sorted(rss)
        if len(ns) >= 2:
            a, b = ns[0], ns[-1]
            growth = (rss[b] - rss[a]) * 1024 / (b - a)
            p(f"From {a:,} to {b:,} messages: ×{rss[b] / rss[a]:.2f}, "
              f"i.e. ~{growth:,.0f} bytes more per extra message.")
    if floor is not None:
        p("")
        p(f"(Peak RSS floor of the measuring helper: {floor / 1024:.1f} MiB — `cat`/`cp` "
          "figures near it mean \"tiny\".)")
    print("\n".join(out))


if __name__ == "__main__":
    main()
