"""Conversations and contacts: the inbox view (last message, unread count), read receipts, the contact list.

Rows: store/conversations.py, messages store/messages.py (keys and access patterns: store/keys.py).
"""

from __future__ import annotations

from wagate.cloud import commands
from wagate.domain.conversations import Contact, Conversation
from wagate.domain.errors import NotFound
from wagate.domain.events import Command, CommandType
from wagate.domain.messages import Direction, Message
from wagate.domain.sessions import Provider
from wagate.ports import Clock, Queues, Table
from wagate.services.sessions import command_queue, shard_of
from wagate.store.conversations import ContactRepository, ConversationRepository, activity
from wagate.store.messages import MessageRepository
from wagate.store.sessions import SessionRepository

__all__ = ["ConversationService", "activity"]


class ConversationService:
    def __init__(self, table: Table, queues: Queues, clock: Clock, *, shards: int) -> None:
        self.table = table
        self.queues = queues
        self.clock = clock
        self.shards = shards
        self.conversations = ConversationRepository(table)
        self.contacts = ContactRepository(table)
        self.messages = MessageRepository(table)
        self.sessions = SessionRepository(table)

    def list_conversations(
        self, tenant_id: str, *, session_id: str | None = None, limit: int = 50, cursor: str | None = None
    ) -> tuple[list[Conversation], str | None]:
        found, next_cursor = self.conversations.page(tenant_id, limit=limit, cursor=cursor)
        return [c for c in found if session_id is None or c.session_id == session_id], next_cursor

    def get_conversation(self, tenant_id: str, conv: str) -> Conversation:
        conversation = self.conversations.find(tenant_id, conv)
        if conversation is None:
            raise NotFound(f"conversation {conv} does not exist")
        return conversation

    def conversation_messages(
        self, tenant_id: str, conv: str, *, limit: int = 50, cursor: str | None = None
    ) -> tuple[list[Message], str | None]:
        self.get_conversation(tenant_id, conv)
        items, next_cursor = self.messages.conversation_page(tenant_id, conv, limit=limit, cursor=cursor)
        return [Message.model_validate(i) for i in items], next_cursor

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
            session = self.sessions.find(tenant_id, conversation.session_id)
            # read receipts of a cloud number go through Graph, not a socket
            if session is not None and session.session.provider == Provider.CLOUD:
                commands.enqueue(self.queues, command)
            else:
                shards = self.shards
                self.queues.get(command_queue(shard_of(conversation.session_id, shards))).send(
                    command.model_dump_json(), group_id=conversation.session_id, dedup_id=command.id
                )
        return self.conversations.mark_read(tenant_id, conv)

    def _unread_inbound_ids(self, tenant_id: str, conv: str, count: int) -> list[str]:
        """The provider ids of the newest `count` inbound messages (replies in between are skipped)."""
        ids: list[str] = []
        cursor = None
        while len(ids) < count:
            items, cursor = self.messages.conversation_page(tenant_id, conv, limit=50, cursor=cursor)
            ids += [i["provider_message_id"] for i in items if i.get("direction") == Direction.INBOUND]
            if cursor is None:
                break
        return ids[:count]

    def list_contacts(
        self, tenant_id: str, *, limit: int = 50, cursor: str | None = None
    ) -> tuple[list[Contact], str | None]:
        return self.contacts.page(tenant_id, limit=limit, cursor=cursor)
