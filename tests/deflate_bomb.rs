//! Compression bombs through the C API (issue 16, "bomb-proof"), against a
//! misbehaving in-process server on 127.0.0.1 that sends a permessage-deflate
//! message of ~10 MB on the wire which would inflate to ~10 GB (1000:1:
//! blocks of 1 MiB of zeros, each ~1 KiB compressed, repeated):
//! - read whole (ws_read, maxMessageSize 8 MiB): WS_E_MESSAGE_TOO_BIG, the
//!   close code 1009, and the peak RSS of this process grows by at most
//!   maxMessageSize + one inflate step (plus allocator slack) while the
//!   server keeps pushing (after the error the rest of the frame may still
//!   be read and dropped while the closing handshake runs);
//! - read in pieces ("streamReceive", no limit): 1 GiB inflated from ~1 MB
//!   delivered piece by piece, every byte a zero, the count exact, and the
//!   peak RSS growth a few MiB (the pieces, never the message).
//!
//! The peak is the kernel's VmHWM, reset through /proc/self/clear_refs
//! before each measurement, so that no transient allocation escapes a
//! sampler. In a test binary of its own, the tests one after the other
//! (a mutex), so that nothing else is measured. Under ASan
//! (WSCLIENT_SANITIZER set by scripts/asan.sh) the memory bounds are not
//! asserted (shadow memory and quarantine); the behaviour is.

mod support;

use std::io::Write;
use std::sync::Mutex;
use std::time::Duration;
use support::*;

static SERIAL: Mutex<()> = Mutex::new(());

const MIB: u64 = 1 << 20;

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// One sync-flushed raw deflate block sequence for 1 MiB of zeros from a
/// fresh compressor: it refers only to its own bytes, so copies of it one
/// after the other are a valid stream (no final block) of N MiB of zeros.
fn zeros_block() -> Vec<u8> {
    let input = vec![0u8; MIB as usize];
    let mut d = zlib_rs::Deflate::new(9, false, 15);
    let mut out = vec![0u8; 64 * 1024];
    d.compress(&input, &mut out, zlib_rs::DeflateFlush::SyncFlush).expect("deflate");
    out.truncate(d.total_out() as usize);
    assert_eq!(out[out.len() - 4..], [0, 0, 0xff, 0xff]);
    out
}

/// Peak RSS (VmHWM) since the last reset, in bytes.
fn peak_rss() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = s.lines().find(|l| l.starts_with("VmHWM:")).expect("VmHWM line");
    line.split_whitespace().nth(1).and_then(|v| v.parse::<u64>().ok()).expect("VmHWM value") * 1024
}

/// Resets VmHWM to the current RSS (Linux 4.0+: "5" in clear_refs).
fn reset_peak() {
    std::fs::write("/proc/self/clear_refs", "5").expect("reset VmHWM through /proc/self/clear_refs");
}

fn sanitized() -> bool {
    std::env::var_os("WSCLIENT_SANITIZER").is_some()
}

/// A server that accepts permessage-deflate and sends one compressed
/// binary message of `copies` blocks in a single frame (its length
/// announced up front), writing until the client stops reading; returns how
/// many blocks it got out.
fn bomb_server(block: Vec<u8>, copies: u64) -> Server<u64> {
    serve_tcp(move |mut s| {
        let (req, _) = read_request(&mut s);
        let ext = "Sec-WebSocket-Extensions: permessage-deflate\r\n";
        s.write_all(response_101(&req, ext).as_bytes()).expect("server: write 101");
        s.set_write_timeout(Some(secs(30))).unwrap();
        let len = block.len() as u64 * copies;
        let mut head = vec![0x80 | 0x40 | OP_BINARY, 127];
        head.extend_from_slice(&len.to_be_bytes());
        if s.write_all(&head).is_err() {
            return 0;
        }
        // 64 blocks per write (64 MiB inflated, ~64 KiB on the wire)
        let batch: Vec<u8> = block.repeat(64);
        let mut sent = 0;
        while sent < copies {
            let n = (copies - sent).min(64);
            if s.write_all(&batch[..block.len() * n as usize]).is_err() {
                break;
            }
            sent += n;
        }
        sent
    })
}

