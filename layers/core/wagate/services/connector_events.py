"""What the connector reports, applied (sessions, message statuses, inbound, groups); then dashboards.

The events consumer (functions/events) calls `handle_event` once per queued event. Applying is idempotent:
a redelivered or late event changes nothing (fences for sessions, monotonic status for messages,
provider-id deduplication for incoming messages, sync times for groups), so SQS's at-least-once delivery
is safe.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from wagate import qr
from wagate.domain.conversations import conversation_id
from wagate.domain.events import EventType, SessionEvent
from wagate.domain.messages import Message, MessageError, MessageStatus
from wagate.observability import logger
from wagate.services import realtime, webhooks
from wagate.services.groups import GroupService
from wagate.services.inbound import InboundService
from wagate.services.messages import MessageService
from wagate.services.sessions import SessionService

if TYPE_CHECKING:
    from wagate.wiring import Deps

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
RECEIPTS = {"delivered": MessageStatus.DELIVERED, "read": MessageStatus.READ, "played": MessageStatus.READ}
# Meta's webhooks (services/meta_webhooks.py) also report `sent` and `failed` by provider id, later.
RECEIPTS.update({"sent": MessageStatus.SENT, "failed": MessageStatus.FAILED})


def handle_event(d: Deps, body: str) -> None:
    """Raises on bad input so the queue retries it and, past maxReceiveCount, parks it in the DLQ."""
    event = SessionEvent.model_validate_json(body)
    logger.append_keys(tenant_id=event.tenant_id, session_id=event.session_id)
    sessions = SessionService(
        d.table, d.queues, d.clock, limit=d.settings.max_sessions_per_tenant, shards=d.settings.shards
    )
    if event.type in SESSION_EVENTS:
        _session_event(d, sessions, event)
        return
    messages = MessageService(d.table, d.queues, d.clock, sessions)
    if event.type == EventType.MESSAGE_SENT:
        message = messages.apply_status(
            event.tenant_id,
            str(event.data["message_id"]),
            MessageStatus.SENT,
            float(event.data.get("at") or event.at),
            provider_message_id=event.data.get("provider_message_id"),
        )
        if message is not None:
            _push(d, event, EventType.MESSAGE_SENT, _message_fields(message))
    elif event.type == EventType.MESSAGE_STATUS:
        for message in _apply_receipt(messages, event):
            _push(
                d,
                event,
                EventType.MESSAGE_STATUS,
                {**_message_fields(message), "status": message.status.value},
            )
    elif event.type == EventType.INCOMING_MESSAGE:
        stored = InboundService(d.table, d.clock).record(
            event.tenant_id, event.session_id, dict(event.data), sandbox=bool(event.data.get("sandbox"))
        )
        if stored is not None:
            fields = _message_fields(stored)
            fields.update({"from": stored.sender, "type": stored.metadata.get("type", stored.kind.value)})
            _push(d, event, EventType.INCOMING_MESSAGE, fields)
    elif event.type == EventType.GROUPS_SYNCED:
        synced = GroupService(d.table, d.queues, d.clock, sessions).record(event)
        if synced is not None:  # an older sync arriving late is not news for the dashboards either
            _push(d, event, event.type, {**event.data, "syncedAt": synced.synced_at, "count": synced.count})
    else:
        _push(d, event, event.type, dict(event.data))


def _session_event(d: Deps, sessions: SessionService, event: SessionEvent) -> None:
    session = sessions.apply_event(event)
    if session is None:
        logger.info(
            "stale or unknown session event ignored", extra={"event": event.type, "fence": event.fence}
        )
        return
    data: dict[str, Any] = {**event.data, "status": session.status.value}
    if event.type == EventType.QR_CODE and event.data.get("qr"):
        data["qrCode"] = qr.data_url(str(event.data["qr"]))
    _push(d, event, event.type, data)


def _apply_receipt(messages: MessageService, event: SessionEvent) -> list[Message]:
    data = event.data
    error = None
    if data.get("message_id") or data.get("status") == "failed":
        error = MessageError(
            code=str(data.get("reason") or "send_failed"),
            message=str(data.get("detail") or data.get("reason") or "the message could not be sent"),
            retryable=bool(data.get("retryable", False)),
        )
    if data.get("message_id"):  # the connector gave up on one of our messages
        failed = messages.apply_status(
            event.tenant_id, str(data["message_id"]), MessageStatus.FAILED, event.at, error=error
        )
        return [failed] if failed else []
    status = RECEIPTS.get(str(data.get("status")))
    if status is None:
        logger.warning("receipt with an unknown status ignored", extra={"status": data.get("status")})
        return []
    changed = []
    for provider_id in data.get("provider_message_ids") or []:
        message_id = messages.by_provider_id(event.tenant_id, event.session_id, str(provider_id))
        if message_id is None:
            continue  # a receipt for a message sent from the phone itself, not through wagate
        at = float(data.get("at") or event.at)
        moved = messages.apply_status(event.tenant_id, message_id, status, at, error=error)
        if moved is not None:
            changed.append(moved)
    return changed


def _message_fields(message: Message) -> dict[str, Any]:
    """Seed 001's message event fields (camelCase), plus what a CRM needs to match it back."""
    return {
        "messageId": message.id,
        "conversationId": conversation_id(message.session_id, message.chat),
        "to": message.to,
        "content": message.text,
        "providerMessageId": message.provider_message_id,
        "metadata": message.metadata,
        "timestamp": dt.datetime.fromtimestamp(message.updated_at, dt.UTC).isoformat().replace("+00:00", "Z"),
        "sandbox": message.sandbox,
    }


def _push(d: Deps, event: SessionEvent, kind: EventType, data: dict[str, Any]) -> None:
    webhooks.enqueue(d, event, kind, data)  # first: durable CRM deliveries; dashboards are best effort
    message = realtime.message_for(kind, event.session_id, data)
    realtime.fan_out(d.table, d.push, event.tenant_id, event.session_id, message)
