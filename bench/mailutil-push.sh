#!/usr/bin/env bash
# bench/mailutil-push.sh - what bench/compare.sh times as "mailutil": every folder of a
# tree written by bench/maildir-to-mbox.py pushed with UW mailutil, one call per folder.
#
#   bench/mailutil-push.sh MBOXDIR MBOXNAME HOST:PORT USER PASSWORD_FILE
#
# MBOXDIR is the directory on disk, MBOXNAME the same directory as c-client names it
# (relative to its mailbox root: / for root, the home directory for anyone else; Debian's
# c-client refuses absolute paths). Per line "fNN<TAB>NAME" of MBOXDIR/folders.tsv:
#   `mailutil append -kw MBOXNAME/fNN {HOST:PORT/imap/notls/norsh/user=USER}NAME`, or
#   `mailutil copy -kw ...` when append fails because NAME does not exist yet (copy
#   creates it), or `mailutil create ...` for an empty folder (c-client would open an
#   empty file with its "phile" driver and upload the file itself as one message).
# mailutil asks for the password with getpass(), which reads stdin when there is no
# controlling terminal: hence setsid and the password file on stdin. Plain IMAP, test
# servers only. Exit 1 if any folder failed.
set -uo pipefail
dir=$1 name_prefix=$2 server=$3 user=$4 pw=$5
rc=0
while IFS=$'\t' read -r f name; do
    target="{$server/imap/notls/norsh/user=$user}$name"
    if [[ ! -s $dir/$f ]]; then
        setsid mailutil create "$target" <"$pw" || rc=1
    elif ! setsid mailutil append -kw "$name_prefix/$f" "$target" <"$pw" 2>/dev/null; then
        setsid mailutil copy -kw "$name_prefix/$f" "$target" <"$pw" || rc=1
    fi
done <"$dir/folders.tsv"
exit $rc
