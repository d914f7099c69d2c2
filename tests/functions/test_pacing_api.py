"""Pacing over the API: a session's overrides (PATCH), the tenant's defaults (PUT/GET), checks, tenancy."""

from __future__ import annotations

from typing import Any

import pytest

from connector.pacing import PacingPolicies
from tests.support.lambdas import ApiCaller
from wagate import compose, wiring
from wagate.domain.pacing import Pacing
from wagate.services import tenants
from wagate.services.pacing_settings import PacingSettings


@pytest.fixture
def session(call: ApiCaller, key: str) -> str:
    status, body, _ = call("POST", "/v1/sessions", key, body={"name": "Sales", "provider": "sandbox"})
    assert status == 201
    return str(body["id"])


def test_a_session_patch_changes_only_the_fields_it_names(
    call: ApiCaller, key: str, session: str, local_deps: wiring.Deps
) -> None:
    status, view, _ = call("PATCH", f"/v1/sessions/{session}", key, body={"pacing": {"rate_per_minute": 12}})
    assert status == 200 and view["pacing"] == {**_nulls(), "rate_per_minute": 12.0}
    assert view["effective"]["rate_per_minute"] == 12 and view["effective"]["burst"] == Pacing().burst

    body = {"pacing": {"typing": True, "first_contacts_per_day": 20}}
    status, view, _ = call("PATCH", f"/v1/sessions/{session}", key, body=body)
    assert status == 200 and view["effective"]["rate_per_minute"] == 12  # kept
    assert view["effective"]["typing"] is True and view["effective"]["first_contacts_per_day"] == 20

    status, view, _ = call(
        "PATCH", f"/v1/sessions/{session}", key, body={"pacing": {"rate_per_minute": None}}
    )
    assert view["effective"]["rate_per_minute"] == Pacing().rate_per_minute  # inherited again
    assert view["effective"]["typing"] is True

    status, fetched, _ = call("GET", f"/v1/sessions/{session}/pacing", key)
    assert status == 200 and fetched == view
    # What the connector will apply, read from the same rows.
    tenant_id = tenants.authenticate(local_deps.table, key).tenant_id
    policies = PacingPolicies(PacingSettings.on_table(local_deps.table, Pacing()), refresh_seconds=0)
    assert policies.load(tenant_id, session).typing is True

    status, view, _ = call("PATCH", f"/v1/sessions/{session}", key, body={"pacing": None})
    assert status == 200 and view["effective"] == Pacing().model_dump()


def test_the_tenant_default_applies_under_a_session_override(call: ApiCaller, key: str, session: str) -> None:
    status, view, _ = call("GET", "/v1/settings/pacing", key)
    assert status == 200 and view["effective"] == Pacing().model_dump()
    body = {"enabled": True, "rate_per_minute": 6, "jitter_min_seconds": 2, "jitter_max_seconds": 8}
    status, view, _ = call("PUT", "/v1/settings/pacing", key, body=body)
    assert status == 200 and view["effective"]["rate_per_minute"] == 6
    call("PATCH", f"/v1/sessions/{session}", key, body={"pacing": {"rate_per_minute": 20}})
    status, view, _ = call("GET", f"/v1/sessions/{session}/pacing", key)
    assert view["effective"]["rate_per_minute"] == 20 and view["effective"]["jitter_max_seconds"] == 8
    status, view, _ = call("PUT", "/v1/settings/pacing", key, body={})  # back to the server defaults
    assert view["effective"] == Pacing().model_dump()


@pytest.mark.parametrize(
    ("path", "method", "body", "code"),
    [
        ("/v1/settings/pacing", "PUT", {"burst": 0}, "validation_failed"),
        ("/v1/settings/pacing", "PUT", {"rate_per_minute": 5, "speed": 3}, "validation_failed"),
        (
            "/v1/settings/pacing",
            "PUT",
            {"jitter_min_seconds": 9, "jitter_max_seconds": 1},
            "invalid_input",
        ),
        ("/v1/sessions/{session}", "PATCH", {"pacing": {"jitter_min_seconds": 30}}, "invalid_input"),
        ("/v1/sessions/{session}", "PATCH", {}, "validation_failed"),
    ],
)
def test_contradictions_and_unknown_fields_are_refused(
    call: ApiCaller, key: str, session: str, path: str, method: str, body: Any, code: str
) -> None:
    status, answer, _ = call(method, path.format(session=session), key, body=body)
    assert status == 422 and answer["error"]["code"] == code


def test_another_tenants_session_is_a_404_and_writes_need_admin(
    call: ApiCaller, key: str, session: str, local_deps: wiring.Deps
) -> None:
    other = tenants.create_tenant(local_deps.table, local_deps.clock, "Other")[1]
    status, answer, _ = call("PATCH", f"/v1/sessions/{session}", other, body={"pacing": {"burst": 2}})
    assert status == 404
    status, reader, _ = call("POST", "/v1/keys", key, body={"name": "ro", "scopes": ["read"]})
    assert status == 201
    status, answer, _ = call("PUT", "/v1/settings/pacing", reader["secret"], body={"burst": 2})
    assert status == 403
    status, answer, _ = call("GET", "/v1/settings/pacing", reader["secret"])
    assert status == 200


def _nulls() -> dict[str, None]:
    return {name: None for name in Pacing.model_fields}


def test_the_route_takes_its_service_through_depends(
    functions: dict[str, Any], call: ApiCaller, key: str, session: str, local_deps: wiring.Deps
) -> None:
    """The composition root's seam: `app.dependency_overrides` swaps the service a route gets, here for
    one on other server defaults (what WAGATE_PACING_* would set), with no environment touched."""
    app = functions["api"].app
    slow = PacingSettings.on_table(local_deps.table, Pacing(rate_per_minute=7, burst=2))
    app.dependency_overrides[compose.pacing_settings] = lambda: slow
    try:
        status, view, _ = call("GET", f"/v1/sessions/{session}/pacing", key)
        assert status == 200 and view["effective"]["rate_per_minute"] == 7 and view["effective"]["burst"] == 2
        call("PATCH", f"/v1/sessions/{session}", key, body={"pacing": {"burst": 3}})
        tenant_id = tenants.authenticate(local_deps.table, key).tenant_id
        assert slow.effective(tenant_id, session).burst == 3  # written through the overriding service
    finally:
        app.dependency_overrides.clear()
    effective = call("GET", f"/v1/sessions/{session}/pacing", key)[1]["effective"]
    assert effective["rate_per_minute"] == Pacing().rate_per_minute and effective["burst"] == 3
