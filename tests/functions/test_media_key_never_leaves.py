"""No WhatsApp media key ever leaves the connector: not in an event, an API response, a CRM webhook, a
dashboard push, or any table row (the SQLite files are read byte for byte).

An incoming image goes the whole way: the connector's published event (publisher.event_payload of an
IncomingMessage whose engine-private `fetch` holds the key), the events function, the CRM receiver, the
dashboard, the messages API. A row stored before wagate kept media (WhatsApp's CDN URL with `mediaKey=` in
its fragment) is migrated the first time it is read.
"""

from __future__ import annotations

import base64
import json
import os
import urllib.parse
from pathlib import Path
from typing import Any

from connector.engines.events import IncomingMessage, MediaKind, MediaRef, StoredMedia
from connector.engines.web.content import MediaFetch
from connector.engines.web.media import MediaKind as HostsKind
from connector.engines.web.media import MediaRef as HostsRef
from connector.publisher import event_payload
from tests.fakes.push import RecordingPush
from tests.functions.cloud_support import dashboard
from tests.functions.test_sessions_api import deliver
from tests.functions.test_webhook_delivery import Crm, crm  # noqa: F401 (a fixture, by name)
from tests.support.evolution import EvolutionCaller
from wagate.domain.events import SessionEvent
from wagate.store import keys

KEY = os.urandom(32)
PREVIEW = b"\xff\xd8\xff\xe0" + os.urandom(900)  # the in-message JPEG preview (not a secret)


def spellings(key: bytes) -> list[bytes]:
    """Every way the key could be written down: raw, hex, base64 (standard, URL-safe, URL-encoded)."""
    b64 = base64.b64encode(key)
    return [
        key,
        key.hex().encode(),
        key.hex().upper().encode(),
        b64,
        base64.urlsafe_b64encode(key).rstrip(b"="),
        urllib.parse.quote(b64.decode(), safe="").encode(),
        b"mediaKey",
    ]


def assert_keyless(where: str, data: bytes | str) -> None:
    raw = data.encode() if isinstance(data, str) else data
    for spelling in spellings(KEY):
        assert spelling not in raw, f"{where} holds the media key ({spelling[:12]!r}…)"


def table_files(data_dir: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(data_dir.rglob("*.db*")))


