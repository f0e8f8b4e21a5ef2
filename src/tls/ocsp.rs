//! "ocspStapling": the OCSP response a server staples to its certificate
//! (TLS status_request), checked against the chain OpenSSL verified: its
//! signature (the issuing CA or a responder it authorised), that it is
//! about the server's certificate, its validity period, and the status.
//! Problems are QSslError's OCSP classes; a revoked certificate is
//! CertificateRevoked.
#![deny(unsafe_code)]

use super::config::ssl_reason;
use super::verify::{self, Class, Problem};
use openssl::hash::MessageDigest;
use openssl::ocsp::{OcspCertId, OcspCertStatus, OcspFlag, OcspResponse, OcspResponseStatus, OcspRevokedStatus};
use openssl::stack::StackRef;
use openssl::x509::store::X509StoreRef;
use openssl::x509::X509;

/// Seconds of clock difference accepted on the response's validity.
const LEEWAY_SECS: u32 = 300;

/// The problems of stapled response `der` for `chain` (the server's
/// certificate first, as OpenSSL verified it), with `store` as trust store.
/// Empty: the response says "good" and can be trusted.
pub fn check(der: &[u8], chain: &StackRef<X509>, store: &X509StoreRef) -> Vec<Problem> {
    let p = |class, detail: String| vec![Problem::new(class, detail)];
    let resp = match OcspResponse::from_der(der) {
        Ok(r) => r,
        Err(e) => return p(Class::OcspMalformedResponse, format!("stapled OCSP response: {}", ssl_reason(&e))),
    };
    let status = resp.status();
    if status != OcspResponseStatus::SUCCESSFUL {
        let class = match status {
            OcspResponseStatus::MALFORMED_REQUEST => Class::OcspMalformedRequest,
            OcspResponseStatus::INTERNAL_ERROR => Class::OcspInternalError,
            OcspResponseStatus::TRY_LATER => Class::OcspTryLater,
            OcspResponseStatus::SIG_REQUIRED => Class::OcspSigRequred,
            OcspResponseStatus::UNAUTHORIZED => Class::OcspUnauthorized,
            _ => Class::OcspMalformedResponse,
        };
        return p(class, format!("the stapled OCSP response has status {}", status.as_raw()));
    }
    let basic = match resp.basic() {
        Ok(b) => b,
        Err(e) => return p(Class::OcspMalformedResponse, format!("stapled OCSP response: {}", ssl_reason(&e))),
    };
    let Some(leaf) = chain.iter().next() else {
        return p(Class::OcspResponseCannotBeTrusted, "no server certificate to check it against".into());
    };
    // The issuer: the next certificate of the chain; a self-signed
    // certificate is its own.
    let issuer = chain.iter().nth(1).unwrap_or(leaf);
    if let Err(e) = basic.verify(chain, store, OcspFlag::empty()) {
        return p(
            Class::OcspResponseCannotBeTrusted,
            format!(
                "the stapled OCSP response is not signed by \"{}\" or a responder it authorised: {}",
                verify::name(issuer.subject_name()),
                ssl_reason(&e)
            ),
        );
    }
    let id = match OcspCertId::from_cert(MessageDigest::sha1(), leaf, issuer) {
        Ok(id) => id,
        Err(e) => return p(Class::OcspInternalError, format!("OCSP certificate id: {}", ssl_reason(&e))),
    };
    let Some(st) = basic.find_status(&id) else {
        return p(Class::OcspResponseCertIdUnknown, "the stapled OCSP response is about another certificate".into());
    };
    if let Err(e) = st.check_validity(LEEWAY_SECS, None) {
        let until = st.next_update().map(|t| format!(", nextUpdate {t}")).unwrap_or_default();
        return p(
            Class::OcspResponseExpired,
            format!(
                "the stapled OCSP response is outside its validity (thisUpdate {}{until}): {}",
                st.this_update,
                ssl_reason(&e)
            ),
        );
    }
    if st.status == OcspCertStatus::GOOD {
        Vec::new()
    } else if st.status == OcspCertStatus::REVOKED {
        let when = st.revocation_time.map(|t| format!(" {t}")).unwrap_or_default();
        let reason = reason_name(st.reason).map(|r| format!(", reason {r}")).unwrap_or_default();
        p(Class::CertificateRevoked, format!("revoked{when} (stapled OCSP response{reason})"))
    } else {
        p(Class::OcspStatusUnknown, "the stapled OCSP response says \"unknown\"".into())
    }
}

fn reason_name(r: OcspRevokedStatus) -> Option<&'static str> {
    Some(match r {
        OcspRevokedStatus::UNSPECIFIED => "unspecified",
        OcspRevokedStatus::KEY_COMPROMISE => "keyCompromise",
        OcspRevokedStatus::CA_COMPROMISE => "cACompromise",
        OcspRevokedStatus::AFFILIATION_CHANGED => "affiliationChanged",
        OcspRevokedStatus::STATUS_SUPERSEDED => "superseded",
        OcspRevokedStatus::STATUS_CESSATION_OF_OPERATION => "cessationOfOperation",
        OcspRevokedStatus::STATUS_CERTIFICATE_HOLD => "certificateHold",
        OcspRevokedStatus::REMOVE_FROM_CRL => "removeFromCRL",
        _ => return None,
    })
}
