#!/usr/bin/env python3
"""The compressed benchmark's runner (benches/deflate/run.sh builds, then
calls this; issue 16's "compressed scenario").

1 KiB JSON tag updates (gen_tags.py, generated into the out dir), echoed
with permessage-deflate by the project's own `wsclient-deflate-echo-server
--stats --level 1` (the shared bench's echo server has no deflate), rtt and
pipeline, for these clients in one interleaved run:

  same settings (one configuration for every library's compressor: both
  LZ77 windows 15 bits, context takeover both ways, compression level 6,
  memLevel 8):
    wsclient        wsclient-bench --compress={"clientMaxWindowBits":15,
                    "serverMaxWindowBits":15,"level":6,"memLevel":8}
    beast           beast-deflate --client-max-window-bits 15
                    --server-max-window-bits 15 --level 6 --mem-level 8
    py-websockets   py_websockets_deflate.py, ClientPerMessageDeflateFactory
                    with the same four values
  each library's own defaults:
    wsclient-defaults       --compress ("compression":true: level 6, memLevel 5)
    beast-defaults          permessage_deflate{} + client_enable (compLevel 8, memLevel 4)
    py-websockets-defaults  compression="deflate" (memLevel 5, level 6)
  reference:
    wsclient-plain  wsclient-bench without --compress (nothing offered, the
                    same server echoes uncompressed)
    wsclient-x2     (pipeline) two wsclient clients at once, the server's
                    ceiling check
    raw-deflate     (pipeline) the server's own ceiling: this script as a
                    client (--raw-client) that compresses every message
                    before the clock starts (same settings), streams the
                    frames out with no window and only splits the echoes
                    while timed; it inflates and compares every echo after
                    the clock stops. It costs the server the same inflate +
                    deflate per message and leaves it a core of its own.

The server's level (--server-level, default 1; zlib-rs, memLevel 8, the
agreed window) is the same for every client: what the clients inflate is
the same stream. Level 1 because an echo server deflating at level 6 does
the same work per message as the client (inflate + deflate, ~20 us here)
and then is the limit itself: raw-deflate measured ~46-50k msg/s at level
6, as much as the fastest client; at level 1 ~110-135k. The "sent" ratio
(client to server) is each client's own compression; "received" is the
server's.

Each repetition runs every client once per workload in a rotated order
(A B C, B C A, ...). Per run: the client's JSON line, its CPU (getrusage of
the children), the server's CPU (/proc/PID/stat, all threads, before and
after), and the server's STATS line (payload bytes before and after
compression, each direction). Tables: medians, same-run ratios against
Beast with the same settings, CPU per message, and wire / app bytes.
Every run is one line of the .jsonl file. --selftest: small counts; every
client must pass, compress (wire / app < 1 both ways; 1 without deflate),
and fail when its expectation is broken (DEFLATEBENCH_TAMPER).
"""
import argparse
import base64
import hashlib
import json
import os
import queue
import resource
import socket
import statistics
import subprocess
import sys
import threading
import time
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gen_tags  # noqa: E402
sys.path.insert(0, os.path.join(HERE, ".."))
from benchstats import quartiles  # noqa: E402

SAME = {"clientMaxWindowBits": 15, "serverMaxWindowBits": 15, "level": 6, "memLevel": 8}
SAME_FLAGS = ["--client-max-window-bits", "15", "--server-max-window-bits", "15", "--level", "6",
              "--mem-level", "8"]
SERVER_ARGS = ["--port", "0", "--host", "127.0.0.1", "--stats", "--level"]  # + --server-level

DESCRIBE = {
    "wsclient": "wsclient, same settings",
    "beast": "Boost.Beast 1.74, same settings",
    "py-websockets": "websockets 17.4 sync, same settings",
    "wsclient-defaults": "wsclient, `\"compression\":true`",
    "beast-defaults": "Beast, permessage_deflate defaults",
    "py-websockets-defaults": "websockets, `compression=\"deflate\"`",
    "wsclient-plain": "wsclient, no compression (reference)",
    "wsclient-x2": "2 wsclient clients at once (sum)",
    "raw-deflate": "pre-compressed frames, streamed (server ceiling)",
}
DEFAULT_CLIENTS = "wsclient,beast,py-websockets,wsclient-defaults,beast-defaults,py-websockets-defaults,wsclient-plain"


