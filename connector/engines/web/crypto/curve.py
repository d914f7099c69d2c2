"""Curve25519 as WhatsApp uses it: X25519 key pairs and agreement, XEdDSA signatures, the 0x05 key prefix.

WhatsApp (like Signal) signs with the X25519 identity key itself. A signature is an Ed25519 signature made
with the Edwards form of that key; the verifier only knows the Montgomery `u`, which fixes Edwards `y` but
not the sign of `x`, so the sign bit travels in the unused top bit of the signature's `S` (libsignal's
convention; XEdDSA proper always signs with sign bit 0, which the same rule accepts).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import xeddsa
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from connector.engines.web.errors import InvalidKey

KEY_TYPE_DJB = 0x05
"""The type byte Signal puts before a 32-byte Curve25519 public key ("DJB" type)."""

KEY_SIZE = 32
SIGNATURE_SIZE = 64
NONCE_SIZE = 64

_P = 2**255 - 19
_U_MASK = (1 << 255) - 1  # RFC 7748: the top bit of a u-coordinate is ignored


@dataclass(frozen=True, slots=True)
class KeyPair:
    """An X25519 key pair; `public` is the raw 32 bytes (no 0x05 prefix)."""

    private: bytes = field(repr=False)
    public: bytes

    @classmethod
    def generate(cls) -> KeyPair:
        return cls.from_private(os.urandom(KEY_SIZE))

    @classmethod
    def from_private(cls, private: bytes) -> KeyPair:
        """Derive the public half. Raises InvalidKey unless `private` is 32 bytes."""
        key = _x25519_private(private)
        return cls(private=bytes(private), public=key.public_key().public_bytes_raw())


def prefixed(public: bytes) -> bytes:
    """The 33-byte form with the 0x05 type byte, as Signal messages and signed prekeys carry it."""
    return bytes((KEY_TYPE_DJB,)) + unprefixed(public)


def unprefixed(public: bytes) -> bytes:
    """The raw 32-byte key from either form. Raises InvalidKey for anything else."""
    if len(public) == KEY_SIZE:
        return bytes(public)
    if len(public) == KEY_SIZE + 1 and public[0] == KEY_TYPE_DJB:
        return bytes(public[1:])
    raise InvalidKey(f"expected a 32-byte Curve25519 public key (or 33 with 0x05), got {len(public)} bytes")


def shared_secret(private: bytes, public: bytes) -> bytes:
    """X25519 agreement. Raises InvalidKey for malformed keys or a low-order peer key (all-zero secret)."""
    peer = X25519PublicKey.from_public_bytes(unprefixed(public))
    try:
        return _x25519_private(private).exchange(peer)
    except ValueError as exc:  # cryptography refuses an all-zero result (small-order point)
        raise InvalidKey("X25519 agreement with a low-order public key") from exc


def sign(private: bytes, message: bytes, *, nonce: bytes | None = None) -> bytes:
    """XEdDSA-sign `message` with an X25519 private key; `nonce` (64 bytes) only for reproducible tests.

    Raises InvalidKey if the key or nonce has the wrong size.
    """
    if nonce is not None and len(nonce) != NONCE_SIZE:
        raise InvalidKey(f"XEdDSA nonce must be {NONCE_SIZE} bytes, got {len(nonce)}")
    # X25519 clamps the scalar when it computes the public key; clamp here too so the Edwards key we sign
    # with is the one a verifier derives from that public key, whatever raw bytes the key was stored as.
    # Then negate it if needed (same u, sign bit 0): the signature's top bit stays 0, valid both for
    # XEdDSA verifiers and for libsignal's "sign bit from the signature" rule.
    scalar = xeddsa.priv_force_sign(_clamp(_check_private(private)), False)
    return bytes(xeddsa.ed25519_priv_sign(scalar, bytes(message), nonce or os.urandom(NONCE_SIZE)))


def verify(public: bytes, message: bytes, signature: bytes) -> bool:
    """True iff `signature` is a valid XEdDSA signature of `message` by `public` (32 or 33 bytes).

    Never raises: malformed keys or signatures are simply not valid.
    """
    if len(signature) != SIGNATURE_SIZE:
        return False
    try:
        u_bytes = unprefixed(public)
    except InvalidKey:
        return False
    edwards = _edwards_y(u_bytes)
    if edwards is None:
        return False
    edwards[31] |= signature[63] & 0x80
    plain_signature = bytearray(signature)
    plain_signature[63] &= 0x7F
    try:
        Ed25519PublicKey.from_public_bytes(bytes(edwards)).verify(bytes(plain_signature), bytes(message))
    except (InvalidSignature, ValueError):
        return False
    return True


def _edwards_y(u_bytes: bytes) -> bytearray | None:
    """Birational map u -> y = (u - 1) / (u + 1) mod p, little-endian, sign bit clear; None for u = -1."""
    u = (int.from_bytes(u_bytes, "little") & _U_MASK) % _P
    denominator = (u + 1) % _P
    if denominator == 0:
        return None
    y = (u - 1) * pow(denominator, _P - 2, _P) % _P
    return bytearray(y.to_bytes(KEY_SIZE, "little"))


def _clamp(private: bytes) -> bytes:
    scalar = bytearray(private)
    scalar[0] &= 248
    scalar[31] &= 127
    scalar[31] |= 64
    return bytes(scalar)


def _check_private(private: bytes) -> bytes:
    if len(private) != KEY_SIZE:
        raise InvalidKey(f"expected a 32-byte Curve25519 private key, got {len(private)} bytes")
    return bytes(private)


def _x25519_private(private: bytes) -> X25519PrivateKey:
    return X25519PrivateKey.from_private_bytes(_check_private(private))
