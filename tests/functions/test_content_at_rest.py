"""No content readable at rest, on both backends, through the Lambda handlers as AWS runs them.

A unique marker and a unique phone number go in as: an API send on a Cloud API number (and its
idempotent response), a scheduled send, an inbound Cloud API message (text and the contact's profile
name, through a signed Meta webhook), a CRM webhook delivery, a template and a reminder plan. Queue
records reach the handlers sealed, as SQS hands them over. The tenant gets plaintext back (API, CRM
webhook). Then:

* local: every file under the data directory (SQLite files, WAL, shared memory) is searched for the
  marker's bytes;
* aws (moto): every item of every DynamoDB table (main and idempotency), and every SQS body that was
  ever received or is still queued, is searched for it.

The phone number is searched for the same way: the blind index keeps it out of every key (contacts,
first-contact peers) and sealing out of every attribute.

`wagate serve` with the sandbox engine (send, schedule, inbound, reminder, webhook) is in
tests/e2e/test_serve_content_at_rest.py.
"""

from __future__ import annotations

import dataclasses
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from local.data_admin import encrypt_existing
from local.queue_runner import sqs_record
from local.template import load_template
from tests.contract.conftest import create_sqs_queues
from tests.fakes.graph import FakeGraph
from tests.fakes.push import RecordingPush
from tests.functions.cloud_support import APP_SECRET, PNID, create_cloud, notification, post_webhook
from tests.support.aws_template import TEMPLATE, create_tables
from tests.support.crm_receiver import Receiver, crm_receiver
from tests.support.lambdas import ApiCaller, LambdaContext, load_function
from wagate import wiring
from wagate.services import tenants
from wagate.settings import Settings
from wagate.store import blind_index, keys
from wagate.store.conversations import ContactRepository
from wagate.store.sealed_queues import SealedQueues
from wagate.store.sealed_table import SealedTable

SPECS = load_template(TEMPLATE)
CONSUMERS = {"CloudSendQueue": "cloud_send", "EventsQueue": "events", "WebhooksQueue": "webhooks_out"}
NAMES = ("api", "authorizer", "events", "cloud_send", "meta_webhooks", "webhooks_out")


@pytest.fixture(scope="module")
def functions() -> dict[str, Any]:
    return {name: load_function(name) for name in NAMES}


@pytest.fixture(params=["local", "aws"])
def backend(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, wiring.Deps]]:
    opened = {"webhooks_allow_http": True, "webhooks_allow_private": True}
    if request.param == "local":
        settings = Settings(backend="local", data_dir=tmp_path / "data", **opened)
        deps = wiring.build(settings, SPECS.queue_definitions())
        yield _installed(deps, "local")
        wiring.reset()
        return
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        tables = create_tables(boto3.client("dynamodb"))
        for name, url in create_sqs_queues(boto3.client("sqs"), SPECS.queue_definitions()).items():
            monkeypatch.setenv(name, url)
        key_id = boto3.client("kms").create_key()["KeyMetadata"]["Arn"]
        settings = Settings(
            backend="aws",
            table_name=tables["Table"],
            idempotency_table=tables["IdempotencyTable"],
            kms_key_id=key_id,
            **opened,
        )
        yield _installed(wiring.build(settings), "aws")
        wiring.reset()


def _installed(deps: wiring.Deps, name: str) -> tuple[str, wiring.Deps]:
    deps = dataclasses.replace(deps, push=RecordingPush())
    graph = FakeGraph()
    graph.number(PNID)
    deps.graph_api = graph.api()
    wiring.install(deps)
    return name, deps


