"""Request hygiene before any route code runs: who is calling, then what was sent (type, size, encoding).

The order is the contract: 401 (no usable API key) before anything about the request is judged; then
413 (body over the route's limit), 415 (a body that is not JSON), 400 (not UTF-8, not JSON, numbers that
are not finite), 422 (control characters, naming the field); only then Powertools validates the fields.
The same code runs in Lambda and behind `wagate serve`'s gateway, because both call the same resolver.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import unicodedata
from collections.abc import Mapping
from typing import Any

from wagate.api.auth import check_authenticated
from wagate.api.errors import BadRequest, UnsupportedMediaType
from wagate.domain.errors import InvalidInput, ItemTooLarge

JSON_TYPES = ("application/json",)
# Line breaks and tabs are text; every other C0/C1 control character (NUL, BEL, ESC, DEL ...) is not,
# and neither is a lone UTF-16 surrogate (JSON's "\ud800" decodes to one; it cannot be stored as UTF-8).
_FORBIDDEN = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def takes_multipart(route: Any, event: Mapping[str, Any] | None = None) -> bool:
    """Whether a route's body is a multipart form (File/Form parameters) rather than JSON. A form whose
    files are all optional (Evolution's sendMedia: a `file` part, or the same fields as JSON) is read as
    JSON when the request says it is JSON."""
    from aws_lambda_powertools.event_handler.openapi.params import File, Form

    params = route.dependant.body_params
    if not any(isinstance(param.field_info, Form) for param in params):
        return False
    files = [param for param in params if isinstance(param.field_info, File)]
    if event is None or not files or any(param.required for param in files):
        return True
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    return not headers.get("content-type", "").strip().lower().startswith("application/json")


def check(
    event: Mapping[str, Any], *, public: bool, takes_body: bool, limit: int, multipart: bool = False
) -> dict[str, Any] | None:
    """Raises the request's first problem as a WagateError; returns the event to resolve, its JSON body
    (if any) decoded to text so Powertools reads it as is, or None to resolve `event` unchanged.
    A `multipart` route's body must be multipart/form-data with a boundary; it is handed on base64-encoded
    (its bytes exactly as sent, whatever the gateway thought of their encoding)."""
    if not public:
        context = (event.get("requestContext") or {}).get("authorizer") or {}
        check_authenticated(context.get("lambda") or {})  # raises Unauthenticated
    _check_text("query", event.get("queryStringParameters") or {})
    _check_text("path", event.get("pathParameters") or {})
    raw_body = event.get("body")
    if not raw_body and multipart:
        headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
        _check_multipart(headers.get("content-type"))
        problem = "a multipart/form-data body with a `file` part is required"
        raise InvalidInput(
            f"invalid fields: file: {problem}",
            details={"fields": [{"field": "file", "problem": problem}]},
            code="validation_failed",
        )
    if not raw_body:
        return None
    raw = _raw_bytes(event)
    if len(raw) > limit:
        raise ItemTooLarge(
            f"the request body is {len(raw)} bytes; the limit is {limit}", details={"limit": limit}
        )
    if not takes_body:
        if public or raw.strip() in (b"", b"{}"):
            return None
        # Ignoring it would let a client believe its fields were applied.
        raise InvalidInput(
            "this route takes no body; send none (or {})", details={"field": "body"}, code="unexpected_body"
        )
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    if multipart:
        _check_multipart(headers.get("content-type"))
        return {**event, "headers": headers, "body": base64.b64encode(raw).decode(), "isBase64Encoded": True}
    _check_media_type(headers.get("content-type"))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest(
            f"the request body is not UTF-8 (byte {exc.start} is {raw[exc.start]:#04x})",
            details={"position": exc.start},
        ) from exc
    parsed = parse_json(text)
    if not isinstance(parsed, dict | None):
        # Every body wagate reads is an object (Powertools would read `[null]` as an absent optional one).
        problem = "the body must be a JSON object"
        raise InvalidInput(
            f"invalid fields: body: {problem}",
            details={"fields": [{"field": "body", "problem": problem}]},
            code="validation_failed",
        )
    _check_text("", parsed)
    # Handed on as plain application/json text: Powertools reads no other spelling (+json, upper case).
    headers["content-type"] = "application/json"
    return {**event, "headers": headers, "body": text, "isBase64Encoded": False}


def parse_json(text: str) -> Any:
    """Strict JSON: NaN/Infinity are not JSON, and a number must fit a double (1e309 does not).
    Raises BadRequest saying where."""
    try:
        return json.loads(text, parse_constant=_no_constant, parse_float=_finite_float, parse_int=_int)
    except json.JSONDecodeError as exc:
        raise BadRequest(
            f"the request body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
            details={"line": exc.lineno, "column": exc.colno},
        ) from exc
    except _NotANumber as exc:
        raise BadRequest(f"the request body has a number JSON cannot carry: {exc}") from exc


class _NotANumber(ValueError):
    pass


def _no_constant(name: str) -> Any:
    raise _NotANumber(f"{name} (numbers must be finite)")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NotANumber(f"{text} is out of range")
    return value


def _int(text: str) -> int:
    if len(text) > 30:  # far past any count or id we take; Python refuses > 4300 digits with a ValueError
        raise _NotANumber(f"an integer of {len(text)} digits")
    return int(text)


def _raw_bytes(event: Mapping[str, Any]) -> bytes:
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise BadRequest("the request body could not be decoded") from exc
    return str(body).encode("utf-8", "surrogatepass")


def _check_media_type(content_type: str | None) -> None:
    if content_type is None:
        return  # curl -d without -H: read as JSON, like Powertools does
    media, _, params = content_type.partition(";")
    media = media.strip().lower()
    charset = ""
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip('"').lower()
    json_like = media in JSON_TYPES or (media.startswith("application/") and media.endswith("+json"))
    if not json_like or charset not in ("", "utf-8", "utf8"):
        raise UnsupportedMediaType(
            f"send the body as application/json (UTF-8), not {content_type}",
            details={"content_type": content_type, "accepted": ["application/json"]},
        )


_BOUNDARY = re.compile(r"""boundary=("[^"]{1,70}"|[0-9A-Za-z'()+_,./:=?-]{1,70})(;|\s|$)""", re.IGNORECASE)


def _check_multipart(content_type: str | None) -> None:
    media = (content_type or "").partition(";")[0].strip().lower()
    if media != "multipart/form-data" or not _BOUNDARY.search(content_type or ""):
        raise UnsupportedMediaType(
            f"send the file as multipart/form-data with a boundary, not {content_type}",
            details={"content_type": content_type, "accepted": ["multipart/form-data"]},
        )


def _check_text(where: str, value: Any) -> None:
    """Raises InvalidInput naming the first string (or object key) holding a control character."""
    if isinstance(value, str):
        found = _FORBIDDEN.search(value)
        if found:
            char = found.group()
            name = unicodedata.name(char, "") or ("surrogate" if 0xD800 <= ord(char) <= 0xDFFF else "control")
            field = where or "body"
            raise InvalidInput(
                f"{field} contains a control character (U+{ord(char):04X} {name}) at position "
                f"{found.start()}; only text, tabs and line breaks are accepted",
                details={"field": field, "position": found.start()},
                code="control_character",
            )
    elif isinstance(value, Mapping):
        for key, item in value.items():
            path = f"{where}.{key}" if where else str(key)
            _check_text(path, str(key))
            _check_text(path, item)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_text(f"{where}[{index}]" if where else f"[{index}]", item)
