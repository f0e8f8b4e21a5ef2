"""The WebSocket class: one socket number of the C library."""

from __future__ import annotations

import ctypes
import enum
import math
import operator
import sys
import threading
import time
import warnings
import weakref
from dataclasses import dataclass
from typing import (
    TYPE_CHECKING,
    Any,
    Iterable,
    Iterator,
    List,
    Mapping,
    Optional,
    Tuple,
    Union,
)

from . import _lib
from ._errors import (
    BadSocket,
    ConnectionClosed,
    InvalidArgument,
    WebSocketError,
    make_error,
    parse_headers,
    raise_last,
)
from ._lib import lib
from ._options import Seconds, build_options

if TYPE_CHECKING:  # pragma: no cover
    from ._events import EventQueue

Message = Union[str, bytes]


class State(enum.IntEnum):
    """ws_state(): WS_STATE_*."""

    CONNECTING = _lib.WS_STATE_CONNECTING
    OPEN = _lib.WS_STATE_OPEN
    CLOSING = _lib.WS_STATE_CLOSING
    CLOSED = _lib.WS_STATE_CLOSED


class ClosedBy(enum.IntEnum):
    """Who started the closing: WS_BY_*."""

    NONE = _lib.WS_BY_NONE
    CLIENT = _lib.WS_BY_CLIENT
    SERVER = _lib.WS_BY_SERVER
    ERROR = _lib.WS_BY_ERROR
    #: A value this version of the binding does not know (a newer library).
    UNKNOWN = -1


@dataclass(frozen=True)
class Compression:
    """permessage-deflate as agreed with the server (``compression=``)."""

    client_max_window_bits: int
    server_max_window_bits: int
    client_no_context_takeover: bool
    server_no_context_takeover: bool


@dataclass(frozen=True)
class Info:
    """ws_get_info(): state, close details and statistics of a socket."""

    state: State
    http_status: int
    closed_by: ClosedBy
    close_code_sent: int
    close_code_received: int
    clean: bool
    reconnects: int
    reason_sent: str
    reason_received: str
    pings_sent: int
    pongs_received: int
    #: Round trip of the last answered ping in microseconds, -1 if none.
    last_rtt_us: int
    messages_sent: int
    messages_received: int
    bytes_sent: int
    bytes_received: int
    #: Payload bytes on the wire, after compression (equal to bytes_* without).
    wire_bytes_sent: int = 0
    wire_bytes_received: int = 0
    #: The agreed permessage-deflate parameters, None when not in effect.
    compression: Optional["Compression"] = None

    @property
    def last_rtt(self) -> Optional[float]:
        """Round trip of the last answered ping in seconds, None if none."""
        return None if self.last_rtt_us < 0 else self.last_rtt_us / 1e6


def _enum(cls: Any, value: int, fallback: Any) -> Any:
    """`cls(value)`, or `fallback` for a number this binding does not know
    (a newer library may add values; that must not make a call fail)."""
    try:
        return cls(value)
    except ValueError:
        return fallback


# --- receive buffers -----------------------------------------------------------
#
# recv() has the library copy each message into memory owned by this binding
# (ws_read_into), never reading what ws_read would lend: a lent pointer dies
# with the next read, close() or reconnect() on any thread.

_SMALL = 64 * 1024
_tls = threading.local()


def _small_buffer() -> Any:
    """This thread's buffer for messages up to _SMALL bytes (one per thread:
    recv() on different threads never share one)."""
    b = getattr(_tls, "buf", None)
    if b is None:
        b = _tls.buf = ctypes.create_string_buffer(_SMALL)
    return b


def _pyapi() -> Any:
    api = getattr(ctypes, "pythonapi", None)
    if api is None or sys.implementation.name != "cpython":
        return None
    try:
        new = api.PyBytes_FromStringAndSize
        data = api.PyBytes_AsString
    except AttributeError:
        return None
    new.restype, new.argtypes = ctypes.py_object, [ctypes.c_void_p, ctypes.c_ssize_t]
    data.restype, data.argtypes = ctypes.c_void_p, [ctypes.py_object]
    return new, data


# CPython: a bytes object of the message's size, allocated uninitialised and
# filled by the library before anything else can see it (the C API's own
# PyBytes_FromStringAndSize(NULL, n) idiom), so a large binary message is
# copied once, as with ws_read. Elsewhere a bytearray and one more copy.
_PYAPI = _pyapi()


def _new_bytes(size: int) -> Tuple[Any, int]:
    """(object, address of its `size` writable bytes)."""
    if _PYAPI is not None:
        obj = _PYAPI[0](None, size)
        return obj, _PYAPI[1](obj)
    arr = bytearray(size)
    return arr, ctypes.addressof((ctypes.c_char * size).from_buffer(arr)) if size else 0


def _finish_bytes(obj: Any, size: int) -> bytes:
    if isinstance(obj, bytes):
        return obj if len(obj) == size else obj[:size]
    return bytes(memoryview(obj)[:size])


# --- sockets open at exit ---------------------------------------------------------

