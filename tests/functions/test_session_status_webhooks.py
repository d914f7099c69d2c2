"""`session_status` CRM webhooks: every change of a session's status with its reason, signed like the
others, once per change (not for each `connecting` step of a reconnect loop, not again on a redelivery),
with bans told apart from temporary bans and a 463 restriction or a rate limit shown on a connected
number (web: WhatsApp's 429 rate-overlimit on queries, the engine against the fake edge)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from connector.engines.events import Throttled, ThrottleEnded
from connector.engines.web.errors import RateLimited
from connector.publisher import event_payload
from tests.functions.test_sessions_api import deliver
from tests.functions.test_webhook_delivery import Crm, crm  # noqa: F401 (a fixture, by name)
from wagate.domain.events import EventType, SessionEvent
from wagate.store.sessions import SessionRepository


def event(w: Crm, kind: EventType, **data: Any) -> SessionEvent:
    w.events += 1
    return SessionEvent(
        type=kind,
        tenant_id=w.session["tenant_id"],
        session_id=w.session["id"],
        fence=1,
        at=100.0 + w.events,
        data=data,
    )


def reports(w: Crm, path: str) -> list[dict[str, Any]]:
    w.pump()
    assert w.receiver.problems() == []  # every request verified with its signing secret
    got = [r.json for r in w.receiver.delivered(path) if r.json["type"] == "session_status"]
    return [body["data"] for body in sorted(got, key=lambda body: str(body["timestamp"]))]  # sent in parallel


def test_each_status_change_is_reported_once_with_its_reason(crm: Crm) -> None:  # noqa: F811 (the fixture imported above)
    crm.webhook("/crm", events=["session_status"])
    connected = event(crm, EventType.CONNECTION_SUCCESS, phone="+34600111222")
    deliver(crm.functions, connected)
    deliver(crm.functions, connected)  # SQS redelivers it: still one report
    for _ in range(3):  # a reconnect loop: connecting, then the drop again, three times
        deliver(crm.functions, event(crm, EventType.SESSION_STATUS, status="connecting"))
        deliver(
            crm.functions,
            event(crm, EventType.CONNECTION_LOST, reason="connection_lost", retry_in=2.0, detail="reset"),
        )
    deliver(crm.functions, event(crm, EventType.CONNECTION_SUCCESS, phone="+34600111222"))
    got = reports(crm, "/crm")
    assert [(r["status"], r["reason"]) for r in got] == [
        ("connected", None),
        ("disconnected", "connection_lost"),
        ("connected", None),
    ]
    lost = got[1]
    assert (lost["previous_status"], lost["retry_in"], lost["permanent"], lost["ban"]) == (
        "connected",
        2.0,
        False,
        None,
    )
    assert lost["sessionId"] == crm.session["id"] and lost["phone"] == "+34600111222"
    assert lost["detail"] == "reset"


def test_a_temporary_ban_is_told_from_a_ban_and_says_until_when(crm: Crm) -> None:  # noqa: F811 (the fixture imported above)
    crm.webhook("/crm")
    deliver(crm.functions, event(crm, EventType.CONNECTION_SUCCESS))
    detail = "temporarily banned (402, code 102: too many people blocked this number) for 3600 s"
    deliver(
        crm.functions,
        event(crm, EventType.SESSION_FAILED, reason="temporarily_banned", detail=detail, expires_at=3700.0),
    )
    [_, temporary] = reports(crm, "/crm")
    assert (temporary["status"], temporary["reason"], temporary["ban"]) == (
        "failed",
        "temporarily_banned",
        "temporary",
    )
    assert temporary["expires_at"] == 3700.0 and "blocked" in temporary["detail"]
    # It ends by itself (the connector logs in again at expires_at): nothing for a person to fix.
    assert (temporary["permanent"], temporary["needs_attention"]) == (False, False)
    fetched = crm.call("GET", f"/v1/sessions/{crm.session['id']}", crm.key)[1]
    assert (fetched["status"], fetched["status_reason"]) == ("failed", "temporarily_banned")
    # Connected again later, then banned for good.
    crm.call("POST", f"/v1/sessions/{crm.session['id']}/connect", crm.key)
    deliver(crm.functions, event(crm, EventType.CONNECTION_SUCCESS))
    deliver(crm.functions, event(crm, EventType.SESSION_FAILED, reason="banned", detail="banned (403)"))
    banned = reports(crm, "/crm")[-1]
    assert (banned["reason"], banned["ban"], banned["needs_attention"]) == ("banned", "permanent", True)


def test_a_463_restriction_shows_on_a_connected_number_once(crm: Crm) -> None:  # noqa: F811 (the fixture imported above)
    crm.webhook("/crm", events=["session_status"])
    deliver(crm.functions, event(crm, EventType.CONNECTION_SUCCESS))
    body = {"session_id": crm.session["id"], "to": "+34600999888", "text": "Hi"}
    status, message, _ = crm.call("POST", "/v1/messages", crm.key, body=body)
    assert status in (201, 202), message
    refusal = "WhatsApp refused message (463): this number may not start a chat with the recipient"
    for _ in range(2):  # the second refusal is not news
        failed = event(
            crm,
            EventType.MESSAGE_STATUS,
            message_id=message["id"],
            status="failed",
            reason="recipient_restricted",
            detail=refusal,
        )
        deliver(crm.functions, failed)
    got = reports(crm, "/crm")
    assert [(r["status"], r["reason"], r["restricted"]) for r in got] == [
        ("connected", None, False),
        ("connected", "restricted", True),
    ]
    assert got[1]["detail"] == refusal
    # (The API would show `connecting`, reason connector_lost: no connector holds this session's lease.)
    stored = SessionRepository(crm.deps.table).get(crm.session["tenant_id"], crm.session["id"]).session
    assert (stored.status, stored.status_reason) == ("connected", "restricted")


def test_connecting_steps_reach_dashboards_but_not_crms(crm: Crm) -> None:  # noqa: F811 (the fixture imported above)
    crm.webhook("/all")  # subscribed to everything
    deliver(crm.functions, event(crm, EventType.SESSION_STATUS, status="connecting"))
    assert reports(crm, "/all") == []


def _published(w: Crm, engine_event: Any) -> SessionEvent:
    """An engine event as the connector's publisher puts it on the events queue."""
    kind, data = event_payload(engine_event)
    return event(w, kind, **data)


