"""What the cloud tests share: a fake Graph, cloud sessions, the Cloud queue's Lambda, signed webhooks."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from tests.fakes.graph import VALID_TOKEN, FakeGraph
from tests.support.lambdas import ApiCaller, LambdaContext, http_event, load_function
from wagate import wiring
from wagate.cloud.commands import CLOUD_QUEUE
from wagate.services import realtime, tenants

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT.parent / "shared" / "fixtures" / "cloud"
APP_SECRET = "0123456789abcdef0123456789abcdef"
VERIFY_TOKEN = "a-verify-token-of-ours"
PNID = "277321005464405"
WABA = "264937493375603"


@pytest.fixture(name="functions", scope="module")
def functions_fixture() -> dict[str, Any]:
    names = ("api", "authorizer", "events", "cloud_send", "meta_webhooks")
    return {name: load_function(name) for name in names}


@pytest.fixture(name="graph")
def graph_fixture(local_deps: wiring.Deps) -> FakeGraph:
    fake = FakeGraph()
    fake.number(PNID)
    local_deps.graph_api = fake.api()
    return fake


@pytest.fixture(name="call")
def call_fixture(functions: dict[str, Any], local_deps: wiring.Deps) -> ApiCaller:
    return ApiCaller(functions["api"], functions["authorizer"])


@pytest.fixture(name="key")
def key_fixture(local_deps: wiring.Deps) -> str:
    return tenants.create_tenant(local_deps.table, local_deps.clock, "Clinic")[1]


def dashboard(local_deps: wiring.Deps, key: str, connection_id: str = "dash=") -> None:
    """A dashboard socket of the key's tenant, subscribed to all its sessions."""
    tenant_id = tenants.authenticate(local_deps.table, key).tenant_id
    token, _ = realtime.issue_token(local_deps.table, local_deps.clock, tenant_id, "k", 60)
    realtime.connect(local_deps.table, local_deps.clock, connection_id, token)
    realtime.handle_message(local_deps.table, connection_id, json.dumps({"action": "subscribe"}))


def operator_settings(**changes: Any) -> None:
    """Replace the process's settings (e.g. the operator's app secret) for this test."""
    d = wiring.deps()
    secrets = {
        k: SecretStr(v) if isinstance(v, str) and k.startswith("meta_") else v for k, v in changes.items()
    }
    wiring.install(dataclasses.replace(d, settings=d.settings.model_copy(update=secrets)))


def create_cloud(call: ApiCaller, key: str, **body: Any) -> tuple[int, Any]:
    payload = {
        "name": "Clinic line",
        "provider": "cloud",
        "phone_number_id": PNID,
        "business_account_id": WABA,
        "access_token": VALID_TOKEN,
        "app_secret": APP_SECRET,
        "verify_token": VERIFY_TOKEN,
        **body,
    }
    status, session, _ = call(
        "POST", "/v1/sessions", key, body={k: v for k, v in payload.items() if v is not None}
    )
    return status, session


def run_cloud_queue(functions: dict[str, Any], *, rounds: int = 5) -> dict[str, Any]:
    """Feeds what is visible on CloudSendQueue to its Lambda until nothing is left; returns the last
    response. Delayed messages (pacing, retries) stay in the queue."""
    queue = wiring.deps().queues.get(CLOUD_QUEUE)
    response: dict[str, Any] = {"batchItemFailures": []}
    for _ in range(rounds):
        received = queue.receive(max_messages=10)
        if not received:
            break
        records = [
            {
                "messageId": m.message_id,
                "receiptHandle": m.receipt,
                "body": m.body,
                "attributes": {"ApproximateReceiveCount": str(m.receive_count)},
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:CloudSendQueue",
                "awsRegion": "eu-west-1",
            }
            for m in received
        ]
        response = functions["cloud_send"].lambda_handler({"Records": records}, LambdaContext())
        failed = {f["itemIdentifier"] for f in response["batchItemFailures"]}
        for m in received:
            if m.message_id not in failed:
                queue.delete(m.receipt)
    return response


@pytest.fixture(name="session")
def session_fixture(call: ApiCaller, key: str, graph: FakeGraph, functions: dict[str, Any]) -> dict[str, Any]:
    """A cloud session whose credential check has run (connected against the fake Graph)."""
    _, created = create_cloud(call, key)
    run_cloud_queue(functions)
    return dict(created)


def sign(body: bytes, secret: str = APP_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def post_webhook(
    functions: dict[str, Any],
    body: bytes | dict[str, Any],
    *,
    signature: str | None = None,
    secret: str = APP_SECRET,
) -> tuple[int, str]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"x-hub-signature-256": signature if signature is not None else sign(raw, secret)}
    event = http_event("POST", "/webhooks/meta", raw_body=raw.decode(), headers=headers)
    response = functions["meta_webhooks"].lambda_handler(event, LambdaContext())
    return response["statusCode"], response["body"]


def get_webhook(functions: dict[str, Any], query: str) -> tuple[int, str, str]:
    event = http_event("GET", "/webhooks/meta", query=query)
    response = functions["meta_webhooks"].lambda_handler(event, LambdaContext())
    return response["statusCode"], response["body"], response["headers"]["Content-Type"]


def notification(
    *, messages: list[dict[str, Any]] = (), statuses: list[dict[str, Any]] = (), **value: Any
) -> dict[str, Any]:  # type: ignore[assignment]
    """A `messages` webhook for our number, in Meta's envelope."""
    inner: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550953877", "phone_number_id": PNID},
        **value,
    }
    if messages:
        inner.setdefault("contacts", [{"profile": {"name": "Ana"}, "wa_id": "34600123456"}])
        inner["messages"] = list(messages)
    if statuses:
        inner["statuses"] = list(statuses)
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": WABA, "changes": [{"value": inner, "field": "messages"}]}],
    }


def text_message(
    wamid: str, body: str = "Hola", sender: str = "34600123456", ts: int = 1730231903
) -> dict[str, Any]:
    return {"from": sender, "id": wamid, "timestamp": str(ts), "type": "text", "text": {"body": body}}


def status_update(
    wamid: str, kind: str, ts: int = 1730231999, recipient: str = "34600123456", **extra: Any
) -> dict[str, Any]:
    return {"id": wamid, "status": kind, "timestamp": str(ts), "recipient_id": recipient, **extra}
