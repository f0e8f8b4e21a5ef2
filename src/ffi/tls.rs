//! TLS readback: ws_get_tls_info.

use super::*;

// ---- TLS readback ---------------------------------------------------------------------

/// What a wss:// connection negotiated and the server's certificate
/// (ws_get_tls_info()). Every field is a NUL-terminated string, cut at a
/// character boundary when longer than its array.
#[repr(C)]
#[allow(non_camel_case_types)]
pub struct ws_tls_info {
    /// The protocol version: "TLSv1.2" or "TLSv1.3".
    pub version: [c_char; 16],
    /// The cipher suite, by OpenSSL's name: "TLS_AES_256_GCM_SHA384",
    /// "ECDHE-ECDSA-AES128-GCM-SHA256".
    pub cipher: [c_char; 64],
    /// SHA-256 of the server's certificate (DER) as "AB:CD:..." (95
    /// characters): what "pinnedSha256" accepts and `openssl x509
    /// -fingerprint -sha256` prints.
    pub cert_sha256: [c_char; 96],
    /// SHA-256 of its public key (SubjectPublicKeyInfo DER), in the same
    /// form: stays the same when the certificate is renewed with the same key.
    pub pubkey_sha256: [c_char; 96],
    /// Subject and issuer of the server's certificate, "CN=plc, O=Plant".
    pub subject: [c_char; 256],
    pub issuer: [c_char; 256],
    /// The classes "ignoreSslErrors" let through on this connection,
    /// comma-separated ("HostNameMismatch,CertificateExpired"); "" when the
    /// certificate passed verification as it is (or was pinned).
    pub ignored_errors: [c_char; 256],
}

pub(super) fn copy_text<const N: usize>(dst: &mut [c_char; N], s: &str) {
    let mut n = s.len().min(N - 1);
    while !s.is_char_boundary(n) {
        n -= 1;
    }
    for (d, &c) in dst.iter_mut().zip(&s.as_bytes()[..n]) {
        *d = c as c_char;
    }
    dst[n] = 0;
}

/// Fill `*info` with what the socket's TLS connection negotiated (version,
/// cipher suite) and the server's certificate (SHA-256 fingerprints of the
/// certificate and its public key, subject, issuer), and the verification
/// problems "ignoreSslErrors" let through.
///
/// It describes the current connection; after the connection ended (and
/// until ws_close()) the last one; after a reconnect the new one. With the
/// native-tls backend (see ws_open()) `version` and `cipher` are "".
///
/// `size` must be `sizeof(ws_tls_info)` as the caller was compiled with; the
/// library writes at most that many bytes (later versions only append fields).
/// Returns: WS_OK (0); WS_ERROR (-1): WS_E_BAD_SOCKET, WS_E_NOT_OPEN (not
/// connected yet), WS_E_INVALID_ARGUMENT (info NULL, size too small for the
/// fields of this version's first release, or a ws:// socket, which has no
/// TLS). Does not block. Threads: any thread.
#[unsafe(no_mangle)]
pub extern "C" fn ws_get_tls_info(socket: c_int, info: *mut ws_tls_info, size: usize) -> c_int {
    guard::call(|| {
        if info.is_null() {
            return Err(Error::arg("info is NULL"));
        }
        if size < std::mem::size_of::<ws_tls_info>() {
            return Err(Error::arg(format!(
                "size {size} is smaller than this library's ws_tls_info ({} bytes)",
                std::mem::size_of::<ws_tls_info>()
            )));
        }
        let up = registry::get(socket)?.upgrade()?;
        let t = up.tls.as_ref().ok_or_else(|| Error::arg(format!("socket {socket} is a ws:// connection: no TLS")))?;
        let mut out = ws_tls_info {
            version: [0; 16],
            cipher: [0; 64],
            cert_sha256: [0; 96],
            pubkey_sha256: [0; 96],
            subject: [0; 256],
            issuer: [0; 256],
            ignored_errors: [0; 256],
        };
        copy_text(&mut out.version, &t.version);
        copy_text(&mut out.cipher, &t.cipher);
        copy_text(&mut out.cert_sha256, &crate::tls::TlsSummary::hex(&t.cert_sha256));
        copy_text(&mut out.pubkey_sha256, &crate::tls::TlsSummary::hex(&t.spki_sha256));
        copy_text(&mut out.subject, &t.subject);
        copy_text(&mut out.issuer, &t.issuer);
        copy_text(&mut out.ignored_errors, &t.ignored_names());
        // SAFETY: info is non-NULL and the caller promises `size` >= our
        // struct size writable bytes (checked above against our size).
        unsafe { info.write(out) };
        Ok(WS_OK)
    })
}
