"""POST /v1/contacts/check through the real handlers: the connector is asked (check_numbers), its answer
(numbers_checked) completes the check, within the wait (200) or after it (202, then GET); cloud numbers
answer `unknown` honestly; an hourly budget per tenant stops scraping (429 with Retry-After); bad input
is a clear 4xx; session-scoped keys see only their own session's checks."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from tests.functions.test_conversations_api import ev
from tests.functions.test_sessions_api import deliver, hold_lease
from tests.support.commands import take_commands
from tests.support.lambdas import ApiCaller
from wagate import compose, wiring
from wagate.domain.events import CommandType, EventType
from wagate.domain.sessions import Provider, Session, SessionStatus
from wagate.services.number_check import CheckStatus, NumberChecks


@pytest.fixture
def session(call: ApiCaller, key: str, functions: dict[str, Any], local_deps: wiring.Deps) -> dict[str, Any]:
    settings = local_deps.settings.model_copy(update={"contact_check_wait_seconds": 0.0})
    wiring.install(dataclasses.replace(local_deps, settings=settings))
    created = dict(call("POST", "/v1/sessions", key, body={"name": "Sales", "provider": "sandbox"})[1])
    hold_lease(created)
    deliver(functions, ev(created, EventType.CONNECTION_SUCCESS, phone="+34600000001"))
    take_commands(created["id"])
    return created


def answer(functions: dict[str, Any], session: dict[str, Any], check_id: str, **data: Any) -> None:
    deliver(functions, ev(session, EventType.NUMBERS_CHECKED, check_id=check_id, **data))


def test_the_connector_is_asked_and_its_answer_completes_the_check(
    call: ApiCaller, key: str, session: dict[str, Any], functions: dict[str, Any]
) -> None:
    body = {"session_id": session["id"], "numbers": ["+34 600 11 22 33", "+34600999000", "+34600112233"]}
    status, check, _ = call("POST", "/v1/contacts/check", key, body=body)
    assert status == 202 and check["status"] == "pending" and check["results"] == []
    [command] = take_commands(session["id"])
    assert command.type == CommandType.CHECK_NUMBERS
    assert command.data == {"check_id": check["id"], "numbers": ["+34600112233", "+34600999000"]}
    results = [
        {
            "phone": "+34600112233",
            "status": "on_whatsapp",
            "jid": "34600112233@s.whatsapp.net",
            "lid": "9@lid",
        },
        {"phone": "+34600999000", "status": "not_on_whatsapp", "jid": None, "lid": None},
    ]
    answer(functions, session, check["id"], results=results)
    answer(functions, session, check["id"], results=[])  # a redelivery (or a late second answer): ignored
    status, done, _ = call("GET", f"/v1/contacts/checks/{check['id']}", key)
    assert status == 200 and done["status"] == "done"
    assert [(r["phone"], r["status"], r["jid"]) for r in done["results"]] == [
        ("+34600112233", "on_whatsapp", "34600112233@s.whatsapp.net"),
        ("+34600999000", "not_on_whatsapp", None),
    ]


def test_an_answer_within_the_wait_is_a_200(
    call: ApiCaller,
    key: str,
    session: dict[str, Any],
    functions: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    checks = compose.services().number_checks
    monkeypatch.setattr(checks, "wait_seconds", 5.0)

    def connector_answers(_: float) -> None:  # the connector answers while the API waits
        [command] = take_commands(session["id"])
        results = [{"phone": "+34600112233", "status": "on_whatsapp"}]
        answer(functions, session, str(command.data["check_id"]), results=results)

    monkeypatch.setattr(checks, "sleep", connector_answers)
    body = {"session_id": session["id"], "numbers": ["+34600112233"]}
    status, check, _ = call("POST", "/v1/contacts/check", key, body=body)
    assert status == 200 and check["status"] == "done" and check["results"][0]["status"] == "on_whatsapp"


def test_a_session_that_could_not_be_asked_fails_the_check_and_says_why(
    call: ApiCaller, key: str, session: dict[str, Any], functions: dict[str, Any]
) -> None:
    body = {"session_id": session["id"], "numbers": ["+34600112233"]}
    check = call("POST", "/v1/contacts/check", key, body=body)[1]
    answer(functions, session, check["id"], error="session_not_connected")
    failed = call("GET", f"/v1/contacts/checks/{check['id']}", key)[1]
    assert (failed["status"], failed["error"], failed["results"]) == ("failed", "session_not_connected", [])


def test_the_hourly_budget_stops_scraping_with_a_429(
    call: ApiCaller, key: str, session: dict[str, Any], local_deps: wiring.Deps
) -> None:
    checks = compose.services().number_checks
    checks.per_hour = 60
    numbers = [f"+3460011{n:04d}" for n in range(50)]
    assert (
        call("POST", "/v1/contacts/check", key, body={"session_id": session["id"], "numbers": numbers})[0]
        == 202
    )
    status, body, headers = call(
        "POST", "/v1/contacts/check", key, body={"session_id": session["id"], "numbers": numbers[:11]}
    )
    assert (status, body["error"]["code"]) == (429, "number_check_rate_limited")
    assert 1 <= int(headers["Retry-After"]) <= 3600 and body["error"]["details"]["limit_per_hour"] == 60
    ten = {"session_id": session["id"], "numbers": numbers[:10]}
    assert call("POST", "/v1/contacts/check", key, body=ten)[0] == 202  # exactly up to the budget
    assert call("POST", "/v1/contacts/check", key, body={**ten, "numbers": numbers[:1]})[0] == 429


def test_bad_input_is_a_clear_4xx(call: ApiCaller, key: str, session: dict[str, Any]) -> None:
    for body, code in (
        ({"session_id": session["id"], "numbers": []}, "validation_failed"),
        ({"session_id": session["id"], "numbers": ["+3460011"] * 51}, "validation_failed"),
        ({"session_id": session["id"], "numbers": ["call me"]}, "invalid_input"),
        ({"numbers": ["+34600112233"]}, "validation_failed"),
        ({"session_id": session["id"], "numbers": ["+34600112233"], "extra": 1}, "validation_failed"),
    ):
        status, answer_body, _ = call("POST", "/v1/contacts/check", key, body=body)
        assert status == 422 and answer_body["error"]["code"] == code, (body, answer_body)
    status, answer_body, _ = call(
        "POST", "/v1/contacts/check", key, body={"session_id": "ses_nope", "numbers": ["+34600112233"]}
    )
    assert status == 404
    assert call("GET", "/v1/contacts/checks/chk_nope", key)[0] == 404
    pending = call("POST", "/v1/sessions", key, body={"name": "New", "provider": "sandbox"})[1]
    status, answer_body, _ = call(
        "POST", "/v1/contacts/check", key, body={"session_id": pending["id"], "numbers": ["+34600112233"]}
    )
    assert (status, answer_body["error"]["code"]) == (409, "session_not_connected")


def test_a_session_scoped_key_checks_through_its_own_session_only(
    call: ApiCaller, key: str, session: dict[str, Any]
) -> None:
    other = call("POST", "/v1/sessions", key, body={"name": "Other", "provider": "sandbox"})[1]
    scoped = call(
        "POST",
        "/v1/keys",
        key,
        body={"name": "advisor", "scopes": ["read", "send"], "sessions": [other["id"]]},
    )[1]["secret"]
    body = {"session_id": session["id"], "numbers": ["+34600112233"]}
    assert call("POST", "/v1/contacts/check", scoped, body=body)[0] == 404
    check = call("POST", "/v1/contacts/check", key, body=body)[1]
    assert call("GET", f"/v1/contacts/checks/{check['id']}", scoped)[0] == 404
    reader = call("POST", "/v1/keys", key, body={"name": "bi", "scopes": ["read"]})[1]["secret"]
    assert call("POST", "/v1/contacts/check", reader, body=body)[0] == 403


class CloudSessions:
    def get(self, tenant_id: str, session_id: str) -> Session:
        return Session(
            id=session_id,
            tenant_id=tenant_id,
            name="Meta",
            provider=Provider.CLOUD,
            status=SessionStatus.CONNECTED,
            created_at=1.0,
            updated_at=1.0,
        )


def test_a_cloud_number_answers_unknown_honestly_and_spends_nothing(local_deps: wiring.Deps) -> None:
    checks = NumberChecks(local_deps.table, local_deps.clock, CloudSessions(), per_hour=1, wait_seconds=0)  # type: ignore[arg-type]
    for _ in range(3):  # no budget spent: nothing was asked of anyone
        check = checks.start("ten_x", "ses_cloud", ["+34600112233", "+14155550100"])
        assert check.status == CheckStatus.DONE and check.reason == "cloud_api_cannot_check"
        assert [(r.phone, r.status) for r in check.results] == [
            ("+34600112233", "unknown"),
            ("+14155550100", "unknown"),
        ]
