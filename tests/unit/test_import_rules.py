"""The import rules of ARCHITECTURE.md, read from the source (every import, TYPE_CHECKING and lazy ones too).

services never import adapters (they get ports from `wagate.compose`); adapters never import services or
the composition root; `domain/` does no I/O; the layer (what Lambda runs) never imports the connector or
the local runner. A rule that fails names the file, the line and the import.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYER = ROOT / "layers" / "core" / "wagate"
IO_MODULES = ("boto3", "botocore", "httpx", "sqlite3", "websockets", "socket", "aiohttp", "requests")


def imports(path: Path) -> Iterator[tuple[int, str]]:
    """(line, module) for every import in the file; `from a import b` yields a.b as well as a."""
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the file's package
                package = path.relative_to(LAYER.parent).with_suffix("").parts[: -node.level]
                base = ".".join((*package, node.module or ""))
            else:
                base = node.module or ""
            yield node.lineno, base.rstrip(".")
            for alias in node.names:
                yield node.lineno, f"{base}.{alias.name}".strip(".")


def under(module: str, *prefixes: str) -> bool:
    return any(module == prefix or module.startswith(prefix + ".") for prefix in prefixes)


def broken(files: list[Path], *forbidden: str) -> list[str]:
    return [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in files
        for line, module in imports(path)
        if under(module, *forbidden)
    ]


def files(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.py"))


def test_the_rules_see_imports_of_every_kind(tmp_path: Path) -> None:
    """The reader itself: plain, from, lazy (inside a function) and TYPE_CHECKING imports all count."""
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from typing import TYPE_CHECKING\nimport httpx\n"
        "if TYPE_CHECKING:\n    from wagate.adapters.aws import sqs_queue\n"
        "def f():\n    from wagate import adapters\n"
    )
    found = {module for _, module in imports(sample)}
    assert {"httpx", "wagate.adapters.aws.sqs_queue", "wagate.adapters"} <= found


def test_services_never_import_adapters() -> None:
    assert broken(files(LAYER / "services"), "wagate.adapters") == []


def test_adapters_never_import_services_or_the_composition_root() -> None:
    assert broken(files(LAYER / "adapters"), "wagate.services", "wagate.compose", "wagate.api") == []


def test_the_domain_does_no_io() -> None:
    assert broken(files(LAYER / "domain"), *IO_MODULES, "wagate.adapters", "wagate.store") == []


def test_ports_are_neutral() -> None:
    """ports.py is what both sides import: it imports neither side."""
    assert (
        broken([LAYER / "ports.py"], "wagate.adapters", "wagate.services", "wagate.store", *IO_MODULES) == []
    )


@pytest.mark.parametrize("outside", ["connector", "local", "uvicorn", "cfnlint"])
def test_the_layer_never_imports_the_connector_or_the_local_runner(outside: str) -> None:
    """The layer is what Lambda runs; the connector and the local runner (top-level `local/`, with its
    server and template parser, which the layer does not install) import it, never the reverse."""
    assert broken(files(LAYER), outside) == []


def test_the_connector_never_imports_the_local_runner() -> None:
    """The local runner hosts the connector in `wagate serve`; the connector runs without it (ECS)."""
    assert broken(files(ROOT / "connector"), "local") == []


def test_every_folder_of_tests_is_a_package() -> None:
    """pytest imports a test module by its full name only inside packages; in a bare folder it imports
    it by basename, so two test files with one name would collide and a module other tests import would
    load twice."""
    tests = ROOT / "tests"
    folders = {p.parent for p in tests.rglob("test_*.py") if "node_modules" not in p.parts}
    folders |= {p.parent for p in tests.rglob("conftest.py") if "node_modules" not in p.parts}
    bare = sorted(str(f.relative_to(ROOT)) for f in folders if not (f / "__init__.py").exists())
    assert bare == []
