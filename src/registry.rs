//! The slot table: integer socket numbers <-> connections. Numbers start at 1,
//! only grow (wrapping after 2^31 - 1 opens to the lowest free number) and are
//! never handed out twice while in use, so a stale number can never reach
//! another connection. The lock covers lookup, insert and remove only: no DNS,
//! connect, I/O or drop of a connection happens under it.
//!
//! In the child of a fork() the table is forgotten (see `global.rs`): the
//! parent's numbers fail there with WS_E_BAD_SOCKET, saying so, and the
//! child's own numbers continue after the parent's.
#![deny(unsafe_code)]

use crate::conn::Conn;
use crate::error::{Code, Error, Result};
use crate::global::{self, Global};
use crate::socket::Socket;
use parking_lot::RwLock;
use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicI32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};

/// Socket numbers are sequential integers: a multiplicative hash is enough
/// and far cheaper than SipHash on the per-call lookup path.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ b as u64).wrapping_mul(0x100_0000_01b3);
        }
    }
    fn write_i32(&mut self, i: i32) {
        self.0 = (i as u32 as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

struct Entry {
    sock: Arc<Socket>,
    /// The socket's connection while it is not (re)connecting: the per-call
    /// path takes it from here without touching the socket's own lock.
    conn: Option<Arc<Conn>>,
}

/// Default for the maximum number of open sockets (`ws_set_max_sockets`).
pub(crate) const DEFAULT_MAX_SOCKETS: usize = 4096;

static MAX_SOCKETS: AtomicUsize = AtomicUsize::new(DEFAULT_MAX_SOCKETS);

struct Inner {
    map: HashMap<i32, Entry, BuildHasherDefault<IdHasher>>,
    /// Opens in progress: they count against the maximum.
    reserved: usize,
}

struct Table {
    inner: RwLock<Inner>,
}

static TABLE: Global<Table> = Global::new();

/// Socket numbers below this were handed out before the last fork() (in a
/// forked child), for the error message.
static FORKED_BELOW: AtomicI32 = AtomicI32::new(0);
/// The next number to hand out, kept outside the table so that a forked
/// child continues after its parent's numbers.
static NEXT_ID: AtomicI32 = AtomicI32::new(1);

fn table() -> Result<Arc<Table>> {
    TABLE.get_or_try_init(|| Ok(Table { inner: RwLock::new(Inner { map: HashMap::default(), reserved: 0 }) }))
}

/// A place in the table held while a connection is being opened.
pub struct Reservation {
    live: bool,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if self.live {
            if let Some(t) = TABLE.peek() {
                let mut t = t.inner.write();
                t.reserved = t.reserved.saturating_sub(1);
            }
        }
    }
}

pub fn set_max(n: usize) -> usize {
    MAX_SOCKETS.swap(n, Ordering::AcqRel)
}

pub fn reserve() -> Result<Reservation> {
    let table = table()?;
    let mut t = table.inner.write();
    let max = MAX_SOCKETS.load(Ordering::Acquire);
    if t.map.len() + t.reserved >= max {
        return Err(Error::new(
            Code::TooManySockets,
            format!(
                "no more free sockets: {} open or opening, the maximum is {max} (ws_set_max_sockets)",
                t.map.len() + t.reserved
            ),
        ));
    }
    t.reserved += 1;
    Ok(Reservation { live: true })
}

pub fn insert(mut r: Reservation, conn: Arc<Socket>) -> Result<i32> {
    let table = table()?;
    let mut t = table.inner.write();
    r.live = false;
    t.reserved = t.reserved.saturating_sub(1);
    loop {
        let id = NEXT_ID.load(Ordering::Relaxed);
        NEXT_ID.store(if id == i32::MAX { 1 } else { id + 1 }, Ordering::Relaxed);
        if let std::collections::hash_map::Entry::Vacant(e) = t.map.entry(id) {
            conn.set_id(id);
            e.insert(Entry { sock: conn, conn: None });
            return Ok(id);
        }
    }
}

fn bad(id: i32) -> Error {
    if id > 0 && id < FORKED_BELOW.load(Ordering::Relaxed) && global::fork_generation() > 0 {
        return Error::new(
            Code::BadSocket,
            format!(
                "bad socket number {id} (closed, or opened by the parent process before fork(): a child cannot use the parent's connections)"
            ),
        );
    }
    if id <= 0 {
        Error::new(Code::BadSocket, format!("bad socket number {id} (socket numbers are > 0)"))
    } else {
        Error::new(Code::BadSocket, format!("bad socket number {id} (not open: never opened or already closed)"))
    }
}

pub fn get(id: i32) -> Result<Arc<Socket>> {
    let t = TABLE.peek().ok_or_else(|| bad(id))?;
    let s = t.inner.read().map.get(&id).map(|e| e.sock.clone());
    s.ok_or_else(|| bad(id))
}

/// Bumped (under the write lock) whenever a number's connection changes or
/// the number goes away, invalidating every thread's lookup cache.
static EPOCH: AtomicU64 = AtomicU64::new(1);

const CACHE_WAYS: usize = 8;

thread_local! {
    /// Per-thread cache of recent lookups: (socket number, epoch, connection).
    /// Weak, so that a cached entry never keeps a closed connection (and its
    /// descriptor) alive; the epoch makes a closed or reconnected number miss.
    static CACHE: RefCell<[(i32, u64, Weak<Conn>); CACHE_WAYS]> =
        RefCell::new(std::array::from_fn(|_| (0, 0, Weak::new())));
}

/// The socket's current connection if it has one (fast path), else the
/// socket (to wait for or report the state). The per-call path: a hit in the
/// thread's cache costs one relaxed load and one reference count, no lock.
pub fn conn_or_socket(id: i32) -> Result<std::result::Result<Arc<Conn>, Arc<Socket>>> {
    let way = id as usize % CACHE_WAYS;
    let epoch = EPOCH.load(Ordering::Acquire);
    let hit = CACHE.with(|c| {
        let c = c.borrow();
        let (cid, ce, w) = &c[way];
        if *cid == id && *ce == epoch {
            w.upgrade()
        } else {
            None
        }
    });
    if let Some(conn) = hit {
        return Ok(Ok(conn));
    }
    let table = TABLE.peek().ok_or_else(|| bad(id))?;
    let t = table.inner.read();
    let e = t.map.get(&id).ok_or_else(|| bad(id))?;
    Ok(match &e.conn {
        Some(c) => {
            // the epoch read under the lock matches the table we saw
            let epoch = EPOCH.load(Ordering::Acquire);
            let entry = (id, epoch, Arc::downgrade(c));
            let conn = c.clone();
            drop(t);
            let old = CACHE.with(|cache| std::mem::replace(&mut cache.borrow_mut()[way], entry));
            drop(old);
            Ok(conn)
        }
        None => Err(e.sock.clone()),
    })
}

/// Publishes (or withdraws, while reconnecting) the socket's connection.
pub fn set_conn(id: i32, conn: Option<Arc<Conn>>) {
    let Some(table) = TABLE.peek() else { return };
    let old = {
        let mut t = table.inner.write();
        EPOCH.fetch_add(1, Ordering::AcqRel);
        t.map.get_mut(&id).map(|e| std::mem::replace(&mut e.conn, conn))
    };
    drop(old); // a connection may close its socket when dropped: not under the lock
}

/// Takes the socket out of the table; the caller drops it outside the lock.
pub fn remove(id: i32) -> Result<Arc<Socket>> {
    let table = TABLE.peek().ok_or_else(|| bad(id))?;
    let e = {
        let mut t = table.inner.write();
        EPOCH.fetch_add(1, Ordering::AcqRel);
        let e = t.map.remove(&id);
        crate::reactor::shrink_map(&mut t.map);
        e
    };
    e.map(|e| e.sock).ok_or_else(|| bad(id))
}

/// Takes every socket out of the table (ws_cleanup).
pub fn remove_all() -> Vec<(i32, Arc<Socket>)> {
    let Some(table) = TABLE.peek() else { return Vec::new() };
    let entries: Vec<(i32, Entry)> = {
        let mut t = table.inner.write();
        EPOCH.fetch_add(1, Ordering::AcqRel);
        t.map.drain().collect()
    };
    // connections are dropped here, not under the lock
    entries.into_iter().map(|(id, e)| (id, e.sock)).collect()
}

/// In a forked child: the parent's table is forgotten (leaked), every
/// thread's lookup cache misses, numbers continue after the parent's.
pub(crate) fn forget_in_child() {
    TABLE.forget_in_child();
    EPOCH.fetch_add(1, Ordering::AcqRel);
    FORKED_BELOW.store(NEXT_ID.load(Ordering::Relaxed), Ordering::Relaxed);
}
