"""Anti-ban pacing over the API: PATCH /v1/sessions/{id} (a number's own), /v1/settings/pacing (a tenant's).

The rules and the store are `wagate.services.pacing_settings` (the connector reads the same service).
"""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.depends import Depends
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel, ConfigDict, Field

from wagate import compose
from wagate.api.auth import check_session, require
from wagate.domain.pacing import PacingOverrides
from wagate.domain.tenants import Principal, Scope
from wagate.services.pacing_settings import PacingSettings, PacingView

router = APIGatewayHttpRouter()
Reader = Annotated[Principal, Depends(require(Scope.READ))]
Admin = Annotated[Principal, Depends(require(Scope.ADMIN))]
Settings = Annotated[PacingSettings, Depends(compose.pacing_settings)]


class SessionPatch(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    pacing: PacingOverrides | None = Field(
        description="Fields to change; a field set to null inherits again; pacing: null clears them all"
    )


@router.patch("/sessions/<session_id>", summary="Change a session (its pacing)", tags=["sessions"])
def patch_session(session_id: str, body: SessionPatch, principal: Admin, settings: Settings) -> PacingView:
    check_session(principal, session_id)
    return settings.patch_session(principal.tenant_id, session_id, body.pacing)


@router.get("/sessions/<session_id>/pacing", summary="A session's pacing", tags=["sessions"])
def session_pacing(session_id: str, principal: Reader, settings: Settings) -> PacingView:
    check_session(principal, session_id)
    return settings.session(principal.tenant_id, session_id)


@router.get("/settings/pacing", summary="The tenant's default pacing", tags=["settings"])
def get_tenant_pacing(principal: Reader, settings: Settings) -> PacingView:
    return settings.tenant(principal.tenant_id)


@router.put("/settings/pacing", summary="Set the tenant's default pacing", tags=["settings"])
def put_tenant_pacing(body: PacingOverrides, principal: Admin, settings: Settings) -> PacingView:
    """Replaces the tenant's overrides: every field left out inherits the server default."""
    return settings.put_tenant(principal.tenant_id, body)
