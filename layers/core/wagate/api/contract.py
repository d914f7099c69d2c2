"""What the OpenAPI says each operation answers: its success status and model, and every error status.

Powertools documents each route as 200 (its return type) plus a 422 in FastAPI's shape, which wagate
never sends. `describe` gives every route its real statuses before the spec is built, from the same
facts the resolver acts on: a secured route can answer 401/403 and 429 (api/throttle.py), a route with
a body 400/413/415 (see api/hygiene.py), a route with a path parameter 404, a state change 409; `finish`
then rewrites the generated spec (the one error shape for 422, public routes without security, the
Idempotency-Key header, Retry-After).
tests/e2e/test_schemathesis.py checks the result against the running API.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from wagate.api.routes.crm_webhooks import BulkReplayResult
from wagate.api.routes.groups import SyncRequested
from wagate.api.routes.keys import CreatedKey
from wagate.api.routes.operator import CreatedTenant, FirstKey
from wagate.domain.broadcasts import Broadcast
from wagate.domain.crm_webhooks import CreatedWebhook, Delivery
from wagate.domain.groups import GroupOperation
from wagate.domain.media import MediaObject
from wagate.domain.messages import Message
from wagate.domain.pools import Pool
from wagate.domain.reminders import ReminderPlan
from wagate.domain.sessions import Session
from wagate.domain.templates import Template
from wagate.services.media_files import PendingUpload
from wagate.services.number_check import NumberCheck

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler.api_gateway import Route


class ErrorDetail(BaseModel):
    model_config = ConfigDict(defer_build=True)

    code: str = Field(description="Stable, machine-readable: see the codes listed with each status")
    message: str = Field(description="For people: what went wrong and what to do")
    details: Any = Field(None, description="Structured specifics (the field, the limit, ...), or null")


class ErrorResponse(BaseModel):
    """Every error wagate answers has this shape."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "error": {
                        "code": "validation_failed",
                        "message": "invalid fields: to: to may contain only digits after an optional '+' ...",
                        "details": {"fields": [{"field": "to", "problem": "..."}]},
                    }
                }
            ]
        },
        defer_build=True,
    )

    error: ErrorDetail


class Accepted(BaseModel):
    model_config = ConfigDict(defer_build=True)

    session_id: str
    action: str
    sandbox: bool


ERRORS: dict[int, str] = {
    400: "The request could not be read: `malformed_request` (not UTF-8, not JSON, NaN/Infinity/1e309)",
    401: "No usable API key: `missing_api_key`, `invalid_api_key`, `invalid_operator_key`",
    403: "The key lacks the scope the route needs: `forbidden`; its tenant is suspended: `tenant_suspended`; "
    "an operator key on a tenant route: `tenant_key_required`; a tenant key on an operator route: "
    "`operator_key_required`",
    404: "Unknown id, or another tenant's: `not_found`, `no_qr_code`, `webhook_not_found`, "
    "`contact_not_found`, `check_not_found`, "
    "`delivery_not_found`, `unknown_template`, `unknown_group`, `media_not_found`, `operation_not_found`",
    409: "A state or version conflict, or a quota used up: `conflict`, `invalid_state`, `limit_exceeded`, "
    "`session_not_connected`, `not_cancellable`, `not_scheduled`, `busy`, `pool_exists`, `template_exists`, "
    "`phone_number_id_taken`, `no_connected_number`, `not_sandbox`, `not_cloud`, `webhook_disabled`, "
    "`media_not_uploaded`, `broadcast_state`, `broadcast_not_cancellable`, "
    "`idempotency_in_progress` (not final: retry after `Retry-After` seconds)",
    413: "The body (or a media file) is over its limit: `too_large`, `media_too_large`",
    415: "The body is not `application/json` (POST /v1/media: not `multipart/form-data`): "
    "`unsupported_media_type`",
    429: "This tenant is over its request rate: `rate_limited`, or a quota of its own: "
    "`daily_message_quota_exceeded`, `number_check_rate_limited`; retry after `Retry-After` seconds",
    422: "Fields are missing or invalid: `validation_failed` (`details.fields` names each), "
    "`invalid_input` and route-specific codes (`details.field` names it), `control_character`, "
    "`unexpected_body`, `idempotency_key_reused`, `media_kind_mismatch`, `media_empty`, "
    "`media_type_not_supported`, `media_url_not_supported`, "
    "`invalid_recipients` (a broadcast's: `details.recipients` names them), "
    "`unsupported_kind` (the session's provider cannot send that kind), `target_not_found`, "
    "`groups_not_supported` (a Cloud API number has no groups), "
    "`target_not_sent`, `not_editable`, `not_deletable`, `template_mismatch` (a Meta template send that "
    "the number's last template sync says Meta would refuse)",
    503: "A dependency is busy: `temporarily_unavailable`, `media_store_unavailable`; retry with backoff. "
    "`media_not_configured`: the operator has not configured media storage",
}

