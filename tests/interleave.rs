//! "One owner for a connection's lifetime": the two races that used to leave
//! a live connection nobody could close, forced at the exact point inside
//! the transition with the library's test-only pause points
//! (`wsclient::internals::hooks`), not with sleeps. The hook is global, so
//! the tests of this file run one at a time.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::Duration;
use support::*;
use wsclient::internals::hooks::{self, Point};

static SERIAL: Mutex<()> = Mutex::new(());

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// Installs a hook that holds the first visit of `at` on socket `*which`
/// (0: any socket) until the returned sender is used (or 15 s pass); the
/// receiver hears when it is reached. Removed when the guard drops.
struct Pause {
    reached: mpsc::Receiver<()>,
    go: mpsc::Sender<()>,
}

impl Drop for Pause {
    fn drop(&mut self) {
        let _ = self.go.send(());
        hooks::clear();
    }
}

fn pause_at(at: Point, which: Arc<std::sync::atomic::AtomicI32>) -> Pause {
    let (reached_tx, reached) = mpsc::channel();
    let (go, go_rx) = mpsc::channel::<()>();
    let once = AtomicBool::new(false);
    let (reached_tx, go_rx) = (Mutex::new(reached_tx), Mutex::new(go_rx));
    hooks::set(move |p, socket| {
        let w = which.load(Ordering::SeqCst);
        if p != at || (w != 0 && w != socket) || once.swap(true, Ordering::SeqCst) {
            return;
        }
        let _ = reached_tx.lock().unwrap().send(());
        let _ = go_rx.lock().unwrap().recv_timeout(secs(15));
    });
    Pause { reached, go }
}

/// Waits for every connection the server accepted to report whether the
/// client closed it; `n` at least.
fn closed_by_client(done: &mpsc::Receiver<(usize, bool)>, n: usize) -> Vec<(usize, bool)> {
    let mut seen = Vec::new();
    while let Ok(r) = done.recv_timeout(secs(15)) {
        seen.push(r);
        let accepted = seen.iter().map(|(i, _)| i + 1).max().unwrap_or(0);
        if seen.len() >= n && seen.len() == accepted {
            break;
        }
    }
    seen
}

#[test]
fn ws_close_while_an_async_attach_is_paused_leaves_no_connection() {
    let _s = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let _w = watchdog("ws_close_while_an_async_attach_is_paused_leaves_no_connection", secs(60));
    // warm up the library's threads and descriptors (reactor, pools)
    let (warm_port, warm) = serve_parallel(|_, p| client_closes_tcp(p, secs(10)));
    let w = open_ok(&format!("ws://127.0.0.1:{warm_port}/"), Some(r#"{"pingInterval":0}"#));
    close_ok(w);
    assert_eq!(closed_by_client(&warm, 1).len(), 1);
    let (port, done) = serve_parallel(|_, p| client_closes_tcp(p, secs(10)));
    let url = format!("ws://127.0.0.1:{port}/");
    let fds = open_fds();

    let pause = pause_at(Point::AttachBeforeLock, Arc::default());
    let s = open_async_ok(&url, Some(r#"{"pingInterval":0}"#));
    pause.reached.recv_timeout(secs(10)).expect("the attempt reaches attach");
    // the upgrade is done and the connection built; the socket is closed
    // before attach takes the socket's locks
    close_ok(s);
    drop(pause); // attach goes on: it must find the number closed and drop the connection
    let seen = closed_by_client(&done, 1);
    assert_eq!(seen.len(), 1, "connections: {seen:?}");
    assert!(seen[0].1, "the connection attached after ws_close was left open");
    assert_eq!(ws_state(s), WS_ERROR, "the number is gone");
    // descriptors: back to the start once the dropped connection is freed
    let ok = (0..200).any(|_| {
        if open_fds() <= fds {
            return true;
        }
        thread::sleep(Duration::from_millis(10)); // polling a count, not synchronising
        false
    });
    assert!(ok, "descriptors {} -> {}", fds, open_fds());
}

#[test]
fn a_reconnect_while_another_is_paused_after_releasing_leaves_no_connection() {
    let _s = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let _w = watchdog("a_reconnect_while_another_is_paused_after_releasing_leaves_no_connection", secs(60));
    let (port, done) = serve_parallel(|_, p| client_closes_tcp(p, secs(12)));
    let url = format!("ws://127.0.0.1:{port}/");
    let s = open_ok(&url, Some(r#"{"pingInterval":0,"closeTimeout":3000}"#));
    let fds = open_fds();

    let which = Arc::new(std::sync::atomic::AtomicI32::new(s));
    let pause = pause_at(Point::ReconnectReleased, which);
    // A: releases connection 0, then is held before closing it
    let a = thread::spawn(move || ws_reconnect(s, 0));
    pause.reached.recv_timeout(secs(10)).expect("reconnect A released the first connection");
    // B: runs to the end meanwhile (connection 1 attached)
    assert_eq!(ws_reconnect(s, 0), WS_OK, "reconnect B: {}", describe());
    assert_eq!(state_name(ws_state(s)), "OPEN");
    drop(pause);
    // A closes connection 0; its own attempt (connection 2) is superseded by
    // B's and must be dropped, not attached over connection 1
    let ra = a.join().unwrap();
    assert!(ra == WS_OK || ra == WS_ERROR, "reconnect A: {ra}");
    assert_eq!(state_name(ws_state(s)), "OPEN", "{}", describe());
    // the socket still talks to the server over exactly one connection
    write_ok(s, b"after both", WS_TEXT);
    close_ok(s);
    let seen = closed_by_client(&done, 3);
    assert_eq!(seen.len(), 3, "connections 0 (released), 1 (B), 2 (A's, superseded): {seen:?}");
    assert!(seen.iter().all(|(_, closed)| *closed), "a connection was left open: {seen:?}");
    let ok = (0..200).any(|_| {
        if open_fds() < fds {
            return true;
        }
        thread::sleep(Duration::from_millis(10)); // polling a count, not synchronising
        false
    });
    assert!(ok, "descriptors {} -> {} (the socket's own connection is gone too)", fds, open_fds());
}
