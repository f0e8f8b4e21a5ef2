//! "sslConfig": the client certificate and private key, as PEM (WinCC's
//! "localCertificate" and "privateKey") or as one PKCS#12 file ("pkcs12",
//! "pkcs12File" with "password"). Read, decrypted and checked to belong
//! together when the options are parsed.
#![deny(unsafe_code)]

use super::config::{read_file, short, ssl_reason, Why};
use super::verify;
use openssl::nid::Nid;
use openssl::pkcs12::Pkcs12;
use openssl::pkey::{HasPublic, Id, PKey, PKeyRef, Private};
use openssl::x509::X509;
use serde_json::{Map, Value};
use std::fmt;

/// The client certificate (with the CA certificates to send along) and its
/// private key, checked to belong together.
#[derive(Clone)]
pub struct ClientIdentity {
    /// The client's certificate first.
    pub chain: Vec<X509>,
    pub key: PKey<Private>,
    /// "RSA 2048-bit key for \"CN=client\"" for messages.
    pub summary: String,
}

impl fmt::Debug for ClientIdentity {
    // Never print key material.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientIdentity").field("summary", &self.summary).finish_non_exhaustive()
    }
}

/// OpenSSL's PKCS12 library number and its "mac verify failure" reason:
/// what a wrong password gives.
const ERR_LIB_PKCS12: i32 = 35;
const R_MAC_VERIFY_FAILURE: i32 = 113;

const KEYS: &str = "localCertificate, localCertificateFile, privateKey, pkcs12, pkcs12File, password";

/// "sslConfig": {"localCertificate"|"localCertificateFile": PEM,
/// "privateKey": {"key"|"keyFile": PEM, "algorithm": "RSA"|"EC"|"DSA",
/// "password": "..."}} (a string for "privateKey" is its "key"), or
/// {"pkcs12": base64 text | "pkcs12File": path, "password": "..."}.
pub fn parse_ssl_config(v: &Value) -> Result<Option<ClientIdentity>, Why> {
    let Value::Object(m) = v else {
        return Err(format!("must be an object with \"localCertificate\" and \"privateKey\", got {}", short(v)));
    };
    for k in m.keys() {
        match k.as_str() {
            "localCertificate" | "localCertificateFile" | "privateKey" | "pkcs12" | "pkcs12File" | "password" => {}
            "caCertificates" | "caCertificatesFile" | "caCertificatesOnly" | "pinnedSha256" | "tlsMinVersion"
            | "tlsMaxVersion" | "crlFile" | "ocspStapling" => {
                return Err(format!("\"{k}\" belongs at the top level of the options, not in \"sslConfig\""))
            }
            other => {
                return Err(format!("unknown key \"{}\" (expected {KEYS})", other.chars().take(60).collect::<String>()))
            }
        }
    }
    if m.contains_key("pkcs12") || m.contains_key("pkcs12File") {
        if let Some(k) = ["localCertificate", "localCertificateFile", "privateKey"].iter().find(|k| m.contains_key(**k))
        {
            return Err(format!("\"pkcs12\" holds certificate and key: it cannot be combined with \"{k}\""));
        }
        return pkcs12_identity(m).map(Some);
    }
    if m.contains_key("password") {
        return Err("\"password\" belongs to \"pkcs12\"; a PEM key's password goes in \"privateKey\"".into());
    }
    let cert_pem = text_or_file(m, "localCertificate", "localCertificateFile", "")?;
    let (key_pem, algorithm, password) = match m.get("privateKey") {
        None => (None, None, None),
        Some(Value::String(s)) => (Some((s.as_bytes().to_vec(), "privateKey")), None, None),
        Some(Value::Object(pk)) => {
            for k in pk.keys() {
                if !matches!(k.as_str(), "key" | "keyFile" | "algorithm" | "password") {
                    return Err(format!(
                        "\"privateKey\": unknown key \"{}\" (expected key, keyFile, algorithm, password)",
                        k.chars().take(60).collect::<String>()
                    ));
                }
            }
            let key = text_or_file(pk, "key", "keyFile", "\"privateKey\".")?;
            if key.is_none() {
                return Err("\"privateKey\" needs \"key\" (PEM text) or \"keyFile\" (path)".into());
            }
            let algorithm = match pk.get("algorithm") {
                None => None,
                Some(Value::String(a)) => Some(a.trim().to_ascii_uppercase()),
                Some(v) => {
                    return Err(format!(
                        "\"privateKey\".\"algorithm\" must be \"RSA\", \"EC\" or \"DSA\", got {}",
                        short(v)
                    ))
                }
            };
            let password = match pk.get("password") {
                None => None,
                Some(Value::String(p)) => Some(p.clone()),
                Some(v) => return Err(format!("\"privateKey\".\"password\" must be a string, got {}", short(v))),
            };
            (key, algorithm, password)
        }
        Some(v) => {
            return Err(format!(
                "\"privateKey\" must be an object {{\"key\": PEM, \"algorithm\": ...}}, got {}",
                short(v)
            ))
        }
    };
    match (cert_pem, key_pem) {
        (None, None) => Ok(None),
        (Some(_), None) => Err("\"localCertificate\" given without \"privateKey\"".into()),
        (None, Some(_)) => Err("\"privateKey\" given without \"localCertificate\"".into()),
        (Some(c), Some(k)) => pem_identity(&c, &k, algorithm.as_deref(), password.as_deref()).map(Some),
    }
}

