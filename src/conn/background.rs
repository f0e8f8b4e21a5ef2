//! What the background thread does with a socket's receiving side: read
//! ahead for a program that is not reading (pongs go out meanwhile),
//! deliver events for sockets with a queue, keep complete messages before a
//! failure decided elsewhere, and trim idle buffers.
#![deny(unsafe_code)]

use super::rx::{Item, Parsed, Rx};
use super::Conn;
use crate::events::{Ev, EvKind};
use crate::proto::{Event, Kind};
use crate::sys;
use std::io;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Bytes of messages the background thread may read ahead for a program
/// that is not reading (so that pings are answered meanwhile); beyond this
/// it stops reading and TCP pushes back.
const PENDING_MAX: usize = 1 << 20;
/// Bytes the background thread reads from one socket before serving others.
const READ_BUDGET: usize = 1 << 20;

impl Conn {
    /// Before a failure decided outside the reading path ends the
    /// connection: complete messages already received are kept for the
    /// program (read-ahead list or event queue), in order.
    pub(super) fn salvage(&self, rx: &mut Rx) {
        if rx.conn != self.token || rx.end.is_some() {
            return;
        }
        loop {
            match rx.reader.next_event() {
                Ok(Some(Event::Message)) => {
                    let (kind, _) = rx.reader.message().expect("a message is ready");
                    self.stash(rx, kind);
                }
                Ok(Some(Event::Pong(p))) => self.on_pong(&p),
                Ok(Some(Event::Ping(_))) => {}
                // pieces stay in the parser: a read takes them before the end
                Ok(Some(Event::Piece)) | Ok(Some(Event::Close(_))) | Ok(None) | Err(_) => return,
            }
        }
    }

    /// Serves readiness reported by the reactor: flushes stuck output, answers
    /// pings, reads ahead for a program that is not reading, and delivers
    /// events for sockets with a queue. Never waits.
    /// Long on purpose: the order of the steps (flush, then read, then
    /// deliver, then decide the re-arm) is the contract with the reactor and
    /// reads best in one place.
    pub fn on_ready(&self, writable: bool) -> super::Rearm {
        use super::Rearm;
        if writable {
            let mut tx = self.tx.lock();
            let _ = tx.flush_nb(&self.peer);
            self.set_pending(&tx);
        }
        let Some(mut guard) = self.rx.try_lock() else {
            // a program thread is reading (or closing): it does the work;
            // nobody but us reads a queue socket, so look again then
            return match self.queue {
                Some(_) => Rearm::Retry(Duration::from_millis(20)),
                None => Rearm::After(Duration::from_millis(50)),
            };
        };
        let rx = &mut *guard;
        if rx.conn != self.token {
            return Rearm::Never;
        }
        let mut budget = READ_BUDGET;
        loop {
            if self.queue.is_none() && rx.item_bytes > PENDING_MAX {
                // the program is far behind: read no more ahead for it (TCP
                // pushes back); keepalive must not take that for silence
                self.last_rx_us.store(sys::now_us(), Ordering::Relaxed);
                return Rearm::After(Duration::from_millis(50));
            }
            if self.queue.as_ref().is_some_and(|q| q.is_full()) {
                // the host (or its callback) is behind: TCP pushes back;
                // keepalive must not mistake that for a silent server
                self.last_rx_us.store(sys::now_us(), Ordering::Relaxed);
                return Rearm::Retry(Duration::from_millis(20));
            }
            match self.parse(rx) {
                Parsed::Message(kind) | Parsed::Piece(kind) if self.queue.is_some() && rx.stream => {
                    self.stash_piece(rx, kind);
                    continue;
                }
                Parsed::Message(kind) if !rx.reader.mid_message() => {
                    self.stash(rx, kind);
                    if self.queue.is_none() && rx.item_bytes > PENDING_MAX {
                        // the program is far behind: let TCP push back, but do
                        // not mistake that for a silent server
                        self.last_rx_us.store(sys::now_us(), Ordering::Relaxed);
                        return Rearm::After(Duration::from_millis(50));
                    }
                    continue;
                }
                // a message the program reads in pieces: its pieces wait for
                // it (TCP pushes back), whole messages are not held for it
                Parsed::Message(_) | Parsed::Piece(_) => {
                    self.last_rx_us.store(sys::now_us(), Ordering::Relaxed);
                    return Rearm::After(Duration::from_millis(50));
                }
                Parsed::End => return Rearm::Never,
                Parsed::More => {}
            }
            if budget == 0 {
                // more may wait where epoll cannot see it (inside the TLS
                // library): serve again at once rather than wait for readiness
                return Rearm::Retry(Duration::ZERO);
            }
            match self.read_nb(rx.reader.read_target()) {
                Ok(0) => self.on_eof(rx),
                Ok(n) => {
                    self.got(rx, n);
                    budget = budget.saturating_sub(n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
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
        self.count_in(n);
        match &self.queue {
            Some(q) => {
                let mut ev = Ev::new(EvKind::Message, self.socket_id).with_buffer(buf, n);
                ev.msg_type = kind as i32;
                q.push(ev);
            }
            None => {
                rx.item_bytes += n;
                rx.items.push_back(Item::Msg(kind, buf, n));
            }
        }
    }

    /// Stream mode with an event queue: the next piece as a
    /// WS_EV_MESSAGE_PART event (`code` 1 on the last piece, `rtt_us` its
    /// offset in the message).
    fn stash_piece(&self, rx: &mut Rx, kind: Kind) {
        let mut buf = vec![0u8; rx.reader.piece_len()];
        let Some(p) = rx.reader.take_piece(&mut buf) else { return };
        if p.last {
            self.count_in((p.offset + p.len as u64) as usize);
        }
        if let Some(q) = &self.queue {
            let mut ev = Ev::new(EvKind::MessagePart, self.socket_id).with_buffer(buf, p.len);
            ev.msg_type = kind as i32;
            ev.code = p.last as i32;
            ev.rtt_us = p.offset as i64;
            q.push(ev);
        }
    }

    /// Bytes already received but not parsed (frames that came with the
    /// upgrade response), which epoll cannot report.
    pub fn has_buffered_input(&self) -> bool {
        self.rx.try_lock().is_none_or(|rx| rx.conn == self.token && rx.has_input())
            || self.tx.try_lock().is_none_or(|tx| tx.t.buffered() > 0)
    }

    /// Frees buffers grown by large messages (idle sockets, memory per socket).
    pub fn trim_if_idle(&self) {
        if let Some(mut rx) = self.rx.try_lock() {
            if rx.conn == self.token {
                rx.trim();
            }
        }
        if let Some(mut z) = self.deflate.as_ref().and_then(|z| z.try_lock()) {
            z.trim();
        }
    }
}
