"""A cloud session's Meta templates, one row per session (keys: store/keys.py `cloud_templates`)."""

from __future__ import annotations

from wagate.domain.cloud_templates import CloudTemplates
from wagate.ports import Table
from wagate.store import keys


class CloudTemplateRepository:
    def __init__(self, table: Table) -> None:
        self.table = table

    def get(self, tenant_id: str, session_id: str) -> CloudTemplates | None:
        item = self.table.get(*keys.cloud_templates(tenant_id, session_id))
        if item is None:
            return None
        fields = ("templates", "synced_at", "syncing", "sync_error")
        return CloudTemplates.model_validate({k: item[k] for k in fields if k in item})

    def put(self, tenant_id: str, session_id: str, snapshot: CloudTemplates) -> None:
        pk, sk = keys.cloud_templates(tenant_id, session_id)
        self.table.put({"pk": pk, "sk": sk, "tenant_id": tenant_id, **snapshot.model_dump(mode="json")})
