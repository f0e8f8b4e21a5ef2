//! The verification policy is decided in one handshake: a server that
//! shows one certificate to the first connection and another to a second
//! gets nowhere, the client certificate never reaches a server that failed
//! verification, and no open makes more than one TCP connection. And what
//! the handshake negotiated is readable after open (ws_get_tls_info).

use super::*;

/// Conn 1: a forged certificate for the requested address, from a CA
/// nobody trusts; conn 2 (if the client ever came back): a valid
/// certificate from the trusted CA, for another name. Ignoring classes
/// that are not about trust must not let the forgery through.
#[test]
fn mitm_with_two_certificates_is_refused_in_one_connection() {
    let _w = watchdog("mitm_with_two_certificates_is_refused_in_one_connection", LIMIT);
    let ca = test_ca();
    let attacker = make(&Spec::ca("attacker CA"), None, None);
    let forged = make(&Spec::server("victim"), None, Some(&attacker));
    let elsewhere = make(&Spec { sans: &["DNS:elsewhere.example"], ..Spec::server("elsewhere") }, None, Some(&ca));
    for ignore in [
        json!(["CertificateExpired"]),
        json!(["CertificateExpired", "CertificateNotYetValid", "InvalidPurpose"]),
        json!(["CertificateRevoked", "PathLengthExceeded", "InvalidCaCertificate", "UnspecifiedError"]),
        json!(["SelfSignedCertificate"]),
        json!(["SelfSignedCertificateInChain", "CertificateExpired"]),
    ] {
        let srv = TlsServer::start_seq(&[forged.clone(), elsewhere.clone()], ServerOpts::default());
        let o = json!({ "caCertificates": ca.pem(), "ignoreSslErrors": ignore });
        rejected(
            &srv.url(),
            &o,
            WS_E_TLS_VERIFY,
            &[
                "UnableToGetLocalIssuerCertificate (issuer \"CN=attacker CA, O=wsclient tests\" is not a trusted CA)",
                &format!("SHA-256 {}", forged.sha256_colons()),
            ],
        );
        assert_eq!(srv.connections_so_far(), 1, "{ignore}: the library connected again");
        assert_eq!(srv.handshakes.load(std::sync::atomic::Ordering::SeqCst), 0, "{ignore}");
    }
    // The same with the attacker's CA certificate sent along (an untrusted
    // root in the chain).
    let srv = TlsServer::start_seq(
        &[forged.clone(), elsewhere.clone()],
        ServerOpts { chain: vec![attacker.cert.clone()], ..Default::default() },
    );
    let o = json!({ "caCertificates": ca.pem(), "ignoreSslErrors": ["CertificateExpired", "HostNameMismatch"] });
    rejected(&srv.url(), &o, WS_E_TLS_VERIFY, &["SelfSignedCertificateInChain"]);
    assert_eq!(srv.connections_so_far(), 1);
    // A server that shows the valid certificate first is refused for the
    // name, whatever it would show next.
    let srv = TlsServer::start_seq(&[elsewhere.clone(), forged.clone()], ServerOpts::default());
    let o = json!({ "caCertificates": ca.pem(), "ignoreSslErrors": ["CertificateExpired"] });
    rejected(&srv.url(), &o, WS_E_TLS_VERIFY, &["HostNameMismatch (127.0.0.1 is not in the certificate"]);
    assert_eq!(srv.connections_so_far(), 1);
}

