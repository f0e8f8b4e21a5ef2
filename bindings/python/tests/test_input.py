"""Issue 18: odd input is refused before it reaches C, never truncated or
wrapped; values the binding does not know never lose an event."""

from __future__ import annotations

import ctypes
import socket
import threading
import time
from typing import Dict, List

import pytest

import wsclient
from wsclient import _lib
from conftest import within
from miniserver import MiniServer, Request, parse_close, read_frame

T = 10


def test_nul_in_url_is_refused(echo_url: str) -> None:
    # Before: c_char_p ended the string at the NUL, so this connected to the
    # echo server (the part before it).
    url = echo_url + "\x00ws://127.0.0.1:1/"
    for opener in (wsclient.WebSocket, wsclient.WebSocket.open_async, wsclient.connect):
        with pytest.raises(ValueError) as ei:
            opener(url, timeout=T)
        assert isinstance(ei.value, wsclient.InvalidArgument) and "NUL" in str(ei.value)
    with wsclient.EventQueue() as q, pytest.raises(wsclient.InvalidArgument):
        q.open(url)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"headers": {"X-A\x00B": "v"}},
        {"headers": {"X-A": "v\x00w"}},
        {"headers": [("X-A", "\x00")]},
        {"subprotocols": ["chat\x00x"]},
        {"subprotocols": "chat\x00"},
    ],
)
def test_nul_in_headers_and_subprotocols_is_refused(echo_url: str, kwargs: dict) -> None:
    with pytest.raises(ValueError) as ei:
        wsclient.WebSocket(echo_url, timeout=T, **kwargs)
    assert isinstance(ei.value, wsclient.InvalidArgument) and "NUL" in str(ei.value)


def test_nul_in_header_lookup_is_refused(echo_url: str) -> None:
    with wsclient.WebSocket(echo_url, timeout=T) as ws:
        with pytest.raises(ValueError):
            ws.response_header("Upgrade\x00X")
        assert ws.response_header("Upgrade") is not None


def test_close_reason_with_nul_and_codes_out_of_range() -> None:
    got: Dict[str, object] = {}
    done = threading.Event()

    def handler(conn: socket.socket, _req: Request) -> None:
        op, payload = read_frame(conn)
        got["close"] = (op, parse_close(payload))
        done.set()

    with MiniServer(handler) as srv:
        ws = wsclient.WebSocket(srv.url, timeout=T, close_timeout=0.5)
        # Before: the reason was cut at the NUL and the close went out.
        with pytest.raises(ValueError):
            ws.close(1000, "cut\x00here")
        # Before: c_int wrapped 2**32 + 1000 to 1000 and closed normally.
        for bad in (2**32 + 1000, -1, 65536, 1 << 70):
            with pytest.raises(ValueError) as ei:
                ws.close(bad)
            assert isinstance(ei.value, wsclient.InvalidArgument)
        for bad_type in (1000.0, "1000", True):
            with pytest.raises((ValueError, TypeError)):
                ws.close(bad_type)  # type: ignore[arg-type]
        # in range but not allowed: the library refuses it, the socket stays open
        with pytest.raises(wsclient.InvalidArgument):
            ws.close(65535)
        assert ws.is_open
        ws.close(4001, "whole reason")
        assert done.wait(T)
    assert got["close"] == (0x8, (4001, "whole reason"))


def test_negative_timeouts_follow_the_socket_module(echo_url: str) -> None:
    """socket.settimeout(-0.5) raises ValueError; so do recv(-0.5),
    flush(-1) and next_event(-0.5) (before: any negative waited forever)."""
    s = socket.socket()
    with pytest.raises(ValueError):
        s.settimeout(-0.5)
    s.close()
    with wsclient.WebSocket(echo_url, timeout=T) as ws:
        for bad in (-0.5, -1, float("-inf")):
            t0 = time.monotonic()
            with pytest.raises(ValueError) as ei:
                within(T, ws.recv, bad)
            assert time.monotonic() - t0 < 1
            assert isinstance(ei.value, wsclient.InvalidArgument) and "timeout" in str(ei.value)
        with pytest.raises(ValueError):
            within(T, ws.flush, -1)
        # still usable; +inf is "no limit" like None
        ws.send("after")
        assert ws.recv(float("inf")) == "after"
    with wsclient.EventQueue() as q:
        with pytest.raises(ValueError):
            within(T, q.next_event, -0.5)
        with pytest.raises(ValueError):
            within(T, lambda: list(q.events(-1)))
        assert q.next_event(0) is None
    assert _lib.timeout_ms(None) == -1 and _lib.timeout_ms(float("inf")) == -1
    assert _lib.timeout_ms(0) == 0 and _lib.timeout_ms(0.0001) == 1 and _lib.timeout_ms(1e12) == _lib.INT_MAX


def _raw_event(**fields: int) -> _lib.WsEvent:
    raw = _lib.WsEvent()
    raw.type = fields.get("type", _lib.WS_EV_MESSAGE)
    raw.socket = 7
    raw.msg_type = fields.get("msg_type", _lib.WS_BINARY)
    raw.closed_by = fields.get("closed_by", 0)
    return raw


def test_unknown_event_type_and_closed_by_are_delivered() -> None:
    """A newer library's event type or closed_by value: before, converting
    it raised ValueError after ws_next_event had taken it (lost)."""
    payload = ctypes.create_string_buffer(b"\x01\x02new", 5)
    raw = _raw_event(type=42, closed_by=9)
    raw.data = ctypes.cast(payload, ctypes.c_void_p)
    raw.len = 5
    ev = wsclient._events._convert(raw)
    assert ev.type is wsclient.EventType.UNKNOWN and ev.raw_type == 42
    assert ev.data == b"\x01\x02new" and ev.socket == 7
    assert ev.closed_by is wsclient.ClosedBy.UNKNOWN
    known = wsclient._events._convert(_raw_event(type=_lib.WS_EV_CLOSE, closed_by=_lib.WS_BY_SERVER))
    assert known.type is wsclient.EventType.CLOSE and known.raw_type == _lib.WS_EV_CLOSE
    assert known.closed_by is wsclient.ClosedBy.SERVER and known.data == ""


def test_unknown_event_through_next_event(echo_url: str, monkeypatch) -> None:
    """The same through the queue: the event the library hands out with a
    type this binding does not know comes out of next_event()."""
    real = _lib.lib.ws_next_event
    seen: List[int] = []

    def newer_library(q, ev_ref, ms):  # type: ignore[no-untyped-def]
        rc = real(q, ev_ref, ms)
        if rc == _lib.WS_OK:
            ev = ctypes.cast(ev_ref, ctypes.POINTER(_lib.WsEvent)).contents
            seen.append(ev.type)
            ev.type = 77  # what a newer library might send
            ev.closed_by = 12
        return rc

    with wsclient.EventQueue() as q:
        ws = q.connect(echo_url, timeout=T)
        monkeypatch.setattr(_lib.lib, "ws_next_event", newer_library)
        ev = q.next_event(T)
        assert ev is not None and ev.type is wsclient.EventType.UNKNOWN and ev.raw_type == 77
        assert ev.closed_by is wsclient.ClosedBy.UNKNOWN and ev.socket == ws.socket
        assert seen == [_lib.WS_EV_OPEN]
        monkeypatch.undo()
        ws.send("next")
        ev = q.next_event(T)
        assert ev is not None and ev.type is wsclient.EventType.MESSAGE and ev.data == "next"
        ws.close()
