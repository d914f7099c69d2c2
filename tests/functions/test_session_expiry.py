"""Abandoned sessions: one never linked within WAGATE_ABANDONED_SESSION_SECONDS is deleted by the sweeper,
its slot freed, `session_expired` told to CRMs (once) and dashboards, the connector told to
stop it; a linked one never expires, and the sweep reads only the sessions never linked."""

from __future__ import annotations

import dataclasses
from typing import Any

from tests.functions.test_sessions_api import deliver, event, hold_lease
from tests.functions.test_webhook_delivery import Crm, crm  # noqa: F401 (a fixture, by name)
from tests.support.commands import take_commands
from tests.support.lambdas import LambdaContext
from wagate import wiring
from wagate.domain.events import CommandType, EventType
from wagate.store.sessions import SessionRepository

DAY = 86_400


def sweep(w: Crm) -> dict[str, Any]:
    result: dict[str, Any] = w.functions["sweeper"].lambda_handler({}, LambdaContext())
    return result


def expired_reports(w: Crm, path: str) -> list[dict[str, Any]]:
    w.pump()  # (signed as every delivery; the receiver's check of the timestamp is off by the fake day)
    return [r.json["data"] for r in w.receiver.delivered(path) if r.json["type"] == "session_expired"]


def test_a_session_nobody_linked_in_a_day_expires_frees_its_slot_and_is_told_once(crm: Crm) -> None:  # noqa: F811
    crm.webhook("/crm", events=["session_expired"])
    abandoned = crm.session
    take_commands(abandoned["id"])
    crm.clock.advance(DAY - 5)
    assert sweep(crm)["sessions_expired"] == 0  # not yet
    crm.clock.advance(10)
    assert sweep(crm)["sessions_expired"] == 1
    assert sweep(crm)["sessions_expired"] == 0  # once
    status, body, _ = crm.call("GET", f"/v1/sessions/{abandoned['id']}", crm.key)
    assert status == 404
    assert [c.type for c in take_commands(abandoned["id"])] == [CommandType.LOGOUT]
    got = expired_reports(crm, "/crm")
    assert len(got) == 1
    assert got[0]["sessionId"] == abandoned["id"] and got[0]["reason"] == "never_linked"
    assert (got[0]["status"], got[0]["after_seconds"], got[0]["name"]) == ("pending", DAY, "Ventas")
    assert SessionRepository(crm.deps.table).records_of(abandoned["tenant_id"]) == []


def test_a_linked_session_never_expires_and_leaves_the_index(crm: Crm) -> None:  # noqa: F811
    linked = crm.session
    hold_lease(linked)
    deliver(crm.functions, event(linked, EventType.CONNECTION_SUCCESS, phone="+34600111222"))
    deliver(crm.functions, event(linked, EventType.CONNECTION_LOST, reason="connection_lost", retry_in=1))
    assert SessionRepository(crm.deps.table).unlinked_before(crm.clock.now() + 10 * DAY) == []
    crm.clock.advance(10 * DAY)
    assert sweep(crm)["sessions_expired"] == 0
    assert crm.call("GET", f"/v1/sessions/{linked['id']}", crm.key)[0] == 200


def test_the_slot_is_free_again(crm: Crm) -> None:  # noqa: F811
    for name in ("2", "3", "4", "5"):
        crm.call("POST", "/v1/sessions", crm.key, body={"name": name, "provider": "sandbox"})
    status, body, _ = crm.call("POST", "/v1/sessions", crm.key, body={"name": "6", "provider": "sandbox"})
    assert (status, body["error"]["code"]) == (409, "limit_exceeded")
    crm.clock.advance(DAY + 1)
    assert sweep(crm)["sessions_expired"] == 5
    status, _, _ = crm.call("POST", "/v1/sessions", crm.key, body={"name": "6", "provider": "sandbox"})
    assert status == 201


def test_zero_turns_expiry_off(crm: Crm) -> None:  # noqa: F811
    settings = crm.deps.settings.model_copy(update={"abandoned_session_seconds": 0})
    crm.deps = dataclasses.replace(crm.deps, settings=settings)
    wiring.install(crm.deps)
    crm.clock.advance(100 * DAY)
    assert sweep(crm)["sessions_expired"] == 0
    assert crm.call("GET", f"/v1/sessions/{crm.session['id']}", crm.key)[0] == 200
