"""The HTTP protocol the server runs: uvicorn's h11 protocol with Nagle's algorithm off.

With ``--workers N`` uvicorn binds the listening socket itself and leaves its protocol number at
0; asyncio sets TCP_NODELAY only on connections whose socket says IPPROTO_TCP, so every
keep-alive response after the first waited about 40 ms for the client's delayed ACK (uvicorn
issue 3149). That was most of a two-worker server's latency and halved its throughput.
"""

from __future__ import annotations

import asyncio
import socket

from uvicorn.protocols.http.h11_impl import H11Protocol


class NoDelayProtocol(H11Protocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)
