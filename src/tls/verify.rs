//! Certificate problems by WinCC/Qt class (`QSslError` names): the
//! classification of OpenSSL's X509 verification error codes, the text of
//! each problem, and how certificates are named in messages (subject,
//! issuer, dates, SHA-256 fingerprints). The messages built from these are
//! what `ws_last_error()` shows for TLS verification failures.
#![deny(unsafe_code)]
// The classification of verification errors is the OpenSSL backend's; the
// native-tls backend uses only the names and fingerprints.
#![cfg_attr(any(not(unix), target_vendor = "apple", feature = "native-tls-backend"), allow(dead_code))]

use openssl::asn1::{Asn1Time, Asn1TimeRef};
use openssl::hash::MessageDigest;
use openssl::x509::{X509NameRef, X509Ref};
use std::fmt::Write as _;

/// A verification error class, named as Qt's `QSslError::SslError` (which
/// WinCC's "ignoreSslErrors" and netGet's "sslErrors" use).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Class {
    UnableToGetIssuerCertificate,
    UnableToDecryptCertificateSignature,
    UnableToDecodeIssuerPublicKey,
    CertificateSignatureFailed,
    CertificateNotYetValid,
    CertificateExpired,
    InvalidNotBeforeField,
    InvalidNotAfterField,
    SelfSignedCertificate,
    SelfSignedCertificateInChain,
    UnableToGetLocalIssuerCertificate,
    UnableToVerifyFirstCertificate,
    CertificateRevoked,
    InvalidCaCertificate,
    PathLengthExceeded,
    InvalidPurpose,
    CertificateUntrusted,
    CertificateRejected,
    SubjectIssuerMismatch,
    AuthorityIssuerSerialNumberMismatch,
    NoPeerCertificate,
    HostNameMismatch,
    CertificateBlacklisted,
    OcspNoResponseFound,
    OcspMalformedRequest,
    OcspMalformedResponse,
    OcspInternalError,
    OcspTryLater,
    OcspSigRequred,
    OcspUnauthorized,
    OcspResponseCannotBeTrusted,
    OcspResponseCertIdUnknown,
    OcspResponseExpired,
    OcspStatusUnknown,
    UnspecifiedError,
}

use Class::*;

/// Every class with its name (Qt's spelling, "OcspSigRequred" included).
const NAMES: &[(Class, &str)] = &[
    (UnableToGetIssuerCertificate, "UnableToGetIssuerCertificate"),
    (UnableToDecryptCertificateSignature, "UnableToDecryptCertificateSignature"),
    (UnableToDecodeIssuerPublicKey, "UnableToDecodeIssuerPublicKey"),
    (CertificateSignatureFailed, "CertificateSignatureFailed"),
    (CertificateNotYetValid, "CertificateNotYetValid"),
    (CertificateExpired, "CertificateExpired"),
    (InvalidNotBeforeField, "InvalidNotBeforeField"),
    (InvalidNotAfterField, "InvalidNotAfterField"),
    (SelfSignedCertificate, "SelfSignedCertificate"),
    (SelfSignedCertificateInChain, "SelfSignedCertificateInChain"),
    (UnableToGetLocalIssuerCertificate, "UnableToGetLocalIssuerCertificate"),
    (UnableToVerifyFirstCertificate, "UnableToVerifyFirstCertificate"),
    (CertificateRevoked, "CertificateRevoked"),
    (InvalidCaCertificate, "InvalidCaCertificate"),
    (PathLengthExceeded, "PathLengthExceeded"),
    (InvalidPurpose, "InvalidPurpose"),
    (CertificateUntrusted, "CertificateUntrusted"),
    (CertificateRejected, "CertificateRejected"),
    (SubjectIssuerMismatch, "SubjectIssuerMismatch"),
    (AuthorityIssuerSerialNumberMismatch, "AuthorityIssuerSerialNumberMismatch"),
    (NoPeerCertificate, "NoPeerCertificate"),
    (HostNameMismatch, "HostNameMismatch"),
    (CertificateBlacklisted, "CertificateBlacklisted"),
    (OcspNoResponseFound, "OcspNoResponseFound"),
    (OcspMalformedRequest, "OcspMalformedRequest"),
    (OcspMalformedResponse, "OcspMalformedResponse"),
    (OcspInternalError, "OcspInternalError"),
    (OcspTryLater, "OcspTryLater"),
    (OcspSigRequred, "OcspSigRequred"),
    (OcspUnauthorized, "OcspUnauthorized"),
    (OcspResponseCannotBeTrusted, "OcspResponseCannotBeTrusted"),
    (OcspResponseCertIdUnknown, "OcspResponseCertIdUnknown"),
    (OcspResponseExpired, "OcspResponseExpired"),
    (OcspStatusUnknown, "OcspStatusUnknown"),
    (UnspecifiedError, "UnspecifiedError"),
];

