"""GET /health: public liveness and counts (seed 001's shape: status, timestamp, counts)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from wagate import __version__
from wagate.api.errors import error_response
from wagate.domain.errors import TransientError
from wagate.services import tenants
from wagate.wiring import deps

router = APIGatewayHttpRouter()


@router.get("/health", summary="Service health", tags=["health"], security=[])
def health() -> Response[Any] | dict[str, Any]:
    d = deps()
    try:
        counts = {"tenants": tenants.tenant_count(d.table)}
    except TransientError as exc:
        return error_response(503, "unhealthy", f"the table is unavailable: {exc.message}")
    return {
        "status": "healthy",
        "version": __version__,
        "timestamp": dt.datetime.fromtimestamp(d.clock.now(), dt.UTC).isoformat().replace("+00:00", "Z"),
        "backend": d.settings.backend,
        "counts": counts,
    }
