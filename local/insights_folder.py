"""`wagate serve`'s insights folder: folds the journal into the rollup rows every few seconds.

On AWS the sweeper folds once a minute (the shortest schedule EventBridge runs); one machine can afford
to fold more often, so its Insights page follows the messages within seconds. Folding is safe beside the
sweeper's (services/insights.py: an entry is added and deleted in one transaction).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from wagate.compose import services

if TYPE_CHECKING:
    from wagate.wiring import Deps

log = logging.getLogger("wagate.local.insights")


class InsightsFolder:
    name = "insights-folder"

    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self.every = deps.settings.insights_fold_seconds
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def from_deps(cls, deps: Deps) -> InsightsFolder:
        return cls(deps)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await asyncio.to_thread(self._fold)  # what the last seconds owe, before the process ends

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.every)
            await asyncio.to_thread(self._fold)

    def _fold(self) -> None:
        try:
            services(self.deps).insights.fold()
        except Exception:  # the next round (or the sweeper) folds what this one could not
            log.exception("folding the insights journal failed")
