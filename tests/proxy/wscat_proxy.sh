#!/bin/sh
# wscat --proxy against a real SOCKS5 proxy (microsocks, with user and
# password) and the echo server: the lines come back through the proxy,
# the proxy's log shows the tunnel, and a dead proxy is reported.
#
#   wscat_proxy.sh RUNNER ECHO_SERVER WSCAT      (ctest wscat_proxy)
# Exit 77 (skipped, with the reason) when microsocks is not installed.
set -u
runner=$1 server=$2 wscat=$3
ms=$(command -v microsocks) || { echo "SKIP: microsocks not installed (sh tests/proxy/ensure-proxies.sh)"; exit 77; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/wsclient-wscat-proxy.XXXXXX") || exit 1
pid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
listening() { ss -ltn 2>/dev/null | grep -q "127.0.0.1:$1 "; }
for try in 1 2 3 4 5; do
    port=$(shuf -i 20000-60000 -n 1)
    listening "$port" && continue
    "$ms" -i 127.0.0.1 -p "$port" -u plant -P 'pw:1' >"$tmp/ms.log" 2>&1 &
    pid=$!
    i=0
    while [ $i -lt 100 ] && ! listening "$port"; do sleep 0.05; i=$((i + 1)); done
    listening "$port" && break
    kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; pid=
done
[ -n "$pid" ] || { echo "FAIL: microsocks did not start"; exit 1; }
printf 'through socks\n' >"$tmp/in"
sh "$runner" "$server" --stdin "$tmp/in" --expect-line "through socks" \
    -- "$wscat" -q -t 5000 -w 0.5 --proxy "socks5h://plant:pw%3A1@127.0.0.1:$port" @URL@ || exit 1
grep -q "connected to 127.0.0.1:" "$tmp/ms.log" || { echo "FAIL: microsocks saw no tunnel:"; cat "$tmp/ms.log"; exit 1; }
sh "$runner" "$server" --expect-exit 1 --expect-stderr "proxy authentication failed" --reject "wrong-pw" \
    -- "$wscat" -t 5000 --proxy "socks5://plant:wrong-pw@127.0.0.1:$port" @URL@ || exit 1
sh "$runner" "$server" --expect-exit 1 --expect-stderr "proxy http://127.0.0.1:1 unreachable" \
    -- "$wscat" -t 5000 --proxy "http://127.0.0.1:1" @URL@ || exit 1
echo "wscat --proxy: ok"
