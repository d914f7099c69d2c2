"""One contact per person: a sender first known only by LID (`…@lid`) becomes the contact under their
phone once the phone is learned — from a later message that names both, or from the engine's
`contacts_synced` (the phone's history sync, a LID migration) — with counts and first sighting kept."""

from __future__ import annotations

from typing import Any

import pytest

from tests.functions.test_conversations_api import ev
from tests.functions.test_sessions_api import deliver
from tests.support.lambdas import ApiCaller
from wagate.domain.events import EventType

LID = "76389486454956@lid"
PHONE = "+34600999888"


@pytest.fixture
def session(call: ApiCaller, key: str) -> dict[str, Any]:
    return dict(call("POST", "/v1/sessions", key, body={"name": "Sales", "provider": "sandbox"})[1])


def _incoming(session: dict[str, Any], pid: str, at: float, **extra: Any) -> Any:
    event = ev(
        session,
        EventType.INCOMING_MESSAGE,
        provider_message_id=pid,
        chat_jid=LID,
        sender_jid=LID,
        sender_phone=None,
        timestamp=at,
        text="hola",
        push_name="Lucía",
        type="text",
    )
    return event.model_copy(update={"data": {**event.data, **extra}})


def _contacts(call: ApiCaller, key: str) -> list[tuple[str, str | None, str | None, int, float]]:
    items = call("GET", "/v1/contacts", key)[1]["items"]
    return [(c["phone"], c.get("lid"), c["name"], c["messages_in"], c["first_seen_at"]) for c in items]


def test_a_lid_contact_becomes_the_phone_contact_when_a_message_names_both(
    call: ApiCaller, key: str, session: dict[str, Any], functions: dict[str, Any]
) -> None:
    deliver(functions, _incoming(session, "L1", 200.0), _incoming(session, "L2", 210.0))
    assert _contacts(call, key) == [(LID, None, "Lucía", 2, 200.0)]
    both = _incoming(
        session, "P1", 300.0, sender_phone=PHONE, sender_jid="34600999888@s.whatsapp.net", sender_lid=LID
    )
    deliver(functions, both, both)  # a redelivery merges nothing twice
    assert _contacts(call, key) == [(PHONE, LID, "Lucía", 3, 200.0)]


def test_contacts_synced_folds_lid_contacts_and_names_known_ones_only(
    call: ApiCaller, key: str, session: dict[str, Any], functions: dict[str, Any]
) -> None:
    deliver(functions, _incoming(session, "L1", 200.0))
    known = _incoming(
        session, "K1", 250.0, sender_phone="+34600111222", sender_jid="34600111222@s.whatsapp.net"
    )
    deliver(functions, known)
    synced = ev(
        session,
        EventType.CONTACTS_SYNCED,
        source="history_sync",
        contacts=[
            {"phone": PHONE, "lid": LID, "name": None},
            {"phone": "+34600111222", "lid": "123456@lid", "name": "Marta"},
            {"phone": "+34600333444", "lid": "999@lid", "name": "Nobody we know"},
            {"phone": "not a phone", "lid": "x", "name": "ignored"},
        ],
    )
    deliver(functions, synced, synced)
    assert sorted(_contacts(call, key)) == [
        ("+34600111222", "123456@lid", "Marta", 1, 250.0),
        (PHONE, LID, "Lucía", 1, 200.0),
    ]
