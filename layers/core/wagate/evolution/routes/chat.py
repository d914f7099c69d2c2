"""Evolution's chat router (chat.router.ts) over wagate's messages, conversations, contacts and media store.

whatsappNumbers      known numbers and groups of this instance (wagate has no live check yet: README)
findMessages         the instance's messages as Evolution records, newest first, page/offset
findChats            its conversations with their last message and unread count
findContacts         the people of its conversations, with their WhatsApp names
markMessageAsRead    read receipts for the chats named (each chat's unread messages, as /v1 does)
getBase64FromMediaMessage   a stored attachment's bytes, by the message's WhatsApp id
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

from aws_lambda_powertools.event_handler.depends import Depends
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

from wagate import compose
from wagate.domain.conversations import Conversation, conversation_id
from wagate.domain.errors import ConflictError, InvalidInput, NotFound, WagateError
from wagate.domain.groups import is_group
from wagate.domain.instants import Instant
from wagate.domain.messages import Message
from wagate.domain.sessions import Session
from wagate.domain.tenants import Principal
from wagate.evolution import send_dtos, shapes
from wagate.evolution.access import Caller, Need, instance
from wagate.evolution.errors import EvolutionError
from wagate.evolution.instances import iso
from wagate.evolution.routes.group import groups_of
from wagate.evolution.routes.message import lookup, record
from wagate.services.conversations import ConversationService
from wagate.services.groups import GroupService
from wagate.services.media_files import MediaFiles
from wagate.services.messages import MessageService
from wagate.services.number_check import NumberChecks, NumberResult

router = APIGatewayHttpRouter()
Messages = Annotated[MessageService, Depends(compose.message_service)]
Conversations = Annotated[ConversationService, Depends(compose.conversation_service)]
Groups = Annotated[GroupService, Depends(compose.group_service)]
Files = Annotated[MediaFiles, Depends(compose.media_files)]
Checks = Annotated[NumberChecks, Depends(compose.number_checks)]

PAGE = 100
CHECK_BATCH = 50  # numbers one wagate number check takes
SCAN_LIMIT = 5000  # findMessages counts `total` over at most this many of the instance's newest messages


class Loose(BaseModel):
    """Evolution's query bodies are loose JSON (Prisma-like `where`): unknown fields are ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class NumbersBody(Loose):
    numbers: list[StrictStr] = Field(min_length=1)


class KeyFilter(Loose):
    id: StrictStr | None = None
    remoteJid: StrictStr | None = None
    fromMe: StrictBool | None = None
    participant: StrictStr | None = None


class TimeRange(Loose):
    gte: Instant | None = None
    lte: Instant | None = None


class MessageWhere(Loose):
    id: StrictStr | None = None
    key: KeyFilter | None = None
    messageType: StrictStr | None = None
    source: StrictStr | None = None
    messageTimestamp: TimeRange | None = None


class FindMessages(Loose):
    where: MessageWhere = MessageWhere()
    page: StrictInt = Field(1, ge=1)
    offset: StrictInt = Field(50, ge=1, le=1000)


class ChatWhere(Loose):
    remoteJid: StrictStr | None = None
    id: StrictStr | None = None


class FindChats(Loose):
    where: ChatWhere = ChatWhere()
    page: StrictInt | None = Field(None, ge=1)
    offset: StrictInt | None = Field(None, ge=1, le=1000)
    take: StrictInt | None = Field(None, ge=1, le=1000)
    skip: StrictInt | None = Field(None, ge=0)


class ReadKey(Loose):
    id: StrictStr = Field(min_length=1)
    fromMe: StrictBool
    remoteJid: StrictStr = Field(min_length=1)


class ReadMessages(Loose):
    readMessages: list[ReadKey] = Field(min_length=1)


# ---- whatsappNumbers ------------------------------------------------------------------------------------


