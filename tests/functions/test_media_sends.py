"""Sending stored files (`media.upload_id` = a media id from POST /v1/media): checked at accept, handed to
the connector by id (never a URL), sent to Meta by a short-lived link to the stored file, and refused at
accept time when the provider would refuse it (Meta's 5 MB image limit, its types)."""

from __future__ import annotations

import hashlib
import io
import json
from typing import Any
from urllib.parse import urlsplit

from PIL import Image

from tests.fakes.graph import FakeGraph
from tests.functions.cloud_support import (  # noqa: F401 (*_fixture: fixtures by name)
    call_fixture,
    functions_fixture,
    graph_fixture,
    key_fixture,
    notification,
    post_webhook,
    run_cloud_queue,
    session_fixture,
)
from tests.functions.test_media_api import multipart, open_link
from tests.functions.test_scheduler import drain_commands
from tests.support.lambdas import ApiCaller
from wagate import wiring


def upload(call: ApiCaller, key: str, data: bytes, name: str, **fields: str) -> dict[str, Any]:
    body, content_type = multipart(data, name, fields)
    status, media, _ = call(
        "POST", "/v1/media", key, binary_body=body, headers={"content-type": content_type}
    )
    assert status == 201, media
    return dict(media)


def webp() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 64), (1, 2, 3)).save(out, format="WEBP")
    return out.getvalue()


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (9, 9, 9)).save(out, format="PNG")
    return out.getvalue()


def test_a_stored_file_goes_to_the_connector_by_id(call: ApiCaller, key: str, local_deps: Any) -> None:
    session = call("POST", "/v1/sessions", key, body={"name": "Desk", "provider": "sandbox"})[1]
    drain_commands(session["id"])
    media = upload(call, key, b"OggS\x00\x02" + b"\x01" * 500, "nota.ogg", voice="true")
    body = {"session_id": session["id"], "to": "+34600123456", "media": {"upload_id": media["id"]}}
    status, message, _ = call("POST", "/v1/messages", key, body=body)
    assert status == 202, message
    assert message["kind"] == "audio" and message["content"]["voice"] is True
    assert message["content"]["media"]["id"] == media["id"]
    [command] = drain_commands(session["id"])
    sent = command.data["media"]
    assert sent["media_id"] == media["id"] and sent["voice"] is True and sent["url"] is None
    assert sent["kind"] == "audio" and sent["mime_type"] == "audio/ogg"
    # the API shows the message with a fresh link to the file
    status, shown, _ = call("GET", f"/v1/messages/{message['id']}", key)
    assert status == 200 and shown["content"]["media"]["url"]
    assert open_link(local_deps, "GET", shown["content"]["media"]["url"]).content.startswith(b"OggS")


def test_unknown_or_foreign_media_is_refused_at_accept(call: ApiCaller, key: str) -> None:
    session = call("POST", "/v1/sessions", key, body={"name": "Desk", "provider": "sandbox"})[1]
    body = {"session_id": session["id"], "to": "+34600123456", "media": {"upload_id": "med_nope"}}
    status, error, _ = call("POST", "/v1/messages", key, body=body)
    assert status == 404 and error["error"]["code"] == "media_not_found"
    _, pending, _ = call("POST", "/v1/uploads", key, body={"size": 10})
    body["media"] = {"upload_id": pending["id"]}
    status, error, _ = call("POST", "/v1/messages", key, body=body)
    assert status == 409 and error["error"]["code"] == "media_not_uploaded"


def test_cloud_sends_a_stored_file_by_link_and_refuses_what_meta_refuses(
    call: ApiCaller, key: str, session: dict[str, Any], graph: FakeGraph, functions: dict[str, Any]
) -> None:
    picture = upload(call, key, png(), "menu.png", filename="Menú.png")
    body = {"session_id": session["id"], "to": "+34600123456", "media": {"upload_id": picture["id"]}}
    status, message, _ = call(
        "POST", "/v1/messages", key, body={**body, "media": {**body["media"], "caption": "hoy"}}
    )
    assert status == 202, message
    run_cloud_queue(functions)
    [sent] = graph.bodies()[-1:]
    assert sent["type"] == "image" and sent["image"]["caption"] == "hoy"
    link = sent["image"]["link"]
    assert urlsplit(link).path.endswith(picture["id"])  # the stored file, by a signed link
    assert open_link(wiring.deps(), "GET", link).content == png()
    assert "mediaKey" not in json.dumps(sent)

    sticker = upload(call, key, webp(), "s.webp")  # a webp is an image on web; Meta takes only jpeg/png
    body["media"] = {"upload_id": sticker["id"]}
    status, error, _ = call("POST", "/v1/messages", key, body=body)
    assert status == 422 and error["error"]["code"] == "media_type_not_supported"


def test_an_incoming_cloud_attachment_is_fetched_into_the_store(
    call: ApiCaller, key: str, session: dict[str, Any], graph: FakeGraph, functions: dict[str, Any]
) -> None:
    picture = png()
    graph.media("65463453", picture, "image/png")
    image = {
        "from": "34600123456",
        "id": "wamid.IMG",
        "timestamp": "1697043379",
        "type": "image",
        "image": {"caption": "mi receta", "mime_type": "image/png", "sha256": "x", "id": "65463453"},
    }
    assert post_webhook(functions, notification(messages=[image]))[0] == 200
    [stored] = call("GET", "/v1/messages", key, query="direction=inbound")[1]["items"]
    media = stored["content"]["media"]
    assert media["kind"] == "image" and media["mime"] == "image/png" and media["size"] == len(picture)
    assert media["sha256"] == hashlib.sha256(picture).hexdigest() and media["caption"] == "mi receta"
    assert open_link(wiring.deps(), "GET", media["url"]).content == picture
    # the download used the session's token, from the URL Graph gave for the media id
    fetched = [r for r in graph.requests if r.url.host == "lookaside.fbsbx.com"]
    assert len(fetched) == 1 and fetched[0].headers["authorization"].startswith("Bearer ")
    # a redelivered webhook stores nothing twice (same message, same media id)
    post_webhook(functions, notification(messages=[image]))
    assert len(call("GET", "/v1/messages", key, query="direction=inbound")[1]["items"]) == 1


def test_a_web_session_refuses_media_by_url_at_accept(call: ApiCaller, key: str) -> None:
    session = call("POST", "/v1/sessions", key, body={"name": "Taller", "provider": "web"})[1]
    body = {
        "session_id": session["id"],
        "to": "+34600123456",
        "media": {"url": "https://cdn.example.com/menu.pdf", "mime": "application/pdf"},
    }
    status, error, _ = call("POST", "/v1/messages", key, body=body)
    assert status == 422 and error["error"]["code"] == "media_url_not_supported"
    assert call("GET", "/v1/messages", key)[1]["items"] == []
