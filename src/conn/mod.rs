//! The connection core: reading, writing, pinging and closing one WebSocket
//! connection, in safe Rust over [`Transport`] and the [`proto`] codec.
//!
//! Full duplex without a thread hop per message: the calling thread does its
//! own I/O. Three short-held locks, always taken in this order:
//! - `rx` (receiving state, [`Rx`]) belongs to the socket *number*, not to
//!   one connection: the message lent by `ws_read`, messages read ahead and
//!   the ends of earlier connections survive a reconnect. A reader holds it
//!   for its whole `ws_read`, including the wait, so readers of one socket
//!   take turns; the background thread only ever *tries* it. `rx.conn` says
//!   which connection its parser belongs to: a connection that is no longer
//!   the current one never touches it.
//! - `tx` (outgoing queue and, for TLS, the TLS stream) is held only to queue
//!   frames and for non-blocking send/recv attempts, never across a wait, so
//!   a writer never waits for a blocked reader;
//! - `st` (close and ping bookkeeping) is held for a few instructions.
//!
//! The owning socket's lock (`socket.rs`) comes after `rx` and before `tx`.
//!
//! For plain TCP the socket stays blocking and a reader without a deadline
//! sleeps in recv(2) (one system call per message, as a blocking client);
//! writers pass MSG_DONTWAIT and wait in poll(2) outside the lock.
//!
//! Background duties (pongs while the program does not read, keepalive,
//! event delivery) are done by the reactor thread through [`Conn::on_ready`]
//! and [`Conn::keepalive_tick`].
#![deny(unsafe_code)]

mod background;
mod close;
mod compress;
mod rx;
mod tx;

pub use rx::{lock_rx, Got, Next, Rx, Want};

use crate::error::{Code, Error};
use crate::events::{ClosedBy, Queue};
use crate::handshake::Upgrade;
use crate::options::Options;
use crate::socket::Socket;
use crate::sys;
use crate::transport::Transport;
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;
use tx::Tx;

pub(crate) const OP_TEXT: u8 = 0x1;
pub(crate) const OP_BINARY: u8 = 0x2;
pub(crate) const OP_CLOSE: u8 = 0x8;
pub(crate) const OP_PING: u8 = 0x9;
pub(crate) const OP_PONG: u8 = 0xA;

/// Outstanding pings remembered for round-trip times.
const MAX_PINGS: usize = 32;

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

/// What the background thread should do with a socket after serving it.
pub enum Rearm {
    /// Watch for readiness again now.
    Now,
    /// Watch for readiness again after a pause.
    After(Duration),
    /// Serve again after a pause without waiting for readiness (bytes may
    /// be buffered where epoll cannot see them).
    Retry(Duration),
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
    /// permessage-deflate as agreed, if negotiated.
    pub deflate: Option<crate::deflate::Agreed>,
    /// Data frame payload bytes on the wire (compressed size).
    pub wire_in: u64,
    pub wire_out: u64,
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
    /// Identifies this connection (reactor key, `Rx::conn`).
    pub token: u64,
    socket_id: i32,
    owner: Weak<Socket>,
    queue: Option<Arc<Queue>>,
    tx: Mutex<Tx>,
    /// The socket number's receiving state (shared with later connections).
    rx: Arc<Mutex<Rx>>,
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
    /// permessage-deflate, when negotiated: the compressor (also every data
    /// writer's turn, see compress.rs) and the wire byte counters.
    deflate: Option<Mutex<crate::deflate::Compressor>>,
    zstats: Option<Arc<crate::deflate::Stats>>,
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
    pub rx: Arc<Mutex<Rx>>,
}

impl Conn {
    pub fn new(t: Transport, upgrade: Upgrade, opts: &Options, peer: String, owner: Owner) -> Conn {
        let zstats = upgrade.deflate.map(|_| Arc::new(crate::deflate::Stats::default()));
        let deflate = upgrade
            .deflate
            .as_ref()
            .zip(zstats.clone())
            .map(|(a, st)| Mutex::new(crate::deflate::Compressor::new(a, st)));
        Conn {
            fd: t.fd(),
            tls: t.is_tls(),
            peer,
            token: NEXT_TOKEN.fetch_add(1, Ordering::Relaxed),
            socket_id: owner.id,
            owner: owner.socket,
            queue: owner.queue,
            tx: Mutex::new(Tx::new(t)),
            rx: owner.rx,
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
            deflate,
            zstats,
        }
    }

    /// The decompressor for this connection's receiving side (permessage-
    /// deflate negotiated), for `Rx::set_inflater`.
    pub fn inflater(&self) -> Option<Box<crate::deflate::Inflater>> {
        let a = self.upgrade.deflate.as_ref()?;
        Some(Box::new(crate::deflate::Inflater::new(a, self.zstats.clone()?)))
    }

    pub fn fd(&self) -> RawFd {
        self.fd
    }

    pub fn close_timeout(&self) -> Duration {
        self.close_timeout
    }

    /// Sockets with an event queue are read by the background thread only.
    pub fn check_readable(&self) -> crate::error::Result<()> {
        match &self.queue {
            Some(q) => Err(Error::arg(format!(
                "socket {} delivers its messages as events to queue {}; use ws_next_event()",
                self.socket_id, q.id
            ))),
            None => Ok(()),
        }
    }

    /// permessage-deflate was agreed (its codecs are released when idle).
    pub fn compressed(&self) -> bool {
        self.deflate.is_some()
    }

    /// What the codecs hold now, for the memory tests: (a compressor is
    /// held, bytes the decompressor holds). Waits for a reader or writer
    /// working on the connection.
    pub fn codec_memory(&self) -> (bool, usize) {
        let compressor = self.deflate.as_ref().is_some_and(|z| z.lock().holds_state());
        let rx = self.rx.lock();
        let inflater = if rx.conn == self.token { rx.reader.inflater_memory() } else { 0 };
        (compressor, inflater)
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

    /// The reactor should watch for writability (a flush could not finish and
    /// nobody is waiting to finish it).
    pub fn wants_write(&self) -> bool {
        self.out_stuck.load(Ordering::Acquire)
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
            deflate: self.upgrade.deflate,
            wire_in: self
                .zstats
                .as_ref()
                .map_or(self.bytes_in.load(Ordering::Relaxed), |z| z.wire_in.load(Ordering::Relaxed)),
            wire_out: self
                .zstats
                .as_ref()
                .map_or(self.bytes_out.load(Ordering::Relaxed), |z| z.wire_out.load(Ordering::Relaxed)),
        }
    }
}
