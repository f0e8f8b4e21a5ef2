//! Certificates made at test time (a test CA, intermediates, server and
//! client certificates with any names and dates, keys in every PEM form)
//! and in-process TLS WebSocket echo servers on 127.0.0.1:0, for tests/tls.rs.
//! Everything uses the `openssl` crate the library already links.
#![allow(dead_code)]

pub mod revocation;

use openssl::asn1::{Asn1Integer, Asn1Time};
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::ssl::{SslAcceptor, SslMethod, SslVerifyMode, SslVersion};
use openssl::x509::extension::{
    BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName, SubjectKeyIdentifier,
};
use openssl::x509::{X509NameBuilder, X509};
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::Duration;

pub const DAY: i64 = 86_400;

pub fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

pub fn ec_key() -> PKey<Private> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap()
}

pub fn rsa_key(bits: u32) -> PKey<Private> {
    PKey::from_rsa(Rsa::generate(bits).unwrap()).unwrap()
}

/// A certificate and its key.
#[derive(Clone)]
pub struct Cert {
    pub cert: X509,
    pub key: PKey<Private>,
}

impl Cert {
    pub fn pem(&self) -> String {
        String::from_utf8(self.cert.to_pem().unwrap()).unwrap()
    }
    pub fn key_pkcs8(&self) -> String {
        String::from_utf8(self.key.private_key_to_pem_pkcs8().unwrap()).unwrap()
    }
    /// SHA-256 of the certificate as "AB:CD:...".
    pub fn sha256_colons(&self) -> String {
        hex(&self.cert.digest(MessageDigest::sha256()).unwrap(), ":")
    }
    pub fn spki_sha256_hex(&self) -> String {
        let der = self.cert.public_key().unwrap().public_key_to_der().unwrap();
        hex(&openssl::hash::hash(MessageDigest::sha256(), &der).unwrap(), "")
    }
}

pub fn hex(b: &[u8], sep: &str) -> String {
    b.iter().map(|x| format!("{x:02X}")).collect::<Vec<_>>().join(sep)
}

/// What to put in a certificate.
pub struct Spec<'a> {
    pub cn: &'a str,
    /// "DNS:name" or "IP:addr" entries; empty: no subjectAltName.
    pub sans: &'a [&'a str],
    /// Validity relative to now, in seconds.
    pub not_before: i64,
    pub not_after: i64,
    pub ca: bool,
    pub client: bool,
}

