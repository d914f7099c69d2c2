"""Seals one value of content under its tenant's data key: AES-256-GCM bound to the tenant and the place.

A sealed value is a string `wgc1:{key id}:{base64(nonce || ciphertext || tag)}`; the plaintext is `s` and
the UTF-8 of a string, or `j` and the compact JSON of anything else (numbers, lists, objects), so strings,
the common case, skip JSON. The associated data names the
tenant and where the value lives (a table row's pk, sk and attribute, or a queue), so a sealed value moved
to another row, attribute or tenant fails to open instead of showing up there.
"""

from __future__ import annotations

import binascii
import json
import os
import threading
from collections import OrderedDict
from typing import Any

from cryptography.exceptions import InvalidTag

from wagate.domain.errors import InvalidInput
from wagate.store.tenant_keys import TenantKey, TenantKeys

PREFIX = "wgc1:"
NONCE_BYTES = 12
OPENED_CACHE_SIZE = 4096


def is_sealed(value: object) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def _aad(tenant_id: str, place: str) -> bytes:
    return f"wagate content\x00{tenant_id}\x00{place}".encode()


class ContentCipher:
    """seal/open values of content; `blind` for the keyed hashes indexes use instead of plaintext."""

    def __init__(self, tenant_keys: TenantKeys) -> None:
        self.keys = tenant_keys
        self._lock = threading.Lock()
        self._opened: OrderedDict[tuple[str, str], bytes] = OrderedDict()

    def seal(self, tenant_id: str, value: Any, place: str) -> str:
        """Raises TenantKeyDestroyed for a deleted tenant."""
        return self.seal_value(self.keys.key(tenant_id), value, place)

    @classmethod
    def seal_value(cls, key: TenantKey, value: Any, place: str) -> str:
        if isinstance(value, str):
            plaintext = b"s" + value.encode()
        else:
            plaintext = b"j" + json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
        return cls.seal_bytes(key, plaintext, place)

    @staticmethod
    def seal_bytes(key: TenantKey, plaintext: bytes, place: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = nonce + key.aead.encrypt(nonce, plaintext, _aad(key.tenant_id, place))
        return f"{PREFIX}{key.key_id}:{binascii.b2a_base64(sealed, newline=False).decode()}"

    def open(self, tenant_id: str, sealed: str, place: str) -> Any:
        """The value. Raises InvalidInput when it was tampered with or moved; TenantKeyDestroyed."""
        return self.open_value(self.key_for(tenant_id, sealed), sealed, place)

    def open_value(self, key: TenantKey, sealed: str, place: str) -> Any:
        """Raises InvalidInput. Recently opened values are kept (bounded) by their sealed form and place,
        so rows read again and again (the dashboard's lists) skip AES; the key is checked first by the
        caller (`key_for`), so a destroyed tenant key still stops them."""
        cache_key = (sealed, place)
        with self._lock:
            plaintext = self._opened.get(cache_key)
        if plaintext is None:
            plaintext = self.open_with(key, sealed, place)
            with self._lock:
                self._opened[cache_key] = plaintext
                if len(self._opened) > OPENED_CACHE_SIZE:
                    self._opened.popitem(last=False)
        if plaintext[:1] == b"s":
            return plaintext[1:].decode()
        if plaintext[:1] == b"j":
            return json.loads(plaintext[1:])
        raise InvalidInput("sealed content of an unknown type")

    def key_for(self, tenant_id: str, sealed: str) -> TenantKey:
        """The tenant's key that sealed `sealed`. Raises InvalidInput, TenantKeyDestroyed."""
        key = self.keys.existing(tenant_id)
        if key is None or not sealed.startswith(key.key_id, len(PREFIX)):
            raise InvalidInput("sealed content names a data key this tenant does not have")
        return key

    def open_bytes(self, tenant_id: str, sealed: str, place: str) -> bytes:
        return self.open_with(self.key_for(tenant_id, sealed), sealed, place)

    @staticmethod
    def open_with(key: TenantKey, sealed: str, place: str) -> bytes:
        """Raises InvalidInput when `sealed` was tampered with, moved, or sealed under another key."""
        key_id, _, body = sealed[len(PREFIX) :].partition(":")
        if key_id != key.key_id:
            raise InvalidInput("sealed content names a data key this tenant does not have")
        try:
            raw = binascii.a2b_base64(body, strict_mode=True)
            return key.aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], _aad(key.tenant_id, place))
        except (InvalidTag, ValueError, binascii.Error) as exc:
            raise InvalidInput("sealed content was tampered with or moved") from exc

    def blind(self, tenant_id: str, value: str) -> str:
        """The tenant's keyed hash of `value` (a phone number ...): equal values, equal hashes."""
        return self.keys.key(tenant_id).blind(value)
