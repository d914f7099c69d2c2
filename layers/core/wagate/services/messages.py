"""Messages: accept sends (now or scheduled), cancel and reschedule them, list them, and apply statuses.

Rows: store/messages.py, the due index store/due_index.py (keys and access patterns: store/keys.py).
Sending a queued message = a `send` command on the session's shard queue; the connector claims the message
(queued → sending, a conditional update), sends it, and reports statuses back as events. A `cloud`
session's command goes to `CloudSendQueue` instead, where a Lambda does the same (cloud/sends.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from wagate.cloud import commands
from wagate.conditions import Attr
from wagate.domain.broadcasts import counts_moved
from wagate.domain.content import (
    MEDIA_CLASSES,
    SENDABLE,
    Audio,
    ContactCard,
    Contacts,
    Delete,
    Edit,
    Interactive,
    Kind,
    Location,
    MediaBody,
    Poll,
    Reaction,
    Template,
    TemplateComponent,
    Text,
    summary,
)
from wagate.domain.errors import ConflictError, InvalidInput, NotFound
from wagate.domain.events import Command, CommandType
from wagate.domain.ids import new_id
from wagate.domain.instants import Instant
from wagate.domain.media import MediaObject, MediaProvider, check_sendable, is_stored_media_id
from wagate.domain.messages import (
    CANCELLABLE,
    STAMPS,
    ContentKind,
    Direction,
    MediaContent,
    Message,
    MessageError,
    MessageStatus,
    MessageText,
    implied_steps,
    moves_forward,
    whatsapp_message_id,
)
from wagate.domain.phones import normalise_phone
from wagate.domain.sessions import PERMANENT, Provider
from wagate.ports import Clock, Queues, Table, TransactOp
from wagate.services.due_index import DISPATCH_QUEUE, dispatch_message
from wagate.services.groups import GroupService
from wagate.services.media_files import MediaFiles
from wagate.services.pools import PoolService
from wagate.services.quotas import TenantQuotas
from wagate.services.sessions import SessionService, command_queue, shard_of
from wagate.store import broadcasts
from wagate.store.conversations import activity
from wagate.store.due_index import DueIndex
from wagate.store.media import file_object
from wagate.store.messages import MessageRepository, to_message

if TYPE_CHECKING:
    from wagate.services.insights import Insights

__all__ = ["MessageService", "SendRequest", "TemplateRef", "normalise_recipient", "to_message"]

SendKind = Literal[
    "text", "template", "media", "location", "contacts", "reaction", "edit", "delete", "poll", "interactive"
]
GROUP_ID = re.compile(r"^\d{5,20}(-\d{1,12})?@g\.us$")
MAX_SCHEDULE_AHEAD = 366 * 24 * 3600
REQUEST_KEY_SECONDS = 24 * 3600  # as long as the Idempotency-Key's record (api/idempotency.py)
TAKEN_BACK = {"n_accepted": -1}  # a paused broadcast's queued message, cancelled to be queued again later
SOON_SECONDS = 120  # a sweep runs every minute and looks 90 s ahead: anything sooner skips the due index


class TemplateRef(BaseModel):
    model_config = ConfigDict(defer_build=True)

    name: str = Field(min_length=1, max_length=100, description="A template of this tenant (or a built-in)")
    variables: dict[str, str] = Field(default_factory=dict, description="Values for its {placeholders}")
    language: str | None = Field(None, description="e.g. es or en; the template's default when omitted")
    components: list[TemplateComponent] = Field(
        default_factory=list,
        max_length=20,
        description="Cloud only: header, body and button parameters of a Meta template, in Meta's shape",
    )


class Targeted(BaseModel):
    """The message a reaction, edit or delete acts on: wagate's id (or the provider's)."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    target_id: str | None = Field(
        None, min_length=1, max_length=64, description="wagate's message id (msg_…)"
    )
    target_provider_id: str | None = Field(
        None, min_length=1, max_length=256, description="Or the WhatsApp/Meta id of a message wagate stored"
    )

    @model_validator(mode="after")
    def _one(self) -> Targeted:
        if (self.target_id is None) == (self.target_provider_id is None):
            raise ValueError("give exactly one of target_id or target_provider_id")
        return self