#[test]
fn a_10mb_message_inflating_to_10gb_fails_within_max_message_size_plus_one_step() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let _w = watchdog("a_10mb_message_inflating_to_10gb_fails_within_max_message_size_plus_one_step", secs(120));
    let block = zeros_block();
    // 1 MiB of zeros in ~1 KiB: at least 1000:1
    assert!(block.len() as u64 * 1000 <= MIB + 1000, "block of {} bytes", block.len());
    let copies = 10 * 1000 * 1000 / block.len() as u64; // ~10 MB on the wire: ~10 GB inflated
    let srv = bomb_server(block.clone(), copies);
    let max: u64 = 8 * MIB;
    let s = open_ok(&srv.url("/"), Some(&format!(r#"{{"compression": true, "maxMessageSize": {max}}}"#)));
    let base = rss_bytes();
    reset_peak();
    let got = read(s, 30_000);
    let peak = peak_rss();
    match got {
        Got::Error(c) => assert_eq!(error_name(c), "WS_E_MESSAGE_TOO_BIG", "{}", describe()),
        other => panic!("expected WS_E_MESSAGE_TOO_BIG, got {other:?}"),
    }
    let err = last_error();
    assert!(err.contains("after decompression"), "{err}");
    let info = get_info(s);
    assert_eq!(info.close_code_sent, 1009, "close code sent");
    close(s);
    let sent = srv.join();
    let growth = peak.saturating_sub(base);
    eprintln!(
        "bomb: {} blocks of {} bytes announced ({:.1} MB on the wire, {:.1} GiB inflated); the server got {} out; \
         peak RSS growth {:.1} MiB with maxMessageSize {} MiB",
        copies,
        block.len(),
        (copies * block.len() as u64) as f64 / 1e6,
        copies as f64 / 1024.0,
        sent,
        growth as f64 / MIB as f64,
        max / MIB
    );
    if !sanitized() {
        // maxMessageSize + one 16 KiB step + the inflater (~40 KiB), and
        // 2 MiB for the allocator and the test's own bookkeeping
        assert!(growth <= max + 2 * MIB, "peak RSS grew by {growth} bytes, maxMessageSize {max}");
    }
}

#[test]
fn a_bomb_read_in_pieces_is_inflated_piece_by_piece_in_bounded_memory() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let _w = watchdog("a_bomb_read_in_pieces_is_inflated_piece_by_piece_in_bounded_memory", secs(300));
    let block = zeros_block();
    let copies: u64 = 1024; // 1 GiB inflated, ~1 MB on the wire
    let srv = bomb_server(block.clone(), copies);
    let s = open_ok(
        &srv.url("/"),
        Some(r#"{"compression": true, "streamReceive": true, "maxMessageSize": 0, "pingInterval": 0}"#),
    );
    let base = rss_bytes();
    reset_peak();
    let mut buf = vec![0u8; 64 * 1024];
    let zeros = vec![0u8; buf.len()];
    let mut total: u64 = 0;
    let mut pieces = 0u64;
    loop {
        // SAFETY: all-zero is a valid ws_part
        let mut p: ws_part = unsafe { std::mem::zeroed() };
        let r = ws_read_part(s, buf.as_mut_ptr().cast(), buf.len(), &mut p, 30_000);
        assert_eq!(r, WS_OK, "ws_read_part at {total}: {}", describe());
        assert_eq!((p.offset, p.r#type), (total, WS_BINARY));
        assert!(buf[..p.len] == zeros[..p.len], "non-zero byte in the piece at {total}");
        total += p.len as u64;
        pieces += 1;
        if p.last != 0 {
            break;
        }
        assert!(total <= copies * MIB, "more bytes than were sent");
    }
    let peak = peak_rss();
    assert_eq!(total, copies * MIB);
    let info = get_info(s);
    close(s);
    assert_eq!(srv.join(), copies);
    let growth = peak.saturating_sub(base);
    eprintln!(
        "bomb in pieces: {} GiB inflated from {} wire bytes in {} pieces; peak RSS growth {:.2} MiB",
        total >> 30,
        info.wire_bytes_received,
        pieces,
        growth as f64 / MIB as f64
    );
    if !sanitized() {
        // pieces of at most 256 KiB held, the inflater, socket buffers
        assert!(growth <= 4 * MIB, "peak RSS grew by {growth} bytes reading in pieces");
    }
}
