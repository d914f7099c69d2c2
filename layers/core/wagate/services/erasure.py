"""Erasure and export of one person's data across a tenant (GDPR Art. 15/17/20, LGPD Art. 18).

A person is a phone number. What is theirs: their contact row; every conversation any of the tenant's
numbers has with them, with all its messages (sent, received, scheduled), those messages' media files
(row and bytes) and due entries; reminder plans for them; their place in broadcasts still to send; the
first-contact mark of each number; and every copy of their messages still held for delivery (CRM webhook
deliveries, the outbox).

Erasing leaves, per erased message that had a provider id, only a tombstone: a keyed hash of that id
(store/erasure.py), so a late inbound retry of it is refused (services/inbound.py checks it in the same
transaction that would store it) and a late receipt finds no message to move. Nothing else about the
person is kept: the receipt names them by a keyed hash too.

Not covered here: group messages they wrote in groups (those conversations are the group's, kept whole),
and the connector's protocol state (Signal sessions with their devices), which the connector owns.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from wagate.domain.conversations import Contact, Conversation, conversation_id  # noqa: TC001 (pydantic needs them)
from wagate.domain.ids import new_id
from wagate.domain.messages import Message  # noqa: TC001
from wagate.domain.phones import normalise_phone
from wagate.domain.reminders import ReminderPlan  # noqa: TC001
from wagate.ports import Delete, Put
from wagate.store import blind_index, due_index, keys
from wagate.store.broadcasts import BroadcastRepository
from wagate.store.conversations import ContactRepository, to_conversation
from wagate.store.erasure import TombstoneKeys, rows
from wagate.store.messages import to_message
from wagate.store.reminders import to_plan

if TYPE_CHECKING:
    from wagate.ports import Clock, Item, MediaStore, Table, TransactOp
    from wagate.store.contacts import ContactSearch

_MEDIA_ID = re.compile(r"med_[0-9A-HJKMNP-TV-Z]{26}")
_MESSAGE_ID = re.compile(r"msg_[0-9A-HJKMNP-TV-Z]{26}")
# Phone digits as they appear inside held payloads (E.164 without '+', JIDs): matched as a whole number.
_DIGITS = r"(?<![0-9]){digits}(?![0-9])"


class ErasureReceipt(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str = Field(description="Quote it to show the erasure was done")
    subject: str = Field(description="A keyed hash of the phone number erased (the number is not kept)")
    erased_at: float
    erased: dict[str, int] = Field(description="What was removed, by kind")


class ContactExport(BaseModel):
    """Everything the tenant holds about one person (media as links valid for an hour)."""

    phone: str
    exported_at: float
    contact: Contact | None
    conversations: list[Conversation]
    messages: list[Message] = Field(description="Oldest first, every conversation")
    reminders: list[ReminderPlan]
    media: list[dict[str, Any]] = Field(description="`{id, mime, url}` of each file their messages carry")


class ErasureService:
    def __init__(
        self,
        table: Table,
        clock: Clock,
        tombstones: TombstoneKeys,
        media_store: Callable[[], MediaStore | None],
        *,
        search: ContactSearch | None = None,
    ) -> None:
        self.table = table
        self.search = search  # the contact's search entries (store/contacts.py) go with it
        self.clock = clock
        self.tombstones = tombstones
        self.media_store = media_store
        self.contacts = ContactRepository(table)

    # ---- export -------------------------------------------------------------------------------------

    def export(self, tenant_id: str, raw_phone: str) -> ContactExport:
        phone = normalise_phone(raw_phone)
        contact = self.contacts.get(tenant_id, phone)
        conversations: list[Conversation] = []
        messages: list[Message] = []
        media_ids: set[str] = set()
        for conv_row, message_rows in self._conversations(tenant_id, phone):
            if conv_row is not None:
                conversations.append(to_conversation(conv_row))
            for item in message_rows:
                messages.append(to_message(item))
                media_ids.update(_MEDIA_ID.findall(json.dumps(item, default=str)))
        store = self.media_store()
        media = []
        for media_id in sorted(media_ids):
            row = self.table.get(*keys.media(tenant_id, media_id))
            if row is None:
                continue  # gone already (its retention)
            url = None
            if store is not None and row.get("state") == "ready":
                url = store.download_url(
                    keys.media_object(tenant_id, media_id),
                    expires_in=3600,
                    content_type=str(row.get("mime") or "application/octet-stream"),
                    filename=row.get("filename"),
                )
            media.append({"id": media_id, "mime": row.get("mime"), "url": url})
        return ContactExport(
            phone=phone,
            exported_at=self.clock.now(),
            contact=contact,
            conversations=conversations,
            messages=sorted(messages, key=lambda m: m.id),
            reminders=[to_plan(p) for p in self._plans(tenant_id, phone)],
            media=media,
        )

    # ---- erasure ------------------------------------------------------------------------------------

    def _erase_search_entries(self, tenant_id: str, phone: str, contact: Contact) -> None:
        assert self.search is not None
        for op in self.search.ops(tenant_id, phone, contact.model_dump(mode="json"), {}):
            if isinstance(op, Delete):
                self.table.delete(op.pk, op.sk)

    def erase(self, tenant_id: str, raw_phone: str) -> ErasureReceipt:
        """Removes everything about `raw_phone` in the tenant. Idempotent: erasing again finds nothing."""
        phone = normalise_phone(raw_phone)
        now = self.clock.now()
        counts: Counter[str] = Counter()
        erased_ids: set[str] = set()
        media_ids: set[str] = set()
        batch = _Batch(self.table)
        for conv_row, message_rows in list(self._conversations(tenant_id, phone)):
            for item in list(message_rows):
                self._erase_message(batch, tenant_id, item, now, media_ids)
                erased_ids.add(str(item["id"]))
                counts["messages"] += 1
            batch.flush()
            if conv_row is not None:
                self.table.delete(str(conv_row["pk"]), str(conv_row["sk"]))
                counts["conversations"] += 1
        for plan in list(self._plans(tenant_id, phone)):
            self.table.delete(str(plan["pk"]), str(plan["sk"]))
            counts["reminder_plans"] += 1
        contact = self.contacts.get(tenant_id, phone)
        if self.search is not None and contact is not None:
            self._erase_search_entries(tenant_id, phone, contact)
        for removal in self.contacts.removal(tenant_id, phone):
            if self.table.delete(removal.pk, removal.sk) is not None:
                counts["contacts"] += 1
        if places := BroadcastRepository(self.table).erase_recipient(tenant_id, phone):
            counts["broadcast_recipients"] += places
        self._erase_media(batch, tenant_id, media_ids)
        if media_ids:
            counts["media_files"] += len(media_ids)
        mentions = _mentions(phone, erased_ids)
        for session_id in self._session_ids(tenant_id):
            person = blind_index.person(self.table, tenant_id, phone)
            for peer in (
                keys.first_contact_peer(tenant_id, session_id, person),
                keys.legacy_first_contact_peer(tenant_id, session_id, phone),
            ):
                if self.table.delete(*peer) is not None:
                    counts["first_contact_marks"] += 1
            for row in list(rows(self.table, keys.outbox_partition(tenant_id, session_id))):
                if mentions(row):
                    self.table.delete(str(row["pk"]), str(row["sk"]))
                    counts["outbox_rows"] += 1
        for webhook in list(rows(self.table, keys.tenant_partition(tenant_id), prefix=keys.WEBHOOK_PREFIX)):
            partition = keys.deliveries_partition(tenant_id, str(webhook["id"]))
            for row in list(rows(self.table, partition)):
                if mentions(row):
                    self.table.delete(str(row["pk"]), str(row["sk"]))
                    counts["webhook_deliveries"] += 1
        _scrub(self.table)
        return ErasureReceipt(
            id=new_id("era", now),
            subject=self.tombstones.digest(tenant_id, phone),
            erased_at=now,
            erased=dict(counts),
        )

    def erase_session_messages(self, tenant_id: str, session_id: str) -> int:
        """Removes every message of one session (deleting a session with `erase_messages`), leaving
        tombstones like a contact's erasure; returns how many."""
        now = self.clock.now()
        media_ids: set[str] = set()
        count = 0
        index = keys.session_messages_index(tenant_id, session_id)
        batch = _Batch(self.table)
        for item in list(rows(self.table, index, index="gsi1")):
            self._erase_message(batch, tenant_id, item, now, media_ids)
            count += 1
        batch.flush()
        for conv in list(rows(self.table, keys.conversations_index(tenant_id), index="gsi1")):
            if conv.get("session_id") == session_id:
                self.table.delete(str(conv["pk"]), str(conv["sk"]))
        self._erase_media(batch, tenant_id, media_ids)
        _scrub(self.table)
        return count

    # ---- inside -------------------------------------------------------------------------------------

    def _erase_message(
        self, batch: _Batch, tenant_id: str, item: Item, now: float, media_ids: set[str]
    ) -> None:
        """The message row, its provider-id row (a tombstone instead) and its due entry."""
        session_id = str(item["session_id"])
        provider_id = item.get("provider_message_id")
        media_ids.update(_MEDIA_ID.findall(json.dumps(item, default=str)))
        ops: list[TransactOp] = []
        if provider_id:
            # The tombstone first: a retry racing this erasure is refused from here on.
            ops.append(self.tombstones.tombstone(tenant_id, session_id, str(provider_id), now))
            ops.append(Delete(*keys.provider_id(tenant_id, session_id, str(provider_id))))
        ops.append(Delete(str(item["pk"]), str(item["sk"])))
        if item.get("scheduled_at") is not None:
            ops.append(Delete(*due_index.key(tenant_id, str(item["id"]), float(item["scheduled_at"]))))
        batch.add(ops)

    def _erase_media(self, batch: _Batch, tenant_id: str, media_ids: set[str]) -> None:
        for media_id in sorted(media_ids):
            batch.add([Delete(*keys.media(tenant_id, media_id))])
        batch.flush()
        store = self.media_store()
        if store is not None:
            for media_id in sorted(media_ids):
                store.delete(keys.media_object(tenant_id, media_id))

    def _conversations(self, tenant_id: str, phone: str) -> Iterator[tuple[Item | None, Iterator[Item]]]:
        """Each of the tenant's conversations with `phone` (any number, phone or JID chat), with its
        messages' rows."""
        chats = (phone, f"{phone.lstrip('+')}@s.whatsapp.net")
        for session_id in self._session_ids(tenant_id):
            for chat in chats:
                conv = conversation_id(session_id, chat)
                row = self.table.get(*keys.conversation(tenant_id, conv))
                messages = list(
                    rows(self.table, keys.conversation_messages_index(tenant_id, conv), index="gsi2")
                )
                # Messages can outlive their conversation row (its own retention): found either way.
                if row is not None or messages:
                    yield row, iter(messages)

    def _plans(self, tenant_id: str, phone: str) -> Iterator[Item]:
        for plan in rows(self.table, keys.tenant_partition(tenant_id), prefix=keys.REMINDER_PREFIX):
            if plan.get("to") == phone:
                yield plan

    def _session_ids(self, tenant_id: str) -> list[str]:
        found = rows(self.table, keys.tenant_partition(tenant_id), prefix=keys.SESSION_PREFIX)
        return [str(item["id"]) for item in found]


