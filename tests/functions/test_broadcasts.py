"""Broadcasts: accepted at once, turned into messages only as fast as the number sends them, counted as
their messages move, and paused, resumed or cancelled without sending anyone twice or losing anyone."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from local.template import load_template
from tests.fakes.clock import FakeClock
from tests.functions.test_sessions_api import deliver, hold_lease
from tests.support.aws_template import TEMPLATE
from tests.support.lambdas import ApiCaller, LambdaContext
from wagate import compose, wiring
from wagate.adapters.local.sqlite_queue import SqliteQueues
from wagate.domain.events import EventType, SessionEvent
from wagate.domain.messages import Message, MessageStatus
from wagate.domain.tenants import Scope
from wagate.services import due_index, tenants


@pytest.fixture
def clock(local_deps: wiring.Deps, tmp_path: Path) -> Iterator[FakeClock]:
    """Table, queues (delays) and services on one hand-moved clock: steps come due when it says so."""
    fake = FakeClock()
    definitions = load_template(TEMPLATE).queue_definitions()
    queues = SqliteQueues(tmp_path / "clocked-queues.db", definitions, clock=fake.now)
    wiring.install(dataclasses.replace(local_deps, clock=fake, queues=queues))  # type: ignore[arg-type]
    yield fake


@pytest.fixture
def world(clock: FakeClock, call: ApiCaller) -> dict[str, Any]:
    d = wiring.deps()
    tenant, key = tenants.create_tenant(d.table, d.clock, "Workshops")
    status, session, _ = call("POST", "/v1/sessions", key, body={"name": "Main", "provider": "sandbox"})
    assert status == 201, session
    return {"tenant_id": tenant.id, "key": key, "session_id": session["id"]}


def recipients(n: int, start: int = 0) -> list[dict[str, Any]]:
    return [{"to": f"+3460010{i:04d}", "variables": {"nombre": f"N{i}"}} for i in range(start, start + n)]


def broadcast(call: ApiCaller, world: dict[str, Any], n: int, **body: Any) -> dict[str, Any]:
    request = {"session_id": world["session_id"], "text": "Hola {nombre}", "recipients": recipients(n)}
    request.update(body)
    status, created, _ = call("POST", "/v1/broadcasts", world["key"], body=request)
    assert status == 202, created
    return dict(created)


def run_due_steps(functions: dict[str, ModuleType]) -> int:
    """Hands every due delay-queue message to the dispatcher, as the event source mapping does."""
    queue = wiring.deps().queues.get(due_index.DISPATCH_QUEUE)
    handled = 0
    while batch := queue.receive(max_messages=10):
        records = [{"messageId": m.receipt, "receiptHandle": m.receipt, "body": m.body} for m in batch]
        response = functions["dispatcher"].lambda_handler({"Records": records}, LambdaContext())
        assert response["batchItemFailures"] == []
        for m in batch:
            queue.delete(m.receipt)
        handled += len(batch)
    return handled


def messages_of(world: dict[str, Any], broadcast_id: str) -> list[Message]:
    service = compose.message_service()
    items, cursor, found = [], None, []
    while True:
        items, cursor = service.list(world["tenant_id"], limit=100, cursor=cursor)
        found += [m for m in items if m.broadcast_id == broadcast_id]
        if cursor is None:
            return found


def send_all(world: dict[str, Any], messages: list[Message], clock: FakeClock) -> None:
    """What the connector reports once it has sent them (the claim is the connector's own write)."""
    service = compose.message_service()
    for m in messages:
        if m.status == MessageStatus.QUEUED:
            service.apply_status(world["tenant_id"], m.id, MessageStatus.SENT, clock.now())


def progress(call: ApiCaller, world: dict[str, Any], broadcast_id: str) -> dict[str, Any]:
    status, shown, _ = call("GET", f"/v1/broadcasts/{broadcast_id}", world["key"])
    assert status == 200, shown
    return dict(shown)


def test_a_broadcast_is_sent_only_as_fast_as_its_number_sends(
    call: ApiCaller, world: dict[str, Any], functions: dict[str, ModuleType], clock: FakeClock
) -> None:
    created = broadcast(call, world, 50, variables={"nombre": "unused default"})
    assert created["status"] == "running" and created["counts"]["recipients"] == 50
    assert created["counts"]["accepted"] == 0  # nothing is a message yet: steps do that

    run_due_steps(functions)
    first = messages_of(world, created["id"])
    assert len(first) == 20  # the starting window: no more than that waits in the number's queue
    assert sorted(m.text for m in first) == sorted(f"Hola N{i}" for i in range(20))
    assert progress(call, world, created["id"])["counts"]["queued"] == 20

    clock.advance(11)
    run_due_steps(functions)  # nothing was sent meanwhile: no room, nothing more queued
    assert len(messages_of(world, created["id"])) == 20

    send_all(world, first, clock)
    clock.advance(11)
    run_due_steps(functions)  # 20 went out since: the window grows to 40, and 30 are left
    every = messages_of(world, created["id"])
    assert len(every) == 50 and len({m.to for m in every}) == 50
    shown = progress(call, world, created["id"])
    assert shown["status"] == "completed" and shown["completed_at"] is not None
    assert shown["counts"] | {} == {
        "recipients": 50,
        "accepted": 50,
        "rejected": 0,
        "queued": 30,
        "sent": 20,
        "delivered": 0,
        "read": 0,
        "failed": 0,
        "cancelled": 0,
    }

    service = compose.message_service()
    service.apply_status(world["tenant_id"], first[0].id, MessageStatus.READ, clock.now())  # skips delivered
    service.apply_status(world["tenant_id"], first[0].id, MessageStatus.DELIVERED, clock.now())  # late: no-op
    counts = progress(call, world, created["id"])["counts"]
    assert (counts["sent"], counts["delivered"], counts["read"]) == (20, 1, 1)


def test_two_copies_of_a_step_send_each_recipient_once(
    call: ApiCaller, world: dict[str, Any], functions: dict[str, ModuleType], clock: FakeClock
) -> None:
    created = broadcast(call, world, 5)
    queue = wiring.deps().queues.get(due_index.DISPATCH_QUEUE)
    body = {"broadcast_id": created["id"], "tenant_id": world["tenant_id"]}
    service = compose.broadcast_service()
    assert service.step(world["tenant_id"], created["id"]) == 5
    queue.send(json.dumps(body))  # a redelivered copy of the same step
    run_due_steps(functions)
    assert service.step(world["tenant_id"], created["id"]) == 0
    assert len(messages_of(world, created["id"])) == 5
    assert progress(call, world, created["id"])["counts"]["accepted"] == 5


def test_pause_takes_queued_messages_back_and_resume_sends_them(
    call: ApiCaller, world: dict[str, Any], functions: dict[str, ModuleType], clock: FakeClock
) -> None:
    created = broadcast(call, world, 30)
    run_due_steps(functions)
    queued = messages_of(world, created["id"])
    send_all(world, queued[:5], clock)  # five went out before the pause

    status, paused, _ = call("POST", f"/v1/broadcasts/{created['id']}/pause", world["key"])
    assert status == 200 and paused["status"] == "paused" and paused["status_reason"] == "requested"
    assert paused["counts"]["accepted"] == 5 and paused["counts"]["queued"] == 0
    statuses = {m.status for m in messages_of(world, created["id"]) if m.id not in {q.id for q in queued[:5]}}
    assert statuses == {MessageStatus.CANCELLED}
    clock.advance(60)
    run_due_steps(functions)  # a paused broadcast queues nothing
    assert progress(call, world, created["id"])["counts"]["accepted"] == 5
    assert call("POST", f"/v1/broadcasts/{created['id']}/pause", world["key"])[0] == 409

    status, resumed, _ = call("POST", f"/v1/broadcasts/{created['id']}/resume", world["key"])
    assert status == 200 and resumed["status"] == "running" and resumed["status_reason"] is None
    for _ in range(4):
        run_due_steps(functions)
        send_all(world, messages_of(world, created["id"]), clock)
        clock.advance(11)
    shown = progress(call, world, created["id"])
    assert shown["status"] == "completed"
    assert shown["counts"]["accepted"] == 30 and shown["counts"]["sent"] == 30
    sent = [m for m in messages_of(world, created["id"]) if m.status == MessageStatus.SENT]
    assert sorted(m.to for m in sent) == sorted(r["to"] for r in recipients(30))  # everyone, once


def test_cancel_stops_it_and_cancels_what_is_queued(
    call: ApiCaller, world: dict[str, Any], functions: dict[str, ModuleType], clock: FakeClock
) -> None:
    created = broadcast(call, world, 25)
    run_due_steps(functions)
    status, cancelled, _ = call("POST", f"/v1/broadcasts/{created['id']}/cancel", world["key"])
    assert status == 200 and cancelled["status"] == "cancelled"
    assert cancelled["counts"]["cancelled"] == 20 and cancelled["counts"]["queued"] == 0
    clock.advance(60)
    run_due_steps(functions)
    assert len(messages_of(world, created["id"])) == 20  # the five never queued never will be
    status, error, _ = call("POST", f"/v1/broadcasts/{created['id']}/cancel", world["key"])
    assert status == 409 and error["error"]["code"] == "broadcast_not_cancellable"


def test_bad_recipients_are_named_and_nothing_is_stored(call: ApiCaller, world: dict[str, Any]) -> None:
    body = {
        "session_id": world["session_id"],
        "text": "Hola {nombre}, tu taller es el {fecha}",
        "variables": {"fecha": "lunes"},
        "recipients": [
            {"to": "+34600100001", "variables": {"nombre": "Ana"}},
            {"to": "not a phone", "variables": {"nombre": "Bea"}},
            {"to": "+34600100003"},
            {"to": "120363012345678901@g.us", "variables": {"nombre": "Grupo"}},
        ],
    }
    status, error, _ = call("POST", "/v1/broadcasts", world["key"], body=body)
    assert status == 422 and error["error"]["code"] == "invalid_recipients"
    named = {(p["index"], p["field"]) for p in error["error"]["details"]["recipients"]}
    assert named == {(1, "recipients[1].to"), (2, "recipients[2].variables"), (3, "recipients[3].to")}
    assert "{nombre}" in error["error"]["details"]["recipients"][1]["message"]
    assert call("GET", "/v1/broadcasts", world["key"])[1]["items"] == []

    for bad in (
        {**body, "recipients": []},
        {**body, "recipients": recipients(10_001)},
        {**body, "template": {"name": "x"}},
        {k: v for k, v in body.items() if k != "session_id"},
    ):
        status, error, _ = call("POST", "/v1/broadcasts", world["key"], body=bad)
        assert status == 422 and error["error"]["code"] == "validation_failed", error
    status, error, _ = call("POST", "/v1/broadcasts", world["key"], body={**body, "session_id": "ses_nope"})
    assert status == 404


def test_a_number_given_twice_is_sent_once_and_reported(
    call: ApiCaller, world: dict[str, Any], functions: dict[str, ModuleType]
) -> None:
    people = [*recipients(3), {"to": "+34 600 10 0001", "variables": {"nombre": "again"}}]
    created = broadcast(call, world, 0, recipients=people)
    assert created["counts"]["rejected"] == 1
    [rejection] = created["rejections"]
    assert (rejection["index"], rejection["code"]) == (3, "duplicate_recipient")
    run_due_steps(functions)
    assert len(messages_of(world, created["id"])) == 3


def test_a_pool_without_a_connected_number_pauses_the_broadcast(
    call: ApiCaller, world: dict[str, Any], functions: dict[str, ModuleType]
) -> None:
    pool = {"name": "front", "members": [{"session_id": world["session_id"]}]}
    assert call("POST", "/v1/pools", world["key"], body=pool)[0] == 201
    created = broadcast(call, world, 3, session_id=None, pool="front")
    run_due_steps(functions)  # the sandbox session was never connected
    shown = progress(call, world, created["id"])
    assert (shown["status"], shown["status_reason"]) == ("paused", "no_connected_number")
    assert shown["counts"]["accepted"] == 0


def test_a_session_scoped_key_sees_and_steers_only_its_own_sessions_broadcasts(
    call: ApiCaller, world: dict[str, Any]
) -> None:
    d = wiring.deps()
    new_session = {"name": "Other", "provider": "sandbox"}
    status, other, _ = call("POST", "/v1/sessions", world["key"], body=new_session)
    assert status == 201
    mine = broadcast(call, world, 2)
    theirs = broadcast(call, world, 2, session_id=other["id"])
    scopes = [Scope.READ, Scope.SEND]
    _, scoped = tenants.create_key(
        d.table, d.clock, world["tenant_id"], "advisor", scopes, sessions=[world["session_id"]]
    )
    listed = call("GET", "/v1/broadcasts", scoped)[1]["items"]
    assert [b["id"] for b in listed] == [mine["id"]]
    assert call("GET", f"/v1/broadcasts/{theirs['id']}", scoped)[0] == 404
    assert call("POST", f"/v1/broadcasts/{theirs['id']}/pause", scoped)[0] == 404
    status, error, _ = call(
        "POST", "/v1/broadcasts", scoped, body={"pool": "front", "text": "x", "recipients": recipients(1)}
    )
    assert status == 403
    body = {"session_id": other["id"], "text": "x", "recipients": recipients(1)}
    assert call("POST", "/v1/broadcasts", scoped, body=body)[0] in (403, 404)


def test_erasing_a_contact_takes_them_out_of_broadcasts_still_to_send(
    call: ApiCaller, world: dict[str, Any], functions: dict[str, ModuleType]
) -> None:
    created = broadcast(call, world, 3)
    status, receipt, _ = call("DELETE", "/v1/contacts/+34600100001", world["key"])
    assert status == 200 and receipt["erased"]["broadcast_recipients"] == 1
    run_due_steps(functions)
    assert sorted(m.to for m in messages_of(world, created["id"])) == ["+34600100000", "+34600100002"]
    shown = progress(call, world, created["id"])
    assert shown["counts"]["rejected"] == 1 and [r["code"] for r in shown["rejections"]] == ["erased"]
    assert "+34600100001" not in json.dumps(shown)


def test_a_broadcasts_insights_count_its_reads_and_replies(
    call: ApiCaller, world: dict[str, Any], functions: dict[str, ModuleType], clock: FakeClock
) -> None:
    created = broadcast(call, world, 3)
    run_due_steps(functions)
    sent = messages_of(world, created["id"])
    send_all(world, sent, clock)
    service = compose.message_service()
    service.apply_status(world["tenant_id"], sent[0].id, MessageStatus.READ, clock.now() + 30)
    session = {"tenant_id": world["tenant_id"], "id": world["session_id"]}
    hold_lease(session)
    phone = sent[0].to
    answer = SessionEvent(
        type=EventType.INCOMING_MESSAGE,
        tenant_id=world["tenant_id"],
        session_id=world["session_id"],
        fence=1,
        at=clock.now() + 60,
        data={
            "provider_message_id": "IN-REPLY",
            "chat_jid": f"{phone[1:]}@s.whatsapp.net",
            "sender_jid": f"{phone[1:]}@s.whatsapp.net",
            "sender_phone": phone,
            "timestamp": clock.now() + 60,
            "text": "¡Sí!",
            "type": "text",
        },
    )
    deliver(functions, answer)
    alone = {"session_id": world["session_id"], "to": phone, "text": "x"}
    status, other, _ = call("POST", "/v1/messages", world["key"], body=alone)
    assert status == 202
    service.apply_status(world["tenant_id"], other["id"], MessageStatus.SENT, clock.now() + 90)  # not in it
    compose.services().insights.fold()

    query = f"broadcast_id={created['id']}&from={clock.now() - 86_400}&to={clock.now() + 86_400}"
    status, report, _ = call("GET", "/v1/insights", world["key"], query=query)
    assert status == 200, report
    totals = report["totals"]
    assert (totals["sent"], totals["read"], totals["replied"]) == (3, 1, 1)
    assert totals["reply_rate"] == round(1 / 3, 4)
    assert report["broadcast_id"] == created["id"] and report["sessions"] == []
    assert call("GET", "/v1/insights", world["key"], query="broadcast_id=bc_01NOSUCHBROADCAST")[0] == 404
    assert call("GET", "/v1/insights", world["key"], query="broadcast_id=../etc")[0] == 422
    both = f"broadcast_id={created['id']}&session_id={world['session_id']}"
    assert call("GET", "/v1/insights", world["key"], query=both)[0] == 422
