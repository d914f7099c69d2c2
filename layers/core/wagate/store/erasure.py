"""Rows erasure reads and removes, and the tombstones it leaves (keys and access patterns: store/keys.py).

A tombstone is the keyed hash of an erased message's provider id: enough to refuse a late copy of that
message, useless to learn the id or who sent it. The key is the tenant's data key's blind-index key when
content encryption is on, else a random tombstone key stored only wrapped by the Crypto port; either is
destroyed with the tenant.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import threading
from collections.abc import Callable, Iterator

from wagate.conditions import SortKey, item_absent
from wagate.domain.errors import ConflictError
from wagate.ports import Check, Crypto, Item, Put, Table
from wagate.store import keys

_PAGE = 200


def _context(tenant_id: str) -> dict[str, str]:
    return {"purpose": "erasure tombstones", "tenant": tenant_id}


class TombstoneKeys:
    """Each tenant's tombstone secret: created on first use, cached unwrapped in this process."""

    def __init__(self, table: Table, crypto: Crypto, blind: Callable[[str, str], str] | None = None) -> None:
        self.table = table
        self.crypto = crypto
        # With content encryption on, the tenant's data key's blind index (store/tenant_keys.py) makes
        # the hashes, so destroying that key (tenant deletion) destroys them too.
        self.blind = blind
        self._cache: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def digest(self, tenant_id: str, value: str) -> str:
        if self.blind is not None:
            return self.blind(tenant_id, "tombstone:" + value)
        mac = hmac.new(self._secret(tenant_id), value.encode(), hashlib.sha256)
        return mac.hexdigest()[:32]

    def erased_check(self, tenant_id: str, session_id: str, provider_id: str) -> Check:
        """A transaction condition that fails when this provider id's message was erased."""
        pk, sk = keys.erased_provider_id(tenant_id, session_id, self.digest(tenant_id, provider_id))
        return Check(pk, sk, item_absent())

    def tombstone(self, tenant_id: str, session_id: str, provider_id: str, at: float) -> Put:
        pk, sk = keys.erased_provider_id(tenant_id, session_id, self.digest(tenant_id, provider_id))
        return Put({"pk": pk, "sk": sk, "erased_at": at})

    def destroy(self, tenant_id: str) -> None:
        """Crypto-shreds the tenant's tombstones (tenant deletion): the key goes, in this process at once."""
        self.table.delete(*keys.tombstone_key(tenant_id))
        with self._lock:
            self._cache.pop(tenant_id, None)

    def _secret(self, tenant_id: str) -> bytes:
        with self._lock:
            found = self._cache.get(tenant_id)
        if found is not None:
            return found
        pk, sk = keys.tombstone_key(tenant_id)
        item = self.table.get(pk, sk)
        if item is None:
            secret = os.urandom(32)
            blob = self.crypto.encrypt(secret, context=_context(tenant_id))
            try:
                self.table.put({"pk": pk, "sk": sk, "wrapped": blob}, condition=item_absent())
            except ConflictError:  # another process made it first: theirs is the key
                item = self.table.get(pk, sk)
        if item is not None:
            secret = self.crypto.decrypt(bytes(item["wrapped"]), context=_context(tenant_id))
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[tenant_id] = secret
        return secret


def rows(
    table: Table, partition: str, *, prefix: str | None = None, index: str | None = None
) -> Iterator[Item]:
    """Every row of a partition (or index partition), page by page."""
    cursor = None
    while True:
        page = table.query(
            partition,
            sk=SortKey.prefix(prefix) if prefix else None,
            index=index,
            limit=_PAGE,
            cursor=cursor,
        )
        yield from page.items
        if page.cursor is None:
            return
        cursor = page.cursor
