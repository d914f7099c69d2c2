"""Evolution's message router (sendMessage.router.ts): each send is a wagate send, answered 201 with a record.

The send goes through MessageService.accept like POST /v1/messages (pacing, durable queue, statuses), so
the record answers at once with `status: PENDING` and the key id the message is sent with; its later
statuses arrive as MESSAGES_UPDATE. Files given as base64 or a multipart `file` are stored in wagate's
media store first (the kind's size limit and type sniffing apply); so is a URL's file on a `web`
instance (fetched at once under the rules of a send by URL: https, public addresses, each redirect
checked), while sandbox and Cloud instances send a URL as /v1 does.
"""

from __future__ import annotations

import base64
import binascii
import mimetypes
import urllib.parse
from typing import Annotated, Any

from aws_lambda_powertools.event_handler.depends import Depends
from aws_lambda_powertools.event_handler.openapi.params import File, Form, UploadFile
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from wagate import compose
from wagate.domain.errors import ConflictError, WagateError
from wagate.domain.media import MediaKind, limit_for
from wagate.domain.messages import Message
from wagate.domain.sessions import Provider, Session
from wagate.domain.tenants import Principal
from wagate.evolution import send_dtos, shapes
from wagate.evolution.access import Caller, Need, instance
from wagate.evolution.errors import EvolutionError
from wagate.services.media_files import MediaFiles
from wagate.services.messages import MessageService, SendRequest

router = APIGatewayHttpRouter()
Messages = Annotated[MessageService, Depends(compose.message_service)]
Files = Annotated[MediaFiles, Depends(compose.media_files)]

KINDS = {
    "image": MediaKind.IMAGE,
    "video": MediaKind.VIDEO,
    "audio": MediaKind.AUDIO,
    "document": MediaKind.DOCUMENT,
}


def lookup(service: MessageService, tenant_id: str, session_id: str) -> shapes.Lookup:
    """Messages of one session by wagate's id or WhatsApp's (a quote's, a reaction's target)."""

    def find(some_id: str) -> Message | None:
        message_id = (
            some_id if some_id.startswith("msg_") else service.by_provider_id(tenant_id, session_id, some_id)
        )
        if message_id is None:
            return None
        try:
            found = service.get(tenant_id, message_id)
        except WagateError:  # erased since: the record just goes without it
            return None
        return found if found.session_id == session_id else None

    return find


def record(message: Message, service: MessageService, files: MediaFiles) -> dict[str, Any]:
    linked = files.with_links(message)
    return shapes.message_record(
        linked, instance_id=message.session_id, lookup=lookup(service, message.tenant_id, message.session_id)
    )


def accept(service: MessageService, tenant_id: str, request: SendRequest) -> Message:
    """MessageService.accept, with a send on a closed instance answered as Evolution does: 400 (its socket
    is not open), not wagate's 409."""
    try:
        return service.accept(tenant_id, request)
    except ConflictError as exc:
        if exc.code != "session_not_connected":
            raise
        raise EvolutionError(400, f"{exc.message} (instance/connect/{{instance}} links it again)") from None


def _send(
    principal: Principal,
    name: str,
    dto: send_dtos.Metadata,
    service: MessageService,
    files: MediaFiles,
    **content: Any,
) -> tuple[dict[str, Any], int]:
    session = instance(principal, name, Need.SEND)
    return _accept(principal, session, dto, service, files, **content)


def _accept(
    principal: Principal,
    session: Session,
    dto: send_dtos.Metadata,
    service: MessageService,
    files: MediaFiles,
    **content: Any,
) -> tuple[dict[str, Any], int]:
    reply_to = None
    if dto.quoted is not None:
        reply_to = service.by_provider_id(principal.tenant_id, session.id, dto.quoted.key.id)
        if reply_to is None:
            raise EvolutionError(400, f"quoted: no message with id {dto.quoted.key.id} in this instance")
    request = send_dtos.send_request(session.id, dto, now=service.clock.now(), reply_to=reply_to, **content)
    message = accept(service, principal.tenant_id, request)
    return record(message, service, files), 201


@router.post("/message/sendText/<instanceName>")
def send_text(
    instanceName: str, body: send_dtos.SendText, principal: Caller, service: Messages, files: Files
) -> tuple[dict[str, Any], int]:
    return _send(principal, instanceName, body, service, files, text=body.text)


