//! wss:// through the C API: certificate verification by WinCC/Qt class
//! ("ignoreSslErrors"), extra CAs, pinning, minimum TLS version, client
//! certificates ("sslConfig") and the error messages, against in-process
//! TLS servers with certificates made at test time, and against a real
//! nginx (tests/nginx/ensure-nginx.sh installs it in CI) that requires a
//! client certificate.
//!
//! Every connection is made with ws_open on 127.0.0.1 and checked by an
//! echo round trip; every test has a watchdog.

mod support;
mod tls_support;

use serde_json::{json, Value};
use std::ffi::c_int;
use std::time::Duration;
use support::*;
use tls_support::*;

const LIMIT: Duration = Duration::from_secs(90);

/// ws_open with `options`; on success an echo round trip and ws_close.
fn try_open(url: &str, options: &Value) -> Result<(), (c_int, String)> {
    let o = options.to_string();
    let s = open(url, Some(&o));
    if s > 0 {
        write_ok(s, b"hello over TLS", WS_TEXT);
        let (t, d) = read_msg(s, 10_000);
        assert_eq!((t, d.as_slice()), (WS_TEXT, &b"hello over TLS"[..]));
        close_ok(s);
        return Ok(());
    }
    assert_eq!(s, WS_ERROR, "ws_open returned {s}: {}", describe());
    Err((last_code(), last_error()))
}

#[track_caller]
fn accepted(url: &str, options: &Value) {
    if let Err((c, m)) = try_open(url, options) {
        panic!("expected ws_open({url}) to succeed with {options}, got {} \"{m}\"", error_name(c));
    }
}

#[track_caller]
fn rejected(url: &str, options: &Value, code: c_int, needles: &[&str]) -> String {
    match try_open(url, options) {
        Ok(()) => panic!("expected ws_open({url}) to fail with {options}"),
        Err((c, m)) => {
            assert_eq!(error_name(c), error_name(code), "{m}");
            for n in needles {
                assert!(m.contains(n), "error message \"{m}\" does not contain \"{n}\"");
            }
            println!("{} {m}", error_name(c));
            m
        }
    }
}

fn test_ca() -> Cert {
    make(&Spec::ca("wsclient test CA"), None, None)
}

