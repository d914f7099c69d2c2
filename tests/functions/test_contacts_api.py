"""Contacts for lead sync through the real handlers: lookup by phone, WhatsApp id or LID (merged into the
phone's contact), the CRM's external id/tags/metadata, search by phone, name word or external id through
search entries (never plaintext in keys), contact_created/contact_updated to CRMs, erasure of the entries."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.functions.test_contacts_merge import LID, PHONE, _incoming
from tests.functions.test_sessions_api import deliver
from tests.functions.test_webhook_delivery import Crm, crm  # noqa: F401 (a fixture, by name)
from tests.support.lambdas import ApiCaller
from wagate import wiring
from wagate.domain.events import EventType, SessionEvent


@pytest.fixture
def session(call: ApiCaller, key: str) -> dict[str, Any]:
    return dict(call("POST", "/v1/sessions", key, body={"name": "Sales", "provider": "sandbox"})[1])


def from_phone(session: dict[str, Any], pid: str, at: float, phone: str = PHONE, **extra: Any) -> Any:
    return _incoming(session, pid, at, sender_phone=phone, sender_jid=f"{phone[1:]}@s.whatsapp.net", **extra)


def search_rows(deps: wiring.Deps) -> list[dict[str, Any]]:
    inner = getattr(deps.table, "inner", deps.table)
    return [r for r in inner.scan() if "#CSEARCH#" in str(r["pk"])]


def test_lookup_by_phone_jid_or_lid_and_404_otherwise(
    call: ApiCaller, key: str, session: dict[str, Any], functions: dict[str, Any]
) -> None:
    deliver(functions, _incoming(session, "L1", 200.0))  # known by LID only
    status, by_lid, _ = call("GET", f"/v1/contacts/{LID}", key)
    assert status == 200 and by_lid["phone"] == LID and by_lid["push_name"] == "Lucía"
    deliver(functions, from_phone(session, "P1", 300.0, sender_lid=LID))  # the phone learned: merged
    for ident in (PHONE, "+34 600 999 888", "34600999888@s.whatsapp.net", LID, "%2B34600999888"):
        status, found, _ = call("GET", f"/v1/contacts/{ident}", key)
        assert status == 200 and (found["phone"], found["lid"]) == (PHONE, LID), ident
    status, body, _ = call("GET", "/v1/contacts/+34600111000", key)
    assert (status, body["error"]["code"]) == (404, "contact_not_found")
    for bad in ("hello", "x@g.us", "12@lid@lid"):
        status, body, _ = call("GET", f"/v1/contacts/{bad}", key)
        assert status == 422 and body["error"]["details"]["field"] == "phone", bad


def test_the_crm_sets_its_fields_and_finds_the_contact_by_them(
    call: ApiCaller, key: str, session: dict[str, Any], functions: dict[str, Any], local_deps: wiring.Deps
) -> None:
    deliver(functions, from_phone(session, "P1", 300.0, push_name="José Luis Pérez"))
    deliver(functions, from_phone(session, "P2", 310.0, phone="+34600111222", push_name="Marta Luis"))
    patch = {"external_id": "hubspot:4711", "tags": ["lead", "vip"], "metadata": {"stage": 2}}
    status, patched, _ = call("PATCH", f"/v1/contacts/{PHONE}", key, body=patch)
    assert status == 200 and patched["external_id"] == "hubspot:4711" and patched["tags"] == ["lead", "vip"]
    assert call("GET", f"/v1/contacts/{PHONE}", key)[1]["metadata"] == {"stage": 2}

    def found(query: str) -> list[str]:
        status, page, _ = call("GET", "/v1/contacts", key, query=query)
        assert status == 200, page
        return sorted(c["phone"] for c in page["items"])

    assert found("external_id=hubspot:4711") == [PHONE]
    assert found("name=jose") == [PHONE]  # one word, case and accents ignored
    assert found("name=LUIS") == ["+34600111222", PHONE]
    assert found("name=perez luis") == []  # a word, not a phrase
    assert found("phone=%2B34600111222") == ["+34600111222"]
    assert found("phone=%2B34600000000") == []
    status, body, _ = call("GET", "/v1/contacts", key, query="name=a&external_id=b")
    assert status == 422

    status, _, _ = call("PATCH", f"/v1/contacts/{PHONE}", key, body={"external_id": "hubspot:9"})
    assert status == 200
    assert found("external_id=hubspot:4711") == [] and found("external_id=hubspot:9") == [PHONE]
    assert call("PATCH", f"/v1/contacts/{PHONE}", key, body={"external_id": None})[0] == 200
    assert found("external_id=hubspot:9") == []
    rows = search_rows(local_deps)
    text = json.dumps(rows)
    assert rows and "jose" not in text.lower() and "hubspot" not in text and "luis" not in text.lower()


def test_bad_patches_are_clear_4xx(
    call: ApiCaller, key: str, session: dict[str, Any], functions: dict[str, Any]
) -> None:
    deliver(functions, from_phone(session, "P1", 300.0))
    for body in (
        {"external_id": ""},
        {"external_id": "has space"},
        {"tags": ["x"] * 51},
        {"tags": [""]},
        {"name": "not ours"},
        {"metadata": {"big": "x" * 20_000}},
    ):
        status, answer, _ = call("PATCH", f"/v1/contacts/{PHONE}", key, body=body)
        assert status == 422 and answer["error"]["code"] == "validation_failed", body
    status, answer, _ = call("PATCH", "/v1/contacts/+34600111000", key, body={"tags": ["x"]})
    assert status == 404


def test_a_session_scoped_key_and_a_read_only_key_are_held_to_their_scope(
    call: ApiCaller, key: str, session: dict[str, Any], functions: dict[str, Any]
) -> None:
    deliver(functions, from_phone(session, "P1", 300.0))
    scoped = call(
        "POST",
        "/v1/keys",
        key,
        body={"name": "advisor", "scopes": ["read", "send"], "sessions": [session["id"]]},
    )[1]["secret"]
    reader = call("POST", "/v1/keys", key, body={"name": "bi", "scopes": ["read"]})[1]["secret"]
    assert call("GET", f"/v1/contacts/{PHONE}", scoped)[0] == 403
    assert call("PATCH", f"/v1/contacts/{PHONE}", scoped, body={"tags": ["x"]})[0] == 403
    assert call("GET", f"/v1/contacts/{PHONE}", reader)[0] == 200
    assert call("PATCH", f"/v1/contacts/{PHONE}", reader, body={"tags": ["x"]})[0] == 403


def test_erasure_takes_the_search_entries_too(
    call: ApiCaller, key: str, session: dict[str, Any], functions: dict[str, Any], local_deps: wiring.Deps
) -> None:
    deliver(functions, from_phone(session, "P1", 300.0, sender_lid=LID))
    call("PATCH", f"/v1/contacts/{PHONE}", key, body={"external_id": "crm-1"})
    assert search_rows(local_deps)
    assert call("DELETE", f"/v1/contacts/{PHONE}", key)[0] == 200
    assert search_rows(local_deps) == []
    assert call("GET", "/v1/contacts", key, query="external_id=crm-1")[1]["items"] == []


def test_crms_are_told_of_new_and_changed_contacts_not_of_every_message(crm: Crm) -> None:  # noqa: F811
    crm.webhook("/crm", events=["contact_created", "contact_updated"])
    session = crm.session
    deliver(crm.functions, from_phone(session, "P1", 300.0))
    deliver(crm.functions, from_phone(session, "P2", 301.0))  # same name: nothing new
    deliver(crm.functions, from_phone(session, "P3", 302.0, push_name="Lucía G."))
    call = crm.call
    assert call("PATCH", f"/v1/contacts/{PHONE}", crm.key, body={"external_id": "crm-7"})[0] == 200
    crm.pump()
    got = [(r.json["type"], r.json["data"]) for r in crm.receiver.delivered("/crm")]
    got.sort(
        key=lambda pair: len(pair[1]["changed"]) * 0 + ["contact_created", "contact_updated"].index(pair[0])
    )
    kinds = sorted(kind for kind, _ in got)
    assert kinds == ["contact_created", "contact_updated", "contact_updated"]
    created = next(data for kind, data in got if kind == "contact_created")
    assert (
        created["phone"] == PHONE
        and created["push_name"] == "Lucía"
        and created["sessionId"] == session["id"]
    )
    changes = sorted(tuple(data["changed"]) for kind, data in got if kind == "contact_updated")
    assert changes == [("external_id",), ("name", "push_name")]
    rows = [r for r in crm.deps.table.inner.scan() if "#CSEARCH#" in str(r["pk"])]  # type: ignore[attr-defined]
    assert rows and PHONE[1:] not in json.dumps(rows)  # the number is in no key, and sealed in the row


def test_a_lid_folded_into_its_phone_by_a_sync_is_one_contact_updated_per_person(crm: Crm) -> None:  # noqa: F811
    crm.webhook("/crm", events=["contact_updated"])
    session = crm.session
    deliver(crm.functions, _incoming(session, "L1", 200.0))  # known by LID only
    deliver(crm.functions, _incoming(session, "L2", 201.0, chat_jid="555@lid", sender_jid="555@lid"))
    synced = SessionEvent(
        type=EventType.CONTACTS_SYNCED,
        tenant_id=session["tenant_id"],
        session_id=session["id"],
        fence=1,
        at=300.0,
        data={
            "source": "lid_migration",
            "contacts": [
                {"phone": PHONE, "lid": LID, "name": None},
                {"phone": "+34600555555", "lid": "555@lid"},
            ],
        },
    )
    deliver(crm.functions, synced, synced)  # redelivered: nothing twice
    crm.pump()
    got = sorted(
        (r.json["data"]["phone"], tuple(r.json["data"]["changed"]))
        for r in crm.receiver.delivered("/crm")
        if r.json["type"] == "contact_updated"
    )
    assert [phone for phone, _ in got] == ["+34600555555", PHONE]  # both told, each once
    assert all("jid" in changed for _, changed in got)
    assert crm.call("GET", f"/v1/contacts/{LID}", crm.key)[1]["phone"] == PHONE
