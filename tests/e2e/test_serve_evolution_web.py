"""End to end: an Evolution CRM's instance on the real `web` engine, `wagate serve` on the fake WhatsApp edge.

Only Evolution's routes and `apikey`: create a WHATSAPP-BAILEYS instance with `qrcode: true` (the code the
edge issued), the fake phone scans it, the instance is `open` with its number as `ownerJid`, the CRM's
webhook hears QRCODE_UPDATED and CONNECTION_UPDATE (signed), logout closes it; a second instance links
by the pairing code `instance/connect?number=` answers. Skipped without the generated protobufs.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook

from tests.support.crm_receiver import crm_receiver
from tests.support.serve import Server, wait_for

pytestmark = pytest.mark.e2e

try:
    from connector.engines.web import protos  # noqa: F401  (the generated protobufs load here)
    from tests.fakes.whatsapp_edge.phone import FakePhone
    from tests.support.edge_thread import EdgeThread
except ImportError as exc:  # pragma: no cover - depends on `make node`
    pytest.skip(f"the web engine needs the generated protobufs (make node): {exc}", allow_module_level=True)

ALLOW_LOCAL_WEBHOOKS = {"WAGATE_WEBHOOKS_ALLOW_HTTP": "true", "WAGATE_WEBHOOKS_ALLOW_PRIVATE": "true"}


@pytest.fixture
def edge() -> Iterator[EdgeThread]:
    running = EdgeThread()
    yield running
    running.close()


def state(evolution: httpx.Client, name: str) -> str:
    return str(evolution.get(f"/instance/connectionState/{name}").json()["instance"]["state"])


def test_an_evolution_instance_links_on_the_web_engine(tmp_path: Path, edge: EdgeThread) -> None:
    with (
        crm_receiver() as receiver,
        Server(tmp_path / "data", env={**edge.env, **ALLOW_LOCAL_WEBHOOKS}) as server,
    ):
        key = server.create_tenant()
        evolution = httpx.Client(base_url=f"{server.url}/evolution", headers={"apikey": key}, timeout=30)
        webhook = {
            "url": receiver.url("/evo"),
            "byEvents": True,
            "events": ["QRCODE_UPDATED", "CONNECTION_UPDATE"],
        }
        created = evolution.post(
            "/instance/create",
            json={
                "instanceName": "advisor",
                "integration": "WHATSAPP-BAILEYS",
                "qrcode": True,
                "webhook": webhook,
            },
        )
        assert created.status_code == 201, created.text
        body: dict[str, Any] = created.json()
        for path in ("/evo/qrcode-updated", "/evo/connection-update"):
            receiver.secret(path, body["webhook"]["webhookSecret"])
        qr = body["qrcode"]
        assert qr["base64"].startswith("data:image/png;base64,") and "2@" in qr["code"], qr
        assert body["instance"]["status"] == "connecting"

        jid = edge.run(FakePhone(edge.edge, "34600111222").scan(qr["code"]))
        assert str(jid).startswith("34600111222")
        assert wait_for(lambda: state(evolution, "advisor") == "open", timeout=30)
        [listed] = evolution.get("/instance/fetchInstances", params={"instanceName": "advisor"}).json()
        assert (
            listed["ownerJid"] == "34600111222@s.whatsapp.net" and listed["integration"] == "WHATSAPP-BAILEYS"
        )
        opened = wait_for(lambda: receiver.at("/evo/connection-update"), timeout=30)
        assert opened[0].verified and opened[0].json["data"]["state"] == "open"
        assert opened[0].json["data"]["wuid"] == "34600111222@s.whatsapp.net"
        qr_calls = receiver.at("/evo/qrcode-updated")
        assert qr_calls and "2@" in qr_calls[0].json["data"]["qrcode"]["code"]
        # It may arrive before create answered the secret: verified now, as a CRM would on replay.
        signed = Webhook(body["webhook"]["webhookSecret"])
        assert signed.verify(qr_calls[0].body, qr_calls[0].headers)["event"] == "qrcode.updated"

        logged_out = evolution.delete("/instance/logout/advisor")
        assert logged_out.status_code == 200, logged_out.text
        assert wait_for(lambda: state(evolution, "advisor") == "close", timeout=30)
        closed = wait_for(
            lambda: [r for r in receiver.at("/evo/connection-update") if r.json["data"]["state"] == "close"],
            timeout=30,
        )
        assert closed[0].json["data"]["statusReason"] == 401

        # Linking by phone number: connect?number= answers the pairing code the engine got.
        assert evolution.post("/instance/create", json={"instanceName": "by-code"}).status_code == 201
        answered = evolution.get("/instance/connect/by-code", params={"number": "34600111333"}).json()
        code = answered["pairingCode"] or wait_for(
            lambda: evolution.get("/instance/connect/by-code").json()["pairingCode"], timeout=30
        )
        assert len(code) == 8
        edge.run(FakePhone(edge.edge, "34600111333").enter_code(code))
        assert wait_for(lambda: state(evolution, "by-code") == "open", timeout=30)
        assert edge.edge.unhandled == [] and edge.edge.violations == []
        evolution.close()
