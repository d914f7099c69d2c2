"""Imported history (`incoming_message` with `historical`): stored in its conversation in time order, never
a CRM webhook or dashboard push, never unread, and never displacing a newer last message."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fakes.push import RecordingPush
from tests.functions.test_conversations_api import dashboard, ev  # noqa: F401  (dashboard: a fixture)
from tests.functions.test_sessions_api import deliver
from tests.support.lambdas import ApiCaller
from wagate.domain.events import EventType

PHONE, OTHER = "+34600999888", "+34600555666"


@pytest.fixture
def session(call: ApiCaller, key: str) -> dict[str, Any]:
    return dict(call("POST", "/v1/sessions", key, body={"name": "Sales", "provider": "sandbox"})[1])


def _message(session: dict[str, Any], pid: str, phone: str, at: float, text: str, **extra: Any) -> Any:
    return ev(
        session,
        EventType.INCOMING_MESSAGE,
        provider_message_id=pid,
        chat_jid=f"{phone[1:]}@s.whatsapp.net",
        sender_jid=f"{phone[1:]}@s.whatsapp.net",
        sender_phone=phone,
        timestamp=at,
        text=text,
        type="text",
        **extra,
    )


def test_history_lands_quietly_behind_what_arrived_live(
    call: ApiCaller,
    key: str,
    session: dict[str, Any],
    functions: dict[str, Any],
    push: RecordingPush,
    dashboard: str,  # noqa: F811
) -> None:
    deliver(functions, _message(session, "LIVE1", PHONE, 300.0, "live"))
    old = _message(session, "HIST1", PHONE, 200.0, "from history", historical=True)
    deliver(functions, old, old)
    deliver(functions, _message(session, "HIST2", OTHER, 150.0, "older chat", historical=True))

    conversations = {c["chat"]: c for c in call("GET", "/v1/conversations", key)[1]["items"]}
    live = conversations[PHONE]
    assert (live["last_message_preview"], live["unread"]) == ("live", 1)
    assert (conversations[OTHER]["last_message_preview"], conversations[OTHER]["unread"]) == ("older chat", 0)
    texts = [m["text"] for m in call("GET", f"/v1/conversations/{live['id']}/messages", key)[1]["items"]]
    assert texts == ["live", "from history"]  # newest first, the import placed by its own time
    pushed = [m["data"].get("content") for m in push.to(dashboard) if m["event"] == "incoming_message"]
    assert len(pushed) == 1
    contacts = [c["phone"] for c in call("GET", "/v1/contacts", key)[1]["items"]]
    assert contacts == [PHONE]
