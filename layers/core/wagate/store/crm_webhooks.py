"""CRM webhook endpoint rows and the tenant's webhook counter (keys and access patterns: store/keys.py).

An endpoint row is the API's `Webhook` plus its signing secret as a Crypto blob (context: tenant id and
webhook id). Its deliveries are rows of their own (services/webhook_deliveries.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from wagate.conditions import Attr, SortKey, item_absent, item_exists
from wagate.domain.errors import ConflictError, LimitExceeded
from wagate.domain.webhooks import Webhook
from wagate.ports import Delete, Item, Put, Table, Update
from wagate.store import keys

_FIELDS = frozenset(Webhook.model_fields)


def to_webhook(item: Item) -> Webhook:
    return Webhook.model_validate({k: v for k, v in item.items() if k in _FIELDS})


class WebhookRepository:
    def __init__(self, table: Table) -> None:
        self.table = table

    def create(self, webhook: Webhook, secret_blob: bytes, *, limit: int) -> None:
        """Stores a new endpoint with the tenant's counter under `limit`. Raises LimitExceeded."""
        pk, sk = keys.webhook(webhook.tenant_id, webhook.id)
        item: Item = {"pk": pk, "sk": sk, **webhook.model_dump(mode="json"), "secret": secret_blob}
        under_limit = Attr("webhooks").not_exists() | Attr("webhooks").lt(limit)
        try:
            self.table.transact_write(
                [
                    Put(item, condition=item_absent()),
                    Update(
                        *keys.tenant_counters(webhook.tenant_id), add={"webhooks": 1}, condition=under_limit
                    ),
                ]
            )
        except ConflictError as exc:
            raise LimitExceeded(
                f"this tenant already has {limit} webhooks, the most it may hold; delete one first",
                details={"limit": limit},
            ) from exc

    def find(self, tenant_id: str, webhook_id: str) -> tuple[Webhook, bytes] | None:
        """The endpoint and its secret blob."""
        item = self.table.get(*keys.webhook(tenant_id, webhook_id))
        if item is None:
            return None
        return to_webhook(item), bytes(item["secret"])

    def list(self, tenant_id: str, *, limit: int) -> list[Webhook]:
        page = self.table.query(
            keys.tenant_partition(tenant_id), sk=SortKey.prefix(keys.WEBHOOK_PREFIX), limit=limit
        )
        return [to_webhook(item) for item in page.items]

    def update(self, tenant_id: str, webhook_id: str, changes: Mapping[str, Any]) -> Webhook:
        """Raises ConflictError when the endpoint is gone."""
        item = self.table.update(
            *keys.webhook(tenant_id, webhook_id), set=dict(changes), condition=item_exists()
        )
        return to_webhook(item)

    def delete(self, tenant_id: str, webhook_id: str) -> None:
        """The endpoint and one off the tenant's counter. Raises ConflictError when it is gone."""
        self.table.transact_write(
            [
                Delete(*keys.webhook(tenant_id, webhook_id), condition=item_exists()),
                Update(*keys.tenant_counters(tenant_id), add={"webhooks": -1}),
            ]
        )
