"""Refuse request bodies over the size limit before reading them into memory.

The refusal is read by every client: many (Python's requests and urllib among them) send the
whole body before they read an answer, and a server that answers and closes while they are still
sending makes their kernel see a reset instead of the 413. So the rest of the body is read and
thrown away first, as web servers do before closing (nginx's lingering close), up to
``DRAIN_BYTES`` and ``DRAIN_SECONDS``; past those bounds the connection is closed with the
answer. A client that asked ``Expect: 100-continue`` has sent nothing yet: it gets the answer at
once, and sends nothing.
"""

from __future__ import annotations

import asyncio
import json
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

DRAIN_BYTES = 64 * 1024 * 1024
DRAIN_SECONDS = 30.0


class BodySizeLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            waits = headers.get(b"expect", b"").lower() == b"100-continue"
            drained = not waits and int(length) <= DRAIN_BYTES and await _drain(receive, 0)
            await self._refuse(send, keep_alive=drained or waits)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLargeError(message.get("more_body", False))
            return message

        try:
            await self.app(scope, counted, send)
        except _TooLargeError as exc:
            drained = not exc.more or await _drain(receive, seen)
            await self._refuse(send, keep_alive=drained)

    async def _refuse(self, send: Send, *, keep_alive: bool) -> None:
        body = json.dumps({"error": {
            "code": "too_large",
            "message": f"the request is larger than {self.max_bytes} bytes; send a smaller "
                       "document or raise CHACHONG_MAX_BODY_BYTES"}}).encode()
        headers = [(b"content-type", b"application/json"),
                   (b"content-length", str(len(body)).encode())]
        if not keep_alive:  # the rest of the body is still coming: this connection ends here
            headers.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


async def _drain(receive: Receive, seen: int) -> bool:
    """Read and drop the rest of the body; whether it was all read within the bounds."""
    deadline = time.monotonic() + DRAIN_SECONDS
    while seen <= DRAIN_BYTES:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        try:
            message = await asyncio.wait_for(receive(), left)
        except TimeoutError:
            return False
        if message["type"] != "http.request":
            return False  # the client went away
        seen += len(message.get("body", b""))
        if not message.get("more_body", False):
            return True
    return False


class _TooLargeError(Exception):
    def __init__(self, more: bool) -> None:
        super().__init__()
        self.more = more
