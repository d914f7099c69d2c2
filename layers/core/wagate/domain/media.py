"""Media files: kinds, the size limits WhatsApp enforces, MIME types sniffed from bytes, the `media` object.

Limits (bytes). WhatsApp itself refuses larger files, so wagate refuses them when they are uploaded or
accepted, never later. Sources: Meta's Cloud API "supported media types" table; the WhatsApp apps' 16 MB
limit for photos, videos and voice (which linked devices share).

| kind     | web (linked device)   | cloud (Meta Cloud API)      | types (sniffed from the bytes)          |
|----------|-----------------------|-----------------------------|-----------------------------------------|
| image    | 16 MB                 | 5 MB (jpeg, png only)       | jpeg, png, webp, gif                    |
| video    | 16 MB                 | 16 MB (mp4, 3gpp)           | mp4, 3gpp, quicktime, webm              |
| audio    | 16 MB                 | 16 MB (aac, amr, mp3, m4a, ogg) | ogg/opus, mp3, aac, amr, m4a, wav   |
| document | 100 MB                | 100 MB                      | anything (pdf, office, zip, text, ...)  |
| sticker  | 500 KB (100 KB static)| 500 KB (100 KB static), webp | webp                                  |

The store holds at most `MAX_STORED_BYTES` (the largest limit); a send is checked against its provider's
column when it is accepted.
"""

from __future__ import annotations

import base64
import enum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from wagate.domain.errors import InvalidInput, ItemTooLarge

KB = 1024
MB = 1024 * 1024


@enum.unique
class MediaKind(enum.StrEnum):
    IMAGE = "image"
    VIDEO = "video"
    AUDIO = "audio"
    DOCUMENT = "document"
    STICKER = "sticker"


@enum.unique
class MediaProvider(enum.StrEnum):
    WEB = "web"
    CLOUD = "cloud"


LIMITS: dict[MediaProvider, dict[MediaKind, int]] = {
    MediaProvider.WEB: {
        MediaKind.IMAGE: 16 * MB,
        MediaKind.VIDEO: 16 * MB,
        MediaKind.AUDIO: 16 * MB,
        MediaKind.DOCUMENT: 100 * MB,
        MediaKind.STICKER: 500 * KB,
    },
    MediaProvider.CLOUD: {
        MediaKind.IMAGE: 5 * MB,
        MediaKind.VIDEO: 16 * MB,
        MediaKind.AUDIO: 16 * MB,
        MediaKind.DOCUMENT: 100 * MB,
        MediaKind.STICKER: 500 * KB,
    },
}
MAX_STORED_BYTES = max(limit for kinds in LIMITS.values() for limit in kinds.values())
SNIFF_BYTES = 4096  # what `sniff` needs to see of a file's beginning

# What Meta's Cloud API takes per kind (it refuses the rest); the web engine takes any type of a kind.
CLOUD_TYPES: dict[MediaKind, frozenset[str]] = {
    MediaKind.IMAGE: frozenset({"image/jpeg", "image/png"}),
    MediaKind.VIDEO: frozenset({"video/mp4", "video/3gpp"}),
    MediaKind.AUDIO: frozenset({"audio/aac", "audio/amr", "audio/mpeg", "audio/mp4", "audio/ogg"}),
    MediaKind.STICKER: frozenset({"image/webp"}),
}


def limit_for(kind: MediaKind, provider: MediaProvider = MediaProvider.WEB) -> int:
    return LIMITS[provider][kind]


def is_stored_media_id(value: str) -> bool:
    """Whether an id names a file wagate stores (`med_` + 26 characters), not a Meta media id."""
    return value.startswith("med_") and len(value) == 30


def check_sendable(kind: MediaKind, mime: str, size: int | None, provider: MediaProvider) -> None:
    """Raises ItemTooLarge `media_too_large` or InvalidInput `media_type_not_supported` when the provider
    refuses such a file (Meta's Cloud API: 5 MB images, only its listed types)."""
    limit = limit_for(kind, provider)
    if size is not None and size > limit:
        raise ItemTooLarge(
            f"a {kind.value} sent through {provider.value} may be at most {limit} bytes; this one is {size}",
            code="media_too_large",
            details={"field": "media.upload_id", "limit": limit, "bytes": size},
        )
    allowed = CLOUD_TYPES.get(kind) if provider == MediaProvider.CLOUD else None
    if allowed is not None and mime.split(";", 1)[0] not in allowed:
        raise InvalidInput(
            f"Meta's Cloud API does not send a {mime} {kind.value}; send it as a document",
            code="media_type_not_supported",
            details={"field": "media.upload_id", "mime": mime, "accepted": sorted(allowed)},
        )


def kind_of(mime: str) -> MediaKind:
    """The message kind a file of this type is sent as (a document unless it is an image, video or audio)."""
    major = mime.split("/", 1)[0]
    if mime in ("image/jpeg", "image/png", "image/webp", "image/gif"):
        return MediaKind.IMAGE
    if major == "video":
        return MediaKind.VIDEO
    if major == "audio":
        return MediaKind.AUDIO
    return MediaKind.DOCUMENT


