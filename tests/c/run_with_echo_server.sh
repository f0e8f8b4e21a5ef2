#!/bin/sh
# Runs a command against a fresh wsclient-echo-server and checks its output.
#
#   run_with_echo_server.sh SERVER [checks...] -- COMMAND [ARGS...]
#
# Every @URL@ in ARGS becomes ws://127.0.0.1:<port>/ of a server started on
# port 0 for this run. Checks:
#   --stdin FILE           feed FILE to the command (default: /dev/null)
#   --expect TEXT          stdout must contain TEXT (repeatable)
#   --expect-line TEXT     stdout must contain the whole line TEXT (repeatable)
#   --expect-stderr TEXT   stderr must contain TEXT (repeatable)
#   --reject TEXT          neither stdout nor stderr may contain TEXT (repeatable)
#   --expect-count N TEXT  exactly N lines of stdout contain TEXT (repeatable)
#   --expect-exit N        exit status (default 0)
#   --server-arg ARG       pass ARG to the server too (repeatable; e.g. for
#                          tests/c/scripted_server.c: --server-arg --scenario
#                          --server-arg close)
# The command gets 30 s; the server is stopped in every case.
set -u

server=$1
shift
stdin=/dev/null
expect_exit=0
server_args=
tmp=$(mktemp -d "${TMPDIR:-/tmp}/wsclient-run.XXXXXX") || exit 1
: >"$tmp/expect_out"
: >"$tmp/expect_line"
: >"$tmp/expect_err"
: >"$tmp/reject"
: >"$tmp/expect_count"
server_pid=
cleanup() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null
        wait "$server_pid" 2>/dev/null
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 3' INT TERM

while [ $# -gt 0 ]; do
    case $1 in
    --stdin) stdin=$2; shift 2 ;;
    --expect) printf '%s\n' "$2" >>"$tmp/expect_out"; shift 2 ;;
    --expect-line) printf '%s\n' "$2" >>"$tmp/expect_line"; shift 2 ;;
    --expect-stderr) printf '%s\n' "$2" >>"$tmp/expect_err"; shift 2 ;;
    --reject) printf '%s\n' "$2" >>"$tmp/reject"; shift 2 ;;
    --expect-count) printf '%s %s\n' "$2" "$3" >>"$tmp/expect_count"; shift 3 ;;
    --expect-exit) expect_exit=$2; shift 2 ;;
    --server-arg) server_args="$server_args $2"; shift 2 ;;
    --) shift; break ;;
    *) echo "run_with_echo_server.sh: unknown option $1" >&2; exit 2 ;;
    esac
done

# shellcheck disable=SC2086 # server_args: words without spaces, split on purpose
"$server" --port 0 --host 127.0.0.1 $server_args >"$tmp/server.out" 2>"$tmp/server.err" &
server_pid=$!
port=
i=0
while [ $i -lt 150 ]; do
    port=$(sed -n 's/^LISTENING \([0-9][0-9]*\)$/\1/p' "$tmp/server.out")
    [ -n "$port" ] && break
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
    i=$((i + 1))
done
if [ -z "$port" ]; then
    echo "FAIL: echo server $server did not report its port" >&2
    cat "$tmp/server.err" >&2
    exit 1
fi
url="ws://127.0.0.1:$port/"

# Replace @URL@ in the command's arguments.
for arg do
    shift
    [ "$arg" = "@URL@" ] && arg=$url
    set -- "$@" "$arg"
done

echo "+ $*" >&2
if command -v timeout >/dev/null 2>&1; then
    timeout 30 "$@" <"$stdin" >"$tmp/out" 2>"$tmp/err"
else
    "$@" <"$stdin" >"$tmp/out" 2>"$tmp/err"
fi
status=$?

echo "--- stdout" >&2; cat "$tmp/out" >&2
echo "--- stderr" >&2; cat "$tmp/err" >&2
echo "--- exit status $status" >&2

fail=0
if [ "$status" -ne "$expect_exit" ]; then
    echo "FAIL: exit status $status, expected $expect_exit" >&2
    fail=1
fi
while IFS= read -r line; do
    if ! grep -F -q -e "$line" "$tmp/out"; then
        echo "FAIL: stdout lacks: $line" >&2
        fail=1
    fi
done <"$tmp/expect_out"
while IFS= read -r line; do
    if ! grep -F -x -q -e "$line" "$tmp/out"; then
        echo "FAIL: stdout lacks the line: $line" >&2
        fail=1
    fi
done <"$tmp/expect_line"
while IFS= read -r line; do
    if ! grep -F -q -e "$line" "$tmp/err"; then
        echo "FAIL: stderr lacks: $line" >&2
        fail=1
    fi
done <"$tmp/expect_err"
while IFS= read -r line; do
    if grep -F -q -e "$line" "$tmp/out" "$tmp/err"; then
        echo "FAIL: the output contains: $line" >&2
        fail=1
    fi
done <"$tmp/reject"
while read -r n line; do
    got=$(grep -F -c -e "$line" "$tmp/out")
    if [ "$got" -ne "$n" ]; then
        echo "FAIL: $got lines of stdout contain '$line', expected $n" >&2
        fail=1
    fi
done <"$tmp/expect_count"
if [ -s "$tmp/server.err" ]; then
    echo "--- echo server stderr" >&2; cat "$tmp/server.err" >&2
fi
[ $fail -eq 0 ] && echo "PASS" >&2
exit $fail
