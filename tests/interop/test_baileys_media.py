"""Attachments both ways with a real Baileys client, through the fake edge and its media hosts (TLS, auth,
hash checks): Baileys sends an image, a document and a voice note, and the connector downloads, decrypts,
verifies and stores the very bytes; wagate sends the same kinds and Baileys downloads and decrypts them."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import pytest

pytest.importorskip(
    "connector.engines.web.proto.WAProto_pb2",
    reason="the WhatsApp protobufs are not generated (python -m connector.engines.web.proto.build)",
)

from PIL import Image

from connector.engines.base import OutgoingMedia, SessionInfo
from connector.engines.events import IncomingMessage, MediaKind
from connector.media_fetch import MediaFetcher
from tests.connector.web.harness import Harness, with_edge
from tests.interop.test_baileys_messaging import OURS, THEIRS, start_baileys
from wagate.adapters.local.dir_media import DirMediaStore
from wagate.store.keys import media_object

pytestmark = pytest.mark.interop


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (320, 200), (240, 90, 20)).save(out, format="JPEG", quality=85)
    return out.getvalue()


def test_image_document_and_voice_note_both_ways(interop_dir: Path, tmp_path: Path) -> None:
    store = DirMediaStore(tmp_path / "media", signing_key=os.urandom(32), base_url="http://wagate.test")
    fetcher = MediaFetcher(store)
    picture, pdf = jpeg(), b"%PDF-1.7\n" + os.urandom(200_000)
    voice = b"OggS\x00\x02" + os.urandom(30_000)
    sends = [
        ({"kind": "image", "caption": "desde Baileys"}, picture, MediaKind.IMAGE),
        (
            {"kind": "document", "fileName": "Factura.pdf", "mimetype": "application/pdf"},
            pdf,
            MediaKind.DOCUMENT,
        ),
        ({"kind": "audio", "mimetype": "audio/ogg; codecs=opus", "ptt": True}, voice, MediaKind.AUDIO),
    ]

    async def body(h: Harness) -> None:
        ours = await h.linked(OURS, "ses_ours")
        baileys = await start_baileys(h, interop_dir)
        session = SessionInfo("ten_1", "ses_ours", "web")
        try:
            # Baileys → wagate: stored decrypted, byte for byte
            for fields, data, kind in sends:
                sent = await baileys.command(
                    {"sendMedia": {"to": f"{OURS}@s.whatsapp.net", "hex": data.hex(), **fields}}, "sent"
                )
                got = await ours.running.wait_where(
                    IncomingMessage, lambda m, i=sent["id"]: m.provider_message_id == i
                )
                stored = await fetcher.stored(ours.engine, session, got)
                assert stored.media is not None and stored.media.kind is kind
                assert stored.media.stored is not None and stored.media.stored.id is not None, (
                    stored.media.stored
                )
                assert b"".join(store.read(media_object("ten_1", stored.media.stored.id))) == data
                assert stored.media.stored.sha256 == hashlib.sha256(data).hexdigest()
                if kind is MediaKind.AUDIO:
                    assert stored.media.voice
                if kind is MediaKind.IMAGE:
                    assert stored.media.caption == "desde Baileys"
                if kind is MediaKind.DOCUMENT:
                    assert stored.media.filename == "Factura.pdf"

            # wagate → Baileys: it downloads and decrypts what we uploaded
            ours_sends = [
                OutgoingMedia(MediaKind.IMAGE, "image/jpeg", data=picture, caption="desde wagate"),
                OutgoingMedia(MediaKind.DOCUMENT, "application/pdf", data=pdf, filename="Presupuesto.pdf"),
                OutgoingMedia(MediaKind.AUDIO, "audio/ogg; codecs=opus", data=voice, voice=True),
            ]
            for n, media in enumerate(ours_sends):
                result = await ours.engine.send_media(f"+{THEIRS}", media, f"msg_media_{n}")
                shown = await baileys.until(
                    "media", lambda m, i=result.provider_message_id: m["id"] == i, timeout=30
                )
                data = {MediaKind.IMAGE: picture, MediaKind.DOCUMENT: pdf, MediaKind.AUDIO: voice}[media.kind]
                assert shown["sha256"] == hashlib.sha256(data).hexdigest() and shown["length"] == len(data)
                assert shown["kind"] == media.kind.value
                if media.kind is MediaKind.IMAGE:
                    assert shown["caption"] == "desde wagate" and shown["thumbnail"] > 0
                if media.kind is MediaKind.DOCUMENT:
                    assert shown["fileName"] == "Presupuesto.pdf"
                if media.kind is MediaKind.AUDIO:
                    assert shown["ptt"] is True
        finally:
            await baileys.node.close({"end": True})
            await ours.running.stop()
        assert h.edge.phone(THEIRS).errors == [] and h.edge.phone(OURS).errors == []
        assert not h.edge.media.refused

    with_edge(body)
