"""Writes the audit entry of each API request that changes state (and counts failed authentications).

Called by the resolver once a request is answered, whatever the answer: a refused call is worth knowing
about too. Path parameters that are personal data (a phone number) are never written; such a route's
target is the id it answers with (an erasure receipt). A failure to write is logged, never turned into
a failed request: the change it describes has already happened.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from wagate import compose
from wagate.observability import logger
from wagate.services.audit import is_audited, openapi_path

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler.api_gateway import Route

PERSONAL_PARAMS = frozenset({"phone"})


def after(route: Route, event: Mapping[str, Any], result: Mapping[str, Any]) -> None:
    try:
        _record(route, event, result)
    except Exception:
        logger.exception("audit entry not written", extra={"route": route.path})


def _record(route: Route, event: Mapping[str, Any], result: Mapping[str, Any]) -> None:
    status = int(result.get("statusCode") or 0)
    request_context = event.get("requestContext") or {}
    http = request_context.get("http") or {}
    source_ip = http.get("sourceIp")
    authorizer = (request_context.get("authorizer") or {}).get("lambda") or {}
    path = openapi_path(route.path)
    if str(authorizer.get("authenticated")) != "true":
        if status == 401:
            code = str(authorizer.get("error_code") or "missing_api_key")
            compose.services().audit.failed_auth(source_ip, code)
        return
    method = str(http.get("method") or route.method).upper()
    if not is_audited(method, path):
        return
    match = route.rule.match(str(http.get("path") or event.get("rawPath") or ""))
    params = {k: v for k, v in (match.groupdict() if match else {}).items() if k not in PERSONAL_PARAMS}
    compose.services().audit.api_call(
        tenant_id=str(authorizer["tenant_id"]),
        key_id=str(authorizer["key_id"]),
        method=method,
        route=path,
        path_params=params,
        status=status,
        source_ip=source_ip,
        created_id=_answered_id(result) if status in (200, 201, 202) else None,
    )


def _answered_id(result: Mapping[str, Any]) -> str | None:
    """The id a creating call answered with (`id`, or `key.id` for a new API key)."""
    body = result.get("body")
    if not body or result.get("isBase64Encoded"):
        return None
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    if isinstance(data.get("key"), dict):
        data = data["key"]
    found = data.get("id")
    return str(found)[:200] if isinstance(found, str) else None
