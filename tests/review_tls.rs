//! Regression test from the security review (failed on the main it
//! reviewed): frames that
//! arrived with the 101 response but sit decrypted inside OpenSSL (not in
//! the kernel, not in the Reader) are never delivered to a queue socket.
//!
//! connect.rs reads the upgrade response with a 4096-byte buffer; when the
//! response head is exactly 4096 bytes and the server wrote it in the same
//! TLS record as its first frames, SSL_read returns the head only, the
//! frames stay in OpenSSL's record buffer, `leftover` is empty, and
//! reactor::add sees neither kernel readiness (epoll) nor
//! `Conn::has_buffered_input()` (which looks at the Reader only). Nothing
//! reads the socket until the server sends more bytes. The same blind spot
//! exists after `Rearm::Now` when the read budget ends inside a record.

mod support;
mod tls_support;

use openssl::ssl::{SslAcceptor, SslMethod};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Duration;
use support::*;
use tls_support::{make, Spec};

fn frame_text(s: &str) -> Vec<u8> {
    encode(0x81, s.as_bytes(), None)
}

/// A TLS server that answers the upgrade with a head of exactly `head_len`
/// bytes followed, in the same SSL_write (one TLS record), by three text
/// frames; then, when told, one more frame.
fn server(head_len: usize, more: mpsc::Receiver<()>) -> (u16, std::thread::JoinHandle<()>) {
    let cert = make(&Spec::server("review"), None, None);
    let mut b = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server()).unwrap();
    b.set_certificate(&cert.cert).unwrap();
    b.set_private_key(&cert.key).unwrap();
    let acc = b.build();
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let h = std::thread::spawn(move || {
        let s = accept_one(&l);
        let mut t = acc.accept(s).expect("server: TLS accept");
        let mut req = Vec::new();
        let mut buf = [0u8; 2048];
        while !req.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = t.read(&mut buf).expect("server: read request");
            assert!(n > 0, "server: EOF in request");
            req.extend_from_slice(&buf[..n]);
        }
        let text = String::from_utf8_lossy(&req).into_owned();
        let key = text
            .lines()
            .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: ").or_else(|| l.strip_prefix("sec-websocket-key: ")))
            .expect("server: key")
            .trim()
            .to_string();
        let base = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\nX-Pad: \r\n\r\n",
            accept_key(&key)
        );
        let pad = "p".repeat(head_len - base.len());
        let head = base.replace("X-Pad: ", &format!("X-Pad: {pad}"));
        assert_eq!(head.len(), head_len);
        let mut out = head.into_bytes();
        for m in ["first", "second", "third"] {
            out.extend_from_slice(&frame_text(m));
        }
        t.write_all(&out).expect("server: write 101 + frames in one record");
        t.flush().unwrap();
        if more.recv_timeout(Duration::from_secs(20)).is_ok() {
            let _ = t.write_all(&frame_text("later"));
        }
        let _ = t.get_ref().set_read_timeout(Some(Duration::from_secs(5)));
        let _ = t.read(&mut buf); // until the client closes
    });
    (port, h)
}

/// Opens a queue socket to a server whose head is `head_len` bytes; returns
/// the messages delivered within 3 s, then (after the server sends one
/// more frame) the messages delivered within 3 s more.
fn run(head_len: usize) -> (Vec<String>, Vec<String>) {
    let (more_tx, more_rx) = mpsc::channel();
    let (port, h) = server(head_len, more_rx);
    let q = queue_create();
    let opts = format!(r#"{{"queue":{q},"ignoreSslErrors":true,"pingInterval":0,"closeTimeout":300}}"#);
    let s = open_ok(&format!("wss://127.0.0.1:{port}/"), Some(&opts));
    let collect = |q, until_ms: u64| {
        let mut got = Vec::new();
        let deadline = std::time::Instant::now() + Duration::from_millis(until_ms);
        while std::time::Instant::now() < deadline {
            match next_event(q, 50) {
                Ok(e) if e.ty == WS_EV_MESSAGE => got.push(e.text()),
                _ => {}
            }
            if got.len() >= 3 {
                break;
            }
        }
        got
    };
    let first = collect(q, 3000);
    let _ = more_tx.send(());
    let after = collect(q, 3000);
    close(s);
    ws_queue_destroy(q);
    h.join().unwrap();
    (first, after)
}

#[test]
fn frames_in_the_upgrade_record_reach_a_queue_socket() {
    let _w = watchdog("frames_in_the_upgrade_record_reach_a_queue_socket", Duration::from_secs(60));
    // control: head of 4000 bytes, the frames partly reach the Reader as
    // leftover, and everything is delivered
    let (first, _) = run(4000);
    assert_eq!(first, ["first", "second", "third"], "control case (head 4000 bytes)");
    // head of exactly 4096 bytes: the frames stay inside OpenSSL
    let (first, after) = run(4096);
    assert_eq!(
        first,
        ["first", "second", "third"],
        "head of exactly 4096 bytes: the frames that came in the same TLS record were not delivered \
         within 3 s (after the server sent another frame: {after:?})"
    );
}
