//! Event queues for single-threaded hosts (Lua, CTRL, ...) and the callback
//! thread. A socket opened with `"queue": Q` delivers everything that happens
//! to it (open, messages, pongs, errors, close, reconnect attempts) as events
//! into queue Q, in order; the host drains them with `ws_next_event`, or
//! registers a callback that the library's one callback thread invokes.
#![deny(unsafe_code)]

use crate::error::{Code, Error, Result};
use crate::sys;
use once_cell::sync::Lazy;
use parking_lot::{Condvar, Mutex, RwLock};
use std::collections::{HashMap, VecDeque};
use std::ffi::c_void;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EvKind {
    Open = 1,
    Message = 2,
    Pong = 3,
    Error = 4,
    Close = 5,
    Reconnecting = 6,
}

/// Who ended a connection (CLOSE events, `ws_get_info`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ClosedBy {
    #[default]
    None = 0,
    Client = 1,
    Server = 2,
    Error = 3,
}

#[derive(Debug)]
pub struct Ev {
    pub kind: EvKind,
    pub socket: i32,
    pub msg_type: i32,
    pub code: i32,
    /// Payload, error message or close reason, followed by one NUL byte that
    /// `len` does not count (so C can print text payloads directly).
    pub data: Vec<u8>,
    pub len: usize,
    pub rtt_us: i64,
    pub delay_ms: i64,
    pub closed_by: ClosedBy,
    pub clean: bool,
    /// CLOSE: the WS_E_* code of the failure that ended the connection, 0 if none.
    pub error: i32,
    pub time_us: u64,
}

impl Ev {
    pub fn new(kind: EvKind, socket: i32) -> Ev {
        Ev {
            kind,
            socket,
            msg_type: 0,
            code: 0,
            data: vec![0],
            len: 0,
            rtt_us: -1,
            delay_ms: 0,
            closed_by: ClosedBy::None,
            clean: false,
            error: 0,
            time_us: sys::now_us(),
        }
    }

    pub fn with_data(mut self, bytes: &[u8]) -> Ev {
        let mut v = Vec::with_capacity(bytes.len() + 1);
        v.extend_from_slice(bytes);
        v.push(0);
        self.len = bytes.len();
        self.data = v;
        self
    }

    /// Takes ownership of a message buffer holding `len` payload bytes.
    pub fn with_buffer(mut self, mut buf: Vec<u8>, len: usize) -> Ev {
        buf.truncate(len);
        buf.push(0);
        self.len = len;
        self.data = buf;
        self
    }

    pub fn error(socket: i32, e: &Error) -> Ev {
        let mut ev = Ev::new(EvKind::Error, socket).with_data(e.msg.as_bytes());
        ev.code = e.code as i32;
        ev
    }
}

/// The C callback type (see `ws_queue_set_callback`).
pub type CallbackFn = extern "C" fn(event: *const crate::ffi::ws_event, user: *mut c_void);

#[derive(Clone, Copy)]
struct Callback {
    f: CallbackFn,
    /// Opaque user pointer, passed back untouched.
    user: usize,
}

struct QInner {
    events: VecDeque<Ev>,
    bytes: usize,
    /// The event lent to the consumer by the last `ws_next_event`.
    current: Option<Ev>,
    destroyed: bool,
    callback: Option<Callback>,
}

pub struct Queue {
    pub id: i32,
    inner: Mutex<QInner>,
    cv: Condvar,
}

/// Above this many payload bytes waiting in a queue, the background thread
/// stops reading the queue's sockets (TCP pushes back; nothing is dropped).
pub(crate) const QUEUE_HIGH_WATER: usize = 64 << 20;

impl Queue {
    pub fn push(&self, ev: Ev) {
        let mut q = self.inner.lock();
        if q.destroyed {
            return;
        }
        match q.callback {
            // handed over under the queue lock, so that a callback set
            // meanwhile sees the waiting events first, in order
            Some(cb) => dispatch(cb, ev),
            None => {
                q.bytes += ev.len;
                q.events.push_back(ev);
                self.cv.notify_one();
            }
        }
    }

    /// True when the consumer is behind by more than the high-water mark.
    pub fn is_full(&self) -> bool {
        self.inner.lock().bytes > QUEUE_HIGH_WATER
    }

