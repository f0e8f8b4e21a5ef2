//! Test-only pause points inside the state machine's transitions, so that a
//! test can force an interleaving deterministically (SQLite's
//! `sqlite3_test_control` in spirit): with no hook installed each point
//! costs one relaxed atomic load, and the points sit on cold paths only
//! (connection attach, `ws_reconnect`), never on read or write.
//!
//! Rust-only and hidden (`wsclient::internals::hooks`); the C ABI has no
//! way to reach it.
#![deny(unsafe_code)]

use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Where a transition can be paused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Point {
    /// `attach`: the connection is built and its upgrade done, the socket's
    /// locks are not yet taken (a `ws_close` or `ws_reconnect` here must
    /// leave nothing behind).
    AttachBeforeLock,
    /// `ws_reconnect`: the old connection has been released from the slot
    /// and is about to be closed (another `ws_reconnect` here must not make
    /// either connection unreachable).
    ReconnectReleased,
}

type Hook = Arc<dyn Fn(Point, i32) + Send + Sync>;

static ARMED: AtomicBool = AtomicBool::new(false);
static HOOK: Mutex<Option<Hook>> = Mutex::new(None);

/// Installs `f`, called with the point and the socket number at every pause
/// point until [`clear`]; it may block to hold the transition there.
pub fn set(f: impl Fn(Point, i32) + Send + Sync + 'static) {
    *HOOK.lock() = Some(Arc::new(f));
    ARMED.store(true, Ordering::SeqCst);
}

/// Removes the hook.
pub fn clear() {
    ARMED.store(false, Ordering::SeqCst);
    *HOOK.lock() = None;
}

/// A pause point (called by the core).
#[inline]
pub(crate) fn hit(p: Point, socket: i32) {
    if ARMED.load(Ordering::Relaxed) {
        let f = HOOK.lock().clone();
        if let Some(f) = f {
            f(p, socket);
        }
    }
}
