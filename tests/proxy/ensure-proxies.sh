#!/bin/sh
# Installs the real proxies tests/proxy.rs runs against, from Debian
# packages, when they are missing: squid (built with OpenSSL, for its
# https_port, and basic_ncsa_auth), microsocks (SOCKS5 with and without
# user/password; it logs the host each client asked for), and iptables (the
# blackholed ports of the Happy Eyeballs and async-open tests). The tests
# start their own instances on 127.0.0.1 with configurations of their own;
# no system service is used. Each test that needs a missing one skips with a
# printed reason.
#
# Usage: sh tests/proxy/ensure-proxies.sh    (scripts/test.sh runs it)
set -eu

need=""
[ -x /usr/sbin/squid ] && /usr/sbin/squid -v 2>/dev/null | grep -q -- '--with-openssl' || need="$need squid-openssl"
[ -x /usr/lib/squid/basic_ncsa_auth ] || need="$need squid-openssl"
command -v microsocks >/dev/null 2>&1 || need="$need microsocks"
command -v iptables >/dev/null 2>&1 || need="$need iptables"
if [ -z "$need" ]; then
    echo "ensure-proxies: squid, microsocks and iptables are installed"
    exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-proxies: missing:$need, and cannot install (not root or no apt-get): the proxy tests will skip" >&2
    exit 1
fi
echo "ensure-proxies: installing$need"
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q $need >/dev/null 2>&1 || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q $need >/dev/null; }
# the package's own squid service is not used by the tests
if command -v systemctl >/dev/null 2>&1; then systemctl stop squid >/dev/null 2>&1 || true; fi
echo "ensure-proxies: done"
