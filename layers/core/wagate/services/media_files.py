"""Stored media files: uploads (streamed, hashed, typed by their bytes, size-limited), upload links, links.

Three ways in: `POST /v1/media` (multipart, up to WAGATE_MEDIA_BODY_BYTES), `POST /v1/uploads` (a
link the client PUTs the file to: S3 presigned in AWS, signed `wagate serve` URL locally; then
`POST /v1/media/{id}/complete`), and media received from WhatsApp (the connector stores it with `Inspector`
and the events consumer writes its row). One way out: `GET /v1/media/{id}` gives the `media` object with a
link valid for WAGATE_MEDIA_LINK_SECONDS. The type is always sniffed from the bytes (`domain/media.py`);
the kind follows from it, and the kind's limit is enforced while the bytes stream (an oversized upload
stops at the first byte past it and leaves nothing stored).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from wagate.domain.errors import ConflictError, InvalidInput, ItemTooLarge, TransientError, WagateError
from wagate.domain.ids import new_id
from wagate.domain.media import (
    MAX_STORED_BYTES,
    SNIFF_BYTES,
    MediaKind,
    MediaObject,
    animated_webp,
    kind_of,
    limit_for,
    sniff,
)
from wagate.domain.messages import Message
from wagate.ports import Clock, MediaStore, Table
from wagate.store.keys import media_object
from wagate.store.media import MediaRepository, MediaState, StoredFile, file_object

FALLBACK_TYPE = "application/octet-stream"
STICKER_STATIC_BYTES = 100 * 1024


class MediaNotConfigured(TransientError):
    code = "media_not_configured"


class Inspector:
    """Wraps a stream of chunks: sniffs its type from the first bytes, hashes and counts what passes, and
    raises ItemTooLarge as soon as more than `limit` bytes went by. Pure (no I/O): the API and the
    connector both store through it."""

    def __init__(self, chunks: Iterable[bytes], *, limit: int = MAX_STORED_BYTES) -> None:
        self._source = iter(chunks)
        self.limit = limit
        self.size = 0
        self._hash = hashlib.sha256()
        self.head = self._read_head()
        self.mime = sniff(self.head) or FALLBACK_TYPE

    def _read_head(self) -> bytes:
        head = bytearray()
        for chunk in self._source:
            head += chunk
            if len(head) >= SNIFF_BYTES:
                break
        return bytes(head)

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    def __iter__(self) -> Iterator[bytes]:
        yield self._count(self.head)
        for chunk in self._source:
            yield self._count(chunk)

    def _count(self, chunk: bytes) -> bytes:
        self.size += len(chunk)
        if self.size > self.limit:
            raise ItemTooLarge(
                f"the file is larger than {self.limit} bytes, the limit for it",
                code="media_too_large",
                details={"limit": self.limit},
            )
        self._hash.update(chunk)
        return chunk


def choose_kind(mime: str, head: bytes, *, wanted: MediaKind | None, voice: bool) -> tuple[MediaKind, int]:
    """The kind a file is stored as, and that kind's limit. `wanted` may turn any file into a document,
    an image/webp into a sticker; `voice` needs audio. Raises InvalidInput otherwise."""
    natural = kind_of(mime)
    kind = wanted or natural
    if kind != natural and kind != MediaKind.DOCUMENT:
        if not (kind == MediaKind.STICKER and mime == "image/webp"):
            raise InvalidInput(
                f"a {mime} file cannot be sent as {kind.value} (its bytes say it is {natural.value})",
                code="media_kind_mismatch",
                details={"field": "kind", "mime": mime, "kind": kind.value},
            )
    if voice and kind != MediaKind.AUDIO:
        raise InvalidInput(
            f"a voice note must be audio; this file is {mime}",
            code="media_kind_mismatch",
            details={"field": "voice", "mime": mime},
        )
    limit = limit_for(kind)
    if kind == MediaKind.STICKER and not animated_webp(head):
        limit = STICKER_STATIC_BYTES
    return kind, limit


class UploadRequest(BaseModel):
    """Ask for a link to PUT a file to (files too large for POST /v1/media's body)."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    size: int = Field(ge=1, le=MAX_STORED_BYTES, strict=True, description="Exact size of the file in bytes")
    filename: str | None = Field(None, min_length=1, max_length=255)
    kind: MediaKind | None = Field(None, description="document (any file), sticker (webp); default: by type")
    voice: bool = Field(False, strict=True, description="An audio file sent as a voice note")
    content_type: str = Field(
        FALLBACK_TYPE,
        min_length=3,
        max_length=100,
        pattern=r"^[\w.+-]+/[\w.+-]+$",
        description="The Content-Type the PUT will carry (the stored type is sniffed from the bytes)",
    )


class UploadLink(BaseModel):
    model_config = ConfigDict(defer_build=True)

    method: str = "PUT"
    url: str
    headers: dict[str, str] = Field(description="Send exactly these headers with the PUT")
    expires_at: float


class PendingUpload(BaseModel):
    model_config = ConfigDict(defer_build=True)

    id: str = Field(description="The media id; POST /v1/media/{id}/complete once the PUT succeeded")
    upload: UploadLink


@dataclass(frozen=True)
class MediaLimits:
    link_seconds: int = 900
    upload_seconds: int = 900
    body_bytes: int = 4 * 1024 * 1024


class MediaFiles:
    def __init__(
        self,
        table: Table,
        clock: Clock,
        store: Callable[[], MediaStore | None],
        limits: MediaLimits | None = None,
    ) -> None:
        self.rows = MediaRepository(table)
        self.clock = clock
        self._store = store
        self.limits = limits or MediaLimits()

    @property
    def store(self) -> MediaStore:
        store = self._store()
        if store is None:
            raise MediaNotConfigured(
                "media storage is not configured (MEDIA_BUCKET is not set)", code="media_not_configured"
            )
        return store

    # ---- in -------------------------------------------------------------------------------------------

    def upload(
        self,
        tenant_id: str,
        chunks: Iterable[bytes],
        *,
        filename: str | None = None,
        kind: MediaKind | None = None,
        voice: bool = False,
        fetched: bool = False,
    ) -> MediaObject:
        """Stores a file sent in a request body (`fetched`: read from a URL, so the kind's limit applies
        rather than the request body's). Raises ItemTooLarge, InvalidInput."""
        now = self.clock.now()
        most = MAX_STORED_BYTES if fetched else self.limits.body_bytes
        inspector = Inspector(chunks, limit=most)
        if not inspector.head:
            raise InvalidInput("the file is empty", code="media_empty", details={"field": "file"})
        chosen, limit = choose_kind(inspector.mime, inspector.head, wanted=kind, voice=voice)
        inspector.limit = min(limit, most)
        media_id = new_id("med", now)
        stored = StoredFile(
            id=media_id,
            tenant_id=tenant_id,
            state=MediaState.READY,
            kind=chosen,
            mime=inspector.mime,
            filename=filename,
            voice=voice,
            created_at=now,
        )
        self.store.put(stored.object_key, inspector, content_type=inspector.mime)
        ready = stored.model_copy(update={"size": inspector.size, "sha256": inspector.sha256})
        self.rows.create(ready)
        return self.view(ready)

    def start_upload(self, tenant_id: str, request: UploadRequest) -> PendingUpload:
        """A pending media row and a link to PUT exactly `size` bytes to."""
        now = self.clock.now()
        if request.kind is not None and request.size > limit_for(request.kind):
            raise ItemTooLarge(
                f"a {request.kind.value} may be at most {limit_for(request.kind)} bytes",
                code="media_too_large",
                details={"field": "size", "limit": limit_for(request.kind)},
            )
        pending = StoredFile(
            id=new_id("med", now),
            tenant_id=tenant_id,
            state=MediaState.PENDING,
            kind=request.kind or MediaKind.DOCUMENT,
            mime=request.content_type,
            size=request.size,
            filename=request.filename,
            voice=request.voice,
            wanted=request.kind,
            created_at=now,
        )
        target = self.store.upload_target(
            pending.object_key,
            expires_in=self.limits.upload_seconds,
            content_type=request.content_type,
            size=request.size,
        )
        self.rows.create(pending)
        link = UploadLink(url=target.url, headers=dict(target.headers), expires_at=target.expires_at)
        return PendingUpload(id=pending.id, upload=link)

    def complete(self, tenant_id: str, media_id: str) -> MediaObject:
        """Checks the bytes PUT through the link: their size, type (sniffed) and hash. A file that breaks
        its kind's rules is deleted. Raises ConflictError `media_not_uploaded` before the PUT."""
        stored = self.rows.get(tenant_id, media_id)
        if stored.state == MediaState.READY:
            return self.view(stored)
        size = self.store.size(stored.object_key)
        if size is None:
            raise ConflictError(
                f"media {media_id} has not been uploaded yet: PUT the file to its link first",
                code="media_not_uploaded",
            )
        try:
            inspector = Inspector(self.store.read(stored.object_key), limit=MAX_STORED_BYTES)
            kind, limit = choose_kind(
                inspector.mime, inspector.head, wanted=stored.wanted, voice=stored.voice
            )
            inspector.limit = limit
            for _ in inspector:
                pass  # hashing as it streams; nothing is kept
        except InvalidInput:
            self.store.delete(stored.object_key)
            raise
        try:
            ready = self.rows.mark_ready(
                stored,
                {
                    "kind": kind.value,
                    "mime": inspector.mime,
                    "size": inspector.size,
                    "sha256": inspector.sha256,
                },
            )
        except ConflictError:
            ready = self.rows.get(tenant_id, media_id)  # completed by a concurrent call: same bytes
        return self.view(ready)

    # ---- out ------------------------------------------------------------------------------------------

    def get(self, tenant_id: str, media_id: str) -> MediaObject:
        """The `media` object with a fresh link. Raises NotFound, ConflictError `media_not_uploaded`."""
        stored = self.ready(tenant_id, media_id)
        return self.view(stored)

    def ready(self, tenant_id: str, media_id: str) -> StoredFile:
        """A stored file a message may carry. Raises NotFound, ConflictError `media_not_uploaded`."""
        stored = self.rows.get(tenant_id, media_id)
        if stored.state != MediaState.READY:
            raise ConflictError(
                f"media {media_id} is still waiting for its upload; complete it first",
                code="media_not_uploaded",
                details={"media_id": media_id},
            )
        return stored

    def view(self, stored: StoredFile, *, caption: str | None = None) -> MediaObject:
        """The `media` object of a file, with a link when its bytes are stored."""
        found = file_object(stored, caption=caption)
        return self.linked(stored.tenant_id, found) if stored.state == MediaState.READY else found

    def linked(self, tenant_id: str, media: MediaObject) -> MediaObject:
        """`media` with a fresh link to its bytes (unchanged when it names no stored file)."""
        if media.id is None:
            return media
        url = self.store.download_url(
            media_object(tenant_id, media.id),
            expires_in=self.limits.link_seconds,
            content_type=media.mime,
            filename=media.filename,
        )
        return media.model_copy(
            update={"url": url, "url_expires_at": self.clock.now() + self.limits.link_seconds}
        )

    def with_links(self, message: Message) -> Message:
        """A message whose attachment links to its stored file (messages API, events, webhooks). Never
        fails: without a media store the message is shown without a link."""
        content = message.content
        media = getattr(content, "media", None)
        if content is None or not isinstance(media, MediaObject) or media.id is None:
            return message
        try:
            media = self.linked(message.tenant_id, media)
        except WagateError:
            return message
        return message.model_copy(update={"content": content.model_copy(update={"media": media})})
