//! The C API through the exported functions, against real servers on
//! 127.0.0.1:0: data transfer, timeouts, pings, closing, the upgrade,
//! connection errors, URLs and options, protocol failures and threads.
//! Every assertion is on what C sees (return values, ws_last_error_code,
//! the message text) or on the bytes the server saw on the wire.

mod support;

use std::collections::HashSet;
use std::ffi::c_int;
use std::ptr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};
use support::*;

const SEC: Duration = Duration::from_secs(1);

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

// ---- data transfer ------------------------------------------------------------

const SIZES: [usize; 10] = [0, 1, 125, 126, 127, 65535, 65536, 65537, 1 << 20, 16 << 20];

fn payload(ty: c_int, n: usize) -> Vec<u8> {
    if ty == WS_TEXT {
        text_payload(n, n as u64)
    } else {
        binary_payload(n, n as u64 + 7)
    }
}

#[test]
fn echo_every_size_text_and_binary_with_ws_read() {
    let _w = watchdog("echo_every_size_text_and_binary_with_ws_read", secs(120));
    let srv = echo_server();
    let s = open_ok(&srv.url(), None);
    for ty in [WS_TEXT, WS_BINARY] {
        for n in SIZES {
            let msg = payload(ty, n);
            write_ok(s, &msg, ty);
            let (t, got) = read_msg(s, 30_000);
            assert_eq!(t, ty, "type of the {n}-byte echo");
            assert_same_bytes(&got, &msg, &format!("{n}-byte echo (type {ty})"));
        }
    }
    close_ok(s);
}

#[test]
fn echo_every_size_text_and_binary_with_ws_read_into() {
    let _w = watchdog("echo_every_size_text_and_binary_with_ws_read_into", secs(120));
    let srv = echo_server();
    let s = open_ok(&srv.url(), None);
    for ty in [WS_BINARY, WS_TEXT] {
        for n in SIZES {
            let msg = payload(ty, n);
            write_ok(s, &msg, ty);
            // a buffer larger than needed: only `len` bytes are meaningful
            let (r, len, t, got) = read_into(s, n + 3, 30_000);
            assert_eq!(r, WS_OK, "ws_read_into {n}: {}", describe());
            assert_eq!((len, t), (n, ty));
            assert_same_bytes(&got, &msg, &format!("{n}-byte echo into buffer"));
        }
    }
    close_ok(s);
}

#[test]
fn read_into_too_small_reports_size_and_keeps_message() {
    let _w = watchdog("read_into_too_small_reports_size_and_keeps_message", secs(30));
    let srv = echo_server();
    let s = open_ok(&srv.url(), None);
    let big = binary_payload(100_000, 3);
    write_ok(s, &big, WS_BINARY);
    write_ok(s, b"next", WS_TEXT);

    // NULL buffer, cap 0: learn the size
    let mut len = 0usize;
    let mut ty: c_int = -77;
    let r = ws_read_into(s, ptr::null_mut(), 0, &mut len, &mut ty, 5000);
    assert_eq!(r, WS_ERROR, "{}", describe());
    assert_error(WS_E_BUFFER_TOO_SMALL, &["100000"]);
    assert_eq!(len, 100_000, "*len must hold the size needed");
    assert_eq!(ty, -77, "*type must not be written when the message is not returned");

    // one byte short: still too small, nothing copied
    let (r, len, ty, buf) = read_into(s, 99_999, 5000);
    assert_eq!(r, WS_ERROR);
    assert_error(WS_E_BUFFER_TOO_SMALL, &[]);
    assert_eq!((len, ty), (100_000, -77));
    assert!(buf.iter().all(|&b| b == 0xEE), "nothing may be copied into a too small buffer");

    // the message is kept: read whole
    let (r, len, ty, buf) = read_into(s, 100_000, 5000);
    assert_eq!(r, WS_OK, "{}", describe());
    assert_eq!((len, ty), (100_000, WS_BINARY));
    assert_same_bytes(&buf, &big, "kept message");
    assert_eq!(read_msg(s, 5000), (WS_TEXT, b"next".to_vec()), "order kept");

    // too small, then taken by ws_read (lent)
    write_ok(s, b"0123456789", WS_TEXT);
    let (r, len, _, _) = read_into(s, 4, 5000);
    assert_eq!((r, len, last_code()), (WS_ERROR, 10, WS_E_BUFFER_TOO_SMALL));
    assert_eq!(read_msg(s, 5000), (WS_TEXT, b"0123456789".to_vec()));

    // an empty message fits a NULL buffer of capacity 0
    write_ok(s, b"", WS_BINARY);
    let (r, len, ty, _) = read_into(s, 0, 5000);
    assert_eq!((r, len, ty), (WS_OK, 0, WS_BINARY), "{}", describe());
    close_ok(s);
}

#[test]
fn lent_buffer_stays_valid_until_next_read() {
    let _w = watchdog("lent_buffer_stays_valid_until_next_read", secs(30));
    let srv = echo_server();
    let s = open_ok(&srv.url(), None);
    write_ok(s, b"first message", WS_TEXT);
    write_ok(s, &binary_payload(50_000, 1), WS_BINARY);
    let mut p: *const std::ffi::c_void = ptr::null();
    let mut len = 0usize;
    let mut ty = 0;
    assert_eq!(ws_read(s, &mut p, &mut len, &mut ty, 5000), WS_OK, "{}", describe());
    // other calls on the socket (not reads) leave the lent message alone
    assert_eq!(ws_http_status(s), 101);
    assert_eq!(ws_flush(s, 100), WS_OK);
    write_ok(s, b"third", WS_TEXT);
    thread::sleep(Duration::from_millis(100)); // let more data arrive
                                               // SAFETY: the contract lends the message until the next read on s.
    let first = unsafe { std::slice::from_raw_parts(p.cast::<u8>(), len) };
    assert_eq!((first, ty), (&b"first message"[..], WS_TEXT));
    assert_eq!(read_msg(s, 5000).1, binary_payload(50_000, 1));
    assert_eq!(read_msg(s, 5000).1, b"third");
    close_ok(s);
}

#[test]
fn more_flag_batches_until_flush_in_order() {
    let _w = watchdog("more_flag_batches_until_flush_in_order", secs(30));
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let srv = serve_ws(move |p| {
        go_rx.recv_timeout(secs(10)).expect("test signal");
        let silent_before_flush = p.silent_for(Duration::from_millis(300));
        let first: Vec<(u8, Vec<u8>)> = (0..5).map(|_| p.expect_message(secs(10))).collect();
        let second: Vec<(u8, Vec<u8>)> = (0..4).map(|_| p.expect_message(secs(10))).collect();
        let _ = p.read_until_close(secs(5));
        (silent_before_flush, first, second)
    });
    let s = open_ok(&srv.url("/"), None);
    let msgs: Vec<Vec<u8>> = (0..5).map(|i| format!("queued {i}").into_bytes()).collect();
    for m in &msgs {
        assert_eq!(write(s, m, WS_TEXT | WS_MORE), WS_OK, "{}", describe());
    }
    go_tx.send(()).unwrap();
    thread::sleep(Duration::from_millis(400)); // the server checks for silence
    assert_eq!(ws_flush(s, 5000), WS_OK, "{}", describe());
    assert_eq!(ws_flush(s, 0), WS_OK, "flush with nothing queued");

    // WS_MORE messages followed by a write without the flag: all go out
    let bin = binary_payload(70_000, 9);
    assert_eq!(write(s, b"a", WS_TEXT | WS_MORE), WS_OK);
    assert_eq!(write(s, &bin, WS_BINARY | WS_MORE), WS_OK);
    assert_eq!(write(s, b"", WS_BINARY | WS_MORE), WS_OK);
    write_ok(s, b"last", WS_TEXT);
    thread::sleep(Duration::from_millis(200));
    close_ok(s);

    let (silent, first, second) = srv.join();
    assert!(silent, "WS_MORE messages reached the wire before ws_flush");
    let want: Vec<(u8, Vec<u8>)> = msgs.into_iter().map(|m| (OP_TEXT, m)).collect();
    assert_eq!(first, want, "batched messages, in order");
    assert_eq!(
        second,
        vec![(OP_TEXT, b"a".to_vec()), (OP_BINARY, bin), (OP_BINARY, vec![]), (OP_TEXT, b"last".to_vec())]
    );
}

// ---- timeouts ---------------------------------------------------------------------

