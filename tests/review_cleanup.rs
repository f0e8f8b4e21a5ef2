//! Regression test from the security review (failed on the main it
//! reviewed): ws_cleanup()
//! returns WS_OK ("every library thread has exited (unloading is then
//! safe)") while a wsclient-reactor thread runs: a connection attempt that
//! was in flight when ws_cleanup began finishes on a pool thread, and
//! Socket::attach calls reactor::get() (which starts a new reactor) before
//! it looks whether the socket was closed meanwhile.
//! Own test binary: ws_cleanup is process-wide.

mod support;

use std::io::Write;
use std::sync::mpsc;
use std::time::{Duration, Instant};
use support::*;

/// Threads of this process whose name starts with `prefix`.
fn threads_named(prefix: &str) -> Vec<String> {
    let mut v = Vec::new();
    for e in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        if let Ok(c) = std::fs::read_to_string(e.path().join("comm")) {
            if c.trim_end().starts_with(prefix) {
                v.push(c.trim_end().to_string());
            }
        }
    }
    v
}

#[test]
fn cleanup_leaves_no_library_thread_behind() {
    let _w = watchdog("cleanup_leaves_no_library_thread_behind", Duration::from_secs(60));
    let (req_tx, req_rx) = mpsc::channel::<()>();
    let srv = serve_tcp(move |mut s| {
        let (req, _) = read_request(&mut s);
        let _ = req_tx.send(());
        // Answer the upgrade only once ws_cleanup is surely past close_all
        // and reactor::stop (it then waits for the pool thread, which waits
        // for this answer). A too-early answer can only hide the bug.
        std::thread::sleep(Duration::from_millis(400));
        let _ = s.write_all(response_101(&req, "").as_bytes());
        let mut p = Peer::new(s, req, Vec::new());
        p.wait_eof(Duration::from_secs(5))
    });
    let s = open_async(&srv.url("/"), Some(r#"{"pingInterval":0}"#));
    assert!(s > 0, "{}", describe());
    req_rx.recv_timeout(Duration::from_secs(10)).expect("the upgrade request");
    let t0 = Instant::now();
    let r = ws_cleanup(5000);
    let took = t0.elapsed();
    assert_eq!(r, WS_OK, "{}", describe());
    let left = threads_named("wsclient-");
    // tidy up for the rest of the process
    let r2 = ws_cleanup(5000);
    let _ = srv.join();
    assert!(
        left.is_empty(),
        "ws_cleanup returned WS_OK after {took:?} (unloading is declared safe) but these library threads run: {left:?} \
         (a second ws_cleanup returned {r2})"
    );
}
