"""Incoming Cloud API attachments into the media store, as Meta's webhook arrives (Meta's URLs expire).

`cloud-media:{id}` (cloud/inbound.py) → `GET /{media id}` with the session's token (Graph's URL, valid a
few minutes) → the bytes, streamed with the same token through the same `Inspector` as uploads (type
sniffed, sha256, the kind's limit) into `media/{tenant}/{media id}`. The media id derives from the
session and Meta's media id, so a redelivered webhook stores the same file again under the same key. A
file that cannot be fetched leaves the message as it was (`media.stored` stays null): it still reaches
the CRM, with Meta's reference.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from wagate.cloud.inbound import MEDIA_REF
from wagate.cloud.sessions import CloudSessionService
from wagate.domain.errors import WagateError
from wagate.domain.media import MediaKind, limit_for
from wagate.observability import logger
from wagate.ports import MediaStore
from wagate.services.media_files import Inspector
from wagate.store.keys import media_object

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def cloud_media_id(tenant_id: str, session_id: str, meta_media_id: str) -> str:
    """`med_` + 26 Crockford base32 characters, the same for every delivery of one file."""
    digest = int.from_bytes(
        hashlib.sha256(f"cloud/{tenant_id}/{session_id}/{meta_media_id}".encode()).digest()
    )
    return "med_" + "".join(_CROCKFORD[(digest >> (5 * i)) & 31] for i in range(26))


class CloudMediaIntake:
    """`store(tenant, session, data)`: an incoming message's event data, its file stored if it has one."""

    def __init__(
        self, cloud: CloudSessionService, graph: Callable[[], Any], store: Callable[[], MediaStore | None]
    ):
        self.cloud = cloud
        self._graph = graph
        self._store = store

    def store(self, tenant_id: str, session_id: str, data: dict[str, Any]) -> dict[str, Any]:
        media = data.get("media")
        if not isinstance(media, dict):
            return data
        url = media.get("url")
        store = self._store()
        if not isinstance(url, str) or not url.startswith(MEDIA_REF) or store is None or media.get("stored"):
            return data
        meta_id = url[len(MEDIA_REF) :]
        media_id = cloud_media_id(tenant_id, session_id, meta_id)
        try:
            kind = MediaKind(str(media.get("kind")))
        except ValueError:
            kind = MediaKind.DOCUMENT
        try:
            token = self.cloud.access(tenant_id, session_id).token
            graph = self._graph()
            info = graph.media(meta_id, token)
            with graph.download(info.url, token) as chunks:
                inspector = Inspector(chunks, limit=limit_for(kind))
                store.put(media_object(tenant_id, media_id), inspector, content_type=inspector.mime)
        except WagateError as exc:  # the message goes on without its file
            logger.warning(
                "cloud media not stored",
                extra={"media_id": meta_id, "error": exc.code, "reason": exc.message},
            )
            return data
        stored = {"id": media_id, "mime": inspector.mime, "size": inspector.size, "sha256": inspector.sha256}
        return {**data, "media": {**media, "stored": stored}}
