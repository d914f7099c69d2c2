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
delete-tenant` uses too. Each action is written to the tenant's
own audit log (deletion: to the operator's, since the tenant's log goes with it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from wagate.domain.errors import ConflictError, NotFound
from wagate.domain.sessions import PERMANENT
from wagate.domain.tenants import (
    ALL_SCOPES,
    SUSPENDED_CODE,
    ApiKey,
    Quotas,
    Tenant,
    TenantStatus,
    utc_day,
)
from wagate.services import tenants
from wagate.store.leases import LeaseRepository
from wagate.store.sessions import SessionRepository
from wagate.store.tenants import TenantRepository

if TYPE_CHECKING:
    from wagate.ports import Clock, Table
    from wagate.services.audit import AuditLog
    from wagate.services.broadcasts import BroadcastService
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
        broadcasts: Callable[[], BroadcastService],
    ) -> None:
        self.table = table
        self.clock = clock
        self.sessions = sessions
        self.deletion = deletion
        self.audit = audit
        self.broadcasts = broadcasts  # built when a suspension needs it
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
        # Logged out, banned or failed ones are not running: a resume must not start them over (at pending,
        # showing QR codes nobody asked for).
        running = [r.session.id for r in records if r.desired != "stopped" and r.status not in PERMANENT]
        now = self.clock.now()
        changed = self.rows.change(
            tenant_id, {"status": TenantStatus.SUSPENDED.value, "suspended_at": now, "stopped": running}
        )
        # Then its keys: from here they are refused, so nothing starts a session while we stop them.
        self.rows.mark_keys(tenant_id, now)
        # Broadcasts first: their queued messages are taken back (sent on resume) rather than failed by
        # the marks below.
        self.broadcasts().pause_all(tenant_id, SUSPENDED_CODE)
        # Read again after the keys: a session created just before by a key is marked too.
        self._mark(tenant_id, now)
        for session_id in running:
            try:
                self.sessions.disconnect(tenant_id, session_id, reason=SUSPENDED_CODE)
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
        # Every session's marks (not only the stopped ones'), before connect, which refuses a marked one.
        self._mark(tenant_id, None)
        for session_id in stopped:
            try:
                self.sessions.connect(tenant_id, session_id)
            except NotFound:
                pass
        self.broadcasts().resume_all(tenant_id, SUSPENDED_CODE)
        self.audit.operator(tenant_id, "tenant.resumed", target=tenant_id)
        return changed

    def _mark(self, tenant_id: str, suspended_at: float | None) -> None:
        """The suspension on each session row and session lease row of the tenant (None: removed)."""
        sessions, leases = SessionRepository(self.table), LeaseRepository(self.table)
        for session_id in [record.session.id for record in sessions.records_of(tenant_id)]:
            sessions.mark_suspended(tenant_id, session_id, suspended_at)
            leases.mark_suspended(tenant_id, session_id, suspended_at)

    def delete(self, tenant_id: str) -> dict[str, int]:
        """Crypto-shreds and removes the tenant (services/tenant_deletion.py). Raises NotFound."""
        return self.deletion.delete(tenant_id)
