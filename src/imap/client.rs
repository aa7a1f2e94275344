//! One IMAP connection: commands, pipelined APPENDs, and the few queries the
//! uploader, verifier and rollback need.
//!
//! Pipelining: [`Connection::append`] only writes; completions are collected with
//! [`Connection::next_completion`]. The caller bounds how many commands are in
//! flight. Small messages go as non-synchronizing literals (`{N+}`, RFC 7888
//! LITERAL+, or LITERAL- up to 4096 bytes) so no round trip is spent per message; big
//! ones as synchronizing literals, so that a server which refuses the size (Exchange:
//! `NO Maximum size of appendable message has been exceeded`) says so before we send
//! megabytes — what mbsync does too. A big message's literal can be streamed from its
//! file ([`Connection::append_streamed`]), a fixed chunk at a time, so that memory does
//! not grow with the largest message.
//!
//! A tagged response that arrives for another command while we wait (pipelining) is
//! queued, never dropped, so every command gets exactly one completion.

use std::collections::{HashSet, VecDeque};
use std::io::{BufReader, Read, Write};

use super::ImapError;
use super::connect::{Credentials, Stream, buffered, fetch_token, sasl_plain, sasl_xoauth2};
use super::proto::{self, Code, Response, Status, Value};

/// The outcome of one command.
#[derive(Debug, Clone)]
pub struct Completion {
    /// Its tag.
    pub tag: String,
    /// OK, NO or BAD.
    pub status: Status,
    /// Response code, if any (`APPENDUID`, `TRYCREATE`, …).
    pub code: Option<Code>,
    /// The server's words.
    pub text: String,
}

impl Completion {
    /// `NO text` / `BAD [CODE] text`, as the server said it, for reports.
    pub fn describe(&self) -> String {
        match &self.code {
            Some(c) if c.args.is_empty() => {
                format!("{} [{}] {}", self.status.as_str(), c.name, self.text)
            }
            Some(c) => format!(
                "{} [{} {}] {}",
                self.status.as_str(),
                c.name,
                c.args,
                self.text
            ),
            None => format!("{} {}", self.status.as_str(), self.text),
        }
    }

    /// `(uidvalidity, uids)` from an `[APPENDUID v uid-set]` code (RFC 4315 §3).
    pub fn append_uid(&self) -> Option<(u32, Vec<u32>)> {
        let c = self.code.as_ref()?;
        if c.name != "APPENDUID" {
            return None;
        }
        let mut it = c.args.split_ascii_whitespace();
        let validity = it.next()?.parse().ok()?;
        let uids = proto::uid_set(it.next()?, 100_000)?;
        Some((validity, uids))
    }

    /// Exchange's throttling answer: `NO Request is throttled. Suggested Backoff
    /// Time: N milliseconds` (EXCHANGE.md) — the suggested wait in milliseconds.
    pub fn throttle_ms(&self) -> Option<u64> {
        if self.status != Status::No {
            return None;
        }
        let lower = self.text.to_ascii_lowercase();
        if !lower.contains("throttled") {
            return None;
        }
        let after = lower.split("backoff time:").nth(1).unwrap_or("");
        let n: String = after
            .trim_start()
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        Some(n.parse().unwrap_or(1000).min(600_000))
    }
}

/// The result of a command run to completion.
#[derive(Debug)]
pub struct Done {
    /// Its completion.
    pub completion: Completion,
    /// The untagged responses that arrived while it ran.
    pub untagged: Vec<Response>,
}

/// One message of an APPEND (or of a MULTIAPPEND, RFC 3502).
#[derive(Debug, Clone, Copy)]
pub struct AppendItem<'a> {
    /// Flags and keywords to set.
    pub flags: &'a [String],
    /// INTERNALDATE in IMAP form (`"04-Jan-2010 09:15:02 +0100"`), without quotes.
    pub date: &'a str,
    /// The message bytes (CRLF line endings).
    pub data: &'a [u8],
}

/// Buffered output is written once it would exceed this many bytes.
const OUT_FLUSH: usize = 256 * 1024;
/// Room in the output buffer beyond [`OUT_FLUSH`] for the command text that follows
/// a literal (the next message's flags, date and `{N+}`), so that it never has to
/// grow (doubling) just for those few bytes.
const OUT_HEADROOM: usize = 16 * 1024;

/// Bytes of a streamed literal read and written at a time: the most of a message
/// that is ever held. rustls (0.23) takes at most 64 KiB of plaintext per write and
/// keeps at most that much ciphertext queued, so the TLS path holds no more either.
pub const LITERAL_CHUNK: usize = 128 * 1024;

/// Why a streamed literal could not be completed: its source yielded other bytes
/// than the `{N}` announced. The literal is then left unfinished on the wire (never
/// padded or cut short to a wrong length), and the connection cut.
#[derive(Debug, thiserror::Error)]
pub enum LiteralError {
    /// The source ended early.
    #[error("the message file ended after {got} of the {announced} bytes announced")]
    Short {
        /// The literal's announced length.
        announced: u64,
        /// Bytes the source yielded.
        got: u64,
    },
    /// The source has more bytes than announced.
    #[error("the message file holds more than the {announced} bytes announced")]
    Long {
        /// The literal's announced length.
        announced: u64,
    },
    /// Reading the source failed.
    #[error("cannot read the message file: {0}")]
    Read(std::io::Error),
}

/// Why [`copy_literal`] stopped.
#[derive(Debug)]
pub(crate) enum CopyError {
    /// The source is at fault; nothing of the last chunk was written.
    Source(LiteralError),
    /// Writing to the connection failed.
    Write(std::io::Error),
}

