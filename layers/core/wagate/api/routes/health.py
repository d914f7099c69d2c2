"""GET /health: public liveness and counts (seed 001's shape: status, timestamp, counts)."""

from __future__ import annotations

import datetime as dt

from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel

from wagate import __version__
from wagate.services import tenants
from wagate.wiring import deps

router = APIGatewayHttpRouter()


class Health(BaseModel):
    status: str
    version: str
    timestamp: str
    backend: str
    counts: dict[str, int]


@router.get("/health", summary="Service health", tags=["health"], security=[])
def health() -> Health:
    """Answers 503 in the error shape when the table cannot be read (TransientError)."""
    d = deps()
    counts = {"tenants": tenants.tenant_count(d.table)}
    return Health(
        status="healthy",
        version=__version__,
        timestamp=dt.datetime.fromtimestamp(d.clock.now(), dt.UTC).isoformat().replace("+00:00", "Z"),
        backend=d.settings.backend,
        counts=counts,
    )
