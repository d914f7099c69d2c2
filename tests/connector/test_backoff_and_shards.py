"""Pure pieces: reconnect backoff, shard hashing, fair shares, background task bookkeeping."""

from __future__ import annotations

import asyncio
import logging
import random

import pytest

from connector.backoff import backoff
from connector.shards import command_queue_name, fair_share, shard_of
from connector.tasks import BackgroundTasks


def test_backoff_grows_exponentially_up_to_the_cap() -> None:
    assert [backoff(n, base=1, cap=300, rand=lambda: 1.0) for n in range(11)] == [
        1,
        2,
        4,
        8,
        16,
        32,
        64,
        128,
        256,
        300,
        300,
    ]


def test_backoff_is_full_jitter_within_bounds() -> None:
    rng = random.Random(7)
    for attempt in range(40):
        ceiling = min(30.0, 0.5 * 2**attempt)
        for _ in range(50):
            delay = backoff(attempt, base=0.5, cap=30, rand=rng.random)
            assert 0 <= delay <= ceiling
    assert backoff(3, rand=lambda: 0.0) == 0.0


def test_backoff_survives_absurd_attempt_counts_and_refuses_negative_ones() -> None:
    assert backoff(10**6, base=1, cap=60, rand=lambda: 1.0) == 60
    with pytest.raises(ValueError):
        backoff(-1)


def test_shard_of_is_stable_and_in_range() -> None:
    # Pinned: these must never change, or every session would move to another shard on upgrade.
    assert [shard_of(f"ses_{i}", 4) for i in range(8)] == [3, 2, 1, 2, 3, 0, 1, 2]
    counts = [0] * 8
    for i in range(4000):
        n = shard_of(f"ses_{i:05d}", 8)
        assert 0 <= n < 8
        counts[n] += 1
    assert min(counts) > 350  # roughly even
    with pytest.raises(ValueError):
        shard_of("ses_x", 0)


def test_fair_share_and_queue_names() -> None:
    assert [fair_share(4, m) for m in (0, 1, 2, 3, 4, 5)] == [4, 4, 2, 2, 1, 1]
    assert command_queue_name(2) == "CommandQueue2"


def test_background_tasks_keep_references_and_log_failures(caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        tasks = BackgroundTasks("test")

        async def boom() -> None:
            raise RuntimeError("kaput")

        async def forever() -> None:
            await asyncio.Event().wait()

        tasks.spawn(boom(), name="boom")
        tasks.spawn(forever(), name="forever")
        assert len(tasks) == 2
        await asyncio.sleep(0.01)
        assert len(tasks) == 1
        await tasks.cancel_all()
        assert len(tasks) == 0

    with caplog.at_level(logging.ERROR):
        asyncio.run(scenario())
    assert "background task boom failed" in caplog.text and "kaput" in caplog.text
    assert "forever" not in caplog.text
