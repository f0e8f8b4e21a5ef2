//! Writing and reading: ws_write, ws_flush, ws_read, ws_read_into, ws_ping.

use super::*;

/// The connection to write on (fast path: no socket lock).
fn write_conn(socket: c_int) -> Result<Arc<Conn>> {
    match registry::conn_or_socket(socket)? {
        Ok(c) => Ok(c),
        Err(sock) => sock.conn_for_write(),
    }
}

/// Reads the next message of a socket number: on its current connection
/// (fast path: no socket lock), else through the socket, which knows about
/// ends, reconnects and waiting while connecting.
fn read_next(socket: c_int, deadline: Option<Instant>, mut want: Want<'_>) -> Result<Got> {
    match registry::conn_or_socket(socket)? {
        Ok(c) => {
            c.check_readable()?;
            match c.read(deadline, &mut want)? {
                Next::Got(g) => Ok(g),
                Next::End(e, true) => e.into_result(Got::Closed),
                Next::End(_, false) | Next::Stale => registry::get(socket)?.read(deadline, &mut want),
            }
        }
        Err(sock) => sock.read(deadline, &mut want),
    }
}

fn kind_to_c(k: proto::Kind) -> c_int {
    k as c_int
}

// ---- writing ----------------------------------------------------------------------

/// Send one message (WinCC OA `webSocketWrite`, NodeMCU `send(message, opcode)`).
///
/// `type`: WS_TEXT (1) or WS_BINARY (2), optionally OR-ed with WS_MORE to
/// queue the message and send it with a later write or ws_flush(). Text must
/// be valid UTF-8, else nothing is sent. `data` may be NULL when `len` is 0.
///
/// Returns: WS_OK (0) when the whole message has been handed to the kernel
/// (with WS_MORE: when it is queued); WS_ERROR (-1); WS_TIMEOUT (-2) when the
/// "sendTimeout" option expired: with WS_E_TIMEOUT nothing of the message was
/// queued (safe to retry), with WS_E_PENDING it is queued and will be sent
/// whole, in order, by later calls on this socket (do not resend).
///
/// Errors: WS_E_BAD_SOCKET, WS_E_INVALID_ARGUMENT, WS_E_CLOSED (a close frame
/// was sent or received), WS_E_NOT_OPEN (connecting or reconnecting),
/// WS_E_HEALTH_CHECK (the keepalive declared the server dead), WS_E_IO,
/// WS_E_TIMEOUT, WS_E_PENDING.
///
/// Blocking: while the kernel's send buffer is full, up to "sendTimeout" (no
/// limit by default). Never waits for a reader blocked in ws_read.
/// Threads: any thread. Messages from concurrent writers on one socket are
/// never interleaved: each goes out as whole frames, in the order the writers
/// queued them.
/// Ownership: `data` is copied before the call returns.
#[unsafe(no_mangle)]
pub extern "C" fn ws_write(socket: c_int, data: *const c_void, len: usize, r#type: c_int) -> c_int {
    guard::call(|| {
        let more = r#type & WS_MORE != 0;
        let op = match r#type & !WS_MORE {
            WS_TEXT => OP_TEXT,
            WS_BINARY => OP_BINARY,
            other => {
                return Err(Error::arg(format!(
                    "type {other:#x} is not WS_TEXT (1) or WS_BINARY (2), optionally with WS_MORE"
                )))
            }
        };
        let data = bytes(data, len, "data")?;
        let conn = write_conn(socket)?;
        if op == OP_TEXT {
            if let Err(e) = std::str::from_utf8(data) {
                return Err(Error::arg(format!(
                    "text message is not valid UTF-8 (at byte {}); nothing was sent",
                    e.valid_up_to()
                )));
            }
        }
        conn.write(op, data, more)?;
        Ok(WS_OK)
    })
}

/// Send everything queued on the socket (after WS_MORE writes, or a write
/// that returned WS_E_PENDING).
///
/// `timeout_ms`: < 0 waits as long as needed, 0 sends what the kernel takes
/// now, > 0 is a deadline for the whole call.
///
/// Returns: WS_OK (0) when nothing remains queued; WS_ERROR (-1); WS_TIMEOUT
/// (-2, WS_E_PENDING) when data is still queued (it stays queued, in order).
/// Errors: WS_E_BAD_SOCKET, WS_E_IO, WS_E_PENDING.
/// Blocking: up to `timeout_ms`. Threads: any thread.
#[unsafe(no_mangle)]
pub extern "C" fn ws_flush(socket: c_int, timeout_ms: c_int) -> c_int {
    guard::call(|| {
        let conn = write_conn(socket)?;
        conn.flush(timeout(timeout_ms))?;
        Ok(WS_OK)
    })
}