# sendMedia and sendWhatsAppAudio take JSON or multipart/form-data (a `file` part), as Evolution does: the
# fields are form fields, which Powertools reads from either body.
@router.post("/message/sendMedia/<instanceName>")
def send_media(
    instanceName: str,
    principal: Caller,
    service: Messages,
    files: Files,
    number: Annotated[str, Form()],
    mediatype: Annotated[send_dtos.MediaType, Form()],
    media: Annotated[str | None, Form()] = None,
    mimetype: Annotated[str | None, Form()] = None,
    caption: Annotated[str | None, Form()] = None,
    fileName: Annotated[str | None, Form()] = None,
    delay: Annotated[int | None, Form()] = None,
    quoted: Annotated[send_dtos.Quoted | None, Form()] = None,
    file: Annotated[UploadFile | None, File()] = None,
) -> tuple[dict[str, Any], int]:
    dto = send_dtos.read(
        send_dtos.SendMedia,
        {
            "number": number,
            "mediatype": mediatype,
            "media": media,
            "mimetype": mimetype,
            "caption": caption or None,
            "fileName": fileName or None,
            "delay": delay,
            "quoted": quoted.model_dump(exclude_none=True) if quoted else None,
        },
    )
    session = instance(principal, instanceName, Need.SEND)
    wanted = KINDS[dto.mediatype]
    name = dto.fileName or (file.filename if file is not None and file.filename != "file" else None)
    attachment = _attachment(
        principal, session, files, dto.media, file, kind=wanted, voice=False, filename=name
    )
    if "url" in attachment:
        attachment["mime"] = (
            dto.mimetype or mimetypes.guess_type(attachment["url"])[0] or _default_mime(wanted)
        )
    if dto.caption:
        attachment["caption"] = dto.caption
    if name and wanted == MediaKind.DOCUMENT:
        attachment["filename"] = name
    return _accept(principal, session, dto, service, files, media=attachment)


@router.post("/message/sendWhatsAppAudio/<instanceName>")
def send_whatsapp_audio(
    instanceName: str,
    principal: Caller,
    service: Messages,
    files: Files,
    number: Annotated[str, Form()],
    audio: Annotated[str | None, Form()] = None,
    delay: Annotated[int | None, Form()] = None,
    quoted: Annotated[send_dtos.Quoted | None, Form()] = None,
    file: Annotated[UploadFile | None, File()] = None,
) -> tuple[dict[str, Any], int]:
    """A voice note (push-to-talk). wagate does not transcode: send Ogg Opus, as WhatsApp's own voice
    notes are (Evolution converts other formats with ffmpeg; wagate sends them as they are)."""
    dto = send_dtos.read(
        send_dtos.SendAudio,
        {
            "number": number,
            "audio": audio,
            "delay": delay,
            "quoted": quoted.model_dump(exclude_none=True) if quoted else None,
        },
    )
    session = instance(principal, instanceName, Need.SEND)
    attachment = _attachment(principal, session, files, dto.audio, file, kind=MediaKind.AUDIO, voice=True)
    if "url" in attachment:
        attachment["mime"] = mimetypes.guess_type(attachment["url"])[0] or "audio/ogg"
    return _accept(principal, session, dto, service, files, media=attachment)


@router.post("/message/sendSticker/<instanceName>")
def send_sticker(
    instanceName: str,
    principal: Caller,
    service: Messages,
    files: Files,
    number: Annotated[str, Form()],
    sticker: Annotated[str | None, Form()] = None,
    delay: Annotated[int | None, Form()] = None,
    quoted: Annotated[send_dtos.Quoted | None, Form()] = None,
    file: Annotated[UploadFile | None, File()] = None,
) -> tuple[dict[str, Any], int]:
    """A sticker: a webp (Evolution converts other images with sharp; wagate sends what it is given and
    refuses what is not a webp)."""
    dto = send_dtos.read(
        send_dtos.Metadata,
        {
            "number": number,
            "delay": delay,
            "quoted": quoted.model_dump(exclude_none=True) if quoted else None,
        },
    )
    session = instance(principal, instanceName, Need.SEND)
    attachment = _attachment(principal, session, files, sticker, file, kind=MediaKind.STICKER, voice=False)
    if "url" in attachment:
        attachment["mime"] = "image/webp"
    return _accept(principal, session, dto, service, files, media=attachment)


@router.post("/message/sendTemplate/<instanceName>")
def send_template(
    instanceName: str, body: send_dtos.SendTemplate, principal: Caller, service: Messages, files: Files
) -> tuple[dict[str, Any], int]:
    """A Meta template (WHATSAPP-BUSINESS instances): `components` are Meta's, as Evolution passes them on.
    Elsewhere a template without components is one of the tenant's wagate templates, by name."""
    template = {"name": body.name, "language": body.language, "components": body.components or []}
    return _send(principal, instanceName, body, service, files, template=template)


@router.post("/message/sendLocation/<instanceName>")
def send_location(
    instanceName: str, body: send_dtos.SendLocation, principal: Caller, service: Messages, files: Files
) -> tuple[dict[str, Any], int]:
    location = {
        "latitude": body.latitude,
        "longitude": body.longitude,
        "name": body.name,
        "address": body.address,
    }
    return _send(principal, instanceName, body, service, files, location=location)


@router.post("/message/sendContact/<instanceName>")
def send_contact(
    instanceName: str, body: send_dtos.SendContact, principal: Caller, service: Messages, files: Files
) -> tuple[dict[str, Any], int]:
    cards = [c.model_dump(exclude_none=True) for c in send_dtos.contact_cards(body)]
    return _send(principal, instanceName, body, service, files, contacts=cards)


