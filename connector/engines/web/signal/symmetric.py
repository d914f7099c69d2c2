"""The Signal protocol's symmetric crypto: HKDF, root/chain/message key derivation, AES-256-CBC, MACs.

Sources: the Double Ratchet specification (rev. 1, 2016-11-20) section 5.2 "Recommended cryptographic
algorithms" (HMAC-SHA256 chain steps with constants 0x01 for message keys and 0x02 for the next chain key,
HKDF-SHA256 for the root KDF and the message keys, AES-256-CBC + HMAC-SHA256) with the info strings and
sizes of the deployed protocol ("WhisperText", "WhisperRatchet", "WhisperMessageKeys", "WhisperGroup");
X3DH section 2.2 for the HKDF inputs (zero salt, the 0xFF "discontinuity" prefix is added by x3dh.py).
"""

from __future__ import annotations

import hmac
from typing import NamedTuple

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

KEY_SIZE = 32
IV_SIZE = 16
BLOCK_SIZE = 16
MAC_SIZE = 8  # a SignalMessage carries the first 8 bytes of its HMAC-SHA256

ZERO_SALT = bytes(KEY_SIZE)
INFO_TEXT = b"WhisperText"  # X3DH output -> first root key and chain key
INFO_RATCHET = b"WhisperRatchet"  # root KDF of every DH ratchet step
INFO_MESSAGE_KEYS = b"WhisperMessageKeys"  # 1:1 message key seed -> cipher key, MAC key, IV
INFO_GROUP = b"WhisperGroup"  # sender key message seed -> IV, cipher key

_MESSAGE_KEY_SEED = b"\x01"
_CHAIN_KEY_SEED = b"\x02"


class MessageKeys(NamedTuple):
    cipher_key: bytes
    mac_key: bytes
    iv: bytes


class DecryptFailed(ValueError):
    """Ciphertext of a wrong length or with bad padding (internal: mapped to InvalidMessage)."""


def hkdf(input_key_material: bytes, salt: bytes, info: bytes, length: int) -> bytes:
    """RFC 5869 HKDF-SHA256. By hand: the same bytes as `cryptography`'s HKDF at a fraction of its overhead,
    which matters as it runs for every message."""
    prk = hmac.digest(salt, input_key_material, "sha256")
    output = b""
    block = b""
    counter = 1
    while len(output) < length:
        block = hmac.digest(prk, block + info + bytes((counter,)), "sha256")
        output += block
        counter += 1
    return output[:length]


def derive_root(root_key: bytes, dh_output: bytes) -> tuple[bytes, bytes]:
    """KDF_RK (Double Ratchet 5.2): HKDF(salt = root key, ikm = DH output) -> (new root key, chain key)."""
    output = hkdf(dh_output, root_key, INFO_RATCHET, 2 * KEY_SIZE)
    return output[:KEY_SIZE], output[KEY_SIZE:]


def chain_step(chain_key: bytes) -> tuple[bytes, bytes]:
    """KDF_CK (Double Ratchet 5.2): -> (message key seed, next chain key). Also the sender key chain."""
    return (
        hmac.digest(chain_key, _MESSAGE_KEY_SEED, "sha256"),
        hmac.digest(chain_key, _CHAIN_KEY_SEED, "sha256"),
    )


def message_keys(seed: bytes) -> MessageKeys:
    """A 1:1 message's keys from its seed: 80 bytes of HKDF = cipher key ‖ MAC key ‖ IV."""
    output = hkdf(seed, ZERO_SALT, INFO_MESSAGE_KEYS, 2 * KEY_SIZE + IV_SIZE)
    return MessageKeys(output[:KEY_SIZE], output[KEY_SIZE : 2 * KEY_SIZE], output[2 * KEY_SIZE :])


def group_message_keys(seed: bytes) -> tuple[bytes, bytes]:
    """A sender key message's (IV, cipher key) from its seed: 48 bytes of HKDF = IV ‖ cipher key."""
    output = hkdf(seed, ZERO_SALT, INFO_GROUP, IV_SIZE + KEY_SIZE)
    return output[:IV_SIZE], output[IV_SIZE:]


def truncated_mac(mac_key: bytes, data: bytes) -> bytes:
    return hmac.digest(mac_key, data, "sha256")[:MAC_SIZE]


def encrypt_cbc(key: bytes, iv: bytes, plaintext: bytes) -> bytes:
    """AES-256-CBC with PKCS#7 padding."""
    pad = BLOCK_SIZE - len(plaintext) % BLOCK_SIZE
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return encryptor.update(plaintext + bytes((pad,)) * pad) + encryptor.finalize()


def decrypt_cbc(key: bytes, iv: bytes, ciphertext: bytes) -> bytes:
    """Raises DecryptFailed for a length that is not whole blocks or for bad PKCS#7 padding."""
    if not ciphertext or len(ciphertext) % BLOCK_SIZE:
        raise DecryptFailed("ciphertext is not a whole number of AES blocks")
    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    padded = decryptor.update(ciphertext) + decryptor.finalize()
    pad = padded[-1]
    if not 1 <= pad <= BLOCK_SIZE or padded[-pad:] != bytes((pad,)) * pad:
        raise DecryptFailed("bad PKCS#7 padding")
    return padded[:-pad]
