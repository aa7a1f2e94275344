#!/usr/bin/env bash
# bench/verify-same.sh - check that two mailstage binaries report the same thing from
# verify and rollback --dry-run, and what each peaks at (docs/BENCHMARKS.md, "Compact
# matching for verify and rollback").
#
#   bench/verify-same.sh OLD_BIN NEW_BIN STAGING_USER [OUT_DIR]
#
# A throwaway Dovecot (../shared/tools/imap-testserver) and a fresh user; STAGING_USER
# (a converted tree, e.g. bench/memory.sh's DIR/mem-stage-N/u) is uploaded with
# NEW_BIN; then verify --json, its missing.txt and rollback --dry-run --json with each
# binary are compared with cmp; then the server is changed (bench/verify-perturb.py:
# flags, expunges, a copy, another date, a foreign message) and they are compared
# again; at last NEW_BIN rolls back. measure.py lines (peak RSS) go to OUT_DIR
# (default bench/out)/same.jsonl. The journal of that user stays in STAGING_USER/upload.
set -euo pipefail
OLD=$(realpath "$1") NEW=$(realpath "$2") S=$(cd "$3" && pwd) OUT=${4:-bench/out}
cd "$(dirname "$0")/.."
SHARED="${MAILSTAGE_SHARED:-$(cd .. && pwd)/shared}"
mkdir -p "$OUT"; OUT=$(cd "$OUT" && pwd)
SRV=/tmp/mailstage-same-srv-$$
eval "$("$SHARED/tools/imap-testserver" start "$SRV")"
trap '"$SHARED/tools/imap-testserver" stop "$SRV" >/dev/null 2>&1 || true' EXIT
PW=$OUT/pw; echo pw > "$PW"; chmod 600 "$PW"
u=same$$; "$SHARED/tools/imap-testserver" adduser "$SRV" "$u" pw >/dev/null
conn=(--host 127.0.0.1 --port "$IMAP_PORT" --plain-insecure --login "$u" --password-file "$PW")
RES=$OUT/same.jsonl; : > "$RES"
measure() { python3 -S bench/measure.py --label "$1" --stdout "$2" -- "${@:3}" | tee -a "$RES"; }
measure upload /dev/null "$NEW" upload "$S" "${conn[@]}" 2>/dev/null
same() { # $1: round name
  for t in old new; do
    X=$OLD; [ $t = new ] && X=$NEW
    # exit 1 (something missing) is a result here
    measure "verify $1 $t" "$OUT/v-$1-$t.json" "$X" verify "$S" "${conn[@]}" --json 2>/dev/null || true
    cp "$S/upload/$u@127.0.0.1.missing.txt" "$OUT/missing-$1-$t.txt"
    measure "rollback --dry-run $1 $t" "$OUT/rb-$1-$t.json" "$X" rollback "$S" "${conn[@]}" --dry-run --json 2>/dev/null || true
  done
  for f in v rb missing; do
    ext=json; [ $f = missing ] && ext=txt
    cmp "$OUT/$f-$1-old.$ext" "$OUT/$f-$1-new.$ext"
  done
  echo "same: $1"
}
same pristine
python3 bench/verify-perturb.py "$IMAP_PORT" "$u" pw
same changed
python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print({k: r[k] for k in ("expected","present","missing","duplicated","wrong_date","wrong_flags","other")})' "$OUT/v-changed-new.json"
measure rollback /dev/null "$NEW" rollback "$S" "${conn[@]}" 2>/dev/null
