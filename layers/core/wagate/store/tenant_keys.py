"""Per-tenant content data keys: created once, kept wrapped by the Crypto port, cached briefly, destroyable.

Every tenant's content (message text, captions, contact names, webhook payloads, queue bodies ...) is
sealed with AES-256-GCM under that tenant's own 32-byte data key (`ContentCipher`). The key is stored in
the table only wrapped by the Crypto port (KMS on AWS, the local master key file in one-box mode), under
the context {"purpose": "content data key", "tenant": t, "key_id": k}, so a row copied to another tenant
does not unwrap. Unwrapped keys live in a bounded in-process cache for `max_age` seconds, so a message
costs no KMS call, and a destroyed key stops working everywhere within that time.

Crypto-shredding (tenant deletion): `destroy(t)` replaces the wrapped key with a tombstone. From then on
nothing sealed for that tenant, in the table, in a backup or in a point-in-time restore, can be opened,
and no new key is ever created for it (`TenantKeyDestroyed`). Rows without a tenant (idempotency records,
global rows) use the key of the reserved tenant id `SYSTEM_TENANT`.
"""

from __future__ import annotations

import os
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from wagate.conditions import item_absent
from wagate.domain.errors import ConflictError, WagateError
from wagate.ports import Crypto, Item, Table
from wagate.store import keys

SYSTEM_TENANT = "_system"
KEY_BYTES = 32


class TenantKeyDestroyed(WagateError):
    """The tenant's data key was destroyed (the tenant was deleted): its content is gone for good."""

    code = "tenant_deleted"


@dataclass(frozen=True)
class TenantKey:
    """One tenant's unwrapped data key: the AEAD for content and the key for blind indexes."""

    tenant_id: str
    key_id: str
    aead: AESGCM
    blind_key: bytes

    def blind(self, value: str) -> str:
        """A keyed hash of `value` (e.g. a phone number) that can be looked up but not reversed."""
        mac = hmac.HMAC(self.blind_key, hashes.SHA256())
        mac.update(value.encode())
        return mac.finalize()[:16].hex()


def _context(tenant_id: str, key_id: str) -> dict[str, str]:
    return {"purpose": "content data key", "tenant": tenant_id, "key_id": key_id}


def _unwrapped(tenant_id: str, key_id: str, raw: bytes) -> TenantKey:
    # The blind-index key is derived, not stored: destroying the data key destroys the index too.
    blind_key = HKDF(hashes.SHA256(), 32, salt=None, info=b"wagate blind index").derive(raw)
    return TenantKey(tenant_id, key_id, AESGCM(raw), blind_key)


class TenantKeys:
    """Get-or-create, cache, destroy and re-wrap the tenants' data keys (the rows in store/keys.py)."""

    def __init__(
        self,
        table: Table,
        crypto: Crypto,
        *,
        max_age: float = 300.0,
        cache_size: int = 4096,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._table = table
        self._crypto = crypto
        self._max_age = max_age
        self._cache_size = cache_size
        self._clock = clock
        self._lock = threading.Lock()
        self._cache: OrderedDict[str, tuple[TenantKey, float]] = OrderedDict()

    def key(self, tenant_id: str) -> TenantKey:
        """The tenant's data key, created on first use. Raises TenantKeyDestroyed, TransientError."""
        found = self._cached(tenant_id)
        if found is not None:
            return found
        item = self._table.get(*keys.tenant_data_key(tenant_id))
        if item is None:
            item = self._create(tenant_id)
        return self._remember(self._unwrap(tenant_id, item))

    def existing(self, tenant_id: str) -> TenantKey | None:
        """The tenant's data key if it has one (reads never create keys). Raises TenantKeyDestroyed."""
        found = self._cached(tenant_id)
        if found is not None:
            return found
        item = self._table.get(*keys.tenant_data_key(tenant_id))
        return None if item is None else self._remember(self._unwrap(tenant_id, item))

    def destroy(self, tenant_id: str, *, at: float | None = None) -> None:
        """Crypto-shreds the tenant: its data key is replaced by a tombstone, in this process at once and
        in every other within `max_age` seconds. Idempotent."""
        pk, sk = keys.tenant_data_key(tenant_id)
        tombstone: Item = {
            "pk": pk,
            "sk": sk,
            "tenant_id": tenant_id,
            "destroyed_at": time.time() if at is None else at,
            "gsi1pk": keys.DATA_KEYS_INDEX,
            "gsi1sk": tenant_id,
        }
        self._table.put(tombstone)
        self.forget(tenant_id)

    def forget(self, tenant_id: str) -> None:
        with self._lock:
            self._cache.pop(tenant_id, None)

    def rewrap_all(self) -> int:
        """Re-wraps every live data key with the Crypto port's current key (after a master key rotation);
        returns how many. The data keys themselves, and so every sealed row, stay as they are."""
        count, cursor = 0, None
        while True:
            page = self._table.query(keys.DATA_KEYS_INDEX, index="gsi1", cursor=cursor, limit=100)
            for listed in page.items:
                pk, sk = str(listed["pk"]), str(listed["sk"])
                item = self._table.get(pk, sk)
                if item is None or "wrapped" not in item:
                    continue  # destroyed: nothing to re-wrap, ever
                tenant_id, key_id = str(item["tenant_id"]), str(item["key_id"])
                context = _context(tenant_id, key_id)
                raw = self._crypto.decrypt(bytes(item["wrapped"]), context=context)
                self._table.update(pk, sk, set={"wrapped": self._crypto.encrypt(raw, context=context)})
                count += 1
            cursor = page.cursor
            if cursor is None:
                return count

    # ---- inside -------------------------------------------------------------------------------------

    def _cached(self, tenant_id: str) -> TenantKey | None:
        with self._lock:
            found = self._cache.get(tenant_id)
            if found is None:
                return None
            if self._clock() - found[1] >= self._max_age:
                del self._cache[tenant_id]
                return None
            self._cache.move_to_end(tenant_id)
            return found[0]

    def _remember(self, key: TenantKey) -> TenantKey:
        with self._lock:
            self._cache[key.tenant_id] = (key, self._clock())
            self._cache.move_to_end(key.tenant_id)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return key

    def _create(self, tenant_id: str) -> Item:
        raw = os.urandom(KEY_BYTES)
        key_id = secrets.token_hex(4)
        pk, sk = keys.tenant_data_key(tenant_id)
        item: Item = {
            "pk": pk,
            "sk": sk,
            "tenant_id": tenant_id,
            "key_id": key_id,
            "wrapped": self._crypto.encrypt(raw, context=_context(tenant_id, key_id)),
            "created_at": time.time(),
            "gsi1pk": keys.DATA_KEYS_INDEX,
            "gsi1sk": tenant_id,
        }
        try:
            self._table.put(item, condition=item_absent())
        except ConflictError:
            # Another process created it first (or it was destroyed meanwhile): theirs is the key.
            existing = self._table.get(pk, sk)
            if existing is None:
                raise
            return existing
        return item

    def _unwrap(self, tenant_id: str, item: Item) -> TenantKey:
        if "wrapped" not in item:
            raise TenantKeyDestroyed(f"tenant {tenant_id} was deleted: its data key is destroyed")
        key_id = str(item["key_id"])
        raw = self._crypto.decrypt(bytes(item["wrapped"]), context=_context(tenant_id, key_id))
        return _unwrapped(tenant_id, key_id, raw)
