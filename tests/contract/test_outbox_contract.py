"""The outbox over both Table adapters (SQLite and DynamoDB under moto): one code path, the same results.

A row committed with its change is emitted once by its writer; a failed emit releases it for the retry;
a row whose writer died is left alone while claimed and then drained once by the sweeper.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.contract.test_table_contract import table  # noqa: F401 (the fixture, by name)
from tests.fakes.clock import FakeClock
from wagate.domain.events import EventType, SessionEvent
from wagate.ports import Put, Table
from wagate.services import outbox
from wagate.services.outbox import Notice, Outbox


class Recorder:
    def __init__(self) -> None:
        self.emitted: list[tuple[str, str]] = []
        self.failures = 0

    def __call__(self, event: SessionEvent, notice: Notice) -> None:
        if self.failures:
            self.failures -= 1
            raise RuntimeError("injected")
        self.emitted.append((event.id, notice.kind))


@pytest.fixture
def parts(table: Table) -> Iterator[tuple[Table, FakeClock, Recorder, Outbox]]:  # noqa: F811
    clock = FakeClock(1_800_000_000.0)
    recorder = Recorder()
    yield table, clock, recorder, Outbox(table, clock, recorder)


def committed(store: Table, clock: FakeClock, session: str = "ses_1") -> tuple[SessionEvent, Put]:
    event = SessionEvent(
        type=EventType.INCOMING_MESSAGE, tenant_id="ten_1", session_id=session, at=clock.now()
    )
    row = outbox.row(event, [Notice("incoming_message", {"messageId": "msg_1", "n": 1.5})], clock.now())
    store.transact_write([Put({"pk": "T#ten_1", "sk": f"MSG#{event.id}"}), row])
    return event, row


def rows(store: Table) -> int:
    return sum(len(store.query(outbox.sweep_partition(n), index="gsi1").items) for n in range(outbox.SHARDS))


def test_the_writer_drains_its_own_row(parts: tuple[Table, FakeClock, Recorder, Outbox]) -> None:
    store, clock, recorder, box = parts
    event, row = committed(store, clock)
    box.drain(row)
    assert recorder.emitted == [(event.id, "incoming_message")] and rows(store) == 0


def test_a_failed_emit_is_released_for_the_retry(parts: tuple[Table, FakeClock, Recorder, Outbox]) -> None:
    store, clock, recorder, box = parts
    event, row = committed(store, clock)
    recorder.failures = 1
    with pytest.raises(RuntimeError):
        box.drain(row)
    assert rows(store) == 1 and recorder.emitted == []
    assert box.drain_session("ten_1", "ses_2") == 0  # another session owes nothing
    assert box.drain_session("ten_1", "ses_1") == 1
    assert box.drain_session("ten_1", "ses_1") == 0
    assert recorder.emitted == [(event.id, "incoming_message")] and rows(store) == 0


def test_a_dead_writers_row_waits_for_its_claim_then_the_sweeper(
    parts: tuple[Table, FakeClock, Recorder, Outbox],
) -> None:
    store, clock, recorder, box = parts
    event, _ = committed(store, clock)  # and the writer died before draining it
    assert box.sweep() == 0 and box.drain_session("ten_1", "ses_1") == 0  # still its writer's
    clock.advance(outbox.CLAIM_SECONDS + 1)
    recorder.failures = 1
    assert box.sweep() == 0 and rows(store) == 1  # an emit failing in the sweep: logged, kept
    clock.advance(outbox.CLAIM_SECONDS + 1)
    assert box.sweep() == 1 and box.sweep() == 0
    assert recorder.emitted == [(event.id, "incoming_message")] and rows(store) == 0
