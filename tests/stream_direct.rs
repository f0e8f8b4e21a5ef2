//! Streaming: large binary frames are read by ws_read_part straight into
//! the caller's buffer when the library holds nothing of the message (the
//! copy-saving path of src/conn/rx.rs `read_locked`). The server below
//! waits for a "go" message from the client before each step, so the
//! client's reads happen with nothing buffered, inside a frame: exactly
//! where that path is taken. Checked: bytes and offsets, a ping between
//! fragments answered, a timeout inside a frame that loses nothing, and a
//! connection lost in the middle of a frame; and the same path over TLS
//! (where the read goes through OpenSSL, without the spill buffer).

mod support;
mod tls_support;

use std::ffi::c_int;
use std::time::Duration;
use support::*;

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn read_part(s: c_int, cap: usize, timeout_ms: c_int) -> (c_int, ws_part, Vec<u8>) {
    let mut buf = vec![0u8; cap];
    // SAFETY: all-zero is a valid ws_part
    let mut p: ws_part = unsafe { std::mem::zeroed() };
    let r = ws_read_part(s, buf.as_mut_ptr().cast(), cap, &mut p, timeout_ms);
    buf.truncate(if r == WS_OK { p.len } else { 0 });
    (r, p, buf)
}

/// The 10-byte header of an unmasked binary frame (64-bit length).
fn header(fin: bool, opcode: u8, len: usize) -> Vec<u8> {
    let mut h = vec![if fin { 0x80 } else { 0 } | opcode, 127];
    h.extend_from_slice(&(len as u64).to_be_bytes());
    h
}

/// Waits for the client's "go" (pings and pongs from it are skipped).
fn go(p: &mut Peer) {
    loop {
        let f = p.expect_frame(secs(5));
        if f.opcode == OP_PONG || f.opcode == OP_PING {
            continue;
        }
        assert_eq!(f.payload, b"go", "server: expected go, got {f:?}");
        return;
    }
}

/// Reads pieces until `want` bytes of the message have come (or it ends).
fn read_bytes(s: c_int, out: &mut Vec<u8>, want: usize) -> ws_part {
    loop {
        let (r, p, b) = read_part(s, 65_536, 5000);
        assert_eq!(r, WS_OK, "ws_read_part at {}: {}", out.len(), describe());
        assert_eq!((p.offset as usize, p.r#type), (out.len(), WS_BINARY), "pieces in order");
        out.extend_from_slice(&b);
        if p.last == 1 || out.len() >= want {
            return p;
        }
    }
}

#[test]
fn large_binary_frames_read_straight_into_the_callers_buffer() {
    let _w = watchdog("large_binary_frames_read_straight_into_the_callers_buffer", secs(60));
    let a = binary_payload(300_000, 1);
    let b = binary_payload(200_000, 2);
    let (a2, b2) = (a.clone(), b.clone());
    let srv = serve_ws(move |p| {
        // fragment 1: the header and 1000 bytes, then the rest after "go"
        p.raw(&header(false, OP_BINARY, a2.len()));
        p.raw(&a2[..1000]);
        go(p);
        p.raw(&a2[1000..150_000]);
        // the client times out inside the frame, then says go again
        go(p);
        p.raw(&a2[150_000..]);
        // a ping between the fragments, then the final fragment
        p.ping(b"between");
        p.raw(&header(true, OP_CONT, b2.len()));
        go(p);
        p.raw(&b2);
        let pong = loop {
            let f = p.expect_frame(secs(5));
            if f.opcode == OP_PONG {
                break f.payload;
            }
        };
        // a second message the connection ends in the middle of
        p.raw(&header(true, OP_BINARY, 100_000));
        p.raw(&[5u8; 20_000]);
        go(p);
        p.raw(&[5u8; 30_000]);
        let _ = p.stream.shutdown(std::net::Shutdown::Both);
        pong
    });
    let s = open_ok(&srv.url("/"), Some(r#"{"streamReceive":true,"maxMessageSize":0,"pingInterval":0}"#));
    let mut got = Vec::new();
    read_bytes(s, &mut got, 1000);
    assert_eq!(got.len(), 1000);
    write_ok(s, b"go", WS_TEXT);
    read_bytes(s, &mut got, 150_000);
    // nothing more comes until we say so: a timeout inside the frame
    let (r, _, _) = read_part(s, 65_536, 200);
    assert_eq!(r, WS_TIMEOUT, "{}", describe());
    write_ok(s, b"go", WS_TEXT);
    read_bytes(s, &mut got, a.len());
    assert_eq!(got.len(), a.len());
    write_ok(s, b"go", WS_TEXT);
    let p = read_bytes(s, &mut got, a.len() + b.len());
    assert_eq!(p.last, 1, "the final fragment ends the message");
    assert_same_bytes(&got, &[a.as_slice(), b.as_slice()].concat(), "the message read in pieces");
    // the next message: its first 20 000 bytes, then the connection is lost
    let mut next = Vec::new();
    read_bytes(s, &mut next, 20_000);
    write_ok(s, b"go", WS_TEXT);
    let r = loop {
        let (r, p, bytes) = read_part(s, 65_536, 5000);
        if r != WS_OK {
            break r;
        }
        assert_eq!((p.offset as usize, p.last), (next.len(), 0));
        next.extend_from_slice(&bytes);
    };
    assert_eq!(r, WS_ERROR);
    assert_error(WS_E_CONNECTION_LOST, &["in the middle of a message"]);
    assert_eq!(next, vec![5u8; 50_000], "every byte that arrived was delivered");
    close(s);
    assert_eq!(srv.join(), b"between");
}

#[test]
fn large_binary_messages_in_pieces_over_tls() {
    let _w = watchdog("large_binary_messages_in_pieces_over_tls", secs(60));
    let ca = tls_support::make(&tls_support::Spec::ca("wsclient test CA"), None, None);
    let cert = tls_support::make(&tls_support::Spec::server("127.0.0.1"), None, Some(&ca));
    let srv = tls_support::TlsServer::start(&cert, tls_support::ServerOpts::default());
    let opts = serde_json::json!({
        "caCertificates": ca.pem(), "streamReceive": true, "maxMessageSize": 0, "pingInterval": 0
    });
    let s = open_ok(&srv.url(), Some(&opts.to_string()));
    // the echo server assembles each message and sends it back as one frame
    for (k, size) in [3_000_000usize, 65_536, 100_001].into_iter().enumerate() {
        let msg = binary_payload(size, k as u64);
        for (i, piece) in msg.chunks(65_536).enumerate() {
            let more = (i + 1) * 65_536 < msg.len();
            let flags = if i == 0 { WS_BINARY } else { 0 } | if more { WS_CONT } else { 0 };
            assert_eq!(ws_write_part(s, piece.as_ptr().cast(), piece.len(), flags), WS_OK, "{}", describe());
        }
        let mut got = Vec::new();
        let p = read_bytes(s, &mut got, size);
        assert_eq!(p.last, 1);
        assert_same_bytes(&got, &msg, "the message back over TLS");
    }
    close_ok(s);
}
