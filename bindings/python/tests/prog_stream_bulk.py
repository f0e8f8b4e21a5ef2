"""One message of SIZE MiB each way in 64 KiB pieces, in a process of its own
(so that its RSS is this transfer's alone):

    prog_stream_bulk.py URL SIZE_MIB

A thread sends the message with send_stream() from a generator (each chunk
made when it is asked for and dropped once sent); the main thread reads the
echo with recv_stream() on a stream_receive socket (maxMessageSize 0) and
hashes it as it comes. The RSS is sampled every 10 ms by a third thread and
after every received piece. Prints one JSON line: both SHA-256 digests, the
byte counts, the RSS before the transfer and the largest seen during it,
the piece count and the largest piece, the seconds taken.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import sys
import threading
import time
from typing import Iterator, List

import wsclient

CHUNK = 64 * 1024
PAGE = os.sysconf("SC_PAGE_SIZE")


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def main() -> int:
    url, size_mib = sys.argv[1], int(sys.argv[2])
    total = size_mib << 20
    chunks = total // CHUNK
    # 1 MiB of varied bytes; chunk i is its index followed by a slice of it
    # that moves with i, so a lost, repeated or reordered piece changes the
    # digest.
    base = hashlib.shake_256(b"wsclient streaming").digest(1 << 20) * 2
    sent = hashlib.sha256()

    def generate() -> Iterator[bytes]:
        for i in range(chunks):
            at = (i * 4099) % (1 << 20)
            c = struct.pack("<Q", i) + base[at : at + CHUNK - 8]
            sent.update(c)
            yield c

    ws = wsclient.WebSocket(url, timeout=10, stream_receive=True, max_message_size=0, ping_interval=0)
    # warm-up: a small message both ways, so buffers and code paths exist
    # before the baseline
    ws.send_stream([b"warm", b"up"])
    assert b"".join(ws.recv_stream(10)) == b"warmup"
    base_rss = rss()
    peak = [base_rss]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.01):
            peak[0] = max(peak[0], rss())

    errors: List[BaseException] = []

    def send() -> None:
        try:
            ws.send_stream(generate())
        except BaseException as e:  # noqa: BLE001 - reported by the main thread
            errors.append(e)

    sampler = threading.Thread(target=sample, daemon=True)
    sender = threading.Thread(target=send, daemon=True)
    t0 = time.monotonic()
    sampler.start()
    sender.start()
    got = hashlib.sha256()
    received = pieces = biggest = 0
    stream = ws.recv_stream(60, piece_size=CHUNK)
    for piece in stream:
        if stream.offset != received:
            raise AssertionError(f"piece at offset {stream.offset}, expected {received}")
        got.update(piece)
        received += len(piece)
        pieces += 1
        biggest = max(biggest, len(piece))
        peak[0] = max(peak[0], rss())
    sender.join(60)
    seconds = time.monotonic() - t0
    stop.set()
    sampler.join(5)
    if errors:
        raise errors[0]
    if sender.is_alive():
        raise AssertionError("send_stream() has not returned 60 s after the echo ended")
    ws.close()
    print(
        json.dumps(
            {
                "sent_sha256": sent.hexdigest(),
                "received_sha256": got.hexdigest(),
                "sent": chunks * CHUNK,
                "received": received,
                "last": stream.last,
                "text": stream.text,
                "rss_base": base_rss,
                "rss_peak": peak[0],
                "pieces": pieces,
                "biggest_piece": biggest,
                "seconds": round(seconds, 2),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
