"""Lambda authorizer of the HTTP API (payload 2.0, simple responses): API key → tenant and scopes.

It never denies: API Gateway would answer a bare `{"message":"Forbidden"}`. It reports who the caller is
(or why not) in the context, and the API answers 401/403 in wagate's own error shape. Results are cached
per container for a minute, so a revoked key (or a suspended tenant's) stops working within 60 seconds.
An operator key (`wgo_...`, its hash configured: WAGATE_OPERATOR_KEY_SHA256) is checked against the
settings, never the table, and reaches only the operator routes.
"""

from __future__ import annotations

import hashlib
import threading
import time
from typing import TYPE_CHECKING, Any

from wagate.compose import services
from wagate.domain.errors import Forbidden, Unauthenticated
from wagate.observability import logger, traced
from wagate.services import tenants
from wagate.store.keys import OPERATOR_AUDIT_TENANT

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
        operator = _operator(api_key)
        if operator is not None:
            return _cached(cache_key, now, operator)
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
    except Forbidden as exc:  # a known key the gateway refuses for now (a suspended tenant's): 403
        logger.info("API key refused", extra={"reason": exc.code})
        tenant_id = exc.details.get("tenant_id") if isinstance(exc.details, dict) else None
        context = {
            "authenticated": "false",
            "error_status": "403",
            "error_code": exc.code,
            "error_message": exc.message,
            "error_tenant_id": str(tenant_id or ""),
        }
    return _cached(cache_key, now, context)


def _operator(api_key: str | None) -> dict[str, str] | None:
    """The context of a configured operator key; None for any other key. Raises Unauthenticated for a
    `wgo_` key that is neither configured nor a tenant's (an Evolution token a CRM chose may look so)."""
    if api_key is None or not tenants.is_operator_key(api_key):
        return None
    try:
        key_id = tenants.authenticate_operator(services().ports.settings.operator_key_hashes, api_key)
    except Unauthenticated as refused:
        try:
            tenants.authenticate(services().ports.table, api_key)
        except Unauthenticated:
            raise refused from None
        return None  # a tenant's own key after all: authenticated again below (cheap, and one path)
    return {
        "authenticated": "true",
        "operator": "true",
        # the operator's audit log and request bucket (api/audit.py, api/throttle.py)
        "tenant_id": OPERATOR_AUDIT_TENANT,
        "key_id": key_id,
        "scopes": "",
    }


def _cached(cache_key: str, now: float, context: dict[str, str]) -> dict[str, str]:
    with _cache_lock:
        if len(_cache) > 10_000:  # bounded: unknown keys must not grow it without limit
            _cache.clear()
        _cache[cache_key] = (now + CACHE_SECONDS, context)
    return context