class Spec:
    def __init__(self, argv, json_client, compressed, tamper=None, copies=1):
        self.argv, self.json_client, self.compressed = argv, json_client, compressed
        self.tamper = tamper  # family name for the tamper test
        self.copies = copies


def client_specs(a, msgs):
    wsb = os.path.join(a.bin_dir, "wsclient-bench")
    beast = os.path.join(a.bin_dir, "beast-deflate")
    py = [a.python, os.path.join(HERE, "py_websockets_deflate.py")]
    same_json = "--compress=" + json.dumps(SAME, separators=(",", ":"))
    m = ["--messages", msgs]
    return {
        "wsclient": Spec([wsb, same_json] + m, "wsclient", True, "wsclient"),
        "beast": Spec([beast] + SAME_FLAGS + ["--name", "beast"] + m, "beast", True, "beast"),
        "py-websockets": Spec(py + SAME_FLAGS + ["--name", "py-websockets"] + m, "py-websockets", True,
                              "py-websockets"),
        "wsclient-defaults": Spec([wsb, "--compress"] + m, "wsclient", True),
        "beast-defaults": Spec([beast, "--name", "beast-defaults"] + m, "beast-defaults", True),
        "py-websockets-defaults": Spec(py + ["--defaults", "--name", "py-websockets-defaults"] + m,
                                       "py-websockets-defaults", True),
        "wsclient-plain": Spec([wsb] + m, "wsclient", False),
        "wsclient-x2": Spec([wsb, same_json] + m, "wsclient", True, copies=2),
        "raw-deflate": Spec([sys.executable, os.path.abspath(__file__), "--raw-client"] + m, "raw-deflate", True,
                            "raw-deflate"),
    }
PIPELINE_ONLY = ("wsclient-x2", "raw-deflate")


