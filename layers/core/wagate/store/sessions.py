"""Session rows: a tenant's WhatsApp numbers with what the gateway keeps beside them (keys: store/keys.py).

A row is the API's `Session` plus `shard`, `desired` (running | stopped: what the operator asked for),
`fence` (the newest connector lease whose report was applied), the current `qr`, and the session's
`pacing` overrides with their `pacing_version`, `reported` (what CRMs were last told) and `lost` (the
fence of the lease whose connector loss CRMs were told: services/connector_loss.py), `suspended_at` (its
tenant is suspended: services/operator.py; nothing of it is sent or started) and `suspension_stopped`
(that suspension stopped it: the resume starts it again; services/suspension.py). The tenant's session
counter and the global status counters (/health) move in the same transactions as the rows they count.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from wagate.conditions import Attr, Condition, SortKey, item_absent, item_exists
from wagate.domain.errors import ConflictError, LimitExceeded, NotFound
from wagate.domain.sessions import Provider, Session, SessionStatus
from wagate.ports import Delete, Item, Put, Table, TransactOp, Update
from wagate.store import keys, stats
from wagate.store.tenants import mark_suspended

_SESSION_FIELDS = frozenset(Session.model_fields)
_SHARD_PAGE = 200


@dataclass(frozen=True)
class SessionRecord:
    """One stored session: the API view and the gateway's own bookkeeping."""

    session: Session
    shard: int | None
    desired: str | None  # running | stopped; None only for a row written without it
    fence: int
    qr: Mapping[str, Any] | None
    pacing: Any  # the stored overrides (wagate.domain.pacing.PacingOverrides.from_stored reads them)
    pacing_version: int | None
    # The last status and reason CRMs were told (`session_status` webhook): {"status", "reason"}
    reported: Mapping[str, Any] | None = None
    # The fence of the session lease whose loss CRMs were told (services/connector_loss.py); None: none.
    lost: int | None = None
    # Its tenant is suspended (services/operator.py): the send paths and connect refuse it from this row.
    suspended_at: float | None = None
    # Its tenant's suspension stopped it (it was running): the resume starts it again.
    suspension_stopped: bool = False

    @property
    def status(self) -> SessionStatus:
        return self.session.status


def to_session(item: Item) -> Session:
    return Session.model_validate({k: v for k, v in item.items() if k in _SESSION_FIELDS})


def to_record(item: Item) -> SessionRecord:
    shard = item.get("shard")
    version = item.get("pacing_version")
    return SessionRecord(
        session=to_session(item),
        shard=int(shard) if shard is not None else None,
        desired=str(item["desired"]) if item.get("desired") is not None else None,
        fence=int(item.get("fence", 0)),
        qr=item.get("qr") or None,
        pacing=item.get("pacing"),
        pacing_version=int(version) if version is not None else None,
        reported=item.get("reported") if isinstance(item.get("reported"), Mapping) else None,
        lost=int(item["lost"]) if item.get("lost") is not None else None,
        suspended_at=float(item["suspended_at"]) if item.get("suspended_at") is not None else None,
        suspension_stopped=bool(item.get("suspension_stopped")),
    )


def status_counter(status: str) -> str:
    """The attribute of the global stats rows (store/stats.py) that counts sessions in `status`."""
    return f"sessions_{status}"


