"""The settings tree: every variable has one owner, AWS's names are read, bad input stops the start, named."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from connector.config import ConnectorConfig
from connector.engines.web.settings import WebSettings
from wagate.domain.pacing import Pacing
from wagate.environment import markdown_table, variables
from wagate.settings import READ_ELSEWHERE, Settings, SettingsError

ROOT = Path(__file__).resolve().parents[2]
VARIABLE = re.compile(r"\b(WAGATE_[A-Z0-9_]*[A-Z0-9])\b")


def _repository_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "*.py", "*.yaml", "*.sh", "Makefile"], cwd=ROOT, capture_output=True, text=True
    )
    if listed.returncode != 0:
        pytest.skip("not a git checkout")
    return [ROOT / name for name in listed.stdout.split() if (ROOT / name).is_file()]


def test_every_variable_the_code_names_is_a_setting() -> None:
    """A WAGATE_* name in code, tests or the template that the tree does not own would be refused at start."""
    known = set(variables(Settings)) | READ_ELSEWHERE
    stray: dict[str, str] = {}
    for path in _repository_files():
        if path == Path(__file__).resolve():
            continue  # it names wrong variables on purpose
        for name in VARIABLE.findall(path.read_text(errors="replace")):
            if name not in known and not name.endswith(("_PACING_", "_WA_")):
                stray.setdefault(name, str(path.relative_to(ROOT)))
    assert stray == {}, "a setting belongs in wagate/settings.py; a test's own knob in READ_ELSEWHERE"


def test_the_template_environment_is_read() -> None:
    """template.yaml's Environment blocks: every variable is a setting, a queue URL, or Powertools'."""
    text = (ROOT / "template.yaml").read_text()
    names = set(re.findall(r"^\s+([A-Z][A-Z0-9_]+):\s", text, re.MULTILINE))
    names |= set(re.findall(r"\{Name: ([A-Z][A-Z0-9_]+),", text))
    settings_like = {
        n for n in names if not n.endswith("_QUEUE_URL") and not n.endswith("_DLQ_URL") and "_" in n
    }
    settings_like = {n for n in settings_like if not n.startswith(("POWERTOOLS_", "AWS_"))}
    assert {
        "TABLE_NAME",
        "KMS_KEY_ID",
        "IDEMPOTENCY_TABLE",
        "META_APP_SECRET",
        "WAGATE_SHARDS",
    } <= settings_like
    assert settings_like <= set(variables(Settings))


def test_aws_names_and_sections_are_read() -> None:
    settings = Settings.from_env(
        {
            "WAGATE_BACKEND": "aws",
            "TABLE_NAME": "stack-Table",
            "KMS_KEY_ID": "key-1",
            "IDEMPOTENCY_TABLE": "stack-Idem",
            "META_APP_SECRET": "from-template",
            "WAGATE_META_VERIFY_TOKEN": "mine",
            "META_VERIFY_TOKEN": "template's",
            "WAGATE_SHARDS": "8",
            "WAGATE_SHARD_LEASE_SECONDS": "12",
            "WAGATE_SANDBOX_JOURNAL": "off",
            "WAGATE_WA_BROWSER": "Safari",
            "WAGATE_PACING": "off",
            "WAGATE_PACING_BURST": "9",
            "WAGATE_PORT": "9001",
            "WAGATE_MEDIA_PROBE_SECONDS": "",  # empty = unset, as before
        }
    )
    assert (settings.table_name, settings.kms_key_id, settings.idempotency_table) == (
        "stack-Table",
        "key-1",
        "stack-Idem",
    )
    assert (
        settings.meta_app_secret is not None
        and settings.meta_app_secret.get_secret_value() == "from-template"
    )
    assert settings.meta_verify_token is not None and settings.meta_verify_token.get_secret_value() == "mine"
    assert (
        settings.connector.shard_lease_seconds == 12 and settings.connector.sandbox.journal_enabled is False
    )
    assert settings.pacing == Pacing(enabled=False, burst=9) and settings.cli.port == 9001
    assert settings.media_probe_seconds == 5.0
    # The shard count has one owner: the connector takes it (and the pacing defaults) from the tree.
    config = ConnectorConfig.from_settings(settings)
    assert (config.shards, config.shard_lease_seconds, config.pacing) == (8, 12, settings.pacing)
    web = WebSettings.from_section(settings.web)
    assert web.browser == "Safari" and web.device_name == "wagate"


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"WAGATE_SHARDZ": "4"}, "WAGATE_SHARDZ (did you mean WAGATE_SHARDS?)"),
        ({"WAGATE_TABLE_NAME": "t"}, "WAGATE_TABLE_NAME"),  # AWS's name is TABLE_NAME
        ({"WAGATE_SHARDS": "0"}, "WAGATE_SHARDS: Input should be greater than or equal to 1 (got '0')"),
        ({"WAGATE_SEND_TRIES": "three"}, "WAGATE_SEND_TRIES"),
        ({"WAGATE_SANDBOX_QR_LIMIT": "-1"}, "WAGATE_SANDBOX_QR_LIMIT"),
        ({"WAGATE_WA_NOISE_ROOT": "abcd"}, "WAGATE_WA_NOISE_ROOT"),
        ({"WAGATE_PACING": "maybe"}, "WAGATE_PACING: "),
        ({"WAGATE_PACING_JITTER_MIN_SECONDS": "9"}, "WAGATE_PACING_*: Value error, jitter_min_seconds"),
        ({"WAGATE_BACKEND": "gcp"}, "WAGATE_BACKEND"),
        ({"WAGATE_LOG_LEVEL": "LOUD"}, "WAGATE_LOG_LEVEL"),
    ],
)
def test_unknown_or_malformed_variables_stop_the_start_named(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_env(env)
    assert named in str(raised.value)


def test_every_refused_variable_is_named_at_once() -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_env(
            {"WAGATE_WEBHOOKS_RETRY_SCHEDULE": "soon", "WAGATE_PORT": "x", "WAGATE_WA_COUNTRY": "x"}
        )
    assert all(name in str(raised.value) for name in ("WEBHOOKS_RETRY_SCHEDULE", "WAGATE_PORT", "WA_COUNTRY"))


def test_constructing_reads_no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WAGATE_SHARDS", "9")
    monkeypatch.setenv("WAGATE_PACING", "off")
    assert Settings().shards == 4 and Settings().pacing.enabled
    assert Settings.from_env().shards == 9


def test_every_variable_has_one_owner_and_a_description() -> None:
    owners = variables(Settings)  # raises if two settings share a variable
    assert len(owners) > 60
    assert [name for name, field in owners.items() if not field.description] == []


def test_readme_lists_every_variable() -> None:
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- settings:begin -->\n(.*?)\n<!-- settings:end -->", readme, re.DOTALL)
    assert block is not None, "README's Configuration lost its generated table"
    assert block.group(1) == markdown_table(Settings), "regenerate it: python -m wagate.environment"


def test_a_bad_variable_stops_the_connector_named() -> None:
    path = f"{ROOT / 'layers' / 'core'}:{ROOT}"
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": path, "WAGATE_SHARDS": "many"}
    result = subprocess.run(
        [sys.executable, "-m", "connector"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2 and "WAGATE_SHARDS" in result.stderr and "Traceback" not in result.stderr


def test_a_bad_variable_stops_the_cli_named(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from local.cli import main

    monkeypatch.setenv("WAGATE_PORT", "eighty")
    assert main(["sessions", "list"]) == 2
    assert "WAGATE_PORT" in capsys.readouterr().err


def test_handlers_import_no_settings_reader() -> None:
    """pydantic-settings is loaded when settings are read (first request), not at a handler's import."""
    code = "import sys, functions.api.app; assert 'pydantic_settings' not in sys.modules, 'imported'"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
