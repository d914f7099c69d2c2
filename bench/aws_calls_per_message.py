"""AWS requests per message, measured in AWS mode: the flow of tests/aws (moto server, IAM enforced, every
function's unchanged handler in its own process under its own role, the connector under the task role).

Phases, each counted from the call log every process writes (tests/aws/recorder.py) and the harness's
counters (Lambda invocations, SQS requests of Lambda's pollers that carried messages):
  idle      one linked sandbox session, nothing sent: the connector's background calls per minute
            (command long polls, lease renewals, shard ownership), then two sessions: the difference
            is what one more idle linked number costs
  outbound  N messages sent through POST /v1/messages (authorizer + API), each sent → delivered → read,
            every status stored, pushed to one dashboard and delivered as a signed CRM webhook
  inbound   N messages from a contact (the sandbox's `reply`; the API and authorizer calls of that test
            trigger and the command it queues are not counted: a real inbound message has none)
  sweep     one sweeper run with nothing due (EventBridge Scheduler runs it every minute)
The connector's idle rate is subtracted from the outbound and inbound windows. DynamoDB units are
computed from item sizes (recorder.py); SQS requests count each API call once (batches of up to 10, and
bodies far under 64 KB). `python bench/aws_calls_per_message.py [N]`.
"""

from __future__ import annotations

import collections
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "core")]

from tests.aws.harness import AwsMode, aws_mode, wait_for  # noqa: E402
from tests.support.crm_receiver import crm_receiver  # noqa: E402

IDLE_SECONDS = 60.0  # sessions renew their leases every 40 s: a window must hold at least one
CONTACT = "+15550100001"  # the sandbox's Ana


class Mark:
    """Where the counters stood at one moment."""

    def __init__(self, bed: AwsMode) -> None:
        self.at = time.monotonic()
        self.lines = len(bed.calls())
        self.invocations = dict(bed.invocations)
        self.pollers = dict(bed.poller_requests)


def measure(bed: AwsMode, since: Mark, exclude: tuple[str, ...] = ()) -> dict[str, Any]:
    """Totals since `since`: Lambda invocations, DynamoDB calls/RCU/WCU, SQS requests, KMS, pushes."""
    calls = [c for c in bed.calls()[since.lines :] if c["p"] not in exclude]
    totals: dict[str, Any] = collections.defaultdict(float)
    by_op: collections.Counter[str] = collections.Counter()
    for call in calls:
        svc = call["svc"]
        by_op[f"{call['p']} {svc}:{call['op']}"] += 1
        if svc == "dynamodb":
            totals["dynamodb_calls"] += 1
            totals["rcu"] += call.get("rcu", 0.0)
            totals["wcu"] += call.get("wcu", 0.0)
        elif svc == "sqs":
            totals["sqs_requests"] += 1
        elif svc == "kms":
            totals["kms_requests"] += 1
        elif svc == "apigatewaymanagementapi":
            totals["socket_pushes"] += 1
        else:
            totals[f"{svc}_requests"] += 1
    for name, count in bed.invocations.items():
        if name not in exclude:
            totals["lambda_invocations"] += count - since.invocations.get(name, 0)
    for name, count in bed.poller_requests.items():
        totals["sqs_requests"] += count - since.pollers.get(name, 0)
    totals["seconds"] = time.monotonic() - since.at
    totals["by_op"] = by_op
    return totals


def minus_idle(window: dict[str, Any], idle: dict[str, Any]) -> dict[str, Any]:
    """The window's totals without what the connector does anyway in that much time."""
    scale = window["seconds"] / idle["seconds"]
    out = dict(window)
    for key in ("dynamodb_calls", "rcu", "wcu", "sqs_requests", "kms_requests"):
        out[key] = max(0.0, window.get(key, 0.0) - idle.get(key, 0.0) * scale)
    return out


REQUESTS = ("lambda_invocations", "dynamodb_calls", "sqs_requests", "kms_requests", "socket_pushes")


def per(window: dict[str, Any], n: int) -> dict[str, float]:
    keys = (*REQUESTS[:2], "rcu", "wcu", *REQUESTS[2:])
    return {k: window.get(k, 0.0) / n for k in keys}


