"""/v1/pools: number pools (seed 001's campaign assignments); send with `pool` and wagate picks the number.

Scopes: listing and reading take `read` or `send`; creating, replacing and deleting take `admin`.
"""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.depends import Depends
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel, ConfigDict, Field

from wagate import compose
from wagate.api.auth import require, require_any
from wagate.domain.pools import NewPool, Pool, PoolSpec
from wagate.domain.tenants import Principal, Scope
from wagate.services.pools import PoolService

router = APIGatewayHttpRouter()
Pools = Annotated[PoolService, Depends(compose.pool_service)]
Viewer = Annotated[Principal, Depends(require_any(Scope.READ, Scope.SEND))]
Admin = Annotated[Principal, Depends(require(Scope.ADMIN))]


class PoolList(BaseModel):
    model_config = ConfigDict(defer_build=True)

    items: list[Pool]
    cursor: str | None = Field(None, description="Pass as ?cursor= for the next page; null on the last")


@router.post("/pools", summary="Create a number pool", tags=["pools"])
def create_pool(body: NewPool, principal: Admin, service: Pools) -> tuple[dict[str, Any], int]:
    """201. 409 `pool_exists` for a name in use; 422 naming a member that is not one of your sessions."""
    return service.create(principal.tenant_id, body).model_dump(mode="json"), 201


@router.get("/pools", summary="List number pools", tags=["pools"])
def list_pools(
    principal: Viewer,
    service: Pools,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query()] = None,
) -> PoolList:
    items, next_cursor = service.list(principal.tenant_id, limit=limit, cursor=cursor)
    return PoolList(items=items, cursor=next_cursor)


@router.get("/pools/<name>", summary="Get a pool, with each member's status", tags=["pools"])
def get_pool(name: str, principal: Viewer, service: Pools) -> Pool:
    return service.get(principal.tenant_id, name)


@router.put("/pools/<name>", summary="Replace a pool's members", tags=["pools"])
def replace_pool(name: str, body: PoolSpec, principal: Admin, service: Pools) -> Pool:
    return service.replace(principal.tenant_id, name, body)


@router.delete("/pools/<name>", summary="Delete a pool", tags=["pools"])
def delete_pool(name: str, principal: Admin, service: Pools) -> Response[str]:
    service.delete(principal.tenant_id, name)
    return Response(204, None, "")
