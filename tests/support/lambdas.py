"""Loads function handlers by path (every function is an `app.py`) and builds events from events/*.json."""

from __future__ import annotations

import base64
import copy
import importlib.util
import json
import urllib.parse
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"


def load_function(name: str) -> ModuleType:
    path = ROOT / "functions" / name / "app.py"
    spec = importlib.util.spec_from_file_location(f"wagate_test_functions.{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_event(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    return event


class LambdaContext:
    function_name = "test"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:test"

    def __init__(self) -> None:
        self.aws_request_id = str(uuid.uuid4())

    def get_remaining_time_in_millis(self) -> int:
        return 29_000


def http_event(
    method: str,
    path: str,
    *,
    body: Any = None,
    raw_body: str | None = None,
    binary_body: bytes | None = None,
    query: str = "",
    headers: dict[str, str] | None = None,
    authorizer: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An HTTP API v2 event shaped like events/api-post-keys.json, for any route."""
    event = copy.deepcopy(load_event("api-post-keys"))
    event["rawPath"] = path
    event["rawQueryString"] = query
    event["requestContext"]["http"].update(method=method, path=path)
    event["requestContext"]["requestId"] = uuid.uuid4().hex[:16]
    event["headers"] = {"content-type": "application/json", **(headers or {})}
    if query:
        # API Gateway hands over decoded values (and comma-joins repeated names).
        event["queryStringParameters"] = dict(urllib.parse.parse_qsl(query, keep_blank_values=True))
    event["body"] = raw_body if raw_body is not None else (json.dumps(body) if body is not None else None)
    if binary_body is not None:  # as API Gateway hands over a body that is not text
        event["body"] = base64.b64encode(binary_body).decode()
        event["isBase64Encoded"] = True
    if event["body"] is None:
        del event["body"]
    if authorizer is None:
        event["requestContext"].pop("authorizer", None)
    else:
        event["requestContext"]["authorizer"] = {"lambda": authorizer}
    return event


class ApiCaller:
    """Runs a request the way API Gateway does: the authorizer first, its context into the API's event."""

    def __init__(self, api: ModuleType, authorizer: ModuleType) -> None:
        self.api = api
        self.authorizer = authorizer

    def __call__(
        self, method: str, path: str, key: str | None = None, **kwargs: Any
    ) -> tuple[int, Any, dict[str, str]]:
        headers = dict(kwargs.pop("headers", {}))
        if key is not None:
            headers["authorization"] = f"Bearer {key}"
        auth_event = load_event("authorizer-request")
        auth_event["headers"] = headers
        verdict = self.authorizer.lambda_handler(auth_event, LambdaContext())
        assert verdict["isAuthorized"] is True
        event = http_event(method, path, headers=headers, authorizer=verdict["context"], **kwargs)
        response = self.api.lambda_handler(event, LambdaContext())
        raw = response.get("body")
        content_type = (response.get("headers") or {}).get("Content-Type", "")
        if raw and response.get("isBase64Encoded"):
            body: Any = base64.b64decode(raw)
        elif raw and content_type.startswith("application/json"):
            body = json.loads(raw)
        else:
            body = raw
        return response["statusCode"], body, response.get("headers") or {}
