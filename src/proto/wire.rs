//! The small, stateless parts of RFC 6455 framing: the close frame's
//! payload, and masked client frames out.
#![deny(unsafe_code)]

use super::{violation, ProtoError};
use crate::error::Code;
use tungstenite::protocol::frame::coding::CloseCode;

/// Validates a close frame's payload (RFC 6455 section 5.5.1, 7.4).
pub fn parse_close(p: &[u8]) -> Result<Option<(u16, String)>, ProtoError> {
    match p.len() {
        0 => Ok(None),
        1 => Err(violation("close frame with a 1-byte payload")),
        _ => {
            let code = u16::from_be_bytes([p[0], p[1]]);
            if !close_code_allowed(code) {
                return Err(violation(format!("invalid close code {code}")));
            }
            match std::str::from_utf8(&p[2..]) {
                Ok(r) => Ok(Some((code, r.to_string()))),
                Err(_) => Err(ProtoError {
                    code: Code::InvalidUtf8,
                    close: 1007,
                    msg: "invalid UTF-8 in the close reason from the server".into(),
                }),
            }
        }
    }
}

/// Codes an endpoint may put in a close frame (1000-1003, 1007-1013,
/// 3000-4999), as tungstenite defines them.
pub fn close_code_allowed(code: u16) -> bool {
    (1000..5000).contains(&code) && CloseCode::from(code).is_allowed()
}

/// Appends one masked client frame to `out`.
pub fn encode_frame(out: &mut Vec<u8>, opcode: u8, fin: bool, payload: &[u8], mask: [u8; 4]) {
    let len = payload.len();
    let mut h = [0u8; 14];
    h[0] = if fin { 0x80 } else { 0 } | opcode;
    let hl = if len < 126 {
        h[1] = 0x80 | len as u8;
        2
    } else if len <= 0xffff {
        h[1] = 0x80 | 126;
        h[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        4
    } else {
        h[1] = 0x80 | 127;
        h[2..10].copy_from_slice(&(len as u64).to_be_bytes());
        10
    };
    h[hl..hl + 4].copy_from_slice(&mask);
    out.reserve(hl + 4 + len);
    out.extend_from_slice(&h[..hl + 4]);
    let at = out.len();
    out.extend_from_slice(payload);
    apply_mask(&mut out[at..], mask);
}

/// XORs `buf` with the repeating 4-byte mask, 8 bytes at a time.
pub fn apply_mask(buf: &mut [u8], mask: [u8; 4]) {
    let m = u64::from_ne_bytes([mask[0], mask[1], mask[2], mask[3], mask[0], mask[1], mask[2], mask[3]]);
    let mut chunks = buf.chunks_exact_mut(8);
    for c in &mut chunks {
        let v = u64::from_ne_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) ^ m;
        c.copy_from_slice(&v.to_ne_bytes());
    }
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= mask[i & 3];
    }
}
