#!/usr/bin/env python3
"""Change a mailbox the way a user or a flaky upload might, for bench/verify-same.sh.

    bench/verify-perturb.py PORT LOGIN PASSWORD     (plain IMAP on 127.0.0.1)

In INBOX: \\Flagged and a keyword added to 5 messages, \\Seen removed from 3, 4
expunged, one copy with today's date (the user's) and one with the original
INTERNALDATE (a duplicate) appended, one message re-appended with another date, a
foreign message appended; in the first other non-empty folder a keyword on one
message. Stdlib only.
"""

import imaplib
import sys

c = imaplib.IMAP4("127.0.0.1", int(sys.argv[1]))
c.login(sys.argv[2], sys.argv[3])
c.select("INBOX")
uids = c.uid("SEARCH", None, "ALL")[1][0].split()
c.uid("STORE", b",".join(uids[10:15]), "+FLAGS", "(\\Flagged $custom)")
c.uid("STORE", b",".join(uids[20:23]), "-FLAGS", "(\\Seen)")
c.uid("STORE", b",".join(uids[30:34]), "+FLAGS", "(\\Deleted)")
c.expunge()
d = c.uid("FETCH", uids[40], "(BODY.PEEK[] INTERNALDATE)")[1]
body = d[0][1]
idate = '"' + d[0][0].decode().split('INTERNALDATE "')[1].split('"')[0] + '"'
c.append("INBOX", None, None, body)
c.append("INBOX", None, idate, body)
d = c.uid("FETCH", uids[50], "(BODY.PEEK[])")[1]
c.uid("STORE", uids[50], "+FLAGS", "(\\Deleted)")
c.expunge()
c.append("INBOX", None, '"02-Feb-2002 02:02:02 +0200"', d[0][1])
c.append("INBOX", None, '"01-Jan-2001 00:00:00 +0000"',
         b"Subject: foreign\r\nMessage-ID: <foreign@x>\r\n\r\nhi\r\n")
for line in c.list()[1]:
    name = line.decode().rsplit(' "." ', 1)[-1]
    if name.strip('"') == "INBOX":
        continue
    c.select(name)
    u2 = c.uid("SEARCH", None, "ALL")[1][0].split()
    if u2:
        c.uid("STORE", u2[0], "+FLAGS", "($label1)")
        break
c.logout()
