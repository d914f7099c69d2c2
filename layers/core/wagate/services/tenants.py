"""Tenants and API keys: create a tenant with its first key, authenticate keys, manage a tenant's keys.

Rows: store/tenants.py (keys and access patterns: store/keys.py).
Keys are 256-bit random secrets, so a plain SHA-256 is enough to store them (no slow password hash).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable

from wagate.domain.errors import InvalidInput, NotFound, Unauthenticated
from wagate.domain.ids import new_id
from wagate.domain.tenants import ALL_SCOPES, ApiKey, Principal, Quotas, Scope, Tenant, tenant_suspended
from wagate.ports import Clock, Table
from wagate.store.sessions import SessionRepository
from wagate.store.tenants import StoredKey, TenantRepository

KEY_PREFIX = "wg_"
CHOSEN_SECRET_MIN = 20
CHOSEN_SECRET = re.compile(rf"[\x21-\x7e]{{{CHOSEN_SECRET_MIN},200}}")
OPERATOR_KEY_PREFIX = "wgo_"  # an operator key: manages tenants (api/routes/operator.py), no tenant's


def _hash(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


def create_tenant(table: Table, clock: Clock, name: str, quotas: Quotas | None = None) -> tuple[Tenant, str]:
    """Creates a tenant and its first key (all scopes). Returns the tenant and the key, shown once."""
    now = clock.now()
    tenant = Tenant(id=new_id("ten", now), name=name, created_at=now, quotas=quotas or Quotas())
    key, stored = _new_key(tenant.id, "default", ALL_SCOPES, now)
    TenantRepository(table).create(tenant, stored)
    return tenant, key


def get_tenant(table: Table, tenant_id: str) -> Tenant:
    tenant = TenantRepository(table).find(tenant_id)
    if tenant is None:
        raise NotFound(f"tenant {tenant_id} does not exist")
    return tenant


def create_key(
    table: Table,
    clock: Clock,
    tenant_id: str,
    name: str,
    scopes: Iterable[Scope],
    sessions: Iterable[str] | None = None,
    secret: str | None = None,
) -> tuple[ApiKey, str]:
    """A new key for an existing tenant. Returns its listing and the secret, shown once.

    `sessions` limits the key to those sessions (they must exist). Such a key cannot have the admin
    scope: admin reaches tenant-wide things (keys, webhooks, the audit log) no session scope can bound.
    `secret` is a caller's own secret instead of a new `wg_` one (an Evolution instance `token`: a
    CRM chooses it): it must be long enough not to be guessed. Raises ConflictError when another key
    already has that secret.
    """
    wanted = frozenset(scopes)
    if not wanted:
        raise InvalidInput("a key needs at least one scope", details={"scopes": sorted(ALL_SCOPES)})
    limited = None if sessions is None else frozenset(sessions)
    if limited is not None:
        if not limited:
            raise InvalidInput("a session-scoped key needs at least one session; omit sessions for all")
        if Scope.ADMIN in wanted:
            raise InvalidInput(
                "a session-scoped key cannot have the admin scope", details={"scopes": ["read", "send"]}
            )
        missing = sorted(s for s in limited if SessionRepository(table).find(tenant_id, s) is None)
        if missing:
            raise InvalidInput("these sessions do not exist", details={"sessions": missing})
    if secret is not None and not CHOSEN_SECRET.fullmatch(secret):
        raise InvalidInput(
            f"a chosen API key must be {CHOSEN_SECRET_MIN}-200 visible ASCII characters (a UUID will do)",
            details={"field": "token"},
        )
    get_tenant(table, tenant_id)
    key, stored = _new_key(tenant_id, name, wanted, clock.now(), limited, secret)
    TenantRepository(table).add_key(stored)
    return stored.key, key


def list_keys(table: Table, tenant_id: str) -> list[ApiKey]:
    return TenantRepository(table).keys_of(tenant_id)


def revoke_key(table: Table, tenant_id: str, key_id: str) -> None:
    """Deletes a key of this tenant. Another tenant's key id is a NotFound, like an unknown one."""
    if not TenantRepository(table).revoke_key(tenant_id, key_id):
        raise NotFound(f"API key {key_id} does not exist")


def authenticate(table: Table, api_key: str | None) -> Principal:
    """The principal behind a presented key. Raises Unauthenticated with a reason a developer can act on,
    and Forbidden (`tenant_suspended`) for a key of a suspended tenant."""
    if not api_key:
        raise Unauthenticated("send your API key as 'Authorization: Bearer wg_...'", code="missing_api_key")
    if len(api_key) > 200:
        raise Unauthenticated("this is not a wagate API key (they start with 'wg_')", code="invalid_api_key")
    digest = _hash(api_key)
    stored = TenantRepository(table).key_by_digest(digest)
    if stored is None and not api_key.startswith(KEY_PREFIX):
        # Keys are `wg_...`, or a secret a CRM chose for an Evolution instance (create_key's `secret`).
        raise Unauthenticated("this is not a wagate API key (they start with 'wg_')", code="invalid_api_key")
    # compare_digest: the lookup already matched, but keep the check constant-time on principle.
    if stored is None or not hmac.compare_digest(stored.digest, digest):
        raise Unauthenticated("this API key is unknown or was revoked", code="invalid_api_key")
    key = stored.key
    if stored.suspended_at is not None:  # marked on every key of a suspended tenant (services/operator.py)
        raise tenant_suspended(key.tenant_id, stored.suspended_at)
    return Principal(
        tenant_id=key.tenant_id,
        key_id=key.id,
        scopes=frozenset(Scope(s) for s in key.scopes),
        sessions=frozenset(key.sessions) if key.sessions is not None else None,
    )


def new_operator_key() -> tuple[str, str]:
    """A new operator key and the SHA-256 (hex) to configure (WAGATE_OPERATOR_KEY_SHA256)."""
    secret = OPERATOR_KEY_PREFIX + secrets.token_urlsafe(32)
    return secret, _hash(secret)


def is_operator_key(api_key: str | None) -> bool:
    return bool(api_key) and str(api_key).startswith(OPERATOR_KEY_PREFIX)


def authenticate_operator(accepted: frozenset[str], api_key: str) -> str:
    """The key id (`op_` + the first hex of its hash) of a configured operator key.
    Raises Unauthenticated (`invalid_operator_key`)."""
    digest = _hash(api_key)
    if len(api_key) > 200 or not any(hmac.compare_digest(digest, known) for known in accepted):
        raise Unauthenticated(
            "this operator key is not one the gateway is configured with (WAGATE_OPERATOR_KEY_SHA256)",
            code="invalid_operator_key",
        )
    return "op_" + digest[:12]


def tenant_count(table: Table) -> int:
    return TenantRepository(table).count()


def _new_key(
    tenant_id: str,
    name: str,
    scopes: Iterable[Scope],
    now: float,
    sessions: frozenset[str] | None = None,
    chosen: str | None = None,
) -> tuple[str, StoredKey]:
    secret = chosen or KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(
        id=new_id("key", now),
        tenant_id=tenant_id,
        name=name,
        scopes=sorted(scopes, key=str),
        prefix=secret[:10] if chosen is None else secret[:4],  # a chosen one may be short: show less
        created_at=now,
        sessions=sorted(sessions) if sessions is not None else None,
    )
    return secret, StoredKey(key, _hash(secret))
