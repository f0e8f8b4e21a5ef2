//! Certificate problems by WinCC/Qt class (`QSslError` names), found by
//! examining the server's end-entity certificate ourselves: native-tls
//! reports at most one OpenSSL verification error and shows only that one
//! certificate, while "ignoreSslErrors" needs every problem by class. The
//! messages built here are what `ws_last_error()` shows for TLS
//! verification failures (class, dates, names, SHA-256 fingerprint).
#![deny(unsafe_code)]

use crate::options::HostKind;
use once_cell::sync::OnceCell;
use openssl::asn1::{Asn1Time, Asn1TimeRef};
use openssl::error::ErrorStack;
use openssl::hash::MessageDigest;
use openssl::stack::Stack;
use openssl::x509::store::{X509Store, X509StoreBuilder, X509StoreRef};
use openssl::x509::verify::{X509CheckFlags, X509VerifyFlags, X509VerifyParam};
use openssl::x509::{X509NameRef, X509Ref, X509StoreContext, X509};
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
    UnspecifiedError,
}

use Class::*;

/// Every class with its name and the OpenSSL verification error strings
/// (X509_verify_cert_error_string) that Qt's OpenSSL backend maps to it.
/// Matched by text, not number: OpenSSL 3 renumbered some (invalid CA was 24
/// in 1.1 and is 79 in 3.0). HostNameMismatch covers OpenSSL's host name and
/// IP address mismatch.
const TABLE: &[(Class, &str, &[&str])] = &[
    (UnableToGetIssuerCertificate, "UnableToGetIssuerCertificate", &["unable to get issuer certificate"]),
    (
        UnableToDecryptCertificateSignature,
        "UnableToDecryptCertificateSignature",
        &["unable to decrypt certificate's signature"],
    ),
    (UnableToDecodeIssuerPublicKey, "UnableToDecodeIssuerPublicKey", &["unable to decode issuer public key"]),
    (CertificateSignatureFailed, "CertificateSignatureFailed", &["certificate signature failure"]),
    (CertificateNotYetValid, "CertificateNotYetValid", &["certificate is not yet valid"]),
    (CertificateExpired, "CertificateExpired", &["certificate has expired"]),
    (InvalidNotBeforeField, "InvalidNotBeforeField", &["format error in certificate's notBefore field"]),
    (InvalidNotAfterField, "InvalidNotAfterField", &["format error in certificate's notAfter field"]),
    (SelfSignedCertificate, "SelfSignedCertificate", &["self-signed certificate"]),
    (SelfSignedCertificateInChain, "SelfSignedCertificateInChain", &["self-signed certificate in certificate chain"]),
    (
        UnableToGetLocalIssuerCertificate,
        "UnableToGetLocalIssuerCertificate",
        &["unable to get local issuer certificate"],
    ),
    (UnableToVerifyFirstCertificate, "UnableToVerifyFirstCertificate", &["unable to verify the first certificate"]),
    (CertificateRevoked, "CertificateRevoked", &["certificate revoked"]),
    (InvalidCaCertificate, "InvalidCaCertificate", &["invalid CA certificate"]),
    (PathLengthExceeded, "PathLengthExceeded", &["path length constraint exceeded"]),
    (InvalidPurpose, "InvalidPurpose", &["unsupported certificate purpose", "unsuitable certificate purpose"]),
    (CertificateUntrusted, "CertificateUntrusted", &["certificate not trusted"]),
    (CertificateRejected, "CertificateRejected", &["certificate rejected"]),
    (SubjectIssuerMismatch, "SubjectIssuerMismatch", &["subject issuer mismatch"]),
    (
        AuthorityIssuerSerialNumberMismatch,
        "AuthorityIssuerSerialNumberMismatch",
        &["authority and issuer serial number mismatch"],
    ),
    (NoPeerCertificate, "NoPeerCertificate", &[]),
    (HostNameMismatch, "HostNameMismatch", &["hostname mismatch", "IP address mismatch"]),
    (CertificateBlacklisted, "CertificateBlacklisted", &[]),
    (UnspecifiedError, "UnspecifiedError", &[]),
];

