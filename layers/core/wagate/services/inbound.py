"""Incoming messages: store each once (by provider id), and update its conversation and contact.

A message written on the account's own phone (`from_me`: WhatsApp copies it to its linked devices) is
stored as outbound, `source: phone`, in the chat it went to (the engine names it: `chat_jid`), already
sent; it counts as no unread message and touches no contact.

Deduplication: the provider id row (store/messages.py) is written in the same transaction as the
message, with a condition, so a redelivered event stores nothing twice.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from wagate.domain.content import (
    MEDIA_CLASSES,
    TARGETING_KINDS,
    Content,
    Kind,
    MediaBody,
    Text,
    Unsupported,
    summary,
)
from wagate.domain.conversations import Contact, conversation_id
from wagate.domain.errors import ConflictError
from wagate.domain.ids import new_id
from wagate.domain.media import MediaKind, thumbnail_data_url
from wagate.domain.messages import MAX_TIMESTAMP, Direction, Message, MessageStatus
from wagate.ports import Clock, Table, TransactOp
from wagate.services.contacts import ContactChange, change_of, contact_fields
from wagate.services.message_changes import MessageChanges
from wagate.store.contacts import ContactSearch
from wagate.store.conversations import ContactRepository, ConversationRepository, activity
from wagate.store.erasure import TombstoneKeys
from wagate.store.media import MediaRepository, MediaState, StoredFile, file_object
from wagate.store.messages import MessageRepository, to_message

if TYPE_CHECKING:
    from wagate.services.insights import Insights

PARK_SECONDS = 7 * 24 * 3600  # a change whose message never comes is forgotten after a week


class InboundService:
    def __init__(
        self,
        table: Table,
        clock: Clock,
        tombstones: TombstoneKeys | None = None,
        insights: Insights | None = None,
        search: ContactSearch | None = None,
    ) -> None:
        self.table = table
        # The contacts' search entries (store/contacts.py), moved in the transaction of each contact change.
        self.search = search or ContactSearch(table)
        self.insights = insights  # rollup counters with the stored message; replies after it
        self.clock = clock
        # Erased messages (services/erasure.py): a late copy of one is refused like a duplicate.
        self.tombstones = tombstones
        self.messages = MessageRepository(table)
        self.contacts = ContactRepository(table)
        self.conversations = ConversationRepository(table)
        self.files = MediaRepository(table)
        self.changes = MessageChanges(self.messages)

    def record(
        self,
        tenant_id: str,
        session_id: str,
        data: dict[str, Any],
        *,
        sandbox: bool = False,
        also: Callable[[Message, ContactChange | None], Sequence[TransactOp]] | None = None,
    ) -> Message | None:
        """Stores an `incoming_message` event's data, with `also(message, contact change)`'s writes (the
        notifications it owes: services/outbox.py) in the same transaction. Returns None for a duplicate
        (already stored)."""
        provider_id = str(data["provider_message_id"])
        group = data.get("group_jid")
        sender = data.get("sender_phone") or data.get("sender_jid")
        from_phone = bool(data.get("from_me"))
        if from_phone:  # the destination, not us: the engine's chat_jid
            chat = str(group or chat_of(str(data.get("chat_jid") or sender)))
        else:
            chat = str(group or data.get("sender_phone") or data.get("chat_jid"))
        at = _time(data.get("timestamp"), self.clock.now())
        media = data.get("media")
        content = read_content(data)
        waits_for: str | None = None  # the provider id of the message this change names, not stored yet
        if getattr(content, "type", None) in TARGETING_KINDS:
            # Edits, deletes and reactions change the message they name (first: a redelivery re-applies
            # nothing, and the event below is stored once either way).
            target = self.changes.target_of(tenant_id, session_id, content)
            if target is None:
                waits_for = getattr(content, "target_provider_id", None)
            if target is not None:
                content = content.model_copy(update={"target_id": target})
                by = "me" if data.get("from_me") else str(sender or chat)
                at_change = _time(data.get("timestamp"), self.clock.now())
                self.changes.apply(tenant_id, target, content, by=by, at=at_change, change_id=provider_id)
        stored = _stored_file(tenant_id, session_id, media, content, at)
        if stored is not None and isinstance(content, MediaBody):
            found = file_object(stored, caption=content.caption)
            preview = thumbnail_data_url(media.get("thumbnail")) if isinstance(media, dict) else None
            if preview is not None:
                found = found.model_copy(update={"thumbnail": preview})
            content = content.model_copy(update={"media": found})
        # Ids follow arrival order: WhatsApp timestamps are whole seconds and would tie. Imported history
        # takes its own time, so it sorts before what arrived live since.
        historical = bool(data.get("historical"))
        message_id = new_id("msg", at if historical else self.clock.now())
        message = Message.model_validate(
            {
                "id": message_id,
                "tenant_id": tenant_id,
                "session_id": session_id,
                "direction": Direction.OUTBOUND if from_phone else Direction.INBOUND,
                "from": sender,
                "to": chat if from_phone else None,
                "source": "phone" if from_phone else None,
                "sent_at": at if from_phone else None,
                "chat": chat,
                "kind": content.type,  # type: ignore[attr-defined]
                "text": data.get("text") or summary(content),
                "content": content,
                "media": _media(media, stored.id if stored is not None else None),
                "status": MessageStatus.SENT if from_phone else MessageStatus.RECEIVED,
                "provider_message_id": provider_id,
                "quoted_id": data.get("quoted_id"),
                "metadata": {k: data[k] for k in ("push_name", "sender_jid", "type") if data.get(k)},
                "created_at": at,
                "updated_at": at,
                "sandbox": sandbox,
            }
        )
        ops: list[TransactOp] = [
            self.messages.put_provider_id(tenant_id, session_id, provider_id, message_id, first=True),
            self.messages.put(message),
            *([self.tombstones.erased_check(tenant_id, session_id, provider_id)] if self.tombstones else []),
        ]
        if stored is not None:
            ops.append(self.files.put_op(stored))  # the file's row lands with its message, or neither
        conversation = None
        if not historical or self._newest_in_conversation(message):
            conversation = activity(
                message, name=None if group else data.get("push_name"), unread=not historical
            )
        contact_change: ContactChange | None = None
        if self.insights is not None and not historical:
            counted, conversation = self.insights.inbound_ops(message, conversation)
            ops.extend(counted)
        if conversation is not None:
            ops.append(conversation)
        if sender and not data.get("from_me") and not historical:
            contact_ops, contact_change = self._contact_update(tenant_id, session_id, str(sender), data, at)
            ops.extend(contact_ops)
        if also is not None:
            ops.extend(also(message, contact_change))
        try:
            self.table.transact_write(ops)
        except ConflictError:
            return None  # this provider id was stored already (a redelivery), or erased since
        if waits_for:
            self._park_change(tenant_id, session_id, str(waits_for), message)
        self._apply_parked(tenant_id, session_id, provider_id, message_id)
        return message

    def _park_change(self, tenant_id: str, session_id: str, target_provider_id: str, change: Message) -> None:
        """A change received before the message it names (Meta's webhooks, and WhatsApp's own deliveries,
        come in any order): kept until that message is stored. It may have been stored meanwhile, looking
        for parked changes before this one was parked: look once more now."""
        expires_at = int(self.clock.now()) + PARK_SECONDS
        self.messages.park_change(tenant_id, session_id, target_provider_id, change.id, expires_at=expires_at)
        target = self.messages.message_id_of(tenant_id, session_id, target_provider_id)
        if target is not None:
            self._apply_parked(tenant_id, session_id, target_provider_id, target)

    def _apply_parked(self, tenant_id: str, session_id: str, provider_id: str, target_id: str) -> None:
        """The changes parked for the message just stored, applied to it as if they came after it."""
        for key, change_id in self.messages.parked_changes(tenant_id, session_id, provider_id):
            row = self.messages.row(tenant_id, change_id)
            change = to_message(row) if row is not None else None  # None: erased meanwhile
            if change is not None and change.content is not None:
                by = "me" if change.direction == Direction.OUTBOUND else str(change.sender or change.chat)
                change_key = change.provider_message_id or change.id
                self.changes.apply(
                    tenant_id, target_id, change.content, by=by, at=change.created_at, change_id=change_key
                )
            self.messages.unpark_change(key)

    def _newest_in_conversation(self, message: Message) -> bool:
        """An imported message leads its conversation only if nothing newer is there already."""
        conv = self.conversations.find(message.tenant_id, conversation_id(message.session_id, message.chat))
        return conv is None or (conv.last_message_at or 0) < message.created_at

    def _contact_update(
        self, tenant_id: str, session_id: str, phone: str, data: dict[str, Any], at: float
    ) -> tuple[list[TransactOp], ContactChange | None]:
        """The contact's writes (with its search entries) and the notice they owe, if any."""
        changes: dict[str, Any] = {
            "phone": phone,
            "tenant_id": tenant_id,
            "jid": data.get("sender_jid"),
            "last_seen_at": at,
            "last_session_id": session_id,
        }
        if data.get("push_name"):
            changes["name"] = changes["push_name"] = data["push_name"]
        picture = data.get("profile_picture_url")
        if isinstance(picture, str) and picture.startswith("https://") and len(picture) <= 2048:
            changes["profile_picture_url"] = picture
        existing = self.contacts.get(tenant_id, phone)
        before = contact_fields(existing)
        lid = data.get("sender_lid")
        if isinstance(lid, str) and lid.endswith("@lid") and lid != phone:
            changes["lid"] = lid
            lid_contact = self.contacts.get(tenant_id, lid)
            if lid_contact is not None:  # known by LID until now: one contact from here on
                if existing is None:
                    changes["first_seen_at"] = at
                merged = self._merged_fields(lid_contact, existing, changes)
                change = change_of(contact_fields(lid_contact), merged)
                ops = self.contacts.merge(tenant_id, phone, lid_contact, existing, changes, messages_in=1)
                return ops + self._folded(tenant_id, lid_contact, phone, before, merged), change
        if existing is None:
            changes["first_seen_at"] = at
        after = {**(before or {}), **{k: v for k, v in changes.items() if v is not None}}
        change = change_of(before, after)
        if change is not None:
            changes["updated_at"] = at
        ops = [self.contacts.upsert(tenant_id, phone, changes, messages_in=1)]
        return ops + self.search.ops(tenant_id, phone, before, after), change

    def _folded(
        self,
        tenant_id: str,
        lid_contact: Contact,
        phone: str,
        before: dict[str, Any] | None,
        merged: dict[str, Any],
    ) -> list[TransactOp]:
        """The search entries of a LID's contact folded into the phone's: the LID's go, the phone's
        become the merged contact's (its `lid` entry finds it by the LID from now on)."""
        lid_fields = lid_contact.model_dump(mode="json")
        return [
            *self.search.ops(tenant_id, lid_contact.phone, lid_fields, {}),
            *self.search.ops(tenant_id, phone, before, merged),
        ]

    @staticmethod
    def _merged_fields(
        lid_contact: Contact, existing: Contact | None, changes: dict[str, Any]
    ) -> dict[str, Any]:
        """What the contact under the phone holds once the LID's is folded in (as merge() writes it)."""
        merged = {**lid_contact.model_dump(mode="json"), **(contact_fields(existing) or {})}
        merged.update({k: v for k, v in changes.items() if v is not None})
        return merged

    def learn_contacts(
        self,
        tenant_id: str,
        contacts: Sequence[Any],
        also: Callable[[ContactChange], Sequence[TransactOp]] | None = None,
    ) -> int:
        """Applies a `contacts_synced` event's people ({phone, lid, name}): a contact known by LID is folded
        into the one under the phone; known contacts get the LID and push name. Nobody new is created (a
        phone's history names everyone it ever wrote to). Idempotent. `also(change)` adds writes to each
        change's transaction (its `contact_updated` notice). Returns how many contacts changed."""
        changed = 0
        for raw in contacts:
            if not isinstance(raw, dict):
                continue
            phone, lid, name = raw.get("phone"), raw.get("lid"), raw.get("name")
            phone = phone if isinstance(phone, str) and _E164.fullmatch(phone) else None
            lid = lid if isinstance(lid, str) and _LID.fullmatch(lid) else None
            name = name[:256] if isinstance(name, str) and name.strip() else None
            ops, change = self._learned(tenant_id, phone, lid, name)
            if ops:
                if change is not None and also is not None:
                    ops = [*ops, *also(change)]
                self.table.transact_write(ops)
                changed += 1
        return changed

    def _learned(
        self, tenant_id: str, phone: str | None, lid: str | None, name: str | None
    ) -> tuple[list[TransactOp], ContactChange | None]:
        lid_contact = self.contacts.get(tenant_id, lid) if lid is not None else None
        if phone is None:
            if lid_contact is None or name is None or lid_contact.name == name:
                return [], None
            fields = lid_contact.model_dump(mode="json")
            renamed = {**fields, "name": name}
            return [
                self.contacts.upsert(tenant_id, lid_contact.phone, {"name": name}),
                *self.search.ops(tenant_id, lid_contact.phone, fields, renamed),
            ], change_of(fields, renamed)
        existing = self.contacts.get(tenant_id, phone)
        before = contact_fields(existing)
        changes: dict[str, Any] = {"jid": f"{phone[1:]}@s.whatsapp.net"}
        if name is not None:
            changes["name"] = name
        if lid_contact is not None:  # one contact from here on: told as the LID's contact, now with a phone
            merged = self._merged_fields(lid_contact, existing, {**changes, "phone": phone, "lid": lid})
            ops = self.contacts.merge(tenant_id, phone, lid_contact, existing, changes)
            change = change_of(before or contact_fields(lid_contact), merged)
            return ops + self._folded(tenant_id, lid_contact, phone, before, merged), change
        if existing is None:
            return [], None
        if lid is not None:
            changes["lid"] = lid
        if all(getattr(existing, k, None) == v for k, v in changes.items()):
            return [], None
        after = {**(before or {}), **changes}
        return [
            self.contacts.upsert(tenant_id, phone, changes),
            *self.search.ops(tenant_id, phone, before, after),
        ], change_of(before, after)


