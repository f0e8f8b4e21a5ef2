//! The one background thread ("wsclient-reactor"): an epoll loop over every
//! open connection plus a timer heap. It answers pings while the program is
//! not reading, reads ahead for it, delivers events for sockets with a queue,
//! flushes output a timed-out write left queued, runs keepalive and schedules
//! reconnects. It never blocks on a connection: a socket that a program thread
//! is reading is left to that thread and looked at again later, so the
//! blocking API keeps its one-system-call-per-message path.
//!
//! Sockets are registered one-shot: after serving a socket the thread re-arms
//! it at once (event sockets) or after a short pause (sockets the program
//! reads itself), so a busy program thread is not disturbed per message.
#![deny(unsafe_code)]

use crate::conn::{Conn, Rearm};
use crate::error::{Code, Error, Result};
use crate::global::Global;
use crate::sys::{self, Epoll, EventFd, EP_IN, EP_ONESHOT, EP_OUT, EP_RDHUP};
use parking_lot::Mutex;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

const WAKE_TOKEN: u64 = 0;

pub type Job = Box<dyn FnOnce() + Send>;

enum Timer {
    Arm(u64),
    Keepalive(u64),
    Call(Job),
    /// Start watching the connections registered lazily since the last adoption.
    Adopt,
    /// Serve a connection without waiting for epoll (bytes already buffered).
    Serve(u64),
}

/// Connections the program reads itself are watched only from this long after
/// their opening: a short-lived connection (open, a few messages, close) then
/// costs the background thread nothing, not even a wake-up.
const ADOPT_DELAY: Duration = Duration::from_millis(100);

enum Cmd {
    Arm(u64),
    At(Instant, Timer),
    Stop,
}

pub struct Reactor {
    epoll: Epoll,
    waker: EventFd,
    conns: Mutex<HashMap<u64, Entry>>,
    cmds: Mutex<Vec<Cmd>>,
    /// Registered but not yet added to epoll (see ADOPT_DELAY), and whether
    /// an adoption is already scheduled.
    late: Mutex<(Vec<u64>, bool)>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

struct Entry {
    conn: Arc<Conn>,
    /// In the epoll set.
    added: bool,
}

static REACTOR: Global<Reactor> = Global::new();

/// The background thread, started on first use. A failure (no descriptors,
/// no threads) is this caller's error; the next call tries again.
pub fn get() -> Result<Arc<Reactor>> {
    REACTOR
        .get_or_try_init(|| {
            let fail = |what: &str, e: std::io::Error| {
                Error::new(Code::Internal, format!("cannot start the background thread: {what}: {e}"))
            };
            let epoll = Epoll::new().map_err(|e| fail("epoll_create1", e))?;
            let waker = EventFd::new().map_err(|e| fail("eventfd", e))?;
            epoll.add(waker.fd(), EP_IN, WAKE_TOKEN).map_err(|e| fail("epoll_ctl", e))?;
            Ok(Reactor {
                epoll,
                waker,
                conns: Mutex::new(HashMap::new()),
                cmds: Mutex::new(Vec::new()),
                late: Mutex::new((Vec::new(), false)),
                thread: Mutex::new(None),
            })
        })
        .and_then(|r| {
            ensure_thread(&r)?;
            Ok(r)
        })
}

fn ensure_thread(r: &Arc<Reactor>) -> Result<()> {
    let mut t = r.thread.lock();
    if t.is_some() {
        return Ok(());
    }
    let r2 = r.clone();
    let h = std::thread::Builder::new()
        .name("wsclient-reactor".into())
        .spawn(move || run(r2))
        .map_err(|e| Error::new(Code::Internal, format!("cannot start the background thread: {e}")))?;
    *t = Some(h);
    Ok(())
}

/// The background thread's state, if it was started.
pub fn peek() -> Option<Arc<Reactor>> {
    REACTOR.peek()
}

/// Stops the background thread and waits for it (ws_cleanup); every
/// connection was deregistered before.
pub fn stop() {
    if let Some(r) = REACTOR.take() {
        r.cmds.lock().push(Cmd::Stop);
        r.waker.wake();
        let h = r.thread.lock().take();
        if let Some(h) = h {
            let _ = h.join();
        }
    }
}

pub(crate) fn forget_in_child() {
    REACTOR.forget_in_child();
}

fn interest(conn: &Conn) -> u32 {
    EP_IN | EP_RDHUP | EP_ONESHOT | if conn.wants_write() { EP_OUT } else { 0 }
}

fn command(r: &Reactor, c: Cmd) {
    r.cmds.lock().push(c);
    r.waker.wake();
}

/// Starts serving a new connection (and its keepalive). Sockets with an
/// event queue are watched at once (only this thread reads them); the others
/// after ADOPT_DELAY, unless their keepalive interval is shorter.
pub fn register(r: &Reactor, conn: Arc<Conn>, immediate: bool) {
    let token = conn.token;
    let immediate = immediate || conn.ping_interval() < ADOPT_DELAY * 2;
    r.conns.lock().insert(token, Entry { conn: conn.clone(), added: immediate });
    if immediate {
        add(r, &conn);
    } else {
        let first = {
            let mut late = r.late.lock();
            late.0.push(token);
            !std::mem::replace(&mut late.1, true)
        };
        if first {
            command(r, Cmd::At(Instant::now() + ADOPT_DELAY, Timer::Adopt));
        }
    }
}

fn add(r: &Reactor, conn: &Arc<Conn>) {
    let token = conn.token;
    if r.epoll.add(conn.fd(), interest(conn), token).is_err() {
        r.conns.lock().remove(&token);
        return;
    }
    if let Some(due) = conn.keepalive_tick(sys::now_us()) {
        command(r, Cmd::At(at_us(due), Timer::Keepalive(token)));
    }
    // frames that came with the upgrade response are in our buffer, not the
    // kernel's: epoll would not report them
    if conn.has_buffered_input() {
        command(r, Cmd::At(Instant::now(), Timer::Serve(token)));
    }
}

/// Stops serving a connection; called before its socket is closed.
pub fn deregister(r: &Reactor, conn: &Conn) {
    let entry = r.conns.lock().remove(&conn.token);
    match entry {
        Some(e) if e.added => {
            let _ = r.epoll.delete(conn.fd());
        }
        Some(_) => r.late.lock().0.retain(|t| *t != conn.token),
        None => {}
    }
}

/// Asks the reactor to look at a connection now (e.g. output was left queued).
pub fn rearm(token: u64) {
    if let Some(r) = REACTOR.peek() {
        command(&r, Cmd::Arm(token));
    }
}

/// Runs `job` on the reactor thread at `at` (it must not block).
pub fn schedule(r: &Reactor, at: Instant, job: Job) {
    command(r, Cmd::At(at, Timer::Call(job)));
}

fn at_us(due_us: u64) -> Instant {
    let now = sys::now_us();
    Instant::now() + Duration::from_micros(due_us.saturating_sub(now))
}

fn arm(r: &Reactor, token: u64) {
    let conn = r.conns.lock().get(&token).filter(|e| e.added).map(|e| e.conn.clone());
    if let Some(c) = conn {
        let _ = r.epoll.modify(c.fd(), interest(&c), token);
    }
}

fn lookup(r: &Reactor, token: u64) -> Option<Arc<Conn>> {
    r.conns.lock().get(&token).map(|e| e.conn.clone())
}

fn adopt(r: &Reactor) {
    let tokens = {
        let mut late = r.late.lock();
        late.1 = false;
        std::mem::take(&mut late.0)
    };
    for t in tokens {
        let conn = {
            let mut conns = r.conns.lock();
            match conns.get_mut(&t) {
                Some(e) if !e.added => {
                    e.added = true;
                    Some(e.conn.clone())
                }
                _ => None,
            }
        };
        if let Some(c) = conn {
            add(r, &c);
        }
    }
}

/// Serves one connection; returns when to re-arm it, if later.
fn serve(r: &Reactor, token: u64, writable: bool) -> Option<Duration> {
    let conn = lookup(r, token)?;
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| conn.on_ready(writable)));
    match outcome {
        Ok(Rearm::Now) => {
            arm(r, token);
            None
        }
        Ok(Rearm::After(d)) => Some(d),
        Ok(Rearm::Never) | Err(_) => None,
    }
}

