#!/bin/sh
# Lua binding tests: scripts run under lua_host against local servers.
#
#   tests/lua/run.sh HOST_BINARY MODULE_DIR ECHO_SERVER [TEST...]
#   tests/lua/run.sh --list
#
# HOST_BINARY  lua_host (examples-c/lua_host.c)
# MODULE_DIR   the directory holding websocket.so (for lua_host; CMake
#              passes the sanitized pair when there is one)
# ECHO_SERVER  wsclient-echo-server
# TEST...      names from --list (default: all). ctest runs one per test.
#
# Environment (CMake sets them): PLAIN_MODDIR, the unsanitized websocket.so
# that the tests with the stock interpreter load (default MODULE_DIR); LUA,
# that interpreter (default lua5.4); LUAROCKS (default luarocks);
# WSCLIENT_INCLUDE_DIR and WSCLIENT_LIB_DIR, wsclient.h and libwsclient.so
# for the rockspec test.
#
# Servers: one wsclient-echo-server per run, plus tests/lua/mock_server.py
# (Python 3, stdlib only; $PYTHON, default python3) for misbehaviour. All
# on 127.0.0.1, ports picked by the servers (port 0). Every host run has
# its own -t limit and an outer `timeout`; servers are killed by PID.
#
# Exit status: 0 when every selected test passed, 1 otherwise, 2 on usage,
# 77 when every selected test was skipped (a program it needs is missing).
set -u

TESTS="nodemcu_echo qsys_ping qsys_headers nodemcu_reuse binary_large
refused_nodemcu refused_qsys bad_url_nodemcu bad_url_qsys
connect_timeout_nodemcu connect_timeout_qsys server_close_nodemcu
server_close_qsys server_drop upgrade_rejected bad_accept health_check
gc gc_teardown timers handler_error time_limit misuse plain_lua
options error_objects nul far_timer hostile shutdown shutdown_plain
qsys_plain luarocks depth_valgrind stream proxy compression"

if [ "${1:-}" = "--list" ]; then
    for t in $TESTS; do echo "$t"; done
    exit 0
