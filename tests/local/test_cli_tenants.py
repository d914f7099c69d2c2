"""`wagate admin` manages tenants through the operator API's own service: create with quotas, list,
suspend/resume (and finish a suspension cut short), delete, an operator key, and indexing tenants created
before the operator API."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import pytest

from local.cli import main
from tests.support.crashing import Crash, CrashingTable
from wagate import wiring
from wagate.compose import services
from wagate.settings import Settings
from wagate.store import keys


def admin(data: Path, *argv: str) -> int:
    return main(["admin", "--data-dir", str(data), *argv])


def test_a_tenants_life_on_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    quotas = ("--max-sessions", "2", "--messages-per-day", "9")
    assert admin(data, "create-tenant", "Acme", "--json", *quotas) == 0
    created = json.loads(capsys.readouterr().out)
    tenant_id = created["tenant_id"]
    assert admin(data, "list-tenants") == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(t["id"], t["quotas"]) for t in listed] == [(tenant_id, {"sessions": 2, "messages_per_day": 9})]
    assert admin(data, "set-quotas", tenant_id, "--messages-per-day", "100") == 0
    assert json.loads(capsys.readouterr().out)["quotas"] == {"sessions": None, "messages_per_day": 100}
    assert admin(data, "set-quotas", "ten_nope") == 1 and "does not exist" in capsys.readouterr().err
    assert admin(data, "set-quotas", tenant_id, "--max-sessions", "-2") == 2
    capsys.readouterr()
    assert admin(data, "suspend-tenant", tenant_id) == 0
    suspended = json.loads(capsys.readouterr().out)
    assert suspended["status"] == "suspended" and suspended["pending"] is None
    assert admin(data, "suspend-tenant", tenant_id) == 0  # repeatable: the tenant as it is
    assert json.loads(capsys.readouterr().out) == suspended
    assert admin(data, "suspend-tenant", "ten_nope") == 1 and "does not exist" in capsys.readouterr().err
    assert admin(data, "resume-tenant", tenant_id) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "active"
    assert admin(data, "delete-tenant", tenant_id, "--yes") == 0
    assert json.loads(capsys.readouterr().out)["deleted"]["api_keys"] == 1
    assert admin(data, "list-tenants") == 0 and capsys.readouterr().out == ""
    assert admin(data, "create-tenant", "Bad", "--max-sessions", "-1") == 2


def test_the_hash_printed_is_the_keys(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert admin(tmp_path, "operator-key") == 0
    out = capsys.readouterr().out
    key = out.split("operator key: ", 1)[1].split()[0]
    digest = out.split("WAGATE_OPERATOR_KEY_SHA256=", 1)[1].split()[0]
    assert hashlib.sha256(key.encode()).hexdigest() == digest
    assert Settings.from_env({"WAGATE_OPERATOR_KEY_SHA256": digest}).operator_key_hashes == {digest}


def test_tenants_made_before_the_operator_api_are_indexed_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    deps = wiring.build(Settings(backend="local", data_dir=data))
    pk, sk = keys.tenant("ten_old")
    deps.table.put({"pk": pk, "sk": sk, "id": "ten_old", "name": "Old", "created_at": 1.0})
    assert admin(data, "list-tenants") == 0 and capsys.readouterr().out == ""
    assert admin(data, "index-tenants") == 0
    assert capsys.readouterr().out.startswith("1 tenants added")
    assert admin(data, "index-tenants") == 0
    assert capsys.readouterr().out.startswith("0 tenants added")
    assert admin(data, "list-tenants") == 0
    assert json.loads(capsys.readouterr().out)["id"] == "ten_old"


def test_the_command_line_finishes_a_suspension_cut_short(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    assert admin(data, "create-tenant", "Acme", "--json") == 0
    tenant_id = json.loads(capsys.readouterr().out)["tenant_id"]
    deps = wiring.build(Settings(backend="local", data_dir=data))
    crashing = CrashingTable(deps.table)
    crashing.limit = 2  # the suspension's first write and its first key: then the process dies
    with pytest.raises(Crash):
        services(dataclasses.replace(deps, table=crashing)).tenant_admin.suspend(tenant_id)
    assert admin(data, "resume-tenant", tenant_id) == 1  # the suspension may still be running
    assert "suspend of tenant" in capsys.readouterr().err
    assert admin(data, "suspend-tenant", tenant_id) == 0
    finished = json.loads(capsys.readouterr().out)
    assert (finished["status"], finished["pending"]) == ("suspended", None)
    assert all(item.get("suspended_at") == finished["suspended_at"] for item in key_rows(deps, tenant_id))


def key_rows(deps: wiring.Deps, tenant_id: str) -> list[dict[str, object]]:
    return deps.table.query(keys.api_keys_index(tenant_id), index="gsi1").items
