"""Cloud API sends in the Cloud command Lambda: pace, claim, Graph, then `sent` or `failed` (apply_status).

Retries go back to the queue with a delay; a send whose answer was lost is never sent again.
"""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Any

import httpx
import pytest

from tests.fakes.graph import FakeGraph
from tests.fakes.push import RecordingPush
from tests.functions.cloud_support import (  # noqa: F401 (*_fixture: fixtures by name)
    call_fixture,
    create_cloud,
    dashboard,
    functions_fixture,
    graph_fixture,
    key_fixture,
    notification,
    post_webhook,
    run_cloud_queue,
    session_fixture,
    text_message,
)
from tests.support.lambdas import ApiCaller
from wagate import wiring
from wagate.cloud import pacing
from wagate.cloud.commands import CLOUD_QUEUE
from wagate.cloud.sends import _graph_body
from wagate.compose import message_service, services
from wagate.domain.events import Command, CommandType
from wagate.domain.messages import MediaContent, Message
from wagate.services import scheduler
from wagate.services.sessions import command_queue
from wagate.store import keys


def send(call: ApiCaller, key: str, session: dict[str, Any], **body: Any) -> dict[str, Any]:
    payload = {"session_id": session["id"], "to": "+34600123456", **body}
    if not {"text", "template", "media"} & set(body):
        payload["text"] = "Hola Ana"
    status, message, _ = call("POST", "/v1/messages", key, body=payload)
    assert status == 202 or status == 201, message
    return dict(message)


def message_of(call: ApiCaller, key: str, message_id: str) -> dict[str, Any]:
    return dict(call("GET", f"/v1/messages/{message_id}", key)[1])


def redeliver(
    local_deps: wiring.Deps,
    graph: FakeGraph,
    tenant_id: str,
    session_id: str,
    command_id: str,
    message_id: str,
) -> None:
    """What SQS hands back later: the same command (its id is the claim's)."""
    command = Command(
        id=command_id,
        type=CommandType.SEND,
        tenant_id=tenant_id,
        session_id=session_id,
        data={"message_id": message_id},
        issued_at=time.time(),
    )
    ports = dataclasses.replace(local_deps, graph_api=graph.api())
    services(ports).cloud_commands.handle(command.model_dump_json())


def test_a_text_is_claimed_sent_and_its_wamid_recorded(
    call: ApiCaller,
    key: str,
    session: dict[str, Any],
    graph: FakeGraph,
    functions: dict[str, Any],
    local_deps: wiring.Deps,
    push: RecordingPush,
) -> None:
    dashboard(local_deps, key)
    message = send(call, key, session)
    assert message["status"] == "queued"
    for shard in range(local_deps.settings.shards):  # the connector never sees cloud sends
        assert local_deps.queues.get(command_queue(shard)).approximate_depth() == 0
    assert run_cloud_queue(functions) == {"batchItemFailures": []}
    sent = message_of(call, key, message["id"])
    assert (
        sent["status"] == "sent"
        and sent["provider_message_id"] == "wamid.FAKE0001=="
        and sent["attempts"] == 1
    )
    assert graph.bodies() == [
        {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": "34600123456",
            "type": "text",
            "text": {"body": "Hola Ana", "preview_url": False},
        }
    ]
    [event] = [m for m in push.to("dash=") if m["event"] == "message_sent"]
    assert (
        event["data"]["messageId"] == message["id"]
        and event["data"]["providerMessageId"] == "wamid.FAKE0001=="
    )


def test_a_meta_template_with_named_parameters(
    call: ApiCaller, key: str, session: dict[str, Any], graph: FakeGraph, functions: dict[str, Any]
) -> None:
    template = {
        "name": "appointment_reminder",
        "language": "es",
        "variables": {"name": "Ana", "time": "10:00"},
    }
    message = send(call, key, session, template=template)
    assert message["kind"] == "template" and message["text"] is None
    run_cloud_queue(functions)
    [body] = graph.bodies()
    assert body["template"] == {
        "name": "appointment_reminder",
        "language": {"code": "es"},
        "components": [
            {
                "type": "body",
                "parameters": [
                    {"type": "text", "parameter_name": "name", "text": "Ana"},
                    {"type": "text", "parameter_name": "time", "text": "10:00"},
                ],
            }
        ],
    }
    status, error, _ = call(
        "POST",
        "/v1/messages",
        key,
        body={"session_id": session["id"], "to": "+34600123456", "template": {"name": "x", "variables": {}}},
    )
    assert status == 422 and error["error"]["details"]["field"] == "template.language"


