"""End to end: `wagate serve` with a real `web` session running a workshop group through the API (seed 002).

The session (paired over the API) creates the group with the contact in it and the CRM's workshop id,
sends to it, promotes the contact; the contact (another WebEngine on the fake edge) renames the group,
which reaches wagate as WhatsApp's `w:gp2` notification and changes the stored group; then the session
removes the contact, whose engine is told it left, and the next group message does not reach it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.support.serve import Server, wait_for

pytestmark = pytest.mark.e2e

try:
    from connector.engines.base import GroupOp
    from connector.engines.events import GroupChanged, IncomingMessage
    from tests.e2e.test_serve_web_messaging import CONTACT, CRM, ContactEdgeThread, edge  # noqa: F401
    from tests.fakes.whatsapp_edge.phone import FakePhone
except ImportError as exc:  # pragma: no cover - depends on `make node`
    pytest.skip(f"the web engine needs the generated protobufs (make node): {exc}", allow_module_level=True)


def _changes(edge: ContactEdgeThread, action: str) -> list[GroupChanged]:
    return [e for e in edge.contact.events if isinstance(e, GroupChanged) and e.action == action]


def _texts(edge: ContactEdgeThread) -> list[str | None]:
    return [e.text for e in edge.contact.events if isinstance(e, IncomingMessage)]


def test_a_workshop_group_created_changed_and_kept_fresh_through_the_api(
    tmp_path: Path, edge: ContactEdgeThread
) -> None:
    edge.run(edge.start_contact())
    with Server(tmp_path / "data", env=edge.env) as server:
        http = server.client(server.create_tenant())
        session = http.post("/v1/sessions", json={"name": "Workshops", "provider": "web"}).json()
        sid = session["id"]
        qr: dict[str, Any] = wait_for(
            lambda: (r := http.get(f"/v1/sessions/{sid}/qr")).status_code == 200 and r.json()
        )
        edge.run(FakePhone(edge.edge, CRM).scan(qr["qr"]))
        wait_for(lambda: http.get(f"/v1/sessions/{sid}").json()["status"] == "connected")

        def finished(response: Any) -> dict[str, Any]:
            assert response.status_code == 202, response.text
            operation = response.json()
            path = f"/v1/sessions/{sid}/group-operations/{operation['id']}"
            done: dict[str, Any] = wait_for(
                lambda: (o := http.get(path).json())["status"] != "pending" and o, timeout=30
            )
            assert done["status"] == "done", done
            return done

        body = {"subject": "Taller 12 mayo", "participants": [f"+{CONTACT}"], "external_id": "workshop_17"}
        created = finished(http.post(f"/v1/sessions/{sid}/groups", json=body))
        chat = created["group_jid"]
        assert [(p["phone"], p["status"]) for p in created["participants"]] == [(f"+{CONTACT}", 200)]
        group = http.get(f"/v1/sessions/{sid}/groups/{chat}").json()
        assert (group["subject"], group["participants"], group["external_id"]) == (
            "Taller 12 mayo",
            2,
            "workshop_17",
        )
        assert {m["phone"]: m["role"] for m in group["members"]} == {
            f"+{CRM}": "superadmin",
            f"+{CONTACT}": None,
        }
        wait_for(lambda: _changes(edge, "created"))

        sent = http.post("/v1/messages", json={"session_id": sid, "to": chat, "text": "Bienvenidos"})
        assert sent.status_code == 202, sent.text
        wait_for(lambda: "Bienvenidos" in _texts(edge), timeout=20)

        promote = {"action": "promote", "participants": [f"+{CONTACT}"]}
        finished(http.post(f"/v1/sessions/{sid}/groups/{chat}/participants", json=promote))
        contact = edge.contact.engine
        assert contact is not None
        edge.run(contact.manage_group(GroupOp("subject", chat, subject="Taller 13 mayo"), "op_contact"))
        renamed = wait_for(
            lambda: (
                (g := http.get(f"/v1/sessions/{sid}/groups/{chat}").json())["subject"] == "Taller 13 mayo"
                and g
            )
        )
        assert renamed["external_id"] == "workshop_17"  # the CRM's link survives what WhatsApp reports

        link = finished(http.post(f"/v1/sessions/{sid}/groups/{chat}/invite-link"))["invite_link"]
        assert link.startswith("https://chat.whatsapp.com/")
        remove = {"action": "remove", "participants": [f"+{CONTACT}"]}
        removed = finished(http.post(f"/v1/sessions/{sid}/groups/{chat}/participants", json=remove))
        assert removed["group"]["participants"] == 1
        wait_for(lambda: _changes(edge, "left"))
        after = http.post(
            "/v1/messages", json={"session_id": sid, "to": chat, "text": "Sólo para quien sigue"}
        )
        message = after.json()
        wait_for(lambda: http.get(f"/v1/messages/{message['id']}").json()["status"] == "sent", timeout=20)
        edge.run(asyncio.sleep(0.5))
        assert "Sólo para quien sigue" not in _texts(edge)
        assert http.get(f"/v1/sessions/{sid}/groups").json()["items"][0]["participants"] == 1
        http.close()
    assert not [e for e in edge.edge.events if e.kind == "stale-sender-key"]
    assert edge.edge.violations == []
    assert edge.edge.unhandled == [], edge.edge.unhandled
