"""Fixtures for handler tests: the local adapters on a temporary data dir, installed as the process's."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from local.template import load_template
from tests.fakes.push import RecordingPush
from tests.support.aws_template import TEMPLATE
from tests.support.evolution import EvolutionCaller
from tests.support.lambdas import ApiCaller, load_function
from wagate import wiring
from wagate.services import tenants
from wagate.settings import Settings

FUNCTIONS = ("api", "authorizer", "events", "ws", "sweeper", "dispatcher", "webhooks_out", "evolution")


@pytest.fixture
def local_deps(tmp_path: Path) -> Iterator[wiring.Deps]:
    settings = Settings(backend="local", data_dir=tmp_path / "data")
    deps = wiring.build(settings, load_template(TEMPLATE).queue_definitions())
    deps = dataclasses.replace(deps, push=RecordingPush())
    wiring.install(deps)
    yield deps
    wiring.reset()


@pytest.fixture
def push(local_deps: wiring.Deps) -> RecordingPush:
    assert isinstance(local_deps.push, RecordingPush)
    return local_deps.push


@pytest.fixture(scope="module")
def functions() -> dict[str, ModuleType]:
    """The real handlers, loaded from functions/<name>/app.py once per test module."""
    return {name: load_function(name) for name in FUNCTIONS}


@pytest.fixture
def call(functions: dict[str, ModuleType], local_deps: wiring.Deps) -> ApiCaller:
    """Requests through the authorizer and the API handler, as API Gateway runs them."""
    return ApiCaller(functions["api"], functions["authorizer"])


@pytest.fixture
def evo(functions: dict[str, ModuleType], local_deps: wiring.Deps) -> EvolutionCaller:
    """Requests through the authorizer and the Evolution handler (`apikey` header), as API Gateway."""
    return EvolutionCaller(functions["evolution"], functions["authorizer"])


@pytest.fixture
def key(local_deps: wiring.Deps) -> str:
    """An admin API key of a fresh tenant."""
    return tenants.create_tenant(local_deps.table, local_deps.clock, "Agency")[1]
