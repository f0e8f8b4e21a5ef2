//! RFC 6455 framing for the client side, without I/O: the incremental parser
//! of server frames and the encoder of masked client frames.
//!
//! The parser is strict where tungstenite 0.30 is lenient (text is validated as
//! it arrives, so invalid UTF-8 fails fast even inside a frame that is still
//! arriving; a message over the size limit fails on its header), and it owns its
//! buffers so that a reader never zero-fills memory per read and large payloads
//! are read straight into the message buffer.
#![deny(unsafe_code)]

use crate::deflate::Inflater;
use crate::error::Code;
use tungstenite::protocol::frame::coding::{Control, Data, OpCode};

mod inflate;
mod pieces;
mod wire;
use inflate::compression_error;
#[cfg(test)]
use wire::apply_mask;
pub use wire::{close_code_allowed, encode_frame, parse_close};

/// Message types, numbered as the opcodes (and as `WS_TEXT` / `WS_BINARY`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Text = 1,
    Binary = 2,
}

/// A protocol failure caused by the server: the C error code, the close code
/// we send while failing the connection (RFC 6455 section 7.4.1), a message.
#[derive(Clone, Debug)]
pub struct ProtoError {
    pub code: Code,
    pub close: u16,
    pub msg: String,
}

fn violation(msg: impl Into<String>) -> ProtoError {
    ProtoError { code: Code::Protocol, close: 1002, msg: format!("protocol violation by the server: {}", msg.into()) }
}

/// What one parsing step produced.
#[derive(Debug, PartialEq, Eq)]
pub enum Event {
    /// A complete data message is ready: see [`Reader::message`].
    Message,
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    /// The server's close frame: None when it carried no status code.
    Close(Option<(u16, String)>),
    /// Stream mode only: part of a message that is still arriving can be
    /// taken (see [`Reader::take_piece`]).
    Piece,
}

/// Stream mode: at most this many payload bytes are held for the program
/// before the reader stops taking more from its buffer (TCP pushes back).
pub(crate) const PIECE_CAP: usize = 256 * 1024;

/// One piece taken out of a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Piece {
    pub kind: Kind,
    /// Bytes copied.
    pub len: usize,
    /// Bytes of the message before this piece.
    pub offset: u64,
    /// This piece ends the message.
    pub last: bool,
}

/// Payloads at least this large, with nothing else buffered, are read directly
/// into the message buffer instead of through the read buffer.
const DIRECT_MIN: u64 = 8 * 1024;
/// The message buffer grows with the bytes that actually arrived, never with
/// the length a frame header announces: each step at most doubles what is
/// received (and at least this much), so a header announcing 60 MiB costs
/// this much until the server really sends more.
pub(crate) const GROW_CHUNK: usize = 256 * 1024;
/// Size of the read buffer for headers, control frames and small messages.
pub(crate) const READ_BUF: usize = 16 * 1024;

/// The receiving half of a connection's protocol state.
pub struct Reader {
    /// Read buffer; always fully initialised (len == usable size), live bytes
    /// are `buf[start..end]`.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Message being assembled; initialised up to `msg.len()`, holds
    /// `msg_len` bytes of payload. Buffers are swapped, never reallocated per
    /// message, so steady-state reading allocates nothing.
    msg: Vec<u8>,
    msg_len: usize,
    /// Type of the message being assembled (None between messages).
    msg_kind: Option<Kind>,
    /// Type of the complete message waiting in `msg`.
    ready: Option<Kind>,
    /// For text: `msg[..utf8_ok]` is known to be valid UTF-8 up to a char
    /// boundary.
    utf8_ok: usize,
    /// Payload bytes of the current data frame not yet received.
    frame_remaining: u64,
    frame_fin: bool,
    /// A data frame's header was parsed and its payload is not complete.
    frame_open: bool,
    /// The last read went into `msg` rather than `buf`.
    direct: bool,
    /// Largest message in bytes (0 in stream mode: no limit).
    max_message: usize,
    /// Stream mode ("streamReceive"): a message is handed out in pieces as
    /// it arrives and never held whole; `msg` holds at most PIECE_CAP.
    stream: bool,
    /// Bytes of the current message already taken as pieces (`msg[0]` is
    /// at this offset in the message).
    taken: u64,
    /// permessage-deflate, when negotiated: the decompressor.
    inflate: Option<Box<Inflater>>,
    /// The message being assembled is compressed (RSV1 on its first frame):
    /// its payload goes through `inflate`, never straight into `msg`.
    compressed: bool,
    /// Bytes of the 4-byte tail still to be inflated after the last frame.
    tail_left: u8,
    /// The server ended its deflate stream (BFINAL) in this message.
    deflate_ended: bool,
}