/// A server that asks for a client certificate but fails verification
/// never receives it, whatever the failure and the ignore list; a server
/// that passes does (so the recording works).
#[test]
fn client_certificate_only_goes_to_a_verified_server() {
    let _w = watchdog("client_certificate_only_goes_to_a_verified_server", LIMIT);
    let ca = test_ca();
    let client_ca = make(&Spec::ca("client CA"), None, None);
    let client = make(&Spec::client("secret-client"), None, Some(&client_ca));
    let ssl_config = json!({ "localCertificate": client.pem(), "privateKey": { "key": client.key_pkcs8() } });
    let unknown = make(&Spec::ca("unknown CA"), None, None);
    let bad: Vec<(Cert, Value, &str)> = vec![
        (make(&Spec::server("self"), None, None), json!(false), "SelfSignedCertificate"),
        (
            make(&Spec::server("stranger"), None, Some(&unknown)),
            json!(["CertificateExpired"]),
            "UnableToGetLocalIssuerCertificate",
        ),
        (
            make(&Spec { not_before: -9 * DAY, not_after: -DAY, ..Spec::server("old") }, None, Some(&ca)),
            json!(["HostNameMismatch"]),
            "CertificateExpired",
        ),
        (
            make(&Spec { sans: &["DNS:x.example"], ..Spec::server("x") }, None, Some(&ca)),
            json!(["SelfSignedCertificate"]),
            "HostNameMismatch",
        ),
    ];
    for version in [None, Some(openssl::ssl::SslVersion::TLS1_2)] {
        for (cert, ignore, class) in &bad {
            let srv = TlsServer::start(
                cert,
                ServerOpts { request_client_cert: true, max_version: version, ..Default::default() },
            );
            let o = json!({ "caCertificates": ca.pem(), "ignoreSslErrors": ignore, "sslConfig": ssl_config });
            rejected(&srv.url(), &o, WS_E_TLS_VERIFY, &[class]);
            assert_eq!(srv.connections_so_far(), 1, "{class}");
            assert_eq!(srv.client_certs(), Vec::<String>::new(), "{class}: the client certificate was sent");
        }
        // Pinned to another certificate: refused before the client speaks.
        let srv = TlsServer::start(
            &bad[0].0,
            ServerOpts { request_client_cert: true, max_version: version, ..Default::default() },
        );
        let o = json!({ "pinnedSha256": "11".repeat(32), "sslConfig": ssl_config });
        rejected(&srv.url(), &o, WS_E_TLS_VERIFY, &["CertificatePinMismatch"]);
        assert_eq!(srv.client_certs(), Vec::<String>::new(), "pin mismatch: the client certificate was sent");
        // Verified: the server sees it.
        let good = make(&Spec::server("good"), None, Some(&ca));
        let srv = TlsServer::start(
            &good,
            ServerOpts { request_client_cert: true, max_version: version, ..Default::default() },
        );
        accepted(&srv.url(), &json!({ "caCertificates": ca.pem(), "sslConfig": ssl_config }));
        assert_eq!(srv.client_certs(), vec!["secret-client, wsclient tests".to_string()]);
    }
}

fn hex_colons(b: &[u8]) -> String {
    hex(b, ":")
}

