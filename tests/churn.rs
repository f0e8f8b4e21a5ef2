//! Leaks, measured exactly: this test binary counts every byte the library
//! allocates (a counting global allocator; the library is linked in) and
//! every descriptor the process holds, while host-program threads churn
//! through random open / write / read / reconnect / close / queue / callback
//! sequences against an echo server in another process. After every round
//! (everything closed), descriptors and live heap must be back where they
//! started. Also: a server that floods pings and never reads cannot grow
//! our memory (pongs are bounded).
//!
//! Default: 30 s of churn. `WSCLIENT_CHURN_SECS=600` for the long run.

mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::ffi::{c_int, c_void};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};
use support::*;

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

/// Live allocations by size (exact below 4096 bytes, else by power of two
/// from index 4096 on): WSCLIENT_CHURN_TRACE shows which sizes grew.
static SIZES: [AtomicIsize; 4096 + 64] = [const { AtomicIsize::new(0) }; 4096 + 64];

fn size_slot(n: usize) -> usize {
    if n < 4096 {
        n
    } else {
        4096 + (usize::BITS - n.leading_zeros()) as usize
    }
}

// SAFETY: forwards to the system allocator and only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.alloc(l) };
        if !p.is_null() {
            LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
            SIZES[size_slot(l.size())].fetch_add(1, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(p, l) };
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        SIZES[size_slot(l.size())].fetch_sub(1, Ordering::Relaxed);
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.alloc_zeroed(l) };
        if !p.is_null() {
            LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
            SIZES[size_slot(l.size())].fetch_add(1, Ordering::Relaxed);
        }
        p
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let q = unsafe { System.realloc(p, l, new) };
        if !q.is_null() {
            LIVE.fetch_add(new as isize - l.size() as isize, Ordering::Relaxed);
            SIZES[size_slot(l.size())].fetch_sub(1, Ordering::Relaxed);
            SIZES[size_slot(new)].fetch_add(1, Ordering::Relaxed);
        }
        q
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// The tests of this binary measure the whole process: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

struct EchoProc {
    child: Child,
    port: u16,
}

