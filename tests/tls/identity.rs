//! Client certificates ("sslConfig"): every PEM key form, PKCS#12 files,
//! and the options errors for wrong passwords, mismatched keys and files in
//! the wrong format.

use super::*;

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
pub(super) struct ClientKey {
    /// Also the CN of its certificate.
    pub label: &'static str,
    pub key: openssl::pkey::PKey<openssl::pkey::Private>,
    pub option: Value,
}

/// Client keys in every PEM form WinCC users meet: PKCS#1, SEC1, PKCS#8,
/// encrypted PKCS#8 and legacy encrypted PEM, RSA and EC.
pub(super) fn client_keys() -> Vec<ClientKey> {
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
            vec![
                "\"privateKey\" does not match \"localCertificate\": the private key (EC P-256) does not match the \
                 public key (RSA 2048-bit) of the certificate \"CN=c, O=wsclient tests\"",
            ],
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

/// A PKCS#12 file (DER) with `c`'s certificate and key and `cas`.
pub(super) fn p12(c: &Cert, cas: &[&Cert], password: &str) -> Vec<u8> {
    let mut b = openssl::pkcs12::Pkcs12::builder();
    b.name("client").pkey(&c.key).cert(&c.cert);
    if !cas.is_empty() {
        let mut st = openssl::stack::Stack::new().unwrap();
        for ca in cas {
            st.push(ca.cert.clone()).unwrap();
        }
        b.ca(st);
    }
    b.build2(password).unwrap().to_der().unwrap()
}

/// "sslConfig": {"pkcs12File" | "pkcs12", "password"}: RSA and EC, with a
/// CA certificate inside the file that only the client sends.
#[test]
fn pkcs12_identity_in_process() {
    let _w = watchdog("pkcs12_identity_in_process", LIMIT);
    let ca = test_ca();
    let client_ca = make(&Spec::ca("client CA"), None, None);
    let server = make(&Spec::server("server"), None, Some(&ca));
    let srv = TlsServer::start(&server, ServerOpts { client_ca: Some(client_ca.cert.clone()), ..Default::default() });
    let dir = TempDir::new("p12");
    let inter = make(&Spec::ca("client issuing CA"), None, Some(&client_ca));
    let cases = [
        (make(&Spec::client("p12-ec"), None, Some(&client_ca)), None),
        (make(&Spec::client("p12-rsa"), Some(rsa_key(2048)), Some(&client_ca)), None),
        (make(&Spec::client("p12-chained"), None, Some(&inter)), Some(&inter)),
    ];
    for (client, chain) in &cases {
        let cas: Vec<&Cert> = chain.iter().copied().collect();
        let der = p12(client, &cas, "p12 secret");
        let f = dir.file("client.p12", &der);
        accepted(
            &srv.url(),
            &json!({ "caCertificates": ca.pem(), "sslConfig": { "pkcs12File": f, "password": "p12 secret" } }),
        );
        let b64 = openssl::base64::encode_block(&der);
        accepted(
            &srv.url(),
            &json!({ "caCertificates": ca.pem(), "sslConfig": { "pkcs12": b64, "password": "p12 secret" } }),
        );
    }
    let seen = srv.client_certs();
    for cn in ["p12-ec", "p12-rsa", "p12-chained"] {
        assert!(seen.iter().any(|s| s.starts_with(&format!("{cn},"))), "{cn} not in {seen:?}");
    }
    // Without the chain inside, the server cannot link the certificate.
    let der = p12(&cases[2].0, &[], "p");
    let f = dir.file("no-chain.p12", &der);
    rejected(
        &srv.url(),
        &json!({ "caCertificates": ca.pem(), "sslConfig": { "pkcs12File": f, "password": "p" } }),
        WS_E_TLS,
        &["alert unknown ca"],
    );
}

/// Wrong passwords and files in the wrong format say so.
#[test]
fn pkcs12_and_pem_confusions() {
    let _w = watchdog("pkcs12_and_pem_confusions", LIMIT);
    let client_ca = make(&Spec::ca("client CA"), None, None);
    let client = make(&Spec::client("c"), None, Some(&client_ca));
    let der = p12(&client, &[], "right");
    let dir = TempDir::new("p12-errors");
    let p12f = dir.file("client.p12", &der);
    let pemf = dir.file("client.pem", client.pem().as_bytes());
    let keyf = dir.file("client.key", client.key_pkcs8().as_bytes());
    let b64 = openssl::base64::encode_block(&der);
    let cases: Vec<(Value, &str)> = vec![
        (json!({ "sslConfig": { "pkcs12File": p12f, "password": "wrong" } }), "\"sslConfig\": \"pkcs12File\": cannot open the PKCS#12 file: wrong \"password\"? ("),
        (json!({ "sslConfig": { "pkcs12File": p12f } }), "cannot open the PKCS#12 file: wrong \"password\"?"),
        (json!({ "sslConfig": { "pkcs12": b64, "password": "wrong" } }), "\"pkcs12\": cannot open the PKCS#12 file: wrong \"password\"?"),
        (
            json!({ "sslConfig": { "localCertificateFile": p12f, "privateKey": { "keyFile": keyf } } }),
            "\"localCertificateFile\" looks like PKCS#12 (DER), not PEM: give it as \"sslConfig\": {\"pkcs12File\": path}",
        ),
        (
            json!({ "sslConfig": { "localCertificateFile": pemf, "privateKey": { "keyFile": p12f } } }),
            "\"keyFile\" looks like PKCS#12 (DER), not PEM",
        ),
        (
            json!({ "sslConfig": { "localCertificate": b64, "privateKey": client.key_pkcs8() } }),
            "\"localCertificate\" looks like PKCS#12 (DER), not PEM",
        ),
        (json!({ "caCertificatesFile": p12f }), "\"caCertificatesFile\" looks like PKCS#12 (DER), not PEM"),
        (
            json!({ "sslConfig": { "pkcs12File": pemf, "password": "x" } }),
            "\"pkcs12File\" is PEM, not PKCS#12: give PEM as \"localCertificate\"/\"localCertificateFile\" and \"privateKey\"",
        ),
        (json!({ "sslConfig": { "pkcs12": "%%%" } }), "\"pkcs12\" must be the base64 text of a PKCS#12 file"),
        (json!({ "sslConfig": { "pkcs12File": "/nonexistent/c.p12" } }), "\"pkcs12File\": cannot read \"/nonexistent/c.p12\""),
        (
            json!({ "sslConfig": { "pkcs12File": p12f, "localCertificateFile": pemf } }),
            "\"pkcs12\" holds certificate and key: it cannot be combined with \"localCertificateFile\"",
        ),
        (
            json!({ "sslConfig": { "localCertificateFile": pemf, "privateKey": { "keyFile": keyf }, "password": "x" } }),
            "\"password\" belongs to \"pkcs12\"",
        ),
    ];
    for (o, needle) in cases {
        assert_eq!(open("wss://127.0.0.1:9/", Some(&o.to_string())), WS_ERROR, "{o}");
        assert_error(WS_E_INVALID_OPTIONS, &["argument error in options: ", needle]);
    }
    // A legacy-encrypted file (RC2-40, as older tools export) with the
    // right password is not called a wrong password.
    let legacy = dir.path().join("legacy.p12");
    let st = std::process::Command::new("openssl")
        .args(["pkcs12", "-export", "-legacy", "-passout", "pass:right", "-in"])
        .arg(&pemf)
        .arg("-inkey")
        .arg(&keyf)
        .arg("-out")
        .arg(&legacy)
        .status()
        .expect("the openssl command (Debian package openssl)");
    assert!(st.success());
    let o = json!({ "sslConfig": { "pkcs12File": legacy, "password": "right" } });
    assert_eq!(open("wss://127.0.0.1:9/", Some(&o.to_string())), WS_ERROR);
    assert_error(
        WS_E_INVALID_OPTIONS,
        &["cannot open the PKCS#12 file (", "legacy encryption", "openssl pkcs12 -legacy"],
    );
    assert!(!last_error().contains("wrong \"password\""), "{}", last_error());
}
