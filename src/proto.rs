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
mod tests {
    use super::*;

    fn frame(b0: u8, payload: &[u8]) -> Vec<u8> {
        let mut v = vec![b0];
        let n = payload.len();
        if n < 126 {
            v.push(n as u8);
        } else if n <= 0xffff {
            v.push(126);
            v.extend_from_slice(&(n as u16).to_be_bytes());
        } else {
            v.push(127);
            v.extend_from_slice(&(n as u64).to_be_bytes());
        }
        v.extend_from_slice(payload);
        v
    }

    type Seen = Vec<(Event, Option<(Kind, Vec<u8>)>)>;

    /// Feeds `bytes` in chunks of `chunk`, collecting events.
    fn run(bytes: &[u8], chunk: usize, max: usize) -> Result<Seen, ProtoError> {
        let mut r = Reader::new(max, &[]);
        let mut out = Vec::new();
        let mut pos = 0;
        loop {
            while let Some(ev) = r.next_event()? {
                let m = r.message().map(|(k, d)| (k, d.to_vec()));
                if m.is_some() {
                    r.consume_message();
                }
                out.push((ev, m));
            }
            if pos == bytes.len() {
                return Ok(out);
            }
            let t = r.read_target();
            let n = t.len().min(chunk).min(bytes.len() - pos);
            t[..n].copy_from_slice(&bytes[pos..pos + n]);
            r.commit(n);
            pos += n;
        }
    }

    #[test]
    fn messages_in_any_chunking() {
        let big: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let mut s = frame(0x81, b"hello");
        s.extend(frame(0x02, &big[..50_000]));
        s.extend(frame(0x89, b"p"));
        s.extend(frame(0x80, &big[50_000..]));
        s.extend(frame(0x01, "h\u{e9}".as_bytes()));
        s.extend(frame(0x80, "llo".as_bytes()));
        s.extend(frame(0x88, &[0x03, 0xe8, b'b', b'y', b'e']));
        for chunk in [1, 2, 3, 7, 100, 5000, 1 << 20] {
            let ev = run(&s, chunk, 1 << 20).unwrap();
            assert_eq!(ev.len(), 5, "chunk {chunk}");
            assert_eq!(ev[0].1, Some((Kind::Text, b"hello".to_vec())));
            assert_eq!(ev[1].0, Event::Ping(b"p".to_vec()));
            // fragments are reassembled and the ping in between does not disturb them
            assert_eq!(ev[2].1, Some((Kind::Binary, big.clone())), "chunk {chunk}");
            assert_eq!(ev[3].1, Some((Kind::Text, "h\u{e9}llo".as_bytes().to_vec())));
            assert_eq!(ev[4].0, Event::Close(Some((1000, "bye".into()))));
        }
    }

    #[test]
    fn violations() {
        let cases: Vec<(Vec<u8>, Code, u16)> = vec![
            (frame(0xC1, b"x"), Code::Compression, 1002),     // rsv1, not negotiated
            (frame(0xA1, b"x"), Code::Protocol, 1002),        // rsv2
            (frame(0x83, b"x"), Code::Protocol, 1002),        // reserved opcode
            (frame(0x8B, b""), Code::Protocol, 1002),         // reserved control
            (frame(0x09, b""), Code::Protocol, 1002),         // fragmented ping
            (frame(0x89, &[0u8; 126]), Code::Protocol, 1002), // long ping
            (frame(0x80, b"x"), Code::Protocol, 1002),        // stray continuation
            ([frame(0x01, b"a"), frame(0x81, b"b")].concat(), Code::Protocol, 1002),
            (frame(0x81, &[0xff]), Code::InvalidUtf8, 1007),
            (frame(0x88, &[0x03]), Code::Protocol, 1002), // 1-byte close
            (frame(0x88, &[0x03, 0xed]), Code::Protocol, 1002), // 1005
            (frame(0x88, &[0x03, 0xe8, 0xff]), Code::InvalidUtf8, 1007),
            (frame(0x82, &[0u8; 200]), Code::MessageTooBig, 1009),
            (vec![0x81, 0x81, 1, 2, 3, 4, 0], Code::Protocol, 1002), // masked
        ];
        for (bytes, code, close) in cases {
            let e = run(&bytes, 1 << 20, 100).unwrap_err();
            assert_eq!((e.code, e.close), (code, close), "{bytes:x?}: {}", e.msg);
        }
    }

    // ---- permessage-deflate ----

