"""/v1/sessions/{id}/groups: the WhatsApp groups a number is in (seed 002's workshops), and syncing them.

Scopes: listing takes `read` or `send`; asking for a sync takes `send` or `admin` (a key that sends to
groups may refresh the list its sends are checked against). Sending to a group (POST /v1/messages): once a
number's groups have been synced, a group it is not in is refused (422 `unknown_group`); before its first
sync nothing is known, so any well-formed group id is accepted and the connector has the last word.
"""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.depends import Depends
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel, Field

from wagate import compose
from wagate.api.auth import check_session, require_any
from wagate.domain.groups import Group
from wagate.domain.tenants import Principal, Scope
from wagate.services.groups import GroupService

router = APIGatewayHttpRouter()
Groups = Annotated[GroupService, Depends(compose.group_service)]
Viewer = Annotated[Principal, Depends(require_any(Scope.READ, Scope.SEND))]
Syncer = Annotated[Principal, Depends(require_any(Scope.SEND, Scope.ADMIN))]


class GroupList(BaseModel):
    items: list[Group]
    synced_at: float | None = Field(description="When the last sync landed; null if the groups never were")
    cursor: str | None = Field(None, description="Pass as ?cursor= for the next page; null on the last")


class SyncRequested(BaseModel):
    session_id: str
    status: str = Field("requested", description="The new list lands in a few seconds (`groups_synced`)")
    last_synced_at: float | None = Field(description="When the previous sync landed")


@router.post(
    "/sessions/<session_id>/groups/sync", summary="Ask the number to list its groups", tags=["groups"]
)
def sync_groups(session_id: str, principal: Syncer, service: Groups) -> tuple[dict[str, Any], int]:
    """202; the list is replaced when the connector reports it (dashboards get `groups_synced`).
    409 `session_not_connected` unless the session is connected."""
    check_session(principal, session_id)
    last = service.request_sync(principal.tenant_id, session_id)
    return SyncRequested(session_id=session_id, last_synced_at=last.synced_at).model_dump(mode="json"), 202


@router.get("/sessions/<session_id>/groups", summary="The number's groups (as last synced)", tags=["groups"])
def list_groups(
    session_id: str,
    principal: Viewer,
    service: Groups,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[str | None, Query()] = None,
) -> GroupList:
    check_session(principal, session_id)
    groups, sync, next_cursor = service.list(principal.tenant_id, session_id, limit=limit, cursor=cursor)
    return GroupList(items=groups, synced_at=sync.synced_at, cursor=next_cursor)