class Pump:
    """Runs queues' consumers as Lambda's event source does: sealed bodies, straight from the queue."""

    def __init__(self, deps: wiring.Deps, functions: dict[str, Any]) -> None:
        assert isinstance(deps.queues, SealedQueues)
        self.raw = deps.queues.inner
        self.functions = functions
        self.bodies: list[str] = []

    def run(self, rounds: int = 10) -> None:
        for _ in range(rounds):
            moved = 0
            for queue_name, function in CONSUMERS.items():
                queue = self.raw.get(queue_name)
                messages = queue.receive(max_messages=10)
                if not messages:
                    continue
                moved += len(messages)
                self.bodies.extend(m.body for m in messages)
                records = [sqs_record(m, SPECS.queues[queue_name], time.time()) for m in messages]
                result = self.functions[function].lambda_handler({"Records": records}, LambdaContext())
                failed = {f["itemIdentifier"] for f in result["batchItemFailures"]}
                assert not failed, (queue_name, result)
                for m in messages:
                    queue.delete(m.receipt)
            if not moved:
                return

    def leftovers(self) -> list[str]:
        """Bodies still queued anywhere (delayed ones too: their visibility is reset to now)."""
        found = []
        for name in SPECS.queue_definitions():
            queue = self.raw.get(name)
            while messages := queue.receive(max_messages=10, visibility_timeout=30):
                found.extend(m.body for m in messages)
        return found


def at_rest_holding(name: str, deps: wiring.Deps, needle: str) -> list[str]:
    if name == "local":
        root = deps.settings.data_dir
        return [str(p) for p in sorted(root.rglob("*")) if p.is_file() and needle.encode() in p.read_bytes()]
    dynamodb = boto3.client("dynamodb")
    found = []
    for table in (deps.settings.table_name, deps.settings.idempotency_table):
        for page in dynamodb.get_paginator("scan").paginate(TableName=table):
            found += [
                f"{table}: {item['pk']}" for item in page["Items"] if needle in json.dumps(item, default=str)
            ]
    return found


def test_a_marker_through_every_path_is_nowhere_at_rest(
    backend: tuple[str, wiring.Deps], functions: dict[str, Any]
) -> None:
    name, deps = backend
    marker = f"MARK{uuid.uuid4().hex}"
    person = f"+3461{uuid.uuid4().int % 10**7:07d}"  # a unique number: in no key and no attribute either
    call = ApiCaller(functions["api"], functions["authorizer"])
    key = tenants.create_tenant(deps.table, deps.clock, f"Clinic {marker}")[1]
    pump = Pump(deps, functions)
    with crm_receiver() as crm:
        _webhook(call, key, crm)
        status, session = create_cloud(call, key, name=f"Line {marker}")
        assert status == 201, session
        pump.run()

        status, sent, _ = call(
            "POST",
            "/v1/messages",
            key,
            body={"session_id": session["id"], "to": person, "text": f"Cita {marker}"},
            headers={"Idempotency-Key": f"k-{marker}"},
        )
        assert status in (201, 202), sent
        status, scheduled, _ = call(
            "POST",
            "/v1/messages",
            key,
            body={
                "session_id": session["id"],
                "to": "+34600123457",
                "text": f"Luego {marker}",
                "scheduled_at": time.time() + 3600,
            },
        )
        assert status in (201, 202), scheduled
        template = {"name": "visit", "language": "es", "body": f"Hasta {{cuando}} {marker}"}
        assert call("POST", "/v1/templates", key, body=template)[0] == 201
        plan = {
            "session_id": session["id"],
            "to": "+34600123458",
            "event_at": time.strftime("%Y-%m-%dT%H:%M", time.gmtime(time.time() + 3 * 86400)),
            "time_zone": "UTC",
            "template": {"name": "visit", "variables": {"cuando": f"pronto {marker}"}},
        }
        status, created_plan, _ = call("POST", "/v1/reminders", key, body=plan)
        assert status == 201, created_plan
        inbound = notification(
            messages=[
                {
                    "from": person[1:],
                    "id": f"wamid.{uuid.uuid4().hex}",
                    "timestamp": str(int(time.time())),
                    "type": "text",
                    "text": {"body": f"Respuesta {marker}"},
                }
            ],
            contacts=[{"profile": {"name": f"Ana {marker}"}, "wa_id": person[1:]}],
        )
        assert post_webhook(functions, inbound, secret=APP_SECRET)[0] == 200
        pump.run()

        # The tenant reads plaintext: the API and the CRM's webhooks.
        assert marker in call("GET", f"/v1/messages/{sent['id']}", key)[1]["text"]
        conversations = call("GET", "/v1/conversations", key)[1]["items"]
        assert any(marker in (c.get("name") or "") for c in conversations)
        assert person in [c["phone"] for c in call("GET", "/v1/contacts", key)[1]["items"]]
        assert crm.wait_for(lambda: any(marker.encode() in r.body for r in crm.delivered("/crm")))
        assert crm.problems() == []
        replay = call(
            "POST",
            "/v1/messages",
            key,
            body={"session_id": session["id"], "to": person, "text": f"Cita {marker}"},
            headers={"Idempotency-Key": f"k-{marker}"},
        )
        assert replay[1]["id"] == sent["id"] and marker in replay[1]["text"]  # the stored response, opened

    bodies = pump.bodies + pump.leftovers()
    assert bodies and all(body.startswith("wgq1:") for body in bodies)
    assert [b for b in bodies if marker in b] == []
    assert at_rest_holding(name, deps, marker) == []
    assert at_rest_holding(name, deps, marker[4:20]) == []
    assert [b for b in bodies if person[1:] in b] == []
    assert at_rest_holding(name, deps, person[1:]) == []