// ---- reading ----------------------------------------------------------------------

/// Receive the next message (WinCC OA `webSocketRead`), lent by the library.
///
/// Fragmented messages are reassembled; pings from the server are answered at
/// once (also when the program only reads); a close frame from the server is
/// answered and reported after every message that arrived before it.
///
/// On WS_OK, `*data` points to the message (`*len` bytes; no terminating NUL)
/// and `*type` (if `type` is not NULL) is WS_TEXT or WS_BINARY. Text is
/// valid UTF-8. The memory belongs to the library and stays valid until the
/// next ws_read() or ws_read_into() on this socket number, or its
/// ws_close() — also when the connection that delivered it ends and is
/// replaced meanwhile ("autoReconnect", ws_reconnect()).
/// Nothing is written to the out-parameters unless WS_OK is returned.
///
/// `timeout_ms`: < 0 waits forever, 0 only takes what has already arrived,
/// a positive value is one deadline for the whole call. A timeout loses
/// nothing: a
/// partly received message is completed by a later call.
///
/// Returns: WS_OK (0) a message; WS_CLOSED (1) the connection is closed (the
/// server's close frame arrived, or ws_close() was called on another thread;
/// see ws_close_code()); WS_ERROR (-1); WS_TIMEOUT (-2).
///
/// Order: every message the server sent before its connection ended comes
/// first, then that end once (WS_CLOSED, or WS_ERROR with its cause). With
/// "autoReconnect" the next read then waits (within `timeout_ms`) for the
/// new connection and returns its messages; without, every later read
/// returns the end again. A message kept by WS_E_BUFFER_TOO_SMALL stays
/// readable until it is read or the number is closed, also if the
/// connection fails meanwhile.
///
/// Errors: WS_E_BAD_SOCKET, WS_E_INVALID_ARGUMENT (data or len NULL),
/// WS_E_PROTOCOL, WS_E_INVALID_UTF8, WS_E_MESSAGE_TOO_BIG (the connection was
/// failed with close code 1002, 1007, 1009), WS_E_CONNECTION_LOST,
/// WS_E_HEALTH_CHECK (see "pingInterval"), WS_E_IO, WS_E_TIMEOUT; on a
/// socket from ws_open_async() or after a failed reconnect, the code of the
/// failed connection attempt (any code ws_open() can return, e.g.
/// WS_E_CONNECT, WS_E_UPGRADE_REJECTED, WS_E_TLS_VERIFY); WS_E_INVALID_ARGUMENT
/// on a socket with a "queue". After an error other than a timeout every
/// later read returns the same error (unless a reconnect follows); call
/// ws_close().
///
/// Blocking: up to `timeout_ms`. ws_close() on another thread wakes it: it
/// returns WS_CLOSED (or WS_ERROR) once the close handshake ends or the
/// close timeout expires.
/// Threads: any thread; readers of one socket take turns. Writers on other
/// threads are never held up by a blocked reader. Use one reading thread per
/// socket if it relies on the lent pointer.
#[unsafe(no_mangle)]
pub extern "C" fn ws_read(
    socket: c_int,
    data: *mut *const c_void,
    len: *mut usize,
    r#type: *mut c_int,
    timeout_ms: c_int,
) -> c_int {
    guard::call(|| {
        if data.is_null() || len.is_null() {
            return Err(Error::arg("data and len must not be NULL"));
        }
        match read_next(socket, deadline(timeout_ms), Want::Lend)? {
            Got::Closed => Ok(WS_CLOSED),
            Got::Copied(..) | Got::TooSmall(_) | Got::Part(_) => {
                Err(Error::new(Code::Internal, "internal error: copy for a lend"))
            }
            Got::Lent(kind, ptr, n) => {
                // SAFETY: data, len (checked non-NULL) and type (if non-NULL)
                // point to writable objects of the caller.
                unsafe {
                    *data = ptr.cast();
                    *len = n;
                    if !r#type.is_null() {
                        *r#type = kind_to_c(kind);
                    }
                }
                Ok(WS_OK)
            }
        }
    })
}

