"""Reads what the services put on a session's connector shard queue (in place of a running connector)."""

from __future__ import annotations

from wagate import wiring
from wagate.domain.events import Command
from wagate.services.sessions import command_queue, shard_of


def take_commands(session_id: str) -> list[Command]:
    """Receives (and deletes) up to 10 queued commands of the session's shard; returns this session's."""
    d = wiring.deps()
    queue = d.queues.get(command_queue(shard_of(session_id, d.settings.shards)))
    found = []
    for message in queue.receive(max_messages=10):
        command = Command.model_validate_json(message.body)
        if command.session_id == session_id:
            found.append(command)
        queue.delete(message.receipt)
    return found
