#!/bin/sh
# ctest readme_examples: the C examples in README.md, as a reader would copy
# them, compile cleanly against the header and the library, and the complete
# programs run against wsclient-echo-server with the output the README
# promises.
#
#   readme_examples.sh README.md INCLUDE_DIR LIBRARY_DIR [ECHO_SERVER [CC [CFLAGS]]]
#
# Every ```c block is one example. A block with main() is a program: it is
# compiled and linked against LIBRARY_DIR/libwsclient.so (CFLAGS: e.g. the
# sanitizer flags of the test build, so that a lifetime mistake in an example
# fails). Any other block is a fragment: it is compiled as the body of a
# function (with <stdio.h> and wsclient.h included), so it must be valid C
# too. An HTML comment right above a block (invisible on GitHub) says what
# running the program must show:
#
#   <!-- readme-test
#   run
#   expect: got text: hello
#   -->
#
# "run": run it (30 s limit) against a fresh echo server; the examples use
# ws://127.0.0.1:8080/ as the README tells the reader to start the server
# (wsclient-echo-server --port 8080), and here 127.0.0.1:8080 becomes the
# port the test's server got. "expect: LINE": stdout has that line.
# "exit: N": the exit status (default 0). Without ECHO_SERVER, programs are
# only compiled.
set -eu
readme=$1 inc=$2 libdir=$3 echo_server=${4:-} cc=${5:-cc} cflags=${6:-}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/wsclient-readme.XXXXXX")
server_pid=
cleanup() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 3' INT TERM
fail() { echo "FAIL: $*" >&2; exit 1; }

# ex<n>.c for every ```c block, ex<n>.test for its readme-test comment
awk -v dir="$tmp" '
  /^<!-- readme-test/ { incomment = 1; test = ""; next }
  incomment && /^-->/ { incomment = 0; pending = test; next }
  incomment { test = test $0 "\n"; next }
  /^```c$/ {
      inblock = 1; n++; file = dir "/ex" n ".c"
      if (pending != "") { printf "%s", pending > (dir "/ex" n ".test"); close(dir "/ex" n ".test") }
      pending = ""; next
  }
  /^```$/ && inblock { inblock = 0; close(file); next }
  inblock { print > file; next }
  /[^ \t]/ { pending = "" }' "$readme"

port=
start_server() {
    [ -n "$port" ] && return 0
    # the background job opens server.out later than this shell reads it
    : >"$tmp/server.out"
    "$echo_server" --port 0 --host 127.0.0.1 >>"$tmp/server.out" 2>"$tmp/server.err" &
    server_pid=$!
    i=0
    while [ $i -lt 150 ]; do
        port=$(sed -n 's/^LISTENING \([0-9][0-9]*\)$/\1/p' "$tmp/server.out")
        [ -n "$port" ] && return 0
        kill -0 "$server_pid" 2>/dev/null || break
        sleep 0.1
        i=$((i + 1))
    done
    fail "echo server $echo_server did not start: $(cat "$tmp/server.err")"
}

programs=0 fragments=0 ran=0
for f in "$tmp"/ex*.c; do
    [ -e "$f" ] || continue
    name=$(basename "$f" .c)
    if ! grep -q 'int main' "$f"; then
        fragments=$((fragments + 1))
        { printf '#include <stdio.h>\n#include "wsclient.h"\nint readme_fragment(void);\nint readme_fragment(void)\n{\n'
          cat "$f"
          printf 'return 0;\n}\n'; } >"$tmp/$name.frag.c"
        # shellcheck disable=SC2086 # CFLAGS is a list of flags
        "$cc" -std=c11 -Wall -Wextra -Werror $cflags -I"$inc" -c -o "$tmp/$name.o" "$tmp/$name.frag.c" ||
            fail "README fragment $name does not compile:
$(cat "$f")"
        echo "compiled README fragment $name"
        continue
    fi
    programs=$((programs + 1))
    src=$f
    run=0
    if [ -f "$tmp/$name.test" ] && grep -qx 'run' "$tmp/$name.test" && [ -n "$echo_server" ]; then
        run=1
        start_server
        sed "s/127\.0\.0\.1:8080/127.0.0.1:$port/g" "$f" >"$tmp/$name.run.c"
        src=$tmp/$name.run.c
    fi
    # shellcheck disable=SC2086
    "$cc" -std=c11 -Wall -Wextra -Werror $cflags -I"$inc" -o "$tmp/$name" "$src" \
        -L"$libdir" -lwsclient -Wl,-rpath,"$libdir" -Wl,--no-undefined ||
        fail "README program $name does not compile"
    echo "compiled README program $name"
    [ $run -eq 1 ] || continue

    expect_exit=$(sed -n 's/^exit: *//p' "$tmp/$name.test")
    expect_exit=${expect_exit:-0}
    set +e
    timeout 30 "$tmp/$name" >"$tmp/$name.out" 2>"$tmp/$name.err"
    status=$?
    set -e
    echo "--- $name: exit status $status; stdout:"
    cat "$tmp/$name.out"
    echo "--- stderr:"
    cat "$tmp/$name.err"
    [ "$status" = "$expect_exit" ] || fail "README program $name exited with $status, expected $expect_exit"
    sed -n 's/^expect: //p' "$tmp/$name.test" >"$tmp/$name.expect"
    while IFS= read -r line; do
        grep -F -x -q -e "$line" "$tmp/$name.out" || fail "README program $name: stdout lacks the line: $line"
    done <"$tmp/$name.expect"
    ran=$((ran + 1))
done
echo "README: $programs programs ($ran run against the echo server), $fragments fragments"
[ "$programs" -ge 2 ] || fail "expected at least 2 complete C programs in $readme, found $programs"
if [ -n "$echo_server" ] && [ "$ran" -lt "$programs" ]; then
    fail "every complete program in $readme needs a readme-test comment with 'run' ($ran of $programs run)"
fi
echo PASS
