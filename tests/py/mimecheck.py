#!/usr/bin/env python3
"""Independent second opinion on messages, for mailstage's corpus tests.

Reads each file with Python's own `email` package (compat32 policy, as tolerant as
it gets) and prints one JSON object per file:
  {"file": ..., "defects": [defect class names, message and all parts],
   "leaves": [{"type": "image/png", "cte": "base64", "sha256": hex of
               get_payload(decode=True), "sha256_lines": the same with CRLF line
               endings, "len": bytes}]}
Standard library only.
"""
import email
import email.policy
import hashlib
import json
import sys


# Containers whose payload is not a whole message: Python parses them as if it
# were and reports defects of a fragment (message/partial) or of a header-only
# copy (delivery reports' message/rfc822-headers), or of the field groups of a
# delivery status (RFC 3464), which it parses as header blocks.
OPAQUE = {"message/partial", "message/external-body", "message/rfc822-headers", "text/rfc822-headers",
          "message/delivery-status"}


def walk(part):
    yield part
    if part.get_content_type() in OPAQUE:
        return
    if part.is_multipart():
        for sub in part.get_payload():
            yield from walk(sub)


def leaves(msg):
    out = []
    for part in walk(msg):
        if part.is_multipart():
            continue
        payload = part.get_payload(decode=True)
        if payload is None:
            payload = b""
        cte = str(part.get("content-transfer-encoding", "7bit")).strip().lower()
        # Line endings of text-like content are canonical CRLF (RFC 2046 §4.1.1):
        # staging normalises them, so compare those payloads with that normalised.
        lines = payload.replace(b"\r\n", b"\n").replace(b"\r", b"\n").replace(b"\n", b"\r\n")
        out.append({
            "type": part.get_content_type(),
            "cte": cte,
            "sha256": hashlib.sha256(payload).hexdigest(),
            "sha256_lines": hashlib.sha256(lines).hexdigest(),
            "len": len(payload),
        })
    return out


def defects(msg):
    names = []
    for part in walk(msg):
        names.extend(type(d).__name__ for d in part.defects)
    return names


def main():
    for path in sys.argv[1:]:
        with open(path, "rb") as fh:
            data = fh.read()
        msg = email.message_from_bytes(data, policy=email.policy.compat32)
        print(json.dumps({"file": path, "defects": defects(msg), "leaves": leaves(msg)}))


if __name__ == "__main__":
    main()
