"""A number's health over the API: GET /v1/sessions/{id}/health (score, risk, signals, slow-down).

The signals and the score are `wagate.services.health` / `wagate.domain.health` (README: Health and
metrics).
"""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.depends import Depends
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from wagate import compose
from wagate.api.auth import check_session, require
from wagate.domain.health import Health
from wagate.domain.tenants import Principal, Scope
from wagate.services.health import HealthService

router = APIGatewayHttpRouter()
Reader = Annotated[Principal, Depends(require(Scope.READ))]
Service = Annotated[HealthService, Depends(compose.health_service)]


@router.get("/sessions/<session_id>/health", summary="A number's health and ban risk", tags=["sessions"])
def session_health(session_id: str, principal: Reader, health: Service) -> Health:
    """Its score (0-100), risk level, the signals over the window and the pacing slow-down applied."""
    check_session(principal, session_id)
    return health.assess(principal.tenant_id, session_id)
