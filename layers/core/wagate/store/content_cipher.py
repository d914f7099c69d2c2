"""Seals one value of content under its tenant's data key: AES-256-GCM bound to the tenant and the place.

A sealed value is a string `wgc1:{key id}:{base64(nonce || ciphertext || tag)}`; the plaintext is the
value's compact JSON, so strings, numbers, lists and objects all round-trip. The associated data names the
tenant and where the value lives (a table row's pk, sk and attribute, or a queue), so a sealed value moved
to another row, attribute or tenant fails to open instead of showing up there.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from typing import Any

from cryptography.exceptions import InvalidTag

from wagate.domain.errors import InvalidInput
from wagate.store.tenant_keys import TenantKey, TenantKeys

PREFIX = "wgc1:"
NONCE_BYTES = 12


def is_sealed(value: object) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def _aad(tenant_id: str, place: str) -> bytes:
    return f"wagate content\x00{tenant_id}\x00{place}".encode()


class ContentCipher:
    """seal/open values of content; `blind` for the keyed hashes indexes use instead of plaintext."""

    def __init__(self, tenant_keys: TenantKeys) -> None:
        self.keys = tenant_keys

    def seal(self, tenant_id: str, value: Any, place: str) -> str:
        """Raises TenantKeyDestroyed for a deleted tenant."""
        key = self.keys.key(tenant_id)
        plaintext = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
        return self.seal_bytes(key, plaintext, place)

    @staticmethod
    def seal_bytes(key: TenantKey, plaintext: bytes, place: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = nonce + key.aead.encrypt(nonce, plaintext, _aad(key.tenant_id, place))
        return f"{PREFIX}{key.key_id}:{base64.b64encode(sealed).decode()}"

    def open(self, tenant_id: str, sealed: str, place: str) -> Any:
        """The value. Raises InvalidInput when it was tampered with or moved; TenantKeyDestroyed."""
        return json.loads(self.open_bytes(tenant_id, sealed, place))

    def open_bytes(self, tenant_id: str, sealed: str, place: str) -> bytes:
        key_id, _, body = sealed[len(PREFIX) :].partition(":")
        key = self.keys.existing(tenant_id)
        if key is None or key.key_id != key_id:
            raise InvalidInput("sealed content names a data key this tenant does not have")
        try:
            raw = base64.b64decode(body, validate=True)
            return key.aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], _aad(tenant_id, place))
        except (InvalidTag, ValueError, binascii.Error) as exc:
            raise InvalidInput("sealed content was tampered with or moved") from exc

    def blind(self, tenant_id: str, value: str) -> str:
        """The tenant's keyed hash of `value` (a phone number ...): equal values, equal hashes."""
        return self.keys.key(tenant_id).blind(value)