def test_media_by_meta_media_id_needs_no_probe(
    call: ApiCaller, key: str, session: dict[str, Any], graph: FakeGraph, functions: dict[str, Any]
) -> None:
    media = {
        "upload_id": "1013859600285441",
        "mime": "application/pdf",
        "filename": "factura.pdf",
        "caption": "F",
    }
    send(call, key, session, media=media)
    run_cloud_queue(functions)
    [body] = graph.bodies()
    assert body["type"] == "document"
    assert body["document"] == {"id": "1013859600285441", "caption": "F", "filename": "factura.pdf"}


def test_graph_bodies_of_stored_messages() -> None:
    base: dict[str, Any] = {
        "id": "msg_1",
        "tenant_id": "t",
        "session_id": "s",
        "direction": "outbound",
        "to": "+34600123456",
        "chat": "+34600123456",
        "status": "sending",
        "created_at": 1.0,
        "updated_at": 1.0,
    }
    image = Message.model_validate(
        {**base, "kind": "media", "media": MediaContent(url="https://cdn.example/a.png", mime="image/png")}
    )
    assert _graph_body(image)["image"] == {"link": "https://cdn.example/a.png"}
    positional = Message.model_validate(
        {**base, "kind": "template", "template": {"name": "t", "language": "en", "variables": {"1": "a"}}}
    )
    assert _graph_body(positional)["template"]["components"][0]["parameters"] == [
        {"type": "text", "text": "a"}
    ]
    reply = Message.model_validate({**base, "kind": "text", "text": "ok", "quoted_id": "wamid.Q"})
    assert _graph_body(reply)["context"] == {"message_id": "wamid.Q"}


def test_outside_the_window_fails_and_says_use_a_template(
    call: ApiCaller, key: str, session: dict[str, Any], graph: FakeGraph, functions: dict[str, Any]
) -> None:
    message = send(call, key, session)
    graph.fail_next(131047, message="Re-engagement message")
    run_cloud_queue(functions)
    failed = message_of(call, key, message["id"])
    assert failed["status"] == "failed" and failed["error"]["code"] == "outside_window"
    assert "template" in failed["error"]["message"] and failed["error"]["retryable"] is False


def test_a_revoked_token_fails_the_message_and_the_session(
    call: ApiCaller, key: str, session: dict[str, Any], graph: FakeGraph, functions: dict[str, Any]
) -> None:
    message = send(call, key, session)
    graph.tokens.clear()  # Meta answers 190
    run_cloud_queue(functions)
    assert message_of(call, key, message["id"])["error"]["code"] == "token_invalid"
    now = call("GET", f"/v1/sessions/{session['id']}", key)[1]
    assert now["status"] == "failed" and now["status_reason"] == "token_invalid"


def test_rate_limited_sends_wait_in_the_queue_then_go(
    call: ApiCaller,
    key: str,
    session: dict[str, Any],
    graph: FakeGraph,
    functions: dict[str, Any],
    local_deps: wiring.Deps,
) -> None:
    message = send(call, key, session)
    graph.fail_next(130429, message="Rate limit hit")
    run_cloud_queue(functions)
    row = local_deps.table.get(*keys.message(session["tenant_id"], message["id"]))
    assert row is not None and row["status"] == "sending" and row["failures"] == 1
    assert row["last_error"]["code"] == "rate_limited"
    # Meta throttles the NUMBER: its status says so (a `session_status` report), it stays connected.
    stored = local_deps.table.get(*keys.session(session["tenant_id"], session["id"]))
    assert stored is not None and (stored["status"], stored["status_reason"]) == ("connected", "rate_limited")
    queue = local_deps.queues.get(CLOUD_QUEUE)
    assert queue.approximate_depth() == 1 and queue.receive(max_messages=10) == []  # delayed
    redeliver(local_deps, graph, session["tenant_id"], session["id"], row["claim_command"], message["id"])
    sent = message_of(call, key, message["id"])
    assert sent["status"] == "sent" and sent["attempts"] == 2 and graph.sent == 1


def test_a_lost_answer_is_not_sent_twice(
    call: ApiCaller, key: str, session: dict[str, Any], graph: FakeGraph, functions: dict[str, Any]
) -> None:
    message = send(call, key, session)
    graph.break_next(httpx.ReadTimeout("no answer"))
    run_cloud_queue(functions)
    failed = message_of(call, key, message["id"])
    assert failed["status"] == "failed" and failed["error"]["code"] == "outcome_unknown"
    assert failed["error"]["retryable"] is True and len(graph.bodies()) == 1


def test_a_try_that_died_mid_send_is_not_repeated(
    call: ApiCaller, key: str, session: dict[str, Any], graph: FakeGraph, local_deps: wiring.Deps
) -> None:
    message = send(call, key, session)
    pk, sk = keys.message(session["tenant_id"], message["id"])
    local_deps.table.update(pk, sk, set={"status": "sending", "claim_command": "cmd_X"}, add={"attempts": 1})
    local_deps.queues.get(CLOUD_QUEUE).receive(max_messages=10)  # the original command is "in flight"
    redeliver(local_deps, graph, session["tenant_id"], session["id"], "cmd_X", message["id"])
    assert message_of(call, key, message["id"])["error"]["code"] == "outcome_unknown"
    assert graph.bodies() == []


