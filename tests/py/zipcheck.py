#!/usr/bin/env python3
"""Independent second opinion on a zip written by mailstage, for its tests.

Reads the archive with Python's own `zipfile` module and prints one JSON object:
  {"testzip": null or the name of the first entry whose data fails its CRC,
   "entries": [{"name", "size", "compressed", "crc", "flags", "method", "mode",
                "is_dir", "zip64_extra"}, ...] in central directory order}
`testzip()` decompresses every entry and checks its CRC-32 and sizes; `mode` is the
Unix mode from the upper 16 bits of the external attributes; `zip64_extra` says
whether the central record has the zip64 extended information field (0x0001).
Standard library only.
"""
import json
import struct
import sys
import zipfile


def has_zip64_extra(extra):
    i = 0
    while i + 4 <= len(extra):
        tag, size = struct.unpack_from("<HH", extra, i)
        if tag == 0x0001:
            return True
        i += 4 + size
    return False


def main():
    with zipfile.ZipFile(sys.argv[1]) as z:
        entries = [
            {
                "name": i.filename,
                "size": i.file_size,
                "compressed": i.compress_size,
                "crc": i.CRC,
                "flags": i.flag_bits,
                "method": i.compress_type,
                "mode": i.external_attr >> 16,
                "is_dir": i.is_dir(),
                "zip64_extra": has_zip64_extra(i.extra),
            }
            for i in z.infolist()
        ]
        bad = z.testzip()
    json.dump({"testzip": bad, "entries": entries}, sys.stdout)


if __name__ == "__main__":
    main()
