"""The event API: EventQueue (ws_queue_create / ws_next_event /
ws_queue_destroy / ws_queue_set_callback) and Event."""

from __future__ import annotations

import atexit
import ctypes
import enum
import sys
import threading
import traceback
import weakref
from dataclasses import dataclass
from typing import Any, Callable, Iterator, List, Optional, Union

from . import _lib
from . import _websocket
from ._errors import BadSocket, make_error, raise_last
from ._lib import lib
from ._websocket import ClosedBy, WebSocket, _enum


class EventType(enum.IntEnum):
    """WS_EV_*."""

    OPEN = _lib.WS_EV_OPEN
    MESSAGE = _lib.WS_EV_MESSAGE
    PONG = _lib.WS_EV_PONG
    ERROR = _lib.WS_EV_ERROR
    CLOSE = _lib.WS_EV_CLOSE
    RECONNECTING = _lib.WS_EV_RECONNECTING
    #: A piece of a message (sockets opened with ``stream_receive=True``):
    #: :attr:`Event.offset`, :attr:`Event.last`.
    MESSAGE_PART = _lib.WS_EV_MESSAGE_PART
    #: An event type this version of the binding does not know (a newer
    #: library); :attr:`Event.raw_type` holds its number, ``data`` the
    #: payload as bytes.
    UNKNOWN = 0


@dataclass(frozen=True)
class Event:
    """One event of a socket opened with ``queue=``.

    ``data`` depends on ``type``: MESSAGE: ``str`` (text) or ``bytes``
    (binary); MESSAGE_PART: the piece, ``str`` (text; each piece is valid
    UTF-8 on its own) or ``bytes``, with ``offset`` (where it starts in its
    message, in bytes) and ``last`` (it ends the message); PONG: ``bytes`` (the payload); ERROR: ``str`` (the message);
    CLOSE: ``str`` (the server's close reason); OPEN, RECONNECTING: ``""``.

    ``code``: OPEN: HTTP status; ERROR: WS_E_* code; CLOSE: the close code
    the server sent (1005 none, 1006 no close frame, 0 no connection was
    made); RECONNECTING: the attempt number. ``error`` (CLOSE): WS_E_* code of
    the failure that ended the connection, 0 if none.

    An event type or ``closed_by`` value that this binding does not know (a
    newer library) is still delivered: as ``EventType.UNKNOWN`` (its number
    in ``raw_type``, its payload as bytes) and ``ClosedBy.UNKNOWN``.
    """

    type: EventType
    socket: int
    data: Union[str, bytes]
    msg_type: int = 0
    code: int = 0
    error: int = 0
    closed_by: ClosedBy = ClosedBy.NONE
    clean: bool = False
    rtt_us: int = -1
    delay_ms: int = 0
    time_us: int = 0
    #: The library's WS_EV_* number (differs from ``type`` only for UNKNOWN).
    raw_type: int = 0
    #: MESSAGE_PART: the piece's offset in its message, in bytes.
    offset: int = 0
    #: MESSAGE_PART: True when the piece ends its message.
    last: bool = False

    @property
    def is_text(self) -> bool:
        """MESSAGE, MESSAGE_PART: the message is text."""
        return self.type in (EventType.MESSAGE, EventType.MESSAGE_PART) and self.msg_type == _lib.WS_TEXT

    @property
    def rtt(self) -> Optional[float]:
        """PONG: round trip of the matching ping in seconds (None: unsolicited)."""
        return None if self.rtt_us < 0 else self.rtt_us / 1e6

    @property
    def delay(self) -> float:
        """RECONNECTING: backoff before the attempt, in seconds."""
        return self.delay_ms / 1000.0

    @property
    def error_name(self) -> str:
        """ERROR: name of ``code``; CLOSE: name of ``error``; else "WS_E_OK"."""
        if self.type == EventType.ERROR:
            return _lib.error_name(self.code)
        if self.type == EventType.CLOSE:
            return _lib.error_name(self.error)
        return "WS_E_OK"


