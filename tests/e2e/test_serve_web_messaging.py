"""End to end: `wagate serve` with a real `web` session messaging a second engine through the fake edge.

The counterparty is another WebEngine (a pre-linked device of its own number) running on the fake edge's
event loop. The test pairs a web session over the API (its QR scanned by the fake phone), sends a message
with POST /v1/messages, sees it `delivered` (the counterparty's delivery receipt) and then `read` (its
read receipt), and the counterparty's reply arrives as an inbound message in the conversation.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.support.serve import Server, wait_for

pytestmark = pytest.mark.e2e
T = TypeVar("T")

try:
    from connector.engines.base import SessionInfo
    from connector.engines.events import Connected, EngineEvent, IncomingMessage
    from connector.engines.web.engine import WebEngine
    from connector.engines.web.settings import WebSettings
    from tests.fakes.whatsapp_edge.linked import link_device
    from tests.fakes.whatsapp_edge.phone import FakePhone
    from tests.support.edge_thread import EdgeThread
except ImportError as exc:  # pragma: no cover - depends on `make node`
    pytest.skip(f"the web engine needs the generated protobufs (make node): {exc}", allow_module_level=True)

CRM, CONTACT = "34600111222", "34600999888"


@dataclass
class Contact:
    """The other side: a WebEngine on the edge's loop, collecting what it is told."""

    engine: WebEngine | None = None
    task: asyncio.Task[Any] | None = None
    events: list[EngineEvent] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def emit(self, event: EngineEvent) -> None:
        self.events.append(event)
        self.changed.set()

    async def wait(self, kind: type[T]) -> T:
        async with asyncio.timeout(20):
            while not (found := [e for e in self.events if isinstance(e, kind)]):
                self.changed.clear()
                await self.changed.wait()
        return found[0]


class ContactEdgeThread(EdgeThread):
    """The fake edge and the contact's engine on their own event loop; the test stays synchronous."""

    def __init__(self) -> None:
        super().__init__()
        self.contact = Contact()

    async def start_contact(self) -> None:
        device = link_device(CONTACT)
        self.edge.provision(device.edge_record)
        settings = WebSettings(
            url=self.edge.url,
            ca_file=self.edge.ca_file,
            wa_version_url=self.edge.version_url,
            noise_root_key=self.edge.root_public,
            proxy="none",
        )
        session = SessionInfo("ten_contact", "ses_contact", "web")
        contact = self.contact
        contact.engine = WebEngine(session, await device.keys("ses_contact"), contact.emit, settings=settings)
        contact.task = asyncio.get_running_loop().create_task(contact.engine.run())
        await contact.wait(Connected)

    async def stop_contact(self) -> None:
        if self.contact.engine is not None and self.contact.task is not None:
            await self.contact.engine.stop()
            await asyncio.wait_for(self.contact.task, 10)

    def close(self) -> None:
        self.run(self.stop_contact())
        super().close()


@pytest.fixture
def edge() -> Iterator[ContactEdgeThread]:
    running = ContactEdgeThread()
    yield running
    running.close()


def test_a_web_session_sends_gets_receipts_and_a_reply(tmp_path: Path, edge: ContactEdgeThread) -> None:
    edge.run(edge.start_contact())
    env = edge.env
    with Server(tmp_path / "data", env=env) as server:
        http = server.client(server.create_tenant())
        session = http.post("/v1/sessions", json={"name": "Clinic", "provider": "web"}).json()
        qr: dict[str, Any] = wait_for(
            lambda: (r := http.get(f"/v1/sessions/{session['id']}/qr")).status_code == 200 and r.json()
        )
        edge.run(FakePhone(edge.edge, CRM).scan(qr["qr"]))
        wait_for(lambda: http.get(f"/v1/sessions/{session['id']}").json()["status"] == "connected")

        body = {"session_id": session["id"], "to": f"+{CONTACT}", "text": "Su cita es mañana a las 10:00"}
        message = http.post("/v1/messages", json=body).json()
        got = edge.run(edge.contact.wait(IncomingMessage))
        assert (got.text, got.sender_phone) == (body["text"], f"+{CRM}")
        delivered = wait_for(
            lambda: (m := http.get(f"/v1/messages/{message['id']}").json())["status"] == "delivered" and m
        )
        assert delivered["provider_message_id"] == got.provider_message_id

        contact = edge.contact.engine
        assert contact is not None
        edge.run(contact.mark_read(got.chat_jid, [got.provider_message_id]))
        read = wait_for(
            lambda: (m := http.get(f"/v1/messages/{message['id']}").json())["status"] == "read" and m
        )
        assert read["delivered_at"] is not None and read["read_at"] is not None

        edge.run(contact.send_text(f"+{CRM}", "¡Allí estaré!", "reply_1", quoted_id=got.provider_message_id))
        inbox = wait_for(lambda: http.get("/v1/conversations").json()["items"])
        assert inbox[0]["chat"] == f"+{CONTACT}"
        inbound = wait_for(
            lambda: [
                m
                for m in http.get(f"/v1/conversations/{inbox[0]['id']}/messages").json()["items"]
                if m["direction"] == "inbound"
            ]
        )
        assert inbound[0]["text"] == "¡Allí estaré!" and inbound[0]["from"] == f"+{CONTACT}"
        http.close()
    assert edge.edge.violations == []
    assert edge.edge.unhandled == [], edge.edge.unhandled
