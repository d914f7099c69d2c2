"""The operator's tenants (SaaS onboarding): create one with its first key and quotas, list, change quotas,
suspend, resume, delete. One code path for the operator API (api/routes/operator.py) and `wagate admin`.

Suspending stops the tenant's sessions (disconnect: keys kept) and makes its API keys answer 403
`tenant_suspended` (services/tenants.authenticate; the authorizer caches a verdict for up to a minute).
A suspended tenant sends nothing, whatever it had queued: its running broadcasts pause (status_reason
`tenant_suspended`, their queued messages taken back), and every session row (and session lease row) is
marked `suspended_at`, the one signal the send paths read anyway: the Cloud send Lambda reads the session
row before each send, the connector's claim transaction checks the lease row, and POST /v1/messages and
connect read the session row (so the authorizer's minute of cached verdicts cannot send or start
anything). A message that would go out fails with reason `tenant_suspended` (retryable) rather than
waiting: see README "Suspending a tenant" for why.
Resuming removes the marks, starts again the sessions the suspension stopped and resumes the broadcasts it
paused. Deleting is services/tenant_deletion.py, the one crypto-shredding path `wagate admin
delete-tenant` uses too. Each action is written to the tenant's own audit log (deletion: to the
operator's, since the tenant's log goes with it).

Suspend and resume are crash-resumable and repeatable (services/suspension.py runs their steps): called
again, they finish what a cut-short call left; a tenant already suspended (or active) is answered as it
is. The suspension's steps, in this order: its keys marked (from then on nothing starts a session while
the others are stopped); its running broadcasts paused (their queued messages are taken back, sent on
resume, rather than failed by the marks that follow); every session and lease row marked (read after the
keys: a session created just before by a key is marked too); the running sessions disconnected. The
resume's: keys, then the marks removed (connect refuses a marked session), the sessions started, the
broadcasts resumed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wagate.domain.tenants import ALL_SCOPES, ApiKey, Quotas, Tenant, TenantChange, TenantStatus, utc_day
from wagate.services import tenants
from wagate.store.tenants import TenantRepository

if TYPE_CHECKING:
    from wagate.ports import Clock, Table
    from wagate.services.audit import AuditLog
    from wagate.services.suspension import Suspensions
    from wagate.services.tenant_deletion import TenantDeletion


class TenantAdmin:
    def __init__(
        self,
        table: Table,
        clock: Clock,
        suspensions: Suspensions,
        deletion: TenantDeletion,
        audit: AuditLog,
    ) -> None:
        self.table = table
        self.clock = clock
        self.suspensions = suspensions
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
        """Suspends the tenant, or finishes a suspension cut short; a suspended tenant as it is. Raises
        NotFound; ConflictError (`busy`) while a resume of it runs."""
        return self.suspensions.run(tenant_id, TenantChange.SUSPEND)

    def resume(self, tenant_id: str) -> Tenant:
        """Its keys work again and the sessions the suspension stopped start again, or finishes a resume
        cut short; an active tenant as it is. Raises NotFound; ConflictError (`busy`) while a suspension of
        it runs."""
        return self.suspensions.run(tenant_id, TenantChange.RESUME)

    def delete(self, tenant_id: str) -> dict[str, int]:
        """Crypto-shreds and removes the tenant (services/tenant_deletion.py). Raises NotFound."""
        return self.deletion.delete(tenant_id)