def _convert(raw: _lib.WsEvent) -> Event:
    """Copies everything out of the lent C event. Never raises for values
    this binding does not know: the event is already taken from the queue,
    and raising would lose it."""
    payload = ctypes.string_at(raw.data, raw.len) if raw.len and raw.data else b""
    kind = _enum(EventType, raw.type, EventType.UNKNOWN)
    data: Union[str, bytes]
    offset, last = 0, False
    if kind in (EventType.MESSAGE, EventType.MESSAGE_PART):
        data = payload.decode("utf-8", "surrogateescape") if raw.msg_type == _lib.WS_TEXT else payload
        if kind == EventType.MESSAGE_PART:
            offset, last = raw.rtt_us, raw.code == 1
    elif kind in (EventType.PONG, EventType.UNKNOWN):
        data = payload
    else:
        data = payload.decode("utf-8", "replace")
    return Event(
        type=kind,
        socket=raw.socket,
        data=data,
        msg_type=raw.msg_type,
        code=raw.code,
        error=raw.error,
        closed_by=_enum(ClosedBy, raw.closed_by, ClosedBy.UNKNOWN),
        clean=bool(raw.clean),
        rtt_us=raw.rtt_us,
        delay_ms=raw.delay_ms,
        time_us=raw.time_us,
        raw_type=raw.type,
        offset=offset,
        last=last,
    )


# --- callbacks -------------------------------------------------------------------------
#
# A callback (the ctypes trampoline, a C function pointer) is kept alive
# exactly as long as the library may call it: from ws_queue_set_callback
# until a later ws_queue_set_callback or ws_queue_destroy of that queue has
# returned. After such a call returns, the library guarantees that no call of
# the old callback starts and a running one has finished (callback
# quiescence), except when the call was made from inside a callback: then
# the running trampoline is the caller's own frame, so it is parked in
# _RETIRED and released when the next callback starts (the library has one
# callback thread, so by then the earlier call has returned).
#
# At interpreter exit (_shutdown, an atexit hook) every queue with a callback
# is switched back before the interpreter starts finalising, so no callback
# ever enters Python while it does (the library's callback thread would be
# killed inside the library otherwise: abort, "FATAL: exception not
# rethrown"). ctypes.CDLL releases the GIL for every library call, so
# waiting there for a running callback (which needs the GIL) cannot deadlock.

_RETIRED: List[Any] = []
_RETIRED_LOCK = threading.Lock()
_in_callback = threading.local()
# Trampolines running Python code now; the exit hook waits for 0. (Once the
# Python part has returned, the thread does not take the GIL again for that
# call, so finalisation can no longer catch it in the library.)
_active = 0
_active_cv = threading.Condition()
#: Queues that have (or may have) a callback, for the exit hook; weak, so a
#: forgotten queue is still collected (its __del__ destroys it).
_CALLBACK_QUEUES: "weakref.WeakSet[EventQueue]" = weakref.WeakSet()
_exiting = False


def _release(cbs: List[Any]) -> None:
    """Drop callbacks the library has stopped calling (see above)."""
    if not cbs:
        return
    if getattr(_in_callback, "active", False):
        with _RETIRED_LOCK:
            _RETIRED.extend(cbs)
    # otherwise the references simply go with `cbs`


def _trampoline_for(fn: Callable[[Event], None]) -> Any:
    def trampoline(ev_ptr: Any, _user: Any) -> None:
        global _active
        with _active_cv:
            _active += 1
        _in_callback.active = True
        try:
            if _RETIRED:
                with _RETIRED_LOCK:
                    del _RETIRED[:]
            fn(_convert(ev_ptr.contents))
        except BaseException:  # noqa: BLE001 - nothing can propagate into C
            try:
                print("wsclient: exception in event callback:", file=sys.stderr)
                traceback.print_exc()
            except BaseException:  # noqa: BLE001 - stderr gone
                pass
        finally:
            _in_callback.active = False
            with _active_cv:
                _active -= 1
                _active_cv.notify_all()

    return _lib.WS_CALLBACK(trampoline)


