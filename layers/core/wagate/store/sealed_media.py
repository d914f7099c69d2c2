"""Seals media files as a stream under their tenant's data key: AES-256-GCM segments, never the whole file.

A sealed file is a header, `WGM1` + the data key's id (8 hex characters) + an 8-byte random nonce
prefix, then the plaintext cut in SEGMENT-byte segments, each sealed on its own with the nonce
`prefix || segment number (4 bytes) ` and associated data naming the tenant, the object key, the segment
number and whether it is the last. So a file costs one segment of memory whatever its size, a segment
moved, reordered or dropped fails to open, a truncated file is refused (its last segment is missing), and
a file copied under another tenant's or media id's key does not open. The plaintext size follows from the
stored size alone (`plain_size`), so a download can announce its Content-Length without decrypting.

Files written before sealing (or with WAGATE_ENCRYPT_CONTENT=false) have no header and are read as they
are. The media store in AWS is S3 with SSE-KMS under the stack's key (template.yaml): no sealing there,
since presigned links must serve the bytes straight from S3.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable, Iterator

from cryptography.exceptions import InvalidTag

from wagate.domain.errors import InvalidInput, NotFound
from wagate.store import keys
from wagate.store.tenant_keys import TenantKey, TenantKeyDestroyed, TenantKeys

MAGIC = b"WGM1"
KEY_ID_BYTES = 8
PREFIX_BYTES = 8
HEADER_BYTES = len(MAGIC) + KEY_ID_BYTES + PREFIX_BYTES
SEGMENT = 64 * 1024
TAG_BYTES = 16


def _nonce(prefix: bytes, number: int) -> bytes:
    return prefix + struct.pack(">I", number)


def _aad(tenant_id: str, object_key: str, number: int, last: bool) -> bytes:
    return f"wagate media\x00{tenant_id}\x00{object_key}\x00{number}\x00{int(last)}".encode()


def plain_size(stored: int) -> int:
    """The plaintext bytes of a sealed file of `stored` bytes."""
    body = stored - HEADER_BYTES
    segments = max(1, -(-body // (SEGMENT + TAG_BYTES)))
    return body - segments * TAG_BYTES


class MediaSealer:
    """Seals and opens media streams by object key (`media/{tenant}/{media id}`) with TenantKeys."""

    def __init__(self, tenant_keys: TenantKeys, *, seal: bool = True) -> None:
        """`seal=False`: new files stay plain; sealed ones still open."""
        self.keys = tenant_keys
        self.seal = seal

    @staticmethod
    def tenant_of(object_key: str) -> str:
        tenant_id = keys.tenant_of_media_object(object_key)
        if tenant_id is None:
            raise InvalidInput(f"not a tenant's media key: {object_key!r}", code="invalid_media_key")
        return tenant_id

    def sealing(self, object_key: str, chunks: Iterable[bytes]) -> Iterator[bytes]:
        """`chunks` sealed (the header first); plain again when sealing is off. Raises TenantKeyDestroyed."""
        if not self.seal:
            yield from chunks
            return
        key = self.keys.key(self.tenant_of(object_key))
        prefix = os.urandom(PREFIX_BYTES)
        yield MAGIC + key.key_id.encode() + prefix
        pending = bytearray()
        number = 0
        for chunk in chunks:
            pending += chunk
            # Keep at least one byte back: the last segment is sealed as last, only once the input ends.
            while len(pending) > SEGMENT:
                yield self._seal(key, prefix, object_key, number, bytes(pending[:SEGMENT]), last=False)
                del pending[:SEGMENT]
                number += 1
        yield self._seal(key, prefix, object_key, number, bytes(pending), last=True)

    @staticmethod
    def _seal(
        key: TenantKey, prefix: bytes, object_key: str, number: int, data: bytes, *, last: bool
    ) -> bytes:
        aad = _aad(key.tenant_id, object_key, number, last)
        return key.aead.encrypt(_nonce(prefix, number), data, aad)

    def opening(self, object_key: str, head: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
        """The plaintext of a stored file whose first bytes are `head` and the others `rest` (read in
        any chunking). A file without the header is returned as it is. Raises NotFound when the tenant's
        key is gone (crypto-shredded), InvalidInput when the file was tampered with or truncated."""
        if not head.startswith(MAGIC):
            if head:
                yield head
            yield from rest
            return
        buffer = bytearray(head)
        source = iter(rest)
        while len(buffer) < HEADER_BYTES:
            chunk = next(source, None)
            if chunk is None:
                break
            buffer += chunk
        if len(buffer) < HEADER_BYTES:
            raise InvalidInput("this media file is truncated", code="media_corrupt")
        key_id = bytes(buffer[len(MAGIC) : len(MAGIC) + KEY_ID_BYTES]).decode("ascii", "replace")
        prefix = bytes(buffer[len(MAGIC) + KEY_ID_BYTES : HEADER_BYTES])
        del buffer[:HEADER_BYTES]
        key = self._key(object_key, key_id)
        number = 0
        stored = SEGMENT + TAG_BYTES
        while True:
            # A segment is the last when nothing follows it: read ahead one byte past a whole segment.
            while len(buffer) <= stored:
                chunk = next(source, None)
                if chunk is None:
                    break
                buffer += chunk
            last = len(buffer) <= stored
            sealed = bytes(buffer[:stored])
            del buffer[:stored]
            yield self._open(key, prefix, object_key, number, sealed, last=last)
            if last:
                return
            number += 1

    def _key(self, object_key: str, key_id: str) -> TenantKey:
        try:
            key = self.keys.existing(self.tenant_of(object_key))
        except TenantKeyDestroyed as exc:
            raise NotFound(f"no media file {object_key}", code="media_not_found") from exc
        if key is None or key.key_id != key_id:
            raise InvalidInput("this media file was sealed under a key its tenant does not have")
        return key

    @staticmethod
    def _open(
        key: TenantKey, prefix: bytes, object_key: str, number: int, sealed: bytes, *, last: bool
    ) -> bytes:
        try:
            return key.aead.decrypt(
                _nonce(prefix, number), sealed, _aad(key.tenant_id, object_key, number, last)
            )
        except InvalidTag as exc:
            raise InvalidInput(
                "this media file was tampered with or truncated", code="media_corrupt"
            ) from exc
