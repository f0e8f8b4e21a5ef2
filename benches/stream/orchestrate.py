#!/usr/bin/env python3
"""The streaming benchmark's runner (run.sh builds, then calls this).

Starts `wsclient-echo-server --frames` (and, with --fast-relay, the second
relay of fast_relay.c), runs every (client, server) pair once per
repetition in a rotated order (A B C, B C A, ...: slow phases of a shared
machine hit all clients alike), checks each one's JSON line, and prints
medians and same-run ratios as markdown tables, one per server, with the
client's and the server's CPU seconds. Every run's JSON goes to a .jsonl
file. --selftest: small sizes, every client must pass against every server,
and must fail when its writer sends one wrong byte. --variant NAME=DIR adds
the wsclient clients run with DIR/libwsclient.so (A/B of a library change).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from benchstats import quartiles  # noqa: E402

MIB = 1 << 20
KIB = 1 << 10


def clients(bin_dir, piece, whole):
    """name -> (argv without --url, expected JSON client, mode, piece, env)."""
    ws = os.path.join(bin_dir, "wsclient-stream")
    beast = os.path.join(bin_dir, "beast-stream")
    raw = os.path.join(bin_dir, "rawframes")
    return {
        "wsclient-pieces": ([ws, "--mode", "pieces", "--piece", str(piece)], "wsclient", "pieces", piece, {}),
        "wsclient-whole": ([ws, "--mode", "whole", "--piece", str(whole)], "wsclient", "whole", whole, {}),
        # diagnostics: where the pieces' cost goes (not in the default table)
        "wsclient-pieces-batch16": (
            [ws, "--mode", "pieces", "--piece", str(piece), "--batch", "16"], "wsclient", "pieces", piece, {}),
        "wsclient-pieces-1m": ([ws, "--mode", "pieces", "--piece", str(whole)], "wsclient", "pieces", whole, {}),
        "wsclient-pieces-rcap1m": (
            [ws, "--mode", "pieces", "--piece", str(piece), "--read-cap", str(MIB)], "wsclient", "pieces", piece, {}),
        "beast-pieces": ([beast, "--mode", "pieces", "--piece", str(piece)], "beast", "pieces", piece, {}),
        "beast-whole": ([beast, "--mode", "whole", "--piece", str(whole)], "beast", "whole", whole, {}),
        "beast-defaults-pieces": (
            [beast, "--mode", "pieces", "--piece", str(piece)], "beast-defaults", "pieces", piece,
            {"BEAST_DEFAULTS": "1"}),
        "raw-frames": ([raw, "--mode", "pieces", "--piece", str(piece)], "raw-frames", "pieces", piece, {}),
        "raw-frames-whole": ([raw, "--mode", "whole", "--piece", str(whole)], "raw-frames", "whole", whole, {}),
    }


DESCRIBE = {
    "wsclient-pieces": "wsclient `ws_write_part` / `ws_read_part`, streamReceive",
    "wsclient-whole": "wsclient `ws_write` / `ws_read` (whole-message bulk)",
    "wsclient-pieces-batch16": "as wsclient-pieces, 16 pieces per send (WS_MORE)",
    "wsclient-pieces-rcap1m": "as wsclient-pieces, 1 MiB ws_read_part buffer",
    "wsclient-pieces-1m": "as wsclient-pieces, pieces (and buffer) of 1 MiB",
    "beast-pieces": "Beast `async_write_some` / `async_read_some`",
    "beast-whole": "Beast `async_write` / `async_read`",
    "beast-defaults-pieces": "Beast write_some/read_some, Beast's defaults",
    "raw-frames": "raw TCP, pre-built frames (server ceiling)",
    "raw-frames-whole": "raw TCP, pre-built frames (server ceiling)",
}


class Server:
    def __init__(self, path, args):
        self.path = path
        self.p = subprocess.Popen([path] + args, stdout=subprocess.PIPE, text=True)
        line = self.p.stdout.readline()
        if not line.startswith("LISTENING "):
            self.p.kill()
            raise SystemExit(f"echo server did not start: {line!r}")
        self.port = int(line.split()[1])
        self.tick = os.sysconf("SC_CLK_TCK")

    def cpu_s(self):
        """User + system CPU of the whole server process (all threads)."""
        with open(f"/proc/{self.p.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / self.tick

    def stop(self):
        self.p.terminate()
        try:
            self.p.wait(5)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()


def run_one(srv, spec, nbytes, timeout_s, extra=()):
    argv, cname, mode, piece, env = spec
    cmd = argv + ["--url", f"ws://127.0.0.1:{srv.port}/", "--bytes", str(nbytes), "--timeout-s", str(timeout_s)]
    cmd += list(extra)
    c0 = srv.cpu_s()
    t0 = time.monotonic()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s + 10,
                           env={**os.environ, **env})
    except subprocess.TimeoutExpired:
        return {"error": "timeout", "rc": None, "stderr": ""}
    wall = time.monotonic() - t0
    srv_cpu = srv.cpu_s() - c0
    if p.returncode != 0:
        return {"error": (p.stderr.strip().splitlines() or ["?"])[-1], "rc": p.returncode, "stderr": p.stderr}
    lines = p.stdout.strip().splitlines()
    try:
        r = json.loads(lines[-1]) if len(lines) == 1 else None
    except ValueError:
        r = None
    if r is None:
        return {"error": f"not one JSON line: {p.stdout!r}", "rc": 0, "stderr": p.stderr}
    if (r.get("client"), r.get("bytes"), r.get("piece")) != (cname, nbytes, piece) or r.get("mode") != mode:
        return {"error": f"JSON does not match the request: {r}", "rc": 0, "stderr": p.stderr}
    r["wall_s"] = round(wall, 3)
    r["server_cpu_s"] = round(srv_cpu, 3)
    return r


def selftest(srv, specs, nbytes, piece):
    ok = True

    def check(name, good, what):
        nonlocal ok
        print(f"  {'ok' if good else 'FAILED'}: {name}: {what}")
        ok &= good

    for name, spec in specs.items():
        r = run_one(srv, spec, nbytes, 60)
        check(name, "error" not in r, f"{nbytes} bytes echoed and validated" if "error" not in r else r["error"])
    # a message that does not end on a piece boundary (pieces modes)
    odd = nbytes + 12345
    for name in ("wsclient-pieces", "beast-pieces"):
        r = run_one(srv, specs[name], odd, 60)
        check(name, "error" not in r, f"{odd} bytes (last piece short)" if "error" not in r else r["error"])
    # the validation is live: one wrong byte sent must fail the run
    k = 3 * piece + 17
    for name, spec in specs.items():
        r = run_one(srv, spec, nbytes, 60, ["--tamper", str(k)])
        good = r.get("rc") == 3 and "validation" in r.get("error", "")
        check(name, good, f"one wrong byte sent (at {k}) is caught" if good else f"not caught: {r}")
    return ok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin-dir")
    ap.add_argument("--server", help="wsclient-echo-server (run with --frames)")
    ap.add_argument("--reps", type=int, default=9)
    ap.add_argument("--bytes", type=int, default=1 << 30)
    ap.add_argument("--piece", type=int, default=64 * KIB)
    ap.add_argument("--whole", type=int, default=MIB)
    ap.add_argument("--clients", default="raw-frames,wsclient-pieces,wsclient-whole,beast-pieces,beast-whole,"
                                         "beast-defaults-pieces")
    ap.add_argument("--fast-relay", default=None, metavar="PATH",
                    help="also run --fast-clients against this second server (benches/stream/fast_relay.c), "
                         "in the same interleaved run, as NAME+fast")
    ap.add_argument("--fast-clients", default="raw-frames,wsclient-pieces,wsclient-whole,beast-pieces")
    ap.add_argument("--timeout-s", type=int, default=300)
    ap.add_argument("--results", default=None)
    ap.add_argument("--selftest", action="store_true")
    ap.add_argument("--summarize", metavar="JSONL", help="print the tables of an earlier run and exit")
    ap.add_argument("--variant", action="append", default=[], metavar="NAME=LIBDIR",
                    help="also run wsclient-pieces and wsclient-whole with the libwsclient.so in LIBDIR "
                         "(LD_LIBRARY_PATH), as wsclient-pieces@NAME / wsclient-whole@NAME: A/B of a library change")
    a = ap.parse_args()

    if a.summarize:
        return summarize(a.summarize)
    if not a.bin_dir or not a.server:
        ap.error("--bin-dir and --server are needed (run.sh passes them)")
    specs = clients(a.bin_dir, a.piece, a.whole)
    for v in a.variant:
        vname, _, libdir = v.partition("=")
        if not vname or not os.path.isfile(os.path.join(libdir, "libwsclient.so")):
            raise SystemExit(f"--variant {v}: want NAME=DIR with DIR/libwsclient.so")
        for base in ("wsclient-pieces", "wsclient-whole"):
            argv, cname, mode, piece, env = specs[base]
            specs[f"{base}@{vname}"] = (argv, cname, mode, piece, {**env, "LD_LIBRARY_PATH": os.path.abspath(libdir)})
            DESCRIBE[f"{base}@{vname}"] = DESCRIBE[base] + f", library {vname}"
    servers = {"echo": Server(a.server, ["--frames"])}
    try:
        if a.fast_relay:
            servers["fast"] = Server(a.fast_relay, [])
        srv = servers["echo"]
        if a.selftest:
            nbytes = 8 * MIB
            sel = {n: specs[n] for n in ("raw-frames", "wsclient-pieces", "wsclient-whole", "beast-pieces",
                                         "beast-whole")}
            good = True
            for key, srv in servers.items():
                print(f"streaming benchmark self-test against {os.path.basename(srv.path)} "
                      f"({nbytes} bytes each way, port {srv.port})")
                good &= selftest(srv, sel, nbytes, a.piece)
            print("self-test passed" if good else "self-test FAILED")
            return 0 if good else 1
        # a run: (name, server key) in a fixed order, rotated per repetition
        names = [n.strip() for n in a.clients.split(",") if n.strip()]
        for v in a.variant:
            names += [f"wsclient-pieces@{v.partition('=')[0]}", f"wsclient-whole@{v.partition('=')[0]}"]
        runs = [(n, "echo") for n in names]
        if a.fast_relay:
            runs += [(n.strip(), "fast") for n in a.fast_clients.split(",") if n.strip()]
        for n, _ in runs:
            if n not in specs:
                raise SystemExit(f"unknown client {n}; known: {', '.join(specs)}")
        stamp = time.strftime("%Y%m%d-%H%M%S")
        out = a.results or os.path.join(a.bin_dir, "results", f"stream-{stamp}.jsonl")
        os.makedirs(os.path.dirname(out), exist_ok=True)
        res = {run: [] for run in runs}
        t_start = time.monotonic()
        with open(out, "w") as f:
            for rep in range(a.reps):
                order = runs[rep % len(runs):] + runs[:rep % len(runs)]
                for n, key in order:
                    r = run_one(servers[key], specs[n], a.bytes, a.timeout_s)
                    r.update({"name": n, "server": key, "rep": rep})
                    f.write(json.dumps(r) + "\n")
                    f.flush()
                    if "error" in r:
                        print(f"error: {n} against {key} rep {rep}: {r['error']}", file=sys.stderr)
                        return 1
                    res[(n, key)].append(r)
                    print(f"  rep {rep + 1}/{a.reps} {n:24s} {key:5s} {r['mb_per_s']:8.1f} MB/s", file=sys.stderr)
        elapsed = time.monotonic() - t_start
        print(f"\nStreaming benchmark: {a.bytes} bytes each way, {a.reps} interleaved repetitions, "
              f"{elapsed:.0f} s; results in {out}")
        for key, srv in servers.items():
            report({n: v for (n, k), v in res.items() if k == key}, [n for n, k in runs if k == key],
                   os.path.basename(srv.path) + (" --frames" if key == "echo" else ""))
    finally:
        for srv in servers.values():
            srv.stop()
    return 0


def summarize(path):
    rows = [json.loads(line) for line in open(path)]
    bad = [r for r in rows if "error" in r]
    if bad:
        print(f"{len(bad)} failed runs in {path}, e.g. {bad[0]}")
    rows = [r for r in rows if "error" not in r]
    reps = 1 + max(r["rep"] for r in rows)
    print(f"\nStreaming benchmark: {rows[0]['bytes']} bytes each way, {reps} interleaved repetitions; from {path}")
    for key, label in (("echo", "wsclient-echo-server --frames"), ("fast", "fast-relay")):
        sel = [r for r in rows if r.get("server", "echo") == key]
        names = list(dict.fromkeys(r["name"] for r in sel))
        if names:
            report({n: [r for r in sel if r["name"] == n] for n in names}, names, label)
    return 0


def report(res, names, server):
    def med(n, key="mb_per_s"):
        return statistics.median(r[key] for r in res[n])

    def paired(n, ref):
        """Median and IQR of the per-repetition ratio n / ref."""
        rs = [x["mb_per_s"] / y["mb_per_s"] for x, y in zip(res[n], res[ref])]
        lo, hi = quartiles(rs)
        return statistics.median(rs), lo, hi

    refs = [r for r in ("wsclient-whole", "beast-pieces") if r in res]
    print(f"\nServer: `{server}`\n")
    head = "| client | what | piece | MB/s median | min–max |"
    for r in refs:
        head += f" ×{r} (paired IQR) |"
    head += " client CPU s | server CPU s |"
    print(head)
    print("|---|---|---:|---:|---:|" + "---:|" * len(refs) + "---:|---:|")
    for n in names:
        rows = res[n]
        piece = rows[0]["piece"]
        ps = f"{piece // MIB} MiB" if piece % MIB == 0 else f"{piece // KIB} KiB" if piece % KIB == 0 else str(piece)
        mbs = [r["mb_per_s"] for r in rows]
        line = f"| {n} | {DESCRIBE.get(n, '')} | {ps} | {med(n):.0f} | {min(mbs):.0f}–{max(mbs):.0f} |"
        for ref in refs:
            m, lo, hi = paired(n, ref)
            line += f" {m:.2f} ({lo:.2f}–{hi:.2f}) |"
        cpu = statistics.median(r["cpu_user_s"] + r["cpu_sys_s"] for r in rows)
        line += f" {cpu:.2f} | {med(n, 'server_cpu_s'):.2f} |"
        print(line)
    if "wsclient-pieces" in res:
        print()
        for ref in refs:
            m, lo, hi = paired("wsclient-pieces", ref)
            mm = med("wsclient-pieces") / med(ref)
            # both medians at or above 1: met; the paired ratios' IQR all
            # below 1: not met; otherwise level within this run's spread
            verdict = "met" if mm >= 1.0 and m >= 1.0 else "NOT met" if hi < 1.0 else "level (within the run's spread)"
            print(f"- wsclient-pieces / {ref}: {mm:.2f} (ratio of medians), paired median {m:.2f}, "
                  f"IQR {lo:.2f}–{hi:.2f}: {verdict}")
        for ref in refs:
            rs = [(x["cpu_user_s"] + x["cpu_sys_s"]) / (y["cpu_user_s"] + y["cpu_sys_s"])
                  for x, y in zip(res["wsclient-pieces"], res[ref])]
            lo, hi = quartiles(rs)
            print(f"- client CPU, wsclient-pieces / {ref}: paired median {statistics.median(rs):.2f}, "
                  f"IQR {lo:.2f}–{hi:.2f}")
        if "raw-frames" in res:
            m, lo, hi = paired("wsclient-pieces", "raw-frames")
            print(f"- wsclient-pieces / raw-frames (this server's ceiling): paired median {m:.2f}, "
                  f"IQR {lo:.2f}–{hi:.2f}")


if __name__ == "__main__":
    sys.exit(main())
