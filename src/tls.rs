//! TLS for `wss://` on native-tls (OpenSSL on Linux): trust store, host name,
//! SNI, and WinCC's "ignoreSslErrors" and "sslConfig", plus "caCertificates",
//! "pinnedSha256" and "tlsMinVersion". Every handshake is driven on a
//! non-blocking socket under the connection deadline.
//!
//! native-tls has two verification switches (accept invalid certificates,
//! accept invalid host names) and shows only the server's end-entity
//! certificate, so the precise behaviour the C documentation promises is
//! built like this:
//! - Default, or an ignore list naming only HostNameMismatch: OpenSSL
//!   verifies the whole chain during the handshake (the host name switch
//!   covers HostNameMismatch exactly). When it refuses, a second handshake
//!   without verification fetches the certificate the server presents, only
//!   to describe it: every problem by class, dates, SHA-256 fingerprint.
//! - An ignore list with other classes: the handshake runs without
//!   verification and `tls_verify::check` examines the certificate against
//!   the same trust store (OpenSSL's chain verification, host check, dates
//!   one by one). That is complete when the certificate's issuer is in the
//!   trust store or it is self-signed; when it is not (the server may have
//!   sent intermediate CAs that native-tls does not show), a second,
//!   verifying handshake gives OpenSSL's verdict on the chain the server
//!   sent. See `inspect`.
//! - Everything ignored, or pinned: no verification in the handshake; pins
//!   are compared with the certificate and its public key afterwards.
//!
//! No application data is sent on a connection before it is accepted here.
#![deny(unsafe_code)]

use crate::error::{Code, Error, Result};
use crate::options::{Options, Target};
use crate::sys;
use crate::tls_config::{self, ClientIdentity, Ignore};
use crate::tls_verify::{self, Chain, Class, Problem};
use native_tls::{HandshakeError, TlsConnector, TlsConnectorBuilder, TlsStream};
use once_cell::sync::OnceCell;
use openssl::x509::X509;
use std::fmt;
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

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
    /// "tlsMinVersion" (native-tls's default is TLS 1.2).
    pub min_version: Option<native_tls::Protocol>,
    /// Connectors and trust store built on first use and shared by the
    /// copies of these options (reconnects of the same socket): building
    /// them loads the system trust store.
    cache: Arc<Cache>,
}

#[derive(Default)]
struct Cache {
    verifying: OnceCell<TlsConnector>,
    chain_only: OnceCell<TlsConnector>,
    unverified: OnceCell<TlsConnector>,
    trust: OnceCell<tls_verify::Trust>,
}

impl fmt::Debug for Cache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Cache")
    }
}

impl TlsOptions {
    /// Nothing set that changes the connectors: the process-wide ones do.
    fn is_plain(&self) -> bool {
        self.identity.is_none() && self.cas.is_empty() && !self.ca_only && self.min_version.is_none()
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
        "ignoreSslErrors" => tls_config::parse_ignore(value).map(|i| tls.ignore = i),
        "sslConfig" => tls_config::parse_ssl_config(value).map(|i| tls.identity = i),
        "caCertificates" => tls_config::parse_cas(value, false, key).map(|c| tls.cas.extend(c)),
        "caCertificatesFile" => tls_config::parse_cas(value, true, key).map(|c| tls.cas.extend(c)),
        "caCertificatesOnly" => {
            value.as_bool().map(|b| tls.ca_only = b).ok_or_else(|| format!("must be true or false, got {value}"))
        }
        "pinnedSha256" => tls_config::parse_pins(value).map(|p| tls.pins = p),
        "tlsMinVersion" => tls_config::parse_min_version(value).map(|v| tls.min_version = Some(v)),
        _ => return None,
    };
    Some(r)
}

/// Checks the TLS keys against each other once all are parsed.
pub fn finish(tls: &TlsOptions) -> std::result::Result<(), String> {
    if tls.ca_only && tls.cas.is_empty() {
        return Err("\"caCertificatesOnly\": true needs \"caCertificates\" or \"caCertificatesFile\"".into());
    }
    if !tls.pins.is_empty() {
        if tls.ignore != Ignore::Nothing {
            return Err(
                "\"pinnedSha256\" replaces certificate verification: it cannot be combined with \"ignoreSslErrors\""
                    .into(),
            );
        }
        if !tls.cas.is_empty() || tls.ca_only {
            return Err(
                "\"pinnedSha256\" replaces certificate verification: it cannot be combined with \"caCertificates\""
                    .into(),
            );
        }
    }
    Ok(())
}

