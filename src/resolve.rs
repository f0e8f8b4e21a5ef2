//! Host name lookups on a bounded pool of resolver threads, so that no
//! connection attempt runs getaddrinfo(3) itself under a deadline (it
//! cannot be interrupted) and slow lookups cannot pile up threads: at most
//! [`MAX_THREADS`] lookups run at once, and concurrent lookups of the same
//! name share one (100 attempts to a name whose DNS server is dead use one
//! thread, not 100). A caller waits for its lookup only until its own
//! deadline; the lookup goes on and serves whoever else waits for it.
//!
//! Literal addresses never get here. A caller with no deadline at all may
//! resolve on its own thread (`lookup_inline`), as before.
#![deny(unsafe_code)]

use crate::global::Global;
use parking_lot::{Condvar, Mutex};
use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Most lookups running at once.
const MAX_THREADS: usize = 8;
/// An idle resolver thread exits after this long.
const IDLE: Duration = Duration::from_secs(10);

#[derive(Debug)]
pub enum LookupError {
    /// The caller's deadline passed first.
    Timeout,
    /// getaddrinfo's answer, lower-case ("name or service not known").
    Failed(String),
}

struct Entry {
    name: String,
    result: Mutex<Option<std::result::Result<Vec<IpAddr>, String>>>,
    done: Condvar,
}

struct State {
    queue: VecDeque<Arc<Entry>>,
    /// Lookups queued or running, by name (coalescing).
    pending: HashMap<String, Arc<Entry>>,
    threads: usize,
    idle: usize,
    stop: bool,
    handles: Vec<(std::thread::ThreadId, std::thread::JoinHandle<()>)>,
    /// Lookups started by a thread (tests: coalescing).
    started: u64,
}

pub struct Resolver {
    st: Mutex<State>,
    work: Condvar,
    gone: Condvar,
}

static RESOLVER: Global<Resolver> = Global::new();

fn resolver() -> crate::error::Result<Arc<Resolver>> {
    RESOLVER.get_or_try_init(|| {
        Ok(Resolver {
            st: Mutex::new(State {
                queue: VecDeque::new(),
                pending: HashMap::new(),
                threads: 0,
                idle: 0,
                stop: false,
                handles: Vec::new(),
                started: 0,
            }),
            work: Condvar::new(),
            gone: Condvar::new(),
        })
    })
}

fn getaddrinfo(name: &str) -> std::result::Result<Vec<IpAddr>, String> {
    match (name, 0u16).to_socket_addrs() {
        Ok(it) => {
            let mut v: Vec<IpAddr> = Vec::new();
            for a in it {
                if !v.contains(&a.ip()) {
                    v.push(a.ip());
                }
            }
            Ok(v)
        }
        Err(e) => Err(clean(&e)),
    }
}

fn clean(e: &io::Error) -> String {
    let s = e.to_string();
    s.trim_start_matches("failed to lookup address information: ").to_lowercase()
}

fn with_port(ips: Vec<IpAddr>, port: u16) -> Vec<SocketAddr> {
    ips.into_iter().map(|ip| SocketAddr::new(ip, port)).collect()
}

/// Resolves on the calling thread (no deadline to keep).
pub fn lookup_inline(name: &str, port: u16) -> std::result::Result<Vec<SocketAddr>, LookupError> {
    if let Some(v) = test_hosts(name) {
        return Ok(with_port(v, port));
    }
    getaddrinfo(name).map(|v| with_port(v, port)).map_err(LookupError::Failed)
}

