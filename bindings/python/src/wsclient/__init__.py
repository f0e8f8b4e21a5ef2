"""wsclient: Python bindings (ctypes) for the wsclient C library, a WebSocket
client (RFC 6455) with a WinCC OA-style API.

Blocking use::

    import wsclient

    with wsclient.WebSocket("ws://127.0.0.1:8080/", timeout=5) as ws:
        ws.send("hello")            # str -> text message, bytes -> binary
        print(ws.recv(timeout=5))   # -> "hello"

Events (one thread drains everything)::

    with wsclient.EventQueue() as q:
        ws = q.open("ws://127.0.0.1:8080/")    # connects in the background
        for ev in q.events(timeout=5):
            if ev.type == wsclient.EventType.OPEN:
                ws.send("hi")
            elif ev.type == wsclient.EventType.MESSAGE:
                print(ev.data)
                ws.close()
            elif ev.type == wsclient.EventType.CLOSE:
                break

The shared library is found through $WSCLIENT_LIBRARY, a copy bundled in this
package, or the system's search path (see README.md).
"""

from ._errors import (
    BadSocket,
    ConnectError,
    ConnectionClosed,
    ConnectionLost,
    HandshakeError,
    InvalidArgument,
    InvalidURL,
    MessageUnfinished,
    NotOpen,
    ProtocolError,
    WebSocketError,
    WebSocketTimeout,
    error_class,
)
from ._events import Event, EventQueue, EventType
from ._lib import error_name, lib as _clib, library_path
from ._websocket import ClosedBy, Compression, Info, Message, MessageStream, State, WebSocket, close_open_sockets, connect

__version__ = "0.1.0"


def library_version() -> str:
    """Version of the loaded C library (ws_version), e.g. "0.1.0"."""
    return _clib.ws_version().decode("ascii", "replace")


def set_max_sockets(maximum: int) -> int:
    """Maximum number of sockets open at once (ws_set_max_sockets); returns
    the previous maximum."""
    from ._errors import raise_last

    rc = _clib.ws_set_max_sockets(int(maximum))
    if rc < 0:
        raise_last(rc)
    return rc


__all__ = [
    "WebSocket",
    "connect",
    "close_open_sockets",
    "EventQueue",
    "Event",
    "EventType",
    "State",
    "ClosedBy",
    "Info",
    "Compression",
    "Message",
    "MessageStream",
    "WebSocketError",
    "WebSocketTimeout",
    "InvalidArgument",
    "InvalidURL",
    "ConnectError",
    "HandshakeError",
    "ProtocolError",
    "ConnectionClosed",
    "ConnectionLost",
    "NotOpen",
    "MessageUnfinished",
    "BadSocket",
    "error_class",
    "error_name",
    "library_path",
    "library_version",
    "set_max_sockets",
]
