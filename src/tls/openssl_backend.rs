//! The TLS backend on Linux: OpenSSL, driven directly, so that the whole
//! verification policy is decided inside the one handshake.
//!
//! OpenSSL calls `Verifier::on_verify` for every problem of the chain the
//! server sent (X509 error code, depth, certificate) while it verifies it.
//! Each problem is classified into its QSslError class and recorded, and
//! verification goes on so that every problem is seen; when the pass over
//! the chain ends (the success call at depth 0, after signatures and
//! dates), the callback refuses if any recorded problem is not in
//! "ignoreSslErrors" (or, with "pinnedSha256", if the certificate matches
//! no pin). Problems OpenSSL finds after that point (name constraints) are
//! decided at once. A refusal aborts the handshake right there, before the
//! client has sent its certificate (OpenSSL sends it only after the
//! server's Certificate, CertificateVerify and Finished, TLS 1.3, or
//! ServerHelloDone, TLS 1.2, have been processed). The host name or IP
//! address is OpenSSL's own check (X509_VERIFY_PARAM), so HostNameMismatch
//! arrives through the same callback. A stapled OCSP response is checked
//! in OpenSSL's status callback, which runs after certificate verification
//! and before the client sends anything else. There is never a second
//! connection: the failure message is built from what was recorded.
#![deny(unsafe_code)]

use super::config::{Ignore, Ocsp, TlsVersion};
use super::verify::{self, code, Class, Problem};
use super::{describe_failure, setup_err, TlsOptions, TlsSummary};
use crate::error::{Code, Error, Result};
use crate::options::{HostKind, Target};
use crate::sys;
use once_cell::sync::OnceCell;
use openssl::error::ErrorStack;
use openssl::ex_data::Index;
use openssl::ssl::{
    ErrorCode, HandshakeError, Ssl, SslConnector, SslContext, SslMethod, SslRef, SslStream, SslVerifyMode, SslVersion,
    StatusType,
};
use openssl::x509::store::{X509Lookup, X509StoreBuilder};
use openssl::x509::verify::{X509CheckFlags, X509VerifyFlags};
use openssl::x509::{X509StoreContextRef, X509};
use parking_lot::Mutex;
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::Instant;

pub type Stream = SslStream<TcpStream>;
/// TLS over any byte stream (TLS to the server inside TLS to an https://
/// proxy).
pub type StreamOver<S> = SslStream<S>;

/// Decrypted bytes OpenSSL holds that the kernel no longer reports (a
/// record read whole for a shorter read).
pub fn pending<S>(s: &StreamOver<S>) -> usize {
    s.ssl().pending()
}

/// What `TlsOptions` caches: the context built from its settings.
pub type Ctx = SslContext;

/// The context of these options; the process-wide one when they change
/// nothing but the per-connection policy (building one loads the system
/// trust store).
fn context(t: &TlsOptions) -> Result<SslContext> {
    static PLAIN: OnceCell<SslContext> = OnceCell::new();
    let cell = if t.is_plain() { &PLAIN } else { &t.cache.ctx };
    cell.get_or_try_init(|| build_context(t)).cloned()
}

fn version(v: TlsVersion) -> SslVersion {
    match v {
        TlsVersion::V12 => SslVersion::TLS1_2,
        TlsVersion::V13 => SslVersion::TLS1_3,
    }
}

fn build_context(t: &TlsOptions) -> Result<SslContext> {
    // SslConnector's defaults (as native-tls uses them): no SSLv2/3 or
    // compression, partial writes and moving write buffers for non-blocking
    // retries.
    let mut b = SslConnector::builder(SslMethod::tls_client()).map_err(setup_err)?;
    b.set_min_proto_version(Some(version(t.min_version.unwrap_or(TlsVersion::V12)))).map_err(setup_err)?;
    b.set_max_proto_version(t.max_version.map(version)).map_err(setup_err)?;
    let mut store = X509StoreBuilder::new().map_err(setup_err)?;
    if !t.ca_only {
        add_system_trust(&mut store);
    }
    for c in &t.cas {
        // A CA given twice is not an error.
        let _ = store.add_cert(c.clone());
    }
    if !t.crls.files.is_empty() {
        let lookup = store.add_lookup(X509Lookup::file()).map_err(setup_err)?;
        for (file, want) in t.crls.files.iter().zip(&t.crls.counts) {
            let got = lookup.load_crl_file(file, openssl::ssl::SslFiletype::PEM).map_err(|e| {
                Error::new(Code::Tls, format!("TLS set-up: \"crlFile\" \"{file}\": {}", super::config::ssl_reason(&e)))
            })?;
            if usize::try_from(got).ok() != Some(*want) {
                return Err(Error::new(
                    Code::Tls,
                    format!("TLS set-up: \"crlFile\" \"{file}\" changed since ws_open ({want} CRLs then, {got} now)"),
                ));
            }
        }
        store.set_flags(X509VerifyFlags::CRL_CHECK | X509VerifyFlags::CRL_CHECK_ALL).map_err(setup_err)?;
    }
    b.set_cert_store(store.build());
    if let Some(id) = &t.identity {
        b.set_certificate(&id.chain[0]).map_err(setup_err)?;
        for c in &id.chain[1..] {
            b.add_extra_chain_cert(c.clone()).map_err(setup_err)?;
        }
        b.set_private_key(&id.key).map_err(setup_err)?;
        b.check_private_key().map_err(setup_err)?;
    }
    // Called by OpenSSL only on connections that asked for a status
    // ("ocspStapling"); the connection's verifier is in its ex_data.
    b.set_status_callback(|ssl: &mut SslRef| {
        let Some(v) = ssl.ex_data(verifier_index()?).cloned() else { return Ok(true) };
        Ok(v.on_ocsp(ssl))
    })
    .map_err(setup_err)?;
    Ok(b.build().into_context())
}

