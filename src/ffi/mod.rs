//! Every exported `extern "C"` function, and nothing else; the only module
//! (besides the syscall wrappers in `sys.rs`) that touches raw pointers. Each
//! body starts with the guard (`guard::call` / `guard::call_str`), which
//! catches panics and records the thread's last error; a test checks this.
//!
//! Exports take raw pointers from C and are not `unsafe fn`: their pointer
//! contracts are documented in the header and NULL is always checked.
//!
//! The doc comments here become the C header (`include/wsclient.h`, generated
//! by cbindgen): they are the C documentation. This file holds the
//! constants, the shared structs and the pointer-checking helpers; the
//! exports are by family: `open` (ws_open, ws_open_async, ws_reconnect),
//! `io` (ws_write, ws_flush, ws_read, ws_read_into, ws_ping), `close`
//! (ws_close, ws_close_many, ws_cleanup), `readback` (errors, settings, the
//! upgrade response, close details, state and info), `queue` (event queues
//! and callbacks) `tls` (ws_get_tls_info) and `proxy` (ws_get_proxy_info).

#![allow(clippy::not_unsafe_ptr_arg_deref)]

use crate::conn::{Conn, Got, Next, Want, OP_BINARY, OP_TEXT};
use crate::error::{self, Code, Error, Result};
use crate::events::{self, Ev};
use crate::guard;
use crate::options;
use crate::proto;
use crate::registry;
use crate::socket::Socket;
use std::ffi::{c_char, c_int, c_void, CStr};
use std::sync::Arc;
use std::time::{Duration, Instant};

// ---- return values ------------------------------------------------------------

/// Success (ws_write, ws_read, ws_flush, ws_close).
pub const WS_OK: c_int = 0;
/// ws_read / ws_read_into: the connection is closed (WinCC's webSocketRead code 1).
pub const WS_CLOSED: c_int = 1;
/// Failure; see ws_last_error() and ws_last_error_code().
pub const WS_ERROR: c_int = -1;
/// A timeout expired; see ws_last_error_code() (WS_E_TIMEOUT or WS_E_PENDING).
pub const WS_TIMEOUT: c_int = -2;

// ---- message types and write flags ---------------------------------------------

/// Text message (opcode 1): UTF-8.
pub const WS_TEXT: c_int = 1;
/// Binary message (opcode 2).
pub const WS_BINARY: c_int = 2;
/// ws_write flag, OR-ed into `type`: queue the message without sending it yet;
/// a later ws_write without the flag, or ws_flush(), puts everything queued on
/// the wire with as few system calls as possible. (A control frame the library
/// must send meanwhile, such as the pong to a server's ping, goes out behind
/// the queued messages and so takes them along.)
pub const WS_MORE: c_int = 0x100;

/// ws_write_part flag, OR-ed into `flags`: more pieces of this message
/// follow (without it, the piece ends the message).
pub const WS_CONT: c_int = 0x200;

/// Largest reason accepted by ws_close(), in bytes (a control frame carries at
/// most 125 bytes: 2 for the code, 123 for the reason).
pub const WS_MAX_CLOSE_REASON: c_int = 123;

// ---- error codes (ws_last_error_code) ---------------------------------------------
// Append-only: a code is never renumbered or reused.

