//! The sending side with permessage-deflate (the codec is `crate::deflate`):
//! messages are compressed and queued in pieces of `deflate::PIECE` input
//! bytes, one frame each, under the same sendBufferLimit and sendTimeout
//! rules as uncompressed ones: a timeout before anything was queued is
//! `Code::Timeout` (nothing sent, the compressor untouched); once part of a
//! message is queued, a timeout queues the rest at once and is
//! `Code::Pending` (sent whole, in order, by later I/O).
//!
//! The compressor's lock is every data writer's turn on a compressed
//! connection: taken before the send lock and held until the whole message
//! is queued, so messages neither interleave nor reach the wire in another
//! order than they were compressed in (context takeover depends on that).
//! Control frames (pongs, close) do not take it and may go between the
//! frames of a message, as RFC 6455 allows.
#![deny(unsafe_code)]

use super::{bump, Conn};
use crate::deflate::{self, Compressor};
use crate::error::{Code, Error, Result};
use crate::proto::Kind;
use parking_lot::{Mutex, MutexGuard};
use std::cell::RefCell;
use std::time::Instant;

/// RSV1 in the first byte of a frame header: this message is compressed.
const RSV1: u8 = 0x40;

thread_local! {
    /// Compressed output of the piece being queued. Per thread, not per
    /// connection, so that an idle connection holds no output buffer.
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// A scratch buffer above this size is released after the message.
const SCRATCH_KEEP: usize = 64 * 1024;

fn with_scratch<T>(f: impl FnOnce(&mut Vec<u8>) -> T) -> T {
    SCRATCH.with(|s| {
        // a callback cannot run inside a write, but be safe: a nested use
        // gets a buffer of its own
        match s.try_borrow_mut() {
            Ok(mut b) => {
                b.clear();
                let r = f(&mut b);
                if b.capacity() > SCRATCH_KEEP {
                    *b = Vec::new();
                }
                r
            }
            Err(_) => f(&mut Vec::new()),
        }
    })
}

fn internal(why: String) -> Error {
    Error::new(Code::Internal, format!("internal error: {why}"))
}

impl Conn {
    /// Takes the compressor (the writer's turn) within the send deadline.
    fn lock_compressor<'a>(
        &self,
        z: &'a Mutex<Compressor>,
        deadline: Option<Instant>,
    ) -> Result<MutexGuard<'a, Compressor>> {
        match deadline {
            None => Ok(z.lock()),
            Some(d) => z.try_lock_until(d).ok_or_else(|| {
                Error::new(
                    Code::Timeout,
                    format!(
                        "send timeout after {} ms: another thread is sending a message on this socket; message not queued",
                        self.send_timeout.unwrap_or_default().as_millis()
                    ),
                )
            }),
        }
    }

    /// The send lock again after compressing, if the connection still
    /// takes data.
    fn relock(&self) -> Result<MutexGuard<'_, super::tx::Tx>> {
        let tx = self.tx.lock();
        if let Some(e) = &tx.dead {
            return Err(e.clone());
        }
        if tx.close_queued {
            drop(tx);
            return Err(self.closed_error());
        }
        Ok(tx)
    }

    /// `write` on a connection with permessage-deflate.
    pub(super) fn write_deflate(&self, z: &Mutex<Compressor>, op: u8, data: &[u8], more: bool) -> Result<()> {
        let deadline = self.send_timeout.map(|t| Instant::now() + t);
        let mut c = self.lock_compressor(z, deadline)?;
        if !c.wants(data.len()) {
            self.write_plain(op, data, more, deadline)?;
            bump(&c.stats.wire_out, data.len() as u64);
            return Ok(());
        }
        let r = with_scratch(|buf| self.queue_compressed(&mut c, op, data, more, deadline, buf));
        if r.is_err() {
            c.abort();
        }
        r
    }

    fn queue_compressed(
        &self,
        c: &mut Compressor,
        op: u8,
        data: &[u8],
        more: bool,
        deadline: Option<Instant>,
        buf: &mut Vec<u8>,
    ) -> Result<()> {
        let mut off = 0;
        let mut started = false;
        // the deadline passed with part of the message queued: the rest is
        // queued without waiting
        let mut late = false;
        loop {
            let n = (data.len() - off).min(deflate::PIECE);
            let end = off + n == data.len();
            // room for the piece: its size bounds the compressed size (give
            // or take a few bytes per block for incompressible data)
            if !late {
                match self.wait_room(n, deadline) {
                    Ok(tx) => {
                        if off == 0 {
                            Self::plan_whole(&tx)?;
                        }
                    }
                    Err(e) if e.code == Code::Timeout && off > 0 => late = true,
                    Err(e) => return Err(e),
                }
            }
            buf.clear();
            c.compress(&data[off..off + n], end, false, buf).map_err(internal)?;
            off += n;
            if buf.is_empty() && !end {
                continue; // deflate keeps it for the next piece
            }
            let mut tx = self.relock()?;
            let frame_op = if started { 0 } else { op | RSV1 };
            tx.queue_frame(frame_op, end, buf);
            bump(&c.stats.wire_out, buf.len() as u64);
            if !started {
                bump(&self.msgs_out, 1);
                started = true;
            }
            if end {
                bump(&self.bytes_out, data.len() as u64);
                let last = tx.queued_total();
                if more {
                    self.set_pending(&tx);
                    return Ok(());
                }
                return self.flush_to(tx, last, deadline);
            }
            // push out what the kernel takes now; the next piece's wait for
            // room does the waiting
            let _ = tx.flush_nb(&self.peer);
            self.set_pending(&tx);
        }
    }

    /// `write_part` on a connection with permessage-deflate: every message
    /// sent in pieces is compressed; each piece is flushed so that the
    /// server can inflate it on arrival.
    pub(super) fn write_part_deflate(
        &self,
        z: &Mutex<Compressor>,
        kind: Option<Kind>,
        data: &[u8],
        cont: bool,
        more: bool,
    ) -> Result<()> {
        let deadline = self.send_timeout.map(|t| Instant::now() + t);
        let mut c = self.lock_compressor(z, deadline)?;
        // validate (type, UTF-8 across pieces) before the compressor sees
        // the piece: a refused piece must leave its context as it was
        let (op, fin, first, next) = {
            let tx = self.wait_room(data.len(), deadline)?;
            Self::plan_part(&tx, kind, data, cont)?
        };
        let r = with_scratch(|buf| {
            c.compress(data, !cont, cont, buf).map_err(internal)?;
            let mut tx = self.relock()?;
            tx.stream_out = next;
            tx.queue_frame(if first { op | RSV1 } else { op }, fin, buf);
            bump(&c.stats.wire_out, buf.len() as u64);
            if first {
                bump(&self.msgs_out, 1);
            }
            bump(&self.bytes_out, data.len() as u64);
            let last = tx.queued_total();
            if more {
                self.set_pending(&tx);
                return Ok(());
            }
            self.flush_to(tx, last, deadline)
        });
        if matches!(&r, Err(e) if !e.is_timeout()) {
            c.abort();
        }
        r
    }
}
