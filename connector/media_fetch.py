"""Incoming attachments into the media store, before their message is published: WhatsApp's links expire.

The engine downloads, decrypts and verifies the file into a temporary file (written only when every check
passed: engines/base.py `download_media`); it is then streamed into the media store through the same
`Inspector` as uploads (type sniffed from the bytes, sha256, the kind's size limit), on a worker thread.
The event then carries `media.stored` (id, type, size, sha256) and never the engine's `fetch` (a media
key). A file that cannot be fetched (expired, refused, corrupt) is reported as `stored.error`: the message
still reaches the CRM.

The media id is derived from the session and the provider message id, so a redelivered message stores
the same file under the same key instead of a second copy.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import tempfile
from collections.abc import Iterator
from pathlib import Path

from connector.engines.base import Engine, SessionInfo
from connector.engines.events import IncomingMessage, MediaRef, StoredMedia
from wagate.domain.media import limit_for
from wagate.ports import MediaStore
from wagate.services.media_files import Inspector
from wagate.store.keys import media_object

log = logging.getLogger("wagate.connector.media")

TRIES = 3
CHUNK = 256 * 1024
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def inbound_media_id(tenant_id: str, session_id: str, provider_message_id: str) -> str:
    """`med_` + 26 Crockford base32 characters (the shape of our ULID ids), the same for every delivery."""
    digest = int.from_bytes(
        hashlib.sha256(f"{tenant_id}/{session_id}/{provider_message_id}".encode()).digest()
    )
    return "med_" + "".join(_CROCKFORD[(digest >> (5 * i)) & 31] for i in range(26))


class MediaFetcher:
    """Stores the attachment of an IncomingMessage; `store` None (no bucket configured) reports an error."""

    def __init__(self, store: MediaStore | None, *, retry_seconds: float = 1.0) -> None:
        self.store = store
        self.retry_seconds = retry_seconds

    async def stored(self, engine: Engine, session: SessionInfo, message: IncomingMessage) -> IncomingMessage:
        media = message.media
        if media is None or media.fetch is None:
            return message
        media_id = inbound_media_id(session.tenant_id, session.session_id, message.provider_message_id)
        result = await self._fetch(engine, session, media, media_id)
        return dataclasses.replace(message, media=dataclasses.replace(media, fetch=None, stored=result))

    async def _fetch(
        self, engine: Engine, session: SessionInfo, media: MediaRef, media_id: str
    ) -> StoredMedia:
        if self.store is None:
            return StoredMedia(None, error="media_store_not_configured")
        limit = limit_for(media.kind)
        last = "failed"
        for attempt in range(TRIES):
            try:
                with tempfile.TemporaryDirectory(prefix="wagate-media-") as folder:
                    path = Path(folder) / "file"
                    await engine.download_media(media, path, max_bytes=limit)
                    return await asyncio.to_thread(self._put, path, session.tenant_id, media_id, limit)
            except Exception as exc:  # every failure is reported on the message; none may drop it
                last = str(getattr(exc, "code", None) or type(exc).__name__)
                transient = bool(getattr(exc, "is_transient", False))
                log.warning(
                    "%s: media of a message not stored (try %d: %s: %s)",
                    session.label,
                    attempt + 1,
                    last,
                    exc,
                )
                if not transient or attempt == TRIES - 1:
                    break
                await asyncio.sleep(self.retry_seconds * (attempt + 1))
        return StoredMedia(None, error=last)

    def _put(self, path: Path, tenant_id: str, media_id: str, limit: int) -> StoredMedia:
        assert self.store is not None
        inspector = Inspector(_chunks(path), limit=limit)
        self.store.put(media_object(tenant_id, media_id), inspector, content_type=inspector.mime)
        return StoredMedia(media_id, mime=inspector.mime, size=inspector.size, sha256=inspector.sha256)


def _chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as file:
        while chunk := file.read(CHUNK):
            yield chunk
