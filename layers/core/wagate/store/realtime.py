"""Dashboard socket rows: realtime tokens and live connections (keys and access patterns: store/keys.py).

A token is found by its SHA-256 and lives minutes (TTL); a connection row holds its tenant and
subscriptions, lives at most API Gateway's two hours (TTL) and sits in its tenant's connection index.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from wagate.conditions import item_exists
from wagate.ports import Item, Table
from wagate.store import keys


@dataclass(frozen=True)
class Connection:
    connection_id: str
    tenant_id: str
    subscriptions: frozenset[str]
    sessions: frozenset[str] | None = None  # opened with a session-scoped key's token: only these


def _token_key(token: str) -> keys.Key:
    return keys.realtime_token(hashlib.sha256(token.encode()).hexdigest())


class RealtimeRepository:
    def __init__(self, table: Table) -> None:
        self.table = table

    def add_token(
        self,
        token: str,
        *,
        tenant_id: str,
        key_id: str,
        expires_at: int,
        sessions: frozenset[str] | None = None,
    ) -> None:
        pk, sk = _token_key(token)
        item = {"pk": pk, "sk": sk, "tenant_id": tenant_id, "key_id": key_id, "expires_at": expires_at}
        if sessions is not None:
            item["sessions"] = sorted(sessions)
        self.table.put(item)

    def token_grant(self, token: str) -> tuple[str, frozenset[str] | None] | None:
        """The tenant of a live token and the sessions it is limited to; None when unknown or expired."""
        found = self.table.get(*_token_key(token))
        if found is None:
            return None
        return str(found["tenant_id"]), _sessions(found)

    def add_connection(
        self,
        connection_id: str,
        tenant_id: str,
        *,
        connected_at: float,
        expires_at: int,
        sessions: frozenset[str] | None = None,
    ) -> None:
        pk, sk = keys.ws_connection(connection_id)
        item = {
            "pk": pk,
            "sk": sk,
            "gsi1pk": keys.ws_connections_index(tenant_id),
            "gsi1sk": connection_id,
            "tenant_id": tenant_id,
            "subscriptions": [],
            "connected_at": connected_at,
            "expires_at": expires_at,
        }
        if sessions is not None:
            item["sessions"] = sorted(sessions)
        self.table.put(item)

    def connection(self, connection_id: str) -> Connection | None:
        item = self.table.get(*keys.ws_connection(connection_id))
        if item is None:
            return None
        subscriptions = frozenset(str(s) for s in item.get("subscriptions", []))
        return Connection(connection_id, str(item["tenant_id"]), subscriptions, _sessions(item))

    def set_subscriptions(self, connection_id: str, subscriptions: Sequence[str]) -> None:
        """Raises ConflictError when the connection is gone."""
        self.table.update(
            *keys.ws_connection(connection_id),
            set={"subscriptions": list(subscriptions)},
            condition=item_exists(),
        )

    def remove_connection(self, connection_id: str) -> None:
        self.table.delete(*keys.ws_connection(connection_id))

    def connections_of(self, tenant_id: str) -> Iterator[Connection]:
        """The tenant's live connections, page by page."""
        cursor = None
        while True:
            page = self.table.query(keys.ws_connections_index(tenant_id), index="gsi1", cursor=cursor)
            for item in page.items:
                subscriptions = frozenset(str(s) for s in item.get("subscriptions", []))
                yield Connection(str(item["gsi1sk"]), tenant_id, subscriptions, _sessions(item))
            if page.cursor is None:
                return
            cursor = page.cursor


def _sessions(item: Item) -> frozenset[str] | None:
    found = item.get("sessions")
    return None if found is None else frozenset(str(s) for s in found)