/// ws_get_tls_info after open: version, cipher (as the server saw them),
/// the server certificate's fingerprints and names, what was ignored; and
/// "tlsMaxVersion" forcing TLS 1.2 on a server that allows 1.3.
#[test]
fn tls_info_after_open() {
    let _w = watchdog("tls_info_after_open", LIMIT);
    let ca = test_ca();
    let server = make(&Spec::server("device"), None, Some(&ca));
    let srv = TlsServer::start(&server, ServerOpts::default());
    let spki = openssl::hash::hash(
        openssl::hash::MessageDigest::sha256(),
        &server.cert.public_key().unwrap().public_key_to_der().unwrap(),
    )
    .unwrap();
    let cert_fp = hex_colons(&server.cert.digest(openssl::hash::MessageDigest::sha256()).unwrap());
    assert_eq!(cert_fp, server.sha256_colons());
    for (max, want) in [(None, "TLSv1.3"), (Some("1.2"), "TLSv1.2"), (Some("1.3"), "TLSv1.3")] {
        let mut o = json!({ "caCertificates": ca.pem() });
        if let Some(m) = max {
            o["tlsMaxVersion"] = json!(m);
        }
        let s = open_ok(&srv.url(), Some(&o.to_string()));
        let info = tls_info(s).unwrap_or_else(|e| panic!("ws_get_tls_info: {e:?}"));
        let (sv, sc) = srv.negotiated.lock().unwrap().last().cloned().expect("the server saw the handshake");
        assert_eq!(info.version, want, "{o}");
        assert_eq!(sv, want);
        assert_eq!(info.cipher, sc, "the cipher the server negotiated");
        if want == "TLSv1.2" {
            assert!(info.cipher.starts_with("ECDHE-ECDSA-"), "{}", info.cipher);
        } else {
            assert!(info.cipher.starts_with("TLS_"), "{}", info.cipher);
        }
        assert_eq!(info.cert_sha256, cert_fp);
        assert_eq!(info.cert_sha256.len(), 95);
        assert_eq!(info.pubkey_sha256, hex_colons(&spki));
        assert_eq!(info.subject, "CN=device, O=wsclient tests");
        assert_eq!(info.issuer, "CN=wsclient test CA, O=wsclient tests");
        assert_eq!(info.ignored_errors, "");
        assert_echo_works(s);
        close_ok(s);
    }
    // What "ignoreSslErrors" let through is listed.
    let odd = make(
        &Spec { sans: &["DNS:x.example"], not_before: -9 * DAY, not_after: -DAY, ..Spec::server("odd") },
        None,
        Some(&ca),
    );
    let srv2 = TlsServer::start(&odd, ServerOpts::default());
    let o = json!({ "caCertificates": ca.pem(), "ignoreSslErrors": ["HostNameMismatch", "CertificateExpired"] });
    let s = open_ok(&srv2.url(), Some(&o.to_string()));
    assert_eq!(tls_info(s).unwrap().ignored_errors, "HostNameMismatch,CertificateExpired");
    close_ok(s);
    let s = open_ok(&srv2.url(), Some(&json!({ "pinnedSha256": odd.sha256_colons() }).to_string()));
    let info = tls_info(s).unwrap();
    assert_eq!((info.ignored_errors.as_str(), info.cert_sha256), ("", odd.sha256_colons()));
    close_ok(s);
    // Errors: a ws:// socket, a bad number, NULL, a short size.
    let echo = echo_server();
    let s = open_ok(&echo.url(), None);
    let (c, m) = tls_info(s).unwrap_err();
    assert_eq!(
        (error_name(c), m),
        ("WS_E_INVALID_ARGUMENT".to_string(), format!("socket {s} is a ws:// connection: no TLS"))
    );
    close_ok(s);
    assert_eq!(error_name(tls_info(987_654).unwrap_err().0), "WS_E_BAD_SOCKET");
    let s = open_ok(&srv.url(), Some(&json!({ "caCertificates": ca.pem() }).to_string()));
    assert_eq!(ws_get_tls_info(s, std::ptr::null_mut(), std::mem::size_of::<ws_tls_info>()), WS_ERROR);
    assert_error(WS_E_INVALID_ARGUMENT, &["info is NULL"]);
    let mut info = std::mem::MaybeUninit::<ws_tls_info>::zeroed();
    let short = std::mem::size_of::<ws_tls_info>() - 1;
    assert_eq!(ws_get_tls_info(s, info.as_mut_ptr(), short), WS_ERROR);
    assert_error(WS_E_INVALID_ARGUMENT, &["is smaller than this library's ws_tls_info"]);
    close_ok(s);
    // After ws_close the number is gone.
    assert_eq!(error_name(tls_info(s).unwrap_err().0), "WS_E_BAD_SOCKET");
    // While connecting (a server that never answers the handshake).
    let port = silent_server();
    let s = open_async(&format!("wss://127.0.0.1:{port}/"), Some(&json!({ "timeout": 20_000 }).to_string()));
    assert!(s > 0, "{}", describe());
    assert_eq!(ws_state(s), WS_STATE_CONNECTING);
    assert_eq!(error_name(tls_info(s).unwrap_err().0), "WS_E_NOT_OPEN");
    assert_eq!(close(s), WS_OK, "{}", describe());
}

/// "tlsMaxVersion" 1.2 against a server that requires 1.3: a clear
/// WS_E_TLS; the option's value errors.
#[test]
fn max_tls_version() {
    let _w = watchdog("max_tls_version", LIMIT);
    let ca = test_ca();
    let server = make(&Spec::server("tls13"), None, Some(&ca));
    let srv = TlsServer::start(
        &server,
        ServerOpts { min_version: Some(openssl::ssl::SslVersion::TLS1_3), ..Default::default() },
    );
    rejected(
        &srv.url(),
        &json!({ "caCertificates": ca.pem(), "tlsMaxVersion": "1.2" }),
        WS_E_TLS,
        &[
            &format!("TLS handshake with 127.0.0.1:{}: ", srv.port),
            "no TLS version in common with the server; see \"tlsMinVersion\" and \"tlsMaxVersion\"",
        ],
    );
    accepted(&srv.url(), &json!({ "caCertificates": ca.pem(), "tlsMaxVersion": "TLSv1.3" }));
    for (o, needle) in [
        (json!({ "tlsMaxVersion": "1.4" }), "\"tlsMaxVersion\": must be \"1.2\" or \"1.3\""),
        (
            json!({ "tlsMinVersion": "1.3", "tlsMaxVersion": "1.2" }),
            "\"tlsMinVersion\" 1.3 is above \"tlsMaxVersion\" 1.2",
        ),
    ] {
        assert_eq!(open("wss://127.0.0.1:9/", Some(&o.to_string())), WS_ERROR);
        assert_error(WS_E_INVALID_OPTIONS, &[needle]);
    }
}
