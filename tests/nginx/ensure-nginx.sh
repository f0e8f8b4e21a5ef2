#!/bin/sh
# Makes sure an nginx binary with the SSL module is installed, for the nginx
# tests in tests/tls.rs (they start their own nginx on loopback with a
# config of their own; the system service is never used).
#
# Usage: sh tests/nginx/ensure-nginx.sh    (CI calls it before cargo test)
# Exit 0 when nginx is there afterwards; non-zero (with a message) when it
# cannot be installed: not root, no apt-get, or the install failed. The
# tests themselves skip loudly when nginx is missing, so CI should run this
# first and fail if it fails.
set -eu

have_nginx() {
    for n in "${WSCLIENT_NGINX:-}" /usr/sbin/nginx "$(command -v nginx 2>/dev/null || true)"; do
        if [ -n "$n" ] && [ -x "$n" ] && "$n" -V 2>&1 | grep -q -- '--with-http_ssl_module'; then
            echo "ensure-nginx: using $n ($("$n" -v 2>&1))"
            return 0
        fi
    done
    return 1
}

have_nginx && exit 0

if [ "$(id -u)" != 0 ]; then
    echo "ensure-nginx: nginx is not installed and this is not root: install nginx-light (Debian) by hand" >&2
    exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-nginx: nginx is not installed and there is no apt-get" >&2
    exit 1
fi

# Debian starts the nginx service on port 80 after installing it unless
# policy-rc.d says no: the tests do not want it, so forbid it for the install.
created_policy=
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    created_policy=1
fi
cleanup() { [ -n "$created_policy" ] && rm -f /usr/sbin/policy-rc.d; return 0; }
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
apt_install() {
    apt-get install -y -q --no-install-recommends "$@"
}
if ! apt_install nginx-light >/dev/null 2>&1 && ! apt_install nginx >/dev/null 2>&1; then
    apt-get update -q >/dev/null 2>&1 || true
    apt_install nginx-light || apt_install nginx
fi

have_nginx || { echo "ensure-nginx: nginx installed but not usable (no SSL module?)" >&2; exit 1; }
