//! The portable TLS backend: native-tls (SChannel on Windows, Secure
//! Transport on macOS, OpenSSL elsewhere), for platforms where the library
//! does not drive OpenSSL itself; on Linux with the cargo feature
//! `native-tls-backend`.
//!
//! native-tls has two verification switches (accept invalid certificates,
//! accept invalid host names) and shows only the server's certificate, so
//! only the policies they express are offered: verify everything,
//! "ignoreSslErrors": ["HostNameMismatch"], or ignore everything; pins are
//! compared with the certificate right after the handshake, before any
//! application byte (not combinable with a client certificate, which would
//! be sent first). Other classes, "crlFile" and "ocspStapling" are options
//! errors (`check_supported`). A refused certificate is WS_E_TLS_VERIFY
//! without a class: native-tls does not say which problem it was.
#![deny(unsafe_code)]

use super::config::{Ignore, Ocsp, TlsVersion};
use super::verify::{self, Class};
use super::{describe_failure, setup_err, TlsOptions, TlsSummary};
use crate::error::{Code, Error, Result};
use crate::options::Target;
use crate::sys;
use native_tls::{HandshakeError, Protocol, TlsConnector, TlsStream};
use once_cell::sync::OnceCell;
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

pub type Stream = TlsStream<TcpStream>;
/// TLS over any byte stream (TLS to the server inside TLS to an https://
/// proxy).
pub type StreamOver<S> = TlsStream<S>;

/// Decrypted bytes the TLS library holds that the kernel no longer reports.
pub fn pending<S: std::io::Read + std::io::Write>(s: &StreamOver<S>) -> usize {
    s.buffered_read_size().unwrap_or(0)
}

/// What `TlsOptions` caches: the connector built from its settings (the
/// verification switches included).
pub type Ctx = TlsConnector;

/// native-tls does not say whether the TLS library wants to read or to
/// write, so a handshake step waits for input at most this long.
const HANDSHAKE_SLICE: Duration = Duration::from_millis(50);

/// OpenSSL's "certificate verify failed" (SSL_R_CERTIFICATE_VERIFY_FAILED).
const R_CERTIFICATE_VERIFY_FAILED: i32 = 134;

/// The options native-tls cannot honour, as an options error.
pub fn check_supported(t: &TlsOptions) -> std::result::Result<(), String> {
    const WHY: &str = "with the native-tls TLS backend of this build";
    if let Ignore::Classes(c) = &t.ignore {
        if c.iter().any(|c| *c != Class::HostNameMismatch) {
            return Err(format!(
                "\"ignoreSslErrors\" {}: {WHY} it can only be true (ignore everything) or [\"HostNameMismatch\"]",
                t.ignore.list()
            ));
        }
    }
    if !t.crls.files.is_empty() {
        return Err(format!("\"crlFile\" is not supported {WHY}"));
    }
    if t.ocsp != Ocsp::Off {
        return Err(format!("\"ocspStapling\" is not supported {WHY}"));
    }
    if !t.pins.is_empty() && t.identity.is_some() {
        return Err(format!(
            "\"pinnedSha256\" cannot be combined with a client certificate {WHY}: the pin is checked after the \
             handshake, when the certificate has been sent"
        ));
    }
    Ok(())
}

fn protocol(v: TlsVersion) -> Protocol {
    match v {
        TlsVersion::V12 => Protocol::Tlsv12,
        TlsVersion::V13 => Protocol::Tlsv13,
    }
}

fn connector(t: &TlsOptions) -> Result<TlsConnector> {
    static PLAIN: [OnceCell<TlsConnector>; 3] = [OnceCell::new(), OnceCell::new(), OnceCell::new()];
    let accept_all = t.ignore == Ignore::Everything || !t.pins.is_empty();
    let accept_names = accept_all || t.ignore.contains(Class::HostNameMismatch);
    let cell = if t.is_plain() { &PLAIN[usize::from(accept_names) + usize::from(accept_all)] } else { &t.cache.ctx };
    cell.get_or_try_init(|| {
        let mut b = TlsConnector::builder();
        if let Some(id) = &t.identity {
            let mut chain = Vec::new();
            for c in &id.chain {
                chain.extend(c.to_pem().map_err(setup_err)?);
            }
            let key = id.key.private_key_to_pem_pkcs8().map_err(setup_err)?;
            b.identity(native_tls::Identity::from_pkcs8(&chain, &key).map_err(setup_err)?);
        }
        b.min_protocol_version(Some(protocol(t.min_version.unwrap_or(TlsVersion::V12))));
        b.max_protocol_version(t.max_version.map(protocol));
        for c in &t.cas {
            let der = c.to_der().map_err(setup_err)?;
            b.add_root_certificate(native_tls::Certificate::from_der(&der).map_err(setup_err)?);
        }
        b.disable_built_in_roots(t.ca_only);
        b.danger_accept_invalid_certs(accept_all).danger_accept_invalid_hostnames(accept_names);
        b.build().map_err(setup_err)
    })
    .cloned()
}

