"""Interop test server: a third-party WebSocket server (the Python
`websockets` package, asyncio API, version 13 or later) for wsclient's C
client in interop_client.c.

Listens on 127.0.0.1, port 0 (or the port given as the only argument), and
prints the port on stdout, alone on a line, once it accepts connections.
Runs until killed (run.sh does that).

Endpoints (the path selects the behaviour; the query is ignored elsewhere):
  /echo            echoes every message with its type (text stays text,
                   binary stays binary)
  /lastclose       sends one text message "CODE REASON": the close frame the
                   client sent on the previous connection (any other path),
                   then closes with 1000
  /subprotocol     requires a subprotocol: picks the first of SUBPROTOCOLS
                   (in the server's order of preference) that the client
                   offered, answers HTTP 400 if none; then echoes
  /close?code=C&reason=R
                   sends the text message "closing", then closes with code C
                   (default 4001) and reason R (default CLOSE_REASON);
                   code=none sends a close frame without a status code
  /drop            sends the text message "dropping", then aborts the TCP
                   connection without a close frame
  /badutf8         sends a text frame holding invalid UTF-8 (the client must
                   fail the connection with 1007), then echoes
  /fragments       sends one text message in several frames, then echoes
  /ping            sends a ping and waits (up to 5 s) for the pong, then
                   sends the text message "pong received" and echoes
"""

import asyncio
import sys
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed, NegotiationError

# Server preference order; the client offers them in the opposite order, so
# the answer shows the server chose (RFC 6455 section 4.2.2, step 5.4).
SUBPROTOCOLS = ["v2.interop.wsclient", "v1.interop.wsclient"]
CLOSE_REASON = "going away \u2713"  # a non-ASCII reason: UTF-8 on the wire
FRAGMENTS = ["frag", "mented \u00e9", " message"]

# How the client closed the last connection (code, reason, as this server
# received them; 1006 if TCP ended without a close frame), and an event set
# once it is known: the client may ask before this server has seen the TCP
# connection end.
last_close = (None, None)
last_close_known = asyncio.Event()


def path_of(connection):
    return urlsplit(connection.request.path).path


def select_subprotocol(connection, offered):
    if path_of(connection) != "/subprotocol":
        return None  # no subprotocol elsewhere, whatever the client offers
    for p in SUBPROTOCOLS:
        if p in offered:
            return p
    raise NegotiationError("this endpoint requires one of " + ", ".join(SUBPROTOCOLS))


async def echo(ws):
    async for message in ws:  # ends when the client closes
        await ws.send(message)  # str -> text frame, bytes -> binary frame


async def endpoint(ws, path, query):
    if path in ("/echo", "/subprotocol"):
        await echo(ws)
    elif path == "/close":
        code = query.get("code", ["4001"])[0]
        await ws.send("closing")
        if code == "none":
            await ws.close(None)  # empty close frame: the client sees 1005
        else:
            await ws.close(int(code), query.get("reason", [CLOSE_REASON])[0])
    elif path == "/drop":
        await ws.send("dropping")
        await asyncio.sleep(0.1)  # let the message leave first
        ws.transport.abort()  # no close frame: the client sees 1006
    elif path == "/badutf8":
        await ws.send(b"valid, then \xff", text=True)  # bytes sent as text, unchecked
        await echo(ws)
    elif path == "/fragments":
        await ws.send(FRAGMENTS)  # an iterable is sent as fragments
        await echo(ws)
    elif path == "/ping":
        pong = await ws.ping(b"interop-ping")
        await asyncio.wait_for(pong, timeout=5)
        await ws.send("pong received")
        await echo(ws)
    else:
        await ws.close(1008, "unknown path " + path)


async def handler(ws):
    global last_close
    url = urlsplit(ws.request.path)
    if url.path == "/lastclose":
        await asyncio.wait_for(last_close_known.wait(), timeout=5)
        code, reason = last_close
        await ws.send(f"{code} {reason}")
        await ws.close(1000)
        return
    last_close_known.clear()
    try:
        await endpoint(ws, url.path, parse_qs(url.query))
    except ConnectionClosed:
        pass
    finally:
        await ws.wait_closed()
        last_close = (ws.close_code, ws.close_reason)
        last_close_known.set()


async def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    async with serve(
        handler,
        "127.0.0.1",
        port,
        select_subprotocol=select_subprotocol,
        max_size=16 * 1024 * 1024,  # the client sends 1 MiB messages
        ping_interval=None,  # only the /ping endpoint pings
    ) as server:
        print(server.sockets[0].getsockname()[1], flush=True)
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
