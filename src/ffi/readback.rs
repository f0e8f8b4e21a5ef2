//! Errors, library settings and what a socket can tell: ws_last_error and
//! friends, ws_version, ws_set_max_sockets, the upgrade response, close
//! details, ws_state, ws_get_info, and the failed-upgrade getters.

use super::*;

// ---- errors -----------------------------------------------------------------------

/// The message of the last error on this thread (like errno, WinCC
/// `getLastError`): it names the stage and the cause, e.g. "connect
/// 127.0.0.1:9: connection refused". "" when the last call succeeded.
///
/// Returns: never NULL. The string is owned by the library and stays valid
/// until the next ws_* call on this thread other than ws_last_error() and
/// ws_last_error_code(), which leave the error as it is.
#[unsafe(no_mangle)]
pub extern "C" fn ws_last_error() -> *const c_char {
    error::last_msg_ptr()
}

/// The code (WS_E_*) of the last error on this thread; WS_E_OK (0) when the
/// last call succeeded. Leaves the error as it is.
#[unsafe(no_mangle)]
pub extern "C" fn ws_last_error_code() -> c_int {
    error::last_code() as c_int
}

/// The name of an error code, e.g. "WS_E_TIMEOUT"; "WS_E_UNKNOWN" for a
/// number that is not a code. Never NULL; static storage.
#[unsafe(no_mangle)]
pub extern "C" fn ws_error_name(code: c_int) -> *const c_char {
    let s: &'static CStr = match code {
        WS_E_OK => c"WS_E_OK",
        WS_E_INVALID_ARGUMENT => c"WS_E_INVALID_ARGUMENT",
        WS_E_INVALID_URL => c"WS_E_INVALID_URL",
        WS_E_UNSUPPORTED_SCHEME => c"WS_E_UNSUPPORTED_SCHEME",
        WS_E_INVALID_OPTIONS => c"WS_E_INVALID_OPTIONS",
        WS_E_DNS => c"WS_E_DNS",
        WS_E_CONNECT => c"WS_E_CONNECT",
        WS_E_TLS => c"WS_E_TLS",
        WS_E_TLS_VERIFY => c"WS_E_TLS_VERIFY",
        WS_E_UPGRADE_REJECTED => c"WS_E_UPGRADE_REJECTED",
        WS_E_BAD_ACCEPT => c"WS_E_BAD_ACCEPT",
        WS_E_HANDSHAKE => c"WS_E_HANDSHAKE",
        WS_E_PROTOCOL => c"WS_E_PROTOCOL",
        WS_E_INVALID_UTF8 => c"WS_E_INVALID_UTF8",
        WS_E_MESSAGE_TOO_BIG => c"WS_E_MESSAGE_TOO_BIG",
        WS_E_CLOSED => c"WS_E_CLOSED",
        WS_E_TIMEOUT => c"WS_E_TIMEOUT",
        WS_E_BAD_SOCKET => c"WS_E_BAD_SOCKET",
        WS_E_TOO_MANY_SOCKETS => c"WS_E_TOO_MANY_SOCKETS",
        WS_E_IO => c"WS_E_IO",
        WS_E_BUFFER_TOO_SMALL => c"WS_E_BUFFER_TOO_SMALL",
        WS_E_INTERNAL => c"WS_E_INTERNAL",
        WS_E_CONNECTION_LOST => c"WS_E_CONNECTION_LOST",
        WS_E_PENDING => c"WS_E_PENDING",
        WS_E_HEALTH_CHECK => c"WS_E_HEALTH_CHECK",
        WS_E_NOT_OPEN => c"WS_E_NOT_OPEN",
        WS_E_PROXY_CONNECT => c"WS_E_PROXY_CONNECT",
        WS_E_PROXY_REFUSED => c"WS_E_PROXY_REFUSED",
        WS_E_PROXY_AUTH => c"WS_E_PROXY_AUTH",
        WS_E_PROXY_TLS => c"WS_E_PROXY_TLS",
        WS_E_PROXY_PROTOCOL => c"WS_E_PROXY_PROTOCOL",
        WS_E_MESSAGE_UNFINISHED => c"WS_E_MESSAGE_UNFINISHED",
        WS_E_COMPRESSION => c"WS_E_COMPRESSION",
        _ => c"WS_E_UNKNOWN",
    };
    s.as_ptr()
}

