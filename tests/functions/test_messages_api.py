"""Sending over the API: validation, idempotency, scheduling and cancelling, listing, and monotonic status."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.commands import take_commands as drain
from tests.support.lambdas import ApiCaller
from wagate import wiring
from wagate.compose import message_service
from wagate.domain.events import CommandType, EventType, SessionEvent
from wagate.domain.messages import MessageError, MessageStatus
from wagate.services import tenants
from wagate.services.sessions import SessionService
from wagate.store import due_index as due_entries


@pytest.fixture
def session(call: ApiCaller, key: str) -> dict[str, Any]:
    status, body, _ = call("POST", "/v1/sessions", key, body={"name": "Sales", "provider": "sandbox"})
    assert status == 201
    drain(body["id"])
    return dict(body)


def send(call: ApiCaller, key: str, session: dict[str, Any], **body: Any) -> tuple[int, Any]:
    payload = {"session_id": session["id"], "to": "+34 600 12 34 56", "text": "Hola", **body}
    headers = body.pop("headers", None) or {}
    payload.pop("headers", None)
    status, answer, _ = call("POST", "/v1/messages", key, body=payload, headers=headers)
    return status, answer


def test_send_queues_and_hands_to_the_connector(call: ApiCaller, key: str, session: dict[str, Any]) -> None:
    status, message = send(call, key, session, metadata={"lead": 42})
    assert status == 202
    assert (
        message["status"] == "queued"
        and message["to"] == "+34600123456"
        and message["metadata"] == {"lead": 42}
    )
    assert message["sandbox"] is True
    commands = drain(session["id"])
    assert [(c.type, c.data) for c in commands] == [
        (CommandType.SEND, {"message_id": message["id"], "to": "+34600123456", "text": "Hola"})
    ]
    status, fetched, _ = call("GET", f"/v1/messages/{message['id']}", key)
    assert status == 200 and fetched["text"] == "Hola"


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"to": "600123456"}, "to"),
        ({"to": "123@g.us"}, "group id"),
        ({"text": None}, "exactly one"),
        ({"media": {"url": "https://x/y.jpg", "mime": "image/jpeg"}}, "exactly one"),
        ({"text": ""}, "text"),
        ({"pool": "campaign-a"}, "exactly one of session_id or pool"),
        ({"scheduled_at": 1.0}, "past"),
    ],
)
def test_bad_sends_are_clear_and_store_nothing(
    call: ApiCaller, key: str, session: dict[str, Any], body: dict[str, Any], needle: str
) -> None:
    status, error = send(call, key, session, **body)
    assert status == 422, error
    assert needle in str(error["error"]), error
    assert call("GET", "/v1/messages", key)[1]["items"] == []
    assert drain(session["id"]) == []


def test_unknown_foreign_and_logged_out_sessions(
    call: ApiCaller, key: str, session: dict[str, Any], local_deps: wiring.Deps
) -> None:
    status, error = send(call, key, {"id": "ses_nope"})
    assert status == 404
    other = tenants.create_tenant(local_deps.table, local_deps.clock, "Other")[1]
    status, error = send(call, other, session)
    assert status == 404 and error["error"]["code"] == "not_found"
    service = SessionService(local_deps.table, local_deps.queues, local_deps.clock, limit=5)
    service.apply_event(
        SessionEvent(
            type=EventType.LOGGED_OUT,
            tenant_id=session["tenant_id"],
            session_id=session["id"],
            fence=1,
            at=1.0,
        )
    )
    status, error = send(call, key, session)
    assert status == 409 and error["error"]["code"] == "session_not_connected"


def test_idempotency_key(call: ApiCaller, key: str, session: dict[str, Any], local_deps: wiring.Deps) -> None:
    headers = {"Idempotency-Key": "order-7"}
    first = send(call, key, session, headers=dict(headers))
    again = send(call, key, session, headers=dict(headers))
    assert first[0] == again[0] == 202 and first[1]["id"] == again[1]["id"]
    assert len(call("GET", "/v1/messages", key)[1]["items"]) == 1
    assert len(drain(session["id"])) == 1
    status, error = send(call, key, session, text="something else", headers=dict(headers))
    assert status == 422 and error["error"]["code"] == "idempotency_key_reused"
    # Another tenant's identical key is its own.
    other_key = tenants.create_tenant(local_deps.table, local_deps.clock, "Other")[1]
    other_session = call("POST", "/v1/sessions", other_key, body={"name": "B", "provider": "sandbox"})[1]
    status, other = send(call, other_key, other_session, headers=dict(headers))
    assert status == 202 and other["id"] != first[1]["id"]


def test_schedule_then_cancel(
    call: ApiCaller, key: str, session: dict[str, Any], local_deps: wiring.Deps
) -> None:
    at = local_deps.clock.now() + 3600
    status, message = send(call, key, session, scheduled_at=at)
    assert status == 202 and message["status"] == "scheduled"
    assert drain(session["id"]) == []  # nothing for the connector until it falls due
    pk, sk = due_entries.key(session["tenant_id"], message["id"], at)
    assert local_deps.table.get(pk, sk) is not None
    status, cancelled, _ = call("DELETE", f"/v1/messages/{message['id']}", key)
    assert status == 200 and cancelled["status"] == "cancelled"
    assert local_deps.table.get(pk, sk) is None
    status, error, _ = call("DELETE", f"/v1/messages/{message['id']}", key)
    assert status == 409 and error["error"]["code"] == "not_cancellable"


def test_status_only_moves_forward(call: ApiCaller, key: str, session: dict[str, Any]) -> None:
    message = send(call, key, session)[1]
    service = message_service()
    tenant = session["tenant_id"]
    assert service.apply_status(tenant, message["id"], MessageStatus.SENDING, 2.0) is not None
    sent = service.apply_status(tenant, message["id"], MessageStatus.SENT, 3.0, provider_message_id="3EB0AB")
    assert sent is not None and sent.provider_message_id == "3EB0AB"
    assert service.apply_status(tenant, message["id"], MessageStatus.READ, 5.0) is not None
    assert service.apply_status(tenant, message["id"], MessageStatus.DELIVERED, 6.0) is None  # late receipt
    error = MessageError(code="x", message="y")
    assert service.apply_status(tenant, message["id"], MessageStatus.FAILED, 7.0, error=error) is None
    final = service.get(tenant, message["id"])
    assert final.status == "read" and final.read_at == 5.0 and final.delivered_at == 5.0  # implied by read
    assert service.by_provider_id(tenant, session["id"], "3EB0AB") == message["id"]
    status, error, _ = call("DELETE", f"/v1/messages/{message['id']}", key)
    assert status == 409


def test_list_filters_and_pages(call: ApiCaller, key: str, session: dict[str, Any]) -> None:
    ids = [send(call, key, session, to=f"+3460012345{i}")[1]["id"] for i in range(4)]
    status, page, _ = call("GET", "/v1/messages", key, query="limit=3")
    assert [m["id"] for m in page["items"]] == list(reversed(ids))[:3] and page["cursor"]
    status, rest, _ = call("GET", "/v1/messages", key, query=f"limit=3&cursor={page['cursor']}")
    assert [m["id"] for m in rest["items"]] == [ids[0]]
    status, only, _ = call("GET", "/v1/messages", key, query="to=%2B34600123452")
    assert [m["id"] for m in only["items"]] == [ids[2]]
    status, by_session, _ = call(
        "GET", "/v1/messages", key, query=f"session_id={session['id']}&status=queued"
    )
    assert len(by_session["items"]) == 4
    assert call("GET", "/v1/messages", key, query="status=bogus")[0] == 422


def test_times_are_taken_as_iso_8601_with_an_offset_or_epoch_seconds(
    call: ApiCaller, key: str, session: dict[str, Any], local_deps: wiring.Deps
) -> None:
    import datetime as dt

    when = int(local_deps.clock.now()) + 7200
    local = dt.datetime.fromtimestamp(when, dt.timezone(dt.timedelta(hours=-3)))
    status, message = send(call, key, session, scheduled_at=local.isoformat())
    assert status == 202 and message["scheduled_at"] == when, message
    status, message = send(call, key, session, scheduled_at=str(when + 60))
    assert status == 202 and message["scheduled_at"] == when + 60, message
    for bad in ("2026-12-07T09:00:00", "tomorrow", "2026-12-07", True):
        status, error = send(call, key, session, scheduled_at=bad)
        assert status == 422 and error["error"]["details"]["fields"][0]["field"] == "scheduled_at", error
    since = dt.datetime.fromtimestamp(when - 10_000, dt.UTC).isoformat().replace("+00:00", "Z")
    status, page, _ = call("GET", "/v1/messages", key, query=f"since={since}")
    assert status == 200 and len(page["items"]) == 2
    status, page, _ = call("GET", "/v1/messages", key, query="until=1970-01-02T00:00:00%2B00:00")
    assert status == 200 and page["items"] == []
