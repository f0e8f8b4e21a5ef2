//! The connection core: reading, writing and closing one WebSocket, in safe
//! Rust over [`Transport`] and the [`proto`](crate::proto) codec.
//!
//! Full duplex without a thread hop per message: the calling thread does its
//! own I/O. Three short-held locks, always taken in this order:
//! - `rx` (receiving state) is held by a reader for its whole `ws_read`,
//!   including the wait, so readers of one socket take turns;
//! - `tx` (outgoing queue and, for TLS, the TLS stream) is held only to queue
//!   frames and for non-blocking send/recv attempts, never across a wait, so
//!   a writer never waits for a blocked reader;
//! - `st` (close bookkeeping) is held for a few instructions.
//!
//! For plain TCP the socket stays blocking and a reader without a deadline
//! sleeps in recv(2) (one system call per message, as a blocking client);
//! writers pass MSG_DONTWAIT and wait in poll(2) outside the lock.
#![deny(unsafe_code)]

use crate::error::{describe_io, Code, Error, Result};
use crate::handshake::Upgrade;
use crate::options::Options;
use crate::proto::{self, Event, Kind, ProtoError, Reader};
use crate::sys;
use crate::transport::Transport;
use parking_lot::{Mutex, MutexGuard};
use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

pub(crate) const OP_TEXT: u8 = 0x1;
pub(crate) const OP_BINARY: u8 = 0x2;
pub(crate) const OP_CLOSE: u8 = 0x8;
pub(crate) const OP_PING: u8 = 0x9;
pub(crate) const OP_PONG: u8 = 0xA;

/// Outgoing side.
struct Tx {
    t: Transport,
    /// Queued frames, whole frames only: `out[pos..]` is not yet sent. A frame
    /// is never split between two writers, so messages never interleave.
    out: Vec<u8>,
    pos: usize,
    /// Bytes ever queued / ever handed to the kernel: a writer is done when
    /// `sent` passes the end offset of its frame.
    queued: u64,
    sent: u64,
    /// Our close frame is queued: no data frame may follow it.
    close_queued: bool,
    /// The send side failed (reset, broken pipe); every later write fails.
    dead: Option<Error>,
    masks: [u8; 64],
    mask_at: usize,
}

impl Tx {
    fn pending(&self) -> usize {
        self.out.len() - self.pos
    }

    fn mask(&mut self) -> [u8; 4] {
        if self.mask_at == self.masks.len() {
            self.masks = rand::random();
            self.mask_at = 0;
        }
        let m = &self.masks[self.mask_at..self.mask_at + 4];
        self.mask_at += 4;
        [m[0], m[1], m[2], m[3]]
    }

    fn queue(&mut self, op: u8, payload: &[u8]) {
        if self.pos == self.out.len() {
            self.out.clear();
            self.pos = 0;
        }
        let before = self.out.len();
        let mask = self.mask();
        proto::encode_frame(&mut self.out, op, true, payload, mask);
        self.queued += (self.out.len() - before) as u64;
    }

    /// Sends what the kernel takes without blocking. Err only when the
    /// connection is broken (recorded in `dead`).
    fn flush_nb(&mut self, peer: &str) -> Result<()> {
        if let Some(e) = &self.dead {
            return Err(e.clone());
        }
        while self.pos < self.out.len() {
            match self.t.try_write(&self.out[self.pos..]) {
                Ok(0) => {
                    let e = Error::new(Code::Io, format!("write to {peer}: connection closed"));
                    self.dead = Some(e.clone());
                    return Err(e);
                }
                Ok(n) => {
                    self.pos += n;
                    self.sent += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    let e = Error::io(Code::Io, &format!("write to {peer}"), &e);
                    self.dead = Some(e.clone());
                    return Err(e);
                }
            }
        }
        if self.pos == self.out.len() {
            self.out.clear();
            self.pos = 0;
            // keep big buffers only while they are in use (memory per idle socket)
            if self.out.capacity() > 256 * 1024 {
                self.out = Vec::new();
            }
        }
        Ok(())
    }
}

/// Why the receiving side has ended.
#[derive(Clone)]
enum End {
    Closed,
    Failed(Error),
}

/// Receiving side.
pub struct Rx {
    reader: Reader,
    /// The message lent to the caller of `ws_read`, valid until its next read.
    delivered: Vec<u8>,
    end: Option<End>,
}

#[derive(Default)]
struct State {
    /// Close frame we queued: code and reason.
    close_sent: Option<(u16, String)>,
    /// Close frame the server sent: Some(None) when it carried no code.
    close_rcvd: Option<Option<(u16, String)>>,
    /// The TCP connection has ended (EOF, reset or shut down by us).
    tcp_done: bool,
    /// The connection failed (protocol violation, lost, I/O error).
    failed: bool,
}