/// Reads into `buf` until it is full or `from` ends; the bytes read.
fn fill(from: &mut (impl Read + ?Sized), buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match from.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Copies exactly `len` bytes from `from` to `to`, `buf.len()` at a time, as the data
/// of a literal whose `{len}` is already announced (RFC 3501 §4.3 / RFC 9051 §4.3: the
/// server takes exactly that many octets as the message, whatever they are).
///
/// The last chunk is written only once `from` is known to end right there: a source
/// that is shorter or longer than `len` is detected while the literal still lacks
/// bytes, so the server can never take a wrong or truncated message as complete.
///
/// `sent` sees each chunk after it was written: work on it (the caller's hash) then
/// overlaps with the server reading it, instead of holding up the literal while the
/// server waits (a synchronizing literal's server has nothing else to do).
pub(crate) fn copy_literal(
    from: &mut (impl Read + ?Sized),
    to: &mut (impl Write + ?Sized),
    len: u64,
    buf: &mut [u8],
    sent: &mut (impl FnMut(&[u8]) + ?Sized),
) -> Result<(), CopyError> {
    if buf.is_empty() {
        return Err(CopyError::Write(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "literal copy buffer is empty",
        )));
    }
    let mut done = 0u64;
    loop {
        let want = usize::try_from(len - done).map_or(buf.len(), |r| r.min(buf.len()));
        let got =
            fill(from, &mut buf[..want]).map_err(|e| CopyError::Source(LiteralError::Read(e)))?;
        if got < want {
            return Err(CopyError::Source(LiteralError::Short {
                announced: len,
                got: done + got as u64,
            }));
        }
        if done + got as u64 == len {
            // the source must end here, before the literal's last bytes go out
            let mut probe = [0u8; 1];
            let extra =
                fill(from, &mut probe).map_err(|e| CopyError::Source(LiteralError::Read(e)))?;
            if extra > 0 {
                return Err(CopyError::Source(LiteralError::Long { announced: len }));
            }
            to.write_all(&buf[..got]).map_err(CopyError::Write)?;
            sent(&buf[..got]);
            return Ok(());
        }
        to.write_all(&buf[..got]).map_err(CopyError::Write)?;
        sent(&buf[..got]);
        done += got as u64;
    }
}

/// How an APPEND went out.
#[derive(Debug)]
pub enum Sent {
    /// Written; its completion comes from [`Connection::next_completion`].
    Tag(String),
    /// Refused before the literal was sent (synchronizing literal answered with a
    /// tagged NO/BAD instead of `+`).
    Refused(Completion),
}

/// The attributes of a mailbox from LIST.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListEntry {
    /// Attributes (`\HasNoChildren`, `\Sent`, `\Noselect`, …).
    pub attributes: Vec<String>,
    /// Hierarchy separator, if the server has one.
    pub separator: Option<u8>,
    /// The name as on the wire (modified UTF-7).
    pub name: Vec<u8>,
}

/// STATUS / SELECT numbers of a mailbox.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MailboxInfo {
    /// UIDVALIDITY.
    pub uidvalidity: u32,
    /// UIDNEXT (0 if the server did not say).
    pub uidnext: u32,
    /// Number of messages.
    pub messages: u32,
}

/// One message's metadata as FETCHed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FetchedMeta {
    /// Its UID.
    pub uid: u32,
    /// RFC822.SIZE.
    pub size: u64,
    /// INTERNALDATE as sent.
    pub internal_date: String,
    /// FLAGS.
    pub flags: Vec<String>,
    /// The `Message-ID` and `X-MS-Exchange-Parent-Message-Id` values (Exchange may
    /// rewrite the first and keep the original in the second), when fetched.
    pub message_ids: Vec<String>,
    /// The body, when it was fetched.
    pub body: Option<Vec<u8>>,
}

/// One response as the waiting loops see it.
enum Event {
    Done(Completion),
    Continue(String),
    Other(Response),
}

/// An open, logged-in (or not yet) IMAP connection.
pub struct Connection {
    io: BufReader<Stream>,
    out: Vec<u8>,
    next_tag: u64,
    caps: HashSet<String>,
    caps_after_login: bool,
    completions: VecDeque<Completion>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("caps", &self.caps)
            .finish_non_exhaustive()
    }
}

impl Connection {
    pub(crate) fn new(stream: Stream) -> Self {
        Connection {
            io: buffered(stream),
            out: Vec::with_capacity(OUT_FLUSH + OUT_HEADROOM),
            next_tag: 1,
            caps: HashSet::new(),
            caps_after_login: false,
            completions: VecDeque::new(),
        }
    }

    pub(crate) fn into_stream(self) -> Stream {
        self.io.into_inner()
    }

    pub(crate) fn caps_after_login(&self) -> bool {
        self.caps_after_login
    }

    /// Capabilities, upper-cased.
    pub fn capabilities(&self) -> &HashSet<String> {
        &self.caps
    }

    /// Whether the server announced `cap` (case-insensitive).
    pub fn has_capability(&self, cap: &str) -> bool {
        self.caps.contains(&cap.to_ascii_uppercase())
    }

    /// `APPENDLIMIT=N` (RFC 7889), if announced with a value.
    pub fn append_limit(&self) -> Option<u64> {
        self.caps
            .iter()
            .find_map(|c| c.strip_prefix("APPENDLIMIT=").and_then(|n| n.parse().ok()))
    }

    fn set_caps(&mut self, words: impl Iterator<Item = String>) {
        self.caps = words.map(|w| w.to_ascii_uppercase()).collect();
    }

    fn caps_from_code(&mut self, code: &Option<Code>) -> bool {
        if let Some(c) = code
            && c.name == "CAPABILITY"
        {
            self.set_caps(c.args.split_ascii_whitespace().map(str::to_owned));
            return true;
        }
        false
    }

    /// Reads the greeting; returns whether it was PREAUTH.
    pub(crate) fn greeting(&mut self) -> Result<bool, ImapError> {
        match self.read()? {
            Response::Condition { status, code, text } => {
                self.caps_from_code(&code);
                match status {
                    Status::Ok => Ok(false),
                    Status::Preauth => Ok(true),
                    _ => Err(ImapError::Protocol(format!(
                        "server refused the connection: {} {text}",
                        status.as_str()
                    ))),
                }
            }
            other => Err(ImapError::Protocol(format!(
                "unexpected greeting: {other:?}"
            ))),
        }
    }

