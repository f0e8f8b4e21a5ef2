//! The one background thread ("wsclient-reactor"): a readiness loop (the
//! `polling` crate: epoll, kqueue or IOCP, behind `sys::Poller`) over every
//! open connection plus timers (ordered by due time). It answers pings while the program is
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
use crate::sys::{self, PollEvents, Poller, Ready};
use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub type Job = Box<dyn FnOnce() + Send>;

enum Timer {
    Arm(u64),
    Keepalive(u64),
    Call(Job),
    /// Start watching the connections registered lazily since the last adoption.
    Adopt,
    /// Serve a connection without waiting for epoll (bytes already buffered).
    Serve(u64),
    /// Release the codec state of idle compressed connections (TRIM_PERIOD).
    Trim,
}

/// Connections the program reads itself are watched only from this long after
/// their opening: a short-lived connection (open, a few messages, close) then
/// costs the background thread nothing, not even a wake-up.
const ADOPT_DELAY: Duration = Duration::from_millis(100);

/// How often the compressed connections are looked at: a compressor or
/// decompressor not used between two looks is released (it may be hundreds
/// of KiB; see `crate::deflate`), so a connection idle for 1 to 2 periods
/// holds none, whatever its keepalive settings.
pub(crate) const TRIM_PERIOD: Duration = Duration::from_secs(1);

enum Cmd {
    Arm(u64),
    At(TimerKey, Timer),
    Cancel(TimerKey),
    Stop,
}

pub struct Reactor {
    poll: Poller,
    conns: Mutex<HashMap<u64, Entry>>,
    cmds: Mutex<Vec<Cmd>>,
    /// Registered but not yet added to epoll (see ADOPT_DELAY), and whether
    /// an adoption is already scheduled.
    late: Mutex<(Vec<u64>, bool)>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// Timer ids (the second half of a timer's key).
    next_timer: std::sync::atomic::AtomicU64,
    /// A Timer::Trim is pending. Changed only with `conns` locked, so that a
    /// compressed connection registered while the last sweep finds none
    /// still gets one.
    trim_due: std::sync::atomic::AtomicBool,
}

struct Entry {
    conn: Arc<Conn>,
    /// In the epoll set.
    added: bool,
    /// The connection's keepalive timer, cancelled with the connection (it
    /// may be "pingInterval" away: 30 s by default).
    ka: Option<TimerKey>,
}

