"""Exceptions: the C library's WS_E_* codes as a small class hierarchy.

    WebSocketError (code, name, message)
    |-- InvalidArgument (also ValueError)  WS_E_INVALID_ARGUMENT, WS_E_INVALID_OPTIONS
    |   `-- InvalidURL                     WS_E_INVALID_URL, WS_E_UNSUPPORTED_SCHEME
    |-- ConnectError (also OSError)        WS_E_DNS, WS_E_CONNECT, WS_E_TLS,
    |                                      WS_E_TLS_VERIFY, WS_E_TOO_MANY_SOCKETS
    |-- HandshakeError                     WS_E_UPGRADE_REJECTED, WS_E_BAD_ACCEPT,
    |                                      WS_E_HANDSHAKE (status, reason, headers)
    |-- ProtocolError                      WS_E_PROTOCOL, WS_E_INVALID_UTF8,
    |                                      WS_E_MESSAGE_TOO_BIG, WS_E_COMPRESSION
    |-- ConnectionClosed                   WS_E_CLOSED, and recv() after the
    |   |                                  server's close frame (close_code, close_reason)
    |   `-- ConnectionLost                 WS_E_CONNECTION_LOST, WS_E_IO, WS_E_HEALTH_CHECK
    |-- NotOpen                            WS_E_NOT_OPEN (still connecting)
    |-- MessageUnfinished (also            WS_E_MESSAGE_UNFINISHED: send() while a
    |   RuntimeError)                      send_stream() message is unfinished,
    |                                      recv() while one is half read in pieces
    |-- BadSocket                          WS_E_BAD_SOCKET
    `-- (anything else: WebSocketError itself, e.g. WS_E_INTERNAL)

    WebSocketTimeout (a TimeoutError, so an OSError, *not* a WebSocketError)
                                           WS_TIMEOUT results: WS_E_TIMEOUT
                                           (nothing lost, retry) or WS_E_PENDING
                                           (queued, will be sent; do not resend)

A timeout is not an error: the connection is still usable and nothing was
lost, which is why WebSocketTimeout is outside the WebSocketError tree and
`except WebSocketError` does not swallow it.
"""

from __future__ import annotations

import re
from typing import Dict, List, NoReturn, Optional, Tuple, Type

from . import _lib


class WebSocketError(Exception):
    """A failed call. `code` is the WS_E_* number, `name` its C name
    ("WS_E_CONNECT"), `message` the library's message (it names the stage and
    the peer, e.g. "connect 127.0.0.1:9: connection refused")."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(code, message)
        self.code = int(code)
        self.name = _lib.error_name(self.code)
        self.message = message

    def __str__(self) -> str:
        return f"{self.message} ({self.name})"


class InvalidArgument(WebSocketError, ValueError):
    """An argument or option was rejected before anything touched the network."""


class InvalidURL(InvalidArgument):
    """The URL is malformed or its scheme is not ws/wss."""


class ConnectError(WebSocketError, OSError):
    """DNS, TCP or TLS failed while connecting.

    Also an OSError, as the standard library's connection failures are
    (``except OSError`` catches it like a failed ``socket.create_connection``).
    ``errno`` is None: the library reports a WS_E_* ``code``, not an errno;
    ``strerror`` is the message."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(code, message)
        # OSError.__init__ took (code, message) as (errno, strerror); a WS_E_*
        # number is not an errno.
        self.errno = None
        self.strerror = message


class HandshakeError(WebSocketError):
    """The server did not accept the WebSocket upgrade (HTTP status, bad
    Sec-WebSocket-Accept, not a WebSocket response).

    ``status``: the HTTP status of the server's response (e.g. 403; 0 when
    there was no parsable response); ``reason``: its reason phrase;
    ``headers``: its headers as (name, value) pairs in the order sent (empty
    when the library does not report them: it needs ws_last_response_headers).
    """

    def __init__(
        self,
        code: int,
        message: str,
        status: int = 0,
        reason: str = "",
        headers: Optional[List[Tuple[str, str]]] = None,
    ) -> None:
        super().__init__(code, message)
        self.status = int(status)
        self.reason = reason
        self.headers: List[Tuple[str, str]] = list(headers or [])


class ProtocolError(WebSocketError):
    """The server violated RFC 6455; the library failed the connection."""


class ConnectionClosed(WebSocketError):
    """The connection is over. `close_code`/`close_reason` are what the server
    sent in its close frame (1005: no code, 1006: no close frame, None:
    unknown)."""

    def __init__(
        self,
        code: int,
        message: str,
        close_code: Optional[int] = None,
        close_reason: str = "",
    ) -> None:
        super().__init__(code, message)
        self.close_code = close_code
        self.close_reason = close_reason


class ConnectionLost(ConnectionClosed):
    """The connection broke: reset, lost without a close frame, or the server
    stopped answering keepalive pings."""


class NotOpen(WebSocketError):
    """The socket is still connecting (open_async, reconnect) or its
    connection attempt failed."""


class MessageUnfinished(WebSocketError, RuntimeError):
    """A message is half sent or half read in pieces: :meth:`WebSocket.send`
    while another thread's :meth:`WebSocket.send_stream` has not finished its
    message, or :meth:`WebSocket.recv` while a message is half read with
    :meth:`WebSocket.recv_stream` (read the rest of it with a stream).
    Nothing was sent or taken; the connection is fine."""


