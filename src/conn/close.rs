//! Ending a connection: keepalive (the dead-peer check), failures decided
//! outside the reading path, and the closing handshake.
#![deny(unsafe_code)]

use super::rx::{End, Parsed, RcvTimeo, Rx};
use super::{Conn, Ping, MAX_PINGS, OP_CLOSE};
use crate::error::{Code, Error};
use crate::events::ClosedBy;
use crate::sys;
use std::io;
use std::time::Instant;

impl Conn {
    /// Keepalive: pings after `pingInterval` of silence and fails the
    /// connection when nothing arrives within `pongTimeout` after the ping.
    /// Returns when to look again (µs), or None when keepalive is off/over.
    pub fn keepalive_tick(&self, now: u64) -> Option<u64> {
        if self.ping_interval_us == 0 {
            return None;
        }
        let last = self.last_rx_us.load(std::sync::atomic::Ordering::Relaxed);
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
        self.send_keepalive(&ping);
        Some(now + self.pong_timeout_us)
    }

    /// Fails the connection from outside the reading path and wakes every
    /// thread blocked on it. Complete messages already received stay
    /// readable before the failure.
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
            self.salvage(&mut rx);
            self.st.lock().tcp_done = true;
            self.set_end(&mut rx, End::Failed(e));
        }
        // a reader holding the receiving side wakes up and reports `forced`
        sys::shutdown(self.fd);
    }

    /// First half of the closing handshake: queue our close frame (unless one
    /// was sent already) and push it out without waiting.
    pub fn begin_close(&self, code: u16, reason: &str) {
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
    }

    /// Second half, bounded by `deadline`: send what is queued, wait for the
    /// server's close frame and for its TCP close, then shut the socket down
    /// (which also wakes any thread still blocked on it). Messages arriving
    /// meanwhile are dropped.
    pub fn finish_close(&self, deadline: Instant) {
        {
            let tx = self.tx.lock();
            let end = tx.queued_total();
            let _ = self.flush_to(tx, end, Some(deadline));
        }
        let Some(mut rx) = self.rx.try_lock_until(deadline) else {
            // a reader still holds the socket: waking it ends it
            self.shut_down();
            return;
        };
        if rx.conn() != self.token {
            drop(rx);
            self.shut_down();
            return;
        }
        let now = Instant::now();
        if !self.tls && sys::set_rcvtimeo(self.fd, deadline.saturating_duration_since(now)).is_ok() {
            rx.rcvtimeo = Some(RcvTimeo { deadline, armed: now });
        }
        // a message kept by a too-small ws_read_into stays readable (this
        // may be ws_reconnect's close: the number lives on); late messages
        // are dropped; a flood of them cannot hold the close past its deadline
        rx.keep_ready_message();
        while Instant::now() < deadline {
            match self.next_message(&mut rx, Some(deadline)) {
                Ok(Parsed::Message(_) | Parsed::Piece(_)) => rx.reader.discard_piece(),
                _ => break,
            }
        }
        let eof = self.st.lock().tcp_done || self.drain_to_eof(&mut rx, deadline);
        if !eof {
            // the server did not close: we do
            self.shut_down();
        }
        self.st.lock().tcp_done = true;
        self.set_end(&mut rx, End::Closed);
    }

    /// The whole closing handshake within the close timeout.
    pub fn close(&self, code: u16, reason: &str) {
        let deadline = Instant::now() + self.close_timeout;
        self.begin_close(code, reason);
        self.finish_close(deadline);
    }

    /// Waits for the server to close TCP (it should, after the close
    /// handshake), discarding bytes. True when it did; false at the
    /// deadline, however much keeps arriving.
    fn drain_to_eof(&self, rx: &mut Rx, deadline: Instant) -> bool {
        let mut scratch = [0u8; 4096];
        loop {
            if Instant::now() >= deadline {
                return false;
            }
            let r = match sys::spin(self.busy_poll, Some(deadline), || self.read_nb(&mut scratch)) {
                Some(r) => r,
                None if !self.tls && self.rcvtimeo_ready(rx, deadline) => sys::recv_once(self.fd, &mut scratch),
                None => self.read_nb(&mut scratch),
            };
            match r {
                Ok(0) => return true,
                Ok(_) => continue,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if !matches!(sys::poll_fd(self.fd, sys::POLLIN, Some(deadline)), Ok(n) if n > 0) {
                        return false;
                    }
                }
                Err(_) => return false,
            }
        }
    }
}
