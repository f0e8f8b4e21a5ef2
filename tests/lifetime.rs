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
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = &N;
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

// ---- nothing lost across a reconnect ------------------------------------------------

/// Waits (bounded) until `cond` holds; panics with `what` otherwise.
#[track_caller]
fn wait_until(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        thread::sleep(ms(5));
    }
}

const N: usize = 5;

/// Connection 0 sends N messages and closes with 1000 "bye"; connection 1
/// sends "second life" and answers the client's close.
fn two_lives() -> Server<Vec<()>> {
    serve_ws_conns(2, |i, p| {
        if i == 0 {
            for k in 0..N {
                p.text(&format!("message {k}"));
            }
            p.close(1000, "bye");
            let _ = p.read_until_close(secs(5));
            let _ = p.stream.shutdown(std::net::Shutdown::Both);
        } else {
            p.text("second life");
            let (f, _) = p.read_until_close(secs(10));
            if let Some(f) = f {
                p.frame(true, OP_CLOSE, &f.payload);
            }
            let _ = p.wait_eof(secs(3));
        }
    })
}

const AUTO: &str = r#""autoReconnect":{"initialDelay":50},"pingInterval":0"#;

#[test]
fn auto_reconnect_delivers_everything_then_the_end_then_the_next_connection() {
    let _w = watchdog("auto_reconnect_delivers_everything_then_the_end_then_the_next_connection", secs(30));
    let srv = two_lives();
    let s = open_ok(&srv.url("/"), Some(&format!("{{{AUTO}}}")));
    // the program does not read until the library has reconnected: the first
    // connection's messages and end were read ahead by the background thread
    wait_until(secs(10), "reconnected", || get_info(s).reconnects == 1);
    for k in 0..N {
        assert_eq!(read_msg(s, 2000).1, format!("message {k}").as_bytes());
    }
    assert_eq!(read(s, 2000), Got::Closed, "the end of the first connection, once");
    assert_eq!(read_msg(s, 2000).1, b"second life");
    assert!(matches!(read(s, 100), Got::Timeout(_)));
    close_ok(s);
    srv.join();
}