class Server:
    def __init__(self, path, args):
        self.path, self.args = path, args
        self.p = subprocess.Popen([path] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.p.stdout.readline()
        if not line.startswith("LISTENING "):
            self.p.kill()
            raise SystemExit(f"deflate echo server did not start: {line!r}")
        self.port = int(line.split()[1])
        self.tick = os.sysconf("SC_CLK_TCK")
        self.stats = queue.Queue()
        threading.Thread(target=self._stderr, daemon=True).start()

    def _stderr(self):
        for line in self.p.stderr:
            if line.startswith("STATS "):
                self.stats.put({k: int(v) for k, v in (f.split("=") for f in line.split()[1:])})
            elif line.strip():
                sys.stderr.write("server: " + line)

    def cpu_s(self):
        """User + system CPU of the server process, all threads (exited ones included)."""
        with open(f"/proc/{self.p.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / self.tick

    def take_stats(self, n, timeout):
        """The STATS lines of the next n connections to end (fewer on timeout)."""
        got, end = [], time.monotonic() + timeout
        while len(got) < n:
            try:
                got.append(self.stats.get(timeout=max(0.01, end - time.monotonic())))
            except queue.Empty:
                break
        return got

    def drain(self):
        while not self.stats.empty():
            self.stats.get_nowait()

    def stop(self):
        self.p.terminate()
        try:
            self.p.wait(5)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_one(srv, spec, workload, count, size, timeout_s, env=None):
    """Runs spec.copies clients at once; returns the record (with "error" on failure)."""
    url = f"ws://127.0.0.1:{srv.port}/"
    cmd = spec.argv + ["--url", url, "--workload", workload, "--count", str(count), "--size", str(size)]
    srv.drain()
    cc0, sc0 = children_cpu(), srv.cpu_s()
    t0 = time.monotonic()
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env={**os.environ, **(env or {})}) for _ in range(spec.copies)]
    outs = []
    for p in procs:
        try:
            out, err = p.communicate(timeout=max(1.0, timeout_s - (time.monotonic() - t0)))
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate()
            err += "\n(timeout)"
        outs.append((p.returncode, out, err))
    wall = time.monotonic() - t0
    ok = all(rc == 0 for rc, _, _ in outs)
    stats = srv.take_stats(spec.copies, 10 if ok else 2)
    srv_cpu = srv.cpu_s() - sc0
    cl_cpu = children_cpu() - cc0
    errs = [e for _, _, e in outs]
    if not ok:
        rc = next(rc for rc, _, _ in outs if rc != 0)
        err = next(e for r, _, e in outs if r != 0)
        return {"error": (err.strip().splitlines() or ["?"])[-1], "rc": rc, "stderr": err,
                "stdout": "".join(o for _, o, _ in outs)}
    parts = []
    for rc, out, err in outs:
        lines = out.strip().splitlines()
        try:
            r = json.loads(lines[0]) if len(lines) == 1 else None
        except ValueError:
            r = None
        if r is None:
            return {"error": f"not one JSON line: {out!r}", "rc": 0, "stderr": err}
        want = (spec.json_client, workload, count, size)
        if (r.get("client"), r.get("workload"), r.get("count"), r.get("size")) != want:
            return {"error": f"JSON does not match the request {want}: {r}", "rc": 0, "stderr": err}
        parts.append(r)
    if len(stats) != spec.copies:
        return {"error": f"{len(stats)} STATS lines from the server, want {spec.copies}", "rc": 0}
    st = {k: sum(s[k] for s in stats) for k in stats[0]}
    if st["messages"] != count * spec.copies or st["app_in"] != count * size * spec.copies:
        return {"error": f"server STATS do not match the run: {st}", "rc": 0}
    r = dict(parts[0]) if spec.copies == 1 else {
        "client": spec.json_client, "workload": workload, "count": count * spec.copies, "size": size,
        "seconds": max(p["seconds"] for p in parts),
        "msgs_per_s": round(sum(p["msgs_per_s"] for p in parts), 1),
        "mb_per_s": round(sum(p["mb_per_s"] for p in parts), 3), "p50_us": None, "p99_us": None,
        "parts": parts}
    r.update({"wall_s": round(wall, 3), "client_cpu_s": round(cl_cpu, 4), "server_cpu_s": round(srv_cpu, 3),
              "stats": st, "client_stderr": " | ".join(e.strip() for e in errs if e.strip())[:500]})
    return r


def derived(r):
    st = r["stats"]
    return {
        "c2s": st["wire_in"] / st["app_in"] if st["app_in"] else float("nan"),
        "s2c": st["wire_out"] / st["app_out"] if st["app_out"] else float("nan"),
        "client_us": r["client_cpu_s"] / r["count"] * 1e6,
        "server_us": r["server_cpu_s"] / st["messages"] * 1e6,
        # of one core, over the measured part (the slowest client's for x2)
        "server_pct": 100 * r["server_cpu_s"] / r["seconds"],
        "client_pct": 100 * r["client_cpu_s"] / r["seconds"],
    }


def write_messages(out_dir, lines_k, size, seed):
    lines = gen_tags.generate(lines_k, size, seed)
    path = os.path.join(out_dir, f"tags-{size}x{lines_k}-seed{seed}.txt")
    data = "".join(line + "\n" for line in lines).encode("ascii")
    if not (os.path.exists(path) and open(path, "rb").read() == data):
        with open(path + ".tmp", "wb") as f:
            f.write(data)
        os.replace(path + ".tmp", path)
    return path, lines


# ---- the server's ceiling: pre-compressed frames ------------------------------------------

