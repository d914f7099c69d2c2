"""Outgoing attachments: upload to the media hosts with the right media type, then the message protobuf.

    image     IMAGE keys, imageMessage with width/height and a JPEG thumbnail (32 px wide, as WhatsApp
              clients make them: Baileys' extractImageThumb)
    video     VIDEO keys (GIF keys and gifPlayback for a gif), videoMessage with width/height, seconds
              and a poster frame as its JPEG thumbnail (the same 32 px)
    audio     AUDIO keys, audioMessage with its seconds; a voice note uses PTT keys and ptt=true
    document  DOCUMENT keys, documentMessage with fileName and title
    sticker   STICKER keys, stickerMessage (animated when the WebP says so)

The plaintext comes from a file (a stored upload the connector copied out) or bytes; the media hosts
client (media/hosts.py) encrypts it in chunks into a spool and uploads it, so a 16 MB video is never held
whole. Thumbnails are made with Pillow from the file; a picture Pillow cannot read is sent without one
(the phone draws a placeholder). Video posters and durations come from PyAV (`av`: FFmpeg's libraries in
a wheel), a dependency of the connector and of local installs, never of the Lambda layer (Lambda sends
nothing to WhatsApp's media hosts). Only the container's header and the first frame are decoded. Without
PyAV, or for a file it cannot read, the video goes without poster or duration (the phone shows a grey
placeholder and reads the duration itself once downloaded), as before.
"""

from __future__ import annotations

import io
import logging
import time
from dataclasses import dataclass
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
        probed = _video(source)
        if probed is not None:
            video.width, video.height, video.seconds = probed.width, probed.height, probed.seconds
            if probed.poster is not None:
                video.jpegThumbnail = probed.poster
        return wa.Message(videoMessage=video)
    if media.kind == MediaKind.AUDIO:
        audio = wa.Message.AudioMessage(**fields, ptt=media.voice)
        seconds = _seconds(source)
        if seconds is not None:
            audio.seconds = seconds
        return wa.Message(audioMessage=audio)
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


@dataclass(frozen=True)
class VideoProbe:
    width: int
    height: int
    seconds: int
    poster: bytes | None  # a small JPEG of the first frame


def _thumbnail(image: Any) -> bytes:
    """A Pillow image as the small JPEG WhatsApp shows before a download (32 px wide)."""
    width, height = image.size
    thumb = image.convert("RGB")
    thumb.thumbnail((THUMBNAIL_WIDTH, max(1, THUMBNAIL_WIDTH * height // max(1, width))))
    out = io.BytesIO()
    thumb.save(out, format="JPEG", quality=50)
    return out.getvalue()


def _open_av(source: Path | bytes) -> Any:
    """The container opened with PyAV, or None when PyAV is not installed."""
    try:
        import av
    except ImportError:
        log.info("no video poster or duration: PyAV (av) is not installed")
        return None
    return av.open(str(source) if isinstance(source, Path) else io.BytesIO(source))


def _video(source: Path | bytes) -> VideoProbe | None:
    """Size, whole seconds and a poster (the first decodable frame) of a video, or None."""
    try:
        container = _open_av(source)
        if container is None:
            return None
        with container:
            if not container.streams.video:
                return None
            stream = container.streams.video[0]
            stream.thread_type = "NONE"  # one frame: threads would cost more than they save
            seconds = _container_seconds(container)
            poster = None
            for frame in container.decode(stream):
                poster = _thumbnail(frame.to_image())
                break
            return VideoProbe(stream.width, stream.height, seconds, poster)
    except Exception as exc:  # noqa: BLE001 - PyAV raises its own FFmpeg error types; any means "none"
        log.info("no video poster: %s", exc)
        return None


def _seconds(source: Path | bytes) -> int | None:
    """Whole seconds of an audio file (its container's header), or None."""
    try:
        container = _open_av(source)
        if container is None:
            return None
        with container:
            return _container_seconds(container) or None
    except Exception as exc:  # noqa: BLE001 - as in _video
        log.info("no audio duration: %s", exc)
        return None


def _container_seconds(container: Any) -> int:
    duration = container.duration  # microseconds (av.time_base), or None when the header has none
    return round(duration / 1_000_000) if duration else 0


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
            return width, height, _thumbnail(image)
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        log.info("no thumbnail for an image: %s", exc)
        return None