/// One server certificate with one verification problem.
struct Case {
    server: Cert,
    opts: ServerOpts,
    class: &'static str,
    /// Other text the message must hold (dates, names).
    detail: String,
    /// Ignore lists that do not cover the problem: one handled by OpenSSL
    /// in the handshake, one by the library's own examination.
    others: [&'static str; 2],
}

/// Rejected by default with the class, the fingerprint and
/// WS_E_TLS_VERIFY; accepted when (and only when) the class is ignored.
fn check_case(case: Case, ca: &Cert) {
    let srv = TlsServer::start(&case.server, case.opts.clone());
    let url = srv.url();
    let trust = json!({ "caCertificates": ca.pem() });
    let fp = case.server.sha256_colons();
    let msg = rejected(
        &url,
        &trust,
        WS_E_TLS_VERIFY,
        &[
            &format!("TLS handshake with 127.0.0.1:{}: {}", srv.port, case.class),
            &case.detail,
            &format!("SHA-256 {fp}"),
        ],
    );
    assert!(msg.starts_with("TLS handshake with"), "{msg}");
    for other in case.others {
        let o = json!({ "caCertificates": ca.pem(), "ignoreSslErrors": [other] });
        rejected(
            &url,
            &o,
            WS_E_TLS_VERIFY,
            &[case.class, &case.detail, &fp, &format!("not in ignoreSslErrors [{other}]")],
        );
    }
    accepted(&url, &json!({ "caCertificates": ca.pem(), "ignoreSslErrors": [case.class] }));
    // Also as part of a longer list.
    accepted(
        &url,
        &json!({ "caCertificates": ca.pem(), "ignoreSslErrors": ["CertificateRevoked", case.class, "InvalidPurpose"] }),
    );
}

#[test]
fn valid_chain_via_custom_ca() {
    let _w = watchdog("valid_chain_via_custom_ca", LIMIT);
    let ca = test_ca();
    let server = make(&Spec::server("device"), None, Some(&ca));
    let srv = TlsServer::start(&server, ServerOpts::default());
    // Not in the system store: refused, with what to pin.
    rejected(
        &srv.url(),
        &json!({}),
        WS_E_TLS_VERIFY,
        &[
            "UnableToGetLocalIssuerCertificate (issuer \"CN=wsclient test CA, O=wsclient tests\" is not a trusted CA)",
            &format!("SHA-256 {}", server.sha256_colons()),
            "server certificate \"CN=device, O=wsclient tests\" issued by \"CN=wsclient test CA, O=wsclient tests\"",
        ],
    );
    accepted(&srv.url(), &json!({ "caCertificates": ca.pem() }));
    accepted(&srv.url_host("localhost"), &json!({ "caCertificates": [ca.pem()] }));
    accepted(&srv.url(), &json!({ "caCertificates": ca.pem(), "caCertificatesOnly": true }));
    let dir = TempDir::new("ca");
    let f = dir.file("ca.pem", ca.pem().as_bytes());
    accepted(&srv.url(), &json!({ "caCertificatesFile": f, "caCertificatesOnly": true }));
    accepted(&srv.url(), &json!({ "caCertificatesFile": [f] }));
    // Another CA only: refused.
    let other = make(&Spec::ca("other CA"), None, None);
    rejected(
        &srv.url(),
        &json!({ "caCertificates": other.pem(), "caCertificatesOnly": true }),
        WS_E_TLS_VERIFY,
        &["UnableToGetLocalIssuerCertificate"],
    );
}

#[test]
fn wrong_host_name() {
    let _w = watchdog("wrong_host_name", LIMIT);
    let ca = test_ca();
    let server = make(&Spec { sans: &["DNS:other.example", "IP:10.9.8.7"], ..Spec::server("other") }, None, Some(&ca));
    check_case(
        Case {
            server,
            opts: ServerOpts::default(),
            class: "HostNameMismatch",
            detail: "HostNameMismatch (127.0.0.1 is not in the certificate: DNS:other.example, IP:10.9.8.7)".into(),
            others: ["CertificateExpired", "SelfSignedCertificate"],
        },
        &ca,
    );
}

#[test]
fn host_name_by_name_and_cn_only() {
    let _w = watchdog("host_name_by_name_and_cn_only", LIMIT);
    let ca = test_ca();
    let server = make(&Spec { sans: &["DNS:localhost"], ..Spec::server("localhost") }, None, Some(&ca));
    let srv = TlsServer::start(&server, ServerOpts::default());
    accepted(&srv.url_host("localhost"), &json!({ "caCertificates": ca.pem() }));
    rejected(
        &srv.url(),
        &json!({ "caCertificates": ca.pem() }),
        WS_E_TLS_VERIFY,
        &["HostNameMismatch (127.0.0.1 is not in"],
    );
    // An old-style certificate naming its host only in the CN (OpenSSL
    // falls back to the CN when there is no subjectAltName).
    let cn_only = make(&Spec { sans: &[], ..Spec::server("localhost") }, None, Some(&ca));
    let srv = TlsServer::start(&cn_only, ServerOpts::default());
    accepted(&srv.url_host("localhost"), &json!({ "caCertificates": ca.pem() }));
    rejected(
        &srv.url(),
        &json!({ "caCertificates": ca.pem(), "ignoreSslErrors": ["CertificateExpired"] }),
        WS_E_TLS_VERIFY,
        &["HostNameMismatch (127.0.0.1 is not in the certificate: CN=localhost (no subjectAltName))"],
    );
}

#[test]
fn expired() {
    let _w = watchdog("expired", LIMIT);
    let ca = test_ca();
    let server = make(&Spec { not_before: -30 * DAY, not_after: -DAY, ..Spec::server("expired") }, None, Some(&ca));
    check_case(
        Case {
            server,
            opts: ServerOpts::default(),
            class: "CertificateExpired",
            detail: format!("CertificateExpired (notAfter {}", iso_date(now() - DAY)),
            others: ["HostNameMismatch", "CertificateNotYetValid"],
        },
        &ca,
    );
}

#[test]
fn not_yet_valid() {
    let _w = watchdog("not_yet_valid", LIMIT);
    let ca = test_ca();
    let server = make(&Spec { not_before: 10 * DAY, not_after: 40 * DAY, ..Spec::server("future") }, None, Some(&ca));
    check_case(
        Case {
            server,
            opts: ServerOpts::default(),
            class: "CertificateNotYetValid",
            detail: format!("CertificateNotYetValid (notBefore {}", iso_date(now() + 10 * DAY)),
            others: ["HostNameMismatch", "CertificateExpired"],
        },
        &ca,
    );
}

#[test]
fn self_signed() {
    let _w = watchdog("self_signed", LIMIT);
    let ca = test_ca();
    let server = make(&Spec::server("plc-17"), None, None);
    check_case(
        Case {
            server,
            opts: ServerOpts::default(),
            class: "SelfSignedCertificate",
            detail: "\"CN=plc-17, O=wsclient tests\" is self-signed and not trusted".into(),
            others: ["HostNameMismatch", "UnableToGetLocalIssuerCertificate"],
        },
        &ca,
    );
}

#[test]
fn unknown_issuer() {
    let _w = watchdog("unknown_issuer", LIMIT);
    let ca = test_ca();
    let unknown = make(&Spec::ca("unknown CA"), None, None);
    let server = make(&Spec::server("device"), None, Some(&unknown));
    check_case(
        Case {
            server,
            opts: ServerOpts::default(),
            class: "UnableToGetLocalIssuerCertificate",
            detail: "issuer \"CN=unknown CA, O=wsclient tests\" is not a trusted CA".into(),
            others: ["HostNameMismatch", "SelfSignedCertificateInChain"],
        },
        &ca,
    );
}

/// The server sends its certificate and the untrusted root that issued it:
/// Qt's SelfSignedCertificateInChain, which native-tls alone cannot tell
/// from UnableToGetLocalIssuerCertificate (it shows only the server's own
/// certificate); the library asks OpenSSL in a second handshake.
#[test]
fn self_signed_in_chain() {
    let _w = watchdog("self_signed_in_chain", LIMIT);
    let ca = test_ca();
    let plant = make(&Spec::ca("plant root"), None, None);
    let server = make(&Spec::server("device"), None, Some(&plant));
    check_case(
        Case {
            server,
            opts: ServerOpts { chain: vec![plant.cert.clone()], ..Default::default() },
            class: "SelfSignedCertificateInChain",
            detail: "self-signed".into(),
            others: ["HostNameMismatch", "UnableToGetLocalIssuerCertificate"],
        },
        &ca,
    );
}

/// Two problems at once: ignoring one still refuses the other, and the
/// message says which was ignored.
#[test]
fn several_problems() {
    let _w = watchdog("several_problems", LIMIT);
    let ca = test_ca();
    let server = make(
        &Spec { sans: &["DNS:elsewhere"], not_before: -30 * DAY, not_after: -DAY, ..Spec::server("elsewhere") },
        None,
        Some(&ca),
    );
    let srv = TlsServer::start(&server, ServerOpts::default());
    let url = srv.url();
    let pem = ca.pem();
    rejected(
        &url,
        &json!({ "caCertificates": pem }),
        WS_E_TLS_VERIFY,
        &["HostNameMismatch (", "CertificateExpired (notAfter"],
    );
    let m = rejected(
        &url,
        &json!({ "caCertificates": pem, "ignoreSslErrors": ["CertificateExpired"] }),
        WS_E_TLS_VERIFY,
        &[
            "HostNameMismatch (127.0.0.1 is not in the certificate: DNS:elsewhere)",
            "not in ignoreSslErrors [CertificateExpired] (ignored: CertificateExpired)",
        ],
    );
    assert!(!m.contains("CertificateExpired (notAfter"), "{m}");
    rejected(
        &url,
        &json!({ "caCertificates": pem, "ignoreSslErrors": ["HostNameMismatch"] }),
        WS_E_TLS_VERIFY,
        &["CertificateExpired (notAfter"],
    );
    accepted(&url, &json!({ "caCertificates": pem, "ignoreSslErrors": ["CertificateExpired", "HostNameMismatch"] }));
    accepted(&url, &json!({ "caCertificates": pem, "ignoreSslErrors": "CertificateExpired, HostNameMismatch" }));
}

/// An old device key (RSA 1024) is too weak for OpenSSL's security level
/// on Debian: Qt reports that as UnspecifiedError, and so do we, whichever
/// way the certificate is examined.
#[test]
fn weak_key() {
    let _w = watchdog("weak_key", LIMIT);
    let ca = test_ca();
    let server = make(&Spec::server("old-plc"), Some(rsa_key(1024)), Some(&ca));
    let srv = TlsServer::start(&server, ServerOpts { legacy: true, ..Default::default() });
    let trust = ca.pem();
    rejected(
        &srv.url(),
        &json!({ "caCertificates": trust }),
        WS_E_TLS_VERIFY,
        &["UnspecifiedError (EE certificate key too weak)"],
    );
    rejected(
        &srv.url(),
        &json!({ "caCertificates": trust, "ignoreSslErrors": ["SelfSignedCertificate"] }),
        WS_E_TLS_VERIFY,
        &["UnspecifiedError (EE certificate key too weak)"],
    );
    accepted(&srv.url(), &json!({ "caCertificates": trust, "ignoreSslErrors": ["UnspecifiedError"] }));
}

#[test]
fn ignore_everything() {
    let _w = watchdog("ignore_everything", LIMIT);
    // Self-signed, expired and for another host.
    let server = make(
        &Spec { sans: &["DNS:x.example"], not_before: -9 * DAY, not_after: -DAY, ..Spec::server("x") },
        None,
        None,
    );
    let srv = TlsServer::start(&server, ServerOpts::default());
    for all in [json!(true), json!(""), json!([])] {
        accepted(&srv.url(), &json!({ "ignoreSslErrors": all }));
    }
    rejected(&srv.url(), &json!({ "ignoreSslErrors": false }), WS_E_TLS_VERIFY, &["SelfSignedCertificate"]);
    // One TCP connection per open without verification (no second
    // handshake); the refusal adds one to fetch the certificate.
    let t0 = std::time::Instant::now();
    while srv.connections.load(std::sync::atomic::Ordering::SeqCst) < 5 && t0.elapsed() < Duration::from_secs(2) {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(srv.connections.load(std::sync::atomic::Ordering::SeqCst), 3 + 2);
}

/// Chains through an intermediate CA that only the server sends (native-tls
/// does not show it to the library): ignore lists must not break a good
/// chain, and cannot be applied blindly to a bad one.
#[test]
fn intermediate_sent_by_server() {
    let _w = watchdog("intermediate_sent_by_server", LIMIT);
    let root = test_ca();
    let inter = make(&Spec::ca("issuing CA"), None, Some(&root));
    let good = make(&Spec::server("device"), None, Some(&inter));
    let srv = TlsServer::start(&good, ServerOpts { chain: vec![inter.cert.clone()], ..Default::default() });
    let trust = root.pem();
    accepted(&srv.url(), &json!({ "caCertificates": trust }));
    accepted(&srv.url(), &json!({ "caCertificates": trust, "ignoreSslErrors": ["SelfSignedCertificate"] }));
    accepted(
        &srv.url(),
        &json!({ "caCertificates": trust, "ignoreSslErrors": ["HostNameMismatch", "CertificateExpired"] }),
    );
    // Without the intermediate the chain is incomplete.
    let srv2 = TlsServer::start(&good, ServerOpts::default());
    rejected(
        &srv2.url(),
        &json!({ "caCertificates": trust, "ignoreSslErrors": ["CertificateExpired"] }),
        WS_E_TLS_VERIFY,
        &["UnableToGetLocalIssuerCertificate"],
    );

    // An expired certificate under an intermediate the library cannot see:
    // ignoring CertificateExpired cannot be applied safely (the rest of the
    // chain went unchecked), unless the intermediate is in caCertificates.
    let expired = make(&Spec { not_before: -9 * DAY, not_after: -DAY, ..Spec::server("old") }, None, Some(&inter));
    let srv3 = TlsServer::start(&expired, ServerOpts { chain: vec![inter.cert.clone()], ..Default::default() });
    rejected(&srv3.url(), &json!({ "caCertificates": trust }), WS_E_TLS_VERIFY, &["CertificateExpired (notAfter"]);
    rejected(
        &srv3.url(),
        &json!({ "caCertificates": trust, "ignoreSslErrors": ["CertificateExpired"] }),
        WS_E_TLS_VERIFY,
        &["is in ignoreSslErrors, but the rest of the chain cannot be checked", "caCertificates"],
    );
    accepted(
        &srv3.url(),
        &json!({ "caCertificates": [trust, inter.pem()], "ignoreSslErrors": ["CertificateExpired"] }),
    );
    // An expired intermediate in the trust store is named as such.
    let old_inter =
        make(&Spec { not_before: -9 * DAY, not_after: -DAY, ..Spec::ca("old issuing CA") }, None, Some(&root));
    let leaf = make(&Spec::server("device"), None, Some(&old_inter));
    let srv4 = TlsServer::start(&leaf, ServerOpts::default());
    rejected(
        &srv4.url(),
        &json!({ "caCertificates": [trust, old_inter.pem()], "ignoreSslErrors": ["SelfSignedCertificate"] }),
        WS_E_TLS_VERIFY,
        &["CertificateExpired (CA \"CN=old issuing CA, O=wsclient tests\": notAfter"],
    );
    accepted(
        &srv4.url(),
        &json!({ "caCertificates": [trust, old_inter.pem()], "ignoreSslErrors": ["CertificateExpired"] }),
    );
}

/// A chain through a "CA" that is not one (no CA:TRUE): OpenSSL stops
/// checking there, so ignoring InvalidCaCertificate cannot be honoured
/// safely (the leaf's signature would go unchecked): refused with the reason.
#[test]
fn problem_that_stops_the_chain_check() {
    let _w = watchdog("problem_that_stops_the_chain_check", LIMIT);
    let root = test_ca();
    let not_a_ca = make(&Spec { ca: false, ..Spec::server("not a CA") }, None, Some(&root));
    let leaf = make(&Spec::server("device"), None, Some(&not_a_ca));
    let srv = TlsServer::start(&leaf, ServerOpts { chain: vec![not_a_ca.cert.clone()], ..Default::default() });
    let trust = root.pem();
    rejected(&srv.url(), &json!({ "caCertificates": trust }), WS_E_TLS_VERIFY, &["InvalidCaCertificate"]);
    rejected(
        &srv.url(),
        &json!({ "caCertificates": trust, "ignoreSslErrors": ["HostNameMismatch"] }),
        WS_E_TLS_VERIFY,
        &["InvalidCaCertificate"],
    );
    for cas in [json!(trust), json!([trust, not_a_ca.pem()])] {
        rejected(
            &srv.url(),
            &json!({ "caCertificates": cas, "ignoreSslErrors": ["InvalidCaCertificate"] }),
            WS_E_TLS_VERIFY,
            &["InvalidCaCertificate (", "is in ignoreSslErrors, but the rest of the chain cannot be checked"],
        );
    }
}

#[test]
fn pinning() {
    let _w = watchdog("pinning", LIMIT);
    // A device certificate with every problem: self-signed, expired,
    // another host name.
    let device = make(
        &Spec { sans: &["DNS:plc.local"], not_before: -99 * DAY, not_after: -DAY, ..Spec::server("plc") },
        None,
        None,
    );
    let srv = TlsServer::start(&device, ServerOpts::default());
    let url = srv.url();
    // Pin on first use: the refusal names the fingerprint to pin.
    let msg = rejected(&url, &json!({}), WS_E_TLS_VERIFY, &["SelfSignedCertificate"]);
    let fp = msg.rsplit("SHA-256 ").next().unwrap().trim().to_string();
    assert_eq!(fp, device.sha256_colons(), "{msg}");
    accepted(&url, &json!({ "pinnedSha256": fp }));
    accepted(&url, &json!({ "pinnedSha256": fp.replace(':', "").to_lowercase() }));
    accepted(&url, &json!({ "pinnedSha256": device.spki_sha256_hex() }));
    accepted(&url, &json!({ "pinnedSha256": ["00".repeat(32), fp] }));
    let m = rejected(
        &url,
        &json!({ "pinnedSha256": "11".repeat(32) }),
        WS_E_TLS_VERIFY,
        &["CertificatePinMismatch", &format!("SHA-256 {}", device.sha256_colons())],
    );
    assert!(m.contains("public key SHA-256"), "{m}");
    // A good certificate that is not the pinned one is refused too.
    let ca = test_ca();
    let good = make(&Spec::server("good"), None, Some(&ca));
    let srv2 = TlsServer::start(&good, ServerOpts::default());
    rejected(&srv2.url(), &json!({ "pinnedSha256": fp }), WS_E_TLS_VERIFY, &["CertificatePinMismatch"]);
}

#[test]
fn min_tls_version() {
    let _w = watchdog("min_tls_version", LIMIT);
    let ca = test_ca();
    let server = make(&Spec::server("tls12"), None, Some(&ca));
    let srv = TlsServer::start(
        &server,
        ServerOpts { max_version: Some(openssl::ssl::SslVersion::TLS1_2), ..Default::default() },
    );
    accepted(&srv.url(), &json!({ "caCertificates": ca.pem(), "tlsMinVersion": "1.2" }));
    rejected(
        &srv.url(),
        &json!({ "caCertificates": ca.pem(), "tlsMinVersion": "1.3" }),
        WS_E_TLS,
        &[&format!("TLS handshake with 127.0.0.1:{}: ", srv.port), "tlsMinVersion"],
    );
    let srv13 = TlsServer::start(&server, ServerOpts::default());
    accepted(&srv13.url(), &json!({ "caCertificates": ca.pem(), "tlsMinVersion": "TLSv1.3" }));
}

#[test]
fn not_tls_and_timeouts() {
    let _w = watchdog("not_tls_and_timeouts", LIMIT);
    let port = http_server();
    let url = format!("wss://127.0.0.1:{port}/");
    rejected(&url, &json!({}), WS_E_TLS, &["TLS handshake with 127.0.0.1", "the server did not answer with TLS"]);
    for o in [json!({ "timeout": 300 }), json!({ "timeout": 300, "ignoreSslErrors": ["SelfSignedCertificate"] })] {
        let port = silent_server();
        let url = format!("wss://127.0.0.1:{port}/");
        let (r, took) = timed(|| open(&url, Some(&o.to_string())));
        assert_eq!(r, WS_TIMEOUT, "{}", describe());
        assert_error(WS_E_TIMEOUT, &["TLS handshake with 127.0.0.1"]);
        assert!(took < Duration::from_secs(5), "{took:?}");
    }
}

/// A server that requires a client certificate (TLS 1.3: it says so after
/// the handshake, with an alert): every key format works, and no
/// certificate is a clear failure.
#[test]
fn client_certificates_in_process() {
    let _w = watchdog("client_certificates_in_process", LIMIT);
    let ca = test_ca();
    let client_ca = make(&Spec::ca("client CA"), None, None);
    let server = make(&Spec::server("server"), None, Some(&ca));
    let srv = TlsServer::start(&server, ServerOpts { client_ca: Some(client_ca.cert.clone()), ..Default::default() });
    for ck in client_keys() {
        let client = make(&Spec::client(ck.label), Some(ck.key), Some(&client_ca));
        let pk = ck.option;
        accepted(
            &srv.url(),
            &json!({ "caCertificates": ca.pem(), "sslConfig": { "localCertificate": client.pem(), "privateKey": pk } }),
        );
    }
    rejected(
        &srv.url(),
        &json!({ "caCertificates": ca.pem() }),
        WS_E_TLS,
        &[
            // "sending the upgrade request to" or "waiting for the upgrade
            // response from", depending on when the alert arrives.
            &format!(" 127.0.0.1:{}: TLS: tlsv13 alert certificate required", srv.port),
            "the server requires a client certificate: see \"sslConfig\"",
        ],
    );
}

/// A client key in one PEM form, and the "privateKey" option for it.
struct ClientKey {
    /// Also the CN of its certificate.
    label: &'static str,
    key: openssl::pkey::PKey<openssl::pkey::Private>,
    option: Value,
}

/// Client keys in every PEM form WinCC users meet: PKCS#1, SEC1, PKCS#8,
/// encrypted PKCS#8 and legacy encrypted PEM, RSA and EC.
fn client_keys() -> Vec<ClientKey> {
    use openssl::symm::Cipher;
    let rsa = rsa_key(2048);
    let ec = ec_key();
    let pass = b"s3cret pass";
    // (label, key, PEM, algorithm, encrypted, what the PEM must contain)
    let forms = vec![
        ("rsa-pkcs1", &rsa, rsa.rsa().unwrap().private_key_to_pem().unwrap(), "RSA", false, "BEGIN RSA PRIVATE KEY"),
        ("rsa-pkcs8", &rsa, rsa.private_key_to_pem_pkcs8().unwrap(), "RSA", false, "BEGIN PRIVATE KEY"),
        (
            "rsa-pkcs8-encrypted",
            &rsa,
            rsa.private_key_to_pem_pkcs8_passphrase(Cipher::aes_256_cbc(), pass).unwrap(),
            "RSA",
            true,
            "BEGIN ENCRYPTED PRIVATE KEY",
        ),
        (
            "rsa-pkcs1-encrypted",
            &rsa,
            rsa.rsa().unwrap().private_key_to_pem_passphrase(Cipher::aes_128_cbc(), pass).unwrap(),
            "RSA",
            true,
            "Proc-Type: 4,ENCRYPTED",
        ),
        ("ec-sec1", &ec, ec.ec_key().unwrap().private_key_to_pem().unwrap(), "EC", false, "BEGIN EC PRIVATE KEY"),
        ("ec-pkcs8", &ec, ec.private_key_to_pem_pkcs8().unwrap(), "EC", false, "BEGIN PRIVATE KEY"),
        (
            "ec-pkcs8-encrypted",
            &ec,
            ec.private_key_to_pem_pkcs8_passphrase(Cipher::aes_256_cbc(), pass).unwrap(),
            "EC",
            true,
            "BEGIN ENCRYPTED PRIVATE KEY",
        ),
    ];
    forms
        .into_iter()
        .map(|(label, key, pem, alg, encrypted, marker)| {
            let pem = String::from_utf8(pem).unwrap();
            assert!(pem.contains(marker), "{label}: {pem}");
            let mut option = json!({ "key": pem, "algorithm": alg });
            if encrypted {
                option["password"] = json!("s3cret pass");
            }
            ClientKey { label, key: key.clone(), option }
        })
        .collect()
}

#[test]
fn option_errors() {
    let _w = watchdog("option_errors", LIMIT);
    let url = "wss://127.0.0.1:9/";
    let client_ca = make(&Spec::ca("client CA"), None, None);
    let rsa = rsa_key(2048);
    let client = make(&Spec::client("c"), Some(rsa.clone()), Some(&client_ca));
    let other_key = ec_key();
    let enc = String::from_utf8(
        rsa.private_key_to_pem_pkcs8_passphrase(openssl::symm::Cipher::aes_256_cbc(), b"right").unwrap(),
    )
    .unwrap();
    let dsa = openssl::pkey::PKey::from_dsa(openssl::dsa::Dsa::generate(2048).unwrap()).unwrap();
    let dsa_pem = String::from_utf8(dsa.private_key_to_pem_pkcs8().unwrap()).unwrap();
    let cert = client.pem();
    let cases: Vec<(Value, Vec<&str>)> = vec![
        (
            json!({ "ignoreSslErrors": ["CertificateExpird"] }),
            vec!["\"ignoreSslErrors\": unknown SSL error class \"CertificateExpird\"", "CertificateExpired"],
        ),
        (json!({ "ignoreSslErrors": 1 }), vec!["\"ignoreSslErrors\": must be true"]),
        (json!({ "ignoreSslErrors": [true] }), vec!["entries must be class names"]),
        (json!({ "caCertificatesOnly": true }), vec!["needs \"caCertificates\""]),
        (json!({ "caCertificates": "not a pem" }), vec!["\"caCertificates\": no PEM certificate"]),
        (
            json!({ "caCertificatesFile": "/nonexistent/ca.pem" }),
            vec!["cannot read \"/nonexistent/ca.pem\": no such file"],
        ),
        (json!({ "pinnedSha256": "abcd" }), vec!["\"pinnedSha256\": \"abcd\" is not a SHA-256 fingerprint"]),
        (
            json!({ "pinnedSha256": "00".repeat(32), "ignoreSslErrors": true }),
            vec!["cannot be combined with \"ignoreSslErrors\""],
        ),
        (json!({ "tlsMinVersion": "1.0" }), vec!["\"tlsMinVersion\": must be \"1.2\" or \"1.3\""]),
        (json!({ "sslConfig": { "localCertificate": cert } }), vec!["without \"privateKey\""]),
        (json!({ "sslConfig": { "localCertificat": cert } }), vec!["unknown key \"localCertificat\""]),
        (json!({ "sslConfig": { "caCertificates": cert } }), vec!["belongs at the top level"]),
        (
            json!({ "sslConfig": { "localCertificate": "x", "privateKey": { "key": client.key_pkcs8() } } }),
            vec!["no PEM certificate"],
        ),
        (
            json!({ "sslConfig": { "localCertificate": cert, "privateKey": { "key": String::from_utf8(other_key.private_key_to_pem_pkcs8().unwrap()).unwrap(), "algorithm": "EC" } } }),
            vec!["\"privateKey\" does not match \"localCertificate\"", "RSA 2048-bit key", "EC 256-bit key"],
        ),
        (
            json!({ "sslConfig": { "localCertificate": cert, "privateKey": { "key": client.key_pkcs8(), "algorithm": "EC" } } }),
            vec!["\"algorithm\" is \"EC\" but the key is an RSA key"],
        ),
        (
            json!({ "sslConfig": { "localCertificate": cert, "privateKey": { "key": client.key_pkcs8(), "algorithm": "DSA" } } }),
            vec!["DSA keys are unsupported"],
        ),
        (
            json!({ "sslConfig": { "localCertificate": cert, "privateKey": { "key": dsa_pem } } }),
            vec!["DSA keys are unsupported"],
        ),
        (
            json!({ "sslConfig": { "localCertificate": cert, "privateKey": { "key": enc } } }),
            vec!["the key is encrypted: give its \"password\""],
        ),
        (
            json!({ "sslConfig": { "localCertificate": cert, "privateKey": { "key": enc, "password": "wrong" } } }),
            vec!["cannot decrypt the key: wrong \"password\"?"],
        ),
        (
            json!({ "sslConfig": { "localCertificate": cert, "privateKey": { "keyFile": "/nonexistent/k.pem" } } }),
            vec!["\"privateKey\".\"keyFile\": cannot read"],
        ),
        (json!({ "sslConfig": { "localCertificate": cert, "privateKey": { "key": "junk" } } }), vec!["not a PEM key"]),
    ];
    for (o, needles) in cases {
        let r = open(url, Some(&o.to_string()));
        assert_eq!(r, WS_ERROR, "{o}");
        let mut n = vec!["argument error in options: "];
        n.extend(needles);
        assert_error(WS_E_INVALID_OPTIONS, &n);
    }
    // The right password, and files instead of text, are fine (the
    // connection then fails: nothing listens on port 9).
    let dir = TempDir::new("opts");
    let cf = dir.file("c.pem", cert.as_bytes());
    let kf = dir.file("k.pem", enc.as_bytes());
    let o = json!({ "sslConfig": { "localCertificateFile": cf, "privateKey": { "keyFile": kf, "password": "right", "algorithm": "RSA" } } });
    assert_eq!(open(url, Some(&o.to_string())), WS_ERROR);
    assert_eq!(error_name(last_code()), "WS_E_CONNECT", "{}", describe());
}

/// The library's checks use the same system trust store as native-tls: a
/// CA installed through SSL_CERT_FILE is trusted by both, and
/// "caCertificatesOnly" turns it off. Runs in a child process, since the
/// store is located once per process.
#[test]
fn system_trust_store() {
    let _w = watchdog("system_trust_store", LIMIT);
    let ca = test_ca();
    let dir = TempDir::new("sys");
    let f = dir.file("system-ca.pem", ca.pem().as_bytes());
    let key_pem = ca.key_pkcs8();
    let kf = dir.file("system-ca.key", key_pem.as_bytes());
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "system_trust_store_child", "--ignored", "--nocapture", "--test-threads=1"])
        .env("SSL_CERT_FILE", &f)
        .env("SSL_CERT_DIR", dir.path())
        .env("WSCLIENT_TEST_CA_KEY", &kf)
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && text.contains("1 passed"), "child failed:\n{text}");
}

