"""`wagate` options work before or after the subcommand they belong to."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from local.cli import main


@pytest.mark.parametrize(
    "argv",
    [
        ["admin", "create-tenant", "Acme", "--data-dir", "{d}", "--json"],
        ["admin", "--data-dir", "{d}", "create-tenant", "Acme", "--json"],
        ["admin", "create-tenant", "--data-dir", "{d}", "--backend", "local", "Acme", "--json"],
    ],
)
def test_admin_options_before_or_after_the_subcommand(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    assert main([a.replace("{d}", str(data)) for a in argv]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["name"] == "Acme" and printed["api_key"].startswith("wg_")
    assert any(data.iterdir())  # the tenant went into the directory named, wherever the option stood


def test_an_option_given_before_is_not_reset_by_the_subcommand(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "before"
    assert main(["admin", "--data-dir", str(data), "create-tenant", "Acme"]) == 0
    assert any(data.iterdir())


@pytest.mark.parametrize(
    "argv",
    [
        ["sessions", "list", "--url", "http://127.0.0.1:9", "--api-key", "wg_x"],
        ["sessions", "--url", "http://127.0.0.1:9", "list", "--api-key", "wg_x"],
        ["sessions", "--url", "http://127.0.0.1:9", "--api-key", "wg_x", "list"],
    ],
)
def test_sessions_options_before_or_after_the_subcommand(
    argv: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import local.cli_sessions

    seen: list[argparse.Namespace] = []
    monkeypatch.setattr(local.cli_sessions, "run", lambda args: seen.append(args) or 0)
    assert main(argv) == 0
    assert (seen[0].url, seen[0].api_key, seen[0].sessions_command) == ("http://127.0.0.1:9", "wg_x", "list")
