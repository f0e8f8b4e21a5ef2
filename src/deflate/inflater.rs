//! permessage-deflate, receiving: the [`Inflater`] the frame reader feeds
//! compressed payload through in bounded steps, and the window bytes
//! context takeover obliges it to keep (moved out of deflate.rs unchanged;
//! the design notes are at the top of deflate.rs).
#![deny(unsafe_code)]

use super::zstream::RawInflate;
use super::{bump, Agreed, Stats};
use parking_lot::Mutex;
use std::sync::Arc;

/// The bytes a decoder with context takeover must remember: the last `cap`
/// bytes of output. Grows with the bytes actually received (a connection
/// of small messages keeps only those), up to `cap`, then wraps.
#[derive(Debug, Default)]
pub(super) struct History {
    pub(super) buf: Vec<u8>,
    /// Once full: the oldest byte is at `pos`.
    pub(super) pos: usize,
    pub(super) cap: usize,
}

impl History {
    pub(super) fn push(&mut self, mut d: &[u8]) {
        if d.len() >= self.cap {
            self.buf.clear();
            self.buf.reserve_exact(self.cap);
            self.buf.extend_from_slice(&d[d.len() - self.cap..]);
            self.pos = 0;
            return;
        }
        if self.buf.len() < self.cap {
            let n = (self.cap - self.buf.len()).min(d.len());
            if self.buf.capacity() < self.buf.len() + n {
                let want = (self.buf.len() + n).max(self.buf.len() * 2).min(self.cap);
                self.buf.reserve_exact(want - self.buf.len());
            }
            self.buf.extend_from_slice(&d[..n]);
            d = &d[n..];
        }
        while !d.is_empty() {
            let n = (self.cap - self.pos).min(d.len());
            self.buf[self.pos..self.pos + n].copy_from_slice(&d[..n]);
            self.pos = (self.pos + n) % self.cap;
            d = &d[n..];
        }
    }

    /// The remembered bytes, oldest first.
    pub(super) fn contiguous(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.buf.len());
        v.extend_from_slice(&self.buf[self.pos..]);
        v.extend_from_slice(&self.buf[..self.pos]);
        v
    }
}

/// What one [`Inflater::step`] did.
#[derive(Debug, PartialEq, Eq)]
pub struct Step {
    pub consumed: usize,
    pub produced: usize,
    /// The server ended its deflate stream (a block with BFINAL set):
    /// whatever follows in this message is not deflate data.
    pub ended: bool,
    /// The step filled its output (at most one window): more may follow
    /// without more input.
    pub full: bool,
}

/// A [`Inflater::step`] that met data that does not inflate.
#[derive(Debug, PartialEq, Eq)]
pub struct StepError {
    /// Bytes written to the output before the bad data.
    pub produced: usize,
    pub why: String,
}

/// The receiving side's decompressor for one connection.
pub struct Inflater {
    /// Window flate2 decodes with (the agreed server window, 8 read as 9).
    bits: u8,
    /// The agreed server_max_window_bits (for messages).
    agreed_bits: u8,
    /// Context takeover by the server: history carries over between messages.
    takeover: bool,
    pub(super) z: Option<RawInflate>,
    /// The decoder must be primed with `hist` before its next input (it was
    /// released while idle, or the server ended its stream).
    stale: bool,
    hist: History,
    /// Used since the last idle check.
    used: bool,
    /// A message is being inflated.
    in_message: bool,
    /// This message's decoder comes from [`DECODERS`] and goes back at its
    /// end (see there).
    borrowed: bool,
    stats: Arc<Stats>,
}

/// Decoders kept for the next message of any connection with the same
/// window. A connection whose decoder was released as idle inflates its
/// next message with one of these (primed from its history, which it keeps
/// anyway) and gives it back at the message's end; only a connection that
/// receives a second message before the next sweep keeps a decoder of its
/// own. So a connection that hears from its server every few seconds (a
/// tag stream) neither keeps a decoder nor maps and faults in a new one for
/// every message: creating one is a fresh mapping of ~47 KiB (zstream.rs)
/// plus its page faults, which at thousands of such connections cost more
/// CPU than the inflating.
static DECODERS: Mutex<Vec<(u8, RawInflate)>> = Mutex::new(Vec::new());
/// At most this many pooled decoders.
const DECODERS_MAX: usize = 4;

impl Inflater {
    pub fn new(a: &Agreed, stats: Arc<Stats>) -> Inflater {
        // the history is the decoder's whole window (512 bytes for an
        // agreed 8, read with 9), so that a decoder primed from it after an
        // idle release resolves exactly what the live one would have
        let bits = a.server_max_window_bits.max(9);
        let cap = 1usize << bits;
        Inflater {
            bits,
            agreed_bits: a.server_max_window_bits,
            takeover: !a.server_no_context_takeover,
            z: None,
            stale: false,
            hist: History { buf: Vec::new(), pos: 0, cap },
            used: false,
            in_message: false,
            borrowed: false,
            stats,
        }
    }

