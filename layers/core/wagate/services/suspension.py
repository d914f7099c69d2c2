"""Suspending and resuming a tenant as crash-resumable runs: each is a fixed list of idempotent steps whose
progress is written on the tenant row, so calling it again finishes what a cut-short call (a Lambda
timeout, a crash) left. What the steps do and why in that order: services/operator.py.

The first write of a run sets the tenant's status to where it goes (suspended or active) and `pending`
(store/tenants.py has the fields); the last removes `pending`. A call finding:
    nothing pending, the status already where it goes     nothing to do: the tenant (a repeat is a 200)
    its own action pending                                 carries on from the recorded step (if the first
                                                           call still runs, both do: every step is
                                                           idempotent and goes the same way)
    the other action pending, alive (`pending_until`)      409 `busy`: a suspend and a resume at once would
                                                           undo each other's writes
    the other action pending, no longer alive              takes over (a new run, from its first step)
A run pushes `pending_until` on at each step and every BATCH sessions; a run that finds another one took
over stops with 409 `busy`.

Which sessions the suspension stopped (the resume starts them again) is marked on each session row
(`suspension_stopped`), in the same write as its suspension mark, for the sessions running then: the
marking step comes before any is stopped, so a repeat of it judges the rest as the first call would,
and a repeat never mistakes the sessions it stopped itself for ones a person stopped. Only the resume
removes the mark, as it starts each one, so a suspend taking over a cut-short resume keeps those it had not
started yet. (Tenants suspended before this version have them as a `stopped` list on the tenant row: the
resume honours it too.)
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from wagate.domain.errors import ConflictError, NotFound
from wagate.domain.sessions import PERMANENT
from wagate.domain.tenants import SUSPENDED_CODE, Tenant, TenantChange, TenantStatus
from wagate.store.leases import LeaseRepository
from wagate.store.sessions import SessionRepository
from wagate.store.tenants import PENDING_FIELDS, TenantRepository, pending_run

if TYPE_CHECKING:
    from wagate.ports import Clock, Item, Table
    from wagate.services.audit import AuditLog
    from wagate.services.broadcasts import BroadcastService
    from wagate.services.sessions import SessionService

# A run counts as alive this long after its last progress write: over the API function's 29 s timeout, so
# only a run that was cut short is taken over. (`wagate admin` has no timeout: it writes progress often.)
LEASE_SECONDS = 60.0
BATCH = 20  # sessions between two progress writes within a step
LEGACY_STOPPED = "stopped"  # the tenant row's list of the sessions a suspension stopped, before the marks
TARGET = {TenantChange.SUSPEND: TenantStatus.SUSPENDED, TenantChange.RESUME: TenantStatus.ACTIVE}


@dataclass
class _Run:
    tenant_id: str
    action: TenantChange
    id: str
    step: int
    after: str | None
    suspended_at: float | None
    legacy_stopped: tuple[str, ...] = ()  # a suspension of before the session marks (tenant row `stopped`)


class _Settled(Exception):
    """The run ended elsewhere: a copy of the call finished it first."""

    def __init__(self, tenant: Tenant) -> None:
        self.tenant = tenant


class Suspensions:
    def __init__(
        self,
        table: Table,
        clock: Clock,
        sessions: SessionService,
        audit: AuditLog,
        broadcasts: Callable[[], BroadcastService],
    ) -> None:
        self.clock = clock
        self.sessions = sessions
        self.audit = audit
        self.broadcasts = broadcasts  # built when a run needs it
        self.rows = TenantRepository(table)
        self.session_rows = SessionRepository(table)
        self.leases = LeaseRepository(table)
        self.steps: dict[TenantChange, list[Callable[[_Run], None]]] = {
            TenantChange.SUSPEND: [
                self._mark_keys,
                self._pause_broadcasts,
                self._mark_sessions,
                self._stop_sessions,
                self._audit,
            ],
            TenantChange.RESUME: [
                self._mark_keys,
                self._mark_sessions,
                self._start_sessions,
                self._resume_broadcasts,
                self._audit,
            ],
        }

    def run(self, tenant_id: str, action: TenantChange) -> Tenant:
        """Suspends or resumes the tenant, or finishes doing so. Raises NotFound; ConflictError (`busy`)
        while the other action runs."""
        started = self._begin(tenant_id, action)
        if isinstance(started, Tenant):
            return started
        run = started
        try:
            for index, step in enumerate(self.steps[action]):
                if index < run.step:
                    continue  # done by the call this one finishes
                step(run)
                run.step, run.after = index + 1, None
                self._progress(run)
            return self._finish(run)
        except _Settled as settled:
            return settled.tenant

    # ---- the run's bookkeeping ----------------------------------------------------------------------

    def _begin(self, tenant_id: str, action: TenantChange) -> _Run | Tenant:
        for _ in range(3):  # another call may write the row between our read and our write
            item = self.rows.row(tenant_id)
            if item is None:
                raise NotFound(f"tenant {tenant_id} does not exist")
            tenant = Tenant.model_validate(item)
            pending = pending_run(item)
            if pending is not None and pending.action is action:
                run = _Run(tenant_id, action, pending.id, pending.step, pending.after, pending.suspended_at)
                run.legacy_stopped = _legacy_stopped(item)
                return run
            if pending is None and tenant.status is TARGET[action]:
                return tenant
            now = self.clock.now()
            if pending is not None and pending.until > now:
                raise _busy(tenant_id, pending.action, pending.until - now)
            run = self._new_run(tenant_id, action, item, now)
            changes: dict[str, Any] = {
                "status": TARGET[action].value,
                "pending": action.value,
                "pending_id": run.id,
                "pending_step": 0,
                "pending_until": now + LEASE_SECONDS,
            }
            if action is TenantChange.SUSPEND:
                changes["suspended_at"] = run.suspended_at
            try:
                self.rows.begin_run(item, changes, remove=("pending_after",))
            except ConflictError:
                continue
            return run
        raise ConflictError(f"tenant {tenant_id} is changing too fast; retry", code="busy")

    def _new_run(self, tenant_id: str, action: TenantChange, item: Item, now: float) -> _Run:
        run_id = secrets.token_hex(8)
        if action is TenantChange.SUSPEND:
            return _Run(tenant_id, action, run_id, 0, None, now)
        at = item.get("suspended_at")
        run = _Run(tenant_id, action, run_id, 0, None, float(at) if at is not None else None)
        run.legacy_stopped = _legacy_stopped(item)
        return run

    def _progress(self, run: _Run) -> None:
        changes: dict[str, Any] = {
            "pending_step": run.step,
            "pending_until": self.clock.now() + LEASE_SECONDS,
        }
        if run.after is not None:
            changes["pending_after"] = run.after
        remove = ("pending_after",) if run.after is None else ()
        if self.rows.run_progress(run.tenant_id, run.id, changes, remove) is None:
            raise _Settled(self._settled(run))

    def _finish(self, run: _Run) -> Tenant:
        remove: tuple[str, ...] = PENDING_FIELDS
        if run.action is TenantChange.RESUME:
            remove = (*remove, "suspended_at", LEGACY_STOPPED)
        item = self.rows.run_progress(run.tenant_id, run.id, {}, remove)
        return Tenant.model_validate(item) if item is not None else self._settled(run)

    def _settled(self, run: _Run) -> Tenant:
        """The row no longer holds our run: finished by a copy of this call (fine), or taken over."""
        item = self.rows.row(run.tenant_id)
        if item is None:
            raise NotFound(f"tenant {run.tenant_id} does not exist")
        tenant = Tenant.model_validate(item)
        pending = pending_run(item)
        if pending is None and tenant.status is TARGET[run.action]:
            return tenant
        other = pending.action if pending is not None else None
        raise ConflictError(
            f"a {other or 'change'} of tenant {run.tenant_id} started meanwhile; this {run.action} stopped",
            code="busy",
            details={"pending": other},
        )

    def _each(self, run: _Run, session_ids: Iterable[str], act: Callable[[str], None]) -> None:
        """`act` on each session in id order, from where a cut-short run of this step got to."""
        done = 0
        for session_id in sorted(set(session_ids)):
            if run.after is not None and session_id <= run.after:
                continue
            act(session_id)
            done += 1
            if done % BATCH == 0:
                run.after = session_id
                self._progress(run)

    # ---- the steps (each idempotent) ----------------------------------------------------------------

    def _mark_keys(self, run: _Run) -> None:
        at = run.suspended_at if run.action is TenantChange.SUSPEND else None
        self.rows.mark_keys(run.tenant_id, at)

    def _pause_broadcasts(self, run: _Run) -> None:
        self.broadcasts().pause_all(run.tenant_id, SUSPENDED_CODE)

    def _resume_broadcasts(self, run: _Run) -> None:
        self.broadcasts().resume_all(run.tenant_id, SUSPENDED_CODE)

    def _mark_sessions(self, run: _Run) -> None:
        suspending = run.action is TenantChange.SUSPEND
        at = run.suspended_at if suspending else None
        records = {r.session.id: r for r in self.session_rows.records_of(run.tenant_id)}

        def mark(session_id: str) -> None:
            record = records[session_id]
            # Logged out, banned or failed ones are not running: a resume must not start them over (at
            # pending, showing QR codes nobody asked for); neither are those a person stopped.
            running = record.desired != "stopped" and record.status not in PERMANENT
            self.session_rows.mark_suspended(run.tenant_id, session_id, at, stopping=suspending and running)
            self.leases.mark_suspended(run.tenant_id, session_id, at)

        self._each(run, records, mark)

    def _stopped(self, run: _Run) -> set[str]:
        """The sessions the suspension stopped (or is stopping)."""
        records = self.session_rows.records_of(run.tenant_id)
        return {r.session.id for r in records if r.suspension_stopped} | set(run.legacy_stopped)

    def _stop_sessions(self, run: _Run) -> None:
        def stop(session_id: str) -> None:
            try:
                self.sessions.disconnect(run.tenant_id, session_id, reason=SUSPENDED_CODE)
            except NotFound:
                pass  # deleted meanwhile

        self._each(run, self._stopped(run), stop)

    def _start_sessions(self, run: _Run) -> None:
        def start(session_id: str) -> None:
            record = self.session_rows.find(run.tenant_id, session_id)
            if record is None:
                return  # deleted meanwhile
            # Logged out or banned while suspended: a person must link it again.
            if record.status not in PERMANENT:
                try:
                    self.sessions.connect(run.tenant_id, session_id)
                except NotFound:
                    return
            self.session_rows.unmark_stopped(run.tenant_id, session_id)

        self._each(run, self._stopped(run), start)

    def _audit(self, run: _Run) -> None:
        done = "tenant.suspended" if run.action is TenantChange.SUSPEND else "tenant.resumed"
        self.audit.operator(run.tenant_id, done, target=run.tenant_id)


def _legacy_stopped(item: Item) -> tuple[str, ...]:
    return tuple(str(s) for s in item.get(LEGACY_STOPPED) or [])


def _busy(tenant_id: str, other: TenantChange, left: float) -> ConflictError:
    wait = max(1, int(left + 0.999))
    return ConflictError(
        f"a {other} of tenant {tenant_id} is under way; try again in {wait} s (a cut-short one is taken "
        "over then)",
        code="busy",
        details={"pending": other.value, "retry_after": wait},
    )