def _mentions(phone: str, message_ids: set[str]) -> Callable[[Item], bool]:
    """Whether a held payload (delivery, outbox row) is about this person or one of their messages."""
    pattern = re.compile(_DIGITS.format(digits=re.escape(phone.lstrip("+"))))

    def mentions(row: Item) -> bool:
        text = json.dumps(row, default=str)
        return bool(pattern.search(text)) or not message_ids.isdisjoint(_MESSAGE_ID.findall(text))

    return mentions


def _scrub(table: Table) -> None:
    """The local table's files keep deleted bytes until scrubbed (adapters/local/sqlite_table.py); the
    Table port has no such step, since DynamoDB keeps none readable."""
    scrub = getattr(table, "scrub", None)
    if callable(scrub):
        scrub()


class _Batch:
    """The erasure's writes, in order. Each is its own request: DynamoDB transactions would cut round
    trips ~30x, but each costs twice the write units and moto (the tests' and bench's DynamoDB) runs one
    in seconds, so ordered single writes it is; the order (tombstone before the rows) keeps a crash
    midway safe, and erasing again finishes the job."""

    def __init__(self, table: Table) -> None:
        self.table = table

    def add(self, group: list[TransactOp]) -> None:
        for op in group:
            if isinstance(op, Put):
                self.table.put(op.item, condition=op.condition)
            elif isinstance(op, Delete):
                self.table.delete(op.pk, op.sk, condition=op.condition)
            else:  # pragma: no cover - erasure writes only puts and deletes
                raise TypeError(f"not an erasure write: {op!r}")

    def flush(self) -> None:
        """Nothing is held back (kept so callers mark where a group of rows ends)."""
