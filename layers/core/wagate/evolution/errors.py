"""Evolution's error answers: `{"status": N, "error": "<reason>", "response": {"message": [...]}}`.

Evolution throws `{status, error, message}` objects (src/exceptions) and its express error handler
answers `{status, error, response: {message}}`; `message` is the list of what the code passed (strings),
or the string "Unauthorized" for a missing or wrong `apikey`. Unknown routes answer 404
`["Cannot GET /path"]`. Evolution itself only uses 400, 401, 403, 404 and 500; wagate's other refusals
(413 body too large, 429 rate limited, 503 try again) keep their status, in this shape.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types

from wagate.api import errors as api_errors
from wagate.domain import errors

REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Payload Too Large",
    415: "Unsupported Media Type",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


class EvolutionError(Exception):
    """An answer in Evolution's words: raise it from a route when Evolution's own text differs from
    wagate's (e.g. `The "x" instance does not exist`)."""

    def __init__(self, status: int, *messages: Any) -> None:
        super().__init__(status, messages)
        self.status = status
        self.messages = list(messages)


def error_response(status: int, messages: list[Any] | str | None) -> Response[str]:
    body = {"status": status, "error": REASONS.get(status, "Error"), "response": {"message": messages}}
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=json.dumps(body))


def from_evolution(error: EvolutionError) -> Response[str]:
    return error_response(error.status, "Unauthorized" if error.status == 401 else error.messages)


def unauthorized() -> Response[str]:
    """What Evolution answers to a missing, unknown or foreign `apikey` (auth.guard.ts), word for word."""
    return error_response(401, "Unauthorized")


def status_for(error: errors.WagateError) -> int:
    """Evolution's status for a wagate error class: its validation is 400 (not 422), and a name in use or
    a limit reached is 403 Forbidden (instance.guard.ts: `This name "x" is already in use.`)."""
    if isinstance(error, errors.ItemTooLarge):
        return 413
    if isinstance(error, errors.InvalidInput):
        return 400
    if isinstance(error, errors.ConflictError | errors.LimitExceeded):
        return 403
    return api_errors.status_for(error)


def from_domain(error: errors.WagateError) -> Response[str]:
    status = status_for(error)
    if status == 401:
        return unauthorized()
    return error_response(status, [error.message])


def from_validation(problems: list[dict[str, Any]]) -> Response[str]:
    """Pydantic's problems as Evolution's jsonschema messages (`instance requires property "x"`, ...)."""
    if any(p.get("type") == "json_invalid" for p in problems):
        return error_response(400, ["the request body is not valid JSON"])
    messages = []
    for problem in problems:
        loc = [str(part) for part in problem.get("loc", ()) if part not in ("body", "query", "path")]
        field = ".".join(loc)
        kind = problem.get("type")
        if kind == "missing":
            parent = ".".join(loc[:-1])
            messages.append(f'{parent or "instance"} requires property "{loc[-1] if loc else "body"}"')
        elif not field:
            messages.append("the body must be a JSON object")
        else:
            text = str(problem.get("msg", "is invalid")).removeprefix("Value error, ")
            messages.append(f"{field} {text}")
    return error_response(400, messages)


def from_wagate_body(status: int, body: str | None) -> Response[str] | None:
    """A refusal wagate's shared request checks answered in wagate's shape (`{"error": {...}}`: body too
    large, not JSON, rate limited), re-said in Evolution's; None when `body` is not one."""
    try:
        data = json.loads(body or "")
    except ValueError:
        return None
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict) or "code" not in error:
        return None
    if status == 401:
        return unauthorized()
    if status == 422:
        details = error.get("details")
        fields = details.get("fields") if isinstance(details, dict) else None
        if isinstance(fields, list) and fields:
            return error_response(400, [f"{f.get('field')}: {f.get('problem')}" for f in fields])
        status = 400
    return error_response(status, [str(error.get("message") or error["code"])])