/// OpenSSL's X509_V_ERR_* numbers used below (x509_vfy.h; stable across
/// 1.1 and 3.x except INVALID_CA, see `from_code`).
pub(crate) mod code {
    pub(crate) const UNABLE_TO_GET_ISSUER_CERT: i32 = 2;
    pub(crate) const UNABLE_TO_GET_CRL: i32 = 3;
    pub(crate) const CERT_NOT_YET_VALID: i32 = 9;
    pub(crate) const CERT_HAS_EXPIRED: i32 = 10;
    pub(crate) const DEPTH_ZERO_SELF_SIGNED_CERT: i32 = 18;
    pub(crate) const SELF_SIGNED_CERT_IN_CHAIN: i32 = 19;
    pub(crate) const UNABLE_TO_GET_ISSUER_CERT_LOCALLY: i32 = 20;
    pub(crate) const UNABLE_TO_VERIFY_LEAF_SIGNATURE: i32 = 21;
    pub(crate) const CERT_REVOKED: i32 = 23;
    pub(crate) const HOSTNAME_MISMATCH: i32 = 62;
    pub(crate) const IP_ADDRESS_MISMATCH: i32 = 64;
    /// X509_V_ERR_INVALID_CA in OpenSSL 1.1 (3.0 reuses 24 for "issuer
    /// certificate doesn't have a public key").
    pub(crate) const INVALID_CA_1_1: i32 = 24;
    /// X509_V_ERR_INVALID_CA in OpenSSL 3.
    pub(crate) const INVALID_CA_3: i32 = 79;
}

impl Class {
    pub fn name(self) -> &'static str {
        NAMES.iter().find(|e| e.0 == self).map_or("UnspecifiedError", |e| e.1)
    }

    /// The class of a name, case-insensitively (WinCC scripts are not always
    /// careful with case); None for an unknown name.
    pub fn from_name(name: &str) -> Option<Class> {
        let n = name.trim();
        if n.eq_ignore_ascii_case("OcspSigRequired") {
            return Some(OcspSigRequred);
        }
        NAMES.iter().find(|e| e.1.eq_ignore_ascii_case(n)).map(|e| e.0)
    }

    /// All names, for the message about an unknown one.
    pub fn all_names() -> Vec<&'static str> {
        NAMES.iter().map(|e| e.1).collect()
    }

    /// The class of an OpenSSL X509 verification error code
    /// (X509_STORE_CTX_get_error), as Qt's OpenSSL backend maps them; every
    /// other code is UnspecifiedError, as in Qt.
    pub fn from_code(c: i32) -> Class {
        let invalid_ca =
            if openssl::version::number() >= 0x3000_0000 { code::INVALID_CA_3 } else { code::INVALID_CA_1_1 };
        match c {
            2 => UnableToGetIssuerCertificate,
            4 => UnableToDecryptCertificateSignature,
            6 => UnableToDecodeIssuerPublicKey,
            7 => CertificateSignatureFailed,
            9 => CertificateNotYetValid,
            10 => CertificateExpired,
            13 => InvalidNotBeforeField,
            14 => InvalidNotAfterField,
            18 => SelfSignedCertificate,
            19 => SelfSignedCertificateInChain,
            20 => UnableToGetLocalIssuerCertificate,
            21 => UnableToVerifyFirstCertificate,
            23 => CertificateRevoked,
            25 => PathLengthExceeded,
            26 => InvalidPurpose,
            27 => CertificateUntrusted,
            28 => CertificateRejected,
            29 => SubjectIssuerMismatch,
            31 => AuthorityIssuerSerialNumberMismatch,
            62 | 64 => HostNameMismatch,
            c if c == invalid_ca => InvalidCaCertificate,
            _ => UnspecifiedError,
        }
    }
}

/// One problem found while verifying the server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub class: Class,
    /// What exactly, e.g. "notAfter 2024-01-31 00:00:00 UTC".
    pub detail: String,
}

impl Problem {
    pub fn new(class: Class, detail: impl Into<String>) -> Problem {
        Problem { class, detail: detail.into() }
    }

    /// "CertificateExpired (notAfter 2024-01-31 00:00:00 UTC)".
    pub fn describe(&self) -> String {
        if self.detail.is_empty() {
            self.class.name().to_string()
        } else {
            format!("{} ({})", self.class.name(), self.detail)
        }
    }
}

