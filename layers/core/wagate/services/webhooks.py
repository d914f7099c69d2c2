"""CRM webhooks: a tenant's endpoints (create, list, change, delete), their URL rules, and `enqueue`.

Storage layout (single table):
    T#{tenant} / WEBHOOK#{webhook}    the endpoint: url, events, enabled, the signing secret encrypted
                                      with the Crypto port (context: tenant_id + webhook_id)
    T#{tenant} / COUNTERS             webhooks (how many the tenant holds, for the per-tenant limit)
Deliveries live in `webhook_deliveries`; attempts are made by `webhook_attempts` (the queue consumer).

URL rules (checked when a webhook is created or its URL changes, and again before every attempt,
because DNS can change): the outbound-URL rules of `wagate.domain.outbound_urls` (https, public
addresses), relaxed by WAGATE_WEBHOOKS_ALLOW_HTTP / WAGATE_WEBHOOKS_ALLOW_PRIVATE. Redirects are never
followed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from wagate.conditions import Attr, SortKey, item_absent, item_exists
from wagate.domain.errors import ConflictError, LimitExceeded, NotFound
from wagate.domain.events import SessionEvent
from wagate.domain.ids import new_id
from wagate.domain.outbound_urls import WEBHOOK, UrlPolicy
from wagate.domain.webhooks import (
    SECRET_PREFIX,
    WEBHOOK_EVENTS,
    CreatedWebhook,
    Description,
    EventFilter,
    Webhook,
    WebhookUrl,
    new_secret,
)
from wagate.ports import Clock, Crypto, Delete, Item, Put, Table, Update, WebhookSender
from wagate.services.webhook_deliveries import DeliveryStore

if TYPE_CHECKING:
    from wagate.wiring import Deps

MAX_WEBHOOKS = 20
_FIELDS = set(Webhook.model_fields)


class NewWebhook(BaseModel):
    url: WebhookUrl
    events: EventFilter = Field(default_factory=list)
    description: Description = None


class WebhookChanges(BaseModel):
    """A PATCH: only the fields given change. `enabled: true` turns a webhook disabled by 410 back on."""

    url: WebhookUrl | None = None
    events: EventFilter | None = None
    description: Description = None
    enabled: bool | None = None


def _key(tenant_id: str, webhook_id: str) -> tuple[str, str]:
    return f"T#{tenant_id}", f"WEBHOOK#{webhook_id}"


def _counters(tenant_id: str) -> tuple[str, str]:
    return f"T#{tenant_id}", "COUNTERS"


def secret_context(tenant_id: str, webhook_id: str) -> dict[str, str]:
    return {"tenant_id": tenant_id, "webhook_id": webhook_id}


def to_webhook(item: Item) -> Webhook:
    return Webhook.model_validate({k: v for k, v in item.items() if k in _FIELDS})


class WebhookService:
    """The use cases behind /v1/webhooks."""

    def __init__(
        self,
        table: Table,
        crypto: Crypto,
        clock: Clock,
        rules: UrlPolicy,
        sender: Callable[[], WebhookSender],
        *,
        limit: int = MAX_WEBHOOKS,
    ) -> None:
        self.table = table
        self.crypto = crypto
        self.clock = clock
        self.rules = rules
        self._sender = sender  # resolved only when a URL is checked: no HTTP client for other routes
        self.limit = limit

    def create(self, tenant_id: str, new: NewWebhook) -> CreatedWebhook:
        """Raises InvalidInput (URL rules), LimitExceeded. Nothing is stored when a check fails."""
        self.check(new.url)
        now = self.clock.now()
        webhook_id = new_id("whk", now)
        secret = new_secret()
        webhook = Webhook(
            id=webhook_id,
            tenant_id=tenant_id,
            url=new.url,
            events=sorted(set(new.events)),
            description=new.description,
            enabled=True,
            secret_hint=secret[: len(SECRET_PREFIX) + 4],
            created_at=now,
            updated_at=now,
        )
        blob = self.crypto.encrypt(secret.encode(), context=secret_context(tenant_id, webhook_id))
        pk, sk = _key(tenant_id, webhook_id)
        item: Item = {"pk": pk, "sk": sk, **webhook.model_dump(mode="json"), "secret": blob}
        under_limit = Attr("webhooks").not_exists() | Attr("webhooks").lt(self.limit)
        try:
            self.table.transact_write(
                [
                    Put(item, condition=item_absent()),
                    Update(*_counters(tenant_id), add={"webhooks": 1}, condition=under_limit),
                ]
            )
        except ConflictError as exc:
            raise LimitExceeded(
                f"this tenant already has {self.limit} webhooks, the most it may hold; delete one first",
                details={"limit": self.limit},
            ) from exc
        return CreatedWebhook(**webhook.model_dump(), secret=secret)

    def check(self, url: str) -> None:
        """The URL rules, resolving the host unless private addresses are allowed. Raises InvalidInput."""
        self.rules.check_url(url)
        if not self.rules.allow_private:
            self.rules.check_target(url, self._sender().addresses(url))

    def list(self, tenant_id: str) -> list[Webhook]:
        page = self.table.query(f"T#{tenant_id}", sk=SortKey.prefix("WEBHOOK#"), limit=self.limit * 2)
        return [to_webhook(item) for item in page.items]

    def get(self, tenant_id: str, webhook_id: str) -> Webhook:
        return to_webhook(self._item(tenant_id, webhook_id))

    def update(self, tenant_id: str, webhook_id: str, changes: WebhookChanges) -> Webhook:
        """Raises NotFound, InvalidInput (a new URL is checked like a new webhook's)."""
        self._item(tenant_id, webhook_id)
        given = changes.model_dump(exclude_unset=True, mode="json")
        if given.get("url") is not None:
            self.check(str(given["url"]))
        updates: dict[str, Any] = {k: v for k, v in given.items() if v is not None or k == "description"}
        if "events" in updates:
            updates["events"] = sorted(set(updates["events"]))
        if updates.get("enabled"):
            updates["disabled_reason"] = None
        elif updates.get("enabled") is False:
            updates["disabled_reason"] = "disabled by request"
        updates["updated_at"] = self.clock.now()
        try:
            item = self.table.update(*_key(tenant_id, webhook_id), set=updates, condition=item_exists())
        except ConflictError as exc:
            raise self._not_found(webhook_id) from exc
        return to_webhook(item)

    def disable(self, tenant_id: str, webhook_id: str, reason: str) -> None:
        """What a 410 Gone does: no more events are queued for it, pending ones are not sent."""
        try:
            self.table.update(
                *_key(tenant_id, webhook_id),
                set={"enabled": False, "disabled_reason": reason, "updated_at": self.clock.now()},
                condition=item_exists(),
            )
        except ConflictError:
            pass  # deleted meanwhile: nothing left to disable

    def delete(self, tenant_id: str, webhook_id: str) -> None:
        """Its deliveries stop (queued attempts find no webhook) and expire with their TTL."""
        try:
            self.table.transact_write(
                [
                    Delete(*_key(tenant_id, webhook_id), condition=item_exists()),
                    Update(*_counters(tenant_id), add={"webhooks": -1}),
                ]
            )
        except ConflictError as exc:
            raise self._not_found(webhook_id) from exc

    def secret(self, tenant_id: str, webhook_id: str) -> tuple[Webhook, str]:
        """The webhook and its decrypted signing secret. Raises NotFound."""
        item = self._item(tenant_id, webhook_id)
        blob = item["secret"]
        secret = self.crypto.decrypt(bytes(blob), context=secret_context(tenant_id, webhook_id))
        return to_webhook(item), secret.decode()

    def _item(self, tenant_id: str, webhook_id: str) -> Item:
        item = self.table.get(*_key(tenant_id, webhook_id))
        if item is None:
            raise self._not_found(webhook_id)
        return item

    @staticmethod
    def _not_found(webhook_id: str) -> NotFound:
        return NotFound(
            f"no webhook {webhook_id}; list yours with GET /v1/webhooks", code="webhook_not_found"
        )


def service(d: Deps) -> WebhookService:
    rules = UrlPolicy(
        WEBHOOK, allow_http=d.settings.webhooks_allow_http, allow_private=d.settings.webhooks_allow_private
    )
    return WebhookService(d.table, d.crypto, d.clock, rules, d.webhooks)


def enqueue(d: Deps, event: SessionEvent, kind: str, data: Mapping[str, Any]) -> int:
    """The hook in `connector_events`: one durable delivery per subscribed, enabled webhook of the
    tenant for an event of the vocabulary. Returns how many were queued. Raises on storage errors, so
    the events queue retries the event."""
    if kind not in WEBHOOK_EVENTS:
        return 0
    hooks = [w for w in service(d).list(event.tenant_id) if w.wants(kind)]
    if not hooks:
        return 0
    payload = {
        "type": kind,
        "timestamp": _iso(event.at),
        "data": {"tenantId": event.tenant_id, "sessionId": event.session_id, **data},
    }
    # One event can be several pushes (a receipt for several messages, or `delivered` implied by `read`):
    # the message id and the status tell them apart.
    origin = (event.id, kind, str(data.get("messageId") or ""), str(data.get("status") or ""))
    return len(DeliveryStore(d.table, d.queues, d.clock).create(hooks, payload, at=event.at, origin=origin))


def _iso(at: float) -> str:
    return dt.datetime.fromtimestamp(at, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
