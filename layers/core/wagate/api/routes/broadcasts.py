"""/v1/broadcasts: one text or template to up to 10,000 recipients through the paced queue; progress,
pause, resume and cancel.

Scopes: creating and steering take `send`; listing and reading take `read` or `send`. A session-scoped
key broadcasts from its own sessions only (not pools) and sees only their broadcasts.
"""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.depends import Depends
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel, ConfigDict, Field

from wagate import compose
from wagate.api.auth import check_session, require, require_any
from wagate.api.idempotency import idempotent
from wagate.domain.broadcasts import Broadcast, BroadcastRequest
from wagate.domain.errors import Forbidden, NotFound
from wagate.domain.tenants import Principal, Scope
from wagate.services.broadcasts import BroadcastService

router = APIGatewayHttpRouter()
Broadcasts = Annotated[BroadcastService, Depends(compose.broadcast_service)]
Viewer = Annotated[Principal, Depends(require_any(Scope.READ, Scope.SEND))]
Sender = Annotated[Principal, Depends(require(Scope.SEND))]


class BroadcastList(BaseModel):
    model_config = ConfigDict(defer_build=True)

    items: list[Broadcast]
    cursor: str | None = Field(None, description="Pass as ?cursor= for the next page; null on the last")


@router.post("/broadcasts", summary="Broadcast a text or template to many recipients", tags=["broadcasts"])
def create_broadcast(
    body: BroadcastRequest, principal: Sender, service: Broadcasts
) -> tuple[dict[str, Any], int]:
    """202 with the broadcast: its messages are queued as the number sends them, each an ordinary message
    (paced, first-contact caps, statuses and webhooks) carrying `broadcast_id`. 422 `invalid_recipients`
    names the recipients that cannot be sent to (nothing is stored then); a recipient given twice is sent
    once and listed in `rejections`. With `Idempotency-Key`, a retry returns the first answer."""
    if principal.sessions is not None and body.session_id is None:
        raise Forbidden("a session-scoped key broadcasts from its own sessions: give session_id, not a pool")
    check_session(principal, body.session_id)

    def create(tenant_id: str, request: BroadcastRequest, _key: str | None) -> Broadcast:
        return service.create(tenant_id, request)

    broadcast = idempotent(router, create, Broadcast)(principal.tenant_id, body)
    return broadcast.model_dump(mode="json"), 202


@router.get("/broadcasts", summary="List broadcasts (newest first)", tags=["broadcasts"])
def list_broadcasts(
    principal: Viewer,
    service: Broadcasts,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query()] = None,
) -> BroadcastList:
    items, next_cursor = service.list(principal.tenant_id, limit=limit, cursor=cursor)
    return BroadcastList(items=[b for b in items if _sees(principal, b)], cursor=next_cursor)


@router.get("/broadcasts/<broadcast_id>", summary="Get a broadcast and its progress", tags=["broadcasts"])
def get_broadcast(broadcast_id: str, principal: Viewer, service: Broadcasts) -> Broadcast:
    return _seen(principal, service.get(principal.tenant_id, broadcast_id))


@router.post("/broadcasts/<broadcast_id>/pause", summary="Pause a broadcast", tags=["broadcasts"])
def pause_broadcast(broadcast_id: str, principal: Sender, service: Broadcasts) -> Broadcast:
    """No new messages; the ones still queued are taken back and go out on resume (one the connector has
    already claimed still goes). 409 `broadcast_state` unless running."""
    _seen(principal, service.get(principal.tenant_id, broadcast_id))
    return service.pause(principal.tenant_id, broadcast_id)


@router.post("/broadcasts/<broadcast_id>/resume", summary="Resume a paused broadcast", tags=["broadcasts"])
def resume_broadcast(broadcast_id: str, principal: Sender, service: Broadcasts) -> Broadcast:
    """409 `broadcast_state` unless paused."""
    _seen(principal, service.get(principal.tenant_id, broadcast_id))
    return service.resume(principal.tenant_id, broadcast_id)


@router.post("/broadcasts/<broadcast_id>/cancel", summary="Cancel a broadcast", tags=["broadcasts"])
def cancel_broadcast(broadcast_id: str, principal: Sender, service: Broadcasts) -> Broadcast:
    """Stops it for good and cancels its queued messages. 409 `broadcast_not_cancellable` once it is
    completed or cancelled."""
    _seen(principal, service.get(principal.tenant_id, broadcast_id))
    return service.cancel(principal.tenant_id, broadcast_id)


def _sees(principal: Principal, broadcast: Broadcast) -> bool:
    if principal.sessions is None:
        return True
    return broadcast.session_id is not None and principal.sees(broadcast.session_id)


def _seen(principal: Principal, broadcast: Broadcast) -> Broadcast:
    """The broadcast, if the key sees its session: to a session-scoped key, others do not exist."""
    if not _sees(principal, broadcast):
        raise NotFound(f"broadcast {broadcast.id} does not exist")
    return broadcast
