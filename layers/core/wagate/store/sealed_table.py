"""The Table port with content sealed at rest: wraps any Table, seals content attributes, opens them on read.

Which attributes are content is one list, `CONTENT_ATTRIBUTES` (message text, captions, media, template
parameters, metadata, names, previews, webhook and outbox payloads, reminder variables, idempotency
responses ...). Sealing uses the row's tenant's data key (`ContentCipher`; the tenant read off the row
key by `keys.tenant_of_key`, global rows use the system tenant's key), bound to the row's pk and sk. On
every read (get, query, the item an update or delete returns) they are opened again, so repositories,
services and callers see plaintext and change nothing.

Layout. A put seals all of the row's content in ONE value, attribute `SEALED` (one AES-GCM operation per
row, whatever the number of content attributes). An update cannot rewrite that value without reading it
first, so content it sets is sealed attribute by attribute, and content it removes is overwritten with
`ABSENT`; on read, an attribute of its own wins over the same name inside `SEALED`, and `ABSENT` reads as
missing. Empty values (None, "", [], {}) stay plain: they say nothing.

What stays plain: keys and index keys, ids, statuses, times, counters and versions: everything a
condition, an index or an atomic `add` works on (no condition or index ever looks at content).

Migration. A value that is not sealed yet (written before encryption was on) is read as it is, and
sealed the next time its row is written; `seal_existing` seals every such row in place with a condition
on the plaintext it replaces, so it runs beside live traffic without losing a write. Content whose
tenant key was destroyed (crypto-shredded) reads as absent.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from wagate.conditions import Attr, Condition, SortKey
from wagate.domain.errors import ConflictError
from wagate.ports import Item, Page, Put, Table, TransactOp, Update
from wagate.store import keys
from wagate.store.content_cipher import PREFIX, ContentCipher, is_sealed
from wagate.store.tenant_keys import SYSTEM_TENANT, TenantKey, TenantKeyDestroyed

log = logging.getLogger("wagate.sealed_table")

CONTENT_ATTRIBUTES = frozenset(
    {
        "text",  # message text, rendered template output
        "evolution",  # an Evolution instance's token and settings; an Evolution webhook's headers
        "evolution_settings",  # an Evolution instance's settings as settings/set changed them
        "caption",
        "media",  # caption, filename, url of a message's media
        "template",  # a message's template parameters; a reminder plan's template variables
        "offsets",  # a reminder plan's per-offset templates and variables
        "metadata",  # the CRM's own data on messages, contacts, plans
        "quoted",
        "content",  # the typed content (domain/content.py)
        "reactions",
        "history",  # what a message said before an edit or delete
        "name",  # contact push names, conversation names, group subjects, session labels
        "push_name",
        "verified_name",
        "profile",
        "profile_picture_url",  # a contact's picture link
        "tags",  # the CRM's tags on a contact
        "subject",
        "participants",
        "members",  # a group's members (phones, LIDs)
        "result",  # a group operation's outcome (participants, invite link, the group)
        "invite_link",  # a group's: whoever holds it can join
        "last_message_preview",
        "body",  # webhook delivery payloads kept for replay
        "payload",
        "response",
        "event",  # outbox rows: the event a stored change still owes
        "notices",
        "description",  # a template's own words
        "variables",
        "to",  # phone numbers: a message's peer, sender and chat, a contact's WhatsApp ids
        "from",
        "chat",
        "jid",
        "lid",
        "phone",  # a contact's number (its key holds only the blind index), a session's own number
        "data",  # idempotency records: the API's stored response (the message, its text)
        "recipients",  # a broadcast's phone numbers and their variables
        "rejections",  # a broadcast's refused recipients (their phone numbers)
    }
)


SEALED = "sealed_content"
OPENED_ROWS = 4096  # rows whose opened content is kept (the dashboard's pages: 50 rows each)


class _Json(str):
    """A kept container value, as "j" + its JSON."""


ABSENT = "wgc1:absent"
_EMPTY: tuple[Any, ...] = (None, "", [], {})


def _is_content(name: str, value: Any) -> bool:
    return name in CONTENT_ATTRIBUTES and not is_sealed(value) and value not in _EMPTY


def tenant_for(pk: str, sk: str) -> str:
    """Whose key opens a row's content: its tenant's, or the system's for global rows."""
    return keys.tenant_of_key(pk, sk) or SYSTEM_TENANT


def _sealing_tenant(pk: str, sk: str) -> str | None:
    """Whose key seals a row's content; None: the row is left as it is. Global rows hold no content but
    for the idempotency records (the stored response of a send); API keys, tokens, connections and
    leases stay plain, so the authorizer and the socket's handler need no KMS access."""
    tenant = keys.tenant_of_key(pk, sk)
    if tenant is None and keys.is_idempotency_record(pk):
        return SYSTEM_TENANT
    return tenant


