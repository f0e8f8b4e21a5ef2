//! wss:// through the C API: certificate verification by WinCC/Qt class
//! ("ignoreSslErrors"), extra CAs, pinning, TLS versions and the error
//! messages (here); client certificates (tls/identity.rs); the policy in one
//! handshake (tls/policy.rs: a man in the middle, the client certificate,
//! readback after open); revocation (tls/revocation.rs: CRLs, OCSP
//! stapling); all against in-process TLS servers with certificates made at
//! test time, and against a real nginx (tls/nginx.rs;
//! tests/nginx/ensure-nginx.sh installs it in CI) that requires a client
//! certificate.
//!
//! Every connection is made with ws_open on 127.0.0.1 and checked by an
//! echo round trip; every test has a watchdog.

mod support;
mod tls_support;

#[path = "tls/connection.rs"]
mod connection;
#[path = "tls/identity.rs"]
mod identity;
#[path = "tls/nginx.rs"]
mod nginx;
#[path = "tls/policy.rs"]
mod policy;
#[path = "tls/revocation.rs"]
mod revocation;

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
/// Qt's SelfSignedCertificateInChain, not UnableToGetLocalIssuerCertificate
/// (OpenSSL's verify callback sees the chain the server sent).
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
    // One TCP connection per open, the refused one included.
    assert_eq!(srv.connections_so_far(), 3 + 1);
}

/// Chains through an intermediate CA that only the server sends: ignore
/// lists must not break a good chain, and accept exactly the ignored
/// problems of a bad one.
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

    // An expired certificate under an intermediate that only the server
    // sends: OpenSSL checks the whole chain in the one handshake, so
    // ignoring CertificateExpired accepts exactly that problem...
    let expired = make(&Spec { not_before: -9 * DAY, not_after: -DAY, ..Spec::server("old") }, None, Some(&inter));
    let srv3 = TlsServer::start(&expired, ServerOpts { chain: vec![inter.cert.clone()], ..Default::default() });
    rejected(&srv3.url(), &json!({ "caCertificates": trust }), WS_E_TLS_VERIFY, &["CertificateExpired (notAfter"]);
    accepted(&srv3.url(), &json!({ "caCertificates": trust, "ignoreSslErrors": ["CertificateExpired"] }));
    accepted(
        &srv3.url(),
        &json!({ "caCertificates": [trust, inter.pem()], "ignoreSslErrors": ["CertificateExpired"] }),
    );
    // ...and nothing else: an intermediate with the same names as the
    // real one but not signed by the trusted root (a forgery) is refused.
    let fake_root = make(&Spec::ca("wsclient test CA"), None, None);
    let fake_inter = make(&Spec::ca("issuing CA"), None, Some(&fake_root));
    let forged = make(&Spec { not_before: -9 * DAY, not_after: -DAY, ..Spec::server("old") }, None, Some(&fake_inter));
    let srv5 = TlsServer::start(&forged, ServerOpts { chain: vec![fake_inter.cert.clone()], ..Default::default() });
    let m = rejected(
        &srv5.url(),
        &json!({ "caCertificates": trust, "ignoreSslErrors": ["CertificateExpired"] }),
        WS_E_TLS_VERIFY,
        &[
            "CertificateSignatureFailed (CA \"CN=issuing CA, O=wsclient tests\": certificate signature failure)",
            "(ignored: CertificateExpired)",
        ],
    );
    assert!(!m.contains("CertificateExpired ("), "{m}");
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

/// A chain through a "CA" that is not one (no CA:TRUE, no keyCertSign, a
/// server EKU): every problem of it is reported, ignoring one leaves the
/// others, and OpenSSL checks the rest of the chain after an ignored one.
#[test]
fn invalid_ca_in_chain() {
    let _w = watchdog("invalid_ca_in_chain", LIMIT);
    let root = test_ca();
    let not_a_ca = make(&Spec { ca: false, ..Spec::server("not a CA") }, None, Some(&root));
    let leaf = make(&Spec::server("device"), None, Some(&not_a_ca));
    let srv = TlsServer::start(&leaf, ServerOpts { chain: vec![not_a_ca.cert.clone()], ..Default::default() });
    let trust = root.pem();
    let not_ca = "CA \"CN=not a CA, O=wsclient tests\": ";
    let all = [
        format!("InvalidCaCertificate ({not_ca}invalid CA certificate)"),
        format!("InvalidPurpose ({not_ca}unsuitable certificate purpose)"),
        format!("UnspecifiedError ({not_ca}key usage does not include certificate signing)"),
    ];
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    rejected(&srv.url(), &json!({ "caCertificates": trust }), WS_E_TLS_VERIFY, &all);
    rejected(
        &srv.url(),
        &json!({ "caCertificates": trust, "ignoreSslErrors": ["HostNameMismatch"] }),
        WS_E_TLS_VERIFY,
        &all,
    );
    for cas in [json!(trust), json!([trust, not_a_ca.pem()])] {
        let m = rejected(
            &srv.url(),
            &json!({ "caCertificates": cas, "ignoreSslErrors": ["InvalidCaCertificate"] }),
            WS_E_TLS_VERIFY,
            &[all[1], all[2], "(ignored: InvalidCaCertificate)"],
        );
        assert!(!m.contains(all[0]), "{m}");
    }
    let three = json!(["InvalidCaCertificate", "InvalidPurpose", "UnspecifiedError"]);
    accepted(&srv.url(), &json!({ "caCertificates": trust, "ignoreSslErrors": three }));
    // The rest of the chain is still checked: an expired server
    // certificate under it is refused.
    let old = make(&Spec { not_before: -9 * DAY, not_after: -DAY, ..Spec::server("old") }, None, Some(&not_a_ca));
    let srv2 = TlsServer::start(&old, ServerOpts { chain: vec![not_a_ca.cert.clone()], ..Default::default() });
    rejected(
        &srv2.url(),
        &json!({ "caCertificates": trust, "ignoreSslErrors": three }),
        WS_E_TLS_VERIFY,
        &["CertificateExpired (notAfter", "(ignored: InvalidCaCertificate, InvalidPurpose, UnspecifiedError)"],
    );
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
