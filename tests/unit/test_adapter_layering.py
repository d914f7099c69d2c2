"""An AWS adapter never depends on a local one: rules both share live in neutral modules of `wagate`."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ADAPTERS = Path(__file__).resolve().parents[2] / "layers" / "core" / "wagate" / "adapters"


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", sorted((ADAPTERS / "aws").glob("*.py")), ids=lambda path: path.name)
def test_aws_adapters_do_not_import_local_adapters(path: Path) -> None:
    local = sorted(name for name in imported_modules(path) if name.startswith("wagate.adapters.local"))
    assert local == [], f"{path.name} imports {local}: move what they share to a neutral module"
