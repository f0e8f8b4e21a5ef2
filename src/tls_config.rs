//! The TLS keys of the `ws_open` options mapping, parsed and validated
//! before anything touches the network: certificates and keys are read,
//! decrypted, converted and cross-checked here, so that a wrong key, a wrong
//! password or an unsupported algorithm is an options error naming the key,
//! not a handshake failure later.
#![deny(unsafe_code)]

use crate::tls_verify::Class;
use openssl::pkey::{Id, PKey, Private};
use openssl::x509::X509;
use serde_json::{Map, Value};
use std::fmt;

type Why = String;

/// "ignoreSslErrors".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Ignore {
    /// `false` or absent: every problem fails the connection.
    #[default]
    Nothing,
    /// `true`, `""` or `[]` (WinCC): no verification at all.
    Everything,
    /// These classes only (sorted, without duplicates, never empty).
    Classes(Vec<Class>),
}

impl Ignore {
    pub fn contains(&self, c: Class) -> bool {
        match self {
            Ignore::Nothing => false,
            Ignore::Everything => true,
            Ignore::Classes(v) => v.contains(&c),
        }
    }

    /// "[HostNameMismatch, SelfSignedCertificate]" for messages.
    pub fn list(&self) -> String {
        match self {
            Ignore::Nothing => "[]".into(),
            Ignore::Everything => "everything".into(),
            Ignore::Classes(v) => format!("[{}]", v.iter().map(|c| c.name()).collect::<Vec<_>>().join(", ")),
        }
    }
}

pub fn parse_ignore(v: &Value) -> Result<Ignore, Why> {
    let names: Vec<&str> = match v {
        Value::Bool(false) => return Ok(Ignore::Nothing),
        Value::Bool(true) => return Ok(Ignore::Everything),
        // WinCC ignores everything for any value that is not a dyn_string;
        // only "" keeps that meaning here: a name in a string is read as a
        // list, so that "HostNameMismatch" does not silently turn all
        // verification off.
        Value::String(s) if s.trim().is_empty() => return Ok(Ignore::Everything),
        Value::String(s) => s.split([',', ' ', ';']).filter(|n| !n.is_empty()).collect(),
        Value::Array(a) if a.is_empty() => return Ok(Ignore::Everything),
        Value::Array(a) => {
            let mut v = Vec::with_capacity(a.len());
            for x in a {
                v.push(x.as_str().ok_or_else(|| format!("entries must be class names (strings), got {}", short(x)))?);
            }
            v
        }
        other => {
            return Err(format!(
                "must be true (or \"\" or []) to ignore every verification error, false, or a list of \
                 class names such as [\"HostNameMismatch\"], got {}",
                short(other)
            ))
        }
    };
    let mut classes = Vec::new();
    for n in names {
        let c = Class::from_name(n).ok_or_else(|| {
            format!(
                "unknown SSL error class \"{}\"; known classes: {}",
                n.chars().take(60).collect::<String>(),
                Class::all_names().join(", ")
            )
        })?;
        classes.push(c);
    }
    classes.sort();
    classes.dedup();
    Ok(Ignore::Classes(classes))
}

/// The client certificate and key of "sslConfig", converted for native-tls.
#[derive(Clone)]
pub struct ClientIdentity {
    pub identity: native_tls::Identity,
    /// "RSA 2048-bit key for \"CN=client\"" for messages.
    pub summary: String,
}

impl fmt::Debug for ClientIdentity {
    // Never print key material.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientIdentity").field("summary", &self.summary).finish_non_exhaustive()
    }
}

/// Reads a PEM text given inline (`key`) or as a file (`file_key`); exactly
/// one of them must be present in `m`.
fn text_or_file(m: &Map<String, Value>, key: &str, file_key: &str, ctx: &str) -> Result<Option<Vec<u8>>, Why> {
    match (m.get(key), m.get(file_key)) {
        (Some(_), Some(_)) => Err(format!("{ctx}: give \"{key}\" or \"{file_key}\", not both")),
        (Some(Value::String(s)), None) => Ok(Some(s.as_bytes().to_vec())),
        (Some(v), None) => Err(format!("{ctx}\"{key}\" must be a PEM text (string), got {}", short(v))),
        (None, Some(Value::String(p))) => read_file(p, &format!("{ctx}\"{file_key}\"")).map(Some),
        (None, Some(v)) => Err(format!("{ctx}\"{file_key}\" must be a file path (string), got {}", short(v))),
        (None, None) => Ok(None),
    }
}

fn read_file(path: &str, what: &str) -> Result<Vec<u8>, Why> {
    std::fs::read(path).map_err(|e| format!("{what}: cannot read \"{path}\": {}", crate::error::describe_io(&e)))
}

