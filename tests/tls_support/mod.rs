//! Certificates made at test time (a test CA, intermediates, server and
//! client certificates with any names and dates, keys in every PEM form)
//! and in-process TLS WebSocket echo servers on 127.0.0.1:0, for tests/tls.rs.
//! Everything uses the `openssl` crate the library already links.
#![allow(dead_code)]

use openssl::asn1::{Asn1Integer, Asn1Time};
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::ssl::{SslAcceptor, SslMethod, SslVerifyMode, SslVersion};
use openssl::x509::extension::{BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName};
use openssl::x509::{X509NameBuilder, X509};
use std::io::Write;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
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
    /// Require a client certificate issued by this CA.
    pub client_ca: Option<X509>,
    /// OpenSSL security level 0, to serve weak (legacy device) keys.
    pub legacy: bool,
}

/// A TLS WebSocket echo server on 127.0.0.1:0. It counts TCP connections
/// and completed TLS handshakes (the library may make a second handshake to
/// inspect a certificate). Stops on drop.
pub struct TlsServer {
    pub port: u16,
    pub connections: Arc<AtomicUsize>,
    pub handshakes: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    pub errors: Arc<Mutex<Vec<String>>>,
}

impl TlsServer {
    pub fn start(server: &Cert, opts: ServerOpts) -> TlsServer {
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
        match &opts.client_ca {
            Some(ca) => {
                let mut store = openssl::x509::store::X509StoreBuilder::new().unwrap();
                store.add_cert(ca.clone()).unwrap();
                b.set_verify_cert_store(store.build()).unwrap();
                b.set_verify(SslVerifyMode::PEER | SslVerifyMode::FAIL_IF_NO_PEER_CERT);
            }
            None => b.set_verify(SslVerifyMode::NONE),
        }
        let acceptor = Arc::new(b.build());
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let connections = Arc::new(AtomicUsize::new(0));
        let handshakes = Arc::new(AtomicUsize::new(0));
        let errors = Arc::new(Mutex::new(Vec::new()));
        let (st, cn, hs, er) = (stop.clone(), connections.clone(), handshakes.clone(), errors.clone());
        thread::spawn(move || {
            for s in listener.incoming() {
                if st.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(s) = s else { continue };
                cn.fetch_add(1, Ordering::SeqCst);
                let (acceptor, hs, er) = (acceptor.clone(), hs.clone(), er.clone());
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
                    // A connection the client only inspected ends here.
                    let Ok(mut ws) = tungstenite::accept(tls) else { return };
                    while let Ok(m) = ws.read() {
                        if (m.is_text() || m.is_binary()) && ws.send(m).is_err() {
                            break;
                        }
                    }
                });
            }
        });
        TlsServer { port, connections, handshakes, stop, errors }
    }

    pub fn url(&self) -> String {
        format!("wss://127.0.0.1:{}/", self.port)
    }

    pub fn url_host(&self, host: &str) -> String {
        format!("wss://{host}:{}/", self.port)
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
