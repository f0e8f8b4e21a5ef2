//! The memory of released permessage-deflate codecs leaves the process.
//!
//! An idle compressed connection gives back its codecs (tests/deflate.rs
//! checks what it keeps); this checks that the process's resident memory
//! actually drops by what they held. Through malloc it did not: once glibc's
//! dynamic mmap threshold had risen past a codec's size (on the first free
//! of a mapped block), codecs came from its heaps, whose freed middle stays
//! resident, so a second round of busy-then-idle connections kept their
//! whole codec memory (2,000 idle connections held 224 KiB each of free
//! heap in examples-c/scale_bench.c). Two rounds here, the second being
//! the one that failed.
//!
//! One test in its own binary (the resident size is the process's), the
//! deflate echo server in another process (its memory is not ours).

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::*;

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_server() -> (Server, u16) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_wsclient-deflate-echo-server"))
        .args(["--port", "0", "--host", "127.0.0.1"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start wsclient-deflate-echo-server");
    let mut line = String::new();
    BufReader::new(c.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let port = line.trim().strip_prefix("LISTENING ").and_then(|p| p.parse().ok()).expect("LISTENING <port>");
    (Server(c), port)
}

#[test]
fn released_codecs_give_their_memory_back_to_the_system() {
    let _w = watchdog("released_codecs_give_their_memory_back_to_the_system", Duration::from_secs(120));
    let (_srv, port) = start_server();
    let url = format!("ws://127.0.0.1:{port}/");
    // the largest state: 15-bit windows, memLevel 9 (~400 KiB to compress)
    let opts = r#"{"pingInterval": 0, "compression": {"clientMaxWindowBits": 15, "memLevel": 9}}"#;
    const N: usize = 48;
    for round in 0..2 {
        let socks: Vec<_> = (0..N).map(|_| open_ok(&url, Some(opts))).collect();
        // round-robin, so that every connection was used just now
        for k in 0..3 {
            for (i, &s) in socks.iter().enumerate() {
                let m = format!("{{\"round\":{round},\"socket\":{i},\"k\":{k},\"tags\":\"{}\"}}", "x".repeat(4000));
                write_ok(s, m.as_bytes(), WS_TEXT);
                let (t, got) = read_msg(s, 20_000);
                assert_eq!((t, got), (WS_TEXT, m.into_bytes()));
            }
        }
        // (read together: a sweep may release a connection in between)
        let mapped = wsclient::internals::codec_mapped_bytes();
        let busy = rss_bytes() as usize;
        assert!(mapped >= (N * 200) << 10, "round {round}: the connections hold their codecs ({mapped} bytes)");
        // every connection idle: both codecs released within two sweeps
        let end = Instant::now() + Duration::from_secs(10);
        // (a live decoder is ~47 KiB besides the <= 12 KiB of history here)
        let live = |s| {
            let (compressor, decoder_bytes) = wsclient::internals::codec_memory(s).unwrap();
            compressor || decoder_bytes > 32 << 10
        };
        while socks.iter().any(|&s| live(s)) {
            assert!(Instant::now() < end, "round {round}: codecs not released within 10 s");
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(wsclient::internals::codec_mapped_bytes(), 0, "round {round}: every codec was unmapped");
        let idle = rss_bytes() as usize;
        let dropped = busy.saturating_sub(idle);
        // (a mapping's pages that zlib-rs never wrote were never resident:
        // the ends of memLevel 9's 224 KiB symbol buffers for these short
        // messages; 73% of the mapped bytes went in a measured run)
        assert!(
            dropped >= mapped / 2,
            "round {round}: resident memory dropped by {} KiB, the codecs held {} KiB",
            dropped >> 10,
            mapped >> 10
        );
        for s in socks {
            close_ok(s);
        }
    }
}
