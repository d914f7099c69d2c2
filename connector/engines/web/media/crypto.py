"""WhatsApp media encryption, sans I/O: per-kind key expansion, chunked AES-256-CBC + truncated HMAC, hashes.

Every attachment (and every history-sync or app-state blob) is encrypted with its own random 32-byte
media key. The key is expanded with HKDF-SHA256 (no salt, info `WhatsApp <Kind> Keys`) to 112 bytes:

    iv = [0:16]   cipher key = [16:48]   mac key = [48:80]   ref key = [80:112] (unused here)

The uploaded file is `AES-256-CBC(cipher key, iv, PKCS7(plaintext)) || HMAC-SHA256(mac key, iv ||
ciphertext)[:10]`; `fileSha256` is the SHA-256 of the plaintext and `fileEncSha256` the SHA-256 of the
whole uploaded file (ciphertext and MAC). Facts from Baileys (`getMediaKeys`, `encryptedStream`,
`MEDIA_HKDF_KEY_MAPPING`) and whatsmeow (`download.go`: the MAC and both hashes are checked on download);
tests/interop proves the bytes equal Baileys' in both directions.

Both directions are incremental (`update(chunk)` → bytes, `finish()` → bytes), so a 16 MB video passes
through in chunks and is never held whole. Decryption can only judge the MAC and the hashes at the end: the
plaintext `update()` returned before `finish()` raised `MediaIntegrityError` must be thrown away (the
transfer helpers in `hosts.py` write to a temporary file and keep it only when `finish()` succeeds).
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import os
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from connector.engines.web.errors import WebEngineError

MEDIA_KEY_SIZE = 32
MAC_SIZE = 10
_BLOCK = 16


class MediaIntegrityError(WebEngineError):
    """Downloaded media failed a check (MAC, fileEncSha256, fileSha256, length, padding): the bytes are not
    the file the sender meant; nothing decrypted from them may be kept. Not retryable from the same URL."""

    code = "web_media_integrity"


@enum.unique
class MediaKind(enum.StrEnum):
    """What a blob is; the value is the name Baileys gives it (its `MediaType`)."""

    IMAGE = "image"
    VIDEO = "video"
    AUDIO = "audio"
    DOCUMENT = "document"
    STICKER = "sticker"
    PTT = "ptt"  # a voice note: an audioMessage with ptt=true
    GIF = "gif"  # a videoMessage with gifPlayback=true
    PTV = "ptv"  # a round video note
    PRODUCT = "product"
    THUMBNAIL_IMAGE = "thumbnail-image"
    THUMBNAIL_VIDEO = "thumbnail-video"
    THUMBNAIL_DOCUMENT = "thumbnail-document"
    THUMBNAIL_LINK = "thumbnail-link"
    HISTORY = "md-msg-hist"
    APP_STATE = "md-app-state"

    @property
    def hkdf_info(self) -> bytes:
        """The HKDF info string keys of this kind are expanded with, e.g. b"WhatsApp Image Keys"."""
        return f"WhatsApp {_KEY_NAMES[self]} Keys".encode()

    @property
    def mms_type(self) -> str:
        """The media hosts' name for the kind: the upload path segment (`/mms/<it>/…`) and `mms-type`."""
        return _MMS_TYPES[self]


# Baileys' MEDIA_HKDF_KEY_MAPPING: stickers and products are images, voice notes audio, gifs and round
# videos video; thumbnails have their own keys.
_KEY_NAMES: dict[MediaKind, str] = {
    MediaKind.IMAGE: "Image",
    MediaKind.VIDEO: "Video",
    MediaKind.AUDIO: "Audio",
    MediaKind.DOCUMENT: "Document",
    MediaKind.STICKER: "Image",
    MediaKind.PTT: "Audio",
    MediaKind.GIF: "Video",
    MediaKind.PTV: "Video",
    MediaKind.PRODUCT: "Image",
    MediaKind.THUMBNAIL_IMAGE: "Image Thumbnail",
    MediaKind.THUMBNAIL_VIDEO: "Video Thumbnail",
    MediaKind.THUMBNAIL_DOCUMENT: "Document Thumbnail",
    MediaKind.THUMBNAIL_LINK: "Link Thumbnail",
    MediaKind.HISTORY: "History",
    MediaKind.APP_STATE: "App State",
}