/// Receive the next message into the caller's buffer.
///
/// Like ws_read(), but copies the message into `buf` (`cap` bytes). When the
/// message is larger than `cap`, nothing is copied, `*len` is set to the size
/// needed, WS_ERROR is returned with WS_E_BUFFER_TOO_SMALL, and the message is
/// kept: the next ws_read() or ws_read_into() returns it.
///
/// On WS_OK, `*len` is the message size and `*type` (if not NULL) its type;
/// no NUL is appended. `buf` may be NULL when `cap` is 0 (to learn the size).
///
/// Returns: WS_OK (0); WS_CLOSED (1); WS_ERROR (-1); WS_TIMEOUT (-2).
/// Errors: as ws_read(), plus WS_E_BUFFER_TOO_SMALL.
/// Blocking, threads: as ws_read(). Ownership: `buf` stays the caller's.
#[unsafe(no_mangle)]
pub extern "C" fn ws_read_into(
    socket: c_int,
    buf: *mut c_void,
    cap: usize,
    len: *mut usize,
    r#type: *mut c_int,
    timeout_ms: c_int,
) -> c_int {
    guard::call(|| {
        if len.is_null() {
            return Err(Error::arg("len must not be NULL"));
        }
        if buf.is_null() && cap > 0 {
            return Err(Error::arg(format!("buf is NULL but cap is {cap}")));
        }
        if cap > isize::MAX as usize {
            return Err(Error::arg(format!("cap {cap} is too large")));
        }
        let out: &mut [u8] = if cap == 0 {
            &mut []
        } else {
            // SAFETY: the caller guarantees `cap` writable bytes at `buf`.
            unsafe { std::slice::from_raw_parts_mut(buf.cast::<u8>(), cap) }
        };
        match read_next(socket, deadline(timeout_ms), Want::Copy(out))? {
            Got::Closed => Ok(WS_CLOSED),
            Got::Lent(..) | Got::Part(_) => Err(Error::new(Code::Internal, "internal error: lend for a copy")),
            Got::Copied(kind, n) => {
                // SAFETY: len checked non-NULL; type may be NULL.
                unsafe {
                    *len = n;
                    if !r#type.is_null() {
                        *r#type = kind_to_c(kind);
                    }
                }
                Ok(WS_OK)
            }
            Got::TooSmall(n) => {
                // SAFETY: len checked non-NULL.
                unsafe { *len = n };
                Err(Error::new(
                    Code::BufferTooSmall,
                    format!("buffer too small: the message has {n} bytes, the buffer {cap}; the message is kept"),
                ))
            }
        }
    })
}

// ---- liveness ------------------------------------------------------------------------

/// Send a ping (Q-SYS `Ping()`); the server's pong is matched to it for the
/// round-trip time, reported as a WS_EV_PONG event (sockets with a queue)
/// and in ws_get_info() (`pongs_received`, `last_rtt_us`).
///
/// `payload` (may be NULL when `len` is 0): at most 125 bytes.
/// Returns: WS_OK (0) once the ping is handed to the kernel; WS_ERROR (-1);
/// WS_TIMEOUT (-2, WS_E_PENDING) as ws_write().
/// Errors: WS_E_BAD_SOCKET, WS_E_INVALID_ARGUMENT (payload over 125 bytes),
/// WS_E_NOT_OPEN, WS_E_CLOSED, WS_E_IO.
/// Blocking: as ws_write(). Threads: any thread.
///
/// Keepalive needs no calls: with the "pingInterval" option (default 30000
/// ms; 0 turns it off) the library pings after that much silence from the
/// server and fails the connection with WS_E_HEALTH_CHECK when nothing
/// arrives within "pongTimeout" (default 10000 ms) after the ping, also while
/// the program is not reading. Pings from the server are always answered.
#[unsafe(no_mangle)]
pub extern "C" fn ws_ping(socket: c_int, payload: *const c_void, len: usize) -> c_int {
    guard::call(|| {
        if len > 125 {
            return Err(Error::arg(format!("ping payload is {len} bytes, at most 125 are allowed")));
        }
        let payload = bytes(payload, len, "payload")?;
        write_conn(socket)?.ping(payload)?;
        Ok(WS_OK)
    })
}

// ---- messages in pieces --------------------------------------------------------

