"""The GIL is released in every library call: full duplex across threads."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from typing import Dict, List

import pytest

import wsclient

T = 10


def test_send_while_another_thread_is_blocked_in_recv(echo_url: str) -> None:
    with wsclient.WebSocket(echo_url, timeout=T) as ws:
        got: List[object] = []
        started = threading.Event()

        def reader() -> None:
            started.set()
            got.append(ws.recv(T))  # blocks in C without the GIL

        t = threading.Thread(target=reader)
        t.start()
        assert started.wait(T)
        time.sleep(0.2)  # the reader is now inside ws_read
        t0 = time.monotonic()
        ws.send("from the main thread")  # must not wait for the reader
        assert time.monotonic() - t0 < 2
        t.join(T)
        assert not t.is_alive()
        assert got == ["from the main thread"]


def test_python_threads_run_while_recv_blocks(echo_url: str) -> None:
    """A pure-Python thread keeps running while the main thread waits in C."""
    with wsclient.WebSocket(echo_url, timeout=T) as ws:
        counter = [0]
        stop = threading.Event()

        def spin() -> None:
            while not stop.is_set():
                counter[0] += 1

        t = threading.Thread(target=spin)
        t.start()
        try:
            with pytest.raises(wsclient.WebSocketTimeout):
                ws.recv(timeout=0.5)
        finally:
            stop.set()
            t.join(T)
        assert counter[0] > 1000


def test_many_senders_one_receiver(echo_url: str) -> None:
    senders, per_sender = 4, 250
    with wsclient.WebSocket(echo_url, timeout=T) as ws:
        received: List[str] = []
        errors: List[BaseException] = []

        def receive() -> None:
            try:
                for _ in range(senders * per_sender):
                    received.append(ws.recv(T))  # type: ignore[arg-type]
            except BaseException as e:  # noqa: BLE001
                errors.append(e)

        def send(n: int) -> None:
            try:
                for i in range(per_sender):
                    ws.send(f"{n}:{i}")
            except BaseException as e:  # noqa: BLE001
                errors.append(e)

        r = threading.Thread(target=receive)
        r.start()
        ts = [threading.Thread(target=send, args=(n,)) for n in range(senders)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(T * 3)
        r.join(T * 3)
        assert not errors, errors
        assert len(received) == senders * per_sender
        # Each sender's messages arrive whole and in its order.
        by_sender: Dict[str, List[int]] = defaultdict(list)
        for m in received:
            n, i = m.split(":")
            by_sender[n].append(int(i))
        assert all(v == list(range(per_sender)) for v in by_sender.values())


def test_close_from_another_thread_wakes_recv(echo_url: str) -> None:
    ws = wsclient.WebSocket(echo_url, timeout=T)
    outcome: List[BaseException] = []
    started = threading.Event()

    def reader() -> None:
        started.set()
        try:
            ws.recv(None)  # forever, unless woken
        except BaseException as e:  # noqa: BLE001
            outcome.append(e)

    t = threading.Thread(target=reader)
    t.start()
    assert started.wait(T)
    time.sleep(0.2)
    t0 = time.monotonic()
    ws.close()
    t.join(T)
    assert not t.is_alive(), "recv was not woken by close()"
    assert time.monotonic() - t0 < 5
    assert len(outcome) == 1 and isinstance(outcome[0], wsclient.ConnectionClosed)


def test_threads_each_with_a_connection(echo_url: str) -> None:
    errors: List[BaseException] = []

    def worker(n: int) -> None:
        try:
            with wsclient.WebSocket(echo_url, timeout=T) as ws:
                for i in range(50):
                    ws.send(f"{n}-{i}")
                    assert ws.recv(T) == f"{n}-{i}"
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    ts = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(T * 3)
    assert not errors, errors
