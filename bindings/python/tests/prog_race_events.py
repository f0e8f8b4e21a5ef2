"""Subprocess program (tests/test_races.py): EventQueue.next_event() racing
EventQueue.close() on another thread, at forced points.

    python prog_race_events.py URL MODE ITERATIONS SIZE

ws_next_event is wrapped so that the other thread's close() runs:

- ``after``: to completion after ws_next_event returned an event (WS_OK) and
  before the binding converts it. A binding that converts the event anyway
  reads data the library freed when it destroyed the queue.
- ``enter``: started as the consumer enters ws_next_event, not waited for.

Each next_event() must return the MESSAGE event with the whole message or
raise BadSocket; anything else exits non-zero. Prints "OK ..." at the end.
"""

from __future__ import annotations

import os
import sys
import threading

import wsclient
from wsclient import _lib

DEADLINE = 30.0


def main() -> int:
    url, mode, iterations, size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    payload = os.urandom(size)
    lib = _lib.lib
    state: dict = {"q": None, "armed": False, "racer": None}

    def run_racer(wait: bool) -> None:
        state["armed"] = False
        t = threading.Thread(target=state["q"].close)
        state["racer"] = t
        t.start()
        if wait:
            t.join(DEADLINE)
            if t.is_alive():
                print("FAIL: EventQueue.close() did not return", flush=True)
                os._exit(3)

    real = lib.ws_next_event

    def wrapper(*args):  # type: ignore[no-untyped-def]
        if state["armed"] and mode == "enter":
            run_racer(wait=False)
        rc = real(*args)
        if state["armed"] and mode == "after" and rc == _lib.WS_OK:
            run_racer(wait=True)
        return rc

    lib.ws_next_event = wrapper

    delivered = destroyed = 0
    for i in range(iterations):
        q = wsclient.EventQueue()
        state["q"] = q
        ws = q.connect(url, timeout=DEADLINE)
        ev = q.next_event(DEADLINE)
        if ev is None or ev.type != wsclient.EventType.OPEN:
            print(f"FAIL: iteration {i}: expected OPEN, got {ev}", flush=True)
            return 1
        ws.send(payload)
        state["armed"] = True
        try:
            ev = q.next_event(DEADLINE)
        except wsclient.BadSocket:
            destroyed += 1
        else:
            if ev is None or ev.type != wsclient.EventType.MESSAGE or ev.data != payload:
                what = None if ev is None else (ev.type, len(ev.data))
                print(f"FAIL: iteration {i}: not the message: {what}", flush=True)
                return 1
            delivered += 1
        state["armed"] = False
        if state["racer"] is not None:
            state["racer"].join(DEADLINE)
            if state["racer"].is_alive():
                print("FAIL: EventQueue.close() did not return", flush=True)
                return 3
            state["racer"] = None
        ws.close()
        q.close()
    print(f"OK {iterations} delivered={delivered} destroyed={destroyed}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
