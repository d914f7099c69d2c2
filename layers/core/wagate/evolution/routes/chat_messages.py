"""Evolution's chat routes that act on one message: updateMessage (edit), deleteMessageForEveryone, and
getBase64FromMediaMessage. The message is named by its WhatsApp id (`key.id`, what Evolution's records
carry) or wagate's msg_ id, within the instance.

An edit or a delete is a wagate send of kind `edit` / `delete` (POST /v1/messages): the rules are
wagate's (our own text within 15 minutes; our own message, or as a group admin), and the answer is the
record of that change (`protocolMessage` MESSAGE_EDIT / REVOKE), as Evolution answers.
"""

from __future__ import annotations

import base64
import mimetypes
from typing import Annotated, Any

from aws_lambda_powertools.event_handler.depends import Depends
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr

from wagate import compose
from wagate.evolution import send_dtos, shapes
from wagate.evolution.access import Caller, Need, instance
from wagate.evolution.errors import EvolutionError
from wagate.evolution.routes.message import accept, lookup, record
from wagate.services.media_files import MediaFiles
from wagate.services.messages import MessageService, SendRequest

router = APIGatewayHttpRouter()
Messages = Annotated[MessageService, Depends(compose.message_service)]
Files = Annotated[MediaFiles, Depends(compose.media_files)]


class Loose(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class MessageKey(Loose):
    id: StrictStr = Field(min_length=1)
    remoteJid: StrictStr = Field(min_length=1)
    fromMe: StrictBool
    participant: StrictStr | None = Field(None, min_length=1)


class UpdateMessage(Loose):
    number: StrictStr = Field(min_length=1)
    key: MessageKey
    text: StrictStr = Field(min_length=1)


@router.post("/chat/updateMessage/<instanceName>")
def update_message(
    instanceName: str, body: UpdateMessage, principal: Caller, service: Messages, files: Files
) -> dict[str, Any]:
    """200 with the edit's record (`protocolMessage` MESSAGE_EDIT). Text only, as Evolution."""
    session = instance(principal, instanceName, Need.SEND)
    target = _target(service, principal.tenant_id, session.id, body.key.id)
    edit = {"target_id": target, "body": body.text}
    chat = send_dtos.recipient(body.number)
    request = send_dtos.read(SendRequest, {"session_id": session.id, "to": chat, "edit": edit})
    return record(accept(service, principal.tenant_id, request), service, files)


@router.delete("/chat/deleteMessageForEveryone/<instanceName>")
def delete_message_for_everyone(
    instanceName: str, body: MessageKey, principal: Caller, service: Messages, files: Files
) -> tuple[dict[str, Any], int]:
    """201 with the delete's record (`protocolMessage` REVOKE)."""
    session = instance(principal, instanceName, Need.SEND)
    target = _target(service, principal.tenant_id, session.id, body.id)
    chat = send_dtos.recipient(body.remoteJid, field="remoteJid")
    request = send_dtos.read(
        SendRequest, {"session_id": session.id, "to": chat, "delete": {"target_id": target}}
    )
    return record(accept(service, principal.tenant_id, request), service, files), 201


def _target(service: MessageService, tenant_id: str, session_id: str, some_id: str) -> str:
    found = lookup(service, tenant_id, session_id)(some_id)
    if found is None:
        raise EvolutionError(400, f"Message not found: no message with id {some_id} in this instance")
    return found.id


class MediaKey(Loose):
    id: StrictStr = Field(min_length=1)


class MediaMessageRef(Loose):
    key: MediaKey


class Base64Request(Loose):
    """`convertToMp4` is ignored: wagate does not transcode (the answer's mimetype says what it is)."""

    message: MediaMessageRef


# ---- getBase64FromMediaMessage --------------------------------------------------------------------------


@router.post("/chat/getBase64FromMediaMessage/<instanceName>")
def get_base64_from_media_message(
    instanceName: str, body: Base64Request, principal: Caller, service: Messages, files: Files
) -> tuple[dict[str, Any], int]:
    """The file wagate stored for the message `message.key.id` (WhatsApp's id, or wagate's msg_ id),
    as it was received or sent: wagate does not transcode (`convertToMp4` keeps the file's own type)."""
    session = instance(principal, instanceName, Need.READ)
    message = lookup(service, principal.tenant_id, session.id)(body.message.key.id)
    if message is None:
        raise EvolutionError(400, "Message not found")
    media = getattr(message.content, "media", None)
    field, _ = shapes.content_of(message)
    if field not in shapes.MEDIA_TYPES:
        raise EvolutionError(400, "The message is not of the media type")
    if media is None or media.id is None:
        raise EvolutionError(400, "this message's file was not stored by wagate (it could not be fetched)")
    stored = files.ready(principal.tenant_id, media.id)
    if (stored.size or 0) > files.limits.body_bytes:
        raise EvolutionError(
            400,
            f"the file is {stored.size} bytes, more than an answer carries ({files.limits.body_bytes}); "
            "download it from the message's mediaUrl (findMessages) instead",
        )
    data = b"".join(files.store.read(stored.object_key))
    name = stored.filename or f"{shapes.key_id(message)}.{_extension(stored.mime)}"
    return {
        "mediaType": field,
        "fileName": name,
        "caption": getattr(message.content, "caption", None),
        "size": {"fileLength": str(stored.size or len(data)), "height": None, "width": None},
        "mimetype": stored.mime,
        "base64": base64.b64encode(data).decode(),
        "buffer": None,
    }, 201


def _extension(mime: str) -> str:
    return (mimetypes.guess_extension(mime.split(";", 1)[0]) or ".bin").lstrip(".")
