"""Liveness of the connector process: a file its event loop touches, and the check ECS runs against it.

The heartbeat is a coroutine on the connector's own loop, so the file only stays fresh while the loop
turns: a loop blocked by a runaway callback, or a process wedged in shutdown, lets it age, and
`python -m connector.liveness` (the task definition's HealthCheck) exits 1 so ECS replaces the task.
A file, not a port: the check needs no listener, and nothing reachable from outside the container.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

# The heartbeat writes this often relative to the allowed age, so two missed beats are still healthy.
BEATS_PER_MAX_AGE = 3


class Heartbeat:
    """Touches `path` every `every` seconds from the running loop (start() in the loop, stop() to end)."""

    def __init__(self, path: Path, every: float) -> None:
        self.path = path
        self.every = every
        self._task: asyncio.Task[None] | None = None

    def beat(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.touch()
        os.utime(self.path)  # touch() leaves the time alone on some filesystems when the file exists

    def start(self) -> None:
        self.beat()  # healthy from the first check on, not one interval later
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="liveness heartbeat")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        self.path.unlink(missing_ok=True)  # a stopped connector is not alive

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.every)
            # On the loop itself, not in a thread: a beat must prove that the loop still turns.
            self.beat()


def age(path: Path, now: float | None = None) -> float | None:
    """Seconds since the last beat; None when there is no heartbeat file."""
    try:
        modified = path.stat().st_mtime
    except FileNotFoundError:
        return None
    return (time.time() if now is None else now) - modified


def check(path: Path | None, max_age: float) -> tuple[bool, str]:
    """(healthy, why) for the heartbeat file."""
    if path is None:
        return False, "WAGATE_LIVENESS_FILE is not set: the connector writes no heartbeat to check"
    seconds = age(path)
    if seconds is None:
        return False, f"no heartbeat at {path}: the connector has not started (or has stopped)"
    if seconds > max_age:
        return False, f"the heartbeat is {seconds:.0f}s old (limit {max_age:.0f}s): the event loop is stuck"
    return True, f"alive ({seconds:.1f}s since the last heartbeat)"


def main() -> int:
    from wagate.settings import Settings, SettingsError

    try:
        settings = Settings.from_env().connector
    except SettingsError as exc:
        print(f"connector.liveness: {exc}", file=sys.stderr)  # noqa: T201 - a CLI's answer
        return 2
    healthy, why = check(settings.liveness_file, settings.liveness_max_age_seconds)
    print(why, file=sys.stdout if healthy else sys.stderr)  # noqa: T201 - a CLI's answer
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
