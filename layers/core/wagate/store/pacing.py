"""Pacing overrides as stored on the tenant row and the session row (attribute `pacing`, only the fields
they set). Keys: store/keys.py; the session's own overrides are written by store/sessions.py."""

from __future__ import annotations

from wagate.conditions import item_exists
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