    fn agreed(bits: u8, nct: bool) -> crate::deflate::Agreed {
        crate::deflate::Agreed {
            client_max_window_bits: bits,
            server_max_window_bits: bits,
            client_no_context_takeover: nct,
            server_no_context_takeover: nct,
            level: 6,
            mem_level: 8,
            threshold: 0,
        }
    }

    fn deflating(max: usize, bits: u8, nct: bool) -> Reader {
        let mut r = Reader::new(max, &[]);
        let a = agreed(bits, nct);
        r.set_inflater(Some(Box::new(crate::deflate::Inflater::new(&a, Default::default()))));
        r
    }

    /// Feeds `bytes` to `r` in chunks of `chunk`, collecting messages
    /// (control frames as events); the peak of `r.memory()`.
    fn feed(r: &mut Reader, bytes: &[u8], chunk: usize) -> (Result<Seen, ProtoError>, usize) {
        let mut out = Vec::new();
        let (mut pos, mut peak) = (0, 0);
        loop {
            loop {
                match r.next_event() {
                    Ok(Some(ev)) => {
                        let m = r.message().map(|(k, d)| (k, d.to_vec()));
                        if m.is_some() {
                            r.consume_message();
                        }
                        out.push((ev, m));
                    }
                    Ok(None) => break,
                    Err(e) => return (Err(e), peak.max(r.memory())),
                }
            }
            peak = peak.max(r.memory());
            if pos == bytes.len() {
                return (Ok(out), peak);
            }
            let t = r.read_target();
            let n = t.len().min(chunk).min(bytes.len() - pos);
            t[..n].copy_from_slice(&bytes[pos..pos + n]);
            r.commit(n);
            pos += n;
        }
    }

    /// The payload of a compressed message (what a server puts on the wire).
    fn deflated(c: &mut crate::deflate::Compressor, m: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        c.compress(m, true, false, &mut out).unwrap();
        out
    }

