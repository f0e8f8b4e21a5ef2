//! The logical socket behind a socket number: the URL and options it was
//! opened with, its current connection (if any), and its life across async
//! opens, reconnects and the final close. One socket number can see several
//! connections (`ws_reconnect`, `"autoReconnect"`), never the reverse.
#![deny(unsafe_code)]

use crate::conn::{Conn, EndInfo, Info, Owner};
use crate::error::{Code, Error, Result};
use crate::events::{ClosedBy, Ev, EvKind, Queue};
use crate::handshake::Upgrade;
use crate::options::{Options, Target};
use crate::{connect, pool, reactor, registry};
use parking_lot::{Condvar, Mutex};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;
use std::time::Instant;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SockState {
    Connecting = 1,
    Open = 2,
    Closing = 3,
    Closed = 4,
}

struct Slot {
    state: SockState,
    conn: Option<Arc<Conn>>,
    /// Why the last connection attempt or connection failed.
    error: Option<Error>,
    /// ws_close was called: no reconnects, no further events.
    user_closed: bool,
    /// Consecutive failed attempts since the last open (backoff).
    attempt: u32,
    /// Completed reconnections.
    reconnects: u32,
    /// An event-mode socket owes its host a final CLOSE event.
    close_owed: bool,
    /// Connection attempt generation: results of superseded attempts are dropped.
    generation: u64,
    /// ws_reconnect is replacing the connection: its end must not schedule
    /// an automatic attempt.
    replacing: bool,
    /// What the last connection's upgrade and end looked like, kept for
    /// readback once the connection itself is released (reconnects).
    last: Option<(Arc<Upgrade>, Info)>,
    ever_opened: bool,
}

pub struct Socket {
    id: AtomicI32,
    target: Target,
    opts: Options,
    queue: Option<Arc<Queue>>,
    slot: Mutex<Slot>,
    cv: Condvar,
}

/// Snapshot for `ws_get_info`.
pub struct SocketInfo {
    pub state: SockState,
    pub reconnects: u32,
    pub conn: Option<crate::conn::Info>,
    pub http_status: u16,
}

impl Socket {
    pub fn new(target: Target, opts: Options, queue: Option<Arc<Queue>>) -> Arc<Socket> {
        let event_mode = queue.is_some();
        Arc::new(Socket {
            id: AtomicI32::new(0),
            target,
            opts,
            queue,
            slot: Mutex::new(Slot {
                state: SockState::Connecting,
                conn: None,
                error: None,
                user_closed: false,
                attempt: 0,
                reconnects: 0,
                close_owed: event_mode,
                generation: 0,
                replacing: false,
                last: None,
                ever_opened: false,
            }),
            cv: Condvar::new(),
        })
    }

    pub fn id(&self) -> i32 {
        self.id.load(Ordering::Relaxed)
    }

    pub fn set_id(&self, id: i32) {
        self.id.store(id, Ordering::Relaxed);
    }

    fn emit(&self, ev: Ev) {
        if let Some(q) = &self.queue {
            q.push(ev);
        }
    }

    fn close_event(&self, slot: &mut Slot, end: Option<&EndInfo>, error: Option<&Error>) {
        if !slot.close_owed {
            return;
        }
        slot.close_owed = false;
        let mut ev = Ev::new(EvKind::Close, self.id());
        match end {
            Some(e) => {
                ev = ev.with_data(e.info.reason_rcvd.as_bytes());
                ev.code = e.info.code_rcvd as i32;
                ev.closed_by = e.info.closed_by;
                ev.clean = e.info.clean;
            }
            None => {
                // no connection was ever made (or it was already reported)
                ev.code = 0;
                ev.closed_by = if error.is_some() { ClosedBy::Error } else { ClosedBy::Client };
            }
        }
        // the error that ended it, if any (WS_E_*), in `error`
        ev.error = error.map_or(0, |e| e.code as i32);
        self.emit(ev);
    }

    // ---- connecting -----------------------------------------------------------

    /// Connects on the calling thread. `initial` (`ws_open`): a failure is
    /// returned to the caller only (no events, no reconnect; the number is
    /// given up). Otherwise (`ws_reconnect`) it is also reported as events
    /// and may schedule an automatic attempt.
    pub fn connect_blocking(self: &Arc<Self>, initial: bool) -> Result<()> {
        let generation = self.begin_attempt()?;
        match connect::open(&self.target, &self.opts) {
            Ok(o) => {
                self.attach(generation, o);
                Ok(())
            }
            Err(e) if initial => {
                let mut slot = self.slot.lock();
                slot.user_closed = true;
                slot.close_owed = false;
                slot.state = SockState::Closed;
                Err(e)
            }
            Err(e) => {
                self.attempt_failed(generation, e.clone());
                Err(e)
            }
        }
    }