class BadSocket(WebSocketError):
    """The socket number is not open (closed already)."""


class WebSocketTimeout(TimeoutError):
    """A timeout expired; nothing was lost and the connection stays usable.

    `code` is WS_E_TIMEOUT (nothing of a message was queued: safe to retry;
    or no message arrived in time) or WS_E_PENDING (the message is queued and
    will be sent whole by later calls: do not send it again); `pending` tells
    which."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = int(code)
        self.name = _lib.error_name(self.code)
        self.message = message

    @property
    def pending(self) -> bool:
        return self.code == _lib.WS_E_PENDING

    def __str__(self) -> str:
        return f"{self.message} ({self.name})"


_BY_CODE: Dict[int, Type[WebSocketError]] = {
    _lib.WS_E_INVALID_ARGUMENT: InvalidArgument,
    _lib.WS_E_INVALID_OPTIONS: InvalidArgument,
    _lib.WS_E_INVALID_URL: InvalidURL,
    _lib.WS_E_UNSUPPORTED_SCHEME: InvalidURL,
    _lib.WS_E_DNS: ConnectError,
    _lib.WS_E_CONNECT: ConnectError,
    _lib.WS_E_TLS: ConnectError,
    _lib.WS_E_TLS_VERIFY: ConnectError,
    _lib.WS_E_TOO_MANY_SOCKETS: ConnectError,
    _lib.WS_E_UPGRADE_REJECTED: HandshakeError,
    _lib.WS_E_BAD_ACCEPT: HandshakeError,
    _lib.WS_E_HANDSHAKE: HandshakeError,
    _lib.WS_E_PROTOCOL: ProtocolError,
    _lib.WS_E_INVALID_UTF8: ProtocolError,
    _lib.WS_E_MESSAGE_TOO_BIG: ProtocolError,
    _lib.WS_E_COMPRESSION: ProtocolError,
    _lib.WS_E_CLOSED: ConnectionClosed,
    _lib.WS_E_CONNECTION_LOST: ConnectionLost,
    _lib.WS_E_IO: ConnectionLost,
    _lib.WS_E_HEALTH_CHECK: ConnectionLost,
    _lib.WS_E_NOT_OPEN: NotOpen,
    _lib.WS_E_BAD_SOCKET: BadSocket,
    _lib.WS_E_MESSAGE_UNFINISHED: MessageUnfinished,
}


def error_class(code: int) -> Type[WebSocketError]:
    """The exception class for a WS_E_* code."""
    return _BY_CODE.get(int(code), WebSocketError)


# "upgrade rejected by 127.0.0.1:8080: HTTP 401 Unauthorized" with an
# optional (" excerpt of the body") after it.
_STATUS_RE = re.compile(r"\bHTTP (\d{3})(?: ([^(\r\n]*?))?\s*(?:\(\"|$)")


def parse_headers(text: str) -> List[Tuple[str, str]]:
    """ "Name: value\\r\\n" lines -> [(name, value), ...] in order."""
    out: List[Tuple[str, str]] = []
    for line in text.split("\r\n"):
        if not line:
            continue
        name, _, value = line.partition(":")
        out.append((name.strip(), value.strip()))
    return out


def _handshake_details(code: int, message: str) -> Tuple[int, str, List[Tuple[str, str]]]:
    """Status, reason and headers of the refused upgrade that made this
    thread's last ws_open/ws_reconnect fail. Read right after the failed call
    (like ws_last_error). With ws_last_http_status/ws_last_response_headers
    (newer libraries) from the library; otherwise the status and reason are
    taken from the message, which names them, and no headers are known."""
    status, reason = 0, ""
    m = _STATUS_RE.search(message)
    if m:
        status, reason = int(m.group(1)), (m.group(2) or "").strip()
    headers: List[Tuple[str, str]] = []
    if _lib.has("ws_last_http_status"):
        st = _lib.lib.ws_last_http_status()
        if st > 0:
            if st != status:
                reason = ""
            status = st
    if _lib.has("ws_last_response_headers"):
        raw = _lib.lib.ws_last_response_headers()
        if raw:
            headers = parse_headers(raw.decode("utf-8", "replace"))
    if not reason and status:
        import http

        try:
            reason = http.HTTPStatus(status).phrase
        except ValueError:
            pass
    return status, reason, headers


def make_error(code: int, message: str) -> WebSocketError:
    """The exception for a failed call's code and message. Call it on the
    failing thread right after the call: a HandshakeError reads the refused
    upgrade's status and headers from the library then."""
    cls = error_class(code)
    if cls is HandshakeError:
        status, reason, headers = _handshake_details(code, message)
        return HandshakeError(code, message, status, reason, headers)
    return cls(code, message)


def raise_last(rc: int) -> NoReturn:
    """Raise the exception for a failed call's result `rc` (-1 or -2), from
    this thread's last error."""
    code, msg = _lib.last_error()
    if rc == _lib.WS_TIMEOUT:
        raise WebSocketTimeout(code or _lib.WS_E_TIMEOUT, msg or "timeout")
    raise make_error(code or _lib.WS_E_INTERNAL, msg or "unknown error")
