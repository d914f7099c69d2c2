"""/v1/settings/retention: how long the tenant's data is kept (services/retention.py)."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.depends import Depends
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from wagate import compose
from wagate.api.auth import require
from wagate.domain.retention import RetentionPolicy
from wagate.domain.tenants import Principal, Scope
from wagate.services.retention import RetentionService

router = APIGatewayHttpRouter()
Reader = Annotated[Principal, Depends(require(Scope.READ))]
Admin = Annotated[Principal, Depends(require(Scope.ADMIN))]
Retention = Annotated[RetentionService, Depends(compose.retention_service)]


@router.get("/settings/retention", summary="The tenant's retention policy", tags=["settings"])
def get_retention(principal: Reader, retention: Retention) -> RetentionPolicy:
    return retention.policy(principal.tenant_id)


@router.put("/settings/retention", summary="Set the tenant's retention policy", tags=["settings"])
def put_retention(body: RetentionPolicy, principal: Admin, retention: Retention) -> RetentionPolicy:
    """Replaces the policy: a field left out takes its default; null keeps that data until it is erased.
    Applies to data written from now on (what is stored keeps the expiry it was written with)."""
    return retention.replace(principal.tenant_id, body)
