"""Account health end to end: signals counted with the events that carry them (once, however often SQS
redelivers), scored by GET /v1/sessions/{id}/health, and the connector's pacing slowed as risk rises —
unless the tenant turned `health_slowdown` off."""

from __future__ import annotations

from typing import Any

import pytest

from connector.first_contacts import FirstContacts
from connector.pacing import PacingPolicies
from tests.functions.test_conversations_api import ev, incoming
from tests.functions.test_sessions_api import deliver
from tests.support.lambdas import ApiCaller
from wagate import wiring
from wagate.compose import services
from wagate.domain.events import EventType
from wagate.services.health import HealthService


@pytest.fixture
def session(call: ApiCaller, key: str, functions: dict[str, Any]) -> dict[str, Any]:
    created = dict(call("POST", "/v1/sessions", key, body={"name": "Sales", "provider": "sandbox"})[1])
    deliver(functions, ev(created, EventType.CONNECTION_SUCCESS, phone="+34600000001"))
    return created


def send(call: ApiCaller, key: str, session: dict[str, Any], to: str) -> str:
    status, message, _ = call(
        "POST", "/v1/messages", key, body={"session_id": session["id"], "to": to, "text": "Oferta"}
    )
    assert status in (201, 202), message
    return str(message["id"])


def cold_outreach(
    call: ApiCaller, key: str, session: dict[str, Any], functions: dict[str, Any], deps: wiring.Deps
) -> None:
    """30 sends to strangers: 22 accepted, 2 refused with 463, 6 not on WhatsApp; 1 reply."""
    firsts = FirstContacts(deps.table, deps.clock)
    for n in range(30):
        to = f"+3460010{n:04d}"
        message_id = send(call, key, session, to)
        assert firsts.reserve(session["tenant_id"], session["id"], to, message_id, cap=100)
        if n < 22:
            event = ev(
                session, EventType.MESSAGE_SENT, message_id=message_id, provider_message_id=f"P{n}", at=101.0
            )
        else:
            reason = "recipient_restricted" if n < 24 else "not_on_whatsapp"
            event = ev(
                session, EventType.MESSAGE_STATUS, message_id=message_id, status="failed", reason=reason
            )
        deliver(functions, event)
        deliver(functions, event)  # redelivered: counted once
    deliver(functions, incoming(session, "IN1", "No gracias", phone="+34600100000"))


def test_signals_score_and_slowdown(
    call: ApiCaller, key: str, session: dict[str, Any], functions: dict[str, Any], local_deps: wiring.Deps
) -> None:
    path = f"/v1/sessions/{session['id']}/health"
    status, fresh, _ = call("GET", path, key)
    assert status == 200 and (fresh["score"], fresh["risk"], fresh["judged"]) == (100.0, "ok", False)

    cold_outreach(call, key, session, functions, local_deps)
    health = call("GET", path, key)[1]
    assert health["signals"] == {
        "sent": 22,
        "failed": 8,
        "restricted": 2,
        "refused": 6,
        "rate_limited": 0,
        "replies": 1,
        "new_contacts": 30,
    }
    assert health["judged"] and health["risk"] == "high" and health["score"] < 40
    assert health["slowdown"] == 0.25 and health["slowdown_enabled"] is True
    assert health["status_reason"] == "restricted"  # the 463 shows on the connected number too
    assert "463" in " ".join(health["reasons"])

    health_service = HealthService(local_deps.table, local_deps.clock, local_deps.settings.health)
    policies = PacingPolicies(services().pacing, refresh_seconds=0, health=health_service)
    slowed = policies.load(session["tenant_id"], session["id"])
    configured = services().pacing.effective(session["tenant_id"], session["id"])
    assert slowed.rate_per_minute == configured.rate_per_minute * 0.25
    assert slowed.jitter_max_seconds == configured.jitter_max_seconds * 4

    # The tenant opts out: the score stays, the pacing is as configured.
    status, _, _ = call("PUT", "/v1/settings/pacing", key, body={"health_slowdown": False})
    assert status == 200
    assert policies.load(session["tenant_id"], session["id"]) == configured.model_copy(
        update={"health_slowdown": False}
    )
    opted_out = call("GET", path, key)[1]
    assert (opted_out["risk"], opted_out["slowdown"], opted_out["slowdown_enabled"]) == ("high", 1.0, False)


def test_health_of_another_tenants_session_is_a_404(
    call: ApiCaller, key: str, session: dict[str, Any], local_deps: wiring.Deps
) -> None:
    from wagate.services import tenants

    other = tenants.create_tenant(local_deps.table, local_deps.clock, "Other")[1]
    status, error, _ = call("GET", f"/v1/sessions/{session['id']}/health", other)
    assert status == 404 and error["error"]["code"]
