"""The few ASGI types and helpers the local gateways share (reading a bounded body, sending a response)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from local.http_events import HttpResponse

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


class ClientGone(Exception):
    """The client disconnected before its request body arrived: nothing is left to answer."""


async def read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole request body, or None as soon as it exceeds `limit` bytes (the rest is not read).

    Raises ClientGone.
    """
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def discard_body(receive: Receive, limit: int) -> bool:
    """Read and drop the rest of a refused body; False when it goes past `limit` (then close the
    connection). Reading it lets the client see the error instead of a reset connection."""
    size = 0
    while size <= limit:
        message = await receive()
        if message["type"] == "http.disconnect" or not message.get("more_body", False):
            return True
        size += len(message.get("body", b""))
    return False


async def send_response(
    send: Send, response: HttpResponse, *, close: bool = False, head: bool = False
) -> None:
    """Sends `response`; `head` sends its headers only (the Content-Length still counts the body)."""
    # Names are ASCII by contract; values may carry UTF-8, which API Gateway passes through as bytes.
    headers = [(k.encode("latin-1"), v.encode("utf-8")) for k, v in response.headers]
    body = response.body
    if response.status in (204, 304) or response.status < 200:
        # No body and no Content-Length (RFC 9110 §6.4.1, §8.6): one would make the server drop the
        # keep-alive connection, and the client's next request on it fail.
        headers = [(k, v) for k, v in headers if k not in (b"content-length", b"content-type")]
        body = b""
    else:
        headers.append((b"content-length", str(len(body)).encode()))
    if close:
        # The unread rest of the body is still on the wire: the connection cannot be reused.
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else body})
