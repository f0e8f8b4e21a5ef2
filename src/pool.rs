//! The threads that run connection attempts of async opens and reconnects.
//!
//! Every attempt gets a thread at once (an idle one, else a new one), so
//! attempts never wait behind each other: 100 attempts stuck on a
//! blackholed address do not delay one to a live server. What an attempt
//! blocks in is bounded by its own deadline: DNS runs on the bounded,
//! coalescing resolver pool (`resolve.rs`) and the attempt only waits for
//! it; TCP connect, proxy, TLS and upgrade wait in poll(2). Threads exit
//! after 10 s idle. Only beyond [`MAX_THREADS`] attempts in flight at once
//! do further attempts queue.
#![deny(unsafe_code)]

use crate::error::{Code, Error, Result};
use crate::global::Global;
use parking_lot::{Condvar, Mutex};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub type Job = Box<dyn FnOnce() + Send>;

/// Most threads connecting at once; more attempts wait their turn (a
/// parked thread costs its stack's touched pages, some tens of KiB).
const MAX_THREADS: usize = 1024;
/// An idle worker exits after this long.
const IDLE: Duration = Duration::from_secs(10);

pub struct Pool {
    jobs: Mutex<Jobs>,
    /// Wakes workers (new job, stop).
    cv: Condvar,
    /// Signalled when a worker exits.
    gone: Condvar,
}

struct Jobs {
    queue: VecDeque<Job>,
    threads: usize,
    idle: usize,
    stop: bool,
    /// Every worker started and not yet joined: ws_cleanup joins them all
    /// (so none is still running library code when it returns); spawning
    /// reaps those that have finished.
    handles: Vec<(std::thread::ThreadId, std::thread::JoinHandle<()>)>,
}

static POOL: Global<Pool> = Global::new();

fn pool() -> Result<Arc<Pool>> {
    POOL.get_or_try_init(|| {
        Ok(Pool {
            jobs: Mutex::new(Jobs { queue: VecDeque::new(), threads: 0, idle: 0, stop: false, handles: Vec::new() }),
            cv: Condvar::new(),
            gone: Condvar::new(),
        })
    })
}

/// Queues a connection attempt. Fails only when no worker exists and none
/// can be started (the caller reports it as the attempt's error).
pub fn spawn(job: Job) -> Result<()> {
    let p = pool()?;
    let mut j = p.jobs.lock();
    j.stop = false; // (a ws_cleanup that timed out: the library is in use again)
    let (done, running): (Vec<_>, Vec<_>) =
        std::mem::take(&mut j.handles).into_iter().partition(|(_, h)| h.is_finished());
    j.handles = running;
    for (_, h) in done {
        let _ = h.join();
    }
    // every queued job needs its own idle worker (one woken for an earlier
    // job may not have taken it yet)
    if j.queue.len() >= j.idle && j.threads < MAX_THREADS {
        let p2 = p.clone();
        match std::thread::Builder::new().name("wsclient-connect".into()).spawn(move || worker(p2)) {
            Ok(h) => {
                j.threads += 1;
                j.handles.push((h.thread().id(), h));
            }
            Err(e) if j.threads == 0 => {
                return Err(Error::new(Code::Internal, format!("cannot start a connection thread: {e}")));
            }
            // the running workers will take the job
            Err(_) => {}
        }
    }
    j.queue.push_back(job);
    p.cv.notify_one();
    Ok(())
}

fn worker(p: Arc<Pool>) {
    let mut j = p.jobs.lock();
    loop {
        if let Some(job) = j.queue.pop_front() {
            drop(j);
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
            j = p.jobs.lock();
            continue;
        }
        if j.stop {
            break;
        }
        j.idle += 1;
        let timed_out = p.cv.wait_for(&mut j, IDLE).timed_out();
        j.idle -= 1;
        if timed_out && j.queue.is_empty() && !j.stop {
            // idle: leave (the handle is reaped by the next spawn or stop)
            break;
        }
    }
    j.threads -= 1;
    p.gone.notify_all();
}

/// Stops the workers (ws_cleanup): waiting attempts are dropped, idle
/// workers exit, and busy ones (in DNS or connect) exit when their attempt
/// ends. True when every worker has exited by `deadline`.
pub fn stop(deadline: Instant) -> bool {
    let threads = stop_threads(deadline);
    crate::resolve::stop(deadline) && threads
}

fn stop_threads(deadline: Instant) -> bool {
    let Some(p) = POOL.peek() else { return true };
    let dropped = {
        let mut j = p.jobs.lock();
        j.stop = true;
        p.cv.notify_all();
        std::mem::take(&mut j.queue)
    };
    drop(dropped);
    let mut j = p.jobs.lock();
    while j.threads > 0 {
        if p.gone.wait_until(&mut j, deadline).timed_out() && j.threads > 0 {
            return false;
        }
    }
    let handles = std::mem::take(&mut j.handles);
    drop(j);
    for (_, h) in handles {
        let _ = h.join();
    }
    POOL.take();
    true
}

pub(crate) fn forget_in_child() {
    POOL.forget_in_child();
    crate::resolve::forget_in_child();
}
