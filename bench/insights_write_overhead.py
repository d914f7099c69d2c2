"""What the insights rollups add to the message pipeline's writes: the same script with and without them.

In one process on the SQLite table (the production stack: content sealed, retention stamped), through the
real services (compose): each message is accepted (POST /v1/messages' use case), then the connector's
events are applied by the events consumer's service (ConnectorEvents.handle): `message_sent`, a
`delivered` receipt, a `read` receipt, a duplicate `read` (changes nothing), and for every fourth
message an answer from the contact (an inbound message). With insights, each change that counts puts one
journal entry in its own transaction (the send and the answer also move the conversation's reply marks),
and the journal is folded into the rollup rows every FOLD_EVERY messages and at the end, inside the timed
span (the sweeper folds a minute's worth on AWS, `wagate serve` every 5 s: a busy number has more to fold
at once, an idle one costs nothing). Each round runs both, in alternating order, on fresh data
directories; the figure is the median over the rounds of the with/without ratio of CPU time per message
(process time: on a shared machine, wall time measures the neighbours; it is printed beside).
Run: `python bench/insights_write_overhead.py [--messages 400] [--rounds 10]`
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "layers" / "core"))

from local.template import load_template  # noqa: E402
from tests.support.aws_template import TEMPLATE  # noqa: E402
from wagate import compose, wiring  # noqa: E402
from wagate.domain.events import EventType, SessionEvent  # noqa: E402
from wagate.domain.messages import whatsapp_message_id  # noqa: E402
from wagate.domain.sessions import Provider  # noqa: E402
from wagate.services import tenants  # noqa: E402
from wagate.services.messages import SendRequest  # noqa: E402
from wagate.settings import Settings  # noqa: E402

TARGET = 10.0  # percent
FOLD_EVERY = 50  # messages: ~200 journal entries per fold


class WithoutInsights(compose.Services):
    """The same services, built without rollups."""

    @property
    def insights(self) -> Any:
        return None


def one_round(messages: int, rollups: bool) -> tuple[float, float]:
    """(CPU seconds, wall seconds) per message (accept + 4 events + a reply for every fourth)."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(backend="local", data_dir=Path(tmp) / "data", max_sessions_per_tenant=4)
        deps = wiring.build(settings, load_template(TEMPLATE).queue_definitions())
        services = compose.Services(deps) if rollups else WithoutInsights(deps)
        tenant_id = tenants.create_tenant(deps.table, deps.clock, "Bench")[0].id
        session = services.sessions.create(
            tenant_id, name="bench", provider=Provider.SANDBOX, phone=None, metadata={}
        )
        events = services.events

        def handle(kind: EventType, when: float, **data: Any) -> None:
            event = SessionEvent(
                type=kind, tenant_id=tenant_id, session_id=session.id, fence=1, at=when, data=data
            )
            events.handle(event.model_dump_json())

        handle(EventType.CONNECTION_SUCCESS, time.time(), phone="+34600000001")
        started, cpu = time.perf_counter(), time.process_time()
        for n in range(messages):
            to = f"+3460010{n % 200:04d}"
            message = services.messages.accept(
                tenant_id,
                SendRequest.model_validate({"session_id": session.id, "to": to, "text": f"Hola {n}"}),
            )
            provider = whatsapp_message_id(message.id)
            now = time.time()
            handle(EventType.MESSAGE_SENT, now, message_id=message.id, provider_message_id=provider, at=now)
            for status in ("delivered", "read", "read"):
                handle(
                    EventType.MESSAGE_STATUS,
                    now + 1,
                    provider_message_ids=[provider],
                    status=status,
                    at=now + 1,
                )
            if rollups and n % FOLD_EVERY == FOLD_EVERY - 1:
                services.insights.fold()
            if n % 4 == 0:
                handle(
                    EventType.INCOMING_MESSAGE,
                    now + 2,
                    provider_message_id=f"IN{n}",
                    chat_jid=f"{to[1:]}@s.whatsapp.net",
                    sender_jid=f"{to[1:]}@s.whatsapp.net",
                    sender_phone=to,
                    timestamp=now + 2,
                    text="ok",
                    type="text",
                )
        if rollups:
            services.insights.fold()
            assert services.insights.journal.pending() == 0
        return (time.process_time() - cpu) / messages, (time.perf_counter() - started) / messages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    one_round(50, True)  # warm-up: imports, first-use caches
    cpu: dict[bool, list[float]] = {True: [], False: []}
    wall: dict[bool, list[float]] = {True: [], False: []}
    for n in range(args.rounds):
        for rollups in (True, False) if n % 2 == 0 else (False, True):
            used, took = one_round(args.messages, rollups)
            cpu[rollups].append(used)
            wall[rollups].append(took)
        print(
            f"round {n + 1}: CPU {cpu[False][-1] * 1000:.2f} ms without, {cpu[True][-1] * 1000:.2f} ms with "
            f"({(cpu[True][-1] / cpu[False][-1] - 1) * 100:+.1f} %); wall {wall[False][-1] * 1000:.2f} / "
            f"{wall[True][-1] * 1000:.2f} ms per message"
        )
    # Each round's two runs are neighbours in time: their ratio cancels the machine's drift, which on a
    # shared machine moves a run's CPU time by more than the difference measured.
    for name, figures in (("CPU", cpu), ("wall", wall)):
        ratios = sorted(on / off for on, off in zip(figures[True], figures[False], strict=True))
        low, mid, high = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else (ratios[0],) * 3
        print(
            f"{name}: without {statistics.median(figures[False]) * 1000:.2f} ms, with "
            f"{statistics.median(figures[True]) * 1000:.2f} ms per message (medians); per round "
            f"{(mid - 1) * 100:+.1f} % (quartiles {(low - 1) * 100:+.1f} to {(high - 1) * 100:+.1f} %)"
        )
    ratios = [on / off for on, off in zip(cpu[True], cpu[False], strict=True)]
    overhead = (statistics.median(ratios) - 1) * 100
    print(f"insights_write_overhead: {overhead:.1f} % CPU per message (target ≤ {TARGET:.0f} %)")


if __name__ == "__main__":
    main()
