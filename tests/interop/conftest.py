"""Shared plumbing for the suites that check us against Baileys: run a node script, skip cleanly without one.

Use the `run_node` fixture: `run_node("binary_vectors.mjs", None, "42")` runs the script from this
directory (so `@whiskeysockets/baileys/...` imports resolve to the pinned package), writes `input_json`
to its stdin as JSON, and returns its stdout parsed as JSON. Tests using it are skipped, with the reason,
when `node` or the npm package is missing (`npm ci` in tests/interop installs it).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

INTEROP_DIR = Path(__file__).resolve().parent
BAILEYS_DIR = INTEROP_DIR / "node_modules" / "@whiskeysockets" / "baileys"

RunNode = Callable[..., Any]


def missing_node_reason() -> str | None:
    """Why the interop tests cannot run here, or None when they can."""
    if shutil.which("node") is None:
        return "node is not installed"
    if not (BAILEYS_DIR / "package.json").is_file():
        return f"Baileys is not installed in {BAILEYS_DIR.parent.parent} (run `npm ci` in tests/interop)"
    return None


@pytest.fixture(scope="session")
def interop_dir() -> Path:
    """The npm project holding the pinned Baileys; skips the test when node or the package is missing."""
    reason = missing_node_reason()
    if reason is not None:
        pytest.skip(reason)
    return INTEROP_DIR


@pytest.fixture(scope="session")
def run_node(interop_dir: Path) -> RunNode:
    """`run_node(script, input_json=None, *args, timeout=60) -> Any`: a script's JSON answer."""
    node = shutil.which("node")
    assert node is not None

    def run(script: str, input_json: Any = None, *args: str, timeout: float = 60) -> Any:
        done = subprocess.run(
            [node, str(interop_dir / script), *args],
            input=b"" if input_json is None else json.dumps(input_json).encode(),
            capture_output=True,
            cwd=interop_dir,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            pytest.fail(f"{script} exited with {done.returncode}:\n{done.stderr.decode(errors='replace')}")
        return json.loads(done.stdout)

    return run
