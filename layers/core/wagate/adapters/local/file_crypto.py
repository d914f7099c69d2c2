"""The Crypto port on a local master key file: AES-256-GCM envelope encryption of secrets for local mode.

Keys. The master key is 32 random bytes in `key_path`, created on first use with mode 0600 (its
directory, if we create it, 0700); an existing key file that group or others may access is refused. Each
process draws a random data key, wraps it under the master key, and uses it for `data_key_uses`
encryptions before drawing the next one, so no single data key protects much.

Blobs use the layout in `wagate.envelope`, with provider b"L" and the master key's id as key id.

Rotation. A blob names its master key by key id. `rotate_master_key` makes a new master key current and
appends the old one to `{key_path}.retired` (0600, 32 bytes per key), which is kept for decryption only:
secrets sealed under an old key (engine keys, Cloud tokens) still open, and new ones use the new key.
A process that meets a key id it does not know reads the key files again (another process rotated).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from wagate.domain.errors import InvalidInput, WagateError
from wagate.envelope import (
    KEY_BYTES,
    NONCE_BYTES,
    PROVIDER_LOCAL,
    open_sealed,
    pack_header,
    parse_blob,
    seal,
)


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
        self._path = Path(key_path)
        master = _load_or_create(self._path)
        self._key_id = key_id_of(master)
        self._keyring = {self._key_id: AESGCM(master), **_retired(self._path)}
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
            self._keyring = {**self._keyring, **_retired(self._path), **_current(self._path)}
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


def derived_key(key_path: Path, purpose: bytes) -> bytes:
    """A 32-byte key for `purpose` (signed media links, ...) derived from the master key (created if
    missing), so local mode keeps one secret file. Raises WagateError like FileCrypto."""
    return hmac.new(_load_or_create(Path(key_path)), b"wagate derived key:" + purpose, "sha256").digest()


def key_id_of(master: bytes) -> str:
    return hashlib.sha256(b"wagate master key id" + master).hexdigest()[:16]


def retired_path(path: Path) -> Path:
    return path.with_name(path.name + ".retired")


def _retired(path: Path) -> dict[str, AESGCM]:
    retired = retired_path(path)
    if not retired.exists():
        return {}
    raw = _load(retired, whole=False)
    chunks = [raw[i : i + KEY_BYTES] for i in range(0, len(raw), KEY_BYTES)]
    return {key_id_of(chunk): AESGCM(chunk) for chunk in chunks}


def _current(path: Path) -> dict[str, AESGCM]:
    master = _load(path)
    return {key_id_of(master): AESGCM(master)}


def rotate_master_key(path: Path) -> tuple[str, str]:
    """A new master key in `path`; the old one is appended to the retired keys (decrypt only).
    Returns (old key id, new key id). Raises WagateError for an unusable key file."""
    path = Path(path)
    old = _load_or_create(path)
    retired = retired_path(path)
    kept = _load(retired, whole=False) if retired.exists() else b""
    _replace(retired, kept + old)
    new = secrets.token_bytes(KEY_BYTES)
    _replace(path, new)
    return key_id_of(old), key_id_of(new)


def _replace(path: Path, content: bytes) -> None:
    """Writes `content` aside with mode 0600 and renames it into place (readers see old or new, whole)."""
    draft = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}"
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, content)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(draft, path)


def _load(path: Path, *, whole: bool = True) -> bytes:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise WagateError(
            f"refusing to use master key {path}: mode {mode:04o} lets group or others access it;"
            f" run `chmod 600 {path}`",
            code="insecure_key_file",
        )
    key = path.read_bytes()
    if (whole and len(key) != KEY_BYTES) or len(key) % KEY_BYTES or not key:
        raise WagateError(f"master key file {path} must hold {KEY_BYTES}-byte keys", code="bad_key_file")
    return key


def _load_or_create(path: Path) -> bytes:
    if not path.exists():
        _create(path)
    return _load(path)


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
