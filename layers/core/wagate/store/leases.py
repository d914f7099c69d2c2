"""Lease rows as the layer reads them (who holds a shard, until when); the connector writes them
(connector/leases.py: acquire, renew and release with fencing tokens). Keys: store/keys.py."""

from __future__ import annotations

from dataclasses import dataclass

from wagate.ports import Table
from wagate.store import keys


@dataclass(frozen=True)
class LeaseView:
    owner: str | None
    until: float  # lease_until as written (table clock); 0 once released
    fence: int


class LeaseRepository:
    def __init__(self, table: Table) -> None:
        self.table = table

    def shard_lease(self, shard: int) -> LeaseView | None:
        item = self.table.get(*keys.shard_lease(shard))
        if item is None:
            return None
        owner = item.get("owner")
        return LeaseView(
            owner=str(owner) if owner is not None else None,
            until=float(item.get("lease_until", 0)),
            fence=int(item.get("fence", 0)),
        )
