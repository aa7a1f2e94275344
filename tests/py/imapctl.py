#!/usr/bin/env python3
"""Change a test mailbox behind mailstage's back, with Python's imaplib.

usage: imapctl.py PORT USER PASSWORD_FILE COMMAND...
  append FOLDER FILE "DD-Mon-YYYY HH:MM:SS +0000" "(FLAGS)"
  flags FOLDER UID +FLAGS|-FLAGS "(FLAGS)"
  expunge FOLDER UID          (marks UID \\Deleted and expunges just it: UIDPLUS)
  create FOLDER
  folders                     (prints the LIST lines)
"""
import imaplib, sys


def q(name):
    return '"' + name.replace('\\', '\\\\').replace('"', '\\"') + '"'


def main():
    port, user, pwfile, cmd, *args = sys.argv[1:]
    m = imaplib.IMAP4('127.0.0.1', int(port))
    m.login(user, open(pwfile).read().splitlines()[0])
    if cmd == 'append':
        folder, path, date, flags = args
        typ, data = m.append(q(folder), flags, '"' + date + '"', open(path, 'rb').read())
        assert typ == 'OK', data
    elif cmd == 'flags':
        folder, uid, op, flags = args
        assert m.select(q(folder))[0] == 'OK'
        typ, data = m.uid('STORE', uid, op, flags)
        assert typ == 'OK', data
    elif cmd == 'expunge':
        folder, uid = args
        assert m.select(q(folder))[0] == 'OK'
        assert m.uid('STORE', uid, '+FLAGS', '(\\Deleted)')[0] == 'OK'
        typ, data = m.uid('EXPUNGE', uid)
        assert typ == 'OK', data
    elif cmd == 'create':
        typ, data = m.create(q(args[0]))
        assert typ == 'OK', data
    elif cmd == 'folders':
        for line in sorted(m.list()[1]):
            print(line.decode('utf-8', 'replace'))
    else:
        sys.exit('unknown command ' + cmd)
    m.logout()


if __name__ == '__main__':
    main()
