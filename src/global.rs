//! Process-wide singletons (the slot table, the background threads, the
//! event queues) that can be created fallibly, torn down by `ws_cleanup`,
//! and forgotten in the child of a `fork()`.
//!
//! `once_cell::Lazy` can do none of that: a failed initialiser poisons it
//! for good (one EMFILE at first use broke every later call), and after
//! fork() the child inherits locks held by threads that do not exist there.
//! A [`Global`] is a pointer set once by a compare-and-swap: no lock is
//! involved in creating or reading it, so a forked child can always replace
//! it. The child's copy of the parent's value is leaked, never dropped: its
//! locks may be held by threads the child does not have, and its descriptors
//! belong to the parent's connections.
#![deny(unsafe_code)]

use crate::error::Result;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering};
use std::sync::Arc;

/// Marks a value being created by one thread; others wait for it.
const BUSY: usize = 1;

pub struct Global<T: Send + Sync + 'static> {
    ptr: AtomicPtr<T>,
}

impl<T: Send + Sync + 'static> Global<T> {
    pub const fn new() -> Self {
        Global { ptr: AtomicPtr::new(std::ptr::null_mut()) }
    }

    /// The value, if it exists (never creates it).
    pub fn peek(&self) -> Option<Arc<T>> {
        let p = self.ptr.load(Ordering::Acquire);
        if p.is_null() || p as usize == BUSY {
            return None;
        }
        Some(crate::sys::arc_clone_raw(p))
    }

    /// The value, created by `make` on first use. A failure is returned to
    /// this caller only; the next call tries again.
    pub fn get_or_try_init(&self, make: impl FnOnce() -> Result<T>) -> Result<Arc<T>> {
        loop {
            let p = self.ptr.load(Ordering::Acquire);
            if p as usize == BUSY {
                std::thread::yield_now();
                continue;
            }
            if !p.is_null() {
                return Ok(crate::sys::arc_clone_raw(p));
            }
            if self.ptr.compare_exchange(p, BUSY as *mut T, Ordering::AcqRel, Ordering::Acquire).is_err() {
                continue;
            }
            register_fork_handler();
            return match make() {
                Ok(v) => {
                    let a = Arc::new(v);
                    self.ptr.store(Arc::into_raw(a.clone()).cast_mut(), Ordering::Release);
                    Ok(a)
                }
                Err(e) => {
                    self.ptr.store(std::ptr::null_mut(), Ordering::Release);
                    Err(e)
                }
            };
        }
    }

    /// Removes the value (ws_cleanup, which requires that no other thread is
    /// inside the library, as curl_global_cleanup does). Threads holding a
    /// clone keep it alive until they drop it.
    pub fn take(&self) -> Option<Arc<T>> {
        loop {
            let p = self.ptr.load(Ordering::Acquire);
            if p as usize == BUSY {
                std::thread::yield_now();
                continue;
            }
            if p.is_null() {
                return None;
            }
            if self.ptr.compare_exchange(p, std::ptr::null_mut(), Ordering::AcqRel, Ordering::Acquire).is_ok() {
                return Some(crate::sys::arc_from_raw(p));
            }
        }
    }

    /// In a forked child: forget the parent's value (leaked on purpose).
    pub fn forget_in_child(&self) {
        self.ptr.store(std::ptr::null_mut(), Ordering::Release);
    }
}

/// How many times this process image has been forked into a child; a socket
/// or queue created under an older generation belongs to the parent.
static FORK_GEN: AtomicU64 = AtomicU64::new(0);

pub fn fork_generation() -> u64 {
    FORK_GEN.load(Ordering::Acquire)
}

fn register_fork_handler() {
    static DONE: AtomicBool = AtomicBool::new(false);
    if !DONE.swap(true, Ordering::AcqRel) {
        crate::sys::at_fork_child(in_child);
    }
}

/// Runs in the child right after fork(), on its only thread: every
/// singleton is forgotten, so the child starts with no sockets, queues or
/// background threads and its first call creates fresh ones.
extern "C" fn in_child() {
    FORK_GEN.fetch_add(1, Ordering::AcqRel);
    crate::registry::forget_in_child();
    crate::events::forget_in_child();
    crate::reactor::forget_in_child();
    crate::pool::forget_in_child();
}
