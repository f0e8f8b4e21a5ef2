"""Subprocess program (tests/test_shutdown.py): the interpreter exits while
a callback queue is in use and events are still flowing.

    python prog_callback_exit.py URL MODE

The callback echoes every message it gets, so messages keep flowing through
the library's callback thread until the program ends. Once 20 have gone
round, the main thread:

- ``attached``: just returns (exits with the callback still set and the
  socket open);
- ``detached``: switches the callback off, closes the socket and the queue,
  then returns;
- ``self-detached``: lets the callback switch itself off (from inside) and
  returns at once, while that callback may still be running;
- ``dropped``: forgets the queue and the socket without closing anything.

The process must exit with status 0 (the bug: abort, "FATAL: exception not
rethrown", status 134). Prints "READY" before returning from main.
"""

from __future__ import annotations

import sys
import threading
import weakref

import wsclient

DEADLINE = 30.0


def main() -> int:
    url, mode = sys.argv[1], sys.argv[2]
    q = wsclient.EventQueue()
    qref = weakref.ref(q)  # the callback must not keep the queue alive ("dropped")
    holder: dict = {}
    ready = threading.Event()
    enough = threading.Event()
    count = [0]

    def on_event(ev: wsclient.Event) -> None:
        ready.wait(DEADLINE)
        ws = holder["ws"]
        if ev.type == wsclient.EventType.OPEN:
            for i in range(4):
                ws.send(f"message {i}")
        elif ev.type == wsclient.EventType.MESSAGE:
            count[0] += 1
            if count[0] >= 20:
                enough.set()
                if mode == "self-detached" and count[0] == 20:
                    qref().set_callback(None)  # type: ignore[union-attr]
                    # still running after detaching itself: Python code
                    # keeps executing here while the main thread exits
                    sum(range(200000))
                    return
            try:
                ws.send(ev.data)
            except wsclient.WebSocketError:
                pass

    q.set_callback(on_event)
    holder["ws"] = q.open(url, timeout=DEADLINE)
    ready.set()
    if not enough.wait(DEADLINE):
        print("FAIL: the callback saw no messages", flush=True)
        return 1
    if mode == "detached":
        q.set_callback(None)
        holder["ws"].close()
        q.close()
    elif mode == "dropped":
        del q  # destroyed by its __del__, from this thread, while events flow
    print("READY", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
