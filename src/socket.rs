//! The logical socket behind a socket number: the URL and options it was
//! opened with, its receiving state ([`Rx`], which outlives connections),
//! and the one state machine that owns its connections' lifetimes across
//! async opens, reconnects and the final close.
//!
//! Every transition happens under `slot` (the receiving state `rx`, when
//! needed too, is taken first). Only a transition publishes a connection to
//! the registry's fast path, hands it to the reactor, or lets go of it, so
//! no thread can leave a connection that nobody owns.
//!
//! | phase      | event                                   | next       | what happens                                  |
//! |------------|-----------------------------------------|------------|-----------------------------------------------|
//! | Connecting | attempt succeeds (current generation)   | Open       | `rx` reads the new connection; published; reactor serves it; OPEN event |
//! | Connecting | attempt succeeds (stale generation)     | (same)     | the new connection is dropped unpublished      |
//! | Connecting | attempt fails, reconnect planned        | Waiting    | ERROR, RECONNECTING events; timer set          |
//! | Connecting | attempt fails, no reconnect             | Ended      | ERROR, CLOSE events; reads return the error    |
//! | Open       | connection ends, reconnect planned      | Waiting    | end recorded in `rx` (told to readers once); connection released; ERROR?, CLOSE, RECONNECTING |
//! | Open       | connection ends, no reconnect           | Ended      | end recorded in `rx` (every later read returns it); reactor lets go; ERROR?, CLOSE |
//! | Waiting    | timer fires (current generation)        | Connecting | attempt on the connect pool                    |
//! | any but Closed | `ws_reconnect`                      | Connecting | generation + 1 (stale attempts and timers die); old connection released, then closed with 1001; CLOSE |
//! | any        | `ws_close`                              | Closed     | generation + 1; reactor lets go; closing handshake; final CLOSE |
//!
//! Readers see, in order: messages received before a connection ended, its
//! end once (WS_CLOSED or the error), then — with a reconnect — the next
//! connection's messages; without one, the end again at every read.
#![deny(unsafe_code)]

use crate::conn::{lock_rx, Conn, EndInfo, Got, Info, Next, Owner, Rx, Want};
use crate::error::{Code, Error, Result};
use crate::events::{ClosedBy, Ev, EvKind, Queue};
use crate::handshake::Upgrade;
use crate::options::{Options, Target};
use crate::{connect, pool, reactor, registry, testhooks};
use parking_lot::{Condvar, Mutex};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// What `ws_state` reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SockState {
    Connecting = 1,
    Open = 2,
    Closing = 3,
    Closed = 4,
}

/// The state machine's phases (see the module's table).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    Connecting,
    Open,
    Waiting,
    Ended,
    Closed,
}

struct Slot {
    phase: Phase,
    /// Open: the live connection; Ended: the ended one (readback, precise
    /// write errors); else None.
    conn: Option<Arc<Conn>>,
    /// Why the last connection attempt or connection failed.
    error: Option<Error>,
    /// Consecutive failed attempts since the last open (backoff).
    attempt: u32,
    /// Completed reconnections.
    reconnects: u32,
    /// An event-mode socket owes its host a CLOSE event.
    close_owed: bool,
    /// Connection attempt generation: results of superseded attempts and
    /// timers of cancelled reconnects are dropped.
    generation: u64,
    /// The next attach announces the previous connection's end to readers
    /// (an automatic reconnect; not ws_reconnect, which the program asked for).
    announce_end: bool,
    /// What the last released connection's upgrade and end looked like.
    last: Option<(Arc<Upgrade>, Info)>,
    /// ws_reconnect is closing this released connection (ws_state CLOSING).
    closing: Option<Arc<Conn>>,
    /// The planned automatic attempt's job in the reactor (cancelled when
    /// the plan changes, so that nothing waits on a closed socket).
    timer: Option<reactor::TimerKey>,
    ever_opened: bool,
}

