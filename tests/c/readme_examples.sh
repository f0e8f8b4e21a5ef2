#!/bin/sh
# Compiles (and, where a server is given, runs) the complete C programs in
# README.md, so that the documentation keeps matching the API.
#   readme_examples.sh README.md INCLUDE_DIR LIBRARY_DIR [ECHO_SERVER]
set -eu
readme=$1 inc=$2 libdir=$3 echo_server=${4:-}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/wsclient-readme.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
# every ```c block that defines main() is one program
awk -v dir="$tmp" '
  /^```c$/ { inblock = 1; n++; file = dir "/ex" n ".c"; next }
  /^```$/ && inblock { inblock = 0; close(file); next }
  inblock { print > file }' "$readme"
count=0
for f in "$tmp"/ex*.c; do
  grep -q 'int main' "$f" || continue
  count=$((count + 1))
  cc -std=c11 -Wall -Wextra -Werror -I"$inc" -o "${f%.c}" "$f" -L"$libdir" -lwsclient -Wl,-rpath,"$libdir"
  echo "compiled README example $(basename "$f")"
done
[ "$count" -ge 2 ] || { echo "expected at least 2 complete C programs in $readme, found $count" >&2; exit 1; }