    /// Pops the next event, waiting up to `timeout` (None: forever). The event
    /// stays owned by the queue until the next call.
    pub fn next(&self, timeout: Option<Duration>, fill: impl FnOnce(&Ev)) -> Result<bool> {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut q = self.inner.lock();
        if q.callback.is_some() {
            return Err(Error::arg(format!("queue {} delivers to a callback; ws_next_event cannot be used", self.id)));
        }
        q.current = None;
        loop {
            if q.destroyed {
                return Err(Error::new(Code::BadSocket, format!("event queue {} was destroyed", self.id)));
            }
            if let Some(ev) = q.events.pop_front() {
                q.bytes -= ev.len;
                fill(&ev);
                q.current = Some(ev);
                return Ok(true);
            }
            match deadline {
                None => self.cv.wait(&mut q),
                Some(d) => {
                    if Instant::now() >= d || self.cv.wait_until(&mut q, d).timed_out() && q.events.is_empty() {
                        return Ok(false);
                    }
                }
            }
        }
    }

    /// Switches delivery; waiting events go to the new callback first, in
    /// order, before any event pushed later.
    fn set_callback(&self, cb: Option<Callback>) {
        let mut q = self.inner.lock();
        q.callback = cb;
        if let Some(cb) = cb {
            q.bytes = 0;
            for ev in q.events.drain(..) {
                dispatch(cb, ev);
            }
        }
    }
}

static QUEUES: Lazy<RwLock<HashMap<i32, Arc<Queue>>>> = Lazy::new(|| RwLock::new(HashMap::new()));
static NEXT_QUEUE: AtomicUsize = AtomicUsize::new(1);

pub fn create() -> Result<i32> {
    let id = NEXT_QUEUE.fetch_add(1, Ordering::Relaxed);
    let id = i32::try_from(id).map_err(|_| Error::new(Code::Internal, "internal error: queue numbers exhausted"))?;
    let q = Arc::new(Queue {
        id,
        inner: Mutex::new(QInner {
            events: VecDeque::new(),
            bytes: 0,
            current: None,
            destroyed: false,
            callback: None,
        }),
        cv: Condvar::new(),
    });
    QUEUES.write().insert(id, q);
    Ok(id)
}

fn bad_queue(id: i32) -> Error {
    Error::new(Code::BadSocket, format!("bad event queue number {id} (not created or destroyed)"))
}

pub fn get(id: i32) -> Result<Arc<Queue>> {
    QUEUES.read().get(&id).cloned().ok_or_else(|| bad_queue(id))
}

pub fn destroy(id: i32) -> Result<()> {
    let removed = QUEUES.write().remove(&id);
    let q = removed.ok_or_else(|| bad_queue(id))?;
    let mut inner = q.inner.lock();
    inner.destroyed = true;
    inner.events.clear();
    inner.current = None;
    q.cv.notify_all();
    Ok(())
}

pub fn set_callback(id: i32, f: Option<CallbackFn>, user: usize) -> Result<()> {
    get(id)?.set_callback(f.map(|f| Callback { f, user }));
    Ok(())
}

// ---- the callback thread ---------------------------------------------------------
//
// One library thread runs every callback, in the order events happened, never
// inside a ws_* call of the host, and holds no library lock while a callback
// runs: callbacks may call any ws_* function (ws_write, ws_close, ...).

struct Dispatch {
    jobs: Mutex<VecDeque<(Callback, Ev)>>,
    cv: Condvar,
}

static DISPATCH: Lazy<Arc<Dispatch>> = Lazy::new(|| {
    let d = Arc::new(Dispatch { jobs: Mutex::new(VecDeque::new()), cv: Condvar::new() });
    let d2 = d.clone();
    std::thread::Builder::new()
        .name("wsclient-callbacks".into())
        .spawn(move || callback_thread(d2))
        .expect("spawn the wsclient callback thread");
    d
});

fn dispatch(cb: Callback, ev: Ev) {
    let d = &*DISPATCH;
    d.jobs.lock().push_back((cb, ev));
    d.cv.notify_one();
}

fn callback_thread(d: Arc<Dispatch>) {
    loop {
        let (cb, ev) = {
            let mut jobs = d.jobs.lock();
            loop {
                if let Some(j) = jobs.pop_front() {
                    break j;
                }
                d.cv.wait(&mut jobs);
            }
        };
        let c = crate::ffi::event_to_c(&ev);
        // A panic cannot come out of C code; a Rust panic in our own
        // conversion is caught so the thread keeps serving.
        let _ = std::panic::catch_unwind(|| (cb.f)(&c, cb.user as *mut c_void));
    }
}