/// Reads a PEM text given inline (`key`) or as a file (`file_key`); at most
/// one of them may be present in `m`. Returns the bytes and the key they
/// came from (for messages).
fn text_or_file(
    m: &Map<String, Value>,
    key: &'static str,
    file_key: &'static str,
    ctx: &str,
) -> Result<Option<(Vec<u8>, &'static str)>, Why> {
    match (m.get(key), m.get(file_key)) {
        (Some(_), Some(_)) => Err(format!("{ctx}give \"{key}\" or \"{file_key}\", not both")),
        (Some(Value::String(s)), None) => Ok(Some((s.as_bytes().to_vec(), key))),
        (Some(v), None) => Err(format!("{ctx}\"{key}\" must be a PEM text (string), got {}", short(v))),
        (None, Some(Value::String(p))) => read_file(p, &format!("{ctx}\"{file_key}\"")).map(|b| Some((b, file_key))),
        (None, Some(v)) => Err(format!("{ctx}\"{file_key}\" must be a file path (string), got {}", short(v))),
        (None, None) => Ok(None),
    }
}

/// Some(message) when `bytes`, given for `key` where PEM is expected, is a
/// PKCS#12 file: binary DER, or its base64 text pasted without PEM lines.
pub fn pkcs12_instead_of_pem(bytes: &[u8], key: &str) -> Option<Why> {
    let der = if bytes.first() == Some(&0x30) {
        Some(bytes.to_vec())
    } else if !bytes.windows(5).any(|w| w == b"-----") {
        let text: String = String::from_utf8_lossy(bytes).chars().filter(|c| !c.is_whitespace()).collect();
        openssl::base64::decode_block(&text).ok()
    } else {
        None
    };
    let _ = Pkcs12::from_der(&der?).ok()?;
    Some(format!(
        "\"{key}\" looks like PKCS#12 (DER), not PEM: give it as \"sslConfig\": {{\"pkcs12File\": path}} (or \
         \"pkcs12\": base64 text) with its \"password\""
    ))
}