fn setup_err(e: impl fmt::Display) -> Error {
    Error::new(Code::Tls, format!("TLS set-up: {e}"))
}

fn builder(t: &TlsOptions) -> TlsConnectorBuilder {
    let mut b = TlsConnector::builder();
    if let Some(id) = &t.identity {
        b.identity(id.identity.clone());
    }
    if let Some(v) = t.min_version {
        b.min_protocol_version(Some(v));
    }
    for c in &t.cas {
        if let Ok(der) = c.to_der() {
            if let Ok(cert) = native_tls::Certificate::from_der(&der) {
                b.add_root_certificate(cert);
            }
        }
    }
    b.disable_built_in_roots(t.ca_only);
    b
}

#[derive(Clone, Copy)]
enum Kind {
    /// OpenSSL verifies chain and (unless HostNameMismatch is ignored) name.
    Verifying,
    /// OpenSSL verifies the chain only; we check the name ourselves.
    ChainOnly,
    /// No verification in the handshake; we examine the certificate.
    Unverified,
}

/// The connector of a kind; the process-wide ones when the options change
/// nothing but verification (building one loads the system trust store).
fn connector(t: &TlsOptions, kind: Kind) -> Result<TlsConnector> {
    static PLAIN: [OnceCell<TlsConnector>; 3] = [OnceCell::new(), OnceCell::new(), OnceCell::new()];
    let host_ok = t.ignore.contains(Class::HostNameMismatch);
    let (cell, accept_certs, accept_names) = match (kind, t.is_plain()) {
        (Kind::Verifying, true) => (&PLAIN[usize::from(host_ok)], false, host_ok),
        (Kind::ChainOnly, true) => (&PLAIN[1], false, true),
        (Kind::Unverified, true) => (&PLAIN[2], true, true),
        (Kind::Verifying, false) => (&t.cache.verifying, false, host_ok),
        (Kind::ChainOnly, false) => (&t.cache.chain_only, false, true),
        (Kind::Unverified, false) => (&t.cache.unverified, true, true),
    };
    cell.get_or_try_init(|| {
        builder(t).danger_accept_invalid_certs(accept_certs).danger_accept_invalid_hostnames(accept_names).build()
    })
    .cloned()
    .map_err(setup_err)
}

/// The trust store of our own checks: the same CAs as the connectors.
fn trust(t: &TlsOptions) -> &tls_verify::Trust {
    static SYSTEM: OnceCell<tls_verify::Trust> = OnceCell::new();
    if t.cas.is_empty() && !t.ca_only {
        SYSTEM.get_or_init(|| tls_verify::Trust::new(true, &[]))
    } else {
        t.cache.trust.get_or_init(|| tls_verify::Trust::new(!t.ca_only, &t.cas))
    }
}

/// Longest single wait inside the handshake: native-tls does not say whether
/// OpenSSL wants to read or to write, so we wait for input and retry at least
/// this often in case it wanted to write.
const HANDSHAKE_SLICE: Duration = Duration::from_millis(50);

/// Limit for the extra handshake that only fetches the server's certificate
/// to describe a verification failure, when the caller set no "timeout".
const DIAGNOSTIC_LIMIT: Duration = Duration::from_secs(5);

type Stream = TlsStream<TcpStream>;

/// How a handshake failed.
enum Fail {
    /// OpenSSL refused the server's certificate: its verification error
    /// text, e.g. "certificate has expired".
    Verify(String),
    Other(Error),
}

struct Hs<'a> {
    target: &'a Target,
    opts: &'a Options,
    t: &'a TlsOptions,
    peer: String,
    addr: Option<SocketAddr>,
    deadline: Option<Instant>,
}

pub fn handshake(tcp: TcpStream, target: &Target, opts: &Options, deadline: Option<Instant>) -> Result<Stream> {
    let t = &opts.tls;
    let hs = Hs { target, opts, t, peer: target.peer(), addr: tcp.peer_addr().ok(), deadline };
    if !t.pins.is_empty() {
        return hs.pinned(tcp);
    }
    match &t.ignore {
        Ignore::Everything => hs.drive(Kind::Unverified, tcp).map_err(|f| hs.fail_error(f)),
        Ignore::Classes(c) if c.iter().any(|c| *c != Class::HostNameMismatch) => hs.inspect(tcp),
        _ => hs.verified(tcp),
    }
}