    /// Asks for CAPABILITY again.
    pub fn refresh_capabilities(&mut self) -> Result<(), ImapError> {
        let done = self.run_checked(b"CAPABILITY")?;
        for r in &done.untagged {
            if let Response::Untagged(v) = r
                && v.first().and_then(Value::atom) == Some("CAPABILITY")
            {
                let words: Vec<String> = v[1..]
                    .iter()
                    .filter_map(|x| x.atom().map(str::to_owned))
                    .collect();
                self.set_caps(words.into_iter());
            }
        }
        Ok(())
    }

    fn read(&mut self) -> Result<Response, ImapError> {
        let raw = proto::read_response(&mut self.io)?;
        Ok(proto::parse(&raw))
    }

    fn tag(&mut self) -> String {
        let t = format!("m{}", self.next_tag);
        self.next_tag += 1;
        t
    }

    /// Writes buffered output to the socket.
    pub fn flush(&mut self) -> Result<(), ImapError> {
        if !self.out.is_empty() {
            let s = self.io.get_mut();
            s.write_all(&self.out)?;
            s.flush()?;
            self.out.clear();
        }
        Ok(())
    }

    /// Runs one command (without literals) to completion.
    pub fn run(&mut self, cmd: &[u8]) -> Result<Done, ImapError> {
        let mut untagged = Vec::new();
        let completion = self.run_each(cmd, |r| untagged.push(r))?;
        Ok(Done {
            completion,
            untagged,
        })
    }

    /// Like [`Connection::run`], but a NO or BAD is an error carrying the server's words.
    pub fn run_checked(&mut self, cmd: &[u8]) -> Result<Done, ImapError> {
        let done = self.run(cmd)?;
        checked(cmd, &done.completion)?;
        Ok(done)
    }

    /// [`Connection::run`], handing each untagged response to `on_untagged` as it
    /// arrives instead of collecting them.
    fn run_each(
        &mut self,
        cmd: &[u8],
        on_untagged: impl FnMut(Response),
    ) -> Result<Completion, ImapError> {
        let tag = self.tag();
        self.out.extend_from_slice(tag.as_bytes());
        self.out.push(b' ');
        self.out.extend_from_slice(cmd);
        self.out.extend_from_slice(b"\r\n");
        self.flush()?;
        self.wait_for_each(
            &tag,
            |_, text| {
                Err(ImapError::Protocol(format!(
                    "unexpected continuation request: + {text}"
                )))
            },
            on_untagged,
        )
    }

    /// One response, sorted: a completion, a continuation request, or anything else.
    /// `BYE` is an error: the connection is going away.
    fn next_event(&mut self) -> Result<Event, ImapError> {
        Ok(match self.read()? {
            Response::Tagged {
                tag,
                status,
                code,
                text,
            } => Event::Done(Completion {
                tag,
                status,
                code,
                text,
            }),
            Response::Condition {
                status: Status::Bye,
                text,
                ..
            } => return Err(ImapError::Bye(text)),
            Response::Continue(text) => Event::Continue(text),
            other => Event::Other(other),
        })
    }

    /// Reads until `tag` completes, collecting untagged responses and queueing other
    /// commands' completions; `on_continue` answers a `+`.
    fn wait_for_with(
        &mut self,
        tag: &str,
        on_continue: impl FnMut(&mut Self, String) -> Result<(), ImapError>,
    ) -> Result<Done, ImapError> {
        let mut untagged = Vec::new();
        let completion = self.wait_for_each(tag, on_continue, |r| untagged.push(r))?;
        Ok(Done {
            completion,
            untagged,
        })
    }

    /// Reads until `tag` completes, handing each untagged response to `on_untagged` as
    /// it arrives and queueing other commands' completions; `on_continue` answers a
    /// `+`. Lets a big answer (a FETCH of a whole folder) be reduced to what the caller
    /// keeps while it is read, instead of holding every response's tokens at once.
    fn wait_for_each(
        &mut self,
        tag: &str,
        mut on_continue: impl FnMut(&mut Self, String) -> Result<(), ImapError>,
        mut on_untagged: impl FnMut(Response),
    ) -> Result<Completion, ImapError> {
        loop {
            match self.next_event()? {
                Event::Done(c) if c.tag == tag => {
                    if self.caps_from_code(&c.code) {
                        self.caps_after_login = true;
                    }
                    return Ok(c);
                }
                Event::Done(c) => self.completions.push_back(c),
                Event::Continue(text) => on_continue(self, text)?,
                Event::Other(r) => on_untagged(r),
            }
        }
    }

    /// Waits for the next completion of a pipelined command.
    pub fn next_completion(&mut self) -> Result<Completion, ImapError> {
        if let Some(c) = self.completions.pop_front() {
            return Ok(c);
        }
        self.flush()?;
        loop {
            match self.next_event()? {
                Event::Done(c) => return Ok(c),
                Event::Continue(text) => {
                    return Err(ImapError::Protocol(format!(
                        "unexpected continuation request: + {text}"
                    )));
                }
                Event::Other(_) => {}
            }
        }
    }

    /// Whether a literal of `len` bytes may be sent without waiting (RFC 7888).
    pub fn can_nonsync(&self, len: usize) -> bool {
        self.has_capability("LITERAL+") || (self.has_capability("LITERAL-") && len <= 4096)
    }

