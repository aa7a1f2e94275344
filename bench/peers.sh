# shellcheck shell=bash
# bench/peers.sh - sourced by bench/upload.sh and bench/compare.sh: how the peers that
# the benchmarks compare mailstage with are configured, so both measure the same thing.

# mbsyncrc PORT USER MAILDIR STATEDIR: an mbsync (isync 1.4) configuration on stdout that
# pushes the Maildir++ tree MAILDIR to USER (password "pw") on 127.0.0.1:PORT over plain
# IMAP: Sync Push, Create Far, CopyArrivalDate yes (INTERNALDATE from the file's mtime),
# its sync state in STATEDIR (outside the Maildir). mbsync renames files in MAILDIR
# (,U=) and writes .uidvalidity / .mbsyncstate files there: give it its own copy.
mbsyncrc() {
    cat <<RC
IMAPAccount t
Host 127.0.0.1
Port $1
User $2
Pass pw
SSLType None
AuthMechs LOGIN

IMAPStore far
Account t

MaildirStore near
Inbox $3
SubFolders Maildir++

Channel c
Far :far:
Near :near:
Patterns *
Create Far
Sync Push
CopyArrivalDate yes
SyncState $4/
RC
}
