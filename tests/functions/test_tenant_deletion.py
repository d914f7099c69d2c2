"""Tenant deletion (`wagate admin delete-tenant`): keys destroyed first, then every row of the tenant;
its API keys stop working; other tenants are untouched; the operator's audit log records it."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from local.cli import main
from tests.functions.test_erasure_api import PERSON, a_world
from tests.support.lambdas import ApiCaller
from wagate import compose, wiring
from wagate.services import tenants
from wagate.store import keys as table_keys


def rows_of(data_dir: Path, tenant_id: str) -> list[tuple[str, str]]:
    with sqlite3.connect(data_dir / "table.db") as db:
        found = db.execute("SELECT pk, sk, doc FROM items").fetchall()
    operator_log = table_keys.audit_partition(table_keys.OPERATOR_AUDIT_TENANT)
    return [
        (pk, sk)
        for pk, sk, doc in found
        if pk != operator_log and (tenant_id in pk or tenant_id in sk or tenant_id in doc)
    ]


def test_delete_a_tenant(
    call: ApiCaller, key: str, functions: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    d = wiring.deps()
    tenant_id = call("GET", "/v1/keys", key)[1]["items"][0]["tenant_id"]
    a_world(call, key, functions)
    assert call("DELETE", f"/v1/contacts/{PERSON}", key)[0] == 200  # a tombstone key exists now
    other_key = tenants.create_tenant(d.table, d.clock, "Stays")[1]
    assert call("POST", "/v1/sessions", other_key, body={"name": "Theirs", "provider": "sandbox"})[0] == 201
    data_dir = Path(d.settings.data_dir)
    assert rows_of(data_dir, tenant_id)

    assert main(["admin", "delete-tenant", tenant_id, "--data-dir", str(data_dir)]) == 2  # no --yes
    capsys.readouterr()
    assert main(["admin", "delete-tenant", tenant_id, "--yes", "--data-dir", str(data_dir)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["deleted"]["sessions"] == 2 and report["deleted"]["api_keys"] == 1

    functions["authorizer"]._cache.clear()  # its minute of caching, as after any key revocation
    assert call("GET", "/v1/sessions", key)[0] == 401
    assert d.table.get(*table_keys.tombstone_key(tenant_id)) is None
    # Not one row names it, but the operator's log and the destroyed data key's tombstone (it keeps a
    # new key from ever being made for this tenant).
    assert rows_of(data_dir, tenant_id) == [table_keys.tenant_data_key(tenant_id)]
    datakey = d.table.get(*table_keys.tenant_data_key(tenant_id))
    assert datakey is not None and "wrapped" not in datakey and datakey["destroyed_at"]
    with sqlite3.connect(data_dir / "table.db") as db:
        (operator_rows,) = db.execute(
            "SELECT COUNT(*) FROM items WHERE pk = ?", (table_keys.audit_partition("_system"),)
        ).fetchone()
    assert operator_rows == 1
    entry = compose.services().audit.page(table_keys.OPERATOR_AUDIT_TENANT).entries[0]
    assert (entry.action, entry.target, entry.actor) == ("tenant.deleted", tenant_id, "operator")
    assert call("GET", "/v1/sessions", other_key)[1]["items"][0]["name"] == "Theirs"
    assert main(["admin", "delete-tenant", tenant_id, "--yes", "--data-dir", str(data_dir)]) == 1
    capsys.readouterr()
    assert main(["admin", "audit", "--data-dir", str(data_dir)]) == 0
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(e["action"], e["target"]) for e in printed] == [("tenant.deleted", tenant_id)]
