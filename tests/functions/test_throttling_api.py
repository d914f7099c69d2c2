"""Per-tenant throttling through the authorizer and the API handler: a tenant over its rate gets 429
`rate_limited` with Retry-After, in the one error shape, while another tenant and /health are served."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local.template import load_template
from tests.fakes.clock import FakeClock
from tests.fakes.push import RecordingPush
from tests.support.aws_template import TEMPLATE
from tests.support.lambdas import ApiCaller
from wagate import wiring
from wagate.services import tenants
from wagate.settings import Settings


@pytest.fixture
def clock(tmp_path: Path) -> Iterator[FakeClock]:
    settings = Settings(
        backend="local", data_dir=tmp_path / "data", tenant_requests_per_second=1, tenant_request_burst=3
    )
    fake = FakeClock()
    deps = wiring.build(settings, load_template(TEMPLATE).queue_definitions())
    wiring.install(dataclasses.replace(deps, push=RecordingPush(), clock=fake))  # type: ignore[arg-type]
    yield fake
    wiring.reset()


@pytest.fixture
def call(functions: dict[str, Any], clock: FakeClock) -> ApiCaller:
    return ApiCaller(functions["api"], functions["authorizer"])


def new_key(name: str) -> str:
    d = wiring.deps()
    return tenants.create_tenant(d.table, d.clock, name)[1]


def test_a_tenant_over_its_rate_is_told_to_wait_and_the_others_are_not(
    call: ApiCaller, clock: FakeClock
) -> None:
    busy, quiet = new_key("Busy CRM"), new_key("Quiet CRM")
    assert [call("GET", "/v1/sessions", busy)[0] for _ in range(3)] == [200, 200, 200]
    status, body, headers = call("GET", "/v1/sessions", busy)
    assert status == 429 and headers["Retry-After"] == "1"
    assert set(body) == {"error"} and body["error"]["code"] == "rate_limited"
    assert body["error"]["details"] == {"requests_per_second": 1, "burst": 3, "retry_after": 1}
    # A refused request costs nothing; writes are refused before they run.
    status, _, _ = call("POST", "/v1/sessions", busy, body={"name": "A", "provider": "sandbox"})
    assert status == 429
    assert call("GET", "/v1/sessions", quiet)[0] == 200
    assert call("GET", "/health")[0] == 200  # public: not counted
    clock.advance(1)
    assert call("POST", "/v1/sessions", busy, body={"name": "A", "provider": "sandbox"})[0] == 201
    assert call("GET", "/v1/sessions", busy)[0] == 429


def test_a_missing_key_is_401_not_429(call: ApiCaller, clock: FakeClock) -> None:
    for _ in range(5):
        assert call("GET", "/v1/sessions")[0] == 401


def test_the_spec_documents_429_with_retry_after_on_every_secured_operation(call: ApiCaller) -> None:
    status, spec, _ = call("GET", "/openapi.json")
    assert status == 200
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if operation.get("security") == []:
                assert "429" not in operation["responses"], (method, path)
                continue
            response = operation["responses"]["429"]
            assert "`rate_limited`" in response["description"]
            assert response["headers"]["Retry-After"]["required"] is True