/// The system trust store, where native-tls (and so this library before)
/// finds it: OpenSSL's default paths, plus what openssl-probe finds.
/// Missing locations are not an error: a machine may have no CAs.
fn add_system_trust(b: &mut X509StoreBuilder) {
    let _ = b.set_default_paths();
    let probe = openssl_probe::probe();
    if let Some(file) = probe.cert_file.as_ref().filter(|f| f.to_str().is_some()) {
        if let Ok(l) = b.add_lookup(X509Lookup::file()) {
            let _ = l.load_cert_file(file, openssl::ssl::SslFiletype::PEM);
        }
    }
    for dir in probe.cert_dir.iter().filter_map(|d| d.to_str()) {
        if let Ok(l) = b.add_lookup(X509Lookup::hash_dir()) {
            let _ = l.add_dir(dir, openssl::ssl::SslFiletype::PEM);
        }
    }
    // OpenSSL keeps errors of failed lookups on its thread-local queue.
    let _ = ErrorStack::get();
}

fn verifier_index() -> std::result::Result<Index<Ssl, Arc<Verifier>>, ErrorStack> {
    static INDEX: OnceCell<Index<Ssl, Arc<Verifier>>> = OnceCell::new();
    INDEX.get_or_try_init(Ssl::new_ex_index).copied()
}

/// One problem as OpenSSL reported it.
struct Seen {
    problem: Problem,
    code: i32,
    depth: u32,
    ignored: bool,
}

#[derive(Default)]
struct State {
    seen: Vec<Seen>,
    /// The server's certificate, from the first callback.
    leaf: Option<X509>,
    /// A problem that is not ignored was recorded.
    refused: bool,
    /// The pass over the chain ended (success call at depth 0).
    chain_done: bool,
    /// "pinnedSha256": whether the certificate matched.
    pin_ok: Option<bool>,
}

/// The policy of one connection and what its handshake recorded.
struct Verifier {
    ignore: Ignore,
    pins: Vec<[u8; 32]>,
    ocsp: Ocsp,
    /// The host as in the URL, for messages.
    host: String,
    /// "crlFile", for the details of a revocation.
    crls: Arc<Vec<openssl::x509::X509Crl>>,
    state: Mutex<State>,
}

impl Verifier {
    /// OpenSSL's verify callback (must not panic: it runs inside OpenSSL).
    fn on_verify(&self, ok: bool, ctx: &mut X509StoreContextRef) -> bool {
        let mut st = self.state.lock();
        if st.leaf.is_none() {
            st.leaf = ctx.chain().and_then(|c| c.iter().next()).map(|c| c.to_owned());
        }
        let depth = ctx.error_depth();
        if !self.pins.is_empty() {
            // Nothing but the pin counts; it is decided once the chain pass
            // reaches the server's certificate.
            if ok && depth == 0 {
                let m = ctx.current_cert().is_some_and(|c| {
                    let (cert, spki) = (verify::cert_sha256(c), verify::spki_sha256(c));
                    self.pins.iter().any(|p| Some(*p) == cert || Some(*p) == spki)
                });
                st.pin_ok = Some(m);
                return m;
            }
            return true;
        }
        if ok {
            if depth == 0 && !st.chain_done {
                st.chain_done = true;
                return !st.refused;
            }
            return true;
        }
        let c = ctx.error().as_raw();
        // A certificate whose issuer was not found cannot have its
        // signature checked either: the same problem, reported twice.
        if c == code::UNABLE_TO_VERIFY_LEAF_SIGNATURE {
            if let Some(first) = st.seen.iter().find(|s| {
                s.depth == depth
                    && matches!(s.code, code::UNABLE_TO_GET_ISSUER_CERT_LOCALLY | code::UNABLE_TO_GET_ISSUER_CERT)
            }) {
                return first.ignored || !st.chain_done;
            }
        }
        let class = Class::from_code(c);
        let cert = ctx.current_cert();
        let revoked = if c == code::CERT_REVOKED { cert.and_then(|x| self.revocation(x)) } else { None };
        let detail = verify::detail(c, ctx.error().error_string(), depth, cert, &self.host, revoked);
        let ignored = self.ignore.contains(class);
        if !st.seen.iter().any(|s| s.code == c && s.depth == depth) {
            st.seen.push(Seen { problem: Problem::new(class, detail), code: c, depth, ignored });
        }
        st.refused |= !ignored;
        // Before the end of the chain pass: go on, to see every problem.
        ignored || !st.chain_done
    }