/// No error.
pub const WS_E_OK: c_int = 0;
/// An argument is invalid: NULL where a pointer is required, unknown message
/// type or flag, invalid UTF-8 in a text message or close reason, close code
/// not allowed, reason longer than 123 bytes.
pub const WS_E_INVALID_ARGUMENT: c_int = 1;
/// The URL is malformed: syntax, empty host, port 0 or > 65535, fragment.
pub const WS_E_INVALID_URL: c_int = 2;
/// The URL scheme is neither ws nor wss.
pub const WS_E_UNSUPPORTED_SCHEME: c_int = 3;
/// The options string is not valid JSON, has an unknown key or a value of the
/// wrong type or range ("argument error in options: ...").
pub const WS_E_INVALID_OPTIONS: c_int = 4;
/// The host name could not be resolved.
pub const WS_E_DNS: c_int = 5;
/// TCP connect failed (refused, unreachable), or the connection broke during
/// the upgrade.
pub const WS_E_CONNECT: c_int = 6;
/// TLS failed for another reason than certificate verification.
pub const WS_E_TLS: c_int = 7;
/// The server's certificate failed verification (untrusted, expired, wrong
/// host name, ...).
pub const WS_E_TLS_VERIFY: c_int = 8;
/// The server answered the upgrade with an HTTP status other than 101; the
/// message holds the status ("upgrade rejected by ...: HTTP 401 Unauthorized").
pub const WS_E_UPGRADE_REJECTED: c_int = 9;
/// The server's Sec-WebSocket-Accept is missing or wrong.
pub const WS_E_BAD_ACCEPT: c_int = 10;
/// Any other invalid upgrade response: not HTTP, missing "Upgrade: websocket"
/// or "Connection: Upgrade", an extension or subprotocol that was not offered,
/// or the connection closed during the upgrade.
pub const WS_E_HANDSHAKE: c_int = 11;
/// The server violated RFC 6455 (reserved bits or opcodes, masked or
/// malformed frames, bad close code, ...); the connection was failed with
/// close code 1002.
pub const WS_E_PROTOCOL: c_int = 12;
/// The server sent invalid UTF-8 in a text message or close reason; the
/// connection was failed with close code 1007.
pub const WS_E_INVALID_UTF8: c_int = 13;
/// The server sent a message larger than "maxMessageSize"; the connection was
/// failed with close code 1009.
pub const WS_E_MESSAGE_TOO_BIG: c_int = 14;
/// The connection is closed or closing (ws_write after a close frame).
pub const WS_E_CLOSED: c_int = 15;
/// A timeout expired and nothing was lost: ws_open's "timeout", ws_read's
/// timeout_ms (any partial message is kept), or a ws_write that could not
/// queue its message within "sendTimeout" (nothing of it was sent).
pub const WS_E_TIMEOUT: c_int = 16;
/// The socket number is not open (0, negative, never issued, or closed).
pub const WS_E_BAD_SOCKET: c_int = 17;
/// No more free sockets: the maximum (ws_set_max_sockets) is reached.
pub const WS_E_TOO_MANY_SOCKETS: c_int = 18;
/// A network error on an open connection (reset, broken pipe).
pub const WS_E_IO: c_int = 19;
/// ws_read_into: the buffer is too small; *len holds the size needed and the
/// message is kept for the next read.
pub const WS_E_BUFFER_TOO_SMALL: c_int = 20;
/// A bug in the library (a caught panic); please report it.
pub const WS_E_INTERNAL: c_int = 21;
/// The server closed the TCP connection without a close frame (close code
/// 1006 in ws_close_code()).
pub const WS_E_CONNECTION_LOST: c_int = 22;
/// ws_write / ws_flush timed out after the message was queued: it stays
/// queued and will be sent whole and in order by later calls on this socket
/// (ws_write, ws_flush, ws_read, ws_close). Do not send it again.
pub const WS_E_PENDING: c_int = 23;
/// The server stopped answering: nothing (no data, no pong) arrived within
/// "pongTimeout" after a keepalive ping sent after "pingInterval" of silence
/// (NodeMCU's -19, "server not responding to health checks").
pub const WS_E_HEALTH_CHECK: c_int = 24;
/// The socket is not connected: still connecting (ws_open_async), waiting to
/// reconnect, or its connection attempt failed.
pub const WS_E_NOT_OPEN: c_int = 25;
/// The proxy could not be reached: its name did not resolve, or TCP to it
/// was refused or unreachable ("proxy http://p:3128 unreachable: ...").
pub const WS_E_PROXY_CONNECT: c_int = 26;
/// The proxy refused the tunnel: an HTTP proxy answered CONNECT with a
/// status other than 2xx and 407 ("... refused CONNECT to h:443: HTTP 403
/// Forbidden"; the status and headers also in ws_last_http_status() and
/// ws_last_response_headers()), or a SOCKS5 proxy replied with an error
/// ("SOCKS5 reply 5 (connection refused)": RFC 1928 codes 1-8 by name).
pub const WS_E_PROXY_REFUSED: c_int = 27;
/// Proxy authentication required (no user in the proxy URL) or failed
/// (user or password rejected): HTTP 407 (in ws_last_http_status()), a
/// SOCKS5 proxy that wants user/password, or an RFC 1929 failure. The
/// message says which; it never contains the password.
pub const WS_E_PROXY_AUTH: c_int = 28;
/// TLS to an https:// proxy failed (handshake or certificate verification
/// with the "proxy..." TLS options; the message has the TLS details).
pub const WS_E_PROXY_TLS: c_int = 29;
/// The proxy answered something that is not HTTP (CONNECT) or SOCKS5, or
/// closed the connection in the middle of the tunnel set-up.
pub const WS_E_PROXY_PROTOCOL: c_int = 30;
/// A message is half sent or half read in pieces: ws_write() while a
/// ws_write_part() message is unfinished (finish it with a piece without
/// WS_CONT), or ws_read()/ws_read_into() while a message is being read with
/// ws_read_part() (read the rest of it with ws_read_part()). Nothing was
/// sent or taken.
pub const WS_E_MESSAGE_UNFINISHED: c_int = 31;
/// permessage-deflate failed: the server sent corrupt compressed data or a
/// stream that needs a larger window than agreed (closed with 1007), a
/// compressed message (RSV1) although compression was not negotiated, or
/// RSV1 on a continuation or control frame (closed with 1002).
pub const WS_E_COMPRESSION: c_int = 32;

