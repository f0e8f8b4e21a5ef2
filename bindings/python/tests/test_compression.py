"""compression= (permessage-deflate): the offer the keyword produces, the
agreed parameters in info(), messages inflated and deflated both ways, and a
corrupt stream raising ProtocolError (WS_E_COMPRESSION). The server is a
stdlib MiniServer that compresses with Python's zlib."""

from __future__ import annotations

import socket
import zlib
from typing import List

import pytest

import wsclient
from miniserver import MiniServer, frame, read_frame, read_request, send_101

T = 10
TAIL = b"\x00\x00\xff\xff"


def deflate_server(answer: str, offers: List[str], corrupt: bool = False):
    def handler(conn, _req):
        req = read_request(conn)
        offers.append(req.headers.get("sec-websocket-extensions", ""))
        send_101(conn, req, f"Sec-WebSocket-Extensions: {answer}\r\n")
        inflate = zlib.decompressobj(wbits=-15)
        deflate = zlib.compressobj(wbits=-15)
        while True:
            b0, payload = _read(conn)
            op = b0 & 0x0F
            if op == 0x8:
                conn.sendall(frame(0x8, payload[:2]))
                return
            if corrupt:
                conn.sendall(bytes([0xC1, 3, 0x07, 0x00, 0x00]))  # a reserved block type
                read_frame(conn)  # the client's close frame
                return
            data = inflate.decompress(payload + TAIL) if b0 & 0x40 else payload
            out = (deflate.compress(data) + deflate.flush(zlib.Z_SYNC_FLUSH))[:-4]
            f = bytearray(frame(op, out))
            f[0] |= 0x40  # RSV1: compressed
            conn.sendall(bytes(f))

    return MiniServer(handler, upgrade=False)


def _read(conn):
    """(first byte with RSV bits, payload) of the client's next frame."""
    head = conn.recv(1, socket.MSG_PEEK)  # read_frame drops the RSV bits
    if not head:
        raise ConnectionError("closed")
    op, payload = read_frame(conn)
    return head[0], payload


def test_compression_keyword_offers_and_reports_the_agreed_parameters():
    offers: List[str] = []
    answer = "permessage-deflate; server_max_window_bits=15; client_max_window_bits=10"
    with deflate_server(answer, offers) as srv:
        with wsclient.connect(
            srv.url,
            timeout=T,
            compression={"client_max_window_bits": 12, "serverMaxWindowBits": 15, "client_no_context_takeover": True},
        ) as ws:
            c = ws.info().compression
            assert c == wsclient.Compression(10, 15, True, False)
            text = '{"tag":"line1.temp","v":21.5,"q":"good"} ' * 200
            ws.send(text)
            assert ws.recv(timeout=T) == text
            ws.send(bytes(range(256)) * 10)
            assert ws.recv(timeout=T) == bytes(range(256)) * 10
            info = ws.info()
            assert info.bytes_sent == len(text) + 2560
            assert info.wire_bytes_sent < info.bytes_sent / 4
        assert not srv.errors, srv.errors
    assert offers == [
        "permessage-deflate; client_max_window_bits=12; server_max_window_bits=15; client_no_context_takeover"
    ]


def test_compression_true_and_false():
    offers: List[str] = []
    with deflate_server("permessage-deflate", offers) as srv:
        with wsclient.connect(srv.url, timeout=T, compression=True) as ws:
            assert ws.info().compression == wsclient.Compression(15, 15, False, False)
            ws.send("hi")
            assert ws.recv(timeout=T) == "hi"
        assert offers == ["permessage-deflate; client_max_window_bits"]
    with MiniServer(lambda conn, req: read_frame(conn)) as srv:
        with wsclient.connect(srv.url, timeout=T, compression=False) as ws:
            assert ws.info().compression is None


def test_bad_compression_settings_and_data_raise():
    with pytest.raises(wsclient.InvalidArgument, match="compression.level"):
        wsclient.connect("ws://127.0.0.1:9/", compression={"level": 10})
    offers: List[str] = []
    with deflate_server("permessage-deflate", offers, corrupt=True) as srv:
        with wsclient.connect(srv.url, timeout=T, compression=True) as ws:
            ws.send("x")
            with pytest.raises(wsclient.ProtocolError) as e:
                ws.recv(timeout=T)
            assert e.value.name == "WS_E_COMPRESSION"
            assert "corrupt compressed data" in e.value.message
