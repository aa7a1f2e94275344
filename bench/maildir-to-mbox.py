#!/usr/bin/env python3
"""Write a Maildir++ tree as one UW c-client "unix" mbox file per folder, the feed for
`mailutil` (Debian's c-client has no Maildir driver: it reads mbox, mbx, mix, mx, mh,
mmdf, tenex and mtx, see /usr/share/doc/libc-client2007e/README.Debian).

    maildir-to-mbox.py MAILDIR OUTDIR SEPARATOR

Per folder OUTDIR/fNN (NN in walk order) and one line "fNN<TAB>IMAP name" in
OUTDIR/folders.tsv (the root is INBOX; ".Projects.2009" becomes "Projects" SEPARATOR
"2009"; names stay in modified UTF-7 as they are on disk).

Each message keeps its bytes, after a From line that carries the file's mtime in UTC
(the INTERNALDATE that mbsync's CopyArrivalDate and mailstage use too) and the status
headers c-client reads and hides again: Status (R = \\Seen), X-Status (A = \\Answered,
F = \\Flagged, T = \\Draft, D = \\Deleted) and X-Keywords (the folder's dovecot-keywords
letters, and Maildir's P as $Forwarded, as mailstage maps it); the first message of a
folder declares the keywords in X-IMAPbase. Lines of a body are not ">From "-quoted:
c-client starts a new message only at a From line with a date, and the benchmark's
body check would show a message that was split.
Stdlib only; the conversion is not timed.
"""
import os
import sys
import time

FLAG_HEADERS = {"S": ("Status", "R"), "R": ("X-Status", "A"), "F": ("X-Status", "F"),
                "D": ("X-Status", "T"), "T": ("X-Status", "D")}


def keywords_table(folder):
    table = {}
    try:
        with open(os.path.join(folder, "dovecot-keywords"), encoding="utf-8") as f:
            for line in f:
                idx, _, name = line.strip().partition(" ")
                if idx.isdigit() and name:
                    table[chr(ord("a") + int(idx))] = name
    except FileNotFoundError:
        pass
    return table


def messages(folder):
    for sub in ("cur", "new"):
        d = os.path.join(folder, sub)
        try:
            names = sorted(os.listdir(d))
        except FileNotFoundError:
            continue
        for n in names:
            info = n.split(":2,", 1)[1] if ":2," in n else ""
            yield os.path.join(d, n), info


def write_folder(folder, out_path):
    table = keywords_table(folder)
    count = 0
    with open(out_path, "wb") as out:
        for path, info in messages(folder):
            with open(path, "rb") as f:
                body = f.read()
            mtime = os.stat(path).st_mtime
            t = time.gmtime(mtime)
            stamp = time.strftime("%a %b ", t) + f"{t.tm_mday:2d}" + time.strftime(" %H:%M:%S +0000 %Y", t)
            hdr = {"Status": "", "X-Status": ""}
            kws = []
            for c in info:
                if c in FLAG_HEADERS:
                    h, v = FLAG_HEADERS[c]
                    hdr[h] += v
                elif c == "P":
                    kws.append("$Forwarded")
                elif c in table:
                    kws.append(table[c])
            lines = [f"From MAILER-DAEMON {stamp}\n"]
            if count == 0:
                lines.append("X-IMAPbase: 1 0 " + " ".join(sorted(set(table.values()) | {"$Forwarded"})) + "\n")
            lines.append(f"Status: {hdr['Status']}O\n")
            if hdr["X-Status"]:
                lines.append(f"X-Status: {hdr['X-Status']}\n")
            if kws:
                lines.append("X-Keywords: " + " ".join(kws) + "\n")
            out.write("".join(lines).encode("utf-8"))
            out.write(body)
            if not body.endswith(b"\n"):
                out.write(b"\n")
            out.write(b"\n")
            count += 1
    return count


def main():
    src, outdir, sep = sys.argv[1:4]
    os.makedirs(outdir, exist_ok=True)
    folders = [("", "INBOX")]
    for name in sorted(os.listdir(src)):
        p = os.path.join(src, name)
        if name.startswith(".") and name not in (".", "..") and os.path.isdir(p):
            folders.append((name, name[1:].replace(".", sep)))
    total = 0
    with open(os.path.join(outdir, "folders.tsv"), "w", encoding="utf-8") as tsv:
        for i, (d, imap_name) in enumerate(folders):
            fname = f"f{i:02d}"
            total += write_folder(os.path.join(src, d), os.path.join(outdir, fname))
            tsv.write(f"{fname}\t{imap_name}\n")
    print(f"maildir-to-mbox: {total} messages in {len(folders)} mbox files", file=sys.stderr)


if __name__ == "__main__":
    main()
