"""CRM webhooks delivered: the events function queues them, the webhooks_out function sends them.

A CRM receiver runs on 127.0.0.1 and verifies every request with the `standardwebhooks` package.
Retries run on a fake clock that drives both the deliveries and the SQLite queue's delays, so a
schedule of minutes or hours passes without waiting (the clock starts at the real time, and moves at
most a few minutes where signatures are checked for freshness). The operator settings that allow http
and loopback addresses are turned on explicitly: the receiver lives on 127.0.0.1.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from local.queue_runner import sqs_record
from local.template import load_template
from tests.fakes.clock import FakeClock
from tests.functions.test_conversations_api import incoming
from tests.functions.test_sessions_api import deliver
from tests.support.aws_template import TEMPLATE
from tests.support.crm_receiver import HANG, Received, Receiver, crm_receiver
from tests.support.lambdas import ApiCaller, LambdaContext, load_event
from wagate import process_liveness, wiring
from wagate.adapters.http_crm_webhooks import HttpWebhookSender
from wagate.adapters.local.sqlite_queue import SqliteQueues
from wagate.compose import services
from wagate.domain.crm_webhooks import RETRY_DELAYS
from wagate.services import tenants
from wagate.services.crm_deliveries import DeliveryStore, parse_message

SPECS = load_template(TEMPLATE)


class Crm:
    """The world of one test: wagate's functions on a fake clock, a tenant, a session, a receiver."""

    def __init__(self, functions: dict[str, Any], deps: wiring.Deps, receiver: Receiver) -> None:
        self.functions = functions
        self.deps = deps
        self.clock: FakeClock = deps.clock
        self.receiver = receiver
        self.call = ApiCaller(functions["api"], functions["authorizer"])
        self.key = tenants.create_tenant(deps.table, deps.clock, "Agency")[1]
        self.session = self.call(
            "POST", "/v1/sessions", self.key, body={"name": "Ventas", "provider": "sandbox"}
        )[1]
        self.events = 0

    def webhook(self, path: str, **body: Any) -> dict[str, Any]:
        status, created, _ = self.call(
            "POST", "/v1/webhooks", self.key, body={"url": self.receiver.url(path), **body}
        )
        assert status == 201, created
        self.receiver.secret(path, created["secret"])
        return dict(created)

    def event(self) -> None:
        """One incoming WhatsApp message, through the events function (and so the real hook)."""
        self.events += 1
        deliver(self.functions, incoming(self.session, f"PROV{self.events}", f"Hola {self.events}"))

    def pump(self) -> int:
        """Run the webhooks queue's function like Lambda's event source until nothing is visible."""
        queue = self.deps.queues.get("WebhooksQueue")
        spec = SPECS.queues["WebhooksQueue"]
        handled = 0
        while messages := queue.receive(max_messages=10):
            records = [sqs_record(m, spec, time.time()) for m in messages]
            result = self.functions["webhooks_out"].lambda_handler({"Records": records}, LambdaContext())
            failed = {f["itemIdentifier"] for f in result["batchItemFailures"]}
            assert not failed, result
            for message in messages:
                queue.delete(message.receipt)
            handled += len(messages)
        return handled

    def deliveries(self, webhook: dict[str, Any], query: str = "") -> list[dict[str, Any]]:
        status, page, _ = self.call("GET", f"/v1/webhooks/{webhook['id']}/deliveries", self.key, query=query)
        assert status == 200, page
        return list(page["items"])

    def dead_letters(self) -> list[dict[str, Any]]:
        dlq = self.deps.queues.get("WebhooksDlq")
        return [json.loads(m.body) for m in dlq.receive(max_messages=10, visibility_timeout=0)]


@pytest.fixture
def crm(functions: dict[str, Any], local_deps: wiring.Deps, tmp_path: Path) -> Iterator[Crm]:
    clock = FakeClock(time.time())
    queues = SqliteQueues(tmp_path / "queues-fake-clock.db", SPECS.queue_definitions(), clock=clock.now)
    settings = local_deps.settings.model_copy(
        update={"webhooks_allow_http": True, "webhooks_allow_private": True}
    )
    sender = HttpWebhookSender.create(timeout=0.5)
    deps = dataclasses.replace(
        local_deps, settings=settings, clock=clock, queues=queues, webhook_sender=sender
    )
    wiring.install(deps)
    with crm_receiver(hang_seconds=1.5) as receiver:
        yield Crm(functions, deps, receiver)
    sender.client.close()
    queues.close()