_E164 = re.compile(r"\+[1-9][0-9]{5,14}")
_LID = re.compile(r"[0-9]{1,20}@lid")
# Built at first use, not at import (the whole content union: the function's cold start).
_CONTENT: TypeAdapter[Any] = TypeAdapter(Content, config=ConfigDict(defer_build=True))


def read_content(data: dict[str, Any]) -> BaseModel:
    """The typed content of an `incoming_message` event: its `content` (as the engines and the Cloud intake
    write it), else what its older fields say (text, media). Content that does not validate is still a
    message from someone: `unsupported`, with the reason, never dropped."""
    raw = data.get("content")
    if isinstance(raw, dict):
        try:
            parsed: BaseModel = _CONTENT.validate_python(raw)
            return parsed
        except ValidationError as exc:
            detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:3])
            return Unsupported(raw_type=str(raw.get("type") or "unknown")[:100], detail=detail[:1024])
    media = data.get("media")
    if isinstance(media, dict):
        kind = Kind(media["kind"]) if media.get("kind") in {k.value for k in MEDIA_CLASSES} else Kind.DOCUMENT
        fields = _media(media) or {}
        return MEDIA_CLASSES[kind](
            caption=fields.get("caption"), filename=fields.get("filename"), mime_type=fields.get("mime")
        )
    text = data.get("text")
    if data.get("type") in (None, "text") and isinstance(text, str):
        return Text(body=text[:65536])
    return Unsupported(raw_type=str(data.get("type") or "unknown")[:100])


