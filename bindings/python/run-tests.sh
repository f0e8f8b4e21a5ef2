#!/usr/bin/env bash
# Runs the Python binding's tests from a fresh clone:
#
#   bindings/python/run-tests.sh [VENV] [-- PYTEST-ARGS...]
#
# 1. Creates (or reuses) a venv, by default ${TMPDIR:-/tmp}/wsclient-py-venv.
# 2. Builds the library and the echo server with cargo (release profile,
#    target dir $CARGO_TARGET_DIR, default <repo>/target), unless
#    WSCLIENT_LIBRARY and WSCLIENT_ECHO_SERVER name prebuilt ones.
# 3. pip-installs the package from a staged copy of bindings/python with the
#    library bundled in it (what a binary wheel ships), plus pytest.
# 4. Runs pytest against the *installed* package, from outside the source
#    tree, with WSCLIENT_LIBRARY unset (so the bundled copy is what loads).
#    tests/test_install.py also does what a user does, in fresh venvs:
#    `pip install <repo>/bindings/python` (setup.py runs cargo in the
#    repository, default target dir <repo>/target, and bundles the library).
#
# Environment: PYTHON (interpreter for the venv, default python3),
# CARGO_TARGET_DIR, WSCLIENT_LIBRARY, WSCLIENT_ECHO_SERVER,
# WSCLIENT_PY_BUNDLE=0 (install without bundling and load the library
# through WSCLIENT_LIBRARY instead).
#
# Exit status: pytest's (0: every test passed). The library build is limited
# to 15 minutes, pytest to 15 (the fresh-venv install test may build the
# library's release profile from scratch).

set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
# the header the binding's constants are checked against (test_errors.py)
export WSCLIENT_HEADER="${WSCLIENT_HEADER:-$REPO/include/wsclient.h}"
VENV="${WSCLIENT_PY_VENV:-${TMPDIR:-/tmp}/wsclient-py-venv}"
if [ $# -gt 0 ] && [ "$1" != "--" ]; then
    VENV="$1"
    shift
fi
[ "${1:-}" = "--" ] && shift
BUNDLE="${WSCLIENT_PY_BUNDLE:-1}"

say() { echo "run-tests.sh: $*" >&2; }

# --- 1. the library and the echo server -----------------------------------------
LIB="${WSCLIENT_LIBRARY:-}"
ECHO="${WSCLIENT_ECHO_SERVER:-}"
if [ -z "$LIB" ] || [ -z "$ECHO" ]; then
    TARGET="${CARGO_TARGET_DIR:-$REPO/target}"
    say "building libwsclient.so and wsclient-echo-server (cargo, $TARGET)"
    (cd "$REPO" && CARGO_TARGET_DIR="$TARGET" timeout 900 cargo build --release --quiet \
        --lib --bin wsclient-echo-server) >&2
    LIB="${LIB:-$TARGET/release/libwsclient.so}"
    ECHO="${ECHO:-$TARGET/release/wsclient-echo-server}"
fi
for f in "$LIB" "$ECHO"; do
    if [ ! -f "$f" ]; then
        say "not found: $f"
        exit 2
    fi
done
LIB="$(cd "$(dirname "$LIB")" && pwd)/$(basename "$LIB")"
ECHO="$(cd "$(dirname "$ECHO")" && pwd)/$(basename "$ECHO")"

# --- 2. the venv ----------------------------------------------------------------------
if [ ! -x "$VENV/bin/python" ]; then
    say "creating venv $VENV"
    "${PYTHON:-python3}" -m venv "$VENV"
fi
PY="$VENV/bin/python"
"$PY" -m pip install --quiet --disable-pip-version-check "pytest>=7" >&2

# --- 3. install the package from a staged copy ---------------------------------------
STAGE="$(mktemp -d "${TMPDIR:-/tmp}/wsclient-py-stage.XXXXXX")"
RUNDIR="$(mktemp -d "${TMPDIR:-/tmp}/wsclient-py-run.XXXXXX")"
cleanup() { rm -rf "$STAGE" "$RUNDIR"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# Copy only what a source distribution contains (no build/, venvs or caches).
mkdir -p "$STAGE/pkg"
cp -R "$HERE/pyproject.toml" "$HERE/setup.py" "$HERE/README.md" "$HERE/src" "$STAGE/pkg/"
find "$STAGE/pkg" -name __pycache__ -prune -exec rm -rf {} +
rm -f "$STAGE/pkg/src/wsclient/libwsclient.so"
if [ "$BUNDLE" = 1 ]; then
    cp "$LIB" "$STAGE/pkg/src/wsclient/libwsclient.so"
    say "installing wsclient into $VENV with the library bundled ($LIB)"
else
    say "installing wsclient into $VENV (library through WSCLIENT_LIBRARY=$LIB)"
fi
# The staged copy has the library in src/wsclient/ (bundled as it is) or,
# with WSCLIENT_PY_BUNDLE=0, is installed without one.
if [ "$BUNDLE" = 1 ]; then
    "$PY" -m pip install --quiet --disable-pip-version-check --force-reinstall --no-deps "$STAGE/pkg" >&2
else
    WSCLIENT_PY_NO_BUNDLE=1 "$PY" -m pip install --quiet --disable-pip-version-check --force-reinstall \
        --no-deps "$STAGE/pkg" >&2
fi

# --- 4. run the tests against the installed package -------------------------------------
cp -R "$HERE/tests" "$RUNDIR/tests"
cd "$RUNDIR"
if [ "$BUNDLE" = 1 ]; then
    unset WSCLIENT_LIBRARY
    "$PY" -c 'import wsclient, sys; p = wsclient.library_path; print("run-tests.sh: loaded", p, file=sys.stderr); sys.exit(0 if "site-packages" in p else "the bundled library was not the one loaded")'
else
    export WSCLIENT_LIBRARY="$LIB"
fi
export WSCLIENT_ECHO_SERVER="$ECHO"
export WSCLIENT_SOURCE_DIR="$REPO"  # for tests/test_install.py
set +e
timeout --kill-after=10 900 "$PY" -m pytest -p no:cacheprovider -q -rs \
    -o faulthandler_timeout=120 tests "$@"
rc=$?
set -e
[ $rc -eq 124 ] && say "pytest timed out"
exit $rc
