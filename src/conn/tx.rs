//! The sending side: the outgoing queue, writes, flushes, control frames and
//! pings.
#![deny(unsafe_code)]

use super::{bump, Conn, Ping, MAX_PINGS, OP_CLOSE, OP_PING, OP_PONG};
use crate::error::{Code, Error, Result};
use crate::events::{Ev, EvKind};
use crate::proto::{self, Kind};
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
    pub(super) queued: u64,
    sent: u64,
    /// Our close frame is queued: no data frame may follow it.
    pub(super) close_queued: bool,
    /// The send side failed (reset, broken pipe); every later write fails.
    pub(super) dead: Option<Error>,
    /// The latest pong not yet queued (see PONG_BACKLOG).
    deferred_pong: Option<Vec<u8>>,
    /// A message is being sent in pieces (ws_write_part).
    pub(super) stream_out: Option<StreamOut>,
    /// Masking keys, refilled from the thread's CSPRNG 64 keys at a time
    /// (RFC 6455 section 5.3: unpredictable keys).
    masks: [u8; 256],
    mask_at: usize,
}

/// A message being sent in pieces: its type, and for text the bytes of a
/// UTF-8 sequence split at the end of the last piece.
#[derive(Clone)]
pub(super) struct StreamOut {
    kind: Kind,
    carry: [u8; 4],
    carry_len: usize,
}