fn run(r: Arc<Reactor>) {
    let mut heap: BinaryHeap<Reverse<(Instant, u64)>> = BinaryHeap::new();
    let mut timers: HashMap<u64, Timer> = HashMap::new();
    let mut seq: u64 = 0;
    let mut events = Vec::with_capacity(256);
    let mut push = |heap: &mut BinaryHeap<Reverse<(Instant, u64)>>, timers: &mut HashMap<u64, Timer>, at, t| {
        seq += 1;
        heap.push(Reverse((at, seq)));
        timers.insert(seq, t);
    };
    loop {
        let next = heap.peek().map(|Reverse((at, _))| *at);
        if r.epoll.wait(&mut events, next).is_err() {
            std::thread::sleep(Duration::from_millis(10));
        }
        for &(token, ev) in &events {
            if token == WAKE_TOKEN {
                r.waker.drain();
                let cmds = std::mem::take(&mut *r.cmds.lock());
                for c in cmds {
                    match c {
                        Cmd::Arm(t) => arm(&r, t),
                        Cmd::At(at, t) => push(&mut heap, &mut timers, at, t),
                        Cmd::Stop => return,
                    }
                }
                continue;
            }
            if let Some(after) = serve(&r, token, ev & EP_OUT != 0) {
                push(&mut heap, &mut timers, Instant::now() + after, Timer::Arm(token));
            }
        }
        let now = Instant::now();
        while let Some(Reverse((at, id))) = heap.peek().copied() {
            if at > now {
                break;
            }
            heap.pop();
            match timers.remove(&id) {
                Some(Timer::Arm(t)) => arm(&r, t),
                Some(Timer::Keepalive(t)) => {
                    if let Some(c) = lookup(&r, t) {
                        let next = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            let n = c.keepalive_tick(sys::now_us());
                            c.trim_if_idle();
                            n
                        }));
                        if let Ok(Some(due)) = next {
                            push(&mut heap, &mut timers, at_us(due), Timer::Keepalive(t));
                        }
                    }
                }
                Some(Timer::Adopt) => adopt(&r),
                Some(Timer::Serve(t)) => {
                    if let Some(after) = serve(&r, t, false) {
                        push(&mut heap, &mut timers, Instant::now() + after, Timer::Arm(t));
                    }
                }
                Some(Timer::Call(job)) => {
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                }
                None => {}
            }
        }
    }
}