    /// Sends an APPEND of one or more messages (more than one needs MULTIAPPEND, RFC
    /// 3502) to `mailbox` (the wire name, modified UTF-7). With `nonsync` every literal
    /// is `{N+}` and nothing is awaited; otherwise each literal waits for `+`.
    pub fn append(
        &mut self,
        mailbox: &[u8],
        items: &[AppendItem<'_>],
        nonsync: bool,
    ) -> Result<Sent, ImapError> {
        let tag = self.append_start(mailbox);
        for item in items {
            self.append_message_head(item.flags, item.date, item.data.len() as u64);
            if nonsync {
                self.out.extend_from_slice(b"+}\r\n");
                if self.out.len() + item.data.len() > OUT_FLUSH {
                    // A MULTIAPPEND group can be a megabyte: rather than grow the
                    // buffer to hold it, what is buffered goes out first and then the
                    // literal from the caller's bytes (the same bytes in the same order).
                    self.flush()?;
                    self.io.get_mut().write_all(item.data)?;
                } else {
                    self.out.extend_from_slice(item.data);
                }
            } else {
                self.out.extend_from_slice(b"}\r\n");
                self.flush()?;
                if let Some(refused) = self.await_continuation(&tag)? {
                    return Ok(Sent::Refused(refused));
                }
                // Big literals go straight to the socket, not through our buffer.
                self.io.get_mut().write_all(item.data)?;
            }
        }
        self.out.extend_from_slice(b"\r\n");
        // Keep the buffer bounded: flush once it holds a few hundred KB.
        if self.out.len() >= OUT_FLUSH || !nonsync {
            self.flush()?;
        }
        Ok(Sent::Tag(tag))
    }

    /// `tag APPEND mailbox` into the output buffer; the new tag.
    fn append_start(&mut self, mailbox: &[u8]) -> String {
        let tag = self.tag();
        self.out.extend_from_slice(tag.as_bytes());
        self.out.extend_from_slice(b" APPEND ");
        self.out.extend_from_slice(&mailbox_arg(mailbox));
        tag
    }

    /// ` (flags) "date" {len` of one message into the output buffer: the literal's
    /// closing `}` or `+}` is the caller's.
    fn append_message_head(&mut self, flags: &[String], date: &str, len: u64) {
        self.out.push(b' ');
        self.out.push(b'(');
        for (i, f) in flags.iter().enumerate() {
            if i > 0 {
                self.out.push(b' ');
            }
            self.out.extend_from_slice(f.as_bytes());
        }
        self.out.extend_from_slice(b") \"");
        self.out.extend_from_slice(date.as_bytes());
        self.out.extend_from_slice(b"\" {");
        self.out.extend_from_slice(len.to_string().as_bytes());
    }

    /// Sends an APPEND of one message of `len` bytes read from `data` while it is
    /// sent, [`LITERAL_CHUNK`] at a time, so that no message is ever held whole;
    /// `sent` is called with each chunk once it was written, so that what it sees in
    /// all is exactly the literal (when this returns [`Sent::Tag`]).
    ///
    /// Always a synchronizing literal (RFC 3501 §7.5 / RFC 9051 §7.5): the server can
    /// refuse the size with a tagged NO instead of `+` before any byte is read. The
    /// caller has checked `len` against the file (fstat) before it is announced. If
    /// `data` yields fewer or more than `len` bytes (the file changed underneath), the
    /// literal cannot be finished correctly and a command cannot be taken back
    /// mid-literal: the connection is cut with the literal incomplete (the server
    /// discards it) and [`ImapError::LiteralSource`] returned; this connection is
    /// unusable then, and earlier pipelined commands on it are of unknown outcome, as
    /// after any connection loss.
    pub fn append_streamed(
        &mut self,
        mailbox: &[u8],
        flags: &[String],
        date: &str,
        len: u64,
        data: &mut dyn Read,
        sent: &mut dyn FnMut(&[u8]),
    ) -> Result<Sent, ImapError> {
        let tag = self.append_start(mailbox);
        self.append_message_head(flags, date, len);
        self.out.extend_from_slice(b"}\r\n");
        self.flush()?;
        if let Some(refused) = self.await_continuation(&tag)? {
            return Ok(Sent::Refused(refused));
        }
        let mut buf =
            vec![0u8; usize::try_from(len).map_or(LITERAL_CHUNK, |l| l.clamp(1, LITERAL_CHUNK))];
        match copy_literal(data, self.io.get_mut(), len, &mut buf, sent) {
            Ok(()) => {}
            Err(CopyError::Write(e)) => return Err(e.into()),
            Err(CopyError::Source(e)) => {
                self.io.get_mut().abort();
                return Err(ImapError::LiteralSource(e));
            }
        }
        drop(buf);
        self.out.extend_from_slice(b"\r\n");
        self.flush()?;
        Ok(Sent::Tag(tag))
    }

    /// Reads until the `+` for `tag`'s literal, queueing other completions; a tagged
    /// answer for `tag` itself means the server refused the command.
    fn await_continuation(&mut self, tag: &str) -> Result<Option<Completion>, ImapError> {
        loop {
            match self.next_event()? {
                Event::Continue(_) => return Ok(None),
                Event::Done(c) if c.tag == tag => return Ok(Some(c)),
                Event::Done(c) => self.completions.push_back(c),
                Event::Other(_) => {}
            }
        }
    }

    /// Logs in with `creds` (`address` only for error messages).
    pub(crate) fn authenticate(
        &mut self,
        creds: &Credentials,
        address: &str,
    ) -> Result<(), ImapError> {
        let done = match creds {
            Credentials::Password {
                login,
                password,
                authzid,
            } => {
                if authzid.is_some() || self.has_capability("AUTH=PLAIN") {
                    if !self.has_capability("AUTH=PLAIN") {
                        return Err(ImapError::Auth(format!(
                            "{address} offers no SASL PLAIN, which an admin login with an \
                             authorisation identity needs; on Exchange use the \
                             domain\\admin\\mailbox form as --login instead of --admin-login"
                        )));
                    }
                    let msg = sasl_plain(authzid.as_deref(), login, password.expose());
                    self.sasl(b"PLAIN", &msg)?
                } else if self.has_capability("LOGINDISABLED") {
                    return Err(ImapError::Auth(format!(
                        "{address} refuses LOGIN on this connection (LOGINDISABLED); use \
                         --tls or --starttls"
                    )));
                } else {
                    let mut cmd = b"LOGIN ".to_vec();
                    let user = proto::quote(login.as_bytes());
                    let pass = proto::quote(password.expose().as_bytes());
                    match (user, pass) {
                        (Some(u), Some(p)) => {
                            cmd.extend_from_slice(&u);
                            cmd.push(b' ');
                            cmd.extend_from_slice(&p);
                            self.run(&cmd)?
                        }
                        _ => {
                            return Err(ImapError::Auth(
                                "the login or password holds characters LOGIN cannot carry \
                                 and the server offers no AUTH=PLAIN"
                                    .into(),
                            ));
                        }
                    }
                }
            }
            Credentials::OAuth2 { user, token_cmd } => {
                if !self.has_capability("AUTH=XOAUTH2") {
                    return Err(ImapError::Auth(format!(
                        "{address} does not offer AUTH=XOAUTH2"
                    )));
                }
                let token = fetch_token(token_cmd)?;
                let msg = sasl_xoauth2(user, token.expose());
                self.sasl(b"XOAUTH2", &msg)?
            }
        };
        if done.completion.status != Status::Ok {
            return Err(ImapError::Auth(auth_hint(creds, address, &done.completion)));
        }
        Ok(())
    }

    /// `AUTHENTICATE mech` with one initial response (inline with SASL-IR, RFC 4959,
    /// or after the first `+`). An error challenge (XOAUTH2 sends one) is answered with
    /// an empty line so that the server completes the command with its NO.
    fn sasl(&mut self, mech: &[u8], initial: &[u8]) -> Result<Done, ImapError> {
        let tag = self.tag();
        self.out.extend_from_slice(tag.as_bytes());
        self.out.extend_from_slice(b" AUTHENTICATE ");
        self.out.extend_from_slice(mech);
        let mut sent_initial = false;
        if self.has_capability("SASL-IR") {
            self.out.push(b' ');
            self.out
                .extend_from_slice(if initial.is_empty() { b"=" } else { initial });
            sent_initial = true;
        }
        self.out.extend_from_slice(b"\r\n");
        self.flush()?;
        self.wait_for_with(&tag, |conn, _challenge| {
            if !sent_initial {
                conn.out.extend_from_slice(initial);
                sent_initial = true;
            }
            conn.out.extend_from_slice(b"\r\n");
            conn.flush()
        })
    }

    /// `LIST "" "*"`: every mailbox with its attributes (RFC 3501 §6.3.8; special-use
    /// attributes per RFC 6154 come in the same list on Dovecot and Exchange).
    pub fn list_all(&mut self) -> Result<Vec<ListEntry>, ImapError> {
        self.list_cmd(b"LIST \"\" \"*\"", "LIST")
    }

    /// The hierarchy separator, from `LIST "" ""` (RFC 3501 §6.3.8); `None` for a
    /// flat server.
    pub fn hierarchy_separator(&mut self) -> Result<Option<u8>, ImapError> {
        Ok(self
            .list_cmd(b"LIST \"\" \"\"", "LIST")?
            .into_iter()
            .find_map(|e| e.separator))
    }

    /// `LSUB "" "*"`: subscribed mailboxes.
    pub fn lsub_all(&mut self) -> Result<Vec<ListEntry>, ImapError> {
        self.list_cmd(b"LSUB \"\" \"*\"", "LSUB")
    }

    fn list_cmd(&mut self, cmd: &[u8], word: &str) -> Result<Vec<ListEntry>, ImapError> {
        let done = self.run_checked(cmd)?;
        let mut out = Vec::new();
        for r in done.untagged {
            let Response::Untagged(v) = r else { continue };
            if v.first()
                .and_then(Value::atom)
                .map(str::to_ascii_uppercase)
                .as_deref()
                != Some(word)
                || v.len() < 4
            {
                continue;
            }
            let separator = match &v[2] {
                Value::Str(s) if s.len() == 1 => Some(s[0]),
                Value::Atom(a) if a.len() == 1 => Some(a.as_bytes()[0]),
                _ => None,
            };
            let Some(name) = v[3].bytes() else { continue };
            out.push(ListEntry {
                attributes: proto::flag_list(&v[1]),
                separator,
                name: name.to_vec(),
            });
        }
        Ok(out)
    }

    /// `CREATE mailbox`; the completion is returned so the caller can report a NO.
    pub fn create(&mut self, mailbox: &[u8]) -> Result<Completion, ImapError> {
        let mut cmd = b"CREATE ".to_vec();
        cmd.extend_from_slice(&mailbox_arg(mailbox));
        Ok(self.run(&cmd)?.completion)
    }

    /// `SUBSCRIBE mailbox` (a NO is ignored by callers that only care to try).
    pub fn subscribe(&mut self, mailbox: &[u8]) -> Result<Completion, ImapError> {
        let mut cmd = b"SUBSCRIBE ".to_vec();
        cmd.extend_from_slice(&mailbox_arg(mailbox));
        Ok(self.run(&cmd)?.completion)
    }

    /// `STATUS mailbox (UIDVALIDITY UIDNEXT MESSAGES)`.
    pub fn status(&mut self, mailbox: &[u8]) -> Result<MailboxInfo, ImapError> {
        let mut cmd = b"STATUS ".to_vec();
        cmd.extend_from_slice(&mailbox_arg(mailbox));
        cmd.extend_from_slice(b" (UIDVALIDITY UIDNEXT MESSAGES)");
        let done = self.run_checked(&cmd)?;
        let mut info = MailboxInfo::default();
        for r in &done.untagged {
            let Response::Untagged(v) = r else { continue };
            if v.first()
                .and_then(Value::atom)
                .map(str::to_ascii_uppercase)
                .as_deref()
                != Some("STATUS")
            {
                continue;
            }
            let items = v.get(2).and_then(Value::list).unwrap_or_default();
            for pair in items.chunks(2) {
                if let [k, val] = pair {
                    let n = val.number().unwrap_or(0) as u32;
                    match k.atom().map(str::to_ascii_uppercase).as_deref() {
                        Some("UIDVALIDITY") => info.uidvalidity = n,
                        Some("UIDNEXT") => info.uidnext = n,
                        Some("MESSAGES") => info.messages = n,
                        _ => {}
                    }
                }
            }
        }
        Ok(info)
    }

    /// `SELECT` (or `EXAMINE` when `read_only`) and the numbers it reports.
    pub fn select(&mut self, mailbox: &[u8], read_only: bool) -> Result<MailboxInfo, ImapError> {
        let mut cmd = if read_only {
            b"EXAMINE ".to_vec()
        } else {
            b"SELECT ".to_vec()
        };
        cmd.extend_from_slice(&mailbox_arg(mailbox));
        let done = self.run_checked(&cmd)?;
        let mut info = MailboxInfo::default();
        let mut take = |code: &Option<Code>| {
            if let Some(c) = code {
                let n = c.args.trim().parse().unwrap_or(0);
                match c.name.as_str() {
                    "UIDVALIDITY" => info.uidvalidity = n,
                    "UIDNEXT" => info.uidnext = n,
                    _ => {}
                }
            }
        };
        take(&done.completion.code);
        for r in &done.untagged {
            match r {
                Response::Condition { code, .. } => take(code),
                Response::Untagged(v)
                    if v.get(1)
                        .and_then(Value::atom)
                        .map(str::to_ascii_uppercase)
                        .as_deref()
                        == Some("EXISTS") =>
                {
                    info.messages = v[0].number().unwrap_or(0) as u32;
                }
                _ => {}
            }
        }
        Ok(info)
    }

    /// `UID SEARCH criteria` → UIDs.
    pub fn uid_search(&mut self, criteria: &[u8]) -> Result<Vec<u32>, ImapError> {
        let mut cmd = b"UID SEARCH ".to_vec();
        cmd.extend_from_slice(criteria);
        let done = self.run_checked(&cmd)?;
        let mut out = Vec::new();
        for r in &done.untagged {
            let Response::Untagged(v) = r else { continue };
            if v.first()
                .and_then(Value::atom)
                .map(str::to_ascii_uppercase)
                .as_deref()
                == Some("SEARCH")
            {
                out.extend(v[1..].iter().filter_map(|x| x.number()).map(|n| n as u32));
            }
        }
        Ok(out)
    }

    /// `UID FETCH set (UID RFC822.SIZE INTERNALDATE FLAGS [Message-ID] [BODY])`.
    ///
    /// Message-ID comes from `BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]` and the body from
    /// `BODY.PEEK[]`, so nothing is marked read.
    pub fn uid_fetch_meta(
        &mut self,
        set: &str,
        message_id: bool,
        body: bool,
    ) -> Result<Vec<FetchedMeta>, ImapError> {
        let mut out = Vec::new();
        self.uid_fetch_meta_each(set, message_id, body, |m| out.push(m))?;
        Ok(out)
    }

    /// [`Connection::uid_fetch_meta`], handing each message to `each` as its response
    /// arrives instead of collecting them: `verify` and `rollback` keep a folder of
    /// tens of thousands of messages in a compact form of their own, and a `Vec` of
    /// every `FetchedMeta` first would be the largest thing they hold.
    pub fn uid_fetch_meta_each(
        &mut self,
        set: &str,
        message_id: bool,
        body: bool,
        mut each: impl FnMut(FetchedMeta),
    ) -> Result<(), ImapError> {
        let mut cmd = format!("UID FETCH {set} (UID RFC822.SIZE INTERNALDATE FLAGS");
        if message_id {
            cmd.push_str(" BODY.PEEK[HEADER.FIELDS (MESSAGE-ID X-MS-EXCHANGE-PARENT-MESSAGE-ID)]");
        }
        if body {
            cmd.push_str(" BODY.PEEK[]");
        }
        cmd.push(')');
        // Each FETCH response is reduced to its FetchedMeta as it arrives: for a folder
        // of tens of thousands of messages, holding every response's tokens until the
        // end took more memory than everything else verify and rollback keep.
        let completion = self.run_each(cmd.as_bytes(), |r| {
            if let Some(m) = fetched_meta(r) {
                each(m);
            }
        })?;
        checked(cmd.as_bytes(), &completion)
    }

    /// `UID STORE set +FLAGS.SILENT (flags)` (or `-FLAGS.SILENT` when `remove`).
    pub fn uid_store(&mut self, set: &str, flags: &[&str], remove: bool) -> Result<(), ImapError> {
        let cmd = format!(
            "UID STORE {set} {}FLAGS.SILENT ({})",
            if remove { "-" } else { "+" },
            flags.join(" ")
        );
        self.run_checked(cmd.as_bytes()).map(|_| ())
    }

    /// `LOGOUT`, ignoring errors: the connection is going away anyway.
    pub fn logout(mut self) {
        let _ = self.run(b"LOGOUT");
    }
}

/// A NO or BAD answer to `cmd` as an error carrying the server's words.
fn checked(cmd: &[u8], c: &Completion) -> Result<(), ImapError> {
    if c.status != Status::Ok {
        return Err(ImapError::Command {
            command: command_name(cmd),
            answer: c.describe(),
        });
    }
    Ok(())
}

/// The message data of one untagged `FETCH` response (RFC 3501 §7.4.2); `None` for
/// any other response or one without a UID.
fn fetched_meta(r: Response) -> Option<FetchedMeta> {
    let Response::Untagged(v) = r else {
        return None;
    };
    if v.get(1)
        .and_then(Value::atom)
        .map(str::to_ascii_uppercase)
        .as_deref()
        != Some("FETCH")
    {
        return None;
    }
    let items = v.get(2).and_then(Value::list)?;
    let mut m = FetchedMeta::default();
    for pair in items.chunks(2) {
        let [k, val] = pair else { continue };
        let key = k.atom().map(str::to_ascii_uppercase).unwrap_or_default();
        match key.as_str() {
            "UID" => m.uid = val.number().unwrap_or(0) as u32,
            "RFC822.SIZE" => m.size = val.number().unwrap_or(0),
            "INTERNALDATE" => {
                m.internal_date =
                    String::from_utf8_lossy(val.bytes().unwrap_or_default()).into_owned()
            }
            "FLAGS" => m.flags = proto::flag_list(val),
            k if k.starts_with("BODY[HEADER.FIELDS") => {
                let h = val.bytes().unwrap_or_default();
                m.message_ids = [&b"message-id"[..], b"x-ms-exchange-parent-message-id"]
                    .iter()
                    .filter_map(|name| header_value(h, name))
                    .collect();
            }
            "BODY[]" => m.body = val.bytes().map(<[u8]>::to_vec),
            _ => {}
        }
    }
    (m.uid != 0).then_some(m)
}

/// The mailbox argument: quoted when possible, else a literal is never needed because
/// names on the wire are modified UTF-7 (7-bit). Any other byte is a caller bug, sent
/// quoted with the byte replaced so the command stays well-formed.
pub fn mailbox_arg(name: &[u8]) -> Vec<u8> {
    proto::quote(name).unwrap_or_else(|| {
        let clean: Vec<u8> = name
            .iter()
            .map(|&c| if !(0x20..0x80).contains(&c) { b'_' } else { c })
            .collect();
        proto::quote(&clean).unwrap_or_else(|| b"\"\"".to_vec())
    })
}

/// The value of header `name` (lower-case) in a header block, unfolded and trimmed.
fn header_value(block: &[u8], name: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(block);
    let mut value: Option<String> = None;
    for line in text.split("\r\n").flat_map(|l| l.split('\n')) {
        if let Some(v) = value.as_mut() {
            if line.starts_with([' ', '\t']) {
                v.push(' ');
                v.push_str(line.trim());
                continue;
            }
            break;
        }
        if let Some((k, v)) = line.split_once(':')
            && k.trim().as_bytes().eq_ignore_ascii_case(name)
        {
            value = Some(v.trim().to_owned());
        }
    }
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

fn command_name(cmd: &[u8]) -> String {
    String::from_utf8_lossy(cmd.split(|&c| c == b' ').next().unwrap_or(b"?")).into_owned()
}

fn auth_hint(creds: &Credentials, address: &str, c: &Completion) -> String {
    let who = creds.mailbox();
    let mut msg = format!("login as {who} on {address} refused: {}", c.describe());
    match creds {
        Credentials::Password {
            authzid: Some(_),
            login,
            ..
        } => msg.push_str(&format!(
            " — check the admin password for {login} and that {login} may open {who} \
             (Exchange: FullAccess; Dovecot: a master user)"
        )),
        Credentials::Password { .. } => msg.push_str(
            " — most likely a wrong user name or password; on Exchange Online basic \
             authentication is off (use --oauth2-token-cmd)",
        ),
        Credentials::OAuth2 { .. } => {
            msg.push_str(" — the token may be expired or lack the IMAP.AccessAsUser.All scope")
        }
    }
    msg
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn completion(status: Status, code: Option<(&str, &str)>, text: &str) -> Completion {
        Completion {
            tag: "m1".into(),
            status,
            code: code.map(|(n, a)| Code {
                name: n.into(),
                args: a.into(),
            }),
            text: text.into(),
        }
    }

    #[test]
    fn appenduid_is_read() {
        let c = completion(Status::Ok, Some(("APPENDUID", "38505 3955")), "done");
        assert_eq!(c.append_uid(), Some((38505, vec![3955])));
        let c = completion(Status::Ok, Some(("APPENDUID", "7 3:5")), "done");
        assert_eq!(c.append_uid(), Some((7, vec![3, 4, 5])));
        assert_eq!(completion(Status::Ok, None, "x").append_uid(), None);
    }

    #[test]
    fn throttle_is_recognised() {
        let c = completion(
            Status::No,
            None,
            "Request is throttled. Suggested Backoff Time: 250 milliseconds",
        );
        assert_eq!(c.throttle_ms(), Some(250));
        assert_eq!(
            completion(Status::No, None, "Message contains NUL characters").throttle_ms(),
            None
        );
    }

    /// A writer that keeps every `write` call's length.
    #[derive(Default)]
    struct Recorder {
        data: Vec<u8>,
        writes: Vec<usize>,
    }

    impl Write for Recorder {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.writes.push(buf.len());
            self.data.extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// A reader that hands out at most `step` bytes per call, like a file or a pipe
    /// may, with an `Interrupted` now and then.
    struct Dribble<'a> {
        data: &'a [u8],
        step: usize,
        calls: usize,
    }

    impl Read for Dribble<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.calls += 1;
            if self.calls.is_multiple_of(5) {
                return Err(std::io::ErrorKind::Interrupted.into());
            }
            let n = self.data.len().min(buf.len()).min(self.step);
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    fn pattern(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 % 251) as u8).collect()
    }