fn pem_identity(
    cert: &(Vec<u8>, &str),
    key: &(Vec<u8>, &str),
    algorithm: Option<&str>,
    password: Option<&str>,
) -> Result<ClientIdentity, Why> {
    if let Some(a) = algorithm {
        match a {
            "RSA" | "EC" => {}
            "DSA" => return Err(dsa_unsupported()),
            other => {
                return Err(format!("\"privateKey\".\"algorithm\" \"{other}\" is not one of \"RSA\", \"EC\", \"DSA\""))
            }
        }
    }
    for (bytes, k) in [cert, key] {
        if let Some(why) = pkcs12_instead_of_pem(bytes, k) {
            return Err(why);
        }
    }
    let chain = X509::stack_from_pem(&cert.0)
        .map_err(|e| format!("\"{}\": not a PEM certificate: {}", cert.1, ssl_reason(&e)))?;
    if chain.is_empty() {
        return Err(format!("\"{}\": no PEM certificate (\"-----BEGIN CERTIFICATE-----\") found", cert.1));
    }
    let pkey = private_key(&key.0, password)?;
    let kind = key_kind(&pkey)?;
    if let Some(a) = algorithm {
        if a != kind {
            return Err(format!("\"privateKey\": \"algorithm\" is \"{a}\" but the key is an {kind} key"));
        }
    }
    finish_identity(chain, pkey, "\"privateKey\" does not match \"localCertificate\"")
}

/// "pkcs12" (base64 of the DER file) or "pkcs12File" (the .p12/.pfx file),
/// with "password" (absent: empty).
fn pkcs12_identity(m: &Map<String, Value>) -> Result<ClientIdentity, Why> {
    let der = match (m.get("pkcs12"), m.get("pkcs12File")) {
        (Some(_), Some(_)) => return Err("give \"pkcs12\" or \"pkcs12File\", not both".into()),
        (Some(Value::String(s)), None) if s.contains("-----BEGIN ") => return Err(pem_given_for_pkcs12("\"pkcs12\"")),
        (Some(Value::String(s)), None) => {
            let text: String = s.chars().filter(|c| !c.is_whitespace()).collect();
            openssl::base64::decode_block(&text).map_err(|_| {
                "\"pkcs12\" must be the base64 text of a PKCS#12 file (or use \"pkcs12File\" with its path)".to_string()
            })?
        }
        (Some(v), None) => return Err(format!("\"pkcs12\" must be base64 text (string), got {}", short(v))),
        (None, Some(Value::String(p))) => read_file(p, "\"pkcs12File\"")?,
        (None, Some(v)) => return Err(format!("\"pkcs12File\" must be a file path (string), got {}", short(v))),
        (None, None) => unreachable!("checked by the caller"),
    };
    let password = match m.get("password") {
        None => "",
        Some(Value::String(p)) => p.as_str(),
        Some(v) => return Err(format!("\"password\" must be a string, got {}", short(v))),
    };
    let what = if m.contains_key("pkcs12") { "\"pkcs12\"" } else { "\"pkcs12File\"" };
    let p12 = Pkcs12::from_der(&der).map_err(|e| {
        if der.windows(11).any(|w| w == b"-----BEGIN ") {
            pem_given_for_pkcs12(what)
        } else {
            format!("{what}: not a PKCS#12 file: {}", ssl_reason(&e))
        }
    })?;
    let parsed = p12.parse2(password).map_err(|e| {
        if e.errors().iter().any(|x| x.library_code() == ERR_LIB_PKCS12 && x.reason_code() == R_MAC_VERIFY_FAILURE) {
            format!("{what}: cannot open the PKCS#12 file: wrong \"password\"? ({})", ssl_reason(&e))
        } else {
            // OpenSSL 3 without its legacy provider cannot decrypt the
            // RC2-40/3DES files older tools (and Windows) export.
            format!(
                "{what}: cannot open the PKCS#12 file ({}); if it uses legacy encryption (RC2, 3DES), convert \
                 it: openssl pkcs12 -legacy -in old.p12 -nodes | openssl pkcs12 -export -out new.p12",
                ssl_reason(&e)
            )
        }
    })?;
    let (Some(cert), Some(pkey)) = (parsed.cert, parsed.pkey) else {
        return Err(format!("{what}: the PKCS#12 file must hold a certificate and its private key"));
    };
    key_kind(&pkey)?;
    let mut chain = vec![cert];
    if let Some(cas) = parsed.ca {
        chain.extend(cas);
    }
    finish_identity(chain, pkey, &format!("{what}: the private key does not match the certificate"))
}

fn pem_given_for_pkcs12(what: &str) -> Why {
    format!("{what} is PEM, not PKCS#12: give PEM as \"localCertificate\"/\"localCertificateFile\" and \"privateKey\"")
}

