#!/usr/bin/env python3
"""Compare a mailbox (as dumped by tests/py/imapdump.py, JSON lines on stdin) with a
staging manifest: per message (matched by Message-ID and INTERNALDATE), is it there
once, with the date, the flags and the body of the source?

    check-mailbox.py MANIFEST [--keep-all-keywords] < dump.jsonl

Prints one JSON line: expected, present_once, missing, duplicated, wrong_flags,
keywords_lost, and the detail: date_wrong (missing, but its Message-ID is there with
another INTERNALDATE), unexpected (messages in the mailbox that match none of the
manifest), body_differs (present, but the bytes' SHA-256 is not the staged file's:
for a clean message that is the source in CRLF form), flags_lost and flags_added
(per flag, how many messages). Flags are compared as mailstage's rules define them
(\\Deleted and the client-state keywords left off) unless --keep-all-keywords, which
compares with every source flag (what mbsync and the other peers copy). Folders are
not compared: mailstage maps folder names (e.g. Trash to "Deleted Items").
"""
import collections, datetime, hashlib, json, os, sys

DROPPED = {"\\Deleted", "NonJunk", "$MDNSent", "$NotJunk", "Junk", "$Junk"}


def staged_sha256(user_dir, e):
    """SHA-256 of the staged file: the manifest has no hash of it (convert writes
    none since 2026-12-02), so it is read from the tree beside the manifest."""
    with open(os.path.join(user_dir, e["path"]), "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def main():
    manifest = sys.argv[1]
    user_dir = os.path.dirname(os.path.abspath(manifest))
    keep_all = "--keep-all-keywords" in sys.argv
    want = collections.Counter()
    want_flags = {}
    want_sha = {}
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
        want_sha.setdefault(key, set()).add(staged_sha256(user_dir, e))
    got = collections.Counter()
    got_flags = {}
    got_sha = {}
    got_mids = set()
    for line in sys.stdin:
        m = json.loads(line)
        key = (m["message_id"], m["internal_date"])
        got[key] += 1
        got_flags[key] = set(m["flags"])
        got_sha.setdefault(key, set()).add(m.get("sha256"))
        got_mids.add(m["message_id"])
    missing = sum(max(0, n - got[k]) for k, n in want.items())
    dup = sum(max(0, got[k] - n) for k, n in want.items() if k in got)
    wrong = sum(1 for k in want if k in got_flags and got_flags[k] != want_flags[k])
    kw_lost = sum(1 for k in want if k in got_flags
                  and {f for f in want_flags[k] if not f.startswith("\\")} - got_flags[k])
    date_wrong = sum(n for k, n in want.items() if k not in got and k[0] in got_mids)
    unexpected = sum(n for k, n in got.items() if k not in want)
    body = sum(1 for k in want if k in got_sha and not got_sha[k] <= want_sha[k])
    lost, added = collections.Counter(), collections.Counter()
    for k in want:
        if k in got_flags:
            lost.update(want_flags[k] - got_flags[k])
            added.update(got_flags[k] - want_flags[k])
    print(json.dumps({"expected": sum(want.values()),
                      "present_once": sum(min(n, got[k]) for k, n in want.items()),
                      "missing": missing, "duplicated": dup, "wrong_flags": wrong,
                      "keywords_lost": kw_lost, "date_wrong": date_wrong,
                      "unexpected": unexpected, "body_differs": body,
                      "flags_lost": dict(sorted(lost.items())),
                      "flags_added": dict(sorted(added.items()))}))


if __name__ == "__main__":
    main()