    /// The most one [`Inflater::step`] produces: the decoder's window.
    pub fn step_size(&self) -> usize {
        1 << self.bits
    }

    /// Counts data payload bytes received (compressed or not).
    pub fn count_wire(&self, n: u64) {
        bump(&self.stats.wire_in, n);
    }

    fn decoder(&mut self) -> Result<&mut RawInflate, String> {
        if self.z.is_none() || self.stale {
            let mut z = match self.z.take() {
                Some(mut z) => {
                    z.reset();
                    z
                }
                None => {
                    let pooled = {
                        let mut pool = DECODERS.lock();
                        pool.iter().position(|e| e.0 == self.bits).map(|i| pool.swap_remove(i).1)
                    };
                    match pooled {
                        Some(z) => z,
                        None => RawInflate::new(self.bits)?,
                    }
                }
            };
            if self.takeover && !self.hist.buf.is_empty() {
                z.set_dictionary(&self.hist.contiguous())
                    .map_err(|e| format!("restoring the compression context failed: {e}"))?;
            }
            self.z = Some(z);
            self.stale = false;
        }
        Ok(self.z.as_mut().expect("created above"))
    }

    /// Inflates from `input` into `out`, at most [`Inflater::step_size`]
    /// bytes per call: zlib checks a back-reference against the window only
    /// where it reaches before the current call's output, so with one-window
    /// steps every stream that needs more than twice the agreed window
    /// fails (see the module documentation). Never produces more than
    /// `out.len()` bytes (the caller bounds every step). Whether a
    /// reference between one and two windows back resolves depends on
    /// where the calls begin and end, so the caller makes those depend on
    /// the server's bytes only (`proto::Reader::inflate_frame`). On corrupt
    /// data the error says how many bytes the step wrote to `out` before it
    /// (the caller checks them as it would any other, so that which failure
    /// is reported does not depend on how the input was split into steps).
    pub fn step(&mut self, input: &[u8], out: &mut [u8]) -> Result<Step, StepError> {
        if !self.in_message {
            self.in_message = true;
            // the first message since an idle release: a pooled decoder
            self.borrowed = self.z.is_none() && !self.used;
        }
        self.used = true;
        let n = out.len().min(1 << self.bits);
        let out = &mut out[..n];
        let z = self.decoder().map_err(|why| StepError { produced: 0, why })?;
        let (p, r) = z.decompress(input, out);
        let (consumed, produced) = (p.consumed, p.produced);
        if let Err(what) = r {
            // the decoder is unusable now; a later message (after the
            // connection failed) would need a fresh one anyway
            self.z = None;
            self.borrowed = false;
            let why = match what.as_str() {
                "invalid distance too far back" => format!(
                    "{what}: the stream needs a larger window than the agreed server_max_window_bits={}",
                    self.agreed_bits
                ),
                _ => what,
            };
            return Err(StepError { produced, why });
        }
        if self.takeover {
            self.hist.push(&out[..produced]);
        }
        let ended = p.ended;
        if ended {
            self.stale = true;
        }
        Ok(Step { consumed, produced, ended, full: produced == n && n > 0 })
    }

    /// The end of a compressed message.
    pub fn end_message(&mut self) {
        self.in_message = false;
        if std::mem::take(&mut self.borrowed) {
            // the history holds what takeover needs; the decoder goes back
            if let Some(mut z) = self.z.take() {
                z.reset();
                let mut pool = DECODERS.lock();
                if pool.len() < DECODERS_MAX {
                    pool.push((self.bits, z));
                }
            }
            self.stale = false;
            return;
        }
        if !self.takeover {
            // no context carries over: start the next message afresh
            self.stale = self.z.is_some();
        }
    }

    /// Called while no message is in progress and the connection has been
    /// idle: the decoder is released (what context takeover needs stays in
    /// the history) unless it was used since the last call.
    pub fn trim(&mut self) {
        if std::mem::take(&mut self.used) {
            return;
        }
        if self.z.take().is_some() {
            self.stale = false;
        }
    }

    /// Bytes this decoder holds (its zlib-rs state when live, the history),
    /// for the memory tests.
    pub fn memory(&self) -> usize {
        self.hist.buf.capacity() + if self.z.is_some() { INFLATE_STATE } else { 0 }
    }
}

/// Size of a zlib-rs decompressor (measured: 47552 bytes on x86_64 for
/// every window size).
pub(crate) const INFLATE_STATE: usize = 47_552;
