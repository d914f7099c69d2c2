"""Connector losses over both Table adapters (SQLite and DynamoDB under moto): the sparse index of
connected sessions holds exactly them, and of two sweepers racing over one loss (or one return) only one
tells; a successor's `connected` applied while a loss was being told is told by the next sweep."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from connector.leases import Lease, Leases, LeaseTimes, session_lease_key
from tests.contract.test_table_contract import table  # noqa: F401 (the fixture, by name)
from tests.fakes.clock import FakeClock
from wagate.adapters.local.sqlite_queue import SqliteQueues
from wagate.domain.errors import TransientError
from wagate.domain.events import EventType, SessionEvent
from wagate.domain.sessions import Provider, Session, SessionStatus
from wagate.ports import Table
from wagate.services.connector_loss import ConnectorLoss
from wagate.services.outbox import Notice, Outbox
from wagate.services.sessions import SessionService
from wagate.store import keys
from wagate.store.sessions import SessionRecord, SessionRepository

TTL = 30


@dataclass
class World:
    table: Table
    clock: FakeClock
    sessions: SessionService
    told: list[tuple[str, dict[str, Any]]]  # (kind, data) of every notice emitted

    def sweeper(self) -> ConnectorLoss:
        def emit(event: SessionEvent, notice: Notice) -> None:
            self.told.append((notice.kind, notice.data))

        return ConnectorLoss(self.table, self.clock, self.sessions, Outbox(self.table, self.clock, emit))

    def create(self, name: str, provider: Provider = Provider.SANDBOX) -> Session:
        now = self.clock.now()
        session = Session(
            id=f"ses_{name}",
            tenant_id="ten_1",
            name=name,
            provider=provider,
            status=SessionStatus.PENDING,
            created_at=now,
            updated_at=now,
        )
        SessionRepository(self.table).create(session, shard=0, limit=10)
        return session

    def take(self, session: Session, owner: str) -> Lease:
        key = session_lease_key(session.tenant_id, session.id)
        lease = Leases(self.table, self.clock, owner).acquire(key, LeaseTimes.for_ttl(TTL))
        assert lease is not None
        return lease

    def record(self, session: Session) -> SessionRecord:
        return SessionRepository(self.table).get(session.tenant_id, session.id)

    def report(self, session: Session, lease: Lease, kind: EventType, **data: Any) -> None:
        event = SessionEvent(
            type=kind,
            tenant_id=session.tenant_id,
            session_id=session.id,
            fence=lease.fence,
            at=self.clock.now(),
            data=data,
        )
        assert self.sessions.apply_event(event) is not None

    def shown(self) -> list[tuple[str, str | None]]:
        return [(data["status"], data["reason"]) for kind, data in self.told if kind == "session_status"]


@pytest.fixture
def world(table: Table, tmp_path: Path) -> Iterator[World]:  # noqa: F811
    clock = FakeClock(1_800_000_000.0)
    queues = SqliteQueues(tmp_path / "queues.db", {}, clock=clock.now)
    yield World(table, clock, SessionService(table, queues, clock, limit=10), [])
    queues.close()


def connected_ids(store: Table) -> list[str]:
    rows = SessionRepository(store)
    found = []
    for slot in range(keys.CONNECTED_SLOTS):
        cursor = None
        while True:
            records, cursor = rows.connected_page(slot, cursor=cursor)
            found += [r.session.id for r in records]
            if cursor is None:
                break
    return sorted(found)


def test_the_index_holds_the_connected_sessions_only(world: World) -> None:
    up, down, never = (world.create(n) for n in ("up", "down", "never"))
    cloud = world.create("cloud", Provider.CLOUD)
    for session in (up, down, cloud):
        world.report(session, world.take(session, "c1"), EventType.CONNECTION_SUCCESS)
    assert connected_ids(world.table) == ["ses_down", "ses_up"]  # a cloud number has no connector
    lease = world.take(down, "c1")
    world.report(down, lease, EventType.CONNECTION_LOST, reason="connection_lost")
    assert connected_ids(world.table) == ["ses_up"]
    world.report(down, lease, EventType.CONNECTION_SUCCESS)
    assert connected_ids(world.table) == ["ses_down", "ses_up"]
    # Linked once: never back in the index of sessions that may be abandoned.
    assert SessionRepository(world.table).unlinked_before(world.clock.now() + 1) == [("ten_1", never.id)]


def test_two_sweepers_tell_one_loss_and_one_return(world: World) -> None:
    session = world.create("one")
    lease = world.take(session, "c1")
    world.report(session, lease, EventType.CONNECTION_SUCCESS)
    world.clock.advance(TTL + 1)
    stale = world.record(session)  # both sweepers read the row before either writes
    first, second = world.sweeper(), world.sweeper()
    lease_view = first.sessions.leases.session_lease(session.tenant_id, session.id)
    assert [s._look(stale, lease_view, {}) for s in (first, second)] == ["lost", None]
    assert world.shown() == [("connecting", "connector_lost")]
    assert (first.sweep().lost, second.sweep().lost) == (0, 0)

    assert Leases(world.table, world.clock, "c1").renew(lease, LeaseTimes.for_ttl(TTL))  # only late
    stale = world.record(session)
    lease_view = first.sessions.leases.session_lease(session.tenant_id, session.id)
    assert [s._look(stale, lease_view, {}) for s in (first, second)] == ["back", None]
    assert world.shown() == [("connecting", "connector_lost"), ("connected", None)]
    assert [kind for kind, _ in world.told].count("connection_success") == 1  # as a reconnect tells it


def test_a_successor_connected_while_the_loss_was_told_is_told_by_the_next_sweep(world: World) -> None:
    session = world.create("one")
    world.report(session, world.take(session, "c1"), EventType.CONNECTION_SUCCESS)
    world.clock.advance(TTL + 1)
    read_by_consumer = world.record(session)  # (reported: connected; no report is due to it)
    assert world.sweeper().sweep().lost == 1
    successor = world.take(session, "c2")
    changes = {"status": "connected", "fence": successor.fence, "updated_at": world.clock.now()}
    assert SessionRepository(world.table).write_status(read_by_consumer, changes, fence=successor.fence)
    assert world.sweeper().sweep().back == 1
    assert world.shown() == [("connecting", "connector_lost"), ("connected", None)]
    assert world.sweeper().sweep() == world.sweeper().sweep()  # nothing more
    assert len(world.shown()) == 2


def test_a_report_racing_the_sweeper_is_made_again_not_twice(world: World) -> None:
    """The events consumer read the row (CRMs told: connected), then the sweeper told the loss: the
    consumer's report of the successor's `connecting` fails its condition, and its retry finds the loss
    told already."""
    session = world.create("one")
    world.report(session, world.take(session, "c1"), EventType.CONNECTION_SUCCESS)
    world.clock.advance(TTL + 1)
    read_by_consumer = world.record(session)
    assert world.sweeper().sweep().lost == 1
    successor = world.take(session, "c2")
    changes = {
        "status": "connecting",
        "status_reason": "connector_lost",
        "fence": successor.fence,
        "reported": {"status": "connecting", "reason": "connector_lost"},
    }
    rows = SessionRepository(world.table)
    assert rows.write_status(read_by_consumer, changes, fence=successor.fence) is None
    reported: list[str] = []
    event = SessionEvent(
        type=EventType.SESSION_STATUS,
        tenant_id=session.tenant_id,
        session_id=session.id,
        fence=successor.fence,
        at=world.clock.now(),
        data={"status": "connecting"},
    )
    applied = world.sessions.apply_event(event, reported=lambda s: reported.append(s.id))
    assert applied is not None and (applied.status, applied.status_reason) == ("connecting", "connector_lost")
    assert reported == []  # told once, by the sweeper
    assert world.shown() == [("connecting", "connector_lost")]


class RefusingQueries:
    """The table, refusing the queries of one partition (a throttled read), as the adapters raise it."""

    def __init__(self, store: Table, partition: str) -> None:
        self.store = store
        self.partition = partition

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def query(self, pk: str, **kwargs: Any) -> Any:
        if pk == self.partition:
            raise TransientError("throttled")
        return self.store.query(pk, **kwargs)


def test_a_slot_that_cannot_be_read_leaves_the_others_swept(world: World) -> None:
    first, second = (world.create(name) for name in ("a", "b"))
    slots = {keys.connected_slot_of(s.id) for s in (first, second)}
    assert len(slots) == 2  # (the names are chosen to land in two slots)
    for session in (first, second):
        world.report(session, world.take(session, "c1"), EventType.CONNECTION_SUCCESS)
    world.clock.advance(TTL + 1)
    refused = keys.connected_sessions(keys.connected_slot_of(first.id))
    refusing: Any = RefusingQueries(world.table, refused)
    sweeper = world.sweeper()
    sweeper.rows = SessionRepository(refusing)
    assert sweeper.sweep().lost == 1  # the other slot's loss
    assert world.sweeper().sweep().lost == 1  # the refused one, next minute
    assert world.shown() == [("connecting", "connector_lost")] * 2