/// The detail of X509 verification error `code` about certificate `cert`
/// at chain depth `depth` (0: the server's own), with `host` as shown in
/// the URL, `text` OpenSSL's description of the code, and `revoked` how a
/// revoked certificate was revoked ("revoked 2024-... by the CRL of ...").
pub fn detail(
    code: i32,
    text: &str,
    depth: u32,
    cert: Option<&X509Ref>,
    host: &str,
    revoked: Option<String>,
) -> String {
    let Some(cert) = cert else { return text.to_string() };
    let ca = if depth > 0 { format!("CA \"{}\": ", name(cert.subject_name())) } else { String::new() };
    match code {
        code::DEPTH_ZERO_SELF_SIGNED_CERT => {
            format!("\"{}\" is self-signed and not trusted", name(cert.subject_name()))
        }
        code::SELF_SIGNED_CERT_IN_CHAIN => format!("{ca}the chain ends in this self-signed CA, which is not trusted"),
        code::UNABLE_TO_GET_ISSUER_CERT_LOCALLY => {
            format!("{ca}issuer \"{}\" is not a trusted CA", name(cert.issuer_name()))
        }
        code::UNABLE_TO_GET_ISSUER_CERT => format!("{ca}issuer \"{}\" not found", name(cert.issuer_name())),
        code::CERT_HAS_EXPIRED => format!("{ca}notAfter {}", time(cert.not_after())),
        code::CERT_NOT_YET_VALID => format!("{ca}notBefore {}", time(cert.not_before())),
        code::HOSTNAME_MISMATCH | code::IP_ADDRESS_MISMATCH => {
            format!("{host} is not in the certificate: {}", cert_names(cert))
        }
        code::CERT_REVOKED => format!("{ca}{}", revoked.unwrap_or_else(|| text.to_string())),
        code::UNABLE_TO_GET_CRL => {
            format!(
                "{ca}no CRL from \"{}\" in \"crlFile\" (every certificate of the chain is checked)",
                name(cert.issuer_name())
            )
        }
        _ => format!("{ca}{text}"),
    }
}

/// "DNS:localhost, IP:127.0.0.1" (subjectAltName), or "CN=..." without one.
pub fn cert_names(c: &X509Ref) -> String {
    const MAX: usize = 8;
    let mut out = Vec::new();
    if let Some(sans) = c.subject_alt_names() {
        for g in sans.iter() {
            if let Some(d) = g.dnsname() {
                out.push(format!("DNS:{}", printable(d)));
            } else if let Some(ip) = g.ipaddress() {
                let s = match ip.len() {
                    4 => std::net::Ipv4Addr::new(ip[0], ip[1], ip[2], ip[3]).to_string(),
                    16 => {
                        let mut b = [0u8; 16];
                        b.copy_from_slice(ip);
                        std::net::Ipv6Addr::from(b).to_string()
                    }
                    _ => "?".to_string(),
                };
                out.push(format!("IP:{s}"));
            }
        }
    }
    if out.is_empty() {
        let cn: Vec<String> = c
            .subject_name()
            .entries_by_nid(openssl::nid::Nid::COMMONNAME)
            .filter_map(|e| e.data().to_string().ok().map(|s| format!("CN={}", printable(&s))))
            .collect();
        if cn.is_empty() {
            return "no names".to_string();
        }
        return format!("{} (no subjectAltName)", cn.join(", "));
    }
    let more = out.len().saturating_sub(MAX);
    out.truncate(MAX);
    let mut s = out.join(", ");
    if more > 0 {
        let _ = write!(s, " and {more} more");
    }
    s
}

/// A distinguished name as "CN=device, O=Plant": short names, in the
/// certificate's order.
pub fn name(n: &X509NameRef) -> String {
    let parts: Vec<String> = n
        .entries()
        .map(|e| {
            let key = e.object().nid().short_name().unwrap_or("?");
            let val = e.data().to_string().map(|s| printable(&s)).unwrap_or_else(|_| "?".into());
            format!("{key}={val}")
        })
        .collect();
    if parts.is_empty() {
        "(empty name)".to_string()
    } else {
        parts.join(", ")
    }
}

/// Certificate text as shown in messages: control characters (a name can
/// hold any bytes) become '?'.
fn printable(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { '?' } else { c }).collect()
}

/// "2024-01-31 00:00:00 UTC".
pub fn time(t: &Asn1TimeRef) -> String {
    let secs = Asn1Time::from_unix(0).and_then(|epoch| epoch.diff(t)).map(|d| d.days as i64 * 86_400 + d.secs as i64);
    match secs {
        Ok(s) => {
            let (days, rem) = (s.div_euclid(86_400), s.rem_euclid(86_400));
            let (y, m, d) = civil_from_days(days);
            format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC", rem / 3600, rem / 60 % 60, rem % 60)
        }
        Err(_) => t.to_string(),
    }
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian
/// (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// SHA-256 of the certificate (DER), as "AB:CD:...": what `openssl x509
/// -fingerprint -sha256` prints and "pinnedSha256" accepts.
pub fn cert_sha256(c: &X509Ref) -> Option<[u8; 32]> {
    c.digest(MessageDigest::sha256()).ok().and_then(|d| d.as_ref().try_into().ok())
}

/// SHA-256 of the certificate's SubjectPublicKeyInfo (DER): stays the same
/// when a device renews its certificate with the same key.
pub fn spki_sha256(c: &X509Ref) -> Option<[u8; 32]> {
    let der = c.public_key().ok()?.public_key_to_der().ok()?;
    openssl::hash::hash(MessageDigest::sha256(), &der).ok().and_then(|d| d.as_ref().try_into().ok())
}

pub fn hex_colons(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() * 3);
    for (i, x) in b.iter().enumerate() {
        if i > 0 {
            s.push(':');
        }
        let _ = write!(s, "{x:02X}");
    }
    s
}

