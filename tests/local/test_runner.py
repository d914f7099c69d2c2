"""The runner's lifecycle: services join the process, start before traffic and stop after the drain."""

from __future__ import annotations

import dataclasses

import httpx

from local.runner import LocalRunner, bind, urls_for
from local.template_model import Template
from tests.local.harness import start_in_thread, stop_thread


class RecordingService:
    name = "recorder"

    def __init__(self, journal: list[str]) -> None:
        self.journal = journal

    async def start(self) -> None:
        self.journal.append("start")

    async def stop(self) -> None:
        self.journal.append("stop")


def test_services_start_before_traffic_and_stop_after_the_drain(gateway_template: Template) -> None:
    journal: list[str] = []
    template = dataclasses.replace(gateway_template, queue_subscriptions=())
    runner = LocalRunner(template, bind("127.0.0.1", 0), services=[RecordingService(journal)])
    running, thread = start_in_thread(runner)
    assert journal == ["start"]
    response = httpx.get(f"{running.url}/items/special", trust_env=False)
    assert response.status_code == 200
    journal.append("served")
    stop_thread(running, thread)
    assert journal == ["start", "served", "stop"]


def test_urls_name_the_websocket_and_connections_endpoints() -> None:
    urls = urls_for("0.0.0.0", 8000)
    assert urls.http == "http://127.0.0.1:8000"
    assert urls.websocket == "ws://127.0.0.1:8000/ws"
    assert urls.connections == "http://127.0.0.1:8000/ws"
    assert urls_for("::1", 9).http == "http://[::1]:9"
