#!/bin/sh
# Runs a command with its stdout and stderr on a pseudo-terminal, as a user
# at a terminal would (script(1), util-linux), and prints what the terminal
# showed: ANSI escape sequences removed, and of a line that a carriage
# return went back over only what was written last (what a terminal shows
# after "\r" + erase-line).
#
#   in_pty.sh [--stdin-tty] -- COMMAND [ARGS...]
#
# stdin of COMMAND: this script's stdin (a file or pipe, not a terminal), or
# with --stdin-tty the terminal too, with this script's stdin typed into it
# (then the terminal echoes it). Exit status: COMMAND's.
set -u
stdin_tty=0
while [ $# -gt 0 ]; do
    case $1 in
    --stdin-tty) stdin_tty=1; shift ;;
    --) shift; break ;;
    *) echo "in_pty.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
command -v script >/dev/null 2>&1 || { echo "in_pty.sh: script(1) not found (apt-get install bsdutils)" >&2; exit 2; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/wsclient-pty.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT

# The command line for script -c, every argument single-quoted.
cmd=exec
for a do
    q=$(printf '%s' "$a" | sed "s/'/'\\\\''/g")
    cmd="$cmd '$q'"
done
cat >"$tmp/in"
if [ $stdin_tty -eq 1 ]; then
    script -qec "$cmd" /dev/null <"$tmp/in" >"$tmp/out"
else
    script -qec "$cmd <'$tmp/in'" /dev/null </dev/null >"$tmp/out"
fi
status=$?
sed 's/\x1b\[[0-9;?]*[A-Za-z]//g; s/\r$//; s/.*\r//' <"$tmp/out"
exit $status