class ReactionRequest(Targeted):
    emoji: str = Field(max_length=32, description='One emoji; "" takes our reaction back')


class EditRequest(Targeted):
    body: MessageText = Field(description="The new text (our own text messages, within 15 minutes)")


class DeleteRequest(Targeted):
    """Deletes our message for everyone (or, as a group admin, someone else's)."""


# What each `type` of send carries: the request field of the same name.
SEND_KINDS: tuple[str, ...] = ("text", "template", "media", "location", "contacts", "reaction", "edit")
SEND_KINDS += ("delete", "poll", "interactive")
EDIT_WINDOW_SECONDS = 15 * 60  # WhatsApp drops edits of messages older than this


class SendRequest(BaseModel):
    """What a CRM asks to send. Exactly one of text, template and media."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "session_id": "ses_01JD3Q8K2M4N6P8R0T2V4X6Z8B",
                    "to": "+34 600 12 34 56",
                    "text": "Hola Ana",
                },
                {
                    "pool": "front-desk",
                    "to": "+34600123456",
                    "template": {
                        "name": "appointment_reminder",
                        "language": "es",
                        "variables": {"nombre": "Ana"},
                    },
                    "scheduled_at": "2026-12-07T09:00:00-03:00",
                },
            ]
        },
        defer_build=True,
    )

    session_id: str | None = Field(None, description="The session (number) to send from")
    pool: str | None = Field(None, description="Or a number pool: wagate picks a connected number")
    to: str = Field(
        min_length=3, max_length=64, description="E.164 phone (+34600123456) or a group id (…@g.us)"
    )
    type: SendKind | None = Field(
        None, description="What to send: the field of that name holds it (inferred when only one is given)"
    )
    text: MessageText | None = None
    template: TemplateRef | None = None
    media: MediaContent | None = None
    location: Location | None = None
    contacts: list[ContactCard] | None = Field(None, min_length=1, max_length=20, description="Contact cards")
    reaction: ReactionRequest | None = None
    edit: EditRequest | None = None
    delete: DeleteRequest | None = None
    poll: Poll | None = Field(None, description="web: a poll; votes come back as poll_vote messages")
    interactive: Interactive | None = Field(None, description="cloud: reply buttons or a list")
    reply_to: str | None = Field(
        None, min_length=1, max_length=64, description="Quote this message (wagate's id) in the reply"
    )
    scheduled_at: Instant | None = Field(
        None,
        description="Epoch seconds or ISO 8601 with an offset (2026-12-07T09:00:00-03:00); omit to send now",
    )
    metadata: dict[str, Any] = Field(default_factory=dict, description="Free JSON, returned in every event")

    @model_validator(mode="after")
    def _one_content(self) -> SendRequest:
        given = [k for k in SEND_KINDS if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of {', '.join(SEND_KINDS)}")
        if self.type is not None and self.type != given[0]:
            raise ValueError(f"type is {self.type} but the message gives {given[0]}")
        if given[0] in ("reaction", "edit", "delete") and self.reply_to is not None:
            raise ValueError("reply_to quotes a message; a reaction, edit or delete names its own target")
        if (self.session_id is None) == (self.pool is None):
            raise ValueError("give exactly one of session_id or pool")
        if self.media is not None and (self.media.url is None) == (self.media.upload_id is None):
            raise ValueError("media needs exactly one of url or upload_id")
        if self.media is not None and self.media.url is not None and self.media.mime is None:
            raise ValueError("media.mime is required with media.url")
        return self


def request_kind(request: SendRequest) -> str:
    """The kind a send request carries (its `type`, or the one content field it gives)."""
    return request.type or next(k for k in SEND_KINDS if getattr(request, k) is not None)


def normalise_recipient(to: str) -> str:
    """E.164 for phones, the id as given for groups. Raises InvalidInput naming `to`."""
    to = to.strip()
    if "@" in to:
        if not GROUP_ID.match(to):
            raise InvalidInput("to: a group id looks like 120363012345678901@g.us", details={"field": "to"})
        return to
    return normalise_phone(to, field="to")


class MessageService:
    def __init__(
        self,
        table: Table,
        queues: Queues,
        clock: Clock,
        sessions: SessionService,
        *,
        pools: PoolService,
        groups: GroupService,
        renderer: Any = None,
        media_check: Callable[[MediaContent], None] | None = None,
        media_files: MediaFiles | None = None,
        cloud_templates: Callable[[], Any] | None = None,
        insights: Insights | None = None,
        quotas: TenantQuotas | None = None,
    ):
        self.table = table
        # Rollup counters committed with each status move, and reply tracking after a send.
        self.insights = insights
        self.quotas = quotas  # the tenant's messages_per_day, counted in the accept's transaction
        self.queues = queues
        self.clock = clock
        self.sessions = sessions
        self.rows = MessageRepository(table)
        self.due = DueIndex(table)
        # renderer(tenant_id, TemplateRef) -> str; the templates service, injected to keep modules apart.
        self.renderer = renderer
        # media_check(media) raises when a media URL cannot be sent (services/media.py: it does network I/O).
        self.media_check = media_check
        self.media_files = media_files  # stored files a send names by media id (services/media_files.py)
        self.pools = pools
        self.groups = groups
        # cloud_templates() -> the CloudTemplateService (cloud/templates.py): a Meta template send is
        # checked against the number's last template sync. A factory: most sends never need it.
        self.cloud_templates = cloud_templates

    # ---- outbound -----------------------------------------------------------------------------------

    def accept(
        self,
        tenant_id: str,
        request: SendRequest,
        *,
        request_key: str | None = None,
        broadcast_id: str | None = None,
    ) -> Message:
        """Validate, store and queue (or schedule) one message. Nothing is stored when anything is wrong.
        A broadcast's message counts itself in its broadcast's counters in the same transaction.

        With `request_key` (the Idempotency-Key) the message and the key commit together, so a retry whose
        first try died after storing (its idempotency record freed after a crash) gets that message
        again, handed to the connector again if it may never have been (the send claim dedupes), never
        a second message."""
        if request_key is not None:
            stored = self.rows.message_for_request(tenant_id, request_key)
            if stored is not None:
                return self._again(stored)
        now = self.clock.now()
        pool_ops: list[TransactOp] = []
        if request.pool is not None:
            pick = self.pools.pick(tenant_id, request.pool)
            session, pool_ops = pick.session, [pick.usage]
        else:
            assert request.session_id is not None
            session = self.sessions.for_send(tenant_id, request.session_id)
        if session.status in PERMANENT:
            raise ConflictError(
                f"session {session.id} is {session.status.value}: link it again before sending",
                code="session_not_connected",
                details={"status": session.status.value},
            )
        to = normalise_recipient(request.to)
        if to.endswith("@g.us"):
            self.groups.check_recipient(tenant_id, session.id, to)
        if request.scheduled_at is not None:
            if request.scheduled_at < now - 1:
                raise InvalidInput("scheduled_at is in the past", details={"field": "scheduled_at"})
            if request.scheduled_at > now + MAX_SCHEDULE_AHEAD:
                raise InvalidInput(
                    "scheduled_at is more than a year ahead", details={"field": "scheduled_at"}
                )
        cloud = session.provider == Provider.CLOUD
        wanted = request_kind(request)
        _check_sendable(session.provider, wanted, request)
        typed, quoted_id = self._typed(tenant_id, session.id, to, wanted, request, now)
        if wanted in ("text", "template", "media"):
            kind, text, template = self._content(tenant_id, request, cloud=cloud)
            if cloud and request.template is not None and self.cloud_templates is not None:
                self.cloud_templates().check_send(
                    tenant_id,
                    session.id,
                    request.template.name,
                    request.template.language or "",
                    request.template.variables,
                    [c.model_dump(mode="json", exclude_none=True) for c in request.template.components],
                )
            if typed is None and text is not None and wanted == "text":
                typed = Text(body=text)
            elif wanted == "template" and request.template is not None:
                typed = Template(
                    name=request.template.name,
                    language=request.template.language,
                    variables=request.template.variables,
                    components=request.template.components,
                    body=text,
                )
        else:
            assert typed is not None
            kind, text, template = Kind(wanted), summary(typed), None
        media = request.media
        upload_id = media.upload_id if media is not None else None
        if media is not None and upload_id is not None and (not cloud or is_stored_media_id(upload_id)):
            media, typed = self._stored_media(tenant_id, media, upload_id, cloud=cloud)
            kind = Kind(typed.model_dump()["type"])
        # A Cloud API upload_id is a media id already uploaded to Meta: nothing to probe.
        elif media is not None and not (cloud and upload_id):
            if session.provider == Provider.WEB:
                # Said now rather than as a failure later: the web engine sends stored files only.
                raise InvalidInput(
                    "media.url: a web session sends stored files; upload it (POST /v1/media) and give "
                    "media.upload_id",
                    code="media_url_not_supported",
                    details={"field": "media.url"},
                )
            if self.media_check is None:
                raise InvalidInput("media cannot be checked here", details={"field": "media"})
            self.media_check(media)  # last: it goes over the network
        message_id = new_id("msg", now)
        scheduled = request.scheduled_at is not None and request.scheduled_at > now + 1
        message = Message(
            id=message_id,
            tenant_id=tenant_id,
            session_id=session.id,
            direction=Direction.OUTBOUND,
            to=to,
            chat=to,
            kind=kind,
            text=text,
            content=typed,
            quoted_id=quoted_id,
            template=template,
            media=media,
            status=MessageStatus.SCHEDULED if scheduled else MessageStatus.QUEUED,
            metadata=request.metadata,
            broadcast_id=broadcast_id,
            scheduled_at=request.scheduled_at,
            created_at=now,
            updated_at=now,
            sandbox=session.provider == Provider.SANDBOX,
        )
        ops: list[TransactOp] = [self.rows.put_new(message), activity(message)]
        ops += pool_ops  # a pool's "last picked" mark lands with the message, or not at all
        if broadcast_id is not None:
            ops.append(broadcasts.accepted(tenant_id, broadcast_id))
        if not cloud:
            # The WhatsApp id is ours (derived), so receipts that overtake `message_sent` still find it.
            ops.append(
                self.rows.put_provider_id(tenant_id, session.id, whatsapp_message_id(message_id), message_id)
            )
        soon = scheduled and request.scheduled_at is not None and request.scheduled_at <= now + SOON_SECONDS
        if scheduled and not soon:
            assert request.scheduled_at is not None
            ops.append(self.due.add(tenant_id, message_id, request.scheduled_at))
        if request_key is not None:
            expires_at = now + REQUEST_KEY_SECONDS
            ops.append(self.rows.put_request_key(tenant_id, request_key, message_id, expires_at=expires_at))
        counted = self.quotas.count_message(tenant_id) if self.quotas is not None else None
        if counted is not None:
            ops.append(counted)
        try:
            self.table.transact_write(ops)
        except ConflictError as exc:
            stored = self.rows.message_for_request(tenant_id, request_key) if request_key else None
            if stored is None and counted is not None and self.quotas is not None:
                if len(ops) - 1 in ((exc.details or {}).get("failed") or []):
                    raise self.quotas.messages_refused(tenant_id) from exc
            if stored is None:
                raise
            return stored  # the same key won a race with this try: its message is the answer
        if soon:
            # Due before the next sweep could see it: straight into the delay queue.
            assert request.scheduled_at is not None
            self.queues.get(DISPATCH_QUEUE).send_batch(
                [dispatch_message(tenant_id, message_id, request.scheduled_at, now)]
            )
        elif not scheduled:
            self.dispatch(message, provider=session.provider)
        return message

    def _stored_media(
        self, tenant_id: str, media: MediaContent, media_id: str, *, cloud: bool
    ) -> tuple[MediaContent, MediaBody]:
        """A send of a stored file: it must be uploaded and complete, and the provider must take it.
        Raises NotFound `media_not_found`, ConflictError `media_not_uploaded`, ItemTooLarge, InvalidInput."""
        if self.media_files is None:
            raise InvalidInput("stored media cannot be sent here", details={"field": "media.upload_id"})
        stored = self.media_files.ready(tenant_id, media_id)
        provider = MediaProvider.CLOUD if cloud else MediaProvider.WEB
        check_sendable(stored.kind, stored.mime, stored.size, provider)
        filename = media.filename or stored.filename
        media = media.model_copy(update={"mime": stored.mime, "filename": filename})
        body = MEDIA_CLASSES[Kind(stored.kind.value)]
        extra = {"voice": stored.voice} if body is Audio else {}
        content = body(
            caption=media.caption,
            filename=filename,
            mime_type=stored.mime,
            media=file_object(stored, caption=media.caption),
            **extra,
        )
        return media, content

    def _again(self, message: Message) -> Message:
        """A send retried after its first try stored `message`: hand it over again while still queued
        (the first try may have died before doing so; a second `send` command is deduplicated)."""
        if message.status == MessageStatus.QUEUED:
            self.dispatch(message)
        return message

    def dispatch(self, message: Message, *, provider: Provider | None = None) -> None:
        """Hands a queued message to the connector that holds its session (a `send` command); a `cloud`
        session's goes to the Cloud API consumer instead (cloud/sends.py)."""
        shards = self.sessions.shards
        command = Command(
            type=CommandType.SEND,
            tenant_id=message.tenant_id,
            session_id=message.session_id,
            data=self._send_data(message),
            issued_at=self.clock.now(),
        )
        if provider is None:
            try:
                provider = self.sessions.get(message.tenant_id, message.session_id).provider
            except NotFound:
                provider = None  # deleted: the connector reports the message failed
        if provider == Provider.CLOUD:
            commands.enqueue(self.queues, command)
            return
        queue = self.queues.get(command_queue(shard_of(message.session_id, shards)))
        # Dedup by message id: a second dispatch of the same message within 5 minutes is dropped.
        queue.send(command.model_dump_json(), group_id=message.session_id, dedup_id=f"send-{message.id}")

    def get(self, tenant_id: str, message_id: str) -> Message:
        return self.rows.get(tenant_id, message_id)

    def cancel(self, tenant_id: str, message_id: str, *, taken_back: bool = False) -> Message:
        """Cancels a scheduled or queued message. 409 once the connector has claimed it. `taken_back`: a
        paused broadcast takes its queued message back, to queue it again on resume (it then counts as
        not accepted yet, rather than as cancelled)."""
        item = self.rows.get_row(tenant_id, message_id)
        if item["status"] not in CANCELLABLE:
            raise ConflictError(
                f"message {message_id} is {item['status']}: only scheduled or queued ones can be cancelled",
                code="not_cancellable",
                details={"status": item["status"]},
            )
        ops: list[TransactOp] = [
            self.rows.change(
                tenant_id,
                message_id,
                set={"status": MessageStatus.CANCELLED.value, "updated_at": self.clock.now()},
                condition=Attr("status").eq(item["status"]),
            )
        ]
        if item["status"] == MessageStatus.SCHEDULED and item.get("scheduled_at") is not None:
            ops.append(self.due.remove(tenant_id, message_id, float(item["scheduled_at"])))
        if item.get("broadcast_id"):
            moved = counts_moved(MessageStatus(item["status"]), MessageStatus.CANCELLED)
            ops.append(
                broadcasts.counted(tenant_id, item["broadcast_id"], TAKEN_BACK if taken_back else moved)
            )
        try:
            self.table.transact_write(ops)
        except ConflictError as exc:
            raise ConflictError(
                f"message {message_id} changed meanwhile; it can no longer be cancelled",
                code="not_cancellable",
            ) from exc
        return self.get(tenant_id, message_id)

    def reschedule(self, tenant_id: str, message_id: str, scheduled_at: float) -> Message:
        """Moves a scheduled message to a new time (reminder plans use this when the event moves)."""
        item = self.rows.get_row(tenant_id, message_id)
        if item["status"] != MessageStatus.SCHEDULED:
            raise ConflictError(
                f"message {message_id} is {item['status']}, not scheduled", code="not_scheduled"
            )
        if scheduled_at < self.clock.now() - 1:
            raise InvalidInput("scheduled_at is in the past", details={"field": "scheduled_at"})
        old = float(item["scheduled_at"])
        self.table.transact_write(
            [
                self.rows.change(
                    tenant_id,
                    message_id,
                    set={"scheduled_at": scheduled_at, "updated_at": self.clock.now()},
                    condition=Attr("status").eq(MessageStatus.SCHEDULED.value),
                ),
                self.due.remove(tenant_id, message_id, old),
                self.due.add(tenant_id, message_id, scheduled_at),
            ]
        )
        return self.get(tenant_id, message_id)

    def list(
        self,
        tenant_id: str,
        *,
        session_id: str | None = None,
        status: MessageStatus | None = None,
        direction: Direction | None = None,
        to: str | None = None,
        since: float | None = None,
        until: float | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> tuple[list[Message], str | None]:
        """Newest first. Filters on status/direction/to apply within each page (a page may be short)."""
        items, next_cursor = self.rows.page(
            tenant_id, session_id=session_id, since=since, until=until, limit=limit, cursor=cursor
        )
        target = normalise_recipient(to) if to else None
        found = []
        for item in items:
            if status is not None and item["status"] != status:
                continue
            if direction is not None and item["direction"] != direction:
                continue
            if target is not None and item.get("chat") != target:
                continue
            found.append(to_message(item))
        return found, next_cursor

    # ---- what the connector reports -----------------------------------------------------------------

    def apply_status(
        self,
        tenant_id: str,
        message_id: str,
        status: MessageStatus,
        at: float,
        *,
        provider_message_id: str | None = None,
        error: MessageError | None = None,
        also: Callable[[Message, MessageStatus], Sequence[TransactOp]] | None = None,
    ) -> Message | None:
        """Moves a message forward (never back), filling the time of every step the move implies (`read`
        first also sets `delivered_at` and `sent_at`). `also(new message, previous status)` gives writes
        to commit with the move (the notifications it owes: services/outbox.py). Returns the new
        message, or None when nothing changed."""
        for _ in range(3):  # a concurrent receipt may win the race: re-read and try again
            item = self.rows.row(tenant_id, message_id)
            if item is None:
                return None
            previous = MessageStatus(item["status"])
            if not moves_forward(previous, status):
                if provider_message_id and not item.get("provider_message_id"):
                    self._keep_provider_id(
                        tenant_id, str(item["session_id"]), message_id, provider_message_id
                    )
                return None
            changes: dict[str, Any] = {"status": status.value, "updated_at": at}
            for step in [*implied_steps(previous, status), status]:
                if step in STAMPS and not item.get(STAMPS[step]):
                    changes[STAMPS[step]] = at
            if error is not None:
                changes["error"] = error.model_dump()
            ops: list[TransactOp] = []
            if provider_message_id and not item.get("provider_message_id"):
                changes["provider_message_id"] = provider_message_id
                ops.append(
                    self.rows.put_provider_id(tenant_id, item["session_id"], provider_message_id, message_id)
                )
            ops.insert(
                0,
                self.rows.change(
                    tenant_id, message_id, set=changes, condition=Attr("status").eq(item["status"])
                ),
            )
            moved = to_message({**item, **changes})
            if moved.broadcast_id is not None:
                ops.append(broadcasts.counted(tenant_id, moved.broadcast_id, counts_moved(previous, status)))
            if also is not None:
                ops.extend(also(moved, previous))
            if self.insights is not None:
                ops.extend(self.insights.status_ops(moved, previous))
            try:
                self.table.transact_write(ops)
            except ConflictError:
                continue
            return moved
        return None

    def _keep_provider_id(
        self, tenant_id: str, session_id: str, message_id: str, provider_message_id: str
    ) -> None:
        """A late `message_sent` that moves nothing (the message failed on our side meanwhile, or a change
        overtook it without the id): the id it reports is still the message's, and receipts find it by it."""
        try:
            self.table.transact_write(
                [
                    self.rows.change(
                        tenant_id,
                        message_id,
                        set={"provider_message_id": provider_message_id},
                        condition=Attr("provider_message_id").not_exists(),
                    ),
                    self.rows.put_provider_id(tenant_id, session_id, provider_message_id, message_id),
                ]
            )
        except ConflictError:
            pass  # another report filled it first

    def by_provider_id(self, tenant_id: str, session_id: str, provider_message_id: str) -> str | None:
        return self.rows.message_id_of(tenant_id, session_id, provider_message_id)

    # ---- typed kinds (domain/content.py) ------------------------------------------------------------

    def _typed(
        self, tenant_id: str, session_id: str, chat: str, kind: str, request: SendRequest, now: float
    ) -> tuple[Any, str | None]:
        """The typed content of a send (None for text/template/media, built by `_content`) and the
        provider id of the message it quotes. Raises InvalidInput naming the field."""
        quoted_id = None
        if request.reply_to is not None:
            quoted = self._target_row(tenant_id, session_id, chat, request.reply_to, None, "reply_to")
            quoted_id = _provider_id(quoted)
        if kind == "location":
            return request.location, quoted_id
        if kind == "contacts":
            return Contacts(contacts=request.contacts or []), quoted_id
        if kind == "poll":
            return request.poll, quoted_id
        if kind == "interactive":
            return request.interactive, quoted_id
        named = request.reaction or request.edit or request.delete
        if named is None:
            return None, quoted_id
        row = self._target_row(tenant_id, session_id, chat, named.target_id, named.target_provider_id, kind)
        target = {"target_id": row["id"], "target_provider_id": _provider_id(row)}
        outbound = row.get("direction") == Direction.OUTBOUND
        if request.reaction is not None:
            return Reaction(emoji=request.reaction.emoji, **target), None
        if request.edit is not None:
            sent_at = row.get("sent_at")
            if not outbound or row.get("kind") not in ("text", "template") or row.get("deleted_at"):
                raise InvalidInput(
                    "edit: only our own text messages can be edited",
                    code="not_editable",
                    details={"field": "edit"},
                )
            if sent_at is None or now - float(sent_at) > EDIT_WINDOW_SECONDS:
                raise InvalidInput(
                    "edit: a message can be edited within 15 minutes of being sent",
                    code="not_editable",
                    details={"field": "edit", "sent_at": sent_at},
                )
            return Edit(body=request.edit.body, **target), None
        if not outbound and not chat.endswith("@g.us"):
            raise InvalidInput(
                "delete: only our own messages can be deleted for everyone (group admins: any in the group)",
                code="not_deletable",
                details={"field": "delete"},
            )
        return Delete(**target), None

    def _target_row(
        self,
        tenant_id: str,
        session_id: str,
        chat: str,
        message_id: str | None,
        provider_id: str | None,
        field: str,
    ) -> dict[str, Any]:
        """The stored message a send names, which must be in the same chat of the same session."""
        if message_id is None and provider_id is not None:
            message_id = self.rows.message_id_of(tenant_id, session_id, provider_id)
        row = self.rows.row(tenant_id, message_id) if message_id else None
        if row is None:
            raise InvalidInput(f"{field}: no such message", code="target_not_found", details={"field": field})
        if row.get("session_id") != session_id or row.get("chat") != chat:
            raise InvalidInput(
                f"{field}: that message is in another chat or session",
                code="target_not_found",
                details={"field": field},
            )
        if _provider_id(row) is None:
            raise InvalidInput(
                f"{field}: that message has not been sent yet",
                code="target_not_sent",
                details={"field": field},
            )
        return row

    def _send_data(self, message: Message) -> dict[str, Any]:
        """`_send_data`, plus what the connector needs of the messages it names (reacted to, quoted)."""
        data = _send_data(message)
        content = message.content
        target_id = getattr(content, "target_id", None)
        if target_id:
            row = self.rows.row(message.tenant_id, str(target_id))
            if row is not None:
                data["target"] = _ref(row)
        if message.quoted_id and not target_id:
            if "content" not in data and message.text is not None:
                data["content"] = {"type": "text", "body": message.text}  # quoted: send_content
            quoted = self.rows.message_id_of(message.tenant_id, message.session_id, message.quoted_id)
            row = self.rows.row(message.tenant_id, quoted) if quoted else None
            data["quoted"] = _ref(row, with_content=True) if row else {"provider_id": message.quoted_id}
        return data

    # ---- plumbing -----------------------------------------------------------------------------------

    def _content(
        self, tenant_id: str, request: SendRequest, *, cloud: bool = False
    ) -> tuple[ContentKind, str | None, dict[str, Any] | None]:
        if request.text is not None:
            return ContentKind.TEXT, request.text, None
        if request.template is not None and cloud:
            # A Meta-approved template: Meta renders it; `variables` are its parameters.
            if not request.template.language:
                raise InvalidInput(
                    "template.language: a Cloud API template needs its language code (e.g. en_US)",
                    details={"field": "template.language"},
                )
            return ContentKind.TEMPLATE, None, request.template.model_dump()
        if request.template is not None:
            if self.renderer is None:
                raise InvalidInput("templates are not available", details={"field": "template"})
            text = self.renderer(tenant_id, request.template)
            return ContentKind.TEMPLATE, text, request.template.model_dump()
        return ContentKind.MEDIA, None, None


def _check_sendable(provider: Provider, kind: str, request: SendRequest) -> None:
    """422 `unsupported_kind` at accept time for what this session's provider cannot send."""
    sendable = SENDABLE.get(provider.value, frozenset())
    if Kind(kind) not in sendable:
        can = ", ".join(sorted(k.value for k in sendable))
        raise InvalidInput(
            f"a {provider.value} session cannot send {kind} messages (it sends: {can})",
            code="unsupported_kind",
            details={"field": kind, "provider": provider.value},
        )
    if request.template is not None and request.template.components and provider != Provider.CLOUD:
        raise InvalidInput(
            "template.components: header and button parameters belong to Meta templates (Cloud sessions)",
            code="unsupported_kind",
            details={"field": "template.components", "provider": provider.value},
        )


def _send_data(message: Message) -> dict[str, Any]:
    """What the connector needs to send: the id (its claim and the WhatsApp id derive from it) and content."""
    data: dict[str, Any] = {"message_id": message.id, "to": message.to or message.chat}
    if message.content is not None and message.kind not in (Kind.TEXT, Kind.TEMPLATE, Kind.MEDIA):
        data["content"] = message.content.model_dump(mode="json", exclude_none=True)
    if message.text is not None:
        data["text"] = message.text
    if message.media is not None:
        mime = message.media.mime or "application/octet-stream"
        data["media"] = {
            "kind": _media_kind(mime),
            "mime_type": mime,
            "url": message.media.url,
            "caption": message.media.caption,
            "filename": message.media.filename,
        }
        stored = getattr(message.content, "media", None)
        if isinstance(stored, MediaObject) and stored.id is not None:
            # A stored file: the connector reads it from the media store by id (never a URL).
            data["media"].update(
                kind=stored.kind.value, media_id=stored.id, voice=stored.voice, size=stored.size
            )
    if message.quoted_id:
        data["quoted_id"] = message.quoted_id
    return data


def _media_kind(mime: str) -> str:
    major = mime.split("/", 1)[0]
    return {"image": "image", "video": "video", "audio": "audio"}.get(major, "document")


def _provider_id(row: dict[str, Any]) -> str | None:
    """A stored message's WhatsApp/Meta id, once it has one (received, or sent)."""
    return str(row["provider_message_id"]) if row.get("provider_message_id") else None


def _ref(row: dict[str, Any], *, with_content: bool = False) -> dict[str, Any]:
    ref: dict[str, Any] = {
        "provider_id": _provider_id(row) or whatsapp_message_id(str(row["id"])),
        "from_me": row.get("direction") == Direction.OUTBOUND,
    }
    sender = (row.get("metadata") or {}).get("sender_jid")
    if sender and str(row.get("chat", "")).endswith("@g.us") and not ref["from_me"]:
        ref["participant"] = sender
    if with_content and isinstance(row.get("content"), dict):
        ref["content"] = row["content"]
    return ref