# (method, path) → (status, model) for routes whose success is not a 200 with their return type.
SUCCESS: dict[tuple[str, str], tuple[int, type[BaseModel] | None]] = {
    ("POST", "/v1/keys"): (201, CreatedKey),
    ("POST", "/v1/operator/tenants"): (201, CreatedTenant),
    ("POST", "/v1/operator/tenants/<tenant_id>/keys"): (201, FirstKey),
    ("DELETE", "/v1/keys/<key_id>"): (204, None),
    ("POST", "/v1/messages"): (202, Message),
    ("POST", "/v1/media"): (201, MediaObject),
    ("POST", "/v1/uploads"): (201, PendingUpload),
    ("GET", "/v1/media/<media_id>/content"): (302, None),
    ("POST", "/v1/broadcasts"): (202, Broadcast),
    ("POST", "/v1/pools"): (201, Pool),
    ("DELETE", "/v1/pools/<name>"): (204, None),
    ("POST", "/v1/reminders"): (201, ReminderPlan),
    ("POST", "/v1/sessions"): (201, Session),
    ("PUT", "/v1/sessions/<session_id>/cloud-secrets"): (202, Session),
    ("DELETE", "/v1/sessions/<session_id>"): (204, None),
    ("POST", "/v1/sessions/<session_id>/connect"): (202, Session),
    ("POST", "/v1/sessions/<session_id>/reconnect"): (202, Session),
    ("POST", "/v1/sessions/<session_id>/disconnect"): (202, Session),
    ("POST", "/v1/sessions/<session_id>/logout"): (202, Session),
    ("POST", "/v1/sessions/<session_id>/groups/sync"): (202, SyncRequested),
    ("POST", "/v1/sessions/<session_id>/groups"): (202, GroupOperation),
    ("POST", "/v1/sessions/<session_id>/groups/<group_jid>/participants"): (202, GroupOperation),
    ("PUT", "/v1/sessions/<session_id>/groups/<group_jid>/subject"): (202, GroupOperation),
    ("PUT", "/v1/sessions/<session_id>/groups/<group_jid>/description"): (202, GroupOperation),
    ("POST", "/v1/sessions/<session_id>/groups/<group_jid>/invite-link"): (202, GroupOperation),
    ("POST", "/v1/sessions/<session_id>/groups/<group_jid>/invite-link/revoke"): (202, GroupOperation),
    ("POST", "/v1/sessions/<session_id>/groups/<group_jid>/leave"): (202, GroupOperation),
    ("POST", "/v1/sandbox/sessions/<session_id>/<action>"): (202, Accepted),
    ("POST", "/v1/templates"): (201, Template),
    ("DELETE", "/v1/templates/<name>"): (204, None),
    ("POST", "/v1/webhooks"): (201, CreatedWebhook),
    ("DELETE", "/v1/webhooks/<webhook_id>"): (204, None),
    ("POST", "/v1/webhooks/<webhook_id>/deliveries/<delivery_id>/replay"): (202, Delivery),
    ("POST", "/v1/webhooks/<webhook_id>/replay"): (202, BulkReplayResult),
}
# Routes that take an Idempotency-Key (api/idempotency.py).
IDEMPOTENT = {("POST", "/v1/messages"), ("POST", "/v1/reminders"), ("POST", "/v1/broadcasts")}
# Routes without a path parameter that still look an id up (a session or pool named in the body).
LOOKS_UP = {
    ("POST", "/v1/messages"),
    ("POST", "/v1/reminders"),
    ("GET", "/v1/messages"),
    ("GET", "/v1/insights"),
    ("POST", "/v1/broadcasts"),
    ("POST", "/v1/contacts/check"),
}
# A second success status: a number check not answered yet within the wait is a 202 (same model).
ALSO_SUCCEEDS: dict[tuple[str, str], tuple[int, type[BaseModel]]] = {
    ("POST", "/v1/contacts/check"): (202, NumberCheck),
}
# The QR code comes in the format asked for.
QR_CONTENT = {
    "image/png": {"schema": {"type": "string", "format": "binary"}},
    "image/svg+xml": {"schema": {"type": "string"}},
    "text/plain": {"schema": {"type": "string"}},
}


