"""/v1/operator/tenants: the gateway operator onboards tenants (create with a first key and quotas, list,
change quotas, suspend, resume, delete). Operator keys only (`wgo_...`: api/auth.require_operator)."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.depends import Depends
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel, ConfigDict, Field

from wagate import compose
from wagate.api.auth import Operator, require_operator
from wagate.domain.tenants import ApiKey, KeyName, Quotas, Tenant, TenantName
from wagate.services.operator import TenantAdmin

router = APIGatewayHttpRouter()
Op = Annotated[Operator, Depends(require_operator)]
Admin = Annotated[TenantAdmin, Depends(compose.tenant_admin)]
TenantPath = "/operator/tenants/<tenant_id>"


class NewTenant(BaseModel):
    model_config = ConfigDict(defer_build=True)

    name: TenantName
    quotas: Quotas = Field(default_factory=Quotas, description="Omit (or null fields) for the defaults")


class Usage(BaseModel):
    model_config = ConfigDict(defer_build=True)

    sessions: int = Field(description="Sessions the tenant holds now")
    messages_today: int = Field(description="Messages it had accepted today (UTC), when it has a daily quota")


class TenantView(BaseModel):
    model_config = ConfigDict(defer_build=True)

    tenant: Tenant
    usage: Usage


class FirstKey(BaseModel):
    model_config = ConfigDict(defer_build=True)

    key: ApiKey
    secret: str = Field(description="The tenant's API key itself. Shown only now: hand it to the tenant.")


class CreatedTenant(BaseModel):
    model_config = ConfigDict(defer_build=True)

    id: str = Field(description="The new tenant's id")
    tenant: Tenant
    api_key: FirstKey


class TenantList(BaseModel):
    model_config = ConfigDict(defer_build=True)

    items: list[Tenant]
    cursor: str | None = Field(None, description="Pass as ?cursor= for the next page; null on the last")


class NewTenantKey(BaseModel):
    model_config = ConfigDict(defer_build=True)

    name: KeyName = "operator"


class QuotaChange(BaseModel):
    model_config = ConfigDict(defer_build=True)

    quotas: Quotas


class DeletedTenant(BaseModel):
    model_config = ConfigDict(defer_build=True)

    tenant_id: str
    deleted: dict[str, int] = Field(
        description="Rows removed, by kind (the tenant's keys were destroyed first)"
    )


@router.post("/operator/tenants", summary="Create a tenant and its first API key", tags=["operator"])
def create_tenant(body: NewTenant, _: Op, admin: Admin) -> tuple[dict[str, Any], int]:
    tenant, key, secret = admin.create(body.name, body.quotas)
    created = CreatedTenant(id=tenant.id, tenant=tenant, api_key=FirstKey(key=key, secret=secret))
    return created.model_dump(mode="json"), 201


@router.get("/operator/tenants", summary="List tenants", tags=["operator"])
def list_tenants(
    _: Op,
    admin: Admin,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=2048)] = None,
) -> TenantList:
    items, next_cursor = admin.page(limit=limit, cursor=cursor)
    return TenantList(items=items, cursor=next_cursor)


@router.get(TenantPath, summary="A tenant, with what it uses of its quotas", tags=["operator"])
def get_tenant(tenant_id: str, _: Op, admin: Admin) -> TenantView:
    tenant = admin.get(tenant_id)
    return TenantView(tenant=tenant, usage=Usage(**admin.usage(tenant_id)))


@router.patch(TenantPath, summary="Change a tenant's quotas", tags=["operator"])
def change_quotas(tenant_id: str, body: QuotaChange, _: Op, admin: Admin) -> Tenant:
    return admin.set_quotas(tenant_id, body.quotas)


REPEATABLE = (
    "Repeatable: called again it finishes what a cut-short call (a timeout, a crash) left, and answers 200 "
    "with the tenant; a tenant already there is answered as it is. 409 `busy` while the opposite action "
    "of the same tenant runs (or may still run: up to a minute after a cut-short one); `details.retry_after`."
)


@router.post(
    f"{TenantPath}/suspend",
    summary="Suspend a tenant: keys refused, sessions stopped",
    description=REPEATABLE,
    tags=["operator"],
)
def suspend_tenant(tenant_id: str, _: Op, admin: Admin) -> Tenant:
    return admin.suspend(tenant_id)


@router.post(
    f"{TenantPath}/resume", summary="Resume a suspended tenant", description=REPEATABLE, tags=["operator"]
)
def resume_tenant(tenant_id: str, _: Op, admin: Admin) -> Tenant:
    return admin.resume(tenant_id)


@router.post(f"{TenantPath}/keys", summary="Give a tenant a new admin API key", tags=["operator"])
def create_tenant_key(tenant_id: str, body: NewTenantKey, _: Op, admin: Admin) -> tuple[dict[str, Any], int]:
    key, secret = admin.create_key(tenant_id, body.name)
    return FirstKey(key=key, secret=secret).model_dump(mode="json"), 201


@router.delete(TenantPath, summary="Delete a tenant: crypto-shred, then remove its data", tags=["operator"])
def delete_tenant(tenant_id: str, _: Op, admin: Admin) -> DeletedTenant:
    return DeletedTenant(tenant_id=tenant_id, deleted=admin.delete(tenant_id))
