//! A small streaming zip writer: exactly what `mailstage zip` needs (deflated files,
//! directory entries, zip64), with memory that does not grow with the number of
//! entries.
//!
//! Section numbers are those of PKWARE's APPNOTE.TXT 6.3.x.
//!
//! - Each entry is a local file header (4.3.7), then its deflated data; the CRC-32
//!   and both sizes are only known at the end of the data, so they are written into
//!   the header afterwards, in place (`pwrite`: the output is a regular file). No
//!   data descriptor (4.3.9), so general purpose bit 3 stays clear and a reader that
//!   only walks the local headers sees the real values.
//! - The central directory (4.3.12) is the part that grows with the archive; its
//!   records go to a second, temporary file as the entries are written, and that
//!   file is copied after the data by [`ZipWriter::finish`]. What stays in memory is
//!   fixed: the compressor, one read buffer and one output buffer.
//! - zip64 (4.5.3): an entry whose data might reach 4 GiB gets the zip64 extra field
//!   in both headers from the start; a local header's offset past 4 GiB goes into
//!   the central record's zip64 field; the archive gets the zip64 end of central
//!   directory record and locator (4.3.14, 4.3.15) when a count, size or offset of
//!   the end record does not fit its field.

use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, Write};
use std::os::unix::fs::FileExt;

use flate2::{Compress, Compression, Crc, FlushCompress, Status};

/// The largest value a 32-bit size or offset field can hold as itself: 0xFFFFFFFF
/// means "the value is in the zip64 extra field" (4.4.1.4, 4.5.3), so it is the
/// first value that must go there.
const U32_SENTINEL: u64 = 0xFFFF_FFFF;
/// The same for the 16-bit entry counts of the end record (4.4.1.4).
const U16_SENTINEL: u64 = 0xFFFF;

/// Local file header signature (4.3.7).
const LOCAL_SIG: u32 = 0x0403_4b50;
/// Central directory file header signature (4.3.12).
const CENTRAL_SIG: u32 = 0x0201_4b50;
/// zip64 end of central directory record signature (4.3.14).
const ZIP64_EOCD_SIG: u32 = 0x0606_4b50;
/// zip64 end of central directory locator signature (4.3.15).
const ZIP64_LOCATOR_SIG: u32 = 0x0706_4b50;
/// End of central directory record signature (4.3.16).
const EOCD_SIG: u32 = 0x0605_4b50;
/// Header ID of the zip64 extended information extra field (4.5.3).
const ZIP64_EXTRA_ID: u16 = 0x0001;

/// "Version needed to extract" (4.4.3.2): 2.0 for deflate and for directories, 4.5
/// for anything using zip64.
const VERSION_DEFLATE: u16 = 20;
/// See [`VERSION_DEFLATE`].
const VERSION_ZIP64: u16 = 45;
/// "Version made by", upper byte (4.4.2.2): 3 = UNIX, so that readers take the upper
/// 16 bits of the external attributes as a Unix mode (4.4.15).
const MADE_BY_UNIX: u16 = 3 << 8;

/// General purpose bit 11, the language encoding flag (4.4.4, appendix D): the name
/// is UTF-8. Set only for names that are not ASCII, where it makes a difference.
const FLAG_UTF8: u16 = 1 << 11;
/// Compression methods (4.4.5).
const METHOD_STORED: u16 = 0;
/// See [`METHOD_STORED`].
const METHOD_DEFLATED: u16 = 8;
/// 1980-01-01 00:00 in MS-DOS date and time format (4.4.6): the earliest the
/// format can say, used for every entry so that the bytes do not depend on mtimes.
const DOS_TIME: u16 = 0;
/// See [`DOS_TIME`]: year 1980 (0 above 1980) << 9 | month 1 << 5 | day 1.
const DOS_DATE: u16 = (1 << 5) | 1;

/// Unix modes for the external attributes (4.4.15): a regular file 0644, a
/// directory 0755.
const MODE_FILE: u32 = 0o100_644;
/// See [`MODE_FILE`].
const MODE_DIR: u32 = 0o040_755;

