#!/usr/bin/env bash
# bench/compare.sh - mailstage against other tools that move a Maildir into IMAP, on the
# same data into the same local Dovecot, one after the other, in the same run (issue 6).
#
#   bench/compare.sh [--messages N] [--runs R] [--peers LIST] [--out DIR]
#                    [--chart FILE] [--settle SECONDS] [--quiet-wait SECONDS]
#                    [--fresh-fs]
#
# Defaults: --messages 10000, --runs 3, --peers mbsync,offlineimap,mailutil,imapsync,
# --out bench/out (git-ignored), --chart docs/compare-<N/1000>k.svg ("" = none),
# --settle 400, --quiet-wait 60 (before each timed command, wait up to that long for
# other work to use at most half a core; measured anyway after it, and the load and
# the other work are recorded with each figure).
#
# 1. Installs what it can from Debian when missing (isync for mbsync, offlineimap3,
#    uw-mailutils; dovecot-imapd through imap-testserver). imapsync is not in Debian 12:
#    it is used when `imapsync` is on PATH or IMAPSYNC=/path/to/imapsync is set, and
#    otherwise its row says "skipped: not installed".
# 2. cargo build --release --locked (CARGO_TARGET_DIR is honoured); the data:
#    $MAILSTAGE_SHARED/tools/gen-maildir DIR/src-N/u --messages N --seed 42 (shared
#    with bench/upload.sh; reused when DIR/src-N.ok exists). 10k = ~420 MB, 100k = ~4.1 GB.
# 3. Starts imap-testserver (Dovecot, Maildir++, mail_fsync=never) in
#    /tmp/mailstage-compare-srv-N-<cksum of DIR>. Untimed preparation: for mailutil the tree as one
#    mbox per folder (bench/maildir-to-mbox.py: Debian's c-client cannot read Maildir),
#    for imapsync (IMAP to IMAP only) the tree imported as the source user "src" on the
#    same Dovecot.
# 4. R runs; in each, one after the other, every command timed by bench/measure.py
#    (wall, CPU of the client and its children, peak RSS, load before, other work):
#      cat          find SRC -type f -exec cat {} +          (baseline: reading)
#      cp -a        cp -a SRC into a new directory           (baseline: copying)
#      convert      mailstage convert SRC into a new staging dir (--max-size 0)
#      upload       mailstage upload of that staging tree to a fresh user
#      upload re-run  the same upload again (nothing to do)
#      mbsync       bench/peers.sh's mbsyncrc (as bench/upload.sh): Sync Push, Create
#                   Far, CopyArrivalDate yes, from a fresh copy of SRC
#      offlineimap  Maildir -> IMAP from a fresh copy of SRC laid out as offlineimap
#                   wants it (one directory per folder), keywordmapping from the
#                   tree's dovecot-keywords, its metadata in the run's directory
#      mailutil     per folder `mailutil append -kw MBOX {server}NAME`, `copy` when the
#                   folder does not exist yet, `create` for an empty folder
#      imapsync     from user "src" to a fresh user (defaults: dates and flags synced)
#    Each peer writes only into its own fresh copy (or reads the mbox / source user);
#    nothing writes into SRC. Before each timed command: the data it reads is read once,
#    untimed (warm cache), and `sync`. Each target mailbox is a fresh user, read back
#    with tests/py/imapdump.py and compared with the manifest by bench/check-mailbox.py
#    (count, INTERNALDATE, flags, keywords, body bytes; peers against every source flag,
#    mailstage against its own rules: \Deleted and client-state keywords left off).
# 5. Prints a markdown table (also DIR/compare-N/report.md), raw JSON lines in
#    DIR/compare-N/results.jsonl, machine facts in DIR/compare-N/machine.txt, and the
#    SVG bar chart of msgs/s per tool (--chart).
#
# Deletions: files are only deleted at the start (the previous invocation's copies and
# server); if anything was deleted less than --settle seconds ago the script waits (ext4
# skips recently deleted inodes when creating files, see bench/convert.sh). Disk: per
# run ~7 x the tree at 10k with all peers (copies, staging, one mailbox per tool).
#
# --fresh-fs (needs root): `cp -a` and `convert` each write into an ext4 made for them
# just before (bench/freshfs.sh, images in DIR/compare-N), so that neither pays for
# inodes deleted earlier; the staging tree stays there for the uploads of its run.
#
# Environment: MAILSTAGE_SHARED (default ../shared), CARGO_TARGET_DIR, IMAPSYNC.