pub enum ReadCopy {
    Message(Kind, usize),
    TooSmall(usize),
    Closed,
}

pub struct Conn {
    fd: RawFd,
    tls: bool,
    peer: String,
    tx: Mutex<Tx>,
    rx: Mutex<Rx>,
    st: Mutex<State>,
    /// Unsent bytes sit in `tx.out` (read without taking `tx`).
    out_pending: AtomicBool,
    pub upgrade: Upgrade,
    send_timeout: Option<Duration>,
    close_timeout: Duration,
    send_limit: usize,
}

impl Conn {
    pub fn new(
        t: Transport,
        leftover: &[u8],
        upgrade: Upgrade,
        opts: &Options,
        peer: String,
    ) -> Conn {
        Conn {
            fd: t.fd(),
            tls: t.is_tls(),
            peer,
            tx: Mutex::new(Tx {
                t,
                out: Vec::new(),
                pos: 0,
                queued: 0,
                sent: 0,
                close_queued: false,
                dead: None,
                masks: [0; 64],
                mask_at: 64,
            }),
            rx: Mutex::new(Rx {
                reader: Reader::new(opts.max_message_size, leftover),
                delivered: Vec::new(),
                end: None,
            }),
            st: Mutex::new(State::default()),
            out_pending: AtomicBool::new(false),
            upgrade,
            send_timeout: opts.send_timeout,
            close_timeout: opts.close_timeout,
            send_limit: opts.send_buffer_limit,
        }
    }

    fn closed_error(&self) -> Error {
        let st = self.st.lock();
        let how = match (&st.close_rcvd, &st.close_sent) {
            (Some(Some((c, r))), _) if r.is_empty() => format!("closed by the server ({c})"),
            (Some(Some((c, r))), _) => format!("closed by the server ({c} {r})"),
            (Some(None), _) => "closed by the server (no status code)".to_string(),
            (None, Some((c, _))) => format!("closing ({c} sent)"),
            (None, None) => "closed".to_string(),
        };
        Error::new(Code::Closed, format!("connection to {} {how}", self.peer))
    }

    fn set_pending(&self, tx: &Tx) {
        self.out_pending.store(tx.pending() > 0, Ordering::Release);
    }

    // ---- writing ----------------------------------------------------------

    /// Queues one message; unless `more`, waits until it is handed to the
    /// kernel. Timeouts: `Code::Timeout` when nothing was queued (the queue
    /// stayed full), `Code::Pending` when the message is queued and will be
    /// sent whole, in order, by later I/O on this socket.
    pub fn write(&self, op: u8, data: &[u8], more: bool) -> Result<()> {
        let deadline = self.send_timeout.map(|t| Instant::now() + t);
        let mut tx = self.tx.lock();
        loop {
            if let Some(e) = &tx.dead {
                return Err(e.clone());
            }
            if tx.close_queued {
                drop(tx);
                return Err(self.closed_error());
            }
            if tx.pending() == 0 || tx.pending() + data.len() <= self.send_limit {
                break;
            }
            tx.flush_nb(&self.peer)?;
            self.set_pending(&tx);
            if tx.pending() == 0 || tx.pending() + data.len() <= self.send_limit {
                break;
            }
            drop(tx);
            if self.wait_writable(deadline)? == 0 {
                return Err(Error::new(
                    Code::Timeout,
                    format!(
                        "send timeout after {} ms: send buffer full, message not queued",
                        self.send_timeout.unwrap_or_default().as_millis()
                    ),
                ));
            }
            tx = self.tx.lock();
        }
        tx.queue(op, data);
        let end = tx.queued;
        if more {
            self.set_pending(&tx);
            return Ok(());
        }
        self.flush_to(tx, end, deadline)
    }

    /// Sends everything queued (after `WS_MORE` writes or a timed-out write).
    pub fn flush(&self, timeout: Option<Duration>) -> Result<()> {
        let deadline = timeout.map(|t| Instant::now() + t);
        let tx = self.tx.lock();
        let end = tx.queued;
        self.flush_to(tx, end, deadline)
    }

