"""Exactly-once notifications: a failure between storing a change and telling about it loses nothing and
sends nothing twice. On every path (connector events: incoming messages, message_sent, statuses, session
state; Meta's webhooks: incoming messages and statuses) the first attempt stores its change and then fails
to notify; the retry finds the change stored and emits what is still owed: the CRM receives each event
exactly once (one delivery, one POST) and the dashboard gets its push. A writer that dies outright leaves
its row to the sweeper.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from tests.fakes.graph import FakeGraph
from tests.fakes.push import RecordingPush
from tests.functions.cloud_support import (
    PNID,
    create_cloud,
    dashboard,
    notification,
    post_webhook,
    run_cloud_queue,
    status_update,
    text_message,
)
from tests.functions.test_conversations_api import incoming
from tests.functions.test_sessions_api import deliver
from tests.functions.test_webhook_delivery import Crm, crm  # noqa: F401 (a fixture, by name)
from tests.support.lambdas import LambdaContext, load_function
from wagate.domain.events import EventType, SessionEvent
from wagate.domain.messages import whatsapp_message_id
from wagate.services import connector_events, outbox


@pytest.fixture
def everything(functions: dict[str, Any]) -> dict[str, Any]:
    return {
        **functions,
        "meta_webhooks": load_function("meta_webhooks"),
        "cloud_send": load_function("cloud_send"),
    }


class Flaky:
    """ConnectorEvents.emit failing `times` times, then the real one: a failure after the commit."""

    def __init__(self, times: int) -> None:
        self.real: Callable[..., None] = connector_events.ConnectorEvents.emit
        self.left = times
        self.calls = 0

    def __call__(self, *args: Any) -> None:
        self.calls += 1
        if self.left > 0:
            self.left -= 1
            raise RuntimeError("injected: the process failed after storing the change")
        self.real(*args)


@pytest.fixture
def flaky(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[int], Flaky]]:
    def install(times: int = 1) -> Flaky:
        fake = Flaky(times)

        def emit(events: connector_events.ConnectorEvents, *args: Any) -> None:
            fake(events, *args)

        monkeypatch.setattr(connector_events.ConnectorEvents, "emit", emit)
        return fake

    yield install


def crm_events(w: Crm) -> list[tuple[str, str]]:
    """What the CRM accepted: (type, status or message id), after running the webhooks queue dry."""
    w.pump()
    assert w.receiver.problems() == []
    got = w.receiver.delivered("/crm")
    assert len({r.webhook_id for r in got}) == len(got), "a delivery arrived twice"
    # sorted: deliveries are independent requests, in no guaranteed order (each carries its timestamp)
    return sorted((r.json["type"], r.json["data"].get("status") or "") for r in got)


def pushed(w: Crm) -> list[str]:
    push = w.deps.push
    assert isinstance(push, RecordingPush)
    return [m["event"] for m in push.to("dash=")]


def owed(w: Crm) -> int:
    """Outbox rows left, across every shard."""
    return sum(
        len(w.deps.table.query(outbox.sweep_partition(n), index="gsi1").items) for n in range(outbox.SHARDS)
    )


@pytest.fixture
def world(crm: Crm) -> Crm:  # noqa: F811 (the fixture imported above)
    crm.webhook("/crm")
    dashboard(crm.deps, crm.key)
    return crm


def fails(functions: dict[str, Any], event: SessionEvent) -> bool:
    """Whether the events function reports the event failed (SQS then redelivers it)."""
    try:
        return bool(deliver(functions, event)["batchItemFailures"])
    except BatchProcessingError:  # every record of the batch failed
        return True


def sent_through_sandbox(w: Crm) -> dict[str, Any]:
    status, message, _ = w.call(
        "POST",
        "/v1/messages",
        w.key,
        body={"session_id": w.session["id"], "to": "+34600123456", "text": "Hi"},
    )
    assert status == 202, message
    return dict(message)


def session_event(w: Crm, kind: EventType, **data: Any) -> SessionEvent:
    return SessionEvent(
        type=kind,
        tenant_id=w.session["tenant_id"],
        session_id=w.session["id"],
        fence=1,
        at=w.clock.now(),
        data=data,
    )


# ---- connector events (the events queue redelivers the same event) -------------------------------------


def test_incoming_message(world: Crm, flaky: Callable[[int], Flaky]) -> None:
    event = incoming(world.session, "PROV-1", "Hola")
    flaky(1)
    assert fails(world.functions, event)  # stored, then the notify failed
    assert len(world.call("GET", "/v1/messages", world.key, query="direction=inbound")[1]["items"]) == 1
    assert not fails(world.functions, event)  # SQS redelivers: a duplicate, yet it emits
    assert not fails(world.functions, event)
    assert crm_events(world) == [("incoming_message", "")]
    # the new sender's contact rides in the same outbox row, told once too
    assert pushed(world) == ["contact_created", "incoming_message"] and owed(world) == 0


def test_message_sent_and_statuses(world: Crm, flaky: Callable[[int], Flaky]) -> None:
    message = sent_through_sandbox(world)
    wamid = whatsapp_message_id(message["id"])
    sent = session_event(world, EventType.MESSAGE_SENT, message_id=message["id"], provider_message_id=wamid)
    read = session_event(
        world, EventType.MESSAGE_STATUS, provider_message_ids=[wamid], status="read", chat_jid="x"
    )
    for event in (sent, read):
        flaky(1)
        assert fails(world.functions, event)
        assert not fails(world.functions, event)
    # `read` skipped `delivered`: the CRM counting deliveries gets one before it (README: statuses)
    assert crm_events(world) == [
        ("message_sent", ""),
        ("message_status", "delivered"),
        ("message_status", "read"),
    ]
    assert pushed(world) == ["message_sent", "message_status", "message_status"] and owed(world) == 0
    final = world.call("GET", f"/v1/messages/{message['id']}", world.key)[1]
    assert final["status"] == "read" and final["delivered_at"] == final["read_at"] is not None


def test_session_state(world: Crm, flaky: Callable[[int], Flaky]) -> None:
    event = session_event(world, EventType.CONNECTION_SUCCESS, phone="+34600111222")
    flaky(1)
    assert fails(world.functions, event)
    stored = world.deps.table.get(f"T#{world.session['tenant_id']}", f"SESSION#{world.session['id']}")
    assert stored is not None and stored["status"] == "connected"  # the change is stored (the API shows
    # `connected` only while a connector holds the socket: none runs here)
    assert not fails(world.functions, event)
    assert not fails(world.functions, event)
    assert crm_events(world) == [("connection_success", "connected"), ("session_status", "connected")]
    assert "connection_success" in pushed(world) and owed(world) == 0


# ---- Meta's webhooks (Meta retries the same body after a 500; our event ids are new each time) ----------


@pytest.fixture
def cloud(world: Crm, everything: dict[str, Any]) -> dict[str, Any]:
    fake = FakeGraph()
    fake.number(PNID)
    world.deps.graph_api = fake.api()
    status, session = create_cloud(world.call, world.key)
    assert status == 201, session
    run_cloud_queue(everything)
    crm_events(world)  # the session's own connection_success
    world.receiver.received.clear()
    return dict(session)


def test_meta_incoming_message(
    world: Crm, cloud: dict[str, Any], everything: dict[str, Any], flaky: Callable[[int], Flaky]
) -> None:
    body = json.dumps(notification(messages=[text_message("wamid.IN1")])).encode()
    flaky(1)
    with pytest.raises(RuntimeError):  # a 500: Meta retries
        post_webhook(everything, body)
    assert post_webhook(everything, body) == (200, "ok")  # deduplicated as stored, and emitted now
    assert post_webhook(everything, body) == (200, "ok")
    assert crm_events(world) == [("incoming_message", "")]
    assert pushed(world).count("incoming_message") == 1 and owed(world) == 0


def test_meta_statuses(
    world: Crm, cloud: dict[str, Any], everything: dict[str, Any], flaky: Callable[[int], Flaky]
) -> None:
    status, message, _ = world.call(
        "POST",
        "/v1/messages",
        world.key,
        body={"session_id": cloud["id"], "to": "+34600123456", "text": "Cita"},
    )
    assert status == 202
    run_cloud_queue(everything)
    wamid = world.call("GET", f"/v1/messages/{message['id']}", world.key)[1]["provider_message_id"]
    assert crm_events(world) == [("message_sent", "")]
    body = json.dumps(
        notification(statuses=[status_update(wamid, "read", ts=int(world.clock.now()))])
    ).encode()
    flaky(1)
    with pytest.raises(RuntimeError):
        post_webhook(everything, body)
    assert post_webhook(everything, body) == (200, "ok")
    late = json.dumps(notification(statuses=[status_update(wamid, "delivered")])).encode()
    assert post_webhook(everything, late) == (200, "ok")  # too late to move it: nothing more to tell
    assert crm_events(world) == [
        ("message_sent", ""),
        ("message_status", "delivered"),
        ("message_status", "read"),
    ]
    assert owed(world) == 0


# ---- a writer killed between the commit and the emit: the sweeper --------------------------------------


def test_a_killed_writer_leaves_its_row_to_the_sweeper(
    world: Crm, flaky: Callable[[int], Flaky], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(outbox.Outbox, "_release", lambda self, pending: None)  # died: no clean-up ran
    flaky(1)
    assert fails(world.functions, incoming(world.session, "PROV-K", "¿Sigue ahí?"))
    assert owed(world) == 1
    sweep = world.functions["sweeper"].lambda_handler({}, LambdaContext())
    assert sweep["outbox_drained"] == 0  # still claimed by its writer: left to it for a while
    world.clock.advance(outbox.CLAIM_SECONDS + 1)
    assert world.functions["sweeper"].lambda_handler({}, LambdaContext())["outbox_drained"] == 1
    assert world.functions["sweeper"].lambda_handler({}, LambdaContext())["outbox_drained"] == 0
    assert crm_events(world) == [("incoming_message", "")]
    # the new sender's contact rides in the same outbox row, told once too
    assert pushed(world) == ["contact_created", "incoming_message"] and owed(world) == 0


def test_a_cloud_send_whose_notify_fails_is_told_by_its_redelivery(
    world: Crm, cloud: dict[str, Any], everything: dict[str, Any], flaky: Callable[[int], Flaky]
) -> None:
    status, message, _ = world.call(
        "POST",
        "/v1/messages",
        world.key,
        body={"session_id": cloud["id"], "to": "+34600123456", "text": "Cita"},
    )
    assert status == 202
    flaky(1)
    try:  # Meta accepted it and `sent` is stored; telling about it failed
        run_cloud_queue(everything, rounds=1)
    except BatchProcessingError:
        pass
    assert world.call("GET", f"/v1/messages/{message['id']}", world.key)[1]["status"] == "sent"
    assert owed(world) == 1
    world.clock.advance(200)  # visibility over: the command comes back, finds the message sent, and
    run_cloud_queue(everything)  # tells what is still owed before dropping itself
    assert world.functions["sweeper"].lambda_handler({}, LambdaContext())["outbox_drained"] == 0
    assert crm_events(world) == [("message_sent", "")] and owed(world) == 0
