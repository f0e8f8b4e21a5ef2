//! Memory stays flat across many open / write / read / close cycles against
//! a local echo server: a leak of a connection, its buffers, its socket or a
//! registry slot shows up as growth of the resident set size (VmRSS) or of
//! the number of open file descriptors.
//!
//! Method: a warm-up of 1,000 cycles first (allocator arenas, the thread
//! stacks glibc caches for the echo server's per-connection threads, the
//! library's lazily created statics and background thread all reach their
//! steady state), then VmRSS and the fd count are taken, then 10,000 more
//! cycles, then both are taken again.
//!
//! The bound, 8 MiB of RSS growth: each cycle allocates well over 16 KiB
//! (the connection, its 16 KiB read buffer, its send queue, the 4 KiB and
//! 100-byte messages; every 100th cycle a 256 KiB message), so leaking any
//! one of those per cycle would add >= 160 MiB over 10,000 cycles, and even
//! a leak of 1 KiB per cycle (~10 MiB) exceeds the bound. Below it there is
//! room for allocator noise (malloc keeps freed chunks; RSS moves by a few
//! MiB between identical runs). File descriptors must come back exactly,
//! give or take the few echo server connections still finishing.
//!
//! Running time: about 1 ms per cycle in a debug build on this 2-core
//! machine (~11 s in all). The cycle count can be changed with
//! WSCLIENT_MEMORY_CYCLES (e.g. 100000 for a longer soak in release mode);
//! with fewer than 10,000 cycles the bound scales down accordingly.

mod support;

use std::time::{Duration, Instant};
use support::*;

const WARM_UP: usize = 1_000;
const CYCLES: usize = 10_000;
const BOUND: u64 = 8 << 20;

fn cycle(url: &str, i: usize, small: &[u8], medium: &[u8], large: &[u8]) {
    let s = open_ok(url, None);
    write_ok(s, small, WS_TEXT);
    let m = if i % 100 == 0 { large } else { medium };
    write_ok(s, m, WS_BINARY);
    let (t, got) = read_msg(s, 10_000);
    assert!(t == WS_TEXT && got == small, "cycle {i}: text echo");
    let (t, got) = read_msg(s, 10_000);
    assert!(t == WS_BINARY && got.len() == m.len() && got[..64] == m[..64], "cycle {i}: binary echo");
    close_ok(s);
}

fn settle() {
    // let the echo server's last connection threads finish
    std::thread::sleep(Duration::from_millis(300));
}

#[test]
fn memory_is_flat_across_open_write_read_close_cycles() {
    let cycles: usize = std::env::var("WSCLIENT_MEMORY_CYCLES").ok().and_then(|v| v.parse().ok()).unwrap_or(CYCLES);
    // ~1 ms per cycle expected; the watchdog allows 15 ms per cycle
    let limit = Duration::from_secs(60) + Duration::from_millis(15 * (WARM_UP + cycles) as u64);
    let _w = watchdog("memory_is_flat_across_open_write_read_close_cycles", limit);
    let echo = echo_server();
    let url = echo.url();
    let small = text_payload(100, 1);
    let medium = binary_payload(4096, 2);
    let large = binary_payload(256 * 1024, 3);

    let t0 = Instant::now();
    for i in 0..WARM_UP {
        cycle(&url, i, &small, &medium, &large);
    }
    let warm = t0.elapsed();
    settle();
    let (rss0, fds0) = (rss_bytes(), open_fds());

    let t1 = Instant::now();
    let mut batches = Vec::new(); // ms per 1,000 cycles: shows a slowdown
    let mut tb = Instant::now();
    for i in 0..cycles {
        cycle(&url, i, &small, &medium, &large);
        if (i + 1) % 1000 == 0 {
            batches.push(tb.elapsed().as_millis());
            tb = Instant::now();
        }
    }
    let run = t1.elapsed();
    settle();
    let (rss1, fds1) = (rss_bytes(), open_fds());

    let growth = rss1.saturating_sub(rss0);
    let bound = if cycles >= CYCLES { BOUND } else { (BOUND * cycles as u64 / CYCLES as u64).max(2 << 20) };
    eprintln!(
        "memory: warm-up {WARM_UP} cycles in {warm:?}; {cycles} cycles in {run:?} ({:.2} ms/cycle); \
         VmRSS {} KiB -> {} KiB (growth {} KiB, bound {} KiB); fds {fds0} -> {fds1}; \
         ms per 1000 cycles: {batches:?}",
        run.as_secs_f64() * 1000.0 / cycles as f64,
        rss0 >> 10,
        rss1 >> 10,
        growth >> 10,
        bound >> 10
    );
    assert!(
        growth < bound,
        "VmRSS grew by {} KiB over {cycles} cycles (bound {} KiB): a per-connection leak",
        growth >> 10,
        bound >> 10
    );
    assert!(fds1 <= fds0 + 4, "open file descriptors went from {fds0} to {fds1}: a socket leak");
}
