"""Pacing rows: the overrides stored on the tenant row and the session row (attribute `pacing`, only the
fields they set; the session's are written by store/sessions.py), and Cloud API numbers' send buckets.
Keys: store/keys.py."""

from __future__ import annotations

from wagate.conditions import Attr, item_absent, item_exists
from wagate.domain.errors import ConflictError, NotFound
from wagate.domain.pacing import PacingOverrides
from wagate.ports import Table
from wagate.store import keys


class PacingRepository:
    def __init__(self, table: Table) -> None:
        self.table = table

    def tenant(self, tenant_id: str) -> PacingOverrides:
        """The tenant's overrides (none when the tenant or its overrides are missing or unreadable)."""
        row = self.table.get(*keys.tenant(tenant_id)) or {}
        return PacingOverrides.from_stored(row.get("pacing"))

    def set_tenant(self, tenant_id: str, overrides: PacingOverrides) -> None:
        """Replaces the tenant's overrides. Raises NotFound when the tenant does not exist."""
        try:
            self.table.update(
                *keys.tenant(tenant_id), set={"pacing": overrides.stored()}, condition=item_exists()
            )
        except ConflictError as exc:
            raise NotFound(f"tenant {tenant_id} does not exist") from exc

    def layers(self, tenant_id: str, session_id: str) -> tuple[PacingOverrides, PacingOverrides]:
        """The tenant's and the session's overrides, read now (none for a missing row)."""
        session = self.table.get(*keys.session(tenant_id, session_id)) or {}
        return self.tenant(tenant_id), PacingOverrides.from_stored(session.get("pacing"))


class CloudPaceBuckets:
    """A Cloud API number's send bucket (GCRA), shared by every Lambda: `tat` is the "theoretical arrival
    time" (epoch seconds) at which the bucket is full again; TTL `ttl` seconds after the last send."""

    def __init__(self, table: Table) -> None:
        self.table = table

    def reserve(self, tenant_id: str, session_id: str, *, interval: float, now: float, ttl: int) -> float:
        """Reserves the slot `interval` after the last one reserved (or after now, when the bucket has
        been full); returns the new `tat`. One atomic ADD, never a read-modify-write, so concurrent
        senders never lose a reservation. Raises ConflictError only if the row keeps changing under
        five attempts (it cannot, short of a clock far off)."""
        pk, sk = keys.cloud_pace(tenant_id, session_id)
        expires = int(now) + ttl
        for _ in range(5):
            try:
                # The bucket is not full: take the slot after the last one reserved.
                item = self.table.update(
                    pk, sk, add={"tat": interval}, set={"expires_at": expires}, condition=Attr("tat").ge(now)
                )
                return float(item["tat"])
            except ConflictError:
                try:
                    # It is full (or new): start again from now.
                    self.table.put(
                        {"pk": pk, "sk": sk, "tat": now + interval, "expires_at": expires},
                        condition=item_absent() | Attr("tat").lt(now),
                    )
                    return now + interval
                except ConflictError:
                    continue  # another send moved it past now meanwhile: take the ADD path
        raise ConflictError("the pacing bucket kept changing; retry", code="busy")
