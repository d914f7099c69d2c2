"""The Crypto port on a local master key file: AES-256-GCM envelope encryption of secrets for local mode.

Keys. The master key is 32 random bytes in `key_path`, created on first use with mode 0600 (its
directory, if we create it, 0700); an existing key file that group or others may access is refused. Each
process draws a random data key, wraps it under the master key, and uses it for `data_key_uses`
encryptions before drawing the next one, so no single data key protects much.

Blob format, version 1 (integers big-endian; the KMS adapter writes the same layout with provider "K"):

    offset   size  field
    0        2     magic b"WG"
    2        1     format version, 1
    3        1     key provider: b"L" = local master key file, b"K" = AWS KMS
    4        1     n, length of the key id
    5        n     key id, ASCII: 16 hex digits of SHA-256(b"wagate master key id" || master key)
    5+n      2     m, length of the wrapped data key
    7+n      m     wrapped data key: nonce (12) || AES-256-GCM(master key, data key, aad = bytes[0:5+n])
    7+n+m    12    payload nonce
    19+n+m   rest  AES-256-GCM(data key, plaintext) ciphertext || tag (16),
                   aad = bytes[0:19+n+m] || canonical JSON of the context

Canonical JSON: keys sorted, separators "," and ":", non-ASCII escaped, UTF-8. The context is not stored:
the caller must present it again, and any difference fails authentication.

Rotation. A blob names its master key by key id, so a new master key can be introduced later with the
old ones kept for decryption only; decrypt already looks keys up by id in a keyring of one.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import stat
import struct
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from wagate.domain.errors import InvalidInput, WagateError

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


@dataclass
class _DataKey:
    aead: AESGCM
    header: bytes
    uses: int = 0


class FileCrypto:
    """Envelope encryption under the master key in `key_path` (created if missing)."""

    def __init__(self, key_path: Path, *, data_key_uses: int = 1000) -> None:
        """Raises WagateError (code `insecure_key_file` / `bad_key_file`) for an unusable key file."""
        if data_key_uses < 1:
            raise InvalidInput("data_key_uses must be at least 1")
        master = _load_or_create(Path(key_path))
        self._key_id = hashlib.sha256(b"wagate master key id" + master).hexdigest()[:16]
        self._keyring = {self._key_id: AESGCM(master)}
        self._data_key_uses = data_key_uses
        self._lock = threading.Lock()
        self._current: _DataKey | None = None

    @property
    def key_id(self) -> str:
        """Names the master key inside every blob it protects."""
        return self._key_id

    def encrypt(self, plaintext: bytes, *, context: Mapping[str, str]) -> bytes:
        with self._lock:
            current = self._current
            if current is None or current.uses >= self._data_key_uses:
                current = self._current = self._new_data_key()
            current.uses += 1
        return seal(current.aead, current.header, plaintext, context)

    def decrypt(self, blob: bytes, *, context: Mapping[str, str]) -> bytes:
        """Raises InvalidInput when the blob is malformed, tampered with, or the context differs."""
        envelope = parse_blob(blob)
        if envelope.provider != PROVIDER_LOCAL:
            raise InvalidInput("this secret was encrypted with AWS KMS, not a local master key")
        current = self._current
        if current is not None and current.header == envelope.header:
            return open_sealed(current.aead, envelope, context)
        master = self._keyring.get(envelope.key_id)
        if master is None:
            raise InvalidInput(f"this secret was encrypted under another master key ({envelope.key_id})")
        id_prefix = envelope.header[: 5 + len(envelope.key_id)]
        wrapped = envelope.wrapped_key
        try:
            data_key = master.decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], id_prefix)
        except (InvalidTag, ValueError) as exc:
            raise InvalidInput("the secret's data key was tampered with") from exc
        return open_sealed(AESGCM(data_key), envelope, context)

    def _new_data_key(self) -> _DataKey:
        data_key = AESGCM.generate_key(bit_length=KEY_BYTES * 8)
        id_prefix = pack_header(PROVIDER_LOCAL, self._key_id, b"")[:-2]
        nonce = os.urandom(NONCE_BYTES)
        wrapped = nonce + self._keyring[self._key_id].encrypt(nonce, data_key, id_prefix)
        return _DataKey(AESGCM(data_key), pack_header(PROVIDER_LOCAL, self._key_id, wrapped))


def _load_or_create(path: Path) -> bytes:
    if not path.exists():
        _create(path)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise WagateError(
            f"refusing to use master key {path}: mode {mode:04o} lets group or others access it;"
            f" run `chmod 600 {path}`",
            code="insecure_key_file",
        )
    key = path.read_bytes()
    if len(key) != KEY_BYTES:
        raise WagateError(f"master key {path} must hold exactly {KEY_BYTES} bytes", code="bad_key_file")
    return key


def _create(path: Path) -> None:
    parent = path.parent
    if not parent.exists():
        parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        parent.chmod(0o700)  # mkdir's mode is filtered by the umask
    # Written aside and linked into place: another process starting now sees no key or a whole key.
    draft = parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}"
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, secrets.token_bytes(KEY_BYTES))
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(draft, path)
    except FileExistsError:
        pass  # another process won the race; use its key
    finally:
        draft.unlink()
    directory = os.open(parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
