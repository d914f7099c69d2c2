"""Evolution's message, chat and group routes through the authorizer and functions/evolution.

Bodies, statuses and records are Evolution v2's (sendMessage.router.ts answers 201 with the message record,
chat.router.ts, group.router.ts; src/validate/*.schema.ts for what is refused); what they do is wagate's,
checked through /v1 as well.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import http.server
import json
import random
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.functions.test_sessions_api import deliver, event, hold_lease
from tests.support.commands import take_commands
from tests.support.evolution import EvolutionCaller, evolution_event
from tests.support.lambdas import ApiCaller, LambdaContext, load_event
from wagate import wiring
from wagate.domain.events import CommandType, EventType, SessionEvent
from wagate.domain.messages import whatsapp_message_id
from wagate.evolution import instances

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
OGG = b"OggS" + b"\x00" * 60 + b"OpusHead" + bytes(200)
PEER = "+34600999888"
PEER_JID = "34600999888@s.whatsapp.net"


@pytest.fixture(autouse=True)
def short_qr_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(instances, "QR_WAIT_SECONDS", 0.1)


@pytest.fixture
def ana(evo: EvolutionCaller, key: str) -> dict[str, Any]:
    """A sandbox instance (as Evolution's instance/create makes it): its session id and token."""
    status, created, _ = evo(
        "POST", "/instance/create", key, body={"instanceName": "ana", "integration": "WAGATE-SANDBOX"}
    )
    assert status == 201, created
    return {"name": "ana", "id": created["instance"]["instanceId"], "token": created["hash"]}


def incoming(ana: dict[str, Any], provider_id: str, tenant_id: str, **data: Any) -> SessionEvent:
    body = {
        "provider_message_id": provider_id,
        "chat_jid": PEER_JID,
        "sender_jid": PEER_JID,
        "sender_phone": PEER,
        "timestamp": 200.0,
        "text": "Hola",
        "push_name": "Lucía",
        "type": "text",
        **data,
    }
    return SessionEvent(
        type=EventType.INCOMING_MESSAGE,
        tenant_id=tenant_id,
        session_id=ana["id"],
        fence=1,
        at=200.0,
        data=body,
    )


def tenant_of(call: ApiCaller, key: str, ana: dict[str, Any]) -> str:
    return str(call("GET", f"/v1/sessions/{ana['id']}", key)[1]["tenant_id"])


def bad(status_body: tuple[int, Any, Any]) -> list[str]:
    status, body, _ = status_body
    assert status == 400, body
    assert body["status"] == 400 and body["error"] == "Bad Request"
    return list(body["response"]["message"])


# ---- sends ----------------------------------------------------------------------------------------------


def test_send_text_answers_201_with_the_record_and_queues_a_wagate_send(
    evo: EvolutionCaller, call: ApiCaller, key: str, ana: dict[str, Any]
) -> None:
    status, sent, _ = evo(
        "POST", "/message/sendText/ana", ana["token"], body={"number": "34600999888", "text": "Hola"}
    )
    assert status == 201, sent
    assert sent["key"]["remoteJid"] == PEER_JID and sent["key"]["fromMe"] is True
    assert sent["message"] == {"conversation": "Hola"} and sent["messageType"] == "conversation"
    assert sent["status"] == "PENDING" and sent["instanceId"] == ana["id"] and sent["source"] == "web"
    [message] = call("GET", "/v1/messages", key)[1]["items"]
    assert message["to"] == PEER and message["text"] == "Hola" and message["status"] == "queued"
    assert sent["key"]["id"] == whatsapp_message_id(message["id"])
    assert [c.type for c in take_commands(ana["id"]) if c.type != CommandType.CONNECT] == [CommandType.SEND]


def test_a_delay_schedules_the_send(
    evo: EvolutionCaller, call: ApiCaller, key: str, ana: dict[str, Any]
) -> None:
    body = {"number": "34600999888@s.whatsapp.net", "text": "luego", "delay": 120_000}
    status, sent, _ = evo("POST", "/message/sendText/ana", key, body=body)
    assert status == 201 and sent["status"] == "PENDING"
    [message] = call("GET", "/v1/messages", key)[1]["items"]
    assert message["status"] == "scheduled"
    assert 119 <= message["scheduled_at"] - message["created_at"] <= 121


def test_bad_sends_are_400_in_evolutions_shape_and_nothing_is_sent(
    evo: EvolutionCaller, call: ApiCaller, key: str, ana: dict[str, Any]
) -> None:
    assert bad(evo("POST", "/message/sendText/ana", key, body={"number": "34600999888"})) == [
        'instance requires property "text"'
    ]
    assert bad(evo("POST", "/message/sendText/ana", key, body={"number": 34600999888, "text": "x"}))[
        0
    ].startswith("number ")
    assert "LID" in bad(evo("POST", "/message/sendText/ana", key, body={"number": "123@lid", "text": "x"}))[0]
    assert bad(evo("POST", "/message/sendText/ana", key, body={"number": "34600999888", "text": "x" * 5000}))
    assert bad(evo("POST", "/message/sendText/ana", key, raw_body="{nope"))
    quoted = {"number": "34600999888", "text": "x", "quoted": {"key": {"id": "NOPE"}}}
    assert "quoted" in bad(evo("POST", "/message/sendText/ana", key, body=quoted))[0]
    status, body, _ = evo(
        "POST", "/message/sendText/nobody", key, body={"number": "34600999888", "text": "x"}
    )
    assert (status, body["response"]["message"]) == (404, ['The "nobody" instance does not exist'])
    assert call("GET", "/v1/messages", key)[1]["items"] == []


def test_another_instances_token_is_401(evo: EvolutionCaller, key: str, ana: dict[str, Any]) -> None:
    status, other, _ = evo(
        "POST", "/instance/create", key, body={"instanceName": "luis", "integration": "WAGATE-SANDBOX"}
    )
    assert status == 201
    status, body, _ = evo(
        "POST", "/message/sendText/luis", ana["token"], body={"number": "34600999888", "text": "x"}
    )
    assert status == 401 and body["response"]["message"] == "Unauthorized"


def test_send_media_stores_base64_and_multipart_files(
    evo: EvolutionCaller, call: ApiCaller, key: str, ana: dict[str, Any]
) -> None:
    body = {
        "number": "34600999888",
        "mediatype": "image",
        "media": base64.b64encode(PNG).decode(),
        "caption": "receta",
    }
    status, sent, _ = evo("POST", "/message/sendMedia/ana", key, body=body)
    assert status == 201, sent
    image = sent["message"]["imageMessage"]
    assert sent["messageType"] == "imageMessage" and image["caption"] == "receta"
    assert image["mimetype"] == "image/png" and image["fileLength"] == str(len(PNG)) and image["url"]
    assert sent["message"]["mediaUrl"] == image["url"]
    # The official Python client sends a multipart file instead.
    boundary = uuid.uuid4().hex
    parts = [("number", "34600999888"), ("mediatype", "document"), ("fileName", "cita.pdf"), ("delay", "0")]
    payload = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{n}"\r\n\r\n{v}\r\n'.encode()
        for n, v in parts
    )
    payload += (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="file"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + b"%PDF-1.4 hello"
        + f"\r\n--{boundary}--\r\n".encode()
    )
    status, sent = multipart(evo, "/message/sendMedia/ana", key, payload, boundary)
    assert status == 201, sent
    document = sent["message"]["documentMessage"]
    assert document["fileName"] == "cita.pdf" and document["mimetype"] == "application/pdf"
    kinds = [m["kind"] for m in call("GET", "/v1/messages", key)[1]["items"]]
    assert kinds == ["document", "image"]