/// Send a message in pieces (curl's `curl_ws_send` with `CURLWS_CONT`; Beast's
/// `write_some`): one call per piece, each piece one WebSocket frame, so a
/// message of any size is sent without holding it in memory.
///
/// `flags`: WS_TEXT or WS_BINARY on the first piece of a message (later
/// pieces may repeat the type or pass 0), OR-ed with WS_CONT when more pieces
/// of this message follow; a piece without WS_CONT ends the message. WS_MORE
/// batches as with ws_write(). Pieces may have any size, including 0 (e.g. a
/// 0-byte final piece). Text is checked as UTF-8 across pieces: a code point
/// may be split between pieces, an invalid sequence (or an incomplete one at
/// the end of the message) is refused with WS_E_INVALID_ARGUMENT and nothing
/// of that piece is sent (the message stays open: send a corrected piece).
/// Control frames the library sends meanwhile (pongs, ws_ping(), the close
/// frame of ws_close()) go between two pieces, as RFC 6455 allows. While a
/// message is unfinished, ws_write() fails with WS_E_MESSAGE_UNFINISHED.
/// "sendBufferLimit", "sendTimeout" and WS_E_PENDING work as for ws_write().
///
/// Returns: WS_OK (0); WS_ERROR (-1); WS_TIMEOUT (-2) as ws_write().
/// Errors: those of ws_write(); WS_E_INVALID_ARGUMENT also for a first piece
/// without a type or a later piece of another type.
/// Threads: any thread, but one message at a time per socket: pieces from
/// several threads continue the same message.
#[unsafe(no_mangle)]
pub extern "C" fn ws_write_part(socket: c_int, data: *const c_void, len: usize, flags: c_int) -> c_int {
    guard::call(|| {
        let more = flags & WS_MORE != 0;
        let cont = flags & WS_CONT != 0;
        let kind = match flags & !(WS_MORE | WS_CONT) {
            0 => None,
            WS_TEXT => Some(proto::Kind::Text),
            WS_BINARY => Some(proto::Kind::Binary),
            other => {
                return Err(Error::arg(format!(
                    "flags {other:#x} are not 0, WS_TEXT (1) or WS_BINARY (2), with WS_CONT and WS_MORE"
                )))
            }
        };
        let data = bytes(data, len, "data")?;
        write_conn(socket)?.write_part(kind, data, cont, more)?;
        Ok(WS_OK)
    })
}

/// Receive the next piece of a message (curl's `curl_ws_recv` with
/// `bytesleft`; Beast's `read_some`): the bytes of the current message that
/// have arrived, up to `cap`, copied into `buf`, and `*part` tells the type,
/// the offset of the piece in its message and whether it ends the message.
///
/// On a socket opened with `"streamReceive": true` messages are never held
/// whole: the library keeps at most 256 KiB of a message for the program
/// and TCP pushes back beyond that, so a message of any size (up to
/// "maxMessageSize", where 0 means no limit) is received in bounded memory.
/// Such sockets are read only with ws_read_part() (ws_read() and
/// ws_read_into() fail with WS_E_INVALID_ARGUMENT). On other sockets
/// ws_read_part() returns pieces of whole messages (e.g. to read a large
/// message into a fixed buffer). Text pieces are valid UTF-8 each: a code
/// point split by the network waits for its rest; an invalid sequence fails
/// the connection with 1007 when it is seen (WS_E_INVALID_UTF8). While a
/// message is half read, ws_read() and ws_read_into() fail with
/// WS_E_MESSAGE_UNFINISHED. A piece may have 0 bytes (the last piece of a
/// message whose bytes all came earlier, or a 0-byte message).
///
/// `buf` may be NULL when `cap` is 0. `part` must not be NULL; nothing is
/// written to it unless WS_OK is returned.
///
/// Returns: WS_OK (0); WS_CLOSED (1); WS_ERROR (-1); WS_TIMEOUT (-2).
/// Errors: as ws_read(). The connection's end comes after the last piece of
/// every message that arrived before it, as with ws_read(); a message the
/// connection ended in the middle of is not completed.
/// Blocking, threads: as ws_read(). Ownership: `buf` stays the caller's.
#[unsafe(no_mangle)]
pub extern "C" fn ws_read_part(
    socket: c_int,
    buf: *mut c_void,
    cap: usize,
    part: *mut ws_part,
    timeout_ms: c_int,
) -> c_int {
    guard::call(|| {
        if part.is_null() {
            return Err(Error::arg("part must not be NULL"));
        }
        if buf.is_null() && cap > 0 {
            return Err(Error::arg(format!("buf is NULL but cap is {cap}")));
        }
        if cap > isize::MAX as usize {
            return Err(Error::arg(format!("cap {cap} is too large")));
        }
        let out: &mut [u8] = if cap == 0 {
            &mut []
        } else {
            // SAFETY: the caller guarantees `cap` writable bytes at `buf`.
            unsafe { std::slice::from_raw_parts_mut(buf.cast::<u8>(), cap) }
        };
        match read_next(socket, deadline(timeout_ms), Want::Part(out))? {
            Got::Closed => Ok(WS_CLOSED),
            Got::Part(p) => {
                // SAFETY: part checked non-NULL; the caller provides a ws_part.
                unsafe {
                    part.write(ws_part {
                        r#type: kind_to_c(p.kind),
                        last: p.last as c_int,
                        offset: p.offset,
                        len: p.len,
                    })
                };
                Ok(WS_OK)
            }
            _ => Err(Error::new(Code::Internal, "internal error: a whole message for a piece")),
        }
    })
}
