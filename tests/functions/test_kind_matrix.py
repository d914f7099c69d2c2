"""Every kind a CRM can ask to send × every provider: accepted and handed to the provider as that kind, or
422 at accept time with the reason (`unsupported_kind`, naming what the provider sends) — never a later
failure. The expected table is written out here, apart from domain/content.py's SENDABLE, so a change to
what a provider may send has to change this test too (README: Content model, Media).

Kinds only ever received (poll votes, button replies, orders, system notices, unsupported) are refused
on every provider.
"""

from __future__ import annotations

import io
import struct
from typing import Any

import pytest
from PIL import Image

from tests.fakes.graph import FakeGraph
from tests.functions.cloud_support import (  # noqa: F401 (*_fixture: fixtures by name)
    call_fixture,
    functions_fixture,
    graph_fixture,
    key_fixture,
    run_cloud_queue,
    session_fixture,
)
from tests.functions.test_content_sends import BUTTONS, LOCATION, TO, post, sent
from tests.functions.test_media_sends import upload
from tests.support.commands import take_commands as drain
from tests.support.lambdas import ApiCaller

LIST = {
    "style": "list",
    "body": "Elige día",
    "button": "Ver días",
    "sections": [{"title": "Días", "rows": [{"id": "mon", "title": "Lunes"}]}],
}
COMPONENTS = [{"type": "header", "parameters": [{"type": "image", "link": "https://cdn.example.com/t.jpg"}]}]
SENDS_EVERYWHERE = {
    "text",
    "image",
    "video",
    "audio",
    "voice",
    "document",
    "sticker",
    "location",
    "contacts",
    "reaction",
    "reply",
    "template",
}
EXPECTED: dict[str, set[str]] = {
    "web": SENDS_EVERYWHERE | {"edit", "delete", "poll"},
    "sandbox": SENDS_EVERYWHERE | {"edit", "delete", "poll"},
    "cloud": SENDS_EVERYWHERE | {"buttons", "list", "template_components"},
}
ALL = sorted(set().union(*EXPECTED.values()) | {"edit", "delete", "poll"})
RECEIVED_ONLY = ["poll_vote", "interactive_reply", "order", "system", "unsupported"]


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 24), (200, 10, 10)).save(out, format="PNG")
    return out.getvalue()


def webp() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 64), (1, 2, 3)).save(out, format="WEBP")
    return out.getvalue()


def mp4() -> bytes:
    return struct.pack(">I", 24) + b"ftypmp42" + b"\x00" * 12 + b"\x00" * 400


def ogg() -> bytes:
    return b"OggS\x00\x02" + b"\x00" * 400


FILES = {  # request name → (bytes, file name, upload form fields)
    "image": (png, "a.png", {}),
    "video": (mp4, "a.mp4", {}),
    "audio": (ogg, "a.ogg", {}),
    "voice": (ogg, "v.ogg", {"voice": "true"}),
    "document": (lambda: b"%PDF-1.4\n%\n", "a.pdf", {}),
    "sticker": (webp, "s.webp", {"kind": "sticker"}),
}
# What the provider is handed for each request: the connector command's content/media kind (web, sandbox)
# or the Graph body's `type` (cloud).
HANDED = {
    "text": "text",
    "image": "image",
    "video": "video",
    "audio": "audio",
    "voice": "audio",
    "document": "document",
    "sticker": "sticker",
    "location": "location",
    "contacts": "contacts",
    "reaction": "reaction",
    "reply": "text",
    "edit": "edit",
    "delete": "delete",
    "poll": "poll",
    "buttons": "interactive",
    "list": "interactive",
    "template": "template",
    "template_components": "template",
}


def body_for(name: str, call: ApiCaller, key: str, provider: str, target: str) -> dict[str, Any]:
    if name in FILES:
        make, filename, fields = FILES[name]
        media = upload(call, key, make(), filename, **fields)
        return {"media": {"upload_id": media["id"]}}
    template = {"name": "cita", "language": "es", "variables": {"1": "Ana"}}
    if provider != "cloud":
        variables = {
            "nombre_cliente": "Ana",
            "fecha_cita": "lunes",
            "hora_cita": "10:00",
            "direccion": "Mayor 1",
        }
        template = {"name": "appointment_reminder", "language": "es", "variables": variables}
    return {
        "text": {"text": "Hola"},
        "location": {"location": LOCATION},
        "contacts": {"contacts": [{"name": "Ana", "phones": [{"phone": "+34600111222"}]}]},
        "reaction": {"reaction": {"target_id": target, "emoji": "👍"}},
        "reply": {"text": "sí", "reply_to": target},
        "edit": {"edit": {"target_id": target, "body": "Hola de nuevo"}},
        "delete": {"delete": {"target_id": target}},
        "poll": {"poll": {"name": "¿Qué día?", "options": ["lunes", "martes"]}},
        "buttons": {"interactive": BUTTONS},
        "list": {"interactive": LIST},
        "template": {"template": template},
        "template_components": {"template": {**template, "components": COMPONENTS}},
    }[name]


def handed_kind(provider: str, data: dict[str, Any]) -> str:
    if provider == "cloud":
        return str(data["type"])
    if "content" in data:
        return str(data["content"]["type"])
    if "media" in data:
        return str(data["media"]["kind"])
    return "text"