impl StreamOut {
    /// Checks `data` as the continuation of the text so far; on success the
    /// carry holds the (incomplete) tail. `last`: no piece follows, so an
    /// incomplete sequence is an error.
    fn check_utf8(&mut self, data: &[u8], last: bool) -> Result<()> {
        let bad = |at: usize| {
            Error::arg(format!("text piece is not valid UTF-8 (at byte {at} of the piece); nothing of it was sent"))
        };
        let mut i = 0;
        if self.carry_len > 0 {
            let need = match self.carry[0] {
                0xC0..=0xDF => 2,
                0xE0..=0xEF => 3,
                _ => 4,
            };
            while self.carry_len < need && i < data.len() {
                self.carry[self.carry_len] = data[i];
                self.carry_len += 1;
                i += 1;
            }
            // every byte must continue the sequence (a valid prefix so far)
            match std::str::from_utf8(&self.carry[..self.carry_len]) {
                Err(e) if e.error_len().is_some() => return Err(bad(0)),
                Ok(_) => {}
                Err(_) if self.carry_len == need => return Err(bad(0)),
                Err(_) => {}
            }
            if self.carry_len < need {
                return if last { Err(bad(0)) } else { Ok(()) };
            }
            self.carry_len = 0;
        }
        match std::str::from_utf8(&data[i..]) {
            Ok(_) => Ok(()),
            Err(e) if e.error_len().is_none() && !last => {
                let tail = &data[i + e.valid_up_to()..];
                self.carry[..tail.len()].copy_from_slice(tail);
                self.carry_len = tail.len();
                Ok(())
            }
            Err(e) => Err(bad(i + e.valid_up_to())),
        }
    }
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
            stream_out: None,
            masks: [0; 256],
            mask_at: 256,
        }
    }

    pub(super) fn queued_total(&self) -> u64 {
        self.queued
    }

    pub(super) fn pending(&self) -> usize {
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
        self.queue_frame(op, true, payload);
    }

    pub(super) fn queue_frame(&mut self, op: u8, fin: bool, payload: &[u8]) {
        if self.pos == self.out.len() {
            self.out.clear();
            self.pos = 0;
        }
        let before = self.out.len();
        let mask = self.mask();
        proto::encode_frame(&mut self.out, op, fin, payload, mask);
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
        if let Some(z) = &self.deflate {
            return self.write_deflate(z, op, data, more);
        }
        let deadline = self.send_timeout.map(|t| Instant::now() + t);
        self.write_plain(op, data, more, deadline)
    }

    /// `write` without compression (also the compressed connections'
    /// messages under the threshold).
    pub(super) fn write_plain(&self, op: u8, data: &[u8], more: bool, deadline: Option<Instant>) -> Result<()> {
        self.send(data, more, deadline, |tx| {
            Self::plan_whole(tx)?;
            Ok((op, true, true))
        })
    }

    /// A whole message may start now (none is being sent in pieces).
    pub(super) fn plan_whole(tx: &Tx) -> Result<()> {
        if tx.stream_out.is_some() {
            return Err(Error::new(
                Code::MessageUnfinished,
                "a message is being sent in pieces: finish it with ws_write_part() (without WS_CONT) first".to_string(),
            ));
        }
        Ok(())
    }

    /// Queues one piece of a message sent in pieces (`ws_write_part`):
    /// `kind` starts a message (or repeats its type), `cont` says that more
    /// pieces follow. Text is checked as UTF-8 across pieces: a code point
    /// may be split between two pieces, an invalid sequence is refused and
    /// nothing of the piece is sent.
    pub fn write_part(&self, kind: Option<Kind>, data: &[u8], cont: bool, more: bool) -> Result<()> {
        if let Some(z) = &self.deflate {
            return self.write_part_deflate(z, kind, data, cont, more);
        }
        let deadline = self.send_timeout.map(|t| Instant::now() + t);
        self.send(data, more, deadline, |tx| {
            let (op, fin, first, next) = Self::plan_part(tx, kind, data, cont)?;
            tx.stream_out = next;
            Ok((op, fin, first))
        })
    }

    /// Opcode, FIN and "starts a message" for the next piece of a message
    /// sent in pieces, and the stream state after it; changes nothing.
    pub(super) fn plan_part(
        tx: &Tx,
        kind: Option<Kind>,
        data: &[u8],
        cont: bool,
    ) -> Result<(u8, bool, bool, Option<StreamOut>)> {
        let (op, first, state) = match (&tx.stream_out, kind) {
            (None, None) => {
                return Err(Error::arg(
                    "the first piece of a message needs its type (WS_TEXT or WS_BINARY)".to_string(),
                ))
            }
            (None, Some(k)) => (k as u8, true, StreamOut { kind: k, carry: [0; 4], carry_len: 0 }),
            (Some(s), Some(k)) if k != s.kind => {
                return Err(Error::arg(format!(
                    "this message is {}: a later piece cannot change its type",
                    if s.kind == Kind::Text { "text" } else { "binary" }
                )))
            }
            (Some(s), _) => (0x0, false, s.clone()),
        };
        let mut next = state;
        if next.kind == Kind::Text {
            next.check_utf8(data, !cont)?;
        }
        Ok((op, !cont, first, if cont { Some(next) } else { None }))
    }

    /// The queueing and sending shared by whole messages and pieces: waits
    /// for room (sendBufferLimit, sendTimeout, up to `deadline`), lets
    /// `frame` decide the opcode and FIN bit under the lock (Err: refuse),
    /// queues the frame and, unless `more`, sends it.
    fn send(
        &self,
        data: &[u8],
        more: bool,
        deadline: Option<Instant>,
        frame: impl FnOnce(&mut Tx) -> Result<(u8, bool, bool)>,
    ) -> Result<()> {
        let mut tx = self.wait_room(data.len(), deadline)?;
        let (op, fin, first) = frame(&mut tx)?;
        tx.queue_frame(op, fin, data);
        if first {
            bump(&self.msgs_out, 1);
        }
        bump(&self.bytes_out, data.len() as u64);
        let end = tx.queued;
        if more {
            self.set_pending(&tx);
            return Ok(());
        }
        self.flush_to(tx, end, deadline)
    }

    /// Waits until `len` more bytes may be queued (sendBufferLimit; one
    /// message larger than the limit goes onto an empty queue) and returns
    /// the send lock. Timeout: nothing was queued.
    pub(super) fn wait_room(&self, len: usize, deadline: Option<Instant>) -> Result<MutexGuard<'_, Tx>> {
        let mut tx = self.tx.lock();
        loop {
            if let Some(e) = &tx.dead {
                return Err(e.clone());
            }
            if tx.close_queued {
                drop(tx);
                return Err(self.closed_error());
            }
            if tx.pending() == 0 || tx.pending() + len <= self.send_limit {
                break;
            }
            tx.flush_nb(&self.peer)?;
            self.set_pending(&tx);
            if tx.pending() == 0 || tx.pending() + len <= self.send_limit {
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
        Ok(tx)
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

    pub(super) fn wait_writable(&self, deadline: Option<Instant>) -> Result<i16> {
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
