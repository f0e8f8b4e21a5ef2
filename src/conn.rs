//! The connection core: reading, writing, pinging and closing one WebSocket
//! connection, in safe Rust over [`Transport`] and the [`proto`] codec.
//!
//! Full duplex without a thread hop per message: the calling thread does its
//! own I/O. Three short-held locks, always taken in this order:
//! - `rx` (receiving state) is held by a reader for its whole `ws_read`,
//!   including the wait, so readers of one socket take turns; the background
//!   thread only ever *tries* it;
//! - `tx` (outgoing queue and, for TLS, the TLS stream) is held only to queue
//!   frames and for non-blocking send/recv attempts, never across a wait, so
//!   a writer never waits for a blocked reader;
//! - `st` (close and ping bookkeeping) is held for a few instructions.
//!
//! For plain TCP the socket stays blocking and a reader without a deadline
//! sleeps in recv(2) (one system call per message, as a blocking client);
//! writers pass MSG_DONTWAIT and wait in poll(2) outside the lock.
//!
//! Background duties (pongs while the program does not read, keepalive,
//! event delivery) are done by the reactor thread through [`Conn::on_ready`]
//! and [`Conn::keepalive_tick`].
#![deny(unsafe_code)]

use crate::error::{describe_io, Code, Error, Result};
use crate::events::{ClosedBy, Ev, EvKind, Queue};
use crate::handshake::Upgrade;
use crate::options::Options;
use crate::proto::{self, Event, Kind, ProtoError, Reader};
use crate::socket::Socket;
use crate::sys;
use crate::transport::Transport;
use parking_lot::{Mutex, MutexGuard};
use std::collections::VecDeque;
use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

pub(crate) const OP_TEXT: u8 = 0x1;
pub(crate) const OP_BINARY: u8 = 0x2;
pub(crate) const OP_CLOSE: u8 = 0x8;
pub(crate) const OP_PING: u8 = 0x9;
pub(crate) const OP_PONG: u8 = 0xA;

/// Messages the background thread may read ahead for a program that is not
/// reading (so that pings are answered meanwhile); beyond this it stops
/// reading and TCP pushes back.
const PENDING_MAX: usize = 1 << 20;
/// Bytes the background thread reads from one socket before serving others.
const READ_BUDGET: usize = 1 << 20;
/// Outstanding pings remembered for round-trip times.
const MAX_PINGS: usize = 32;

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
    /// Masking keys, refilled from the thread's CSPRNG 64 keys at a time
    /// (RFC 6455 section 5.3: unpredictable keys).
    masks: [u8; 256],
    mask_at: usize,
}

impl Tx {
    fn pending(&self) -> usize {
        self.out.len() - self.pos
    }

