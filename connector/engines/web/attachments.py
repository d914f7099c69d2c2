"""Outgoing attachments: upload to the media hosts with the right media type, then the message protobuf.

    image     IMAGE keys, imageMessage with width/height and a JPEG thumbnail (32 px wide, as WhatsApp
              clients make them: Baileys' extractImageThumb)
    video     VIDEO keys (GIF keys and gifPlayback for a gif), videoMessage
    audio     AUDIO keys, audioMessage; a voice note uses PTT keys and ptt=true
    document  DOCUMENT keys, documentMessage with fileName and title
    sticker   STICKER keys, stickerMessage (animated when the WebP says so)

The plaintext comes from a file (a stored upload the connector copied out) or bytes; the media hosts
client (media/hosts.py) encrypts it in chunks into a spool and uploads it, so a 16 MB video is never held
whole. Thumbnails are made with Pillow from the file; a picture Pillow cannot read is sent without one
(the phone draws a placeholder). Video posters would need a video decoder: videos go without a thumbnail.
"""

from __future__ import annotations

import io
import logging
import time
from pathlib import Path
from typing import Any

from connector.engines.base import OutgoingMedia
from connector.engines.events import MediaKind
from connector.engines.web.media import MediaHosts, UploadedMedia
from connector.engines.web.media import MediaKind as HostsKind
from connector.engines.web.protos import wa

log = logging.getLogger(__name__)

THUMBNAIL_WIDTH = 32


def upload_kind(media: OutgoingMedia) -> HostsKind:
    """The key expansion and media-host type the attachment is uploaded as."""
    if media.kind == MediaKind.AUDIO and media.voice:
        return HostsKind.PTT
    if media.kind == MediaKind.VIDEO and media.mime_type == "image/gif":
        return HostsKind.GIF
    return HostsKind(media.kind.value)


async def attachment_message(hosts: MediaHosts, media: OutgoingMedia) -> wa.Message:
    """Uploads the file and returns the Message carrying it. Raises ValueError (nothing to send),
    MediaRefused, MediaTransferError, IqError/IqTimeout, OSError."""
    source: Path | bytes
    if media.path is not None:
        source = media.path
    elif media.data is not None:
        source = media.data
    else:
        raise ValueError("the attachment has neither a file nor bytes to upload")
    uploaded = await hosts.upload(source, upload_kind(media))
    fields = _common(uploaded, media.mime_type)
    if media.kind == MediaKind.IMAGE:
        image = wa.Message.ImageMessage(**fields, caption=media.caption or "")
        picture = _picture(source)
        if picture is not None:
            image.width, image.height, image.jpegThumbnail = picture
        return wa.Message(imageMessage=image)
    if media.kind == MediaKind.VIDEO:
        video = wa.Message.VideoMessage(**fields, caption=media.caption or "")
        video.gifPlayback = upload_kind(media) == HostsKind.GIF
        return wa.Message(videoMessage=video)
    if media.kind == MediaKind.AUDIO:
        return wa.Message(audioMessage=wa.Message.AudioMessage(**fields, ptt=media.voice))
    if media.kind == MediaKind.STICKER:
        sticker = wa.Message.StickerMessage(**fields)
        head = source.read_bytes()[:32] if isinstance(source, Path) else source[:32]
        sticker.isAnimated = head[12:16] == b"VP8X" and len(head) > 20 and bool(head[20] & 0x02)
        return wa.Message(stickerMessage=sticker)
    name = media.filename or "file"
    document = wa.Message.DocumentMessage(**fields, fileName=name, title=name, caption=media.caption or "")
    return wa.Message(documentMessage=document)


def _common(uploaded: UploadedMedia, mime_type: str) -> dict[str, Any]:
    encrypted = uploaded.encrypted
    return {
        "url": uploaded.url,
        "directPath": uploaded.direct_path,
        "mediaKey": encrypted.media_key,
        "fileSha256": encrypted.file_sha256,
        "fileEncSha256": encrypted.file_enc_sha256,
        "fileLength": encrypted.file_length,
        "mimetype": mime_type,
        "mediaKeyTimestamp": int(time.time()),
    }


def _picture(source: Path | bytes) -> tuple[int, int, bytes] | None:
    """(width, height, a small JPEG thumbnail) of an image, or None when Pillow cannot read it."""
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:  # pragma: no cover - Pillow is a dependency; a broken install still sends
        return None
    try:
        with Image.open(source if isinstance(source, Path) else io.BytesIO(source)) as image:
            width, height = image.size
            image.draft("RGB", (THUMBNAIL_WIDTH * 4, THUMBNAIL_WIDTH * 4))  # JPEGs decode small: cheap
            thumb = image.convert("RGB")
            thumb.thumbnail((THUMBNAIL_WIDTH, max(1, THUMBNAIL_WIDTH * height // max(1, width))))
            out = io.BytesIO()
            thumb.save(out, format="JPEG", quality=50)
            return width, height, out.getvalue()
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        log.info("no thumbnail for an image: %s", exc)
        return None
