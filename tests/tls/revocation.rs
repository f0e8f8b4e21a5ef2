//! CertificateRevoked can happen: "crlFile" (CRLs checked for every
//! certificate of the chain) and "ocspStapling" (the OCSP response the
//! server staples, checked against the chain), with a test CA that revokes
//! the server's certificate.

use super::*;
use std::sync::atomic::Ordering;
use tls_support::revocation::*;

#[test]
fn crl_revokes_the_server_certificate() {
    let _w = watchdog("crl_revokes_the_server_certificate", LIMIT);
    let ca = test_ca();
    let revoked = make(&Spec::server("revoked"), None, Some(&ca));
    let good = make(&Spec::server("good"), None, Some(&ca));
    let dir = TempDir::new("crl");
    let f = dir.file("ca.crl", crl(&ca, &[&revoked]).as_bytes());
    let srv = TlsServer::start(&revoked, ServerOpts::default());
    let srv_good = TlsServer::start(&good, ServerOpts::default());
    let o = json!({ "caCertificates": ca.pem(), "crlFile": f });
    rejected(
        &srv.url(),
        &o,
        WS_E_TLS_VERIFY,
        &[
            &format!("TLS handshake with 127.0.0.1:{}: CertificateRevoked (revoked 20", srv.port),
            "by the CRL of \"CN=wsclient test CA, O=wsclient tests\")",
            &format!("SHA-256 {}", revoked.sha256_colons()),
        ],
    );
    accepted(&srv_good.url(), &o);
    accepted(&srv_good.url(), &json!({ "caCertificates": ca.pem(), "crlFile": [f] }));
    // Without "crlFile" nothing is checked; ignoring the class accepts it;
    // ignoring another does not.
    accepted(&srv.url(), &json!({ "caCertificates": ca.pem() }));
    accepted(
        &srv.url(),
        &json!({ "caCertificates": ca.pem(), "crlFile": f, "ignoreSslErrors": ["CertificateRevoked"] }),
    );
    rejected(
        &srv.url(),
        &json!({ "caCertificates": ca.pem(), "crlFile": f, "ignoreSslErrors": ["CertificateExpired"] }),
        WS_E_TLS_VERIFY,
        &["CertificateRevoked (", "not in ignoreSslErrors [CertificateExpired]"],
    );
    assert_eq!(srv.connections_so_far(), 4, "one connection per open");
    // An expired CRL is a problem of its own (Qt: UnspecifiedError).
    let stale = dir.file("stale.crl", crl_valid(&ca, &[], -9 * DAY, -DAY).as_bytes());
    rejected(
        &srv_good.url(),
        &json!({ "caCertificates": ca.pem(), "crlFile": stale }),
        WS_E_TLS_VERIFY,
        &["UnspecifiedError (CRL has expired)"],
    );
}

/// With an intermediate CA every certificate needs a CRL from its issuer,
/// and a revoked intermediate is refused as such.
#[test]
fn crl_checks_the_whole_chain() {
    let _w = watchdog("crl_checks_the_whole_chain", LIMIT);
    let root = test_ca();
    let inter = make(&Spec::ca("issuing CA"), None, Some(&root));
    let leaf = make(&Spec::server("device"), None, Some(&inter));
    let srv = TlsServer::start(&leaf, ServerOpts { chain: vec![inter.cert.clone()], ..Default::default() });
    let dir = TempDir::new("crl-chain");
    let root_crl = dir.file("root.crl", crl(&root, &[]).as_bytes());
    let inter_crl = dir.file("inter.crl", crl(&inter, &[]).as_bytes());
    let both = dir.file("both.crl", format!("{}{}", crl(&root, &[]), crl(&inter, &[])).as_bytes());
    let trust = root.pem();
    accepted(&srv.url(), &json!({ "caCertificates": trust, "crlFile": both }));
    accepted(&srv.url(), &json!({ "caCertificates": trust, "crlFile": [root_crl, inter_crl] }));
    rejected(
        &srv.url(),
        &json!({ "caCertificates": trust, "crlFile": root_crl }),
        WS_E_TLS_VERIFY,
        &["UnspecifiedError (no CRL from \"CN=issuing CA, O=wsclient tests\" in \"crlFile\""],
    );
    let inter_revoked =
        dir.file("inter-revoked.crl", format!("{}{}", crl(&root, &[&inter]), crl(&inter, &[])).as_bytes());
    rejected(
        &srv.url(),
        &json!({ "caCertificates": trust, "crlFile": inter_revoked }),
        WS_E_TLS_VERIFY,
        &["CertificateRevoked (CA \"CN=issuing CA, O=wsclient tests\": revoked 20"],
    );
}

