//! Event queues for single-threaded hosts (Lua, CTRL, ...) and the callback
//! thread. A socket opened with `"queue": Q` delivers everything that happens
//! to it (open, messages, pongs, errors, close, reconnect attempts) as events
//! into queue Q, in order; the host drains them with `ws_next_event`, or
//! registers a callback that the library's one callback thread invokes.
#![deny(unsafe_code)]

use crate::error::{Code, Error, Result};
use crate::global::{self, Global};
use crate::sys;
use parking_lot::{Condvar, Mutex, RwLock};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::ThreadId;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EvKind {
    Open = 1,
    Message = 2,
    Pong = 3,
    Error = 4,
    Close = 5,
    Reconnecting = 6,
    MessagePart = 7,
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

    /// The memory this event holds (what the queue's limit counts).
    fn mem(&self) -> usize {
        self.data.capacity()
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

/// What a callback queue calls with each event (built by the C layer around
/// the host's function and user pointer).
pub type Callback = Arc<dyn Fn(&Ev) + Send + Sync>;

struct QInner {
    events: VecDeque<Ev>,
    /// Memory of events not yet consumed (their buffers' capacity): waiting,
    /// or handed to the callback thread and not yet returned from the
    /// callback.
    bytes: usize,
    /// The event lent to each consuming thread by its last `ws_next_event`.
    lent: Vec<(ThreadId, Ev)>,
    destroyed: bool,
    callback: Option<Callback>,
    /// Tickets for this queue waiting in the callback thread's list.
    tickets: usize,
    /// The callback thread is inside this queue's callback.
    running: bool,
}

pub struct Queue {
    pub id: i32,
    /// Created before a fork: belongs to the parent.
    fork_gen: u64,
    inner: Mutex<QInner>,
    cv: Condvar,
}

/// Above this many bytes of events waiting in a queue (or being delivered
/// to its callback), the background thread stops reading the queue's
/// sockets (TCP pushes back; nothing is dropped).
pub(crate) const QUEUE_HIGH_WATER: usize = 64 << 20;

impl Queue {
    pub fn push(self: &Arc<Self>, ev: Ev) {
        let mut q = self.inner.lock();
        if q.destroyed {
            return;
        }
        q.bytes += ev.mem();
        q.events.push_back(ev);
        if q.callback.is_some() {
            // a ticket per event, taken under the queue lock: the callback
            // thread serves queues in the order their events happened
            q.tickets += 1;
            if let Some(d) = DISPATCH.peek() {
                d.ticket(self.clone());
            }
        } else {
            self.cv.notify_one();
        }
    }

    /// True when the consumer is behind by more than the high-water mark.
    pub fn is_full(&self) -> bool {
        self.inner.lock().bytes > QUEUE_HIGH_WATER
    }

    /// Pops the next event, waiting up to `timeout` (None: forever). The event
    /// stays owned by the queue, lent to this thread until its next call.
    pub fn next(self: &Arc<Self>, timeout: Option<Duration>, fill: impl FnOnce(&Ev)) -> Result<bool> {
        let deadline = timeout.map(|t| Instant::now() + t);
        let me = std::thread::current().id();
        let mut q = self.inner.lock();
        if q.callback.is_some() {
            return Err(Error::arg(format!("queue {} delivers to a callback; ws_next_event cannot be used", self.id)));
        }
        let old = q.lent.iter().position(|(t, _)| *t == me).map(|i| q.lent.swap_remove(i));
        loop {
            if q.destroyed {
                return Err(Error::new(Code::BadSocket, format!("event queue {} was destroyed", self.id)));
            }
            if q.callback.is_some() {
                // a callback was set while this thread waited: the events are its
                return Err(Error::arg(format!("queue {} now delivers to a callback", self.id)));
            }
            if let Some(ev) = q.events.pop_front() {
                q.bytes -= ev.mem();
                fill(&ev);
                q.lent.push((me, ev));
                drop(q);
                LENT_IN.with(|l| l.borrow_mut().note(self));
                drop(old);
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
    /// order, before any event pushed later. When it returns, no call of the
    /// previous callback is running or will start (unless called from inside
    /// that callback, which then finishes when it returns).
    fn set_callback(self: &Arc<Self>, cb: Option<Callback>) -> Result<()> {
        let d = match cb {
            Some(_) => Some(DISPATCH.get_or_try_init(Dispatch::start)?),
            None => None,
        };
        let mut q = self.inner.lock();
        if q.destroyed {
            return Err(bad_queue(self.id));
        }
        let had = q.callback.is_some();
        q.callback = cb;
        if let Some(d) = d {
            while q.tickets < q.events.len() {
                q.tickets += 1;
                d.ticket(self.clone());
            }
            // a thread waiting in ws_next_event returns (the events are the
            // callback's now)
            self.cv.notify_all();
        } else {
            // waiting events stay for ws_next_event
            self.cv.notify_all();
        }
        if had {
            self.quiesce(&mut q);
        }
        Ok(())
    }

    /// Waits until the callback thread is not inside this queue's callback.
    fn quiesce(&self, q: &mut parking_lot::MutexGuard<'_, QInner>) {
        if on_callback_thread() {
            return;
        }
        while q.running {
            self.cv.wait(q);
        }
    }

    fn destroy(&self) {
        let (events, lent) = {
            let mut q = self.inner.lock();
            q.destroyed = true;
            q.callback = None;
            q.bytes = 0;
            let e = std::mem::take(&mut q.events);
            let l = std::mem::take(&mut q.lent);
            self.cv.notify_all();
            self.quiesce(&mut q);
            (e, l)
        };
        drop((events, lent));
    }

    /// Callback thread: runs the callback for the next event, if the queue
    /// still has one and still delivers to a callback.
    fn serve_ticket(&self) {
        let (cb, ev) = {
            let mut q = self.inner.lock();
            q.tickets = q.tickets.saturating_sub(1);
            let Some(cb) = q.callback.clone() else { return };
            if q.destroyed {
                return;
            }
            let Some(ev) = q.events.pop_front() else { return };
            q.running = true;
            (cb, ev)
        };
        // A panic cannot come out of C code; one in our own conversion is
        // caught so that the thread keeps serving.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cb(&ev)));
        let mut q = self.inner.lock();
        q.running = false;
        q.bytes = q.bytes.saturating_sub(ev.mem());
        self.cv.notify_all();
        drop(q);
        drop(cb);
    }
}

/// The queues this thread holds a lent event in: when the thread exits, its
/// lent events are freed (a thread id is never reused, so they would
/// otherwise stay until the queue is destroyed).
#[derive(Default)]
struct LentIn(Vec<std::sync::Weak<Queue>>);

impl LentIn {
    fn note(&mut self, q: &Arc<Queue>) {
        self.0.retain(|w| w.strong_count() > 0);
        if !self.0.iter().any(|w| std::ptr::eq(w.as_ptr(), Arc::as_ptr(q))) {
            self.0.push(Arc::downgrade(q));
        }
    }
}

impl Drop for LentIn {
    fn drop(&mut self) {
        let me = std::thread::current().id();
        for q in self.0.drain(..).filter_map(|w| w.upgrade()) {
            let gone: Vec<(ThreadId, Ev)> = {
                let mut inner = q.inner.lock();
                let (mine, rest): (Vec<_>, Vec<_>) =
                    std::mem::take(&mut inner.lent).into_iter().partition(|(t, _)| *t == me);
                inner.lent = rest;
                mine
            };
            drop(gone);
        }
    }
}

thread_local! {
    static LENT_IN: std::cell::RefCell<LentIn> = std::cell::RefCell::new(LentIn::default());
}

/// Live queues by number; forgotten in a forked child.
struct Queues {
    map: RwLock<HashMap<i32, Arc<Queue>>>,
}

static QUEUES: Global<Queues> = Global::new();
static NEXT_QUEUE: AtomicUsize = AtomicUsize::new(1);

fn queues() -> Result<Arc<Queues>> {
    QUEUES.get_or_try_init(|| Ok(Queues { map: RwLock::new(HashMap::new()) }))
}

pub fn create() -> Result<i32> {
    let id = NEXT_QUEUE.fetch_add(1, Ordering::Relaxed);
    let id = i32::try_from(id).map_err(|_| Error::new(Code::Internal, "internal error: queue numbers exhausted"))?;
    let q = Arc::new(Queue {
        id,
        fork_gen: global::fork_generation(),
        inner: Mutex::new(QInner {
            events: VecDeque::new(),
            bytes: 0,
            lent: Vec::new(),
            destroyed: false,
            callback: None,
            tickets: 0,
            running: false,
        }),
        cv: Condvar::new(),
    });
    queues()?.map.write().insert(id, q);
    Ok(id)
}

fn bad_queue(id: i32) -> Error {
    if id > 0 && (id as usize) < NEXT_QUEUE.load(Ordering::Relaxed) && global::fork_generation() > 0 {
        return Error::new(
            Code::BadSocket,
            format!("bad event queue number {id} (destroyed, or created by the parent process before fork())"),
        );
    }
    Error::new(Code::BadSocket, format!("bad event queue number {id} (not created or destroyed)"))
}

pub fn get(id: i32) -> Result<Arc<Queue>> {
    let q = QUEUES.peek().and_then(|qs| qs.map.read().get(&id).cloned());
    q.filter(|q| q.fork_gen == global::fork_generation()).ok_or_else(|| bad_queue(id))
}

pub fn destroy(id: i32) -> Result<()> {
    let removed = QUEUES.peek().and_then(|qs| {
        let mut m = qs.map.write();
        let q = m.remove(&id);
        crate::reactor::shrink_map(&mut m);
        q
    });
    removed.ok_or_else(|| bad_queue(id))?.destroy();
    Ok(())
}

pub fn set_callback(id: i32, cb: Option<Callback>) -> Result<()> {
    get(id)?.set_callback(cb)
}

/// Destroys every queue (ws_cleanup).
pub fn destroy_all() {
    let all: Vec<Arc<Queue>> = match QUEUES.peek() {
        Some(qs) => qs.map.write().drain().map(|(_, q)| q).collect(),
        None => Vec::new(),
    };
    for q in all {
        q.destroy();
    }
}

pub(crate) fn forget_in_child() {
    QUEUES.forget_in_child();
    DISPATCH.forget_in_child();
}

// ---- the callback thread ---------------------------------------------------------
//
// One library thread runs every callback, in the order events happened, never
// inside a ws_* call of the host, and holds no library lock while a callback
// runs: callbacks may call any ws_* function (ws_write, ws_close, ...).

struct Dispatch {
    jobs: Mutex<DispatchJobs>,
    cv: Condvar,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

struct DispatchJobs {
    tickets: VecDeque<Arc<Queue>>,
    stop: bool,
}

static DISPATCH: Global<Dispatch> = Global::new();

thread_local! {
    static ON_CALLBACK_THREAD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

pub(crate) fn on_callback_thread() -> bool {
    ON_CALLBACK_THREAD.with(|c| c.get())
}

impl Dispatch {
    fn start() -> Result<Dispatch> {
        // the thread is started by the first ticket (see `ensure_thread`),
        // once this Dispatch is published
        Ok(Dispatch {
            jobs: Mutex::new(DispatchJobs { tickets: VecDeque::new(), stop: false }),
            cv: Condvar::new(),
            thread: Mutex::new(None),
        })
    }

    fn ticket(self: &Arc<Self>, q: Arc<Queue>) {
        let mut j = self.jobs.lock();
        j.tickets.push_back(q);
        self.cv.notify_one();
        drop(j);
        self.ensure_thread();
    }

    fn ensure_thread(self: &Arc<Self>) {
        let mut t = self.thread.lock();
        if t.is_some() {
            return;
        }
        let me = self.clone();
        // without a thread now (EAGAIN), the next ticket tries again; the
        // events wait in their queues meanwhile
        if let Ok(h) = std::thread::Builder::new().name("wsclient-callbacks".into()).spawn(move || me.run()) {
            *t = Some(h);
        }
    }

    fn run(&self) {
        ON_CALLBACK_THREAD.with(|c| c.set(true));
        loop {
            let q = {
                let mut j = self.jobs.lock();
                loop {
                    if let Some(q) = j.tickets.pop_front() {
                        if j.tickets.is_empty() && j.tickets.capacity() > 1024 {
                            j.tickets.shrink_to(64);
                        }
                        break q;
                    }
                    if j.stop {
                        return;
                    }
                    self.cv.wait(&mut j);
                }
            };
            q.serve_ticket();
        }
    }

    /// Ends the thread after the tickets it has (ws_cleanup).
    fn stop(&self) -> bool {
        if on_callback_thread() {
            return false;
        }
        self.jobs.lock().stop = true;
        self.cv.notify_all();
        let h = self.thread.lock().take();
        if let Some(h) = h {
            let _ = h.join();
        }
        true
    }
}

/// Stops the callback thread (ws_cleanup). False when called on it.
pub fn stop_dispatch() -> bool {
    match DISPATCH.peek() {
        Some(d) => {
            if !d.stop() {
                return false;
            }
            DISPATCH.take();
            true
        }
        None => true,
    }
}
