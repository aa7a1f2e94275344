#!/usr/bin/env bash
# bench/freshfs.sh - a new, empty ext4 for one timed command (bench/convert.sh and
# bench/compare.sh with --fresh-fs).
#
#   bench/freshfs.sh make IMG MNT GIB    (re)create IMG as a GIB-sized sparse ext4, mounted at MNT
#   bench/freshfs.sh drop IMG MNT        unmount MNT, detach its loop device, delete IMG
#
# Why: on ext4 the inode allocator steps over inodes deleted in the last minutes
# (fs/ext4/ialloc.c, recently_deleted()), so how fast 10,000 new files can be created
# depends on what was deleted before, by whom and when: we measured `cp -a` of the same
# tree at 0.55 s and at 8 s. Settling (waiting ~400 s after every delete) only bounds
# that. A file system made for the command gives every timed writer the same start.
#
# The file system copies the journal setting of the disk that holds IMG (this machine's
# root has none), is mounted with noinit_itable (no background inode-table zeroing
# while a command is timed) and sits on a loop device with direct I/O (no second copy
# of every written page in the page cache of IMG's own file system). mkfs discards the
# old image's blocks, so IMG only takes the space its files use. Needs root, losetup,
# mkfs.ext4 and mount.
set -euo pipefail

die() {
    printf 'freshfs.sh: %s\n' "$*" >&2
    exit 2
}

# detach MNT: unmount it and free the loop device behind it, if any.
detach() {
    local dev
    if mountpoint -q "$1"; then
        dev=$(findmnt -n -o SOURCE --target "$1")
        umount "$1"
        [[ $dev == /dev/loop* ]] && losetup -d "$dev" 2>/dev/null || true
    fi
}

(($# >= 3)) || die "usage: freshfs.sh make IMG MNT GIB | drop IMG MNT"
op=$1 img=$2 mnt=$3
[[ $(id -u) == 0 ]] || die "needs root (loop devices and mount)"
for tool in losetup mkfs.ext4 mount umount findmnt mountpoint truncate; do
    command -v "$tool" >/dev/null || die "$tool is needed"
done
case $op in
    make)
        (($# == 4)) && [[ $4 =~ ^[0-9]+$ ]] || die "make needs a size in GiB"
        detach "$mnt"
        mkdir -p "$mnt" "$(dirname "$img")"
        features=-O^has_journal
        host=$(findmnt -n -o SOURCE --target "$(dirname "$img")")
        # /sys/fs/ext4/DEV/journal_task names the journal thread, "<none>" without one.
        task=/sys/fs/ext4/${host##*/}/journal_task
        if [[ -r $task && $(<"$task") != "<none>" ]]; then
            features=-Ohas_journal
        fi
        rm -f "$img"
        truncate -s "${4}G" "$img"
        mkfs.ext4 -q -F "$features" "$img"
        dev=$(losetup -f --show --direct-io=on "$img")
        mount -o noinit_itable "$dev" "$mnt"
        ;;
    drop)
        detach "$mnt"
        rm -f "$img"
        rmdir "$mnt" 2>/dev/null || true
        ;;
    *) die "unknown operation $op" ;;
esac
