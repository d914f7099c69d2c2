"""Dashboard socket rows: realtime tokens and live connections (keys and access patterns: store/keys.py).

A token is found by its SHA-256 and lives minutes (TTL); a connection row holds its tenant and
subscriptions, lives at most API Gateway's two hours (TTL) and sits in its tenant's connection index.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from wagate.conditions import item_exists
from wagate.ports import Table
from wagate.store import keys


@dataclass(frozen=True)
class Connection:
    connection_id: str
    tenant_id: str
    subscriptions: frozenset[str]


def _token_key(token: str) -> keys.Key:
    return keys.realtime_token(hashlib.sha256(token.encode()).hexdigest())


class RealtimeRepository:
    def __init__(self, table: Table) -> None:
        self.table = table

    def add_token(self, token: str, *, tenant_id: str, key_id: str, expires_at: int) -> None:
        pk, sk = _token_key(token)
        self.table.put(
            {"pk": pk, "sk": sk, "tenant_id": tenant_id, "key_id": key_id, "expires_at": expires_at}
        )

    def token_tenant(self, token: str) -> str | None:
        """The tenant of a live token; None when unknown or expired."""
        found = self.table.get(*_token_key(token))
        return str(found["tenant_id"]) if found is not None else None

    def add_connection(
        self, connection_id: str, tenant_id: str, *, connected_at: float, expires_at: int
    ) -> None:
        pk, sk = keys.ws_connection(connection_id)
        self.table.put(
            {
                "pk": pk,
                "sk": sk,
                "gsi1pk": keys.ws_connections_index(tenant_id),
                "gsi1sk": connection_id,
                "tenant_id": tenant_id,
                "subscriptions": [],
                "connected_at": connected_at,
                "expires_at": expires_at,
            }
        )

    def connection(self, connection_id: str) -> Connection | None:
        item = self.table.get(*keys.ws_connection(connection_id))
        if item is None:
            return None
        subscriptions = frozenset(str(s) for s in item.get("subscriptions", []))
        return Connection(connection_id, str(item["tenant_id"]), subscriptions)

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
                yield Connection(str(item["gsi1sk"]), tenant_id, subscriptions)
            if page.cursor is None:
                return
            cursor = page.cursor
