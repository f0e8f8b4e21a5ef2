"""Issue 18: a callback is referenced exactly as long as the library may
call it (callback quiescence), and detaching never deadlocks."""

from __future__ import annotations

import gc
import threading
import weakref
from typing import List

import wsclient
from wsclient import EventType
from conftest import within

T = 10


class Recorder:
    """A callable whose lifetime a weakref can watch."""

    def __init__(self) -> None:
        self.events: List[wsclient.Event] = []
        self.opened = threading.Event()

    def __call__(self, ev: wsclient.Event) -> None:
        self.events.append(ev)
        if ev.type == EventType.OPEN:
            self.opened.set()


def _collected(ref: "weakref.ref[Recorder]") -> bool:
    gc.collect()
    return ref() is None


def test_callback_lives_exactly_while_registered(echo_url: str) -> None:
    q = wsclient.EventQueue()
    try:
        rec = Recorder()
        ref = weakref.ref(rec)
        q.set_callback(rec)
        ws = q.open(echo_url, timeout=T)
        assert rec.opened.wait(T)
        del rec
        assert not _collected(ref), "a registered callback was freed"
        q.set_callback(None)  # returns once no call of it runs or will start
        assert _collected(ref), "a callback stayed alive after it was switched off"
        assert within(T, q.next_event, 0) is None  # polling works again, nothing waiting
        # replaced by another one: the first goes, the second stays
        a, b = Recorder(), Recorder()
        ra, rb = weakref.ref(a), weakref.ref(b)
        q.set_callback(a)
        q.set_callback(b)
        del a, b
        assert _collected(ra) and not _collected(rb)
        ws.close()
    finally:
        q.close()
    assert _collected(rb), "a callback stayed alive after its queue was destroyed"


def test_no_callbacks_kept_forever() -> None:
    assert not hasattr(wsclient._events, "_KEEP_CALLBACKS")


def test_close_from_the_callback_while_another_thread_closes(echo_url: str, monkeypatch) -> None:
    """The main thread is inside ws_queue_destroy (which waits for the
    running callback) when that callback calls q.close() too: neither may
    wait for the other."""
    q = wsclient.EventQueue()
    destroying = threading.Event()
    real = wsclient._lib.lib.ws_queue_destroy

    def spy(n):  # type: ignore[no-untyped-def]
        destroying.set()
        return real(n)

    monkeypatch.setattr(wsclient._lib.lib, "ws_queue_destroy", spy)
    in_callback = threading.Event()
    closed_inside: List[bool] = []

    def on_event(ev: wsclient.Event) -> None:
        if ev.type == EventType.OPEN and not in_callback.is_set():
            in_callback.set()
            destroying.wait(T)
            q.close()  # the other thread's destroy is waiting for this call
            closed_inside.append(True)

    q.set_callback(on_event)
    ws = q.open(echo_url, timeout=T)
    assert in_callback.wait(T)
    within(T, q.close)
    assert closed_inside == [True]
    ws.close()


def test_set_callback_from_inside_its_own_callback(echo_url: str) -> None:
    """Detaching itself from inside: returns at once (it cannot wait for its
    own call), the call finishes, later events are polled."""
    q = wsclient.EventQueue()
    done = threading.Event()
    seen: List[EventType] = []

    def on_event(ev: wsclient.Event) -> None:
        seen.append(ev.type)
        if ev.type == EventType.OPEN:
            q.set_callback(None)
            seen.append(EventType.UNKNOWN)  # still running after detaching
            done.set()

    try:
        q.set_callback(on_event)
        ws = q.open(echo_url, timeout=T)
        assert done.wait(T)
        ws.send("polled")
        ev = within(T, q.next_event, T)
        assert ev is not None and ev.type == EventType.MESSAGE and ev.data == "polled"
        assert seen == [EventType.OPEN, EventType.UNKNOWN]
        ws.close()
    finally:
        q.close()