def schedule(crm: Crm, text: str) -> None:
    settings = crm.deps.settings.model_copy(update={"webhooks_retry_schedule": text})
    crm.deps = dataclasses.replace(crm.deps, settings=settings)
    wiring.install(crm.deps)


def test_each_event_arrives_once_and_signed_after_the_crm_fails_three_times(crm: Crm) -> None:
    hook = crm.webhook("/crm", description="HubSpot")
    crm.receiver.script("/crm", 500, HANG, 503)
    crm.event()
    crm.event()
    crm.pump()  # first attempts: 500 and a timeout
    for delay in RETRY_DELAYS[:3]:
        crm.clock.advance(delay * 1.2 + 1)  # past the longest jitter of this retry
        crm.pump()
    assert crm.receiver.problems() == []
    requests = crm.receiver.at("/crm")
    delivered = crm.receiver.delivered("/crm")
    assert len(requests) == 2 + 3 and len(delivered) == 2
    assert len({r.webhook_id for r in delivered}) == 2  # each event once
    assert {r.webhook_id for r in requests} == {r.webhook_id for r in delivered}  # retries keep the id
    texts = sorted(r.json["data"]["content"] for r in delivered)
    assert texts == ["Hola 1", "Hola 2"]
    body = delivered[0].json
    assert body["type"] == "incoming_message" and body["timestamp"].endswith("Z")
    data = body["data"]
    assert data["tenantId"] == crm.session["tenant_id"] and data["sessionId"] == crm.session["id"]
    assert data["from"] == "+34600999888" and data["messageId"].startswith("msg_")
    assert delivered[0].headers["content-type"] == "application/json"
    assert delivered[0].headers["user-agent"].startswith("wagate/")
    records = crm.deliveries(hook)
    assert [d["status"] for d in records] == ["delivered", "delivered"]
    attempts = [a for d in records for a in d["attempts"]]
    assert sorted(str(a["status_code"]) for a in attempts) == ["200", "200", "500", "503", "None"]
    timeout = next(a for a in attempts if a["status_code"] is None)
    assert "no answer within 0.5 s" in timeout["error"] and timeout["latency_ms"] >= 0
    assert all(a["latency_ms"] is not None for a in attempts)
    assert crm.dead_letters() == []


def test_a_slow_or_failing_crm_does_not_hold_up_another_webhook(crm: Crm) -> None:
    # Long enough that the slow CRM is still answering when the fast one is called, if it is called (and
    # the slow one waits for that long: a loaded CI machine may take seconds to make the other call).
    crm.deps.webhook_sender.client.timeout = 30.0
    crm.webhook("/slow")
    crm.webhook("/fast")
    saw_fast: list[bool] = []

    def slow(request: Received) -> int:
        saw_fast.append(crm.receiver.wait_for(lambda: bool(crm.receiver.delivered("/fast")), timeout=20))
        return 500

    crm.receiver.script("/slow", slow)
    crm.event()
    assert crm.pump() == 2  # both deliveries in one batch
    assert saw_fast == [True]  # the fast CRM got its event while the slow one was still answering
    crm.receiver.script("/slow", 500, 500)
    crm.event()
    crm.event()
    crm.pump()
    assert len(crm.receiver.delivered("/fast")) == 3  # the failing CRM's retries are queued, not waited
    assert crm.receiver.delivered("/slow") == [] and crm.receiver.problems() == []


def test_after_the_last_attempt_the_delivery_fails_into_the_dlq_and_a_redrive_replays_it(crm: Crm) -> None:
    schedule(crm, "1,1")
    hook = crm.webhook("/down")
    crm.receiver.script("/down", 500, 502, 500)
    crm.event()
    for _ in range(3):
        crm.pump()
        crm.clock.advance(2)
    [failed] = crm.deliveries(hook, "status=failed")
    assert failed["attempt_count"] == 3 and failed["next_attempt_at"] is None
    assert [a["status_code"] for a in failed["attempts"]] == [500, 502, 500]
    assert crm.deliveries(hook, "status=pending") == []
    [letter] = crm.dead_letters()
    assert (
        letter["delivery_id"] == failed["id"]
        and letter["redrive"] is True
        and letter["error"] == "500 Internal Server Error"
    )
    assert crm.deps.queues.get("WebhooksQueue").approximate_depth() == 0
    # An operator's DLQ redrive moves the letter back: it replays the delivery once.
    crm.deps.queues.get("WebhooksQueue").send(json.dumps(letter))
    crm.pump()
    [done] = crm.deliveries(hook, "status=delivered")
    assert done["id"] == failed["id"] and done["attempts"][-1]["replay"] is True
    assert [r.answered for r in crm.receiver.at("/down")] == [500, 502, 500, 200]
    assert crm.receiver.problems() == []