/// "sslConfig": {"localCertificate"|"localCertificateFile": PEM,
/// "privateKey": {"key"|"keyFile": PEM, "algorithm": "RSA"|"EC"|"DSA",
/// "password": "..."}} (a string for "privateKey" is its "key").
pub fn parse_ssl_config(v: &Value) -> Result<Option<ClientIdentity>, Why> {
    let Value::Object(m) = v else {
        return Err(format!("must be an object with \"localCertificate\" and \"privateKey\", got {}", short(v)));
    };
    for k in m.keys() {
        match k.as_str() {
            "localCertificate" | "localCertificateFile" | "privateKey" => {}
            "caCertificates" | "caCertificatesFile" | "caCertificatesOnly" | "pinnedSha256" | "tlsMinVersion" => {
                return Err(format!("\"{k}\" belongs at the top level of the options, not in \"sslConfig\""))
            }
            other => {
                return Err(format!(
                    "unknown key \"{}\" (expected localCertificate, localCertificateFile, privateKey)",
                    other.chars().take(60).collect::<String>()
                ))
            }
        }
    }
    let cert_pem = text_or_file(m, "localCertificate", "localCertificateFile", "")?;
    let (key_pem, algorithm, password) = match m.get("privateKey") {
        None => (None, None, None),
        Some(Value::String(s)) => (Some(s.as_bytes().to_vec()), None, None),
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
        (Some(c), Some(k)) => identity(&c, &k, algorithm.as_deref(), password.as_deref()).map(Some),
    }
}

fn identity(
    cert_pem: &[u8],
    key_pem: &[u8],
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
    let certs = X509::stack_from_pem(cert_pem)
        .map_err(|e| format!("\"localCertificate\": not a PEM certificate: {}", ssl_reason(&e)))?;
    let Some(cert) = certs.first() else {
        return Err("\"localCertificate\": no PEM certificate (\"-----BEGIN CERTIFICATE-----\") found".into());
    };
    let key = private_key(key_pem, password)?;
    let kind = match key.id() {
        Id::RSA | Id::RSA_PSS => "RSA",
        Id::EC => "EC",
        Id::DSA => return Err(dsa_unsupported()),
        Id::ED25519 => return Err(unsupported_key("Ed25519")),
        Id::ED448 => return Err(unsupported_key("Ed448")),
        _ => return Err(unsupported_key("this")),
    };
    if let Some(a) = algorithm {
        if a != kind {
            return Err(format!("\"privateKey\": \"algorithm\" is \"{a}\" but the key is an {kind} key"));
        }
    }
    let cert_key =
        cert.public_key().map_err(|e| format!("\"localCertificate\": unreadable public key: {}", ssl_reason(&e)))?;
    if !cert_key.public_eq(&key) {
        return Err(format!(
            "\"privateKey\" does not match \"localCertificate\" (the certificate \"{}\" is for a {} key, the private key is {})",
            crate::tls_verify::name(cert.subject_name()),
            key_summary(cert_key.id(), cert_key.bits()),
            key_summary(key.id(), key.bits())
        ));
    }
    let pkcs8 = key
        .private_key_to_pem_pkcs8()
        .map_err(|e| format!("\"privateKey\": cannot convert to PKCS#8: {}", ssl_reason(&e)))?;
    // The chain in the order given: the client's certificate first, then
    // the CAs the server may need to link it to the CA it trusts.
    let mut chain = Vec::new();
    for c in &certs {
        chain.extend(c.to_pem().map_err(|e| format!("\"localCertificate\": {}", ssl_reason(&e)))?);
    }
    let identity = native_tls::Identity::from_pkcs8(&chain, &pkcs8).map_err(|e| format!("sslConfig: {e}"))?;
    let summary = format!(
        "{} for \"{}\"{}",
        key_summary(key.id(), key.bits()),
        crate::tls_verify::name(cert.subject_name()),
        if certs.len() > 1 { format!(" with {} CA certificate(s)", certs.len() - 1) } else { String::new() }
    );
    Ok(ClientIdentity { identity, summary })
}

fn dsa_unsupported() -> Why {
    "\"privateKey\": DSA keys are unsupported: TLS 1.3 has no DSA signatures and current TLS stacks and \
     servers no longer negotiate DSA; use an RSA or EC key"
        .into()
}

fn unsupported_key(kind: &str) -> Why {
    format!("\"privateKey\": {kind} keys are unsupported (WinCC's algorithms are RSA and EC; DSA is not usable either)")
}