def multipart(evo: EvolutionCaller, path: str, key: str, payload: bytes, boundary: str) -> tuple[int, Any]:
    """A multipart body through the authorizer and the handler, as API Gateway hands it over (base64)."""
    headers = {"content-type": f"multipart/form-data; boundary={boundary}", "apikey": key}
    auth_event = load_event("authorizer-request")
    auth_event["headers"] = headers
    verdict = evo.authorizer.lambda_handler(auth_event, LambdaContext())
    event = evolution_event("POST", path, headers=headers, authorizer=verdict["context"])
    event["body"] = base64.b64encode(payload).decode()
    event["isBase64Encoded"] = True
    response = evo.evolution.lambda_handler(event, LambdaContext())
    return response["statusCode"], json.loads(response["body"])


def test_media_that_cannot_be_sent_is_a_400_saying_what_to_do(
    evo: EvolutionCaller, key: str, ana: dict[str, Any]
) -> None:
    assert (
        "base64"
        in bad(
            evo(
                "POST",
                "/message/sendMedia/ana",
                key,
                body={"number": "34600999888", "mediatype": "image", "media": "%%%"},
            )
        )[0]
    )
    assert bad(
        evo("POST", "/message/sendMedia/ana", key, body={"number": "34600999888", "mediatype": "image"})
    )
    assert bad(
        evo(
            "POST",
            "/message/sendMedia/ana",
            key,
            body={"number": "34600999888", "mediatype": "gif", "media": "x"},
        )
    )
    # A PNG is not a video: wagate sniffs the bytes.
    wrong = {"number": "34600999888", "mediatype": "video", "media": base64.b64encode(PNG).decode()}
    assert bad(evo("POST", "/message/sendMedia/ana", key, body=wrong))