@pytest.fixture(params=["web", "sandbox", "cloud"])
def provider(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def world(
    provider: str,
    call: ApiCaller,
    key: str,
    graph: FakeGraph,
    functions: dict[str, Any],
    request: pytest.FixtureRequest,
) -> dict[str, Any]:
    """A session of the provider and a message of ours in the chat with TO, already sent (a target)."""
    if provider == "cloud":
        session = request.getfixturevalue("session")
    else:
        status, session, _ = call("POST", "/v1/sessions", key, body={"name": provider, "provider": provider})
        assert status == 201, session
        drain(session["id"])
    status, target = post(call, key, session["id"], text="Nos vemos el lunes")
    assert status == 202, target
    if provider == "cloud":
        run_cloud_queue(functions)
    else:
        drain(session["id"])
        sent(functions, session, target["id"], "3EB0TARGET", at=target["created_at"])
    assert call("GET", f"/v1/messages/{target['id']}", key)[1]["status"] == "sent"
    return {"session": session, "target": target["id"]}


@pytest.mark.parametrize("name", ALL)
def test_each_kind_is_sent_as_itself_or_refused_at_accept(
    name: str,
    provider: str,
    world: dict[str, Any],
    call: ApiCaller,
    key: str,
    graph: FakeGraph,
    functions: dict[str, Any],
) -> None:
    session = world["session"]
    status, answer = post(call, key, session["id"], **body_for(name, call, key, provider, world["target"]))
    if name not in EXPECTED[provider]:
        assert status == 422, answer
        assert answer["error"]["code"] == "unsupported_kind", answer
        assert f"a {provider} session cannot send" in answer["error"]["message"] or "components" in str(
            answer["error"]["details"]
        )
        assert (drain(session["id"]) if provider != "cloud" else run_cloud_queue(functions)) is not None
        if provider == "cloud":
            assert graph.bodies()[-1]["type"] == "text"  # only the target went to Meta
        return
    assert status == 202, answer
    if provider == "cloud":
        run_cloud_queue(functions)
        handed = graph.bodies()[-1]
        assert call("GET", f"/v1/messages/{answer['id']}", key)[1]["status"] == "sent"
        if name == "reply":
            target = call("GET", f"/v1/messages/{world['target']}", key)[1]
            assert handed["context"] == {"message_id": target["provider_message_id"]}
        if name == "voice":
            assert handed["type"] == "audio"
    else:
        [command] = drain(session["id"])
        handed = command.data
        if name == "voice":
            assert handed["media"]["voice"] is True
        if name == "reply":
            assert "3EB0TARGET" in str(handed), handed  # the quote names the sent message
        if name == "template":  # wagate renders its own templates: WhatsApp gets the text
            assert handed["text"].startswith("Hola Ana, te recordamos tu cita del lunes"), handed
            return
    assert handed_kind(provider, handed) == HANDED[name], handed


@pytest.mark.parametrize("kind", RECEIVED_ONLY)
def test_kinds_only_ever_received_are_refused_everywhere(
    kind: str, provider: str, world: dict[str, Any], call: ApiCaller, key: str
) -> None:
    status, answer = post(call, key, world["session"]["id"], type=kind, text="x")
    assert status == 422, answer
    assert answer["error"]["code"] in ("validation_failed", "unsupported_kind"), answer
    assert TO


def wav() -> bytes:
    import wave

    out = io.BytesIO()
    with wave.open(out, "wb") as sound:
        sound.setnchannels(1)
        sound.setsampwidth(2)
        sound.setframerate(8000)
        sound.writeframes(b"\x00\x00" * 800)
    return out.getvalue()


def gif() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (0, 0, 0)).save(out, format="GIF")
    return out.getvalue()


# Files WhatsApp takes from a linked device but Meta's Cloud API does not (its listed types): refused when
# the message is accepted on cloud, with the types it takes; sent as their kind elsewhere.
CLOUD_REFUSES = {
    "wav audio": (wav, "a.wav", "audio"),
    "webm video": (lambda: b"\x1a\x45\xdf\xa3" + b"\x00" * 300, "a.webm", "video"),
    "quicktime video": (lambda: struct.pack(">I", 20) + b"ftypqt  " + b"\x00" * 300, "a.mov", "video"),
    "gif image": (gif, "a.gif", "image"),
    "webp image": (webp, "a.webp", "image"),
}


@pytest.mark.parametrize("what", sorted(CLOUD_REFUSES))
def test_file_types_meta_refuses_are_422_on_cloud_only(
    what: str, provider: str, world: dict[str, Any], call: ApiCaller, key: str
) -> None:
    make, filename, kind = CLOUD_REFUSES[what]
    media = upload(call, key, make(), filename)
    assert media["kind"] == kind, media
    status, answer = post(call, key, world["session"]["id"], media={"upload_id": media["id"]})
    if provider == "cloud":
        assert status == 422 and answer["error"]["code"] == "media_type_not_supported", answer
        assert answer["error"]["details"]["mime"] == media["mime"] and answer["error"]["details"]["accepted"]
        return
    assert status == 202 and answer["kind"] == kind, answer
    [command] = drain(world["session"]["id"])
    assert command.data["media"]["kind"] == kind