def _place(pk: str, sk: str, attribute: str) -> str:
    return f"table\x00{pk}\x00{sk}\x00{attribute}"


class SealedTable:
    """`Table` with content sealed at rest (see the module docstring); `inner` does the storing."""

    def __init__(self, inner: Table, cipher: ContentCipher, *, seal: bool = True) -> None:
        """`seal=False` (WAGATE_ENCRYPT_CONTENT=false): writes stay plain, sealed rows still read."""
        self.inner = inner
        self.cipher = cipher
        self.seal = seal
        self._lock = threading.Lock()
        self._rows: OrderedDict[tuple[Any, ...], tuple[tuple[str, Any], ...]] = OrderedDict()

    # ---- writes -------------------------------------------------------------------------------------

    def seal_values(self, pk: str, sk: str, values: Mapping[str, Any]) -> dict[str, Any]:
        """`values` (an update's `set`) with every content attribute sealed on its own."""
        content = [name for name, value in values.items() if _is_content(name, value)]
        tenant = _sealing_tenant(pk, sk)
        if not content or tenant is None or not self.seal:
            return dict(values)
        key = self.cipher.keys.key(tenant)
        out = dict(values)
        for name in content:
            out[name] = self.cipher.seal_value(key, values[name], _place(pk, sk, name))
        return out

    def _seal_item(self, item: Item) -> Item:
        pk, sk = str(item["pk"]), str(item["sk"])
        content = {name: value for name, value in item.items() if _is_content(name, value)}
        tenant = _sealing_tenant(pk, sk)
        if not content or tenant is None or not self.seal:
            return item
        key = self.cipher.keys.key(tenant)
        out = {name: value for name, value in item.items() if name not in content}
        out[SEALED] = self.cipher.seal_value(key, content, _place(pk, sk, SEALED))
        return out

    def _seal_update(self, op: Update) -> Update:
        removed = [name for name in op.remove if name in CONTENT_ATTRIBUTES]
        if _sealing_tenant(op.pk, op.sk) is None:
            return op
        if not self.seal:  # a removed attribute may still be inside SEALED: it must not come back
            changes = dict(op.set) | dict.fromkeys(removed, ABSENT)
            remove = [name for name in op.remove if name not in CONTENT_ATTRIBUTES]
            return Update(op.pk, op.sk, set=changes, remove=remove, add=op.add, condition=op.condition)
        if not removed and not any(_is_content(n, v) for n, v in op.set.items()):
            return op
        changes = self.seal_values(op.pk, op.sk, op.set)
        # A removed attribute may also live inside SEALED: mark it gone instead of removing it.
        changes.update(dict.fromkeys(removed, ABSENT))
        remove = [name for name in op.remove if name not in CONTENT_ATTRIBUTES]
        return Update(op.pk, op.sk, set=changes, remove=remove, add=op.add, condition=op.condition)

    def _seal_op(self, op: TransactOp) -> TransactOp:
        if isinstance(op, Put):
            return Put(self._seal_item(op.item), condition=op.condition)
        if isinstance(op, Update):
            return self._seal_update(op)
        return op

    # ---- reads --------------------------------------------------------------------------------------

    def open_item(self, item: Item | None, seen: dict[str, TenantKey | None] | None = None) -> Item | None:
        """Opens `item` in place (adapters hand out a new dict on every read). `seen`: the keys this read
        already looked up, by pk (a page of rows shares one tenant: one lookup, not one per row)."""
        if item is None:
            return None
        grouped = item.pop(SEALED, None)
        if grouped is None and CONTENT_ATTRIBUTES.isdisjoint(item):  # counters, keys, times: nothing to open
            return item
        own = [
            n for n, v in item.items() if n in CONTENT_ATTRIBUTES and isinstance(v, str) and v[:5] == PREFIX
        ]
        if grouped is None and not own:
            return item
        pk, sk = str(item["pk"]), str(item["sk"])
        if seen is not None and pk in seen:
            key = seen[pk]
        else:
            sample = grouped or next((item[n] for n in own if item[n] != ABSENT), None)
            key = self._key(tenant_for(pk, sk), sample)
            # The tenant follows from the pk alone but in the due index (there the sk names it).
            if seen is not None and sample is not None and not pk.startswith("DUE#"):
                seen[pk] = key
        if key is None:
            for name in own:
                del item[name]
            return item
        # Rows read again and again (the dashboard's lists) are opened once: their plaintext is kept by
        # their sealed values (random nonces: a changed row has new ones), after the key check above, so
        # a destroyed tenant key still stops them.
        memo = (pk, sk, grouped, *[(name, item[name]) for name in own])
        with self._lock:
            opened = self._rows.get(memo)
        if opened is None:
            opened = self._opened(key, pk, sk, grouped, {name: item[name] for name in own})
            with self._lock:
                self._rows[memo] = opened
                if len(self._rows) > OPENED_ROWS:
                    self._rows.popitem(last=False)
        for name in own:
            del item[name]
        for name, value in opened:
            if name not in item:
                # Containers are kept as JSON, so no caller can change what the next read gets.
                item[name] = json.loads(value[1:]) if value.__class__ is _Json else value
        return item

    def _key(self, tenant: str, sample: Any) -> TenantKey | None:
        """The tenant's key that sealed `sample`; None when there is nothing to open or the tenant was
        crypto-shredded (its content no longer exists). Raises InvalidInput."""
        if sample is None:
            return None
        try:
            return self.cipher.key_for(tenant, str(sample))
        except TenantKeyDestroyed:
            return None

    def _opened(
        self, key: TenantKey, pk: str, sk: str, grouped: Any, own: Mapping[str, str]
    ) -> tuple[tuple[str, Any], ...]:
        """A row's content opened: (name, value) pairs, containers as `_Json`, absent ones left out."""
        values: dict[str, Any] = {}
        for name, sealed in own.items():
            if sealed != ABSENT:
                values[name] = self.cipher.open_value(key, sealed, _place(pk, sk, name))
        if isinstance(grouped, str):
            for name, value in self.cipher.open_value(key, grouped, _place(pk, sk, SEALED)).items():
                if name not in own:  # its own attribute (a later update) wins, ABSENT included
                    values[name] = value
        return tuple(
            (name, _Json("j" + json.dumps(v)) if isinstance(v, dict | list) else v)
            for name, v in values.items()
        )

    def blind(self, tenant_id: str, value: str) -> str:
        """The tenant's keyed hash of `value` for index keys (store/blind_index.py), sealing on or off."""
        return self.cipher.blind(tenant_id, value)

    # ---- the Table port -----------------------------------------------------------------------------

    def get(self, pk: str, sk: str) -> Item | None:
        return self.open_item(self.inner.get(pk, sk))

    def get_many(self, keys: Sequence[tuple[str, str]]) -> list[Item | None]:
        seen: dict[str, TenantKey | None] = {}
        return [self.open_item(item, seen) for item in self.inner.get_many(keys)]

    def put(self, item: Item, *, condition: Condition | None = None) -> None:
        self.inner.put(self._seal_item(item), condition=condition)

    def update(
        self,
        pk: str,
        sk: str,
        *,
        set: Mapping[str, Any] | None = None,
        remove: Sequence[str] = (),
        add: Mapping[str, int | float] | None = None,
        condition: Condition | None = None,
    ) -> Item:
        op = self._seal_update(Update(pk, sk, set=dict(set or {}), remove=remove, condition=condition))
        new = self.inner.update(pk, sk, set=op.set, remove=op.remove, add=add, condition=condition)
        opened = self.open_item(new)
        assert opened is not None
        return opened

    def delete(self, pk: str, sk: str, *, condition: Condition | None = None) -> Item | None:
        return self.open_item(self.inner.delete(pk, sk, condition=condition))

    def query(
        self,
        pk: str,
        *,
        sk: SortKey | None = None,
        index: str | None = None,
        forward: bool = True,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page:
        page = self.inner.query(pk, sk=sk, index=index, forward=forward, limit=limit, cursor=cursor)
        seen: dict[str, TenantKey | None] = {}
        opened = (self.open_item(item, seen) for item in page.items)
        return Page([item for item in opened if item is not None], page.cursor)

    def transact_write(self, ops: Sequence[TransactOp]) -> None:
        self.inner.transact_write([self._seal_op(op) for op in ops])

    def write_batch(self, puts: Sequence[Item] = (), deletes: Sequence[tuple[str, str]] = ()) -> None:
        self.inner.write_batch([self._seal_item(item) for item in puts], deletes)

    def __getattr__(self, name: str) -> Any:
        # The adapter's own extras (count, close, scan) stay reachable through the wrapper.
        return getattr(self.inner, name)

    # ---- migration ----------------------------------------------------------------------------------

    def seal_existing(self, rows: Iterator[Item]) -> int:
        """Seals in place the content of `rows` (as the inner table returned them) still in plaintext;
        returns how many rows changed. Each write is conditioned on the plaintext it replaces, so a row
        written meanwhile (sealed by its writer) is left alone."""
        changed = 0
        for row in rows:
            pk, sk = str(row["pk"]), str(row["sk"])
            plain = {name: value for name, value in row.items() if _is_content(name, value)}
            if not plain:
                continue
            condition: Condition | None = None
            for name, value in plain.items():
                same = Attr(name).eq(value)
                condition = same if condition is None else condition & same
            try:
                self.inner.update(pk, sk, set=self.seal_values(pk, sk, plain), condition=condition)
            except ConflictError:
                continue  # changed (or deleted) since it was read: its writer sealed it
            changed += 1
        return changed