/// Deflate level: zlib's default, the usual size/speed balance.
const DEFLATE_LEVEL: u32 = 6;
/// Size of the buffer each file is read through.
const READ_BUF: usize = 256 * 1024;
/// Size of the buffer the compressor writes into.
const DEFLATE_BUF: usize = 64 * 1024;
/// Size of the write buffers of the archive and of the central directory file.
const WRITE_BUF: usize = 64 * 1024;

/// Errors writing an archive.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WriteError {
    /// Reading an entry's data failed.
    #[error("reading: {0}")]
    Read(#[source] io::Error),
    /// Writing the archive or its central directory file failed.
    #[error("writing: {0}")]
    Write(#[source] io::Error),
    /// A name longer than the 16-bit length fields allow (4.4.10).
    #[error("a name of {0} bytes does not fit a zip header")]
    NameTooLong(usize),
    /// The data turned out to need zip64 sizes, but the entry was started without
    /// them (its length, given beforehand, was far below 4 GiB): the file grew while
    /// it was being read.
    #[error("the file grew past 4 GiB while it was being archived")]
    Grew,
}

impl From<io::Error> for WriteError {
    fn from(e: io::Error) -> Self {
        WriteError::Write(e)
    }
}

/// The thresholds at which zip64 fields take over. Only tests lower them, to get
/// zip64 records from small archives (a zip64 field may hold a small value,
/// 4.5.3, so the result is still a valid archive).
#[derive(Debug, Clone, Copy)]
struct Limits {
    /// The first size or offset that goes into a zip64 field.
    u32_sentinel: u64,
    /// The first entry count that goes into the zip64 end record.
    u16_sentinel: u64,
}

impl Limits {
    /// The format's own limits.
    const FORMAT: Limits = Limits {
        u32_sentinel: U32_SENTINEL,
        u16_sentinel: U16_SENTINEL,
    };
}

/// Whether an entry of `len` bytes must be started with zip64 sizes. The decision
/// is made before the data is compressed, from the uncompressed length alone, so
/// that it is the same on every run; deflate can make incompressible data slightly
/// larger (zlib's `deflateBound`: about 0.03 % plus a few bytes), so an entry just
/// under 4 GiB gets zip64 sizes as well.
fn needs_zip64_sizes(len: u64, limits: Limits) -> bool {
    len.saturating_add(len / 2048 + 64) >= limits.u32_sentinel
}

/// A zip archive being written. Entries go in the order they are added.
pub(crate) struct ZipWriter {
    /// The archive.
    out: BufWriter<File>,
    /// Offset in `out` of the next byte written (the file may not start empty:
    /// tests put the archive past a 4 GiB hole).
    pos: u64,
    /// The central directory records, in entry order.
    central: BufWriter<File>,
    /// Bytes written to `central`.
    central_len: u64,
    /// Entries added.
    entries: u64,
    /// The compressor, reset between entries.
    deflate: Compress,
    /// What each file is read into.
    read_buf: Box<[u8]>,
    /// What the compressor writes into.
    deflate_buf: Box<[u8]>,
    /// When zip64 fields take over.
    limits: Limits,
}

/// One entry's fields, as the two headers need them.
struct Entry<'a> {
    name: &'a [u8],
    method: u16,
    /// Sizes are in zip64 fields, in both headers.
    zip64_sizes: bool,
    /// Offset of the local header.
    offset: u64,
    crc: u32,
    compressed: u64,
    uncompressed: u64,
    mode: u32,
}

impl Entry<'_> {
    fn flags(&self) -> u16 {
        if self.name.is_ascii() { 0 } else { FLAG_UTF8 }
    }

    /// Whether the central record needs the zip64 field for the offset.
    fn zip64_offset(&self, limits: Limits) -> bool {
        self.offset >= limits.u32_sentinel
    }

    /// "Version needed to extract", the same in both headers.
    fn version(&self, limits: Limits) -> u16 {
        if self.zip64_sizes || self.zip64_offset(limits) {
            VERSION_ZIP64
        } else {
            VERSION_DEFLATE
        }
    }
}

impl ZipWriter {
    /// An archive written to `out` from its current position on, with `central` (an
    /// empty file, typically an unnamed temporary one beside the output) holding the
    /// central directory until [`ZipWriter::finish`].
    pub(crate) fn new(out: File, central: File) -> Result<ZipWriter, WriteError> {
        ZipWriter::with_limits(out, central, Limits::FORMAT)
    }