#[test]
fn open_timeout_against_silent_tcp_server() {
    let _w = watchdog("open_timeout_against_silent_tcp_server", secs(30));
    let srv = silent_tcp_server(secs(3));
    let (r, took) = timed(|| open(&srv.url("/"), Some(r#"{"timeout":300}"#)));
    assert_eq!(r, WS_TIMEOUT, "ws_open against a silent server: {}", describe());
    assert_between(took, 250, 1500, "ws_open with {\"timeout\":300}");
    assert_error(WS_E_TIMEOUT, &["300 ms", &format!("127.0.0.1:{}", srv.port)]);
    assert!(srv.join() > 0, "the server never saw the upgrade request");
}

#[test]
fn read_timeout_then_late_message_is_delivered_whole() {
    let _w = watchdog("read_timeout_then_late_message_is_delivered_whole", secs(30));
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let late = binary_payload(100_000, 5);
    let late2 = late.clone();
    let srv = serve_ws(move |p| {
        go_rx.recv_timeout(secs(10)).expect("test signal");
        p.binary(&late2);
        p.read_until_close(secs(5)).0
    });
    let s = open_ok(&srv.url("/"), None);
    let (r, took) = timed(|| read(s, 200));
    assert_eq!(r, Got::Timeout(WS_E_TIMEOUT), "{}", describe());
    assert_between(took, 190, 1500, "ws_read(timeout 200)");
    let (r, took) = timed(|| read(s, 0));
    assert_eq!(r, Got::Timeout(WS_E_TIMEOUT), "poll with timeout 0");
    assert!(took < Duration::from_millis(200), "timeout 0 must not wait ({took:?})");
    go_tx.send(()).unwrap();
    let (t, got) = read_msg(s, 5000);
    assert_eq!(t, WS_BINARY);
    assert_same_bytes(&got, &late, "message after a timeout");
    close_ok(s);
    let reply = srv.join().expect("close frame from the client");
    assert_eq!(reply.close_code(), Some((1000, String::new())));
}

#[test]
fn timeout_in_the_middle_of_a_frame_loses_nothing() {
    let _w = watchdog("timeout_in_the_middle_of_a_frame_loses_nothing", secs(30));
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let big = binary_payload(40_000, 11);
    // "x€y": the first half ends inside the 3-byte character
    let text = "x\u{20ac}y".repeat(10);
    let frag = text_payload(30_000, 12);
    let (big2, text2, frag2) = (big.clone(), text.clone(), frag.clone());
    let srv = serve_ws(move |p| {
        let wait = || go_rx.recv_timeout(secs(10)).expect("test signal");
        // 1. a large binary frame: header and half the payload
        let f = encode(0x82, &big2, None);
        p.raw(&f[..20_000]);
        wait();
        p.raw(&f[20_000..]);
        // 2. a small text frame split inside a character (and inside the header)
        let f = encode(0x81, text2.as_bytes(), None);
        p.raw(&f[..1]);
        wait();
        p.raw(&f[1..3]);
        wait();
        p.raw(&f[3..]);
        // 3. a fragmented text message: first fragment, then the rest
        let (a, b) = frag2.split_at(10_001);
        p.frame(false, OP_TEXT, a);
        wait();
        p.frame(true, OP_CONT, b);
        p.read_until_close(secs(5)).0
    });
    let s = open_ok(&srv.url("/"), None);
    let timeout_then_go = |reads: usize| {
        for _ in 0..reads {
            let (r, took) = timed(|| read(s, 100));
            assert_eq!(r, Got::Timeout(WS_E_TIMEOUT), "{}", describe());
            assert_between(took, 90, 1500, "ws_read(timeout 100)");
        }
        go_tx.send(()).unwrap();
    };
    timeout_then_go(3);
    let (t, got) = read_msg(s, 5000);
    assert_eq!(t, WS_BINARY);
    assert_same_bytes(&got, &big, "frame that straddled three timeouts");

    timeout_then_go(1);
    timeout_then_go(2);
    assert_eq!(read_msg(s, 5000), (WS_TEXT, text.into_bytes()));

    timeout_then_go(2);
    let (t, got) = read_msg(s, 5000);
    assert_eq!(t, WS_TEXT);
    assert_same_bytes(&got, &frag, "fragmented message that straddled a timeout");
    close_ok(s);
    assert!(srv.join().is_some());
}

// ---- pings ------------------------------------------------------------------------

#[test]
fn pings_are_answered_while_blocked_in_read() {
    let _w = watchdog("pings_are_answered_while_blocked_in_read", secs(30));
    let pings: Vec<Vec<u8>> = vec![
        vec![],
        b"p".to_vec(),
        vec![0xFF; 125],
        binary_payload(37, 1),
        b"\x00\x01\x02".to_vec(),
        binary_payload(124, 2),
        b"ping 7".to_vec(),
        vec![0x80; 3],
        binary_payload(64, 3),
        b"last ping".to_vec(),
    ];
    let sent = pings.clone();
    let srv = serve_ws(move |p| -> Result<Vec<Vec<u8>>, String> {
        let mut pongs = Vec::new();
        for (i, ping) in sent.iter().enumerate() {
            thread::sleep(Duration::from_millis(50));
            p.ping(ping);
            // the client must pong within 1 s, or it is dropped
            match p.read_frame(SEC) {
                Ok(Some(f)) if f.opcode == OP_PONG && f.masked => pongs.push(f.payload),
                other => {
                    let _ = p.stream.shutdown(std::net::Shutdown::Both);
                    return Err(format!("ping {i}: expected a masked pong within 1 s, got {other:?}"));
                }
            }
        }
        p.text("done");
        let _ = p.read_until_close(secs(5));
        Ok(pongs)
    });
    let s = open_ok(&srv.url("/"), None);
    // one ws_read, no timeout, for the whole ping exchange
    let (r, took) = timed(|| read(s, -1));
    assert_eq!(r, Got::Msg(WS_TEXT, b"done".to_vec()), "{}", describe());
    assert!(took >= Duration::from_millis(450), "the read returned early ({took:?})");
    close_ok(s);
    let pongs = srv.join().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(pongs, pings, "each pong carries its ping's payload");
}

// ---- closing by the server ---------------------------------------------------------

#[test]
fn server_close_delivers_queued_messages_then_closed_at_once() {
    let _w = watchdog("server_close_delivers_queued_messages_then_closed_at_once", secs(30));
    let msgs = vec![
        (OP_TEXT, b"one".to_vec()),
        (OP_BINARY, binary_payload(70_000, 4)),
        (OP_TEXT, "tr\u{e9}s".as_bytes().to_vec()),
    ];
    // the server keeps TCP open after the close handshake until we close it
    let srv = close_server(msgs.clone(), Some(4001), "bye now", true);
    let s = open_ok(&srv.url("/"), Some(r#"{"closeTimeout":300}"#));
    for (op, m) in &msgs {
        let (t, got) = read_msg(s, 5000);
        assert_eq!(t, *op as c_int);
        assert_same_bytes(&got, m, "message queued before the close frame");
    }
    let (r, took) = timed(|| read(s, 5000));
    assert_eq!(r, Got::Closed, "{}", describe());
    assert!(took < Duration::from_millis(1000), "WS_CLOSED must not wait for TCP to end ({took:?})");
    assert_eq!(ws_close_code(s), 4001);
    assert_eq!(from_c(ws_close_reason(s)).as_deref(), Some("bye now"));
    assert_eq!(read(s, 1000), Got::Closed, "later reads keep returning WS_CLOSED");
    assert_eq!(read_into(s, 10, 1000).0, WS_CLOSED);
    assert_eq!(write(s, b"too late", WS_TEXT), WS_ERROR);
    assert_error(WS_E_CLOSED, &[]);
    let (r, took) = timed(|| close(s));
    assert_eq!(r, WS_OK, "{}", describe());
    assert!(took < Duration::from_millis(1500), "ws_close bounded by closeTimeout ({took:?})");
    assert_eq!(ws_close_code(s), WS_ERROR);
    assert_error(WS_E_BAD_SOCKET, &[]);

    let rep = srv.join();
    let reply = rep.reply.expect("the client answered the close frame");
    assert_eq!(reply.close_code().map(|c| c.0), Some(4001), "the reply echoes the code");
    assert!(rep.after_close.is_empty(), "frames after the close: {:?}", rep.after_close);
    assert!(rep.client_closed_tcp, "the client closed TCP in ws_close");
}

#[test]
fn server_close_without_code_and_tcp_end() {
    let _w = watchdog("server_close_without_code_and_tcp_end", secs(30));
    let srv = close_server(vec![(OP_TEXT, b"only".to_vec())], None, "", false);
    let s = open_ok(&srv.url("/"), None);
    assert_eq!(read_msg(s, 5000), (WS_TEXT, b"only".to_vec()));
    assert_eq!(read(s, 5000), Got::Closed, "{}", describe());
    assert_eq!(ws_close_code(s), 1005, "a close frame without a code reads as 1005");
    assert_eq!(from_c(ws_close_reason(s)).as_deref(), Some(""));
    let (r, took) = timed(|| close(s));
    assert_eq!(r, WS_OK);
    assert!(took < Duration::from_millis(1500), "{took:?}");
    let rep = srv.join();
    let reply = rep.reply.expect("close reply");
    assert!(
        reply.payload.is_empty() || reply.close_code().map(|c| c.0) == Some(1000),
        "reply to an empty close frame: {reply:?}"
    );
}

#[test]
fn close_code_is_zero_while_open_and_close_sends_our_code() {
    let _w = watchdog("close_code_is_zero_while_open_and_close_sends_our_code", secs(30));
    let srv = serve_ws(|p| {
        let (c, _) = p.read_until_close(secs(10));
        if let Some(c) = &c {
            p.frame(true, OP_CLOSE, &c.payload);
        }
        c
    });
    let s = open_ok(&srv.url("/"), None);
    assert_eq!(ws_close_code(s), 0);
    assert_eq!(from_c(ws_close_reason(s)).as_deref(), Some(""));
    let reason = "\u{e9}".repeat(61); // 122 bytes, multibyte
    assert_eq!(close_with(s, 4999, &reason), WS_OK, "{}", describe());
    let f = srv.join().expect("our close frame");
    assert_eq!(f.close_code(), Some((4999, reason)));
}

#[test]
fn connection_lost_without_close_frame() {
    let _w = watchdog("connection_lost_without_close_frame", secs(30));
    let srv = serve_ws(|p| {
        p.text("before");
        let _ = p.stream.shutdown(std::net::Shutdown::Both);
    });
    let s = open_ok(&srv.url("/"), None);
    assert_eq!(read_msg(s, 5000), (WS_TEXT, b"before".to_vec()));
    assert_eq!(read(s, 5000), Got::Error(WS_E_CONNECTION_LOST), "{}", describe());
    assert_error(WS_E_CONNECTION_LOST, &[&format!("127.0.0.1:{}", srv.port)]);
    assert_eq!(ws_close_code(s), 1006);
    assert_eq!(read(s, 100), Got::Error(WS_E_CONNECTION_LOST), "the error is sticky");
    close_ok(s);
    srv.join();

    // TCP ends in the middle of a message
    let srv = serve_ws(|p| {
        let f = encode(0x82, &[7u8; 1000], None);
        p.raw(&f[..500]);
        let _ = p.stream.shutdown(std::net::Shutdown::Both);
    });
    let s = open_ok(&srv.url("/"), None);
    assert_eq!(read(s, 5000), Got::Error(WS_E_CONNECTION_LOST), "{}", describe());
    assert_error(WS_E_CONNECTION_LOST, &["middle of a message"]);
    close_ok(s);
    srv.join();
}

// ---- the upgrade ---------------------------------------------------------------------

#[test]
fn upgrade_rejected_401_and_404() {
    let _w = watchdog("upgrade_rejected_401_and_404", secs(30));
    for (resp, needle) in [
        ("HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"x\"\r\nContent-Length: 0\r\n\r\n", "HTTP 401"),
        ("HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n\r\nnot here\n", "HTTP 404"),
    ] {
        let srv = serve_response(resp.to_string(), SEC);
        let r = open(&srv.url("/x"), None);
        assert_eq!(r, WS_ERROR, "{}", describe());
        assert_error(WS_E_UPGRADE_REJECTED, &[needle, &format!("127.0.0.1:{}", srv.port)]);
        assert!(last_error().starts_with("upgrade rejected by"), "{}", last_error());
        srv.join();
    }
}

#[test]
fn bad_or_missing_accept() {
    let _w = watchdog("bad_or_missing_accept", secs(30));
    for resp in [
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
    ] {
        let srv = serve_response(resp.to_string(), SEC);
        assert_eq!(open(&srv.url("/"), None), WS_ERROR);
        assert_error(WS_E_BAD_ACCEPT, &["Sec-WebSocket-Accept"]);
        srv.join();
    }
}

#[test]
fn unoffered_subprotocol_or_extension_is_a_handshake_error() {
    let _w = watchdog("unoffered_subprotocol_or_extension_is_a_handshake_error", secs(30));
    let base = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {ACCEPT}\r\n";
    for (extra, opts, needle) in [
        ("Sec-WebSocket-Protocol: chat\r\n", None, "subprotocol"),
        ("Sec-WebSocket-Protocol: other\r\n", Some(r#"{"subprotocols":["chat"]}"#), "subprotocol"),
        ("Sec-WebSocket-Extensions: permessage-deflate\r\n", None, "extension"),
    ] {
        let srv = serve_response(format!("{base}{extra}\r\n"), SEC);
        assert_eq!(open(&srv.url("/"), opts), WS_ERROR, "{extra}");
        assert_error(WS_E_HANDSHAKE, &[needle]);
        srv.join();
    }
    // not a WebSocket upgrade at all
    let srv = serve_response(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {ACCEPT}\r\n\r\n".into(),
        SEC,
    );
    assert_eq!(open(&srv.url("/"), None), WS_ERROR);
    assert_error(WS_E_HANDSHAKE, &["Upgrade"]);
    srv.join();
    // the server hangs up during the upgrade
    let srv = serve_tcp(|mut s| {
        let _ = read_request(&mut s);
    });
    assert_eq!(open(&srv.url("/"), None), WS_ERROR);
    let code = last_code();
    assert!(code == WS_E_HANDSHAKE || code == WS_E_CONNECT, "connection closed during the upgrade: {}", describe());
    srv.join();
}

#[test]
fn connection_keep_alive_upgrade_is_accepted() {
    let _w = watchdog("connection_keep_alive_upgrade_is_accepted", secs(30));
    let srv = serve_tcp(|mut s| {
        let (req, _) = read_request(&mut s);
        let resp = format!(
            "HTTP/1.1 101 Switching Protocols\r\nupgrade: WebSocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
            accept_key(req.key())
        );
        let mut p = Peer::new(s, req, vec![]);
        p.raw(resp.as_bytes());
        p.text("hello");
        let m = p.expect_message(secs(10));
        let _ = p.read_until_close(secs(5));
        m
    });
    let s = open_ok(&srv.url("/"), None);
    assert_eq!(read_msg(s, 5000), (WS_TEXT, b"hello".to_vec()));
    write_ok(s, b"world", WS_BINARY);
    close_ok(s);
    assert_eq!(srv.join(), (OP_BINARY, b"world".to_vec()));
}

#[test]
fn subprotocol_and_response_headers_readback() {
    let _w = watchdog("subprotocol_and_response_headers_readback", secs(30));
    let srv = serve_ws_extra("Sec-WebSocket-Protocol: chat\r\nX-Server: one\r\nX-Multi: a\r\nx-multi: b\r\n", |p| {
        let _ = p.read_until_close(secs(10));
        p.request.clone()
    });
    let s = open_ok(&srv.url("/"), Some(r#"{"subprotocols":["superchat","chat"]}"#));
    assert_eq!(ws_http_status(s), 101);
    assert_eq!(from_c(ws_subprotocol(s)).as_deref(), Some("chat"));
    let hdr = |name: &str| {
        let n = cs(name);
        from_c(ws_response_header(s, n.as_ptr()))
    };
    assert_eq!(hdr("x-server").as_deref(), Some("one"));
    assert_eq!(hdr("X-MULTI").as_deref(), Some("a, b"), "repeated headers joined with \", \"");
    assert_eq!(hdr("sec-websocket-protocol").as_deref(), Some("chat"));
    // a missing header: NULL with WS_E_OK (after clearing a stale error)
    assert_eq!(ws_close_code(-5), WS_ERROR);
    assert_eq!(hdr("X-Absent"), None);
    assert_eq!(last_code(), WS_E_OK, "a missing header is not an error");
    assert!(ws_response_header(s, ptr::null()).is_null());
    assert_error(WS_E_INVALID_ARGUMENT, &[]);
    let all = from_c(ws_response_headers(s)).expect("headers");
    let want = "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ";
    assert!(all.starts_with(want), "headers in the server's order: {all:?}");
    let tail = "Sec-WebSocket-Protocol: chat\r\nX-Server: one\r\nX-Multi: a\r\nx-multi: b\r\n";
    assert!(all.ends_with(tail), "headers in the server's order: {all:?}");
    close_ok(s);
    let req = srv.join();
    assert_eq!(req.all("sec-websocket-protocol"), vec!["superchat, chat"]);

    // no subprotocol offered or selected: ""
    let echo = echo_server();
    let s = open_ok(&echo.url(), None);
    assert_eq!(from_c(ws_subprotocol(s)).as_deref(), Some(""));
    assert_eq!(last_code(), WS_E_OK);
    close_ok(s);
}

#[test]
fn upgrade_request_headers_on_the_wire() {
    let _w = watchdog("upgrade_request_headers_on_the_wire", secs(30));
    let record = || {
        serve_ws_extra("Sec-WebSocket-Protocol: b\r\n", |p| {
            let _ = p.read_until_close(secs(10));
            p.request.clone()
        })
    };
    let srv = record();
    let port = srv.port;
    let opts = r#"{"headers":{"X-Token":"abc 123","User-Agent":"my-agent/1.0"},"subprotocols":["a","b"]}"#;
    let s = open_ok(&srv.url("/chat/room?x=1&y=%20z"), Some(opts));
    close_ok(s);
    let req = srv.join();
    assert_eq!(req.request_line, "GET /chat/room?x=1&y=%20z HTTP/1.1", "path and query kept");
    assert_eq!(req.all("host"), vec![format!("127.0.0.1:{port}")], "Host with the port");
    assert_eq!(req.all("user-agent"), vec!["my-agent/1.0"], "User-Agent replaced, not duplicated:\n{}", req.raw);
    assert_eq!(req.all("x-token"), vec!["abc 123"]);
    assert_eq!(req.all("sec-websocket-protocol"), vec!["a, b"]);
    assert_eq!(req.all("sec-websocket-version"), vec!["13"]);
    assert!(req.get("upgrade").is_some_and(|v| v.eq_ignore_ascii_case("websocket")));
    assert!(req.get("connection").is_some_and(|v| v.to_ascii_lowercase().contains("upgrade")));
    let key = req.key();
    assert!(key.len() == 24 && key.ends_with("=="), "Sec-WebSocket-Key is 16 base64 bytes: {key}");
    assert!(req.get("sec-websocket-extensions").is_none(), "no extension may be offered");

    // defaults: our own User-Agent, exactly one Host, replaced Host, basic auth
    let srv = record();
    let s = open_ok(
        &format!("ws://us%40er:p%3Ass@127.0.0.1:{}", srv.port),
        Some(r#"{"headers":{"host":"example.com:99"},"subprotocols":["b"]}"#),
    );
    close_ok(s);
    let req = srv.join();
    assert_eq!(req.request_line, "GET / HTTP/1.1", "an empty path is sent as /");
    assert_eq!(req.all("host"), vec!["example.com:99"], "Host replaced, not duplicated");
    let ua = req.all("user-agent");
    assert!(ua.len() == 1 && ua[0].starts_with("wsclient/"), "default User-Agent: {ua:?}");
    // "us@er:p:ss"
    assert_eq!(req.all("authorization"), vec!["Basic dXNAZXI6cDpzcw=="]);

    // a query without a path
    let srv = record();
    let s = open_ok(&format!("ws://127.0.0.1:{}?a=b", srv.port), Some(r#"{"subprotocols":["b"]}"#));
    close_ok(s);
    assert_eq!(srv.join().request_line, "GET /?a=b HTTP/1.1");
}

// ---- connection errors, URLs, options ------------------------------------------------

#[test]
fn refused_port_is_a_connect_error() {
    let _w = watchdog("refused_port_is_a_connect_error", secs(30));
    let port = refused_port();
    let (r, took) = timed(|| open(&format!("ws://127.0.0.1:{port}/"), None));
    assert_eq!(r, WS_ERROR, "{}", describe());
    assert!(took < secs(5));
    assert_error(WS_E_CONNECT, &["connection refused", &format!("127.0.0.1:{port}")]);
}

#[test]
fn unresolvable_name_is_a_dns_error() {
    let _w = watchdog("unresolvable_name_is_a_dns_error", secs(30));
    // .invalid is reserved (RFC 6761): it never resolves
    let r = open("ws://no-such-host.invalid:8080/", Some(r#"{"timeout":10000}"#));
    assert_eq!(r, WS_ERROR, "{}", describe());
    assert_error(WS_E_DNS, &["no-such-host.invalid"]);
}

#[test]
fn ipv6_literal_url() {
    let _w = watchdog("ipv6_literal_url", secs(30));
    let l = match std::net::TcpListener::bind("[::1]:0") {
        Ok(l) => l,
        Err(e) => {
            eprintln!("skipped: IPv6 loopback not available ({e})");
            return;
        }
    };
    let port = l.local_addr().unwrap().port();
    let srv = serve_ws_on(l, "", |p| {
        let m = p.expect_message(secs(10));
        p.binary(&m.1);
        let _ = p.read_until_close(secs(5));
        p.request.clone()
    });
    let s = open_ok(&format!("ws://[::1]:{port}/v6?q"), None);
    write_ok(s, b"over v6", WS_TEXT);
    assert_eq!(read_msg(s, 5000), (WS_BINARY, b"over v6".to_vec()));
    close_ok(s);
    let req = srv.join();
    assert_eq!(req.request_line, "GET /v6?q HTTP/1.1");
    assert_eq!(req.all("host"), vec![format!("[::1]:{port}")]);
}

#[test]
fn default_ports_are_80_and_443() {
    let _w = watchdog("default_ports_are_80_and_443", secs(30));
    // No fixed port may be bound here, but a refused connection names the
    // address it tried: that proves the default port without a server on it.
    for (url, peer) in [
        ("ws://127.0.0.1/", "127.0.0.1:80"),
        ("ws://127.0.0.1:80/path", "127.0.0.1:80"),
        ("wss://127.0.0.1/", "127.0.0.1:443"),
    ] {
        if std::net::TcpStream::connect(peer).is_ok() {
            eprintln!("skipped {url}: something listens on {peer}");
            continue;
        }
        assert_eq!(open(url, Some(r#"{"timeout":5000}"#)), WS_ERROR, "{url}");
        assert_error(WS_E_CONNECT, &[peer, "connection refused"]);
    }
}

#[test]
fn bad_urls_are_rejected_with_a_reason() {
    let _w = watchdog("bad_urls_are_rejected_with_a_reason", secs(30));
    for (url, code, needle) in [
        ("", WS_E_INVALID_URL, "empty"),
        ("   ", WS_E_INVALID_URL, "empty"),
        ("ws://", WS_E_INVALID_URL, "empty host"),
        ("ws:///path", WS_E_INVALID_URL, "empty host"),
        ("ws://:8080/", WS_E_INVALID_URL, "empty host"),
        ("ws://127.0.0.1:0/", WS_E_INVALID_URL, "port"),
        ("ws://127.0.0.1:65536/", WS_E_INVALID_URL, "port"),
        ("ws://127.0.0.1:99999999999/", WS_E_INVALID_URL, "port"),
        ("ws://127.0.0.1:12x/", WS_E_INVALID_URL, "port"),
        ("ws://127.0.0.1/#frag", WS_E_INVALID_URL, "fragment"),
        ("ws:127.0.0.1", WS_E_INVALID_URL, "//"),
        ("ws://[::1/", WS_E_INVALID_URL, "invalid URL"),
        ("no scheme at all", WS_E_INVALID_URL, "scheme"),
        ("http://127.0.0.1/", WS_E_UNSUPPORTED_SCHEME, "\"http\""),
        ("https://example.com/", WS_E_UNSUPPORTED_SCHEME, "\"https\""),
        ("ftp://x/", WS_E_UNSUPPORTED_SCHEME, "unsupported scheme"),
    ] {
        let r = open(url, None);
        assert_eq!(r, WS_ERROR, "ws_open({url:?}) = {r}");
        let got = last_code();
        assert_eq!(error_name(got), error_name(code), "{url:?}: {}", last_error());
        let msg = last_error();
        assert!(msg.contains(needle), "{url:?}: message {msg:?} does not say {needle:?}");
        assert!(msg.contains("URL"), "{url:?}: message {msg:?} does not name the URL");
    }
    // not UTF-8
    let bad = std::ffi::CString::new(vec![b'w', b's', b':', b'/', b'/', 0xFF, b'x']).unwrap();
    assert_eq!(ws_open(bad.as_ptr(), ptr::null()), WS_ERROR);
    assert_error(WS_E_INVALID_ARGUMENT, &["UTF-8"]);
    // NULL url
    assert_eq!(ws_open(ptr::null(), ptr::null()), WS_ERROR);
    assert_error(WS_E_INVALID_ARGUMENT, &["url"]);
}

#[test]
fn a_url_without_scheme_is_invalid_not_an_unsupported_scheme() {
    let _w = watchdog("a_url_without_scheme_is_invalid_not_an_unsupported_scheme", secs(30));
    // RFC 3986 3.1: a scheme starts with a letter, so "127.0.0.1:8080" has
    // no scheme at all: the URL is malformed (WS_E_INVALID_URL), it does not
    // name a scheme other than ws or wss (WS_E_UNSUPPORTED_SCHEME)
    for url in ["127.0.0.1:8080", "127.0.0.1:8080/path", "1ws://host/"] {
        assert_eq!(open(url, None), WS_ERROR, "{url}");
        assert_eq!(error_name(last_code()), "WS_E_INVALID_URL", "{url:?}: {}", last_error());
        assert!(last_error().contains("scheme"), "{url:?}: say that the scheme is missing: {}", last_error());
    }
}

#[test]
fn option_errors_name_the_key_before_any_network_io() {
    let _w = watchdog("option_errors_name_the_key_before_any_network_io", secs(30));
    // a refused port: an option error must come first (no connect attempt)
    let url = format!("ws://127.0.0.1:{}/", refused_port());
    for (opts, needle) in [
        ("{", "invalid JSON"),
        ("{\"timeout\":300", "invalid JSON"),
        ("[]", "object"),
        ("42", "object"),
        (r#"{"nope":1}"#, "\"nope\""),
        (r#"{"Timeout":300}"#, "\"Timeout\""),
        (r#"{"timeout":"300"}"#, "\"timeout\""),
        (r#"{"timeout":0}"#, "\"timeout\""),
        (r#"{"timeout":-5}"#, "\"timeout\""),
        (r#"{"timeout":1.5}"#, "\"timeout\""),
        (r#"{"timeout":2147483648}"#, "\"timeout\""),
        (r#"{"closeTimeout":null}"#, "\"closeTimeout\""),
        (r#"{"sendTimeout":true}"#, "\"sendTimeout\""),
        (r#"{"maxMessageSize":-1}"#, "\"maxMessageSize\""),
        (r#"{"maxMessageSize":"big"}"#, "\"maxMessageSize\""),
        (r#"{"sendBufferLimit":[]}"#, "\"sendBufferLimit\""),
        (r#"{"tcpNoDelay":1}"#, "\"tcpNoDelay\""),
        (r#"{"subprotocols":"chat"}"#, "\"subprotocols\""),
        (r#"{"subprotocols":[1]}"#, "\"subprotocols\""),
        (r#"{"subprotocols":["a b"]}"#, "\"subprotocols\""),
        (r#"{"headers":[]}"#, "\"headers\""),
        (r#"{"headers":{"X-A":1}}"#, "\"X-A\""),
        (r#"{"headers":{"X-A":"v\r\nX-Injected: 1"}}"#, "\"X-A\""),
        (r#"{"headers":{"X-A":"v\nX-Injected: 1"}}"#, "\"X-A\""),
        (r#"{"headers":{"X-A":"v\rX"}}"#, "\"X-A\""),
        (r#"{"headers":{"X-A":"nul\u0000"}}"#, "\"X-A\""),
        (r#"{"headers":{"Bad Name":"v"}}"#, "Bad Name"),
        (r#"{"headers":{"X-A\r\nB":"v"}}"#, "\"headers\""),
        (r#"{"headers":{"Upgrade":"h2c"}}"#, "\"Upgrade\""),
        (r#"{"headers":{"Sec-WebSocket-Key":"x"}}"#, "\"Sec-WebSocket-Key\""),
        (r#"{"busyPoll":-1}"#, "\"busyPoll\""),
        (r#"{"busyPoll":1000001}"#, "\"busyPoll\""),
        (r#"{"busyPoll":"50"}"#, "\"busyPoll\""),
        (r#"{"busyPoll":1.5}"#, "\"busyPoll\""),
    ] {
        let r = open(&url, Some(opts));
        assert_eq!(r, WS_ERROR, "options {opts:?}: {r}");
        let msg = last_error();
        assert_eq!(error_name(last_code()), "WS_E_INVALID_OPTIONS", "options {opts:?}: {msg}");
        assert!(msg.starts_with("argument error in options: "), "{opts:?}: {msg:?}");
        assert!(msg.contains(needle), "{opts:?}: {msg:?} does not name {needle:?}");
    }
    // NULL, "" and "{}" mean the defaults: they get as far as the connect
    for opts in [None, Some(""), Some("  "), Some("{}")] {
        assert_eq!(open(&url, opts), WS_ERROR);
        assert_error(WS_E_CONNECT, &["connection refused"]);
    }
    // every documented key with a valid value is accepted
    let all = r#"{"headers":{"X-A":"1"},"timeout":5000,"subprotocols":["x"],"maxMessageSize":1000,
        "sendTimeout":1000,"closeTimeout":100,"sendBufferLimit":65536,"tcpNoDelay":false,"busyPoll":0}"#;
    assert_eq!(open(&url, Some(all)), WS_ERROR);
    assert_error(WS_E_CONNECT, &[]);
}

// ---- protocol failures by the server ------------------------------------------------------

/// A server that sends `bytes` after the upgrade, then reports the first
/// close frame the client sends (and answers it).
fn bad_server(bytes: Vec<u8>) -> Server<(Option<Frame>, Vec<Frame>)> {
    serve_ws(move |p| {
        p.raw(&bytes);
        let (c, others) = p.read_until_close(secs(10));
        if let Some(c) = &c {
            p.frame(true, OP_CLOSE, &c.payload[..c.payload.len().min(2)]);
            let _ = p.stream.shutdown(std::net::Shutdown::Write);
        }
        (c, others)
    })
}

/// Runs one failure case: the read fails with `code`, the failure is sticky,
/// and the server sees a close frame with `close` (and no data frame).
#[track_caller]
fn expect_failure(bytes: Vec<u8>, opts: Option<&str>, code: c_int, close: u16, what: &str) {
    let srv = bad_server(bytes);
    let s = open_ok(&srv.url("/"), opts);
    let (r, took) = timed(|| read(s, 5000));
    assert_eq!(r, Got::Error(code), "{what}: {}", describe());
    assert!(took < Duration::from_millis(4000), "{what}: the failure took {took:?}");
    let msg = last_error();
    assert!(msg.contains(&close.to_string()), "{what}: message names the close code: {msg}");
    assert_eq!(read(s, 100), Got::Error(code), "{what}: later reads return the same error");
    assert_eq!(ws_close_code(s), 1006, "{what}: no close frame was received");
    assert_eq!(write(s, b"x", WS_TEXT), WS_ERROR, "{what}: write after the failure");
    close_ok(s);
    let (c, others) = srv.join();
    let c = c.unwrap_or_else(|| panic!("{what}: the server saw no close frame"));
    assert_eq!(c.close_code().map(|c| c.0), Some(close), "{what}: close code on the wire");
    assert!(others.iter().all(|f| f.opcode == OP_PONG), "{what}: unexpected frames before the close: {others:?}");
}

#[test]
fn invalid_utf8_text_fails_with_1007() {
    let _w = watchdog("invalid_utf8_text_fails_with_1007", secs(60));
    let e = |b0, p: &[u8]| encode(b0, p, None);
    // a whole frame
    expect_failure(e(0x81, b"ab\xFFcd"), None, WS_E_INVALID_UTF8, 1007, "whole frame");
    // a truncated sequence at the end of the message
    expect_failure(e(0x81, b"abc\xE2\x82"), None, WS_E_INVALID_UTF8, 1007, "truncated");
    // a UTF-16 surrogate, an overlong encoding
    expect_failure(e(0x81, b"\xED\xA0\x80"), None, WS_E_INVALID_UTF8, 1007, "surrogate");
    expect_failure(e(0x81, b"\xC0\xAF"), None, WS_E_INVALID_UTF8, 1007, "overlong");
    // inside a fragmented message: valid fragments, a character split
    // across fragments, then an invalid continuation
    let mut b = e(0x01, "ok \u{20ac}".as_bytes());
    b.extend(e(0x00, b"\xC3"));
    b.extend(e(0x80, b"\x28 rest"));
    expect_failure(b, None, WS_E_INVALID_UTF8, 1007, "fragmented");
    // invalid UTF-8 in the close reason
    expect_failure(e(0x88, b"\x03\xE8bad\xFF"), None, WS_E_INVALID_UTF8, 1007, "close reason");
}

#[test]
fn invalid_utf8_fails_before_the_message_completes() {
    let _w = watchdog("invalid_utf8_fails_before_the_message_completes", secs(30));
    // the first fragment is invalid and the rest never comes: the client
    // fails the connection without waiting for the end of the message
    let b = encode(0x01, b"abc\xFFdef", None);
    expect_failure(b, None, WS_E_INVALID_UTF8, 1007, "invalid first fragment, no final");
    // a frame whose header announces more payload than is sent
    let mut f = encode(0x81, &[b'a'; 1000], None);
    f[10] = 0xFF;
    f.truncate(100);
    expect_failure(f, None, WS_E_INVALID_UTF8, 1007, "invalid byte in an incomplete frame");
}

#[test]
fn protocol_violations_fail_with_1002() {
    let _w = watchdog("protocol_violations_fail_with_1002", secs(90));
    let e = |b0, p: &[u8]| encode(b0, p, None);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("RSV2 bit", e(0xA2, b"x")),
        ("RSV3 bit", e(0x91, b"x")),
        ("masked frame", encode(0x81, b"hello", Some([1, 2, 3, 4]))),
        ("reserved data opcode 3", e(0x83, b"")),
        ("reserved data opcode 7", e(0x87, b"x")),
        ("reserved control opcode 0xB", e(0x8B, b"")),
        ("fragmented ping", e(0x09, b"")),
        ("ping with 126 bytes", e(0x89, &[0u8; 126])),
        ("continuation without a message", e(0x80, b"x")),
        ("new message inside a fragmented one", [e(0x01, b"a"), e(0x81, b"b")].concat()),
        ("close with a 1-byte payload", e(0x88, &[3])),
        ("close code 1005", e(0x88, &1005u16.to_be_bytes())),
        ("close code 1006", e(0x88, &1006u16.to_be_bytes())),
        ("close code 999", e(0x88, &999u16.to_be_bytes())),
        ("close code 5000", e(0x88, &5000u16.to_be_bytes())),
        ("64-bit length with the top bit set", vec![0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 1]),
    ];
    for (what, bytes) in cases {
        expect_failure(bytes, None, WS_E_PROTOCOL, 1002, what);
    }
    // RSV1 means a compressed message: without permessage-deflate
    // negotiated it is a compression error of its own, still 1002
    expect_failure(e(0xC1, b"x"), None, WS_E_COMPRESSION, 1002, "RSV1 bit");
    expect_failure(e(0xC9, b""), None, WS_E_COMPRESSION, 1002, "RSV1 on a ping");
}

#[test]
fn message_over_max_message_size_fails_with_1009() {
    let _w = watchdog("message_over_max_message_size_fails_with_1009", secs(60));
    let opts = Some(r#"{"maxMessageSize":1000}"#);
    // exactly the maximum is fine (single frame and fragmented)
    let srv = serve_ws(|p| {
        p.binary(&[1u8; 1000]);
        p.frame(false, OP_TEXT, &[b'a'; 600]);
        p.frame(true, OP_CONT, &[b'b'; 400]);
        p.read_until_close(secs(10)).0
    });
    let s = open_ok(&srv.url("/"), opts);
    assert_eq!(read_msg(s, 5000), (WS_BINARY, vec![1u8; 1000]));
    let (t, m) = read_msg(s, 5000);
    assert_eq!((t, m.len()), (WS_TEXT, 1000));
    close_ok(s);
    srv.join();

    let e = |b0, p: &[u8]| encode(b0, p, None);
    expect_failure(e(0x82, &[0u8; 1001]), opts, WS_E_MESSAGE_TOO_BIG, 1009, "1001-byte frame");
    expect_failure(
        [e(0x01, &[b'a'; 600]), e(0x80, &[b'b'; 401])].concat(),
        opts,
        WS_E_MESSAGE_TOO_BIG,
        1009,
        "fragments adding up to 1001 bytes",
    );
    // only the header of a 100 MiB frame: fails at once, no 100 MiB wait
    let mut hdr = vec![0x82, 127];
    hdr.extend_from_slice(&(100u64 << 20).to_be_bytes());
    expect_failure(hdr, opts, WS_E_MESSAGE_TOO_BIG, 1009, "header of a 100 MiB frame");
}

// ---- fragmented and large messages from the server -----------------------------------------

#[test]
fn fragmented_messages_with_interleaved_pings() {
    let _w = watchdog("fragmented_messages_with_interleaved_pings", secs(60));
    let text = text_payload(20_000, 21);
    let bin = binary_payload(300_000, 22);
    let (t2, b2) = (text.clone(), bin.clone());
    let srv = serve_ws(move |p| {
        let mut rng = Rng::new(5);
        let mut pings = Vec::new();
        for (op, data, max) in [(OP_TEXT, &t2, 60u64), (OP_BINARY, &b2, 20_000)] {
            let mut at = 0;
            let mut n = 0;
            while at < data.len() || n == 0 {
                // fragments of 0..max bytes: splits land inside characters
                let len = (rng.below(max) as usize).min(data.len() - at);
                let last = at + len == data.len();
                p.frame(last, if n == 0 { op } else { OP_CONT }, &data[at..at + len]);
                at += len;
                n += 1;
                if n % 25 == 0 {
                    let ping = format!("ping {n}").into_bytes();
                    p.ping(&ping);
                    pings.push(ping);
                }
                if last {
                    break;
                }
            }
        }
        let (_, frames) = p.read_until_close(secs(20));
        let pongs: Vec<Vec<u8>> = frames.into_iter().filter(|f| f.opcode == OP_PONG).map(|f| f.payload).collect();
        (pings, pongs)
    });
    let s = open_ok(&srv.url("/"), None);
    let (t, got) = read_msg(s, 20_000);
    assert_eq!(t, WS_TEXT);
    assert_same_bytes(&got, &text, "text in many fragments");
    let (t, got) = read_msg(s, 20_000);
    assert_eq!(t, WS_BINARY);
    assert_same_bytes(&got, &bin, "binary in many fragments");
    close_ok(s);
    let (pings, pongs) = srv.join();
    assert!(!pings.is_empty());
    assert_eq!(pongs, pings, "every ping between fragments was answered, in order");
}

#[test]
fn sixteen_mib_messages_from_the_server() {
    let _w = watchdog("sixteen_mib_messages_from_the_server", secs(120));
    let bin = binary_payload(16 << 20, 31);
    let text = text_payload(16 << 20, 32);
    let (b2, t2) = (bin.clone(), text.clone());
    let srv = serve_ws(move |p| {
        p.binary(&b2); // one 16 MiB frame
        for (i, chunk) in t2.chunks(1 << 20).enumerate() {
            // 16 fragments of 1 MiB (boundaries fall inside characters)
            let last = (i + 1) << 20 >= t2.len();
            p.frame(last, if i == 0 { OP_TEXT } else { OP_CONT }, chunk);
        }
        p.read_until_close(secs(30)).0
    });
    let s = open_ok(&srv.url("/"), None);
    let (t, got) = read_msg(s, 60_000);
    assert_eq!(t, WS_BINARY);
    assert_same_bytes(&got, &bin, "16 MiB binary frame");
    let (r, len, t, got) = read_into(s, 16 << 20, 60_000);
    assert_eq!((r, len, t), (WS_OK, 16 << 20, WS_TEXT), "{}", describe());
    assert_same_bytes(&got, &text, "16 MiB text in 16 fragments");
    close_ok(s);
    srv.join();
}

// ---- writes that time out -----------------------------------------------------------------

#[test]
fn send_timeout_loses_nothing_and_keeps_order() {
    let _w = watchdog("send_timeout_loses_nothing_and_keeps_order", secs(90));
    let (go_tx, go_rx) = mpsc::channel::<()>();
    // the server reads nothing until told, then every message
    let srv = serve_tungstenite(move |ws| {
        go_rx.recv_timeout(secs(60)).expect("test signal");
        let mut got = Vec::new();
        loop {
            match ws.read() {
                Ok(m) if m.is_binary() => got.push(m.into_data().to_vec()),
                Ok(m) if m.is_close() => {}
                Ok(_) => {}
                Err(_) => break,
            }
        }
        got
    });
    let s = open_ok(&srv.url("/"), Some(r#"{"sendTimeout":200,"sendBufferLimit":262144}"#));
    let msg = |i: u32| {
        let mut m = i.to_le_bytes().to_vec();
        m.extend(binary_payload(256 * 1024, i as u64));
        m
    };
    let mut accepted: Vec<u32> = Vec::new(); // WS_OK or WS_E_PENDING: will arrive
    let mut not_queued = 0; // WS_E_TIMEOUT: nothing of it was sent
    let mut pending = 0;
    let mut i = 0u32;
    // fill the buffers until a write is refused (WS_E_TIMEOUT), then retry
    // refused writes a few times: each must be refused again, losing nothing
    while not_queued < 3 {
        assert!(i < 400, "the kernel buffers never filled up (400 x 256 KiB)");
        let (r, took) = timed(|| write(s, &msg(i), WS_BINARY));
        match r {
            WS_OK => accepted.push(i),
            WS_TIMEOUT => {
                assert!(took < Duration::from_millis(1500), "sendTimeout 200 took {took:?}");
                match last_code() {
                    WS_E_PENDING => {
                        accepted.push(i);
                        pending += 1;
                    }
                    WS_E_TIMEOUT => not_queued += 1,
                    other => panic!("write {i}: -2 with {}", error_name(other)),
                }
            }
            _ => panic!("write {i}: {r}: {}", describe()),
        }
        i += 1;
    }
    eprintln!("{} messages accepted ({pending} pending), {not_queued} refused", accepted.len());
    // a pending flush times out too
    let r = ws_flush(s, 100);
    assert!(r == WS_TIMEOUT || r == WS_OK, "ws_flush: {r}: {}", describe());
    if r == WS_TIMEOUT {
        assert_error(WS_E_PENDING, &[]);
    }
    go_tx.send(()).unwrap();
    assert_eq!(ws_flush(s, 30_000), WS_OK, "{}", describe());
    write_ok(s, &msg(9999), WS_BINARY);
    accepted.push(9999);
    close_ok(s);
    let got = srv.join();
    let ids: Vec<u32> = got.iter().map(|m| u32::from_le_bytes(m[..4].try_into().unwrap())).collect();
    assert_eq!(ids, accepted, "messages written (OK or PENDING) arrive once, whole and in order");
    for m in &got {
        let i = u32::from_le_bytes(m[..4].try_into().unwrap());
        assert_same_bytes(m, &msg(i), "message content");
    }
}

// ---- threads ----------------------------------------------------------------------------

#[test]
fn write_is_not_held_up_by_a_blocked_reader() {
    let _w = watchdog("write_is_not_held_up_by_a_blocked_reader", secs(30));
    let srv = serve_ws(|p| {
        let got: Vec<(u8, Vec<u8>)> = (0..20).map(|_| p.expect_message(secs(10))).collect();
        p.text("bye");
        let _ = p.read_until_close(secs(10));
        got
    });
    let s = open_ok(&srv.url("/"), None);
    let reader = thread::spawn(move || timed(|| read(s, -1)));
    thread::sleep(Duration::from_millis(200)); // the reader is now blocked in recv
    let mut sent = Vec::new();
    for i in 0..20 {
        let m = if i % 5 == 4 { binary_payload(100_000, i) } else { format!("msg {i}").into_bytes() };
        let ty = if i % 5 == 4 { WS_BINARY } else { WS_TEXT };
        let (r, took) = timed(|| write(s, &m, ty));
        assert_eq!(r, WS_OK, "{}", describe());
        assert!(took < Duration::from_millis(1000), "write {i} waited {took:?} (for the reader?)");
        sent.push((ty as u8, m));
    }
    let (r, _) = reader.join().unwrap();
    assert_eq!(r, Got::Msg(WS_TEXT, b"bye".to_vec()));
    close_ok(s);
    assert_eq!(srv.join(), sent);
}

/// Message `seq` of writer `w`: an ASCII header "w:seq:len|" and a body
/// derived from them, so that the server can check every message whole.
fn writer_message(w: u8, seq: u32, rng: &mut Rng) -> (c_int, Vec<u8>) {
    let body = match rng.below(100) {
        0..=59 => rng.below(117) as usize,
        60..=84 => 117 + rng.below(65_536) as usize,
        85..=94 => 65_536 + rng.below(150_000) as usize,
        _ => [0usize, 116, 117, 118, 65_526, 65_527, 65_528][rng.below(7) as usize],
    };
    let text = seq % 2 == 0;
    let mut m = format!("{w}:{seq}:{body}|").into_bytes();
    m.extend((0..body).map(|i| body_byte(text, w, seq, i)));
    (if text { WS_TEXT } else { WS_BINARY }, m)
}

fn body_byte(text: bool, w: u8, seq: u32, i: usize) -> u8 {
    if text {
        b'a' + ((i + seq as usize + w as usize) % 26) as u8
    } else {
        ((i * 7 + seq as usize * 13 + w as usize) % 251) as u8
    }
}

/// Parses "w:seq:len|" from a writer message: (w, seq, len, body offset).
fn parse_writer_header(d: &[u8]) -> Option<(u8, u32, usize, usize)> {
    let bar = d.iter().take(40).position(|&b| b == b'|')?;
    let h = std::str::from_utf8(&d[..bar]).ok()?;
    let mut it = h.split(':');
    let w = it.next()?.parse().ok()?;
    let seq = it.next()?.parse().ok()?;
    let len = it.next()?.parse().ok()?;
    Some((w, seq, len, bar + 1))
}

#[test]
fn concurrent_writers_never_interleave_frames() {
    let _w = watchdog("concurrent_writers_never_interleave_frames", secs(120));
    const WRITERS: u8 = 4;
    const PER: u32 = 500;
    let srv = serve_tungstenite(|ws| -> Result<usize, String> {
        // tungstenite checks framing and masks; we check content and order
        let mut next = [0u32; WRITERS as usize];
        let mut n = 0;
        while n < WRITERS as usize * PER as usize {
            let m = ws.read().map_err(|e| format!("after {n} messages: {e}"))?;
            let text = m.is_text();
            if !(text || m.is_binary()) {
                continue;
            }
            let d = m.into_data();
            let Some((w, seq, len, at)) = parse_writer_header(&d) else {
                return Err(format!("message {n}: no header ({} bytes)", d.len()));
            };
            if w >= WRITERS || seq != next[w as usize] {
                return Err(format!("message {n}: writer {w} seq {seq}, expected {:?}", next));
            }
            if (seq % 2 == 0) != text {
                return Err(format!("writer {w} seq {seq}: wrong type"));
            }
            let ok = d.len() == at + len && d[at..].iter().enumerate().all(|(i, &b)| b == body_byte(text, w, seq, i));
            if !ok {
                return Err(format!("writer {w} seq {seq}: corrupted ({} bytes)", d.len()));
            }
            next[w as usize] += 1;
            n += 1;
        }
        let _ = ws.send(tungstenite::Message::text("all verified"));
        loop {
            if ws.read().is_err() {
                break;
            }
        }
        Ok(n)
    });
    let s = open_ok(&srv.url("/"), None);
    let barrier = Arc::new(Barrier::new(WRITERS as usize));
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let b = barrier.clone();
            thread::spawn(move || {
                let mut rng = Rng::new(100 + w as u64);
                b.wait();
                for seq in 0..PER {
                    let (ty, m) = writer_message(w, seq, &mut rng);
                    let r = write(s, &m, ty);
                    assert_eq!(r, WS_OK, "writer {w} seq {seq}: {}", describe());
                }
            })
        })
        .collect();
    for h in writers {
        h.join().expect("writer thread");
    }
    assert_eq!(read_msg(s, 60_000), (WS_TEXT, b"all verified".to_vec()));
    close_ok(s);
    assert_eq!(srv.join(), Ok(WRITERS as usize * PER as usize));
}

#[test]
fn close_from_another_thread_wakes_a_blocked_reader() {
    let _w = watchdog("close_from_another_thread_wakes_a_blocked_reader", secs(60));
    // 1. a server that never answers the close: bounded by closeTimeout
    for timeout_ms in [-1, 20_000] {
        let srv = silent_ws_server(secs(10));
        let s = open_ok(&srv.url("/"), Some(r#"{"closeTimeout":300}"#));
        let started = Arc::new(AtomicBool::new(false));
        let st = started.clone();
        let reader = thread::spawn(move || {
            st.store(true, Ordering::SeqCst);
            let r = read(s, timeout_ms);
            (r, Instant::now())
        });
        while !started.load(Ordering::SeqCst) {
            thread::yield_now();
        }
        thread::sleep(Duration::from_millis(200));
        let t0 = Instant::now();
        let r = close(s);
        let close_took = t0.elapsed();
        assert_eq!(r, WS_OK, "{}", describe());
        assert!(close_took < Duration::from_millis(2000), "ws_close took {close_took:?}");
        let (got, when) = reader.join().unwrap();
        assert!(matches!(got, Got::Closed | Got::Error(_)), "reader (timeout {timeout_ms}) got {got:?}");
        let woke = when.saturating_duration_since(t0);
        assert!(woke < Duration::from_millis(2000), "reader woke {woke:?} after ws_close");
        let frames = srv.join();
        assert!(frames.iter().any(|f| f.opcode == OP_CLOSE), "our close frame: {frames:?}");
    }
    // 2. a cooperative server (tungstenite answers the close): prompt WS_CLOSED
    let echo = echo_server();
    let s = open_ok(&echo.url(), None);
    let reader = thread::spawn(move || (read(s, -1), Instant::now()));
    thread::sleep(Duration::from_millis(200));
    let t0 = Instant::now();
    close_ok(s);
    let (got, when) = reader.join().unwrap();
    assert!(matches!(got, Got::Closed | Got::Error(_)), "{got:?}");
    assert!(when.saturating_duration_since(t0) < Duration::from_millis(1000));
    assert!(t0.elapsed() < Duration::from_millis(1500));
}

#[test]
fn close_from_another_thread_fails_a_blocked_writer() {
    let _w = watchdog("close_from_another_thread_fails_a_blocked_writer", secs(60));
    // the server upgrades and never reads: the writer fills the buffers
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let srv = serve_ws(move |p| {
        let _ = done_rx.recv_timeout(secs(30));
        let _ = p.stream.shutdown(std::net::Shutdown::Both);
    });
    let s = open_ok(&srv.url("/"), Some(r#"{"closeTimeout":300}"#));
    let writer = thread::spawn(move || {
        let m = binary_payload(1 << 20, 1);
        for i in 0..200 {
            let r = write(s, &m, WS_BINARY);
            if r != WS_OK {
                return (i, r, last_code(), Instant::now());
            }
        }
        panic!("200 MiB written to a server that reads nothing");
    });
    thread::sleep(Duration::from_millis(1000)); // the writer is blocked by now
    let t0 = Instant::now();
    close_ok(s);
    let (i, r, code, when) = writer.join().unwrap();
    done_tx.send(()).unwrap();
    assert_eq!(r, WS_ERROR, "blocked write {i} after ws_close: {}", error_name(code));
    let woke = when.saturating_duration_since(t0);
    assert!(woke < Duration::from_millis(2000), "writer woke {woke:?} after ws_close");
    srv.join();
}

#[test]
fn eight_threads_open_write_read_close() {
    let _w = watchdog("eight_threads_open_write_read_close", secs(120));
    let echo = echo_server();
    let url = echo.url();
    let barrier = Arc::new(Barrier::new(8));
    let threads: Vec<_> = (0..8u64)
        .map(|t| {
            let (url, b) = (url.clone(), barrier.clone());
            thread::spawn(move || {
                b.wait();
                let mut rng = Rng::new(t);
                let mut ids = Vec::new();
                for c in 0..25 {
                    let s = open_ok(&url, None);
                    ids.push(s);
                    for k in 0..4 {
                        let n = rng.below(70_000) as usize;
                        let (ty, m) = if k % 2 == 0 {
                            (WS_TEXT, text_payload(n, t * 1000 + c))
                        } else {
                            (WS_BINARY, binary_payload(n, t * 1000 + c))
                        };
                        write_ok(s, &m, ty);
                        let (gt, got) = read_msg(s, 10_000);
                        assert_eq!(gt, ty);
                        assert_same_bytes(&got, &m, "echo on a busy library");
                    }
                    close_ok(s);
                    assert_eq!(write(s, b"x", WS_TEXT), WS_ERROR);
                    assert_eq!(last_code(), WS_E_BAD_SOCKET);
                }
                ids
            })
        })
        .collect();
    let mut all = HashSet::new();
    for h in threads {
        for id in h.join().expect("worker thread") {
            assert!(id > 0);
            assert!(all.insert(id), "socket number {id} handed out twice");
        }
    }
    assert_eq!(all.len(), 200);
}

#[test]
fn a_second_reader_gets_its_own_timeout() {
    let _w = watchdog("a_second_reader_gets_its_own_timeout", secs(30));
    // "readers of one socket take turns", but each call's timeout_ms is "one
    // deadline for the whole call": a reader waiting for its turn must still
    // return WS_TIMEOUT on time.
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let srv = serve_ws(move |p| {
        let _ = go_rx.recv_timeout(secs(20));
        p.text("release");
        p.text("second");
        let _ = p.read_until_close(secs(10));
    });
    let s = open_ok(&srv.url("/"), None);
    let first = thread::spawn(move || read(s, -1));
    // the server sends after 3 s whatever happens (a hanging second reader
    // then fails the timing assertions instead of blocking the test)
    let release = thread::spawn(move || {
        thread::sleep(Duration::from_secs(3));
        let _ = go_tx.send(());
    });
    thread::sleep(Duration::from_millis(200)); // the first reader is blocked
    let (r, took) = timed(|| read(s, 200));
    assert_eq!(r, Got::Timeout(WS_E_TIMEOUT), "second reader: {}", describe());
    assert_between(took, 190, 1500, "ws_read(timeout 200) while another thread reads");
    let (r0, took0) = timed(|| read(s, 0));
    assert_eq!(r0, Got::Timeout(WS_E_TIMEOUT));
    assert_between(took0, 0, 500, "ws_read(timeout 0) while another thread reads");
    let (ri, tooki) = timed(|| read_into(s, 100, 300).0);
    assert_eq!(ri, WS_TIMEOUT);
    assert_between(tooki, 290, 1500, "ws_read_into(timeout 300) while another thread reads");
    release.join().unwrap();
    let first = first.join().unwrap();
    // nothing was lost: both messages arrive, in order
    let mut got = vec![first];
    got.push(read(s, 5000));
    let texts: Vec<Got> = vec![Got::Msg(WS_TEXT, b"release".to_vec()), Got::Msg(WS_TEXT, b"second".to_vec())];
    assert_eq!(got, texts);
    close_ok(s);
    srv.join();
}

#[test]
fn more_flag_data_is_not_sent_by_a_read() {
    let _w = watchdog("more_flag_data_is_not_sent_by_a_read", secs(30));
    // WS_MORE: "queue the message without sending it yet; a later ws_write
    // without the flag, or ws_flush(), puts everything queued on the wire"
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let srv = serve_ws(move |p| {
        let quiet = p.silent_for(Duration::from_millis(600));
        let _ = go_rx.recv_timeout(secs(10));
        let m = p.expect_message(secs(10));
        let _ = p.read_until_close(secs(10));
        (quiet, m)
    });
    let s = open_ok(&srv.url("/"), None);
    assert_eq!(write(s, b"batched", WS_TEXT | WS_MORE), WS_OK);
    assert_eq!(read(s, 300), Got::Timeout(WS_E_TIMEOUT));
    thread::sleep(Duration::from_millis(400));
    assert_eq!(ws_flush(s, 5000), WS_OK);
    go_tx.send(()).unwrap();
    close_ok(s);
    let (quiet, m) = srv.join();
    assert_eq!(m, (OP_TEXT, b"batched".to_vec()));
    assert!(quiet, "a WS_MORE message went on the wire during ws_read, before ws_flush");
}

#[test]
fn queued_messages_go_out_before_the_close_frame() {
    let _w = watchdog("queued_messages_go_out_before_the_close_frame", secs(30));
    let srv = serve_ws(|p| {
        let (c, frames) = p.read_until_close(secs(10));
        if let Some(c) = &c {
            p.frame(true, OP_CLOSE, &c.payload);
        }
        (c, frames)
    });
    let s = open_ok(&srv.url("/"), None);
    assert_eq!(write(s, b"q1", WS_TEXT | WS_MORE), WS_OK);
    assert_eq!(write(s, b"q2", WS_BINARY | WS_MORE), WS_OK);
    assert_eq!(close_with(s, 1001, "going"), WS_OK, "{}", describe());
    let (c, frames) = srv.join();
    let data: Vec<(u8, Vec<u8>)> = frames.into_iter().map(|f| (f.opcode, f.payload)).collect();
    assert_eq!(data, vec![(OP_TEXT, b"q1".to_vec()), (OP_BINARY, b"q2".to_vec())]);
    assert_eq!(c.expect("close frame").close_code(), Some((1001, "going".into())));
}

#[test]
fn upgrade_response_in_pieces_and_frames_in_the_same_packet() {
    let _w = watchdog("upgrade_response_in_pieces_and_frames_in_the_same_packet", secs(30));
    // the 101 arrives a few bytes at a time
    let srv = serve_tcp(|mut s| {
        let (req, _) = read_request(&mut s);
        let resp = response_101(&req, "X-Slow: yes\r\n");
        for chunk in resp.as_bytes().chunks(7) {
            std::io::Write::write_all(&mut s, chunk).unwrap();
            thread::sleep(Duration::from_millis(5));
        }
        let mut p = Peer::new(s, req, vec![]);
        p.text("after a slow 101");
        let _ = p.read_until_close(secs(10));
    });
    let s = open_ok(&srv.url("/"), Some(r#"{"timeout":5000}"#));
    assert_eq!(read_msg(s, 5000), (WS_TEXT, b"after a slow 101".to_vec()));
    close_ok(s);
    srv.join();

    // the 101, three messages and a close frame in one write
    let big = binary_payload(10_000, 77);
    let big2 = big.clone();
    let srv = serve_tcp(move |mut s| {
        let (req, _) = read_request(&mut s);
        let mut all = response_101(&req, "").into_bytes();
        all.extend(encode(0x81, b"one", None));
        all.extend(encode(0x82, &big2, None));
        all.extend(encode(0x81, b"three", None));
        all.extend(encode(0x88, &[0x0f, 0xa0, b'o', b'k'], None)); // 4000 "ok"
        std::io::Write::write_all(&mut s, &all).unwrap();
        let mut p = Peer::new(s, req, vec![]);
        p.read_until_close(secs(10)).0
    });
    let s = open_ok(&srv.url("/"), None);
    assert_eq!(read_msg(s, 5000), (WS_TEXT, b"one".to_vec()));
    assert_eq!(read_msg(s, 5000), (WS_BINARY, big));
    assert_eq!(read_msg(s, 5000), (WS_TEXT, b"three".to_vec()));
    assert_eq!(read(s, 5000), Got::Closed);
    assert_eq!((ws_close_code(s), from_c(ws_close_reason(s))), (4000, Some("ok".into())));
    close_ok(s);
    let reply = srv.join().expect("close reply");
    assert_eq!(reply.close_code().map(|c| c.0), Some(4000));
}

#[test]
fn oversized_upgrade_response_head_is_a_handshake_error() {
    let _w = watchdog("oversized_upgrade_response_head_is_a_handshake_error", secs(30));
    // a server that never ends its headers must not make the client buffer
    // without limit
    let srv = serve_tcp(|mut s| {
        let _ = read_request(&mut s);
        let _ = std::io::Write::write_all(&mut s, b"HTTP/1.1 101 Switching Protocols\r\n");
        let line = format!("X-Filler: {}\r\n", "f".repeat(1000));
        for _ in 0..1000 {
            if std::io::Write::write_all(&mut s, line.as_bytes()).is_err() {
                break;
            }
        }
    });
    let (r, took) = timed(|| open(&srv.url("/"), Some(r#"{"timeout":10000}"#)));
    assert_eq!(r, WS_ERROR, "{}", describe());
    assert!(took < secs(5), "{took:?}");
    assert_error(WS_E_HANDSHAKE, &[]);
    srv.join();
}

// ---- busy polling ---------------------------------------------------------------------

#[test]
fn busy_poll_echoes_every_size_and_closes() {
    let _w = watchdog("busy_poll_echoes_every_size_and_closes", secs(120));
    let srv = echo_server();
    for opts in [r#"{"busyPoll":200}"#, r#"{"busyPoll":1000000}"#] {
        let s = open_ok(&srv.url(), Some(opts));
        for ty in [WS_TEXT, WS_BINARY] {
            for n in SIZES {
                let msg = payload(ty, n);
                write_ok(s, &msg, ty);
                let (t, got) = read_msg(s, 30_000);
                assert_eq!(t, ty, "type of the {n}-byte echo with {opts}");
                assert_same_bytes(&got, &msg, &format!("{n}-byte echo (type {ty}, {opts})"));
                write_ok(s, &msg, ty);
                let (r, len, t, got) = read_into(s, n.max(1), 30_000);
                assert_eq!((r, t, len), (WS_OK, ty, n), "ws_read_into with {opts}: {}", describe());
                assert_same_bytes(&got, &msg, &format!("{n}-byte echo into a buffer ({opts})"));
            }
        }
        // the server answers the close at once: no spinning to the end of the budget
        let (r, took) = timed(|| close(s));
        assert_eq!(r, WS_OK, "{}", describe());
        assert!(took < Duration::from_millis(900), "ws_close with {opts} took {took:?}");
    }
}

#[test]
fn busy_poll_never_outlasts_a_timeout_and_loses_nothing() {
    let _w = watchdog("busy_poll_never_outlasts_a_timeout_and_loses_nothing", secs(60));
    let (go_tx, go_rx) = mpsc::channel::<u64>();
    let late = binary_payload(100_000, 9);
    let late2 = late.clone();
    let srv = serve_ws(move |p| {
        // each signal: wait that long, then send the message
        while let Ok(ms) = go_rx.recv_timeout(secs(20)) {
            thread::sleep(Duration::from_millis(ms));
            p.binary(&late2);
        }
        p.read_until_close(secs(5)).0
    });
    // a spin of one second, longer than every timeout below
    let s = open_ok(&srv.url("/"), Some(r#"{"busyPoll":1000000}"#));
    let (r, took) = timed(|| read(s, 0));
    assert_eq!(r, Got::Timeout(WS_E_TIMEOUT), "poll with timeout 0: {}", describe());
    assert!(took < Duration::from_millis(200), "timeout 0 must not spin ({took:?})");
    let (r, took) = timed(|| read(s, 200));
    assert_eq!(r, Got::Timeout(WS_E_TIMEOUT), "{}", describe());
    assert_between(took, 190, 900, "ws_read(timeout 200) with busyPoll 1 s");
    // arrives while spinning: taken at once, not at the end of the budget
    go_tx.send(50).unwrap();
    let (r, took) = timed(|| read_msg(s, 5000));
    assert_eq!(r.0, WS_BINARY);
    assert_same_bytes(&r.1, &late, "message that arrived during the spin");
    assert!(took < Duration::from_millis(800), "read took {took:?}");
    // a read that times out in the middle of a spin, then the late message whole
    go_tx.send(400).unwrap();
    assert_eq!(read(s, 100), Got::Timeout(WS_E_TIMEOUT), "{}", describe());
    let (t, got) = read_msg(s, 5000);
    assert_eq!(t, WS_BINARY);
    assert_same_bytes(&got, &late, "message after a timeout during a spin");
    drop(go_tx);
    close_ok(s);
    let reply = srv.join().expect("close frame from the client");
    assert_eq!(reply.close_code(), Some((1000, String::new())));
    // a spin after the budget ran out sleeps in the kernel: same result
    let s = open_ok(&echo_server().url(), Some(r#"{"busyPoll":1}"#));
    assert_echo_works(s);
    close_ok(s);
}

#[test]
fn busy_poll_is_bounded_by_open_and_close_timeouts() {
    let _w = watchdog("busy_poll_is_bounded_by_open_and_close_timeouts", secs(60));
    // the upgrade response never comes: the open timeout wins over the spin
    let srv = silent_tcp_server(secs(3));
    let (r, took) = timed(|| open(&srv.url("/"), Some(r#"{"timeout":300,"busyPoll":1000000}"#)));
    assert_eq!(r, WS_TIMEOUT, "{}", describe());
    assert_between(took, 250, 900, "ws_open with timeout 300 and busyPoll 1 s");
    assert_error(WS_E_TIMEOUT, &["300 ms"]);
    // the server never answers the close: closeTimeout wins over the spin
    let srv = silent_ws_server(secs(5));
    let s = open_ok(&srv.url("/"), Some(r#"{"closeTimeout":300,"busyPoll":1000000}"#));
    let (r, took) = timed(|| close(s));
    assert_eq!(r, WS_OK, "{}", describe());
    assert_between(took, 250, 900, "ws_close with closeTimeout 300 and busyPoll 1 s");
    let frames = srv.join();
    assert!(frames.iter().any(|f| f.opcode == OP_CLOSE), "our close frame: {frames:?}");
}

#[test]
fn close_timeout_bounds_the_whole_closing_handshake() {
    let _w = watchdog("close_timeout_bounds_the_whole_closing_handshake", secs(60));
    // the server answers the close frame after 300 ms but never closes TCP:
    // waiting for the frame and then for the TCP close share one closeTimeout
    for opts in [r#"{"closeTimeout":400}"#, r#"{"closeTimeout":400,"busyPoll":50}"#] {
        let srv = serve_ws(|p| {
            let f = p.expect_frame(secs(5));
            thread::sleep(Duration::from_millis(300));
            p.close(1000, "");
            p.silent_for(secs(3));
            f
        });
        let s = open_ok(&srv.url("/"), Some(opts));
        let (r, took) = timed(|| close(s));
        assert_eq!(r, WS_OK, "{}", describe());
        assert_between(took, 350, 620, &format!("ws_close with {opts}"));
        assert_eq!(srv.join().opcode, OP_CLOSE);
    }
}
