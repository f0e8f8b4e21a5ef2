"""The ``proxy=`` keyword against a real SOCKS5 proxy (microsocks, from
tests/proxy/ensure-proxies.sh); skipped, saying why, without it."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time

import pytest

import wsclient


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def socks_proxy(tmp_path):
    exe = shutil.which("microsocks")
    if exe is None:
        pytest.skip("microsocks not installed (sh tests/proxy/ensure-proxies.sh)")
    port = _free_port()
    log = open(tmp_path / "ms.log", "w")
    proc = subprocess.Popen([exe, "-i", "127.0.0.1", "-p", str(port), "-u", "plant", "-P", "pw"],
                            stdout=log, stderr=log)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # bounded: waiting for a child process to listen
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    try:
        yield port, tmp_path / "ms.log"
    finally:
        proc.kill()
        proc.wait(5)
        log.close()


def test_proxy_keyword(echo_url, socks_proxy):
    port, log = socks_proxy
    with wsclient.WebSocket(echo_url, timeout=10, proxy=f"socks5h://plant:pw@127.0.0.1:{port}") as ws:
        ws.send("via socks")
        assert ws.recv(timeout=10) == "via socks"
    assert "connected to 127.0.0.1:" in log.read_text()
    with pytest.raises(wsclient.WebSocketError) as e:
        wsclient.WebSocket(echo_url, timeout=10, proxy=f"socks5://plant:nope@127.0.0.1:{port}")
    assert e.value.code == 28 and "proxy authentication failed" in str(e.value) and "nope" not in str(e.value)
    # "" and False: direct, whatever the environment says
    for direct in ("", False):
        with wsclient.WebSocket(echo_url, timeout=10, proxy=direct) as ws:
            ws.send("direct")
            assert ws.recv(timeout=10) == "direct"
