"""Abandoned sessions expire: one never linked within WAGATE_ABANDONED_SESSION_SECONDS of its creation is
deleted, so it stops holding one of its tenant's session slots, and `session_expired` is told.

Found through a sparse index of the sessions never linked (store/sessions.py: a session leaves it for good
when it first connects), read by the sweeper each minute: the cost is what has expired, never every
session. The deletion, its counters and the outbox row of the `session_expired` notice (dashboards and
CRM webhooks, services/outbox.py) commit in one transaction, conditioned on the status read, so a
session that links meanwhile is not deleted, and a crash after the commit still tells the CRM (the
outbox sweep). Then the connector is told, as for any deleted session, to stop it and wipe its keys.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wagate.domain.events import EventType, SessionEvent
from wagate.domain.sessions import SessionStatus
from wagate.observability import logger
from wagate.services import outbox
from wagate.services.outbox import Notice, Outbox
from wagate.store.sessions import SessionRecord, SessionRepository

if TYPE_CHECKING:
    from wagate.ports import Clock, Table
    from wagate.services.sessions import SessionService

REASON = "never_linked"


class SessionExpiry:
    def __init__(
        self, table: Table, clock: Clock, sessions: SessionService, notices: Outbox, seconds: int
    ) -> None:
        self.clock = clock
        self.sessions = sessions
        self.notices = notices
        self.seconds = seconds  # 0: sessions never expire
        self.rows = SessionRepository(table)

    def sweep(self, *, limit: int = 100) -> int:
        """Expires up to `limit` abandoned sessions; returns how many. A failure is logged and left for the
        next sweep (the session is still in the index)."""
        if self.seconds <= 0:
            return 0
        now = self.clock.now()
        expired = 0
        for tenant_id, session_id in self.rows.unlinked_before(now - self.seconds, limit=limit):
            try:
                expired += self._expire(tenant_id, session_id, now)
            except Exception:
                logger.exception("abandoned session not expired; the next sweep tries again")
        if expired:
            logger.info("abandoned sessions expired", extra={"sessions": expired})
        return expired

    def _expire(self, tenant_id: str, session_id: str, now: float) -> int:
        record = self.rows.find(tenant_id, session_id)
        if record is None:
            return 0
        if record.session.connected_at is not None or record.status == SessionStatus.CONNECTED:
            self.rows.forget_unlinked(tenant_id, session_id)  # linked after all
            return 0
        event = SessionEvent(
            type=EventType.SESSION_EXPIRED, tenant_id=tenant_id, session_id=session_id, at=now, data={}
        )
        put = outbox.row(event, [Notice(EventType.SESSION_EXPIRED, _notice_data(record, self.seconds))], now)
        if not self.rows.delete(record, extra=[put]):
            return 0  # its status moved (a scan, a link): looked at again next minute
        self.sessions.deleted(record.session)
        self.notices.drain(put)
        return 1


def _notice_data(record: SessionRecord, seconds: int) -> dict[str, object]:
    session = record.session
    return {
        "reason": REASON,
        "status": session.status.value,
        "name": session.name,
        "provider": session.provider.value,
        "created_at": session.created_at,
        "after_seconds": seconds,
        "sandbox": session.sandbox,
    }
