"""A Push port that records what it would send; connections can be marked gone."""

from __future__ import annotations

import json
from typing import Any

from wagate.domain.errors import Gone


class RecordingPush:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.gone: set[str] = set()

    def post(self, connection_id: str, data: bytes) -> None:
        if connection_id in self.gone:
            raise Gone(f"connection {connection_id} is gone")
        self.sent.append((connection_id, json.loads(data)))

    def disconnect(self, connection_id: str) -> None:
        self.gone.add(connection_id)

    def to(self, connection_id: str) -> list[dict[str, Any]]:
        return [message for target, message in self.sent if target == connection_id]
