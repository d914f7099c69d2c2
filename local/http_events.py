"""HTTP API payload v2.0: request events, authorizer events and decisions, response mapping (sans I/O).

Shapes follow what API Gateway HTTP APIs really send: lower-case header names with duplicates
comma-joined, cookies moved out of the headers into `cookies`, duplicate query parameters comma-joined,
`body` present only when there is one and base64-encoded unless the content type is text. The path is
delivered percent-decoded (HTTP APIs decode `rawPath` and path parameters, unlike REST APIs).
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import json
import secrets
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from local.intrinsics import LOCAL_ACCOUNT, LOCAL_REGION

MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit for HTTP APIs

_EXECUTE_API = f"arn:aws:execute-api:{LOCAL_REGION}:{LOCAL_ACCOUNT}"
_TEXT_TYPES = ("application/json", "application/xml", "application/javascript", "application/graphql")


@dataclass(frozen=True)
class HttpRequest:
    """What the gateway read from the client, before any route is chosen."""

    method: str
    path: str  # percent-decoded
    query_string: str  # raw, without "?"
    headers: list[tuple[str, str]]  # names lower-case, in arrival order
    body: bytes
    source_ip: str
    server_port: int
    scheme: str = "http"
    protocol: str = "HTTP/1.1"


@dataclass
class HttpResponse:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""


def gateway_error(status: int, message: str) -> HttpResponse:
    """API Gateway's own error responses: a bare, compact JSON message (`{"message":"Not Found"}`)."""
    body = json.dumps({"message": message}, separators=(",", ":")).encode()
    return HttpResponse(status, [("content-type", "application/json")], body)


def new_request_id() -> str:
    """API Gateway request ids look like `JKJaXmPLvHcESHA=`: base64 of 11 random bytes."""
    return base64.b64encode(secrets.token_bytes(11)).decode()


def trace_id(now: float) -> str:
    return f"Root=1-{int(now):08x}-{secrets.token_hex(12)}"


def request_event(
    request: HttpRequest,
    *,
    api_id: str,
    route_key: str,
    path_parameters: Mapping[str, str],
    request_id: str,
    now: float | None = None,
    authorizer_context: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The payload v2.0 event for the route's integration."""
    now = time.time() if now is None else now
    headers, cookies = _merge_headers(request, now)
    domain = headers.get("host", "localhost")
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": request.path,
        "rawQueryString": request.query_string,
    }
    if cookies:
        event["cookies"] = cookies
    event["headers"] = headers
    query = query_parameters(request.query_string)
    if query:
        event["queryStringParameters"] = query
    context: dict[str, Any] = {
        "accountId": LOCAL_ACCOUNT,
        "apiId": api_id,
        "domainName": domain,
        "domainPrefix": domain.split(".")[0].split(":")[0],
        "http": {
            "method": request.method,
            "path": request.path,
            "protocol": request.protocol,
            "sourceIp": request.source_ip,
            "userAgent": headers.get("user-agent", ""),
        },
        "requestId": request_id,
        "routeKey": route_key,
        "stage": "$default",
        "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
        "timeEpoch": int(now * 1000),
    }
    if authorizer_context is not None:
        context["authorizer"] = {"lambda": dict(authorizer_context)}
    event["requestContext"] = context
    if path_parameters:
        event["pathParameters"] = dict(path_parameters)
    if request.body:
        # A "text" body that is not UTF-8 travels base64-encoded, raw, so a signature over it still holds
        binary = not is_text_content_type(headers.get("content-type")) or not _utf8(request.body)
        event["body"] = base64.b64encode(request.body).decode() if binary else request.body.decode()
        event["isBase64Encoded"] = binary
    else:
        event["isBase64Encoded"] = False
    return event


def _utf8(body: bytes) -> bool:
    try:
        body.decode()
    except UnicodeDecodeError:
        return False
    return True


def authorizer_event(route_event: Mapping[str, Any], identity: list[str] | None) -> dict[str, Any]:
    """The payload v2.0 REQUEST authorizer event: the route's event without body, plus routeArn."""
    context = route_event["requestContext"]
    method, path = context["http"]["method"], context["http"]["path"]
    event: dict[str, Any] = {
        "version": "2.0",
        "type": "REQUEST",
        "routeArn": f"{_EXECUTE_API}:{context['apiId']}/$default/{method}{path}",
        "identitySource": identity,
    }
    skipped = ("version", "body", "isBase64Encoded")
    event.update({k: v for k, v in route_event.items() if k not in skipped})
    return event


def identity_values(
    request_event: Mapping[str, Any], headers: Iterable[str], query: Iterable[str]
) -> list[str] | None:
    """The configured identity sources' values; None when one is missing (API Gateway answers 401)."""
    found: list[str] = []
    event_headers = request_event.get("headers") or {}
    event_query = request_event.get("queryStringParameters") or {}
    for name in headers:
        if not event_headers.get(name):
            return None
        found.append(event_headers[name])
    for name in query:
        if not event_query.get(name):
            return None
        found.append(event_query[name])
    return found


