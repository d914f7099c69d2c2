"""Connector losses: a connected session whose connector died is told to CRMs and dashboards, once.

A connector that crashes (or whose ECS task is killed, or whose host is gone) reports nothing: its
sessions' rows still say `connected`, and the API corrects that on read (SessionService.honest: no live
holder of the session's lease, or of its shard, means `connecting` / `connector_lost`). The sweeper runs
`sweep` every minute so that the correction is also news: for each session the API would show as lost,
one `session_status` notice (CRM webhook and dashboard push, through the outbox, committed with the row's
record of it) and one count of `wagate_session_status_changes_total`.

What is written: the row's `reported` (what CRMs were last told, as every report writes it) and `lost`
(the fence of the lease found lost), under a condition on the row as read (still `connected`, same fence,
same `lost`), so of two sweepers only one tells. The stored status is left as the connector reported it:
the sweeper holds no lease, and a status it wrote could not be corrected by the holder if that holder was
only slow (a paused process renewing its lease late has its socket still open and reports nothing new);
the read-time correction stays the one source of `connecting` / `connector_lost`, and the notice says
what it shows. Then:
    a successor reconnects       its `connected` event is news (the row's `reported` says lost), and the
                                 events consumer reports it as for any change
    a successor was faster       than the sweep (it took the session over within the minute): its first
                                 report, `connecting` at a newer fence while the row still shows the old
                                 holder's `connected`, tells the loss instead (SessionService.apply_event)
    the same holder came back    (its lease renewed, at the fence whose report the row shows) the sweep
                                 tells `connected` again itself, with a `connection_success` as a
                                 reconnect has: no event would
    a deliberate stop            (replaced, logged out, a disconnect, a shard handed over) leaves its
                                 reason on the released lease (`ended`, `released_fence`): never read as
                                 lost; the connector's own event tells it

Cost: a sparse index holds only the connected sessions (store/sessions.py), read with their leases in
batches: proportional to what is connected, never every session of every tenant.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from wagate import meters
from wagate.domain.events import EventType, SessionEvent
from wagate.domain.sessions import Session, SessionStatus
from wagate.domain.status_reports import CONNECTOR_LOST, StatusReport, lost_told, report_data, told
from wagate.domain.status_reports import reported as reported_fields
from wagate.observability import logger
from wagate.services import outbox
from wagate.services.outbox import Notice, Outbox
from wagate.store import keys
from wagate.store.sessions import SessionRecord, SessionRepository

if TYPE_CHECKING:
    from wagate.ports import Clock, Table
    from wagate.services.sessions import SessionService
    from wagate.store.leases import LeaseView


@dataclass(frozen=True)
class LossSweep:
    lost: int  # sessions whose connector loss was told
    back: int  # sessions told `connected` again without a new event (their holder came back)


class ConnectorLoss:
    def __init__(self, table: Table, clock: Clock, sessions: SessionService, notices: Outbox) -> None:
        self.clock = clock
        self.sessions = sessions
        self.notices = notices
        self.rows = SessionRepository(table)

    def sweep(self, *, limit: int = 1000) -> LossSweep:
        """Tells up to `limit` losses and returns. A session (or a page of them) that fails is logged and
        looked at again by the next sweep (nothing was written for it)."""
        shard_leases = dict(enumerate(self.sessions.leases.shard_leases(self.sessions.shards)))
        told: list[str] = []
        for slot in range(keys.CONNECTED_SLOTS):
            cursor: str | None = None
            while len(told) < limit:
                try:
                    cursor = self._page(slot, cursor, shard_leases, told)
                except Exception:  # a read the table refused: the other slots still get their turn
                    logger.exception("connected sessions not read; the next sweep reads them again")
                    break
                if cursor is None:
                    break
        swept = LossSweep(told.count("lost"), told.count("back"))
        if told:
            logger.info("connector losses told", extra={"lost": swept.lost, "back": swept.back})
        return swept

    def _page(
        self, slot: int, cursor: str | None, shard_leases: dict[int, LeaseView | None], told: list[str]
    ) -> str | None:
        """One page of a slot of connected sessions, judged with their leases (one batch read); what was
        told goes to `told`. Returns the next page's cursor."""
        records, cursor = self.rows.connected_page(slot, cursor=cursor)
        pairs = [(r.session.tenant_id, r.session.id) for r in records]
        for record, lease in zip(records, self.sessions.leases.session_leases(pairs), strict=True):
            try:
                told_now = self._look(record, lease, shard_leases)
            except Exception:
                logger.exception("connector loss not told; the next sweep looks again")
                continue
            if told_now is not None:
                told.append(told_now)
        return cursor

    def _look(
        self, record: SessionRecord, lease: LeaseView | None, shard_leases: dict[int, LeaseView | None]
    ) -> Literal["lost", "back"] | None:
        """What was told of this session now: its loss, its being back, or nothing."""
        shown = self.sessions.judged(record.session, lease, shard_leases)
        if shown.status == SessionStatus.CONNECTING and shown.status_reason == CONNECTOR_LOST:
            if lost_told(record.reported):
                return None  # told already, for this outage
            fence = lease.fence if lease is not None else 0
            return "lost" if self._tell(record, shown, told(record.reported), lost=fence) else None
        back = shown.status == SessionStatus.CONNECTED and lease is not None and lease.fence == record.fence
        if back and lost_told(record.reported):
            # The holder whose `connected` the row shows holds the lease again (it was only late), or a
            # successor's `connected` was applied as the loss was being told: either way no event follows.
            previous = StatusReport(SessionStatus.CONNECTING.value, CONNECTOR_LOST)
            return "back" if self._tell(record, shown, previous, lost=None) else None
        return None

    def _tell(self, record: SessionRecord, shown: Session, report: StatusReport, *, lost: int | None) -> bool:
        now = self.clock.now()
        data = {"status": shown.status.value, "reason": shown.status_reason, "detail": shown.status_detail}
        event = SessionEvent(
            type=EventType.SESSION_STATUS,
            tenant_id=shown.tenant_id,
            session_id=shown.id,
            fence=record.fence,
            at=now,
            data=data,
        )
        notices = [Notice(EventType.SESSION_STATUS, report_data(shown, report, data))]
        if lost is None:  # back: told as a reconnect is (Evolution's CONNECTION_UPDATE open comes from it)
            again = {"status": SessionStatus.CONNECTED.value, "phone": shown.phone}
            notices.insert(0, Notice(EventType.CONNECTION_SUCCESS, again))
        put = outbox.row(event, notices, now)
        mark = reported_fields(shown.status, shown.status_reason)
        if not self.rows.write_report(record, mark, lost=lost, also=[put]):
            return False  # the row moved meanwhile (a report, another sweeper): the next sweep decides
        meters.count(
            "wagate_session_status_changes_total", status=shown.status.value, reason=shown.status_reason
        )
        self.notices.drain(put)
        return True