#: Every WebSocket whose number is not yet released, weakly: a forgotten one
#: must still be garbage-collectable (its __del__ closes it).
_OPEN: "weakref.WeakSet[WebSocket]" = weakref.WeakSet()
_OPEN_LOCK = threading.Lock()
#: Set by the exit hook (_shutdown): from then on a forgotten socket is
#: closed without waiting for the server.
_exiting = False


def _to_bytes(data: Any, what: str) -> bytes:
    if isinstance(data, bytes):
        return data
    if isinstance(data, (bytearray, memoryview)):
        return bytes(data)
    raise TypeError(f"{what} must be str or bytes-like, not {type(data).__name__}")


class WebSocket:
    """A WebSocket connection (one socket number of the C library).

    ``WebSocket(url, **options)`` connects at once and blocks until the
    connection is open or fails (``ws_open``); ``WebSocket.open_async(...)``
    returns at once and connects in the background (``ws_open_async``).

    Options (all keyword-only, all optional; durations in **seconds**, as
    int, float or ``datetime.timedelta``, converted to the library's
    milliseconds rounding up):

    - ``headers``: mapping (or pairs) of extra upgrade request headers.
    - ``timeout``: limit for the whole connection attempt (default: none).
    - ``subprotocols``: protocols offered; see :attr:`subprotocol`.
    - ``max_message_size``: largest message accepted, in bytes (64 MiB);
      with ``stream_receive`` it bounds the whole streamed message and 0
      means no limit.
    - ``stream_receive``: True: messages are never held whole; they are
      read only in pieces with :meth:`recv_stream` (or arrive as
      MESSAGE_PART events with a ``queue``), so a message of any size is
      received in bounded memory; :meth:`recv` raises InvalidArgument.
    - ``ping_interval``: keepalive ping after this much silence (30 s; 0: off).
    - ``pong_timeout``: fail when nothing arrives this long after it (10 s).
    - ``send_timeout``: limit for one send/flush (default: none).
    - ``close_timeout``: how long close() waits for the server (1 s).
    - ``send_buffer_limit``: bytes queued before send() waits (4 MiB).
    - ``tcp_nodelay``: TCP_NODELAY (True).
    - ``busy_poll``: how long a waiting :meth:`recv` (and open/close) retries
      without sleeping first, e.g. ``50e-6``: lower latency for one busy
      CPU (default 0: off; the library's "busyPoll" in microseconds).
    - ``auto_reconnect``: True, or a dict with ``initial_delay``,
      ``max_delay`` (seconds) and ``max_attempts``: reconnect with backoff
      after a failure (RECONNECTING events with a queue; :meth:`recv` waits
      while a reconnect is pending).
    - ``queue``: an :class:`EventQueue`; the socket then delivers everything
      as events and :meth:`recv` cannot be used.
    - TLS (``wss://``): ``ignore_ssl_errors`` (True, or a list of error
      classes such as ``["SelfSignedCertificate"]``), ``ssl_config`` (client
      certificate dict, WinCC's "sslConfig"), ``ca_certificates`` (PEM text
      or list), ``ca_certificates_file`` (path or list),
      ``ca_certificates_only``, ``pinned_sha256`` (hex digest or list),
      ``tls_min_version`` ("1.2" or "1.3"): passed through as the library's
      "ignoreSslErrors", "sslConfig", ... (see ws_open in wsclient.h).
    - ``proxy``: "http://[user:pass@]host:port", "https://...", "socks5://..."
      or "socks5h://..."; "" or False for a direct connection; None (default):
      the environment (https_proxy, all_proxy, no_proxy, ... as curl reads it).
    - ``options``: a dict passed to the library as given (C names,
      milliseconds), merged last: anything not listed above, so no library
      option is ever out of reach.

    Threads: every method may be called from any thread; the GIL is released
    while the library works, so one thread can :meth:`send` while another is
    blocked in :meth:`recv`, and :meth:`close` from another thread wakes a
    blocked :meth:`recv`.
    """

    _sock: int = 0

    def __init__(
        self,
        url: str,
        *,
        headers: Optional[Union[Mapping[str, str], Iterable[Tuple[str, str]]]] = None,
        timeout: Optional[Seconds] = None,
        subprotocols: Optional[Iterable[str]] = None,
        max_message_size: Optional[int] = None,
        ping_interval: Optional[Seconds] = None,
        pong_timeout: Optional[Seconds] = None,
        send_timeout: Optional[Seconds] = None,
        close_timeout: Optional[Seconds] = None,
        send_buffer_limit: Optional[int] = None,
        tcp_nodelay: Optional[bool] = None,
        busy_poll: Optional[Seconds] = None,
        stream_receive: Optional[bool] = None,
        auto_reconnect: Any = None,
        compression: Any = None,
        queue: "Optional[EventQueue]" = None,
        ignore_ssl_errors: Any = None,
        ssl_config: Optional[Mapping[str, Any]] = None,
        ca_certificates: Any = None,
        ca_certificates_file: Any = None,
        ca_certificates_only: Optional[bool] = None,
        pinned_sha256: Any = None,
        tls_min_version: Optional[str] = None,
        proxy: Union[str, bool, None] = None,
        options: Optional[Mapping[str, Any]] = None,
    ) -> None:
        opts = build_options(
            headers=headers,
            timeout=timeout,
            subprotocols=subprotocols,
            max_message_size=max_message_size,
            ping_interval=ping_interval,
            pong_timeout=pong_timeout,
            send_timeout=send_timeout,
            close_timeout=close_timeout,
            send_buffer_limit=send_buffer_limit,
            tcp_nodelay=tcp_nodelay,
            busy_poll=busy_poll,
            stream_receive=stream_receive,
            auto_reconnect=auto_reconnect,
            compression=compression,
            queue=None if queue is None else queue.number,
            ignore_ssl_errors=ignore_ssl_errors,
            ssl_config=ssl_config,
            ca_certificates=ca_certificates,
            ca_certificates_file=ca_certificates_file,
            ca_certificates_only=ca_certificates_only,
            pinned_sha256=pinned_sha256,
            tls_min_version=tls_min_version,
            proxy=proxy,
            options=options,
        )
        self._setup(url, queue)
        rc = lib.ws_open(_url_bytes(url), None if opts is None else opts.encode("utf-8"))
        if rc < 0:
            raise_last(rc)
        self._sock = rc
        with _OPEN_LOCK:
            _OPEN.add(self)

    @classmethod
    def open_async(cls, url: str, **kwargs: Any) -> "WebSocket":
        """Start connecting in the background and return at once
        (``ws_open_async``); takes the same keyword arguments as the
        constructor.

        URL and options are checked now (a bad one raises here). With a
        ``queue`` the outcome arrives as events: OPEN, or ERROR then CLOSE.
        Without one, :meth:`recv` waits for the connection (within its
        timeout) and raises the connection error if it failed; :meth:`send`
        raises :class:`NotOpen` until the connection is open.
        """
        queue = kwargs.pop("queue", None)
        opts = build_options(queue=None if queue is None else queue.number, **kwargs)
        self = cls.__new__(cls)
        self._setup(url, queue)
        rc = lib.ws_open_async(_url_bytes(url), None if opts is None else opts.encode("utf-8"))
        if rc < 0:
            raise_last(rc)
        self._sock = rc
        with _OPEN_LOCK:
            _OPEN.add(self)
        return self

    def _setup(self, url: str, queue: "Optional[EventQueue]") -> None:
        self.url = url
        # Holding the queue keeps it alive while this socket delivers to it.
        self._queue = queue
        self._close_lock = threading.Lock()
        self._closed = False
        # Set while close() runs: a concurrent call that finds the number
        # already released reports ConnectionClosed, not BadSocket.
        self._closing = False
        self._final_close: Tuple[Optional[int], str] = (None, "")
        # One send_stream() message at a time: the library continues the
        # unfinished message with any thread's pieces.
        self._stream_lock = threading.Lock()
        # recv_stream(): UTF-8 state of the text message being read in pieces
        self._text_decoder: Any = None

    # --- identity -----------------------------------------------------------

    @property
    def socket(self) -> int:
        """The library's socket number (0 before connecting or after close)."""
        return 0 if self._closed else self._sock

    def __repr__(self) -> str:
        if self._closed:
            return f"<wsclient.WebSocket {self.url!r} closed>"
        try:
            st = self.state.name.lower()
        except WebSocketError:
            st = "?"
        return f"<wsclient.WebSocket #{self._sock} {self.url!r} {st}>"

    def _s(self) -> int:
        if self._closed:
            raise ConnectionClosed(_lib.WS_E_CLOSED, f"socket {self._sock} was closed by close()",
                                   *self._final_close)
        return self._sock

    def _fail(self, rc: int) -> "None":
        """Raise for a failed call; a number released by a concurrent close()
        is reported as ConnectionClosed rather than BadSocket."""
        code, msg = _lib.last_error()
        if rc == _lib.WS_ERROR and code == _lib.WS_E_BAD_SOCKET and (self._closing or self._closed):
            raise ConnectionClosed(_lib.WS_E_CLOSED, f"socket {self._sock} was closed by close()",
                                   *self._final_close)
        if rc == _lib.WS_ERROR and code == _lib.WS_E_CLOSED:
            raise ConnectionClosed(code, msg, *self._close_readback())
        raise_last_code(rc, code, msg)

    # --- sending --------------------------------------------------------------

    def send(self, message: Union[Message, bytearray, memoryview], *, more: bool = False) -> None:
        """Send one message: ``str`` as a text message (UTF-8), bytes-like as
        a binary message. Returns when the whole message is handed to the
        kernel (with ``more=True``: when it is queued; a later send without
        it, or :meth:`flush`, puts everything queued on the wire together).

        Raises :class:`WebSocketTimeout` when ``send_timeout`` expired (see
        its ``pending``), :class:`ConnectionClosed` after a close,
        :class:`NotOpen` while still connecting.
        """
        if isinstance(message, str):
            data, kind = message.encode("utf-8", "surrogatepass"), _lib.WS_TEXT
        else:
            data, kind = _to_bytes(message, "message"), _lib.WS_BINARY
        if more:
            kind |= _lib.WS_MORE
        rc = lib.ws_write(self._s(), data, len(data), kind)
        if rc != _lib.WS_OK:
            self._fail(rc)

    def send_many(self, messages: Iterable[Union[Message, bytearray, memoryview]],
                  *, timeout: Optional[float] = None) -> int:
        """Send several messages with as few system calls as possible: each is
        queued (WS_MORE), then everything is flushed once. Returns how many
        were sent. ``timeout`` (seconds, None: no limit) bounds the flush; on
        expiry :class:`WebSocketTimeout` (pending) is raised and the rest goes
        out with later calls on this socket."""
        n = 0
        for m in messages:
            self.send(m, more=True)
            n += 1
        self.flush(timeout)
        return n

    def send_stream(self, chunks: Iterable[Union[Message, bytearray, memoryview]], text: bool = False) -> None:
        """Send one message in pieces (``ws_write_part``), one WebSocket
        frame per chunk of ``chunks`` (any iterable, e.g. a generator that
        reads a file), so a message of any size is sent without holding it
        in memory. ``text=False``: a binary message of bytes-like chunks;
        ``text=True``: a text message of ``str`` chunks (or bytes-like
        chunks of UTF-8, where a code point may be split between chunks).
        Chunks may be empty. Each chunk is sent once the next one is known
        (or the iterable has ended), so that the last chunk's frame ends the
        message; an empty iterable sends an empty message. Returns when the
        last piece is handed to the kernel.

        Control frames go between the pieces (pongs, :meth:`ping`, the close
        frame of :meth:`close` from another thread). ``send_timeout`` and
        ``send_buffer_limit`` hold per piece as for :meth:`send`. While the
        message is unfinished, :meth:`send` on another thread raises
        :class:`MessageUnfinished`; another ``send_stream()`` waits for this
        one to finish.

        Errors before the first piece was sent (a wrong chunk type, an
        exception raised by the iterable, a closed connection) leave the
        connection as it was. A message that cannot be finished, because
        the iterable raised, a chunk was of the wrong type or invalid UTF-8,
        or a piece failed or timed out (:class:`WebSocketTimeout`), cannot be
        taken back from the server: the connection is then closed with code
        1011 (as Python ``websockets`` does) and the exception propagates.
        """
        write_part = _part_function("ws_write_part", "send_stream")
        kind = _lib.WS_TEXT if text else _lib.WS_BINARY
        with self._stream_lock:
            sock = self._s()
            it = iter(chunks)
            try:
                data: Optional[bytes] = _piece_bytes(next(it), text)
            except StopIteration:
                data = None
            if data is None:  # no chunks: an empty message
                rc = write_part(sock, b"", 0, kind)
                if rc != _lib.WS_OK:
                    self._fail(rc)
                return
            started = finished = False
            try:
                while True:
                    try:
                        upcoming: Any = next(it)
                        more = True
                    except StopIteration:
                        more = False
                    flags = (0 if started else kind) | (_lib.WS_CONT if more else 0)
                    rc = write_part(sock, data, len(data), flags)
                    if rc == _lib.WS_OK or (rc == _lib.WS_TIMEOUT and lib.ws_last_error_code() == _lib.WS_E_PENDING):
                        # the piece is taken (sent, or queued to be sent)
                        started = True
                        finished = not more
                    if rc != _lib.WS_OK:
                        self._fail(rc)
                    if not more:
                        return
                    data = _piece_bytes(upcoming, text)
            except BaseException:
                if started and not finished:
                    self._abandon_message()
                raise

    def _abandon_message(self) -> None:
        """A send_stream() message that cannot be finished: the server would
        wait for its end forever, so the connection is closed (1011)."""
        try:
            self.close(1011, "message abandoned by the sender")
        except Exception:  # noqa: BLE001 - the original exception matters
            pass

    def flush(self, timeout: Optional[float] = None) -> None:
        """Send everything queued by ``send(..., more=True)`` (``ws_flush``).
        ``timeout`` in seconds; None waits as long as needed, 0 sends only
        what the kernel takes now."""
        rc = lib.ws_flush(self._s(), _lib.timeout_ms(timeout))
        if rc != _lib.WS_OK:
            self._fail(rc)

    def ping(self, payload: Union[str, bytes] = b"") -> None:
        """Send a ping (at most 125 bytes of payload). The round trip appears
        in :meth:`info` (``last_rtt``) and, with a queue, as a PONG event."""
        data = payload.encode("utf-8") if isinstance(payload, str) else _to_bytes(payload, "payload")
        rc = lib.ws_ping(self._s(), data, len(data))
        if rc != _lib.WS_OK:
            self._fail(rc)

    # --- receiving -------------------------------------------------------------

    def recv(self, timeout: Optional[float] = None) -> Message:
        """Receive the next message: ``str`` for text, ``bytes`` for binary.

        ``timeout`` in seconds: None waits forever, 0 only takes what has
        already arrived; a negative value raises ValueError (as in the socket
        module). On expiry :class:`WebSocketTimeout` is raised and nothing is
        lost (a partly received message is completed by the next call). When
        the server has closed the connection, :class:`ConnectionClosed` is
        raised with its ``close_code`` and ``close_reason``; after a failure,
        the failure's exception; after :meth:`close` (also one that another
        thread calls while this one waits), :class:`ConnectionClosed`.
        """
        ms = _lib.timeout_ms(timeout)
        deadline = None if ms <= 0 else time.monotonic() + ms / 1000.0
        sock = self._s()
        # ws_read_into copies the message into memory this binding owns:
        # a thread-local buffer for small messages, else a bytes object of
        # exactly the message's size (the library keeps a message that does
        # not fit and reports its size). Nothing here ever reads memory the
        # library lent, so a close() or reconnect() on another thread cannot
        # pull a message out from under this copy.
        buf = _small_buffer()
        ptr, cap = ctypes.addressof(buf), _SMALL
        big: Optional[Any] = None
        n = ctypes.c_size_t()
        kind = ctypes.c_int()
        while True:
            rc = lib.ws_read_into(sock, ptr, cap, ctypes.byref(n), ctypes.byref(kind), ms)
            if rc == _lib.WS_OK:
                size = n.value
                if big is None:
                    raw = ctypes.string_at(ptr, size) if size else b""
                else:
                    raw = _finish_bytes(big, size)
                return raw.decode("utf-8") if kind.value == _lib.WS_TEXT else raw
            if rc == _lib.WS_ERROR and lib.ws_last_error_code() == _lib.WS_E_BUFFER_TOO_SMALL:
                # The message (n bytes) is complete and kept: fetch it into a
                # buffer of its size. Another thread reading the same socket
                # may take it first; then this loops for the next one.
                big, ptr = _new_bytes(n.value)
                cap = n.value
                if deadline is not None:
                    ms = max(0, math.ceil((deadline - time.monotonic()) * 1000))
                continue
            break
        if rc == _lib.WS_CLOSED:
            raise self._end_of_connection()
        self._fail(rc)
        raise AssertionError("unreachable")  # pragma: no cover

    def _end_of_connection(self) -> ConnectionClosed:
        """The exception for a read that returned WS_CLOSED."""
        code, reason = self._close_readback()
        if code is None and (self._closing or self._closed):
            # close() on another thread released the number meanwhile
            return ConnectionClosed(_lib.WS_E_CLOSED, f"socket {self._sock} was closed by close()",
                                    *self._final_close)
        return ConnectionClosed(
            _lib.WS_E_CLOSED,
            f"the connection is closed (close code {code}{', ' + repr(reason) if reason else ''})",
            code,
            reason,
        )

    def recv_stream(self, timeout: Optional[float] = None, *, piece_size: int = 65536) -> "MessageStream":
        """Receive the next message in pieces (``ws_read_part``): returns a
        :class:`MessageStream`, an iterator over the pieces of the message
        as they arrive, ``str`` for a text message (each piece valid UTF-8
        on its own: a code point split by the network waits for its rest)
        or ``bytes`` for a binary one, each at most ``piece_size`` bytes
        (at least 4). Its attributes tell the message's type (``text``),
        the offset of the piece last yielded (``offset``) and whether that
        piece ended the message (``last``)::

            stream = ws.recv_stream(timeout=5)
            for piece in stream:
                out.write(piece)     # stream.offset, stream.last

        The first piece is waited for here (within ``timeout``, as
        :meth:`recv`: :class:`WebSocketTimeout`, or
        :class:`ConnectionClosed` when the connection is over), so ``text``
        is known at once; each later piece is waited for by the iteration,
        ``timeout`` again per piece. A timeout there loses nothing: iterate
        again to go on. A message of any size can be read this way in
        memory bounded by ``piece_size`` on a socket opened with
        ``stream_receive=True`` (on other sockets the library has received
        the message whole and hands it out in pieces).

        While a message is half read, :meth:`recv` raises
        :class:`MessageUnfinished`; a new ``recv_stream()`` goes on with the
        rest of it (its first ``offset`` is then not 0). A connection that
        ends in the middle of a message raises its exception from the
        iteration (:class:`ConnectionClosed` or :class:`ConnectionLost`).
        One thread should read a message: pieces go to whichever reader
        asks first.
        """
        read_part = _part_function("ws_read_part", "recv_stream")
        if isinstance(piece_size, bool) or not isinstance(piece_size, int):
            raise TypeError(f"piece_size must be an int, not {type(piece_size).__name__}")
        if not 4 <= piece_size <= 1 << 30:
            # a text piece ends on a code point boundary: under 4 bytes a
            # piece could never hold the next code point
            raise InvalidArgument(_lib.WS_E_INVALID_ARGUMENT,
                                  f"piece_size must be 4..{1 << 30} bytes, not {piece_size}")
        ms = _lib.timeout_ms(timeout)
        return MessageStream(self, read_part, ms, piece_size)

    def __iter__(self) -> Iterator[Message]:
        """Iterate over received messages until the connection is closed
        (normally: the iteration ends; a failure raises its exception)."""
        while True:
            try:
                yield self.recv()
            except ConnectionClosed as e:
                if type(e) is ConnectionClosed:
                    return
                raise

    # --- closing -----------------------------------------------------------------

    def close(self, code: int = 1000, reason: Optional[str] = "") -> None:
        """Close the connection (close frame with `code` and `reason`, wait up
        to ``close_timeout`` for the server) and release the socket number.
        Idempotent. A code the protocol does not allow (outside 1000-1003,
        1007-1013, 3000-4999; 0 means 1000), a reason over 123 UTF-8 bytes or
        with a NUL character raises :class:`InvalidArgument` (a ValueError)
        and leaves the connection open.

        From another thread, close() wakes a :meth:`recv` blocked on this
        socket (it raises :class:`ConnectionClosed`) and makes a blocked
        :meth:`send` fail."""
        code = _close_code(code)
        reason_b = b"" if reason is None else _lib.c_string(reason, "close reason")
        with self._close_lock:
            if self._closed or not self._sock:
                return
            # What the server sent so far, kept for close_code/close_reason
            # after the number is released.
            try:
                final = self._close_readback()
            except WebSocketError:
                final = (None, "")
            self._closing = True
            rc = lib.ws_close(self._sock, code, reason_b)
            if rc != _lib.WS_OK:
                c, msg = _lib.last_error()
                if c != _lib.WS_E_BAD_SOCKET:
                    self._closing = False
                    raise make_error(c, msg)
            self._released(final)

    def _released(self, final: Tuple[Optional[int], str]) -> None:
        """The number was released (by close() or the exit hook)."""
        self._final_close = final
        self._closed = True
        with _OPEN_LOCK:
            _OPEN.discard(self)

    def __enter__(self) -> "WebSocket":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        # Like socket.socket: a forgotten connection is closed, with a
        # ResourceWarning so the leak can be found. During interpreter exit
        # the exit hook has closed every open socket already (all in
        # parallel); one opened after it is closed without waiting.
        if getattr(self, "_sock", 0) and not getattr(self, "_closed", True):
            try:
                if _exiting or sys.is_finalizing():
                    _close_now([self])
                    return
                warnings.warn(f"unclosed {self!r}", ResourceWarning, source=self, stacklevel=2)
                self.close(1001)
            except Exception:  # noqa: BLE001 - interpreter shutdown, library gone
                pass

    def reconnect(self, *, background: bool = False) -> None:
        """Connect this socket number again with the same URL and options
        (``ws_reconnect``); a live connection is closed with 1001 first. With
        ``background=True`` return at once (outcome as events)."""
        rc = lib.ws_reconnect(self._s(), 1 if background else 0)
        if rc != _lib.WS_OK:
            self._fail(rc)

    # --- state and readback ----------------------------------------------------------

    @property
    def state(self) -> State:
        """CONNECTING, OPEN, CLOSING or CLOSED (CLOSED after close())."""
        if self._closed:
            return State.CLOSED
        rc = lib.ws_state(self._sock)
        if rc < 0:
            self._fail(rc)
        return _enum(State, rc, State.CLOSED if rc > State.CLOSED else State.CONNECTING)

    @property
    def is_open(self) -> bool:
        """True while the connection is open."""
        try:
            return self.state == State.OPEN
        except WebSocketError:
            return False

    @property
    def closed(self) -> bool:
        """True once close() was called."""
        return self._closed

    def info(self) -> Info:
        """State, close details and statistics (``ws_get_info``)."""
        raw = _lib.WsInfo()
        rc = lib.ws_get_info(self._s(), ctypes.byref(raw), ctypes.sizeof(raw))
        if rc != _lib.WS_OK:
            self._fail(rc)
        return Info(
            state=_enum(State, raw.state, State.CLOSED if raw.state > State.CLOSED else State.CONNECTING),
            http_status=raw.http_status,
            closed_by=_enum(ClosedBy, raw.closed_by, ClosedBy.UNKNOWN),
            close_code_sent=raw.close_code_sent,
            close_code_received=raw.close_code_received,
            clean=bool(raw.clean),
            reconnects=raw.reconnects,
            reason_sent=raw.reason_sent.decode("utf-8", "replace"),
            reason_received=raw.reason_received.decode("utf-8", "replace"),
            pings_sent=raw.pings_sent,
            pongs_received=raw.pongs_received,
            last_rtt_us=raw.last_rtt_us,
            messages_sent=raw.messages_sent,
            messages_received=raw.messages_received,
            bytes_sent=raw.bytes_sent,
            bytes_received=raw.bytes_received,
            wire_bytes_sent=raw.wire_bytes_sent,
            wire_bytes_received=raw.wire_bytes_received,
            compression=Compression(
                raw.client_max_window_bits,
                raw.server_max_window_bits,
                bool(raw.client_no_context_takeover),
                bool(raw.server_no_context_takeover),
            )
            if raw.compression
            else None,
        )

    def _string(self, value: Optional[bytes]) -> Optional[str]:
        return None if value is None else value.decode("utf-8", "replace")

    @property
    def http_status(self) -> int:
        """HTTP status of the upgrade response (101)."""
        rc = lib.ws_http_status(self._s())
        if rc < 0:
            self._fail(rc)
        return rc

    @property
    def subprotocol(self) -> str:
        """The subprotocol the server selected ("" if none)."""
        v = lib.ws_subprotocol(self._s())
        if v is None:
            self._fail(_lib.WS_ERROR)
        return v.decode("utf-8", "replace")

    def response_header(self, name: str) -> Optional[str]:
        """A header of the upgrade response by case-insensitive name (several
        joined with ", "), or None if the server did not send it."""
        v = lib.ws_response_header(self._s(), _lib.c_string(name, "header name"))
        if v is None:
            code, msg = _lib.last_error()
            if code != _lib.WS_E_OK:
                self._fail(_lib.WS_ERROR)
            return None
        return v.decode("utf-8", "replace")

    @property
    def response_headers(self) -> List[Tuple[str, str]]:
        """All headers of the upgrade response as (name, value) pairs, in the
        order the server sent them."""
        v = lib.ws_response_headers(self._s())
        if v is None:
            self._fail(_lib.WS_ERROR)
        return parse_headers(v.decode("utf-8", "replace"))

    def _close_readback(self) -> Tuple[Optional[int], str]:
        code = lib.ws_close_code(self._sock)
        if code < 0:
            return None, ""
        reason = lib.ws_close_reason(self._sock)
        return (code or None), ("" if reason is None else reason.decode("utf-8", "replace"))

    @property
    def close_code(self) -> Optional[int]:
        """The close code the server sent: None while none arrived, 1005 for
        a close frame without code, 1006 when the connection ended without
        one. Still readable after close()."""
        if self._closed:
            return self._final_close[0]
        return self._close_readback()[0]

    @property
    def close_reason(self) -> str:
        """The close reason the server sent ("" if none)."""
        if self._closed:
            return self._final_close[1]
        return self._close_readback()[1]


