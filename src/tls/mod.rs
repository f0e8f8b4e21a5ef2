//! TLS for `wss://`: trust store, host name, SNI, and WinCC's
//! "ignoreSslErrors" and "sslConfig", plus "caCertificates", "pinnedSha256",
//! "crlFile", "ocspStapling", "tlsMinVersion" and "tlsMaxVersion". The
//! handshake is driven on a non-blocking socket under the connection
//! deadline, and no application data is sent on a connection before it is
//! accepted here.
//!
//! Two backends, chosen at build time:
//! - `openssl_backend` (Linux and other Unix but Apple: the default): OpenSSL
//!   driven directly, the whole policy decided in the one handshake by a
//!   verify callback that sees every problem of the chain. Every option and
//!   every class works.
//! - `native_backend` (Windows and macOS, or the cargo feature
//!   `native-tls-backend` on Linux): native-tls, the platform's TLS
//!   library, with only the switches it has: verify everything, ignore
//!   HostNameMismatch, or ignore everything; pins are compared after the
//!   handshake. Other classes, "crlFile" and "ocspStapling" are options
//!   errors there.
//!
//! Here: the options (shared by both), the summary kept for readback after
//! open, and the description of TLS failures.
#![deny(unsafe_code)]

pub(crate) mod config;
pub(crate) mod identity;
#[cfg(all(unix, not(target_vendor = "apple"), not(feature = "native-tls-backend")))]
mod ocsp;
mod verify;

#[cfg(all(unix, not(target_vendor = "apple"), not(feature = "native-tls-backend")))]
#[path = "openssl_backend.rs"]
mod backend;

#[cfg(any(not(unix), target_vendor = "apple", feature = "native-tls-backend"))]
#[path = "native_backend.rs"]
mod backend;

use crate::error::{Code, Error, Result};
use crate::options::{Options, Target};
pub use backend::{pending, Stream, StreamOver};
use config::{Crls, Ignore, Ocsp, TlsVersion};
use identity::ClientIdentity;
use once_cell::sync::OnceCell;
use openssl::x509::X509;
use std::fmt;
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Instant;
pub use verify::Class;

/// TLS settings from the `ws_open` options (documented on `ws_open`).
#[derive(Clone, Debug, Default)]
pub struct TlsOptions {
    /// "ignoreSslErrors".
    pub ignore: Ignore,
    /// "sslConfig": client certificate and key.
    pub identity: Option<ClientIdentity>,
    /// "caCertificates" and "caCertificatesFile".
    pub cas: Vec<X509>,
    /// "caCertificatesOnly": trust `cas` and not the system store.
    pub ca_only: bool,
    /// "pinnedSha256": certificate or public key SHA-256 digests.
    pub pins: Vec<[u8; 32]>,
    /// "tlsMinVersion" (default TLS 1.2) and "tlsMaxVersion".
    pub min_version: Option<TlsVersion>,
    pub max_version: Option<TlsVersion>,
    /// "crlFile".
    pub crls: Crls,
    /// "ocspStapling".
    pub ocsp: Ocsp,
    /// The backend's context, built on first use and shared by the copies
    /// of these options (reconnects of the same socket): building it loads
    /// the system trust store.
    cache: Arc<Cache>,
}

#[derive(Default)]
struct Cache {
    ctx: OnceCell<backend::Ctx>,
}

impl fmt::Debug for Cache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Cache")
    }
}

impl TlsOptions {
    /// Nothing set that the backend's context depends on: the process-wide
    /// one serves (the policy is per connection).
    fn is_plain(&self) -> bool {
        self.identity.is_none()
            && self.cas.is_empty()
            && !self.ca_only
            && self.min_version.is_none()
            && self.max_version.is_none()
            && self.crls.files.is_empty()
    }
}

/// What a TLS connection negotiated and whom it is with, kept with the
/// upgrade response for readback after open (`ws_get_tls_info`).
#[derive(Clone, Debug, Default)]
pub struct TlsSummary {
    /// "TLSv1.3"; "" when the backend cannot tell.
    pub version: String,
    /// OpenSSL's name of the cipher suite, "TLS_AES_256_GCM_SHA384"; "" when
    /// the backend cannot tell.
    pub cipher: String,
    /// SHA-256 of the server's certificate (DER) and of its public key.
    pub cert_sha256: Option<[u8; 32]>,
    pub spki_sha256: Option<[u8; 32]>,
    /// "CN=device, O=Plant".
    pub subject: String,
    pub issuer: String,
    /// The classes "ignoreSslErrors" let through on this connection, in the
    /// order they were found.
    pub ignored: Vec<Class>,
}