def show(title: str, figures: dict[str, float]) -> None:
    print(f"{title:>10}: " + ", ".join(f"{k} {v:.2f}" for k, v in figures.items()))


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    # Production's long poll of the command queues (the test shortens it), no auto-replies.
    env = {"AWSE2E_CAPACITY": "1", "WAGATE_SANDBOX_AUTO_REPLY": "false", "WAGATE_COMMAND_WAIT_SECONDS": "5"}
    with tempfile.TemporaryDirectory() as workdir, crm_receiver() as crm, aws_mode(Path(workdir), env) as bed:
        bed.fire_schedule()  # a new stack's first sweep looks back an hour; not the steady state
        key = bed.create_tenant()
        status, hook = bed.api("POST", "/v1/webhooks", key, {"url": crm.url("/crm")})
        assert status == 201, hook
        crm.secret("/crm", hook["secret"])
        status, token = bed.api("POST", "/v1/realtime/token", key)
        assert status in (200, 201), token
        bed.open_socket(token["token"])

        def link(name: str) -> str:
            status, session = bed.api("POST", "/v1/sessions", key, {"name": name, "provider": "sandbox"})
            assert status in (200, 201, 202), session
            linked = lambda: [r for r in crm.received if r.json.get("type") == "connection_success"]  # noqa: E731
            count = len(linked())
            wait_for(lambda: bed.api("GET", f"/v1/sessions/{session['id']}/qr", key)[0] == 200)
            assert bed.api("POST", f"/v1/sandbox/sessions/{session['id']}/scan", key)[0] == 202
            wait_for(lambda: len(linked()) > count)
            time.sleep(3)  # let the link's follow-up events settle
            return str(session["id"])

        session_id = link("Bench")
        mark = Mark(bed)
        time.sleep(IDLE_SECONDS)
        idle = measure(bed, mark)
        link("Second")  # the idle cost of one more linked number is the difference
        mark = Mark(bed)
        time.sleep(IDLE_SECONDS)
        idle_two = measure(bed, mark)

        def webhooks() -> int:
            return len(crm.received)

        mark, before = Mark(bed), webhooks()
        for i in range(n):
            body = {"session_id": session_id, "to": CONTACT, "text": f"Bench {i}"}
            status, message = bed.api("POST", "/v1/messages", key, body)
            assert status in (200, 201, 202), message

        def reads() -> int:
            statuses = [
                r.json["data"] for r in crm.received[before:] if r.json.get("type") == "message_status"
            ]
            return sum(1 for data in statuses if data.get("status") == "read")

        wait_for(lambda: reads() >= n, timeout=120)
        time.sleep(2)
        outbound = minus_idle(measure(bed, mark), idle)
        outbound_hooks = webhooks() - before

        mark, before = Mark(bed), webhooks()
        for i in range(n):
            body = {"contact": CONTACT, "text": f"Reply {i}"}
            assert bed.api("POST", f"/v1/sandbox/sessions/{session_id}/reply", key, body)[0] == 202

        def incoming() -> int:
            return sum(1 for r in crm.received[before:] if r.json.get("type") == "incoming_message")

        wait_for(lambda: incoming() >= n, timeout=120)
        time.sleep(2)
        # The API's part of each test trigger is left out; the connector's receive and delete of the
        # command it queued stay in (conservative: a real inbound message arrives on the socket).
        window = measure(bed, mark, exclude=("ApiFunction", "AuthorizerFunction"))
        inbound = minus_idle(window, idle)
        inbound_hooks = webhooks() - before

        mark = Mark(bed)
        bed.fire_schedule()
        sweep = measure(bed, mark)
        assert not bed.denials(), json.dumps(bed.denials(), indent=1)

    minutes = idle["seconds"] / 60
    idle_s = idle["seconds"]
    print(f"measured on moto in server mode, IAM enforced; {n} messages each way; idle {idle_s:.0f} s")
    idle_keys = ("dynamodb_calls", "rcu", "wcu", "sqs_requests")
    show("idle/min", {k: idle.get(k, 0.0) / minutes for k in idle_keys})
    for op, count in sorted(idle["by_op"].items()):
        print(f"{'':>12}{op}: {count / minutes:.1f}/min")
    minutes_two = idle_two["seconds"] / 60
    extra = {k: idle_two.get(k, 0.0) / minutes_two - idle.get(k, 0.0) / minutes for k in idle_keys}
    show("+1 number", {f"{k}/min": v for k, v in extra.items()})
    for op, count in sorted(idle_two["by_op"].items()):
        print(f"{'':>12}two numbers: {op}: {count / minutes_two:.1f}/min")
    out, inn = per(outbound, n), per(inbound, n)
    show("outbound", out)
    print(f"{'':>12}CRM webhooks per message: {outbound_hooks / n:.2f}")
    show("inbound", inn)
    print(f"{'':>12}CRM webhooks per message: {inbound_hooks / n:.2f}")
    show("sweep", per(sweep, 1))
    for op, count in sorted(outbound["by_op"].items()):
        print(f"{'':>12}outbound {op}: {count / n:.2f}/message")
    for op, count in sorted(inbound["by_op"].items()):
        print(f"{'':>12}inbound {op}: {count / n:.2f}/message")
    average = {k: (out[k] + inn[k]) / 2 for k in out}
    total = sum(average[k] for k in REQUESTS)
    print(
        f"aws_calls_per_message: {total:.1f} requests/message (mean of outbound and inbound: "
        f"{average['wcu']:.1f} WCU, {average['rcu']:.1f} RCU, {average['lambda_invocations']:.1f} Lambda, "
        f"{average['sqs_requests']:.1f} SQS) (target: fits the ≤ $200/month model of docs/cost.md)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
