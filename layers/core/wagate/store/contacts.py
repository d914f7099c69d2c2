"""The contacts' search entries: find a tenant's contacts by a word of their name, their CRM external id or
their LID, by key, never by scanning (keys and access patterns: store/keys.py).

One entry per (field, token) a contact has, in the partition `keys.contact_search(t, field, token)`, with
the contact's own sort key (its blind index: store/blind_index.py) as sort key and its number sealed in
the row. Tokens are never the plaintext: the tenant's keyed hash (`SealedTable.blind`, under its data
key) of the normalised value (names: lower-cased, accents removed, one entry per word). So a search is
exact per word or id, and a destroyed data key (tenant deletion) leaves the entries meaningless.
Entries are written in the same transaction as the contact change that needs them; one whose contact
has gone (its retention) is dropped by the search that finds it.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from wagate.conditions import SortKey
from wagate.ports import Delete, Put, Table, TransactOp
from wagate.store import blind_index, keys

FIELDS = ("name", "external_id", "lid")
MAX_NAME_WORDS = 8
_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def normalise_word(word: str) -> str:
    """Lower case without accents: `José` and `jose` find each other."""
    decomposed = unicodedata.normalize("NFKD", word.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def name_words(name: str | None) -> list[str]:
    if not name:
        return []
    words = [normalise_word(w) for w in _WORD.findall(name)]
    return list(dict.fromkeys(w for w in words if w))[:MAX_NAME_WORDS]


def searchable(fields: dict[str, Any]) -> set[tuple[str, str]]:
    """(field, normalised value) pairs of a contact's fields (name, external_id, lid)."""
    found = {("name", w) for w in name_words(fields.get("name"))}
    external = fields.get("external_id")
    if isinstance(external, str) and external.strip():
        found.add(("external_id", external.strip()))
    lid = fields.get("lid")
    if isinstance(lid, str) and lid:
        found.add(("lid", lid))
    return found


class ContactSearch:
    def __init__(self, table: Table) -> None:
        self.table = table  # the sealed table: its `blind` is the tenant's keyed hash

    def token(self, tenant_id: str, field: str, value: str) -> str:
        return blind_index.keyed(self.table, tenant_id, f"contact-search:{field}:{value}")

    def sort(self, tenant_id: str, phone: str) -> str:
        return keys.contact_search_sort(blind_index.person(self.table, tenant_id, phone))

    def entry(self, tenant_id: str, field: str, value: str, phone: str) -> Put:
        return Put(
            {
                "pk": keys.contact_search(tenant_id, field, self.token(tenant_id, field, value)),
                "sk": self.sort(tenant_id, phone),
                "tenant_id": tenant_id,
                "phone": phone,
            }
        )

    def ops(
        self, tenant_id: str, phone: str, before: dict[str, Any] | None, after: dict[str, Any]
    ) -> list[TransactOp]:
        """The writes that move `phone`'s entries from what `before` held to what `after` holds."""
        old = searchable(before or {})
        new = searchable(after)
        ops: list[TransactOp] = [
            Delete(
                keys.contact_search(tenant_id, field, self.token(tenant_id, field, value)),
                self.sort(tenant_id, phone),
            )
            for field, value in sorted(old - new)
        ]
        ops.extend(self.entry(tenant_id, field, value, phone) for field, value in sorted(new - old))
        return ops

    def find(self, tenant_id: str, field: str, value: str, *, limit: int = 50) -> list[str]:
        """The phones (contact keys) whose `field` holds `value` (for names: one word of it)."""
        normalised = normalise_word(value) if field == "name" else value.strip()
        if not normalised:
            return []
        page = self.table.query(
            keys.contact_search(tenant_id, field, self.token(tenant_id, field, normalised)),
            sk=SortKey.prefix(keys.CONTACT_PREFIX),
            limit=limit,
        )
        return [str(item["phone"]) for item in page.items]

    def forget(self, tenant_id: str, field: str, value: str, phone: str) -> None:
        """Drops one entry whose contact is gone."""
        normalised = normalise_word(value) if field == "name" else value.strip()
        self.table.delete(
            keys.contact_search(tenant_id, field, self.token(tenant_id, field, normalised)),
            self.sort(tenant_id, phone),
        )
