"""Fixtures for handler tests: the local adapters on a temporary data dir, installed as the process's."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from wagate import wiring
from wagate.settings import Settings


@pytest.fixture
def local_deps(tmp_path: Path) -> Iterator[wiring.Deps]:
    deps = wiring.build(Settings(backend="local", data_dir=tmp_path / "data"))
    wiring.install(deps)
    yield deps
    wiring.reset()
