"""Sessions: create, list, act on and delete a tenant's WhatsApp numbers; apply what the connector reports.

Storage layout (single table):
    T#{tenant}  / SESSION#{session}    the session; gsi1: SHARD#{n} / SESSION#{tenant}#{session}, so a
                                       connector lists the sessions of the shards it holds
    T#{tenant}  / COUNTERS             sessions (how many the tenant holds, for the per-tenant limit)
Status is what the connector last reported; `desired` (running | stopped) is what the operator asked for.
Actions become commands on the session's shard queue; the connector acts, and its events come back
through `apply_event`, which ignores events from a connector holding an older lease (fence). `cloud`
sessions (services/cloud_sessions.py) have no shard index entry; their commands go to `CloudSendQueue`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from wagate.conditions import Attr, Condition, SortKey, item_absent, item_exists
from wagate.domain.errors import ConflictError, InvalidInput, LimitExceeded, NotFound
from wagate.domain.events import Command, CommandType, EventType, SessionEvent
from wagate.domain.ids import new_id
from wagate.domain.phones import normalise_phone
from wagate.domain.sessions import PERMANENT, Provider, Session, SessionStatus, can_move
from wagate.ports import Clock, Delete, Item, Put, Queues, Table, TransactOp, Update
from wagate.services import cloud_queue
from wagate.services.tenants import STATS_KEY

SHARDS_DEFAULT = 4
_SESSION_FIELDS = set(Session.model_fields)


def shard_of(session_id: str, shards: int) -> int:
    """Stable: the same session always lands in the same shard for a given shard count."""
    return int.from_bytes(hashlib.sha256(session_id.encode()).digest()[:8], "big") % shards


def command_queue(shard: int) -> str:
    return f"CommandQueue{shard}"


def _key(tenant_id: str, session_id: str) -> tuple[str, str]:
    return f"T#{tenant_id}", f"SESSION#{session_id}"


def _counters(tenant_id: str) -> tuple[str, str]:
    return f"T#{tenant_id}", "COUNTERS"


def to_session(item: Item) -> Session:
    return Session.model_validate({k: v for k, v in item.items() if k in _SESSION_FIELDS})


class SessionService:
    """The use cases behind /v1/sessions, over the Table and the shard command queues."""

    def __init__(
        self, table: Table, queues: Queues, clock: Clock, *, limit: int, shards: int = SHARDS_DEFAULT
    ):
        self.table = table
        self.queues = queues
        self.clock = clock
        self.limit = limit
        self.shards = shards

    # ---- reads --------------------------------------------------------------------------------------

    def get_item(self, tenant_id: str, session_id: str) -> Item:
        item = self.table.get(*_key(tenant_id, session_id))
        if item is None:
            raise NotFound(f"session {session_id} does not exist")
        return item

    def get(self, tenant_id: str, session_id: str) -> Session:
        return to_session(self.get_item(tenant_id, session_id))

    def list(
        self, tenant_id: str, *, limit: int = 50, cursor: str | None = None
    ) -> tuple[list[Session], str | None]:
        page = self.table.query(f"T#{tenant_id}", sk=SortKey.prefix("SESSION#"), limit=limit, cursor=cursor)
        return [to_session(item) for item in page.items], page.cursor

    def current_qr(self, tenant_id: str, session_id: str) -> tuple[str, float]:
        """The QR text to show and when it expires. NotFound when there is none right now."""
        item = self.get_item(tenant_id, session_id)
        qr = item.get("qr") or {}
        if (
            item.get("status") != SessionStatus.QR
            or not qr.get("text")
            or qr.get("expires_at", 0) < self.clock.now()
        ):
            raise NotFound(
                f"session {session_id} has no QR code right now (status: {item.get('status')})",
                code="no_qr_code",
                details={"status": item.get("status")},
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
    ) -> Session:
        """`extra` ops commit with the session (a cloud session's credentials); a ConflictError naming one
        of them (details.failed) is re-raised for the caller, any other is the per-tenant limit."""
        if provider == Provider.CLOUD and not extra:
            raise InvalidInput("a cloud session is created with its credentials (services/cloud_sessions.py)")
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
        pk, sk = _key(tenant_id, session_id)
        item: Item = {
            "pk": pk,
            "sk": sk,
            "gsi1pk": f"SHARD#{shard}",
            "gsi1sk": f"SESSION#{tenant_id}#{session_id}",
            **session.model_dump(mode="json"),
            "shard": shard,
            "desired": "running",
            "fence": 0,
        }
        if provider == Provider.CLOUD:  # no connector serves it: keep it out of the shards' index
            del item["gsi1pk"], item["gsi1sk"]
        under_limit = Attr("sessions").not_exists() | Attr("sessions").lt(self.limit)
        try:
            self.table.transact_write(
                [
                    Put(item, condition=item_absent()),
                    Update(*_counters(tenant_id), add={"sessions": 1}, condition=under_limit),
                    Update(*STATS_KEY, add={_stat(SessionStatus.PENDING): 1}),
                    *extra,
                ]
            )
        except ConflictError as exc:
            if any(index >= 3 for index in (exc.details or {}).get("failed", [])):
                raise
            raise LimitExceeded(
                f"this tenant already has {self.limit} sessions, the most it may hold; delete one first",
                details={"limit": self.limit},
            ) from exc
        self._command(session, CommandType.CONNECT)
        return session

    def connect(self, tenant_id: str, session_id: str, *, restart: bool = False) -> Session:
        """Start (or restart) the session. From logged_out/failed it starts over at pending."""
        for _ in range(3):  # the status may move under us (its counter moves with it): re-read and retry
            item = self.get_item(tenant_id, session_id)
            changes: dict[str, Any] = {"desired": "running", "updated_at": self.clock.now()}
            if item["status"] in PERMANENT:
                changes.update(status=SessionStatus.PENDING.value, status_reason=None, status_detail=None)
            try:
                self.table.transact_write(status_ops(item, changes))
            except ConflictError:
                continue
            session = to_session({**item, **changes})
            self._command(session, CommandType.CONNECT, {"restart": restart})
            return session
        raise ConflictError(f"session {session_id} is changing too fast to connect; retry", code="busy")

    def disconnect(self, tenant_id: str, session_id: str) -> Session:
        item = self.get_item(tenant_id, session_id)
        session = self._update(item, {"desired": "stopped", "updated_at": self.clock.now()})
        self._command(session, CommandType.DISCONNECT)
        return session

    def logout(self, tenant_id: str, session_id: str) -> Session:
        item = self.get_item(tenant_id, session_id)
        if item["status"] == SessionStatus.LOGGED_OUT:
            raise ConflictError(f"session {session_id} is already logged out", code="invalid_state")
        session = self._update(item, {"desired": "stopped", "updated_at": self.clock.now()})
        self._command(session, CommandType.LOGOUT)
        return session

    def delete(self, tenant_id: str, session_id: str) -> None:
        """Removes the session now; the connector logs it out and wipes its keys."""
        for _ in range(3):  # the status may move under us (its counter moves with it): re-read and retry
            item = self.get_item(tenant_id, session_id)
            try:
                self.table.transact_write(
                    [
                        Delete(item["pk"], item["sk"], condition=Attr("status").eq(item["status"])),
                        Update(*_counters(tenant_id), add={"sessions": -1}),
                        Update(*STATS_KEY, add={_stat(item["status"]): -1}),
                    ]
                )
            except ConflictError:
                continue
            self._command(to_session(item), CommandType.LOGOUT, {"deleted": True})
            return
        raise ConflictError(f"session {session_id} is changing too fast to delete; retry", code="busy")

    def sandbox(self, tenant_id: str, session_id: str, action: str, data: dict[str, Any]) -> Session:
        session = self.get(tenant_id, session_id)
        if session.provider != Provider.SANDBOX:
            raise ConflictError(f"session {session_id} is not a sandbox session", code="not_sandbox")
        self._command(session, CommandType.SANDBOX, {"action": action, **data})
        return session

    # ---- what the connector reports -----------------------------------------------------------------

    def apply_event(self, event: SessionEvent) -> Session | None:
        """Persist a session event. Returns the new session, or None when the event is stale or unknown."""
        for _ in range(3):  # the status may move under us: re-read and decide again
            item = self.table.get(*_key(event.tenant_id, event.session_id))
            if item is None or int(item.get("fence", 0)) > event.fence:
                return None
            changes = _changes_after(event, item)
            if changes is None:
                return None
            fresh = Attr("fence").not_exists() | Attr("fence").le(event.fence)
            try:
                self.table.transact_write(status_ops(item, changes, condition=fresh))
            except ConflictError:
                continue  # deleted, moved, or a newer lease's event got there first: the re-read tells
            return to_session({**item, **changes})
        return None

    def connectors(self) -> dict[str, Any]:
        """Which shards a live connector holds (from the shard leases), for /health."""
        now = self.clock.now()
        owners: set[str] = set()
        held = 0
        for shard in range(self.shards):
            lease = self.table.get(f"LEASE#SHARD#{shard}", "LEASE")
            if lease and float(lease.get("lease_until", 0)) > now:
                held += 1
                owners.add(str(lease.get("owner")))
        return {"shards": self.shards, "shards_held": held, "live": len(owners)}

    def counts_by_status(self) -> dict[str, int]:
        """Sessions by status across all tenants (for /health): counters, so O(1) however many exist."""
        stats = self.table.get(*STATS_KEY) or {}
        return {status.value: int(stats.get(_stat(status), 0)) for status in SessionStatus}

    # ---- plumbing -----------------------------------------------------------------------------------

    def _update(self, item: Item, changes: dict[str, Any]) -> Session:
        try:
            new = self.table.update(item["pk"], item["sk"], set=changes, condition=item_exists())
        except ConflictError as exc:
            raise NotFound(f"session {item['id']} does not exist") from exc
        return to_session(new)

    def _command(self, session: Session, kind: CommandType, data: dict[str, Any] | None = None) -> None:
        command = Command(
            type=kind,
            tenant_id=session.tenant_id,
            session_id=session.id,
            data=data or {},
            issued_at=self.clock.now(),
        )
        if session.provider == Provider.CLOUD:  # no socket: a Lambda consumer does what a connector would
            cloud_queue.enqueue(self.queues, command)
            return
        queue = self.queues.get(command_queue(shard_of(session.id, self.shards)))
        queue.send(command.model_dump_json(), group_id=session.id, dedup_id=command.id)


def _stat(status: str) -> str:
    return f"sessions_{status}"


def status_ops(
    item: Item, changes: dict[str, Any], *, condition: Condition | None = None
) -> list[TransactOp]:
    """The write of `changes` to a session read as `item`: only while its status is still the one
    read, and, when the status moves, the /health counters move in the same transaction (so they
    can never drift: every status write in this module goes through here)."""
    old = str(item["status"])
    guard = Attr("status").eq(old) if condition is None else condition & Attr("status").eq(old)
    ops: list[TransactOp] = [Update(item["pk"], item["sk"], set=changes, condition=guard)]
    new = str(changes.get("status", old))
    if new != old:
        ops.append(Update(*STATS_KEY, add={_stat(old): -1, _stat(new): 1}))
    return ops


def _changes_after(event: SessionEvent, item: Item) -> dict[str, Any] | None:
    """What a session event changes on the session read as `item`; None when it may not apply."""
    changes: dict[str, Any] = {"fence": event.fence, "updated_at": event.at}
    status = _status_after(event)
    if status is not None:
        if not can_move(SessionStatus(item["status"]), status):
            return None
        changes["status"] = status.value
        changes["status_reason"] = event.data.get("reason")
        changes["status_detail"] = event.data.get("detail") or None
    if event.type == EventType.SESSION_STATUS and event.data.get("reason") == "qr_timeout":
        changes["desired"] = "stopped"  # nobody scanned: don't show QR codes again after a restart
    if event.type == EventType.QR_CODE:
        changes["qr"] = {"text": event.data.get("qr"), "expires_at": event.data.get("expires_at")}
    elif event.type == EventType.CONNECTION_SUCCESS:
        changes["connected_at"] = event.at
        changes["qr"] = None
        if event.data.get("phone"):
            changes["phone"] = event.data["phone"]
    elif status is not None:
        changes["qr"] = None
    return changes


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