def test_duplicates_and_cancelled_messages_are_dropped(
    call: ApiCaller,
    key: str,
    session: dict[str, Any],
    graph: FakeGraph,
    functions: dict[str, Any],
    local_deps: wiring.Deps,
) -> None:
    message = send(call, key, session)
    run_cloud_queue(functions)
    redeliver(local_deps, graph, session["tenant_id"], session["id"], "cmd_other", message["id"])
    cancelled = send(call, key, session)
    assert call("DELETE", f"/v1/messages/{cancelled['id']}", key)[0] == 200
    run_cloud_queue(functions)
    assert graph.sent == 1 and message_of(call, key, cancelled["id"])["status"] == "cancelled"


def test_a_stopped_session_fails_its_queued_sends(
    call: ApiCaller, key: str, session: dict[str, Any], graph: FakeGraph, functions: dict[str, Any]
) -> None:
    call("POST", f"/v1/sessions/{session['id']}/disconnect", key)
    run_cloud_queue(functions)
    message = send(call, key, session)
    run_cloud_queue(functions)
    assert message_of(call, key, message["id"])["error"]["code"] == "session_not_connected"
    assert graph.sent == 0


def test_a_number_is_paced_across_lambdas(
    call: ApiCaller,
    key: str,
    session: dict[str, Any],
    graph: FakeGraph,
    functions: dict[str, Any],
    local_deps: wiring.Deps,
) -> None:
    pk, sk = f"T#{session['tenant_id']}", f"SESSION#{session['id']}"
    local_deps.table.update(pk, sk, set={"pacing": {"rate_per_minute": 30, "burst": 2}})
    messages = [send(call, key, session, to=f"+3460012345{i}") for i in range(3)]
    run_cloud_queue(functions)
    statuses = [message_of(call, key, m["id"])["status"] for m in messages]
    assert sorted(statuses) == ["queued", "sent", "sent"] and graph.sent == 2
    queue = local_deps.queues.get(CLOUD_QUEUE)
    assert queue.approximate_depth() == 1 and queue.receive(max_messages=10) == []  # waits for its slot


def test_the_bucket_reserves_slots_without_losing_any(local_deps: wiring.Deps) -> None:
    rhythm = pacing.pacing_for({"rate_per_minute": 60, "burst": 3})
    assert (rhythm.rate_per_minute, rhythm.burst, rhythm.jitter_max_seconds) == (60, 3, 0)

    start = float(int(time.time()))  # the row's TTL is judged by the table's own (real) clock

    def reserve(after: float) -> float:
        return pacing.reserve(local_deps.table, "t", "s", rhythm, start + after)

    assert [reserve(0.0) for _ in range(5)] == [0.0, 0.0, 0.0, 1.0, 2.0]
    assert reserve(1.5) == pytest.approx(1.5)  # slots 0, 0, 0, 1, 2 are taken: the next is 3
    assert reserve(100.0) == 0.0  # a full bucket again
    assert pacing.pacing_for(None).rate_per_minute == 4800  # Meta's 80/s by default


def test_read_receipts_go_through_graph(
    call: ApiCaller, key: str, session: dict[str, Any], graph: FakeGraph, functions: dict[str, Any]
) -> None:
    post_webhook(
        functions,
        notification(messages=[text_message("wamid.IN1", ts=100), text_message("wamid.IN2", ts=101)]),
    )
    [conversation] = call("GET", "/v1/conversations", key)[1]["items"]
    assert conversation["unread"] == 2
    status, read, _ = call("POST", f"/v1/conversations/{conversation['id']}/read", key)
    assert status == 200 and read["unread"] == 0
    run_cloud_queue(functions)
    assert graph.bodies() == [{"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.IN2"}]


def test_a_scheduled_cloud_message_is_dispatched_to_the_cloud_queue(
    call: ApiCaller,
    key: str,
    session: dict[str, Any],
    graph: FakeGraph,
    functions: dict[str, Any],
    local_deps: wiring.Deps,
) -> None:
    due = time.time() + 60
    message = send(call, key, session, scheduled_at=due)
    body = json.dumps({"tenant_id": session["tenant_id"], "message_id": message["id"], "due_at": due})
    assert scheduler.forward(local_deps.table, message_service(), body)
    run_cloud_queue(functions)
    assert message_of(call, key, message["id"])["status"] == "sent"
    for shard in range(local_deps.settings.shards):
        assert local_deps.queues.get(command_queue(shard)).approximate_depth() == 0
