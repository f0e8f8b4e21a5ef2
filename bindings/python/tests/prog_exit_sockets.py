"""Subprocess program (tests/test_shutdown.py): the interpreter exits with
sockets still open to a server that never answers the close.

    python prog_exit_sockets.py URL COUNT MODE

Opens COUNT sockets (close_timeout 1 s), prints "READY" and returns from
main with every socket still open:

- ``global``: the sockets stay referenced by a module global (the exit hook
  closes them);
- ``reader``: the same, and a daemon thread is blocked in recv() on each
  (closing at exit wakes it; it must not crash the exit);
- ``no-close-many``: as ``global``, with the binding told the library has
  no ws_close_many (an older libwsclient): the fallback closes on threads.

A binding that closes them one after another at exit takes COUNT x 1 s; the
exit must take about one close_timeout in all, and end with status 0.
"""

from __future__ import annotations

import sys
import threading

import wsclient

KEEP: list = []


def main() -> int:
    url, count, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    if mode == "no-close-many":
        real_has = wsclient._lib.has
        wsclient._lib.has = lambda name: name != "ws_close_many" and real_has(name)
    for _ in range(count):
        KEEP.append(wsclient.WebSocket(url, timeout=10, close_timeout=1))
    if mode == "reader":
        started = threading.Barrier(count + 1, timeout=10)

        def reader(ws: wsclient.WebSocket) -> None:
            started.wait()
            try:
                ws.recv()
            except wsclient.WebSocketError:
                pass

        for ws in KEEP:
            threading.Thread(target=reader, args=(ws,), daemon=True).start()
        started.wait()
    print("READY", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