# Upload paths as Baileys' MEDIA_PATH_MAP and whatsmeow's mediaTypeToMMSType name them (whatsmeow for the
# history and app-state blobs, which Baileys never uploads).
_MMS_TYPES: dict[MediaKind, str] = {
    MediaKind.IMAGE: "image",
    MediaKind.VIDEO: "video",
    MediaKind.AUDIO: "audio",
    MediaKind.DOCUMENT: "document",
    MediaKind.STICKER: "image",
    MediaKind.PTT: "audio",
    MediaKind.GIF: "video",
    MediaKind.PTV: "video",
    MediaKind.PRODUCT: "image",
    MediaKind.THUMBNAIL_IMAGE: "image",
    MediaKind.THUMBNAIL_VIDEO: "image",
    MediaKind.THUMBNAIL_DOCUMENT: "image",
    MediaKind.THUMBNAIL_LINK: "thumbnail-link",
    MediaKind.HISTORY: "md-msg-hist",
    MediaKind.APP_STATE: "md-app-state",
}


@dataclass(frozen=True)
class MediaKeys:
    iv: bytes
    cipher_key: bytes
    mac_key: bytes
    ref_key: bytes


def expand_media_key(media_key: bytes, kind: MediaKind) -> MediaKeys:
    """The 112-byte HKDF-SHA256 expansion of a media key for `kind`. Raises ValueError for a bad key."""
    if len(media_key) != MEDIA_KEY_SIZE:
        raise ValueError(f"a media key is {MEDIA_KEY_SIZE} bytes, not {len(media_key)}")
    expanded = HKDF(algorithm=hashes.SHA256(), length=112, salt=None, info=kind.hkdf_info).derive(media_key)
    return MediaKeys(expanded[:16], expanded[16:48], expanded[48:80], expanded[80:])


def new_media_key() -> bytes:
    return os.urandom(MEDIA_KEY_SIZE)


@dataclass(frozen=True)
class EncryptedMedia:
    """What a message needs to point at an encrypted file (besides where it was uploaded)."""

    media_key: bytes
    file_sha256: bytes  # of the plaintext
    file_enc_sha256: bytes  # of the uploaded bytes: ciphertext + MAC
    file_length: int  # plaintext bytes
    enc_length: int  # uploaded bytes


