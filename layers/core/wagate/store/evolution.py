"""Evolution instance rows: what the Evolution API surface keeps beside a session (keys: store/keys.py).

One row per instance: its token (so webhooks can carry it as `apikey` and fetchInstances can show it, as
Evolution does; the key itself is stored as a digest like every key) and its settings as given. The
`evolution` attribute is content (store/sealed_table.py), sealed under the tenant's data key.
"""

from __future__ import annotations

import hashlib
from typing import Any

from wagate.conditions import Attr, item_absent
from wagate.domain.errors import ConflictError
from wagate.ports import Table
from wagate.store import keys


def _name_key(tenant_id: str, name: str) -> keys.Key:
    # A digest: the name itself is content (sealed in the session row), never part of a key.
    return keys.evolution_name(tenant_id, hashlib.sha256(name.encode()).hexdigest())


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
        if not isinstance(found, dict):
            return None
        changed = (item or {}).get("evolution_settings")
        return {**found, "settings": changed} if isinstance(changed, dict) else dict(found)

    def set_settings(self, tenant_id: str, session_id: str, settings: dict[str, Any]) -> None:
        """settings/set: its own attribute, so the token beside it is never rewritten."""
        pk, sk = keys.evolution_instance(tenant_id, session_id)
        self.table.update(pk, sk, set={"evolution_settings": settings})

    def delete(self, tenant_id: str, session_id: str) -> None:
        self.table.delete(*keys.evolution_instance(tenant_id, session_id))

    # ---- names: one session per instance name and tenant ---------------------------------------------

    def claim(self, tenant_id: str, name: str, session_id: str, *, replacing: str | None = None) -> bool:
        """Makes `session_id` the holder of `name`: when nobody holds it, or (`replacing`) still that
        session. False when another holds it."""
        pk, sk = _name_key(tenant_id, name)
        condition = item_absent() if replacing is None else Attr("session_id").eq(replacing)
        try:
            self.table.put({"pk": pk, "sk": sk, "session_id": session_id}, condition=condition)
        except ConflictError:
            return False
        return True

    def holder(self, tenant_id: str, name: str) -> str | None:
        item = self.table.get(*_name_key(tenant_id, name))
        return str(item["session_id"]) if item is not None else None

    def release(self, tenant_id: str, name: str, session_id: str) -> None:
        """Frees `name` if `session_id` still holds it."""
        try:
            self.table.delete(*_name_key(tenant_id, name), condition=Attr("session_id").eq(session_id))
        except ConflictError:
            pass
