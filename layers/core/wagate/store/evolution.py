"""Evolution instance rows: what the Evolution API surface keeps beside a session (keys: store/keys.py).

One row per instance: its token (so webhooks can carry it as `apikey` and fetchInstances can show it, as
Evolution does; the key itself is stored as a digest like every key) and its settings as given. The
`evolution` attribute is content (store/sealed_table.py), sealed under the tenant's data key.
"""

from __future__ import annotations

from typing import Any

from wagate.ports import Table
from wagate.store import keys


class EvolutionInstances:
    def __init__(self, table: Table) -> None:
        self.table = table

    def put(self, tenant_id: str, session_id: str, *, token: str, settings: dict[str, Any]) -> None:
        pk, sk = keys.evolution_instance(tenant_id, session_id)
        self.table.put({"pk": pk, "sk": sk, "evolution": {"token": token, "settings": settings}})

    def get(self, tenant_id: str, session_id: str) -> dict[str, Any] | None:
        """`{"token", "settings"}`, or None (a session not made by instance/create, or its tenant's key
        destroyed)."""
        item = self.table.get(*keys.evolution_instance(tenant_id, session_id))
        found = (item or {}).get("evolution")
        return dict(found) if isinstance(found, dict) else None

    def delete(self, tenant_id: str, session_id: str) -> None:
        self.table.delete(*keys.evolution_instance(tenant_id, session_id))