#[test]
fn auto_reconnect_delivers_everything_in_order_through_a_queue() {
    let _w = watchdog("auto_reconnect_delivers_everything_in_order_through_a_queue", secs(30));
    let srv = two_lives();
    let q = queue_create();
    let s = open_ok(&srv.url("/"), Some(&format!(r#"{{"queue":{q},{AUTO}}}"#)));
    let mut got = Vec::new();
    let deadline = Instant::now() + secs(10);
    while !got.iter().any(|e: &Event| e.ty == WS_EV_MESSAGE && e.data == b"second life") {
        assert!(Instant::now() < deadline, "events so far: {:?}", got.iter().map(Event::brief).collect::<Vec<_>>());
        if let Ok(e) = next_event(q, 200) {
            got.push(e);
        }
    }
    close_ok(s);
    check_two_lives(&got);
    assert_eq!(ws_queue_destroy(q), WS_OK);
    srv.join();
}

fn check_two_lives(got: &[Event]) {
    let names: Vec<String> = got.iter().map(Event::brief).collect();
    let kinds: Vec<&str> = got.iter().map(|e| ev_name(e.ty)).collect();
    let mut want = vec!["OPEN"];
    want.extend(std::iter::repeat_n("MESSAGE", N));
    want.extend(["CLOSE", "RECONNECTING", "OPEN", "MESSAGE"]);
    assert_eq!(kinds, want, "{names:?}");
    for (k, e) in got[1..=N].iter().enumerate() {
        assert_eq!(e.data, format!("message {k}").as_bytes());
    }
    let close = &got[N + 1];
    assert_eq!((close.code, close.text().as_str(), close.closed_by), (1000, "bye", WS_BY_SERVER), "{names:?}");
}

/// Records events for a callback (never panics).
struct Log(Mutex<Vec<Event>>);

extern "C" fn log_cb(ev: *const ws_event, user: *mut c_void) {
    // SAFETY: `user` is the leaked Log; the event is valid during the call.
    let (log, ev) = unsafe { (&*(user as *const Log), Event::from_c(&*ev)) };
    if let Ok(mut v) = log.0.lock() {
        v.push(ev);
    }
}

#[test]
fn auto_reconnect_delivers_everything_in_order_to_a_callback() {
    let _w = watchdog("auto_reconnect_delivers_everything_in_order_to_a_callback", secs(30));
    let srv = two_lives();
    let q = queue_create();
    static LOG: Log = Log(Mutex::new(Vec::new()));
    let log: &'static Log = &LOG;
    assert_eq!(ws_queue_set_callback(q, Some(log_cb), log as *const Log as *mut c_void), WS_OK);
    let s = open_ok(&srv.url("/"), Some(&format!(r#"{{"queue":{q},{AUTO}}}"#)));
    wait_until(secs(10), "the second life arrived", || {
        log.0.lock().unwrap().iter().any(|e| e.ty == WS_EV_MESSAGE && e.data == b"second life")
    });
    close_ok(s);
    assert_eq!(ws_queue_set_callback(q, None, std::ptr::null_mut()), WS_OK);
    let got = log.0.lock().unwrap().clone();
    check_two_lives(&got[..N + 5]);
    assert_eq!(ws_queue_destroy(q), WS_OK);
    srv.join();
}

#[test]
fn a_lent_message_stays_valid_across_a_background_reconnect() {
    let _w = watchdog("a_lent_message_stays_valid_across_a_background_reconnect", secs(30));
    let big = binary_payload(4 << 20, 7);
    let big2 = big.clone();
    let srv = serve_ws_conns(2, move |i, p| {
        if i == 0 {
            p.binary(&big2);
            p.close(1001, "restart");
            let _ = p.read_until_close(secs(5));
            let _ = p.stream.shutdown(std::net::Shutdown::Both);
        } else {
            p.text("again");
            let _ = p.read_until_close(secs(10));
        }
    });
    let s = open_ok(&srv.url("/"), Some(&format!("{{{AUTO}}}")));
    let mut data: *const c_void = std::ptr::null();
    let (mut len, mut ty) = (0usize, 0);
    assert_eq!(ws_read(s, &mut data, &mut len, &mut ty, 5000), WS_OK, "{}", describe());
    assert_eq!(len, big.len());
    // the connection that delivered it ends and is replaced meanwhile
    wait_until(secs(10), "reconnected", || get_info(s).reconnects == 1);
    // SAFETY: the header: valid until the next read on this socket or its close
    let lent = unsafe { std::slice::from_raw_parts(data.cast::<u8>(), len) };
    assert_same_bytes(lent, &big, "the lent message after the reconnect");
    assert_eq!(read(s, 2000), Got::Closed);
    assert_eq!(read_msg(s, 2000).1, b"again");
    close_ok(s);
    srv.join();
}

#[test]
fn a_kept_message_survives_a_health_check_failure_and_is_counted_once() {
    let _w = watchdog("a_kept_message_survives_a_health_check_failure_and_is_counted_once", secs(30));
    let (hold_tx, hold_rx) = mpsc::channel::<()>();
    let srv = serve_ws(move |p| {
        p.binary(&[7u8; 1000]);
        p.text("after");
        // then silence: no pongs, no close, until the test is done
        let _ = hold_rx.recv_timeout(secs(20));
    });
    let s = open_ok(&srv.url("/"), Some(r#"{"pingInterval":300,"pongTimeout":300}"#));
    for _ in 0..3 {
        let (r, n, _, _) = read_into(s, 10, 2000);
        assert_eq!((r, n), (WS_ERROR, 1000), "{}", describe());
        assert_error(WS_E_BUFFER_TOO_SMALL, &[]);
    }
    // the keepalive declares the server dead while the message is kept
    wait_until(secs(10), "the health check failed", || ws_state(s) == WS_STATE_CLOSED);
    let (r, n, ty, data) = read_into(s, 2000, 2000);
    assert_eq!((r, n, ty), (WS_OK, 1000, WS_BINARY), "{}", describe());
    assert_eq!(data, vec![7u8; 1000]);
    assert_eq!(read_msg(s, 2000).1, b"after", "a message received before the failure");
    assert_eq!(read(s, 2000), Got::Error(WS_E_HEALTH_CHECK), "{}", describe());
    let info = get_info(s);
    assert_eq!((info.messages_received, info.bytes_received), (2, 1005), "each message counted once");
    close_ok(s);
    drop(hold_tx);
    srv.join();
}

// ---- no connection without an owner ------------------------------------------------

/// A listener whose every connection runs `handler(index, peer)` on its own
/// thread; each handler's result arrives on the returned channel.
#[test]
fn two_concurrent_reconnects_leave_no_connection_behind() {
    let _w = watchdog("two_concurrent_reconnects_leave_no_connection_behind", secs(40));
    let (closing_tx, closing_rx) = mpsc::channel::<()>();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let closing_tx = Mutex::new(Some(closing_tx));
    let go_rx = Mutex::new(Some(go_rx));
    let (port, done) = serve_parallel(move |i, p| {
        if i == 0 {
            // hold reconnect A inside its closing handshake with this
            // connection until reconnect B has finished
            let (f, _) = p.read_until_close(secs(10));
            if let Some(tx) = closing_tx.lock().unwrap().take() {
                let _ = tx.send(());
            }
            if let Some(rx) = go_rx.lock().unwrap().take() {
                let _ = rx.recv_timeout(secs(10));
            }
            if let Some(f) = f {
                p.frame(true, OP_CLOSE, &f.payload);
                let _ = p.stream.shutdown(std::net::Shutdown::Write);
            }
        }
        client_closes_tcp(p, secs(8))
    });
    let url = format!("ws://127.0.0.1:{port}/");
    let s = open_ok(&url, Some(r#"{"closeTimeout":5000,"pingInterval":0}"#));
    let a = thread::spawn(move || ws_reconnect(s, 0));
    closing_rx.recv_timeout(secs(10)).expect("reconnect A is closing the first connection");
    assert_eq!(ws_reconnect(s, 0), WS_OK, "reconnect B: {}", describe());
    go_tx.send(()).unwrap();
    let ra = a.join().unwrap();
    assert!(ra == WS_OK || ra == WS_ERROR, "reconnect A: {ra}");
    assert_echo_works_or_open(s);
    close_ok(s);
    // every TCP connection the server saw was closed by the client
    let mut seen = Vec::new();
    while let Ok((i, closed)) = done.recv_timeout(secs(12)) {
        seen.push((i, closed));
        if seen.len() >= 2 && seen.iter().all(|(_, c)| *c) && seen.len() == count_accepted(&seen) {
            break;
        }
    }
    assert!(seen.len() >= 2, "connections seen: {seen:?}");
    assert!(seen.iter().all(|(_, closed)| *closed), "a connection was left open: {seen:?}");
}

fn count_accepted(seen: &[(usize, bool)]) -> usize {
    seen.iter().map(|(i, _)| i + 1).max().unwrap_or(0)
}

/// The socket is open after the reconnects and works.
fn assert_echo_works_or_open(s: c_int) {
    assert_eq!(state_name(ws_state(s)), "OPEN", "{}", describe());
}

#[test]
fn close_during_an_async_open_leaves_no_connection_behind() {
    let _w = watchdog("close_during_an_async_open_leaves_no_connection_behind", secs(30));
    let l = listener();
    let port = l.local_addr().unwrap().port();
    let (req_tx, req_rx) = mpsc::channel::<()>();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let srv = thread::spawn(move || {
        let mut s = accept_one(&l);
        let (req, _) = read_request(&mut s);
        req_tx.send(()).unwrap();
        go_rx.recv_timeout(secs(10)).unwrap();
        // the upgrade completes after the program closed the number
        use std::io::Write;
        s.write_all(response_101(&req, "").as_bytes()).unwrap();
        let mut p = Peer::new(s, req, Vec::new());
        client_closes_tcp(&mut p, secs(5))
    });
    let s = open_async_ok(&format!("ws://127.0.0.1:{port}/"), Some(r#"{"pingInterval":0}"#));
    req_rx.recv_timeout(secs(10)).expect("the upgrade request");
    close_ok(s);
    go_tx.send(()).unwrap();
    assert!(srv.join().unwrap(), "the connection completed after ws_close was left open");
}

// ---- deadlines hold whatever arrives -------------------------------------------------

#[test]
fn a_read_deadline_holds_while_pings_keep_coming() {
    let _w = watchdog("a_read_deadline_holds_while_pings_keep_coming", secs(30));
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let srv = serve_ws(move |p| {
        use std::io::Write;
        let frame = encode(0x89, b"flood", None);
        while !stop2.load(Ordering::Relaxed) {
            if p.stream.write_all(&frame).is_err() {
                break;
            }
        }
    });
    let s = open_ok(&srv.url("/"), Some(r#"{"pingInterval":0}"#));
    for timeout in [0, 100, 300] {
        let (r, took) = timed(|| read(s, timeout));
        assert!(matches!(r, Got::Timeout(_)), "{r:?}");
        assert_between(took, timeout as u64, timeout as u64 + 250, "a read timeout under a ping flood");
    }
    stop.store(true, Ordering::Relaxed);
    let _ = close(s);
    srv.join();
}

#[test]
fn a_close_deadline_holds_while_data_keeps_coming() {
    let _w = watchdog("a_close_deadline_holds_while_data_keeps_coming", secs(30));
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let srv = serve_ws(move |p| {
        // never answers the close; keeps sending
        use std::io::Write;
        let frame = encode(0x81, b"more", None);
        while !stop2.load(Ordering::Relaxed) {
            if p.stream.write_all(&frame).is_err() {
                break;
            }
        }
    });
    let s = open_ok(&srv.url("/"), Some(r#"{"pingInterval":0,"closeTimeout":300}"#));
    let (r, took) = timed(|| close(s));
    assert_eq!(r, WS_OK);
    assert_between(took, 250, 700, "closeTimeout 300 under a flood");
    stop.store(true, Ordering::Relaxed);
    srv.join();
}

// ---- event queues: one lent event per consumer -----------------------------------------

#[test]
fn one_consumer_never_frees_another_consumers_event() {
    let _w = watchdog("one_consumer_never_frees_another_consumers_event", secs(30));
    let echo = echo_server();
    let q = queue_create();
    let s = open_ok(&echo.url(), Some(&format!(r#"{{"queue":{q}}}"#)));
    assert_eq!(expect_event(q, 3000).ty, WS_EV_OPEN);
    write_ok(s, &[b'a'; 4096], WS_BINARY);
    write_ok(s, &[b'b'; 4096], WS_BINARY);
    // SAFETY: all-zero is a valid ws_event
    let mut ev: ws_event = unsafe { std::mem::zeroed() };
    assert_eq!(ws_next_event(q, &mut ev, 3000), WS_OK);
    let (data, len) = (ev.data as usize, ev.len);
    let other = thread::spawn(move || {
        // SAFETY: as above
        let mut ev2: ws_event = unsafe { std::mem::zeroed() };
        let r = ws_next_event(q, &mut ev2, 3000);
        // SAFETY: lent to this thread until its next call on the queue
        let first = unsafe { *(ev2.data as *const u8) };
        (r, first)
    });
    assert_eq!(other.join().unwrap(), (WS_OK, b'b'));
    // SAFETY: this thread's event stays valid until this thread's next call
    let mine = unsafe { std::slice::from_raw_parts(data as *const u8, len) };
    assert!(mine.iter().all(|&b| b == b'a'), "the first consumer's event was freed by the second");
    close_ok(s);
    assert_eq!(ws_queue_destroy(q), WS_OK);
}

// ---- the state machine, edge by edge ------------------------------------------------

/// Events of `q` until `last` (inclusive) or `limit`, as names.
fn names_until(q: c_int, limit: Duration, last: c_int) -> Vec<&'static str> {
    let deadline = Instant::now() + limit;
    let mut out = Vec::new();
    while Instant::now() < deadline {
        if let Ok(e) = next_event(q, 100) {
            out.push(ev_name(e.ty));
            if e.ty == last {
                break;
            }
        }
    }
    out
}

/// A server that accepts every connection, sends "hi", and closes first
/// (1000) when told through `close_now` (or answers the client's close).
fn hi_server() -> (u16, mpsc::Receiver<(usize, bool)>) {
    serve_parallel(|_, p| {
        p.text("hi");
        client_closes_tcp(p, secs(8))
    })
}

#[test]
fn every_edge_of_the_state_machine() {
    let _w = watchdog("every_edge_of_the_state_machine", secs(90));
    let (port, _) = hi_server();
    let live = format!("ws://127.0.0.1:{port}/");
    let dead = format!("ws://127.0.0.1:{}/", refused_port());
    let server_closes = serve_ws_conns(1, |_, p| {
        p.text("bye soon");
        p.close(1000, "done");
        let _ = p.read_until_close(secs(5));
    });
    let closing_url = server_closes.url("/");
    type Case = (&'static str, Box<dyn Fn(c_int) -> Vec<&'static str>>);
    let q = queue_create();
    let o = |extra: &str| format!(r#"{{"queue":{q},"pingInterval":0{extra}}}"#);
    let cases: Vec<Case> = vec![
        (
            "Connecting -> Open (async open succeeds)",
            Box::new({
                let (live, o) = (live.clone(), o(""));
                move |q| {
                    let s = open_async_ok(&live, Some(&o));
                    let mut n = names_until(q, secs(5), WS_EV_MESSAGE);
                    assert_eq!(state_name(ws_state(s)), "OPEN");
                    close_ok(s);
                    n.extend(names_until(q, secs(5), WS_EV_CLOSE));
                    n
                }
            }),
        ),
        (
            "Connecting -> Ended (attempt fails, no reconnect)",
            Box::new({
                let (dead, o) = (dead.clone(), o(""));
                move |q| {
                    let s = open_async_ok(&dead, Some(&o));
                    let n = names_until(q, secs(5), WS_EV_CLOSE);
                    assert_eq!(state_name(ws_state(s)), "CLOSED");
                    assert_eq!(write(s, b"x", WS_TEXT), WS_ERROR);
                    assert_error(WS_E_NOT_OPEN, &["connection attempt failed"]);
                    close_ok(s);
                    n
                }
            }),
        ),
        (
            "Connecting -> Waiting -> Connecting ... (attempts fail, reconnect planned)",
            Box::new({
                let (dead, o) = (dead.clone(), o(r#","autoReconnect":{"initialDelay":20,"maxAttempts":2}"#));
                move |q| {
                    let s = open_async_ok(&dead, Some(&o));
                    let n = names_until(q, secs(5), WS_EV_CLOSE);
                    assert_eq!(state_name(ws_state(s)), "CLOSED", "after the last attempt");
                    close_ok(s);
                    n
                }
            }),
        ),
        (
            "Connecting (stale) -> dropped; ws_reconnect wins",
            Box::new({
                let o = o("");
                move |q| {
                    // the first attempt's upgrade is held by the server until
                    // ws_reconnect has finished: it is stale when it completes
                    let l = listener();
                    let url = format!("ws://127.0.0.1:{}/", l.local_addr().unwrap().port());
                    let (go_tx, go_rx) = mpsc::channel::<()>();
                    let (first_tx, first_rx) = mpsc::channel::<()>();
                    let srv = thread::spawn(move || {
                        let first = accept_one(&l);
                        first_tx.send(()).unwrap();
                        let mut second = upgrade_peer(accept_one(&l));
                        second.text("hi");
                        let _ = go_rx.recv_timeout(secs(10));
                        let mut first = upgrade_peer(first);
                        let stale_closed = client_closes_tcp(&mut first, secs(5));
                        (stale_closed, client_closes_tcp(&mut second, secs(5)))
                    });
                    let s = open_async_ok(&url, Some(&o));
                    first_rx.recv_timeout(secs(5)).expect("the async attempt connected");
                    assert_eq!(ws_reconnect(s, 0), WS_OK, "{}", describe());
                    let n = names_until(q, secs(5), WS_EV_MESSAGE);
                    go_tx.send(()).unwrap();
                    assert_eq!(get_info(s).reconnects, 0, "the first attempt never counted");
                    close_ok(s);
                    let (stale_closed, _) = srv.join().unwrap();
                    assert!(stale_closed, "the stale attempt's connection was closed");
                    let mut n2 = n.clone();
                    n2.extend(names_until(q, secs(5), WS_EV_CLOSE));
                    n2
                }
            }),
        ),
        (
            "Open -> Ended (server closes, no reconnect) -> Closed",
            Box::new({
                let (url, o) = (closing_url.clone(), o(""));
                move |q| {
                    let s = open_ok(&url, Some(&o));
                    let n = names_until(q, secs(5), WS_EV_CLOSE);
                    assert_eq!(state_name(ws_state(s)), "CLOSED");
                    assert_eq!(write(s, b"x", WS_TEXT), WS_ERROR);
                    assert_error(WS_E_CLOSED, &["closed by the server (1000 done)"]);
                    close_ok(s);
                    assert_no_event(q, 100, "after ws_close of an ended socket");
                    n
                }
            }),
        ),
        (
            "Open -> Connecting (ws_reconnect) -> Open -> Closed",
            Box::new({
                let (live, o) = (live.clone(), o(""));
                move |q| {
                    let s = open_ok(&live, Some(&o));
                    let mut n = names_until(q, secs(5), WS_EV_MESSAGE);
                    assert_eq!(ws_reconnect(s, 0), WS_OK);
                    n.extend(names_until(q, secs(5), WS_EV_MESSAGE));
                    assert_eq!(get_info(s).reconnects, 1);
                    close_ok(s);
                    n.extend(names_until(q, secs(5), WS_EV_CLOSE));
                    n
                }
            }),
        ),
        (
            "Waiting -> Closed (ws_close cancels the planned attempt)",
            Box::new({
                let (dead, o) = (dead.clone(), o(r#","autoReconnect":{"initialDelay":60000}"#));
                move |q| {
                    let s = open_async_ok(&dead, Some(&o));
                    let mut n = names_until(q, secs(5), WS_EV_RECONNECTING);
                    assert_eq!(state_name(ws_state(s)), "CONNECTING");
                    close_ok(s);
                    n.extend(names_until(q, secs(2), WS_EV_CLOSE));
                    n
                }
            }),
        ),
        (
            "Connecting -> Closed (ws_close during an async open)",
            Box::new({
                let o = o("");
                move |q| {
                    // a listener that never answers: the attempt waits
                    let l = listener();
                    let url = format!("ws://127.0.0.1:{}/", l.local_addr().unwrap().port());
                    let s = open_async_ok(&url, Some(&o));
                    assert_eq!(state_name(ws_state(s)), "CONNECTING");
                    close_ok(s);
                    let n = names_until(q, secs(2), WS_EV_CLOSE);
                    drop(l);
                    n
                }
            }),
        ),
    ];
    let want: [&[&str]; 8] = [
        &["OPEN", "MESSAGE", "CLOSE"],
        &["ERROR", "CLOSE"],
        &["ERROR", "RECONNECTING", "ERROR", "RECONNECTING", "ERROR", "CLOSE"],
        &["OPEN", "MESSAGE", "CLOSE"],
        &["OPEN", "MESSAGE", "CLOSE"],
        &["OPEN", "MESSAGE", "CLOSE", "OPEN", "MESSAGE", "CLOSE"],
        &["ERROR", "RECONNECTING", "CLOSE"],
        &["CLOSE"],
    ];
    for ((name, case), want) in cases.iter().zip(want) {
        let got = case(q);
        assert_eq!(got, want, "{name}");
        assert_no_event(q, 50, name);
    }
    assert_eq!(ws_queue_destroy(q), WS_OK);
    server_closes.join();
}