    #[test]
    fn compressed_messages_in_any_chunking() {
        let text = "{\"tag\":\"line1.temp\",\"v\":21.5,\"q\":\"good\"} \u{e9}\u{20ac}".repeat(2000);
        let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8 ^ (i >> 12) as u8).collect();
        for nct in [false, true] {
            for bits in [8u8, 9, 15] {
                let mut c = crate::deflate::Compressor::new(&agreed(bits, nct), Default::default());
                let mut s = frame(0xC1, &deflated(&mut c, text.as_bytes()));
                s.extend(frame(0x81, b"plain text on a compressed connection"));
                // one compressed message in three frames, a ping in between
                let z = deflated(&mut c, &big);
                let (a, b) = z.split_at(z.len() / 3);
                s.extend(frame(0x42, a));
                s.extend(frame(0x89, b"p"));
                s.extend(frame(0x00, &b[..b.len() / 2]));
                s.extend(frame(0x80, &b[b.len() / 2..]));
                s.extend(frame(0xC1, &deflated(&mut c, b""))); // empty
                s.extend(frame(0xC2, &deflated(&mut c, &big))); // context takeover: refers back
                for chunk in [1, 7, 1000, 1 << 20] {
                    let mut r = deflating(1 << 20, bits, nct);
                    let (ev, _) = feed(&mut r, &s, chunk);
                    let ev = ev.unwrap_or_else(|e| panic!("bits {bits} nct {nct} chunk {chunk}: {}", e.msg));
                    let msgs: Vec<_> = ev.iter().filter_map(|(_, m)| m.clone()).collect();
                    assert_eq!(msgs.len(), 5, "chunk {chunk}");
                    assert_eq!(msgs[0], (Kind::Text, text.as_bytes().to_vec()));
                    assert_eq!(msgs[1].1, b"plain text on a compressed connection");
                    assert!(msgs[2] == (Kind::Binary, big.clone()), "chunk {chunk}");
                    assert_eq!(msgs[3], (Kind::Text, Vec::new()));
                    assert!(msgs[4] == (Kind::Binary, big.clone()), "chunk {chunk}");
                    assert!(ev.iter().any(|(e, _)| *e == Event::Ping(b"p".to_vec())));
                }
            }
        }
    }

    #[test]
    fn compression_violations() {
        let mut c = crate::deflate::Compressor::new(&agreed(15, false), Default::default());
        let good = deflated(&mut c, b"hello hello hello");
        let mut corrupt = good.clone();
        corrupt[0] ^= 0x06; // BTYPE 11: reserved block type
        let bad_utf8 =
            deflated(&mut crate::deflate::Compressor::new(&agreed(15, false), Default::default()), &[0xff, 0xfe]);
        let cases: Vec<(Vec<u8>, Code, u16, &str)> = vec![
            (frame(0xC1, &corrupt), Code::Compression, 1007, "corrupt compressed data"),
            (frame(0xC1, &[0xff; 40]), Code::Compression, 1007, "corrupt compressed data"),
            ([frame(0x41, &good[..3]), frame(0xC0, &good[3..])].concat(), Code::Compression, 1002, "continuation"),
            (frame(0xC9, b""), Code::Compression, 1002, "control frame"),
            (frame(0xE1, &good), Code::Protocol, 1002, "reserved bits 0x6"),
            (frame(0xC1, &bad_utf8), Code::InvalidUtf8, 1007, "invalid UTF-8"),
        ];
        for (bytes, code, close, needle) in cases {
            let mut r = deflating(1 << 20, 15, false);
            let e = feed(&mut r, &bytes, 1 << 20).0.unwrap_err();
            assert_eq!((e.code, e.close), (code, close), "{}", e.msg);
            assert!(e.msg.contains(needle), "{}", e.msg);
        }
        // a final block (BFINAL) followed by more data in the message
        let mut z = zlib_rs::Deflate::new(6, false, 15);
        let mut w = vec![0u8; 64];
        z.compress(b"abc", &mut w, zlib_rs::DeflateFlush::Finish).unwrap();
        w.truncate(z.total_out() as usize);
        let mut r = deflating(1 << 20, 15, false);
        let e = feed(&mut r, &frame(0xC1, &[&w[..], b"xyz"].concat()), 1 << 20).0.unwrap_err();
        assert!(e.msg.contains("after the final deflate block"), "{}", e.msg);
        let mut r = deflating(1 << 20, 15, false);
        let ev = feed(&mut r, &frame(0xC1, &w), 1 << 20).0.unwrap();
        assert_eq!(ev[0].1, Some((Kind::Text, b"abc".to_vec())));
    }

    #[test]
    fn a_compression_bomb_fails_within_max_plus_one_step() {
        // 64 MiB of zeros deflate to ~64 KiB (1000:1); maxMessageSize 1 MiB
        let mut c = crate::deflate::Compressor::new(&agreed(15, false), Default::default());
        let mut z = Vec::new();
        let zeros = vec![0u8; 1 << 20];
        for i in 0..64 {
            c.compress(&zeros, i == 63, false, &mut z).unwrap();
        }
        assert!(z.len() < 80_000, "{}", z.len());
        let max = 1 << 20;
        for chunk in [100, 1 << 20] {
            let mut r = deflating(max, 15, false);
            let (res, peak) = feed(&mut r, &frame(0xC2, &z), chunk);
            let e = res.unwrap_err();
            assert_eq!((e.code, e.close), (Code::MessageTooBig, 1009), "{}", e.msg);
            assert!(e.msg.contains("after decompression"), "{}", e.msg);
            // the message buffer never exceeds maxMessageSize + 1 byte; the
            // rest is the read buffer and the decompressor
            assert!(peak <= max + 1 + READ_BUF + crate::deflate::INFLATE_STATE + 64 * 1024, "peak {peak}");
        }
        // in stream mode (no limit) the pieces stay within PIECE_CAP
        let mut r = Reader::streaming(0, &[]);
        r.set_inflater(Some(Box::new(crate::deflate::Inflater::new(&agreed(15, false), Default::default()))));
        let bytes = frame(0xC2, &z);
        let (mut pos, mut total, mut peak) = (0, 0u64, 0);
        let mut piece = vec![0u8; 100_000];
        loop {
            match r.next_event().unwrap() {
                Some(Event::Piece) | Some(Event::Message) => {
                    let p = r.take_piece(&mut piece).unwrap();
                    assert!(piece[..p.len].iter().all(|&b| b == 0));
                    total += p.len as u64;
                    if p.last {
                        break;
                    }
                    continue;
                }
                Some(e) => panic!("{e:?}"),
                None => {}
            }
            peak = peak.max(r.memory());
            let t = r.read_target();
            let n = t.len().min(bytes.len() - pos);
            assert!(n > 0);
            t[..n].copy_from_slice(&bytes[pos..pos + n]);
            r.commit(n);
            pos += n;
        }
        assert_eq!(total, 64 << 20);
        assert!(peak <= PIECE_CAP + READ_BUF + crate::deflate::INFLATE_STATE + 64 * 1024, "peak {peak}");
    }

    #[test]
    fn invalid_utf8_fails_before_the_frame_ends() {
        // first bytes of a text frame whose payload is not all here yet
        let mut f = frame(0x81, &[b'a'; 200]);
        f[10] = 0xff;
        let mut r = Reader::new(1 << 20, &[]);
        let t = r.read_target();
        t[..20].copy_from_slice(&f[..20]);
        r.commit(20);
        assert_eq!(r.next_event().unwrap_err().code, Code::InvalidUtf8);
        // an incomplete sequence at the end of what arrived is fine
        let mut f = frame(0x81, "aaa\u{20ac}".as_bytes());
        let mut r = Reader::new(1 << 20, &[]);
        r.read_target()[..6].copy_from_slice(&f[..6]);
        r.commit(6);
        assert_eq!(r.next_event().unwrap(), None);
        let rest = f.split_off(6);
        r.read_target()[..rest.len()].copy_from_slice(&rest);
        r.commit(rest.len());
        assert_eq!(r.next_event().unwrap(), Some(Event::Message));
    }

    #[test]
    fn memory_follows_bytes_received_not_the_announced_length() {
        // a header announcing 60 MiB, then the payload trickles in
        let announced = 60usize << 20;
        let mut h = vec![0x82, 127];
        h.extend_from_slice(&(announced as u64).to_be_bytes());
        let mut r = Reader::new(64 << 20, &h);
        assert_eq!(r.next_event().unwrap(), None);
        let mut received = 0usize;
        let mut peak = 0;
        while received < announced {
            let t = r.read_target();
            assert!(!t.is_empty());
            let n = t.len().min(100_000);
            t[..n].fill(7);
            r.commit(n);
            received += n;
            assert!(r.memory() <= READ_BUF + GROW_CHUNK + 2 * received, "{} bytes held for {received}", r.memory());
            if received < 1 << 20 {
                peak = peak.max(r.memory());
            }
            let ev = r.next_event().unwrap();
            assert_eq!(ev.is_some(), received == announced);
        }
        assert!(peak < 3 << 20, "{peak}");
        assert_eq!(r.message().unwrap().1.len(), announced);
        // a buffer kept from that message takes the next large one in one read
        r.consume_message();
        let mut h = vec![0x82, 127];
        h.extend_from_slice(&(1u64 << 20).to_be_bytes());
        r.read_target()[..10].copy_from_slice(&h);
        r.commit(10);
        assert_eq!(r.next_event().unwrap(), None);
        assert_eq!(r.read_target().len(), 1 << 20);
    }

    #[test]
    fn a_trickling_server_does_not_make_the_buffer_grow_per_read() {
        let mut h = vec![0x82, 127];
        h.extend_from_slice(&(1u64 << 20).to_be_bytes());
        let mut r = Reader::new(64 << 20, &h);
        assert_eq!(r.next_event().unwrap(), None);
        let (mut changes, mut last) = (0, r.memory());
        for _ in 0..300_000 {
            let t = r.read_target();
            t[0] = 1;
            r.commit(1);
            assert_eq!(r.next_event().unwrap(), None);
            if r.memory() != last {
                changes += 1;
                last = r.memory();
            }
        }
        assert!(changes <= 3, "{changes} reallocations for 300000 one-byte reads");
    }

    #[test]
    fn stream_mode_reads_large_binary_payload_straight_into_the_callers_buffer() {
        // a 40 KiB binary fragment, a ping, then a final 20 KiB fragment
        let (a, b): (Vec<u8>, Vec<u8>) = ((0..40_960u32).map(|i| i as u8).collect(), vec![7u8; 20_480]);
        let f1 = frame(0x02, &a);
        let mut r = Reader::streaming(0, &f1[..4 + 100]);
        // the header and 100 bytes arrived through the buffer: a piece
        assert_eq!(r.next_event().unwrap(), Some(Event::Piece));
        assert_eq!(r.direct_piece(65_536), None, "bytes are held: they go first");
        let mut out = vec![0u8; 65_536];
        let p = r.take_piece(&mut out).unwrap();
        assert_eq!((p.len, p.offset, p.last), (100, 0, false));
        // now nothing is held: the rest may go straight to the caller, at
        // most what the frame has left and what the caller's buffer takes
        assert_eq!(r.direct_piece(1000), None, "a small buffer reads through the buffers");
        assert_eq!(r.direct_piece(65_536), Some(40_960 - 100));
        assert_eq!(r.direct_piece(16_384), Some(16_384));
        out[..16_384].copy_from_slice(&a[100..16_484]);
        let p = r.commit_direct(16_384);
        assert_eq!((p.kind, p.len, p.offset, p.last), (Kind::Binary, 16_384, 100, false));
        let rest = 40_960 - 16_484;
        assert_eq!(r.direct_piece(65_536), Some(rest));
        let p = r.commit_direct(rest);
        assert_eq!((p.len, p.offset, p.last), (rest, 16_484, false), "a fragment without FIN");
        assert!(r.mid_message() && r.in_message());
        // between fragments: a ping, then the final fragment's header
        let mut more = frame(0x89, b"hi");
        let f2 = frame(0x80, &b);
        more.extend_from_slice(&f2[..4]);
        r.read_target()[..more.len()].copy_from_slice(&more);
        r.commit(more.len());
        assert_eq!(r.next_event().unwrap(), Some(Event::Ping(b"hi".to_vec())));
        assert_eq!(r.next_event().unwrap(), None);
        assert_eq!(r.direct_piece(65_536), Some(20_480));
        let p = r.commit_direct(20_480);
        assert_eq!((p.len, p.offset, p.last), (20_480, 40_960, true), "FIN: the message ends");
        assert!(!r.mid_message() && !r.in_message());
        assert_eq!(r.direct_piece(65_536), None, "no frame open");
        // text is never read past the UTF-8 check; nor outside stream mode
        let t = frame(0x01, &[b'a'; 20_000]);
        let mut r = Reader::streaming(0, &t[..4]);
        assert_eq!(r.next_event().unwrap(), None);
        assert_eq!(r.direct_piece(65_536), None);
        let mut r = Reader::new(1 << 20, &f1[..4]);
        assert_eq!(r.next_event().unwrap(), None);
        assert_eq!(r.direct_piece(65_536), None);
    }

    #[test]
    fn a_direct_read_spills_what_follows_the_frame_into_the_read_buffer() {
        // one read takes the rest of a fragment into the caller's buffer
        // and the next fragment's header and first bytes into the spill
        let f1 = frame(0x02, &[1u8; 30_000]);
        let f2 = frame(0x80, &[2u8; 500]);
        let mut r = Reader::streaming(0, &f1[..4]);
        assert_eq!(r.next_event().unwrap(), None);
        let room = r.direct_piece(65_536).unwrap();
        assert_eq!(room, 30_000);
        let spill = r.spill_target();
        assert!(spill.len() >= f2.len());
        spill[..f2.len()].copy_from_slice(&f2);
        let p = r.commit_direct(room);
        r.commit_spill(f2.len());
        assert_eq!((p.len, p.offset, p.last), (30_000, 0, false));
        assert_eq!(r.direct_piece(65_536), None, "buffered bytes are parsed first");
        assert_eq!(r.next_event().unwrap(), Some(Event::Message));
        let mut out = vec![0u8; 65_536];
        let p = r.take_piece(&mut out).unwrap();
        assert_eq!((p.len, p.offset, p.last), (500, 30_000, true));
        assert_eq!(&out[..500], &[2u8; 500][..]);
    }

    #[test]
    fn stream_mode_direct_reads_are_not_capped_by_an_early_small_read() {
        // pieces taken as they arrive keep nothing held; the message buffer
        // must still offer the rest of a large frame in one read
        let f = frame(0x02, &vec![3u8; 200_000]);
        let mut r = Reader::streaming(0, &f[..10 + 16_000]);
        assert_eq!(r.next_event().unwrap(), Some(Event::Piece));
        let mut out = vec![0u8; 16_000];
        assert_eq!(r.take_piece(&mut out).unwrap().len, 16_000);
        assert_eq!(r.read_target().len(), 184_000);
        assert!(r.memory() <= READ_BUF + PIECE_CAP);
    }

    #[test]
    fn mask_roundtrip() {
        for n in [0, 1, 5, 8, 13, 1000] {
            let p: Vec<u8> = (0..n).map(|i| i as u8).collect();
            let mut out = Vec::new();
            encode_frame(&mut out, 2, true, &p, [1, 2, 3, 4]);
            let h = out.len() - n;
            let mut body = out[h..].to_vec();
            apply_mask(&mut body, [1, 2, 3, 4]);
            assert_eq!(body, p);
            assert_eq!(out[h - 4..h], [1, 2, 3, 4]);
        }
    }
}
