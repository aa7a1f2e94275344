#!/usr/bin/env python3
"""Independent oracle for the upload tests: read a whole mailbox over IMAP with
Python's imaplib (not mailstage's client) and print one JSON object per message:
folder (decoded from modified UTF-7, '/'-joined), uid, flags, internal date (epoch
seconds), size, sha256 of the body, message_id.

usage: imapdump.py HOST PORT USER PASSWORD_FILE  (plain IMAP; test servers only)
"""
import base64, email.utils, hashlib, imaplib, json, re, sys, time


def mutf7_decode(s):
    out, i = [], 0
    while i < len(s):
        c = s[i]
        if c == '&':
            j = s.index('-', i)
            if j == i + 1:
                out.append('&')
            else:
                b = s[i + 1:j].replace(',', '/')
                b += '=' * (-len(b) % 4)
                out.append(base64.b64decode(b).decode('utf-16-be'))
            i = j + 1
        else:
            out.append(c)
            i += 1
    return ''.join(out)


LIST_RE = re.compile(rb'\((?P<attrs>[^)]*)\) (?P<sep>"[^"]*"|NIL) (?P<name>.*)$')


def main():
    host, port, user, pwfile = sys.argv[1:5]
    m = imaplib.IMAP4(host, int(port))
    m.login(user, open(pwfile).read().splitlines()[0])
    typ, data = m.list()
    folders = []
    for line in data:
        if isinstance(line, tuple):
            attrs_sep, name = line[0], line[1]
            mm = LIST_RE.match(attrs_sep + b' "x"')
            attrs = mm.group('attrs') if mm else b''
            sep = mm.group('sep') if mm else b'NIL'
        else:
            mm = LIST_RE.match(line)
            attrs, sep, name = mm.group('attrs'), mm.group('sep'), mm.group('name')
            if name.startswith(b'"'):
                name = name[1:-1].replace(b'\\"', b'"').replace(b'\\\\', b'\\')
        if b'\\Noselect' in attrs or b'\\NonExistent' in attrs:
            continue
        sepc = sep.strip(b'"').decode() if sep != b'NIL' else None
        folders.append((name, sepc))
    for name, sepc in folders:
        decoded = mutf7_decode(name.decode('ascii'))
        if sepc:
            decoded = '/'.join(decoded.split(sepc))
        typ, _ = m.select(b'"' + name.replace(b'\\', b'\\\\').replace(b'"', b'\\"') + b'"', readonly=True)
        if typ != 'OK':
            continue
        typ, data = m.uid('FETCH', '1:*', '(UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[])')
        for item in data:
            if not isinstance(item, tuple):
                continue
            meta, body = item
            uid = int(re.search(rb'UID (\d+)', meta).group(1))
            flags = re.search(rb'FLAGS \(([^)]*)\)', meta).group(1).decode().split()
            idate = re.search(rb'INTERNALDATE "([^"]+)"', meta).group(1).decode()
            ts = imaplib.Internaldate2tuple(b'INTERNALDATE "' + idate.encode() + b'"')
            size = int(re.search(rb'RFC822.SIZE (\d+)', meta).group(1))
            mid = None
            hdr = body.split(b'\r\n\r\n', 1)[0]
            mmid = re.search(rb'(?im)^message-id:\s*(\S+)', hdr)
            if mmid:
                mid = mmid.group(1).decode('ascii', 'replace')
            print(json.dumps({
                'folder': decoded, 'uid': uid, 'flags': sorted(f for f in flags if f != '\\Recent'),
                'internal_date': int(time.mktime(ts)) if ts else None,
                'size': size, 'sha256': hashlib.sha256(body).hexdigest(), 'message_id': mid,
            }, ensure_ascii=False))
    m.logout()


if __name__ == '__main__':
    main()
