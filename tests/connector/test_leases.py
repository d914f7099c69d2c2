"""Leases: acquire, renew, expiry, takeover and release, with fences that only ever grow."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from connector.leases import Lease, LeaseKeeper, Leases, LeaseTimes, session_lease_key, shard_lease_key
from wagate.adapters.local.sqlite_table import SqliteTable
from wagate.domain.errors import TransientError

TIMES = LeaseTimes(ttl=30, renew_every=10, margin=8)


class ManualClock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.t = now

    def now(self) -> float:
        return self.t


@pytest.fixture
def table(tmp_path: Path) -> Iterator[SqliteTable]:
    table = SqliteTable(tmp_path / "table.db")
    yield table
    table.close()


def test_lease_rows_are_where_the_design_says() -> None:
    assert (shard_lease_key(3).pk, shard_lease_key(3).sk) == ("LEASE#SHARD#3", "LEASE")
    key = session_lease_key("ten_a", "ses_b")
    assert (key.pk, key.sk) == ("T#ten_a#LEASE#ses_b", "LEASE")


def test_acquire_is_exclusive_until_expiry_and_every_acquisition_raises_the_fence(table: SqliteTable) -> None:
    clock = ManualClock()
    a, b = Leases(table, clock, "a"), Leases(table, clock, "b")
    key = shard_lease_key(0)

    first = a.acquire(key, TIMES)
    assert first is not None and first.fence == 1
    assert b.acquire(key, TIMES) is None  # held
    clock.t += TIMES.ttl - 1
    assert b.acquire(key, TIMES) is None  # still held

    clock.t += 2  # expired: anyone may take it
    second = b.acquire(key, TIMES)
    assert second is not None and second.fence == 2
    assert a.acquire(key, TIMES) is None

    again = b.acquire(key, TIMES)  # already ours: a new acquisition, a new fence
    assert again is not None and again.fence == 3


def test_renew_extends_only_the_current_holder(table: SqliteTable) -> None:
    clock = ManualClock()
    a, b = Leases(table, clock, "a"), Leases(table, clock, "b")
    key = shard_lease_key(1)
    held = a.acquire(key, TIMES)
    assert held is not None

    clock.t += TIMES.ttl - 1
    assert a.renew(held, TIMES) is True
    clock.t += TIMES.ttl - 1  # past the first expiry, within the renewed one
    assert b.acquire(key, TIMES) is None

    clock.t += 2
    taken = b.acquire(key, TIMES)
    assert taken is not None and taken.fence == held.fence + 1
    assert a.renew(held, TIMES) is False  # the old holder learns it lost the lease
    assert b.renew(taken, TIMES) is True


def test_release_lets_another_take_over_at_once(table: SqliteTable) -> None:
    clock = ManualClock()
    a, b = Leases(table, clock, "a"), Leases(table, clock, "b")
    key = session_lease_key("ten_a", "ses_1")
    held = a.acquire(key, TIMES)
    assert held is not None
    a.release(held)
    assert a.renew(held, TIMES) is False  # a renewal racing the release cannot revive it
    taken = b.acquire(key, TIMES)
    assert taken is not None and taken.fence == held.fence + 1
    a.release(held)  # releasing a lease that moved on leaves the new holder alone
    assert b.renew(taken, TIMES) is True


def test_an_expired_lease_keeps_its_fence_visible(table: SqliteTable) -> None:
    """lease_until is not the TTL attribute: an expired lease row stays readable, fence included."""
    clock = ManualClock()
    leases = Leases(table, clock, "a")
    key = shard_lease_key(2)
    for _ in range(3):
        held = leases.acquire(key, TIMES)
        assert held is not None
        leases.release(held)
    clock.t += 10 * TIMES.ttl
    row = table.get(key.pk, key.sk)
    assert row is not None and row["fence"] == 3 and "expires_at" not in row
    again = Leases(table, clock, "b").acquire(key, TIMES)
    assert again is not None and again.fence == 4


def test_a_session_held_under_an_older_shard_fence_can_be_taken_over(table: SqliteTable) -> None:
    clock = ManualClock()
    old, new = Leases(table, clock, "old"), Leases(table, clock, "new")
    key = session_lease_key("ten_a", "ses_1")
    held = old.acquire(key, TIMES, shard_fence=4)
    assert held is not None
    assert new.acquire(key, TIMES, shard_fence=4) is None  # same shard fence: not a newer shard owner
    taken = new.acquire(key, TIMES, shard_fence=5)  # the shard changed hands: its old owner has stopped
    assert taken is not None and taken.fence == held.fence + 1
    assert old.acquire(key, TIMES, shard_fence=4) is None


def test_lease_times_must_leave_room_to_renew() -> None:
    with pytest.raises(ValueError):
        LeaseTimes(ttl=10, renew_every=9, margin=2)
    with pytest.raises(ValueError):
        LeaseTimes(ttl=10, renew_every=2, margin=10)
    times = LeaseTimes.for_ttl(30)
    assert times.renew_every < times.ttl - times.margin


# ---- the keeper ---------------------------------------------------------------------------------------


class FlakyTable:
    """A table whose updates can be switched to fail as if the database were unreachable."""

    def __init__(self, table: SqliteTable) -> None:
        self.table = table
        self.down = False

    def update(self, pk: str, sk: str, **kwargs: Any) -> Mapping[str, Any]:
        if self.down:
            raise TransientError("table unreachable")
        return self.table.update(pk, sk, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.table, name)


def test_keeper_renews_and_reports_a_takeover(table: SqliteTable) -> None:
    async def scenario() -> None:
        times = LeaseTimes(ttl=3, renew_every=0.1, margin=1)
        clock = ManualClock()
        mine, theirs = Leases(table, clock, "me"), Leases(table, clock, "them")
        keeper = LeaseKeeper(mine, tick=0.02)
        held = mine.acquire(shard_lease_key(0), times)
        assert held is not None
        lost = asyncio.Event()
        keeper.hold(held, times, lambda lease: lost.set())
        keeper.start()
        clock.t += 2  # renewals keep the lease from expiring
        await asyncio.sleep(0.3)
        clock.t += 2
        assert theirs.acquire(shard_lease_key(0), times) is None
        # Someone takes it anyway (say an operator releases it): the next renewal is refused.
        table.update("LEASE#SHARD#0", "LEASE", set={"lease_until": 0})
        assert theirs.acquire(shard_lease_key(0), times) is not None
        await asyncio.wait_for(lost.wait(), 5)
        assert len(keeper) == 0
        await keeper.stop()

    asyncio.run(scenario())


def test_keeper_self_fences_before_the_lease_runs_out(table: SqliteTable) -> None:
    async def scenario() -> None:
        times = LeaseTimes(ttl=0.8, renew_every=0.1, margin=0.3)
        flaky = FlakyTable(table)
        leases = Leases(flaky, ManualClock(), "me")  # type: ignore[arg-type]
        keeper = LeaseKeeper(leases, tick=0.02)
        held = leases.acquire(session_lease_key("ten_a", "ses_1"), times)
        assert held is not None
        lost: list[Lease] = []
        done = asyncio.Event()

        def on_lost(lease: Lease) -> None:
            lost.append(lease)
            done.set()

        keeper.hold(held, times, on_lost)
        keeper.start()
        flaky.down = True  # renewals now fail: the holder must give up by its deadline
        await asyncio.wait_for(done.wait(), 5)
        assert lost == [held] and held.expired_locally
        await keeper.stop()

    asyncio.run(scenario())


def test_dropped_leases_are_not_reported(table: SqliteTable) -> None:
    async def scenario() -> None:
        times = LeaseTimes(ttl=0.8, renew_every=0.1, margin=0.3)
        leases = Leases(table, ManualClock(), "me")
        keeper = LeaseKeeper(leases, tick=0.02)
        held = leases.acquire(shard_lease_key(3), times)
        assert held is not None
        keeper.hold(held, times, lambda lease: pytest.fail("a dropped lease was reported lost"))
        keeper.drop(held)
        leases.release(held)
        await keeper.renew_due()
        assert len(keeper) == 0

    asyncio.run(scenario())