/// "RSA" or "EC"; other key types are refused.
fn key_kind(key: &PKeyRef<Private>) -> Result<&'static str, Why> {
    match key.id() {
        Id::RSA | Id::RSA_PSS => Ok("RSA"),
        Id::EC => Ok("EC"),
        Id::DSA => Err(dsa_unsupported()),
        Id::ED25519 => Err(unsupported_key("Ed25519")),
        Id::ED448 => Err(unsupported_key("Ed448")),
        _ => Err(unsupported_key("this")),
    }
}

/// Checks that `key` belongs to the first certificate of `chain`.
fn finish_identity(chain: Vec<X509>, key: PKey<Private>, mismatch: &str) -> Result<ClientIdentity, Why> {
    let cert = &chain[0];
    let cert_key = cert.public_key().map_err(|e| format!("the certificate's public key: {}", ssl_reason(&e)))?;
    if !cert_key.public_eq(&key) {
        return Err(format!(
            "{mismatch}: the private key ({}) does not match the public key ({}) of the certificate \"{}\"",
            describe_key(&key),
            describe_key(&cert_key),
            verify::name(cert.subject_name())
        ));
    }
    let summary = format!(
        "{} key for \"{}\"{}",
        describe_key(&key),
        verify::name(cert.subject_name()),
        if chain.len() > 1 { format!(" with {} CA certificate(s)", chain.len() - 1) } else { String::new() }
    );
    Ok(ClientIdentity { chain, key, summary })
}

fn dsa_unsupported() -> Why {
    "\"privateKey\": DSA keys are unsupported: TLS 1.3 has no DSA signatures and current TLS stacks and \
     servers no longer negotiate DSA; use an RSA or EC key"
        .into()
}

fn unsupported_key(kind: &str) -> Why {
    format!("\"privateKey\": {kind} keys are unsupported (WinCC's algorithms are RSA and EC; DSA is not usable either)")
}

/// "RSA 2048-bit", "EC P-256".
fn describe_key<T: HasPublic>(k: &PKeyRef<T>) -> String {
    match k.id() {
        Id::RSA | Id::RSA_PSS => format!("RSA {}-bit", k.bits()),
        Id::EC => {
            let curve = k.ec_key().ok().and_then(|e| e.group().curve_name());
            match curve {
                Some(Nid::X9_62_PRIME256V1) => "EC P-256".into(),
                Some(Nid::SECP384R1) => "EC P-384".into(),
                Some(Nid::SECP521R1) => "EC P-521".into(),
                Some(n) => format!("EC {}", n.short_name().unwrap_or("?")),
                None => format!("EC {}-bit", k.bits()),
            }
        }
        Id::DSA => format!("DSA {}-bit", k.bits()),
        Id::ED25519 => "Ed25519".into(),
        Id::ED448 => "Ed448".into(),
        _ => format!("{}-bit", k.bits()),
    }
}

