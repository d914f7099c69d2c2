"""Who may call what on the Evolution surface, and which wagate session an instance name is.

Evolution authenticates with one `apikey` header holding either the server's global key (everything) or
an instance's token (that instance only; auth.guard.ts). Here:

- the global key is a wagate **tenant admin key** (`wg_...` with the `admin` scope, not limited to
  sessions): it chooses the tenant, so each tenant has its own Evolution "server" and instance names
  are unique per tenant, not per deployment;
- an instance token is the **session-scoped key** `instance/create` makes for the instance's session
  (scopes read and send; returned as `hash`), so it reaches that instance and nothing else;
- any other tenant-wide key works by its scopes: `read` for reads, `send` for sends, `admin` for what
  changes instances and webhooks.

The authorizer reads `apikey` like `Authorization: Bearer` (functions/authorizer), so the principal
arrives the same way as on /v1. Like Evolution, an instance name that does not exist (in this tenant) is
a 404, and one this key may not reach is a 401.
"""

from __future__ import annotations

import enum
from typing import Annotated

from aws_lambda_powertools.event_handler.depends import Depends
from aws_lambda_powertools.event_handler.request import Request

from wagate import compose
from wagate.api.auth import current_principal
from wagate.domain.errors import Unauthenticated
from wagate.domain.sessions import Session
from wagate.domain.tenants import Principal, Scope
from wagate.evolution.errors import EvolutionError

PAGE = 100


@enum.unique
class Need(enum.StrEnum):
    """What a route does to an instance: the scope a tenant-wide key needs for it."""

    READ = "read"
    SEND = "send"
    MANAGE = "admin"  # create, connect, restart, logout, delete, webhook/set


def caller(request: Request) -> Principal:
    """The principal behind the `apikey` header. Raises EvolutionError(401) as Evolution would."""
    try:
        return current_principal(request)
    except Unauthenticated as exc:
        raise EvolutionError(401) from exc


Caller = Annotated[Principal, Depends(caller)]


def is_global(principal: Principal) -> bool:
    """Whether the key is Evolution's global key here: a tenant admin key, not limited to sessions."""
    return principal.sessions is None and principal.can(Scope.ADMIN)


def require_global(principal: Principal, what: str) -> None:
    """Raises EvolutionError: 401 for an instance token (Evolution's answer), 403 for a tenant key
    without the admin scope (saying which key to use)."""
    if principal.sessions is not None:
        raise EvolutionError(401)
    if not principal.can(Scope.ADMIN):
        raise EvolutionError(
            403, f"{what} needs the global API key: a wagate API key of this tenant with the 'admin' scope"
        )


def sessions_named(tenant_id: str, name: str | None = None) -> list[Session]:
    """The tenant's sessions (as the API shows them), those named `name` if given, oldest first."""
    service = compose.session_service()
    found: list[Session] = []
    cursor: str | None = None
    while True:
        page, cursor = service.list(tenant_id, limit=PAGE, cursor=cursor)
        found.extend(s for s in page if name is None or s.name == name)
        if cursor is None:
            return found


def instance(principal: Principal, name: str, need: Need) -> Session:
    """The session named `name` in the caller's tenant, if this key may `need` it.

    Raises EvolutionError: 404 `The "x" instance does not exist`, 401 for another instance's token,
    403 for a tenant-wide key without the scope `need` asks."""
    named = sessions_named(principal.tenant_id, name)
    if not named:
        raise EvolutionError(404, f'The "{name}" instance does not exist')
    session = named[0]
    if principal.sessions is not None:
        if not principal.sees(session.id):
            raise EvolutionError(401)
        if need == Need.SEND and not principal.can(Scope.SEND):
            raise EvolutionError(403, "this instance token lacks the 'send' scope")
        return session
    if not principal.can(Scope(need.value)):
        raise EvolutionError(403, f"this API key lacks the '{need.value}' scope")
    return session
