"""AWS mode end to end: the unchanged handlers with WAGATE_BACKEND=aws, each under its own role's policy
from the SAM-translated template, against moto in server mode with IAM enforcement; the connector as a
separate process under the ECS task role. Any AccessDenied (from moto or from the resource check) fails.

Flow: session QR → connected → send → delivered/read → dashboard push → signed CRM webhook → scheduled send
(EventBridge Scheduler → sweeper → dispatcher → connector) → inbound → Cloud session create → a Cloud
message in through Meta's signed webhook → an Evolution API instance with its webhook (QRCODE_UPDATED in
Evolution's shape). (The CRM webhook is created first, so every event is delivered.)
Graph calls of the Cloud session go to a closed localhost port (tests touch only localhost): its token
check fails and is retried, which runs the Cloud send function under its role without reaching Meta.

How the policies are obtained: template.yaml → Fn::ForEach expanded (local/language_extensions.py) → the
SAM translator (`samtranslator`, the library behind `sam build`/CloudFormation's SAM transform) → each
AWS::IAM::Role's inline policies (SAM policy templates expanded by SAM itself) and managed policies →
intrinsics resolved to the physical resources created in moto (tests/aws/stack.py).

What moto cannot enforce, and what stands in for it here:
  * Resource-level permissions: moto's server authorizes SQS calls against the queue ARN but asks about
    resource `*` for DynamoDB, KMS and execute-api. Those are checked by tests/aws/recorder.py in every
    process against the role's real policy (action + resource ARN + conditions) before the call leaves;
    moto still enforces the action names (its copy of each policy has `Resource: *` for them).
  * Moto asks about resource `*` for sqs:GetQueueUrl (it looks for a QueueUrl that call has not got):
    its copy grants GetQueueUrl on `*` where the policy grants it on some queue; the recorder checks it.
  * Moto authorizes some calls by API name rather than IAM action (execute-api:PostToConnection instead of
    ManageConnections, sqs:DeleteMessageBatch, dynamodb:TransactWriteItems): its copy grants those
    aliases where the real action is granted; the recorder checks the real per-item actions.
  * Moto turns an Allow whose Condition fails into a Deny of the whole call, so conditional statements
    (the connector's kms:ViaService=sqs grant) are left out of moto's copy; the recorder evaluates them.
  * Key policies, SQS SSE with alias/aws/sqs, Lambda resource policies (AWS::Lambda::Permission) and the
    HTTP API's authorizer wiring are not evaluated. The scheduler's role is checked against the schedule's
    target by the harness before it invokes the sweeper.
  * Moto's server rejects the SigV4 signature of EventBridge Scheduler's GET calls once IAM is enforced,
    so the schedule is read back at deploy time.
  * The @connections endpoint is moto's root (http, signed), not https://{api}.execute-api.../live.
  * API Gateway, Lambda's SQS pollers and EventBridge Scheduler's delivery are emulated by
    tests/aws/harness.py (moto stores schedules but does not fire them); the pollers run under each
    function's role, as Lambda's event-source mapping does.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.aws.harness import aws_mode, wait_for
from tests.functions.cloud_support import APP_SECRET, PNID, WABA, notification, sign, text_message
from tests.support.crm_receiver import crm_receiver

pytest.importorskip("samtranslator", reason="the SAM translator (aws-sam-translator) builds the roles")


CONTACT = "+15550100001"  # the sandbox contact who answers


@pytest.mark.timeout(300)  # ~15 s alone; ten processes start, so a busy machine stretches it
def test_the_whole_flow_under_each_functions_own_policy(tmp_path: Path) -> None:
    with crm_receiver() as crm, aws_mode(tmp_path) as bed, ThreadPoolExecutor(1) as background:
        # A new stack's first sweep (a minute after deploy) looks back an hour: run it meanwhile.
        first_sweep = background.submit(bed.fire_schedule)
        key = bed.create_tenant()
        status, token = bed.api("POST", "/v1/realtime/token", key)
        assert status in (200, 201), token
        connection = bed.open_socket(token["token"])

        # CRM webhook first, so every later event is delivered (signed; the receiver verifies it).
        status, hook = bed.api("POST", "/v1/webhooks", key, {"url": crm.url("/hooks/crm")})
        assert status == 201, hook
        crm.secret("/hooks/crm", hook["secret"])

        # Link a number: QR → scan → connected.
        status, session = bed.api("POST", "/v1/sessions", key, {"name": "Demo", "provider": "sandbox"})
        assert status in (200, 201, 202), session
        session_id = session["id"]
        wait_for(lambda: any(p["event"] == "qr_code" for p in bed.pushes(connection)))
        status, _ = bed.api("POST", f"/v1/sandbox/sessions/{session_id}/scan", key)
        assert status == 202
        wait_for(lambda: bed.api("GET", f"/v1/sessions/{session_id}", key)[1]["status"] == "connected")

        # Send → delivered → read (and the contact replies: inbound).
        status, message = bed.api(
            "POST", "/v1/messages", key, {"session_id": session_id, "to": "+15550100001", "text": "Hola"}
        )
        assert status in (200, 201, 202), message
        wait_for(lambda: bed.api("GET", f"/v1/messages/{message['id']}", key)[1]["status"] == "read")
        events = {p["event"] for p in bed.pushes(connection)}
        assert {"qr_code", "connection_success", "message_status"} <= events, events

        # Scheduled send, beyond the API's two-minute horizon: into the due index, then the schedule fires
        # the sweeper "when it falls due" (its clock moved on), the dispatcher hands it to the connector.
        assert first_sweep.result()["dispatched"] == 0
        send_at = int(time.time()) + 180
        status, later = bed.api(
            "POST",
            "/v1/messages",
            key,
            {"session_id": session_id, "to": "+15550100001", "text": "Later", "scheduled_at": send_at},
        )
        assert status in (200, 201, 202), later
        assert bed.api("GET", f"/v1/messages/{later['id']}", key)[1]["status"] == "scheduled"
        swept = bed.fire_schedule(later=send_at - time.time())
        assert swept["dispatched"] == 1, swept
        wait_for(
            lambda: bed.api("GET", f"/v1/messages/{later['id']}", key)[1]["status"] in ("delivered", "read")
        )

        # A broadcast larger than its first window: the dispatcher steps it, and queues its own next step
        # (pacing off for the number, so the test waits for steps, not for a paced number). Completed =
        # every recipient is a message; how fast moto lets the connector send them is not the point.
        status, _ = bed.api("PATCH", f"/v1/sessions/{session_id}", key, {"pacing": {"enabled": False}})
        assert status == 200
        people = [{"to": f"+1555020{i:04d}", "variables": {"n": str(i)}} for i in range(25)]
        body = {"session_id": session_id, "text": "Hola {n}", "recipients": people}
        status, broadcast = bed.api("POST", "/v1/broadcasts", key, body)
        assert status == 202, broadcast
        last: list[dict[str, Any]] = []

        def completed() -> dict[str, Any] | None:
            last[:] = [bed.api("GET", f"/v1/broadcasts/{broadcast['id']}", key)[1]]
            return last[0] if last[0]["status"] == "completed" else None

        try:
            done = wait_for(completed, timeout=120)
        except AssertionError:
            raise AssertionError(f"the broadcast stopped at {last}") from None
        assert done["counts"]["accepted"] == 25 and done["counts"]["rejected"] == 0

        # Inbound (the sandbox contact answers): stored, in the conversation list.
        inbox = wait_for(
            lambda: [c for c in bed.api("GET", "/v1/conversations", key)[1]["items"] if c["chat"] == CONTACT]
        )
        conversation = inbox[0]["id"]
        wait_for(
            lambda: any(
                m["direction"] == "inbound"
                for m in bed.api("GET", f"/v1/conversations/{conversation}/messages", key)[1]["items"]
            )
        )

        # The CRM got signed webhooks for all of it.
        wanted = {"connection_success", "message_status", "incoming_message"}
        wait_for(lambda: {r.json.get("type") for r in crm.received} >= wanted)
        assert all(r.verified for r in crm.received), [r.problem for r in crm.received]

        # Cloud session create (the API encrypts its access token with a KMS data key), then a message
        # from Meta's webhook (signed with the session's app secret, which the function decrypts).
        status, cloud = bed.api(
            "POST",
            "/v1/sessions",
            key,
            {
                "name": "Cloud",
                "provider": "cloud",
                "phone_number_id": PNID,
                "business_account_id": WABA,
                "access_token": "EAAGe2e0accesstoken0000000000",
                "app_secret": APP_SECRET,
            },
        )
        assert status in (200, 201, 202), cloud
        raw = json.dumps(notification(messages=[text_message("wamid.E2E", body="Desde Meta")])).encode()
        assert bed.meta_webhook(raw, sign(raw, APP_SECRET)) == 200
        wait_for(
            lambda: any(
                r.json.get("type") == "incoming_message" and r.json["data"]["session_id"] == cloud["id"]
                for r in crm.received
            )
        )

        # Evolution API surface (its own function and role): an instance, its webhook, its QR code, and
        # the QRCODE_UPDATED body through the same pipeline (events -> webhooks_out), signed.
        status, made = bed.evolution(
            "POST",
            "/instance/create",
            key,
            {
                "instanceName": "asesora",
                "integration": "WAGATE-SANDBOX",
                "webhook": {"enabled": True, "url": crm.url("/hooks/evo"), "events": ["QRCODE_UPDATED"]},
            },
        )
        assert status == 201, made
        crm.secret("/hooks/evo", made["webhook"]["webhookSecret"])
        status, state = bed.evolution("GET", "/instance/connectionState/asesora", made["hash"])
        assert (status, state["instance"]["state"]) == (200, "connecting"), state
        evo_qr = wait_for(lambda: [r for r in crm.received if r.path == "/hooks/evo"])
        assert evo_qr[0].verified and evo_qr[0].json["event"] == "qrcode.updated", evo_qr[0].json
        assert evo_qr[0].json["apikey"] == made["hash"]
        status, listed = bed.evolution("GET", "/instance/fetchInstances", key)
        assert status == 200 and "asesora" in [i["name"] for i in listed], listed

        assert not bed.poller_errors, bed.poller_errors
        assert not bed.denials(), json.dumps(bed.denials(), indent=1)
