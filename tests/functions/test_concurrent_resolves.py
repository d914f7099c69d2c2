"""Concurrent resolves in one process (as `wagate serve` runs them): each request sees only its own state."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.support.lambdas import ApiCaller, load_function
from wagate import wiring


@pytest.fixture
def often_switching() -> Iterator[None]:
    """Threads switch every microsecond, so a request state shared between threads would be overwritten."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(interval)


def test_threads_resolving_at_once_never_see_each_others_request(
    local_deps: wiring.Deps, key: str, often_switching: None
) -> None:
    # Two copies of the handler module, like two warm containers of `wagate serve`: routers are shared.
    callers = [ApiCaller(load_function("api"), load_function("authorizer")) for _ in range(2)]
    start = threading.Barrier(8)

    def worker(number: int) -> list[str]:
        call = callers[number % 2]
        start.wait()
        wrong = []
        for attempt in range(40):
            path = f"/v1/no-such-route-{number}-{attempt}"
            status, body, _ = call("GET", path, key)
            if status != 404 or path not in body["error"]["message"]:
                wrong.append(f"{path}: {status} {body}")
            message_id = f"msg_{number}_{attempt}"
            status, body, _ = call("GET", f"/v1/messages/{message_id}", key)
            if status != 404 or message_id not in str(body):
                wrong.append(f"{message_id}: {status} {body}")
        return wrong

    with ThreadPoolExecutor(8) as pool:
        problems = [problem for wrong in pool.map(worker, range(8)) for problem in wrong]
    assert problems == []
