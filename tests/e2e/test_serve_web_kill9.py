"""kill -9 of `wagate serve` in the middle of a burst of inbound WhatsApp messages: none lost, none twice.

A contact (another WebEngine on the fake edge, over TLS) writes a burst to a linked `web` session; the
process is killed -9 by the fake edge at the very instant it records the session's ack of the
KILL_AT-th message (the most dangerous moment: an engine that acks before its event is queued loses that
message here), while the contact keeps writing; the process is started again on the same data dir.
The fake edge keeps every stanza the engine had not acked and delivers it again at the next login, as
WhatsApp does. Every message must reach the CRM's webhook exactly once (one webhook id per provider
message id; a webhook in flight at the kill may be retried with its id) and be stored once. This holds
only because the engine acks a stanza after its event is durably queued, and keeps the plaintext of what
it decrypted until then (tests/connector/web/test_web_durability.py shows each half failing on its own;
with acks before the queue, this test loses the killed-at message in about half the runs).
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from tests.support.crm_receiver import crm_receiver
from tests.support.serve import Server, wait_for

pytestmark = pytest.mark.e2e

try:
    from tests.e2e.test_serve_web_messaging import CRM, ContactEdgeThread
    from tests.fakes.whatsapp_edge.phone import FakePhone
except ImportError as exc:  # pragma: no cover - depends on `make node`
    pytest.skip(f"the web engine needs the generated protobufs (make node): {exc}", allow_module_level=True)

BURST = 60
KILL_AT = 8  # the session's ack of this many messages: kill -9 on the spot
ENV = {"WAGATE_WEBHOOKS_ALLOW_HTTP": "true", "WAGATE_WEBHOOKS_ALLOW_PRIVATE": "true"}


def test_kill_9_mid_burst_loses_no_inbound_message_and_repeats_none(tmp_path: Path) -> None:
    edge = ContactEdgeThread()
    try:
        edge.run(edge.start_contact())
        env = {**edge.env, **ENV}
        data = tmp_path / "data"
        with crm_receiver() as crm:
            first = Server(data, env=env).start()
            try:
                key = first.create_tenant()
                with first.client(key) as http:
                    session = http.post("/v1/sessions", json={"name": "Clinic", "provider": "web"}).json()
                    sid = session["id"]
                    qr: dict[str, Any] = wait_for(
                        lambda: (r := http.get(f"/v1/sessions/{sid}/qr")).status_code == 200 and r.json()
                    )
                    device = edge.run(FakePhone(edge.edge, CRM).scan(qr["qr"]))
                    wait_for(lambda: http.get(f"/v1/sessions/{sid}").json()["status"] == "connected")
                    hook = http.post(
                        "/v1/webhooks", json={"url": crm.url("/crm"), "events": ["incoming_message"]}
                    )
                    assert hook.status_code == 201, hook.text
                    crm.secret("/crm", hook.json()["secret"])

                process = first.process
                assert process is not None
                acks: list[str] = []

                def kill_at_ack(event: Any) -> None:
                    if event.kind == "ack" and event.jid == device and event.detail.startswith("message "):
                        acks.append(event.detail)
                        if len(acks) == KILL_AT:
                            os.kill(process.pid, signal.SIGKILL)

                edge.edge.watchers.append(kill_at_ack)
                burst = asyncio.run_coroutine_threadsafe(_write_burst(edge), edge.loop)
                process.wait(timeout=60)
            finally:
                first.stop(signal.SIGKILL)
            at_kill = len(crm.delivered("/crm"))
            sent = burst.result(timeout=60)  # the contact goes on writing to a dead connector
            assert len(sent) == BURST

            with Server(data, env=env) as second, second.client(key) as http:
                assert crm.wait_for(lambda: len(_by_provider_id(crm)) == BURST, timeout=60), (
                    f"{len(_by_provider_id(crm))} of {BURST} reached the CRM ({at_kill} before the kill)"
                )
                conversation = wait_for(lambda: http.get("/v1/conversations").json()["items"])[0]
                stored = wait_for(
                    lambda: (
                        len(items := _inbound(http, conversation["id"])) >= BURST and items  # noqa: B023
                    ),
                    20,
                )
        by_id = _by_provider_id(crm)
        assert set(by_id) == set(sent)
        repeated = {pid: hooks for pid, hooks in by_id.items() if len(hooks) != 1}
        assert repeated == {}, f"delivered to the CRM under more than one webhook id: {repeated}"
        assert crm.problems() == []
        assert sorted(m["provider_message_id"] for m in stored) == sorted(sent)
        assert [m["text"] for m in sorted(stored, key=lambda m: int(m["text"].split()[-1]))] == [
            f"mensaje {n}" for n in range(BURST)
        ]
        assert len(acks) >= KILL_AT and at_kill < BURST, "no kill mid-burst: the test proves nothing"
        redelivered = [e for e in edge.edge.events if e.kind == "login" and e.jid is not None]
        assert len(redelivered) >= 2
        assert edge.edge.violations == []
        assert edge.edge.unhandled == [], edge.edge.unhandled
    finally:
        edge.close()


async def _write_burst(edge: ContactEdgeThread) -> list[str]:
    contact = edge.contact.engine
    assert contact is not None
    sent = []
    for n in range(BURST):
        result = await contact.send_text(f"+{CRM}", f"mensaje {n}", f"burst_{n}")
        sent.append(result.provider_message_id)
        await asyncio.sleep(0.02)
    return sent


def _by_provider_id(crm: Any) -> dict[str, set[str]]:
    hooks: dict[str, set[str]] = {}
    for received in crm.delivered("/crm"):
        data = received.json.get("data", received.json)
        pid = data.get("provider_message_id")
        if pid:
            hooks.setdefault(pid, set()).add(received.webhook_id)
    return hooks


def _inbound(http: Any, conversation_id: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        params = {"limit": 100, **({"cursor": cursor} if cursor else {})}
        page = http.get(f"/v1/conversations/{conversation_id}/messages", params=params).json()
        items += [m for m in page["items"] if m["direction"] == "inbound"]
        cursor = page.get("next_cursor")
        if not cursor:
            return items
