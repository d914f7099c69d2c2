"""Contacts for lead sync: one person by phone or WhatsApp id (a LID finds the contact it was merged into),
the CRM's external id, tags and metadata on it, search by phone, name word or external id, and the
`contact_created` / `contact_updated` notices CRMs and dashboards get.

Rows: store/conversations.py (the contact), store/contacts.py (its search entries, written in the same
transaction as each change that moves them). Inbound messages create and update contacts
(services/inbound.py, which uses `changed` and `notice_data` from here); the CRM's PATCH changes only
`external_id`, `tags` and `metadata`, conditioned on the values it read, and its notice is committed with
it through the outbox (services/outbox.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from wagate.conditions import Attr, item_exists
from wagate.domain.conversations import Contact
from wagate.domain.errors import ConflictError, InvalidInput, NotFound
from wagate.domain.events import EventType, SessionEvent
from wagate.domain.phones import normalise_phone
from wagate.ports import Update
from wagate.services import outbox
from wagate.services.outbox import Notice
from wagate.store import keys
from wagate.store.conversations import ContactRepository

if TYPE_CHECKING:
    from wagate.ports import Clock, Put, Table
    from wagate.store.contacts import ContactSearch

LID = re.compile(r"[0-9]{1,20}@lid")
USER_JID = re.compile(r"\+?([0-9]{6,15})@(s\.whatsapp\.net|c\.us)")
# Fields whose change is news for a CRM (not last_seen_at or the message count of every message).
WATCHED = ("name", "push_name", "lid", "jid", "profile_picture_url", "external_id", "tags", "metadata")


@dataclass(frozen=True)
class ContactChange:
    """A contact created or changed: the notice it owes (`contact_created` / `contact_updated`)."""

    kind: EventType
    data: dict[str, Any]

    def notice(self) -> Notice:
        return Notice(self.kind, self.data)


def changed(before: dict[str, Any] | None, after: dict[str, Any]) -> list[str]:
    """The watched fields whose value differs (every one set, for a new contact)."""
    if before is None:
        return [f for f in WATCHED if after.get(f) not in (None, "", [], {})]
    return [f for f in WATCHED if f in after and after[f] != before.get(f)]


def notice_data(fields: dict[str, Any], changed_fields: list[str]) -> dict[str, Any]:
    """What a contact notice carries: the contact as the API shows it, and which fields changed."""
    shown = Contact.model_validate({"first_seen_at": 0.0, "last_seen_at": 0.0, **fields})
    data = shown.model_dump(mode="json", exclude={"tenant_id"})
    data["changed"] = changed_fields
    return data


def change_of(before: dict[str, Any] | None, after: dict[str, Any]) -> ContactChange | None:
    """The notice a contact write owes: created when there was none, updated when a watched field moved."""
    fields = changed(before, after)
    if before is None:
        return ContactChange(EventType.CONTACT_CREATED, notice_data(after, fields))
    if not fields:
        return None
    return ContactChange(EventType.CONTACT_UPDATED, notice_data({**before, **after}, fields))


def contact_fields(contact: Contact | None) -> dict[str, Any] | None:
    return contact.model_dump(mode="json") if contact is not None else None


def contact_id(raw: str) -> str:
    """The key a contact is stored under, from what a CRM names it by: E.164 (`+34 600 ...`), a phone JID
    (`34600123456@s.whatsapp.net`) or a LID (`123...@lid`). Raises InvalidInput naming `phone`."""
    text = raw.strip()
    if LID.fullmatch(text):
        return text
    jid = USER_JID.fullmatch(text)
    if jid:
        return normalise_phone("+" + jid.group(1))
    if "@" in text:
        raise InvalidInput(
            "phone: an E.164 number (+34600123456), a WhatsApp id (34600123456@s.whatsapp.net) or a LID "
            "(…@lid)",
            details={"field": "phone", "value": raw[:100]},
        )
    return normalise_phone(text)


class ContactService:
    def __init__(
        self,
        table: Table,
        clock: Clock,
        search: ContactSearch,
        drain: Callable[[Put], None],
    ) -> None:
        self.table = table
        self.clock = clock
        self.search = search
        self.drain = drain  # emits a committed outbox row (services/outbox.py)
        self.contacts = ContactRepository(table)

    def get(self, tenant_id: str, raw: str) -> Contact:
        """Raises InvalidInput (not a phone or id), NotFound."""
        found = self._find(tenant_id, contact_id(raw))
        if found is None:
            raise NotFound(f"contact {raw.strip()[:40]} does not exist", code="contact_not_found")
        return found

    def search_by(self, tenant_id: str, field: str, value: str, *, limit: int = 50) -> list[Contact]:
        """Exact per name word, external id or phone: found through the search entries, never a scan."""
        if field == "phone":
            found = self._find(tenant_id, contact_id(value))
            return [found] if found is not None else []
        results = []
        for phone in self.search.find(tenant_id, field, value, limit=limit):
            contact = self.contacts.get(tenant_id, phone)
            if contact is None:  # gone by its retention: the entry goes too
                self.search.forget(tenant_id, field, value, phone)
                continue
            results.append(contact)
        return results

    def patch(self, tenant_id: str, raw: str, changes: dict[str, Any]) -> Contact:
        """Sets the CRM's fields (external_id, tags, metadata) given in `changes`. Raises NotFound,
        ConflictError (`busy`) when the contact keeps changing under it."""
        for _ in range(3):
            contact = self.get(tenant_id, raw)
            before = contact.model_dump(mode="json")
            now = self.clock.now()
            after = {**before, **changes}
            change = change_of(before, after)
            if change is None:
                return contact
            # The external id drives its search entry: written only over the one read (names, tags and
            # metadata move no entry of this write).
            external = before.get("external_id")
            unchanged = item_exists() & (
                Attr("external_id").not_exists() if external is None else Attr("external_id").eq(external)
            )
            event = SessionEvent(
                type=change.kind,
                tenant_id=tenant_id,
                session_id=contact.last_session_id or "",
                at=now,
                data={},
            )
            put = outbox.row(event, [change.notice()], now)
            write = Update(
                *self._row_key(tenant_id, contact.phone),
                set={**{k: v for k, v in changes.items() if v is not None}, "updated_at": now},
                remove=tuple(k for k, v in changes.items() if v is None),  # null clears it
                condition=unchanged,
            )
            try:
                self.table.transact_write(
                    [write, *self.search.ops(tenant_id, contact.phone, before, after), put]
                )
            except ConflictError:
                continue  # a message changed it meanwhile: read again
            self.drain(put)
            return contact.model_copy(update={**changes, "updated_at": now})
        raise ConflictError("this contact is changing too fast; retry", code="busy")

    def _row_key(self, tenant_id: str, phone: str) -> keys.Key:
        """Where the contact's row is: under its blind index, or under its number if not migrated yet."""
        key = self.contacts.key(tenant_id, phone)
        if self.table.get(*key) is None and self.table.get(*keys.legacy_contact(tenant_id, phone)):
            return keys.legacy_contact(tenant_id, phone)
        return key

    def _find(self, tenant_id: str, key: str) -> Contact | None:
        found = self.contacts.get(tenant_id, key)
        if found is not None or not LID.fullmatch(key):
            return found
        # Known by its LID once, merged into the contact under the phone since: its `lid` entry says which.
        for phone in self.search.find(tenant_id, "lid", key, limit=1):
            merged = self.contacts.get(tenant_id, phone)
            if merged is not None:
                return merged
        return None
