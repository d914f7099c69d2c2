"""The exactly-once scenario, shared by its test and its benchmark: accepted messages, `python -m connector`
killed -9 mid-burst (and restarted) `kills` times, deliveries counted per WhatsApp id from the sandbox
journal.

Messages are accepted through `MessageService.accept` (real rows, real `send` commands), half before the
first connector starts and half while it runs; the events consumer (`ConnectorEvents.handle`) runs beside
it in a thread, as functions/events does. The k-th connector is killed once k/(kills+1) of the messages have
reached their recipients; the last one runs until every message has, then stops with SIGTERM.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from connector.engines.base import provider_message_id
from tests.connector.conftest import sessions_in_every_shard
from tests.connector.send_support import accept, deps_of, make_send_world, prepair
from wagate.compose import services
from wagate.domain.events import EventType, SessionEvent
from wagate.store import keys

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Report:
    accepted: int
    delivered_at_kills: list[int]
    distinct_ids: int  # distinct WhatsApp ids that went on the wire
    missing: int  # accepted messages no recipient got
    unexpected: int  # ids on the wire that no accepted message has
    duplicated: int  # messages a recipient kept more than once (a phone shows them twice)
    resent: int  # wire re-sends of an id the recipient already had (it dropped them, as WhatsApp does)
    failed: list[str] = field(default_factory=list)  # failure reasons reported for accepted messages
    not_sent_rows: int = 0  # accepted messages whose row did not end sent/delivered/read
    seconds: float = 0.0

    def summary(self) -> str:
        return (
            f"send_exactly_once: {self.missing} lost, {self.duplicated} duplicated of {self.accepted}"
            f" (target 0/0); {self.resent} re-sends after {len(self.delivered_at_kills)} kill -9"
            f" deduplicated by the recipients"
        )


def connector_env(data_dir: Path, owner: str, *, paced: bool) -> dict[str, str]:
    env = {
        **os.environ,
        "WAGATE_BACKEND": "local",
        "WAGATE_DATA_DIR": str(data_dir),
        "WAGATE_CONNECTOR_ID": owner,
        "WAGATE_SHARD_LEASE_SECONDS": "1.5",
        "WAGATE_SESSION_LEASE_SECONDS": "3",
        # Sandbox sessions only: the test must not depend on the web engine's generated protobufs.
        "WAGATE_REQUIRE_WEB_ENGINE": "false",
        "WAGATE_DISCOVERY_SECONDS": "0.5",
        "WAGATE_COMMAND_WAIT_SECONDS": "0.2",
        "WAGATE_COMMAND_VISIBILITY_SECONDS": "3",
        "WAGATE_BACKOFF_BASE_SECONDS": "0.05",
        "WAGATE_BACKOFF_CAP_SECONDS": "0.2",
        # Receipts would only add events: what is measured here is the send.
        "WAGATE_SANDBOX_DELIVERED_SECONDS": "3600",
        "WAGATE_PACING_FIRST_CONTACTS_PER_DAY": "0",
        "WAGATE_LOG_LEVEL": "WARNING",
    }
    if paced:  # a brisk rhythm: kills land in pacing waits too
        env.update(
            WAGATE_PACING="on",
            WAGATE_PACING_RATE_PER_MINUTE="3000",
            WAGATE_PACING_BURST="5",
            WAGATE_PACING_JITTER_MIN_SECONDS="0",
            WAGATE_PACING_JITTER_MAX_SECONDS="0.01",
        )
    else:
        env["WAGATE_PACING"] = "off"
    return env


class DeliveryWatch:
    """Counts deliveries in the journal as it grows (reads only what was appended since last time)."""

    def __init__(self, journal: Path) -> None:
        self.journal = journal
        self._offset = 0
        self._partial = b""
        self.kept: Counter[str] = Counter()
        self.raw: Counter[str] = Counter()

    def poll(self) -> int:
        """How many distinct ids recipients have kept so far."""
        import json

        if self.journal.exists():
            with self.journal.open("rb") as f:
                f.seek(self._offset)
                chunk = self._partial + f.read()
                self._offset = f.tell()
            *lines, self._partial = chunk.split(b"\n")
            for line in lines:
                if b'"deliver"' not in line:
                    continue
                record = json.loads(line)
                self.raw[record["id"]] += 1
                if not record["duplicate"]:
                    self.kept[record["id"]] += 1
        return len(self.kept)


class EventsConsumer(threading.Thread):
    """functions/events beside the connector: applies what it reports to the rows."""

    def __init__(self, world_dir: Path) -> None:
        super().__init__(daemon=True)
        self.world = make_send_world(world_dir)
        self.stopping = threading.Event()
        self.failures: dict[str, str] = {}

    def run(self) -> None:
        events = services(deps_of(self.world)).events
        queue = self.world.queues.get("EventsQueue")
        while not self.stopping.is_set() or queue.approximate_depth():
            for message in queue.receive(max_messages=10, wait_seconds=0.2):
                event = SessionEvent.model_validate_json(message.body)
                if event.type == EventType.MESSAGE_STATUS and event.data.get("message_id"):
                    self.failures[str(event.data["message_id"])] = str(event.data.get("reason"))
                events.handle(message.body)
                queue.delete(message.receipt)


def run(
    tmp: Path,
    *,
    messages: int,
    per_shard: int = 1,
    kills: int = 1,
    paced: bool = True,
    timeout: float = 120.0,
) -> Report:
    """Run the scenario in `tmp`; raises AssertionError (with the connectors' logs) when it stalls."""
    started = time.monotonic()
    data_dir = tmp / "data"
    world = make_send_world(data_dir)  # the queue file records the definitions the connectors open
    sessions = sessions_in_every_shard(world, per_shard=per_shard)
    for session in sessions:
        asyncio.run(prepair(world, session))
    recipients = [f"+1555040{i:04d}" for i in range(200)]
    accepted: list[str] = []

    def accept_some(count: int) -> None:
        for _ in range(count):
            i = len(accepted)
            message = accept(world, sessions[i % len(sessions)], recipients[i % len(recipients)], f"m{i}")
            accepted.append(message.id)

    accept_some(messages // 2)
    consumer = EventsConsumer(data_dir)
    consumer.start()
    watch = DeliveryWatch(world.journal)
    logs: list[Path] = []
    delivered_at_kills: list[int] = []

    def start(owner: str, *, last: bool) -> subprocess.Popen[bytes]:
        log = tmp / f"{owner}.log"
        logs.append(log)
        env = connector_env(data_dir, owner, paced=paced and not last)
        return subprocess.Popen(
            [sys.executable, "-m", "connector"],
            cwd=ROOT,
            env=env,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
        )

    def wait_delivered(target: int, process: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + timeout
        while watch.poll() < target:
            if time.monotonic() > deadline or process.poll() is not None:
                tails = "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in logs)
                raise AssertionError(f"{watch.poll()} of {target} delivered; logs:\n{tails}")
            time.sleep(0.005)

    feeder = threading.Thread(target=accept_some, args=(messages - messages // 2,), daemon=True)
    process = start("c0", last=kills == 0)
    feeder.start()
    try:
        for k in range(1, kills + 1):
            wait_delivered(messages * k // (kills + 1), process)
            process.send_signal(signal.SIGKILL)
            process.wait(10)
            delivered_at_kills.append(watch.poll())
            process = start(f"c{k}", last=k == kills)
        feeder.join()
        wait_delivered(messages, process)
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0, "the last connector did not stop cleanly"
    finally:
        if process.poll() is None:
            process.kill()
        consumer.stopping.set()
        consumer.join(30)
    expected = {provider_message_id(m) for m in accepted}
    rows = [world.table.get(*keys.message("ten_test", m)) for m in accepted]
    report = Report(
        accepted=len(accepted),
        delivered_at_kills=delivered_at_kills,
        distinct_ids=len(watch.raw),
        missing=len(expected - set(watch.kept)),
        unexpected=len(set(watch.raw) - expected),
        duplicated=sum(1 for count in watch.kept.values() if count > 1),
        resent=sum(watch.raw.values()) - len(watch.raw),
        failed=sorted(reason for m, reason in consumer.failures.items() if m in set(accepted)),
        not_sent_rows=sum(1 for row in rows if not row or row["status"] not in ("sent", "delivered", "read")),
        seconds=time.monotonic() - started,
    )
    world.queues.close()
    world.table.close()
    return report