set -euo pipefail

die() {
    printf 'compare.sh: %s\n' "$*" >&2
    exit 2
}

log() {
    printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2
}

n=10000
runs=3
peers=mbsync,offlineimap,mailutil,imapsync
out=bench/out
chart="unset"
settle_s=400
quiet_wait=60
fresh_fs=0
while (($# > 0)); do
    case $1 in
        --messages) [[ ${2:-} =~ ^[1-9][0-9]*$ ]] || die "--messages needs a positive integer"; n=$2; shift 2 ;;
        --runs) [[ ${2:-} =~ ^[1-9][0-9]*$ ]] || die "--runs needs a positive integer"; runs=$2; shift 2 ;;
        --peers) [[ $# -ge 2 ]] || die "--peers needs a list"; peers=$2; shift 2 ;;
        --out) [[ -n ${2:-} ]] || die "--out needs a directory"; out=$2; shift 2 ;;
        --chart) [[ $# -ge 2 ]] || die "--chart needs a file"; chart=$2; shift 2 ;;
        --settle) [[ ${2:-} =~ ^[0-9]+$ ]] || die "--settle needs seconds"; settle_s=$2; shift 2 ;;
        --quiet-wait) [[ ${2:-} =~ ^[0-9]+$ ]] || die "--quiet-wait needs seconds"; quiet_wait=$2; shift 2 ;;
        --fresh-fs) fresh_fs=1; shift ;;
        -h | --help) sed -n '2,/^$/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) die "unknown argument: $1 (see --help)" ;;
    esac
done
IFS=, read -r -a peer_list <<<"$peers"
for p in "${peer_list[@]}"; do
    case $p in mbsync | offlineimap | mailutil | imapsync) ;; *) die "unknown peer: $p" ;; esac
done
has_peer() {
    local p
    for p in "${peer_list[@]}"; do [[ $p == "$1" ]] && return 0; done
    return 1
}

bench_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$bench_dir/.." && pwd)
cd "$root"
shared=${MAILSTAGE_SHARED:-$(cd .. && pwd)/shared}
[[ -x $shared/tools/gen-maildir ]] || die "no gen-maildir in $shared/tools (set MAILSTAGE_SHARED)"
[[ $chart == unset ]] && chart=docs/compare-$((n / 1000))k.svg
((n >= 1000)) || [[ $chart != docs/compare-0k.svg ]] || chart=docs/compare-$n.svg
measure=(python3 -S "$bench_dir/measure.py")
# shellcheck source=bench/peers.sh
. "$bench_dir/peers.sh"

