"""Issue 18: interpreter exit with callback queues and open sockets.

Each scenario is a real interpreter exit, so it runs in a subprocess
(tests/prog_*.py) and the test checks the exit status and how long the exit
took.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections import Counter

import pytest

from conftest import HERE
from miniserver import MiniServer

RUNS = 20


@pytest.mark.parametrize("mode", ["attached", "detached", "self-detached", "dropped"])
def test_exit_with_a_callback_queue_in_use(echo_url: str, mode: str) -> None:
    """Before the fix: abort ("FATAL: exception not rethrown", status 134)
    at every exit with the callback still set, and often after the program
    had switched it off and closed everything."""
    statuses: Counter = Counter()
    failures = []
    for _ in range(RUNS):
        r = subprocess.run([sys.executable, str(HERE / "prog_callback_exit.py"), echo_url, mode],
                           capture_output=True, text=True, timeout=60)
        statuses[r.returncode] += 1
        if r.returncode != 0 or "READY" not in r.stdout or "Traceback" in r.stderr:
            failures.append((r.returncode, r.stdout[-300:], r.stderr[-1500:]))
    assert not failures, f"exit statuses {dict(statuses)} in {RUNS} runs; first failure: {failures[0]}"


def _timed_exit(url: str, count: int, mode: str) -> float:
    """Seconds from the program's READY (just before main returns) to its end."""
    p = subprocess.Popen([sys.executable, str(HERE / "prog_exit_sockets.py"), url, str(count), mode],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line: list = []
    reader = threading.Thread(target=lambda: line.append(p.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(60)
    if not line or line[0].strip() != "READY":
        p.kill()
        out, err = p.communicate(10)
        pytest.fail(f"no READY: {line!r} {out!r} {err[-2000:]!r}")
    t0 = time.monotonic()
    try:
        _, err = p.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate(10)
        pytest.fail("the exit took more than 60 s")
    elapsed = time.monotonic() - t0
    assert p.returncode == 0, f"status {p.returncode}: {err[-2000:]}"
    assert "Traceback" not in err and "ResourceWarning" not in err, err[-2000:]
    return elapsed


@pytest.mark.parametrize("mode", ["global", "reader", "no-close-many"])
def test_exit_with_open_sockets_closes_them_in_parallel(close_ignoring_server: MiniServer, mode: str) -> None:
    """8 sockets, close_timeout 1 s, a server that never answers the close:
    one after another the exit takes 8 s (before the fix: 8.2 s, or no close
    at all when a thread still referenced the sockets); all at once it takes
    one close_timeout."""
    elapsed = _timed_exit(close_ignoring_server.url, 8, mode)
    assert elapsed < 3.5, f"exit took {elapsed:.2f} s for 8 sockets with close_timeout 1 s"
    # every socket was closed (Going Away), and the exit waited for answers
    assert close_ignoring_server.wait_closes(8, 10) == [1001] * 8  # type: ignore[attr-defined]
    assert elapsed >= 0.8


def test_close_open_sockets_on_demand(close_ignoring_server: MiniServer) -> None:
    import wsclient

    socks = [wsclient.WebSocket(close_ignoring_server.url, timeout=10, close_timeout=0.5) for _ in range(4)]
    t0 = time.monotonic()
    wsclient.close_open_sockets()
    elapsed = time.monotonic() - t0
    assert all(ws.closed and ws.socket == 0 for ws in socks)
    assert 0.4 <= elapsed < 2.5, elapsed  # one close_timeout for all four
    assert close_ignoring_server.wait_closes(4, 10) == [1001] * 4  # type: ignore[attr-defined]
    socks[0].close()  # idempotent afterwards
    with pytest.raises(wsclient.ConnectionClosed):
        socks[1].send("late")
