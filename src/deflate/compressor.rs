//! permessage-deflate, sending: the [`Compressor`] and the process-wide pool
//! of compressors without context takeover (moved out of deflate.rs
//! unchanged; the design notes are at the top of deflate.rs).
#![deny(unsafe_code)]

use super::zstream::RawDeflate;
use super::{Agreed, Stats, TAIL};
use parking_lot::Mutex;
use std::sync::Arc;

/// The sending side's compressor for one connection.
pub struct Compressor {
    level: u8,
    mem_level: u8,
    /// Window zlib-rs compresses with (the agreed one; 8 becomes 9, see the
    /// module documentation).
    bits: u8,
    takeover: bool,
    threshold: usize,
    z: Option<RawDeflate>,
    /// A message is being compressed (pieces of ws_write_part).
    in_message: bool,
    used: bool,
    /// This message's compressor comes from [`POOL`] and goes back at its
    /// end: the first message since an idle release (see there).
    borrowed: bool,
    pub stats: Arc<Stats>,
}

/// Runs `input` through `z` (ending with a sync flush when `sync`),
/// appending the output to `out`.
fn deflate_into(z: &mut RawDeflate, input: &[u8], sync: bool, out: &mut Vec<u8>) -> Result<(), String> {
    let mut rest = input;
    loop {
        // deflate's worst case (stored blocks) plus the flush markers
        let room = rest.len() + rest.len() / 1000 + 64;
        let at = out.len();
        out.resize(at + room, 0);
        let r = z.compress(rest, &mut out[at..], sync);
        let (consumed, produced) = r.as_ref().map_or((0, 0), |p| (p.consumed, p.produced));
        out.truncate(at + produced);
        rest = &rest[consumed..];
        if let Err(e) = r {
            return Err(format!("compression failed: {e}"));
        }
        // done when all input is in and the output did not fill the room
        if rest.is_empty() && produced < room {
            return Ok(());
        }
    }
}

/// Compressors kept for the next message of any connection with the same
/// settings (so that creating one, a fresh mapping of ~130-380 KiB that
/// zlib-rs zeroes, with its page faults, is not paid per message): used
/// for every message without context takeover, and with takeover for the
/// first message after an idle release (which starts without context
/// anyway); only a connection that sends a second message before the next
/// sweep keeps a compressor of its own. So a connection that sends every
/// few seconds (a tag stream) costs neither a compressor's memory nor its
/// creation per message (at 10,000 such connections the creations cost
/// more CPU than the compressing).
static POOL: Mutex<Vec<(u8, u8, u8, RawDeflate)>> = Mutex::new(Vec::new());
/// At most this many pooled compressors.
const POOL_MAX: usize = 4;

impl Compressor {
    pub fn new(a: &Agreed, stats: Arc<Stats>) -> Compressor {
        Compressor {
            level: a.level,
            mem_level: a.mem_level,
            bits: a.client_max_window_bits.max(9),
            takeover: !a.client_no_context_takeover,
            threshold: a.threshold,
            z: None,
            in_message: false,
            used: false,
            borrowed: false,
            stats,
        }
    }

    /// Whether a whole message of `len` bytes is sent compressed.
    pub fn wants(&self, len: usize) -> bool {
        len >= self.threshold
    }

    fn deflater(&mut self) -> Result<&mut RawDeflate, String> {
        if self.z.is_none() {
            let key = (self.level, self.mem_level, self.bits);
            let pooled = {
                let mut pool = POOL.lock();
                pool.iter().position(|e| (e.0, e.1, e.2) == key).map(|i| pool.swap_remove(i).3)
            };
            self.z = Some(match pooled {
                Some(z) => z,
                None => RawDeflate::new(self.level, self.bits, self.mem_level)?,
            });
        }
        Ok(self.z.as_mut().expect("created above"))
    }

    /// Compresses the next piece of a message, appending the output to
    /// `out`. `end`: the message ends with this piece (the output then loses
    /// the sync flush's four final bytes, RFC 7692 section 7.2.1); `flush`:
    /// everything so far must be decodable when this piece arrives (a piece
    /// of ws_write_part, or the last piece).
    pub fn compress(&mut self, input: &[u8], end: bool, flush: bool, out: &mut Vec<u8>) -> Result<(), String> {
        if !self.in_message {
            self.in_message = true;
            self.borrowed = self.takeover && self.z.is_none() && !self.used;
        }
        self.used = true;
        let start = out.len();
        if let Err(e) = self.deflater().and_then(|z| deflate_into(z, input, flush || end, out)) {
            self.z = None;
            return Err(e);
        }
        if end {
            let n = out.len() - start;
            if n == 0 {
                // a sync flush right after another one writes nothing (zlib
                // refuses a duplicate flush): the message is the empty
                // stored block's header, whose LEN/NLEN the receiver's
                // appended tail provides (RFC 7692 section 7.2.3.6)
                out.push(0x00);
                self.end_message();
                return Ok(());
            }
            if n < 4 || out[out.len() - 4..] != TAIL {
                self.z = None;
                return Err("compression failed: no sync flush marker".into());
            }
            out.truncate(out.len() - 4);
            self.end_message();
        }
        Ok(())
    }

    fn end_message(&mut self) {
        self.in_message = false;
        if !self.takeover || std::mem::take(&mut self.borrowed) {
            if let Some(mut z) = self.z.take() {
                z.reset();
                let mut pool = POOL.lock();
                if pool.len() < POOL_MAX {
                    pool.push((self.level, self.mem_level, self.bits, z));
                }
            }
        }
    }

    /// A message was left half compressed (its write failed): the context
    /// no longer matches what the server received, so it is dropped.
    pub fn abort(&mut self) {
        if self.in_message {
            self.in_message = false;
            self.borrowed = false;
            self.z = None;
        }
    }

    /// Idle check (no message in progress): the compressor is dropped
    /// unless it was used since the last call. The next message starts
    /// without context, which the server's decoder allows.
    pub fn trim(&mut self) {
        if self.in_message || std::mem::take(&mut self.used) {
            return;
        }
        self.z = None;
    }

    /// Whether a compressor is held (for the memory tests).
    pub fn holds_state(&self) -> bool {
        self.z.is_some()
    }
}