class SessionRepository:
    """Session rows over the Table port. Every write that can race carries its condition."""

    def __init__(self, table: Table) -> None:
        self.table = table

    # ---- reads --------------------------------------------------------------------------------------

    def find(self, tenant_id: str, session_id: str) -> SessionRecord | None:
        item = self.table.get(*keys.session(tenant_id, session_id))
        return to_record(item) if item is not None else None

    def get(self, tenant_id: str, session_id: str) -> SessionRecord:
        """Raises NotFound."""
        record = self.find(tenant_id, session_id)
        if record is None:
            raise NotFound(f"session {session_id} does not exist")
        return record

    def exists(self, tenant_id: str, session_id: str) -> bool:
        return self.table.get(*keys.session(tenant_id, session_id)) is not None

    def list_page(
        self, tenant_id: str, *, limit: int = 50, cursor: str | None = None
    ) -> tuple[list[Session], str | None]:
        page = self.table.query(
            keys.tenant_partition(tenant_id),
            sk=SortKey.prefix(keys.SESSION_PREFIX),
            limit=limit,
            cursor=cursor,
        )
        return [to_session(item) for item in page.items], page.cursor

    def records_of(self, tenant_id: str) -> list[SessionRecord]:
        """Every session of one tenant, with its bookkeeping (one partition query, paged)."""
        found: list[SessionRecord] = []
        cursor = None
        while True:
            page = self.table.query(
                keys.tenant_partition(tenant_id), sk=SortKey.prefix(keys.SESSION_PREFIX), cursor=cursor
            )
            found.extend(to_record(item) for item in page.items)
            cursor = page.cursor
            if cursor is None:
                return found

    def in_shard(self, shard: int) -> list[SessionRecord]:
        """Every (non-cloud) session of one shard, from the shard index."""
        found: list[SessionRecord] = []
        cursor = None
        while True:
            page = self.table.query(
                keys.shard_index(shard),
                index="gsi1",
                sk=SortKey.prefix(keys.SESSION_PREFIX),
                limit=_SHARD_PAGE,
                cursor=cursor,
            )
            found.extend(to_record(item) for item in page.items)
            cursor = page.cursor
            if cursor is None:
                return found

    def connected_page(
        self, slot: int, *, cursor: str | None = None
    ) -> tuple[list[SessionRecord], str | None]:
        """One page of the (non-cloud) sessions whose row says `connected`, in one slot of their sparse
        index (keys.connected_sessions): what a connector-loss sweep reads, never the other sessions."""
        page = self.table.query(keys.connected_sessions(slot), index="gsi2", limit=_SHARD_PAGE, cursor=cursor)
        return [to_record(item) for item in page.items], page.cursor

    def counts_by_status(self) -> dict[str, int]:
        """Sessions by status across all tenants: counters, so O(1) however many exist."""
        counted = stats.totals(self.table)
        return {status.value: counted.get(status_counter(status), 0) for status in SessionStatus}

    # ---- writes -------------------------------------------------------------------------------------

    def create(
        self,
        session: Session,
        *,
        shard: int,
        limit: int,
        extra: Sequence[TransactOp] = (),
        desired: str = "running",
    ) -> None:
        """Writes a new session (status pending, `desired` running or stopped) with the tenant's counter
        under `limit`; `extra` ops commit with it. A ConflictError naming one of them (details.failed) is
        re-raised as is. Raises LimitExceeded when the tenant holds `limit` sessions already."""
        pk, sk = keys.session(session.tenant_id, session.id)
        item: Item = {
            "pk": pk,
            "sk": sk,
            "gsi1pk": keys.shard_index(shard),
            "gsi1sk": keys.shard_index_sort(session.tenant_id, session.id),
            **session.model_dump(mode="json"),
            "shard": shard,
            "desired": desired,
            "fence": 0,
        }
        if session.provider == Provider.CLOUD:  # no connector serves it: keep it out of the shards' index
            del item["gsi1pk"], item["gsi1sk"]
        else:  # until first linked: the sweeper's view of abandoned sessions (services/session_expiry.py)
            item["gsi2pk"] = keys.UNLINKED_SESSIONS_INDEX
            item["gsi2sk"] = keys.unlinked_session_sort(session.created_at, session.tenant_id, session.id)
        under_limit = Attr("sessions").not_exists() | Attr("sessions").lt(limit)
        try:
            self.table.transact_write(
                [
                    Put(item, condition=item_absent()),
                    Update(
                        *keys.tenant_counters(session.tenant_id), add={"sessions": 1}, condition=under_limit
                    ),
                    stats.add(session.id, {status_counter(session.status): 1}),
                    *extra,
                ]
            )
        except ConflictError as exc:
            if any(index >= 3 for index in (exc.details or {}).get("failed", [])):
                raise  # one of `extra` (the caller's own rows)
            raise LimitExceeded(
                f"this tenant already has {limit} sessions, the most it may hold; delete one first",
                details={"limit": limit},
            ) from exc

    def update(self, tenant_id: str, session_id: str, changes: Mapping[str, Any]) -> SessionRecord:
        """Sets attributes of an existing session. Raises NotFound when it is gone."""
        try:
            new = self.table.update(
                *keys.session(tenant_id, session_id), set=dict(changes), condition=item_exists()
            )
        except ConflictError as exc:
            raise NotFound(f"session {session_id} does not exist") from exc
        return to_record(new)

    def mark_suspended(
        self, tenant_id: str, session_id: str, suspended_at: float | None, *, stopping: bool = False
    ) -> bool:
        """Marks the session's tenant suspended (at that time), or not (None); with `stopping`, also that
        the suspension stops it (in the same write). False when it is gone."""
        also = {"suspension_stopped": True} if stopping else None
        return mark_suspended(self.table, *keys.session(tenant_id, session_id), suspended_at, also=also)

    def unmark_stopped(self, tenant_id: str, session_id: str) -> bool:
        """The resume has started it again (or found it logged out); False when it is gone."""
        try:
            self.table.update(
                *keys.session(tenant_id, session_id), remove=("suspension_stopped",), condition=item_exists()
            )
        except ConflictError:
            return False
        return True

    def unlinked_before(self, created_before: float, *, limit: int = 100) -> list[tuple[str, str]]:
        """(tenant id, session id) of sessions created before `created_before` and never linked, oldest
        first: a query of the sparse index, so the cost is what is found, never every session."""
        page = self.table.query(
            keys.UNLINKED_SESSIONS_INDEX,
            index="gsi2",
            sk=SortKey.lt(keys.unlinked_before(created_before)),
            limit=limit,
        )
        found = []
        for item in page.items:
            tenant_id, session_id = str(item["tenant_id"]), str(item["id"])
            found.append((tenant_id, session_id))
        return found

    def forget_unlinked(self, tenant_id: str, session_id: str) -> None:
        """Takes a linked session out of the unlinked index (one linked before the index existed)."""
        self.table.update(
            *keys.session(tenant_id, session_id), remove=("gsi2pk", "gsi2sk"), condition=item_exists()
        )

    def delete(self, record: SessionRecord, *, extra: Sequence[TransactOp] = ()) -> bool:
        """Deletes the session if its status is still the one read (its counters move with it), with
        `extra` ops in the same transaction. False when the status moved meanwhile (read again and retry)."""
        session = record.session
        try:
            self.table.transact_write(
                [
                    Delete(
                        *keys.session(session.tenant_id, session.id),
                        condition=Attr("status").eq(session.status.value),
                    ),
                    Update(*keys.tenant_counters(session.tenant_id), add={"sessions": -1}),
                    stats.add(session.id, {status_counter(session.status): -1}),
                    *extra,
                ]
            )
        except ConflictError:
            return False
        return True

    def write_status(
        self,
        record: SessionRecord,
        changes: Mapping[str, Any],
        *,
        fence: int | None = None,
        also: Callable[[Session], Sequence[TransactOp]] | None = None,
    ) -> SessionRecord | None:
        """Writes `changes` to the session read as `record`, only while its status is still the one read
        (and, with `fence`, while no newer lease's report was applied). When the status moves, the
        /health counters move in the same transaction, so they can never drift: every status write goes
        through here. `also(new session)` adds writes to the transaction (the notifications the change
        owes: services/outbox.py). None when the condition failed (moved or deleted meanwhile: read
        again)."""
        session = record.session
        old = session.status.value
        guard = Attr("status").eq(old)
        if fence is not None:
            guard = (Attr("fence").not_exists() | Attr("fence").le(fence)) & guard
        if "reported" in changes:
            # A report follows what CRMs were told as read: a connector-loss sweep telling them meanwhile
            # (it sets or clears `lost`: services/connector_loss.py) makes this one read again.
            guard = guard & _same_lost_mark(record)
        new = str(changes.get("status", old))
        connected = SessionStatus.CONNECTED.value
        values = dict(changes)
        remove: list[str] = []
        if new == connected and session.provider != Provider.CLOUD:
            # Linked once: out of the index of sessions that may be abandoned, for good; into the index
            # of connected ones while it stays connected (the connector-loss sweep's view).
            values["gsi2pk"] = keys.connected_sessions(keys.connected_slot_of(session.id))
            values["gsi2sk"] = keys.shard_index_sort(session.tenant_id, session.id)
        elif new == connected or old == connected:
            remove += ["gsi2pk", "gsi2sk"]
        if "reported" in changes:
            remove.append("lost")  # CRMs were told something newer than a connector loss
        ops: list[TransactOp] = [
            Update(
                *keys.session(session.tenant_id, session.id),
                set=values,
                remove=tuple(remove),
                condition=guard,
            )
        ]
        if new != old:
            ops.append(stats.add(session.id, {status_counter(old): -1, status_counter(new): 1}))
        written = to_record({**_as_item(record), **changes})
        if also is not None:
            ops.extend(also(written.session))
        try:
            self.table.transact_write(ops)
        except ConflictError:
            return None
        return written

    def write_report(
        self,
        record: SessionRecord,
        reported: Mapping[str, Any],
        *,
        lost: int | None,
        also: Sequence[TransactOp] = (),
    ) -> bool:
        """Records what CRMs were told about a session whose stored status does not move (its connector
        was lost, or came back: services/connector_loss.py) and its `lost` mark (None: removed), with
        `also` (the notice's outbox row) in one transaction; only while the row is still `connected` at
        the fence read and its `lost` mark is still the one read, so of two sweepers one writes. False
        when the row moved meanwhile (gone, a newer report, another sweeper)."""
        session = record.session
        guard = Attr("status").eq(SessionStatus.CONNECTED.value) & Attr("fence").eq(record.fence)
        guard = guard & _same_lost_mark(record)
        values: dict[str, Any] = {"reported": dict(reported)}
        if lost is not None:
            values["lost"] = lost
        update = Update(
            *keys.session(session.tenant_id, session.id),
            set=values,
            remove=("lost",) if lost is None else (),
            condition=guard,
        )
        try:
            self.table.transact_write([update, *also])
        except ConflictError:
            return False
        return True

    def set_pacing(self, record: SessionRecord, stored: Mapping[str, Any]) -> None:
        """Replaces the session's pacing overrides if nobody changed them since `record` was read.
        Raises ConflictError otherwise (or when the session is gone)."""
        session = record.session
        version = record.pacing_version
        unchanged = (
            Attr("pacing_version").eq(version) if version is not None else Attr("pacing_version").not_exists()
        )
        self.table.update(
            *keys.session(session.tenant_id, session.id),
            set={"pacing": dict(stored)},
            add={"pacing_version": 1},
            condition=item_exists() & unchanged,
        )


def _same_lost_mark(record: SessionRecord) -> Condition:
    return Attr("lost").eq(record.lost) if record.lost is not None else Attr("lost").not_exists()


def _as_item(record: SessionRecord) -> Item:
    item: Item = {
        **record.session.model_dump(mode="json"),
        "desired": record.desired,
        "fence": record.fence,
        "qr": dict(record.qr) if record.qr is not None else None,
        "pacing": record.pacing,
    }
    if record.shard is not None:
        item["shard"] = record.shard
    if record.pacing_version is not None:
        item["pacing_version"] = record.pacing_version
    if record.reported is not None:
        item["reported"] = dict(record.reported)
    if record.lost is not None:
        item["lost"] = record.lost
    if record.suspended_at is not None:
        item["suspended_at"] = record.suspended_at
    return item
