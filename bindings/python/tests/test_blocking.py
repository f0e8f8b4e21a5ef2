"""The blocking API: echo, timeouts, batching, close readback, readback."""

from __future__ import annotations

import os
import socket
import threading
import time

import pytest

import wsclient
from miniserver import (
    MiniServer,
    Request,
    close_frame,
    frame,
    parse_close,
    read_frame,
)

T = 10  # seconds: the limit for any single wait in these tests


def test_echo_text_and_binary(echo_url: str) -> None:
    with wsclient.WebSocket(echo_url, timeout=T) as ws:
        assert ws.is_open and ws.state == wsclient.State.OPEN
        ws.send("hello")
        assert ws.recv(T) == "hello"
        ws.send("grüße € \U0001F600")
        got = ws.recv(T)
        assert isinstance(got, str) and got == "grüße € \U0001F600"
        ws.send(b"\x00\x01\xff")
        got = ws.recv(T)
        assert isinstance(got, bytes) and got == b"\x00\x01\xff"
        ws.send(bytearray(b"ba"))
        assert ws.recv(T) == b"ba"
        ws.send(memoryview(b"mv"))
        assert ws.recv(T) == b"mv"
        ws.send("")
        assert ws.recv(T) == ""
        ws.send(b"")
        assert ws.recv(T) == b""


@pytest.mark.parametrize("size", [125, 126, 65535, 65536, 1 << 20, 5 << 20])
def test_echo_large(echo_url: str, size: int) -> None:
    payload = os.urandom(size)
    with wsclient.connect(echo_url, timeout=T) as ws:
        ws.send(payload)
        assert ws.recv(T) == payload
        text = "x" * size
        ws.send(text)
        assert ws.recv(T) == text


def test_send_rejects_other_types(echo_url: str) -> None:
    with wsclient.WebSocket(echo_url, timeout=T) as ws:
        with pytest.raises(TypeError):
            ws.send(123)  # type: ignore[arg-type]


def test_invalid_utf8_text_is_refused(echo_url: str) -> None:
    with wsclient.WebSocket(echo_url, timeout=T) as ws:
        with pytest.raises(wsclient.InvalidArgument) as ei:
            ws.send("\ud800")  # a lone surrogate is not UTF-8
        assert ei.value.code == 1 and ei.value.name == "WS_E_INVALID_ARGUMENT"
        ws.send("still open")
        assert ws.recv(T) == "still open"


def test_recv_timeout_is_not_an_error_and_loses_nothing(echo_url: str) -> None:
    with wsclient.WebSocket(echo_url, timeout=T) as ws:
        t0 = time.monotonic()
        with pytest.raises(wsclient.WebSocketTimeout) as ei:
            ws.recv(timeout=0.2)
        elapsed = time.monotonic() - t0
        assert 0.15 <= elapsed < 5
        e = ei.value
        assert isinstance(e, TimeoutError) and not isinstance(e, wsclient.WebSocketError)
        assert e.code == 16 and e.name == "WS_E_TIMEOUT" and not e.pending
        with pytest.raises(wsclient.WebSocketTimeout):
            ws.recv(timeout=0)
        ws.send("after the timeout")
        assert ws.recv(T) == "after the timeout"