impl<'a> Spec<'a> {
    /// A server certificate for 127.0.0.1 and localhost, valid now.
    pub fn server(cn: &'a str) -> Spec<'a> {
        Spec {
            cn,
            sans: &["DNS:localhost", "IP:127.0.0.1"],
            not_before: -DAY,
            not_after: 30 * DAY,
            ca: false,
            client: false,
        }
    }
    pub fn client(cn: &'a str) -> Spec<'a> {
        Spec { cn, sans: &[], not_before: -DAY, not_after: 30 * DAY, ca: false, client: true }
    }
    pub fn ca(cn: &'a str) -> Spec<'a> {
        Spec { cn, sans: &[], not_before: -DAY, not_after: 365 * DAY, ca: true, client: false }
    }
}

/// Makes a certificate for `key` (a new EC key if None), signed by
/// `issuer` (self-signed if None).
pub fn make(spec: &Spec, key: Option<PKey<Private>>, issuer: Option<&Cert>) -> Cert {
    let key = key.unwrap_or_else(ec_key);
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_nid(Nid::COMMONNAME, spec.cn).unwrap();
    name.append_entry_by_nid(Nid::ORGANIZATIONNAME, "wsclient tests").unwrap();
    let name = name.build();
    let mut b = X509::builder().unwrap();
    b.set_version(2).unwrap();
    let mut serial = BigNum::new().unwrap();
    serial.rand(120, MsbOption::MAYBE_ZERO, false).unwrap();
    b.set_serial_number(&Asn1Integer::from_bn(&serial).unwrap()).unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(issuer.map_or(&name, |i| i.cert.subject_name())).unwrap();
    b.set_pubkey(&key).unwrap();
    b.set_not_before(&Asn1Time::from_unix(now() + spec.not_before).unwrap()).unwrap();
    b.set_not_after(&Asn1Time::from_unix(now() + spec.not_after).unwrap()).unwrap();
    if spec.ca {
        b.append_extension(BasicConstraints::new().critical().ca().build().unwrap()).unwrap();
        b.append_extension(KeyUsage::new().critical().key_cert_sign().crl_sign().build().unwrap()).unwrap();
        let skid = SubjectKeyIdentifier::new().build(&b.x509v3_context(None, None)).unwrap();
        b.append_extension(skid).unwrap();
    } else {
        b.append_extension(BasicConstraints::new().build().unwrap()).unwrap();
        b.append_extension(KeyUsage::new().critical().digital_signature().key_encipherment().build().unwrap()).unwrap();
        let mut eku = ExtendedKeyUsage::new();
        if spec.client {
            eku.client_auth();
        } else {
            eku.server_auth();
        }
        b.append_extension(eku.build().unwrap()).unwrap();
    }
    if !spec.sans.is_empty() {
        let mut san = SubjectAlternativeName::new();
        for s in spec.sans {
            if let Some(d) = s.strip_prefix("DNS:") {
                san.dns(d);
            } else if let Some(ip) = s.strip_prefix("IP:") {
                san.ip(ip);
            }
        }
        let ext = san.build(&b.x509v3_context(issuer.map(|i| &*i.cert), None)).unwrap();
        b.append_extension(ext).unwrap();
    }
    let signer = issuer.map_or(&key, |i| &i.key);
    b.sign(signer, MessageDigest::sha256()).unwrap();
    Cert { cert: b.build(), key }
}

/// A temporary directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "wsclient-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    pub fn file(&self, name: &str, contents: &[u8]) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, contents).unwrap();
        p
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// How the in-process TLS server behaves.
#[derive(Clone, Default)]
pub struct ServerOpts {
    /// CA certificates sent after the server's own certificate.
    pub chain: Vec<X509>,
    pub max_version: Option<SslVersion>,
    pub min_version: Option<SslVersion>,
    /// Require a client certificate issued by this CA.
    pub client_ca: Option<X509>,
    /// Ask for a client certificate and accept any (or none), recording
    /// the subject of each one that arrives in `TlsServer::client_certs`.
    pub request_client_cert: bool,
    /// OpenSSL security level 0, to serve weak (legacy device) keys.
    pub legacy: bool,
    /// A DER OCSP response stapled when the client asks for one.
    pub ocsp: Option<Vec<u8>>,
}

/// A TLS WebSocket echo server on 127.0.0.1:0. It counts TCP connections
/// and completed TLS handshakes, records the client certificates it saw and
/// what each handshake negotiated. Stops on drop.
pub struct TlsServer {
    pub port: u16,
    pub connections: Arc<AtomicUsize>,
    pub handshakes: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    pub errors: Arc<Mutex<Vec<String>>>,
    /// Subjects of the client certificates presented to the server.
    pub client_certs: Arc<Mutex<Vec<String>>>,
    /// (version, cipher) of every completed handshake, as the server saw it.
    pub negotiated: Arc<Mutex<Vec<(String, String)>>>,
    /// How many clients asked for a stapled OCSP response.
    pub status_requests: Arc<AtomicUsize>,
    /// Probe connections made by `connections_so_far`.
    probes: AtomicUsize,
    /// Client addresses in the order of accept.
    peers: Arc<(Mutex<Vec<SocketAddr>>, Condvar)>,
}

fn acceptor(server: &Cert, opts: &ServerOpts, seen: &Arc<Mutex<Vec<String>>>, asked: &Arc<AtomicUsize>) -> SslAcceptor {
    let mut b = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server()).unwrap();
    if opts.legacy {
        b.set_security_level(0);
    }
    b.set_certificate(&server.cert).unwrap();
    b.set_private_key(&server.key).unwrap();
    for c in &opts.chain {
        b.add_extra_chain_cert(c.clone()).unwrap();
    }
    if let Some(v) = opts.max_version {
        b.set_max_proto_version(Some(v)).unwrap();
    }
    if let Some(v) = opts.min_version {
        b.set_min_proto_version(Some(v)).unwrap();
    }
    let record = |seen: Arc<Mutex<Vec<String>>>| {
        move |ok: bool, ctx: &mut openssl::x509::X509StoreContextRef| {
            if ctx.error_depth() == 0 {
                if let Some(c) = ctx.current_cert() {
                    let cn =
                        c.subject_name().entries().map(|e| String::from_utf8_lossy(e.data().as_slice()).into_owned());
                    let name = cn.collect::<Vec<_>>().join(", ");
                    let mut v = seen.lock().unwrap();
                    if !v.contains(&name) {
                        v.push(name);
                    }
                }
            }
            ok
        }
    };
    match (&opts.client_ca, opts.request_client_cert) {
        (Some(ca), _) => {
            let mut store = openssl::x509::store::X509StoreBuilder::new().unwrap();
            store.add_cert(ca.clone()).unwrap();
            b.set_verify_cert_store(store.build()).unwrap();
            b.set_verify_callback(SslVerifyMode::PEER | SslVerifyMode::FAIL_IF_NO_PEER_CERT, record(seen.clone()));
        }
        (None, true) => {
            let rec = record(seen.clone());
            b.set_verify_callback(SslVerifyMode::PEER, move |ok, ctx| {
                rec(ok, ctx);
                true
            });
        }
        (None, false) => b.set_verify(SslVerifyMode::NONE),
    }
    let staple = opts.ocsp.clone();
    let asked = asked.clone();
    b.set_status_callback(move |ssl| {
        asked.fetch_add(1, Ordering::SeqCst);
        match &staple {
            Some(der) => {
                ssl.set_ocsp_status(der)?;
                Ok(true)
            }
            None => Ok(false),
        }
    })
    .unwrap();
    b.build()
}

impl TlsServer {
    pub fn start(server: &Cert, opts: ServerOpts) -> TlsServer {
        TlsServer::start_seq(std::slice::from_ref(server), opts)
    }

    /// Presents `certs[n]` on the n-th TCP connection (the last one on
    /// every later connection): a man in the middle that shows one
    /// certificate to the first handshake and another to the next.
    pub fn start_seq(certs: &[Cert], opts: ServerOpts) -> TlsServer {
        let client_certs = Arc::new(Mutex::new(Vec::new()));
        let status_requests = Arc::new(AtomicUsize::new(0));
        let acceptors: Vec<Arc<SslAcceptor>> =
            certs.iter().map(|c| Arc::new(acceptor(c, &opts, &client_certs, &status_requests))).collect();
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let connections = Arc::new(AtomicUsize::new(0));
        let handshakes = Arc::new(AtomicUsize::new(0));
        let errors = Arc::new(Mutex::new(Vec::new()));
        let negotiated = Arc::new(Mutex::new(Vec::new()));
        let peers = Arc::new((Mutex::new(Vec::new()), Condvar::new()));
        let (st, cn, hs, er, ng, pe) =
            (stop.clone(), connections.clone(), handshakes.clone(), errors.clone(), negotiated.clone(), peers.clone());
        thread::spawn(move || {
            for s in listener.incoming() {
                if st.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(s) = s else { continue };
                let n = cn.fetch_add(1, Ordering::SeqCst);
                if let Ok(a) = s.peer_addr() {
                    pe.0.lock().unwrap().push(a);
                    pe.1.notify_all();
                }
                let acceptor = acceptors[n.min(acceptors.len() - 1)].clone();
                let (hs, er, ng) = (hs.clone(), er.clone(), ng.clone());
                thread::spawn(move || {
                    let _ = s.set_read_timeout(Some(Duration::from_secs(20)));
                    let _ = s.set_write_timeout(Some(Duration::from_secs(20)));
                    let tls = match acceptor.accept(s) {
                        Ok(t) => t,
                        Err(e) => {
                            er.lock().unwrap().push(e.to_string());
                            return;
                        }
                    };
                    hs.fetch_add(1, Ordering::SeqCst);
                    let cipher = tls.ssl().current_cipher().map(|c| c.name().to_string()).unwrap_or_default();
                    ng.lock().unwrap().push((tls.ssl().version_str().to_string(), cipher));
                    let Ok(mut ws) = tungstenite::accept(tls) else { return };
                    while let Ok(m) = ws.read() {
                        if (m.is_text() || m.is_binary()) && ws.send(m).is_err() {
                            break;
                        }
                    }
                });
            }
        });
        TlsServer {
            port,
            connections,
            handshakes,
            stop,
            errors,
            client_certs,
            negotiated,
            status_requests,
            probes: AtomicUsize::new(0),
            peers,
        }
    }

    pub fn url(&self) -> String {
        format!("wss://127.0.0.1:{}/", self.port)
    }

    pub fn url_host(&self, host: &str) -> String {
        format!("wss://{host}:{}/", self.port)
    }

    /// The number of TCP connections made to the server so far: a probe
    /// connection goes through the same accept loop, so once the server has
    /// accepted the probe it has counted every earlier connection (the
    /// library makes its connections before ws_open returns).
    pub fn connections_so_far(&self) -> usize {
        let probe = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)).unwrap();
        let me = probe.local_addr().unwrap();
        let (lock, cv) = &*self.peers;
        let (peers, _) =
            cv.wait_timeout_while(lock.lock().unwrap(), Duration::from_secs(10), |p| !p.contains(&me)).unwrap();
        let at = peers.iter().position(|p| *p == me).expect("the server accepted the probe connection");
        at - self.probes.fetch_add(1, Ordering::SeqCst)
    }