def test_an_incoming_attachment_carries_no_key_anywhere(crm: Crm) -> None:  # noqa: F811
    crm.webhook("/crm")
    dashboard(crm.deps, crm.key)
    session = crm.session
    picture = b"\xff\xd8\xff\xe0" + os.urandom(5000)
    media_id = "med_01JD3Q8K2M4N6P8R0T2V4X6Z8C"
    assert crm.deps.media_store is not None
    crm.deps.media_store.put(
        keys.media_object(session["tenant_id"], media_id), [picture], content_type="image/jpeg"
    )
    incoming = IncomingMessage(
        provider_message_id="3EB0IMAGE",
        chat_jid="34600123456@s.whatsapp.net",
        sender_jid="34600123456@s.whatsapp.net",
        sender_phone="+34600123456",
        timestamp=crm.clock.now(),
        media=MediaRef(
            kind=MediaKind.IMAGE,
            mime_type="image/jpeg",
            size=len(picture),
            caption="la receta",
            thumbnail=base64.b64encode(PREVIEW).decode(),
            fetch=MediaFetch(HostsRef(media_key=KEY, direct_path="/v/t62/x"), HostsKind.IMAGE),
            stored=StoredMedia(media_id, mime="image/jpeg", size=len(picture), sha256="ab" * 32),
        ),
    )
    kind, data = event_payload(incoming)  # what the connector publishes
    assert_keyless("the published event", json.dumps(data))
    event = SessionEvent(
        type=kind,
        tenant_id=session["tenant_id"],
        session_id=session["id"],
        fence=1,
        at=crm.clock.now(),
        data=data,
    )
    assert not deliver(crm.functions, event)["batchItemFailures"]
    crm.pump()
    [webhook] = crm.receiver.delivered("/crm")
    assert_keyless("the CRM webhook", webhook.body)
    sent = webhook.json["data"]["media"]
    assert sent["id"] == media_id and sent["kind"] == "image" and sent["url"]
    # WhatsApp's own small preview rides along (a data: URL), for a CRM or dashboard to show at once.
    assert sent["thumbnail"] == "data:image/jpeg;base64," + base64.b64encode(PREVIEW).decode()
    push = crm.deps.push
    assert isinstance(push, RecordingPush)
    assert_keyless("the dashboard push", json.dumps(push.to("dash=")))
    status, listed, _ = crm.call("GET", "/v1/messages", crm.key)
    assert status == 200
    assert_keyless("GET /v1/messages", json.dumps(listed))
    [message] = listed["items"]
    assert message["content"]["media"]["id"] == media_id and message["content"]["media"]["url"]
    assert message["content"]["media"]["thumbnail"] == sent["thumbnail"]
    assert message["media"]["upload_id"] == media_id and message["media"]["url"] is None
    assert_keyless(
        "GET /v1/messages/{id}", json.dumps(crm.call("GET", f"/v1/messages/{message['id']}", crm.key)[1])
    )
    assert_keyless("GET /v1/media/{id}", json.dumps(crm.call("GET", f"/v1/media/{media_id}", crm.key)[1]))
    # Evolution's records (evolution/shapes.py) carry wagate's link and the file's hash, never the key.
    evo = EvolutionCaller(crm.functions["evolution"], crm.functions["authorizer"])
    name = session["name"]
    found = evo("POST", f"/chat/findMessages/{name}", crm.key, body={})[1]
    [record] = found["messages"]["records"]
    assert record["messageType"] == "imageMessage" and record["message"]["imageMessage"]["url"]
    assert_keyless("Evolution's findMessages", json.dumps(found))
    assert_keyless(
        "Evolution's findChats", json.dumps(evo("POST", f"/chat/findChats/{name}", crm.key, body={})[1])
    )
    base64_body = {"message": {"key": {"id": "3EB0IMAGE"}}}
    media = evo("POST", f"/chat/getBase64FromMediaMessage/{name}", crm.key, body=base64_body)[1]
    assert base64.b64decode(media["base64"]) == picture
    assert_keyless("the table and queue files", table_files(crm.deps.settings.data_dir))


def test_a_row_stored_with_the_key_is_migrated_when_read(crm: Crm) -> None:  # noqa: F811
    session = crm.session
    crm.event()  # one ordinary incoming message, then made into what older versions stored
    [message] = crm.call("GET", "/v1/messages", crm.key)[1]["items"]
    row = crm.deps.table.get(*keys.message(session["tenant_id"], message["id"]))
    assert row is not None
    fragment = urllib.parse.urlencode(
        {"directPath": "/v/t62/abc", "mediaKey": base64.b64encode(KEY).decode(), "encSha256": "x"}
    )
    legacy: dict[str, Any] = {
        **row,
        "kind": "image",
        "media": {"url": f"https://mmg.whatsapp.net/v/t62/abc#{fragment}", "mime": "image/jpeg"},
    }
    crm.deps.table.put(legacy)
    status, listed, _ = crm.call("GET", "/v1/messages", crm.key)
    assert status == 200
    assert_keyless("GET /v1/messages of a legacy row", json.dumps(listed))
    assert listed["items"][0]["media"]["url"] is None
    migrated = crm.deps.table.get(*keys.message(session["tenant_id"], message["id"]))
    assert migrated is not None and migrated["media"]["url"] is None
    assert_keyless("the migrated row", json.dumps(migrated))


def test_only_a_small_jpeg_preview_is_passed_on() -> None:
    from wagate.domain.media import thumbnail_data_url

    jpeg = base64.b64encode(b"\xff\xd8\xff\xe0" + b"\x01" * 100).decode()
    assert thumbnail_data_url(jpeg) == "data:image/jpeg;base64," + jpeg
    assert thumbnail_data_url(base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 10).decode()) is None
    assert thumbnail_data_url("not base64!") is None and thumbnail_data_url(None) is None
    assert thumbnail_data_url(base64.b64encode(b"\xff\xd8" + b"\x00" * 17_000).decode()) is None
    assert thumbnail_data_url(base64.b64encode(b"\xff\xd8" + b"\x00" * (16 * 1024 - 2)).decode())
