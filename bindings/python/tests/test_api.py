"""Issue 13: the exceptions, `with` and iteration behave as users of the
standard library, websocket-client and websockets expect."""

from __future__ import annotations

import socket
import threading
from typing import List

import pytest

import wsclient
from wsclient import _lib
from conftest import within
from miniserver import MiniServer, Request, close_frame, frame, read_frame, read_request

T = 10


def _refusing_server(status_line: bytes, headers: List[bytes]) -> MiniServer:
    def handler(conn: socket.socket, _req: Request) -> None:
        read_request(conn)
        conn.sendall(status_line + b"\r\n" + b"".join(h + b"\r\n" for h in headers)
                     + b"Content-Length: 0\r\n\r\n")

    return MiniServer(handler, upgrade=False)


def test_handshake_error_carries_status_reason_and_headers() -> None:
    headers = [b'WWW-Authenticate: Basic realm="plant"', b"X-Trace: abc", b"X-Trace: def"]
    with _refusing_server(b"HTTP/1.1 401 Unauthorized", headers) as srv:
        with pytest.raises(wsclient.HandshakeError) as ei:
            wsclient.WebSocket(srv.url, timeout=T)
    e = ei.value
    assert e.code == _lib.WS_E_UPGRADE_REJECTED and e.name == "WS_E_UPGRADE_REJECTED"
    assert e.status == 401 and e.reason == "Unauthorized"
    if _lib.has("ws_last_response_headers"):
        assert ("WWW-Authenticate", 'Basic realm="plant"') in e.headers
        assert [v for n, v in e.headers if n == "X-Trace"] == ["abc", "def"]
        assert ("Content-Length", "0") in e.headers
    else:  # a library without the export: nothing made up
        assert e.headers == []
    assert "401" in str(e)


def test_handshake_error_reason_phrase_and_status_only_once() -> None:
    with _refusing_server(b"HTTP/1.1 404 Nicht gefunden", []) as srv:
        with pytest.raises(wsclient.HandshakeError) as ei:
            wsclient.WebSocket(srv.url, timeout=T)
    assert ei.value.status == 404 and ei.value.reason == "Nicht gefunden"
    # a later successful call does not change what the exception carries
    with _refusing_server(b"HTTP/1.1 503 Service Unavailable", [b"Retry-After: 5"]) as srv:
        ws = wsclient.WebSocket.open_async(srv.url, timeout=T)
        with pytest.raises(wsclient.HandshakeError) as ei2:
            within(T, ws.recv, T)  # the background connect's failure
        ws.close()
    assert ei2.value.status == 503 and ei2.value.reason == "Service Unavailable"
    assert ei.value.status == 404


def test_bad_accept_is_a_handshake_error_with_status() -> None:
    with _refusing_server(b"HTTP/1.1 101 Switching Protocols",
                          [b"Upgrade: websocket", b"Connection: Upgrade",
                           b"Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA="]) as srv:
        with pytest.raises(wsclient.HandshakeError) as ei:
            wsclient.WebSocket(srv.url, timeout=T)
    assert ei.value.code == _lib.WS_E_BAD_ACCEPT
    if _lib.has("ws_last_http_status"):
        assert ei.value.status == 101
        assert ("Upgrade", "websocket") in ei.value.headers


def test_handshake_error_can_be_made_by_hand() -> None:
    e = wsclient.HandshakeError(9, "upgrade rejected by x: HTTP 418 I'm a teapot")
    assert e.status == 0 and e.reason == "" and e.headers == []


def test_connect_error_is_an_oserror(refused_url: str) -> None:
    with pytest.raises(OSError) as ei:
        wsclient.WebSocket(refused_url, timeout=T)
    e = ei.value
    assert isinstance(e, wsclient.ConnectError) and isinstance(e, wsclient.WebSocketError)
    assert e.errno is None and e.strerror == e.message and "refused" in e.strerror
    assert e.code == _lib.WS_E_CONNECT and str(e).endswith("(WS_E_CONNECT)")


def test_timeout_is_timeout_error_and_oserror(silent_server: MiniServer) -> None:
    with pytest.raises(TimeoutError) as ei:
        wsclient.WebSocket(silent_server.url, timeout=0.2)
    assert isinstance(ei.value, OSError) and isinstance(ei.value, wsclient.WebSocketTimeout)
    assert not isinstance(ei.value, wsclient.WebSocketError)


def test_with_closes_on_exception_and_lets_it_through(echo_url: str) -> None:
    with pytest.raises(KeyError):
        with wsclient.connect(echo_url, timeout=T) as ws:
            ws.send("x")
            raise KeyError("boom")
    assert ws.closed and ws.state == wsclient.State.CLOSED
    with wsclient.EventQueue() as q:
        pass
    with pytest.raises(wsclient.BadSocket):
        q.next_event(0)


def test_iteration_ends_at_a_close_and_raises_a_failure() -> None:
    def closes(conn: socket.socket, _req: Request) -> None:
        conn.sendall(frame(0x1, b"a") + frame(0x1, b"b") + close_frame(1000, "done"))
        read_frame(conn)

    def breaks(conn: socket.socket, _req: Request) -> None:
        conn.sendall(frame(0x1, b"a"))
        conn.shutdown(socket.SHUT_RDWR)  # no close frame

    with MiniServer(closes) as srv, wsclient.connect(srv.url, timeout=T) as ws:
        assert within(T, list, ws) == ["a", "b"]
        assert ws.close_code == 1000
    with MiniServer(breaks) as srv, wsclient.connect(srv.url, timeout=T) as ws:
        seen: List[object] = []
        with pytest.raises(wsclient.ConnectionLost):
            within(T, lambda: [seen.append(m) for m in ws])
        assert seen == ["a"]


def test_iteration_ends_when_another_thread_closes(echo_url: str) -> None:
    ws = wsclient.WebSocket(echo_url, timeout=T)
    got: List[object] = []
    first = threading.Event()

    def consume() -> None:
        for m in ws:
            got.append(m)
            first.set()

    t = threading.Thread(target=consume, daemon=True)
    t.start()
    ws.send("one")
    assert first.wait(T)
    ws.close()
    t.join(T)
    assert not t.is_alive() and got == ["one"]


def test_queue_iteration_ends_when_another_thread_closes_it(echo_url: str) -> None:
    q = wsclient.EventQueue()
    ws = q.connect(echo_url, timeout=T)
    kinds: List[wsclient.EventType] = []
    opened = threading.Event()

    def consume() -> None:
        for ev in q:
            kinds.append(ev.type)
            opened.set()

    t = threading.Thread(target=consume, daemon=True)
    t.start()
    assert opened.wait(T)
    ws.close()
    q.close()
    t.join(T)
    assert not t.is_alive() and kinds[0] == wsclient.EventType.OPEN
