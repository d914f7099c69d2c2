"""/v1/audit: the tenant's audit log, newest first, filtered and paged (admin scope). Read-only by design:
no route updates or deletes an entry; retention (/v1/settings/retention) is what removes them."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.depends import Depends
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel, ConfigDict, Field

from wagate import compose
from wagate.api.auth import require
from wagate.domain.audit import AuditEntry
from wagate.domain.instants import Instant
from wagate.domain.tenants import Principal, Scope
from wagate.services.audit import AuditLog

router = APIGatewayHttpRouter()
Admin = Annotated[Principal, Depends(require(Scope.ADMIN))]
Audit = Annotated[AuditLog, Depends(compose.audit_log)]
CURSOR_PATTERN = r"^aud_[0-9A-HJKMNP-TV-Z]{26}$"


class AuditList(BaseModel):
    model_config = ConfigDict(defer_build=True)

    items: list[AuditEntry]
    cursor: str | None = Field(
        None,
        description="Pass as ?cursor= for the next page; null on the last. A page may hold fewer than "
        "`limit` entries and still have a cursor (filters other than actor and target are applied while "
        "reading, a bounded number of entries per call)",
    )


@router.get("/audit", summary="The audit log (newest first)", tags=["audit"])
def list_audit(
    principal: Admin,
    audit: Audit,
    actor: Annotated[str | None, Query(max_length=200, description="A key id, operator or whatsapp")] = None,
    action: Annotated[
        str | None, Query(max_length=200, description="`key.created`, or a route: `POST /v1/sessions`")
    ] = None,
    target: Annotated[str | None, Query(max_length=200, description="A session, key, message ... id")] = None,
    since: Annotated[Instant | None, Query(description="epoch seconds or ISO 8601 with an offset")] = None,
    until: Annotated[Instant | None, Query(description="epoch seconds or ISO 8601 with an offset")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(pattern=CURSOR_PATTERN)] = None,
) -> AuditList:
    page = audit.page(
        principal.tenant_id,
        actor=actor,
        action=action,
        target=target,
        since=since,
        until=until,
        before=cursor,
        limit=limit,
    )
    return AuditList(items=page.entries, cursor=page.cursor)
