"""Fixtures for handler tests: the local adapters on a temporary data dir, installed as the process's."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.push import RecordingPush
from tests.support.aws_template import TEMPLATE
from wagate import wiring
from wagate.settings import Settings


@pytest.fixture
def local_deps(tmp_path: Path) -> Iterator[wiring.Deps]:
    deps = wiring.build(Settings(backend="local", data_dir=tmp_path / "data", template=TEMPLATE))
    deps = dataclasses.replace(deps, push=RecordingPush())
    wiring.install(deps)
    yield deps
    wiring.reset()


@pytest.fixture
def push(local_deps: wiring.Deps) -> RecordingPush:
    assert isinstance(local_deps.push, RecordingPush)
    return local_deps.push
