"""/v1/media: upload files (multipart, or a link to PUT to); get a stored file's `media` object and link."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.depends import Depends
from aws_lambda_powertools.event_handler.openapi.params import File, Form, UploadFile
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from wagate import compose
from wagate.api.auth import require
from wagate.domain.errors import NotFound
from wagate.domain.media import MediaKind, MediaObject
from wagate.domain.tenants import Principal, Scope
from wagate.services.media_files import MediaFiles, PendingUpload, UploadRequest

router = APIGatewayHttpRouter()
Reader = Annotated[Principal, Depends(require(Scope.READ))]
Sender = Annotated[Principal, Depends(require(Scope.SEND))]
Files = Annotated[MediaFiles, Depends(compose.media_files)]


@router.post("/media", summary="Upload a file (multipart/form-data)", tags=["media"])
def upload_media(
    file: Annotated[UploadFile, File(description="The file (up to WAGATE_MEDIA_BODY_BYTES, 4 MiB)")],
    principal: Sender,
    service: Files,
    kind: Annotated[
        MediaKind | None, Form(description="document sends any file as one; sticker a webp")
    ] = None,
    voice: Annotated[bool, Form(description="an audio file sent as a voice note")] = False,
    filename: Annotated[str | None, Form(min_length=1, max_length=255)] = None,
) -> tuple[dict[str, Any], int]:
    """201 with the `media` object: use its `id` as `media.upload_id` in POST /v1/messages. The type is
    sniffed from the bytes; a kind's size limit is enforced (413 `media_too_large`). Larger files: POST
    /v1/uploads."""
    name = filename or file.filename or None
    stored = service.upload(principal.tenant_id, [file.content], filename=name, kind=kind, voice=voice)
    return stored.model_dump(mode="json"), 201


@router.post("/uploads", summary="Get a link to upload a large file to", tags=["media"])
def start_upload(body: UploadRequest, principal: Sender, service: Files) -> tuple[dict[str, Any], int]:
    """201 with the media id and a link: PUT the file's exact bytes to `upload.url` with `upload.headers`
    before `upload.expires_at`, then POST /v1/media/{id}/complete."""
    return service.start_upload(principal.tenant_id, body).model_dump(mode="json"), 201


@router.post("/media/<media_id>/complete", summary="Check an uploaded file, make it usable", tags=["media"])
def complete_upload(media_id: str, principal: Sender, service: Files) -> MediaObject:
    """The `media` object once the bytes PUT to the link are checked (409 `media_not_uploaded` before)."""
    return service.complete(principal.tenant_id, media_id)


@router.get("/media/<media_id>", summary="A stored file and a short-lived link to it", tags=["media"])
def get_media(media_id: str, principal: Reader, service: Files) -> MediaObject:
    """`url` opens the bytes until `url_expires_at`; ask again for a fresh one."""
    _seen(principal, service, media_id)
    return service.get(principal.tenant_id, media_id)


@router.get("/media/<media_id>/content", summary="The file's bytes (a redirect to its link)", tags=["media"])
def media_content(media_id: str, principal: Reader, service: Files) -> Response[str]:
    """302 to the short-lived link (the bytes never pass through the API)."""
    _seen(principal, service, media_id)
    media = service.get(principal.tenant_id, media_id)
    assert media.url is not None
    return Response(302, None, "", headers={"Location": media.url, "Cache-Control": "no-store"})


def _seen(principal: Principal, service: MediaFiles, media_id: str) -> None:
    """A session-scoped key sees the files its sessions received (and uploads, which belong to no
    session); another session's received file does not exist for it."""
    if principal.sessions is None:
        return
    stored = service.rows.get(principal.tenant_id, media_id)
    if stored.session_id is not None and not principal.sees(stored.session_id):
        raise NotFound(f"no media {media_id}", code="media_not_found", details={"media_id": media_id})


__all__ = ["PendingUpload", "router"]
