"""The event API: EventQueue, open_async, callbacks."""

from __future__ import annotations

import socket
import threading
from typing import List

import pytest

import wsclient
from wsclient import EventType
from miniserver import MiniServer, Request, accept_key, close_frame, frame, read_frame, read_request

T = 10


def _next(q: wsclient.EventQueue, kind: EventType) -> wsclient.Event:
    ev = q.next_event(T)
    assert ev is not None, f"no event within {T} s (expected {kind.name})"
    assert ev.type == kind, ev
    return ev


def test_event_flow_open_messages_close(echo_url: str) -> None:
    with wsclient.EventQueue() as q:
        ws = q.open(echo_url, timeout=T)
        assert ws.socket > 0
        ev = _next(q, EventType.OPEN)
        assert ev.socket == ws.socket and ev.code == 101
        assert ws.is_open
        ws.send("text")
        ws.send(b"\x01\x02")
        ev = _next(q, EventType.MESSAGE)
        assert ev.data == "text" and ev.is_text
        ev = _next(q, EventType.MESSAGE)
        assert ev.data == b"\x01\x02" and not ev.is_text
        # Sockets with a queue are read by the library: recv is refused.
        with pytest.raises(wsclient.InvalidArgument):
            ws.recv(0)
        sock = ws.socket
        ws.close(1000, "bye")
        ev = _next(q, EventType.CLOSE)
        assert ev.socket == sock
        assert ev.closed_by == wsclient.ClosedBy.CLIENT and ev.clean and ev.error == 0
        assert q.next_event(0.2) is None  # nothing after the final CLOSE


def test_blocking_open_into_a_queue(echo_url: str) -> None:
    with wsclient.EventQueue() as q:
        ws = q.connect(echo_url, timeout=T)
        _next(q, EventType.OPEN)
        ws.send_many(["a", "b"])
        assert [_next(q, EventType.MESSAGE).data for _ in range(2)] == ["a", "b"]
        ws.close()
        _next(q, EventType.CLOSE)


def test_server_close_event_with_code() -> None:
    def handler(conn: socket.socket, _req: Request) -> None:
        # Waits for the client's message so that nothing travels together
        # with the 101 response (see test_data_with_the_upgrade_response).
        read_frame(conn)
        conn.sendall(frame(0x1, b"last words") + close_frame(4002, "maintenance"))
        read_frame(conn)

    with MiniServer(handler) as srv, wsclient.EventQueue() as q:
        ws = q.open(srv.url, timeout=T)
        _next(q, EventType.OPEN)
        ws.send("go")
        assert _next(q, EventType.MESSAGE).data == "last words"
        ev = _next(q, EventType.CLOSE)
        assert ev.code == 4002 and ev.data == "maintenance"
        assert ev.closed_by == wsclient.ClosedBy.SERVER and ev.clean and ev.error == 0
        assert ws.state == wsclient.State.CLOSED
        ws.close()


def test_async_open_failure_event(refused_url: str) -> None:
    with wsclient.EventQueue() as q:
        ws = q.open(refused_url, timeout=T)
        ev = _next(q, EventType.ERROR)
        assert ev.code == 6 and ev.error_name == "WS_E_CONNECT" and "refused" in ev.data
        ev = _next(q, EventType.CLOSE)
        assert ev.error == 6 and ev.closed_by == wsclient.ClosedBy.ERROR
        assert ws.state == wsclient.State.CLOSED
        ws.close()  # releases the number
        assert q.next_event(0.1) is None


def test_async_open_timeout_event(silent_server: MiniServer) -> None:
    with wsclient.EventQueue() as q:
        ws = q.open(silent_server.url, timeout=0.3)
        ev = _next(q, EventType.ERROR)
        assert ev.code == 16 and ev.error_name == "WS_E_TIMEOUT"
        assert _next(q, EventType.CLOSE).error == 16
        ws.close()


def test_ping_pong_event_rtt(echo_url: str) -> None:
    with wsclient.EventQueue() as q:
        ws = q.open(echo_url, timeout=T)
        _next(q, EventType.OPEN)
        ws.ping("probe")
        ev = _next(q, EventType.PONG)
        assert ev.data == b"probe"
        assert ev.rtt_us >= 0 and ev.rtt is not None and ev.rtt < T
        info = ws.info()
        assert info.pongs_received == 1 and info.last_rtt_us >= 0
        ws.close()
        _next(q, EventType.CLOSE)


def test_queue_callback(echo_url: str) -> None:
    events: List[wsclient.Event] = []
    closed = threading.Event()
    q = wsclient.EventQueue()
    try:
        holder: dict = {}
        ready = threading.Event()

        def on_event(ev: wsclient.Event) -> None:
            ready.wait(T)  # the OPEN event can come before q.open() returns
            events.append(ev)
            if ev.type == EventType.OPEN:
                holder["ws"].send("via callback")
            elif ev.type == EventType.MESSAGE:
                holder["ws"].close()  # allowed from the callback thread
            elif ev.type == EventType.CLOSE:
                closed.set()

        q.set_callback(on_event)
        holder["ws"] = q.open(echo_url, timeout=T)
        ready.set()
        assert closed.wait(T)
        assert [e.type for e in events] == [EventType.OPEN, EventType.MESSAGE, EventType.CLOSE]
        assert events[1].data == "via callback"
        with pytest.raises(wsclient.InvalidArgument):
            q.next_event(0)  # a queue with a callback cannot be polled
        q.set_callback(None)
        assert q.next_event(0) is None
    finally:
        q.close()


def test_destroyed_queue(echo_url: str) -> None:
    q = wsclient.EventQueue()
    q.close()
    q.close()  # idempotent
    with pytest.raises(wsclient.BadSocket):
        q.next_event(0)


def test_auto_reconnect_events() -> None:
    """The server drops the first connection; autoReconnect connects again."""
    count = [0]

    def handler(conn: socket.socket, _req: Request) -> None:
        count[0] += 1
        if count[0] == 1:
            return  # drop without a close frame
        read_frame(conn)  # "go"
        conn.sendall(frame(0x1, b"second"))
        read_frame(conn)

    with MiniServer(handler) as srv, wsclient.EventQueue() as q:
        ws = q.open(srv.url, timeout=T, auto_reconnect={"initial_delay": 0.05, "max_delay": 0.2})
        _next(q, EventType.OPEN)
        kinds = []
        while True:
            ev = q.next_event(T)
            assert ev is not None, kinds
            kinds.append(ev.type)
            if ev.type == EventType.OPEN:
                ws.send("go")
            if ev.type == EventType.MESSAGE:
                assert ev.data == "second"
                break
        assert EventType.RECONNECTING in kinds and EventType.OPEN in kinds
        assert ws.info().reconnects == 1
        ws.close()


def test_data_with_the_upgrade_response() -> None:
    """The server's first message travels in the same segment as its 101."""

    def handler(conn: socket.socket, _req: Request) -> None:
        req = read_request(conn)
        conn.sendall(
            (
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Accept: {accept_key(req.key)}\r\n\r\n"
            ).encode()
            + frame(0x1, b"first")
        )
        read_frame(conn)

    with MiniServer(handler, upgrade=False) as srv, wsclient.EventQueue() as q:
        ws = q.open(srv.url, timeout=T)
        try:
            _next(q, EventType.OPEN)
            ev = q.next_event(2)
            assert ev is not None and ev.data == "first"
        finally:
            ws.close()