    #[test]
    fn literal_is_copied_exactly_in_fixed_chunks() {
        for (len, chunk, step) in [
            (0, 16, 3),
            (1, 16, 1),
            (1000, 64, 7),
            (1024, 64, 64),
            (1025, 64, 1000),
        ] {
            let data = pattern(len);
            let mut from = Dribble {
                data: &data,
                step,
                calls: 0,
            };
            let mut to = Recorder::default();
            let mut buf = vec![0u8; chunk];
            let mut seen = Vec::new();
            assert!(
                copy_literal(
                    &mut from,
                    &mut to,
                    len as u64,
                    &mut buf,
                    &mut |c: &[u8]| seen.extend_from_slice(c)
                )
                .is_ok()
            );
            assert_eq!(to.data, data, "len {len} chunk {chunk} step {step}");
            assert_eq!(seen, data, "the callback sees what was written");
            assert!(to.writes.iter().all(|&w| w <= chunk), "{:?}", to.writes);
            // no write smaller than a chunk but the last: fill() gathers short reads
            if let Some((_, full)) = to.writes.split_last() {
                assert!(full.iter().all(|&w| w == chunk), "{:?}", to.writes);
            }
        }
    }

    #[test]
    fn short_or_long_source_never_completes_the_literal() {
        let data = pattern(1000);
        // shorter than announced: at most the full chunks before the end go out
        let mut to = Recorder::default();
        let r = copy_literal(
            &mut &data[..],
            &mut to,
            1200,
            &mut [0u8; 64],
            &mut |_: &[u8]| {},
        );
        match r {
            Err(CopyError::Source(LiteralError::Short {
                announced: 1200,
                got: 1000,
            })) => {}
            other => panic!("{other:?}"),
        }
        assert!(to.data.len() < 1000 && data.starts_with(&to.data));
        // longer than announced: the last chunk is held back
        let mut to = Recorder::default();
        let r = copy_literal(
            &mut &data[..],
            &mut to,
            640,
            &mut [0u8; 64],
            &mut |_: &[u8]| {},
        );
        assert!(
            matches!(
                r,
                Err(CopyError::Source(LiteralError::Long { announced: 640 }))
            ),
            "{r:?}"
        );
        assert_eq!(to.data.len(), 640 - 64);
        // exactly a chunk long and one byte more: nothing at all goes out
        let mut to = Recorder::default();
        let r = copy_literal(
            &mut &data[..65],
            &mut to,
            64,
            &mut [0u8; 64],
            &mut |_: &[u8]| {},
        );
        assert!(
            matches!(r, Err(CopyError::Source(LiteralError::Long { .. }))),
            "{r:?}"
        );
        assert!(to.data.is_empty());
    }