@pytest.fixture
def files_site() -> Iterator[str]:
    """A web server on 127.0.0.1 serving /receta.png (and 404 for the rest)."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path != "/receta.png":
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(PNG)))
            self.end_headers()
            self.wfile.write(PNG)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_url_on_a_web_instance_is_fetched_and_stored_under_the_url_rules(
    evo: EvolutionCaller, call: ApiCaller, key: str, local_deps: wiring.Deps, files_site: str
) -> None:
    body = {"instanceName": "web", "integration": "WHATSAPP-BAILEYS"}
    assert evo("POST", "/instance/create", key, body=body)[0] == 201
    url = {"number": "34600999888", "mediatype": "image", "media": f"{files_site}/receta.png", "caption": "r"}
    # Loopback and http are refused as for any send by URL...
    assert "media" in bad(evo("POST", "/message/sendMedia/web", key, body=url))[0]
    # ...unless the operator allows them (local testing).
    allowed = local_deps.settings.model_copy(update={"media_allow_http": True, "media_allow_private": True})
    wiring.install(dataclasses.replace(local_deps, settings=allowed))
    status, sent, _ = evo("POST", "/message/sendMedia/web", key, body=url)
    assert status == 201, sent
    image = sent["message"]["imageMessage"]
    assert (
        image["mimetype"] == "image/png" and image["fileLength"] == str(len(PNG)) and image["caption"] == "r"
    )
    [message] = call("GET", "/v1/messages", key)[1]["items"]
    assert message["kind"] == "image"
    assert message["content"]["media"]["sha256"] == hashlib.sha256(PNG).hexdigest()
    missing = {**url, "media": f"{files_site}/nope.png"}
    assert "404" in bad(evo("POST", "/message/sendMedia/web", key, body=missing))[0]


def test_voice_notes_locations_contacts_and_polls(
    evo: EvolutionCaller, call: ApiCaller, key: str, ana: dict[str, Any]
) -> None:
    number = "34600999888"
    audio = {"number": number, "audio": base64.b64encode(OGG).decode()}
    status, sent, _ = evo("POST", "/message/sendWhatsAppAudio/ana", key, body=audio)
    assert status == 201, sent
    assert sent["message"]["audioMessage"]["ptt"] is True
    location = {
        "number": number,
        "latitude": 40.4168,
        "longitude": -3.7038,
        "name": "Taller",
        "address": "Sol 1",
    }
    status, sent, _ = evo("POST", "/message/sendLocation/ana", key, body=location)
    assert status == 201 and sent["message"]["locationMessage"]["degreesLatitude"] == 40.4168
    contact = {
        "number": number,
        "contact": [{"fullName": "Ana Ruiz", "wuid": "34600111222", "phoneNumber": "+34600111222"}],
    }
    status, sent, _ = evo("POST", "/message/sendContact/ana", key, body=contact)
    assert status == 201 and "waid=34600111222" in sent["message"]["contactMessage"]["vcard"]
    poll = {"number": number, "name": "¿Día?", "selectableCount": 1, "values": ["lunes", "martes"]}
    status, sent, _ = evo("POST", "/message/sendPoll/ana", key, body=poll)
    assert status == 201 and sent["messageType"] == "pollCreationMessageV3"
    kinds = [m["kind"] for m in call("GET", "/v1/messages", key)[1]["items"]]
    assert kinds == ["poll", "contacts", "location", "audio"]
    assert bad(
        evo("POST", "/message/sendLocation/ana", key, body={"number": number, "latitude": 1, "longitude": 2})
    )
    assert bad(evo("POST", "/message/sendPoll/ana", key, body={**poll, "values": ["solo"]}))


def test_lists_and_buttons_from_a_linked_device_say_what_to_do(
    evo: EvolutionCaller, key: str, ana: dict[str, Any]
) -> None:
    listing = {
        "number": "34600999888",
        "title": "Menú",
        "footerText": "f",
        "buttonText": "Ver",
        "sections": [{"title": "S", "rows": [{"title": "A", "rowId": "a"}]}],
    }
    assert "sendPoll" in bad(evo("POST", "/message/sendList/ana", key, body=listing))[0]
    buttons = {
        "number": "34600999888",
        "title": "¿Vienes?",
        "buttons": [{"type": "reply", "displayText": "Sí", "id": "y"}],
    }
    assert "WHATSAPP-BUSINESS" in bad(evo("POST", "/message/sendButtons/ana", key, body=buttons))[0]


def test_reactions_and_quotes_name_received_messages_by_whatsapp_id(
    evo: EvolutionCaller, call: ApiCaller, key: str, ana: dict[str, Any], functions: dict[str, Any]
) -> None:
    deliver(functions, incoming(ana, "3A0FIRST", tenant_of(call, key, ana)))
    react = {"key": {"id": "3A0FIRST", "remoteJid": PEER_JID, "fromMe": False}, "reaction": "👍"}
    status, sent, _ = evo("POST", "/message/sendReaction/ana", key, body=react)
    assert status == 201, sent
    assert sent["message"]["reactionMessage"]["key"]["id"] == "3A0FIRST"
    assert sent["message"]["reactionMessage"]["text"] == "👍"
    body = {"number": "34600999888", "text": "¡Claro!", "quoted": {"key": {"id": "3A0FIRST"}}}
    status, sent, _ = evo("POST", "/message/sendText/ana", key, body=body)
    assert status == 201, sent
    assert sent["contextInfo"]["stanzaId"] == "3A0FIRST"
    assert sent["contextInfo"]["quotedMessage"] == {"conversation": "Hola"}
    missing = {"key": {"id": "NOPE", "remoteJid": PEER_JID, "fromMe": False}, "reaction": "👍"}
    assert bad(evo("POST", "/message/sendReaction/ana", key, body=missing))


# ---- chat -----------------------------------------------------------------------------------------------


def test_find_messages_pages_and_filters_like_evolution(
    evo: EvolutionCaller, call: ApiCaller, key: str, ana: dict[str, Any], functions: dict[str, Any]
) -> None:
    tenant = tenant_of(call, key, ana)
    deliver(
        functions, incoming(ana, "3A0IN1", tenant, text="uno"), incoming(ana, "3A0IN2", tenant, text="dos")
    )
    evo("POST", "/message/sendText/ana", key, body={"number": "34600999888", "text": "tres"})
    evo("POST", "/message/sendText/ana", key, body={"number": "34600555444", "text": "otro"})
    status, found, _ = evo(
        "POST", "/chat/findMessages/ana", ana["token"], body={"where": {"key": {"remoteJid": PEER_JID}}}
    )
    assert status == 200, found
    page = found["messages"]
    assert (page["total"], page["pages"], page["currentPage"]) == (3, 1, 1)
    assert [r["message"]["conversation"] for r in page["records"]] == ["tres", "dos", "uno"]
    first = page["records"][2]
    assert (
        first["key"] == {"remoteJid": PEER_JID, "fromMe": False, "id": "3A0IN1"}
        and first["pushName"] == "Lucía"
    )
    assert first["id"].startswith("msg_") and first["MessageUpdate"] == []
    body = {"where": {"key": {"remoteJid": PEER_JID, "fromMe": False}}, "page": 2, "offset": 1}
    page = evo("POST", "/chat/findMessages/ana", key, body=body)[1]["messages"]
    assert (page["total"], page["pages"], page["currentPage"]) == (2, 2, 2)
    assert [r["key"]["id"] for r in page["records"]] == ["3A0IN1"]
    one = evo("POST", "/chat/findMessages/ana", key, body={"where": {"key": {"id": "3A0IN2"}}})[1]["messages"]
    assert [r["message"]["conversation"] for r in one["records"]] == ["dos"]
    everything = evo("POST", "/chat/findMessages/ana", key, body={})[1]["messages"]
    assert everything["total"] == 4
    assert bad(evo("POST", "/chat/findMessages/ana", key, body={"page": 0}))


def test_find_chats_and_contacts(
    evo: EvolutionCaller, call: ApiCaller, key: str, ana: dict[str, Any], functions: dict[str, Any]
) -> None:
    picture = "https://pps.whatsapp.net/v/t61/lucia.jpg"
    deliver(
        functions,
        incoming(ana, "3A0IN1", tenant_of(call, key, ana), text="¿precio?", profile_picture_url=picture),
    )
    evo("POST", "/message/sendText/ana", key, body={"number": "34600555444", "text": "otro"})
    status, chats, _ = evo("POST", "/chat/findChats/ana", key, body={})
    assert status == 200
    assert [c["remoteJid"] for c in chats] == ["34600555444@s.whatsapp.net", PEER_JID]
    lucia = chats[1]
    assert lucia["pushName"] == "Lucía" and lucia["unreadCount"] == 1
    assert lucia["lastMessage"]["message"] == {"conversation": "¿precio?"}
    one = evo("POST", "/chat/findChats/ana", key, body={"where": {"remoteJid": PEER_JID}})[1]
    assert [c["remoteJid"] for c in one] == [PEER_JID]
    status, contacts, _ = evo("POST", "/chat/findContacts/ana", key, body={"where": {"id": PEER_JID}})
    assert status == 200
    assert [(c["remoteJid"], c["pushName"], c["isGroup"]) for c in contacts] == [(PEER_JID, "Lucía", False)]
    assert contacts[0]["profilePicUrl"] == lucia["profilePicUrl"] == picture
    status, found, _ = evo("POST", "/chat/fetchProfilePictureUrl/ana", key, body={"number": "34600999888"})
    assert (status, found) == (200, {"wuid": PEER_JID, "profilePictureUrl": picture})
    unknown = evo("POST", "/chat/fetchProfilePictureUrl/ana", key, body={"number": "34600000001"})[1]
    assert unknown["profilePictureUrl"] is None


def test_mark_as_read_sends_read_receipts_for_the_chat(
    evo: EvolutionCaller, call: ApiCaller, key: str, ana: dict[str, Any], functions: dict[str, Any]
) -> None:
    deliver(functions, incoming(ana, "3A0IN1", tenant_of(call, key, ana)))
    take_commands(ana["id"])
    body = {"readMessages": [{"id": "3A0IN1", "fromMe": False, "remoteJid": PEER_JID}]}
    status, answer, _ = evo("POST", "/chat/markMessageAsRead/ana", key, body=body)
    assert (status, answer) == (201, {"message": "Read messages", "read": "success"})
    [command] = take_commands(ana["id"])
    assert command.type == CommandType.MARK_READ and command.data["message_ids"] == ["3A0IN1"]
    assert call("GET", "/v1/conversations", key)[1]["items"][0]["unread"] == 0
    assert bad(evo("POST", "/chat/markMessageAsRead/ana", key, body={"readMessages": [{"id": "x"}]}))


def test_whatsapp_numbers_answers_what_the_instance_knows(
    evo: EvolutionCaller, call: ApiCaller, key: str, ana: dict[str, Any], functions: dict[str, Any]
) -> None:
    deliver(functions, incoming(ana, "3A0IN1", tenant_of(call, key, ana)))
    body = {"numbers": ["34600999888", "+34 600 555 444", "abc"]}
    status, answers, _ = evo("POST", "/chat/whatsappNumbers/ana", key, body=body)
    assert status == 200
    assert answers[0] == {"exists": True, "jid": PEER_JID, "number": "34600999888", "name": "Lucía"}
    assert answers[1] == {
        "exists": False,
        "jid": "34600555444@s.whatsapp.net",
        "number": "+34 600 555 444",
        "verified": False,
    }
    assert answers[2]["exists"] is False
    assert bad(evo("POST", "/chat/whatsappNumbers/ana", key, body={"numbers": []}))


def test_base64_of_a_stored_attachment(evo: EvolutionCaller, key: str, ana: dict[str, Any]) -> None:
    body = {
        "number": "34600999888",
        "mediatype": "image",
        "media": base64.b64encode(PNG).decode(),
        "caption": "c",
    }
    sent = evo("POST", "/message/sendMedia/ana", key, body=body)[1]
    status, media, _ = evo(
        "POST",
        "/chat/getBase64FromMediaMessage/ana",
        key,
        body={"message": {"key": {"id": sent["key"]["id"]}}},
    )
    assert status == 201, media
    assert base64.b64decode(media["base64"]) == PNG
    assert (
        media["mediaType"] == "imageMessage" and media["mimetype"] == "image/png" and media["caption"] == "c"
    )
    text = evo("POST", "/message/sendText/ana", key, body={"number": "34600999888", "text": "x"})[1]
    assert bad(
        evo(
            "POST",
            "/chat/getBase64FromMediaMessage/ana",
            key,
            body={"message": {"key": {"id": text["key"]["id"]}}},
        )
    ) == ["The message is not of the media type"]
    assert bad(
        evo("POST", "/chat/getBase64FromMediaMessage/ana", key, body={"message": {"key": {"id": "NOPE"}}})
    )


# ---- groups ---------------------------------------------------------------------------------------------


def test_groups_come_from_the_last_sync(
    evo: EvolutionCaller, call: ApiCaller, key: str, ana: dict[str, Any], functions: dict[str, Any]
) -> None:
    assert bad(evo("GET", "/group/fetchAllGroups/ana", key)) == [
        "The getParticipants needs to be informed in the query"
    ]
    status, groups, _ = evo("GET", "/group/fetchAllGroups/ana", key, query="getParticipants=false")
    assert (status, groups) == (200, [])
    synced = SessionEvent(
        type=EventType.GROUPS_SYNCED,
        tenant_id=tenant_of(call, key, ana),
        session_id=ana["id"],
        fence=1,
        at=300.0,
        data={"groups": [{"jid": "120363012345678901@g.us", "subject": "Taller", "participants": 12}]},
    )
    deliver(functions, synced)
    status, groups, _ = evo("GET", "/group/fetchAllGroups/ana", key, query="getParticipants=true")
    assert status == 200
    [group] = groups
    assert (group["id"], group["subject"], group["size"], group["participants"]) == (
        "120363012345678901@g.us",
        "Taller",
        12,
        [],
    )
    status, info, _ = evo("GET", "/group/findGroupInfos/ana", key, query="groupJid=120363012345678901")
    assert status == 200 and info["subject"] == "Taller"
    assert (
        bad(evo("GET", "/group/findGroupInfos/ana", key))[0]
        == "The group id needs to be informed in the query"
    )
    status, body, _ = evo("GET", "/group/findGroupInfos/ana", key, query="groupJid=999@g.us")
    assert status == 404


# ---- odd input ------------------------------------------------------------------------------------------

ROUTES = [
    ("POST", "/message/sendText/ana"),
    ("POST", "/message/sendMedia/ana"),
    ("POST", "/message/sendWhatsAppAudio/ana"),
    ("POST", "/message/sendLocation/ana"),
    ("POST", "/message/sendContact/ana"),
    ("POST", "/message/sendReaction/ana"),
    ("POST", "/message/sendPoll/ana"),
    ("POST", "/message/sendList/ana"),
    ("POST", "/message/sendButtons/ana"),
    ("POST", "/chat/whatsappNumbers/ana"),
    ("POST", "/chat/findMessages/ana"),
    ("POST", "/chat/findChats/ana"),
    ("POST", "/chat/findContacts/ana"),
    ("POST", "/chat/markMessageAsRead/ana"),
    ("POST", "/chat/getBase64FromMediaMessage/ana"),
    ("POST", "/chat/updateMessage/ana"),
    ("DELETE", "/chat/deleteMessageForEveryone/ana"),
    ("POST", "/message/sendSticker/ana"),
    ("POST", "/message/sendTemplate/ana"),
    ("POST", "/group/create/ana"),
    ("POST", "/group/updateGroupSubject/ana"),
    ("POST", "/group/updateGroupDescription/ana"),
    ("POST", "/group/updateParticipant/ana"),
]
FIELDS = [
    "number",
    "text",
    "media",
    "mediatype",
    "audio",
    "latitude",
    "longitude",
    "name",
    "address",
    "contact",
    "key",
    "reaction",
    "values",
    "selectableCount",
    "sections",
    "buttons",
    "title",
    "footerText",
    "buttonText",
    "numbers",
    "where",
    "page",
    "offset",
    "readMessages",
    "message",
    "delay",
    "quoted",
    "id",
    "remoteJid",
    "fromMe",
    "sticker",
    "language",
    "components",
    "subject",
    "description",
    "participants",
    "action",
    "groupJid",
]
ODD_VALUES: list[Any] = [
    None,
    "",
    " ",
    "x",
    "0",
    "34600999888",
    "12@lid",
    "120363012345678901@g.us",
    "a" * 5000,
    -1,
    0,
    2**63,
    1.5,
    True,
    [],
    [""],
    [{}],
    {},
    {"id": ""},
    {"key": {"id": "3A"}},
    {"key": {}},
    {"remoteJid": 5},
    {"gte": "yesterday"},
    {"key": {"remoteJid": "nope"}},
    "data:,",
    "https://",
    "\u0000",
    "🙂" * 40,
    [{"title": "t", "rows": [{"title": "r", "rowId": ""}]}],
    [{"type": "reply"}],
    [{"fullName": "A", "phoneNumber": "1"}],
]


def test_odd_bodies_are_4xx_never_5xx(evo: EvolutionCaller, key: str, ana: dict[str, Any]) -> None:
    """Evolution answers 400 to what its schemas refuse; wagate never answers a body with a 5xx."""

    rng = random.Random(17)
    for _ in range(400):
        method, path = rng.choice(ROUTES)
        body = {name: rng.choice(ODD_VALUES) for name in rng.sample(FIELDS, rng.randint(0, 6))}
        status, answer, _ = evo(method, path, key, body=body)
        assert status < 500, (path, body, answer)
        if status >= 400:
            assert answer["status"] == status and isinstance(answer["response"]["message"], list), answer
    for raw in ("[]", "1", '"x"', "null", "{", '{"number": NaN}'):
        for method, path in ROUTES:
            status, answer, _ = evo(method, path, key, raw_body=raw)
            # `null` is no body: the find routes take none (Evolution's own clients send `{}` or nothing)
            assert 400 <= status < 500 or (raw == "null" and status == 200), (path, raw, answer)


def test_records_read_with_the_official_clients_own_helpers(
    evo: EvolutionCaller, key: str, ana: dict[str, Any]
) -> None:
    """evolutionapi's helpers (called on webhooks and findMessages) read wagate's records."""
    handlers = pytest.importorskip("evolutionapi.typing.message_handlers")
    number = "34600999888"
    png = base64.b64encode(PNG).decode()
    sends = [
        ("sendText", {"number": number, "text": "Hola"}, "Hola"),
        (
            "sendMedia",
            {"number": number, "mediatype": "image", "media": png, "caption": "receta"},
            "[Image] receta",
        ),
        (
            "sendMedia",
            {
                "number": number,
                "mediatype": "document",
                "media": base64.b64encode(b"%PDF-1.4").decode(),
                "fileName": "cita.pdf",
            },
            "[Document] cita.pdf",
        ),
        (
            "sendLocation",
            {"number": number, "latitude": 40.5, "longitude": -3.5, "name": "T", "address": "A"},
            "[Location] Lat: 40.5, Long: -3.5",
        ),
        (
            "sendContact",
            {"number": number, "contact": [{"fullName": "Ana", "phoneNumber": "+34600111222"}]},
            "[Contact] Ana",
        ),
        (
            "sendPoll",
            {"number": number, "name": "¿Día?", "selectableCount": 1, "values": ["a", "b"]},
            "[Poll] ¿Día? (2 options)",
        ),
    ]
    routed: list[str] = []
    router = handlers.MessageRouter()
    router.set_default_handler(lambda data: routed.append(data["messageType"]))
    for route, body, content in sends:
        status, record, _ = evo("POST", f"/message/{route}/ana", key, body=body)
        assert status == 201, record
        assert handlers.get_message_content(record) == content
        router.route(record)
    records = evo("POST", "/chat/findMessages/ana", key, body={})[1]["messages"]["records"]
    assert [handlers.get_message_content(r) for r in reversed(records)] == [c for _, _, c in sends]
    assert routed == [r["messageType"] for r in reversed(records)]
    assert handlers.is_image_message(records[-2]) and handlers.is_poll_message(records[0])


# ---- edits, deletes, stickers, templates, one chat --------------------------------------------------------


def mark_sent(functions: dict[str, Any], tenant: str, ana: dict[str, Any], message_id: str, pid: str) -> None:
    """What the connector reports once WhatsApp took the message."""
    now = wiring.deps().clock.now()
    data = {"message_id": message_id, "provider_message_id": pid, "at": now}
    event = SessionEvent(
        type=EventType.MESSAGE_SENT, tenant_id=tenant, session_id=ana["id"], fence=1, at=now, data=data
    )
    deliver(functions, event)


def test_update_and_delete_a_sent_message(
    evo: EvolutionCaller, call: ApiCaller, key: str, ana: dict[str, Any], functions: dict[str, Any]
) -> None:
    sent = evo("POST", "/message/sendText/ana", key, body={"number": "34600999888", "text": "a las 10"})[1]
    [message] = call("GET", "/v1/messages", key)[1]["items"]
    # Not sent yet: WhatsApp has nothing to edit.
    edit = {
        "number": "34600999888",
        "key": {"id": sent["key"]["id"], "remoteJid": PEER_JID, "fromMe": True},
        "text": "a las 11",
    }
    assert bad(evo("POST", "/chat/updateMessage/ana", key, body=edit))
    mark_sent(functions, tenant_of(call, key, ana), ana, message["id"], sent["key"]["id"])
    status, edited, _ = evo("POST", "/chat/updateMessage/ana", key, body=edit)
    assert status == 200, edited
    assert edited["messageType"] == "protocolMessage"
    change = edited["message"]["protocolMessage"]
    assert change["type"] == "MESSAGE_EDIT" and change["editedMessage"] == {"conversation": "a las 11"}
    assert change["key"]["id"] == sent["key"]["id"] and change["key"]["fromMe"] is True
    gone = {"id": sent["key"]["id"], "remoteJid": PEER_JID, "fromMe": True}
    status, deleted, _ = evo("DELETE", "/chat/deleteMessageForEveryone/ana", key, body=gone)
    assert status == 201, deleted
    assert deleted["message"]["protocolMessage"]["type"] == "REVOKE"
    assert bad(evo("DELETE", "/chat/deleteMessageForEveryone/ana", key, body={**gone, "id": "NOPE"}))
    assert bad(evo("DELETE", "/chat/deleteMessageForEveryone/ana", key, body={"id": "x"}))


def test_stickers_templates_and_one_chat(
    evo: EvolutionCaller, call: ApiCaller, key: str, ana: dict[str, Any], functions: dict[str, Any]
) -> None:
    webp = b"RIFF" + (30).to_bytes(4, "little") + b"WEBPVP8 " + bytes(22)
    sticker = {"number": "34600999888", "sticker": base64.b64encode(webp).decode()}
    status, sent, _ = evo("POST", "/message/sendSticker/ana", key, body=sticker)
    assert status == 201, sent
    assert sent["messageType"] == "stickerMessage"
    assert bad(
        evo(
            "POST",
            "/message/sendSticker/ana",
            key,
            body={**sticker, "sticker": base64.b64encode(PNG).decode()},
        )
    )
    # On a linked device a template is one of the tenant's wagate templates, by name.
    made = {"name": "bienvenida", "language": "es", "body": "¡Bienvenida al centro!"}
    assert call("POST", "/v1/templates", key, body=made)[0] == 201
    template = {"number": "34600999888", "name": "bienvenida", "language": "es"}
    status, sent, _ = evo("POST", "/message/sendTemplate/ana", key, body=template)
    assert status == 201, sent
    assert sent["message"] == {"conversation": "¡Bienvenida al centro!"}
    meta = {**template, "components": [{"type": "body", "parameters": [{"type": "text", "text": "Ana"}]}]}
    assert "Meta" in bad(evo("POST", "/message/sendTemplate/ana", key, body=meta))[0]
    deliver(functions, incoming(ana, "3A0IN1", tenant_of(call, key, ana)))
    status, chat, _ = evo("GET", "/chat/findChatByRemoteJid/ana", key, query=f"remoteJid={PEER_JID}")
    assert status == 200 and chat["remoteJid"] == PEER_JID and chat["unreadMessages"] == 1
    status, none, _ = evo("GET", "/chat/findChatByRemoteJid/ana", key, query="remoteJid=34600000001")
    assert (status, none) == (200, None)
    assert bad(evo("GET", "/chat/findChatByRemoteJid/ana", key))


def test_a_send_on_a_logged_out_instance_is_evolutions_400(
    evo: EvolutionCaller, call: ApiCaller, key: str, ana: dict[str, Any], functions: dict[str, Any]
) -> None:
    session = {"id": ana["id"], "tenant_id": tenant_of(call, key, ana)}
    hold_lease(session)
    deliver(functions, event(session, EventType.CONNECTION_SUCCESS, phone="+15550001111"))
    deliver(functions, event(session, EventType.LOGGED_OUT, reason="unlinked"))
    message = bad(evo("POST", "/message/sendText/ana", key, body={"number": "34600999888", "text": "x"}))[0]
    assert "logged_out" in message and "instance/connect" in message
    assert call("GET", "/v1/messages", key)[1]["items"] == []


def test_lists_and_buttons_go_out_on_a_cloud_instance(
    evo: EvolutionCaller, call: ApiCaller, key: str
) -> None:
    meta = {
        "instanceName": "meta",
        "integration": "WHATSAPP-BUSINESS",
        "token": "EAAG" + "a" * 40,
        "number": "1234567890",
        "businessId": "9876543210",
    }
    assert evo("POST", "/instance/create", key, body=meta)[0] == 201
    listing = {
        "number": "34600999888",
        "title": "Menú",
        "description": "Elige un servicio",
        "footerText": "Centro",
        "buttonText": "Ver",
        "sections": [
            {"title": "Masajes", "rows": [{"title": "Relajante", "description": "60 min", "rowId": "m60"}]}
        ],
    }
    status, sent, _ = evo("POST", "/message/sendList/meta", key, body=listing)
    assert status == 201, sent
    body = sent["message"]["listMessage"]
    assert (body["title"], body["description"], body["buttonText"]) == ("Menú", "Elige un servicio", "Ver")
    assert body["sections"][0]["rows"][0] == {"title": "Relajante", "description": "60 min", "rowId": "m60"}
    buttons = {
        "number": "34600999888",
        "title": "¿Confirmas?",
        "footer": "Centro",
        "buttons": [
            {"type": "reply", "displayText": "Sí", "id": "yes"},
            {"type": "reply", "displayText": "No", "id": "no"},
        ],
    }
    status, sent, _ = evo("POST", "/message/sendButtons/meta", key, body=buttons)
    assert status == 201, sent
    assert [b["buttonId"] for b in sent["message"]["buttonsMessage"]["buttons"]] == ["yes", "no"]
    kinds = [(m["kind"], m["content"]["style"]) for m in call("GET", "/v1/messages", key)[1]["items"]]
    assert kinds == [("interactive", "buttons"), ("interactive", "list")]
    # Meta's own limits (a row title of 24 characters) and what Meta has not (polls) are 400s.
    long_row = {**listing, "sections": [{"title": "S", "rows": [{"title": "x" * 30, "rowId": "a"}]}]}
    assert bad(evo("POST", "/message/sendList/meta", key, body=long_row))
    poll = {"number": "34600999888", "name": "¿Día?", "selectableCount": 1, "values": ["a", "b"]}
    assert "poll" in bad(evo("POST", "/message/sendPoll/meta", key, body=poll))[0]


def test_sends_are_audited_and_evolutions_query_posts_are_not(
    evo: EvolutionCaller, call: ApiCaller, key: str, ana: dict[str, Any]
) -> None:
    evo("POST", "/message/sendText/ana", key, body={"number": "34600999888", "text": "x"})
    for route in ("findMessages", "findChats", "findContacts"):
        assert evo("POST", f"/chat/{route}/ana", key, body={})[0] == 200
    assert evo("POST", "/chat/whatsappNumbers/ana", key, body={"numbers": ["34600999888"]})[0] == 200
    routes = [e["route"] for e in call("GET", "/v1/audit", key)[1]["items"]]
    assert "POST /evolution/message/sendText/{instanceName}" in routes
    assert not [r for r in routes if "/chat/" in r], routes


def test_routes_wagate_does_not_offer_say_why_in_evolutions_shape(
    evo: EvolutionCaller, key: str, ana: dict[str, Any]
) -> None:
    from wagate.evolution.routes.unsupported import NOT_OFFERED

    for (method, route), why in NOT_OFFERED.items():
        status, body, _ = evo(
            method, f"/{route}/ana", key, body={"number": "34600999888"} if method != "GET" else None
        )
        assert (status, body["response"]["message"]) == (400, [f"{route} is not offered by wagate: {why}"]), (
            route
        )
    status, body, _ = evo("POST", "/chat/archiveChat/nobody", key, body={})
    assert status == 404
