"""POST /v1/realtime/token: a short-lived token with which a dashboard opens the live socket."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.depends import Depends
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel, ConfigDict, Field

from wagate import compose
from wagate.api.auth import require
from wagate.domain.tenants import Principal, Scope
from wagate.services import realtime
from wagate.wiring import Deps

router = APIGatewayHttpRouter()
Reader = Annotated[Principal, Depends(require(Scope.READ))]
Ports = Annotated[Deps, Depends(compose.ports)]


class RealtimeToken(BaseModel):
    model_config = ConfigDict(defer_build=True)

    token: str
    expires_at: float = Field(description="Epoch seconds")
    url: str | None = Field(None, description="Open the socket at url?token=...")


@router.post("/realtime/token", summary="Get a token for the dashboard socket", tags=["realtime"])
def realtime_token(principal: Reader, d: Ports) -> RealtimeToken:
    token, expires_at = realtime.issue_token(
        d.table,
        d.clock,
        principal.tenant_id,
        principal.key_id,
        d.settings.realtime_token_seconds,
        sessions=principal.sessions,
    )
    return RealtimeToken(
        token=token,
        expires_at=expires_at,
        url=d.settings.websocket_url,
    )
