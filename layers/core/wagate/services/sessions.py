"""Sessions: create, list, act on and delete a tenant's WhatsApp numbers; apply what the connector reports.

Rows: store/sessions.py (keys and access patterns: store/keys.py).
Status is what the connector last reported, with one correction at read time: `connected` is shown only
while a live connector holds the session's lease (a crashed connector reported nothing, so its sessions
read `connecting` until a successor has really reconnected them). `desired` (running | stopped) is what
the operator asked for.
Actions become commands on the session's shard queue; the connector acts, and its events come back
through `apply_event`, which ignores events from a connector holding an older lease (fence). `cloud`
sessions (cloud/sessions.py) have no shard index entry; their commands go to `CloudSendQueue`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from wagate import process_liveness
from wagate.cloud import commands
from wagate.domain.errors import ConflictError, InvalidInput, NotFound
from wagate.domain.events import Command, CommandType, EventType, SessionEvent
from wagate.domain.ids import new_id
from wagate.domain.phones import normalise_phone
from wagate.domain.sessions import PERMANENT, Provider, Session, SessionStatus, can_move
from wagate.domain.status_reports import CONNECTOR_LOST, TEMPORARILY_BANNED, StatusReport, report_due
from wagate.domain.status_reports import reported as reported_fields
from wagate.domain.tenants import tenant_suspended
from wagate.ports import Clock, Queues, Table, TransactOp
from wagate.store.leases import LeaseRepository, LeaseView
from wagate.store.sessions import SessionRecord, SessionRepository, to_session
from wagate.store.tenants import TenantRepository

if TYPE_CHECKING:
    from wagate.services.insights import Insights

__all__ = ["SessionService", "command_queue", "shard_of", "to_session"]

SHARDS_DEFAULT = 4
SILENT_TAKEOVER = "the connector holding it stopped without a word; another connector is reconnecting it"


def shard_of(session_id: str, shards: int) -> int:
    """Stable: the same session always lands in the same shard for a given shard count."""
    return int.from_bytes(hashlib.sha256(session_id.encode()).digest()[:8], "big") % shards


def command_queue(shard: int) -> str:
    return f"CommandQueue{shard}"


class SessionService:
    """The use cases behind /v1/sessions, over the Table and the shard command queues."""

    def __init__(
        self,
        table: Table,
        queues: Queues,
        clock: Clock,
        *,
        limit: int,
        shards: int = SHARDS_DEFAULT,
        insights: Insights | None = None,
        session_limit: Callable[[str], int] | None = None,
    ):
        self.table = table
        self.insights = insights  # connection periods and counters, committed with each status change
        # session_limit(tenant id): the tenant's own quota (services/quotas.py); else `limit` for all.
        self.session_limit = session_limit
        self.rows = SessionRepository(table)
        self.leases = LeaseRepository(table)
        self.queues = queues
        self.clock = clock
        self.limit = limit
        self.shards = shards

    # ---- reads --------------------------------------------------------------------------------------

    def record(self, tenant_id: str, session_id: str) -> SessionRecord:
        """The session with its bookkeeping (fence, desired, pacing). Raises NotFound."""
        return self.rows.get(tenant_id, session_id)

    def get(self, tenant_id: str, session_id: str) -> Session:
        """The session as last reported (what the send path checks). Raises NotFound."""
        return self.rows.get(tenant_id, session_id).session

    def for_send(self, tenant_id: str, session_id: str) -> Session:
        """The session a send names. Raises NotFound, and Forbidden `tenant_suspended` while its tenant is
        suspended (the row's mark: services/operator.py), even for a key the authorizer still trusts."""
        record = self.rows.get(tenant_id, session_id)
        if record.suspended_at is not None:
            raise tenant_suspended(tenant_id, record.suspended_at)
        return record.session

    def show(self, tenant_id: str, session_id: str) -> Session:
        """The session as the API shows it (`honest`). Raises NotFound."""
        return self.honest(self.get(tenant_id, session_id))

    def list(
        self, tenant_id: str, *, limit: int = 50, cursor: str | None = None
    ) -> tuple[list[Session], str | None]:
        sessions, next_cursor = self.rows.list_page(tenant_id, limit=limit, cursor=cursor)
        shard_leases: dict[int, LeaseView | None] = {}
        return [self.honest(session, shard_leases) for session in sessions], next_cursor

    def honest(self, session: Session, shard_leases: dict[int, LeaseView | None] | None = None) -> Session:
        """The session, `connected` only while a socket can really be open: a connector must hold its
        lease (not expired, its process not provably gone) and, for a lease taken under a shard lease,
        still hold that shard at that fence (a session lease is long: its shard's is what is renewed
        often). Cloud sessions have no socket to check. `shard_leases` caches shard reads over a list."""
        if session.status != SessionStatus.CONNECTED or session.provider == Provider.CLOUD:
            return session
        return self.judged(session, self.leases.session_lease(session.tenant_id, session.id), shard_leases)

    def judged(
        self,
        session: Session,
        lease: LeaseView | None,
        shard_leases: dict[int, LeaseView | None] | None = None,
    ) -> Session:
        """`honest`, with the session's lease already read (the connector-loss sweep reads them in
        batches: services/connector_loss.py)."""
        if session.status != SessionStatus.CONNECTED or session.provider == Provider.CLOUD:
            return session
        now = self.clock.now()
        if lease is not None and lease.owner is None and lease.ended is not None:
            # Released on purpose: its report of why is on the events queue; show it already.
            ended = lease.ended
            return session.model_copy(
                update={
                    "status": SessionStatus(ended["status"]),
                    "status_reason": ended.get("status_reason"),
                    "status_detail": ended.get("status_detail"),
                }
            )
        if lease is None or lease.owner is None:
            why = "no connector holds this session"
        elif lease.until < now:
            why = "the connector holding this session stopped renewing it"
        elif process_liveness.is_gone(lease.writer):
            why = "the connector process holding this session is gone"
        elif lease.shard_fence is not None and not self._holds_shard(lease, session.id, now, shard_leases):
            why = "the connector holding this session no longer holds its shard"
        else:
            return session
        return session.model_copy(
            update={
                "status": SessionStatus.CONNECTING,
                "status_reason": CONNECTOR_LOST,
                "status_detail": f"{why}; it is being reconnected",
            }
        )

    def _holds_shard(
        self, lease: LeaseView, session_id: str, now: float, cache: dict[int, LeaseView | None] | None
    ) -> bool:
        shard = shard_of(session_id, self.shards)
        cache = {} if cache is None else cache
        if shard not in cache:
            cache[shard] = self.leases.shard_lease(shard)
        held = cache[shard]
        return (
            held is not None
            and held.owner == lease.owner
            and held.fence == lease.shard_fence
            and held.until >= now
        )

    def current_qr(self, tenant_id: str, session_id: str) -> tuple[str, float]:
        """The QR text to show and when it expires. NotFound when there is none right now."""
        record = self.rows.get(tenant_id, session_id)
        qr = record.qr or {}
        status = record.session.status
        if status != SessionStatus.QR or not qr.get("text") or qr.get("expires_at", 0) < self.clock.now():
            raise NotFound(
                f"session {session_id} has no QR code right now (status: {status})",
                code="no_qr_code",
                details={"status": status},
            )
        return str(qr["text"]), float(qr["expires_at"])

    # ---- writes -------------------------------------------------------------------------------------

    def create(
        self,
        tenant_id: str,
        *,
        name: str,
        provider: Provider,
        phone: str | None,
        metadata: dict[str, Any],
        session_id: str | None = None,
        extra: Sequence[TransactOp] = (),
        start: bool = True,
    ) -> Session:
        """`extra` ops commit with the session (a cloud session's credentials); a ConflictError naming one
        of them (details.failed) is re-raised for the caller, any other is the per-tenant limit.
        Forbidden `tenant_suspended` while the tenant is suspended. `start=False`: stopped until
        `connect` (what must exist before its first event, a webhook, is made in between)."""
        if provider == Provider.CLOUD and not extra:
            raise InvalidInput("a cloud session is created with its credentials (cloud/sessions.py)")
        # A key the authorizer still trusts (its minute of cache) must not give a suspended tenant a
        # session without the suspension's mark. One read of the tenant row: creating a session is rare.
        tenant = TenantRepository(self.table).find(tenant_id)
        if tenant is not None and tenant.suspended_at is not None:
            raise tenant_suspended(tenant_id, tenant.suspended_at)
        now = self.clock.now()
        session_id = session_id or new_id("ses", now)
        shard = shard_of(session_id, self.shards)
        session = Session(
            id=session_id,
            tenant_id=tenant_id,
            name=name,
            provider=provider,
            phone=normalise_phone(phone) if phone else None,
            status=SessionStatus.PENDING,
            metadata=metadata,
            created_at=now,
            updated_at=now,
            sandbox=provider == Provider.SANDBOX,
        )
        if self.insights is not None:  # after `extra`: its failures are told by their index
            extra = [*extra, *self.insights.created_ops(session)]
        limit = self.session_limit(tenant_id) if self.session_limit is not None else self.limit
        self.rows.create(
            session, shard=shard, limit=limit, extra=extra, desired="running" if start else "stopped"
        )
        if start:
            self._command(session, CommandType.CONNECT)
        return session

    def connect(
        self,
        tenant_id: str,
        session_id: str,
        *,
        restart: bool = False,
        link_phone: str | None = None,
        choose_link: bool = False,
    ) -> Session:
        """Start (or restart) the session (Forbidden `tenant_suspended` while its tenant is suspended).
        From logged_out/failed it starts over at pending. With
        `choose_link`, how an unlinked device links is chosen now: by a code typed on `link_phone` (web
        sessions), or by QR code when no phone is given; otherwise the last choice stands.
        Raises InvalidInput (a bad number, or a session that does not link by code)."""
        link: dict[str, Any] = {"link_by_code": False} if choose_link else {}
        if link_phone is not None:
            link = {"phone": normalise_phone(link_phone), "link_by_code": True}
        for _ in range(3):  # the status may move under us (its counter moves with it): re-read and retry
            record = self.rows.get(tenant_id, session_id)
            if record.suspended_at is not None:  # nothing of a suspended tenant starts (services/operator.py)
                raise tenant_suspended(tenant_id, record.suspended_at)
            if link_phone is not None and record.session.provider != Provider.WEB:
                raise InvalidInput(
                    f"session {session_id} is a {record.session.provider} session: only web sessions "
                    "link by phone number",
                    details={"field": "phone"},
                )
            changes: dict[str, Any] = {"desired": "running", "updated_at": self.clock.now(), **link}
            if record.status in PERMANENT:
                changes.update(status=SessionStatus.PENDING.value, status_reason=None, status_detail=None)
            new = self.rows.write_status(record, changes)
            if new is None:
                continue
            data: dict[str, Any] = {"restart": restart}
            if "link_by_code" in changes:
                data["link"] = "code" if changes["link_by_code"] else "qr"
            self._command(new.session, CommandType.CONNECT, data)
            return new.session
        raise ConflictError(f"session {session_id} is changing too fast to connect; retry", code="busy")

    def disconnect(self, tenant_id: str, session_id: str, *, reason: str | None = None) -> Session:
        """Stops the session (keys kept). `reason` (tenant_suspended) is what its sends then fail with."""
        self.rows.get(tenant_id, session_id)
        session = self._stop(tenant_id, session_id)
        self._command(session, CommandType.DISCONNECT, {"reason": reason} if reason else None)
        return session

    def logout(self, tenant_id: str, session_id: str) -> Session:
        if self.rows.get(tenant_id, session_id).status == SessionStatus.LOGGED_OUT:
            raise ConflictError(f"session {session_id} is already logged out", code="invalid_state")
        session = self._stop(tenant_id, session_id)
        self._command(session, CommandType.LOGOUT)
        return session

    def delete(self, tenant_id: str, session_id: str) -> None:
        """Removes the session now; the connector logs it out and wipes its keys."""
        for _ in range(3):  # the status may move under us (its counter moves with it): re-read and retry
            record = self.rows.get(tenant_id, session_id)
            if not self.rows.delete(record):
                continue
            self.deleted(record.session)
            return
        raise ConflictError(f"session {session_id} is changing too fast to delete; retry", code="busy")

    def ask_connector(self, session: Session, kind: CommandType, data: dict[str, Any]) -> None:
        """Queues a command for the connector holding `session` (a number check: services/number_check.py)."""
        self._command(session, kind, data)

    def deleted(self, session: Session) -> None:
        """Tells the connector a session's row is gone: it logs the device out and wipes its keys."""
        self._command(session, CommandType.LOGOUT, {"deleted": True})

    def sandbox(self, tenant_id: str, session_id: str, action: str, data: dict[str, Any]) -> Session:
        session = self.get(tenant_id, session_id)
        if session.provider != Provider.SANDBOX:
            raise ConflictError(f"session {session_id} is not a sandbox session", code="not_sandbox")
        self._command(session, CommandType.SANDBOX, {"action": action, **data})
        return session

    # ---- what the connector reports -----------------------------------------------------------------

    def apply_event(
        self,
        event: SessionEvent,
        *,
        also: Callable[[Session, StatusReport | None], Sequence[TransactOp]] = lambda _, __: (),
        moved: Callable[[SessionStatus, Session], None] | None = None,
        reported: Callable[[Session], None] | None = None,
    ) -> Session | None:
        """Persist a session event, with `also(new session, report)`'s writes (the notifications it owes:
        services/outbox.py) in the same transaction; `report` is set when CRMs are owed a `session_status`
        (domain/status_reports.py), and the row then remembers what they were told. Returns the new
        session, or None when the event is stale or unknown. `moved(old status, new session)` is called
        once the write changed the status (not when a redelivered event finds it already there);
        `reported(new session)` once a write that owed a `session_status` report committed."""
        for _ in range(3):  # the status may move under us: re-read and decide again
            record = self.rows.find(event.tenant_id, event.session_id)
            if record is None or record.fence > event.fence:
                return None
            changes = _changes_after(event, record)
            if changes is None:
                return None
            if changes.get("status") == SessionStatus.CONNECTING.value and self._taken_over_silently(
                record, event
            ):
                changes["status_reason"] = CONNECTOR_LOST  # a report when CRMs were not told already
                changes["status_detail"] = SILENT_TAKEOVER
            report = None
            if "status" in changes:
                status = SessionStatus(changes["status"])
                report = report_due(record.reported, status, changes.get("status_reason"))
                if report is not None:
                    changes["reported"] = reported_fields(status, changes.get("status_reason"))

            def owed(new: Session, report: StatusReport | None = report) -> Sequence[TransactOp]:
                return also(new, report)

            # None: deleted, moved, or a newer lease's event got there first: the re-read tells.
            new = self.rows.write_status(
                record, changes, fence=event.fence, also=self._with_insights(record, event, owed)
            )
            if new is not None:
                if moved is not None and new.status != record.status:
                    moved(record.status, new.session)
                if reported is not None and report is not None:
                    reported(new.session)
                return new.session
        return None

    def _taken_over_silently(self, record: SessionRecord, event: SessionEvent) -> bool:
        """A new holder's first report (`connecting`, at a newer fence) while the row still shows the former
        holder's `connected`: that holder stopped without a word (crashed, killed, lost its lease), unless
        it released the lease on purpose at that fence (its report, from another connector's publisher,
        may arrive after the successor's; it is then stale and dropped). Told this way even when a
        successor takes over faster than the sweeper looks (services/connector_loss.py)."""
        if record.status != SessionStatus.CONNECTED or event.fence <= record.fence:
            return False
        if record.session.provider == Provider.CLOUD:
            return False
        lease = self.leases.session_lease(record.session.tenant_id, record.session.id)
        return lease is not None and lease.released_fence != record.fence

    def connectors(self) -> dict[str, Any]:
        """Which shards a live connector holds (from the shard leases), for /health."""
        now = self.clock.now()
        owners: set[str] = set()
        held = 0
        for lease in self.leases.shard_leases(self.shards):
            if lease is not None and lease.until > now:
                held += 1
                owners.add(str(lease.owner))
        return {"shards": self.shards, "shards_held": held, "live": len(owners)}

    def counts_by_status(self) -> dict[str, int]:
        """Sessions by status across all tenants (for /health): counters, so O(1) however many exist."""
        return self.rows.counts_by_status()

    # ---- plumbing -----------------------------------------------------------------------------------

    def _with_insights(
        self, record: SessionRecord, event: SessionEvent, also: Callable[[Session], Sequence[TransactOp]]
    ) -> Callable[[Session], Sequence[TransactOp]]:
        insights = self.insights
        if insights is None:
            return also
        return lambda new: [*also(new), *insights.session_ops(record.session, new, event.at)]

    def _stop(self, tenant_id: str, session_id: str) -> Session:
        changes = {"desired": "stopped", "updated_at": self.clock.now()}
        return self.rows.update(tenant_id, session_id, changes).session

    def _command(self, session: Session, kind: CommandType, data: dict[str, Any] | None = None) -> None:
        command = Command(
            type=kind,
            tenant_id=session.tenant_id,
            session_id=session.id,
            data=data or {},
            issued_at=self.clock.now(),
        )
        if session.provider == Provider.CLOUD:  # no socket: a Lambda consumer does what a connector would
            commands.enqueue(self.queues, command)
            return
        queue = self.queues.get(command_queue(shard_of(session.id, self.shards)))
        queue.send(command.model_dump_json(), group_id=session.id, dedup_id=command.id)


def _changes_after(event: SessionEvent, record: SessionRecord) -> dict[str, Any] | None:
    """What a session event changes on the session read as `record`; None when it may not apply."""
    changes: dict[str, Any] = {"fence": event.fence, "updated_at": event.at}
    status = _status_after(event)
    if status is not None:
        if not can_move(record.status, status) and not _ban_over(record, status):
            return None
        changes["status"] = status.value
        changes["status_reason"] = event.data.get("reason")
        changes["status_detail"] = event.data.get("detail") or None
    if event.type == EventType.SESSION_STATUS and event.data.get("reason") == "qr_timeout":
        changes["desired"] = "stopped"  # nobody scanned: don't show QR codes again after a restart
    if event.type == EventType.QR_CODE:
        changes["qr"] = {"text": event.data.get("qr"), "expires_at": event.data.get("expires_at")}
        changes["pairing_code"] = event.data.get("pairing_code")
    elif event.type == EventType.CONNECTION_SUCCESS:
        changes["connected_at"] = event.at
        changes["qr"] = changes["pairing_code"] = None
        if event.data.get("phone"):
            changes["phone"] = event.data["phone"]
    elif status is not None:
        changes["qr"] = changes["pairing_code"] = None
    return changes


def _ban_over(record: SessionRecord, status: SessionStatus) -> bool:
    """A temporarily banned number's connector connects it again when the ban ends
    (connector/session_runner.py): its reports move it on from `failed` as a reconnect would."""
    return (
        record.status == SessionStatus.FAILED
        and record.session.status_reason == TEMPORARILY_BANNED
        and status in (SessionStatus.CONNECTING, SessionStatus.CONNECTED, SessionStatus.DISCONNECTED)
    )


def _status_after(event: SessionEvent) -> SessionStatus | None:
    if event.type == EventType.QR_CODE:
        return SessionStatus.QR
    if event.type == EventType.CONNECTION_SUCCESS:
        return SessionStatus.CONNECTED
    if event.type == EventType.CONNECTION_LOST:
        return SessionStatus.DISCONNECTED
    if event.type == EventType.LOGGED_OUT:
        return SessionStatus.LOGGED_OUT
    if event.type == EventType.SESSION_FAILED:
        return SessionStatus.FAILED
    if event.type == EventType.SESSION_STATUS:
        raw = event.data.get("status")
        return SessionStatus(str(raw)) if raw in SessionStatus.__members__.values() else None
    return None
