"""Schemathesis over our own OpenAPI, against `wagate serve`: no 5xx, no status, content type or body the
spec does not document, negative data refused, positive data accepted.

Bounded so it fits `make test` on a small machine: a fixed seed, few examples per operation (override
with SCHEMATHESIS_EXAMPLES), every Schemathesis phase (explicit examples, coverage of edge values,
fuzzing, and a short stateful run over the links it infers) in both generation modes (positive and
negative data), all checks but positive_data_acceptance (and negative_data_rejection on the one multipart
operation, whose form values are all text).
It prints the figures the README quotes (requests, statuses, failures, time).
"""

from __future__ import annotations

import collections
import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis

from tests.support.serve import Server

pytestmark = pytest.mark.e2e

EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "5"))
SEED = 20261207


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str]]:
    data: Path = tmp_path_factory.mktemp("schemathesis") / "data"
    with Server(data) as server:
        yield server, server.create_tenant("Schemathesis")


def run(url: str, key: str) -> tuple[collections.Counter[int], list[str], int]:
    """(statuses seen, failures, requests) of one bounded run."""
    from schemathesis.config import SchemathesisConfig
    from schemathesis.engine import Status, events, from_schema

    config = SchemathesisConfig.from_dict(
        {
            "seed": SEED,
            "base-url": url,
            "headers": {"Authorization": f"Bearer {key}"},
            "workers": 1,
            "request-timeout": 30,
            "generation": {"max-examples": EXAMPLES, "mode": "all"},
            "phases": {"stateful": {"enabled": True, "max-steps": 10}},
            # Every check but one: schema-valid data may still break a rule JSON Schema cannot state (a
            # phone number that exists, a time zone, a template's variables) and get a precise 422.
            "checks": {"positive_data_acceptance": {"enabled": False}},
            # A multipart form's values are text on the wire: a "number" Schemathesis puts in a string
            # field (filename=1.79e308) is a valid file name there, so negative data cannot be told apart.
            "operations": [
                {
                    "include-path": "/v1/media",
                    "include-method": "POST",
                    "checks": {"negative_data_rejection": {"enabled": False}},
                }
            ],
        }
    )
    spec = httpx.get(f"{url}/openapi.json", timeout=10).json()
    schema = schemathesis.openapi.from_dict(spec, config=config)
    statuses: collections.Counter[int] = collections.Counter()
    failures: list[str] = []
    requests = 0
    for event in from_schema(schema).execute():
        if isinstance(event, (events.NonFatalError, events.FatalError)):
            failures.append(f"error: {getattr(event, 'label', '')} {event.info.message}")
        if not isinstance(event, events.ScenarioFinished):
            continue
        for interaction in event.recorder.interactions.values():
            requests += 1
            if interaction.response is not None:
                statuses[interaction.response.status_code] += 1
        for case_id, checks in event.recorder.checks.items():
            for check in checks:
                if check.status == Status.FAILURE:
                    case = event.recorder.cases[case_id].value
                    response = event.recorder.interactions.get(case_id)
                    answer = response.response.status_code if response and response.response else None
                    sent = response.request if response else None
                    uri, body = (sent.uri, sent.body) if sent else (case.formatted_path, None)
                    failures.append(
                        f"{event.recorder.label}: {check.name} → {answer} for {case.method} {uri} "
                        f"body={body!r:.300} headers={dict(sent.headers) if sent else None}: "
                        f"{check.failure_info.failure.title if check.failure_info else ''}"
                    )
    return statuses, failures, requests


@pytest.mark.timeout(900)  # ~1 min with the default examples; larger runs take longer
def test_the_api_keeps_its_contract(served: tuple[Server, str]) -> None:
    server, key = served
    started = time.monotonic()
    statuses, failures, requests = run(server.url, key)
    elapsed = time.monotonic() - started
    print(f"schemathesis: {requests} requests in {elapsed:.0f} s, statuses {dict(sorted(statuses.items()))}")
    print(f"schemathesis: {len(failures)} failures")
    server_errors = sum(count for status, count in statuses.items() if status >= 500)
    assert server_errors == 0, failures
    assert failures == [], "\n".join(failures[:40])
