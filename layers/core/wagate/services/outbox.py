"""The outbox: the notifications a change owes (CRM webhooks, dashboard pushes), committed WITH the change.

A service that stores a change (an incoming message, a status, a session's state) puts one outbox row in
the same `transact_write`, so the change and the obligation to tell about it exist together or not at all.
Then, on every backend alike (one code path over the Table port):
    right after the commit   the writer drains its own row (`drain`): emit, then delete the row
    a retry of the change     finds it stored (a duplicate, a status that no longer moves) and drains
                              what the session still owes (`drain_session`): Meta retries a 500, SQS
                              redelivers a failed event
    the sweeper, every minute drains rows nobody drained (`sweep`): a process killed between the commit
                              and the emit
Emitting is idempotent where it matters: CRM delivery ids derive from the row's event id (services/
webhooks.py), so a row emitted twice (a crash between emit and delete) still makes one delivery, one POST.
Dashboards may then see a push twice; they are live views and take the newest state.

Claims keep two drainers off one row: a row is written claimed by its writer for CLAIM_SECONDS; a
writer whose emit fails releases it at once (so the retry that follows can drain it); others take a row
with a conditional update only once its claim has passed.

Rows: store/outbox.py (keys and access patterns: store/keys.py): a session's rows hold the notices
(event id, time, [(kind, data)]) as JSON and `claimed_until`, with a TTL of RETENTION_SECONDS; each is
also in one of SHARDS sweep partitions (by a hash of its id), the sweeper's view of every tenant.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from wagate.domain.events import SessionEvent
from wagate.domain.ids import new_id
from wagate.observability import logger
from wagate.ports import Clock, Put, Table
from wagate.store import keys
from wagate.store.outbox import SHARDS, OutboxRepository, OutboxRow, sweep_partition, to_row

__all__ = ["SHARDS", "Notice", "Outbox", "Pending", "row", "sweep_partition"]

CLAIM_SECONDS = 30  # also the sweeper's grace: it leaves a fresh row to its writer's inline drain
RETENTION_SECONDS = 7 * 24 * 3600  # a row nobody could emit for a week is dropped (logged by the sweeper)


@dataclass(frozen=True)
class Notice:
    """One notification: an event of the vocabulary and its data, as CRMs and dashboards get it."""

    kind: str
    data: dict[str, Any]
    crm: bool = True  # False: for the dashboards only (a `connecting` step CRMs are not told about)


@dataclass(frozen=True)
class Pending:
    """An outbox row, read back: what it owes and under which event it was committed."""

    key: keys.Key
    event: SessionEvent
    notices: list[Notice]


Emit = Callable[[SessionEvent, Notice], None]
"""emit(event, notice): deliver one notice (queue the CRM deliveries, push to the dashboards). Raises
on failure (the row stays, to be drained again)."""


def row(event: SessionEvent, notices: Sequence[Notice], now: float) -> Put:
    """The outbox row to put in the change's transaction (claimed by its writer). Empty notices: still a
    row (cheap, and the caller need not special-case it); drain deletes it."""
    return OutboxRepository.new_row(
        event.tenant_id,
        event.session_id,
        new_id("obx", now),
        event=event.model_dump_json(exclude={"data"}),
        notices=json.dumps([_stored(n) for n in notices], default=str),
        claimed_until=now + CLAIM_SECONDS,
        expires_at=int(now + RETENTION_SECONDS),
    )


def _stored(notice: Notice) -> dict[str, Any]:
    return {"kind": notice.kind, "data": notice.data, **({} if notice.crm else {"crm": False})}


def read(stored: OutboxRow) -> Pending:
    notices = [
        Notice(str(n["kind"]), dict(n["data"]), bool(n.get("crm", True))) for n in json.loads(stored.notices)
    ]
    return Pending(stored.key, SessionEvent.model_validate_json(stored.event), notices)


class Outbox:
    def __init__(self, table: Table, clock: Clock, emit: Emit) -> None:
        self.table = table
        self.clock = clock
        self.emit = emit
        self.rows = OutboxRepository(table)

    def drain(self, put: Put) -> None:
        """The writer's own drain of the row it just committed. On failure the claim is released (the
        next retry or the sweeper drains it) and the error raised, so the change's caller retries."""
        pending = read(to_row(put.item))
        try:
            self._emit(pending)
        except Exception:
            self._release(pending)
            raise
        self.rows.delete(pending.key)

    def drain_session(self, tenant_id: str, session_id: str) -> int:
        """Emits whatever this session still owes and nobody holds (a retry found its change stored).
        Returns how many rows were drained. Raises when an emit fails (the row stays)."""
        return sum(self._take(stored) for stored in self.rows.of_session(tenant_id, session_id))

    def sweep(self, *, limit: int = 200) -> int:
        """Drains rows left behind by any writer (oldest first, per shard). Returns how many were
        drained; a row whose emit fails is logged and left for the next sweep."""
        drained = 0
        for shard in range(SHARDS):
            for stored in self.rows.in_sweep_shard(shard, limit=limit):
                try:
                    drained += self._take(stored)  # a writer's fresh row is still claimed: left to it
                except Exception:
                    logger.exception("outbox row could not be emitted; the next sweep tries again")
        if drained:
            logger.info("outbox rows drained by the sweeper", extra={"rows": drained})
        return drained

    # ---- plumbing -----------------------------------------------------------------------------------

    def _take(self, stored: OutboxRow) -> int:
        """Claims a row whose claim has passed, emits it and deletes it: 1, or 0 when someone holds it."""
        now = self.clock.now()
        if stored.claimed_until > now:
            return 0
        if not self.rows.claim(stored, now=now, until=now + CLAIM_SECONDS):
            return 0  # taken meanwhile, or drained and deleted
        pending = read(stored)
        try:
            self._emit(pending)
        except Exception:
            self._release(pending)
            raise
        self.rows.delete(pending.key)
        return 1

    def _emit(self, pending: Pending) -> None:
        for notice in pending.notices:
            self.emit(pending.event, notice)

    def _release(self, pending: Pending) -> None:
        try:
            self.rows.release(pending.key)
        except Exception:  # the claim then simply runs out
            logger.warning("outbox claim not released", extra={"row": pending.key.sk})
