"""Attachments both ways between two web engines through the fake edge and its media hosts (TLS, hash and
auth checks): send_media uploads with the right media type, the receiving connector downloads, decrypts,
verifies and stores the file, and what it publishes carries no WhatsApp media key."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
from pathlib import Path

import pytest
from PIL import Image

from connector.engines.base import OutgoingMedia, SessionInfo
from connector.engines.events import IncomingMessage, MediaKind
from connector.media_fetch import MediaFetcher
from connector.publisher import event_payload
from tests.connector.web.harness import Harness, with_edge
from wagate.adapters.local.dir_media import DirMediaStore
from wagate.store.keys import media_object

ALICE, BOB = "15550001111", "15550002222"


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (640, 480), (10, 120, 200)).save(out, format="JPEG", quality=80)
    return out.getvalue()


def test_image_voice_note_and_document_arrive_stored_and_keyless(tmp_path: Path) -> None:
    store = DirMediaStore(tmp_path / "media", signing_key=os.urandom(32), base_url="http://wagate.test")
    fetcher = MediaFetcher(store)
    picture = jpeg()
    voice = b"OggS\x00\x02" + os.urandom(20_000)
    pdf = b"%PDF-1.7\n" + os.urandom(3 * 1024 * 1024)
    (tmp_path / "doc.pdf").write_bytes(pdf)

    async def body(h: Harness) -> None:
        alice = await h.linked(ALICE, "ses_a")
        bob = await h.linked(BOB, "ses_b")
        bob_session = SessionInfo("ten_b", "ses_b", "web")
        sends = [
            OutgoingMedia(MediaKind.IMAGE, "image/jpeg", data=picture, caption="la foto"),
            OutgoingMedia(MediaKind.AUDIO, "audio/ogg; codecs=opus", data=voice, voice=True),
            OutgoingMedia(
                MediaKind.DOCUMENT, "application/pdf", path=tmp_path / "doc.pdf", filename="Factura.pdf"
            ),
        ]
        for n, media in enumerate(sends):
            await alice.engine.send_media(bob.e164, media, f"msg_media_{n}")
        # the media hosts took each upload under its own media type
        assert sorted(f.mms_type for f in h.edge.media.files.values()) == ["audio", "document", "image"]

        received = []
        for n in range(3):
            incoming = await bob.running.wait(IncomingMessage, n + 1)
            received.append(await fetcher.stored(bob.engine, bob_session, incoming))
        image, note, document = received
        for got, data in ((image, picture), (note, voice), (document, pdf)):
            assert got.media is not None and got.media.fetch is None
            stored = got.media.stored
            assert stored is not None and stored.id is not None, stored
            assert stored.sha256 == hashlib.sha256(data).hexdigest() and stored.size == len(data)
            assert b"".join(store.read(media_object("ten_b", stored.id))) == data
            # nothing published names the media key the message carried
            _, payload = event_payload(got)
            assert "mediaKey" not in json.dumps(payload) and "fetch" not in payload["media"]
        assert image.media is not None and image.media.caption == "la foto"
        assert image.media.stored is not None and image.media.stored.mime == "image/jpeg"
        assert note.media is not None and note.media.voice and note.media.kind is MediaKind.AUDIO
        assert document.media is not None and document.media.filename == "Factura.pdf"
        assert document.media.stored is not None and document.media.stored.mime == "application/pdf"
        # the image went with its size and a small JPEG thumbnail
        sent = [m.message for m in h.edge.phone(BOB).received if m.message.HasField("imageMessage")]
        assert sent and (sent[0].imageMessage.width, sent[0].imageMessage.height) == (640, 480)
        assert sent[0].imageMessage.jpegThumbnail.startswith(b"\xff\xd8")
        assert len(sent[0].imageMessage.jpegThumbnail) < 4096
        # ... which the receiving side passes on (base64) to show before the file is opened
        assert image.media.thumbnail is not None
        assert base64.b64decode(image.media.thumbnail) == sent[0].imageMessage.jpegThumbnail
        await alice.running.stop()
        await bob.running.stop()

    with_edge(body)


def test_an_attachment_that_cannot_be_fetched_still_reaches_the_crm(tmp_path: Path) -> None:
    store = DirMediaStore(tmp_path / "media", signing_key=os.urandom(32), base_url="http://wagate.test")

    async def body(h: Harness) -> None:
        alice = await h.linked(ALICE, "ses_a")
        bob = await h.linked(BOB, "ses_b")
        await alice.engine.send_media(
            bob.e164, OutgoingMedia(MediaKind.IMAGE, "image/jpeg", data=jpeg()), "m1"
        )
        incoming = await bob.running.wait(IncomingMessage)
        h.edge.media.files.clear()  # gone from the media hosts (expired)
        got = await MediaFetcher(store, retry_seconds=0).stored(
            bob.engine, SessionInfo("t", "s", "web"), incoming
        )
        assert got.media is not None and got.media.fetch is None
        assert got.media.stored is not None and got.media.stored.id is None and got.media.stored.error
        assert not list((tmp_path / "media").rglob("med_*"))
        await alice.running.stop()
        await bob.running.stop()

    with_edge(body)


def mp4(seconds: int = 3, size: tuple[int, int] = (320, 240)) -> bytes:
    """A real H.264-free MP4 (MPEG-4 part 2, what FFmpeg encodes without extra libraries), made with PyAV."""
    import av

    out = io.BytesIO()
    with av.open(out, "w", format="mp4") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        for n in range(seconds * 10):
            frame = av.VideoFrame.from_image(Image.new("RGB", size, (200, 40 + n, 30)))
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return out.getvalue()


def opus(seconds: int = 2) -> bytes:
    """A real Ogg Opus voice note (silence), made with PyAV."""
    import av

    out = io.BytesIO()
    with av.open(out, "w", format="ogg") as container:
        stream = container.add_stream("libopus", rate=48000)
        stream.layout = "mono"
        samples = 960
        for n in range(seconds * 48000 // samples):
            frame = av.AudioFrame(format="s16", layout="mono", samples=samples)
            frame.planes[0].update(bytes(samples * 2))
            frame.sample_rate, frame.pts = 48000, n * samples
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return out.getvalue()


def webp_sticker() -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", (512, 512), (255, 200, 0, 255)).save(out, format="WEBP")
    return out.getvalue()


def test_video_with_a_poster_voice_note_with_seconds_and_a_sticker(tmp_path: Path) -> None:
    """Videos go with their size, length and a first-frame poster (PyAV); a voice note with its seconds;
    a sticker as a sticker. The other side stores each file as it was sent."""
    pytest.importorskip("av", reason="PyAV makes the video posters (a dependency: pip install av)")
    store = DirMediaStore(tmp_path / "media", signing_key=os.urandom(32), base_url="http://wagate.test")
    fetcher = MediaFetcher(store)
    video, voice, sticker = mp4(), opus(), webp_sticker()
    (tmp_path / "clip.mp4").write_bytes(video)

    async def body(h: Harness) -> None:
        alice = await h.linked(ALICE, "ses_a")
        bob = await h.linked(BOB, "ses_b")
        bob_session = SessionInfo("ten_b", "ses_b", "web")
        sends = [
            OutgoingMedia(MediaKind.VIDEO, "video/mp4", path=tmp_path / "clip.mp4", caption="el taller"),
            OutgoingMedia(MediaKind.AUDIO, "audio/ogg; codecs=opus", data=voice, voice=True),
            OutgoingMedia(MediaKind.STICKER, "image/webp", data=sticker),
            OutgoingMedia(MediaKind.VIDEO, "video/mp4", data=b"\x00\x00\x00\x18ftypmp42" + os.urandom(5000)),
        ]
        for n, media in enumerate(sends):
            await alice.engine.send_media(bob.e164, media, f"msg_av_{n}")
        assert sorted(f.mms_type for f in h.edge.media.files.values()) == ["audio", "image", "video", "video"]
        sent = [m.message for m in h.edge.phone(BOB).received]
        clip = next(m.videoMessage for m in sent if m.HasField("videoMessage") and m.videoMessage.caption)
        assert (clip.width, clip.height, clip.seconds) == (320, 240, 3)
        assert clip.jpegThumbnail.startswith(b"\xff\xd8") and len(clip.jpegThumbnail) < 4096
        poster = Image.open(io.BytesIO(clip.jpegThumbnail))
        assert poster.size == (32, 24) and poster.getpixel((16, 12))[0] > 150  # the first frame's red
        # A file PyAV cannot read still goes, without poster or length (the phone shows a placeholder).
        broken = next(
            m.videoMessage for m in sent if m.HasField("videoMessage") and not m.videoMessage.caption
        )
        assert not broken.jpegThumbnail and broken.seconds == 0
        note = next(m.audioMessage for m in sent if m.HasField("audioMessage"))
        assert note.ptt and note.seconds == 2
        assert any(m.HasField("stickerMessage") for m in sent)

        received = []
        for n in range(4):
            incoming = await bob.running.wait(IncomingMessage, n + 1)
            received.append(await fetcher.stored(bob.engine, bob_session, incoming))
        by_kind = {}
        for got in received:
            assert got.media is not None and got.media.stored is not None
            by_kind.setdefault(got.media.kind, []).append(got.media)
        assert [m.caption for m in by_kind[MediaKind.VIDEO]].count("el taller") == 1
        shown = next(m for m in by_kind[MediaKind.VIDEO] if m.caption == "el taller")
        assert (
            shown.stored is not None and b"".join(store.read(media_object("ten_b", shown.stored.id))) == video
        )
        [kept_sticker] = by_kind[MediaKind.STICKER]
        assert kept_sticker.stored is not None and kept_sticker.stored.mime == "image/webp"
        assert b"".join(store.read(media_object("ten_b", kept_sticker.stored.id))) == sticker
        [kept_voice] = by_kind[MediaKind.AUDIO]
        assert kept_voice.voice and kept_voice.stored is not None and kept_voice.stored.mime == "audio/ogg"
        await alice.running.stop()
        await bob.running.stop()

    with_edge(body)
