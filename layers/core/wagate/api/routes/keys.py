"""/v1/keys: a tenant's API keys (admin scope). The secret is shown once, at creation."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.depends import Depends
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from wagate import compose
from wagate.api.auth import require
from wagate.domain.tenants import MAX_KEY_SESSIONS, ApiKey, KeyName, Principal, Scope
from wagate.services import tenants
from wagate.wiring import Deps

router = APIGatewayHttpRouter()
SessionId = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
Admin = Annotated[Principal, Depends(require(Scope.ADMIN))]
Ports = Annotated[Deps, Depends(compose.ports)]


class NewKey(BaseModel):
    model_config = ConfigDict(defer_build=True)

    name: KeyName
    scopes: list[Scope] = Field(min_length=1, description="read, send and/or admin")
    sessions: list[SessionId] | None = Field(
        None,
        min_length=1,
        max_length=MAX_KEY_SESSIONS,
        description="Limit the key to these sessions (an advisor's own number): it sees and sends only "
        "there. Such a key cannot have the admin scope. Omit for all the tenant's sessions.",
    )


class CreatedKey(BaseModel):
    model_config = ConfigDict(defer_build=True)

    key: ApiKey
    secret: str = Field(description="The API key itself. Shown only now: store it.")


class KeyList(BaseModel):
    model_config = ConfigDict(defer_build=True)

    items: list[ApiKey]


@router.post("/keys", summary="Create an API key", tags=["keys"])
def create_key(body: NewKey, principal: Admin, d: Ports) -> tuple[dict[str, Any], int]:
    key, secret = tenants.create_key(
        d.table, d.clock, principal.tenant_id, body.name, body.scopes, sessions=body.sessions
    )
    return CreatedKey(key=key, secret=secret).model_dump(mode="json"), 201


@router.get("/keys", summary="List API keys", tags=["keys"])
def list_keys(principal: Admin, d: Ports) -> KeyList:
    return KeyList(items=tenants.list_keys(d.table, principal.tenant_id))


@router.delete("/keys/<key_id>", summary="Revoke an API key", tags=["keys"])
def revoke_key(key_id: str, principal: Admin, d: Ports) -> Response[str]:
    tenants.revoke_key(d.table, principal.tenant_id, key_id)
    return Response(204, None, "")