class EventQueue:
    """An event queue: sockets opened with ``queue=q`` (or ``q.open(url)``)
    deliver OPEN, MESSAGE (MESSAGE_PART with ``stream_receive=True``), PONG,
    ERROR, CLOSE and RECONNECTING events into it,
    in order per socket; a consumer takes them with :meth:`next_event` (or
    iteration), or :meth:`set_callback` has the library's callback thread
    deliver them.

    Nothing is dropped when the consumer is slow (above 64 MiB of waiting
    payload the library stops reading those sockets). Close the sockets before
    the queue.

    Threads: :meth:`next_event` may be called from several threads (each
    event goes to one of them; a timeout holds whatever the other consumers
    do); :meth:`close`
    from any thread wakes a blocked :meth:`next_event` (BadSocket) and waits
    for an event being converted, so an event is never read after the
    library freed it.
    """

    def __init__(self) -> None:
        q = lib.ws_queue_create()
        if q < 0:
            raise_last(q)
        self._q = q
        # held while an event is converted and while the queue is destroyed:
        # the data of an event taken from the queue stays valid until then
        self._data_lock = threading.Lock()
        self._destroyed = False
        # callbacks the library may be calling (see "callbacks" above)
        self._cb_lock = threading.Lock()
        self._cbs: List[Any] = []
        self._cb_calls = 0
        self._cb_overlap = False

    @property
    def number(self) -> int:
        """The library's queue number (the "queue" option)."""
        return self._q

    def open(self, url: str, **kwargs: Any) -> WebSocket:
        """``WebSocket.open_async(url, queue=self, **kwargs)``: connect in the
        background; the outcome arrives as OPEN, or ERROR then CLOSE."""
        return WebSocket.open_async(url, queue=self, **kwargs)

    def connect(self, url: str, **kwargs: Any) -> WebSocket:
        """``WebSocket(url, queue=self, **kwargs)``: connect now (blocking); an
        OPEN event is queued too."""
        return WebSocket(url, queue=self, **kwargs)

    def next_event(self, timeout: Optional[float] = None) -> Optional[Event]:
        """The next event, or None when ``timeout`` seconds passed without
        one (None: wait forever, 0: only what is waiting; negative: a
        ValueError, as in the socket module). After :meth:`close` (also one
        on another thread while this waits): :class:`BadSocket`."""
        ms = _lib.timeout_ms(timeout)
        # No lock around the wait: each consuming thread has its own lent
        # event in the library, so consumers cannot invalidate each other's,
        # and one waiting forever never holds up another's timeout.
        raw = _lib.WsEvent()
        rc = lib.ws_next_event(self._q, ctypes.byref(raw), ms)
        if rc == _lib.WS_OK:
            with self._data_lock:
                # close() may have destroyed the queue, and freed this
                # event's data, between the return and here
                if not self._destroyed:
                    return _convert(raw)
            raise BadSocket(_lib.WS_E_BAD_SOCKET, f"event queue {self._q} was destroyed by close()")
        if rc == _lib.WS_TIMEOUT:
            return None
        raise_last(rc)
        return None  # pragma: no cover

    def events(self, timeout: Optional[float] = None) -> Iterator[Event]:
        """Yield events until ``timeout`` seconds pass without one."""
        while True:
            ev = self.next_event(timeout)
            if ev is None:
                return
            yield ev

    def __iter__(self) -> Iterator[Event]:
        """Yield events until the queue is closed (by another thread, or by
        the loop's body)."""
        while True:
            try:
                ev = self.next_event(None)
            except BadSocket:
                if self._destroyed:
                    return
                raise
            if ev is not None:
                yield ev

    def set_callback(self, fn: Optional[Callable[[Event], None]]) -> None:
        """Deliver events to ``fn(event)`` on the library's callback thread
        instead of :meth:`next_event` (None switches back). ``fn`` may call
        any method, including send() and close() of the socket concerned and
        set_callback()/close() of this queue; an exception it raises is
        printed to stderr and the next event follows.

        When set_callback() returns (called from another thread than the
        callback's), the previous callback is not running and will not be
        called again. At interpreter exit every queue is switched back
        before the interpreter finalises; a callback that never returns
        then holds up the exit.
        """
        if fn is not None and not callable(fn):
            raise TypeError(f"callback must be callable or None, not {type(fn).__name__}")
        if fn is not None and _exiting:
            raise RuntimeError("wsclient: no new callbacks once the interpreter is exiting")
        new = _trampoline_for(fn) if fn is not None else None
        with self._cb_lock:
            if self._cb_calls:
                self._cb_overlap = True
            self._cb_calls += 1
            if new is not None:
                self._cbs.append(new)
                _CALLBACK_QUEUES.add(self)
        rc = lib.ws_queue_set_callback(self._q, new if new is not None else _lib.WS_CALLBACK(), None)
        err = _lib.last_error() if rc != _lib.WS_OK else None
        with self._cb_lock:
            self._cb_calls -= 1
            dropped: List[Any] = []
            if not self._cb_calls and not self._cb_overlap and (rc == _lib.WS_OK or self._destroyed):
                # this call's callback (or none) is the one registered now
                keep = [new] if (new is not None and rc == _lib.WS_OK) else []
                dropped = [c for c in self._cbs if c is not new or not keep]
                self._cbs = keep
            elif not self._cb_calls:
                # concurrent calls: which one the library applied last is not
                # known here, so all stay until the next lone call or close()
                self._cb_overlap = False
        _release(dropped)
        if err is not None:
            raise make_error(*err)

    def close(self) -> None:
        """Destroy the queue (``ws_queue_destroy``): waiting events are
        discarded; a thread blocked in next_event() gets BadSocket; a
        callback is not running and will not be called once this returns
        (unless called from the callback itself). Idempotent."""
        # Under the lock only the flag: once it is set (after a conversion in
        # progress has finished) no consumer converts an event again, so the
        # destroy that frees them can run without the lock. Holding it there
        # could deadlock: the destroy waits for a running callback, and that
        # callback may call close() too.
        with self._data_lock:
            if self._destroyed:
                return
            self._destroyed = True
        rc = lib.ws_queue_destroy(self._q)
        err = _lib.last_error() if rc != _lib.WS_OK else None
        with self._cb_lock:
            dropped, self._cbs = self._cbs, []
        _CALLBACK_QUEUES.discard(self)
        _release(dropped)
        if err is not None and err[0] != _lib.WS_E_BAD_SOCKET:
            raise make_error(*err)

    def _detach_at_exit(self) -> None:
        """Exit hook: stop callbacks, waiting for a running one (the
        callbacks stay referenced: the process is ending)."""
        if not self._destroyed:
            lib.ws_queue_set_callback(self._q, _lib.WS_CALLBACK(), None)

    def __enter__(self) -> "EventQueue":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        if not getattr(self, "_destroyed", True):
            try:
                self.close()
            except Exception:  # noqa: BLE001 - interpreter shutdown
                pass

    def __repr__(self) -> str:
        return f"<wsclient.EventQueue #{self._q}{' destroyed' if self._destroyed else ''}>"


def _shutdown() -> None:
    """Runs at interpreter exit (atexit, so while the interpreter still works
    and after the program's own atexit hooks registered later than this
    module's import): first every callback is detached (and any running one
    waited for), so no callback can enter Python once finalisation begins;
    then every socket still open is closed, all closing handshakes at once
    within each socket's closeTimeout (ws_close_many)."""
    global _exiting
    _exiting = True
    _websocket._exiting = True
    for q in list(_CALLBACK_QUEUES):
        try:
            q._detach_at_exit()
        except Exception:  # noqa: BLE001 - never fail the exit
            pass
    # A callback that detached its own queue from inside (the library does
    # not wait for that one) may still be running: let it finish. Called from
    # the callback thread itself (exit from inside a callback), it would wait
    # for itself.
    if not getattr(_in_callback, "active", False):
        with _active_cv:
            _active_cv.wait_for(lambda: _active == 0)
    try:
        _websocket.close_open_sockets()
    except Exception:  # noqa: BLE001
        pass


atexit.register(_shutdown)
