"""Who is calling: the principal the authorizer put in the request context, and scope checks for routes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.event_handler.request import Request
from pydantic import BaseModel, ConfigDict

from wagate.domain.errors import Forbidden, NotFound, Unauthenticated
from wagate.domain.tenants import Principal, Scope

OPERATOR_ROUTES = "/v1/operator/tenants"


def _refused(context: dict[str, Any]) -> None:
    """Raises what the authorizer found wrong: 401, or 403 for a key it knows but refuses (a suspended
    tenant's)."""
    message = str(context.get("error_message") or "send your API key as 'Authorization: Bearer wg_...'")
    code = str(context.get("error_code") or "missing_api_key")
    if str(context.get("error_status")) == "403":
        raise Forbidden(message, code=code, details={"tenant_id": context.get("error_tenant_id")})
    raise Unauthenticated(message, code=code)


def check_authenticated(context: dict[str, Any]) -> None:
    """Raises Unauthenticated (or Forbidden) unless the authorizer found a usable key, tenant or operator."""
    if str(context.get("authenticated")) != "true":
        _refused(context)


def principal_from_context(context: dict[str, Any]) -> Principal:
    """Rebuild the principal from the authorizer's context (strings only, as API Gateway passes them).

    The authorizer never denies (API Gateway would answer a bare 403); it reports what it found and
    this side answers 401 (or 403) in wagate's own error shape. An operator key is no tenant's: 403 here.
    """
    if str(context.get("authenticated")) != "true":
        _refused(context)
    if str(context.get("operator")) == "true":
        raise Forbidden(
            f"an operator key only manages tenants ({OPERATOR_ROUTES}); use one of the tenant's API keys",
            code="tenant_key_required",
        )
    scopes = frozenset(
        Scope(s) for s in str(context.get("scopes", "")).split() if s in Scope.__members__.values()
    )
    sessions = context.get("sessions")
    return Principal(
        tenant_id=str(context["tenant_id"]),
        key_id=str(context["key_id"]),
        scopes=scopes,
        sessions=frozenset(str(sessions).split()) if sessions is not None else None,
    )


def current_principal(request: Request) -> Principal:
    request_context = request.resolved_event.get("requestContext") or {}
    authorizer = request_context.get("authorizer") or {}
    return principal_from_context(authorizer.get("lambda") or {})


class Operator(BaseModel):
    """An operator key's caller: manages tenants, sees no tenant's data."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    key_id: str


def require_operator(request: Request) -> Operator:
    """A dependency: the caller, if it presented an operator key (never a tenant's key)."""
    request_context = request.resolved_event.get("requestContext") or {}
    context = (request_context.get("authorizer") or {}).get("lambda") or {}
    if str(context.get("authenticated")) != "true":
        _refused(context)
    if str(context.get("operator")) != "true":
        raise Forbidden(
            "these routes take an operator key (wgo_...), never a tenant's API key",
            code="operator_key_required",
        )
    return Operator(key_id=str(context.get("key_id")))


def require(scope: Scope) -> Callable[[Request], Principal]:
    """A dependency: the caller's principal, if its key has `scope`."""

    def dependency(request: Request) -> Principal:
        principal = current_principal(request)
        if not principal.can(scope):
            raise Forbidden(
                f"this API key lacks the '{scope}' scope",
                details={"required": str(scope), "granted": sorted(str(s) for s in principal.scopes)},
            )
        return principal

    dependency.__name__ = f"require_{scope}"
    return dependency


def require_any(*scopes: Scope) -> Callable[[Request], Principal]:
    """A dependency: the caller's principal, if its key has at least one of `scopes`."""

    def dependency(request: Request) -> Principal:
        principal = current_principal(request)
        if not any(principal.can(scope) for scope in scopes):
            raise Forbidden(
                f"this API key needs one of the scopes: {', '.join(scopes)}",
                details={"required": sorted(scopes), "granted": sorted(str(s) for s in principal.scopes)},
            )
        return principal

    dependency.__name__ = "require_" + "_or_".join(scopes)
    return dependency


def check_session(principal: Principal, session_id: str | None, what: str = "session") -> None:
    """Raises NotFound when a session-scoped key reaches outside its sessions: to that key, another
    session (and everything of it) does not exist, as another tenant's would not."""
    if not principal.sees(session_id):
        raise NotFound(
            f"{what} does not exist" if session_id is None else f"{what} {session_id} does not exist"
        )
