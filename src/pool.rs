//! A small pool of threads for blocking connection attempts (async opens and
//! reconnects): DNS and connect cannot be made non-blocking portably, and a
//! thread per attempt would make 10,000 opens 10,000 threads.
#![deny(unsafe_code)]

use once_cell::sync::Lazy;
use parking_lot::{Condvar, Mutex};
use std::collections::VecDeque;
use std::time::Duration;

pub type Job = Box<dyn FnOnce() + Send>;

/// Most threads connecting at once; more attempts wait their turn.
const MAX_THREADS: usize = 16;
/// An idle worker exits after this long.
const IDLE: Duration = Duration::from_secs(10);

struct Pool {
    jobs: Mutex<Jobs>,
    cv: Condvar,
}

struct Jobs {
    queue: VecDeque<Job>,
    threads: usize,
    idle: usize,
}

static POOL: Lazy<Pool> =
    Lazy::new(|| Pool { jobs: Mutex::new(Jobs { queue: VecDeque::new(), threads: 0, idle: 0 }), cv: Condvar::new() });

pub fn spawn(job: Job) {
    let mut j = POOL.jobs.lock();
    j.queue.push_back(job);
    if j.idle == 0 && j.threads < MAX_THREADS {
        let ok = std::thread::Builder::new().name("wsclient-connect".into()).spawn(worker).is_ok();
        if ok {
            j.threads += 1;
        }
    }
    POOL.cv.notify_one();
}

fn worker() {
    let mut j = POOL.jobs.lock();
    loop {
        if let Some(job) = j.queue.pop_front() {
            drop(j);
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
            j = POOL.jobs.lock();
            continue;
        }
        j.idle += 1;
        let timed_out = POOL.cv.wait_for(&mut j, IDLE).timed_out();
        j.idle -= 1;
        if timed_out && j.queue.is_empty() {
            j.threads -= 1;
            return;
        }
    }
}
