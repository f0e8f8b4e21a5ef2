#!/usr/bin/env python3
"""py-websockets-deflate: the compressed benchmark's Python client
(benches/deflate/run.sh): `websockets` (17.4) sync client,
websockets.sync.client.connect, with permessage-deflate.

    py_websockets_deflate.py [--defaults] [--client-max-window-bits 9-15]
        [--server-max-window-bits 9-15] [--level 0-9] [--mem-level 1-9]
        [--client-no-context-takeover] [--server-no-context-takeover]
        [--no-deflate] [--name NAME] --messages FILE
        --url ws://127.0.0.1:PORT/ --workload rtt|pipeline --count N --size S [--window 64]

The shared bench's client contract (../shared/bench/README.md: command line,
one JSON line on stdout, non-zero exit without JSON on any failure), with
the messages of wsclient-bench's --messages: FILE holds K lines of exactly S
bytes; message i is line i % K with the 16 hex digits of %016x of i written
at byte 8, sent as text. Echo i is checked for length and stamp, and
compared whole when i % 8 == 0; DEFLATEBENCH_TAMPER=stamp / body breaks one
expectation (the self-test's proof that the checks are live).

Compression: --defaults is websockets' own default (compression="deflate":
client_max_window_bits offered without a value, no server window asked,
zlib memLevel 5, level zlib's default 6). Otherwise an explicit
ClientPerMessageDeflateFactory from the flags: both windows offered with
their values (default 15), level (default 6) and memLevel (default 8) as
compress_settings, the no-context-takeover requests when given.
--no-deflate offers nothing.

connect(..., max_size=None, ping_interval=None, proxy=None): no size
limit, no keepalive thread, no proxy lookup. websockets sets TCP_NODELAY
itself; its reader thread hands messages to recv() through a queue.
rtt: send, recv, validate, N times. pipeline: send until 64 are in flight,
recv until 32 are (one send call per message).
"""
import argparse
import json
import os
import sys
import time

from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
from websockets.sync.client import connect

STAMP_OFFSET = 8
STAMP_LEN = 16
FULL_CHECK_EVERY = 8


def fail(msg):
    sys.stderr.write("error: %s\n" % msg)
    sys.exit(2)


def parse_args():
    p = argparse.ArgumentParser(description="websockets sync client, permessage-deflate")

    def bits(lo, hi):
        def conv(v):
            b = int(v)
            if not lo <= b <= hi:
                raise argparse.ArgumentTypeError(f"must be {lo}..{hi}")
            return b
        return conv

    p.add_argument("--defaults", action="store_true", help="websockets' default compression")
    p.add_argument("--no-deflate", action="store_true")
    p.add_argument("--client-max-window-bits", type=bits(9, 15), default=15)
    p.add_argument("--server-max-window-bits", type=bits(9, 15), default=15)
    p.add_argument("--level", type=bits(0, 9), default=6)
    p.add_argument("--mem-level", type=bits(1, 9), default=8)
    p.add_argument("--client-no-context-takeover", action="store_true")
    p.add_argument("--server-no-context-takeover", action="store_true")
    p.add_argument("--name", default="py-websockets-deflate")
    p.add_argument("--messages", required=True)
    p.add_argument("--url", required=True)
    p.add_argument("--workload", required=True, choices=["rtt", "pipeline"])
    p.add_argument("--count", required=True, type=int)
    p.add_argument("--size", required=True, type=int)
    p.add_argument("--window", type=int, default=64)
    a = p.parse_args()
    if a.count <= 0:
        p.error("--count must be > 0")
    if a.size < STAMP_OFFSET + STAMP_LEN:
        p.error("--size below 24 bytes")
    a.window = max(1, a.window)
    return a