    fn mask(&mut self) -> [u8; 4] {
        if self.mask_at == self.masks.len() {
            rand::fill(&mut self.masks[..]);
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
    /// Messages read ahead by the background thread while nobody was reading.
    pending: VecDeque<(Kind, Vec<u8>, usize)>,
    pending_bytes: usize,
    /// The message lent to the caller of `ws_read`, valid until its next read.
    delivered: Vec<u8>,
    end: Option<End>,
    /// SO_RCVTIMEO is set for a deadline (closing handshake, plain TCP): a
    /// blocking recv then waits without a poll(2) round.
    rcvtimeo: Option<RcvTimeo>,
}

/// SO_RCVTIMEO armed at `armed` with the time left until `deadline`.
struct RcvTimeo {
    deadline: Instant,
    armed: Instant,
}

/// How far a blocking recv may overrun its deadline before SO_RCVTIMEO is
/// set again (the kernel restarts that timer with every call).
const RCVTIMEO_SLACK: Duration = Duration::from_millis(10);

struct Ping {
    payload: Vec<u8>,
    sent_us: u64,
    internal: bool,
}

#[derive(Default)]
struct State {
    /// Close frame we queued: code and reason.
    close_sent: Option<(u16, String)>,
    /// Close frame the server sent: Some(None) when it carried no code.
    close_rcvd: Option<Option<(u16, String)>>,
    /// Who started the closing (first close frame, or the failure).
    initiator: ClosedBy,
    /// The TCP connection has ended (EOF, reset or shut down by us).
    tcp_done: bool,
    /// The connection failed (protocol violation, lost, I/O error, health).
    failed: bool,
    /// A failure decided outside the reading path (dead peer): readers that
    /// wake up on the shutdown report this rather than a plain EOF.
    forced: Option<Error>,
    pings: VecDeque<Ping>,
    /// Keepalive ping outstanding since (µs), if any.
    ka_sent_us: Option<u64>,
    ka_seq: u64,
    pings_sent: u64,
    pongs_rcvd: u64,
    last_rtt_us: i64,
}

pub enum ReadCopy {
    Message(Kind, usize),
    TooSmall(usize),
    Closed,
}

/// What the background thread should do with a socket after serving it.
pub enum Rearm {
    Now,
    After(Duration),
    Never,
}

/// Everything `ws_get_info` reports about a connection.
#[derive(Clone, Default)]
pub struct Info {
    pub closed_by: ClosedBy,
    pub code_sent: u16,
    pub reason_sent: String,
    pub code_rcvd: u16,
    pub reason_rcvd: String,
    pub clean: bool,
    pub ended: bool,
    pub closing: bool,
    pub pings_sent: u64,
    pub pongs_rcvd: u64,
    pub last_rtt_us: i64,
    pub msgs_in: u64,
    pub msgs_out: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

/// How a connection ended, for events and the owning socket.
pub struct EndInfo {
    pub error: Option<Error>,
    pub info: Info,
}

pub struct Conn {
    fd: RawFd,
    tls: bool,
    peer: String,
    /// Key of this connection in the reactor.
    pub token: u64,
    socket_id: i32,
    owner: Weak<Socket>,
    queue: Option<Arc<Queue>>,
    tx: Mutex<Tx>,
    rx: Mutex<Rx>,
    st: Mutex<State>,
    /// A flush could not finish: the reactor watches for writability.
    out_stuck: AtomicBool,
    /// Time of the last bytes received (µs, `sys::now_us`), for keepalive.
    last_rx_us: AtomicU64,
    msgs_in: AtomicU64,
    msgs_out: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    /// The upgrade response, shared with readback after the connection ends.
    pub upgrade: Arc<Upgrade>,
    send_timeout: Option<Duration>,
    close_timeout: Duration,
    send_limit: usize,
    ping_interval_us: u64,
    pong_timeout_us: u64,
    /// `busyPoll`: spin this long on non-blocking reads before sleeping.
    busy_poll: Duration,
}

/// Adds to a statistics counter that only one thread updates at a time (the
/// holder of `tx` or `rx`): a plain load and store, no locked instruction.
fn bump(c: &AtomicU64, n: u64) {
    c.store(c.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
}

static NEXT_TOKEN: AtomicU64 = AtomicU64::new(1);

/// Where a new connection belongs.
pub struct Owner {
    pub socket: Weak<Socket>,
    pub id: i32,
    pub queue: Option<Arc<Queue>>,
}

impl Conn {
    pub fn new(t: Transport, leftover: &[u8], upgrade: Upgrade, opts: &Options, peer: String, owner: Owner) -> Conn {
        Conn {
            fd: t.fd(),
            tls: t.is_tls(),
            peer,
            token: NEXT_TOKEN.fetch_add(1, Ordering::Relaxed),
            socket_id: owner.id,
            owner: owner.socket,
            queue: owner.queue,
            tx: Mutex::new(Tx {
                t,
                out: Vec::new(),
                pos: 0,
                queued: 0,
                sent: 0,
                close_queued: false,
                dead: None,
                masks: [0; 256],
                mask_at: 256,
            }),
            rx: Mutex::new(Rx {
                reader: Reader::new(opts.max_message_size, leftover),
                pending: VecDeque::new(),
                pending_bytes: 0,
                delivered: Vec::new(),
                end: None,
                rcvtimeo: None,
            }),
            st: Mutex::new(State { last_rtt_us: -1, ..State::default() }),
            out_stuck: AtomicBool::new(false),
            last_rx_us: AtomicU64::new(sys::now_us()),
            msgs_in: AtomicU64::new(0),
            msgs_out: AtomicU64::new(0),
            bytes_in: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
            upgrade: Arc::new(upgrade),
            send_timeout: opts.send_timeout,
            close_timeout: opts.close_timeout,
            send_limit: opts.send_buffer_limit,
            ping_interval_us: opts.ping_interval.map_or(0, |d| d.as_micros() as u64),
            pong_timeout_us: opts.pong_timeout.as_micros() as u64,
            busy_poll: opts.busy_poll,
        }
    }

    pub fn fd(&self) -> RawFd {
        self.fd
    }

    /// Bytes already received but not parsed (frames that came with the
    /// upgrade response), which epoll cannot report.
    pub fn has_buffered_input(&self) -> bool {
        self.rx.try_lock().is_none_or(|rx| rx.reader.has_input())
    }

    /// Sockets with an event queue are read by the background thread only.
    pub fn check_readable(&self) -> Result<()> {
        match &self.queue {
            Some(q) => Err(Error::arg(format!(
                "socket {} delivers its messages as events to queue {}; use ws_next_event()",
                self.socket_id, q.id
            ))),
            None => Ok(()),
        }
    }

    /// Keepalive interval (Duration::MAX when off).
    pub fn ping_interval(&self) -> Duration {
        if self.ping_interval_us == 0 {
            Duration::MAX
        } else {
            Duration::from_micros(self.ping_interval_us)
        }
    }

    fn closed_error(&self) -> Error {
        let st = self.st.lock();
        if let Some(e) = &st.forced {
            return e.clone();
        }
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
        if tx.pending() == 0 {
            self.out_stuck.store(false, Ordering::Release);
        }
    }

    /// The reactor should watch for writability (a flush could not finish and
    /// nobody is waiting to finish it).
    pub fn wants_write(&self) -> bool {
        self.out_stuck.load(Ordering::Acquire)
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
        bump(&self.msgs_out, 1);
        bump(&self.bytes_out, data.len() as u64);
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

    fn flush_to<'a>(&'a self, mut tx: MutexGuard<'a, Tx>, end: u64, deadline: Option<Instant>) -> Result<()> {
        loop {
            let r = tx.flush_nb(&self.peer);
            self.set_pending(&tx);
            r?;
            if tx.sent >= end {
                return Ok(());
            }
            drop(tx);
            if self.wait_writable(deadline)? == 0 {
                // leave the rest to the reactor
                self.out_stuck.store(true, Ordering::Release);
                crate::reactor::rearm(self.token);
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
        if tx.pending() > 0 {
            self.out_stuck.store(true, Ordering::Release);
        }
    }

    /// Sends a ping (`ws_ping`); its pong is matched for the round-trip time.
    pub fn ping(&self, payload: &[u8]) -> Result<()> {
        {
            let mut st = self.st.lock();
            if st.pings.len() == MAX_PINGS {
                st.pings.pop_front();
            }
            st.pings.push_back(Ping { payload: payload.to_vec(), sent_us: sys::now_us(), internal: false });
            st.pings_sent += 1;
        }
        let deadline = self.send_timeout.map(|t| Instant::now() + t);
        let mut tx = self.tx.lock();
        if let Some(e) = &tx.dead {
            return Err(e.clone());
        }
        if tx.close_queued {
            drop(tx);
            return Err(self.closed_error());
        }
        tx.queue(OP_PING, payload);
        let end = tx.queued;
        self.flush_to(tx, end, deadline)
    }

    fn on_pong(&self, payload: &[u8]) {
        let now = sys::now_us();
        let (rtt, internal) = {
            let mut st = self.st.lock();
            st.pongs_rcvd += 1;
            match st.pings.iter().position(|p| p.payload == payload) {
                Some(i) => {
                    let p = st.pings.remove(i).expect("index from position");
                    // a pong may answer only the latest of several pings
                    st.pings.drain(..i);
                    let rtt = now.saturating_sub(p.sent_us) as i64;
                    st.last_rtt_us = rtt;
                    if p.internal {
                        st.ka_sent_us = None;
                    }
                    (rtt, p.internal)
                }
                None => (-1, false),
            }
        };
        if !internal {
            if let Some(q) = &self.queue {
                let mut ev = Ev::new(EvKind::Pong, self.socket_id).with_data(payload);
                ev.rtt_us = rtt;
                q.push(ev);
            }
        }
    }

    // ---- reading ----------------------------------------------------------

    /// Takes the receiving side; another reader may hold it, and then this
    /// reader's deadline applies to the wait for its turn too.
    fn lock_rx(&self, deadline: Option<Instant>) -> Result<MutexGuard<'_, Rx>> {
        match deadline {
            None => Ok(self.rx.lock()),
            Some(d) => self.rx.try_lock_until(d).ok_or_else(|| {
                Error::new(Code::Timeout, "read timeout: another thread is reading this socket".to_string())
            }),
        }
    }

    /// Reads the next message and lends it: the pointer stays valid until the
    /// next read on this socket or its close. Ok(None): closed.
    pub fn read_lend(&self, deadline: Option<Instant>) -> Result<Option<(Kind, *const u8, usize)>> {
        let mut rx = self.lock_rx(deadline)?;
        let rx = &mut *rx;
        if let Some((kind, buf, n)) = rx.pending.pop_front() {
            rx.pending_bytes -= n;
            rx.delivered = buf;
            return Ok(Some((kind, rx.delivered.as_ptr(), n)));
        }
        match self.next_message(rx, deadline)? {
            None => Ok(None),
            Some(kind) => {
                let n = rx.reader.swap_message(&mut rx.delivered);
                Ok(Some((kind, rx.delivered.as_ptr(), n)))
            }
        }
    }

    /// Reads the next message into `buf`; a message larger than `buf` stays
    /// queued and its size is reported.
    pub fn read_copy(&self, buf: &mut [u8], deadline: Option<Instant>) -> Result<ReadCopy> {
        let mut rx = self.lock_rx(deadline)?;
        if let Some((kind, m, n)) = rx.pending.front() {
            let (kind, n) = (*kind, *n);
            if n > buf.len() {
                return Ok(ReadCopy::TooSmall(n));
            }
            buf[..n].copy_from_slice(&m[..n]);
            rx.pending.pop_front();
            rx.pending_bytes -= n;
            return Ok(ReadCopy::Message(kind, n));
        }
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

    /// Parses what is buffered, handling control frames, until a complete
    /// data message (Some(Some)), the end (Some(None)), or more bytes are
    /// needed (None).
    fn parse(&self, rx: &mut Rx) -> Option<Option<Kind>> {
        loop {
            if rx.end.is_some() {
                return Some(None);
            }
            match rx.reader.next_event() {
                Ok(Some(Event::Message)) => {
                    let (kind, m) = rx.reader.message().expect("a message is ready");
                    bump(&self.msgs_in, 1);
                    bump(&self.bytes_in, m.len() as u64);
                    return Some(Some(kind));
                }
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
                Ok(None) => return None,
            }
        }
    }

    /// Drives the receiving side until a complete message is ready (Some), the
    /// connection is closed (None), an error, or the deadline.
    fn next_message(&self, rx: &mut Rx, deadline: Option<Instant>) -> Result<Option<Kind>> {
        loop {
            match self.parse(rx) {
                Some(Some(kind)) => return Ok(Some(kind)),
                Some(None) => {
                    return match rx.end.as_ref().expect("ended") {
                        End::Closed => Ok(None),
                        End::Failed(e) => Err(e.clone()),
                    }
                }
                None => {}
            }
            match self.fill(rx, deadline) {
                Ok(true) => {}
                Ok(false) => self.on_eof(rx),
                Err(e) if e.code == Code::Timeout => return Err(e),
                Err(e) => self.on_io_error(rx, e),
            }
        }
    }

    /// One read attempt that does not block.
    fn read_nb(&self, buf: &mut [u8]) -> io::Result<usize> {
        if self.tls {
            self.tx.lock().t.try_read(buf)
        } else {
            sys::recv(self.fd, buf, true)
        }
    }

    fn got(&self, rx: &mut Rx, n: usize) {
        rx.reader.commit(n);
        self.last_rx_us.store(sys::now_us(), Ordering::Relaxed);
    }

    /// Reads more bytes. Ok(true): got some; Ok(false): EOF.
    fn fill(&self, rx: &mut Rx, deadline: Option<Instant>) -> Result<bool> {
        loop {
            // output a timed-out write or a control frame left behind; data
            // queued with WS_MORE waits for its write or ws_flush
            let pending_out = self.out_stuck.load(Ordering::Acquire);
            // busyPoll: retry without sleeping first (not while output waits)
            let spun = if pending_out {
                None
            } else {
                sys::spin(self.busy_poll, deadline, || self.read_nb(rx.reader.read_target()))
            };
            let (r, blocking) = match spun {
                Some(r) => (r, false),
                None => {
                    // no deadline (or one SO_RCVTIMEO enforces) and nothing
                    // to send: sleep in the kernel
                    let blocking = !self.tls && !pending_out && deadline.is_none_or(|d| self.rcvtimeo_ready(rx, d));
                    let target = rx.reader.read_target();
                    (if blocking { sys::recv(self.fd, target, false) } else { self.read_nb(target) }, blocking)
                }
            };
            match r {
                Ok(0) => return Ok(false),
                Ok(n) => {
                    self.got(rx, n);
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && blocking => {
                    return Err(Error::new(Code::Timeout, "read timeout: no complete message yet".to_string()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    let events = sys::POLLIN | if pending_out { sys::POLLOUT } else { 0 };
                    let rev = sys::poll_fd(self.fd, events, deadline).map_err(|e| Error::io(Code::Io, "poll", &e))?;
                    if rev == 0 {
                        return Err(Error::new(Code::Timeout, "read timeout: no complete message yet".to_string()));
                    }
                    if rev & sys::POLLOUT != 0 {
                        let mut tx = self.tx.lock();
                        let _ = tx.flush_nb(&self.peer);
                        self.set_pending(&tx);
                    }
                }
                Err(e) => {
                    return Err(self.read_error(&e));
                }
            }
        }
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
    fn on_eof(&self, rx: &mut Rx) {
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
    fn on_io_error(&self, rx: &mut Rx, e: Error) {
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

    fn read_error(&self, e: &io::Error) -> Error {
        Error::new(Code::Io, format!("read from {}: {}", self.peer, describe_io(e)))
    }

    /// Records the end of the receiving side (once) and tells the owner.
    fn set_end(&self, rx: &mut Rx, end: End) {
        if rx.end.is_some() {
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

    // ---- background duties (reactor thread) -----------------------------------

    /// Serves readiness reported by the reactor: flushes stuck output, answers
    /// pings, reads ahead for a program that is not reading, and delivers
    /// events for sockets with a queue. Never waits.
    pub fn on_ready(&self, writable: bool) -> Rearm {
        if writable {
            let mut tx = self.tx.lock();
            let _ = tx.flush_nb(&self.peer);
            self.set_pending(&tx);
        }
        let Some(mut guard) = self.rx.try_lock() else {
            // a program thread is reading (or closing): it does the work
            return Rearm::After(Duration::from_millis(50));
        };
        let rx = &mut *guard;
        let mut budget = READ_BUDGET;
        loop {
            match self.parse(rx) {
                Some(Some(kind)) => {
                    self.stash(rx, kind);
                    if self.queue.is_none() && rx.pending_bytes > PENDING_MAX {
                        // the program is far behind: let TCP push back, but do
                        // not mistake that for a silent server
                        self.last_rx_us.store(sys::now_us(), Ordering::Relaxed);
                        return Rearm::After(Duration::from_millis(50));
                    }
                    continue;
                }
                Some(None) => return Rearm::Never,
                None => {}
            }
            if budget == 0 {
                return Rearm::Now;
            }
            match self.read_nb(rx.reader.read_target()) {
                Ok(0) => self.on_eof(rx),
                Ok(n) => {
                    self.got(rx, n);
                    budget = budget.saturating_sub(n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    let e = self.read_error(&e);
                    self.on_io_error(rx, e);
                }
            }
        }
        match &self.queue {
            Some(q) if q.is_full() => Rearm::After(Duration::from_millis(20)),
            Some(_) => Rearm::Now,
            // leave the socket to the program's own reads for a while
            None => Rearm::After(Duration::from_millis(50)),
        }
    }

    /// Moves a complete message out of the parser: to the event queue, or
    /// into the read-ahead list for the next `ws_read`.
    fn stash(&self, rx: &mut Rx, kind: Kind) {
        let mut buf = Vec::new();
        let n = rx.reader.swap_message(&mut buf);
        match &self.queue {
            Some(q) => {
                let mut ev = Ev::new(EvKind::Message, self.socket_id).with_buffer(buf, n);
                ev.msg_type = kind as i32;
                q.push(ev);
            }
            None => {
                rx.pending_bytes += n;
                rx.pending.push_back((kind, buf, n));
            }
        }
    }

    /// Keepalive: pings after `pingInterval` of silence and fails the
    /// connection when nothing arrives within `pongTimeout` after the ping.
    /// Returns when to look again (µs), or None when keepalive is off/over.
    pub fn keepalive_tick(&self, now: u64) -> Option<u64> {
        if self.ping_interval_us == 0 {
            return None;
        }
        let last = self.last_rx_us.load(Ordering::Relaxed);
        let ping = {
            let mut st = self.st.lock();
            if st.tcp_done || st.failed || st.close_sent.is_some() {
                return None;
            }
            if let Some(sent) = st.ka_sent_us {
                if last >= sent {
                    st.ka_sent_us = None; // the server spoke since our ping
                } else if now >= sent + self.pong_timeout_us {
                    drop(st);
                    let ms = (self.ping_interval_us + self.pong_timeout_us) / 1000;
                    self.force_fail(Error::new(
                        Code::HealthCheck,
                        format!(
                            "server not responding to health checks: nothing from {} for {ms} ms (pingInterval + pongTimeout)",
                            self.peer
                        ),
                    ));
                    return None;
                } else {
                    return Some(sent + self.pong_timeout_us);
                }
            }
            if now < last + self.ping_interval_us {
                return Some(last + self.ping_interval_us);
            }
            st.ka_seq += 1;
            let payload = format!("wsclient-keepalive-{}", st.ka_seq).into_bytes();
            if st.pings.len() == MAX_PINGS {
                st.pings.pop_front();
            }
            st.pings.push_back(Ping { payload: payload.clone(), sent_us: now, internal: true });
            st.ka_sent_us = Some(now);
            st.pings_sent += 1;
            payload
        };
        self.send_control(OP_PING, &ping);
        Some(now + self.pong_timeout_us)
    }

    /// Fails the connection from outside the reading path and wakes every
    /// thread blocked on it.
    pub fn force_fail(&self, e: Error) {
        {
            let mut st = self.st.lock();
            if st.tcp_done {
                return;
            }
            st.failed = true;
            st.initiator = ClosedBy::Error;
            st.forced = Some(e.clone());
        }
        self.tx.lock().dead = Some(e.clone());
        if let Some(mut rx) = self.rx.try_lock() {
            self.st.lock().tcp_done = true;
            self.set_end(&mut rx, End::Failed(e));
        }
        sys::shutdown(self.fd);
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
                st.initiator = ClosedBy::Client;
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
            let now = Instant::now();
            if !self.tls && sys::set_rcvtimeo(self.fd, deadline.saturating_duration_since(now)).is_ok() {
                rx.rcvtimeo = Some(RcvTimeo { deadline, armed: now });
            }
            // late messages are dropped
            while let Ok(Some(_)) = self.next_message(&mut rx, Some(deadline)) {
                rx.reader.consume_message();
            }
            let eof = self.st.lock().tcp_done || self.drain_to_eof(&mut rx, deadline);
            if !eof {
                // the server did not close: we do
                self.tx.lock().t.tls_shutdown();
                sys::shutdown(self.fd);
            }
            self.st.lock().tcp_done = true;
            self.set_end(&mut rx, End::Closed);
        } else {
            // a reader still holds the socket: waking it ends it
            self.tx.lock().t.tls_shutdown();
            sys::shutdown(self.fd);
        }
    }

    /// Whether a blocking recv(2) may wait for `deadline` because SO_RCVTIMEO
    /// bounds it; the timer is set again with the time left when the last
    /// setting would overrun the deadline by more than RCVTIMEO_SLACK. False
    /// once the deadline has passed: the caller then polls, which times out.
    fn rcvtimeo_ready(&self, rx: &mut Rx, deadline: Instant) -> bool {
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

    /// Waits for the server to close TCP (it should, after the close
    /// handshake), discarding bytes. True when it did.
    fn drain_to_eof(&self, rx: &mut Rx, deadline: Instant) -> bool {
        let mut scratch = [0u8; 4096];
        loop {
            let r = match sys::spin(self.busy_poll, Some(deadline), || self.read_nb(&mut scratch)) {
                Some(r) => r,
                None if !self.tls && self.rcvtimeo_ready(rx, deadline) => sys::recv(self.fd, &mut scratch, false),
                None => self.read_nb(&mut scratch),
            };
            match r {
                Ok(0) => return true,
                Ok(_) => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if !matches!(sys::poll_fd(self.fd, sys::POLLIN, Some(deadline)), Ok(n) if n > 0) {
                        return false;
                    }
                }
                Err(_) => return false,
            }
        }
    }

    // ---- readback -------------------------------------------------------------

    pub fn info(&self) -> Info {
        let st = self.st.lock();
        let (code_rcvd, reason_rcvd) = match &st.close_rcvd {
            Some(Some((c, r))) => (*c, r.clone()),
            Some(None) => (1005, String::new()),
            None if st.tcp_done || st.failed => (1006, String::new()),
            None => (0, String::new()),
        };
        let (code_sent, reason_sent) = st.close_sent.clone().unwrap_or((0, String::new()));
        Info {
            closed_by: st.initiator,
            code_sent,
            reason_sent,
            code_rcvd,
            reason_rcvd,
            clean: st.close_sent.is_some() && st.close_rcvd.is_some() && !st.failed,
            ended: st.tcp_done || st.failed || st.close_rcvd.is_some(),
            closing: st.close_sent.is_some() && !st.tcp_done,
            pings_sent: st.pings_sent,
            pongs_rcvd: st.pongs_rcvd,
            last_rtt_us: st.last_rtt_us,
            msgs_in: self.msgs_in.load(Ordering::Relaxed),
            msgs_out: self.msgs_out.load(Ordering::Relaxed),
            bytes_in: self.bytes_in.load(Ordering::Relaxed),
            bytes_out: self.bytes_out.load(Ordering::Relaxed),
        }
    }

    /// Frees buffers grown by large messages (idle sockets, memory per socket).
    pub fn trim_if_idle(&self) {
        // `delivered` is lent to the program until its next read: not touched
        if let Some(mut rx) = self.rx.try_lock() {
            rx.reader.trim();
        }
    }
}