impl TlsSummary {
    /// "AB:CD:..." or "".
    pub fn hex(d: &Option<[u8; 32]>) -> String {
        d.as_ref().map(|b| verify::hex_colons(b)).unwrap_or_default()
    }

    /// "HostNameMismatch,CertificateExpired" or "".
    pub fn ignored_names(&self) -> String {
        self.ignored.iter().map(|c| c.name()).collect::<Vec<_>>().join(",")
    }
}

/// Parses one TLS key of the options mapping. None: not a TLS key. Err: a
/// description of what is wrong with the value (the caller adds the key).
pub fn parse_option(
    key: &str,
    value: &serde_json::Value,
    tls: &mut TlsOptions,
) -> Option<std::result::Result<(), String>> {
    let r = match key {
        "ignoreSslErrors" => config::parse_ignore(value).map(|i| tls.ignore = i),
        "sslConfig" => identity::parse_ssl_config(value).map(|i| tls.identity = i),
        "caCertificates" => config::parse_cas(value, false, key).map(|c| tls.cas.extend(c)),
        "caCertificatesFile" => config::parse_cas(value, true, key).map(|c| tls.cas.extend(c)),
        "caCertificatesOnly" => {
            value.as_bool().map(|b| tls.ca_only = b).ok_or_else(|| format!("must be true or false, got {value}"))
        }
        "pinnedSha256" => config::parse_pins(value).map(|p| tls.pins = p),
        "tlsMinVersion" => config::parse_version(value).map(|v| tls.min_version = Some(v)),
        "tlsMaxVersion" => config::parse_version(value).map(|v| tls.max_version = Some(v)),
        "crlFile" => config::parse_crl_files(value).map(|c| tls.crls = c),
        "ocspStapling" => config::parse_ocsp(value).map(|o| tls.ocsp = o),
        _ => return None,
    };
    Some(r)
}

/// Checks the TLS keys against each other once all are parsed.
pub fn finish(tls: &TlsOptions) -> std::result::Result<(), String> {
    if tls.ca_only && tls.cas.is_empty() {
        return Err("\"caCertificatesOnly\": true needs \"caCertificates\" or \"caCertificatesFile\"".into());
    }
    let revocation = !tls.crls.files.is_empty() || tls.ocsp != Ocsp::Off;
    if !tls.pins.is_empty() {
        let other = if tls.ignore != Ignore::Nothing {
            Some("ignoreSslErrors")
        } else if !tls.cas.is_empty() || tls.ca_only {
            Some("caCertificates")
        } else if !tls.crls.files.is_empty() {
            Some("crlFile")
        } else if tls.ocsp != Ocsp::Off {
            Some("ocspStapling")
        } else {
            None
        };
        if let Some(k) = other {
            return Err(format!(
                "\"pinnedSha256\" replaces certificate verification: it cannot be combined with \"{k}\""
            ));
        }
    }
    if revocation && tls.ignore == Ignore::Everything {
        return Err("\"ignoreSslErrors\": true turns off all verification, revocation checks (\"crlFile\", \
                    \"ocspStapling\") included: name the classes to ignore instead"
            .into());
    }
    if let (Some(min), Some(max)) = (tls.min_version, tls.max_version) {
        if min > max {
            return Err(format!("\"tlsMinVersion\" {} is above \"tlsMaxVersion\" {}", min.name(), max.name()));
        }
    }
    backend::check_supported(tls)
}

/// Runs the TLS handshake for `target` on `tcp` (non-blocking) before
/// `deadline`; on success the stream and what was negotiated.
pub fn handshake(
    tcp: TcpStream,
    target: &Target,
    opts: &Options,
    deadline: Option<Instant>,
) -> Result<(Stream, TlsSummary)> {
    backend::handshake(tcp, target, &opts.tls, deadline)
}

/// The TLS handshake over any stream with its own settings: TLS to an
/// https:// proxy (the "proxy..." keys, on TCP), and TLS to the server
/// inside that TLS.
pub fn handshake_over<S: std::io::Read + std::io::Write + std::os::fd::AsRawFd>(
    s: S,
    target: &Target,
    tls: &TlsOptions,
    deadline: Option<Instant>,
) -> Result<(StreamOver<S>, TlsSummary)> {
    backend::handshake(s, target, tls, deadline)
}

fn setup_err(e: impl fmt::Display) -> Error {
    Error::new(Code::Tls, format!("TLS set-up: {e}"))
}

