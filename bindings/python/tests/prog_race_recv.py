"""Subprocess program (tests/test_races.py): recv() of a large message racing
close() or reconnect() from another thread, at forced points.

    python prog_race_recv.py URL MODE ITERATIONS SIZE

The library functions the binding calls to read (ws_read, ws_read_into) are
wrapped so that the other thread's close()/reconnect() runs, to completion,
at a chosen point of recv():

- ``close-after``/``reconnect-after``: after the library call returned a
  message (WS_OK) and before the binding turns it into ``bytes``. A binding
  that copies from memory the library lent (ws_read) copies freed memory
  here: with a message of many MiB, SIGSEGV or wrong bytes.
- ``close-kept``: after a call that reported WS_E_BUFFER_TOO_SMALL (the
  message is kept by the library) and before the binding fetches it.
- ``close-enter``/``reconnect-enter``: started as the reader enters the
  library call, not waited for (any phase of the library's own work). After
  a reconnect the racer sends MARKER on the new connection: a reader that
  ended up waiting there returns it.

Every recv() must return the whole message unchanged or raise
ConnectionClosed (or return MARKER) only where the close or reconnect came
before the message was delivered; anything else exits non-zero. Prints
"OK <n> delivered=<d> closed=<c>" at the end.
"""

from __future__ import annotations

import os
import sys
import threading

import wsclient
from wsclient import _lib

DEADLINE = 30.0
MARKER = b"after the reconnect"


def main() -> int:
    url, mode, iterations, size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    payload = os.urandom(size)
    lib = _lib.lib
    state: dict = {"ws": None, "armed": False, "racer": None}

    def race() -> None:
        ws = state["ws"]
        if mode.startswith("reconnect"):
            try:
                ws.reconnect()
            except wsclient.WebSocketError:
                return
            # A reader that waits on the new connection (it entered the
            # library after the reconnect took the old one away) gets this.
            ws.send(MARKER)
        else:
            ws.close()

    def run_racer(wait: bool) -> None:
        state["armed"] = False
        t = threading.Thread(target=race)
        state["racer"] = t
        t.start()
        if wait:
            t.join(DEADLINE)
            if t.is_alive():
                print("FAIL: close()/reconnect() did not return", flush=True)
                os._exit(3)

    def wrap(name: str) -> None:
        real = getattr(lib, name)

        def wrapper(*args):  # type: ignore[no-untyped-def]
            if state["armed"] and mode.endswith("-enter"):
                run_racer(wait=False)
            rc = real(*args)
            if state["armed"]:
                if mode.endswith("-after") and rc == _lib.WS_OK:
                    run_racer(wait=True)
                elif mode == "close-kept" and rc == _lib.WS_ERROR and \
                        lib.ws_last_error_code() == _lib.WS_E_BUFFER_TOO_SMALL:
                    run_racer(wait=True)
            return rc

        setattr(lib, name, wrapper)

    for name in ("ws_read", "ws_read_into"):
        wrap(name)

    delivered = closed = 0
    for i in range(iterations):
        ws = wsclient.WebSocket(url, timeout=DEADLINE)
        state["ws"] = ws
        ws.send(payload)
        state["armed"] = True
        try:
            got = ws.recv(DEADLINE)
        except wsclient.ConnectionClosed:
            if mode.endswith("-after"):
                print(f"FAIL: iteration {i}: the message was delivered, then lost", flush=True)
                return 1
            closed += 1
        else:
            if got == MARKER and mode == "reconnect-enter":
                closed += 1
            elif got != payload:
                print(f"FAIL: iteration {i}: got {len(got)} bytes that are not the message", flush=True)
                return 1
            else:
                delivered += 1
        state["armed"] = False
        if state["racer"] is not None:
            state["racer"].join(DEADLINE)
            if state["racer"].is_alive():
                print("FAIL: close()/reconnect() did not return", flush=True)
                return 3
            state["racer"] = None
        ws.close()
    print(f"OK {iterations} delivered={delivered} closed={closed}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