    fn with_limits(mut out: File, central: File, limits: Limits) -> Result<ZipWriter, WriteError> {
        let pos = out.stream_position()?;
        Ok(ZipWriter {
            out: BufWriter::with_capacity(WRITE_BUF, out),
            pos,
            central: BufWriter::with_capacity(WRITE_BUF, central),
            central_len: 0,
            entries: 0,
            deflate: Compress::new(Compression::new(DEFLATE_LEVEL), false),
            read_buf: vec![0; READ_BUF].into_boxed_slice(),
            deflate_buf: vec![0; DEFLATE_BUF].into_boxed_slice(),
            limits,
        })
    }

    /// Adds a directory entry: `name` ends with `/` (what readers go by: 4.4.17.1
    /// only says every separator is a forward slash), no data (4.3.8), stored.
    pub(crate) fn add_dir(&mut self, name: &str) -> Result<(), WriteError> {
        debug_assert!(name.ends_with('/'));
        let e = Entry {
            name: name.as_bytes(),
            method: METHOD_STORED,
            zip64_sizes: false,
            offset: self.pos,
            crc: 0,
            compressed: 0,
            uncompressed: 0,
            mode: MODE_DIR,
        };
        self.local_header(&e)?;
        self.central_record(&e)
    }

    /// Adds a file entry named `name` with the deflated bytes of `data`; `len` is
    /// the length the data is expected to have (the file's size), which decides
    /// whether the entry gets zip64 sizes. Returns the bytes read from `data`.
    pub(crate) fn add_file(
        &mut self,
        name: &str,
        len: u64,
        data: &mut dyn Read,
    ) -> Result<u64, WriteError> {
        let mut e = Entry {
            name: name.as_bytes(),
            method: METHOD_DEFLATED,
            zip64_sizes: needs_zip64_sizes(len, self.limits),
            offset: self.pos,
            crc: 0,
            compressed: 0,
            uncompressed: 0,
            mode: MODE_FILE,
        };
        self.local_header(&e)?;
        let data_start = self.pos;
        let mut crc = Crc::new();
        let mut read = 0u64;
        self.deflate.reset();
        loop {
            let n = read_full(data, &mut self.read_buf).map_err(WriteError::Read)?;
            crc.update(&self.read_buf[..n]);
            read += n as u64;
            self.compress(n, FlushCompress::None)?;
            if n < self.read_buf.len() {
                break;
            }
        }
        self.compress(0, FlushCompress::Finish)?;
        e.crc = crc.sum();
        e.uncompressed = read;
        e.compressed = self.pos - data_start;
        if !e.zip64_sizes
            && (e.uncompressed >= self.limits.u32_sentinel
                || e.compressed >= self.limits.u32_sentinel)
        {
            return Err(WriteError::Grew);
        }
        self.patch_local_header(&e)?;
        self.central_record(&e)?;
        Ok(e.uncompressed)
    }

    /// Compresses `read_buf[..n]` into the archive; with `Finish`, to the end of the
    /// deflate stream.
    fn compress(&mut self, n: usize, flush: FlushCompress) -> Result<(), WriteError> {
        let mut input = &self.read_buf[..n];
        loop {
            let (in_before, out_before) = (self.deflate.total_in(), self.deflate.total_out());
            let status = self
                .deflate
                .compress(input, &mut self.deflate_buf, flush)
                .map_err(|e| WriteError::Write(io::Error::other(e)))?;
            let consumed = usize::try_from(self.deflate.total_in() - in_before)
                .map_err(|e| WriteError::Write(io::Error::other(e)))?;
            let produced = usize::try_from(self.deflate.total_out() - out_before)
                .map_err(|e| WriteError::Write(io::Error::other(e)))?;
            input = &input[consumed..];
            self.out.write_all(&self.deflate_buf[..produced])?;
            self.pos += produced as u64;
            let room_left = produced < self.deflate_buf.len();
            match flush {
                FlushCompress::Finish if status == Status::StreamEnd => return Ok(()),
                // the compressor only stops short of a full buffer once it has taken
                // all the input (zlib's deflate() loop)
                FlushCompress::None if input.is_empty() && room_left => return Ok(()),
                _ if consumed == 0 && produced == 0 => {
                    return Err(WriteError::Write(io::Error::other(
                        "the compressor made no progress",
                    )));
                }
                _ => {}
            }
        }
    }

