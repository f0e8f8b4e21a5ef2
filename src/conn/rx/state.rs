//! The receiving state of a socket number ([`Rx`]): what outlives its
//! connections (the lent message, the read-ahead list, the recorded ends)
//! and the read requests and results that pass through it. How a
//! connection feeds it is in the parent module.
#![deny(unsafe_code)]

use crate::error::{Code, Error, Result};
use crate::proto::{Kind, Piece, Reader};
use std::collections::VecDeque;
use std::time::Instant;

/// Why a connection's receiving side has ended.
#[derive(Clone)]
pub enum End {
    Closed,
    Failed(Error),
}

impl End {
    /// What a read returns for it: WS_CLOSED, or the error.
    pub fn into_result<T>(self, closed: T) -> Result<T> {
        match self {
            End::Closed => Ok(closed),
            End::Failed(e) => Err(e),
        }
    }
}

pub(in crate::conn) enum Item {
    Msg(Kind, Vec<u8>, usize),
    /// The end of an earlier connection, announced once, in order.
    End(End),
}

/// SO_RCVTIMEO armed at `armed` with the time left until `deadline`.
pub(in crate::conn) struct RcvTimeo {
    pub(in crate::conn) deadline: Instant,
    pub(in crate::conn) armed: Instant,
}

/// The receiving state of one socket number.
pub struct Rx {
    /// Token of the connection whose bytes `reader` parses (0: none yet).
    pub(in crate::conn) conn: u64,
    pub(in crate::conn) reader: Reader,
    /// The end of connection `conn`, once known.
    pub(in crate::conn) end: Option<End>,
    /// A reader has been given `end` (a reconnect then does not repeat it).
    pub(in crate::conn) end_told: bool,
    /// In order: messages read ahead, ends of earlier connections.
    pub(in crate::conn) items: VecDeque<Item>,
    pub(in crate::conn) item_bytes: usize,
    /// Bytes of the first read-ahead message already taken as pieces.
    pub(in crate::conn) item_taken: usize,
    /// The message lent to the caller of `ws_read`, valid until the next
    /// read on this socket number or its close.
    pub(in crate::conn) lent: Vec<u8>,
    /// SO_RCVTIMEO is set for a deadline (closing handshake, plain TCP).
    pub(in crate::conn) rcvtimeo: Option<RcvTimeo>,
    pub(in crate::conn) max_message: usize,
    /// "streamReceive": messages are read in pieces as they arrive.
    pub(in crate::conn) stream: bool,
}

