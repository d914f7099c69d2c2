"""Webhook deliveries: the durable rows and queue messages behind every event a CRM is sent, and replays.

Rows (keys and access patterns: store/keys.py): one per event and webhook, holding the body exactly as
signed, status, attempts (the last 50), next_attempt_at; TTL 30 days; indexed by webhook and status.
Queue messages (WebhooksQueue, standard, one per attempt, so a slow CRM never holds up another):
    {"tenant_id", "webhook_id", "delivery_id", "attempt": n, "due_at": epoch, "replay": bool}
    A wait longer than SQS's 15-minute delay travels in hops: the consumer re-sends the message until
    `due_at`. Dead letters (WebhooksDlq) carry `"redrive": true`: redriven, they replay the delivery.
Delivery ids are derived from the event, so an event offered twice makes one delivery, not two.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from wagate.conditions import Attr
from wagate.domain.crm_webhooks import Delivery, DeliveryStatus, Webhook, delivery_id, delivery_id_floor
from wagate.domain.errors import ConflictError, InvalidInput, NotFound
from wagate.observability import logger
from wagate.ports import Clock, Item, OutgoingMessage, Queues, Table
from wagate.queue_rules import MAX_BATCH, MAX_DELAY_SECONDS
from wagate.store.crm_webhooks import DeliveryRepository, to_delivery

QUEUE = "WebhooksQueue"
DLQ = "WebhooksDlq"
MAX_ATTEMPTS_KEPT = 50


def message(
    tenant_id: str, webhook_id: str, delivery: str, attempt: int, due_at: float, *, replay: bool = False
) -> dict[str, Any]:
    return {
        "tenant_id": tenant_id,
        "webhook_id": webhook_id,
        "delivery_id": delivery,
        "attempt": attempt,
        "due_at": due_at,
        "replay": replay,
    }


def queue_delay(due_at: float, now: float) -> int:
    """The SQS delay that brings a message back at `due_at`, or as close as one hop allows."""
    return max(0, min(MAX_DELAY_SECONDS, math.ceil(due_at - now)))


class DeliveryStore:
    """Creates deliveries (row first, then its message), lists them, and replays them."""

    def __init__(self, table: Table, queues: Queues, clock: Clock) -> None:
        self.table = table
        self.queues = queues
        self.clock = clock
        self.rows = DeliveryRepository(table)

    def create(
        self,
        webhooks: Sequence[Webhook],
        payload: Mapping[str, Any],
        *,
        at: float,
        origin: Sequence[str],
        event_type: str | None = None,
        url_suffix: str = "",
    ) -> list[str]:
        """One delivery per webhook for one event; `origin` names the event (its id and part).
        `event_type` is the wagate event it reports (default: the payload's `type`); `url_suffix` is added
        to the webhook's URL for this delivery (Evolution's webhookByEvents).

        An event offered again finds its rows: their first message is sent again only while no attempt
        was made (the first offer may have stopped between the row and the message); a duplicate message
        is harmless, the attempt claim lets one through.
        """
        body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False, default=str)
        now = self.clock.now()
        messages: list[dict[str, Any]] = []
        for webhook in webhooks:
            ident = delivery_id(at, webhook.tenant_id, webhook.id, *origin)
            fields: Item = {
                "id": ident,
                "tenant_id": webhook.tenant_id,
                "webhook_id": webhook.id,
                "event_type": event_type or str(payload["type"]),
                "status": DeliveryStatus.PENDING.value,
                "body": body,
                "attempt_count": 0,
                "attempts": [],
                "next_attempt_at": now,
                "created_at": now,
                "updated_at": now,
                # No expires_at here: the tenant's retention policy stamps it (store/retention.py).
            }
            if url_suffix:
                fields["url_suffix"] = url_suffix
            if not self.rows.add(webhook.tenant_id, webhook.id, ident, fields):
                found = self.rows.row(webhook.tenant_id, webhook.id, ident)
                if found is None or found["status"] != DeliveryStatus.PENDING or found["attempt_count"]:
                    continue
            messages.append(message(webhook.tenant_id, webhook.id, ident, 1, now))
        self.send(messages)
        return [str(m["delivery_id"]) for m in messages]

    def send(self, messages: Sequence[Mapping[str, Any]], *, now: float | None = None) -> None:
        """Queue attempt messages, each delayed until its `due_at` (or one hop towards it)."""
        now = self.clock.now() if now is None else now
        queue = self.queues.get(QUEUE)
        outgoing = [
            OutgoingMessage(json.dumps(m), delay_seconds=queue_delay(float(m["due_at"]), now))
            for m in messages
        ]
        for start in range(0, len(outgoing), MAX_BATCH):
            queue.send_batch(outgoing[start : start + MAX_BATCH])

    def dead_letter(self, item: Item, error: str | None) -> None:
        """Park a delivery that used every attempt in the DLQ (its depth raises the alarm)."""
        body = {
            "tenant_id": item["tenant_id"],
            "webhook_id": item["webhook_id"],
            "delivery_id": item["id"],
            "redrive": True,
            "attempts": item.get("attempt_count"),
            "error": error,
        }
        self.queues.get(DLQ).send(json.dumps(body))

    def get_item(self, tenant_id: str, webhook_id: str, ident: str) -> Item:
        item = self.rows.row(tenant_id, webhook_id, ident)
        if item is None:
            raise NotFound(
                f"no delivery {ident} for webhook {webhook_id}; list them with "
                f"GET /v1/webhooks/{webhook_id}/deliveries",
                code="delivery_not_found",
            )
        return item

    def list(
        self,
        tenant_id: str,
        webhook_id: str,
        *,
        status: DeliveryStatus | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> tuple[list[Delivery], str | None]:
        """Newest first; with `status`, through the status index, so every page is full."""
        items, next_cursor = self.rows.page(tenant_id, webhook_id, status=status, limit=limit, cursor=cursor)
        return [to_delivery(item) for item in items], next_cursor

    def replay(self, webhook: Webhook, ident: str) -> Delivery:
        """Send a finished delivery once more, now, with the same `webhook-id`. Raises NotFound,
        ConflictError (still pending, or the webhook is disabled)."""
        _require_enabled(webhook)
        item = self.get_item(webhook.tenant_id, webhook.id, ident)
        if item["status"] == DeliveryStatus.PENDING:
            raise ConflictError(
                f"delivery {ident} is still being tried (next attempt at {item.get('next_attempt_at')});"
                " replay it once it is delivered or failed",
                code="delivery_pending",
                details={"next_attempt_at": item.get("next_attempt_at")},
            )
        return self._replay(item)

    def replay_failed(self, webhook: Webhook, *, since: float, limit: int) -> tuple[int, bool]:
        """Replay up to `limit` failed deliveries of events since `since`, oldest first. Returns how many
        were replayed and whether more remain (call again: the replayed ones have left `failed`)."""
        _require_enabled(webhook)
        items, more = self.rows.page(
            webhook.tenant_id,
            webhook.id,
            status=DeliveryStatus.FAILED,
            since_id=delivery_id_floor(since),
            forward=True,
            limit=limit,
        )
        replayed = 0
        for item in items:
            try:
                self._replay(item)
                replayed += 1
            except ConflictError:
                continue  # replayed meanwhile by someone else
        return replayed, more is not None

    def _replay(self, item: Item) -> Delivery:
        now = self.clock.now()
        tenant_id, webhook_id = str(item["tenant_id"]), str(item["webhook_id"])
        attempt = int(item["attempt_count"]) + 1
        try:
            updated = self.rows.update(
                item,
                set={
                    **self.rows.status_fields(tenant_id, webhook_id, DeliveryStatus.PENDING),
                    "next_attempt_at": now,
                    "final": True,  # a replay is one attempt: no retries, no dead letter
                    "updated_at": now,
                },
                remove=["claimed_until", "exhausted"],
                condition=Attr("status").eq(item["status"]) & Attr("attempt_count").eq(attempt - 1),
            )
        except ConflictError as exc:
            raise ConflictError(
                f"delivery {item['id']} changed while replaying it; fetch it and try again",
                code="delivery_changed",
            ) from exc
        self.send([message(tenant_id, webhook_id, str(item["id"]), attempt, now, replay=True)], now=now)
        logger.info("webhook delivery replayed", extra={"delivery_id": item["id"], "attempt": attempt})
        return to_delivery(updated)


def _require_enabled(webhook: Webhook) -> None:
    if not webhook.enabled:
        raise ConflictError(
            f"webhook {webhook.id} is disabled ({webhook.disabled_reason or 'by request'}); "
            'enable it with PATCH {"enabled": true} before replaying',
            code="webhook_disabled",
        )


def parse_message(body: str) -> dict[str, Any]:
    """A queue message, checked enough to act on. Raises InvalidInput (the message goes to the DLQ)."""
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"webhook message is not JSON: {exc}") from exc
    if not isinstance(data, dict) or not all(
        isinstance(data.get(k), str) for k in ("tenant_id", "webhook_id", "delivery_id")
    ):
        raise InvalidInput("webhook message lacks tenant_id, webhook_id or delivery_id")
    return data
