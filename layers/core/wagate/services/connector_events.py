"""What the connector reports, applied (sessions, statuses, inbound, groups); then CRMs and dashboards.

The events consumer (functions/events) calls `ConnectorEvents.handle` once per queued event; Meta's webhooks
and the Cloud send consumer call it too. Applying is idempotent: a redelivered or late event changes nothing
(fences for sessions, monotonic status for messages, provider-id deduplication for incoming messages,
sync times for groups), so SQS's at-least-once delivery is safe. The notifications a change owes commit
with it (services/outbox.py) and are emitted right after; a retry that finds its change already made
emits what the session still owes, so a failure between storing and notifying loses nothing and sends
nothing twice to a CRM.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from wagate import meters, qr
from wagate.domain.content import TARGETING_KINDS
from wagate.domain.conversations import conversation_id
from wagate.domain.errors import ConflictError, WagateError
from wagate.domain.events import EventType, SessionEvent
from wagate.domain.ids import derived_id
from wagate.domain.media import MediaObject
from wagate.domain.messages import MAX_TIMESTAMP, Message, MessageError, MessageStatus, implied_steps
from wagate.domain.sessions import Session, SessionStatus
from wagate.domain.status_reports import (
    RATE_LIMIT_CODES,
    RATE_LIMITED,
    RESTRICTED,
    RESTRICTION_CODES,
    StatusReport,
    report_data,
)
from wagate.observability import logger
from wagate.services import outbox, realtime
from wagate.services.inbound import chat_of
from wagate.services.outbox import Notice, Outbox
from wagate.store.conversations import ConversationRepository

if TYPE_CHECKING:
    from wagate.ports import Clock, Push, Put, Table, TransactOp
    from wagate.services.audit import AuditLog
    from wagate.services.contacts import ContactChange
    from wagate.services.crm_webhooks import WebhookService
    from wagate.services.groups import GroupService
    from wagate.services.health import HealthService
    from wagate.services.inbound import InboundService
    from wagate.services.media_files import MediaFiles
    from wagate.services.messages import MessageService
    from wagate.services.number_check import NumberChecks
    from wagate.services.sessions import SessionService

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
# Meta's webhooks (cloud/webhooks.py) also report `sent` and `failed` by provider id, later.
RECEIPTS.update({"sent": MessageStatus.SENT, "failed": MessageStatus.FAILED})


class ConnectorEvents:
    """Applies session events, with the notifications each change owes (outbox), then emits them: CRM
    webhooks first, dashboards after."""

    def __init__(
        self,
        *,
        table: Table,
        clock: Clock,
        push: Push | None,
        sessions: SessionService,
        messages: MessageService,
        groups: GroupService,
        inbound: InboundService,
        webhooks: WebhookService,
        audit: AuditLog | None = None,
        media: MediaFiles | None = None,
        number_checks: NumberChecks | None = None,
        health: HealthService | None = None,
    ) -> None:
        self.table = table
        self.number_checks = number_checks  # answers to POST /v1/contacts/check (services/number_check.py)
        self.media = media  # fresh links to stored files as each notice goes out
        self.clock = clock
        self.push = push
        self.sessions = sessions
        self.messages = messages
        self.groups = groups
        self.inbound = inbound
        self.webhooks = webhooks
        self.audit = audit
        self.health = health  # the number's health signals, counted with each change
        self.outbox = Outbox(table, clock, lambda event, notice: self.emit(event, notice))
        self.conversations = ConversationRepository(table)

    def handle(self, body: str) -> None:
        """Raises on bad input so the queue retries it and, past maxReceiveCount, parks it in the DLQ."""
        event = SessionEvent.model_validate_json(body)
        logger.append_keys(tenant_id=event.tenant_id, session_id=event.session_id)
        owed = Owed(self.outbox, event, self.clock.now(), self.health)
        if event.type in SESSION_EVENTS:
            if not self._reason_applies(event):
                logger.info("a reason for a number no longer connected ignored", extra={"event": event.type})
                return
            session = self.sessions.apply_event(
                event,
                also=lambda new, report: [
                    *owed.row(_session_notices(event, new, report)),
                    *owed.report_signals(new, report),
                ],
                reported=_count_report,
            )
            if session is None:
                logger.info(
                    "stale or unknown session event ignored",
                    extra={"event": event.type, "fence": event.fence},
                )
            # A session event applies again when redelivered (the status may stay): what an earlier attempt
            # left owed is drained either way (session events are few: a query each is cheap).
            owed.settle(changed=session is not None, earlier=True)
            if session is not None and self.audit is not None:
                self.audit.session_event(event)  # linked, logged out, banned: security events
            return
        if event.type == EventType.MESSAGE_SENT:
            message = self.messages.apply_status(
                event.tenant_id,
                str(event.data["message_id"]),
                MessageStatus.SENT,
                _time(event.data.get("at"), event.at),
                provider_message_id=event.data.get("provider_message_id"),
                also=owed.message_row,
            )
            if message is not None:
                self._moved(message, owed.moved_from)
            owed.settle(changed=message is not None)
        elif event.type == EventType.MESSAGE_STATUS and event.data.get("by_me"):
            self._read_on_phone(event)
        elif event.type == EventType.MESSAGE_STATUS:
            _apply_receipt(self.messages, event, owed, self._moved)
            if event.data.get("message_id") and event.data.get("status") == "failed":
                self._number_signal(event)
        elif event.type == EventType.INCOMING_MESSAGE:
            historical = bool(event.data.get("historical"))  # imported history: stored, not news
            stored = self.inbound.record(
                event.tenant_id,
                event.session_id,
                dict(event.data),
                sandbox=bool(event.data.get("sandbox")),
                # A new or changed contact is told first: a CRM makes the lead, then files the message.
                also=None if historical else owed.incoming_row,
            )
            owed.settle(changed=stored is not None)
        elif event.type == EventType.NUMBERS_CHECKED:
            # Stored for the check's API call only: nothing a CRM or dashboard is told about.
            if self.number_checks is not None:
                self.number_checks.record(event)
        elif event.type == EventType.CONTACTS_SYNCED:
            # Who is who: the event itself is not told; the contacts it changes are (contact_updated).
            contacts = event.data.get("contacts")
            if isinstance(contacts, list):
                self._learn_contacts(event, contacts)
        elif event.type == EventType.GROUPS_SYNCED:
            # Applied again on a redelivery (same event id, so the CRM still gets one delivery).
            synced = self.groups.record(event)
            if synced is not None:  # an older sync arriving late is not news for the dashboards either
                data = {**event.data, "synced_at": synced.synced_at, "count": synced.count}
                self.emit(event, Notice(event.type, data))
        elif event.type == EventType.GROUP_UPDATED:
            # Applied again on a redelivery; the CRM still gets one delivery (same event id).
            change = self.groups.record_change(event)
            if change is not None:
                self.emit(event, Notice(event.type, change))
        elif event.type == EventType.GROUP_OPERATION:
            recorded = self.groups.record_operation(event)
            if recorded is not None:  # a redelivery emits again: deliveries dedupe by event id
                operation, change = recorded
                self.emit(event, Notice(event.type, operation.model_dump(mode="json")))
                if change is not None:
                    self.emit(event, Notice(EventType.GROUP_UPDATED, change))
        else:
            self.emit(event, Notice(event.type, dict(event.data)))

    def _reason_applies(self, event: SessionEvent) -> bool:
        """A `session_status` saying `connected` changes only the reason of a number that IS connected (a
        connection itself comes as `connection_success`): an engine's rate limit (web: throttle.py) that
        arrives after the connection dropped is not news, and the end of one (`ends`) clears that reason
        only, never another (a 463 restriction) set since."""
        if event.type != EventType.SESSION_STATUS or event.data.get("status") != SessionStatus.CONNECTED:
            return True
        record = self.sessions.rows.find(event.tenant_id, event.session_id)
        if record is None or record.status != SessionStatus.CONNECTED:
            return False
        ends = event.data.get("ends")
        return ends is None or record.session.status_reason == ends

    def _number_signal(self, event: SessionEvent) -> None:
        """A failure that says something about the NUMBER (463: it may not start chats; Meta's rate limits)
        becomes its status reason."""
        code = str(event.data.get("reason") or "")
        detail = str(event.data.get("detail") or code)
        if code in RESTRICTION_CODES:
            self.flag(event, RESTRICTED, detail)
        elif code in RATE_LIMIT_CODES:
            self.flag(event, RATE_LIMITED, detail)

    def flag(self, cause: SessionEvent, reason: str, detail: str) -> None:
        """A connected number WhatsApp restricts or throttles (`restricted`, `rate_limited`) keeps its
        status with that reason: one `session_status` report per episode (the reason changes back when
        the connection does). Its id derives from the event that showed it, so a redelivery is one report."""
        record = self.sessions.rows.find(cause.tenant_id, cause.session_id)
        if record is None or record.status != SessionStatus.CONNECTED:
            return
        if record.session.status_reason == reason:
            return
        status = SessionEvent(
            id=f"{cause.id}.{reason}",
            type=EventType.SESSION_STATUS,
            tenant_id=cause.tenant_id,
            session_id=cause.session_id,
            fence=cause.fence,
            at=cause.at,
            data={"status": SessionStatus.CONNECTED.value, "reason": reason, "detail": detail},
        )
        self.handle(status.model_dump_json())

    def _learn_contacts(self, event: SessionEvent, contacts: list[Any]) -> None:
        """Who is who, applied to contacts; each contact that changed (a LID folded into its phone, a new
        name) owes a `contact_updated`, committed with its change and emitted after."""
        now = self.clock.now()
        owed: list[Put] = []

        def notice(change: ContactChange) -> list[TransactOp]:
            # One event can change many contacts: each notice gets its own event id (derived, so a
            # redelivery would give the same), since CRM delivery ids derive from it.
            own = event.model_copy(
                update={"id": derived_id("evt", event.at, f"{event.id}|{change.data.get('phone')}")}
            )
            put = outbox.row(own, [change.notice()], now)
            owed.append(put)
            return [put]

        self.inbound.learn_contacts(event.tenant_id, contacts, also=notice)
        for put in owed:
            self.outbox.drain(put)

    def _read_on_phone(self, event: SessionEvent) -> None:
        """The account read the chat on its phone: its unread count goes to zero here too (no receipt is
        sent: the phone did that)."""
        chat_jid = str(event.data.get("chat_jid") or "")
        chat = chat_jid if chat_jid.endswith("@g.us") else chat_of(chat_jid)
        try:
            self.conversations.mark_read(event.tenant_id, conversation_id(event.session_id, chat))
        except ConflictError:
            return  # no conversation with that chat here (only the phone knows it)

    def _moved(self, message: Message, previous: MessageStatus | None) -> None:
        """After a committed move that passed `sent`, reported or implied (a receipt can overtake the
        connector's `message_sent`, which then moves nothing): the message counts as sent once, and our
        edit, delete or reaction changes the message it names."""
        steps = [*implied_steps(previous, message.status), message.status] if previous is not None else []
        if MessageStatus.SENT not in steps:
            return
        meters.count("wagate_messages_sent_total")
        self._sent_change(message)

    def _sent_change(self, message: Message) -> None:
        """Our edit, delete or reaction, once WhatsApp took it, changes the message it names (kept in
        history as received ones are)."""
        content = message.content
        target = getattr(content, "target_id", None)
        if content is None or message.kind not in TARGETING_KINDS or not target:
            return
        at = message.sent_at or message.updated_at
        change_id = message.provider_message_id or message.id
        self.inbound.changes.apply(
            message.tenant_id, str(target), content, by="me", at=at, change_id=change_id
        )

    def emit(self, event: SessionEvent, notice: Notice) -> None:
        """One notice out: durable CRM deliveries first (ids derive from the event), then the dashboards."""
        notice = self._linked(event.tenant_id, notice)
        if notice.crm:
            self.webhooks.enqueue(event, notice.kind, notice.data)
        message = realtime.message_for(notice.kind, event.session_id, _for_dashboards(notice.data))
        realtime.fan_out(self.table, self.push, event.tenant_id, event.session_id, message)

    def _linked(self, tenant_id: str, notice: Notice) -> Notice:
        """A message notice's `media` with a link valid from now (never a WhatsApp URL or key)."""
        media = notice.data.get("media")
        if self.media is None or not isinstance(media, dict) or not media.get("id"):
            return notice
        try:
            linked = self.media.linked(tenant_id, MediaObject.model_validate(media))
        except (WagateError, ValueError):
            return notice  # no media store here: the CRM asks GET /v1/media/{id}
        return Notice(notice.kind, {**notice.data, "media": linked.model_dump(mode="json")})


def _for_dashboards(data: dict[str, Any]) -> dict[str, Any]:
    """A group's member list stays out of dashboard pushes (a big group's would pass API Gateway's 128 KB
    WebSocket frame); dashboards read the group again. CRM webhooks carry it."""
    group = data.get("group")
    if not isinstance(group, dict) or not group.get("members"):
        return data
    return {**data, "group": {k: v for k, v in group.items() if k != "members"}}


class Owed:
    """The outbox row one event's change commits with (services/outbox.py), and its drain afterwards."""

    def __init__(
        self, outbox: Outbox, event: SessionEvent, now: float, health: HealthService | None = None
    ) -> None:
        self.outbox = outbox
        self.event = event
        self.now = now
        self.health = health
        self.pending: Put | None = None
        self.moved_from: MessageStatus | None = None  # the status the last attempted move started from

    def message_row(self, new: Message, previous: MessageStatus) -> list[TransactOp]:
        """`row` for a message's status move, with the number's health counters it moves."""
        self.moved_from = previous
        signals = self.health.status_ops(new, previous) if self.health is not None else []
        return [*self.row(_status_notices(new, previous)), *signals]

    def report_signals(self, session: Session, report: StatusReport | None) -> list[TransactOp]:
        """A rate-limit episode an engine reported for a refused query (web: `request`) counts once in the
        number's `rate_limited` signal; a refused message counted itself already (`message_row`)."""
        if self.health is None or report is None or session.status_reason != RATE_LIMITED:
            return []
        if not self.event.data.get("request"):
            return []
        return self.health.signal_ops(session.tenant_id, session.id, {"rate_limited": 1})

    def incoming_row(self, message: Message, contact: ContactChange | None) -> list[TransactOp]:
        """`row` for a stored incoming message (after its new or changed contact's notice), with the
        reply it counts."""
        signals = self.health.reply_ops(message) if self.health is not None else []
        notices = [*([contact.notice()] if contact else []), _incoming_notice(message)]
        return [*self.row(notices), *signals]

    def row(self, notices: list[Notice]) -> list[TransactOp]:
        """The write for `also=`: called once per attempt of a change; only the committed one counts."""
        put = outbox.row(self.event, notices, self.now)
        self.pending = put
        return [put]

    def settle(self, *, changed: bool, earlier: bool = False) -> None:
        """After one change: drain the row it committed; when the change was found already made (a
        retry), or with `earlier`, also what the session still owes from earlier attempts."""
        if changed and self.pending is not None:
            self.outbox.drain(self.pending)
        if not changed or earlier:
            self.outbox.drain_session(self.event.tenant_id, self.event.session_id)


def _count_report(session: Session) -> None:
    """Every `session_status` report, by status and reason (bans, logouts, restrictions: README)."""
    meters.count(
        "wagate_session_status_changes_total", status=session.status.value, reason=session.status_reason
    )


def _session_notices(event: SessionEvent, session: Session, report: StatusReport | None) -> list[Notice]:
    """The event's own notice (seed 001's vocabulary), then the `session_status` report when CRMs are owed
    one (domain/status_reports.py). A `session_status` step that is not news (`connecting`) goes to the
    dashboards only."""
    data: dict[str, Any] = {**event.data, "status": session.status.value}
    if event.type == EventType.QR_CODE and event.data.get("qr"):
        data["qr_code"] = qr.data_url(str(event.data["qr"]))
    notices: list[Notice] = []
    if event.type != EventType.SESSION_STATUS:
        notices.append(Notice(event.type, data))
    elif report is None:
        notices.append(Notice(event.type, data, crm=False))
    if report is not None:
        notices.append(Notice(EventType.SESSION_STATUS, report_data(session, report, event.data)))
    return notices


def _status_notices(message: Message, previous: MessageStatus) -> list[Notice]:
    """The move's events, after one for each step it skipped (`read` first: a `delivered` before it;
    `sent` skipped: a `message_sent`), so a CRM counting each kind counts this message too."""
    notices = []
    for step in [*implied_steps(previous, message.status), message.status]:
        if step == MessageStatus.SENT:
            notices.append(Notice(EventType.MESSAGE_SENT, _message_fields(message)))
        else:
            fields = {**_message_fields(message), "status": step.value}
            if step == MessageStatus.FAILED and message.error is not None:  # why, so the CRM can act on it
                fields["error"] = message.error.model_dump(mode="json")
            notices.append(Notice(EventType.MESSAGE_STATUS, fields))
    return notices


def _incoming_notice(message: Message) -> Notice:
    fields = _message_fields(message)
    if message.source == "phone":  # typed on the account's phone: for the CRM, a message that went out
        fields.update({"from": message.sender, "status": "sent", "source": "phone"})
        return Notice(EventType.MESSAGE_SENT, fields)
    fields.update({"from": message.sender, "type": message.metadata.get("type", message.kind.value)})
    return Notice(EventType.INCOMING_MESSAGE, fields)


def _apply_receipt(
    messages: MessageService,
    event: SessionEvent,
    owed: Owed,
    moved: Callable[[Message, MessageStatus | None], None],
) -> None:
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
            event.tenant_id,
            str(data["message_id"]),
            MessageStatus.FAILED,
            event.at,
            error=error,
            also=owed.message_row,
        )
        if failed is not None and error is not None:
            meters.count("wagate_messages_failed_total", reason=error.code)
        owed.settle(changed=failed is not None)
        return
    status = RECEIPTS.get(str(data.get("status")))
    if status is None:
        logger.warning("receipt with an unknown status ignored", extra={"status": data.get("status")})
        return
    unchanged = False
    for provider_id in data.get("provider_message_ids") or []:
        message_id = messages.by_provider_id(event.tenant_id, event.session_id, str(provider_id))
        if message_id is None:
            continue  # a receipt for a message sent from the phone itself, not through wagate
        at = _time(data.get("at"), event.at)
        # Found by this id, so it is the message's WhatsApp id even when the receipt overtook
        # `message_sent` (web ids are derived at accept): the message and what it tells carry it now.
        applied = messages.apply_status(
            event.tenant_id,
            message_id,
            status,
            at,
            provider_message_id=str(provider_id),
            error=error,
            also=owed.message_row,
        )
        if applied is not None:
            moved(applied, owed.moved_from)
            owed.settle(changed=True)
        else:
            unchanged = True
    if unchanged:
        owed.settle(changed=False)


def _time(raw: Any, fallback: float) -> float:
    """A reported time, or the event's when it is missing or not a time a datetime can hold."""
    try:
        value = float(raw)
    except (TypeError, ValueError, OverflowError):
        return fallback
    return value if 0 < value <= MAX_TIMESTAMP else fallback


def _message_fields(message: Message) -> dict[str, Any]:
    """Seed 001's message event fields (snake_case; the camelCase aliases are added on the way out), plus
    what a CRM needs to match it back."""
    return {
        "message_id": message.id,
        "conversation_id": conversation_id(message.session_id, message.chat),
        "to": message.to,
        "content": message.text,
        "kind": message.kind.value,
        # `content` stays the text (seed 001's name); the typed content (the message's `content`) sits beside.
        "content_object": _typed(message),
        # The stored file (id, type, size, sha256; a link is added as the notice goes out).
        "media": _media_object(message),
        "quoted_id": message.quoted_id,
        "provider_message_id": message.provider_message_id,
        "metadata": message.metadata,
        "timestamp": dt.datetime.fromtimestamp(message.updated_at, dt.UTC).isoformat().replace("+00:00", "Z"),
        "sandbox": message.sandbox,
    }


def _media_object(message: Message) -> dict[str, Any] | None:
    media = getattr(message.content, "media", None)
    return media.model_dump(mode="json") if isinstance(media, MediaObject) else None


def _typed(message: Message) -> dict[str, Any] | None:
    return message.content.model_dump(mode="json", exclude_none=True) if message.content else None