# `checkIsWhatsappNumber` is the path Evolution's official Python client (evolutionapi 0.1.2) calls for this.
@router.post("/chat/checkIsWhatsappNumber/<instanceName>")
@router.post("/chat/whatsappNumbers/<instanceName>")
def whatsapp_numbers(
    instanceName: str,
    body: NumbersBody,
    principal: Caller,
    conversations: Conversations,
    groups: Groups,
    checks: Checks,
) -> list[dict[str, Any]]:
    """Numbers are asked of WhatsApp through the instance (wagate's number check, POST /v1/contacts/check:
    its hourly budget applies, 429 past it); groups are those of its last sync. A number the check could
    not settle (a Cloud instance cannot ask, the instance is not connected, no answer in time) falls back
    to what the instance knows — one it has a conversation with exists — and otherwise answers
    `exists: false` with `verified: false`: unknown, not known absent."""
    session = instance(principal, instanceName, Need.READ)
    targets: dict[str, str] = {}
    for number in body.numbers:
        try:
            targets[number] = send_dtos.recipient(number)
        except InvalidInput:
            continue
    phones = sorted({to for to in targets.values() if not is_group(to)})
    checked = _checked(checks, principal.tenant_id, session.id, phones)
    answers = []
    for number in body.numbers:
        to = targets.get(number)
        if to is None:
            answers.append({"exists": False, "jid": number, "number": number})
            continue
        answers.append(_answer(principal, session, conversations, groups, number, to, checked.get(to)))
    return answers


def _checked(
    checks: NumberChecks, tenant_id: str, session_id: str, phones: list[str]
) -> dict[str, NumberResult]:
    """WhatsApp's answer per phone (those settled: on or not on WhatsApp), 50 at a time."""
    settled: dict[str, NumberResult] = {}
    for start in range(0, len(phones), CHECK_BATCH):
        try:
            check = checks.start(tenant_id, session_id, phones[start : start + CHECK_BATCH])
        except ConflictError:
            return settled  # not connected: nothing can be asked
        settled.update({r.phone: r for r in check.results if r.status in ("on_whatsapp", "not_on_whatsapp")})
    return settled


def _answer(
    principal: Principal,
    session: Session,
    conversations: ConversationService,
    groups: GroupService,
    number: str,
    to: str,
    result: NumberResult | None,
) -> dict[str, Any]:
    answer: dict[str, Any] = {"exists": False, "jid": shapes.jid_of(to), "number": number}
    if is_group(to):
        group = next((g for g in groups_of(principal.tenant_id, session, groups) if g.jid == to), None)
        if group is not None:
            answer.update(exists=True, name=group.subject)
        return answer
    conv = conversations.conversations.find(principal.tenant_id, conversation_id(session.id, to))
    contact = conversations.contacts.get(principal.tenant_id, to)
    name = (contact.name if contact else None) or (conv.name if conv else None)
    if result is not None:
        answer.update(exists=result.status == "on_whatsapp", jid=result.jid or answer["jid"])
        if result.lid:
            answer["lid"] = result.lid
    elif conv is not None:
        answer["exists"] = True
    else:
        answer["verified"] = False
    if answer["exists"]:
        answer["name"] = name
    return answer


# ---- findMessages ---------------------------------------------------------------------------------------