def raw_client(argv):
    """--raw-client --messages FILE --url ws://HOST:PORT/ --workload pipeline --count N --size S:
    the contract's JSON line; every message compressed (same settings) before the clock starts,
    all frames streamed out by a second thread (no window), the echoes split into payloads while
    timed, then inflated and compared (every one) after the clock stops."""
    ap = argparse.ArgumentParser(prog="orchestrate.py --raw-client")
    ap.add_argument("--messages", required=True)
    ap.add_argument("--url", required=True)
    ap.add_argument("--workload", required=True, choices=["pipeline"])
    ap.add_argument("--count", required=True, type=int)
    ap.add_argument("--size", required=True, type=int)
    ap.add_argument("--window", type=int, default=64)  # accepted, not used: no window
    a = ap.parse_args(argv)

    def fail(msg):
        sys.stderr.write(f"error: {msg}\n")
        sys.exit(2)

    lines = [x for x in open(a.messages, "rb").read().split(b"\n") if x]
    if not lines or any(len(x) != a.size for x in lines):
        fail(f"--messages: every line must be {a.size} bytes")
    off, sl = gen_tags.STAMP_OFFSET, gen_tags.STAMP_LEN
    tamper = os.environ.get("DEFLATEBENCH_TAMPER", "")

    def make(i):
        x = lines[i % len(lines)]
        return x[:off] + b"%016x" % i + x[off + sl:]

    hostport = a.url.split("://", 1)[1].split("/", 1)[0]
    host, port = hostport.rsplit(":", 1)
    path = "/" + (a.url.split("://", 1)[1].split("/", 1)[1] if "/" in a.url.split("://", 1)[1] else "")
    sock = socket.create_connection((host, int(port)))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET {path} HTTP/1.1\r\nHost: {hostport}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                  "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=15; "
                  "server_max_window_bits=15\r\n\r\n").encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            fail("handshake: connection closed")
        buf += chunk
    head, buf = buf.split(b"\r\n\r\n", 1)
    head = head.decode("latin-1").lower()
    accept = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest())
    if not head.startswith("http/1.1 101") or accept.decode().lower() not in head:
        fail(f"handshake: {head.splitlines()[0] if head else '?'}")
    if "permessage-deflate" not in head:
        fail("handshake: the server declined permessage-deflate")
    # every frame before the clock: masked with the all-zero key (valid; masking is then a copy)
    z = zlib.compressobj(SAME["level"], zlib.DEFLATED, -SAME["clientMaxWindowBits"], SAME["memLevel"])
    frames = []
    for i in range(a.count):
        p = z.compress(make(i)) + z.flush(zlib.Z_SYNC_FLUSH)
        p = p[:-4] if p.endswith(b"\x00\x00\xff\xff") else p
        n = len(p)
        if n > 0xFFFF:
            fail(f"message {i}: {n} compressed bytes (this client frames up to 64 KiB)")
        hdr = bytes([0xC1, 0x80 | n]) if n < 126 else bytes([0xC1, 0xFE]) + n.to_bytes(2, "big")
        frames.append(hdr + b"\0\0\0\0" + p)
    out = b"".join(frames)
    del frames

    def sender():
        mv = memoryview(out)
        for at in range(0, len(out), 256 << 10):
            sock.sendall(mv[at:at + (256 << 10)])

    echoes = []
    t0 = time.perf_counter_ns()
    th = threading.Thread(target=sender, daemon=True)
    th.start()
    data, at = bytearray(buf), 0
    while len(echoes) < a.count:
        # every complete frame in data
        while True:
            if len(data) - at < 2:
                break
            b0, n = data[at], data[at + 1] & 0x7F
            h = 2
            if n == 126:
                if len(data) - at < 4:
                    break
                n, h = int.from_bytes(data[at + 2:at + 4], "big"), 4
            elif n == 127:
                if len(data) - at < 10:
                    break
                n, h = int.from_bytes(data[at + 2:at + 10], "big"), 10
            if len(data) - at < h + n:
                break
            if b0 != 0xC1:
                fail(f"echo {len(echoes)}: frame byte 0x{b0:02x}, want 0xc1 (FIN, RSV1, text)")
            echoes.append(bytes(data[at + h:at + h + n]))
            at += h + n
        if len(echoes) >= a.count:
            break
        del data[:at]
        at = 0
        chunk = sock.recv(1 << 20)
        if not chunk:
            fail(f"connection closed after {len(echoes)} echoes")
        data += chunk
    t1 = time.perf_counter_ns()
    th.join()
    sock.sendall(b"\x88\x82\0\0\0\0\x03\xe8")
    while sock.recv(65536):
        pass
    sock.close()
    # validation, every echo, off the clock
    d = zlib.decompressobj(-15)
    for i, p in enumerate(echoes):
        got = d.decompress(p + b"\x00\x00\xff\xff")
        want = make(6 if tamper == "stamp" and i == 5 else i)
        if tamper == "body" and i == 8:
            want = want[:-1] + bytes([want[-1] ^ 1])
        if len(got) != a.size:
            fail(f"echo {i}: length {len(got)} != {a.size}")
        if got[off:off + sl] != want[off:off + sl]:
            fail(f"echo {i}: stamp mismatch")
        if got != want:
            fail(f"echo {i}: payload content mismatch")
    secs = (t1 - t0) / 1e9
    print(json.dumps({"client": "raw-deflate", "workload": "pipeline", "count": a.count, "size": a.size,
                      "seconds": round(secs, 6), "msgs_per_s": round(a.count / secs, 1),
                      "mb_per_s": round(a.count * a.size / secs / 1e6, 3), "p50_us": None, "p99_us": None},
                     separators=(",", ":")))
    return 0


