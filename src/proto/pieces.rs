//! Stream mode ("streamReceive") and partial reads of the frame parser
//! ([`Reader`]): handing a message out in pieces as it arrives, and reading
//! large binary payload straight into the caller's buffer (moved out of
//! proto.rs unchanged).
#![deny(unsafe_code)]

use super::{Kind, Piece, Reader, DIRECT_MIN};

impl Reader {
    /// Part of a message has been taken as pieces and the rest has not.
    pub fn mid_message(&self) -> bool {
        self.taken > 0
    }

    /// Payload bytes that can be handed out now: text only up to the last
    /// complete UTF-8 sequence (a split code point waits for its rest).
    pub(super) fn deliverable(&self) -> usize {
        if self.msg_kind == Some(Kind::Text) && self.ready.is_none() {
            self.utf8_ok
        } else {
            self.msg_len
        }
    }

    /// Copies the next piece of the current message into `out` (as much as
    /// fits of what can be handed out) and drops it from the reader. Only
    /// after [`Event::Message`] (any mode) or [`Event::Piece`] (stream mode).
    /// A complete message is finished by the piece that takes its last byte
    /// (a 0-byte message by one 0-byte piece).
    pub fn take_piece(&mut self, out: &mut [u8]) -> Option<Piece> {
        let kind = self.ready.or(self.msg_kind)?;
        let mut n = self.deliverable().min(out.len());
        if kind == Kind::Text && n < self.msg_len {
            // a text piece ends on a code point boundary (each piece is
            // valid UTF-8 on its own); a buffer under 4 bytes may get none
            while n > 0 && self.msg[n] & 0xC0 == 0x80 {
                n -= 1;
            }
        }
        out[..n].copy_from_slice(&self.msg[..n]);
        self.msg.copy_within(n..self.msg_len, 0);
        self.msg_len -= n;
        self.utf8_ok = self.utf8_ok.saturating_sub(n);
        let offset = self.taken;
        let last = self.ready.is_some() && self.msg_len == 0;
        if last {
            self.ready = None;
            self.taken = 0;
        } else {
            self.taken += n as u64;
        }
        Some(Piece { kind, len: n, offset, last })
    }

    /// Stream mode, binary message: how many payload bytes the next read
    /// may put straight into the caller's buffer of `cap` bytes (nothing
    /// of the message held, nothing buffered, a data frame open with at
    /// least DIRECT_MIN bytes to come, not compressed: those bytes go
    /// through the inflater); None: read through the buffers. Saves the copy through `msg` for most of a large message's bytes.
    pub fn direct_piece(&self, cap: usize) -> Option<usize> {
        let ok = self.stream
            && self.frame_open
            && !self.compressed
            && self.msg_kind == Some(Kind::Binary)
            && self.ready.is_none()
            && self.msg_len == 0
            && self.start == self.end
            && self.frame_remaining >= DIRECT_MIN
            && cap >= DIRECT_MIN as usize;
        ok.then(|| self.frame_remaining.min(cap as u64) as usize)
    }

    /// Records `n` payload bytes (at most what [`Reader::direct_piece`]
    /// allowed) read straight into the caller's buffer: the piece they
    /// are, the last one when they end the message.
    pub fn commit_direct(&mut self, n: usize) -> Piece {
        debug_assert!(n as u64 <= self.frame_remaining && self.msg_len == 0);
        self.frame_remaining -= n as u64;
        let offset = self.taken;
        self.taken += n as u64;
        let mut last = false;
        if self.frame_remaining == 0 {
            self.frame_open = false;
            if self.frame_fin {
                self.msg_kind = None;
                self.taken = 0;
                last = true;
            }
        }
        Piece { kind: Kind::Binary, len: n, offset, last }
    }

    /// Where a direct read (see [`Reader::direct_piece`]) may put what
    /// arrived after the caller's buffer is full: the (empty) read buffer.
    /// Commit those bytes with [`Reader::commit_spill`] after
    /// [`Reader::commit_direct`].
    pub fn spill_target(&mut self) -> &mut [u8] {
        debug_assert!(self.start == self.end);
        self.start = 0;
        self.end = 0;
        self.direct = false;
        &mut self.buf[..]
    }

    /// `n` bytes went into [`Reader::spill_target`].
    pub fn commit_spill(&mut self, n: usize) {
        self.end += n;
    }

    /// Bytes the next piece would have, at most.
    pub fn piece_len(&self) -> usize {
        self.deliverable()
    }

    /// The type of the message in progress (or ready).
    pub fn kind_in_progress(&self) -> Kind {
        self.ready.or(self.msg_kind).unwrap_or(Kind::Binary)
    }

    /// Drops what could be taken as a piece now (a closing connection
    /// discards late messages).
    pub fn discard_piece(&mut self) {
        if self.ready.is_some() {
            self.consume_message();
            return;
        }
        let n = self.deliverable();
        self.msg.copy_within(n..self.msg_len, 0);
        self.msg_len -= n;
        self.utf8_ok = self.utf8_ok.saturating_sub(n);
        self.taken += n as u64;
    }

    /// Stream mode: a piece could be taken now.
    pub(super) fn piece_waiting(&self) -> bool {
        self.stream && self.deliverable() > 0
    }
}