    /// Writes `e`'s local file header (4.3.7) at the current position; CRC and
    /// sizes are whatever `e` holds (zero until the data is written).
    fn local_header(&mut self, e: &Entry) -> Result<(), WriteError> {
        let name_len =
            u16::try_from(e.name.len()).map_err(|_| WriteError::NameTooLong(e.name.len()))?;
        let mut h = Vec::with_capacity(30 + e.name.len() + 20);
        put32(&mut h, LOCAL_SIG);
        put16(&mut h, e.version(self.limits));
        put16(&mut h, e.flags());
        put16(&mut h, e.method);
        put16(&mut h, DOS_TIME);
        put16(&mut h, DOS_DATE);
        put32(&mut h, e.crc);
        let (c, u) = local_sizes(e);
        put32(&mut h, c);
        put32(&mut h, u);
        put16(&mut h, name_len);
        // 4.5.3: in the local header, the zip64 field holds both sizes
        put16(&mut h, if e.zip64_sizes { 20 } else { 0 });
        h.extend_from_slice(e.name);
        if e.zip64_sizes {
            put16(&mut h, ZIP64_EXTRA_ID);
            put16(&mut h, 16);
            put64(&mut h, e.uncompressed);
            put64(&mut h, e.compressed);
        }
        self.out.write_all(&h)?;
        self.pos += h.len() as u64;
        Ok(())
    }

    /// Writes the CRC and sizes, known now that the data is written, into `e`'s
    /// local header.
    fn patch_local_header(&mut self, e: &Entry) -> Result<(), WriteError> {
        // what is still buffered must reach the file first, or it would land after
        // the patch and overwrite it
        self.out.flush()?;
        let f = self.out.get_ref();
        // 4.3.7: the CRC at offset 14, the two 32-bit sizes after it
        let mut fixed = Vec::with_capacity(12);
        put32(&mut fixed, e.crc);
        let (c, u) = local_sizes(e);
        put32(&mut fixed, c);
        put32(&mut fixed, u);
        f.write_all_at(&fixed, e.offset + 14)?;
        if e.zip64_sizes {
            // the zip64 field's values follow the name and the field's own 4-byte
            // header; uncompressed size first (4.5.3)
            let mut sizes = Vec::with_capacity(16);
            put64(&mut sizes, e.uncompressed);
            put64(&mut sizes, e.compressed);
            f.write_all_at(&sizes, e.offset + 30 + e.name.len() as u64 + 4)?;
        }
        Ok(())
    }

    /// Appends `e`'s central directory record (4.3.12) to the central directory file.
    fn central_record(&mut self, e: &Entry) -> Result<(), WriteError> {
        let offset64 = e.zip64_offset(self.limits);
        // 4.5.3: the zip64 field holds exactly the values whose header field is
        // 0xFFFFFFFF, in the order uncompressed size, compressed size, offset
        let mut extra = Vec::new();
        if e.zip64_sizes || offset64 {
            let mut values = Vec::with_capacity(24);
            if e.zip64_sizes {
                put64(&mut values, e.uncompressed);
                put64(&mut values, e.compressed);
            }
            if offset64 {
                put64(&mut values, e.offset);
            }
            put16(&mut extra, ZIP64_EXTRA_ID);
            put16(&mut extra, values.len() as u16);
            extra.extend_from_slice(&values);
        }
        let version = e.version(self.limits);
        let name_len =
            u16::try_from(e.name.len()).map_err(|_| WriteError::NameTooLong(e.name.len()))?;
        let mut h = Vec::with_capacity(46 + e.name.len() + extra.len());
        put32(&mut h, CENTRAL_SIG);
        put16(&mut h, MADE_BY_UNIX | version);
        put16(&mut h, version);
        put16(&mut h, e.flags());
        put16(&mut h, e.method);
        put16(&mut h, DOS_TIME);
        put16(&mut h, DOS_DATE);
        put32(&mut h, e.crc);
        let (c, u) = if e.zip64_sizes {
            (u32::MAX, u32::MAX)
        } else {
            (e.compressed as u32, e.uncompressed as u32)
        };
        put32(&mut h, c);
        put32(&mut h, u);
        put16(&mut h, name_len);
        put16(&mut h, extra.len() as u16);
        put16(&mut h, 0); // comment length
        put16(&mut h, 0); // disk number start
        put16(&mut h, 0); // internal attributes
        put32(&mut h, e.mode << 16);
        put32(&mut h, if offset64 { u32::MAX } else { e.offset as u32 });
        h.extend_from_slice(e.name);
        h.extend_from_slice(&extra);
        self.central.write_all(&h)?;
        self.central_len += h.len() as u64;
        self.entries += 1;
        Ok(())
    }

