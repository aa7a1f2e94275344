#!/usr/bin/env python3
"""Turn bench/compare.sh's results.jsonl into a markdown table, the issue 6 ratios
(measured in the same run) and an SVG bar chart of messages per second per tool.

    compare-report.py RESULTS.jsonl [CHART.svg]    (stdlib only; "" = no chart)
"""
import collections
import html
import json
import statistics
import sys

ORDER = ["cat", "cp -a", "convert", "mailstage upload", "mailstage re-run",
         "mbsync", "offlineimap", "mailutil", "imapsync"]
UPLOADERS = ["mailstage upload", "mbsync", "offlineimap", "mailutil", "imapsync"]


def pct(k, n):
    return f"{100.0 * k / n:.1f} %" if n else "?"


def correctness(checks, exits):
    """One cell: 100 % or what was wrong, from the worst run."""
    if not checks:
        return "—"
    c = max(checks, key=lambda c: (c["expected"] - c["present_once"]) + c["duplicated"]
            + c["wrong_flags"] + c["body_differs"] + c["unexpected"])
    n = c["expected"]
    parts = []
    if c["missing"]:
        missing_other = c["missing"] - c["date_wrong"]
        if missing_other:
            parts.append(f"missing {missing_other}")
        if c["date_wrong"]:
            parts.append(f"INTERNALDATE wrong on {pct(c['date_wrong'], n)}")
    if c["duplicated"]:
        parts.append(f"{c['duplicated']} duplicated")
    if c["wrong_flags"]:
        what = ", ".join(f"{f} lost {k}" for f, k in c["flags_lost"].items())
        added = ", ".join(f"{f} added {k}" for f, k in c["flags_added"].items())
        detail = "; ".join(x for x in (what, added) if x)
        head = (f"keywords lost on {pct(c['keywords_lost'], n)}" if c["keywords_lost"]
                else f"flags wrong on {pct(c['wrong_flags'], n)}")
        if c["keywords_lost"] and c["wrong_flags"] != c["keywords_lost"]:
            head += f", flags wrong on {pct(c['wrong_flags'], n)}"
        parts.append(f"{head} ({detail})")
    if c["body_differs"]:
        parts.append(f"body bytes differ on {pct(c['body_differs'], n)}")
    if c["unexpected"]:
        parts.append(f"{c['unexpected']} unexpected message(s)")
    bad_exit = sorted({e for e in exits if e != 0})
    if bad_exit:
        parts.append("exit " + "/".join(map(str, bad_exit)))
    if not parts:
        return f"100 % ({c['present_once']:,}/{n:,})"
    return "; ".join(parts)


def svg_chart(path, n, bars):
    """bars: (label, median, lo, hi, note); horizontal bars with min-max whiskers."""
    width, left, right, bar_h, gap, top = 760, 150, 200, 26, 12, 66
    height = top + len(bars) * (bar_h + gap) + 40
    top_val = max([b[3] for b in bars if b[1]] + [1.0])
    scale = (width - left - right) / top_val
    o = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
         f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="13">',
         f'<rect width="{width}" height="{height}" fill="white"/>',
         f'<text x="10" y="24" font-size="15" font-weight="bold">Messages per second into '
         f'a local Dovecot, {n:,} messages</text>',
         f'<text x="10" y="44" fill="#4a5568">bar: median of the runs; whisker: fastest and '
         f'slowest run</text>']
    for i, (label, med, lo, hi, note) in enumerate(bars):
        y = top + i * (bar_h + gap)
        colour = "#2b6cb0" if label.startswith("mailstage") else "#a0aec0"
        o.append(f'<text x="{left - 8}" y="{y + bar_h * 0.7:.0f}" text-anchor="end">'
                 f'{html.escape(label)}</text>')
        if med:
            w = med * scale
            o.append(f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{colour}"/>')
            cy = y + bar_h / 2
            o.append(f'<line x1="{left + lo * scale:.1f}" x2="{left + hi * scale:.1f}" y1="{cy}" '
                     f'y2="{cy}" stroke="black" stroke-width="1.5"/>')
            for v in (lo, hi):
                o.append(f'<line x1="{left + v * scale:.1f}" x2="{left + v * scale:.1f}" '
                         f'y1="{cy - 5}" y2="{cy + 5}" stroke="black" stroke-width="1.5"/>')
            o.append(f'<text x="{left + max(w, hi * scale) + 6:.1f}" y="{y + bar_h * 0.7:.0f}">'
                     f'{med:,.0f}{html.escape(note)}</text>')
        else:
            o.append(f'<text x="{left + 6}" y="{y + bar_h * 0.7:.0f}" fill="#718096">'
                     f'{html.escape(note)}</text>')
    o.append(f'<text x="10" y="{height - 14}" fill="#4a5568" font-size="11">'
             'bench/compare.sh: same data, same server, one after the other; '
             'fresh target user per run</text>')
    o.append("</svg>")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(o) + "\n")