class MalformedAuthorizerResponse(ValueError):
    """The authorizer returned something API Gateway would reject (it answers 500)."""


def authorizer_decision(result: Any, *, simple: bool, route_arn: str) -> tuple[bool, dict[str, Any]]:
    """(allowed, context) from an authorizer's result. Raises MalformedAuthorizerResponse."""
    if not isinstance(result, dict):
        raise MalformedAuthorizerResponse(f"authorizer returned {type(result).__name__}")
    context = result.get("context") or {}
    if not isinstance(context, dict):
        raise MalformedAuthorizerResponse("authorizer context must be an object")
    if simple:
        allowed = result.get("isAuthorized")
        if not isinstance(allowed, bool):
            raise MalformedAuthorizerResponse("simple response needs a boolean isAuthorized")
        return allowed, context
    return policy_allows(result.get("policyDocument"), route_arn), context


def policy_allows(document: Any, resource_arn: str) -> bool:
    """IAM policy evaluation, as far as an authorizer policy needs it: an explicit Deny wins."""
    if not isinstance(document, dict):
        raise MalformedAuthorizerResponse("IAM response needs a policyDocument")
    allowed = False
    for statement in document.get("Statement") or []:
        resources = statement.get("Resource") or []
        resources = [resources] if isinstance(resources, str) else resources
        if not any(fnmatch.fnmatchcase(resource_arn, str(r)) for r in resources):
            continue
        if statement.get("Effect") == "Deny":
            return False
        allowed = allowed or statement.get("Effect") == "Allow"
    return allowed


class MalformedIntegrationResponse(ValueError):
    """The function returned a response API Gateway cannot map (it answers 500)."""


def integration_response(result: Any) -> HttpResponse:
    """Map a function's result to HTTP the way payload format 2.0 does. Raises MalformedIntegrationResponse.

    With a `statusCode` the result is a response object; anything else is the body of a 200
    `application/json` response (a str as it is, other values as JSON).
    """
    if not (isinstance(result, dict) and "statusCode" in result):
        body = result if isinstance(result, str) else json.dumps(result)
        return HttpResponse(200, [("content-type", "application/json")], body.encode())
    status = result["statusCode"]
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        raise MalformedIntegrationResponse(f"statusCode {status!r} is not an HTTP status")
    headers: list[tuple[str, str]] = []
    for name, value in (result.get("headers") or {}).items():
        headers.append((str(name).lower(), _header_text(value)))
    for name, values in (result.get("multiValueHeaders") or {}).items():
        headers.extend((str(name).lower(), _header_text(v)) for v in values or [])
    headers.extend(("set-cookie", str(cookie)) for cookie in result.get("cookies") or [])
    raw_body = result.get("body")
    if raw_body is None:
        content = b""
    elif not isinstance(raw_body, str):
        raise MalformedIntegrationResponse("body must be a string")
    elif result.get("isBase64Encoded"):
        try:
            content = base64.b64decode(raw_body, validate=True)
        except binascii.Error as exc:
            raise MalformedIntegrationResponse("isBase64Encoded body is not base64") from exc
    else:
        content = raw_body.encode()
    return HttpResponse(status, headers, content)


def is_text_content_type(content_type: str | None) -> bool:
    """Which bodies HTTP APIs pass as text; everything else (form posts too) arrives base64-encoded."""
    if not content_type:
        return False
    media = content_type.split(";")[0].strip().lower()
    return media.startswith("text/") or media in _TEXT_TYPES or media.endswith(("+json", "+xml"))


def query_parameters(query_string: str) -> dict[str, str]:
    merged: dict[str, list[str]] = {}
    for key, value in parse_qsl(query_string, keep_blank_values=True):
        merged.setdefault(key, []).append(value)
    return {k: ",".join(v) for k, v in merged.items()}


def _merge_headers(request: HttpRequest, now: float) -> tuple[dict[str, str], list[str]]:
    merged: dict[str, list[str]] = {}
    cookies: list[str] = []
    for name, value in request.headers:
        if name == "cookie":
            cookies.extend(c.strip() for c in value.split(";") if c.strip())
        else:
            merged.setdefault(name, []).append(value)
    # API Gateway adds these before the integration sees the request.
    forwarded = merged.pop("x-forwarded-for", [])
    merged["x-forwarded-for"] = [", ".join([*forwarded, request.source_ip])]
    merged["x-forwarded-port"] = [str(request.server_port)]
    merged["x-forwarded-proto"] = [request.scheme]
    merged.setdefault("x-amzn-trace-id", [trace_id(now)])
    if request.body and "content-length" not in merged:
        merged["content-length"] = [str(len(request.body))]
    return {k: ",".join(v) for k, v in merged.items()}, cookies


def _header_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
