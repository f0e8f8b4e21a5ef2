//! Misuse, in the spirit of SQLite's test/misuse.test: bad, closed and
//! double-closed socket numbers, NULL arguments, invalid types, text and
//! close arguments, the socket limit, and the thread-local last error.
//! Every case must give -1 (or NULL) with the documented code, never a
//! crash, and never touch another connection.
//!
//! Tests run in parallel in this process. `ws_set_max_sockets` is global, so
//! the test that changes it takes GLOBAL for writing and every other test
//! holds it for reading while it runs.

mod support;

use std::collections::HashSet;
use std::ffi::{c_char, c_int, c_void};
use std::ptr;
use std::sync::{mpsc, Arc, Barrier, RwLock, RwLockReadGuard};
use std::thread;
use std::time::Duration;
use support::*;

static GLOBAL: RwLock<()> = RwLock::new(());

fn shared() -> RwLockReadGuard<'static, ()> {
    GLOBAL.read().unwrap_or_else(|e| e.into_inner())
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// Socket numbers the library never issues: zero, negative, and numbers far
/// beyond what this process opens (numbers only grow from 1).
fn never_issued() -> Vec<c_int> {
    let mut v = vec![0, -1, -2, -4096, i32::MIN, i32::MIN + 1, i32::MAX, i32::MAX - 1, 123_456_789];
    let mut r = Rng::new(99);
    for _ in 0..20 {
        v.push(1_000_000_000 + r.below(1_000_000_000) as c_int);
        v.push(-(1 + r.below(i32::MAX as u64 - 1) as c_int));
    }
    v
}

/// Calls every export that takes a socket number with `s` and asserts each
/// one reports WS_E_BAD_SOCKET (checked, by design, before anything else
/// when the other arguments are valid).
#[track_caller]
fn assert_bad_everywhere(s: c_int) {
    let what = |f: &str| format!("{f}({s})");
    let data = b"payload";
    let check = |r: c_int, f: &str| {
        assert_eq!(r, WS_ERROR, "{}", what(f));
        assert_eq!(error_name(last_code()), "WS_E_BAD_SOCKET", "{}: {}", what(f), last_error());
        assert!(last_error().contains(&s.to_string()), "{}: message names the number: {}", what(f), last_error());
    };
    check(write(s, data, WS_TEXT), "ws_write");
    check(write(s, data, WS_BINARY | WS_MORE), "ws_write(MORE)");
    check(ws_write(s, ptr::null(), 0, WS_TEXT), "ws_write(NULL, 0)");
    check(ws_flush(s, 0), "ws_flush");
    check(ws_flush(s, -1), "ws_flush(-1)");
    let mut p: *const c_void = ptr::null();
    let mut len = 7usize;
    let mut ty: c_int = 7;
    check(ws_read(s, &mut p, &mut len, &mut ty, 0), "ws_read");
    check(ws_read(s, &mut p, &mut len, &mut ty, -1), "ws_read(-1)");
    assert_eq!((p, len, ty), (ptr::null(), 7, 7), "out-parameters written on error");
    let mut buf = [0u8; 8];
    check(ws_read_into(s, buf.as_mut_ptr().cast(), 8, &mut len, &mut ty, -1), "ws_read_into");
    assert_eq!((len, ty), (7, 7));
    check(ws_close(s, 0, ptr::null()), "ws_close");
    check(ws_http_status(s), "ws_http_status");
    check(ws_close_code(s), "ws_close_code");
    let check_str = |p: *const c_char, f: &str| {
        assert!(p.is_null(), "{} returned a string", what(f));
        assert_eq!(error_name(last_code()), "WS_E_BAD_SOCKET", "{}: {}", what(f), last_error());
    };
    let name = cs("Upgrade");
    check_str(ws_response_header(s, name.as_ptr()), "ws_response_header");
    check_str(ws_response_headers(s), "ws_response_headers");
    check_str(ws_subprotocol(s), "ws_subprotocol");
    check_str(ws_close_reason(s), "ws_close_reason");
    // the exports added with the background reactor
    check(ws_ping(s, ptr::null(), 0), "ws_ping");
    check(ws_ping(s, data.as_ptr().cast(), data.len()), "ws_ping(data)");
    check(ws_state(s), "ws_state");
    // SAFETY: ws_info is plain integers and byte arrays: all-zero is valid.
    let mut info: ws_info = unsafe { std::mem::zeroed() };
    info.state = 77;
    check(ws_get_info(s, &mut info, std::mem::size_of::<ws_info>()), "ws_get_info");
    assert_eq!(info.state, 77, "ws_get_info wrote *info on error");
    check(ws_reconnect(s, 0), "ws_reconnect");
    check(ws_reconnect(s, 1), "ws_reconnect(async)");
}

