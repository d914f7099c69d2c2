"""A cloud session's Meta templates, one row per session (keys: store/keys.py `cloud_templates`).

The row carries a `version`, moved by every write: a template webhook changes it with a read and a put
conditioned on the version it read (`replace`), so two webhooks (or a webhook and a sync) never lose
each other's change.
"""

from __future__ import annotations

from wagate.conditions import Attr, item_absent
from wagate.domain.cloud_templates import CloudTemplates
from wagate.ports import Table
from wagate.store import keys

_FIELDS = ("templates", "synced_at", "syncing", "sync_error")


class CloudTemplateRepository:
    def __init__(self, table: Table) -> None:
        self.table = table

    def get(self, tenant_id: str, session_id: str) -> CloudTemplates | None:
        found = self.get_versioned(tenant_id, session_id)
        return found[0] if found is not None else None

    def get_versioned(self, tenant_id: str, session_id: str) -> tuple[CloudTemplates, int] | None:
        """The snapshot and its row version (0 for rows written before versions)."""
        item = self.table.get(*keys.cloud_templates(tenant_id, session_id))
        if item is None:
            return None
        snapshot = CloudTemplates.model_validate({k: item[k] for k in _FIELDS if k in item})
        return snapshot, int(item.get("version", 0))

    def put(self, tenant_id: str, session_id: str, snapshot: CloudTemplates) -> None:
        """Writes the snapshot whatever is stored (a sync's answer from Graph is the newest truth)."""
        current = self.get_versioned(tenant_id, session_id)
        self.table.put(self._item(tenant_id, session_id, snapshot, (current[1] if current else 0) + 1))

    def replace(self, tenant_id: str, session_id: str, snapshot: CloudTemplates, version: int) -> None:
        """Writes the snapshot only if the row is still at `version`. Raises ConflictError."""
        condition = Attr("version").eq(version) if version else Attr("version").not_exists()
        if not version:
            condition = condition & ~item_absent()
        self.table.put(self._item(tenant_id, session_id, snapshot, version + 1), condition=condition)

    @staticmethod
    def _item(tenant_id: str, session_id: str, snapshot: CloudTemplates, version: int) -> dict[str, object]:
        pk, sk = keys.cloud_templates(tenant_id, session_id)
        return {
            "pk": pk,
            "sk": sk,
            "tenant_id": tenant_id,
            "version": version,
            **snapshot.model_dump(mode="json"),
        }
