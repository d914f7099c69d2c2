"""/v1/webhooks: CRM endpoints that get every event signed (Standard Webhooks), their deliveries, replays.

Every route takes the `admin` scope: a webhook's URL and its deliveries' bodies are as sensitive as the
messages themselves.
"""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.depends import Depends
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel, ConfigDict, Field

from wagate import compose
from wagate.api.auth import require
from wagate.domain.crm_webhooks import CreatedWebhook, Delivery, DeliveryStatus, Webhook
from wagate.domain.errors import InvalidInput
from wagate.domain.instants import Instant
from wagate.domain.numbers import NotBoolean
from wagate.domain.tenants import Principal, Scope
from wagate.services.crm_deliveries import DeliveryStore
from wagate.services.crm_webhooks import NewWebhook, SecretRotation, WebhookChanges, WebhookService
from wagate.store.crm_webhooks import to_delivery

router = APIGatewayHttpRouter()
Webhooks = Annotated[WebhookService, Depends(compose.webhook_service)]
Deliveries = Annotated[DeliveryStore, Depends(compose.delivery_store)]
Admin = Annotated[Principal, Depends(require(Scope.ADMIN))]


class WebhookList(BaseModel):
    model_config = ConfigDict(defer_build=True)

    items: list[Webhook]


class DeliveryList(BaseModel):
    model_config = ConfigDict(defer_build=True)

    items: list[Delivery]
    cursor: str | None = Field(None, description="Pass as ?cursor= for the next page; null on the last")


class BulkReplay(BaseModel):
    model_config = ConfigDict(defer_build=True)

    since: Instant = Field(
        description="Replay failed deliveries of events from this time on (ISO 8601 with an offset, or "
        "epoch seconds)"
    )
    limit: Annotated[int, Field(ge=1, le=500), NotBoolean] = Field(
        100, description="At most this many per call"
    )


class BulkReplayResult(BaseModel):
    model_config = ConfigDict(defer_build=True)

    replayed: int
    more: bool = Field(description="True when more failed deliveries remain: call again")


@router.post(
    "/webhooks", summary="Create a webhook (its signing secret is shown only now)", tags=["webhooks"]
)
def create_webhook(body: NewWebhook, principal: Admin, service: Webhooks) -> tuple[dict[str, Any], int]:
    """Every event is POSTed as `{"type", "timestamp", "data": {"tenant_id", "session_id", ...}}` (with
    the camelCase aliases README lists) and the Standard Webhooks headers `webhook-id`,
    `webhook-timestamp` and `webhook-signature` (`v1,` + base64
    HMAC-SHA256 of `{id}.{timestamp}.{body}` keyed with the base64-decoded part of `secret`): verify
    them with any Standard Webhooks library. Answer 2xx within 5 s; anything else is retried (5 s,
    30 s, 2 min, 10 min, 30 min, 1 h, 2 h, 4 h, 8 h, 8 h, with jitter), then the delivery fails. 410
    Gone disables the webhook. Deliveries can repeat and arrive out of order: deduplicate on
    `webhook-id`, order by `timestamp`. Redirects are not followed.

    422 `invalid_webhook_url` (not https, or not a URL), `webhook_address_not_allowed` (the host is
    private, loopback or reserved), `webhook_unreachable` (the host does not resolve); unknown event
    names are 422 `validation_failed` naming the field. 409 `limit_exceeded` past 20 webhooks."""
    return service.create(principal.tenant_id, body).model_dump(mode="json"), 201


@router.get("/webhooks", summary="List webhooks", tags=["webhooks"])
def list_webhooks(principal: Admin, service: Webhooks) -> WebhookList:
    return WebhookList(items=service.list(principal.tenant_id))


@router.get("/webhooks/<webhook_id>", summary="Get a webhook", tags=["webhooks"])
def get_webhook(webhook_id: str, principal: Admin, service: Webhooks) -> Webhook:
    return service.get(principal.tenant_id, webhook_id)