// ---- library ----------------------------------------------------------------------

/// The library version, e.g. "0.1.0". Never NULL; static storage.
#[unsafe(no_mangle)]
pub extern "C" fn ws_version() -> *const c_char {
    const V: &CStr = match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
        Ok(v) => v,
        Err(_) => c"unknown",
    };
    V.as_ptr()
}

/// Set the maximum number of sockets open at once (including opens in
/// progress); default 4096. When reached, ws_open() fails with
/// WS_E_TOO_MANY_SOCKETS ("no more free sockets"). Lowering it below the
/// number open closes nothing.
///
/// Returns: the previous maximum; WS_ERROR (-1, WS_E_INVALID_ARGUMENT) when
/// `max` < 1. Threads: any thread.
#[unsafe(no_mangle)]
pub extern "C" fn ws_set_max_sockets(max: c_int) -> c_int {
    guard::call(|| {
        let n = usize::try_from(max)
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| Error::arg(format!("max {max} must be at least 1")))?;
        Ok(registry::set_max(n).min(c_int::MAX as usize) as c_int)
    })
}

// ---- readback -----------------------------------------------------------------------

/// The HTTP status of the upgrade response (101 for every open socket) of
/// the current connection, or of the last one while reconnecting.
///
/// Returns: the status; WS_ERROR (-1): WS_E_BAD_SOCKET, WS_E_NOT_OPEN (no
/// connection was made yet: ws_open_async() still connecting, or its
/// attempt failed; the refused upgrade's status is then in the error
/// message).
/// Threads: any thread; does not block.
#[unsafe(no_mangle)]
pub extern "C" fn ws_http_status(socket: c_int) -> c_int {
    guard::call(|| Ok(registry::get(socket)?.upgrade()?.status as c_int))
}

/// A header of the upgrade response (Qore's `connect()` result), by
/// case-insensitive name. When the server sent several lines of that name,
/// all values are returned in the order sent, joined with ", " (RFC 9110
/// section 5.3: the same meaning as one line); Set-Cookie values, which
/// contain commas and must not be combined, are joined with "\n" instead
/// (one cookie per line). ws_response_headers() has every line as sent.
///
/// Returns: the value, or NULL when the server sent no such header
/// (ws_last_error_code() == WS_E_OK) or on error (WS_E_BAD_SOCKET,
/// WS_E_INVALID_ARGUMENT for a NULL name). The string is owned by the library
/// and valid until the next ws_* call on this thread other than
/// ws_last_error() and ws_last_error_code().
#[unsafe(no_mangle)]
pub extern "C" fn ws_response_header(socket: c_int, name: *const c_char) -> *const c_char {
    guard::call_str(|| {
        let name = req_str(name, "name")?;
        let up = registry::get(socket)?.upgrade()?;
        Ok(match up.header(name) {
            Some(v) => error::result_str(&v),
            None => std::ptr::null(),
        })
    })
}

/// All headers of the upgrade response, as "Name: value\r\n" lines in the
/// order the server sent them, repeated names included (one line each).
/// Lines end with CRLF here even when the server ended them with a bare LF,
/// which the library accepts (RFC 9112 section 2.2); the status line must be
/// HTTP/1.1 (an HTTP/1.0 101 fails the open with WS_E_HANDSHAKE).
///
/// Returns: the text; NULL on error (WS_E_BAD_SOCKET). Lifetime as
/// ws_response_header().
#[unsafe(no_mangle)]
pub extern "C" fn ws_response_headers(socket: c_int) -> *const c_char {
    guard::call_str(|| Ok(error::result_str(&registry::get(socket)?.upgrade()?.raw_headers())))
}

