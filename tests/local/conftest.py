"""Fixtures for the local runner: the test template, and its runner serving on a free 127.0.0.1 port."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from local.runner import LocalRunner, bind
from local.template import load_template
from local.template_model import Template
from tests.local.harness import GATEWAY_TEMPLATE, RunningGateway, start_in_thread, stop_thread
from wagate.adapters.local.sqlite_queue import SqliteQueues


@pytest.fixture(scope="session")
def gateway_template() -> Template:
    return load_template(GATEWAY_TEMPLATE)


@pytest.fixture(scope="module")
def gateway(gateway_template: Template, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    queues = SqliteQueues(
        tmp_path_factory.mktemp("gateway") / "queues.db", gateway_template.queue_definitions()
    )
    runner = LocalRunner(gateway_template, bind("127.0.0.1", 0), queues=queues, poll_seconds=0.2)
    running, thread = start_in_thread(runner, queues)
    yield running
    stop_thread(running, thread)
    queues.close()