    /// Connects on a pool thread; the outcome arrives as events.
    pub fn connect_async(self: &Arc<Self>) -> Result<()> {
        let generation = self.begin_attempt()?;
        let me = self.clone();
        pool::spawn(Box::new(move || match connect::open(&me.target, &me.opts) {
            Ok(o) => me.attach(generation, o),
            Err(e) => me.attempt_failed(generation, e),
        }));
        Ok(())
    }

    fn begin_attempt(&self) -> Result<u64> {
        let mut slot = self.slot.lock();
        if slot.user_closed {
            return Err(Error::new(Code::BadSocket, format!("socket {} is closed", self.id())));
        }
        slot.generation += 1;
        slot.state = SockState::Connecting;
        registry::set_conn(self.id(), None);
        Ok(slot.generation)
    }

    fn attach(self: &Arc<Self>, generation: u64, o: connect::Opened) {
        let owner = Owner { socket: Arc::downgrade(self), id: self.id(), queue: self.queue.clone() };
        let conn = Arc::new(Conn::new(o.transport, &o.leftover, o.upgrade, &self.opts, self.target.peer(), owner));
        {
            let mut slot = self.slot.lock();
            if slot.user_closed || slot.generation != generation {
                // superseded (closed or reconnected meanwhile): drop quietly
                return;
            }
            if slot.ever_opened {
                slot.reconnects += 1;
            }
            slot.ever_opened = true;
            slot.conn = Some(conn.clone());
            registry::set_conn(self.id(), Some(conn.clone()));
            slot.state = SockState::Open;
            slot.error = None;
            slot.attempt = 0;
            slot.close_owed = self.queue.is_some();
            let mut ev = Ev::new(EvKind::Open, self.id());
            ev.code = conn.upgrade.status as i32;
            self.emit(ev);
        }
        reactor::register(conn, self.queue.is_some());
        self.cv.notify_all();
    }

    fn attempt_failed(self: &Arc<Self>, generation: u64, e: Error) {
        {
            let mut slot = self.slot.lock();
            if slot.user_closed || slot.generation != generation {
                return;
            }
            slot.state = SockState::Closed;
            slot.error = Some(e.clone());
            Self::release_conn(&mut slot);
            self.emit(Ev::error(self.id(), &e));
            if !self.schedule_reconnect(&mut slot) {
                self.close_event(&mut slot, None, Some(&e));
            }
        }
        self.cv.notify_all();
    }

    /// Called by the connection (once) when it ends, with its receive lock held.
    pub fn on_conn_end(self: &Arc<Self>, conn: &Conn, end: EndInfo) {
        {
            let mut slot = self.slot.lock();
            if slot.conn.as_ref().is_none_or(|c| c.token != conn.token) {
                return;
            }
            slot.state = SockState::Closed;
            slot.error = end.error.clone();
            if let Some(e) = &end.error {
                self.emit(Ev::error(self.id(), e));
            }
            self.close_event(&mut slot, Some(&end), end.error.as_ref());
            if !slot.user_closed && !slot.replacing && self.schedule_reconnect(&mut slot) {
                // let go of the old connection now (not when the new one
                // arrives): the server sees its TCP connection closed
                Self::release_conn(&mut slot);
            }
        }
        self.cv.notify_all();
    }

    /// Lets go of the current connection (its socket closes once the last user
    /// is done), keeping what readback needs.
    fn release_conn(slot: &mut Slot) {
        if let Some(old) = slot.conn.take() {
            reactor::deregister(&old);
            slot.last = Some((old.upgrade.clone(), old.info()));
        }
    }

    /// Plans the next automatic attempt, if enabled and attempts remain.
    fn schedule_reconnect(self: &Arc<Self>, slot: &mut Slot) -> bool {
        let Some(rc) = &self.opts.reconnect else {
            return false;
        };
        if slot.user_closed || (rc.max_attempts > 0 && slot.attempt >= rc.max_attempts) {
            return false;
        }
        slot.attempt += 1;
        let delay = rc.delay(slot.attempt);
        let mut ev = Ev::new(EvKind::Reconnecting, self.id());
        ev.code = slot.attempt as i32;
        ev.delay_ms = delay.as_millis() as i64;
        self.emit(ev);
        slot.close_owed = self.queue.is_some();
        slot.state = SockState::Connecting;
        registry::set_conn(self.id(), None);
        let generation = slot.generation;
        let me = Arc::downgrade(self);
        reactor::schedule(
            Instant::now() + delay,
            Box::new(move || {
                if let Some(s) = me.upgrade() {
                    let ok = {
                        let slot = s.slot.lock();
                        !slot.user_closed && slot.generation == generation
                    };
                    if ok {
                        let _ = s.connect_async();
                    }
                }
            }),
        );
        true
    }

    // ---- using ------------------------------------------------------------------

