"""The server's HTTP protocol turns Nagle's algorithm off on every connection, also where the
listening socket was bound without IPPROTO_TCP, as uvicorn binds it for several workers."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import httpx
import uvicorn

from app.api.protocol import NoDelayProtocol


async def hello(scope: dict, receive: object, send: object) -> None:
    await send({"type": "http.response.start", "status": 200,  # type: ignore[operator]
                "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"ok"})  # type: ignore[operator]


def test_keep_alive_connections_have_tcp_nodelay() -> None:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)  # protocol number left at 0
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    config = uvicorn.Config(hello, http=NoDelayProtocol, lifespan="off", log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=asyncio.run, args=(server.serve(sockets=[listener]),))
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.01)
        with httpx.Client() as client:
            for _ in range(2):  # the second request reuses the connection
                assert client.get(f"http://127.0.0.1:{port}/").text == "ok"
            flags = [conn.transport.get_extra_info("socket").getsockopt(
                socket.IPPROTO_TCP, socket.TCP_NODELAY) for conn in server.server_state.connections]
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        listener.close()
    assert flags and all(flags)