// ---- events (ws_next_event, callbacks) --------------------------------------------

/// The connection is open (after ws_open, ws_open_async or a reconnect);
/// `code` is the HTTP status (101).
pub const WS_EV_OPEN: c_int = 1;
/// A message: `msg_type` WS_TEXT or WS_BINARY, `data`/`len` the payload.
pub const WS_EV_MESSAGE: c_int = 2;
/// A pong: `data`/`len` its payload, `rtt_us` the round trip of the matching
/// ws_ping() (-1 for an unsolicited pong).
pub const WS_EV_PONG: c_int = 3;
/// An error: `code` is the WS_E_* code, `data` the message (as ws_last_error).
/// A connection that fails is then reported closed by WS_EV_CLOSE, unless a
/// reconnect follows (WS_EV_RECONNECTING).
pub const WS_EV_ERROR: c_int = 4;
/// The connection ended: `code` is the close code the server sent (1005
/// none, 1006 no close frame, 0 when no connection was ever made),
/// `data` its reason, `closed_by` WS_BY_*, `clean` 1 when both close frames
/// were exchanged, `error` the WS_E_* code of the failure that ended it (0 if
/// none). The last event of every socket is a WS_EV_CLOSE; with
/// "autoReconnect" a WS_EV_RECONNECTING may follow an earlier one.
pub const WS_EV_CLOSE: c_int = 5;
/// An automatic reconnect is scheduled: `code` is the attempt number (1, 2,
/// ...), `delay_ms` the backoff before it.
pub const WS_EV_RECONNECTING: c_int = 6;
/// A piece of a message (sockets with "streamReceive" and a "queue"):
/// `msg_type` WS_TEXT or WS_BINARY, `data`/`len` the piece (text pieces are
/// valid UTF-8 each: a code point split by the network waits for its rest),
/// `code` 1 when the piece ends the message else 0, `rtt_us` the piece's
/// offset in its message in bytes.
pub const WS_EV_MESSAGE_PART: c_int = 7;