    /// "revoked 2024-01-31 00:00:00 UTC by the CRL of \"CN=...\"", from "crlFile".
    fn revocation(&self, cert: &openssl::x509::X509Ref) -> Option<String> {
        let owned = cert.to_owned();
        self.crls.iter().find_map(|crl| match crl.get_by_cert(&owned) {
            openssl::x509::CrlStatus::Revoked(r) => Some(format!(
                "revoked {} by the CRL of \"{}\"",
                verify::time(r.revocation_date()),
                verify::name(crl.issuer_name())
            )),
            _ => None,
        })
    }

    /// OpenSSL's status callback: the stapled OCSP response, after the
    /// certificate was verified. False refuses the handshake.
    fn on_ocsp(&self, ssl: &SslRef) -> bool {
        if self.ocsp == Ocsp::Off {
            return true;
        }
        let problems = match ssl.ocsp_status() {
            None if self.ocsp == Ocsp::Require => vec![Problem::new(
                Class::OcspNoResponseFound,
                "the server stapled no OCSP response, and \"ocspStapling\" is \"require\"",
            )],
            None => Vec::new(),
            Some(der) => match ssl.verified_chain() {
                Some(chain) => super::ocsp::check(der, chain, ssl.ssl_context().cert_store()),
                None => vec![Problem::new(Class::OcspResponseCannotBeTrusted, "no verified chain to check it against")],
            },
        };
        let mut st = self.state.lock();
        let mut ok = true;
        for p in problems {
            let ignored = self.ignore.contains(p.class);
            ok &= ignored;
            st.refused |= !ignored;
            st.seen.push(Seen { problem: p, code: -1, depth: 0, ignored });
        }
        ok
    }

    /// The message of a refused handshake: every problem that is not
    /// ignored, what was ignored, and the certificate with its SHA-256.
    fn refusal(&self, t: &TlsOptions, peer: &str) -> Error {
        let st = self.state.lock();
        let leaf = st.leaf.as_ref();
        if !self.pins.is_empty() {
            let (desc, spki) = match leaf {
                Some(l) => (
                    verify::describe_cert(l),
                    verify::spki_sha256(l).map(|k| verify::hex_colons(&k)).unwrap_or_else(|| "?".into()),
                ),
                None => ("no server certificate".to_string(), "?".to_string()),
            };
            return Error::new(
                Code::TlsVerify,
                format!(
                    "TLS handshake with {peer}: CertificatePinMismatch (neither the certificate nor its public key \
                     matches \"pinnedSha256\"; public key SHA-256 {spki}); {desc}"
                ),
            );
        }
        let open: Vec<String> = st.seen.iter().filter(|s| !s.ignored).map(|s| s.problem.describe()).collect();
        let mut msg = format!("TLS handshake with {peer}: {}", open.join(", "));
        if let Ignore::Classes(_) = t.ignore {
            msg.push_str(&format!("; not in ignoreSslErrors {}", t.ignore.list()));
            let mut names: Vec<&str> = Vec::new();
            for s in st.seen.iter().filter(|s| s.ignored) {
                if !names.contains(&s.problem.class.name()) {
                    names.push(s.problem.class.name());
                }
            }
            if !names.is_empty() {
                msg.push_str(&format!(" (ignored: {})", names.join(", ")));
            }
        }
        if let Some(l) = leaf {
            msg.push_str("; ");
            msg.push_str(&verify::describe_cert(l));
        }
        Error::new(Code::TlsVerify, msg)
    }

    /// Whether a completed handshake passed the policy (it always has when
    /// the callbacks ran; checked again so that a handshake that somehow
    /// skipped them fails closed).
    fn passed(&self) -> bool {
        let st = self.state.lock();
        if !self.pins.is_empty() {
            return st.pin_ok == Some(true);
        }
        !st.refused && (st.chain_done || self.ignore == Ignore::Everything)
    }
}