impl Class {
    pub fn name(self) -> &'static str {
        TABLE.iter().find(|e| e.0 == self).map_or("UnspecifiedError", |e| e.1)
    }

    /// The class of a name, case-insensitively (WinCC scripts are not always
    /// careful with case); None for an unknown name.
    pub fn from_name(name: &str) -> Option<Class> {
        TABLE.iter().find(|e| e.1.eq_ignore_ascii_case(name.trim())).map(|e| e.0)
    }

    /// All names, for the message about an unknown one.
    pub fn all_names() -> Vec<&'static str> {
        TABLE.iter().map(|e| e.1).collect()
    }

    /// The class of an OpenSSL verification error string (as native-tls
    /// puts it in its error text: "... (certificate has expired)"). OpenSSL
    /// 1.1 wrote "self signed" where 3.0 writes "self-signed". Every other
    /// error is UnspecifiedError, as in Qt.
    pub fn from_openssl_text(text: &str) -> Class {
        let norm = |s: &str| s.trim().to_ascii_lowercase().replace('-', " ");
        let t = norm(text);
        TABLE.iter().find(|e| e.2.iter().any(|x| norm(x) == t)).map_or(UnspecifiedError, |e| e.0)
    }

    /// Problems about who vouches for the certificate, not about the
    /// certificate's contents. Once the user ignores one of these, whatever
    /// OpenSSL would have checked after it in the chain (CA flags, signatures
    /// and dates of CA certificates) is vouched for by nobody either, so it
    /// cannot make the connection any safer: ignoring such a class accepts
    /// the chain, and only the server's own certificate (dates, host name) is
    /// still checked. See `tls::handshake`.
    pub fn is_trust(self) -> bool {
        matches!(
            self,
            UnableToGetIssuerCertificate
                | SelfSignedCertificate
                | SelfSignedCertificateInChain
                | UnableToGetLocalIssuerCertificate
                | UnableToVerifyFirstCertificate
                | CertificateUntrusted
                | CertificateRejected
        )
    }
}

/// One problem of the presented certificate chain.
#[derive(Clone, Debug)]
pub struct Problem {
    pub class: Class,
    /// What exactly, e.g. "notAfter 2024-01-31 00:00:00 UTC".
    pub detail: String,
}

impl Problem {
    fn new(class: Class, detail: impl Into<String>) -> Problem {
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

/// How far the examination of the chain got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Chain {
    /// The chain from the server's certificate to a CA of the trust store,
    /// or the lack of one, is fully known: `problems` is complete.
    Known,
    /// The certificate's issuer is not in the trust store: the server may
    /// have sent it (an intermediate CA), but native-tls does not show the
    /// certificates a server sends besides its own, so only a verifying
    /// handshake can tell whether the chain is good.
    IssuerNotInStore,
    /// OpenSSL stopped at a problem that is not about trust; what it would
    /// have checked after it is unknown.
    Stopped,
}

/// The result of examining a server certificate.
#[derive(Clone, Debug)]
pub struct Report {
    pub problems: Vec<Problem>,
    pub chain: Chain,
    /// Index in `problems` of the problem OpenSSL's chain check ended at.
    pub chain_problem: Option<usize>,
}

/// The trust store of our own checks: the same CAs as the native-tls
/// connector (OpenSSL's default paths plus what openssl-probe finds, as
/// native-tls loads them), and/or the user's "caCertificates". Checks a TLS
/// server's chain as the handshake does (purpose "TLS server", OpenSSL's
/// security level for key sizes and digests) but without dates: they are
/// compared one by one, so that every date problem is reported.
pub struct Trust {
    system: bool,
    extra: Vec<X509>,
    /// Built on first use; index: `RELAX_*` bits. The relaxed stores let a
    /// check go on past a purpose or key-strength problem, which OpenSSL
    /// finds before it checks signatures.
    stores: [OnceCell<X509Store>; 4],
}

const RELAX_STRENGTH: usize = 1;
const RELAX_PURPOSE: usize = 2;

impl Trust {
    pub fn new(system: bool, extra: &[X509]) -> Trust {
        Trust { system, extra: extra.to_vec(), stores: Default::default() }
    }