impl Hs<'_> {
    /// Runs one handshake on `tcp` (non-blocking) within the deadline.
    fn drive(&self, kind: Kind, tcp: TcpStream) -> std::result::Result<Stream, Fail> {
        self.drive_until(kind, tcp, self.deadline)
    }

    fn drive_until(&self, kind: Kind, tcp: TcpStream, deadline: Option<Instant>) -> std::result::Result<Stream, Fail> {
        let connector = connector(self.t, kind).map_err(Fail::Other)?;
        let fd = tcp.as_raw_fd();
        let peer = &self.peer;
        let mut r = connector.connect(&self.target.tls_domain(), tcp);
        loop {
            match r {
                Ok(s) => return Ok(s),
                Err(HandshakeError::Failure(e)) => return Err(classify(peer, &e, self.t.identity.is_some())),
                Err(HandshakeError::WouldBlock(mid)) => {
                    let now = Instant::now();
                    if deadline.is_some_and(|d| now >= d) {
                        return Err(Fail::Other(Error::new(
                            Code::Timeout,
                            format!("timeout during TLS handshake with {peer}"),
                        )));
                    }
                    let slice = now + HANDSHAKE_SLICE;
                    let until = Some(deadline.map_or(slice, |d| d.min(slice)));
                    sys::poll_fd(fd, sys::POLLIN, until)
                        .map_err(|e| Fail::Other(Error::io(Code::Tls, &format!("TLS handshake with {peer}"), &e)))?;
                    r = mid.handshake();
                }
            }
        }
    }

    /// A new TCP connection to the same address, set up as `connect.rs`
    /// sets up the first (TCP_NODELAY, non-blocking).
    fn tcp_again(&self, deadline: Option<Instant>) -> Result<TcpStream> {
        let addr = self.addr.ok_or_else(|| Error::new(Code::Connect, "peer address unknown".to_string()))?;
        let stage = format!("connect {addr} (second TLS handshake)");
        let tcp = match sys::remaining(deadline) {
            None => TcpStream::connect(addr),
            Some(rem) if rem.is_zero() => {
                return Err(Error::new(Code::Timeout, format!("timeout during TLS handshake with {}", self.peer)))
            }
            Some(rem) => TcpStream::connect_timeout(&addr, rem),
        }
        .map_err(|e| Error::io(Code::Connect, &stage, &e))?;
        let _ = tcp.set_nodelay(self.opts.tcp_nodelay);
        tcp.set_nonblocking(true).map_err(|e| Error::io(Code::Connect, &stage, &e))?;
        Ok(tcp)
    }

    fn fail_error(&self, f: Fail) -> Error {
        match f {
            Fail::Other(e) => e,
            // Cannot happen on an unverified handshake; kept meaningful.
            Fail::Verify(reason) => self.refused(&[self.problem_from_text(&reason, None)], &[], None),
        }
    }

    /// Default verification: OpenSSL decides during the handshake.
    fn verified(&self, tcp: TcpStream) -> Result<Stream> {
        match self.drive(Kind::Verifying, tcp) {
            Ok(s) => Ok(s),
            Err(Fail::Other(e)) => Err(e),
            Err(Fail::Verify(reason)) => Err(self.verify_failed(&reason)),
        }
    }

    /// Describes a verification failure of a verifying handshake: OpenSSL's
    /// class first (it saw the whole chain), then what our own examination
    /// of the presented certificate adds (dates, host name), then the
    /// certificate and its fingerprint, for pinning.
    fn verify_failed(&self, reason: &str) -> Error {
        let leaf = self.presented_certificate();
        let leaf = match leaf {
            Ok(l) => l,
            Err(why) => {
                let p = self.problem_from_text(reason, None);
                return Error::new(
                    Code::TlsVerify,
                    format!(
                        "TLS handshake with {}: {} (server certificate not available: {why})",
                        self.peer,
                        p.describe()
                    ),
                );
            }
        };
        let report = tls_verify::check(&leaf, trust(self.t), &self.target.host);
        let first = self.problem_from_text(reason, Some(&report.problems));
        let mut problems = vec![first.clone()];
        for p in report.problems {
            // Our trust verdict is about the certificate alone; OpenSSL's
            // about the chain the server sent, so it stands.
            if p.class == first.class || p.class.is_trust() || self.t.ignore.contains(p.class) {
                continue;
            }
            problems.push(p);
        }
        self.refused(&problems, &[], Some(&leaf))
    }

    /// The class and detail of OpenSSL's verification error text, with our
    /// own detail when our examination found the same class.
    fn problem_from_text(&self, reason: &str, ours: Option<&[Problem]>) -> Problem {
        let class = Class::from_openssl_text(reason);
        let own = ours.and_then(|ps| ps.iter().find(|p| p.class == class));
        let detail = match (own, class) {
            (Some(p), _) => p.detail.clone(),
            (None, Class::SelfSignedCertificateInChain) => {
                "the chain the server sent ends in a self-signed CA that is not trusted".to_string()
            }
            (None, _) => reason.to_string(),
        };
        Problem { class, detail }
    }

    /// The server's certificate, from a second handshake that does not
    /// verify (only to describe a failure; closed right away).
    fn presented_certificate(&self) -> std::result::Result<X509, String> {
        let cap = Instant::now() + DIAGNOSTIC_LIMIT;
        let deadline = Some(self.deadline.map_or(cap, |d| d.min(cap)));
        let tcp = self.tcp_again(deadline).map_err(|e| e.msg)?;
        let mut s = self.drive_until(Kind::Unverified, tcp, deadline).map_err(|f| match f {
            Fail::Other(e) => e.msg,
            Fail::Verify(r) => r,
        })?;
        let leaf = leaf_of(&s).map_err(|e| e.msg);
        let _ = s.shutdown();
        leaf
    }

    /// "pinnedSha256": the certificate or its public key must match a pin;
    /// nothing else is checked.
    fn pinned(&self, tcp: TcpStream) -> Result<Stream> {
        let mut s = self.drive(Kind::Unverified, tcp).map_err(|f| self.fail_error(f))?;
        let leaf = leaf_of(&s)
            .map_err(|e| Error::new(Code::TlsVerify, format!("TLS handshake with {}: {}", self.peer, e.msg)))?;
        let cert = tls_verify::cert_sha256(&leaf);
        let spki = tls_verify::spki_sha256(&leaf);
        if self.t.pins.iter().any(|p| Some(*p) == cert || Some(*p) == spki) {
            return Ok(s);
        }
        let _ = s.shutdown();
        let spki = spki.map(|k| tls_verify::hex_colons(&k)).unwrap_or_else(|| "?".into());
        Err(Error::new(
            Code::TlsVerify,
            format!(
                "TLS handshake with {}: CertificatePinMismatch (neither the certificate nor its public key \
                 matches \"pinnedSha256\"; public key SHA-256 {spki}); {}",
                self.peer,
                tls_verify::describe_cert(&leaf)
            ),
        ))
    }

    /// An ignore list with classes beyond HostNameMismatch: handshake
    /// without verification, then decide from our own examination, asking
    /// OpenSSL about the chain the server sent when we cannot see it.
    fn inspect(&self, tcp: TcpStream) -> Result<Stream> {
        let mut s1 = self.drive(Kind::Unverified, tcp).map_err(|f| self.fail_error(f))?;
        let leaf = match leaf_of(&s1) {
            Ok(l) => l,
            Err(e) => return Err(Error::new(Code::TlsVerify, format!("TLS handshake with {}: {}", self.peer, e.msg))),
        };
        let report = tls_verify::check(&leaf, trust(self.t), &self.target.host);
        let ig = &self.t.ignore;
        let (ignored, open): (Vec<Problem>, Vec<Problem>) =
            report.problems.iter().cloned().partition(|p| ig.contains(p.class));
        let result = match report.chain {
            Chain::Known if open.is_empty() => return Ok(s1),
            Chain::Known => Err(self.refused(&open, &ignored, Some(&leaf))),
            Chain::Stopped => {
                if open.is_empty() {
                    // The chain problem is ignored, but OpenSSL checked
                    // nothing after it.
                    let p = &report.problems[report.chain_problem.unwrap_or(0)];
                    Err(self.unknowable(p, "OpenSSL stops checking the chain at this problem", false, &leaf))
                } else {
                    Err(self.refused(&open, &ignored, Some(&leaf)))
                }
            }
            Chain::IssuerNotInStore => {
                let own: Vec<Problem> =
                    open.iter().filter(|p| p.class != Class::UnableToGetLocalIssuerCertificate).cloned().collect();
                if !own.is_empty() {
                    // Problems of the certificate itself (dates, name): real
                    // whatever the chain is.
                    Err(self.refused(&own, &ignored, Some(&leaf)))
                } else {
                    return self.ask_openssl_about_chain(s1, &leaf, &report.problems, ignored);
                }
            }
        };
        let _ = s1.shutdown();
        result
    }

    /// The certificate's issuer is not in the trust store, and the
    /// certificate itself has no problem that is not ignored: a verifying
    /// handshake (chain only; the name was checked) lets OpenSSL build the
    /// chain with the CAs the server sends, which native-tls does not show.
    fn ask_openssl_about_chain(
        &self,
        mut s1: Stream,
        leaf: &X509,
        all: &[Problem],
        ignored: Vec<Problem>,
    ) -> Result<Stream> {
        let ig = &self.t.ignore;
        let second = self.tcp_again(self.deadline).map_err(|e| (e, true)).and_then(|tcp| {
            self.drive(Kind::ChainOnly, tcp).map_err(|f| match f {
                Fail::Other(e) => (e, true),
                Fail::Verify(reason) => (Error::new(Code::TlsVerify, reason), false),
            })
        });
        let result = match second {
            // The chain the server sends is good: use the verified connection.
            Ok(s2) => {
                let _ = s1.shutdown();
                return Ok(s2);
            }
            Err((e, true)) => Err(e),
            Err((reason, false)) => {
                let p = self.problem_from_text(&reason.msg, Some(all));
                if !ig.contains(p.class) {
                    let ignored: Vec<Problem> = ignored.into_iter().filter(|q| !q.class.is_trust()).collect();
                    Err(self.refused(&[p], &ignored, Some(leaf)))
                } else if p.class.is_trust() {
                    // Nobody vouches for the chain, as allowed: what OpenSSL
                    // did not check after this point is vouched for by
                    // nobody either. The certificate's own dates and name
                    // were checked above.
                    return Ok(s1);
                } else {
                    Err(self.unknowable(&p, "native-tls does not show the CA certificates the server sent", true, leaf))
                }
            }
        };
        let _ = s1.shutdown();
        result
    }

    /// A failure message: every problem that is not ignored, what was
    /// ignored, and the certificate with its SHA-256 (for pinning).
    fn refused(&self, open: &[Problem], ignored: &[Problem], leaf: Option<&X509>) -> Error {
        let mut msg = format!(
            "TLS handshake with {}: {}",
            self.peer,
            open.iter().map(Problem::describe).collect::<Vec<_>>().join(", ")
        );
        if let Ignore::Classes(_) = self.t.ignore {
            msg.push_str(&format!("; not in ignoreSslErrors {}", self.t.ignore.list()));
            if !ignored.is_empty() {
                let mut names: Vec<&str> = ignored.iter().map(|p| p.class.name()).collect();
                names.dedup();
                msg.push_str(&format!(" (ignored: {})", names.join(", ")));
            }
        }
        if let Some(l) = leaf {
            msg.push_str("; ");
            msg.push_str(&tls_verify::describe_cert(l));
        }
        Error::new(Code::TlsVerify, msg)
    }

    /// An ignored problem after which the rest of the chain cannot be
    /// checked: refused, since accepting could let an unchecked (say,
    /// forged) certificate through.
    fn unknowable(&self, p: &Problem, why: &str, add_ca_helps: bool, leaf: &X509) -> Error {
        let advice = if add_ca_helps {
            "add the issuing CA to \"caCertificates\" or pin the certificate with \"pinnedSha256\""
        } else {
            "pin the certificate with \"pinnedSha256\" to accept it as it is"
        };
        Error::new(
            Code::TlsVerify,
            format!(
                "TLS handshake with {}: {} is in ignoreSslErrors, but the rest of the chain cannot be checked \
                 ({why}); {advice}; {}",
                self.peer,
                p.describe(),
                tls_verify::describe_cert(leaf)
            ),
        )
    }
}