#[test]
fn crl_file_errors() {
    let _w = watchdog("crl_file_errors", LIMIT);
    let ca = test_ca();
    let dir = TempDir::new("crl-errors");
    let pem = crl(&ca, &[]);
    let der = openssl::x509::X509Crl::from_pem(pem.as_bytes()).unwrap().to_der().unwrap();
    let der_file = dir.file("crl.der", &der);
    let junk = dir.file("junk.pem", b"hello");
    let cut = dir.file("cut.pem", &pem.as_bytes()[..pem.len() / 2]);
    let good = dir.file("ok.pem", pem.as_bytes());
    let cases: Vec<(Value, Vec<&str>)> = vec![
        (json!({ "crlFile": der_file }), vec!["\"crlFile\": ", "looks like a DER CRL, not PEM"]),
        (json!({ "crlFile": junk }), vec!["no PEM CRL (\"-----BEGIN X509 CRL-----\") found"]),
        (json!({ "crlFile": cut }), vec!["has no END line"]),
        (json!({ "crlFile": "/nonexistent/x.crl" }), vec!["\"crlFile\": cannot read \"/nonexistent/x.crl\""]),
        (json!({ "crlFile": 7 }), vec!["\"crlFile\": must be a file path"]),
        (json!({ "crlFile": good, "ignoreSslErrors": true }), vec!["revocation checks"]),
        (
            json!({ "crlFile": good, "pinnedSha256": "00".repeat(32) }),
            vec!["\"pinnedSha256\" replaces certificate verification: it cannot be combined with \"crlFile\""],
        ),
        (json!({ "ocspStapling": "yes" }), vec!["\"ocspStapling\": must be \"check\" or \"require\""]),
        (json!({ "ocspStapling": "require", "ignoreSslErrors": "" }), vec!["revocation checks"]),
        (json!({ "sslConfig": { "crlFile": good } }), vec!["belongs at the top level"]),
    ];
    for (o, needles) in cases {
        assert_eq!(open("wss://127.0.0.1:9/", Some(&o.to_string())), WS_ERROR, "{o}");
        let mut n = vec!["argument error in options: "];
        n.extend(needles);
        assert_error(WS_E_INVALID_OPTIONS, &n);
    }
}

