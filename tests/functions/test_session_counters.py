"""/health's session counters cannot drift: every status write moves them in its own transaction.

Every transition (each status to each other, through the connector's events, and the API's connect after
logout or failure, disconnect, logout, delete), then random walks over all of them: after every step the
counters are never negative and equal a recount of the sessions themselves.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wagate import wiring
from wagate.domain.errors import ConflictError, NotFound
from wagate.domain.events import EventType, SessionEvent
from wagate.domain.sessions import Provider, SessionStatus
from wagate.services.sessions import SessionService

TENANT = "ten_counters"
STATUSES = list(SessionStatus)


def service(d: wiring.Deps) -> SessionService:
    return SessionService(d.table, d.queues, d.clock, limit=1000, shards=d.settings.shards)


def recount(d: wiring.Deps) -> dict[str, int]:
    page = d.table.query(f"T#{TENANT}", limit=1000)
    counts = dict.fromkeys((s.value for s in STATUSES), 0)
    for item in page.items:
        if str(item["sk"]).startswith("SESSION#"):
            counts[str(item["status"])] += 1
    return counts


def check(d: wiring.Deps) -> None:
    counted = service(d).counts_by_status()
    assert all(n >= 0 for n in counted.values()), counted
    assert counted == recount(d)


def report(d: wiring.Deps, session_id: str, status: SessionStatus) -> None:
    """The connector reports `status` (each status has an event that leads to it)."""
    event = SessionEvent(
        type=EventType.SESSION_STATUS,
        tenant_id=TENANT,
        session_id=session_id,
        at=d.clock.now(),
        data={"status": status.value},
    )
    service(d).apply_event(event)


def new_session(d: wiring.Deps) -> str:
    return service(d).create(TENANT, name="n", provider=Provider.SANDBOX, phone=None, metadata={}).id


@pytest.mark.parametrize(("start", "end"), list(itertools.product(STATUSES, STATUSES)))
def test_every_reported_transition(local_deps: wiring.Deps, start: SessionStatus, end: SessionStatus) -> None:
    session_id = new_session(local_deps)
    check(local_deps)
    for step in (SessionStatus.CONNECTING, start) if start != SessionStatus.PENDING else ():
        report(local_deps, session_id, step)
        check(local_deps)
    report(local_deps, session_id, end)
    check(local_deps)


@pytest.mark.parametrize("permanent", [SessionStatus.LOGGED_OUT, SessionStatus.FAILED])
def test_connect_after_logout_or_failure_moves_the_counters(
    local_deps: wiring.Deps, permanent: SessionStatus
) -> None:
    sessions = service(local_deps)
    session_id = new_session(local_deps)
    report(local_deps, session_id, SessionStatus.CONNECTED)
    sessions.logout(TENANT, session_id)
    report(local_deps, session_id, permanent)
    check(local_deps)
    assert sessions.connect(TENANT, session_id).status == SessionStatus.PENDING
    check(local_deps)
    assert sessions.counts_by_status()[permanent.value] == 0
    assert sessions.counts_by_status()["pending"] == 1
    report(local_deps, session_id, SessionStatus.QR)  # pending → qr used to take pending below zero
    check(local_deps)
    sessions.delete(TENANT, session_id)
    check(local_deps)
    assert set(sessions.counts_by_status().values()) == {0}


ACTIONS = st.lists(
    st.tuples(
        st.integers(0, 2),
        st.sampled_from(["connect", "disconnect", "logout", "delete", "create", *STATUSES]),
    ),
    max_size=25,
)


@settings(
    max_examples=40,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ACTIONS)
def test_random_walks_never_drift(local_deps: wiring.Deps, walk: list[tuple[int, object]]) -> None:
    sessions = service(local_deps)
    ids = [new_session(local_deps) for _ in range(3)]
    for which, action in walk:
        session_id = ids[which]
        try:
            if isinstance(action, SessionStatus):
                report(local_deps, session_id, action)
            elif action == "create":
                ids[which] = new_session(local_deps)
            else:
                getattr(sessions, str(action))(TENANT, session_id)
        except (ConflictError, NotFound):  # logout twice, acting on a deleted session
            pass
        check(local_deps)