/// A keepalive timer for `token` at `at`, recorded in its entry; None when
/// the connection is gone.
fn keepalive_key(r: &Reactor, token: u64, at: Instant) -> Option<TimerKey> {
    let mut conns = r.conns.lock();
    let e = conns.get_mut(&token)?;
    let k = key(r, at);
    e.ka = Some(k);
    Some(k)
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
            let poll = Poller::new().map_err(|e| fail("poller", e))?;
            Ok(Reactor {
                poll,
                conns: Mutex::new(HashMap::new()),
                cmds: Mutex::new(Vec::new()),
                late: Mutex::new((Vec::new(), false)),
                thread: Mutex::new(None),
                next_timer: std::sync::atomic::AtomicU64::new(1),
                trim_due: std::sync::atomic::AtomicBool::new(false),
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
        let _ = r.poll.notify();
        let h = r.thread.lock().take();
        if let Some(h) = h {
            let _ = h.join();
        }
    }
}

pub(crate) fn forget_in_child() {
    REACTOR.forget_in_child();
}

/// Whether to watch a connection for writability too (output is stuck).
fn interest(conn: &Conn) -> bool {
    conn.wants_write()
}

/// Gives back memory that a burst of connections or timers left behind, so
/// that a process's heap returns to where it was (tests/churn.rs).
pub(crate) fn shrink_map<K: std::hash::Hash + Eq, V, S: std::hash::BuildHasher>(m: &mut HashMap<K, V, S>) {
    if m.capacity() > 64 && m.len() < m.capacity() / 4 {
        m.shrink_to(m.len() * 2);
    }
}

fn key(r: &Reactor, at: Instant) -> TimerKey {
    (at, r.next_timer.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
}

fn command(r: &Reactor, c: Cmd) {
    r.cmds.lock().push(c);
    let _ = r.poll.notify();
}

/// Starts serving a new connection (and its keepalive). Sockets with an
/// event queue are watched at once (only this thread reads them); the others
/// after ADOPT_DELAY, unless their keepalive interval is shorter.
pub fn register(r: &Reactor, conn: Arc<Conn>, immediate: bool) {
    let token = conn.token;
    let immediate = immediate || conn.ping_interval() < ADOPT_DELAY * 2;
    let codec = conn.compressed();
    let sweep = {
        let mut conns = r.conns.lock();
        conns.insert(token, Entry { conn: conn.clone(), added: immediate, ka: None });
        codec && !r.trim_due.swap(true, std::sync::atomic::Ordering::Relaxed)
    };
    if sweep {
        command(r, Cmd::At(key(r, Instant::now() + TRIM_PERIOD), Timer::Trim));
    }
    if immediate {
        add(r, &conn);
    } else {
        let first = {
            let mut late = r.late.lock();
            late.0.push(token);
            !std::mem::replace(&mut late.1, true)
        };
        if first {
            command(r, Cmd::At(key(r, Instant::now() + ADOPT_DELAY), Timer::Adopt));
        }
    }
}

fn add(r: &Reactor, conn: &Arc<Conn>) {
    let token = conn.token;
    if r.poll.add(conn.fd(), token, interest(conn)).is_err() {
        r.conns.lock().remove(&token);
        return;
    }
    if let Some(due) = conn.keepalive_tick(sys::now_us()) {
        if let Some(k) = keepalive_key(r, token, at_us(due)) {
            command(r, Cmd::At(k, Timer::Keepalive(token)));
        }
    }
    // frames that came with the upgrade response are in our buffer, not the
    // kernel's: epoll would not report them
    if conn.has_buffered_input() {
        command(r, Cmd::At(key(r, Instant::now()), Timer::Serve(token)));
    }
}

/// Stops serving a connection; called before its socket is closed.
pub fn deregister(r: &Reactor, conn: &Conn) {
    let entry = {
        let mut conns = r.conns.lock();
        let e = conns.remove(&conn.token);
        shrink_map(&mut conns);
        e
    };
    if let Some(k) = entry.as_ref().and_then(|e| e.ka) {
        command(r, Cmd::Cancel(k));
    }
    match entry {
        Some(e) if e.added => {
            let _ = r.poll.delete(conn.fd());
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

/// A timer's key: when it is due, and a unique id.
pub type TimerKey = (Instant, u64);

/// Runs `job` on the reactor thread at `at` (it must not block). Returns
/// the key for [`cancel`].
pub fn schedule(r: &Reactor, at: Instant, job: Job) -> TimerKey {
    let key = (at, r.next_timer.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    command(r, Cmd::At(key, Timer::Call(job)));
    key
}

/// Drops a scheduled job that has not run yet (and what it holds).
pub fn cancel(key: TimerKey) {
    if let Some(r) = REACTOR.peek() {
        command(&r, Cmd::Cancel(key));
    }
}

fn at_us(due_us: u64) -> Instant {
    let now = sys::now_us();
    Instant::now() + Duration::from_micros(due_us.saturating_sub(now))
}

fn arm(r: &Reactor, token: u64) {
    let conn = r.conns.lock().get(&token).filter(|e| e.added).map(|e| e.conn.clone());
    if let Some(c) = conn {
        let _ = r.poll.modify(c.fd(), token, interest(&c));
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
fn serve(r: &Reactor, token: u64, writable: bool) -> Option<(Duration, Timer)> {
    let conn = lookup(r, token)?;
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| conn.on_ready(writable)));
    match outcome {
        Ok(Rearm::Now) => {
            arm(r, token);
            None
        }
        Ok(Rearm::After(d)) => Some((d, Timer::Arm(token))),
        Ok(Rearm::Retry(d)) => Some((d, Timer::Serve(token))),
        Ok(Rearm::Never) | Err(_) => None,
    }
}

fn run(r: Arc<Reactor>) {
    // ordered by due time; removal (cancel) frees the entry at once
    let mut timers: BTreeMap<TimerKey, Timer> = BTreeMap::new();
    let mut buf = PollEvents::new();
    let mut ready: Vec<Ready> = Vec::with_capacity(256);
    let push = |timers: &mut BTreeMap<TimerKey, Timer>, at: Instant, t: Timer| {
        timers.insert(key(&r, at), t);
    };
    loop {
        let next = timers.first_key_value().map(|((at, _), _)| *at);
        if r.poll.wait(&mut buf, &mut ready, next).is_err() {
            std::thread::sleep(Duration::from_millis(10));
        }
        // commands (a notify wakes the wait without an event)
        let cmds = std::mem::take(&mut *r.cmds.lock());
        for c in cmds {
            match c {
                Cmd::Arm(t) => arm(&r, t),
                Cmd::At(k, t) => {
                    timers.insert(k, t);
                }
                Cmd::Cancel(k) => {
                    timers.remove(&k);
                }
                Cmd::Stop => return,
            }
        }
        for ev in &ready {
            if let Some((after, t)) = serve(&r, ev.key, ev.writable) {
                push(&mut timers, Instant::now() + after, t);
            }
        }
        let now = Instant::now();
        while let Some(entry) = timers.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let timer = entry.remove();
            fire(&r, &mut timers, timer, &push);
        }
    }
}

/// Runs one due timer.
fn fire(
    r: &Reactor,
    timers: &mut BTreeMap<TimerKey, Timer>,
    timer: Timer,
    push: &impl Fn(&mut BTreeMap<TimerKey, Timer>, Instant, Timer),
) {
    match timer {
        Timer::Arm(t) => arm(r, t),
        Timer::Keepalive(t) => {
            if let Some(c) = lookup(r, t) {
                let next = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    let n = c.keepalive_tick(sys::now_us());
                    c.trim_if_idle();
                    n
                }));
                if let Ok(Some(due)) = next {
                    if let Some(k) = keepalive_key(r, t, at_us(due)) {
                        timers.insert(k, Timer::Keepalive(t));
                    }
                }
            }
        }
        Timer::Adopt => adopt(r),
        Timer::Serve(t) => {
            if let Some((after, t)) = serve(r, t, false) {
                push(timers, Instant::now() + after, t);
            }
        }
        Timer::Call(job) => {
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
        }
        Timer::Trim => {
            if trim_idle(r) {
                push(timers, Instant::now() + TRIM_PERIOD, Timer::Trim);
            }
        }
    }
}

/// One sweep over the compressed connections: each releases what it has
/// not used since the previous sweep (`Conn::trim_if_idle`; a socket being
/// read or written at this moment is skipped). Returns whether another
/// sweep is needed (some compressed connection is still registered).
fn trim_idle(r: &Reactor) -> bool {
    let codecs: Vec<Arc<Conn>> = {
        let conns = r.conns.lock();
        let v: Vec<Arc<Conn>> = conns.values().filter(|e| e.conn.compressed()).map(|e| e.conn.clone()).collect();
        if v.is_empty() {
            r.trim_due.store(false, std::sync::atomic::Ordering::Relaxed);
        }
        v
    };
    for c in &codecs {
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| c.trim_if_idle()));
    }
    !codecs.is_empty()
}
