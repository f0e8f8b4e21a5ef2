#!/usr/bin/env bash
# Connections per second through a local squid (HTTP CONNECT) and a local
# SOCKS5 proxy (microsocks), next to direct, in one run, for:
#   wsclient   examples-c/bench_client.c (wsclient-bench), "proxy" option
#   raw        examples/proxy_raw_client.rs: CONNECT / SOCKS5 greeting and
#              request, hand-written upgrade, one echo, close (the floor)
#   python     websocket-client 1.9.2 (+ wsaccel, python-socks) through the
#              same proxy (benches/proxy_py_client.py)
# The workload is the shared bench's "connect" (N sequential connections,
# one validated text echo of S bytes each, client-initiated close). Clients
# run interleaved, REPS times; medians and ratios are printed.
#
#   benches/proxy_connect.sh WSCLIENT_BENCH ECHO_SERVER RAW_CLIENT PYTHON [N] [REPS]
# (PYTHON: an interpreter with websocket-client, wsaccel and python-socks)
set -euo pipefail
bench=$1 echo_bin=$2 raw=$3 py=$4 n=${5:-1000} reps=${6:-5} size=32
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/wsclient-proxybench.XXXXXX")
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 200); do ss -ltn | grep -q "127.0.0.1:$1 " && return 0; sleep 0.05; done; echo "no listener on $1" >&2; exit 1; }

"$echo_bin" --port 0 --host 127.0.0.1 >"$work/echo.out" 2>&1 &
pids+=($!)
for _ in $(seq 200); do grep -q LISTENING "$work/echo.out" && break; sleep 0.05; done
eport=$(sed -n 's/^LISTENING //p' "$work/echo.out")
sport=$(free_port)
chmod 0777 "$work"
cat >"$work/squid.conf" <<CONF
http_port 127.0.0.1:$sport
pid_filename $work/squid.pid
cache_log $work/cache.log
access_log none
coredump_dir $work
cache deny all
shutdown_lifetime 0 seconds
http_access allow all
CONF
/usr/sbin/squid -N -f "$work/squid.conf" >/dev/null 2>&1 &
pids+=($!)
mport=$(free_port)
microsocks -i 127.0.0.1 -p "$mport" >/dev/null 2>&1 &
pids+=($!)
wait_port "$sport"; wait_port "$mport"
url="ws://127.0.0.1:$eport/"
echo "echo $eport, squid $sport, microsocks $mport; N=$n S=$size, $reps reps" >&2

run() { # client path -> conn/s
    local client=$1 path=$2 proxy
    case $path in direct) proxy=direct ;; squid) proxy="http://127.0.0.1:$sport" ;; socks) proxy="socks5://127.0.0.1:$mport" ;; esac
    local out
    case $client in
    wsclient)
        if [ "$proxy" = direct ]; then opts='{"proxy":""}'; else opts="{\"proxy\":\"$proxy\"}"; fi
        out=$("$bench" --options "$opts" --url "$url" --workload connect --count "$n" --size "$size") ;;
    raw) out=$("$raw" --url "$url" --proxy "$proxy" --count "$n" --size "$size") ;;
    python) out=$("$py" "$here/proxy_py_client.py" --url "$url" --proxy "$proxy" --count "$n" --size "$size") ;;
    esac
    python3 -c 'import json,sys; print(json.loads(sys.argv[1])["msgs_per_s"])' "$out"
}

clients=(wsclient raw python)
paths=(direct squid socks)
: >"$work/results"
for rep in $(seq "$reps"); do
    for path in "${paths[@]}"; do
        # rotate the order per repetition, so that slow phases hit all alike
        for k in 0 1 2; do
            c=${clients[$(((k + rep) % 3))]}
            echo "$path $c $(run "$c" "$path")" >>"$work/results"
        done
    done
done
python3 - "$work/results" <<'PY'
import statistics, sys
r = {}
for line in open(sys.argv[1]):
    path, client, v = line.split()
    r.setdefault((path, client), []).append(float(v))
med = {k: statistics.median(v) for k, v in r.items()}
print("| path | wsclient conn/s | raw conn/s | python conn/s | wsclient/raw | wsclient/python |")
print("|---|---:|---:|---:|---:|---:|")
for p in ("direct", "squid", "socks"):
    w, a, y = med[(p, "wsclient")], med[(p, "raw")], med[(p, "python")]
    print(f"| {p} | {w:,.0f} | {a:,.0f} | {y:,.0f} | {w / a:.2f} | {w / y:.2f} |")
PY
