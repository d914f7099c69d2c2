"""What happens when the connector reports a session event: persist it, then push it to dashboards."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from wagate import qr
from wagate.domain.events import EventType, SessionEvent
from wagate.observability import logger
from wagate.services import realtime
from wagate.services.sessions import SessionService

if TYPE_CHECKING:
    from wagate.wiring import Deps


def handle_event(d: Deps, body: str) -> None:
    """Raises on bad input so the queue retries it and, past maxReceiveCount, parks it in the DLQ."""
    event = SessionEvent.model_validate_json(body)
    logger.append_keys(tenant_id=event.tenant_id, session_id=event.session_id)
    sessions = SessionService(
        d.table, d.queues, d.clock, limit=d.settings.max_sessions_per_tenant, shards=d.settings.shards
    )
    data: dict[str, Any] = dict(event.data)
    if event.type in SESSION_EVENTS:
        session = sessions.apply_event(event)
        if session is None:
            logger.info(
                "stale or unknown session event ignored", extra={"event": event.type, "fence": event.fence}
            )
            return
        data["status"] = session.status.value
    if event.type == EventType.QR_CODE and event.data.get("qr"):
        data["qrCode"] = qr.data_url(str(event.data["qr"]))
    realtime.fan_out(
        d.table,
        d.push,
        event.tenant_id,
        event.session_id,
        realtime.message_for(event.type, event.session_id, data),
    )


SESSION_EVENTS = frozenset(
    {
        EventType.QR_CODE,
        EventType.CONNECTION_SUCCESS,
        EventType.CONNECTION_LOST,
        EventType.LOGGED_OUT,
        EventType.SESSION_FAILED,
        EventType.SESSION_STATUS,
    }
)