/// The server's end-entity certificate of an established session.
fn leaf_of(s: &Stream) -> Result<X509> {
    let none = || Error::new(Code::TlsVerify, "NoPeerCertificate (the server sent no certificate)".to_string());
    let c = s.peer_certificate().ok().flatten().ok_or_else(none)?;
    let der = c.to_der().map_err(|_| none())?;
    X509::from_der(&der).map_err(|_| none())
}

/// Turns a failed handshake into `Fail`: verification failures keep
/// OpenSSL's verification error text; anything else becomes a message
/// naming the stage, the peer and OpenSSL's reason, with a hint.
fn classify(peer: &str, e: &native_tls::Error, have_identity: bool) -> Fail {
    let text = e.to_string();
    if text.contains("certificate verify failed") || text.contains("CERTIFICATE_VERIFY_FAILED") {
        // "error:0A000086:SSL routines:...:certificate verify failed:
        // ../ssl/statem/statem_clnt.c:1889: (certificate has expired)"
        let reason = text.rsplit_once(" (").map(|(_, d)| d.trim_end_matches(')').to_string()).unwrap_or_default();
        return Fail::Verify(reason);
    }
    Fail::Other(Error::new(Code::Tls, format!("TLS handshake with {peer}: {}", describe_failure(&text, have_identity))))
}

