"""`wagate canary`'s report logic, against the fake edge only (the canary itself needs the real WhatsApp and
a person, so it never runs in CI): a full pass (link by QR scanned by the fake phone, send, delivery
receipt, the contact's reply, unlink), and a failing send reported as FAIL without an exception."""

from __future__ import annotations

import asyncio
import json

import pytest

pytest.importorskip(
    "connector.engines.web.proto.WAProto_pb2",
    reason="the WhatsApp protobufs are not generated (python -m connector.engines.web.proto.build)",
)

from connector.engines.events import IncomingMessage
from local.canary import run_canary
from tests.connector.web.harness import Harness, with_edge
from tests.fakes.whatsapp_edge import FakePhone

SPARE, CONTACT = "15550007777", "15550008888"


def _scanner(h: Harness, said: list[str], tasks: list[asyncio.Task[object]]) -> object:
    def say(text: str) -> None:
        said.append(text)
        if text.startswith("Scan"):  # the last line is the QR code's text
            qr = text.rsplit("\n", 1)[-1]
            tasks.append(asyncio.get_running_loop().create_task(FakePhone(h.edge, SPARE).scan(qr)))

    return say


def test_a_canary_run_links_sends_receives_and_reports_pass() -> None:
    async def body(h: Harness) -> None:
        contact = await h.linked(CONTACT, "ses_contact")

        async def reply() -> None:
            got = await contact.running.wait(IncomingMessage, timeout=30)
            await contact.engine.send_text(f"+{SPARE}", "¡recibido!", "canary_reply")
            assert "please reply" in (got.text or "")

        replying = asyncio.get_running_loop().create_task(reply())
        said: list[str] = []
        tasks: list[asyncio.Task[object]] = []
        report = await run_canary(
            h.settings,
            to=f"+{CONTACT}",
            say=_scanner(h, said, tasks),
            timeout=20,  # type: ignore[arg-type]
        )
        await replying
        assert [s.name for s in report.steps] == ["link", "send", "delivered", "receive", "unlink"], (
            report.text()
        )
        assert report.ok, report.text()
        assert report.steps[0].detail == f"connected as +{SPARE}"
        assert report.steps[2].detail == "delivered" and "'¡recibido!'" in report.steps[3].detail
        assert report.version and report.text().endswith("result: PASS")
        assert json.loads(report.to_json())["ok"] is True
        assert any("Now reply" in line for line in said)
        # Unlinked at the end: the edge removed the canary's device.
        await h.edge.wait_for("closed")
        assert [d for d in h.edge.state.accounts[SPARE].active_devices() if not d.primary] == []
        await contact.running.stop()

    with_edge(body)


def test_a_failed_send_is_a_failed_report_not_an_exception() -> None:
    async def body(h: Harness) -> None:
        said: list[str] = []
        tasks: list[asyncio.Task[object]] = []
        report = await run_canary(
            h.settings,
            to="+15550009999",
            say=_scanner(h, said, tasks),
            timeout=20,  # type: ignore[arg-type]
        )
        assert [(s.name, s.ok) for s in report.steps] == [("link", True), ("send", False), ("unlink", True)]
        assert "not_on_whatsapp" in report.steps[1].detail or "not on WhatsApp" in report.steps[1].detail
        assert not report.ok and "FAIL" in report.text()

    with_edge(body)
