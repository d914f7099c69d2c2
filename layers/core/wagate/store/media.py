"""A tenant's stored media files: one row per file (keys and access patterns: store/keys.py).

A row is `pending` while its bytes are being uploaded through a link (POST /v1/uploads), `ready` once
they are stored and checked (size, sha256, sniffed type). Inbound media rows are written ready, in the same
transaction as their message. Rows never hold a WhatsApp media key or CDN address.
"""

from __future__ import annotations

import enum
from typing import Any

from pydantic import BaseModel, ConfigDict

from wagate.conditions import Attr, item_absent
from wagate.domain.errors import NotFound
from wagate.domain.media import MediaKind, MediaObject
from wagate.ports import Item, Put, Table
from wagate.store import keys


@enum.unique
class MediaState(enum.StrEnum):
    PENDING = "pending"
    READY = "ready"


class StoredFile(BaseModel):
    """What the media row says about one file."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    id: str
    tenant_id: str
    state: MediaState
    kind: MediaKind
    mime: str
    size: int | None = None
    sha256: str | None = None
    filename: str | None = None
    duration: int | None = None
    voice: bool = False
    wanted: MediaKind | None = None  # the kind asked for when the upload link was made
    source: str = "upload"  # upload | inbound
    session_id: str | None = None
    created_at: float

    @property
    def object_key(self) -> str:
        return keys.media_object(self.tenant_id, self.id)


def file_object(stored: StoredFile, *, caption: str | None = None) -> MediaObject:
    """The `media` object of a stored file, without a link (links are made when it is shown)."""
    return MediaObject(
        id=stored.id,
        kind=stored.kind,
        mime=stored.mime,
        size=stored.size,
        sha256=stored.sha256,
        filename=stored.filename,
        caption=caption,
        duration=stored.duration,
        voice=stored.voice,
    )


def media_item(stored: StoredFile) -> Item:
    pk, sk = keys.media(stored.tenant_id, stored.id)
    return {"pk": pk, "sk": sk, **stored.model_dump(mode="json", exclude_none=True)}


def to_stored(item: Item) -> StoredFile:
    return StoredFile.model_validate({k: v for k, v in item.items() if k not in ("pk", "sk")})


class MediaRepository:
    def __init__(self, table: Table) -> None:
        self.table = table

    def get(self, tenant_id: str, media_id: str) -> StoredFile:
        """Raises NotFound (another tenant's id included)."""
        item = self.table.get(*keys.media(tenant_id, media_id))
        if item is None:
            raise NotFound(f"no media {media_id}", code="media_not_found", details={"media_id": media_id})
        return to_stored(item)

    def create(self, stored: StoredFile) -> None:
        self.table.put(media_item(stored), condition=item_absent())

    def put_op(self, stored: StoredFile) -> Put:
        """The row in a transaction (inbound media lands with its message); replaces a redelivery's."""
        return Put(media_item(stored))

    def mark_ready(self, stored: StoredFile, changes: dict[str, Any]) -> StoredFile:
        """pending → ready with what the stored bytes turned out to be. Raises ConflictError when it is
        not pending any more (completed twice at once)."""
        pk, sk = keys.media(stored.tenant_id, stored.id)
        item = self.table.update(
            pk,
            sk,
            set={**changes, "state": MediaState.READY.value},
            condition=Attr("state").eq(MediaState.PENDING.value),
        )
        return to_stored(item)