def _ftyp(head: bytes) -> str | None:
    """ISO base media files (mp4, m4a, 3gp, mov): the brand in the `ftyp` box."""
    if len(head) < 12 or head[4:8] != b"ftyp":
        return None
    brand = head[8:12]
    if brand.startswith(b"3g"):
        return "video/3gpp"
    if brand in (b"M4A ", b"M4B "):
        return "audio/mp4"
    if brand == b"qt  ":
        return "video/quicktime"
    return "video/mp4"


def _zip(head: bytes) -> str:
    """Office Open XML files are zips whose first entries name their part folders."""
    if b"word/" in head:
        return "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    if b"xl/" in head:
        return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    if b"ppt/" in head:
        return "application/vnd.openxmlformats-officedocument.presentationml.presentation"
    return "application/zip"


def _text(head: bytes) -> bool:
    if not head or b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut by the end of the sample is still text.
        return exc.start >= len(head) - 3
    return True


def sniff(head: bytes) -> str | None:
    """The MIME type of a file from its first bytes (at least `SNIFF_BYTES` when it is that long), or None
    when nothing is recognised. Names and declared types are never trusted: a CRM's `photo.jpg` that is a
    PDF is sent as a document."""
    signatures: tuple[tuple[bytes, str], ...] = (
        (b"\xff\xd8\xff", "image/jpeg"),
        (b"\x89PNG\r\n\x1a\n", "image/png"),
        (b"GIF87a", "image/gif"),
        (b"GIF89a", "image/gif"),
        (b"%PDF-", "application/pdf"),
        (b"#!AMR", "audio/amr"),
        (b"ID3", "audio/mpeg"),
        (b"\x1a\x45\xdf\xa3", "video/webm"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "application/msword"),  # OLE2: .doc/.xls/.ppt share it
    )
    for magic, mime in signatures:
        if head.startswith(magic):
            return mime
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "audio/wav"
    if head.startswith(b"OggS"):
        return "audio/ogg"  # WhatsApp voice notes are Ogg Opus
    if head.startswith(b"PK\x03\x04"):
        return _zip(head)
    found = _ftyp(head)
    if found:
        return found
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xF6 == 0xF0:
        return "audio/aac"  # ADTS frame sync
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        return "audio/mpeg"  # an MPEG audio frame without an ID3 tag
    if _text(head):
        return "text/plain"
    return None


def animated_webp(head: bytes) -> bool:
    """A WebP with the animation flag (VP8X chunk): stickers may then be 500 KB instead of 100 KB."""
    return head[12:16] == b"VP8X" and len(head) > 20 and bool(head[20] & 0x02)


# ---- the `media` object of messages, events and webhooks ----------------------------------------------

Sha256Hex = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$", description="sha256 of the file, hex")]


# WhatsApp's in-message JPEG previews (at most 16 KB, as the connector passes them on) as data: URLs.
THUMBNAIL_DATA_URL_PREFIX = "data:image/jpeg;base64,"
THUMBNAIL_DATA_URL_CHARS = len(THUMBNAIL_DATA_URL_PREFIX) + 4 * (16 * 1024 + 2) // 3


def thumbnail_data_url(raw: object) -> str | None:
    """A connector event's base64 thumbnail as a data: URL, or None unless it is a small JPEG."""
    if not isinstance(raw, str) or not raw:
        return None
    if len(raw) + len(THUMBNAIL_DATA_URL_PREFIX) > THUMBNAIL_DATA_URL_CHARS:
        return None
    try:
        data = base64.b64decode(raw, validate=True)
    except ValueError:
        return None
    return THUMBNAIL_DATA_URL_PREFIX + raw if data.startswith(b"\xff\xd8") else None


class MediaObject(BaseModel):
    """A file stored by wagate: what the CRM reads in messages, `incoming_message` events and webhooks.
    `url` opens the bytes until `url_expires_at` (epoch seconds); ask `GET /v1/media/{id}` for a fresh one.
    No WhatsApp media key or CDN address is ever part of it."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    id: str | None = Field(None, description="The media id (`GET /v1/media/{id}`); null until it is stored")
    kind: MediaKind
    mime: str = Field(description="Sniffed from the bytes when wagate holds them")
    size: int | None = Field(None, ge=0)
    sha256: Sha256Hex | None = None
    filename: str | None = None
    caption: str | None = None
    duration: int | None = Field(None, ge=0, description="Seconds (audio and video)")
    voice: bool = Field(False, description="A voice note (push-to-talk), not an audio file")
    url: str | None = Field(None, description="Short-lived link to the bytes")
    url_expires_at: float | None = None
    thumbnail: str | None = Field(
        None,
        max_length=THUMBNAIL_DATA_URL_CHARS,
        description="The small JPEG preview WhatsApp sent inside the message (web: images, videos, "
        "documents), as a data: URL, to show before the file is opened; null when there was none",
    )