def chat_of(jid: str) -> str:
    """A 1:1 chat as inbound messages name it: `34600999888@s.whatsapp.net` → `+34600999888` (a LID or any
    other JID stays as it is)."""
    user, _, server = jid.partition("@")
    digits = user.split(":", 1)[0]
    if server in ("s.whatsapp.net", "c.us") and digits.isascii() and digits.isdigit():
        return f"+{digits}"
    return jid


def _time(raw: Any, now: float) -> float:
    """The provider's timestamp, or now when it is not a time a datetime can hold (events show it)."""
    try:
        value = float(raw)
    except (TypeError, ValueError, OverflowError):
        return now
    return value if 0 < value <= MAX_TIMESTAMP else now


def _media(media: Any, media_id: str | None = None) -> dict[str, Any] | None:
    """The stored media reference, cut to what MediaContent holds (a provider may send more). `upload_id`
    is the stored file's media id (usable in sends); `url` only ever a provider's secret-free reference."""
    if not isinstance(media, dict):
        return None
    mime = media.get("mime_type")
    caption, filename = media.get("caption"), media.get("filename")
    url = media.get("url")
    return {
        "url": url if isinstance(url, str) and "mediakey" not in url.lower() else None,
        "upload_id": media_id,
        "mime": mime if isinstance(mime, str) and 3 <= len(mime) <= 100 else "application/octet-stream",
        "caption": caption[:1024] if isinstance(caption, str) else None,
        "filename": filename[:255] if isinstance(filename, str) else None,
    }


