"""Conversation and contact rows (keys and access patterns: store/keys.py).

A conversation is one session and peer: its last message, unread count and place in the tenant's
newest-activity index; its messages are in the messages' conversation index (store/messages.py). A contact
is created on their first inbound message (seed 003's lead sync) and counts what they sent. A person
WhatsApp named only by LID (`…@lid`) gets a contact under that id; once their phone is learned (a later
message, the phone's history sync, a LID migration) it is folded into the contact under the phone.
A contact's key holds its blind index, never the number (store/blind_index.py); rows written before that
are still found under the number until `wagate admin encrypt-existing` moves them.
"""

from __future__ import annotations

from typing import Any

from wagate.conditions import SortKey, item_exists
from wagate.domain.conversations import Contact, Conversation, conversation_id
from wagate.domain.messages import Direction, Message
from wagate.ports import Delete, Item, Table, TransactOp, Update
from wagate.store import blind_index, keys

_CONV_FIELDS = frozenset(Conversation.model_fields)
_CONTACT_FIELDS = frozenset(Contact.model_fields)


def to_conversation(item: Item) -> Conversation:
    return Conversation.model_validate({k: v for k, v in item.items() if k in _CONV_FIELDS})


def to_contact(item: Item) -> Contact:
    return Contact.model_validate({k: v for k, v in item.items() if k in _CONTACT_FIELDS})


def activity(message: Message, *, name: str | None = None, unread: bool = True) -> Update:
    """The update that makes `message` its conversation's latest (creating the conversation if new);
    `unread=False` for what the user has seen already (imported history)."""
    conv = conversation_id(message.session_id, message.chat)
    inbound = message.direction == Direction.INBOUND
    preview = message.text or f"[{message.metadata.get('type', 'media')}]"
    changes: dict[str, Any] = {
        "id": conv,
        "tenant_id": message.tenant_id,
        "session_id": message.session_id,
        "chat": message.chat,
        "is_group": message.chat.endswith("@g.us"),
        "last_message_id": message.id,
        "last_message_at": message.created_at,
        "last_message_preview": preview[:120],
        "last_direction": message.direction.value,
        "updated_at": message.created_at,
        "gsi1pk": keys.conversations_index(message.tenant_id),
        "gsi1sk": keys.conversations_index_sort(message.created_at, conv),
    }
    if name:
        changes["name"] = name
    return Update(
        *keys.conversation(message.tenant_id, conv),
        set=changes,
        add={"unread": 1 if inbound and unread else 0},
    )


class ConversationRepository:
    def __init__(self, table: Table) -> None:
        self.table = table

    def find(self, tenant_id: str, conv: str) -> Conversation | None:
        item = self.table.get(*keys.conversation(tenant_id, conv))
        return to_conversation(item) if item is not None else None

    def page(
        self, tenant_id: str, *, limit: int = 50, cursor: str | None = None
    ) -> tuple[list[Conversation], str | None]:
        """A tenant's conversations, newest activity first."""
        page = self.table.query(
            keys.conversations_index(tenant_id), index="gsi1", forward=False, limit=limit, cursor=cursor
        )
        return [to_conversation(i) for i in page.items], page.cursor

    def mark_read(self, tenant_id: str, conv: str) -> Conversation:
        """Unread to zero. Raises ConflictError when the conversation is gone."""
        new = self.table.update(
            *keys.conversation(tenant_id, conv), set={"unread": 0}, condition=item_exists()
        )
        return to_conversation(new)


class ContactRepository:
    def __init__(self, table: Table) -> None:
        self.table = table

    def key(self, tenant_id: str, phone: str) -> keys.Key:
        """The row key of the contact with this number (or LID): its blind index, not the number."""
        return keys.contact(tenant_id, blind_index.person(self.table, tenant_id, phone))

    def _item(self, tenant_id: str, phone: str) -> Item | None:
        item = self.table.get(*self.key(tenant_id, phone))
        if item is None:  # written before the blind index, not migrated yet
            item = self.table.get(*keys.legacy_contact(tenant_id, phone))
        return item

    def exists(self, tenant_id: str, phone: str) -> bool:
        return self._item(tenant_id, phone) is not None

    def get(self, tenant_id: str, phone: str) -> Contact | None:
        item = self._item(tenant_id, phone)
        return to_contact(item) if item is not None else None

    def removal(self, tenant_id: str, phone: str) -> list[Delete]:
        """The operations that delete the contact with this number (under either key)."""
        return [Delete(*self.key(tenant_id, phone)), Delete(*keys.legacy_contact(tenant_id, phone))]

    def merge(
        self,
        tenant_id: str,
        phone: str,
        lid_contact: Contact,
        existing: Contact | None,
        changes: dict[str, Any],
        *,
        messages_in: int = 0,
    ) -> list[TransactOp]:
        """The operations that fold the contact known by its LID into the one known by `phone` (which may
        not exist yet): counts added, the earliest first sighting kept, a name kept, the LID row deleted.
        Unconditional, so a merge never fails the message it rides with (a race of two merges of one person
        can only overcount `messages_in`)."""
        sightings = [lid_contact.first_seen_at, changes.get("first_seen_at")]
        if existing is not None:
            sightings.append(existing.first_seen_at)
        merged: dict[str, Any] = {"tenant_id": tenant_id, "phone": phone, "lid": lid_contact.phone}
        merged |= {k: v for k, v in changes.items() if v is not None}
        merged["first_seen_at"] = min(t for t in sightings if t is not None)
        if "name" not in merged and (existing is None or existing.name is None) and lid_contact.name:
            merged["name"] = lid_contact.name
        if lid_contact.metadata:
            merged["metadata"] = {**lid_contact.metadata, **(existing.metadata if existing else {})}
        if existing is None:
            merged.setdefault("last_seen_at", lid_contact.last_seen_at)
            merged.setdefault("last_session_id", lid_contact.last_session_id)
        return [
            Update(
                *self.key(tenant_id, phone),
                set={k: v for k, v in merged.items() if v is not None},
                add={"messages_in": messages_in + lid_contact.messages_in},
            ),
            *self.removal(tenant_id, lid_contact.phone),
        ]

    def upsert(self, tenant_id: str, phone: str, changes: dict[str, Any], *, messages_in: int = 0) -> Update:
        """The operation that creates or updates a contact (and counts `messages_in`)."""
        return Update(*self.key(tenant_id, phone), set=changes, add={"messages_in": messages_in})

    def page(
        self, tenant_id: str, *, limit: int = 50, cursor: str | None = None
    ) -> tuple[list[Contact], str | None]:
        page = self.table.query(
            keys.tenant_partition(tenant_id),
            sk=SortKey.prefix(keys.CONTACT_PREFIX),
            limit=limit,
            cursor=cursor,
        )
        return [to_contact(i) for i in page.items], page.cursor
