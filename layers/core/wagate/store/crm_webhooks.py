"""CRM webhook rows: endpoints, the tenant's webhook counter, and deliveries (keys: store/keys.py).

An endpoint row is the API's `Webhook` plus its signing secret as a Crypto blob (context: tenant id and
webhook id). A delivery row is one event for one webhook (services/crm_deliveries.py makes them,
services/crm_attempts.py tries them).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from wagate.conditions import Attr, Condition, SortKey, item_absent, item_exists
from wagate.domain.crm_webhooks import Delivery, DeliveryStatus, Webhook
from wagate.domain.errors import ConflictError, LimitExceeded
from wagate.ports import Delete, Item, Put, Table, Update
from wagate.store import keys

_FIELDS = frozenset(Webhook.model_fields)
_DELIVERY_FIELDS = frozenset(Delivery.model_fields)


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

    def find_secrets(self, tenant_id: str, webhook_id: str) -> tuple[Webhook, bytes, bytes | None] | None:
        """The endpoint, its secret blob and the previous secret's blob (kept after a rotation)."""
        item = self.table.get(*keys.webhook(tenant_id, webhook_id))
        if item is None:
            return None
        previous = item.get("previous_secret")
        return to_webhook(item), bytes(item["secret"]), None if previous is None else bytes(previous)

    def rotate(
        self, tenant_id: str, webhook_id: str, current: bytes, new: bytes, changes: Mapping[str, Any]
    ) -> Webhook:
        """`new` becomes the secret and `current` the previous one, if `current` is still the secret
        (two rotations at once cannot lose one). Raises ConflictError."""
        item = self.table.update(
            *keys.webhook(tenant_id, webhook_id),
            set={**changes, "secret": new, "previous_secret": current},
            condition=item_exists() & Attr("secret").eq(current),
        )
        return to_webhook(item)

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


def to_delivery(item: Item) -> Delivery:
    fields = {k: v for k, v in item.items() if k in _DELIVERY_FIELDS}
    return Delivery.model_validate({**fields, "payload": json.loads(str(item["body"]))})


class DeliveryRepository:
    """Delivery rows: one per event and webhook, in the webhook's partition and in its status index.

    A row holds the body exactly as signed, status, attempts, next_attempt_at, the claim of the attempt
    in flight; `row`/`page` return it as stored, because the attempt claim reads and conditions on it.
    """

    def __init__(self, table: Table) -> None:
        self.table = table

    @staticmethod
    def status_fields(tenant_id: str, webhook_id: str, status: DeliveryStatus) -> dict[str, str]:
        """The attributes that move a row to `status`, its index entry with it."""
        index = keys.deliveries_by_status_index(tenant_id, webhook_id, status)
        return {"status": status.value, "gsi1pk": index}

    def add(self, tenant_id: str, webhook_id: str, ident: str, fields: Mapping[str, Any]) -> bool:
        """Stores a new pending delivery; False when a row with that id exists already."""
        pk, sk = keys.delivery(tenant_id, webhook_id, ident)
        item: Item = {
            "pk": pk,
            "sk": sk,
            "gsi1pk": keys.deliveries_by_status_index(tenant_id, webhook_id, DeliveryStatus.PENDING),
            "gsi1sk": ident,
            **fields,
        }
        try:
            self.table.put(item, condition=item_absent())
        except ConflictError:
            return False
        return True

    def row(self, tenant_id: str, webhook_id: str, ident: str) -> Item | None:
        return self.table.get(*keys.delivery(tenant_id, webhook_id, ident))

    def page(
        self,
        tenant_id: str,
        webhook_id: str,
        *,
        status: DeliveryStatus | None = None,
        since_id: str | None = None,
        forward: bool = False,
        limit: int = 50,
        cursor: str | None = None,
    ) -> tuple[list[Item], str | None]:
        """A webhook's rows by id (newest first unless `forward`); with `status`, through the status index
        (`since_id`: ids from there on), so every page is full."""
        if status is None:
            page = self.table.query(
                keys.deliveries_partition(tenant_id, webhook_id),
                sk=SortKey.prefix(keys.DELIVERY_PREFIX),
                forward=forward,
                limit=limit,
                cursor=cursor,
            )
        else:
            page = self.table.query(
                keys.deliveries_by_status_index(tenant_id, webhook_id, status),
                index="gsi1",
                sk=SortKey.ge(since_id) if since_id is not None else None,
                forward=forward,
                limit=limit,
                cursor=cursor,
            )
        return page.items, page.cursor

    def update(
        self,
        row: Mapping[str, Any],
        *,
        set: Mapping[str, Any],
        condition: Condition,
        remove: Sequence[str] = (),
    ) -> Item:
        """Changes the row read as `row` under `condition`; returns the new row. Raises ConflictError."""
        key = keys.delivery(str(row["tenant_id"]), str(row["webhook_id"]), str(row["id"]))
        return self.table.update(*key, set=dict(set), remove=remove, condition=condition)