fn key_summary(id: Id, bits: u32) -> String {
    match id {
        Id::RSA | Id::RSA_PSS => format!("RSA {bits}-bit key"),
        Id::EC => format!("EC {bits}-bit key"),
        Id::DSA => format!("DSA {bits}-bit key"),
        _ => format!("{bits}-bit key"),
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

/// "caCertificates": PEM text (one or more certificates) or a list of them;
/// "caCertificatesFile": a path or a list of paths.
pub fn parse_cas(v: &Value, files: bool, key: &str) -> Result<Vec<X509>, Why> {
    let items: Vec<&Value> = match v {
        Value::Array(a) if !a.is_empty() => a.iter().collect(),
        Value::String(_) => vec![v],
        _ => {
            return Err(format!(
                "must be {} or a non-empty list of them, got {}",
                if files { "a file path" } else { "PEM text" },
                short(v)
            ))
        }
    };
    let mut out = Vec::new();
    for it in items {
        let Value::String(s) = it else {
            return Err(format!("entries must be strings, got {}", short(it)));
        };
        let pem = if files { read_file(s, &format!("\"{key}\""))? } else { s.as_bytes().to_vec() };
        let certs = X509::stack_from_pem(&pem).map_err(|e| format!("not PEM certificates: {}", ssl_reason(&e)))?;
        if certs.is_empty() {
            return Err(if files {
                format!("no PEM certificate (\"-----BEGIN CERTIFICATE-----\") in \"{s}\"")
            } else {
                "no PEM certificate (\"-----BEGIN CERTIFICATE-----\") found".into()
            });
        }
        out.extend(certs);
    }
    Ok(out)
}

/// "pinnedSha256": 64 hex digits (colons and spaces allowed), or a list.
pub fn parse_pins(v: &Value) -> Result<Vec<[u8; 32]>, Why> {
    let items: Vec<&Value> = match v {
        Value::Array(a) if !a.is_empty() => a.iter().collect(),
        Value::String(_) => vec![v],
        _ => {
            return Err(format!(
                "must be a SHA-256 fingerprint (64 hex digits) or a non-empty list of them, got {}",
                short(v)
            ))
        }
    };
    let mut out = Vec::new();
    for it in items {
        let Value::String(s) = it else {
            return Err(format!("entries must be strings, got {}", short(it)));
        };
        let hex: String = s.chars().filter(|c| !matches!(c, ':' | ' ' | '-')).collect();
        let bad = || {
            format!(
                "\"{}\" is not a SHA-256 fingerprint (64 hex digits, colons optional)",
                s.chars().take(100).collect::<String>()
            )
        };
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        let mut pin = [0u8; 32];
        for (i, b) in pin.iter_mut().enumerate() {
            *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
        }
        out.push(pin);
    }
    Ok(out)
}

/// "tlsMinVersion": "1.2" or "1.3" ("TLSv1.3" and "TLS1.3" too).
pub fn parse_min_version(v: &Value) -> Result<native_tls::Protocol, Why> {
    let s = v.as_str().map(|s| s.trim().to_ascii_lowercase()).unwrap_or_default();
    let s = s.trim_start_matches("tls").trim_start_matches('v').trim();
    match s {
        "1.2" => Ok(native_tls::Protocol::Tlsv12),
        "1.3" => Ok(native_tls::Protocol::Tlsv13),
        _ => Err(format!("must be \"1.2\" or \"1.3\", got {}", short(v))),
    }
}

/// The reason of OpenSSL's first error ("bad decrypt"), not its whole stack.
pub fn ssl_reason(e: &openssl::error::ErrorStack) -> String {
    e.errors().first().and_then(|x| x.reason().map(str::to_string)).unwrap_or_else(|| e.to_string())
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 60 {
        format!("{}...", s.chars().take(60).collect::<String>())
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ignore_values() {
        assert_eq!(parse_ignore(&json!(false)).unwrap(), Ignore::Nothing);
        for all in [json!(true), json!(""), json!([])] {
            assert_eq!(parse_ignore(&all).unwrap(), Ignore::Everything);
        }
        let i = parse_ignore(&json!(["SelfSignedCertificate", "hostNameMismatch", "HostNameMismatch"])).unwrap();
        assert_eq!(i, Ignore::Classes(vec![Class::SelfSignedCertificate, Class::HostNameMismatch]));
        assert_eq!(
            parse_ignore(&json!("CertificateExpired")).unwrap(),
            Ignore::Classes(vec![Class::CertificateExpired])
        );
        assert!(parse_ignore(&json!(["Nope"])).unwrap_err().contains("unknown SSL error class \"Nope\""));
        assert!(parse_ignore(&json!(1)).is_err());
        assert!(parse_ignore(&json!([1])).is_err());
    }

    #[test]
    fn pins() {
        let h = "AB".repeat(32);
        let colons = vec!["ab"; 32].join(":");
        assert_eq!(parse_pins(&json!(h)).unwrap(), vec![[0xAB; 32]]);
        assert_eq!(parse_pins(&json!([colons])).unwrap(), vec![[0xAB; 32]]);
        assert!(parse_pins(&json!("abc")).is_err());
        assert!(parse_pins(&json!([])).is_err());
        assert!(parse_pins(&json!("zz".repeat(32))).is_err());
    }

    #[test]
    fn versions() {
        assert!(matches!(parse_min_version(&json!("1.3")), Ok(native_tls::Protocol::Tlsv13)));
        assert!(matches!(parse_min_version(&json!("TLSv1.2")), Ok(native_tls::Protocol::Tlsv12)));
        assert!(parse_min_version(&json!("1.1")).is_err());
        assert!(parse_min_version(&json!(1.3)).is_err());
    }
}
