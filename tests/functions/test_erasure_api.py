"""Erasure and export of one person (DELETE /v1/contacts/{phone}, GET .../export), on both backends: after
erasure nothing about them is found by any API or anywhere in the table (SQLite files, DynamoDB items), a
late receipt or inbound retry recreates nothing, and everyone else's data is untouched."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from tests.functions.test_conversations_api import incoming
from tests.functions.test_sessions_api import create, deliver, event, hold_lease
from tests.support.aws_template import create_tables
from tests.support.lambdas import ApiCaller
from wagate import wiring
from wagate.adapters.aws.dynamodb_table import DynamoTable
from wagate.domain.events import EventType
from wagate.services import tenants
from wagate.store.content_cipher import ContentCipher
from wagate.store.sealed_table import SealedTable
from wagate.store.tenant_keys import TenantKeys

PERSON = "+34600999888"
DIGITS = PERSON[1:]
OTHER = "+34600555444"
_DYNAMO: list[Any] = []  # the moto client and table name of the dynamodb run
MARKERS = ("ZEBRA-INBOUND-1", "ZEBRA-INBOUND-2", "ZEBRA-OUTBOUND", "ZEBRA-LATER")


@pytest.fixture(params=["sqlite", "dynamodb"])
def backend(
    request: pytest.FixtureRequest, local_deps: wiring.Deps, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    if request.param == "sqlite":
        yield "sqlite"
        return
    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing")):
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    with mock_aws():
        client = boto3.client("dynamodb", region_name="eu-west-1")
        names = create_tables(client)
        dynamo = DynamoTable(names["Table"], lambda: client)
        tenant_keys = TenantKeys(dynamo, local_deps.crypto)
        sealed = SealedTable(dynamo, ContentCipher(tenant_keys))  # as wiring builds it on AWS
        wiring.install(dataclasses.replace(local_deps, table=sealed, tenant_keys=tenant_keys))
        _DYNAMO[:] = [client, names["Table"]]
        yield "dynamodb"


@pytest.fixture
def admin(backend: str) -> str:
    d = wiring.deps()
    return tenants.create_tenant(d.table, d.clock, "Agency")[1]


def stored_text(backend: str) -> str:
    """Everything the table holds, as text: the SQLite files' bytes, or every DynamoDB item."""
    d = wiring.deps()
    if backend == "sqlite":
        data_dir = Path(d.settings.data_dir)
        return "".join(p.read_bytes().decode("latin-1") for p in data_dir.glob("table.db*") if p.is_file())
    client, name = _DYNAMO
    items: list[Any] = []
    for page in client.get_paginator("scan").paginate(TableName=name):
        items.extend(page["Items"])
    return json.dumps(items, default=str)


def a_world(call: ApiCaller, key: str, functions: dict[str, Any]) -> dict[str, Any]:
    """Two numbers; the person writes to one, the other writes and schedules to them; a reminder plan;
    someone else's conversation beside theirs."""
    desk, mobile = create(call, key, name="Desk"), create(call, key, name="Mobile")
    for session in (desk, mobile):
        hold_lease(session)
        deliver(functions, event(session, EventType.CONNECTION_SUCCESS))
    deliver(functions, incoming(desk, "IN-1", MARKERS[0], phone=PERSON))
    deliver(functions, incoming(desk, "IN-2", MARKERS[1], phone=PERSON))
    deliver(functions, incoming(desk, "IN-OTHER", "keep me", phone=OTHER))
    sent = call(
        "POST", "/v1/messages", key, body={"session_id": mobile["id"], "to": PERSON, "text": MARKERS[2]}
    )[1]
    deliver(
        functions, event(mobile, EventType.MESSAGE_SENT, message_id=sent["id"], provider_message_id="OUT-1")
    )
    later = {
        "session_id": mobile["id"],
        "to": PERSON,
        "text": MARKERS[3],
        "scheduled_at": time.time() + 86400,
    }
    scheduled = call("POST", "/v1/messages", key, body=later)[1]
    template = {"name": "visit", "language": "en", "body": "See you {when}"}
    assert call("POST", "/v1/templates", key, body=template)[0] == 201
    plan = {
        "session_id": desk["id"],
        "to": PERSON,
        "event_at": time.time() + 5 * 86400,
        "time_zone": "Europe/Madrid",
        "template": {"name": "visit", "language": "en", "variables": {"when": "Friday"}},
        "offsets": ["-1d"],
    }
    status, created_plan, _ = call("POST", "/v1/reminders", key, body=plan)
    assert status == 201, created_plan
    return {"desk": desk, "mobile": mobile, "sent": sent, "scheduled": scheduled, "plan": created_plan}


