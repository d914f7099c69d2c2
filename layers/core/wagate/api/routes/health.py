"""GET /health: public liveness and counts (seed 001's shape: status, timestamp, counts)."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.depends import Depends
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel, ConfigDict, Field

from wagate import __version__, compose
from wagate.services import tenants
from wagate.services.sessions import SessionService
from wagate.wiring import Deps

router = APIGatewayHttpRouter()
Sessions = Annotated[SessionService, Depends(compose.session_service)]
Ports = Annotated[Deps, Depends(compose.ports)]


class Health(BaseModel):
    model_config = ConfigDict(defer_build=True)

    status: str = Field(description="healthy, or degraded when no connector holds some shard")
    version: str
    timestamp: float = Field(description="Epoch seconds, as every time the API returns")
    backend: str
    counts: dict[str, int] = Field(description="tenants")
    sessions: dict[str, int] = Field(description="sessions by status, across tenants")
    connectors: dict[str, int] = Field(description="shards, shards_held by a live connector, live connectors")


@router.get("/health", summary="Service health", tags=["health"], security=[])
def health(sessions: Sessions, d: Ports) -> Health:
    """Answers 503 in the error shape when the table cannot be read (TransientError)."""
    connectors = sessions.connectors()
    return Health(
        status="healthy" if connectors["shards_held"] == connectors["shards"] else "degraded",
        version=__version__,
        timestamp=d.clock.now(),
        backend=d.settings.backend,
        counts={"tenants": tenants.tenant_count(d.table)},
        sessions=sessions.counts_by_status(),
        connectors=connectors,
    )
