"""Fixtures: the project's echo server and stdlib mini servers.

The echo server binary is $WSCLIENT_ECHO_SERVER, or wsclient-echo-server
next to the loaded library (cargo puts both in target/<profile>/). It is
started on port 0 and prints "LISTENING <port>".
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import wsclient  # noqa: E402
from miniserver import MiniServer  # noqa: E402

STARTUP_TIMEOUT = 15.0


def _echo_binary() -> str:
    env = os.environ.get("WSCLIENT_ECHO_SERVER")
    if env:
        return env
    cand = Path(wsclient.library_path).resolve().parent / "wsclient-echo-server"
    if cand.exists():
        return str(cand)
    pytest.exit(
        "wsclient-echo-server not found: set WSCLIENT_ECHO_SERVER "
        "(cargo build --release --bin wsclient-echo-server)",
        returncode=2,
    )
    raise AssertionError("unreachable")


@pytest.fixture(scope="session")
def echo_url() -> Iterator[str]:
    """ws://127.0.0.1:<port>/ of an echo server shared by the session."""
    yield from _echo_server()


@pytest.fixture(scope="session")
def frames_echo_url() -> Iterator[str]:
    """An echo server started with --frames: it echoes frame by frame as the
    bytes arrive (never a whole message), so a message of any size streams
    through it in bounded memory, and a fragmented message comes back in
    the same fragments."""
    yield from _echo_server("--frames")


def _echo_server(*extra: str) -> Iterator[str]:
    proc = subprocess.Popen(
        [_echo_binary(), "--port", "0", "--host", "127.0.0.1", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line: list = []
    reader = threading.Thread(target=lambda: line.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(STARTUP_TIMEOUT)
    if not line or not line[0].startswith("LISTENING "):
        proc.kill()
        pytest.exit(f"echo server did not start: {line!r} {proc.stderr.read() if proc.poll() is not None else ''}",
                    returncode=2)
    port = int(line[0].split()[1])
    try:
        yield f"ws://127.0.0.1:{port}/"
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@pytest.fixture
def refused_url() -> str:
    """A loopback port with nothing listening (bound, then closed)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"ws://127.0.0.1:{port}/"


@pytest.fixture
def silent_server() -> Iterator[MiniServer]:
    """Accepts TCP and never answers."""
    stop = threading.Event()

    def handler(conn: socket.socket, _req: object) -> None:
        stop.wait(30)

    srv = MiniServer(handler, upgrade=False)
    try:
        yield srv
    finally:
        stop.set()
        srv.close()


@pytest.fixture
def close_ignoring_server() -> Iterator[MiniServer]:
    """Accepts the upgrade, then reads and ignores everything: it never
    answers a close frame (the client waits its closeTimeout).
    `wait_closes(n, timeout)` returns the close codes received once there
    are n (or at the timeout)."""
    from miniserver import parse_close, read_frame

    closes: list = []
    cv = threading.Condition()

    def handler(conn: socket.socket, _req: object) -> None:
        conn.settimeout(30)
        while True:
            op, payload = read_frame(conn)
            if op == 0x8:
                with cv:
                    closes.append(parse_close(payload)[0])
                    cv.notify_all()

    def wait_closes(n: int, timeout: float) -> list:
        with cv:
            cv.wait_for(lambda: len(closes) >= n, timeout)
            return list(closes)

    srv = MiniServer(handler)
    srv.wait_closes = wait_closes  # type: ignore[attr-defined]
    try:
        yield srv
    finally:
        srv.close()


HERE = Path(__file__).resolve().parent


def run_program(name: str, *args: str, timeout: float = 120, env: "dict | None" = None,
                preload: str = "") -> "subprocess.CompletedProcess[str]":
    """Runs tests/<name> with this interpreter (the same installed wsclient)
    and returns the completed process (stdout, stderr as text)."""
    e = dict(os.environ)
    e.update(env or {})
    if preload:
        e["LD_PRELOAD"] = preload
        e.setdefault("ASAN_OPTIONS", "detect_leaks=0")
    return subprocess.run([sys.executable, str(HERE / name), *args], env=e, capture_output=True, text=True,
                          timeout=timeout)


def within(seconds: float, fn, *args, **kwargs):  # type: ignore[no-untyped-def]
    """fn(*args, **kwargs) on a daemon thread: its result, or its exception
    re-raised here; a test failure if it has not returned within `seconds`
    (a call that could block forever cannot hang the test run)."""
    box: list = []

    def run() -> None:
        try:
            box.append((True, fn(*args, **kwargs)))
        except BaseException as e:  # noqa: BLE001 - handed to the caller
            box.append((False, e))

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(seconds)
    if t.is_alive():
        pytest.fail(f"{getattr(fn, '__name__', fn)} did not return within {seconds} s")
    ok, value = box[0]
    if not ok:
        raise value
    return value


class Deadline:
    """A time limit for polling loops in tests."""

    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return max(0.0, self.end - time.monotonic())

    def expired(self) -> bool:
        return time.monotonic() >= self.end


@pytest.fixture
def deadline() -> "type[Deadline]":
    return Deadline
