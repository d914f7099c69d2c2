"""Requests to the Evolution surface as API Gateway makes them: the authorizer, then functions/evolution."""

from __future__ import annotations

import base64
import copy
import json
import urllib.parse
import uuid
from types import ModuleType
from typing import Any

from tests.support.lambdas import LambdaContext, load_event
from wagate.evolution import ROUTE_PREFIX


def evolution_event(
    method: str,
    path: str,
    *,
    body: Any = None,
    raw_body: str | None = None,
    query: str = "",
    headers: dict[str, str] | None = None,
    authorizer: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An HTTP API v2 event for `{ROUTE_PREFIX}{path}` (path as Evolution writes it: `/instance/create`),
    shaped like events/evolution-post-instance-create.json: `proxy` holds what follows the prefix."""
    event = copy.deepcopy(load_event("evolution-post-instance-create"))
    full = ROUTE_PREFIX + (path if path != "/" else "")
    event["rawPath"] = full
    event["rawQueryString"] = query
    event["requestContext"]["http"].update(method=method, path=full)
    event["requestContext"]["requestId"] = uuid.uuid4().hex[:16]
    event["headers"] = {"content-type": "application/json", **(headers or {})}
    event["queryStringParameters"] = (
        dict(urllib.parse.parse_qsl(query, keep_blank_values=True)) if query else None
    )
    if event["queryStringParameters"] is None:
        del event["queryStringParameters"]
    proxy = path.lstrip("/")
    if proxy:
        event["pathParameters"] = {"proxy": proxy}
        event["routeKey"] = event["requestContext"]["routeKey"] = f"ANY {ROUTE_PREFIX}/{{proxy+}}"
    else:
        del event["pathParameters"]
        event["routeKey"] = event["requestContext"]["routeKey"] = f"ANY {ROUTE_PREFIX}"
    event["body"] = raw_body if raw_body is not None else (json.dumps(body) if body is not None else None)
    if event["body"] is None:
        del event["body"]
    if authorizer is None:
        event["requestContext"].pop("authorizer", None)
    else:
        event["requestContext"]["authorizer"] = {"lambda": authorizer}
    return event


class EvolutionCaller:
    """`call("POST", "/instance/create", apikey, body={...})` -> (status, JSON body, headers)."""

    def __init__(self, evolution: ModuleType, authorizer: ModuleType) -> None:
        self.evolution = evolution
        self.authorizer = authorizer

    def __call__(
        self, method: str, path: str, apikey: str | None = None, **kwargs: Any
    ) -> tuple[int, Any, dict[str, str]]:
        headers = dict(kwargs.pop("headers", {}))
        if apikey is not None:
            headers["apikey"] = apikey
        authorizer = None
        if path not in ("", "/"):  # the template's root route has no authorizer
            auth_event = load_event("authorizer-request")
            auth_event["headers"] = headers
            verdict = self.authorizer.lambda_handler(auth_event, LambdaContext())
            assert verdict["isAuthorized"] is True
            authorizer = verdict["context"]
        event = evolution_event(method, path, headers=headers, authorizer=authorizer, **kwargs)
        response = self.evolution.lambda_handler(event, LambdaContext())
        raw = response.get("body")
        if raw and response.get("isBase64Encoded"):
            body: Any = base64.b64decode(raw)
        else:
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = raw
        return response["statusCode"], body, response.get("headers") or {}