    /// Copies the central directory after the data, writes the end records and
    /// returns the archive, flushed (not synced).
    pub(crate) fn finish(mut self) -> Result<File, WriteError> {
        let l = self.limits;
        let mut central = self.central.into_inner().map_err(|e| e.into_error())?;
        central.rewind()?;
        let cd_start = self.pos;
        let copied = io::copy(&mut central, &mut self.out)?;
        if copied != self.central_len {
            return Err(WriteError::Write(io::Error::other(format!(
                "central directory: {copied} bytes copied of {}",
                self.central_len
            ))));
        }
        self.pos += copied;
        let cd_len = self.central_len;
        let zip64 = self.entries >= l.u16_sentinel
            || cd_len >= l.u32_sentinel
            || cd_start >= l.u32_sentinel;
        let mut h = Vec::with_capacity(56 + 20 + 22);
        if zip64 {
            let record = self.pos;
            // 4.3.14
            put32(&mut h, ZIP64_EOCD_SIG);
            put64(&mut h, 44); // size of the rest of this record (4.3.14.1)
            put16(&mut h, MADE_BY_UNIX | VERSION_ZIP64);
            put16(&mut h, VERSION_ZIP64);
            put32(&mut h, 0); // this disk
            put32(&mut h, 0); // disk where the central directory starts
            put64(&mut h, self.entries); // entries on this disk
            put64(&mut h, self.entries); // entries in all
            put64(&mut h, cd_len);
            put64(&mut h, cd_start);
            // 4.3.15
            put32(&mut h, ZIP64_LOCATOR_SIG);
            put32(&mut h, 0); // disk of the zip64 end record
            put64(&mut h, record);
            put32(&mut h, 1); // disks in all
        }
        // 4.3.16: a field too small for its value holds the sentinel (4.4.1.4); a
        // count of exactly 0xFFFF is written as zip64 too, since readers take the
        // sentinel as "look for the zip64 record"
        let entries16 = if self.entries >= l.u16_sentinel {
            u16::MAX
        } else {
            self.entries as u16
        };
        put32(&mut h, EOCD_SIG);
        put16(&mut h, 0); // this disk
        put16(&mut h, 0); // disk where the central directory starts
        put16(&mut h, entries16);
        put16(&mut h, entries16);
        put32(
            &mut h,
            if cd_len >= l.u32_sentinel {
                u32::MAX
            } else {
                cd_len as u32
            },
        );
        put32(
            &mut h,
            if cd_start >= l.u32_sentinel {
                u32::MAX
            } else {
                cd_start as u32
            },
        );
        put16(&mut h, 0); // comment length
        self.out.write_all(&h)?;
        self.pos += h.len() as u64;
        self.out
            .into_inner()
            .map_err(|e| WriteError::Write(e.into_error()))
    }
}

