"""Blind index: the keyed hash of a person's phone number (or LID) that table keys use instead of it.

`person(table, tenant, phone)` is HMAC-SHA256 (first 16 bytes, hex) under the tenant's blind-index key,
which is derived from its content data key (store/tenant_keys.py): equal numbers give equal keys, so
contacts and first-contact peers are found by number as before, but a copy of the table (a backup, a
point-in-time restore, a DynamoDB export) does not list anyone's number, and crypto-shredding the tenant
destroys the index with its content. The table answers it (`SealedTable.blind`), so every repository
built on the services' table (`ContactRepository(table)`, `FirstContacts(table, ...)`) gets it without
being handed a key.

Rows written before the index carry the number in their key (`keys.legacy_*`): repositories read them as
a fallback, and `migrate_person_keys` (run by `wagate admin encrypt-existing`) moves each one under its
blinded key, folding it into a row already there.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from wagate.conditions import item_exists
from wagate.domain.errors import ConflictError
from wagate.ports import Delete, Item, Put, Table, TransactOp
from wagate.store import keys

_DOMAIN = "person:"


def person(table: Table, tenant_id: str, phone: str) -> str:
    """The blind index of `phone` (E.164 or a `…@lid` id) in `tenant_id`. Raises TenantKeyDestroyed."""
    blind = getattr(table, "blind", None)
    if blind is None:
        raise TypeError("this Table has no blind index: wrap it in store/sealed_table.SealedTable")
    return str(blind(tenant_id, _DOMAIN + phone))


def keyed(table: Table, tenant_id: str, value: str) -> str:
    """The tenant's keyed hash of any `value` an index key needs (store/contacts.py: search tokens, with
    their own domain prefix). Raises TenantKeyDestroyed."""
    blind = getattr(table, "blind", None)
    if blind is None:
        raise TypeError("this Table has no blind index: wrap it in store/sealed_table.SealedTable")
    return str(blind(tenant_id, value))


def migrate_person_keys(table: Table, rows: Iterator[Item]) -> int:
    """Moves every row of `rows` (a raw scan) still keyed by a phone number under its blind index; returns
    how many moved. `table` is the sealed table (it seals what it writes). Safe beside live traffic: each
    move is one transaction conditioned on the old row, a contact is folded into the blinded one that live
    writes may have made meanwhile, and a row moved by someone else is skipped."""
    moved = 0
    for raw in rows:
        pk, sk = str(raw["pk"]), str(raw["sk"])
        if not keys.is_legacy_person_key(pk, sk):
            continue
        old = table.get(pk, sk)  # opened
        if old is None:
            continue
        tenant_id = str(keys.tenant_of_key(pk, sk))
        number = sk.split("#", 1)[1]
        digest = person(table, tenant_id, number)
        new_sk = sk[: len(sk) - len(number)] + digest
        ops: list[TransactOp] = [Delete(pk, sk, condition=item_exists())]
        current = table.get(pk, new_sk)
        fields = {k: v for k, v in old.items() if k not in ("pk", "sk")}
        if sk.startswith(keys.CONTACT_PREFIX):
            fields.setdefault("phone", number)
            if current is not None:
                fields = _folded_contact(fields, current)
            ops.append(Put({"pk": pk, "sk": new_sk, **fields}))
        elif current is None:
            ops.append(Put({"pk": pk, "sk": new_sk, **fields}))
        try:
            table.transact_write(ops)
        except ConflictError:
            continue  # moved or deleted meanwhile
        moved += 1
    return moved


def _folded_contact(old: dict[str, Any], current: Item) -> dict[str, Any]:
    """The contact under the blinded key after the legacy row is folded in: counts added, the earliest
    first sighting and latest last sighting kept, the blinded row's own values winning otherwise."""
    merged = {**old, **{k: v for k, v in current.items() if k not in ("pk", "sk") and v is not None}}
    merged["messages_in"] = int(old.get("messages_in") or 0) + int(current.get("messages_in") or 0)
    firsts = [t for t in (old.get("first_seen_at"), current.get("first_seen_at")) if t is not None]
    lasts = [t for t in (old.get("last_seen_at"), current.get("last_seen_at")) if t is not None]
    if firsts:
        merged["first_seen_at"] = min(firsts)
    if lasts:
        merged["last_seen_at"] = max(lasts)
    if old.get("metadata") or current.get("metadata"):
        merged["metadata"] = {**(old.get("metadata") or {}), **(current.get("metadata") or {})}
    return merged
