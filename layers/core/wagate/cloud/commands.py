"""The command queue of `cloud` sessions: what a connector does for a socket, a Lambda does for Cloud API.

`CloudSendQueue` is a standard SQS queue (the only kind that takes a per-message delay, which pacing and
rate-limited retries use) carrying `wagate.domain.events.Command` JSON: send, mark_read, connect (the token
check), disconnect and logout. `functions/cloud_send` consumes it (`cloud/sends.py`). Standard
queues neither order nor deduplicate: the message claim (queued → sending, conditional) makes a second
copy of a send harmless.
"""

from __future__ import annotations

from wagate.domain.events import Command
from wagate.ports import Queues

CLOUD_QUEUE = "CloudSendQueue"


def enqueue(queues: Queues, command: Command, *, delay_seconds: int = 0) -> None:
    queues.get(CLOUD_QUEUE).send(command.model_dump_json(), delay_seconds=delay_seconds)
