"""An Idempotency-Key whose request died with its process (kill -9) is released as soon as a retry can
prove that process gone, instead of answering 409 until the in-progress expiry (the function's timeout).
While the first request really runs, a retry gets 409 `idempotency_in_progress` with `Retry-After`."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.commands import take_commands
from tests.support.lambdas import ApiCaller
from wagate import wiring

ROOT = Path(__file__).resolve().parents[2]

# Another process runs the same request through the real handlers on the same data dir, and hangs in the
# middle of it (in the media check, after the idempotency record is written as in progress).
FIRST_REQUEST = """
import dataclasses, json, sys, time
from pathlib import Path
from tests.support.aws_template import TEMPLATE
from tests.support.lambdas import ApiCaller, load_function
from wagate import wiring
from wagate.settings import Settings

class HangingProbe:
    def size(self, url, *, guard, limit):
        print("in progress", flush=True)
        time.sleep(600)
        return 1

class SmallFile:
    def size(self, url, *, guard, limit):
        return 1024

def hang_in_dispatch(self, message, *, provider=None):
    print("in progress", flush=True)
    time.sleep(600)

data_dir, key, body, where = Path(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3]), sys.argv[4]
deps = wiring.build(Settings(backend="local", data_dir=data_dir, template=TEMPLATE))
if where == "before storing":
    wiring.install(dataclasses.replace(deps, media_probe=HangingProbe()))
else:  # after the message is stored, before it is handed to the connector and the answer recorded
    from wagate.services.messages import MessageService
    MessageService.dispatch = hang_in_dispatch
    wiring.install(dataclasses.replace(deps, media_probe=SmallFile()))
call = ApiCaller(load_function("api"), load_function("authorizer"))
call("POST", "/v1/messages", key, body=body, headers={"Idempotency-Key": "crm-job-17"})
"""


class SmallFile:
    def size(self, url: str, *, guard: Any, limit: int) -> int:
        return 1024


@pytest.fixture
def first_request(local_deps: wiring.Deps) -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        process.kill()
        process.wait(10)


@pytest.mark.parametrize("where", ["before storing", "after storing"])
def test_a_key_whose_process_was_killed_is_released_at_once(
    call: ApiCaller,
    key: str,
    local_deps: wiring.Deps,
    first_request: list[subprocess.Popen[str]],
    where: str,
) -> None:
    """Killed before storing: the retry stores and sends the message. Killed after storing (before the
    message was handed over and the answer recorded): the retry answers with that same message and hands
    it over, so the recipient gets one message, not two."""
    wiring.install(dataclasses.replace(local_deps, media_probe=SmallFile()))
    session = call("POST", "/v1/sessions", key, body={"name": "Sales", "provider": "sandbox"})[1]
    take_commands(session["id"])
    body = {
        "session_id": session["id"],
        "to": "+34600123456",
        "media": {"url": "https://cdn.example.com/offer.pdf", "mime": "application/pdf"},
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            FIRST_REQUEST,
            str(local_deps.settings.data_dir),
            key,
            json.dumps(body),
            where,
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    first_request.append(process)
    assert process.stdout is not None and process.stdout.readline().strip() == "in progress"

    def retry() -> tuple[int, Any, dict[str, str]]:
        return call("POST", "/v1/messages", key, body=body, headers={"Idempotency-Key": "crm-job-17"})

    # The first request is alive: a retry is told to come back, in the one error shape, with Retry-After.
    status, answer, headers = retry()
    assert status == 409 and answer["error"]["code"] == "idempotency_in_progress", answer
    assert headers.get("Retry-After") == "1"

    process.kill()
    process.wait(10)
    started = time.monotonic()
    # The key is still the dead request's: another body under it is refused, not sent.
    other = {**body, "to": "+34600999888"}
    status, answer, _ = call(
        "POST", "/v1/messages", key, body=other, headers={"Idempotency-Key": "crm-job-17"}
    )
    assert status == 422 and answer["error"]["code"] == "idempotency_key_reused", answer
    status, message, _ = retry()
    assert status == 202, message  # not 409 until the in-progress expiry (29 s here)
    assert time.monotonic() - started < 20  # not by waiting that expiry out (a wide margin: CI is loaded)
    # The released key now holds the retry's answer: one message, handed to the connector once.
    status, again, _ = retry()
    assert status == 202 and again["id"] == message["id"]
    assert [m["id"] for m in call("GET", "/v1/messages", key)[1]["items"]] == [message["id"]]
    assert len(take_commands(session["id"])) == 1
