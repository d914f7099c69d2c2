"""WhatsApp's random padding of a message protobuf before encryption: 1-16 bytes, each holding the count.

It hides the exact plaintext length beyond what the cipher's own PKCS#7 block padding does. It belongs to
the engine layer (it wraps the `Message` protobuf, not the Signal plaintext format); kept here so both
ends of the encryption are in one place.
"""

from __future__ import annotations

import secrets

from connector.engines.web.signal.errors import InvalidMessage

MAX_PADDING = 16


def pad(plaintext: bytes, *, length: int | None = None) -> bytes:
    """`plaintext` + n bytes of value n, n random in 1..16 unless given (tests)."""
    count = secrets.randbelow(MAX_PADDING) + 1 if length is None else length
    if not 1 <= count <= MAX_PADDING:
        raise ValueError(f"padding length must be 1..{MAX_PADDING}, got {count}")
    return plaintext + bytes((count,)) * count


def unpad(padded: bytes) -> bytes:
    """Strip the padding: the last byte says how many bytes to drop. Raises InvalidMessage.

    The pad bytes themselves are not checked, as other clients do not check them either.
    """
    if not padded:
        raise InvalidMessage("padded plaintext is empty")
    count = padded[-1]
    if count == 0 or count > len(padded):
        raise InvalidMessage(f"bad padding length {count} for {len(padded)} bytes")
    return padded[:-count]