impl Drop for EchoProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn echo_process() -> EchoProc {
    let mut child = Command::new(env!("CARGO_BIN_EXE_wsclient-echo-server"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start wsclient-echo-server");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).expect("LISTENING line");
    let port = line.trim().strip_prefix("LISTENING ").and_then(|p| p.parse().ok()).expect("LISTENING <port>");
    EchoProc { child, port }
}

/// Waits (bounded) for the heap and descriptors to settle back to a
/// baseline: background work (timers, a connection closing) may finish a
/// moment after the last call returned.
fn settle(heap0: isize, fds0: usize, slack: isize, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (h, f) = (live() - heap0, open_fds());
        if h <= slack && f <= fds0 {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: {h} bytes more live heap, {f} descriptors (was {fds0})");
        thread::sleep(Duration::from_millis(20));
    }
}

extern "C" fn count_cb(_ev: *const ws_event, user: *mut c_void) {
    // SAFETY: `user` is a static AtomicUsize.
    unsafe { &*(user as *const AtomicUsize) }.fetch_add(1, Ordering::Relaxed);
}

static CALLS: AtomicUsize = AtomicUsize::new(0);

/// One host thread's random sequence for `dur`.
fn churn_thread(port: u16, seed: u64, dur: Duration) {
    let url = format!("ws://127.0.0.1:{port}/");
    let mut rng = Rng::new(seed);
    let mut socks: Vec<c_int> = Vec::new();
    let mut queues: Vec<c_int> = Vec::new();
    let end = Instant::now() + dur;
    while Instant::now() < end {
        let pick = |rng: &mut Rng, v: &[c_int]| v[rng.below(v.len() as u64) as usize];
        match rng.below(12) {
            0 | 1 => {
                let opts = match rng.below(4) {
                    0 => r#"{"timeout":2000}"#.to_string(),
                    1 => r#"{"timeout":2000,"autoReconnect":{"initialDelay":20}}"#.to_string(),
                    _ if !queues.is_empty() => format!(r#"{{"timeout":2000,"queue":{}}}"#, pick(&mut rng, &queues)),
                    _ => r#"{"timeout":2000,"pingInterval":50,"pongTimeout":500}"#.to_string(),
                };
                let s = if rng.below(2) == 0 { open(&url, Some(&opts)) } else { open_async(&url, Some(&opts)) };
                if s > 0 {
                    socks.push(s);
                }
            }
            2..=4 if !socks.is_empty() => {
                let s = pick(&mut rng, &socks);
                let n = rng.below(70_000) as usize;
                let _ = write(s, &binary_payload(n, seed), WS_BINARY);
                let _ = read(s, rng.below(50) as c_int);
            }
            5 if !socks.is_empty() => {
                let s = pick(&mut rng, &socks);
                let _ = ws_reconnect(s, rng.below(2) as c_int);
            }
            6 | 7 if !socks.is_empty() => {
                let i = rng.below(socks.len() as u64) as usize;
                let _ = close(socks.swap_remove(i));
            }
            8 => queues.push(ws_queue_create()),
            9 if !queues.is_empty() => {
                let q = pick(&mut rng, &queues);
                let cb = if rng.below(2) == 0 { None } else { Some(count_cb as extern "C" fn(_, _)) };
                let _ = ws_queue_set_callback(q, cb, &CALLS as *const AtomicUsize as *mut c_void);
            }
            10 if !queues.is_empty() => {
                let q = pick(&mut rng, &queues);
                // SAFETY: all-zero is a valid ws_event
                let mut ev: ws_event = unsafe { std::mem::zeroed() };
                let _ = ws_next_event(q, &mut ev, 0);
            }
            11 if !queues.is_empty() && rng.below(4) == 0 => {
                let i = rng.below(queues.len() as u64) as usize;
                let _ = ws_queue_destroy(queues.swap_remove(i));
            }
            _ if !socks.is_empty() => {
                let _ = ws_ping(pick(&mut rng, &socks), b"p".as_ptr().cast(), 1);
            }
            _ => {}
        }
    }
    if !socks.is_empty() {
        assert_eq!(ws_close_many(socks.as_ptr(), socks.len(), 0, std::ptr::null(), 2000), WS_OK, "{}", describe());
    }
    for q in queues {
        assert_eq!(ws_queue_destroy(q), WS_OK);
    }
}

#[test]
fn churn_returns_descriptors_and_heap_after_every_round() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let total: u64 = std::env::var("WSCLIENT_CHURN_SECS").ok().and_then(|v| v.parse().ok()).unwrap_or(30);
    let _w = watchdog("churn_returns_descriptors_and_heap_after_every_round", Duration::from_secs(total + 120));
    let echo = echo_process();
    let round = Duration::from_secs(5);
    let rounds = (total / 5).max(2);
    // round 0 warms up what lives as long as the process (threads, tables)
    let mut baseline: Option<(isize, usize)> = None;
    let mut sizes0: Vec<isize> = Vec::new();
    for r in 0..rounds {
        let threads: Vec<_> = (0..4u64)
            .map(|t| {
                let port = echo.port;
                thread::spawn(move || churn_thread(port, 1000 * r + t, round))
            })
            .collect();
        for t in threads {
            t.join().expect("a churn thread failed");
        }
        match baseline {
            None => {
                // let the warm-up settle, then measure from here
                thread::sleep(Duration::from_millis(300));
                baseline = Some((live(), open_fds()));
                sizes0 = SIZES.iter().map(|a| a.load(Ordering::Relaxed)).collect();
            }
            Some((h, f)) => {
                if let Some(t) = std::env::var_os("WSCLIENT_CHURN_TRACE") {
                    let wait = t.to_str().and_then(|t| t.parse().ok()).unwrap_or(500);
                    thread::sleep(Duration::from_millis(wait));
                    eprintln!("round {r}: heap {:+} fds {}", live() - h, open_fds());
                    for (i, a) in SIZES.iter().enumerate() {
                        let d = a.load(Ordering::Relaxed) - sizes0[i];
                        if d != 0 {
                            eprintln!("  size slot {i}: {d:+}");
                        }
                    }
                    continue;
                }
                settle(h, f, 64 * 1024, &format!("after round {r}"))
            }
        }
    }
}

#[test]
fn a_ping_flood_from_a_server_that_never_reads_cannot_grow_our_memory() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let _w = watchdog("a_ping_flood_from_a_server_that_never_reads_cannot_grow_our_memory", Duration::from_secs(60));
    // 125-byte pings, prebuilt, sent without reading a byte of the answers
    let mut burst = Vec::new();
    for _ in 0..1000 {
        burst.extend_from_slice(&encode(0x89, &[b'p'; 125], None));
    }
    let srv = serve_ws(move |p| {
        let _ = p.stream.set_write_timeout(Some(Duration::from_secs(2)));
        let mut sent = 0usize;
        while sent < 64 << 20 {
            if p.stream.write_all(&burst).is_err() {
                break;
            }
            sent += burst.len();
        }
        sent
    });
    let s = open_ok(&srv.url("/"), Some(r#"{"pingInterval":0}"#));
    let before = live();
    let sent = srv.join();
    let grew = live() - before;
    assert!(sent >= 32 << 20, "the flood reached only {sent} bytes");
    assert!(grew < 2 << 20, "{sent} bytes of pings grew the live heap by {grew} bytes");
    let _ = ws_close(s, 0, std::ptr::null());
    let _ = std::io::stdout().flush();
}

static HOLD: Mutex<Option<std::sync::mpsc::Receiver<()>>> = Mutex::new(None);

extern "C" fn blocking_cb(ev: *const ws_event, _user: *mut c_void) {
    // SAFETY: the event is valid during the call.
    if unsafe { (*ev).r#type } == WS_EV_MESSAGE {
        if let Some(rx) = HOLD.lock().ok().and_then(|mut h| h.take()) {
            let _ = rx.recv_timeout(Duration::from_secs(30));
        }
    }
}

#[test]
fn a_callback_queue_honours_the_queue_byte_limit() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let _w = watchdog("a_callback_queue_honours_the_queue_byte_limit", Duration::from_secs(90));
    let (release, hold) = std::sync::mpsc::channel();
    *HOLD.lock().unwrap() = Some(hold);
    let chunk = vec![0x5au8; 1 << 20];
    let frame = encode(0x82, &chunk, None);
    let srv = serve_ws(move |p| {
        let _ = p.stream.set_write_timeout(Some(Duration::from_secs(2)));
        let mut sent = 0usize;
        while sent < 160 << 20 {
            if p.stream.write_all(&frame).is_err() {
                break;
            }
            sent += chunk.len();
        }
        sent
    });
    let q = ws_queue_create();
    assert_eq!(ws_queue_set_callback(q, Some(blocking_cb), std::ptr::null_mut()), WS_OK);
    let before = live();
    let s = open_ok(&srv.url("/"), Some(&format!(r#"{{"queue":{q},"pingInterval":0}}"#)));
    // the callback holds the first message; the server pushes until TCP stops it
    let sent = srv.join();
    let grew = live() - before;
    assert!(grew < (64 + 12) << 20, "the client buffered {grew} bytes for a blocked callback (limit 64 MiB)");
    assert!(sent < 150 << 20, "the server could send {sent} bytes: nothing pushed back");
    let _ = release.send(());
    let _ = ws_close(s, 0, std::ptr::null());
    assert_eq!(ws_queue_set_callback(q, None, std::ptr::null_mut()), WS_OK);
    assert_eq!(ws_queue_destroy(q), WS_OK);
}
