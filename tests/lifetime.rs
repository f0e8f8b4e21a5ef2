//! Issues "Safety" (memory and lifetimes) and "One owner for a connection's
//! lifetime", through the exported C ABI against real servers on
//! 127.0.0.1: what the library lends stays valid as long as the header
//! says, nothing a server sent is lost across a reconnect, no connection
//! is left that nobody owns, callbacks stop when the host says so, every
//! wait keeps its deadline, and a forked child is safe. Interleavings are
//! forced with servers that hold a step until the test says so (channels),
//! not with sleeps.

mod support;

use std::ffi::{c_int, c_void};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};
use support::*;

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

// ---- ws_close_many ------------------------------------------------------------

#[test]
fn close_many_runs_every_closing_handshake_in_parallel() {
    let _w = watchdog("close_many_runs_every_closing_handshake_in_parallel", secs(30));
    // servers that never answer the close frame: each ws_close would take
    // its whole closeTimeout (400 ms); eight of them one after another 3.2 s
    let servers: Vec<_> = (0..8).map(|_| silent_ws_server(secs(6))).collect();
    let socks: Vec<c_int> =
        servers.iter().map(|s| open_ok(&s.url("/"), Some(r#"{"closeTimeout":400,"pingInterval":0}"#))).collect();
    let (r, took) = timed(|| ws_close_many(socks.as_ptr(), socks.len(), 1001, cs("bye").as_ptr(), -1));
    assert_eq!(r, WS_OK, "{}", describe());
    assert_between(took, 350, 1200, "eight closes of 400 ms in parallel");
    for s in &socks {
        assert_eq!(ws_state(*s), WS_ERROR, "released");
        assert_error(WS_E_BAD_SOCKET, &[]);
    }
    for srv in servers {
        let frames = srv.join();
        let close = frames.iter().find(|f| f.opcode == OP_CLOSE).expect("a close frame");
        assert_eq!(close.close_code(), Some((1001, "bye".to_string())));
    }
}

#[test]
fn close_many_keeps_one_budget_and_skips_numbers_that_are_not_open() {
    let _w = watchdog("close_many_keeps_one_budget_and_skips_numbers_that_are_not_open", secs(30));
    let servers: Vec<_> = (0..4).map(|_| silent_ws_server(secs(6))).collect();
    let mut socks: Vec<c_int> =
        servers.iter().map(|s| open_ok(&s.url("/"), Some(r#"{"closeTimeout":5000,"pingInterval":0}"#))).collect();
    socks.insert(1, 987_654);
    socks.push(socks[0]); // listed twice
    let (r, took) = timed(|| ws_close_many(socks.as_ptr(), socks.len(), 0, std::ptr::null(), 300));
    assert_eq!(r, WS_ERROR);
    assert_error(WS_E_BAD_SOCKET, &["2 of 6 socket numbers were not open"]);
    assert_between(took, 250, 1500, "one 300 ms budget for all");
    for s in [socks[0], socks[2], socks[3], socks[4]] {
        assert_eq!(ws_state(s), WS_ERROR, "closed although others were bad");
    }
    // bad arguments close nothing
    let s = open_ok(&echo_server().url(), None);
    assert_eq!(ws_close_many(&s, 1, 999, std::ptr::null(), 100), WS_ERROR);
    assert_error(WS_E_INVALID_ARGUMENT, &["close code 999"]);
    assert_eq!(ws_close_many(std::ptr::null(), 1, 0, std::ptr::null(), 100), WS_ERROR);
    assert_error(WS_E_INVALID_ARGUMENT, &["NULL"]);
    assert_eq!(ws_close_many(std::ptr::null(), 0, 0, std::ptr::null(), 100), WS_OK);
    assert_echo_works(s);
    assert_eq!(ws_close_many(&s, 1, 0, std::ptr::null(), -1), WS_OK);
    drop(servers);
}

// ---- callbacks: quiescence -------------------------------------------------------

/// Shared with the callback through `user`.
struct Gate {
    entered: Mutex<Option<mpsc::Sender<c_int>>>,
    release: Mutex<Option<mpsc::Receiver<()>>>,
    inside: AtomicBool,
    calls: AtomicUsize,
    /// Set by the test thread right after set_callback/destroy returned.
    returned: AtomicBool,
    /// A call was running when set_callback/destroy returned.
    overlap: AtomicBool,
}

extern "C" fn gate_cb(ev: *const ws_event, user: *mut c_void) {
    // SAFETY: `user` is the Gate the test keeps alive until it has checked.
    let g = unsafe { &*(user as *const Gate) };
    // SAFETY: the event is valid for the duration of the call.
    let ty = unsafe { (*ev).r#type };
    if g.returned.load(Ordering::SeqCst) {
        g.overlap.store(true, Ordering::SeqCst);
    }
    g.inside.store(true, Ordering::SeqCst);
    g.calls.fetch_add(1, Ordering::SeqCst);
    if ty == WS_EV_MESSAGE {
        if let Some(tx) = g.entered.lock().unwrap().take() {
            let _ = tx.send(ty);
            // hold this call until the test releases it (or 2 s pass)
            if let Some(rx) = g.release.lock().unwrap().take() {
                let _ = rx.recv_timeout(secs(2));
            }
        }
    }
    g.inside.store(false, Ordering::SeqCst);
}

fn gate() -> (Arc<Gate>, mpsc::Receiver<c_int>, mpsc::Sender<()>) {
    let (etx, erx) = mpsc::channel();
    let (rtx, rrx) = mpsc::channel();
    let g = Arc::new(Gate {
        entered: Mutex::new(Some(etx)),
        release: Mutex::new(Some(rrx)),
        inside: AtomicBool::new(false),
        calls: AtomicUsize::new(0),
        returned: AtomicBool::new(false),
        overlap: AtomicBool::new(false),
    });
    (g, erx, rtx)
}

fn quiescence_case(destroy: bool) {
    let echo = echo_server();
    let q = queue_create();
    let s = open_ok(&echo.url(), Some(&format!(r#"{{"queue":{q}}}"#)));
    let (g, entered, release) = gate();
    let user = Arc::as_ptr(&g) as *mut c_void;
    assert_eq!(ws_queue_set_callback(q, Some(gate_cb), user), WS_OK, "{}", describe());
    write_ok(s, b"first", WS_TEXT);
    entered.recv_timeout(secs(5)).expect("the callback runs");
    // more events wait behind the running call
    for i in 0..20 {
        write_ok(s, format!("more {i}").as_bytes(), WS_TEXT);
    }
    let g2 = g.clone();
    let detacher = thread::spawn(move || {
        let r = if destroy { ws_queue_destroy(q) } else { ws_queue_set_callback(q, None, std::ptr::null_mut()) };
        let was_inside = g2.inside.load(Ordering::SeqCst);
        g2.returned.store(true, Ordering::SeqCst);
        (r, was_inside)
    });
    // the detaching call must wait for the running callback: release it
    // only after 300 ms (if the call returned before, it did not wait)
    thread::sleep(ms(300));
    let _ = release.send(());
    let (r, was_inside) = detacher.join().unwrap();
    assert_eq!(r, WS_OK);
    assert!(!was_inside, "a callback was still running when the call returned");
    let calls = g.calls.load(Ordering::SeqCst);
    // no call with the old (cb, user) after it returned
    thread::sleep(ms(300));
    assert_eq!(g.calls.load(Ordering::SeqCst), calls, "callbacks after detach");
    assert!(!g.overlap.load(Ordering::SeqCst), "a callback started after detach");
    if !destroy {
        // what was not delivered stays in the queue, in order
        let first = expect_event(q, 2000);
        assert_eq!(first.ty, WS_EV_MESSAGE);
        assert!(first.text().starts_with("more "), "{}", first.brief());
    }
    close_ok(s);
    if !destroy {
        assert_eq!(ws_queue_destroy(q), WS_OK);
    }
}

#[test]
fn set_callback_null_waits_for_a_running_callback_and_stops_later_ones() {
    let _w = watchdog("set_callback_null_waits_for_a_running_callback_and_stops_later_ones", secs(30));
    quiescence_case(false);
}

#[test]
fn queue_destroy_waits_for_a_running_callback_and_stops_later_ones() {
    let _w = watchdog("queue_destroy_waits_for_a_running_callback_and_stops_later_ones", secs(30));
    quiescence_case(true);
}

extern "C" fn detach_self_cb(ev: *const ws_event, user: *mut c_void) {
    // SAFETY: `user` points to the test's AtomicUsize; the event is valid.
    let (n, ty) = unsafe { (&*(user as *const AtomicUsize), (*ev).r#type) };
    if ty == WS_EV_MESSAGE {
        n.fetch_add(1, Ordering::SeqCst);
        let r = ws_queue_set_callback(QUEUE.load(Ordering::SeqCst) as c_int, None, std::ptr::null_mut());
        if let Some(tx) = DETACHED.lock().unwrap().take() {
            let _ = tx.send(r);
        }
    }
}

static QUEUE: AtomicUsize = AtomicUsize::new(0);
static DETACHED: Mutex<Option<mpsc::Sender<c_int>>> = Mutex::new(None);

#[test]
fn a_callback_can_detach_itself_without_deadlock() {
    let _w = watchdog("a_callback_can_detach_itself_without_deadlock", secs(30));
    let echo = echo_server();
    let q = queue_create();
    QUEUE.store(q as usize, Ordering::SeqCst);
    let s = open_ok(&echo.url(), Some(&format!(r#"{{"queue":{q}}}"#)));
    let n = Box::leak(Box::new(AtomicUsize::new(0)));
    let (tx, detached) = mpsc::channel();
    *DETACHED.lock().unwrap() = Some(tx);
    assert_eq!(ws_queue_set_callback(q, Some(detach_self_cb), n as *const AtomicUsize as *mut c_void), WS_OK);
    write_ok(s, b"one", WS_TEXT);
    assert_eq!(detached.recv_timeout(secs(5)), Ok(WS_OK), "set_callback(NULL) from inside the callback returns");
    write_ok(s, b"two", WS_TEXT);
    // the second message is left for ws_next_event
    let e = loop {
        let e = expect_event(q, 5000);
        if e.ty == WS_EV_MESSAGE {
            break e;
        }
    };
    assert_eq!(e.data, b"two");
    assert_eq!(n.load(Ordering::SeqCst), 1);
    close_ok(s);
    assert_eq!(ws_queue_destroy(q), WS_OK);
}
