"""End to end: the issue's flow through Evolution's official Python client against a `web` instance (wagate's
own WhatsApp Web engine) on the fake edge, with another engine as the contact who reads and answers.

create instance (WHATSAPP-BAILEYS, qrcode) -> the phone scans the QR code it returned -> open -> sendText
(the contact receives it) -> read by the contact -> MESSAGES_UPDATE READ -> the contact answers ->
MESSAGES_UPSERT -> sendMedia (the client's multipart upload; the contact gets the image) -> logout.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.crm_receiver import crm_receiver
from tests.support.serve import Server, wait_for

pytestmark = pytest.mark.e2e

try:
    from connector.engines.events import IncomingMessage
    from tests.e2e.test_serve_web_messaging import CONTACT, CRM, ContactEdgeThread
    from tests.fakes.whatsapp_edge.phone import FakePhone
except ImportError as exc:  # pragma: no cover - depends on `make node`
    pytest.skip(f"the web engine needs the generated protobufs (make node): {exc}", allow_module_level=True)

CONTACT_JID = f"{CONTACT}@s.whatsapp.net"
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
WEBHOOKS_ON_LOOPBACK = {"WAGATE_WEBHOOKS_ALLOW_HTTP": "true", "WAGATE_WEBHOOKS_ALLOW_PRIVATE": "true"}


@pytest.fixture
def edge() -> Iterator[ContactEdgeThread]:
    running = ContactEdgeThread()
    yield running
    running.close()


def test_the_official_client_drives_a_web_instance_on_the_fake_edge(
    tmp_path: Path, edge: ContactEdgeThread
) -> None:
    evolution = pytest.importorskip("evolutionapi.client")
    from evolutionapi.models.instance import InstanceConfig
    from evolutionapi.models.message import MediaMessage, TextMessage
    from evolutionapi.typing.message_handlers import get_message_content
    from evolutionapi.typing.webhook_processor import WebhookEventProcessor

    edge.run(edge.start_contact())
    with (
        crm_receiver() as receiver,
        Server(tmp_path / "data", env={**edge.env, **WEBHOOKS_ON_LOOPBACK}) as server,
    ):
        key = server.create_tenant()
        client = evolution.EvolutionClient(base_url=f"{server.url}/evolution", api_token=key)
        created = client.instances.create_instance(
            InstanceConfig(instanceName="clinic", integration="WHATSAPP-BAILEYS", qrcode=True)
        )
        token = created["hash"]
        hook = {
            "webhook": {
                "enabled": True,
                "url": receiver.url("/crm"),
                "events": ["MESSAGES_UPSERT", "MESSAGES_UPDATE", "SEND_MESSAGE"],
            }
        }
        made = httpx.post(f"{server.url}/evolution/webhook/set/clinic", headers={"apikey": token}, json=hook)
        assert made.status_code == 201, made.text
        receiver.secret("/crm", made.json()["secret"])
        ops = client.instance_operations
        qr = created["qrcode"] or {}
        code = qr.get("code") or wait_for(lambda: ops.connect("clinic", token).get("code"))
        edge.run(FakePhone(edge.edge, CRM).scan(code))
        assert wait_for(
            lambda: ops.get_connection_state("clinic", token)["instance"]["state"] == "open", timeout=30
        )

        sent = client.messages.send_text(
            "clinic", TextMessage(number=CONTACT, text="Su cita es mañana a las 10:00"), token
        )
        assert sent["key"]["remoteJid"] == CONTACT_JID and sent["key"]["fromMe"] is True, sent
        got = edge.run(edge.contact.wait(IncomingMessage))
        assert (got.text, got.provider_message_id) == ("Su cita es mañana a las 10:00", sent["key"]["id"])
        contact = edge.contact.engine
        assert contact is not None
        edge.run(contact.mark_read(got.chat_jid, [got.provider_message_id]))
        edge.run(contact.send_text(f"+{CRM}", "¡Allí estaré!", "reply_1", quoted_id=got.provider_message_id))

        image = client.messages.send_media(
            "clinic",
            MediaMessage(
                number=CONTACT,
                mediatype="image",
                mimetype="image/png",
                caption="el mapa",
                fileName="mapa.png",
            ),
            token,
            file=io.BytesIO(PNG),
        )
        assert image["messageType"] == "imageMessage", image

        seen: dict[str, list[Any]] = {"send.message": [], "messages.update": [], "messages.upsert": []}
        processor = WebhookEventProcessor()
        for name, found in seen.items():
            processor.register(name, found.append)

        def heard() -> bool:
            for name in seen:
                seen[name].clear()
            for call in receiver.at("/crm"):
                processor.process_event(call.body)
            read = any(
                u["keyId"] == sent["key"]["id"] and u["status"] == "READ" for u in seen["messages.update"]
            )
            return read and len(seen["send.message"]) >= 2 and bool(seen["messages.upsert"])

        assert receiver.wait_for(heard, timeout=30), [c.json["event"] for c in receiver.at("/crm")]
        assert receiver.problems() == []
        upsert = seen["messages.upsert"][0]
        assert upsert["key"]["remoteJid"] == CONTACT_JID and upsert["key"]["fromMe"] is False
        assert get_message_content(upsert) == "¡Allí estaré!"
        assert upsert["contextInfo"]["stanzaId"] == sent["key"]["id"]  # the reply quotes our message
        assert upsert["contextInfo"]["quotedMessage"] == {"conversation": "Su cita es mañana a las 10:00"}
        assert [get_message_content(m) for m in seen["send.message"]][:2] == [
            "Su cita es mañana a las 10:00",
            "[Image] el mapa",
        ]
        # The contact's phone got the picture itself.
        pictures = wait_for(
            lambda: [e for e in edge.contact.events if isinstance(e, IncomingMessage) and e.media]
        )
        assert pictures[0].media is not None and pictures[0].media.caption == "el mapa"

        ops.logout("clinic", token)
        assert wait_for(
            lambda: ops.get_connection_state("clinic", token)["instance"]["state"] == "close", timeout=30
        )
    assert edge.edge.violations == []