def statuses(route: Route, *, public: bool) -> set[int]:
    """Every error status `route` can answer."""
    found = {503}
    key = (route.method, route.path)
    if not public:
        found |= {401, 403, 422, 429}
    if route.method in ("POST", "PUT", "PATCH"):
        found |= {400, 413, 415, 422}
    if "<" in route.path or key in LOOKS_UP:
        found.add(404)
    if route.method != "GET" and not public:
        found.add(409)
    if key in IDEMPOTENT:
        found.add(409)
    return found


def describe(route: Route, *, public: bool) -> None:
    """Sets `route.responses` (before Powertools computes the route's dependant from them)."""
    status, model = SUCCESS.get((route.method, route.path), (200, None))
    success: dict[str, Any] = {"description": "Success" if status != 204 else "Done; no body"}
    if model is not None:
        success["content"] = {"application/json": {"model": model}}
    elif status == 204:
        success["content"] = {}
    elif status == 302:
        success = {"description": "Redirect: `Location` is the file's short-lived link", "content": {}}
    responses: dict[int, Any] = {status: success}
    also = ALSO_SUCCEEDS.get((route.method, route.path))
    if also is not None:
        responses[also[0]] = {
            "description": "Accepted: not answered yet; read it with GET /v1/contacts/checks/{id}",
            "content": {"application/json": {"model": also[1]}},
        }
    for code in sorted(statuses(route, public=public)):
        responses[code] = {
            "description": ERRORS[code],
            "content": {"application/json": {"model": ErrorResponse}},
        }
    route.responses = responses


def finish(spec: dict[str, Any], public_paths: frozenset[str]) -> dict[str, Any]:
    """The generated spec, told the rest of the truth."""
    for path, operations in spec.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.get("responses", {})
            for response in responses.values():
                for media in (response.get("content") or {}).values():
                    if media.get("schema", {}).get("$ref", "").endswith("/HTTPValidationError"):
                        media["schema"] = {"$ref": "#/components/schemas/ErrorResponse"}
            if "422" in responses:
                responses["422"]["description"] = ERRORS[422]
            if path in public_paths:
                operation["security"] = []
                responses.pop("422", None)  # Powertools adds it everywhere; public routes take no input
            if path.startswith(OPERATOR_PREFIX):
                operation["security"] = [{"operatorKey": []}]
            if (method.upper(), _powertools_path(path)) in IDEMPOTENT:
                operation.setdefault("parameters", []).append(IDEMPOTENCY_HEADER)
                responses["409"]["headers"] = {
                    "Retry-After": {
                        "description": "With `idempotency_in_progress`: seconds to wait before retrying",
                        "required": False,
                        "schema": {"type": "integer", "minimum": 0},
                    }
                }
            if "429" in responses:
                responses["429"]["headers"] = {
                    "Retry-After": {
                        "description": "Seconds until this tenant's next request (or quota) is admitted",
                        "required": True,
                        "schema": {"type": "integer", "minimum": 1},
                    }
                }
            if "302" in responses:
                responses["302"]["headers"] = {
                    "Location": {"description": "The short-lived link", "schema": {"type": "string"}}
                }
            if path == "/v1/sessions/{session_id}/qr":
                responses["200"]["content"].update(QR_CONTENT)
    schemas = spec.get("components", {}).get("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    return spec


OPERATOR_PREFIX = "/v1/operator/"

IDEMPOTENCY_HEADER = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Any unique string (a UUID) per logical request: a retry with the same key and body "
    "gets the first answer for 24 h; the same key with another body is a 422 `idempotency_key_reused`; "
    "while the first is still running, a 409 `idempotency_in_progress` with `Retry-After`.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
}


def _powertools_path(openapi_path: str) -> str:
    return openapi_path.replace("{", "<").replace("}", ">")
