"""Python websocket-client through the same proxy, the same connect workload
as the shared bench's py-websocket-client (benches/proxy_connect.sh).

    python proxy_py_client.py --url ws://127.0.0.1:PORT/ --proxy http://H:P|socks5://H:P|direct --count N --size S
"""
import argparse
import json
import sys
import time

import websocket  # websocket-client (wsaccel installed: used by itself)


def payload(i: int, size: int) -> str:
    p = bytearray(ord("a") + j % 26 for j in range(size))
    stamp = b"%016x" % i
    n = min(16, size)
    p[:n] = stamp[16 - n:]
    return p.decode()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--proxy", required=True)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--size", type=int, required=True)
    a = ap.parse_args()
    kw = {}
    if "://" in a.proxy:
        kind, addr = a.proxy.split("://")
        host, port = addr.rsplit(":", 1)
        kw = dict(http_proxy_host=host, http_proxy_port=int(port), proxy_type=kind)
    t = time.monotonic()
    for i in range(a.count):
        ws = websocket.create_connection(a.url, sockopt=((6, 1, 1),), **kw)  # TCP_NODELAY
        p = payload(i, a.size)
        ws.send(p)
        got = ws.recv()
        n = min(16, a.size)
        if len(got) != a.size or got[:n] != p[:n] or (i % 8 == 0 and got != p):
            sys.exit("echo validation failed")
        ws.close()
    secs = time.monotonic() - t
    print(json.dumps({"client": "py-websocket-client", "workload": "connect", "count": a.count, "size": a.size,
                      "seconds": secs, "msgs_per_s": a.count / secs, "mb_per_s": a.count * a.size / secs / 1e6,
                      "p50_us": None, "p99_us": None}))


if __name__ == "__main__":
    main()