pub struct Socket {
    id: AtomicI32,
    target: Target,
    opts: Options,
    queue: Option<Arc<Queue>>,
    rx: Arc<Mutex<Rx>>,
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
        let rx = Arc::new(Mutex::new(Rx::new(opts.max_message_size, opts.stream_receive)));
        Arc::new(Socket {
            id: AtomicI32::new(0),
            target,
            opts,
            queue,
            rx,
            slot: Mutex::new(Slot {
                phase: Phase::Connecting,
                conn: None,
                error: None,
                attempt: 0,
                reconnects: 0,
                close_owed: event_mode,
                generation: 0,
                announce_end: false,
                last: None,
                closing: None,
                timer: None,
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

    /// Connects on the calling thread (`ws_open`): a failure is returned to
    /// the caller only (no events, no reconnect; the number is given up).
    pub fn open_blocking(self: &Arc<Self>) -> Result<()> {
        let (generation, _) = self.begin_attempt(false)?;
        let r = connect::open(&self.target, &self.opts).and_then(|o| self.attach(generation, o));
        if r.is_err() {
            let mut slot = self.slot.lock();
            slot.close_owed = false;
            slot.phase = Phase::Closed;
        }
        r
    }

    /// Connects on a pool thread; the outcome arrives as events.
    pub fn open_async(self: &Arc<Self>) -> Result<()> {
        let (generation, _) = self.begin_attempt(false)?;
        self.attempt_async(generation)
    }

    fn attempt_async(self: &Arc<Self>, generation: u64) -> Result<()> {
        let me = self.clone();
        pool::spawn(Box::new(move || {
            let r = connect::open(&me.target, &me.opts).and_then(|o| me.attach(generation, o));
            if let Err(e) = r {
                me.attempt_failed(generation, e);
            }
        }))
    }

    /// Connects as a reconnect (ws_reconnect, timers): failures are also
    /// reported as events and may plan another attempt.
    fn attempt_blocking(self: &Arc<Self>, generation: u64) -> Result<()> {
        let r = connect::open(&self.target, &self.opts).and_then(|o| self.attach(generation, o));
        if let Err(e) = &r {
            self.attempt_failed(generation, e.clone());
        }
        r
    }

    /// Any phase but Closed -> Connecting, with a new generation. Lets go of
    /// a connection the socket still holds (`announce`: its end is told to
    /// readers before the next connection's messages).
    fn begin_attempt(&self, announce: bool) -> Result<(u64, Option<Arc<Conn>>)> {
        let mut slot = self.slot.lock();
        if slot.phase == Phase::Closed {
            return Err(Error::new(Code::BadSocket, format!("socket {} is closed", self.id())));
        }
        slot.generation += 1;
        slot.phase = Phase::Connecting;
        slot.announce_end = announce;
        if let Some(t) = slot.timer.take() {
            reactor::cancel(t);
        }
        registry::set_conn(self.id(), None);
        let old = Self::release_conn(&mut slot);
        Ok((slot.generation, old))
    }

    /// Connecting -> Open, unless superseded. Everything that can fail is
    /// done before the connection is published.
    fn attach(self: &Arc<Self>, generation: u64, o: connect::Opened) -> Result<()> {
        if self.slot.lock().phase == Phase::Closed {
            // (checked again under the locks below; this spares starting
            // the background thread for a socket that is gone)
            return Err(Error::new(Code::BadSocket, format!("socket {} was closed while connecting", self.id())));
        }
        let reactor = reactor::get()?;
        let owner =
            Owner { socket: Arc::downgrade(self), id: self.id(), queue: self.queue.clone(), rx: self.rx.clone() };
        let conn = Arc::new(Conn::new(o.transport, o.upgrade, &self.opts, self.target.peer(), owner));
        testhooks::hit(testhooks::Point::AttachBeforeLock, self.id());
        {
            let mut rx = self.rx.lock();
            let mut slot = self.slot.lock();
            if slot.phase == Phase::Closed {
                return Err(Error::new(Code::BadSocket, format!("socket {} was closed while connecting", self.id())));
            }
            if slot.phase != Phase::Connecting || slot.generation != generation {
                // superseded (reconnected meanwhile): dropped unpublished,
                // its descriptor closes with it
                return Ok(());
            }
            rx.attach(conn.token, &o.leftover, slot.announce_end);
            rx.set_inflater(conn.inflater());
            // the reactor may serve the connection as soon as it is registered
            drop(rx);
            if slot.ever_opened {
                slot.reconnects += 1;
            }
            slot.ever_opened = true;
            slot.conn = Some(conn.clone());
            slot.phase = Phase::Open;
            slot.error = None;
            slot.attempt = 0;
            slot.close_owed = self.queue.is_some();
            registry::set_conn(self.id(), Some(conn.clone()));
            let mut ev = Ev::new(EvKind::Open, self.id());
            ev.code = conn.upgrade.status as i32;
            self.emit(ev);
            reactor::register(&reactor, conn, self.queue.is_some());
        }
        self.cv.notify_all();
        Ok(())
    }

    /// Connecting -> Waiting (reconnect planned) or Ended.
    fn attempt_failed(self: &Arc<Self>, generation: u64, e: Error) {
        {
            let mut slot = self.slot.lock();
            if slot.phase != Phase::Connecting || slot.generation != generation {
                return;
            }
            slot.error = Some(e.clone());
            self.emit(Ev::error(self.id(), &e));
            if !self.schedule_reconnect(&mut slot) {
                slot.phase = Phase::Ended;
                self.close_event(&mut slot, None, Some(&e));
            }
        }
        self.cv.notify_all();
    }

    /// Called by the current connection (once) when it ends, with the
    /// receiving side held: Open -> Waiting or Ended. While closing
    /// (ws_close), only the final CLOSE event is produced.
    pub fn on_conn_end(self: &Arc<Self>, conn: &Conn, end: EndInfo) {
        {
            let mut slot = self.slot.lock();
            if slot.conn.as_ref().is_none_or(|c| c.token != conn.token) {
                return;
            }
            if let Some(e) = &end.error {
                slot.error = Some(e.clone());
                self.emit(Ev::error(self.id(), e));
            }
            self.close_event(&mut slot, Some(&end), end.error.as_ref());
            if slot.phase == Phase::Open {
                if self.schedule_reconnect(&mut slot) {
                    drop(Self::release_conn(&mut slot));
                } else {
                    slot.phase = Phase::Ended;
                    if let Some(r) = reactor::peek() {
                        reactor::deregister(&r, conn);
                    }
                }
            }
        }
        self.cv.notify_all();
    }

    /// Lets go of the held connection (its socket closes once the last user
    /// is done), keeping what readback needs.
    fn release_conn(slot: &mut Slot) -> Option<Arc<Conn>> {
        let old = slot.conn.take()?;
        if let Some(r) = reactor::peek() {
            reactor::deregister(&r, &old);
        }
        slot.last = Some((old.upgrade.clone(), old.info()));
        Some(old)
    }

    /// Plans the next automatic attempt, if enabled and attempts remain:
    /// -> Waiting.
    fn schedule_reconnect(self: &Arc<Self>, slot: &mut Slot) -> bool {
        let Some(rc) = &self.opts.reconnect else {
            return false;
        };
        if rc.max_attempts > 0 && slot.attempt >= rc.max_attempts {
            return false;
        }
        let Ok(reactor) = reactor::get() else {
            return false;
        };
        slot.attempt += 1;
        let delay = rc.delay(slot.attempt);
        let mut ev = Ev::new(EvKind::Reconnecting, self.id());
        ev.code = slot.attempt as i32;
        ev.delay_ms = delay.as_millis() as i64;
        self.emit(ev);
        slot.close_owed = self.queue.is_some();
        slot.phase = Phase::Waiting;
        slot.announce_end = true;
        registry::set_conn(self.id(), None);
        let generation = slot.generation;
        let me = Arc::downgrade(self);
        slot.timer = Some(reactor::schedule(
            &reactor,
            Instant::now() + delay,
            Box::new(move || {
                let Some(s) = me.upgrade() else { return };
                let due = {
                    let mut slot = s.slot.lock();
                    let due = slot.phase == Phase::Waiting && slot.generation == generation;
                    if due {
                        slot.phase = Phase::Connecting;
                        slot.timer = None;
                    }
                    due
                };
                if due {
                    if let Err(e) = s.attempt_async(generation) {
                        s.attempt_failed(generation, e);
                    }
                }
            }),
        ));
        true
    }

    // ---- using ------------------------------------------------------------------

    fn not_open(&self, what: &str) -> Error {
        Error::new(Code::NotOpen, format!("socket {} is {what}", self.id()))
    }

    /// The connection for writing: only while open (or ended, for its error).
    pub fn conn_for_write(&self) -> Result<Arc<Conn>> {
        let slot = self.slot.lock();
        match (slot.phase, &slot.conn) {
            (Phase::Connecting | Phase::Waiting, _) => Err(self.not_open("still connecting (or reconnecting)")),
            (_, Some(c)) => Ok(c.clone()),
            (_, None) => Err(match &slot.error {
                Some(e) => self.not_open(&format!("not connected (the connection attempt failed: {})", e.msg)),
                None => self.not_open("not connected"),
            }),
        }
    }

    /// Reads the next message of the socket number (the slow path of
    /// ws_read / ws_read_into): what was read ahead, the current
    /// connection, the end of the last one, or — while connecting — a wait
    /// for the next connection, all within `deadline`.
    pub fn read(&self, deadline: Option<Instant>, want: &mut Want<'_>) -> Result<Got> {
        if let Some(q) = &self.queue {
            return Err(Error::arg(format!(
                "socket {} delivers its messages as events to queue {}; use ws_next_event()",
                self.id(),
                q.id
            )));
        }
        loop {
            {
                let mut rx = lock_rx(&self.rx, deadline)?;
                rx.check_want(want, self.id())?;
                if let Some(r) = rx.take_item(want) {
                    return r;
                }
                let (conn, pending) = {
                    let slot = self.slot.lock();
                    (slot.conn.clone(), matches!(slot.phase, Phase::Connecting | Phase::Waiting))
                };
                match conn.filter(|c| c.token == rx.conn()) {
                    Some(c) => match c.read_locked(&mut rx, deadline, want)? {
                        Next::Got(g) => return Ok(g),
                        Next::End(e, first) if first || !pending => return e.into_result(Got::Closed),
                        _ => {}
                    },
                    None => {
                        if let Some(e) = rx.take_untold_end() {
                            return e.into_result(Got::Closed);
                        }
                    }
                }
            }
            self.wait_connected(deadline)?;
        }
    }

    /// Waits while a connection attempt is planned or running; Ok when there
    /// is a connection to read (or the end of the last one to repeat).
    fn wait_connected(&self, deadline: Option<Instant>) -> Result<()> {
        let mut slot = self.slot.lock();
        loop {
            match (slot.phase, &slot.conn) {
                (Phase::Open, _) | (Phase::Ended, Some(_)) => return Ok(()),
                (Phase::Ended, None) => {
                    return Err(slot.error.clone().unwrap_or_else(|| self.not_open("not connected")))
                }
                (Phase::Closed, _) => {
                    return Err(Error::new(Code::BadSocket, format!("socket {} is closed", self.id())))
                }
                (Phase::Connecting | Phase::Waiting, _) => {}
            }
            let expired = match deadline {
                None => {
                    self.cv.wait(&mut slot);
                    false
                }
                Some(d) => Instant::now() >= d || self.cv.wait_until(&mut slot, d).timed_out(),
            };
            if expired && matches!(slot.phase, Phase::Connecting | Phase::Waiting) {
                return Err(Error::new(Code::Timeout, format!("socket {} is still connecting", self.id())));
            }
        }
    }

    pub fn info(&self) -> SocketInfo {
        let (phase, reconnects, conn, last, closing) = {
            let slot = self.slot.lock();
            (slot.phase, slot.reconnects, slot.conn.clone(), slot.last.clone(), slot.closing.is_some())
        };
        let (ci, http_status) = match (&conn, last) {
            (Some(c), _) => (Some(c.info()), c.upgrade.status),
            (None, Some((u, i))) => (Some(i), u.status),
            (None, None) => (None, 0),
        };
        let state = match (phase, &ci) {
            (Phase::Connecting, _) if closing => SockState::Closing,
            (Phase::Connecting | Phase::Waiting, _) => SockState::Connecting,
            (Phase::Open, Some(i)) if i.ended => SockState::Closed,
            (Phase::Open, Some(i)) if i.closing => SockState::Closing,
            (Phase::Open, _) => SockState::Open,
            (Phase::Ended | Phase::Closed, _) => SockState::Closed,
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

    /// First half of `ws_close` (the number is already out of the registry):
    /// -> Closed, pending attempts cancelled, the reactor lets go, and our
    /// close frame is on its way. Returns the connection to finish.
    pub fn close_begin(&self, code: u16, reason: &str) -> Option<Arc<Conn>> {
        let conn = {
            let mut slot = self.slot.lock();
            slot.phase = Phase::Closed;
            slot.generation += 1;
            if let Some(t) = slot.timer.take() {
                reactor::cancel(t);
            }
            let c = slot.conn.clone();
            if let (Some(c), Some(r)) = (&c, reactor::peek()) {
                reactor::deregister(&r, c);
            }
            c
        };
        self.cv.notify_all();
        if let Some(c) = &conn {
            c.begin_close(code, reason);
        }
        conn
    }

    /// Second half: the closing handshake within `deadline`, then the final
    /// CLOSE event and the release of everything.
    pub fn close_finish(&self, conn: Option<Arc<Conn>>, deadline: Instant) {
        if let Some(c) = &conn {
            c.finish_close(deadline);
        }
        {
            let mut slot = self.slot.lock();
            self.close_event(&mut slot, None, None);
            slot.conn = None;
        }
        self.cv.notify_all();
    }

    /// `ws_reconnect`: releases a live connection and closes it with 1001
    /// Going Away, then connects again with the same URL and options.
    pub fn reconnect_user(self: &Arc<Self>, asynchronous: bool) -> Result<()> {
        let (generation, old) = self.begin_attempt(false)?;
        if let Some(c) = old {
            testhooks::hit(testhooks::Point::ReconnectReleased, self.id());
            self.slot.lock().closing = Some(c.clone());
            c.close(1001, "reconnecting");
            self.rx.lock().silence_end(c.token);
            let mut slot = self.slot.lock();
            slot.closing = None;
            if slot.generation == generation {
                let end = EndInfo { error: None, info: c.info() };
                self.close_event(&mut slot, Some(&end), None);
                slot.last = Some((c.upgrade.clone(), end.info));
            }
        }
        if asynchronous {
            self.attempt_async(generation).inspect_err(|e| self.attempt_failed(generation, e.clone()))
        } else {
            self.attempt_blocking(generation)
        }
    }
}
