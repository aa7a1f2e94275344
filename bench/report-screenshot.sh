#!/usr/bin/env bash
# Makes docs/report.png: `mailstage report` of a realistic batch of three users —
# the bundled fixture (repairs, quarantine, two messages released from it, a duplicate), a generated user uploaded
# to a throwaway Dovecot and verified, and a generated user converted with
# --exclude Trash, uploaded but not verified — rendered by headless Chromium.
#
#   bench/report-screenshot.sh [OUT.png]      (needs chromium, python3, dovecot-imapd)
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED="${MAILSTAGE_SHARED:-$(cd .. && pwd)/shared}"
OUT="${1:-docs/report.png}"
BIN="${MAILSTAGE_BIN:-${CARGO_TARGET_DIR:-target}/release/mailstage}"
[ -x "$BIN" ] || cargo build --release --locked

work=$(mktemp -d /tmp/mailstage-report-XXXXXX)
chmod 755 "$work"   # Dovecot's unprivileged mail user reads below it
srv="$work/srv"
trap '"$SHARED/tools/imap-testserver" stop "$srv" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

python3 "$SHARED/tools/gen-maildir" "$work/src/bob" --messages 2500 --seed 42 >/dev/null
python3 "$SHARED/tools/gen-maildir" "$work/src/carol" --messages 900 --seed 7 --layout fs >/dev/null
# alice with a 600-byte limit: three messages too large, two of them then released
"$BIN" convert fixtures/maildir/alice --out "$work/staging" --max-size 600 -q >/dev/null || true
"$BIN" quarantine list "$work/staging/alice" --reason too-large --json |
  python3 -c 'import json,sys; [print(i["id"]) for i in json.load(sys.stdin)[:2]]' |
  while read -r id; do "$BIN" quarantine release "$work/staging/alice" "$id" >/dev/null; done
"$BIN" convert "$work/src/bob" --out "$work/staging" -q >/dev/null
"$BIN" convert "$work/src/carol" --out "$work/staging" --exclude Trash -q >/dev/null

eval "$("$SHARED/tools/imap-testserver" start "$srv")"
for u in bob carol; do
  "$SHARED/tools/imap-testserver" adduser "$srv" "$u" "pw-$u" >/dev/null
  printf 'pw-%s\n' "$u" >"$work/$u.pw"
  chmod 600 "$work/$u.pw"
  "$BIN" upload "$work/staging/$u" --host 127.0.0.1 --port "$IMAP_PORT" --plain-insecure \
    --login "$u" --password-file "$work/$u.pw" >/dev/null
done
"$BIN" verify "$work/staging/bob" --host 127.0.0.1 --port "$IMAP_PORT" --plain-insecure \
  --login bob --password-file "$work/bob.pw" >/dev/null

"$BIN" report "$work/staging" -o "$work/report.html" --timestamp
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --hide-scrollbars --user-data-dir="$work/profile" \
  --screenshot="$(realpath -m "$OUT")" --window-size=1280,1600 "file://$work/report.html" 2>/dev/null
echo "wrote $OUT"
