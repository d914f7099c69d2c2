"""The operator's tenants (SaaS onboarding): create one with its first key and quotas, list, change quotas,
suspend, resume, delete. One code path for the operator API (api/routes/operator.py) and `wagate admin`.

Suspending stops the tenant's sessions (disconnect: keys kept) and makes its API keys answer 403
`tenant_suspended` (services/tenants.authenticate; the authorizer caches a verdict for up to a minute).
Resuming starts again the sessions the suspension stopped. Deleting is services/tenant_deletion.py, the
one crypto-shredding path `wagate admin delete-tenant` uses too. Each action is written to the tenant's
own audit log (deletion: to the operator's, since the tenant's log goes with it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wagate.domain.errors import ConflictError, NotFound
from wagate.domain.tenants import ALL_SCOPES, ApiKey, Quotas, Tenant, TenantStatus, utc_day
from wagate.services import tenants
from wagate.store.sessions import SessionRepository
from wagate.store.tenants import TenantRepository

if TYPE_CHECKING:
    from wagate.ports import Clock, Table
    from wagate.services.audit import AuditLog
    from wagate.services.sessions import SessionService
    from wagate.services.tenant_deletion import TenantDeletion


class TenantAdmin:
    def __init__(
        self,
        table: Table,
        clock: Clock,
        sessions: SessionService,
        deletion: TenantDeletion,
        audit: AuditLog,
    ) -> None:
        self.table = table
        self.clock = clock
        self.sessions = sessions
        self.deletion = deletion
        self.audit = audit
        self.rows = TenantRepository(table)

    def create(self, name: str, quotas: Quotas | None = None) -> tuple[Tenant, ApiKey, str]:
        """A new tenant and its first key (every scope). Returns the tenant, the key's listing and the
        key itself (shown once)."""
        tenant, secret = tenants.create_tenant(self.table, self.clock, name, quotas)
        self.audit.operator(tenant.id, "tenant.created", target=tenant.id)
        first = tenants.list_keys(self.table, tenant.id)[0]
        return tenant, first, secret

    def get(self, tenant_id: str) -> Tenant:
        return tenants.get_tenant(self.table, tenant_id)

    def page(self, *, limit: int = 50, cursor: str | None = None) -> tuple[list[Tenant], str | None]:
        return self.rows.page(limit=limit, cursor=cursor)

    def usage(self, tenant_id: str) -> dict[str, int]:
        """What the tenant uses of its quotas now: sessions held, messages accepted today (UTC)."""
        day = utc_day(self.clock.now())
        return {
            "sessions": self.rows.sessions_held(tenant_id),
            "messages_today": self.rows.messages_on(tenant_id, day),
        }

    def set_quotas(self, tenant_id: str, quotas: Quotas) -> Tenant:
        """Replaces the tenant's quotas. Lowering one below what is used refuses nothing already there."""
        self.get(tenant_id)
        tenant = self.rows.change(tenant_id, {"quotas": quotas.model_dump()})
        self.audit.operator(tenant_id, "tenant.quotas_changed", target=tenant_id)
        return tenant

    def create_key(self, tenant_id: str, name: str) -> tuple[ApiKey, str]:
        """Another admin key for the tenant (its first was lost, or revoked)."""
        key, secret = tenants.create_key(self.table, self.clock, tenant_id, name, ALL_SCOPES)
        tenant = self.get(tenant_id)
        if tenant.status == TenantStatus.SUSPENDED:  # refused like its others until resumed
            self.rows.mark_keys(tenant_id, tenant.suspended_at or self.clock.now())
        self.audit.operator(tenant_id, "key.created", target=key.id)
        return key, secret

    def suspend(self, tenant_id: str) -> Tenant:
        """Raises NotFound; ConflictError (`invalid_state`) when already suspended."""
        tenant = self.get(tenant_id)
        if tenant.status == TenantStatus.SUSPENDED:
            raise ConflictError(f"tenant {tenant_id} is already suspended", code="invalid_state")
        records = SessionRepository(self.table).records_of(tenant_id)
        running = [record.session.id for record in records if record.desired != "stopped"]
        now = self.clock.now()
        changed = self.rows.change(
            tenant_id, {"status": TenantStatus.SUSPENDED.value, "suspended_at": now, "stopped": running}
        )
        # Then its keys: from here they are refused, so nothing starts a session while we stop them.
        self.rows.mark_keys(tenant_id, now)
        for session_id in running:
            try:
                self.sessions.disconnect(tenant_id, session_id)
            except NotFound:
                pass  # deleted meanwhile
        self.audit.operator(tenant_id, "tenant.suspended", target=tenant_id)
        return changed

    def resume(self, tenant_id: str) -> Tenant:
        """Its keys work again and the sessions the suspension stopped start again. Raises NotFound;
        ConflictError (`invalid_state`) when it is not suspended."""
        tenant = self.get(tenant_id)
        if tenant.status != TenantStatus.SUSPENDED:
            raise ConflictError(f"tenant {tenant_id} is not suspended", code="invalid_state")
        stopped = self.rows.stopped_sessions(tenant_id)
        changed = self.rows.change(
            tenant_id, {"status": TenantStatus.ACTIVE.value}, remove=("suspended_at", "stopped")
        )
        self.rows.mark_keys(tenant_id, None)
        for session_id in stopped:
            try:
                self.sessions.connect(tenant_id, session_id)
            except NotFound:
                pass
        self.audit.operator(tenant_id, "tenant.resumed", target=tenant_id)
        return changed

    def delete(self, tenant_id: str) -> dict[str, int]:
        """Crypto-shreds and removes the tenant (services/tenant_deletion.py). Raises NotFound."""
        return self.deletion.delete(tenant_id)