def main():
    rows = collections.defaultdict(list)
    skipped = {}
    meta = {}
    for line in open(sys.argv[1], encoding="utf-8"):
        r = json.loads(line)
        if r.get("meta"):
            meta = r
        elif "skipped" in r:
            skipped[r["tool"]] = r["skipped"]
        else:
            rows[r["tool"]].append(r)
    chart = sys.argv[2] if len(sys.argv) > 2 else ""
    n = meta.get("messages") or next(iter(rows.values()))[0]["messages"]
    mb = meta.get("message_bytes", 0) / 1e6

    def med_wall(tool):
        return statistics.median(r["m"]["wall"] for r in rows[tool]) if rows.get(tool) else None

    mb_wall = med_wall("mbsync")
    print(f"| {n:,} messages, {mb:,.0f} MB | wall s median (min) | runs | msgs/s | MB/s | CPU s (client) "
          "| peak RSS MiB | correctness | × mbsync msgs/s |")
    print("|---|---:|---:|---:|---:|---:|---:|---|---:|")
    bars = []
    for tool in ORDER + sorted(set(rows) - set(ORDER)):
        if tool in skipped:
            print(f"| {tool} | skipped: {skipped[tool]} | | | | | | | |")
            bars.append((tool, None, None, None, f"skipped: {skipped[tool]}"))
            continue
        rs = rows.get(tool)
        if not rs:
            continue
        walls = [r["m"]["wall"] for r in rs]
        wall, lo = statistics.median(walls), min(walls)
        cpu = statistics.median(r["m"]["user"] + r["m"]["sys"] for r in rs)
        rss = max(r["m"]["maxrss_kib"] for r in rs) / 1024
        rerun = tool.endswith("re-run")
        rate = "" if rerun else f"{n / wall:,.0f}"
        mbs = "" if rerun else f"{mb / wall:,.1f}"
        checks = [r["check"] for r in rs if r.get("check")]
        corr = correctness(checks, [r["m"]["exit"] for r in rs])
        if tool in ("cat", "cp -a", "convert") and any(r["m"]["exit"] for r in rs):
            corr = "exit " + "/".join(sorted({str(r["m"]["exit"]) for r in rs}))
        x = f"{mb_wall / wall:.2f}" if mb_wall and not rerun and tool in UPLOADERS else ""
        print(f"| {tool} | {wall:.2f} ({lo:.2f}) | {len(rs)} | {rate} | {mbs} | {cpu:.2f} | {rss:.1f} "
              f"| {corr} | {x} |")
        if tool in UPLOADERS:
            rates = [n / w for w in walls]
            bars.append((tool, n / wall, min(rates), max(rates), f" ({x} × mbsync)" if x else ""))

    def per_run(a, b):
        ra = {r["run"]: r["m"]["wall"] for r in rows.get(a, [])}
        rb = {r["run"]: r["m"]["wall"] for r in rows.get(b, [])}
        return [(k, ra[k] / rb[k]) for k in sorted(ra) if k in rb and rb[k] > 0]

    print()
    targets = [("convert", "cp -a", "convert ≤ 2 × cp -a (wall)", lambda v: v <= 2.0, "×"),
               ("mbsync", "mailstage upload", "upload ≥ 2 × mbsync's msgs/s", lambda v: v >= 2.0, "×"),
               ("mailstage re-run", "mailstage upload", "re-run ≤ 5 % of the upload's time",
                lambda v: v <= 0.05, "%")]
    for a, b, what, ok, unit in targets:
        pr = per_run(a, b)
        if not pr:
            continue
        vals = [v for _, v in pr]
        med = statistics.median(vals)
        fmt = (lambda v: f"{100 * v:.1f} %") if unit == "%" else (lambda v: f"{v:.2f} ×")
        runs = ", ".join(fmt(v) for _, v in pr)
        print(f"- {what}: median {fmt(med)} (per run: {runs}) — "
              f"{'met' if ok(med) else 'NOT met'}")
    # For the uploads, "other work" includes Dovecot serving them: only the local
    # commands tell how busy the rest of the machine was.
    local = [r["m"]["other_cpu"] for t in ("cat", "cp -a", "convert") for r in rows.get(t, [])]
    load1 = [r["m"]["load1"] for rs in rows.values() for r in rs]
    if local:
        print(f"- other work while cat / cp -a / convert ran: median {statistics.median(local):.2f} "
              f"cores, max {max(local):.2f} (of 2); load1 before a command: "
              f"{min(load1):.2f}–{max(load1):.2f}")
    if chart:
        svg_chart(chart, n, bars)
        print(f"- chart: {chart}")


if __name__ == "__main__":
    main()