def test_replay_sends_the_same_webhook_id_again(crm: Crm) -> None:
    hook = crm.webhook("/crm")
    crm.event()
    crm.pump()
    [delivery] = crm.deliveries(hook)
    path = f"/v1/webhooks/{hook['id']}/deliveries/{delivery['id']}/replay"
    status, replayed, _ = crm.call("POST", path, crm.key)
    assert status == 202 and replayed["status"] == "pending"
    status, error, _ = crm.call("POST", path, crm.key)
    assert status == 409 and error["error"]["code"] == "delivery_pending"
    crm.pump()
    first, again = crm.receiver.delivered("/crm")
    assert first.webhook_id == again.webhook_id == delivery["id"] and first.body == again.body
    fetched = crm.call("GET", f"/v1/webhooks/{hook['id']}/deliveries/{delivery['id']}", crm.key)[1]
    assert fetched["status"] == "delivered" and [a["replay"] for a in fetched["attempts"]] == [False, True]
    assert crm.receiver.problems() == []


def test_bulk_replay_of_failed_deliveries_since_a_time(crm: Crm) -> None:
    schedule(crm, "0")
    hook = crm.webhook("/crm")
    crm.receiver.script("/crm", *[500] * 6)
    for _ in range(3):
        crm.event()
    crm.pump()
    assert len(crm.deliveries(hook, "status=failed")) == 3
    # `since` is the events' time: these (from the fixtures) happened 100 s into 1970.
    body = {"since": "1970-01-01T00:01:40Z", "limit": 2}
    status, result, _ = crm.call("POST", f"/v1/webhooks/{hook['id']}/replay", crm.key, body=body)
    assert status == 202 and result == {"replayed": 2, "more": True}
    result = crm.call("POST", f"/v1/webhooks/{hook['id']}/replay", crm.key, body=body)[1]
    assert result == {"replayed": 1, "more": False}
    crm.pump()
    assert len(crm.deliveries(hook, "status=delivered")) == 3 and crm.dead_letters() != []
    future = {"since": "1970-01-01T01:01:41+01:00"}  # a second after them
    assert crm.call("POST", f"/v1/webhooks/{hook['id']}/replay", crm.key, body=future)[1]["replayed"] == 0


def test_410_gone_disables_the_webhook(crm: Crm) -> None:
    hook = crm.webhook("/gone")
    crm.receiver.script("/gone", 410)
    crm.event()
    crm.pump()
    [delivery] = crm.deliveries(hook)
    assert delivery["status"] == "failed" and delivery["attempt_count"] == 1
    disabled = crm.call("GET", f"/v1/webhooks/{hook['id']}", crm.key)[1]
    assert disabled["enabled"] is False and "410 Gone" in disabled["disabled_reason"]
    assert crm.dead_letters() == []  # the CRM asked for it: nothing for the operator to see
    crm.event()
    crm.pump()
    assert len(crm.deliveries(hook)) == 1 and len(crm.receiver.at("/gone")) == 1
    path = f"/v1/webhooks/{hook['id']}/deliveries/{delivery['id']}/replay"
    status, error, _ = crm.call("POST", path, crm.key)
    assert status == 409 and error["error"]["code"] == "webhook_disabled"
    crm.call("PATCH", f"/v1/webhooks/{hook['id']}", crm.key, body={"enabled": True})
    assert crm.call("POST", path, crm.key)[0] == 202
    crm.pump()
    assert [r.answered for r in crm.receiver.at("/gone")] == [410, 200]


def test_waits_longer_than_an_sqs_delay_hop_through_the_queue(crm: Crm) -> None:
    schedule(crm, "3600")
    crm.receiver.verify_at = crm.clock.now  # an hour ahead of the wall clock: check signatures only
    hook = crm.webhook("/crm")
    crm.receiver.script("/crm", 500)
    crm.event()
    crm.pump()
    [pending] = crm.deliveries(hook)
    due = pending["next_attempt_at"]
    assert pending["status"] == "pending" and 2880 <= due - crm.clock.now() <= 4320
    hops = 0
    while not crm.receiver.delivered("/crm"):
        crm.clock.advance(900)  # SQS's longest delay
        crm.pump()
        hops += 1
        assert hops < 10
        if crm.clock.now() < due:
            assert len(crm.receiver.at("/crm")) == 1  # not yet: the message only hopped
    assert hops >= 4 and crm.receiver.problems() == []