    fn store(&self, relax: usize) -> Result<&X509StoreRef, ErrorStack> {
        self.stores[relax].get_or_try_init(|| self.build(relax)).map(|s| &**s)
    }

    fn build(&self, relax: usize) -> Result<X509Store, ErrorStack> {
        let mut b = X509StoreBuilder::new()?;
        if self.system {
            // Missing locations are not an error: a machine may have no CAs.
            let _ = b.set_default_paths();
            let probe = openssl_probe::probe();
            if let Some(file) = probe.cert_file.as_ref().filter(|f| f.to_str().is_some()) {
                if let Ok(l) = b.add_lookup(openssl::x509::store::X509Lookup::file()) {
                    let _ = l.load_cert_file(file, openssl::ssl::SslFiletype::PEM);
                }
            }
            for dir in probe.cert_dir.iter().filter_map(|d| d.to_str()) {
                if let Ok(l) = b.add_lookup(openssl::x509::store::X509Lookup::hash_dir()) {
                    let _ = l.add_dir(dir, openssl::ssl::SslFiletype::PEM);
                }
            }
            // OpenSSL keeps errors of failed lookups on its thread-local queue.
            let _ = ErrorStack::get();
        }
        for c in &self.extra {
            // A CA given twice is not an error.
            let _ = b.add_cert(c.clone());
        }
        b.set_flags(X509VerifyFlags::NO_CHECK_TIME)?;
        if relax & RELAX_PURPOSE == 0 {
            b.set_purpose(openssl::x509::X509PurposeId::SSL_SERVER)?;
        }
        if relax & RELAX_STRENGTH == 0 {
            let mut param = X509VerifyParam::new()?;
            param.set_auth_level(security_level()?);
            b.set_param(&param)?;
        }
        Ok(b.build())
    }
}

/// OpenSSL's default security level for TLS clients (2 on Debian 12: RSA
/// keys under 2048 bits and SHA-1 signatures are "too weak").
fn security_level() -> Result<i32, ErrorStack> {
    static LEVEL: OnceCell<i32> = OnceCell::new();
    LEVEL
        .get_or_try_init(|| {
            let ctx = openssl::ssl::SslContext::builder(openssl::ssl::SslMethod::tls_client())?.build();
            Ok(ctx.security_level() as i32)
        })
        .copied()
}

/// Examines the server's certificate `leaf` against `trust` for connecting
/// to `host`, reporting every problem found.
pub fn check(leaf: &X509Ref, trust: &Trust, host: &HostKind) -> Report {
    let mut problems = Vec::new();
    let now = Asn1Time::days_from_now(0).ok();
    // OpenSSL reports the first problem only; purpose and key strength are
    // checked before signatures, so go on past them with a relaxed store.
    let mut relax = 0;
    let v = loop {
        let v = match trust.store(relax) {
            Ok(store) => verify(leaf, store),
            Err(e) => Verified {
                error: Some((UnspecifiedError, format!("trust store: {e}"))),
                code: -1,
                depth: 0,
                chain: Vec::new(),
            },
        };
        let more = match v.code {
            26 if relax & RELAX_PURPOSE == 0 => RELAX_PURPOSE,
            // EE key, CA key, CA digest too weak.
            66..=68 if relax & RELAX_STRENGTH == 0 => RELAX_STRENGTH,
            _ => break v,
        };
        if let Some((class, text)) = &v.error {
            problems.push(Problem::new(*class, chain_detail(*class, text, v.depth, leaf, &v.chain)));
        }
        relax |= more;
    };
    let state = match v.error {
        None => Chain::Known,
        Some((UnableToGetLocalIssuerCertificate, _)) if v.depth == 0 => Chain::IssuerNotInStore,
        Some((class, _)) if class.is_trust() => Chain::Known,
        Some(_) => Chain::Stopped,
    };
    let chain_problem = v.error.as_ref().map(|(class, text)| {
        problems.push(Problem::new(*class, chain_detail(*class, text, v.depth, leaf, &v.chain)));
        problems.len() - 1
    });
    // Dates: every certificate of a chain OpenSSL could build from the trust
    // store (the trust anchor included, as OpenSSL does), else only the
    // server's own certificate.
    let certs: Vec<&X509Ref> =
        if v.error.is_none() && !v.chain.is_empty() { v.chain.iter().map(|c| &**c).collect() } else { vec![leaf] };
    if let Some(now) = now {
        for (i, c) in certs.iter().enumerate() {
            let whose = if i == 0 { String::new() } else { format!("CA \"{}\": ", name(c.subject_name())) };
            if c.not_before() > now {
                problems
                    .push(Problem::new(CertificateNotYetValid, format!("{whose}notBefore {}", time(c.not_before()))));
            }
            if c.not_after() < now {
                problems.push(Problem::new(CertificateExpired, format!("{whose}notAfter {}", time(c.not_after()))));
            }
        }
    }
    if let Some(p) = check_host(leaf, host) {
        problems.push(p);
    }
    Report { problems, chain: state, chain_problem }
}

struct Verified {
    /// None: the chain is good (dates aside). Else the class and OpenSSL's
    /// text of the first problem.
    error: Option<(Class, String)>,
    /// OpenSSL's X509_V_ERR_* number (0: none).
    code: i32,
    depth: u32,
    /// The chain OpenSSL built, the certificate first.
    chain: Vec<X509>,
}

/// OpenSSL's chain verification of `leaf` alone (native-tls does not show
/// the intermediates the server sent), without dates.
fn verify(leaf: &X509Ref, store: &X509StoreRef) -> Verified {
    let run = || -> Result<Verified, openssl::error::ErrorStack> {
        let mut ctx = X509StoreContext::new()?;
        let untrusted = Stack::new()?;
        ctx.init(store, leaf, &untrusted, |c| {
            let ok = c.verify_cert()?;
            let chain = c.chain().map(|s| s.iter().map(|x| x.to_owned()).collect()).unwrap_or_default();
            let code = if ok { 0 } else { c.error().as_raw() };
            let error = if ok {
                None
            } else {
                let text = c.error().error_string().to_string();
                Some((Class::from_openssl_text(&text), text))
            };
            Ok(Verified { error, code, depth: c.error_depth(), chain })
        })
    };
    // Out of memory and the like: "unspecified" rather than "fine".
    run().unwrap_or_else(|e| Verified {
        error: Some((UnspecifiedError, format!("verification failed: {e}"))),
        code: -1,
        depth: 0,
        chain: Vec::new(),
    })
}

fn chain_detail(class: Class, text: &str, depth: u32, leaf: &X509Ref, chain: &[X509]) -> String {
    let at = chain.get(depth as usize).map(|c| &**c).unwrap_or(leaf);
    let ca = if depth > 0 { format!("CA \"{}\": ", name(at.subject_name())) } else { String::new() };
    match class {
        SelfSignedCertificate => format!("\"{}\" is self-signed and not trusted", name(leaf.subject_name())),
        UnableToGetLocalIssuerCertificate => format!("{ca}issuer \"{}\" is not a trusted CA", name(at.issuer_name())),
        UnableToGetIssuerCertificate => format!("{ca}issuer \"{}\" not found", name(at.issuer_name())),
        _ => format!("{ca}{text}"),
    }
}

/// OpenSSL's own host name / IP address matching (as native-tls uses it:
/// no partial wildcards), run on the certificate alone.
fn check_host(leaf: &X509Ref, host: &HostKind) -> Option<Problem> {
    let run = || -> Result<bool, openssl::error::ErrorStack> {
        let mut param = X509VerifyParam::new()?;
        match host {
            HostKind::Name(n) => {
                param.set_hostflags(X509CheckFlags::NO_PARTIAL_WILDCARDS);
                param.set_host(n)?;
            }
            HostKind::V4(a) => param.set_ip((*a).into())?,
            HostKind::V6(a) => param.set_ip((*a).into())?,
        }
        // The certificate is its own trust anchor here, so that the only
        // thing left to fail is the name.
        let mut b = X509StoreBuilder::new()?;
        b.add_cert(leaf.to_owned())?;
        b.set_flags(
            X509VerifyFlags::PARTIAL_CHAIN | X509VerifyFlags::NO_CHECK_TIME | X509VerifyFlags::IGNORE_CRITICAL,
        )?;
        b.set_param(&param)?;
        let store = b.build();
        let mut ctx = X509StoreContext::new()?;
        let untrusted = Stack::new()?;
        ctx.init(&store, leaf, &untrusted, |c| {
            let ok = c.verify_cert()?;
            Ok(ok || !matches!(c.error().as_raw(), 62 | 64))
        })
    };
    let shown = match host {
        HostKind::Name(n) => n.clone(),
        HostKind::V4(a) => a.to_string(),
        HostKind::V6(a) => a.to_string(),
    };
    match run() {
        Ok(true) => None,
        Ok(false) => {
            Some(Problem::new(HostNameMismatch, format!("{shown} is not in the certificate: {}", cert_names(leaf))))
        }
        Err(e) => Some(Problem::new(HostNameMismatch, format!("could not check {shown}: {e}"))),
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
        assert_eq!(Class::from_name("Nope"), None);
        assert_eq!(Class::from_openssl_text("IP address mismatch"), HostNameMismatch);
        assert_eq!(Class::from_openssl_text("CA certificate key too weak"), UnspecifiedError);
        assert_eq!(Class::from_openssl_text("self signed certificate"), SelfSignedCertificate);
        assert_eq!(Class::all_names().iter().filter(|n| **n == "HostNameMismatch").count(), 1);
    }

    /// Our table must agree with the strings of the OpenSSL we are linked
    /// with (3.x numbering), since failed handshakes are classified by text.
    #[test]
    #[allow(unsafe_code)]
    fn table_matches_openssl_strings() {
        if openssl::version::number() < 0x3000_0000 {
            return;
        }
        let codes = [
            (2, UnableToGetIssuerCertificate),
            (4, UnableToDecryptCertificateSignature),
            (6, UnableToDecodeIssuerPublicKey),
            (7, CertificateSignatureFailed),
            (9, CertificateNotYetValid),
            (10, CertificateExpired),
            (13, InvalidNotBeforeField),
            (14, InvalidNotAfterField),
            (18, SelfSignedCertificate),
            (19, SelfSignedCertificateInChain),
            (20, UnableToGetLocalIssuerCertificate),
            (21, UnableToVerifyFirstCertificate),
            (23, CertificateRevoked),
            (25, PathLengthExceeded),
            (26, InvalidPurpose),
            (27, CertificateUntrusted),
            (28, CertificateRejected),
            (29, SubjectIssuerMismatch),
            (31, AuthorityIssuerSerialNumberMismatch),
            (62, HostNameMismatch),
            (64, HostNameMismatch),
            (79, InvalidCaCertificate),
            (66, UnspecifiedError),
        ];
        for (code, class) in codes {
            // SAFETY: each is a valid X509_V_ERR_* number of OpenSSL 3.
            let r = unsafe { openssl::x509::X509VerifyResult::from_raw(code) };
            assert_eq!(Class::from_openssl_text(r.error_string()), class, "{code}: {}", r.error_string());
        }
    }
}