def _stored_file(
    tenant_id: str, session_id: str, media: Any, content: BaseModel, at: float
) -> StoredFile | None:
    """The media row of a file the connector stored (`media.stored` of the event), if it did."""
    stored = media.get("stored") if isinstance(media, dict) else None
    if not isinstance(stored, dict) or not isinstance(stored.get("id"), str):
        return None
    kind = getattr(content, "type", None)
    try:
        media_kind = MediaKind(kind.value if isinstance(kind, Kind) else str(media.get("kind")))
    except ValueError:
        media_kind = MediaKind.DOCUMENT
    duration = media.get("duration")
    return StoredFile(
        id=stored["id"],
        tenant_id=tenant_id,
        state=MediaState.READY,
        kind=media_kind,
        mime=str(stored.get("mime") or media.get("mime_type") or "application/octet-stream")[:100],
        size=stored.get("size") if isinstance(stored.get("size"), int) else None,
        sha256=stored.get("sha256") if isinstance(stored.get("sha256"), str) else None,
        filename=(media.get("filename") or None) if isinstance(media.get("filename"), str) else None,
        duration=duration if isinstance(duration, int) and duration >= 0 else None,
        voice=bool(media.get("voice")),
        source="inbound",
        session_id=session_id,
        created_at=at,
    )
