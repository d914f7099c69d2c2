"""Scheduled messages: the sweeper reads only what is due, the dispatcher sends each once, on time."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local.template import load_template
from tests.fakes.clock import FakeClock
from tests.support.aws_template import TEMPLATE
from tests.support.lambdas import LambdaContext, load_function
from wagate import wiring
from wagate.adapters.local.sqlite_queue import SqliteQueues
from wagate.compose import message_service
from wagate.domain.events import Command
from wagate.services import due_index, scheduler, tenants
from wagate.services.messages import SendRequest
from wagate.services.sessions import command_queue, shard_of
from wagate.store import due_index as due_entries


@pytest.fixture
def clock(local_deps: wiring.Deps, tmp_path: Path) -> Iterator[FakeClock]:
    """Table, queues (delays, visibility) and services all on one hand-moved clock."""
    fake = FakeClock()
    definitions = load_template(TEMPLATE).queue_definitions()
    queues = SqliteQueues(tmp_path / "clocked-queues.db", definitions, clock=fake.now)
    wiring.install(dataclasses.replace(local_deps, clock=fake, queues=queues))  # type: ignore[arg-type]
    yield fake


@pytest.fixture
def session(clock: FakeClock) -> dict[str, Any]:
    d = wiring.deps()
    tenant, _ = tenants.create_tenant(d.table, d.clock, "Workshops")
    service = message_service().sessions
    created = service.create(tenant.id, name="Main", provider="sandbox", phone=None, metadata={})  # type: ignore[arg-type]
    drain_commands(created.id)
    return {"tenant_id": tenant.id, "id": created.id}


def drain_commands(session_id: str) -> list[Command]:
    d = wiring.deps()
    queue = d.queues.get(command_queue(shard_of(session_id, d.settings.shards)))
    found = []
    for m in queue.receive(max_messages=10):
        found.append(Command.model_validate_json(m.body))
        queue.delete(m.receipt)
    return found


def schedule(session: dict[str, Any], at: float) -> str:
    request = SendRequest(session_id=session["id"], to="+34600123456", text="Recordatorio", scheduled_at=at)
    return message_service().accept(session["tenant_id"], request).id


def dispatch_queue_bodies(clock: FakeClock) -> list[dict[str, Any]]:
    queue = wiring.deps().queues.get(due_index.DISPATCH_QUEUE)
    return [json.loads(m.body) for m in queue.receive(max_messages=10)]


def test_sweep_moves_only_what_is_due(session: dict[str, Any], clock: FakeClock) -> None:
    d = wiring.deps()
    due = [schedule(session, clock.now() + 300 + i) for i in range(3)]
    later = schedule(session, clock.now() + 7200)
    assert scheduler.sweep(d.table, d.queues, d.clock).dispatched == 0
    clock.advance(250)  # the three are now within the window
    report = scheduler.sweep(d.table, d.queues, d.clock)
    assert report.dispatched == 3
    # What was swept is gone from the index; the later one stays.
    assert scheduler.sweep(d.table, d.queues, d.clock).dispatched == 0
    assert [
        b["message_id"] for b in sorted(dispatch_queue_bodies(clock), key=lambda b: b["due_at"])
    ] == []  # delayed
    at = float(message_service().get(session["tenant_id"], later).scheduled_at or 0)
    assert d.table.get(*due_entries.key(session["tenant_id"], later, at)) is not None
    assert set(due) and report.partitions == report.minutes * due_index.SLOTS


def test_sweep_cost_does_not_grow_with_what_is_scheduled_later(
    session: dict[str, Any], clock: FakeClock
) -> None:
    d = wiring.deps()
    for i in range(40):
        schedule(session, clock.now() + 86400 + i * 600)  # spread over the coming days
    scheduler.sweep(d.table, d.queues, d.clock)
    clock.advance(60)
    second = scheduler.sweep(d.table, d.queues, d.clock)
    assert second.dispatched == 0
    assert second.minutes <= 3  # the cursor: only the minutes not yet done, plus the window


def test_forward_sends_once_and_respects_cancel_and_reschedule(
    session: dict[str, Any], clock: FakeClock
) -> None:
    d = wiring.deps()
    kept, cancelled, moved = (schedule(session, clock.now() + 3600) for _ in range(3))
    message_service().cancel(session["tenant_id"], cancelled)
    message_service().reschedule(session["tenant_id"], moved, clock.now() + 7200)
    clock.advance(3600 - 30)
    scheduler.sweep(d.table, d.queues, d.clock)
    clock.advance(60)
    bodies = dispatch_queue_bodies(clock)
    assert [b["message_id"] for b in bodies] == [kept]
    stale = json.dumps({"tenant_id": session["tenant_id"], "message_id": moved, "due_at": clock.now() - 60})
    assert scheduler.forward(d.table, message_service(), stale) is False  # the old time of a moved message
    dropped = json.dumps({"tenant_id": session["tenant_id"], "message_id": cancelled, "due_at": clock.now()})
    assert scheduler.forward(d.table, message_service(), dropped) is False
    assert scheduler.forward(d.table, message_service(), json.dumps(bodies[0])) is True
    assert scheduler.forward(d.table, message_service(), json.dumps(bodies[0])) is True  # retry: still queued
    assert message_service().get(session["tenant_id"], kept).status == "queued"
    sends = drain_commands(session["id"])
    assert [c.data["message_id"] for c in sends] == [kept]  # the FIFO dedup id dropped the repeat


def test_messages_due_soon_skip_the_index(session: dict[str, Any], clock: FakeClock) -> None:
    d = wiring.deps()
    message_id = schedule(session, clock.now() + 45)
    at = message_service().get(session["tenant_id"], message_id).scheduled_at
    assert at is not None and d.table.get(*due_entries.key(session["tenant_id"], message_id, at)) is None
    queue = d.queues.get(due_index.DISPATCH_QUEUE)
    assert queue.approximate_depth() == 1


def test_the_handlers_run(session: dict[str, Any], clock: FakeClock) -> None:
    schedule(session, clock.now() + 200)
    clock.advance(150)
    result = load_function("sweeper").lambda_handler({}, LambdaContext())
    assert result["dispatched"] == 1
    body = {"tenant_id": session["tenant_id"], "message_id": "msg_unknown", "due_at": clock.now()}
    record = {
        "messageId": "1",
        "receiptHandle": "r",
        "body": json.dumps(body),
        "attributes": {},
        "messageAttributes": {},
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:eu-west-1:1:DispatchQueue",
        "awsRegion": "eu-west-1",
        "md5OfBody": "",
    }
    assert load_function("dispatcher").lambda_handler({"Records": [record]}, LambdaContext()) == {
        "batchItemFailures": []
    }
