#!/usr/bin/env bash
# bench/convert.sh - speed and peak memory of `mailstage convert`, measured against
# `cat` and `cp -a` of the same Maildir in the same run, warm cache.
#
#   bench/convert.sh [--messages N]... [--runs R] [--out DIR] [--jobs1-at N]
#                    [--settle SECONDS] [--max-other CORES] [--quiet-wait SECONDS]
#                    [--retries K] [--fresh-fs]
#
# Defaults: --messages 10000 --messages 100000, --runs 3, --out bench/out (git-ignored),
# --jobs1-at 10000 (one extra `convert --jobs 1` at that size; 0 = none),
# --settle 400, --max-other 0.5, --quiet-wait 900, --retries 1.
#
# What it does, from the repository root, with no network access of its own
# (`cargo build` fetches crates only if they are not in the local cache yet):
#   1. cargo build --release --locked
#   2. per size N: ../shared/tools/gen-maildir DIR/src-N/u --messages N --seed 42, unless
#      DIR/src-N.ok says that tree is complete (10k: ~420 MB, ~7 s; 100k: ~4.1 GB,
#      ~65-90 s). Free disk is checked with df first: a run needs ~2.2 x the tree
#      besides the tree; a size that does not fit is skipped (the script exits 3).
#   3. R runs, one after the other on the same tree; in each, timed by bench/measure.py
#      (wall, user and sys CPU, peak RSS, all from wait4):
#        cat      find SRC -type f -exec cat {} + >/dev/null   (reading baseline)
#        cp -a    cp -a SRC DIR/work-N/runR/cp-a1
#        convert  mailstage convert SRC --out DIR/work-N/runR/stage-a1 -q --max-size 0
#        re-run   the same convert again into that staging dir (nothing to write)
#        jobs 1   (last run at N = --jobs1-at only) convert --jobs 1 into a new dir
#      Before every timed command: wait for a quiet machine (see Contention), read the
#      tree once more, untimed (warm cache even though this VM's DAMON pages out file
#      cache unused for ~60 s), and `sync` (no command pays for the previous one's
#      write-back). The run's copies and staging trees are deleted when it ends.
#   4. prints a markdown table of the medians and minimums, convert / cp -a per size and
#      per run, and the peak RSS per size (also in DIR/report.md; raw lines in
#      DIR/results.jsonl and DIR/attempts.jsonl, machine facts in DIR/machine.txt).
#      Nothing is written to docs/: copy the figures by hand. DIR/src-N stay for reuse.
#
# Deletions: on ext4 without a journal (as here), the inode allocator will not reuse an
# inode deleted less than 60 s ago, 360 s if its inode-table block is dirty again
# (fs/ext4/ialloc.c, recently_deleted()), and it steps over such inodes one by one from
# the start of the block group. Creating 10,000 files soon after 10,000 were deleted
# then costs 5-10 s of extra system time, for cp and convert alike but not equally, and
# a fresh staging disk never pays it. So before a timed cp or convert the script waits
# until --settle seconds have passed since it last deleted anything (remembered in
# DIR/.last-delete across invocations). Deletions by other users of the disk cannot be
# controlled: compare the sys column across runs.
#
# --fresh-fs (needs root): every cp and convert into a new directory writes into an ext4
# made for it just before (bench/freshfs.sh: a sparse image DIR/fresh.img on a loop
# device, mounted at DIR/fresh-mnt, with the journal setting of DIR's disk). Nobody's
# deletions matter then and no settling is needed; the re-run goes into the tree the
# convert left there. The source stays where it is.
#
# Contention: meant for a shared 2-core machine. Before each timed command the script
# waits (up to --quiet-wait seconds) until other work keeps fewer than --max-other
# cores busy. Every measurement records the 1-minute load average before it and
# `other`, the cores busy with other work while it ran (/proc/stat minus our own CPU).
# One that ran longer than 0.5 s with other > --max-other is repeated, up to --retries
# times (a cp/convert into a new directory, after deleting the disturbed one and
# settling), and the least disturbed attempt is kept; all attempts are in attempts.jsonl.
#
# Environment: GEN_MAILDIR (default ../shared/tools/gen-maildir), CARGO_TARGET_DIR.

set -euo pipefail

usage() {
    sed -n '2,/^$/s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
}

die() {
    printf 'convert.sh: %s\n' "$*" >&2
    exit 2
}

log() {
    printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2
}

is_uint() {
    [[ $1 =~ ^[0-9]+$ ]]
}

is_num() {
    [[ $1 =~ ^[0-9]+([.][0-9]+)?$ ]]
}

