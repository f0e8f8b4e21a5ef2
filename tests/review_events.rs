//! Regression test from the security review (failed on the main it
//! reviewed): an event lent by ws_next_event to a thread that exits is
//! freed with the thread, not kept until the queue is destroyed. A test
//! binary of its own: it measures the process's RSS.

mod support;

use std::time::Duration;
use support::*;

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// A thread id is never reused: an event lent to each consumer thread stays
/// in QInner::lent for the life of the queue: memory grows with the number
/// of threads that ever consumed, not with what is waiting.
#[test]
fn r6_events_lent_to_exited_threads_are_released() {
    let _w = watchdog("r6_events_lent_to_exited_threads_are_released", secs(60));
    // fixed mmap threshold: 1 MiB buffers go back to the kernel when freed,
    // so RSS shows what the library still holds
    // SAFETY: plain libc call, before any allocation of interest.
    unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024) };
    const N: usize = 40;
    const MSG: usize = 1 << 20;
    let srv = serve_ws(|p| {
        for i in 0..N {
            p.binary(&vec![i as u8; MSG]);
        }
        let _ = p.read_until_close(secs(20));
    });
    let q = queue_create();
    let s = open_ok(&srv.url("/"), Some(&format!(r#"{{"queue":{q},"pingInterval":0,"closeTimeout":300}}"#)));
    assert_eq!(expect_event(q, 5000).ty, WS_EV_OPEN);
    for _ in 0..N {
        // one consumer thread per event: takes it, copies it, exits
        let t = std::thread::spawn(move || {
            let e = expect_event(q, 5000);
            assert_eq!(e.ty, WS_EV_MESSAGE);
            e.data.len()
        });
        assert_eq!(t.join().unwrap(), MSG);
    }
    let before = rss_bytes();
    close(s);
    // drain the CLOSE on this thread, then destroy the queue
    let _ = next_event(q, 2000);
    let mid = rss_bytes();
    assert_eq!(ws_queue_destroy(q), WS_OK);
    let after = rss_bytes();
    srv.join();
    let freed_by_destroy = mid.saturating_sub(after);
    assert!(
        freed_by_destroy < 8 << 20,
        "{N} threads that each consumed one {MSG}-byte event and exited: the queue kept their events until \
         ws_queue_destroy, which freed {} MiB (RSS {} -> {} -> {} MiB)",
        freed_by_destroy >> 20,
        before >> 20,
        mid >> 20,
        after >> 20
    );
}
