//! Regression tests from the security review of the rewritten core (each
//! failed on the main it reviewed): read-ahead bounded by PENDING_MAX, a
//! kept message surviving ws_reconnect, a frame length claim that cannot
//! abort the process or commit memory.
//! Real servers on 127.0.0.1, deadlines everywhere, no sleeps used as
//! synchronisation (waits poll a condition up to a deadline).

mod support;

use std::ffi::c_int;
use std::io::Read;
use std::sync::mpsc;
use std::time::{Duration, Instant};
use support::*;

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

// ---- R1: the background read-ahead is not bounded -------------------------------

/// conn/background.rs says: "Bytes of messages the background thread may
/// read ahead for a program that is not reading ...; beyond this it stops
/// reading and TCP pushes back" (PENDING_MAX = 1 MiB). A server that keeps
/// sending to a program that does not read right now must therefore not make
/// the library hold much more than 1 MiB (+ one message).
#[test]
fn r1_read_ahead_for_a_program_that_does_not_read_is_bounded() {
    let _w = watchdog("r1_read_ahead_for_a_program_that_does_not_read_is_bounded", secs(60));
    const MSG: usize = 256 * 1024;
    const COUNT: usize = 96; // 24 MiB offered in total
    let (stop_tx, stop_rx) = mpsc::channel::<()>();
    let srv = serve_ws(move |p| {
        let payload = vec![0x5au8; MSG];
        let _ = p.stream.set_write_timeout(Some(secs(8)));
        let mut sent = 0usize;
        for _ in 0..COUNT {
            let f = encode(0x82, &payload, None);
            if std::io::Write::write_all(&mut p.stream, &f).is_err() {
                break; // TCP pushed back for 8 s: what the design promises
            }
            sent += 1;
        }
        let _ = stop_rx.recv_timeout(secs(30));
        sent
    });
    let s = open_ok(&srv.url("/"), Some(r#"{"pingInterval":0,"closeTimeout":300}"#));
    // the program does not read for a while; watch what the library holds
    let limit: i64 = 4 << 20; // 1 MiB limit + one message + slack
    let deadline = Instant::now() + secs(4);
    let mut held = 0;
    while Instant::now() < deadline {
        held = get_info(s).bytes_received;
        if held > limit {
            break;
        }
        std::thread::yield_now();
    }
    let _ = stop_tx.send(());
    close(s);
    let sent = srv.join();
    assert!(
        held <= limit,
        "the background thread read ahead {held} bytes ({} messages of {MSG}) for a program that was not reading; \
         PENDING_MAX is 1 MiB (server managed to send {sent} of {COUNT} messages)",
        held / MSG as i64
    );
}

// ---- R2: a message kept by WS_E_BUFFER_TOO_SMALL is lost on ws_reconnect ------------

/// Header, ws_read: "A message kept by WS_E_BUFFER_TOO_SMALL stays readable
/// until it is read or the number is closed, also if the connection fails
/// meanwhile." ws_reconnect keeps the number (and its lent memory, by the
/// header's lifetime convention) but drops the kept message.
#[test]
fn r2_kept_message_survives_ws_reconnect() {
    let _w = watchdog("r2_kept_message_survives_ws_reconnect", secs(30));
    let big = "K".repeat(100);
    let big2 = big.clone();
    let srv = serve_ws_conns(2, move |i, p| {
        if i == 0 {
            p.text(&big2);
        } else {
            p.text("second connection");
        }
        // answer the client's close (ws_reconnect's 1001, then ws_close)
        let (close, _) = p.read_until_close(secs(10));
        if close.is_some() {
            p.close(1000, "");
        }
    });
    let s = open_ok(&srv.url("/"), Some(r#"{"pingInterval":0,"closeTimeout":1000}"#));
    let (r, len, _, _) = read_into(s, 10, 3000);
    assert_eq!(r, WS_ERROR, "{}", describe());
    assert_error(WS_E_BUFFER_TOO_SMALL, &["kept"]);
    assert_eq!(len, 100);
    assert_eq!(ws_reconnect(s, 0), WS_OK, "{}", describe());
    let (r, len, ty, data) = read_into(s, 1000, 3000);
    assert_eq!(r, WS_OK, "{}", describe());
    let got = String::from_utf8_lossy(&data[..len]).into_owned();
    close(s);
    srv.join();
    assert_eq!(ty, WS_TEXT);
    assert_eq!(got, big, "the message kept by WS_E_BUFFER_TOO_SMALL was dropped by ws_reconnect");
}

// ---- R3: a frame header alone makes the library allocate its claimed length ---------

fn inner(name: &str) -> bool {
    std::env::var("WSCLIENT_REVIEW_INNER").is_ok_and(|v| v == name)
}

/// Runs test `name` of this binary in a child process; returns its status
/// and stderr (the child may abort).
fn run_child(name: &str, limit: Duration) -> (std::process::ExitStatus, String) {
    let exe = std::env::current_exe().unwrap();
    let mut child = std::process::Command::new(exe)
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env("WSCLIENT_REVIEW_INNER", name)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + limit;
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            let mut err = String::new();
            let _ = child.stderr.take().unwrap().read_to_string(&mut err);
            return (st, err);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("child {name} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20)); // polling a child process, not synchronising
    }
}

/// maxMessageSize accepts any positive integer ("largest message accepted").
/// A server that sends only a binary frame header claiming 2^61 bytes (plus
/// 16 KiB, to pass the direct-read threshold) makes Reader::read_target
/// resize the message buffer to the claimed length at once: the allocation
/// fails and Rust aborts the host process ("never crashes from the outside").
#[test]
fn r3_frame_length_claim_cannot_abort_the_process() {
    let name = "r3_frame_length_claim_cannot_abort_the_process";
    if !inner(name) {
        let _w = watchdog("r3 (parent)", secs(60));
        let (st, err) = run_child(name, secs(40));
        assert!(
            st.success(),
            "the client process died ({st}) on a frame header from the server: {}",
            err.lines().filter(|l| l.contains("alloc") || l.contains("WATCHDOG")).collect::<Vec<_>>().join(" | ")
        );
        return;
    }
    let _w = watchdog("r3 (child)", secs(30));
    let srv = serve_ws(|p| {
        let mut f = vec![0x82u8, 127];
        f.extend_from_slice(&(1u64 << 61).to_be_bytes());
        p.raw(&f);
        p.raw(&[0u8; 16]); // a little payload, then silence
        p.silent_for(secs(3));
    });
    // the largest limit accepted (maxMessageSize is range-checked): the
    // claim is refused with 1009
    let s = open_ok(&srv.url("/"), Some(r#"{"pingInterval":0,"maxMessageSize":2147483648}"#));
    let r = read(s, 1500);
    eprintln!("read returned {r:?}");
    close(s);
    srv.join();
    // no limit at all (streamReceive): memory stays bounded by the pieces
    let srv = serve_ws(|p| {
        let mut f = vec![0x82u8, 127];
        f.extend_from_slice(&(1u64 << 61).to_be_bytes());
        p.raw(&f);
        p.raw(&[0u8; 16]);
        p.silent_for(secs(3));
    });
    let s = open_ok(&srv.url("/"), Some(r#"{"pingInterval":0,"maxMessageSize":0,"streamReceive":true}"#));
    let mut buf = [0u8; 64];
    // SAFETY: all-zero is a valid ws_part
    let mut part: ws_part = unsafe { std::mem::zeroed() };
    let r = ws_read_part(s, buf.as_mut_ptr().cast(), buf.len(), &mut part, 1500);
    eprintln!("ws_read_part returned {r}, {} bytes", part.len);
    close(s);
    srv.join();
}

/// The same with the default maxMessageSize (64 MiB): one 10-byte frame
/// header makes the client allocate and zero 64 MiB per connection before
/// a single payload byte arrived (peer-driven memory amplification).
#[test]
fn r3b_frame_header_does_not_commit_the_claimed_length() {
    let _w = watchdog("r3b_frame_header_does_not_commit_the_claimed_length", secs(30));
    let (stop_tx, stop_rx) = mpsc::channel::<()>();
    let srv = serve_ws(move |p| {
        let mut f = vec![0x82u8, 127];
        f.extend_from_slice(&((64u64 << 20) - 1).to_be_bytes());
        p.raw(&f);
        let _ = stop_rx.recv_timeout(secs(20));
    });
    let before = rss_bytes();
    let s = open_ok(&srv.url("/"), Some(r#"{"pingInterval":0,"closeTimeout":200}"#));
    let r = read(s, 300); // times out: only the header arrived
    assert!(matches!(r, Got::Timeout(_)), "expected a timeout, got {r:?}");
    let after = rss_bytes();
    let _ = stop_tx.send(());
    close(s);
    srv.join();
    let grew = after.saturating_sub(before);
    assert!(
        grew < 16 << 20,
        "RSS grew by {} MiB after a 10-byte frame header (nothing of the payload arrived)",
        grew >> 20
    );
}

#[allow(dead_code)]
fn _unused(_: c_int) {}
