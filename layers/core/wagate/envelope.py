"""The encrypted-secret blob both Crypto adapters write: its layout, parser, and AES-GCM seal and open.

Blob format, version 1 (integers big-endian):

    offset   size  field
    0        2     magic b"WG"
    2        1     format version, 1
    3        1     key provider: b"L" = local master key file, b"K" = AWS KMS
    4        1     n, length of the key id
    5        n     key id, ASCII. L: 16 hex digits of SHA-256(b"wagate master key id" || master key);
                   K: the KMS key ARN
    5+n      2     m, length of the wrapped data key
    7+n      m     wrapped data key. L: nonce (12) || AES-256-GCM(master key, data key, aad = bytes[0:5+n]);
                   K: the `CiphertextBlob` of KMS `GenerateDataKey`
    7+n+m    12    payload nonce
    19+n+m   rest  AES-256-GCM(data key, plaintext) ciphertext || tag (16),
                   aad = bytes[0:19+n+m] || canonical JSON of the context

Canonical JSON: keys sorted, separators "," and ":", non-ASCII escaped, UTF-8. The context is not stored:
the caller must present it again, and any difference fails authentication.

Wrapping and unwrapping data keys is each adapter's own business; everything else about a blob is here.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from wagate.domain.errors import InvalidInput

MAGIC = b"WG"
VERSION = 1
PROVIDER_LOCAL = b"L"
PROVIDER_KMS = b"K"
KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16


def canonical_context(context: Mapping[str, str]) -> bytes:
    """The context as the AAD both adapters use. Raises InvalidInput unless every key and value is a str."""
    if not all(isinstance(key, str) and isinstance(value, str) for key, value in context.items()):
        raise InvalidInput("an encryption context maps strings to strings")
    return json.dumps(dict(context), sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


@dataclass(frozen=True)
class Envelope:
    """A parsed blob: `header` runs up to and including the wrapped data key."""

    provider: bytes
    key_id: str
    wrapped_key: bytes
    header: bytes
    nonce: bytes
    ciphertext: bytes


def pack_header(provider: bytes, key_id: str, wrapped_key: bytes) -> bytes:
    """Everything before the payload nonce. Raises InvalidInput for a key id or wrapped key too long."""
    raw_id = key_id.encode("ascii")
    if len(raw_id) > 0xFF or len(wrapped_key) > 0xFFFF:
        raise InvalidInput("key id or wrapped data key too long for the blob format")
    return (
        MAGIC
        + bytes((VERSION,))
        + provider
        + bytes((len(raw_id),))
        + raw_id
        + struct.pack(">H", len(wrapped_key))
        + wrapped_key
    )


def parse_blob(blob: bytes) -> Envelope:
    """Raises InvalidInput for anything that is not a complete version-1 blob."""
    if not isinstance(blob, bytes | bytearray) or blob[:2] != MAGIC:
        raise InvalidInput("not an encrypted wagate secret")
    if len(blob) < 5 or blob[2] != VERSION:
        raise InvalidInput("unsupported secret format version")
    id_end = 5 + blob[4]
    if len(blob) < id_end + 2:
        raise InvalidInput("truncated secret")
    (wrapped_length,) = struct.unpack_from(">H", blob, id_end)
    header_end = id_end + 2 + wrapped_length
    if len(blob) < header_end + NONCE_BYTES + TAG_BYTES:
        raise InvalidInput("truncated secret")
    try:
        key_id = bytes(blob[5:id_end]).decode("ascii")
    except UnicodeDecodeError as exc:
        raise InvalidInput("corrupt secret") from exc
    return Envelope(
        provider=bytes(blob[3:4]),
        key_id=key_id,
        wrapped_key=bytes(blob[id_end + 2 : header_end]),
        header=bytes(blob[:header_end]),
        nonce=bytes(blob[header_end : header_end + NONCE_BYTES]),
        ciphertext=bytes(blob[header_end + NONCE_BYTES :]),
    )


def seal(data_key: AESGCM, header: bytes, plaintext: bytes, context: Mapping[str, str]) -> bytes:
    if not isinstance(plaintext, bytes):
        raise InvalidInput("only bytes can be encrypted")
    nonce = os.urandom(NONCE_BYTES)
    return header + nonce + data_key.encrypt(nonce, plaintext, header + nonce + canonical_context(context))


def open_sealed(data_key: AESGCM, envelope: Envelope, context: Mapping[str, str]) -> bytes:
    aad = envelope.header + envelope.nonce + canonical_context(context)
    try:
        return data_key.decrypt(envelope.nonce, envelope.ciphertext, aad)
    except InvalidTag as exc:
        raise InvalidInput("the secret was tampered with or its context differs") from exc
