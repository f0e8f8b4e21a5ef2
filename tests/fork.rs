//! fork(), first use and unloading, through the exported C ABI: what a
//! forked child gets (every inherited number fails at once with
//! WS_E_BAD_SOCKET, saying why; new opens work; nothing hangs on a lock a
//! parent thread held), that a failure while the library starts its
//! background threads is an error for that call only, that signals do not
//! stretch closeTimeout, and that ws_cleanup() ends every library thread.
//!
//! Checks that need a fresh library state run in a forked child (the
//! library forgets the parent's state there), which reports through its
//! exit status; the parent waits for it with a deadline.

mod support;

use std::ffi::c_int;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};
use support::*;

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// Runs `f` in a forked child; returns its exit status (or 255 when it was
/// killed at the deadline). The child never returns into the test harness.
fn in_child(limit: Duration, f: impl FnOnce() -> i32) -> i32 {
    // SAFETY: fork in a test process; the child only runs `f` (library calls
    // and plain Rust) and leaves with _exit, never unwinding into the harness.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or(254);
        // SAFETY: ends the child without running the parent's atexit handlers.
        unsafe { libc::_exit(code) };
    }
    let deadline = Instant::now() + limit;
    loop {
        let mut status = 0;
        // SAFETY: waits for our own child without blocking.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if r == pid {
            return if libc::WIFEXITED(status) { libc::WEXITSTATUS(status) } else { 253 };
        }
        if Instant::now() >= deadline {
            // SAFETY: kills and reaps our own child.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &mut status, 0);
            }
            return 255;
        }
        thread::sleep(Duration::from_millis(2));
    }
}

/// Threads of this process whose name starts with "wsclient".
fn library_threads() -> usize {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else { return 0 };
    dir.filter_map(|e| e.ok())
        .filter(|e| std::fs::read_to_string(e.path().join("comm")).map(|n| n.starts_with("wsclient")).unwrap_or(false))
        .count()
}