fi
if [ $# -lt 3 ]; then
    sed -n '2,19p' "$0" >&2
    exit 2
fi
HOST=$1
MODDIR=$2
ECHO=$3
shift 3
PLAIN_MODDIR=${PLAIN_MODDIR:-$MODDIR}
LUA=${LUA:-$(command -v lua5.4 || command -v lua)}
LUAROCKS=${LUAROCKS:-$(command -v luarocks)}
[ $# -gt 0 ] && TESTS="$*"

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
EXAMPLES="$REPO/examples-lua"
PY=${PYTHON:-python3}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/wsclient-lua.XXXXXX") || exit 2
PIDS=""

cleanup() {
    for p in $PIDS; do kill "$p" 2>/dev/null; done
    for p in $PIDS; do wait "$p" 2>/dev/null; done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 3' INT TERM

# start_server NAME COMMAND...: runs COMMAND, waits for "LISTENING <port>",
# sets PORT_<NAME> and OUT_<NAME> (its stdout file).
start_server() {
    name=$1
    shift
    "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
    pid=$!
    PIDS="$PIDS $pid"
    i=0
    port=
    while [ $i -lt 150 ]; do
        port=$(sed -n 's/^LISTENING \([0-9][0-9]*\)$/\1/p' "$WORK/$name.out")
        [ -n "$port" ] && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
        i=$((i + 1))
    done
    if [ -z "$port" ]; then
        echo "FAIL: server $name ($*) did not start" >&2
        cat "$WORK/$name.err" >&2
        return 1
    fi
    eval "PORT_$name=$port"
    eval "OUT_$name=\$WORK/$name.out"
}

mock() { # mock NAME MODE [ARGS...]
    n=$1
    shift
    start_server "$n" "$PY" "$HERE/mock_server.py" "$@"
}

free_port() { # a loopback port with nothing listening
    "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

ECHO_PORT=
echo_url() {
    if [ -z "$ECHO_PORT" ]; then
        start_server echo "$ECHO" --port 0 --host 127.0.0.1 || return 1
        ECHO_PORT=$PORT_echo
    fi
    URL="ws://127.0.0.1:$ECHO_PORT/"
}

FRAMES_PORT=
frames_echo() { # an echo server that echoes frame by frame (--frames): FRAMES_PORT
    if [ -z "$FRAMES_PORT" ]; then
        start_server frames "$ECHO" --port 0 --host 127.0.0.1 --frames || return 1
        FRAMES_PORT=$PORT_frames
    fi
}

# host EXPECTED_EXIT [host options...] SCRIPT: runs the host (its own -t 20
# limit unless given, and an outer 40 s timeout); stdout in $WORK/out.
host() {
    want=$1
    shift
    echo "+ lua_host -m $MODDIR $*" >&2
    timeout --kill-after=5 40 "$HOST" -m "$MODDIR" "$@" >"$WORK/out" 2>"$WORK/err"
    got=$?
    echo "--- stdout" >&2; cat "$WORK/out" >&2
    if [ -s "$WORK/err" ]; then echo "--- stderr" >&2; cat "$WORK/err" >&2; fi
    if [ "$got" -ne "$want" ]; then
        echo "FAIL: exit status $got, expected $want" >&2
        FAILED=1
    fi
}

# TEXT may spell tabs as \t (printf %b).
line() { # the whole line TEXT is in stdout
    text=$(printf '%b' "$1")
    if ! grep -F -x -q -e "$text" "$WORK/out"; then
        echo "FAIL: stdout lacks the line: $1" >&2
        FAILED=1
    fi
}
has() { # stdout contains TEXT
    text=$(printf '%b' "$1")
    if ! grep -F -q -e "$text" "$WORK/out"; then
        echo "FAIL: stdout lacks: $1" >&2
        FAILED=1
    fi
}
err_has() {
    if ! grep -F -q -e "$1" "$WORK/err"; then
        echo "FAIL: stderr lacks: $1" >&2
        FAILED=1
    fi
}
skip() { # skip REASON: the test cannot run here (counted as skipped, not passed)
    echo "SKIP: $1" >&2
    SKIPPED=1
}
hex_lines_match() { # every "EXPECT name hex" in stdout is a "HEADER name hex" of server NAME's output
    grep '^EXPECT ' "$WORK/out" | sed 's/^EXPECT /HEADER /' >"$WORK/expect"
    if [ ! -s "$WORK/expect" ]; then echo "FAIL: no EXPECT lines" >&2; FAILED=1; return; fi
    while IFS= read -r want; do
        if ! grep -F -x -q -e "$want" "$1"; then
            echo "FAIL: the server did not receive: $want" >&2
            FAILED=1
        fi
    done <"$WORK/expect"
}
elapsed_ms() { # milliseconds since $T0 (set with T0=$(now_ns))
    echo $(( ($(date +%s%N) - T0) / 1000000 ))
}
# plain NAME ARGS...: runs the stock interpreter with the unsanitized module
# (a sanitized one gets its runtimes preloaded); stdout in $WORK/out.
plain() {
    if [ -z "$LUA" ]; then skip "no lua5.4 interpreter"; return 1; fi
    preload=$(ldd "$PLAIN_MODDIR/websocket.so" 2>/dev/null | sed -n 's/^[[:space:]]*lib\(asan\|ubsan\)\.so[^ ]* => \([^ ]*\) .*/\2/p' | tr '\n' ' ')
    echo "+ $LUA $* (LUA_CPATH=$PLAIN_MODDIR/?.so${preload:+, LD_PRELOAD=$preload})" >&2
    LD_PRELOAD="$preload" ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" LUA_CPATH="$PLAIN_MODDIR/?.so;;" \
        timeout --kill-after=5 40 "$LUA" "$@" >"$WORK/out" 2>"$WORK/err"
    PLAIN_RC=$?
    echo "--- stdout" >&2; cat "$WORK/out" >&2
    if [ -s "$WORK/err" ]; then echo "--- stderr" >&2; cat "$WORK/err" >&2; fi
    return 0
}

no_err() {
    if [ -s "$WORK/err" ]; then
        echo "FAIL: unexpected stderr" >&2
        FAILED=1
    fi
}

# --- the tests ---------------------------------------------------------------------

t_compression() { # "compression" through ws:config, ws:compression() after open
    mock z deflate || return 1
    host 0 -t 20 -D "URL=ws://127.0.0.1:$PORT_z/" "$HERE/compression.lua"
    line 'agreed\t10\t15\tfalse\tfalse'
    line 'echo\t1700\t1\ttrue'
    line 'plain\tnil'
    line 'closed\t0'
    no_err
    if ! grep -F -x -q "OFFER permessage-deflate; client_max_window_bits=12" "$OUT_z"; then
        echo "FAIL: the server did not get the offer" >&2
        cat "$OUT_z" >&2
        FAILED=1
    fi
}

t_nodemcu_echo() { # the NodeMCU seed example, unchanged but for the URL
    echo_url || return 1
    host 0 -t 20 -D "URL=$URL" "$EXAMPLES/nodemcu_echo.lua"
    line 'got ws connection'
    line 'got message:\thello!\t1'
    line 'connection closed\t0'
    no_err
}

t_qsys_ping() { # the Q-SYS ping timer example: pings every 0.2 s, closes after 3 pongs
    echo_url || return 1
    host 0 -t 20 -D HOST=127.0.0.1 -D "PORT=$ECHO_PORT" -D PING_SECONDS=0.2 -D PONGS=3 \
        "$EXAMPLES/qsys_ping.lua"
    line 'Connected'
    line 'Data\tHey!'
    line 'Pong\t3'
    line 'closed'
    no_err
}

t_qsys_headers() { # the Q-SYS Connect example with headers
    echo_url || return 1
    host 0 -D HOST=127.0.0.1 -D "PORT=$ECHO_PORT" "$EXAMPLES/qsys_connect_headers.lua"
    line 'Connected'
    line 'Data\tHey!'
    line 'closed'
}

t_nodemcu_reuse() {
    echo_url || return 1
    host 0 -D "URL=$URL" "$HERE/nodemcu_reuse.lua"
    line 'got\tround 3'
    line 'closed\t3\t0'
}

t_binary_large() {
    echo_url || return 1
    host 0 -D "URL=$URL" -D HOST=127.0.0.1 -D "PORT=$ECHO_PORT" "$HERE/binary_large.lua"
    line 'nodemcu binary ok\t1048576'
    line 'nodemcu text ok\t1048576'
    line 'qsys binary ok\t1048576'
}

t_stream() { # messages in pieces: send_part/WritePart, "part"/DataPart with streamReceive
    frames_echo || return 1
    host 0 -t 30 -D "URL=ws://127.0.0.1:$FRAMES_PORT/" -D HOST=127.0.0.1 -D "PORT=$FRAMES_PORT" "$HERE/stream.lua"
    line 'nodemcu binary ok\t8388608'
    line 'nodemcu text ok\t13'
    line 'nodemcu closed\t0'
    line 'qsys parts ok\t5'
    line 'qsys closed'
    line 'half close\t1\t0'
    line 'whole after reconnect\tagain'
    line 'half close\t2\t0'
    no_err
}

t_refused_nodemcu() { # -(100 + WS_E_CONNECT)
    p=$(free_port)
    host 0 -D "URL=ws://127.0.0.1:$p/" -D EXPECT=-106 "$HERE/nodemcu_status.lua"
    line 'connect returned'
    has 'close\t-106\t0\tconnect 127.0.0.1:'  # no connection was made: close code 0
    has 'connection refused'
}

t_refused_qsys() {
    p=$(free_port)
    host 0 -D HOST=127.0.0.1 -D "PORT=$p" "$HERE/qsys_status.lua"
    has 'connection refused'
    has 'WS_E_CONNECT'
    line 'closed\t0\t'
}

t_bad_url_nodemcu() { # NodeMCU's URL statuses -1, -3, -4
    for case in 'http://127.0.0.1/ -1' 'ws://127.0.0.1:99999/ -3' 'ws://127.0.0.1:0/ -3' 'ws://:80/ -4' 'nonsense -1'; do
        set -- $case
        host 0 -D "URL=$1" -D "EXPECT=$2" "$HERE/nodemcu_status.lua"
        has "close	$2	0	invalid URL"
        line 'connect returned'
    done
}

t_bad_url_qsys() {
    host 0 -D PROTOCOL=http -D HOST=127.0.0.1 -D PORT=80 "$HERE/qsys_status.lua"
    has 'unsupported scheme "http"'
    has 'WS_E_UNSUPPORTED_SCHEME'
    line 'closed\t0\t'
    host 0 -D HOST=127.0.0.1 -D PORT=99999 "$HERE/qsys_status.lua"
    has 'WS_E_INVALID_URL'
}

t_connect_timeout_nodemcu() { # a server that accepts TCP and never answers: -18
    mock silent silent || return 1
    host 0 -D "URL=ws://127.0.0.1:$PORT_silent/" -D TIMEOUT_MS=500 -D EXPECT=-18 "$HERE/nodemcu_status.lua"
    has 'close\t-18\t0'
}

t_connect_timeout_qsys() {
    mock silent silent || return 1
    host 0 -D HOST=127.0.0.1 -D "PORT=$PORT_silent" -D TIMEOUT_MS=500 "$HERE/qsys_status.lua"
    has 'WS_E_TIMEOUT'
    line 'closed\t0\t'
}

t_server_close_nodemcu() { # the server closes with 4001: -6, code and reason follow
    mock close close 4001 'bye now' || return 1
    host 0 -D "URL=ws://127.0.0.1:$PORT_close/" -D SEND=hello -D EXPECT=-6 "$HERE/nodemcu_status.lua"
    line 'connected'
    line 'close\t-6\t4001\tbye now'
}

t_server_close_qsys() {
    mock close close 4002 maintenance || return 1
    host 0 -D HOST=127.0.0.1 -D "PORT=$PORT_close" -D SEND=hello "$HERE/qsys_status.lua"
    line 'Connected'
    line 'closed\t4002\tmaintenance'
    if grep -q '^Error' "$WORK/out"; then echo "FAIL: Error called for a clean server close" >&2; FAILED=1; fi
}

t_server_drop() { # TCP dropped without a close frame: -(100 + WS_E_CONNECTION_LOST)
    mock drop drop || return 1
    host 0 -D "URL=ws://127.0.0.1:$PORT_drop/" -D SEND=hello -D EXPECT=-122 "$HERE/nodemcu_status.lua"
    has 'close\t-122\t1006\tconnection lost'
}

t_upgrade_rejected() { # HTTP 403: -17
    mock reject reject 403 || return 1
    host 0 -D "URL=ws://127.0.0.1:$PORT_reject/" -D EXPECT=-17 "$HERE/nodemcu_status.lua"
    has 'HTTP 403'
}

t_bad_accept() { # wrong Sec-WebSocket-Accept: -7
    mock badaccept badaccept || return 1
    host 0 -D "URL=ws://127.0.0.1:$PORT_badaccept/" -D EXPECT=-7 "$HERE/nodemcu_status.lua"
    has 'close\t-7\t'
}

t_health_check() { # no pong within pongTimeout after a keepalive ping: -19
    mock stall stall || return 1
    host 0 -D "URL=ws://127.0.0.1:$PORT_stall/" -D PING_MS=200 -D PONG_MS=300 -D EXPECT=-19 \
        "$HERE/nodemcu_status.lua"
    line 'connected'
    has 'close\t-19\t1006'
}

t_gc() {
    echo_url || return 1
    host 0 -D "URL=$URL" "$HERE/gc.lua"
    line 'idle clients collected'
    line 'got\tstill here'
    line 'after close: clients\t0\tactive\t0'
    no_err
}

t_gc_teardown() { # lua_close() closes the open socket with 1001
    mock record record || return 1
    host 0 -D "URL=ws://127.0.0.1:$PORT_record/" "$HERE/gc_teardown.lua"
    line 'connected'
    i=0
    while [ $i -lt 50 ] && ! grep -q '^CLIENT-CLOSE' "$OUT_record"; do sleep 0.1; i=$((i + 1)); done
    if ! grep -q '^CLIENT-CLOSE 1001' "$OUT_record"; then
        echo "FAIL: the server did not receive close code 1001:" >&2
        cat "$OUT_record" >&2
        FAILED=1
    fi
}

t_timers() {
    host 0 "$HERE/timers.lua"
    line 'once'
    line 'tick 3'
    line 'call after'
    line 'repeat done'
    line 'timers ok'
    no_err
}

t_handler_error() { # reported, the loop goes on, exit status 1
    echo_url || return 1
    host 1 -D "URL=$URL" "$HERE/handler_error.lua"
    err_has 'lua_host: error in handler:'
    err_has 'boom in receive'
    line 'close still runs\t0'
}

t_time_limit() { # a script that never goes idle: the -t limit, status 124
    host 124 -t 1 "$HERE/forever.lua"
    line 'running'
    err_has 'time limit of 1 s reached'
}

t_misuse() {
    host 0 "$HERE/misuse.lua"
    line 'reentry refused'
    line 'misuse ok\twebsocket\t-18\t-106'
}

t_plain_lua() { # the module without the host: require + websocket.run()
    echo_url || return 1
    export URL
    plain -e '
        websocket = require "websocket"
        URL = os.getenv "URL"
        dofile(arg[0])
        assert(websocket.run(10000), "run timed out")
        print("run done", websocket.stats().active)' "$EXAMPLES/nodemcu_echo.lua" || return 0
    [ $PLAIN_RC -eq 0 ] || { echo "FAIL: exit status $PLAIN_RC" >&2; FAILED=1; }
    line 'got message:\thello!\t1'
    line 'connection closed\t0'
    line 'run done\t0'
}

t_options() { # options checked at config/Connect, any depth, cycles, escaping
    mock hdr headers || return 1
    p=$(free_port)
    host 0 -t 60 -D "URL=ws://127.0.0.1:$PORT_hdr/" -D HOST=127.0.0.1 -D "PORT=$PORT_hdr" -D "REFUSED=$p" \
        "$HERE/options.lua"
    line 'depths ok'
    line 'cycles ok'
    line 'values ok'
    line 'nodemcu closed\t0'
    line 'qsys closed'
    hex_lines_match "$OUT_hdr"
    no_err
}

t_error_objects() { # handlers and onerror raising non-strings: text, never "(null)"
    host 0 "$HERE/error_objects.lua"
    line 'onerror 2: a named error object'
    line 'onerror 10: (error object is a nil value)'
    line 'error objects ok'
    err_has 'websocket: error in onerror: a named error object'
    err_has 'websocket: error in onerror: (error object is a table value)'
    err_has 'websocket: error in onerror: 42'
    err_has 'websocket: error in handler: '
    if grep -q '(null)' "$WORK/err"; then echo "FAIL: (null) printed for an error object" >&2; FAILED=1; fi
}

t_nul() { # NUL refused in URL/host/path/..., kept in payloads
    echo_url || return 1
    host 0 -D "URL=$URL" -D HOST=127.0.0.1 -D "PORT=$ECHO_PORT" "$HERE/nul.lua"
    line 'nodemcu nul ok\t2\t0'
    line 'qsys nul ok\t2'
    no_err
}

t_far_timer() { # poll(-1) with a timer 30 days away (> INT_MAX ms)
    echo_url || return 1
    host 0 -D "URL=$URL" "$HERE/far_timer.lua"
    has 'got\tduring a 30-day timer'
    line 'far timer ok'
    no_err
}

t_hostile() { # a careless script: wrong types, re-entrancy, gc in handlers
    echo_url || return 1
    host 0 -t 60 -D "URL=$URL" -D HOST=127.0.0.1 -D "PORT=$ECHO_PORT" "$HERE/hostile.lua"
    line 'types ok'
    line 'close in handler ok'
    line 'reconnect in handler ok'
    line 'raise/yield in handler ok'
    has 'large messages ok'
    line 'closed clients ok\t3'
    line 'hostile ok\t5'
}

t_depth_valgrind() { # deep and cyclic options in small coroutine stacks, under valgrind
    VALGRIND=${VALGRIND:-$(command -v valgrind)}
    if [ -z "$VALGRIND" ]; then skip "no valgrind (apt-get install valgrind)"; return 0; fi
    if [ -z "$LUA" ]; then skip "no lua5.4 interpreter"; return 0; fi
    if ldd "$PLAIN_MODDIR/websocket.so" | grep -q -E 'lib(asan|ubsan)'; then
        skip "$PLAIN_MODDIR/websocket.so is sanitized (valgrind needs the plain module)"
        return 0
    fi
    echo "+ valgrind $LUA depth.lua (LUA_CPATH=$PLAIN_MODDIR/?.so)" >&2
    LUA_CPATH="$PLAIN_MODDIR/?.so;;" timeout --kill-after=5 100 "$VALGRIND" -q --error-exitcode=99 \
        "$LUA" -e 'websocket = require "websocket"; WebSocket = websocket.WebSocket' "$HERE/depth.lua" \
        >"$WORK/out" 2>"$WORK/err"
    rc=$?
    cat "$WORK/out" "$WORK/err" >&2
    [ $rc -eq 0 ] || { echo "FAIL: exit status $rc (99: valgrind found an error)" >&2; FAILED=1; }
    line 'depth errors\t57'
    no_err
}

# 8 clients open to a server that never answers the close frame, closeTimeout
# 1000 ms each: the end of the state closes them in parallel, in about one
# closeTimeout (one after another would take 8 s).
SHUTDOWN_MIN_MS=800
SHUTDOWN_MAX_MS=3500
shutdown_check() { # shutdown_check MS
    echo "lua_close with 8 open clients: $1 ms" >&2
    if [ "$1" -ge $SHUTDOWN_MAX_MS ]; then
        echo "FAIL: closing 8 clients took $1 ms (>= $SHUTDOWN_MAX_MS): not in parallel" >&2
        FAILED=1
    fi
    if [ "$1" -lt $SHUTDOWN_MIN_MS ]; then
        echo "FAIL: closing took only $1 ms: the closing handshakes were not waited for" >&2
        FAILED=1
    fi
}

t_shutdown() { # lua_host: host.exit() with 8 open clients
    mock stall stall || return 1
    T0=$(date +%s%N)
    host 0 -D "URL=ws://127.0.0.1:$PORT_stall/" -D HOST=127.0.0.1 -D "PORT=$PORT_stall" -D N=8 -D CLOSE_MS=1000 \
        "$HERE/shutdown.lua"
    ms=$(elapsed_ms)
    line 'all open\t8'
    no_err
    shutdown_check "$ms"
}

t_shutdown_plain() { # the stock interpreter ends the script with 8 open clients
    mock stall stall || return 1
    T0=$(date +%s%N)
    plain -e "websocket = require 'websocket'; WebSocket = websocket.WebSocket
              URL = 'ws://127.0.0.1:$PORT_stall/'; HOST = '127.0.0.1'; PORT = $PORT_stall; N = 8" \
        "$HERE/shutdown.lua" || return 0
    ms=$(elapsed_ms)
    [ $PLAIN_RC -eq 0 ] || { echo "FAIL: exit status $PLAIN_RC" >&2; FAILED=1; }
    line 'all open\t8'
    shutdown_check "$ms"
}

t_proxy() { # the "proxy" option through microsocks (tests/proxy/ensure-proxies.sh)
    ms=$(command -v microsocks) || { skip "microsocks not installed"; return 0; }
    echo_url || return 1
    p=$(free_port)
    "$ms" -i 127.0.0.1 -p "$p" -u plant -P pw >"$WORK/ms.log" 2>&1 &
    PIDS="$PIDS $!"
    i=0
    while [ $i -lt 100 ] && ! ss -ltn 2>/dev/null | grep -q "127.0.0.1:$p "; do sleep 0.05; i=$((i + 1)); done
    host 0 -t 20 -D "URL=$URL" -D "PROXY=socks5h://plant:pw@127.0.0.1:$p" \
        -D "BADPROXY=socks5h://plant:nope@127.0.0.1:$p" "$HERE/proxy.lua"
    line 'got\tvia proxy'
    line 'good proxy closed\t0'
    has 'bad proxy closed'
    grep -q "connected to 127.0.0.1:$ECHO_PORT" "$WORK/ms.log" || { echo "FAIL: no tunnel in the proxy's log" >&2; FAILED=1; }
}

t_qsys_plain() { # require "websocket.qsys" gives WebSocket and Timer to a plain interpreter
    echo_url || return 1
    plain -e "HOST = '127.0.0.1'; PORT = $ECHO_PORT; PING_SECONDS = 0.2; PONGS = 3" \
          -e 'Q = require "websocket.qsys"' \
          -e 'assert(WebSocket == Q.WebSocket and Timer == Q.Timer and Q.websocket == require "websocket")' \
          -e "dofile '$EXAMPLES/qsys_ping.lua'" \
          -e 'assert(Q.run(10000), "run timed out"); print("run done", Q.websocket.stats().active)' || return 0
    [ $PLAIN_RC -eq 0 ] || { echo "FAIL: exit status $PLAIN_RC" >&2; FAILED=1; }
    line 'Connected'
    line 'Data\tHey!'
    line 'Pong\t3'
    line 'closed'
    line 'run done\t0'
}

# The rockspec: `luarocks make` into a local tree (from a copy of
# bindings/lua, so no build output lands in the sources), then both
# dialects with the stock interpreter and only the tree's paths.
t_luarocks() {
    if [ -z "$LUAROCKS" ]; then skip "no luarocks (apt-get install luarocks)"; return 0; fi
    if [ -z "$LUA" ]; then skip "no lua5.4 interpreter"; return 0; fi
    inc=${WSCLIENT_INCLUDE_DIR:-$REPO/include}
    lib=${WSCLIENT_LIB_DIR:-}
    if [ -z "$lib" ] || [ ! -f "$lib/libwsclient.so" ]; then
        echo "FAIL: WSCLIENT_LIB_DIR (the directory of libwsclient.so) is not set or wrong: '$lib'" >&2
        FAILED=1
        return 0
    fi
    echo_url || return 1
    mkdir -p "$WORK/rock" "$WORK/run"
    cp "$REPO/bindings/lua/"*.rockspec "$REPO/bindings/lua/lwebsocket.c" "$WORK/rock/"
    echo "+ luarocks --lua-version 5.4 --tree $WORK/tree make WSCLIENT_INCDIR=$inc WSCLIENT_LIBDIR=$lib" >&2
    if ! (cd "$WORK/rock" && timeout 120 "$LUAROCKS" --lua-version 5.4 --tree "$WORK/tree" make \
            "WSCLIENT_INCDIR=$inc" "WSCLIENT_LIBDIR=$lib") >"$WORK/rock.log" 2>&1; then
        cat "$WORK/rock.log" >&2
        echo "FAIL: luarocks make" >&2
        FAILED=1
        return 0
    fi
    cat "$WORK/rock.log" >&2
    so="$WORK/tree/lib/lua/5.4/websocket.so"
    [ -f "$so" ] || { echo "FAIL: no $so" >&2; FAILED=1; return 0; }
    if ldd "$so" | grep -q -E 'lib(asan|ubsan)'; then echo "FAIL: the rock links a sanitizer" >&2; FAILED=1; fi
    paths=$(cd "$WORK/run" && "$LUAROCKS" --lua-version 5.4 --tree "$WORK/tree" path) || { FAILED=1; return 0; }
    for dialect in nodemcu qsys; do
        if [ $dialect = nodemcu ]; then
            script="websocket = require 'websocket'; URL = '$URL'; dofile '$EXAMPLES/nodemcu_echo.lua'
                    assert(websocket.run(10000)); print('run done', websocket.stats().active)"
        else
            script="HOST = '127.0.0.1'; PORT = $ECHO_PORT
                    local Q = require 'websocket.qsys'; dofile '$EXAMPLES/qsys_connect_headers.lua'
                    assert(Q.run(10000)); print('run done', Q.websocket.stats().active)"
        fi
        echo "+ (luarocks path) $LUA -e \"$script\"" >&2
        (cd "$WORK/run" && eval "$paths" && env -u LD_PRELOAD timeout --kill-after=5 40 "$LUA" -e "$script") \
            >"$WORK/out" 2>"$WORK/err"
        rc=$?
        cat "$WORK/out" "$WORK/err" >&2
        [ $rc -eq 0 ] || { echo "FAIL: $dialect: exit status $rc" >&2; FAILED=1; }
        if [ $dialect = nodemcu ]; then
            line 'got message:\thello!\t1'
            line 'connection closed\t0'
        else
            line 'Connected'
            line 'Data\tHey!'
            line 'closed'
        fi
        line 'run done\t0'
        no_err
    done
}

# --- run ------------------------------------------------------------------------------

if [ ! -x "$HOST" ]; then echo "run.sh: $HOST is not executable" >&2; exit 2; fi
if [ ! -f "$MODDIR/websocket.so" ]; then echo "run.sh: no websocket.so in $MODDIR" >&2; exit 2; fi
failures=0
ran=0
skipped=0
for t in $TESTS; do
    if ! command -v "t_$t" >/dev/null 2>&1; then
        echo "run.sh: unknown test $t (see --list)" >&2
        exit 2
    fi
    echo "=== $t" >&2
    FAILED=0
    SKIPPED=0
    ran=$((ran + 1))
    "t_$t" || FAILED=1
    if [ $FAILED -eq 0 ] && [ $SKIPPED -eq 1 ]; then
        echo "SKIPPED $t" >&2
        skipped=$((skipped + 1))
    elif [ $FAILED -eq 0 ]; then
        echo "PASS $t" >&2
    else
        echo "FAIL $t" >&2
        failures=$((failures + 1))
    fi
done
echo "run.sh: $failures failed, $skipped skipped" >&2
[ $failures -eq 0 ] || exit 1
[ $skipped -gt 0 ] && [ $skipped -eq $ran ] && exit 77
exit 0
