"""Benchmark of Evolution's `chat/findMessages` over an instance with many messages (local adapters).

findMessages answers Evolution's `total` and `pages`, so it reads (at most 5,000 of) the instance's newest
messages on every call, filtering on their keys and types, and shapes the page asked for into Evolution's
records (evolution/shapes.py). This measures that
cost through the real authorizer and Evolution handler on the SQLite adapters (content sealed at rest, as
shipped): N inbound messages are stored through the events function in batches, then page 1 (offset 50) is
asked R times, with and without a `key.remoteJid` filter (the conversation's index instead of the
session's). Bounded: `--messages` and `--rounds`.
Run:
    python bench/evolution_find_messages.py [--messages 2000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from local.template import load_template  # noqa: E402
from tests.support.aws_template import TEMPLATE  # noqa: E402
from tests.support.evolution import EvolutionCaller  # noqa: E402
from tests.support.lambdas import LambdaContext, load_function  # noqa: E402
from wagate import wiring  # noqa: E402
from wagate.domain.events import EventType, SessionEvent  # noqa: E402
from wagate.services import tenants  # noqa: E402
from wagate.settings import Settings  # noqa: E402

TARGET_MS = 1000.0
PEERS = 20


def deliver(events_function: object, batch: list[SessionEvent]) -> None:
    records = [
        {
            "messageId": f"m{i}",
            "receiptHandle": f"r{i}",
            "body": event.model_dump_json(),
            "attributes": {"MessageGroupId": event.session_id, "ApproximateReceiveCount": "1"},
            "messageAttributes": {},
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:EventsQueue.fifo",
            "awsRegion": "eu-west-1",
        }
        for i, event in enumerate(batch)
    ]
    events_function.lambda_handler({"Records": records}, LambdaContext())  # type: ignore[attr-defined]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        deps = wiring.build(
            Settings(backend="local", data_dir=Path(tmp)), load_template(TEMPLATE).queue_definitions()
        )
        wiring.install(deps)
        tenant, key = tenants.create_tenant(deps.table, deps.clock, "Bench")
        evo = EvolutionCaller(load_function("evolution"), load_function("authorizer"))
        created = evo(
            "POST", "/instance/create", key, body={"instanceName": "bench", "integration": "WAGATE-SANDBOX"}
        )[1]
        session_id = created["instance"]["instanceId"]
        events = load_function("events")
        medians: dict[str, float] = {}
        started = time.perf_counter()
        for start in range(0, args.messages, 10):
            batch = []
            for n in range(start, min(start + 10, args.messages)):
                phone = f"+3460099{n % PEERS:04d}"
                data = {
                    "provider_message_id": f"3A{n:018d}",
                    "chat_jid": f"{phone[1:]}@s.whatsapp.net",
                    "sender_jid": f"{phone[1:]}@s.whatsapp.net",
                    "sender_phone": phone,
                    "timestamp": 1_765_000_000.0 + n,
                    "text": f"mensaje {n}",
                    "push_name": "Cliente",
                    "type": "text",
                }
                batch.append(
                    SessionEvent(
                        type=EventType.INCOMING_MESSAGE,
                        tenant_id=tenant.id,
                        session_id=session_id,
                        fence=1,
                        at=data["timestamp"],
                        data=data,
                    )
                )
            deliver(events, batch)
        stored = time.perf_counter() - started
        print(f"stored {args.messages} messages in {stored:.1f} s")
        for label, body in (
            ("whole instance", {"page": 1, "offset": 50}),
            (
                "one chat",
                {"where": {"key": {"remoteJid": "34600990000@s.whatsapp.net"}}, "page": 1, "offset": 50},
            ),
        ):
            timings: list[float] = []
            total = 0
            for _ in range(args.rounds):
                begun = time.perf_counter()
                status, answer, _ = evo("POST", "/chat/findMessages/bench", key, body=body)
                timings.append((time.perf_counter() - begun) * 1000)
                assert status == 200, answer
                total = answer["messages"]["total"]
            median = statistics.median(timings)
            print(f"findMessages, {label}: total {total}, median {median:.0f} ms, max {max(timings):.0f} ms")
            medians[label] = median
        wiring.reset()
    whole = medians["whole instance"]
    print(f"evolution_find_messages: {whole:.0f} ms (target < {TARGET_MS:.0f} ms, {args.messages} messages)")


if __name__ == "__main__":
    main()
