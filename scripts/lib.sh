# Shared helpers for scripts/*.sh (sourced, not run).

# ensure_packages PKG...: installs the Debian packages that are missing
# (as root, or through sudo), once; quiet when everything is there.
ensure_packages() {
  local missing=() p
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  ((${#missing[@]})) || return 0
  local sudo=""
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "need root (or sudo) to install: ${missing[*]}" >&2; return 1; }
    sudo=sudo
  fi
  echo "== installing ${missing[*]}" >&2
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

ensure_rust() {
  command -v cargo >/dev/null 2>&1 && return 0
  [ -x "$HOME/.cargo/bin/cargo" ] && { export PATH="$HOME/.cargo/bin:$PATH"; return 0; }
  echo "cargo not found: install Rust >= 1.85 (https://rustup.rs)" >&2
  return 1
}

# start_echo_server BIN: starts the project's echo server on a free loopback
# port; sets ECHO_PID and ECHO_PORT.
start_echo_server() {
  local bin=$1 fifo
  fifo=$(mktemp -u)
  mkfifo "$fifo"
  "$bin" --port 0 >"$fifo" &
  ECHO_PID=$!
  read -r _ ECHO_PORT <"$fifo"
  rm -f "$fifo"
  [ -n "${ECHO_PORT:-}" ] || { echo "echo server did not start" >&2; return 1; }
}

# build_if_stale BIN INPUT... -- CMD...: runs CMD (which builds BIN) unless
# BIN exists and is newer than every input (the benchmarks' client builds).
build_if_stale() {
  local bin=$1 stale=0
  shift
  [ -x "$bin" ] || stale=1
  while [ "$1" != -- ]; do
    [ "$1" -nt "$bin" ] && stale=1
    shift
  done
  shift
  ((stale)) || return 0
  echo "== building $(basename "$bin")" >&2
  "$@"
}