/// The subprotocol the server selected from the "subprotocols" offered.
///
/// Returns: the name, "" when none was selected; NULL on error
/// (WS_E_BAD_SOCKET, WS_E_NOT_OPEN as ws_http_status()). Lifetime as
/// ws_response_header().
#[unsafe(no_mangle)]
pub extern "C" fn ws_subprotocol(socket: c_int) -> *const c_char {
    guard::call_str(|| {
        let up = registry::get(socket)?.upgrade()?;
        Ok(error::result_str(up.subprotocol.as_deref().unwrap_or("")))
    })
}

/// The close code the server sent: 0 while no close frame has arrived, 1005
/// when its close frame carried no code, 1006 when the connection ended
/// without one. Read it after ws_read() returned WS_CLOSED or an error, before
/// ws_close().
///
/// Returns: the code; WS_ERROR (-1): WS_E_BAD_SOCKET, WS_E_NOT_OPEN (no
/// connection was made yet, as ws_http_status()). Does not block.
#[unsafe(no_mangle)]
pub extern "C" fn ws_close_code(socket: c_int) -> c_int {
    guard::call(|| Ok(registry::get(socket)?.close_info()?.code_rcvd as c_int))
}

/// The close reason the server sent ("" if none).
///
/// Returns: the reason; NULL on error (WS_E_BAD_SOCKET, WS_E_NOT_OPEN as
/// ws_close_code()). Lifetime as ws_response_header().
#[unsafe(no_mangle)]
pub extern "C" fn ws_close_reason(socket: c_int) -> *const c_char {
    guard::call_str(|| Ok(error::result_str(&registry::get(socket)?.close_info()?.reason_rcvd)))
}

/// The state of a socket (Qore `isOpen()`: `ws_state(s) == WS_STATE_OPEN`).
///
/// Returns: WS_STATE_CONNECTING, WS_STATE_OPEN, WS_STATE_CLOSING or
/// WS_STATE_CLOSED; WS_ERROR (-1, WS_E_BAD_SOCKET). Does not block.
#[unsafe(no_mangle)]
pub extern "C" fn ws_state(socket: c_int) -> c_int {
    guard::call(|| Ok(registry::get(socket)?.info().state as c_int))
}

fn copy_reason(dst: &mut [c_char; 124], s: &str) {
    let b = s.as_bytes();
    let n = b.len().min(123);
    for (d, &c) in dst.iter_mut().zip(&b[..n]) {
        *d = c as c_char;
    }
    dst[n] = 0;
}

