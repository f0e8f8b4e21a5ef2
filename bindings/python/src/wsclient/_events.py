"""The event API: EventQueue (ws_queue_create / ws_next_event /
ws_queue_destroy / ws_queue_set_callback) and Event."""

from __future__ import annotations

import ctypes
import enum
import sys
import threading
import traceback
from dataclasses import dataclass
from typing import Any, Callable, Iterator, List, Optional, Union

from . import _lib
from ._errors import raise_last
from ._lib import lib
from ._websocket import ClosedBy, WebSocket


class EventType(enum.IntEnum):
    """WS_EV_*."""

    OPEN = _lib.WS_EV_OPEN
    MESSAGE = _lib.WS_EV_MESSAGE
    PONG = _lib.WS_EV_PONG
    ERROR = _lib.WS_EV_ERROR
    CLOSE = _lib.WS_EV_CLOSE
    RECONNECTING = _lib.WS_EV_RECONNECTING


@dataclass(frozen=True)
class Event:
    """One event of a socket opened with ``queue=``.

    ``data`` depends on ``type``: MESSAGE: ``str`` (text) or ``bytes``
    (binary); PONG: ``bytes`` (the payload); ERROR: ``str`` (the message);
    CLOSE: ``str`` (the server's close reason); OPEN, RECONNECTING: ``""``.

    ``code``: OPEN: HTTP status; ERROR: WS_E_* code; CLOSE: the close code
    the server sent (1005 none, 1006 no close frame, 0 no connection was
    made); RECONNECTING: the attempt number. ``error`` (CLOSE): WS_E_* code of
    the failure that ended the connection, 0 if none.
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

    @property
    def is_text(self) -> bool:
        return self.type == EventType.MESSAGE and self.msg_type == _lib.WS_TEXT

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
    """Copies everything out of the lent C event."""
    payload = ctypes.string_at(raw.data, raw.len) if raw.len else b""
    kind = EventType(raw.type)
    data: Union[str, bytes]
    if kind == EventType.MESSAGE:
        data = payload.decode("utf-8") if raw.msg_type == _lib.WS_TEXT else payload
    elif kind == EventType.PONG:
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
        closed_by=ClosedBy(raw.closed_by),
        clean=bool(raw.clean),
        rtt_us=raw.rtt_us,
        delay_ms=raw.delay_ms,
        time_us=raw.time_us,
    )


# C callbacks handed to the library are kept for the life of the process: the
# library's callback thread may still be running one after the queue was
# switched back or destroyed, and freeing its trampoline then would crash.
_KEEP_CALLBACKS: List[Any] = []


class EventQueue:
    """An event queue: sockets opened with ``queue=q`` (or ``q.open(url)``)
    deliver OPEN, MESSAGE, PONG, ERROR, CLOSE and RECONNECTING events into it,
    in order per socket; a consumer takes them with :meth:`next_event` (or
    iteration), or :meth:`set_callback` has the library's callback thread
    deliver them.

    Nothing is dropped when the consumer is slow (above 64 MiB of waiting
    payload the library stops reading those sockets). Close the sockets before
    the queue.
    """

    def __init__(self) -> None:
        q = lib.ws_queue_create()
        if q < 0:
            raise_last(q)
        self._q = q
        self._lock = threading.Lock()
        self._destroyed = False

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
        one (None: wait forever, 0: only what is waiting)."""
        ms = _lib.timeout_ms(timeout)
        # The C event's data is lent until the next ws_next_event on this
        # queue: it is copied out under this lock so that two consuming
        # threads cannot invalidate each other's event.
        with self._lock:
            raw = _lib.WsEvent()
            rc = lib.ws_next_event(self._q, ctypes.byref(raw), ms)
            if rc == _lib.WS_OK:
                return _convert(raw)
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
        """Yield events forever (until the queue is destroyed)."""
        while True:
            ev = self.next_event(None)
            if ev is not None:
                yield ev

    def set_callback(self, fn: Optional[Callable[[Event], None]]) -> None:
        """Deliver events to ``fn(event)`` on the library's callback thread
        instead of :meth:`next_event` (None switches back). ``fn`` may call
        any method, including send() and close() of the socket concerned; an
        exception it raises is printed to stderr and the next event follows.
        """
        if fn is None:
            cb = _lib.WS_CALLBACK()
        else:

            def trampoline(ev_ptr: Any, _user: Any) -> None:
                try:
                    fn(_convert(ev_ptr.contents))
                except BaseException:  # noqa: BLE001 - nothing can propagate into C
                    print("wsclient: exception in event callback:", file=sys.stderr)
                    traceback.print_exc()

            cb = _lib.WS_CALLBACK(trampoline)
            _KEEP_CALLBACKS.append(cb)
        rc = lib.ws_queue_set_callback(self._q, cb, None)
        if rc != _lib.WS_OK:
            raise_last(rc)

    def close(self) -> None:
        """Destroy the queue (``ws_queue_destroy``): waiting events are
        discarded; a thread blocked in next_event() gets BadSocket.
        Idempotent."""
        if self._destroyed:
            return
        self._destroyed = True
        rc = lib.ws_queue_destroy(self._q)
        if rc != _lib.WS_OK:
            raise_last(rc)

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