# ---- self-test -------------------------------------------------------------------------------

def selftest(a, srv, specs, msgs, lines):
    ok = True

    def check(name, good, what):
        nonlocal ok
        print(f"  {'ok' if good else 'FAILED'}: {name}: {what}")
        ok &= bool(good)

    # the generator: deterministic, exact sizes, valid JSON once stamped
    again = gen_tags.generate(a.lines, a.size, a.seed)
    good = again == lines and all(len(x) == a.size for x in lines)
    try:
        for i, x in enumerate(lines):
            json.loads(gen_tags.stamped(x, i))
    except ValueError:
        good = False
    check("gen_tags.py", good, f"{a.lines} lines of {a.size} bytes, deterministic, valid JSON when stamped")
    counts = {"rtt": a.rtt_count, "pipeline": a.pipeline_count}
    for name in specs:
        for w in ("rtt", "pipeline"):
            if name in PIPELINE_ONLY and w == "rtt":
                continue
            r = run_one(srv, specs[name], w, counts[w], a.size, 60)
            if "error" in r:
                check(f"{name} {w}", False, r["error"])
                continue
            d = derived(r)
            if specs[name].compressed:
                good = 0 < d["c2s"] < 0.6 and 0 < d["s2c"] < 0.6
                what = f"wire/app {d['c2s']:.3f} sent, {d['s2c']:.3f} received (compressed both ways)"
                if name.startswith("wsclient") and "permessage-deflate" not in r["client_stderr"]:
                    good, what = False, f"wsclient did not report permessage-deflate: {r['client_stderr']!r}"
            else:
                good = d["c2s"] == 1.0 and d["s2c"] == 1.0
                what = f"wire/app {d['c2s']:.3f} / {d['s2c']:.3f} (uncompressed)"
            check(f"{name} {w}", good, f"{r['count']} echoes validated, {r['msgs_per_s']:.0f} msg/s, {what}")
    # the checks are live: each client family must fail when one expectation is off
    for name, spec in specs.items():
        if not spec.tamper:
            continue
        for mode, w, want in (("stamp", "pipeline" if name in PIPELINE_ONLY else "rtt", "echo 5: stamp mismatch"),
                              ("body", "pipeline", "echo 8: payload content mismatch")):
            r = run_one(srv, spec, w, 100, a.size, 60, env={"DEFLATEBENCH_TAMPER": mode})
            good = r.get("rc") not in (None, 0) and want in r.get("stderr", "") and not r.get("stdout", "").strip()
            check(f"{name} tampered {mode}", good,
                  f"{w}: exit {r.get('rc')}, \"{want}\", no JSON" if good else f"not caught: {r}")
    return ok


# ---- tables -----------------------------------------------------------------------------------

