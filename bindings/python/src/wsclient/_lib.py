"""Loading libwsclient and declaring the C API (include/wsclient.h) for ctypes.

Everything that touches ctypes types lives here and in the few call sites of
_websocket.py/_events.py; nothing is compiled at install time.

GIL: the library is loaded with ctypes.CDLL, so every call releases the GIL
while it runs in C. A thread blocked in ws_read() or ws_next_event() does not
stop other Python threads (they can send, ping or close meanwhile).

Errors: ws_last_error() / ws_last_error_code() are per OS thread in the
library, and a Python thread is one OS thread, so reading them right after a
failed call on the same thread is race-free.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
from ctypes import (
    CFUNCTYPE,
    POINTER,
    Structure,
    c_char,
    c_char_p,
    c_int,
    c_int64,
    c_size_t,
    c_uint64,
    c_void_p,
)
from pathlib import Path
from typing import List, Optional

# --- constants (include/wsclient.h) -------------------------------------------

WS_OK = 0
WS_CLOSED = 1
WS_ERROR = -1
WS_TIMEOUT = -2

WS_TEXT = 1
WS_BINARY = 2
WS_MORE = 256
WS_CONT = 512
WS_MAX_CLOSE_REASON = 123

WS_EV_OPEN = 1
WS_EV_MESSAGE = 2
WS_EV_PONG = 3
WS_EV_ERROR = 4
WS_EV_CLOSE = 5
WS_EV_RECONNECTING = 6
WS_EV_MESSAGE_PART = 7

WS_STATE_CONNECTING = 1
WS_STATE_OPEN = 2
WS_STATE_CLOSING = 3
WS_STATE_CLOSED = 4

WS_BY_NONE = 0
WS_BY_CLIENT = 1
WS_BY_SERVER = 2
WS_BY_ERROR = 3

# Error codes (WS_E_*), append-only in the C library.
WS_E_OK = 0
WS_E_INVALID_ARGUMENT = 1
WS_E_INVALID_URL = 2
WS_E_UNSUPPORTED_SCHEME = 3
WS_E_INVALID_OPTIONS = 4
WS_E_DNS = 5
WS_E_CONNECT = 6
WS_E_TLS = 7
WS_E_TLS_VERIFY = 8
WS_E_UPGRADE_REJECTED = 9
WS_E_BAD_ACCEPT = 10
WS_E_HANDSHAKE = 11
WS_E_PROTOCOL = 12
WS_E_INVALID_UTF8 = 13
WS_E_MESSAGE_TOO_BIG = 14
WS_E_CLOSED = 15
WS_E_TIMEOUT = 16
WS_E_BAD_SOCKET = 17
WS_E_TOO_MANY_SOCKETS = 18
WS_E_IO = 19
WS_E_BUFFER_TOO_SMALL = 20
WS_E_INTERNAL = 21
WS_E_CONNECTION_LOST = 22
WS_E_PENDING = 23
WS_E_HEALTH_CHECK = 24
WS_E_NOT_OPEN = 25
WS_E_MESSAGE_UNFINISHED = 31
WS_E_COMPRESSION = 32

# Timeouts are C ints in milliseconds.
INT_MAX = 2**31 - 1


class WsInfo(Structure):
    """struct ws_info (ws_get_info); the library writes at most sizeof bytes."""

    _fields_ = [
        ("state", c_int),
        ("http_status", c_int),
        ("closed_by", c_int),
        ("close_code_sent", c_int),
        ("close_code_received", c_int),
        ("clean", c_int),
        ("reconnects", c_int),
        ("reason_sent", c_char * 124),
        ("reason_received", c_char * 124),
        ("pings_sent", c_int64),
        ("pongs_received", c_int64),
        ("last_rtt_us", c_int64),
        ("messages_sent", c_int64),
        ("messages_received", c_int64),
        ("bytes_sent", c_int64),
        ("bytes_received", c_int64),
        # permessage-deflate ("compression")
        ("wire_bytes_sent", c_int64),
        ("wire_bytes_received", c_int64),
        ("compression", c_int),
        ("client_max_window_bits", c_int),
        ("server_max_window_bits", c_int),
        ("client_no_context_takeover", c_int),
        ("server_no_context_takeover", c_int),
    ]


class WsEvent(Structure):
    """struct ws_event; `data` is lent by the library until the next
    ws_next_event() on the same queue, so it is copied at once."""

    _fields_ = [
        ("type", c_int),
        ("socket", c_int),
        ("msg_type", c_int),
        ("code", c_int),
        ("error", c_int),
        ("closed_by", c_int),
        ("clean", c_int),
        ("data", c_void_p),
        ("len", c_size_t),
        ("rtt_us", c_int64),
        ("delay_ms", c_int64),
        ("time_us", c_int64),
    ]


class WsPart(Structure):
    """struct ws_part (ws_read_part): the type, the end flag, the offset in
    the message and the length of one piece."""

    _fields_ = [
        ("type", c_int),
        ("last", c_int),
        ("offset", c_uint64),
        ("len", c_size_t),
    ]


WS_CALLBACK = CFUNCTYPE(None, POINTER(WsEvent), c_void_p)

_LIB_NAMES = {
    "linux": ["libwsclient.so"],
    "darwin": ["libwsclient.dylib"],
    "win32": ["wsclient.dll"],
}


def _candidates() -> List[str]:
    """Where to look, in order.

    1. $WSCLIENT_LIBRARY: an explicit choice wins over everything (and is the
       only candidate, so a typo is an error rather than a silent fallback).
    2. A library bundled inside this package (copied next to this file before
       `pip install`).
    3. ctypes.util.find_library("wsclient"): the system's search (ldconfig
       cache, LD_LIBRARY_PATH on Linux).
    """
    env = os.environ.get("WSCLIENT_LIBRARY")
    if env:
        return [env]
    here = Path(__file__).resolve().parent
    names = _LIB_NAMES.get(sys.platform, ["libwsclient.so"])
    out = [str(here / n) for n in names if (here / n).exists()]
    found = ctypes.util.find_library("wsclient")
    if found:
        out.append(found)
    # find_library does not look at LD_LIBRARY_PATH on every platform; the
    # bare name lets the dynamic loader search it.
    out.extend(names)
    return out


def _load() -> "tuple[ctypes.CDLL, str]":
    errors = []
    for cand in _candidates():
        try:
            return ctypes.CDLL(cand), cand
        except OSError as e:
            errors.append(f"{cand}: {e}")
    hint = (
        "set WSCLIENT_LIBRARY to the path of libwsclient.so, bundle it in the "
        "package (see README), or install it where the dynamic loader finds it"
    )
    raise ImportError("wsclient: cannot load the wsclient C library (" + "; ".join(errors) + "); " + hint)


lib, library_path = _load()


def _proto(name: str, restype, argtypes) -> None:
    fn = getattr(lib, name)
    fn.restype = restype
    fn.argtypes = argtypes


_proto("ws_open", c_int, [c_char_p, c_char_p])
_proto("ws_open_async", c_int, [c_char_p, c_char_p])
# `data` as c_char_p: bytes are passed by pointer, without a copy, and may
# contain NUL bytes because the length is passed separately.
_proto("ws_write", c_int, [c_int, c_char_p, c_size_t, c_int])
_proto("ws_flush", c_int, [c_int, c_int])
_proto("ws_read", c_int, [c_int, POINTER(c_void_p), POINTER(c_size_t), POINTER(c_int), c_int])
_proto("ws_read_into", c_int, [c_int, c_void_p, c_size_t, POINTER(c_size_t), POINTER(c_int), c_int])
_proto("ws_close", c_int, [c_int, c_int, c_char_p])
_proto("ws_last_error", c_char_p, [])
_proto("ws_last_error_code", c_int, [])
_proto("ws_error_name", c_char_p, [c_int])
_proto("ws_version", c_char_p, [])
_proto("ws_set_max_sockets", c_int, [c_int])
_proto("ws_http_status", c_int, [c_int])
_proto("ws_response_header", c_char_p, [c_int, c_char_p])
_proto("ws_response_headers", c_char_p, [c_int])
_proto("ws_subprotocol", c_char_p, [c_int])
_proto("ws_close_code", c_int, [c_int])
_proto("ws_close_reason", c_char_p, [c_int])
_proto("ws_ping", c_int, [c_int, c_char_p, c_size_t])
_proto("ws_state", c_int, [c_int])
_proto("ws_get_info", c_int, [c_int, POINTER(WsInfo), c_size_t])
_proto("ws_reconnect", c_int, [c_int, c_int])
_proto("ws_queue_create", c_int, [])
_proto("ws_queue_destroy", c_int, [c_int])
_proto("ws_next_event", c_int, [c_int, POINTER(WsEvent), c_int])
_proto("ws_queue_set_callback", c_int, [c_int, WS_CALLBACK, c_void_p])

# Exports newer than the first release: declared when the loaded library has
# them, and each use is guarded with has(). (ctypes would otherwise fail the
# import against an older libwsclient.)
_OPTIONAL = {
    # int ws_close_many(const int *sockets, size_t count, int code,
    #                   const char *reason, int timeout_ms)
    "ws_close_many": (c_int, [POINTER(c_int), c_size_t, c_int, c_char_p, c_int]),
    # this thread's last failed ws_open/ws_reconnect: HTTP status and the
    # "Name: value\r\n" headers of a refused upgrade (0 / "" otherwise)
    "ws_last_http_status": (c_int, []),
    "ws_last_response_headers": (c_char_p, []),
    # messages in pieces (send_stream, recv_stream)
    "ws_write_part": (c_int, [c_int, c_char_p, c_size_t, c_int]),
    "ws_read_part": (c_int, [c_int, c_void_p, c_size_t, POINTER(WsPart), c_int]),
}
for _name, (_res, _args) in _OPTIONAL.items():
    if hasattr(lib, _name):
        _proto(_name, _res, _args)


def has(name: str) -> bool:
    """True when the loaded library exports `name` (for the optional ones)."""
    return hasattr(lib, name)


def last_error() -> "tuple[int, str]":
    """(code, message) of the last failed call on this thread."""
    code = lib.ws_last_error_code()
    msg = lib.ws_last_error() or b""
    return code, msg.decode("utf-8", "replace")


def error_name(code: int) -> str:
    """The C name of an error code, e.g. "WS_E_TIMEOUT"."""
    return (lib.ws_error_name(int(code)) or b"WS_E_UNKNOWN").decode("ascii", "replace")


def timeout_ms(seconds: Optional[float], what: str = "timeout") -> int:
    """A Python timeout in seconds as the C convention, following Python's
    socket module: None (or +inf) waits forever (-1), 0 polls (0), a positive
    value is rounded up to whole milliseconds (0.0001 s waits 1 ms instead of
    becoming a poll; beyond ~24.8 days it is capped at INT_MAX ms). A
    negative value raises ValueError (an InvalidArgument), as
    socket.settimeout(-0.5) does: it never means "forever"."""
    if seconds is None:
        return -1
    secs = _seconds(seconds, what)
    if secs < 0:
        from ._errors import InvalidArgument

        raise InvalidArgument(
            WS_E_INVALID_ARGUMENT, f"{what} must be None (no limit) or a number of seconds >= 0, not {seconds!r}"
        )
    if secs == 0:
        return 0
    if secs == float("inf"):
        return -1
    ms = -(-secs * 1000 // 1)  # ceil without importing math for floats
    return int(min(max(ms, 1), INT_MAX))


def _seconds(value, what: str) -> float:
    import datetime

    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{what} must be a number of seconds or None, not {type(value).__name__}")
    if value != value:  # NaN
        raise ValueError(f"{what} must not be NaN")
    return float(value)


def c_string(value: str, what: str) -> bytes:
    """`value` as the NUL-terminated UTF-8 a `const char *` parameter takes.

    A NUL inside would end the C string early: the library would see only
    the part before it (a URL "ws://a/\\0ws://b/" would connect to a), so
    it is refused with ValueError (an InvalidArgument) instead."""
    if not isinstance(value, str):
        from ._errors import InvalidArgument

        raise InvalidArgument(WS_E_INVALID_ARGUMENT, f"{what} must be a str, not {type(value).__name__}")
    if "\0" in value:
        from ._errors import InvalidArgument

        raise InvalidArgument(
            WS_E_INVALID_ARGUMENT, f"{what} contains a NUL character at index {value.index(chr(0))}: {value!r}"
        )
    return value.encode("utf-8", "surrogatepass")
