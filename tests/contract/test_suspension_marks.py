"""A tenant's suspension marks over both Table adapters (SQLite and DynamoDB under moto): the session row
and the session lease row carry `suspended_at` until the resume; a send claim (its transaction checks the
lease row) is refused while the lease row is marked, yet the lease itself stays held, renewable and
re-acquirable, and keeps the mark through all of it; a session never leased gets no lease row."""

from __future__ import annotations

import pytest

from connector import claims
from connector.leases import Leases, LeaseTimes, session_lease_key
from tests.contract.test_table_contract import table  # noqa: F401 (the fixture, by name)
from tests.fakes.clock import FakeClock
from wagate.domain.errors import ConflictError
from wagate.domain.sessions import Provider, Session, SessionStatus
from wagate.ports import Table
from wagate.store import keys
from wagate.store.leases import LeaseRepository
from wagate.store.sessions import SessionRepository

TIMES = LeaseTimes.for_ttl(30)


def session(on: Table, clock: FakeClock, session_id: str) -> Session:
    now = clock.now()
    made = Session(
        id=session_id,
        tenant_id="ten_1",
        name=session_id,
        provider=Provider.SANDBOX,
        status=SessionStatus.PENDING,
        created_at=now,
        updated_at=now,
    )
    SessionRepository(on).create(made, shard=0, limit=10)
    return made


def queued(on: Table, message_id: str) -> dict[str, object]:
    pk, sk = keys.message("ten_1", message_id)
    row = {"pk": pk, "sk": sk, "tenant_id": "ten_1", "id": message_id, "status": "queued"}
    on.put(row)
    return row


def test_a_marked_lease_refuses_send_claims_and_stays_held(table: Table) -> None:  # noqa: F811
    clock = FakeClock()
    session(table, clock, "ses_a")
    rows, leases = SessionRepository(table), LeaseRepository(table)
    holder = Leases(table, clock, "c1")
    lease = holder.acquire(session_lease_key("ten_1", "ses_a"), TIMES)
    assert lease is not None

    assert rows.mark_suspended("ten_1", "ses_a", 100.0) and leases.mark_suspended("ten_1", "ses_a", 100.0)
    assert rows.get("ten_1", "ses_a").suspended_at == 100.0
    assert claims.suspended(table, "ten_1", "ses_a")
    row = queued(table, "msg_1")
    with pytest.raises(ConflictError):
        claims.claim(table, row, lease=lease, owner="c1", command_id="cmd_1", now=clock.now())
    assert claims.read(table, "ten_1", "msg_1") == row  # nothing claimed
    assert holder.renew(lease, TIMES)  # the lease is not lost: the session is stopped in order
    holder.release(lease)
    again = holder.acquire(session_lease_key("ten_1", "ses_a"), TIMES)
    assert again is not None and again.fence == lease.fence + 1
    assert claims.suspended(table, "ten_1", "ses_a")  # acquire, renew and release keep the mark

    assert rows.mark_suspended("ten_1", "ses_a", None) and leases.mark_suspended("ten_1", "ses_a", None)
    assert rows.get("ten_1", "ses_a").suspended_at is None and not claims.suspended(table, "ten_1", "ses_a")
    assert claims.claim(table, row, lease=again, owner="c1", command_id="cmd_1", now=clock.now()) == 1


def test_marks_touch_only_rows_that_exist(table: Table) -> None:  # noqa: F811
    clock = FakeClock()
    session(table, clock, "ses_b")
    assert not SessionRepository(table).mark_suspended("ten_1", "ses_gone", 100.0)
    assert table.get(*keys.session("ten_1", "ses_gone")) is None
    assert not LeaseRepository(table).mark_suspended("ten_1", "ses_b", 100.0)  # never leased
    assert table.get(*keys.session_lease("ten_1", "ses_b")) is None
    lease = Leases(table, clock, "c1").acquire(session_lease_key("ten_1", "ses_b"), TIMES)
    assert lease is not None and lease.fence == 1  # an acquisition as if nothing had been there
