"""Each tenant's API request bucket: the rule (domain/throttle.py) and both homes of the bucket — the table
(AWS; here on SQLite and on DynamoDB) and memory (`wagate serve`) — held to the same behaviour."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from tests.fakes.clock import FakeClock
from tests.support.aws_template import create_tables
from wagate.adapters.aws.dynamodb_table import DynamoTable
from wagate.adapters.local.request_buckets import MemoryRequestBuckets
from wagate.adapters.local.sqlite_table import SqliteTable
from wagate.domain.throttle import RequestRate
from wagate.ports import RequestBuckets
from wagate.store import keys
from wagate.store.request_buckets import TableRequestBuckets

RATE = RequestRate(per_second=10, burst=5)  # a token every 0.1 s, five at once


def test_the_rule_admits_a_burst_then_one_request_per_interval() -> None:
    now, tat = 100.0, None
    for _ in range(5):
        tat, wait = RATE.admit(tat, now)
        assert tat is not None and wait == 0
    assert tat == pytest.approx(100.5)
    refused, wait = RATE.admit(tat, now)
    assert refused is None and wait == pytest.approx(0.1, abs=1e-5)
    assert RATE.admit(tat, now + 0.1)[0] == pytest.approx(100.6)
    assert RATE.admit(tat, now + 60)[0] == pytest.approx(160.1)  # a full bucket starts again from now
    with pytest.raises(ValueError):
        RequestRate(per_second=0, burst=1)


Factory = Callable[[FakeClock], RequestBuckets]


@pytest.fixture(params=["memory", "sqlite", "dynamodb"])
def buckets(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Factory, object]]:
    if request.param == "memory":
        yield (lambda clock: MemoryRequestBuckets(clock, RATE)), None
        return
    if request.param == "sqlite":
        table = SqliteTable(tmp_path / "table.db")
        yield (lambda clock: TableRequestBuckets(table, clock, RATE)), table
        table.close()
        return
    with mock_aws():
        client = boto3.client("dynamodb", region_name="eu-west-1")
        dynamo = DynamoTable(create_tables(client)["Table"], lambda: client)
        yield (lambda clock: TableRequestBuckets(dynamo, clock, RATE)), dynamo


def test_a_tenant_gets_its_burst_then_waits_and_others_are_untouched(
    buckets: tuple[Factory, object],
) -> None:
    make, _ = buckets
    clock = FakeClock(1_800_000_000.0)
    bucket = make(clock)
    assert [bucket.take("ten_busy") for _ in range(5)] == [0, 0, 0, 0, 0]
    assert bucket.take("ten_busy") == pytest.approx(0.1, abs=1e-5)
    assert bucket.take("ten_busy") == pytest.approx(0.1, abs=1e-5)  # a refusal costs nothing
    assert bucket.take("ten_quiet") == 0  # its own bucket
    clock.advance(0.1)
    assert bucket.take("ten_busy") == 0
    assert bucket.take("ten_busy") == pytest.approx(0.1, abs=1e-5)
    clock.advance(30)  # idle: full again
    assert [bucket.take("ten_busy") for _ in range(5)] == [0, 0, 0, 0, 0]
    assert bucket.take("ten_busy") > 0


def test_two_api_processes_share_one_bucket_in_the_table(buckets: tuple[Factory, object]) -> None:
    make, table = buckets
    if table is None:
        pytest.skip("memory buckets belong to one process (wagate serve)")
    clock = FakeClock(1_800_000_000.0)
    first, second = make(clock), make(clock)
    assert [first.take("ten_a") for _ in range(3)] == [0, 0, 0]
    assert [second.take("ten_a") for _ in range(2)] == [0, 0]  # its hint says "idle": it still counts
    assert first.take("ten_a") > 0 and second.take("ten_a") > 0
    row = table.get(*keys.request_bucket("ten_a"))  # type: ignore[attr-defined]
    assert row is not None and row["expires_at"] > clock.now()


def test_concurrent_requests_never_get_more_than_the_burst(buckets: tuple[Factory, object]) -> None:
    make, table = buckets
    if isinstance(table, DynamoTable):
        pytest.skip("moto serialises calls itself; the conditions are the same as SQLite's")
    clock = FakeClock(1_800_000_000.0)
    bucket = make(clock)
    admitted: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(10):
            wait = bucket.take("ten_race")
            with lock:
                admitted.append(wait)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(admitted) == 80 and admitted.count(0) == RATE.burst