    pub fn client_certs(&self) -> Vec<String> {
        self.client_certs.lock().unwrap().clone()
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port));
    }
}

/// A plain-TCP server that answers every connection with an HTTP response
/// (for wss:// to a port that does not speak TLS).
pub fn http_server() -> u16 {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = l.local_addr().unwrap().port();
    thread::spawn(move || {
        for s in l.incoming().take(4) {
            let Ok(mut s) = s else { continue };
            let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
            thread::sleep(Duration::from_millis(200));
        }
    });
    port
}

/// A TCP server that accepts and never says anything.
pub fn silent_server() -> u16 {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = l.local_addr().unwrap().port();
    thread::spawn(move || {
        let mut held = Vec::new();
        for s in l.incoming().take(4) {
            held.push(s);
            thread::sleep(Duration::from_millis(10));
        }
        thread::sleep(Duration::from_secs(5));
    });
    port
}

/// ws_get_tls_info() as Rust strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsInfo {
    pub version: String,
    pub cipher: String,
    pub cert_sha256: String,
    pub pubkey_sha256: String,
    pub subject: String,
    pub issuer: String,
    pub ignored_errors: String,
}

fn field<const N: usize>(a: &[std::ffi::c_char; N]) -> String {
    let bytes: Vec<u8> = a.iter().take_while(|c| **c != 0).map(|c| *c as u8).collect();
    assert!(bytes.len() < N, "field not NUL-terminated");
    String::from_utf8(bytes).expect("UTF-8")
}

/// ws_get_tls_info(s): Ok(info), or Err((WS_E_* code, message)).
pub fn tls_info(s: std::ffi::c_int) -> Result<TlsInfo, (std::ffi::c_int, String)> {
    use wsclient::*;
    let mut info = std::mem::MaybeUninit::<ws_tls_info>::zeroed();
    let r = ws_get_tls_info(s, info.as_mut_ptr(), std::mem::size_of::<ws_tls_info>());
    if r != WS_OK {
        assert_eq!(r, WS_ERROR);
        let msg = unsafe { std::ffi::CStr::from_ptr(ws_last_error()) }.to_string_lossy().into_owned();
        return Err((ws_last_error_code(), msg));
    }
    // SAFETY: the library wrote the whole struct.
    let i = unsafe { info.assume_init() };
    Ok(TlsInfo {
        version: field(&i.version),
        cipher: field(&i.cipher),
        cert_sha256: field(&i.cert_sha256),
        pubkey_sha256: field(&i.pubkey_sha256),
        subject: field(&i.subject),
        issuer: field(&i.issuer),
        ignored_errors: field(&i.ignored_errors),
    })
}