def _part_function(name: str, method: str) -> Any:
    if not _lib.has(name):
        raise WebSocketError(
            _lib.WS_E_INTERNAL,
            f"{method}() needs {name}() in the C library, and {_lib.library_path} does not export it "
            f"(library version {lib.ws_version().decode('ascii', 'replace')})",
        )
    return getattr(lib, name)


def _utf8_decoder() -> Any:
    import codecs

    return codecs.getincrementaldecoder("utf-8")()


def _piece_bytes(chunk: Any, text: bool) -> bytes:
    """One send_stream() chunk as the bytes of a piece."""
    if isinstance(chunk, str):
        if not text:
            raise TypeError("send_stream(text=False) sends a binary message: chunks must be bytes-like, not str "
                            "(pass text=True for a text message)")
        return chunk.encode("utf-8", "surrogatepass")
    if isinstance(chunk, (bytes, bytearray, memoryview)):
        return _to_bytes(chunk, "chunk")
    raise TypeError(f"send_stream() chunks must be {'str or ' if text else ''}bytes-like, not {type(chunk).__name__}")


class MessageStream:
    """The pieces of one received message (:meth:`WebSocket.recv_stream`):
    iterating yields ``str`` (text) or ``bytes`` (binary) pieces until the
    one that ends the message.

    Attributes: ``text`` (bool): the message's type; ``offset``: where the
    piece last yielded starts in the message, in bytes (UTF-8 bytes for
    text); ``last``: whether that piece ended the message (the iteration
    is then over); ``received``: bytes of the message up to the end of the
    piece last yielded (``offset + len`` of it in bytes).
    """

    def __init__(self, ws: WebSocket, read_part: Any, timeout_ms: int, piece_size: int) -> None:
        self._ws = ws
        self._read = read_part
        self._ms = timeout_ms
        self._buf = ctypes.create_string_buffer(piece_size)
        self._cap = piece_size
        self.offset = 0
        self.received = 0
        self.last = False
        # the first piece, read now: the type is known at once, and a
        # timeout or the end of the connection is raised by recv_stream()
        self._first: Optional[Tuple[Message, int, int, bool, bool]] = self._next_piece()
        self.text: bool = self._first[4]

    def _next_piece(self) -> Tuple[Message, int, int, bool, bool]:
        """(data, offset, length in bytes, last, text) of the next piece."""
        part = _lib.WsPart()
        rc = self._read(self._ws._s(), ctypes.addressof(self._buf), self._cap, ctypes.byref(part), self._ms)
        if rc == _lib.WS_CLOSED:
            raise self._ws._end_of_connection()
        if rc != _lib.WS_OK:
            self._ws._fail(rc)
        raw = ctypes.string_at(self._buf, part.len) if part.len else b""
        last = bool(part.last)
        is_text = part.type == _lib.WS_TEXT
        data: Message
        if is_text:
            # The library's text pieces are whole code points each; should
            # one end inside a code point (a message the library had read
            # ahead whole, cut at `cap`), its tail waits for the next piece
            # in the socket's decoder instead of failing the decode. The
            # decoder lives on the socket, so a new recv_stream() that goes
            # on with a half-read message continues it too.
            dec = self._ws._text_decoder
            if dec is None or part.offset == 0:
                dec = self._ws._text_decoder = _utf8_decoder()
            data = dec.decode(raw, last)
            if last:
                self._ws._text_decoder = None
        else:
            data = raw
        return data, int(part.offset), part.len, last, is_text

    def __iter__(self) -> "MessageStream":
        return self

    def __next__(self) -> Message:
        if self.last:
            raise StopIteration
        if self._first is not None:
            piece, self._first = self._first, None
        else:
            piece = self._next_piece()
        data, offset, n, last, _ = piece
        self.offset, self.received, self.last = offset, offset + n, last
        return data

    def __repr__(self) -> str:
        kind = "text" if self.text else "binary"
        done = " done" if self.last else ""
        return f"<wsclient.MessageStream {kind} socket={self._ws._sock} received={self.received}{done}>"