#[test]
fn ocsp_stapling() {
    let _w = watchdog("ocsp_stapling", LIMIT);
    let ca = test_ca();
    let leaf = make(&Spec::server("device"), None, Some(&ca));
    let other_leaf = make(&Spec::server("other"), None, Some(&ca));
    let stranger = make(&Spec::ca("stranger"), None, None);
    let good = ocsp_response(&ca, &leaf, Status::Good, &ca);
    let revoked = ocsp_response(&ca, &leaf, Status::Revoked, &ca);
    let unknown = ocsp_response(&ca, &leaf, Status::Unknown, &ca);
    let forged = ocsp_response(&ca, &leaf, Status::Good, &stranger);
    let about_other = ocsp_response(&ca, &other_leaf, Status::Good, &ca);
    let trust = ca.pem();
    let check = json!({ "caCertificates": trust, "ocspStapling": "check" });
    let require = json!({ "caCertificates": trust, "ocspStapling": "require" });
    for version in [None, Some(openssl::ssl::SslVersion::TLS1_2)] {
        let server = |ocsp: Option<&Vec<u8>>| {
            TlsServer::start(&leaf, ServerOpts { ocsp: ocsp.cloned(), max_version: version, ..Default::default() })
        };
        let srv = server(Some(&good));
        accepted(&srv.url(), &check);
        accepted(&srv.url(), &require);
        assert_eq!(srv.status_requests.load(Ordering::SeqCst), 2);
        // Not asked for without the option.
        accepted(&srv.url(), &json!({ "caCertificates": trust }));
        assert_eq!(srv.status_requests.load(Ordering::SeqCst), 2);

        let srv = server(Some(&revoked));
        for o in [&check, &require] {
            rejected(
                &srv.url(),
                o,
                WS_E_TLS_VERIFY,
                &[
                    "CertificateRevoked (revoked ",
                    "(stapled OCSP response, reason keyCompromise))",
                    &format!("SHA-256 {}", leaf.sha256_colons()),
                ],
            );
        }
        accepted(
            &srv.url(),
            &json!({ "caCertificates": trust, "ocspStapling": "require", "ignoreSslErrors": ["CertificateRevoked"] }),
        );
        assert_eq!(srv.connections_so_far(), 3);

        let srv = server(None);
        accepted(&srv.url(), &check);
        rejected(
            &srv.url(),
            &require,
            WS_E_TLS_VERIFY,
            &["OcspNoResponseFound (the server stapled no OCSP response, and \"ocspStapling\" is \"require\")"],
        );
        let cases = [
            (&unknown, "OcspStatusUnknown (the stapled OCSP response says \"unknown\")"),
            (&forged, "OcspResponseCannotBeTrusted (the stapled OCSP response is not signed by \"CN=wsclient test CA"),
            (&about_other, "OcspResponseCertIdUnknown (the stapled OCSP response is about another certificate)"),
        ];
        for (resp, needle) in cases {
            let srv = server(Some(resp));
            rejected(&srv.url(), &check, WS_E_TLS_VERIFY, &[needle]);
        }
        let srv = server(Some(&b"not DER".to_vec()));
        rejected(&srv.url(), &check, WS_E_TLS_VERIFY, &["OcspMalformedResponse ("]);
    }
}

/// The client certificate is not sent to a server whose stapled response
/// says its certificate is revoked.
#[test]
fn ocsp_refusal_happens_before_the_client_certificate() {
    let _w = watchdog("ocsp_refusal_happens_before_the_client_certificate", LIMIT);
    let ca = test_ca();
    let leaf = make(&Spec::server("device"), None, Some(&ca));
    let revoked = ocsp_response(&ca, &leaf, Status::Revoked, &ca);
    let client_ca = make(&Spec::ca("client CA"), None, None);
    let client = make(&Spec::client("client"), None, Some(&client_ca));
    let ssl_config = json!({ "localCertificate": client.pem(), "privateKey": client.key_pkcs8() });
    for version in [None, Some(openssl::ssl::SslVersion::TLS1_2)] {
        let srv = TlsServer::start(
            &leaf,
            ServerOpts {
                ocsp: Some(revoked.clone()),
                request_client_cert: true,
                max_version: version,
                ..Default::default()
            },
        );
        let o = json!({ "caCertificates": ca.pem(), "ocspStapling": "check", "sslConfig": ssl_config });
        rejected(&srv.url(), &o, WS_E_TLS_VERIFY, &["CertificateRevoked"]);
        assert_eq!(srv.client_certs(), Vec::<String>::new(), "{version:?}: the client certificate was sent");
        let o = json!({ "caCertificates": ca.pem(), "sslConfig": ssl_config });
        accepted(&srv.url(), &o);
        assert_eq!(srv.client_certs(), vec!["client, wsclient tests".to_string()]);
    }
}
