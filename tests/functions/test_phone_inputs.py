"""Every API field that takes a phone number refuses letters (a 422 naming it) instead of guessing digits."""

from __future__ import annotations

import urllib.parse
from typing import Any

import pytest

from tests.support.commands import take_commands
from tests.support.lambdas import ApiCaller

LETTERS = "+1555abc0001"  # libphonenumber reads it as +15552220001: someone else's phone


@pytest.fixture
def session(call: ApiCaller, key: str) -> dict[str, Any]:
    status, body, _ = call("POST", "/v1/sessions", key, body={"name": "Sales", "provider": "sandbox"})
    assert status == 201
    take_commands(body["id"])
    return dict(body)


def refused(answer: tuple[int, Any, Any], field: str) -> None:
    status, body, _ = answer
    assert status == 422, body
    assert body["error"]["details"]["field"] == field, body
    assert "letters" in body["error"]["message"]


def test_a_message_to_a_number_with_letters_is_refused(
    call: ApiCaller, key: str, session: dict[str, Any]
) -> None:
    body = {"session_id": session["id"], "to": LETTERS, "text": "Hola"}
    refused(call("POST", "/v1/messages", key, body=body), "to")
    assert call("GET", "/v1/messages", key)[1]["items"] == []
    assert take_commands(session["id"]) == []
    refused(call("GET", "/v1/messages", key, query=urllib.parse.urlencode({"to": LETTERS})), "to")


def test_a_reminder_to_a_number_with_letters_is_refused(
    call: ApiCaller, key: str, session: dict[str, Any]
) -> None:
    body = {
        "session_id": session["id"],
        "to": LETTERS,
        "event_at": "2099-10-26T19:00",
        "time_zone": "Europe/Madrid",
        "template": {
            "name": "appointment_reminder",
            "language": "es",
            "variables": {"nombre_cliente": "Ana"},
        },
    }
    refused(call("POST", "/v1/reminders", key, body=body), "to")
    assert call("GET", "/v1/reminders", key)[1]["items"] == []


def test_sessions_links_and_sandbox_refuse_letters(
    call: ApiCaller, key: str, session: dict[str, Any]
) -> None:
    body = {"name": "Support", "provider": "sandbox", "phone": LETTERS}
    refused(call("POST", "/v1/sessions", key, body=body), "phone")
    refused(call("GET", "/v1/links/wa-me", key, query=urllib.parse.urlencode({"phone": LETTERS})), "phone")
    reply = {"contact": LETTERS, "text": "Hi"}
    refused(call("POST", f"/v1/sandbox/sessions/{session['id']}/reply", key, body=reply), "contact")
    assert take_commands(session["id"]) == []
