"""Runs the dashboard's JavaScript unit tests (tests/dashboard/*.test.mjs) with Node's built-in runner."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).parent


def test_the_dashboard_modules_pass_their_node_tests() -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the dashboard's JavaScript unit tests need it")
    tests = sorted(str(path) for path in HERE.glob("*.test.mjs"))
    result = subprocess.run(
        [node, "--test", *tests], cwd=HERE.parents[1], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