def test_export_then_erase_then_nothing_is_found_and_nothing_comes_back(
    call: ApiCaller, admin: str, functions: dict[str, Any], backend: str
) -> None:
    world = a_world(call, admin, functions)
    status, export, _ = call("GET", f"/v1/contacts/{PERSON}/export", admin)
    assert status == 200, export
    assert export["contact"]["phone"] == PERSON
    texts = {m["text"] for m in export["messages"]}
    assert set(MARKERS) <= texts and "keep me" not in texts
    assert len(export["conversations"]) == 2
    assert [p["id"] for p in export["reminders"]] == [world["plan"]["id"]]
    # Stored, yet nowhere readable: not in a key (the blind index), not in an attribute (sealed).
    assert DIGITS not in stored_text(backend)
    assert PERSON in [c["phone"] for c in call("GET", "/v1/contacts", admin)[1]["items"]]

    status, receipt, _ = call("DELETE", f"/v1/contacts/%2B{DIGITS}", admin)
    assert status == 200, receipt
    assert receipt["id"].startswith("era_") and DIGITS not in json.dumps(receipt)
    assert receipt["erased"]["messages"] >= 5  # 2 in, 1 out, 1 scheduled, the reminder's
    assert receipt["erased"]["conversations"] == 2 and receipt["erased"]["contacts"] == 1
    assert receipt["erased"]["reminder_plans"] == 1

    # No API finds them.
    for path in ("/v1/contacts", "/v1/conversations", "/v1/messages", "/v1/reminders", "/v1/audit"):
        status, body, _ = call("GET", path, admin)
        assert status == 200
        text = json.dumps(body)
        assert DIGITS not in text and not any(m in text for m in MARKERS), path
    assert call("GET", f"/v1/messages/{world['sent']['id']}", admin)[0] == 404
    assert call("GET", f"/v1/reminders/{world['plan']['id']}", admin)[0] == 404
    export = call("GET", f"/v1/contacts/{PERSON}/export", admin)[1]
    assert (
        export["messages"] == export["conversations"] == export["reminders"] == []
        and export["contact"] is None
    )
    # Someone else is untouched.
    assert [c["phone"] for c in call("GET", "/v1/contacts", admin)[1]["items"]] == [OTHER]

    # Storage holds nothing about them.
    stored = stored_text(backend)
    assert DIGITS not in stored and not any(m in stored for m in MARKERS)
    assert "IN-1" not in stored and "OUT-1" not in stored  # provider ids: keyed hashes only

    # Late copies recreate nothing.
    deliver(functions, incoming(world["desk"], "IN-1", MARKERS[0], phone=PERSON))
    deliver(
        functions,
        event(world["mobile"], EventType.MESSAGE_STATUS, status="read", provider_message_ids=["OUT-1"]),
    )
    deliver(
        functions,
        event(
            world["mobile"],
            EventType.MESSAGE_SENT,
            message_id=world["sent"]["id"],
            provider_message_id="OUT-1",
        ),
    )
    assert call("GET", "/v1/messages", admin)[1]["items"][0]["text"] == "keep me"
    assert len(call("GET", "/v1/messages", admin)[1]["items"]) == 1
    stored = stored_text(backend)
    assert DIGITS not in stored and not any(m in stored for m in MARKERS)

    # A new message from them afterwards is new data, and is kept.
    deliver(functions, incoming(world["desk"], "IN-3", "hello again", phone=PERSON))
    assert sorted(c["phone"] for c in call("GET", "/v1/contacts", admin)[1]["items"]) == sorted(
        [OTHER, PERSON]
    )

    # Erasing again is safe; the audit log names the receipt, never the number.
    assert call("DELETE", f"/v1/contacts/{PERSON}", admin)[0] == 200
    (entry, *_) = call("GET", "/v1/audit", admin, query="action=contact.erased")[1]["items"]
    assert entry["target"].startswith("era_") and DIGITS not in json.dumps(entry)
    exports = call("GET", "/v1/audit", admin, query="action=contact.exported")[1]["items"]
    assert len(exports) == 2 and DIGITS not in json.dumps(exports)  # an export is recorded too