impl Reader {
    pub fn new(max_message: usize, leftover: &[u8]) -> Reader {
        let mut buf = vec![0u8; READ_BUF.max(leftover.len())];
        buf[..leftover.len()].copy_from_slice(leftover);
        Reader::new_with_buf(max_message, buf, leftover.len())
    }

    fn new_with_buf(max_message: usize, buf: Vec<u8>, end: usize) -> Reader {
        Reader {
            buf,
            start: 0,
            end,
            msg: Vec::new(),
            msg_len: 0,
            msg_kind: None,
            ready: None,
            utf8_ok: 0,
            frame_remaining: 0,
            frame_fin: false,
            frame_open: false,
            direct: false,
            max_message,
            stream: false,
            taken: 0,
            inflate: None,
            compressed: false,
            tail_left: 0,
            deflate_ended: false,
        }
    }

    /// A reader with no buffers, for a socket number that has no connection
    /// yet (allocates nothing; replaced when a connection attaches).
    pub fn placeholder(max_message: usize) -> Reader {
        Reader::new_with_buf(max_message, Vec::new(), 0)
    }

    /// permessage-deflate was negotiated: RSV1 marks compressed messages.
    pub fn set_inflater(&mut self, inflate: Option<Box<Inflater>>) {
        self.inflate = inflate;
    }

    /// A reader in stream mode (see `stream`); `max_message` 0: no limit.
    pub fn streaming(max_message: usize, leftover: &[u8]) -> Reader {
        Reader { stream: true, ..Reader::new(max_message, leftover) }
    }

    /// Received bytes not yet parsed.
    pub fn has_input(&self) -> bool {
        self.end > self.start
    }

    /// True while a message is partly received (a timeout keeps it).
    pub fn in_message(&self) -> bool {
        self.msg_kind.is_some()
    }

    /// The complete message, if [`Event::Message`] was returned and the message
    /// has not been taken.
    pub fn message(&self) -> Option<(Kind, &[u8])> {
        self.ready.map(|k| (k, &self.msg[..self.msg_len]))
    }

    /// Marks the ready message consumed (its buffer is reused).
    pub fn consume_message(&mut self) {
        self.ready = None;
        self.msg_len = 0;
        self.taken = 0;
    }

    /// Hands the ready message's buffer to the caller in exchange for `spare`
    /// (whose capacity is reused for the next message). Returns the length.
    pub fn swap_message(&mut self, spare: &mut Vec<u8>) -> usize {
        let n = self.msg_len;
        std::mem::swap(&mut self.msg, spare);
        self.ready = None;
        self.msg_len = 0;
        self.taken = 0;
        n
    }

