//! Revocation material made at test time: CRLs signed by a test CA (with
//! the `openssl` crate), and OCSP responses signed by a CA or any other key
//! (with the `openssl ocsp` command of the Debian package openssl: the
//! crate cannot build OCSP responses).

use super::{Cert, TempDir};
use openssl::asn1::{Asn1Integer, Asn1Object, Asn1OctetString, Asn1Time};
use openssl::hash::MessageDigest;
use openssl::x509::{X509CrlBuilder, X509Extension, X509RevokedBuilder};
use std::process::Command;

/// A PEM CRL from `ca` revoking `revoked` (valid from an hour ago for a week).
pub fn crl(ca: &Cert, revoked: &[&Cert]) -> String {
    crl_valid(ca, revoked, -3600, 7 * 86_400)
}

/// A PEM CRL with lastUpdate/nextUpdate relative to now, in seconds.
pub fn crl_valid(ca: &Cert, revoked: &[&Cert], last: i64, next: i64) -> String {
    let now = super::now();
    let mut b = X509CrlBuilder::new().unwrap();
    b.set_issuer_name(ca.cert.subject_name()).unwrap();
    b.set_last_update(&Asn1Time::from_unix(now + last).unwrap()).unwrap();
    b.set_next_update(&Asn1Time::from_unix(now + next).unwrap()).unwrap();
    for r in revoked {
        let mut e = X509RevokedBuilder::new().unwrap();
        let serial = r.cert.serial_number().to_bn().unwrap();
        e.set_serial_number(&Asn1Integer::from_bn(&serial).unwrap()).unwrap();
        e.set_revocation_date(&Asn1Time::from_unix(now - 86_400).unwrap()).unwrap();
        b.add_revoked(e.build()).unwrap();
    }
    // Required by the builder: authorityKeyIdentifier (the CA's
    // subjectKeyIdentifier) and cRLNumber, DER-encoded here.
    let keyid = ca.cert.subject_key_id().expect("test CAs have a subjectKeyIdentifier").as_slice().to_vec();
    let mut akid = vec![0x30, keyid.len() as u8 + 2, 0x80, keyid.len() as u8];
    akid.extend(&keyid);
    for (oid, der) in [("2.5.29.35", akid), ("2.5.29.20", vec![0x02, 0x01, 0x01])] {
        let oid = Asn1Object::from_str(oid).unwrap();
        let value = Asn1OctetString::new_from_bytes(&der).unwrap();
        b.append_extension(X509Extension::new_from_der(&oid, false, &value).unwrap()).unwrap();
    }
    b.sign(&ca.key, MessageDigest::sha256()).unwrap();
    String::from_utf8(b.build().unwrap().to_pem().unwrap()).unwrap()
}

/// What an OCSP responder says about a certificate.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Status {
    Good,
    Revoked,
    /// Not in the responder's database.
    Unknown,
}

fn openssl_cli(args: &[&str], dir: &TempDir) {
    let out = Command::new("openssl").args(args).current_dir(dir.path()).output().unwrap_or_else(|e| {
        panic!("the `openssl` command is needed to make OCSP responses (Debian package openssl): {e}")
    });
    assert!(
        out.status.success(),
        "openssl {}: {}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A DER OCSP response about `leaf` (issued by `ca`) with `status`, signed
/// by `signer` (the CA itself, or any other certificate and key).
pub fn ocsp_response(ca: &Cert, leaf: &Cert, status: Status, signer: &Cert) -> Vec<u8> {
    let dir = TempDir::new("ocsp");
    dir.file("ca.pem", ca.pem().as_bytes());
    dir.file("leaf.pem", leaf.pem().as_bytes());
    dir.file("signer.pem", signer.pem().as_bytes());
    dir.file("signer.key", signer.key_pkcs8().as_bytes());
    let serial = leaf.cert.serial_number().to_bn().unwrap().to_hex_str().unwrap().to_string();
    let index = match status {
        Status::Good => format!("V\t301231235959Z\t\t{serial}\tunknown\t/CN=leaf\n"),
        Status::Revoked => format!("R\t301231235959Z\t240101000000Z,keyCompromise\t{serial}\tunknown\t/CN=leaf\n"),
        Status::Unknown => String::new(),
    };
    dir.file("index.txt", index.as_bytes());
    openssl_cli(&["ocsp", "-issuer", "ca.pem", "-cert", "leaf.pem", "-no_nonce", "-reqout", "req.der"], &dir);
    openssl_cli(
        &[
            "ocsp",
            "-index",
            "index.txt",
            "-rsigner",
            "signer.pem",
            "-rkey",
            "signer.key",
            "-CA",
            "ca.pem",
            "-reqin",
            "req.der",
            "-respout",
            "resp.der",
            "-ndays",
            "1",
        ],
        &dir,
    );
    std::fs::read(dir.path().join("resp.der")).unwrap()
}
