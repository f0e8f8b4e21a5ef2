//! The connection around verification: TLS versions, servers that do not
//! speak TLS or stay silent, busy polling over TLS, and the system trust
//! store.

use super::*;

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
    // A WebSocket server on a plain port that just drops what it cannot
    // parse, and a TLS server that answers and then hangs up.
    let ws = echo_server();
    let url = format!("wss://127.0.0.1:{}/", ws.port);
    rejected(
        &url,
        &json!({}),
        WS_E_TLS,
        &["the server closed the connection without answering the TLS handshake: is this a plain ws:// port?"],
    );
    let ca = test_ca();
    let srv = TlsServer::start(
        &make(&Spec::server("tls13 only"), None, Some(&ca)),
        ServerOpts {
            client_ca: Some(ca.cert.clone()),
            max_version: Some(openssl::ssl::SslVersion::TLS1_2),
            ..Default::default()
        },
    );
    let m = rejected(&srv.url(), &json!({ "caCertificates": ca.pem() }), WS_E_TLS, &["TLS handshake with"]);
    assert!(!m.contains("plain ws://"), "{m}");
    for o in [json!({ "timeout": 300 }), json!({ "timeout": 300, "ignoreSslErrors": ["SelfSignedCertificate"] })] {
        let port = silent_server();
        let url = format!("wss://127.0.0.1:{port}/");
        let (r, took) = timed(|| open(&url, Some(&o.to_string())));
        assert_eq!(r, WS_TIMEOUT, "{}", describe());
        assert_error(WS_E_TIMEOUT, &["TLS handshake with 127.0.0.1"]);
        assert!(took < Duration::from_secs(5), "{took:?}");
    }
}

/// The system trust store is where native-tls (and OpenSSL) find it: a CA
/// installed through SSL_CERT_FILE is trusted, with or without an ignore
/// list, and "caCertificatesOnly" turns it off. Runs in a child process, since the
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
        .args(["--exact", "connection::system_trust_store_child", "--ignored", "--nocapture", "--test-threads=1"])
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
    // The same with an ignore list (the per-class policy).
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
