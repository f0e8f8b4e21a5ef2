//! Event queues and callbacks: ws_queue_create, ws_next_event,
//! ws_queue_set_callback, ws_queue_destroy.

use super::*;

// ---- events ---------------------------------------------------------------------------

/// Create an event queue for single-threaded hosts (a Lua or CTRL
/// interpreter draining events on its own thread).
///
/// A socket opened with the option `"queue": Q` (ws_open or ws_open_async)
/// delivers everything as events into Q, in order per socket: WS_EV_OPEN,
/// messages in arrival order, pongs, WS_EV_ERROR, and a final WS_EV_CLOSE
/// after which nothing more comes for that socket (unless "autoReconnect"
/// schedules a WS_EV_RECONNECTING and a new WS_EV_OPEN). Such sockets are
/// read by the library's background thread: ws_read() on them fails with
/// WS_E_INVALID_ARGUMENT; ws_write(), ws_ping() and ws_close() work as usual.
/// Nothing is dropped when the host drains slowly: beyond 64 MiB of events
/// waiting (the memory they hold), or being delivered to a callback that
/// has not returned, the library stops reading those sockets and TCP
/// pushes back.
///
/// Returns: a queue number > 0; WS_ERROR (-1). Threads: any thread.
#[unsafe(no_mangle)]
pub extern "C" fn ws_queue_create() -> c_int {
    guard::call(events::create)
}

/// Destroy an event queue: waiting events are discarded, a thread blocked in
/// ws_next_event() on it returns WS_ERROR, and sockets still delivering to it
/// drop their events (close them first). Events lent by ws_next_event() are
/// freed. As with ws_queue_set_callback(NULL), when it returns no call of the
/// queue's callback is running or will start (unless called from inside that
/// callback).
///
/// Returns: WS_OK (0); WS_ERROR (-1, WS_E_BAD_SOCKET for an unknown queue).
#[unsafe(no_mangle)]
pub extern "C" fn ws_queue_destroy(queue: c_int) -> c_int {
    guard::call(|| {
        events::destroy(queue)?;
        Ok(WS_OK)
    })
}

pub(crate) fn event_to_c(ev: &Ev) -> ws_event {
    ws_event {
        r#type: ev.kind as c_int,
        socket: ev.socket,
        msg_type: ev.msg_type,
        code: ev.code,
        error: ev.error,
        closed_by: ev.closed_by as c_int,
        clean: ev.clean as c_int,
        data: ev.data.as_ptr().cast(),
        len: ev.len,
        rtt_us: ev.rtt_us,
        delay_ms: ev.delay_ms,
        time_us: ev.time_us.min(i64::MAX as u64) as i64,
    }
}

/// Wait for the next event on a queue.
///
/// `timeout_ms`: < 0 waits forever, 0 polls, a positive value is a deadline.
/// On WS_OK the event is written to `*event`; its `data` stays valid until
/// the calling thread's next ws_next_event() on this queue, or the queue's
/// destruction (each consuming thread has its own lent event: another
/// thread's call never frees it).
///
/// Returns: WS_OK (0); WS_TIMEOUT (-2, WS_E_TIMEOUT) when no event came;
/// WS_ERROR (-1): WS_E_BAD_SOCKET (unknown or destroyed queue),
/// WS_E_INVALID_ARGUMENT (event NULL, or the queue has a callback).
/// Threads: one consumer per queue is the intended use; several are safe
/// (each event goes to one of them).
#[unsafe(no_mangle)]
pub extern "C" fn ws_next_event(queue: c_int, event: *mut ws_event, timeout_ms: c_int) -> c_int {
    guard::call(|| {
        if event.is_null() {
            return Err(Error::arg("event is NULL"));
        }
        let q = events::get(queue)?;
        let got = q.next(timeout(timeout_ms), |ev| {
            // SAFETY: event checked non-NULL; the caller provides a ws_event.
            unsafe { event.write(event_to_c(ev)) };
        })?;
        if got {
            Ok(WS_OK)
        } else {
            Err(Error::new(Code::Timeout, format!("no event on queue {queue} within {timeout_ms} ms")))
        }
    })
}

/// Deliver a queue's events to a callback instead of ws_next_event().
///
/// `cb(event, user)` is called for each event, in order, on one library
/// thread ("wsclient-callbacks", the same for all queues), never from inside
/// a ws_* call of the program. It may call any ws_* function, including
/// ws_write() and ws_close() on the socket the event is about; while it runs,
/// later events wait. The event and its data are valid until it returns.
/// Events already waiting in the queue are delivered to the callback. NULL
/// `cb` switches back to ws_next_event(): events not yet handed to the
/// callback stay in the queue for it. `user` is passed back untouched.
///
/// Quiescence: when this function returns, no call of the previous callback
/// (with its `user`) is running or will start, so the host may free what
/// `user` points to. It waits for a call in progress to return. Called from
/// inside that callback (on the callback thread), it cannot wait for
/// itself: the running call is the caller's own, and no further call starts
/// after it returns. Do not call it while holding a lock that the callback
/// takes (the wait would never end, as with pthread_join). The byte limit
/// of ws_queue_create() counts events until their callback has returned.
///
/// Returns: WS_OK (0); WS_ERROR (-1): WS_E_BAD_SOCKET for an unknown or
/// destroyed queue, WS_E_INTERNAL when the callback thread cannot be
/// started (the events stay queued).
/// Threads: any thread.
#[unsafe(no_mangle)]
pub extern "C" fn ws_queue_set_callback(queue: c_int, cb: ws_callback, user: *mut c_void) -> c_int {
    guard::call(|| {
        let user = user as usize;
        let cb = cb.map(|f| -> events::Callback {
            Arc::new(move |ev: &Ev| {
                let c = event_to_c(ev);
                f(&c, user as *mut c_void)
            })
        });
        events::set_callback(queue, cb)?;
        Ok(WS_OK)
    })
}