is_positive() {
    is_uint "$1" && ((10#$1 > 0))
}

is_nonempty() {
    [[ -n $1 ]]
}

# require CHECK WHAT OPTION [VALUE]...: OPTION's value passes CHECK, or die.
require() {
    local check=$1 what=$2
    shift 2
    if (($# < 2)) || ! "$check" "$2"; then
        die "$1 needs $what"
    fi
}

sizes=()
runs=3
out=bench/out
jobs1_at=10000
settle_s=400
max_other=0.5
quiet_wait=900
retries=1
fresh_fs=0
while (($# > 0)); do
    case $1 in
        --messages)
            require is_positive "a positive integer" "$@"
            sizes+=("$((10#$2))")
            shift 2
            ;;
        --runs)
            require is_positive "a positive integer" "$@"
            runs=$((10#$2))
            shift 2
            ;;
        --out)
            require is_nonempty "a directory" "$@"
            out=$2
            shift 2
            ;;
        --jobs1-at)
            require is_uint "a message count (0 = none)" "$@"
            jobs1_at=$((10#$2))
            shift 2
            ;;
        --settle)
            require is_uint "a number of seconds" "$@"
            settle_s=$((10#$2))
            shift 2
            ;;
        --max-other)
            require is_num "a number of cores" "$@"
            max_other=$2
            shift 2
            ;;
        --quiet-wait)
            require is_uint "a number of seconds" "$@"
            quiet_wait=$((10#$2))
            shift 2
            ;;
        --retries)
            require is_uint "a count" "$@"
            retries=$((10#$2))
            shift 2
            ;;
        --fresh-fs)
            fresh_fs=1
            shift
            ;;
        -h | --help)
            usage
            exit 0
            ;;
        *)
            usage >&2
            die "unknown argument: $1"
            ;;
    esac
done
((${#sizes[@]} > 0)) || sizes=(10000 100000)

bench_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$bench_dir/.." && pwd)
cd "$root"
[[ -f Cargo.toml ]] || die "$root does not look like the mailstage repository"
gen=${GEN_MAILDIR:-$root/../shared/tools/gen-maildir}
[[ -x $gen ]] || die "gen-maildir not found at $gen (set GEN_MAILDIR)"
for tool in cargo python3 cp cat find df du sync awk git; do
    command -v "$tool" >/dev/null || die "$tool is needed"
done
# -S: no site imports, for a low peak-RSS floor (see measure.py).
measure=(python3 -S "$bench_dir/measure.py")

mkdir -p "$out"
out=$(cd "$out" && pwd)
results=$out/results.jsonl
attempts=$out/attempts.jsonl
meta=$out/meta.jsonl
: >"$results"
: >"$attempts"
: >"$meta"

# ---------------------------------------------------------------- machine, build
{
    echo "date:     $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    dirty=$(git diff --quiet HEAD -- src Cargo.toml Cargo.lock 2>/dev/null || echo ' (+ local changes)')
    echo "commit:   $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$dirty"
    echo "nproc:    $(nproc)"
    echo "cpu:      $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
    echo "kernel:   $(uname -sr)"
    echo "memory:   $(free -h | awk '/^Mem:/ {print $2 " total, " $7 " available"}')"
    echo "fs:       $(df -PT "$out" | awk 'NR == 2 {print $2 " on " $1 " (" $7 ")"}')"
    dev=$(df -P "$out" | awk 'NR == 2 {print $1}')
    if [[ -r /sys/fs/ext4/${dev##*/}/journal_task ]]; then
        echo "journal:  $(cat "/sys/fs/ext4/${dev##*/}/journal_task") (ext4 journal thread; <none> = no journal)"
    fi
    echo "uptime:   $(uptime)"
} | tee "$out/machine.txt" >&2

log "building: cargo build --release --locked"
cargo build --release --locked
target_dir=$(cargo metadata --format-version 1 --no-deps --offline |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
bin=$target_dir/release/mailstage
[[ -x $bin ]] || die "no binary at $bin after the build"

# ---------------------------------------------------------------- helpers
avail_kib() {
    df -Pk "$out" | awk 'NR == 2 {print $4}'
}

# json_get JSON KEY: one top-level value of a JSON object.
json_get() {
    python3 -c 'import json, sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"
}

# gt A B: true when the number A is greater than B.
gt() {
    awk -v a="$1" -v b="$2" 'BEGIN { exit !(a > b) }'
}

# warm SRC: read every file once, untimed, so the timed command finds it in the cache.
warm() {
    find "$1" -type f -exec cat -- {} + >/dev/null
}

# remove PATH...: delete, flush, and remember when (see Deletions above).
last_delete_file=$out/.last-delete
last_delete=0
if [[ -f $last_delete_file ]]; then
    last_delete=$(<"$last_delete_file")
    is_uint "$last_delete" || last_delete=0
fi
remove() {
    local p any=0
    for p in "$@"; do
        if [[ -e $p ]]; then
            rm -rf -- "$p"
            any=1
        fi
    done
    if ((any)); then
        sync
        last_delete=$(date +%s)
        printf '%s\n' "$last_delete" >"$last_delete_file"
    fi
}

# settle: wait until --settle seconds have passed since the last deletion.
settle() {
    local left=$((last_delete + settle_s - $(date +%s)))
    if ((last_delete > 0 && left > 0)); then
        log "  waiting ${left} s: files were deleted less than ${settle_s} s ago (see --settle)"
        sleep "$left"
    fi
}

# wait_quiet: wait (up to --quiet-wait s) until other work uses <= --max-other cores.
wait_quiet() {
    local waited=0 busy
    while :; do
        busy=$("${measure[@]}" --busy 3)
        if ! gt "$busy" "$max_other"; then
            ((waited == 0)) || log "  quiet after ${waited} s"
            return 0
        fi
        if ((waited >= quiet_wait)); then
            log "  other work still uses $busy cores after ${waited} s: measuring anyway"
            return 0
        fi
        if ((waited % 60 == 0)); then
            log "  waiting for a quiet machine: other work uses $busy cores (> $max_other)"
        fi
        sleep 12
        waited=$((waited + 15))
    done
}

# step N NAME RUN STDOUT DEST -- COMMAND...
# Times COMMAND. The word @DEST@ in COMMAND is replaced by DEST, or, when DEST is
# "new:PREFIX", by PREFIXa<attempt>, a directory that must not exist yet (the command
# creates it: we settle first). Repeats while other work disturbed it (see Contention);
# appends the kept result to $results and leaves the existing destination in $step_dest.
step_dest=
step() {
    local n=$1 name=$2 run=$3 stdout=$4 dest=$5
    shift 6
    local attempt=0 line best="" best_other="" best_wall="" other wall code d arg
    local -a cmd
    while :; do
        d=$dest
        if [[ $dest == new:* ]] && ((fresh_fs)); then
            "$bench_dir/freshfs.sh" make "$fresh_img" "$fresh_mnt" "$fresh_gib"
            d=$fresh_mnt/${dest##*/}a$((attempt + 1))
        elif [[ $dest == new:* ]]; then
            d=${dest#new:}a$((attempt + 1))
            [[ ! -e $d ]] || die "$d exists already"
            settle
        fi
        wait_quiet
        cmd=()
        for arg in "$@"; do
            cmd+=("${arg//@DEST@/$d}")
        done
        warm "$src"
        sync
        line=$("${measure[@]}" --label "$n $name $run" --stdout "$stdout" -- "${cmd[@]}") || true
        [[ -n $line ]] || die "measure.py failed for: ${cmd[*]}"
        printf '%s\n' "$line" >>"$attempts"
        code=$(json_get "$line" exit)
        case $name in
            convert*) ((code == 0 || code == 1)) || die "convert exited $code (output: $stdout)" ;;
            *) ((code == 0)) || die "$name exited $code" ;;
        esac
        other=$(json_get "$line" other_cpu)
        wall=$(json_get "$line" wall)
        if [[ -z $best ]] || gt "$best_other" "$other"; then
            best=$line
            best_other=$other
            best_wall=$wall
        fi
        log "  $name #$run: wall $wall s, user $(json_get "$line" user) s, sys $(json_get "$line" sys) s, rss $(json_get "$line" maxrss_kib) KiB, load1 $(json_get "$line" load1), other $other"
        # Below half a second, /proc/stat's 10 ms ticks make `other` too coarse to judge.
        if ! gt "$other" "$max_other" || ! gt "$wall" 0.5 || ((attempt >= retries)); then
            break
        fi
        attempt=$((attempt + 1))
        log "  other work used $other cores (> $max_other): repeating ($attempt/$retries)"
        if [[ $dest == new:* ]] && ((fresh_fs == 0)); then
            remove "$d"
        fi
    done
    if gt "$best_other" "$max_other" && gt "$best_wall" 0.5; then
        log "  WARNING: $name #$run stayed disturbed (other $best_other); kept anyway, see the table"
    fi
    printf '%s\n' "$best" >>"$results"
    step_dest=$d
}

# check_stage N STAGING: that convert run saw every message; note if not all staged.
check_stage() {
    local n=$1 summary=$2/u/summary.json
    [[ -f $summary ]] || die "no $summary after convert"
    python3 - "$n" "$summary" <<'EOF'
import json, sys
n, path = int(sys.argv[1]), sys.argv[2]
c = json.load(open(path))["counts"]
if c["messages"] != n:
    sys.exit(f"convert saw {c['messages']} messages, expected {n}")
if c["staged"] != n:
    print(f"convert.sh: note: staged {c['staged']} of {n} ({c})", file=sys.stderr)
EOF
}

fresh_img=$out/fresh.img
fresh_mnt=$out/fresh-mnt
if ((fresh_fs)); then
    [[ $(id -u) == 0 ]] || die "--fresh-fs needs root (loop devices and mount)"
    trap '"$bench_dir/freshfs.sh" drop "$fresh_img" "$fresh_mnt" || true' EXIT
fi

# ---------------------------------------------------------------- the runs
"${measure[@]}" --label "0 floor 1" -- true >>"$results"
remove "$out"/work-*
skipped=()
for n in "${sizes[@]}"; do
    # The layout bench/compare.sh, upload.sh and memory.sh use too: one user, "u".
    src=$out/src-$n/u
    src_ok=$out/src-$n.ok
    work=$out/work-$n
    est_tree_kib=$((n * 42)) # gen-maildir: ~41-42 KB per message on disk
    # One run: a cp copy and a staging tree (~2.05 x the tree), plus slack.
    need_kib=$((est_tree_kib * 22 / 10))
    if [[ ! -f $src_ok || ! -d $src ]]; then
        need_kib=$((need_kib + est_tree_kib))
    fi
    have_kib=$(avail_kib)
    if ((have_kib < need_kib)); then
        log "SKIPPING $n messages: needs ~$((need_kib / 1048576 + 1)) GiB free in $out, only $((have_kib / 1048576)) GiB available"
        skipped+=("$n")
        continue
    fi
    log "== $n messages (free disk: $((have_kib / 1048576)) GiB, this size needs ~$((need_kib / 1048576 + 1)) GiB)"

    if [[ -f $src_ok && -d $src ]]; then
        log "reusing $src ($(<"$src_ok"))"
    else
        remove "$out/src-$n" "$src_ok"
        log "generating $src"
        t0=$(date +%s)
        mkdir -p "$out/src-$n"
        "$gen" "$src" --messages "$n" --seed 42 >"$out/src-$n.gen.log"
        tail -n 1 "$out/src-$n.gen.log" >"$src_ok"
        log "generated in $(($(date +%s) - t0)) s: $(<"$src_ok")"
    fi
    tree_bytes=$(du -sb --apparent-size "$src" | awk '{print $1}')
    # The fresh file system: sparse, so its size costs nothing but must not be small:
    # on a 1 GiB one a 10k convert took 0.81 s of system time against 0.64 s on a
    # 16 GiB one (fewer block groups for two writers), cp -a 0.50 against 0.46.
    fresh_gib=$((tree_bytes * 4 / 1073741824 + 1))
    ((fresh_gib >= 16)) || fresh_gib=16
    files=$(find "$src" -type f | wc -l)
    msg_bytes=0

    for ((r = 1; r <= runs; r++)); do
        log "run $r/$runs at $n messages ($(uptime | sed 's/.*load/load/'))"
        mkdir -p "$work/run$r"
        step "$n" cat "$r" /dev/null "" -- find "$src" -type f -exec cat -- {} +
        step "$n" cp "$r" /dev/null "new:$work/run$r/cp-" -- cp -a "$src" @DEST@
        step "$n" convert "$r" "$out/convert-$n.txt" "new:$work/run$r/stage-" -- \
            "$bin" convert "$src" --out @DEST@ -q --max-size 0
        stage=$step_dest
        check_stage "$n" "$stage"
        step "$n" convert-rerun "$r" "$out/convert-rerun-$n.txt" "$stage" -- \
            "$bin" convert "$src" --out @DEST@ -q --max-size 0
        check_stage "$n" "$stage"
        # Message files only (the tree also holds uidlists, keywords, subscriptions).
        msg_bytes=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["source_bytes"])' \
            "$stage/u/summary.json")
        if ((n == jobs1_at && r == runs)); then
            step "$n" convert-j1 1 "$out/convert-j1-$n.txt" "new:$work/run$r/jobs1-" -- \
                "$bin" convert "$src" --out @DEST@ -q --max-size 0 --jobs 1
            check_stage "$n" "$step_dest"
        fi
        remove "$work"
    done
    printf '{"messages": %d, "files": %d, "tree_bytes": %d, "message_bytes": %d}\n' \
        "$n" "$files" "$tree_bytes" "$msg_bytes" >>"$meta"
done

python3 "$bench_dir/report.py" "$results" "$meta" "$runs" | tee "$out/report.md"
log "raw figures: $results (kept), $attempts (all attempts); machine: $out/machine.txt"
log "the generated trees stay for reuse: rm -r $out/src-* when done"
if ((${#skipped[@]} > 0)); then
    log "skipped for lack of disk: ${skipped[*]} messages"
    exit 3
fi