#[test]
fn never_issued_socket_numbers_are_bad_sockets() {
    let _g = shared();
    let _w = watchdog("never_issued_socket_numbers_are_bad_sockets", secs(30));
    for s in never_issued() {
        assert_bad_everywhere(s);
    }
}

#[test]
fn never_issued_queue_numbers_are_rejected() {
    let _g = shared();
    let _w = watchdog("never_issued_queue_numbers_are_rejected", secs(30));
    for q in never_issued() {
        // SAFETY: ws_event is integers and pointers: all-zero is valid.
        let mut ev: ws_event = unsafe { std::mem::zeroed() };
        ev.r#type = 77;
        assert_eq!(ws_next_event(q, &mut ev, 0), WS_ERROR, "ws_next_event({q})");
        assert_error(WS_E_BAD_SOCKET, &[]);
        assert_eq!(ws_next_event(q, &mut ev, -1), WS_ERROR, "ws_next_event({q}, -1)");
        assert_eq!(ev.r#type, 77, "ws_next_event wrote *event on error");
        assert_eq!(ws_queue_set_callback(q, None, ptr::null_mut()), WS_ERROR);
        assert_error(WS_E_BAD_SOCKET, &[]);
    }
}

#[test]
fn destroying_an_unknown_or_destroyed_queue_fails() {
    let _g = shared();
    let _w = watchdog("destroying_an_unknown_or_destroyed_queue_fails", secs(30));
    for q in never_issued() {
        assert_eq!(ws_queue_destroy(q), WS_ERROR, "ws_queue_destroy({q})");
        assert_error(WS_E_BAD_SOCKET, &[]);
    }
    let q = ws_queue_create();
    assert!(q > 0, "{}", describe());
    assert_eq!(ws_queue_destroy(q), WS_OK);
    assert_eq!(ws_queue_destroy(q), WS_ERROR, "double destroy");
    assert_error(WS_E_BAD_SOCKET, &[]);
}

#[test]
fn closed_and_double_closed_numbers_are_bad_sockets() {
    let _g = shared();
    let _w = watchdog("closed_and_double_closed_numbers_are_bad_sockets", secs(30));
    let echo = echo_server();
    let s = open_ok(&echo.url(), None);
    assert_echo_works(s);
    close_ok(s);
    assert_bad_everywhere(s);
    assert_eq!(close(s), WS_ERROR, "double close");
    assert_error(WS_E_BAD_SOCKET, &[]);
}

#[test]
fn a_stale_number_never_reaches_another_connection() {
    let _g = shared();
    let _w = watchdog("a_stale_number_never_reaches_another_connection", secs(60));
    let echo = echo_server();
    for round in 0..20 {
        // B records every frame it receives
        let rec = serve_ws(|p| {
            let (c, frames) = p.read_until_close(secs(20));
            if let Some(c) = &c {
                p.frame(true, OP_CLOSE, &c.payload);
            }
            (c, frames)
        });
        let a = open_ok(&echo.url(), None);
        close_ok(a);
        let b = open_ok(&rec.url("/"), None);
        assert_ne!(a, b, "round {round}: a closed number was handed out again at once");
        // everything on A must fail without touching B
        assert_eq!(write(a, b"for A", WS_TEXT), WS_ERROR);
        assert_eq!(ws_flush(a, 100), WS_ERROR);
        assert_eq!(read(a, 0), Got::Error(WS_E_BAD_SOCKET));
        assert_eq!(close_with(a, 4000, "A again"), WS_ERROR);
        assert_error(WS_E_BAD_SOCKET, &[]);
        // B is intact: its first frame is B's own, then B's own close
        write_ok(b, b"for B", WS_TEXT);
        assert_eq!(close_with(b, 4001, "B"), WS_OK, "{}", describe());
        let (c, frames) = rec.join();
        let data: Vec<Vec<u8>> = frames.iter().map(|f| f.payload.clone()).collect();
        assert_eq!(data, vec![b"for B".to_vec()], "round {round}: B received {frames:?}");
        assert_eq!(c.expect("B's close").close_code(), Some((4001, "B".into())));
    }
}

#[test]
fn concurrent_double_close_closes_once() {
    let _g = shared();
    let _w = watchdog("concurrent_double_close_closes_once", secs(60));
    let echo = echo_server();
    for _ in 0..20 {
        let s = open_ok(&echo.url(), None);
        let barrier = Arc::new(Barrier::new(3));
        let hs: Vec<_> = (0..3)
            .map(|_| {
                let b = barrier.clone();
                thread::spawn(move || {
                    b.wait();
                    let r = close(s);
                    (r, last_code())
                })
            })
            .collect();
        let mut results: Vec<(c_int, c_int)> = hs.into_iter().map(|h| h.join().unwrap()).collect();
        results.sort();
        assert_eq!(
            results,
            vec![(WS_ERROR, WS_E_BAD_SOCKET), (WS_ERROR, WS_E_BAD_SOCKET), (WS_OK, WS_E_OK)],
            "three threads closing one socket"
        );
    }
}

#[test]
fn bad_numbers_from_many_threads_at_once() {
    let _g = shared();
    let _w = watchdog("bad_numbers_from_many_threads_at_once", secs(60));
    let echo = echo_server();
    let url = echo.url();
    let barrier = Arc::new(Barrier::new(8));
    let hs: Vec<_> = (0..8u64)
        .map(|t| {
            let (url, b) = (url.clone(), barrier.clone());
            thread::spawn(move || {
                b.wait();
                let mut r = Rng::new(t + 1);
                let bad = never_issued();
                for i in 0..300 {
                    // interleave real connections with garbage numbers
                    if i % 30 == 0 {
                        let s = open_ok(&url, None);
                        write_ok(s, b"real", WS_TEXT);
                        assert_eq!(read_msg(s, 5000), (WS_TEXT, b"real".to_vec()));
                        close_ok(s);
                        assert_eq!(write(s, b"stale", WS_TEXT), WS_ERROR);
                        assert_eq!(last_code(), WS_E_BAD_SOCKET);
                    }
                    let s = bad[r.below(bad.len() as u64) as usize];
                    match r.below(4) {
                        0 => assert_eq!(write(s, b"x", WS_TEXT), WS_ERROR),
                        1 => assert_eq!(read(s, 0), Got::Error(WS_E_BAD_SOCKET)),
                        2 => assert_eq!(close(s), WS_ERROR),
                        _ => assert!(ws_subprotocol(s).is_null()),
                    }
                    assert_eq!(last_code(), WS_E_BAD_SOCKET);
                }
            })
        })
        .collect();
    for h in hs {
        h.join().expect("thread");
    }
}

// ---- NULL and invalid arguments ------------------------------------------------------------

/// A server that echoes data messages and reports every frame it got,
/// including the client's close frame (which it answers).
fn recording_echo() -> Server<Vec<Frame>> {
    serve_ws(|p| {
        let mut all = Vec::new();
        loop {
            match p.read_frame(secs(20)) {
                Ok(Some(f)) => {
                    let op = f.opcode;
                    if op == OP_TEXT || op == OP_BINARY {
                        p.frame(true, op, &f.payload);
                    }
                    if op == OP_CLOSE {
                        p.frame(true, OP_CLOSE, &f.payload[..f.payload.len().min(2)]);
                        all.push(f);
                        return all;
                    }
                    all.push(f);
                }
                _ => return all,
            }
        }
    })
}

#[test]
fn null_arguments_are_invalid_arguments() {
    let _g = shared();
    let _w = watchdog("null_arguments_are_invalid_arguments", secs(30));
    assert_eq!(ws_open(ptr::null(), ptr::null()), WS_ERROR);
    assert_error(WS_E_INVALID_ARGUMENT, &["url"]);
    let opt = cs("{}");
    assert_eq!(ws_open(ptr::null(), opt.as_ptr()), WS_ERROR);
    assert_error(WS_E_INVALID_ARGUMENT, &["url"]);

    let srv = recording_echo();
    let s = open_ok(&srv.url("/"), None);
    // data NULL with a length
    assert_eq!(ws_write(s, ptr::null(), 5, WS_TEXT), WS_ERROR);
    assert_error(WS_E_INVALID_ARGUMENT, &["NULL"]);
    assert_eq!(ws_write(s, ptr::null(), usize::MAX, WS_BINARY), WS_ERROR);
    assert_error(WS_E_INVALID_ARGUMENT, &[]);
    // data NULL with length 0: an empty message
    assert_eq!(ws_write(s, ptr::null(), 0, WS_TEXT), WS_OK, "{}", describe());
    assert_eq!(ws_write(s, ptr::null(), 0, WS_BINARY), WS_OK, "{}", describe());
    // wait for both echoes to be buffered, then misuse the read arguments:
    // the message must survive every rejected call
    thread::sleep(Duration::from_millis(200));
    let mut p: *const c_void = ptr::null();
    let mut len = 0usize;
    let mut ty: c_int = 0;
    assert_eq!(ws_read(s, ptr::null_mut(), &mut len, &mut ty, 1000), WS_ERROR);
    assert_error(WS_E_INVALID_ARGUMENT, &[]);
    assert_eq!(ws_read(s, &mut p, ptr::null_mut(), &mut ty, 1000), WS_ERROR);
    assert_error(WS_E_INVALID_ARGUMENT, &[]);
    assert_eq!(ws_read_into(s, ptr::null_mut(), 0, ptr::null_mut(), &mut ty, 1000), WS_ERROR);
    assert_error(WS_E_INVALID_ARGUMENT, &[]);
    assert_eq!(ws_read_into(s, ptr::null_mut(), 10, &mut len, &mut ty, 1000), WS_ERROR);
    assert_error(WS_E_INVALID_ARGUMENT, &[]);
    // type NULL is allowed
    assert_eq!(ws_read(s, &mut p, &mut len, ptr::null_mut(), 5000), WS_OK, "{}", describe());
    assert_eq!(len, 0, "the empty text message");
    let mut buf = [0u8; 4];
    assert_eq!(ws_read_into(s, buf.as_mut_ptr().cast(), 4, &mut len, ptr::null_mut(), 5000), WS_OK);
    assert_eq!(len, 0, "the empty binary message");
    // a NULL header name
    assert!(ws_response_header(s, ptr::null()).is_null());
    assert_error(WS_E_INVALID_ARGUMENT, &[]);
    // a non-UTF-8 header name
    let bad = std::ffi::CString::new(vec![b'X', 0xFF]).unwrap();
    assert!(ws_response_header(s, bad.as_ptr()).is_null());
    assert_error(WS_E_INVALID_ARGUMENT, &[]);
    // the newer exports: NULL or too small out-structs, NULL payloads
    assert_eq!(ws_get_info(s, ptr::null_mut(), std::mem::size_of::<ws_info>()), WS_ERROR);
    assert_error(WS_E_INVALID_ARGUMENT, &[]);
    // SAFETY: all-zero is a valid ws_info.
    let mut info: ws_info = unsafe { std::mem::zeroed() };
    info.state = 77;
    assert_eq!(ws_get_info(s, &mut info, 8), WS_ERROR, "size 8");
    assert_error(WS_E_INVALID_ARGUMENT, &[]);
    assert_eq!(info.state, 77, "ws_get_info wrote into a too small struct");
    assert_eq!(ws_ping(s, ptr::null(), 5), WS_ERROR);
    assert_error(WS_E_INVALID_ARGUMENT, &[]);
    let big = [0u8; 126];
    assert_eq!(ws_ping(s, big.as_ptr().cast(), 126), WS_ERROR, "126-byte ping");
    assert_error(WS_E_INVALID_ARGUMENT, &["125"]);
    let q = ws_queue_create();
    assert!(q > 0);
    assert_eq!(ws_next_event(q, ptr::null_mut(), 0), WS_ERROR);
    assert_error(WS_E_INVALID_ARGUMENT, &[]);
    assert_eq!(ws_queue_destroy(q), WS_OK);
    // NULL reason is fine
    assert_eq!(ws_close(s, 0, ptr::null()), WS_OK, "{}", describe());
    let frames = srv.join();
    let got: Vec<(u8, usize)> = frames.iter().map(|f| (f.opcode, f.payload.len())).collect();
    assert_eq!(
        got,
        vec![(OP_TEXT, 0), (OP_BINARY, 0), (OP_CLOSE, 2)],
        "only the two empty messages and the close reached the server"
    );
    assert_eq!(frames[2].close_code(), Some((1000, String::new())), "code 0 means 1000");
}

#[test]
fn non_utf8_options_string_is_rejected() {
    let _g = shared();
    let _w = watchdog("non_utf8_options_string_is_rejected", secs(30));
    let url = cs(&format!("ws://127.0.0.1:{}/", refused_port()));
    let bad = std::ffi::CString::new(vec![b'{', b'"', 0xFF, b'"', b':', b'1', b'}']).unwrap();
    assert_eq!(ws_open(url.as_ptr(), bad.as_ptr()), WS_ERROR);
    let code = last_code();
    assert!(code == WS_E_INVALID_ARGUMENT || code == WS_E_INVALID_OPTIONS, "{}", describe());
}

#[test]
fn out_parameters_are_written_only_on_success() {
    let _g = shared();
    let _w = watchdog("out_parameters_are_written_only_on_success", secs(30));
    let srv = close_server(vec![], Some(1000), "", false);
    let s = open_ok(&srv.url("/"), None);
    let sentinel = 0x5a5a as *const c_void;
    let (mut p, mut len, mut ty) = (sentinel, 4242usize, 42 as c_int);
    // WS_CLOSED (the server closes at once)
    assert_eq!(ws_read(s, &mut p, &mut len, &mut ty, 5000), WS_CLOSED, "{}", describe());
    assert_eq!((p, len, ty), (sentinel, 4242, 42), "written on WS_CLOSED");
    let mut buf = [0xEEu8; 16];
    assert_eq!(ws_read_into(s, buf.as_mut_ptr().cast(), 16, &mut len, &mut ty, 0), WS_CLOSED);
    assert_eq!((len, ty, buf), (4242, 42, [0xEE; 16]), "written on WS_CLOSED");
    close_ok(s);
    srv.join();

    // WS_TIMEOUT
    let srv = silent_ws_server(secs(10));
    let s = open_ok(&srv.url("/"), None);
    assert_eq!(ws_read(s, &mut p, &mut len, &mut ty, 50), WS_TIMEOUT);
    assert_eq!((p, len, ty), (sentinel, 4242, 42), "written on WS_TIMEOUT");
    assert_eq!(ws_read_into(s, buf.as_mut_ptr().cast(), 16, &mut len, &mut ty, 0), WS_TIMEOUT);
    assert_eq!((len, ty, buf), (4242, 42, [0xEE; 16]), "written on WS_TIMEOUT");
    close_ok(s);
    srv.join();
}

fn assert_nothing_sent_then_marker(frames: &[Frame], what: &str) {
    let data: Vec<(u8, Vec<u8>)> =
        frames.iter().filter(|f| f.opcode != OP_CLOSE).map(|f| (f.opcode, f.payload.clone())).collect();
    assert_eq!(data, vec![(OP_TEXT, b"marker".to_vec())], "{what}: something other than the marker reached the server");
}

#[test]
fn invalid_message_types_send_nothing() {
    let _g = shared();
    let _w = watchdog("invalid_message_types_send_nothing", secs(30));
    let srv = recording_echo();
    let s = open_ok(&srv.url("/"), None);
    for ty in [
        0,
        3,
        4,
        7,
        8,  // close
        9,  // ping
        10, // pong
        -1,
        WS_MORE,
        WS_MORE | 3,
        WS_MORE | 8,
        0x200 | WS_TEXT,
        0x10000 | WS_BINARY,
        WS_TEXT | WS_BINARY,
        i32::MIN,
        i32::MIN | WS_TEXT,
        i32::MAX,
    ] {
        assert_eq!(write(s, b"nope", ty), WS_ERROR, "type {ty:#x}");
        assert_error(WS_E_INVALID_ARGUMENT, &["type"]);
        assert_eq!(ws_write(s, ptr::null(), 0, ty), WS_ERROR, "type {ty:#x}, no data");
    }
    assert_eq!(ws_flush(s, 1000), WS_OK);
    write_ok(s, b"marker", WS_TEXT);
    assert_eq!(read_msg(s, 5000), (WS_TEXT, b"marker".to_vec()));
    close_ok(s);
    assert_nothing_sent_then_marker(&srv.join(), "invalid types");
}

#[test]
fn invalid_utf8_text_is_refused_and_nothing_is_sent() {
    let _g = shared();
    let _w = watchdog("invalid_utf8_text_is_refused_and_nothing_is_sent", secs(30));
    let srv = recording_echo();
    let s = open_ok(&srv.url("/"), None);
    let cases: [&[u8]; 8] = [
        b"\xFF",
        b"abc\xFE",
        b"\xC0\xAF",         // overlong "/"
        b"\xED\xA0\x80",     // UTF-16 surrogate
        b"\xF4\x90\x80\x80", // above U+10FFFF
        b"ok \xE2\x82",      // truncated euro sign
        b"\x80",             // lone continuation byte
        b"\xE2\x28\xA1",
    ];
    for bad in cases {
        for ty in [WS_TEXT, WS_TEXT | WS_MORE] {
            assert_eq!(write(s, bad, ty), WS_ERROR, "{bad:x?}");
            assert_error(WS_E_INVALID_ARGUMENT, &["UTF-8"]);
        }
    }
    // a large message with one bad byte at the very end
    let mut big = text_payload(200_000, 3);
    big.push(0xFF);
    assert_eq!(write(s, &big, WS_TEXT), WS_ERROR);
    assert_error(WS_E_INVALID_ARGUMENT, &["UTF-8"]);
    assert_eq!(ws_flush(s, 1000), WS_OK);
    write_ok(s, b"marker", WS_TEXT);
    assert_eq!(read_msg(s, 5000), (WS_TEXT, b"marker".to_vec()));
    close_ok(s);
    assert_nothing_sent_then_marker(&srv.join(), "invalid UTF-8");

    // the same bytes are fine as binary
    let echo = echo_server();
    let s = open_ok(&echo.url(), None);
    for bad in cases {
        write_ok(s, bad, WS_BINARY);
        assert_eq!(read_msg(s, 5000), (WS_BINARY, bad.to_vec()));
    }
    close_ok(s);
}

#[test]
fn invalid_close_arguments_leave_the_socket_usable() {
    let _g = shared();
    let _w = watchdog("invalid_close_arguments_leave_the_socket_usable", secs(30));
    let srv = recording_echo();
    let s = open_ok(&srv.url("/"), None);
    for code in [
        1,
        999,
        1004,
        1005,
        1006,
        1014,
        1015,
        1016,
        2000,
        2999,
        5000,
        65535,
        65536 + 1000,
        -1,
        -1000,
        i32::MIN,
        i32::MAX,
    ] {
        assert_eq!(close_with(s, code, "x"), WS_ERROR, "close code {code}");
        assert_error(WS_E_INVALID_ARGUMENT, &[&code.to_string()]);
        assert_eq!(ws_close(s, code, ptr::null()), WS_ERROR, "close code {code}, NULL reason");
    }
    let r124 = "r".repeat(124);
    let r124_multibyte = format!("{}a", "\u{20ac}".repeat(41)); // 123 + 1 bytes
    for reason in [r124.as_str(), r124_multibyte.as_str(), &"z".repeat(10_000)] {
        assert_eq!(close_with(s, 1000, reason), WS_ERROR, "{}-byte reason", reason.len());
        assert_error(WS_E_INVALID_ARGUMENT, &["123"]);
    }
    let bad = std::ffi::CString::new(vec![b'o', b'k', 0xFF]).unwrap();
    assert_eq!(ws_close(s, 1000, bad.as_ptr()), WS_ERROR);
    assert_error(WS_E_INVALID_ARGUMENT, &["UTF-8"]);
    // still open and working
    assert_eq!(ws_close_code(s), 0);
    write_ok(s, b"marker", WS_TEXT);
    assert_eq!(read_msg(s, 5000), (WS_TEXT, b"marker".to_vec()));
    // the longest reason is accepted and sent as is
    let r123 = "\u{20ac}".repeat(41);
    assert_eq!(close_with(s, 3000, &r123), WS_OK, "{}", describe());
    let frames = srv.join();
    assert_nothing_sent_then_marker(&frames, "invalid close arguments");
    let c = frames.last().unwrap();
    assert_eq!(c.close_code(), Some((3000, r123)), "exactly one close frame, ours");
    assert_eq!(frames.iter().filter(|f| f.opcode == OP_CLOSE).count(), 1);
}

#[test]
fn every_allowed_close_code_is_accepted() {
    let _g = shared();
    let _w = watchdog("every_allowed_close_code_is_accepted", secs(60));
    for code in [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 3000, 3999, 4000, 4999] {
        let srv = recording_echo();
        let s = open_ok(&srv.url("/"), None);
        assert_eq!(close_with(s, code, ""), WS_OK, "code {code}: {}", describe());
        let frames = srv.join();
        assert_eq!(frames.last().and_then(|f| f.close_code()).map(|c| c.0), Some(code as u16));
    }
}

// ---- the socket limit (global: takes GLOBAL for writing) -------------------------------------

/// Restores the default maximum even when the test fails.
struct RestoreMax(c_int);

impl Drop for RestoreMax {
    fn drop(&mut self) {
        ws_set_max_sockets(self.0);
    }
}

#[test]
fn max_sockets_limit_and_recovery() {
    let _g = GLOBAL.write().unwrap_or_else(|e| e.into_inner());
    let _w = watchdog("max_sockets_limit_and_recovery", secs(60));
    let echo = echo_server();
    let prev = ws_set_max_sockets(2);
    let _restore = RestoreMax(prev);
    assert_eq!(prev, 4096, "the default maximum");
    assert_eq!(last_code(), WS_E_OK);

    let a = open_ok(&echo.url(), None);
    let b = open_ok(&echo.url(), None);
    assert_eq!(open(&echo.url(), None), WS_ERROR);
    assert_error(WS_E_TOO_MANY_SOCKETS, &["no more free sockets"]);
    close_ok(a);
    let c = open_ok(&echo.url(), None);

    // lowering the limit below the number open closes nothing
    assert_eq!(ws_set_max_sockets(1), 2);
    assert_echo_works(b);
    assert_echo_works(c);
    assert_eq!(open(&echo.url(), None), WS_ERROR);
    assert_error(WS_E_TOO_MANY_SOCKETS, &[]);

    // invalid maxima are refused and change nothing
    for bad in [0, -1, i32::MIN] {
        assert_eq!(ws_set_max_sockets(bad), WS_ERROR, "max {bad}");
        assert_error(WS_E_INVALID_ARGUMENT, &[]);
    }
    assert_eq!(ws_set_max_sockets(3), 1, "the refused calls kept the maximum");

    // failed opens give their place back
    let refused = format!("ws://127.0.0.1:{}/", refused_port());
    for _ in 0..10 {
        assert_eq!(open(&refused, None), WS_ERROR);
        assert_error(WS_E_CONNECT, &[]);
        assert_eq!(open("ws://bad url/", None), WS_ERROR);
    }
    let d = open_ok(&echo.url(), None);
    close_ok(b);
    close_ok(c);
    close_ok(d);

    // an open in progress counts
    assert_eq!(ws_set_max_sockets(1), 3);
    let silent = silent_tcp_server(secs(3));
    let silent_url = silent.url("/");
    let (started_tx, started_rx) = mpsc::channel();
    let opener = thread::spawn(move || {
        started_tx.send(()).unwrap();
        open(&silent_url, Some(r#"{"timeout":1500}"#))
    });
    started_rx.recv().unwrap();
    thread::sleep(Duration::from_millis(400));
    assert_eq!(open(&echo.url(), None), WS_ERROR, "an open in progress holds the only place");
    assert_error(WS_E_TOO_MANY_SOCKETS, &[]);
    assert_eq!(opener.join().unwrap(), WS_TIMEOUT);
    let e = open_ok(&echo.url(), None);
    close_ok(e);
    silent.join();

    assert_eq!(ws_set_max_sockets(prev), 1);
}

// ---- the last error ------------------------------------------------------------------------

#[test]
fn last_error_is_never_null_and_is_per_thread() {
    let _g = shared();
    let _w = watchdog("last_error_is_never_null_and_is_per_thread", secs(30));
    // a fresh thread: no error, "" not NULL
    thread::spawn(|| {
        assert!(!ws_last_error().is_null());
        assert_eq!(last_error(), "");
        assert_eq!(last_code(), WS_E_OK);
    })
    .join()
    .unwrap();

    // an error on this thread is not visible on another
    assert_eq!(ws_close_code(-7), WS_ERROR);
    let mine = last_error();
    assert_eq!(last_code(), WS_E_BAD_SOCKET);
    let (tx, rx) = mpsc::channel();
    let (back_tx, back_rx) = mpsc::channel();
    let other = thread::spawn(move || {
        assert_eq!((last_code(), last_error()), (WS_E_OK, String::new()), "error leaked across threads");
        // this thread's own error does not reach the first thread
        assert_eq!(ws_open(ptr::null(), ptr::null()), WS_ERROR);
        assert_eq!(last_code(), WS_E_INVALID_ARGUMENT);
        tx.send(()).unwrap();
        back_rx.recv().unwrap();
        assert_eq!(last_code(), WS_E_INVALID_ARGUMENT, "the other thread's call changed mine");
    });
    rx.recv().unwrap();
    assert_eq!(last_code(), WS_E_BAD_SOCKET);
    assert_eq!(last_error(), mine);
    // a successful call on this thread clears only this thread's error
    assert_eq!(ws_set_max_sockets(i32::MIN), WS_ERROR); // (an error, no change)
    assert_eq!(ws_flush(-1, 0), WS_ERROR);
    let echo = echo_server();
    let s = open_ok(&echo.url(), None);
    assert_eq!((last_code(), last_error()), (WS_E_OK, String::new()), "success clears");
    back_tx.send(()).unwrap();
    other.join().unwrap();
    close_ok(s);
    assert_eq!(last_code(), WS_E_OK);
}

#[test]
fn last_error_survives_the_getters() {
    let _g = shared();
    let _w = watchdog("last_error_survives_the_getters", secs(30));
    assert_eq!(ws_write(-3, ptr::null(), 0, WS_TEXT), WS_ERROR);
    let p = ws_last_error();
    assert!(!p.is_null());
    // SAFETY: valid until the next ws_* call other than the two getters.
    let before = unsafe { std::ffi::CStr::from_ptr(p) }.to_owned();
    assert!(!before.as_bytes().is_empty());
    for _ in 0..3 {
        assert_eq!(ws_last_error_code(), WS_E_BAD_SOCKET);
        let q = ws_last_error();
        assert_eq!(q, p, "ws_last_error() moved the message");
        // ws_version and ws_error_name keep the error too
        assert!(!ws_version().is_null());
        assert!(!ws_error_name(12345).is_null());
        assert!(!ws_error_name(WS_E_TIMEOUT).is_null());
    }
    // SAFETY: only getters, ws_version and ws_error_name were called since.
    let after = unsafe { std::ffi::CStr::from_ptr(p) }.to_owned();
    assert_eq!(after, before, "the message changed under the getters");
    assert_eq!(ws_last_error_code(), WS_E_BAD_SOCKET);
}

#[test]
fn error_names() {
    let _g = shared();
    let names = [
        (WS_E_OK, "WS_E_OK"),
        (WS_E_INVALID_ARGUMENT, "WS_E_INVALID_ARGUMENT"),
        (WS_E_INVALID_URL, "WS_E_INVALID_URL"),
        (WS_E_UNSUPPORTED_SCHEME, "WS_E_UNSUPPORTED_SCHEME"),
        (WS_E_INVALID_OPTIONS, "WS_E_INVALID_OPTIONS"),
        (WS_E_DNS, "WS_E_DNS"),
        (WS_E_CONNECT, "WS_E_CONNECT"),
        (WS_E_TLS, "WS_E_TLS"),
        (WS_E_TLS_VERIFY, "WS_E_TLS_VERIFY"),
        (WS_E_UPGRADE_REJECTED, "WS_E_UPGRADE_REJECTED"),
        (WS_E_BAD_ACCEPT, "WS_E_BAD_ACCEPT"),
        (WS_E_HANDSHAKE, "WS_E_HANDSHAKE"),
        (WS_E_PROTOCOL, "WS_E_PROTOCOL"),
        (WS_E_INVALID_UTF8, "WS_E_INVALID_UTF8"),
        (WS_E_MESSAGE_TOO_BIG, "WS_E_MESSAGE_TOO_BIG"),
        (WS_E_CLOSED, "WS_E_CLOSED"),
        (WS_E_TIMEOUT, "WS_E_TIMEOUT"),
        (WS_E_BAD_SOCKET, "WS_E_BAD_SOCKET"),
        (WS_E_TOO_MANY_SOCKETS, "WS_E_TOO_MANY_SOCKETS"),
        (WS_E_IO, "WS_E_IO"),
        (WS_E_BUFFER_TOO_SMALL, "WS_E_BUFFER_TOO_SMALL"),
        (WS_E_INTERNAL, "WS_E_INTERNAL"),
        (WS_E_CONNECTION_LOST, "WS_E_CONNECTION_LOST"),
        (WS_E_PENDING, "WS_E_PENDING"),
    ];
    // codes are append-only: the first 24 never change number or name
    for (i, (code, name)) in names.iter().enumerate() {
        assert_eq!(*code, i as c_int, "{name} was renumbered");
        assert_eq!(error_name(*code), *name);
    }
    // later codes come from the header; every number above them is unknown
    let header = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/include/wsclient.h")).unwrap();
    let max = header
        .lines()
        .filter_map(|l| l.strip_prefix("#define WS_E_"))
        .filter_map(|l| l.split_whitespace().nth(1)?.parse::<c_int>().ok())
        .max()
        .unwrap();
    assert!(max >= 23);
    let mut seen = HashSet::new();
    for code in -3..max + 200 {
        let n = error_name(code);
        if code < 0 || code > max {
            assert_eq!(n, "WS_E_UNKNOWN", "code {code}");
        } else {
            assert!(n.starts_with("WS_E_") && n != "WS_E_UNKNOWN", "code {code}: {n}");
            assert!(seen.insert(n), "duplicate name");
        }
    }
    for code in [i32::MIN, i32::MAX, 1 << 16] {
        assert_eq!(error_name(code), "WS_E_UNKNOWN");
    }
    // the same pointer every time (static storage)
    assert_eq!(ws_error_name(WS_E_IO), ws_error_name(WS_E_IO));
    let v = from_c(ws_version()).unwrap();
    assert_eq!(v, env!("CARGO_PKG_VERSION"));
}
