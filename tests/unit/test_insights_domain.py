"""Insights arithmetic with known answers: percentiles of latency histograms, summing rollup rows, and
the fields a bucket's counters become."""

from __future__ import annotations

import random

import pytest

from wagate.domain.insights import (
    bucket_bounds,
    merge,
    metric_fields,
    percentile,
    percentiles,
)


def test_percentiles_interpolate_inside_their_bucket() -> None:
    # bucket 0 is linear over (0, 1]; bucket 4 is (2^(3/4), 2] on the log scale
    assert percentile({0: 10}, 0.5) == 0.5
    assert percentile({4: 1}, 0.5) == round(2 ** (7 / 8), 3)
    assert percentiles({0: 1, 4: 1}, (0.5, 0.9)) == [1.0, round(2 ** (3 / 4 + 0.8 / 4), 3)]
    assert percentiles({}, (0.5, 0.9)) == [None, None]
    assert percentiles({3: 0, 7: 0}, (0.5,)) == [None]


def test_several_percentiles_in_one_walk_match_each_alone() -> None:
    rng = random.Random(16)
    for _ in range(500):
        histogram = {rng.randrange(0, 85): rng.choice([0, 1, 2, 7, 300]) for _ in range(rng.randrange(8))}
        both = percentiles(histogram, (0.5, 0.9))
        assert both == [percentile(histogram, 0.5), percentile(histogram, 0.9)]
        if both[0] is not None:
            assert both[1] is not None and both[0] <= both[1]
            low, high = bucket_bounds(max(i for i, n in histogram.items() if n > 0))
            assert both[1] <= round(high, 3)


def test_merge_sums_counters_only() -> None:
    total: dict[str, float] = {"sent": 2}
    row = {
        "pk": "T#t#INS#D#all",
        "sk": "2026-12-07#1",
        "expires_at": 1.9e9,
        "updated_at": 1.8e9,
        "sent": 3,
        "ttd.4": 1,
        "scope.S#s1": 0,
        "flag": True,
        "label": "x",
        "seconds": 1.5,
    }
    merge(total, row)
    merge(total, {"seconds": 2.25, "ttd.4": 2})
    assert total == {"sent": 5, "ttd.4": 3, "seconds": 3.75}


@pytest.mark.parametrize("connected", [0.0, 7200.1234])
def test_metric_fields_of_a_bucket(connected: float) -> None:
    counters = {
        "sent": 10,
        "delivered": 8,
        "read": 4,
        "failed": 2,
        "failed_by.timeout": 1,
        "failed_by.blocked": 1,
        "replied": 1,
        "template_sent.promo": 3,
        "template_sent.welcome": 5,
        "ttd.0": 8,
        "ttr.8": 0,
        "sessions_created": 2,
        "sessions_linked": 1,
    }
    fields = metric_fields(counters, connected)
    assert fields["delivery_rate"] == 0.8 and fields["read_rate"] == 0.4 and fields["reply_rate"] == 0.1
    assert list(fields["failed_by_reason"].items()) == [("blocked", 1), ("timeout", 1)]
    assert list(fields["templates"].items()) == [("welcome", 5), ("promo", 3)]
    assert fields["time_to_delivered"].model_dump() == {"count": 8, "p50": 0.5, "p90": 0.9}
    assert fields["time_to_read"].model_dump() == {"count": 0, "p50": None, "p90": None}
    assert fields["connection_rate"] == 0.5 and fields["connected_seconds"] == round(connected, 3)


def test_a_counter_name_is_read_only_when_it_counts() -> None:
    # a 0-valued name is skipped before its name is read (as scope marks are); a bad histogram bucket
    # that does count is an error, not a silent gap
    assert metric_fields({"ttd.x": 0, "sent": 1})["time_to_delivered"].count == 0
    with pytest.raises(ValueError):
        metric_fields({"ttd.x": 1})
