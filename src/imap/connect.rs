//! Opening a connection: TCP, TLS (implicit or STARTTLS, RFC 8314 / RFC 3501 §6.2.1),
//! greeting, capabilities and authentication.
//!
//! TLS is rustls with certificate verification on by default: the system's roots, or
//! only the CA file the admin names (`--ca-file`, for a private CA or a self-signed test
//! server). Turning verification off takes an explicitly dangerous option and is
//! announced on stderr by the caller.

use std::fmt;
use std::io::{BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, ServerName, pem::PemObject};

use super::ImapError;
use super::client::Connection;

/// A password or token: never printed, never serialised.
#[derive(Clone, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(s: String) -> Self {
        Secret(s)
    }

    /// The secret itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// How the connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// TLS from the first byte (port 993).
    Tls,
    /// Plain connection upgraded with STARTTLS before login (port 143).
    StartTls,
    /// No TLS at all: the password crosses the network in the clear.
    PlainInsecure,
}

/// How to log in.
#[derive(Clone)]
pub enum Credentials {
    /// LOGIN or SASL PLAIN. With `authzid`, SASL PLAIN with an authorisation identity
    /// (RFC 4616): `login` is the admin, `authzid` the mailbox to open.
    Password {
        /// Authentication identity.
        login: String,
        /// Its password.
        password: Secret,
        /// Mailbox to act as, for admin (master user) logins.
        authzid: Option<String>,
    },
    /// SASL XOAUTH2 (Exchange Online, Gmail): a bearer token from a command the admin
    /// gives, run for every connection because tokens expire.
    OAuth2 {
        /// The mailbox's user name.
        user: String,
        /// Shell command that prints a fresh token.
        token_cmd: String,
    },
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::Password { login, authzid, .. } => f
                .debug_struct("Password")
                .field("login", login)
                .field("authzid", authzid)
                .finish_non_exhaustive(),
            Credentials::OAuth2 { user, .. } => f
                .debug_struct("OAuth2")
                .field("user", user)
                .finish_non_exhaustive(),
        }
    }
}

impl Credentials {
    /// The mailbox this login opens, for messages and journal keys.
    pub fn mailbox(&self) -> &str {
        match self {
            Credentials::Password {
                authzid: Some(z), ..
            } => z,
            Credentials::Password { login, .. } => login,
            Credentials::OAuth2 { user, .. } => user,
        }
    }
}

/// Where and how to connect.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Host name or address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// TLS mode.
    pub security: Security,
    /// Trust only this CA file (PEM) instead of the system roots.
    pub ca_file: Option<PathBuf>,
    /// Accept any certificate. Dangerous; only for a test server one controls.
    pub danger_accept_invalid_certs: bool,
    /// Read/write timeout on the socket.
    pub timeout: Duration,
    /// Login.
    pub credentials: Credentials,
}

impl ServerConfig {
    /// `host:port`, for messages and journal keys.
    pub fn address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// The byte stream under a connection.
pub(crate) enum Stream {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

impl Stream {
    /// Cuts the connection both ways at once, without a TLS close_notify: used when a
    /// literal cannot be completed, so that not one more byte of the command leaves.
    pub(crate) fn abort(&mut self) {
        let tcp = match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => &s.sock,
        };
        // already gone is as good as cut
        let _ = tcp.shutdown(std::net::Shutdown::Both);
    }
}

fn tls_config(cfg: &ServerConfig) -> Result<Arc<rustls::ClientConfig>, ImapError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let algorithms = provider.signature_verification_algorithms;
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| ImapError::Tls(e.to_string()))?;
    let verifier = if cfg.danger_accept_invalid_certs {
        CertVerifier {
            webpki: None,
            pinned: Vec::new(),
            algorithms,
        }
    } else {
        let mut roots = rustls::RootCertStore::empty();
        let mut pinned = Vec::new();
        match &cfg.ca_file {
            Some(path) => {
                for cert in read_pem_certs(path)? {
                    roots
                        .add(cert.clone())
                        .map_err(|e| ImapError::Tls(format!("{}: {e}", path.display())))?;
                    pinned.push(cert);
                }
            }
            None => {
                let found = rustls_native_certs::load_native_certs();
                for cert in found.certs {
                    // a broken system certificate is skipped, as every TLS client does
                    let _ = roots.add(cert);
                }
                if roots.is_empty() {
                    return Err(ImapError::Tls(
                        "no system CA certificates found (install ca-certificates, or give \
                         --ca-file)"
                            .into(),
                    ));
                }
            }
        }
        let webpki =
            rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| ImapError::Tls(e.to_string()))?;
        CertVerifier {
            webpki: Some(webpki),
            pinned,
            algorithms,
        }
    };
    let config = builder
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok(Arc::new(config))
}

