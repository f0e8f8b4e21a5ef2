//! What a server can make the client allocate, through the C API against
//! hand-written servers on 127.0.0.1:
//! - a frame header announcing 60 MiB costs memory only as bytes arrive
//!   (measured as growth of this process's resident set, /proc/self/statm);
//! - an upgrade response head that never ends fails with WS_E_HANDSHAKE once
//!   it passes the 64 KiB bound, with bounded memory;
//! - `maxMessageSize` is range-checked (2^45 used to abort the host).
//!
//! The memory tests take one lock so that no other test of this binary
//! allocates while they measure.

mod support;

use std::io::{Read, Write};
use std::sync::mpsc;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use support::*;

static MEASURE: Mutex<()> = Mutex::new(());

fn measure_lock() -> std::sync::MutexGuard<'static, ()> {
    MEASURE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Resident set size from /proc/self/statm (pages -> bytes).
fn rss() -> u64 {
    let s = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
    let pages: u64 = s.split_whitespace().nth(1).and_then(|v| v.parse().ok()).expect("statm resident");
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u64;
    pages * page
}

const MIB: u64 = 1 << 20;

/// Allowed RSS growth: 4 MiB, or 16 MiB under a sanitizer (scripts/asan.sh
/// sets WSCLIENT_SANITIZER: shadow memory, the quarantine of freed blocks
/// and fake stacks grow the resident set by themselves); both far below
/// the 60 MiB a header used to cost.
fn bound() -> u64 {
    if std::env::var_os("WSCLIENT_SANITIZER").is_some() {
        16 * MIB
    } else {
        4 * MIB
    }
}