    /// Where the next read should put its bytes. Call [`Reader::commit`] with
    /// the count read.
    pub fn read_target(&mut self) -> &mut [u8] {
        let room = if self.stream { PIECE_CAP.saturating_sub(self.msg_len) } else { usize::MAX };
        if self.frame_remaining >= DIRECT_MIN
            && self.start == self.end
            && room >= DIRECT_MIN as usize
            && !self.compressed
        {
            // what the frame still announces, but never more than the message
            // so far (or one chunk) ahead of the bytes received (in stream
            // mode, never more than PIECE_CAP held)
            let rest = (self.frame_remaining.min(usize::MAX as u64) as usize).min(room);
            let step = rest.min(self.msg_len.max(GROW_CHUNK));
            let want = self.msg_len + step;
            // grow only when the room left is small (once per doubling, not
            // on every read of a trickling server); in stream mode also when
            // the buffer is below what this read may take (at most
            // PIECE_CAP): pieces taken as they arrive keep msg_len near 0,
            // and a buffer sized by an early small read would cap every
            // later read at that size (16 KiB reads for 64 KiB frames)
            let small = self.msg.len() - self.msg_len < rest.min(DIRECT_MIN as usize);
            if small || (self.stream && self.msg.len() < want) {
                self.msg.reserve_exact(want - self.msg.len());
                self.msg.resize(want, 0);
            }
            // a buffer kept from an earlier message may take more at once
            let end = self.msg.len().min(self.msg_len + rest);
            self.direct = true;
            return &mut self.msg[self.msg_len..end];
        }
        self.direct = false;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.start > 0 && self.buf.len() - self.end < READ_BUF / 4 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            // A frame header plus a small frame never exceed READ_BUF after
            // compaction; this only happens with a large leftover (or a
            // placeholder reader, which has no buffer yet).
            let n = (self.buf.len() * 2).max(READ_BUF);
            self.buf.resize(n, 0);
        }
        &mut self.buf[self.end..]
    }

    pub fn commit(&mut self, n: usize) {
        if self.direct {
            self.msg_len += n;
            self.frame_remaining -= n as u64;
        } else {
            self.end += n;
        }
    }

    /// Shrinks buffers grown by large messages; called when idle.
    pub fn trim(&mut self) {
        if self.ready.is_none() && self.msg_kind.is_none() && self.msg.capacity() > READ_BUF {
            self.msg = Vec::new();
        }
        if self.start == self.end && self.buf.len() > READ_BUF {
            self.buf = vec![0u8; READ_BUF];
            self.start = 0;
            self.end = 0;
        }
        if self.ready.is_none() && self.msg_kind.is_none() {
            if let Some(z) = &mut self.inflate {
                z.trim();
            }
        }
    }

    /// Bytes the decompressor holds (its state when live, the history kept
    /// for context takeover), for the memory tests; 0 without deflate.
    pub fn inflater_memory(&self) -> usize {
        self.inflate.as_ref().map_or(0, |z| z.memory())
    }

    /// Bytes held by the buffers (capacity), for the fuzz targets' memory
    /// bound: it follows the bytes received, not the lengths announced.
    pub fn memory(&self) -> usize {
        self.buf.capacity() + self.msg.capacity() + self.inflate.as_ref().map_or(0, |z| z.memory())
    }

    #[inline]
    fn append(&mut self, from_buf: usize) {
        let need = self.msg_len + from_buf;
        if self.msg.len() < need {
            // amortised growth, bounded by twice what was received (and by
            // PIECE_CAP in stream mode)
            let limit = if self.stream { PIECE_CAP } else { self.max_message };
            let to = need.max(self.msg_len * 2).min(need.max(limit));
            self.msg.reserve_exact(to - self.msg.len());
            self.msg.resize(to, 0);
        }
        self.msg[self.msg_len..need].copy_from_slice(&self.buf[self.start..self.start + from_buf]);
        self.msg_len = need;
        self.start += from_buf;
    }

    /// Validates the text received so far; fails fast on a sequence that can
    /// never become valid, tolerates an incomplete one at the end.
    fn check_utf8(&mut self, complete: bool) -> Result<(), ProtoError> {
        if self.msg_kind != Some(Kind::Text) {
            return Ok(());
        }
        match std::str::from_utf8(&self.msg[self.utf8_ok..self.msg_len]) {
            Ok(_) => self.utf8_ok = self.msg_len,
            Err(e) => {
                if e.error_len().is_some() || complete {
                    return Err(ProtoError {
                        code: Code::InvalidUtf8,
                        close: 1007,
                        msg: format!(
                            "invalid UTF-8 in a text message from the server (at byte {})",
                            self.utf8_ok + e.valid_up_to()
                        ),
                    });
                }
                self.utf8_ok += e.valid_up_to();
            }
        }
        Ok(())
    }

    #[inline]
    fn finish_frame(&mut self) -> Result<Option<Event>, ProtoError> {
        if !self.frame_fin {
            self.check_utf8(false)?;
            return Ok(if self.piece_waiting() { Some(Event::Piece) } else { None });
        }
        self.check_utf8(true)?;
        self.ready = self.msg_kind.take();
        Ok(Some(Event::Message))
    }

    /// Parses what is buffered. Ok(None): more bytes are needed. A ready
    /// message must be consumed before the next call. In stream mode,
    /// [`Event::Piece`] says that part of the message in progress can be
    /// taken; the reader takes no more payload than PIECE_CAP until it is.
    #[inline]
    pub fn next_event(&mut self) -> Result<Option<Event>, ProtoError> {
        if !self.stream {
            return self.next_event_inner();
        }
        match self.next_event_inner()? {
            None if self.piece_waiting() => Ok(Some(Event::Piece)),
            r => Ok(r),
        }
    }

    /// Long on purpose: one pass over the frame header in wire order (RFC
    /// 6455 section 5.2: opcode and flags, length, then the checks of
    /// sections 5.4/5.5), kept in one function so that the hot path stays
    /// one inlined loop (measured: the split version costs instructions per
    /// message).
    #[inline]
    fn next_event_inner(&mut self) -> Result<Option<Event>, ProtoError> {
        if self.ready.is_some() {
            return Ok(Some(Event::Message));
        }
        loop {
            if self.frame_open && self.compressed {
                if !self.inflate_frame()? {
                    return Ok(if self.piece_waiting() { Some(Event::Piece) } else { None });
                }
                self.frame_open = false;
                if self.frame_fin {
                    if let Some(z) = &mut self.inflate {
                        z.end_message();
                    }
                }
                match self.finish_frame()? {
                    Some(ev) => return Ok(Some(ev)),
                    None => continue,
                }
            }
            if self.frame_open {
                let mut take = (self.frame_remaining.min((self.end - self.start) as u64)) as usize;
                if self.stream {
                    take = take.min(PIECE_CAP.saturating_sub(self.msg_len));
                }
                if take > 0 {
                    self.append(take);
                    self.frame_remaining -= take as u64;
                }
                if self.frame_remaining > 0 {
                    self.check_utf8(false)?;
                    return Ok(if self.piece_waiting() { Some(Event::Piece) } else { None });
                }
                self.frame_open = false;
                match self.finish_frame()? {
                    Some(ev) => return Ok(Some(ev)),
                    None => continue,
                }
            }
            let avail = &self.buf[self.start..self.end];
            if avail.len() < 2 {
                return Ok(None);
            }
            let (b0, b1) = (avail[0], avail[1]);
            let (ext, len7) = match b1 & 0x7f {
                126 => (2usize, None),
                127 => (8usize, None),
                n => (0usize, Some(n as u64)),
            };
            let masked = b1 & 0x80 != 0;
            let hlen = 2 + ext + if masked { 4 } else { 0 };
            if avail.len() < hlen {
                return Ok(None);
            }
            let len = match len7 {
                Some(n) => n,
                None if ext == 2 => u16::from_be_bytes([avail[2], avail[3]]) as u64,
                None => {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(&avail[2..10]);
                    let n = u64::from_be_bytes(b);
                    if n >> 63 != 0 {
                        return Err(violation("frame length with the most significant bit set"));
                    }
                    n
                }
            };
            let fin = b0 & 0x80 != 0;
            let rsv1 = b0 & 0x40 != 0;
            if b0 & 0x30 != 0 || (rsv1 && self.inflate.is_none()) {
                if b0 & 0x30 == 0 {
                    return Err(compression_error(
                        1002,
                        "a compressed message (RSV1 set) but permessage-deflate was not negotiated",
                    ));
                }
                let why = if self.inflate.is_some() {
                    "(permessage-deflate defines only RSV1)"
                } else {
                    "(no extension was negotiated)"
                };
                return Err(violation(format!("reserved bits {:#x} set in a frame header {why}", (b0 & 0x70) >> 4)));
            }
            if masked {
                return Err(violation("masked frame (servers must not mask)"));
            }
            match OpCode::from(b0 & 0x0f) {
                OpCode::Control(c) => {
                    if let Control::Reserved(op) = c {
                        return Err(violation(format!("reserved control opcode {op:#x}")));
                    }
                    if rsv1 {
                        return Err(compression_error(1002, "RSV1 set on a control frame (never compressed)"));
                    }
                    if !fin {
                        return Err(violation("fragmented control frame"));
                    }
                    if len > 125 {
                        return Err(violation(format!("control frame with a {len}-byte payload (max 125)")));
                    }
                    let total = hlen + len as usize;
                    if avail.len() < total {
                        return Ok(None);
                    }
                    let payload = avail[hlen..total].to_vec();
                    self.start += total;
                    return Ok(Some(match c {
                        Control::Ping => Event::Ping(payload),
                        Control::Pong => Event::Pong(payload),
                        _ => Event::Close(parse_close(&payload)?),
                    }));
                }
                OpCode::Data(d) => {
                    match d {
                        Data::Reserved(op) => return Err(violation(format!("reserved data opcode {op:#x}"))),
                        Data::Continue => {
                            if self.msg_kind.is_none() {
                                return Err(violation("continuation frame without a message in progress"));
                            }
                            if rsv1 {
                                return Err(compression_error(
                                    1002,
                                    "RSV1 set on a continuation frame (only a message's first frame carries it)",
                                ));
                            }
                            if self.deflate_ended && len > 0 {
                                return Err(compression_error(1007, "data after the final deflate block of a message"));
                            }
                        }
                        Data::Text | Data::Binary => {
                            if self.msg_kind.is_some() {
                                return Err(violation("new data frame while a fragmented message is in progress"));
                            }
                            self.msg_kind = Some(if d == Data::Text { Kind::Text } else { Kind::Binary });
                            self.msg_len = 0;
                            self.utf8_ok = 0;
                            self.taken = 0;
                            self.compressed = rsv1;
                            self.tail_left = if rsv1 { 4 } else { 0 };
                            self.deflate_ended = false;
                        }
                    }
                    if let Some(z) = &self.inflate {
                        z.count_wire(len);
                    }
                    // compressed: the limit applies to the inflated bytes
                    let total = self.taken.saturating_add(self.msg_len as u64).saturating_add(len);
                    if self.max_message > 0 && total > self.max_message as u64 && !self.compressed {
                        return Err(ProtoError {
                            code: Code::MessageTooBig,
                            close: 1009,
                            msg: format!(
                                "message too big: {total} bytes or more from the server, maxMessageSize is {}",
                                self.max_message
                            ),
                        });
                    }
                    self.start += hlen;
                    self.frame_remaining = len;
                    self.frame_fin = fin;
                    self.frame_open = true;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