fn read_pem_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, ImapError> {
    let bytes = std::fs::read(path)
        .map_err(|e| ImapError::Tls(format!("cannot read CA file {}: {e}", path.display())))?;
    let certs: Vec<_> = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<_, _>>()
        .map_err(|e| ImapError::Tls(format!("CA file {}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(ImapError::Tls(format!(
            "CA file {} holds no PEM certificate",
            path.display()
        )));
    }
    Ok(certs)
}

fn wrap_tls(cfg: &ServerConfig, tcp: TcpStream) -> Result<Stream, ImapError> {
    let config = tls_config(cfg)?;
    let name = ServerName::try_from(cfg.host.clone())
        .map_err(|e| ImapError::Tls(format!("{}: {e}", cfg.host)))?;
    let conn =
        rustls::ClientConnection::new(config, name).map_err(|e| ImapError::Tls(e.to_string()))?;
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    // Drive the handshake now so a certificate problem is reported as such, not as a
    // confusing failure of the first command.
    while tls.conn.is_handshaking() {
        tls.conn
            .complete_io(&mut tls.sock)
            .map_err(|e| tls_error(cfg, e))?;
    }
    Ok(Stream::Tls(Box::new(tls)))
}

fn tls_error(cfg: &ServerConfig, e: std::io::Error) -> ImapError {
    let hint = if e.to_string().contains("certificate") {
        if cfg.ca_file.is_some() {
            " (the certificate is not signed by the --ca-file CA, or is not for this host name)"
        } else {
            " (a self-signed or private-CA server needs --ca-file CA.pem)"
        }
    } else {
        ""
    };
    ImapError::Tls(format!(
        "TLS handshake with {} failed: {e}{hint}",
        cfg.address()
    ))
}

/// Connects, reads the greeting, sets up TLS as configured and logs in.
pub fn connect(cfg: &ServerConfig) -> Result<Connection, ImapError> {
    let addrs: Vec<_> = (cfg.host.as_str(), cfg.port)
        .to_socket_addrs()
        .map_err(|e| ImapError::Connect(format!("{}: {e}", cfg.address())))?
        .collect();
    let mut last = None;
    let mut tcp = None;
    for a in addrs {
        match TcpStream::connect_timeout(&a, cfg.timeout) {
            Ok(s) => {
                tcp = Some(s);
                break;
            }
            Err(e) => last = Some(e),
        }
    }
    let tcp = tcp.ok_or_else(|| {
        ImapError::Connect(format!(
            "{}: {}",
            cfg.address(),
            last.map_or("no address".to_owned(), |e| e.to_string())
        ))
    })?;
    tcp.set_read_timeout(Some(cfg.timeout)).ok();
    tcp.set_write_timeout(Some(cfg.timeout)).ok();
    tcp.set_nodelay(true).ok();

    let mut conn = match cfg.security {
        Security::Tls => Connection::new(wrap_tls(cfg, tcp)?),
        Security::StartTls | Security::PlainInsecure => Connection::new(Stream::Plain(tcp)),
    };
    let preauth = conn.greeting()?;
    if cfg.security == Security::StartTls {
        if !conn.has_capability("STARTTLS") {
            conn.refresh_capabilities()?;
        }
        if !conn.has_capability("STARTTLS") {
            return Err(ImapError::Tls(format!(
                "{} does not offer STARTTLS; use --tls (port 993), or --plain-insecure if you \
                 really mean to send the password in the clear",
                cfg.address()
            )));
        }
        conn.run_checked(b"STARTTLS")?;
        let tcp = conn.into_plain_tcp()?;
        conn = Connection::new(wrap_tls(cfg, tcp)?);
        conn.refresh_capabilities()?;
    }
    if !preauth {
        if conn.capabilities().is_empty() {
            conn.refresh_capabilities()?;
        }
        conn.authenticate(&cfg.credentials, &cfg.address())?;
    }
    // Capabilities may change after login (RFC 3501 §6.2.3); servers that sent them in
    // the tagged OK have updated them already.
    if !conn.caps_after_login() {
        conn.refresh_capabilities()?;
    }
    Ok(conn)
}

/// Base64 without line breaks, for SASL (RFC 4422 via RFC 3501 §6.2.2).
pub(crate) fn sasl_b64(data: &[u8]) -> Vec<u8> {
    let mut out = crate::mime::encoding::encode_base64(data);
    out.retain(|&c| c != b'\r' && c != b'\n');
    out
}

