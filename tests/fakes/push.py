"""A Push port that records what it would send; connections can be marked gone.

As strict as the @connections API where it can be (tests/contract/test_push_contract.py holds it to the
same suite as the real adapters): a message over 128 KB is refused (ItemTooLarge), and a connection that
was disconnected, or marked gone, raises Gone. Connections are opened by the `ws` handler, which this fake
does not see, so an id it never heard of is taken as open unless `open()` registered the ones that are.
"""

from __future__ import annotations

import json
from typing import Any

from wagate.domain.errors import Gone, ItemTooLarge

MAX_MESSAGE_BYTES = 128 * 1024  # API Gateway's PostToConnection limit


class RecordingPush:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.raw: list[tuple[str, bytes]] = []
        self.gone: set[str] = set()
        self.known: set[str] | None = None  # None: any id not gone is open (see the module docstring)

    def open(self, connection_id: str) -> None:
        """From now on only registered connections are open, as on the real gateway."""
        if self.known is None:
            self.known = set()
        self.known.add(connection_id)

    def post(self, connection_id: str, data: bytes) -> None:
        if connection_id in self.gone or (self.known is not None and connection_id not in self.known):
            raise Gone(f"connection {connection_id} is gone", details={"connection_id": connection_id})
        if len(data) > MAX_MESSAGE_BYTES:
            raise ItemTooLarge(
                "a WebSocket message is limited to 128 KB", details={"connection_id": connection_id}
            )
        self.raw.append((connection_id, bytes(data)))
        try:
            self.sent.append((connection_id, json.loads(data)))
        except ValueError:
            pass  # not JSON: kept in `raw` only

    def disconnect(self, connection_id: str) -> None:
        self.gone.add(connection_id)

    def to(self, connection_id: str) -> list[dict[str, Any]]:
        return [message for target, message in self.sent if target == connection_id]
