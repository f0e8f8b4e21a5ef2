//! The TLS keys of the `ws_open` options mapping, parsed and validated
//! before anything touches the network: certificates, keys, PKCS#12 files
//! and CRLs are read, decrypted and cross-checked here, so that a wrong key,
//! a wrong password, a file in the wrong format or an unsupported algorithm
//! is an options error naming the key, not a handshake failure later.
#![deny(unsafe_code)]

use super::verify::Class;
use openssl::x509::{X509Crl, X509};
use serde_json::Value;
use std::fmt;
use std::sync::Arc;

/// What is wrong with a value (the caller adds the key).
pub type Why = String;

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
        if let Some(why) = super::identity::pkcs12_instead_of_pem(&pem, key) {
            return Err(why);
        }
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

/// A TLS protocol version for "tlsMinVersion" / "tlsMaxVersion".
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsVersion {
    V12,
    V13,
}

impl TlsVersion {
    pub fn name(self) -> &'static str {
        match self {
            TlsVersion::V12 => "1.2",
            TlsVersion::V13 => "1.3",
        }
    }
}

/// "tlsMinVersion" / "tlsMaxVersion": "1.2" or "1.3" ("TLSv1.3" and
/// "TLS1.3" too).
pub fn parse_version(v: &Value) -> Result<TlsVersion, Why> {
    let s = v.as_str().map(|s| s.trim().to_ascii_lowercase()).unwrap_or_default();
    let s = s.trim_start_matches("tls").trim_start_matches('v').trim();
    match s {
        "1.2" => Ok(TlsVersion::V12),
        "1.3" => Ok(TlsVersion::V13),
        _ => Err(format!("must be \"1.2\" or \"1.3\", got {}", short(v))),
    }
}

/// "ocspStapling".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Ocsp {
    /// Absent: no status request.
    #[default]
    Off,
    /// "check": ask for a stapled OCSP response and verify it if one comes.
    Check,
    /// "require": as "check", and a server that staples none is refused.
    Require,
}

pub fn parse_ocsp(v: &Value) -> Result<Ocsp, Why> {
    match v.as_str().map(str::trim) {
        Some("check") => Ok(Ocsp::Check),
        Some("require") => Ok(Ocsp::Require),
        _ => Err(format!("must be \"check\" or \"require\", got {}", short(v))),
    }
}

/// "crlFile": the paths (one, or a list) and the CRLs they hold.
#[derive(Clone, Default)]
pub struct Crls {
    pub files: Vec<String>,
    /// Every CRL of every file, in order (X509Crl is not Clone).
    pub crls: Arc<Vec<X509Crl>>,
    /// How many CRLs each file holds.
    pub counts: Vec<usize>,
}

impl fmt::Debug for Crls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Crls").field("files", &self.files).field("counts", &self.counts).finish_non_exhaustive()
    }
}

/// "crlFile": a PEM file with one or more CRLs ("-----BEGIN X509
/// CRL-----"), or a list of such files.
pub fn parse_crl_files(v: &Value) -> Result<Crls, Why> {
    let paths: Vec<&Value> = match v {
        Value::Array(a) if !a.is_empty() => a.iter().collect(),
        Value::String(_) => vec![v],
        _ => return Err(format!("must be a file path or a non-empty list of them, got {}", short(v))),
    };
    let mut out = Crls::default();
    let mut all = Vec::new();
    for p in paths {
        let Value::String(path) = p else {
            return Err(format!("entries must be file paths (strings), got {}", short(p)));
        };
        let bytes = read_file(path, "\"crlFile\"")?;
        let crls = crls_from_pem(&bytes).map_err(|why| format!("\"{path}\": {why}"))?;
        out.counts.push(crls.len());
        all.extend(crls);
        out.files.push(path.clone());
    }
    out.crls = Arc::new(all);
    Ok(out)
}

/// Every "X509 CRL" PEM block of `bytes`.
fn crls_from_pem(bytes: &[u8]) -> Result<Vec<X509Crl>, Why> {
    const BEGIN: &str = "-----BEGIN X509 CRL-----";
    const END: &str = "-----END X509 CRL-----";
    if bytes.first() == Some(&0x30) {
        return Err("looks like a DER CRL, not PEM (convert it: openssl crl -inform DER -in FILE -out FILE.pem)".into());
    }
    let text = String::from_utf8_lossy(bytes);
    let mut out = Vec::new();
    let mut rest = &text[..];
    while let Some(a) = rest.find(BEGIN) {
        let Some(len) = rest[a..].find(END) else {
            return Err("a \"-----BEGIN X509 CRL-----\" block has no END line".into());
        };
        let block = &rest[a..a + len + END.len()];
        let crl =
            X509Crl::from_pem(block.as_bytes()).map_err(|e| format!("not a valid PEM CRL: {}", ssl_reason(&e)))?;
        out.push(crl);
        rest = &rest[a + len + END.len()..];
    }
    if out.is_empty() {
        return Err("no PEM CRL (\"-----BEGIN X509 CRL-----\") found".into());
    }
    Ok(out)
}

pub fn read_file(path: &str, what: &str) -> Result<Vec<u8>, Why> {
    std::fs::read(path).map_err(|e| format!("{what}: cannot read \"{path}\": {}", crate::error::describe_io(&e)))
}

/// The reason of OpenSSL's first error ("bad decrypt"), not its whole stack.
pub fn ssl_reason(e: &openssl::error::ErrorStack) -> String {
    e.errors().first().and_then(|x| x.reason().map(str::to_string)).unwrap_or_else(|| e.to_string())
}

pub fn short(v: &Value) -> String {
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
        assert_eq!(parse_version(&json!("1.3")), Ok(TlsVersion::V13));
        assert_eq!(parse_version(&json!("TLSv1.2")), Ok(TlsVersion::V12));
        assert!(parse_version(&json!("1.1")).is_err());
        assert!(parse_version(&json!(1.3)).is_err());
        assert!(TlsVersion::V12 < TlsVersion::V13);
    }

    #[test]
    fn ocsp_and_crl_values() {
        assert_eq!(parse_ocsp(&json!("check")), Ok(Ocsp::Check));
        assert_eq!(parse_ocsp(&json!("require")), Ok(Ocsp::Require));
        assert!(parse_ocsp(&json!(true)).is_err());
        let err = |b: &[u8]| crls_from_pem(b).err().unwrap_or_default();
        assert!(err(b"nothing").contains("no PEM CRL"));
        assert!(err(&[0x30, 0x82]).contains("DER"));
        assert!(err(b"-----BEGIN X509 CRL-----\nAAAA").contains("no END line"));
        assert!(parse_crl_files(&json!([])).is_err());
        assert!(parse_crl_files(&json!("/nonexistent/crl.pem")).unwrap_err().contains("cannot read"));
    }
}