def test_rows_from_before_encryption_are_sealed_in_place(backend: tuple[str, wiring.Deps]) -> None:
    """`wagate admin encrypt-existing` on each backend's own scan (SQLite file, DynamoDB Scan)."""
    name, deps = backend
    assert isinstance(deps.table, SealedTable)
    raw = deps.table.inner
    marker = f"MARK{uuid.uuid4().hex}"
    pk = keys.tenant_partition("ten_old")
    for n in range(30):
        raw.put({"pk": pk, "sk": f"MSG#{n:03d}", "text": f"{marker} {n}", "status": "sent"})
    # Rows keyed by a phone number, from before the blind index: a contact and a first-contact peer.
    phone = f"+3469{uuid.uuid4().int % 10**7:07d}"
    contact = {"tenant_id": "ten_old", "phone": phone, "first_seen_at": 1.0, "last_seen_at": 2.0}
    raw.put({"pk": pk, "sk": f"CONTACT#{phone}", **contact, "name": f"Ana {marker}", "messages_in": 2})
    peer = keys.legacy_first_contact_peer("ten_old", "ses_1", phone)
    raw.put({"pk": peer.pk, "sk": peer.sk, "to": phone, "first_at": 1.0, "day": "2026-01-01"})
    contacts = ContactRepository(deps.table)
    assert contacts.get("ten_old", phone) is not None  # found under the number until moved
    assert len(at_rest_holding(name, deps, marker)) >= 1
    assert encrypt_existing(deps) == 30
    assert at_rest_holding(name, deps, marker) == []  # locally: no free page or WAL frame keeps it either
    assert at_rest_holding(name, deps, phone[1:]) == []  # in no key, no attribute
    assert [deps.table.get(pk, f"MSG#{n:03d}")["text"] for n in range(3)] == [  # type: ignore[index]
        f"{marker} {n}" for n in range(3)
    ]
    moved = contacts.get("ten_old", phone)
    assert moved is not None and moved.name == f"Ana {marker}" and moved.messages_in == 2
    assert deps.table.get(*keys.legacy_contact("ten_old", phone)) is None
    person = blind_index.person(deps.table, "ten_old", phone)
    assert deps.table.get(*keys.first_contact_peer("ten_old", "ses_1", person)) is not None
    assert encrypt_existing(deps) == 0


def _webhook(call: ApiCaller, key: str, crm: Receiver) -> None:
    status, hook, _ = call("POST", "/v1/webhooks", key, body={"url": crm.url("/crm")})
    assert status == 201, hook
    crm.secret("/crm", hook["secret"])