def test_a_web_number_whatsapp_throttles_is_told_once_per_episode(crm: Crm) -> None:  # noqa: F811 (the fixture imported above)
    """The web engine against the strict fake edge, its events through the events function: number checks
    over the account's budget make one `rate_limited` report per episode (redeliveries included), its end
    one `connected` report, and each episode counts once in the number's health signals."""
    pytest.importorskip("connector.engines.web.proto.WAProto_pb2", reason="protobufs not generated")
    from tests.connector.web.harness import Harness, with_edge

    crm.webhook("/crm", events=["session_status"])
    deliver(crm.functions, event(crm, EventType.CONNECTION_SUCCESS, phone="+15550001111"))
    told: list[Any] = []

    async def body(h: Harness) -> None:
        alice = await h.linked(
            "15550001111", "ses_a", rate_limit_hold_seconds=0.3, rate_limit_quiet_seconds=60.0
        )
        h.edge.limits.set("usync", 1, 60.0)
        await alice.engine.check_numbers(["+15550001111"])
        for _ in range(3):  # one refused by WhatsApp, two held back: one episode
            with pytest.raises(RateLimited):
                await alice.engine.check_numbers(["+15550001111"])
        h.edge.limits.set("usync", 5, 60.0)
        await asyncio.sleep(0.35)
        await alice.engine.check_numbers(["+15550001111"])  # answered after the hold: the episode ends
        await alice.running.wait(ThrottleEnded)
        h.edge.limits.set("usync", 0, 60.0)
        with pytest.raises(RateLimited):
            await alice.engine.check_numbers(["+15550001111"])
        told.extend(e for e in alice.running.events if isinstance(e, Throttled | ThrottleEnded))
        await alice.running.stop()

    with_edge(body)
    assert [type(e) for e in told] == [Throttled, ThrottleEnded, Throttled]
    for engine_event in told:
        published = _published(crm, engine_event)
        deliver(crm.functions, published, published)  # SQS redelivers it: still one report
    got = reports(crm, "/crm")
    assert [(r["status"], r["reason"]) for r in got] == [
        ("connected", None),
        ("connected", "rate_limited"),
        ("connected", None),
        ("connected", "rate_limited"),
    ]
    assert "number_check" in got[1]["detail"] and "429 rate-overlimit" in got[1]["detail"]
    assert (got[1]["ban"], got[1]["restricted"], got[1]["permanent"]) == (None, False, False)
    assert got[2]["previous_reason"] == "rate_limited" and "answered" in got[2]["detail"]
    health = crm.call("GET", f"/v1/sessions/{crm.session['id']}/health", crm.key)[1]
    assert health["signals"]["rate_limited"] == 2 and health["status_reason"] == "rate_limited"