def load(path, size):
    with open(path, "rb") as f:
        data = f.read()
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    if not lines:
        fail("--messages: empty file")
    for k, line in enumerate(lines):
        if len(line) != size:
            fail(f"--messages: line {k + 1} has {len(line)} bytes, --size is {size}")
    try:
        return [line.decode("utf-8") for line in lines]
    except UnicodeDecodeError:
        fail("--messages: not UTF-8 (text messages)")


def main():
    a = parse_args()
    lines = load(a.messages, a.size)
    k = len(lines)
    tamper = os.environ.get("DEFLATEBENCH_TAMPER", "")
    if tamper not in ("", "stamp", "body"):
        fail("DEFLATEBENCH_TAMPER: stamp or body")
    heads = [line[:STAMP_OFFSET] for line in lines]
    tails = [line[STAMP_OFFSET + STAMP_LEN:] for line in lines]

    def make(i):
        j = i % k
        return heads[j] + "%016x" % i + tails[j]

    def check(i, got):
        if not isinstance(got, str):
            fail("echo %d: not a text message" % i)
        if len(got) != a.size:
            fail("echo %d: length %d != %d" % (i, len(got), a.size))
        want = "%016x" % (6 if tamper == "stamp" and i == 5 else i)
        if got[STAMP_OFFSET:STAMP_OFFSET + STAMP_LEN] != want:
            fail("echo %d: stamp mismatch" % i)
        if i % FULL_CHECK_EVERY == 0:
            whole = make(i)
            if tamper == "body" and i == 8:
                whole = whole[:-1] + chr(ord(whole[-1]) ^ 1)
            if got != whole:
                fail("echo %d: payload content mismatch" % i)

    if a.no_deflate:
        kw = dict(compression=None)
    elif a.defaults:
        kw = dict(compression="deflate")
    else:
        ext = ClientPerMessageDeflateFactory(
            server_no_context_takeover=a.server_no_context_takeover,
            client_no_context_takeover=a.client_no_context_takeover,
            server_max_window_bits=a.server_max_window_bits,
            client_max_window_bits=a.client_max_window_bits,
            compress_settings={"level": a.level, "memLevel": a.mem_level},
        )
        kw = dict(compression=None, extensions=[ext])
    n = a.count
    lat = None
    with connect(a.url, max_size=None, ping_interval=None, proxy=None, **kw) as ws:
        if a.workload == "rtt":
            lat = []
            now = time.perf_counter_ns
            t0 = now()
            for i in range(n):
                m = make(i)
                ts = now()
                ws.send(m)
                check(i, ws.recv())
                lat.append(now() - ts)
            t1 = now()
        else:
            w, half = a.window, a.window // 2
            sent = recvd = 0
            t0 = time.perf_counter_ns()
            while recvd < n:
                while sent < n and sent - recvd < w:
                    ws.send(make(sent))
                    sent += 1
                low = n if sent == n else sent - half
                while recvd < low:
                    check(recvd, ws.recv())
                    recvd += 1
            t1 = time.perf_counter_ns()
    report(a, t1 - t0, lat)


def percentile(sorted_vals, p):
    rank = max(1, min(len(sorted_vals), -(-p * len(sorted_vals) // 100)))
    return sorted_vals[rank - 1]


def report(a, elapsed_ns, lat):
    secs = elapsed_ns / 1e9
    p50 = p99 = None
    if lat:
        lat.sort()
        p50 = round(percentile(lat, 50) / 1000.0, 2)
        p99 = round(percentile(lat, 99) / 1000.0, 2)
    out = {"client": a.name, "workload": a.workload, "count": a.count, "size": a.size,
           "seconds": round(secs, 6), "msgs_per_s": round(a.count / secs, 1),
           "mb_per_s": round(a.count * a.size / secs / 1e6, 3), "p50_us": p50, "p99_us": p99}
    sys.stdout.write(json.dumps(out, separators=(",", ":")) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    try:
        main()
    except SystemExit:
        raise
    except Exception as e:  # connection, protocol: message, non-zero, no JSON
        fail(f"{type(e).__name__}: {e}")
