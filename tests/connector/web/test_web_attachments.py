"""Attachments both ways between two web engines through the fake edge and its media hosts (TLS, hash and
auth checks): send_media uploads with the right media type, the receiving connector downloads, decrypts,
verifies and stores the file, and what it publishes carries no WhatsApp media key."""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path

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