    fn not_open(&self, what: &str) -> Error {
        Error::new(Code::NotOpen, format!("socket {} is {what}", self.id()))
    }

    /// The connection for writing: only while open.
    pub fn conn_for_write(&self) -> Result<Arc<Conn>> {
        let slot = self.slot.lock();
        match (slot.state, &slot.conn) {
            (SockState::Connecting, _) => Err(self.not_open("still connecting (or reconnecting)")),
            (_, Some(c)) => Ok(c.clone()),
            (_, None) => Err(match &slot.error {
                Some(e) => self.not_open(&format!("not connected (the connection attempt failed: {})", e.msg)),
                None => self.not_open("not connected"),
            }),
        }
    }

    /// The connection for reading: waits while connecting, up to `deadline`.
    pub fn conn_for_read(&self, deadline: Option<Instant>) -> Result<Arc<Conn>> {
        if let Some(q) = &self.queue {
            return Err(Error::arg(format!(
                "socket {} delivers its messages as events to queue {}; use ws_next_event()",
                self.id(),
                q.id
            )));
        }
        let mut slot = self.slot.lock();
        loop {
            match (slot.state, &slot.conn) {
                (SockState::Connecting, _) => {}
                (_, Some(c)) => return Ok(c.clone()),
                (_, None) => return Err(slot.error.clone().unwrap_or_else(|| self.not_open("not connected"))),
            }
            match deadline {
                None => self.cv.wait(&mut slot),
                Some(d) => {
                    let expired = Instant::now() >= d || self.cv.wait_until(&mut slot, d).timed_out();
                    if expired && slot.state == SockState::Connecting {
                        return Err(Error::new(Code::Timeout, format!("socket {} is still connecting", self.id())));
                    }
                }
            }
        }
    }

    pub fn info(&self) -> SocketInfo {
        let (state, reconnects, conn, last) = {
            let slot = self.slot.lock();
            (slot.state, slot.reconnects, slot.conn.clone(), slot.last.clone())
        };
        let (ci, http_status) = match (&conn, last) {
            (Some(c), _) => (Some(c.info()), c.upgrade.status),
            (None, Some((u, i))) => (Some(i), u.status),
            (None, None) => (None, 0),
        };
        let state = match (&ci, state) {
            (Some(i), SockState::Open) if i.ended => SockState::Closed,
            (Some(i), SockState::Open) if i.closing => SockState::Closing,
            _ => state,
        };
        SocketInfo { state, reconnects, http_status, conn: ci }
    }

    /// The upgrade response of the current (or last) connection.
    pub fn upgrade(&self) -> Result<Arc<Upgrade>> {
        let slot = self.slot.lock();
        match (&slot.conn, &slot.last) {
            (Some(c), _) => Ok(c.upgrade.clone()),
            (None, Some((u, _))) => Ok(u.clone()),
            (None, None) => Err(self.not_open("not connected yet")),
        }
    }

    /// Close details of the current (or last) connection.
    pub fn close_info(&self) -> Result<Info> {
        self.info().conn.ok_or_else(|| self.not_open("not connected yet"))
    }

    // ---- closing ------------------------------------------------------------------

    /// `ws_close`: ends the connection (if any), cancels pending attempts, and
    /// delivers the final CLOSE event.
    pub fn close_user(&self, code: u16, reason: &str) {
        let conn = {
            let mut slot = self.slot.lock();
            slot.user_closed = true;
            slot.generation += 1;
            slot.conn.clone()
        };
        if let Some(c) = &conn {
            c.close(code, reason);
            reactor::deregister(c);
        }
        {
            let mut slot = self.slot.lock();
            slot.state = SockState::Closed;
            self.close_event(&mut slot, None, None);
            slot.conn = None;
        }
        self.cv.notify_all();
    }

    /// `ws_reconnect`: closes a live connection with 1001 Going Away, then
    /// connects again with the same URL and options.
    pub fn reconnect_user(self: &Arc<Self>, asynchronous: bool) -> Result<()> {
        let old = {
            let mut slot = self.slot.lock();
            if slot.user_closed {
                return Err(Error::new(Code::BadSocket, format!("socket {} is closed", self.id())));
            }
            slot.generation += 1; // cancels scheduled automatic attempts
            slot.attempt = 0;
            slot.replacing = true;
            slot.conn.clone()
        };
        if let Some(c) = &old {
            c.close(1001, "reconnecting");
            reactor::deregister(c);
        }
        {
            // release the old connection (and its socket) before connecting
            let mut slot = self.slot.lock();
            slot.replacing = false;
            if slot.conn.as_ref().zip(old.as_ref()).is_some_and(|(a, b)| a.token == b.token) {
                Self::release_conn(&mut slot);
            }
        }
        drop(old);
        if asynchronous {
            self.connect_async()
        } else {
            self.connect_blocking(false)
        }
    }
}