/// ws_state(): connecting (ws_open_async, reconnect pending).
pub const WS_STATE_CONNECTING: c_int = 1;
/// ws_state(): open (WinCC/Qore `isOpen`).
pub const WS_STATE_OPEN: c_int = 2;
/// ws_state(): a close frame was sent, the closing handshake is under way.
pub const WS_STATE_CLOSING: c_int = 3;
/// ws_state(): closed or failed (call ws_close() to release the number).
pub const WS_STATE_CLOSED: c_int = 4;

/// Nobody closed yet.
pub const WS_BY_NONE: c_int = 0;
/// We closed first (ws_close, ws_reconnect).
pub const WS_BY_CLIENT: c_int = 1;
/// The server sent the first close frame.
pub const WS_BY_SERVER: c_int = 2;
/// The connection failed (protocol violation, lost, health check).
pub const WS_BY_ERROR: c_int = 3;

/// One event (see ws_next_event() and ws_queue_set_callback()). Pointers are
/// owned by the library: valid until the next ws_next_event() on the same
/// queue, or until the callback returns.
#[repr(C)]
#[allow(non_camel_case_types)]
pub struct ws_event {
    /// WS_EV_OPEN, WS_EV_MESSAGE, WS_EV_PONG, WS_EV_ERROR, WS_EV_CLOSE or
    /// WS_EV_RECONNECTING.
    pub r#type: c_int,
    /// The socket number it concerns.
    pub socket: c_int,
    /// WS_EV_MESSAGE: WS_TEXT or WS_BINARY; else 0.
    pub msg_type: c_int,
    /// OPEN: HTTP status; ERROR: WS_E_* code; CLOSE: close code;
    /// RECONNECTING: attempt number.
    pub code: c_int,
    /// CLOSE: WS_E_* code of the failure that ended the connection, 0 if none.
    pub error: c_int,
    /// CLOSE: WS_BY_CLIENT, WS_BY_SERVER or WS_BY_ERROR.
    pub closed_by: c_int,
    /// CLOSE: 1 when both close frames were exchanged.
    pub clean: c_int,
    /// MESSAGE, PONG: payload; ERROR: message; CLOSE: reason. Followed by a NUL
    /// byte not counted in `len`, so text can be printed directly. Never NULL.
    pub data: *const c_void,
    pub len: usize,
    /// PONG: round-trip time in microseconds, -1 if unsolicited.
    pub rtt_us: i64,
    /// RECONNECTING: delay before the attempt, in milliseconds.
    pub delay_ms: i64,
    /// When it happened: monotonic microseconds (same clock for all events).
    pub time_us: i64,
}

/// A function called with each event of a queue (ws_queue_set_callback).
#[allow(non_camel_case_types)]
pub type ws_callback = Option<extern "C" fn(event: *const ws_event, user: *mut c_void)>;

/// One piece of a message (ws_read_part()).
#[repr(C)]
#[allow(non_camel_case_types)]
pub struct ws_part {
    /// WS_TEXT or WS_BINARY (the message's type, on every piece).
    pub r#type: c_int,
    /// 1 when this piece ends the message, else 0.
    pub last: c_int,
    /// Bytes of the message before this piece.
    pub offset: u64,
    /// Bytes copied into the buffer (0 is possible, e.g. the end of a
    /// message whose bytes all came in earlier pieces).
    pub len: usize,
}

