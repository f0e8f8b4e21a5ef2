"""Issue 18: another thread's close()/reconnect() must never make recv() or
next_event() read memory the library freed.

The scenarios run in subprocesses (tests/prog_race_*.py), so that a crash is
a failed test and not the end of the test run. They force the dangerous
interleaving by wrapping the library functions the binding calls: the racing
close()/reconnect() runs to completion after the library returned a message
and before the binding converted it. Before the fix (recv() copied the
buffer ws_read lent; next_event() converted after a concurrent destroy) the
48 MiB runs died with SIGSEGV or returned wrong bytes, and the ASan runs
reported heap-use-after-free.

The ASan runs load the compiler's libasan with LD_PRELOAD: the library is
not instrumented, but its allocations and CPython's memcpy go through ASan,
which is what catches a copy from freed memory.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from typing import List, Optional

import pytest

import wsclient
from conftest import run_program, within

BIG = 48 << 20  # large enough that a freed buffer is unmapped: wrong bytes or SIGSEGV
T = 10


def _libasan() -> Optional[str]:
    for cc in ("gcc", "cc", "clang"):
        try:
            out = subprocess.run([cc, "-print-file-name=libasan.so"], capture_output=True, text=True,
                                 timeout=30).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            continue
        if out and os.path.isabs(out) and os.path.exists(out):
            return out
    return None


LIBASAN = _libasan()


def _check(r: "subprocess.CompletedProcess[str]", iterations: int) -> str:
    out = r.stdout.strip().splitlines()
    assert r.returncode == 0, f"status {r.returncode}\nstdout: {r.stdout[-2000:]}\nstderr: {r.stderr[-4000:]}"
    assert out and out[-1].startswith(f"OK {iterations} "), r.stdout
    assert "AddressSanitizer" not in r.stderr, r.stderr[-4000:]
    return out[-1]


@pytest.mark.parametrize(
    "mode, iterations, must_deliver",
    [
        # 25 + 25: the forced point where the old code copied freed memory
        ("close-after", 25, True),
        ("reconnect-after", 25, True),
        # the message is kept by the library (too big for the first buffer)
        # and the socket is closed before the binding fetches it
        ("close-kept", 10, False),
        # any phase: the racer starts as the reader enters the library
        ("close-enter", 10, False),
        ("reconnect-enter", 10, False),
    ],
)
def test_recv_racing_close_or_reconnect(echo_url: str, mode: str, iterations: int, must_deliver: bool) -> None:
    line = _check(run_program("prog_race_recv.py", echo_url, mode, str(iterations), str(BIG), timeout=300),
                  iterations)
    if must_deliver:
        assert f"delivered={iterations} " in line, line


@pytest.mark.skipif(LIBASAN is None, reason="no libasan.so from gcc/clang on this machine")
@pytest.mark.parametrize("mode", ["close-after", "reconnect-after", "close-kept", "close-enter"])
def test_recv_racing_close_under_asan(echo_url: str, mode: str) -> None:
    _check(run_program("prog_race_recv.py", echo_url, mode, "10", str(1 << 20), timeout=300,
                       preload=LIBASAN or ""), 10)


@pytest.mark.parametrize("mode, iterations", [("after", 50), ("enter", 20)])
def test_next_event_racing_queue_close(echo_url: str, mode: str, iterations: int) -> None:
    _check(run_program("prog_race_events.py", echo_url, mode, str(iterations), str(8 << 20), timeout=300),
           iterations)


@pytest.mark.skipif(LIBASAN is None, reason="no libasan.so from gcc/clang on this machine")
@pytest.mark.parametrize("mode", ["after", "enter"])
def test_next_event_racing_queue_close_under_asan(echo_url: str, mode: str) -> None:
    _check(run_program("prog_race_events.py", echo_url, mode, "20", str(1 << 20), timeout=300,
                       preload=LIBASAN or ""), 20)


def test_close_from_another_thread_wakes_recv_at_every_point(echo_url: str, monkeypatch) -> None:
    """close() on another thread, started as the reader enters the library:
    whether the reader is already waiting or not, recv() raises
    ConnectionClosed promptly (no close frame comes from the echo server
    unprompted, so without the close it would wait forever)."""
    lib = wsclient._lib.lib
    entered = threading.Event()

    def spy_on(name: str) -> None:
        real = getattr(lib, name)

        def spy(*args):  # type: ignore[no-untyped-def]
            entered.set()
            return real(*args)

        monkeypatch.setattr(lib, name, spy)

    spy_on("ws_read")
    spy_on("ws_read_into")
    for _ in range(20):
        entered.clear()
        ws = wsclient.WebSocket(echo_url, timeout=T)
        outcome: List[BaseException] = []

        def reader() -> None:
            try:
                ws.recv(None)  # forever, unless woken
            except BaseException as e:  # noqa: BLE001
                outcome.append(e)

        t = threading.Thread(target=reader)
        t.start()
        assert entered.wait(T)
        t0 = time.monotonic()
        ws.close()
        t.join(T)
        assert not t.is_alive(), "recv was not woken by close()"
        assert time.monotonic() - t0 < 5
        assert len(outcome) == 1 and isinstance(outcome[0], wsclient.ConnectionClosed), outcome
        assert ws.closed and ws.socket == 0


def test_two_readers_with_timeouts_share_a_socket(echo_url: str) -> None:
    """Readers of one socket take turns in the library; one waiting without
    a limit does not hold up another's timeout (the binding adds no lock)."""
    with wsclient.WebSocket(echo_url, timeout=T) as ws:
        entered = threading.Event()
        got: List[object] = []

        def forever() -> None:
            entered.set()
            try:
                got.append(ws.recv(None))
            except wsclient.ConnectionClosed as e:
                got.append(e)

        t = threading.Thread(target=forever)
        t.start()
        assert entered.wait(T)
        second: List[object] = []

        def with_timeout() -> None:
            t0 = time.monotonic()
            try:
                ws.recv(0.3)
            except BaseException as e:  # noqa: BLE001
                second.append(e)
            second.append(time.monotonic() - t0)

        t2 = threading.Thread(target=with_timeout, daemon=True)
        t2.start()
        t2.join(T)
        assert not t2.is_alive(), "a reader with a 0.3 s timeout waited for the other reader"
        assert isinstance(second[0], wsclient.WebSocketTimeout) and second[1] < 5, second
        ws.send(b"x" * 200_000)  # larger than the first buffer: read in two steps
        t.join(T)
        assert not t.is_alive()
        assert got == [b"x" * 200_000]


def test_two_queue_consumers_with_timeouts(echo_url: str) -> None:
    """A consumer waiting forever does not hold up another's timeout, and
    each gets whole events (each thread has its own lent event)."""
    with wsclient.EventQueue() as q:
        ws = q.connect(echo_url, timeout=T)
        assert within(T, q.next_event, T).type == wsclient.EventType.OPEN
        got: List[object] = []
        entered = threading.Event()

        def forever() -> None:
            entered.set()
            try:
                got.append(q.next_event(None))
            except wsclient.BadSocket as e:
                got.append(e)

        t = threading.Thread(target=forever, daemon=True)
        t.start()
        assert entered.wait(T)
        t0 = time.monotonic()
        # nothing was sent yet: the timed consumer times out while the other waits
        assert within(T, q.next_event, 0.3) is None
        assert 0.25 <= time.monotonic() - t0 < 5
        ws.send(b"y" * 100_000)
        t.join(T)
        assert not t.is_alive(), "the consumer waiting forever got no event"
        ev = got[0]
        assert isinstance(ev, wsclient.Event) and ev.data == b"y" * 100_000
        ws.close()