#[test]
fn a_forked_child_gets_clean_errors_for_inherited_numbers_and_can_open_new_ones() {
    let _w = watchdog("a_forked_child_gets_clean_errors_for_inherited_numbers_and_can_open_new_ones", secs(120));
    let echo = echo_server();
    // the background thread is busy answering a ping flood while we fork,
    // so that it holds the connection's locks at unlucky moments
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let flood = serve_ws(move |p| {
        use std::io::Write;
        let ping = encode(0x89, b"are you there", None);
        while !stop2.load(Ordering::Relaxed) {
            if p.stream.write_all(&ping).is_err() {
                break;
            }
        }
    });
    let s = open_ok(&flood.url("/"), Some(r#"{"pingInterval":0}"#));
    let q = queue_create();
    let url = echo.url();
    for round in 0..40 {
        let url = url.clone();
        let code = in_child(secs(10), move || {
            if ws_write(s, b"x".as_ptr().cast(), 1, WS_TEXT) != WS_ERROR || ws_last_error_code() != WS_E_BAD_SOCKET {
                return 1;
            }
            if !last_error().contains("fork") {
                return 2;
            }
            if ws_state(s) != WS_ERROR || ws_close(s, 0, std::ptr::null()) != WS_ERROR {
                return 3;
            }
            if ws_next_event(q, std::ptr::null_mut(), 0) != WS_ERROR {
                return 4;
            }
            let t = open(&url, Some(r#"{"timeout":5000}"#));
            if t <= s {
                return 5; // numbers continue after the parent's
            }
            if write(t, b"child", WS_TEXT) != WS_OK {
                return 6;
            }
            match read(t, 5000) {
                Got::Msg(_, m) if m == b"child" => {}
                _ => return 7,
            }
            if close(t) != WS_OK {
                return 8;
            }
            0
        });
        assert_eq!(code, 0, "round {round}: child failed with {code} (255: hung)");
    }
    // the parent's connection is untouched
    assert_eq!(state_name(ws_state(s)), "OPEN");
    stop.store(true, Ordering::Relaxed);
    let _ = close(s);
    flood.join();
    assert_eq!(ws_queue_destroy(q), WS_OK);
}

#[test]
fn a_failure_to_start_the_background_thread_fails_that_call_only() {
    let _w = watchdog("a_failure_to_start_the_background_thread_fails_that_call_only", secs(60));
    let echo = echo_server();
    let url = echo.url();
    let code = in_child(secs(20), move || {
        // the child starts without the library's threads; allow exactly one
        // more descriptor, enough for the TCP socket but not for the
        // background thread's epoll and eventfd
        let before = open_fds();
        // SAFETY: plain getrlimit/setrlimit on our own process.
        let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
        let old = lim;
        lim.rlim_cur = lowest_free_fd() as libc::rlim_t + 1;
        // SAFETY: as above
        unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) };
        let s = open(&url, Some(r#"{"timeout":5000}"#));
        let failed = s == WS_ERROR;
        let msg = last_error();
        // SAFETY: as above
        unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &old) };
        if !failed {
            return 1;
        }
        if !msg.contains("background thread") && !msg.contains("descriptor") && !msg.contains("open files") {
            return 2;
        }
        if open_fds() != before {
            return 3; // the failed open left a descriptor
        }
        // the next call starts afresh
        let t = open(&url, Some(r#"{"timeout":5000}"#));
        if t <= 0 || write(t, b"ok", WS_TEXT) != WS_OK {
            return 4;
        }
        if !matches!(read(t, 5000), Got::Msg(_, m) if m == b"ok") {
            return 5;
        }
        if close(t) != WS_OK {
            return 6;
        }
        0
    });
    assert_eq!(code, 0, "child failed with {code}");
}

fn lowest_free_fd() -> i32 {
    (0..65536).find(|fd| !std::path::Path::new(&format!("/proc/self/fd/{fd}")).exists()).unwrap_or(0)
}

#[test]
fn ws_cleanup_ends_every_library_thread_and_the_library_starts_again() {
    let _w = watchdog("ws_cleanup_ends_every_library_thread_and_the_library_starts_again", secs(60));
    let echo = echo_server();
    let url = echo.url();
    let code = in_child(secs(30), move || {
        let q = ws_queue_create();
        extern "C" fn noop(_: *const ws_event, _: *mut std::ffi::c_void) {}
        if ws_queue_set_callback(q, Some(noop), std::ptr::null_mut()) != WS_OK {
            return 1;
        }
        let a = open(&url, Some(&format!(r#"{{"queue":{q}}}"#)));
        let b = open(&url, None);
        let c = open_async(&url, None);
        if a <= 0 || b <= 0 || c <= 0 || write(a, b"hi", WS_TEXT) != WS_OK {
            return 2;
        }
        if library_threads() == 0 {
            return 3;
        }
        if ws_cleanup(5000) != WS_OK {
            return 4;
        }
        if library_threads() != 0 {
            return 5;
        }
        if ws_state(a) != WS_ERROR || ws_state(b) != WS_ERROR || ws_queue_destroy(q) != WS_ERROR {
            return 6;
        }
        // usable again
        let d = open(&url, None);
        if d <= 0 || write(d, b"again", WS_TEXT) != WS_OK || !matches!(read(d, 5000), Got::Msg(_, m) if m == b"again") {
            return 7;
        }
        if ws_cleanup(-1) != WS_OK || library_threads() != 0 {
            return 8;
        }
        0
    });
    assert_eq!(code, 0, "child failed with {code}");
}

extern "C" fn on_signal(_: c_int) {}

#[test]
fn signals_do_not_stretch_the_close_timeout() {
    let _w = watchdog("signals_do_not_stretch_the_close_timeout", secs(60));
    let srv = silent_ws_server(secs(10));
    let url = srv.url("/");
    let code = in_child(secs(20), move || {
        // a handler without SA_RESTART: blocking calls see EINTR
        // SAFETY: installs a plain handler for SIGUSR1 in the child.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as *const () as usize;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut());
        }
        let s = open(&url, Some(r#"{"closeTimeout":500,"pingInterval":0}"#));
        if s <= 0 {
            return 1;
        }
        // SAFETY: the calling thread's pthread handle.
        let me = unsafe { libc::pthread_self() };
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let kicker = thread::spawn(move || {
            let end = Instant::now() + secs(4);
            while !stop2.load(Ordering::Relaxed) && Instant::now() < end {
                // SAFETY: signals the test thread, which has a handler.
                unsafe { libc::pthread_kill(me, libc::SIGUSR1) };
                thread::sleep(Duration::from_millis(40));
            }
        });
        let t0 = Instant::now();
        let r = close(s);
        let took = t0.elapsed();
        stop.store(true, Ordering::Relaxed);
        let _ = kicker.join();
        if r != WS_OK {
            return 2;
        }
        if took > Duration::from_millis(900) {
            return 3;
        }
        0
    });
    assert_eq!(code, 0, "child failed with {code} (3: closeTimeout 500 stretched by signals)");
    drop(srv);
}