/// A TLS error met on an established session while the connection is set
/// up (a TLS 1.3 server refuses a client certificate, or its absence, only
/// after the handshake, with an alert): WS_E_TLS with OpenSSL's reason and a
/// hint. None for other I/O errors.
pub fn post_handshake_error(stage: &str, e: &std::io::Error, opts: &Options) -> Option<Error> {
    let ssl = e.get_ref()?.downcast_ref::<openssl::ssl::Error>()?;
    Some(Error::new(Code::Tls, format!("{stage}: TLS: {}", describe_ssl_error(ssl, opts.tls.identity.is_some()))))
}

/// After a write on a new TLS connection failed (reset, broken pipe), the
/// server's reason may still be waiting to be read: a TLS 1.3 server that
/// refuses the client certificate (or its absence) sends an alert right
/// after the handshake and closes. Returns that alert, if there is one, as
/// the error to report, else `e`.
pub fn pending_alert(t: &mut crate::transport::Transport, e: std::io::Error) -> std::io::Error {
    use std::io::Read;
    if let crate::transport::Transport::Tls(s) = t {
        let mut buf = [0u8; 256];
        if let Err(r) = s.read(&mut buf) {
            if r.get_ref().is_some_and(|i| i.is::<openssl::ssl::Error>()) {
                return r;
            }
        }
    }
    e
}

/// OpenSSL's library number for the SSL routines (ERR_LIB_SSL).
const ERR_LIB_SSL: i32 = 20;
/// SSL_R_* reason codes (sslerr.h); an alert received from the server is
/// 1000 + its number (SSL_AD_REASON_OFFSET).
const R_HTTPS_PROXY_REQUEST: i32 = 155;
const R_HTTP_REQUEST: i32 = 156;
const R_NO_PROTOCOLS_AVAILABLE: i32 = 191;
const R_PACKET_LENGTH_TOO_LONG: i32 = 198;
const R_UNSUPPORTED_PROTOCOL: i32 = 258;
const R_WRONG_VERSION_NUMBER: i32 = 267;
const R_UNEXPECTED_EOF_WHILE_READING: i32 = 294;
const ALERT: i32 = 1000;
const ALERT_HANDSHAKE_FAILURE: i32 = ALERT + 40;
const ALERT_BAD_CERTIFICATE: i32 = ALERT + 42;
const ALERT_CERTIFICATE_UNKNOWN: i32 = ALERT + 46;
const ALERT_UNKNOWN_CA: i32 = ALERT + 48;
const ALERT_ACCESS_DENIED: i32 = ALERT + 49;
const ALERT_PROTOCOL_VERSION: i32 = ALERT + 70;
const ALERT_CERTIFICATE_REQUIRED: i32 = ALERT + 116;

/// OpenSSL's reasons of a failed handshake or TLS read/write ("wrong
/// version number"), with a hint chosen by reason code; an I/O error as
/// strerror would say it.
pub fn describe_ssl_error(e: &openssl::ssl::Error, have_identity: bool) -> String {
    describe_failure(e.ssl_error(), e.io_error(), have_identity, true)
}

/// As `describe_ssl_error`, from OpenSSL's error stack and/or the I/O error;
/// `answered`: whether the server answered the handshake at all (false: it
/// closed the connection before its ServerHello).
fn describe_failure(
    stack: Option<&openssl::error::ErrorStack>,
    io: Option<&std::io::Error>,
    have_identity: bool,
    answered: bool,
) -> String {
    let mut reasons: Vec<&str> = Vec::new();
    let mut codes: Vec<i32> = Vec::new();
    for x in stack.map(|s| s.errors()).unwrap_or_default() {
        if let Some(r) = x.reason().filter(|r| !r.is_empty()) {
            if !reasons.contains(&r) {
                reasons.push(r);
            }
        }
        if x.library_code() == ERR_LIB_SSL {
            codes.push(x.reason_code());
        }
    }
    let (text, closed) = if !reasons.is_empty() {
        (reasons.join("; "), false)
    } else if let Some(io) = io {
        (crate::error::describe_io(io), false)
    } else {
        // SSL_ERROR_SYSCALL without errno, or SSL_ERROR_ZERO_RETURN.
        ("connection closed by the server".to_string(), true)
    };
    match hint(&codes, io.map(|e| e.kind()), closed, have_identity, answered) {
        Some(h) => format!("{text} ({h})"),
        None => text,
    }
}