@router.post("/message/sendReaction/<instanceName>")
def send_reaction(
    instanceName: str, body: send_dtos.SendReaction, principal: Caller, service: Messages, files: Files
) -> tuple[dict[str, Any], int]:
    """Reacts to the message `key.id` in chat `key.remoteJid`; an empty `reaction` takes it back."""
    session = instance(principal, instanceName, Need.SEND)
    chat = send_dtos.recipient(body.chat(), field="key.remoteJid")
    request = send_dtos.read(
        SendRequest,
        {
            "session_id": session.id,
            "to": chat,
            "reaction": {"target_provider_id": body.key.id, "emoji": body.reaction},
        },
    )
    message = accept(service, principal.tenant_id, request)
    return record(message, service, files), 201


@router.post("/message/sendPoll/<instanceName>")
def send_poll(
    instanceName: str, body: send_dtos.SendPoll, principal: Caller, service: Messages, files: Files
) -> tuple[dict[str, Any], int]:
    poll = {"name": body.name, "options": body.values, "selectable_count": body.selectableCount}
    return _send(principal, instanceName, body, service, files, poll=poll)


@router.post("/message/sendList/<instanceName>")
def send_list(
    instanceName: str, body: send_dtos.SendList, principal: Caller, service: Messages, files: Files
) -> tuple[dict[str, Any], int]:
    session = instance(principal, instanceName, Need.SEND)
    _interactive_possible(session, "sendList", "a list")
    interactive = send_dtos.list_content(body).model_dump(exclude_none=True, exclude={"type"})
    return _accept(principal, session, body, service, files, interactive=interactive)


@router.post("/message/sendButtons/<instanceName>")
def send_buttons(
    instanceName: str, body: send_dtos.SendButtons, principal: Caller, service: Messages, files: Files
) -> tuple[dict[str, Any], int]:
    session = instance(principal, instanceName, Need.SEND)
    _interactive_possible(session, "sendButtons", "buttons")
    interactive = send_dtos.buttons_content(body).model_dump(exclude_none=True, exclude={"type"})
    return _accept(principal, session, body, service, files, interactive=interactive)


def _interactive_possible(session: Session, route: str, what: str) -> None:
    """Buttons and lists only reach people from Meta's Cloud API: WhatsApp refuses them from linked devices
    (Evolution's Baileys instances send them and most phones show nothing)."""
    if session.provider != Provider.CLOUD:
        raise EvolutionError(
            400,
            f"{route}: WhatsApp does not show {what} sent from a linked device (this instance is "
            f"{session.provider.value}); send a poll (message/sendPoll) or a text with numbered options, or "
            "use a WHATSAPP-BUSINESS (Cloud API) instance",
        )


# ---- files ----------------------------------------------------------------------------------------------


def _attachment(
    principal: Principal,
    session: Session,
    files: MediaFiles,
    given: str | None,
    file: UploadFile | None,
    *,
    kind: MediaKind,
    voice: bool,
    filename: str | None = None,
) -> dict[str, Any]:
    """wagate's `media` of a send: {upload_id} for bytes (stored first), {url} for a link."""
    if file is not None:
        data = file.content
    elif given is None or not given.strip():
        raise EvolutionError(
            400, "media: give the file as an http(s) URL or base64, or send a multipart `file`"
        )
    elif given.startswith(("http://", "https://")):
        if session.provider != Provider.WEB:
            return {"url": given}  # sandbox and Cloud send a URL as /v1 does (probed now, fetched later)
        # A web session sends files it holds: fetch it now, under the rules of a send by URL.
        name = filename or _name_in(given)
        download = compose.services().media_check.download(given, limit_for(kind))
        stored = files.upload(
            principal.tenant_id, download, filename=name, kind=kind, voice=voice, fetched=True
        )
        assert stored.id is not None
        return {"upload_id": stored.id}
    else:
        data = _base64(given)
    stored = files.upload(principal.tenant_id, [data], filename=filename, kind=kind, voice=voice)
    assert stored.id is not None
    return {"upload_id": stored.id}


def _name_in(url: str) -> str | None:
    """The file name a URL ends with (`…/receta.pdf?x=1` → receta.pdf), for documents sent without one."""
    last = urllib.parse.urlsplit(url).path.rsplit("/", 1)[-1]
    return urllib.parse.unquote(last)[:255] or None


def _base64(text: str) -> bytes:
    """Base64 as Evolution takes it (a `data:` URL's payload too; line breaks and padding forgiven)."""
    payload = text.split(",", 1)[1] if text.startswith("data:") and "," in text else text
    compact = "".join(payload.split())
    try:
        return base64.b64decode(compact + "=" * (-len(compact) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise EvolutionError(400, "media: not an http(s) URL and not valid base64") from None


def _default_mime(kind: MediaKind) -> str:
    return {
        MediaKind.IMAGE: "image/jpeg",
        MediaKind.VIDEO: "video/mp4",
        MediaKind.AUDIO: "audio/mpeg",
        MediaKind.DOCUMENT: "application/pdf",
        MediaKind.STICKER: "image/webp",
    }[kind]
