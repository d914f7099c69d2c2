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

In groups, the messages they wrote are erased the same way (tombstones too), and a group conversation's
preview is cleared when its last message was theirs; the group's conversation, the others' messages and
the group's participant list (WhatsApp's own state, refreshed by each sync) stay. The connector's
protocol state about them is deleted from every number's engine key store: Signal sessions and identity
keys of their devices (by phone and by LID), their device list, phone<->LID mapping, privacy token and
the sender keys they hold in groups; a running session that meets them again starts a new Signal
session, as with a reinstalled phone. Commands still queued for an erased message (a send) find no row
and are dropped by the connector (connector/claims.py: MISSING).
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
    model_config = ConfigDict(frozen=True, defer_build=True)

    id: str = Field(description="Quote it to show the erasure was done")
    subject: str = Field(description="A keyed hash of the phone number erased (the number is not kept)")
    erased_at: float
    erased: dict[str, int] = Field(description="What was removed, by kind")


class ContactExport(BaseModel):
    """Everything the tenant holds about one person (media as links valid for an hour)."""

    model_config = ConfigDict(defer_build=True)

    phone: str
    exported_at: float
    contact: Contact | None
    conversations: list[Conversation]
    messages: list[Message] = Field(
        description="Oldest first: every conversation with them, and what they wrote in groups"
    )
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
        lid = contact.lid if contact is not None and contact.lid else None
        for conv_row, message_rows in self._conversations(tenant_id, phone, lid):
            if conv_row is not None:
                conversations.append(to_conversation(conv_row))
            for item in message_rows:
                messages.append(to_message(item))
                media_ids.update(_MEDIA_ID.findall(json.dumps(item, default=str)))
        for _, theirs in self._group_messages(tenant_id, phone, lid):  # what they wrote in groups
            for item in theirs:
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
        contact = self.contacts.get(tenant_id, phone)
        lid = contact.lid if contact is not None and contact.lid else None
        for conv_row, message_rows in list(self._conversations(tenant_id, phone, lid)):
            for item in list(message_rows):
                self._erase_message(batch, tenant_id, item, now, media_ids)
                erased_ids.add(str(item["id"]))
                counts["messages"] += 1
            batch.flush()
            if conv_row is not None:
                self.table.delete(str(conv_row["pk"]), str(conv_row["sk"]))
                counts["conversations"] += 1
        counts["group_messages"] += self._erase_group_messages(
            batch, tenant_id, phone, lid, now, erased_ids, media_ids
        )
        for plan in list(self._plans(tenant_id, phone)):
            self.table.delete(str(plan["pk"]), str(plan["sk"]))
            counts["reminder_plans"] += 1
        if self.search is not None and contact is not None:
            self._erase_search_entries(tenant_id, phone, contact)
        for removal in self.contacts.removal(tenant_id, phone) + (
            self.contacts.removal(tenant_id, lid) if lid else []
        ):
            if self.table.delete(removal.pk, removal.sk) is not None:
                counts["contacts"] += 1
        if places := BroadcastRepository(self.table).erase_recipient(tenant_id, phone):
            counts["broadcast_recipients"] += places
        self._erase_media(batch, tenant_id, media_ids)
        if media_ids:
            counts["media_files"] += len(media_ids)
        mentions = _mentions(phone, erased_ids)
        for session_id in self._session_ids(tenant_id):
            counts["engine_keys"] += self._erase_engine_keys(batch, tenant_id, session_id, phone, lid)
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
            erased={kind: n for kind, n in counts.items() if n},
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

    def _erase_group_messages(
        self,
        batch: _Batch,
        tenant_id: str,
        phone: str,
        lid: str | None,
        now: float,
        erased_ids: set[str],
        media_ids: set[str],
    ) -> int:
        """The messages they wrote in the tenant's groups; a group's preview goes if it was theirs."""
        count = 0
        for conv, theirs in self._group_messages(tenant_id, phone, lid):
            for item in theirs:
                self._erase_message(batch, tenant_id, item, now, media_ids)
                erased_ids.add(str(item["id"]))
                count += 1
            batch.flush()
            if conv.get("last_message_id") in erased_ids:
                self.table.update(str(conv["pk"]), str(conv["sk"]), remove=["last_message_preview"])
        return count

    def _group_messages(
        self, tenant_id: str, phone: str, lid: str | None
    ) -> Iterator[tuple[Item, list[Item]]]:
        """Each of the tenant's group conversations where they wrote, with the rows of what they wrote."""
        senders = {phone, f"{phone.lstrip('+')}@s.whatsapp.net", *([lid] if lid else [])}
        for conv in list(rows(self.table, keys.conversations_index(tenant_id), index="gsi1")):
            if not conv.get("is_group"):
                continue
            index = keys.conversation_messages_index(tenant_id, str(conv["id"]))
            theirs = [m for m in rows(self.table, index, index="gsi2") if m.get("from") in senders]
            if theirs:
                yield conv, theirs

    def _erase_engine_keys(
        self, batch: _Batch, tenant_id: str, session_id: str, phone: str, lid: str | None
    ) -> int:
        """The connector's protocol state about them in one number's engine key store (their ids are
        the key: `{namespace}#{id}`, store/keys.py)."""
        partition = keys.engine_keys_partition(tenant_id, session_id)
        users = [phone.lstrip("+")] + ([lid.split("@", 1)[0]] if lid else [])
        prefixes = []
        for user in users:
            for name in (user, f"{user}_1"):  # a phone number's Signal name, a LID's (`_1`: its domain)
                prefixes += [keys.engine_key_sort(ns, f"{name}.") for ns in ("session", "identity")]
            prefixes += [keys.engine_key_sort(ns, f"{user}@") for ns in ("device-list", "privacy-token")]
        found = [row for prefix in prefixes for row in rows(self.table, partition, prefix=prefix)]
        exact = [keys.engine_key_sort("lid-map", f"pn:{users[0]}")]
        exact += [keys.engine_key_sort("lid-map", f"lid:{user}") for user in users[1:]]
        found += [row for row in self.table.get_many([(partition, sk) for sk in exact]) if row is not None]
        names = {f"::{name}::" for user in users for name in (user, f"{user}_1")}
        prefix = keys.engine_key_sort("sender-key", "")
        found += [
            row
            for row in rows(self.table, partition, prefix=prefix)
            if any(name in str(row["sk"]) for name in names)
        ]
        for row in found:
            batch.add([Delete(str(row["pk"]), str(row["sk"]))])
        batch.flush()
        return len({(str(r["pk"]), str(r["sk"])) for r in found})

    def _erase_media(self, batch: _Batch, tenant_id: str, media_ids: set[str]) -> None:
        for media_id in sorted(media_ids):
            batch.add([Delete(*keys.media(tenant_id, media_id))])
        batch.flush()
        store = self.media_store()
        if store is not None:
            for media_id in sorted(media_ids):
                store.delete(keys.media_object(tenant_id, media_id))

    def _conversations(
        self, tenant_id: str, phone: str, lid: str | None = None
    ) -> Iterator[tuple[Item | None, Iterator[Item]]]:
        """Each of the tenant's conversations with `phone` (any number, phone, JID or LID chat), with its
        messages' rows."""
        chats = (phone, f"{phone.lstrip('+')}@s.whatsapp.net", *([lid] if lid else []))
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
    """The erasure's writes, held and written in bulk (`Table.write_batch`: 25 per DynamoDB request,
    several in flight): each flush writes the tombstones first and only then deletes the rows, so a crash
    midway never leaves a message deleted without its tombstone, and erasing again finishes the job."""

    LIMIT = 1000  # held writes before a flush: memory stays bounded whatever the person's history

    def __init__(self, table: Table) -> None:
        self.table = table
        self._puts: dict[tuple[str, str], Item] = {}
        self._deletes: dict[tuple[str, str], None] = {}

    def add(self, group: list[TransactOp]) -> None:
        for op in group:
            if isinstance(op, Put):
                self._puts[(str(op.item["pk"]), str(op.item["sk"]))] = op.item
            elif isinstance(op, Delete):
                self._deletes[(op.pk, op.sk)] = None
            else:  # pragma: no cover - erasure writes only puts and deletes
                raise TypeError(f"not an erasure write: {op!r}")
        if len(self._puts) + len(self._deletes) >= self.LIMIT:
            self.flush()

    def flush(self) -> None:
        if self._puts:
            self.table.write_batch(puts=list(self._puts.values()))
        if self._deletes:
            self.table.write_batch(deletes=list(self._deletes))
        self._puts, self._deletes = {}, {}