/// What a reader asks for.
pub enum Want<'a> {
    /// `ws_read`: lend the message.
    Lend,
    /// `ws_read_into`: copy it into this buffer, or report its size.
    Copy(&'a mut [u8]),
    /// `ws_read_part`: the next piece of the message, at most this buffer.
    Part(&'a mut [u8]),
}

/// What a reader gets.
pub enum Got {
    Lent(Kind, *const u8, usize),
    Copied(Kind, usize),
    TooSmall(usize),
    Part(Piece),
    Closed,
}

/// What parsing the buffered bytes gave.
pub(in crate::conn) enum Parsed {
    /// A complete message is in the parser.
    Message(Kind),
    /// Stream mode: part of a message can be taken.
    Piece(Kind),
    /// The connection has ended (see `Rx::end`).
    End,
    /// More bytes are needed.
    More,
}

/// A whole-message read while a message is being read in pieces.
pub(in crate::conn) fn unfinished() -> Error {
    Error::new(
        Code::MessageUnfinished,
        "a message is being read in pieces: read the rest with ws_read_part() first".to_string(),
    )
}

/// The outcome of a read on one connection.
pub enum Next {
    Got(Got),
    /// The connection has ended; `first`: this reader is the first to learn.
    End(End, bool),
    /// The connection is no longer the socket's current one.
    Stale,
}

impl Rx {
    pub fn new(max_message: usize, stream: bool) -> Rx {
        Rx {
            conn: 0,
            reader: Reader::placeholder(max_message),
            end: None,
            end_told: false,
            items: VecDeque::new(),
            item_bytes: 0,
            item_taken: 0,
            lent: Vec::new(),
            rcvtimeo: None,
            max_message,
            stream,
        }
    }

    pub fn conn(&self) -> u64 {
        self.conn
    }

    /// Makes connection `token` the one this socket number reads. What the
    /// previous connection left (a kept message) stays readable first; its
    /// end is announced to readers first when `announce` (an automatic
    /// reconnect) and no reader has seen it yet.
    pub fn attach(&mut self, token: u64, leftover: &[u8], announce: bool) {
        if self.conn != 0 {
            self.keep_ready_message();
            if let Some(end) = self.end.take() {
                if announce && !self.end_told {
                    self.items.push_back(Item::End(end));
                }
            }
        }
        self.conn = token;
        self.reader = if self.stream {
            Reader::streaming(self.max_message, leftover)
        } else {
            Reader::new(self.max_message, leftover)
        };
        self.end = None;
        self.end_told = false;
        self.rcvtimeo = None;
    }

    /// permessage-deflate for the connection just attached (`Conn::inflater`).
    pub fn set_inflater(&mut self, z: Option<Box<crate::deflate::Inflater>>) {
        self.reader.set_inflater(z);
    }

    /// Moves a complete message still in the parser (kept by a too-small
    /// ws_read_into) to the read-ahead list.
    pub(in crate::conn) fn keep_ready_message(&mut self) {
        if let Some((kind, _)) = self.reader.message() {
            let mut buf = Vec::new();
            let n = self.reader.swap_message(&mut buf);
            self.item_bytes += n;
            self.items.push_back(Item::Msg(kind, buf, n));
        }
    }

    /// Connection `token` was replaced at the program's request
    /// (ws_reconnect): its end is not announced to later readers.
    pub fn silence_end(&mut self, token: u64) {
        if self.conn == token {
            self.end_told = true;
        }
    }

    /// The end of the current connection, if no reader has been told yet.
    pub fn take_untold_end(&mut self) -> Option<End> {
        if self.end_told {
            return None;
        }
        let e = self.end.clone()?;
        self.end_told = true;
        Some(e)
    }

    /// A socket with "streamReceive" is read in pieces only.
    #[inline]
    pub fn check_want(&self, want: &Want<'_>, id: i32) -> Result<()> {
        if self.stream && !matches!(want, Want::Part(_)) {
            return Err(Error::arg(format!(
                "socket {id} receives messages in pieces (\"streamReceive\"): use ws_read_part()"
            )));
        }
        Ok(())
    }

    /// Serves the read from the read-ahead list, if it has anything.
    #[inline]
    pub fn take_item(&mut self, want: &mut Want<'_>) -> Option<Result<Got>> {
        if self.items.is_empty() {
            return None;
        }
        self.take_item_slow(want)
    }

    #[inline(never)]
    fn take_item_slow(&mut self, want: &mut Want<'_>) -> Option<Result<Got>> {
        match self.items.front()? {
            Item::End(_) => {
                let Some(Item::End(e)) = self.items.pop_front() else { unreachable!() };
                Some(e.into_result(Got::Closed))
            }
            Item::Msg(kind, m, n) => {
                let (kind, n) = (*kind, *n);
                match want {
                    Want::Part(buf) => {
                        // a piece of a message read ahead whole
                        let from = self.item_taken;
                        let mut k = (n - from).min(buf.len());
                        if kind == Kind::Text && from + k < n {
                            // text pieces end on a code point boundary
                            while k > 0 && m[from + k] & 0xC0 == 0x80 {
                                k -= 1;
                            }
                        }
                        buf[..k].copy_from_slice(&m[from..from + k]);
                        let last = from + k == n;
                        if last {
                            self.items.pop_front();
                            self.item_bytes -= n;
                            self.item_taken = 0;
                        } else {
                            self.item_taken += k;
                        }
                        return Some(Ok(Got::Part(Piece { kind, len: k, offset: from as u64, last })));
                    }
                    _ if self.item_taken > 0 => return Some(Err(unfinished())),
                    Want::Copy(buf) => {
                        if n > buf.len() {
                            return Some(Ok(Got::TooSmall(n)));
                        }
                        buf[..n].copy_from_slice(&m[..n]);
                    }
                    Want::Lend => {}
                }
                let Some(Item::Msg(_, m, _)) = self.items.pop_front() else { unreachable!() };
                self.item_bytes -= n;
                Some(Ok(match want {
                    Want::Lend => {
                        self.lent = m;
                        Got::Lent(kind, self.lent.as_ptr(), n)
                    }
                    _ => Got::Copied(kind, n),
                }))
            }
        }
    }

    /// Frees buffers grown by large messages (idle sockets); the lent
    /// message is not touched.
    pub fn trim(&mut self) {
        self.reader.trim();
    }

    /// Received bytes not yet parsed (frames that came with the upgrade).
    pub fn has_input(&self) -> bool {
        self.reader.has_input()
    }
}