fn hint(
    codes: &[i32],
    io: Option<std::io::ErrorKind>,
    closed: bool,
    have_identity: bool,
    answered: bool,
) -> Option<&'static str> {
    use std::io::ErrorKind as K;
    let has = |c: &[i32]| codes.iter().any(|x| c.contains(x));
    Some(if has(&[R_WRONG_VERSION_NUMBER, R_PACKET_LENGTH_TOO_LONG, R_HTTP_REQUEST, R_HTTPS_PROXY_REQUEST]) {
        "the server did not answer with TLS: is this a plain ws:// port?"
    } else if has(&[ALERT_PROTOCOL_VERSION, R_UNSUPPORTED_PROTOCOL, R_NO_PROTOCOLS_AVAILABLE]) {
        "no TLS version in common with the server; see \"tlsMinVersion\" and \"tlsMaxVersion\""
    } else if has(&[ALERT_CERTIFICATE_REQUIRED]) {
        "the server requires a client certificate: see \"sslConfig\""
    } else if has(&[ALERT_BAD_CERTIFICATE, ALERT_UNKNOWN_CA, ALERT_CERTIFICATE_UNKNOWN, ALERT_ACCESS_DENIED]) {
        if have_identity {
            "the server rejected the client certificate of \"sslConfig\""
        } else {
            "the server wants a client certificate: see \"sslConfig\""
        }
    } else if has(&[ALERT_HANDSHAKE_FAILURE]) {
        "the server refused the handshake: no cipher or key type in common, or it requires a client certificate"
    } else if has(&[R_UNEXPECTED_EOF_WHILE_READING])
        || closed
        || matches!(io, Some(K::ConnectionReset | K::UnexpectedEof | K::BrokenPipe | K::ConnectionAborted))
    {
        if answered {
            "the server closed the connection during the TLS handshake"
        } else {
            "the server closed the connection without answering the TLS handshake: is this a plain ws:// port?"
        }
    } else {
        return None;
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_by_code() {
        let h = |c: &[i32]| hint(c, None, false, false, true);
        assert_eq!(
            h(&[R_WRONG_VERSION_NUMBER]),
            Some("the server did not answer with TLS: is this a plain ws:// port?")
        );
        assert!(h(&[ALERT_CERTIFICATE_REQUIRED]).unwrap().contains("requires a client certificate"));
        assert!(h(&[ALERT_PROTOCOL_VERSION]).unwrap().contains("tlsMaxVersion"));
        assert!(hint(&[ALERT_UNKNOWN_CA], None, false, true, true)
            .unwrap()
            .contains("rejected the client certificate"));
        assert_eq!(h(&[]), None);
        let reset = Some(std::io::ErrorKind::ConnectionReset);
        assert!(hint(&[], reset, false, false, true).unwrap().contains("closed the connection during"));
        assert!(hint(&[], reset, false, false, false).unwrap().contains("without answering the TLS handshake"));
    }

    /// The reason codes are those of the linked OpenSSL: each one's text.
    #[test]
    fn reason_codes_match_the_linked_openssl() {
        for (code, text) in [
            (R_WRONG_VERSION_NUMBER, "wrong version number"),
            (R_PACKET_LENGTH_TOO_LONG, "packet length too long"),
            (R_UNSUPPORTED_PROTOCOL, "unsupported protocol"),
            (R_NO_PROTOCOLS_AVAILABLE, "no protocols available"),
            (ALERT_CERTIFICATE_REQUIRED, "alert certificate required"),
            (ALERT_PROTOCOL_VERSION, "alert protocol version"),
            (ALERT_UNKNOWN_CA, "alert unknown ca"),
        ] {
            let packed = ((ERR_LIB_SSL as u64) << 23) | code as u64;
            let out = std::process::Command::new("openssl").arg("errstr").arg(format!("{packed:X}")).output();
            let Ok(out) = out else { return }; // no openssl command: nothing to compare with
            let s = String::from_utf8_lossy(&out.stdout);
            assert!(s.contains(text), "{code}: {s}");
        }
    }

    #[test]
    fn cross_checks() {
        let mut t = TlsOptions { ca_only: true, ..Default::default() };
        assert!(finish(&t).unwrap_err().contains("caCertificatesOnly"));
        t.ca_only = false;
        t.pins = vec![[0; 32]];
        t.ignore = Ignore::Everything;
        assert!(finish(&t).unwrap_err().contains("pinnedSha256"));
        t.ignore = Ignore::Nothing;
        assert!(finish(&t).is_ok());
        t.ocsp = Ocsp::Check;
        assert!(finish(&t).unwrap_err().contains("\"ocspStapling\""));
        t.pins.clear();
        t.ignore = Ignore::Everything;
        assert!(finish(&t).unwrap_err().contains("revocation"));
        t.ignore = Ignore::Nothing;
        t.min_version = Some(TlsVersion::V13);
        t.max_version = Some(TlsVersion::V12);
        assert!(finish(&t).unwrap_err().contains("above"));
    }
}