/// Resolves `name` on the resolver pool, waiting until `deadline` at most.
pub fn lookup(name: &str, port: u16, deadline: Option<Instant>) -> std::result::Result<Vec<SocketAddr>, LookupError> {
    if let Some(v) = test_hosts(name) {
        return Ok(with_port(v, port));
    }
    let r = resolver().map_err(|e| LookupError::Failed(e.msg))?;
    let entry = {
        let mut st = r.st.lock();
        st.stop = false;
        let key = name.to_ascii_lowercase();
        match st.pending.get(&key) {
            Some(e) => e.clone(),
            None => {
                let e = Arc::new(Entry { name: name.to_string(), result: Mutex::new(None), done: Condvar::new() });
                st.pending.insert(key, e.clone());
                st.queue.push_back(e.clone());
                if st.idle == 0 && st.threads < MAX_THREADS {
                    let r2 = r.clone();
                    match std::thread::Builder::new().name("wsclient-dns".into()).spawn(move || worker(r2)) {
                        Ok(h) => {
                            st.threads += 1;
                            st.handles.push((h.thread().id(), h));
                        }
                        Err(err) if st.threads == 0 => {
                            let key = name.to_ascii_lowercase();
                            st.pending.remove(&key);
                            st.queue.retain(|x| !Arc::ptr_eq(x, &e));
                            drop(st);
                            // no thread at all: resolve here rather than fail
                            let _ = err;
                            return lookup_inline(name, port);
                        }
                        Err(_) => {}
                    }
                }
                r.work.notify_one();
                e
            }
        }
    };
    let mut res = entry.result.lock();
    loop {
        if let Some(r) = res.as_ref() {
            return r.clone().map(|v| with_port(v, port)).map_err(LookupError::Failed);
        }
        match deadline {
            None => entry.done.wait(&mut res),
            Some(d) => {
                if entry.done.wait_until(&mut res, d).timed_out() && res.is_none() {
                    return Err(LookupError::Timeout);
                }
            }
        }
    }
}

fn worker(r: Arc<Resolver>) {
    let mut st = r.st.lock();
    loop {
        if let Some(e) = st.queue.pop_front() {
            st.started += 1;
            drop(st);
            let name = e.name.clone();
            let out = std::panic::catch_unwind(move || getaddrinfo(&name))
                .unwrap_or_else(|_| Err("internal error in the resolver".into()));
            st = r.st.lock();
            st.pending.remove(&e.name.to_ascii_lowercase());
            *e.result.lock() = Some(out);
            e.done.notify_all();
            continue;
        }
        if st.stop {
            break;
        }
        st.idle += 1;
        let timed_out = r.work.wait_for(&mut st, IDLE).timed_out();
        st.idle -= 1;
        if timed_out && st.queue.is_empty() && !st.stop {
            let me = std::thread::current().id();
            st.handles.retain(|(id, _)| *id != me);
            break;
        }
    }
    st.threads -= 1;
    r.gone.notify_all();
}

/// Lookups started on the pool so far (tests).
pub fn lookups_started() -> u64 {
    RESOLVER.peek().map_or(0, |r| r.st.lock().started)
}

/// Stops the resolver threads (ws_cleanup): true when all have exited by
/// `deadline` (one inside getaddrinfo ends when the lookup does).
pub fn stop(deadline: Instant) -> bool {
    let Some(r) = RESOLVER.peek() else { return true };
    let mut st = r.st.lock();
    st.stop = true;
    r.work.notify_all();
    while st.threads > 0 {
        if r.gone.wait_until(&mut st, deadline).timed_out() && st.threads > 0 {
            return false;
        }
    }
    let handles = std::mem::take(&mut st.handles);
    drop(st);
    for (_, h) in handles {
        let _ = h.join();
    }
    RESOLVER.take();
    true
}

pub(crate) fn forget_in_child() {
    RESOLVER.forget_in_child();
}

// ---- test hosts ----------------------------------------------------------------------

/// Names the Rust test suites make resolve to chosen addresses, in order
/// (a test-only /etc/hosts for machines where the tests cannot edit it).
/// Empty in every program that does not set it.
static TEST_HOSTS: Mutex<Vec<(String, Vec<IpAddr>)>> = Mutex::new(Vec::new());

pub fn set_test_host(name: &str, addrs: Vec<IpAddr>) {
    let mut h = TEST_HOSTS.lock();
    h.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    h.push((name.to_string(), addrs));
}

fn test_hosts(name: &str) -> Option<Vec<IpAddr>> {
    let h = TEST_HOSTS.lock();
    if h.is_empty() {
        return None;
    }
    h.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_localhost_on_the_pool() {
        let v = lookup("localhost", 80, Some(Instant::now() + Duration::from_secs(10))).unwrap();
        assert!(v.iter().all(|a| a.ip().is_loopback() && a.port() == 80), "{v:?}");
        match lookup("no-such-host.invalid", 1, Some(Instant::now() + Duration::from_secs(20))) {
            Err(LookupError::Failed(why)) => assert!(!why.is_empty()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn test_hosts_answer_first() {
        set_test_host("wsclient-unit.test", vec!["::1".parse().unwrap(), "127.0.0.1".parse().unwrap()]);
        let v = lookup("WSCLIENT-unit.test", 7, None).unwrap();
        assert_eq!(v, vec!["[::1]:7".parse().unwrap(), "127.0.0.1:7".parse().unwrap()]);
    }
}
