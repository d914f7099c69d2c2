"""One live connection's stanza layer: send nodes, run iq queries, hand back the stanzas nobody awaits.

The engine's read loop calls `receive()` continuously; answers to queries (`<iq type=result|error>` with
an id we are waiting for) and the edge's acks of our messages (`<ack class=message id>`) are delivered
to their `query()` / `send_message()` callers on the way and never surface. So a query or a message send
may only be awaited from a task other than the read loop (the engine's background tasks). Every query
passes the connection's `Throttle` (throttle.py): a kind WhatsApp rate-limits is held back, and its 429
answers become RateLimited.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets

from connector.engines.web.binary.jid import SERVER_JID
from connector.engines.web.binary.node import Node
from connector.engines.web.binary.payload import decode_payload, encode_payload
from connector.engines.web.errors import AckTimeout, IqError, IqTimeout, WebEngineError
from connector.engines.web.noise import NoiseSocket
from connector.engines.web.throttle import Throttle, is_overlimit


def iq(kind: str, xmlns: str, content: list[Node] | None = None) -> Node:
    """An iq to WhatsApp itself (`to` = the server JID); `query()` adds the id."""
    return Node("iq", {"to": SERVER_JID, "type": kind, "xmlns": xmlns}, content)


def check_result(answer: Node) -> Node:
    """The answer itself when it is a result. Raises IqError (details: code, text) for type=error."""
    if answer.str_attr("type") == "result":
        return answer
    error = answer.find("error")
    code_text = error.str_attr("code") if error is not None else None
    text = (error.str_attr("text") if error is not None else None) or ""
    code = int(code_text) if code_text is not None and code_text.isascii() and code_text.isdigit() else None
    raise IqError(f"the edge refused the query: {code} {text}".rstrip(), details={"code": code, "text": text})


class Connection:
    def __init__(self, socket: NoiseSocket, *, iq_timeout: float, throttle: Throttle | None = None) -> None:
        self._socket = socket
        self._throttle = throttle
        self._iq_timeout = iq_timeout
        self._pending: dict[str, asyncio.Future[Node]] = {}
        self._acks: dict[str, asyncio.Future[Node]] = {}  # message id -> the edge's ack
        # WhatsApp Web's id shape: a random per-connection prefix and a counter.
        self._prefix = f"{secrets.randbelow(1 << 16)}.{secrets.randbelow(1 << 16)}-"
        self._counter = itertools.count(1)

    @property
    def closed(self) -> bool:
        return self._socket.closed

    def next_id(self) -> str:
        return f"{self._prefix}{next(self._counter)}"

    async def send(self, node: Node) -> None:
        """Raises ConnectionLost, FrameError, BinaryEncodeError."""
        await self._socket.send(encode_payload(node))

    async def query(self, node: Node, *, timeout: float | None = None) -> Node:
        """Send an iq and wait for its answer.

        Raises IqError (the edge refused; RateLimited when WhatsApp throttles this kind of query, or it is
        held back after that), IqTimeout, ConnectionLost (also when the connection ends while waiting).
        """
        throttle = self._throttle
        request = throttle.check(node) if throttle is not None else ""
        if "id" not in node.attrs:
            node = Node(node.tag, {**node.attrs, "id": self.next_id()}, node.content)
        iq_id = str(node.attrs["id"])
        future: asyncio.Future[Node] = asyncio.get_running_loop().create_future()
        self._pending[iq_id] = future
        try:
            await self.send(node)
            async with asyncio.timeout(timeout if timeout is not None else self._iq_timeout):
                answer = await future
        except TimeoutError as exc:
            raise IqTimeout(f"no answer to iq {iq_id} ({node.str_attr('xmlns')})") from exc
        finally:
            self._pending.pop(iq_id, None)
        try:
            result = check_result(answer)
        except IqError as exc:
            if throttle is None:
                raise
            if is_overlimit(exc):
                raise await throttle.refused(request, exc) from exc
            await throttle.answered(request)  # refused for another reason: not throttled
            raise
        if throttle is not None:
            await throttle.answered(request)
        return result

    async def send_message(self, node: Node, *, timeout: float) -> Node:
        """Send a `<message>` and wait for the edge's `<ack class=message>` with its id (returned, whether
        it carries an `error` or not). Raises AckTimeout, ConnectionLost (also when the connection ends
        while waiting)."""
        message_id = str(node.attrs["id"])
        future: asyncio.Future[Node] = asyncio.get_running_loop().create_future()
        self._acks[message_id] = future
        try:
            await self.send(node)
            async with asyncio.timeout(timeout):
                return await future
        except TimeoutError as exc:
            raise AckTimeout(f"no ack for message {message_id}: it may or may not have been sent") from exc
        finally:
            if self._acks.get(message_id) is future:
                del self._acks[message_id]

    async def receive(self) -> Node:
        """The next stanza that answers no pending query.

        Raises ConnectionLost (the socket is gone), FrameError (garbled frame, or bytes that are no node).
        """
        while True:
            node = decode_payload(await self._socket.receive())
            if node.tag == "iq" and node.str_attr("type") in ("result", "error"):
                future = self._pending.get(node.str_attr("id") or "")
                if future is not None and not future.done():
                    future.set_result(node)
                    continue
            if node.tag == "ack" and node.str_attr("class") == "message":
                future = self._acks.get(node.str_attr("id") or "")
                if future is not None and not future.done():
                    future.set_result(node)
                    continue
            return node

    def abort(self, error: WebEngineError) -> None:
        """Fail every query still waiting (the connection is ending)."""
        pending, self._pending = self._pending, {}
        acks, self._acks = self._acks, {}
        for future in [*pending.values(), *acks.values()]:
            if not future.done():
                future.set_exception(error)

    async def close(self) -> None:
        await self._socket.close()