/// Connection state and statistics (ws_get_info()).
#[repr(C)]
#[allow(non_camel_case_types)]
pub struct ws_info {
    /// WS_STATE_*.
    pub state: c_int,
    /// HTTP status of the upgrade (101), 0 before the first connection.
    pub http_status: c_int,
    /// Who started the closing: WS_BY_*.
    pub closed_by: c_int,
    /// Close code we sent, 0 if none.
    pub close_code_sent: c_int,
    /// Close code the server sent: 0 none yet, 1005 no code, 1006 the
    /// connection ended without a close frame.
    pub close_code_received: c_int,
    /// 1 when the closing handshake completed (both close frames exchanged).
    pub clean: c_int,
    /// Completed reconnections of this socket number.
    pub reconnects: c_int,
    /// Close reasons, NUL-terminated (at most 123 bytes each).
    pub reason_sent: [c_char; 124],
    pub reason_received: [c_char; 124],
    /// Pings sent (ws_ping and keepalive) and pongs received.
    pub pings_sent: i64,
    pub pongs_received: i64,
    /// Round-trip time of the last answered ping in microseconds, -1 if none.
    pub last_rtt_us: i64,
    /// Data messages and payload bytes sent and received on the current
    /// connection.
    pub messages_sent: i64,
    pub messages_received: i64,
    pub bytes_sent: i64,
    pub bytes_received: i64,
    // ---- appended with permessage-deflate ("compression"); a caller
    // compiled with the struct without these gets the fields above only
    /// Data frame payload bytes sent and received on the wire, i.e. after
    /// compression; without compression they equal bytes_sent and
    /// bytes_received (bytes_sent / wire_bytes_sent is the compression
    /// ratio).
    pub wire_bytes_sent: i64,
    pub wire_bytes_received: i64,
    /// 1 when permessage-deflate is in effect on the current connection
    /// (the "compression" option offered it and the server accepted).
    pub compression: c_int,
    /// The agreed permessage-deflate parameters (0 when compression is off):
    /// the LZ77 window of our compressor (client_max_window_bits) and of the
    /// server's (server_max_window_bits), 8..15, and 1 when that side
    /// starts every message without context (client_no_context_takeover,
    /// server_no_context_takeover).
    pub client_max_window_bits: c_int,
    pub server_max_window_bits: c_int,
    pub client_no_context_takeover: c_int,
    pub server_no_context_takeover: c_int,
}

/// sizeof(ws_info) before the permessage-deflate fields were appended: the
/// smallest size ws_get_info accepts.
pub(crate) const WS_INFO_SIZE_V1: usize = std::mem::offset_of!(ws_info, wire_bytes_sent);

// ---- helpers (pointer checks) ---------------------------------------------------------

/// Borrows a C string; NULL gives None.
fn opt_str<'a>(p: *const c_char, what: &str) -> Result<Option<&'a str>> {
    if p.is_null() {
        return Ok(None);
    }
    // SAFETY: the caller passes a NUL-terminated string that stays valid for
    // the duration of the call (documented on every export taking one).
    let s = unsafe { CStr::from_ptr(p) };
    s.to_str().map(Some).map_err(|_| Error::arg(format!("{what} is not valid UTF-8")))
}

fn req_str<'a>(p: *const c_char, what: &str) -> Result<&'a str> {
    opt_str(p, what)?.ok_or_else(|| Error::arg(format!("{what} is NULL")))
}

/// Borrows a (pointer, length) buffer; NULL is allowed with length 0.
fn bytes<'a>(p: *const c_void, len: usize, what: &str) -> Result<&'a [u8]> {
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(Error::arg(format!("{what} is NULL but its length is {len}")));
    }
    if len > isize::MAX as usize {
        return Err(Error::arg(format!("{what}: length {len} is too large")));
    }
    // SAFETY: the caller guarantees `len` readable bytes at `p` for the call.
    Ok(unsafe { std::slice::from_raw_parts(p.cast::<u8>(), len) })
}

fn timeout(ms: c_int) -> Option<Duration> {
    u64::try_from(ms).ok().map(Duration::from_millis)
}

fn deadline(ms: c_int) -> Option<Instant> {
    timeout(ms).map(|t| Instant::now() + t)
}

mod close;
mod io;
mod open;
mod proxy;
mod queue;
mod readback;
mod tls;

pub use close::*;
pub use io::*;
pub use open::*;
pub use proxy::*;
pub use queue::*;
pub use readback::*;
pub use tls::*;