/// Runs the TLS handshake on `tcp` (non-blocking) within the deadline.
pub fn handshake<S: std::io::Read + std::io::Write + AsRawFd>(
    tcp: S,
    target: &Target,
    t: &TlsOptions,
    deadline: Option<Instant>,
) -> Result<(StreamOver<S>, TlsSummary)> {
    let peer = target.peer();
    let ctx = context(t)?;
    let mut ssl = Ssl::new(&ctx).map_err(setup_err)?;
    let host = target.tls_domain();
    let v = Arc::new(Verifier {
        ignore: t.ignore.clone(),
        pins: t.pins.clone(),
        ocsp: t.ocsp,
        host: host.clone(),
        crls: t.crls.crls.clone(),
        state: Mutex::new(State::default()),
    });
    if let HostKind::Name(n) = &target.host {
        ssl.set_hostname(n).map_err(setup_err)?;
    }
    if t.pins.is_empty() {
        let p = ssl.param_mut();
        p.set_hostflags(X509CheckFlags::NO_PARTIAL_WILDCARDS);
        match &target.host {
            HostKind::Name(n) => p.set_host(n),
            HostKind::V4(a) => p.set_ip((*a).into()),
            HostKind::V6(a) => p.set_ip((*a).into()),
        }
        .map_err(setup_err)?;
    }
    let cb = v.clone();
    ssl.set_verify_callback(SslVerifyMode::PEER, move |ok, x| cb.on_verify(ok, x));
    if t.ocsp != Ocsp::Off {
        ssl.set_status_type(StatusType::OCSP).map_err(setup_err)?;
        ssl.set_ex_data(verifier_index().map_err(setup_err)?, v.clone());
    }
    let fd = tcp.as_raw_fd();
    let mut r = ssl.connect(tcp);
    let mut s = loop {
        match r {
            Ok(s) => break s,
            Err(HandshakeError::SetupFailure(e)) => return Err(setup_err(e)),
            Err(HandshakeError::Failure(mid)) => {
                let refused = {
                    let st = v.state.lock();
                    st.refused || st.pin_ok == Some(false)
                };
                if refused {
                    return Err(v.refusal(t, &peer));
                }
                // server_random stays zero until the ServerHello arrived.
                let mut random = [0u8; 32];
                let n = mid.ssl().server_random(&mut random);
                let answered = random[..n].iter().any(|b| *b != 0);
                let e = mid.error();
                let why = describe_failure(e.ssl_error(), e.io_error(), t.identity.is_some(), answered);
                return Err(Error::new(Code::Tls, format!("TLS handshake with {peer}: {why}")));
            }
            Err(HandshakeError::WouldBlock(mid)) => {
                let events = if mid.error().code() == ErrorCode::WANT_WRITE { sys::POLLOUT } else { sys::POLLIN };
                let ready = if deadline.is_some_and(|d| Instant::now() >= d) {
                    0
                } else {
                    sys::poll_fd(fd, events, deadline)
                        .map_err(|e| Error::io(Code::Tls, &format!("TLS handshake with {peer}"), &e))?
                };
                if ready == 0 {
                    return Err(Error::new(Code::Timeout, format!("timeout during TLS handshake with {peer}")));
                }
                r = mid.handshake();
            }
        }
    };
    if !v.passed() {
        let _ = s.shutdown();
        return Err(v.refusal(t, &peer));
    }
    let summary = summary(&s, &v);
    Ok((s, summary))
}

fn summary<S>(s: &SslStream<S>, v: &Verifier) -> TlsSummary {
    let ssl = s.ssl();
    let leaf = ssl.peer_certificate();
    let mut ignored: Vec<Class> = Vec::new();
    for seen in v.state.lock().seen.iter().filter(|s| s.ignored) {
        if !ignored.contains(&seen.problem.class) {
            ignored.push(seen.problem.class);
        }
    }
    TlsSummary {
        version: ssl.version_str().to_string(),
        cipher: ssl.current_cipher().map(|c| c.name().to_string()).unwrap_or_default(),
        cert_sha256: leaf.as_ref().and_then(|c| verify::cert_sha256(c)),
        spki_sha256: leaf.as_ref().and_then(|c| verify::spki_sha256(c)),
        subject: leaf.as_ref().map(|c| verify::name(c.subject_name())).unwrap_or_default(),
        issuer: leaf.as_ref().map(|c| verify::name(c.issuer_name())).unwrap_or_default(),
        ignored,
    }
}

/// Nothing to refuse: every option works on this backend.
pub fn check_supported(_t: &TlsOptions) -> std::result::Result<(), String> {
    Ok(())
}
