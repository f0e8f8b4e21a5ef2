"""Keyword arguments -> the JSON options object of ws_open / ws_open_async.

Python takes durations in seconds (int, float or datetime.timedelta) and the
C library milliseconds; the conversion rounds up so that a small positive
duration never turns into 0 ("off" or "poll" in C). Values are not range
checked here: the library validates every option and its message
("argument error in options: ...", WS_E_INVALID_OPTIONS) is the one users
see, whichever binding they use.
"""

from __future__ import annotations

import datetime
import json
import math
from typing import Any, Dict, Iterable, Mapping, Optional, Union

from . import _lib
from ._errors import InvalidArgument

Seconds = Union[int, float, datetime.timedelta]

_RECONNECT_KEYS = {"initial_delay": "initialDelay", "max_delay": "maxDelay", "max_attempts": "maxAttempts"}
_COMPRESSION_KEYS = {
    "client_max_window_bits": "clientMaxWindowBits",
    "server_max_window_bits": "serverMaxWindowBits",
    "client_no_context_takeover": "clientNoContextTakeover",
    "server_no_context_takeover": "serverNoContextTakeover",
    "mem_level": "memLevel",
}


def _secs(name: str, value: Seconds) -> float:
    """A duration option as float seconds, after the type and finiteness checks."""
    if isinstance(value, datetime.timedelta):
        secs = value.total_seconds()
    elif isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidArgument(
            _lib.WS_E_INVALID_OPTIONS,
            f"argument error in options: {name} must be a number of seconds, not {type(value).__name__}",
        )
    else:
        secs = float(value)
    if math.isnan(secs) or math.isinf(secs):
        raise InvalidArgument(_lib.WS_E_INVALID_OPTIONS, f"argument error in options: {name} must be finite")
    return secs


def _ms(name: str, value: Seconds) -> int:
    secs = _secs(name, value)
    if secs <= 0:
        # 0 and negative values go through as such; the library decides
        # (pingInterval 0 = off, anything else <= 0 is rejected).
        return int(secs * 1000) if secs < 0 else 0
    return max(1, math.ceil(secs * 1000))


def _us(name: str, value: Seconds) -> int:
    """Seconds -> the library's microseconds (busyPoll), rounded up; negative
    values go through for the library to reject."""
    us = round(_secs(name, value) * 1_000_000, 3)  # 50e-6 is 50 us, not 51
    return math.ceil(us) if us >= 0 else math.floor(us)


def _no_nul(value: str, what: str) -> str:
    """Header names and values and subprotocols reach the library as JSON
    strings, where a NUL is representable ("\\u0000") but can never be valid
    on the wire; refused here like a NUL in any other string argument."""
    if "\0" in value:
        raise InvalidArgument(
            _lib.WS_E_INVALID_OPTIONS,
            f"argument error in options: {what} contains a NUL character: {value!r}",
        )
    return value


def _reconnect(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, Mapping):
        out: Dict[str, Any] = {}
        for k, v in value.items():
            key = _RECONNECT_KEYS.get(str(k), str(k))
            if key in ("initialDelay", "maxDelay") and k in _RECONNECT_KEYS:
                v = _ms(f"auto_reconnect[{k!r}]", v)
            out[key] = v
        return out
    raise InvalidArgument(
        _lib.WS_E_INVALID_OPTIONS,
        "argument error in options: auto_reconnect must be True, False or a dict "
        "(initial_delay=seconds, max_delay=seconds, max_attempts=n)",
    )


def build_options(
    *,
    headers: Optional[Union[Mapping[str, str], Iterable[tuple]]] = None,
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
    queue: Optional[int] = None,
    ignore_ssl_errors: Any = None,
    ssl_config: Optional[Mapping[str, Any]] = None,
    ca_certificates: Any = None,
    ca_certificates_file: Any = None,
    ca_certificates_only: Optional[bool] = None,
    pinned_sha256: Any = None,
    tls_min_version: Optional[str] = None,
    proxy: Any = None,
    options: Optional[Mapping[str, Any]] = None,
) -> Optional[str]:
    """The options JSON text, or None for the library's defaults.

    `options` is passed through as given (C spelling, milliseconds) and wins
    over the keyword arguments; it carries anything the keywords do not name,
    e.g. TLS settings such as {"ignoreSslErrors": True}.
    """
    o: Dict[str, Any] = {}
    if headers is not None:
        items = headers.items() if isinstance(headers, Mapping) else headers
        o["headers"] = {_no_nul(str(k), "header name"): _no_nul(str(v), f"header {k!s}") for k, v in items}
    if timeout is not None:
        o["timeout"] = _ms("timeout", timeout)
    if subprotocols is not None:
        if isinstance(subprotocols, str):
            subprotocols = [subprotocols]
        o["subprotocols"] = [_no_nul(str(p), "subprotocol") for p in subprotocols]
    if max_message_size is not None:
        o["maxMessageSize"] = max_message_size
    if ping_interval is not None:
        o["pingInterval"] = _ms("ping_interval", ping_interval)
    if pong_timeout is not None:
        o["pongTimeout"] = _ms("pong_timeout", pong_timeout)
    if send_timeout is not None:
        o["sendTimeout"] = _ms("send_timeout", send_timeout)
    if close_timeout is not None:
        o["closeTimeout"] = _ms("close_timeout", close_timeout)
    if send_buffer_limit is not None:
        o["sendBufferLimit"] = send_buffer_limit
    if tcp_nodelay is not None:
        o["tcpNoDelay"] = bool(tcp_nodelay)
    if busy_poll is not None:
        o["busyPoll"] = _us("busy_poll", busy_poll)
    if stream_receive is not None:
        o["streamReceive"] = bool(stream_receive)
    if auto_reconnect is not None:
        o["autoReconnect"] = _reconnect(auto_reconnect)
    if compression is not None:
        # True / False, or a dict in either spelling (client_max_window_bits
        # or clientMaxWindowBits); the library checks the values
        o["compression"] = (
            {_COMPRESSION_KEYS.get(str(k), str(k)): v for k, v in compression.items()}
            if isinstance(compression, Mapping)
            else compression
        )
    if queue is not None:
        o["queue"] = int(queue)
    # TLS (wss://), passed as the library spells them; see ws_open in
    # include/wsclient.h for the values.
    for key, value in (
        ("ignoreSslErrors", ignore_ssl_errors),
        ("sslConfig", ssl_config),
        ("caCertificates", ca_certificates),
        ("caCertificatesFile", ca_certificates_file),
        ("caCertificatesOnly", ca_certificates_only),
        ("pinnedSha256", pinned_sha256),
        ("tlsMinVersion", tls_min_version),
        ("proxy", proxy),
    ):
        if value is not None:
            o[key] = list(value) if isinstance(value, tuple) else value
    if options:
        o.update(options)
    if not o:
        return None
    try:
        return json.dumps(o, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise InvalidArgument(_lib.WS_E_INVALID_OPTIONS, f"argument error in options: {e}") from None
