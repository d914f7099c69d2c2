"""End to end through `wagate serve`: an operator key configured by its hash onboards a tenant over HTTP,
the tenant's first key links a sandbox number and checks numbers through the in-process connector (200
within the wait), a contact written by the sandbox's reply is found by name, and the operator deletes
the tenant."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.e2e.test_serve_sandbox import FAST_SANDBOX
from tests.support.serve import Server, wait_for
from wagate.services.tenants import new_operator_key

pytestmark = pytest.mark.e2e


def test_an_operator_onboards_a_tenant_that_links_checks_and_is_deleted(tmp_path: Path) -> None:
    operator_key, digest = new_operator_key()
    env = {**FAST_SANDBOX, "WAGATE_OPERATOR_KEY_SHA256": digest}
    with Server(tmp_path / "data", env=env) as server:
        operator = httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {operator_key}"}, timeout=20
        )
        created = operator.post("/v1/operator/tenants", json={"name": "Agency", "quotas": {"sessions": 1}})
        assert created.status_code == 201, created.text
        tenant_id, key = created.json()["id"], created.json()["api_key"]["secret"]
        http = server.client(key)
        http.timeout = httpx.Timeout(20)
        session = http.post("/v1/sessions", json={"name": "Demo", "provider": "sandbox"}).json()
        second = http.post("/v1/sessions", json={"name": "Two", "provider": "sandbox"})
        assert (second.status_code, second.json()["error"]["code"]) == (409, "limit_exceeded")
        wait_for(lambda: http.post(f"/v1/sandbox/sessions/{session['id']}/scan").status_code == 202)
        assert wait_for(lambda: http.get(f"/v1/sessions/{session['id']}").json()["status"] == "connected")

        check = http.post(
            "/v1/contacts/check",
            json={"session_id": session["id"], "numbers": ["+15550100001", "+15550109999"]},
        )
        assert check.status_code == 200, check.text
        assert [(r["phone"], r["status"]) for r in check.json()["results"]] == [
            ("+15550100001", "on_whatsapp"),
            ("+15550109999", "not_on_whatsapp"),
        ]

        http.post("/v1/messages", json={"session_id": session["id"], "to": "+15550100001", "text": "Hola"})
        ana = wait_for(lambda: http.get("/v1/contacts", params={"phone": "+15550100001"}).json()["items"])
        word = ana[0]["name"].split()[0]
        assert (
            http.get("/v1/contacts", params={"name": word.upper()}).json()["items"][0]["phone"]
            == "+15550100001"
        )

        assert operator.get(f"/v1/operator/tenants/{tenant_id}").json()["usage"]["sessions"] == 1
        assert http.get("/v1/operator/tenants").status_code == 403  # a tenant key, never an operator's
        deleted = operator.delete(f"/v1/operator/tenants/{tenant_id}")
        assert deleted.status_code == 200 and deleted.json()["deleted"]["sessions"] == 1
        assert operator.get(f"/v1/operator/tenants/{tenant_id}").status_code == 404
