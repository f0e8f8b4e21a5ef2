//! permessage-deflate in the frame parser ([`Reader`]): the payload of a
//! compressed message goes through the connection's [`Inflater`] in bounded
//! steps, maxMessageSize checked on the inflated bytes (moved out of
//! proto.rs unchanged).
#![deny(unsafe_code)]

use super::{ProtoError, Reader, PIECE_CAP};
use crate::deflate::TAIL;
use crate::error::Code;

/// Inflated bytes: the message buffer starts at this much and doubles, and
/// never exceeds maxMessageSize + 1 (one byte over says "too big").
const INFLATE_STEP: usize = 16 * 1024;

/// Compressed input goes to the inflater in pieces that end where the
/// frame's remaining length is a multiple of this (or at the frame's end),
/// never where a read happened to end: see [`Reader::inflate_frame`].
const IN_CHUNK: u64 = 4096;

/// How much of a compressed frame with `remaining` payload bytes the next
/// inflate step takes: up to the next chunk boundary.
fn chunk_input(remaining: u64) -> u64 {
    match remaining % IN_CHUNK {
        0 => remaining.min(IN_CHUNK),
        r => r,
    }
}

/// A permessage-deflate failure: RSV1 where it must not be (1002) or data
/// that does not inflate (1007, RFC 7692 section 8 via RFC 6455 7.4.1).
pub(super) fn compression_error(close: u16, msg: impl Into<String>) -> ProtoError {
    ProtoError { code: Code::Compression, close, msg: format!("permessage-deflate: {}", msg.into()) }
}

impl Reader {
    /// Checks the inflated bytes so far: UTF-8 of a text message first, then
    /// maxMessageSize (the room never lets more than maxMessageSize + 1
    /// bytes in, so the first check sees the same bytes whatever the steps
    /// were).
    fn check_inflated(&mut self) -> Result<(), ProtoError> {
        self.check_utf8(false)?;
        if self.max_message > 0 && self.taken + self.msg_len as u64 > self.max_message as u64 {
            return Err(ProtoError {
                code: Code::MessageTooBig,
                close: 1009,
                msg: format!(
                    "message too big: more than {} bytes after decompression from the server, maxMessageSize is {}",
                    self.max_message, self.max_message
                ),
            });
        }
        Ok(())
    }

    /// Room for the next inflate step in `msg`: `step` bytes (the
    /// inflater's step size), fewer only where maxMessageSize + 1 (one byte
    /// over says "too big") ends the message; the buffer grows by doubling.
    /// 0: the message is at that limit, or in stream mode the pieces held
    /// leave less than that room under PIECE_CAP and must be taken first.
    /// The room depends on the bytes inflated so far only (not on the
    /// buffer a previous message left, nor on how much of the pieces the
    /// host took), which keeps the inflate steps where the server's bytes
    /// put them.
    pub(super) fn inflate_room(&mut self, step: usize) -> usize {
        let left = if self.max_message > 0 {
            let total = self.taken + self.msg_len as u64;
            (self.max_message as u64 + 1).saturating_sub(total).min(usize::MAX as u64) as usize
        } else {
            usize::MAX
        };
        let want = step.min(left);
        if want == 0 || (self.stream && PIECE_CAP.saturating_sub(self.msg_len) < want) {
            return 0;
        }
        if self.msg.len() - self.msg_len < want {
            let to = (self.msg_len * 2).max(INFLATE_STEP).max(self.msg_len + want);
            let to = if self.stream { to.min(PIECE_CAP) } else { to.min(self.msg_len.saturating_add(left)) };
            self.msg.reserve_exact(to - self.msg.len());
            self.msg.resize(to, 0);
        }
        want
    }

    /// Inflates the current compressed frame's payload (and after the
    /// message's last frame, the tail RFC 7692 section 7.2.2 appends) in
    /// bounded steps, checking maxMessageSize on the inflated bytes as they
    /// come. Ok(true): this frame is done (the last one: the message is
    /// complete); Ok(false): more bytes are needed, or in stream mode the
    /// pieces held must be taken first.
    ///
    /// Every step begins and ends where the server's bytes put it: its
    /// input ends at a chunk boundary of the frame (IN_CHUNK, counted from
    /// the frame's end) or the frame's end, waiting for the bytes up to
    /// there, and its output room is one inflater step (see
    /// [`Reader::inflate_room`]). zlib resolves a back-reference one to two
    /// windows back or not depending on where the calls split the output;
    /// with steps fixed so, the outcome (and every other event) is the same
    /// however the reads split the stream (the frame_reader fuzz target
    /// compares splits).
    pub(super) fn inflate_frame(&mut self) -> Result<bool, ProtoError> {
        enum Src {
            Frame,
            Tail,
            Drain,
        }
        loop {
            let step_size = self.inflate.as_ref().expect("compressed only when negotiated").step_size();
            let room = self.inflate_room(step_size);
            if room == 0 {
                return Ok(false);
            }
            let (src, input): (Src, &[u8]) = if self.frame_remaining > 0 {
                let take = chunk_input(self.frame_remaining) as usize;
                if self.end - self.start < take {
                    return Ok(false);
                }
                (Src::Frame, &self.buf[self.start..self.start + take])
            } else if self.frame_fin && self.tail_left > 0 && !self.deflate_ended {
                (Src::Tail, &TAIL[4 - self.tail_left as usize..])
            } else if self.deflate_ended {
                return Ok(true);
            } else {
                (Src::Drain, &[])
            };
            let z = self.inflate.as_mut().expect("compressed only when negotiated");
            let out = &mut self.msg[self.msg_len..self.msg_len + room];
            let step = match z.step(input, out) {
                Ok(step) => step,
                Err(e) => {
                    // what inflated before the bad data is checked first, so
                    // that the failure reported does not depend on how the
                    // server's bytes were split into reads
                    self.msg_len += e.produced;
                    self.check_inflated()?;
                    return Err(compression_error(
                        1007,
                        format!("corrupt compressed data from the server ({})", e.why),
                    ));
                }
            };
            let left = input.len() - step.consumed;
            match src {
                Src::Frame => {
                    self.start += step.consumed;
                    self.frame_remaining -= step.consumed as u64;
                }
                Src::Tail => self.tail_left -= step.consumed as u8,
                Src::Drain => {}
            }
            self.msg_len += step.produced;
            self.check_inflated()?;
            if step.ended {
                // a final block (RFC 7692 section 7.2.3.3): nothing may follow
                if matches!(src, Src::Frame) && (left > 0 || self.frame_remaining > 0) {
                    return Err(compression_error(1007, "data after the final deflate block of a message"));
                }
                self.deflate_ended = true;
                self.tail_left = 0;
            }
            if step.full {
                continue; // the output filled: there may be more
            }
            match src {
                Src::Frame | Src::Tail if left > 0 && !step.ended => {
                    return Err(compression_error(1007, "corrupt compressed data from the server (no progress)"));
                }
                Src::Frame | Src::Tail => {}
                Src::Drain => return Ok(true),
            }
        }
    }
}
