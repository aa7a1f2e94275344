#!/usr/bin/env bash
# bench/upload.sh - messages per second and peak memory of `mailstage upload`,
# side by side with mbsync (isync) pushing the same Maildir into the same local Dovecot
# in the same run.
#
#   bench/upload.sh [--messages N] [--runs R] [--out DIR]
#
# Defaults: --messages 10000, --runs 3, --out bench/out (git-ignored).
# 1. cargo build --release; ../shared/tools/gen-maildir (seed 42) and mailstage convert
#    into DIR (reused when already there); installs isync if mbsync is missing.
# 2. starts ../shared/tools/imap-testserver (Maildir++, fsync off) in DIR/srv-N.
# 3. R runs; each: a fresh user for mailstage (upload, then the same upload again: the
#    re-run with nothing to do) and a fresh user for mbsync (push of a fresh copy of the
#    source, CopyArrivalDate yes, its state outside the Maildir); each timed by
#    bench/measure.py (wall, CPU, peak RSS of the client; Dovecot's own CPU is not
#    counted for either).
# 4. after each, the mailbox is read back with tests/py/imapdump.py and compared with
#    the manifest by bench/check-mailbox.py (count, INTERNALDATE, flags, keywords).
# Prints a markdown table of medians; raw JSON lines in DIR/upload-results.jsonl.
set -euo pipefail
cd "$(dirname "$0")/.."
N=10000 RUNS=3 OUT=bench/out
while [ $# -gt 0 ]; do
  case "$1" in
    --messages) N=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
SHARED="${MAILSTAGE_SHARED:-$(cd .. && pwd)/shared}"
mkdir -p "$OUT"; OUT=$(cd "$OUT" && pwd)
command -v mbsync >/dev/null || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq isync; }
cargo build --release --locked -q
BIN=$PWD/target/release/mailstage
SRC=$OUT/src-$N/u
if [ ! -f "$OUT/src-$N.ok" ]; then
  rm -rf "$OUT/src-$N"
  python3 "$SHARED/tools/gen-maildir" "$SRC" --messages "$N" --seed 42 >/dev/null
  touch "$OUT/src-$N.ok"
fi
STAGE=$OUT/stage-$N
[ -f "$STAGE/u/manifest.jsonl" ] || "$BIN" convert "$SRC" --out "$STAGE" -q --max-size 0 || true
SRV=/tmp/mailstage-bench-srv-$N
eval "$("$SHARED/tools/imap-testserver" start "$SRV")"
trap '"$SHARED/tools/imap-testserver" stop "$SRV" >/dev/null 2>&1 || true' EXIT
PW=$OUT/pw; echo pw > "$PW"; chmod 600 "$PW"
RES=$OUT/upload-results.jsonl; : > "$RES"
# shellcheck source=bench/peers.sh
. bench/peers.sh
measure() { python3 bench/measure.py --label "$1" -- "${@:2}"; }
check() {  # user manifest [--keep-all-keywords]
  python3 tests/py/imapdump.py 127.0.0.1 "$IMAP_PORT" "$1" "$PW" | python3 bench/check-mailbox.py "$2" ${3:-}
}
[ -d "$OUT/mb-src" ] || cp -a "$SRC" "$OUT/mb-src"
for r in $(seq 1 "$RUNS"); do
  u=ms$r$$; "$SHARED/tools/imap-testserver" adduser "$SRV" "$u" pw >/dev/null
  rm -rf "$STAGE/u/upload"
  sync
  m=$(measure upload "$BIN" upload "$STAGE/u" --host 127.0.0.1 --port "$IMAP_PORT" \
      --plain-insecure --login "$u" --password-file "$PW")
  m2=$(measure re-run "$BIN" upload "$STAGE/u" --host 127.0.0.1 --port "$IMAP_PORT" \
      --plain-insecure --login "$u" --password-file "$PW")
  c=$(check "$u" "$STAGE/u/manifest.jsonl")
  echo "{\"tool\":\"mailstage\",\"run\":$r,\"m\":$m,\"check\":$c}" >> "$RES"
  echo "{\"tool\":\"mailstage re-run\",\"run\":$r,\"m\":$m2,\"check\":$c}" >> "$RES"

  u=mb$r$$; "$SHARED/tools/imap-testserver" adduser "$SRV" "$u" pw >/dev/null
  # One copy for every run (made before the loop): deleting 10,000 files here would
  # slow the next run's file creation on the server (ext4 recently_deleted(), see
  # bench/convert.sh). mbsync renames files in it (,U=) but adds and removes none.
  rm -rf "$OUT/mb-state"; mkdir "$OUT/mb-state"
  mbsyncrc "$IMAP_PORT" "$u" "$OUT/mb-src" "$OUT/mb-state" > "$OUT/mbsyncrc"
  sync
  m=$(measure mbsync mbsync -c "$OUT/mbsyncrc" -a -q || true)
  c=$(check "$u" "$STAGE/u/manifest.jsonl" --keep-all-keywords)
  echo "{\"tool\":\"mbsync\",\"run\":$r,\"m\":$m,\"check\":$c}" >> "$RES"
done
python3 - "$RES" "$N" <<'PY'
import json, statistics, sys, collections
rows = collections.defaultdict(list)
for l in open(sys.argv[1]):
    r = json.loads(l); rows[r["tool"]].append(r)
n = int(sys.argv[2])
print(f"| {n} messages | wall (median s) | msgs/s | CPU s (client) | peak RSS MiB | present once / missing / dup | wrong flags | keywords lost |")
print("|---|---:|---:|---:|---:|---|---:|---:|")
for tool, rs in rows.items():
    wall = statistics.median(r["m"]["wall"] for r in rs)
    cpu = statistics.median(r["m"]["user"] + r["m"]["sys"] for r in rs)
    rss = max(r["m"]["maxrss_kib"] for r in rs) / 1024
    c = rs[-1]["check"]
    rate = "" if tool.endswith("re-run") else f"{n / wall:,.0f}"
    print(f"| {tool} | {wall:.2f} | {rate} | {cpu:.2f} | {rss:.1f} | {c['present_once']} / {c['missing']} / {c['duplicated']} | {c['wrong_flags']} | {c['keywords_lost']} |")
PY