/// Fill `*info` with the socket's state, close details (who closed, codes and
/// reasons sent and received, whether the closing handshake completed) and
/// statistics (pings, round-trip time, messages, bytes, reconnects).
///
/// With permessage-deflate (the "compression" option): the agreed
/// parameters and the payload bytes on the wire (compressed), so that
/// bytes_sent / wire_bytes_sent is the compression ratio.
///
/// `size` must be `sizeof(ws_info)` as the caller was compiled with; the
/// library writes at most that many bytes (later versions only append fields:
/// a program compiled with an older, shorter ws_info gets its fields).
/// Returns: WS_OK (0); WS_ERROR (-1): WS_E_BAD_SOCKET, WS_E_INVALID_ARGUMENT
/// (info NULL or size too small for the fields of this version's first
/// release). Does not block. Threads: any thread.
#[unsafe(no_mangle)]
pub extern "C" fn ws_get_info(socket: c_int, info: *mut ws_info, size: usize) -> c_int {
    guard::call(|| {
        if info.is_null() {
            return Err(Error::arg("info is NULL"));
        }
        if size < super::WS_INFO_SIZE_V1 {
            return Err(Error::arg(format!(
                "size {size} is smaller than the first release's ws_info ({} bytes; this library's is {})",
                super::WS_INFO_SIZE_V1,
                std::mem::size_of::<ws_info>()
            )));
        }
        let si = registry::get(socket)?.info();
        let ci = si.conn.unwrap_or_default();
        let mut out = ws_info {
            state: si.state as c_int,
            http_status: si.http_status as c_int,
            closed_by: ci.closed_by as c_int,
            close_code_sent: ci.code_sent as c_int,
            close_code_received: ci.code_rcvd as c_int,
            clean: ci.clean as c_int,
            reconnects: si.reconnects.min(c_int::MAX as u32) as c_int,
            reason_sent: [0; 124],
            reason_received: [0; 124],
            pings_sent: ci.pings_sent as i64,
            pongs_received: ci.pongs_rcvd as i64,
            last_rtt_us: ci.last_rtt_us,
            messages_sent: ci.msgs_out as i64,
            messages_received: ci.msgs_in as i64,
            bytes_sent: ci.bytes_out as i64,
            bytes_received: ci.bytes_in as i64,
            wire_bytes_sent: ci.wire_out as i64,
            wire_bytes_received: ci.wire_in as i64,
            compression: ci.deflate.is_some() as c_int,
            client_max_window_bits: ci.deflate.map_or(0, |a| a.client_max_window_bits as c_int),
            server_max_window_bits: ci.deflate.map_or(0, |a| a.server_max_window_bits as c_int),
            client_no_context_takeover: ci.deflate.is_some_and(|a| a.client_no_context_takeover) as c_int,
            server_no_context_takeover: ci.deflate.is_some_and(|a| a.server_no_context_takeover) as c_int,
        };
        copy_reason(&mut out.reason_sent, &ci.reason_sent);
        copy_reason(&mut out.reason_received, &ci.reason_rcvd);
        let n = size.min(std::mem::size_of::<ws_info>());
        // SAFETY: info is non-NULL and the caller promises `size` writable
        // bytes; at most that many (and at most our struct) are copied, from
        // a fully initialised local (its padding bytes are copied as they
        // are, which C reads as unspecified padding).
        unsafe { std::ptr::copy_nonoverlapping((&out as *const ws_info).cast::<u8>(), info.cast::<u8>(), n) };
        Ok(WS_OK)
    })
}

// ---- failed upgrade readback --------------------------------------------------------

/// The HTTP status of the upgrade response that made this thread's last
/// call fail: after ws_open(), ws_reconnect() (blocking) or a ws_read() that
/// reports a failed background connect returned WS_ERROR because the server
/// refused the upgrade (WS_E_UPGRADE_REJECTED, e.g. 401 or 404) or answered
/// it wrongly (WS_E_BAD_ACCEPT, WS_E_HANDSHAKE with a complete HTTP head).
/// Also the status of an HTTP proxy's refused CONNECT (WS_E_PROXY_REFUSED,
/// e.g. 403; WS_E_PROXY_AUTH, 407).
///
/// Returns: the status (100..999); 0 when the last call succeeded or failed
/// for another reason (no HTTP response: DNS, TCP, TLS, a timeout, ...).
/// Per thread, like ws_last_error(): set by the failing call, cleared by
/// every ws_* call on this thread other than ws_last_error(),
/// ws_last_error_code(), ws_last_http_status() and
/// ws_last_response_headers(), which leave it as it is.
/// Threads: any thread; does not block.
#[unsafe(no_mangle)]
pub extern "C" fn ws_last_http_status() -> c_int {
    error::last_http_status() as c_int
}

/// The header lines of that refused upgrade response, as "Name: value\r\n"
/// lines in the order the server sent them, repeated names included (as
/// ws_response_headers() for an open socket), e.g. to read WWW-Authenticate
/// after a 401 or Location after a redirect.
///
/// Returns: never NULL; "" when ws_last_http_status() is 0. The string is
/// owned by the library and stays valid until the next ws_* call on this
/// thread other than ws_last_error(), ws_last_error_code(),
/// ws_last_http_status() and ws_last_response_headers(), which leave it as
/// it is.
#[unsafe(no_mangle)]
pub extern "C" fn ws_last_response_headers() -> *const c_char {
    error::last_http_headers_ptr()
}