/// Reads into `buf` until it is full or `data` ends, and returns the bytes read.
///
/// The compressor is fed whole buffers: its output depends on where the input is
/// cut (zlib-rs at level 6 gives a byte or two more or less), so a short read (a
/// signal, a network file system) must not change the archive.
fn read_full(data: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match data.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// The 32-bit (compressed, uncompressed) size fields of a local header.
fn local_sizes(e: &Entry) -> (u32, u32) {
    if e.zip64_sizes {
        (u32::MAX, u32::MAX)
    } else {
        (e.compressed as u32, e.uncompressed as u32)
    }
}

// All numbers in a zip are little-endian (4.4.1.1).
fn put16(v: &mut Vec<u8>, x: u16) {
    v.extend_from_slice(&x.to_le_bytes());
}
fn put32(v: &mut Vec<u8>, x: u32) {
    v.extend_from_slice(&x.to_le_bytes());
}
fn put64(v: &mut Vec<u8>, x: u64) {
    v.extend_from_slice(&x.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;
    use std::process::Command;

    /// What Python's `zipfile` makes of an archive (`tests/py/zipcheck.py`).
    fn python_reads(zip: &Path) -> serde_json::Value {
        let out = Command::new("python3")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/zipcheck.py"))
            .arg(zip)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    fn unzip_tests_ok(zip: &Path) {
        let out = Command::new("unzip").arg("-tq").arg(zip).output().unwrap();
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn crc(b: &[u8]) -> u64 {
        let mut c = Crc::new();
        c.update(b);
        u64::from(c.sum())
    }

    /// Bytes that deflate cannot shrink (xorshift), so that they fill many
    /// compressor buffers.
    fn noise(n: usize) -> Vec<u8> {
        let mut x = 0x9E37_79B9_7F4A_7C15_u64;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    /// The entries the tests write: (name, data; `None` for a directory).
    fn sample() -> Vec<(&'static str, Option<Vec<u8>>)> {
        vec![
            ("manifest.jsonl", Some(b"{}\n".repeat(5000))),
            ("mail/", None),
            ("mail/Entw\u{fc}rfe/", None),
            (
                "mail/Entw\u{fc}rfe/1.eml",
                Some(b"Subject: \xc3\xbc\r\n\r\n".to_vec()),
            ),
            ("mail/empty/", None),
            ("mail/zero.eml", Some(Vec::new())),
            // more than one read buffer, and output that fills several deflate buffers
            ("mail/big.eml", Some(noise(READ_BUF * 2 + 12345))),
        ]
    }

    /// Writes `sample()` to `out` (from its current position) and returns it.
    fn write_sample(out: File, central: File, limits: Limits) -> File {
        let mut zw = ZipWriter::with_limits(out, central, limits).unwrap();
        for (name, data) in sample() {
            match data {
                None => zw.add_dir(name).unwrap(),
                Some(d) => {
                    let n = zw
                        .add_file(name, d.len() as u64, &mut d.as_slice())
                        .unwrap();
                    assert_eq!(n, d.len() as u64);
                }
            }
        }
        zw.finish().unwrap()
    }

    /// Python sees exactly `sample()`, every CRC checks, and zip64 fields are where
    /// `zip64` says.
    fn check_sample(zip: &Path, zip64: bool) {
        let r = python_reads(zip);
        assert_eq!(r["testzip"], serde_json::Value::Null, "{r}");
        let entries = r["entries"].as_array().unwrap();
        let want = sample();
        assert_eq!(entries.len(), want.len());
        for (e, (name, data)) in entries.iter().zip(&want) {
            assert_eq!(e["name"], *name, "{e}");
            let utf8 = if name.is_ascii() { 0 } else { FLAG_UTF8 };
            assert_eq!(e["flags"], utf8, "{e}");
            assert_eq!(e["zip64_extra"], zip64, "{e}");
            match data {
                None => {
                    assert_eq!(e["is_dir"], true, "{e}");
                    assert_eq!(e["mode"], MODE_DIR, "{e}");
                    assert_eq!(e["method"], METHOD_STORED, "{e}");
                    assert_eq!(e["size"], 0, "{e}");
                }
                Some(d) => {
                    assert_eq!(e["is_dir"], false, "{e}");
                    assert_eq!(e["mode"], MODE_FILE, "{e}");
                    assert_eq!(e["method"], METHOD_DEFLATED, "{e}");
                    assert_eq!(e["size"], d.len() as u64, "{e}");
                    assert_eq!(e["crc"], crc(d), "{e}");
                }
            }
        }
        unzip_tests_ok(zip);
    }

    /// Offset of the zip64 end of central directory record's signature, if any.
    fn zip64_eocd(zip: &[u8]) -> Option<usize> {
        zip.windows(4)
            .rposition(|w| w == ZIP64_EOCD_SIG.to_le_bytes())
    }

    #[test]
    fn small_archive_reads_back_without_zip64() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("a.zip");
        write_sample(
            File::create(&p).unwrap(),
            tempfile::tempfile_in(t.path()).unwrap(),
            Limits::FORMAT,
        );
        check_sample(&p, false);
        let bytes = fs_read(&p);
        assert!(zip64_eocd(&bytes).is_none());
        // the end record: 7 entries, no comment, at the very end (4.3.16)
        let eocd = &bytes[bytes.len() - 22..];
        assert_eq!(&eocd[..4], EOCD_SIG.to_le_bytes());
        assert_eq!(&eocd[8..12], [7, 0, 7, 0]);
    }

    #[test]
    fn zip64_fields_read_back() {
        // every size, offset and count past the (lowered) limits: each entry carries
        // the zip64 field, the archive the zip64 end records; readers must take the
        // values from there
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("a.zip");
        let all = Limits {
            u32_sentinel: 0,
            u16_sentinel: 0,
        };
        write_sample(
            File::create(&p).unwrap(),
            tempfile::tempfile_in(t.path()).unwrap(),
            all,
        );
        check_sample(&p, true);
        let bytes = fs_read(&p);
        assert!(zip64_eocd(&bytes).is_some());
        let eocd = &bytes[bytes.len() - 22..];
        assert_eq!(
            &eocd[8..20],
            [0xff; 12],
            "counts, size and offset are sentinels"
        );
    }

    #[test]
    fn data_past_4_gib_uses_zip64_offsets() {
        // the archive starts after a 4 GiB hole (sparse: no disk used), so every
        // local header offset and the central directory's offset need zip64, at the
        // format's own limits
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("a.zip");
        let mut f = File::create(&p).unwrap();
        let hole = U32_SENTINEL + 1;
        f.set_len(hole).unwrap();
        f.seek(io::SeekFrom::Start(hole)).unwrap();
        write_sample(f, tempfile::tempfile_in(t.path()).unwrap(), Limits::FORMAT);
        check_sample(&p, true);
        // the file ends with the zip64 end record (56 bytes), its locator (20) and the
        // classic end record (22), whose offset field is the sentinel
        let mut f = File::open(&p).unwrap();
        let mut tail = [0u8; 98];
        f.seek(io::SeekFrom::End(-98)).unwrap();
        f.read_exact(&mut tail).unwrap();
        assert_eq!(tail[..4], ZIP64_EOCD_SIG.to_le_bytes());
        assert_eq!(tail[56..60], ZIP64_LOCATOR_SIG.to_le_bytes());
        assert_eq!(tail[76..80], EOCD_SIG.to_le_bytes());
        assert_eq!(tail[76 + 16..76 + 20], [0xff; 4]);
    }

    #[test]
    fn zip64_sizes_from_just_under_4_gib() {
        let l = Limits::FORMAT;
        assert!(!needs_zip64_sizes(0, l));
        assert!(!needs_zip64_sizes(4_000_000_000, l));
        assert!(needs_zip64_sizes(U32_SENTINEL, l));
        assert!(
            needs_zip64_sizes(U32_SENTINEL - 1, l),
            "deflate may grow it"
        );
        assert!(needs_zip64_sizes(u64::MAX, l));
    }

    #[test]
    fn a_file_that_outgrows_its_header_is_an_error() {
        let t = tempfile::tempdir().unwrap();
        let small = Limits {
            u32_sentinel: 1000,
            u16_sentinel: U16_SENTINEL,
        };
        let mut zw = ZipWriter::with_limits(
            File::create(t.path().join("a.zip")).unwrap(),
            tempfile::tempfile_in(t.path()).unwrap(),
            small,
        )
        .unwrap();
        let data = noise(5000);
        let r = zw.add_file("a", 10, &mut data.as_slice());
        assert!(matches!(r, Err(WriteError::Grew)), "{r:?}");
    }

    fn fs_read(p: &Path) -> Vec<u8> {
        std::fs::read(p).unwrap()
    }
}