def report(rows, names, counts, size, lines_k):
    """rows: the successful records; prints the markdown tables."""
    by = {}
    for r in rows:
        by.setdefault((r["name"], r["workload"]), []).append(r)
    for rs in by.values():
        rs.sort(key=lambda r: r["rep"])

    def med(rs, f):
        return statistics.median(f(r) for r in rs)

    def paired(n, ref, w):
        a, b = {r["rep"]: r for r in by.get((n, w), [])}, {r["rep"]: r for r in by.get((ref, w), [])}
        rs = [a[k]["msgs_per_s"] / b[k]["msgs_per_s"] for k in sorted(a) if k in b]
        if not rs:
            return None
        lo, hi = quartiles(rs)
        return statistics.median(rs), lo, hi

    verdicts = []
    for w in ("rtt", "pipeline"):
        present = [n for n in names if (n, w) in by]
        if not present:
            continue
        print(f"\n#### {w} (N={counts[w]}, S={size} B, {lines_k} distinct messages)\n")
        head = "| client | what | msg/s median | min–max | ×beast (paired IQR) |"
        sep = "|---|---|---:|---:|---:|"
        if w == "rtt":
            head += " p50 µs | p99 µs |"
            sep += "---:|---:|"
        head += " client µs/msg | server µs/msg | server CPU % | wire/app sent | wire/app received | runs |"
        sep += "---:|---:|---:|---:|---:|---:|"
        print(head)
        print(sep)
        for n in present:
            rs = by[(n, w)]
            ds = [derived(r) for r in rs]
            mps = [r["msgs_per_s"] for r in rs]
            p = paired(n, "beast", w) if ("beast", w) in by else None
            line = f"| {n} | {DESCRIBE.get(n, '')} | {statistics.median(mps):,.0f} | {min(mps):,.0f}–{max(mps):,.0f} |"
            line += f" {p[0]:.2f} ({p[1]:.2f}–{p[2]:.2f}) |" if p else " – |"
            if w == "rtt":
                line += f" {med(rs, lambda r: r['p50_us']):.1f} | {med(rs, lambda r: r['p99_us']):.1f} |"
            cu = "–" if n == "raw-deflate" else f"{statistics.median(d['client_us'] for d in ds):.1f}"
            line += (f" {cu} |"
                     f" {statistics.median(d['server_us'] for d in ds):.1f} |"
                     f" {statistics.median(d['server_pct'] for d in ds):.0f} |"
                     f" {statistics.median(d['c2s'] for d in ds):.3f} |"
                     f" {statistics.median(d['s2c'] for d in ds):.3f} | {len(rs)} |")
            print(line)
        for n, ref in (("wsclient", "beast"), ("wsclient-defaults", "beast-defaults")):
            if (n, w) in by and (ref, w) in by:
                m, lo, hi = paired(n, ref, w)
                mm = med(by[(n, w)], lambda r: r["msgs_per_s"]) / med(by[(ref, w)], lambda r: r["msgs_per_s"])
                verdict = "met" if mm >= 1.0 and m >= 1.0 else "NOT met" if hi < 1.0 else \
                    "level (within the run's spread)"
                verdicts.append(f"- {w}: {n} / {ref}: {mm:.2f} (ratio of medians), paired median {m:.2f}, "
                                f"IQR {lo:.2f}–{hi:.2f}: ours >= Beast {verdict}")
    if verdicts:
        print()
        print("\n".join(verdicts))
    # the ceiling check
    one, two, raw = (by.get((n, "pipeline")) for n in ("wsclient", "wsclient-x2", "raw-deflate"))
    if one and (two or raw):
        print("\n#### Is the deflate echo server the bottleneck? (pipeline, same settings)\n")
        print("| clients | msg/s median (sum) | client CPU % | server CPU % of one core | server µs/msg | "
              "client µs/msg | runs |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for label, rs, own in (("1 wsclient", one, True), ("2 wsclient at once", two, True),
                               ("raw-deflate (pre-compressed frames: the server alone)", raw, False)):
            if not rs:
                continue
            ds = [derived(r) for r in rs]
            cpct = cus = "–"  # raw-deflate's CPU is its compression before the clock
            if own:
                cpct = f"{statistics.median(d['client_pct'] for d in ds):.0f}"
                cus = f"{statistics.median(d['client_us'] for d in ds):.1f}"
            print(f"| {label} | {med(rs, lambda r: r['msgs_per_s']):,.0f} | {cpct} |"
                  f" {statistics.median(d['server_pct'] for d in ds):.0f} |"
                  f" {statistics.median(d['server_us'] for d in ds):.1f} | {cus} | {len(rs)} |")
        m1 = med(one, lambda r: r["msgs_per_s"])
        s_us = statistics.median(derived(r)["server_us"] for r in one)
        c_us = statistics.median(derived(r)["client_us"] for r in one)
        print()
        if two:
            m2 = med(two, lambda r: r["msgs_per_s"])
            d2 = [derived(r) for r in two]
            cp2 = statistics.median(d["client_pct"] for d in d2)
            sp2 = statistics.median(d["server_pct"] for d in d2)
            c_pct = statistics.median(derived(r)["client_pct"] for r in one)
            print(f"- two wsclient clients at once: {m2 / m1:.2f}× one client's msg/s, the clients at "
                  f"{cp2:.0f} % and the server at {sp2:.0f} % of a core ({cp2 + sp2:.0f} % of this box's "
                  f"{100 * (os.cpu_count() or 1)} %). One client alone: client {c_pct:.0f} %, server "
                  f"{statistics.median(derived(r)['server_pct'] for r in one):.0f} %, {c_us:.1f} + "
                  f"{s_us:.1f} µs of CPU per message (client + server)" +
                  (": the client is the limit." if c_pct >= 90 and s_us < c_us else "."))
        if raw:
            ceiling = med(raw, lambda r: r["msgs_per_s"])
            comp = [n for n in names if (n, "pipeline") in by and n not in ("wsclient-x2", "wsclient-plain",
                                                                              "raw-deflate")]
            fastest = max(comp, key=lambda n: med(by[(n, "pipeline")], lambda r: r["msgs_per_s"]))
            fm = med(by[(fastest, "pipeline")], lambda r: r["msgs_per_s"])
            rp = paired(fastest, "raw-deflate", "pipeline")
            print(f"- the server's ceiling on one connection (raw-deflate, a client that costs it nothing but "
                  f"the same inflate + deflate): {ceiling:,.0f} msg/s. Fastest compressed client: {fastest}, "
                  f"{fm:,.0f} msg/s = {fm / ceiling:.2f} of it (paired median {rp[0]:.2f}, IQR "
                  f"{rp[1]:.2f}–{rp[2]:.2f}): " + ("the server is not the bottleneck" if rp[2] < 0.9 else
                                                  "CLOSE TO THE SERVER'S CEILING: read the ratios with care"))


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--raw-client":
        return raw_client(sys.argv[2:])
    ap = argparse.ArgumentParser(description="compressed-message benchmark (permessage-deflate)")
    ap.add_argument("--bin-dir", help="wsclient-bench and beast-deflate (run.sh passes it)")
    ap.add_argument("--server", help="wsclient-deflate-echo-server")
    ap.add_argument("--python", default=sys.executable, help="the Python with websockets 17.4")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--rtt-count", type=int, default=20000)
    ap.add_argument("--pipeline-count", type=int, default=200000)
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--lines", type=int, default=256, help="distinct messages (gen_tags.py --count)")
    ap.add_argument("--seed", type=int, default=16)
    ap.add_argument("--server-level", type=int, default=1, choices=range(10), metavar="0-9",
                    help="the echo server's compression level (default 1, see the module doc)")
    ap.add_argument("--clients", default=DEFAULT_CLIENTS)
    ap.add_argument("--workloads", default="rtt,pipeline")
    ap.add_argument("--no-ceiling", action="store_true", help="leave out wsclient-x2 and raw-deflate")
    ap.add_argument("--timeout-s", type=int, default=300)
    ap.add_argument("--out-dir", help="messages file and results/ (default: --bin-dir)")
    ap.add_argument("--results", help="the .jsonl file (default <out>/results/deflate-DATE.jsonl)")
    ap.add_argument("--selftest", action="store_true")
    ap.add_argument("--summarize", metavar="JSONL", help="print the tables of an earlier run and exit")
    a = ap.parse_args()

    if a.summarize:
        rows = [json.loads(x) for x in open(a.summarize)]
        bad = [r for r in rows if "error" in r]
        if bad:
            print(f"{len(bad)} failed runs in {a.summarize}, e.g. {bad[0]}")
        rows = [r for r in rows if "error" not in r]
        names = list(dict.fromkeys(r["name"] for r in rows))
        counts = {w: next((r["count"] for r in rows if r["workload"] == w and r["name"] != "wsclient-x2"), 0)
                  for w in ("rtt", "pipeline")}
        print(f"Compressed benchmark, from {a.summarize} (server --level {rows[0].get('server_level', '?')})")
        report(rows, names, counts, rows[0]["size"], rows[0].get("lines", "?"))
        return 0
    if not a.bin_dir or not a.server:
        ap.error("--bin-dir and --server are needed (run.sh passes them)")
    out_dir = a.out_dir or a.bin_dir
    os.makedirs(out_dir, exist_ok=True)
    if a.selftest:
        a.rtt_count, a.pipeline_count = min(a.rtt_count, 300), min(a.pipeline_count, 3000)
    msgs, lines = write_messages(out_dir, a.lines, a.size, a.seed)
    specs = client_specs(a, msgs)
    server_args = SERVER_ARGS + [str(a.server_level)]
    srv = Server(a.server, server_args)
    try:
        if a.selftest:
            print(f"compressed benchmark self-test: {os.path.basename(a.server)} {' '.join(server_args)} "
                  f"(port {srv.port}); rtt {a.rtt_count}, pipeline {a.pipeline_count} messages of {a.size} B")
            t0 = time.monotonic()
            good = selftest(a, srv, specs, msgs, lines)
            print(f"self-test {'passed' if good else 'FAILED'} ({time.monotonic() - t0:.0f} s)")
            return 0 if good else 1
        names = [n.strip() for n in a.clients.split(",") if n.strip()]
        for n in names:
            if n not in specs:
                raise SystemExit(f"unknown client {n}; known: {', '.join(specs)}")
        workloads = [w.strip() for w in a.workloads.split(",") if w.strip()]
        counts = {"rtt": a.rtt_count, "pipeline": a.pipeline_count}
        runs = [(n, w) for w in workloads for n in names]
        if "pipeline" in workloads and not a.no_ceiling:
            for n in ("wsclient-x2", "raw-deflate") if "wsclient" in names else ("raw-deflate",):
                if n not in names:
                    runs.append((n, "pipeline"))
                    names.append(n)
        runs = [(n, w) for n, w in runs if not (w == "rtt" and n in PIPELINE_ONLY)]
        stamp = time.strftime("%Y%m%d-%H%M%S")
        out = a.results or os.path.join(out_dir, "results", f"deflate-{stamp}.jsonl")
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        rows = []
        t_start = time.monotonic()
        with open(out, "w") as f:
            for rep in range(a.reps):
                for w in workloads:
                    sel = [x for x in runs if x[1] == w]
                    k = rep % len(sel)
                    for n, _ in sel[k:] + sel[:k]:
                        r = run_one(srv, specs[n], w, counts[w], a.size, a.timeout_s)
                        r.update({"name": n, "workload": w, "rep": rep, "lines": a.lines, "seed": a.seed,
                                  "server_level": a.server_level})
                        f.write(json.dumps(r) + "\n")
                        f.flush()
                        if "error" in r:
                            print(f"error: {n} {w} rep {rep}: {r['error']}", file=sys.stderr)
                            return 1
                        rows.append(r)
                        print(f"  rep {rep + 1}/{a.reps} {w:8s} {n:24s} {r['msgs_per_s']:10.0f} msg/s",
                              file=sys.stderr)
        elapsed = time.monotonic() - t_start
        print(f"\n### Compressed messages (permessage-deflate): {a.reps} interleaved repetitions, "
              f"{elapsed:.0f} s; results in {out}\n")
        print(f"Server: `{os.path.basename(a.server)} {' '.join(server_args)}`. Messages: gen_tags.py "
              f"--count {a.lines} --size {a.size} --seed {a.seed}. \"Same settings\": windows 15/15, context "
              f"takeover both ways, level 6, memLevel 8 (the clients' compressors; the server's level is "
              f"{a.server_level} for every client). wire/app = compressed payload bytes / message bytes "
              f"(server STATS; sent = client to server). CPU per message: the client process's user+system "
              f"CPU (start-up included) / N; the server's over the run / its messages; server CPU % over "
              f"the client's measured seconds.")
        report(rows, names, counts, a.size, a.lines)
    finally:
        srv.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