# ---------------------------------------------------------------- tools
need_pkgs=()
has_peer mbsync && ! command -v mbsync >/dev/null && need_pkgs+=(isync)
has_peer offlineimap && ! command -v offlineimap >/dev/null && need_pkgs+=(offlineimap3)
has_peer mailutil && ! command -v mailutil >/dev/null && need_pkgs+=(uw-mailutils)
has_peer mailutil && ! command -v setsid >/dev/null && need_pkgs+=(util-linux)
if ((${#need_pkgs[@]} > 0)); then
    log "installing from Debian: ${need_pkgs[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi
imapsync=${IMAPSYNC:-$(command -v imapsync || true)}
if has_peer imapsync && [[ -z $imapsync || ! -f $imapsync ]]; then
    log "imapsync: not installed (not in Debian 12; put it on PATH or set IMAPSYNC=): skipped"
    imapsync=
fi

mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$out/compare-$n
srv=/tmp/mailstage-compare-srv-$n-$(printf %s "$out" | cksum | cut -d " " -f 1)
last_delete_file=$out/.last-delete
last_delete=$(cat "$last_delete_file" 2>/dev/null || echo 0)
[[ $last_delete =~ ^[0-9]+$ ]] || last_delete=0
"$shared/tools/imap-testserver" stop "$srv" >/dev/null 2>&1 || true
if [[ -e $work || -e $srv ]]; then
    log "removing the previous comparison's files ($work, $srv)"
    rm -rf -- "$work" "$srv"
    sync
    last_delete=$(date +%s)
    echo "$last_delete" >"$last_delete_file"
fi
mkdir -p "$work"

{
    echo "date:     $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    dirty=$(git diff --quiet HEAD -- src Cargo.toml Cargo.lock 2>/dev/null || echo ' (+ local changes)')
    echo "commit:   $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$dirty"
    echo "nproc:    $(nproc)"
    echo "cpu:      $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
    echo "kernel:   $(uname -sr)"
    echo "memory:   $(free -h | awk '/^Mem:/ {print $2 " total, " $7 " available"}')"
    echo "fs:       $(df -PT "$out" | awk 'NR == 2 {print $2 " on " $1}')"
    echo "uptime:   $(uptime)"
    echo "dovecot:  $(dovecot --version 2>/dev/null || /usr/sbin/dovecot --version 2>/dev/null || echo '(installed by imap-testserver)')"
    command -v mbsync >/dev/null && echo "mbsync:   $(mbsync --version)"
    command -v offlineimap >/dev/null && echo "offlineimap: $(offlineimap --version 2>/dev/null | tail -n 1)"
    command -v mailutil >/dev/null && echo "mailutil: uw-mailutils $(dpkg-query -W -f '${Version}' uw-mailutils 2>/dev/null)"
    if [[ -n $imapsync ]]; then
        echo "imapsync: $(perl "$imapsync" --version 2>/dev/null | tail -n 1)"
    fi
} | tee "$work/machine.txt" >&2

log "building: cargo build --release --locked"
cargo build --release --locked -q
target_dir=$(cargo metadata --format-version 1 --no-deps --offline |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
bin=$target_dir/release/mailstage
[[ -x $bin ]] || die "no binary at $bin after the build"

src=$out/src-$n/u
if [[ ! -f $out/src-$n.ok ]]; then
    rm -rf "$out/src-$n"
    log "generating $src"
    python3 "$shared/tools/gen-maildir" "$src" --messages "$n" --seed 42 >"$out/src-$n.gen.log"
    touch "$out/src-$n.ok"
fi

eval "$("$shared/tools/imap-testserver" start "$srv")"
# fresh NAME: an empty ext4 for one timed writer (--fresh-fs), mounted at $work/NAME-fs;
# prints the directory to write into.
# Sparse, and never small (see bench/convert.sh: a small ext4 has few block groups).
fresh_gib=$(($(du -sb --apparent-size "$src" | awk '{print $1}') * 4 / 1073741824 + 1))
((fresh_gib >= 16)) || fresh_gib=16
fresh() {
    "$bench_dir/freshfs.sh" make "$work/$1.img" "$work/$1-fs" "$fresh_gib"
    printf '%s\n' "$work/$1-fs/$1"
}
cleanup() {
    "$shared/tools/imap-testserver" stop "$srv" >/dev/null 2>&1 || true
    if ((fresh_fs)); then
        "$bench_dir/freshfs.sh" drop "$work/cp.img" "$work/cp-fs" || true
        "$bench_dir/freshfs.sh" drop "$work/stage.img" "$work/stage-fs" || true
    fi
}
if ((fresh_fs)); then
    [[ $(id -u) == 0 ]] || die "--fresh-fs needs root (loop devices and mount)"
fi
trap cleanup EXIT
pw=$work/pw
echo pw >"$pw"
chmod 600 "$pw"
adduser() { "$shared/tools/imap-testserver" adduser "$srv" "$1" pw >/dev/null; }
results=$work/results.jsonl
: >"$results"

# ---------------------------------------------------------------- helpers
warm() { find "$@" -type f -exec cat -- {} + >/dev/null; }

settle() {
    local left=$((last_delete + settle_s - $(date +%s)))
    if ((last_delete > 0 && left > 0)); then
        log "waiting ${left} s: files were deleted less than ${settle_s} s ago (see --settle)"
        sleep "$left"
    fi
}

# wait_quiet: up to --quiet-wait s for other work to use at most half a core.
wait_quiet() {
    local waited=0 busy=unmeasured
    while ((waited < quiet_wait)); do
        busy=$("${measure[@]}" --busy 2)
        awk -v b="$busy" 'BEGIN { exit !(b > 0.5) }' || return 0
        ((waited == 0)) && log "  waiting for a quiet machine (other work: $busy cores)"
        sleep 8
        waited=$((waited + 10))
    done
    log "  still busy ($busy cores): measuring anyway"
}

# timed TOOL RUN USER -- COMMAND...: measure COMMAND, then check USER's mailbox (no check
# when USER is "-"); appends one JSON line to $results. The command's stdout and stderr
# go to $work/logs/TOOL-RUN.log.
timed() {
    local tool=$1 run=$2 user=$3 m c="null" keep="" log_file
    shift 4
    log_file=$work/logs/${tool// /-}-$run.log
    mkdir -p "$work/logs"
    wait_quiet
    sync
    # A hung client (offlineimap ignores SIGTERM) is killed after 2 min + 50 ms a message.
    m=$("${measure[@]}" --label "$tool" --stdout "$log_file" -- \
        timeout -s KILL $((120 + n / 20)) "$@" 2>>"$log_file") || true
    [[ -n $m ]] || die "measure.py failed for $tool"
    if [[ $user != - ]]; then
        [[ $tool == mailstage* ]] || keep=--keep-all-keywords
        c=$(python3 tests/py/imapdump.py 127.0.0.1 "$IMAP_PORT" "$user" "$pw" |
            python3 bench/check-mailbox.py "$manifest" $keep) || die "reading back $user's mailbox failed ($tool)"
    fi
    log "  $tool #$run: $(python3 -c '
import json, sys
m = json.loads(sys.argv[1])
print("wall %.2f s, cpu %.2f s, rss %d MiB, exit %d, load1 %.2f, other %.2f" % (m["wall"],
      m["user"] + m["sys"], m["maxrss_kib"] // 1024, m["exit"], m["load1"], m["other_cpu"]))' "$m")${c:+, check $c}"
    printf '{"tool": "%s", "run": %d, "messages": %d, "m": %s, "check": %s}\n' \
        "$tool" "$run" "$n" "$m" "$c" >>"$results"
}

skipped() {
    printf '{"tool": "%s", "run": 0, "messages": %d, "skipped": "%s"}\n' "$1" "$n" "$2" >>"$results"
}

# offlineimap_copy SRC DEST: a Maildir++ tree as offlineimap's Maildir repository
# wants it: one directory per folder (INBOX, Projects.2009, ...), names as on disk.
offlineimap_copy() {
    local d name
    mkdir -p "$2"
    mkdir "$2/INBOX"
    for d in cur new tmp dovecot-keywords dovecot-uidlist; do
        [[ -e $1/$d ]] && cp -a "$1/$d" "$2/INBOX/"
    done
    for d in "$1"/.[!.]*/; do
        name=${d%/}
        name=${name##*/.}
        cp -a "${d%/}" "$2/$name"
    done
    # An empty folder for each parent that has none (Lists for Lists.dovecot): Dovecot
    # lists the parent, and offlineimap stops ("getfolder() asked for a nonexisting
    # folder") or, with several threads, hangs when it has no local counterpart.
    for d in "$2"/*.*/; do
        name=${d%/}
        name=${name##*/}
        while [[ $name == *.* ]]; do
            name=${name%.*}
            [[ -d $2/$name ]] || mkdir -p "$2/$name/cur" "$2/$name/new" "$2/$name/tmp"
        done
    done
}

# ---------------------------------------------------------------- preparation
if has_peer mailutil; then
    # c-client (Debian's build, restrictedBox) takes no absolute path: names are relative
    # to its mailbox root, which is / for root and the home directory for anyone else.
    mbox=$work/mbox
    python3 bench/maildir-to-mbox.py "$src" "$mbox" "$IMAP_SEPARATOR"
    if (($(id -u) == 0)); then
        mbox_name=${mbox#/}
    else
        [[ $mbox == "$HOME"/* ]] || die "mailutil: --out must be under \$HOME when not root (c-client's mailbox root)"
        mbox_name=${mbox#"$HOME"/}
    fi
fi
if has_peer imapsync && [[ -n $imapsync ]]; then
    adduser src
    "$shared/tools/imap-testserver" import "$srv" src "$src" >/dev/null
fi
if has_peer offlineimap; then
    kw_ref=$(cat "$src/dovecot-keywords" 2>/dev/null || true)
    for k in "$src"/.[!.]*/dovecot-keywords; do
        [[ ! -f $k || $(cat "$k") == "$kw_ref" ]] ||
            log "offlineimap: $k differs from the root's dovecot-keywords; keywordmapping follows the root's"
    done
    kwmap=$(python3 -c '
import sys
pairs = []
for line in sys.stdin:
    i, _, name = line.strip().partition(" ")
    if i.isdigit() and name:
        pairs.append(f"{name!r}: {chr(97 + int(i))!r}")
print("{" + ", ".join(pairs) + "}")' <<<"$kw_ref")
fi

# ---------------------------------------------------------------- runs
settle
for ((r = 1; r <= runs; r++)); do
    log "run $r/$runs at $n messages ($(uptime | sed 's/.*load/load/'))"
    rd=$work/run$r
    mkdir -p "$rd"
    # Untimed copies first, so that no timed command runs right after a big write-back.
    has_peer mbsync && cp -a "$src" "$rd/mbsync-src"
    has_peer offlineimap && offlineimap_copy "$src" "$rd/oi-src"
    sync

    warm "$src"
    timed cat "$r" - -- find "$src" -type f -exec cat -- {} +
    cp_dest=$rd/cp-a stage=$rd/stage
    if ((fresh_fs)); then
        cp_dest=$(fresh cp)
        stage=$(fresh stage)
        sync
    fi
    warm "$src"
    timed "cp -a" "$r" - -- cp -a "$src" "$cp_dest"
    warm "$src"
    timed convert "$r" - -- "$bin" convert "$src" --out "$stage" -q --max-size 0
    manifest=$stage/u/manifest.jsonl
    [[ -f $manifest ]] || die "no manifest after convert (see $work/logs/convert-$r.log)"
    if ((r == 1)); then
        msg_bytes=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["source_bytes"])' \
            "$stage/u/summary.json")
        printf '{"meta": true, "messages": %d, "message_bytes": %s, "peers": "%s"}\n' \
            "$n" "$msg_bytes" "$peers" >>"$results"
    fi
    adduser "ms$r"
    warm "$stage"
    timed "mailstage upload" "$r" "ms$r" -- "$bin" upload "$stage/u" --host 127.0.0.1 \
        --port "$IMAP_PORT" --plain-insecure --login "ms$r" --password-file "$pw"
    timed "mailstage re-run" "$r" "ms$r" -- "$bin" upload "$stage/u" --host 127.0.0.1 \
        --port "$IMAP_PORT" --plain-insecure --login "ms$r" --password-file "$pw"

    if has_peer mbsync; then
        adduser "mb$r"
        mkdir -p "$rd/mbsync-state"
        mbsyncrc "$IMAP_PORT" "mb$r" "$rd/mbsync-src" "$rd/mbsync-state" >"$rd/mbsyncrc"
        warm "$rd/mbsync-src"
        timed mbsync "$r" "mb$r" -- mbsync -c "$rd/mbsyncrc" -a -q
    fi

    if has_peer offlineimap; then
        adduser "oi$r"
        cat >"$rd/offlineimaprc" <<RC
[general]
accounts = t
metadata = $rd/oi-meta
ui = quiet

[Account t]
localrepository = near
remoterepository = far

[Repository near]
type = Maildir
localfolders = $rd/oi-src
sep = .
keywordmapping = $kwmap

[Repository far]
type = IMAP
remotehost = 127.0.0.1
remoteport = $IMAP_PORT
remoteuser = oi$r
remotepass = pw
ssl = no
starttls = no
RC
        warm "$rd/oi-src"
        timed offlineimap "$r" "oi$r" -- offlineimap -c "$rd/offlineimaprc" -o -u quiet
    fi

    if has_peer mailutil; then
        adduser "mu$r"
        warm "$mbox"
        timed mailutil "$r" "mu$r" -- bash "$bench_dir/mailutil-push.sh" \
            "$mbox" "$mbox_name" "127.0.0.1:$IMAP_PORT" "mu$r" "$pw"
    fi

    if has_peer imapsync; then
        if [[ -n $imapsync ]]; then
            adduser "is$r"
            warm "$srv/mail/src"
            timed imapsync "$r" "is$r" -- perl "$imapsync" --host1 127.0.0.1 --port1 "$IMAP_PORT" \
                --user1 src --passfile1 "$pw" --host2 127.0.0.1 --port2 "$IMAP_PORT" \
                --user2 "is$r" --passfile2 "$pw" --nossl1 --nossl2 --notls1 --notls2 \
                --nolog --noreleasecheck --nofoldersizes
        elif ((r == 1)); then
            skipped imapsync "not installed"
        fi
    fi
done

python3 "$bench_dir/compare-report.py" "$results" "$chart" | tee "$work/report.md"
log "raw figures: $results; machine: $work/machine.txt${chart:+; chart: $chart}"
