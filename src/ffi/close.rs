//! Closing: ws_close, ws_close_many, ws_cleanup.

use super::*;

// ---- closing ----------------------------------------------------------------------

/// Close the connection and release the socket number (WinCC OA `webSocketClose`).
///
/// `code`: 0 means 1000 (normal closure); otherwise 1000-1003, 1007-1013 or
/// 3000-4999. `reason`: NULL or a UTF-8 string of at most 123 bytes. Invalid
/// code or reason: WS_ERROR with WS_E_INVALID_ARGUMENT, and the socket stays
/// open.
///
/// Sends a close frame (unless one was already sent, e.g. as the answer to
/// the server's), waits up to "closeTimeout" (default 1000 ms) for the
/// server's close frame and for the server to close TCP, then shuts the
/// socket down and frees everything. Messages arriving meanwhile are
/// discarded. The socket number is released in every case, also when the
/// connection had failed or the handshake times out; using it afterwards
/// gives WS_E_BAD_SOCKET.
///
/// Returns: WS_OK (0); WS_ERROR (-1) for a bad socket number or argument.
/// Errors: WS_E_BAD_SOCKET, WS_E_INVALID_ARGUMENT.
/// Blocking: at most "closeTimeout" plus a moment.
/// Threads: any thread. A ws_read() blocked on the same socket in another
/// thread returns WS_CLOSED or WS_ERROR when the close completes or times
/// out; a ws_write() blocked on it returns WS_ERROR. A second ws_close() of
/// the same number gets WS_E_BAD_SOCKET.
/// Ownership: pointers from ws_read() on this socket become invalid.
#[unsafe(no_mangle)]
pub extern "C" fn ws_close(socket: c_int, code: c_int, reason: *const c_char) -> c_int {
    guard::call(|| {
        let (code, reason) = close_args(code, reason)?;
        let sock = registry::remove(socket)?;
        let conn = sock.close_begin(code, reason);
        let deadline = Instant::now() + conn.as_ref().map_or(Duration::ZERO, |c| c.close_timeout());
        sock.close_finish(conn, deadline);
        Ok(WS_OK)
    })
}

/// Checks a close code and reason as ws_close() takes them.
fn close_args<'a>(code: c_int, reason: *const c_char) -> Result<(u16, &'a str)> {
    let code = match code {
        0 => 1000u16,
        c => match u16::try_from(c) {
            Ok(c) if proto::close_code_allowed(c) => c,
            _ => {
                return Err(Error::arg(format!(
                    "close code {c} is not allowed (use 0 or 1000-1003, 1007-1013, 3000-4999)"
                )))
            }
        },
    };
    let reason = opt_str(reason, "reason")?.unwrap_or("");
    if reason.len() > WS_MAX_CLOSE_REASON as usize {
        return Err(Error::arg(format!("close reason is {} bytes, at most 123 are allowed", reason.len())));
    }
    Ok((code, reason))
}

/// Closes sockets all at once: every closing handshake runs in parallel,
/// bounded by one deadline per socket. Returns how many were closed.
fn close_all(socks: &[Arc<Socket>], code: u16, reason: &str, budget: Option<Duration>) {
    let start = Instant::now();
    let begun: Vec<_> = socks.iter().map(|s| (s, s.close_begin(code, reason))).collect();
    for (s, conn) in begun {
        let own = conn.as_ref().map_or(Duration::ZERO, |c| c.close_timeout());
        let limit = budget.map_or(own, |b| b.min(own));
        s.close_finish(conn, start + limit);
    }
}