#[test]
fn a_header_announcing_60_mib_costs_memory_only_as_bytes_arrive() {
    let _w = watchdog("a_header_announcing_60_mib_costs_memory_only_as_bytes_arrive", Duration::from_secs(120));
    let _m = measure_lock();
    const ANNOUNCED: usize = 60 << 20;
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let srv = serve_ws(move |p| {
        let mut h = vec![0x82u8, 127];
        h.extend_from_slice(&(ANNOUNCED as u64).to_be_bytes());
        h.extend_from_slice(&[0xAB; 1000]);
        p.raw(&h);
        // stall until the client has measured, then send the rest
        go_rx.recv_timeout(Duration::from_secs(60)).expect("go");
        let chunk = vec![0xABu8; 1 << 20];
        let mut left = ANNOUNCED - 1000;
        while left > 0 {
            let n = left.min(chunk.len());
            p.raw(&chunk[..n]);
            left -= n;
        }
        let _ = p.read_until_close(Duration::from_secs(20));
    });
    let s = open_ok(&srv.url("/"), Some(r#"{"pingInterval": 0}"#));
    let before = rss();
    // the header and the first bytes arrive; the rest never comes (for now)
    for _ in 0..3 {
        assert_eq!(read(s, 200), Got::Timeout(WS_E_TIMEOUT), "{}", describe());
    }
    let grown = rss().saturating_sub(before);
    assert!(grown < bound(), "RSS grew by {} KiB for a 10-byte header announcing 60 MiB", grown / 1024);
    // and the message still arrives whole
    go_tx.send(()).unwrap();
    let mut p: *const std::ffi::c_void = std::ptr::null();
    let (mut len, mut ty) = (0usize, 0);
    let t0 = Instant::now();
    let r = loop {
        let r = ws_read(s, &mut p, &mut len, &mut ty, 20_000);
        if r != WS_TIMEOUT || t0.elapsed() > Duration::from_secs(60) {
            break r;
        }
    };
    assert_eq!(r, WS_OK, "{}", describe());
    assert_eq!((len, ty), (ANNOUNCED, WS_BINARY));
    // SAFETY: lent until the next read or close on s.
    let m = unsafe { std::slice::from_raw_parts(p.cast::<u8>(), len) };
    assert!(m[0] == 0xAB && m[len / 2] == 0xAB && m[len - 1] == 0xAB);
    close(s);
    srv.join();
}

#[test]
fn an_endless_response_head_fails_with_bounded_memory() {
    let _w = watchdog("an_endless_response_head_fails_with_bounded_memory", Duration::from_secs(60));
    let _m = measure_lock();
    for (what, start, unit) in [
        ("one endless header line", "HTTP/1.1 101 Switching Protocols\r\nX-Long: ", &b"aaaaaaaaaaaaaaaa"[..]),
        ("endless header lines", "HTTP/1.1 101 Switching Protocols\r\n", &b"X-Many: value\r\n"[..]),
    ] {
        let srv = serve_tcp(move |mut s| {
            let _ = read_request(&mut s);
            s.write_all(start.as_bytes()).unwrap();
            let block: Vec<u8> = unit.iter().copied().cycle().take(64 * 1024).collect();
            // up to 16 MiB, or until the client gives up
            let mut sent = 0usize;
            while sent < 16 << 20 {
                if s.write_all(&block).is_err() {
                    break;
                }
                sent += block.len();
            }
            let mut sink = [0u8; 64];
            let _ = s.read(&mut sink);
            sent
        });
        let before = rss();
        assert_eq!(open(&srv.url("/"), Some(r#"{"timeout": 20000}"#)), WS_ERROR, "{what}");
        let grown = rss().saturating_sub(before);
        let msg = last_error();
        assert_eq!(last_code(), WS_E_HANDSHAKE, "{what}: {}", describe());
        assert!(
            msg.contains("response head larger than 65536 bytes") || msg.contains("more than 256 header lines"),
            "{what}: {msg}"
        );
        assert!(grown < bound(), "{what}: RSS grew by {} KiB", grown / 1024);
        let sent = srv.join();
        assert!(sent < 16 << 20, "{what}: the client read all {sent} bytes instead of giving up");
    }
}

#[test]
fn max_message_size_is_range_checked() {
    let _w = watchdog("max_message_size_is_range_checked", Duration::from_secs(30));
    let url = format!("ws://127.0.0.1:{}/", refused_port());
    for bad in ["35184372088832", "2147483649", "0", "-1", "1.5", "\"64\""] {
        let o = format!(r#"{{"maxMessageSize": {bad}}}"#);
        assert_eq!(open(&url, Some(&o)), WS_ERROR, "{o}");
        assert_error(
            WS_E_INVALID_OPTIONS,
            &["\"maxMessageSize\" must be an integer number of bytes from 1 to 2147483648"],
        );
    }
    // the bounds themselves are accepted (the open then fails to connect)
    for ok in ["1", "2147483648"] {
        let o = format!(r#"{{"maxMessageSize": {ok}}}"#);
        assert_eq!(open(&url, Some(&o)), WS_ERROR, "{o}");
        assert_eq!(last_code(), WS_E_CONNECT, "{o}: {}", describe());
    }
}

#[test]
fn the_largest_max_message_size_does_not_allocate_up_front() {
    // maxMessageSize 2 GiB and a server announcing 2 GiB: the reader still
    // holds only what arrived
    let _w = watchdog("the_largest_max_message_size_does_not_allocate_up_front", Duration::from_secs(60));
    let _m = measure_lock();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let srv = serve_ws(move |p| {
        let mut h = vec![0x81u8, 127];
        h.extend_from_slice(&(1u64 << 31).to_be_bytes());
        h.extend_from_slice(&[b'a'; 300_000]);
        p.raw(&h);
        let _ = done_rx.recv_timeout(Duration::from_secs(30));
    });
    let s = open_ok(&srv.url("/"), Some(r#"{"maxMessageSize": 2147483648, "pingInterval": 0}"#));
    let before = rss();
    for _ in 0..3 {
        assert_eq!(read(s, 200), Got::Timeout(WS_E_TIMEOUT), "{}", describe());
    }
    let grown = rss().saturating_sub(before);
    assert!(grown < bound(), "RSS grew by {} KiB for 300 kB of a 2 GiB message", grown / 1024);
    done_tx.send(()).unwrap();
    close(s);
    srv.join();
}