def test_bad_numbers_are_422_and_it_is_admin_only(call: ApiCaller, admin: str) -> None:
    status, body, _ = call("DELETE", "/v1/contacts/not-a-phone", admin)
    assert status == 422 and set(body["error"]) == {"code", "message", "details"}
    reader = call("POST", "/v1/keys", admin, body={"name": "r", "scopes": ["read", "send"]})[1]["secret"]
    assert call("DELETE", f"/v1/contacts/{PERSON}", reader)[0] == 403
    assert call("GET", f"/v1/contacts/{PERSON}/export", reader)[0] == 403


def test_deleting_a_session_can_erase_its_messages(
    call: ApiCaller, admin: str, functions: dict[str, Any], backend: str
) -> None:
    world = a_world(call, admin, functions)
    status, _, _ = call("DELETE", f"/v1/sessions/{world['desk']['id']}", admin, query="erase_messages=true")
    assert status == 204
    texts = {m["text"] for m in call("GET", "/v1/messages", admin)[1]["items"]}
    assert MARKERS[0] not in texts and "keep me" not in texts  # the desk's, erased
    assert MARKERS[2] in texts  # the mobile's, kept
    deliver(functions, incoming(world["desk"], "IN-1", MARKERS[0], phone=PERSON))
    assert MARKERS[0] not in {m["text"] for m in call("GET", "/v1/messages", admin)[1]["items"]}
    assert call("DELETE", f"/v1/sessions/{world['mobile']['id']}", admin)[0] == 204  # default: kept
    assert MARKERS[2] in {m["text"] for m in call("GET", "/v1/messages", admin)[1]["items"]}


GROUP = "120363000000000077@g.us"


def group_message(session: dict[str, Any], provider_id: str, text: str, phone: str) -> Any:
    message = incoming(session, provider_id, text, phone=phone)
    return message.model_copy(update={"data": {**message.data, "group_jid": GROUP}})


def test_what_they_wrote_in_groups_and_the_connector_s_keys_about_them_are_erased(
    call: ApiCaller, admin: str, functions: dict[str, Any], backend: str
) -> None:
    desk = create(call, admin, name="Desk")
    hold_lease(desk)
    deliver(functions, event(desk, EventType.CONNECTION_SUCCESS))
    deliver(functions, group_message(desk, "G-OTHER", "ZEBRA-KEEP", OTHER))
    deliver(functions, group_message(desk, "G-THEIRS", MARKERS[0], PERSON))
    # The connector's protocol state about them (and about someone else), as the web engine keys it.
    table = wiring.deps().table
    partition = f"T#{desk['tenant_id']}#KEYS#{desk['id']}"
    theirs = [
        f"session#{DIGITS}.0",
        f"session#{DIGITS}.3",
        f"identity#{DIGITS}.0",
        f"device-list#{DIGITS}@s.whatsapp.net",
        f"lid-map#pn:{DIGITS}",
        f"privacy-token#{DIGITS}@s.whatsapp.net",
        f"sender-key#{GROUP}::{DIGITS}::0",
    ]
    others = [f"session#{OTHER[1:]}.0", f"sender-key#{GROUP}::{OTHER[1:]}::0", "creds#creds"]
    for sk in theirs + others:
        table.put({"pk": partition, "sk": sk, "value": b"\x01secret"})

    status, export, _ = call("GET", f"/v1/contacts/{PERSON}/export", admin)
    assert status == 200 and MARKERS[0] in {m["text"] for m in export["messages"]}
    assert "ZEBRA-KEEP" not in {m["text"] for m in export["messages"]}
    status, receipt, _ = call("DELETE", f"/v1/contacts/{PERSON}", admin)
    assert status == 200, receipt
    assert receipt["erased"]["group_messages"] == 1 and receipt["erased"]["engine_keys"] == len(theirs)

    texts = [m["text"] for m in call("GET", "/v1/messages", admin)[1]["items"]]
    assert texts == ["ZEBRA-KEEP"]  # the group and the others' messages stay
    (group,) = [c for c in call("GET", "/v1/conversations", admin)[1]["items"] if c["is_group"]]
    assert MARKERS[0] not in json.dumps(group)
    left = {str(r["sk"]) for r in table.query(partition, limit=100).items}
    assert left == set(others)
    stored = stored_text(backend)
    assert MARKERS[0] not in stored and "G-THEIRS" not in stored
    # A late copy of their group message is refused like any erased message.
    deliver(functions, group_message(desk, "G-THEIRS", MARKERS[0], PERSON))
    assert [m["text"] for m in call("GET", "/v1/messages", admin)[1]["items"]] == ["ZEBRA-KEEP"]
