"""Tiny WebSocket servers for the tests, stdlib only (socket, threading).

A MiniServer listens on 127.0.0.1, port 0, and runs `handler(conn, request)`
on a thread for each connection; `request` is the parsed upgrade request.
Handlers script the misbehaviour a test needs (never answer, reject the
upgrade, close with a code, send a message in pieces, ...) with the helpers
below. Every socket operation has a timeout so a broken test cannot hang.
"""

from __future__ import annotations

import base64
import hashlib
import socket
import struct
import threading
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Tuple

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
IO_TIMEOUT = 10.0


@dataclass
class Request:
    line: str
    headers: Dict[str, str]  # lower-case names

    @property
    def key(self) -> str:
        return self.headers.get("sec-websocket-key", "")


def read_request(conn: socket.socket) -> Request:
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = conn.recv(4096)
        if not chunk:
            raise ConnectionError("client closed before the request ended")
        buf += chunk
    head = buf.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    lines = head.split("\r\n")
    headers: Dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Request(lines[0], headers)


def accept_key(key: str) -> str:
    return base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()


def send_101(conn: socket.socket, req: Request, extra: str = "") -> None:
    conn.sendall(
        (
            "HTTP/1.1 101 Switching Protocols\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {accept_key(req.key)}\r\n{extra}\r\n"
        ).encode()
    )


def frame(opcode: int, payload: bytes = b"", fin: bool = True) -> bytes:
    """A server frame (unmasked)."""
    b0 = (0x80 if fin else 0) | opcode
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", b0, n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, 126, n)
    else:
        head = struct.pack("!BBQ", b0, 127, n)
    return head + payload


def close_frame(code: Optional[int], reason: str = "") -> bytes:
    payload = b"" if code is None else struct.pack("!H", code) + reason.encode()
    return frame(0x8, payload)


def _recv_exact(conn: socket.socket, n: int) -> bytes:
    out = b""
    while len(out) < n:
        chunk = conn.recv(n - len(out))
        if not chunk:
            raise ConnectionError("connection closed")
        out += chunk
    return out


def read_frame(conn: socket.socket) -> Tuple[int, bytes]:
    """(opcode, unmasked payload) of the client's next frame."""
    _fin, op, payload = read_frame_fin(conn)
    return op, payload


def read_frame_fin(conn: socket.socket) -> Tuple[bool, int, bytes]:
    """(FIN bit, opcode, unmasked payload) of the client's next frame."""
    b0, b1 = _recv_exact(conn, 2)
    n = b1 & 0x7F
    if n == 126:
        (n,) = struct.unpack("!H", _recv_exact(conn, 2))
    elif n == 127:
        (n,) = struct.unpack("!Q", _recv_exact(conn, 8))
    mask = _recv_exact(conn, 4) if b1 & 0x80 else b"\0\0\0\0"
    data = bytearray(_recv_exact(conn, n))
    for i in range(n):
        data[i] ^= mask[i % 4]
    return bool(b0 & 0x80), b0 & 0x0F, bytes(data)


def parse_close(payload: bytes) -> Tuple[Optional[int], str]:
    if len(payload) < 2:
        return None, ""
    return struct.unpack("!H", payload[:2])[0], payload[2:].decode("utf-8", "replace")


Handler = Callable[[socket.socket, Request], None]


@dataclass
class MiniServer:
    """Serves `handler` on 127.0.0.1:<free port> until close()."""

    handler: Handler
    upgrade: bool = True  # read the request and answer 101 before the handler
    sock: socket.socket = field(init=False)
    port: int = field(init=False)
    errors: List[BaseException] = field(default_factory=list)
    _threads: List[threading.Thread] = field(default_factory=list)
    _conns: List[socket.socket] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()
        t = threading.Thread(target=self._accept_loop, name="miniserver-accept", daemon=True)
        t.start()
        self._threads.append(t)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"

    def _accept_loop(self) -> None:
        self.sock.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            conn.settimeout(IO_TIMEOUT)
            self._conns.append(conn)
            t = threading.Thread(target=self._serve, args=(conn,), name="miniserver-conn", daemon=True)
            t.start()
            self._threads.append(t)

    def _serve(self, conn: socket.socket) -> None:
        try:
            req = read_request(conn) if self.upgrade else Request("", {})
            if self.upgrade and req.key:
                send_101(conn, req)
            self.handler(conn, req)
        except (ConnectionError, socket.timeout, OSError):
            pass  # the client went away: normal for these tests
        except BaseException as e:  # noqa: BLE001 - reported to the test
            self.errors.append(e)
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def close(self) -> None:
        self._stop.set()
        self.sock.close()
        for c in self._conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for t in self._threads:
            t.join(timeout=5)

    def __enter__(self) -> "MiniServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
