"""A session's lease is long (an hour: its shard's lease is what the connector renews often), so the API
shows `connected` only while the connector holding the session still holds the session's shard at the
fence the session lease was taken under."""

from __future__ import annotations

from typing import Any

from connector.leases import Leases, LeaseTimes, session_lease_key, shard_lease_key
from tests.functions.test_sessions_api import create, deliver, event
from tests.support.lambdas import ApiCaller
from wagate import wiring
from wagate.domain.events import EventType
from wagate.services.sessions import shard_of


def test_connected_follows_the_shard_lease_the_session_was_taken_under(
    call: ApiCaller, key: str, functions: dict[str, Any]
) -> None:
    session = create(call, key)
    deliver(functions, event(session, EventType.CONNECTION_SUCCESS, phone="+15550001111"))
    d = wiring.deps()
    shard = shard_of(session["id"], d.settings.shards)
    first = Leases(d.table, d.clock, "connector-1")
    shard_lease = first.acquire(shard_lease_key(shard), LeaseTimes.for_ttl(30))
    assert shard_lease is not None
    session_key = session_lease_key(session["tenant_id"], session["id"])
    assert first.acquire(session_key, LeaseTimes.for_ttl(3600), shard_fence=shard_lease.fence) is not None

    def shown() -> tuple[str, str | None]:
        fetched = call("GET", f"/v1/sessions/{session['id']}", key)[1]
        [listed] = [s for s in call("GET", "/v1/sessions", key)[1]["items"] if s["id"] == session["id"]]
        assert (listed["status"], listed["status_reason"]) == (fetched["status"], fetched["status_reason"])
        return fetched["status"], fetched["status_reason"]

    assert shown() == ("connected", None)
    # The shard moves to another connector (the first one crashed, or handed it back): its session
    # lease still has most of its hour left, but no socket of the first connector is open any more.
    first.release(shard_lease)
    second = Leases(d.table, d.clock, "connector-2")
    moved = second.acquire(shard_lease_key(shard), LeaseTimes.for_ttl(30))
    assert moved is not None
    status, reason = shown()
    assert (status, reason) == ("connecting", "connector_lost")
    detail = call("GET", f"/v1/sessions/{session['id']}", key)[1]["status_detail"]
    assert "no longer holds its shard" in detail
    # The new holder takes the session over at once (newer shard fence): connected again.
    assert second.acquire(session_key, LeaseTimes.for_ttl(3600), shard_fence=moved.fence) is not None
    assert shown() == ("connected", None)
