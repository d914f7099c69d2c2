"""The Queue port with bodies sealed at rest: commands, events and CRM deliveries carry content, so every
body is sealed under its tenant's data key before it reaches SQS or the SQLite queue file.

A sealed body is `wgq1:{tenant}:{sealed}` (`ContentCipher`'s format, bound to the tenant and to "queue");
the tenant is the body's first `tenant_id`, else the system tenant. Receiving
through the port opens bodies again; Lambda consumers, which get bodies from the SQS event instead, call
`QueueBodies.open` (a plain body, sent before encryption was on, is returned as it is, so messages in
flight during an upgrade are not lost).

FIFO queues deduplicate by content when no dedup id is given: that id is computed from the plaintext,
since a sealed body differs on every send.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Sequence
from typing import Any

from wagate.domain.errors import InvalidInput
from wagate.ports import OutgoingMessage, Queue, Queues, ReceivedMessage
from wagate.store.content_cipher import ContentCipher
from wagate.store.tenant_keys import SYSTEM_TENANT

PREFIX = "wgq1:"
_PLACE = "queue"


_TENANT = re.compile(r'"tenant_id"\s*:\s*"([^"\\]{1,100})"')


def _tenant_of(body: str) -> str:
    """The tenant a body belongs to: its first `tenant_id` (bodies carry one tenant's data only)."""
    found = _TENANT.search(body)
    return found.group(1) if found else SYSTEM_TENANT


class QueueBodies:
    """Seals and opens queue bodies (the format above)."""

    def __init__(self, cipher: ContentCipher, *, seal: bool = True) -> None:
        self.cipher = cipher
        self.sealing = seal

    def seal(self, body: str) -> str:
        if not self.sealing:
            return body
        tenant = _tenant_of(body)
        sealed = self.cipher.seal_bytes(self.cipher.keys.key(tenant), body.encode(), _PLACE)
        return f"{PREFIX}{tenant}:{sealed}"

    def open(self, body: str) -> str:
        """The plaintext body. Raises InvalidInput for a sealed body that was tampered with."""
        if not body.startswith(PREFIX):
            return body
        tenant, _, sealed = body[len(PREFIX) :].partition(":")
        if not sealed:
            raise InvalidInput("truncated sealed queue body")
        return self.cipher.open_bytes(tenant, sealed, _PLACE).decode()


class SealedQueue:
    """One queue whose bodies are sealed on send and opened on receive."""

    def __init__(self, inner: Queue, bodies: QueueBodies) -> None:
        self.inner = inner
        self.bodies = bodies

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def fifo(self) -> bool:
        return self.inner.fifo

    def _sealed(self, message: OutgoingMessage) -> OutgoingMessage:
        dedup_id = message.dedup_id
        if self.inner.fifo and dedup_id is None:
            dedup_id = hashlib.sha256(message.body.encode("utf-8")).hexdigest()
        sealed = self.bodies.seal(message.body)
        return OutgoingMessage(sealed, message.group_id, dedup_id, message.delay_seconds)

    def send(
        self, body: str, *, group_id: str | None = None, dedup_id: str | None = None, delay_seconds: int = 0
    ) -> str:
        return self.send_batch([OutgoingMessage(body, group_id, dedup_id, delay_seconds)])[0]

    def send_batch(self, messages: Sequence[OutgoingMessage]) -> list[str]:
        return self.inner.send_batch([self._sealed(m) for m in messages])

    def receive(
        self, *, max_messages: int = 10, wait_seconds: float = 0, visibility_timeout: int | None = None
    ) -> list[ReceivedMessage]:
        received = self.inner.receive(
            max_messages=max_messages, wait_seconds=wait_seconds, visibility_timeout=visibility_timeout
        )
        return [dataclasses.replace(m, body=self.bodies.open(m.body)) for m in received]

    def delete(self, receipt: str) -> None:
        self.inner.delete(receipt)

    def change_visibility(self, receipt: str, timeout_seconds: int) -> None:
        self.inner.change_visibility(receipt, timeout_seconds)

    def approximate_depth(self) -> int:
        return self.inner.approximate_depth()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class SealedQueues:
    """`Queues` whose every queue seals its bodies."""

    def __init__(self, inner: Queues, bodies: QueueBodies) -> None:
        self.inner = inner
        self.bodies = bodies
        self._wrapped: dict[str, SealedQueue] = {}

    def get(self, logical_name: str) -> Queue:
        found = self._wrapped.get(logical_name)
        if found is None or found.inner is not self.inner.get(logical_name):
            found = self._wrapped[logical_name] = SealedQueue(self.inner.get(logical_name), self.bodies)
        return found

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)
