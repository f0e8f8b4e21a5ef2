#!/usr/bin/env python3
"""Writes the small seed inputs of the fuzz targets into fuzz/seeds/<target>/
(the fuzzers grow their own corpus from these; tests/fuzz_corpus.rs replays
them). PEM seeds come from fuzz/pem/ (throwaway test keys made with openssl,
not secrets). Run from anywhere: python3 fuzz/make_seeds.py"""
import json, os, struct

HERE = os.path.dirname(os.path.abspath(__file__))
SEEDS = os.path.join(HERE, "seeds")


def put(target, name, data):
    d = os.path.join(SEEDS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def frame(b0, payload, mask=None):
    n = len(payload)
    h = bytes([b0])
    m = 0x80 if mask else 0
    if n < 126:
        h += bytes([m | n])
    elif n <= 0xFFFF:
        h += bytes([m | 126]) + struct.pack(">H", n)
    else:
        h += bytes([m | 127]) + struct.pack(">Q", n)
    if mask:
        h += bytes(mask)
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return h + payload


# frame_reader: [max/take mode, read sizes, leftover length] + server bytes
fr = {
    "text": (0x06, 0x11, 0, frame(0x81, b"hello")),
    "binary16": (0x05, 0x22, 0, frame(0x82, bytes(range(256)) * 2)),
    "binary64": (0x06, 0x33, 3, frame(0x82, b"x" * 70000)),
    "fragments_ping": (0x0E, 0x44, 0, frame(0x01, "h\u00e9".encode()) + frame(0x89, b"p") + frame(0x00, b"ll") + frame(0x80, b"o")),
    "close": (0x06, 0x55, 0, frame(0x88, b"\x03\xe8bye")),
    "close_empty": (0x06, 0x56, 0, frame(0x88, b"")),
    "pong": (0x06, 0x57, 0, frame(0x8A, b"rtt")),
    "utf8_split": (0x06, 0x01, 0, frame(0x81, "\u20ac\u20ac\U0001F600".encode())),
    "bad_utf8": (0x06, 0x66, 0, frame(0x81, b"ab\xff")),
    "too_big": (0x01, 0x77, 0, frame(0x82, b"y" * 200)),
    "masked": (0x06, 0x88, 0, frame(0x82, b"m", mask=[1, 2, 3, 4])),
    "rsv": (0x06, 0x99, 0, frame(0xC1, b"x")),
    "announce_60mib": (0x07, 0xAA, 0, bytes([0x82, 127]) + struct.pack(">Q", 60 << 20) + b"z" * 3000),
    "many_empty_continuations": (0x0E, 0xBB, 0, frame(0x01, b"a") + frame(0x00, b"") * 50 + frame(0x80, b"b")),
    "mixed": (0x16, 0xCC, 7, frame(0x81, b"one") + frame(0x02, b"\x00" * 9000) + frame(0x89, b"") + frame(0x80, b"\x01" * 9000) + frame(0x88, b"\x0f\xa0")),
}
for name, (a, b, c, body) in fr.items():
    put("frame_reader", name, bytes([a, b, c]) + body)

# upgrade_response: [subprotocols offered] + response; {ACCEPT} is replaced
ok = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {ACCEPT}\r\n"
ur = {
    "ok": b"\x00" + (ok + "\r\n").encode(),
    "ok_frames": b"\x00" + (ok + "\r\n").encode() + frame(0x81, b"hi"),
    "keepalive": b"\x00" + (ok.replace("Connection: Upgrade", "Connection: keep-alive, Upgrade") + "\r\n").encode(),
    "subprotocol": b"\x01" + (ok + "Sec-WebSocket-Protocol: chat\r\n\r\n").encode(),
    "subprotocol_unoffered": b"\x00" + (ok + "Sec-WebSocket-Protocol: x\r\n\r\n").encode(),
    "extension": b"\x00" + (ok + "Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n").encode(),
    "bad_accept": b"\x00" + (ok.replace("{ACCEPT}", "AAAA") + "\r\n").encode(),
    "repeated": b"\x00" + (ok + "Set-Cookie: a=1\r\nSet-Cookie: b=2\r\nX: 1\r\nx: 2\r\n\r\n").encode(),
    "bare_lf": b"\x00" + (ok + "\r\n").replace("\r\n", "\n").encode(),
    "http10": b"\x00" + (ok + "\r\n").replace("HTTP/1.1", "HTTP/1.0").encode(),
    "401": b"\x00HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"x\"\r\n\r\n<html><title>401 Authorization Required</title>",
    "nginx_https": b"\x00HTTP/1.1 400 Bad Request\r\n\r\n<html><head><title>400 The plain HTTP request was sent to HTTPS port</title>",
    "tls_alert": b"\x00\x15\x03\x01\x00\x02\x02\x46",
    "partial": b"\x00HTTP/1.1 101 Switch",
    "garbage": b"\x00SSH-2.0-OpenSSH_9.2\r\n",
}
for name, data in ur.items():
    put("upgrade_response", name, data)

pem = os.path.join(HERE, "pem")
def read(n):
    with open(os.path.join(pem, n)) as f:
        return f.read()

ec_crt, ec_key, rsa_crt = read("ec.crt"), read("ec.key"), read("rsa.crt")
opts = {
    "empty": {},
    "all_plain": {"headers": {"Authorization": "Bearer t", "Cookie": ["a=1", "b=2"]}, "timeout": 5000,
                   "subprotocols": ["chat", "v2"], "maxMessageSize": 1048576, "sendTimeout": 100,
                   "closeTimeout": 200, "sendBufferLimit": 65536, "tcpNoDelay": False, "pingInterval": 0,
                   "pongTimeout": 1000, "autoReconnect": {"initialDelay": 10, "maxDelay": 100, "maxAttempts": 3},
                   "busyPoll": 50},
    "tls": {"ignoreSslErrors": ["HostNameMismatch", "CertificateExpired"], "caCertificates": [ec_crt],
            "caCertificatesOnly": True, "tlsMinVersion": "1.3"},
    "pins": {"pinnedSha256": ["AB:CD:" + "00" * 30, "11" * 32]},
    "ssl_config": {"sslConfig": {"localCertificate": ec_crt, "privateKey": {"key": ec_key, "algorithm": "EC"}}},
    "ssl_config_wrong_key": {"sslConfig": {"localCertificate": rsa_crt, "privateKey": ec_key}},
    "reconnect_true": {"autoReconnect": True, "ignoreSslErrors": True},
}
for name, v in opts.items():
    put("options", name, json.dumps(v))
put("options", "duplicate_nested", '{"headers": {"A": "1", "A": "2"}, "timeout": 1}')
put("options", "duplicate_top", '{"timeout": 1, "\\u0074imeout": 2}')
put("options", "deep", "[" * 200 + "]" * 200)

urls = ["ws://example.com/chat?x=1", "wss://[::1]:8443", "WSS://127.0.0.1/", "ws://us%40r:p%3Ass@h/",
        "ws://h:65535/a/../b/%2e%2e/c?q=%0d%0a", "ws://xn--nxasmq6b.example/", "ws://h/#frag", "http://h/",
        "ws://h\t/\r\nX: y", "ws://[fe80::1%25eth0]/", "ws://0x7f.1/", "ws://h:0/", "ws:///x"]
for i, u in enumerate(urls):
    put("url", "url%02d" % i, u)

put("pem", "ec", ec_crt + "\0" + ec_key)
put("pem", "ec_p8", ec_crt + "\0" + read("ec-p8.key"))
put("pem", "ec_encrypted", ec_crt + "\0" + read("ec-enc.key") + "\0pw")
put("pem", "rsa_legacy_encrypted", rsa_crt + "\0" + read("rsa-legacy.key") + "\0pw")
put("pem", "rsa_wrong_password", rsa_crt + "\0" + read("rsa-legacy.key") + "\0nope")
put("pem", "mismatch", rsa_crt + "\0" + ec_key)
put("pem", "chain", ec_crt + rsa_crt + "\0" + ec_key)
