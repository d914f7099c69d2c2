"""A suspended tenant sends nothing on the Cloud API: a send already on the Cloud queue and a scheduled
message falling due during the suspension fail `tenant_suspended` (a `message_status` webhook the CRM
gets, nothing reaches Graph), its running broadcast pauses and goes on after the resume, and a key the
authorizer still trusts cannot send or connect. Real handlers, the fake Graph, a CRM receiver on
127.0.0.1, queues on a fake clock (the delay queue's delays pass when the test says so)."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest

from tests.fakes.graph import FakeGraph
from tests.functions.cloud_support import PNID, create_cloud, run_cloud_queue
from tests.functions.test_broadcasts import run_due_steps
from tests.functions.test_webhook_delivery import Crm, crm  # noqa: F401 (a fixture, by name)
from tests.support.lambdas import load_function
from wagate.compose import services
from wagate.services import tenants

NAMES = ("api", "authorizer", "events", "dispatcher", "webhooks_out", "cloud_send")


@pytest.fixture(scope="module")
def functions() -> dict[str, ModuleType]:
    return {name: load_function(name) for name in NAMES}


def drain(w: Crm, functions: dict[str, ModuleType], rounds: int = 20) -> None:
    """The Cloud queue's Lambda until nothing is left, letting pacing delays pass on the fake clock."""
    for _ in range(rounds):
        run_cloud_queue(functions)
        w.clock.advance(31)


def send(w: Crm, session_id: str, text: str, **body: Any) -> tuple[int, dict[str, Any]]:
    payload = {"session_id": session_id, "to": "+34600123456", "text": text, **body}
    status, answer, _ = w.call("POST", "/v1/messages", w.key, body=payload)
    return status, dict(answer)


def test_a_suspended_tenant_sends_nothing_and_sends_again_once_resumed(
    crm: Crm,  # noqa: F811 (the fixture imported above)
    functions: dict[str, ModuleType],
) -> None:
    graph = FakeGraph()
    graph.number(PNID)
    crm.deps.graph_api = graph.api()
    crm.webhook("/crm", events=["message_status"])
    tenant_id = tenants.authenticate(crm.deps.table, crm.key).tenant_id
    status, session = create_cloud(crm.call, crm.key)
    assert status == 201, session
    run_cloud_queue(functions)  # its token check: connected

    status, queued = send(crm, session["id"], "queued before")
    assert status == 202 and queued["status"] == "queued"
    status, due = send(crm, session["id"], "due during", scheduled_at=crm.clock.now() + 60)
    assert status == 202 and due["status"] == "scheduled"
    # More than a first step's window (20): it is still running when the suspension comes.
    recipients = [{"to": f"+3460010{i:04d}", "variables": {"n": str(i)}} for i in range(25)]
    body = {"session_id": session["id"], "text": "Oferta {n}", "recipients": recipients}
    status, broadcast, _ = crm.call("POST", "/v1/broadcasts", crm.key, body=body)
    assert status == 202, broadcast
    run_due_steps(functions)  # its first step: twenty messages on the Cloud queue
    assert graph.bodies() == []  # nothing sent yet: all of it waits on the Cloud queue

    admin = services().tenant_admin
    admin.suspend(tenant_id)
    # The authorizer still trusts the key for up to a minute: the session rows refuse it meanwhile.
    status, refused = send(crm, session["id"], "during")
    assert (status, refused["error"]["code"]) == (403, "tenant_suspended")
    status, refused, _ = crm.call("POST", f"/v1/sessions/{session['id']}/connect", crm.key)
    assert (status, refused["error"]["code"]) == (403, "tenant_suspended")
    new = {"name": "Another", "provider": "sandbox"}
    status, refused, _ = crm.call("POST", "/v1/sessions", crm.key, body=new)
    assert (status, refused["error"]["code"]) == (403, "tenant_suspended")
    drain(crm, functions)  # the queued sends, the disconnect, and the scheduled message falling due
    run_due_steps(functions)
    drain(crm, functions)
    assert graph.bodies() == []

    messages = services().messages
    for message_id in (queued["id"], due["id"]):
        failed = messages.get(tenant_id, message_id)
        assert failed.status.value == "failed" and failed.error is not None
        assert (failed.error.code, failed.error.retryable) == ("tenant_suspended", True)
    paused = services().broadcasts.get(tenant_id, broadcast["id"])
    assert (paused.status.value, paused.status_reason) == ("paused", "tenant_suspended")
    assert (paused.counts.failed, paused.counts.sent) == (0, 0)  # taken back: sent after the resume
    crm.pump()
    told = [r.json["data"] for r in crm.receiver.delivered("/crm") if r.json["type"] == "message_status"]
    assert {(d["messageId"], d["status"], d["error"]["code"], d["error"]["retryable"]) for d in told} == {
        (queued["id"], "failed", "tenant_suspended", True),
        (due["id"], "failed", "tenant_suspended", True),
    }

    admin.resume(tenant_id)
    crm.functions["authorizer"]._cache.clear()  # a minute later: the key's verdict is asked again
    drain(crm, functions)  # the reconnect's token check
    status, after = send(crm, session["id"], "after the resume")
    assert status == 202, after
    for _ in range(10):  # the broadcast's steps, its taken-back recipients first, as the number sends
        run_due_steps(functions)
        drain(crm, functions, rounds=3)
    sent = sorted(b["text"]["body"] for b in graph.bodies())
    assert sent == sorted([*(f"Oferta {i}" for i in range(25)), "after the resume"])  # each once
    assert services().messages.get(tenant_id, after["id"]).status.value == "sent"
    done = services().broadcasts.get(tenant_id, broadcast["id"])
    assert (done.status.value, done.counts.sent, done.counts.failed) == ("completed", 25, 0)
