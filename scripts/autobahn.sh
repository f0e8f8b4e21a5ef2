#!/usr/bin/env bash
# Score wsclient against the Autobahn|Testsuite fuzzingserver (RFC 6455
# conformance of a WebSocket client), using the shared Python 3 port of the
# suite (../shared/tools/autobahn, see its README.md).
#
# usage: scripts/autobahn.sh [TESTEE] [-- RUN_SH_OPTIONS...]
#
#   TESTEE  the testee program built from examples-c/autobahn_testee.c
#           (also: env WSCLIENT_AUTOBAHN_TESTEE). When not given, the library
#           is built with cargo and the testee with cc into $WSCLIENT_AB_BUILD.
#   RUN_SH_OPTIONS  passed on to run.sh, e.g. -- --cases '1.*,2.*'
#           (default: all 517 cases with AUTOBAHN_COMPRESSION; without it
#           --exclude '12.*,13.*': the permessage-deflate cases would only
#           count as UNIMPLEMENTED when compression is not offered).
#
# Environment
#   WSCLIENT_SHARED_DIR  the shared dir (default: ../shared beside the repo)
#   WSCLIENT_AB_BUILD    build dir for the testee
#                        (default: ${TMPDIR:-/tmp}/wsclient-autobahn-build)
#   CARGO_TARGET_DIR     cargo's target dir (default: $WSCLIENT_AB_BUILD/target)
#   AUTOBAHN_AGENT       agent name in the report (default: wsclient)
#   AUTOBAHN_COMPRESSION offer permessage-deflate ("1", or a "compression"
#                        option value, see examples-c/autobahn_testee.c);
#                        then NON-STRICT and UNIMPLEMENTED must be 0 too
#   CC                   C compiler (default: cc)
#
# Prints run.sh's summary (failing cases, NON-STRICT / INFORMATIONAL ids, the
# report path) ending with the line
#   autobahn: N cases, OK=a NON-STRICT=b INFORMATIONAL=c UNIMPLEMENTED=d FAILED=e
# Exit status: 0 only when the run completed and FAILED=0. NON-STRICT and
# INFORMATIONAL cases are reported but do not fail the run.

set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SHARED="${WSCLIENT_SHARED_DIR:-$REPO/../shared}"
AB="$SHARED/tools/autobahn"
BUILD="${WSCLIENT_AB_BUILD:-${TMPDIR:-/tmp}/wsclient-autobahn-build}"

TESTEE="${WSCLIENT_AUTOBAHN_TESTEE:-}"
if [ $# -gt 0 ] && [ "$1" != "--" ]; then
  TESTEE="$1"; shift
fi
[ "${1:-}" = "--" ] && shift
if [ $# -gt 0 ]; then
  RUN_ARGS=("$@")
elif [ -n "${AUTOBAHN_COMPRESSION:-}" ]; then
  # 432 compression cases of 1000 messages each: give them time
  RUN_ARGS=(--timeout 2400)
else
  RUN_ARGS=(--exclude '12.*,13.*')
fi

if [ ! -x "$AB/run.sh" ]; then
  echo "autobahn.sh: no Autobahn tool at $AB (set WSCLIENT_SHARED_DIR)" >&2
  exit 2
fi

# 1. The fuzzingserver (idempotent: ~1 s when already installed).
"$AB/setup.sh" >&2

# 2. The testee, unless one was given.
if [ -z "$TESTEE" ]; then
  echo "autobahn.sh: building the library and the testee in $BUILD" >&2
  mkdir -p "$BUILD"
  TARGET="${CARGO_TARGET_DIR:-$BUILD/target}"
  (cd "$REPO" && CARGO_TARGET_DIR="$TARGET" cargo build --release --quiet) >&2
  LIBDIR="$(cd "$TARGET/release" && pwd)"
  TESTEE="$BUILD/autobahn_testee"
  "${CC:-cc}" -std=c99 -O2 -Wall -Wextra -Werror -I "$REPO/include" \
      -o "$TESTEE" "$REPO/examples-c/autobahn_testee.c" \
      -L "$LIBDIR" -lwsclient -Wl,-rpath,"$LIBDIR" >&2
fi
case "$TESTEE" in
  /*) ;;
  *) TESTEE="$PWD/$TESTEE" ;;
esac
if [ ! -x "$TESTEE" ]; then
  echo "autobahn.sh: testee $TESTEE is not an executable" >&2
  exit 2
fi

# 3. Run the suite. run.sh prints the summary on stdout (summary line last);
# keep a copy to read the counts from.
OUT="$(mktemp "${TMPDIR:-/tmp}/wsclient-autobahn.XXXXXX")"
trap 'rm -f "$OUT"' EXIT
set +e
"$AB/run.sh" "${RUN_ARGS[@]}" -- "$TESTEE" | tee "$OUT"
RC=${PIPESTATUS[0]}
set -e

SUMMARY="$(grep '^autobahn: ' "$OUT" | tail -n 1 || true)"
if [ -z "$SUMMARY" ]; then
  echo "autobahn.sh: no summary line (run.sh exit status $RC)" >&2
  exit 1
fi
count() { sed -n "s/.* $1=\([0-9]*\).*/\1/p" <<<"$SUMMARY"; }
FAILED="$(count FAILED)"
NONSTRICT="$(count NON-STRICT)"
INFO="$(count INFORMATIONAL)"
UNIMPL="$(count UNIMPLEMENTED)"

echo "autobahn.sh: $SUMMARY" >&2
if [ "$FAILED" != "0" ]; then
  echo "autobahn.sh: FAIL: $FAILED case(s) failed (see the list above)" >&2
  exit 1
fi
if [ -n "${AUTOBAHN_COMPRESSION:-}" ] && { [ "${NONSTRICT:-0}" != "0" ] || [ "${UNIMPL:-0}" != "0" ]; }; then
  echo "autobahn.sh: FAIL: with compression offered NON-STRICT=$NONSTRICT UNIMPLEMENTED=$UNIMPL must be 0" >&2
  exit 1
fi
if [ "$RC" -ne 0 ]; then
  # the testee failed (124: timed out) or no report was written
  echo "autobahn.sh: FAIL: run.sh exited with status $RC" >&2
  exit 1
fi
if [ "${NONSTRICT:-0}" != "0" ] || [ "${INFO:-0}" != "0" ]; then
  echo "autobahn.sh: note: NON-STRICT=$NONSTRICT INFORMATIONAL=$INFO (reported, not failed)" >&2
fi
echo "autobahn.sh: PASS" >&2
