#!/usr/bin/env python3
"""Misbehaving WebSocket servers for the Lua tests (stdlib only).

usage: mock_server.py MODE [ARGS...]

Listens on 127.0.0.1, a free port, prints "LISTENING <port>" (flushed) once
it accepts connections, and serves every connection in MODE until killed:

  silent            accept TCP, never answer (connect timeout)
  reject STATUS     answer the upgrade with HTTP STATUS (e.g. 403)
  badaccept         answer 101 with a wrong Sec-WebSocket-Accept
  stall             complete the upgrade, then read nothing and answer no
                    ping (keepalive health check)
  close CODE REASON complete the upgrade, wait for the client's first
                    message, then close with CODE and REASON
  drop              complete the upgrade, wait for the client's first
                    message, then drop TCP without a close frame
  record            complete the upgrade, echo messages, and print
                    "CLIENT-CLOSE <code> <reason>" when the client's close
                    frame arrives (then answer it)
  headers           as record, and first print "HEADER <name> <value>" for
                    every request header (name lowercased, value in hex:
                    byte-exact)
  deflate           print "OFFER <Sec-WebSocket-Extensions>", accept
                    permessage-deflate (client_max_window_bits=10 when the
                    client offered that parameter), echo every message
                    compressed (Python's zlib), answer the close

Every socket operation has a timeout; the process is killed by the driver.
"""

import base64
import hashlib
import socket
import struct
import sys
import threading
import time

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
IO_TIMEOUT = 30


def read_request(conn, show=False, headers=None):
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = conn.recv(4096)
        if not chunk:
            raise ConnectionError("closed during the request")
        buf += chunk
    key = ""
    lines = []
    for line in buf.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower().decode("latin-1")
        value = value.strip(b" \t")
        lines.append(f"HEADER {name} {value.hex()}")
        if name == "sec-websocket-key":
            key = value.decode("latin-1")
        if headers is not None:
            headers[name] = value.decode("latin-1")
    if show:
        out("\n".join(lines))
    return key


def accept(conn, key, good=True, extra=""):
    acc = base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()
    if not good:
        acc = "AAAAAAAAAAAAAAAAAAAAAAAAAAA="
    conn.sendall(
        (
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Accept: {acc}\r\n{extra}\r\n"
        ).encode()
    )


def recv_exact(conn, n):
    out = b""
    while len(out) < n:
        chunk = conn.recv(n - len(out))
        if not chunk:
            raise ConnectionError("closed")
        out += chunk
    return out


def read_frame(conn):
    b0, b1 = recv_exact(conn, 2)
    n = b1 & 0x7F
    if n == 126:
        (n,) = struct.unpack("!H", recv_exact(conn, 2))
    elif n == 127:
        (n,) = struct.unpack("!Q", recv_exact(conn, 8))
    mask = recv_exact(conn, 4) if b1 & 0x80 else b"\0\0\0\0"
    data = bytes(b ^ mask[i % 4] for i, b in enumerate(recv_exact(conn, n)))
    return b0 & 0x0F, data


def frame(opcode, payload=b""):
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, n)
    elif n < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 127, n)
    return head + payload


def out(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def serve(conn, mode, args):
    if mode == "silent":
        time.sleep(IO_TIMEOUT)
        return
    headers = {}
    key = read_request(conn, show=mode == "headers", headers=headers)
    if mode == "deflate":
        serve_deflate(conn, key, headers.get("sec-websocket-extensions", ""))
        return
    if mode == "reject":
        status = args[0] if args else "403"
        conn.sendall(f"HTTP/1.1 {status} Rejected\r\nContent-Length: 0\r\n\r\n".encode())
        return
    if mode == "badaccept":
        accept(conn, key, good=False)
        time.sleep(1)
        return
    accept(conn, key)
    if mode == "stall":
        time.sleep(IO_TIMEOUT)
        return
    if mode in ("close", "drop"):
        read_frame(conn)  # the client's first message
        if mode == "drop":
            conn.close()
            return
        code = int(args[0]) if args else 1000
        reason = args[1] if len(args) > 1 else ""
        conn.sendall(frame(0x8, struct.pack("!H", code) + reason.encode()))
        read_frame(conn)  # the client's reply
        return
    if mode in ("record", "headers"):
        while True:
            op, data = read_frame(conn)
            if op in (0x1, 0x2):
                conn.sendall(frame(op, data))
            elif op == 0x9:
                conn.sendall(frame(0xA, data))
            elif op == 0x8:
                code = struct.unpack("!H", data[:2])[0] if len(data) >= 2 else 1005
                out(f"CLIENT-CLOSE {code} {data[2:].decode('utf-8', 'replace')}".rstrip())
                conn.sendall(frame(0x8, data[:2]))
                return
        return
    raise SystemExit(f"mock_server.py: unknown mode {mode}")


def serve_deflate(conn, key, offer):
    import zlib

    out(f"OFFER {offer}")
    answer = "permessage-deflate"
    if "client_max_window_bits" in offer:
        answer += "; client_max_window_bits=10"
    accept(conn, key, extra=f"Sec-WebSocket-Extensions: {answer}\r\n")
    inflate, deflate = zlib.decompressobj(wbits=-10), zlib.compressobj(wbits=-15)
    while True:
        b0 = conn.recv(1, socket.MSG_PEEK)[0]  # read_frame drops the RSV bits
        op, data = read_frame(conn)
        if op == 0x8:
            conn.sendall(frame(0x8, data[:2]))
            return
        if b0 & 0x40:
            data = inflate.decompress(data + b"\x00\x00\xff\xff")
        z = (deflate.compress(data) + deflate.flush(zlib.Z_SYNC_FLUSH))[:-4]
        f = bytearray(frame(op, z))
        f[0] |= 0x40
        conn.sendall(bytes(f))


def handle(conn, mode, args):
    try:
        conn.settimeout(IO_TIMEOUT)
        serve(conn, mode, args)
    except (OSError, ConnectionError):
        pass
    finally:
        try:
            conn.close()
        except OSError:
            pass


def main():
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    mode, args = sys.argv[1], sys.argv[2:]
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    out(f"LISTENING {srv.getsockname()[1]}")
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=handle, args=(conn, mode, args), daemon=True).start()


if __name__ == "__main__":
    main()