    #[test]
    fn source_read_error_and_write_error_are_told_apart() {
        struct Broken;
        impl Read for Broken {
            fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
                Err(std::io::Error::other("EIO"))
            }
        }
        let r = copy_literal(
            &mut Broken,
            &mut Recorder::default(),
            10,
            &mut [0u8; 4],
            &mut |_: &[u8]| {},
        );
        assert!(
            matches!(r, Err(CopyError::Source(LiteralError::Read(_)))),
            "{r:?}"
        );
        struct Full;
        impl Write for Full {
            fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
                Err(std::io::ErrorKind::BrokenPipe.into())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let data = pattern(10);
        let r = copy_literal(
            &mut &data[..],
            &mut Full,
            10,
            &mut [0u8; 4],
            &mut |_: &[u8]| {},
        );
        assert!(matches!(r, Err(CopyError::Write(_))), "{r:?}");
    }

    /// A one-command IMAP server on 127.0.0.1: reads the APPEND line, answers
    /// `answer` to it, then (after `+`) reads the literal and the final CRLF and
    /// answers OK; returns everything the client sent.
    fn fake_server(answer: &'static str) -> (u16, std::thread::JoinHandle<Vec<u8>>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let h = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut got = Vec::new();
            let mut byte = [0u8; 1];
            while !got.ends_with(b"}\r\n") {
                if s.read(&mut byte).unwrap() == 0 {
                    return got;
                }
                got.push(byte[0]);
            }
            s.write_all(answer.as_bytes()).unwrap();
            if !answer.starts_with('+') {
                return got;
            }
            let line = String::from_utf8_lossy(&got).into_owned();
            let n: usize = line
                .rsplit('{')
                .next()
                .and_then(|t| t.trim_end_matches("}\r\n").parse().ok())
                .unwrap();
            let mut rest = vec![0u8; 64 * 1024];
            let start = got.len();
            while got.len() < start + n + 2 {
                match s.read(&mut rest) {
                    Ok(0) | Err(_) => return got,
                    Ok(k) => got.extend_from_slice(&rest[..k]),
                }
            }
            s.write_all(b"m1 OK [APPENDUID 9 4] done\r\n").unwrap();
            got
        });
        (port, h)
    }

    fn client(port: u16) -> Connection {
        let tcp = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        Connection::new(Stream::Plain(tcp))
    }

    const DATE: &str = "04-Jan-2010 09:15:02 +0100";

    #[test]
    fn streamed_append_sends_exactly_the_synchronizing_literal() {
        let data = pattern(3 * LITERAL_CHUNK + 17);
        let (port, server) = fake_server("+ go\r\n");
        let mut conn = client(port);
        let flags = vec!["\\Seen".to_owned()];
        let mut src = &data[..];
        let mut seen = Vec::new();
        let sent = conn
            .append_streamed(
                b"INBOX",
                &flags,
                DATE,
                data.len() as u64,
                &mut src,
                &mut |c| seen.extend_from_slice(c),
            )
            .unwrap();
        assert!(matches!(&sent, Sent::Tag(t) if t == "m1"), "{sent:?}");
        let c = conn.next_completion().unwrap();
        assert_eq!(c.append_uid(), Some((9, vec![4])));
        let mut want = format!(
            "m1 APPEND \"INBOX\" (\\Seen) \"{DATE}\" {{{}}}\r\n",
            data.len()
        )
        .into_bytes();
        want.extend_from_slice(&data);
        want.extend_from_slice(b"\r\n");
        assert!(server.join().unwrap() == want, "wire differs");
        assert!(seen == data, "the callback saw other bytes");
    }

    #[test]
    fn streamed_append_refused_before_the_literal_reads_nothing() {
        let (port, server) = fake_server("m1 NO [TOOBIG] Maximum size exceeded\r\n");
        let mut conn = client(port);
        let data = pattern(1000);
        let mut src = Dribble {
            data: &data,
            step: 1000,
            calls: 0,
        };
        match conn
            .append_streamed(b"INBOX", &[], DATE, 1000, &mut src, &mut |_| {})
            .unwrap()
        {
            Sent::Refused(c) => assert_eq!(c.status, Status::No),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            src.calls, 0,
            "the file was read although the server refused"
        );
        server.join().unwrap();
    }

    #[test]
    fn streamed_append_from_a_shrunk_file_cuts_the_connection_mid_literal() {
        let (port, server) = fake_server("+ go\r\n");
        let mut conn = client(port);
        // announced 2 chunks and a bit, the source has one chunk and a bit
        let data = pattern(LITERAL_CHUNK + 100);
        let announced = 2 * LITERAL_CHUNK as u64 + 100;
        let mut src = &data[..];
        let e = conn
            .append_streamed(b"INBOX", &[], DATE, announced, &mut src, &mut |_| {})
            .unwrap_err();
        assert!(
            matches!(e, ImapError::LiteralSource(LiteralError::Short { .. })),
            "{e}"
        );
        assert!(e.is_connection_lost());
        let got = server.join().unwrap();
        let head = got.iter().position(|&b| b == b'\n').unwrap() + 1;
        assert!(
            (got.len() - head) < announced as usize,
            "the server got a complete literal"
        );
        // nothing more can go out on it
        assert!(conn.run(b"NOOP").is_err());
    }

    #[test]
    fn header_values() {
        assert_eq!(
            header_value(b"Message-ID:\r\n <a@b>\r\n\r\n", b"message-id").as_deref(),
            Some("<a@b>")
        );
        assert_eq!(header_value(b"\r\n", b"message-id"), None);
    }
}