/// OpenSSL's error stack and I/O error under a native-tls error, if any.
fn causes(e: &native_tls::Error) -> (Option<&openssl::error::ErrorStack>, Option<&std::io::Error>) {
    let (mut stack, mut io) = (None, None);
    let mut src: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    for _ in 0..8 {
        let Some(s) = src else { break };
        stack = stack.or(s.downcast_ref::<openssl::error::ErrorStack>());
        io = io.or(s.downcast_ref::<std::io::Error>());
        src = s.source();
    }
    (stack, io)
}

pub fn handshake<S: std::io::Read + std::io::Write + AsRawFd>(
    tcp: S,
    target: &Target,
    t: &TlsOptions,
    deadline: Option<Instant>,
) -> Result<(StreamOver<S>, TlsSummary)> {
    let peer = target.peer();
    let connector = connector(t)?;
    let fd = tcp.as_raw_fd();
    let mut r = connector.connect(&target.tls_domain(), tcp);
    let mut s = loop {
        match r {
            Ok(s) => break s,
            Err(HandshakeError::Failure(e)) => {
                let (stack, io) = causes(&e);
                let verify = stack.is_some_and(|s| {
                    s.errors().iter().any(|x| {
                        x.library_code() == super::ERR_LIB_SSL && x.reason_code() == R_CERTIFICATE_VERIFY_FAILED
                    })
                });
                return Err(if verify {
                    Error::new(
                        Code::TlsVerify,
                        format!(
                            "TLS handshake with {peer}: the server certificate failed verification ({e}); the \
                             native-tls backend does not tell the problem by class"
                        ),
                    )
                } else {
                    let why = describe_failure(stack, io, t.identity.is_some(), true);
                    Error::new(Code::Tls, format!("TLS handshake with {peer}: {why}"))
                });
            }
            Err(HandshakeError::WouldBlock(mid)) => {
                let now = Instant::now();
                if deadline.is_some_and(|d| now >= d) {
                    return Err(Error::new(Code::Timeout, format!("timeout during TLS handshake with {peer}")));
                }
                let slice = now + HANDSHAKE_SLICE;
                let until = Some(deadline.map_or(slice, |d| d.min(slice)));
                sys::poll_fd(fd, sys::POLLIN, until)
                    .map_err(|e| Error::io(Code::Tls, &format!("TLS handshake with {peer}"), &e))?;
                r = mid.handshake();
            }
        }
    };
    let leaf = s
        .peer_certificate()
        .ok()
        .flatten()
        .and_then(|c| c.to_der().ok())
        .and_then(|d| openssl::x509::X509::from_der(&d).ok());
    let summary = TlsSummary {
        cert_sha256: leaf.as_ref().and_then(|c| verify::cert_sha256(c)),
        spki_sha256: leaf.as_ref().and_then(|c| verify::spki_sha256(c)),
        subject: leaf.as_ref().map(|c| verify::name(c.subject_name())).unwrap_or_default(),
        issuer: leaf.as_ref().map(|c| verify::name(c.issuer_name())).unwrap_or_default(),
        ..TlsSummary::default()
    };
    if !t.pins.is_empty() {
        let ok = t.pins.iter().any(|p| Some(*p) == summary.cert_sha256 || Some(*p) == summary.spki_sha256);
        if !ok {
            let _ = s.shutdown();
            let desc =
                leaf.as_ref().map(|l| verify::describe_cert(l)).unwrap_or_else(|| "no server certificate".into());
            return Err(Error::new(
                Code::TlsVerify,
                format!(
                    "TLS handshake with {peer}: CertificatePinMismatch (neither the certificate nor its public key \
                     matches \"pinnedSha256\"; public key SHA-256 {}); {desc}",
                    TlsSummary::hex(&summary.spki_sha256)
                ),
            ));
        }
    }
    Ok((s, summary))
}
