//! The receiving side of a socket number ([`Rx`], in `rx/state.rs`) and how a connection
//! feeds it: parsing, waiting for bytes, read-ahead by the background
//! thread, and recording the end.
//!
//! `Rx` outlives connections: it holds the message lent by `ws_read`, the
//! messages read ahead, and the ends of earlier connections (`items`), so a
//! reconnect loses nothing and frees nothing a caller still holds. The
//! parser (`reader`) belongs to the connection named by `conn`; only that
//! connection reads into it.
#![deny(unsafe_code)]

use super::{bump, Conn, EndInfo, OP_CLOSE, OP_PONG};
use crate::error::{describe_io, Code, Error, Result};
use crate::events::ClosedBy;
use crate::proto::{Event, ProtoError};
use crate::sys;
use parking_lot::MutexGuard;
use std::io;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// How far a blocking recv may overrun its deadline before SO_RCVTIMEO is
/// set again (the kernel restarts that timer with every call).
mod state;
use state::unfinished;
pub use state::{End, Got, Next, Rx, Want};
pub(super) use state::{Item, Parsed, RcvTimeo};

const RCVTIMEO_SLACK: Duration = Duration::from_millis(10);

impl Conn {
    /// Takes the receiving side; another reader may hold it, and then this
    /// reader's deadline applies to the wait for its turn too.
    pub(super) fn lock_rx(&self, deadline: Option<Instant>) -> Result<MutexGuard<'_, Rx>> {
        lock_rx(&self.rx, deadline)
    }

    /// Reads the next message of this connection (after what was read ahead).
    pub fn read(&self, deadline: Option<Instant>, want: &mut Want<'_>) -> Result<Next> {
        let mut rx = self.lock_rx(deadline)?;
        self.read_locked(&mut rx, deadline, want)
    }

    /// `read` with the receiving side already held.
    pub fn read_locked(&self, rx: &mut Rx, deadline: Option<Instant>, want: &mut Want<'_>) -> Result<Next> {
        rx.check_want(want, self.socket_id)?;
        if let Some(r) = rx.take_item(want) {
            return r.map(Next::Got);
        }
        if rx.conn != self.token {
            return Ok(Next::Stale);
        }
        if !matches!(want, Want::Part(_)) && rx.reader.mid_message() {
            return Err(unfinished());
        }
        if let Want::Part(buf) = want {
            // stream mode, inside a large binary frame with nothing held:
            // the bytes go from the kernel straight into the caller's buffer
            if let Some(room) = rx.reader.direct_piece(buf.len()).filter(|_| rx.end.is_none()) {
                match self.fill_to(rx, deadline, Some(&mut buf[..room])) {
                    Ok((0, _)) => self.on_eof(rx),
                    Ok((n, spill)) => {
                        let p = rx.reader.commit_direct(n);
                        rx.reader.commit_spill(spill);
                        if p.last {
                            self.count_in((p.offset + p.len as u64) as usize);
                        }
                        return Ok(Next::Got(Got::Part(p)));
                    }
                    Err(e) if e.code == Code::Timeout => return Err(e),
                    Err(e) => self.on_io_error(rx, e),
                }
            }
        }
        match self.next_message(rx, deadline)? {
            Parsed::End | Parsed::More => {
                let first = !rx.end_told;
                rx.end_told = true;
                Ok(Next::End(rx.end.clone().unwrap_or(End::Closed), first))
            }
            Parsed::Piece(_) | Parsed::Message(_) if matches!(want, Want::Part(_)) => {
                let Want::Part(buf) = want else { unreachable!() };
                let p = rx.reader.take_piece(buf).expect("a message is in progress");
                if p.last {
                    self.count_in((p.offset + p.len as u64) as usize);
                }
                Ok(Next::Got(Got::Part(p)))
            }
            Parsed::Piece(_) => Err(Error::new(Code::Internal, "internal error: a piece for a whole-message read")),
            Parsed::Message(kind) => Ok(Next::Got(match want {
                Want::Lend => {
                    let n = rx.reader.swap_message(&mut rx.lent);
                    self.count_in(n);
                    Got::Lent(kind, rx.lent.as_ptr(), n)
                }
                Want::Copy(buf) => {
                    let (_, m) = rx.reader.message().expect("a message is ready");
                    let n = m.len();
                    if n > buf.len() {
                        return Ok(Next::Got(Got::TooSmall(n)));
                    }
                    buf[..n].copy_from_slice(m);
                    rx.reader.consume_message();
                    self.count_in(n);
                    Got::Copied(kind, n)
                }
                Want::Part(_) => unreachable!(),
            })),
        }
    }

    /// Counts a message taken out of the parser (once per message).
    pub(super) fn count_in(&self, n: usize) {
        bump(&self.msgs_in, 1);
        bump(&self.bytes_in, n as u64);
    }

    /// Parses what is buffered, handling control frames, until a complete
    /// data message, part of one (stream mode), the end, or more bytes are
    /// needed. A complete message (or a piece) kept in the parser is
    /// returned before the end.
    pub(super) fn parse(&self, rx: &mut Rx) -> Parsed {
        loop {
            if rx.end.is_some() {
                return match rx.reader.message() {
                    Some((k, _)) => Parsed::Message(k),
                    None => Parsed::End,
                };
            }
            match rx.reader.next_event() {
                Ok(Some(Event::Message)) => {
                    let (kind, _) = rx.reader.message().expect("a message is ready");
                    return Parsed::Message(kind);
                }
                Ok(Some(Event::Piece)) => return Parsed::Piece(rx.reader.kind_in_progress()),
                Ok(Some(Event::Ping(p))) => self.send_control(OP_PONG, &p),
                Ok(Some(Event::Pong(p))) => self.on_pong(&p),
                Ok(Some(Event::Close(c))) => {
                    self.on_close_frame(c);
                    self.set_end(rx, End::Closed);
                }
                Err(pe) => {
                    let e = self.fail(pe);
                    self.set_end(rx, End::Failed(e));
                }
                Ok(None) => return Parsed::More,
            }
        }
    }

    /// Drives the receiving side until a complete message is ready, a piece
    /// (stream mode), the connection has ended (see `rx.end`), an error, or
    /// the deadline: the deadline holds whatever keeps arriving (a stream of
    /// pings, say). Never returns `Parsed::More`.
    pub(super) fn next_message(&self, rx: &mut Rx, deadline: Option<Instant>) -> Result<Parsed> {
        let mut filled = false;
        loop {
            match self.parse(rx) {
                Parsed::More => {}
                p => return Ok(p),
            }
            if filled && deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(timeout_error());
            }
            match self.fill(rx, deadline) {
                Ok(true) => filled = true,
                Ok(false) => self.on_eof(rx),
                Err(e) if e.code == Code::Timeout => return Err(e),
                Err(e) => self.on_io_error(rx, e),
            }
        }
    }

    /// One read attempt that does not block.
    pub(super) fn read_nb(&self, buf: &mut [u8]) -> io::Result<usize> {
        if self.tls {
            self.tx.lock().t.try_read(buf)
        } else {
            sys::recv(self.fd, buf, true)
        }
    }

    pub(super) fn got(&self, rx: &mut Rx, n: usize) {
        rx.reader.commit(n);
        self.last_rx_us.store(sys::now_us(), Ordering::Relaxed);
    }

    /// Reads more bytes. Ok(true): got some; Ok(false): EOF.
    fn fill(&self, rx: &mut Rx, deadline: Option<Instant>) -> Result<bool> {
        self.fill_to(rx, deadline, None).map(|(n, _)| n > 0)
    }

    /// Reads more bytes into the reader's buffers (`user` None, committed
    /// there) or into `user` and, without TLS, in the same call into the
    /// reader's spill buffer once `user` is full (the caller commits both:
    /// Ok((into user, into the spill buffer))). Ok((0, 0)): EOF.
    fn fill_to(&self, rx: &mut Rx, deadline: Option<Instant>, mut user: Option<&mut [u8]>) -> Result<(usize, usize)> {
        let split = |n: usize, user: &Option<&mut [u8]>| match user {
            Some(u) if n > u.len() => (u.len(), n - u.len()),
            _ => (n, 0),
        };
        loop {
            // output a timed-out write or a control frame left behind; data
            // queued with WS_MORE waits for its write or ws_flush
            let pending_out = self.out_stuck.load(Ordering::Acquire);
            // busyPoll: retry without sleeping first (not while output waits)
            let spun = if pending_out {
                None
            } else {
                sys::spin(self.busy_poll, deadline, || match user.as_deref_mut() {
                    Some(u) if !self.tls => sys::recv2(self.fd, u, rx.reader.spill_target(), true),
                    Some(u) => self.read_nb(u),
                    None => self.read_nb(rx.reader.read_target()),
                })
            };
            let (r, blocking) = match spun {
                Some(r) => (r, false),
                None => {
                    // no deadline (or one SO_RCVTIMEO enforces) and nothing
                    // to send: sleep in the kernel
                    let blocking = !self.tls && !pending_out && deadline.is_none_or(|d| self.rcvtimeo_ready(rx, d));
                    let r = match user.as_deref_mut() {
                        Some(u) if !self.tls => sys::recv2(self.fd, u, rx.reader.spill_target(), !blocking),
                        Some(u) => self.read_nb(u),
                        None if blocking => sys::recv_once(self.fd, rx.reader.read_target()),
                        None => self.read_nb(rx.reader.read_target()),
                    };
                    (r, blocking)
                }
            };
            match r {
                Ok(0) => return Ok((0, 0)),
                Ok(n) if user.is_some() => {
                    self.last_rx_us.store(sys::now_us(), Ordering::Relaxed);
                    return Ok(split(n, &user));
                }
                Ok(n) => {
                    self.got(rx, n);
                    return Ok((n, 0));
                }
                // a signal: look at the deadline again (SO_RCVTIMEO restarts)
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        return Err(timeout_error());
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && blocking => return Err(timeout_error()),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    let events = sys::POLLIN | if pending_out { sys::POLLOUT } else { 0 };
                    let rev = sys::poll_fd(self.fd, events, deadline).map_err(|e| Error::io(Code::Io, "poll", &e))?;
                    if rev == 0 {
                        return Err(timeout_error());
                    }
                    if rev & sys::POLLOUT != 0 {
                        let mut tx = self.tx.lock();
                        let _ = tx.flush_nb(&self.peer);
                        self.set_pending(&tx);
                    }
                }
                Err(e) => return Err(self.read_error(&e)),
            }
        }
    }

    /// Whether a blocking recv(2) may wait for `deadline` because SO_RCVTIMEO
    /// bounds it; the timer is set again with the time left when the last
    /// setting would overrun the deadline by more than RCVTIMEO_SLACK. False
    /// once the deadline has passed: the caller then polls, which times out.
    pub(super) fn rcvtimeo_ready(&self, rx: &mut Rx, deadline: Instant) -> bool {
        let Some(t) = rx.rcvtimeo.as_mut().filter(|t| t.deadline == deadline) else {
            return false;
        };
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        if now.duration_since(t.armed) > RCVTIMEO_SLACK {
            if sys::set_rcvtimeo(self.fd, deadline - now).is_err() {
                rx.rcvtimeo = None;
                return false;
            }
            t.armed = now;
        }
        true
    }

    fn on_close_frame(&self, c: Option<(u16, String)>) {
        let reply = {
            let mut st = self.st.lock();
            st.close_rcvd = Some(c.clone());
            if st.close_sent.is_none() {
                st.initiator = ClosedBy::Server;
                // echo the status code (RFC 6455 section 5.5.1)
                let code = c.as_ref().map(|(code, _)| *code);
                st.close_sent = Some((code.unwrap_or(1005), String::new()));
                Some(code)
            } else {
                None
            }
        };
        if let Some(code) = reply {
            let payload = code.map(|c| c.to_be_bytes().to_vec()).unwrap_or_default();
            self.send_control(OP_CLOSE, &payload);
        }
    }

    /// Fails the connection on a protocol violation by the server: sends the
    /// close frame the RFC asks for (1002, 1007 or 1009) before giving up.
    fn fail(&self, pe: ProtoError) -> Error {
        let e = Error::new(pe.code, format!("{} (connection closed with {})", pe.msg, pe.close));
        let send = {
            let mut st = self.st.lock();
            st.failed = true;
            if st.close_sent.is_none() {
                st.initiator = ClosedBy::Error;
                st.close_sent = Some((pe.close, String::new()));
                true
            } else {
                false
            }
        };
        if send {
            self.send_control(OP_CLOSE, &pe.close.to_be_bytes());
        }
        e
    }

    /// The server closed TCP: a normal end after a close frame (ours or its
    /// own, which we always answer), else the connection was lost.
    pub(super) fn on_eof(&self, rx: &mut Rx) {
        let mid = if rx.reader.in_message() { " in the middle of a message" } else { "" };
        let lost = || {
            Error::new(
                Code::ConnectionLost,
                format!("connection lost: {} closed the TCP connection without a close frame{mid} (1006)", self.peer),
            )
        };
        self.on_tcp_end(rx, lost);
    }

    /// Reading failed (reset, ...): after our close frame that is just the
    /// end, else a failure.
    pub(super) fn on_io_error(&self, rx: &mut Rx, e: Error) {
        self.on_tcp_end(rx, || e);
    }

    /// The TCP connection has ended; `failure` is the error to report when
    /// no closing handshake had begun (a forced failure takes precedence).
    fn on_tcp_end(&self, rx: &mut Rx, failure: impl FnOnce() -> Error) {
        let end = {
            let mut st = self.st.lock();
            st.tcp_done = true;
            if let Some(f) = st.forced.clone() {
                End::Failed(f)
            } else if st.close_sent.is_some() {
                // (a close frame from the server is always answered, so this
                // also covers the server-initiated closing handshake)
                End::Closed
            } else {
                st.failed = true;
                st.initiator = ClosedBy::Error;
                End::Failed(failure())
            }
        };
        self.set_end(rx, end);
    }

    pub(super) fn read_error(&self, e: &io::Error) -> Error {
        Error::new(Code::Io, format!("read from {}: {}", self.peer, describe_io(e)))
    }

    /// Records the end of this connection's receiving side (once) and tells
    /// the owner. Only the current connection of `rx` may call it.
    pub(super) fn set_end(&self, rx: &mut Rx, end: End) {
        if rx.end.is_some() || rx.conn != self.token {
            return;
        }
        rx.end = Some(end.clone());
        let error = match end {
            End::Closed => None,
            End::Failed(e) => Some(e),
        };
        if let Some(owner) = self.owner.upgrade() {
            owner.on_conn_end(self, EndInfo { error, info: self.info() });
        }
    }
}

/// Takes a socket number's receiving side within `deadline`.
pub fn lock_rx(rx: &parking_lot::Mutex<Rx>, deadline: Option<Instant>) -> Result<MutexGuard<'_, Rx>> {
    match deadline {
        None => Ok(rx.lock()),
        Some(d) => rx.try_lock_until(d).ok_or_else(|| {
            Error::new(Code::Timeout, "read timeout: another thread is reading this socket".to_string())
        }),
    }
}

fn timeout_error() -> Error {
    Error::new(Code::Timeout, "read timeout: no complete message yet".to_string())
}