    fn flush_to<'a>(
        &'a self,
        mut tx: MutexGuard<'a, Tx>,
        end: u64,
        deadline: Option<Instant>,
    ) -> Result<()> {
        loop {
            let r = tx.flush_nb(&self.peer);
            self.set_pending(&tx);
            r?;
            if tx.sent >= end {
                return Ok(());
            }
            drop(tx);
            if self.wait_writable(deadline)? == 0 {
                return Err(Error::new(
                    Code::Pending,
                    format!(
                        "send timeout after {} ms: the message is queued and will be sent whole by later calls on this socket",
                        self.send_timeout.or(sys::remaining(deadline)).unwrap_or_default().as_millis()
                    ),
                ));
            }
            tx = self.tx.lock();
        }
    }

    fn wait_writable(&self, deadline: Option<Instant>) -> Result<i16> {
        sys::poll_fd(self.fd, sys::POLLOUT, deadline).map_err(|e| Error::io(Code::Io, "poll", &e))
    }

    /// Queues a control frame and pushes it out without waiting (pongs go out
    /// at once even when the program only reads). Nothing follows our close.
    fn send_control(&self, op: u8, payload: &[u8]) {
        let mut tx = self.tx.lock();
        if tx.close_queued || tx.dead.is_some() {
            return;
        }
        tx.queue(op, payload);
        if op == OP_CLOSE {
            tx.close_queued = true;
        }
        let _ = tx.flush_nb(&self.peer);
        self.set_pending(&tx);
    }

    // ---- reading ----------------------------------------------------------

    /// Reads the next message and lends it: the pointer stays valid until the
    /// next read on this socket or its close. Ok(None): closed.
    pub fn read_lend(&self, timeout: Option<Duration>) -> Result<Option<(Kind, *const u8, usize)>> {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut rx = self.rx.lock();
        match self.next_message(&mut rx, deadline)? {
            None => Ok(None),
            Some(kind) => {
                let rx = &mut *rx;
                let n = rx.reader.swap_message(&mut rx.delivered);
                Ok(Some((kind, rx.delivered.as_ptr(), n)))
            }
        }
    }

    /// Reads the next message into `buf`; a message larger than `buf` stays
    /// queued and its size is reported.
    pub fn read_copy(&self, buf: &mut [u8], timeout: Option<Duration>) -> Result<ReadCopy> {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut rx = self.rx.lock();
        match self.next_message(&mut rx, deadline)? {
            None => Ok(ReadCopy::Closed),
            Some(kind) => {
                let (_, m) = rx.reader.message().expect("a message is ready");
                if m.len() > buf.len() {
                    return Ok(ReadCopy::TooSmall(m.len()));
                }
                let n = m.len();
                buf[..n].copy_from_slice(m);
                rx.reader.consume_message();
                Ok(ReadCopy::Message(kind, n))
            }
        }
    }

    /// Drives the receiving side until a complete message is ready (Some), the
    /// connection is closed (None), an error, or the deadline.
    fn next_message(&self, rx: &mut Rx, deadline: Option<Instant>) -> Result<Option<Kind>> {
        loop {
            match &rx.end {
                Some(End::Closed) => return Ok(None),
                Some(End::Failed(e)) => return Err(e.clone()),
                None => {}
            }
            match rx.reader.next_event() {
                Ok(Some(Event::Message)) => {
                    return Ok(Some(rx.reader.message().expect("a message is ready").0));
                }
                Ok(Some(Event::Ping(p))) => {
                    self.send_control(OP_PONG, &p);
                    continue;
                }
                Ok(Some(Event::Pong(_))) => continue,
                Ok(Some(Event::Close(c))) => {
                    self.on_close_frame(c);
                    rx.end = Some(End::Closed);
                    continue;
                }
                Err(pe) => {
                    let e = self.fail(pe);
                    rx.end = Some(End::Failed(e));
                    continue;
                }
                Ok(None) => {}
            }
            match self.fill(rx, deadline) {
                Ok(true) => {}
                Ok(false) => self.on_eof(rx),
                Err(e) if e.code == Code::Timeout => return Err(e),
                Err(e) => {
                    let mut st = self.st.lock();
                    st.tcp_done = true;
                    rx.end = Some(if st.close_sent.is_some() {
                        End::Closed
                    } else {
                        st.failed = true;
                        End::Failed(e)
                    });
                }
            }
        }
    }

    /// Reads more bytes. Ok(true): got some; Ok(false): EOF.
    fn fill(&self, rx: &mut Rx, deadline: Option<Instant>) -> Result<bool> {
        loop {
            let pending_out = self.out_pending.load(Ordering::Acquire);
            let target = rx.reader.read_target();
            let r = if self.tls {
                self.tx.lock().t.try_read(target)
            } else {
                // no deadline and nothing to send: sleep in the kernel
                sys::recv(self.fd, target, deadline.is_some() || pending_out)
            };
            match r {
                Ok(0) => return Ok(false),
                Ok(n) => {
                    rx.reader.commit(n);
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    let events = sys::POLLIN | if pending_out { sys::POLLOUT } else { 0 };
                    let rev = sys::poll_fd(self.fd, events, deadline)
                        .map_err(|e| Error::io(Code::Io, "poll", &e))?;
                    if rev == 0 {
                        return Err(Error::new(
                            Code::Timeout,
                            "read timeout: no complete message yet".to_string(),
                        ));
                    }
                    if rev & sys::POLLOUT != 0 {
                        let mut tx = self.tx.lock();
                        let _ = tx.flush_nb(&self.peer);
                        self.set_pending(&tx);
                    }
                }
                Err(e) => {
                    return Err(Error::new(
                        Code::Io,
                        format!("read from {}: {}", self.peer, describe_io(&e)),
                    ));
                }
            }
        }
    }

    fn on_close_frame(&self, c: Option<(u16, String)>) {
        let reply = {
            let mut st = self.st.lock();
            st.close_rcvd = Some(c.clone());
            if st.close_sent.is_none() {
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
        let e = Error::new(
            pe.code,
            format!("{} (connection closed with {})", pe.msg, pe.close),
        );
        let send = {
            let mut st = self.st.lock();
            st.failed = true;
            if st.close_sent.is_none() {
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

    fn on_eof(&self, rx: &mut Rx) {
        let mut st = self.st.lock();
        st.tcp_done = true;
        if st.close_sent.is_some() || st.close_rcvd.is_some() {
            rx.end = Some(End::Closed);
            return;
        }
        st.failed = true;
        let mid = if rx.reader.in_message() {
            " in the middle of a message"
        } else {
            ""
        };
        rx.end = Some(End::Failed(Error::new(
            Code::ConnectionLost,
            format!(
                "connection lost: {} closed the TCP connection without a close frame{mid} (1006)",
                self.peer
            ),
        )));
    }

    // ---- closing ------------------------------------------------------------

    /// The closing handshake, bounded by the close timeout: queue our close
    /// frame, wait for the server's and for its TCP close, then shut the
    /// socket down (which also wakes any thread still blocked on it).
    pub fn close(&self, code: u16, reason: &str) {
        let deadline = Instant::now() + self.close_timeout;
        let queue = {
            let mut st = self.st.lock();
            if st.close_sent.is_none() && !st.tcp_done {
                st.close_sent = Some((code, reason.to_string()));
                true
            } else {
                false
            }
        };
        if queue {
            let mut payload = code.to_be_bytes().to_vec();
            payload.extend_from_slice(reason.as_bytes());
            self.send_control(OP_CLOSE, &payload);
        }
        {
            let tx = self.tx.lock();
            let end = tx.queued;
            let _ = self.flush_to(tx, end, Some(deadline));
        }
        if let Some(mut rx) = self.rx.try_lock_until(deadline) {
            // late messages are dropped
            while let Ok(Some(_)) = self.next_message(&mut rx, Some(deadline)) {
                rx.reader.consume_message();
            }
            if !self.st.lock().tcp_done {
                self.drain_to_eof(&mut rx, deadline);
            }
        }
        self.tx.lock().t.tls_shutdown();
        sys::shutdown(self.fd);
        self.st.lock().tcp_done = true;
    }

    /// Waits for the server to close TCP (it should, after the close
    /// handshake), discarding bytes.
    fn drain_to_eof(&self, rx: &mut Rx, deadline: Instant) {
        let mut scratch = [0u8; 4096];
        let _ = rx;
        loop {
            let r = if self.tls {
                self.tx.lock().t.try_read(&mut scratch)
            } else {
                sys::recv(self.fd, &mut scratch, true)
            };
            match r {
                Ok(0) => return,
                Ok(_) => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if !matches!(sys::poll_fd(self.fd, sys::POLLIN, Some(deadline)), Ok(n) if n > 0)
                    {
                        return;
                    }
                }
                Err(_) => return,
            }
        }
    }

    // ---- readback -------------------------------------------------------------

    /// The server's close code: 0 while open, 1005 for a close frame without
    /// a code, 1006 when the connection ended without a close frame.
    pub fn close_code(&self) -> u16 {
        let st = self.st.lock();
        match &st.close_rcvd {
            Some(Some((c, _))) => *c,
            Some(None) => 1005,
            None if st.tcp_done || st.failed => 1006,
            None => 0,
        }
    }

    pub fn close_reason(&self) -> String {
        match &self.st.lock().close_rcvd {
            Some(Some((_, r))) => r.clone(),
            _ => String::new(),
        }
    }
}
