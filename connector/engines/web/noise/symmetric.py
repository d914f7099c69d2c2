"""Noise symmetric state for Noise_XX_25519_AESGCM_SHA256 as WhatsApp runs it: hash, chaining key, ciphers.

Follows the Noise specification (rev. 34, sections 5.1-5.2) with WhatsApp's nonce layout: the AES-GCM IV is
8 zero bytes then the 32-bit big-endian counter. Both roles use this module: the client's handshake and
the responder the tests and the fake edge run.
"""

from __future__ import annotations

import hashlib
import hmac
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PROTOCOL_NAME = b"Noise_XX_25519_AESGCM_SHA256\x00\x00\x00\x00"
"""The protocol name padded to the hash length; as it is exactly 32 bytes it is the initial hash as is."""

KEY_SIZE = 32
TAG_SIZE = 16
MAX_NONCE = 2**32 - 1  # the counter has 32 bits on the wire


class DecryptError(Exception):
    """The AEAD tag did not verify (internal: callers map it to HandshakeError or FrameError)."""


class NonceExhausted(Exception):
    """2**32 messages under one key: the session must end (internal: mapped to an engine error)."""


def nonce(counter: int) -> bytes:
    """WhatsApp's 12-byte AES-GCM IV: 8 zero bytes + 32-bit big-endian counter."""
    return struct.pack(">8xI", counter)


def hkdf2(chaining_key: bytes, input_key_material: bytes) -> tuple[bytes, bytes]:
    """Noise HKDF with two outputs (HMAC-SHA256, salt = chaining key, empty info), i.e. RFC 5869 at L=64."""
    # Two HMACs by hand rather than cryptography's HKDF object: same result, a fraction of the overhead,
    # and it runs four times per handshake on every connection.
    prk = hmac.digest(chaining_key, input_key_material, "sha256")
    first = hmac.digest(prk, b"\x01", "sha256")
    second = hmac.digest(prk, first + b"\x02", "sha256")
    return first, second


class CipherState:
    """One AES-256-GCM key with its own message counter."""

    __slots__ = ("_aead", "_counter")

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_SIZE:
            raise ValueError("AES-256-GCM needs a 32-byte key")
        self._aead = AESGCM(key)
        self._counter = 0

    @property
    def counter(self) -> int:
        return self._counter

    def encrypt(self, plaintext: bytes, associated_data: bytes = b"") -> bytes:
        """Raises NonceExhausted after 2**32 messages."""
        return self._aead.encrypt(self._next_nonce(), plaintext, associated_data or None)

    def decrypt(self, ciphertext: bytes, associated_data: bytes = b"") -> bytes:
        """Raises DecryptError (bad tag, too short) or NonceExhausted. The counter moves on either way, as
        the peer's did: a failed frame ends the session anyway."""
        iv = self._next_nonce()
        if len(ciphertext) < TAG_SIZE:
            raise DecryptError("ciphertext shorter than the AES-GCM tag")
        try:
            return self._aead.decrypt(iv, ciphertext, associated_data or None)
        except InvalidTag as exc:
            raise DecryptError("AES-GCM tag mismatch") from exc

    def _next_nonce(self) -> bytes:
        if self._counter > MAX_NONCE:
            raise NonceExhausted("AES-GCM counter exhausted")
        iv = nonce(self._counter)
        self._counter += 1
        return iv


class SymmetricState:
    """The handshake's h (transcript hash), ck (chaining key) and current cipher."""

    __slots__ = ("_cipher", "chaining_key", "handshake_hash")

    def __init__(self, prologue: bytes) -> None:
        self.handshake_hash = PROTOCOL_NAME
        self.chaining_key = PROTOCOL_NAME
        self._cipher: CipherState | None = None
        self.mix_hash(prologue)

    def mix_hash(self, data: bytes) -> None:
        self.handshake_hash = hashlib.sha256(self.handshake_hash + data).digest()

    def mix_key(self, input_key_material: bytes) -> None:
        self.chaining_key, key = hkdf2(self.chaining_key, input_key_material)
        self._cipher = CipherState(key)

    def encrypt_and_hash(self, plaintext: bytes) -> bytes:
        if self._cipher is None:  # no key yet: Noise sends in clear (never happens in XX's encrypted parts)
            ciphertext = plaintext
        else:
            ciphertext = self._cipher.encrypt(plaintext, self.handshake_hash)
        self.mix_hash(ciphertext)
        return ciphertext

    def decrypt_and_hash(self, ciphertext: bytes) -> bytes:
        """Raises DecryptError."""
        cipher = self._cipher
        plaintext = ciphertext if cipher is None else cipher.decrypt(ciphertext, self.handshake_hash)
        self.mix_hash(ciphertext)
        return plaintext

    def split(self) -> tuple[CipherState, CipherState]:
        """(initiator -> responder, responder -> initiator) transport ciphers, counters at 0."""
        first, second = hkdf2(self.chaining_key, b"")
        return CipherState(first), CipherState(second)