#[test]
#[ignore = "run by system_trust_store in a child process"]
fn system_trust_store_child() {
    let _w = watchdog("system_trust_store_child", LIMIT);
    let ca_pem = std::fs::read(std::env::var("SSL_CERT_FILE").unwrap()).unwrap();
    let key_pem = std::fs::read(std::env::var("WSCLIENT_TEST_CA_KEY").unwrap()).unwrap();
    let ca = Cert {
        cert: openssl::x509::X509::from_pem(&ca_pem).unwrap(),
        key: openssl::pkey::PKey::private_key_from_pem(&key_pem).unwrap(),
    };
    let good = make(&Spec::server("trusted"), None, Some(&ca));
    let srv = TlsServer::start(&good, ServerOpts::default());
    accepted(&srv.url(), &json!({}));
    // Our own examination (ignore lists) sees the same store.
    accepted(&srv.url(), &json!({ "ignoreSslErrors": ["SelfSignedCertificate"] }));
    let expired = make(&Spec { not_before: -9 * DAY, not_after: -DAY, ..Spec::server("old") }, None, Some(&ca));
    let srv2 = TlsServer::start(&expired, ServerOpts::default());
    accepted(&srv2.url(), &json!({ "ignoreSslErrors": ["CertificateExpired"] }));
    rejected(
        &srv2.url(),
        &json!({ "ignoreSslErrors": ["HostNameMismatch"] }),
        WS_E_TLS_VERIFY,
        &["CertificateExpired"],
    );
    let other = make(&Spec::ca("other CA"), None, None);
    rejected(
        &srv.url(),
        &json!({ "caCertificates": other.pem(), "caCertificatesOnly": true }),
        WS_E_TLS_VERIFY,
        &["UnableToGetLocalIssuerCertificate"],
    );
    rejected(
        &srv.url(),
        &json!({ "caCertificates": other.pem(), "caCertificatesOnly": true, "ignoreSslErrors": ["SelfSignedCertificate"] }),
        WS_E_TLS_VERIFY,
        &["UnableToGetLocalIssuerCertificate"],
    );
}