def test_the_end_of_a_rate_limit_clears_only_that_reason_on_a_connected_number(crm: Crm) -> None:  # noqa: F811 (the fixture imported above)
    crm.webhook("/crm", events=["session_status"])
    deliver(crm.functions, event(crm, EventType.CONNECTION_SUCCESS))
    deliver(crm.functions, _published(crm, Throttled("group_metadata", "429 on group metadata", 60.0)))
    body = {"session_id": crm.session["id"], "to": "+34600999888", "text": "Hi"}
    message = crm.call("POST", "/v1/messages", crm.key, body=body)[1]
    deliver(
        crm.functions,
        event(
            crm, EventType.MESSAGE_STATUS, message_id=message["id"], status="failed", reason="wa_error_463"
        ),
    )
    deliver(crm.functions, _published(crm, ThrottleEnded("WhatsApp answered group_metadata queries again")))
    deliver(crm.functions, event(crm, EventType.CONNECTION_LOST, reason="connection_lost", retry_in=1.0))
    deliver(crm.functions, _published(crm, Throttled("number_check", "late", 60.0)))  # not connected: ignored
    got = reports(crm, "/crm")
    assert [(r["status"], r["reason"]) for r in got] == [
        ("connected", None),
        ("connected", "rate_limited"),
        ("connected", "restricted"),
        ("disconnected", "connection_lost"),
    ]


def test_a_temporary_ban_that_ends_reports_the_number_connected_again(crm: Crm) -> None:  # noqa: F811 (the fixture imported above)
    """The connector waits a temporary ban out and connects again (session_runner.py): its reports move
    the number on from `failed` as a reconnect would; a permanent ban stays put."""
    crm.webhook("/crm", events=["session_status"])
    deliver(crm.functions, event(crm, EventType.CONNECTION_SUCCESS))
    ban = {"reason": "temporarily_banned", "detail": "402, code 101", "expires_at": 200.0}
    deliver(crm.functions, event(crm, EventType.SESSION_FAILED, **ban))
    deliver(crm.functions, event(crm, EventType.SESSION_STATUS, status="connecting", attempt=0))
    deliver(crm.functions, event(crm, EventType.SESSION_FAILED, **ban))  # still banned: not news
    deliver(crm.functions, event(crm, EventType.SESSION_STATUS, status="connecting", attempt=0))
    deliver(crm.functions, event(crm, EventType.CONNECTION_SUCCESS))
    deliver(crm.functions, event(crm, EventType.SESSION_FAILED, reason="banned", detail="banned (403)"))
    deliver(crm.functions, event(crm, EventType.SESSION_STATUS, status="connecting", attempt=0))
    got = reports(crm, "/crm")
    assert [(r["status"], r["reason"], r["previous_reason"]) for r in got] == [
        ("connected", None, None),
        ("failed", "temporarily_banned", None),
        ("connected", None, "temporarily_banned"),
        ("failed", "banned", None),
    ]
    stored = SessionRepository(crm.deps.table).get(crm.session["tenant_id"], crm.session["id"]).session
    assert (stored.status, stored.status_reason) == ("failed", "banned")
