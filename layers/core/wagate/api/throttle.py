"""Per-tenant throttling at the API's door: one tenant's burst cannot take the capacity of the others.

Each authenticated request takes one token from its tenant's bucket (compose's `request_buckets`: the
table on AWS, memory locally; domain/throttle.py has the rule). An empty bucket answers 429
`rate_limited` in the one error shape with `Retry-After` (whole seconds, at least 1). Requests without
a valid key are not counted here (they answer 401; API Gateway's stage limit caps them). If the bucket
cannot be read (the table throttled or unreachable) the request goes through: throttling protects the
service, it must not become the outage.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from wagate import compose
from wagate.api import errors
from wagate.domain.errors import WagateError
from wagate.observability import logger

CODE = "rate_limited"


def check(event: Mapping[str, Any]) -> dict[str, Any] | None:
    """The 429 answer (a Lambda proxy response) when the caller's tenant is over its rate; else None."""
    buckets = compose.services().request_buckets
    if buckets is None:
        return None
    authorizer = ((event.get("requestContext") or {}).get("authorizer") or {}).get("lambda") or {}
    tenant_id = str(authorizer.get("tenant_id") or "")
    if str(authorizer.get("authenticated")) != "true" or not tenant_id:
        return None
    try:
        wait = buckets.take(tenant_id)
    except WagateError as exc:
        logger.warning("request bucket unavailable; request let through", extra={"error": str(exc)})
        return None
    if wait <= 0:
        return None
    settings = compose.ports().settings
    retry_after = max(1, math.ceil(wait))
    response = errors.error_response(
        429,
        CODE,
        f"this tenant is over its {settings.tenant_requests_per_second:g} requests per second "
        f"(burst {settings.tenant_request_burst}); retry after {retry_after} s",
        {
            "requests_per_second": settings.tenant_requests_per_second,
            "burst": settings.tenant_request_burst,
            "retry_after": retry_after,
        },
    )
    return {
        "statusCode": 429,
        "headers": {"Content-Type": "application/json", "Retry-After": str(retry_after)},
        "body": response.body,
        "isBase64Encoded": False,
    }