/// The SASL PLAIN message (RFC 4616): `authzid NUL authcid NUL password`.
pub(crate) fn sasl_plain(authzid: Option<&str>, login: &str, password: &str) -> Vec<u8> {
    let mut msg = Vec::new();
    msg.extend_from_slice(authzid.unwrap_or("").as_bytes());
    msg.push(0);
    msg.extend_from_slice(login.as_bytes());
    msg.push(0);
    msg.extend_from_slice(password.as_bytes());
    sasl_b64(&msg)
}

/// The SASL XOAUTH2 message: `user=U ^A auth=Bearer T ^A ^A`.
pub(crate) fn sasl_xoauth2(user: &str, token: &str) -> Vec<u8> {
    sasl_b64(format!("user={user}\x01auth=Bearer {token}\x01\x01").as_bytes())
}

/// Runs the admin's token command (through `sh -c`) and returns its first line.
pub(crate) fn fetch_token(cmd: &str) -> Result<Secret, ImapError> {
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| ImapError::Auth(format!("cannot run --oauth2-token-cmd: {e}")))?;
    if !out.status.success() {
        return Err(ImapError::Auth(format!(
            "--oauth2-token-cmd failed ({})",
            out.status
        )));
    }
    let text = String::from_utf8(out.stdout)
        .map_err(|_| ImapError::Auth("--oauth2-token-cmd printed non-UTF-8".into()))?;
    let token = text.lines().next().unwrap_or("").trim().to_owned();
    if token.is_empty() {
        return Err(ImapError::Auth(
            "--oauth2-token-cmd printed no token".into(),
        ));
    }
    Ok(Secret::new(token))
}

impl Connection {
    /// Hands back the TCP stream of a plain connection for the STARTTLS upgrade.
    fn into_plain_tcp(self) -> Result<TcpStream, ImapError> {
        match self.into_stream() {
            Stream::Plain(tcp) => Ok(tcp),
            Stream::Tls(_) => Err(ImapError::Protocol("STARTTLS on a TLS connection".into())),
        }
    }
}

/// Wraps a stream in the read buffer connections use.
pub(crate) fn buffered(s: Stream) -> BufReader<Stream> {
    BufReader::with_capacity(64 * 1024, s)
}

/// The server certificate check.
///
/// `webpki: Some`: the normal WebPKI check, plus: a server certificate that is
/// byte-for-byte one of the certificates in `--ca-file` is trusted. A self-signed
/// server certificate is its own CA (basic constraints CA:TRUE), which WebPKI refuses
/// as an end entity (`CaUsedAsEndEntity`); naming that exact certificate is pinning
/// it, which is at least as strong as a CA check.
///
/// `webpki: None`: `--danger-accept-invalid-certs`, any certificate. The handshake
/// signatures are still checked either way.
#[derive(Debug)]
struct CertVerifier {
    webpki: Option<Arc<rustls::client::WebPkiServerVerifier>>,
    pinned: Vec<CertificateDer<'static>>,
    algorithms: rustls::crypto::WebPkiSupportedAlgorithms,
}

impl rustls::client::danger::ServerCertVerifier for CertVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        let Some(webpki) = &self.webpki else {
            return Ok(rustls::client::danger::ServerCertVerified::assertion());
        };
        webpki
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            .or_else(|e| {
                if self
                    .pinned
                    .iter()
                    .any(|p| p.as_ref() == end_entity.as_ref())
                {
                    Ok(rustls::client::danger::ServerCertVerified::assertion())
                } else {
                    Err(e)
                }
            })
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sasl_plain_layout() {
        // RFC 4616 §4 example shape: authzid NUL authcid NUL password
        assert_eq!(
            sasl_plain(None, "tim", "tanstaaftanstaaf"),
            b"AHRpbQB0YW5zdGFhZnRhbnN0YWFm"
        );
        let with = sasl_plain(Some("alice"), "admin", "pw");
        let (raw, _) = crate::mime::encoding::decode_base64_lenient(&with);
        assert_eq!(raw, b"alice\0admin\0pw");
    }

    #[test]
    fn xoauth2_layout() {
        let (raw, _) = crate::mime::encoding::decode_base64_lenient(&sasl_xoauth2("a@b.c", "tok"));
        assert_eq!(raw, b"user=a@b.c\x01auth=Bearer tok\x01\x01");
    }

    #[test]
    fn secrets_do_not_print() {
        let c = Credentials::Password {
            login: "alice".into(),
            password: Secret::new("hunter2".into()),
            authzid: None,
        };
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
