"""permessage-deflate interop servers: Python `websockets` echo servers, one
per server-side configuration of its ServerPerMessageDeflateFactory, for
tests/interop/deflate_interop.c (run.sh drives the matrix).

Listens on 127.0.0.1, free ports; prints "NAME PORT" per server, then
"READY", once all accept connections. Runs until killed. Messages of any
size are accepted (max_size=None) and echoed with their type.
"""

import asyncio
import sys

from websockets.asyncio.server import serve
from websockets.extensions.permessage_deflate import (
    ServerPerMessageDeflateFactory,
    enable_server_permessage_deflate,
)

CONFIGS = {
    # no parameters of its own: answers what the client asks
    "plain": [ServerPerMessageDeflateFactory()],
    # what serve() uses by default: windows of 12 bits, memLevel 5
    "default": enable_server_permessage_deflate(None),
    "snct": [ServerPerMessageDeflateFactory(server_no_context_takeover=True)],
    "cnct": [ServerPerMessageDeflateFactory(client_no_context_takeover=True)],
    # the client's window limited to 8 bits (the server decodes with zlib's
    # raw 8-bit window), the server's own to 9
    "smwb9_cmwb8": [ServerPerMessageDeflateFactory(server_max_window_bits=9, client_max_window_bits=8)],
    "all": [
        ServerPerMessageDeflateFactory(
            server_no_context_takeover=True,
            client_no_context_takeover=True,
            server_max_window_bits=10,
            client_max_window_bits=9,
            compress_settings={"memLevel": 4, "level": 9},
        )
    ],
}


async def echo(ws):
    async for message in ws:
        await ws.send(message)


async def main():
    servers = []
    for name, extensions in CONFIGS.items():
        s = await serve(echo, "127.0.0.1", 0, extensions=extensions, compression=None, max_size=None,
                        ping_interval=None)
        servers.append(s)
        port = s.sockets[0].getsockname()[1]
        print(f"{name} {port}", flush=True)
    print("READY", flush=True)
    await asyncio.Future()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
