"""Lease rows as the layer reads them (who holds a shard, until when); the connector writes them
(connector/leases.py: acquire, renew and release with fencing tokens). Keys: store/keys.py.

One mark is written here: `suspended_at` on a session's lease row while its tenant is suspended
(services/operator.py). The connector's send claim already checks that row in its transaction
(connector/claims.py), so a suspension stops the sends a running connector has queued at no cost per send.
Acquire, renew and release never touch the attribute; only resume removes it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from wagate import process_liveness
from wagate.domain.sessions import SessionStatus
from wagate.ports import Item, Table
from wagate.store import keys
from wagate.store.tenants import mark_suspended


@dataclass(frozen=True)
class LeaseView:
    owner: str | None
    until: float  # lease_until as written (table clock); 0 once released
    fence: int
    writer: process_liveness.ProcessIdentity | None = None  # the holder's process, when recorded
    shard_fence: int | None = None  # a session lease: the fence of the shard lease it was taken under
    ended: dict[str, str] | None = None  # released: the status its holder reported on its way out
    released_fence: int | None = None  # the fence of the last holding released on purpose (not a crash)


class LeaseRepository:
    def __init__(self, table: Table) -> None:
        self.table = table

    def shard_lease(self, shard: int) -> LeaseView | None:
        return _view(self.table.get(*keys.shard_lease(shard)))

    def shard_leases(self, shards: int) -> list[LeaseView | None]:
        """Every shard's lease, 0..shards-1, in one batch read."""
        return [_view(item) for item in self.table.get_many([keys.shard_lease(n) for n in range(shards)])]

    def session_lease(self, tenant_id: str, session_id: str) -> LeaseView | None:
        return _view(self.table.get(*keys.session_lease(tenant_id, session_id)))

    def session_leases(self, sessions: Sequence[tuple[str, str]]) -> list[LeaseView | None]:
        """The leases of (tenant id, session id) pairs, in that order, in batch reads."""
        wanted = [keys.session_lease(tenant_id, session_id) for tenant_id, session_id in sessions]
        return [_view(item) for item in self.table.get_many(wanted)] if wanted else []

    def mark_suspended(self, tenant_id: str, session_id: str, suspended_at: float | None) -> bool:
        """Marks the session's lease row suspended (at that time), or not (None). Only an existing row:
        a session never leased has never connected, so nothing of it can be sent until it is (and
        starting it reads the marked session row first: connector/session_pool.py). False: no row."""
        return mark_suspended(self.table, *keys.session_lease(tenant_id, session_id), suspended_at)


def _view(item: Item | None) -> LeaseView | None:
    if item is None:
        return None
    owner: Any = item.get("owner")
    return LeaseView(
        owner=str(owner) if owner is not None else None,
        until=float(item.get("lease_until", 0)),
        fence=int(item.get("fence", 0)),
        writer=process_liveness.writer_of(item),
        shard_fence=int(item["shard_fence"]) if item.get("shard_fence") is not None else None,
        ended=_ended(item.get("ended")),
        released_fence=int(item["released_fence"]) if item.get("released_fence") is not None else None,
    )


def _ended(value: Any) -> dict[str, str] | None:
    if not isinstance(value, dict) or value.get("status") not in set(SessionStatus):
        return None
    return {str(k): str(v) for k, v in value.items() if v is not None}
