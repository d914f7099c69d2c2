"""Linking by phone number: the 8-character code typed on the phone, and the key exchange it protects.

    companion_hello   we make a code (5 random bytes, Crockford base32 without 0/O/I/U) and an ephemeral
                      X25519 key; the key goes to the edge wrapped: salt(32) ‖ iv(16) ‖ AES-256-CTR under
                      PBKDF2-SHA256(code, salt, 2^17 rounds); the edge answers with a pairing ref
    phone             the user types the code; the phone's notification `link_code_companion_reg` brings
                      its identity key and its own ephemeral key wrapped the same way
    companion_finish  shared = X25519(our ephemeral, theirs); we send our identity key, the phone's and 32
                      random bytes, AES-256-GCM under HKDF(shared, salt, "link_code_pairing_key_bundle_
                      encryption_key"), as salt(32) ‖ iv(12) ‖ ciphertext; the ADV secret becomes
                      HKDF(shared ‖ X25519(our identity, the phone's identity) ‖ random, "adv_secret")
Then pair-success follows as after a QR scan, its HMAC keyed with that new ADV secret. The facts come from
Baileys 7 (`requestPairingCode`, `link_code_companion_reg`) and whatsmeow's pair-code.go; the code here is
our own and checked byte for byte against Baileys' functions in tests/interop.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from connector.engines.web.crypto import curve
from connector.engines.web.errors import PairingError

CROCKFORD = "123456789ABCDEFGHJKLMNPQRSTVWXYZ"
PBKDF2_ROUNDS = 2 << 16
BUNDLE_INFO = b"link_code_pairing_key_bundle_encryption_key"
ADV_INFO = b"adv_secret"
CODE_LENGTH = 8


def new_code(random: bytes | None = None) -> str:
    """Eight Crockford base32 characters from 5 random bytes (40 bits)."""
    data = random if random is not None else os.urandom(5)
    value = int.from_bytes(data, "big")
    return "".join(CROCKFORD[(value >> shift) & 31] for shift in range(35, -1, -5))


def code_key(code: str, salt: bytes) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", code.encode(), salt, PBKDF2_ROUNDS, 32)


def wrap_key(code: str, public: bytes, *, salt: bytes | None = None, iv: bytes | None = None) -> bytes:
    """salt ‖ iv ‖ AES-256-CTR(PBKDF2(code, salt), public): how both sides send their ephemeral key."""
    salt = salt if salt is not None else os.urandom(32)
    iv = iv if iv is not None else os.urandom(16)
    encryptor = Cipher(algorithms.AES(code_key(code, salt)), modes.CTR(iv)).encryptor()
    return salt + iv + encryptor.update(public) + encryptor.finalize()


def unwrap_key(code: str, wrapped: bytes) -> bytes:
    """The ephemeral key inside `wrap_key`'s output. Raises PairingError for a malformed one."""
    if len(wrapped) != 32 + 16 + 32:
        raise PairingError(f"a wrapped pairing key is 80 bytes, got {len(wrapped)}")
    salt, iv, body = wrapped[:32], wrapped[32:48], wrapped[48:]
    decryptor = Cipher(algorithms.AES(code_key(code, salt)), modes.CTR(iv)).decryptor()
    return decryptor.update(body) + decryptor.finalize()


@dataclass(frozen=True)
class Finish:
    wrapped_bundle: bytes  # link_code_pairing_wrapped_key_bundle
    adv_secret: bytes  # replaces the device's ADV secret before pair-success


def finish(
    *,
    ephemeral: curve.KeyPair,
    identity: curve.KeyPair,
    primary_identity: bytes,
    primary_ephemeral: bytes,
    random: bytes | None = None,
    salt: bytes | None = None,
    iv: bytes | None = None,
) -> Finish:
    """companion_finish from the phone's keys. Raises InvalidKey for a malformed or low-order key."""
    random = random if random is not None else os.urandom(32)
    salt = salt if salt is not None else os.urandom(32)
    iv = iv if iv is not None else os.urandom(12)
    shared = curve.shared_secret(ephemeral.private, primary_ephemeral)
    key = HKDF(hashes.SHA256(), 32, salt, BUNDLE_INFO).derive(shared)
    bundle = AESGCM(key).encrypt(iv, identity.public + primary_identity + random, b"")
    identity_shared = curve.shared_secret(identity.private, primary_identity)
    adv = HKDF(hashes.SHA256(), 32, None, ADV_INFO).derive(shared + identity_shared + random)
    return Finish(salt + iv + bundle, adv)


@dataclass
class CodeRequest:
    """One link-by-code attempt: the code shown to the user and the ephemeral key it protects."""

    phone: str  # digits
    code: str = field(default_factory=new_code)
    ephemeral: curve.KeyPair = field(default_factory=curve.KeyPair.generate)
    ref: bytes = b""  # the edge's answer to companion_hello
