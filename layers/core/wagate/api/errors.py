"""The API's one error shape `{"error": {"code", "message", "details"}}` and each error class's status."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types

from wagate.domain import errors

STATUS_BY_ERROR: list[tuple[type[errors.WagateError], int]] = [
    # Most specific first: subclasses before their bases.
    (errors.ItemTooLarge, 413),
    (errors.InvalidInput, 422),
    (errors.Unauthenticated, 401),
    (errors.Forbidden, 403),
    (errors.NotFound, 404),
    (errors.ConflictError, 409),
    (errors.QuotaExceeded, 429),
    (errors.LimitExceeded, 409),
    (errors.TransientError, 503),
    (errors.Gone, 410),
]


class BadRequest(errors.InvalidInput):
    """The request itself could not be read (malformed JSON): 400, not 422."""

    code = "malformed_request"


class UnsupportedMediaType(errors.WagateError):
    """A body in a media type the route does not read (it reads application/json): 415."""

    code = "unsupported_media_type"


def status_for(error: errors.WagateError) -> int:
    if isinstance(error, BadRequest):
        return 400
    if isinstance(error, UnsupportedMediaType):
        return 415
    for cls, status in STATUS_BY_ERROR:
        if isinstance(error, cls):
            return status
    return 500


def error_response(status: int, code: str, message: str, details: Any = None) -> Response[str]:
    body = {"error": {"code": code, "message": message, "details": details}}
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(body, default=str),
    )


def from_domain(error: errors.WagateError) -> Response[str]:
    response = error_response(status_for(error), error.code, error.message, error.details)
    retry_after = error.details.get("retry_after") if isinstance(error.details, dict) else None
    if isinstance(error, errors.QuotaExceeded) and isinstance(retry_after, int):
        response.headers["Retry-After"] = str(retry_after)
    return response


def from_validation(problems: list[dict[str, Any]]) -> Response[str]:
    """Pydantic/Powertools validation problems → 400 for unreadable JSON, else 422 naming each field."""
    if any(p.get("type") == "json_invalid" for p in problems):
        return error_response(400, BadRequest.code, "the request body is not valid JSON")
    fields = []
    for problem in problems:
        loc = [str(part) for part in problem.get("loc", ()) if part not in ("body",)]
        field = ".".join(loc) or "body"
        fields.append({"field": field, "problem": _problem(field, problem)})
    text = "; ".join(f"{f['field']}: {f['problem']}" for f in fields)
    return error_response(422, "validation_failed", f"invalid fields: {text}", {"fields": fields})


def _problem(field: str, problem: dict[str, Any]) -> str:
    """Pydantic's message, said plainly where it describes the body as a whole."""
    kind = problem.get("type")
    if field == "body" and kind == "missing":
        return "a JSON object body is required"
    if field == "body" and kind in ("model_attributes_type", "dict_type", "model_type"):
        return "the body must be a JSON object"
    return str(problem.get("msg", "invalid"))
