"""Cloud API commands done by a Lambda (functions/cloud_send) where a connector would: send, read, check.

Also stop and clean-up. Outcomes are session events applied by the events code path.

A send:
    row queued ──session row──► its tenant suspended (services/operator.py): failed `tenant_suspended`
               ──pace──► wait ≤ 1 s inline, or back to the queue with a delay and the reserved slot
               ──claim──► sending (conditional on status and attempts as read; attempts + 1, claim_command)
               ──Graph──► accepted: `message_sent` (wamid as provider id), then any parked receipts
                          refused: `message_status` failed with the reason from the Graph code table
                          session-level (token, permission, account): the message fails AND the session
                            goes `failed` with that reason (it needs a person)
                          transient (rate limit, 5xx, no connection): failures + 1 on the claim, back to
                            the queue after a backoff (rate limits wait longer); failed after
                            WAGATE_SEND_TRIES (the connector's setting too)
                          no answer (sent, answer lost): failed `outcome_unknown`, retryable — a re-send
                            could reach the customer twice, so the CRM decides
Redelivery of our own claim: retried if every earlier try recorded its failure; otherwise that try's
outcome is unknown and the message fails as above (at most once). Other claims and finished rows: dropped.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from wagate.cloud import commands, pacing, payloads
from wagate.cloud.errors import CloudApiError, NeedsAttention, OutcomeUnknown, RateLimited
from wagate.cloud.inbound import user_jid
from wagate.conditions import Attr
from wagate.domain.content import Contacts, Interactive, Kind, Location, Reaction
from wagate.domain.errors import ConflictError, NotFound, WagateError
from wagate.domain.events import Command, CommandType, EventType, SessionEvent
from wagate.domain.media import MediaObject
from wagate.domain.messages import MessageStatus
from wagate.domain.sessions import PERMANENT
from wagate.domain.status_reports import RATE_LIMITED
from wagate.domain.tenants import SUSPENDED_CODE
from wagate.observability import logger
from wagate.ports import Item
from wagate.store.messages import MessageRepository, to_message

if TYPE_CHECKING:
    from wagate.cloud.sessions import CloudAccess, CloudSessionService
    from wagate.cloud.templates import CloudTemplateService
    from wagate.cloud.webhooks import ParkedStatuses
    from wagate.domain.messages import Message
    from wagate.ports import Clock, GraphClient, Queues, Table
    from wagate.services.connector_events import ConnectorEvents
    from wagate.services.media_files import MediaFiles

MAX_INLINE_WAIT = 1.0  # longer waits go back to the queue: a Lambda should not sleep through its timeout
MAX_DELAY = 900  # SQS's DelaySeconds limit
_MEDIA_KINDS = {"image": "image", "video": "video", "audio": "audio"}


class CloudCommands:
    def __init__(
        self,
        table: Table,
        queues: Queues,
        clock: Clock,
        cloud: CloudSessionService,
        events: ConnectorEvents,
        parked: ParkedStatuses,
        graph: Callable[[], GraphClient],
        *,
        tries: int,
        sleep: Callable[[float], None] = time.sleep,
        media: MediaFiles | None = None,
        templates: Callable[[], CloudTemplateService] | None = None,
    ) -> None:
        self.table = table
        self.queues = queues
        self.clock = clock
        self.cloud = cloud
        self.events = events
        self.parked = parked
        self._graph = graph  # resolved per command: the httpx client is made on first use
        self.sleep = sleep
        self.tries = tries  # one setting for every provider (WAGATE_SEND_TRIES)
        self.messages = MessageRepository(table)
        self.media = media  # stored files go to Meta by a short-lived link Meta fetches at once
        self.templates = templates  # the template syncs (cloud/templates.py), built when one comes

    def _link(self, message: Message) -> str | None:
        """A link to the stored file a message carries (None for a URL or a Meta media id).
        Raises ValueError when the file cannot be linked (no media store)."""
        stored = getattr(message.content, "media", None)
        if not isinstance(stored, MediaObject) or stored.id is None:
            return None
        if self.media is None:
            raise ValueError("stored media cannot be sent here: no media store")
        try:
            return self.media.linked(message.tenant_id, stored).url
        except WagateError as exc:
            raise ValueError(f"stored media {stored.id} cannot be linked: {exc.message}") from exc

    @property
    def graph(self) -> GraphClient:
        return self._graph()

    def handle(self, body: str) -> None:
        """One queued command. Raises on infrastructure errors (the queue retries), never for a refusal."""
        command = Command.model_validate_json(body)
        logger.append_keys(tenant_id=command.tenant_id, session_id=command.session_id)
        if command.type == CommandType.SEND:
            self._send(command)
        elif command.type == CommandType.MARK_READ:
            self._mark_read(command)
        elif command.type == CommandType.CONNECT:
            self._check(command)
        elif command.type == CommandType.SYNC_TEMPLATES and self.templates is not None:
            self.templates().sync(command.tenant_id, command.session_id)
        elif command.type == CommandType.LOGOUT and command.data.get("deleted"):
            self.cloud.forget(command.tenant_id, command.session_id)
        elif command.type in (CommandType.DISCONNECT, CommandType.LOGOUT):
            kind = EventType.LOGGED_OUT if command.type == CommandType.LOGOUT else EventType.SESSION_STATUS
            status = "logged_out" if command.type == CommandType.LOGOUT else "disconnected"
            reason = str(command.data.get("reason") or "by_request")  # tenant_suspended: services/operator.py
            self._event(command, kind, {"status": status, "reason": reason})
        else:
            logger.info("command not used by cloud sessions dropped", extra={"command": command.type})

    # ---- token check --------------------------------------------------------------------------------

    def _check(self, command: Command) -> None:
        """The token check. When Graph cannot be reached the session says so (`connecting`, reason
        `graph_unreachable`, the failure's kind in `status_detail`) and the check is tried again with
        backoff; after `send_tries` tries the session is `failed` with that reason, and POST
        /v1/sessions/{id}/connect starts the checks again."""
        try:
            event = self.cloud.check(self.graph, command.tenant_id, command.session_id)
        except NotFound:
            logger.info("token check of a session without credentials skipped")
            return
        except CloudApiError as exc:  # check() raises only transient errors
            self._check_later(command, exc)
            return
        self._apply(event)

    def _check_later(self, command: Command, error: CloudApiError) -> None:
        tries = int(command.data.get("try") or 1)
        kind = (
            str((error.details or {}).get("kind") or error.code)
            if isinstance(error.details, dict)
            else error.code
        )
        connect = f"POST /v1/sessions/{command.session_id}/connect"
        if tries >= self.tries:
            detail = (
                f"Graph could not be reached in {tries} tries ({kind}): {error.message}; retry with {connect}"
            )
            data = {
                "status": "failed",
                "reason": "graph_unreachable",
                "detail": detail,
                "needs_attention": True,
            }
            self._event(command, EventType.SESSION_FAILED, data)
            return
        base = 30.0 if isinstance(error, RateLimited) else 5.0
        delay = min(MAX_DELAY, base * 2 ** (tries - 1)) * random.uniform(1.0, 1.25)
        detail = (
            f"Graph could not be reached ({kind}): {error.message}; "
            f"try {tries + 1} of {self.tries} in {delay:.0f} s"
        )
        data = {"status": "connecting", "reason": "graph_unreachable", "detail": detail}
        self._event(command, EventType.SESSION_STATUS, data)
        later = command.model_copy(update={"data": {**command.data, "try": tries + 1}})
        self._later(later, delay, slot_at=None)

    # ---- send ---------------------------------------------------------------------------------------

    def _send(self, command: Command) -> None:
        tenant_id, message_id = command.tenant_id, str(command.data.get("message_id"))
        row = self.messages.row(tenant_id, message_id)
        verdict = _assess(row, command.id)
        if row is None or verdict == "duplicate":
            logger.info("send dropped: done, cancelled or another claim's", extra={"message_id": message_id})
            # A redelivery after the outcome was stored but not told: tell it now (services/outbox.py)
            self.events.outbox.drain_session(tenant_id, command.session_id)
            return
        if verdict == "unknown":
            self._failed(command, "outcome_unknown", "an earlier try got no answer from Meta", retryable=True)
            return
        session = self.cloud.sessions.rows.find(tenant_id, command.session_id)
        if session is not None and session.suspended_at is not None:  # services/operator.py marks it
            self._failed(
                command, SUSPENDED_CODE, "the tenant is suspended: nothing of it is sent", retryable=True
            )
            return
        if session is None or session.status in PERMANENT or session.desired == "stopped":
            status = session.status if session else "deleted"
            self._failed(command, "session_not_connected", f"the session is {status}")
            return
        try:
            access = self.cloud.access(tenant_id, command.session_id)
            body = _graph_body(to_message(row), link=self._link)
        except NotFound:
            self._failed(command, "session_not_connected", "the session has no Cloud API credentials")
            return
        except ValueError as exc:
            self._failed(command, "invalid_message", str(exc))
            return
        now = self.clock.now()
        if "slot_at" in command.data:
            wait = float(command.data["slot_at"]) - now
        else:
            rhythm = pacing.pacing_for(session.pacing)
            if self.events.health is not None:  # a number at risk is slowed here too (domain/health.py)
                rhythm = self.events.health.paced(tenant_id, command.session_id, rhythm)[0]
            wait = pacing.reserve(self.table, tenant_id, command.session_id, rhythm, now)
        if wait > MAX_INLINE_WAIT:
            self._later(command, wait, slot_at=now + wait)
            return
        if wait > 0:
            self.sleep(wait)
        try:
            row = _claim(self.messages, row, command.id, self.clock.now())
        except ConflictError:
            logger.info("send dropped: the message changed meanwhile", extra={"message_id": message_id})
            return
        try:
            accepted = self.graph.send(access.phone_number_id, access.token, body)
        except OutcomeUnknown as exc:
            self._failed(command, exc.code, exc.message, retryable=True)
        except NeedsAttention as exc:
            self._failed(command, exc.code, exc.message, retryable=True)
            self._event(command, EventType.SESSION_FAILED, _attention(exc))
        except CloudApiError as exc:
            if exc.is_transient:
                self._transient(command, row, exc)
            else:
                self._failed(command, exc.code, exc.message)
        else:
            to = str(row.get("to") or row["chat"])
            sent = {
                "message_id": message_id,
                "provider_message_id": accepted.message_id,
                "to": to,
                "to_jid": user_jid(payloads.recipient(to)),
                "at": self.clock.now(),
            }
            # Applied at once (not via the events queue): if this write fails, the redelivered command
            # finds its try without an outcome and reports `outcome_unknown` rather than sending twice.
            self._event(command, EventType.MESSAGE_SENT, sent)
            self.parked.replay(tenant_id, command.session_id, accepted.message_id)

    def _transient(self, command: Command, row: Item, error: CloudApiError) -> None:
        failures = _record_failure(self.messages, row, command.id, error, self.clock.now())
        if failures is None:
            return  # the claim is no longer ours: whoever holds it finishes the message
        if isinstance(error, RateLimited):  # Meta throttles the number: its status says so (once)
            cause = SessionEvent(
                id=f"{command.id}.{failures}",
                type=EventType.MESSAGE_STATUS,
                tenant_id=command.tenant_id,
                session_id=command.session_id,
                at=self.clock.now(),
            )
            self.events.flag(cause, RATE_LIMITED, f"{error.code}: {error.message}")
        if failures >= self.tries:
            self._failed(command, error.code, f"{error.message} (after {failures} tries)", retryable=True)
            return
        base = 30.0 if isinstance(error, RateLimited) else 5.0
        delay = min(MAX_DELAY, base * 2 ** (failures - 1))
        self._later(command, delay * random.uniform(1.0, 1.25), slot_at=None)

    def _later(self, command: Command, seconds: float, *, slot_at: float | None) -> None:
        data = {k: v for k, v in command.data.items() if k != "slot_at"}
        if slot_at is not None:
            data["slot_at"] = slot_at
        delay = min(MAX_DELAY, math.ceil(seconds))
        commands.enqueue(self.queues, command.model_copy(update={"data": data}), delay_seconds=delay)

    # ---- read receipts ------------------------------------------------------------------------------

    def _mark_read(self, command: Command) -> None:
        ids = [str(i) for i in command.data.get("message_ids") or []]
        if not ids:
            return
        try:
            access: CloudAccess = self.cloud.access(command.tenant_id, command.session_id)
            # Meta marks every earlier message of the chat read with the newest one (ids: newest first).
            self.graph.mark_read(access.phone_number_id, access.token, ids[0])
        except NotFound:
            logger.info("mark_read of a session without credentials dropped")
        except CloudApiError as exc:
            if exc.is_transient:
                raise
            logger.warning("mark_read refused by Meta", extra={"code": exc.code, "error": exc.message})

    # ---- outcomes as session events -------------------------------------------------------------------

    def _failed(self, command: Command, reason: str, detail: str, *, retryable: bool = False) -> None:
        data = {
            "message_id": command.data.get("message_id"),
            "status": "failed",
            "reason": reason,
            "detail": detail,
            "retryable": retryable,
        }
        self._event(command, EventType.MESSAGE_STATUS, data)

    def _event(self, command: Command, kind: EventType, data: dict[str, Any]) -> None:
        event = SessionEvent(
            type=kind,
            tenant_id=command.tenant_id,
            session_id=command.session_id,
            at=self.clock.now(),
            data=data,
        )
        self._apply(event)

    def _apply(self, event: SessionEvent) -> None:
        self.events.handle(event.model_dump_json())


def _attention(error: CloudApiError) -> dict[str, Any]:
    return {"status": "failed", "reason": error.code, "detail": error.message, "needs_attention": True}


def _assess(row: Item | None, command_id: str) -> str:
    """claimable | duplicate | unknown (our own earlier try ended without a recorded outcome)."""
    if row is None:
        return "duplicate"
    if row.get("status") == MessageStatus.QUEUED:
        return "claimable"
    if row.get("status") != MessageStatus.SENDING or row.get("claim_command") != command_id:
        return "duplicate"
    return "claimable" if int(row.get("failures", 0)) >= int(row.get("attempts", 0)) else "unknown"


def _claim(messages: MessageRepository, row: Item, command_id: str, now: float) -> Item:
    """queued (or our own failed try) → sending. Raises ConflictError when the row changed since read."""
    attempts = Attr("attempts").eq(row["attempts"]) if "attempts" in row else Attr("attempts").not_exists()
    changes = {
        "status": MessageStatus.SENDING.value,
        "claimed_by": "cloud",
        "claim_command": command_id,
        "claimed_at": now,
        "updated_at": now,
    }
    return dict(
        messages.update(
            str(row["tenant_id"]),
            str(row["id"]),
            set=changes,
            add={"attempts": 1},
            condition=Attr("status").eq(row["status"]) & attempts,
        )
    )


def _record_failure(
    messages: MessageRepository, row: Item, command_id: str, error: CloudApiError, now: float
) -> int | None:
    ours = Attr("status").eq(MessageStatus.SENDING.value) & Attr("claim_command").eq(command_id)
    try:
        item = messages.update(
            str(row["tenant_id"]),
            str(row["id"]),
            set={"last_error": {"code": error.code, "message": error.message}, "updated_at": now},
            add={"failures": 1},
            condition=ours,
        )
    except ConflictError:
        return None
    return int(item.get("failures", 0))


def _graph_body(message: Message, *, link: Callable[[Message], str | None] | None = None) -> dict[str, Any]:
    """The Graph request for a stored message. Raises ValueError for content Graph cannot take."""
    to = message.to or message.chat
    reply_to = message.quoted_id
    typed = _typed_body(message, to, reply_to)
    if typed is not None:
        return typed
    if message.template is not None:
        ref = message.template
        if not ref.get("language"):
            raise ValueError("a Cloud API template needs its language (e.g. en_US)")
        params = payloads.TemplateParams.from_variables(ref.get("variables") or {})
        components = [_component(c) for c in ref.get("components") or []]
        return payloads.template(
            to,
            str(ref["name"]),
            str(ref["language"]),
            params=params,
            components=components,
            reply_to=reply_to,
        )
    if message.media is not None:
        media = message.media
        kind = _MEDIA_KINDS.get((media.mime or "").split("/", 1)[0], "document")
        stored = link(message) if link is not None else None
        stored_kind = getattr(message.content, "type", None)
        if stored is not None and stored_kind is not None:
            kind = str(stored_kind.value if hasattr(stored_kind, "value") else stored_kind)
        return payloads.media(
            to,
            kind,  # type: ignore[arg-type]
            link=stored or media.url,
            media_id=None if (stored or media.url) else media.upload_id,
            caption=media.caption,
            filename=media.filename,
            reply_to=reply_to,
        )
    if message.text:
        return payloads.text(to, message.text, preview_url="https://" in message.text, reply_to=reply_to)
    raise ValueError("the message has nothing to send")


def _typed_body(message: Message, to: str, reply_to: str | None) -> dict[str, Any] | None:
    """The Graph request of a typed kind (domain/content.py); None for text, templates and media."""
    content = message.content
    if isinstance(content, Location):
        return payloads.location(
            to,
            content.latitude,
            content.longitude,
            name=content.name,
            address=content.address,
            reply_to=reply_to,
        )
    if isinstance(content, Contacts):
        cards = [
            payloads.ContactCard(
                formatted_name=card.name,
                phones=[p.phone for p in card.phones],
                emails=list(card.emails),
                organization=card.organization,
            )
            for card in content.contacts
        ]
        return payloads.contacts(to, cards, reply_to=reply_to)
    if isinstance(content, Reaction):
        if not content.target_provider_id:
            raise ValueError("a reaction names no sent message")
        return payloads.reaction(to, content.target_provider_id, content.emoji)
    if isinstance(content, Interactive):
        if content.style == "buttons":
            buttons = [payloads.Button(b.id, b.title) for b in content.buttons or []]
            return payloads.buttons(
                to, content.body, buttons, header=content.header, footer=content.footer, reply_to=reply_to
            )
        sections = [
            payloads.ListSection(
                s.title or "", [payloads.ListRow(r.id, r.title, r.description) for r in s.rows]
            )
            for s in content.sections or []
        ]
        return payloads.list_message(
            to,
            content.body,
            content.button or "",
            sections,
            header=content.header,
            footer=content.footer,
            reply_to=reply_to,
        )
    if content is not None and content.type in (Kind.EDIT, Kind.DELETE, Kind.POLL):
        raise ValueError(f"the Cloud API cannot send {content.type.value} messages")
    return None


def _component(component: dict[str, Any]) -> dict[str, Any]:
    """A template component in Meta's shape: media parameters nest their link or id under their type
    (`{"type": "image", "image": {"link": …}}`); None fields are left out."""
    out = {k: v for k, v in component.items() if v is not None and k != "parameters"}
    parameters = []
    for raw in component.get("parameters") or []:
        param = {k: v for k, v in raw.items() if v is not None}
        kind = param.get("type")
        if kind in ("image", "video", "document"):
            media = {k: param.pop(k) for k in ("link", "id", "filename") if k in param}
            param[kind] = media
        parameters.append(param)
    out["parameters"] = parameters
    return out