/// Close several sockets at once, within one time budget (a host shutting
/// down: a Lua state or a Python interpreter closing every client it has).
///
/// Each listed socket is closed as ws_close() would, but the closing
/// handshakes run in parallel: every close frame is sent first, then the
/// library waits for the servers' answers together. `timeout_ms` >= 0 bounds
/// the whole call (each socket's "closeTimeout" still applies if shorter);
/// < 0 lets each socket wait its own "closeTimeout", in parallel. `code`
/// and `reason` as ws_close(), for all of them.
///
/// `sockets` may be NULL when `count` is 0. Numbers that are not open (or
/// listed twice) are skipped: the others are still closed and released.
///
/// Returns: WS_OK (0) when every listed number was open and is now closed;
/// WS_ERROR (-1): WS_E_INVALID_ARGUMENT (bad code, reason or array: nothing
/// is closed), WS_E_BAD_SOCKET (some numbers were not open; the message
/// says how many and the first; all the open ones were closed).
/// Blocking: at most `timeout_ms` (or the longest "closeTimeout") plus a
/// moment. Threads: any thread. Ownership: `sockets` is read during the
/// call only; pointers from ws_read() on the closed sockets become invalid.
#[unsafe(no_mangle)]
pub extern "C" fn ws_close_many(
    sockets: *const c_int,
    count: usize,
    code: c_int,
    reason: *const c_char,
    timeout_ms: c_int,
) -> c_int {
    guard::call(|| {
        let (code, reason) = close_args(code, reason)?;
        if count > (isize::MAX as usize) / std::mem::size_of::<c_int>() {
            return Err(Error::arg(format!("count {count} is too large")));
        }
        let ids: &[c_int] = if count == 0 {
            &[]
        } else if sockets.is_null() {
            return Err(Error::arg(format!("sockets is NULL but count is {count}")));
        } else {
            // SAFETY: the caller passes `count` readable ints at `sockets`.
            unsafe { std::slice::from_raw_parts(sockets, count) }
        };
        let mut socks = Vec::with_capacity(ids.len());
        let mut bad: Option<(usize, Error)> = None;
        for &id in ids {
            match registry::remove(id) {
                Ok(s) => socks.push(s),
                Err(e) => {
                    let n = bad.as_ref().map_or(0, |b| b.0);
                    bad = Some((n + 1, bad.map_or(e, |b| b.1)));
                }
            }
        }
        close_all(&socks, code, reason, timeout(timeout_ms));
        match bad {
            None => Ok(WS_OK),
            Some((n, e)) => Err(Error::new(
                Code::BadSocket,
                format!("{n} of {count} socket numbers were not open (the others are closed); first: {}", e.msg),
            )),
        }
    })
}

/// Release everything the library holds, so that it can be unloaded
/// (dlclose, FreeLibrary) or the process can end without background
/// threads (libcurl's curl_global_cleanup is the model).
///
/// Closes every open socket as ws_close_many() with code 1001 (Going
/// Away) would, destroys every event queue (as ws_queue_destroy()), then
/// stops the library's background threads (the reactor, the callback
/// thread, the connection threads) and waits for them to exit. Connection
/// attempts that have not started are dropped; one running in DNS or TCP
/// connect ends on its own ("timeout" option, or the system's limits).
/// `timeout_ms` >= 0 bounds the whole call; < 0 waits as long as needed.
/// The library can be used again afterwards: the next call starts afresh.
///
/// Precondition: no other thread is inside a ws_* call, and none enters
/// one until this returns (as with curl_global_cleanup). Not from inside a
/// callback (WS_E_INVALID_ARGUMENT).
///
/// Returns: WS_OK (0) when every library thread has exited (unloading is
/// then safe); WS_TIMEOUT (-2, WS_E_TIMEOUT) when a connection attempt was
/// still running on a library thread at the deadline (unloading is not
/// safe yet: call again); WS_ERROR (-1, WS_E_INVALID_ARGUMENT).
#[unsafe(no_mangle)]
pub extern "C" fn ws_cleanup(timeout_ms: c_int) -> c_int {
    guard::call(|| {
        if events::on_callback_thread() {
            return Err(Error::arg("ws_cleanup cannot be called from inside a callback"));
        }
        let budget = timeout(timeout_ms);
        let start = Instant::now();
        let socks: Vec<Arc<Socket>> = registry::remove_all().into_iter().map(|(_, s)| s).collect();
        close_all(&socks, 1001, "", budget);
        drop(socks);
        // connection attempts first: one that ends now still reaches for the
        // background thread (and finds its socket closed)
        let deadline = budget.map(|b| start + b);
        let pool_done = crate::pool::stop(deadline.unwrap_or_else(|| start + Duration::from_secs(86400 * 365)));
        events::destroy_all();
        events::stop_dispatch();
        crate::reactor::stop();
        if !pool_done {
            return Err(Error::new(
                Code::Timeout,
                format!(
                    "ws_cleanup: a connection attempt was still running after {timeout_ms} ms; unloading the library is not safe yet"
                ),
            ));
        }
        Ok(WS_OK)
    })
}