def test_timeout_keeps_a_partly_received_message() -> None:
    """The server sends half a frame, waits, then the rest: the first recv
    times out, the next one returns the whole message."""
    message = b"0123456789" * 1000
    data = frame(0x2, message)
    half_sent = threading.Event()
    go_on = threading.Event()

    def handler(conn: socket.socket, _req: Request) -> None:
        conn.sendall(data[: len(data) // 2])
        half_sent.set()
        go_on.wait(T)
        conn.sendall(data[len(data) // 2 :])
        read_frame(conn)  # the client's close

    with MiniServer(handler) as srv, wsclient.WebSocket(srv.url, timeout=T) as ws:
        assert half_sent.wait(T)
        with pytest.raises(wsclient.WebSocketTimeout):
            ws.recv(timeout=0.3)
        go_on.set()
        assert ws.recv(T) == message
        assert not srv.errors


def test_send_many_and_flush(echo_url: str) -> None:
    with wsclient.WebSocket(echo_url, timeout=T) as ws:
        msgs = [f"m{i}" for i in range(200)] + [b"bin"]
        assert ws.send_many(msgs, timeout=T) == len(msgs)
        assert [ws.recv(T) for _ in msgs] == msgs
        ws.send("queued", more=True)
        ws.flush(T)
        assert ws.recv(T) == "queued"
        assert ws.info().messages_sent == len(msgs) + 1


def test_iteration_ends_at_server_close_and_readback() -> None:
    """Server sends two messages, then closes with 4001 and a UTF-8 reason."""
    seen: dict = {}

    def handler(conn: socket.socket, _req: Request) -> None:
        conn.sendall(frame(0x1, b"one") + frame(0x2, b"two"))
        conn.sendall(close_frame(4001, "bye \u2713"))
        op, payload = read_frame(conn)
        seen["reply"] = (op, parse_close(payload))

    with MiniServer(handler) as srv:
        ws = wsclient.WebSocket(srv.url, timeout=T)
        assert list(ws) == ["one", b"two"]
        assert ws.close_code == 4001 and ws.close_reason == "bye \u2713"
        with pytest.raises(wsclient.ConnectionClosed) as ei:
            ws.recv(T)
        assert ei.value.close_code == 4001 and ei.value.close_reason == "bye \u2713"
        info = ws.info()
        assert info.closed_by == wsclient.ClosedBy.SERVER
        assert info.close_code_received == 4001 and info.reason_received == "bye \u2713"
        with pytest.raises(wsclient.ConnectionClosed) as ei2:
            ws.send("too late")
        assert ei2.value.code == 15  # WS_E_CLOSED
        ws.close()
        # Still readable after the number is released.
        assert ws.close_code == 4001 and ws.close_reason == "bye \u2713"
        assert ws.state == wsclient.State.CLOSED and not ws.is_open and ws.socket == 0
    # The library answered the server's close frame with the same code.
    assert seen["reply"][0] == 0x8 and seen["reply"][1][0] == 4001


def test_client_close_code_and_reason_reach_the_server() -> None:
    got: dict = {}
    done = threading.Event()

    def handler(conn: socket.socket, _req: Request) -> None:
        op, payload = read_frame(conn)
        got["frame"] = (op, parse_close(payload))
        conn.sendall(close_frame(*parse_close(payload)))
        done.set()

    with MiniServer(handler) as srv:
        ws = wsclient.WebSocket(srv.url, timeout=T)
        with pytest.raises(wsclient.InvalidArgument):
            ws.close(1005)  # not allowed on the wire: the socket stays open
        with pytest.raises(wsclient.InvalidArgument):
            ws.close(1000, "x" * 124)  # over 123 bytes
        assert ws.is_open
        ws.close(4000, "done \u00e9")
        assert done.wait(T)
        ws.close()  # idempotent
    assert got["frame"] == (0x8, (4000, "done \u00e9"))


def test_close_after_context_manager_and_bad_socket(echo_url: str) -> None:
    with wsclient.WebSocket(echo_url, timeout=T) as ws:
        pass
    assert ws.closed
    with pytest.raises(wsclient.ConnectionClosed):
        ws.recv(0)
    with pytest.raises(wsclient.ConnectionClosed):
        ws.ping()


def test_readback_subprotocol_headers(echo_url: str) -> None:
    with wsclient.WebSocket(echo_url, timeout=T, subprotocols=["chat", "superchat"]) as ws:
        assert ws.subprotocol == "chat"
        assert ws.http_status == 101
        assert ws.response_header("SEC-WEBSOCKET-PROTOCOL") == "chat"
        assert ws.response_header("X-Nope") is None
        names = [n.lower() for n, _ in ws.response_headers]
        assert "sec-websocket-accept" in names
    with wsclient.WebSocket(echo_url, timeout=T) as ws:
        assert ws.subprotocol == ""


def test_request_headers_are_sent() -> None:
    got: dict = {}

    def handler(conn: socket.socket, req: Request) -> None:
        got.update(req.headers)
        read_frame(conn)

    with MiniServer(handler) as srv:
        with wsclient.WebSocket(srv.url, timeout=T, headers={"X-Token": "abc", "User-Agent": "pytest"}):
            pass
    assert got["x-token"] == "abc" and got["user-agent"] == "pytest"


def test_ping_pong_rtt_blocking(echo_url: str, deadline) -> None:
    with wsclient.WebSocket(echo_url, timeout=T) as ws:
        ws.ping(b"hello")
        d = deadline(T)
        while ws.info().pongs_received < 1 and not d.expired():
            time.sleep(0.01)
        info = ws.info()
        assert info.pings_sent >= 1 and info.pongs_received >= 1
        assert info.last_rtt_us >= 0 and info.last_rtt is not None and info.last_rtt < T
        with pytest.raises(wsclient.InvalidArgument):
            ws.ping(b"x" * 126)


def test_message_too_big(echo_url: str) -> None:
    with wsclient.WebSocket(echo_url, timeout=T, max_message_size=1000) as ws:
        ws.send(b"x" * 2000)
        with pytest.raises(wsclient.ProtocolError) as ei:
            ws.recv(T)
        assert ei.value.code == 14 and ei.value.name == "WS_E_MESSAGE_TOO_BIG"


def test_health_check_fails_a_silent_connection() -> None:
    """After the upgrade the server reads nothing and answers no ping."""
    stop = threading.Event()

    def handler(conn: socket.socket, _req: Request) -> None:
        stop.wait(T)

    with MiniServer(handler) as srv:
        ws = wsclient.WebSocket(srv.url, timeout=T, ping_interval=0.2, pong_timeout=0.3)
        t0 = time.monotonic()
        with pytest.raises(wsclient.ConnectionLost) as ei:
            ws.recv(T)
        assert ei.value.code == 24 and ei.value.name == "WS_E_HEALTH_CHECK"
        assert time.monotonic() - t0 < T
        ws.close()
        stop.set()


def test_unclosed_websocket_warns_and_closes(echo_url: str) -> None:
    ws = wsclient.WebSocket(echo_url, timeout=T)
    with pytest.warns(ResourceWarning):
        ws.__del__()
    assert ws.closed


def test_busy_poll_option(echo_url: str) -> None:
    # "busyPoll" passes through `options` in the library's spelling (µs)
    with wsclient.WebSocket(echo_url, timeout=T, options={"busyPoll": 200}) as ws:
        for i in range(200):
            ws.send(f"m{i}")
            assert ws.recv(T) == f"m{i}"
        payload = os.urandom(1 << 20)
        ws.send(payload)
        assert ws.recv(T) == payload
    # the keyword takes seconds; a spin longer than the receive timeout does
    # not stretch it
    with wsclient.WebSocket(echo_url, timeout=T, busy_poll=1.0) as ws:
        t0 = time.monotonic()
        with pytest.raises(wsclient.WebSocketTimeout):
            ws.recv(0.2)
        assert 0.15 < time.monotonic() - t0 < 1.5
        ws.send("after")
        assert ws.recv(T) == "after"
    for bad in ({"options": {"busyPoll": -1}}, {"busy_poll": -1e-6}, {"busy_poll": 2.0}):
        with pytest.raises(wsclient.InvalidArgument) as ei:
            wsclient.WebSocket(echo_url, timeout=T, **bad)
        assert ei.value.name == "WS_E_INVALID_OPTIONS" and '"busyPoll"' in str(ei.value), bad
    with pytest.raises(wsclient.InvalidArgument):
        wsclient.WebSocket(echo_url, timeout=T, busy_poll="50")  # type: ignore[arg-type]
    assert wsclient._options.build_options(busy_poll=50e-6) == '{"busyPoll": 50}'
