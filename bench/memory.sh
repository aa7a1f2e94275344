#!/usr/bin/env bash
# bench/memory.sh - peak RSS of every subcommand on one generated mailbox, to check that
# memory stays flat as the mailbox grows (docs/BENCHMARKS.md, "Peak memory per
# subcommand").
#
#   bench/memory.sh [--messages N] [--out DIR] [--bin PATH] [--rollback-dry-run]
#
# Defaults: --messages 10000, --out bench/out (git-ignored), --bin: cargo build --release
# and its binary. Peak RSS does not depend on the machine's load, so this may run
# beside other work; the wall and CPU figures it prints (bench/measure.py's JSON lines,
# also in DIR/memory-N.jsonl) do.
# 1. ../shared/tools/gen-maildir (seed 42) into DIR/src-N (reused when there);
# 2. convert into a fresh DIR/mem-stage-N (--max-size 0, as bench/upload.sh), then again
#    (the re-run: nothing to write); then once more with the default --max-size into
#    DIR/mem-stage-N-default (removed again);
# 3. zip into DIR/mem-N.zip (removed again); check over every staged file (xargs, so
#    several processes at 100k: the figure is the largest one's);
# 4. a throwaway Dovecot (../shared/tools/imap-testserver) and a fresh user: upload,
#    upload again (nothing to do), verify, rollback (or rollback --dry-run).
set -euo pipefail
cd "$(dirname "$0")/.."
N=10000 OUT=bench/out BIN="" RB_DRY=""
while [ $# -gt 0 ]; do
  case "$1" in
    --messages) N=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --bin) BIN=$2; shift 2 ;;
    --rollback-dry-run) RB_DRY=--dry-run; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
SHARED="${MAILSTAGE_SHARED:-$(cd .. && pwd)/shared}"
mkdir -p "$OUT"; OUT=$(cd "$OUT" && pwd)
if [ -z "$BIN" ]; then
  cargo build --release --locked -q
  BIN="${CARGO_TARGET_DIR:-$PWD/target}/release/mailstage"
fi
SRC=$OUT/src-$N/u
if [ ! -f "$OUT/src-$N.ok" ]; then
  rm -rf "$OUT/src-$N"
  python3 "$SHARED/tools/gen-maildir" "$SRC" --messages "$N" --seed 42 >/dev/null
  touch "$OUT/src-$N.ok"
fi
RES=$OUT/memory-$N.jsonl; : > "$RES"
measure() { python3 -S bench/measure.py --label "$1" -- "${@:2}" | tee -a "$RES"; }
STAGE=$OUT/mem-stage-$N
rm -rf "$STAGE"
# convert exits 1 when it quarantined something; that is a result, not a failure here
measure convert "$BIN" convert "$SRC" --out "$STAGE" -q --max-size 0 || true
measure "convert re-run" "$BIN" convert "$SRC" --out "$STAGE" -q --max-size 0 || true
# as an admin runs it: the default --max-size (10 MiB for Exchange) streams larger
# messages into quarantine, so no message over it is ever held whole
rm -rf "$STAGE-default"
measure "convert, default --max-size" "$BIN" convert "$SRC" --out "$STAGE-default" -q || true
rm -rf "$STAGE-default"
measure zip "$BIN" zip "$STAGE/u" -o "$OUT/mem-$N.zip"
rm -f "$OUT/mem-$N.zip"
find "$STAGE/u/mail" -type f -print0 > "$OUT/mem-files-$N"
measure check xargs -0 -a "$OUT/mem-files-$N" "$BIN" check || true
SRV=/tmp/mailstage-mem-srv-$N
eval "$("$SHARED/tools/imap-testserver" start "$SRV")"
trap '"$SHARED/tools/imap-testserver" stop "$SRV" >/dev/null 2>&1 || true' EXIT
PW=$OUT/pw; echo pw > "$PW"; chmod 600 "$PW"
u=mem$$; "$SHARED/tools/imap-testserver" adduser "$SRV" "$u" pw >/dev/null
conn=(--host 127.0.0.1 --port "$IMAP_PORT" --plain-insecure --login "$u" --password-file "$PW")
measure upload "$BIN" upload "$STAGE/u" "${conn[@]}" 2>/dev/null
measure "upload re-run" "$BIN" upload "$STAGE/u" "${conn[@]}" 2>/dev/null
measure verify "$BIN" verify "$STAGE/u" "${conn[@]}" 2>/dev/null
measure "rollback${RB_DRY:+ --dry-run}" "$BIN" rollback "$STAGE/u" "${conn[@]}" $RB_DRY 2>/dev/null
python3 - "$RES" "$N" <<'PY'
import json, sys
print(f"| {int(sys.argv[2]):,} messages | peak RSS MiB | wall s | CPU s | exit |")
print("|---|---:|---:|---:|---:|")
for l in open(sys.argv[1]):
    r = json.loads(l)
    print(f"| {r['label']} | {r['maxrss_kib'] / 1024:.1f} | {r['wall']:.2f} | {r['user'] + r['sys']:.2f} | {r['exit']} |")
PY
