//! The slot table: integer socket numbers <-> connections. Numbers start at 1,
//! only grow (wrapping after 2^31 - 1 opens to the lowest free number) and are
//! never handed out twice while in use, so a stale number can never reach
//! another connection. The lock covers lookup, insert and remove only: no DNS,
//! connect, I/O or drop of a connection happens under it.
#![deny(unsafe_code)]

use crate::error::{Code, Error, Result};
use crate::socket::Socket;
use once_cell::sync::Lazy;
use parking_lot::RwLock;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Default for the maximum number of open sockets (`ws_set_max_sockets`).
pub(crate) const DEFAULT_MAX_SOCKETS: usize = 4096;

static MAX_SOCKETS: AtomicUsize = AtomicUsize::new(DEFAULT_MAX_SOCKETS);

struct Inner {
    map: HashMap<i32, Arc<Socket>>,
    next: i32,
    /// Opens in progress: they count against the maximum.
    reserved: usize,
}

static TABLE: Lazy<RwLock<Inner>> = Lazy::new(|| RwLock::new(Inner { map: HashMap::new(), next: 1, reserved: 0 }));

/// A place in the table held while a connection is being opened.
pub struct Reservation {
    live: bool,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if self.live {
            TABLE.write().reserved -= 1;
        }
    }
}

pub fn set_max(n: usize) -> usize {
    MAX_SOCKETS.swap(n, Ordering::AcqRel)
}

pub fn reserve() -> Result<Reservation> {
    let mut t = TABLE.write();
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

pub fn insert(mut r: Reservation, conn: Arc<Socket>) -> i32 {
    let mut t = TABLE.write();
    r.live = false;
    t.reserved -= 1;
    loop {
        let id = t.next;
        t.next = if t.next == i32::MAX { 1 } else { t.next + 1 };
        if let std::collections::hash_map::Entry::Vacant(e) = t.map.entry(id) {
            conn.set_id(id);
            e.insert(conn);
            return id;
        }
    }
}

fn bad(id: i32) -> Error {
    if id <= 0 {
        Error::new(Code::BadSocket, format!("bad socket number {id} (socket numbers are > 0)"))
    } else {
        Error::new(Code::BadSocket, format!("bad socket number {id} (not open: never opened or already closed)"))
    }
}

pub fn get(id: i32) -> Result<Arc<Socket>> {
    TABLE.read().map.get(&id).cloned().ok_or_else(|| bad(id))
}

/// Takes the connection out of the table; the caller drops it outside the lock.
pub fn remove(id: i32) -> Result<Arc<Socket>> {
    TABLE.write().map.remove(&id).ok_or_else(|| bad(id))
}