def encrypted_length(plain_length: int) -> int:
    """How many bytes the upload of a `plain_length`-byte file has (PKCS7 always adds 1..16, then the MAC)."""
    return (plain_length // _BLOCK + 1) * _BLOCK + MAC_SIZE


class MediaEncryptor:
    """Encrypt one file in chunks: `update(plain)` → ciphertext so far, `finish()` → the rest and the MAC.

    `result` (after `finish()`) holds the key and hashes for the message. A new random key unless given.
    """

    def __init__(self, kind: MediaKind, media_key: bytes | None = None) -> None:
        self._media_key = media_key if media_key is not None else new_media_key()
        keys = expand_media_key(self._media_key, kind)
        self._cipher = Cipher(algorithms.AES(keys.cipher_key), modes.CBC(keys.iv)).encryptor()
        self._padder = padding.PKCS7(128).padder()
        self._mac = hmac.new(keys.mac_key, keys.iv, hashlib.sha256)
        self._plain_hash = hashlib.sha256()
        self._enc_hash = hashlib.sha256()
        self._plain_length = 0
        self._enc_length = 0
        self._result: EncryptedMedia | None = None

    def update(self, plain: bytes) -> bytes:
        if self._result is not None:
            raise RuntimeError("the encryptor is finished")
        self._plain_hash.update(plain)
        self._plain_length += len(plain)
        return self._out(self._cipher.update(self._padder.update(plain)))

    def finish(self) -> bytes:
        if self._result is not None:
            raise RuntimeError("the encryptor is finished")
        tail = self._cipher.update(self._padder.finalize()) + self._cipher.finalize()
        self._mac.update(tail)
        mac = self._mac.digest()[:MAC_SIZE]
        out = tail + mac
        self._enc_hash.update(out)
        self._enc_length += len(out)
        self._result = EncryptedMedia(
            media_key=self._media_key,
            file_sha256=self._plain_hash.digest(),
            file_enc_sha256=self._enc_hash.digest(),
            file_length=self._plain_length,
            enc_length=self._enc_length,
        )
        return out

    @property
    def result(self) -> EncryptedMedia:
        if self._result is None:
            raise RuntimeError("finish() first")
        return self._result

    def _out(self, ciphertext: bytes) -> bytes:
        self._mac.update(ciphertext)
        self._enc_hash.update(ciphertext)
        self._enc_length += len(ciphertext)
        return ciphertext


@dataclass(frozen=True)
class Expected:
    """What the message promised about the file; each check is skipped when its value is absent."""

    file_enc_sha256: bytes | None = None
    file_sha256: bytes | None = None
    file_length: int | None = None


class MediaDecryptor:
    """Decrypt one downloaded file in chunks: `update(enc)` → plaintext so far, `finish()` → the rest.

    The last 10 bytes of the stream are the MAC, so up to 10 bytes (and a partial AES block) are held back
    until more arrive. `finish()` checks the MAC, padding, fileEncSha256, fileSha256 and length and raises
    MediaIntegrityError when one fails; everything returned so far must then be discarded.
    """

    def __init__(self, media_key: bytes, kind: MediaKind, expected: Expected | None = None) -> None:
        keys = expand_media_key(media_key, kind)
        self._expected = expected or Expected()
        self._cipher = Cipher(algorithms.AES(keys.cipher_key), modes.CBC(keys.iv)).decryptor()
        self._unpadder = padding.PKCS7(128).unpadder()
        self._mac = hmac.new(keys.mac_key, keys.iv, hashlib.sha256)
        self._enc_hash = hashlib.sha256()
        self._plain_hash = hashlib.sha256()
        self._tail = b""  # the newest bytes seen: they may be the MAC
        self._cipher_length = 0
        self._plain_length = 0
        self._done = False

    @property
    def plain_length(self) -> int:
        return self._plain_length

    def update(self, enc: bytes) -> bytes:
        if self._done:
            raise RuntimeError("the decryptor is finished")
        self._enc_hash.update(enc)
        data = self._tail + enc if self._tail else enc
        if len(data) <= MAC_SIZE:
            self._tail = data
            return b""
        body, self._tail = data[:-MAC_SIZE], data[-MAC_SIZE:]
        self._mac.update(body)
        self._cipher_length += len(body)
        return self._plain(self._unpadder.update(self._cipher.update(body)))

    def finish(self) -> bytes:
        """The last plaintext. Raises MediaIntegrityError."""
        if self._done:
            raise RuntimeError("the decryptor is finished")
        self._done = True
        expected = self._expected
        if len(self._tail) < MAC_SIZE or self._cipher_length == 0 or self._cipher_length % _BLOCK:
            raise MediaIntegrityError(
                f"the file is not whole: {self._cipher_length + len(self._tail)} encrypted bytes"
            )
        if expected.file_enc_sha256 and not hmac.compare_digest(
            self._enc_hash.digest(), expected.file_enc_sha256
        ):
            raise MediaIntegrityError("the downloaded file does not match its fileEncSha256")
        if not hmac.compare_digest(self._mac.digest()[:MAC_SIZE], self._tail):
            raise MediaIntegrityError("the file's MAC is wrong (wrong key or altered bytes)")
        try:
            rest = self._plain(self._unpadder.update(self._cipher.finalize()) + self._unpadder.finalize())
        except ValueError as exc:
            raise MediaIntegrityError("the file's padding is wrong") from exc
        if expected.file_sha256 and not hmac.compare_digest(self._plain_hash.digest(), expected.file_sha256):
            raise MediaIntegrityError("the decrypted file does not match its fileSha256")
        if expected.file_length is not None and expected.file_length != self._plain_length:
            raise MediaIntegrityError(
                f"the decrypted file has {self._plain_length} bytes, the message says {expected.file_length}"
            )
        return rest

    def _plain(self, plain: bytes) -> bytes:
        self._plain_hash.update(plain)
        self._plain_length += len(plain)
        return plain


def encrypt_media(
    plaintext: bytes, kind: MediaKind, media_key: bytes | None = None
) -> tuple[bytes, EncryptedMedia]:
    """A whole small file at once (thumbnails, tests): the bytes to upload and their description."""
    encryptor = MediaEncryptor(kind, media_key)
    data = encryptor.update(plaintext) + encryptor.finish()
    return data, encryptor.result


def decrypt_media(data: bytes, media_key: bytes, kind: MediaKind, expected: Expected | None = None) -> bytes:
    """A whole small downloaded file at once. Raises MediaIntegrityError."""
    decryptor = MediaDecryptor(media_key, kind, expected)
    return decryptor.update(data) + decryptor.finish()