@router.post("/chat/findMessages/<instanceName>")
def find_messages(
    instanceName: str,
    principal: Caller,
    service: Messages,
    conversations: Conversations,
    files: Files,
    body: FindMessages | None = None,
) -> dict[str, Any]:
    session = instance(principal, instanceName, Need.READ)
    query = body or FindMessages()
    where = query.where
    # Filters read the key and the type alone; only the page asked for is shaped (links, quotes).
    matching = [
        m for m in _candidates(principal, session, where, service, conversations) if _matches(m, where)
    ]
    start = (query.page - 1) * query.offset
    records = []
    for message in matching[start : start + query.offset]:
        shaped = record(message, service, files)
        records.append({"id": message.id, **shaped, "MessageUpdate": _updates(shaped)})
    return {
        "messages": {
            "total": len(matching),
            "pages": -(-len(matching) // query.offset),
            "currentPage": query.page,
            "records": records,
        }
    }


def _candidates(
    principal: Principal,
    session: Session,
    where: MessageWhere,
    service: MessageService,
    conversations: ConversationService,
) -> Iterator[Message]:
    tenant = principal.tenant_id
    key = where.key or KeyFilter()
    if where.id is not None or key.id is not None:
        found = lookup(service, tenant, session.id)(where.id or key.id or "")
        if found is not None:
            yield found
        return
    since = where.messageTimestamp.gte if where.messageTimestamp else None
    until = where.messageTimestamp.lte if where.messageTimestamp else None
    seen = 0
    cursor: str | None = None
    if key.remoteJid:
        chat = _chat_of(key.remoteJid)
        conv = conversation_id(session.id, chat)
        while seen < SCAN_LIMIT:
            try:
                page, cursor = conversations.conversation_messages(tenant, conv, limit=PAGE, cursor=cursor)
            except NotFound:
                return
            for message in page:
                seen += 1
                if (since is None or message.created_at >= since) and (
                    until is None or message.created_at <= until
                ):
                    yield message
            if cursor is None:
                return
        return
    while seen < SCAN_LIMIT:
        page, cursor = service.list(
            tenant, session_id=session.id, since=since, until=until, limit=PAGE, cursor=cursor
        )
        seen += len(page)
        yield from page
        if cursor is None:
            return


def _matches(message: Message, where: MessageWhere) -> bool:
    key = where.key or KeyFilter()
    found = shapes.message_key(message)
    if key.fromMe is not None and found["fromMe"] != key.fromMe:
        return False
    if key.participant is not None and found.get("participant") != key.participant:
        return False
    if where.messageType is not None and shapes.content_of(message)[0] != where.messageType:
        return False
    if where.source is not None and shapes.device_of(found["id"]) != where.source:
        return False
    return where.id is None or message.id == where.id or found["id"] == where.id


def _updates(shaped: dict[str, Any]) -> list[dict[str, str]]:
    """Evolution lists a sent message's receipts; wagate keeps the latest, so that one is the list."""
    return [{"status": shaped["status"]}] if shaped["key"]["fromMe"] and shaped["status"] != "PENDING" else []


def _chat_of(jid: str) -> str:
    """A remoteJid filter as wagate's chat (E.164 or group jid). Raises EvolutionError 400."""
    try:
        return send_dtos.recipient(jid, field="where.key.remoteJid")
    except InvalidInput as exc:
        raise EvolutionError(400, exc.message) from None


# ---- findChats / findContacts ---------------------------------------------------------------------------


def _conversations(tenant_id: str, session: Session, service: ConversationService) -> Iterator[Conversation]:
    """The instance's conversations, most recent first (the store lists them newest first)."""
    cursor: str | None = None
    while True:
        page, cursor = service.list_conversations(tenant_id, session_id=session.id, limit=PAGE, cursor=cursor)
        yield from page
        if cursor is None:
            return


@router.post("/chat/findChats/<instanceName>")
def find_chats(
    instanceName: str,
    principal: Caller,
    service: Messages,
    conversations: Conversations,
    files: Files,
    body: FindChats | None = None,
) -> list[dict[str, Any]]:
    session = instance(principal, instanceName, Need.READ)
    query = body or FindChats()
    wanted = _chat_of(query.where.remoteJid) if query.where.remoteJid else None
    chats = [
        c for c in _conversations(principal.tenant_id, session, conversations) if wanted in (None, c.chat)
    ]
    chats.sort(key=lambda c: c.last_message_at or c.updated_at, reverse=True)
    if query.offset is not None:
        chats = chats[((query.page or 1) - 1) * query.offset :][: query.offset]
    else:
        chats = chats[query.skip or 0 :][: query.take or len(chats)]
    return [_chat(c, service, files, _picture(conversations, c)) for c in chats]


def _picture(conversations: ConversationService, conv: Conversation) -> str | None:
    """The contact's WhatsApp profile picture, when the engine reported one (groups: none)."""
    if conv.is_group:
        return None
    contact = conversations.contacts.get(conv.tenant_id, conv.chat)
    return contact.profile_picture_url if contact is not None else None


def _chat(
    conv: Conversation, service: MessageService, files: MediaFiles, picture: str | None
) -> dict[str, Any]:
    last = None
    if conv.last_message_id:
        try:
            message = service.get(conv.tenant_id, conv.last_message_id)
        except WagateError:
            message = None
        if message is not None:
            last = {"id": message.id, **record(message, service, files)}
    return {
        "id": conv.id,
        "remoteJid": shapes.jid_of(conv.chat),
        "pushName": conv.name,
        "profilePicUrl": picture,
        "updatedAt": iso(conv.last_message_at or conv.updated_at),
        "lastMessage": last,
        "unreadCount": conv.unread,
        "isSaved": conv.name is not None,
    }


@router.post("/chat/findContacts/<instanceName>")
def find_contacts(
    instanceName: str, principal: Caller, conversations: Conversations, body: FindChats | None = None
) -> list[dict[str, Any]]:
    """The people this instance has a conversation with (contacts are the tenant's in wagate: a key
    scoped to this instance sees only its own). `where.remoteJid` (or `where.id`, as the n8n node sends
    a jid there) picks one."""
    session = instance(principal, instanceName, Need.READ)
    query = body or FindChats()
    jid = query.where.remoteJid or (query.where.id if query.where.id and "@" in query.where.id else None)
    wanted = _chat_of(jid) if jid else None
    found = []
    for conv in _conversations(principal.tenant_id, session, conversations):
        if wanted not in (None, conv.chat):
            continue
        contact = None if conv.is_group else conversations.contacts.get(principal.tenant_id, conv.chat)
        name = (contact.name if contact else None) or conv.name
        found.append(
            {
                "id": conv.id,
                "remoteJid": shapes.jid_of(conv.chat),
                "pushName": name,
                "profilePicUrl": contact.profile_picture_url if contact else None,
                "createdAt": iso(contact.first_seen_at if contact else conv.updated_at),
                "updatedAt": iso(contact.last_seen_at if contact else conv.updated_at),
                "instanceId": session.id,
                "isGroup": conv.is_group,
                "isSaved": name is not None,
                "type": "group" if conv.is_group else "contact",
            }
        )
    if query.offset is not None:
        found = found[((query.page or 1) - 1) * query.offset :][: query.offset]
    return found


# ---- markMessageAsRead ----------------------------------------------------------------------------------


@router.post("/chat/markMessageAsRead/<instanceName>")
def mark_message_as_read(
    instanceName: str, body: ReadMessages, principal: Caller, conversations: Conversations
) -> tuple[dict[str, Any], int]:
    """Read receipts go per chat in wagate: each chat named has its unread messages marked read (the
    ones listed among them); a chat this instance has no conversation with is skipped, as Evolution
    skips keys that are not a chat's."""
    session = instance(principal, instanceName, Need.SEND)
    chats = {_chat_of(key.remoteJid) for key in body.readMessages if not key.fromMe}
    for chat in sorted(chats):
        try:
            conversations.mark_read(principal.tenant_id, conversation_id(session.id, chat))
        except NotFound:
            continue
    return {"message": "Read messages", "read": "success"}, 201


@router.get("/chat/findChatByRemoteJid/<instanceName>")
def find_chat_by_remote_jid(
    instanceName: str,
    principal: Caller,
    conversations: Conversations,
    remoteJid: Annotated[str | None, Query()] = None,
) -> Any:
    """Evolution's Chat row of one conversation, or null (Evolution's answer for a chat it has not seen)."""
    if not remoteJid:
        raise EvolutionError(400, "remoteJid is a required query parameter")
    session = instance(principal, instanceName, Need.READ)
    chat = _chat_of(remoteJid)
    conv = conversations.conversations.find(principal.tenant_id, conversation_id(session.id, chat))
    if conv is None:
        return None
    return {
        "id": conv.id,
        "remoteJid": shapes.jid_of(conv.chat),
        "name": conv.name,
        "labels": [],
        "createdAt": iso(conv.updated_at),
        "updatedAt": iso(conv.last_message_at or conv.updated_at),
        "instanceId": session.id,
        "unreadMessages": conv.unread,
    }


class NumberBody(Loose):
    number: StrictStr = Field(min_length=1)


@router.post("/chat/fetchProfilePictureUrl/<instanceName>")
def fetch_profile_picture_url(
    instanceName: str, body: NumberBody, principal: Caller, conversations: Conversations
) -> dict[str, Any]:
    """`{wuid, profilePictureUrl}`: the picture the engine last reported for that person (null when none
    was; wagate does not ask WhatsApp at this moment, as Evolution does)."""
    instance(principal, instanceName, Need.READ)
    phone = _chat_of(body.number)
    contact = None if is_group(phone) else conversations.contacts.get(principal.tenant_id, phone)
    picture = contact.profile_picture_url if contact is not None else None
    return {"wuid": shapes.jid_of(phone), "profilePictureUrl": picture}