/// A TLS error met on an established session while the connection is set
/// up (a TLS 1.3 server refuses a client certificate, or its absence, only
/// after the handshake, with an alert): WS_E_TLS with OpenSSL's reason and a
/// hint. None for other I/O errors.
pub fn post_handshake_error(stage: &str, e: &std::io::Error, opts: &Options) -> Option<Error> {
    let ssl = e.get_ref()?.downcast_ref::<openssl::ssl::Error>()?;
    let text = ssl.to_string();
    Some(Error::new(Code::Tls, format!("{stage}: TLS: {}", describe_failure(&text, opts.tls.identity.is_some()))))
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

/// OpenSSL's reasons from an error text ("error:0A00010B:SSL routines:
/// ssl3_get_record:wrong version number:file:line:"), with a hint for the
/// common ones; other texts (I/O errors) as they are, without "(os error N)".
fn describe_failure(text: &str, have_identity: bool) -> String {
    let mut reasons: Vec<String> = Vec::new();
    for part in text.split("error:").skip(1) {
        if let Some(r) = part.split(':').nth(3).map(str::trim).filter(|r| !r.is_empty()) {
            if !reasons.iter().any(|x| x == r) {
                reasons.push(r.to_string());
            }
        }
    }
    let mut out = if reasons.is_empty() {
        let mut s = text.trim().to_string();
        if let Some(p) = s.find(" (os error") {
            s.truncate(p);
        }
        if s == "unexpected EOF" {
            s = "connection closed by the server".into();
        }
        s
    } else {
        reasons.join("; ")
    };
    let l = out.to_ascii_lowercase();
    let hint = if l.contains("wrong version number")
        || l.contains("packet length too long")
        || l.contains("http request")
    {
        Some("the server did not answer with TLS: is this a plain ws:// port?")
    } else if l.contains("protocol version")
        || l.contains("unsupported protocol")
        || l.contains("no protocols available")
    {
        Some("no TLS version in common with the server; see \"tlsMinVersion\"")
    } else if l.contains("certificate required") {
        Some("the server requires a client certificate: see \"sslConfig\"")
    } else if l.contains("alert bad certificate")
        || l.contains("alert unknown ca")
        || l.contains("certificate unknown")
        || l.contains("alert access denied")
    {
        Some(if have_identity {
            "the server rejected the client certificate of \"sslConfig\""
        } else {
            "the server wants a client certificate: see \"sslConfig\""
        })
    } else if l.contains("handshake failure") {
        Some("the server refused the handshake: no cipher or key type in common, or it requires a client certificate")
    } else if l.contains("eof") || l.contains("closed by the server") || l.contains("connection reset") {
        Some("the server closed the connection during the TLS handshake")
    } else {
        None
    };
    if let Some(h) = hint {
        out.push_str(&format!(" ({h})"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_texts() {
        let t = "error:0A00010B:SSL routines:ssl3_get_record:wrong version number:../ssl/record/ssl3_record.c:354:";
        assert_eq!(
            describe_failure(t, false),
            "wrong version number (the server did not answer with TLS: is this a plain ws:// port?)"
        );
        assert_eq!(
            describe_failure("Connection reset by peer (os error 104)", false),
            "Connection reset by peer (the server closed the connection during the TLS handshake)"
        );
        let t = "error:0A00045C:SSL routines:ssl3_read_bytes:tlsv13 alert certificate required:../ssl/record/rec_layer_s3.c:1605:SSL alert number 116";
        assert!(describe_failure(t, false).contains("requires a client certificate"));
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
    }
}