/// Reads a private key in any PEM form OpenSSL knows: PKCS#1 ("RSA PRIVATE
/// KEY"), SEC1 ("EC PRIVATE KEY"), PKCS#8 ("PRIVATE KEY"), encrypted PKCS#8
/// ("ENCRYPTED PRIVATE KEY") and legacy encrypted PEM ("Proc-Type:
/// 4,ENCRYPTED").
fn private_key(pem: &[u8], password: Option<&str>) -> Result<PKey<Private>, Why> {
    let text = String::from_utf8_lossy(pem);
    if !text.contains("-----BEGIN") {
        return Err("\"privateKey\": not a PEM key (no \"-----BEGIN ... PRIVATE KEY-----\" line)".into());
    }
    let encrypted = text.contains("ENCRYPTED PRIVATE KEY") || text.contains("Proc-Type: 4,ENCRYPTED");
    if encrypted && password.is_none() {
        return Err("\"privateKey\": the key is encrypted: give its \"password\" in \"privateKey\"".into());
    }
    // The callback, not OpenSSL's default one: that one would prompt for a
    // password on the terminal of the host program.
    let mut asked = false;
    let r = PKey::private_key_from_pem_callback(pem, |buf| {
        asked = true;
        let p = password.unwrap_or("").as_bytes();
        if p.len() > buf.len() {
            return Err(openssl::error::ErrorStack::get());
        }
        buf[..p.len()].copy_from_slice(p);
        Ok(p.len())
    });
    match r {
        Ok(k) => Ok(k),
        Err(e) if asked || encrypted => {
            Err(format!("\"privateKey\": cannot decrypt the key: wrong \"password\"? ({})", ssl_reason(&e)))
        }
        Err(e) => Err(format!("\"privateKey\": not a valid PEM private key: {}", ssl_reason(&e))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn self_signed(key: &PKey<Private>) -> X509 {
        let mut name = openssl::x509::X509NameBuilder::new().unwrap();
        name.append_entry_by_nid(Nid::COMMONNAME, "unit").unwrap();
        let name = name.build();
        let mut b = X509::builder().unwrap();
        b.set_subject_name(&name).unwrap();
        b.set_issuer_name(&name).unwrap();
        b.set_pubkey(key).unwrap();
        b.set_not_before(&openssl::asn1::Asn1Time::days_from_now(0).unwrap()).unwrap();
        b.set_not_after(&openssl::asn1::Asn1Time::days_from_now(1).unwrap()).unwrap();
        b.sign(key, openssl::hash::MessageDigest::sha256()).unwrap();
        b.build()
    }

    #[test]
    fn pkcs12_and_confusions() {
        let group = openssl::ec::EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
        let key = PKey::from_ec_key(openssl::ec::EcKey::generate(&group).unwrap()).unwrap();
        let cert = self_signed(&key);
        let der = Pkcs12::builder().name("unit").pkey(&key).cert(&cert).build2("pw").unwrap().to_der().unwrap();
        let b64 = openssl::base64::encode_block(&der);
        let id = parse_ssl_config(&json!({ "pkcs12": b64, "password": "pw" })).unwrap().unwrap();
        assert_eq!(id.summary, "EC P-256 key for \"CN=unit\"");
        let e = parse_ssl_config(&json!({ "pkcs12": b64, "password": "nope" })).unwrap_err();
        assert!(e.contains("wrong \"password\"?"), "{e}");
        // DER or its base64 where PEM is expected
        let pem_key = String::from_utf8(key.private_key_to_pem_pkcs8().unwrap()).unwrap();
        let e = parse_ssl_config(&json!({ "localCertificate": b64, "privateKey": pem_key })).unwrap_err();
        assert!(e.contains("\"localCertificate\" looks like PKCS#12 (DER)"), "{e}");
        assert!(pkcs12_instead_of_pem(&der, "localCertificateFile").is_some());
        assert!(pkcs12_instead_of_pem(&cert.to_pem().unwrap(), "x").is_none());
        assert!(pkcs12_instead_of_pem(b"junk", "x").is_none());
        // PEM where PKCS#12 is expected
        let pem = String::from_utf8(cert.to_pem().unwrap()).unwrap();
        let e = parse_ssl_config(&json!({ "pkcs12": pem })).unwrap_err();
        assert!(e.contains("\"pkcs12\" is PEM, not PKCS#12"), "{e}");
        // a wrong key
        let other = PKey::from_rsa(openssl::rsa::Rsa::generate(2048).unwrap()).unwrap();
        let other_pem = String::from_utf8(other.private_key_to_pem_pkcs8().unwrap()).unwrap();
        let e = parse_ssl_config(&json!({ "localCertificate": pem, "privateKey": other_pem })).unwrap_err();
        assert!(
            e.contains("the private key (RSA 2048-bit) does not match the public key (EC P-256) of the certificate"),
            "{e}"
        );
        assert!(parse_ssl_config(&json!({ "pkcs12": b64, "privateKey": "x" }))
            .unwrap_err()
            .contains("cannot be combined"));
        assert!(parse_ssl_config(&json!({ "password": "x" })).unwrap_err().contains("belongs to \"pkcs12\""));
    }
}