@router.patch("/webhooks/<webhook_id>", summary="Change a webhook, or enable it again", tags=["webhooks"])
def update_webhook(webhook_id: str, body: WebhookChanges, principal: Admin, service: Webhooks) -> Webhook:
    """Only the fields given change; a new URL is checked like a new webhook's. A webhook is disabled
    when its endpoint answers 410 Gone; `{"enabled": true}` turns it back on."""
    return service.update(principal.tenant_id, webhook_id, body)


@router.delete("/webhooks/<webhook_id>", summary="Delete a webhook", tags=["webhooks"])
def delete_webhook(webhook_id: str, principal: Admin, service: Webhooks) -> Response[str]:
    """Queued attempts are dropped; its delivery history expires after 30 days."""
    service.delete(principal.tenant_id, webhook_id)
    return Response(204, None, "")


@router.post(
    "/webhooks/<webhook_id>/rotate-secret",
    summary="Issue a new signing secret (shown only now); the old one signs beside it for a while",
    tags=["webhooks"],
)
def rotate_webhook_secret(
    webhook_id: str, principal: Admin, service: Webhooks, body: SecretRotation | None = None
) -> CreatedWebhook:
    """From now on every attempt carries two signatures in `webhook-signature` (space-separated, as
    Standard Webhooks allows): the new secret's and, until `previous_secret_expires_at`
    (`overlap_seconds`, default one day, at most 7), the old one's. Standard Webhooks libraries accept a
    request when any signature matches, so switch the CRM to the new secret within the overlap.
    `overlap_seconds: 0` stops the old secret at once (a leaked one). Recorded in the audit log as
    `webhook.secret_rotated`."""
    if body is None and router.current_event.body and router.current_event.json_body is not None:
        # Powertools reads some non-object bodies (`[null, null]`) as "no body": refuse them here.
        raise InvalidInput("the body is a JSON object, or absent", details={"field": "body"})
    return service.rotate_secret(principal.tenant_id, webhook_id, body or SecretRotation())


@router.get("/webhooks/<webhook_id>/deliveries", summary="A webhook's deliveries", tags=["webhooks"])
def list_deliveries(
    webhook_id: str,
    principal: Admin,
    service: Webhooks,
    deliveries: Deliveries,
    status: Annotated[DeliveryStatus | None, Query(description="pending, delivered or failed")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query()] = None,
) -> DeliveryList:
    """Newest first, each with its attempts (status code, latency, error)."""
    service.get(principal.tenant_id, webhook_id)
    items, next_cursor = deliveries.list(
        principal.tenant_id, webhook_id, status=status, limit=limit, cursor=cursor
    )
    return DeliveryList(items=items, cursor=next_cursor)


@router.get("/webhooks/<webhook_id>/deliveries/<delivery_id>", summary="One delivery", tags=["webhooks"])
def get_delivery(
    webhook_id: str, delivery_id: str, principal: Admin, service: Webhooks, deliveries: Deliveries
) -> Delivery:
    service.get(principal.tenant_id, webhook_id)
    return to_delivery(deliveries.get_item(principal.tenant_id, webhook_id, delivery_id))


@router.post(
    "/webhooks/<webhook_id>/deliveries/<delivery_id>/replay",
    summary="Send a delivery again, now",
    tags=["webhooks"],
)
def replay_delivery(
    webhook_id: str, delivery_id: str, principal: Admin, service: Webhooks, deliveries: Deliveries
) -> tuple[dict[str, Any], int]:
    """One more attempt with the same `webhook-id` (deduplicate on it). 409 `delivery_pending` while it
    is still being retried, `webhook_disabled` while the webhook is disabled."""
    webhook = service.get(principal.tenant_id, webhook_id)
    return deliveries.replay(webhook, delivery_id).model_dump(mode="json"), 202


@router.post(
    "/webhooks/<webhook_id>/replay", summary="Replay failed deliveries since a time", tags=["webhooks"]
)
def replay_failed(
    webhook_id: str, body: BulkReplay, principal: Admin, service: Webhooks, deliveries: Deliveries
) -> tuple[dict[str, Any], int]:
    """Oldest first, up to `limit` per call; `more: true` means call again."""
    webhook = service.get(principal.tenant_id, webhook_id)
    replayed, more = deliveries.replay_failed(webhook, since=body.since, limit=body.limit)
    return BulkReplayResult(replayed=replayed, more=more).model_dump(), 202
