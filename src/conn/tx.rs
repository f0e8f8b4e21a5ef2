//! The sending side: the outgoing queue, writes, flushes, control frames and
//! pings.
#![deny(unsafe_code)]

use super::{bump, Conn, Ping, MAX_PINGS, OP_CLOSE, OP_PING, OP_PONG};
use crate::error::{Code, Error, Result};
use crate::events::{Ev, EvKind};
use crate::proto;
use crate::sys;
use crate::transport::Transport;
use parking_lot::MutexGuard;
use std::io;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Queued bytes above which a pong is not queued behind the rest but kept
/// aside, replacing the one kept before (RFC 6455 section 5.5.3 allows
/// answering only the most recent ping): a server that floods pings and
/// never reads cannot grow our memory.
const PONG_BACKLOG: usize = 64 * 1024;

/// Outgoing side.
pub(super) struct Tx {
    pub(super) t: Transport,
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
    pub(super) dead: Option<Error>,
    /// The latest pong not yet queued (see PONG_BACKLOG).
    deferred_pong: Option<Vec<u8>>,
    /// Masking keys, refilled from the thread's CSPRNG 64 keys at a time
    /// (RFC 6455 section 5.3: unpredictable keys).
    masks: [u8; 256],
    mask_at: usize,
}

impl Tx {
    pub(super) fn new(t: Transport) -> Tx {
        Tx {
            t,
            out: Vec::new(),
            pos: 0,
            queued: 0,
            sent: 0,
            close_queued: false,
            dead: None,
            deferred_pong: None,
            masks: [0; 256],
            mask_at: 256,
        }
    }

    pub(super) fn queued_total(&self) -> u64 {
        self.queued
    }

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
    pub(super) fn flush_nb(&mut self, peer: &str) -> Result<()> {
        if let Some(e) = &self.dead {
            return Err(e.clone());
        }
        loop {
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
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        let e = Error::io(Code::Io, &format!("write to {peer}"), &e);
                        self.dead = Some(e.clone());
                        return Err(e);
                    }
                }
            }
            self.out.clear();
            self.pos = 0;
            // keep big buffers only while they are in use (memory per idle socket)
            if self.out.capacity() > 256 * 1024 {
                self.out = Vec::new();
            }
            match self.deferred_pong.take() {
                Some(p) if !self.close_queued => self.queue(OP_PONG, &p),
                _ => return Ok(()),
            }
        }
    }
}

impl Conn {
    pub(super) fn set_pending(&self, tx: &Tx) {
        if tx.pending() == 0 && tx.deferred_pong.is_none() {
            self.out_stuck.store(false, Ordering::Release);
        }
    }

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

    pub(super) fn flush_to<'a>(
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
    pub(super) fn send_control(&self, op: u8, payload: &[u8]) {
        let mut tx = self.tx.lock();
        if tx.close_queued || tx.dead.is_some() {
            return;
        }
        if op == OP_PONG && tx.pending() > PONG_BACKLOG {
            tx.deferred_pong = Some(payload.to_vec());
        } else {
            tx.queue(op, payload);
        }
        if op == OP_CLOSE {
            tx.close_queued = true;
            tx.deferred_pong = None;
        }
        let _ = tx.flush_nb(&self.peer);
        self.set_pending(&tx);
        if tx.pending() > 0 || tx.deferred_pong.is_some() {
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

    /// Queues a keepalive ping (reactor thread; never waits).
    pub(super) fn send_keepalive(&self, payload: &[u8]) {
        self.send_control(OP_PING, payload);
    }

    pub(super) fn on_pong(&self, payload: &[u8]) {
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

    /// Best-effort TLS close_notify, then shutdown(2) of both directions,
    /// which wakes every thread blocked on the socket.
    pub(super) fn shut_down(&self) {
        self.tx.lock().t.tls_shutdown();
        sys::shutdown(self.fd);
    }
}
