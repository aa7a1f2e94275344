#!/usr/bin/env python3
"""Compare a mailbox (as dumped by tests/py/imapdump.py, JSON lines on stdin) with a
staging manifest: per message (matched by Message-ID and INTERNALDATE), is it there
once, with the date and the flags of the source?

    check-mailbox.py MANIFEST [--keep-all-keywords] < dump.jsonl

Prints one JSON line: expected, present_once, missing, duplicated, wrong_flags,
keywords_lost. Flags are compared as mailstage's rules define them (\\Deleted and the
client-state keywords left off) unless --keep-all-keywords, which compares with every
source flag (what mbsync copies).
"""
import collections, json, sys, datetime

DROPPED = {"\\Deleted", "NonJunk", "$MDNSent", "$NotJunk", "Junk", "$Junk"}


def main():
    manifest = sys.argv[1]
    keep_all = "--keep-all-keywords" in sys.argv
    want = collections.Counter()
    want_flags = {}
    for line in open(manifest):
        e = json.loads(line)
        if e["status"] != "staged":
            continue
        ts = int(datetime.datetime.fromisoformat(e["internal_date"]).timestamp())
        key = (e.get("message_id"), ts)
        want[key] += 1
        flags = set(e["flags"])
        if not keep_all:
            flags -= DROPPED
        want_flags[key] = flags
    got = collections.Counter()
    got_flags = {}
    for line in sys.stdin:
        m = json.loads(line)
        key = (m["message_id"], m["internal_date"])
        got[key] += 1
        got_flags[key] = set(m["flags"])
    missing = sum(max(0, n - got[k]) for k, n in want.items())
    dup = sum(max(0, got[k] - n) for k, n in want.items() if k in got)
    wrong = sum(1 for k in want if k in got_flags and got_flags[k] != want_flags[k])
    kw_lost = sum(1 for k in want if k in got_flags
                  and {f for f in want_flags[k] if not f.startswith("\\")} - got_flags[k])
    print(json.dumps({"expected": sum(want.values()),
                      "present_once": sum(min(n, got[k]) for k, n in want.items()),
                      "missing": missing, "duplicated": dup, "wrong_flags": wrong,
                      "keywords_lost": kw_lost}))


if __name__ == "__main__":
    main()
