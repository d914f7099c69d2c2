"""Tenants and API keys: create a tenant with its first key, authenticate keys, manage a tenant's keys.

Storage layout (single table):
    TENANT#{tenant}        / TENANT          the tenant
    APIKEY#{sha256(key)}   / APIKEY          a key, found by the hash of what the caller presents;
                                             gsi1: T#{tenant}#KEYS / {key id}, to list a tenant's keys
    STATS                  / GLOBAL          counters for /health (tenants)
Keys are 256-bit random secrets, so a plain SHA-256 is enough to store them (no slow password hash).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable

from wagate.conditions import Attr, SortKey, item_absent
from wagate.domain.errors import InvalidInput, NotFound, Unauthenticated
from wagate.domain.ids import new_id
from wagate.domain.tenants import ALL_SCOPES, ApiKey, Principal, Scope, Tenant
from wagate.ports import Clock, Put, Table, Update

KEY_PREFIX = "wg_"
STATS_KEY = ("STATS", "GLOBAL")


def _tenant_key(tenant_id: str) -> tuple[str, str]:
    return f"TENANT#{tenant_id}", "TENANT"


def _hash(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


def create_tenant(table: Table, clock: Clock, name: str) -> tuple[Tenant, str]:
    """Creates a tenant and its first key (all scopes). Returns the tenant and the key, shown once."""
    now = clock.now()
    tenant = Tenant(id=new_id("ten", now), name=name, created_at=now)
    pk, sk = _tenant_key(tenant.id)
    key, item = _new_key(tenant.id, "default", ALL_SCOPES, now)
    table.transact_write(
        [
            Put({"pk": pk, "sk": sk, **tenant.model_dump()}, condition=item_absent()),
            Put(item, condition=item_absent()),
            Update(*STATS_KEY, add={"tenants": 1}),
        ]
    )
    return tenant, key


def get_tenant(table: Table, tenant_id: str) -> Tenant:
    item = table.get(*_tenant_key(tenant_id))
    if item is None:
        raise NotFound(f"tenant {tenant_id} does not exist")
    return Tenant.model_validate(item)


def create_key(
    table: Table, clock: Clock, tenant_id: str, name: str, scopes: Iterable[Scope]
) -> tuple[ApiKey, str]:
    """A new key for an existing tenant. Returns its listing and the secret, shown once."""
    wanted = frozenset(scopes)
    if not wanted:
        raise InvalidInput("a key needs at least one scope", details={"scopes": sorted(ALL_SCOPES)})
    get_tenant(table, tenant_id)
    key, item = _new_key(tenant_id, name, wanted, clock.now())
    table.put(item, condition=item_absent())
    return _listing(item), key


def list_keys(table: Table, tenant_id: str) -> list[ApiKey]:
    keys: list[ApiKey] = []
    cursor: str | None = None
    while True:
        page = table.query(f"T#{tenant_id}#KEYS", index="gsi1", cursor=cursor)
        keys.extend(_listing(item) for item in page.items)
        if page.cursor is None:
            return keys
        cursor = page.cursor


def revoke_key(table: Table, tenant_id: str, key_id: str) -> None:
    """Deletes a key of this tenant. Another tenant's key id is a NotFound, like an unknown one."""
    page = table.query(f"T#{tenant_id}#KEYS", index="gsi1", sk=SortKey.eq(key_id))
    if not page.items:
        raise NotFound(f"API key {key_id} does not exist")
    item = page.items[0]
    table.delete(item["pk"], item["sk"], condition=Attr("tenant_id").eq(tenant_id))


def authenticate(table: Table, api_key: str | None) -> Principal:
    """The principal behind a presented key. Raises Unauthenticated with a reason a developer can act on."""
    if not api_key:
        raise Unauthenticated("send your API key as 'Authorization: Bearer wg_...'", code="missing_api_key")
    if not api_key.startswith(KEY_PREFIX) or len(api_key) > 200:
        raise Unauthenticated("this is not a wagate API key (they start with 'wg_')", code="invalid_api_key")
    digest = _hash(api_key)
    item = table.get(f"APIKEY#{digest}", "APIKEY")
    # compare_digest: the lookup already matched, but keep the check constant-time on principle.
    if item is None or not hmac.compare_digest(str(item.get("hash", "")), digest):
        raise Unauthenticated("this API key is unknown or was revoked", code="invalid_api_key")
    return Principal(
        tenant_id=item["tenant_id"], key_id=item["id"], scopes=frozenset(Scope(s) for s in item["scopes"])
    )


def tenant_count(table: Table) -> int:
    stats = table.get(*STATS_KEY)
    return int(stats.get("tenants", 0)) if stats else 0


def _new_key(tenant_id: str, name: str, scopes: Iterable[Scope], now: float) -> tuple[str, dict[str, object]]:
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    digest = _hash(secret)
    key_id = new_id("key", now)
    item: dict[str, object] = {
        "pk": f"APIKEY#{digest}",
        "sk": "APIKEY",
        "gsi1pk": f"T#{tenant_id}#KEYS",
        "gsi1sk": key_id,
        "id": key_id,
        "hash": digest,
        "tenant_id": tenant_id,
        "name": name,
        "scopes": sorted(str(s) for s in scopes),
        "prefix": secret[:10],
        "created_at": now,
    }
    return secret, item


def _listing(item: dict[str, object]) -> ApiKey:
    return ApiKey.model_validate(item)
