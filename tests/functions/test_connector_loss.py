"""A connector that dies (crash, task killed, host gone) is told to CRMs: the sweeper reports each loss of
a connected session once (`session_status`, `connecting` / `connector_lost`), never a deliberate stop
(replaced, logged out, a disconnect), and the successor's `connected` follows as a change. Through the
real handlers (events, sweeper, webhooks) and a CRM receiving signed webhooks."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from typing import Any

import pytest

from connector.leases import Lease, Leases, LeaseTimes, session_lease_key
from tests.functions.test_session_status_webhooks import reports
from tests.functions.test_sessions_api import deliver
from tests.functions.test_webhook_delivery import Crm, crm  # noqa: F401 (a fixture, by name)
from tests.support.lambdas import LambdaContext
from wagate import process_liveness
from wagate.domain.events import EventType, SessionEvent

TTL = 30  # fake time stays within the CRM receiver's 5 minutes of signature tolerance


def sweep(w: Crm) -> dict[str, Any]:
    result: dict[str, Any] = w.functions["sweeper"].lambda_handler({}, LambdaContext())
    return result


def take(w: Crm, owner: str) -> Lease:
    """What a connector does before it reports anything of a session: take its lease."""
    key = session_lease_key(w.session["tenant_id"], w.session["id"])
    lease = Leases(w.deps.table, w.clock, owner).acquire(key, LeaseTimes.for_ttl(TTL))
    assert lease is not None
    return lease


def report(w: Crm, lease: Lease, kind: EventType, **data: Any) -> None:
    w.events += 1
    event = SessionEvent(
        type=kind,
        tenant_id=w.session["tenant_id"],
        session_id=w.session["id"],
        fence=lease.fence,
        at=w.clock.now(),
        data=data,
    )
    deliver(w.functions, event)


def shown(w: Crm) -> tuple[str, str | None]:
    body = w.call("GET", f"/v1/sessions/{w.session['id']}", w.key)[1]
    return body["status"], body["status_reason"]


def told(w: Crm) -> list[tuple[str, str | None]]:
    return [(r["status"], r["reason"]) for r in reports(w, "/crm")]


def test_a_lapsed_lease_is_told_once_then_the_successor_connects(crm: Crm) -> None:  # noqa: F811
    crm.webhook("/crm", events=["session_status"])
    first = take(crm, "connector-1")
    report(crm, first, EventType.CONNECTION_SUCCESS, phone="+34600111222")
    assert (sweep(crm)["connectors_lost"], shown(crm)) == (0, ("connected", None))  # alive: nothing

    crm.clock.advance(TTL + 1)  # its task was killed: nobody renews the lease
    assert shown(crm) == ("connecting", "connector_lost")
    assert sweep(crm)["connectors_lost"] == 1
    for _ in range(3):  # still lost: not news again
        crm.clock.advance(TTL)
        assert sweep(crm)["connectors_lost"] == 0
    got = reports(crm, "/crm")
    assert [(r["status"], r["reason"]) for r in got] == [
        ("connected", None),
        ("connecting", "connector_lost"),
    ]
    lost = got[1]
    assert (lost["previous_status"], lost["previous_reason"], lost["permanent"], lost["ban"]) == (
        "connected",
        None,
        False,
        None,
    )
    assert lost["sessionId"] == crm.session["id"] and lost["phone"] == "+34600111222"
    assert "stopped renewing" in lost["detail"]

    second = take(crm, "connector-2")  # a successor takes the session over...
    swept = sweep(crm)  # ...but has not reconnected it yet: nothing to tell
    assert (swept["connectors_lost"], swept["connectors_back"]) == (0, 0)
    report(crm, second, EventType.SESSION_STATUS, status="connecting")
    crm.clock.advance(1)
    report(crm, second, EventType.CONNECTION_SUCCESS, phone="+34600111222")
    assert sweep(crm)["connectors_lost"] == 0
    assert told(crm) == [("connected", None), ("connecting", "connector_lost"), ("connected", None)]
    assert reports(crm, "/crm")[-1]["previous_reason"] == "connector_lost"

    crm.clock.advance(TTL + 1)  # and the successor dies too: a new loss, told once
    assert [sweep(crm)["connectors_lost"] for _ in range(2)] == [1, 0]
    assert told(crm)[-1] == ("connecting", "connector_lost") and len(told(crm)) == 4


def test_a_killed_connector_process_is_told_at_the_next_sweep(crm: Crm) -> None:  # noqa: F811
    """One box (`wagate serve`): a holder provably gone is lost at once, without waiting for its lease."""
    crm.webhook("/crm", events=["session_status"])
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    started = process_liveness._start_ticks(holder.pid)
    assert started is not None
    lease = take(crm, "connector-1")
    identity = dataclasses.replace(process_liveness.current(), pid=holder.pid, started=started)
    crm.deps.table.update(lease.key.pk, lease.key.sk, set=identity.attributes())
    report(crm, lease, EventType.CONNECTION_SUCCESS)
    assert sweep(crm)["connectors_lost"] == 0
    crm.clock.advance(1)  # (CRMs get deliveries in parallel: `reports` orders them by time)
    holder.kill()
    holder.wait(10)
    assert [sweep(crm)["connectors_lost"] for _ in range(2)] == [1, 0]
    assert told(crm) == [("connected", None), ("connecting", "connector_lost")]
    assert "process holding this session is gone" in reports(crm, "/crm")[-1]["detail"]


def test_a_holder_that_was_only_late_is_told_back(crm: Crm) -> None:  # noqa: F811
    """Its lease lapsed (a paused process), nobody took it, and it renewed it: its socket was open all
    along, so no event will come; the sweep itself says it is connected again."""
    crm.webhook("/crm", events=["session_status"])
    lease = take(crm, "connector-1")
    report(crm, lease, EventType.CONNECTION_SUCCESS)
    crm.clock.advance(TTL + 1)
    assert sweep(crm)["connectors_lost"] == 1
    crm.clock.advance(1)
    assert Leases(crm.deps.table, crm.clock, "connector-1").renew(lease, LeaseTimes.for_ttl(TTL))
    assert shown(crm) == ("connected", None)
    assert [sweep(crm)["connectors_back"] for _ in range(2)] == [1, 0]
    assert told(crm) == [("connected", None), ("connecting", "connector_lost"), ("connected", None)]
    crm.clock.advance(TTL + 1)  # late again: a new loss
    assert sweep(crm)["connectors_lost"] == 1


@pytest.mark.parametrize(
    ("kind", "ended", "data"),
    [
        (EventType.CONNECTION_LOST, ("disconnected", "replaced"), {"reason": "replaced"}),
        (EventType.CONNECTION_LOST, ("disconnected", "requested"), {"reason": "requested"}),
        (EventType.LOGGED_OUT, ("logged_out", "logged_out"), {"reason": "logged_out"}),
        (EventType.CONNECTION_LOST, ("disconnected", "shard_handover"), {"reason": "shard_handover"}),
    ],
)
def test_a_deliberate_stop_is_never_told_as_lost(  # noqa: F811
    crm: Crm,  # noqa: F811
    kind: EventType,
    ended: tuple[str, str],
    data: dict[str, Any],
) -> None:
    crm.webhook("/crm", events=["session_status"])
    lease = take(crm, "connector-1")
    report(crm, lease, EventType.CONNECTION_SUCCESS)
    leases = Leases(crm.deps.table, crm.clock, "connector-1")
    leases.release(lease, ended={"status": ended[0], "status_reason": ended[1]})
    # Its report is still on the events queue: the sweeps meanwhile, and long after, tell nothing.
    assert sweep(crm)["connectors_lost"] == 0
    crm.clock.advance(2 * TTL)
    assert sweep(crm)["connectors_lost"] == 0
    report(crm, lease, kind, **data)
    crm.clock.advance(2 * TTL)
    assert sweep(crm)["connectors_lost"] == 0
    assert told(crm) == [("connected", None), ended]


def test_a_successor_faster_than_the_sweeper_still_tells_the_loss(crm: Crm) -> None:  # noqa: F811
    """The successor took the session over before any sweep saw it lost: its first report (`connecting`,
    at a newer fence, while the row still shows the old holder's `connected`) tells the loss."""
    crm.webhook("/crm", events=["session_status"])
    report(crm, take(crm, "connector-1"), EventType.CONNECTION_SUCCESS)
    crm.clock.advance(TTL + 1)
    successor = take(crm, "connector-2")
    report(crm, successor, EventType.SESSION_STATUS, status="connecting", attempt=0)
    assert shown(crm) == ("connecting", "connector_lost")
    assert sweep(crm)["connectors_lost"] == 0  # told already
    crm.clock.advance(1)
    report(crm, successor, EventType.CONNECTION_SUCCESS)
    assert [sweep(crm)["connectors_lost"] for _ in range(2)] == [0, 0]
    got = reports(crm, "/crm")
    assert [(r["status"], r["reason"]) for r in got] == [
        ("connected", None),
        ("connecting", "connector_lost"),
        ("connected", None),
    ]
    assert "without a word" in got[1]["detail"] and got[1]["previous_status"] == "connected"


def test_a_handover_whose_report_arrives_after_the_successors_is_no_loss(crm: Crm) -> None:  # noqa: F811
    """A shard handed over on purpose: the old holder released the lease, but its report is still in its
    publisher's backlog when the successor's `connecting` arrives. Not a loss; the late report is stale."""
    crm.webhook("/crm", events=["session_status"])
    first = take(crm, "connector-1")
    report(crm, first, EventType.CONNECTION_SUCCESS)
    ending = {"status": "disconnected", "status_reason": "shard_handover"}
    Leases(crm.deps.table, crm.clock, "connector-1").release(first, ended=ending)
    successor = take(crm, "connector-2")
    report(crm, successor, EventType.SESSION_STATUS, status="connecting", attempt=0)
    assert shown(crm) == ("connecting", None)
    report(crm, first, EventType.CONNECTION_LOST, reason="shard_handover")  # late: dropped as stale
    report(crm, successor, EventType.CONNECTION_SUCCESS)
    assert sweep(crm)["connectors_lost"] == 0
    assert told(crm) == [("connected", None)]
