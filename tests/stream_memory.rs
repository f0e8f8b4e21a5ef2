//! Streaming in bounded memory (issue "Streaming"): 1 GiB each way in
//! 64 KiB pieces through a frame-by-frame echo server (another process),
//! sent from a generator and received with ws_read_part, while this
//! process's RSS is sampled; the SHA-256 of what came back must match. In a
//! test binary of its own, so that no other test's memory is measured.
//! `WSCLIENT_STREAM_BYTES` changes the size.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;
use support::*;

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn write_part(s: std::ffi::c_int, data: &[u8], flags: std::ffi::c_int) -> std::ffi::c_int {
    ws_write_part(s, data.as_ptr().cast(), data.len(), flags)
}

fn rss_now() -> u64 {
    rss_bytes()
}

#[test]
fn one_gib_each_way_in_64_kib_pieces_in_bounded_memory() {
    let gib: u64 = std::env::var("WSCLIENT_STREAM_BYTES").ok().and_then(|v| v.parse().ok()).unwrap_or(1 << 30);
    let _w = watchdog("one_gib_each_way_in_64_kib_pieces_in_bounded_memory", secs(600));
    let mut child = Command::new(env!("CARGO_BIN_EXE_wsclient-echo-server"))
        .arg("--frames")
        .stdout(Stdio::piped())
        .spawn()
        .expect("start wsclient-echo-server --frames");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).expect("LISTENING line");
    let port: u16 = line.trim().strip_prefix("LISTENING ").and_then(|p| p.parse().ok()).expect("LISTENING <port>");
    let s = open_ok(
        &format!("ws://127.0.0.1:{port}/"),
        Some(r#"{"streamReceive":true,"maxMessageSize":0,"pingInterval":0}"#),
    );
    let base = rss_now();
    let peak = Arc::new(AtomicU64::new(base));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, done) = (peak.clone(), done.clone());
        thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                peak.fetch_max(rss_now(), Ordering::Relaxed);
                thread::sleep(Duration::from_millis(20));
            }
        })
    };
    const PIECE: usize = 64 * 1024;
    let writer = thread::spawn(move || {
        // a generator: piece k is a deterministic function of k
        let mut h = openssl::sha::Sha256::new();
        let pieces = gib / PIECE as u64;
        for k in 0..pieces {
            let piece = binary_payload(PIECE, k);
            h.update(&piece);
            let flags = if k == 0 { WS_BINARY } else { 0 } | if k + 1 < pieces { WS_CONT } else { 0 };
            assert_eq!(write_part(s, &piece, flags), WS_OK, "ws_write_part {k}: {}", describe());
        }
        h.finish()
    });
    let mut h = openssl::sha::Sha256::new();
    let mut got: u64 = 0;
    let mut buf = vec![0u8; PIECE];
    loop {
        // SAFETY: all-zero is a valid ws_part
        let mut p: ws_part = unsafe { std::mem::zeroed() };
        let r = ws_read_part(s, buf.as_mut_ptr().cast(), buf.len(), &mut p, 30_000);
        assert_eq!(r, WS_OK, "ws_read_part at {got}: {}", describe());
        assert_eq!((p.offset, p.r#type), (got, WS_BINARY));
        h.update(&buf[..p.len]);
        got += p.len as u64;
        if p.last == 1 {
            break;
        }
    }
    let sent = writer.join().unwrap();
    done.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    assert_eq!(got, gib);
    assert_eq!(h.finish(), sent, "SHA-256 of what came back");
    let grew = peak.load(Ordering::Relaxed).saturating_sub(base);
    assert!(grew < 32 << 20, "RSS grew by {} MiB while streaming {gib} bytes each way", grew >> 20);
    close_ok(s);
    let _ = child.kill();
    let _ = child.wait();
}
