"""Runs the template's rate schedules (ScheduleV2 and Schedule events), never two runs of one at once.

EventBridge Scheduler invokes a Lambda target with the schedule's Input (context placeholders such as
`<aws.scheduler.scheduled-time>` filled in) or `{}` without one. A classic Schedule rule sends its Input
or EventBridge's "Scheduled Event". `time_scale` shrinks every period and `tick()` runs one now, so
tests never wait a minute.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Sequence
from typing import Any

from local.functions import FunctionError, FunctionRuntime
from local.intrinsics import LOCAL_ACCOUNT, LOCAL_REGION
from local.template_model import ScheduleSpec

log = logging.getLogger("wagate.local.timers")


def schedule_arn(spec: ScheduleSpec) -> str:
    return f"arn:aws:scheduler:{LOCAL_REGION}:{LOCAL_ACCOUNT}:schedule/default/{spec.name}"


def scheduled_event(spec: ScheduleSpec, now: float, attempt: int = 1) -> Any:
    """The event a schedule delivers to its function at `now`."""
    moment = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
    execution_id = str(uuid.uuid4())
    if spec.scheduler_v2:
        if spec.input is None:
            return {}
        text = spec.input
        for placeholder, value in (
            ("<aws.scheduler.schedule-arn>", schedule_arn(spec)),
            ("<aws.scheduler.scheduled-time>", moment),
            ("<aws.scheduler.execution-id>", execution_id),
            ("<aws.scheduler.attempt-number>", str(attempt)),
        ):
            text = text.replace(placeholder, value)
        return json.loads(text)
    if spec.input is not None:
        return json.loads(spec.input)
    return {
        "version": "0",
        "id": execution_id,
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": LOCAL_ACCOUNT,
        "time": moment,
        "region": LOCAL_REGION,
        "resources": [f"arn:aws:events:{LOCAL_REGION}:{LOCAL_ACCOUNT}:rule/{spec.name}"],
        "detail": {},
    }


class Timers:
    """One loop per enabled schedule; a run that outlasts its period delays the next, never overlaps."""

    def __init__(
        self, schedules: Sequence[ScheduleSpec], runtime: FunctionRuntime, *, time_scale: float = 1.0
    ) -> None:
        if time_scale <= 0:
            raise ValueError("time_scale must be positive")
        self._schedules = {s.name: s for s in schedules}
        self._runtime = runtime
        self._time_scale = time_scale
        self._locks = {name: asyncio.Lock() for name in self._schedules}
        self._stopping = asyncio.Event()
        self._loops: list[asyncio.Task[None]] = []
        self.runs: dict[str, int] = dict.fromkeys(self._schedules, 0)

    @property
    def names(self) -> list[str]:
        return list(self._schedules)

    def start(self) -> None:
        for spec in self._schedules.values():
            if spec.enabled:
                self._loops.append(asyncio.create_task(self._loop(spec), name=f"timer {spec.name}"))

    async def stop(self) -> None:
        """No new runs; waits for the ones under way."""
        self._stopping.set()
        if self._loops:
            await asyncio.gather(*self._loops, return_exceptions=True)
        for lock in self._locks.values():
            async with lock:
                pass

    async def tick(self, name: str) -> Any:
        """Run schedule `name` now (after any run under way) and return the function's result.

        Raises FunctionError when the function fails.
        """
        spec = self._schedules[name]
        return await self._run(spec)

    async def _loop(self, spec: ScheduleSpec) -> None:
        period = spec.period_seconds * self._time_scale
        while not self._stopping.is_set():
            try:
                await asyncio.wait_for(self._stopping.wait(), timeout=period)
                return
            except TimeoutError:
                pass
            try:
                await self._run(spec)
            except FunctionError:
                pass  # already logged by the runtime; the next period tries again, like a retry
            except Exception:
                log.exception("schedule %s could not run", spec.name)

    async def _run(self, spec: ScheduleSpec) -> Any:
        async with self._locks[spec.name]:
            self.runs[spec.name] += 1
            return await self._runtime.invoke(spec.function_id, scheduled_event(spec, time.time()))