def raise_last_code(rc: int, code: int, msg: str) -> None:
    from ._errors import WebSocketTimeout

    if rc == _lib.WS_TIMEOUT:
        raise WebSocketTimeout(code or _lib.WS_E_TIMEOUT, msg or "timeout")
    raise make_error(code or _lib.WS_E_INTERNAL, msg or "unknown error")


def _url_bytes(url: str) -> bytes:
    return _lib.c_string(url, "url")


def _close_code(code: Any) -> int:
    """A close code as the int ws_close takes; outside 0..65535 (where a C
    int would silently wrap, or be no close code at all) it raises."""
    if isinstance(code, bool):
        raise InvalidArgument(_lib.WS_E_INVALID_ARGUMENT, f"close code must be an int, not {code!r}")
    try:
        c = operator.index(code)
    except TypeError:
        raise InvalidArgument(
            _lib.WS_E_INVALID_ARGUMENT, f"close code must be an int, not {type(code).__name__}"
        ) from None
    if not 0 <= c <= 65535:
        raise InvalidArgument(
            _lib.WS_E_INVALID_ARGUMENT,
            f"close code {c} is not allowed (use 0 or 1000-1003, 1007-1013, 3000-4999)",
        )
    return c


def _close_now(sockets: "List[WebSocket]", timeout_ms: int = 0) -> None:
    """Release the numbers of `sockets` (open ones, not being closed by
    another thread) at once: one ws_close_many call, every closing handshake
    in parallel within `timeout_ms` (< 0: each socket's closeTimeout), code
    1001 Going Away. A library without ws_close_many: ws_close on up to 64
    threads at a time (each waits up to its closeTimeout), or one after
    another where threads can no longer start."""
    todo: List[Tuple[WebSocket, Tuple[Optional[int], str]]] = []
    for ws in sockets:
        # a socket whose close() is running on another thread is left to it
        if not ws._close_lock.acquire(blocking=False):
            continue
        if ws._closed or not ws._sock:
            ws._close_lock.release()
            continue
        try:
            final = ws._close_readback()
        except Exception:  # noqa: BLE001
            final = (None, "")
        ws._closing = True
        todo.append((ws, final))
    if not todo:
        return
    try:
        if _lib.has("ws_close_many"):
            nums = (ctypes.c_int * len(todo))(*[ws._sock for ws, _ in todo])
            lib.ws_close_many(nums, len(todo), 1001, b"", int(timeout_ms))
        else:
            _close_in_threads([ws._sock for ws, _ in todo])
    finally:
        for ws, final in todo:
            ws._released(final)
            ws._close_lock.release()


def _close_in_threads(numbers: List[int]) -> None:
    pending = list(numbers)
    lock = threading.Lock()

    def worker() -> None:
        while True:
            with lock:
                if not pending:
                    return
                n = pending.pop()
            lib.ws_close(n, 1001, None)

    threads = []
    for _ in range(min(64, len(pending))):
        t = threading.Thread(target=worker, name="wsclient-exit-close", daemon=True)
        try:
            t.start()
        except RuntimeError:  # no new threads at this stage of shutdown
            break
        threads.append(t)
    worker()  # this thread takes part (and does everything if none started)
    for t in threads:
        t.join()


def close_open_sockets() -> None:
    """Close every socket this binding has not released yet, all closing
    handshakes at once (each within its closeTimeout). The exit hook calls
    it; programs may too."""
    with _OPEN_LOCK:
        sockets = list(_OPEN)
    _close_now(sockets, -1)


def connect(url: str, **kwargs: Any) -> WebSocket:
    """``WebSocket(url, **kwargs)``: connect and return the open connection."""
    return WebSocket(url, **kwargs)


__all__ = ["WebSocket", "connect", "State", "ClosedBy", "Info", "BadSocket", "Message", "MessageStream"]
