"""Conversations and contacts: the inbox view (last message, unread count), read receipts, the contact list.

Storage layout (single table):
    T#{tenant} / CONV#{conversation}     a conversation (one per session and peer); gsi1:
                                         T#{tenant}#CONVS / {last_at}#{conversation}, newest activity first
    T#{tenant} / CONTACT#{phone}         a contact (seed 003's lead sync: created on their first message)
The messages of a conversation are in the messages' gsi2 (see services/messages.py).
"""

from __future__ import annotations

from typing import Any

from wagate.conditions import SortKey, item_exists
from wagate.domain.conversations import Contact, Conversation, conversation_id
from wagate.domain.errors import NotFound
from wagate.domain.events import Command, CommandType
from wagate.domain.messages import Direction, Message
from wagate.domain.sessions import Provider
from wagate.ports import Clock, Item, Queues, Table, Update
from wagate.services import cloud_queue
from wagate.services.sessions import command_queue, shard_of
from wagate.store.sessions import SessionRepository

_CONV_FIELDS = set(Conversation.model_fields)
_CONTACT_FIELDS = set(Contact.model_fields)


def conversation_key(tenant_id: str, conv: str) -> tuple[str, str]:
    return f"T#{tenant_id}", f"CONV#{conv}"


def contact_key(tenant_id: str, phone: str) -> tuple[str, str]:
    return f"T#{tenant_id}", f"CONTACT#{phone}"


def activity(message: Message, *, name: str | None = None) -> Update:
    """The update that makes `message` its conversation's latest (creating the conversation if new)."""
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
        "gsi1pk": f"T#{message.tenant_id}#CONVS",
        "gsi1sk": f"{message.created_at:014.3f}#{conv}",
    }
    if name:
        changes["name"] = name
    return Update(
        *conversation_key(message.tenant_id, conv), set=changes, add={"unread": 1 if inbound else 0}
    )


class ConversationService:
    def __init__(self, table: Table, queues: Queues, clock: Clock, *, shards: int) -> None:
        self.table = table
        self.queues = queues
        self.clock = clock
        self.shards = shards

    def list_conversations(
        self, tenant_id: str, *, session_id: str | None = None, limit: int = 50, cursor: str | None = None
    ) -> tuple[list[Conversation], str | None]:
        page = self.table.query(
            f"T#{tenant_id}#CONVS", index="gsi1", forward=False, limit=limit, cursor=cursor
        )
        items = [_conversation(i) for i in page.items if session_id is None or i["session_id"] == session_id]
        return items, page.cursor

    def get_conversation(self, tenant_id: str, conv: str) -> Conversation:
        item = self.table.get(*conversation_key(tenant_id, conv))
        if item is None:
            raise NotFound(f"conversation {conv} does not exist")
        return _conversation(item)

    def conversation_messages(
        self, tenant_id: str, conv: str, *, limit: int = 50, cursor: str | None = None
    ) -> tuple[list[Message], str | None]:
        self.get_conversation(tenant_id, conv)
        page = self.table.query(
            f"T#{tenant_id}#CONV#{conv}", index="gsi2", forward=False, limit=limit, cursor=cursor
        )
        return [Message.model_validate(i) for i in page.items], page.cursor

    def mark_read(self, tenant_id: str, conv: str) -> Conversation:
        """Unread to zero, and read receipts for the inbound messages that were unread (a `mark_read`)."""
        conversation = self.get_conversation(tenant_id, conv)
        unread = conversation.unread
        if unread > 0:
            ids = self._unread_inbound_ids(tenant_id, conv, min(unread, 100))
            command = Command(
                type=CommandType.MARK_READ,
                tenant_id=tenant_id,
                session_id=conversation.session_id,
                data={"chat": conversation.chat, "message_ids": ids},
                issued_at=self.clock.now(),
            )
            session = SessionRepository(self.table).find(tenant_id, conversation.session_id)
            # read receipts of a cloud number go through Graph, not a socket
            if session is not None and session.session.provider == Provider.CLOUD:
                cloud_queue.enqueue(self.queues, command)
            else:
                shards = self.shards
                self.queues.get(command_queue(shard_of(conversation.session_id, shards))).send(
                    command.model_dump_json(), group_id=conversation.session_id, dedup_id=command.id
                )
        new = self.table.update(
            *conversation_key(tenant_id, conv), set={"unread": 0}, condition=item_exists()
        )
        return _conversation(new)

    def _unread_inbound_ids(self, tenant_id: str, conv: str, count: int) -> list[str]:
        """The provider ids of the newest `count` inbound messages (replies in between are skipped)."""
        ids: list[str] = []
        cursor = None
        while len(ids) < count:
            page = self.table.query(
                f"T#{tenant_id}#CONV#{conv}", index="gsi2", forward=False, limit=50, cursor=cursor
            )
            ids += [i["provider_message_id"] for i in page.items if i.get("direction") == Direction.INBOUND]
            if page.cursor is None:
                break
            cursor = page.cursor
        return ids[:count]

    def list_contacts(
        self, tenant_id: str, *, limit: int = 50, cursor: str | None = None
    ) -> tuple[list[Contact], str | None]:
        page = self.table.query(f"T#{tenant_id}", sk=SortKey.prefix("CONTACT#"), limit=limit, cursor=cursor)
        return [
            Contact.model_validate({k: v for k, v in i.items() if k in _CONTACT_FIELDS}) for i in page.items
        ], page.cursor


def _conversation(item: Item) -> Conversation:
    return Conversation.model_validate({k: v for k, v in item.items() if k in _CONV_FIELDS})