/// `server certificate "CN=x" issued by "CN=y", SHA-256 AB:...` for messages.
pub fn describe_cert(c: &X509Ref) -> String {
    let fp = cert_sha256(c).map(|f| hex_colons(&f)).unwrap_or_else(|| "?".into());
    let subject = name(c.subject_name());
    let issuer = name(c.issuer_name());
    if subject == issuer {
        format!("server certificate \"{subject}\" (self-issued), SHA-256 {fp}")
    } else {
        format!("server certificate \"{subject}\" issued by \"{issuer}\", SHA-256 {fp}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_753), (2024, 1, 31));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        let t = Asn1Time::from_unix(1_706_659_200 + 3661).unwrap();
        assert_eq!(time(&t), "2024-01-31 01:01:01 UTC");
    }

    #[test]
    fn names() {
        assert_eq!(Class::from_name("hostnamemismatch"), Some(HostNameMismatch));
        assert_eq!(Class::from_name("OcspSigRequired"), Some(OcspSigRequred));
        assert_eq!(Class::from_name("Nope"), None);
        assert_eq!(Class::all_names().iter().filter(|n| **n == "HostNameMismatch").count(), 1);
        for n in Class::all_names() {
            assert_eq!(Class::from_name(n).map(Class::name), Some(n));
        }
    }

    /// The codes mean what the table says in the OpenSSL we are linked
    /// with: each one's description (X509_verify_cert_error_string) is the
    /// one of its class. Only this test looks at the texts.
    #[test]
    #[allow(unsafe_code)]
    fn codes_match_the_linked_openssl() {
        let v3 = openssl::version::number() >= 0x3000_0000;
        let codes: &[(i32, Class, &str)] = &[
            (2, UnableToGetIssuerCertificate, "unable to get issuer certificate"),
            (4, UnableToDecryptCertificateSignature, "unable to decrypt certificate's signature"),
            (6, UnableToDecodeIssuerPublicKey, "unable to decode issuer public key"),
            (7, CertificateSignatureFailed, "certificate signature failure"),
            (9, CertificateNotYetValid, "certificate is not yet valid"),
            (10, CertificateExpired, "certificate has expired"),
            (13, InvalidNotBeforeField, "format error in certificate's notBefore field"),
            (14, InvalidNotAfterField, "format error in certificate's notAfter field"),
            (18, SelfSignedCertificate, "self"),
            (19, SelfSignedCertificateInChain, "certificate chain"),
            (20, UnableToGetLocalIssuerCertificate, "unable to get local issuer certificate"),
            (21, UnableToVerifyFirstCertificate, "unable to verify the first certificate"),
            (23, CertificateRevoked, "certificate revoked"),
            (25, PathLengthExceeded, "path length constraint exceeded"),
            (26, InvalidPurpose, "purpose"),
            (27, CertificateUntrusted, "certificate not trusted"),
            (28, CertificateRejected, "certificate rejected"),
            (29, SubjectIssuerMismatch, "subject issuer mismatch"),
            (31, AuthorityIssuerSerialNumberMismatch, "authority and issuer serial number mismatch"),
            (62, HostNameMismatch, "hostname mismatch"),
            (64, HostNameMismatch, "IP address mismatch"),
            (3, UnspecifiedError, "unable to get certificate CRL"),
            (66, UnspecifiedError, "EE certificate key too weak"),
        ];
        for (c, class, text) in codes {
            // SAFETY: each is a valid X509_V_ERR_* number.
            let r = unsafe { openssl::x509::X509VerifyResult::from_raw(*c) };
            assert!(r.error_string().contains(text), "{c}: {}", r.error_string());
            assert_eq!(Class::from_code(*c), *class, "{c}");
        }
        let invalid_ca = if v3 { 79 } else { 24 };
        // SAFETY: as above.
        let r = unsafe { openssl::x509::X509VerifyResult::from_raw(invalid_ca) };
        assert_eq!(r.error_string(), "invalid CA certificate");
        assert_eq!(Class::from_code(invalid_ca), InvalidCaCertificate);
        assert_eq!(Class::from_code(if v3 { 24 } else { 79 }), UnspecifiedError);
    }
}
