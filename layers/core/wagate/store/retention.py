"""A tenant's retention policy row (keys and access patterns: store/keys.py); absent means the defaults."""

from __future__ import annotations

from wagate.domain.retention import DEFAULT_POLICY, RetentionPolicy
from wagate.ports import Table
from wagate.store import keys

_FIELDS = tuple(RetentionPolicy.model_fields)


class RetentionRepository:
    def __init__(self, table: Table) -> None:
        self.table = table

    def get(self, tenant_id: str) -> RetentionPolicy:
        item = self.table.get(*keys.retention_policy(tenant_id))
        if item is None:
            return DEFAULT_POLICY
        # Stored nulls ("keep") are kept as None; a field never stored takes its default.
        return RetentionPolicy.model_validate({k: item[k] for k in _FIELDS if k in item})

    def put(self, tenant_id: str, policy: RetentionPolicy, at: float) -> None:
        pk, sk = keys.retention_policy(tenant_id)
        self.table.put({"pk": pk, "sk": sk, "updated_at": at, **policy.model_dump()})