/// "YYYY-MM-DD" of a Unix time, as the messages print dates.
fn iso_date(t: i64) -> String {
    let days = t.div_euclid(86_400);
    // Civil from days (H. Hinnant), independent of the library's copy.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

// ---- nginx -------------------------------------------------------------------------

mod nginx {
    use super::*;
    use std::io::Read;
    use std::net::{Ipv4Addr, TcpListener, TcpStream};
    use std::path::PathBuf;
    use std::process::{Child, Command, Stdio};
    use std::time::Instant;

    /// The nginx binary, installing it with tests/nginx/ensure-nginx.sh when
    /// running as root in CI; None (after a loud message) when there is none,
    /// unless WSCLIENT_REQUIRE_NGINX is set, which makes that a failure.
    fn nginx_binary() -> Option<PathBuf> {
        let find = || {
            std::env::var_os("WSCLIENT_NGINX")
                .map(PathBuf::from)
                .into_iter()
                .chain([PathBuf::from("/usr/sbin/nginx"), PathBuf::from("/usr/local/sbin/nginx")])
                .chain(std::env::var_os("PATH").iter().flat_map(std::env::split_paths).map(|d| d.join("nginx")))
                .find(|p| p.is_file())
        };
        if let Some(p) = find() {
            return Some(p);
        }
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        if root && std::env::var_os("CI").is_some() {
            let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/nginx/ensure-nginx.sh");
            let st = Command::new("sh").arg(script).status();
            eprintln!("ran {script}: {st:?}");
            if let Some(p) = find() {
                return Some(p);
            }
        }
        let msg = "nginx is not installed (run tests/nginx/ensure-nginx.sh as root): the nginx TLS tests did NOT run";
        if std::env::var_os("WSCLIENT_REQUIRE_NGINX").is_some() {
            panic!("{msg}");
        }
        eprintln!("\n*** SKIPPED: {msg} ***\n");
        None
    }

    fn free_port() -> u16 {
        TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap().local_addr().unwrap().port()
    }

    /// A plain WebSocket echo server behind nginx. Its first message tells
    /// what nginx passed on about the client certificate.
    #[allow(clippy::result_large_err)] // tungstenite's handshake callback type
    fn upstream() -> u16 {
        let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = l.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for s in l.incoming() {
                let Ok(s) = s else { continue };
                std::thread::spawn(move || {
                    let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
                    let mut dn = String::new();
                    let cb = |req: &tungstenite::handshake::server::Request, resp| {
                        dn = req.headers().get("x-client-dn").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
                        Ok(resp)
                    };
                    let Ok(mut ws) = tungstenite::accept_hdr(s, cb) else { return };
                    if ws.send(tungstenite::Message::text(format!("client-dn={dn}"))).is_err() {
                        return;
                    }
                    while let Ok(m) = ws.read() {
                        if (m.is_text() || m.is_binary()) && ws.send(m).is_err() {
                            break;
                        }
                    }
                });
            }
        });
        port
    }

    struct Nginx {
        child: Child,
        dir: TempDir,
        /// Requires a client certificate.
        mtls_port: u16,
        /// Server certificate for "localhost" only; no client certificate.
        plain_port: u16,
    }

    impl Nginx {
        fn start(bin: &PathBuf, server: &Cert, localhost_only: &Cert, client_ca: &Cert) -> Nginx {
            let up = upstream();
            for attempt in 0..5 {
                let dir = TempDir::new("nginx");
                let d = dir.path().display().to_string();
                dir.file("server.pem", server.pem().as_bytes());
                dir.file("server.key", server.key_pkcs8().as_bytes());
                dir.file("localhost.pem", localhost_only.pem().as_bytes());
                dir.file("localhost.key", localhost_only.key_pkcs8().as_bytes());
                dir.file("client-ca.pem", client_ca.pem().as_bytes());
                let (p1, p2) = (free_port(), free_port());
                let location = format!(
                    "location / {{ proxy_pass http://127.0.0.1:{up}; proxy_http_version 1.1; \
                     proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection \"upgrade\"; \
                     proxy_set_header X-Client-DN $ssl_client_s_dn; proxy_read_timeout 60s; }}"
                );
                let conf = format!(
                    "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\n\
                     error_log {d}/error.log info;\nevents {{ worker_connections 64; }}\n\
                     http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n\
                     fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
                     server {{\n    listen 127.0.0.1:{p1} ssl;\n    server_name localhost;\n\
                     ssl_certificate {d}/server.pem;\n    ssl_certificate_key {d}/server.key;\n\
                     ssl_client_certificate {d}/client-ca.pem;\n    ssl_verify_client on;\n    ssl_verify_depth 3;\n\
                     {location}\n  }}\n\
                     server {{\n    listen 127.0.0.1:{p2} ssl;\n    server_name localhost;\n\
                     ssl_certificate {d}/localhost.pem;\n    ssl_certificate_key {d}/localhost.key;\n    {location}\n  }}\n}}\n"
                );
                let conf_path = dir.file("nginx.conf", conf.as_bytes());
                let child = Command::new(bin)
                    .arg("-p")
                    .arg(dir.path())
                    .arg("-c")
                    .arg(&conf_path)
                    .arg("-e")
                    .arg(dir.path().join("error.log"))
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .expect("start nginx");
                let mut n = Nginx { child, dir, mtls_port: p1, plain_port: p2 };
                let t0 = Instant::now();
                loop {
                    if let Ok(Some(status)) = n.child.try_wait() {
                        let mut err = String::new();
                        if let Some(mut e) = n.child.stderr.take() {
                            let _ = e.read_to_string(&mut err);
                        }
                        let log = std::fs::read_to_string(n.dir.path().join("error.log")).unwrap_or_default();
                        // A port taken between choosing and binding: try others.
                        if attempt < 4
                            && (err.contains("Address already in use") || log.contains("Address already in use"))
                        {
                            break;
                        }
                        panic!("nginx exited with {status}:\n{err}\n{log}");
                    }
                    let up1 = TcpStream::connect((Ipv4Addr::LOCALHOST, p1)).is_ok();
                    let up2 = TcpStream::connect((Ipv4Addr::LOCALHOST, p2)).is_ok();
                    if up1 && up2 {
                        return n;
                    }
                    assert!(t0.elapsed() < Duration::from_secs(15), "nginx did not start listening");
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
            unreachable!("nginx could not bind free ports")
        }

        fn log(&self) -> String {
            std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
        }
    }

    impl Drop for Nginx {
        fn drop(&mut self) {
            // SAFETY: the pid is our child's; SIGTERM lets nginx clean up.
            unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
            let t0 = Instant::now();
            while t0.elapsed() < Duration::from_secs(5) {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    /// Opens, checks what nginx told the upstream about the client
    /// certificate, echoes, closes.
    #[track_caller]
    fn open_mtls(url: &str, options: &Value, want_dn: &str) {
        let s = open(url, Some(&options.to_string()));
        assert!(s > 0, "ws_open({url}) with {options}: {}", describe());
        let (_, first) = read_msg(s, 10_000);
        let first = String::from_utf8(first).unwrap();
        assert!(first.starts_with("client-dn=") && first.contains(want_dn), "{first} (want {want_dn})");
        write_ok(s, b"through nginx", WS_BINARY);
        assert_eq!(read_msg(s, 10_000), (WS_BINARY, b"through nginx".to_vec()));
        close_ok(s);
    }

    #[test]
    fn nginx_client_certificates() {
        let _w = watchdog("nginx_client_certificates", Duration::from_secs(180));
        let Some(bin) = nginx_binary() else { return };
        let ca = test_ca();
        let server = make(&Spec::server("nginx"), Some(rsa_key(2048)), Some(&ca));
        let localhost_only = make(&Spec { sans: &["DNS:localhost"], ..Spec::server("localhost") }, None, Some(&ca));
        let client_ca = make(&Spec::ca("client CA"), None, None);
        let nginx = Nginx::start(&bin, &server, &localhost_only, &client_ca);
        let url = format!("wss://127.0.0.1:{}/", nginx.mtls_port);
        let trust = ca.pem();

        for ck in client_keys() {
            let client = make(&Spec::client(ck.label), Some(ck.key), Some(&client_ca));
            let o = json!({ "caCertificates": trust, "sslConfig": { "localCertificate": client.pem(), "privateKey": ck.option } });
            open_mtls(&url, &o, &format!("CN={}", ck.label));
        }

        // Files instead of text, a key without "algorithm", and a chain:
        // the client's certificate issued by an intermediate that only the
        // client sends.
        let inter = make(&Spec::ca("client issuing CA"), None, Some(&client_ca));
        let chained = make(&Spec::client("chained"), None, Some(&inter));
        let dir = TempDir::new("nginx-client");
        let cf = dir.file("client.pem", format!("{}{}", chained.pem(), inter.pem()).as_bytes());
        let kf = dir.file("client.key", chained.key_pkcs8().as_bytes());
        let o = json!({ "caCertificates": trust, "sslConfig": { "localCertificateFile": cf, "privateKey": { "keyFile": kf } } });
        open_mtls(&url, &o, "CN=chained");

        // No client certificate: nginx completes TLS and answers 400.
        let m = rejected(
            &url,
            &json!({ "caCertificates": trust }),
            WS_E_UPGRADE_REJECTED,
            &[
                &format!("upgrade rejected by 127.0.0.1:{}: HTTP 400 Bad Request", nginx.mtls_port),
                "No required SSL certificate was sent",
            ],
        );
        println!("without a client certificate: {m}");
        // A client certificate from a CA nginx does not trust.
        let stranger_ca = make(&Spec::ca("stranger CA"), None, None);
        let stranger = make(&Spec::client("stranger"), None, Some(&stranger_ca));
        let o = json!({ "caCertificates": trust, "sslConfig": { "localCertificate": stranger.pem(), "privateKey": { "key": stranger.key_pkcs8(), "algorithm": "EC" } } });
        rejected(&url, &o, WS_E_UPGRADE_REJECTED, &["HTTP 400", "SSL certificate error"]);

        // The second server: verification against a real TLS server.
        let plain = nginx.plain_port;
        rejected(
            &format!("wss://127.0.0.1:{plain}/"),
            &json!({ "caCertificates": trust }),
            WS_E_TLS_VERIFY,
            &["HostNameMismatch (127.0.0.1 is not in the certificate: DNS:localhost)"],
        );
        rejected(
            &format!("wss://localhost:{plain}/"),
            &json!({}),
            WS_E_TLS_VERIFY,
            &["UnableToGetLocalIssuerCertificate"],
        );
        let s = open(&format!("wss://localhost:{plain}/"), Some(&json!({ "caCertificates": trust }).to_string()));
        assert!(s > 0, "{}", describe());
        close_ok(s);
        for o in [
            json!({ "caCertificates": trust, "ignoreSslErrors": ["HostNameMismatch"] }),
            json!({ "ignoreSslErrors": ["HostNameMismatch", "UnableToGetLocalIssuerCertificate"] }),
            json!({ "pinnedSha256": localhost_only.sha256_colons() }),
        ] {
            let s = open(&format!("wss://127.0.0.1:{plain}/"), Some(&o.to_string()));
            assert!(s > 0, "{o}: {}", describe());
            assert!(matches!(read(s, 200), Got::Msg(..)), "the upstream greets");
            close_ok(s);
        }
        let log = nginx.log();
        assert!(!log.contains("[emerg]") && !log.contains("[alert]"), "nginx log:\n{log}");
    }
}

#[test]
fn busy_poll_over_tls() {
    let _w = watchdog("busy_poll_over_tls", LIMIT);
    let ca = test_ca();
    let server = make(&Spec::server("device"), None, Some(&ca));
    let srv = TlsServer::start(&server, ServerOpts::default());
    let o = json!({ "caCertificates": ca.pem(), "busyPoll": 1_000_000, "closeTimeout": 2000 }).to_string();
    let s = open(&srv.url(), Some(&o));
    assert!(s > 0, "{}", describe());
    // records are read whole although the spin retries partial reads
    for n in [0usize, 1, 126, 16_384, 16_385, 1 << 20] {
        let msg = binary_payload(n, n as u64);
        write_ok(s, &msg, WS_BINARY);
        let (t, got) = read_msg(s, 10_000);
        assert_eq!(t, WS_BINARY);
        assert_same_bytes(&got, &msg, &format!("{n}-byte echo over TLS with busyPoll"));
    }
    // a 1 s spin does not stretch a 200 ms read timeout
    let (r, took) = timed(|| read(s, 200));
    assert_eq!(r, Got::Timeout(WS_E_TIMEOUT), "{}", describe());
    assert_between(took, 190, 900, "ws_read(timeout 200) over TLS with busyPoll 1 s");
    write_ok(s, b"after", WS_TEXT);
    assert_eq!(read_msg(s, 10_000), (WS_TEXT, b"after".to_vec()));
    let (r, took) = timed(|| close(s));
    assert_eq!(r, WS_OK, "{}", describe());
    assert!(took < Duration::from_millis(1500), "ws_close over TLS took {took:?}");
}