def test_an_event_offered_twice_is_delivered_once(crm: Crm) -> None:
    from tests.functions.test_conversations_api import ev
    from wagate.domain.events import EventType

    hook = crm.webhook("/crm", events=["connection_lost"])
    webhooks = services(crm.deps).webhooks
    lost = ev(crm.session, EventType.CONNECTION_LOST, reason="stream error", retry_in=5)
    assert webhooks.enqueue(lost, EventType.CONNECTION_LOST, {"reason": "x"}) == 1
    assert webhooks.enqueue(lost, EventType.CONNECTION_LOST, {"reason": "x"}) == 1  # message again
    assert webhooks.enqueue(lost, EventType.SESSION_FAILED, {"reason": "x"}) == 0  # not offered
    assert webhooks.enqueue(lost, EventType.QR_CODE, {"qr": "x"}) == 0  # filtered out
    assert crm.pump() == 2
    [delivery] = crm.deliveries(hook)
    assert delivery["status"] == "delivered" and len(crm.receiver.at("/crm")) == 1
    assert crm.receiver.problems() == []


def test_parallel_copies_of_one_message_make_one_attempt(crm: Crm) -> None:
    crm.webhook("/crm")
    crm.event()
    queue = crm.deps.queues.get("WebhooksQueue")
    [original] = queue.receive(max_messages=10)
    for _ in range(4):  # SQS delivers at least once
        queue.send(original.body)
    queue.delete(original.receipt)
    queue.send(original.body)
    threads = [threading.Thread(target=crm.pump) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    crm.pump()
    assert len(crm.receiver.at("/crm")) == 1


def test_the_address_is_checked_before_every_attempt_and_redirects_are_not_followed(crm: Crm) -> None:
    """On an httpx.MockTransport with a fake DNS: the seam where DNS can change under a webhook."""
    dns = {"crm.example.com": ["93.184.215.14"]}
    seen: list[httpx.Request] = []
    answers = [httpx.Response(302, headers={"Location": "https://169.254.169.254/"}), httpx.Response(204)]

    def web(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answers.pop(0)

    client = httpx.Client(transport=httpx.MockTransport(web), follow_redirects=False)
    sender = HttpWebhookSender(client, timeout=1.0, resolve=lambda host, port: dns[host])
    settings = crm.deps.settings.model_copy(
        update={"webhooks_allow_http": False, "webhooks_allow_private": False}
    )
    crm.deps = dataclasses.replace(crm.deps, settings=settings, webhook_sender=sender)
    wiring.install(crm.deps)
    hook = crm.call("POST", "/v1/webhooks", crm.key, body={"url": "https://crm.example.com/in"})[1]
    dns["crm.example.com"] = ["127.0.0.1"]  # rebinding after the check at creation
    crm.event()
    crm.pump()
    assert seen == []
    [pending] = crm.deliveries(hook)
    assert pending["status"] == "pending" and "127.0.0.1" in pending["attempts"][0]["error"]
    dns["crm.example.com"] = ["93.184.215.14"]
    crm.clock.advance(7)
    crm.pump()
    assert len(seen) == 1 and "redirects are not followed" in crm.deliveries(hook)[0]["attempts"][1]["error"]
    crm.clock.advance(37)
    crm.pump()
    [done] = crm.deliveries(hook)
    assert done["status"] == "delivered" and [a["status_code"] for a in done["attempts"]] == [None, 302, 204]
    last = seen[-1]
    assert last.url.host == "93.184.215.14" and last.headers["host"] == "crm.example.com"
    assert last.extensions["sni_hostname"] == "crm.example.com"
    payload = Webhook(hook["secret"]).verify(last.content, dict(last.headers))
    assert payload["type"] == "incoming_message" and last.headers["webhook-id"] == done["id"]


def test_the_sample_event_and_a_malformed_record(crm: Crm) -> None:
    """events/webhooks-out.json names a delivery that does not exist: dropped, not failed. A body that
    is not a webhook message is reported failed, so SQS retries it and finally dead-letters it."""
    event = load_event("webhooks-out")
    good = event["Records"][0]
    bad = {**good, "messageId": "not-json", "body": "{oops"}
    result = crm.functions["webhooks_out"].lambda_handler({"Records": [good, bad]}, LambdaContext())
    assert result == {"batchItemFailures": [{"itemIdentifier": "not-json"}]}


@pytest.mark.parametrize("claimer", ["killed", "alive"])
def test_an_attempt_claimed_by_a_killed_process_is_made_at_once(crm: Crm, claimer: str) -> None:
    """A worker claimed the attempt and died with it (kill -9): the next sight of the message makes the
    attempt at once, not after the claim's 45 s. A claim by a live process is still respected."""
    hook = crm.webhook("/crm")
    crm.event()
    queue = crm.deps.queues.get("WebhooksQueue")
    [message] = queue.receive(max_messages=10)
    data = parse_message(message.body)
    worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        started = process_liveness._start_ticks(worker.pid)
        assert started is not None
        identity = dataclasses.replace(process_liveness.current(), pid=worker.pid, started=started)
        store = DeliveryStore(crm.deps.table, crm.deps.queues, crm.clock)
        row = store.get_item(data["tenant_id"], data["webhook_id"], data["delivery_id"])
        crm.deps.table.update(
            str(row["pk"]),
            str(row["sk"]),
            set={"claimed_until": crm.clock.now() + 45, **identity.attributes()},
        )
        if claimer == "killed":
            worker.kill()
            worker.wait(10)
        queue.delete(message.receipt)
        queue.send(message.body)  # the message seen again (SQS, or the local queue freeing it)
        crm.pump()
    finally:
        worker.kill()
        worker.wait(10)
    [delivery] = crm.deliveries(hook)
    if claimer == "killed":
        assert delivery["status"] == "delivered" and len(crm.receiver.at("/crm")) == 1
    else:
        assert delivery["status"] == "pending" and crm.receiver.at("/crm") == []


def test_a_rotated_secret_signs_beside_the_old_one_until_the_overlap_ends(crm: Crm) -> None:
    hook = crm.webhook("/crm")
    old = hook["secret"]
    status, rotated, _ = crm.call(
        "POST", f"/v1/webhooks/{hook['id']}/rotate-secret", crm.key, body={"overlap_seconds": 120}
    )
    assert status == 200, rotated
    new = rotated["secret"]
    assert new.startswith("whsec_") and new != old and rotated["secret_hint"] == new[:10]
    assert rotated["previous_secret_expires_at"] == pytest.approx(crm.clock.now() + 120)
    stored = crm.deps.table.get(f"T#{crm.session['tenant_id']}", f"WEBHOOK#{hook['id']}")
    assert stored is not None and new.encode() not in bytes(stored["secret"])
    # During the overlap: two signatures, and a CRM holding either secret accepts the delivery.
    crm.event()
    crm.pump()
    during = crm.receiver.delivered("/crm")[-1]
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    for secret in (old, new):
        Webhook(secret).verify(during.body, dict(during.headers))
    assert crm.receiver.problems() == []
    # After it: only the new secret signs.
    crm.clock.advance(121)  # within the receiver's 5-minute freshness window
    crm.receiver.secret("/crm", new)
    crm.event()
    crm.pump()
    after = crm.receiver.delivered("/crm")[-1]
    assert len(after.headers["webhook-signature"].split(" ")) == 1 and crm.receiver.problems() == []
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(after.body, dict(after.headers))
    # overlap 0 (a leaked secret): the previous one stops at once.
    status, again, _ = crm.call(
        "POST", f"/v1/webhooks/{hook['id']}/rotate-secret", crm.key, body={"overlap_seconds": 0}
    )
    assert status == 200 and again["previous_secret_expires_at"] is None
    crm.receiver.secret("/crm", again["secret"])
    crm.event()
    crm.pump()
    last = crm.receiver.delivered("/crm")[-1]
    assert len(last.headers["webhook-signature"].split(" ")) == 1 and crm.receiver.problems() == []
    # Refusals: unknown webhook, an overlap past 7 days; the audit log names the rotation.
    status, missing, _ = crm.call("POST", "/v1/webhooks/whk_nope/rotate-secret", crm.key)
    assert status == 404 and missing["error"]["code"] == "webhook_not_found"
    status, bad, _ = crm.call(
        "POST", f"/v1/webhooks/{hook['id']}/rotate-secret", crm.key, body={"overlap_seconds": 8 * 86400}
    )
    assert status == 422, bad
    status, audit, _ = crm.call("GET", "/v1/audit", crm.key, query="action=webhook.secret_rotated")
    assert status == 200 and [e["target"] for e in audit["items"]] == [hook["id"], hook["id"]]
    assert all(old not in str(e) and new not in str(e) for e in audit["items"])
