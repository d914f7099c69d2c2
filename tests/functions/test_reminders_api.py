"""Reminder plans over the API, on a fixed clock: default plan, time zones and DST, skips, move, cancel."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest

from tests.support.lambdas import ApiCaller
from wagate import wiring
from wagate.compose import message_service
from wagate.domain.errors import TransientError
from wagate.domain.messages import MessageStatus
from wagate.domain.tenants import Scope
from wagate.services import tenants
from wagate.services.messages import MessageService


def utc(text: str) -> float:
    return dt.datetime.fromisoformat(text).timestamp()


# Friday 24 October 2025, 12:00 in Madrid. Summer time ends there on Sunday the 26th at 03:00 (→ 02:00).
NOW = utc("2025-10-24T10:00:00Z")


class FixedClock:
    def __init__(self, now: float) -> None:
        self.value = now

    def now(self) -> float:
        return self.value


@pytest.fixture
def clock(local_deps: wiring.Deps) -> FixedClock:
    fixed = FixedClock(NOW)
    wiring.install(dataclasses.replace(local_deps, clock=fixed))
    return fixed


@pytest.fixture
def call(functions: dict[str, Any], clock: FixedClock) -> ApiCaller:
    return ApiCaller(functions["api"], functions["authorizer"])


@pytest.fixture
def key(clock: FixedClock) -> str:
    return tenants.create_tenant(wiring.deps().table, clock, "Clinic")[1]


@pytest.fixture
def session(call: ApiCaller, key: str) -> dict[str, Any]:
    status, body, _ = call("POST", "/v1/sessions", key, body={"name": "Front desk", "provider": "sandbox"})
    assert status == 201
    return dict(body)


SPANISH_REMINDER = {
    "name": "appointment_reminder",
    "language": "es",
    "variables": {"nombre_cliente": "Ana", "direccion": "Calle Mayor 1"},
}


def plan_body(session: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {
        "session_id": session["id"],
        "to": "+34 600 12 34 56",
        "event_at": "2025-10-26T19:00",
        "time_zone": "Europe/Madrid",
        "template": SPANISH_REMINDER,
        **changes,
    }


def create(call: ApiCaller, key: str, session: dict[str, Any], **changes: Any) -> dict[str, Any]:
    status, plan, _ = call("POST", "/v1/reminders", key, body=plan_body(session, **changes))
    assert status == 201, plan
    return dict(plan)


def message(call: ApiCaller, key: str, message_id: str) -> dict[str, Any]:
    status, found, _ = call("GET", f"/v1/messages/{message_id}", key)
    assert status == 200
    return dict(found)


def messages(call: ApiCaller, key: str) -> list[dict[str, Any]]:
    return list(call("GET", "/v1/messages", key)[1]["items"])


def nothing_stored(call: ApiCaller, key: str) -> bool:
    return call("GET", "/v1/reminders", key)[1]["items"] == [] and messages(call, key) == []


def by_offset(plan: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["offset"]: r for r in plan["reminders"]}


def mark_sent(plan: dict[str, Any], offset: str) -> None:
    sent = message_service().apply_status(
        plan["tenant_id"], by_offset(plan)[offset]["message_id"], MessageStatus.SENT, NOW
    )
    assert sent is not None


def test_default_plan_on_the_day_summer_time_ends(call: ApiCaller, key: str, session: dict[str, Any]) -> None:
    plan = create(call, key, session, metadata={"booking": 7})
    assert plan["status"] == "active" and plan["to"] == "+34600123456"
    assert plan["event_local"] == "2025-10-26T19:00:00+01:00"
    expected = {
        # The morning is 09:00 on the clock of the event day: winter time by then, so 08:00 UTC.
        "morning": ("2025-10-26T09:00:00+01:00", "2025-10-26T08:00:00Z"),
        "-6h": ("2025-10-26T13:00:00+01:00", "2025-10-26T12:00:00Z"),
        "-1h": ("2025-10-26T18:00:00+01:00", "2025-10-26T17:00:00Z"),
        "-30m": ("2025-10-26T18:30:00+01:00", "2025-10-26T17:30:00Z"),
        "0": ("2025-10-26T19:00:00+01:00", "2025-10-26T18:00:00Z"),
    }
    reminders = by_offset(plan)
    assert list(reminders) == list(expected)
    for offset, (local, at) in expected.items():
        reminder = reminders[offset]
        assert (reminder["local"], reminder["at"], reminder["state"]) == (local, utc(at), "scheduled")
        sent = message(call, key, reminder["message_id"])
        assert sent["status"] == "scheduled" and sent["scheduled_at"] == utc(at)
        assert sent["to"] == "+34600123456" and sent["kind"] == "template"
        assert sent["metadata"] == {"booking": 7, "reminder_plan_id": plan["id"], "reminder_offset": offset}
        assert sent["text"] == (
            "Hola Ana, te recordamos tu cita del domingo 26 de octubre a las 19:00 en Calle Mayor 1. "
            "Si no puedes venir, avísanos respondiendo a este mensaje. ¡Te esperamos!"
        )
    status, fetched, _ = call("GET", f"/v1/reminders/{plan['id']}", key)
    assert status == 200 and {r["message_status"] for r in fetched["reminders"]} == {"scheduled"}


def test_durations_are_real_time_and_clock_times_are_local(
    call: ApiCaller, key: str, session: dict[str, Any]
) -> None:
    plan = create(
        call,
        key,
        session,
        event_at="2025-10-26T05:00:00+01:00",  # two hours after the clocks went back
        offsets=["-6h", "-3h", "-1d@20:00", "morning"],
    )
    reminders = by_offset(plan)
    # Six real hours before 05:00 winter time is midnight summer time: five on the clock.
    assert reminders["-6h"]["local"] == "2025-10-26T00:00:00+02:00"
    assert reminders["-6h"]["at"] == utc("2025-10-25T22:00:00Z")
    # Three hours before is the second 02:00 of that night.
    assert reminders["-3h"]["local"] == "2025-10-26T02:00:00+01:00"
    assert reminders["-1d@20:00"]["local"] == "2025-10-25T20:00:00+02:00"
    assert reminders["-1d@20:00"]["at"] == utc("2025-10-25T18:00:00Z")
    # 09:00 that day is after a 05:00 start: a morning reminder then would make no sense.
    assert reminders["morning"]["state"] == "skipped" and reminders["morning"]["reason"] == "after_event"
    assert reminders["morning"]["message_id"] is None
    assert len(messages(call, key)) == 3


def test_a_clock_time_in_the_spring_gap_moves_forward(
    call: ApiCaller, key: str, session: dict[str, Any]
) -> None:
    # Summer time starts on 29 March 2026 in Madrid: 02:00 jumps to 03:00, so 02:30 never happens.
    plan = create(call, key, session, event_at="2026-03-29T10:00", offsets=["@02:30", "-1h"])
    reminders = by_offset(plan)
    assert reminders["@02:30"]["local"] == "2026-03-29T03:30:00+02:00"
    assert reminders["@02:30"]["at"] == utc("2026-03-29T01:30:00Z")
    text = message(call, key, reminders["-1h"]["message_id"])["text"]
    assert "del domingo 29 de marzo de 2026 a las 10:00" in text  # another year: the year is said


@pytest.mark.parametrize(
    ("event_at", "problem"),
    [("2025-10-26T02:30", "happens twice"), ("2026-03-29T02:30", "does not exist")],
)
def test_an_ambiguous_local_time_needs_an_offset(
    call: ApiCaller, key: str, session: dict[str, Any], event_at: str, problem: str
) -> None:
    status, error, _ = call("POST", "/v1/reminders", key, body=plan_body(session, event_at=event_at))
    assert status == 422
    assert error["error"]["details"]["field"] == "event_at"
    assert problem in error["error"]["message"] and "Europe/Madrid" in error["error"]["message"]
    assert nothing_stored(call, key)


def test_past_offsets_are_skipped(
    call: ApiCaller, key: str, session: dict[str, Any], clock: FixedClock
) -> None:
    clock.value = utc("2025-10-24T16:15:00Z")  # 18:15 in Madrid, 45 minutes before the event
    plan = create(call, key, session, event_at="2025-10-24T19:00")
    states = {r["offset"]: (r["state"], r["reason"]) for r in plan["reminders"]}
    assert states == {
        "morning": ("skipped", "past"),
        "-6h": ("skipped", "past"),
        "-1h": ("skipped", "past"),
        "-30m": ("scheduled", None),
        "0": ("scheduled", None),
    }
    assert len(messages(call, key)) == 2
    assert "viernes 24 de octubre a las 19:00" in messages(call, key)[0]["text"]


def test_reminders_at_the_same_instant_are_sent_once(
    call: ApiCaller, key: str, session: dict[str, Any]
) -> None:
    plan = create(call, key, session, event_at="2025-10-27T10:00")  # morning (09:00) is also -1h
    reminders = by_offset(plan)
    assert reminders["morning"]["state"] == "scheduled"
    assert (reminders["-1h"]["state"], reminders["-1h"]["reason"]) == ("skipped", "duplicate")
    assert len(messages(call, key)) == 4


def test_when_every_reminder_is_past_it_is_422(call: ApiCaller, key: str, session: dict[str, Any]) -> None:
    status, error, _ = call(
        "POST", "/v1/reminders", key, body=plan_body(session, event_at="2025-10-24T11:00")
    )
    assert status == 422 and error["error"]["code"] == "all_reminders_past"
    reasons = [r["reason"] for r in error["error"]["details"]["reminders"]]
    assert reasons == ["past", "past", "past", "past", "past"]
    assert nothing_stored(call, key)


@pytest.mark.parametrize(
    ("changes", "needles"),
    [
        ({"time_zone": "Mars/Olympus"}, ["time_zone", "Mars/Olympus", "IANA"]),
        ({"time_zone": "Europe"}, ["time_zone"]),
        ({"time_zone": "../../etc/passwd"}, ["time_zone"]),
        ({"event_at": "next tuesday"}, ["event_at", "ISO 8601"]),
        ({"event_at": "2025-10-26"}, ["event_at"]),
        ({"offsets": ["-6h", "6h"]}, ["offsets[1]", "needs a sign"]),
        ({"offsets": ["-1h", "-1H"]}, ["offsets[1]", "already offsets[0]"]),
        ({"offsets": ["soon"]}, ["offsets[0]", "'soon'"]),
        ({"offsets": []}, ["offsets"]),
        ({"morning_at": "25:00"}, ["morning_at"]),
        ({"to": "600123456"}, ["to", "international"]),
        ({"template": {"name": "nope"}}, ["nope does not exist"]),
        ({"template": {**SPANISH_REMINDER, "variables": {"nombre_cliente": "Ana"}}}, ["direccion"]),
        (
            {
                "template": {
                    **SPANISH_REMINDER,
                    "variables": {**SPANISH_REMINDER["variables"], "apellido": "x"},
                }
            },
            ["template.variables", "apellido"],
        ),
        ({"template": {**SPANISH_REMINDER, "language": "fr"}}, ["no fr version"]),
        ({"template": {"name": "appointment_reminder"}}, ["template.language", "en, es"]),
    ],
)
def test_bad_plans_are_422_naming_the_problem_and_store_nothing(
    call: ApiCaller, key: str, session: dict[str, Any], changes: dict[str, Any], needles: list[str]
) -> None:
    status, error, _ = call("POST", "/v1/reminders", key, body=plan_body(session, **changes))
    assert status == 422, error
    for needle in needles:
        assert needle in str(error["error"]), (needle, error)
    assert nothing_stored(call, key)


def test_an_unknown_session_is_404_and_stores_nothing(
    call: ApiCaller, key: str, session: dict[str, Any]
) -> None:
    status, error, _ = call("POST", "/v1/reminders", key, body=plan_body(session, session_id="ses_nope"))
    assert status == 404 and "ses_nope" in error["error"]["message"]
    assert nothing_stored(call, key)


def test_another_tenants_plan_is_404(
    call: ApiCaller, key: str, session: dict[str, Any], clock: FixedClock
) -> None:
    plan = create(call, key, session)
    other = tenants.create_tenant(wiring.deps().table, clock, "Other")[1]
    for method, body in (("GET", None), ("PATCH", {"event_at": "2025-10-27T19:00"}), ("DELETE", None)):
        status, error, _ = call(method, f"/v1/reminders/{plan['id']}", other, body=body)
        assert status == 404 and error["error"]["code"] == "not_found", method
    assert call("GET", "/v1/reminders", other)[1]["items"] == []
    assert {m["status"] for m in messages(call, key)} == {"scheduled"}


def test_moving_the_event_moves_what_is_pending_and_leaves_what_was_sent(
    call: ApiCaller, key: str, session: dict[str, Any]
) -> None:
    plan = create(call, key, session, event_at="2025-10-25T19:00")  # Saturday, still summer time
    mark_sent(plan, "morning")
    before = by_offset(plan)
    status, moved, _ = call(
        "PATCH", f"/v1/reminders/{plan['id']}", key, body={"event_at": "2025-10-26T19:00"}
    )
    assert status == 200, moved
    assert moved["event_local"] == "2025-10-26T19:00:00+01:00" and moved["status"] == "active"
    changes = {c["offset"]: c for c in moved["changes"]}
    assert (changes["morning"]["action"], changes["morning"]["reason"]) == ("untouched", "sent")
    after = by_offset(moved)
    for offset in ("-6h", "-1h", "-30m", "0"):
        # The text shows the date, so each message is replaced: cancelled, and sent anew at the new time.
        assert changes[offset]["action"] == "moved"
        assert changes[offset]["replaces"] == before[offset]["message_id"] != after[offset]["message_id"]
        assert after[offset]["at"] == before[offset]["at"] + 25 * 3600  # a day, plus the hour given back
        assert message(call, key, before[offset]["message_id"])["status"] == "cancelled"
        new = message(call, key, after[offset]["message_id"])
        assert new["scheduled_at"] == after[offset]["at"] and "domingo 26 de octubre" in new["text"]
    assert after["morning"] == {**before["morning"], "message_status": "sent"}


def test_moving_reschedules_in_place_when_the_text_stays_the_same(
    call: ApiCaller, key: str, session: dict[str, Any]
) -> None:
    template = {"name": "live", "language": "en", "body": "We are live! Join at {link}"}
    assert call("POST", "/v1/templates", key, body=template)[0] == 201
    plan = create(
        call,
        key,
        session,
        offsets=["-1h", "0"],
        template={"name": "live", "variables": {"link": "https://meet.example/abc"}},
    )
    status, moved, _ = call(
        "PATCH", f"/v1/reminders/{plan['id']}", key, body={"event_at": "2025-10-26T20:30:00+01:00"}
    )
    assert status == 200
    assert [(c["action"], c["replaces"]) for c in moved["changes"]] == [("moved", None), ("moved", None)]
    for before, after in zip(plan["reminders"], moved["reminders"], strict=True):
        assert after["message_id"] == before["message_id"]
        assert after["at"] == before["at"] + 5400
        assert message(call, key, after["message_id"])["scheduled_at"] == after["at"]


def test_moving_cancels_what_is_now_past_and_adds_what_no_longer_is(
    call: ApiCaller, key: str, session: dict[str, Any], clock: FixedClock
) -> None:
    clock.value = utc("2025-10-24T16:15:00Z")
    plan = create(call, key, session, event_at="2025-10-24T19:00")  # three skipped as past
    path = f"/v1/reminders/{plan['id']}"
    status, later, _ = call("PATCH", path, key, body={"event_at": "2025-10-27T19:00"})
    assert status == 200
    actions = {c["offset"]: c["action"] for c in later["changes"]}
    assert actions == {"morning": "added", "-6h": "added", "-1h": "added", "-30m": "moved", "0": "moved"}
    assert {r["state"] for r in later["reminders"]} == {"scheduled"}

    status, sooner, _ = call("PATCH", path, key, body={"event_at": "2025-10-24T18:50"})
    assert status == 200
    changes = {c["offset"]: (c["action"], c["reason"]) for c in sooner["changes"]}
    assert changes["morning"] == changes["-6h"] == changes["-1h"] == ("cancelled", "past")
    assert changes["-30m"][0] == changes["0"][0] == "moved"
    assert [r["at"] for r in sooner["reminders"][3:]] == [
        utc("2025-10-24T16:20:00Z"),
        utc("2025-10-24T16:50:00Z"),
    ]
    scheduled = [m for m in messages(call, key) if m["status"] == "scheduled"]
    assert sorted(m["scheduled_at"] for m in scheduled) == [r["at"] for r in sooner["reminders"][3:]]


def test_moving_into_the_past_is_422_and_changes_nothing(
    call: ApiCaller, key: str, session: dict[str, Any]
) -> None:
    plan = create(call, key, session)
    status, error, _ = call(
        "PATCH", f"/v1/reminders/{plan['id']}", key, body={"event_at": "2025-10-23T19:00"}
    )
    assert status == 422 and error["error"]["code"] == "all_reminders_past"
    assert f"DELETE /v1/reminders/{plan['id']}" in error["error"]["message"]
    status, zone_error, _ = call(
        "PATCH",
        f"/v1/reminders/{plan['id']}",
        key,
        body={"event_at": "2025-10-27T19:00", "time_zone": "Nowhere"},
    )
    assert status == 422 and "time_zone" in zone_error["error"]["message"]
    fetched = call("GET", f"/v1/reminders/{plan['id']}", key)[1]
    assert fetched["event_at"] == plan["event_at"] and fetched["version"] == plan["version"]
    assert {m["status"] for m in messages(call, key)} == {"scheduled"}


def test_delete_cancels_what_is_pending(call: ApiCaller, key: str, session: dict[str, Any]) -> None:
    plan = create(call, key, session)
    mark_sent(plan, "morning")
    path = f"/v1/reminders/{plan['id']}"
    status, cancelled, _ = call("DELETE", path, key)
    assert status == 200 and cancelled["status"] == "cancelled"
    changes = {c["offset"]: (c["action"], c["reason"]) for c in cancelled["changes"]}
    assert changes["morning"] == ("untouched", "sent")
    assert all(changes[o] == ("cancelled", "plan_cancelled") for o in ("-6h", "-1h", "-30m", "0"))
    assert sorted(m["status"] for m in messages(call, key)) == ["cancelled"] * 4 + ["sent"]
    status, again, _ = call("DELETE", path, key)
    assert status == 200 and again["changes"] == [] and again["status"] == "cancelled"
    status, error, _ = call("PATCH", path, key, body={"event_at": "2025-10-27T19:00"})
    assert status == 409 and error["error"]["code"] == "plan_not_active"


def test_a_failure_midway_leaves_no_half_plan(
    call: ApiCaller, key: str, session: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    accept = MessageService.accept
    calls = []

    def flaky(self: MessageService, tenant_id: str, request: Any) -> Any:
        calls.append(request)
        if len(calls) == 3:
            raise TransientError("the table is throttling")
        return accept(self, tenant_id, request)

    monkeypatch.setattr(MessageService, "accept", flaky)
    status, error, _ = call("POST", "/v1/reminders", key, body=plan_body(session))
    assert status == 503 and error["error"]["code"] == "temporarily_unavailable"
    assert call("GET", "/v1/reminders", key)[1]["items"] == []
    assert [m["status"] for m in messages(call, key)] == ["cancelled", "cancelled"]
    monkeypatch.undo()
    create(call, key, session)  # and a retry starts clean
    assert [m["status"] for m in messages(call, key)].count("scheduled") == 5


def test_a_group_and_another_template_at_the_start(
    call: ApiCaller, key: str, session: dict[str, Any]
) -> None:
    live = {"name": "live", "language": "en", "body": "We are live since {event_time}: {link}"}
    assert call("POST", "/v1/templates", key, body=live)[0] == 201
    english = {
        "name": "appointment_reminder",
        "language": "en",
        "variables": {"client_name": "Workshop", "address": "Zoom"},
    }
    plan = create(
        call,
        key,
        session,
        to="120363012345678901@g.us",
        template=english,
        offsets=[
            "-1h",
            {"offset": "0", "template": {"name": "live", "variables": {"link": "https://z.example"}}},
        ],
    )
    reminders = by_offset(plan)
    first = message(call, key, reminders["-1h"]["message_id"])
    assert first["to"] == "120363012345678901@g.us"
    assert "on Sunday, October 26 at 7:00 PM at Zoom" in first["text"]
    assert (
        message(call, key, reminders["0"]["message_id"])["text"]
        == "We are live since 7:00 PM: https://z.example"
    )
    assert plan["offsets"][1]["template"] == {
        "name": "live",
        "language": "en",
        "variables": {"link": "https://z.example"},
    }


def test_epoch_times_scopes_and_listing(
    call: ApiCaller, key: str, session: dict[str, Any], clock: FixedClock
) -> None:
    reader = tenants.create_key(wiring.deps().table, clock, session["tenant_id"], "dash", [Scope.READ])[1]
    status, error, _ = call("POST", "/v1/reminders", reader, body=plan_body(session))
    assert status == 403 and error["error"]["details"]["required"] == "send"
    first = create(call, key, session, event_at=utc("2025-10-26T18:00:00Z"))
    assert first["event_local"] == "2025-10-26T19:00:00+01:00"
    second = create(call, key, session, event_at=str(int(utc("2025-10-27T18:00:00Z"))))
    status, page, _ = call("GET", "/v1/reminders", reader, query="limit=1")
    assert status == 200 and [p["id"] for p in page["items"]] == [second["id"]] and page["cursor"]
    status, rest, _ = call("GET", "/v1/reminders", reader, query=f"limit=1&cursor={page['cursor']}")
    assert [p["id"] for p in rest["items"]] == [first["id"]]
    assert call("GET", f"/v1/reminders/{first['id']}", reader)[0] == 200
    assert call("DELETE", f"/v1/reminders/{first['id']}", reader)[0] == 403


def test_an_idempotency_key_plans_once(call: ApiCaller, key: str, session: dict[str, Any]) -> None:
    headers = {"Idempotency-Key": "booking-7"}
    status, first, _ = call("POST", "/v1/reminders", key, body=plan_body(session), headers=dict(headers))
    assert status == 201
    status, again, _ = call("POST", "/v1/reminders", key, body=plan_body(session), headers=dict(headers))
    assert status == 201 and again["id"] == first["id"]
    assert len(call("GET", "/v1/reminders", key)[1]["items"]) == 1 and len(messages(call, key)) == 5
    other_body = plan_body(session, event_at="2025-10-27T19:00")
    status, error, _ = call("POST", "/v1/reminders", key, body=other_body, headers=dict(headers))
    assert status == 422 and error["error"]["code"] == "idempotency_key_reused"
