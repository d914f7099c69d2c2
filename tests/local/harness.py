"""Test harness for the local runner: a LocalRunner on a free 127.0.0.1 port, its loop in a thread."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from pathlib import Path
from types import ModuleType
from typing import Any

from local.runner import LocalRunner
from wagate.adapters.local.sqlite_queue import SqliteQueues

TEMPLATES = Path(__file__).parent / "templates"
GATEWAY_TEMPLATE = TEMPLATES / "gateway" / "template.yaml"


class RunningGateway:
    """A started LocalRunner whose event loop runs in a background thread (so sync clients can call it)."""

    def __init__(
        self, runner: LocalRunner, loop: asyncio.AbstractEventLoop, queues: SqliteQueues | None = None
    ) -> None:
        self.runner = runner
        self.queues = queues
        self.loop = loop
        self.url = runner.urls.http
        self.ws_url = runner.urls.websocket
        self.connections_url = runner.urls.connections

    def call(self, coroutine: Coroutine[Any, Any, Any], timeout: float = 30) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def module(self, function_id: str) -> ModuleType:
        return self.runner.runtime.module(function_id)


def start_in_thread(
    runner: LocalRunner, queues: SqliteQueues | None = None
) -> tuple[RunningGateway, threading.Thread]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="local-runner", daemon=True)
    thread.start()
    gateway = RunningGateway(runner, loop, queues)
    gateway.call(runner.start())
    return gateway, thread


def stop_thread(gateway: RunningGateway, thread: threading.Thread) -> None:
    gateway.call(gateway.runner.drain())
    gateway.loop.call_soon_threadsafe(gateway.loop.stop)
    thread.join(10)
    gateway.loop.close()
