"""Lambda authorizer of the HTTP API (payload 2.0, simple responses): API key → tenant and scopes.

It never denies: API Gateway would answer a bare `{"message":"Forbidden"}`. It reports who the caller is
(or why not) in the context, and the API answers 401/403 in wagate's own error shape. Results are cached
per container for a minute, so a revoked key stops working within 60 seconds.
"""

from __future__ import annotations

import hashlib
import threading
import time
from typing import TYPE_CHECKING, Any

from wagate.compose import services
from wagate.domain.errors import Unauthenticated
from wagate.observability import logger, traced
from wagate.services import tenants

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

CACHE_SECONDS = 60.0
_cache: dict[str, tuple[float, dict[str, str]]] = {}
_cache_lock = threading.Lock()


@traced
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    api_key = _presented_key(event.get("headers") or {})
    return {"isAuthorized": True, "context": _resolve(api_key)}


def _presented_key(headers: dict[str, str]) -> str | None:
    lowered = {k.lower(): v for k, v in headers.items()}
    value = lowered.get("authorization", "").strip()
    if value.lower().startswith("bearer "):
        return value[7:].strip() or None
    # `apikey` is how Evolution API clients send theirs (wagate.evolution.access).
    return lowered.get("x-api-key") or lowered.get("apikey") or (value or None)


def _resolve(api_key: str | None) -> dict[str, str]:
    cache_key = hashlib.sha256(api_key.encode()).hexdigest() if api_key else ""
    now = time.monotonic()
    with _cache_lock:
        hit = _cache.get(cache_key)
    if hit is not None and hit[0] > now:
        return hit[1]
    try:
        principal = tenants.authenticate(services().ports.table, api_key)
        context = {
            "authenticated": "true",
            "tenant_id": principal.tenant_id,
            "key_id": principal.key_id,
            "scopes": " ".join(sorted(principal.scopes)),
        }
        if principal.sessions is not None:  # a session-scoped key (ids hold no spaces)
            context["sessions"] = " ".join(sorted(principal.sessions))
    except Unauthenticated as exc:
        logger.info("API key refused", extra={"reason": exc.code})
        context = {"authenticated": "false", "error_code": exc.code, "error_message": exc.message}
    with _cache_lock:
        if len(_cache) > 10_000:  # bounded: unknown keys must not grow it without limit
            _cache.clear()
        _cache[cache_key] = (now + CACHE_SECONDS, context)
    return context
